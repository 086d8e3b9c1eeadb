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

use indicatif::ProgressBar;
use polars::prelude::DataFrame;

use cfm_core::datasets::ImageData;

use super::fig4::{self, COLUMNS, Method, TABLE1_EPOCHS, TABLE2_EPOCHS};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{mean_sd, num};
use crate::table::{TableBuilder, distinct, f64s, filter_eq, filter_near, first};
use crate::{Context, Profile, Result, row};

/// Mean over seeds of `feature_test` at a table epoch (`seed = -1`).
/// The figure's id: its command-line name and its files' (`figures/table1.svg`).
pub const ID: &str = "table1";

pub const FEATURE_TEST_MEAN: &str = "feature_test_mean";
/// Its sample standard deviation over seeds.
pub const FEATURE_TEST_SD: &str = "feature_test_sd";
/// A published number (`method = paper:<method>`).
pub const PAPER_FID: &str = "paper_fid";

/// One row of a published table: dataset, method, M (1 for CFM), FID at each epoch.
pub struct PaperRow {
    /// `mnist` (Table 1) or `fashion-mnist` (Table 2).
    pub dataset: &'static str,
    /// `CFM` or `EFM-<M>`.
    pub method: &'static str,
    /// References (1 for CFM).
    pub m: usize,
    /// Epochs of the table.
    pub epochs: &'static [u64],
    /// FID at those epochs.
    pub fid: &'static [f64],
}

/// The paper's Tables 1 and 2 (STUDY.md section 2).
pub const PAPER: [PaperRow; 8] = [
    PaperRow {
        dataset: "mnist",
        method: "CFM",
        m: 1,
        epochs: &TABLE1_EPOCHS,
        fid: &[378.00, 181.25, 67.88, 29.44, 15.30, 4.20, 3.08, 2.51, 2.28],
    },
    PaperRow {
        dataset: "mnist",
        method: "EFM-128",
        m: 128,
        epochs: &TABLE1_EPOCHS,
        fid: &[370.64, 168.58, 60.52, 25.52, 13.44, 3.79, 2.70, 2.35, 2.10],
    },
    PaperRow {
        dataset: "mnist",
        method: "EFM-256",
        m: 256,
        epochs: &TABLE1_EPOCHS,
        fid: &[370.94, 169.71, 61.88, 25.73, 13.48, 3.73, 2.76, 2.33, 2.08],
    },
    PaperRow {
        dataset: "mnist",
        method: "EFM-1024",
        m: 1024,
        epochs: &TABLE1_EPOCHS,
        fid: &[369.72, 168.43, 60.28, 24.24, 12.26, 3.30, 2.67, 2.17, 1.84],
    },
    PaperRow {
        dataset: "fashion-mnist",
        method: "CFM",
        m: 1,
        epochs: &TABLE2_EPOCHS,
        fid: &[253.56, 48.67, 25.36, 21.35, 19.67],
    },
    PaperRow {
        dataset: "fashion-mnist",
        method: "EFM-128",
        m: 128,
        epochs: &TABLE2_EPOCHS,
        fid: &[206.27, 44.08, 23.39, 19.63, 17.72],
    },
    PaperRow {
        dataset: "fashion-mnist",
        method: "EFM-256",
        m: 256,
        epochs: &TABLE2_EPOCHS,
        fid: &[202.62, 45.06, 22.16, 20.08, 17.74],
    },
    PaperRow {
        dataset: "fashion-mnist",
        method: "EFM-512",
        m: 512,
        epochs: &TABLE2_EPOCHS,
        fid: &[194.66, 44.19, 22.10, 18.93, 16.85],
    },
];

/// The epochs of the table of a dataset (by its table name).
fn epochs_of(dataset: &str) -> &'static [u64] {
    if dataset == ImageData::FashionMnist.name() { &TABLE2_EPOCHS } else { &TABLE1_EPOCHS }
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
fn paper_accuracy(dataset: &str) -> &'static str {
    if dataset == ImageData::FashionMnist.name() { "90%" } else { "99%" }
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
        let mut out = Vec::new();
        let ours: Vec<String> = distinct(&filter_eq(df, "metric", FEATURE_TEST_MEAN)?, "dataset")?;
        for name in &ours {
            let d = filter_eq(df, "dataset", name)?;
            let n = ImageData::parse(name).map_or(0, |i| i.sizes().0);
            let warmup = first(&filter_eq(&d, "metric", fig4::WARMUP_STEPS)?, "value")?;
            let accuracy = first(&filter_eq(&d, "metric", fig4::CLASSIFIER_ACCURACY)?, "value")?;
            let epochs = epochs_of(name);
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
                "Ours ({name}, classifier-feature Fréchet distance to the test images, mean ± sd over seeds; \
                 classifier accuracy {:.1}%, the paper's {}; * = inside the {} warm-up steps; - = beyond this \
                 profile's budget)",
                100.0 * accuracy,
                paper_accuracy(name),
                warmup
            );
            let mut k = KeyTable::new(title, &headers);
            let means = filter_eq(&d, "metric", FEATURE_TEST_MEAN)?;
            for method in distinct(&means, "method")? {
                let rows = filter_eq(&d, "method", &method)?;
                let m = first(&rows, "m")?;
                let refs = if method.starts_with("EFM") {
                    num((128.0f64.min(n as f64) + m) / n as f64, 2)
                } else {
                    "-".into()
                };
                let mut row = vec![method.clone(), refs];
                for &e in epochs {
                    let at = filter_near(&rows, "epoch", e as f64)?;
                    let mean = first(&filter_eq(&at, "metric", FEATURE_TEST_MEAN)?, "value")?;
                    let sd = first(&filter_eq(&at, "metric", FEATURE_TEST_SD)?, "value")?;
                    row.push(if mean.is_nan() {
                        "-".into()
                    } else if sd > 0.0 {
                        format!("{} ± {}", num(mean, 4), num(sd, 2))
                    } else {
                        num(mean, 4)
                    });
                }
                k.rows.push(row);
            }
            out.push(k);
        }
        for name in distinct(&filter_eq(df, "metric", PAPER_FID)?, "dataset")? {
            let r = filter_eq(&filter_eq(df, "dataset", &name)?, "metric", PAPER_FID)?;
            let epochs = distinct(&r, "epoch")?;
            let heads: Vec<String> =
                epochs.iter().map(|e| format!("epoch {}", e.trim_end_matches(".0"))).collect();
            let mut headers = vec!["method"];
            headers.extend(heads.iter().map(String::as_str));
            let mut k = KeyTable::new(
                format!("Published ({name}; not comparable in absolute value with ours)"),
                &headers,
            );
            for method in distinct(&r, "method")? {
                let m = filter_eq(&r, "method", &method)?;
                let mut row = vec![method.trim_start_matches("paper:").to_string()];
                for e in &epochs {
                    row.push(num(first(&filter_eq(&m, "epoch", e)?, "value")?, 4));
                }
                k.rows.push(row);
            }
            out.push(k);
        }
        Ok(out)
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let mut out = TableBuilder::new(&COLUMNS);
        let rows = filter_eq(table, "metric", "feature_test")?;
        for name in distinct(&rows, "dataset")? {
            let data = filter_eq(&rows, "dataset", &name)?;
            for method in distinct(&data, "method")? {
                let of_method = filter_eq(&data, "method", &method)?;
                let m = f64s(&of_method, "m")?[0] as i64;
                for &epoch in epochs_of(&name) {
                    let at = filter_near(&of_method, "epoch", epoch as f64)?;
                    if at.height() == 0 {
                        continue;
                    }
                    let (steps, values) = (f64s(&at, "step")?, f64s(&at, "value")?);
                    let (mean, sd) = mean_sd(&values);
                    let step = steps[0] as i64;
                    out.push(row![
                        name.clone(),
                        method.clone(),
                        m,
                        -1i64,
                        epoch as f64,
                        step,
                        FEATURE_TEST_MEAN,
                        mean
                    ]);
                    out.push(row![
                        name.clone(),
                        method.clone(),
                        m,
                        -1i64,
                        epoch as f64,
                        step,
                        FEATURE_TEST_SD,
                        sd
                    ]);
                }
            }
        }
        for p in &PAPER {
            for (&epoch, &fid) in p.epochs.iter().zip(p.fid) {
                let method = format!("paper:{}", p.method);
                out.push(row![p.dataset, method, p.m, -1i64, epoch as f64, -1i64, PAPER_FID, fid]);
            }
        }
        Ok(Some(out.finish()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_rows_match_their_epochs() {
        for p in &PAPER {
            assert_eq!(p.epochs.len(), p.fid.len(), "{} {}", p.dataset, p.method);
        }
    }
}
