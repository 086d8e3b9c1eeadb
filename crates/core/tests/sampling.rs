//! Claim C4 on the core alone: integrating the closed form reproduces training points.

use cfm_core::datasets::two_moons;
use cfm_core::metrics::knn;
use cfm_core::ode::{Solver, integrate};
use cfm_core::{ClosedForm, Matrix, Stream};

fn nearest_distances(steps: usize) -> Vec<f64> {
    let root = Stream::new(0);
    let train = two_moons(500, &mut root.derive("train"));
    let cf = ClosedForm::new(train.clone()).unwrap();
    let x0 = Matrix::from_vec(256, 2, root.derive("noise").normal_vec(512)).unwrap();
    let sol = integrate(&cf, &x0, Solver::Euler { steps }, false).unwrap();
    let nn = knn(&sol.x, &train, 1, false).unwrap();
    nn.dist
}

#[test]
fn euler_1000_steps_lands_on_training_points() {
    let d = nearest_distances(1000);
    let close = d.iter().filter(|&&v| v < 1e-3).count();
    assert!(close as f64 >= 0.95 * 256.0, "only {close} of 256 samples within 1e-3 of a training point");
}

/// With 100 steps the last Euler step averages the training points near each sample (the
/// softmax at t = 0.99 is not yet one-hot): samples are close to, but not on, training points.
#[test]
fn fewer_steps_average_neighbours() {
    let d100 = nearest_distances(100);
    let d1000 = nearest_distances(1000);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&d100) > mean(&d1000), "{} vs {}", mean(&d100), mean(&d1000));
}
