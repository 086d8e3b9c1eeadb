//! Results tables: tidy long-form polars DataFrames (one row per observation, named key
//! columns, then `statistic` and `value`), their CSV files, and `Columns`, the checked reader
//! that each figure's view is built with.

use std::path::Path;

use polars::prelude::*;

use crate::{Error, Result};

/// A key or value of one table row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text (dataset names, methods, statistics).
    Str(String),
    /// Integers (dimensions, sizes, indices, seeds).
    Int(i64),
    /// Reals (times, values).
    Float(f64),
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Str(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Str(v)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

/// Builds a long-form table row by row; every row has the same columns in the same order.
#[derive(Debug)]
pub struct TableBuilder {
    names: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl TableBuilder {
    /// A builder for the columns `names`.
    pub fn new(names: &[&str]) -> Self {
        Self { names: names.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends one row (one cell per column, in order).
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.names.len(), "row of {} cells for columns {:?}", row.len(), self.names);
        self.rows.push(row);
    }

    /// The DataFrame; a column's type is that of its first row.
    pub fn finish(self) -> Result<DataFrame> {
        let mut columns = Vec::with_capacity(self.names.len());
        for (j, name) in self.names.iter().enumerate() {
            let name = PlSmallStr::from(name.as_str());
            let col = match self.rows.first().map(|r| &r[j]) {
                Some(Cell::Str(_)) | None => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| match &r[j] {
                            Cell::Str(s) => s.clone(),
                            Cell::Int(v) => v.to_string(),
                            Cell::Float(v) => v.to_string(),
                        })
                        .collect::<Vec<_>>(),
                ),
                Some(Cell::Int(_)) => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| match r[j] {
                            Cell::Int(v) => Ok(v),
                            ref other => Err(Error::invalid(format!(
                                "column {}: {other:?} is not an integer",
                                self.names[j]
                            ))),
                        })
                        .collect::<Result<Vec<i64>>>()?,
                ),
                Some(Cell::Float(_)) => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| match r[j] {
                            Cell::Float(v) => Ok(v),
                            Cell::Int(v) => Ok(v as f64),
                            ref other => Err(Error::invalid(format!(
                                "column {}: {other:?} is not a number",
                                self.names[j]
                            ))),
                        })
                        .collect::<Result<Vec<f64>>>()?,
                ),
            };
            columns.push(col);
        }
        Ok(DataFrame::new(self.rows.len(), columns)?)
    }
}

/// Shorthand for a row of [`Cell`]s: `row![dataset, t, "mean", value]`.
#[macro_export]
macro_rules! row {
    ($($v:expr),* $(,)?) => { vec![$($crate::table::Cell::from($v)),*] };
}

/// The CSV text of `df` (header line, shortest round-trip numbers).
pub fn to_csv(df: &DataFrame) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut df = df.clone();
    CsvWriter::new(&mut buf).include_header(true).finish(&mut df)?;
    Ok(buf)
}

/// Writes `df` as CSV to `path`, atomically.
pub fn write_csv(path: &Path, df: &DataFrame) -> Result<()> {
    Ok(cfm_core::io::write_atomic(path, &to_csv(df)?)?)
}

/// Reads a results table written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<DataFrame> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}

/// Parses the CSV text of a results table.
pub fn parse_csv(bytes: &[u8]) -> Result<DataFrame> {
    Ok(CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()?)
}

/// Column `name` as `f64` values (integers are converted; nulls become NaN).
pub fn f64s(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let col = df.column(name)?.cast(&DataType::Float64)?;
    Ok(col.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Column `name` as text.
pub fn strs(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let col = df.column(name)?.cast(&DataType::String)?;
    Ok(col.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}

/// The distinct values of column `name` in order of first appearance.
pub fn distinct(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    Ok(unique(strs(df, name)?))
}

/// Checked access to a results table, for the view that a figure reads it into: the columns the
/// view needs are known to be present and the table to have rows, and errors name the figure and
/// the column.
pub struct Columns<'a> {
    figure: &'static str,
    df: &'a DataFrame,
}

impl<'a> Columns<'a> {
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
        let column = self.df.column(name).map_err(|e| self.column_error(name, e.into()))?;
        let dtype = column.dtype();
        if !dtype.is_primitive_numeric() {
            return Err(self.malformed(format!("column '{name}' holds {dtype}, numbers expected")));
        }
        f64s(self.df, name).map_err(|e| self.column_error(name, e))
    }

    /// Column `name` as text (numbers are printed).
    pub fn text(&self, name: &str) -> Result<Vec<String>> {
        strs(self.df, name).map_err(|e| self.column_error(name, e))
    }

    /// An [`Error::Malformed`] for this table's figure.
    pub fn malformed(&self, msg: impl Into<String>) -> Error {
        Error::malformed(self.figure, msg)
    }

    fn column_error(&self, name: &str, source: Error) -> Error {
        Error::Column { figure: self.figure, column: name.to_string(), source: Box::new(source) }
    }
}

/// The element of `items` that `is`, pushed by `new` where there is none: how a view groups
/// the rows of a long table (by dataset, by run) in order of first appearance.
pub fn slot<T>(items: &mut Vec<T>, is: impl Fn(&T) -> bool, new: impl FnOnce() -> T) -> &mut T {
    let k = match items.iter().position(is) {
        Some(k) => k,
        None => {
            items.push(new());
            items.len() - 1
        }
    };
    &mut items[k]
}

/// The distinct values of `values` in order of first appearance.
pub fn unique<T: PartialEq + Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The distinct finite numbers of `values`, sorted ascending.
pub fn sorted_unique(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// `v` rounded to `digits` significant digits (for snapshots: last-bit noise must not churn them).
pub fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Magnitudes below this are float noise in every table (e.g. the distance of a closed-form
/// sample to the training point it landed on, `~1e-10` in `f32`): [`rounded`] makes them 0.
pub const NOISE_FLOOR: f64 = 1e-6;

/// A copy of `df` with every floating-point column rounded to `digits` significant digits,
/// and magnitudes below [`NOISE_FLOOR`] set to 0 (for snapshots).
pub fn rounded(df: &DataFrame, digits: i32) -> Result<DataFrame> {
    let mut out = df.clone();
    for name in df.get_column_names_owned() {
        if df.column(&name)?.dtype() == &DataType::Float64 {
            let vals: Vec<f64> = f64s(df, &name)?
                .into_iter()
                .map(|v| if v.abs() < NOISE_FLOOR { 0.0 } else { round_sig(v, digits) })
                .collect();
            out.replace(&name, Column::new(name.clone(), vals))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_write_read() {
        let mut b = TableBuilder::new(&["dataset", "n", "t", "value"]);
        b.push(row!["moons", 10usize, 0.5, 1.25]);
        b.push(row!["digits", 20usize, 0.0, -3.0e-7]);
        let df = b.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        write_csv(&p, &df).unwrap();
        let back = read_csv(&p).unwrap();
        assert_eq!(f64s(&back, "value").unwrap(), vec![1.25, -3.0e-7]);
        assert_eq!(f64s(&back, "t").unwrap(), vec![0.5, 0.0]);
        assert_eq!(f64s(&back, "n").unwrap(), vec![10.0, 20.0]);
        assert_eq!(distinct(&back, "dataset").unwrap(), vec!["moons", "digits"]);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_sig(0.123456, 3), 0.123);
        assert_eq!(round_sig(-98765.0, 2), -99000.0);
        assert_eq!(round_sig(0.0, 3), 0.0);
    }
}
