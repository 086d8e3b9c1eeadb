//! Estimated costs of the trained figures' cells (for `--dry-run`, `cfm cells` and the
//! scheduler): a training step and sampling, for the MLP on this kind of machine and for the
//! U-Net at GPU scale.

use cfm_core::datasets::ImageShape;
use cfm_nn::{ModelConfig, Target, TrainConfig};

/// Estimated seconds of one training step of `config` on data of dimension `d` (one core of
/// this kind of machine: the MLP's passes run at about 40 GFLOP/s over their `6 B params`
/// operations; a guess at GPU scale for the U-Net), EFM or OT targets included.
pub fn step_seconds(config: &TrainConfig, d: usize, image: Option<ImageShape>) -> f64 {
    let params = config.model.param_count(d, image).unwrap_or(0) as f64;
    let b = config.batch_size as f64;
    let step = match &config.model {
        ModelConfig::Mlp(_) => 3e-4 + 6.0 * b * params / 4e10,
        // A guess at GPU scale, scaled from the paper's CIFAR-10 U-Net (35.7M parameters, 32x32,
        // batch 128: 0.3 s) by parameters and pixels.
        ModelConfig::UNet(_) => {
            let pixels = image.map_or(1024, |s| s.height * s.width) as f64;
            (0.3 * (params / 35.7e6) * (pixels / 1024.0) * (b / 128.0)).max(5e-3)
        }
    };
    let target = match config.target {
        Target::Cfm => 0.0,
        Target::OtCfm => b * b * d as f64 * 2e-9 + 2e-3,
        Target::Efm { m, refs } => match refs {
            cfm_core::efm::RefMode::Paper => b * m as f64 * d as f64 * 2e-9,
            cfm_core::efm::RefMode::Official => 4.0 * b * (b + m as f64) * d as f64 / 5e10,
        },
    };
    step + target
}

/// Estimated seconds to draw `samples` samples with `euler_steps` steps from `model`.
pub fn sampling_seconds(
    model: &ModelConfig,
    d: usize,
    image: Option<ImageShape>,
    samples: usize,
    euler_steps: usize,
) -> f64 {
    let params = model.param_count(d, image).unwrap_or(0) as f64;
    let per_row = match model {
        ModelConfig::Mlp(_) => 2.0 * params / 5e10,
        // Scaled from 4e-4 s a row for the CIFAR-10 U-Net, as the training step.
        ModelConfig::UNet(_) => {
            let pixels = image.map_or(1024, |s| s.height * s.width) as f64;
            (4e-4 * (params / 35.7e6) * (pixels / 1024.0)).max(1e-5)
        }
    };
    per_row * (samples * euler_steps) as f64
}
