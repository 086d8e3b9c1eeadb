//! The training loop, one step at a time: the next minibatch, the loss, its gradient,
//! clipping, Adam, EMA.
//!
//! Two engines run the same step. The MLP runs its own forward and backward passes on the CPU
//! ([`crate::models::mlp`]) with the flat optimiser and average ([`FlatAdam`], [`FlatEma`]);
//! the U-Net runs on candle's autograd on its device with [`Adam`] and [`Ema`]. Both save the
//! same checkpoint format (`param.<name>`, `adam.m.<name>`, `adam.v.<name>`, `ema.acc.<name>`).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use cfm_core::{Matrix, Stream};

use super::batch::{Batch, Epochs, make_batch};
use super::config::TrainConfig;
use crate::adam::{Adam, FlatAdam, StepStats};
use crate::checkpoint::Checkpoint;
use crate::ema::{Ema, FlatEma};
use crate::init::{seeded_builder, sorted_vars};
use crate::models::layers::to_tensor;
use crate::models::{ImageShape, Mlp, ModelConfig, Network, Output, Workspace};
use crate::trained::{ModelCard, TrainedModel};
use crate::{Error, Result};

/// The time since `clock`, which moves on to now.
fn lap(clock: &mut Instant) -> Duration {
    let now = Instant::now();
    now - std::mem::replace(clock, now)
}

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Minibatch loss before the update.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Where the step's time went.
    pub times: StepTimes,
}

/// Wall time of the phases of one step, the breakdown of `benches/training.rs`. On a GPU the
/// kernels run asynchronously, so only their sum is meaningful there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// Minibatch assembly: indices, `x0`, `t`, `x_t` and the target.
    pub batch: Duration,
    /// The network's forward pass and the loss.
    pub forward: Duration,
    /// Back-propagation to the parameters' gradients.
    pub backward: Duration,
    /// Gradient clipping, the Adam update and the EMA.
    pub update: Duration,
}

/// The MLP's engine: its own passes, flat optimiser state, buffers allocated once.
struct MlpEngine {
    net: Mlp,
    ws: Workspace,
    grads: Vec<f32>,
    dy: Vec<f32>,
    adam: FlatAdam,
    ema: FlatEma,
}

/// The U-Net's engine: candle's autograd on `device`.
struct Autograd {
    device: Device,
    vars: Vec<(String, Var)>,
    net: Network,
    adam: Adam,
    ema: Ema,
}

enum Engine {
    Mlp(Box<MlpEngine>),
    Autograd(Box<Autograd>),
}

/// A training run in memory. Weights start from `Stream::new(seed).derive("init")` (one
/// stream per variable name, see `crate::init`); minibatches come from
/// `Stream::new(seed).derive("train")` as `train::batch` says.
pub struct Trainer<'a> {
    config: TrainConfig,
    data: &'a Matrix,
    /// The data's smallest and largest coordinate, for the model card.
    data_range: [f32; 2],
    image: Option<ImageShape>,
    engine: Engine,
    root: Stream,
    epochs: Epochs,
    losses: Vec<f32>,
}

/// `mean_b w_b sum_j (u_theta - u)^2 / (B d)` and its gradient `dy` with respect to the
/// network's outputs `y`: `u_theta = y` or `(y - x_t) / (1 - t)` ([`Output`]), `w_b` the
/// `(1 - t)^2` rescaling or 1.
fn loss_and_grad(config: &TrainConfig, y: &[f32], batch: &Batch, dy: &mut [f32]) -> f32 {
    let d = batch.xt.cols();
    let scale = 2.0 / y.len() as f64;
    let mut loss = 0.0f64;
    for (b, &t) in batch.t.iter().enumerate() {
        let s = if config.output == Output::X1 { 1.0 / (1.0 - t) } else { 1.0 };
        let w = if config.rescaled { (1.0 - t) * (1.0 - t) } else { 1.0 };
        let (yr, xr, ur) = (&y[b * d..(b + 1) * d], batch.xt.row(b), batch.target.row(b));
        let g = (scale * w * s) as f32;
        let mut row = 0.0f64;
        for j in 0..d {
            let u = if config.output == Output::X1 { (yr[j] - xr[j]) * s as f32 } else { yr[j] };
            let diff = u - ur[j];
            row += diff as f64 * diff as f64;
            dy[b * d + j] = g * diff;
        }
        loss += w * row;
    }
    (loss / y.len() as f64) as f32
}

impl MlpEngine {
    fn step(&mut self, config: &TrainConfig, batch: &Batch, times: &mut StepTimes) -> (f32, StepStats) {
        let mut clock = Instant::now();
        let t: Vec<f32> = batch.t.iter().map(|&t| t as f32).collect();
        let y = self.net.forward(batch.xt.as_slice(), &t, &mut self.ws);
        self.dy.resize(y.len(), 0.0);
        let loss = loss_and_grad(config, y, batch, &mut self.dy);
        times.forward = lap(&mut clock);
        self.net.backward(&self.dy, &mut self.ws, &mut self.grads);
        times.backward = lap(&mut clock);
        let stats = self.adam.step(self.net.params_mut(), &self.grads, Some(&mut self.ema));
        times.update = lap(&mut clock);
        (loss, stats)
    }

    fn named(&self, flat: &[f32]) -> Result<Vec<(String, Tensor)>> {
        Ok(self.net.tensors(flat, &Device::Cpu)?)
    }
}

impl Autograd {
    fn step(
        &mut self,
        config: &TrainConfig,
        batch: &Batch,
        stream: &Stream,
        times: &mut StepTimes,
    ) -> Result<(f32, StepStats)> {
        let mut clock = Instant::now();
        let xt = to_tensor(&batch.xt, &self.device)?;
        let t32: Vec<f32> = batch.t.iter().map(|&t| t as f32).collect();
        let t = Tensor::from_vec(t32, batch.t.len(), &self.device)?;
        let target = to_tensor(&batch.target, &self.device)?;
        let pred = self.net.forward(&xt, &t, Some(&stream.derive("dropout")))?;
        let column = |v: Vec<f32>| Tensor::from_vec(v, (batch.t.len(), 1), &self.device);
        let u = match config.output {
            Output::Velocity => pred,
            Output::X1 => {
                let inv = column(batch.t.iter().map(|&t| (1.0 / (1.0 - t)) as f32).collect())?;
                pred.sub(&xt)?.broadcast_mul(&inv)?
            }
        };
        let sq = u.sub(&target)?.sqr()?;
        let loss = if config.rescaled {
            let w = column(batch.t.iter().map(|&t| ((1.0 - t) * (1.0 - t)) as f32).collect())?;
            sq.broadcast_mul(&w)?.mean_all()?
        } else {
            sq.mean_all()?
        };
        times.forward = lap(&mut clock);
        let grads = loss.backward()?;
        times.backward = lap(&mut clock);
        let stats = self.adam.step(&grads)?;
        self.ema.update(self.adam.steps(), &self.vars)?;
        let loss = loss.to_scalar::<f32>()?;
        times.update = lap(&mut clock);
        Ok((loss, stats))
    }
}

impl<'a> Trainer<'a> {
    /// A fresh run on `data` (`n x d`, images flattened `C x H x W` when `image` is given); the
    /// U-Net runs on `device`, the MLP on the CPU.
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
        let engine = match &config.model {
            ModelConfig::Mlp(_) => {
                let net = match Network::new(
                    &config.model,
                    data.cols(),
                    image,
                    seeded_builder(&map, Some(init), &Device::Cpu),
                )? {
                    Network::Mlp(m) => m,
                    Network::UNet(_) => unreachable!("an MLP config builds an MLP"),
                };
                let len = net.params().len();
                Engine::Mlp(Box::new(MlpEngine {
                    ws: Workspace::default(),
                    grads: vec![0.0; len],
                    dy: Vec::new(),
                    adam: FlatAdam::new(len, config.adam.clone())?,
                    ema: FlatEma::new(config.ema.clone())?,
                    net,
                }))
            }
            ModelConfig::UNet(_) => {
                let net = Network::new(
                    &config.model,
                    data.cols(),
                    image,
                    seeded_builder(&map, Some(init), device),
                )?;
                let vars = sorted_vars(&map);
                Engine::Autograd(Box::new(Autograd {
                    adam: Adam::new(vars.clone(), config.adam.clone())?,
                    ema: Ema::new(config.ema.clone())?,
                    device: device.clone(),
                    vars,
                    net,
                }))
            }
        };
        let root = Stream::new(config.seed).derive("train");
        Ok(Self {
            epochs: Epochs::new(&root, data.rows(), config.batch_size),
            config: config.clone(),
            data,
            data_range: data
                .as_slice()
                .iter()
                .fold([f32::INFINITY, f32::NEG_INFINITY], |[lo, hi], &v| [lo.min(v), hi.max(v)]),
            image,
            engine,
            root,
            losses: Vec::new(),
        })
    }

    /// Optimiser steps done.
    pub fn steps_done(&self) -> u64 {
        match &self.engine {
            Engine::Mlp(e) => e.adam.steps(),
            Engine::Autograd(e) => e.adam.steps(),
        }
    }

    /// Loss of every step so far.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// Optimiser steps per epoch, `floor(n / B)`.
    pub fn steps_per_epoch(&self) -> u64 {
        self.epochs.steps_per_epoch()
    }

    /// The minibatch of step `k` (0-based), as [`Trainer::step`] draws it.
    pub fn batch(&mut self, k: u64) -> Result<Batch> {
        let idx = self.epochs.indices(k);
        make_batch(&self.config, self.data, idx, &self.step_stream(k))
    }

    fn step_stream(&self, k: u64) -> Stream {
        self.root.derive("step").derive_index(k)
    }

    /// One optimiser step: the next minibatch, the loss, its gradient, Adam, then the EMA.
    pub fn step(&mut self) -> Result<StepReport> {
        let k = self.steps_done();
        let mut clock = Instant::now();
        let batch = self.batch(k)?;
        let mut times = StepTimes { batch: lap(&mut clock), ..StepTimes::default() };
        let stream = self.step_stream(k);
        let (loss, stats) = match &mut self.engine {
            Engine::Mlp(e) => e.step(&self.config, &batch, &mut times),
            Engine::Autograd(e) => e.step(&self.config, &batch, &stream, &mut times)?,
        };
        if !loss.is_finite() {
            return Err(Error::invalid(format!(
                "training diverged at step {}: loss is {loss}; lower the learning rate or enable gradient clipping",
                k + 1
            )));
        }
        self.losses.push(loss);
        Ok(StepReport { loss, grad_norm: stats.grad_norm, lr: stats.lr, times })
    }

    /// The weights, optimiser and EMA states as named tensors (checkpoint names).
    fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        match &self.engine {
            Engine::Mlp(e) => {
                let (m, v) = e.adam.moments();
                let mut parts = vec![("param", e.net.params()), ("adam.m", m), ("adam.v", v)];
                if let Some(acc) = e.ema.running_sum() {
                    parts.push(("ema.acc", acc));
                }
                for (prefix, flat) in parts {
                    for (name, t) in e.named(flat)? {
                        out.insert(format!("{prefix}.{name}"), t);
                    }
                }
            }
            Engine::Autograd(e) => {
                for (name, v) in &e.vars {
                    out.insert(format!("param.{name}"), v.as_tensor().clone());
                }
                e.adam.save_state(&mut out);
                e.ema.save_state(&e.vars, &mut out);
            }
        }
        Ok(out)
    }

    /// Writes the full training state to `path`, atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        Checkpoint { step: self.steps_done(), losses: self.losses.clone(), tensors: self.state()? }.save(path)
    }

    /// Restores the state written by [`Trainer::save_checkpoint`] for the same config and data.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<()> {
        let device = match &self.engine {
            Engine::Mlp(_) => Device::Cpu,
            Engine::Autograd(e) => e.device.clone(),
        };
        let ck = Checkpoint::load(path, &device)?;
        if ck.step > self.config.steps {
            return Err(Error::format(
                path,
                format!("checkpoint at step {} > {} steps", ck.step, self.config.steps),
            ));
        }
        let bad = |e: String| Error::format(path, e);
        match &mut self.engine {
            Engine::Mlp(e) => {
                let params = e.net.flatten_named(&ck.tensors, "param.").map_err(bad)?;
                let m = e.net.flatten_named(&ck.tensors, "adam.m.").map_err(bad)?;
                let v = e.net.flatten_named(&ck.tensors, "adam.v.").map_err(bad)?;
                let acc = e.net.flatten_named(&ck.tensors, "ema.acc.").ok();
                e.net.params_mut().copy_from_slice(&params);
                e.adam.restore(m, v, ck.step).map_err(|err| bad(err.to_string()))?;
                e.ema.restore(acc, ck.step).map_err(|err| bad(err.to_string()))?;
            }
            Engine::Autograd(e) => {
                for (name, var) in &e.vars {
                    let t = ck
                        .tensors
                        .get(&format!("param.{name}"))
                        .ok_or_else(|| bad(format!("checkpoint has no weights for {name}")))?;
                    var.set(t).map_err(|err| bad(format!("weights of {name}: {err}")))?;
                }
                e.adam.load_state(&ck.tensors, ck.step).map_err(|err| bad(err.to_string()))?;
                e.ema.load_state(&ck.tensors, ck.step, &e.vars).map_err(|err| bad(err.to_string()))?;
            }
        }
        self.losses = ck.losses;
        Ok(())
    }

    /// The weights and EMA weights as they are now, as a [`TrainedModel`] for a dataset
    /// described by `dataset`.
    pub fn model(&self, dataset: &str) -> Result<TrainedModel> {
        let step = self.steps_done();
        let mut weights = HashMap::new();
        let mut averaged = HashMap::new();
        let (device, params) = match &self.engine {
            Engine::Mlp(e) => {
                weights.extend(e.named(e.net.params())?);
                averaged.extend(e.named(&e.ema.weights(step, e.net.params()))?);
                (Device::Cpu, e.net.params().len())
            }
            Engine::Autograd(e) => {
                let ema = e.ema.weights(step, &e.vars)?;
                for ((name, v), a) in e.vars.iter().zip(ema) {
                    weights.insert(name.clone(), v.as_tensor().copy()?);
                    averaged.insert(name.clone(), a);
                }
                (e.device.clone(), e.vars.iter().map(|(_, v)| v.elem_count()).sum())
            }
        };
        let card = ModelCard {
            format: crate::checkpoint::FORMAT_VERSION,
            config: self.config.clone(),
            dataset: dataset.to_string(),
            n_train: self.data.rows(),
            dim: self.data.cols(),
            image: self.image,
            steps: step,
            params,
            data_range: Some(self.data_range),
        };
        TrainedModel::from_parts(card, weights, averaged, self.losses.clone(), &device)
    }
}
