//! End-to-end tests of training: what a trained network does, the EFM target the trainer
//! regresses on, and the reproducibility guarantees (determinism, checkpoints, resume).

use std::collections::HashMap;

use candle_core::Tensor;
use cfm_core::efm::RefMode;
use cfm_core::ode::integrate;
use cfm_core::{ClosedForm, Solver, VelocityField};
use cfm_nn::train::regression_target;
use cfm_nn::{
    AdamConfig, EmaConfig, MlpConfig, ModelConfig, RunOptions, Target, TimeWindow, TrainConfig, TrainSet,
    TrainedModel, Trainer, UNetConfig, Weights, model_dir, train,
};

use cfm_core::matrix::sq_dist;
use cfm_core::{Matrix, Stream};

/// scikit-learn's `make_moons(n, noise)` (outer moon on `linspace(0, pi)`, inner moon shifted
/// by `(1, -0.5)`, Gaussian noise), scaled as torchcfm's `sample_moons`: `3 x - 1`.
pub fn two_moons(n: usize, noise: f64, stream: &Stream) -> Matrix {
    let n_out = n / 2;
    let n_in = n - n_out;
    let mut s = stream.derive("noise");
    let mut rows = Vec::with_capacity(n);
    let angle =
        |i: usize, m: usize| if m > 1 { std::f64::consts::PI * i as f64 / (m - 1) as f64 } else { 0.0 };
    for i in 0..n_out {
        let a = angle(i, n_out);
        rows.push([a.cos(), a.sin()]);
    }
    for i in 0..n_in {
        let a = angle(i, n_in);
        rows.push([1.0 - a.cos(), 1.0 - a.sin() - 0.5]);
    }
    let data: Vec<f32> =
        rows.iter().flat_map(|p| p.map(|v| v + noise * s.normal())).map(|v| (3.0 * v - 1.0) as f32).collect();
    Matrix::from_vec(n, 2, data).unwrap()
}

/// Mean distance between rows of `a` and rows of `b`, skipping equal indices when `same`.
fn mean_dist(a: &Matrix, b: &Matrix, same: bool) -> f64 {
    let mut s = 0.0;
    for (i, x) in a.iter_rows().enumerate() {
        for (j, y) in b.iter_rows().enumerate() {
            if !(same && i == j) {
                s += sq_dist(x, y).sqrt();
            }
        }
    }
    s / (a.rows() * b.rows() - if same { a.rows() } else { 0 }) as f64
}

/// Energy distance `2 E|X - Y| - E|X - X'| - E|Y - Y'|` (unbiased U-statistics).
pub fn energy_distance(a: &Matrix, b: &Matrix) -> f64 {
    2.0 * mean_dist(a, b, false) - mean_dist(a, a, true) - mean_dist(b, b, true)
}

/// Mean over rows of `a` of the distance to the nearest row of `b`.
pub fn mean_nearest(a: &Matrix, b: &Matrix) -> f64 {
    a.iter_rows()
        .map(|x| b.iter_rows().map(|y| sq_dist(x, y)).fold(f64::INFINITY, f64::min).sqrt())
        .sum::<f64>()
        / a.rows() as f64
}

/// `n` draws of the Gaussian with the mean and covariance of the 2-D `data`: a model that
/// learnt only two moments.
fn gaussian_fit(data: &Matrix, n: usize, stream: &Stream) -> Matrix {
    let m = data.rows() as f64;
    let mean = [0, 1].map(|j| data.iter_rows().map(|r| r[j] as f64).sum::<f64>() / m);
    let cov = |a: usize, b: usize| {
        data.iter_rows().map(|r| (r[a] as f64 - mean[a]) * (r[b] as f64 - mean[b])).sum::<f64>() / m
    };
    let l00 = cov(0, 0).sqrt();
    let l10 = cov(1, 0) / l00;
    let l11 = (cov(1, 1) - l10 * l10).sqrt();
    let z = gaussian(n, 2, stream);
    let rows: Vec<[f32; 2]> = z
        .iter_rows()
        .map(|r| {
            let (a, b) = (r[0] as f64, r[1] as f64);
            [(mean[0] + l00 * a) as f32, (mean[1] + l10 * a + l11 * b) as f32]
        })
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

/// `n x d` standard normal draws.
pub fn gaussian(n: usize, d: usize, stream: &Stream) -> Matrix {
    Matrix::from_vec(n, d, stream.clone().normal_vec(n * d)).unwrap()
}

/// A small-run config: plain Adam at `lr`, EMA 0.99 from half-way, `t ~ U[0, 1)`, seed 0.
fn quick(model: ModelConfig, target: Target, steps: u64, batch_size: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        model,
        output: cfm_nn::Output::Velocity,
        rescaled: false,
        target,
        steps,
        batch_size,
        adam: AdamConfig::plain(lr),
        ema: EmaConfig { decay: 0.99, start: steps / 2 + 1 },
        time: TimeWindow::default(),
        seed: 0,
    }
}

/// Every tensor as raw bits, sorted by name.
fn bits(set: &HashMap<String, Tensor>) -> Vec<(String, Vec<u32>)> {
    let mut out: Vec<_> = set
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

/// Asserts that two weight sets are bit-identical, naming the first tensor that differs.
fn assert_same_bits(a: &[(String, Vec<u32>)], b: &[(String, Vec<u32>)], what: &str) {
    let names = |s: &[(String, Vec<u32>)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(a), names(b), "{what}: different variables");
    if let Some(((name, _), _)) = a.iter().zip(b).find(|(x, y)| x.1 != y.1) {
        panic!("{what}: {name} differs");
    }
}

fn sample(field: &dyn VelocityField, n: usize, seed: u64) -> Matrix {
    let noise = gaussian(n, field.dim(), &Stream::new(seed));
    integrate(field, &noise, Solver::Euler { steps: 100 }, false).unwrap().x
}

/// A network trained on one point, minibatches of that point (B = min(128, n) = 1).
fn one_point_model(output: cfm_nn::Output, rescaled: bool, steps: u64) -> (Matrix, TrainedModel) {
    let point = Matrix::from_vec(1, 4, vec![1.5, -0.5, 0.8, -2.0]).unwrap();
    let mut cfg = quick(
        ModelConfig::Mlp(MlpConfig { width: 64, depth: 3, time_dim: 16, skip: true }),
        Target::Cfm,
        steps,
        1,
        2e-3,
    );
    (cfg.output, cfg.rescaled) = (output, rescaled);
    let mut trainer = Trainer::new(&cfg, &point, None, &candle_core::Device::Cpu).unwrap();
    for _ in 0..cfg.steps {
        trainer.step().unwrap();
    }
    let model = trainer.model("one-point").unwrap();
    (point, model)
}

/// Largest and mean distance of 200 samples of `model` to `point`.
fn spread(model: &TrainedModel, point: &Matrix) -> (f64, f64) {
    let x = sample(&model.field().unwrap(), 200, 1);
    let dists: Vec<f64> = x.iter_rows().map(|r| sq_dist(r, point.row(0)).sqrt()).collect();
    (dists.iter().copied().fold(0.0, f64::max), dists.iter().sum::<f64>() / 200.0)
}

#[test]
fn one_training_point_is_reproduced() {
    let (point, model) = one_point_model(cfm_nn::Output::Velocity, false, 100_000);
    let (worst, mean) = spread(&model, &point);
    eprintln!("one point, velocity output: largest distance {worst:.4}, mean {mean:.4}");
    // A velocity network fits the field's blow-up near t = 1 slowly (one sample a step here):
    // samples land near the point, with a tail the x1 parameterisation does not have (below).
    assert!(mean < 0.1 && worst < 0.3, "distances to the training point: mean {mean}, largest {worst}");
}

#[test]
fn an_x1_predicting_model_of_one_point_sends_every_noise_to_it() {
    // The rescaled loss is ||x1_hat - x1||^2: the network learns the constant x1.
    let (point, model) = one_point_model(cfm_nn::Output::X1, true, 2_000);
    let (worst, mean) = spread(&model, &point);
    eprintln!("one point, x1 output: largest distance {worst:.4}, mean {mean:.4}");
    assert!(worst < 0.05, "largest distance to the training point {worst}");
    // Its velocity is (x1_hat - x) / (1 - t): there is none at t = 1.
    let field = model.field().unwrap();
    assert!(field.evaluate(&point, &[1.0]).is_err());
}

#[test]
fn two_moons_samples_generalise() {
    let train_set = two_moons(1000, 0.2, &Stream::new(0).derive("train"));
    let test_set = two_moons(500, 0.2, &Stream::new(0).derive("test"));
    let mlp = ModelConfig::Mlp(MlpConfig { width: 64, depth: 3, time_dim: 16, skip: true });
    let cfg = quick(mlp, Target::Cfm, 3000, 256, 2e-3);
    let mut trainer = Trainer::new(&cfg, &train_set, None, &candle_core::Device::Cpu).unwrap();
    for _ in 0..cfg.steps {
        trainer.step().unwrap();
    }
    let x = sample(&trainer.model("moons").unwrap().field().unwrap(), 500, 7);
    let ed = energy_distance(&x, &test_set);
    let baseline = energy_distance(&train_set, &test_set);
    let moments = energy_distance(&gaussian_fit(&train_set, 500, &Stream::new(8)), &test_set);
    let nn_samples = mean_nearest(&x, &train_set);
    let nn_test = mean_nearest(&test_set, &train_set);
    eprintln!(
        "moons: energy {ed:.4} (train-test {baseline:.4}, Gaussian fit {moments:.4}); nearest {nn_samples:.4} (test {nn_test:.4})"
    );
    assert!(ed < 0.01 && ed < moments / 3.0, "energy distance {ed} (Gaussian fit: {moments})");
    assert!(nn_samples > 0.5 * nn_test, "mean nearest-training distance {nn_samples} vs test {nn_test}");
}

#[test]
fn efm_with_all_references_is_the_closed_form() {
    let data = gaussian(30, 3, &Stream::new(3));
    let mlp = ModelConfig::Mlp(MlpConfig::toy());
    let cfg = quick(mlp, Target::Efm { m: 30, refs: RefMode::Paper }, 10, 30, 1e-3);
    let mut trainer = Trainer::new(&cfg, &data, None, &candle_core::Device::Cpu).unwrap();
    let batch = trainer.batch(4).unwrap();
    assert_eq!(batch.x1, data.select_rows(&batch.x1_idx));
    let exact = ClosedForm::new(data.clone()).unwrap().evaluate(&batch.xt, &batch.t, false).unwrap().velocity;
    let mut worst: f64 = 0.0;
    for (b, (u, e)) in batch.target.iter_rows().zip(exact.iter_rows()).enumerate() {
        let err = sq_dist(u, e).sqrt() / (1.0 + cfm_core::matrix::sq_norm(e).sqrt());
        assert!(err < 1e-4, "sample {b} at t = {}: relative error {err}", batch.t[b]);
        worst = worst.max(err);
    }
    eprintln!("EFM (M = n) vs closed form: worst relative error {worst:.2e}");
}

/// Proposition 2: given `x_t`, the generating point `x1` is distributed as the softmax
/// weights `lambda(x_t, t)`, and both the CFM target and the EFM target (the trainer's
/// `regression_target`) average to `u*(x_t, t)`, EFM with smaller variance.
#[test]
fn efm_target_is_unbiased_with_smaller_variance() {
    let (n, d, draws, t) = (20, 2, 40_000, 0.6);
    let data = gaussian(n, d, &Stream::new(4)).axpby(2.0, &Matrix::zeros(n, d), 0.0);
    let xt = Matrix::from_vec(1, d, vec![0.3, -0.4]).unwrap();
    let cf = ClosedForm::new(data.clone()).unwrap();
    let exact = cf.velocity(&xt, t).unwrap();
    let weights = cfm_core::reference::softmax(&cfm_core::reference::shifted_logits(&data, xt.row(0), t));
    let mut s = Stream::new(5);
    let idx: Vec<usize> = (0..draws)
        .map(|_| {
            let (u, mut acc) = (s.uniform(), 0.0);
            weights
                .iter()
                .position(|w| {
                    acc += w;
                    u < acc
                })
                .unwrap_or(n - 1)
        })
        .collect();
    let x1 = data.select_rows(&idx);
    let x0_rows: Vec<Vec<f32>> = x1
        .iter_rows()
        .map(|r| {
            r.iter().zip(xt.row(0)).map(|(&a, &x)| ((x as f64 - t * a as f64) / (1.0 - t)) as f32).collect()
        })
        .collect();
    let x0 = Matrix::from_rows(&x0_rows).unwrap();
    let ts = vec![t; draws];
    let mut variances = Vec::new();
    for target in [Target::Cfm, Target::Efm { m: 4, refs: RefMode::Paper }] {
        let u = regression_target(&target, &data, &idx, &x0, &x1, &ts, &mut Stream::new(6)).unwrap();
        let mut var = 0.0;
        for j in 0..d {
            let col: Vec<f64> = u.iter_rows().map(|r| r[j] as f64).collect();
            let mean = col.iter().sum::<f64>() / draws as f64;
            let v = col.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (draws - 1) as f64;
            let se = (v / draws as f64).sqrt();
            let want = exact.row(0)[j] as f64;
            assert!(
                (mean - want).abs() < 4.0 * se + 1e-3,
                "{target:?}, coordinate {j}: {mean} vs u* = {want} (se {se})"
            );
            var += v;
        }
        variances.push(var);
    }
    eprintln!("trace of the target covariance: CFM {:.4}, EFM-4 {:.4}", variances[0], variances[1]);
    assert!(variances[1] < variances[0], "EFM variance {} >= CFM variance {}", variances[1], variances[0]);
}

/// Weights after `steps` steps of a fresh trainer.
fn weights_after(
    cfg: &TrainConfig,
    data: &Matrix,
    image: Option<cfm_nn::ImageShape>,
    steps: u64,
) -> Vec<(String, Vec<u32>)> {
    let mut trainer = Trainer::new(cfg, data, image, &candle_core::Device::Cpu).unwrap();
    for _ in 0..steps {
        trainer.step().unwrap();
    }
    let model = trainer.model("d").unwrap();
    let mut all = bits(model.weights(Weights::Raw));
    all.extend(bits(model.weights(Weights::Ema)).into_iter().map(|(k, v)| (format!("ema.{k}"), v)));
    all
}

#[test]
fn training_twice_gives_identical_weights() {
    let data = two_moons(200, 0.2, &Stream::new(9));
    let mlp = ModelConfig::Mlp(MlpConfig { width: 32, depth: 2, time_dim: 8, skip: true });
    for target in [
        Target::Cfm,
        Target::Efm { m: 32, refs: RefMode::Official },
        Target::Efm { m: 8, refs: RefMode::Paper },
        Target::OtCfm,
    ] {
        let cfg = quick(mlp.clone(), target, 20, 32, 1e-3);
        let a = weights_after(&cfg, &data, None, 20);
        assert_same_bits(&a, &weights_after(&cfg, &data, None, 20), &format!("{target:?}"));
        let other = TrainConfig { seed: 1, ..cfg };
        assert!(a != weights_after(&other, &data, None, 20), "{target:?}: seed ignored");
    }
    // The U-Net, with dropout masks from the step streams.
    let image = cfm_nn::ImageShape { channels: 1, height: 8, width: 8 };
    let images = gaussian(16, 64, &Stream::new(10));
    let unet = ModelConfig::UNet(UNetConfig { dropout: 0.1, ..UNetConfig::tiny() });
    let cfg = quick(unet, Target::Cfm, 3, 4, 1e-3);
    let a = weights_after(&cfg, &images, Some(image), 3);
    assert_same_bits(&a, &weights_after(&cfg, &images, Some(image), 3), "U-Net");
}

#[test]
fn saved_model_round_trips_bit_identically() {
    let data = two_moons(100, 0.2, &Stream::new(11));
    let cfg = quick(ModelConfig::Mlp(MlpConfig::toy()), Target::Cfm, 10, 16, 1e-3);
    let mut trainer = Trainer::new(&cfg, &data, None, &candle_core::Device::Cpu).unwrap();
    for _ in 0..10 {
        trainer.step().unwrap();
    }
    let model = trainer.model("moons-100").unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let back = TrainedModel::load(dir.path()).unwrap();
    assert_eq!(back.card(), model.card());
    assert_eq!(back.losses(), model.losses());
    for w in [Weights::Raw, Weights::Ema] {
        assert_same_bits(&bits(back.weights(w)), &bits(model.weights(w)), &format!("{w:?}"));
    }
    let x = gaussian(50, 2, &Stream::new(12));
    assert_eq!(
        back.field().unwrap().velocity(&x, 0.3).unwrap(),
        model.field().unwrap().velocity(&x, 0.3).unwrap()
    );
    assert_ne!(
        model.field_with(Weights::Raw).unwrap().velocity(&x, 0.3).unwrap(),
        model.field().unwrap().velocity(&x, 0.3).unwrap()
    );
    // A truncated weights file is reported with its path.
    let path = dir.path().join(cfm_nn::trained::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = TrainedModel::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn interrupted_training_resumes_bit_identically() {
    let data = two_moons(200, 0.2, &Stream::new(13));
    let set = TrainSet { points: &data, image: None, identity: "moons-200-seed13" };
    let mut cfg = quick(
        ModelConfig::Mlp(MlpConfig { width: 32, depth: 2, time_dim: 8, skip: true }),
        Target::Efm { m: 16, refs: RefMode::Paper },
        30,
        32,
        1e-3,
    );
    cfg.ema = EmaConfig { decay: 0.9, start: 5 };
    let run = RunOptions { progress: false, checkpoint_every: 10 };
    let whole = tempfile::tempdir().unwrap();
    let a = train(&cfg, &set, whole.path(), &run).unwrap();

    // A run killed after its checkpoint at step 17: the checkpoint is where train() looks.
    let cut = tempfile::tempdir().unwrap();
    let dir = model_dir(cut.path(), &cfg, &set).unwrap();
    let mut first = Trainer::new(&cfg, &data, None, &candle_core::Device::Cpu).unwrap();
    for _ in 0..17 {
        first.step().unwrap();
    }
    first.save_checkpoint(&dir.join(cfm_nn::train::CHECKPOINT_FILE)).unwrap();
    let b = train(&cfg, &set, cut.path(), &run).unwrap();
    for w in [Weights::Raw, Weights::Ema] {
        assert_same_bits(&bits(b.weights(w)), &bits(a.weights(w)), &format!("{w:?}"));
    }
    assert_eq!(b.losses(), a.losses());
    assert_eq!(b.card(), a.card());
    assert!(!dir.join(cfm_nn::train::CHECKPOINT_FILE).exists(), "checkpoint left behind");
    assert!(dir.join(cfm_nn::train::KEY_FILE).is_file());

    // A finished model is reused, not retrained: its files are not rewritten.
    let weights = dir.join(cfm_nn::trained::WEIGHTS_FILE);
    let stamp = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let c = train(&cfg, &set, cut.path(), &run).unwrap();
    assert_eq!(std::fs::metadata(&weights).unwrap().modified().unwrap(), stamp);
    assert_same_bits(&bits(c.weights(Weights::Ema)), &bits(a.weights(Weights::Ema)), "reused");
    // Another config or dataset identity is another directory.
    let other = TrainSet { identity: "moons-200-seed14", ..set };
    assert_ne!(model_dir(cut.path(), &cfg, &other).unwrap(), dir);
    assert_ne!(model_dir(cut.path(), &TrainConfig { steps: 31, ..cfg.clone() }, &set).unwrap(), dir);
}

#[test]
fn training_times_stay_in_the_window() {
    let data = gaussian(10, 2, &Stream::new(14));
    let mut cfg = quick(ModelConfig::Mlp(MlpConfig::toy()), Target::Cfm, 5, 10, 1e-3);
    cfg.time = TimeWindow { t_min: 0.2, t_max: 0.4 };
    let mut trainer = Trainer::new(&cfg, &data, None, &candle_core::Device::Cpu).unwrap();
    let t: Vec<f64> = (0..50).flat_map(|k| trainer.batch(k).unwrap().t).collect();
    assert!(t.iter().all(|t| (0.2..0.4).contains(t)));
    assert!(t.iter().any(|&t| t < 0.25) && t.iter().any(|&t| t > 0.35));
}

#[test]
fn impossible_configs_are_rejected_with_the_field_named() {
    let data = gaussian(10, 2, &Stream::new(15));
    let mlp = ModelConfig::Mlp(MlpConfig::toy());
    let check = |cfg: TrainConfig, image: Option<cfm_nn::ImageShape>, want: &str| {
        let err =
            Trainer::new(&cfg, &data, image, &candle_core::Device::Cpu).err().expect("an error").to_string();
        assert!(err.contains(want), "{err}");
    };
    check(quick(mlp.clone(), Target::Efm { m: 11, refs: RefMode::Paper }, 5, 4, 1e-3), None, "M = 11");
    check(quick(mlp.clone(), Target::Efm { m: 12, refs: RefMode::Official }, 5, 4, 1e-3), None, "M = 12");
    let mut cfg = quick(mlp.clone(), Target::Cfm, 5, 4, 1e-3);
    cfg.time = TimeWindow { t_min: 0.5, t_max: 1.5 };
    check(cfg, None, "time window");
    check(quick(ModelConfig::UNet(UNetConfig::tiny()), Target::Cfm, 5, 4, 1e-3), None, "image shape");
    let image = cfm_nn::ImageShape { channels: 2, height: 1, width: 1 };
    check(
        quick(ModelConfig::UNet(UNetConfig::tiny()), Target::Cfm, 5, 4, 1e-3),
        Some(image),
        "multiples of 2",
    );
}

/// A step reports where its time went: every phase of both engines is measured, and together
/// they fit inside the step's own wall time.
#[test]
fn step_times_cover_the_phases_of_both_engines() {
    let data = two_moons(256, 0.05, &Stream::new(3));
    let digits = cfm_core::datasets::digits();
    let mlp = quick(
        ModelConfig::Mlp(MlpConfig { width: 32, depth: 2, time_dim: 8, skip: true }),
        Target::Cfm,
        10,
        64,
        1e-3,
    );
    let unet = quick(ModelConfig::UNet(UNetConfig::tiny()), Target::Cfm, 10, 8, 1e-3);
    for (cfg, data, image) in [(mlp, &data, None), (unet, &digits.train, digits.image)] {
        let mut trainer = Trainer::new(&cfg, data, image, &candle_core::Device::Cpu).unwrap();
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let t = trainer.step().unwrap().times;
            let wall = start.elapsed();
            for (phase, d) in
                [("batch", t.batch), ("forward", t.forward), ("backward", t.backward), ("update", t.update)]
            {
                assert!(d > std::time::Duration::ZERO, "{phase} not measured");
            }
            assert!(
                t.batch + t.forward + t.backward + t.update <= wall,
                "{t:?} longer than the step, {wall:?}"
            );
        }
    }
}
