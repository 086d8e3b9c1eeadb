//! Proposition 2 checked numerically (beyond the paper): bias and variance of the EFM estimator
//! `u*_M` against `M`, at fixed points `x_t`.
//!
//! For a query `x_t` the exact posterior over training points is `lambda(x_t, t)` (Prop. 1), so
//! the generating point can be drawn exactly: `b_1 ~ lambda`, then `b_2..b_M` distinct uniform
//! others (the unbiased estimator), or all `M` references uniform (the biased self-normalised
//! variant). Over `R` draws per query: `bias = ||mean(u_M) - u*||`, its z-score
//! `bias / sqrt(tr Cov / R)` (about 1 for an unbiased estimator, large for a biased one), and
//! `variance = tr Cov(u_M)` (for `M = 1` the variance of the conditional target `u_cond`).
//! Values are averaged over the queries.
//!
//! The table reads into a [`View`]: per dataset, one [`Curve`] per estimator and time, each
//! statistic against `M`. The claim (C9), the key numbers and the figure all read that view.

use cfm_core::efm::{RefMode, RefSets, draw_biased, draw_refs, estimate};
use cfm_core::reference::{dist_scaled, softmax};
use cfm_core::targets::interpolate;
use cfm_core::{Matrix, Stream};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;

use crate::claims::{Claim, Evidence, Measured};
use crate::data::{DataSpec, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::num;
use crate::table::{Columns, TableBuilder, sorted_unique, unique};
use crate::{Context, Profile, Result, row};

/// Times of the figure.
pub const TIMES: [f64; 3] = [0.05, 0.2, 0.5];

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    t: f64,
    queries: usize,
    draws: usize,
    ms: Vec<usize>,
}

/// The figure's id: its command-line name and its files' (`figures/prop2.svg`).
pub const ID: &str = "prop2";

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", "estimator", "t", "m", "statistic", "value"];
/// `||E u*_M - u*||`.
pub const BIAS: &str = "bias";
/// The bias over its Monte-Carlo standard error.
pub const BIAS_Z: &str = "bias_z";
/// `tr Cov(u*_M)`.
pub const VARIANCE: &str = "variance";
/// `b_1` from the exact posterior.
pub const UNBIASED: &str = "unbiased";
/// All `M` references uniform.
pub const BIASED: &str = "biased";

struct Prop2Plan {
    data: Vec<DataSpec>,
    queries: usize,
    draws: usize,
}

fn plan(profile: Profile) -> Prop2Plan {
    let n = if profile == Profile::Smoke { 300 } else { 1_000 };
    let (queries, draws) = if profile == Profile::Smoke { (4, 50) } else { (16, 400) };
    Prop2Plan { data: vec![DataSpec::TwoMoons { n }, DataSpec::images(ImageData::Digits)], queries, draws }
}

impl Plan for Prop2Plan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let mut cells = Vec::new();
        for data in &self.data {
            let n = match data {
                DataSpec::TwoMoons { n } => *n,
                _ => 1797,
            };
            let ms: Vec<usize> = (0..=10).map(|k| 1usize << k).filter(|&m| m <= n).collect();
            for t in TIMES {
                let label = format!("{} t={t}", data.name());
                let cost = self.queries as f64 * self.draws as f64 * 2048.0 * 64.0 * 4e-9;
                let rows = 2 * ms.len() * 3;
                let cfg = CellConfig {
                    data: data.clone(),
                    t,
                    queries: self.queries,
                    draws: self.draws,
                    ms: ms.clone(),
                };
                cells.push(CellSpec::new(label, &cfg, cost, rows));
            }
        }
        Ok(cells)
    }
    fn caption(&self) -> String {
        format!(
            "EFM estimate u*_M at fixed x_t (t = 0.05, 0.2, 0.5), averaged over {} queries with {} draws each: \
             bias ||E u*_M - u*||, its z-score (bias over its Monte-Carlo standard error; ~1 when unbiased) and \
             variance tr Cov(u*_M), against M. Unbiased: b_1 drawn from the exact posterior, M - 1 distinct \
             uniform others; biased: M uniform references. Data: {}. Beyond the paper.",
            self.queries,
            self.draws,
            super::fig1a::described(&self.data)
        )
    }
}

/// The figure.
pub struct Prop2;

impl Figure for Prop2 {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Bias and variance of the EFM estimator (Proposition 2)"
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
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C9",
            short: "u*_M is unbiased with variance at most that of u_cond; the independent-b1 variant is biased.",
            figure: ID,
            statement: "Proposition 2: u*_M is unbiased with variance no larger than that of u_cond; drawing b_1 \
                        independently gives a biased estimator.",
            paper: "Prop. 2 (i)-(iii), proved, not measured, in the paper",
            on: &[],
            reads: &[],
            regime: "Proposition 2 is a theorem: its estimates over many draws must agree within their Monte-Carlo error; a FAIL means an implementation error in the EFM target.",
            check: c9,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut k = KeyTable::new(
            "",
            &["dataset", "estimator", "t", "max bias z-score", "variance at M = 1", "variance at largest M"],
        );
        for data in &view.datasets {
            for curve in data.by_estimator() {
                let (first, (m_last, last)) = (curve.variance[0].1, curve.largest_m_variance());
                k.rows.push(vec![
                    data.dataset.clone(),
                    curve.estimator.name().to_string(),
                    curve.t.to_string(),
                    num(curve.max_bias_z(), 3),
                    num(first, 3),
                    format!("{} (M = {})", num(last, 3), m_last),
                ]);
            }
        }
        Ok(vec![k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let name = cfg.data.name();
        let train = cfg.data.load(ctx)?;
        let n = train.rows();
        let s = ctx.stream("prop2").derive(&name).derive(&format!("t={}", cfg.t));
        let (x0, x1) = pairs(&train, cfg.queries, &s.derive("queries"));
        let xt = interpolate(&x0, &x1, &vec![cfg.t; cfg.queries]);
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length((cfg.ms.len() * 2) as u64);
        for estimator in Estimator::ALL {
            for &m in &cfg.ms {
                let (mut bias, mut z, mut var) = (0.0, 0.0, 0.0);
                for q in 0..cfg.queries {
                    let mut rs = s.derive(estimator.name()).derive_index(m as u64).derive_index(q as u64);
                    let query = xt.row(q);
                    let (lambda, exact) = posterior(&train, query, cfg.t);
                    let refs = references(estimator, n, &lambda, cfg.draws, m, &mut rs)?;
                    let queries = Matrix::from_rows(&vec![query; cfg.draws])?;
                    let est = estimate(&train, &refs, &queries, &vec![cfg.t; cfg.draws]);
                    let (b, zq, v) = moments(&est, &exact);
                    bias += b;
                    z += zq;
                    var += v;
                }
                let k = cfg.queries as f64;
                for (stat, v) in [(BIAS, bias / k), (BIAS_Z, z / k), (VARIANCE, var / k)] {
                    table.push(row![name.clone(), estimator.name(), cfg.t, m, stat, v]);
                }
                bar.inc(1);
            }
        }
        table.finish()
    }
}

/// `draws` reference sets of `M = m` of the `n` training points for `estimator`: the unbiased
/// one's generating point from the posterior `lambda`, then `m - 1` distinct uniform others; the
/// biased one's `m` uniform references.
fn references(
    estimator: Estimator,
    n: usize,
    lambda: &[f64],
    draws: usize,
    m: usize,
    rs: &mut Stream,
) -> Result<RefSets> {
    Ok(match estimator {
        Estimator::Unbiased => {
            let picks: Vec<usize> = (0..draws).map(|_| sample(lambda, rs)).collect();
            RefSets(
                picks
                    .iter()
                    .map(|&j| draw_refs(n, &[j], m, RefMode::Paper, rs).map(|r| r.0[0].clone()))
                    .collect::<cfm_core::Result<_>>()?,
            )
        }
        Estimator::Biased => draw_biased(n, draws, m, rs),
    })
}

/// Exact posterior weights `lambda(x, t)` and `u*(x, t)` in `f64`.
fn posterior(train: &Matrix, x: &[f32], t: f64) -> (Vec<f64>, Vec<f64>) {
    let c = 0.5 / ((1.0 - t) * (1.0 - t));
    let logits: Vec<f64> = train.iter_rows().map(|r| -c * dist_scaled(x, r, t)).collect();
    let w = softmax(&logits);
    let mut u = vec![0.0; x.len()];
    for (wi, r) in w.iter().zip(train.iter_rows()) {
        for (uk, (&rk, &xk)) in u.iter_mut().zip(r.iter().zip(x)) {
            *uk += wi * (rk as f64 - xk as f64) / (1.0 - t);
        }
    }
    (w, u)
}

/// One index drawn from the categorical distribution `w` (inverse CDF).
fn sample(w: &[f64], s: &mut Stream) -> usize {
    let u = s.uniform();
    let mut acc = 0.0;
    for (i, wi) in w.iter().enumerate() {
        acc += wi;
        if u < acc {
            return i;
        }
    }
    w.len() - 1
}

/// `(||mean - exact||, z-score, tr Cov)` of the rows of `est`.
fn moments(est: &Matrix, exact: &[f64]) -> (f64, f64, f64) {
    let r = est.rows() as f64;
    let mut mean = vec![0.0; exact.len()];
    for row in est.iter_rows() {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64 / r);
    }
    let trace: f64 = est
        .iter_rows()
        .map(|row| row.iter().zip(&mean).map(|(&v, m)| (v as f64 - m).powi(2)).sum::<f64>())
        .sum::<f64>()
        / (r - 1.0);
    let bias = mean.iter().zip(exact).map(|(m, e)| (m - e).powi(2)).sum::<f64>().sqrt();
    let z = if trace > 0.0 { bias / (trace / r).sqrt() } else { 0.0 };
    (bias, z, trace)
}

/// C9: unbiasedness (z <= 3 everywhere), variance <= 1.1 x that of u_cond, and a biased variant
/// (z > 3 at t = 0.5 for every M <= 16).
fn c9(e: &Evidence, _: &str) -> Result<Measured> {
    let view = View::read(&e.table)?;
    let max_z = view.max_unbiased_z();
    let worst_ratio = view.worst_variance_ratio();
    let min_z_biased = view.min_biased_z(0.5, 16.0);
    Ok(Measured::new(
        format!(
            "unbiased: max bias z-score {max_z:.2}, max variance / variance(M=1) {worst_ratio:.3}; \
             biased variant: min z-score at t = 0.5, M <= 16: {min_z_biased:.1}"
        ),
        format!(
            "max bias z-score {max_z:.2} (needs <= 3); variance ratio {worst_ratio:.3} (needs <= 1.1); biased \
             variant's min z-score {min_z_biased:.1} (needs > 3)"
        ),
        "unbiased z <= 3 everywhere; variance ratio <= 1.1; biased z > 3",
        max_z <= 3.0 && worst_ratio <= 1.1 && min_z_biased > 3.0,
    ))
}

/// The two estimators of the figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// `b_1` drawn from the exact posterior, `M - 1` distinct uniform others: `u*_M`.
    Unbiased,
    /// All `M` references uniform (the self-normalised variant).
    Biased,
}

impl Estimator {
    /// Both, in the figure's order (solid, then dashed).
    pub const ALL: [Estimator; 2] = [Estimator::Unbiased, Estimator::Biased];

    /// Name in the table's `estimator` column.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Unbiased => UNBIASED,
            Estimator::Biased => BIASED,
        }
    }
}

/// The statistics of the table, measured per estimator, time and `M`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// `||E u*_M - u*||`.
    Bias,
    /// The bias over its Monte-Carlo standard error.
    BiasZ,
    /// `tr Cov(u*_M)`.
    Variance,
}

impl Statistic {
    /// Name in the table's `statistic` column.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Bias => BIAS,
            Statistic::BiasZ => BIAS_Z,
            Statistic::Variance => VARIANCE,
        }
    }
}

/// One estimator at one time `t`: each statistic as points `(M, value)`, ascending `M`.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The estimator.
    pub estimator: Estimator,
    /// The time of the queries `x_t`.
    pub t: f64,
    /// The bias `||E u*_M - u*||`, averaged over the queries.
    pub bias: Vec<(f64, f64)>,
    /// The bias over its Monte-Carlo standard error (about 1 when unbiased).
    pub bias_z: Vec<(f64, f64)>,
    /// The variance `tr Cov(u*_M)` (at `M = 1`: that of the conditional target `u_cond`).
    pub variance: Vec<(f64, f64)>,
}

impl Curve {
    /// The points of `stat`.
    pub fn points(&self, stat: Statistic) -> &[(f64, f64)] {
        match stat {
            Statistic::Bias => &self.bias,
            Statistic::BiasZ => &self.bias_z,
            Statistic::Variance => &self.variance,
        }
    }

    /// The largest bias z-score over `M` (0 when none is positive).
    pub fn max_bias_z(&self) -> f64 {
        self.bias_z.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// `(M, variance)` at the largest `M` (NaN for both without variance points).
    pub fn largest_m_variance(&self) -> (f64, f64) {
        self.variance.last().copied().unwrap_or((f64::NAN, f64::NAN))
    }
}

/// One dataset's curves.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetView {
    /// Name in the table (`two-moons`, `digits`).
    pub dataset: String,
    /// One curve per estimator and time, in order of first appearance in the table.
    pub curves: Vec<Curve>,
}

impl DatasetView {
    /// The curves grouped by estimator (in order of first appearance), each group's in order of
    /// first appearance.
    pub fn by_estimator(&self) -> Vec<&Curve> {
        let estimators = unique(self.curves.iter().map(|c| c.estimator));
        estimators.into_iter().flat_map(|e| self.curves.iter().filter(move |c| c.estimator == e)).collect()
    }

    /// The curve of `estimator` at time `t`, if the table holds one.
    pub fn curve(&self, estimator: Estimator, t: f64) -> Option<&Curve> {
        self.curves.iter().find(|c| c.estimator == estimator && c.t == t)
    }
}

/// The Proposition 2 table as the claim, the key numbers and the figure read it.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Per dataset, in order of first appearance.
    pub datasets: Vec<DatasetView>,
    /// The times of the queries, ascending.
    pub times: Vec<f64>,
    /// The smallest and the largest number of references `M`.
    pub m_range: (f64, f64),
}

impl View {
    /// Reads the table: estimators must be known, `M` at least 1, and every dataset must have
    /// variance and bias z-score rows.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, estimator, t, m, statistic, value] = COLUMNS;
        let (names, estimators, stats) = (cols.text(dataset)?, cols.text(estimator)?, cols.text(statistic)?);
        let (ts, ms, values) = (cols.num(t)?, cols.num(m)?, cols.num(value)?);
        let mut datasets: Vec<DatasetView> = Vec::new();
        for i in 0..names.len() {
            let estimator =
                Estimator::ALL.into_iter().find(|e| e.name() == estimators[i]).ok_or_else(|| {
                    cols.malformed(format!(
                        "unknown estimator '{}' (expected {UNBIASED} or {BIASED})",
                        estimators[i]
                    ))
                })?;
            let stat = [Statistic::Bias, Statistic::BiasZ, Statistic::Variance]
                .into_iter()
                .find(|s| s.name() == stats[i])
                .ok_or_else(|| cols.malformed(format!("unknown statistic '{}'", stats[i])))?;
            let at = match datasets.iter().position(|d| d.dataset == names[i]) {
                Some(k) => k,
                None => {
                    datasets.push(DatasetView { dataset: names[i].clone(), curves: Vec::new() });
                    datasets.len() - 1
                }
            };
            let curves = &mut datasets[at].curves;
            let k = match curves.iter().position(|c| c.estimator == estimator && c.t == ts[i]) {
                Some(k) => k,
                None => {
                    let (bias, bias_z, variance) = (Vec::new(), Vec::new(), Vec::new());
                    curves.push(Curve { estimator, t: ts[i], bias, bias_z, variance });
                    curves.len() - 1
                }
            };
            let points = match stat {
                Statistic::Bias => &mut curves[k].bias,
                Statistic::BiasZ => &mut curves[k].bias_z,
                Statistic::Variance => &mut curves[k].variance,
            };
            points.push((ms[i], values[i]));
        }
        let m_sorted = sorted_unique(ms.iter().copied());
        let m_range =
            (m_sorted.first().copied().unwrap_or(f64::NAN), m_sorted.last().copied().unwrap_or(f64::NAN));
        if m_range.0.is_nan() || m_range.0 < 1.0 {
            return Err(cols.malformed(format!("M = {}: the number of references is at least 1", m_range.0)));
        }
        for data in &mut datasets {
            for stat in [Statistic::Variance, Statistic::BiasZ] {
                if data.curves.iter().all(|c| c.points(stat).is_empty()) {
                    let msg = format!("dataset '{}' has no '{}' rows", data.dataset, stat.name());
                    return Err(cols.malformed(msg));
                }
            }
            for curve in &mut data.curves {
                for points in [&mut curve.bias, &mut curve.bias_z, &mut curve.variance] {
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
            }
        }
        Ok(View { datasets, times: sorted_unique(ts), m_range })
    }

    /// The largest bias z-score of the unbiased estimator, over datasets, times and `M` (0 when
    /// none is positive).
    pub fn max_unbiased_z(&self) -> f64 {
        self.curves(Estimator::Unbiased).flat_map(|c| &c.bias_z).map(|p| p.1).fold(0.0, f64::max)
    }

    /// The largest ratio of the unbiased estimator's variance to its variance at `M = 1` (that of
    /// `u_cond`), over datasets, times and `M` (NaN where a curve has no `M = 1`).
    pub fn worst_variance_ratio(&self) -> f64 {
        let mut worst: f64 = 0.0;
        for curve in self.curves(Estimator::Unbiased) {
            let v1 = curve.variance.iter().find(|p| p.0 == 1.0).map_or(f64::NAN, |p| p.1);
            for p in &curve.variance {
                worst = worst.max(p.1 / v1);
            }
        }
        worst
    }

    /// The smallest bias z-score of the biased estimator at time `t` over `M <= m_max` (infinite
    /// when there is none).
    pub fn min_biased_z(&self, t: f64, m_max: f64) -> f64 {
        self.curves(Estimator::Biased)
            .filter(|c| (c.t - t).abs() <= 1e-9)
            .flat_map(|c| &c.bias_z)
            .filter(|p| p.0 <= m_max)
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
    }

    /// Every curve of `estimator`, over datasets.
    fn curves(&self, estimator: Estimator) -> impl Iterator<Item = &Curve> {
        self.datasets.iter().flat_map(|d| &d.curves).filter(move |c| c.estimator == estimator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digits at t = 0.05 and 0.5 (estimators interleaved per time, as the cells write them),
    /// M in {1, 4, 32}: the unbiased variance peaks at 1.2 x its M = 1 value (t = 0.5, M = 4),
    /// its z-score at 2.5; the biased z-score at t = 0.5 is smallest (4) at M = 16 or below.
    fn view() -> View {
        let mut b = TableBuilder::new(&COLUMNS);
        for t in [0.05, 0.5] {
            for estimator in [UNBIASED, BIASED] {
                for (m, z_unbiased, z_biased, v) in
                    [(1usize, 1.0, 9.0, 2.0), (4, 2.5, 4.0, 2.0), (32, 0.5, 2.0, 1.0)]
                {
                    let v = if t == 0.5 && m == 4 { 2.4 } else { v };
                    let z = if estimator == UNBIASED { z_unbiased } else { z_biased };
                    b.push(row!["digits", estimator, t, m, BIAS, 0.1]);
                    b.push(row!["digits", estimator, t, m, BIAS_Z, z]);
                    b.push(row!["digits", estimator, t, m, VARIANCE, v]);
                }
            }
        }
        View::read(&b.finish().unwrap()).unwrap()
    }

    #[test]
    fn the_claims_numbers() {
        let view = view();
        assert_eq!(view.max_unbiased_z(), 2.5);
        assert!((view.worst_variance_ratio() - 1.2).abs() < 1e-12);
        assert_eq!(view.min_biased_z(0.5, 16.0), 4.0);
        assert_eq!(view.min_biased_z(0.5, 64.0), 2.0);
        assert_eq!((view.times.clone(), view.m_range), (vec![0.05, 0.5], (1.0, 32.0)));
    }

    #[test]
    fn key_numbers_group_by_estimator_then_time() {
        let view = view();
        let curves = view.datasets[0].by_estimator();
        let order: Vec<(Estimator, f64)> = curves.iter().map(|c| (c.estimator, c.t)).collect();
        use Estimator::{Biased, Unbiased};
        assert_eq!(order, [(Unbiased, 0.05), (Unbiased, 0.5), (Biased, 0.05), (Biased, 0.5)]);
        assert_eq!(curves[1].max_bias_z(), 2.5);
        assert_eq!(curves[1].largest_m_variance(), (32.0, 1.0));
    }

    #[test]
    fn unknown_estimators_and_missing_statistics_are_named() {
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["digits", UNBIASED, 0.5, 1usize, BIAS_Z, 1.0]);
        let err = View::read(&b.finish().unwrap()).unwrap_err().to_string();
        assert!(err.contains("dataset 'digits' has no 'variance' rows"), "{err}");
    }
}
