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

/// A row of a trained figure's settings table: a figure that words a row its own way names the
/// row in code ([`Settings::set`]), not by its display text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    /// The network and its size.
    Network,
    /// What the network outputs.
    Output,
    /// The loss weighting.
    LossWeight,
    /// Optimiser, learning rate and warm-up.
    Optimiser,
    /// Gradient clipping.
    Clipping,
    /// Exponential moving average of the weights.
    Ema,
    /// Minibatch size and drawing.
    Batch,
    /// Training steps.
    Steps,
    /// Samples per evaluation.
    Samples,
    /// The ODE solver of sampling.
    Solver,
    /// Seeds.
    Seeds,
}

impl Knob {
    /// The row's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Knob::Network => "network",
            Knob::Output => "network output",
            Knob::LossWeight => "loss weight",
            Knob::Optimiser => "optimiser",
            Knob::Clipping => "gradient clipping",
            Knob::Ema => "EMA",
            Knob::Batch => "batch",
            Knob::Steps => "training steps",
            Knob::Samples => "samples per evaluation",
            Knob::Solver => "solver",
            Knob::Seeds => "seeds",
        }
    }
}

/// The settings table of a trained figure, row by [`Knob`], in the report's order.
pub struct Settings(Vec<(Knob, Setting)>);

impl Settings {
    /// Our value of row `knob`.
    pub fn ours(&self, knob: Knob) -> &str {
        self.0.iter().find(|(k, _)| *k == knob).map_or("", |(_, s)| s.ours.as_str())
    }

    /// Words our value of row `knob` as `ours`.
    pub fn set(&mut self, knob: Knob, ours: impl Into<String>) {
        if let Some((_, s)) = self.0.iter_mut().find(|(k, _)| *k == knob) {
            s.ours = ours.into();
        }
    }

    /// The rows of the report's table.
    pub fn rows(self) -> Vec<Setting> {
        self.0.into_iter().map(|(_, s)| s).collect()
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
) -> Settings {
    let params = train.model.param_count(d, image).map_or(String::new(), |p| format!(", {p} parameters"));
    let a = &train.adam;
    let warmup = if a.warmup > 0 { format!(", {} warm-up steps", a.warmup) } else { String::new() };
    let row = |knob: Knob, paper: &str, ours: String| (knob, Setting::new(knob.label(), paper, ours));
    Settings(vec![
        row(Knob::Network, paper.network, format!("{}{params}", describe(&train.model))),
        row(Knob::Output, "velocity", train.output.name().into()),
        row(Knob::LossWeight, "none", if train.rescaled { "(1 - t)^2" } else { "none" }.into()),
        row(Knob::Optimiser, "Adam, lr 2e-4, 5000 warm-up steps", format!("Adam, lr {}{warmup}", a.lr)),
        row(Knob::Clipping, "1", a.grad_clip.map_or("none".into(), |c| c.to_string())),
        row(Knob::Ema, "0.9999 from step 1000", format!("{} from step {}", train.ema.decay, train.ema.start)),
        row(
            Knob::Batch,
            "128, without replacement per epoch",
            format!("{} (min(128, n)), without replacement per epoch", train.batch_size),
        ),
        row(Knob::Steps, paper.steps, train.steps.to_string()),
        row(Knob::Samples, paper.samples, samples.to_string()),
        row(Knob::Solver, paper.solver, format!("Euler, {sample_steps} steps")),
        row(Knob::Seeds, paper.seeds, seeds.into()),
    ])
}
