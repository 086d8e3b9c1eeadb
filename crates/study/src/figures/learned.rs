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

use serde::{Deserialize, Serialize};

use crate::data::LabelledImages;
use crate::figure::Setting;
use crate::{Context, Profile, Result};

/// The parameterizations of the networks of the trained figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Param {
    /// The network outputs the velocity; unweighted loss (the paper's U-Net).
    Velocity,
    /// The network predicts `x1`, `u = (x1_hat - x) / (1 - t)`, loss weighted by `(1 - t)^2`
    /// (the official code's `decoupled` and `rescaled`): `||x1_hat - x1||^2` for CFM.
    X1,
}

impl Param {
    /// Both, velocity first.
    pub const ALL: [Param; 2] = [Param::Velocity, Param::X1];

    /// Name in tables (`velocity`, `x1`).
    pub fn name(self) -> &'static str {
        match self {
            Param::Velocity => "velocity",
            Param::X1 => "x1",
        }
    }

    /// Sets `config`'s output and loss weighting.
    pub fn apply(self, config: &mut TrainConfig) {
        (config.output, config.rescaled) = match self {
            Param::Velocity => (cfm_nn::Output::Velocity, false),
            Param::X1 => (cfm_nn::Output::X1, true),
        };
    }
}

/// The velocity network of a profile: an MLP on flattened images on the CPU profiles (the
/// U-Net's convolutions are too slow on CPU), with the input skip so that its outputs span the
/// image space at every width ([`cfm_nn::models::mlp`]); the paper's U-Net in the paper profile.
pub fn network(profile: Profile, width: Option<usize>) -> ModelConfig {
    match profile {
        Profile::Smoke => {
            ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(64), depth: 2, time_dim: 16, skip: true })
        }
        Profile::Quick => ModelConfig::Mlp(MlpConfig { width: width.unwrap_or(256), ..MlpConfig::images() }),
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

/// Trains `config` on `points` one step at a time, calling `at(step, model)` with the model as
/// it is after each step of `checkpoints` (increasing; the last one must be `config.steps`)
/// once its weights are checked finite ([`Guard`]; a non-finite loss stops the run at its step),
/// and returns the final model, which is also saved where [`cfm_nn::model_dir`] points, so that
/// figures with the same configuration load it instead of training again. The run is the one
/// [`cfm_nn::train`] makes for `config` (same trainer, bit-identical weights); evaluating at the
/// checkpoints does not touch the training state.
#[allow(clippy::too_many_arguments)]
pub fn train_evaluated(
    ctx: &Context,
    config: &TrainConfig,
    points: &Matrix,
    shape: Option<ImageShape>,
    identity: &str,
    checkpoints: &[u64],
    bar: &indicatif::ProgressBar,
    mut at: impl FnMut(u64, &TrainedModel) -> Result<()>,
) -> Result<TrainedModel> {
    if checkpoints.last() != Some(&config.steps) || checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(crate::Error::invalid(format!(
            "checkpoints {checkpoints:?} must increase to the last step {}",
            config.steps
        )));
    }
    let mut trainer = cfm_nn::Trainer::new(config, points, shape, &cfm_nn::default_device()?)?;
    let guard = Guard::of(points);
    bar.set_length(config.steps);
    let mut last = None;
    for &step in checkpoints {
        while trainer.steps_done() < step {
            trainer.step()?;
            bar.inc(1);
        }
        let model = trainer.model(identity)?;
        guard.weights(&model, step)?;
        at(step, &model)?;
        last = Some(model);
    }
    let model = last.expect("at least one checkpoint");
    let set = TrainSet { points, image: shape, identity };
    let dir = cfm_nn::model_dir(&ctx.cache_dir, config, &set)?;
    if !TrainedModel::exists(&dir) {
        model.save(&dir)?;
    }
    Ok(model)
}

/// The checkpoints `first, 2 first, 4 first, ...` below `last`, then `last` (a log grid).
pub fn log_checkpoints(first: u64, last: u64) -> Vec<u64> {
    let mut out: Vec<u64> =
        std::iter::successors(Some(first.max(1)), |s| Some(s * 2)).take_while(|&s| s < last).collect();
    out.push(last);
    out
}

/// Estimated seconds of one training step of `config` on data of dimension `d` (one core of
/// this kind of machine: the MLP's passes run at about 40 GFLOP/s over their `6 B params`
/// operations; a guess at GPU scale for the U-Net), EFM or OT targets included.
pub fn step_seconds(config: &TrainConfig, d: usize, image: Option<ImageShape>) -> f64 {
    let params = config.model.param_count(d, image).unwrap_or(0) as f64;
    let b = config.batch_size as f64;
    let step = match &config.model {
        ModelConfig::Mlp(_) => 3e-4 + 6.0 * b * params / 4e10,
        // A guess at GPU scale, scaled from the paper's CIFAR-10 U-Net (35.7M parameters, 32x32,
        // batch 128: 0.3 s) by parameters and pixels.
        ModelConfig::UNet(_) => {
            let pixels = image.map_or(1024, |s| s.height * s.width) as f64;
            (0.3 * (params / 35.7e6) * (pixels / 1024.0) * (b / 128.0)).max(5e-3)
        }
    };
    let target = match config.target {
        Target::Cfm => 0.0,
        Target::OtCfm => b * b * d as f64 * 2e-9 + 2e-3,
        Target::Efm { m, refs } => match refs {
            cfm_core::efm::RefMode::Paper => b * m as f64 * d as f64 * 2e-9,
            cfm_core::efm::RefMode::Official => 4.0 * b * (b + m as f64) * d as f64 / 5e10,
        },
    };
    step + target
}

/// Estimated seconds to draw `samples` samples with `euler_steps` steps from `model`.
pub fn sampling_seconds(
    model: &ModelConfig,
    d: usize,
    image: Option<ImageShape>,
    samples: usize,
    euler_steps: usize,
) -> f64 {
    let params = model.param_count(d, image).unwrap_or(0) as f64;
    let per_row = match model {
        ModelConfig::Mlp(_) => 2.0 * params / 5e10,
        // Scaled from 4e-4 s a row for the CIFAR-10 U-Net, as the training step.
        ModelConfig::UNet(_) => {
            let pixels = image.map_or(1024, |s| s.height * s.width) as f64;
            (4e-4 * (params / 35.7e6) * (pixels / 1024.0)).max(1e-5)
        }
    };
    per_row * (samples * euler_steps) as f64
}

/// How far a sample may lie from the origin, as a multiple of the largest training point's
/// norm, before its run counts as diverged. Fixed before any run: a network that copies or
/// generalizes stays near the data (and untouched source noise has norm about `sqrt(d)`, at
/// most a few times the largest image's), so a sample ten times further out than every
/// training point has left the data behind.
pub const DIVERGED_FACTOR: f64 = 10.0;

/// What a trained cell checks at each evaluation, so that a diverged run fails its cell (with
/// the step) rather than being plotted: finite weights, and finite samples within
/// [`DIVERGED_FACTOR`] times the largest training norm.
pub struct Guard {
    /// The largest norm of a training point.
    pub data_norm: f64,
}

impl Guard {
    /// The guard of a training set.
    pub fn of(points: &Matrix) -> Self {
        let data_norm = points
            .iter_rows()
            .map(|r| r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt())
            .fold(0.0, f64::max);
        Self { data_norm }
    }

    /// Fails when `model`'s weights are not all finite.
    pub fn weights(&self, model: &TrainedModel, step: u64) -> Result<()> {
        match model.non_finite_weight()? {
            Some(name) => {
                Err(crate::Error::invalid(format!("training diverged: {name} are not finite at step {step}")))
            }
            None => Ok(()),
        }
    }

    /// Fails when a sample drawn at `step` is not finite or lies further from the origin than
    /// [`DIVERGED_FACTOR`] times the largest training norm.
    pub fn samples(&self, samples: &Matrix, step: u64) -> Result<()> {
        let limit = DIVERGED_FACTOR * self.data_norm;
        let (worst, count) = samples.iter_rows().fold((0.0f64, 0usize), |(worst, count), r| {
            let norm = r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
            let bad = !norm.is_finite() || norm > limit;
            (if norm.is_finite() { worst.max(norm) } else { f64::INFINITY }, count + bad as usize)
        });
        if count > 0 {
            return Err(crate::Error::invalid(format!(
                "sampling diverged at step {step}: {count} of {} samples are not finite or have a norm above \
                 {limit:.1} ({DIVERGED_FACTOR} x the largest training norm {:.2}); the largest is {worst:.3e}",
                samples.rows(),
                self.data_norm
            )));
        }
        Ok(())
    }
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
        ModelConfig::Mlp(m) => format!(
            "MLP {} x {} SELU, {} time features{}",
            m.depth,
            m.width,
            m.time_dim,
            if m.skip { ", input skip g(t) x" } else { "" }
        ),
        ModelConfig::UNet(u) => format!(
            "U-Net, {} channels, multipliers {:?}, {} residual block(s)",
            u.channels, u.channel_mult, u.res_blocks
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_far_beyond_the_data_or_not_finite_fail_with_the_step() {
        let data = Matrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, 2.0]).unwrap();
        let guard = Guard::of(&data);
        assert_eq!(guard.data_norm, 2.0);
        assert!(guard.samples(&Matrix::from_vec(1, 2, vec![3.0, 4.0]).unwrap(), 5).is_ok());
        let far = Matrix::from_vec(2, 2, vec![1.0, 1.0, 3.8e21, 0.0]).unwrap();
        let err = guard.samples(&far, 8000).unwrap_err().to_string();
        assert!(err.contains("step 8000") && err.contains("1 of 2") && err.contains("3.800e21"), "{err}");
        let nan = Matrix::from_vec(1, 2, vec![f32::NAN, 0.0]).unwrap();
        assert!(guard.samples(&nan, 3).unwrap_err().to_string().contains("step 3"));
    }

    #[test]
    fn a_planted_diverging_run_fails_at_its_step_and_leaves_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context { progress: false, ..Context::new(Profile::Smoke, dir.path()) };
        let points = cfm_core::datasets::digits().train.slice_rows(0, 100);
        let mut config =
            train_config(Profile::Smoke, network(Profile::Smoke, None), Target::Cfm, 200, 0, 100);
        config.adam = AdamConfig::plain(1e6);
        let hidden = indicatif::ProgressBar::hidden();
        let mut evaluated = Vec::new();
        let err = train_evaluated(&ctx, &config, &points, None, "planted", &[1, 200], &hidden, |step, _| {
            evaluated.push(step);
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("diverged at step"), "{err}");
        assert_eq!(evaluated, vec![1]);
        let set = TrainSet { points: &points, image: None, identity: "planted" };
        assert!(!TrainedModel::exists(&cfm_nn::model_dir(&ctx.cache_dir, &config, &set).unwrap()));
    }
}
