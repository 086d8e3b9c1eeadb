//! Fig. 1a: histograms of `cos(u*(x_t, t), x1 - x0)` over pairs `(x0, x1)` at six times.
//!
//! For each pair, `x_t = (1 - t) x0 + t x1` and `u*` is the closed form of Proposition 1 over
//! the whole dataset. Where the cosine is 1, the closed form and the stochastic target
//! coincide. Claim C1: in two dimensions they still disagree at intermediate times.

use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::common::{DataSpec, cosines, pairs};
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, f64s, filter_eq, filter_near};
use crate::{Context, Profile, Result, row};

/// The paper's six times.
pub const TIMES: [f64; 6] = [0.01, 0.21, 0.40, 0.60, 0.79, 0.99];

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

fn datasets(profile: Profile) -> Vec<DataSpec> {
    let moons = DataSpec::TwoMoons { n: if profile == Profile::Smoke { 2_000 } else { 50_000 } };
    let mut v = vec![moons, DataSpec::Digits { size: None }];
    if profile == Profile::Paper {
        v.push(DataSpec::Mnist { n: None, size: None });
        v.push(DataSpec::Cifar10 { n: None, size: None });
    }
    v
}

/// The figure.
pub struct Fig1a;

impl Figure for Fig1a {
    fn id(&self) -> &'static str {
        "fig1a"
    }
    fn title(&self) -> &'static str {
        "Cosine between the closed-form velocity and the stochastic target"
    }
    fn paper(&self) -> &'static str {
        "Fig. 1a: histograms of cos(u*(x_t, t), x1 - x0) over 256 pairs at t = 0.01 ... 0.99, on two-moons (d = 2, n = 50k) and CIFAR-10 (d = 3072, n = 50k). In 2-D the cosines spread over [-1, 1] until late times; on CIFAR-10 they are ~1 from early on."
    }
    fn caption(&self, profile: Profile) -> String {
        let n = if profile == Profile::Smoke { 64 } else { 256 };
        let data = match profile {
            Profile::Paper => {
                "two-moons (n = 50000), digits (n = 1797), MNIST (n = 60000), CIFAR-10 (n = 50000)"
            }
            Profile::Quick => "two-moons (n = 50000) and the 8x8 digits (n = 1797) standing in for CIFAR-10",
            Profile::Smoke => "two-moons (n = 2000) and the 8x8 digits (n = 1797)",
        };
        format!(
            "Histograms of cos(u*(x_t, t), x1 - x0) over {n} pairs (x0 ~ N(0, I), x1 from the data) at \
             t = 0.01, 0.21, 0.40, 0.60, 0.79, 0.99; u* is the exact closed form (Prop. 1). Data: {data}."
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        let count = if ctx.profile == Profile::Smoke { 64 } else { 256 };
        Ok(datasets(ctx.profile)
            .into_iter()
            .map(|data| {
                let cost = match &data {
                    DataSpec::TwoMoons { n } => *n as f64 * 1e-5,
                    DataSpec::Mnist { .. } | DataSpec::Cifar10 { .. } => 60.0,
                    _ => 0.5,
                };
                CellSpec::new(data.name(), &CellConfig { data, pairs: count, times: TIMES.to_vec() }, cost)
            })
            .collect())
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let name = cfg.data.name();
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream("fig1a").derive(&name));
        let cf = cfm_core::ClosedForm::new(data)?;
        let mut table = TableBuilder::new(&["dataset", "d", "n", "t", "pair", "cosine"]);
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
}

/// C1 from the two-moons rows at t = 0.40.
fn c1(df: &DataFrame) -> Result<Measured> {
    let rows = filter_near(&filter_eq(df, "dataset", "two-moons")?, "t", 0.4)?;
    let cos = f64s(&rows, "cosine")?;
    if cos.is_empty() {
        return Err(crate::Error::invalid("no two-moons rows at t = 0.4"));
    }
    let below = cos.iter().filter(|&&c| c < 0.9).count() as f64 / cos.len() as f64;
    let min = cos.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(Measured {
        value: format!(
            "two-moons, t = 0.40: {:.0}% of pairs with cosine < 0.9, min cosine {min:.2}",
            100.0 * below
        ),
        threshold: "at least 20% of pairs below 0.9 and some pair below 0".into(),
        pass: below >= 0.2 && min < 0.0,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        id: "C1",
        figure: "fig1a",
        statement: "In low dimension (two-moons) u* and u_cond disagree, cosines spread over [-1, 1], \
                    until intermediate-to-late t.",
        paper: "Fig. 1a, 2-D row: cosine histograms spread over [-1, 1] at t = 0.21-0.60",
        check: c1,
    }]
}
