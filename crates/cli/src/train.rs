//! `cfm train`: trains a network with CFM, EFM or OT-CFM on a built-in dataset (two-moons, the
//! digits), an image dataset found on disk (MNIST, Fashion-MNIST, CIFAR-10: looked up in
//! `--data-dir`, `$CFM_DATA_DIR`, `/usr/share/datasets`, checked against the published hashes)
//! or the user's own `.npy` / `.csv` points, and saves it (weights + card) in a directory that
//! `cfm sample --model DIR` reads. The network outputs the velocity, or predicts x1
//! (`--output x1`, u = (x1_hat - x) / (1 - t)), with the loss optionally weighted by (1 - t)^2
//! (`--rescaled`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cfm_core::datasets::{self, DataDirs, ImageData, ImageShape};
use cfm_core::efm::RefMode;
use cfm_core::{Matrix, Stream};
use cfm_nn::{
    AdamConfig, MlpConfig, ModelConfig, Output, RunOptions, Target, TrainConfig, TrainSet, UNetConfig,
};
use sha2::Digest;

/// Arguments of `cfm train`. A negative number given to a flag reaches our own check, not
/// clap's "unexpected argument".
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Training data: `two-moons`, `digits` (the 1500-image training split), `mnist`,
    /// `fashion-mnist`, `cifar10` (their training splits, pixels in [-1, 1]), or a .npy/.csv file.
    #[arg(long)]
    data: String,
    /// A directory with the image datasets (looked up before $CFM_DATA_DIR and
    /// /usr/share/datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Points of two-moons to generate.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Shape CxHxW of the rows of a data file, for --model unet (e.g. 1x28x28).
    #[arg(long)]
    image: Option<String>,
    /// Regression target: cfm, otcfm, efm:M (x1 plus M-1 references) or efm:M:official (the
    /// minibatch plus M extra references).
    #[arg(long, default_value = "cfm")]
    method: String,
    /// Optimiser steps.
    #[arg(long)]
    steps: u64,
    /// What the network outputs: the velocity, or a prediction of x1 (the official code's
    /// `decoupled`), whose velocity is (x1_hat - x) / (1 - t).
    #[arg(long, value_enum, default_value = "velocity")]
    output: OutputArg,
    /// Weight each sample's loss by (1 - t)^2 (the official code's `rescaled`; with `--output
    /// x1` the loss becomes ||x1_hat - x1||^2).
    #[arg(long)]
    rescaled: bool,
    /// Network: mlp or unet.
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Minibatch size (default: min(128, n), the official code's).
    #[arg(long)]
    batch: Option<usize>,
    /// Adam learning rate (no warm-up, no clipping; the paper's image settings are lr 2e-4 with
    /// 5000 warm-up steps and clipping at 1, used by `--paper-optimizer`).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Use the paper's optimiser settings (lr 2e-4, 5000 warm-up steps, clipping at 1).
    #[arg(long)]
    paper_optimizer: bool,
    /// Seed of weights and minibatches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory where the trained model is written.
    #[arg(long)]
    out: PathBuf,
    /// Checkpoint cache (an interrupted training resumes from it).
    #[arg(long, default_value = ".cfm-cache")]
    cache: PathBuf,
}

/// `--output`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputArg {
    /// The velocity u_theta(x, t).
    Velocity,
    /// A prediction of x1.
    X1,
}

impl From<OutputArg> for Output {
    fn from(o: OutputArg) -> Output {
        match o {
            OutputArg::Velocity => Output::Velocity,
            OutputArg::X1 => Output::X1,
        }
    }
}

/// Parses `cfm`, `otcfm`, `efm:M` (`efm:M:paper`) or `efm:M:official`.
pub fn parse_method(s: &str) -> Result<Target> {
    let parts: Vec<&str> = s.split(':').collect();
    Ok(match parts[..] {
        ["cfm"] => Target::Cfm,
        ["otcfm"] => Target::OtCfm,
        ["efm", m] | ["efm", m, "paper"] => Target::Efm { m: parse_m(m)?, refs: RefMode::Paper },
        ["efm", m, "official"] => Target::Efm { m: parse_m(m)?, refs: RefMode::Official },
        _ => bail!("--method {s}: use cfm, otcfm, efm:M or efm:M:official (e.g. efm:256)"),
    })
}

fn parse_m(m: &str) -> Result<usize> {
    m.parse().with_context(|| format!("--method efm:{m}: M must be a positive integer"))
}

fn parse_image(s: &str) -> Result<ImageShape> {
    let dims: Vec<usize> =
        s.split('x').map(|p| p.parse()).collect::<Result<_, _>>().with_context(|| format!("--image {s}"))?;
    match dims[..] {
        [c, h, w] => Ok(ImageShape::new(c, h, w)),
        _ => bail!("--image {s}: write the shape as CxHxW, e.g. 1x28x28"),
    }
}

/// `cfm train`.
pub fn train(a: &TrainArgs) -> Result<()> {
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        bail!("--lr {}: the learning rate must be a positive number (the paper's: 2e-4)", a.lr);
    }
    let target = parse_method(&a.method)?;
    let (points, image, identity): (Matrix, Option<ImageShape>, String) = match a.data.as_str() {
        "two-moons" => {
            let pts = datasets::two_moons(a.n, &mut Stream::new(a.seed).derive("data").derive("two-moons"));
            (pts, None, format!("two-moons n={} seed={}", a.n, a.seed))
        }
        "digits" => {
            let ds = datasets::digits();
            (ds.train, ds.image, "digits train split".to_string())
        }
        name if ImageData::parse(name).is_ok() => {
            let data = ImageData::parse(name)?;
            let ds = DataDirs::standard(a.data_dir.as_deref()).load(data, None).context("--data")?;
            (ds.train, ds.image, format!("{name} train split"))
        }
        path => {
            let p = PathBuf::from(path);
            let pts = cfm_core::io::read_matrix(&p).context("--data")?;
            let image = a.image.as_deref().map(parse_image).transpose()?;
            if let Some(s) = image
                && s.dim() != pts.cols()
            {
                bail!("--image {s} has {} values per image but --data rows have {}", s.dim(), pts.cols());
            }
            let bytes = std::fs::read(&p).with_context(|| format!("--data {path}"))?;
            let digest: String =
                sha2::Sha256::digest(&bytes)[..16].iter().map(|b| format!("{b:02x}")).collect();
            (pts, image, format!("file {path} {digest}"))
        }
    };
    let model = match a.model.as_str() {
        "mlp" if points.cols() <= 2 => ModelConfig::Mlp(MlpConfig::toy()),
        // The input skip keeps the outputs full rank at any d (width 256 < d from d = 257 on).
        "mlp" => ModelConfig::Mlp(MlpConfig::images()),
        "unet" => {
            let shape = image
                .context("--model unet needs image data: --data digits, or a file with --image CxHxW")?;
            let cfg = if shape.height < 16 { UNetConfig::tiny() } else { UNetConfig::small() };
            cfg.validate(shape).map_err(|e| anyhow::anyhow!("--model unet on {shape}: {e}"))?;
            ModelConfig::UNet(cfg)
        }
        other => bail!("--model {other}: use mlp or unet"),
    };
    let mut config = TrainConfig::paper(model, target, a.steps);
    config.batch_size = a.batch.unwrap_or_else(|| TrainConfig::paper_batch(points.rows()));
    config.seed = a.seed;
    config.output = a.output.into();
    config.rescaled = a.rescaled;
    if !a.paper_optimizer {
        config.adam = AdamConfig::plain(a.lr);
    }
    config.validate(points.rows())?;
    let set = TrainSet { points: &points, image, identity: &identity };
    let run = RunOptions { progress: true, ..RunOptions::default() };
    let trained = cfm_nn::train(&config, &set, &a.cache, &run)?;
    trained.save(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    let card = trained.card();
    let last = trained.losses().iter().rev().take(100).copied().collect::<Vec<f32>>();
    let mean_loss = last.iter().sum::<f32>() / last.len().max(1) as f32;
    eprintln!(
        "trained {} parameters for {} steps on {} points of dimension {}; mean loss of the last 100 steps {mean_loss:.4}; saved to {}",
        card.params,
        card.steps,
        card.n_train,
        card.dim,
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse() {
        assert_eq!(parse_method("cfm").unwrap(), Target::Cfm);
        assert_eq!(parse_method("otcfm").unwrap(), Target::OtCfm);
        assert_eq!(parse_method("efm:256").unwrap(), Target::Efm { m: 256, refs: RefMode::Paper });
        assert_eq!(
            parse_method("efm:128:official").unwrap(),
            Target::Efm { m: 128, refs: RefMode::Official }
        );
        assert_eq!(parse_method("efm:0:official").unwrap(), Target::Efm { m: 0, refs: RefMode::Official });
        assert!(parse_method("efm:300:batch").is_err());
        assert!(parse_method("efm").is_err());
        assert!(parse_method("efm:x").is_err());
        assert!(parse_method("sgd").is_err());
        assert_eq!(parse_image("1x28x28").unwrap(), ImageShape::new(1, 28, 28));
        assert!(parse_image("28x28").is_err());
    }
}
