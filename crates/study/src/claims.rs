//! The paper's claims (STUDY.md section 3) as code over the results tables.
//!
//! Each figure states the claims its table can decide ([`crate::Figure::claims`]), with the
//! threshold next to the paper's number. A claim is decided on one dataset: the first of its
//! preference list ([`Claim::on`], the highest-dimensional real data first) that the table
//! holds. When a preferred dataset's cells were not run (its files are missing), the claim is
//! NOT RUN with the fix, never decided on a lesser dataset in its place. Three outcomes for a
//! decided claim: PASS, FAIL, and INCONCLUSIVE where the measurement cannot tell the claim from
//! its negation (differences inside the seed spread, a fit below its stated R^2). A FAIL is a
//! finding, reported with the measured value: never tuned away or hidden.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::data::Dataset;
use crate::manifest::Manifest;
use crate::table::{distinct, read_csv};
use crate::{Result, figures};

/// A claim of the paper and the function that decides it from one figure's table.
pub struct Claim {
    /// `C1` ... `C10` (`C8a`, `C8b` for the parts of a split claim).
    pub id: &'static str,
    /// The figure whose table decides it.
    pub figure: &'static str,
    /// What the paper states.
    pub statement: &'static str,
    /// The same in one short sentence, for the claims table (at most 100 characters).
    pub short: &'static str,
    /// The paper's number or observation.
    pub paper: &'static str,
    /// The datasets (by their names, the values of the table's `dataset` column) the claim may
    /// be decided on, in order of preference; empty when the check reads the whole table.
    pub on: &'static [Dataset],
    /// Other figures whose tables the check reads (the collapse times of the same data, say), by
    /// the `ID` constants of their modules.
    pub reads: &'static [&'static str],
    /// What the regime of this reproduction predicts for the claim, and so what a FAIL or an
    /// INCONCLUSIVE verdict means here: the report prints it under such a verdict, after the
    /// measured numbers.
    pub regime: &'static str,
    /// Measures the claim on the figure's table (and those it reads), on the chosen dataset
    /// (`""` when `on` is empty).
    pub check: fn(&Evidence, &str) -> Result<Measured>,
}

/// What a claim check reads: its figure's table and the tables of the figures it names.
pub struct Evidence {
    /// The deciding figure's table.
    pub table: DataFrame,
    /// The tables of [`Claim::reads`], by figure id.
    pub others: BTreeMap<&'static str, DataFrame>,
}

impl Evidence {
    /// Just a table.
    pub fn of(table: DataFrame) -> Self {
        Self { table, others: BTreeMap::new() }
    }

    /// The table of figure `id`, which the claim must list in [`Claim::reads`].
    pub fn other(&self, id: &str) -> Result<&DataFrame> {
        self.others.get(id).ok_or_else(|| {
            crate::Error::invalid(format!("the claim reads the {id} table, which it does not declare"))
        })
    }
}

/// What a decided claim concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The measured value meets the threshold.
    Pass,
    /// It does not.
    Fail,
    /// The measurement cannot tell the claim from its negation; the reason says why.
    Inconclusive(String),
}

/// What a claim check measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Our value, formatted with its context.
    pub value: String,
    /// The one to three numbers that decide the claim, each beside its threshold (the claims
    /// table's cell; at most [`HEADLINE_LIMIT`] characters).
    pub headline: String,
    /// The threshold applied, in words.
    pub threshold: String,
    /// The conclusion.
    pub decision: Decision,
}

/// The longest a claims-table cell may be, in characters.
pub const HEADLINE_LIMIT: usize = 300;

impl Measured {
    /// PASS or FAIL by `pass`, with the deciding numbers `headline`.
    pub fn new(value: String, headline: String, threshold: impl Into<String>, pass: bool) -> Self {
        let decision = if pass { Decision::Pass } else { Decision::Fail };
        Self { value, headline, threshold: threshold.into(), decision }
    }
}

/// The verdict on one claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The measured value meets the threshold.
    Pass,
    /// It does not.
    Fail,
    /// The measurement cannot decide.
    Inconclusive,
    /// The figure, or the cells of the dataset that decides the claim, did not run; the text
    /// says why and how to fix it.
    NotRun(String),
    /// The table exists but the check could not be evaluated (missing rows or columns).
    Error(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::NotRun(_) => "NOT RUN",
            Verdict::Error(_) => "ERROR",
        })
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
    /// The dataset that decided it, when one did.
    pub dataset: Option<String>,
}

/// Every claim of every figure, in claim order.
pub fn all() -> Vec<Claim> {
    let mut v: Vec<Claim> = figures::all().iter().flat_map(|f| f.claims()).collect();
    let key = |id: &str| {
        let digits: String = id[1..].chars().take_while(|c| c.is_ascii_digit()).collect();
        (digits.parse::<u32>().unwrap_or(u32::MAX), id.to_string())
    };
    v.sort_by_key(|c| key(c.id));
    v
}

/// Decides `claim` from the tables in `data_dir` (`<figure>.csv`), with the manifest of the
/// run that wrote them (which says which cells did not run, and why).
pub fn decide(claim: Claim, data_dir: &Path, manifest: &Manifest) -> Outcome {
    let outcome = |claim, verdict, measured, dataset| Outcome { claim, verdict, measured, dataset };
    let path = data_dir.join(format!("{}.csv", claim.figure));
    if !path.exists() {
        let why = format!("no {} (run `cfm reproduce --only {}`)", path.display(), claim.figure);
        return outcome(claim, Verdict::NotRun(why), None, None);
    }
    let df = match read_csv(&path) {
        Ok(df) => df,
        Err(e) => return outcome(claim, Verdict::Error(e.to_string()), None, None),
    };
    let dataset = if claim.on.is_empty() {
        String::new()
    } else {
        let present = match df.column("dataset").ok().map(|_| distinct(&df, "dataset")) {
            Some(Ok(p)) => p,
            Some(Err(e)) => return outcome(claim, Verdict::Error(e.to_string()), None, None),
            None => Vec::new(),
        };
        let not_run = manifest.figures.get(claim.figure).map(|e| e.not_run.as_slice()).unwrap_or_default();
        let mut chosen = None;
        for name in claim.on.iter().map(|d| d.name()) {
            if present.iter().any(|p| p == name) {
                chosen = Some(name.to_string());
                break;
            }
            if let Some(cell) = not_run.iter().find(|c| c.dataset == *name) {
                let why = format!("{name} was not run: {}", cell.reason);
                return outcome(claim, Verdict::NotRun(why), None, None);
            }
        }
        match chosen {
            Some(c) => c,
            None => {
                let names: Vec<&str> = claim.on.iter().map(|d| d.name()).collect();
                let why = format!("the table has none of the datasets {names:?}");
                return outcome(claim, Verdict::Error(why), None, None);
            }
        }
    };
    let mut evidence = Evidence::of(df);
    for id in claim.reads {
        let path = data_dir.join(format!("{id}.csv"));
        if !path.exists() {
            let why =
                format!("it reads {}, which is not there (run `cfm reproduce --only {id}`)", path.display());
            return outcome(claim, Verdict::NotRun(why), None, None);
        }
        match read_csv(&path) {
            Ok(t) => {
                evidence.others.insert(id, t);
            }
            Err(e) => return outcome(claim, Verdict::Error(e.to_string()), None, None),
        }
    }
    match (claim.check)(&evidence, &dataset) {
        Ok(m) => {
            let verdict = match m.decision {
                Decision::Pass => Verdict::Pass,
                Decision::Fail => Verdict::Fail,
                Decision::Inconclusive(_) => Verdict::Inconclusive,
            };
            let dataset = (!dataset.is_empty()).then_some(dataset);
            outcome(claim, verdict, Some(m), dataset)
        }
        Err(e) => outcome(claim, Verdict::Error(e.to_string()), None, None),
    }
}

/// Decides every claim from the tables in `data_dir` and the manifest beside them
/// (`<data_dir>/../manifest.json`).
pub fn verify(data_dir: &Path) -> Vec<Outcome> {
    let manifest = data_dir
        .parent()
        .map(|p| Manifest::load(&p.join("manifest.json")).unwrap_or_default())
        .unwrap_or_default();
    all().into_iter().map(|c| decide(c, data_dir, &manifest)).collect()
}

/// How many outcomes have each verdict: `(pass, fail, inconclusive, not run, error)`.
pub fn counts<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> [usize; 5] {
    let mut c = [0; 5];
    for o in outcomes {
        c[match o.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 2,
            Verdict::NotRun(_) => 3,
            Verdict::Error(_) => 4,
        }] += 1;
    }
    c
}

/// `"10 claims: 7 pass, 1 fail, 2 inconclusive"` (zero counts left out, in that order).
pub fn summary<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> String {
    let outcomes: Vec<&Outcome> = outcomes.into_iter().collect();
    let c = counts(outcomes.iter().copied());
    let parts: Vec<String> = ["pass", "fail", "inconclusive", "not run", "error"]
        .iter()
        .zip(c)
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{n} {w}"))
        .collect();
    format!("{} claims: {}", outcomes.len(), parts.join(", "))
}
