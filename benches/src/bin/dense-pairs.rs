//! The closed form where its softmax has not concentrated (t = 0.02) against its two matrix
//! products, timed in alternation: each pair is one closed-form call (B = 256 queries, standard
//! normal data as in the `closed_form` bench) and, right after it, the logits product
//! `(B x d)(d x n)` and the weighted-sum product `(B x n)(n x d)` through faer on all threads.
//! Criterion times the three one after the other, seconds apart, and at calls under 10 ms this
//! machine's drift moves their ratio by tens of percent; pairs taken call by call share it.
//!
//! `cargo run --release -p cfm-bench --bin dense-pairs -- [SHAPES] [PAIRS] [TOL]`, with `SHAPES`
//! like `1000x2,1000x64` (default: n = 1k at d = 2, 64 and 784), `PAIRS` (default 1000) and the
//! closed form's tolerance `TOL` (default [`Options::default`]'s). Prints the medians in ms, the
//! ratio of the medians and the accuracy routes the queries took.

use cfm_bench::{B, T_DENSE, normal};
use cfm_core::matrix::{faer_nn, faer_nt};
use cfm_core::{ClosedForm, Options};
use std::hint::black_box;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shapes = cfm_bench::parse_shapes(args.first().map_or("1000x2,1000x64,1000x784", String::as_str));
    let pairs: usize = args.get(1).map_or(1000, |p| p.parse().expect("PAIRS is a number"));
    let defaults = Options::default();
    let tol = args.get(2).map_or(defaults.tol, |t| t.parse().expect("TOL is a number"));
    println!("tol = {tol:e}");
    println!(
        "| n | d | t = 0.02 ms | two products ms | ratio | routes (fast / sliced / corrected / f64 / brute) |"
    );
    println!("|---|---|---|---|---|---|");
    for (n, d) in shapes {
        let refs = normal(n, d, "refs");
        let queries = normal(B, d, "queries");
        let weights = normal(B, n, "weights");
        let cf = ClosedForm::with_options(refs.clone(), Options { tol, ..defaults }).unwrap();
        let paths = cf.evaluate(&queries, &[T_DENSE; B], false).unwrap().paths;
        let (mut logits, mut wsum) = (vec![0f32; B * n], vec![0f32; B * d]);
        let (mut ours, mut products) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
        for _ in 0..pairs {
            let start = Instant::now();
            black_box(cf.velocity(&queries, T_DENSE).unwrap());
            ours.push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            faer_nt(B, n, d, queries.as_slice(), refs.as_slice(), &mut logits, false, true);
            faer_nn(B, d, n, weights.as_slice(), refs.as_slice(), &mut wsum, false, true);
            black_box((&logits, &wsum));
            products.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let routes = format!(
            "{} / {} / {} / {} / {}",
            paths.fast, paths.sliced, paths.corrected, paths.double, paths.brute
        );
        let (o, p) = (median(ours), median(products));
        println!("| {n} | {d} | {o:.3} | {p:.3} | {:.2} | {routes} |", o / p);
    }
}
