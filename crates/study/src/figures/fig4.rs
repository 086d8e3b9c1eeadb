//! Fig. 4: stochastic versus exact targets during training. Networks trained with the same
//! budget on the same data by CFM (Algorithm 1, target `x1 - x0`), OT-CFM (the same target after
//! an exact optimal-transport pairing of each minibatch) and EFM-M (Algorithm 2, the Monte-Carlo
//! estimate `u*_M` of the closed form, eqs. 7-8, from `M` references with `b_1 = x1`, the
//! "paper" reference mode), evaluated by Fréchet distance as training goes. Claim C8: EFM is
//! never worse than CFM or OT-CFM and improves as `M` grows.
//!
//! The paper's four panels (Inception / DINOv2 embedding x train / test reference set) become
//! the Fréchet distance in the feature space of a classifier trained here and in pixel space,
//! each to the training and to the test images:
//!
//! ```text
//! FD = ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g^{1/2} S_r S_g^{1/2})^{1/2})
//! ```
//!
//! One cell per (dataset, method, seed): [`Trainer`] steps one at a time, and at the step
//! closest to each evaluation epoch (`step(e) = round(e n / B)`, one epoch being `n / B`
//! steps) and at the last step the EMA weights draw `samples` images with Euler's method from
//! noise that depends on the seed only (common random numbers across methods and evaluations).
//! The run is the one [`cfm_nn::train`] would make for the same [`TrainConfig`] (same trainer,
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
//! | `seed` | training seed (initialisation, minibatches); the sampling noise is drawn per seed |
//! | `epoch` | the scheduled evaluation epoch; for the last step, `steps B / n` |
//! | `step` | optimiser steps done when evaluated |
//! | `metric` | `feature_train`, `feature_test`, `pixel_train`, `pixel_test` (Fréchet distances), or `classifier_accuracy` (test accuracy of the feature classifier, one row per cell at `epoch = 0`, `step = 0`) |
//! | `value` | the number |

use cfm_core::datasets::ImageShape;
use cfm_core::efm::RefMode;
use cfm_nn::{ModelConfig, Target, TrainConfig, TrainSet, Trainer, UNetConfig};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::learned::{self, Evaluator, ImageData, ImageSet};
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, distinct, f64s, filter_eq, strs};
use crate::{Context, Error, Profile, Result, row};

/// Bumped when a cell's computation changes. `table1` shares these cells (same cache
/// namespace), so it reports the same revision.
pub const REVISION: u32 = 1;

/// The four Fréchet distances, in the order of the paper's panels.
pub const METRICS: [&str; 4] = ["feature_train", "feature_test", "pixel_train", "pixel_test"];

/// A training method of the figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The regression target on `n` training points (EFM with `min(M, n)` paper-mode references).
    pub fn target(self, n: usize) -> Target {
        match self {
            Method::Cfm => Target::Cfm,
            Method::OtCfm => Target::OtCfm,
            Method::Efm { m } => Target::Efm { m: m.min(n), refs: RefMode::Paper },
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
struct Budget {
    data: ImageData,
    methods: Vec<Method>,
    steps: u64,
    epochs: Vec<u64>,
}

/// Paper's Table 1 epochs (MNIST), also the early part of the figure's schedule.
pub const TABLE1_EPOCHS: [u64; 9] = [1, 2, 3, 4, 5, 10, 15, 20, 25];
/// Paper's Table 2 epochs (Fashion-MNIST).
pub const TABLE2_EPOCHS: [u64; 5] = [5, 10, 50, 100, 200];

/// Training images and image shape of each dataset (checked against the loaded data).
pub fn shape(data: ImageData) -> (usize, ImageShape) {
    match data {
        ImageData::Digits => (1500, ImageShape::new(1, 8, 8)),
        ImageData::Mnist | ImageData::FashionMnist => (60_000, ImageShape::new(1, 28, 28)),
        ImageData::Cifar10 => (50_000, ImageShape::new(3, 32, 32)),
    }
}

/// Steps for `epochs` epochs of `n` images in batches of `b`, rounded up.
fn steps_for_epochs(epochs: u64, n: usize, b: usize) -> u64 {
    (epochs * n as u64).div_ceil(b as u64)
}

fn efm(ms: &[usize]) -> impl Iterator<Item = Method> + '_ {
    ms.iter().map(|&m| Method::Efm { m })
}

fn budgets(profile: Profile) -> Vec<Budget> {
    match profile {
        Profile::Smoke => vec![Budget {
            data: ImageData::Digits,
            methods: vec![Method::Cfm, Method::Efm { m: 128 }],
            steps: 200,
            epochs: vec![1, 5, 10],
        }],
        Profile::Quick => vec![Budget {
            data: ImageData::Digits,
            methods: [Method::Cfm, Method::OtCfm].into_iter().chain(efm(&[128, 256, 1000])).collect(),
            steps: 4000,
            epochs: vec![1, 2, 3, 4, 5, 10, 15, 20, 25, 50, 100, 200],
        }],
        Profile::Paper => vec![
            Budget {
                data: ImageData::Cifar10,
                methods: [Method::Cfm, Method::OtCfm].into_iter().chain(efm(&[128, 256, 1000])).collect(),
                steps: 500_000,
                epochs: vec![1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
            },
            Budget {
                data: ImageData::Mnist,
                methods: [Method::Cfm].into_iter().chain(efm(&[128, 256, 1024])).collect(),
                steps: steps_for_epochs(25, 60_000, 128),
                epochs: TABLE1_EPOCHS.to_vec(),
            },
            Budget {
                data: ImageData::FashionMnist,
                methods: [Method::Cfm].into_iter().chain(efm(&[128, 256, 512])).collect(),
                steps: steps_for_epochs(200, 60_000, 128),
                epochs: TABLE2_EPOCHS.to_vec(),
            },
        ],
    }
}

/// The velocity network: [`learned::network`] on the CPU profiles and for CIFAR-10; for the
/// 28x28 sets of the paper profile (sides not multiples of 8, which the CIFAR-10 U-Net's three
/// halvings need) torchcfm's MNIST U-Net: 32 channels, multipliers `[1, 2, 2]`, 2 residual
/// blocks, attention at 28x28 (torchcfm's `attention_resolutions = "16"` at 28 pixels) and in
/// the middle, 32 channels per head, dropout 0.1.
pub fn network(profile: Profile, data: ImageData) -> ModelConfig {
    match (profile, data) {
        (Profile::Paper, ImageData::Mnist | ImageData::FashionMnist) => ModelConfig::UNet(UNetConfig {
            channels: 32,
            channel_mult: vec![1, 2, 2],
            res_blocks: 2,
            attention_resolutions: vec![28],
            head_channels: 32,
            dropout: 0.1,
            groups: 32,
        }),
        _ => learned::network(profile, None),
    }
}

fn seeds(profile: Profile) -> Vec<u64> {
    match profile {
        Profile::Quick => vec![0, 1, 2],
        Profile::Smoke | Profile::Paper => vec![0],
    }
}

/// Every training run of the figure at `profile`, in cell order (dataset, method, seed).
pub fn runs(profile: Profile) -> Vec<RunConfig> {
    let (samples, euler_steps) = match profile {
        Profile::Smoke => (200, 100),
        Profile::Quick => (1000, 100),
        Profile::Paper => (10_000, 100),
    };
    let mut out = Vec::new();
    for b in budgets(profile) {
        let (n_train, _) = shape(b.data);
        for &method in &b.methods {
            for &seed in &seeds(profile) {
                let model = network(profile, b.data);
                let train =
                    learned::train_config(profile, model, method.target(n_train), b.steps, seed, n_train);
                out.push(RunConfig {
                    data: b.data,
                    n_train,
                    method,
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

/// Estimated seconds of a run on 2 CPU cores (MLP; GPU-scale guess for the U-Net).
fn cost(cfg: &RunConfig) -> f64 {
    let (_, image) = shape(cfg.data);
    let d = image.dim() as f64;
    let params = cfg.train.model.param_count(image.dim(), Some(image)).unwrap_or(0) as f64;
    let b = cfg.train.batch_size as f64;
    let (step, forward) = match cfg.train.model {
        ModelConfig::Mlp(_) => (1e-3 + 6.0 * b * params / 5e10, 2.0 * params / 5e10),
        ModelConfig::UNet(_) => (0.3, 4e-4),
    };
    let target = match cfg.train.target {
        Target::Cfm => 0.0,
        Target::OtCfm => b * b * d * 2e-9 + 2e-3,
        Target::Efm { m, .. } => b * m as f64 * d * 2e-9,
    };
    let evals = schedule(cfg).len() as f64 * cfg.samples as f64 * cfg.euler_steps as f64 * forward;
    cfg.train.steps as f64 * (step + target) + evals + 1.0
}

/// The cell of a run.
pub fn cell(cfg: &RunConfig) -> CellSpec {
    let label = format!("{} {} seed={}", cfg.data.name(), cfg.method.label(), cfg.train.seed);
    CellSpec::new(label, cfg, cost(cfg))
}

/// Trains one run step by step, evaluating at its schedule; the rows of the table.
pub fn run(ctx: &Context, cfg: &RunConfig, bar: &ProgressBar) -> Result<DataFrame> {
    let set = ImageSet::load(ctx, cfg.data)?;
    let (n, image) = shape(cfg.data);
    if set.train.rows() != n || set.shape != image {
        return Err(Error::invalid(format!(
            "{}: expected {n} training images of {}x{}x{}, found {} of {}x{}x{}",
            cfg.data.name(),
            image.channels,
            image.height,
            image.width,
            set.train.rows(),
            set.shape.channels,
            set.shape.height,
            set.shape.width
        )));
    }
    let points = set.subset(cfg.n_train)?;
    let identity = learned::identity(cfg.data, cfg.n_train);
    let eval = Evaluator::new(ctx, &set)?;
    let noise = ctx.stream("fig4").derive("noise").derive_index(cfg.train.seed);
    let mut trainer = Trainer::new(&cfg.train, &points, Some(set.shape), &cfm_nn::default_device()?)?;
    let (name, method, seed) = (cfg.data.name(), cfg.method.label(), cfg.train.seed);
    let m = match cfg.train.target {
        Target::Efm { m, .. } => m,
        Target::Cfm | Target::OtCfm => 1,
    };
    let mut table =
        TableBuilder::new(&["dataset", "method", "m", "seed", "epoch", "step", "metric", "value"]);
    table.push(row![name, method.clone(), m, seed, 0.0, 0u64, "classifier_accuracy", eval.accuracy()]);
    bar.set_length(cfg.train.steps);
    let mut last = None;
    for (epoch, step) in schedule(cfg) {
        while trainer.steps_done() < step {
            trainer.step()?;
            bar.inc(1);
        }
        let model = trainer.model(&identity)?;
        let samples = learned::sample(&model.field()?, cfg.samples, cfg.euler_steps, &noise)?;
        let d = eval.distances(&samples)?;
        for (metric, v) in
            METRICS.into_iter().zip([d.feature_train, d.feature_test, d.pixel_train, d.pixel_test])
        {
            table.push(row![name, method.clone(), m, seed, epoch, step, metric, v]);
        }
        last = Some(model);
    }
    let model = last.expect("the schedule ends at the last step");
    let set = TrainSet { points: &points, image: Some(set.shape), identity: &identity };
    let dir = cfm_nn::model_dir(&ctx.cache_dir, &cfg.train, &set)?;
    if !cfm_nn::TrainedModel::exists(&dir) {
        model.save(&dir)?;
    }
    table.finish()
}

/// The figure.
pub struct Fig4;

impl Figure for Fig4 {
    fn id(&self) -> &'static str {
        "fig4"
    }
    fn title(&self) -> &'static str {
        "Stochastic versus exact targets: Fréchet distance during training (CFM, OT-CFM, EFM)"
    }
    fn paper(&self) -> &'static str {
        "Fig. 4: FID during training for CFM, OT-CFM, EFM-128, EFM-256 and EFM-1000 on CIFAR-10 and CelebA-64, in four panels (Inception and DINOv2 features, against the training and the test set): EFM is never worse than CFM or OT-CFM and improves with M, with no change beyond M ~ 1000."
    }
    fn caption(&self, profile: Profile) -> String {
        let setting = match profile {
            Profile::Smoke => {
                "8x8 digits (1500 training images), MLP 64x2, 200 steps of 128, seed 0, CFM and \
                               EFM-128 only; 200 samples per evaluation"
                    .to_string()
            }
            Profile::Quick => "8x8 digits (1500 training images, 297 test), MLP 256x3, 4000 steps of 128 \
                               (341 epochs), seeds 0, 1, 2; 1000 samples per evaluation"
                .to_string(),
            Profile::Paper => "CIFAR-10 (paper U-Net, 500k steps), MNIST (torchcfm MNIST U-Net, 25 epochs, \
                               EFM-1024) and Fashion-MNIST (200 epochs, EFM-512), seed 0; 10k samples per \
                               evaluation"
                .to_string(),
        };
        format!(
            "Fréchet distance of generated images to the training and to the test images, in the feature \
             space of a classifier trained here (stands in for Inception and DINOv2) and in pixel space, \
             against training epochs (one epoch = n / 128 steps), for CFM, OT-CFM and EFM-M (paper \
             references: b_1 = x1 plus M - 1 distinct uniform others; M capped at the training-set size, \
             the table's m column is the M used). {setting}. Same budget for every method; Euler sampling \
             with 100 steps from the EMA weights."
        )
    }
    fn revision(&self) -> u32 {
        REVISION
    }
    fn trains(&self) -> bool {
        true
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(runs(ctx.profile).iter().map(cell).collect())
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        run(ctx, &cell.config()?, bar)
    }
}

/// Mean and sample standard deviation (0 for a single value).
pub(crate) fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

/// The nominal `M` of an EFM label (`EFM-128` -> 128).
fn efm_m(method: &str) -> Option<usize> {
    method.strip_prefix("EFM-").and_then(|m| m.parse().ok())
}

/// C8 at the last step of every run: per dataset and panel, with `mean` and `sd` over seeds
/// and the spread of a comparison `max(sd_a, sd_b)`, every EFM-M satisfies
/// `mean(EFM-M) <= mean(X) + spread` for X = CFM and OT-CFM (where trained), and the largest M
/// satisfies `mean(EFM-max) <= mean(EFM-min) + spread`. The paper's "no further change beyond
/// M ~ 1000" is not tested: no run uses more than 1024 references.
fn c8(df: &DataFrame) -> Result<Measured> {
    let mut pass = true;
    let mut lines = Vec::new();
    for name in distinct(df, "dataset")? {
        let data = filter_eq(df, "dataset", &name)?;
        for metric in METRICS {
            let rows = filter_eq(&data, "metric", metric)?;
            let (methods, seeds, steps, values) =
                (strs(&rows, "method")?, strs(&rows, "seed")?, f64s(&rows, "step")?, f64s(&rows, "value")?);
            let mut stats: Vec<(String, f64, f64)> = Vec::new();
            for method in distinct(&rows, "method")? {
                let mut finals = Vec::new();
                for seed in distinct(&filter_eq(&rows, "method", &method)?, "seed")? {
                    let of_run = |i: &usize| methods[*i] == method && seeds[*i] == seed;
                    let last =
                        (0..values.len()).filter(of_run).max_by(|a, b| steps[*a].total_cmp(&steps[*b]));
                    finals.extend(last.map(|i| values[i]));
                }
                let (mean, sd) = mean_sd(&finals);
                stats.push((method, mean, sd));
            }
            let efms: Vec<&(String, f64, f64)> = stats.iter().filter(|s| efm_m(&s.0).is_some()).collect();
            if efms.is_empty() {
                return Err(Error::invalid(format!("{name} {metric}: no EFM rows")));
            }
            let not_worse = |a: &(String, f64, f64), b: &(String, f64, f64)| a.1 <= b.1 + a.2.max(b.2);
            for base in stats.iter().filter(|s| s.0 == "CFM" || s.0 == "OT-CFM") {
                pass &= efms.iter().all(|e| not_worse(e, base));
            }
            let smallest = efms.iter().min_by_key(|e| efm_m(&e.0)).expect("non-empty");
            let largest = efms.iter().max_by_key(|e| efm_m(&e.0)).expect("non-empty");
            pass &= not_worse(largest, smallest);
            let means: Vec<String> =
                stats.iter().map(|(m, mean, sd)| format!("{m} {mean:.3}±{sd:.3}")).collect();
            lines.push(format!("{name} {metric}: {}", means.join(", ")));
        }
    }
    Ok(Measured {
        value: format!("final-step Fréchet distance, mean±sd over seeds: {}", lines.join("; ")),
        threshold: "in every panel, every EFM-M mean <= CFM and OT-CFM means + spread, and the largest M's \
                    mean <= the smallest M's + spread (spread: the larger of the two standard deviations \
                    over seeds; 0 with one seed). Not tested: 'no further change beyond M ~ 1000' (no run \
                    uses more than 1024 references)"
            .into(),
        pass,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        id: "C8",
        figure: "fig4",
        statement: "EFM is never worse than CFM or OT-CFM (train and test, all embeddings) and improves as M \
                    grows; beyond M ~ 1000 no further change.",
        paper: "Fig. 4 (CIFAR-10, CelebA-64: EFM-128/256/1000 below CFM and OT-CFM in FID, Inception and \
                DINOv2, train and test); Tables 1-2 (MNIST, Fashion-MNIST: EFM below CFM at every epoch)",
        check: c8,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_the_closest_steps_then_the_last() {
        let quick = runs(Profile::Quick);
        assert_eq!(quick.len(), 15);
        let s = schedule(&quick[0]);
        let steps: Vec<u64> = s.iter().map(|p| p.1).collect();
        assert_eq!(steps, vec![12, 23, 35, 47, 59, 117, 176, 234, 293, 586, 1172, 2344, 4000]);
        assert!((s.last().unwrap().0 - 4000.0 * 128.0 / 1500.0).abs() < 1e-12);
        let smoke = schedule(&runs(Profile::Smoke)[0]);
        assert_eq!(smoke.iter().map(|p| p.1).collect::<Vec<_>>(), vec![12, 59, 117, 200]);
        assert_eq!(steps_for_epochs(25, 60_000, 128), 11_719);
    }

    #[test]
    fn fig2_shares_the_cfm_seed_0_model() {
        let cfm = runs(Profile::Quick).into_iter().find(|r| r.method == Method::Cfm && r.train.seed == 0);
        let fig2 = learned::train_config(
            Profile::Quick,
            learned::network(Profile::Quick, None),
            Target::Cfm,
            4000,
            0,
            1500,
        );
        assert_eq!(cfm.unwrap().train, fig2);
    }

    #[test]
    fn m_is_capped_at_the_training_set() {
        assert_eq!(Method::Efm { m: 1000 }.target(500), Target::Efm { m: 500, refs: RefMode::Paper });
        assert_eq!(efm_m("EFM-1024"), Some(1024));
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
    }
}
