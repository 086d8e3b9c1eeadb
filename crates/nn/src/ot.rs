//! Exact optimal-transport coupling of a minibatch, for OT-CFM (Tong et al. 2024; the paper's
//! OT-CFM baseline of Fig. 4).
//!
//! Given noise `x0_1..x0_B` and data `x1_1..x1_B`, the coupling is the permutation
//!
//! ```text
//! pi* = argmin_pi sum_i || x0_pi(i) - x1_i ||^2
//! ```
//!
//! solved exactly as a linear sum assignment (Jonker-Volgenant, the `lsap` crate, as SciPy's
//! `linear_sum_assignment`). The uniform-marginal OT plan between two equal-size batches is such
//! a permutation. torchcfm then resamples `B` pairs from the plan with replacement; here every
//! matched pair is used once.

use cfm_core::Matrix;
use cfm_core::matrix::sq_dist;

use crate::{Error, Result};

/// The permutation `pi*` (as `pi[i]`, the row of `x0` paired with row `i` of `x1`).
pub fn ot_permutation(x0: &Matrix, x1: &Matrix) -> Result<Vec<usize>> {
    if x0.rows() != x1.rows() || x0.cols() != x1.cols() {
        return Err(Error::invalid(format!(
            "OT coupling needs batches of the same shape, got {}x{} and {}x{}",
            x0.rows(),
            x0.cols(),
            x1.rows(),
            x1.cols()
        )));
    }
    let b = x0.rows();
    let cost: Vec<f64> =
        x1.iter_rows().flat_map(|r1| x0.iter_rows().map(move |r0| sq_dist(r0, r1))).collect();
    let (rows, cols) = lsap::solve(b, b, &cost, false)
        .map_err(|e| Error::invalid(format!("OT assignment failed: {e:?}")))?;
    debug_assert!(rows.iter().enumerate().all(|(i, &r)| r == i));
    Ok(cols)
}

/// `sum_i || x0_pi(i) - x1_i ||^2`, the objective `pi*` minimises.
pub fn coupling_cost(x0: &Matrix, x1: &Matrix, pi: &[usize]) -> f64 {
    pi.iter().enumerate().map(|(i, &j)| sq_dist(x0.row(j), x1.row(i))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfm_core::Stream;

    /// All permutations of `0..n` (Heap's algorithm).
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        fn heap(k: usize, p: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if k <= 1 {
                out.push(p.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, p, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                p.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(n, &mut (0..n).collect(), &mut out);
        out
    }

    #[test]
    fn equals_brute_force_up_to_seven_points() {
        let mut s = Stream::new(11);
        for trial in 0..40 {
            let b = 1 + trial % 7;
            let d = 1 + trial % 5;
            let x0 = Matrix::from_vec(b, d, s.normal_vec(b * d)).unwrap();
            let x1 = Matrix::from_vec(b, d, s.normal_vec(b * d)).unwrap();
            let pi = ot_permutation(&x0, &x1).unwrap();
            let mut sorted = pi.clone();
            sorted.sort();
            assert_eq!(sorted, (0..b).collect::<Vec<_>>());
            let best =
                permutations(b).iter().map(|p| coupling_cost(&x0, &x1, p)).fold(f64::INFINITY, f64::min);
            let got = coupling_cost(&x0, &x1, &pi);
            assert!(got <= best * (1.0 + 1e-12) + 1e-12, "b = {b}: {got} > {best}");
        }
        assert_eq!(permutations(7).len(), 5040);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = Matrix::zeros(3, 2);
        assert!(ot_permutation(&a, &Matrix::zeros(2, 2)).is_err());
    }
}
