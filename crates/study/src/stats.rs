//! The statistics the figures' claims and key numbers share, and the number format of the
//! report: one definition of each, so that a claim and a key-number table never disagree.

/// The time grid `0, step, 2 step, ..., <= last` (rounded to avoid drift).
pub fn grid(step: f64, last: f64) -> Vec<f64> {
    let k = (last / step + 1e-9).floor() as usize;
    (0..=k).map(|i| ((i as f64 * step) * 1e6).round() / 1e6).collect()
}

/// Mean of a slice (0 for an empty one).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = mean(v);
    let sd =
        if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, sd)
}

/// Median (mean of the two middle values for an even count; NaN for none).
pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.to_vec();
    v.sort_by(f64::total_cmp);
    let k = v.len();
    match k {
        0 => f64::NAN,
        _ if k % 2 == 1 => v[k / 2],
        _ => 0.5 * (v[k / 2 - 1] + v[k / 2]),
    }
}

/// The time from which `values` (on the increasing grid `ts`) stays at or above `level` up to
/// the end of the grid, linearly interpolated with the grid point before; `None` if the last
/// value is below `level`. Unlike the first crossing, this ignores an early excursion above the
/// level (at `t = 0` the closed form `mean - x0` can already be close to `x1 - x0`).
pub fn settles_above(ts: &[f64], values: &[f64], level: f64) -> Option<f64> {
    let below = values.iter().rposition(|&v| v < level);
    match below {
        None => ts.first().copied(),
        Some(i) if i + 1 == values.len() => None,
        Some(i) => {
            let (t0, t1, v0, v1) = (ts[i], ts[i + 1], values[i], values[i + 1]);
            Some(t0 + (t1 - t0) * (level - v0) / (v1 - v0))
        }
    }
}

/// Least-squares line `y = a + b x` through `(x, y)` points and its
/// `R^2 = s_xy^2 / (s_xx s_yy) = 1 - SS_res / SS_tot` (NaN when fewer than two distinct x).
pub fn least_squares(pts: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    if pts.len() < 2 || sxx == 0.0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let b = sxy / sxx;
    let r2 = if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) };
    (my - b * mx, b, r2)
}

/// Spearman rank correlation (ties broken by position).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        idx.iter().enumerate().for_each(|(k, &i)| r[i] = k as f64);
        r
    };
    let (rx, ry) = (rank(x), rank(y));
    let n = x.len() as f64;
    1.0 - 6.0 * rx.iter().zip(&ry).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / (n * (n * n - 1.0))
}

/// A number with `digits` significant digits, in plain or scientific notation as fits; magnitudes
/// below the tables' noise floor ([`crate::table::NOISE_FLOOR`]) print as 0.
pub fn num(v: f64, digits: usize) -> String {
    let v = if v.abs() < crate::table::NOISE_FLOOR { 0.0 } else { v };
    if !v.is_finite() {
        return if v.is_nan() { "n/a".into() } else { format!("{v}") };
    }
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        return format!("{:.*e}", digits.saturating_sub(1), v);
    }
    let magnitude = if v == 0.0 { 0 } else { v.abs().log10().floor() as i32 };
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A percentage of a fraction, no decimals (`0.5` -> `"50%"`).
pub fn pct(v: f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settling_time_is_interpolated() {
        let ts = [0.0, 0.1, 0.2];
        assert!((settles_above(&ts, &[0.95, 0.5, 1.0], 0.9).unwrap() - 0.18).abs() < 1e-12);
        assert_eq!(settles_above(&ts, &[0.95, 0.92, 1.0], 0.9), Some(0.0));
        assert_eq!(settles_above(&ts, &[0.95, 0.92, 0.5], 0.9), None);
        assert_eq!(grid(0.01, 0.99).len(), 100);
        assert_eq!(grid(0.01, 0.99)[99], 0.99);
    }

    #[test]
    fn least_squares_recovers_a_line() {
        let pts: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 + 0.5 * i as f64)).collect();
        let (a, b, r2) = least_squares(&pts);
        assert!((a - 2.0).abs() < 1e-12 && (b - 0.5).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        assert!(least_squares(&[(1.0, 2.0), (1.0, 3.0)]).0.is_nan());
    }

    #[test]
    fn moments_ranks_and_numbers() {
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&x, &[10.0, 20.0, 25.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(num(0.123456, 3), "0.123");
        assert_eq!(num(123.456, 3), "123");
        assert_eq!(num(1.5e-5, 2), "1.5e-5");
        assert_eq!(num(f64::NAN, 2), "n/a");
        assert_eq!(pct(0.514), "51%");
    }
}
