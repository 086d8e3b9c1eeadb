//! Isotropic Gaussian mixtures in any dimension, so that experiments can vary `d` and `n`
//! independently (collapse time against `log(n) / d`).

use crate::{Error, Matrix, Result, Stream};

/// The equal-weight mixture `p(x) = (1/k) sum_j N(x; mu_j, sigma^2 I_d)`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    means: Matrix,
    std: f64,
}

impl GaussianMixture {
    /// `k` components in dimension `d` with means `mu_j ~ N(0, I_d)` drawn from `s`, and
    /// standard deviation `std` around each mean.
    pub fn new(d: usize, k: usize, std: f64, s: &mut Stream) -> Result<Self> {
        if d == 0 {
            return Err(Error::invalid("Gaussian mixture: dimension d must be at least 1"));
        }
        let means = Matrix::from_vec(k, d, s.normal_vec(k * d))?;
        Self::from_means(means, std)
    }

    /// The mixture with the given means (one per row) and standard deviation `std`.
    pub fn from_means(means: Matrix, std: f64) -> Result<Self> {
        if means.rows() == 0 || means.cols() == 0 {
            return Err(Error::invalid(format!(
                "Gaussian mixture: needs at least one component of dimension >= 1, got {} x {} means",
                means.rows(),
                means.cols()
            )));
        }
        if !(std.is_finite() && std >= 0.0) {
            return Err(Error::invalid(format!("Gaussian mixture: std must be finite and >= 0, got {std}")));
        }
        means.check_finite("Gaussian mixture means")?;
        Ok(Self { means, std })
    }

    /// The component means, one per row.
    pub fn means(&self) -> &Matrix {
        &self.means
    }

    /// Standard deviation `sigma` of every component.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.means.cols()
    }

    /// `n` i.i.d. points: `x = mu_j + sigma e` with `j ~ U{0, ..., k - 1}`, `e ~ N(0, I_d)`.
    pub fn sample(&self, n: usize, s: &mut Stream) -> Matrix {
        self.sample_labelled(n, s).0
    }

    /// Like [`sample`](Self::sample) (the same points for the same stream), with the component
    /// `j` of each point.
    pub fn sample_labelled(&self, n: usize, s: &mut Stream) -> (Matrix, Vec<usize>) {
        let d = self.dim();
        let mut v = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let j = s.below(self.means.rows());
            for &m in self.means.row(j) {
                v.push((m as f64 + self.std * s.normal()) as f32);
            }
            labels.push(j);
        }
        (Matrix::from_vec(n, d, v).expect("d values per point"), labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_sample_means_and_spread_match() {
        let (d, k, std) = (16, 4, 0.5);
        let gm = GaussianMixture::new(d, k, std, &mut Stream::new(1)).unwrap();
        let (x, labels) = gm.sample_labelled(40_000, &mut Stream::new(2));
        assert_eq!((x.rows(), x.cols()), (40_000, d));
        let mut sums = vec![vec![0.0f64; d]; k];
        let mut sq = vec![0.0f64; k];
        let mut counts = vec![0usize; k];
        for (r, &j) in x.iter_rows().zip(&labels) {
            counts[j] += 1;
            for (c, &v) in r.iter().enumerate() {
                sums[j][c] += v as f64;
                sq[j] += (v as f64 - gm.means().row(j)[c] as f64).powi(2);
            }
        }
        for j in 0..k {
            assert!((9_500..10_500).contains(&counts[j]), "{counts:?}");
            for c in 0..d {
                let mean = sums[j][c] / counts[j] as f64;
                // Standard error 0.5 / sqrt(10^4) = 0.005.
                assert!((mean - gm.means().row(j)[c] as f64).abs() < 0.025, "component {j}, coord {c}");
            }
            let var = sq[j] / (counts[j] * d) as f64;
            assert!((var / (std * std) - 1.0).abs() < 0.03, "{var}");
        }
        assert_eq!(gm.sample(100, &mut Stream::new(2)), gm.sample_labelled(100, &mut Stream::new(2)).0);
    }

    #[test]
    fn means_are_standard_normal() {
        let gm = GaussianMixture::new(100, 200, 0.1, &mut Stream::new(3)).unwrap();
        let v = gm.means().as_slice();
        let mean = v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.03, "{mean} {var}");
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let s = &mut Stream::new(0);
        assert!(GaussianMixture::new(0, 3, 1.0, s).unwrap_err().to_string().contains("dimension"));
        assert!(GaussianMixture::new(2, 0, 1.0, s).is_err());
        assert!(GaussianMixture::new(2, 3, -1.0, s).unwrap_err().to_string().contains("std"));
        assert!(GaussianMixture::new(2, 3, f64::NAN, s).is_err());
        let nan = Matrix::from_vec(1, 2, vec![0.0, f32::NAN]).unwrap();
        assert!(GaussianMixture::from_means(nan, 1.0).is_err());
    }
}
