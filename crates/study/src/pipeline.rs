//! Runs a figure: its cells, each cached under the hash of its configuration, concatenated into
//! the figure's results table.
//!
//! A finished cell is written atomically to `<cache>/cells/<figure>/<hash>.csv` with a small
//! `<hash>.json` beside it (label, configuration, compute time, row count and the SHA-256 of
//! the CSV bytes). A cached cell is used only when its bytes hash to what its metadata says and
//! it has the rows the plan implies; otherwise it is recomputed, with a one-line warning. An
//! interrupted run therefore resumes from the cells it finished, and a rerun with nothing
//! changed computes nothing. A computed cell is checked (the figure's columns, the planned row
//! count) before it is cached.
//!
//! Cells whose datasets are missing are NOT RUN: the figure's table holds the others, and the
//! run lists them with the fix. Cells run `Context::jobs` at a time, each on its share of the
//! cores (its own thread pool of `cores / jobs` threads; results do not depend on it); the
//! table is assembled in cell order.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cfm_core::datasets::DataFile;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

use crate::figure::{CellSpec, Figure, cells};
use crate::manifest::NotRun;
use crate::table::{parse_csv, to_csv};
use crate::{Context, Error, Result};

/// The outcome of running one figure.
#[derive(Debug)]
pub struct FigureRun {
    /// The figure's results table (all cells that ran, in cell order), when any ran.
    pub table: Option<DataFrame>,
    /// Number of cells.
    pub cells: usize,
    /// How many came from the cache.
    pub cached: usize,
    /// The cells that did not run, and why.
    pub not_run: Vec<NotRun>,
    /// Seconds the cells took when they were computed (cached ones included).
    pub compute_s: f64,
    /// Hash of the figure's whole configuration (all cell hashes).
    pub config_hash: String,
    /// The data files the cells read.
    pub data_files: Vec<DataFile>,
}

/// One line of `--dry-run` and `cfm cells`.
#[derive(Debug)]
pub struct PlannedCell {
    /// The cell.
    pub spec: CellSpec,
    /// Its cache key.
    pub hash: String,
    /// Whether a verified cached result exists.
    pub cached: bool,
    /// Why it cannot run here, when a dataset is missing.
    pub missing: Option<NotRun>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CellMeta {
    figure: String,
    label: String,
    config: serde_json::Value,
    compute_s: f64,
    rows: usize,
    sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of a cell: SHA-256 of the canonical JSON of the figure's cache namespace,
/// revision, root seed and cell configuration (serde_json sorts object keys).
pub fn cell_hash(fig: &dyn Figure, ctx: &Context, cell: &CellSpec) -> String {
    let key = serde_json::json!({
        "figure": fig.cache_namespace(),
        "revision": fig.revision(),
        "seed": ctx.seed,
        "config": cell.config,
    });
    hex(&Sha256::digest(serde_json::to_vec(&key).expect("json"))[..16])
}

fn cell_paths(fig: &dyn Figure, ctx: &Context, cell: &CellSpec) -> (PathBuf, PathBuf) {
    let dir = ctx.cache_dir.join("cells").join(fig.cache_namespace());
    let h = cell_hash(fig, ctx, cell);
    (dir.join(format!("{h}.csv")), dir.join(format!("{h}.json")))
}

/// Why `cell` cannot run here (a dataset it reads is missing), if it cannot.
fn missing(ctx: &Context, cell: &CellSpec) -> Option<NotRun> {
    cell.data.iter().find_map(|&d| {
        ctx.data.locate(d).err().map(|e| NotRun {
            cell: cell.label.clone(),
            dataset: d.name().into(),
            reason: e.to_string(),
        })
    })
}

/// The cells `run_figure` would run, with their cache keys, cache status and missing data.
pub fn plan(fig: &dyn Figure, ctx: &Context) -> Result<Vec<PlannedCell>> {
    Ok(cells(fig, ctx)?
        .into_iter()
        .map(|spec| {
            let cached = matches!(load_cached(fig, ctx, &spec), Cached::Valid(..));
            PlannedCell { hash: cell_hash(fig, ctx, &spec), cached, missing: missing(ctx, &spec), spec }
        })
        .collect())
}

fn bar(mp: &MultiProgress, ctx: &Context, len: u64, template: &str) -> ProgressBar {
    if !ctx.progress {
        return ProgressBar::hidden();
    }
    let b = mp.add(ProgressBar::new(len));
    b.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    b
}

/// What the cache holds for a cell.
enum Cached {
    /// A verified table and its compute time.
    Valid(DataFrame, f64),
    /// Nothing.
    Absent,
    /// Something that fails verification, and what.
    Corrupt(String),
}

/// A cell's cached table, verified against its metadata and the plan.
fn load_cached(fig: &dyn Figure, ctx: &Context, cell: &CellSpec) -> Cached {
    let (csv, meta_path) = cell_paths(fig, ctx, cell);
    if !(csv.exists() && meta_path.exists()) {
        return Cached::Absent;
    }
    let check = || -> std::result::Result<(DataFrame, f64), String> {
        let meta = std::fs::read(&meta_path).map_err(|e| e.to_string())?;
        let meta: CellMeta = serde_json::from_slice(&meta).map_err(|e| format!("metadata: {e}"))?;
        let bytes = std::fs::read(&csv).map_err(|e| e.to_string())?;
        if hex(&Sha256::digest(&bytes)) != meta.sha256 {
            return Err("its bytes do not match their recorded SHA-256 (truncated or altered)".into());
        }
        let df = parse_csv(&bytes).map_err(|e| e.to_string())?;
        validate(fig, cell, &df).map_err(|e| e.to_string())?;
        Ok((df, meta.compute_s))
    };
    match check() {
        Ok((df, secs)) => Cached::Valid(df, secs),
        Err(why) => Cached::Corrupt(format!("{}: {why}", csv.display())),
    }
}

/// Checks a cell's table against the figure's columns and the rows the plan implies.
fn validate(fig: &dyn Figure, cell: &CellSpec, df: &DataFrame) -> Result<()> {
    let names: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
    if names != fig.columns() {
        return Err(Error::invalid(format!(
            "{} cell {}: columns {names:?}, expected {:?}",
            fig.id(),
            cell.label,
            fig.columns()
        )));
    }
    if df.height() != cell.rows {
        return Err(Error::invalid(format!(
            "{} cell {}: {} rows, the plan implies {}",
            fig.id(),
            cell.label,
            df.height(),
            cell.rows
        )));
    }
    Ok(())
}

/// Computes one cell on a pool of `threads` threads and writes it to the cache (table, then
/// its metadata, each atomically).
fn compute_cell(
    fig: &dyn Figure,
    ctx: &Context,
    cell: &CellSpec,
    threads: usize,
    mp: &MultiProgress,
) -> Result<(DataFrame, f64)> {
    let (csv, meta_path) = cell_paths(fig, ctx, cell);
    let cell_bar = bar(mp, ctx, 1, "{prefix:>10} {spinner} {msg} [{bar:20}] {pos}/{len} (ETA {eta})");
    cell_bar.set_message(cell.label.clone());
    let start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::invalid(format!("cannot start {threads} threads: {e}")))?;
    let df = pool.install(|| fig.run_cell(ctx, cell, &cell_bar)).map_err(|e| Error::Cell {
        figure: fig.id().into(),
        cell: cell.label.clone(),
        source: Box::new(e),
    })?;
    let secs = start.elapsed().as_secs_f64();
    cell_bar.finish_and_clear();
    validate(fig, cell, &df)?;
    let bytes = to_csv(&df)?;
    cfm_core::io::write_atomic(&csv, &bytes)?;
    let meta = CellMeta {
        figure: fig.id().into(),
        label: cell.label.clone(),
        config: cell.config.clone(),
        compute_s: secs,
        rows: df.height(),
        sha256: hex(&Sha256::digest(&bytes)),
    };
    let bytes = serde_json::to_vec_pretty(&meta)
        .map_err(|e| Error::Json { path: meta_path.clone(), msg: e.to_string() })?;
    cfm_core::io::write_atomic(&meta_path, &bytes)?;
    Ok((df, secs))
}

/// How many cells of `fig` run at once: `ctx.jobs`, or one for a figure of timings.
pub fn jobs(fig: &dyn Figure, ctx: &Context) -> usize {
    if fig.timings() { 1 } else { ctx.jobs.max(1) }
}

/// Computes the cells `todo` (indices into `cells`), [`jobs`] at a time, each on
/// `cores / jobs` threads. The first runs alone on all cores, so that what cells share (a
/// dataset, the feature classifier) is built and cached once. Each cell derives its randomness
/// from its own label, so the results do not depend on the order, on `jobs` or on the threads.
/// On an error the cells under way finish (and are cached), no new one starts, and the error
/// of the earliest failed cell is returned.
fn compute_cells(
    fig: &dyn Figure,
    ctx: &Context,
    cells: &[CellSpec],
    todo: &[usize],
    mp: &MultiProgress,
    fig_bar: &ProgressBar,
) -> Result<Vec<(usize, (DataFrame, f64))>> {
    let Some((&first, rest)) = todo.split_first() else { return Ok(Vec::new()) };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = Mutex::new(vec![(first, compute_cell(fig, ctx, &cells[first], cores, mp)?)]);
    fig_bar.inc((cells[first].cost * 1000.0).ceil() as u64);
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    let workers = jobs(fig, ctx).clamp(1, rest.len().max(1));
    let threads = (cores / workers).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while failures.lock().expect("no panic while held").is_empty() {
                    let Some(&i) = rest.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                    match compute_cell(fig, ctx, &cells[i], threads, mp) {
                        Ok(r) => {
                            fig_bar.inc((cells[i].cost * 1000.0).ceil() as u64);
                            done.lock().expect("no panic while held").push((i, r));
                        }
                        Err(e) => failures.lock().expect("no panic while held").push((i, e)),
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("threads joined");
    failures.sort_by_key(|(i, _)| *i);
    if let Some((_, e)) = failures.into_iter().next() {
        return Err(e);
    }
    Ok(done.into_inner().expect("threads joined"))
}

/// Runs one cell (by label) into the cache, unless a verified result is there; returns whether
/// it computed anything.
pub fn run_cell(fig: &dyn Figure, ctx: &Context, label: &str, mp: &MultiProgress) -> Result<bool> {
    let cells = cells(fig, ctx)?;
    let cell =
        cells.iter().find(|c| c.label == label || cell_hash(fig, ctx, c) == label).ok_or_else(|| {
            Error::invalid(format!(
                "{} has no cell '{label}' at the {} profile (see `cfm cells`)",
                fig.id(),
                ctx.profile
            ))
        })?;
    if let Some(m) = missing(ctx, cell) {
        return Err(Error::invalid(format!("{} cell {}: {}", fig.id(), cell.label, m.reason)));
    }
    match load_cached(fig, ctx, cell) {
        Cached::Valid(..) => Ok(false),
        Cached::Corrupt(why) => {
            warn(mp, &why);
            compute_cell(fig, ctx, cell, std::thread::available_parallelism().map_or(1, |n| n.get()), mp)?;
            Ok(true)
        }
        Cached::Absent => {
            compute_cell(fig, ctx, cell, std::thread::available_parallelism().map_or(1, |n| n.get()), mp)?;
            Ok(true)
        }
    }
}

fn warn(mp: &MultiProgress, why: &str) {
    mp.suspend(|| eprintln!("warning: cached cell recomputed: {why}"));
}

/// Runs (or loads from the cache) every cell of `fig` whose data are present and concatenates
/// their tables.
pub fn run_figure(fig: &dyn Figure, ctx: &Context, mp: &MultiProgress) -> Result<FigureRun> {
    assemble(fig, ctx, mp, true).map(|(run, _)| run)
}

/// What [`collect_figure`] could not find in the cache: cell labels.
pub type Uncached = Vec<String>;

/// Assembles `fig`'s table from the cache alone: computes nothing; the cells not cached are
/// listed.
pub fn collect_figure(fig: &dyn Figure, ctx: &Context) -> Result<(FigureRun, Uncached)> {
    assemble(fig, ctx, &MultiProgress::new(), false)
}

fn assemble(
    fig: &dyn Figure,
    ctx: &Context,
    mp: &MultiProgress,
    compute: bool,
) -> Result<(FigureRun, Uncached)> {
    let cells = cells(fig, ctx)?;
    if cells.is_empty() {
        return Err(Error::invalid(format!("{} has no cells at the {} profile", fig.id(), ctx.profile)));
    }
    let mut hasher = Sha256::new();
    for cell in &cells {
        hasher.update(cell_hash(fig, ctx, cell).as_bytes());
    }
    let not_run: Vec<NotRun> = cells.iter().filter_map(|c| missing(ctx, c)).collect();
    let runnable: Vec<usize> =
        (0..cells.len()).filter(|&i| !not_run.iter().any(|m| m.cell == cells[i].label)).collect();
    let total_cost: f64 = runnable.iter().map(|&i| cells[i].cost).sum();
    let fig_bar = bar(
        mp,
        ctx,
        (total_cost * 1000.0).ceil() as u64,
        "{prefix:>10} [{bar:30}] {percent:>3}% {msg} (ETA {eta})",
    );
    fig_bar.set_prefix(fig.id());
    let mut results: Vec<Option<(DataFrame, f64)>> = vec![None; cells.len()];
    for &i in &runnable {
        match load_cached(fig, ctx, &cells[i]) {
            Cached::Valid(df, secs) => {
                results[i] = Some((df, secs));
                fig_bar.inc((cells[i].cost * 1000.0).ceil() as u64);
            }
            Cached::Corrupt(why) if compute => warn(mp, &why),
            _ => {}
        }
    }
    let cached = results.iter().filter(|r| r.is_some()).count();
    let todo: Vec<usize> = runnable.iter().copied().filter(|&i| results[i].is_none()).collect();
    let uncached: Uncached = if compute {
        for (i, r) in compute_cells(fig, ctx, &cells, &todo, mp, &fig_bar)? {
            results[i] = Some(r);
        }
        Vec::new()
    } else {
        todo.iter().map(|&i| cells[i].label.clone()).collect()
    };
    fig_bar.finish_and_clear();
    let mut read: Vec<_> = runnable.iter().flat_map(|&i| cells[i].data.iter().copied()).collect();
    read.sort();
    read.dedup();
    let data_files = read.into_iter().filter_map(|d| ctx.data.locate(d).ok()).flat_map(|l| l.files).collect();
    let (mut tables, mut compute_s) = (Vec::new(), 0.0);
    for (df, secs) in results.into_iter().flatten() {
        compute_s += secs;
        tables.push(df);
    }
    let table = if tables.is_empty() || !uncached.is_empty() {
        None
    } else {
        let mut table = tables.remove(0);
        for t in &tables {
            table
                .vstack_mut(t)
                .map_err(|e| Error::invalid(format!("{}: cells disagree on columns: {e}", fig.id())))?;
        }
        if let Some(extra) = fig.summarize(&table)? {
            table.vstack_mut(&extra)?;
        }
        table.rechunk_mut();
        Some(table)
    };
    let run = FigureRun {
        table,
        cells: cells.len(),
        cached,
        not_run,
        compute_s,
        config_hash: hex(&hasher.finalize()[..16]),
        data_files,
    };
    Ok((run, uncached))
}
