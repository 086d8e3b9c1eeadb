//! Building blocks shared by the models: layers with PyTorch's default initialisation, seeded
//! dropout, activations and the sinusoidal time embedding.
//!
//! Initialisation (PyTorch defaults): a linear or convolution layer with fan-in `f` (input
//! features, or `in_channels * k * k`) draws weights and biases from `U(-1/sqrt(f), 1/sqrt(f))`
//! (`kaiming_uniform(a = sqrt(5))` gives exactly that bound). GroupNorm starts at scale 1 and
//! shift 0. Layers marked "zero" (the `zero_module` of the guided-diffusion U-Net) start at 0.

use candle_core::{D, Device, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, Init, Linear, VarBuilder};
use cfm_core::Stream;
use rayon::prelude::*;

/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
pub(crate) fn fan_in_uniform(fan_in: usize) -> Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// Initial values of a layer: PyTorch's defaults, or all zeros.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Default,
    Zero,
}

impl Start {
    fn init(self, fan_in: usize) -> Init {
        match self {
            Start::Default => fan_in_uniform(fan_in),
            Start::Zero => Init::Const(0.0),
        }
    }
}

/// A linear layer `in_dim -> out_dim` (`weight`: `out x in`, `bias`: `out`).
pub(crate) fn linear(in_dim: usize, out_dim: usize, start: Start, vb: VarBuilder) -> Result<Linear> {
    let init = start.init(in_dim);
    let w = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let b = vb.get_with_hints(out_dim, "bias", init)?;
    Ok(Linear::new(w, Some(b)))
}

/// A `k x k` 2-D convolution with `padding = k / 2` and the given stride.
pub(crate) fn conv2d(
    in_ch: usize,
    out_ch: usize,
    k: usize,
    stride: usize,
    start: Start,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let init = start.init(in_ch * k * k);
    let w = vb.get_with_hints((out_ch, in_ch, k, k), "weight", init)?;
    let b = vb.get_with_hints(out_ch, "bias", init)?;
    Ok(Conv2d::new(w, Some(b), Conv2dConfig { padding: k / 2, stride, ..Default::default() }))
}

/// Group normalisation over `groups` groups of `channels` (eps `1e-5`, as PyTorch).
pub(crate) fn group_norm(groups: usize, channels: usize, vb: VarBuilder) -> Result<GroupNorm> {
    let w = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
    let b = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
    GroupNorm::new(w, b, channels, groups, 1e-5)
}

/// SELU (Klambauer et al. 2017): `lambda * elu(x, alpha)`, the activation of the official MLP.
pub(crate) fn selu(x: &Tensor) -> Result<Tensor> {
    const ALPHA: f64 = 1.673_263_242_354_377_3;
    const LAMBDA: f64 = 1.050_700_987_355_480_5;
    x.elu(ALPHA)?.affine(LAMBDA, 0.0)
}

/// Sinusoidal embedding of times `t` (shape `[B]`) into `dim` features, as the guided-diffusion
/// and torchcfm U-Nets: with `half = dim / 2` and `f_k = exp(-ln(10000) k / half)`,
/// `emb(t) = [cos(scale t f_0..), sin(scale t f_0..)]` (a zero column when `dim` is odd).
pub(crate) fn timestep_embedding(t: &Tensor, dim: usize, scale: f64) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> =
        (0..half).map(|k| (scale * (-(10_000f64.ln()) * k as f64 / half as f64).exp()) as f32).collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t.unsqueeze(1)?.broadcast_mul(&freqs)?;
    let mut parts = vec![args.cos()?, args.sin()?];
    if dim % 2 == 1 {
        parts.push(Tensor::zeros((t.dim(0)?, 1), t.dtype(), t.device())?);
    }
    Tensor::cat(&parts, D::Minus1)
}

/// Elements of a dropout mask drawn from one derived stream (masks are drawn in parallel).
const MASK_CHUNK: usize = 1 << 15;

/// Inverted dropout with rate `p` whose masks come from our streams: during training, element
/// `e` is kept when the 16-bit word drawn for it is at least `round(p 2^16)` (so `p` is
/// quantised to multiples of `2^-16`) and kept elements are scaled by `1 / (1 - p_q)`. The mask
/// of a forward pass is a function of the step's dropout stream and the layer's name only.
#[derive(Clone, Debug)]
pub(crate) struct Dropout {
    p: f64,
    name: String,
}

impl Dropout {
    pub(crate) fn new(p: f64, name: String) -> Self {
        Self { p, name }
    }

    /// Applies dropout when `stream` is given (training), identity otherwise.
    pub(crate) fn forward(&self, x: &Tensor, stream: Option<&Stream>) -> Result<Tensor> {
        let threshold = (self.p * 65_536.0).round() as u32;
        match stream {
            Some(s) if threshold > 0 => {
                let keep = 1.0 - threshold as f64 / 65_536.0;
                let mask = mask(x.elem_count(), threshold, (1.0 / keep) as f32, &s.derive(&self.name));
                x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
            }
            _ => Ok(x.clone()),
        }
    }
}

/// `n` mask values (`0` or `scale`), chunk `c` drawn from `stream.derive_index(c)`.
fn mask(n: usize, threshold: u32, scale: f32, stream: &Stream) -> Vec<f32> {
    let mut out = vec![0f32; n];
    out.par_chunks_mut(MASK_CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut s = stream.derive_index(c as u64);
        for quad in chunk.chunks_mut(4) {
            let bits = s.next_u64();
            for (i, v) in quad.iter_mut().enumerate() {
                let word = ((bits >> (16 * i)) & 0xffff) as u32;
                *v = if word >= threshold { scale } else { 0.0 };
            }
        }
    });
    out
}

/// Moves a host matrix to `device` as a `rows x cols` tensor.
pub(crate) fn to_tensor(m: &cfm_core::Matrix, device: &Device) -> Result<Tensor> {
    Tensor::from_slice(m.as_slice(), (m.rows(), m.cols()), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_keeps_the_expected_fraction_and_is_reproducible() {
        let d = Dropout::new(0.1, "layer".into());
        let x = Tensor::ones((100, 1000), candle_core::DType::F32, &Device::Cpu).unwrap();
        let s = Stream::new(3);
        let a: Vec<f32> = d.forward(&x, Some(&s)).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = d.forward(&x, Some(&s)).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b);
        let kept = a.iter().filter(|&&v| v > 0.0).count() as f64 / a.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        let eval: Vec<f32> = d.forward(&x, None).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(eval.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn embedding_matches_the_formula() {
        let t = Tensor::new(&[0.0f32, 0.3], &Device::Cpu).unwrap();
        let e = timestep_embedding(&t, 5, 1.0).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(e[0], vec![1.0, 1.0, 0.0, 0.0, 0.0]);
        let f1 = (-(10_000f64.ln()) / 2.0).exp();
        assert!((e[1][1] as f64 - (0.3 * f1).cos()).abs() < 1e-6);
        assert!((e[1][2] as f64 - 0.3f64.sin()).abs() < 1e-6);
        assert_eq!(e[1][4], 0.0);
    }
}
