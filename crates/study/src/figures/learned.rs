//! What the figures of learned models share: the image datasets with labels, the training
//! settings per profile, cached training, sampling, and the evaluation metrics that stand in
//! for the paper's (Fréchet distances in the feature space of a classifier trained here, and in
//! pixel space; nearest-training-image distances in pixels and in features).

use cfm_core::datasets::{self, ImageShape};
use cfm_core::metrics::{GaussianStats, frechet, knn};
use cfm_core::ode::{Solver, integrate};
use cfm_core::{Matrix, Stream, VelocityField};
use cfm_nn::{
    AdamConfig, Classifier, ClassifierConfig, EmaConfig, Labelled, MlpConfig, ModelConfig, RunOptions,
    Target, TrainConfig, TrainSet, TrainedModel, UNetConfig,
};
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Profile, Result};

/// An image dataset of the trained figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageData {
    /// The 8x8 digits: 1500 training and 297 test images (ships with the build).
    Digits,
    /// MNIST from the data directory.
    Mnist,
    /// Fashion-MNIST from the data directory.
    FashionMnist,
    /// CIFAR-10 from the data directory.
    Cifar10,
}

impl ImageData {
    /// Name in tables and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            ImageData::Digits => "digits",
            ImageData::Mnist => "mnist",
            ImageData::FashionMnist => "fashion-mnist",
            ImageData::Cifar10 => "cifar10",
        }
    }
}

/// Training and test images with labels.
pub struct ImageSet {
    /// Which dataset.
    pub data: ImageData,
    /// Training images (flattened, in [-1, 1]).
    pub train: Matrix,
    /// Training labels.
    pub train_labels: Vec<usize>,
    /// Held-out test images.
    pub test: Matrix,
    /// Test labels.
    pub test_labels: Vec<usize>,
    /// Image shape.
    pub shape: ImageShape,
}

impl ImageSet {
    /// Loads `data` (from the data directory for the paper's datasets).
    pub fn load(ctx: &Context, data: ImageData) -> Result<ImageSet> {
        let ds = match data {
            ImageData::Digits => datasets::digits(),
            ImageData::Mnist => datasets::mnist(ctx.data_dir()?)?,
            ImageData::FashionMnist => datasets::fashion_mnist(ctx.data_dir()?)?,
            ImageData::Cifar10 => datasets::cifar10(ctx.data_dir()?)?,
        };
        let labels = |l: Option<Vec<u8>>| -> Result<Vec<usize>> {
            Ok(l.ok_or_else(|| Error::invalid(format!("{} has no labels", data.name())))?
                .into_iter()
                .map(usize::from)
                .collect())
        };
        Ok(ImageSet {
            data,
            train_labels: labels(ds.train_labels)?,
            test_labels: labels(ds.test_labels)?,
            test: ds.test.ok_or_else(|| Error::invalid(format!("{} has no test split", data.name())))?,
            train: ds.train,
            shape: ds.image.ok_or_else(|| Error::invalid(format!("{} is not an image set", data.name())))?,
        })
    }

    /// The first `n` training images (the subsets of Fig. 2 are nested).
    pub fn subset(&self, n: usize) -> Result<Matrix> {
        if n == 0 || n > self.train.rows() {
            return Err(Error::invalid(format!(
                "{}: a subset of {n} images of {} is not possible",
                self.data.name(),
                self.train.rows()
            )));
        }
        Ok(self.train.slice_rows(0, n))
    }
}

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

/// The identity of the first `n` training images of `data` (part of the model cache key).
pub fn identity(data: ImageData, n: usize) -> String {
    format!("{} train[0..{n}]", data.name())
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
pub fn classifier(ctx: &Context, set: &ImageSet) -> Result<Classifier> {
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
    pub fn new(ctx: &Context, set: &ImageSet) -> Result<Self> {
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

/// Mean distance of each row of `x` to its nearest row of `refs`.
pub fn mean_nearest(x: &Matrix, refs: &Matrix) -> Result<f64> {
    let nn = knn(x, refs, 1, false)?;
    Ok(nn.dist.iter().sum::<f64>() / nn.dist.len().max(1) as f64)
}
