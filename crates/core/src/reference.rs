//! The `f64` brute-force closed form: the ground truth the fast path is tested against, and its
//! last-resort fallback.
//!
//! For one query `x` at time `t` (Proposition 1):
//! `l_i = -||x - t x_i||^2 / (2 (1 - t)^2)`, `lambda = softmax(l)`,
//! `u*(x, t) = sum_i lambda_i (x_i - x) / (1 - t)`.
//! Squared distances are summed from `f64` differences, so there is no cancellation.

use crate::closed_form::WeightSummary;
use crate::matrix::Matrix;

/// Shifted logits `c (||x||^2 - ||x - t x_i||^2)` with `c = 1 / (2 (1 - t)^2)` for every row of
/// `refs`: the logits of Proposition 1 plus the per-query constant `c ||x||^2`, the same shift
/// as the fast path uses.
pub fn shifted_logits(refs: &Matrix, x: &[f32], t: f64) -> Vec<f64> {
    let c = 0.5 / ((1.0 - t) * (1.0 - t));
    let xx: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    refs.iter_rows().map(|r| c * (xx - dist_scaled(x, r, t))).collect()
}

/// `||x - t r||^2` in `f64`.
pub fn dist_scaled(x: &[f32], r: &[f32], t: f64) -> f64 {
    x.iter()
        .zip(r)
        .map(|(&a, &b)| {
            let d = a as f64 - t * b as f64;
            d * d
        })
        .sum()
}

/// [`dist_scaled`] from `x` to each of `rs`: the same sums in the same order, so the results are
/// bit-identical, computed four references at a time so that their independent accumulations
/// overlap instead of each waiting on its own previous addition.
pub fn dist_scaled_many(x: &[f32], rs: &[&[f32]], t: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(rs.len());
    for group in rs.chunks(4) {
        let mut acc = [0f64; 4];
        for (k, &a) in x.iter().enumerate() {
            for (s, r) in acc.iter_mut().zip(group) {
                let d = a as f64 - t * r[k] as f64;
                *s += d * d;
            }
        }
        out.extend_from_slice(&acc[..group.len()]);
    }
    out
}

/// Softmax of `logits` in `f64` with max subtraction.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// Summary (largest weight, its index, entropy) of normalised `weights`.
pub fn summarize(weights: &[f64]) -> WeightSummary {
    let (argmax, max_weight) = weights
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, w)| if w > best.1 { (i, w) } else { best });
    let entropy = -weights.iter().filter(|&&w| w > 0.0).map(|w| w * w.ln()).sum::<f64>();
    WeightSummary { max_weight, argmax, entropy }
}

/// The exact velocity `u*(x, t)` of one query, in `f64`, with its weights' summary.
pub fn velocity_one(refs: &Matrix, x: &[f32], t: f64) -> (Vec<f64>, WeightSummary) {
    let w = softmax(&shifted_logits(refs, x, t));
    let mut mean = vec![0f64; x.len()];
    for (wi, r) in w.iter().zip(refs.iter_rows()) {
        if *wi > 0.0 {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += wi * v as f64;
            }
        }
    }
    let u = mean.iter().zip(x).map(|(m, &v)| (m - v as f64) / (1.0 - t)).collect();
    (u, summarize(&w))
}
