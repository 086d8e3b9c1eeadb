//! The MLP velocity network for low-dimensional and flattened data.
//!
//! Input `[x, t, emb(t)]` (`emb`: `time_dim` sinusoidal features of `1000 t`, none when
//! `time_dim = 0`, which is the official toy model's plain `[x, t]`), then `depth` hidden layers
//! `h <- SELU(W h + b)` of `width` units, then a linear layer back to dimension `d`.

use candle_core::{D, Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use super::layers::{Start, linear, selu, timestep_embedding};

/// Size of an [`Mlp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Units per hidden layer.
    pub width: usize,
    /// Number of hidden layers.
    pub depth: usize,
    /// Sinusoidal time features appended to `[x, t]` (0: none).
    pub time_dim: usize,
}

impl MlpConfig {
    /// The official two-dimensional toy model: `[x, t]`, 2 hidden layers of 64 SELU units.
    pub fn toy() -> Self {
        Self { width: 64, depth: 2, time_dim: 0 }
    }

    /// For digits-size data (`d = 64`): 3 hidden layers of 256 units, 32 time features.
    pub fn digits() -> Self {
        Self { width: 256, depth: 3, time_dim: 32 }
    }

    /// Number of parameters for data of dimension `d`.
    pub fn param_count(&self, d: usize) -> usize {
        let input = d + 1 + self.time_dim;
        let first = if self.depth == 0 { input * d + d } else { input * self.width + self.width };
        let hidden = self.depth.saturating_sub(1) * (self.width * self.width + self.width);
        let last = if self.depth == 0 { 0 } else { self.width * d + d };
        first + hidden + last
    }
}

/// Time is scaled by this factor before the sinusoidal embedding (the DDPM step convention),
/// so that the features span frequencies from `1000` down to about `0.1` radians per unit time.
const TIME_SCALE: f64 = 1000.0;

/// The MLP velocity network.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    time_dim: usize,
}

impl Mlp {
    /// Builds the network for data of dimension `d`; variables are `layers.{i}.weight|bias`.
    pub(crate) fn new(cfg: &MlpConfig, d: usize, vb: VarBuilder) -> Result<Self> {
        let mut sizes = vec![d + 1 + cfg.time_dim];
        sizes.extend(std::iter::repeat_n(cfg.width, cfg.depth));
        sizes.push(d);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], Start::Default, vb.pp(format!("layers.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self { layers, time_dim: cfg.time_dim })
    }

    /// `v(x, t)` for `x`: `[B, d]`, `t`: `[B]`.
    pub(crate) fn forward(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let mut parts = vec![x.clone(), t.unsqueeze(1)?];
        if self.time_dim > 0 {
            parts.push(timestep_embedding(t, self.time_dim, TIME_SCALE)?);
        }
        let mut h = Tensor::cat(&parts, D::Minus1)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = selu(&h)?;
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use candle_nn::VarMap;
    use cfm_core::Stream;

    use super::*;
    use crate::init::{seeded_builder, sorted_vars};

    #[test]
    fn parameter_count_and_shapes() {
        for (cfg, d) in [
            (MlpConfig::toy(), 2),
            (MlpConfig::digits(), 64),
            (MlpConfig { width: 5, depth: 0, time_dim: 3 }, 4),
        ] {
            let map = VarMap::new();
            let net = Mlp::new(&cfg, d, seeded_builder(&map, Some(Stream::new(0)), &Device::Cpu)).unwrap();
            let count: usize = sorted_vars(&map).iter().map(|(_, v)| v.elem_count()).sum();
            assert_eq!(count, cfg.param_count(d), "{cfg:?}");
            let x = Tensor::zeros((3, d), candle_core::DType::F32, &Device::Cpu).unwrap();
            let t = Tensor::new(&[0.0f32, 0.5, 0.9], &Device::Cpu).unwrap();
            assert_eq!(net.forward(&x, &t).unwrap().dims(), &[3, d]);
        }
        assert_eq!(MlpConfig::toy().param_count(2), 3 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
    }
}
