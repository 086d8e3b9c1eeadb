//! Prints the benchmarks as Markdown tables from criterion's saved estimates
//! (`target/criterion/<group>/<id>/new/estimates.json`):
//! - the closed form: median time next to its two matrix products measured in the same run
//!   (logits `(B x d)(d x n)`, weighted sum `(B x n)(n x d)`), its ratio to the first and to
//!   both, queries/s and effective GFLOP/s counting `4 B n d` flops; then at t = 0.02, where
//!   the weights have not concentrated, against both products, with the accuracy routes the
//!   queries took and their mean largest weight (`routes.json`, written by the bench);
//! - when `--bench backends` has run: the products under gemm, faer and OpenBLAS, and whether
//!   each backend's results are bit-identical on 1, 2 and 3 threads;
//! - training steps, where their time goes (`phases.json`, written by the training bench), and
//!   the EFM overhead fitted to the paper's cost model
//!   `t(M) = b (a + M c)` by least squares over M (App. D.1: a = 4.3 ms, c = 0.9 us).

use std::path::Path;

const B: f64 = 256.0;
const B_TRAIN: f64 = 128.0;

/// The JSON file at `path`, when it is there and parses.
fn json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn median_ms(dir: &Path, id: &str) -> Option<f64> {
    let v = json(&dir.join(id).join("new/estimates.json"))?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e6)
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "target/criterion".into());
    closed_form(&root);
    backends(Path::new(&root));
    training(Path::new(&root));
}

fn training(root: &Path) {
    let steps = root.join("train_step");
    let names = ["mlp_d64", "mlp_d784", "mlp_otcfm", "unet_tiny_cfm", "unet_c32_cfm"];
    let rows: Vec<(&str, f64)> = names.iter().filter_map(|n| median_ms(&steps, n).map(|t| (*n, t))).collect();
    if !rows.is_empty() {
        println!("\n| training step (batch 128, 8x8 digits) | ms | samples/s |\n|---|---|---|");
        for (n, t) in rows {
            println!("| {n} | {t:.2} | {:.0} |", B_TRAIN / t * 1e3);
        }
    }
    let phases: Vec<(&str, serde_json::Value)> =
        names.iter().filter_map(|n| Some((*n, json(&steps.join(n).join("phases.json"))?))).collect();
    if !phases.is_empty() {
        println!(
            "\n| where a step's time goes (median ms, share of their sum) | batch | forward | backward | clipping, Adam, EMA |\n|---|---|---|---|---|"
        );
        for (n, p) in phases {
            let ms: Vec<f64> = ["batch", "forward", "backward", "update"]
                .iter()
                .map(|k| p[k].as_f64().unwrap_or(f64::NAN))
                .collect();
            let sum: f64 = ms.iter().sum();
            let cells: Vec<String> = ms.iter().map(|v| format!("{v:.2} ({:.0}%)", 100.0 * v / sum)).collect();
            println!("| {n} | {} |", cells.join(" | "));
        }
    }
    let efm = root.join("efm_overhead");
    let pts: Vec<(f64, f64)> = [1.0, 128.0, 256.0, 1000.0]
        .iter()
        .filter_map(|&m| median_ms(&efm, &format!("m{m}")).map(|t| (m, t)))
        .collect();
    if pts.len() < 2 {
        return;
    }
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
        / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    let intercept = my - slope * mx;
    println!("\n| EFM references M | step ms | overhead vs M = 1 |\n|---|---|---|");
    for (m, t) in &pts {
        println!("| {m} | {t:.2} | {:+.1}% |", 100.0 * (t / pts[0].1 - 1.0));
    }
    println!(
        "\nfit t(M) = b (a + M c), b = 128: a = {:.3} ms, c = {:.3} us per sample (paper, L4 GPU, CIFAR-10 U-Net: a = 4.3 ms, c = 0.9 us)",
        intercept / B_TRAIN,
        slope / B_TRAIN * 1e3
    );
}

fn closed_form(root: &str) {
    let mut rows = Vec::new();
    let mut dense = Vec::new();
    for entry in std::fs::read_dir(root).unwrap_or_else(|e| panic!("{root}: {e}; run `just bench` first")) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(shape) = name.strip_prefix("closed_form_n") else { continue };
        let (n, d) = shape.split_once("_d").unwrap();
        let (n, d): (f64, f64) = (n.parse().unwrap(), d.parse().unwrap());
        let (Some(cf), Some(mm)) = (median_ms(&path, "closed_form"), median_ms(&path, "matmul")) else {
            continue;
        };
        rows.push((d, n, cf, mm, median_ms(&path, "matmul_nn"), median_ms(&path, "candle_matmul")));
        let routes = json(&path.join("routes.json"));
        dense.push((
            d,
            n,
            median_ms(&path, "closed_form_dense"),
            mm + median_ms(&path, "matmul_nn").unwrap_or(f64::NAN),
            routes,
        ));
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| n | d | closed form ms | queries/s | eff. GFLOP/s | logits matmul ms | weighted-sum matmul ms | vs one | vs two | candle matmul ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let ms = |v: Option<f64>| v.map_or("-".into(), |c| format!("{c:.2}"));
    for (d, n, cf, mm, nn, candle) in rows {
        println!(
            "| {n} | {d} | {cf:.2} | {:.0} | {:.1} | {mm:.2} | {} | {:.2} | {} | {} |",
            B / cf * 1e3,
            4.0 * B * n * d / cf / 1e6,
            ms(nn),
            cf / mm,
            nn.map_or("-".into(), |nn| format!("{:.2}", cf / (mm + nn))),
            ms(candle),
        );
    }
    dense.sort_by(|a, b| (a.0, a.1).partial_cmp(&(b.0, b.1)).unwrap());
    if dense.iter().all(|r| r.2.is_none()) {
        return;
    }
    println!(
        "\n| n | d | t = 0.02 ms | vs two | routes at t = 0.02 (fast / sliced / corrected / f64 / brute) | mean largest weight | routes at t = 0.5 | mean largest weight |\n|---|---|---|---|---|---|---|---|"
    );
    let route = |r: &Option<serde_json::Value>, t: &str| match r {
        Some(v) => (
            v[t]["routes"]
                .as_array()
                .map_or("-".into(), |a| a.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" / ")),
            v[t]["max_weight"].as_f64().map_or("-".into(), |w| format!("{w:.3}")),
        ),
        None => ("-".into(), "-".into()),
    };
    for (d, n, ms_dense, two, routes) in &dense {
        let ((r02, w02), (r05, w05)) = (route(routes, "t0.02"), route(routes, "t0.5"));
        let cf = ms_dense.map_or("-".into(), |c| format!("{c:.2}"));
        let ratio = ms_dense.map_or("-".into(), |c| format!("{:.2}", c / two));
        println!("| {n} | {d} | {cf} | {ratio} | {r02} | {w02} | {r05} | {w05} |");
    }
}

/// The matrix-product backends side by side (`--bench backends`), fastest marked, with whether
/// each one's parallel products are bit-identical on 1, 2 and 3 threads.
fn backends(root: &Path) {
    const NAMES: [&str; 3] = ["gemm", "faer", "openblas"];
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let mut rows: Vec<(String, Vec<Option<f64>>)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if !path.is_dir() {
                return None;
            }
            let label = path.file_name()?.to_string_lossy().strip_prefix("backend_")?.to_string();
            Some((label, NAMES.iter().map(|b| median_ms(&path, b)).collect()))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    // Whole products by d, then the tiles and chunks, logits before weighted sums.
    let order = |l: &str| ["tile_", "chunk_"].iter().position(|p| l.starts_with(p));
    rows.sort_by_key(|(l, _)| {
        let d: usize = l.rsplit("_d").next().and_then(|d| d.parse().ok()).unwrap_or(0);
        (order(l), d, l.contains("wsum"))
    });
    let info = json(&root.join("backend_threads.json")).unwrap_or_default();
    println!(
        "\n| product (B = 256, n = 10k; tile 64 x 1024, chunk 256 x 1024) | gemm ms | faer ms | OpenBLAS ms ({}) |\n|---|---|---|---|",
        info["openblas_kernel"].as_str().unwrap_or("?")
    );
    for (label, times) in rows {
        let best = times.iter().flatten().copied().fold(f64::INFINITY, f64::min);
        let cells: Vec<String> = times
            .iter()
            .map(|t| match t {
                Some(t) if *t == best => format!("**{t:.3}**"),
                Some(t) => format!("{t:.3}"),
                None => "-".into(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    let verdict = |b: &str| match info["thread_independent"][b].as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    println!(
        "| bit-identical on 1, 2, 3 threads | {} | {} | {} |",
        verdict("gemm"),
        verdict("faer"),
        verdict("openblas")
    );
}
