//! The feature classifier of a dataset: trained once from a fixed seed, cached on disk with its
//! accuracy, and used for its penultimate features (the embedding of the Fréchet distance that
//! replaces Inception/DINOv2, see [`crate::models::classifier`]).
//!
//! Training: cross-entropy `-mean_b log softmax(logits_b)[y_b]`, Adam at a constant learning
//! rate, minibatches of indices drawn uniformly with replacement from
//! `Stream::new(seed).derive("classifier").derive("step").derive_index(k)`; weights from
//! `Stream::new(seed).derive("init")`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use cfm_core::{Matrix, Stream};
use serde::{Deserialize, Serialize};

use crate::adam::{Adam, AdamConfig};
use crate::checkpoint::{
    FORMAT_VERSION, hashed_dir, load_tensors, lock_dir, read_json, save_tensors, write_json,
};
use crate::init::{seeded_builder, sorted_vars};
use crate::models::classifier::FeatureNet;
use crate::models::layers::to_tensor;
use crate::{Error, Result};

/// Architecture and training of a classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Hidden widths; the last one is the feature dimension.
    pub hidden: Vec<usize>,
    /// Optimiser steps.
    pub steps: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Root seed.
    pub seed: u64,
}

impl ClassifierConfig {
    /// Two hidden layers (256, then 128 features), 4000 steps of 128, lr `1e-3`, seed 0.
    pub fn standard() -> Self {
        Self { hidden: vec![256, 128], steps: 4000, batch_size: 128, lr: 1e-3, seed: 0 }
    }
}

/// Points with class labels `0..classes`.
#[derive(Clone, Copy, Debug)]
pub struct Labelled<'a> {
    /// One point per row.
    pub x: &'a Matrix,
    /// One label per row.
    pub y: &'a [usize],
}

impl Labelled<'_> {
    fn check(&self, what: &str) -> Result<()> {
        if self.x.rows() != self.y.len() || self.x.rows() == 0 {
            return Err(Error::invalid(format!(
                "{what}: {} points but {} labels (both must be equal and positive)",
                self.x.rows(),
                self.y.len()
            )));
        }
        Ok(self.x.check_finite(what)?)
    }
}

/// What a trained classifier is and how well it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierCard {
    /// On-disk format version.
    pub format: u32,
    /// The training configuration.
    pub config: ClassifierConfig,
    /// The dataset identity given by the caller.
    pub dataset: String,
    /// Input dimension.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
    /// Accuracy on the training set.
    pub train_accuracy: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
}

/// A trained classifier.
pub struct Classifier {
    card: ClassifierCard,
    net: FeatureNet,
    weights: HashMap<String, Tensor>,
    device: Device,
}

/// File names inside a classifier's directory.
const CARD_FILE: &str = "classifier.json";
const WEIGHTS_FILE: &str = "classifier.safetensors";
/// Rows per forward pass at evaluation.
const EVAL_BATCH: usize = 4096;

#[derive(Serialize)]
struct ClassifierKey<'a> {
    format: u32,
    config: &'a ClassifierConfig,
    dataset: &'a str,
    n_train: usize,
    n_test: usize,
    dim: usize,
}

impl Classifier {
    /// Trains `config` on `train`, measures it on `test`, and caches it under
    /// `<cache>/classifiers/<hash>`; returns the cached classifier when it is already there
    /// (under an exclusive lock on the directory: one process trains, the others wait and load).
    pub fn train(
        config: &ClassifierConfig,
        train: Labelled,
        test: Labelled,
        dataset: &str,
        cache: &Path,
        progress: bool,
    ) -> Result<Self> {
        train.check("classifier training set")?;
        test.check("classifier test set")?;
        if config.hidden.is_empty()
            || config.hidden.contains(&0)
            || config.steps == 0
            || config.batch_size == 0
        {
            return Err(Error::invalid(format!("classifier config out of range: {config:?}")));
        }
        let dim = train.x.cols();
        if test.x.cols() != dim {
            return Err(Error::invalid(format!(
                "train points have dimension {dim}, test points {}",
                test.x.cols()
            )));
        }
        let key = ClassifierKey {
            format: FORMAT_VERSION,
            config,
            dataset,
            n_train: train.x.rows(),
            n_test: test.x.rows(),
            dim,
        };
        let dir = hashed_dir(cache, "classifiers", &key)?;
        // Cells sharing the cache train the classifier once; the others wait, then load it.
        let _lock = lock_dir(&dir)?;
        if dir.join(WEIGHTS_FILE).is_file() {
            return Self::load(&dir);
        }
        let classes = 1 + *train.y.iter().chain(test.y).max().expect("labels are not empty");
        let device = crate::default_device()?;
        let map = VarMap::new();
        let init = Stream::new(config.seed).derive("init");
        let net = FeatureNet::new(dim, &config.hidden, classes, seeded_builder(&map, Some(init), &device))?;
        let vars = sorted_vars(&map);
        let mut adam = Adam::new(vars.clone(), AdamConfig::plain(config.lr))?;
        let root = Stream::new(config.seed).derive("classifier").derive("step");
        let bar = crate::progress::bar("classifier", progress, config.steps, 0);
        for k in 0..config.steps {
            let mut s = root.derive_index(k);
            let idx: Vec<usize> = (0..config.batch_size).map(|_| s.below(train.x.rows())).collect();
            let x = to_tensor(&train.x.select_rows(&idx), &device)?;
            let y: Vec<u32> = idx.iter().map(|&i| train.y[i] as u32).collect();
            let y = Tensor::from_vec(y, idx.len(), &device)?;
            let loss = candle_nn::loss::cross_entropy(&net.logits(&net.features(&x)?)?, &y)?;
            adam.step(&loss.backward()?)?;
            bar.inc(1);
            if k % 50 == 0 {
                bar.set_message(format!("{:.4}", loss.to_scalar::<f32>()?));
            }
        }
        bar.finish_and_clear();
        let weights =
            vars.iter().map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?))).collect::<Result<_>>()?;
        let card = ClassifierCard {
            format: FORMAT_VERSION,
            config: config.clone(),
            dataset: dataset.to_string(),
            dim,
            classes,
            train_accuracy: 0.0,
            test_accuracy: 0.0,
        };
        let mut classifier = Self { card, net, weights, device };
        classifier.card.train_accuracy = classifier.accuracy(train)?;
        classifier.card.test_accuracy = classifier.accuracy(test)?;
        classifier.save(&dir)?;
        Ok(classifier)
    }

    /// The card: config, classes and accuracies.
    pub fn card(&self) -> &ClassifierCard {
        &self.card
    }

    /// Writes `classifier.json` then `classifier.safetensors` into `dir`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(CARD_FILE), &self.card)?;
        save_tensors(&dir.join(WEIGHTS_FILE), &self.weights)
    }

    /// Reads a classifier written by [`Classifier::save`] onto the default device.
    pub fn load(dir: &Path) -> Result<Self> {
        let card_path = dir.join(CARD_FILE);
        let card: ClassifierCard = read_json(&card_path)?;
        if card.format != FORMAT_VERSION {
            return Err(Error::format(
                card_path,
                format!("format version {}, expected {FORMAT_VERSION}", card.format),
            ));
        }
        let device = crate::default_device()?;
        let path = dir.join(WEIGHTS_FILE);
        let weights = load_tensors(&path, &device)?;
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &device);
        let net = FeatureNet::new(card.dim, &card.config.hidden, card.classes, vb)
            .map_err(|e| Error::format(&path, e.to_string()))?;
        Ok(Self { card, net, weights, device })
    }

    /// Applies `f` to batches of `x` and stacks the rows of the results.
    fn map_batches(&self, x: &Matrix, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Matrix> {
        if x.cols() != self.card.dim {
            return Err(Error::invalid(format!(
                "classifier of dimension {} got points of dimension {}",
                self.card.dim,
                x.cols()
            )));
        }
        let mut out = Vec::new();
        let mut cols = 0;
        for start in (0..x.rows()).step_by(EVAL_BATCH) {
            let end = (start + EVAL_BATCH).min(x.rows());
            let y = f(&to_tensor(&x.slice_rows(start, end), &self.device)?)?;
            cols = y.dim(1)?;
            out.extend(y.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Matrix::from_vec(x.rows(), cols, out)?)
    }

    /// Penultimate features (`rows x hidden.last()`).
    pub fn features(&self, x: &Matrix) -> Result<Matrix> {
        self.map_batches(x, |t| Ok(self.net.features(t)?))
    }

    /// Predicted class of each row.
    pub fn predict(&self, x: &Matrix) -> Result<Vec<usize>> {
        let logits = self.map_batches(x, |t| Ok(self.net.logits(&self.net.features(t)?)?))?;
        Ok(logits
            .iter_rows()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                    .0
            })
            .collect())
    }

    /// Fraction of correctly classified points.
    pub fn accuracy(&self, data: Labelled) -> Result<f64> {
        data.check("accuracy")?;
        let pred = self.predict(data.x)?;
        Ok(pred.iter().zip(data.y).filter(|(p, y)| p == y).count() as f64 / data.y.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points per class around `4 e_k` in `R^10` (unit noise): the Bayes error is ~0.5%.
    fn blobs(n: usize, seed: u64) -> (Matrix, Vec<usize>) {
        let mut s = Stream::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..3 * n {
            let k = i % 3;
            x.extend((0..10).map(|j| s.normal() as f32 + if j == k { 4.0 } else { 0.0 }));
            y.push(k);
        }
        (Matrix::from_vec(3 * n, 10, x).unwrap(), y)
    }

    #[test]
    fn separable_classes_are_learnt_and_cached() {
        let (xa, ya) = blobs(300, 1);
        let (xb, yb) = blobs(300, 2);
        let (train, test) = (Labelled { x: &xa, y: &ya }, Labelled { x: &xb, y: &yb });
        let cfg = ClassifierConfig { hidden: vec![32, 16], steps: 400, batch_size: 64, lr: 1e-2, seed: 0 };
        let cache = tempfile::tempdir().unwrap();
        let c = Classifier::train(&cfg, train, test, "blobs", cache.path(), false).unwrap();
        let card = c.card().clone();
        assert_eq!(card.classes, 3);
        assert!(card.test_accuracy >= 0.98, "test accuracy {}", card.test_accuracy);
        assert_eq!(card.test_accuracy, c.accuracy(test).unwrap());
        let f = c.features(&xb).unwrap();
        assert_eq!((f.rows(), f.cols()), (900, 16));
        // The second call loads the cached classifier: same card, same features.
        let again = Classifier::train(&cfg, train, test, "blobs", cache.path(), false).unwrap();
        assert_eq!((&again.card().config, again.card().classes), (&card.config, card.classes));
        assert!((again.card().test_accuracy - card.test_accuracy).abs() < 1e-12);
        assert_eq!(again.features(&xb).unwrap(), f);
        assert!(c.features(&Matrix::zeros(2, 9)).is_err());
    }
}
