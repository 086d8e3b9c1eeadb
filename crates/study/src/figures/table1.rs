//! Tables 1-2 of the paper: Fréchet distance in the features of a classifier, generated images
//! against the TEST images, after a number of training epochs, for CFM and EFM-M. Paper:
//! MNIST (Table 1: epochs 1..25, M = 128, 256, 1024, 99%-accurate classifier) and
//! Fashion-MNIST (Table 2: epochs 5..200, M = 128, 256, 512, 90%-accurate classifier).
//!
//! Here the runs are [`super::fig4`]'s: the cells are fig4's CFM and EFM cells of the table's
//! datasets (the 8x8 digits in smoke and quick, MNIST and Fashion-MNIST in paper), with the
//! same configurations and the same cell function, under fig4's cache namespace, so running
//! both figures trains each network once. In quick, EFM-1000 stands for the paper's EFM-1024
//! (fig4 trains M = 1000, as the paper's Fig. 4).
//!
//! # Table
//!
//! The rows of fig4's cells (same columns, see [`super::fig4`]), then rows added by
//! [`Figure::summarize`], in the same columns:
//!
//! - `metric = feature_test_mean` and `feature_test_sd`: mean and sample standard deviation
//!   over seeds of `feature_test` per (dataset, method, epoch) at the table's epochs (Table 1's
//!   for digits and MNIST, Table 2's for Fashion-MNIST); `seed = -1` (all seeds).
//! - The paper's published numbers ([`PAPER`]): `method = paper:CFM`, `paper:EFM-<M>`,
//!   `dataset = mnist` / `fashion-mnist`, `seed = -1`, `step = -1`, `metric = paper_fid`. They
//!   are NOT comparable in absolute value with ours (other data, other feature network); only
//!   the ordering of the methods is.
//!
//! # View
//!
//! [`View::read`] reads the table once into [`View`]: our tables ([`Ours`], one per dataset with
//! summary rows: seeds, classifier accuracy, warm-up) and the published ones ([`Published`]),
//! each a [`Scores`] grid of a row per method (the paper's order) and a column per epoch, whose
//! [`Scores::best`] is the method a column marks as the lowest.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;

use cfm_core::datasets::ImageData;

use super::fig4::{self, COLUMNS, Method, Panel, TABLE1_EPOCHS, TABLE2_EPOCHS};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{mean_sd, num};
use crate::table::{Columns, TableBuilder, sorted_unique, unique};
use crate::{Context, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/table1.svg`).
pub const ID: &str = "table1";

/// Mean over seeds of `feature_test` at a table epoch (`seed = -1`).
pub const FEATURE_TEST_MEAN: &str = "feature_test_mean";
/// Its sample standard deviation over seeds.
pub const FEATURE_TEST_SD: &str = "feature_test_sd";
/// A published number (`method = paper:<method>`).
pub const PAPER_FID: &str = "paper_fid";
/// The prefix of the `method` of a published number.
pub const PAPER_PREFIX: &str = "paper:";

/// One row of a published table: dataset, method, FID at each epoch.
pub struct PaperRow {
    /// MNIST (Table 1) or Fashion-MNIST (Table 2).
    pub data: ImageData,
    /// CFM or EFM-M.
    pub method: Method,
    /// Epochs of the table.
    pub epochs: &'static [u64],
    /// FID at those epochs.
    pub fid: &'static [f64],
}

/// The paper's Tables 1 and 2 (STUDY.md section 2).
pub const PAPER: [PaperRow; 8] = [
    PaperRow {
        data: ImageData::Mnist,
        method: Method::Cfm,
        epochs: &TABLE1_EPOCHS,
        fid: &[378.00, 181.25, 67.88, 29.44, 15.30, 4.20, 3.08, 2.51, 2.28],
    },
    PaperRow {
        data: ImageData::Mnist,
        method: Method::Efm { m: 128 },
        epochs: &TABLE1_EPOCHS,
        fid: &[370.64, 168.58, 60.52, 25.52, 13.44, 3.79, 2.70, 2.35, 2.10],
    },
    PaperRow {
        data: ImageData::Mnist,
        method: Method::Efm { m: 256 },
        epochs: &TABLE1_EPOCHS,
        fid: &[370.94, 169.71, 61.88, 25.73, 13.48, 3.73, 2.76, 2.33, 2.08],
    },
    PaperRow {
        data: ImageData::Mnist,
        method: Method::Efm { m: 1024 },
        epochs: &TABLE1_EPOCHS,
        fid: &[369.72, 168.43, 60.28, 24.24, 12.26, 3.30, 2.67, 2.17, 1.84],
    },
    PaperRow {
        data: ImageData::FashionMnist,
        method: Method::Cfm,
        epochs: &TABLE2_EPOCHS,
        fid: &[253.56, 48.67, 25.36, 21.35, 19.67],
    },
    PaperRow {
        data: ImageData::FashionMnist,
        method: Method::Efm { m: 128 },
        epochs: &TABLE2_EPOCHS,
        fid: &[206.27, 44.08, 23.39, 19.63, 17.72],
    },
    PaperRow {
        data: ImageData::FashionMnist,
        method: Method::Efm { m: 256 },
        epochs: &TABLE2_EPOCHS,
        fid: &[202.62, 45.06, 22.16, 20.08, 17.74],
    },
    PaperRow {
        data: ImageData::FashionMnist,
        method: Method::Efm { m: 512 },
        epochs: &TABLE2_EPOCHS,
        fid: &[194.66, 44.19, 22.10, 18.93, 16.85],
    },
];

impl PaperRow {
    /// The references of its method, the table's `m`: M (1 for CFM).
    pub fn m(&self) -> usize {
        match self.method {
            Method::Efm { m } => m,
            Method::Cfm | Method::OtCfm => 1,
        }
    }
}

/// The epochs of the table of a dataset.
fn epochs_of(data: ImageData) -> &'static [u64] {
    if data == ImageData::FashionMnist { &TABLE2_EPOCHS } else { &TABLE1_EPOCHS }
}

/// The datasets of the tables at a profile.
fn datasets(profile: Profile) -> Vec<ImageData> {
    match profile {
        Profile::Smoke => vec![ImageData::Digits],
        Profile::Quick => vec![ImageData::Digits, ImageData::FashionMnist],
        Profile::Paper => vec![ImageData::Mnist, ImageData::FashionMnist],
    }
}

/// The paper's classifier accuracy for a dataset's table (Table 1: 99%, Table 2: 90%).
fn paper_accuracy(data: ImageData) -> &'static str {
    if data == ImageData::FashionMnist { "90%" } else { "99%" }
}

struct Table1Plan {
    profile: Profile,
}

impl Plan for Table1Plan {
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        let keep = datasets(self.profile);
        Ok(fig4::runs(ctx)
            .iter()
            .filter(|r| r.method != Method::OtCfm && keep.contains(&r.data))
            .map(|r| {
                let c = fig4::cell(r);
                let label = c.label.clone();
                c.after(super::fig4::ID, label)
            })
            .collect())
    }
    fn caption(&self) -> String {
        let setting = match self.profile {
            Profile::Paper => "MNIST (epochs 1-25; M = 128, 256, 1024) and Fashion-MNIST (epochs 5-200; M = \
                               128, 256, 512), seed 0"
                .to_string(),
            Profile::Quick => "8x8 digits (1500 training, 297 test images; epochs 1-25, mean ± sd over fig4's three \
                               seeds; EFM-1000 stands for the paper's EFM-1024) and Fashion-MNIST (epochs 5 and 10 of \
                               Table 2, mean ± sd over fig4's three seeds; epochs 50-200 are beyond this profile's budget)"
                .to_string(),
            Profile::Smoke => "8x8 digits (1500 training, 297 test images), the epochs the budget reaches".to_string(),
        };
        format!(
            "Fréchet distance between generated and test images in the penultimate features of a \
             classifier trained here (the paper: 128-d features of a 99% (MNIST) / 90% (Fashion-MNIST) \
             accurate classifier), after each epoch (n / 128 steps, the paper's batch), for CFM and EFM-M (the \
             official code's references: the minibatch plus M extra); fig4's training runs. {setting}. The \
             paper's numbers are shown beside ours; their absolute values are not comparable (other data, \
             other feature network), only the order of the methods is."
        )
    }
}

/// The figure.
pub struct Table1;

impl Figure for Table1 {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Classifier-feature Fréchet distance to the test set by epoch, CFM and EFM (Tables 1-2)"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Tables 1-2: FID (features of a 99%-accurate classifier on MNIST, 90% on Fashion-MNIST; generated \
             against test images) after a number of epochs for CFM and EFM-M: EFM is at least as good at every \
             epoch.",
        )
    }
    fn revision(&self) -> u32 {
        fig4::REVISION
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn cache_namespace(&self) -> &'static str {
        fig4::ID
    }
    fn trains(&self) -> bool {
        true
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(Table1Plan { profile })
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        fig4::run(ctx, &cell.config()?, bar)
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut out: Vec<KeyTable> = view.ours.iter().map(ours_key_table).collect();
        out.extend(view.published.iter().map(published_key_table));
        Ok(out)
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let mut out = TableBuilder::new(&COLUMNS);
        for data in fig4::View::read(table)?.datasets {
            let name = data.data.name();
            for runs in &data.methods {
                let (method, m) = (runs.method.label(), runs.m as i64);
                for &epoch in epochs_of(data.data) {
                    let at = runs.at(Panel::FeatureTest, epoch as f64);
                    let Some(first) = at.first() else { continue };
                    let values: Vec<f64> = at.iter().map(|e| e.value).collect();
                    let (mean, sd) = mean_sd(&values);
                    let step = first.step as i64;
                    let epoch = epoch as f64;
                    out.push(row![name, method.clone(), m, -1i64, epoch, step, FEATURE_TEST_MEAN, mean]);
                    out.push(row![name, method.clone(), m, -1i64, epoch, step, FEATURE_TEST_SD, sd]);
                }
            }
        }
        for p in &PAPER {
            for (&epoch, &fid) in p.epochs.iter().zip(p.fid) {
                let method = format!("{PAPER_PREFIX}{}", p.method.label());
                out.push(row![p.data.name(), method, p.m(), -1i64, epoch as f64, -1i64, PAPER_FID, fid]);
            }
        }
        Ok(Some(out.finish()?))
    }
}

/// The key table of ours on one dataset: a row per method, a column per epoch of the paper's
/// table (`-` beyond the budget), `*` on an epoch that ends inside the warm-up.
fn ours_key_table(ours: &Ours) -> KeyTable {
    let n = ours.data.sizes().0;
    let warmup = ours.warmup.unwrap_or(f64::NAN);
    let epochs = epochs_of(ours.data);
    // A paper epoch is n / 128 steps; '*' flags one that ends inside the warm-up.
    let step_of = |e: u64| ((e as f64 * n as f64 / 128.0).round() as u64).max(1);
    let heads: Vec<String> = epochs
        .iter()
        .map(|&e| {
            let s = step_of(e);
            format!("epoch {e} (step {s}){}", if (s as f64) <= warmup { "*" } else { "" })
        })
        .collect();
    let mut headers = vec!["method", "(B + M) / n"];
    headers.extend(heads.iter().map(String::as_str));
    let title = format!(
        "Ours ({}, classifier-feature Fréchet distance to the test images, mean ± sd over seeds; \
         classifier accuracy {:.1}%, the paper's {}; * = inside the {} warm-up steps; - = beyond this \
         profile's budget)",
        ours.data.name(),
        100.0 * ours.accuracy.unwrap_or(f64::NAN),
        paper_accuracy(ours.data),
        warmup
    );
    let mut k = KeyTable::new(title, &headers);
    for (r, row) in ours.scores.rows.iter().enumerate() {
        let refs = if row.method.is_efm() {
            num((128.0f64.min(n as f64) + row.m) / n as f64, 2)
        } else {
            "-".into()
        };
        let mut line = vec![row.method.label(), refs];
        for &e in epochs {
            line.push(match ours.scores.at(r, e as f64) {
                Some(s) if !s.mean.is_nan() => match s.sd {
                    Some(sd) if sd > 0.0 => format!("{} ± {}", num(s.mean, 4), num(sd, 2)),
                    _ => num(s.mean, 4),
                },
                _ => "-".into(),
            });
        }
        k.rows.push(line);
    }
    k
}

/// The key table of a published table, as the paper prints it.
fn published_key_table(paper: &Published) -> KeyTable {
    let heads: Vec<String> = paper.scores.epochs.iter().map(|e| format!("epoch {e}")).collect();
    let mut headers = vec!["method"];
    headers.extend(heads.iter().map(String::as_str));
    let title = format!("Published ({}; not comparable in absolute value with ours)", paper.data.name());
    let mut k = KeyTable::new(title, &headers);
    for row in &paper.scores.rows {
        let mut line = vec![row.method.label()];
        line.extend(row.cells.iter().map(|c| num(c.map_or(f64::NAN, |s| s.mean), 4)));
        k.rows.push(line);
    }
    k
}

/// Tables 1-2's table, read: our tables and the paper's.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Ours, one per dataset with summary rows, in the order of the table.
    pub ours: Vec<Ours>,
    /// The paper's published tables, in the order of the table.
    pub published: Vec<Published>,
}

/// Our table of one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Ours {
    /// The dataset.
    pub data: ImageData,
    /// Training seeds of the runs the summary is over.
    pub seeds: usize,
    /// The test accuracy of the feature classifier (a fraction), where the table holds it.
    pub accuracy: Option<f64>,
    /// The learning-rate warm-up of the runs, in steps, where the table holds it.
    pub warmup: Option<f64>,
    /// The classifier-feature Fréchet distance to the test images: mean and (with two seeds or
    /// more) sd over the seeds.
    pub scores: Scores,
}

/// A published table of the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The dataset: MNIST (Table 1) or Fashion-MNIST (Table 2).
    pub data: ImageData,
    /// The published FIDs (single runs: no sd).
    pub scores: Scores,
}

/// A table of Fréchet distances: a row per method, a column per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The epochs (columns), ascending.
    pub epochs: Vec<f64>,
    /// The methods (rows), in the paper's order (CFM, then EFM-M by M).
    pub rows: Vec<ScoreRow>,
    /// Whether a column's lowest value counts as best only where the spread over seeds separates
    /// it from every other (ours), or always (the paper's published single runs).
    pub by_spread: bool,
}

/// One method's row of a [`Scores`] table.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The method.
    pub method: Method,
    /// References of the regression target (the table's `m`: 1 for CFM).
    pub m: f64,
    /// Its value at each epoch of the table, `None` where it was not evaluated.
    pub cells: Vec<Option<Score>>,
}

/// A value of a [`Scores`] table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// The Fréchet distance (ours: the mean over the seeds).
    pub mean: f64,
    /// Its standard deviation over the seeds, where there are two seeds or more.
    pub sd: Option<f64>,
}

impl Published {
    /// The paper's table of its dataset, as the paper names it (`Table 1: MNIST`).
    pub fn table(&self) -> Option<&'static str> {
        match self.data {
            ImageData::Mnist => Some("Table 1: MNIST"),
            ImageData::FashionMnist => Some("Table 2: Fashion-MNIST"),
            _ => None,
        }
    }
}

impl Scores {
    /// The row of column `c` that is best: the lowest value, where it is lower than every other
    /// (with `by_spread`, by more than the larger of the two standard deviations, and never
    /// without them).
    pub fn best(&self, c: usize) -> Option<usize> {
        let column: Vec<(usize, f64, Option<f64>)> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| row.cells[c].map(|s| (r, s.mean, s.sd)))
            .collect();
        let &(r, v, sd) = column.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
        let apart = |&(o, w, other): &(usize, f64, Option<f64>)| {
            o == r
                || match (self.by_spread, sd, other) {
                    (false, ..) => w > v,
                    (true, Some(a), Some(b)) => w - v > a.max(b),
                    (true, ..) => false,
                }
        };
        column.iter().all(apart).then_some(r)
    }

    /// Row `r`'s value at `epoch` (within `1e-9`), where it was evaluated.
    pub fn at(&self, r: usize, epoch: f64) -> Option<Score> {
        let c = self.epochs.iter().position(|e| (e - epoch).abs() <= 1e-9)?;
        self.rows[r].cells[c]
    }
}

/// One row of the table, typed.
struct Line {
    data: String,
    method: String,
    m: f64,
    seed: f64,
    epoch: f64,
    metric: String,
    value: f64,
}

impl View {
    /// Reads the table: the summary rows into our tables (with the seeds, the accuracy and the
    /// warm-up of the runs), the published rows into the paper's. Errors where the summary, the
    /// published numbers, the seeds' own rows or (with two seeds or more) an sd are missing.
    pub fn read(df: &DataFrame) -> Result<View> {
        let columns = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, method, m, seed, epoch, _, metric, value] = COLUMNS;
        let (names, methods, ms, seeds) =
            (columns.text(dataset)?, columns.text(method)?, columns.num(m)?, columns.num(seed)?);
        let (epochs, metrics, values) = (columns.num(epoch)?, columns.text(metric)?, columns.num(value)?);
        let lines: Vec<Line> = (0..names.len())
            .map(|i| Line {
                data: names[i].clone(),
                method: methods[i].clone(),
                m: ms[i],
                seed: seeds[i],
                epoch: epochs[i],
                metric: metrics[i].clone(),
                value: values[i],
            })
            .collect();
        let of = |metric: &str| -> Vec<&Line> { lines.iter().filter(|l| l.metric == metric).collect() };
        let (means, paper) = (of(FEATURE_TEST_MEAN), of(PAPER_FID));
        if means.is_empty() {
            return Err(
                columns.malformed(format!("no '{FEATURE_TEST_MEAN}' rows (the summary over the seeds)"))
            );
        }
        if paper.is_empty() {
            return Err(columns.malformed(format!("no '{PAPER_FID}' rows (the paper's published numbers)")));
        }
        let mut ours = Vec::new();
        for name in unique(means.iter().map(|l| l.data.as_str())) {
            ours.push(read_ours(&columns, &lines, name)?);
        }
        let mut published = Vec::new();
        for name in unique(paper.iter().map(|l| l.data.as_str())) {
            let mine: Vec<&Line> = paper.iter().copied().filter(|l| l.data == name).collect();
            let label = |l: &Line| l.method.strip_prefix(PAPER_PREFIX).unwrap_or(&l.method).to_string();
            let scores = read_scores(&columns, &mine, label, false, |_, _, _| Ok(None))?;
            published.push(Published { data: parse_data(&columns, name)?, scores });
        }
        Ok(View { ours, published })
    }
}

/// The dataset a table name names.
fn parse_data(columns: &Columns<'_>, name: &str) -> Result<ImageData> {
    ImageData::parse(name).map_err(|e| columns.malformed(e.to_string()))
}

/// Our table of dataset `name`.
fn read_ours(columns: &Columns<'_>, lines: &[Line], name: &str) -> Result<Ours> {
    let mine: Vec<&Line> = lines.iter().filter(|l| l.data == name).collect();
    let first = |metric: &str| mine.iter().find(|l| l.metric == metric).map(|l| l.value);
    let seeds = unique(mine.iter().filter(|l| l.metric == fig4::FEATURE_TEST).map(|l| l.seed)).len();
    if seeds == 0 {
        return Err(columns.malformed(format!(
            "dataset '{name}' has no '{}' rows (the seeds' values)",
            fig4::FEATURE_TEST
        )));
    }
    let means: Vec<&Line> = mine.iter().copied().filter(|l| l.metric == FEATURE_TEST_MEAN).collect();
    let sd = |method: &str, epoch: f64| -> Result<Option<f64>> {
        if seeds == 1 {
            return Ok(None);
        }
        let row = mine.iter().find(|l| l.metric == FEATURE_TEST_SD && l.method == method && l.epoch == epoch);
        let row = row.ok_or_else(|| {
            columns.malformed(format!(
                "dataset '{name}', method '{method}', epoch {epoch}: no '{FEATURE_TEST_SD}' row"
            ))
        })?;
        Ok(Some(row.value))
    };
    let mut scores =
        read_scores(columns, &means, |l| l.method.clone(), true, |method, epoch, _| sd(method, epoch))?;
    // The references of a method: those of its runs (its first row).
    for row in &mut scores.rows {
        let label = row.method.label();
        row.m = mine.iter().find(|l| l.method == label).map_or(row.m, |l| l.m);
    }
    Ok(Ours {
        data: parse_data(columns, name)?,
        seeds,
        accuracy: first(fig4::CLASSIFIER_ACCURACY),
        warmup: first(fig4::WARMUP_STEPS),
        scores,
    })
}

/// The grid of `lines` (one dataset's values): a row per method (by `label`, in the paper's
/// order), a column per epoch (ascending), each cell the first line's value and `sd(method,
/// epoch, value)`.
fn read_scores(
    columns: &Columns<'_>,
    lines: &[&Line],
    label: impl Fn(&Line) -> String,
    by_spread: bool,
    sd: impl Fn(&str, f64, f64) -> Result<Option<f64>>,
) -> Result<Scores> {
    let labels: Vec<String> = lines.iter().map(|l| label(l)).collect();
    let mut methods = Vec::new();
    for l in unique(labels.iter()) {
        methods.push(Method::parse(l).ok_or_else(|| fig4::unknown_method(columns, l))?);
    }
    methods.sort();
    let epochs = sorted_unique(lines.iter().map(|l| l.epoch));
    let mut rows = Vec::new();
    for method in methods {
        let name = method.label();
        let mut cells = Vec::new();
        for &epoch in &epochs {
            let at = (0..lines.len()).find(|&k| labels[k] == name && lines[k].epoch == epoch);
            cells.push(match at {
                Some(k) => Some(Score { mean: lines[k].value, sd: sd(&name, epoch, lines[k].value)? }),
                None => None,
            });
        }
        let m = lines.iter().zip(&labels).find(|(_, l)| **l == name).map_or(f64::NAN, |(line, _)| line.m);
        rows.push(ScoreRow { method, m, cells });
    }
    Ok(Scores { epochs, rows, by_spread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_rows_match_their_epochs() {
        for p in &PAPER {
            assert_eq!(p.epochs.len(), p.fid.len(), "{} {}", p.data.name(), p.method.label());
        }
    }

    /// A grid with one row per `(mean, sd)` list, at epochs 1, 2, 3.
    fn scores(rows: &[&[(f64, Option<f64>)]], by_spread: bool) -> Scores {
        let rows = rows
            .iter()
            .enumerate()
            .map(|(k, cells)| ScoreRow {
                method: Method::Efm { m: 1 + k },
                m: 1.0,
                cells: cells.iter().map(|&(mean, sd)| Some(Score { mean, sd })).collect(),
            })
            .collect();
        Scores { epochs: vec![1.0, 2.0, 3.0], rows, by_spread }
    }

    #[test]
    fn the_best_of_a_column_is_the_lowest_where_the_spread_separates_it() {
        // Column 0: row 1 lowest by 10 (sd 1: separated); column 1: row 0 lowest by 2 (sd 3:
        // not separated); column 2: row 1 lowest, row 0 has no sd.
        let ours = scores(
            &[
                &[(20.0, Some(1.0)), (5.0, Some(3.0)), (9.0, None)],
                &[(10.0, Some(1.0)), (7.0, Some(1.0)), (8.0, Some(0.1))],
            ],
            true,
        );
        assert_eq!((0..3).map(|c| ours.best(c)).collect::<Vec<_>>(), vec![Some(1), None, None]);
        // The paper's: always the lowest, unless tied.
        let paper = scores(
            &[&[(20.0, None), (5.0, None), (8.0, None)], &[(10.0, None), (7.0, None), (8.0, None)]],
            false,
        );
        assert_eq!((0..3).map(|c| paper.best(c)).collect::<Vec<_>>(), vec![Some(1), Some(0), None]);
        assert_eq!(paper.at(1, 2.0 + 1e-12), Some(Score { mean: 7.0, sd: None }));
        assert_eq!(paper.at(1, 4.0), None);
    }

    /// Two runs of CFM and EFM-128 on the digits, the summary of epochs 1 and 2 (EFM-128 has no
    /// summary at epoch 2), and a published MNIST table.
    fn planted() -> DataFrame {
        let mut t = TableBuilder::new(&COLUMNS);
        for (method, m) in [("EFM-128", 128usize), ("CFM", 1)] {
            for seed in 0..2i64 {
                t.push(row![
                    "digits",
                    method,
                    m,
                    seed,
                    0.0,
                    0i64,
                    fig4::CLASSIFIER_ACCURACY,
                    0.9 + seed as f64
                ]);
                t.push(row!["digits", method, m, seed, 0.0, 0i64, fig4::WARMUP_STEPS, 100.0]);
                t.push(row!["digits", method, m, seed, 1.0, 12i64, fig4::FEATURE_TEST, 50.0]);
            }
        }
        for (method, m, epoch, mean, sd) in
            [("EFM-128", 128usize, 1.0, 40.0, 2.0), ("CFM", 1, 1.0, 45.0, 1.0), ("CFM", 1, 2.0, 30.0, 1.5)]
        {
            t.push(row!["digits", method, m, -1i64, epoch, 12i64, FEATURE_TEST_MEAN, mean]);
            t.push(row!["digits", method, m, -1i64, epoch, 12i64, FEATURE_TEST_SD, sd]);
        }
        for (method, fid) in [("paper:EFM-1024", 369.72), ("paper:CFM", 378.0)] {
            t.push(row!["mnist", method, 1usize, -1i64, 1.0, -1i64, PAPER_FID, fid]);
        }
        t.finish().unwrap()
    }

    #[test]
    fn the_view_holds_ours_and_the_papers_tables_in_the_papers_order() {
        let view = View::read(&planted()).unwrap();
        let [ours] = &view.ours[..] else { panic!("one table of ours") };
        assert_eq!(
            (ours.data, ours.seeds, ours.accuracy, ours.warmup),
            (ImageData::Digits, 2, Some(0.9), Some(100.0))
        );
        assert_eq!(ours.scores.epochs, vec![1.0, 2.0]);
        let methods: Vec<Method> = ours.scores.rows.iter().map(|r| r.method).collect();
        assert_eq!(methods, vec![Method::Cfm, Method::Efm { m: 128 }]);
        assert_eq!(ours.scores.rows[1].m, 128.0);
        assert_eq!(
            ours.scores.rows[0].cells,
            vec![Some(Score { mean: 45.0, sd: Some(1.0) }), Some(Score { mean: 30.0, sd: Some(1.5) })]
        );
        assert_eq!(ours.scores.rows[1].cells[1], None);
        // EFM-128 below CFM at epoch 1 by 5, more than either sd.
        assert_eq!(ours.scores.best(0), Some(1));
        let [paper] = &view.published[..] else { panic!("one published table") };
        assert_eq!(paper.data, ImageData::Mnist);
        assert_eq!(paper.scores.rows[0].method, Method::Cfm);
        assert_eq!(paper.scores.best(0), Some(1));
    }
}
