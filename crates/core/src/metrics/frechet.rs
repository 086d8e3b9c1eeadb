//! Fréchet distance between two sample sets: the 2-Wasserstein distance between the Gaussians
//! fitted to them (Dowson & Landau 1982), which is FID when the samples are Inception features
//! (Heusel et al. 2017). The paper reports it on DINOv2 / Inception features (Fig 2 middle,
//! Fig 4) and on the features of a small classifier (Tables 1-2); here it is computed on the
//! features of a classifier trained from our seeds and on pixels.
//!
//! ```text
//! FD = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})
//! ```
//!
//! with means `mu` and unbiased covariances `S = sum_i (x_i - mu)(x_i - mu)^T / (n - 1)`.
//!
//! # Numerics
//!
//! Everything is `f64`. `S1^{1/2}` comes from the eigen-decomposition of the symmetric `S1`,
//! with eigenvalues below zero (rounding of a rank-deficient covariance) clamped to 0; the
//! trace of the square root of the symmetric positive semi-definite `S1^{1/2} S2 S1^{1/2}` is
//! the sum of the square roots of its (clamped) eigenvalues. This avoids the non-symmetric
//! `sqrtm(S1 S2)` of the usual implementation and its spurious imaginary parts. The result is
//! clamped at 0 against rounding.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::matrix::{Matrix, gemm_nt};
use crate::{Error, Result};

/// Values of the covariance buffer per chunk of samples (`d x rows`, 8 MiB).
const CHUNK_VALUES: usize = 1 << 20;

/// Mean and unbiased covariance of a sample set: compute once for a reference set, reuse for
/// every [`frechet`] against it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GaussianStats {
    /// Mean, length `d`.
    pub mean: Vec<f64>,
    /// Covariance, `d x d`, row-major, symmetric, normalised by `n - 1`.
    pub cov: Vec<f64>,
}

impl GaussianStats {
    /// Mean and unbiased covariance of the rows of `x` (`n >= 2` finite samples of dimension `d >= 1`).
    pub fn of(x: &Matrix) -> Result<Self> {
        let (n, d) = (x.rows(), x.cols());
        if n < 2 || d == 0 {
            return Err(Error::invalid(format!(
                "Gaussian statistics need at least 2 samples of dimension >= 1, got {n} x {d}"
            )));
        }
        x.check_finite("samples for Gaussian statistics")?;
        let mut mean = vec![0f64; d];
        for row in x.iter_rows() {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);

        // cov = sum over chunks of C^T C, with C the centred chunk, stored transposed (d x rows).
        let rows = (CHUNK_VALUES / d).clamp(1, n);
        let mut ct = vec![0f64; d * rows];
        let mut cov = vec![0f64; d * d];
        for start in (0..n).step_by(rows) {
            let m = rows.min(n - start);
            for r in 0..m {
                for (c, (&v, mu)) in x.row(start + r).iter().zip(&mean).enumerate() {
                    ct[c * m + r] = v as f64 - mu;
                }
            }
            gemm_nt(d, d, m, &ct[..d * m], &ct[..d * m], &mut cov, true, true);
        }
        let scale = 1.0 / (n - 1) as f64;
        for i in 0..d {
            for j in i..d {
                let v = 0.5 * (cov[i * d + j] + cov[j * d + i]) * scale;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        Ok(Self { mean, cov })
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    fn check(&self, what: &str) -> Result<()> {
        let d = self.dim();
        if d == 0 || self.cov.len() != d * d {
            return Err(Error::invalid(format!(
                "{what} Gaussian statistics: mean of length {d} needs a {d} x {d} covariance with {} \
                 values (and d >= 1), got {}",
                d * d,
                self.cov.len()
            )));
        }
        if self.mean.iter().chain(&self.cov).any(|v| !v.is_finite()) {
            return Err(Error::invalid(format!("{what} Gaussian statistics contain NaN or inf")));
        }
        Ok(())
    }
}

/// Fréchet distance between two Gaussians given by their statistics (see the module
/// documentation). Symmetric in its arguments up to rounding.
pub fn frechet(a: &GaussianStats, b: &GaussianStats) -> Result<f64> {
    a.check("first")?;
    b.check("second")?;
    let d = a.dim();
    if b.dim() != d {
        return Err(Error::invalid(format!(
            "Fréchet distance between statistics of dimension {d} and {}; compare features of the same size",
            b.dim()
        )));
    }
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y) * (x - y)).sum();
    let s1 = DMatrix::from_row_slice(d, d, &a.cov);
    let s2 = DMatrix::from_row_slice(d, d, &b.cov);
    let root = psd_sqrt(&s1);
    let m = &root * &s2 * &root;
    let m = (&m + m.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(m).eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    Ok((mean_term + s1.trace() + s2.trace() - 2.0 * cross).max(0.0))
}

/// Fréchet distance between the sample sets `x` and `y` (rows are samples, columns features).
pub fn frechet_distance(x: &Matrix, y: &Matrix) -> Result<f64> {
    frechet(&GaussianStats::of(x)?, &GaussianStats::of(y)?)
}

/// Square root `V diag(sqrt(max(l, 0))) V^T` of a symmetric positive semi-definite matrix.
fn psd_sqrt(s: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(s.clone());
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    let scaled = &eig.eigenvectors * DMatrix::from_diagonal(&roots);
    &scaled * eig.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_small_set() {
        let x = Matrix::from_vec(3, 2, vec![1.0, 0.0, 2.0, 2.0, 3.0, 1.0]).unwrap();
        let s = GaussianStats::of(&x).unwrap();
        assert_eq!(s.mean, vec![2.0, 1.0]);
        // Deviations (-1, -1), (0, 1), (1, 0): var = 2/2 and 2/2, covariance (1 + 0 + 0) / 2.
        assert_eq!(s.cov, vec![1.0, 0.5, 0.5, 1.0]);
    }

    #[test]
    fn square_root_squares_back() {
        let a = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        let r = psd_sqrt(&a);
        assert!((&r * &r - &a).abs().max() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let msg = |r: Result<f64>| r.unwrap_err().to_string();
        let one = Matrix::from_vec(1, 2, vec![0.0, 1.0]).unwrap();
        let two = Matrix::from_vec(2, 2, vec![0.0, 1.0, 1.0, 0.0]).unwrap();
        let three = Matrix::from_vec(2, 3, vec![0.0; 6]).unwrap();
        assert!(msg(frechet_distance(&one, &two)).contains("at least 2 samples"));
        assert!(msg(frechet_distance(&two, &three)).contains("dimension 2 and 3"));
        let bad = GaussianStats { mean: vec![0.0; 2], cov: vec![1.0; 3] };
        let good = GaussianStats::of(&two).unwrap();
        assert!(msg(frechet(&bad, &good)).contains("2 x 2 covariance"));
        let nan = GaussianStats { mean: vec![f64::NAN, 0.0], cov: vec![1.0; 4] };
        assert!(msg(frechet(&good, &nan)).contains("NaN"));
    }
}
