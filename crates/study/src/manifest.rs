//! `figures/manifest.json`: for each figure, how its numbers were made (profile, seed, config
//! hash, git commit, crate versions, threads, compute time).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Profile, Result};

/// Provenance of one figure's results table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FigureEntry {
    /// The figure's title.
    pub title: String,
    /// Profile it was run at.
    pub profile: Profile,
    /// Root seed.
    pub seed: u64,
    /// Hash of all its cells' configurations.
    pub config_hash: String,
    /// Number of cells.
    pub cells: usize,
    /// `git rev-parse` of the code that ran, with "+modified" when the code had local changes.
    pub git_commit: String,
    /// Versions of this suite and of the main crates it is built on.
    pub crate_versions: BTreeMap<String, String>,
    /// Threads of the compute pool.
    pub threads: usize,
    /// Processor model and logical cores of the machine that ran it.
    #[serde(default)]
    pub machine: String,
    /// Where it computed (`CPU (2 threads)`, or the CUDA device and its name).
    #[serde(default)]
    pub device: String,
    /// Seconds the cells took to compute, summed over cells (cached ones at the time they
    /// were computed).
    pub wall_time_s: f64,
    /// Cells of the figure computed at once.
    #[serde(default = "one")]
    pub jobs: usize,
    /// The figure whose cells this one reads from the cache (its compute time is counted there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells_of: Option<String>,
    /// Cells that did not run (a dataset's files are missing), with the fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<NotRun>,
    /// Every data file the figure read, with its SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_files: Vec<cfm_core::datasets::DataFile>,
}

/// A cell that did not run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NotRun {
    /// The cell's label.
    pub cell: String,
    /// The dataset that is missing (its table name, e.g. `fashion-mnist`).
    pub dataset: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

fn one() -> usize {
    1
}

/// The manifest: one entry per figure produced so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Entries by figure id.
    pub figures: BTreeMap<String, FigureEntry>,
}

impl Manifest {
    /// Reads `path`; an absent file is an empty manifest.
    pub fn load(path: &Path) -> Result<Manifest> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Json { path: path.into(), msg: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes the manifest atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("manifest serialises");
        bytes.push(b'\n');
        Ok(cfm_core::io::write_atomic(path, &bytes)?)
    }
}

/// Versions of this suite and of its main dependencies, read from the `Cargo.lock` it was built with.
pub fn crate_versions() -> BTreeMap<String, String> {
    const LOCK: &str = include_str!("../../../Cargo.lock");
    const NAMES: [&str; 8] =
        ["candle-core", "faer", "gemm", "nalgebra", "plotters", "polars", "rand_chacha", "lsap"];
    let mut out = BTreeMap::new();
    out.insert("cfm".to_string(), env!("CARGO_PKG_VERSION").to_string());
    let mut name = None;
    for line in LOCK.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name) {
            if NAMES.contains(&n) {
                out.insert(n.to_string(), v.trim_matches('"').to_string());
            }
            name = None;
        }
    }
    out
}

/// The processor model (from `/proc/cpuinfo` where there is one) and the logical core count.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} logical cores, {}", std::env::consts::OS)
}

/// The git commit of the working tree at `repo` (`"unknown"` outside a git checkout).
pub fn git_commit(repo: &Path) -> String {
    let run = |args: &[&str]| std::process::Command::new("git").args(args).current_dir(repo).output().ok();
    let Some(head) = run(&["rev-parse", "--short=12", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown".into();
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let code = ["crates", "benches", "Cargo.toml", "Cargo.lock"];
    let mut diff = vec!["diff", "--quiet", "HEAD", "--"];
    diff.extend(code);
    match run(&diff) {
        Some(o) if o.status.code() == Some(1) => format!("{head}+modified"),
        _ => head,
    }
}
