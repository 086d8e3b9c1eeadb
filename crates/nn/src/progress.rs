//! The progress bar of long runs: position, loss and ETA on stderr, or nothing.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar named `label` over `total` steps starting at `done`; hidden unless `show`. The
/// caller puts the current loss in the message.
pub(crate) fn bar(label: &str, show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template =
        format!("{{spinner}} {label} {{pos}}/{{len}} [{{bar:30}}] loss {{msg}} {{per_sec}} ETA {{eta}}");
    let bar = ProgressBar::new(total)
        .with_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
    bar.set_position(done);
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_parses_and_hidden_bar_is_silent() {
        let b = super::bar("train", true, 10, 3);
        assert_eq!(b.position(), 3);
        assert!(super::bar("train", false, 10, 0).is_hidden());
    }
}
