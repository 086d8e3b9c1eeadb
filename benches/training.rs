//! Training-step throughput (MLP and a digits-scale U-Net on the 8x8 digits, batch 128) and the
//! EFM overhead against the number of references M in {1, 128, 256, 1000}, which
//! `bench-table` fits to the paper's cost model `b (a + M c)` (App. D.1: a = 4.3 ms, c = 0.9 us
//! per sample on an L4 GPU with the CIFAR-10 U-Net).

use candle_core::Device;
use cfm_core::efm::RefMode;
use cfm_nn::{AdamConfig, MlpConfig, ModelConfig, Target, TrainConfig, Trainer, UNetConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 128;

fn config(model: ModelConfig, target: Target) -> TrainConfig {
    let mut c = TrainConfig::paper(model, target, 1_000_000);
    c.adam = AdamConfig::plain(1e-3);
    c
}

fn training(c: &mut Criterion) {
    let digits = cfm_core::datasets::digits();
    let (data, image) = (digits.train, digits.image);
    let mlp = || ModelConfig::Mlp(MlpConfig::digits());
    let mut g = c.benchmark_group("train_step");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    for (name, model, target) in [
        ("mlp_cfm", mlp(), Target::Cfm),
        ("mlp_otcfm", mlp(), Target::OtCfm),
        ("unet_tiny_cfm", ModelConfig::UNet(UNetConfig::tiny()), Target::Cfm),
    ] {
        let mut trainer = Trainer::new(&config(model, target), &data, image, &Device::Cpu).unwrap();
        g.bench_function(name, |b| b.iter(|| trainer.step().unwrap()));
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

criterion_group!(benches, training);
criterion_main!(benches);
