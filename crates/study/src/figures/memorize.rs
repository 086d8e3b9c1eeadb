//! Closed-form sampling memorizes (Proposition 1's consequence, claim C4): integrating
//! `dx/dt = u*(x, t)` from Gaussian noise with Euler steps lands on training points.
//!
//! Two-moons: 2-D trajectories over the training set. Digits: generated images next to their
//! nearest training image. For both: the distance `d1` of every sample to its nearest training
//! point, the ratio test `d1 / d2 < 1/3` (memorized fraction) and the mean distance of training
//! points to their nearest other training point (the scale of "novel").

use cfm_core::metrics::{COPY_THRESHOLD, knn, memorization, train_to_train_distance};
use cfm_core::ode::{Solver, integrate};
use cfm_core::{ClosedForm, Matrix};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::common::DataSpec;
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, distinct, f64s, filter_eq};
use crate::{Context, Profile, Result, row};

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: DataSpec,
    samples: usize,
    shown: usize,
    steps: usize,
    record_every: usize,
}

fn specs(profile: Profile) -> Vec<CellConfig> {
    let small = profile == Profile::Smoke;
    let samples = if small { 32 } else { 256 };
    vec![
        CellConfig {
            data: DataSpec::TwoMoons { n: if small { 100 } else { 200 } },
            samples,
            shown: if small { 16 } else { 48 },
            steps: 1000,
            record_every: 20,
        },
        CellConfig {
            data: DataSpec::Digits { size: None },
            samples,
            shown: if small { 4 } else { 16 },
            steps: 1000,
            record_every: 0,
        },
    ]
}

/// The figure.
pub struct Memorize;

impl Figure for Memorize {
    fn id(&self) -> &'static str {
        "memorize"
    }
    fn title(&self) -> &'static str {
        "Sampling with the closed form reproduces training points"
    }
    fn paper(&self) -> &'static str {
        "Prop. 1 and Sec. 3: the closed-form velocity field can only generate training points."
    }
    fn caption(&self, profile: Profile) -> String {
        let s = &specs(profile);
        format!(
            "Euler integration ({} steps) of the closed-form velocity from {} Gaussian noises. Left: two-moons \
             trajectories (n = {} training points, grey). Right: generated 8x8 digits (top) above their nearest \
             training image (bottom), n = 1797. A sample counts as memorized when d1/d2 < 1/3 (d1, d2: distances \
             to the nearest and second-nearest training point).",
            s[0].steps,
            s[0].samples,
            match s[0].data {
                DataSpec::TwoMoons { n } => n,
                _ => 0,
            }
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(specs(ctx.profile).into_iter().map(|c| CellSpec::new(c.data.name(), &c, 2.0)).collect())
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
        let mut table = TableBuilder::new(&["dataset", "statistic", "sample", "t", "index", "value"]);
        let mut push = |stat: &str, sample: usize, t: f64, index: usize, value: f64| {
            table.push(row![name.clone(), stat, sample, t, index, value]);
        };
        push("fraction_memorized", 0, 1.0, 0, mem.summary.fraction_memorized);
        push("mean_d1", 0, 1.0, 0, mem.summary.mean_d1);
        push("train_to_train", 0, 1.0, 0, baseline);
        for (i, sd) in mem.samples.iter().enumerate() {
            push("d1", i, 1.0, 0, sd.d1);
            push("ratio", i, 1.0, 0, sd.ratio);
        }
        if cfg.record_every > 0 {
            for (i, r) in train.iter_rows().enumerate() {
                for (k, &v) in r.iter().enumerate() {
                    push("train_point", i, 1.0, k, v as f64);
                }
            }
            for (step, (t, x)) in sol.trajectory.iter().enumerate() {
                if step % cfg.record_every != 0 && step + 1 != sol.trajectory.len() {
                    continue;
                }
                for i in 0..cfg.shown {
                    for (k, &v) in x.row(i).iter().enumerate() {
                        push("trajectory", i, *t, k, v as f64);
                    }
                }
            }
        } else {
            let shown = sol.x.slice_rows(0, cfg.shown);
            let nearest = knn(&shown, &train, 1, false)?;
            for i in 0..cfg.shown {
                for (k, &v) in shown.row(i).iter().enumerate() {
                    push("sample_pixel", i, 1.0, k, v as f64);
                }
                for (k, &v) in train.row(nearest.index[i]).iter().enumerate() {
                    push("nearest_pixel", i, 1.0, k, v as f64);
                }
            }
        }
        table.finish()
    }
}

/// C4: on every dataset, at least 95% memorized and mean d1 below 1% of the train-to-train distance.
fn c4(df: &DataFrame) -> Result<Measured> {
    let mut parts = Vec::new();
    let mut pass = true;
    for name in distinct(df, "dataset")? {
        let rows = filter_eq(df, "dataset", &name)?;
        let get =
            |stat: &str| -> Result<f64> { Ok(f64s(&filter_eq(&rows, "statistic", stat)?, "value")?[0]) };
        let (frac, d1, base) = (get("fraction_memorized")?, get("mean_d1")?, get("train_to_train")?);
        pass &= frac >= 0.95 && d1 <= 0.01 * base;
        // Distances below the noise floor are f32 rounding of samples sitting on training points.
        let d1 = if d1 < crate::table::NOISE_FLOOR { 0.0 } else { d1 };
        parts.push(format!(
            "{name}: {:.1}% memorized, mean d1 {d1:.2e} vs train-to-train {base:.3}",
            100.0 * frac
        ));
    }
    Ok(Measured {
        value: parts.join("; "),
        threshold: ">= 95% of samples with d1/d2 < 1/3 and mean d1 <= 1% of the train-to-train distance"
            .into(),
        pass,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        id: "C4",
        figure: "memorize",
        statement: "Integrating u* alone reproduces training points.",
        paper: "Prop. 1 and Sec. 3: the closed-form ODE can only generate training points (distance ~ 0)",
        check: c4,
    }]
}
