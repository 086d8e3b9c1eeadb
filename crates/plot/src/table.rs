//! Checked access to a results table: the columns a renderer reads, as plain vectors, with
//! errors that name the figure and the column.

use polars::prelude::DataFrame;

use crate::{Error, Result};

/// A results table whose required columns are known to be present and which has rows.
pub struct Table<'a> {
    figure: &'static str,
    df: &'a DataFrame,
}

impl<'a> Table<'a> {
    /// Checks that `df` has every column of `required` (all missing ones are named) and at least
    /// one row.
    pub fn new(figure: &'static str, df: &'a DataFrame, required: &[&str]) -> Result<Self> {
        let present: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        let missing: Vec<String> =
            required.iter().filter(|c| !present.iter().any(|p| p == *c)).map(|c| c.to_string()).collect();
        if !missing.is_empty() {
            return Err(Error::MissingColumns { figure, missing, present: present.join(", ") });
        }
        if df.height() == 0 {
            return Err(Error::malformed(figure, "the results table has no rows"));
        }
        Ok(Self { figure, df })
    }

    /// Column `name` as numbers (integers converted; empty cells become NaN). Text is an error.
    pub fn num(&self, name: &str) -> Result<Vec<f64>> {
        let dtype = self.df.column(name).map_err(|e| self.column_error(name, e.into()))?.dtype();
        if !dtype.is_primitive_numeric() {
            return Err(self.malformed(format!("column '{name}' holds {dtype}, numbers expected")));
        }
        cfm_study::table::f64s(self.df, name).map_err(|e| self.column_error(name, e))
    }

    /// Column `name` as text (numbers are printed).
    pub fn text(&self, name: &str) -> Result<Vec<String>> {
        cfm_study::table::strs(self.df, name).map_err(|e| self.column_error(name, e))
    }

    /// An [`Error::Malformed`] for this table's figure.
    pub fn malformed(&self, msg: impl Into<String>) -> Error {
        Error::malformed(self.figure, msg)
    }

    fn column_error(&self, name: &str, source: cfm_study::Error) -> Error {
        Error::Column { figure: self.figure, column: name.to_string(), source }
    }
}

/// The distinct values of `values` in order of first appearance.
pub fn distinct<T: PartialEq + Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The distinct finite numbers of `values`, sorted ascending.
pub fn sorted_distinct(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}
