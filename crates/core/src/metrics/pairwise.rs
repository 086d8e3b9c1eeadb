//! Squared Euclidean distances between two point sets, tile by tile, by the expansion
//! `||q - r||^2 = ||q||^2 - 2 <q, r> + ||r||^2`: one `f32` matrix product per tile of `block`
//! queries and `chunk` references, so extra memory is `O(block chunk)`; the `B x n x d` tensor of
//! differences is never formed.
//!
//! # Error bound
//!
//! The inner product is computed in `f32`; its rounding error is, with margin,
//! `u (2 sqrt(d) + 8) ||q|| ||r||` (`u = 2^-24`; `sqrt(d)` is the statistical size of the
//! rounding error of a length-`d` sum, as in [`crate::closed_form`]). The expansion takes it
//! twice, and `u (||q||^2 + ||r||^2)` covers the remaining roundings (norms, conversions, the
//! `f32` differences of the exact recomputation):
//!
//! ```text
//! |expansion - ||q - r||^2| <= u ((4 sqrt(d) + 16) ||q|| ||r|| + ||q||^2 + ||r||^2).
//! ```
//!
//! The error does not shrink with the distance: for nearly equal points (memorized samples) it
//! dominates, which is why callers recompute small distances exactly with [`sq_dist`]
//! (`f32` differences, `f64` sums).
//!
//! [`sq_dist`]: crate::matrix::sq_dist

use std::ops::Range;

use crate::matrix::{Matrix, gemm_nt};

/// Unit roundoff of `f32`.
const UNIT: f64 = f32::EPSILON as f64 / 2.0;

/// Squared norms and norms of the rows of a point set, computed once for all tiles.
pub(crate) struct Norms {
    sq: Vec<f64>,
    norm: Vec<f64>,
}

impl Norms {
    pub(crate) fn of(points: &Matrix) -> Self {
        let sq = points.row_sq_norms();
        let norm = sq.iter().map(|v| v.sqrt()).collect();
        Self { sq, norm }
    }
}

/// The expansion of squared distances in dimension `d`, with its error bound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expansion {
    /// `4 sqrt(d) + 16`: the factor of `u ||q|| ||r||` in the error bound.
    cross: f64,
}

impl Expansion {
    pub(crate) fn new(d: usize) -> Self {
        Self { cross: 4.0 * (d as f64).sqrt() + 16.0 }
    }

    /// `(approximate ||q_i - r_j||^2, bound on its error)` from the `f32` inner product `dot`.
    #[inline]
    pub(crate) fn eval(&self, q: &Norms, i: usize, r: &Norms, j: usize, dot: f32) -> (f64, f64) {
        let (qq, rr) = (q.sq[i], r.sq[j]);
        (qq + rr - 2.0 * dot as f64, UNIT * (self.cross * q.norm[i] * r.norm[j] + qq + rr))
    }
}

/// Calls `f(query rows, reference rows, dots)` for every tile of at most `block` queries and
/// `chunk` references, where `dots` is the row-major tile of `f32` inner products `<q_i, r_j>`.
/// Query blocks are the outer loop; `q` and `r` must have the same number of columns (>= 1).
pub(crate) fn for_each_tile(
    q: &Matrix,
    r: &Matrix,
    block: usize,
    chunk: usize,
    mut f: impl FnMut(Range<usize>, Range<usize>, &[f32]),
) {
    let d = q.cols();
    let mut buf = vec![0f32; block.min(q.rows()) * chunk.min(r.rows())];
    for qs in (0..q.rows()).step_by(block) {
        let qe = (qs + block).min(q.rows());
        for rs in (0..r.rows()).step_by(chunk) {
            let re = (rs + chunk).min(r.rows());
            let tile = &mut buf[..(qe - qs) * (re - rs)];
            let (qa, ra) = (&q.as_slice()[qs * d..qe * d], &r.as_slice()[rs * d..re * d]);
            gemm_nt(qe - qs, re - rs, d, qa, ra, tile, false, true);
            f(qs..qe, rs..re, tile);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stream;

    /// Every tile is visited once and holds the right inner products, and the error bound holds
    /// for Gaussian data and for non-negative (image-like) data, where rounding errors of the
    /// sums do not cancel, up to d = 3072.
    #[test]
    fn tiles_cover_everything_and_the_bound_holds() {
        let mut s = Stream::new(5);
        for (n, m, d, positive) in
            [(37, 53, 3, false), (40, 70, 784, true), (20, 30, 3072, true), (9, 9, 64, false)]
        {
            let draw = |s: &mut Stream, rows: usize| {
                let v = (0..rows * d)
                    .map(|_| if positive { s.uniform() as f32 } else { 3.0 * s.normal() as f32 + 1.0 })
                    .collect();
                Matrix::from_vec(rows, d, v).unwrap()
            };
            let (q, r) = (draw(&mut s, n), draw(&mut s, m));
            let (qn, rn) = (Norms::of(&q), Norms::of(&r));
            let exp = Expansion::new(d);
            let mut seen = vec![0u32; n * m];
            let mut worst: f64 = 0.0;
            for_each_tile(&q, &r, 8, 11, |qr, rr, dots| {
                for (b, i) in qr.clone().enumerate() {
                    for (c, j) in rr.clone().enumerate() {
                        seen[i * m + j] += 1;
                        let exact: f64 =
                            q.row(i).iter().zip(r.row(j)).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
                        let (approx, err) = exp.eval(&qn, i, &rn, j, dots[b * rr.len() + c]);
                        worst = worst.max((approx - exact).abs() / err);
                    }
                }
            });
            assert!(seen.iter().all(|&c| c == 1), "d = {d}: tiles overlap or miss entries");
            assert!(worst <= 1.0, "d = {d}: error {worst} times the bound");
            assert!(worst > 1e-3, "d = {d}: bound {worst} is uselessly loose");
        }
    }
}
