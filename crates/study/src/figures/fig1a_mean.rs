//! Fig. 1a (mean): the mean of `cos(u*(x_t, t), x1 - x0)` against `t` on a fine grid, for every
//! dataset of the profile, Gaussian mixtures of increasing dimension included (App. D.2 of the
//! paper reports it at t = 0, 0.01, ..., 0.99). Claim C2: in high dimension the mean cosine is
//! close to 1 from early times on, decided on the highest-dimensional real images of the run.
//!
//! The table is read once into a [`View`]: per dataset, its mean-cosine curve over the time
//! grid ([`Curve`]). The claim, the key numbers and the renderer all read that view.

use cfm_core::datasets::ImageData;
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::fig1a::{cosines, described};
use crate::claims::{Claim, Evidence, Measured};
use crate::data::{DataSpec, Dataset, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, mean, num, settles_above};
use crate::table::{Columns, TableBuilder, unique};
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
/// The times of the key numbers' columns.
pub const KEY_TIMES: [f64; 2] = [0.2, 0.5];

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
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream(ID).derive(&name));
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
        let view = View::read(df)?;
        let mut k = KeyTable::new(
            "",
            &["dataset", "d", "n", "mean cos at t = 0.2", "at t = 0.5", "mean over t", ">= 0.9 from t ="],
        );
        for c in &view.datasets {
            k.rows.push(vec![
                c.name.clone(),
                num(c.d, 4),
                num(c.n, 5),
                num(c.at(KEY_TIMES[0]), 3),
                num(c.at(KEY_TIMES[1]), 3),
                num(c.mean_over_t(), 3),
                c.settle.map_or("never".into(), |t| num(t, 2)),
            ]);
        }
        Ok(vec![k])
    }
}

/// The table as the paper reads it: per dataset, the mean over pairs of
/// `cos(u*(x_t, t), x1 - x0)` against t (App. D.2).
pub struct View {
    /// The datasets, in the order of the table.
    pub datasets: Vec<Curve>,
}

/// One dataset's mean-cosine curve and when it settles above [`LEVEL`].
pub struct Curve {
    /// The dataset's name in the table (`two-moons`, `gmm-d128`, `digits`, ...).
    pub name: String,
    /// Its dimension d.
    pub d: f64,
    /// Its number of points n.
    pub n: f64,
    /// The time grid, ascending.
    pub ts: Vec<f64>,
    /// The mean cosine at each time of the grid.
    pub values: Vec<f64>,
    /// The (interpolated) time from which the mean cosine stays >= [`LEVEL`]; `None` if never.
    pub settle: Option<f64>,
}

impl View {
    /// Reads the [`MEAN_COSINE`] rows of the table; every dataset must have some.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, d, n, t, statistic, value] = COLUMNS;
        let (names, ds, ns, ts) = (cols.text(dataset)?, cols.num(d)?, cols.num(n)?, cols.num(t)?);
        let (stats, values) = (cols.text(statistic)?, cols.num(value)?);
        if !stats.iter().any(|s| s == MEAN_COSINE) {
            return Err(cols.malformed(format!("no rows with statistic '{MEAN_COSINE}'")));
        }
        let mut datasets = Vec::new();
        for name in unique(names.iter().cloned()) {
            let mine: Vec<usize> =
                (0..names.len()).filter(|&i| names[i] == name && stats[i] == MEAN_COSINE).collect();
            let Some(&first) = mine.first() else {
                return Err(
                    cols.malformed(format!("dataset '{name}' has no rows with statistic '{MEAN_COSINE}'"))
                );
            };
            let mut points: Vec<(f64, f64)> = mine.iter().map(|&i| (ts[i], values[i])).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (ts, values): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
            let settle = settles_above(&ts, &values, LEVEL);
            datasets.push(Curve { name, d: ds[first], n: ns[first], ts, values, settle });
        }
        Ok(View { datasets })
    }

    /// The curve of dataset `name`.
    pub fn curve(&self, name: &str) -> Result<&Curve> {
        self.datasets
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::malformed(ID, format!("no {name} rows")))
    }

    /// The curves by increasing dimension (in table order where dimensions tie).
    pub fn by_dimension(&self) -> Vec<&Curve> {
        let mut curves: Vec<&Curve> = self.datasets.iter().collect();
        curves.sort_by(|a, b| a.d.total_cmp(&b.d));
        curves
    }
}

impl Curve {
    /// The mean cosine at grid time `t` (NaN off the grid).
    pub fn at(&self, t: f64) -> f64 {
        self.ts.iter().position(|&x| (x - t).abs() < 1e-9).map_or(f64::NAN, |i| self.values[i])
    }

    /// The mean cosine averaged over the time grid.
    pub fn mean_over_t(&self) -> f64 {
        mean(&self.values)
    }

    /// The fraction of the time grid where the mean cosine is >= [`LEVEL`].
    pub fn share_aligned(&self) -> f64 {
        self.values.iter().filter(|&&v| v >= LEVEL).count() as f64 / self.values.len() as f64
    }
}

/// C2 on `dataset` (the highest-dimensional real images present).
fn c2(e: &Evidence, dataset: &str) -> Result<Measured> {
    let view = View::read(&e.table)?;
    let a = view.curve(dataset)?;
    let (d, share) = (a.d, a.share_aligned());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// "hi" (d = 64) aligned from t = 0.25 on a grid of five times, listed out of order; "lo"
    /// (d = 2) never aligned.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (t, v) in [(0.5, 0.95), (0.0, 0.5), (0.2, 0.8), (0.3, 1.0), (0.4, 0.92)] {
            b.push(row!["hi", 64usize, 100usize, t, MEAN_COSINE, v]);
            b.push(row!["hi", 64usize, 100usize, t, FRAC_ABOVE, 0.0]);
            b.push(row!["lo", 2usize, 50usize, t, MEAN_COSINE, 0.1]);
        }
        b.finish().unwrap()
    }

    #[test]
    fn curves_are_sorted_by_time_and_settle_where_they_stay_aligned() {
        let view = View::read(&table()).unwrap();
        let hi = view.curve("hi").unwrap();
        assert_eq!(hi.ts, vec![0.0, 0.2, 0.3, 0.4, 0.5]);
        assert_eq!(hi.values, vec![0.5, 0.8, 1.0, 0.92, 0.95]);
        assert!((hi.settle.unwrap() - 0.25).abs() < 1e-12);
        assert_eq!((hi.at(0.2), hi.share_aligned()), (0.8, 0.6));
        assert!((hi.mean_over_t() - 0.834).abs() < 1e-12);
        assert!(hi.at(0.1).is_nan());
        let lo = view.curve("lo").unwrap();
        assert_eq!((lo.d, lo.n, lo.settle), (2.0, 50.0, None));
        let names: Vec<&str> = view.by_dimension().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["lo", "hi"]);
    }

    #[test]
    fn c2_needs_early_and_lasting_alignment() {
        let m = c2(&Evidence::of(table()), "hi").unwrap();
        assert!(m.value.contains("from t = 0.250 on; >= 0.9 on 60%"), "{}", m.value);
        assert_eq!(m.decision, crate::claims::Decision::Fail);
        assert!(c2(&Evidence::of(table()), "cifar10").is_err());
    }
}
