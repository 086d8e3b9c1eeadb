//! What a figure is: one entry that holds every facet of it. Its plan per profile (from which
//! both its cells and its caption derive), how to compute one cell, its table's columns, the
//! claims it decides and the key numbers the report prints, all computed from the typed view
//! that its module reads its table into (`<id>::View::read`). `cfm-plot` draws that view,
//! `cfm-report` lays out what these methods return; neither computes a statistic of its own.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::claims::Claim;
use crate::{Context, Error, Profile, Result};
use cfm_core::datasets::ImageData;

/// One independent piece of a figure's work (a dataset, a model, a grid point): run once,
/// cached by the hash of its configuration, and concatenated with the others into the figure's
/// results table.
#[derive(Clone, Debug)]
pub struct CellSpec {
    /// Short human-readable name (`"two-moons"`, `"n=1000"`), unique within the figure.
    pub label: String,
    /// The cell's full configuration; its hash is the cache key.
    pub config: serde_json::Value,
    /// Estimated cost in seconds on 2 cores (for `--dry-run`).
    pub cost: f64,
    /// Rows of the results table the cell produces (checked before its table is cached, and
    /// when it is read back).
    pub rows: usize,
    /// Datasets the cell reads from disk: when one is missing the cell is NOT RUN, with the fix.
    pub data: Vec<ImageData>,
    /// Cells of other figures whose cached results (or trained models) this one reads:
    /// `(figure id, cell label)`. Run first by schedulers (`cfm slurm`); run on demand otherwise.
    pub after: Vec<(&'static str, String)>,
}

impl CellSpec {
    /// A cell whose configuration is `config`, producing `rows` rows.
    pub fn new<T: Serialize>(label: impl Into<String>, config: &T, cost: f64, rows: usize) -> Self {
        let config = serde_json::to_value(config).expect("cell configurations serialise");
        Self { label: label.into(), config, cost, rows, data: Vec::new(), after: Vec::new() }
    }

    /// The same cell, reading `data` (the digits ship with the build and need nothing).
    pub fn reading(mut self, data: impl IntoIterator<Item = ImageData>) -> Self {
        self.data.extend(data.into_iter().filter(|d| *d != ImageData::Digits));
        self.data.sort();
        self.data.dedup();
        self
    }

    /// The same cell, reading the result of cell `label` of figure `figure`.
    pub fn after(mut self, figure: &'static str, label: impl Into<String>) -> Self {
        self.after.push((figure, label.into()));
        self
    }

    /// The configuration back as its type.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| Error::invalid(format!("cell {}: bad configuration: {e}", self.label)))
    }
}

/// A hyperparameter of a figure's runs, beside the paper's value (the report's table).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// What it is (`learning rate`).
    pub name: String,
    /// The paper's value (`2e-4 (5000 warm-up steps)`), or `-`.
    pub paper: String,
    /// Ours at this profile.
    pub ours: String,
}

impl Setting {
    /// A row of the settings table.
    pub fn new(name: impl Into<String>, paper: impl Into<String>, ours: impl Into<String>) -> Self {
        Self { name: name.into(), paper: paper.into(), ours: ours.into() }
    }
}

/// A figure's plan at one profile: everything it will run. Its cells and its caption both
/// derive from it, so the caption cannot drift from what runs.
pub trait Plan {
    /// The cells, in table order.
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>>;
    /// What is plotted, how it was computed, and what stands in for the paper's data or
    /// metrics.
    fn caption(&self) -> String;
    /// The hyperparameters of the runs beside the paper's (empty when the figure trains nothing).
    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }
}

/// A small table of the numbers the report prints under a figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyTable {
    /// A sentence above the table (may be empty).
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows, already formatted.
    pub rows: Vec<Vec<String>>,
}

impl KeyTable {
    /// A table with `headers` and no rows yet.
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// A figure of the study.
pub trait Figure: Sync {
    /// Identifier used on the command line and in file names (`fig1a`).
    fn id(&self) -> &'static str;
    /// One-line title.
    fn title(&self) -> &'static str;
    /// What the paper shows in this figure; `None` for figures beyond the paper.
    fn paper(&self) -> Option<&'static str>;
    /// Bumped whenever the computation of a cell changes, so that cached cells are recomputed.
    fn revision(&self) -> u32;
    /// The columns of the results table, in order (constants of the figure's module).
    fn columns(&self) -> &'static [&'static str];
    /// Whose cell cache this figure uses: its own id, or the id of a figure whose cells it
    /// shares (same configurations, same `run_cell`), so that shared work is done once.
    fn cache_namespace(&self) -> &'static str {
        self.id()
    }
    /// Whether the figure's numbers are wall-clock timings (not reproducible bit for bit: the
    /// report's stable rendering leaves them out, and snapshots hold only their grid). Its
    /// cells run one at a time, whatever `Context::jobs`, so that they do not share the cores.
    fn timings(&self) -> bool {
        false
    }
    /// Whether the figure trains networks (slow; the CI runs those at the smoke profile only).
    fn trains(&self) -> bool {
        false
    }
    /// The plan at `profile`.
    fn plan(&self, profile: Profile) -> Box<dyn Plan>;
    /// Computes one cell: its rows of the results table.
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame>;
    /// Rows derived from all cells together (fits, summaries), appended to the table. None by default.
    fn summarize(&self, _table: &DataFrame) -> Result<Option<DataFrame>> {
        Ok(None)
    }
    /// The claims of the paper this figure's table decides.
    fn claims(&self) -> Vec<Claim> {
        Vec::new()
    }
    /// The key numbers of the table, for the report.
    fn key_numbers(&self, table: &DataFrame) -> Result<Vec<KeyTable>>;
}

/// The cells of `fig` at `ctx.profile`.
pub fn cells(fig: &dyn Figure, ctx: &Context) -> Result<Vec<CellSpec>> {
    fig.plan(ctx.profile).cells(ctx)
}

/// The caption of `fig` at `profile`.
pub fn caption(fig: &dyn Figure, profile: Profile) -> String {
    fig.plan(profile).caption()
}
