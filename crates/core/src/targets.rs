//! The probability path and the conditional ("stochastic") target of flow matching.
//!
//! Path: `x_t = (1 - t) x0 + t x1` with `x0 ~ N(0, I)`. Conditional velocity:
//! `u_cond(x, x1, t) = (x1 - x) / (1 - t)`, which equals `x1 - x0` on the path: the regression
//! target of the CFM loss (Algorithm 1 of the paper).

use crate::matrix::Matrix;
use crate::{Error, Result};

/// Fails unless every time lies in `[0, 1)`: velocities are never evaluated at `t = 1`, where
/// the closed form (and its estimates) diverge.
pub fn check_times(ts: &[f64]) -> Result<()> {
    match ts.iter().find(|t| !(0.0..1.0).contains(*t)) {
        Some(t) => Err(Error::invalid(format!(
            "t = {t} is outside [0, 1): the closed form diverges at t = 1; use t < 1"
        ))),
        None => Ok(()),
    }
}

/// `x_t = (1 - t_b) x0_b + t_b x1_b` row by row.
pub fn interpolate(x0: &Matrix, x1: &Matrix, ts: &[f64]) -> Matrix {
    assert_eq!((x0.rows(), x0.cols()), (x1.rows(), x1.cols()), "x0 and x1 differ in shape");
    assert_eq!(ts.len(), x0.rows(), "one time per row");
    let mut out = x0.clone();
    for (b, &t) in ts.iter().enumerate() {
        let (a, c) = ((1.0 - t) as f32, t as f32);
        out.row_mut(b).iter_mut().zip(x1.row(b)).for_each(|(o, &v)| *o = a * *o + c * v);
    }
    out
}

/// The CFM target `x1 - x0`.
pub fn conditional_target(x0: &Matrix, x1: &Matrix) -> Matrix {
    x1.axpby(1.0, x0, -1.0)
}

/// Cosine similarity of two vectors (0 when either is zero), accumulated in `f64`.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { ab / (aa.sqrt() * bb.sqrt()) }
}

/// Row-wise cosine similarities of two matrices of the same shape.
pub fn row_cosines(a: &Matrix, b: &Matrix) -> Vec<f64> {
    assert_eq!((a.rows(), a.cols()), (b.rows(), b.cols()), "shape mismatch");
    a.iter_rows().zip(b.iter_rows()).map(|(x, y)| cosine(x, y)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_conditional_velocity_on_the_path() {
        let x0 = Matrix::from_vec(2, 3, vec![0.1, -1.0, 2.0, 0.5, 0.5, -0.3]).unwrap();
        let x1 = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0]).unwrap();
        let ts = [0.25, 0.8];
        let xt = interpolate(&x0, &x1, &ts);
        let target = conditional_target(&x0, &x1);
        for b in 0..2 {
            for j in 0..3 {
                let u = (x1.row(b)[j] - xt.row(b)[j]) / (1.0 - ts[b] as f32);
                assert!((u - target.row(b)[j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((cosine(&[1.0, 0.0], &[-3.0, 0.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), 0.0);
        assert!(cosine(&[1.0, 0.0], &[0.0, 5.0]).abs() < 1e-12);
    }
}
