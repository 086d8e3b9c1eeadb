//! Two-dimensional toy sets generated from a seed: two moons, eight Gaussians, checkerboard.
//!
//! Each generator is `fn(n, stream) -> Matrix` with `n` rows of 2 columns; points are i.i.d.
//! and their order is random, so any prefix of the rows is itself a sample.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use crate::{Matrix, Stream};

/// Standard deviation of the noise of [`two_moons`] before the `x 3` scaling (scikit-learn's
/// `noise=0.2`).
pub const MOONS_NOISE: f64 = 0.2;

/// Radius of the ring of centres of [`eight_gaussians`].
pub const EIGHT_GAUSSIANS_RADIUS: f64 = 5.0;

/// Standard deviation of each component of [`eight_gaussians`]: `0.1^(1/4) ~ 0.562`, as torchcfm
/// samples it (see [`eight_gaussians`]).
pub const EIGHT_GAUSSIANS_STD: f64 = 0.562_341_325_190_349;

/// Two interleaving half circles, scaled as torchcfm's `sample_moons` (`x 3 - 1`).
///
/// `floor(n / 2)` points lie on the outer moon and the rest on the inner one, in random order.
/// For each point, with `theta ~ U[0, pi]` and `e ~ N(0, I_2)`:
///
/// - outer moon: `m = (cos theta, sin theta)`;
/// - inner moon: `m = (1 - cos theta, 1/2 - sin theta)`;
/// - point: `x = 3 (m + 0.2 e) - 1`.
///
/// Moments (half the points on each moon): mean `(1/2, -1/4)`; variance
/// `9 (3/4 + 0.04)` along x and `9 (1/2 - 4/pi^2 + (4/pi - 1/2)^2 / 4 + 0.04)` along y.
///
/// This is scikit-learn's `make_moons(noise=0.2)` with random angles. torchcfm's
/// `sample_moons` calls torchdyn's `generate_moons` instead, which puts `theta` on an evenly
/// spaced grid, adds one `U[0, 0.2)` shift to both coordinates (not Gaussian noise) and lists
/// the outer moon first; we draw i.i.d. points so that subsets and prefixes are samples too.
pub fn two_moons(n: usize, s: &mut Stream) -> Matrix {
    let outer = n / 2;
    let order = s.permutation(n);
    let mut v = Vec::with_capacity(2 * n);
    for &rank in &order {
        let theta = PI * s.uniform();
        let (sin, cos) = theta.sin_cos();
        let m = if rank < outer { [cos, sin] } else { [1.0 - cos, 0.5 - sin] };
        for mk in m {
            v.push((3.0 * (mk + MOONS_NOISE * s.normal()) - 1.0) as f32);
        }
    }
    Matrix::from_vec(n, 2, v).expect("2 values per point")
}

/// Eight Gaussians on a ring, as torchcfm's `sample_8gaussians`.
///
/// `x = 5 c_k + sigma e` with `k ~ U{0, ..., 7}`, `e ~ N(0, I_2)` and `c_k` the unit vectors
/// in torchcfm's order: `(1, 0), (-1, 0), (0, 1), (0, -1)`, then the four diagonals
/// `(s, s), (s, -s), (-s, s), (-s, -s)` with `s = 1/sqrt(2)`.
///
/// `sigma = 0.1^(1/4) ~ 0.562` ([`EIGHT_GAUSSIANS_STD`]): torchcfm calls it `var = 0.1` but
/// passes `sqrt(var) I` as the *covariance* of its normal, so each component has covariance
/// `sqrt(0.1) I`. This is the distribution the paper's official toy script trains on.
pub fn eight_gaussians(n: usize, s: &mut Stream) -> Matrix {
    const CENTERS: [[f64; 2]; 8] = [
        [1.0, 0.0],
        [-1.0, 0.0],
        [0.0, 1.0],
        [0.0, -1.0],
        [FRAC_1_SQRT_2, FRAC_1_SQRT_2],
        [FRAC_1_SQRT_2, -FRAC_1_SQRT_2],
        [-FRAC_1_SQRT_2, FRAC_1_SQRT_2],
        [-FRAC_1_SQRT_2, -FRAC_1_SQRT_2],
    ];
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let c = CENTERS[s.below(8)];
        for ck in c {
            v.push((EIGHT_GAUSSIANS_RADIUS * ck + EIGHT_GAUSSIANS_STD * s.normal()) as f32);
        }
    }
    Matrix::from_vec(n, 2, v).expect("2 values per point")
}

/// FFJORD's checkerboard: uniform on the 8 dark squares of a 4 x 4 board covering `[-4, 4)^2`.
///
/// `x1 ~ U[-2, 2)`, `x2 = u - 2 b + (floor(x1) mod 2)` with `u ~ U[0, 1)`, `b ~ U{0, 1}`;
/// the point is `2 (x1, x2)`. Every point has `floor(x / 2) + floor(y / 2)` even; both
/// coordinates are marginally uniform on `[-4, 4)` (mean 0, variance 16/3).
pub fn checkerboard(n: usize, s: &mut Stream) -> Matrix {
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let x1 = s.uniform_in(-2.0, 2.0);
        let x2 = s.uniform() - 2.0 * s.below(2) as f64 + x1.floor().rem_euclid(2.0);
        v.push((2.0 * x1) as f32);
        v.push((2.0 * x2) as f32);
    }
    Matrix::from_vec(n, 2, v).expect("2 values per point")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column means and (population) variances.
    fn moments(x: &Matrix) -> ([f64; 2], [f64; 2]) {
        let n = x.rows() as f64;
        let mut mean = [0.0; 2];
        for r in x.iter_rows() {
            mean[0] += r[0] as f64 / n;
            mean[1] += r[1] as f64 / n;
        }
        let mut var = [0.0; 2];
        for r in x.iter_rows() {
            var[0] += (r[0] as f64 - mean[0]).powi(2) / n;
            var[1] += (r[1] as f64 - mean[1]).powi(2) / n;
        }
        (mean, var)
    }

    #[test]
    fn generators_have_shape_and_are_deterministic_per_seed() {
        for f in [two_moons, eight_gaussians, checkerboard] {
            let a = f(101, &mut Stream::new(5));
            assert_eq!((a.rows(), a.cols()), (101, 2));
            assert_eq!(a, f(101, &mut Stream::new(5)));
            assert_ne!(a, f(101, &mut Stream::new(6)));
            assert_eq!(f(0, &mut Stream::new(5)).rows(), 0);
        }
    }

    #[test]
    fn the_std_constant_is_the_fourth_root_of_a_tenth() {
        assert!((EIGHT_GAUSSIANS_STD - 0.1f64.powf(0.25)).abs() < 1e-15);
    }

    #[test]
    fn two_moons_moments() {
        let (mean, var) = moments(&two_moons(200_000, &mut Stream::new(1)));
        let noise = MOONS_NOISE * MOONS_NOISE;
        let var_x = 9.0 * (0.75 + noise);
        let var_y = 9.0 * (0.5 - 4.0 / (PI * PI) + (4.0 / PI - 0.5).powi(2) / 4.0 + noise);
        assert!((mean[0] - 0.5).abs() < 0.02, "{mean:?}");
        assert!((mean[1] + 0.25).abs() < 0.02, "{mean:?}");
        assert!((var[0] / var_x - 1.0).abs() < 0.01, "{var:?} vs {var_x}");
        assert!((var[1] / var_y - 1.0).abs() < 0.01, "{var:?} vs {var_y}");
    }

    #[test]
    fn two_moons_points_lie_near_their_arcs() {
        // Undo the scaling; the distance to the nearer unit circle (centred at (0, 0) for the
        // outer moon, (1, 1/2) for the inner one) is then about |N(0, 0.2^2)|.
        let x = two_moons(20_000, &mut Stream::new(2));
        let mut mean_dist = 0.0;
        for r in x.iter_rows() {
            let (a, b) = ((r[0] as f64 + 1.0) / 3.0, (r[1] as f64 + 1.0) / 3.0);
            let d_out = ((a * a + b * b).sqrt() - 1.0).abs();
            let d_in = (((a - 1.0).powi(2) + (b - 0.5).powi(2)).sqrt() - 1.0).abs();
            mean_dist += d_out.min(d_in) / x.rows() as f64;
        }
        // E|N(0, s^2)| = s sqrt(2 / pi) = 0.16, a little more from the curvature, less from
        // points that fall nearer the other circle; without noise or off the arcs it moves far.
        assert!(mean_dist > 0.1 && mean_dist < 0.18, "{mean_dist}");
    }

    #[test]
    fn eight_gaussians_moments_and_spread() {
        let x = eight_gaussians(100_000, &mut Stream::new(3));
        let (mean, var) = moments(&x);
        let sigma2 = EIGHT_GAUSSIANS_STD * EIGHT_GAUSSIANS_STD;
        let want = 25.0 / 2.0 + sigma2;
        assert!(mean[0].abs() < 0.05 && mean[1].abs() < 0.05, "{mean:?}");
        assert!((var[0] / want - 1.0).abs() < 0.02 && (var[1] / want - 1.0).abs() < 0.02, "{var:?}");
        // Squared distance to the nearest centre averages 2 sigma^2 (components barely overlap).
        let mut counts = [0usize; 8];
        let mut d2 = 0.0;
        for r in x.iter_rows() {
            let angle = (r[1] as f64).atan2(r[0] as f64).rem_euclid(2.0 * PI);
            let k = ((angle / (PI / 4.0)).round() as usize) % 8;
            let (cx, cy) = (5.0 * (k as f64 * PI / 4.0).cos(), 5.0 * (k as f64 * PI / 4.0).sin());
            d2 += ((r[0] as f64 - cx).powi(2) + (r[1] as f64 - cy).powi(2)) / x.rows() as f64;
            counts[k] += 1;
        }
        assert!((d2 / (2.0 * sigma2) - 1.0).abs() < 0.03, "{d2}");
        assert!(counts.iter().all(|&c| (12_000..13_000).contains(&c)), "{counts:?}");
    }

    #[test]
    fn checkerboard_fills_the_dark_squares_uniformly() {
        let x = checkerboard(80_000, &mut Stream::new(4));
        let mut counts = std::collections::BTreeMap::new();
        for r in x.iter_rows() {
            assert!(r.iter().all(|v| (-4.0..4.0).contains(v)), "{r:?}");
            let (i, j) = ((r[0] / 2.0).floor() as i32, (r[1] / 2.0).floor() as i32);
            assert_eq!((i + j).rem_euclid(2), 0, "{r:?} is on a light square");
            *counts.entry((i, j)).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 8);
        assert!(counts.values().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        let (mean, var) = moments(&x);
        assert!(mean[0].abs() < 0.05 && mean[1].abs() < 0.05, "{mean:?}");
        for v in var {
            assert!((v / (16.0 / 3.0) - 1.0).abs() < 0.02, "{var:?}");
        }
    }
}
