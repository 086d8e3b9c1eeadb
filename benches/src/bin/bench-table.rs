//! Prints the closed-form benchmark as a Markdown table from criterion's saved estimates
//! (`target/criterion/closed_form_n*_d*/*/new/estimates.json`): median time of the closed form
//! and of the matrix products measured in the same run, their ratio, queries/s and effective
//! GFLOP/s counting `4 B n d` flops.

use std::path::Path;

const B: f64 = 256.0;

fn median_ms(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e6)
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "target/criterion".into());
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{root}: {e}; run `just bench` first")) {
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
