//! Guards on every number the figures show: smoke-profile results tables as insta snapshots
//! (rounded to 4 significant digits so that last-bit noise does not churn them), determinism,
//! the cache, and claim checks that must fail on planted false tables.

use cfm_study::claims::{Verdict, decide};
use cfm_study::figures;
use cfm_study::pipeline::run_figure;
use cfm_study::table::{TableBuilder, read_csv, rounded, to_csv, write_csv};
use cfm_study::{Context, Profile};
use indicatif::MultiProgress;
use polars::prelude::DataFrame;

fn smoke(cache: &std::path::Path, id: &str) -> (DataFrame, usize) {
    smoke_jobs(cache, id, 1)
}

fn smoke_jobs(cache: &std::path::Path, id: &str, jobs: usize) -> (DataFrame, usize) {
    let ctx = Context { jobs, ..Context::new(Profile::Smoke, cache) };
    let run = run_figure(figures::get(id).unwrap(), &ctx, &MultiProgress::new()).unwrap();
    (run.table, run.cached)
}

fn csv(df: &DataFrame) -> String {
    String::from_utf8(to_csv(df).unwrap()).unwrap()
}

#[test]
fn smoke_tables_match_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    for fig in figures::all().into_iter().filter(|f| !f.trains()) {
        let (table, _) = smoke(dir.path(), fig.id());
        insta::assert_snapshot!(fig.id(), csv(&rounded(&table, 4).unwrap()));
    }
}

#[test]
fn two_runs_give_bit_identical_tables_whatever_the_jobs_and_the_cache_is_used() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for id in ["fig1a", "prop2", "memorize"] {
        let (first, cached) = smoke(a.path(), id);
        assert_eq!(cached, 0);
        // The second fresh run computes its cells three at a time.
        let (second, _) = smoke_jobs(b.path(), id, 3);
        assert_eq!(csv(&first), csv(&second), "{id}: two fresh runs differ");
        let (again, cached) = smoke(a.path(), id);
        assert!(cached > 0, "{id}: rerun did not use the cache");
        assert_eq!(csv(&first), csv(&again), "{id}: cached table differs");
    }
}

/// Writes `df` as the figure's table in a fresh directory and decides the figure's claims.
fn verdicts(id: &str, df: &DataFrame) -> Vec<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join(format!("{id}.csv")), df).unwrap();
    figures::claims_of(id).into_iter().map(|c| decide(c, dir.path()).verdict).collect()
}

#[test]
fn claims_fail_on_planted_false_tables() {
    // C4: samples far from the training set.
    let mut t = TableBuilder::new(&["dataset", "statistic", "sample", "t", "index", "value"]);
    for (stat, v) in [("fraction_memorized", 0.5), ("mean_d1", 0.3), ("train_to_train", 0.35)] {
        t.push(cfm_study::row!["two-moons", stat, 0usize, 1.0, 0usize, v]);
    }
    assert_eq!(verdicts("memorize", &t.finish().unwrap()), vec![Verdict::Fail]);

    // C1: all cosines equal to 1 at every time.
    let mut t = TableBuilder::new(&["dataset", "d", "n", "t", "pair", "cosine"]);
    for pair in 0..10usize {
        t.push(cfm_study::row!["two-moons", 2usize, 100usize, 0.4, pair, 1.0]);
    }
    assert_eq!(verdicts("fig1a", &t.finish().unwrap()), vec![Verdict::Fail]);

    // C2: the highest-dimensional set never aligns.
    let mut t = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
    for k in 0..10 {
        t.push(cfm_study::row!["gmm-d1024", 1024usize, 100usize, k as f64 * 0.1, "mean_cosine", 0.5]);
    }
    assert_eq!(verdicts("fig1a_mean", &t.finish().unwrap()), vec![Verdict::Fail]);

    // C3: higher resolution aligns later.
    let mut t = TableBuilder::new(&["dataset", "size", "d", "n", "t", "statistic", "value"]);
    for (size, d, start) in [(2usize, 4usize, 3), (8, 64, 8)] {
        for k in 0..10 {
            let v = if k >= start { 1.0 } else { 0.0 };
            t.push(cfm_study::row!["digits", size, d, 10usize, k as f64 * 0.1, "frac_cosine_gt_0.9", v]);
        }
    }
    assert_eq!(verdicts("fig1c", &t.finish().unwrap()), vec![Verdict::Fail]);

    // C9: the "unbiased" estimator is biased.
    let mut t = TableBuilder::new(&["dataset", "estimator", "t", "m", "statistic", "value"]);
    for (est, z) in [("unbiased", 8.0), ("biased", 20.0)] {
        for m in [1usize, 2, 4] {
            t.push(cfm_study::row!["digits", est, 0.5, m, "bias_z", z]);
            t.push(cfm_study::row!["digits", est, 0.5, m, "variance", 1.0]);
        }
    }
    assert_eq!(verdicts("prop2", &t.finish().unwrap()), vec![Verdict::Fail]);
}

#[test]
fn missing_tables_are_not_run_and_broken_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for claim in cfm_study::claims::all() {
        assert_eq!(decide(claim, dir.path()).verdict, Verdict::NotRun);
    }
    let mut t = TableBuilder::new(&["dataset", "other"]);
    t.push(cfm_study::row!["two-moons", 1.0]);
    let v = verdicts("fig1a", &t.finish().unwrap());
    assert!(matches!(v[0], Verdict::Error(_)), "{v:?}");
    // The reader round-trips what the pipeline writes.
    let (table, _) = smoke(dir.path(), "collapse");
    write_csv(&dir.path().join("c.csv"), &table).unwrap();
    assert_eq!(csv(&read_csv(&dir.path().join("c.csv")).unwrap()), csv(&table));
}
