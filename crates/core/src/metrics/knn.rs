//! Exact k-nearest-neighbour Euclidean distances from query points to a reference set: the
//! basis of the memorization metrics ([`mod@super::memorization`]).
//!
//! # Algorithm
//!
//! 1. Squared distances by the expansion `||q||^2 - 2 <q, r> + ||r||^2`, one `f32` matrix
//!    product per tile of queries x references (module `pairwise`). Each value `a` comes with a
//!    bound `e` on its error, so `a - e` is a lower bound on the true squared distance.
//! 2. Per query, the `k + margin` references with the smallest lower bounds are kept as
//!    candidates, and the smallest lower bound among the others, `L`, is remembered.
//! 3. The candidates' distances are recomputed exactly (`f32` differences, `f64` sums) and
//!    sorted. If the `k`-th exact squared distance is below `L`, no other reference can be as
//!    close and the answer is certified. Otherwise (ties, or the bound is too wide next to the
//!    gaps between neighbours) the query is recomputed by exact brute force over all references.
//!
//! The exact recomputation matters: for a memorized sample the nearest distance is ~0, where the
//! expansion's cancellation error (about `u sqrt(d) ||q||^2`) is all there is.
//! [`Neighbours::fallbacks`] counts the queries that took the brute-force route.
//!
//! Every returned distance is computed exactly, and ties go to brute force, so the result does
//! not depend on the blocking options or on the number of threads.

use rayon::prelude::*;

use super::pairwise::{self, Expansion, Norms};
use crate::matrix::{Matrix, sq_dist};
use crate::{Error, Result};

/// Blocking and candidate parameters of [`knn_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnnOptions {
    /// References per chunk: one matrix product per block of queries and chunk of references.
    pub chunk: usize,
    /// Queries processed together (the `block x chunk` buffer of inner products is the extra
    /// memory).
    pub block: usize,
    /// Candidates kept per query beyond `k` and recomputed exactly; more candidates make the
    /// certificate succeed more often at a small cost.
    pub margin: usize,
}

impl Default for KnnOptions {
    fn default() -> Self {
        Self { chunk: 2048, block: 512, margin: 8 }
    }
}

/// The `k` nearest references of every query, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// Neighbours per query.
    pub k: usize,
    /// Euclidean distances, `queries x k`, row-major, ascending along each row.
    pub dist: Vec<f64>,
    /// Indices of the neighbours in the reference set, laid out as `dist`. Ties are broken by
    /// the smaller index (a tie fails the certificate, and brute force orders by index).
    pub index: Vec<usize>,
    /// Queries whose candidate set could not be certified and which were recomputed by brute force.
    pub fallbacks: usize,
}

impl Neighbours {
    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.dist.len().checked_div(self.k).unwrap_or(0)
    }
    /// Distances from query `i` to its `k` nearest references, ascending.
    pub fn dist_row(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }
    /// Indices of the `k` nearest references of query `i`.
    pub fn index_row(&self, i: usize) -> &[usize] {
        &self.index[i * self.k..(i + 1) * self.k]
    }
}

/// Orders `(squared distance or bound, index)` pairs by value, then index.
fn by_value_then_index(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// The `cap` references with the smallest lower bounds seen so far for one query, and the
/// smallest lower bound among the references not kept.
struct Candidates {
    cap: usize,
    items: Vec<(f64, usize)>,
    /// Offers at or above this value are not kept (the largest kept value after a prune).
    threshold: f64,
    /// Smallest value among the references not kept.
    dropped_min: f64,
}

impl Candidates {
    fn new(cap: usize) -> Self {
        Self { cap, items: Vec::with_capacity(3 * cap), threshold: f64::INFINITY, dropped_min: f64::INFINITY }
    }

    #[inline]
    fn offer(&mut self, bound: f64, index: usize) {
        if bound < self.threshold {
            self.items.push((bound, index));
            if self.items.len() >= 3 * self.cap {
                self.prune();
            }
        } else if bound < self.dropped_min {
            self.dropped_min = bound;
        }
    }

    /// Keeps the `cap` smallest items; the rest are dropped.
    fn prune(&mut self) {
        if self.items.len() > self.cap {
            self.items.select_nth_unstable_by(self.cap, by_value_then_index);
            self.dropped_min = self.dropped_min.min(self.items[self.cap].0);
            self.items.truncate(self.cap);
            self.threshold = self.items.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        }
    }

    /// The exact `k` nearest `(squared distance, index)` pairs, or `None` when the candidates
    /// cannot be certified to contain them.
    fn certify(mut self, query: &[f32], refs: &Matrix, k: usize) -> Option<Vec<(f64, usize)>> {
        self.prune();
        let mut exact: Vec<(f64, usize)> =
            self.items.iter().map(|&(_, j)| (sq_dist(query, refs.row(j)), j)).collect();
        exact.sort_unstable_by(by_value_then_index);
        exact.truncate(k);
        (exact.len() == k && exact[k - 1].0 < self.dropped_min).then_some(exact)
    }
}

/// The exact `k` nearest `(squared distance, index)` pairs of `query` by brute force, skipping
/// reference `skip` if given.
fn brute_force(query: &[f32], refs: &Matrix, k: usize, skip: Option<usize>) -> Vec<(f64, usize)> {
    let mut all: Vec<(f64, usize)> = refs
        .iter_rows()
        .enumerate()
        .filter(|&(j, _)| Some(j) != skip)
        .map(|(j, r)| (sq_dist(query, r), j))
        .collect();
    all.select_nth_unstable_by(k - 1, by_value_then_index);
    all.truncate(k);
    all.sort_unstable_by(by_value_then_index);
    all
}

/// The `k` nearest references (Euclidean distance) of every row of `queries` among the rows of
/// `refs`, with default [`KnnOptions`].
///
/// With `exclude_self`, `queries` must be the reference set itself, and query `i` is never its
/// own neighbour (reference `i`): the nearest *other* point.
pub fn knn(queries: &Matrix, refs: &Matrix, k: usize, exclude_self: bool) -> Result<Neighbours> {
    knn_with(queries, refs, k, exclude_self, &KnnOptions::default())
}

/// [`knn`] with explicit blocking and candidate options.
pub fn knn_with(
    queries: &Matrix,
    refs: &Matrix,
    k: usize,
    exclude_self: bool,
    opts: &KnnOptions,
) -> Result<Neighbours> {
    validate(queries, refs, k, exclude_self, opts)?;
    let rn = Norms::of(refs);
    let qn_own;
    let qn = if exclude_self {
        &rn
    } else {
        qn_own = Norms::of(queries);
        &qn_own
    };
    let available = refs.rows() - usize::from(exclude_self);
    let cap = (k + opts.margin).min(available);
    let exp = Expansion::new(refs.cols());

    let mut cands: Vec<Candidates> = (0..queries.rows()).map(|_| Candidates::new(cap)).collect();
    pairwise::for_each_tile(queries, refs, opts.block, opts.chunk, |qr, rr, dots| {
        dots.par_chunks(rr.len()).zip(cands[qr.clone()].par_iter_mut()).enumerate().for_each(
            |(b, (row, cand))| {
                let i = qr.start + b;
                for (c, &dot) in row.iter().enumerate() {
                    let j = rr.start + c;
                    if !(exclude_self && j == i) {
                        let (sq, err) = exp.eval(qn, i, &rn, j, dot);
                        cand.offer(sq - err, j);
                    }
                }
            },
        );
    });

    let rows: Vec<(Vec<(f64, usize)>, bool)> = cands
        .into_par_iter()
        .enumerate()
        .map(|(i, cand)| {
            let q = queries.row(i);
            match cand.certify(q, refs, k) {
                Some(best) => (best, false),
                None => (brute_force(q, refs, k, exclude_self.then_some(i)), true),
            }
        })
        .collect();

    let mut out = Neighbours {
        k,
        dist: Vec::with_capacity(queries.rows() * k),
        index: Vec::with_capacity(queries.rows() * k),
        fallbacks: 0,
    };
    for (best, fell_back) in rows {
        out.fallbacks += usize::from(fell_back);
        for (sq, j) in best {
            out.dist.push(sq.sqrt());
            out.index.push(j);
        }
    }
    Ok(out)
}

fn validate(queries: &Matrix, refs: &Matrix, k: usize, exclude_self: bool, opts: &KnnOptions) -> Result<()> {
    if opts.chunk == 0 || opts.block == 0 {
        return Err(Error::invalid(format!(
            "knn options out of range: {opts:?}; chunk and block must be >= 1"
        )));
    }
    if k == 0 {
        return Err(Error::invalid("knn: k = 0 neighbours asked; use k >= 1"));
    }
    if refs.cols() == 0 || queries.cols() != refs.cols() {
        return Err(Error::invalid(format!(
            "knn: queries have dimension {} and reference points {}; both must be the same and >= 1",
            queries.cols(),
            refs.cols()
        )));
    }
    let available = refs.rows().saturating_sub(usize::from(exclude_self));
    if k > available {
        let other = if exclude_self { " other than the query itself" } else { "" };
        return Err(Error::invalid(format!(
            "knn: k = {k} neighbours asked but the reference set has only {available} points{other}; \
             lower k or add reference points"
        )));
    }
    queries.check_finite("knn queries")?;
    refs.check_finite("knn reference points")?;
    if exclude_self && queries != refs {
        return Err(Error::invalid(
            "knn: exclude_self is for queries that are the reference set itself, but they differ; \
             pass the same matrix twice or set exclude_self = false",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_keep_the_smallest_and_the_smallest_dropped() {
        let mut c = Candidates::new(3);
        let values = [5.0, 1.0, 9.0, 4.0, 7.0, 0.5, 3.0, 8.0, 6.0, 2.0, 10.0, 2.5];
        for (j, &v) in values.iter().enumerate() {
            c.offer(v, j);
        }
        c.prune();
        let mut kept: Vec<f64> = c.items.iter().map(|p| p.0).collect();
        kept.sort_by(f64::total_cmp);
        assert_eq!(kept, vec![0.5, 1.0, 2.0]);
        assert_eq!(c.dropped_min, 2.5);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let a = Matrix::from_vec(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let b = Matrix::from_vec(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 6.0]).unwrap();
        let msg = |r: Result<Neighbours>| r.unwrap_err().to_string();
        assert!(msg(knn(&a, &a, 0, false)).contains("k = 0"));
        assert!(msg(knn(&a, &a, 4, false)).contains("only 3 points"));
        assert!(msg(knn(&a, &a, 3, true)).contains("only 2 points other than the query"));
        assert!(msg(knn(&a, &b, 1, true)).contains("exclude_self"));
        assert!(msg(knn(&Matrix::zeros(1, 3), &a, 1, false)).contains("dimension 3"));
        let nan = Matrix::from_vec(1, 2, vec![f32::NAN, 0.0]).unwrap();
        assert!(msg(knn(&nan, &a, 1, false)).contains("NaN"));
        let opts = KnnOptions { chunk: 0, ..Default::default() };
        assert!(msg(knn_with(&a, &a, 1, false, &opts)).contains("chunk"));
        let empty = knn(&Matrix::zeros(0, 2), &a, 2, false).unwrap();
        assert_eq!((empty.queries(), empty.dist.len()), (0, 0));
    }
}
