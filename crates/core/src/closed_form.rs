//! The closed-form optimal velocity of flow matching with an empirical data distribution
//! (Proposition 1 of the paper):
//!
//! ```text
//! u*(x, t) = sum_i lambda_i(x, t) (x_i - x) / (1 - t),
//! lambda(x, t) = softmax_i( -||x - t x_i||^2 / (2 (1 - t)^2) ).
//! ```
//!
//! # Fast path
//!
//! Dropping the per-query constant `||x||^2`, the logits are
//! `l_i = a <x, x_i> - q ||x_i||^2` with `c = 1 / (2 (1 - t)^2)`, `a = 2 t c`, `q = t^2 c`: one
//! matrix product per chunk of references. The softmax is accumulated over chunks with an online
//! log-sum-exp (running maximum, rescaled sums), and the weighted sum of references is a second
//! matrix product per chunk, or, when the softmax has concentrated and nearly all weights are
//! flushed to zero, a sum over the few non-zero ones. In dimensions up to 8 both are computed
//! from the references stored by column instead, without matrix products. Queries are processed in tiles, one per
//! thread at a time, each streaming the references through a cache-sized buffer, which the
//! thread keeps for the next call (so that repeated calls do not fault fresh pages in); the
//! accumulators are the output's own rows. Extra memory is `O(threads tile chunk)`; the
//! `B x n x d` tensor of differences is never formed.
//!
//! Weights below `e^-(15 + ln n + 2 delta)` of the running maximum are flushed to zero: all of
//! them together weigh less than `e^-15 ~ 3e-7` of the largest, far below the accuracy target.
//!
//! # Accuracy
//!
//! In `f32` the expansion loses digits to cancellation, and its error is multiplied by `c`, which
//! grows like `1 / (1 - t)^2`. For every query we bound the logit error
//! `delta = u c ((2 sqrt(d) + 8) 2 t ||x|| R + 8 t^2 R^2)` (`u = 2^-24`, `R = max_i ||x_i||`;
//! the `sqrt(d)` term is the statistical size of the rounding error of a length-`d` dot product)
//! and guarantee that the weights are within total variation `tol` of the exact ones (here the
//! `L1` distance `sum_i |lambda_i - lambda~_i|`, which bounds `(1 - t) ||u - u~|| / R`):
//!
//! 1. `2 tanh(delta / 2) + 2 e^-15 <= tol`: the fast path is accurate as it is. Two softmaxes
//!    whose logits differ by at most `delta` each are at most `2 tanh(delta / 2)` apart (sharp:
//!    the errors `+delta` on a set of mass `1 / (1 + e^delta)`, `-delta` on the rest), and the
//!    flushed tail moves at most `2 e^-15`.
//!
//!    1b. Otherwise, when the bound of the sliced product meets that test, the query takes the
//!    fast path with it instead: [`sliced::sliced_nt`] sums the inner products in `f32` over
//!    [`SLICE`] = 32 coordinates at a time and adds the slices in `f64`, so `sqrt(d)` becomes
//!    `sqrt(32)` in `delta` (and the constant 8 becomes 10, for the rounding of the `f64` total).
//!    At d = 3072 and small t (the weights spread over every reference) this is the difference
//!    between the `f32` product and the `f64` route below. Which queries take it is decided from
//!    their bounds before the pass; since the sliced pass is a second pass over the references,
//!    it is taken only when at least 32 queries of the block (or all of them) qualify, and the
//!    others take routes 2 and 3 as before.
//! 2. Otherwise the references whose approximate logits are within a window of the largest
//!    (at most `top_k` of them; the window is wide enough for the bound below, see
//!    `ClosedForm::window`) are recomputed exactly (`f32` differences, `f64` sums) and replace
//!    their approximate terms. The remaining
//!    references carry at most the mass `W` that the softmax gives them; when
//!    `2 W (e^{2 delta} - 1) e^{2 delta} <= tol` (plus the flushed tail), the result is accepted.
//!    When even the most the recomputed set can weigh would fail that test, the recomputation is
//!    skipped (`ClosedForm::correction_cannot_pass`).
//!    Near `t = 1` the weights concentrate on a few references, so this is the common case there.
//! 3. Otherwise the query is recomputed by the same algorithm in `f64` (whose `delta` is 2^29
//!    times smaller), with the same correction, and as a last resort by the brute-force
//!    [`crate::reference`] in `f64`.
//!
//! [`Evaluation::paths`] says how many queries took each route.

use std::cell::Cell;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::kernels;
use crate::matrix::{GemmScalar, Matrix, faer_nn, faer_nt, sq_norm, with_scratch};
use crate::reference;
use crate::sliced::{self, Packed, SLICE};
use crate::{Error, Result};

/// Accuracy and blocking parameters of [`ClosedForm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Largest allowed total-variation distance between computed and exact softmax weights.
    pub tol: f64,
    /// References recomputed exactly per query when the fast path is not accurate enough.
    pub top_k: usize,
    /// References per chunk of the online log-sum-exp.
    pub chunk: usize,
    /// Queries processed together.
    pub block: usize,
    /// Queries per parallel tile (each tile holds a `tile x chunk` buffer). Fixed, so that
    /// results do not depend on the number of threads.
    pub tile: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { tol: 1e-4, top_k: 32, chunk: 1024, block: 512, tile: 64 }
    }
}

/// Summary of the softmax weights `lambda(x, t)` of one query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightSummary {
    /// The largest weight `max_i lambda_i`.
    pub max_weight: f64,
    /// The index of the reference that carries it.
    pub argmax: usize,
    /// Shannon entropy `-sum_i lambda_i ln lambda_i` (nats; `ln n` for uniform weights).
    pub entropy: f64,
}

/// How many queries each accuracy route of the module documentation handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Route 1: `f32` fast path as is.
    pub fast: usize,
    /// Route 1b: the fast path as is, with the logits' inner products summed in slices.
    pub sliced: usize,
    /// Route 2: `f32` fast path with the top references recomputed exactly.
    pub corrected: usize,
    /// Route 3: the same algorithm in `f64`.
    pub double: usize,
    /// Route 3, last resort: brute force in `f64`.
    pub brute: usize,
}

/// The result of [`ClosedForm::evaluate`].
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// `u*(x_b, t_b)`, one row per query.
    pub velocity: Matrix,
    /// Per-query weight summaries, when asked for.
    pub weights: Option<Vec<WeightSummary>>,
    /// Queries per accuracy route.
    pub paths: PathCounts,
}

/// The closed-form velocity field of a fixed set of reference (training) points.
#[derive(Debug)]
pub struct ClosedForm {
    refs: Matrix,
    norms: Vec<f32>,
    norms64: Vec<f64>,
    max_norm: f64,
    refs64: OnceLock<Vec<f64>>,
    /// The references by column (`cols[k * n + i]` is coordinate `k` of reference `i`), for
    /// `d <= COLUMNS_UP_TO`; `f64` copy made on first use.
    cols: Option<Vec<f32>>,
    cols64: OnceLock<Vec<f64>>,
    opts: Options,
}

/// Per-query state of the online log-sum-exp: running maximum `m` of the logits, `s =
/// sum exp(l - m)`, `e = sum exp(l - m) (l - m)` (for the entropy), and the best logits seen.
struct RowState {
    m: f64,
    s: f64,
    e: f64,
    top: TopK,
    /// Candidates further than this below the running maximum carry no weight worth recomputing.
    window: f64,
    /// Shifted logits below this are flushed to zero.
    flush: f64,
}

/// The `cap` largest `(logit, index)` pairs of a stream of rows.
struct TopK {
    cap: usize,
    items: Vec<(f64, usize)>,
    threshold: f64,
}

impl TopK {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            items: Vec::with_capacity(if cap > 0 { 3 * cap } else { 0 }),
            threshold: f64::NEG_INFINITY,
        }
    }

    /// Offers a row of logits; values below `floor` can never be needed and are not kept.
    fn offer<T: Real>(&mut self, row: &[T], offset: usize, floor: f64, scratch: &mut Vec<u32>) {
        if self.cap == 0 {
            return;
        }
        self.threshold = self.threshold.max(floor);
        scratch.clear();
        T::above(row, self.threshold, scratch);
        for &j in scratch.iter() {
            let v = row[j as usize].get();
            // The threshold rises as items are pruned: re-check.
            if v > self.threshold {
                self.items.push((v, offset + j as usize));
                if self.items.len() >= 3 * self.cap {
                    self.prune();
                }
            }
        }
    }

    fn prune(&mut self) {
        if self.items.len() > self.cap {
            self.items.select_nth_unstable_by(self.cap - 1, |a, b| b.0.total_cmp(&a.0));
            self.items.truncate(self.cap);
            self.threshold = self.items.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        }
    }

    fn finish(mut self) -> Vec<(f64, usize)> {
        self.prune();
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.items
    }
}

/// The two element types of the pass: `f32` (fast) and `f64` (fallback).
trait Real: GemmScalar + Default {
    /// Unit roundoff.
    const UNIT: f64;
    fn get(self) -> f64;
    /// Runs `f` on a buffer of `len` values (contents unspecified) kept by the calling thread
    /// between calls, so that repeated evaluations do not fault fresh pages in.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
    fn scale(row: &mut [Self], s: f64);
    /// Appends the indices of the values above `threshold` (see [`kernels::above`]).
    fn above(row: &[Self], threshold: f64, out: &mut Vec<u32>);
    /// See [`kernels::sparse_accumulate`].
    fn sparse_accumulate(acc: &mut [Self], w: &[Self], xs: &[Self]);
    /// The sliced product (`f32` only: the `f64` route needs no slices): the queries `x`
    /// (`d` wide) packed, handed to `f`.
    fn with_sliced<R>(x: &[Self], d: usize, parallel: bool, f: impl FnOnce(Packed<'_>) -> R) -> R;
    /// `c = lhs b^T` in slices ([`Packed::times_t`]).
    fn sliced_times(lhs: &Packed<'_>, n: usize, b: &[Self], c: &mut [Self], parallel: bool);
    /// See [`kernels::logits`].
    fn logits(g: &mut [Self], norms: &[Self], a: f64, q: f64) -> f64;
    /// See [`kernels::exp_shifted`].
    fn exp_shifted(g: &mut [Self], m: f64, floor: f64, entropy: bool) -> (f64, f64, usize);
    /// The references (row-major) and their squared norms in this precision.
    fn references(cf: &ClosedForm) -> (&[Self], &[Self]);
    /// The references by column in this precision, when the dimension is small enough.
    fn columns(cf: &ClosedForm) -> Option<&[Self]>;
    /// See [`kernels::logits_cols`].
    fn logits_cols(
        g: &mut [Self],
        x: &[Self],
        cols: &[Self],
        stride: usize,
        norms: &[Self],
        a: f64,
        q: f64,
    ) -> f64;
    /// See [`kernels::wsum_cols`].
    fn wsum_cols(acc: &mut [Self], w: &[Self], cols: &[Self], stride: usize);
    /// See [`kernels::velocity`].
    fn velocity(acc: &mut [Self], terms: &[(f64, &[f32])], x: &[f32], s: f64, omt: f64, sum: &mut [f64]);
}

impl Real for f32 {
    const UNIT: f64 = f32::EPSILON as f64 / 2.0;
    fn get(self) -> f64 {
        self as f64
    }
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        thread_local!(static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) });
        with_scratch(&SCRATCH, len, f)
    }
    fn scale(row: &mut [Self], s: f64) {
        let s = s as f32;
        row.iter_mut().for_each(|v| *v *= s);
    }
    fn above(row: &[Self], threshold: f64, out: &mut Vec<u32>) {
        // Values equal to the rounded threshold are re-checked by the caller in f64.
        let t = threshold as f32;
        kernels::above(row, if (t as f64) > threshold { t.next_down() } else { t }, out)
    }
    fn sparse_accumulate(acc: &mut [Self], w: &[Self], xs: &[Self]) {
        kernels::sparse_accumulate(acc, w, xs)
    }
    fn with_sliced<R>(x: &[Self], d: usize, parallel: bool, f: impl FnOnce(Packed<'_>) -> R) -> R {
        sliced::with_packed(x, d, parallel, f)
    }
    fn sliced_times(lhs: &Packed<'_>, n: usize, b: &[Self], c: &mut [Self], parallel: bool) {
        lhs.times_t(n, b, c, parallel)
    }
    fn logits(g: &mut [Self], norms: &[Self], a: f64, q: f64) -> f64 {
        kernels::logits(g, norms, a as f32, q as f32) as f64
    }
    fn exp_shifted(g: &mut [Self], m: f64, floor: f64, entropy: bool) -> (f64, f64, usize) {
        let (s, e, kept) = kernels::exp_shifted(g, m as f32, floor as f32, entropy);
        (s as f64, e as f64, kept)
    }
    fn references(cf: &ClosedForm) -> (&[Self], &[Self]) {
        (cf.refs.as_slice(), &cf.norms)
    }
    fn columns(cf: &ClosedForm) -> Option<&[Self]> {
        cf.cols.as_deref()
    }
    fn logits_cols(
        g: &mut [Self],
        x: &[Self],
        cols: &[Self],
        stride: usize,
        norms: &[Self],
        a: f64,
        q: f64,
    ) -> f64 {
        kernels::logits_cols(g, x, cols, stride, norms, a as f32, q as f32) as f64
    }
    fn wsum_cols(acc: &mut [Self], w: &[Self], cols: &[Self], stride: usize) {
        kernels::wsum_cols(acc, w, cols, stride)
    }
    fn velocity(acc: &mut [Self], terms: &[(f64, &[f32])], x: &[f32], s: f64, omt: f64, sum: &mut [f64]) {
        kernels::velocity(acc, terms, x, s, omt, sum)
    }
}

impl Real for f64 {
    const UNIT: f64 = f64::EPSILON / 2.0;
    fn get(self) -> f64 {
        self
    }
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        thread_local!(static SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) });
        with_scratch(&SCRATCH, len, f)
    }
    fn scale(row: &mut [Self], s: f64) {
        row.iter_mut().for_each(|v| *v *= s);
    }
    fn above(row: &[Self], threshold: f64, out: &mut Vec<u32>) {
        out.extend(row.iter().enumerate().filter(|(_, v)| **v > threshold).map(|(j, _)| j as u32));
    }
    fn with_sliced<R>(_: &[Self], _: usize, _: bool, _: impl FnOnce(Packed<'_>) -> R) -> R {
        unreachable!("the f64 route takes the plain product")
    }
    fn sliced_times(_: &Packed<'_>, _: usize, _: &[Self], _: &mut [Self], _: bool) {
        unreachable!("the f64 route takes the plain product")
    }
    fn sparse_accumulate(acc: &mut [Self], w: &[Self], xs: &[Self]) {
        let d = acc.len();
        for (j, &wj) in w.iter().enumerate().filter(|(_, w)| **w != 0.0) {
            acc.iter_mut().zip(&xs[j * d..(j + 1) * d]).for_each(|(a, x)| *a += wj * x);
        }
    }
    fn logits(g: &mut [Self], norms: &[Self], a: f64, q: f64) -> f64 {
        let mut m = f64::NEG_INFINITY;
        for (v, n) in g.iter_mut().zip(norms) {
            *v = a * *v - q * n;
            m = m.max(*v);
        }
        m
    }
    fn exp_shifted(g: &mut [Self], m: f64, floor: f64, entropy: bool) -> (f64, f64, usize) {
        let (mut s, mut e, mut kept) = (0.0, 0.0, 0);
        for v in g.iter_mut() {
            let x = *v - m;
            let w = if x < floor { 0.0 } else { x.exp() };
            kept += usize::from(x >= floor);
            *v = w;
            s += w;
            if entropy {
                e += w * x;
            }
        }
        (s, e, kept)
    }
    fn references(cf: &ClosedForm) -> (&[Self], &[Self]) {
        let refs = cf.refs64.get_or_init(|| cf.refs.as_slice().iter().map(|&v| v as f64).collect());
        (refs, &cf.norms64)
    }
    fn columns(cf: &ClosedForm) -> Option<&[Self]> {
        let cols = cf.cols.as_ref()?;
        Some(cf.cols64.get_or_init(|| cols.iter().map(|&v| v as f64).collect()))
    }
    fn logits_cols(
        g: &mut [Self],
        x: &[Self],
        cols: &[Self],
        stride: usize,
        norms: &[Self],
        a: f64,
        q: f64,
    ) -> f64 {
        let mut m = f64::NEG_INFINITY;
        for (j, (v, n)) in g.iter_mut().zip(norms).enumerate() {
            let dot: f64 = x.iter().enumerate().map(|(k, xk)| xk * cols[k * stride + j]).sum();
            *v = a * dot - q * n;
            m = m.max(*v);
        }
        m
    }
    fn wsum_cols(acc: &mut [Self], w: &[Self], cols: &[Self], stride: usize) {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += w.iter().zip(&cols[k * stride..]).map(|(wj, c)| wj * c).sum::<f64>();
        }
    }
    fn velocity(acc: &mut [Self], terms: &[(f64, &[f32])], x: &[f32], s: f64, omt: f64, _: &mut [f64]) {
        for &(dw, r) in terms {
            acc.iter_mut().zip(r).for_each(|(o, &v)| *o += dw * v as f64);
        }
        for (a, &xv) in acc.iter_mut().zip(x) {
            *a = (*a / s - xv as f64) / omt;
        }
    }
}

thread_local! {
    /// The `f64` route's queries and accumulators, kept by the calling thread between calls.
    static ESCALATED: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
    /// The same for the `f32` routes when a block's queries take two products.
    static SUBSET: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// The logits product of a pass: plain (`f32` sums along all `d` coordinates) or sliced
/// ([`sliced::sliced_nt`]: `f32` sums over [`SLICE`] coordinates added in `f64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Product {
    Plain,
    Sliced,
}

/// Per-query coefficients: `c = 1 / (2 (1 - t)^2)`, logits `a <x, x_i> - q ||x_i||^2`.
#[derive(Clone, Copy, Debug)]
struct Coef {
    t: f64,
    c: f64,
    a: f64,
    q: f64,
}

impl Coef {
    fn new(t: f64) -> Self {
        let c = 0.5 / ((1.0 - t) * (1.0 - t));
        Self { t, c, a: 2.0 * t * c, q: t * t * c }
    }
}

/// `ln` of the bound on the total relative weight of the flushed terms (see `ClosedForm::flush`).
const FLUSHED_MASS: f64 = 15.0;

/// From this dimension on, the matrix products run over all queries of a block on all threads
/// rather than in per-thread tiles.
const WIDE: usize = 256;

/// Route 1b is taken by at least this many queries of a block (or by all of them): its pass
/// over the references costs about as much for a few queries as for a panel of the sliced
/// kernel (64 queries with AVX-512), more than routes 2 and 3 cost a few queries (measured on
/// minibatches of EFM targets at d = 64 and 784, where 2 and 7 of 128 queries qualified: 13-45%
/// and 4-14% slower as their own pass).
const SLICED_AT_LEAST: usize = 32;

/// Up to this dimension the logits and the weighted sum are computed from the references stored by
/// column, without matrix products: with so few coordinates a product's packing and edge handling
/// cost more than its arithmetic.
const COLUMNS_UP_TO: usize = 8;

/// The weighted sum of a tile is accumulated term by term, instead of by a matrix product, when
/// fewer than one weight in this many is non-zero.
const SPARSE_BELOW: usize = 16;

/// One chunk of references in [`ClosedForm::pass`]: the references `start..start + c` of `n`.
struct Chunk<'a, T> {
    start: usize,
    n: usize,
    /// Their squared norms.
    norms: &'a [T],
    /// Their rows (`c x d`).
    block: &'a [T],
    /// All references by column (`d <= COLUMNS_UP_TO`), whose columns start at index 0.
    cols: Option<&'a [T]>,
    /// Accumulate the entropy.
    entropy: bool,
}

impl<T: Real> Chunk<'_, T> {
    /// Folds this chunk into one query's state: `g` holds the query's inner products with the
    /// chunk (unless the references are stored by column) and leaves with its flushed weights;
    /// `acc` is rescaled to the new running maximum and, by column, receives the weighted sum.
    /// Returns how many weights were not flushed.
    fn absorb(
        &self,
        g: &mut [T],
        acc: &mut [T],
        st: &mut RowState,
        coef: &Coef,
        x: &[T],
        scratch: &mut Vec<u32>,
    ) -> usize {
        let (start, n, c) = (self.start, self.n, g.len());
        let mc = match self.cols {
            Some(cols) => T::logits_cols(g, x, &cols[start..], n, self.norms, coef.a, coef.q),
            None => T::logits(g, self.norms, coef.a, coef.q),
        };
        if st.m == f64::NEG_INFINITY {
            st.m = mc;
        } else if mc > st.m {
            let scale = (st.m - mc).exp();
            st.e = scale * (st.e + (st.m - mc) * st.s);
            st.s *= scale;
            T::scale(acc, scale);
            st.m = mc;
        }
        st.top.offer(g, start, st.m - st.window, scratch);
        let (s, e, kept) = T::exp_shifted(g, st.m, st.flush, self.entropy);
        st.s += s;
        st.e += e;
        // By column, each query's weighted sum follows its weights while they are in cache.
        if let Some(cols) = self.cols {
            if kept * SPARSE_BELOW < c {
                T::sparse_accumulate(acc, g, self.block);
            } else {
                T::wsum_cols(acc, g, &cols[start..], n);
            }
        }
        kept
    }
}

/// What the finishing step concluded for one query.
enum Outcome {
    /// The velocity has been written over the query's accumulators.
    Done {
        summary: WeightSummary,
        corrected: bool,
    },
    Escalate,
}

impl ClosedForm {
    /// The closed form over `refs` (`n x d`, `n >= 1`, `d >= 1`, finite) with default options.
    pub fn new(refs: Matrix) -> Result<Self> {
        Self::with_options(refs, Options::default())
    }

    /// The closed form over `refs` with explicit [`Options`].
    pub fn with_options(refs: Matrix, opts: Options) -> Result<Self> {
        if refs.rows() == 0 || refs.cols() == 0 {
            return Err(Error::invalid(format!(
                "the closed form needs at least one reference point of dimension >= 1, got {} x {}",
                refs.rows(),
                refs.cols()
            )));
        }
        refs.check_finite("reference points")?;
        if opts.tol.is_nan()
            || opts.tol <= 0.0
            || opts.top_k == 0
            || opts.chunk == 0
            || opts.block == 0
            || opts.tile == 0
        {
            return Err(Error::invalid(format!("closed-form options out of range: {opts:?}")));
        }
        let norms64 = refs.row_sq_norms();
        let norms = norms64.iter().map(|&v| v as f32).collect();
        let max_norm = norms64.iter().copied().fold(0.0, f64::max).sqrt();
        let d = refs.cols();
        let cols = (d <= COLUMNS_UP_TO)
            .then(|| (0..d).flat_map(|k| refs.iter_rows().map(move |r| r[k])).collect::<Vec<f32>>());
        Ok(Self {
            refs,
            norms,
            norms64,
            max_norm,
            refs64: OnceLock::new(),
            cols,
            cols64: OnceLock::new(),
            opts,
        })
    }

    /// The reference points.
    pub fn refs(&self) -> &Matrix {
        &self.refs
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.refs.cols()
    }

    /// `u*(x_b, t)` for every row of `x` at one time `t` in `[0, 1)`.
    pub fn velocity(&self, x: &Matrix, t: f64) -> Result<Matrix> {
        Ok(self.evaluate(x, &vec![t; x.rows()], false)?.velocity)
    }

    /// `u*(x_b, t_b)` for every row of `x`, each at its own time, with weight summaries when
    /// `summaries` is set.
    pub fn evaluate(&self, x: &Matrix, ts: &[f64], summaries: bool) -> Result<Evaluation> {
        let d = self.dim();
        if x.cols() != d {
            return Err(Error::invalid(format!(
                "queries have dimension {} but the reference points have {d}",
                x.cols()
            )));
        }
        if ts.len() != x.rows() {
            return Err(Error::invalid(format!("{} times for {} queries", ts.len(), x.rows())));
        }
        crate::targets::check_times(ts)?;
        x.check_finite("queries")?;

        // The velocity's rows hold each block's accumulators, then its result: the only
        // allocation of the size of the output.
        let mut velocity = Matrix::zeros(x.rows(), d);
        let mut weights = summaries.then(|| Vec::with_capacity(x.rows()));
        let mut paths = PathCounts::default();
        let block = self.opts.block * d;
        for (i, (xb, ub)) in
            x.as_slice().chunks(block).zip(velocity.as_mut_slice().chunks_mut(block)).enumerate()
        {
            let start = i * self.opts.block;
            let tb = &ts[start..start + xb.len() / d];
            let s = self.evaluate_block(xb, tb, ub, summaries, &mut paths);
            if let Some(w) = weights.as_mut() {
                w.extend(s);
            }
        }
        Ok(Evaluation { velocity, weights, paths })
    }

    /// Shifted logits below this are flushed to zero: `-(15 + ln n + 2 delta)` for a logit error
    /// bound `delta`, so that all flushed terms together weigh less than `e^-15 ~ 3e-7` of the
    /// largest one even when every logit is off by `delta` (at most `LOWEST_FLUSH`).
    fn flush(&self, delta: f64) -> f64 {
        let n = self.refs.rows() as f64;
        (-(FLUSHED_MASS + n.ln() + 2.0 * delta)).max(kernels::LOWEST_FLUSH as f64)
    }

    /// The initial state of a query whose logits are off by at most `delta`; with `track`, the
    /// candidates for exact recomputation are collected.
    fn row_state(&self, delta: f64, track: bool) -> RowState {
        RowState {
            m: f64::NEG_INFINITY,
            s: 0.0,
            e: 0.0,
            top: TopK::new(if track { self.opts.top_k.min(self.refs.rows()) } else { 0 }),
            window: if track { self.window(delta) } else { f64::INFINITY },
            flush: self.flush(delta),
        }
    }

    /// How far below the largest approximate logit a reference must be recomputed exactly for the
    /// accuracy bound of `finish` to hold: with logit error `delta`, the references outside carry
    /// at most `n e^-W` of the mass, and `n e^-W 2 (e^{2 delta} - 1) e^{2 delta} <= tol / 4` gives
    /// `W = ln(8 n (e^{2 delta} - 1) e^{2 delta} / tol)` (at least 1), plus `2 delta` for the
    /// error of the largest logit itself.
    fn window(&self, delta: f64) -> f64 {
        let n = self.refs.rows() as f64;
        let w = (8.0 * n * (2.0 * delta).exp_m1() * (2.0 * delta).exp() / self.opts.tol).ln();
        // At least one nat, so that the largest logit itself is always a candidate.
        w.max(1.0) + 2.0 * delta
    }

    /// Bound on the distance (`L1`) of the fast path's weights from the exact ones when every
    /// logit is off by at most `delta`: `2 tanh(delta / 2)`, plus the flushed tail.
    fn fast_error(delta: f64) -> f64 {
        2.0 * (0.5 * delta).tanh() + 2.0 * (-FLUSHED_MASS).exp()
    }

    /// Whether correcting the references `recompute` (approximate logits, running maximum `m`,
    /// running sum `s`) is sure to leave the bound of `finish` above `tol`, so that their exact
    /// recomputation can be skipped. With `A` the approximate weight of the recomputed set, its
    /// exact weight `E` leaves the mass `(s - A) / (s - A + E)` outside, which falls as `E` grows;
    /// `E <= e^{delta + 1} sum_i exp(l~_i - m)` holds with a nat to spare beyond the logit error
    /// bound, and the bound's outside term at that `E` is required to exceed `2 tol`, so the
    /// skip never rejects a query that the recomputation would have accepted. With the weights
    /// spread over many references (small `t`, large `d`) the recomputation cannot help and this
    /// saves it.
    fn correction_cannot_pass(&self, recompute: &[(f64, usize)], m: f64, s: f64, delta: f64) -> bool {
        let flush = self.flush(delta);
        let (mut approx, mut all) = (0.0, 0.0);
        for &(l, _) in recompute {
            let w = (l - m).exp();
            all += w;
            if l - m >= flush {
                approx += w;
            }
        }
        let rest = (s - approx).max(0.0);
        let outside = rest / (rest + (delta + 1.0).exp() * all);
        2.0 * outside * (2.0 * delta).exp_m1() * (2.0 * delta).exp() > 2.0 * self.opts.tol
    }

    /// Bound on the error of one shifted logit computed by the expansion in `f32`, its inner
    /// products summed in `f32` over `width` coordinates at a time: `d` for the plain product,
    /// [`SLICE`] for the sliced one, whose partial sums are added in `f64` and rounded once more
    /// to `f32` (two more units of `u ||x|| R` than the plain product's eight, generously: the
    /// `f64` additions err by `2^-53` each).
    fn logit_error_bound(&self, coef: &Coef, xnorm: f64, width: usize) -> f64 {
        let (r, t) = (self.max_norm, coef.t);
        let rounding = if width < self.dim() { 10.0 } else { 8.0 };
        let k = 2.0 * (width as f64).sqrt() + rounding;
        <f32 as Real>::UNIT * coef.c * (k * 2.0 * t * xnorm * r + 8.0 * t * t * r * r)
    }

    /// The velocities of the queries `x` (row-major, `d` wide) at times `ts`, written into `out`
    /// (zeros on entry); returns the weight summaries.
    fn evaluate_block(
        &self,
        x: &[f32],
        ts: &[f64],
        out: &mut [f32],
        summaries: bool,
        paths: &mut PathCounts,
    ) -> Vec<WeightSummary> {
        let d = self.dim();
        let row = |b: usize| &x[b * d..(b + 1) * d];
        let coefs: Vec<Coef> = ts.iter().map(|&t| Coef::new(t)).collect();
        // Below `WIDE` the norms are too little work to hand to the threads.
        let xx: Vec<f64> = if d >= WIDE {
            x.par_chunks(d).map(sq_norm).collect()
        } else {
            x.chunks(d).map(sq_norm).collect()
        };
        let tol = self.opts.tol;
        // Each query's logit error bound with the plain `f32` product; route 1b (the sliced
        // product) for those it would not take the fast route and the sliced product's would.
        let mut deltas: Vec<f64> =
            coefs.iter().zip(&xx).map(|(c, xx)| self.logit_error_bound(c, xx.sqrt(), d)).collect();
        let mut sliced = vec![false; ts.len()];
        if d > SLICE {
            let bounds: Vec<(usize, f64)> = (0..ts.len())
                .map(|b| (b, self.logit_error_bound(&coefs[b], xx[b].sqrt(), SLICE)))
                .filter(|&(b, dl)| Self::fast_error(deltas[b]) > tol && Self::fast_error(dl) <= tol)
                .collect();
            // A pass costs about as much for a few queries as for a panel of the kernel: a
            // handful of them take routes 2 and 3 as before.
            if bounds.len() >= SLICED_AT_LEAST || bounds.len() == ts.len() {
                for (b, dl) in bounds {
                    (sliced[b], deltas[b]) = (true, dl);
                }
            }
        }
        let unset = WeightSummary { max_weight: f64::NAN, argmax: 0, entropy: f64::NAN };
        let mut weights = vec![unset; ts.len()];
        let mut escalate = Vec::new();
        for product in [Product::Plain, Product::Sliced] {
            let set: Vec<usize> =
                (0..ts.len()).filter(|&b| sliced[b] == (product == Product::Sliced)).collect();
            if set.is_empty() {
                continue;
            }
            let states = set
                .iter()
                .map(|&b| self.row_state(deltas[b], summaries || Self::fast_error(deltas[b]) > tol))
                .collect();
            let cs: Vec<Coef> = set.iter().map(|&b| coefs[b]).collect();
            let finish = |j: usize, st, u: &mut [f32]| {
                let b = set[j];
                self.finish(row(b), xx[b], &coefs[b], deltas[b], u, st)
            };
            let outcomes = if set.len() == ts.len() {
                self.pass::<f32>(x, &cs, states, summaries, out, product, finish)
            } else {
                // Part of the block: its queries and accumulators gathered in a buffer the thread
                // keeps, the results written back.
                let len = set.len() * d;
                with_scratch(&SUBSET, 2 * len, |buf| {
                    let (xs, acc) = buf.split_at_mut(len);
                    for (q, &b) in xs.chunks_mut(d).zip(&set) {
                        q.copy_from_slice(row(b));
                    }
                    acc.fill(0.0);
                    let outcomes = self.pass::<f32>(xs, &cs, states, summaries, acc, product, finish);
                    for (u, &b) in acc.chunks(d).zip(&set) {
                        out[b * d..(b + 1) * d].copy_from_slice(u);
                    }
                    outcomes
                })
            };
            for (outcome, &b) in outcomes.into_iter().zip(&set) {
                match outcome {
                    Outcome::Done { summary, corrected } => {
                        match (product, corrected) {
                            (Product::Sliced, _) => paths.sliced += 1,
                            (Product::Plain, true) => paths.corrected += 1,
                            (Product::Plain, false) => paths.fast += 1,
                        }
                        weights[b] = summary;
                    }
                    Outcome::Escalate => escalate.push(b),
                }
            }
        }

        if !escalate.is_empty() {
            let cs: Vec<Coef> = escalate.iter().map(|&b| coefs[b]).collect();
            let scale = <f64 as Real>::UNIT / <f32 as Real>::UNIT;
            let states = escalate.iter().map(|&b| self.row_state(deltas[b] * scale, true)).collect();
            let len = escalate.len() * d;
            // The queries in f64 and their accumulators, in a buffer the thread keeps.
            with_scratch(&ESCALATED, 2 * len, |buf| {
                let (xs, acc) = buf.split_at_mut(len);
                for (q, &b) in xs.chunks_mut(d).zip(&escalate) {
                    q.iter_mut().zip(row(b)).for_each(|(q, &v)| *q = v as f64);
                }
                acc.fill(0.0);
                let outcomes =
                    self.pass::<f64>(xs, &cs, states, summaries, acc, Product::Plain, |j, st, u| {
                        let b = escalate[j];
                        self.finish(row(b), xx[b], &coefs[b], deltas[b] * scale, u, st)
                    });
                for ((outcome, &b), u64) in outcomes.into_iter().zip(&escalate).zip(acc.chunks(d)) {
                    let u = &mut out[b * d..(b + 1) * d];
                    weights[b] = match outcome {
                        Outcome::Done { summary, .. } => {
                            paths.double += 1;
                            u.iter_mut().zip(u64).for_each(|(o, v)| *o = *v as f32);
                            summary
                        }
                        Outcome::Escalate => {
                            paths.brute += 1;
                            let (v, summary) = reference::velocity_one(&self.refs, row(b), coefs[b].t);
                            u.iter_mut().zip(&v).for_each(|(o, v)| *o = *v as f32);
                            summary
                        }
                    };
                }
            });
        }
        weights
    }

    /// One chunked pass of the online log-sum-exp over all references, in precision `T`.
    /// Accumulates the unnormalised weighted sums `acc_b = sum_i exp(l_bi - m_b) x_i` into `acc`
    /// (zeros on entry, one row per query), then hands each query's index, state and accumulator
    /// to `finish` and returns what it concluded, in query order.
    ///
    /// For `d < 256`, queries are split into tiles of [`Options::tile`] rows, processed in
    /// parallel; each tile streams the references through a `tile x chunk` buffer that stays in
    /// cache, with single-threaded matrix products (for `d <= 8`, no products: the logits and the
    /// weighted sum come from the references stored by column), and finishes its own rows, so
    /// that a call hands work to the threads once. For larger `d`, one tile holds every query,
    /// the products are parallel and so are the per-query steps between them. A query's result
    /// never depends on the thread count.
    #[allow(clippy::too_many_arguments)]
    fn pass<T: Real>(
        &self,
        x: &[T],
        coefs: &[Coef],
        states: Vec<RowState>,
        entropy: bool,
        acc: &mut [T],
        product: Product,
        finish: impl Fn(usize, RowState, &mut [T]) -> Outcome + Sync,
    ) -> Vec<Outcome> {
        let (n, d, bsz) = (self.refs.rows(), self.dim(), coefs.len());
        let chunk = self.opts.chunk.min(n);
        let (refs, norms) = T::references(self);
        // Small d: parallel tiles of queries with single-threaded products on cache-sized buffers.
        // Large d: the products dominate and are most efficient over all queries at once, on all
        // threads. Either way a query's result does not depend on the number of threads.
        let (tile, parallel) = if d >= WIDE { (bsz.max(1), true) } else { (self.opts.tile, false) };
        let cols = T::columns(self);
        let tiles: Vec<Vec<Outcome>> = acc
            .par_chunks_mut(tile * d)
            .zip(states.into_par_iter().chunks(tile))
            .zip(coefs.par_chunks(tile))
            .zip(x.par_chunks(tile * d))
            .enumerate()
            .map(|(i, (((acc, mut states), coefs), x))| {
                let rows = coefs.len();
                // The chunks, with the queries packed once for the sliced product.
                let mut chunks = |sliced: Option<&Packed<'_>>| {
                    T::with_scratch(rows * chunk, |g| {
                        for start in (0..n).step_by(chunk) {
                            let c = chunk.min(n - start);
                            let gbuf = &mut g[..rows * c];
                            let block = &refs[start * d..(start + c) * d];
                            match (cols, sliced) {
                                (Some(_), _) => {}
                                (None, None) => faer_nt(rows, c, d, x, block, gbuf, false, parallel),
                                (None, Some(lhs)) => T::sliced_times(lhs, c, block, gbuf, parallel),
                            }
                            let ch =
                                Chunk { start, n, norms: &norms[start..start + c], block, cols, entropy };
                            // One row per query; with parallel products the rows are spread over the
                            // threads too (each row's result is the same either way).
                            let rows_of = |(((g, a), st), (coef, x)), scratch: &mut Vec<u32>| {
                                ch.absorb(g, a, st, coef, x, scratch)
                            };
                            let total: usize = if parallel {
                                gbuf.par_chunks_mut(c)
                                    .zip(acc.par_chunks_mut(d))
                                    .zip(states.par_iter_mut())
                                    .zip(coefs.par_iter().zip(x.par_chunks(d)))
                                    .map_init(Vec::new, |scratch, item| rows_of(item, scratch))
                                    .sum()
                            } else {
                                let mut scratch = Vec::new();
                                gbuf.chunks_mut(c)
                                    .zip(acc.chunks_mut(d))
                                    .zip(states.iter_mut())
                                    .zip(coefs.iter().zip(x.chunks(d)))
                                    .map(|item| rows_of(item, &mut scratch))
                                    .sum()
                            };
                            // Most weights are flushed to zero once the softmax concentrates: then
                            // adding the few non-zero terms costs less than the dense product.
                            if cols.is_none() {
                                if total * SPARSE_BELOW >= rows * c {
                                    faer_nn(rows, d, c, gbuf, block, acc, true, parallel);
                                } else if parallel {
                                    gbuf.par_chunks(c)
                                        .zip(acc.par_chunks_mut(d))
                                        .for_each(|(g, a)| T::sparse_accumulate(a, g, block));
                                } else {
                                    gbuf.chunks(c)
                                        .zip(acc.chunks_mut(d))
                                        .for_each(|(g, a)| T::sparse_accumulate(a, g, block));
                                }
                            }
                        }
                    })
                };
                match product {
                    Product::Plain => chunks(None),
                    Product::Sliced => T::with_sliced(x, d, parallel, |lhs| chunks(Some(&lhs))),
                }
                let first = i * tile;
                if parallel {
                    let rows_of = states.into_par_iter().zip(acc.par_chunks_mut(d)).enumerate();
                    rows_of.map(|(b, (st, u))| finish(first + b, st, u)).collect()
                } else {
                    let rows_of = states.into_iter().zip(acc.chunks_mut(d)).enumerate();
                    rows_of.map(|(b, (st, u))| finish(first + b, st, u)).collect()
                }
            })
            .collect();
        tiles.into_iter().flatten().collect()
    }

    /// Turns the accumulators of query `x` (`xx = ||x||^2`) into its velocity, in place,
    /// correcting the top references exactly when `delta` (the logit error bound of the pass)
    /// asks for it.
    fn finish<T: Real>(
        &self,
        x: &[f32],
        xx: f64,
        coef: &Coef,
        delta: f64,
        acc: &mut [T],
        st: RowState,
    ) -> Outcome {
        let tol = self.opts.tol;
        let n = self.refs.rows();
        let RowState { m, mut s, mut e, top, .. } = st;
        let top = top.finish();
        // Exact minus approximate weight of each recomputed reference, and the reference.
        let mut terms: Vec<(f64, &[f32])> = Vec::new();
        let needs_correction = Self::fast_error(delta) > tol;
        let mut summary = WeightSummary { max_weight: f64::NAN, argmax: 0, entropy: f64::NAN };
        if needs_correction {
            if delta > 50.0 {
                return Outcome::Escalate;
            }
            let mut exact_mass = 0.0;
            let mut best = (f64::NEG_INFINITY, 0);
            let window = self.window(delta);
            let recompute: Vec<(f64, usize)> =
                top.iter().take_while(|p| p.0 - m >= -window).copied().collect();
            if self.correction_cannot_pass(&recompute, m, s, delta) {
                return Outcome::Escalate;
            }
            let rows: Vec<&[f32]> = recompute.iter().map(|&(_, i)| self.refs.row(i)).collect();
            let dists = reference::dist_scaled_many(x, &rows, coef.t);
            for ((&(approx, i), &r), dist) in recompute.iter().zip(&rows).zip(dists) {
                let exact = coef.c * (xx - dist);
                let wa = if approx - m < self.flush(delta) { 0.0 } else { (approx - m).exp() };
                let we = (exact - m).exp();
                s += we - wa;
                e += we * (exact - m) - wa * (approx - m);
                terms.push((we - wa, r));
                exact_mass += we;
                if exact > best.0 {
                    best = (exact, i);
                }
            }
            // Mass outside the recomputed set (carried by approximate weights, each within a factor
            // e^{2 delta} of the truth), and the flushed tail's worst case.
            let outside = (1.0 - exact_mass / s).max(0.0);
            let flushed = (n - top.len()) as f64 * (self.flush(delta) + delta).exp()
                / exact_mass.max(f64::MIN_POSITIVE);
            let bound = 2.0 * outside * (2.0 * delta).exp_m1() * (2.0 * delta).exp() + flushed;
            if bound.is_nan() || bound > tol {
                return Outcome::Escalate;
            }
            summary.max_weight = (best.0 - m).exp() / s;
            summary.argmax = best.1;
        } else if let Some(&(l, i)) = top.first() {
            summary.max_weight = (l - m).exp() / s;
            summary.argmax = i;
        }
        summary.entropy = s.ln() - e / s;
        // u = (sum / s - x) / (1 - t), with sum = acc + the corrections, in f64.
        f64::with_scratch(acc.len(), |sum| T::velocity(acc, &terms, x, s, 1.0 - coef.t, sum));
        Outcome::Done { summary, corrected: needs_correction }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outside term of `finish`'s bound after recomputing `approx`'s references exactly as
    /// `exact`, with running maximum 0 and running sum `s`.
    fn outside_term(cf: &ClosedForm, approx: &[f64], exact: &[f64], s: f64, delta: f64) -> f64 {
        let flush = cf.flush(delta);
        let wa: f64 = approx.iter().map(|&l| if l < flush { 0.0 } else { l.exp() }).sum();
        let we: f64 = exact.iter().map(|&l| l.exp()).sum();
        let outside = (1.0 - we / (s - wa + we)).max(0.0);
        2.0 * outside * (2.0 * delta).exp_m1() * (2.0 * delta).exp()
    }

    /// Spread weights cannot be repaired by recomputing a few references; one that carries nearly
    /// all the mass can. Over a fine grid of masses and errors, whenever the recomputation is skipped,
    /// its most favourable outcome (every exact logit `delta` above its approximation) would still
    /// have failed the tolerance.
    #[test]
    fn the_correction_is_skipped_only_where_it_cannot_pass() {
        let n = 1_000;
        let cf = ClosedForm::new(Matrix::zeros(n, 1)).unwrap();
        let top = |l: &[f64]| l.iter().enumerate().map(|(i, &l)| (l, i)).collect::<Vec<_>>();
        let delta = 4.7e-4;
        let spread = vec![0.0; 32];
        assert!(cf.correction_cannot_pass(&top(&spread), 0.0, n as f64, delta));
        let one = [0.0];
        let s = 1.0 + (n - 1) as f64 * (-30f64).exp();
        assert!(!cf.correction_cannot_pass(&top(&one), 0.0, s, delta));

        let (mut skipped, mut cases) = (0, 0);
        for k in [1, 4, 32] {
            for gap in (0..3000).map(|i| 0.01 * i as f64) {
                for delta in [1e-6, 1e-5, 1e-4, 4.7e-4, 1e-2, 0.3] {
                    cases += 1;
                    // k references at logits 0, -0.1, ... and n - k further `gap` below.
                    let approx: Vec<f64> = (0..k).map(|i| -0.1 * i as f64).collect();
                    let s = approx.iter().map(|l| l.exp()).sum::<f64>() + (n - k) as f64 * (-gap).exp();
                    if cf.correction_cannot_pass(&top(&approx), 0.0, s, delta) {
                        skipped += 1;
                        let best: Vec<f64> = approx.iter().map(|l| l + delta).collect();
                        assert!(
                            outside_term(&cf, &approx, &best, s, delta) > cf.opts.tol,
                            "skipped a correction that passes: k {k}, gap {gap}, delta {delta}"
                        );
                    }
                }
            }
        }
        assert!(skipped > 0 && skipped < cases, "{skipped} of {cases} skipped");
    }
}
