//! Cells one by one at the smoke profile: `cfm cells` lists them, `cfm cell` computes one,
//! `cfm reproduce --collect` assembles the tables from the cache (and fails, listing them,
//! while cells are missing); `cfm slurm --dry-run` shows what a cluster would run.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `cfm args` in `dir`: (success, stdout, stderr).
fn cfm(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cfm")).args(args).current_dir(dir).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Runs `cfm args` in `dir` and returns its stdout and stderr; panics if it fails.
fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out, err) = cfm(dir, args);
    assert!(success, "cfm {args:?} failed:\n{out}{err}");
    format!("{out}{err}")
}

fn cells(dir: &Path, cache: &str) -> Vec<Value> {
    let (success, out, err) = cfm(dir, &["cells", "--profile", "smoke", "--cache", cache, "--json"]);
    assert!(success, "{err}");
    serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
}

fn ids_of<'a>(rows: &'a [Value], figure: &str) -> Vec<&'a str> {
    rows.iter().filter(|r| r["figure"] == figure).map(|r| r["id"].as_str().unwrap()).collect()
}

#[test]
fn cells_are_listed_computed_one_by_one_and_collected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let rows = cells(root, "cache");
    assert!(rows.iter().all(|r| r["cached"] == false && r["id"].as_str().unwrap().len() == 32));
    // table1's cells are fig4's: the same ids, marked as such.
    let fig4 = ids_of(&rows, "fig4");
    for r in rows.iter().filter(|r| r["figure"] == "table1") {
        assert_eq!(r["cell_of"], "fig4");
        assert!(fig4.contains(&r["id"].as_str().unwrap()), "{r}");
    }
    // fig3 reads the model of one of fig2's cells.
    let fig2 = ids_of(&rows, "fig2");
    let needs: Vec<&Value> =
        rows.iter().filter(|r| r["figure"] == "fig3").flat_map(|r| r["needs"].as_array().unwrap()).collect();
    assert!(
        !needs.is_empty()
            && needs.iter().all(|n| n["figure"] == "fig2" && fig2.contains(&n["id"].as_str().unwrap()))
    );

    // Nothing cached: --collect computes nothing, lists every missing cell and fails.
    let only = ["--profile", "smoke", "--only", "fig1a", "--cache", "cache", "--quiet"];
    let collect = |out: &'static str| [&["reproduce", "--collect", "--out", out][..], &only[..]].concat();
    let (success, out, err) = cfm(root, &collect("collected"));
    assert!(!success, "{out}{err}");
    let mine = ids_of(&rows, "fig1a");
    for id in &mine {
        assert!(out.contains(&format!("missing: fig1a {id}")), "{id} not listed:\n{out}");
    }
    assert!(!root.join("collected/data/fig1a.csv").exists());

    // Each cell computed on its own, once.
    for id in &mine {
        let text = ok(root, &["cell", "fig1a", id, "--profile", "smoke", "--cache", "cache", "--quiet"]);
        assert!(text.contains("computed"), "{text}");
    }
    let again = ok(root, &["cell", "fig1a", mine[0], "--profile", "smoke", "--cache", "cache", "--quiet"]);
    assert!(again.contains("cached"), "{again}");
    assert!(cells(root, "cache").iter().filter(|r| r["figure"] == "fig1a").all(|r| r["cached"] == true));
    let (success, _, err) = cfm(root, &["cell", "fig1a", "0123", "--profile", "smoke", "--cache", "cache"]);
    assert!(!success && err.contains("has no cell '0123'"), "{err}");

    // All cached: --collect writes the table a normal run writes, byte for byte.
    ok(root, &collect("collected"));
    ok(
        root,
        &[
            "reproduce",
            "--profile",
            "smoke",
            "--only",
            "fig1a",
            "--cache",
            "other",
            "--out",
            "normal",
            "--quiet",
        ],
    );
    let read = |p: &str| std::fs::read(root.join(p)).unwrap();
    assert_eq!(read("collected/data/fig1a.csv"), read("normal/data/fig1a.csv"));
    assert!(root.join("collected/fig1a.svg").is_file() && root.join("collected/manifest.json").is_file());
}

#[test]
fn slurm_dry_run_orders_the_cells_that_read_others_and_passes_flags_through() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let args = [
        "slurm",
        "--profile",
        "smoke",
        "--only",
        "fig2",
        "fig3",
        "--cache",
        "cache",
        "--dry-run",
        "--partition",
        "gpu",
        "--gres",
        "gpu:1",
        "--throttle",
        "2",
        "--extra=--account=proj",
    ];
    let out = ok(root, &args);
    for part in [
        "cells to compute in 2 arrays",
        "--array=0-",
        "%2 ",
        "--partition=gpu",
        "--gres=gpu:1",
        "--account=proj",
        "\"--dependency=afterok:${job0}_",
        "--kill-on-invalid-dep=yes",
        "\"--dependency=afterany:${job0}:${job1}\"",
        " cell \"$fig\" \"$id\" --profile smoke --seed 0 --cache ",
        " reproduce --collect --profile smoke ",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }
    assert!(!root.join("cache/slurm").exists(), "a dry run wrote files");
}

/// The paper profile names the network each trained cell trains: the paper's 128-channel U-Net
/// on CIFAR-10, torchcfm's MNIST U-Net for Tables 1-2; and `--device cuda` on a build without
/// CUDA is refused with the fix, while `cfm data` says where it computes.
#[test]
fn paper_cells_name_their_network_and_the_device_is_stated_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (success, out, err) = cfm(root, &["cells", "--profile", "paper", "--cache", "cache", "--json"]);
    assert!(success, "{err}");
    let rows: Vec<Value> = serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone();
    let network = |figure: &str, label: &str| -> String {
        let row =
            rows.iter().find(|r| r["figure"] == figure && r["label"].as_str().unwrap().starts_with(label));
        row.unwrap_or_else(|| panic!("no {figure} cell {label}"))["network"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        network("fig4", "mnist CFM").starts_with("U-Net, 32 channels, multipliers [1, 2, 2], 1 residual")
    );
    assert!(network("fig4", "fashion-mnist EFM-128").starts_with("U-Net, 32 channels"));
    assert!(network("fig4", "cifar10 CFM").starts_with("U-Net, 128 channels, multipliers [1, 2, 2, 2]"));
    assert!(rows.iter().filter(|r| r["figure"] == "fig1a").all(|r| r["network"].is_null()));
    let text = ok(root, &["cells", "--profile", "paper", "--cache", "cache"]);
    assert!(text.contains("U-Net, 32 channels"), "{text}");

    // `cfm data` exits 1 when a dataset of the paper profile is missing, as here: read its output.
    let (_, out, _) = cfm(root, &["data"]);
    assert!(out.contains("computes on: CPU ("), "{out}");
    let (success, out, err) = cfm(root, &["--device", "cuda", "data"]);
    if cfg!(feature = "cuda") {
        assert!(out.contains("computes on: CUDA") || err.contains("no usable CUDA device"), "{out}{err}");
    } else {
        assert!(!success && err.contains("built without CUDA") && err.contains("--features cuda"), "{err}");
    }
    let (_, out, _) = cfm(root, &["data", "--device", "cpu"]);
    assert!(out.contains("computes on: CPU ("), "{out}");
}
