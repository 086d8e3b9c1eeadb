//! Runs a figure: its cells, each cached under the hash of its configuration, concatenated into
//! the figure's results table.
//!
//! A finished cell is written atomically to `<cache>/cells/<figure>/<hash>.csv` with a small
//! `<hash>.json` beside it (label, configuration, compute time). An interrupted run therefore
//! resumes from the cells it finished, and a rerun with nothing changed computes nothing.
//! Cells run `Context::jobs` at a time; the table is assembled in cell order.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

use crate::figure::{CellSpec, Figure};
use crate::table::{read_csv, write_csv};
use crate::{Context, Error, Result};

/// The outcome of running one figure.
#[derive(Debug)]
pub struct FigureRun {
    /// The figure's results table (all cells, in cell order).
    pub table: DataFrame,
    /// Number of cells.
    pub cells: usize,
    /// How many came from the cache.
    pub cached: usize,
    /// Seconds the cells took when they were computed (cached ones included).
    pub compute_s: f64,
    /// Hash of the figure's whole configuration (all cell hashes).
    pub config_hash: String,
}

/// One line of `--dry-run`.
#[derive(Debug)]
pub struct PlannedCell {
    /// The cell's label.
    pub label: String,
    /// Its estimated cost in seconds.
    pub cost: f64,
    /// Whether a cached result exists.
    pub cached: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CellMeta {
    figure: String,
    label: String,
    config: serde_json::Value,
    compute_s: f64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of a cell: SHA-256 of the canonical JSON of the figure's cache namespace,
/// revision, root seed
/// and cell configuration (serde_json sorts object keys).
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

/// The cells `run_figure` would run, with their costs and cache status.
pub fn plan(fig: &dyn Figure, ctx: &Context) -> Result<Vec<PlannedCell>> {
    Ok(fig
        .cells(ctx)?
        .into_iter()
        .map(|c| {
            let (csv, meta) = cell_paths(fig, ctx, &c);
            PlannedCell { cached: csv.exists() && meta.exists(), label: c.label, cost: c.cost }
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

/// A cell's cached table and compute time, if a readable entry exists.
fn load_cached(fig: &dyn Figure, ctx: &Context, cell: &CellSpec) -> Option<(DataFrame, f64)> {
    let (csv, meta_path) = cell_paths(fig, ctx, cell);
    if !(csv.exists() && meta_path.exists()) {
        return None;
    }
    let meta: CellMeta = serde_json::from_slice(&std::fs::read(&meta_path).ok()?).ok()?;
    // An unreadable entry is recomputed and overwritten.
    read_csv(&csv).ok().map(|df| (df, meta.compute_s))
}

/// Computes one cell and writes it to the cache (table, then its metadata, each atomically).
fn compute_cell(
    fig: &dyn Figure,
    ctx: &Context,
    cell: &CellSpec,
    mp: &MultiProgress,
) -> Result<(DataFrame, f64)> {
    let (csv, meta_path) = cell_paths(fig, ctx, cell);
    let cell_bar = bar(mp, ctx, 1, "{prefix:>10} {spinner} {msg} [{bar:20}] {pos}/{len} (ETA {eta})");
    cell_bar.set_prefix("");
    cell_bar.set_message(cell.label.clone());
    let start = Instant::now();
    let df = fig.run_cell(ctx, cell, &cell_bar)?;
    let secs = start.elapsed().as_secs_f64();
    cell_bar.finish_and_clear();
    write_csv(&csv, &df)?;
    let meta = CellMeta {
        figure: fig.id().into(),
        label: cell.label.clone(),
        config: cell.config.clone(),
        compute_s: secs,
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

/// Computes the cells `todo` (indices into `cells`), [`jobs`] at a time. The first runs
/// alone, so that what cells share (a dataset, the feature classifier) is built and cached
/// once. Each cell derives its randomness from its own label, so the results do not depend on
/// the order or on `jobs`. On an error the cells under way finish (and are cached), no new one
/// starts, and the error of the earliest failed cell is returned.
fn compute_cells(
    fig: &dyn Figure,
    ctx: &Context,
    cells: &[CellSpec],
    todo: &[usize],
    mp: &MultiProgress,
    fig_bar: &ProgressBar,
) -> Result<Vec<(usize, (DataFrame, f64))>> {
    let Some((&first, rest)) = todo.split_first() else { return Ok(Vec::new()) };
    let done = Mutex::new(vec![(first, compute_cell(fig, ctx, &cells[first], mp)?)]);
    fig_bar.inc((cells[first].cost * 1000.0).ceil() as u64);
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs(fig, ctx).clamp(1, rest.len().max(1)) {
            scope.spawn(|| {
                while failures.lock().expect("no panic while held").is_empty() {
                    let Some(&i) = rest.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                    match compute_cell(fig, ctx, &cells[i], mp) {
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

/// Runs (or loads from the cache) every cell of `fig` and concatenates their tables.
pub fn run_figure(fig: &dyn Figure, ctx: &Context, mp: &MultiProgress) -> Result<FigureRun> {
    let cells = fig.cells(ctx)?;
    if cells.is_empty() {
        return Err(Error::invalid(format!("{} has no cells at the {} profile", fig.id(), ctx.profile)));
    }
    let total_cost: f64 = cells.iter().map(|c| c.cost).sum();
    let fig_bar = bar(
        mp,
        ctx,
        (total_cost * 1000.0).ceil() as u64,
        "{prefix:>10} [{bar:30}] {percent:>3}% {msg} (ETA {eta})",
    );
    fig_bar.set_prefix(fig.id());
    let mut hasher = Sha256::new();
    for cell in &cells {
        hasher.update(cell_hash(fig, ctx, cell).as_bytes());
    }
    let mut results: Vec<Option<(DataFrame, f64)>> = cells.iter().map(|c| load_cached(fig, ctx, c)).collect();
    let cached = results.iter().filter(|r| r.is_some()).count();
    let todo: Vec<usize> = (0..cells.len()).filter(|&i| results[i].is_none()).collect();
    for (cell, _) in cells.iter().zip(&results).filter(|(_, r)| r.is_some()) {
        fig_bar.inc((cell.cost * 1000.0).ceil() as u64);
    }
    for (i, r) in compute_cells(fig, ctx, &cells, &todo, mp, &fig_bar)? {
        results[i] = Some(r);
    }
    let (mut tables, mut compute_s) = (Vec::with_capacity(cells.len()), 0.0);
    for (df, secs) in results.into_iter().map(|r| r.expect("every cell loaded or computed")) {
        compute_s += secs;
        tables.push(df);
    }
    fig_bar.finish_and_clear();
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
    Ok(FigureRun { table, cells: cells.len(), cached, compute_s, config_hash: hex(&hasher.finalize()[..16]) })
}
