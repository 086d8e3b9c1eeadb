//! What the figures share: dataset specifications, noise/data pairs, and the cosine between the
//! closed-form velocity and the conditional target.

use cfm_core::datasets::{self, Upsample};
use cfm_core::targets::{conditional_target, interpolate, row_cosines};
use cfm_core::{ClosedForm, Matrix, Stream};
use serde::{Deserialize, Serialize};

use crate::{Context, Result};

/// A dataset a figure runs on, fully determined by its fields and the root seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSpec {
    /// Two moons (2-D), `n` points.
    TwoMoons { n: usize },
    /// The 1797 8x8 handwritten digits (training and test split together), optionally resized
    /// to `size x size` (average pooling down, bilinear up).
    Digits { size: Option<usize> },
    /// `n` points of a mixture of `k` Gaussians in `d` dimensions, means `N(0, I)`, std `std`.
    Gmm { d: usize, k: usize, std: f64, n: usize },
    /// The MNIST training set (first `n` images), optionally resized.
    Mnist { n: Option<usize>, size: Option<usize> },
    /// The CIFAR-10 training set (first `n` images), optionally resized.
    Cifar10 { n: Option<usize>, size: Option<usize> },
}

impl DataSpec {
    /// Name used in tables and legends (`digits-16x16`, `gmm-d128`).
    pub fn name(&self) -> String {
        let sized = |base: &str, size: &Option<usize>| match size {
            Some(s) => format!("{base}-{s}x{s}"),
            None => base.to_string(),
        };
        match self {
            DataSpec::TwoMoons { .. } => "two-moons".into(),
            DataSpec::Digits { size } => sized("digits", size),
            DataSpec::Gmm { d, .. } => format!("gmm-d{d}"),
            DataSpec::Mnist { size, .. } => sized("mnist", size),
            DataSpec::Cifar10 { size, .. } => sized("cifar10", size),
        }
    }

    /// The points, one per row. Random data come from the stream `data/<name>` of the root seed.
    pub fn load(&self, ctx: &Context) -> Result<Matrix> {
        let mut s = ctx.stream("data").derive(&self.name());
        let resized = |ds: datasets::Dataset, size: &Option<usize>| -> Result<Matrix> {
            Ok(match size {
                Some(sz) => ds.resized(*sz, Upsample::Bilinear)?.train,
                None => ds.train,
            })
        };
        Ok(match self {
            DataSpec::TwoMoons { n } => datasets::two_moons(*n, &mut s),
            DataSpec::Digits { size } => {
                let mut all = datasets::digits();
                let test = all.test.take().expect("digits have a test split");
                let rows: Vec<&[f32]> = all.train.iter_rows().chain(test.iter_rows()).collect();
                all.train = Matrix::from_rows(&rows)?;
                resized(all, size)?
            }
            DataSpec::Gmm { d, k, std, n } => {
                let gmm = datasets::GaussianMixture::new(*d, *k, *std, &mut s.derive("means"))?;
                gmm.sample(*n, &mut s.derive("points"))
            }
            DataSpec::Mnist { n, size } => {
                let dir = ctx.data_dir()?;
                let ds = match n {
                    Some(n) => datasets::mnist_head(dir, *n)?,
                    None => datasets::mnist(dir)?,
                };
                resized(ds, size)?
            }
            DataSpec::Cifar10 { n, size } => {
                let dir = ctx.data_dir()?;
                let ds = match n {
                    Some(n) => datasets::cifar10_head(dir, *n)?,
                    None => datasets::cifar10(dir)?,
                };
                resized(ds, size)?
            }
        })
    }
}

/// `count` pairs `(x0, x1)`: `x0 ~ N(0, I)` and `x1` drawn uniformly (with replacement) from `data`.
pub fn pairs(data: &Matrix, count: usize, s: &Stream) -> (Matrix, Matrix) {
    let mut pick = s.derive("x1");
    let idx: Vec<usize> = (0..count).map(|_| pick.below(data.rows())).collect();
    let x1 = data.select_rows(&idx);
    let x0 = Matrix::from_vec(count, data.cols(), s.derive("x0").normal_vec(count * data.cols()))
        .expect("count x d values");
    (x0, x1)
}

/// `cos(u*(x_t, t), x1 - x0)` for every pair at time `t`, and the largest softmax weight of each.
pub fn cosines(cf: &ClosedForm, x0: &Matrix, x1: &Matrix, t: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let ts = vec![t; x0.rows()];
    let xt = interpolate(x0, x1, &ts);
    let eval = cf.evaluate(&xt, &ts, true)?;
    let cos = row_cosines(&eval.velocity, &conditional_target(x0, x1));
    let maxw = eval.weights.expect("summaries asked for").iter().map(|w| w.max_weight).collect();
    Ok((cos, maxw))
}

/// The time grid `0, step, 2 step, ..., <= last` (rounded to avoid drift).
pub fn grid(step: f64, last: f64) -> Vec<f64> {
    let k = (last / step + 1e-9).floor() as usize;
    (0..=k).map(|i| ((i as f64 * step) * 1e6).round() / 1e6).collect()
}

/// The time from which `values` (on the increasing grid `ts`) stays at or above `level` up to
/// the end of the grid, linearly interpolated with the grid point before; `None` if the last
/// value is below `level`. Unlike the first crossing, this ignores an early excursion above the
/// level (at `t = 0` the closed form `mean - x0` can already be close to `x1 - x0`).
pub fn settles_above(ts: &[f64], values: &[f64], level: f64) -> Option<f64> {
    let below = values.iter().rposition(|&v| v < level);
    match below {
        None => ts.first().copied(),
        Some(i) if i + 1 == values.len() => None,
        Some(i) => {
            let (t0, t1, v0, v1) = (ts[i], ts[i + 1], values[i], values[i + 1]);
            Some(t0 + (t1 - t0) * (level - v0) / (v1 - v0))
        }
    }
}

/// Mean of a slice.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Least-squares line `y = a + b x` through `(x, y)` points and its
/// `R^2 = s_xy^2 / (s_xx s_yy) = 1 - SS_res / SS_tot` (NaN when fewer than two distinct x).
pub fn least_squares(pts: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    if pts.len() < 2 || sxx == 0.0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let b = sxy / sxx;
    let r2 = if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) };
    (my - b * mx, b, r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settling_time_is_interpolated() {
        let ts = [0.0, 0.1, 0.2];
        assert!((settles_above(&ts, &[0.95, 0.5, 1.0], 0.9).unwrap() - 0.18).abs() < 1e-12);
        assert_eq!(settles_above(&ts, &[0.95, 0.92, 1.0], 0.9), Some(0.0));
        assert_eq!(settles_above(&ts, &[0.95, 0.92, 0.5], 0.9), None);
        assert_eq!(grid(0.01, 0.99).len(), 100);
        assert_eq!(grid(0.01, 0.99)[99], 0.99);
    }

    #[test]
    fn least_squares_recovers_a_line() {
        let pts: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 + 0.5 * i as f64)).collect();
        let (a, b, r2) = least_squares(&pts);
        assert!((a - 2.0).abs() < 1e-12 && (b - 0.5).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        assert!(least_squares(&[(1.0, 2.0), (1.0, 3.0)]).0.is_nan());
    }
}
