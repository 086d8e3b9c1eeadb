//! Closed-form sampling memorizes (Proposition 1's consequence, claim C4): integrating
//! `dx/dt = u*(x, t)` from Gaussian noise with Euler steps lands on training points.
//!
//! Two-moons: 2-D trajectories over the training set. Images: generated images next to their
//! nearest training image. For every dataset: the distance `d1` of every sample to its nearest
//! training point, the ratio test `d1 / d2 < 1/3` (memorized fraction) and the mean distance of
//! training points to their nearest other training point (the scale of "novel").
//!
//! The table is read once into a [`View`]: per dataset ([`Sampled`]), the summary statistics and
//! what its panel shows ([`Shown`]: trajectories or image pairs). The claim, the key numbers and
//! the renderer all read that view.

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
use crate::table::{Columns, NOISE_FLOOR, TableBuilder, unique};
use crate::{Context, Error, Profile, Result, row};

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
/// C4: the least fraction of samples that must be copies, on every dataset.
pub const MIN_MEMORIZED: f64 = 0.95;
/// C4: the largest mean `d1` allowed, as a fraction of the train-to-train distance.
pub const MAX_RELATIVE_D1: f64 = 0.01;

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
        let s = ctx.stream(ID).derive(&name);
        let x0 = Matrix::from_vec(cfg.samples, d, s.derive("noise").normal_vec(cfg.samples * d))?;
        let cf = ClosedForm::new(train.clone())?;
        bar.set_length(1);
        let sol = integrate(&cf, &x0, Solver::Euler { steps: cfg.steps }, cfg.record_every > 0)?;
        bar.inc(1);
        let mut table = TableBuilder::new(&COLUMNS);
        let mut push = |stat: &str, sample: usize, t: f64, index: usize, value: f64| {
            table.push(row![name.clone(), stat, sample, t, index, value]);
        };
        push_distances(&mut push, &sol.x, &train)?;
        if cfg.record_every > 0 {
            push_trajectories(&mut push, &cfg, &train, &sol.trajectory);
        } else {
            push_images(&mut push, &cfg, &sol.x, &train)?;
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
        let view = View::read(df)?;
        let mut k = KeyTable::new(
            "",
            &["dataset", "copies (d1/d2 < 1/3)", "mean distance to nearest training point", "train-to-train"],
        );
        for data in &view.datasets {
            k.rows.push(vec![
                data.name.clone(),
                format!("{:.1}%", 100.0 * data.fraction_memorized),
                num(data.mean_d1, 2),
                num(data.train_to_train, 3),
            ]);
        }
        Ok(vec![k])
    }
}

/// Appends a row `(statistic, sample, t, index, value)` of a cell's table.
type Push<'a> = dyn FnMut(&str, usize, f64, usize, f64) + 'a;

/// The summary rows (memorized fraction, mean `d1`, train-to-train distance), then `d1` and
/// `d1 / d2` per sample of `samples`.
fn push_distances(push: &mut Push<'_>, samples: &Matrix, train: &Matrix) -> Result<()> {
    let mem = memorization(samples, train, COPY_THRESHOLD)?;
    let baseline = train_to_train_distance(train)?;
    push(FRACTION_MEMORIZED, 0, 1.0, 0, mem.summary.fraction_memorized);
    push(MEAN_D1, 0, 1.0, 0, mem.summary.mean_d1);
    push(TRAIN_TO_TRAIN, 0, 1.0, 0, baseline);
    for (i, sd) in mem.samples.iter().enumerate() {
        push(D1, i, 1.0, 0, sd.d1);
        push(RATIO, i, 1.0, 0, sd.ratio);
    }
    Ok(())
}

/// Two-dimensional data: the training points, then the trajectories of the first `cfg.shown`
/// samples at every `cfg.record_every`-th step and the last.
fn push_trajectories(push: &mut Push<'_>, cfg: &CellConfig, train: &Matrix, trajectory: &[(f64, Matrix)]) {
    for (i, r) in train.iter_rows().enumerate() {
        for (k, &v) in r.iter().enumerate() {
            push(TRAIN_POINT, i, 1.0, k, v as f64);
        }
    }
    for (step, (t, x)) in trajectory.iter().enumerate() {
        if step % cfg.record_every != 0 && step + 1 != trajectory.len() {
            continue;
        }
        for i in 0..cfg.shown {
            for (k, &v) in x.row(i).iter().enumerate() {
                push(TRAJECTORY, i, *t, k, v as f64);
            }
        }
    }
}

/// Images: the first `cfg.shown` samples, each followed by its nearest training image.
fn push_images(push: &mut Push<'_>, cfg: &CellConfig, samples: &Matrix, train: &Matrix) -> Result<()> {
    let shown = samples.slice_rows(0, cfg.shown);
    let nearest = knn(&shown, train, 1, false)?;
    for i in 0..cfg.shown {
        for (k, &v) in shown.row(i).iter().enumerate() {
            push(SAMPLE_PIXEL, i, 1.0, k, v as f64);
        }
        for (k, &v) in train.row(nearest.index[i]).iter().enumerate() {
            push(NEAREST_PIXEL, i, 1.0, k, v as f64);
        }
    }
    Ok(())
}

/// The table as the paper reads it: per dataset, how many closed-form samples are copies of
/// training points, and the samples its panel shows.
pub struct View {
    /// The datasets, in the order of the table.
    pub datasets: Vec<Sampled>,
}

/// One dataset's samples of the closed-form ODE.
pub struct Sampled {
    /// The dataset's name in the table (`two-moons`, `digits`, ...).
    pub name: String,
    /// The fraction of samples that are copies by the ratio test `d1 / d2 < 1/3`.
    pub fraction_memorized: f64,
    /// The mean distance `d1` of a sample to its nearest training point.
    pub mean_d1: f64,
    /// The mean distance of a training point to its nearest other one (the scale of "novel").
    pub train_to_train: f64,
    /// What the dataset's panel shows; `None` for a table of the summary rows only (enough for
    /// the claim and the key numbers, not for the figure).
    pub panel: Option<Shown>,
}

/// The samples a dataset's panel shows.
pub enum Shown {
    /// Two-dimensional data: the training points, and the trajectories of the shown samples
    /// from noise (t = 0) to t = 1, each a list of points in time order.
    Paths { train: Vec<(f64, f64)>, paths: Vec<Vec<(f64, f64)>> },
    /// Square images of `side` pixels a side: per shown sample, the generated image and its
    /// nearest training image (pixels in row-major order, -1 black to 1 white).
    Images { side: usize, pairs: Vec<(Vec<f64>, Vec<f64>)> },
}

/// One row of the table: `(sample, t, index, value)`.
type Obs = (f64, f64, f64, f64);

impl View {
    /// Reads the table; every dataset must have its three summary rows. The samples it shows
    /// are read where the table has them: trajectories (with the training points) or generated
    /// images, each with its nearest training image.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, statistic, sample, t, index, value] = COLUMNS;
        let (names, stats) = (cols.text(dataset)?, cols.text(statistic)?);
        let (samples, ts, idx, values) =
            (cols.num(sample)?, cols.num(t)?, cols.num(index)?, cols.num(value)?);
        let mut datasets = Vec::new();
        for name in unique(names.iter().cloned()) {
            let select = |stat: &str| -> Vec<Obs> {
                (0..names.len())
                    .filter(|&i| names[i] == name && stats[i] == stat)
                    .map(|i| (samples[i], ts[i], idx[i], values[i]))
                    .collect()
            };
            let scalar = |stat: &str| -> Result<f64> {
                select(stat)
                    .first()
                    .map(|o| o.3)
                    .ok_or_else(|| cols.malformed(format!("dataset '{name}' has no '{stat}' row")))
            };
            let (fraction_memorized, mean_d1, train_to_train) =
                (scalar(FRACTION_MEMORIZED)?, scalar(MEAN_D1)?, scalar(TRAIN_TO_TRAIN)?);
            let bad = |msg: String| cols.malformed(format!("dataset '{name}': {msg}"));
            let panel = if !select(TRAJECTORY).is_empty() {
                let train = points(&mut select(TRAIN_POINT), "training point").map_err(bad)?;
                let paths = points(&mut select(TRAJECTORY), TRAJECTORY).map_err(bad)?;
                Some(Shown::Paths { train: train.into_iter().flatten().collect(), paths })
            } else if !select(SAMPLE_PIXEL).is_empty() {
                Some(image_pairs(&mut select(SAMPLE_PIXEL), &mut select(NEAREST_PIXEL)).map_err(bad)?)
            } else {
                None
            };
            datasets.push(Sampled { name, fraction_memorized, mean_d1, train_to_train, panel });
        }
        Ok(View { datasets })
    }
}

impl Sampled {
    /// What the dataset's panel shows, or an error where the table has no samples to show.
    pub fn shown(&self) -> Result<&Shown> {
        self.panel.as_ref().ok_or_else(|| {
            let msg = format!("dataset '{}': neither '{TRAJECTORY}' nor '{SAMPLE_PIXEL}' rows", self.name);
            Error::malformed(ID, msg)
        })
    }

    /// The mean `d1` as a fraction of the train-to-train distance.
    pub fn relative_d1(&self) -> f64 {
        self.mean_d1 / self.train_to_train
    }

    /// Whether the samples reproduce training points (C4 on this dataset): at least
    /// [`MIN_MEMORIZED`] of them copies, and the mean `d1` at most [`MAX_RELATIVE_D1`] of the
    /// train-to-train distance.
    pub fn memorizes(&self) -> bool {
        self.fraction_memorized >= MIN_MEMORIZED && self.mean_d1 <= MAX_RELATIVE_D1 * self.train_to_train
    }
}

/// Groups `obs` by sample, then time, into 2-D points: one list per sample, in time order.
/// Every (sample, time) must have exactly the coordinates 0 and 1.
fn points(obs: &mut [Obs], what: &str) -> std::result::Result<Vec<Vec<(f64, f64)>>, String> {
    obs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    obs.chunk_by(|a, b| a.0 == b.0)
        .map(|sample| {
            sample
                .chunk_by(|a, b| a.1 == b.1)
                .map(|at| match at {
                    [a, b] if a.2 == 0.0 && b.2 == 1.0 => Ok((a.3, b.3)),
                    _ => Err(format!(
                        "{what} {} at t = {}: expected coordinates 0 and 1 (2-D data)",
                        at[0].0, at[0].1
                    )),
                })
                .collect()
        })
        .collect()
}

/// Groups `obs` by sample into images (pixels in index order).
fn images(obs: &mut [Obs]) -> Vec<(f64, Vec<f64>)> {
    obs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.total_cmp(&b.2)));
    obs.chunk_by(|a, b| a.0 == b.0).map(|c| (c[0].0, c.iter().map(|o| o.3).collect())).collect()
}

/// Pairs each generated image with the nearest training image of the same sample.
fn image_pairs(generated: &mut [Obs], nearest: &mut [Obs]) -> std::result::Result<Shown, String> {
    let (generated, nearest) = (images(generated), images(nearest));
    let len = generated[0].1.len();
    let side = (len as f64).sqrt().round() as usize;
    if side * side != len {
        return Err(format!("images of {len} pixels are not square"));
    }
    let mut pairs = Vec::new();
    for (sample, pixels) in generated {
        let Some((_, near)) = nearest.iter().find(|n| n.0 == sample) else {
            return Err(format!("sample {sample} has no '{NEAREST_PIXEL}' rows"));
        };
        if pixels.len() != len || near.len() != len {
            return Err(format!(
                "sample {sample}: images of different sizes ({len}, {}, {})",
                pixels.len(),
                near.len()
            ));
        }
        pairs.push((pixels, near.clone()));
    }
    Ok(Shown::Images { side, pairs })
}

/// C4: on every dataset, at least 95% memorized and mean d1 below 1% of the train-to-train distance.
fn c4(e: &Evidence, _: &str) -> Result<Measured> {
    let view = View::read(&e.table)?;
    let mut parts = Vec::new();
    let mut pass = true;
    let (mut least, mut worst) = (f64::INFINITY, 0.0f64);
    for data in &view.datasets {
        let (frac, d1, base) = (data.fraction_memorized, data.mean_d1, data.train_to_train);
        pass &= data.memorizes();
        (least, worst) = (least.min(frac), worst.max(data.relative_d1()));
        // Distances below the noise floor are f32 rounding of samples sitting on training points.
        let d1 = if d1 < NOISE_FLOOR { 0.0 } else { d1 };
        parts.push(format!(
            "{}: {:.1}% memorized, mean d1 {d1:.2e} vs train-to-train {base:.3}",
            data.name,
            100.0 * frac
        ));
    }
    Ok(Measured::new(
        parts.join("; "),
        format!(
            "on every dataset: at least {:.1}% memorized (needs >= 95%), mean d1 at most {:.1e} x train-to-train \
             (needs <= 0.01)",
            100.0 * least,
            if worst < NOISE_FLOOR { 0.0 } else { worst }
        ),
        ">= 95% of samples with d1/d2 < 1/3 and mean d1 <= 1% of the train-to-train distance",
        pass,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(b: &mut TableBuilder, name: &str, fraction: f64, d1: f64) {
        b.push(row![name, FRACTION_MEMORIZED, 0usize, 1.0, 0usize, fraction]);
        b.push(row![name, MEAN_D1, 0usize, 1.0, 0usize, d1]);
        b.push(row![name, TRAIN_TO_TRAIN, 0usize, 1.0, 0usize, 0.5]);
        b.push(row![name, D1, 0usize, 1.0, 0usize, d1]);
    }

    /// Two-moons: 2 training points, 2 trajectories over 2 times (rows out of order). Digits:
    /// one 2x2 sample and its nearest training image.
    fn table(digits_fraction: f64, digits_d1: f64) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        summary(&mut b, "two-moons", 1.0, 1e-9);
        for i in 0..2usize {
            b.push(row!["two-moons", TRAIN_POINT, i, 1.0, 1usize, -1.0]);
            b.push(row!["two-moons", TRAIN_POINT, i, 1.0, 0usize, i as f64]);
        }
        for t in [1.0, 0.0] {
            for i in 0..2usize {
                b.push(row!["two-moons", TRAJECTORY, i, t, 0usize, i as f64 + t]);
                b.push(row!["two-moons", TRAJECTORY, i, t, 1usize, 2.0 * t]);
            }
        }
        summary(&mut b, "digits", digits_fraction, digits_d1);
        for k in (0..4usize).rev() {
            b.push(row!["digits", SAMPLE_PIXEL, 0usize, 1.0, k, k as f64]);
            b.push(row!["digits", NEAREST_PIXEL, 0usize, 1.0, k, -(k as f64)]);
        }
        b.finish().unwrap()
    }

    #[test]
    fn the_view_groups_paths_and_image_pairs() {
        let view = View::read(&table(1.0, 0.0)).unwrap();
        let Ok(Shown::Paths { train, paths }) = view.datasets[0].shown() else {
            panic!("two-moons draws paths")
        };
        assert_eq!(train, &[(0.0, -1.0), (1.0, -1.0)]);
        assert_eq!(paths, &[vec![(0.0, 0.0), (1.0, 2.0)], vec![(1.0, 0.0), (2.0, 2.0)]]);
        let Ok(Shown::Images { side, pairs }) = view.datasets[1].shown() else {
            panic!("digits draws images")
        };
        assert_eq!((*side, pairs.len()), (2, 1));
        assert_eq!(pairs[0], (vec![0.0, 1.0, 2.0, 3.0], vec![0.0, -1.0, -2.0, -3.0]));
    }

    #[test]
    fn a_table_of_summary_rows_decides_the_claim_but_shows_nothing() {
        let mut b = TableBuilder::new(&COLUMNS);
        summary(&mut b, "digits", 0.5, 0.3);
        let view = View::read(&b.finish().unwrap()).unwrap();
        let err = view.datasets[0].shown().err().unwrap().to_string();
        assert!(err.contains("dataset 'digits': neither 'trajectory' nor 'sample_pixel' rows"), "{err}");
        assert!(!view.datasets[0].memorizes());
    }

    #[test]
    fn memorizing_needs_copies_and_small_distances() {
        let view = View::read(&table(0.96, 0.004)).unwrap();
        let digits = &view.datasets[1];
        assert_eq!((digits.fraction_memorized, digits.mean_d1, digits.train_to_train), (0.96, 0.004, 0.5));
        assert_eq!(digits.relative_d1(), 0.008);
        assert!(digits.memorizes() && view.datasets[0].memorizes());
        assert_eq!(
            c4(&Evidence::of(table(0.96, 0.004)), "").unwrap().decision,
            crate::claims::Decision::Pass
        );
        for (fraction, d1) in [(0.94, 0.0), (1.0, 0.006)] {
            let view = View::read(&table(fraction, d1)).unwrap();
            assert!(!view.datasets[1].memorizes(), "{fraction} {d1}");
            let m = c4(&Evidence::of(table(fraction, d1)), "").unwrap();
            assert_eq!(m.decision, crate::claims::Decision::Fail);
        }
    }
}
