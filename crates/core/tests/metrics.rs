//! The metrics against brute-force `f64` references and closed forms.
//!
//! Nearest neighbours: distances within `1e-6 + 2^-23 d` of the `f64` brute force (`d` the
//! distance; the second term is the rounding of the `f32` differences), so copies are at distance
//! 0 to within `1e-6`, which the plain `f32` expansion misses by orders of magnitude (a test below
//! shows it); indices equal wherever distances are exact (integer-grid data). Fréchet: the diagonal closed form and a
//! Denman-Beavers matrix square root. Energy: a direct `O(n^2)` loop.

use cfm_core::matrix::matmul_nt;
use cfm_core::metrics::{
    COPY_THRESHOLD, GaussianStats, KnnOptions, energy_distance, frechet, frechet_distance, knn, knn_with,
    mean_nearest_distance, memorization, train_to_train_distance,
};
use cfm_core::{Matrix, Stream};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Image-like points: uniform on [-1, 1]^d.
fn uniform(n: usize, d: usize, s: &mut Stream) -> Matrix {
    Matrix::from_vec(n, d, (0..n * d).map(|_| s.uniform_in(-1.0, 1.0) as f32).collect()).unwrap()
}

fn normal(n: usize, d: usize, s: &mut Stream) -> Matrix {
    Matrix::from_vec(n, d, s.normal_vec(n * d)).unwrap()
}

/// Rows of `m` with `eps` times Gaussian noise added (`eps = 0`: exact copies).
fn perturbed(m: &Matrix, rows: &[usize], eps: f64, s: &mut Stream) -> Matrix {
    let v =
        rows.iter().flat_map(|&i| m.row(i).to_vec()).map(|x| (x as f64 + eps * s.normal()) as f32).collect();
    Matrix::from_vec(rows.len(), m.cols(), v).unwrap()
}

/// Allowed difference from the `f64` distance `want`: `1e-6` plus the relative `2^-23` that
/// rounding the `f32` differences may cost.
fn tol(want: f64) -> f64 {
    1e-6 + want * f32::EPSILON as f64
}

fn dist64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>().sqrt()
}

/// Brute-force `k` nearest `(distance, index)` of each query in `f64`, ties by index.
fn brute_knn(q: &Matrix, r: &Matrix, k: usize, exclude_self: bool) -> Vec<Vec<(f64, usize)>> {
    q.iter_rows()
        .enumerate()
        .map(|(i, qr)| {
            let mut all: Vec<(f64, usize)> = r
                .iter_rows()
                .enumerate()
                .filter(|&(j, _)| !(exclude_self && i == j))
                .map(|(j, rr)| (dist64(qr, rr), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            all
        })
        .collect()
}

/// Checks `knn_with` against brute force: distances within `1e-6`, each returned index at its
/// returned distance, and identical indices when `exact_ties` (data whose distances are exact).
fn check_knn(
    q: &Matrix,
    r: &Matrix,
    k: usize,
    exclude_self: bool,
    opts: &KnnOptions,
    exact_ties: bool,
) -> usize {
    let got = knn_with(q, r, k, exclude_self, opts).unwrap();
    let want = brute_knn(q, r, k, exclude_self);
    assert_eq!(got.queries(), q.rows());
    for (i, w) in want.iter().enumerate() {
        let (gd, gi) = (got.dist_row(i), got.index_row(i));
        for (c, &(wd, wi)) in w.iter().enumerate() {
            assert!((gd[c] - wd).abs() <= tol(wd), "query {i}, neighbour {c}: {} vs {wd}", gd[c]);
            assert!(
                (dist64(q.row(i), r.row(gi[c])) - gd[c]).abs() <= tol(wd),
                "query {i}: index {} is off",
                gi[c]
            );
            assert!(!(exclude_self && gi[c] == i), "query {i} is its own neighbour");
            if exact_ties {
                assert_eq!(gi[c], wi, "query {i}, neighbour {c}");
            }
        }
        assert!(gd.windows(2).all(|p| p[0] <= p[1]), "query {i}: not ascending");
    }
    got.fallbacks
}

/// Exact copies of training points have distance exactly 0, which the plain expansion (`f32`
/// inner products, exact norms) misses by far more than the tolerance.
#[test]
fn copies_have_zero_distance_where_the_plain_expansion_fails() {
    let mut s = Stream::new(1);
    for d in [784, 3072] {
        let train = uniform(1_000, d, &mut s);
        let rows: Vec<usize> = (0..40).map(|i| i * 25).collect();
        let copies = perturbed(&train, &rows, 0.0, &mut s);
        let nb = knn(&copies, &train, 2, false).unwrap();
        for (c, &i) in rows.iter().enumerate() {
            assert_eq!(nb.dist_row(c)[0], 0.0, "d = {d}: copy of {i}");
            assert_eq!(nb.index_row(c)[0], i);
        }
        let dots = matmul_nt(&copies, &train);
        let (qn, rn) = (copies.row_sq_norms(), train.row_sq_norms());
        let plain = rows
            .iter()
            .enumerate()
            .map(|(c, &i)| (qn[c] + rn[i] - 2.0 * dots.row(c)[i] as f64).max(0.0).sqrt())
            .fold(0.0, f64::max);
        assert!(
            plain > 1e-4,
            "d = {d}: the plain expansion is already exact ({plain}); the test proves nothing"
        );
        check_knn(&copies, &train, 2, false, &KnnOptions::default(), false);
    }
}

/// Near-duplicates at image dimensions: distances from 1e-4 to 1 next to the ~sqrt(2d/3) of
/// unrelated points. The certificate succeeds for every query (no brute-force fallback).
#[test]
fn near_duplicates_at_high_dimension() {
    let mut s = Stream::new(2);
    for d in [784, 3072] {
        let train = uniform(800, d, &mut s);
        let rows: Vec<usize> = (0..60).map(|i| (i * 13) % 800).collect();
        for eps in [1e-6, 1e-4, 1e-2] {
            let q = perturbed(&train, &rows, eps, &mut s);
            for k in [1, 3] {
                let fallbacks = check_knn(&q, &train, k, false, &KnnOptions::default(), false);
                assert_eq!(fallbacks, 0, "d = {d}, eps = {eps}, k = {k}");
            }
        }
        let fresh = uniform(30, d, &mut s);
        assert_eq!(check_knn(&fresh, &train, 5, false, &KnnOptions::default(), false), 0);
    }
}

/// Every blocking gives the same answer (bit for bit) as brute force, across chunk and block
/// boundaries.
#[test]
fn chunk_and_block_boundaries() {
    let mut s = Stream::new(3);
    let train = normal(100, 10, &mut s);
    let q = normal(37, 10, &mut s);
    let first = knn(&q, &train, 4, false).unwrap();
    for chunk in [1, 7, 99, 100, 101] {
        for block in [1, 3, 36, 37, 64] {
            let opts = KnnOptions { chunk, block, margin: 8 };
            check_knn(&q, &train, 4, false, &opts, false);
            check_knn(&train, &train, 4, true, &opts, false);
            let got = knn_with(&q, &train, 4, false, &opts).unwrap();
            assert_eq!((&got.dist, &got.index), (&first.dist, &first.index), "chunk {chunk}, block {block}");
        }
    }
}

/// Ties (duplicated references) defeat the certificate when no candidate is spare: the query is
/// recomputed by brute force and the lowest index wins.
#[test]
fn ties_fall_back_to_brute_force() {
    let mut s = Stream::new(4);
    let base = normal(50, 6, &mut s);
    let rows: Vec<usize> = (0..150).map(|i| i % 50).collect();
    let refs = perturbed(&base, &rows, 0.0, &mut s);
    let q = perturbed(&base, &[3, 10, 49], 0.0, &mut s);
    let opts = KnnOptions { margin: 0, ..Default::default() };
    let fallbacks = check_knn(&q, &refs, 2, false, &opts, true);
    assert_eq!(fallbacks, 3);
    let nb = knn_with(&q, &refs, 2, false, &opts).unwrap();
    assert_eq!(nb.index_row(0), &[3, 53]);
    // With the default margin the tied copies are all candidates: no fallback needed.
    assert_eq!(check_knn(&q, &refs, 2, false, &KnnOptions::default(), true), 0);
}

/// Queries equal to the references: without `exclude_self` each point is its own neighbour at
/// distance 0; with it, the nearest other point (0 again for a duplicated point).
#[test]
fn queries_equal_to_references() {
    let mut s = Stream::new(5);
    let mut pts = uniform(300, 784, &mut s);
    let dup = pts.row(7).to_vec();
    pts.row_mut(200).copy_from_slice(&dup);
    let own = knn(&pts, &pts, 1, false).unwrap();
    for i in 0..300 {
        assert_eq!(own.dist_row(i)[0], 0.0);
        assert_eq!(own.index_row(i)[0], if i == 200 { 7 } else { i });
    }
    let other = knn(&pts, &pts, 3, true).unwrap();
    assert_eq!((other.dist_row(7)[0], other.index_row(7)[0]), (0.0, 200));
    assert_eq!((other.dist_row(200)[0], other.index_row(200)[0]), (0.0, 7));
    assert!(other.dist_row(8)[0] > 10.0);
    check_knn(&pts, &pts, 3, true, &KnnOptions::default(), false);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    /// Random problems, on a coarse integer grid (many exact ties; distances exact, so indices
    /// must match brute force) or continuous with duplicated rows.
    #[test]
    fn knn_matches_brute_force(seed in 0u64..1_000_000, n in 1usize..250, nq in 1usize..40, d in 1usize..40,
                               k in 1usize..=5, chunk in 1usize..120, block in 1usize..20, margin in 0usize..10,
                               grid in any::<bool>(), exclude_self in any::<bool>()) {
        let mut s = Stream::new(seed);
        let n = n.max(k + usize::from(exclude_self));
        let draw = |s: &mut Stream, rows: usize| {
            let v = (0..rows * d)
                .map(|_| if grid { (s.below(5) as f32 - 2.0) * 0.5 } else { 10.0 * s.normal() as f32 })
                .collect();
            Matrix::from_vec(rows, d, v).unwrap()
        };
        let mut refs = draw(&mut s, n);
        for _ in 0..n / 4 {
            let (a, b) = (s.below(n), s.below(n));
            let row = refs.row(a).to_vec();
            refs.row_mut(b).copy_from_slice(&row);
        }
        let q = if exclude_self { refs.clone() } else {
            let mut q = draw(&mut s, nq);
            for i in 0..nq / 2 {
                let row = refs.row(s.below(n)).to_vec();
                q.row_mut(i).copy_from_slice(&row);
            }
            q
        };
        check_knn(&q, &refs, k, exclude_self, &KnnOptions { chunk, block, margin }, grid);
    }
}

/// Copies and near-copies of training points are flagged by the ratio test, fresh draws are not.
#[test]
fn memorization_flags_copies_only() {
    let mut s = Stream::new(6);
    let train = normal(400, 64, &mut s);
    let exact = perturbed(&train, &(0..20).collect::<Vec<_>>(), 0.0, &mut s);
    let near = perturbed(&train, &(100..120).collect::<Vec<_>>(), 0.05, &mut s);
    let fresh = normal(20, 64, &mut s);
    let all: Vec<f32> = [&exact, &near, &fresh].iter().flat_map(|m| m.as_slice().to_vec()).collect();
    let generated = Matrix::from_vec(60, 64, all).unwrap();
    let m = memorization(&generated, &train, COPY_THRESHOLD).unwrap();
    let want = brute_knn(&generated, &train, 2, false);
    for (i, sd) in m.samples.iter().enumerate() {
        assert!((sd.d1 - want[i][0].0).abs() <= tol(sd.d1) && (sd.d2 - want[i][1].0).abs() <= tol(sd.d2));
        assert!((sd.ratio - sd.d1 / sd.d2).abs() < 1e-12);
        match i {
            0..20 => assert!(sd.d1 == 0.0 && sd.ratio == 0.0 && sd.copy && sd.nearest == i),
            20..40 => assert!(sd.copy && sd.nearest == i + 80 && sd.ratio < 0.1, "near copy {i}: {sd:?}"),
            _ => assert!(!sd.copy && sd.ratio > 0.6, "fresh sample {i}: {sd:?}"),
        }
    }
    let sum = m.summary;
    assert_eq!((sum.samples, sum.copies), (60, 40));
    assert!((sum.fraction_memorized - 2.0 / 3.0).abs() < 1e-12);
    let d1: Vec<f64> = want.iter().map(|w| w[0].0).collect();
    assert!((sum.mean_d1 - d1.iter().sum::<f64>() / 60.0).abs() <= tol(sum.mean_d1));
    let mut sorted = d1.clone();
    sorted.sort_by(f64::total_cmp);
    assert!((sum.median_d1 - 0.5 * (sorted[29] + sorted[30])).abs() <= tol(sum.median_d1));
    assert!((mean_nearest_distance(&generated, &train).unwrap() - sum.mean_d1).abs() < 1e-12);

    // A stricter threshold keeps the exact copies and drops the near ones.
    let strict = memorization(&generated, &train, 1e-3).unwrap();
    assert_eq!(strict.summary.copies, 20);
}

/// A copy of a duplicated training point has `d1 = d2 = 0`: ratio 0, a copy.
#[test]
fn copy_of_a_duplicated_training_point() {
    let train = Matrix::from_vec(3, 2, vec![1.0, 1.0, 1.0, 1.0, 5.0, 0.0]).unwrap();
    let generated = Matrix::from_vec(2, 2, vec![1.0, 1.0, 3.0, 0.0]).unwrap();
    let m = memorization(&generated, &train, COPY_THRESHOLD).unwrap();
    assert_eq!((m.samples[0].d1, m.samples[0].d2, m.samples[0].ratio), (0.0, 0.0, 0.0));
    assert!(m.samples[0].copy);
    // (3, 0): d1 = 2 (to (5, 0)), d2 = sqrt(5): ratio 0.89, not a copy.
    assert!((m.samples[1].ratio - 2.0 / 5f64.sqrt()).abs() < 1e-12 && !m.samples[1].copy);
}

#[test]
fn train_to_train_matches_brute_force() {
    let mut s = Stream::new(7);
    let train = uniform(500, 784, &mut s);
    let want = brute_knn(&train, &train, 1, true).iter().map(|w| w[0].0).sum::<f64>() / 500.0;
    assert!((train_to_train_distance(&train).unwrap() - want).abs() <= tol(want));
}

/// Direct unbiased covariance, for checking [`GaussianStats::of`].
fn direct_stats(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (x.rows(), x.cols());
    let mean: Vec<f64> = (0..d).map(|c| x.iter_rows().map(|r| r[c] as f64).sum::<f64>() / n as f64).collect();
    let mut cov = vec![0f64; d * d];
    for r in x.iter_rows() {
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] += (r[i] as f64 - mean[i]) * (r[j] as f64 - mean[j]) / (n - 1) as f64;
            }
        }
    }
    (mean, cov)
}

/// Principal square root of a matrix with positive eigenvalues by the Denman-Beavers iteration
/// `Y <- (Y + Z^-1) / 2`, `Z <- (Z + Y^-1) / 2` from `Y = A`, `Z = I` (`Y -> A^{1/2}`).
fn denman_beavers(a: &DMatrix<f64>) -> DMatrix<f64> {
    let (mut y, mut z) = (a.clone(), DMatrix::identity(a.nrows(), a.ncols()));
    for _ in 0..100 {
        let yi = y.clone().try_inverse().unwrap();
        let zi = z.clone().try_inverse().unwrap();
        let y_next = (&y + zi) * 0.5;
        z = (&z + yi) * 0.5;
        let change = (&y_next - &y).abs().max();
        y = y_next;
        if change < 1e-14 * y.abs().max() {
            break;
        }
    }
    y
}

/// A random full covariance `A A^T / d + 0.1 I` and a random mean.
fn random_stats(d: usize, s: &mut Stream) -> GaussianStats {
    let a = DMatrix::from_fn(d, d, |_, _| s.normal());
    let cov = &a * a.transpose() / d as f64 + DMatrix::identity(d, d) * 0.1;
    GaussianStats { mean: (0..d).map(|_| s.normal()).collect(), cov: cov.transpose().as_slice().to_vec() }
}

#[test]
fn frechet_is_zero_for_identical_sets() {
    let mut s = Stream::new(8);
    for (n, d) in [(500, 16), (40, 64)] {
        let x = normal(n, d, &mut s);
        let fd = frechet_distance(&x, &x).unwrap();
        assert!(fd.abs() < 1e-9 * d as f64, "n = {n}, d = {d}: {fd}");
    }
}

/// Diagonal covariances: `FD = sum (mu1 - mu2)^2 + sum (s1 - s2)^2`, `s` standard deviations.
#[test]
fn frechet_diagonal_closed_form() {
    let mut s = Stream::new(9);
    let d = 12;
    let (mu1, mu2): (Vec<f64>, Vec<f64>) = (0..d).map(|_| (s.normal(), s.normal())).unzip();
    let (sd1, sd2): (Vec<f64>, Vec<f64>) =
        (0..d).map(|_| (s.uniform_in(0.1, 3.0), s.uniform_in(0.0, 3.0))).unzip();
    let diag =
        |sd: &[f64]| (0..d * d).map(|k| if k % (d + 1) == 0 { sd[k / d].powi(2) } else { 0.0 }).collect();
    let a = GaussianStats { mean: mu1.clone(), cov: diag(&sd1) };
    let b = GaussianStats { mean: mu2.clone(), cov: diag(&sd2) };
    let want: f64 = (0..d).map(|i| (mu1[i] - mu2[i]).powi(2) + (sd1[i] - sd2[i]).powi(2)).sum();
    let got = frechet(&a, &b).unwrap();
    assert!((got - want).abs() < 1e-10 * want, "{got} vs {want}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    /// Full random covariances: the trace term against a Denman-Beavers `sqrtm(S1 S2)`
    /// (`tr (S1^{1/2} S2 S1^{1/2})^{1/2} = tr (S1 S2)^{1/2}`); and symmetry.
    #[test]
    fn frechet_matches_denman_beavers(seed in 0u64..1_000_000, d in 1usize..24) {
        let mut s = Stream::new(seed);
        let (a, b) = (random_stats(d, &mut s), random_stats(d, &mut s));
        let s1 = DMatrix::from_row_slice(d, d, &a.cov);
        let s2 = DMatrix::from_row_slice(d, d, &b.cov);
        let mean: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
        let want = mean + s1.trace() + s2.trace() - 2.0 * denman_beavers(&(&s1 * &s2)).trace();
        let got = frechet(&a, &b).unwrap();
        let scale = s1.trace() + s2.trace() + mean;
        prop_assert!((got - want).abs() < 1e-9 * scale, "{} vs {}", got, want);
        prop_assert!((frechet(&b, &a).unwrap() - got).abs() < 1e-9 * scale);
    }

    /// Sample statistics: mean and unbiased (n - 1) covariance, across chunking of the rows.
    #[test]
    fn gaussian_stats_match_direct_sums(seed in 0u64..1_000_000, n in 2usize..300, d in 1usize..20) {
        let mut s = Stream::new(seed);
        let x = Matrix::from_vec(n, d, (0..n * d).map(|_| (3.0 * s.normal() + 5.0) as f32).collect()).unwrap();
        let st = GaussianStats::of(&x).unwrap();
        let (mean, cov) = direct_stats(&x);
        for (a, b) in st.mean.iter().zip(&mean).chain(st.cov.iter().zip(&cov)) {
            prop_assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{} vs {}", a, b);
        }
    }
}

/// Direct mean of `||a_i - b_j||` over all pairs, or over `i != j` when `within`.
fn direct_mean(a: &Matrix, b: &Matrix, within: bool) -> f64 {
    let mut sum = 0.0;
    for (i, p) in a.iter_rows().enumerate() {
        for (j, q) in b.iter_rows().enumerate() {
            if !(within && i == j) {
                sum += dist64(p, q);
            }
        }
    }
    sum / (a.rows() * b.rows() - if within { a.rows() } else { 0 }) as f64
}

/// Direct `O(n^2)` energy distance in `f64`: returns `(E, 2 E||X-Y|| + E||X-X'|| + E||Y-Y'||)`,
/// the second being the scale of the rounding error.
fn direct_energy(x: &Matrix, y: &Matrix) -> (f64, f64) {
    let (xy, xx, yy) = (direct_mean(x, y, false), direct_mean(x, x, true), direct_mean(y, y, true));
    (2.0 * xy - xx - yy, 2.0 * xy + xx + yy)
}

/// Against the direct loop, each pairwise distance being within relative `1e-5` (the module's
/// guarantee), on Gaussian data, data with duplicated rows, and a tight cluster at d = 784 where
/// all distances are tiny and the plain expansion is far off.
#[test]
fn energy_matches_direct_loop() {
    let mut s = Stream::new(10);
    let center = uniform(1, 784, &mut s);
    let dup_base = normal(30, 8, &mut s);
    let cases = [
        (normal(300, 5, &mut s), normal(257, 5, &mut s)),
        (normal(2, 1, &mut s), normal(3, 1, &mut s)),
        (
            perturbed(&dup_base, &(0..120).map(|i| i % 30).collect::<Vec<_>>(), 0.0, &mut s),
            normal(90, 8, &mut s),
        ),
        (perturbed(&center, &[0; 120], 1e-4, &mut s), perturbed(&center, &[0; 90], 1e-4, &mut s)),
    ];
    for (c, (x, y)) in cases.iter().enumerate() {
        let (want, scale) = direct_energy(x, y);
        let got = energy_distance(x, y).unwrap();
        assert!((got - want).abs() <= 1e-5 * scale, "case {c}: {got} vs {want} (scale {scale})");
        assert!((energy_distance(y, x).unwrap() - got).abs() <= 1e-12 * scale, "case {c}: not symmetric");
    }
    // The cluster case needs the exact recomputation: the plain expansion's distances are off
    // by far more than the tolerance.
    let (x, _) = &cases[3];
    let dots = matmul_nt(x, x);
    let norms = x.row_sq_norms();
    let plain_within = (0..x.rows())
        .flat_map(|i| (0..x.rows()).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| (norms[i] + norms[j] - 2.0 * dots.row(i)[j] as f64).max(0.0).sqrt())
        .sum::<f64>()
        / (x.rows() * (x.rows() - 1)) as f64;
    let exact_within = direct_mean(x, x, true);
    assert!(
        (plain_within - exact_within).abs() > 1e-2 * exact_within,
        "plain expansion within-set mean {plain_within} is as good as exact {exact_within}"
    );
}

#[test]
fn energy_separates_shifted_distributions() {
    let mut s = Stream::new(11);
    let (x, y) = (normal(1_000, 8, &mut s), normal(1_000, 8, &mut s));
    let shifted = Matrix::from_vec(1_000, 8, y.as_slice().iter().map(|v| v + 0.5).collect()).unwrap();
    let same = energy_distance(&x, &y).unwrap();
    let apart = energy_distance(&x, &shifted).unwrap();
    assert!(same.abs() < 0.02, "same distribution: {same}");
    assert!(apart > 0.3, "shifted by 0.5 per coordinate: {apart}");
}
