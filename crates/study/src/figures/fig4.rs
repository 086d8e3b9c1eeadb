//! Fig. 4: stochastic versus exact targets during training. Networks trained with the same
//! budget on the same data by CFM (Algorithm 1, target `x1 - x0`), OT-CFM (the same target after
//! an exact optimal-transport pairing of each minibatch) and EFM-M (Algorithm 2, the Monte-Carlo
//! estimate `u*_M` of the closed form, eqs. 7-8, with the official code's references: the
//! minibatch's `x1` plus `M` extra uniform training points, the "official" reference mode),
//! evaluated by Fréchet distance as training goes. Claim C8: EFM is never worse than CFM or
//! OT-CFM and improves as `M` grows.
//!
//! The paper's four panels (Inception / DINOv2 embedding x train / test reference set) become
//! the Fréchet distance in the feature space of a classifier trained here and in pixel space,
//! each to the training and to the test images:
//!
//! ```text
//! FD = ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g^{1/2} S_r S_g^{1/2})^{1/2})
//! ```
//!
//! One cell per (dataset, method, seed): [`cfm_nn::Trainer`] steps one at a time, and at the step
//! closest to each evaluation epoch (`step(e) = round(e n / B)`, one epoch being `n / B`
//! steps) and at the last step the EMA weights draw `samples` images with Euler's method from
//! noise that depends on the seed only (common random numbers across methods and evaluations).
//! The run is the one [`cfm_nn::train()`] would make for the same [`TrainConfig`] (same trainer,
//! bit-identical weights), and its final model is saved where [`cfm_nn::model_dir`] points, so
//! that figures with the same configuration load it instead of training again.
//!
//! # Table
//!
//! | column | meaning |
//! |---|---|
//! | `dataset` | `digits`, `mnist`, `fashion-mnist`, `cifar10` |
//! | `method` | `CFM`, `OT-CFM`, `EFM-<M>` (`M` as the paper names it) |
//! | `m` | references of the regression target actually used: `min(M, n)`; 1 for CFM and OT-CFM |
//! | `seed` | replicate `k`: the training seed is the root seed's replicate `k` ([`Context::train_seed`]); the sampling noise is drawn per replicate |
//! | `epoch` | the scheduled evaluation epoch; for the last step, `steps B / n` |
//! | `step` | optimiser steps done when evaluated |
//! | `metric` | `feature_train`, `feature_test`, `pixel_train`, `pixel_test` (Fréchet distances), or `classifier_accuracy` (test accuracy of the feature classifier, one row per cell at `epoch = 0`, `step = 0`) |
//! | `value` | the number |
//!
//! # View
//!
//! [`View::read`] (in `fig4/view.rs`) reads the table once into [`View`]: per dataset ([`Data`])
//! the classifier's accuracy and the warm-up, and per method ([`Runs`], in the paper's order) every
//! run's evaluations ([`Run`], [`Eval`]) in each of the four panels ([`Panel`]). Its methods give
//! what the claims, the key numbers and the renderer share: each run's last value ([`Runs::last`]),
//! the mean and range over the seeds at each epoch ([`Runs::over_seeds`]), a dataset's last epoch
//! ([`Data::last_epoch`]).

mod view;

pub(crate) use view::unknown_method;
pub use view::{Data, Eval, Final, Run, Runs, Spread, View};

use cfm_core::datasets::ImageData;
use cfm_core::efm::RefMode;
use cfm_nn::{AdamConfig, EmaConfig, ModelConfig, Target, TrainConfig, UNetConfig};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::learned::{self, Evaluator, Knob};
use crate::claims::{Claim, Decision, Evidence, Measured};
use crate::data::{LabelledImages, identity};
use crate::figure::{CellSpec, Figure, KeyTable, Plan, Setting};
use crate::stats::{mean_sd, num};
use crate::table::{Columns, TableBuilder};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/fig4.svg`).
pub const ID: &str = "fig4";

/// Columns of the table.
pub const COLUMNS: [&str; 8] = ["dataset", "method", "m", "seed", "epoch", "step", "metric", "value"];
/// The `metric` of the feature classifier's test accuracy (one row per cell, epoch 0, step 0).
pub const CLASSIFIER_ACCURACY: &str = "classifier_accuracy";
/// The `metric` of the run's learning-rate warm-up, in steps (one row per cell, epoch 0, step 0).
pub const WARMUP_STEPS: &str = "warmup_steps";

/// Bumped when a cell's computation changes. `table1` shares these cells (same cache
/// namespace), so it reports the same revision.
pub const REVISION: u32 = 1;

/// The `metric` of the Fréchet distance in the classifier's features to the training images.
pub const FEATURE_TRAIN: &str = "feature_train";
/// The `metric` of the Fréchet distance in the classifier's features to the test images.
pub const FEATURE_TEST: &str = "feature_test";
/// The `metric` of the Fréchet distance in pixel space to the training images.
pub const PIXEL_TRAIN: &str = "pixel_train";
/// The `metric` of the Fréchet distance in pixel space to the test images.
pub const PIXEL_TEST: &str = "pixel_test";
/// The four Fréchet distances, in the order of the paper's panels.
pub const METRICS: [&str; 4] = [FEATURE_TRAIN, FEATURE_TEST, PIXEL_TRAIN, PIXEL_TEST];

/// A panel of the figure: one of the four Fréchet distances (the paper's Inception / DINOv2
/// embedding x train / test reference set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// In the classifier's features, to the training images.
    FeatureTrain,
    /// In the classifier's features, to the test images (Tables 1-2's FID).
    FeatureTest,
    /// In pixel space, to the training images.
    PixelTrain,
    /// In pixel space, to the test images.
    PixelTest,
}

impl Panel {
    /// The panels in the paper's order (that of [`METRICS`]).
    pub const ALL: [Panel; 4] =
        [Panel::FeatureTrain, Panel::FeatureTest, Panel::PixelTrain, Panel::PixelTest];

    /// Its `metric` in the table.
    pub fn metric(self) -> &'static str {
        METRICS[self as usize]
    }

    /// The panel of a `metric`, if it is a Fréchet distance.
    pub fn of(metric: &str) -> Option<Panel> {
        Panel::ALL.into_iter().find(|p| p.metric() == metric)
    }
}

/// A training method of the figure. Methods order as the paper lists them: CFM, OT-CFM, then
/// EFM-M by M.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Method {
    /// Conditional flow matching (Algorithm 1).
    Cfm,
    /// CFM on minibatches paired by exact optimal transport.
    OtCfm,
    /// Empirical flow matching with `m` references as the paper names it (capped at `n`).
    Efm {
        /// Nominal number of references.
        m: usize,
    },
}

impl Method {
    /// Name in tables and legends (`EFM-128`).
    pub fn label(self) -> String {
        match self {
            Method::Cfm => "CFM".into(),
            Method::OtCfm => "OT-CFM".into(),
            Method::Efm { m } => format!("EFM-{m}"),
        }
    }

    /// The method a table label names (`CFM`, `OT-CFM`, `EFM-<M>`): the inverse of
    /// [`Method::label`]; `None` for a label that names no method.
    pub fn parse(label: &str) -> Option<Method> {
        match label {
            "CFM" => Some(Method::Cfm),
            "OT-CFM" => Some(Method::OtCfm),
            _ => label.strip_prefix("EFM-")?.parse().ok().map(|m| Method::Efm { m }),
        }
    }

    /// Whether it is EFM-M.
    pub fn is_efm(self) -> bool {
        matches!(self, Method::Efm { .. })
    }

    /// The regression target on `n` training points: EFM with the official code's references,
    /// the minibatch plus `min(M, n)` extra training points (its "EFM-M").
    pub fn target(self, n: usize) -> Target {
        match self {
            Method::Cfm => Target::Cfm,
            Method::OtCfm => Target::OtCfm,
            Method::Efm { m } => Target::Efm { m: m.min(n), refs: RefMode::Official },
        }
    }
}

/// The configuration of one cell: a training run and its evaluation schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Dataset.
    pub data: ImageData,
    /// Training images (the first `n_train`).
    pub n_train: usize,
    /// Method.
    pub method: Method,
    /// Replicate `k` (its training seed is `Context::train_seed(k)`).
    pub replicate: u64,
    /// The training run (its target is `method.target(n_train)`).
    pub train: TrainConfig,
    /// Epochs at which the model is evaluated (at the closest step), besides the last step.
    pub epochs: Vec<u64>,
    /// Generated images per evaluation.
    pub samples: usize,
    /// Euler steps per sample.
    pub euler_steps: usize,
}

/// The training budget of one dataset at a profile, decided before any run.
pub struct Budget {
    /// Replicates (training seeds) of each method.
    pub replicates: u64,
    data: ImageData,
    methods: Vec<Method>,
    steps: u64,
    epochs: Vec<u64>,
}

/// Paper's Table 1 epochs (MNIST), also the early part of the figure's schedule.
pub const TABLE1_EPOCHS: [u64; 9] = [1, 2, 3, 4, 5, 10, 15, 20, 25];
/// Paper's Table 2 epochs (Fashion-MNIST).
pub const TABLE2_EPOCHS: [u64; 5] = [5, 10, 50, 100, 200];

/// Steps for `epochs` epochs of `n` images in batches of `b`, rounded up.
fn steps_for_epochs(epochs: u64, n: usize, b: usize) -> u64 {
    (epochs * n as u64).div_ceil(b as u64)
}

fn efm(ms: &[usize]) -> impl Iterator<Item = Method> + '_ {
    ms.iter().map(|&m| Method::Efm { m })
}

/// The budgets of a profile.
pub fn budgets(profile: Profile) -> Vec<Budget> {
    match profile {
        Profile::Smoke => vec![Budget {
            replicates: 1,
            data: ImageData::Digits,
            methods: vec![Method::Cfm, Method::Efm { m: 128 }],
            steps: 200,
            epochs: vec![1, 5, 10],
        }],
        Profile::Quick => vec![
            Budget {
                replicates: 3,
                data: ImageData::Digits,
                methods: [Method::Cfm, Method::OtCfm].into_iter().chain(efm(&[128, 256, 1000])).collect(),
                steps: 4000,
                epochs: vec![1, 2, 3, 4, 5, 10, 15, 20, 25, 50, 100, 200],
            },
            // Table 2's methods and Fig. 4's OT-CFM on Fashion-MNIST, 10 epochs (its first two
            // columns), 3 replicates, the fewest that C8 decides on ([`MIN_SEEDS`]): about 50 s of
            // one core per run (d = 784, 4688 steps).
            Budget {
                replicates: 3,
                data: ImageData::FashionMnist,
                methods: [Method::Cfm, Method::OtCfm].into_iter().chain(efm(&[128, 256, 512])).collect(),
                steps: steps_for_epochs(10, 60_000, 128),
                epochs: vec![1, 2, 5, 10],
            },
        ],
        Profile::Paper => vec![
            Budget {
                replicates: 1,
                data: ImageData::Cifar10,
                methods: [Method::Cfm, Method::OtCfm].into_iter().chain(efm(&[128, 256, 1000])).collect(),
                steps: 500_000,
                epochs: vec![1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
            },
            Budget {
                replicates: 1,
                data: ImageData::Mnist,
                methods: [Method::Cfm].into_iter().chain(efm(&[128, 256, 1024])).collect(),
                steps: steps_for_epochs(25, 60_000, 128),
                epochs: TABLE1_EPOCHS.to_vec(),
            },
            Budget {
                replicates: 1,
                data: ImageData::FashionMnist,
                methods: [Method::Cfm].into_iter().chain(efm(&[128, 256, 512])).collect(),
                steps: steps_for_epochs(200, 60_000, 128),
                epochs: TABLE2_EPOCHS.to_vec(),
            },
        ],
    }
}

/// The velocity network: [`learned::network`] on the CPU profiles and for CIFAR-10 (the
/// paper's 128-channel U-Net); for the 28x28 sets of the paper profile (Tables 1-2) the U-Net of
/// torchcfm's MNIST example that the paper's App. C names ([`UNetConfig::mnist`]).
pub fn network(profile: Profile, data: ImageData) -> ModelConfig {
    match (profile, data) {
        (Profile::Paper, ImageData::Mnist | ImageData::FashionMnist) => {
            ModelConfig::UNet(UNetConfig::mnist())
        }
        _ => learned::network(profile, None),
    }
}

/// The training recipe of a run: the profile's ([`learned::train_config`]), except for Tables
/// 1-2 at the paper profile, which the paper trains with "Adam with all default parameters"
/// (App. C): lr `1e-3`, no warm-up, no clipping, no weight average.
fn recipe(profile: Profile, data: ImageData, method: Method, steps: u64, seed: u64, n: usize) -> TrainConfig {
    let mut c = learned::train_config(profile, network(profile, data), method.target(n), steps, seed, n);
    if profile == Profile::Paper && matches!(data, ImageData::Mnist | ImageData::FashionMnist) {
        c.adam = AdamConfig::plain(1e-3);
        c.ema = EmaConfig { decay: 0.0, start: 1 };
    }
    c
}

/// Samples per evaluation and Euler steps per sample at a profile.
fn sampling(profile: Profile) -> (usize, usize) {
    match profile {
        Profile::Smoke => (200, 100),
        Profile::Quick => (1000, 100),
        Profile::Paper => (10_000, 100),
    }
}

/// Every training run of the figure at `ctx.profile`, in cell order (dataset, method, replicate).
pub fn runs(ctx: &Context) -> Vec<RunConfig> {
    let profile = ctx.profile;
    let (samples, euler_steps) = sampling(profile);
    let mut out = Vec::new();
    for b in budgets(profile) {
        let n_train = b.data.sizes().0;
        for &method in &b.methods {
            for replicate in 0..b.replicates {
                let seed = ctx.train_seed(replicate);
                let train = recipe(profile, b.data, method, b.steps, seed, n_train);
                out.push(RunConfig {
                    data: b.data,
                    n_train,
                    method,
                    replicate,
                    train,
                    epochs: b.epochs.clone(),
                    samples,
                    euler_steps,
                });
            }
        }
    }
    out
}

/// The evaluation points `(epoch, step)`: the step closest to each scheduled epoch (at least
/// 1, at most the last step), then the last step itself, labelled `steps B / n`.
pub fn schedule(cfg: &RunConfig) -> Vec<(f64, u64)> {
    let per_epoch = cfg.n_train as f64 / cfg.train.batch_size as f64;
    let mut out: Vec<(f64, u64)> = Vec::new();
    for &e in &cfg.epochs {
        let step = ((e as f64 * per_epoch).round() as u64).max(1);
        if step <= cfg.train.steps && out.last().is_none_or(|p| p.1 < step) {
            out.push((e as f64, step));
        }
    }
    if out.last().is_none_or(|p| p.1 < cfg.train.steps) {
        out.push((cfg.train.steps as f64 / per_epoch, cfg.train.steps));
    }
    out
}

/// Estimated seconds of a run on one core (MLP; GPU-scale guess for the U-Net).
fn cost(cfg: &RunConfig) -> f64 {
    let image = cfg.data.shape();
    let evals = schedule(cfg).len() as f64
        * learned::sampling_seconds(&cfg.train.model, image.dim(), Some(image), cfg.samples, cfg.euler_steps);
    cfg.train.steps as f64 * learned::step_seconds(&cfg.train, image.dim(), Some(image)) + evals + 2.0
}

/// The cell of a run.
pub fn cell(cfg: &RunConfig) -> CellSpec {
    let label = format!("{} {} seed={}", cfg.data.name(), cfg.method.label(), cfg.replicate);
    CellSpec::new(label, cfg, cost(cfg), 2 + METRICS.len() * schedule(cfg).len()).reading([cfg.data])
}

/// Trains one run step by step, evaluating at its schedule; the rows of the table.
pub fn run(ctx: &Context, cfg: &RunConfig, bar: &ProgressBar) -> Result<DataFrame> {
    let set = training_set(ctx, cfg.data)?;
    let points = set.subset(cfg.n_train)?;
    let identity = identity(cfg.data, cfg.n_train);
    let eval = Evaluator::new(ctx, &set)?;
    let noise = ctx.stream(ID).derive("noise").derive_index(cfg.replicate);
    let mut rows = CellRows::new(cfg);
    rows.push(0.0, 0, CLASSIFIER_ACCURACY, eval.accuracy());
    rows.push(0.0, 0, WARMUP_STEPS, cfg.train.adam.warmup as f64);
    let plan = schedule(cfg);
    let steps: Vec<u64> = plan.iter().map(|p| p.1).collect();
    let guard = learned::Guard::of(&points);
    let evaluate = |step: u64, model: &cfm_nn::TrainedModel| -> Result<learned::Distances> {
        let samples = learned::sample(&model.field()?, cfg.samples, cfg.euler_steps, &noise)?;
        guard.samples(&samples, step)?;
        eval.distances(&samples)
    };
    learned::train_evaluated(
        ctx,
        &cfg.train,
        &points,
        Some(set.shape),
        &identity,
        &steps,
        bar,
        |step, model| {
            let epoch = plan.iter().find(|p| p.1 == step).expect("a scheduled step").0;
            rows.distances(epoch, step, &evaluate(step, model)?);
            Ok(())
        },
    )?;
    rows.finish()
}

/// The labelled images of `data`, checked to hold the whole training set.
fn training_set(ctx: &Context, data: ImageData) -> Result<LabelledImages> {
    let set = LabelledImages::load(ctx, data)?;
    let n = data.sizes().0;
    if set.train.rows() != n {
        return Err(Error::invalid(format!(
            "{}: expected {n} training images, found {}",
            data.name(),
            set.train.rows()
        )));
    }
    Ok(set)
}

/// The rows of one cell: its keys (dataset, method, references, seed) on every row.
struct CellRows {
    table: TableBuilder,
    data: &'static str,
    method: String,
    m: usize,
    seed: u64,
}

impl CellRows {
    fn new(cfg: &RunConfig) -> Self {
        let m = match cfg.train.target {
            Target::Efm { m, .. } => m,
            Target::Cfm | Target::OtCfm => 1,
        };
        let (data, method, seed) = (cfg.data.name(), cfg.method.label(), cfg.replicate);
        Self { table: TableBuilder::new(&COLUMNS), data, method, m, seed }
    }

    /// A row of `metric` at `(epoch, step)`.
    fn push(&mut self, epoch: f64, step: u64, metric: &str, value: f64) {
        self.table.push(row![self.data, self.method.clone(), self.m, self.seed, epoch, step, metric, value]);
    }

    /// The four Fréchet distances of one evaluation, in the order of [`METRICS`].
    fn distances(&mut self, epoch: f64, step: u64, d: &learned::Distances) {
        for (metric, v) in
            METRICS.into_iter().zip([d.feature_train, d.feature_test, d.pixel_train, d.pixel_test])
        {
            self.push(epoch, step, metric, v);
        }
    }

    fn finish(self) -> Result<DataFrame> {
        self.table.finish()
    }
}

struct Fig4Plan {
    profile: Profile,
}

impl Plan for Fig4Plan {
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(runs(ctx).iter().map(cell).collect())
    }
    fn caption(&self) -> String {
        let (samples, euler) = sampling(self.profile);
        let per: Vec<String> = budgets(self.profile)
            .iter()
            .map(|b| {
                let n = b.data.sizes().0;
                let batch = TrainConfig::paper_batch(n);
                let methods: Vec<String> = b.methods.iter().map(|m| m.label()).collect();
                format!(
                    "{} ({n} training images; {}; {} steps of {batch}, {:.0} epochs; {}; {} replicate(s))",
                    b.data.name(),
                    learned::describe(&network(self.profile, b.data)),
                    b.steps,
                    b.steps as f64 * batch as f64 / n as f64,
                    methods.join(", "),
                    b.replicates
                )
            })
            .collect();
        format!(
            "Fréchet distance of generated images to the training and to the test images, in the feature \
             space of a classifier trained here (stands in for Inception and DINOv2) and in pixel space, \
             against training epochs (one epoch = n / 128 steps), for CFM, OT-CFM and EFM-M (the official \
             code's references: the minibatch's x1 plus M extra uniform training points, B + M in all; the \
             table's m column is the M used). Runs: {}; {samples} samples per evaluation, Euler with {euler} \
             steps from the EMA weights. Same budget for every method.",
            per.join("; ")
        )
    }
    fn settings(&self) -> Vec<Setting> {
        // The network and recipe of the dataset of highest dimension; what differs between the
        // datasets (steps, seeds, references) per dataset.
        let all = budgets(self.profile);
        let Some(b) = all.iter().max_by_key(|b| b.data.shape().dim()) else { return Vec::new() };
        let shape = b.data.shape();
        let n = b.data.sizes().0;
        let (samples, euler) = sampling(self.profile);
        let train = recipe(self.profile, b.data, Method::Cfm, b.steps, 0, n);
        let per = |f: &dyn Fn(&Budget) -> String| -> String {
            all.iter().map(|b| format!("{}: {}", b.data.name(), f(b))).collect::<Vec<_>>().join("; ")
        };
        let seeds = per(&|b| format!("{} replicates of the root seed", b.replicates));
        let mut rows = learned::settings(&PAPER, &train, shape.dim(), Some(shape), samples, euler, &seeds);
        rows.set(Knob::Steps, per(&|b| b.steps.to_string()));
        let refs = per(&|b| {
            let n = b.data.sizes().0;
            let batch = TrainConfig::paper_batch(n);
            let ms: Vec<String> = b
                .methods
                .iter()
                .filter_map(|m| match m {
                    Method::Efm { m } => Some(format!("{:.3}", (batch + m) as f64 / n as f64)),
                    _ => None,
                })
                .collect();
            ms.join(", ")
        });
        let mut rows = rows.rows();
        rows.push(Setting::new(
            "EFM references / n, (B + M) / n",
            "0.023 at most (CIFAR-10, EFM-1000: (128 + 1000) / 50000)",
            refs,
        ));
        rows
    }
}

/// The paper's setting of Fig. 4.
const PAPER: learned::PaperSetup = learned::PaperSetup {
    network: "U-Net, 128 channels (34M parameters)",
    steps: "500000",
    samples: "50000 (train) / 10000 (test)",
    solver: "Euler, 10 points (online FID)",
    seeds: "1",
};

/// The figure.
pub struct Fig4;

impl Figure for Fig4 {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Stochastic versus exact targets: Fréchet distance during training (CFM, OT-CFM, EFM)"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Fig. 4: FID during training for CFM, OT-CFM, EFM-128, EFM-256 and EFM-1000 on CIFAR-10 and CelebA-64, \
             in four panels (Inception and DINOv2 features, against the training and the test set): EFM is never \
             worse than CFM or OT-CFM and improves with M, with no change beyond M ~ 1000.",
        )
    }
    fn revision(&self) -> u32 {
        REVISION
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn trains(&self) -> bool {
        true
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(Fig4Plan { profile })
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        run(ctx, &cell.config()?, bar)
    }
    fn claims(&self) -> Vec<Claim> {
        let paper = "Fig. 4 (CIFAR-10, CelebA-64: EFM-128/256/1000 below CFM and OT-CFM in FID, Inception and \
                     DINOv2, train and test); Tables 1-2 (MNIST, Fashion-MNIST: EFM below CFM at every epoch)";
        let regime = "At M/n of a few per cent the EFM target is close to the noisy CFM target at early times and \
                      to u* late, so differences between the methods are small next to the spread over seeds; \
                      a comparison is decided only where both methods ran at least 3 training seeds.";
        vec![
            Claim {
                id: "C8a",
                short: "EFM is never worse than CFM or OT-CFM.",
                figure: ID,
                statement: "EFM is never worse than CFM or OT-CFM (train and test, all embeddings).",
                paper,
                on: &[],
                reads: &[],
                regime,
                check: c8a,
            },
            Claim {
                id: "C8b",
                short: "EFM improves as M grows.",
                figure: ID,
                statement: "EFM improves as M grows (beyond M ~ 1000 no further change: not tested).",
                paper,
                on: &[],
                reads: &[],
                regime,
                check: c8b,
            },
        ]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut headers = vec!["final Fréchet distance (mean ± sd over seeds)"];
        headers.extend(["features, train", "features, test", "pixels, train", "pixels, test", "epoch"]);
        let mut k = KeyTable::new("", &headers);
        for data in &view.datasets {
            for runs in &data.methods {
                let mut row = vec![format!("{}, {}", data.data.name(), runs.method.label())];
                for panel in Panel::ALL {
                    let last = runs.last(panel);
                    row.push(if last.seeds > 1 {
                        format!("{} ± {}", num(last.mean, 3), num(last.sd, 2))
                    } else {
                        num(last.mean, 3)
                    });
                }
                row.push(num(data.last_epoch(), 3));
                k.rows.push(row);
            }
        }
        Ok(vec![k])
    }
}

/// The fewest training seeds of a method whose spread a C8 comparison trusts: with fewer, the
/// seed-to-seed spread is unknown and the comparison is INCONCLUSIVE, never decided on a point
/// estimate.
pub const MIN_SEEDS: usize = 3;

/// Per dataset and panel (`"<dataset> <metric>"`), each method's [`Final`].
type Finals = (String, Vec<Final>);

/// The final-step statistics of every panel of the table; an error where a panel has no EFM.
fn finals(view: &View) -> Result<Vec<Finals>> {
    let mut out = Vec::new();
    for data in &view.datasets {
        for panel in Panel::ALL {
            let name = format!("{} {}", data.data.name(), panel.metric());
            let stats: Vec<Final> =
                data.methods.iter().map(|r| r.last(panel)).filter(|f| f.seeds > 0).collect();
            if !stats.iter().any(|s| s.method.is_efm()) {
                return Err(Error::invalid(format!("{name}: no EFM rows")));
            }
            out.push((name, stats));
        }
    }
    Ok(out)
}

/// How a lower-is-better comparison of `a` against `b` came out, with `spread = max(sd_a,
/// sd_b)`: `a` better or equal, worse inside the spread (or the spread unknown: fewer than
/// [`MIN_SEEDS`] seeds on either side), or worse beyond it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    NotWorse,
    InsideSpread,
    Worse,
}

/// Whether both sides have the seeds to know their spread.
fn spread_known(a: &Final, b: &Final) -> bool {
    a.seeds >= MIN_SEEDS && b.seeds >= MIN_SEEDS
}

fn compare(a: &Final, b: &Final) -> Comparison {
    let gap = a.mean - b.mean;
    if !spread_known(a, b) {
        Comparison::InsideSpread
    } else if gap <= 0.0 {
        Comparison::NotWorse
    } else if gap <= a.sd.max(b.sd) {
        Comparison::InsideSpread
    } else {
        Comparison::Worse
    }
}

/// Why an undecided comparison is undecided (for the verdict's reason).
fn undecided(panel: &str, a: &Final, b: &Final) -> String {
    let gap = a.mean - b.mean;
    if spread_known(a, b) {
        format!("{panel} {} - {} = {gap:+.3}", a.method.label(), b.method.label())
    } else {
        format!(
            "{panel} {} - {} = {gap:+.3} with {} and {} seed(s), spread unknown",
            a.method.label(),
            b.method.label(),
            a.seeds,
            b.seeds
        )
    }
}

/// The panels' means as text.
fn describe_panels(panels: &[Finals]) -> String {
    let lines: Vec<String> = panels
        .iter()
        .map(|(panel, stats)| {
            let means: Vec<String> = stats
                .iter()
                .map(|f| format!("{} {:.3}±{:.3} ({} seeds)", f.method.label(), f.mean, f.sd, f.seeds))
                .collect();
            format!("{panel}: {}", means.join(", "))
        })
        .collect();
    format!("final-step Fréchet distance, mean±sd over seeds: {}", lines.join("; "))
}

/// The outcomes of a claim's comparisons, counted.
#[derive(Default)]
struct Tally {
    /// Comparisons the claim holds on.
    holds: usize,
    /// Undecided (inside the spread, or the spread unknown).
    inside: usize,
    /// Against the claim beyond the spread.
    worse: usize,
}

impl Tally {
    fn add(&mut self, c: Comparison) {
        match c {
            Comparison::NotWorse => self.holds += 1,
            Comparison::InsideSpread => self.inside += 1,
            Comparison::Worse => self.worse += 1,
        }
    }

    fn worst(&self) -> Comparison {
        if self.worse > 0 {
            Comparison::Worse
        } else if self.inside > 0 {
            Comparison::InsideSpread
        } else {
            Comparison::NotWorse
        }
    }

    /// The headline: how many comparisons went which way, and the fewest seeds of a method.
    fn headline(&self, what: &str, panels: &[Finals]) -> String {
        let seeds = panels.iter().flat_map(|(_, s)| s.iter().map(|f| f.seeds)).min().unwrap_or(0);
        format!(
            "{what}: {} hold, {} against beyond the spread (needs 0), {} undecided; fewest seeds of a method {seeds} \
             (needs >= {MIN_SEEDS})",
            self.holds, self.worse, self.inside
        )
    }
}

/// The verdict of the worst comparison: FAIL when one is worse beyond the spread, INCONCLUSIVE
/// when the worst is inside it, PASS otherwise.
fn decide(
    value: String,
    headline: String,
    threshold: &str,
    worst: Comparison,
    inside: Vec<String>,
) -> Measured {
    let mut m = Measured::new(value, headline, threshold, worst != Comparison::Worse);
    if worst == Comparison::InsideSpread {
        m.decision = Decision::Inconclusive(format!(
            "the comparisons cannot tell (inside the spread over seeds, fewer than {MIN_SEEDS} seeds, or a single M): {}",
            inside.join(", ")
        ));
    }
    m
}

/// C8a at the last step of every run: in every panel, no EFM-M is worse than CFM or OT-CFM
/// (where trained) by more than the spread of the comparison (the larger of the two standard
/// deviations over seeds); worse inside the spread, or any comparison with fewer than
/// [`MIN_SEEDS`] seeds on a side, is INCONCLUSIVE.
fn c8a(e: &Evidence, _: &str) -> Result<Measured> {
    let panels = finals(&View::read(&e.table)?)?;
    let mut tally = Tally::default();
    let mut inside = Vec::new();
    for (panel, stats) in &panels {
        for base in stats.iter().filter(|s| !s.method.is_efm()) {
            for efm in stats.iter().filter(|s| s.method.is_efm()) {
                let c = compare(efm, base);
                if c == Comparison::InsideSpread {
                    inside.push(undecided(panel, efm, base));
                }
                tally.add(c);
            }
        }
    }
    Ok(decide(
        describe_panels(&panels),
        tally.headline("EFM-M against CFM and OT-CFM, every panel", &panels),
        "in every panel, every EFM-M mean <= the CFM and OT-CFM means (FAIL when above by more than the \
         larger of the two standard deviations over seeds, INCONCLUSIVE when above by less; a comparison \
         with fewer than 3 seeds on a side has no known spread and is INCONCLUSIVE)",
        tally.worst(),
        inside,
    ))
}

/// C8b at the last step of every run: in every panel, the EFM with the largest M is below the
/// one with the smallest M; above it by more than the spread is FAIL, within the spread
/// (either side), or with fewer than [`MIN_SEEDS`] seeds on a side, INCONCLUSIVE. The paper's "no further change beyond M ~ 1000" is not tested:
/// no run uses more than 1024 references.
fn c8b(e: &Evidence, _: &str) -> Result<Measured> {
    let panels = finals(&View::read(&e.table)?)?;
    let mut tally = Tally::default();
    let mut inside = Vec::new();
    for (panel, stats) in &panels {
        // EFM-M by M (the methods' order).
        let efms: Vec<&Final> = stats.iter().filter(|s| s.method.is_efm()).collect();
        let smallest = efms.iter().min_by_key(|e| e.method).expect("panels have EFM rows");
        let largest = efms.iter().max_by_key(|e| e.method).expect("panels have EFM rows");
        if largest.method == smallest.method {
            inside.push(format!("{panel}: one M only ({})", largest.method.label()));
            tally.add(Comparison::InsideSpread);
            continue;
        }
        let (gap, spread) = (largest.mean - smallest.mean, largest.sd.max(smallest.sd));
        // "Improves" needs a gain beyond the spread: a smaller one cannot be told from none.
        let c = if !spread_known(largest, smallest) {
            Comparison::InsideSpread
        } else if gap < -spread {
            Comparison::NotWorse
        } else if gap > spread {
            Comparison::Worse
        } else {
            Comparison::InsideSpread
        };
        if c == Comparison::InsideSpread {
            inside.push(undecided(panel, largest, smallest));
        }
        tally.add(c);
    }
    Ok(decide(
        describe_panels(&panels),
        tally.headline("largest M against smallest M, every panel", &panels),
        "in every panel, the largest M's mean below the smallest M's by more than the larger of their \
         standard deviations over seeds (FAIL when above by more than it, INCONCLUSIVE in between, or with \
         fewer than 3 seeds on a side). Not tested: 'no further change beyond M ~ 1000' \
         (no run uses more than 1024 references)",
        tally.worst(),
        inside,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_the_closest_steps_then_the_last() {
        let quick = runs(&Context::new(Profile::Quick, "unused"));
        assert_eq!(quick.len(), 30);
        let s = schedule(&quick[0]);
        let steps: Vec<u64> = s.iter().map(|p| p.1).collect();
        assert_eq!(steps, vec![12, 23, 35, 47, 59, 117, 176, 234, 293, 586, 1172, 2344, 4000]);
        assert!((s.last().unwrap().0 - 4000.0 * 128.0 / 1500.0).abs() < 1e-12);
        let smoke = schedule(&runs(&Context::new(Profile::Smoke, "unused"))[0]);
        assert_eq!(smoke.iter().map(|p| p.1).collect::<Vec<_>>(), vec![12, 59, 117, 200]);
        assert_eq!(steps_for_epochs(25, 60_000, 128), 11_719);
    }

    #[test]
    fn runs_follow_the_profile_recipe_and_seeds_follow_the_root() {
        let ctx = Context::new(Profile::Quick, "unused");
        // The digits' CFM run, replicate 0: the quick profile's recipe with the root's first
        // training seed.
        let cfm = runs(&ctx).into_iter().find(|r| r.method == Method::Cfm && r.replicate == 0);
        let recipe = learned::train_config(
            Profile::Quick,
            learned::network(Profile::Quick, None),
            Target::Cfm,
            4000,
            ctx.train_seed(0),
            1500,
        );
        assert_eq!(cfm.unwrap().train, recipe);
        let other = Context { seed: 7, ..ctx.clone() };
        let seeds = |c: &Context| runs(c).iter().map(|r| r.train.seed).collect::<Vec<_>>();
        assert_ne!(seeds(&ctx), seeds(&other));
        assert_eq!(seeds(&ctx), seeds(&ctx.clone()));
    }

    #[test]
    fn m_is_capped_at_the_training_set() {
        assert_eq!(Method::Efm { m: 1000 }.target(500), Target::Efm { m: 500, refs: RefMode::Official });
        assert_eq!(Method::parse("EFM-1024"), Some(Method::Efm { m: 1024 }));
    }

    #[test]
    fn methods_parse_their_labels_and_sort_in_the_papers_order() {
        let mut methods: Vec<Method> =
            ["EFM-1024", "EFM-64", "OT-CFM", "CFM"].iter().map(|l| Method::parse(l).unwrap()).collect();
        methods.sort();
        let labels: Vec<String> = methods.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["CFM", "OT-CFM", "EFM-64", "EFM-1024"]);
        assert_eq!(Method::parse("EFM-x"), None);
        assert_eq!(Method::parse("DDPM"), None);
    }

    /// A planted run: method, references, seed, and its evaluations `(epoch, step, value)`.
    type Planted = (&'static str, usize, u64, &'static [(f64, u64, f64)]);

    /// Digits: EFM-128 (two seeds, listed first) and CFM (one seed), evaluated at epochs 1 and 2
    /// (seed 1 of EFM-128 also at epoch 3, its last step), with the classifier's accuracy.
    fn planted() -> DataFrame {
        let mut t = TableBuilder::new(&COLUMNS);
        let runs: [Planted; 3] = [
            ("EFM-128", 128, 0, &[(1.0, 12, 10.0), (2.0, 24, 4.0)]),
            ("EFM-128", 128, 1, &[(1.0, 12, 12.0), (2.0, 24, f64::NAN), (3.0, 36, 8.0)]),
            ("CFM", 1, 0, &[(1.0, 12, 20.0), (2.0, 24, 9.0)]),
        ];
        for (method, m, seed, evals) in runs {
            t.push(row!["digits", method, m, seed, 0.0, 0u64, CLASSIFIER_ACCURACY, 0.97]);
            for &(epoch, step, v) in evals {
                for metric in METRICS {
                    t.push(row!["digits", method, m, seed, epoch, step, metric, v]);
                }
            }
        }
        t.finish().unwrap()
    }

    #[test]
    fn the_view_gives_each_runs_last_value_and_the_spread_over_seeds() {
        let view = View::read(&planted()).unwrap();
        let [data] = &view.datasets[..] else { panic!("one dataset") };
        assert_eq!((data.data, data.accuracy, data.warmup), (ImageData::Digits, Some(0.97), None));
        let methods: Vec<Method> = data.methods.iter().map(|r| r.method).collect();
        assert_eq!(methods, vec![Method::Cfm, Method::Efm { m: 128 }]);
        let (cfm, efm) = (&data.methods[0], &data.methods[1]);
        assert_eq!((cfm.seeds(), efm.seeds(), efm.m), (1, 2, 128.0));
        assert_eq!(data.last_epoch(), 3.0);
        // Last steps: 4 (seed 0, step 24) and 8 (seed 1, step 36).
        let last = efm.last(Panel::PixelTest);
        assert_eq!((last.mean, last.seeds), (6.0, 2));
        assert!((last.sd - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(cfm.last(Panel::FeatureTest), Final { method: Method::Cfm, mean: 9.0, sd: 0.0, seeds: 1 });
        // Per epoch, over the finite values: epoch 2 has seed 0's only.
        let spread = efm.over_seeds(Panel::FeatureTrain);
        let rows: Vec<(f64, f64, f64, f64)> =
            spread.iter().map(|s| (s.epoch, s.mean, s.low, s.high)).collect();
        assert_eq!(rows, vec![(1.0, 11.0, 10.0, 12.0), (2.0, 4.0, 4.0, 4.0), (3.0, 8.0, 8.0, 8.0)]);
        let at: Vec<f64> = efm.at(Panel::FeatureTest, 1.0).iter().map(|e| e.value).collect();
        assert_eq!(at, vec![10.0, 12.0]);
    }

    #[test]
    fn the_view_names_unknown_methods_and_missing_distances() {
        let err = View::read(&planted().drop(COLUMNS[4]).unwrap()).unwrap_err().to_string();
        assert!(err.contains(ID) && err.contains("'epoch'"), "{err}");
        let mut t = TableBuilder::new(&COLUMNS);
        t.push(row!["digits", "DDPM", 1usize, 0u64, 1.0, 12u64, FEATURE_TRAIN, 1.0]);
        let err = View::read(&t.finish().unwrap()).unwrap_err().to_string();
        assert!(err.contains("unknown method 'DDPM' (expected CFM, OT-CFM or EFM-<M>)"), "{err}");
        let mut t = TableBuilder::new(&COLUMNS);
        for metric in [FEATURE_TRAIN, FEATURE_TEST, PIXEL_TRAIN] {
            t.push(row!["digits", "CFM", 1usize, 0u64, 1.0, 12u64, metric, 1.0]);
        }
        let err = View::read(&t.finish().unwrap()).unwrap_err().to_string();
        assert!(err.contains("dataset 'digits' has no 'pixel_test' rows"), "{err}");
    }
}
