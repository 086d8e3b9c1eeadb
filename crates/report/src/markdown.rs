//! Markdown building blocks.

/// A Markdown table; `|` and newlines inside cells are escaped so the table stays valid.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n|{}\n", headers.join(" | "), "---|".repeat(headers.len()));
    for r in rows {
        out.push_str(&format!("| {} |\n", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

/// A number with `digits` significant digits, in plain or scientific notation as fits; magnitudes
/// below the tables' noise floor (`cfm_study::table::NOISE_FLOOR`) print as 0.
pub fn num(v: f64, digits: usize) -> String {
    let v = if v.abs() < cfm_study::table::NOISE_FLOOR { 0.0 } else { v };
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

#[cfg(test)]
mod tests {
    #[test]
    fn tables_escape_pipes_and_numbers_round() {
        let t = super::table(&["a", "b"], &[vec!["x|y".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| x\\|y | 1 |\n");
        assert_eq!(super::num(0.123456, 3), "0.123");
        assert_eq!(super::num(123.456, 3), "123");
        assert_eq!(super::num(1.5e-5, 2), "1.5e-5");
        assert_eq!(super::num(f64::NAN, 2), "n/a");
    }
}
