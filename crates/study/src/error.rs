//! The study crate's error type.

use std::path::PathBuf;

/// What can go wrong while running figures and checking claims.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the core: bad input data, unreadable dataset files, numerical preconditions.
    #[error(transparent)]
    Core(#[from] cfm_core::Error),
    /// From the network crate: training, checkpoints.
    #[error(transparent)]
    Nn(#[from] cfm_nn::Error),
    /// From polars: building, reading or writing a results table.
    #[error("results table: {0}")]
    Table(#[from] polars::error::PolarsError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cached cell or manifest could not be (de)serialised.
    #[error("{path}: {msg}")]
    Json { path: PathBuf, msg: String },
    /// A request that cannot be served: unknown figure, missing data directory, and the like.
    #[error("{0}")]
    Invalid(String),
    /// A results table lacks columns that its figure's view reads.
    #[error("{figure}: the results table has no column {} (it has: {present}); regenerate it with `cfm run {figure}`", quoted(.missing))]
    MissingColumns { figure: &'static str, missing: Vec<String>, present: String },
    /// A results table lacks rows that its figure's view needs, or holds values it cannot read.
    #[error("{figure}: {msg}")]
    Malformed { figure: &'static str, msg: String },
    /// Reading a column of a results table failed (e.g. text where numbers are expected).
    #[error("{figure}: column '{column}': {source}")]
    Column {
        figure: &'static str,
        column: String,
        #[source]
        source: Box<Error>,
    },
    /// A cell that failed, with the figure and the cell named.
    #[error("{figure} cell '{cell}': {source}")]
    Cell {
        figure: String,
        cell: String,
        #[source]
        source: Box<Error>,
    },
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// An [`Error::Malformed`] for `figure`.
    pub fn malformed(figure: &'static str, msg: impl Into<String>) -> Self {
        Error::Malformed { figure, msg: msg.into() }
    }
    /// An [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

/// The study crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
