//! Energy distance between two sample sets (Székely & Rizzo, *Energy statistics: a class of
//! statistics based on distances*, 2013):
//!
//! ```text
//! E(X, Y) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||,
//! ```
//!
//! with `X, X'` independent copies of one distribution and `Y, Y'` of the other. For
//! distributions with finite means `E >= 0`, with equality if and only if they are equal; unlike the Fréchet distance it makes no
//! Gaussian assumption, so it compares the low-dimensional sets of the study (two-moons and other
//! 2-D sets) faithfully. This is the squared form; its square root is not used.
//!
//! Estimator: the cross term averages all `n m` pairs, the within-set terms are U-statistics over
//! pairs `i != j`, so the estimate is unbiased and can be slightly negative when the two
//! distributions are equal.
//!
//! Distances come from the expansion `||q||^2 - 2 <q, r> + ||r||^2` in tiles
//! (module `pairwise`); an entry whose error bound exceeds [`MAX_REL_ERR`] of the distance
//! (near-duplicate pairs, where cancellation dominates) is recomputed exactly (`f32` differences,
//! `f64` sums). Sums are accumulated in `f64`, per query row, then over rows in order, so the
//! result does not depend on the number of threads.

use rayon::prelude::*;

use super::pairwise::{self, Expansion, Norms};
use crate::matrix::{Matrix, sq_dist};
use crate::{Error, Result};

/// Largest relative error bound of a distance taken from the expansion; above it the distance is
/// recomputed exactly.
pub const MAX_REL_ERR: f64 = 1e-5;

/// Queries and references per tile.
const BLOCK: usize = 512;
const CHUNK: usize = 2048;

/// Energy distance `2 E||X - Y|| - E||X - X'|| - E||Y - Y'||` between the rows of `x` and the
/// rows of `y` (each at least 2 finite samples of the same dimension).
pub fn energy_distance(x: &Matrix, y: &Matrix) -> Result<f64> {
    for (what, m) in [("first", x), ("second", y)] {
        if m.rows() < 2 || m.cols() == 0 {
            return Err(Error::invalid(format!(
                "energy distance: the {what} set has {} x {}; it needs at least 2 samples of dimension >= 1",
                m.rows(),
                m.cols()
            )));
        }
        m.check_finite(&format!("energy distance, {what} set"))?;
    }
    if x.cols() != y.cols() {
        return Err(Error::invalid(format!(
            "energy distance between sets of dimension {} and {}; compare points of the same size",
            x.cols(),
            y.cols()
        )));
    }
    let (nx, ny) = (Norms::of(x), Norms::of(y));
    let between = mean_distance(x, &nx, y, &ny, false);
    let within_x = mean_distance(x, &nx, x, &nx, true);
    let within_y = mean_distance(y, &ny, y, &ny, true);
    Ok(2.0 * between - within_x - within_y)
}

/// Mean of `||q_i - r_j||` over all pairs, or over pairs `i != j` when `within` (then `q` is `r`).
fn mean_distance(q: &Matrix, qn: &Norms, r: &Matrix, rn: &Norms, within: bool) -> f64 {
    let exp = Expansion::new(q.cols());
    let mut sums = vec![0f64; q.rows()];
    pairwise::for_each_tile(q, r, BLOCK, CHUNK, |qr, rr, dots| {
        dots.par_chunks(rr.len()).zip(sums[qr.clone()].par_iter_mut()).enumerate().for_each(
            |(b, (row, sum))| {
                let i = qr.start + b;
                for (c, &dot) in row.iter().enumerate() {
                    let j = rr.start + c;
                    if within && i == j {
                        continue;
                    }
                    let (sq, err) = exp.eval(qn, i, rn, j, dot);
                    // The relative error of sqrt(sq) is about err / (2 sq).
                    *sum += if err <= 2.0 * MAX_REL_ERR * sq {
                        sq.sqrt()
                    } else {
                        sq_dist(q.row(i), r.row(j)).sqrt()
                    };
                }
            },
        );
    });
    let pairs = q.rows() * r.rows() - if within { q.rows() } else { 0 };
    sums.iter().sum::<f64>() / pairs as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_rejected() {
        let msg = |r: Result<f64>| r.unwrap_err().to_string();
        let one = Matrix::from_vec(1, 2, vec![0.0, 1.0]).unwrap();
        let two = Matrix::from_vec(2, 2, vec![0.0, 1.0, 1.0, 0.0]).unwrap();
        let three = Matrix::from_vec(2, 3, vec![0.0; 6]).unwrap();
        assert!(msg(energy_distance(&one, &two)).contains("first set has 1 x 2"));
        assert!(msg(energy_distance(&two, &three)).contains("dimension 2 and 3"));
        let nan = Matrix::from_vec(2, 2, vec![0.0, 1.0, f32::INFINITY, 0.0]).unwrap();
        assert!(msg(energy_distance(&two, &nan)).contains("second set"));
    }

    #[test]
    fn two_points_each() {
        // X = {0, 1}, Y = {3, 5} on a line: E|X-Y| = (3 + 5 + 2 + 4) / 4 = 3.5, E|X-X'| = 1,
        // E|Y-Y'| = 2, so E = 7 - 1 - 2 = 4.
        let x = Matrix::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
        let y = Matrix::from_vec(2, 1, vec![3.0, 5.0]).unwrap();
        assert!((energy_distance(&x, &y).unwrap() - 4.0).abs() < 1e-12);
    }
}
