//! Prints the benchmarks as Markdown tables from criterion's saved estimates
//! (`target/criterion/<group>/<id>/new/estimates.json`):
//! - the closed form: median time next to the matrix product measured in the same run, their
//!   ratio, queries/s and effective GFLOP/s counting `4 B n d` flops;
//! - training steps, and the EFM overhead fitted to the paper's cost model
//!   `t(M) = b (a + M c)` by least squares over M (App. D.1: a = 4.3 ms, c = 0.9 us).

use std::path::Path;

const B: f64 = 256.0;
const B_TRAIN: f64 = 128.0;

fn median_ms(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e6)
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "target/criterion".into());
    closed_form(&root);
    training(Path::new(&root));
}

fn training(root: &Path) {
    let steps = root.join("train_step");
    let names = ["mlp_d64", "mlp_d784", "mlp_otcfm", "unet_tiny_cfm"];
    let rows: Vec<(&str, f64)> = names.iter().filter_map(|n| median_ms(&steps, n).map(|t| (*n, t))).collect();
    if !rows.is_empty() {
        println!("\n| training step (batch 128, 8x8 digits) | ms | samples/s |\n|---|---|---|");
        for (n, t) in rows {
            println!("| {n} | {t:.2} | {:.0} |", B_TRAIN / t * 1e3);
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
    for entry in std::fs::read_dir(root).unwrap_or_else(|e| panic!("{root}: {e}; run `just bench` first")) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(shape) = name.strip_prefix("closed_form_n") else { continue };
        let (n, d) = shape.split_once("_d").unwrap();
        let (n, d): (f64, f64) = (n.parse().unwrap(), d.parse().unwrap());
        let (Some(cf), Some(mm)) = (median_ms(&path, "closed_form"), median_ms(&path, "matmul")) else {
            continue;
        };
        rows.push((d, n, cf, mm, median_ms(&path, "candle_matmul")));
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| n | d | closed form ms | queries/s | eff. GFLOP/s | one matmul ms | ratio | candle matmul ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (d, n, cf, mm, candle) in rows {
        let candle = candle.map_or("-".into(), |c| format!("{c:.2}"));
        println!(
            "| {n} | {d} | {cf:.2} | {:.0} | {:.1} | {mm:.2} | {:.2} | {candle} |",
            B / cf * 1e3,
            4.0 * B * n * d / cf / 1e6,
            cf / mm
        );
    }
}
