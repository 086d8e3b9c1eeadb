//! Closed-form sampling memorizes (Proposition 1's consequence, claim C4): integrating
//! `dx/dt = u*(x, t)` from Gaussian noise with Euler steps lands on training points.
//!
//! Two-moons: 2-D trajectories over the training set. Images: generated images next to their
//! nearest training image. For every dataset: the distance `d1` of every sample to its nearest
//! training point, the ratio test `d1 / d2 < 1/3` (memorized fraction) and the mean distance of
//! training points to their nearest other training point (the scale of "novel").

use cfm_core::datasets::ImageData;
use cfm_core::metrics::{COPY_THRESHOLD, knn, memorization, train_to_train_distance};
use cfm_core::ode::{Solver, integrate};
use cfm_core::{ClosedForm, Matrix};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::claims::{Claim, Evidence, Measured};
use crate::data::DataSpec;
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::num;
use crate::table::{TableBuilder, distinct, filter_eq, stat_value};
use crate::{Context, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/memorize.svg`).
pub const ID: &str = "memorize";

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", "statistic", "sample", "t", "index", "value"];
/// Fraction of samples that are copies (ratio test).
pub const FRACTION_MEMORIZED: &str = "fraction_memorized";
/// Mean distance of samples to the nearest training point.
pub const MEAN_D1: &str = "mean_d1";
/// Mean distance of training points to their nearest other one.
pub const TRAIN_TO_TRAIN: &str = "train_to_train";
/// Per sample: `d1`.
pub const D1: &str = "d1";
/// Per sample: `d1 / d2`.
pub const RATIO: &str = "ratio";
/// Two-moons: the training points (`index` = coordinate).
pub const TRAIN_POINT: &str = "train_point";
/// Two-moons: the trajectory of a shown sample at time `t`.
pub const TRAJECTORY: &str = "trajectory";
/// Images: a shown sample's pixel `index`.
pub const SAMPLE_PIXEL: &str = "sample_pixel";
/// Images: the nearest training image's pixel `index`.
pub const NEAREST_PIXEL: &str = "nearest_pixel";

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    samples: usize,
    shown: usize,
    steps: usize,
    record_every: usize,
}

impl CellConfig {
    fn rows(&self) -> usize {
        let summary = 3 + 2 * self.samples;
        match self.data {
            DataSpec::TwoMoons { n } => {
                let recorded =
                    (0..=self.steps).filter(|s| s % self.record_every == 0 || *s == self.steps).count();
                summary + 2 * n + recorded * self.shown * 2
            }
            _ => {
                let d = match self.data {
                    DataSpec::Images { data, .. } => data.shape().dim(),
                    _ => 0,
                };
                summary + 2 * self.shown * d
            }
        }
    }
}

struct MemorizePlan {
    cells: Vec<CellConfig>,
}

fn plan(profile: Profile) -> MemorizePlan {
    let small = profile == Profile::Smoke;
    let samples = if small { 32 } else { 256 };
    let mut plan = MemorizePlan {
        cells: vec![
            CellConfig {
                data: DataSpec::TwoMoons { n: if small { 100 } else { 200 } },
                samples,
                shown: if small { 16 } else { 48 },
                steps: 1000,
                record_every: 20,
            },
            CellConfig {
                data: DataSpec::images(ImageData::Digits),
                samples,
                shown: if small { 4 } else { 16 },
                steps: 1000,
                record_every: 0,
            },
        ],
    };
    if profile != Profile::Smoke {
        // The first 10000 training images; the closed form collapses by t ~ 0.4 at d = 784, so
        // 100 Euler steps land each sample on a training image.
        plan.cells.push(CellConfig {
            data: DataSpec::Images { data: ImageData::FashionMnist, n: Some(10_000), size: None },
            samples,
            shown: 8,
            steps: 100,
            record_every: 0,
        });
    }
    plan
}

impl Plan for MemorizePlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(self
            .cells
            .iter()
            .map(|c| CellSpec::new(c.data.name(), c, 2.0, c.rows()).reading(c.data.reads()))
            .collect())
    }
    fn caption(&self) -> String {
        let c = &self.cells[0];
        let images: Vec<String> =
            self.cells[1..].iter().map(|c| super::fig1a::described(std::slice::from_ref(&c.data))).collect();
        format!(
            "Euler integration ({} steps) of the closed-form velocity from {} Gaussian noises. Left: {} \
             trajectories (grey: training points). Right: generated images (top) above their nearest training \
             image (bottom): {}. A sample counts as memorized when d1/d2 < 1/3 (d1, d2: distances to the \
             nearest and second-nearest training point).",
            c.steps,
            c.samples,
            super::fig1a::described(std::slice::from_ref(&c.data)),
            images.join("; ")
        )
    }
}

/// The figure.
pub struct Memorize;

impl Figure for Memorize {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Sampling with the closed form reproduces training points"
    }
    fn paper(&self) -> Option<&'static str> {
        Some("Prop. 1 and Sec. 3: the closed-form velocity field can only generate training points.")
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
        let train = cfg.data.load(ctx)?;
        let d = train.cols();
        let s = ctx.stream("memorize").derive(&name);
        let x0 = Matrix::from_vec(cfg.samples, d, s.derive("noise").normal_vec(cfg.samples * d))?;
        let cf = ClosedForm::new(train.clone())?;
        bar.set_length(1);
        let sol = integrate(&cf, &x0, Solver::Euler { steps: cfg.steps }, cfg.record_every > 0)?;
        bar.inc(1);
        let mem = memorization(&sol.x, &train, COPY_THRESHOLD)?;
        let baseline = train_to_train_distance(&train)?;
        let mut table = TableBuilder::new(&COLUMNS);
        let mut push = |stat: &str, sample: usize, t: f64, index: usize, value: f64| {
            table.push(row![name.clone(), stat, sample, t, index, value]);
        };
        push(FRACTION_MEMORIZED, 0, 1.0, 0, mem.summary.fraction_memorized);
        push(MEAN_D1, 0, 1.0, 0, mem.summary.mean_d1);
        push(TRAIN_TO_TRAIN, 0, 1.0, 0, baseline);
        for (i, sd) in mem.samples.iter().enumerate() {
            push(D1, i, 1.0, 0, sd.d1);
            push(RATIO, i, 1.0, 0, sd.ratio);
        }
        if cfg.record_every > 0 {
            for (i, r) in train.iter_rows().enumerate() {
                for (k, &v) in r.iter().enumerate() {
                    push(TRAIN_POINT, i, 1.0, k, v as f64);
                }
            }
            for (step, (t, x)) in sol.trajectory.iter().enumerate() {
                if step % cfg.record_every != 0 && step + 1 != sol.trajectory.len() {
                    continue;
                }
                for i in 0..cfg.shown {
                    for (k, &v) in x.row(i).iter().enumerate() {
                        push(TRAJECTORY, i, *t, k, v as f64);
                    }
                }
            }
        } else {
            let shown = sol.x.slice_rows(0, cfg.shown);
            let nearest = knn(&shown, &train, 1, false)?;
            for i in 0..cfg.shown {
                for (k, &v) in shown.row(i).iter().enumerate() {
                    push(SAMPLE_PIXEL, i, 1.0, k, v as f64);
                }
                for (k, &v) in train.row(nearest.index[i]).iter().enumerate() {
                    push(NEAREST_PIXEL, i, 1.0, k, v as f64);
                }
            }
        }
        table.finish()
    }
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C4",
            short: "Integrating u* alone reproduces training points.",
            figure: ID,
            statement: "Integrating u* alone reproduces training points.",
            paper: "Prop. 1 and Sec. 3: the closed-form ODE can only generate training points (distance ~ 0)",
            on: &[],
            reads: &[],
            regime: "Proposition 1 is exact: integrated accurately, u* ends on a training point; a FAIL means the integration (100 Euler steps, the f64 fallback near t = 1) is not accurate enough, not that the proposition fails.",
            check: c4,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let mut k = KeyTable::new(
            "",
            &["dataset", "copies (d1/d2 < 1/3)", "mean distance to nearest training point", "train-to-train"],
        );
        for name in distinct(df, "dataset")? {
            let d = filter_eq(df, "dataset", &name)?;
            k.rows.push(vec![
                name,
                format!("{:.1}%", 100.0 * stat_value(&d, FRACTION_MEMORIZED)?),
                num(stat_value(&d, MEAN_D1)?, 2),
                num(stat_value(&d, TRAIN_TO_TRAIN)?, 3),
            ]);
        }
        Ok(vec![k])
    }
}

/// C4: on every dataset, at least 95% memorized and mean d1 below 1% of the train-to-train distance.
fn c4(e: &Evidence, _: &str) -> Result<Measured> {
    let df = &e.table;
    let mut parts = Vec::new();
    let mut pass = true;
    let (mut least, mut worst) = (f64::INFINITY, 0.0f64);
    for name in distinct(df, "dataset")? {
        let rows = filter_eq(df, "dataset", &name)?;
        let (frac, d1, base) = (
            stat_value(&rows, FRACTION_MEMORIZED)?,
            stat_value(&rows, MEAN_D1)?,
            stat_value(&rows, TRAIN_TO_TRAIN)?,
        );
        pass &= frac >= 0.95 && d1 <= 0.01 * base;
        (least, worst) = (least.min(frac), worst.max(d1 / base));
        // Distances below the noise floor are f32 rounding of samples sitting on training points.
        let d1 = if d1 < crate::table::NOISE_FLOOR { 0.0 } else { d1 };
        parts.push(format!(
            "{name}: {:.1}% memorized, mean d1 {d1:.2e} vs train-to-train {base:.3}",
            100.0 * frac
        ));
    }
    Ok(Measured::new(
        parts.join("; "),
        format!(
            "on every dataset: at least {:.1}% memorized (needs >= 95%), mean d1 at most {:.1e} x train-to-train \
             (needs <= 0.01)",
            100.0 * least,
            if worst < crate::table::NOISE_FLOOR { 0.0 } else { worst }
        ),
        ">= 95% of samples with d1/d2 < 1/3 and mean d1 <= 1% of the train-to-train distance",
        pass,
    ))
}
