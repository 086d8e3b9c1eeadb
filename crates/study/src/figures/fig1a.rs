//! Fig. 1a: histograms of `cos(u*(x_t, t), x1 - x0)` over pairs `(x0, x1)` at six times.
//!
//! For each pair, `x_t = (1 - t) x0 + t x1` and `u*` is the closed form of Proposition 1 over
//! the whole dataset. Where the cosine is 1, the closed form and the stochastic target
//! coincide. Claim C1: in two dimensions they still disagree at intermediate times.
//!
//! The table is read once into a [`View`]: per dataset, the cosines of its pairs at each time
//! ([`Cosines`]). The claim, the key numbers and the renderer all read that view.

use cfm_core::ClosedForm;
use cfm_core::Matrix;
use cfm_core::datasets::ImageData;
use cfm_core::targets::{conditional_target, interpolate, row_cosines};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::fig1a_mean::LEVEL;
use crate::claims::{Claim, Evidence, Measured};
use crate::data::{DataSpec, Dataset, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{mean, num, pct};
use crate::table::{Columns, TableBuilder, sorted_unique, unique};
use crate::{Context, Error, Profile, Result, row};

/// The paper's six times.
pub const TIMES: [f64; 6] = [0.01, 0.21, 0.40, 0.60, 0.79, 0.99];

/// The figure's id: its command-line name and its files' (`figures/fig1a.svg`).
pub const ID: &str = "fig1a";

/// Columns of the table: one row per pair and time.
pub const COLUMNS: [&str; 6] = ["dataset", "d", "n", "t", "pair", "cosine"];
/// The time at which C1 is decided (intermediate: both endpoints align trivially).
pub const C1_TIME: f64 = 0.4;

/// `cos(u*(x_t, t), x1 - x0)` for every pair at time `t`, and the largest softmax weight of
/// each (shared with the other figures of the closed form).
pub fn cosines(cf: &ClosedForm, x0: &Matrix, x1: &Matrix, t: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let ts = vec![t; x0.rows()];
    let xt = interpolate(x0, x1, &ts);
    let eval = cf.evaluate(&xt, &ts, true)?;
    let cos = row_cosines(&eval.velocity, &conditional_target(x0, x1));
    let maxw = eval.weights.expect("summaries asked for").iter().map(|w| w.max_weight).collect();
    Ok((cos, maxw))
}

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

struct Fig1aPlan {
    data: Vec<DataSpec>,
    pairs: usize,
}

fn plan(profile: Profile) -> Fig1aPlan {
    let moons = DataSpec::TwoMoons { n: if profile == Profile::Smoke { 2_000 } else { 50_000 } };
    let mut data = vec![moons, DataSpec::images(ImageData::Digits)];
    match profile {
        Profile::Smoke => {}
        Profile::Quick => data.push(DataSpec::images(ImageData::FashionMnist)),
        Profile::Paper => {
            data.extend([ImageData::Mnist, ImageData::FashionMnist, ImageData::Cifar10].map(DataSpec::images))
        }
    }
    Fig1aPlan { data, pairs: if profile == Profile::Smoke { 64 } else { 256 } }
}

/// The number of points and the dimension of `data`.
pub(crate) fn size_of(data: &DataSpec) -> (usize, usize) {
    match data {
        DataSpec::TwoMoons { n } => (*n, 2),
        DataSpec::Gmm { d, n, .. } => (*n, *d),
        DataSpec::Images { data, n, size } => {
            let all = if *data == ImageData::Digits { 1797 } else { data.sizes().0 };
            let shape = data.shape();
            let side = size.unwrap_or(shape.height);
            (n.unwrap_or(all), shape.channels * side * side)
        }
    }
}

/// `name (n = N)` for the datasets of a caption.
pub(crate) fn described(data: &[DataSpec]) -> String {
    let n = |d: &DataSpec| match d {
        DataSpec::TwoMoons { n } | DataSpec::Gmm { n, .. } => Some(*n),
        DataSpec::Images { n, .. } => *n,
    };
    let parts: Vec<String> = data
        .iter()
        .map(|d| match (d, n(d)) {
            (_, Some(n)) => format!("{} (n = {n})", d.name()),
            (DataSpec::Images { data: ImageData::Digits, .. }, None) => format!("{} (n = 1797)", d.name()),
            (DataSpec::Images { data, .. }, None) => format!("{} (n = {})", d.name(), data.sizes().0),
            _ => d.name(),
        })
        .collect();
    parts.join(", ")
}

impl Plan for Fig1aPlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(self
            .data
            .iter()
            .map(|data| {
                let (n, d) = size_of(data);
                let cost = super::fig1c::closed_form_cost(n, d, self.pairs, TIMES.len());
                let cfg = CellConfig { data: data.clone(), pairs: self.pairs, times: TIMES.to_vec() };
                CellSpec::new(data.name(), &cfg, cost, self.pairs * TIMES.len()).reading(data.reads())
            })
            .collect())
    }
    fn caption(&self) -> String {
        format!(
            "Histograms of cos(u*(x_t, t), x1 - x0) over {} pairs (x0 ~ N(0, I), x1 from the data) at \
             t = 0.01, 0.21, 0.40, 0.60, 0.79, 0.99; u* is the exact closed form (Prop. 1). Data: {}.",
            self.pairs,
            described(&self.data)
        )
    }
}

/// The figure.
pub struct Fig1a;

impl Figure for Fig1a {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Cosine between the closed-form velocity and the stochastic target"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Fig. 1a: histograms of cos(u*(x_t, t), x1 - x0) over 256 pairs at t = 0.01 ... 0.99, on two-moons \
             (d = 2, n = 50k) and CIFAR-10 (d = 3072, n = 50k). In 2-D the cosines spread over [-1, 1] until late \
             times; on CIFAR-10 they are ~1 from early on.",
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
        let cf = ClosedForm::new(data)?;
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length(cfg.times.len() as u64);
        for &t in &cfg.times {
            let (cos, _) = cosines(&cf, &x0, &x1, t)?;
            for (i, c) in cos.into_iter().enumerate() {
                table.push(row![name.clone(), d, n, t, i, c]);
            }
            bar.inc(1);
        }
        table.finish()
    }
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C1",
            short: "In two dimensions, u* and the conditional target disagree until late t.",
            figure: ID,
            statement: "In low dimension (two-moons) u* and u_cond disagree, cosines spread over [-1, 1], \
                        until intermediate-to-late t.",
            paper: "Fig. 1a, 2-D row: cosine histograms spread over [-1, 1] at t = 0.21-0.60",
            on: &[Dataset::TwoMoons],
            reads: &[],
            regime: "In two dimensions many training points stay within the noise's reach until late, so the posterior over the generating point is spread and u* averages directions that u_cond does not: a FAIL would mean the softmax concentrated early even at d = 2.",
            check: c1,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut headers = vec!["mean cosine (% > 0.9)".to_string()];
        headers.extend(view.times.iter().map(|t| format!("t = {t}")));
        let mut k = KeyTable { title: String::new(), headers, rows: Vec::new() };
        for data in &view.datasets {
            let mut row = vec![format!("{} (d = {})", data.name, data.d)];
            for at in 0..view.times.len() {
                row.push(format!("{} ({})", num(data.mean(at), 2), pct(data.share_above(at))));
            }
            k.rows.push(row);
        }
        Ok(vec![k])
    }
}

/// Fig. 1a's table as the paper reads it: the cosines `cos(u*(x_t, t), x1 - x0)` of every pair,
/// per dataset and time.
pub struct View {
    /// The times `t` of the panels, ascending.
    pub times: Vec<f64>,
    /// The datasets, in the order of the table.
    pub datasets: Vec<Cosines>,
}

/// One dataset's cosines.
pub struct Cosines {
    /// The dataset's name in the table (`two-moons`, `digits`, ...).
    pub name: String,
    /// Its dimension d.
    pub d: f64,
    /// Its number of points n (the training set of the closed form).
    pub n: f64,
    /// Per time of [`View::times`], the cosine of each pair (in pair order).
    pub cosines: Vec<Vec<f64>>,
}

impl View {
    /// Reads the table; every dataset must have rows at every time of the table.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, d, n, t, _, cosine] = COLUMNS;
        let (names, ds, ns) = (cols.text(dataset)?, cols.num(d)?, cols.num(n)?);
        let (ts, cos) = (cols.num(t)?, cols.num(cosine)?);
        let times = sorted_unique(ts.iter().copied());
        let mut datasets = Vec::new();
        for name in unique(names.iter().cloned()) {
            let first = names.iter().position(|n| *n == name).expect("a distinct name occurs");
            let mut cosines = Vec::new();
            for &t in &times {
                let values: Vec<f64> =
                    (0..names.len()).filter(|&i| names[i] == name && ts[i] == t).map(|i| cos[i]).collect();
                if values.is_empty() {
                    return Err(cols.malformed(format!("dataset '{name}' has no rows at t = {t}")));
                }
                cosines.push(values);
            }
            datasets.push(Cosines { name, d: ds[first], n: ns[first], cosines });
        }
        Ok(View { times, datasets })
    }

    /// The index in [`View::times`] of time `t` (within `1e-9`).
    pub fn time(&self, t: f64) -> Option<usize> {
        self.times.iter().position(|&x| (x - t).abs() <= 1e-9)
    }

    /// The dataset named `name`.
    pub fn dataset(&self, name: &str) -> Option<&Cosines> {
        self.datasets.iter().find(|d| d.name == name)
    }
}

impl Cosines {
    /// The mean cosine over the pairs at the time of index `at`.
    pub fn mean(&self, at: usize) -> f64 {
        mean(&self.cosines[at])
    }

    /// The fraction of pairs with cosine above [`LEVEL`] at the time of index `at`.
    pub fn share_above(&self, at: usize) -> f64 {
        let cos = &self.cosines[at];
        cos.iter().filter(|&&c| c > LEVEL).count() as f64 / cos.len() as f64
    }

    /// The fraction of pairs with cosine below [`LEVEL`] at the time of index `at`.
    pub fn share_below(&self, at: usize) -> f64 {
        let cos = &self.cosines[at];
        cos.iter().filter(|&&c| c < LEVEL).count() as f64 / cos.len() as f64
    }

    /// The smallest cosine at the time of index `at` (NaN left out).
    pub fn min(&self, at: usize) -> f64 {
        self.cosines[at].iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// C1 from the two-moons rows at t = 0.40.
fn c1(e: &Evidence, dataset: &str) -> Result<Measured> {
    let view = View::read(&e.table)?;
    let (Some(data), Some(at)) = (view.dataset(dataset), view.time(C1_TIME)) else {
        return Err(Error::invalid(format!("no {dataset} rows at t = {C1_TIME}")));
    };
    let (below, min) = (data.share_below(at), data.min(at));
    Ok(Measured::new(
        format!("{dataset}, t = 0.40: {:.0}% of pairs with cosine < 0.9, min cosine {min:.2}", 100.0 * below),
        format!(
            "t = 0.40: {:.0}% of pairs with cosine < 0.9 (needs >= 20%), min cosine {min:.2} (needs < 0)",
            100.0 * below
        ),
        "at least 20% of pairs below 0.9 and some pair below 0",
        below >= 0.2 && min < 0.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two datasets at t = 0.4 and 0.8: "a" with cosines -0.5, 0.5, 0.95, 1 at 0.4.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (t, values) in [(0.8, [1.0, 1.0, 0.99, 0.5]), (0.4, [-0.5, 0.5, 0.95, 1.0])] {
            for (i, c) in values.into_iter().enumerate() {
                b.push(row!["a", 2usize, 10usize, t, i, c]);
                b.push(row!["b", 64usize, 20usize, t, i, 1.0]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn the_view_holds_each_dataset_per_sorted_time() {
        let view = View::read(&table()).unwrap();
        assert_eq!(view.times, vec![0.4, 0.8]);
        let a = view.dataset("a").unwrap();
        assert_eq!((a.d, a.n), (2.0, 10.0));
        assert_eq!(a.cosines[0], vec![-0.5, 0.5, 0.95, 1.0]);
        assert_eq!(view.time(0.4 + 1e-12), Some(0));
        assert_eq!(view.datasets[1].name, "b");
    }

    #[test]
    fn mean_shares_and_minimum_of_a_time() {
        let view = View::read(&table()).unwrap();
        let a = view.dataset("a").unwrap();
        assert_eq!(a.mean(0), 0.4875);
        assert_eq!((a.share_above(0), a.share_below(0), a.min(0)), (0.5, 0.5, -0.5));
        assert_eq!((a.share_above(1), a.share_below(1)), (0.75, 0.25));
        let m = c1(&Evidence::of(table()), "a").unwrap();
        assert!(m.headline.contains("50% of pairs with cosine < 0.9") && m.headline.contains("-0.50"));
        assert_eq!(m.decision, crate::claims::Decision::Pass);
    }

    #[test]
    fn a_dataset_without_rows_at_a_time_is_named() {
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["a", 2usize, 5usize, 0.5, 0usize, 0.1]);
        b.push(row!["b", 2usize, 5usize, 0.7, 0usize, 0.1]);
        let err = View::read(&b.finish().unwrap()).err().unwrap().to_string();
        assert!(err.contains("dataset 'a' has no rows at t = 0.7"), "{err}");
    }
}
