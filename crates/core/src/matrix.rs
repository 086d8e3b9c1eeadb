//! A dense row-major `f32` matrix and the matrix products the rest of the crate is built on.
//!
//! Two backends, each where it was measured fastest (`benches/backends.rs`, `just
//! bench-backends`, tables in the README): the closed form's products ([`faer_nt`],
//! [`faer_nn`]) go through faer, which on its chunk and tile shapes was 1.1-1.8 times faster
//! than the gemm crate on 2 threads; the MLP's and the metrics' products ([`gemm_nt`],
//! [`gemm_nn`], [`gemm_tn`]) go through the `gemm` crate (runtime-dispatched AVX2 / AVX-512
//! kernels, also what candle's CPU backend uses). Neither backend's results depend on the number
//! of threads (tested below; OpenBLAS's do).

use std::cell::Cell;

use crate::{Error, Result};

/// A dense row-major matrix of `f32`: `rows` points of dimension `cols`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A `rows x cols` matrix of zeros.
    ///
    /// The zeros are written, not left to the allocator's fresh pages: a caller that accumulates
    /// into the matrix (the closed form's products) reads each value before writing it, and a
    /// fresh page read first faults twice (in the shared zero page, then a copy-on-write with a
    /// TLB flush on every core).
    pub fn zeros(rows: usize, cols: usize) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        data.resize(rows * cols, 0.0);
        Self { rows, cols, data }
    }

    /// Wraps row-major `data`; fails if its length is not `rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::invalid(format!(
                "matrix of {rows} x {cols} needs {} values, got {}",
                rows * cols,
                data.len()
            )));
        }
        Ok(Self { rows, cols, data })
    }

    /// Stacks equal-length rows; fails on ragged input. An empty list gives a 0 x 0 matrix.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::invalid(format!("row {i} has {} values where row 0 has {cols}", r.len())));
            }
            data.extend_from_slice(r);
        }
        Ok(Self { rows: rows.len(), cols, data })
    }

    /// Number of rows (points).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (dimension).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `true` when the matrix has no rows or no columns.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Row-major values.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    /// Mutable row-major values.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// Consumes the matrix into its row-major values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Mutable row `i`.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Iterator over rows.
    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        // `chunks_exact(0)` panics; a matrix with zero columns has no values to iterate.
        self.data.chunks_exact(self.cols.max(1)).take(if self.cols == 0 { 0 } else { self.rows })
    }
    /// The rows whose indices are given, in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix { rows: idx.len(), cols: self.cols, data }
    }
    /// Rows `start..end`.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        Matrix {
            rows: end - start,
            cols: self.cols,
            data: self.data[start * self.cols..end * self.cols].to_vec(),
        }
    }
    /// Squared Euclidean norm of each row, accumulated in `f64`.
    pub fn row_sq_norms(&self) -> Vec<f64> {
        self.iter_rows().map(sq_norm).collect()
    }
    /// Fails unless every value is finite; `what` names the input in the message.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        if let Some(pos) = self.data.iter().position(|v| !v.is_finite()) {
            let (r, c) = (pos / self.cols.max(1), pos % self.cols.max(1));
            return Err(Error::invalid(format!(
                "{what}: value at row {r}, column {c} is {} (NaN or inf); clean the data first",
                self.data[pos]
            )));
        }
        Ok(())
    }
    /// Elementwise `self * a + other * b`.
    pub fn axpby(&self, a: f32, other: &Matrix, b: f32) -> Matrix {
        assert_eq!((self.rows, self.cols), (other.rows, other.cols), "shape mismatch");
        let data = self.data.iter().zip(&other.data).map(|(x, y)| a * x + b * y).collect();
        Matrix { rows: self.rows, cols: self.cols, data }
    }
}

/// Squared Euclidean norm, accumulated in `f64`.
pub fn sq_norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

/// Squared Euclidean distance `||a - b||^2`: `f32` differences, `f64` accumulation.
pub fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = (x - y) as f64;
            d * d
        })
        .sum()
}

/// Dot product accumulated in `f64`.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Threads handed to the matrix-product kernels: rayon's pool size.
fn parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// The element types the matrix products take: `f32` and `f64`.
pub trait GemmScalar:
    Copy
    + Send
    + Sync
    + 'static
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + faer::traits::ComplexField
    + faer::traits::Conjugate<Canonical = Self>
{
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
}
impl GemmScalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmScalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// `c (+)= a * b` with each output summed along `k` in order, `a` (`m x k`) and `b` (`k x n`)
/// read through their `(column, row)` strides, `c` row-major: the products whose shapes gemm
/// and faer hand to kernels that split the sum along `k` over the lanes of a SIMD register,
/// whose results then depend on the CPU's vector width (8 lanes of `f32` under AVX2, 16 under
/// AVX-512). Those shapes are small or thin (see [`gemm_strided`] and [`faer_product`]), so
/// a plain loop costs little.
#[allow(clippy::too_many_arguments)]
fn ordered_product<T: GemmScalar>(
    (m, n, k): (usize, usize, usize),
    a: &[T],
    (a_cs, a_rs): (usize, usize),
    b: &[T],
    (b_cs, b_rs): (usize, usize),
    c: &mut [T],
    accumulate: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let sum = (0..k).fold(T::ZERO, |s, p| s + a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs]);
            let out = &mut c[i * n + j];
            *out = if accumulate { *out + sum } else { sum };
        }
    }
}

/// The thread setting of a product: all of rayon's threads, or the calling thread only.
fn threads(parallel: bool) -> gemm::Parallelism {
    if parallel { parallelism() } else { gemm::Parallelism::None }
}

/// `c (+)= a * b` through the gemm crate, with `a` (`m x k`) and `b` (`k x n`) read through
/// their `(column, row)` strides and `c` (`m x n`) row-major: what the three layouts below
/// share. Nothing when `m` or `n` is 0.
///
/// With both operands contiguous along `k` (`a`'s column stride and `b`'s row stride 1), gemm
/// 0.19 computes an output of at most 256 values, or a matrix-vector product, as dot products
/// summed across SIMD lanes: those shapes go to [`ordered_product`] instead, so that the
/// results do not depend on the CPU (the MLP's output layer at d = 2 is one of them).
///
/// # Safety
/// Every index `i * rs + j * cs` of `a` and `b` within their shapes must lie in the slices
/// (and `c.len() >= m * n`).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: GemmScalar>(
    (m, n, k): (usize, usize, usize),
    a: &[T],
    (a_cs, a_rs): (usize, usize),
    b: &[T],
    (b_cs, b_rs): (usize, usize),
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if a_cs == 1 && b_rs == 1 && (m * n <= 256 || m <= 1 || n <= 1) {
        return ordered_product((m, n, k), a, (a_cs, a_rs), b, (b_cs, b_rs), c, accumulate);
    }
    // SAFETY: the caller bounds the operands; dst is (m x n, row stride n).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            threads(parallel),
        )
    }
}

/// `c (+)= a * b^T` for row-major `a` (`m x k`), `b` (`n x k`), `c` (`m x n`): overwrites `c`,
/// or adds to it when `accumulate`; on rayon's threads when `parallel`. Takes slices so that
/// chunks need no copy. `k` must be > 0.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    assert!(k > 0 && a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: the assert bounds every index gemm touches: lhs (m x k, row stride k),
    // rhs = b^T read as (k x n) with column stride k.
    unsafe { gemm_strided((m, n, k), a, (1, k), b, (k, 1), c, accumulate, parallel) }
}

/// `c (+)= a * b` for row-major `a` (`m x k`), `b` (`k x n`), `c` (`m x n`), as [`gemm_nt`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_nn<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    assert!(k > 0 && a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: bounds asserted above; all three operands are row-major and contiguous.
    unsafe { gemm_strided((m, n, k), a, (1, k), b, (1, n), c, accumulate, parallel) }
}

/// `c (+)= a^T * b` for row-major `a` (`k x m`), `b` (`k x n`), `c` (`m x n`), as [`gemm_nt`]
/// (the weight gradient `dW = dH^T A` of a linear layer).
#[allow(clippy::too_many_arguments)]
pub fn gemm_tn<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    assert!(k > 0 && a.len() >= k * m && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: bounds asserted above: lhs = a^T read as (m x k) with column stride m and row
    // stride 1, rhs = b (k x n, row stride n).
    unsafe { gemm_strided((m, n, k), a, (m, 1), b, (1, n), c, accumulate, parallel) }
}

/// `c (+)= a * b^T` through faer, with the layout and arguments of [`gemm_nt`].
#[allow(clippy::too_many_arguments)]
pub fn faer_nt<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    if m <= 1 || n <= 1 {
        return ordered_product((m, n, k), a, (1, k), b, (k, 1), c, accumulate);
    }
    let rhs = faer::MatRef::from_row_major_slice(&b[..n * k], n, k).transpose();
    faer_product((m, n, k), a, rhs, c, accumulate, parallel);
}

/// `c (+)= a * b` through faer, with the layout and arguments of [`gemm_nn`].
#[allow(clippy::too_many_arguments)]
pub fn faer_nn<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    if m <= 1 || n <= 1 {
        return ordered_product((m, n, k), a, (1, k), b, (1, n), c, accumulate);
    }
    let rhs = faer::MatRef::from_row_major_slice(&b[..k * n], k, n);
    faer_product((m, n, k), a, rhs, c, accumulate, parallel);
}

/// `c (+)= a * rhs` for row-major `a` (`m x k`) and `c` (`m x n`): what [`faer_nt`] and
/// [`faer_nn`] share. They compute matrix-vector shapes (`m` or `n` at most 1) with
/// [`ordered_product`] instead: faer 0.24 sums those across SIMD lanes.
fn faer_product<T: GemmScalar>(
    (m, n, k): (usize, usize, usize),
    a: &[T],
    rhs: faer::MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
    parallel: bool,
) {
    let lhs = faer::MatRef::from_row_major_slice(&a[..m * k], m, k);
    let dst = faer::MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    let accum = if accumulate { faer::Accum::Add } else { faer::Accum::Replace };
    let par = match rayon::current_num_threads() {
        threads if parallel && threads > 1 => faer::Par::rayon(threads),
        _ => faer::Par::Seq,
    };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, T::ONE, par);
}

/// Runs `f` on the first `len` values of the thread's buffer `slot`, grown as needed. The buffer
/// is taken out of the slot while in use: a nested call on the same thread (rayon may run another
/// tile while this one waits inside a parallel product) finds the slot empty and allocates its own.
pub(crate) fn with_scratch<T: Default + Clone, R>(
    slot: &'static std::thread::LocalKey<Cell<Vec<T>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let mut buf = slot.take();
    if buf.len() < len {
        buf = vec![T::default(); len];
    }
    let r = f(&mut buf[..len]);
    slot.set(buf);
    r
}

/// `a * b^T` as a new `a.rows() x b.rows()` matrix.
pub fn matmul_nt(a: &Matrix, b: &Matrix) -> Matrix {
    assert_eq!(a.cols, b.cols, "inner dimensions differ");
    let mut c = Matrix::zeros(a.rows, b.rows);
    if a.cols > 0 {
        gemm_nt(a.rows, b.rows, a.cols, &a.data, &b.data, &mut c.data, false, true);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_loops() {
        let a = Matrix::from_vec(3, 4, (0..12).map(|v| v as f32 * 0.5 - 2.0).collect()).unwrap();
        let b = Matrix::from_vec(5, 4, (0..20).map(|v| (v as f32).sin()).collect()).unwrap();
        let c = matmul_nt(&a, &b);
        for i in 0..3 {
            for j in 0..5 {
                let want = dot(a.row(i), b.row(j));
                assert!((c.row(i)[j] as f64 - want).abs() < 1e-5, "{i},{j}");
            }
        }
        // a (3x4) times b^T stored as a (4x5) row-major matrix, added onto c.
        let bt: Vec<f32> = (0..4).flat_map(|k| (0..5).map(move |j| (j * 4 + k) as f32)).collect();
        let bt: Vec<f32> = bt.iter().map(|&v| (v).sin()).collect();
        let mut c2 = c.clone();
        gemm_nn(3, 5, 4, a.as_slice(), &bt, c2.as_mut_slice(), true, false);
        for (x, y) in c2.as_slice().iter().zip(c.as_slice()) {
            assert!((x - 2.0 * y).abs() < 1e-4);
        }
        // a (3 x 4) read as k = 3 rows of m = 4: a^T b2 with b2 (3 x 5).
        let b2 = Matrix::from_vec(3, 5, (0..15).map(|v| (v as f32).cos()).collect()).unwrap();
        let mut c3 = vec![0f32; 20];
        gemm_tn(4, 5, 3, a.as_slice(), b2.as_slice(), &mut c3, false, true);
        for i in 0..4 {
            for j in 0..5 {
                let want: f64 = (0..3).map(|p| a.row(p)[i] as f64 * b2.row(p)[j] as f64).sum();
                assert!((c3[i * 5 + j] as f64 - want).abs() < 1e-5, "{i},{j}");
            }
        }
    }

    /// The closed form's results do not depend on the thread count only if its products do not.
    #[test]
    fn products_do_not_depend_on_the_thread_count() {
        let (m, n, k) = (256, 1024, 784);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (mut nt, mut nn) = (vec![0f32; m * n], vec![0f32; m * k]);
            let (mut fnt, mut fnn) = (vec![0f32; m * n], vec![0f32; m * k]);
            pool.install(|| {
                gemm_nt(m, n, k, &a, &b, &mut nt, false, true);
                gemm_nn(m, k, n, &nt, &b, &mut nn, false, true);
                faer_nt(m, n, k, &a, &b, &mut fnt, false, true);
                faer_nn(m, k, n, &fnt, &b, &mut fnn, false, true);
            });
            (nt, nn, fnt, fnn)
        };
        let one = run(1);
        assert!(one == run(2) && one == run(3));
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let err = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(err.to_string().contains("row 1"));
        assert!(Matrix::from_vec(2, 2, vec![0.0; 3]).is_err());
    }

    #[test]
    fn non_finite_values_are_located() {
        let m = Matrix::from_vec(2, 2, vec![0.0, 1.0, f32::NAN, 2.0]).unwrap();
        let err = m.check_finite("train").unwrap_err().to_string();
        assert!(err.contains("row 1, column 0"), "{err}");
    }

    /// The signature of `gemm_nt` and its siblings at `f32`.
    type Product = fn(usize, usize, usize, &[f32], &[f32], &mut [f32], bool, bool);

    /// The thin and small products that gemm and faer would sum across SIMD lanes (so that an
    /// AVX2 and an AVX-512 machine disagree in the last bits) are summed along `k` in order:
    /// bit for bit the plain loop, in every layout, accumulating or not, on one thread or all.
    #[test]
    fn thin_products_are_summed_in_order() {
        let k = 67;
        let mut s = crate::Stream::new(5);
        /// `c0 (+)= a * b` with `b[p][j] = at(p, j)`, each output summed along `k` in order.
        fn in_order(
            m: usize,
            n: usize,
            a: &[f32],
            at: &dyn Fn(usize, usize) -> f32,
            c0: &[f32],
            acc: bool,
        ) -> Vec<f32> {
            let k = a.len() / m;
            let mut c = c0.to_vec();
            for i in 0..m {
                for j in 0..n {
                    let sum = (0..k).fold(0f32, |s, p| s + a[i * k + p] * at(p, j));
                    c[i * n + j] = if acc { c0[i * n + j] + sum } else { sum };
                }
            }
            c
        }
        for (m, n) in [(1, 1), (1, 300), (300, 1), (2, 2), (128, 2), (64, 4), (3, 64), (2, 128)] {
            let a = s.normal_vec(m * k);
            let b = s.normal_vec(n * k);
            let c0 = s.normal_vec(m * n);
            for (acc, par) in [(false, false), (true, false), (false, true), (true, true)] {
                // b as n x k (for a b^T) and as k x n (for a b).
                let nt = in_order(m, n, &a, &|p, j| b[j * k + p], &c0, acc);
                let nn = in_order(m, n, &a, &|p, j| b[p * n + j], &c0, acc);
                let run = |f: Product| {
                    let mut c = c0.clone();
                    f(m, n, k, &a, &b, &mut c, acc, par);
                    c
                };
                let label = format!("m {m}, n {n}, accumulate {acc}, parallel {par}");
                if m * n <= 256 || m == 1 || n == 1 {
                    assert_eq!(run(gemm_nt), nt, "gemm_nt, {label}");
                }
                if n == 1 {
                    assert_eq!(run(gemm_nn), nn, "gemm_nn, {label}");
                }
                if m == 1 || n == 1 {
                    assert_eq!(run(faer_nt), nt, "faer_nt, {label}");
                    assert_eq!(run(faer_nn), nn, "faer_nn, {label}");
                }
            }
        }
    }
}
