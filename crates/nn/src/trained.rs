//! A finished network: its card (what made it) and its weights, raw and averaged.
//!
//! On disk, a directory with `model.json` (the [`ModelCard`]) and `model.safetensors`
//! (`weights.<name>`, `ema.<name>`, and the per-step training losses `train.loss`), each
//! written atomically; `model.safetensors` is written last, so its presence means "finished".

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{FORMAT_VERSION, load_tensors, read_json, save_tensors, write_json};
use crate::field::NetworkField;
use crate::models::{ImageShape, Network};
use crate::train::TrainConfig;
use crate::{Error, Result};

/// File name of the card.
pub const CARD_FILE: &str = "model.json";
/// File name of the weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// What a trained model is: enough to rebuild it and to know what it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// On-disk format version.
    pub format: u32,
    /// The training configuration.
    pub config: TrainConfig,
    /// The dataset identity given by the caller.
    pub dataset: String,
    /// Training points.
    pub n_train: usize,
    /// Data dimension.
    pub dim: usize,
    /// Image shape, for image data.
    pub image: Option<ImageShape>,
    /// Optimiser steps done.
    pub steps: u64,
    /// Number of trainable parameters.
    pub params: usize,
    /// The smallest and the largest coordinate of the training points: an `x1` prediction is
    /// clamped to it when the network is sampled ([`crate::field`]). Absent from cards written
    /// before it existed (no clamp).
    #[serde(default)]
    pub data_range: Option<[f32; 2]>,
}

/// Which set of weights to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// The exponential moving average (the default for sampling, as the paper).
    Ema,
    /// The weights after the last optimiser step.
    Raw,
}

/// A trained velocity network.
#[derive(Clone, Debug)]
pub struct TrainedModel {
    card: ModelCard,
    weights: HashMap<String, Tensor>,
    ema: HashMap<String, Tensor>,
    losses: Vec<f32>,
    device: Device,
}

impl TrainedModel {
    /// Assembles a model, checking that both weight sets build the network of `card`.
    pub(crate) fn from_parts(
        card: ModelCard,
        weights: HashMap<String, Tensor>,
        ema: HashMap<String, Tensor>,
        losses: Vec<f32>,
        device: &Device,
    ) -> Result<Self> {
        let model = Self { card, weights, ema, losses, device: device.clone() };
        for which in [Weights::Raw, Weights::Ema] {
            model.network(which)?;
        }
        Ok(model)
    }

    /// The card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Loss of every training step.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// The tensors of a weight set, by variable name.
    pub fn weights(&self, which: Weights) -> &HashMap<String, Tensor> {
        match which {
            Weights::Ema => &self.ema,
            Weights::Raw => &self.weights,
        }
    }

    /// The name of the first tensor (raw or averaged weights, in name order) holding a NaN or
    /// an infinity, if any: a diverged run.
    pub fn non_finite_weight(&self) -> Result<Option<String>> {
        for (kind, which) in [("weights", Weights::Raw), ("EMA weights", Weights::Ema)] {
            let mut names: Vec<&String> = self.weights(which).keys().collect();
            names.sort();
            for name in names {
                let values = self.weights(which)[name].flatten_all()?.to_vec1::<f32>()?;
                if values.iter().any(|v| !v.is_finite()) {
                    return Ok(Some(format!("{kind} {name}")));
                }
            }
        }
        Ok(None)
    }

    fn network(&self, which: Weights) -> Result<Network> {
        let vb = VarBuilder::from_tensors(self.weights(which).clone(), DType::F32, &self.device);
        Network::new(&self.card.config.model, self.card.dim, self.card.image, vb)
    }

    /// The network with EMA weights as a [`cfm_core::VelocityField`].
    pub fn field(&self) -> Result<NetworkField> {
        self.field_with(Weights::Ema)
    }

    /// The network with the chosen weights as a [`cfm_core::VelocityField`].
    pub fn field_with(&self, which: Weights) -> Result<NetworkField> {
        let field =
            NetworkField::new(self.network(which)?, self.card.dim, self.card.config.output, &self.device);
        Ok(field.with_range(self.card.data_range))
    }

    /// Writes `model.json` then `model.safetensors` into `dir`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(CARD_FILE), &self.card)?;
        let mut all = HashMap::new();
        for (prefix, set) in [("weights", &self.weights), ("ema", &self.ema)] {
            for (name, t) in set {
                all.insert(format!("{prefix}.{name}"), t.clone());
            }
        }
        if !self.losses.is_empty() {
            all.insert("train.loss".into(), Tensor::new(self.losses.as_slice(), &Device::Cpu)?);
        }
        save_tensors(&dir.join(WEIGHTS_FILE), &all)
    }

    /// `true` when `dir` holds a finished model.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CARD_FILE).is_file() && dir.join(WEIGHTS_FILE).is_file()
    }

    /// Reads a model written by [`TrainedModel::save`] onto the default device.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &crate::default_device()?)
    }

    /// Reads a model written by [`TrainedModel::save`] onto `device`.
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self> {
        let card_path = dir.join(CARD_FILE);
        let card: ModelCard = read_json(&card_path)?;
        if card.format != FORMAT_VERSION {
            return Err(Error::format(
                &card_path,
                format!(
                    "format version {} but this build reads {FORMAT_VERSION}; retrain the model",
                    card.format
                ),
            ));
        }
        let path = dir.join(WEIGHTS_FILE);
        let mut weights = HashMap::new();
        let mut ema = HashMap::new();
        let mut losses = Vec::new();
        for (key, t) in load_tensors(&path, device)? {
            if let Some(name) = key.strip_prefix("weights.") {
                weights.insert(name.to_string(), t);
            } else if let Some(name) = key.strip_prefix("ema.") {
                ema.insert(name.to_string(), t);
            } else if key == "train.loss" {
                losses = t.to_vec1::<f32>()?;
            } else {
                return Err(Error::format(&path, format!("unexpected tensor {key}")));
            }
        }
        Self::from_parts(card, weights, ema, losses, device).map_err(|e| Error::format(&path, e.to_string()))
    }
}
