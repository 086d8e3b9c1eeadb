//! Exponential moving average of the weights with bias correction, as the official training
//! script (`ema_start > 0` branch).
//!
//! With decay `beta` and start step `s >= 1`, after optimiser step `k` (weights `p_k`):
//!
//! ```text
//! a_s = (1 - beta) p_s,     a_k = beta a_{k-1} + (1 - beta) p_k     (k > s)
//! EMA_k = a_k / (1 - beta^(k - s + 1))
//! ```
//!
//! i.e. a weighted average of `p_s .. p_k` whose weights sum to one. Before step `s` the EMA
//! is the current weights. (The official code keeps the initial weights until `s`; the two agree
//! from step `s` on.)

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Decay and start of the [`Ema`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmaConfig {
    /// Decay `beta` in `[0, 1)`.
    pub decay: f64,
    /// First optimiser step (1-based) included in the average.
    pub start: u64,
}

impl EmaConfig {
    /// The official image settings: decay 0.9999 from step 1000.
    pub fn paper() -> Self {
        Self { decay: 0.9999, start: 1000 }
    }

    /// Checks the domain of both fields.
    pub fn validate(&self) -> Result<()> {
        if (0.0..1.0).contains(&self.decay) && self.start >= 1 {
            Ok(())
        } else {
            Err(Error::invalid(format!("EMA needs decay in [0, 1) and start >= 1, got {self:?}")))
        }
    }
}

/// The running average `a_k` of the module documentation, over name-sorted variables.
pub struct Ema {
    config: EmaConfig,
    acc: Option<Vec<Tensor>>,
}

impl Ema {
    /// An EMA that has not started.
    pub fn new(config: EmaConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, acc: None })
    }

    /// Folds in the weights `vars` after optimiser step `k`.
    pub fn update(&mut self, k: u64, vars: &[(String, Var)]) -> Result<()> {
        let b = self.config.decay;
        if k < self.config.start {
            return Ok(());
        }
        let acc = match self.acc.take() {
            Some(acc) if k > self.config.start => acc
                .iter()
                .zip(vars)
                .map(|(a, (_, v))| a.affine(b, 0.0)? + v.as_tensor().detach().affine(1.0 - b, 0.0)?)
                .collect::<candle_core::Result<Vec<_>>>()?,
            _ => vars
                .iter()
                .map(|(_, v)| v.as_tensor().detach().affine(1.0 - b, 0.0))
                .collect::<candle_core::Result<_>>()?,
        };
        self.acc = Some(acc);
        Ok(())
    }

    /// The bias-corrected averages after step `k`, in the order of `vars` (the weights
    /// themselves before the start step).
    pub fn weights(&self, k: u64, vars: &[(String, Var)]) -> Result<Vec<Tensor>> {
        Ok(match &self.acc {
            Some(acc) if k >= self.config.start => {
                let norm = 1.0 - self.config.decay.powf((k - self.config.start + 1) as f64);
                acc.iter().map(|a| a.affine(1.0 / norm, 0.0)).collect::<candle_core::Result<_>>()?
            }
            _ => vars.iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?,
        })
    }

    /// Adds the running sums to `out` as `ema.acc.<name>` (nothing before the start).
    pub(crate) fn save_state(&self, vars: &[(String, Var)], out: &mut HashMap<String, Tensor>) {
        if let Some(acc) = &self.acc {
            for ((name, _), a) in vars.iter().zip(acc) {
                out.insert(format!("ema.acc.{name}"), a.clone());
            }
        }
    }

    /// Restores the running sums saved by [`Ema::save_state`] after step `k`.
    pub(crate) fn load_state(
        &mut self,
        saved: &HashMap<String, Tensor>,
        k: u64,
        vars: &[(String, Var)],
    ) -> Result<()> {
        if k < self.config.start {
            self.acc = None;
            return Ok(());
        }
        let acc = vars
            .iter()
            .map(|(name, v)| {
                let key = format!("ema.acc.{name}");
                let t = saved
                    .get(&key)
                    .ok_or_else(|| Error::invalid(format!("EMA state has no tensor {key}")))?;
                Ok(t.to_device(v.device())?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.acc = Some(acc);
        Ok(())
    }
}

/// The same average over one flat parameter buffer (the MLP on the CPU).
#[derive(Clone, Debug)]
pub struct FlatEma {
    config: EmaConfig,
    acc: Option<Vec<f32>>,
}

impl FlatEma {
    /// An EMA that has not started.
    pub fn new(config: EmaConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, acc: None })
    }

    /// Folds in the weights `params` after optimiser step `k`.
    pub fn update(&mut self, k: u64, params: &[f32]) {
        if let Some((acc, b)) = self.prepare(k, params.len()) {
            acc.iter_mut().zip(params).for_each(|(a, &p)| *a = b * *a + (1.0 - b) * p);
        }
    }

    /// For the update after step `k` of `len` parameters: the running sum to fold them into,
    /// `a <- b a + (1 - b) p`, and the decay `b` (at the start step the sum is reset to zeros,
    /// which gives `a_s = (1 - b) p_s`), or `None` before the start.
    pub(crate) fn prepare(&mut self, k: u64, len: usize) -> Option<(&mut [f32], f32)> {
        if k < self.config.start {
            return None;
        }
        let b = self.config.decay as f32;
        if k == self.config.start || self.acc.is_none() {
            // a_s = (1 - b) p_s: fold into zeros with decay b.
            self.acc = Some(vec![0.0; len]);
        }
        Some((self.acc.as_deref_mut().expect("set above"), b))
    }

    /// The bias-corrected average after step `k` (the weights themselves before the start).
    pub fn weights(&self, k: u64, params: &[f32]) -> Vec<f32> {
        match &self.acc {
            Some(acc) if k >= self.config.start => {
                let norm = 1.0 - self.config.decay.powf((k - self.config.start + 1) as f64);
                let inv = (1.0 / norm) as f32;
                acc.iter().map(|a| a * inv).collect()
            }
            _ => params.to_vec(),
        }
    }

    /// The running sum `a_k`, once started.
    pub(crate) fn running_sum(&self) -> Option<&[f32]> {
        self.acc.as_deref()
    }

    /// Restores the running sum saved from [`FlatEma::running_sum`] after step `k`.
    pub(crate) fn restore(&mut self, acc: Option<Vec<f32>>, k: u64) -> Result<()> {
        if k >= self.config.start && acc.is_none() {
            return Err(Error::invalid(format!("EMA state missing after step {k}")));
        }
        self.acc = if k >= self.config.start { acc } else { None };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn flat_and_tensor_averages_agree() {
        let var = Var::from_tensor(&Tensor::new(&[0.0f32, 0.0], &Device::Cpu).unwrap()).unwrap();
        let vars = vec![("w".to_string(), var.clone())];
        let cfg = EmaConfig { decay: 0.8, start: 2 };
        let (mut tensor, mut flat) = (Ema::new(cfg.clone()).unwrap(), FlatEma::new(cfg).unwrap());
        for k in 1..=5u64 {
            let p = [k as f32, -(k as f32).sqrt()];
            var.set(&Tensor::new(&p, &Device::Cpu).unwrap()).unwrap();
            tensor.update(k, &vars).unwrap();
            flat.update(k, &p);
            let want = tensor.weights(k, &vars).unwrap()[0].to_vec1::<f32>().unwrap();
            let got = flat.weights(k, &p);
            assert!(
                got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
                "step {k}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn bias_corrected_average_matches_the_formula() {
        let var = Var::from_tensor(&Tensor::new(&[0.0f32], &Device::Cpu).unwrap()).unwrap();
        let vars = vec![("w".to_string(), var.clone())];
        let mut ema = Ema::new(EmaConfig { decay: 0.9, start: 3 }).unwrap();
        let mut want = Vec::new();
        for k in 1..=6u64 {
            var.set(&Tensor::new(&[k as f32], &Device::Cpu).unwrap()).unwrap();
            ema.update(k, &vars).unwrap();
            let got = ema.weights(k, &vars).unwrap()[0].to_vec1::<f32>().unwrap()[0] as f64;
            if k < 3 {
                assert_eq!(got, k as f64);
                continue;
            }
            want.push(k as f64);
            // Weights 0.9^(k - j) (1 - 0.9) over j = 3..k, normalised.
            let ws: Vec<f64> = (3..=k).map(|j| 0.1 * 0.9f64.powi((k - j) as i32)).collect();
            let exp = ws.iter().zip(&want).map(|(w, p)| w * p).sum::<f64>() / ws.iter().sum::<f64>();
            assert!((got - exp).abs() < 1e-5, "step {k}: {got} vs {exp}");
        }
    }
}
