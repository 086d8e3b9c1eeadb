//! `cfm compare`: are two sets of results tables the same within a tolerance? Used by CI to
//! check that regenerating the committed figures reproduces their numbers.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cfm_study::table::{f64s, read_csv, strs};
use polars::prelude::DataType;

/// Options of `compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Directory of the reference tables (e.g. the committed figures/data).
    #[arg(long)]
    expected: PathBuf,
    /// Directory of the regenerated tables; every table here is compared.
    #[arg(long)]
    actual: PathBuf,
    /// Relative tolerance on numbers.
    #[arg(long, default_value_t = 1e-3)]
    rtol: f64,
    /// Absolute tolerance on numbers.
    #[arg(long, default_value_t = 1e-4)]
    atol: f64,
}

/// Compares every `<figure>.csv` of `--actual` with the one of the same name in `--expected`.
pub fn compare(a: &CompareArgs) -> Result<()> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(&a.actual)
        .with_context(|| format!("--actual {}", a.actual.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("--actual {}: no .csv tables to compare", a.actual.display());
    }
    let mut failures = Vec::new();
    for path in names {
        let name = path.file_name().expect("file").to_string_lossy().to_string();
        let got = read_csv(&path)?;
        let want = read_csv(&a.expected.join(&name)).with_context(|| format!("expected table {name}"))?;
        if got.get_column_names() != want.get_column_names() || got.height() != want.height() {
            failures.push(format!(
                "{name}: shape or columns differ ({} rows {:?} vs {} rows {:?})",
                got.height(),
                got.get_column_names(),
                want.height(),
                want.get_column_names()
            ));
            continue;
        }
        let mut worst = (0.0f64, String::new());
        for col in got.get_column_names_owned() {
            if got.column(&col)?.dtype().is_primitive_numeric()
                && want.column(&col)?.dtype() != &DataType::String
            {
                let (g, w) = (f64s(&got, &col)?, f64s(&want, &col)?);
                for (i, (x, y)) in g.iter().zip(&w).enumerate() {
                    let same = (x.is_nan() && y.is_nan()) || x == y;
                    let excess = (x - y).abs() / (a.atol + a.rtol * y.abs());
                    if !same && (excess.is_nan() || excess > worst.0) {
                        worst = (excess, format!("column {col}, row {i}: {x} vs {y}"));
                    }
                }
            } else if strs(&got, &col)? != strs(&want, &col)? {
                failures.push(format!("{name}: text column {col} differs"));
            }
        }
        if worst.0 > 1.0 {
            failures.push(format!("{name}: {} ({:.1}x the tolerance)", worst.1, worst.0));
        } else {
            println!(
                "{name}: same within rtol {} atol {} (worst {:.3} of the tolerance)",
                a.rtol, a.atol, worst.0
            );
        }
    }
    if !failures.is_empty() {
        bail!("numbers moved:\n  {}", failures.join("\n  "));
    }
    Ok(())
}
