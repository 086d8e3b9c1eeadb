//! Fig. 1a (mean): the mean of `cos(u*(x_t, t), x1 - x0)` against `t` on a fine grid, for every
//! dataset of the profile, Gaussian mixtures of increasing dimension included (App. D.2 of the
//! paper reports it at t = 0, 0.01, ..., 0.99). Claim C2: in high dimension the mean cosine is
//! close to 1 from early times on, decided on the highest-dimensional real images of the run.

use cfm_core::datasets::ImageData;
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::fig1a::{cosines, described};
use crate::claims::{Claim, Evidence, Measured};
use crate::data::{DataSpec, Dataset, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, mean, num, settles_above};
use crate::table::{TableBuilder, distinct, f64s, filter_eq, first};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/fig1a_mean.svg`).
pub const ID: &str = "fig1a_mean";

/// Columns of the table: per dataset and time, the statistics below.
pub const COLUMNS: [&str; 6] = ["dataset", "d", "n", "t", "statistic", "value"];
/// Mean cosine over the pairs.
pub const MEAN_COSINE: &str = "mean_cosine";
/// Fraction of pairs with cosine > 0.9.
pub const FRAC_ABOVE: &str = "frac_cosine_gt_0.9";
/// The level of "aligned" in C2 and the key numbers.
pub const LEVEL: f64 = 0.9;

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

struct MeanPlan {
    data: Vec<DataSpec>,
    pairs: usize,
    step: f64,
}

fn plan(profile: Profile) -> MeanPlan {
    let small = profile == Profile::Smoke;
    let gmm = |d| DataSpec::Gmm { d, k: 10, std: 0.5, n: if small { 500 } else { 5_000 } };
    let mut data = vec![
        DataSpec::TwoMoons { n: if small { 2_000 } else { 50_000 } },
        DataSpec::images(ImageData::Digits),
    ];
    let dims: &[usize] = if small { &[4, 64] } else { &[2, 16, 128, 1024] };
    data.extend(dims.iter().map(|&d| gmm(d)));
    match profile {
        Profile::Smoke => {}
        Profile::Quick => data.push(DataSpec::images(ImageData::FashionMnist)),
        Profile::Paper => {
            data.extend([ImageData::Mnist, ImageData::FashionMnist, ImageData::Cifar10].map(DataSpec::images))
        }
    }
    let (pairs, step) = if small { (64, 0.05) } else { (256, 0.01) };
    MeanPlan { data, pairs, step }
}

impl Plan for MeanPlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let times = grid(self.step, 0.99);
        Ok(self
            .data
            .iter()
            .map(|data| {
                let (n, d) = super::fig1a::size_of(data);
                let cost = super::fig1c::closed_form_cost(n, d, self.pairs, times.len());
                let cfg = CellConfig { data: data.clone(), pairs: self.pairs, times: times.clone() };
                CellSpec::new(data.name(), &cfg, cost, 2 * times.len()).reading(data.reads())
            })
            .collect())
    }
    fn caption(&self) -> String {
        format!(
            "Mean over {} pairs of cos(u*(x_t, t), x1 - x0) for t = 0, {}, ..., 0.99. Data: {}; Gaussian \
             mixtures: 10 components, means N(0, I), std 0.5. C2 is decided on the highest-dimensional real \
             images of the run.",
            self.pairs,
            self.step,
            described(&self.data)
        )
    }
}

/// The figure.
pub struct Fig1aMean;

impl Figure for Fig1aMean {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Mean cosine between the closed-form velocity and the stochastic target"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "App. D.2: the mean cosine at t = 0, 0.01, ..., 0.99; on CIFAR-10 it is close to 1 for most of [0, 1].",
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(plan(profile))
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let name = cfg.data.name();
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream("fig1a_mean").derive(&name));
        let cf = cfm_core::ClosedForm::new(data)?;
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length(cfg.times.len() as u64);
        for &t in &cfg.times {
            let (cos, _) = cosines(&cf, &x0, &x1, t)?;
            let above = cos.iter().filter(|&&c| c > LEVEL).count() as f64 / cos.len() as f64;
            table.push(row![name.clone(), d, n, t, MEAN_COSINE, mean(&cos)]);
            table.push(row![name.clone(), d, n, t, FRAC_ABOVE, above]);
            bar.inc(1);
        }
        table.finish()
    }
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C2",
            short: "In high dimension, u* aligns with the conditional target very early.",
            figure: ID,
            statement: "In high dimension u* aligns with the conditional target of the generating point very \
                        early; the mean cosine is about 1 for most of [0, 1].",
            paper: "CIFAR-10 (d = 3072): aligned before t = 0.2 (Fig. 1a, App. D.2)",
            on: &[
                Dataset::Images(ImageData::Cifar10),
                Dataset::Images(ImageData::Mnist),
                Dataset::Images(ImageData::FashionMnist),
                Dataset::Images(ImageData::Digits),
            ],
            reads: &[],
            regime: "The collapse time falls as d grows (t* ~ s / (1 + s), s = sqrt(2 ln n) / Delta, and Delta grows like sqrt(d)): at d = 64 the closed form aligns late, at d = 784 early; a FAIL on real images of high dimension would contradict the paper's point (2).",
            check: c2,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let mut k = KeyTable::new(
            "",
            &["dataset", "d", "n", "mean cos at t = 0.2", "at t = 0.5", "mean over t", ">= 0.9 from t ="],
        );
        for name in distinct(df, "dataset")? {
            let a = alignment(df, &name)?;
            let d = filter_eq(df, "dataset", &name)?;
            k.rows.push(vec![
                name,
                num(first(&d, "d")?, 4),
                num(first(&d, "n")?, 5),
                num(a.at(0.2), 3),
                num(a.at(0.5), 3),
                num(mean(&a.values), 3),
                a.settle.map_or("never".into(), |t| num(t, 2)),
            ]);
        }
        Ok(vec![k])
    }
}

/// The mean-cosine curve of one dataset and when it settles above [`LEVEL`].
pub struct Alignment {
    /// The time grid.
    pub ts: Vec<f64>,
    /// The mean cosine on it.
    pub values: Vec<f64>,
    /// The (interpolated) time from which it stays >= [`LEVEL`].
    pub settle: Option<f64>,
}

impl Alignment {
    /// The mean cosine at grid time `t` (NaN off the grid).
    pub fn at(&self, t: f64) -> f64 {
        self.ts.iter().position(|&x| (x - t).abs() < 1e-9).map_or(f64::NAN, |i| self.values[i])
    }
}

/// The mean-cosine curve of `dataset`.
pub fn alignment(df: &DataFrame, dataset: &str) -> Result<Alignment> {
    let rows = filter_eq(&filter_eq(df, "dataset", dataset)?, "statistic", MEAN_COSINE)?;
    let (ts, values) = (f64s(&rows, "t")?, f64s(&rows, "value")?);
    if ts.is_empty() {
        return Err(Error::invalid(format!("fig1a_mean: no {dataset} rows")));
    }
    let settle = settles_above(&ts, &values, LEVEL);
    Ok(Alignment { ts, values, settle })
}

/// C2 on `dataset` (the highest-dimensional real images present).
fn c2(e: &Evidence, dataset: &str) -> Result<Measured> {
    let df = &e.table;
    let a = alignment(df, dataset)?;
    let d = first(&filter_eq(df, "dataset", dataset)?, "d")?;
    let share = a.values.iter().filter(|&&v| v >= LEVEL).count() as f64 / a.values.len() as f64;
    let first_txt = a.settle.map_or("never".to_string(), |t| format!("t = {t:.3}"));
    Ok(Measured::new(
        format!(
            "{dataset} (d = {d}): mean cosine >= 0.9 from {first_txt} on; >= 0.9 on {:.0}% of the t grid",
            100.0 * share
        ),
        format!(
            "mean cosine >= 0.9 from {first_txt} on (needs t <= 0.2), on {:.0}% of the t grid (needs >= 80%)",
            100.0 * share
        ),
        "stays >= 0.9 from t = 0.2 or earlier, and >= 0.9 on at least 80% of [0, 1)",
        a.settle.is_some_and(|t| t <= 0.2) && share >= 0.8,
    ))
}
