//! Fig. 2: from memorization to generalization as the training set grows.
//!
//! Fixed-capacity networks trained with CFM (Algorithm 1) on the first `n` training points, for
//! `n` on a log grid. Per `n`:
//! - the error `E ||u_theta(x_t, t) - u*(x_t, t)||^2` against `t` (x0 ~ N(0, I), x1 from the
//!   subset, `u*` the closed form over the subset): where the network fails to fit the closed
//!   form, it can generalize (claim C5);
//! - the Fréchet distance of 1000 generated samples to the held-out test set, in the feature
//!   space of a classifier trained here and in pixel space (the paper: FID-10k with DINOv2);
//! - the mean distance of samples to their nearest training point, beside the mean distance of
//!   training points to their nearest other training point (the paper's dashed line), and the
//!   fraction of samples that are copies by the ratio test `d1 / d2 < 1/3` (claim C6).
//!
//! Beyond the paper, the memorized fraction over a grid of `n` x network width (a phase
//! diagram), so the transition is shown where it lies rather than where one width puts it.
//!
//! Table: `dataset, n, width, t, statistic, value`. `statistic = error` rows are per time `t`;
//! the others (`fd_feature_test`, `fd_pixel_test`, `energy_test`, `mean_d1`, `fraction_memorized`,
//! `train_to_train_subset`, `train_to_train_full`, `classifier_accuracy`) have `t = 0`. Image
//! sets have the feature distance, the whole split's train-to-train distance and the
//! classifier's accuracy; two-moons has the energy distance to held-out points instead.

use cfm_core::ClosedForm;
use cfm_core::datasets::two_moons;
use cfm_core::metrics::{
    COPY_THRESHOLD, energy_distance, frechet_distance, memorization, train_to_train_distance,
};
use cfm_core::targets::interpolate;
use cfm_nn::{MlpConfig, ModelConfig, Target};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;

use super::learned::{self, Evaluator};
use crate::claims::{Claim, Measured};
use crate::data::{LabelledImages, identity, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan, Setting};
use crate::stats::{grid, mean, num, pct, spearman};
use crate::table::{TableBuilder, distinct, f64s, filter_eq, filter_near, stat_value};
use crate::{Context, Error, Profile, Result, row};

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", "n", "width", "t", "statistic", "value"];
/// `E ||u_theta - u*||^2` at time `t`.
pub const ERROR: &str = "error";
/// Mean distance of samples to their nearest training point.
pub const MEAN_D1: &str = "mean_d1";
/// Fraction of samples that are copies (`d1 / d2 < 1/3`).
pub const FRACTION_MEMORIZED: &str = "fraction_memorized";
/// Mean distance of training points to their nearest other, over the subset.
pub const TRAIN_TO_TRAIN_SUBSET: &str = "train_to_train_subset";
/// The same over the whole training split (the paper's dashed line).
pub const TRAIN_TO_TRAIN_FULL: &str = "train_to_train_full";
/// Fréchet distance of samples to the test set, classifier features.
pub const FD_FEATURE_TEST: &str = "fd_feature_test";
/// Fréchet distance of samples to the test set, pixels.
pub const FD_PIXEL_TEST: &str = "fd_pixel_test";
/// Energy distance to held-out points (two-moons).
pub const ENERGY_TEST: &str = "energy_test";
/// Test accuracy of the feature classifier.
pub const CLASSIFIER_ACCURACY: &str = "classifier_accuracy";
/// The table name of the two-moons rows.
pub const TWO_MOONS: &str = "two-moons";

/// Points of two-moons generated once; subsets are their first `n`.
const MOONS_POOL: usize = 50_000;
/// Held-out two-moons points for the distances to "test".
const MOONS_TEST: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Data {
    Images(ImageData),
    TwoMoons,
}

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: Data,
    n: usize,
    width: usize,
    steps: u64,
    pairs: usize,
    times: Vec<f64>,
    samples: usize,
    sample_steps: usize,
}

struct Fig2Plan {
    images: ImageData,
    sizes: Vec<usize>,
    width: usize,
    phase_widths: Vec<usize>,
    moons: Vec<usize>,
    steps: u64,
    pairs: usize,
    times: Vec<f64>,
    samples: usize,
    profile: Profile,
}

fn plan(profile: Profile) -> Fig2Plan {
    match profile {
        Profile::Smoke => Fig2Plan {
            images: ImageData::Digits,
            sizes: vec![10, 1500],
            width: 64,
            phase_widths: vec![32],
            moons: vec![4, 400],
            steps: 200,
            pairs: 32,
            times: grid(0.1, 0.9),
            samples: 200,
            profile,
        },
        Profile::Quick => Fig2Plan {
            images: ImageData::Digits,
            sizes: vec![10, 30, 100, 300, 1000, 1500],
            width: 256,
            phase_widths: vec![32, 64, 128],
            moons: vec![4, 40, 400, 4_000, 50_000],
            steps: 4000,
            pairs: 256,
            times: grid(0.02, 0.98),
            samples: 1000,
            profile,
        },
        Profile::Paper => Fig2Plan {
            images: ImageData::Cifar10,
            sizes: vec![10, 100, 1000, 2000, 3000, 4000, 5000, 10000],
            width: 0,
            phase_widths: vec![],
            moons: vec![4, 40, 400, 4_000, 50_000],
            steps: 50_000,
            pairs: 256,
            times: grid(0.02, 0.98),
            samples: 10_000,
            profile,
        },
    }
}

impl Fig2Plan {
    fn cell(&self, data: Data, n: usize, width: usize) -> CellConfig {
        CellConfig {
            data,
            n,
            width,
            steps: self.steps,
            pairs: self.pairs,
            times: self.times.clone(),
            samples: self.samples,
            sample_steps: 100,
        }
    }
}

impl Plan for Fig2Plan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let per_step = if self.profile == Profile::Paper { 0.1 } else { 0.005 };
        let mut cells = Vec::new();
        for &w in std::iter::once(&self.width).chain(&self.phase_widths) {
            for &n in &self.sizes {
                let cost = self.steps as f64 * per_step * (w.max(64) as f64 / 256.0) + 3.0;
                let label = format!("{} n={n} width={w}", self.images.name());
                let rows = self.times.len() + 7;
                let cfg = self.cell(Data::Images(self.images), n, w);
                cells.push(CellSpec::new(label, &cfg, cost, rows).reading([self.images]));
            }
        }
        for &n in &self.moons {
            let cost = self.steps as f64 * 0.001 + 1.0;
            let rows = self.times.len() + 5;
            cells.push(CellSpec::new(
                format!("two-moons n={n}"),
                &self.cell(Data::TwoMoons, n, 64),
                cost,
                rows,
            ));
        }
        Ok(cells)
    }
    fn caption(&self) -> String {
        let net = match self.profile {
            Profile::Paper => "the paper's U-Net".to_string(),
            _ => format!("an MLP ({} wide, 3 hidden layers) on flattened images", self.width),
        };
        format!(
            "CFM-trained networks ({net}; {} steps, minibatches of min(128, n) drawn without replacement per \
             epoch) on the first n training images of {} (n = {:?}) and on two-moons (n = {:?}). Error \
             E||u_theta - u*||^2 against t over {} pairs; Fréchet distance of {} samples (Euler, 100 steps) to \
             the held-out test set in the features of a classifier trained here (replacing DINOv2) and in pixel \
             space; mean distance of samples to the nearest training image (dashed: training image to nearest \
             other training image, whole split); fraction of copies (d1/d2 < 1/3). Phase diagram: fraction of \
             copies over n x width{}.",
            self.steps,
            self.images.name(),
            self.sizes,
            self.moons,
            self.pairs,
            self.samples,
            if self.phase_widths.is_empty() {
                " (not run at this profile)".to_string()
            } else {
                format!(" (widths {:?} and {})", self.phase_widths, self.width)
            }
        )
    }
    fn settings(&self) -> Vec<Setting> {
        let shape = self.images.shape();
        let model = network(self.profile, Data::Images(self.images), self.width);
        let n = *self.sizes.last().unwrap_or(&1);
        let train = learned::train_config(self.profile, model, Target::Cfm, self.steps, 0, n);
        learned::settings(
            &PAPER,
            &train,
            shape.dim(),
            Some(shape),
            self.samples,
            100,
            "1 (replicate 0 of the root seed)",
        )
    }
}

/// The network of a cell: the profile's image network (of the given width on the CPU profiles),
/// or the official toy MLP for two-moons.
fn network(profile: Profile, data: Data, width: usize) -> ModelConfig {
    match data {
        Data::TwoMoons => ModelConfig::Mlp(MlpConfig::toy()),
        Data::Images(_) => learned::network(profile, (width > 0).then_some(width)),
    }
}

/// The paper's setting of Fig. 2.
const PAPER: learned::PaperSetup = learned::PaperSetup {
    network: "U-Net, 128 channels (34M parameters)",
    steps: "50000",
    samples: "10000",
    solver: "dopri5",
    seeds: "1",
};

/// The datasets C5 and C6 may be decided on, highest-dimensional real images first.
const IMAGES_FIRST: &[&str] = &["cifar10", "fashion-mnist", "mnist", "digits"];

/// The figure.
pub struct Fig2;

impl Figure for Fig2 {
    fn id(&self) -> &'static str {
        "fig2"
    }
    fn title(&self) -> &'static str {
        "From memorization to generalization: networks trained on n points"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Fig. 2: U-Nets trained with CFM on CIFAR-10 subsets of n = 10 ... 10000 images. Left: E||u_theta - \
             u*||^2 against t, growing with n and concentrated at early times (t ~ 0.15) and near t = 1. Middle: \
             FID-10k (DINOv2). Right: mean distance of samples to their nearest training image, rising to the \
             train-to-train level past n ~ 3000.",
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn trains(&self) -> bool {
        true
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(plan(profile))
    }
    fn claims(&self) -> Vec<Claim> {
        vec![
            Claim {
                id: "C5",
                figure: "fig2",
                statement: "The network approximates u* well for small n and worse as n grows; the error \
                            concentrates at early times and near t = 1.",
                paper: "Fig. 2 left, CIFAR-10: error grows with n and peaks around t ~ 0.15",
                on: IMAGES_FIRST,
                check: c5,
            },
            Claim {
                id: "C6",
                figure: "fig2",
                statement: "Memorization to generalization: for small n samples are copies of training points; \
                            past a threshold n their distance to the training set rises towards the \
                            train-to-train distance.",
                paper: "Fig. 2 right, CIFAR-10: transition around n ~ 3000",
                on: IMAGES_FIRST,
                check: c6,
            },
        ]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let mut k = KeyTable::new(
            "",
            &[
                "dataset",
                "n",
                "error to u* (mean over t)",
                "Fréchet to test",
                "mean d1 / train-to-train",
                "copies",
            ],
        );
        for name in distinct(df, "dataset")? {
            let d = filter_near(&filter_eq(df, "dataset", &name)?, "width", main_width(df, &name)?)?;
            let moons = name == TWO_MOONS;
            for n in distinct(&d, "n")? {
                let r = filter_eq(&d, "n", &n)?;
                let err = f64s(&filter_eq(&r, "statistic", ERROR)?, "value")?;
                let fd = stat_value(&r, if moons { FD_PIXEL_TEST } else { FD_FEATURE_TEST })?;
                let base = stat_value(&r, if moons { TRAIN_TO_TRAIN_SUBSET } else { TRAIN_TO_TRAIN_FULL })?;
                k.rows.push(vec![
                    name.clone(),
                    n,
                    num(mean(&err), 3),
                    num(fd, 3),
                    num(stat_value(&r, MEAN_D1)? / base, 2),
                    pct(stat_value(&r, FRACTION_MEMORIZED)?),
                ]);
            }
        }
        Ok(vec![k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let s = ctx.stream("fig2").derive(&cell.label);
        // Training subset, held-out set, and the full training split for the reference distance.
        let (name, train, test, full, shape, identity, evaluator) = match cfg.data {
            Data::Images(images) => {
                let set = LabelledImages::load(ctx, images)?;
                let evaluator = Evaluator::new(ctx, &set)?;
                let train = set.subset(cfg.n)?;
                (
                    images.name(),
                    train,
                    set.test.clone(),
                    set.train.clone(),
                    Some(set.shape),
                    identity(images, cfg.n),
                    Some(evaluator),
                )
            }
            Data::TwoMoons => {
                let pool = two_moons(MOONS_POOL, &mut ctx.stream("data").derive("fig2-two-moons"));
                let test = two_moons(MOONS_TEST, &mut ctx.stream("data").derive("fig2-two-moons-test"));
                let train = pool.slice_rows(0, cfg.n);
                (TWO_MOONS, train, test, pool, None, format!("two-moons pool[0..{}]", cfg.n), None)
            }
        };
        let config = learned::train_config(
            ctx.profile,
            network(ctx.profile, cfg.data, cfg.width),
            Target::Cfm,
            cfg.steps,
            ctx.train_seed(0),
            train.rows(),
        );
        let trained = learned::train(ctx, &config, &train, shape, &identity)?;
        let field = trained.field()?;
        let cf = ClosedForm::new(train.clone())?;
        let mut table = TableBuilder::new(&COLUMNS);
        let (n, w) = (cfg.n, cfg.width);
        bar.set_length(cfg.times.len() as u64 + 1);
        for (k, &t) in cfg.times.iter().enumerate() {
            let (x0, x1) = pairs(&train, cfg.pairs, &s.derive("pairs").derive_index(k as u64));
            let ts = vec![t; cfg.pairs];
            let xt = interpolate(&x0, &x1, &ts);
            let exact = cf.evaluate(&xt, &ts, false)?.velocity;
            let net = field.evaluate(&xt, &ts)?;
            let err = exact
                .iter_rows()
                .zip(net.iter_rows())
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>())
                .sum::<f64>()
                / cfg.pairs as f64;
            table.push(row![name, n, w, t, ERROR, err]);
            bar.inc(1);
        }
        let samples = learned::sample(&field, cfg.samples, cfg.sample_steps, &s.derive("noise"))?;
        let mem = memorization(&samples, &train, COPY_THRESHOLD)?;
        let mut scalar = |stat: &str, v: f64| table.push(row![name, n, w, 0.0, stat, v]);
        scalar(MEAN_D1, mem.summary.mean_d1);
        scalar(FRACTION_MEMORIZED, mem.summary.fraction_memorized);
        scalar(TRAIN_TO_TRAIN_SUBSET, train_to_train_distance(&train)?);
        match &evaluator {
            Some(ev) => {
                scalar(TRAIN_TO_TRAIN_FULL, train_to_train_distance(&full)?);
                let fd = ev.distances(&samples)?;
                scalar(FD_FEATURE_TEST, fd.feature_test);
                scalar(FD_PIXEL_TEST, fd.pixel_test);
                scalar(CLASSIFIER_ACCURACY, ev.accuracy());
            }
            None => {
                scalar(FD_PIXEL_TEST, frechet_distance(&samples, &test)?);
                scalar(ENERGY_TEST, energy_distance(&samples, &test)?);
            }
        }
        bar.inc(1);
        table.finish()
    }
}

/// The main width of `dataset`'s runs: the largest (the phase diagram's others are narrower).
pub fn main_width(df: &DataFrame, dataset: &str) -> Result<f64> {
    let w = f64s(&filter_eq(df, "dataset", dataset)?, "width")?.into_iter().fold(f64::NEG_INFINITY, f64::max);
    if w.is_finite() { Ok(w) } else { Err(Error::invalid(format!("fig2: no {dataset} rows"))) }
}

/// Rows of `statistic` for `dataset` at its main width, as `(n, value)` sorted by `n`.
fn by_n(df: &DataFrame, dataset: &str, statistic: &str) -> Result<Vec<(f64, f64)>> {
    let rows = filter_near(
        &filter_eq(&filter_eq(df, "dataset", dataset)?, "statistic", statistic)?,
        "width",
        main_width(df, dataset)?,
    )?;
    let mut pts: Vec<(f64, f64)> = f64s(&rows, "n")?.into_iter().zip(f64s(&rows, "value")?).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(pts)
}

/// The error curve `(t, error)` of `dataset` at its main width for subset size `n`.
pub fn error_curve(df: &DataFrame, dataset: &str, n: f64) -> Result<Vec<(f64, f64)>> {
    let rows = filter_near(
        &filter_near(
            &filter_eq(&filter_eq(df, "dataset", dataset)?, "statistic", ERROR)?,
            "width",
            main_width(df, dataset)?,
        )?,
        "n",
        n,
    )?;
    Ok(f64s(&rows, "t")?.into_iter().zip(f64s(&rows, "value")?).collect())
}

/// C5: the time-averaged error grows with n, and for the largest n it peaks early.
fn c5(df: &DataFrame, dataset: &str) -> Result<Measured> {
    let sizes: Vec<f64> = by_n(df, dataset, MEAN_D1)?.into_iter().map(|p| p.0).collect();
    let means: Vec<f64> = sizes
        .iter()
        .map(|&n| error_curve(df, dataset, n).map(|c| mean(&c.iter().map(|p| p.1).collect::<Vec<_>>())))
        .collect::<Result<_>>()?;
    let max_n = *sizes.last().ok_or_else(|| Error::invalid(format!("fig2: no {dataset} runs")))?;
    let rho = spearman(&sizes, &means);
    let peak = error_curve(df, dataset, max_n)?
        .into_iter()
        .filter(|p| p.0 <= 0.9)
        .fold((f64::NAN, f64::NEG_INFINITY), |b, p| if p.1 > b.1 { p } else { b });
    Ok(Measured::new(
        format!(
            "{dataset}: Spearman(n, time-averaged error) = {rho:.2}; for n = {max_n}, the error over t <= 0.9 peaks at t = {:.2}",
            peak.0
        ),
        "Spearman >= 0.8, and the peak at t <= 0.4",
        rho >= 0.8 && peak.0 <= 0.4,
    ))
}

/// C6: copies at the smallest n, novel samples at the largest.
fn c6(df: &DataFrame, dataset: &str) -> Result<Measured> {
    let d1 = by_n(df, dataset, MEAN_D1)?;
    let frac = by_n(df, dataset, FRACTION_MEMORIZED)?;
    let base = stat_value(&filter_eq(df, "dataset", dataset)?, TRAIN_TO_TRAIN_FULL)?;
    let (Some(small), Some(large)) = (d1.first().copied(), d1.last().copied()) else {
        return Err(Error::invalid("no mean_d1 rows"));
    };
    let frac_small = frac.first().map_or(f64::NAN, |p| p.1);
    let transition = frac.iter().find(|p| p.1 < 0.5).map_or("none".to_string(), |p| format!("n = {}", p.0));
    Ok(Measured::new(
        format!(
            "{dataset}: n = {}: {:.0}% copies, mean d1 = {:.2} x train-to-train; n = {}: mean d1 = {:.2} x \
             train-to-train; copies first below 50% at {transition} (paper: ~3000 on CIFAR-10)",
            small.0,
            100.0 * frac_small,
            small.1 / base,
            large.0,
            large.1 / base
        ),
        "smallest n: >= 90% copies and mean d1 <= 0.2 x train-to-train; largest n: mean d1 >= 0.5 x train-to-train",
        frac_small >= 0.9 && small.1 <= 0.2 * base && large.1 >= 0.5 * base,
    ))
}
