//! Closed-form velocity (Proposition 1) for B = 256 queries against n references in d
//! dimensions, next to the two matrix products it contains, `(B x d) (d x n)` (logits) and
//! `(B x n) (n x d)` (weighted sum) through the backend the closed form uses (faer), measured in
//! the same run. Data as in `shared/bench/numpy_closed_form.py`: standard normal references and
//! queries, t = 0.5. At t = 0.5 the softmax has concentrated from d = 64 on (a few non-zero
//! weights per query), so `closed_form_dense` also times t = 0.02, where it has not at any d of
//! the grid (every weight counts); `routes.json` beside criterion's estimates records which
//! accuracy route the queries took at each time and their mean largest weight. Summarise with
//! `cargo run --release -p cfm-bench --bin bench-table`.
//!
//! `CFM_BENCH_SHAPES="10000x64,50000x784"` restricts the grid (default: n in {1k, 10k, 50k},
//! d in {2, 64, 784, 3072}).

use candle_core::{Device, Tensor};
use cfm_bench::{B, T_DENSE, normal};
use cfm_core::matrix::{faer_nn, faer_nt};
use cfm_core::{ClosedForm, Matrix};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const T: f64 = 0.5;

fn shapes() -> Vec<(usize, usize)> {
    match std::env::var("CFM_BENCH_SHAPES") {
        Ok(s) => cfm_bench::parse_shapes(&s),
        Err(_) => [2, 64, 784, 3072].iter().flat_map(|&d| [1_000, 10_000, 50_000].map(|n| (n, d))).collect(),
    }
}

fn closed_form(c: &mut Criterion) {
    for (n, d) in shapes() {
        let refs = normal(n, d, "refs");
        let queries = normal(B, d, "queries");
        let mut g = c.benchmark_group(format!("closed_form_n{n}_d{d}"));
        g.throughput(Throughput::Elements(B as u64));
        g.sample_size(10);
        let cf = ClosedForm::new(refs.clone()).unwrap();
        g.bench_function("closed_form", |b| b.iter(|| cf.velocity(&queries, T).unwrap()));
        g.bench_function("closed_form_dense", |b| b.iter(|| cf.velocity(&queries, T_DENSE).unwrap()));
        write_routes(&format!("closed_form_n{n}_d{d}"), &cf, &queries);
        let mut out = vec![0f32; B * n];
        g.bench_function("matmul", |b| {
            b.iter(|| faer_nt(B, n, d, queries.as_slice(), refs.as_slice(), &mut out, false, true))
        });
        // The second product of the closed form, (B x n)(n x d), on weights of the same shape.
        let weights = normal(B, n, "weights");
        let mut wsum = vec![0f32; B * d];
        g.bench_function("matmul_nn", |b| {
            b.iter(|| faer_nn(B, d, n, weights.as_slice(), refs.as_slice(), &mut wsum, false, true))
        });
        let qt = Tensor::from_slice(queries.as_slice(), (B, d), &Device::Cpu).unwrap();
        let rt = Tensor::from_slice(refs.as_slice(), (n, d), &Device::Cpu).unwrap().t().unwrap();
        g.bench_function("candle_matmul", |b| b.iter(|| qt.matmul(&rt).unwrap()));
        g.finish();
    }
}

/// The accuracy routes (fast, sliced, corrected, f64, brute force) of the queries and their mean largest
/// weight at t = 0.5 and t = 0.02, as `<group>/routes.json` in criterion's folder.
fn write_routes(group: &str, cf: &ClosedForm, queries: &Matrix) {
    let at = |t: f64| {
        let e = cf.evaluate(queries, &vec![t; queries.rows()], true).unwrap();
        let w = e.weights.unwrap();
        let p = e.paths;
        serde_json::json!({
            "routes": [p.fast, p.sliced, p.corrected, p.double, p.brute],
            "max_weight": w.iter().map(|s| s.max_weight).sum::<f64>() / w.len() as f64,
        })
    };
    let json = serde_json::json!({ "t0.5": at(T), "t0.02": at(T_DENSE) });
    cfm_bench::write_beside_estimates(&[group, "routes.json"], &json);
}

criterion_group!(benches, closed_form);
criterion_main!(benches);
