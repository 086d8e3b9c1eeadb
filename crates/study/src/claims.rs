//! The paper's claims (STUDY.md section 3) as code over the results tables.
//!
//! Each figure module states the claims its table can decide, with the threshold next to the
//! paper's number. A failing claim is reported as FAIL with the measured value: a finding,
//! never something to tune away. A claim whose table is absent is NOT RUN, never PASS.

use std::fmt;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::Result;

/// A claim of the paper and the function that decides it from one figure's table.
pub struct Claim {
    /// `C1` ... `C10`.
    pub id: &'static str,
    /// The figure whose table decides it.
    pub figure: &'static str,
    /// What the paper states.
    pub statement: &'static str,
    /// The paper's number or observation.
    pub paper: &'static str,
    /// Measures the claim on the figure's table.
    pub check: fn(&DataFrame) -> Result<Measured>,
}

/// What a claim check measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Our value, formatted with its context.
    pub value: String,
    /// The threshold applied, in words.
    pub threshold: String,
    /// Whether the value meets the threshold.
    pub pass: bool,
}

/// The verdict on one claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The measured value meets the threshold.
    Pass,
    /// It does not.
    Fail,
    /// The figure's table does not exist (figure not run).
    NotRun,
    /// The table exists but the check could not be evaluated (missing rows or columns).
    Error(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("PASS"),
            Verdict::Fail => f.write_str("FAIL"),
            Verdict::NotRun => f.write_str("NOT RUN"),
            Verdict::Error(_) => f.write_str("ERROR"),
        }
    }
}

/// A claim with its verdict.
pub struct Outcome {
    /// The claim.
    pub claim: Claim,
    /// Verdict.
    pub verdict: Verdict,
    /// What was measured, when the check ran.
    pub measured: Option<Measured>,
}

/// Every claim of every figure, in claim order.
pub fn all() -> Vec<Claim> {
    let mut v: Vec<Claim> =
        crate::figures::all().iter().flat_map(|f| crate::figures::claims_of(f.id())).collect();
    v.sort_by_key(|c| c.id[1..].parse::<u32>().unwrap_or(u32::MAX));
    v
}

/// Decides `claim` from the tables in `data_dir` (`<figure>.csv`).
pub fn decide(claim: Claim, data_dir: &Path) -> Outcome {
    let path = data_dir.join(format!("{}.csv", claim.figure));
    if !path.exists() {
        return Outcome { claim, verdict: Verdict::NotRun, measured: None };
    }
    match crate::table::read_csv(&path).and_then(|df| (claim.check)(&df)) {
        Ok(m) => {
            Outcome { verdict: if m.pass { Verdict::Pass } else { Verdict::Fail }, measured: Some(m), claim }
        }
        Err(e) => Outcome { claim, verdict: Verdict::Error(e.to_string()), measured: None },
    }
}

/// Decides every claim from the tables in `data_dir`.
pub fn verify(data_dir: &Path) -> Vec<Outcome> {
    all().into_iter().map(|c| decide(c, data_dir)).collect()
}
