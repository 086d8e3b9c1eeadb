//! Collapse time (beyond the paper), drawn from [`collapse::View`]: the first time t* at which the closed form has collapsed
//! onto the generating point, for Gaussian mixtures of dimension d and size n and for real
//! images at several resolutions, against log(n)/d on a log axis. Left: t* from the mean
//! cosine; right: from the median largest softmax weight. Marker colour: n (dark = small); open
//! markers at t* = 1: not reached by t = 0.99 (censored); crosses: the predicted
//! t* = s / (1 + s) of every set. The black line is the table's least-squares fit over the
//! mixtures t* = a + b ln(log(n)/d), straight on the log axis (the fit linear in log(n)/d, which
//! the axis would bend, is in the report); its coefficients, R² and point count are in the
//! legend.

use cfm_study::figures::collapse::{self, Definition};
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Axes, DOT, Entry, Mark};
use crate::style::{self, INK};

/// The two definitions of t*: panel title, name in the legend.
const PANELS: [(Definition, &str, &str); 2] = [
    (Definition::Cosine, "t* from the mean cosine", "mean cosine"),
    (Definition::Weight, "t* from the median largest softmax weight", "largest weight"),
];
/// Height of the panels, in pixels.
const HEIGHT: u32 = 520;
/// Width of the legend column, in pixels.
const LEGEND: u32 = 280;
/// Number of points the fitted line is drawn with.
const FIT_POINTS: usize = 64;
/// Half the size of a prediction's cross, in pixels.
const CROSS: i32 = 5;

/// One panel: points `(log(n)/d, n, t*)` and the fit `(a, b, R², points)` of
/// `t* = a + b ln(log(n)/d)`.
struct Panel {
    title: &'static str,
    name: &'static str,
    points: Vec<(f64, f64, f64)>,
    fit: [f64; 4],
}

/// Renders the collapse-time figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = collapse::View::read(df)?;
    let mut panels = Vec::new();
    for (definition, panel_title, short) in PANELS {
        let collapse::Panel { points, fit } = view.panel(definition)?;
        panels.push(Panel { title: panel_title, name: short, points, fit });
    }
    let predicted = view.predicted();
    let sizes = view.sizes();
    let colour = |n: f64| style::sequential(sizes.iter().position(|&s| s == n).unwrap_or(0), sizes.len());
    let xs = || panels.iter().flat_map(|p| p.points.iter().map(|q| q.0));
    let (x_lo, x_hi) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
    let mut entries: Vec<Entry> =
        sizes.iter().map(|&n| Entry::new(Mark::Dot(colour(n)), format!("n = {n}"))).collect();
    entries.push(Entry::new(Mark::Ring(INK), "open: not reached by t = 0.99 (drawn at 1)"));
    if !predicted.is_empty() {
        entries.push(Entry::new(Mark::None, "crosses: predicted t* = s / (1 + s), s = sqrt(2 ln n) / Delta"));
    }
    for panel in &panels {
        let [a, b, r2, k] = panel.fit;
        entries.push(if a.is_finite() && b.is_finite() {
            let sign = if b < 0.0 { "-" } else { "+" };
            Entry::new(
                Mark::Line(INK),
                format!(
                    "fit, {}: t* = {} {sign} {} ln(log(n)/d), R² = {} ({k} points)",
                    panel.name,
                    style::num(a, 3),
                    style::num(b.abs(), 3),
                    style::num(r2, 3)
                ),
            )
        } else {
            Entry::new(Mark::None, format!("no fit, {}: fewer than two collapsed points", panel.name))
        });
    }
    canvas::figure(title, caption, HEIGHT, |area| {
        let (plots, key) = canvas::with_legend(area, LEGEND);
        for (k, (panel, slot)) in panels.iter().zip(plots.split_evenly((1, panels.len()))).enumerate() {
            let y = if k == 0 { "collapse time t*" } else { "" };
            let axes = Axes::new(panel.title, "log(n) / d", y);
            let x_range = ((x_lo / 1.6)..(x_hi * 1.6)).log_scale();
            let mut chart = canvas::panel(&slot, &axes, x_range, 0.0..1.05)?;
            let [a, b, ..] = panel.fit;
            if a.is_finite() && b.is_finite() {
                let line: Vec<(f64, f64)> = (0..FIT_POINTS)
                    .map(|j| x_lo * (x_hi / x_lo).powf(j as f64 / (FIT_POINTS - 1) as f64))
                    .map(|x| (x, a + b * x.ln()))
                    .filter(|p| (0.0..=1.05).contains(&p.1))
                    .collect();
                chart.draw_series(LineSeries::new(line, INK.stroke_width(2)))?;
            }
            chart.draw_series(
                predicted
                    .iter()
                    .filter(|p| p.2 <= 1.05)
                    .map(|&(x, n, t)| Cross::new((x, t), CROSS, colour(n).stroke_width(2))),
            )?;
            chart.draw_series(panel.points.iter().map(|&(x, n, t)| {
                let style = if t < 1.0 { colour(n).filled() } else { colour(n).stroke_width(2) };
                Circle::new((x, t.min(1.0)), DOT, style)
            }))?;
        }
        canvas::legend(&key, &entries)
    })
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    use cfm_study::figures::collapse::{
        COLUMNS, DEFINITIONS, FIT_PARTS, GMM, T_STAR_COSINE, T_STAR_WEIGHT, fit_statistic,
    };

    /// d in {2, 32, 512} x n in {100, 1000}; t*_cosine is censored at d = 2, t*_weight never.
    fn table(weight_intercept: f64) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for d in [2usize, 32, 512] {
            for n in [100usize, 1000] {
                let x = (n as f64).ln() / d as f64;
                let cosine = if d == 2 { 1.0 } else { 0.1 + 0.5 * x };
                b.push(row![GMM, d, n, x, T_STAR_COSINE, cosine]);
                b.push(row![GMM, d, n, x, T_STAR_WEIGHT, 0.1 + 0.2 * x]);
            }
        }
        for (key, a, slope) in [(DEFINITIONS[0], 0.1, 0.5), (DEFINITIONS[1], weight_intercept, 0.2)] {
            // The fit in ln(log(n)/d) and its point count.
            let parts = [(FIT_PARTS[4], a), (FIT_PARTS[5], slope), (FIT_PARTS[6], 1.0), (FIT_PARTS[3], 4.0)];
            for (part, v) in parts {
                b.push(row![GMM, 0usize, 0usize, 0.0, fit_statistic(part, key), v]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_filled_and_open_markers_coloured_by_n_and_the_fits() {
        let svg = render(&table(0.1), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        let (small, large) = (style::sequential(0, 2), style::sequential(1, 2));
        // Per n: 2 + 3 collapsed points (left, right), one censored (d = 2, left); one legend dot.
        assert_eq!(testing::filled(&el, "circle", small), 5 + 1);
        assert_eq!(testing::filled(&el, "circle", large), 5 + 1);
        assert_eq!(testing::rings(&el, small), 1);
        assert_eq!(testing::rings(&el, large), 1);
        assert_eq!(testing::rings(&el, INK), 1);
        assert_eq!(testing::data_lines(&el), 2);
        for label in ["n = 100", "n = 1000", "t* from the mean cosine", "log(n) / d", "collapse time t*"] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        let text = testing::all_text(&el);
        assert!(text.contains("fit, mean cosine: t* = 0.1 + 0.5 ln(log(n)/d), R² = 1 (4 points)"), "{text}");
    }

    #[test]
    fn a_missing_fit_draws_no_line_and_says_so() {
        let svg = render(&table(f64::NAN), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        assert_eq!(testing::data_lines(&el), 1);
        assert!(testing::all_text(&el).contains("no fit, largest weight: fewer than two collapsed points"));
    }

    #[test]
    fn missing_rows_and_columns_are_named() {
        let err = render(&table(0.1).drop(COLUMNS[3]).unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("collapse") && err.contains("'log_n_over_d'"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row![GMM, 2usize, 100usize, 2.3, T_STAR_COSINE, 0.5]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("no 'fit_log_intercept_cosine' row"), "{err}");
    }
}
