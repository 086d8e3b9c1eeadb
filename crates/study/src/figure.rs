//! The interface every figure module implements, and the unit of work it is split into.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Context, Error, Profile, Result};

/// One independent piece of a figure's work (a dataset, a model, a grid point): run once,
/// cached by the hash of its configuration, and concatenated with the others into the figure's
/// results table.
#[derive(Clone, Debug)]
pub struct CellSpec {
    /// Short human-readable name (`"two-moons"`, `"n=1000"`).
    pub label: String,
    /// The cell's full configuration; its hash is the cache key.
    pub config: serde_json::Value,
    /// Estimated cost in seconds on 2 cores (for `--dry-run`).
    pub cost: f64,
}

impl CellSpec {
    /// A cell whose configuration is `config`.
    pub fn new<T: Serialize>(label: impl Into<String>, config: &T, cost: f64) -> Self {
        let config = serde_json::to_value(config).expect("cell configurations serialise");
        Self { label: label.into(), config, cost }
    }

    /// The configuration back as its type.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| Error::invalid(format!("cell {}: bad configuration: {e}", self.label)))
    }
}

/// A figure of the study: its cells and how to compute one.
pub trait Figure: Sync {
    /// Identifier used on the command line and in file names (`fig1a`).
    fn id(&self) -> &'static str;
    /// One-line title.
    fn title(&self) -> &'static str;
    /// What the paper shows in this figure (empty for figures beyond the paper).
    fn paper(&self) -> &'static str {
        ""
    }
    /// Caption: what is plotted, how it was computed, and what stands in for the paper's data
    /// or metrics at this profile.
    fn caption(&self, profile: Profile) -> String;
    /// Bumped whenever the computation of a cell changes, so that cached cells are recomputed.
    fn revision(&self) -> u32;
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
    /// The cells of this figure at `ctx.profile`.
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>>;
    /// Computes one cell: its rows of the results table.
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame>;
    /// Rows derived from all cells together (fits, summaries), appended to the table. None by default.
    fn summarize(&self, _table: &DataFrame) -> Result<Option<DataFrame>> {
        Ok(None)
    }
}
