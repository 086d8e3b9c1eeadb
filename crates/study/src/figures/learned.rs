//! What the figures of learned models share: the image datasets with labels, the training
//! settings per profile, cached training, sampling, and the evaluation metrics that stand in
//! for the paper's (Fréchet distances in the feature space of a classifier trained here, and in
//! pixel space; nearest-training-image distances in pixels and in features).

use cfm_core::datasets::ImageShape;
use cfm_core::metrics::{GaussianStats, frechet};
use cfm_core::ode::{Solver, integrate};
use cfm_core::{Matrix, Stream, VelocityField};
use cfm_nn::{
    AdamConfig, Classifier, ClassifierConfig, EmaConfig, Labelled, MlpConfig, ModelConfig, RunOptions,
    Target, TrainConfig, TrainSet, TrainedModel, UNetConfig,
};

use crate::data::LabelledImages;
use crate::figure::Setting;
use crate::{Context, Profile, Result};

/// The velocity network of a profile: an MLP on flattened images on the CPU profiles (the
/// U-Net's convolutions are too slow on CPU), the paper's U-Net in the paper profile.
pub fn network(profile: Profile, width: Option<usize>) -> ModelConfig {
    match profile {
        Profile::Smoke => ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(64), depth: 2, time_dim: 16 }),
        Profile::Quick => ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(256), ..MlpConfig::digits() }),
        Profile::Paper => ModelConfig::UNet(UNetConfig::paper()),
    }
}

/// Training settings of a profile. Paper: the paper's (batch 128, Adam 2e-4 with 5000 warm-up
/// steps, clipping 1, EMA 0.9999 from step 1000). CPU profiles: Adam 1e-3 with 100 warm-up
/// steps and clipping 1, EMA 0.999 from step 100 (the paper's EMA horizon of 10^4 steps would
/// average over most of a run of a few thousand steps).
pub fn train_config(
    profile: Profile,
    model: ModelConfig,
    target: Target,
    steps: u64,
    seed: u64,
    n: usize,
) -> TrainConfig {
    let mut c = TrainConfig::paper(model, target, steps);
    c.seed = seed;
    c.batch_size = TrainConfig::paper_batch(n);
    if profile != Profile::Paper {
        c.adam = AdamConfig { lr: 1e-3, warmup: 100, ..AdamConfig::paper() };
        c.ema = EmaConfig { decay: 0.999, start: 100 };
    }
    c
}

/// Trains (or loads from `<cache>/models`) a network on `points`.
pub fn train(
    ctx: &Context,
    config: &TrainConfig,
    points: &Matrix,
    shape: Option<ImageShape>,
    identity: &str,
) -> Result<TrainedModel> {
    let set = TrainSet { points, image: shape, identity };
    let run = RunOptions { progress: ctx.progress, checkpoint_every: 1000 };
    Ok(cfm_nn::train(config, &set, &ctx.cache_dir, &run)?)
}

/// `n` samples from `field`: Euler with `steps` steps from noise drawn from `s`.
pub fn sample(field: &dyn VelocityField, n: usize, steps: usize, s: &Stream) -> Result<Matrix> {
    let d = field.dim();
    let x0 = Matrix::from_vec(n, d, s.clone().normal_vec(n * d))?;
    Ok(integrate(field, &x0, Solver::Euler { steps }, false)?.x)
}

/// The classifier whose penultimate features replace Inception / DINOv2 (trained once per
/// dataset from seed 0, cached under `<cache>/classifiers`).
pub fn classifier(ctx: &Context, set: &LabelledImages) -> Result<Classifier> {
    let mut cfg = ClassifierConfig::standard();
    if ctx.profile == Profile::Smoke {
        cfg.steps = 500;
    }
    let train = Labelled { x: &set.train, y: &set.train_labels };
    let test = Labelled { x: &set.test, y: &set.test_labels };
    Ok(Classifier::train(&cfg, train, test, set.data.name(), &ctx.cache_dir, ctx.progress)?)
}

/// Fréchet distances of sample sets to a dataset's training and test images, in the
/// classifier's feature space and in pixel space, with the reference statistics computed once.
pub struct Evaluator {
    classifier: Classifier,
    train_pixels: GaussianStats,
    test_pixels: GaussianStats,
    train_features: GaussianStats,
    test_features: GaussianStats,
}

/// The four Fréchet distances of one sample set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distances {
    /// In the classifier's feature space, to the training images.
    pub feature_train: f64,
    /// In the classifier's feature space, to the test images.
    pub feature_test: f64,
    /// In pixel space, to the training images.
    pub pixel_train: f64,
    /// In pixel space, to the test images.
    pub pixel_test: f64,
}

impl Evaluator {
    /// Trains (or loads) the classifier of `set` and the reference statistics.
    pub fn new(ctx: &Context, set: &LabelledImages) -> Result<Self> {
        let classifier = classifier(ctx, set)?;
        Ok(Self {
            train_pixels: GaussianStats::of(&set.train)?,
            test_pixels: GaussianStats::of(&set.test)?,
            train_features: GaussianStats::of(&classifier.features(&set.train)?)?,
            test_features: GaussianStats::of(&classifier.features(&set.test)?)?,
            classifier,
        })
    }

    /// The classifier's test accuracy.
    pub fn accuracy(&self) -> f64 {
        self.classifier.card().test_accuracy
    }

    /// Penultimate features of `x`.
    pub fn features(&self, x: &Matrix) -> Result<Matrix> {
        Ok(self.classifier.features(x)?)
    }

    /// The Fréchet distances of `samples`.
    pub fn distances(&self, samples: &Matrix) -> Result<Distances> {
        let pixels = GaussianStats::of(samples)?;
        let features = GaussianStats::of(&self.features(samples)?)?;
        Ok(Distances {
            feature_train: frechet(&features, &self.train_features)?,
            feature_test: frechet(&features, &self.test_features)?,
            pixel_train: frechet(&pixels, &self.train_pixels)?,
            pixel_test: frechet(&pixels, &self.test_pixels)?,
        })
    }
}

/// The paper's setting of a figure's runs, for the report's hyperparameter table.
pub struct PaperSetup {
    /// Its network.
    pub network: &'static str,
    /// Its training length.
    pub steps: &'static str,
    /// Samples per evaluation.
    pub samples: &'static str,
    /// ODE solver.
    pub solver: &'static str,
    /// Seeds.
    pub seeds: &'static str,
}

/// A short description of a network (`MLP 3 x 256 SELU, 32 time features`).
pub fn describe(model: &ModelConfig) -> String {
    match model {
        ModelConfig::Mlp(m) => format!("MLP {} x {} SELU, {} time features", m.depth, m.width, m.time_dim),
        ModelConfig::UNet(u) => format!("U-Net, {} channels, multipliers {:?}", u.channels, u.channel_mult),
    }
}

/// The paper's hyperparameters beside ours (`train` on `n` points of dimension `d`), one row
/// each.
pub fn settings(
    paper: &PaperSetup,
    train: &TrainConfig,
    d: usize,
    image: Option<ImageShape>,
    samples: usize,
    sample_steps: usize,
    seeds: &str,
) -> Vec<Setting> {
    let params = train.model.param_count(d, image).map_or(String::new(), |p| format!(", {p} parameters"));
    let a = &train.adam;
    let warmup = if a.warmup > 0 { format!(", {} warm-up steps", a.warmup) } else { String::new() };
    vec![
        Setting::new("network", paper.network, format!("{}{params}", describe(&train.model))),
        Setting::new("network output", "velocity", train.output.name()),
        Setting::new("loss weight", "none", if train.rescaled { "(1 - t)^2" } else { "none" }),
        Setting::new("optimiser", "Adam, lr 2e-4, 5000 warm-up steps", format!("Adam, lr {}{warmup}", a.lr)),
        Setting::new("gradient clipping", "1", a.grad_clip.map_or("none".into(), |c| c.to_string())),
        Setting::new(
            "EMA",
            "0.9999 from step 1000",
            format!("{} from step {}", train.ema.decay, train.ema.start),
        ),
        Setting::new(
            "batch",
            "128, without replacement per epoch",
            format!("{} (min(128, n)), without replacement per epoch", train.batch_size),
        ),
        Setting::new("training steps", paper.steps, train.steps.to_string()),
        Setting::new("samples per evaluation", paper.samples, samples.to_string()),
        Setting::new("solver", paper.solver, format!("Euler, {sample_steps} steps")),
        Setting::new("seeds", paper.seeds, seeds),
    ]
}
