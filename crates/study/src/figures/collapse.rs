//! Collapse time (beyond the paper): the first time `t*` at which the closed form has collapsed
//! onto the generating point, for Gaussian mixtures over a grid of dimension `d` and size `n`,
//! against `log(n) / d` (the scaling of the collapse time of Biroli et al. for Gaussian
//! mixtures, which the paper mentions but does not test), and for the image datasets at their
//! resolutions and several `n`: the clock on which the claims about trained networks (C5, C7)
//! are stated.
//!
//! **Predicted collapse time.** With `x_t = (1 - t) x0 + t x1`, the logit gap between the
//! generating point `x1` and a competitor `x_j` in the softmax of Proposition 1 is
//!
//! ```text
//! -(||x_t - t x1||^2 - ||x_t - t x_j||^2) / (2 (1 - t)^2)
//!   = t <x0, x1 - x_j> / (1 - t) + t^2 ||x1 - x_j||^2 / (2 (1 - t)^2).
//! ```
//!
//! The first term is noise of mean zero; the second, for the nearest competitor at distance
//! `Delta`, is `(t / (1 - t))^2 Delta^2 / 2`. The generating point outweighs all `n - 1` others
//! once that gap exceeds `ln n`, that is once `t / (1 - t) > s = sqrt(2 ln n) / Delta`:
//!
//! ```text
//! t*_pred = s / (1 + s),    s = sqrt(2 ln n) / Delta,
//! ```
//!
//! with `Delta` the mean distance from a training point to its nearest other one (estimated on
//! up to 2000 points, [`cfm_core::metrics::train_to_train_sampled`]). Every cell reports both.
//!
//! Two definitions, each the grid time (linearly interpolated) from which on
//! - the mean over pairs of `cos(u*(x_t, t), x1 - x0)` stays at or above 0.9 (`t_star_cosine`);
//! - the median over pairs of the largest softmax weight `max_i lambda_i(x_t, t)` stays at or
//!   above 0.9 (`t_star_weight`).
//!
//! The scan over `t` stops once both statistics are above 0.9 (the posterior only concentrates
//! further as `t` grows).
//!
//! A value of 1 means "not reached by t = 0.99". The summary rows hold the least-squares fit
//! `t* = a + b log(n) / d` over the points that did collapse (`fit_*`), and, since t* cannot
//! exceed 1 while log(n)/d spans three decades, the fit `t* = a + b ln(log(n) / d)`
//! (`fit_log_*`).

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;
use cfm_core::metrics::train_to_train_sampled;

use super::fig1a::cosines;
use crate::data::{DataSpec, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, least_squares, mean, num, settles_above};
use crate::table::{TableBuilder, distinct, f64s, filter_eq, stat_value};
use crate::{Context, Profile, Result, row};

/// The level both statistics must reach.
pub const LEVEL: f64 = 0.9;
/// The figure's id: its command-line name and its files' (`figures/collapse.svg`).
pub const ID: &str = "collapse";

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", "d", "n", "log_n_over_d", "statistic", "value"];
/// The mean nearest-other distance `Delta` of the training points.
pub const DELTA: &str = "delta";
/// The predicted collapse time `s / (1 + s)`.
pub const T_STAR_PREDICTED: &str = "t_star_predicted";
/// The `dataset` of the fit rows (fits over the Gaussian mixtures).
pub const GMM: &str = "gmm";
/// Training points whose nearest-other distance estimates `Delta`.
const DELTA_QUERIES: usize = 2000;
/// Collapse time by the mean cosine.
pub const T_STAR_COSINE: &str = "t_star_cosine";
/// Collapse time by the median largest weight.
pub const T_STAR_WEIGHT: &str = "t_star_weight";
/// The two definitions, as they suffix the fit statistics (`fit_slope_cosine`).
pub const DEFINITIONS: [&str; 2] = ["cosine", "weight"];

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

struct CollapsePlan {
    dims: Vec<usize>,
    sizes: Vec<usize>,
    /// Image datasets: `(data, sides, sizes)`.
    images: Vec<(ImageData, Vec<usize>, Vec<usize>)>,
    pairs: usize,
    step: f64,
}

fn plan(profile: Profile) -> CollapsePlan {
    let (dims, sizes) = match profile {
        Profile::Smoke => (vec![2, 32, 512], vec![100, 1_000]),
        Profile::Quick => (vec![2, 8, 32, 128, 512, 2048], vec![100, 1_000, 10_000]),
        Profile::Paper => (vec![2, 8, 32, 128, 512, 2048, 3072], vec![100, 1_000, 10_000]),
    };
    let digits = (ImageData::Digits, vec![8], vec![100, 1000, 1797]);
    let mnist_like = |d| (d, vec![7, 14, 28], vec![1000, 10_000, 60_000]);
    let images = match profile {
        Profile::Smoke => vec![(ImageData::Digits, vec![8], vec![100, 1797])],
        Profile::Quick => vec![mnist_like(ImageData::FashionMnist), digits],
        Profile::Paper => vec![
            (ImageData::Cifar10, vec![8, 16, 32], vec![1000, 10_000, 50_000]),
            mnist_like(ImageData::Mnist),
            mnist_like(ImageData::FashionMnist),
            digits,
        ],
    };
    let (pairs, step) = if profile == Profile::Smoke { (64, 0.02) } else { (256, 0.01) };
    CollapsePlan { dims, sizes, images, pairs, step }
}

impl Plan for CollapsePlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let times = grid(self.step, 0.99);
        let mut cells = Vec::new();
        let mut push = |label: String, data: DataSpec| {
            let (n, d) = super::fig1a::size_of(&data);
            // The scan stops at collapse: about half the grid on average.
            let cost = super::fig1c::closed_form_cost(n, d, self.pairs, times.len() / 2)
                + super::fig1c::closed_form_cost(n, d, DELTA_QUERIES.min(n), 1);
            let reads = data.reads();
            let cfg = CellConfig { data, pairs: self.pairs, times: times.clone() };
            cells.push(CellSpec::new(label, &cfg, cost, 4).reading(reads));
        };
        for &d in &self.dims {
            for &n in &self.sizes {
                push(format!("d={d} n={n}"), DataSpec::Gmm { d, k: 10, std: 0.5, n });
            }
        }
        for (data, sides, sizes) in &self.images {
            for &side in sides {
                for &n in sizes {
                    let spec = DataSpec::Images { data: *data, n: Some(n), size: Some(side) };
                    push(format!("{} n={n}", spec.name()), spec);
                }
            }
        }
        Ok(cells)
    }
    fn caption(&self) -> String {
        let images: Vec<String> = self
            .images
            .iter()
            .map(|(d, sides, sizes)| format!("{} at {sides:?} pixels a side, n in {sizes:?}", d.name()))
            .collect();
        format!(
            "Time t from which the mean cosine cos(u*(x_t, t), x1 - x0) over {} pairs, and the median \
             largest softmax weight, stay >= 0.9 (grid step {}; 1 = not reached by 0.99), for mixtures of \
             10 Gaussians (means N(0, I), std 0.5) with d in {:?} and n in {:?}, against log(n)/d (lines: \
             least-squares fits over the mixtures that collapsed), and for {} (average-pooled); beside \
             each, the predicted t* = s / (1 + s) with s = sqrt(2 ln n) / Delta, Delta the mean distance \
             of a training point to its nearest other one. Beyond the paper.",
            self.pairs,
            self.step,
            self.dims,
            self.sizes,
            images.join("; ")
        )
    }
}

/// The predicted collapse time `s / (1 + s)`, `s = sqrt(2 ln n) / delta` (module documentation).
pub fn predicted(n: usize, delta: f64) -> f64 {
    let s = (2.0 * (n as f64).ln()).sqrt() / delta;
    s / (1.0 + s)
}

/// The measured collapse time (largest weight) of `dataset` at its largest `n` and its native
/// resolution (the widest `d`), and the predicted one: the clock of claims C5 and C7. The
/// collapse table names pooled images by resolution (`fashion-mnist-28x28`): the rows of
/// `dataset` are those named `dataset` or `dataset-<side>x<side>`.
pub fn collapse_time(df: &DataFrame, dataset: &str) -> Result<(f64, f64)> {
    let names: Vec<String> = distinct(df, "dataset")?
        .into_iter()
        .filter(|name| {
            name == dataset
                || name.strip_prefix(dataset).and_then(|r| r.strip_prefix('-')).is_some_and(|side| {
                    side.split_once('x').is_some_and(|(a, b)| {
                        a == b && !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit())
                    })
                })
        })
        .collect();
    let mut best: Option<(f64, f64, DataFrame)> = None;
    for name in names {
        let rows = filter_eq(df, "dataset", &name)?;
        for (d, n) in f64s(&rows, "d")?.into_iter().zip(f64s(&rows, "n")?) {
            if best.as_ref().is_none_or(|b| (d, n) > (b.0, b.1)) {
                best = Some((d, n, rows.clone()));
            }
        }
    }
    let Some((d, n, rows)) = best else {
        return Err(crate::Error::invalid(format!("collapse: no {dataset} rows")));
    };
    let at = crate::table::filter_near(&crate::table::filter_near(&rows, "d", d)?, "n", n)?;
    Ok((stat_value(&at, T_STAR_WEIGHT)?, stat_value(&at, T_STAR_PREDICTED)?))
}

/// The figure.
pub struct Collapse;

impl Figure for Collapse {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Collapse time of the closed form against log(n)/d"
    }
    fn paper(&self) -> Option<&'static str> {
        None
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
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let mut images = KeyTable::new(
            "Measured and predicted collapse times",
            &["data", "d", "n", "Delta", "t* (mean cosine)", "t* (largest weight)", "predicted s / (1 + s)"],
        );
        for name in distinct(df, "dataset")? {
            let rows = filter_eq(&filter_eq(df, "dataset", &name)?, "statistic", DELTA)?;
            for (d, n) in f64s(&rows, "d")?.into_iter().zip(f64s(&rows, "n")?) {
                let r = crate::table::filter_near(
                    &crate::table::filter_near(&filter_eq(df, "dataset", &name)?, "d", d)?,
                    "n",
                    n,
                )?;
                images.rows.push(vec![
                    if name == GMM { format!("gmm-d{d}") } else { name.clone() },
                    num(d, 4),
                    num(n, 5),
                    num(stat_value(&r, DELTA)?, 3),
                    num(stat_value(&r, T_STAR_COSINE)?, 2),
                    num(stat_value(&r, T_STAR_WEIGHT)?, 2),
                    num(stat_value(&r, T_STAR_PREDICTED)?, 2),
                ]);
            }
        }
        let gmm = filter_eq(df, "dataset", GMM)?;
        let df = &gmm;
        let mut k = KeyTable::new(
            "Gaussian mixtures: fits of t* against x = log(n)/d",
            &["t* from", "points fitted", "linear in x = log(n)/d", "linear in ln x"],
        );
        for stat in DEFINITIONS {
            let v = |key: &str| -> Result<String> { Ok(num(stat_value(df, &format!("{key}_{stat}"))?, 3)) };
            k.rows.push(vec![
                stat.to_string(),
                v("fit_points")?,
                format!("{} + {} x (R^2 {})", v("fit_intercept")?, v("fit_slope")?, v("fit_r2")?),
                format!(
                    "{} + {} ln x (R^2 {})",
                    v("fit_log_intercept")?,
                    v("fit_log_slope")?,
                    v("fit_log_r2")?
                ),
            ]);
        }
        Ok(vec![images, k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let label = format!("{}-n{n}", cfg.data.name());
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream("collapse").derive(&label));
        let cf = cfm_core::ClosedForm::new(data)?;
        let (mut cos_curve, mut weight_curve, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        bar.set_length(cfg.times.len() as u64);
        for &t in &cfg.times {
            let (cos, mut maxw) = cosines(&cf, &x0, &x1, t)?;
            maxw.sort_by(f64::total_cmp);
            ts.push(t);
            cos_curve.push(mean(&cos));
            weight_curve.push(0.5 * (maxw[(maxw.len() - 1) / 2] + maxw[maxw.len() / 2]));
            bar.inc(1);
            // Both statistics have crossed: later times cannot change t*.
            if cos_curve.last() >= Some(&LEVEL) && weight_curve.last() >= Some(&LEVEL) {
                break;
            }
        }
        let x = (n as f64).ln() / d as f64;
        let delta = train_to_train_sampled(
            cf.refs(),
            DELTA_QUERIES,
            &mut ctx.stream("collapse").derive(&label).derive("delta"),
        )?;
        let name = match cfg.data {
            DataSpec::Gmm { .. } => GMM.to_string(),
            _ => cfg.data.name(),
        };
        let mut table = TableBuilder::new(&COLUMNS);
        table.push(row![
            name.clone(),
            d,
            n,
            x,
            T_STAR_COSINE,
            settles_above(&ts, &cos_curve, LEVEL).unwrap_or(1.0)
        ]);
        table.push(row![
            name.clone(),
            d,
            n,
            x,
            T_STAR_WEIGHT,
            settles_above(&ts, &weight_curve, LEVEL).unwrap_or(1.0)
        ]);
        table.push(row![name.clone(), d, n, x, DELTA, delta]);
        table.push(row![name, d, n, x, T_STAR_PREDICTED, predicted(n, delta)]);
        table.finish()
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let mut out = TableBuilder::new(&COLUMNS);
        let gmm = filter_eq(table, "dataset", GMM)?;
        for stat in DEFINITIONS {
            let rows = filter_eq(&gmm, "statistic", &format!("t_star_{stat}"))?;
            let pts: Vec<(f64, f64)> = f64s(&rows, "log_n_over_d")?
                .into_iter()
                .zip(f64s(&rows, "value")?)
                .filter(|&(_, t)| t < 1.0)
                .collect();
            let (a, b, r2) = least_squares(&pts);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_intercept_{stat}"), a]);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_slope_{stat}"), b]);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_r2_{stat}"), r2]);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_points_{stat}"), pts.len() as f64]);
            let logs: Vec<(f64, f64)> = pts.iter().map(|&(x, t)| (x.ln(), t)).collect();
            let (a, b, r2) = least_squares(&logs);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_log_intercept_{stat}"), a]);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_log_slope_{stat}"), b]);
            out.push(row![GMM, 0usize, 0usize, 0.0, format!("fit_log_r2_{stat}"), r2]);
        }
        Ok(Some(out.finish()?))
    }
}
