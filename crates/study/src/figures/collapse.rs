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
//!
//! The table reads into a [`View`]: one [`Cell`] per dataset, `d` and `n` with its collapse
//! times, `Delta` and prediction, and the mixtures' [`Fits`] per [`Definition`]. The summary's
//! fits, the key numbers, the collapse time that claims C5 and C7 are stated on
//! ([`View::collapse_time`]) and the figure all read that view.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;
use cfm_core::metrics::train_to_train_sampled;

use super::fig1a::cosines;
use crate::data::{DataSpec, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, least_squares, mean, num, settles_above};
use crate::table::{Columns, TableBuilder, slot, sorted_unique, unique};
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
/// The parts of a fit, as they prefix the fit statistics (`fit_slope_cosine`), in the order of
/// the summary rows: `t* = intercept + slope log(n)/d` with its R^2 over `points` collapsed
/// mixtures, then `t* = log_intercept + log_slope ln(log(n)/d)` with its R^2.
pub const FIT_PARTS: [&str; 7] =
    ["intercept", "slope", "r2", "points", "log_intercept", "log_slope", "log_r2"];

/// The statistic of fit part `part` (one of [`FIT_PARTS`]) for definition `definition`.
pub fn fit_statistic(part: &str, definition: &str) -> String {
    format!("fit_{part}_{definition}")
}

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

/// The collapse times of the closed form over `cf` by both definitions (1: not reached on
/// `times`), from the pairs `(x0, x1)`: the times are scanned in order until both statistics
/// have reached [`LEVEL`].
fn collapse_times(
    cf: &cfm_core::ClosedForm,
    x0: &cfm_core::Matrix,
    x1: &cfm_core::Matrix,
    times: &[f64],
    bar: &ProgressBar,
) -> Result<[f64; 2]> {
    let (mut cos_curve, mut weight_curve, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    bar.set_length(times.len() as u64);
    for &t in times {
        let (cos, mut maxw) = cosines(cf, x0, x1, t)?;
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
    let settled = |curve: &[f64]| settles_above(&ts, curve, LEVEL).unwrap_or(1.0);
    Ok([settled(&cos_curve), settled(&weight_curve)])
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
        let view = View::read(df)?;
        let mut images = KeyTable::new(
            "Measured and predicted collapse times",
            &["data", "d", "n", "Delta", "t* (mean cosine)", "t* (largest weight)", "predicted s / (1 + s)"],
        );
        let value = |v: Option<f64>, digits| num(v.unwrap_or(f64::NAN), digits);
        for dataset in unique(view.cells.iter().map(|c| &c.dataset)) {
            for c in view.cells.iter().filter(|c| &c.dataset == dataset && c.delta.is_some()) {
                images.rows.push(vec![
                    if c.dataset == GMM { format!("gmm-d{}", c.d) } else { c.dataset.clone() },
                    num(c.d, 4),
                    num(c.n, 5),
                    value(c.delta, 3),
                    value(c.t_star(Definition::Cosine), 2),
                    value(c.t_star(Definition::Weight), 2),
                    value(c.t_star_predicted, 2),
                ]);
            }
        }
        let mut k = KeyTable::new(
            "Gaussian mixtures: fits of t* against x = log(n)/d",
            &["t* from", "points fitted", "linear in x = log(n)/d", "linear in ln x"],
        );
        for definition in Definition::ALL {
            let fit = view.fits(definition);
            let v = |part: &Option<f64>| value(*part, 3);
            k.rows.push(vec![
                definition.key().to_string(),
                v(&fit.points),
                format!("{} + {} x (R^2 {})", v(&fit.intercept), v(&fit.slope), v(&fit.r2)),
                format!("{} + {} ln x (R^2 {})", v(&fit.log_intercept), v(&fit.log_slope), v(&fit.log_r2)),
            ]);
        }
        Ok(vec![images, k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let streams = ctx.stream("collapse").derive(&format!("{}-n{n}", cfg.data.name()));
        let (x0, x1) = pairs(&data, cfg.pairs, &streams);
        let cf = cfm_core::ClosedForm::new(data)?;
        let [t_star_cosine, t_star_weight] = collapse_times(&cf, &x0, &x1, &cfg.times, bar)?;
        let delta = train_to_train_sampled(cf.refs(), DELTA_QUERIES, &mut streams.derive("delta"))?;
        let name = match cfg.data {
            DataSpec::Gmm { .. } => GMM.to_string(),
            _ => cfg.data.name(),
        };
        let x = (n as f64).ln() / d as f64;
        let mut table = TableBuilder::new(&COLUMNS);
        for (stat, v) in [
            (T_STAR_COSINE, t_star_cosine),
            (T_STAR_WEIGHT, t_star_weight),
            (DELTA, delta),
            (T_STAR_PREDICTED, predicted(n, delta)),
        ] {
            table.push(row![name.clone(), d, n, x, stat, v]);
        }
        table.finish()
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let view = View::read(table)?;
        let mut out = TableBuilder::new(&COLUMNS);
        for definition in Definition::ALL {
            let pts = view.mixture_points(definition);
            let (a, b, r2) = least_squares(&pts);
            let logs: Vec<(f64, f64)> = pts.iter().map(|&(x, t)| (x.ln(), t)).collect();
            let (log_a, log_b, log_r2) = least_squares(&logs);
            for (part, v) in FIT_PARTS.into_iter().zip([a, b, r2, pts.len() as f64, log_a, log_b, log_r2]) {
                out.push(row![GMM, 0usize, 0usize, 0.0, fit_statistic(part, definition.key()), v]);
            }
        }
        Ok(Some(out.finish()?))
    }
}

/// The two definitions of the collapse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Definition {
    /// From the mean cosine of `u*` with `x1 - x0`.
    Cosine,
    /// From the median largest softmax weight.
    Weight,
}

impl Definition {
    /// Both, in the order of the table's rows and the figure's panels.
    pub const ALL: [Definition; 2] = [Definition::Cosine, Definition::Weight];

    /// The key that suffixes its fit statistics (one of [`DEFINITIONS`]).
    pub fn key(self) -> &'static str {
        DEFINITIONS[self as usize]
    }

    /// Its collapse time's statistic.
    pub fn statistic(self) -> &'static str {
        [T_STAR_COSINE, T_STAR_WEIGHT][self as usize]
    }
}

/// One cell of the figure: a dataset of `n` points in dimension `d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Name in the table: [`GMM`] for every mixture, the image dataset by its resolution
    /// (`fashion-mnist-28x28`).
    pub dataset: String,
    /// Dimension.
    pub d: f64,
    /// Number of training points.
    pub n: f64,
    /// The abscissa `log(n) / d`.
    pub log_n_over_d: f64,
    /// The measured collapse time per [`Definition`] (1: not reached by t = 0.99), where the
    /// table holds it.
    pub t_star: [Option<f64>; 2],
    /// The mean distance `Delta` of a training point to its nearest other one.
    pub delta: Option<f64>,
    /// The predicted collapse time `s / (1 + s)`.
    pub t_star_predicted: Option<f64>,
}

impl Cell {
    /// The measured collapse time by `definition`.
    pub fn t_star(&self, definition: Definition) -> Option<f64> {
        self.t_star[definition as usize]
    }
}

/// The summary's fits of `t*` against `log(n)/d` over the mixtures that collapsed, for one
/// definition; each part where the table holds it (the parts of [`FIT_PARTS`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fits {
    /// `a` of `t* = a + b log(n)/d`.
    pub intercept: Option<f64>,
    /// `b` of `t* = a + b log(n)/d`.
    pub slope: Option<f64>,
    /// R^2 of `t* = a + b log(n)/d`.
    pub r2: Option<f64>,
    /// The number of mixtures fitted (those that collapsed by t = 0.99).
    pub points: Option<f64>,
    /// `a` of `t* = a + b ln(log(n)/d)`.
    pub log_intercept: Option<f64>,
    /// `b` of `t* = a + b ln(log(n)/d)`.
    pub log_slope: Option<f64>,
    /// R^2 of `t* = a + b ln(log(n)/d)`.
    pub log_r2: Option<f64>,
}

impl Fits {
    /// The parts, in the order of [`FIT_PARTS`].
    pub fn parts(&self) -> [Option<f64>; 7] {
        [self.intercept, self.slope, self.r2, self.points, self.log_intercept, self.log_slope, self.log_r2]
    }

    /// Part number `part` of [`FIT_PARTS`].
    fn part_mut(&mut self, part: usize) -> &mut Option<f64> {
        let parts = [
            &mut self.intercept,
            &mut self.slope,
            &mut self.r2,
            &mut self.points,
            &mut self.log_intercept,
            &mut self.log_slope,
            &mut self.log_r2,
        ];
        parts.into_iter().nth(part).expect("a part of FIT_PARTS")
    }
}

/// What the figure draws in one panel: the collapse times by one definition and the fit in
/// `ln(log(n)/d)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Points `(log(n)/d, n, t*)` in table order (t* = 1: not reached).
    pub points: Vec<(f64, f64, f64)>,
    /// `(a, b, R^2, points)` of `t* = a + b ln(log(n)/d)` over the mixtures (NaN: no fit).
    pub fit: [f64; 4],
}

/// The collapse table as the summary, the key numbers, the claims that read the collapse time
/// and the figure read it.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The cells, in order of first appearance in the table.
    pub cells: Vec<Cell>,
    /// The fits over the mixtures per [`Definition`] (empty before the summary is added).
    pub fits: [Fits; 2],
}

impl View {
    /// Reads the table: every statistic must be one the figure writes.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, d, n, log_n_over_d, statistic, value] = COLUMNS;
        let (names, stats) = (cols.text(dataset)?, cols.text(statistic)?);
        let (ds, ns, xs, values) = (cols.num(d)?, cols.num(n)?, cols.num(log_n_over_d)?, cols.num(value)?);
        let fit_stats: Vec<(usize, usize, String)> = (0..2)
            .flat_map(|k| (0..FIT_PARTS.len()).map(move |p| (k, p)))
            .map(|(k, p)| (k, p, fit_statistic(FIT_PARTS[p], DEFINITIONS[k])))
            .collect();
        let mut view = View { cells: Vec::new(), fits: Default::default() };
        for i in 0..names.len() {
            if let Some((k, p, _)) = fit_stats.iter().find(|f| f.2 == stats[i]) {
                view.fits[*k].part_mut(*p).get_or_insert(values[i]);
                continue;
            }
            let cell = slot(
                &mut view.cells,
                |c| c.dataset == names[i] && c.d == ds[i] && c.n == ns[i],
                || Cell {
                    dataset: names[i].clone(),
                    d: ds[i],
                    n: ns[i],
                    log_n_over_d: xs[i],
                    t_star: [None; 2],
                    delta: None,
                    t_star_predicted: None,
                },
            );
            let field = match stats[i].as_str() {
                T_STAR_COSINE => &mut cell.t_star[0],
                T_STAR_WEIGHT => &mut cell.t_star[1],
                DELTA => &mut cell.delta,
                T_STAR_PREDICTED => &mut cell.t_star_predicted,
                other => return Err(cols.malformed(format!("unknown statistic '{other}'"))),
            };
            field.get_or_insert(values[i]);
        }
        Ok(view)
    }

    /// The fits by `definition`.
    pub fn fits(&self, definition: Definition) -> &Fits {
        &self.fits[definition as usize]
    }

    /// The mixtures that collapsed by `definition` (t* < 1), as `(log(n)/d, t*)` in table order:
    /// the points the summary's fits are over.
    pub fn mixture_points(&self, definition: Definition) -> Vec<(f64, f64)> {
        self.cells
            .iter()
            .filter(|c| c.dataset == GMM)
            .filter_map(|c| Some((c.log_n_over_d, c.t_star(definition)?)))
            .filter(|&(_, t)| t < 1.0)
            .collect()
    }

    /// The panel of `definition`: every cell's collapse time by it (there must be one, at a
    /// positive `log(n)/d`) and the fit in `ln(log(n)/d)` (its four numbers must be there).
    pub fn panel(&self, definition: Definition) -> Result<Panel> {
        let stat = definition.statistic();
        let points: Vec<(f64, f64, f64)> =
            self.cells.iter().filter_map(|c| Some((c.log_n_over_d, c.n, c.t_star(definition)?))).collect();
        let malformed = |msg: String| crate::Error::malformed(ID, msg);
        if points.is_empty() {
            return Err(malformed(format!("no '{stat}' rows")));
        }
        if let Some(p) = points.iter().find(|p| p.0.is_nan() || p.0 <= 0.0) {
            let msg = format!("'{stat}' row with {} = {}: must be positive", COLUMNS[3], p.0);
            return Err(malformed(msg));
        }
        let parts = self.fits(definition).parts();
        let part = |k: usize| {
            let stat = fit_statistic(FIT_PARTS[k], definition.key());
            parts[k].ok_or_else(|| malformed(format!("no '{stat}' row")))
        };
        // The fit in ln(log(n)/d) and its point count: parts 4, 5, 6 and 3 of FIT_PARTS.
        let fit = [part(4)?, part(5)?, part(6)?, part(3)?];
        Ok(Panel { points, fit })
    }

    /// The predicted collapse times, as `(log(n)/d, n, t*)` per cell that has one.
    pub fn predicted(&self) -> Vec<(f64, f64, f64)> {
        self.cells.iter().filter_map(|c| Some((c.log_n_over_d, c.n, c.t_star_predicted?))).collect()
    }

    /// The sizes `n` of the cells with a measured collapse time, ascending.
    pub fn sizes(&self) -> Vec<f64> {
        sorted_unique(self.cells.iter().filter(|c| c.t_star.iter().any(Option::is_some)).map(|c| c.n))
    }

    /// The measured collapse time (largest weight) of `dataset` at its largest `n` and its
    /// native resolution (the widest `d`), and the predicted one: the clock of claims C5 and C7
    /// (NaN where the cell lacks one). The table names pooled images by resolution
    /// (`fashion-mnist-28x28`): the cells of `dataset` are those named `dataset` or
    /// `dataset-<side>x<side>`.
    pub fn collapse_time(&self, dataset: &str) -> Result<(f64, f64)> {
        let of_dataset = |name: &str| {
            name == dataset
                || name.strip_prefix(dataset).and_then(|r| r.strip_prefix('-')).is_some_and(|side| {
                    side.split_once('x').is_some_and(|(a, b)| {
                        a == b && !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit())
                    })
                })
        };
        let mut best: Option<&Cell> = None;
        for name in
            unique(self.cells.iter().map(|c| c.dataset.as_str())).into_iter().filter(|n| of_dataset(n))
        {
            for c in self.cells.iter().filter(|c| c.dataset == name) {
                if best.is_none_or(|b| (c.d, c.n) > (b.d, b.n)) {
                    best = Some(c);
                }
            }
        }
        let Some(c) = best else {
            return Err(crate::Error::invalid(format!("collapse: no {dataset} rows")));
        };
        let or_nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
        Ok((or_nan(c.t_star(Definition::Weight)), or_nan(c.t_star_predicted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mixtures at d = 2 (n = 100 censored by the weight) and d = 32, digits natively (8x8,
    /// n = 100 and 1797) and pooled (4x4, larger n), and the summary's fits.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (name, d, n, cosine, weight) in [
            (GMM, 2usize, 100usize, 0.9, 1.0),
            (GMM, 32, 100, 0.3, 0.4),
            ("digits-8x8", 64, 100, 0.2, 0.3),
            ("digits-8x8", 64, 1797, 0.25, 0.35),
            ("digits-4x4", 16, 5000, 0.5, 0.6),
            ("digits-extra", 128, 9999, 0.0, 0.0),
        ] {
            let x = (n as f64).ln() / d as f64;
            b.push(row![name, d, n, x, T_STAR_COSINE, cosine]);
            b.push(row![name, d, n, x, T_STAR_WEIGHT, weight]);
            b.push(row![name, d, n, x, DELTA, 1.5]);
            b.push(row![name, d, n, x, T_STAR_PREDICTED, weight + 0.05]);
        }
        for (k, part) in FIT_PARTS.into_iter().enumerate() {
            b.push(row![GMM, 0usize, 0usize, 0.0, fit_statistic(part, Definition::Weight.key()), k as f64]);
        }
        b.finish().unwrap()
    }

    #[test]
    fn the_collapse_time_is_the_native_resolutions_largest_n() {
        let view = View::read(&table()).unwrap();
        assert_eq!(view.collapse_time("digits").unwrap(), (0.35, 0.35 + 0.05));
        assert!(view.collapse_time("fashion-mnist").is_err());
    }

    #[test]
    fn the_fits_are_over_the_mixtures_that_collapsed() {
        let view = View::read(&table()).unwrap();
        let x = |n: f64, d: f64| n.ln() / d;
        assert_eq!(
            view.mixture_points(Definition::Cosine),
            vec![(x(100.0, 2.0), 0.9), (x(100.0, 32.0), 0.3)]
        );
        assert_eq!(view.mixture_points(Definition::Weight), vec![(x(100.0, 32.0), 0.4)]);
        let weight = view.panel(Definition::Weight).unwrap();
        assert_eq!((weight.points.len(), weight.fit), (6, [4.0, 5.0, 6.0, 3.0]));
        assert_eq!(view.fits(Definition::Weight).slope, Some(1.0));
        let err = view.panel(Definition::Cosine).unwrap_err().to_string();
        assert!(err.contains("no 'fit_log_intercept_cosine' row"), "{err}");
        assert_eq!(view.sizes(), vec![100.0, 1797.0, 5000.0, 9999.0]);
    }
}
