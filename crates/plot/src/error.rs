//! The plot crate's error type.

use plotters::drawing::DrawingAreaErrorKind;

/// What can go wrong while rendering a results table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No renderer exists for this figure id.
    #[error("no renderer for figure '{id}': known figures are {known}")]
    UnknownFigure { id: String, known: String },
    /// The table lacks columns the renderer reads.
    #[error("{figure}: the results table has no column {} (it has: {present}); regenerate it with `cfm run {figure}`", quoted(.missing))]
    MissingColumns { figure: &'static str, missing: Vec<String>, present: String },
    /// The table lacks rows the renderer needs, or holds values it cannot draw.
    #[error("{figure}: {msg}")]
    Malformed { figure: &'static str, msg: String },
    /// Reading a column failed (e.g. text where numbers are expected).
    #[error("{figure}: column '{column}': {source}")]
    Column {
        figure: &'static str,
        column: String,
        #[source]
        source: cfm_study::Error,
    },
    /// The figure's view could not be read from the table (missing columns or rows).
    #[error(transparent)]
    Study(#[from] cfm_study::Error),
    /// The SVG backend failed.
    #[error("drawing the SVG: {0}")]
    Draw(#[from] DrawingAreaErrorKind<std::io::Error>),
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

impl Error {
    /// An [`Error::Malformed`] for `figure`.
    pub fn malformed(figure: &'static str, msg: impl Into<String>) -> Self {
        Error::Malformed { figure, msg: msg.into() }
    }
}

/// The plot crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
