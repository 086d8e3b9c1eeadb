//! Evaluating trained networks: sampling, the guard that fails a diverged run, the feature
//! classifier, and the Fréchet distances that stand in for the paper's FID.

use cfm_core::metrics::{GaussianStats, frechet};
use cfm_core::ode::{Solver, integrate};
use cfm_core::{Matrix, Stream, VelocityField};
use cfm_nn::{Classifier, ClassifierConfig, Labelled, TrainedModel};

use crate::data::LabelledImages;
use crate::{Context, Profile, Result};

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
}
