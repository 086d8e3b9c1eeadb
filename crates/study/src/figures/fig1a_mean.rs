//! Fig. 1a (mean): the mean of `cos(u*(x_t, t), x1 - x0)` against `t` on a fine grid, for every
//! dataset of the profile, Gaussian mixtures of increasing dimension included (App. D.2 of the
//! paper reports it at t = 0, 0.01, ..., 0.99). Claim C2: in high dimension the mean cosine is
//! close to 1 from early times on.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::common::{DataSpec, cosines, grid, mean, pairs, settles_above};
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, distinct, f64s, filter_eq};
use crate::{Context, Error, Profile, Result, row};

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

fn datasets(profile: Profile) -> Vec<DataSpec> {
    let small = profile == Profile::Smoke;
    let gmm = |d| DataSpec::Gmm { d, k: 10, std: 0.5, n: if small { 500 } else { 5_000 } };
    let mut v =
        vec![DataSpec::TwoMoons { n: if small { 2_000 } else { 50_000 } }, DataSpec::Digits { size: None }];
    let dims: &[usize] = if small { &[4, 64] } else { &[2, 16, 128, 1024] };
    v.extend(dims.iter().map(|&d| gmm(d)));
    if profile == Profile::Paper {
        v.push(DataSpec::Mnist { n: None, size: None });
        v.push(DataSpec::Cifar10 { n: None, size: None });
    }
    v
}

/// The figure.
pub struct Fig1aMean;

impl Figure for Fig1aMean {
    fn id(&self) -> &'static str {
        "fig1a_mean"
    }
    fn title(&self) -> &'static str {
        "Mean cosine between the closed-form velocity and the stochastic target"
    }
    fn paper(&self) -> &'static str {
        "App. D.2: the mean cosine at t = 0, 0.01, ..., 0.99; on CIFAR-10 it is close to 1 for most of [0, 1]."
    }
    fn caption(&self, profile: Profile) -> String {
        let (pairs, step) = if profile == Profile::Smoke { (64, 0.05) } else { (256, 0.01) };
        let extra = match profile {
            Profile::Paper => " MNIST and CIFAR-10 as in the paper.",
            _ => " The 8x8 digits and Gaussian mixtures stand in for CIFAR-10 (d = 3072).",
        };
        format!(
            "Mean over {pairs} pairs of cos(u*(x_t, t), x1 - x0) for t = 0, {step}, ..., 0.99. \
             Gaussian mixtures: 10 components, means N(0, I), std 0.5.{extra}"
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        let (count, step) = if ctx.profile == Profile::Smoke { (64, 0.05) } else { (256, 0.01) };
        let times = grid(step, 0.99);
        Ok(datasets(ctx.profile)
            .into_iter()
            .map(|data| {
                let cost = match &data {
                    DataSpec::Gmm { d, n, .. } => (*d * *n) as f64 * 1.5e-6,
                    DataSpec::TwoMoons { n } => *n as f64 * 5e-5,
                    DataSpec::Mnist { .. } | DataSpec::Cifar10 { .. } => 600.0,
                    _ => 2.0,
                };
                CellSpec::new(data.name(), &CellConfig { data, pairs: count, times: times.clone() }, cost)
            })
            .collect())
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let name = cfg.data.name();
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream("fig1a_mean").derive(&name));
        let cf = cfm_core::ClosedForm::new(data)?;
        let mut table = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
        bar.set_length(cfg.times.len() as u64);
        for &t in &cfg.times {
            let (cos, _) = cosines(&cf, &x0, &x1, t)?;
            let above = cos.iter().filter(|&&c| c > 0.9).count() as f64 / cos.len() as f64;
            table.push(row![name.clone(), d, n, t, "mean_cosine", mean(&cos)]);
            table.push(row![name.clone(), d, n, t, "frac_cosine_gt_0.9", above]);
            bar.inc(1);
        }
        table.finish()
    }
}

/// C2 on the highest-dimensional dataset of the table.
fn c2(df: &DataFrame) -> Result<Measured> {
    let names = distinct(df, "dataset")?;
    let mut best: Option<(f64, String)> = None;
    for name in names {
        let d = f64s(&filter_eq(df, "dataset", &name)?, "d")?[0];
        if best.as_ref().is_none_or(|b| d > b.0) {
            best = Some((d, name));
        }
    }
    let (d, name) = best.ok_or_else(|| Error::invalid("empty table"))?;
    let rows = filter_eq(&filter_eq(df, "dataset", &name)?, "statistic", "mean_cosine")?;
    let (ts, vals) = (f64s(&rows, "t")?, f64s(&rows, "value")?);
    let first = settles_above(&ts, &vals, 0.9);
    let share = vals.iter().filter(|&&v| v >= 0.9).count() as f64 / vals.len() as f64;
    let first_txt = first.map_or("never".to_string(), |t| format!("t = {t:.3}"));
    Ok(Measured {
        value: format!(
            "{name} (d = {d}): mean cosine >= 0.9 from {first_txt} on; >= 0.9 on {:.0}% of the t grid",
            100.0 * share
        ),
        threshold: "stays >= 0.9 from t = 0.2 or earlier, and >= 0.9 on at least 80% of [0, 1)".into(),
        pass: first.is_some_and(|t| t <= 0.2) && share >= 0.8,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        id: "C2",
        figure: "fig1a_mean",
        statement: "In high dimension u* aligns with the conditional target of the generating point very \
                    early; the mean cosine is about 1 for most of [0, 1].",
        paper: "CIFAR-10 (d = 3072): aligned before t = 0.2 (Fig. 1a, App. D.2)",
        check: c2,
    }]
}
