//! Guards on the figures that train networks (fig4, table1, efm_cost): smoke tables as insta
//! snapshots rounded to 3 significant digits (timings excluded), determinism, the shared cell
//! and model caches, and claim checks that must fail on planted false tables.

use cfm_nn::{TrainSet, TrainedModel, Weights};
use cfm_study::claims::{Verdict, decide};
use cfm_study::figures::{self, fig4, learned};
use cfm_study::pipeline::{cell_hash, run_figure};
use cfm_study::table::{TableBuilder, rounded, strs, to_csv, write_csv};
use cfm_study::{Context, Profile, row};
use indicatif::MultiProgress;
use polars::prelude::DataFrame;

fn run(profile: Profile, cache: &std::path::Path, id: &str) -> cfm_study::pipeline::FigureRun {
    let ctx = Context::new(profile, cache);
    run_figure(figures::get(id).unwrap(), &ctx, &MultiProgress::new()).unwrap()
}

fn csv(df: &DataFrame) -> String {
    String::from_utf8(to_csv(df).unwrap()).unwrap()
}

#[test]
fn fig4_is_deterministic_shares_its_cells_with_table1_and_its_models_with_train() {
    let (a, b, c) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = run(Profile::Smoke, a.path(), "fig4");
    assert_eq!((first.cells, first.cached), (2, 0));
    let second = run(Profile::Smoke, b.path(), "fig4");
    assert_eq!(csv(&first.table), csv(&second.table), "fig4: two fresh runs differ");
    insta::assert_snapshot!("fig4_smoke", csv(&rounded(&first.table, 3).unwrap()));

    // table1's cells are fig4's: all of them come from fig4's cache.
    let table1 = run(Profile::Smoke, a.path(), "table1");
    assert_eq!(table1.cached, table1.cells, "table1 recomputed fig4's cells");
    insta::assert_snapshot!("table1_smoke", csv(&rounded(&table1.table, 3).unwrap()));

    // The model fig4 saved is the one cfm_nn::train makes for the same config, bit for bit.
    let cfm = &fig4::runs(Profile::Smoke)[0];
    assert_eq!(cfm.method, fig4::Method::Cfm);
    let data = cfm_core::datasets::digits();
    let identity = learned::identity(learned::ImageData::Digits, 1500);
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
fn efm_cost_smoke_schema_and_grid() {
    let dir = tempfile::tempdir().unwrap();
    let table = run(Profile::Smoke, dir.path(), "efm_cost").table;
    let schema: Vec<String> =
        table.columns().iter().map(|c| format!("{}: {}", c.name(), c.dtype())).collect();
    let (models, ms, stats) =
        (strs(&table, "model").unwrap(), strs(&table, "m").unwrap(), strs(&table, "statistic").unwrap());
    let keys: Vec<String> =
        (0..table.height()).map(|i| format!("{} {} {}", models[i], ms[i], stats[i])).collect();
    insta::assert_snapshot!("efm_cost_smoke_keys", format!("{}\n{}", schema.join("\n"), keys.join("\n")));
    let values = cfm_study::table::f64s(&table, "value").unwrap();
    assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
}

#[test]
fn paper_cells_are_listed_and_table1_cells_are_fig4_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (f4, t1) = (figures::get("fig4").unwrap(), figures::get("table1").unwrap());
    for (profile, fig4_cells, table1_cells) in [(Profile::Quick, 15, 12), (Profile::Paper, 13, 8)] {
        let ctx = Context::new(profile, dir.path());
        let hashes: Vec<String> = f4.cells(&ctx).unwrap().iter().map(|c| cell_hash(f4, &ctx, c)).collect();
        let cells = t1.cells(&ctx).unwrap();
        assert_eq!((hashes.len(), cells.len()), (fig4_cells, table1_cells), "{profile}");
        assert!(cells.iter().all(|c| hashes.contains(&cell_hash(t1, &ctx, c))), "{profile}");
    }
    let ctx = Context::new(Profile::Paper, dir.path());
    assert_eq!(figures::get("efm_cost").unwrap().cells(&ctx).unwrap().len(), 1);
}

/// Writes `df` as the figure's table in a fresh directory and decides the figure's claims.
fn verdicts(id: &str, df: &DataFrame) -> Vec<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join(format!("{id}.csv")), df).unwrap();
    figures::claims_of(id).into_iter().map(|c| decide(c, dir.path()).verdict).collect()
}

/// A fig4 table: final-step values `value(method, seed)` for every panel, and an earlier step
/// at which every method is far worse (ignored by C8).
fn fig4_table(value: impl Fn(&str, u64) -> f64) -> DataFrame {
    let mut t = TableBuilder::new(&["dataset", "method", "m", "seed", "epoch", "step", "metric", "value"]);
    for (method, m) in [("CFM", 1usize), ("OT-CFM", 1), ("EFM-128", 128), ("EFM-1000", 1000)] {
        for seed in 0..3u64 {
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
fn c8_fails_on_planted_false_tables() {
    let spread = |s: u64| 0.01 * s as f64;
    // EFM better than both baselines, more so with more references: passes.
    let good = fig4_table(|m, s| match m {
        "CFM" | "OT-CFM" => 2.0 + spread(s),
        "EFM-128" => 1.5 + spread(s),
        _ => 1.4 + spread(s),
    });
    assert_eq!(verdicts("fig4", &good), vec![Verdict::Pass]);
    // EFM-128 worse than OT-CFM beyond the spread.
    let worse = fig4_table(|m, s| match m {
        "OT-CFM" => 1.0 + spread(s),
        _ => 1.2 + spread(s),
    });
    assert_eq!(verdicts("fig4", &worse), vec![Verdict::Fail]);
    // EFM-1000 worse than EFM-128 (both below the baselines).
    let reversed = fig4_table(|m, s| match m {
        "EFM-128" => 1.0 + spread(s),
        "EFM-1000" => 1.5 + spread(s),
        _ => 2.0 + spread(s),
    });
    assert_eq!(verdicts("fig4", &reversed), vec![Verdict::Fail]);
}

/// An efm_cost table with U-Net step times `step(M)` and target-construction times `target(M)` (ms).
fn cost_table(step: impl Fn(f64) -> f64, target: impl Fn(f64) -> f64) -> DataFrame {
    let mut t = TableBuilder::new(&["model", "m", "statistic", "value"]);
    for m in [1usize, 32, 128, 256, 512, 1000] {
        t.push(row!["unet", m, "step_ms", step(m as f64)]);
        t.push(row!["unet", m, "target_ms", target(m as f64)]);
    }
    t.finish().unwrap()
}

#[test]
fn c10_fails_on_planted_false_tables() {
    // The paper's cost model: linear, +2.7% at M = 128.
    let paper = |m: f64| 128.0 * (4.3 + 0.0009 * m);
    let paper_target = |m: f64| 0.1 + 128.0 * 0.0009 * m;
    assert_eq!(verdicts("efm_cost", &cost_table(paper, paper_target)), vec![Verdict::Pass]);
    // Linear but expensive: +13% at M = 128.
    assert_eq!(verdicts("efm_cost", &cost_table(|m| 100.0 + 0.1 * m, |m| 0.1 * m)), vec![Verdict::Fail]);
    // Cheap but not linear in M.
    let wiggly = |m: f64| 0.1 + if (m as usize).is_multiple_of(256) { 2.0 } else { 0.0 };
    assert_eq!(verdicts("efm_cost", &cost_table(paper, wiggly)), vec![Verdict::Fail]);
    // No U-Net timings: the claim cannot be decided.
    let mut t = TableBuilder::new(&["model", "m", "statistic", "value"]);
    t.push(row!["mlp", 1usize, "step_ms", 1.0]);
    assert!(matches!(verdicts("efm_cost", &t.finish().unwrap())[0], Verdict::Error(_)));
}
