//! Collapse time (beyond the paper): the first time `t*` at which the closed form has collapsed
//! onto the generating point, for Gaussian mixtures over a grid of dimension `d` and size `n`,
//! against `log(n) / d` (the scaling of the collapse time of Biroli et al. for Gaussian
//! mixtures, which the paper mentions but does not test).
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

use super::fig1a::cosines;
use crate::data::{DataSpec, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, least_squares, mean, num, settles_above};
use crate::table::{TableBuilder, f64s, filter_eq, stat_value};
use crate::{Context, Profile, Result, row};

/// The level both statistics must reach.
pub const LEVEL: f64 = 0.9;
/// Columns of the table.
pub const COLUMNS: [&str; 5] = ["d", "n", "log_n_over_d", "statistic", "value"];
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
    pairs: usize,
    step: f64,
}

fn plan(profile: Profile) -> CollapsePlan {
    let (dims, sizes) = match profile {
        Profile::Smoke => (vec![2, 32, 512], vec![100, 1_000]),
        Profile::Quick => (vec![2, 8, 32, 128, 512, 2048], vec![100, 1_000, 10_000]),
        Profile::Paper => (vec![2, 8, 32, 128, 512, 2048, 3072], vec![100, 1_000, 10_000]),
    };
    let (pairs, step) = if profile == Profile::Smoke { (64, 0.02) } else { (256, 0.01) };
    CollapsePlan { dims, sizes, pairs, step }
}

impl Plan for CollapsePlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let times = grid(self.step, 0.99);
        let mut cells = Vec::new();
        for &d in &self.dims {
            for &n in &self.sizes {
                let data = DataSpec::Gmm { d, k: 10, std: 0.5, n };
                let cost = 0.05 + (d * n) as f64 * 5e-7;
                let cfg = CellConfig { data, pairs: self.pairs, times: times.clone() };
                cells.push(CellSpec::new(format!("d={d} n={n}"), &cfg, cost, 2));
            }
        }
        Ok(cells)
    }
    fn caption(&self) -> String {
        format!(
            "Time t from which the mean cosine cos(u*(x_t, t), x1 - x0) over {} pairs, and the median \
             largest softmax weight, stay >= 0.9 (grid step {}; 1 = not reached by 0.99), for mixtures of \
             10 Gaussians (means N(0, I), std 0.5) with d in {:?} and n in {:?}, against log(n)/d; \
             lines: least-squares fits over the points that collapsed. Beyond the paper.",
            self.pairs, self.step, self.dims, self.sizes
        )
    }
}

/// The figure.
pub struct Collapse;

impl Figure for Collapse {
    fn id(&self) -> &'static str {
        "collapse"
    }
    fn title(&self) -> &'static str {
        "Collapse time of the closed form against log(n)/d (Gaussian mixtures)"
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
        let mut k =
            KeyTable::new("", &["t* from", "points fitted", "linear in x = log(n)/d", "linear in ln x"]);
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
        Ok(vec![k])
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
        let mut table = TableBuilder::new(&COLUMNS);
        table.push(row![d, n, x, T_STAR_COSINE, settles_above(&ts, &cos_curve, LEVEL).unwrap_or(1.0)]);
        table.push(row![d, n, x, T_STAR_WEIGHT, settles_above(&ts, &weight_curve, LEVEL).unwrap_or(1.0)]);
        table.finish()
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let mut out = TableBuilder::new(&COLUMNS);
        for stat in DEFINITIONS {
            let rows = filter_eq(table, "statistic", &format!("t_star_{stat}"))?;
            let pts: Vec<(f64, f64)> = f64s(&rows, "log_n_over_d")?
                .into_iter()
                .zip(f64s(&rows, "value")?)
                .filter(|&(_, t)| t < 1.0)
                .collect();
            let (a, b, r2) = least_squares(&pts);
            out.push(row![0usize, 0usize, 0.0, format!("fit_intercept_{stat}"), a]);
            out.push(row![0usize, 0usize, 0.0, format!("fit_slope_{stat}"), b]);
            out.push(row![0usize, 0usize, 0.0, format!("fit_r2_{stat}"), r2]);
            out.push(row![0usize, 0usize, 0.0, format!("fit_points_{stat}"), pts.len() as f64]);
            let logs: Vec<(f64, f64)> = pts.iter().map(|&(x, t)| (x.ln(), t)).collect();
            let (a, b, r2) = least_squares(&logs);
            out.push(row![0usize, 0usize, 0.0, format!("fit_log_intercept_{stat}"), a]);
            out.push(row![0usize, 0usize, 0.0, format!("fit_log_slope_{stat}"), b]);
            out.push(row![0usize, 0usize, 0.0, format!("fit_log_r2_{stat}"), r2]);
        }
        Ok(Some(out.finish()?))
    }
}
