//! Processes sharing a cache (cells run at once, jobs of a cluster) train a model once: `train`
//! holds an exclusive lock on the model's directory (`<dir>.lock`), and whoever asks for the
//! same model meanwhile waits, then loads what the holder saved.

use std::time::Duration;

use cfm_core::{Matrix, Stream};
use cfm_nn::{
    AdamConfig, EmaConfig, MlpConfig, ModelConfig, RunOptions, Target, TrainConfig, TrainSet, Trainer,
};
use cfm_nn::{Weights, model_dir, train};

/// Every EMA weight as raw bits, sorted by name.
fn ema_bits(model: &cfm_nn::TrainedModel) -> Vec<(String, Vec<u32>)> {
    let mut out: Vec<_> = model
        .weights(Weights::Ema)
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_second_trainer_of_a_model_being_trained_waits_and_loads_it() {
    let data = Matrix::from_vec(64, 2, Stream::new(3).normal_vec(128)).unwrap();
    let set = TrainSet { points: &data, image: None, identity: "gaussian-64-seed3" };
    let mut cfg = TrainConfig::paper(ModelConfig::Mlp(MlpConfig::toy()), Target::Cfm, 20);
    cfg.batch_size = 16;
    cfg.adam = AdamConfig::plain(1e-3);
    cfg.ema = EmaConfig { decay: 0.9, start: 5 };
    let run = RunOptions::default();
    let cache = tempfile::tempdir().unwrap();
    let dir = model_dir(cache.path(), &cfg, &set).unwrap();

    // Another holder (here: this thread, as a job of the cluster would) trains the model under
    // its lock, while a second trainer asks for the same model.
    let lock = cfm_core::io::lock_exclusive(&dir.with_extension("lock")).unwrap();
    std::thread::scope(|scope| {
        let second = scope.spawn(|| train(&cfg, &set, cache.path(), &run).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!second.is_finished(), "the second trainer did not wait for the lock");
        let mut trainer = Trainer::new(&cfg, &data, None, &candle_core::Device::Cpu).unwrap();
        for _ in 0..cfg.steps {
            trainer.step().unwrap();
        }
        let first = trainer.model(set.identity).unwrap();
        first.save(&dir).unwrap();
        drop(lock);
        let loaded = second.join().unwrap();
        assert_eq!(ema_bits(&loaded), ema_bits(&first), "the second trainer has another model");
        assert_eq!(loaded.losses(), first.losses());
    });
    // It loaded the model: a trainer writes its key (and checkpoints) only when it trains.
    assert!(!dir.join(cfm_nn::train::KEY_FILE).exists(), "the second trainer trained the model again");
    assert!(!dir.join(cfm_nn::train::CHECKPOINT_FILE).exists());
}
