//! The one error type of the core crate. Library code returns it; only the CLI prints.

use std::path::PathBuf;

/// Everything that can go wrong in the core: bad input, unreadable files, impossible configs.
/// Each message names the offending file or field and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what its format promises.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// An argument is out of its domain or inconsistent with another one.
    #[error("{0}")]
    Invalid(String),
    /// A velocity field (for instance a network) failed to evaluate.
    #[error("velocity field: {0}")]
    Field(String),
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

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
