//! The networks: an MLP and a U-Net for velocities ([`Network`]), and a feature classifier
//! ([`classifier`]).

pub mod classifier;
pub(crate) mod layers;
pub mod mlp;
pub mod unet;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use cfm_core::Stream;
use serde::{Deserialize, Serialize};

pub use mlp::{Mlp, MlpConfig, Workspace};
pub use unet::{UNet, UNetConfig};

use crate::{Error, Result};

pub use cfm_core::datasets::ImageShape;

/// What the network outputs, and so how its output becomes a velocity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The velocity `u_theta(x, t)` itself.
    #[default]
    Velocity,
    /// A prediction `x1_hat` of the data point that generated `x`, with
    /// `u_theta(x, t) = (x1_hat - x) / (1 - t)`: the official code's `decoupled` option. Its
    /// velocity is never evaluated at `t = 1` (the ODE solvers stop short of it).
    X1,
}

impl Output {
    /// Turns the outputs `y` (rows of `x.len() / t.len()` values) at inputs `x` and times `t`
    /// into velocities, in place. An `x1` prediction is first clamped to `range` (the training
    /// data's smallest and largest coordinate), when given.
    ///
    /// Why the clamp: Euler's step with this velocity is the convex combination
    /// `x + h u = (1 - l) x + l x1_hat(x)`, `l = h / (1 - t)`, so a prediction that grows with
    /// `|x|` off the data compounds step after step. Measured on the quick profile's x1 network
    /// on 10 Fashion-MNIST images at step 8000: one sample of 1000 left the data at t ~ 0.1,
    /// where `|x1_hat| / |x|` was 23.5, and reached a norm of 3.8e24 at t = 1. The target
    /// `E[x1 | x_t]` lies in the convex hull of the training points, inside the box
    /// `[min, max]^d`, and clamping a coordinate to an interval that holds the target never
    /// moves it away from the target; with it every Euler iterate stays within the box's
    /// bound or the starting noise's.
    pub fn to_velocity(self, y: &mut [f32], x: &[f32], t: &[f32], range: Option<[f32; 2]>) {
        if self == Output::X1 {
            let d = x.len() / t.len().max(1);
            let [lo, hi] = range.unwrap_or([f32::NEG_INFINITY, f32::INFINITY]);
            for ((yr, xr), &tb) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(t) {
                let s = 1.0 / (1.0 - tb);
                yr.iter_mut().zip(xr).for_each(|(v, &xv)| *v = (v.clamp(lo, hi) - xv) * s);
            }
        }
    }

    /// The name used on the command line and in tables (`velocity`, `x1`).
    pub fn name(self) -> &'static str {
        match self {
            Output::Velocity => "velocity",
            Output::X1 => "x1",
        }
    }
}

/// Which velocity network to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// MLP on vectors (any data, images flattened).
    Mlp(MlpConfig),
    /// U-Net on images; needs an [`ImageShape`].
    UNet(UNetConfig),
}

impl ModelConfig {
    /// Number of parameters for data of dimension `dim` (and `image` for the U-Net).
    pub fn param_count(&self, dim: usize, image: Option<ImageShape>) -> Result<usize> {
        match self {
            ModelConfig::Mlp(c) => Ok(c.param_count(dim)),
            ModelConfig::UNet(c) => Ok(c.param_count(unet_image(c, dim, image)?)),
        }
    }
}

/// The image shape a U-Net needs, checked against the data dimension and the architecture.
fn unet_image(cfg: &UNetConfig, dim: usize, image: Option<ImageShape>) -> Result<ImageShape> {
    let image = image.ok_or_else(|| {
        Error::invalid("a U-Net needs an image shape (channels, height, width); use an MLP for vector data")
    })?;
    if image.dim() != dim {
        return Err(Error::invalid(format!(
            "image shape {}x{}x{} has {} values but the data has dimension {dim}",
            image.channels,
            image.height,
            image.width,
            image.dim()
        )));
    }
    cfg.validate(image).map_err(Error::Invalid)?;
    Ok(image)
}

/// A velocity network `v_theta(x, t)` on flattened data `[B, d]`.
#[derive(Clone, Debug)]
pub enum Network {
    /// See [`Mlp`].
    Mlp(Mlp),
    /// See [`UNet`].
    UNet(UNet),
}

impl Network {
    /// Builds the network for data of dimension `dim`, its variables coming from `vb`.
    pub(crate) fn new(
        cfg: &ModelConfig,
        dim: usize,
        image: Option<ImageShape>,
        vb: VarBuilder,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("data of dimension 0"));
        }
        Ok(match cfg {
            ModelConfig::Mlp(c) => {
                c.check(dim).map_err(Error::Invalid)?;
                Network::Mlp(Mlp::new(c, dim, vb)?)
            }
            ModelConfig::UNet(c) => Network::UNet(UNet::new(c, unet_image(c, dim, image)?, vb)?),
        })
    }

    /// `v(x, t)`, `x`: `[B, d]`, `t`: `[B]`. Dropout (U-Net only) is active when `dropout`
    /// holds the step's stream.
    pub(crate) fn forward(&self, x: &Tensor, t: &Tensor, dropout: Option<&Stream>) -> Result<Tensor> {
        Ok(match self {
            Network::Mlp(m) => m.forward_tensor(x, t)?,
            Network::UNet(u) => u.forward(x, t, dropout)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Output;

    #[test]
    fn an_x1_prediction_is_clamped_to_the_data_range_before_it_becomes_a_velocity() {
        let (x, t) = ([0.5f32, 0.0, 0.2], [0.5f32]);
        let mut y = [10.0f32, -10.0, 0.4];
        Output::X1.to_velocity(&mut y, &x, &t, Some([-1.0, 1.0]));
        assert_eq!(y, [1.0, -2.0, 0.4]);
        let mut free = [10.0f32, -10.0, 0.4];
        Output::X1.to_velocity(&mut free, &x, &t, None);
        assert_eq!(free, [19.0, -20.0, 0.4]);
        let mut v = [10.0f32, -10.0, 0.4];
        Output::Velocity.to_velocity(&mut v, &x, &t, Some([-1.0, 1.0]));
        assert_eq!(v, [10.0, -10.0, 0.4]);
    }
}
