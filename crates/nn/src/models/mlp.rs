//! The MLP velocity network for low-dimensional and flattened data, with its forward and
//! backward passes written out on flat `f32` buffers.
//!
//! Input `z = [x, t, emb(t)]` (`emb`: `time_dim` sinusoidal features of `1000 t`, none when
//! `time_dim = 0`, which is the official toy model's plain `[x, t]`), then `depth` hidden layers
//! `a_l = SELU(W_l a_{l-1} + b_l)` of `width` units, then a linear layer back to dimension `d`:
//!
//! ```text
//! h_l = a_{l-1} W_l^T + b_l      (a_0 = z; batch rows, W_l: out x in)
//! a_l = SELU(h_l) = lambda h_l (h_l > 0),  lambda alpha (e^{h_l} - 1) (h_l <= 0),   l < L
//! y   = h_L
//! ```
//!
//! Backward, from `g_L = dLoss/dy`: `dW_l = g_l^T a_{l-1}`, `db_l = sum_rows g_l`,
//! `g_{l-1} = (g_l W_l) * SELU'(h_{l-1})` with `SELU'(h) = lambda` for `h > 0` and
//! `lambda alpha e^h = a + lambda alpha` otherwise (so only the activations are kept).
//!
//! Why not candle's autograd: at these sizes (batch 128, 256 units) a training step is a few
//! hundred microseconds of matrix products, and candle's per-operation dispatch, allocation and
//! its optimiser made of many small tensor operations cost several times that (measured in the
//! `training` bench). Here every buffer is allocated once, the products go straight to the
//! `gemm` crate ([`cfm_core::matrix`]), bias, activation and time features are fused loops, and
//! the optimiser updates flat buffers ([`crate::adam`]). The passes are checked against candle's
//! autograd in the tests. `exp`, `sin` and `cos` come from the `libm` crate, so the network
//! computes the same numbers on every machine.
//!
//! Parameters are named as candle's `Linear` layers (`layers.{i}.weight`: `out x in`,
//! `layers.{i}.bias`), initialised from those names ([`crate::init`]), and stored flat, layer by
//! layer, weight then bias.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use cfm_core::matrix::{gemm_nn, gemm_nt, gemm_tn};
use serde::{Deserialize, Serialize};

use super::layers::fan_in_uniform;

/// Size of an [`Mlp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Units per hidden layer.
    pub width: usize,
    /// Number of hidden layers.
    pub depth: usize,
    /// Sinusoidal time features appended to `[x, t]` (0: none).
    pub time_dim: usize,
}

impl MlpConfig {
    /// The official two-dimensional toy model: `[x, t]`, 2 hidden layers of 64 SELU units.
    pub fn toy() -> Self {
        Self { width: 64, depth: 2, time_dim: 0 }
    }

    /// For digits-size data (`d = 64`): 3 hidden layers of 256 units, 32 time features.
    pub fn digits() -> Self {
        Self { width: 256, depth: 3, time_dim: 32 }
    }

    /// Layer sizes `[in, width, ..., width, d]` for data of dimension `d`.
    fn sizes(&self, d: usize) -> Vec<usize> {
        let mut sizes = vec![d + 1 + self.time_dim];
        sizes.extend(std::iter::repeat_n(self.width, self.depth));
        sizes.push(d);
        sizes
    }

    /// Number of parameters for data of dimension `d`.
    pub fn param_count(&self, d: usize) -> usize {
        self.sizes(d).windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }
}

/// Time is scaled by this factor before the sinusoidal embedding (the DDPM step convention),
/// so that the features span frequencies from `1000` down to about `0.1` radians per unit time.
const TIME_SCALE: f64 = 1000.0;

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_LAMBDA: f32 = 1.050_701;

/// The MLP: its sizes and its parameters, flat.
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    time_dim: usize,
    /// `f_k` of the time features, `scale exp(-ln(10000) k / half)`.
    freqs: Vec<f32>,
    params: Vec<f32>,
}

/// Where a layer's weight and bias sit in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
struct Slot {
    input: usize,
    output: usize,
    weight: usize,
    bias: usize,
}

/// Buffers of the passes for up to `rows` inputs, allocated once and reused.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// Rows the buffers hold.
    rows: usize,
    /// Rows of the last forward pass.
    used: usize,
    /// `a_0 = z`, then the activation of every layer (the last is the output `y`).
    acts: Vec<Vec<f32>>,
    /// Two gradient buffers of the widest layer, swapped layer by layer.
    grad: [Vec<f32>; 2],
}

impl Mlp {
    /// Builds the network for data of dimension `d`, its variables `layers.{i}.weight|bias`
    /// coming from `vb` (drawn from our seeded streams for a fresh run, or saved values).
    pub(crate) fn new(cfg: &MlpConfig, d: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let sizes = cfg.sizes(d);
        let mut params = Vec::with_capacity(cfg.param_count(d));
        for (i, w) in sizes.windows(2).enumerate() {
            let init = fan_in_uniform(w[0]);
            let vb = vb.pp(format!("layers.{i}"));
            params.extend(vb.get_with_hints((w[1], w[0]), "weight", init)?.flatten_all()?.to_vec1::<f32>()?);
            params.extend(vb.get_with_hints(w[1], "bias", init)?.to_vec1::<f32>()?);
        }
        let half = cfg.time_dim / 2;
        let freqs = (0..half)
            .map(|k| (TIME_SCALE * libm::exp(-libm::log(10_000.0) * k as f64 / half as f64)) as f32)
            .collect();
        Ok(Self { sizes, time_dim: cfg.time_dim, freqs, params })
    }

    /// Data dimension `d`.
    pub fn dim(&self) -> usize {
        *self.sizes.last().expect("at least one layer")
    }

    /// The flat parameters (layer by layer, weight then bias).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The flat parameters, for the optimiser.
    pub(crate) fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    fn slots(&self) -> Vec<Slot> {
        let mut at = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let s = Slot { input: w[0], output: w[1], weight: at, bias: at + w[0] * w[1] };
                at = s.bias + w[1];
                s
            })
            .collect()
    }

    /// The parameters as named tensors (`layers.{i}.weight`, `layers.{i}.bias`), from `flat`
    /// (these parameters, or an average of them in the same layout).
    pub(crate) fn tensors(
        &self,
        flat: &[f32],
        device: &Device,
    ) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (i, s) in self.slots().into_iter().enumerate() {
            let w = &flat[s.weight..s.weight + s.input * s.output];
            out.push((format!("layers.{i}.weight"), Tensor::from_slice(w, (s.output, s.input), device)?));
            let b = &flat[s.bias..s.bias + s.output];
            out.push((format!("layers.{i}.bias"), Tensor::from_slice(b, s.output, device)?));
        }
        Ok(out)
    }

    /// The flat vector (this network's layout) of the tensors `{prefix}layers.{i}.weight|bias`
    /// of `map`, or a message naming the one that is missing or misshapen.
    pub(crate) fn flatten_named(
        &self,
        map: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(self.params.len());
        for (i, s) in self.slots().into_iter().enumerate() {
            for (part, len) in [("weight", s.input * s.output), ("bias", s.output)] {
                let key = format!("{prefix}layers.{i}.{part}");
                let t = map.get(&key).ok_or_else(|| format!("no tensor {key}"))?;
                let v =
                    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| format!("{key}: {e}"))?;
                if v.len() != len {
                    return Err(format!("{key} has {} values, {len} expected", v.len()));
                }
                out.extend(v);
            }
        }
        Ok(out)
    }

    /// The input rows `z = [x, t, emb(t)]` of `x` (`rows x d`) at times `t`.
    fn input(&self, x: &[f32], t: &[f32], z: &mut [f32]) {
        let (d, width) = (self.dim(), self.sizes[0]);
        let half = self.freqs.len();
        for (b, zr) in z.chunks_exact_mut(width).enumerate().take(t.len()) {
            zr[..d].copy_from_slice(&x[b * d..(b + 1) * d]);
            zr[d] = t[b];
            for (k, &f) in self.freqs.iter().enumerate() {
                let a = t[b] * f;
                zr[d + 1 + k] = libm::cosf(a);
                zr[d + 1 + half + k] = libm::sinf(a);
            }
            if self.time_dim % 2 == 1 {
                zr[width - 1] = 0.0;
            }
        }
    }

    /// The forward pass over `x` (`rows x d`, row-major) at times `t`; returns `y` (`rows x d`),
    /// which stays in `ws` with the activations for [`Mlp::backward`].
    pub fn forward<'w>(&self, x: &[f32], t: &[f32], ws: &'w mut Workspace) -> &'w [f32] {
        let rows = t.len();
        assert_eq!(x.len(), rows * self.dim(), "x has {} values for {rows} rows", x.len());
        ws.reserve(&self.sizes, rows);
        self.input(x, t, &mut ws.acts[0]);
        let slots = self.slots();
        let last = slots.len() - 1;
        for (l, s) in slots.iter().enumerate() {
            let (before, after) = ws.acts.split_at_mut(l + 1);
            let (prev, h) = (&before[l][..rows * s.input], &mut after[0][..rows * s.output]);
            let bias = &self.params[s.bias..s.bias + s.output];
            h.chunks_exact_mut(s.output).for_each(|r| r.copy_from_slice(bias));
            let w = &self.params[s.weight..s.weight + s.input * s.output];
            gemm_nt(rows, s.output, s.input, prev, w, h, true, true);
            if l < last {
                h.iter_mut().for_each(|v| *v = selu(*v));
            }
        }
        &ws.acts[slots.len()][..rows * self.dim()]
    }

    /// The backward pass of the last [`Mlp::forward`] in `ws`: from `dy = dLoss/dy` (`rows x d`)
    /// writes `dLoss/dparams` into `grads` (same layout as the parameters; overwritten).
    pub fn backward(&self, dy: &[f32], ws: &mut Workspace, grads: &mut [f32]) {
        let rows = ws.rows_used(self.dim(), dy.len());
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        let slots = self.slots();
        let [g, next] = &mut ws.grad;
        g[..dy.len()].copy_from_slice(dy);
        for (l, s) in slots.iter().enumerate().rev() {
            let gl = &g[..rows * s.output];
            let prev = &ws.acts[l][..rows * s.input];
            gemm_tn(s.output, s.input, rows, gl, prev, &mut grads[s.weight..s.bias], false, true);
            let db = &mut grads[s.bias..s.bias + s.output];
            db.iter_mut().for_each(|v| *v = 0.0);
            for r in gl.chunks_exact(s.output) {
                db.iter_mut().zip(r).for_each(|(a, &v)| *a += v);
            }
            if l == 0 {
                break;
            }
            let w = &self.params[s.weight..s.weight + s.input * s.output];
            let ga = &mut next[..rows * s.input];
            gemm_nn(rows, s.input, s.output, gl, w, ga, false, true);
            ga.iter_mut().zip(prev).for_each(|(v, &a)| *v *= selu_grad(a));
            std::mem::swap(g, next);
        }
    }

    /// `y` for `x` (`rows x d`) at times `t`, in chunks of `chunk` rows through one workspace.
    pub fn evaluate(&self, x: &[f32], t: &[f32], chunk: usize) -> Vec<f32> {
        let d = self.dim();
        let mut ws = Workspace::default();
        let mut out = Vec::with_capacity(x.len());
        for (xs, ts) in x.chunks(chunk * d).zip(t.chunks(chunk)) {
            out.extend_from_slice(self.forward(xs, ts, &mut ws));
        }
        out
    }

    /// `v(x, t)` for tensors `x`: `[B, d]`, `t`: `[B]` (computed on the host).
    pub(crate) fn forward_tensor(&self, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let ts = t.to_vec1::<f32>()?;
        let y = self.evaluate(&xs, &ts, 4096);
        Tensor::from_vec(y, (ts.len(), self.dim()), x.device())
    }
}

impl Workspace {
    /// Makes room for `rows` inputs of a network of layer sizes `sizes`.
    fn reserve(&mut self, sizes: &[usize], rows: usize) {
        if self.acts.len() != sizes.len() || self.rows < rows {
            self.acts = sizes.iter().map(|&s| vec![0.0; rows * s]).collect();
            let widest = sizes.iter().copied().max().unwrap_or(0);
            self.grad = [vec![0.0; rows * widest], vec![0.0; rows * widest]];
            self.rows = rows;
        }
        self.used = rows;
    }

    fn rows_used(&self, d: usize, dy_len: usize) -> usize {
        assert_eq!(dy_len, self.used * d, "dy does not match the last forward pass");
        self.used
    }
}

/// SELU (Klambauer et al. 2017): `lambda * elu(x, alpha)`, the activation of the official MLP.
/// Branch-free, so that the loop over a layer vectorises.
fn selu(x: f32) -> f32 {
    let negative = SELU_LAMBDA * SELU_ALPHA * (exp_nonpositive(x.min(0.0)) - 1.0);
    if x > 0.0 { SELU_LAMBDA * x } else { negative }
}

/// `e^x` for `x <= 0`, within 3 ulp: `x = k ln 2 + r` with `|r| <= ln 2 / 2` (`k` rounded to
/// nearest by the `1.5 2^23` trick, `ln 2` split in two for an exact `k ln 2`), `e^r` by its
/// degree-6 Taylor polynomial (truncation below `|r|^7 / 7! < 2e-7`), times `2^k` built from
/// the exponent bits. Plain `f32` additions and products only, so the same bits on every
/// machine; below `-87` (where `e^x < 2^-125`) it returns `e^-87`.
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.max(-87.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_k = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * two_k
}

/// `SELU'(h)` from `a = SELU(h)`.
fn selu_grad(a: f32) -> f32 {
    if a > 0.0 { SELU_LAMBDA } else { a + SELU_LAMBDA * SELU_ALPHA }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};
    use candle_nn::VarMap;
    use cfm_core::Stream;

    use super::*;
    use crate::init::{seeded_builder, sorted_vars};

    fn build(cfg: &MlpConfig, d: usize) -> (Mlp, VarMap) {
        let map = VarMap::new();
        let net = Mlp::new(cfg, d, seeded_builder(&map, Some(Stream::new(0)), &Device::Cpu)).unwrap();
        (net, map)
    }

    #[test]
    fn the_exponential_is_accurate_to_three_ulp() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f64 / 200_000.0;
            let (got, want) = (exp_nonpositive(x as f32) as f64, (x as f32 as f64).exp());
            worst = worst.max((got - want).abs() / (want * f32::EPSILON as f64));
        }
        assert!(worst <= 3.0, "largest error {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1000.0) > 0.0);
    }

    #[test]
    fn parameter_count_and_shapes() {
        for (cfg, d) in [
            (MlpConfig::toy(), 2),
            (MlpConfig::digits(), 64),
            (MlpConfig { width: 5, depth: 0, time_dim: 3 }, 4),
        ] {
            let (net, map) = build(&cfg, d);
            let count: usize = sorted_vars(&map).iter().map(|(_, v)| v.elem_count()).sum();
            assert_eq!(count, cfg.param_count(d), "{cfg:?}");
            assert_eq!(net.params().len(), count);
            let y = net.evaluate(&vec![0.0; 3 * d], &[0.0, 0.5, 0.9], 2);
            assert_eq!(y.len(), 3 * d);
        }
        assert_eq!(MlpConfig::toy().param_count(2), 3 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
    }

    /// The same network written with candle's operations, for its autograd.
    fn candle_forward(vars: &[(String, Var)], cfg: &MlpConfig, x: &Tensor, t: &Tensor) -> Tensor {
        let get = |n: &str| vars.iter().find(|(k, _)| k == n).unwrap().1.as_tensor().clone();
        let half = cfg.time_dim / 2;
        let freqs: Vec<f32> = (0..half)
            .map(|k| (TIME_SCALE * (-(10_000f64.ln()) * k as f64 / half as f64).exp()) as f32)
            .collect();
        let freqs = Tensor::from_vec(freqs, (1, half), &Device::Cpu).unwrap();
        let args = t.unsqueeze(1).unwrap().broadcast_mul(&freqs).unwrap();
        let mut parts = vec![x.clone(), t.unsqueeze(1).unwrap(), args.cos().unwrap(), args.sin().unwrap()];
        if cfg.time_dim % 2 == 1 {
            parts.push(Tensor::zeros((t.dim(0).unwrap(), 1), DType::F32, &Device::Cpu).unwrap());
        }
        let mut h = Tensor::cat(&parts, 1).unwrap();
        for i in 0..=cfg.depth {
            let w = get(&format!("layers.{i}.weight"));
            let b = get(&format!("layers.{i}.bias"));
            h = h.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
            if i < cfg.depth {
                h = h.elu(SELU_ALPHA as f64).unwrap().affine(SELU_LAMBDA as f64, 0.0).unwrap();
            }
        }
        h
    }

    #[test]
    fn forward_and_backward_match_candle_autograd() {
        let cfg = MlpConfig { width: 24, depth: 3, time_dim: 7 };
        let (d, rows) = (5, 9);
        let (net, map) = build(&cfg, d);
        let vars = sorted_vars(&map);
        let x: Vec<f32> = Stream::new(1).normal_vec(rows * d);
        let t: Vec<f32> = (0..rows).map(|i| i as f32 / rows as f32).collect();
        let target: Vec<f32> = Stream::new(2).normal_vec(rows * d);
        let mut ws = Workspace::default();
        let y = net.forward(&x, &t, &mut ws).to_vec();
        let xt = Tensor::from_slice(&x, (rows, d), &Device::Cpu).unwrap();
        let tt = Tensor::from_slice(&t, rows, &Device::Cpu).unwrap();
        let yc = candle_forward(&vars, &cfg, &xt, &tt);
        for (a, b) in y.iter().zip(yc.flatten_all().unwrap().to_vec1::<f32>().unwrap()) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // Loss mean((y - target)^2): dy = 2 (y - target) / (rows d).
        let scale = 2.0 / (rows * d) as f32;
        let dy: Vec<f32> = y.iter().zip(&target).map(|(a, b)| scale * (a - b)).collect();
        let mut grads = vec![0.0; net.params().len()];
        net.backward(&dy, &mut ws, &mut grads);
        let tgt = Tensor::from_slice(&target, (rows, d), &Device::Cpu).unwrap();
        let loss = yc.sub(&tgt).unwrap().sqr().unwrap().mean_all().unwrap();
        let store = loss.backward().unwrap();
        let named = net.tensors(&grads, &Device::Cpu).unwrap();
        for (name, g) in named {
            let var = &vars.iter().find(|(k, _)| *k == name).unwrap().1;
            let want = store.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let got = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let norm = want.iter().map(|v| v * v).sum::<f32>().sqrt();
            let err = got.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
            assert!(err <= 1e-4 * norm + 1e-7, "{name}: error {err} of norm {norm}");
        }
    }
}
