//! The closed form's matrix products under three backends: the gemm crate (what `cfm-core`'s
//! MLP and metrics use), faer (what its closed form uses), and OpenBLAS (Debian's
//! `libopenblas-dev`, through cblas). B = 256 queries, f32, standard-normal data; all threads
//! of rayon's pool (OpenBLAS: as many of its own).
//!
//! Shapes: the whole products `(B x d)(d x n)` (logits) and `(B x n)(n x d)` (weighted sum), and
//! the blocks the closed form runs: `(64 x d)(d x 1024)` and `(64 x 1024)(1024 x d)` on one
//! thread per tile (d < 256), `(256 x d)(d x 1024)` and `(256 x 1024)(1024 x d)` on all threads
//! (d >= 256). Before timing, each backend's products on 1, 2 and 3 threads are compared bit for
//! bit; the verdicts go to `target/criterion/backend_threads.json` for `bench-table`.
//!
//! `cargo bench -p cfm-bench --features backends --bench backends` (or `just bench-backends`).

use std::ffi::{CStr, c_char, c_int};

use cfm_core::Stream;
use criterion::{Criterion, criterion_group, criterion_main};

#[link(name = "openblas")]
unsafe extern "C" {
    fn openblas_set_num_threads(n: c_int);
    fn openblas_get_corename() -> *const c_char;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Gemm,
    Faer,
    OpenBlas,
}

const BACKENDS: [Backend; 3] = [Backend::Gemm, Backend::Faer, Backend::OpenBlas];
const B: usize = 256;

/// One product shape: `c = a b^T` (`nt`) or `c = a b`, `a` is `m x k`, `c` is `m x n`, all
/// row-major; on all threads when `par`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    nt: bool,
    m: usize,
    n: usize,
    k: usize,
    par: bool,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Gemm => "gemm",
            Backend::Faer => "faer",
            Backend::OpenBlas => "openblas",
        }
    }

    fn product(self, s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
        let Shape { nt, m, n, k, par } = s;
        match self {
            Backend::Gemm if nt => cfm_core::matrix::gemm_nt(m, n, k, a, b, c, false, par),
            Backend::Gemm => cfm_core::matrix::gemm_nn(m, n, k, a, b, c, false, par),
            Backend::Faer if nt => cfm_core::matrix::faer_nt(m, n, k, a, b, c, false, par),
            Backend::Faer => cfm_core::matrix::faer_nn(m, n, k, a, b, c, false, par),
            Backend::OpenBlas => {
                use cblas_sys::*;
                let int = |v: usize| c_int::try_from(v).expect("dimension fits a C int");
                let threads = if par { rayon::current_num_threads() } else { 1 };
                // SAFETY: the slices hold the row-major operands that the leading dimensions
                // describe.
                unsafe {
                    openblas_set_num_threads(int(threads));
                    cblas_sgemm(
                        CblasRowMajor,
                        CblasNoTrans,
                        if nt { CblasTrans } else { CblasNoTrans },
                        int(m),
                        int(n),
                        int(k),
                        1.0,
                        a.as_ptr(),
                        int(k),
                        b.as_ptr(),
                        int(if nt { k } else { n }),
                        0.0,
                        c.as_mut_ptr(),
                        int(n),
                    );
                }
            }
        }
    }
}

fn normal(len: usize, label: &str) -> Vec<f32> {
    Stream::new(0).derive(label).normal_vec(len)
}

fn cases() -> Vec<(String, Shape)> {
    let mut cases = Vec::new();
    let n = 10_000;
    for d in [2, 64, 784, 3072] {
        cases.push((format!("logits_n{n}_d{d}"), Shape { nt: true, m: B, n, k: d, par: true }));
        cases.push((format!("wsum_n{n}_d{d}"), Shape { nt: false, m: B, n: d, k: n, par: true }));
    }
    cases.push(("tile_logits_d64".into(), Shape { nt: true, m: 64, n: 1024, k: 64, par: false }));
    cases.push(("tile_wsum_d64".into(), Shape { nt: false, m: 64, n: 64, k: 1024, par: false }));
    for d in [784, 3072] {
        cases.push((format!("chunk_logits_d{d}"), Shape { nt: true, m: B, n: 1024, k: d, par: true }));
        cases.push((format!("chunk_wsum_d{d}"), Shape { nt: false, m: B, n: d, k: 1024, par: true }));
    }
    cases
}

/// Whether `be` gives bit-identical products on 1, 2 and 3 threads at the parallel shapes.
fn thread_independent(be: Backend) -> bool {
    cases().into_iter().filter(|(_, s)| s.par).all(|(label, s)| {
        let a = normal(s.m * s.k, "a");
        let b = normal(s.n * s.k, "b");
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0f32; s.m * s.n];
            pool.install(|| be.product(s, &a, &b, &mut c));
            c
        };
        let one = run(1);
        let same = [2, 3].iter().all(|&t| run(t).iter().zip(&one).all(|(x, y)| x.to_bits() == y.to_bits()));
        if !same {
            eprintln!("{}: {label} differs between 1, 2 and 3 threads", be.name());
        }
        same
    })
}

fn backends(c: &mut Criterion) {
    // SAFETY: OpenBLAS returns a static string.
    let core = unsafe { CStr::from_ptr(openblas_get_corename()) }.to_string_lossy().into_owned();
    let threads = rayon::current_num_threads();
    eprintln!("OpenBLAS kernel: {core}; threads: {threads}");
    let verdicts: serde_json::Map<String, serde_json::Value> =
        BACKENDS.iter().map(|&be| (be.name().to_string(), thread_independent(be).into())).collect();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or(out, |t| std::path::PathBuf::from(t).join("criterion"));
    std::fs::create_dir_all(&target).unwrap();
    let info =
        serde_json::json!({ "thread_independent": verdicts, "openblas_kernel": core, "threads": threads });
    std::fs::write(target.join("backend_threads.json"), info.to_string()).unwrap();

    for (label, s) in cases() {
        let a = normal(s.m * s.k, "a");
        let b = normal(s.n * s.k, "b");
        let mut out = vec![0f32; s.m * s.n];
        let mut g = c.benchmark_group(format!("backend_{label}"));
        g.sample_size(10);
        for be in BACKENDS {
            g.bench_function(be.name(), |bch| bch.iter(|| be.product(s, &a, &b, &mut out)));
        }
        g.finish();
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
