//! Training-step throughput and the EFM overhead against the number of references M in
//! {1, 128, 256, 1000}, which `bench-table` fits to the paper's cost model `b (a + M c)`
//! (App. D.1: a = 4.3 ms, c = 0.9 us per sample on an L4 GPU with the CIFAR-10 U-Net).
//!
//! `train_step/mlp_d64` and `train_step/mlp_d784` are the step of
//! `../shared/bench/torch_mlp_step.py THREADS D` (PyTorch): the MLP 3 x 256 SELU with 32 time
//! features (ours adds the input skip `g(t) x`, `(2 + 32) d` parameters, which that script does
//! not have), batch 128, CFM target, Adam at lr 1e-3 without warm-up, gradient clipping at 1,
//! EMA 0.999 updated every step; d = 64 on the 8x8 digits, d = 784 on 1500 standard-normal
//! points (the values do not change the cost). `unet_tiny_cfm` is the digits-scale U-Net;
//! `unet_c32_cfm` the same with 32 channels, 32 groups and 32 channels per attention head, the
//! smallest U-Net that torchcfm's UNetModel builds (`benches/python/torch_unet_step.py`).

use candle_core::Device;
use cfm_core::efm::RefMode;
use cfm_core::{Matrix, Stream};
use cfm_nn::{AdamConfig, EmaConfig, MlpConfig, ModelConfig, Target, TrainConfig, Trainer, UNetConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 128;

fn config(model: ModelConfig, target: Target) -> TrainConfig {
    let mut c = TrainConfig::paper(model, target, 1_000_000);
    c.adam = AdamConfig { grad_clip: Some(1.0), ..AdamConfig::plain(1e-3) };
    c.ema = EmaConfig { decay: 0.999, start: 1 };
    c
}

/// The tiny U-Net at 32 channels (torchcfm's GroupNorm needs 32 groups).
fn unet_c32() -> UNetConfig {
    UNetConfig { channels: 32, head_channels: 32, groups: 32, ..UNetConfig::tiny() }
}

fn training(c: &mut Criterion) {
    let digits = cfm_core::datasets::digits();
    let (data, image) = (digits.train, digits.image);
    let mlp = || ModelConfig::Mlp(MlpConfig::images());
    let mut g = c.benchmark_group("train_step");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    let wide = Matrix::from_vec(1500, 784, Stream::new(0).normal_vec(1500 * 784)).unwrap();
    for (name, model, target, data, image) in [
        ("mlp_d64", mlp(), Target::Cfm, &data, image),
        ("mlp_d784", mlp(), Target::Cfm, &wide, None),
        ("mlp_otcfm", mlp(), Target::OtCfm, &data, image),
        ("unet_tiny_cfm", ModelConfig::UNet(UNetConfig::tiny()), Target::Cfm, &data, image),
        ("unet_c32_cfm", ModelConfig::UNet(unet_c32()), Target::Cfm, &data, image),
    ] {
        let mut trainer = Trainer::new(&config(model, target), data, image, &Device::Cpu).unwrap();
        g.bench_function(name, |b| b.iter(|| trainer.step().unwrap()));
        write_phases(name, &mut trainer);
    }
    g.finish();

    let mut g = c.benchmark_group("efm_overhead");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    for m in [1usize, 128, 256, 1000] {
        let target = Target::Efm { m, refs: RefMode::Paper };
        let mut trainer = Trainer::new(&config(mlp(), target), &data, image, &Device::Cpu).unwrap();
        g.bench_function(format!("m{m}"), |b| b.iter(|| trainer.step().unwrap()));
    }
    g.finish();
}

/// Where a step's time goes: the median over 30 more steps of each phase of
/// [`cfm_nn::train::StepTimes`], in ms, written beside criterion's estimates as
/// `train_step/<name>/phases.json` for `bench-table`.
fn write_phases(name: &str, trainer: &mut Trainer) {
    let mut phases: [Vec<f64>; 4] = Default::default();
    for _ in 0..30 {
        let t = trainer.step().unwrap().times;
        for (p, d) in phases.iter_mut().zip([t.batch, t.forward, t.backward, t.update]) {
            p.push(d.as_secs_f64() * 1e3);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [batch, forward, backward, update] = phases.each_mut().map(median);
    let json =
        serde_json::json!({ "batch": batch, "forward": forward, "backward": backward, "update": update });
    cfm_bench::write_beside_estimates(&["train_step", name, "phases.json"], &json);
}

criterion_group!(benches, training);
criterion_main!(benches);
