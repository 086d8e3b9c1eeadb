//! Minibatches and their regression targets.
//!
//! Minibatches as the official code draws them (a shuffled `DataLoader` with `drop_last`): the
//! `n` training points are visited in epochs, each a fresh random permutation, cut into
//! `floor(n / B)` batches of `B` points; the incomplete last batch of an epoch is dropped. Step
//! `k` (0-based) is batch `k mod floor(n / B)` of epoch `e = k div floor(n / B)`, whose
//! permutation comes from `root.derive("epoch").derive_index(e)`. Everything else of step `k`
//! is drawn from `root.derive("step").derive_index(k)`, by label: `x0` (standard normal,
//! [`Stream::normal_vec_fast`]), `t` (uniform on the time window), `refs` (EFM reference sets)
//! and `dropout` (U-Net masks). A step's batch therefore depends only on the seed and `k`,
//! which is what makes resumed runs bit-identical.
//!
//! The loss is `mean_{b, j} w_b (u_theta(x_t, t)_{b j} - u_{b j})^2` with
//! `x_t = (1 - t) x0 + t x1`, `u` the [`super::Target`]'s regression target, `u_theta` the
//! network's velocity ([`crate::models::Output`]) and `w_b = (1 - t_b)^2` when the loss is
//! rescaled, 1 otherwise.

use cfm_core::efm::{RefMode, draw_refs, target as efm_target, target_shared};
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

/// The epochs of a run: which training points step `k` uses.
#[derive(Clone, Debug)]
pub struct Epochs {
    root: Stream,
    n: usize,
    batch: usize,
    /// The epoch whose permutation is held, and the permutation.
    current: Option<(u64, Vec<usize>)>,
}

impl Epochs {
    /// The epochs of `n` points in batches of `batch` (`1 <= batch <= n`), drawn from `root`.
    pub fn new(root: &Stream, n: usize, batch: usize) -> Self {
        assert!(batch >= 1 && batch <= n, "batch of {batch} from {n} points");
        Self { root: root.derive("epoch"), n, batch, current: None }
    }

    /// Optimiser steps per epoch, `floor(n / B)`.
    pub fn steps_per_epoch(&self) -> u64 {
        (self.n / self.batch) as u64
    }

    /// The training points of step `k`.
    pub fn indices(&mut self, k: u64) -> Vec<usize> {
        let per = self.steps_per_epoch();
        let (epoch, pos) = (k / per, (k % per) as usize);
        if self.current.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.current = Some((epoch, self.root.derive_index(epoch).permutation(self.n)));
        }
        let perm = &self.current.as_ref().expect("just set").1;
        perm[pos * self.batch..(pos + 1) * self.batch].to_vec()
    }
}

/// The minibatch of training points `x1_idx`, its other draws from the step stream `step` (see
/// the module documentation).
pub fn make_batch(config: &TrainConfig, data: &Matrix, x1_idx: Vec<usize>, step: &Stream) -> Result<Batch> {
    let (d, b) = (data.cols(), x1_idx.len());
    let x1 = data.select_rows(&x1_idx);
    let mut x0 = Matrix::from_vec(b, d, step.derive("x0").normal_vec_fast(b * d))?;
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
            match mode {
                // Every sample's set is the same minibatch-plus-extras: one closed form over it.
                RefMode::Official => target_shared(data, &sets.0[0], x0, x1, t)?,
                RefMode::Paper => efm_target(data, &sets, x0, x1, t),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_visit_every_point_once_and_drop_the_rest() {
        let mut e = Epochs::new(&Stream::new(3), 10, 3);
        assert_eq!(e.steps_per_epoch(), 3);
        for epoch in 0..4u64 {
            let mut seen: Vec<usize> = (0..3).flat_map(|k| e.indices(epoch * 3 + k)).collect();
            assert_eq!(seen.len(), 9);
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 9, "epoch {epoch} repeats a point");
        }
        assert_ne!(e.indices(0), e.indices(3), "a fresh permutation per epoch");
        // Random access gives the same batches as sequential access.
        let mut f = Epochs::new(&Stream::new(3), 10, 3);
        assert_eq!(f.indices(7), e.indices(7));
        assert_eq!(Epochs::new(&Stream::new(3), 4, 4).indices(5).len(), 4);
    }
}
