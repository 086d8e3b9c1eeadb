//! The U-Net velocity network for images: the guided-diffusion architecture as wrapped by
//! torchcfm's `UNetModelWrapper`, which the paper trains on CIFAR-10, CelebA and (Fashion-)MNIST.
//!
//! - Time: `emb = W2 SiLU(W1 e(t))` with `e` the sinusoidal embedding of `t` (unscaled, as
//!   torchcfm) into `channels` features and `emb` of `4 channels`.
//! - Encoder: a 3x3 convolution to `channels`, then per level `l` (multiplier `m_l`)
//!   `res_blocks` residual blocks to `m_l channels` (each followed by self-attention when the
//!   feature map side is in `attention_resolutions`) and, except at the last level, a stride-2
//!   3x3 convolution. Every block output is kept for a skip connection.
//! - Middle: residual block, attention, residual block.
//! - Decoder: per level in reverse, `res_blocks + 1` residual blocks on `[h, skip]`
//!   (concatenated channels), attention as in the encoder, and, except at level 0, nearest
//!   upsampling by 2 followed by a 3x3 convolution.
//! - Output: GroupNorm, SiLU, 3x3 convolution back to the image channels (zero-initialised).
//!
//! Residual block: `h = conv(SiLU(GN(x))) + W SiLU(emb)` (broadcast over pixels), then
//! `h = conv0(dropout(SiLU(GN(h))))`, output `skip(x) + h` with `skip` the identity or a 1x1
//! convolution when channels change; `conv0` starts at zero. Attention: GroupNorm, a 1x1
//! projection to `q, k, v` (split per head first, torchcfm's legacy order), softmax attention
//! over pixels with `q k^T / sqrt(head_channels)`, a zero-initialised 1x1 output projection and
//! a residual connection. GroupNorm has `groups` groups and eps `1e-5`.
//!
//! Attention placement: torchcfm's `attention_resolutions="16"` means a downsampling rate of
//! `image_size / 16`; here the sides of the feature maps are listed directly, which is the same
//! for 32x32 images (attention at 16x16) and says what it means for other sizes.

use candle_core::{D, Result, Tensor};
use candle_nn::{Conv2d, GroupNorm, Linear, Module, VarBuilder};
use cfm_core::Stream;
use serde::{Deserialize, Serialize};

use super::ImageShape;
use super::layers::{Dropout, Start, conv2d, group_norm, linear, timestep_embedding};

/// Size and shape of a [`UNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    /// Base channel count (`num_channels`).
    pub channels: usize,
    /// Channel multiplier per resolution level.
    pub channel_mult: Vec<usize>,
    /// Residual blocks per level in the encoder (the decoder has one more).
    pub res_blocks: usize,
    /// Feature-map sides (e.g. `[16]`) at which attention follows the residual blocks.
    pub attention_resolutions: Vec<usize>,
    /// Channels per attention head (the number of heads is `channels / head_channels`); 0: one
    /// head per attention, whatever its channels (torchcfm's `num_heads = 1`,
    /// `num_head_channels = -1`).
    pub head_channels: usize,
    /// Dropout rate inside the residual blocks.
    pub dropout: f64,
    /// GroupNorm groups.
    pub groups: usize,
}

impl UNetConfig {
    /// The paper's CIFAR-10 model (35,746,307 parameters at 3x32x32, as torchcfm's): 128
    /// channels, multipliers `[1, 2, 2, 2]`, 2 residual blocks, attention at 16x16 with 64
    /// channels per head, dropout 0.1.
    pub fn paper() -> Self {
        Self {
            channels: 128,
            channel_mult: vec![1, 2, 2, 2],
            res_blocks: 2,
            attention_resolutions: vec![16],
            head_channels: 64,
            dropout: 0.1,
            groups: 32,
        }
    }

    /// torchcfm's MNIST example, `UNetModelWrapper(dim=(1, 28, 28), num_channels=32,
    /// num_res_blocks=1)`, which the paper trains for Tables 1-2 (App. C): multipliers
    /// `[1, 2, 2]` (its default at 28 pixels), attention at 28x28 (`attention_resolutions="16"`
    /// is the downsampling rate `28 / 16 = 1`) and in the middle, one head, no dropout.
    pub fn mnist() -> Self {
        Self {
            channels: 32,
            channel_mult: vec![1, 2, 2],
            res_blocks: 1,
            attention_resolutions: vec![28],
            head_channels: 0,
            dropout: 0.0,
            groups: 32,
        }
    }

    /// A CPU-sized model for 28x28 or 32x32 images (367,129 parameters at 1x28x28): 24
    /// channels, multipliers `[1, 2]`, one residual block, attention only in the middle (two
    /// heads), no dropout.
    pub fn small() -> Self {
        Self {
            channels: 24,
            channel_mult: vec![1, 2],
            res_blocks: 1,
            attention_resolutions: vec![],
            head_channels: 24,
            dropout: 0.0,
            groups: 8,
        }
    }

    /// A test-sized model for 8x8 images: 8 channels, multipliers `[1, 2]`, one residual
    /// block, attention at 4x4.
    pub fn tiny() -> Self {
        Self {
            channels: 8,
            channel_mult: vec![1, 2],
            res_blocks: 1,
            attention_resolutions: vec![4],
            head_channels: 8,
            dropout: 0.0,
            groups: 4,
        }
    }

    /// Checks that the model can be built for `image`; the message names the offending field.
    pub fn validate(&self, image: ImageShape) -> std::result::Result<(), String> {
        let levels = self.channel_mult.len();
        if self.channels == 0 || levels == 0 || self.channel_mult.contains(&0) || self.res_blocks == 0 {
            return Err(format!(
                "U-Net needs channels >= 1, a non-empty channel_mult of positive values and res_blocks >= 1, got {self:?}"
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("U-Net dropout must lie in [0, 1), got {}", self.dropout));
        }
        let factor = 1 << (levels - 1);
        if !image.height.is_multiple_of(factor) || !image.width.is_multiple_of(factor) || image.channels == 0
        {
            return Err(format!(
                "a U-Net with {levels} levels halves the image {} times: height and width must be multiples of {factor}, got {}x{}",
                levels - 1,
                image.height,
                image.width
            ));
        }
        for (l, &m) in self.channel_mult.iter().enumerate() {
            let ch = m * self.channels;
            if self.groups == 0 || !ch.is_multiple_of(self.groups) {
                return Err(format!(
                    "U-Net groups = {} must divide the {ch} channels of level {l}",
                    self.groups
                ));
            }
            let attends = self.attends(image.height >> l) || l + 1 == levels;
            if attends && self.head_channels > 0 && !ch.is_multiple_of(self.head_channels) {
                return Err(format!(
                    "U-Net head_channels = {} must divide the {ch} channels of attention at level {l}",
                    self.head_channels
                ));
            }
        }
        Ok(())
    }

    fn attends(&self, side: usize) -> bool {
        self.attention_resolutions.contains(&side)
    }

    /// Number of parameters for `image`, by the formula of the architecture: linear `i o + o`,
    /// `k x k` convolution `i o k^2 + o`, GroupNorm `2 c`, residual block
    /// `GN(i) + conv3(i, o) + lin(4C, o) + GN(o) + conv3(o, o) [+ conv1(i, o) if i != o]`,
    /// attention `GN(c) + lin(c, 3c) + lin(c, c)`.
    pub fn param_count(&self, image: ImageShape) -> usize {
        let conv = |i: usize, o: usize, k: usize| i * o * k * k + o;
        let lin = |i: usize, o: usize| i * o + o;
        let emb = 4 * self.channels;
        let res = |i: usize, o: usize| {
            2 * i
                + conv(i, o, 3)
                + lin(emb, o)
                + 2 * o
                + conv(o, o, 3)
                + if i != o { conv(i, o, 1) } else { 0 }
        };
        let attn = |c: usize| 2 * c + lin(c, 3 * c) + lin(c, c);
        let mut p = lin(self.channels, emb) + lin(emb, emb);
        let mut ch = self.channel_mult[0] * self.channels;
        p += conv(image.channels, ch, 3);
        let mut skips = vec![ch];
        let mut side = image.height;
        for (l, &m) in self.channel_mult.iter().enumerate() {
            for _ in 0..self.res_blocks {
                p += res(ch, m * self.channels);
                ch = m * self.channels;
                p += if self.attends(side) { attn(ch) } else { 0 };
                skips.push(ch);
            }
            if l + 1 < self.channel_mult.len() {
                p += conv(ch, ch, 3);
                skips.push(ch);
                side /= 2;
            }
        }
        p += 2 * res(ch, ch) + attn(ch);
        for (l, &m) in self.channel_mult.iter().enumerate().rev() {
            for i in 0..=self.res_blocks {
                let skip = skips.pop().expect("one skip per encoder block");
                p += res(ch + skip, m * self.channels);
                ch = m * self.channels;
                p += if self.attends(side) { attn(ch) } else { 0 };
                if l > 0 && i == self.res_blocks {
                    p += conv(ch, ch, 3);
                    side *= 2;
                }
            }
        }
        p + 2 * ch + conv(self.channels, image.channels, 3)
    }
}

/// Residual block with time conditioning.
#[derive(Clone, Debug)]
struct ResBlock {
    norm_in: GroupNorm,
    conv_in: Conv2d,
    emb: Linear,
    norm_out: GroupNorm,
    dropout: Dropout,
    conv_out: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(cfg: &UNetConfig, i: usize, o: usize, vb: VarBuilder) -> Result<Self> {
        let emb_ch = 4 * cfg.channels;
        Ok(Self {
            norm_in: group_norm(cfg.groups, i, vb.pp("in_layers.0"))?,
            conv_in: conv2d(i, o, 3, 1, Start::Default, vb.pp("in_layers.2"))?,
            emb: linear(emb_ch, o, Start::Default, vb.pp("emb_layers.1"))?,
            norm_out: group_norm(cfg.groups, o, vb.pp("out_layers.0"))?,
            dropout: Dropout::new(cfg.dropout, vb.pp("out_layers.2").prefix()),
            conv_out: conv2d(o, o, 3, 1, Start::Zero, vb.pp("out_layers.3"))?,
            skip: if i == o {
                None
            } else {
                Some(conv2d(i, o, 1, 1, Start::Default, vb.pp("skip_connection"))?)
            },
        })
    }

    fn forward(&self, x: &Tensor, emb: &Tensor, dropout: Option<&Stream>) -> Result<Tensor> {
        let h = self.conv_in.forward(&self.norm_in.forward(x)?.silu()?)?;
        let e = self.emb.forward(&emb.silu()?)?.unsqueeze(2)?.unsqueeze(3)?;
        let h = h.broadcast_add(&e)?;
        let h = self.dropout.forward(&self.norm_out.forward(&h)?.silu()?, dropout)?;
        let h = self.conv_out.forward(&h)?;
        match &self.skip {
            Some(s) => s.forward(x)? + h,
            None => x + h,
        }
    }
}

/// Multi-head self-attention over the pixels of a feature map.
#[derive(Clone, Debug)]
struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

impl Attention {
    fn new(cfg: &UNetConfig, c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: group_norm(cfg.groups, c, vb.pp("norm"))?,
            qkv: linear(c, 3 * c, Start::Default, vb.pp("qkv"))?,
            proj: linear(c, c, Start::Zero, vb.pp("proj_out"))?,
            heads: c.checked_div(cfg.head_channels).unwrap_or(1),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let (t, nh) = (h * w, self.heads);
        let ch = c / nh;
        let xs = x.reshape((b, c, t))?;
        let normed = self.norm.forward(&xs)?.transpose(1, 2)?.contiguous()?;
        // Channels of the projection are laid out (head, q|k|v, ch): the legacy split.
        let qkv = self.qkv.forward(&normed)?.reshape((b, t, nh, 3, ch))?;
        let part = |i: usize| -> Result<Tensor> {
            qkv.narrow(3, i, 1)?.squeeze(3)?.transpose(1, 2)?.contiguous()?.reshape((b * nh, t, ch))
        };
        let scale = 1.0 / (ch as f64).sqrt().sqrt();
        let (q, k, v) = (part(0)?.affine(scale, 0.0)?, part(1)?.affine(scale, 0.0)?, part(2)?);
        let weights = candle_nn::ops::softmax(&q.matmul(&k.t()?)?, D::Minus1)?;
        let a =
            weights.matmul(&v)?.reshape((b, nh, t, ch))?.transpose(1, 2)?.contiguous()?.reshape((b, t, c))?;
        let out = self.proj.forward(&a)?.transpose(1, 2)?.reshape((b, c, h, w))?;
        x + out
    }
}

/// One layer of a U-Net block.
#[derive(Clone, Debug)]
enum Layer {
    Conv(Conv2d),
    Res(Box<ResBlock>),
    Attn(Attention),
    /// Nearest-neighbour upsampling by 2, then a convolution.
    Up(Conv2d),
}

impl Layer {
    fn forward(&self, x: &Tensor, emb: &Tensor, dropout: Option<&Stream>) -> Result<Tensor> {
        match self {
            Layer::Conv(c) => c.forward(x),
            Layer::Res(r) => r.forward(x, emb, dropout),
            Layer::Attn(a) => a.forward(x),
            Layer::Up(c) => {
                let (_, _, h, w) = x.dims4()?;
                c.forward(&x.upsample_nearest2d(2 * h, 2 * w)?)
            }
        }
    }
}

/// A sequence of layers whose residual blocks receive the time embedding.
#[derive(Clone, Debug)]
struct Block(Vec<Layer>);

impl Block {
    fn forward(&self, x: &Tensor, emb: &Tensor, dropout: Option<&Stream>) -> Result<Tensor> {
        self.0.iter().try_fold(x.clone(), |h, layer| layer.forward(&h, emb, dropout))
    }
}

/// The U-Net velocity network on flattened `C x H x W` images.
#[derive(Clone, Debug)]
pub struct UNet {
    image: ImageShape,
    channels: usize,
    time: (Linear, Linear),
    input: Vec<Block>,
    middle: Block,
    output: Vec<Block>,
    out_norm: GroupNorm,
    out_conv: Conv2d,
}

impl UNet {
    /// Builds the network for `image` (see [`UNetConfig::validate`] for the constraints).
    pub(crate) fn new(cfg: &UNetConfig, image: ImageShape, vb: VarBuilder) -> Result<Self> {
        cfg.validate(image).map_err(candle_core::Error::msg)?;
        let mc = cfg.channels;
        let time = (
            linear(mc, 4 * mc, Start::Default, vb.pp("time_embed.0"))?,
            linear(4 * mc, 4 * mc, Start::Default, vb.pp("time_embed.2"))?,
        );
        let mut ch = cfg.channel_mult[0] * mc;
        let vin = vb.pp("input_blocks");
        let mut input =
            vec![Block(vec![Layer::Conv(conv2d(image.channels, ch, 3, 1, Start::Default, vin.pp("0.0"))?)])];
        let mut skips = vec![ch];
        let mut side = image.height;
        for (l, &m) in cfg.channel_mult.iter().enumerate() {
            for _ in 0..cfg.res_blocks {
                let vb = vin.pp(input.len());
                let mut layers = vec![Layer::Res(Box::new(ResBlock::new(cfg, ch, m * mc, vb.pp(0))?))];
                ch = m * mc;
                if cfg.attends(side) {
                    layers.push(Layer::Attn(Attention::new(cfg, ch, vb.pp(1))?));
                }
                input.push(Block(layers));
                skips.push(ch);
            }
            if l + 1 < cfg.channel_mult.len() {
                let down = conv2d(ch, ch, 3, 2, Start::Default, vin.pp(input.len()).pp("0.op"))?;
                input.push(Block(vec![Layer::Conv(down)]));
                skips.push(ch);
                side /= 2;
            }
        }
        let vm = vb.pp("middle_block");
        let middle = Block(vec![
            Layer::Res(Box::new(ResBlock::new(cfg, ch, ch, vm.pp(0))?)),
            Layer::Attn(Attention::new(cfg, ch, vm.pp(1))?),
            Layer::Res(Box::new(ResBlock::new(cfg, ch, ch, vm.pp(2))?)),
        ]);
        let vout = vb.pp("output_blocks");
        let mut output = Vec::new();
        for (l, &m) in cfg.channel_mult.iter().enumerate().rev() {
            for i in 0..=cfg.res_blocks {
                let vb = vout.pp(output.len());
                let skip = skips.pop().expect("one skip per encoder block");
                let mut layers = vec![Layer::Res(Box::new(ResBlock::new(cfg, ch + skip, m * mc, vb.pp(0))?))];
                ch = m * mc;
                if cfg.attends(side) {
                    layers.push(Layer::Attn(Attention::new(cfg, ch, vb.pp(layers.len()))?));
                }
                if l > 0 && i == cfg.res_blocks {
                    let conv = conv2d(ch, ch, 3, 1, Start::Default, vb.pp(layers.len()).pp("conv"))?;
                    layers.push(Layer::Up(conv));
                    side *= 2;
                }
                output.push(Block(layers));
            }
        }
        Ok(Self {
            image,
            channels: mc,
            time,
            input,
            middle,
            output,
            out_norm: group_norm(cfg.groups, ch, vb.pp("out.0"))?,
            out_conv: conv2d(mc, image.channels, 3, 1, Start::Zero, vb.pp("out.2"))?,
        })
    }

    /// `v(x, t)` for flattened images `x`: `[B, C H W]`, `t`: `[B]`; dropout is active when a
    /// stream is given.
    pub(crate) fn forward(&self, x: &Tensor, t: &Tensor, dropout: Option<&Stream>) -> Result<Tensor> {
        let b = x.dim(0)?;
        let ImageShape { channels, height, width } = self.image;
        let e = timestep_embedding(t, self.channels, 1.0)?;
        let emb = self.time.1.forward(&self.time.0.forward(&e)?.silu()?)?;
        let mut h = x.reshape((b, channels, height, width))?;
        let mut skips = Vec::with_capacity(self.input.len());
        for block in &self.input {
            h = block.forward(&h, &emb, dropout)?;
            skips.push(h.clone());
        }
        h = self.middle.forward(&h, &emb, dropout)?;
        for block in &self.output {
            let skip = skips.pop().expect("one skip per decoder block");
            h = block.forward(&Tensor::cat(&[&h, &skip], 1)?, &emb, dropout)?;
        }
        let out = self.out_conv.forward(&self.out_norm.forward(&h)?.silu()?)?;
        out.reshape((b, channels * height * width))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarMap;

    use super::*;
    use crate::init::{seeded_builder, sorted_vars};

    fn build(cfg: &UNetConfig, image: ImageShape) -> (UNet, VarMap) {
        let map = VarMap::new();
        let net = UNet::new(cfg, image, seeded_builder(&map, Some(Stream::new(0)), &Device::Cpu)).unwrap();
        (net, map)
    }

    fn count(map: &VarMap) -> usize {
        sorted_vars(map).iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn img(channels: usize, side: usize) -> ImageShape {
        ImageShape { channels, height: side, width: side }
    }

    #[test]
    fn parameter_count_follows_the_formula() {
        let deep = UNetConfig {
            channels: 8,
            channel_mult: vec![1, 2, 2],
            res_blocks: 2,
            attention_resolutions: vec![14, 7],
            head_channels: 8,
            dropout: 0.1,
            groups: 4,
        };
        for (cfg, image) in [
            (UNetConfig::tiny(), img(1, 8)),
            (UNetConfig::tiny(), img(3, 8)),
            (UNetConfig::small(), img(1, 28)),
            (UNetConfig::small(), img(3, 32)),
            (deep, img(1, 28)),
            (UNetConfig::mnist(), img(1, 28)),
        ] {
            let (_, map) = build(&cfg, image);
            assert_eq!(count(&map), cfg.param_count(image), "{cfg:?} on {image:?}");
        }
        assert_eq!(UNetConfig::small().param_count(img(1, 28)), 367_129);
    }

    /// torchcfm's `UNetModelWrapper(dim=(3, 32, 32), num_res_blocks=2, num_channels=128,
    /// channel_mult=[1, 2, 2, 2], num_head_channels=64, attention_resolutions="16")` has
    /// 35,746,307 parameters (the paper's "34M" = that count / 2^20).
    #[test]
    fn paper_model_has_the_torchcfm_parameter_count() {
        let (cfg, image) = (UNetConfig::paper(), img(3, 32));
        assert_eq!(cfg.param_count(image), 35_746_307);
        let (_, map) = build(&cfg, image);
        assert_eq!(count(&map), 35_746_307);
    }

    #[test]
    fn forward_and_backward_reach_every_parameter() {
        let image = img(3, 8);
        let (net, map) = build(&UNetConfig::tiny(), image);
        let x = Tensor::from_vec(Stream::new(1).normal_vec(4 * 192), (4, 192), &Device::Cpu).unwrap();
        let t = Tensor::new(&[0.1f32, 0.4, 0.7, 0.95], &Device::Cpu).unwrap();
        // Zero-initialised output layers: the untrained network is exactly zero.
        let out = net.forward(&x, &t, None).unwrap();
        assert_eq!(out.dims(), &[4, 192]);
        assert!(out.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| v == 0.0));
        // Give every variable a non-degenerate value, then every gradient must be non-zero.
        let mut s = Stream::new(2);
        for (_, v) in sorted_vars(&map) {
            let vals: Vec<f32> = (0..v.elem_count()).map(|_| s.uniform_in(-0.3, 0.3) as f32).collect();
            v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu).unwrap()).unwrap();
        }
        let out = net.forward(&x, &t, None).unwrap();
        let loss = out.sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        for (name, v) in sorted_vars(&map) {
            let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient norm {norm}");
        }
        assert_eq!(out.dtype(), DType::F32);
    }

    #[test]
    fn mnist_sized_images_go_through() {
        let cfg =
            UNetConfig { channel_mult: vec![1, 2, 2], attention_resolutions: vec![7], ..UNetConfig::tiny() };
        let (net, _) = build(&cfg, img(1, 28));
        let x = Tensor::zeros((2, 784), DType::F32, &Device::Cpu).unwrap();
        let t = Tensor::new(&[0.2f32, 0.8], &Device::Cpu).unwrap();
        assert_eq!(net.forward(&x, &t, None).unwrap().dims(), &[2, 784]);
    }

    #[test]
    fn impossible_shapes_name_the_field() {
        let err = UNetConfig::paper().validate(img(1, 28)).unwrap_err();
        assert!(err.contains("multiples of 8"), "{err}");
        let err = UNetConfig { groups: 3, ..UNetConfig::tiny() }.validate(img(1, 8)).unwrap_err();
        assert!(err.contains("groups = 3"), "{err}");
        let err = UNetConfig { head_channels: 5, ..UNetConfig::tiny() }.validate(img(1, 8)).unwrap_err();
        assert!(err.contains("head_channels = 5"), "{err}");
    }
}
