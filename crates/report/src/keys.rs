//! The small table of key numbers shown under each figure, computed from its results table.
//! Only presentation: means and selections of what the table holds.

use cfm_study::table::{distinct, f64s, filter_eq, filter_near};
use polars::prelude::DataFrame;

use crate::Result;
use crate::markdown::{num, table};

/// The key-number table of figure `id`, if it has one.
pub fn key_numbers(id: &str, df: &DataFrame) -> Result<Option<String>> {
    Ok(match id {
        "fig1a" => Some(fig1a(df)?),
        "fig1a_mean" => Some(fig1a_mean(df)?),
        "fig1c" => Some(fig1c(df)?),
        "memorize" => Some(memorize(df)?),
        "prop2" => Some(prop2(df)?),
        "collapse" => Some(collapse(df)?),
        "fig2" => Some(fig2(df)?),
        "fig3" => Some(fig3(df)?),
        "fig4" => Some(fig4(df)?),
        "table1" => Some(table1(df)?),
        "efm_cost" => Some(efm_cost(df)?),
        _ => None,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn first(df: &DataFrame, col: &str) -> Result<f64> {
    Ok(f64s(df, col)?.first().copied().unwrap_or(f64::NAN))
}

fn value(df: &DataFrame, statistic: &str) -> Result<f64> {
    first(&filter_eq(df, "statistic", statistic)?, "value")
}

fn fig1a(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        let mut row = vec![format!("{name} (d = {})", first(&d, "d")?)];
        for t in distinct(&d, "t")? {
            let cos = f64s(&filter_eq(&d, "t", &t)?, "cosine")?;
            let above = cos.iter().filter(|&&c| c > 0.9).count() as f64 / cos.len() as f64;
            row.push(format!("{} ({:.0}%)", num(mean(&cos), 2), 100.0 * above));
        }
        rows.push(row);
    }
    let times: Vec<String> = distinct(df, "t")?.into_iter().map(|t| format!("t = {t}")).collect();
    let mut headers = vec!["mean cosine (% > 0.9)"];
    headers.extend(times.iter().map(String::as_str));
    Ok(table(&headers, &rows))
}

fn fig1a_mean(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(&filter_eq(df, "dataset", &name)?, "statistic", "mean_cosine")?;
        let (ts, vs) = (f64s(&d, "t")?, f64s(&d, "value")?);
        let at = |t: f64| ts.iter().position(|&x| (x - t).abs() < 1e-9).map_or(f64::NAN, |i| vs[i]);
        let settle =
            vs.iter().rposition(|&v| v < 0.9).map_or(ts[0], |i| ts.get(i + 1).copied().unwrap_or(f64::NAN));
        rows.push(vec![
            name,
            num(first(&d, "d")?, 4),
            num(first(&d, "n")?, 5),
            num(at(0.2), 3),
            num(at(0.5), 3),
            num(mean(&vs), 3),
            num(settle, 2),
        ]);
    }
    Ok(table(
        &["dataset", "d", "n", "mean cos at t = 0.2", "at t = 0.5", "mean over t", ">= 0.9 from t ="],
        &rows,
    ))
}

fn fig1c(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    let frac = filter_eq(df, "statistic", "frac_cosine_gt_0.9")?;
    for fam in distinct(&frac, "dataset")? {
        let f = filter_eq(&frac, "dataset", &fam)?;
        for size in distinct(&f, "size")? {
            let r = filter_eq(&f, "size", &size)?;
            let (ts, vs) = (f64s(&r, "t")?, f64s(&r, "value")?);
            let settle = vs
                .iter()
                .rposition(|&v| v < 0.99)
                .map_or(ts[0], |i| ts.get(i + 1).copied().unwrap_or(f64::NAN));
            let at = |t: f64| ts.iter().position(|&x| (x - t).abs() < 1e-9).map_or(f64::NAN, |i| vs[i]);
            rows.push(vec![
                format!("{fam} {size}x{size}"),
                num(first(&r, "d")?, 4),
                format!("{:.0}%", 100.0 * at(0.2)),
                format!("{:.0}%", 100.0 * at(0.5)),
                if settle.is_nan() { "never".into() } else { num(settle, 2) },
            ]);
        }
    }
    Ok(table(&["data", "d", "% cos > 0.9 at t = 0.2", "at t = 0.5", ">= 99% from t ="], &rows))
}

fn memorize(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        rows.push(vec![
            name,
            format!("{:.1}%", 100.0 * value(&d, "fraction_memorized")?),
            num(value(&d, "mean_d1")?, 2),
            num(value(&d, "train_to_train")?, 3),
        ]);
    }
    Ok(table(
        &["dataset", "copies (d1/d2 < 1/3)", "mean distance to nearest training point", "train-to-train"],
        &rows,
    ))
}

fn prop2(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        for est in distinct(&d, "estimator")? {
            let e = filter_eq(&d, "estimator", &est)?;
            for t in distinct(&e, "t")? {
                let r = filter_eq(&e, "t", &t)?;
                let z = f64s(&filter_eq(&r, "statistic", "bias_z")?, "value")?;
                let var = filter_eq(&r, "statistic", "variance")?;
                let (ms, vs) = (f64s(&var, "m")?, f64s(&var, "value")?);
                rows.push(vec![
                    name.clone(),
                    est.clone(),
                    t.clone(),
                    num(z.iter().copied().fold(0.0, f64::max), 3),
                    num(vs[0], 3),
                    format!(
                        "{} (M = {})",
                        num(*vs.last().unwrap_or(&f64::NAN), 3),
                        ms.last().unwrap_or(&f64::NAN)
                    ),
                ]);
            }
        }
    }
    Ok(table(
        &["dataset", "estimator", "t", "max bias z-score", "variance at M = 1", "variance at largest M"],
        &rows,
    ))
}

fn collapse(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for stat in ["cosine", "weight"] {
        let v = |k: &str| -> Result<String> { Ok(num(value(df, &format!("{k}_{stat}"))?, 3)) };
        rows.push(vec![
            stat.to_string(),
            v("fit_points")?,
            format!("{} + {} x (R^2 {})", v("fit_intercept")?, v("fit_slope")?, v("fit_r2")?),
            format!("{} + {} ln x (R^2 {})", v("fit_log_intercept")?, v("fit_log_slope")?, v("fit_log_r2")?),
        ]);
    }
    Ok(table(&["t* from", "points fitted", "linear in x = log(n)/d", "linear in ln x"], &rows))
}

fn fig2(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        let main = f64s(&d, "width")?.into_iter().fold(f64::NEG_INFINITY, f64::max);
        let d = filter_near(&d, "width", main)?;
        for n in distinct(&d, "n")? {
            let r = filter_eq(&d, "n", &n)?;
            let err = f64s(&filter_eq(&r, "statistic", "error")?, "value")?;
            let fd =
                if name == "two-moons" { value(&r, "fd_pixel_test")? } else { value(&r, "fd_feature_test")? };
            let base = if name == "two-moons" {
                value(&r, "train_to_train_subset")?
            } else {
                value(&r, "train_to_train_full")?
            };
            rows.push(vec![
                name.clone(),
                n,
                num(mean(&err), 3),
                num(fd, 3),
                num(value(&r, "mean_d1")? / base, 2),
                format!("{:.0}%", 100.0 * value(&r, "fraction_memorized")?),
            ]);
        }
    }
    Ok(table(
        &[
            "dataset",
            "n",
            "error to u* (mean over t)",
            "Fréchet to test",
            "mean d1 / train-to-train",
            "copies",
        ],
        &rows,
    ))
}

fn fig3(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for tau in [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0] {
        let r = filter_near(df, "tau", tau)?;
        if r.height() == 0 {
            continue;
        }
        rows.push(vec![
            num(tau, 2),
            num(value(&r, "mean_pixel_distance")?, 3),
            num(value(&r, "mean_feature_distance")?, 3),
            format!("{:.0}%", 100.0 * value(&r, "fraction_memorized")?),
        ]);
    }
    Ok(table(&["tau", "pixel distance to nearest training image", "feature distance", "copies"], &rows))
}

/// `mean ± sd` of `v` (sample standard deviation; just the mean for one value).
fn mean_sd(v: &[f64]) -> String {
    let m = mean(v);
    if v.len() < 2 {
        return num(m, 3);
    }
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
    format!("{} ± {}", num(m, 3), num(sd, 2))
}

fn fig4(df: &DataFrame) -> Result<String> {
    const METRICS: [&str; 4] = ["feature_train", "feature_test", "pixel_train", "pixel_test"];
    let mut rows = Vec::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        let last = f64s(&d, "epoch")?.into_iter().fold(f64::NEG_INFINITY, f64::max);
        let at_end = filter_near(&d, "epoch", last)?;
        for method in distinct(&at_end, "method")? {
            let r = filter_eq(&at_end, "method", &method)?;
            let mut row = vec![format!("{name}, {method}")];
            for metric in METRICS {
                row.push(mean_sd(&f64s(&filter_eq(&r, "metric", metric)?, "value")?));
            }
            row.push(num(last, 3));
            rows.push(row);
        }
    }
    let mut headers = vec!["final Fréchet distance (mean ± sd over seeds)"];
    headers.extend(["features, train", "features, test", "pixels, train", "pixels, test", "epoch"]);
    Ok(table(&headers, &rows))
}

fn table1(df: &DataFrame) -> Result<String> {
    let mut out = String::new();
    for name in distinct(df, "dataset")? {
        let d = filter_eq(df, "dataset", &name)?;
        let (metric, label) = if distinct(&d, "metric")?.iter().any(|m| m == "paper_fid") {
            ("paper_fid", format!("Published ({name}; not comparable in absolute value with ours)"))
        } else {
            (
                "feature_test_mean",
                format!(
                    "Ours ({name}, classifier-feature Fréchet distance to the test images, mean over seeds)"
                ),
            )
        };
        let r = filter_eq(&d, "metric", metric)?;
        if r.height() == 0 {
            continue;
        }
        let epochs = distinct(&r, "epoch")?;
        let mut rows = Vec::new();
        for method in distinct(&r, "method")? {
            let m = filter_eq(&r, "method", &method)?;
            let mut row = vec![method.trim_start_matches("paper:").to_string()];
            for e in &epochs {
                row.push(num(first(&filter_eq(&m, "epoch", e)?, "value")?, 4));
            }
            rows.push(row);
        }
        let heads: Vec<String> =
            epochs.iter().map(|e| format!("epoch {}", e.trim_end_matches(".0"))).collect();
        let mut headers = vec!["method"];
        headers.extend(heads.iter().map(String::as_str));
        out.push_str(&format!("{label}:\n\n{}\n", table(&headers, &rows)));
    }
    Ok(out)
}

/// A signed percentage, or "-" where the table has no value.
fn pct(v: f64) -> String {
    if v.is_finite() { format!("{v:+.1}%") } else { "-".into() }
}

fn efm_cost(df: &DataFrame) -> Result<String> {
    let mut rows = Vec::new();
    for model in distinct(df, "model")? {
        let d = filter_eq(df, "model", &model)?;
        let at = |stat: &str, m: f64| -> Result<f64> {
            first(&filter_near(&filter_eq(&d, "statistic", stat)?, "m", m)?, "value")
        };
        let fit = |stat: &str| -> Result<f64> { at(stat, 0.0) };
        rows.push(vec![
            model.clone(),
            num(at("step_ms", 1.0)?, 3),
            pct(at("overhead_pct", 128.0)?),
            pct(at("overhead_pct", 1000.0)?),
            format!(
                "a = {} ms, c = {} us, R^2 {}",
                num(fit("a_ms")?, 3),
                num(fit("c_us")?, 3),
                num(fit("r2")?, 3)
            ),
            if model == "paper" {
                "-".into()
            } else {
                format!("{} us (R^2 {})", num(fit("target_c_us")?, 3), num(fit("target_r2")?, 4))
            },
        ]);
    }
    Ok(table(
        &[
            "model",
            "step ms at M = 1",
            "overhead M = 128",
            "M = 1000",
            "fit of step times b (a + M c)",
            "target time per sample and reference",
        ],
        &rows,
    ))
}
