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

#[cfg(test)]
mod tests {
    #[test]
    fn tables_escape_pipes() {
        let t = super::table(&["a", "b"], &[vec!["x|y".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| x\\|y | 1 |\n");
    }
}
