//! What a training run is: model, target, optimiser, EMA, time window, seed. The whole struct
//! (with the dataset identity) is hashed to name the run's directory, so every field that
//! changes the result is here and nothing else is.

use cfm_core::efm::RefMode;
use serde::{Deserialize, Serialize};

use crate::adam::AdamConfig;
use crate::ema::EmaConfig;
use crate::models::{ModelConfig, Output};
use crate::{Error, Result};

/// The regression target of the flow matching loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// Conditional flow matching (Algorithm 1): `x1 - x0`, with `x0` and `x1` independent.
    Cfm,
    /// Empirical flow matching (Algorithm 2): the estimate `u*_M(x_t, t)` of the closed form
    /// from `m` reference points assembled as `refs` says ([`cfm_core::efm`]).
    Efm {
        /// `M`: the number of references for [`RefMode::Paper`] (`1 <= M <= n`; `M = 1` is CFM),
        /// the number of extra references beyond the minibatch for [`RefMode::Official`]
        /// (`0 <= M <= n`).
        m: usize,
        /// How references are drawn.
        refs: RefMode,
    },
    /// OT-CFM: `x1 - x0` after pairing the minibatch by exact optimal transport ([`crate::ot`]).
    OtCfm,
}

/// Training times are drawn uniformly from `[t_min, t_max)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Lower end (inclusive).
    pub t_min: f64,
    /// Upper end (exclusive), at most 1.
    pub t_max: f64,
}

impl Default for TimeWindow {
    /// The whole interval `[0, 1)`.
    fn default() -> Self {
        Self { t_min: 0.0, t_max: 1.0 }
    }
}

/// Everything that determines a trained network, given the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Network architecture.
    pub model: ModelConfig,
    /// What the network outputs: the velocity, or a prediction of `x1`.
    pub output: Output,
    /// Weight the loss of each sample by `(1 - t)^2` (the official code's `rescaled`); with
    /// [`Output::X1`] and the CFM target the loss is then `||x1_hat - x1||^2`.
    pub rescaled: bool,
    /// Regression target.
    pub target: Target,
    /// Optimiser steps.
    pub steps: u64,
    /// Minibatch size `B`, at most the training-set size: epochs of `floor(n / B)` batches
    /// drawn without replacement (`train::batch`).
    pub batch_size: usize,
    /// Optimiser.
    pub adam: AdamConfig,
    /// Weight averaging.
    pub ema: EmaConfig,
    /// Training-time window.
    pub time: TimeWindow,
    /// Root seed of initialisation and minibatches.
    pub seed: u64,
}

/// The paper's minibatch size.
pub const PAPER_BATCH: usize = 128;

impl TrainConfig {
    /// The official code's minibatch on `n` training points: `B = min(128, n)`.
    pub fn paper_batch(n: usize) -> usize {
        PAPER_BATCH.min(n)
    }

    /// The paper's image settings (velocity output, unweighted loss, batch 128, Adam lr `2e-4`
    /// with 5000 warm-up steps, clipping at 1, EMA 0.9999 from step 1000, `t ~ U[0, 1)`, seed 0)
    /// for `model`, `target`, `steps`.
    pub fn paper(model: ModelConfig, target: Target, steps: u64) -> Self {
        Self {
            model,
            output: Output::Velocity,
            rescaled: false,
            target,
            steps,
            batch_size: PAPER_BATCH,
            adam: AdamConfig::paper(),
            ema: EmaConfig::paper(),
            time: TimeWindow::default(),
            seed: 0,
        }
    }

    /// Checks the config against a training set of `n` points; the message names the field.
    pub fn validate(&self, n: usize) -> Result<()> {
        self.adam.validate()?;
        self.ema.validate()?;
        if self.steps == 0 || self.batch_size == 0 {
            return Err(Error::invalid(format!(
                "steps and batch_size must be positive, got {} and {}",
                self.steps, self.batch_size
            )));
        }
        if n == 0 {
            return Err(Error::invalid("the training set is empty"));
        }
        if self.batch_size > n {
            return Err(Error::invalid(format!(
                "batch_size = {} exceeds the {n} training points: minibatches are drawn without replacement \
                 within an epoch, so use a batch of at most n (the official code: min(128, n))",
                self.batch_size
            )));
        }
        let TimeWindow { t_min, t_max } = self.time;
        if !(0.0 <= t_min && t_min < t_max && t_max <= 1.0) {
            return Err(Error::invalid(format!(
                "time window [{t_min}, {t_max}) must satisfy 0 <= t_min < t_max <= 1"
            )));
        }
        if let Target::Efm { m, refs } = self.target {
            refs.check(n, m)?;
        }
        Ok(())
    }
}
