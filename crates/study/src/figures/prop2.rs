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
use crate::table::{TableBuilder, distinct, f64s, filter_eq, filter_near};
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
        let mut k = KeyTable::new(
            "",
            &["dataset", "estimator", "t", "max bias z-score", "variance at M = 1", "variance at largest M"],
        );
        for name in distinct(df, "dataset")? {
            let d = filter_eq(df, "dataset", &name)?;
            for est in distinct(&d, "estimator")? {
                let e = filter_eq(&d, "estimator", &est)?;
                for t in distinct(&e, "t")? {
                    let r = filter_eq(&e, "t", &t)?;
                    let z = f64s(&filter_eq(&r, "statistic", BIAS_Z)?, "value")?;
                    let var = filter_eq(&r, "statistic", VARIANCE)?;
                    let (ms, vs) = (f64s(&var, "m")?, f64s(&var, "value")?);
                    k.rows.push(vec![
                        name.clone(),
                        est.clone(),
                        t.clone(),
                        num(z.iter().copied().fold(0.0, f64::max), 3),
                        num(vs[0], 3),
                        format!(
                            "{} (M = {})",
                            num(*vs.last().unwrap_or(&f64::NAN), 3),
                            ms.last().unwrap_or(&f64::NAN)
                        ),
                    ]);
                }
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
        for estimator in [UNBIASED, BIASED] {
            for &m in &cfg.ms {
                let (mut bias, mut z, mut var) = (0.0, 0.0, 0.0);
                for q in 0..cfg.queries {
                    let mut rs = s.derive(estimator).derive_index(m as u64).derive_index(q as u64);
                    let query = xt.row(q);
                    let (lambda, exact) = posterior(&train, query, cfg.t);
                    let refs = if estimator == UNBIASED {
                        let picks: Vec<usize> = (0..cfg.draws).map(|_| sample(&lambda, &mut rs)).collect();
                        RefSets(
                            picks
                                .iter()
                                .map(|&j| {
                                    draw_refs(n, &[j], m, RefMode::Paper, &mut rs).map(|r| r.0[0].clone())
                                })
                                .collect::<cfm_core::Result<_>>()?,
                        )
                    } else {
                        draw_biased(n, cfg.draws, m, &mut rs)
                    };
                    let queries = Matrix::from_rows(&vec![query; cfg.draws])?;
                    let est = estimate(&train, &refs, &queries, &vec![cfg.t; cfg.draws]);
                    let (b, zq, v) = moments(&est, &exact);
                    bias += b;
                    z += zq;
                    var += v;
                }
                let k = cfg.queries as f64;
                for (stat, v) in [(BIAS, bias / k), (BIAS_Z, z / k), (VARIANCE, var / k)] {
                    table.push(row![name.clone(), estimator, cfg.t, m, stat, v]);
                }
                bar.inc(1);
            }
        }
        table.finish()
    }
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
    let df = &e.table;
    let stat = |est: &str, s: &str| -> Result<DataFrame> {
        filter_eq(&filter_eq(df, "estimator", est)?, "statistic", s)
    };
    let z_unbiased = f64s(&stat(UNBIASED, BIAS_Z)?, "value")?;
    let max_z = z_unbiased.iter().copied().fold(0.0, f64::max);
    let mut worst_ratio: f64 = 0.0;
    let var = stat(UNBIASED, VARIANCE)?;
    for name in distinct(&var, "dataset")? {
        let vd = filter_eq(&var, "dataset", &name)?;
        for t in distinct(&vd, "t")? {
            let vt = filter_eq(&vd, "t", &t)?;
            let (ms, vs) = (f64s(&vt, "m")?, f64s(&vt, "value")?);
            let v1 = ms.iter().zip(&vs).find(|(m, _)| **m == 1.0).map(|p| *p.1).unwrap_or(f64::NAN);
            for v in &vs {
                worst_ratio = worst_ratio.max(v / v1);
            }
        }
    }
    let biased = filter_near(&stat(BIASED, BIAS_Z)?, "t", 0.5)?;
    let min_z_biased = f64s(&biased, "m")?
        .into_iter()
        .zip(f64s(&biased, "value")?)
        .filter(|(m, _)| *m <= 16.0)
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min);
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
