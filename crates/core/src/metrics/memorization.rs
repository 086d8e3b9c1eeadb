//! Memorization of the training set by generated samples, from exact nearest-neighbour
//! distances ([`mod@super::knn`]).
//!
//! - **Nearest-training distance** `d1(x) = min_i ||x - x_i||` (pixel L2 here, where the paper
//!   uses L2 on CIFAR-10 images for Fig 2 and min-LPIPS for Fig 3): its mean over generated
//!   samples is the solid curve of Fig 2 (right panel) against the subset size `n`, and the
//!   top panel of Fig 3 against the hybrid switch time `tau`; ~0 means copies (claims C4, C6, C7).
//! - **Train-to-train baseline** [`train_to_train_distance`]: the mean distance of each training
//!   point to its nearest *other* training point, the dashed line of Fig 2 (right panel): the
//!   distance level of a sample that is as novel as a fresh draw from the data.
//! - **Ratio copy test** (Yoon et al. 2023; Gu et al. 2025): with `d2` the distance to the
//!   second-nearest training point, a sample is a copy when `d1 / d2 < threshold`, default
//!   [`COPY_THRESHOLD`] `= 1/3`. It is scale-free, unlike a threshold on `d1`; the study reports it
//!   next to the paper's mean distance.

use super::knn::knn;
use crate::matrix::Matrix;
use crate::{Error, Result};

/// Default threshold of the ratio copy test: a sample is a copy when `d1 / d2 < 1/3`.
pub const COPY_THRESHOLD: f64 = 1.0 / 3.0;

/// Nearest-neighbour distances of one generated sample to the training set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleDistances {
    /// Index of the nearest training point.
    pub nearest: usize,
    /// Distance to the nearest training point.
    pub d1: f64,
    /// Distance to the second-nearest training point.
    pub d2: f64,
    /// `d1 / d2`, and 0 when `d1 = 0` (an exact copy, even of a duplicated training point).
    pub ratio: f64,
    /// `ratio < threshold`: the sample is a copy of its nearest training point.
    pub copy: bool,
}

/// Summary of [`memorization`] over all generated samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemorizationSummary {
    /// Number of generated samples.
    pub samples: usize,
    /// Number flagged as copies.
    pub copies: usize,
    /// `copies / samples`.
    pub fraction_memorized: f64,
    /// Mean of `d1` (Fig 2, right panel).
    pub mean_d1: f64,
    /// Median of `d1` (mean of the two middle values for an even count).
    pub median_d1: f64,
}

/// Per-sample distances and their summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Memorization {
    /// The ratio threshold used.
    pub threshold: f64,
    /// One entry per generated sample, in input order.
    pub samples: Vec<SampleDistances>,
    /// Fraction of copies and `d1` statistics.
    pub summary: MemorizationSummary,
}

/// Nearest and second-nearest training distances of every generated sample (rows of
/// `generated`), the ratio copy test at `threshold` (in `(0, 1]`; [`COPY_THRESHOLD`] is the
/// literature's choice) and their summary.
pub fn memorization(generated: &Matrix, train: &Matrix, threshold: f64) -> Result<Memorization> {
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(Error::invalid(format!(
            "memorization: copy threshold {threshold} is outside (0, 1]; the usual value is 1/3"
        )));
    }
    if generated.rows() == 0 {
        return Err(Error::invalid("memorization: no generated samples; pass at least one"));
    }
    if train.rows() < 2 {
        return Err(Error::invalid(format!(
            "memorization: the ratio test needs at least 2 training points, got {}",
            train.rows()
        )));
    }
    let nb = knn(generated, train, 2, false)?;
    let samples: Vec<SampleDistances> = (0..nb.queries())
        .map(|i| {
            let (d, idx) = (nb.dist_row(i), nb.index_row(i));
            let ratio = if d[0] == 0.0 { 0.0 } else { d[0] / d[1] };
            SampleDistances { nearest: idx[0], d1: d[0], d2: d[1], ratio, copy: ratio < threshold }
        })
        .collect();
    let copies = samples.iter().filter(|s| s.copy).count();
    let d1: Vec<f64> = samples.iter().map(|s| s.d1).collect();
    let summary = MemorizationSummary {
        samples: samples.len(),
        copies,
        fraction_memorized: copies as f64 / samples.len() as f64,
        mean_d1: mean(&d1),
        median_d1: median(d1),
    };
    Ok(Memorization { threshold, samples, summary })
}

/// Mean distance from each row of `queries` to its nearest row of `refs`: the generated-sample
/// curve of Fig 2 (right panel) and the distance-to-training-set curve of Fig 3 (top).
pub fn mean_nearest_distance(queries: &Matrix, refs: &Matrix) -> Result<f64> {
    if queries.rows() == 0 {
        return Err(Error::invalid("mean nearest distance: no query points; pass at least one"));
    }
    Ok(mean(&knn(queries, refs, 1, false)?.dist))
}

/// Mean distance from each training point to its nearest *other* training point: the dashed
/// train-to-train line of Fig 2 (right panel). Needs at least 2 training points.
pub fn train_to_train_distance(train: &Matrix) -> Result<f64> {
    if train.rows() < 2 {
        return Err(Error::invalid(format!(
            "train-to-train distance needs at least 2 training points, got {}",
            train.rows()
        )));
    }
    Ok(mean(&knn(train, train, 1, true)?.dist))
}

/// [`train_to_train_distance`] estimated from at most `queries` training points (all of them
/// when there are fewer), drawn without replacement from `s`: the mean over those points of the
/// exact distance to their nearest other training point. Unbiased for the full mean; its cost
/// is `queries x n` distances instead of `n^2` (at n = 60000, d = 784: 2000 queries take 3% of
/// the exact computation).
pub fn train_to_train_sampled(train: &Matrix, queries: usize, s: &mut crate::Stream) -> Result<f64> {
    if train.rows() <= queries.max(2) {
        return train_to_train_distance(train);
    }
    let mut idx = s.choose(train.rows(), queries);
    idx.sort_unstable();
    let nb = knn(&train.select_rows(&idx), train, 2, false)?;
    let d: Vec<f64> = idx
        .iter()
        .enumerate()
        .map(|(q, &own)| {
            let (dist, index) = (nb.dist_row(q), nb.index_row(q));
            if index[0] == own { dist[1] } else { dist[0] }
        })
        .collect();
    Ok(mean(&d))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let h = v.len() / 2;
    if v.len() % 2 == 1 { v[h] } else { 0.5 * (v[h - 1] + v[h]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampled_train_to_train_distance_is_the_exact_one_over_its_points() {
        let train = Matrix::from_vec(300, 3, crate::Stream::new(4).normal_vec(900)).unwrap();
        let exact = train_to_train_distance(&train).unwrap();
        assert_eq!(train_to_train_sampled(&train, 500, &mut crate::Stream::new(1)).unwrap(), exact);
        let sampled = train_to_train_sampled(&train, 100, &mut crate::Stream::new(1)).unwrap();
        assert!((sampled - exact).abs() < 0.1 * exact, "{sampled} vs {exact}");
        // Each sampled point's own distance equals its exact nearest-other distance.
        let all = knn(&train, &train, 1, true).unwrap();
        let one = train_to_train_sampled(&train.slice_rows(0, 300), 1, &mut crate::Stream::new(2)).unwrap();
        assert!(all.dist.iter().any(|&d| (d - one).abs() < 1e-12));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let train = Matrix::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
        let one = Matrix::from_vec(1, 1, vec![0.5]).unwrap();
        let msg = |r: Result<Memorization>| r.unwrap_err().to_string();
        for t in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(msg(memorization(&one, &train, t)).contains("threshold"), "t = {t}");
        }
        assert!(msg(memorization(&Matrix::zeros(0, 1), &train, COPY_THRESHOLD)).contains("no generated"));
        assert!(msg(memorization(&one, &one, COPY_THRESHOLD)).contains("at least 2"));
        assert!(train_to_train_distance(&one).is_err());
        assert!(mean_nearest_distance(&Matrix::zeros(0, 1), &train).is_err());
    }
}
