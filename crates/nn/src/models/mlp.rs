//! The MLP velocity network for low-dimensional and flattened data, with its forward and
//! backward passes written out on flat `f32` buffers.
//!
//! Input `z = [x, tau]` with `tau = [t, emb(t)]` (`emb`: `time_dim` sinusoidal features of
//! `1000 t`, none when `time_dim = 0`, which is the official toy model's plain `[x, t]`), then
//! `depth` hidden layers `a_l = SELU(W_l a_{l-1} + b_l)` of `width` units, then a linear layer
//! back to dimension `d`, plus, with the input skip, a per-coordinate gain `g(t)` times `x`:
//!
//! ```text
//! h_l = a_{l-1} W_l^T + b_l      (a_0 = z; batch rows, W_l: out x in)
//! a_l = SELU(h_l) = lambda h_l (h_l > 0),  lambda alpha (e^{h_l} - 1) (h_l <= 0),   l < L
//! y   = h_L + g(t) * x,   g(t) = tau W_s^T + b_s     (skip; g = 0 without it)
//! ```
//!
//! Why the skip: without it every output lies in the affine image of the last hidden layer, a
//! subspace of dimension at most `width`. The field a flow network must learn spans all of
//! `R^d` (`u*(x, 0) = mean - x`, and `u*` carries `-x / (1 - t)` along every path), so at
//! `width < d` such a network has an error floor (`E ||P_perp x||^2 = d - width` at `t = 0`
//! for `x ~ N(0, I)`) and its samples keep the source noise outside that subspace. With the
//! skip the Jacobian `dy/dx = diag(g(t)) + J_F` has rank `d` wherever no `g_j(t)` vanishes,
//! whatever the width: the network learns the field's part that is linear in `x`, close to
//! `a(t) I` outside the data's leading directions (EDM's `c_skip(t) x`, Karras et al. 2022,
//! with a gain learned per coordinate and per time instead of fixed), and the hidden layers
//! the rest. [`MlpConfig::check`] refuses a network that has neither the skip nor `width >= d`.
//!
//! Backward, from `g_L = dLoss/dy`: `dW_l = g_l^T a_{l-1}`, `db_l = sum_rows g_l`,
//! `g_{l-1} = (g_l W_l) * SELU'(h_{l-1})` with `SELU'(h) = lambda` for `h > 0` and
//! `lambda alpha e^h = a + lambda alpha` otherwise (so only the activations are kept); the skip:
//! `dW_s = (g_L * x)^T tau`, `db_s = sum_rows g_L * x`, and `dy/dx` adds `g_L * g(t)`.
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
//! `layers.{i}.bias`, and the skip's `skip.weight`: `d x (1 + time_dim)`, `skip.bias`),
//! initialised from those names (`crate::init`), and stored flat, layer by layer, weight then
//! bias, the skip last.

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
    /// The input skip `g(t) * x` added to the output (see the module doc). Absent from the
    /// configurations saved before it existed, which had none.
    #[serde(default)]
    pub skip: bool,
}

impl MlpConfig {
    /// The official two-dimensional toy model: `[x, t]`, 2 hidden layers of 64 SELU units, no
    /// skip (full rank at `d <= 64`).
    pub fn toy() -> Self {
        Self { width: 64, depth: 2, time_dim: 0, skip: false }
    }

    /// The image network of the CPU profiles: 3 hidden layers of 256 units, 32 time features,
    /// and the input skip, so that its outputs span `R^d` at any `d` (784 for 28x28 images).
    pub fn images() -> Self {
        Self { width: 256, depth: 3, time_dim: 32, skip: true }
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
        let skip = if self.skip { (2 + self.time_dim) * d } else { 0 };
        self.sizes(d).windows(2).map(|w| w[0] * w[1] + w[1]).sum::<usize>() + skip
    }

    /// Refuses a network whose outputs would be confined to a subspace of dimension below `d`:
    /// hidden layers narrower than `d` and no input skip. The message names the width, `d` and
    /// the fix.
    pub fn check(&self, d: usize) -> Result<(), String> {
        if self.depth > 0 && self.width == 0 {
            return Err("MLP width must be positive".into());
        }
        if self.depth > 0 && self.width < d && !self.skip {
            return Err(format!(
                "an MLP of width {w} without the input skip cannot represent a velocity field in dimension \
                 d = {d}: every output lies in a {w}-dimensional affine subspace of R^{d} (the field's -x term \
                 alone leaves an error floor of about {floor} at t = 0, and samples keep the source noise outside \
                 that subspace); enable the input skip (`skip: true`) or use a width of at least {d}",
                w = self.width,
                floor = d - self.width
            ));
        }
        Ok(())
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
    /// Whether `y` has the skip `g(t) * x`.
    skip: bool,
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
    /// The skip's `tau` rows (`rows x (1 + time_dim)`), gains `g(t)` and, in the backward
    /// pass, `dy * x` (both `rows x d`).
    tau: Vec<f32>,
    gain: Vec<f32>,
    gain_grad: Vec<f32>,
}

impl Mlp {
    /// Builds the network for data of dimension `d`, its variables `layers.{i}.weight|bias`
    /// coming from `vb` (drawn from our seeded streams for a fresh run, or saved values).
    pub(crate) fn new(cfg: &MlpConfig, d: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let half = cfg.time_dim / 2;
        let freqs = (0..half)
            .map(|k| (TIME_SCALE * libm::exp(-libm::log(10_000.0) * k as f64 / half as f64)) as f32)
            .collect();
        let mut net =
            Self { sizes: cfg.sizes(d), time_dim: cfg.time_dim, skip: cfg.skip, freqs, params: Vec::new() };
        let mut params = Vec::with_capacity(cfg.param_count(d));
        for (name, s) in net.slots() {
            let init = fan_in_uniform(s.input);
            let vb = vb.pp(name);
            params.extend(
                vb.get_with_hints((s.output, s.input), "weight", init)?.flatten_all()?.to_vec1::<f32>()?,
            );
            params.extend(vb.get_with_hints(s.output, "bias", init)?.to_vec1::<f32>()?);
        }
        net.params = params;
        Ok(net)
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

    /// Width of the skip's input `tau = [t, emb(t)]`.
    fn tau_width(&self) -> usize {
        1 + self.time_dim
    }

    /// Every linear map with its name prefix: the layers (`layers.{i}`), then the skip
    /// (`skip`, from `tau` to the `d` gains) when there is one.
    fn slots(&self) -> Vec<(String, Slot)> {
        let mut shapes: Vec<(String, usize, usize)> =
            self.sizes.windows(2).enumerate().map(|(i, w)| (format!("layers.{i}"), w[0], w[1])).collect();
        if self.skip {
            shapes.push(("skip".into(), self.tau_width(), self.dim()));
        }
        let mut at = 0;
        shapes
            .into_iter()
            .map(|(name, input, output)| {
                let s = Slot { input, output, weight: at, bias: at + input * output };
                at = s.bias + output;
                (name, s)
            })
            .collect()
    }

    /// The layers' slots, without the skip's.
    fn layer_slots(&self) -> Vec<Slot> {
        self.slots().into_iter().take(self.sizes.len() - 1).map(|(_, s)| s).collect()
    }

    /// The skip's slot, if any.
    fn skip_slot(&self) -> Option<Slot> {
        if self.skip { self.slots().last().map(|(_, s)| *s) } else { None }
    }

    /// The parameters as named tensors (`layers.{i}.weight|bias`, `skip.weight|bias`), from `flat`
    /// (these parameters, or an average of them in the same layout).
    pub(crate) fn tensors(
        &self,
        flat: &[f32],
        device: &Device,
    ) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (name, s) in self.slots() {
            let w = &flat[s.weight..s.weight + s.input * s.output];
            out.push((format!("{name}.weight"), Tensor::from_slice(w, (s.output, s.input), device)?));
            let b = &flat[s.bias..s.bias + s.output];
            out.push((format!("{name}.bias"), Tensor::from_slice(b, s.output, device)?));
        }
        Ok(out)
    }

    /// The flat vector (this network's layout) of the tensors `{prefix}layers.{i}.weight|bias`
    /// (and `{prefix}skip.weight|bias`)
    /// of `map`, or a message naming the one that is missing or misshapen.
    pub(crate) fn flatten_named(
        &self,
        map: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(self.params.len());
        for (name, s) in self.slots() {
            for (part, len) in [("weight", s.input * s.output), ("bias", s.output)] {
                let key = format!("{prefix}{name}.{part}");
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
        ws.reserve(&self.sizes, rows, self.skip_slot().map(|s| s.input));
        self.input(x, t, &mut ws.acts[0]);
        let slots = self.layer_slots();
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
        if let Some(s) = self.skip_slot() {
            let (d, width) = (self.dim(), self.sizes[0]);
            let (tau, gain) = (&mut ws.tau[..rows * s.input], &mut ws.gain[..rows * d]);
            for (tr, zr) in tau.chunks_exact_mut(s.input).zip(ws.acts[0].chunks_exact(width)) {
                tr.copy_from_slice(&zr[d..]);
            }
            let bias = &self.params[s.bias..s.bias + d];
            gain.chunks_exact_mut(d).for_each(|r| r.copy_from_slice(bias));
            gemm_nt(rows, d, s.input, tau, &self.params[s.weight..s.bias], gain, true, true);
            let y = &mut ws.acts[slots.len()][..rows * d];
            for ((yr, gr), xr) in y.chunks_exact_mut(d).zip(gain.chunks_exact(d)).zip(x.chunks_exact(d)) {
                yr.iter_mut().zip(gr).zip(xr).for_each(|((y, &g), &x)| *y += g * x);
            }
        }
        &ws.acts[slots.len()][..rows * self.dim()]
    }

    /// The backward pass of the last [`Mlp::forward`] in `ws`: from `dy = dLoss/dy` (`rows x d`)
    /// writes `dLoss/dparams` into `grads` (same layout as the parameters; overwritten).
    pub fn backward(&self, dy: &[f32], ws: &mut Workspace, grads: &mut [f32]) {
        self.backward_with_input(dy, ws, grads, None);
    }

    /// [`Mlp::backward`], and with `dx` also `dLoss/dx` (`rows x d`, overwritten): one row of
    /// the Jacobian `dy/dx` per unit vector `dy`.
    pub fn backward_with_input(
        &self,
        dy: &[f32],
        ws: &mut Workspace,
        grads: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let rows = ws.rows_used(self.dim(), dy.len());
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        let d = self.dim();
        if let Some(s) = self.skip_slot() {
            let x = &ws.acts[0];
            let gx = &mut ws.gain_grad[..rows * d];
            for (b, gr) in gx.chunks_exact_mut(d).enumerate() {
                let (dr, xr) = (&dy[b * d..(b + 1) * d], &x[b * self.sizes[0]..b * self.sizes[0] + d]);
                gr.iter_mut().zip(dr).zip(xr).for_each(|((g, &a), &b)| *g = a * b);
            }
            gemm_tn(
                d,
                s.input,
                rows,
                gx,
                &ws.tau[..rows * s.input],
                &mut grads[s.weight..s.bias],
                false,
                true,
            );
            let db = &mut grads[s.bias..s.bias + d];
            db.iter_mut().for_each(|v| *v = 0.0);
            for r in gx.chunks_exact(d) {
                db.iter_mut().zip(r).for_each(|(a, &v)| *a += v);
            }
        }
        let slots = self.layer_slots();
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
                if let Some(dx) = dx.take() {
                    let w = &self.params[s.weight..s.weight + s.input * s.output];
                    let ga = &mut next[..rows * s.input];
                    gemm_nn(rows, s.input, s.output, gl, w, ga, false, true);
                    for (b, out) in dx[..rows * d].chunks_exact_mut(d).enumerate() {
                        out.copy_from_slice(&ga[b * s.input..b * s.input + d]);
                        if self.skip {
                            let (gain, dr) = (&ws.gain[b * d..(b + 1) * d], &dy[b * d..(b + 1) * d]);
                            out.iter_mut().zip(gain).zip(dr).for_each(|((o, &g), &v)| *o += g * v);
                        }
                    }
                }
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
    /// Makes room for `rows` inputs of a network of layer sizes `sizes` (and `tau` of width
    /// `skip` for the skip, when there is one).
    fn reserve(&mut self, sizes: &[usize], rows: usize, skip: Option<usize>) {
        let d = *sizes.last().expect("at least one layer");
        let tau = skip.unwrap_or(0);
        if self.acts.len() != sizes.len()
            || self.rows < rows
            || self.tau.len() < rows * tau
            || (skip.is_some() && self.gain.len() < rows * d)
        {
            self.acts = sizes.iter().map(|&s| vec![0.0; rows * s]).collect();
            let widest = sizes.iter().copied().max().unwrap_or(0);
            self.grad = [vec![0.0; rows * widest], vec![0.0; rows * widest]];
            self.tau = vec![0.0; rows * tau];
            self.gain = if skip.is_some() { vec![0.0; rows * d] } else { Vec::new() };
            self.gain_grad = self.gain.clone();
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
            (MlpConfig::images(), 64),
            (MlpConfig::images(), 784),
            (MlpConfig { width: 5, depth: 0, time_dim: 3, skip: false }, 4),
            (MlpConfig { width: 5, depth: 1, time_dim: 3, skip: true }, 7),
        ] {
            let (net, map) = build(&cfg, d);
            let count: usize = sorted_vars(&map).iter().map(|(_, v)| v.elem_count()).sum();
            assert_eq!(count, cfg.param_count(d), "{cfg:?}");
            assert_eq!(net.params().len(), count);
            let y = net.evaluate(&vec![0.0; 3 * d], &[0.0, 0.5, 0.9], 2);
            assert_eq!(y.len(), 3 * d);
        }
        assert_eq!(MlpConfig::toy().param_count(2), 3 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
        let plain = MlpConfig { skip: false, ..MlpConfig::images() };
        assert_eq!(MlpConfig::images().param_count(784), plain.param_count(784) + 33 * 784 + 784);
    }

    #[test]
    fn a_network_narrower_than_d_without_the_skip_is_refused_with_the_fix() {
        let narrow = MlpConfig { skip: false, ..MlpConfig::images() };
        let err = narrow.check(784).unwrap_err();
        for part in ["width 256", "d = 784", "skip", "width of at least 784"] {
            assert!(err.contains(part), "{err}");
        }
        assert!(narrow.check(256).is_ok() && narrow.check(64).is_ok());
        assert!(MlpConfig::images().check(784).is_ok() && MlpConfig::images().check(3072).is_ok());
        assert!(MlpConfig { width: 5, depth: 0, time_dim: 0, skip: false }.check(784).is_ok());
    }

    /// The Jacobian `dy/dx` of `net` at `x` (one row per point of a batch of `d` copies, `t`
    /// each), through the network's own backward pass with `dy` the unit vectors.
    fn jacobian(net: &Mlp, x: &[f32], t: f32) -> nalgebra::DMatrix<f64> {
        let d = net.dim();
        let xs: Vec<f32> = (0..d).flat_map(|_| x.iter().copied()).collect();
        let mut ws = Workspace::default();
        net.forward(&xs, &vec![t; d], &mut ws);
        let mut eye = vec![0.0f32; d * d];
        (0..d).for_each(|j| eye[j * d + j] = 1.0);
        let (mut grads, mut dx) = (vec![0.0; net.params().len()], vec![0.0; d * d]);
        net.backward_with_input(&eye, &mut ws, &mut grads, Some(&mut dx));
        nalgebra::DMatrix::from_row_iterator(d, d, dx.iter().map(|&v| v as f64))
    }

    /// Numerical rank: singular values above `1e-6` times the largest.
    fn rank(j: &nalgebra::DMatrix<f64>) -> usize {
        let sv = j.clone().singular_values();
        let top = sv.max();
        sv.iter().filter(|&&v| v > 1e-6 * top).count()
    }

    #[test]
    fn the_jacobian_has_rank_d_with_the_skip_and_width_without_it() {
        let d = 300;
        let x = Stream::new(5).normal_vec(d);
        let (with, _) = build(&MlpConfig { width: 64, ..MlpConfig::images() }, d);
        let (without, _) = build(&MlpConfig { width: 64, skip: false, ..MlpConfig::images() }, d);
        for t in [0.0, 0.37, 0.9] {
            assert_eq!(rank(&jacobian(&with, &x, t)), d, "t = {t}");
            assert_eq!(rank(&jacobian(&without, &x, t)), 64, "t = {t}");
        }
        // The backward pass's Jacobian agrees with finite differences.
        let j = jacobian(&with, &x, 0.37);
        let mut ws = Workspace::default();
        let y0 = with.forward(&x, &[0.37], &mut ws).to_vec();
        for k in [0, 17, 299] {
            let mut xk = x.clone();
            xk[k] += 1e-2;
            let y1 = with.forward(&xk, &[0.37], &mut ws).to_vec();
            for i in [0, 5, k] {
                let fd = (y1[i] - y0[i]) as f64 / 1e-2;
                assert!(
                    (fd - j[(i, k)]).abs() < 2e-2 * (1.0 + j[(i, k)].abs()),
                    "({i}, {k}): {fd} vs {}",
                    j[(i, k)]
                );
            }
        }
    }

    /// Relative error `E ||y - u||^2 / E ||u||^2` of `net` trained with Adam on the affine field
    /// `u(x) = m - x`, `x ~ N(0, I)` at `t ~ U[0, 1)` (the closed form at `t = 0` for data of mean
    /// `m`), measured on fresh points.
    fn affine_fit(net: &mut Mlp, steps: u64) -> f64 {
        let (d, b) = (net.dim(), 128);
        let mut ms = Stream::new(9);
        let m: Vec<f32> = (0..d).map(|_| ms.uniform() as f32 - 0.5).collect();
        let target = |x: &[f32]| -> Vec<f32> {
            x.chunks_exact(d).flat_map(|r| r.iter().zip(&m).map(|(x, m)| m - x)).collect()
        };
        let mut adam =
            crate::adam::FlatAdam::new(net.params().len(), crate::adam::AdamConfig::plain(3e-3)).unwrap();
        let (mut ws, mut grads) = (Workspace::default(), vec![0.0; net.params().len()]);
        let s = Stream::new(10);
        for k in 0..steps {
            let x = s.derive_index(k).normal_vec_fast(b * d);
            let mut ts = s.derive("t").derive_index(k);
            let t: Vec<f32> = (0..b).map(|_| ts.uniform() as f32).collect();
            let u = target(&x);
            let y = net.forward(&x, &t, &mut ws);
            let dy: Vec<f32> = y.iter().zip(&u).map(|(y, u)| 2.0 * (y - u) / (b * d) as f32).collect();
            net.backward(&dy, &mut ws, &mut grads);
            adam.step(net.params_mut(), &grads, None);
        }
        let x = Stream::new(11).normal_vec_fast(1024 * d);
        let mut ts = Stream::new(12);
        let t: Vec<f32> = (0..1024).map(|_| ts.uniform() as f32).collect();
        let (u, y) = (target(&x), net.evaluate(&x, &t, 256));
        let err: f64 = y.iter().zip(&u).map(|(y, u)| ((y - u) as f64).powi(2)).sum();
        err / u.iter().map(|&u| (u as f64).powi(2)).sum::<f64>()
    }

    #[test]
    fn the_skip_network_fits_an_affine_field_in_d_784_where_a_narrow_one_cannot() {
        let d = 784;
        let (mut with, _) = build(&MlpConfig::images(), d);
        let (mut without, _) = build(&MlpConfig { skip: false, ..MlpConfig::images() }, d);
        // Floor of a rank-256 output: the part of -x outside its subspace, (d - 256) of the
        // E||u||^2 = d + ||m||^2 ~ d (1 + 1/12).
        let floor = (d - 256) as f64 / (d as f64 * (1.0 + 1.0 / 12.0));
        let fitted = affine_fit(&mut with, 1500);
        assert!(fitted < 0.01, "relative error {fitted}");
        let narrow = affine_fit(&mut without, 300);
        assert!(narrow > 0.95 * floor, "relative error {narrow}, floor {floor}");
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
        let tau = Tensor::cat(&parts[1..], 1).unwrap();
        let mut h = Tensor::cat(&parts, 1).unwrap();
        for i in 0..=cfg.depth {
            let w = get(&format!("layers.{i}.weight"));
            let b = get(&format!("layers.{i}.bias"));
            h = h.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
            if i < cfg.depth {
                h = h.elu(SELU_ALPHA as f64).unwrap().affine(SELU_LAMBDA as f64, 0.0).unwrap();
            }
        }
        if cfg.skip {
            let gain = tau
                .matmul(&get("skip.weight").t().unwrap())
                .unwrap()
                .broadcast_add(&get("skip.bias"))
                .unwrap();
            h = h.add(&gain.mul(x).unwrap()).unwrap();
        }
        h
    }

    #[test]
    fn forward_and_backward_match_candle_autograd() {
        let cfg = MlpConfig { width: 24, depth: 3, time_dim: 7, skip: true };
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
