//! The error type of the crate. It wraps candle's and the core's errors and converts back into
//! [`cfm_core::Error`], so that a network can stand wherever the core expects a fallible field.

use std::path::PathBuf;

/// Everything that can go wrong while building, training, saving or evaluating a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch, device error, ...).
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
    /// An error of the core crate (bad data, bad times, ...).
    #[error(transparent)]
    Core(#[from] cfm_core::Error),
    /// A file could not be created, read, written or renamed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should (corrupt, truncated, other version).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A configuration or argument is out of its domain.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
    /// An [`Error::Invalid`] with `msg`.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

impl From<Error> for cfm_core::Error {
    /// Core errors come back unchanged; tensor failures become [`cfm_core::Error::Field`].
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            Error::Io { path, source } => cfm_core::Error::Io { path, source },
            Error::Format { path, msg } => cfm_core::Error::Format { path, msg },
            Error::Invalid(msg) => cfm_core::Error::Invalid(msg),
            Error::Candle(e) => cfm_core::Error::Field(e.to_string()),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_into_the_core_error() {
        let field: cfm_core::Error = Error::Candle(candle_core::Error::Msg("shape".into())).into();
        assert!(matches!(field, cfm_core::Error::Field(ref m) if m.contains("shape")), "{field}");
        let core: cfm_core::Error = Error::Core(cfm_core::Error::invalid("t = 1")).into();
        assert!(matches!(core, cfm_core::Error::Invalid(ref m) if m == "t = 1"));
        let back: Error = cfm_core::Error::invalid("x").into();
        assert!(matches!(back, Error::Core(_)));
    }
}
