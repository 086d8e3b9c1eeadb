//! The feature classifier: an MLP `x -> h_1 -> ... -> h_L -> logits` with SELU activations.
//! Its penultimate activations `h_L` are the embedding in which Fréchet distances between
//! generated and real images are measured, in place of Inception or DINOv2 features (the paper
//! itself uses a classifier's features for MNIST and Fashion-MNIST, App. C).

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use super::layers::{Start, linear, selu};

/// The classifier network; variables `hidden.{i}.weight|bias` and `head.weight|bias`.
#[derive(Clone, Debug)]
pub struct FeatureNet {
    hidden: Vec<Linear>,
    head: Linear,
}

impl FeatureNet {
    /// An MLP from `input` features through the `hidden` widths to `classes` logits.
    pub(crate) fn new(input: usize, hidden: &[usize], classes: usize, vb: VarBuilder) -> Result<Self> {
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], Start::Default, vb.pp(format!("hidden.{i}"))))
            .collect::<Result<_>>()?;
        let head = linear(*sizes.last().expect("input size"), classes, Start::Default, vb.pp("head"))?;
        Ok(Self { hidden: layers, head })
    }

    /// Penultimate features `[B, h_L]` of `x`: `[B, d]`.
    pub(crate) fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.hidden.iter().try_fold(x.clone(), |h, layer| selu(&layer.forward(&h)?))
    }

    /// Class logits `[B, classes]` from features.
    pub(crate) fn logits(&self, features: &Tensor) -> Result<Tensor> {
        self.head.forward(features)
    }
}
