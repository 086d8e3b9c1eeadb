//! The training loop, one step at a time: sample a minibatch, regress, clip, Adam, EMA.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use cfm_core::{Matrix, Stream};

use super::batch::{Batch, sample_batch};
use super::config::TrainConfig;
use crate::adam::Adam;
use crate::checkpoint::Checkpoint;
use crate::ema::Ema;
use crate::init::{seeded_builder, sorted_vars};
use crate::models::layers::to_tensor;
use crate::models::{ImageShape, Network};
use crate::trained::{ModelCard, TrainedModel};
use crate::{Error, Result};

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Minibatch loss before the update.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// A training run in memory. Weights start from `Stream::new(seed).derive("init")` (one
/// stream per variable name, see [`crate::init`]); minibatches come from
/// `Stream::new(seed).derive("train")` as [`super::batch`] says.
pub struct Trainer<'a> {
    config: TrainConfig,
    data: &'a Matrix,
    image: Option<ImageShape>,
    device: Device,
    vars: Vec<(String, Var)>,
    net: Network,
    adam: Adam,
    ema: Ema,
    root: Stream,
    losses: Vec<f32>,
}

impl<'a> Trainer<'a> {
    /// A fresh run on `data` (`n x d`, images flattened `C x H x W` when `image` is given) on
    /// `device`.
    pub fn new(
        config: &TrainConfig,
        data: &'a Matrix,
        image: Option<ImageShape>,
        device: &Device,
    ) -> Result<Self> {
        config.validate(data.rows())?;
        data.check_finite("training data")?;
        let map = VarMap::new();
        let init = Stream::new(config.seed).derive("init");
        let net = Network::new(&config.model, data.cols(), image, seeded_builder(&map, Some(init), device))?;
        let vars = sorted_vars(&map);
        Ok(Self {
            adam: Adam::new(vars.clone(), config.adam.clone())?,
            ema: Ema::new(config.ema.clone())?,
            config: config.clone(),
            data,
            image,
            device: device.clone(),
            vars,
            net,
            root: Stream::new(config.seed).derive("train"),
            losses: Vec::new(),
        })
    }

    /// Optimiser steps done.
    pub fn steps_done(&self) -> u64 {
        self.adam.steps()
    }

    /// Loss of every step so far.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// The minibatch of step `k` (0-based), as [`Trainer::step`] draws it.
    pub fn batch(&self, k: u64) -> Result<Batch> {
        sample_batch(&self.config, self.data, &self.step_stream(k))
    }

    fn step_stream(&self, k: u64) -> Stream {
        self.root.derive("step").derive_index(k)
    }

    /// One optimiser step: the next minibatch, the loss, its gradient, Adam, then the EMA.
    pub fn step(&mut self) -> Result<StepReport> {
        let k = self.steps_done();
        let stream = self.step_stream(k);
        let batch = sample_batch(&self.config, self.data, &stream)?;
        let xt = to_tensor(&batch.xt, &self.device)?;
        let t32: Vec<f32> = batch.t.iter().map(|&t| t as f32).collect();
        let t = Tensor::from_vec(t32, batch.t.len(), &self.device)?;
        let target = to_tensor(&batch.target, &self.device)?;
        let pred = self.net.forward(&xt, &t, Some(&stream.derive("dropout")))?;
        let loss = pred.sub(&target)?.sqr()?.mean_all()?;
        let stats = self.adam.step(&loss.backward()?)?;
        self.ema.update(self.steps_done(), &self.vars)?;
        let loss = loss.to_scalar::<f32>()?;
        if !loss.is_finite() {
            return Err(Error::invalid(format!(
                "training diverged at step {}: loss is {loss}; lower the learning rate or enable gradient clipping",
                k + 1
            )));
        }
        self.losses.push(loss);
        Ok(StepReport { loss, grad_norm: stats.grad_norm, lr: stats.lr })
    }

    /// Writes the full training state to `path`, atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for (name, v) in &self.vars {
            tensors.insert(format!("param.{name}"), v.as_tensor().clone());
        }
        self.adam.save_state(&mut tensors);
        self.ema.save_state(&self.vars, &mut tensors);
        Checkpoint { step: self.steps_done(), losses: self.losses.clone(), tensors }.save(path)
    }

    /// Restores the state written by [`Trainer::save_checkpoint`] for the same config and data.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<()> {
        let ck = Checkpoint::load(path, &self.device)?;
        if ck.step > self.config.steps {
            return Err(Error::format(
                path,
                format!("checkpoint at step {} > {} steps", ck.step, self.config.steps),
            ));
        }
        for (name, var) in &self.vars {
            let t = ck
                .tensors
                .get(&format!("param.{name}"))
                .ok_or_else(|| Error::format(path, format!("checkpoint has no weights for {name}")))?;
            var.set(t).map_err(|e| Error::format(path, format!("weights of {name}: {e}")))?;
        }
        self.adam.load_state(&ck.tensors, ck.step).map_err(|e| Error::format(path, e.to_string()))?;
        self.ema
            .load_state(&ck.tensors, ck.step, &self.vars)
            .map_err(|e| Error::format(path, e.to_string()))?;
        self.losses = ck.losses;
        Ok(())
    }

    /// The weights and EMA weights as they are now, as a [`TrainedModel`] for a dataset
    /// described by `dataset`.
    pub fn model(&self, dataset: &str) -> Result<TrainedModel> {
        let step = self.steps_done();
        let ema = self.ema.weights(step, &self.vars)?;
        let mut weights = HashMap::new();
        let mut averaged = HashMap::new();
        for ((name, v), e) in self.vars.iter().zip(ema) {
            weights.insert(name.clone(), v.as_tensor().copy()?);
            averaged.insert(name.clone(), e);
        }
        let card = ModelCard {
            format: crate::checkpoint::FORMAT_VERSION,
            config: self.config.clone(),
            dataset: dataset.to_string(),
            n_train: self.data.rows(),
            dim: self.data.cols(),
            image: self.image,
            steps: step,
            params: self.vars.iter().map(|(_, v)| v.elem_count()).sum(),
        };
        TrainedModel::from_parts(card, weights, averaged, self.losses.clone(), &self.device)
    }
}
