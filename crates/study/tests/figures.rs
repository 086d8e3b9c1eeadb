//! Guards on every number the figures show: smoke-profile results tables as insta snapshots
//! (rounded to 4 significant digits so that last-bit noise does not churn them), determinism,
//! the verified cache, and claim checks that must fail on planted false tables.

use cfm_study::claims::{Verdict, decide};
use cfm_study::figure::cells;
use cfm_study::manifest::Manifest;
use cfm_study::pipeline::{cell_hash, run_figure};
use cfm_study::table::{TableBuilder, read_csv, rounded, to_csv, write_csv};
use cfm_study::{Context, Profile, figures};
use indicatif::MultiProgress;
use polars::prelude::DataFrame;

fn smoke(cache: &std::path::Path, id: &str) -> (DataFrame, usize) {
    smoke_jobs(cache, id, 1)
}

fn smoke_jobs(cache: &std::path::Path, id: &str, jobs: usize) -> (DataFrame, usize) {
    let ctx = Context { jobs, ..Context::new(Profile::Smoke, cache) };
    let run = run_figure(figures::get(id).unwrap(), &ctx, &MultiProgress::new()).unwrap();
    (run.table.expect("smoke cells all run"), run.cached)
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

#[test]
fn a_truncated_or_altered_cached_cell_is_recomputed_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let fig = figures::get("fig1a").unwrap();
    let ctx = Context::new(Profile::Smoke, dir.path());
    let (clean, _) = smoke(dir.path(), "fig1a");
    let cell = &cells(fig, &ctx).unwrap()[0];
    let path = dir.path().join("cells/fig1a").join(format!("{}.csv", cell_hash(fig, &ctx, cell)));
    let bytes = std::fs::read(&path).unwrap();
    let lines: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
    let cuts = [
        bytes[..=lines[lines.len() / 2]].to_vec(),    // at a line boundary
        bytes[..lines[lines.len() / 2] + 5].to_vec(), // in mid-line
        String::from_utf8(bytes.clone()).unwrap().replacen("0.", "1.", 1).into_bytes(), // altered, same size
    ];
    for (k, cut) in cuts.iter().enumerate() {
        std::fs::write(&path, cut).unwrap();
        let (table, cached) = smoke(dir.path(), "fig1a");
        assert_eq!(csv(&table), csv(&clean), "corruption {k}: the table differs from the clean run's");
        assert_eq!(cached, 1, "corruption {k}: only the intact cell comes from the cache");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "corruption {k}: the recomputed cell differs");
    }
}

/// Writes `df` as the figure's table in a fresh directory and decides the figure's claims.
pub fn verdicts(id: &str, df: &DataFrame) -> Vec<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join(format!("{id}.csv")), df).unwrap();
    let manifest = Manifest::default();
    figures::get(id).unwrap().claims().into_iter().map(|c| decide(c, dir.path(), &manifest).verdict).collect()
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

    // C2: the images never align (a Gaussian mixture that does is not what decides).
    let mut t = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
    for k in 0..10 {
        t.push(cfm_study::row!["digits", 64usize, 100usize, k as f64 * 0.1, "mean_cosine", 0.5]);
        t.push(cfm_study::row!["gmm-d1024", 1024usize, 100usize, k as f64 * 0.1, "mean_cosine", 1.0]);
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
    let manifest = Manifest::default();
    for claim in cfm_study::claims::all() {
        assert!(matches!(decide(claim, dir.path(), &manifest).verdict, Verdict::NotRun(_)));
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

#[test]
fn a_claim_whose_dataset_was_not_run_is_not_run_not_decided_on_another() {
    use cfm_study::manifest::{FigureEntry, NotRun};
    let dir = tempfile::tempdir().unwrap();
    let mut t = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
    for k in 0..10 {
        t.push(cfm_study::row!["digits", 64usize, 100usize, k as f64 * 0.1, "mean_cosine", 1.0]);
    }
    write_csv(&dir.path().join("fig1a_mean.csv"), &t.finish().unwrap()).unwrap();
    let claim = || figures::get("fig1a_mean").unwrap().claims().remove(0);
    assert_eq!(decide(claim(), dir.path(), &Manifest::default()).verdict, Verdict::Pass);
    let mut manifest = Manifest::default();
    let entry = FigureEntry {
        title: String::new(),
        profile: Profile::Quick,
        seed: 0,
        config_hash: String::new(),
        cells: 2,
        git_commit: String::new(),
        crate_versions: Default::default(),
        threads: 1,
        machine: String::new(),
        device: String::new(),
        wall_time_s: 0.0,
        jobs: 1,
        cells_of: None,
        not_run: vec![NotRun {
            cell: "fashion-mnist".into(),
            dataset: "fashion-mnist".into(),
            reason: "apt-get install dataset-fashion-mnist".into(),
        }],
        data_files: Vec::new(),
    };
    manifest.figures.insert("fig1a_mean".into(), entry);
    let o = decide(claim(), dir.path(), &manifest);
    assert!(
        matches!(&o.verdict, Verdict::NotRun(why) if why.contains("apt-get install dataset-fashion-mnist")),
        "{:?}",
        o.verdict
    );
}

/// An IDX file: magic `0x0000080k`, the sizes, then the bytes.
fn idx(dims: &[usize], bytes: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for &s in dims {
        b.extend((s as u32).to_be_bytes());
    }
    b.extend(bytes);
    b
}

#[test]
fn fashion_mnist_cells_are_not_run_with_the_fix_when_missing_and_planned_when_found() {
    use cfm_core::datasets::DataDirs;
    use cfm_study::pipeline::plan;
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let fig = figures::get("fig1a_mean").unwrap();
    let missing = Context {
        data: DataDirs::only(vec![empty.path().into()]),
        ..Context::new(Profile::Quick, cache.path())
    };
    let planned = plan(fig, &missing).unwrap();
    let fashion: Vec<_> = planned.iter().filter(|c| c.spec.label.starts_with("fashion-mnist")).collect();
    assert!(!fashion.is_empty());
    for c in &fashion {
        let why = &c.missing.as_ref().expect("fashion-mnist is missing").reason;
        assert!(why.contains("apt-get install dataset-fashion-mnist"), "{why}");
    }
    assert!(
        planned.iter().filter(|c| !c.spec.label.starts_with("fashion-mnist")).all(|c| c.missing.is_none())
    );

    // Small files in the real format, in the dataset's own folder: found, so planned to run.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("fashion-mnist");
    std::fs::create_dir_all(&folder).unwrap();
    let pixels = |n: usize| (0..n * 784).map(|i| (i % 251) as u8);
    for (name, bytes) in [
        ("train-images-idx3-ubyte", idx(&[6, 28, 28], pixels(6))),
        ("train-labels-idx1-ubyte", idx(&[6], [0u8, 1, 2, 3, 4, 5].into_iter())),
        ("t10k-images-idx3-ubyte", idx(&[2, 28, 28], pixels(2))),
        ("t10k-labels-idx1-ubyte", idx(&[2], [6u8, 7].into_iter())),
    ] {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let found = Context {
        data: DataDirs::only(vec![dir.path().into()]).unverified(),
        ..Context::new(Profile::Quick, cache.path())
    };
    assert!(plan(fig, &found).unwrap().iter().all(|c| c.missing.is_none()));
}

/// Every cell of a figure that trains holds its whole training configuration (network,
/// parameterization, optimiser, steps, seed) under `train`, so that a change to the network
/// changes the cell's cache key and can never be served a table of the old network.
#[test]
fn every_trained_cell_holds_its_whole_training_configuration_so_a_network_change_changes_its_id() {
    for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
        let ctx = Context::new(profile, "unused");
        for fig in figures::all().into_iter().filter(|f| f.trains()) {
            let specs = cells(fig, &ctx).unwrap();
            assert!(!specs.is_empty(), "{} has no cells", fig.id());
            for cell in specs {
                let what = format!("{profile:?} {} {}", fig.id(), cell.label);
                let train = cell.config.get("train").unwrap_or_else(|| panic!("{what}: no training config"));
                let parsed: cfm_nn::TrainConfig =
                    serde_json::from_value(train.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
                let mut changed = cell.clone();
                let width = match parsed.model {
                    cfm_nn::ModelConfig::Mlp(_) => "width",
                    cfm_nn::ModelConfig::UNet(_) => "channels",
                };
                let w = changed.config["train"]["model"][width].as_u64().unwrap();
                changed.config["train"]["model"][width] = serde_json::json!(w + 1);
                assert_ne!(cell_hash(fig, &ctx, &cell), cell_hash(fig, &ctx, &changed), "{what}");
                let mut unskipped = cell.clone();
                unskipped.config["train"]["model"]["skip"] = serde_json::json!(false);
                if parsed.model != cfm_nn::ModelConfig::Mlp(cfm_nn::MlpConfig::toy())
                    && matches!(parsed.model, cfm_nn::ModelConfig::Mlp(_))
                {
                    assert_ne!(cell_hash(fig, &ctx, &cell), cell_hash(fig, &ctx, &unskipped), "{what}");
                }
            }
        }
    }
}

/// A table does not depend on what ran before it: `fig4` alone from an empty cache (its first
/// cell trains the feature classifier and keeps it in memory) equals `fig4` run after `fig2`
/// (whose cells trained it, so every `fig4` cell reads it from disk), byte for byte. They once
/// differed in the last digit of the classifier's accuracy, read back from its JSON card by a
/// float parser that was not correctly rounded.
#[test]
fn a_figure_alone_and_after_others_gives_the_same_table_byte_for_byte() {
    let (alone, after) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (only, _) = smoke(alone.path(), "fig4");
    smoke(after.path(), "fig2");
    let (within, cached) = smoke(after.path(), "fig4");
    assert_eq!(cached, 0);
    assert_eq!(csv(&only), csv(&within));
    for v in [0.9730639730639731f64, 0.9730639730639732, 0.1 + 0.2, 1.0 / 3.0] {
        let back: f64 = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back.to_bits(), v.to_bits(), "{v} does not survive JSON");
    }
}
