//! A trained network as a [`VelocityField`], so that every solver of [`cfm_core::ode`] (and
//! the hybrid sampler [`cfm_core::ode::Hybrid`]) samples from it like from the closed form.
//! A network that predicts `x1` ([`Output::X1`]) gives the velocity `(x1_hat - x) / (1 - t)`,
//! with `x1_hat` clamped to the training data's range when the model knows it,
//! and is never evaluated at `t = 1`.

use candle_core::{Device, Tensor};
use cfm_core::{Matrix, VelocityField};

use crate::Result;
use crate::models::layers::to_tensor;
use crate::models::{Network, Output};

/// A velocity network evaluated in batches of at most [`NetworkField::batch`] rows.
pub struct NetworkField {
    net: Network,
    dim: usize,
    device: Device,
    batch: usize,
    output: Output,
    range: Option<[f32; 2]>,
}

impl NetworkField {
    /// Rows per forward pass by default: 4096 for the MLP, 256 for the U-Net.
    pub(crate) fn new(net: Network, dim: usize, output: Output, device: &Device) -> Self {
        let batch = match net {
            Network::Mlp(_) => 4096,
            Network::UNet(_) => 256,
        };
        Self { net, dim, device: device.clone(), batch, output, range: None }
    }

    /// The same field with an `x1` prediction clamped to `range` (see [`Output::to_velocity`]).
    pub fn with_range(mut self, range: Option<[f32; 2]>) -> Self {
        self.range = range;
        self
    }

    /// The same field evaluated `batch` rows at a time (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Rows per forward pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `v_theta(x_b, t_b)` for every row of `x`, each at its own time.
    pub fn evaluate(&self, x: &Matrix, ts: &[f64]) -> Result<Matrix> {
        if x.cols() != self.dim || ts.len() != x.rows() {
            return Err(crate::Error::invalid(format!(
                "network of dimension {} got {} x {} points and {} times",
                self.dim,
                x.rows(),
                x.cols(),
                ts.len()
            )));
        }
        if self.output == Output::X1 && ts.iter().any(|&t| t >= 1.0) {
            return Err(crate::Error::invalid(
                "an x1-predicting network has no velocity at t = 1: (x1_hat - x) / (1 - t)",
            ));
        }
        let t32: Vec<f32> = ts.iter().map(|&t| t as f32).collect();
        let mut out = match &self.net {
            Network::Mlp(m) => m.evaluate(x.as_slice(), &t32, self.batch),
            Network::UNet(_) => {
                let mut out = Vec::with_capacity(x.rows() * self.dim);
                for start in (0..x.rows()).step_by(self.batch) {
                    let end = (start + self.batch).min(x.rows());
                    let xb = to_tensor(&x.slice_rows(start, end), &self.device)?;
                    let t = Tensor::from_slice(&t32[start..end], end - start, &self.device)?;
                    let v = self.net.forward(&xb, &t, None)?;
                    out.extend(v.flatten_all()?.to_vec1::<f32>()?);
                }
                out
            }
        };
        self.output.to_velocity(&mut out, x.as_slice(), &t32, self.range);
        Ok(Matrix::from_vec(x.rows(), self.dim, out)?)
    }
}

impl VelocityField for NetworkField {
    fn dim(&self) -> usize {
        self.dim
    }

    /// Errors of the network come back as [`cfm_core::Error::Field`].
    fn velocity(&self, x: &Matrix, t: f64) -> cfm_core::Result<Matrix> {
        Ok(self.evaluate(x, &vec![t; x.rows()])?)
    }
}
