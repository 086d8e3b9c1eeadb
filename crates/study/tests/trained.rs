//! Guards on the figures that train networks (fig2, fig3, fig4, table1, efm_cost): smoke tables
//! as insta snapshots rounded to 3 significant digits (timings excluded), determinism and the
//! root seed, the shared cell and model caches, and claim checks that must fail on planted
//! false tables (and pass on planted true ones).

use cfm_nn::{TrainSet, TrainedModel, Weights};
use cfm_study::claims::{Verdict, decide};
use cfm_study::data::identity;
use cfm_study::figure::cells;
use cfm_study::figures::{self, efm_cost, fig4};
use cfm_study::manifest::Manifest;
use cfm_study::pipeline::{cell_hash, run_figure};
use cfm_study::table::{TableBuilder, rounded, strs, to_csv, write_csv};
use cfm_study::{Context, Profile, row};
use indicatif::MultiProgress;
use polars::prelude::DataFrame;

fn run_seed(
    profile: Profile,
    cache: &std::path::Path,
    id: &str,
    seed: u64,
) -> cfm_study::pipeline::FigureRun {
    let ctx = Context { seed, ..Context::new(profile, cache) };
    run_figure(figures::get(id).unwrap(), &ctx, &MultiProgress::new()).unwrap()
}

fn run(profile: Profile, cache: &std::path::Path, id: &str) -> cfm_study::pipeline::FigureRun {
    run_seed(profile, cache, id, 0)
}

fn csv(df: &DataFrame) -> String {
    String::from_utf8(to_csv(df).unwrap()).unwrap()
}

fn table(r: &cfm_study::pipeline::FigureRun) -> &DataFrame {
    r.table.as_ref().expect("every smoke cell runs")
}

#[test]
fn fig4_is_deterministic_shares_its_cells_with_table1_and_its_models_with_train() {
    let (a, b, c) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = run(Profile::Smoke, a.path(), "fig4");
    assert_eq!((first.cells, first.cached), (2, 0));
    let second = run(Profile::Smoke, b.path(), "fig4");
    assert_eq!(csv(table(&first)), csv(table(&second)), "fig4: two fresh runs differ");
    insta::assert_snapshot!("fig4_smoke", csv(&rounded(table(&first), 3).unwrap()));

    // table1's cells are fig4's: all of them come from fig4's cache.
    let table1 = run(Profile::Smoke, a.path(), "table1");
    assert_eq!(table1.cached, table1.cells, "table1 recomputed fig4's cells");
    insta::assert_snapshot!("table1_smoke", csv(&rounded(table(&table1), 3).unwrap()));

    // The model fig4 saved is the one cfm_nn::train makes for the same config, bit for bit.
    let ctx = Context::new(Profile::Smoke, a.path());
    let cfm = &fig4::runs(&ctx)[0];
    assert_eq!(cfm.method, fig4::Method::Cfm);
    let data = cfm_core::datasets::digits();
    let identity = identity(cfm_core::datasets::ImageData::Digits, 1500);
    let set = TrainSet { points: &data.train, image: data.image, identity: &identity };
    let saved = TrainedModel::load(&cfm_nn::model_dir(a.path(), &cfm.train, &set).unwrap()).unwrap();
    let trained = cfm_nn::train(&cfm.train, &set, c.path(), &cfm_nn::RunOptions::default()).unwrap();
    assert_eq!(saved.card(), trained.card());
    for which in [Weights::Raw, Weights::Ema] {
        let (x, y) = (saved.weights(which), trained.weights(which));
        assert_eq!(x.len(), y.len());
        for (name, t) in x {
            let (t, u) = (t.flatten_all().unwrap(), y[name].flatten_all().unwrap());
            assert_eq!(t.to_vec1::<f32>().unwrap(), u.to_vec1::<f32>().unwrap(), "{which:?} {name}");
        }
    }
    // ... and what cfm_nn::train loads from fig4's cache instead of training again.
    let loaded = cfm_nn::train(&cfm.train, &set, a.path(), &cfm_nn::RunOptions::default()).unwrap();
    assert_eq!(loaded.losses(), trained.losses());
}

#[test]
fn the_root_seed_reaches_the_trained_networks() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let zero = run_seed(Profile::Smoke, a.path(), "fig4", 0);
    let seven = run_seed(Profile::Smoke, b.path(), "fig4", 7);
    assert_ne!(csv(table(&zero)), csv(table(&seven)), "fig4: root seeds 0 and 7 give the same table");
    let ctx = |seed| Context { seed, ..Context::new(Profile::Smoke, "unused") };
    let seeds = |seed| fig4::runs(&ctx(seed)).iter().map(|r| r.train.seed).collect::<Vec<_>>();
    assert_ne!(seeds(0), seeds(7));
    assert_eq!(seeds(7), seeds(7));
}

#[test]
fn fig2_and_fig3_smoke_tables_match_snapshots_and_fig3_reuses_fig2s_model() {
    let dir = tempfile::tempdir().unwrap();
    let fig2 = run(Profile::Smoke, dir.path(), "fig2");
    insta::assert_snapshot!("fig2_smoke", csv(&rounded(table(&fig2), 3).unwrap()));
    // No fit without two onsets, and no NaN in its place.
    let values = cfm_study::table::f64s(table(&fig2), "value").unwrap();
    assert!(values.iter().all(|v| v.is_finite()), "fig2 holds non-finite values");
    // Model directories (each beside its lock file).
    let models = || {
        std::fs::read_dir(dir.path().join("models"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count()
    };
    let before = models();
    let fig3 = run(Profile::Smoke, dir.path(), "fig3");
    assert_eq!(models(), before, "fig3 trained a network instead of reusing fig2's full-split model");
    insta::assert_snapshot!("fig3_smoke", csv(&rounded(table(&fig3), 3).unwrap()));
}

#[test]
fn efm_cost_smoke_schema_and_grid() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(Profile::Smoke, dir.path(), "efm_cost");
    let t = table(&t);
    let schema: Vec<String> = t.columns().iter().map(|c| format!("{}: {}", c.name(), c.dtype())).collect();
    let (models, ms, stats) =
        (strs(t, "model").unwrap(), strs(t, "m").unwrap(), strs(t, "statistic").unwrap());
    let keys: Vec<String> =
        (0..t.height()).map(|i| format!("{} {} {}", models[i], ms[i], stats[i])).collect();
    insta::assert_snapshot!("efm_cost_smoke_keys", format!("{}\n{}", schema.join("\n"), keys.join("\n")));
    let values = cfm_study::table::f64s(t, "value").unwrap();
    assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
}

#[test]
fn paper_cells_are_listed_and_table1_cells_are_fig4_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (f4, t1) = (figures::get("fig4").unwrap(), figures::get("table1").unwrap());
    for (profile, fig4_cells, table1_cells) in [(Profile::Quick, 30, 24), (Profile::Paper, 13, 8)] {
        let ctx = Context::new(profile, dir.path());
        let hashes: Vec<String> = cells(f4, &ctx).unwrap().iter().map(|c| cell_hash(f4, &ctx, c)).collect();
        let cs = cells(t1, &ctx).unwrap();
        assert_eq!((hashes.len(), cs.len()), (fig4_cells, table1_cells), "{profile}");
        assert!(cs.iter().all(|c| hashes.contains(&cell_hash(t1, &ctx, c))), "{profile}");
    }
    let ctx = Context::new(Profile::Paper, dir.path());
    assert_eq!(cells(figures::get("efm_cost").unwrap(), &ctx).unwrap().len(), 1);
}

/// Writes `df` as the figure's table in a fresh directory and decides the figure's claims.
fn verdicts(id: &str, df: &DataFrame) -> Vec<Verdict> {
    verdicts_with(id, df, &[])
}

/// The verdicts of figure `id`'s claims on `df`, with the tables of the figures they read.
fn verdicts_with(id: &str, df: &DataFrame, others: &[(&str, &DataFrame)]) -> Vec<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join(format!("{id}.csv")), df).unwrap();
    for (other, t) in others {
        write_csv(&dir.path().join(format!("{other}.csv")), t).unwrap();
    }
    let manifest = Manifest::default();
    figures::get(id).unwrap().claims().into_iter().map(|c| decide(c, dir.path(), &manifest).verdict).collect()
}

/// A collapse table in which `digits` collapses at `t_star` (native 8x8, all 1797 points); a
/// smaller subset and the mixtures collapse elsewhere, and must not be read.
fn collapse_table(t_star: f64) -> DataFrame {
    use cfm_study::figures::collapse::*;
    let mut t = TableBuilder::new(&COLUMNS);
    for (name, n, ts) in
        [("digits-8x8", 1797usize, t_star), ("digits-8x8", 100, 0.05), ("gmm-d64", 1797, 0.99)]
    {
        let x = (n as f64).ln() / 64.0;
        t.push(row![name, 64usize, n, x, T_STAR_WEIGHT, ts]);
        t.push(row![name, 64usize, n, x, T_STAR_COSINE, ts]);
        t.push(row![name, 64usize, n, x, T_STAR_PREDICTED, ts + 0.05]);
    }
    t.finish().unwrap()
}

/// A fig4 table: final-step values `value(method, seed)` for every panel, and an earlier step
/// at which every method is far worse (ignored by C8).
fn fig4_table(value: impl Fn(&str, u64) -> f64) -> DataFrame {
    fig4_table_seeds(3, value)
}

/// [`fig4_table`] with `seeds` seeds per method.
fn fig4_table_seeds(seeds: u64, value: impl Fn(&str, u64) -> f64) -> DataFrame {
    let mut t = TableBuilder::new(&fig4::COLUMNS);
    for (method, m) in [("CFM", 1usize), ("OT-CFM", 1), ("EFM-128", 128), ("EFM-1000", 1000)] {
        for seed in 0..seeds {
            t.push(row!["digits", method, m, seed, 0.0, 0u64, "classifier_accuracy", 0.95]);
            for metric in fig4::METRICS {
                t.push(row!["digits", method, m, seed, 1.0, 12u64, metric, 100.0]);
                t.push(row!["digits", method, m, seed, 341.3, 4000u64, metric, value(method, seed)]);
            }
        }
    }
    t.finish().unwrap()
}

#[test]
fn c8a_and_c8b_fail_on_planted_false_tables_and_are_inconclusive_inside_the_spread() {
    // Seeds 0, 1, 2 add 0, 0.01, 0.02: every method's sd over seeds is 0.01.
    let spread = |s: u64| 0.01 * s as f64;
    // EFM better than both baselines, more so with more references: both pass.
    let good = fig4_table(|m, s| match m {
        "CFM" | "OT-CFM" => 2.0 + spread(s),
        "EFM-128" => 1.5 + spread(s),
        _ => 1.4 + spread(s),
    });
    assert_eq!(verdicts("fig4", &good), vec![Verdict::Pass, Verdict::Pass]);
    // Every EFM worse than OT-CFM beyond the spread; EFM-1000 ties EFM-128.
    let worse = fig4_table(|m, s| match m {
        "OT-CFM" => 1.0 + spread(s),
        _ => 1.2 + spread(s),
    });
    assert_eq!(verdicts("fig4", &worse), vec![Verdict::Fail, Verdict::Inconclusive]);
    // EFM-1000 worse than EFM-128 (both below the baselines).
    let reversed = fig4_table(|m, s| match m {
        "EFM-128" => 1.0 + spread(s),
        "EFM-1000" => 1.5 + spread(s),
        _ => 2.0 + spread(s),
    });
    assert_eq!(verdicts("fig4", &reversed), vec![Verdict::Pass, Verdict::Fail]);
    // EFM-128 above CFM by half the spread; EFM-1000 below EFM-128 by half of it.
    let close = fig4_table(|m, s| match m {
        "EFM-128" => 2.005 + spread(s),
        "EFM-1000" => 2.0 + spread(s),
        _ => 2.0 + spread(s),
    });
    assert_eq!(verdicts("fig4", &close), vec![Verdict::Inconclusive, Verdict::Inconclusive]);
}

#[test]
fn c8_is_never_decided_with_fewer_than_three_seeds() {
    assert_eq!(fig4::MIN_SEEDS, 3);
    // Gaps far beyond any plausible spread, either way: with one or two seeds the spread is
    // unknown, so neither claim is decided; with three they are.
    let spread = |s: u64| 0.01 * s as f64;
    let worse = |m: &str, s: u64| if m == "OT-CFM" { 1.0 + spread(s) } else { 5.0 + spread(s) };
    let better = |m: &str, s: u64| match m {
        "CFM" | "OT-CFM" => 9.0 + spread(s),
        "EFM-128" => 5.0 + spread(s),
        _ => 1.0 + spread(s),
    };
    for seeds in [1, 2] {
        for table in [fig4_table_seeds(seeds, worse), fig4_table_seeds(seeds, better)] {
            assert_eq!(
                verdicts("fig4", &table),
                vec![Verdict::Inconclusive, Verdict::Inconclusive],
                "{seeds}"
            );
        }
    }
    assert_eq!(verdicts("fig4", &fig4_table_seeds(3, worse)), vec![Verdict::Fail, Verdict::Inconclusive]);
    assert_eq!(verdicts("fig4", &fig4_table_seeds(3, better)), vec![Verdict::Pass, Verdict::Pass]);
}

/// A fig2 table for `digits` at one width, velocity output: per n, an error curve
/// `error(n, t)` at the last step, the copies and mean d1 of its samples at two checkpoints
/// (half of them at the first), and the train-to-train distance 1.
fn fig2_table(
    error: impl Fn(f64, f64) -> f64,
    copies: impl Fn(f64) -> f64,
    d1: impl Fn(f64) -> f64,
) -> DataFrame {
    use cfm_study::figures::fig2::*;
    let mut t = TableBuilder::new(&COLUMNS);
    for n in [10usize, 100, 1000] {
        let x = n as f64;
        for (step, k) in [(500u64, 0.5), (1000, 1.0)] {
            t.push(row!["digits", "velocity", n, 256usize, step, 0.0, FRACTION_MEMORIZED, k * copies(x)]);
            t.push(row!["digits", "velocity", n, 256usize, step, 0.0, MEAN_D1, d1(x) / k]);
        }
        for k in 1..10 {
            let tt = k as f64 / 10.0;
            t.push(row!["digits", "velocity", n, 256usize, 1000u64, tt, ERROR, error(x, tt)]);
        }
        for (stat, v) in [
            (TRAIN_TO_TRAIN_SUBSET, 1.0),
            (TRAIN_TO_TRAIN_FULL, 1.0),
            (FD_FEATURE_TEST, 1.0),
            (FD_PIXEL_TEST, 1.0),
            (CLASSIFIER_ACCURACY, 0.9),
        ] {
            t.push(row!["digits", "velocity", n, 256usize, 1000u64, 0.0, stat, v]);
        }
    }
    t.finish().unwrap()
}

#[test]
fn c5_and_c6_pass_on_planted_true_tables_and_fail_on_false_ones() {
    let fig2 =
        |df: DataFrame, t_star: f64| verdicts_with("fig2", &df, &[("collapse", &collapse_table(t_star))]);
    // The error grows with n and peaks early (t = 0.2, weighted at 0.1) for the largest n;
    // copies at n = 10 only.
    let early = |n: f64, t: f64| n.ln() * (1.0 - (t - 0.2).abs());
    let copies = |n: f64| if n < 50.0 { 0.95 } else { 0.0 };
    let d1 = |n: f64| if n < 50.0 { 0.1 } else { 0.8 };
    assert_eq!(fig2(fig2_table(early, copies, d1), 0.4), vec![Verdict::Pass, Verdict::Pass]);
    // The error falls with n (C5 false); nothing is ever copied (C6 false).
    let falling = |n: f64, t: f64| (1.0 / n) * (1.0 - (t - 0.2).abs());
    assert_eq!(fig2(fig2_table(falling, |_| 0.1, |_| 0.7), 0.4), vec![Verdict::Fail, Verdict::Fail]);
    // The weighted error peaks at t = 0.5: past t* = 0.4 (C5 false), before t* = 0.6 (true); the
    // largest n still copies (C6 false).
    let bump = |at: f64| move |n: f64, t: f64| n.ln() * (-((t - at) / 0.1).powi(2)).exp() / (1.0 - t).powi(2);
    assert_eq!(fig2(fig2_table(bump(0.5), |_| 0.95, |_| 0.1), 0.4), vec![Verdict::Fail, Verdict::Fail]);
    assert_eq!(fig2(fig2_table(bump(0.5), copies, d1), 0.6), vec![Verdict::Pass, Verdict::Pass]);
    // Or at t -> 1: the weighted error grows to the last time, 0.9.
    let last = |n: f64, t: f64| n.ln() / (1.0 - t).powi(3);
    assert_eq!(fig2(fig2_table(last, copies, d1), 0.4), vec![Verdict::Pass, Verdict::Pass]);
    // C5 reads the collapse time: without the collapse table it is not run.
    assert!(matches!(verdicts("fig2", &fig2_table(early, copies, d1))[0], Verdict::NotRun(_)));
}

/// A fig3 table for `digits`: the mean pixel distance `d(tau)`.
fn fig3_table(d: impl Fn(f64) -> f64) -> DataFrame {
    use cfm_study::figures::fig3::*;
    let mut t = TableBuilder::new(&COLUMNS);
    for k in 0..=20 {
        let tau = k as f64 / 20.0;
        t.push(row!["digits", tau, -1i64, 0usize, MEAN_PIXEL_DISTANCE, d(tau)]);
        t.push(row!["digits", tau, -1i64, 0usize, MEAN_FEATURE_DISTANCE, d(tau)]);
        t.push(row!["digits", tau, -1i64, 0usize, FRACTION_MEMORIZED, 0.0]);
    }
    t.finish().unwrap()
}

#[test]
fn c7_passes_on_a_planted_true_table_and_fails_on_false_ones() {
    let fig3 = |d: &dyn Fn(f64) -> f64, t_star: f64| {
        verdicts_with("fig3", &fig3_table(d), &[("collapse", &collapse_table(t_star))])
    };
    // As novel as the network up to 0.2, a training image from 0.4 (the paper's shape): true on
    // data that collapse at 0.4, false on data that collapse at 0.65 (0.2 is not well before it).
    let paper = |tau: f64| {
        if tau <= 0.2 {
            3.0
        } else if tau >= 0.4 {
            0.0
        } else {
            3.0 * (0.4 - tau) / 0.2
        }
    };
    assert_eq!(fig3(&paper, 0.4), vec![Verdict::Pass]);
    assert_eq!(fig3(&paper, 0.65), vec![Verdict::Fail]);
    // A training image only at tau = 1.
    assert_eq!(fig3(&|tau| if tau < 1.0 { 3.0 } else { 0.0 }, 0.4), vec![Verdict::Fail]);
    // Never as novel as the network: it drops at once.
    assert_eq!(fig3(&|tau| if tau == 0.0 { 3.0 } else { 0.0 }, 0.4), vec![Verdict::Fail]);
}

/// An efm_cost table of `network` timed with step times `step(M)` and target-construction
/// times `target(M)` (ms), as its cell and the summary write it.
fn timed_table(
    network: efm_cost::Network,
    step: impl Fn(f64) -> f64,
    target: impl Fn(f64) -> f64,
) -> DataFrame {
    let grid = [1usize, 32, 128, 256, 512, 1000];
    let times = |f: &dyn Fn(f64) -> f64| grid.iter().map(|&m| f(m as f64)).collect::<Vec<_>>();
    let mut t = TableBuilder::new(&efm_cost::COLUMNS);
    efm_cost::push_timings(&mut t, network, &grid, efm_cost::BATCH, &times(&step), &times(&target));
    efm_cost::push_paper_model(&mut t, &grid);
    t.finish().unwrap()
}

/// An efm_cost table with U-Net step times `step(M)` and target-construction times `target(M)` (ms).
fn cost_table(step: impl Fn(f64) -> f64, target: impl Fn(f64) -> f64) -> DataFrame {
    timed_table(efm_cost::Network::UNet, step, target)
}

#[test]
fn c10a_and_c10b_fail_on_planted_false_tables() {
    // The paper's cost model: linear, +2.7% at M = 128.
    let paper = |m: f64| 128.0 * (4.3 + 0.0009 * m);
    let paper_target = |m: f64| 0.1 + 128.0 * 0.0009 * m;
    assert_eq!(verdicts("efm_cost", &cost_table(paper, paper_target)), vec![Verdict::Pass, Verdict::Pass]);
    // Linear but expensive: +13% at M = 128.
    let expensive = cost_table(|m| 100.0 + 0.1 * m, |m| 0.1 * m);
    assert_eq!(verdicts("efm_cost", &expensive), vec![Verdict::Fail, Verdict::Fail]);
    // Target cheap but not linear in M.
    let wiggly = |m: f64| 0.1 + if (m as usize).is_multiple_of(256) { 2.0 } else { 0.0 };
    assert_eq!(verdicts("efm_cost", &cost_table(paper, wiggly)), vec![Verdict::Fail, Verdict::Pass]);
    // Whole steps noisier than the overhead: the fit cannot tell, C10b is inconclusive.
    let noisy = |m: f64| paper(m) + if [32.0, 256.0, 1000.0].contains(&m) { -40.0 } else { 40.0 };
    assert_eq!(
        verdicts("efm_cost", &cost_table(noisy, paper_target)),
        vec![Verdict::Pass, Verdict::Inconclusive]
    );
    // No U-Net timings: the claims cannot be decided.
    let mlp = timed_table(efm_cost::Network::Mlp, paper, paper_target);
    assert!(verdicts("efm_cost", &mlp).iter().all(|v| matches!(v, Verdict::Error(_))));
}
