//! The plot crate's error type.

use plotters::drawing::DrawingAreaErrorKind;

/// What can go wrong while rendering a results table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No renderer exists for this figure id.
    #[error("no renderer for figure '{id}': known figures are {known}")]
    UnknownFigure { id: String, known: String },
    /// The view holds nothing the renderer can draw (no finite value in a panel).
    #[error("{figure}: {msg}")]
    Malformed { figure: &'static str, msg: String },
    /// The figure's view could not be read from the table (missing columns or rows).
    #[error(transparent)]
    Study(#[from] cfm_study::Error),
    /// The SVG backend failed.
    #[error("drawing the SVG: {0}")]
    Draw(#[from] DrawingAreaErrorKind<std::io::Error>),
}

impl Error {
    /// An [`Error::Malformed`] for `figure`.
    pub fn malformed(figure: &'static str, msg: impl Into<String>) -> Self {
        Error::Malformed { figure, msg: msg.into() }
    }
}

/// The plot crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
