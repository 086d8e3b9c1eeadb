use cfm_core::{ClosedForm, Matrix, Stream};
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (n, d) = (args[0], args[1]);
    let refs = Matrix::from_vec(n, d, Stream::new(0).derive("refs").normal_vec(n * d)).unwrap();
    let q = Matrix::from_vec(256, d, Stream::new(0).derive("queries").normal_vec(256 * d)).unwrap();
    let cf = ClosedForm::new(refs).unwrap();
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let e = cf.evaluate(&q, &[0.5; 256], false).unwrap();
        println!("{:?} {:.2} ms", e.paths, t0.elapsed().as_secs_f64() * 1e3);
    }
}
