//! The table of a trained figure's hyperparameters beside the paper's, for the report.

use cfm_core::datasets::ImageShape;
use cfm_nn::{ModelConfig, TrainConfig};

use crate::figure::Setting;

/// The paper's setting of a figure's runs, for the report's hyperparameter table.
pub struct PaperSetup {
    /// Its network.
    pub network: &'static str,
    /// Its training length.
    pub steps: &'static str,
    /// Samples per evaluation.
    pub samples: &'static str,
    /// ODE solver.
    pub solver: &'static str,
    /// Seeds.
    pub seeds: &'static str,
}

/// A short description of a network (`MLP 3 x 256 SELU, 32 time features`).
pub fn describe(model: &ModelConfig) -> String {
    match model {
        ModelConfig::Mlp(m) => format!(
            "MLP {} x {} SELU, {} time features{}",
            m.depth,
            m.width,
            m.time_dim,
            if m.skip { ", input skip g(t) x" } else { "" }
        ),
        ModelConfig::UNet(u) => format!(
            "U-Net, {} channels, multipliers {:?}, {} residual block(s)",
            u.channels, u.channel_mult, u.res_blocks
        ),
    }
}

/// The paper's hyperparameters beside ours (`train` on `n` points of dimension `d`), one row
/// each.
pub fn settings(
    paper: &PaperSetup,
    train: &TrainConfig,
    d: usize,
    image: Option<ImageShape>,
    samples: usize,
    sample_steps: usize,
    seeds: &str,
) -> Vec<Setting> {
    let params = train.model.param_count(d, image).map_or(String::new(), |p| format!(", {p} parameters"));
    let a = &train.adam;
    let warmup = if a.warmup > 0 { format!(", {} warm-up steps", a.warmup) } else { String::new() };
    vec![
        Setting::new("network", paper.network, format!("{}{params}", describe(&train.model))),
        Setting::new("network output", "velocity", train.output.name()),
        Setting::new("loss weight", "none", if train.rescaled { "(1 - t)^2" } else { "none" }),
        Setting::new("optimiser", "Adam, lr 2e-4, 5000 warm-up steps", format!("Adam, lr {}{warmup}", a.lr)),
        Setting::new("gradient clipping", "1", a.grad_clip.map_or("none".into(), |c| c.to_string())),
        Setting::new(
            "EMA",
            "0.9999 from step 1000",
            format!("{} from step {}", train.ema.decay, train.ema.start),
        ),
        Setting::new(
            "batch",
            "128, without replacement per epoch",
            format!("{} (min(128, n)), without replacement per epoch", train.batch_size),
        ),
        Setting::new("training steps", paper.steps, train.steps.to_string()),
        Setting::new("samples per evaluation", paper.samples, samples.to_string()),
        Setting::new("solver", paper.solver, format!("Euler, {sample_steps} steps")),
        Setting::new("seeds", paper.seeds, seeds),
    ]
}
