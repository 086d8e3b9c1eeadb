//! Minibatches and their regression targets.
//!
//! Step `k` draws everything from `root.derive("step").derive_index(k)`, by label:
//! `x1` (indices, uniform with replacement), `x0` (standard normal), `t` (uniform on the time
//! window), `refs` (EFM reference sets) and `dropout` (U-Net masks). A step's batch therefore
//! depends only on the seed and `k`, which is what makes resumed runs bit-identical.
//!
//! The loss is `mean_{b, j} (v_theta(x_t, t)_{b j} - u_{b j})^2` with `x_t = (1 - t) x0 + t x1`
//! and `u` the [`Target`]'s regression target.

use cfm_core::efm::{draw_refs, target as efm_target};
use cfm_core::targets::{conditional_target, interpolate};
use cfm_core::{Matrix, Stream};

use super::config::{Target, TrainConfig};
use crate::Result;
use crate::ot::ot_permutation;

/// One minibatch.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Indices of the data points `x1` in the training set.
    pub x1_idx: Vec<usize>,
    /// Noise `x0` (after OT pairing, for OT-CFM).
    pub x0: Matrix,
    /// Data `x1`.
    pub x1: Matrix,
    /// Times.
    pub t: Vec<f64>,
    /// Network inputs `x_t`.
    pub xt: Matrix,
    /// Regression targets.
    pub target: Matrix,
}

/// The minibatch drawn from the step stream `step` (see the module documentation).
pub fn sample_batch(config: &TrainConfig, data: &Matrix, step: &Stream) -> Result<Batch> {
    let (n, d, b) = (data.rows(), data.cols(), config.batch_size);
    let mut s = step.derive("x1");
    let x1_idx: Vec<usize> = (0..b).map(|_| s.below(n)).collect();
    let x1 = data.select_rows(&x1_idx);
    let mut x0 = Matrix::from_vec(b, d, step.derive("x0").normal_vec(b * d))?;
    if config.target == Target::OtCfm {
        x0 = x0.select_rows(&ot_permutation(&x0, &x1)?);
    }
    let mut s = step.derive("t");
    let t: Vec<f64> = (0..b).map(|_| s.uniform_in(config.time.t_min, config.time.t_max)).collect();
    let xt = interpolate(&x0, &x1, &t);
    let target = regression_target(&config.target, data, &x1_idx, &x0, &x1, &t, &mut step.derive("refs"))?;
    Ok(Batch { x1_idx, x0, x1, t, xt, target })
}

/// The regression target of `target` for pairs `(x0, x1)` at times `t`, where row `b` of `x1`
/// is training point `x1_idx[b]`: `x1 - x0` for CFM and OT-CFM, `u*_M(x_t, t)` for EFM (its
/// reference sets drawn from `refs`, the first reference of each sample being its own `x1`,
/// which makes the estimate unbiased, Proposition 2).
pub fn regression_target(
    target: &Target,
    data: &Matrix,
    x1_idx: &[usize],
    x0: &Matrix,
    x1: &Matrix,
    t: &[f64],
    refs: &mut Stream,
) -> Result<Matrix> {
    Ok(match *target {
        Target::Cfm | Target::OtCfm => conditional_target(x0, x1),
        Target::Efm { m, refs: mode } => {
            let sets = draw_refs(data.rows(), x1_idx, m, mode, refs)?;
            efm_target(data, &sets, x0, x1, t)
        }
    })
}
