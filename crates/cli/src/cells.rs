//! `cfm cells` and `cfm cell`: the cells of the study, addressable one by one.
//!
//! A cell's id is its cache key ([`pipeline::cell_hash`]: the hash of its figure's cache
//! namespace, revision, root seed and configuration). Figures that share a cache namespace
//! share cells: table1's cells are fig4's (same ids), listed under both figures with a note
//! and computed once. `cfm cell FIG ID` computes exactly one cell into the cache (nothing when
//! a verified result is there), which is what each task of `cfm slurm` runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use cfm_core::datasets::DataDirs;
use cfm_study::figure::{CellSpec, cells};
use cfm_study::{Context, Figure, Profile, figures, pipeline};
use indicatif::MultiProgress;

/// The scale and seed (with a cell's configuration, they make its id) and where cells live.
#[derive(clap::Args, Clone, Debug)]
pub struct Store {
    /// Scale of the run.
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    /// Root seed (part of every cell's id).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A directory with the datasets (looked up before $CFM_DATA_DIR and /usr/share/datasets).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Cache of finished cells and trained models.
    #[arg(long, default_value = ".cfm-cache")]
    pub cache: PathBuf,
}

impl Store {
    /// The context the cells run in (progress bars hidden).
    pub fn context(&self) -> Context {
        Context {
            seed: self.seed,
            data: DataDirs::standard(self.data_dir.as_deref()),
            ..Context::new(self.profile, self.cache.clone())
        }
    }
}

/// The cells of some figures: a [`Store`] and a selection of figures.
#[derive(clap::Args, Clone, Debug)]
pub struct Scope {
    #[command(flatten)]
    pub store: Store,
    /// Only these figures (ids as printed by `cfm list`).
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
}

impl Scope {
    /// The selected figures, in the order of `cfm list`.
    pub fn figures(&self) -> Result<Vec<&'static dyn Figure>> {
        if self.only.is_empty() {
            return Ok(figures::all());
        }
        self.only.iter().map(|id| Ok(figures::get(id)?)).collect()
    }
}

/// Options of `cells`.
#[derive(clap::Args)]
pub struct CellsArgs {
    #[command(flatten)]
    scope: Scope,
    /// Print JSON (one object per cell) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `cell`.
#[derive(clap::Args)]
pub struct CellArgs {
    /// The figure (as printed by `cfm list`).
    figure: String,
    /// The cell's id (as printed by `cfm cells`) or its label.
    id: String,
    #[command(flatten)]
    store: Store,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

/// A cell another cell reads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Need {
    /// Its figure.
    pub figure: &'static str,
    /// Its id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its figure's cache namespace (with `id`, what identifies it).
    #[serde(skip)]
    pub namespace: &'static str,
}

/// One cell as `cfm cells` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// The figure.
    pub figure: &'static str,
    /// The cell's id: its cache key.
    pub id: String,
    /// Its label within the figure.
    pub label: String,
    /// The network it trains, when it trains one (`U-Net, 32 channels, ...`).
    pub network: Option<String>,
    /// Estimated cost in seconds (on 2 cores; the U-Net's on a GPU).
    pub cost_s: f64,
    /// Whether a verified result is in the cache.
    pub cached: bool,
    /// The dataset it reads that is missing here, when one is (the cell is NOT RUN).
    pub missing_data: Option<String>,
    /// Why it cannot run here and the fix, when a dataset is missing.
    pub not_run: Option<String>,
    /// The datasets it reads.
    pub data: Vec<String>,
    /// The cells of other figures it reads (their results or trained models): they run first.
    pub needs: Vec<Need>,
    /// The figure whose cell this is, when the figure shares another's cells (table1: fig4).
    pub cell_of: Option<&'static str>,
    /// The cache namespace (with `id`, what identifies the cell across figures).
    #[serde(skip)]
    pub namespace: &'static str,
}

impl Row {
    /// Whether the cell is to be computed: not cached, and its data present.
    pub fn to_run(&self) -> bool {
        !self.cached && self.not_run.is_none()
    }
}

/// Every cell of `figs` at `ctx`, in figure order then cell order, with what it needs.
pub fn rows(figs: &[&'static dyn Figure], ctx: &Context) -> Result<Vec<Row>> {
    let mut specs: HashMap<&'static str, Vec<CellSpec>> = HashMap::new();
    let mut out = Vec::new();
    for &fig in figs {
        for planned in pipeline::plan(fig, ctx).with_context(|| format!("figure {}", fig.id()))? {
            let mut needs = Vec::new();
            let mut cell_of = None;
            for (other, label) in &planned.spec.after {
                let theirs = figures::get(other)?;
                if !specs.contains_key(other) {
                    specs.insert(other, cells(theirs, ctx)?);
                }
                let spec = specs[other].iter().find(|c| &c.label == label).with_context(|| {
                    format!(
                        "{} cell {} reads {other} cell {label}, which is not planned",
                        fig.id(),
                        planned.spec.label
                    )
                })?;
                let need = Need {
                    figure: theirs.id(),
                    id: pipeline::cell_hash(theirs, ctx, spec),
                    label: label.clone(),
                    namespace: theirs.cache_namespace(),
                };
                if (need.namespace, need.id.as_str()) == (fig.cache_namespace(), planned.hash.as_str()) {
                    cell_of = Some(need.figure);
                } else {
                    needs.push(need);
                }
            }
            if fig.cache_namespace() != fig.id() {
                cell_of = Some(fig.cache_namespace());
            }
            let network = planned
                .spec
                .config
                .get("train")
                .and_then(|t| serde_json::from_value::<cfm_nn::TrainConfig>(t.clone()).ok())
                .map(|t| cfm_study::figures::learned::describe(&t.model));
            out.push(Row {
                figure: fig.id(),
                id: planned.hash,
                label: planned.spec.label,
                network,
                cost_s: planned.spec.cost,
                cached: planned.cached,
                missing_data: planned.missing.as_ref().map(|m| m.dataset.clone()),
                not_run: planned.missing.map(|m| m.reason),
                data: planned.spec.data.iter().map(|d| d.name().to_string()).collect(),
                needs,
                cell_of,
                namespace: fig.cache_namespace(),
            });
        }
    }
    Ok(out)
}

/// A figure's line of the summary under `cfm cells`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Total {
    /// Its cells.
    pub cells: usize,
    /// How many are cached.
    pub cached: usize,
    /// Estimated hours of the cells still to run here.
    pub hours_to_run: f64,
    /// Estimated hours of all its cells (data present or not, cached or not).
    pub hours: f64,
}

/// Per figure, in order: its [`Total`] (a cell listed under two figures counts its hours under
/// the first).
pub fn totals(rows: &[Row]) -> Vec<(&'static str, Total)> {
    let mut out: Vec<(&'static str, Total)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        if out.last().is_none_or(|t| t.0 != r.figure) {
            out.push((r.figure, Total::default()));
        }
        let t = &mut out.last_mut().expect("pushed").1;
        t.cells += 1;
        t.cached += usize::from(r.cached);
        if seen.insert((r.namespace, r.id.as_str())) {
            t.hours += r.cost_s / 3600.0;
            if r.to_run() {
                t.hours_to_run += r.cost_s / 3600.0;
            }
        }
    }
    out
}

/// `cfm cells`: every cell of the selected figures, as a table or JSON.
pub fn list(a: &CellsArgs) -> Result<()> {
    let rows = rows(&a.scope.figures()?, &a.scope.store.context())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<11} {:<32} {:>10}  {:<8} label [needs]", "figure", "id", "cost (s)", "state");
    for r in &rows {
        let state = if r.cached {
            "cached"
        } else if r.not_run.is_some() {
            "NOT RUN"
        } else {
            "to run"
        };
        let mut notes: Vec<String> = r.needs.iter().map(|n| format!("after {} {}", n.figure, n.id)).collect();
        if let Some(f) = r.cell_of {
            notes.push(format!("{f}'s cell"));
        }
        if let Some(d) = &r.missing_data {
            notes.push(format!("{d} missing"));
        }
        if let Some(n) = &r.network {
            notes.push(n.clone());
        }
        let notes = if notes.is_empty() { String::new() } else { format!(" [{}]", notes.join("; ")) };
        println!("{:<11} {:<32} {:>10.1}  {state:<8} {}{notes}", r.figure, r.id, r.cost_s, r.label);
    }
    println!();
    println!(
        "{:<11} {:>6} {:>7} {:>14} {:>14}",
        "figure", "cells", "cached", "est. h to run", "est. h in all"
    );
    let mut sum = Total::default();
    for (fig, t) in totals(&rows) {
        println!("{fig:<11} {:>6} {:>7} {:>14.2} {:>14.2}", t.cells, t.cached, t.hours_to_run, t.hours);
        (sum.cells, sum.cached) = (sum.cells + t.cells, sum.cached + t.cached);
        (sum.hours_to_run, sum.hours) = (sum.hours_to_run + t.hours_to_run, sum.hours + t.hours);
    }
    println!(
        "{:<11} {:>6} {:>7} {:>14.2} {:>14.2}",
        "total", sum.cells, sum.cached, sum.hours_to_run, sum.hours
    );
    let mut reported = std::collections::HashSet::new();
    for r in &rows {
        if let (Some(d), Some(why)) = (&r.missing_data, &r.not_run)
            && reported.insert(d)
        {
            println!("{d} missing: its cells are NOT RUN. {why}");
        }
    }
    Ok(())
}

/// `cfm cell FIG ID`: computes one cell into the cache, unless a verified result is there.
///
/// Under an exclusive lock on `<cache>/cells/<namespace>/<id>.lock`: the same cell asked for
/// twice at once (a submission made twice, a local run beside a cluster's) is computed once,
/// the second waits and then finds it cached.
pub fn run(a: &CellArgs) -> Result<()> {
    let fig = figures::get(&a.figure)?;
    let ctx = Context { progress: !a.quiet, ..a.store.context() };
    let id = cells(fig, &ctx)?
        .iter()
        .find(|c| c.label == a.id || pipeline::cell_hash(fig, &ctx, c) == a.id)
        .map(|c| pipeline::cell_hash(fig, &ctx, c))
        .with_context(|| {
            format!("{} has no cell '{}' at the {} profile (see `cfm cells`)", fig.id(), a.id, ctx.profile)
        })?;
    let lock = ctx.cache_dir.join("cells").join(fig.cache_namespace()).join(format!("{id}.lock"));
    let _lock = cfm_core::io::lock_exclusive(&lock)?;
    let start = Instant::now();
    let computed = pipeline::run_cell(fig, &ctx, &id, &MultiProgress::new())?;
    if computed {
        eprintln!("{} {id}: computed in {:.1} s", fig.id(), start.elapsed().as_secs_f64());
    } else {
        eprintln!("{} {id}: cached", fig.id());
    }
    Ok(())
}
