//! # cfm-study
//!
//! One module per figure of the study ([`figures`]). Data flows one way: a figure's
//! configuration (per [`Profile`]) gives its cells ([`figure::CellSpec`]); [`pipeline`] runs
//! or loads each cell and concatenates their rows into the figure's results table (a tidy
//! long-form polars DataFrame, [`table`]); [`claims`] decide the paper's claims from those
//! tables; [`manifest`] records how every table was made. Rendering lives in `cfm-plot`, the
//! report in `cfm-report`.

pub mod claims;
mod context;
pub mod data;
mod error;
pub mod figure;
pub mod figures;
pub mod manifest;
pub mod pipeline;
mod profile;
pub mod stats;
pub mod table;

pub use context::Context;
pub use error::{Error, Result};
pub use figure::{CellSpec, Figure, KeyTable, Plan, Setting};
pub use profile::Profile;
