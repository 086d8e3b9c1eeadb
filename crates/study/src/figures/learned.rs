//! What the figures of learned models share: the parameterizations, the network and the
//! training recipe per profile, cached training and training evaluated at checkpoints. Beside
//! it: `cost` (the estimated cost of a step and of sampling: [`step_seconds`],
//! [`sampling_seconds`]), `evaluation` (sampling, the divergence guard, and the metrics that
//! stand in for the paper's: Fréchet distances in the feature space of a classifier trained here
//! and in pixel space: [`Evaluator`], [`Guard`]) and `settings` (the table of hyperparameters
//! beside the paper's: [`settings()`]).

mod cost;
mod evaluation;
mod settings;

pub use cost::{sampling_seconds, step_seconds};
pub use evaluation::{DIVERGED_FACTOR, Distances, Evaluator, Guard, classifier, sample};
pub use settings::{Knob, PaperSetup, Settings, describe, settings};

use cfm_core::Matrix;
use cfm_core::datasets::ImageShape;
use cfm_nn::{
    AdamConfig, EmaConfig, MlpConfig, ModelConfig, RunOptions, Target, TrainConfig, TrainSet, TrainedModel,
    UNetConfig,
};
use serde::{Deserialize, Serialize};

use crate::{Context, Profile, Result};

/// The parameterizations of the networks of the trained figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Param {
    /// The network outputs the velocity; unweighted loss (the paper's U-Net).
    Velocity,
    /// The network predicts `x1`, `u = (x1_hat - x) / (1 - t)`, loss weighted by `(1 - t)^2`
    /// (the official code's `decoupled` and `rescaled`): `||x1_hat - x1||^2` for CFM.
    X1,
}

impl Param {
    /// Both, velocity first.
    pub const ALL: [Param; 2] = [Param::Velocity, Param::X1];

    /// What the network outputs.
    pub fn output(self) -> cfm_nn::Output {
        match self {
            Param::Velocity => cfm_nn::Output::Velocity,
            Param::X1 => cfm_nn::Output::X1,
        }
    }

    /// Name in tables (`velocity`, `x1`): the output's.
    pub fn name(self) -> &'static str {
        self.output().name()
    }

    /// The parameterization named `name` in a table.
    pub fn parse(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Sets `config`'s output and loss weighting (the `(1 - t)^2` weight with the x1 output).
    pub fn apply(self, config: &mut TrainConfig) {
        config.output = self.output();
        config.rescaled = self == Param::X1;
    }
}

/// The velocity network of a profile: an MLP on flattened images on the CPU profiles (the
/// U-Net's convolutions are too slow on CPU), with the input skip so that its outputs span the
/// image space at every width ([`cfm_nn::models::mlp`]); the paper's U-Net in the paper profile.
pub fn network(profile: Profile, width: Option<usize>) -> ModelConfig {
    match profile {
        Profile::Smoke => {
            ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(64), depth: 2, time_dim: 16, skip: true })
        }
        Profile::Quick => ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(256), ..MlpConfig::images() }),
        Profile::Paper => ModelConfig::UNet(UNetConfig::paper()),
    }
}

/// Training settings of a profile. Paper: the paper's (batch 128, Adam 2e-4 with 5000 warm-up
/// steps, clipping 1, EMA 0.9999 from step 1000). CPU profiles: Adam 1e-3 with 100 warm-up
/// steps and clipping 1, EMA 0.999 from step 100 (the paper's EMA horizon of 10^4 steps would
/// average over most of a run of a few thousand steps).
pub fn train_config(
    profile: Profile,
    model: ModelConfig,
    target: Target,
    steps: u64,
    seed: u64,
    n: usize,
) -> TrainConfig {
    let mut c = TrainConfig::paper(model, target, steps);
    c.seed = seed;
    c.batch_size = TrainConfig::paper_batch(n);
    if profile != Profile::Paper {
        c.adam = AdamConfig { lr: 1e-3, warmup: 100, ..AdamConfig::paper() };
        c.ema = EmaConfig { decay: 0.999, start: 100 };
    }
    c
}

/// Trains (or loads from `<cache>/models`) a network on `points`.
pub fn train(
    ctx: &Context,
    config: &TrainConfig,
    points: &Matrix,
    shape: Option<ImageShape>,
    identity: &str,
) -> Result<TrainedModel> {
    let set = TrainSet { points, image: shape, identity };
    let run = RunOptions { progress: ctx.progress, checkpoint_every: 1000 };
    Ok(cfm_nn::train(config, &set, &ctx.cache_dir, &run)?)
}

/// Trains `config` on `points` one step at a time, calling `at(step, model)` with the model as
/// it is after each step of `checkpoints` (increasing; the last one must be `config.steps`)
/// once its weights are checked finite ([`Guard`]; a non-finite loss stops the run at its step),
/// and returns the final model, which is also saved where [`cfm_nn::model_dir`] points, so that
/// figures with the same configuration load it instead of training again. The run is the one
/// [`cfm_nn::train()`] makes for `config` (same trainer, bit-identical weights); evaluating at the
/// checkpoints does not touch the training state.
#[allow(clippy::too_many_arguments)]
pub fn train_evaluated(
    ctx: &Context,
    config: &TrainConfig,
    points: &Matrix,
    shape: Option<ImageShape>,
    identity: &str,
    checkpoints: &[u64],
    bar: &indicatif::ProgressBar,
    mut at: impl FnMut(u64, &TrainedModel) -> Result<()>,
) -> Result<TrainedModel> {
    if checkpoints.last() != Some(&config.steps) || checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(crate::Error::invalid(format!(
            "checkpoints {checkpoints:?} must increase to the last step {}",
            config.steps
        )));
    }
    let mut trainer = cfm_nn::Trainer::new(config, points, shape, &cfm_nn::default_device()?)?;
    let guard = Guard::of(points);
    bar.set_length(config.steps);
    let mut last = None;
    for &step in checkpoints {
        while trainer.steps_done() < step {
            trainer.step()?;
            bar.inc(1);
        }
        let model = trainer.model(identity)?;
        guard.weights(&model, step)?;
        at(step, &model)?;
        last = Some(model);
    }
    let model = last.expect("at least one checkpoint");
    let set = TrainSet { points, image: shape, identity };
    let dir = cfm_nn::model_dir(&ctx.cache_dir, config, &set)?;
    if !TrainedModel::exists(&dir) {
        model.save(&dir)?;
    }
    Ok(model)
}

/// The checkpoints `first, 2 first, 4 first, ...` below `last`, then `last` (a log grid).
pub fn log_checkpoints(first: u64, last: u64) -> Vec<u64> {
    let mut out: Vec<u64> =
        std::iter::successors(Some(first.max(1)), |s| Some(s * 2)).take_while(|&s| s < last).collect();
    out.push(last);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_diverging_run_fails_at_its_step_and_leaves_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context { progress: false, ..Context::new(Profile::Smoke, dir.path()) };
        let points = cfm_core::datasets::digits().train.slice_rows(0, 100);
        let mut config =
            train_config(Profile::Smoke, network(Profile::Smoke, None), Target::Cfm, 200, 0, 100);
        config.adam = AdamConfig::plain(1e6);
        let hidden = indicatif::ProgressBar::hidden();
        let mut evaluated = Vec::new();
        let err = train_evaluated(&ctx, &config, &points, None, "planted", &[1, 200], &hidden, |step, _| {
            evaluated.push(step);
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("diverged at step"), "{err}");
        assert_eq!(evaluated, vec![1]);
        let set = TrainSet { points: &points, image: None, identity: "planted" };
        assert!(!TrainedModel::exists(&cfm_nn::model_dir(&ctx.cache_dir, &config, &set).unwrap()));
    }
}
