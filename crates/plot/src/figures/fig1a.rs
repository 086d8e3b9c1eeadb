//! Fig. 1a: histograms of `cos(u*(x_t, t), x1 - x0)` over the pairs of each dataset, one row
//! per dataset (headed with its d and n), one column per time t. Each panel shows the fraction
//! of pairs per bin (40 bins over [-1, 1]); bars near 1 mean that the closed form points where
//! the stochastic target does. It draws the study's [`fig1a::View`].

use cfm_study::figures::fig1a;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Axes};
use crate::style;

/// Number of histogram bins over [-1, 1].
pub const BINS: usize = 40;
/// Height of one dataset row (heading and panels), in pixels.
const ROW_HEIGHT: u32 = 250;

/// The fraction of `values` in each of [`BINS`] equal bins over [-1, 1] (values outside are
/// counted in the edge bins; NaN is left out).
fn histogram(values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; BINS];
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    for v in &finite {
        let k = (((v + 1.0) / 2.0) * BINS as f64).floor().clamp(0.0, (BINS - 1) as f64) as usize;
        counts[k] += 1;
    }
    counts.iter().map(|&c| c as f64 / finite.len().max(1) as f64).collect()
}

/// Renders Fig. 1a.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig1a::View::read(df)?;
    let times = &view.times;
    let rows: Vec<(String, Vec<Vec<f64>>)> = view
        .datasets
        .iter()
        .map(|data| {
            let heading = format!("{} (d = {}, n = {})", data.name, data.d, data.n);
            (heading, data.cosines.iter().map(|cos| histogram(cos)).collect())
        })
        .collect();
    let body = ROW_HEIGHT * rows.len() as u32;
    canvas::figure(title, caption, body, |area| {
        let width = 2.0 / BINS as f64;
        for (r, ((heading, hists), row)) in rows.iter().zip(area.split_evenly((rows.len(), 1))).enumerate() {
            let colour = style::categorical(r);
            let panels = canvas::heading(&row, heading)?.split_evenly((1, times.len()));
            let top = hists.iter().flatten().copied().fold(0.0, f64::max).max(0.05) * 1.1;
            for (c, (hist, panel)) in hists.iter().zip(&panels).enumerate() {
                let title = format!("t = {:.2}", times[c]);
                let x = if r + 1 == rows.len() { "cosine(u*, x1 - x0)" } else { "" };
                let y = if c == 0 { "fraction of pairs" } else { "" };
                let axes = Axes { x_ticks: 5, y_ticks: 5, ..Axes::new(&title, x, y) };
                let mut chart = canvas::panel(panel, &axes, -1.0..1.0, 0.0..top)?;
                chart.draw_series(hist.iter().enumerate().filter(|(_, f)| **f > 0.0).map(|(k, &f)| {
                    let lo = -1.0 + k as f64 * width;
                    Rectangle::new([(lo, 0.0), (lo + width, f)], colour.filled())
                }))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use cfm_study::figures::fig1a::{COLUMNS, TIMES};
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    /// Two datasets; at time k, dataset 0 has cosines in k + 1 distinct bins, dataset 1 all at 1.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (k, t) in TIMES.iter().enumerate() {
            for j in 0..=k {
                b.push(row!["two-moons", 2usize, 500usize, *t, j, -0.99 + 0.3 * j as f64]);
                b.push(row!["two-moons", 2usize, 500usize, *t, j + 10, -0.99 + 0.3 * j as f64]);
            }
            b.push(row!["digits", 64usize, 1797usize, *t, 0usize, 1.0]);
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_one_bar_per_nonempty_bin_in_a_row_per_dataset() {
        let svg = render(&table(), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // 1 + 2 + ... + 6 non-empty bins for two-moons, one per panel for digits.
        assert_eq!(testing::filled(&el, "rect", style::categorical(0)), 21);
        assert_eq!(testing::filled(&el, "rect", style::categorical(1)), 6);
        for label in ["two-moons (d = 2, n = 500)", "digits (d = 64, n = 1797)", "t = 0.01", "t = 0.99"] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        assert!(testing::has_label(&el, "cosine(u*, x1 - x0)"));
        assert!(testing::has_label(&el, "fraction of pairs"));
    }

    #[test]
    fn histogram_bins_and_fractions() {
        let h = histogram(&[-1.0, -0.99, 0.0, 1.0, 1.0000001, f64::NAN]);
        assert_eq!(h.len(), BINS);
        assert_eq!((h[0], h[20], h[39]), (0.4, 0.2, 0.4));
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn missing_column_is_named() {
        let df = table().drop(COLUMNS[5]).unwrap();
        let err = render(&df, TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig1a") && err.contains("'cosine'"), "{err}");
    }

    #[test]
    fn missing_time_is_named() {
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["a", 2usize, 5usize, 0.5, 0usize, 0.1]);
        b.push(row!["b", 2usize, 5usize, 0.7, 0usize, 0.1]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'a' has no rows at t = 0.7"), "{err}");
    }
}
