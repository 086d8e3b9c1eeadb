//! One training loop for three targets: CFM (Algorithm 1), EFM (Algorithm 2) and OT-CFM.
//!
//! [`train`] is the entry point: it names the run's directory by the hash of its config and
//! dataset identity, returns the finished model if it is there, resumes from the last
//! checkpoint if one is there, and otherwise trains from scratch. [`Trainer`] exposes single
//! steps (for benches and tests).

mod batch;
mod config;
mod trainer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use cfm_core::Matrix;
use serde::Serialize;

pub use batch::{Batch, Epochs, make_batch, regression_target};
pub use config::{Target, TimeWindow, TrainConfig};
pub use trainer::{StepReport, StepTimes, Trainer};

use crate::checkpoint::{FORMAT_VERSION, hashed_dir, lock_dir, write_json};
use crate::models::ImageShape;
use crate::trained::TrainedModel;
use crate::{Error, Result};

/// The training data and what identifies it.
#[derive(Clone, Copy, Debug)]
pub struct TrainSet<'a> {
    /// Points, one per row (images flattened `C x H x W`).
    pub points: &'a Matrix,
    /// Image shape, for image data.
    pub image: Option<ImageShape>,
    /// A string that identifies the data (name, subset, seed, version...): part of the hash
    /// that names the run's directory. Two different datasets must not share it.
    pub identity: &'a str,
}

/// How to run (nothing here changes the result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Show a progress bar with the loss and the ETA.
    pub progress: bool,
    /// Write a checkpoint every this many steps (0: never).
    pub checkpoint_every: u64,
}

impl Default for RunOptions {
    /// No progress bar, a checkpoint every 1000 steps.
    fn default() -> Self {
        Self { progress: false, checkpoint_every: 1000 }
    }
}

/// File name of the training checkpoint inside a run's directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// File name of the hashed key inside a run's directory (for people and tools).
pub const KEY_FILE: &str = "key.json";

/// What names a run's directory.
#[derive(Serialize)]
struct RunKey<'a> {
    format: u32,
    config: &'a TrainConfig,
    dataset: &'a str,
    rows: usize,
    cols: usize,
    image: Option<ImageShape>,
}

fn run_key<'a>(config: &'a TrainConfig, data: &TrainSet<'a>) -> RunKey<'a> {
    RunKey {
        format: FORMAT_VERSION,
        config,
        dataset: data.identity,
        rows: data.points.rows(),
        cols: data.points.cols(),
        image: data.image,
    }
}

/// The directory `<cache>/models/<hash>` of the run of `config` on `data`.
pub fn model_dir(cache: &Path, config: &TrainConfig, data: &TrainSet) -> Result<PathBuf> {
    hashed_dir(cache, "models", &run_key(config, data))
}

/// Trains `config` on `data` under `cache`, or returns the model trained before.
///
/// In `<cache>/models/<hash>/`: `key.json` (what was hashed), `checkpoint.safetensors` every
/// `checkpoint_every` steps while training, and the finished model ([`TrainedModel::save`]),
/// after which the checkpoint is removed. An interrupted run resumes from its checkpoint and
/// ends bit-identical to an uninterrupted one (same machine, same thread count).
/// Training holds an exclusive lock on the directory (`<hash>.lock`, released when the process
/// exits however it exits): a second process or thread asking for the same model waits, then
/// loads it, so that jobs sharing a cache never train one model twice.
pub fn train(config: &TrainConfig, data: &TrainSet, cache: &Path, run: &RunOptions) -> Result<TrainedModel> {
    config.validate(data.points.rows())?;
    let dir = model_dir(cache, config, data)?;
    // Whoever shares the cache trains this model once: the others wait here, then load it.
    let _lock = lock_dir(&dir)?;
    if TrainedModel::exists(&dir) {
        // The directory is named by the hash of the config and the data's identity and shape;
        // the card is checked for the data it describes (floats in JSON may differ in the
        // last bit, so the config itself is not compared).
        let model = TrainedModel::load(&dir)?;
        let card = model.card();
        if card.dataset != data.identity
            || (card.n_train, card.dim) != (data.points.rows(), data.points.cols())
        {
            return Err(Error::format(
                dir,
                "the finished model there was trained on other data; remove the directory",
            ));
        }
        return Ok(model);
    }
    write_json(&dir.join(KEY_FILE), &run_key(config, data))?;
    let mut trainer = Trainer::new(config, data.points, data.image, &crate::default_device()?)?;
    let checkpoint = dir.join(CHECKPOINT_FILE);
    if checkpoint.is_file() {
        trainer.load_checkpoint(&checkpoint).map_err(|e| {
            Error::format(&checkpoint, format!("cannot resume ({e}); remove the file to train from scratch"))
        })?;
    }
    let bar = crate::progress::bar("train", run.progress, config.steps, trainer.steps_done());
    let mut recent: VecDeque<f32> = trainer.losses().iter().rev().take(100).rev().copied().collect();
    while trainer.steps_done() < config.steps {
        let report = trainer.step()?;
        if recent.len() == 100 {
            recent.pop_front();
        }
        recent.push_back(report.loss);
        bar.inc(1);
        bar.set_message(format!("{:.4}", recent.iter().sum::<f32>() / recent.len() as f32));
        let k = trainer.steps_done();
        if run.checkpoint_every > 0 && k % run.checkpoint_every == 0 && k < config.steps {
            trainer.save_checkpoint(&checkpoint)?;
        }
    }
    bar.finish_and_clear();
    let model = trainer.model(data.identity)?;
    model.save(&dir)?;
    match std::fs::remove_file(&checkpoint) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&checkpoint, e)),
        _ => Ok(model),
    }
}
