//! The fast closed form against the `f64` brute-force reference (Proposition 1).
//!
//! Error bound checked everywhere: the weights are within total variation `tol = 1e-4` of the
//! exact ones, so `(1 - t) ||u_fast - u_exact|| <= tol R + 1e-5 (R + ||x||)`, with
//! `R = max_i ||x_i||`; the second term covers the `f32` rounding of sums and of the output.

use cfm_core::{ClosedForm, Matrix, Stream, reference};
use proptest::prelude::*;
use rayon::prelude::*;

const TOL: f64 = 1e-4;

/// Image-like training data in [-1, 1]: a few clusters pushed through tanh.
fn data(n: usize, d: usize, s: &mut Stream) -> Matrix {
    let centers: Vec<Vec<f64>> = (0..8).map(|_| (0..d).map(|_| s.normal()).collect()).collect();
    let mut v = Vec::with_capacity(n * d);
    for _ in 0..n {
        let c = &centers[s.below(8)];
        v.extend(c.iter().map(|m| (m + 0.7 * s.normal()).tanh() as f32));
    }
    Matrix::from_vec(n, d, v).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `x ~ N(0, I)`.
    Noise,
    /// On the path: `(1 - t) x0 + t x_i`.
    Path,
    /// Between two training points: `t (x_i + x_j) / 2` plus a tiny perturbation.
    Tie,
}

fn queries(train: &Matrix, b: usize, t: f64, kind: Kind, s: &mut Stream) -> Matrix {
    let d = train.cols();
    let mut v = Vec::with_capacity(b * d);
    for _ in 0..b {
        let (i, j) = (s.below(train.rows()), s.below(train.rows()));
        for k in 0..d {
            let z = s.normal();
            let (xi, xj) = (train.row(i)[k] as f64, train.row(j)[k] as f64);
            v.push(match kind {
                Kind::Noise => z,
                Kind::Path => (1.0 - t) * z + t * xi,
                Kind::Tie => t * 0.5 * (xi + xj) + 1e-4 * (1.0 - t) * z,
            } as f32);
        }
    }
    Matrix::from_vec(b, d, v).unwrap()
}

/// The plain `f32` expansion with no accuracy control: what the fast path would give alone.
fn naive(train: &Matrix, x: &[f32], t: f32) -> Vec<f32> {
    let c = 0.5 / ((1.0 - t) * (1.0 - t));
    let l: Vec<f32> = train
        .iter_rows()
        .map(|r| {
            let (g, nn) = r.iter().zip(x).fold((0f32, 0f32), |(g, nn), (&a, &b)| (g + a * b, nn + a * a));
            c * (2.0 * t * g - t * t * nn)
        })
        .collect();
    let m = l.iter().copied().fold(f32::MIN, f32::max);
    let w: Vec<f32> = l.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = w.iter().sum();
    (0..x.len())
        .map(|k| (train.iter_rows().zip(&w).map(|(r, wi)| wi * r[k]).sum::<f32>() / s - x[k]) / (1.0 - t))
        .collect()
}

/// Checks every query of `x` at time `t`; returns the largest error relative to its bound.
fn check(cf: &ClosedForm, x: &Matrix, t: f64) -> f64 {
    let ts = vec![t; x.rows()];
    let eval = cf.evaluate(x, &ts, true).unwrap();
    let r = cf.refs().row_sq_norms().into_iter().fold(0.0, f64::max).sqrt();
    let mut worst: f64 = 0.0;
    for b in 0..x.rows() {
        let (u, sum) = reference::velocity_one(cf.refs(), x.row(b), t);
        let fast = eval.velocity.row(b);
        let err = (1.0 - t) * u.iter().zip(fast).map(|(a, &f)| (a - f as f64).powi(2)).sum::<f64>().sqrt();
        let xn = x.row(b).iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        let bound = TOL * r + 1e-5 * (r + xn);
        worst = worst.max(err / bound);
        let w = eval.weights.as_ref().unwrap()[b];
        assert!(
            (w.max_weight - sum.max_weight).abs() <= TOL,
            "max weight {} vs {}",
            w.max_weight,
            sum.max_weight
        );
        if sum.max_weight > 0.5 + TOL {
            assert_eq!(w.argmax, sum.argmax);
        }
        assert!(
            (w.entropy - sum.entropy).abs() <= 1e-3 * (1.0 + sum.entropy),
            "entropy {} vs {}",
            w.entropy,
            sum.entropy
        );
    }
    assert!(worst <= 1.0, "t = {t}: error {worst} times the bound; routes {:?}", eval.paths);
    worst
}

#[test]
fn grid_of_dimensions_times_and_kinds() {
    let s = Stream::new(20251128);
    for (d, n) in [(2, 10_000), (64, 10_000), (784, 4_000), (3072, 2_000)] {
        let train = data(n, d, &mut s.derive(&format!("train-{d}")));
        let cf = ClosedForm::new(train.clone()).unwrap();
        for t in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999] {
            for kind in [Kind::Noise, Kind::Path, Kind::Tie] {
                let x = queries(&train, 6, t, kind, &mut s.derive(&format!("{d}-{t}-{kind:?}")));
                let worst = check(&cf, &x, t);
                let paths = cf.evaluate(&x, &vec![t; x.rows()], false).unwrap().paths;
                eprintln!("d={d} n={n} t={t} {kind:?}: {worst:.3} of bound, {paths:?}");
            }
        }
    }
}

/// The test above could fail: near t = 1 in high dimension the plain expansion breaks the bound
/// by orders of magnitude, and the fast path detects it and takes another route.
#[test]
fn plain_expansion_breaks_the_bound_where_the_fast_path_corrects() {
    let mut s = Stream::new(11);
    let train = data(2_000, 784, &mut s);
    let cf = ClosedForm::new(train.clone()).unwrap();
    let t = 0.99;
    let x = queries(&train, 4, t, Kind::Tie, &mut s);
    let r = train.row_sq_norms().into_iter().fold(0.0, f64::max).sqrt();
    let mut worst: f64 = 0.0;
    for b in 0..4 {
        let (u, _) = reference::velocity_one(&train, x.row(b), t);
        let plain = naive(&train, x.row(b), t as f32);
        let err = (1.0 - t) * u.iter().zip(&plain).map(|(a, &f)| (a - f as f64).powi(2)).sum::<f64>().sqrt();
        worst = worst.max(err / (TOL * r));
    }
    assert!(worst > 10.0, "plain f32 expansion error only {worst} times the bound");
    let paths = cf.evaluate(&x, &[t; 4], false).unwrap().paths;
    assert_eq!(paths.fast, 0, "{paths:?}");
    check(&cf, &x, t);
}

/// Where the softmax has not concentrated (t = 0.02) at d = 784, with standard-normal data and
/// queries as in the benchmark, the `f32` logits are accurate enough for the default tolerance:
/// every query takes the fast route, and its error stays within the bound.
#[test]
fn spread_weights_at_d784_take_the_fast_route() {
    let s = Stream::new(3);
    let (n, d, t) = (2_000, 784, 0.02);
    let train = Matrix::from_vec(n, d, s.derive("train").normal_vec(n * d)).unwrap();
    let x = Matrix::from_vec(8, d, s.derive("x").normal_vec(8 * d)).unwrap();
    let cf = ClosedForm::new(train).unwrap();
    let paths = cf.evaluate(&x, &[t; 8], false).unwrap().paths;
    assert_eq!(paths.fast, 8, "{paths:?}");
    check(&cf, &x, t);
}

/// At d = 3072 and t = 0.02 the plain `f32` product cannot certify the default tolerance (its
/// logit error bound is about 4.6e-4) and the weights are too spread for a correction, so the
/// plain route would redo these queries in `f64`; the sliced product's bound (about 8e-5)
/// certifies them: every query takes route 1b, and its error stays within the bound.
#[test]
fn spread_weights_at_d3072_take_the_sliced_route() {
    let s = Stream::new(4);
    let (n, d, t) = (1_000, 3072, 0.02);
    let train = Matrix::from_vec(n, d, s.derive("train").normal_vec(n * d)).unwrap();
    let x = Matrix::from_vec(6, d, s.derive("x").normal_vec(6 * d)).unwrap();
    let cf = ClosedForm::new(train).unwrap();
    let paths = cf.evaluate(&x, &[t; 6], false).unwrap().paths;
    assert_eq!(paths.sliced, 6, "{paths:?}");
    check(&cf, &x, t);
    // A handful of qualifying queries in a block does not pay for a pass of its own: they take
    // routes 2 and 3 as before.
    let few = cf.evaluate(&x, &[t, 0.9, t, 0.5, 0.9, t], false).unwrap().paths;
    assert_eq!(few.sliced, 0, "{few:?}");
    // A block whose queries take two products gives what each product's queries give alone.
    let x = Matrix::from_vec(40, d, s.derive("x40").normal_vec(40 * d)).unwrap();
    let ts: Vec<f64> = (0..40).map(|b| if b % 5 == 4 { 0.9 } else { t }).collect();
    let mixed = cf.evaluate(&x, &ts, false).unwrap();
    assert_eq!((mixed.paths.sliced, mixed.paths.fast), (32, 0), "{:?}", mixed.paths);
    for rest in [0, 4] {
        let set: Vec<usize> = (0..40).filter(|b| (b % 5 == 4) == (rest == 4)).collect();
        let tset: Vec<f64> = set.iter().map(|&b| ts[b]).collect();
        let alone = cf.evaluate(&x.select_rows(&set), &tset, false).unwrap();
        for (j, &b) in set.iter().enumerate() {
            assert_eq!(alone.velocity.row(j), mixed.velocity.row(b), "query {b} at t = {}", ts[b]);
        }
    }
}

#[test]
fn largest_reference_set() {
    let mut s = Stream::new(7);
    let train = data(10_000, 784, &mut s);
    let cf = ClosedForm::new(train.clone()).unwrap();
    for t in [0.5, 0.99] {
        check(&cf, &queries(&train, 4, t, Kind::Path, &mut s), t);
    }
}

#[test]
fn one_reference_gives_the_conditional_velocity() {
    let x1 = Matrix::from_vec(1, 3, vec![0.5, -1.0, 2.0]).unwrap();
    let cf = ClosedForm::new(x1).unwrap();
    let x = Matrix::from_vec(2, 3, vec![0.0, 0.0, 0.0, 1.0, 1.0, -1.0]).unwrap();
    for t in [0.0, 0.3, 0.99] {
        let u = cf.velocity(&x, t).unwrap();
        for b in 0..2 {
            for (k, &xv) in x.row(b).iter().enumerate() {
                let want = ([0.5, -1.0, 2.0][k] - xv as f64) / (1.0 - t);
                assert!((u.row(b)[k] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
            }
        }
    }
}

#[test]
fn time_zero_gives_mean_minus_x() {
    let mut s = Stream::new(3);
    let train = data(500, 16, &mut s);
    let cf = ClosedForm::new(train.clone()).unwrap();
    let x = queries(&train, 5, 0.0, Kind::Noise, &mut s);
    let u = cf.velocity(&x, 0.0).unwrap();
    for b in 0..5 {
        for k in 0..16 {
            let mean = (0..500).map(|i| train.row(i)[k] as f64).sum::<f64>() / 500.0;
            assert!((u.row(b)[k] as f64 - (mean - x.row(b)[k] as f64)).abs() < 1e-5);
        }
    }
}

#[test]
fn near_one_points_at_the_nearest_scaled_point() {
    let mut s = Stream::new(4);
    let train = data(2_000, 64, &mut s);
    let cf = ClosedForm::new(train.clone()).unwrap();
    let t = 0.999;
    let x = queries(&train, 16, 0.9, Kind::Noise, &mut s);
    let u = cf.velocity(&x, t).unwrap();
    for b in 0..16 {
        let nearest = (0..2_000)
            .min_by(|&i, &j| {
                reference::dist_scaled(x.row(b), train.row(i), t).total_cmp(&reference::dist_scaled(
                    x.row(b),
                    train.row(j),
                    t,
                ))
            })
            .unwrap();
        let dir: Vec<f32> = train.row(nearest).iter().zip(x.row(b)).map(|(a, c)| a - c).collect();
        let cos = cfm_core::targets::cosine(u.row(b), &dir);
        assert!(cos > 0.999, "query {b}: cosine {cos}");
    }
}

#[test]
fn bad_inputs_are_rejected() {
    let cf = ClosedForm::new(Matrix::from_vec(2, 2, vec![0.0, 1.0, 2.0, 3.0]).unwrap()).unwrap();
    let x = Matrix::from_vec(1, 2, vec![0.0, 0.0]).unwrap();
    for t in [1.0, 1.5, -0.1, f64::NAN] {
        assert!(cf.velocity(&x, t).unwrap_err().to_string().contains("outside [0, 1)"), "t = {t}");
    }
    let wrong = Matrix::from_vec(1, 3, vec![0.0; 3]).unwrap();
    assert!(cf.velocity(&wrong, 0.5).unwrap_err().to_string().contains("dimension"));
    let nan = Matrix::from_vec(1, 2, vec![f32::NAN, 0.0]).unwrap();
    assert!(cf.velocity(&nan, 0.5).is_err());
    assert!(ClosedForm::new(Matrix::zeros(0, 2)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn random_small_problems(seed in 0u64..1_000_000, n in 1usize..600, d in 1usize..40,
                             t in prop::sample::select(vec![0.0, 0.05, 0.3, 0.7, 0.95, 0.995, 0.9995]),
                             kind in 0usize..3, chunk in 1usize..300) {
        let mut s = Stream::new(seed);
        let train = data(n, d, &mut s);
        let opts = cfm_core::Options { chunk, block: 7, ..Default::default() };
        let cf = ClosedForm::with_options(train.clone(), opts).unwrap();
        let kind = [Kind::Noise, Kind::Path, Kind::Tie][kind];
        check(&cf, &queries(&train, 9, t, kind, &mut s), t);
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut s = Stream::new(12);
    let train = data(3_000, 64, &mut s);
    let x = queries(&train, 300, 0.7, Kind::Noise, &mut s);
    let ts: Vec<f64> = (0..300).map(|i| (i % 97) as f64 / 100.0).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let cf = ClosedForm::new(train.clone()).unwrap();
        pool.install(|| cf.evaluate(&x, &ts, true).unwrap())
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one.velocity, three.velocity);
    assert_eq!(one.weights, three.weights);
}

/// As above, for the paths that test does not reach: references by column (d <= 8) and products
/// over all queries on all threads (d >= 256), at several times so that both the dense and the
/// sparse weighted sums run.
#[test]
fn every_path_is_independent_of_the_thread_count() {
    for (d, n) in [(2, 3_000), (784, 2_000)] {
        let mut s = Stream::new(13);
        let train = data(n, d, &mut s);
        let x = queries(&train, 70, 0.5, Kind::Noise, &mut s);
        let ts: Vec<f64> = (0..70).map(|i| (i % 10) as f64 / 10.0).collect();
        let cf = ClosedForm::new(train).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| cf.evaluate(&x, &ts, true).unwrap())
        };
        let one = run(1);
        for threads in [2, 3] {
            let other = run(threads);
            assert_eq!(one.velocity, other.velocity, "d = {d}, {threads} threads");
            assert_eq!(one.weights, other.weights, "d = {d}, {threads} threads");
        }
    }
}

/// The buffers a thread keeps between calls start with what the previous call left in them: a
/// call after others of larger and of other shapes (among them one whose queries are split
/// between the sliced product and `f64`), and one nested inside another call's parallel work on the same pool, give the results
/// of a call on a fresh thread.
#[test]
fn results_do_not_depend_on_earlier_calls() {
    let mut s = Stream::new(14);
    let (wide, narrow) = (data(1_500, 300, &mut s), data(700, 40, &mut s));
    let (xw, xn) =
        (queries(&wide, 90, 0.5, Kind::Noise, &mut s), queries(&narrow, 90, 0.5, Kind::Noise, &mut s));
    let ts: Vec<f64> = (0..90).map(|i| (i % 10) as f64 / 10.0).collect();
    let (cw, cn) = (ClosedForm::new(wide).unwrap(), ClosedForm::new(narrow).unwrap());
    // Spread weights in d = 3072: the plain f32 logits cannot certify the tolerance, the sliced
    // ones can at t = 0.02 and cannot at t = 0.03.
    let (n, d) = (400, 3072);
    let spread =
        ClosedForm::new(Matrix::from_vec(n, d, s.derive("spread").normal_vec(n * d)).unwrap()).unwrap();
    let xs = Matrix::from_vec(36, d, s.derive("spread-x").normal_vec(36 * d)).unwrap();
    let ts_spread: Vec<f64> = (0..36).map(|b| if b % 9 == 8 { 0.03 } else { 0.02 }).collect();
    let fresh = |cf: &ClosedForm, x: &Matrix, ts: &[f64]| {
        std::thread::scope(|sc| sc.spawn(|| cf.evaluate(x, ts, true).unwrap()).join().unwrap())
    };
    let (want_w, want_n) = (fresh(&cw, &xw, &ts), fresh(&cn, &xn, &ts));
    let want_s = fresh(&spread, &xs, &ts_spread);
    assert_eq!((want_s.paths.sliced, want_s.paths.double), (32, 4), "{:?}", want_s.paths);
    for _ in 0..2 {
        let w = cw.evaluate(&xw, &ts, true).unwrap();
        let sp = spread.evaluate(&xs, &ts_spread, true).unwrap();
        let n = cn.evaluate(&xn, &ts, true).unwrap();
        assert_eq!((w.velocity, w.weights), (want_w.velocity.clone(), want_w.weights.clone()));
        assert_eq!((sp.velocity, sp.weights), (want_s.velocity.clone(), want_s.weights.clone()));
        assert_eq!((n.velocity, n.weights), (want_n.velocity.clone(), want_n.weights.clone()));
    }
    let nested: Vec<Matrix> = (0..4usize)
        .into_par_iter()
        .map(|i| if i % 2 == 0 { cw.evaluate(&xw, &ts, false) } else { cn.evaluate(&xn, &ts, false) })
        .map(|e| e.unwrap().velocity)
        .collect();
    for (i, v) in nested.iter().enumerate() {
        assert_eq!(v, if i % 2 == 0 { &want_w.velocity } else { &want_n.velocity });
    }
}
