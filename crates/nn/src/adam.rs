//! Adam with linear warm-up and global-norm gradient clipping, written on candle variables so
//! that its whole state (moments and step count) can be checkpointed and restored exactly.
//!
//! At optimiser step `k = 1, 2, ...`, with gradients `g` of all parameters:
//!
//! ```text
//! clipping:  N = sqrt(sum_p ||g_p||^2);  if N > c: g <- g c / (N + 1e-6)      (clip_grad_norm_)
//! warm-up:   lr_k = lr min(k, W) / W    (lr_k = lr when W = 0)
//! moments:   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//! update:    p <- p - lr_k / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)
//! ```
//!
//! which is PyTorch's `Adam` (no weight decay). The official code uses a `LambdaLR` whose
//! first step has `lr_1 = 0`; here the schedule starts at `lr / W` (one step earlier).
//!
//! Two implementations of the same update: [`Adam`] on candle variables (the U-Net, any
//! device), and [`FlatAdam`] on one flat `f32` buffer of all parameters (the MLP on the CPU),
//! which computes the norm, clips, updates the moments and the parameters in one pass over
//! memory, in parallel chunks (elementwise, so the result does not depend on the thread count).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Hyper-parameters of [`Adam`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator offset.
    pub eps: f64,
    /// Linear warm-up length in steps (0: none).
    pub warmup: u64,
    /// Largest global gradient norm (`None`: no clipping).
    pub grad_clip: Option<f64>,
}

impl AdamConfig {
    /// The paper's image settings: lr `2e-4`, betas `(0.9, 0.999)`, eps `1e-8`, 5000 warm-up
    /// steps, clipping at norm 1.
    pub fn paper() -> Self {
        Self { lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, warmup: 5000, grad_clip: Some(1.0) }
    }

    /// PyTorch's defaults at learning rate `lr`: no warm-up, no clipping.
    pub fn plain(lr: f64) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, warmup: 0, grad_clip: None }
    }

    /// Learning rate at optimiser step `k >= 1`.
    pub fn lr_at(&self, k: u64) -> f64 {
        if self.warmup == 0 { self.lr } else { self.lr * k.min(self.warmup) as f64 / self.warmup as f64 }
    }

    /// Checks every field's domain.
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr > 0.0
            && self.lr.is_finite()
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps > 0.0
            && self.grad_clip.is_none_or(|c| c > 0.0);
        if ok { Ok(()) } else { Err(Error::invalid(format!("Adam settings out of range: {self:?}"))) }
    }
}

/// What one optimiser step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// The optimiser over a fixed, name-sorted list of variables.
pub struct Adam {
    config: AdamConfig,
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
}

impl Adam {
    /// A fresh optimiser (zero moments, step 0) over `vars`.
    pub fn new(vars: Vec<(String, Var)>, config: AdamConfig) -> Result<Self> {
        config.validate()?;
        let m = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self { config, vars, m, v, step: 0 })
    }

    /// Optimiser steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One step from `grads`; parameters without a gradient are left untouched, as in PyTorch.
    pub fn step(&mut self, grads: &GradStore) -> Result<StepStats> {
        let c = &self.config;
        let gs: Vec<Option<&Tensor>> = self.vars.iter().map(|(_, v)| grads.get(v.as_tensor())).collect();
        // One device-to-host transfer for the norm (per-tensor sums stacked in a fixed order).
        let sums =
            gs.iter().flatten().map(|g| g.sqr()?.sum_all()).collect::<candle_core::Result<Vec<_>>>()?;
        let grad_norm = if sums.is_empty() {
            0.0
        } else {
            (Tensor::stack(&sums, 0)?.to_dtype(candle_core::DType::F64)?.sum_all()?.to_scalar::<f64>()?)
                .sqrt()
        };
        let clip = match c.grad_clip {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.step += 1;
        let k = self.step as i32;
        let lr = c.lr_at(self.step);
        let step_size = lr / (1.0 - c.beta1.powi(k));
        let inv_sqrt_bc2 = 1.0 / (1.0 - c.beta2.powi(k)).sqrt();
        for (i, g) in gs.into_iter().enumerate() {
            let Some(g) = g else { continue };
            let g = if clip < 1.0 { g.affine(clip, 0.0)? } else { g.clone() };
            self.m[i] = (self.m[i].affine(c.beta1, 0.0)? + g.affine(1.0 - c.beta1, 0.0)?)?;
            self.v[i] = (self.v[i].affine(c.beta2, 0.0)? + g.sqr()?.affine(1.0 - c.beta2, 0.0)?)?;
            let denom = self.v[i].sqrt()?.affine(inv_sqrt_bc2, c.eps)?;
            let update = self.m[i].div(&denom)?.affine(step_size, 0.0)?;
            let var = &self.vars[i].1;
            var.set(&var.as_tensor().detach().sub(&update)?)?;
        }
        Ok(StepStats { lr, grad_norm })
    }

    /// Adds the moments to `out` as `adam.m.<name>` and `adam.v.<name>`.
    pub(crate) fn save_state(&self, out: &mut HashMap<String, Tensor>) {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("adam.m.{name}"), self.m[i].clone());
            out.insert(format!("adam.v.{name}"), self.v[i].clone());
        }
    }

    /// Restores the moments saved by [`Adam::save_state`] and the step count.
    pub(crate) fn load_state(&mut self, saved: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("adam.{kind}.{name}");
                let t = saved
                    .get(&key)
                    .ok_or_else(|| Error::invalid(format!("optimiser state has no tensor {key}")))?;
                if t.shape() != var.shape() {
                    return Err(Error::invalid(format!("optimiser state {key} has shape {:?}", t.shape())));
                }
                *slot = t.to_device(var.device())?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Elements per parallel chunk of [`FlatAdam`] (the norm is summed per chunk, then over chunks
/// in order, so it does not depend on the thread count either).
const CHUNK: usize = 1 << 14;

/// Adam over one flat parameter buffer, its moments flat too.
#[derive(Clone, Debug)]
pub struct FlatAdam {
    config: AdamConfig,
    m: Vec<f32>,
    v: Vec<f32>,
    step: u64,
}

impl FlatAdam {
    /// A fresh optimiser (zero moments, step 0) for `len` parameters.
    pub fn new(len: usize, config: AdamConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, m: vec![0.0; len], v: vec![0.0; len], step: 0 })
    }

    /// Optimiser steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One step of `params` from `grads` (same length), then, when given, the EMA's update
    /// with the new parameters in the same pass over memory ([`crate::ema::FlatEma::update`]).
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        ema: Option<&mut crate::ema::FlatEma>,
    ) -> StepStats {
        use rayon::prelude::*;
        assert!(params.len() == self.m.len() && grads.len() == params.len(), "one gradient per parameter");
        let c = &self.config;
        let sums: Vec<f64> =
            grads.par_chunks(CHUNK).map(|g| g.iter().map(|&v| v as f64 * v as f64).sum()).collect();
        let grad_norm = sums.iter().sum::<f64>().sqrt();
        let clip = match c.grad_clip {
            Some(max) if grad_norm > max => (max / (grad_norm + 1e-6)) as f32,
            _ => 1.0,
        };
        self.step += 1;
        let k = self.step as i32;
        let lr = c.lr_at(self.step);
        let step_size = (lr / (1.0 - c.beta1.powi(k))) as f32;
        let inv_sqrt_bc2 = (1.0 / (1.0 - c.beta2.powi(k)).sqrt()) as f32;
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        let mut acc = ema.and_then(|e| e.prepare(self.step, params.len()));
        let decay = acc.as_ref().map_or(0.0, |a| a.1);
        let acc_chunks: Vec<Option<&mut [f32]>> = match acc.as_mut() {
            Some((a, _)) => a.chunks_mut(CHUNK).map(Some).collect(),
            None => (0..params.len().div_ceil(CHUNK)).map(|_| None).collect(),
        };
        params
            .par_chunks_mut(CHUNK)
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .zip(grads.par_chunks(CHUNK))
            .zip(acc_chunks)
            .for_each(|((((p, m), v), g), a)| {
                for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    let g = g * clip;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
                if let Some(a) = a {
                    a.iter_mut().zip(p.iter()).for_each(|(a, &p)| *a = decay * *a + (1.0 - decay) * p);
                }
            });
        StepStats { lr, grad_norm }
    }

    /// The first and second moments (same layout as the parameters).
    pub(crate) fn moments(&self) -> (&[f32], &[f32]) {
        (&self.m, &self.v)
    }

    /// Restores moments saved from [`FlatAdam::moments`] after `step` steps.
    pub(crate) fn restore(&mut self, m: Vec<f32>, v: Vec<f32>, step: u64) -> Result<()> {
        if m.len() != self.m.len() || v.len() != self.v.len() {
            return Err(Error::invalid(format!(
                "optimiser state of {} values for {} parameters",
                m.len(),
                self.m.len()
            )));
        }
        (self.m, self.v, self.step) = (m, v, step);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// One Adam step computed by hand in f64 against the optimiser.
    #[test]
    fn matches_the_formula_with_warmup_and_clipping() {
        let w = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &Device::Cpu).unwrap()).unwrap();
        let cfg = AdamConfig { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, warmup: 4, grad_clip: Some(1.0) };
        let mut adam = Adam::new(vec![("w".into(), w.clone())], cfg).unwrap();
        let (mut m, mut v, mut p) = ([0f64; 2], [0f64; 2], [1.0f64, -2.0]);
        for k in 1..=3 {
            // loss = sum(3 p^2): gradient 6 p, norm > 1, so clipping is active.
            let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap().affine(3.0, 0.0).unwrap();
            let stats = adam.step(&loss.backward().unwrap()).unwrap();
            let g: Vec<f64> = p.iter().map(|x| 6.0 * x).collect();
            let n = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((stats.grad_norm - n).abs() < 1e-4 * n);
            let lr = 0.1 * k as f64 / 4.0;
            assert!((stats.lr - lr).abs() < 1e-15);
            for i in 0..2 {
                let gi = g[i] / (n + 1e-6);
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.99 * v[i] + 0.01 * gi * gi;
                let mh = m[i] / (1.0 - 0.9f64.powi(k));
                let denom = v[i].sqrt() / (1.0 - 0.99f64.powi(k)).sqrt() + 1e-8;
                p[i] -= lr * mh / denom;
            }
            let got = w.as_tensor().to_vec1::<f32>().unwrap();
            for i in 0..2 {
                assert!((got[i] as f64 - p[i]).abs() < 1e-5, "step {k}: {got:?} vs {p:?}");
            }
        }
        assert_eq!(adam.steps(), 3);
    }

    #[test]
    fn flat_and_tensor_adam_agree() {
        let start: Vec<f32> = (0..40_000).map(|i| ((i as f32) * 0.37).sin()).collect();
        let cfg = AdamConfig { lr: 0.05, warmup: 3, ..AdamConfig::paper() };
        let w = Var::from_tensor(&Tensor::new(start.as_slice(), &Device::Cpu).unwrap()).unwrap();
        let mut tensor = Adam::new(vec![("w".into(), w.clone())], cfg.clone()).unwrap();
        let mut flat = FlatAdam::new(start.len(), cfg).unwrap();
        let mut p = start.clone();
        for k in 0..4 {
            // loss = sum(p^3) / 3: gradient p^2 (norm > 1: clipped).
            let loss = w.as_tensor().powf(3.0).unwrap().sum_all().unwrap().affine(1.0 / 3.0, 0.0).unwrap();
            let a = tensor.step(&loss.backward().unwrap()).unwrap();
            let g: Vec<f32> = p.iter().map(|x| x * x).collect();
            let b = flat.step(&mut p, &g, None);
            assert!((a.grad_norm - b.grad_norm).abs() < 1e-4 * a.grad_norm && a.lr == b.lr, "step {k}");
            let want = w.as_tensor().to_vec1::<f32>().unwrap();
            let err = p.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(err < 1e-5, "step {k}: largest difference {err}");
        }
        assert_eq!(flat.steps(), 4);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(AdamConfig { lr: 0.0, ..AdamConfig::paper() }.validate().is_err());
        assert!(AdamConfig { beta2: 1.0, ..AdamConfig::paper() }.validate().is_err());
        assert!(AdamConfig { grad_clip: Some(0.0), ..AdamConfig::paper() }.validate().is_err());
    }
}
