//! # cfm-nn
//!
//! Neural velocity fields for *On the Closed-Form of Flow Matching* (Bertrand, Gagneux,
//! Massias, Emonet, NeurIPS 2025), on candle:
//!
//! - [`models`]: an MLP with time features ([`MlpConfig`]), the torchcfm U-Net
//!   ([`UNetConfig`]) and the feature classifier's network;
//! - [`train`]: one loop for three targets, CFM (Algorithm 1), EFM (Algorithm 2) and OT-CFM
//!   ([`Target`]), with [`adam`] (warm-up, clipping), [`ema`] (bias-corrected), [`ot`]
//!   (exact minibatch coupling) and content-addressed, resumable [`checkpoint`]s;
//! - [`trained`]: a finished model on disk; [`field`]: a model as a
//!   [`cfm_core::VelocityField`], so that every solver of [`cfm_core::ode`] samples from it;
//! - [`classifier`]: the classifier whose features replace Inception/DINOv2 in Fréchet
//!   distances.
//!
//! Every random draw (weights, minibatches, noise, times, EFM references, dropout masks) comes
//! from a labelled [`cfm_core::Stream`]: the same seed on the same machine with the same
//! thread count gives bit-identical weights, and a resumed run ends where an uninterrupted one
//! does.
//!
//! ```no_run
//! use cfm_nn::{MlpConfig, ModelConfig, RunOptions, Target, TrainConfig, TrainSet, train};
//! # fn main() -> cfm_nn::Result<()> {
//! let data = cfm_core::Matrix::zeros(100, 2);
//! let mut config = TrainConfig::paper(ModelConfig::Mlp(MlpConfig::toy()), Target::Cfm, 2000);
//! config.adam = cfm_nn::AdamConfig::plain(1e-3);
//! let set = TrainSet { points: &data, image: None, identity: "zeros-100" };
//! let model = train(&config, &set, "cache".as_ref(), &RunOptions::default())?;
//! let noise = cfm_core::Matrix::zeros(10, 2);
//! let field = model.field()?;
//! let samples = cfm_core::ode::integrate(&field, &noise, cfm_core::Solver::Euler { steps: 100 }, false)?;
//! # Ok(()) }
//! ```

pub mod adam;
pub mod checkpoint;
pub mod classifier;
pub mod ema;
mod error;
pub mod field;
mod init;
pub mod models;
pub mod ot;
mod progress;
pub mod train;
pub mod trained;

pub use adam::AdamConfig;
pub use classifier::{Classifier, ClassifierConfig, Labelled};
pub use ema::EmaConfig;
pub use error::{Error, Result};
pub use field::NetworkField;
pub use models::{ImageShape, MlpConfig, ModelConfig, Output, UNetConfig};
pub use train::{RunOptions, Target, TimeWindow, TrainConfig, TrainSet, Trainer, model_dir, train};
pub use trained::{ModelCard, TrainedModel, Weights};

/// The device networks run on: the first CUDA GPU when the crate is built with the `cuda`
/// feature and one is present, the CPU otherwise.
pub fn default_device() -> Result<candle_core::Device> {
    Ok(candle_core::Device::cuda_if_available(0)?)
}
