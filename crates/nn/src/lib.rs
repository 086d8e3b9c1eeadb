//! # cfm-nn
//!
//! Neural velocity fields for *On the Closed-Form of Flow Matching* (Bertrand, Gagneux,
//! Massias, Emonet, NeurIPS 2025), on candle:
//!
//! - [`models`]: an MLP with time features ([`MlpConfig`]), the torchcfm U-Net
//!   ([`UNetConfig`]) and the feature classifier's network;
//! - [`mod@train`]: one loop for three targets, CFM (Algorithm 1), EFM (Algorithm 2) and OT-CFM
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

/// Where the candle networks (the U-Net and the feature classifier) compute; the MLP always
/// runs its own passes on the CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first CUDA GPU when this build has the `cuda` feature and one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU; an error when the build or the machine has none.
    Cuda,
}

static DEVICE_CHOICE: std::sync::OnceLock<DeviceChoice> = std::sync::OnceLock::new();

/// Sets the process's [`DeviceChoice`] once, before any network is built; checks that a CUDA
/// choice can be served (the build has the `cuda` feature and the machine a GPU).
pub fn select_device(choice: DeviceChoice) -> Result<()> {
    if choice == DeviceChoice::Cuda {
        if !cfg!(feature = "cuda") {
            return Err(Error::invalid(
                "--device cuda: this cfm was built without CUDA; rebuild it with `cargo build --release -p cfm-cli \
                 --features cuda` (needs nvcc and the CUDA headers: docs/cuda-ci.md), or use --device cpu",
            ));
        }
        candle_core::Device::new_cuda(0).map_err(|e| {
            Error::invalid(format!(
                "--device cuda: no usable CUDA device 0 on this machine ({e}); use --device cpu"
            ))
        })?;
    }
    let set = *DEVICE_CHOICE.get_or_init(|| choice);
    if set != choice {
        return Err(Error::invalid(format!("the device was already set to {set:?}")));
    }
    Ok(())
}

/// The device the candle networks run on, as [`select_device`] chose (by default the first CUDA
/// GPU when the crate is built with the `cuda` feature and one is present, the CPU otherwise).
pub fn default_device() -> Result<candle_core::Device> {
    Ok(match DEVICE_CHOICE.get().copied().unwrap_or_default() {
        DeviceChoice::Auto => candle_core::Device::cuda_if_available(0)?,
        DeviceChoice::Cpu => candle_core::Device::Cpu,
        DeviceChoice::Cuda => candle_core::Device::new_cuda(0)?,
    })
}

/// Where this process computes, in words: `CPU (N threads)`, or the CUDA device and its name
/// for the U-Net and the classifier beside the MLPs' CPU threads.
pub fn describe_device() -> Result<String> {
    let threads = rayon::current_num_threads();
    let device = default_device()?;
    Ok(if device.is_cuda() {
        format!(
            "CUDA device 0 ({}) for the U-Net and the classifier; the MLPs on the CPU ({threads} threads)",
            cuda_name()
        )
    } else {
        format!("CPU ({threads} threads)")
    })
}

#[cfg(feature = "cuda")]
fn cuda_name() -> String {
    candle_core::cuda_backend::cudarc::driver::CudaContext::new(0)
        .and_then(|c| c.name())
        .unwrap_or_else(|e| format!("name unavailable: {e}"))
}

#[cfg(not(feature = "cuda"))]
fn cuda_name() -> String {
    unreachable!("a build without CUDA has no CUDA device")
}
