//! Fig. 1a (mean): the mean over pairs of `cos(u*(x_t, t), x1 - x0)` against t, one line per
//! dataset (legend: name and dimension d, ordered by d). Lines that reach 1 early belong to
//! datasets where the closed form follows the stochastic target from the start. It draws the
//! study's [`fig1a_mean::View`].

use cfm_study::figures::fig1a_mean;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Axes, Entry, Mark};
use crate::style;

/// Height of the panel, in pixels.
const HEIGHT: u32 = 560;
/// Width of the legend column, in pixels.
const LEGEND: u32 = 250;

/// Renders the mean-cosine figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig1a_mean::View::read(df)?;
    let curves = view.by_dimension();
    let low = curves.iter().flat_map(|c| &c.values).copied().filter(|v| v.is_finite()).fold(0.0, f64::min);
    canvas::figure(title, caption, HEIGHT, |area| {
        let (plot, key) = canvas::with_legend(area, LEGEND);
        let axes = Axes { x_ticks: 11, y_ticks: 8, ..Axes::new("", "t", "mean cosine(u*, x1 - x0)") };
        let mut chart = canvas::panel(&plot, &axes, 0.0..1.0, (low - 0.05)..1.05)?;
        let mut entries = Vec::new();
        for (k, curve) in curves.iter().enumerate() {
            let colour = style::categorical(k);
            let points = curve.ts.iter().copied().zip(curve.values.iter().copied());
            chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            entries.push(Entry::new(Mark::Line(colour), format!("{} (d = {})", curve.name, curve.d)));
        }
        canvas::legend(&key, &entries)
    })
}

#[cfg(test)]
mod tests {
    use cfm_study::figures::fig1a_mean::{COLUMNS, FRAC_ABOVE, MEAN_COSINE};
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (name, d) in [("gmm-d128", 128usize), ("two-moons", 2), ("digits", 64)] {
            for k in 0..5 {
                let t = k as f64 * 0.2;
                let v = 1.0 - (1.0 - t) / d as f64;
                b.push(row![name, d, 100usize, t, MEAN_COSINE, v]);
                b.push(row![name, d, 100usize, t, FRAC_ABOVE, v]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_one_line_per_dataset_with_its_legend_entry() {
        let svg = render(&table(), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        assert_eq!(testing::data_lines(&el), 3);
        for label in ["two-moons (d = 2)", "digits (d = 64)", "gmm-d128 (d = 128)", "t"] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        // Ordered by dimension: two-moons gets the first colour.
        let first = el.iter().find(|e| e.tag == "polyline" && e.points() >= 3).unwrap();
        assert_eq!(first.attr("stroke"), Some(testing::hex(style::categorical(0)).as_str()));
        assert_eq!(first.points(), 5);
    }

    #[test]
    fn missing_statistic_rows_are_an_error() {
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["a", 2usize, 5usize, 0.5, FRAC_ABOVE, 0.1]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("no rows with statistic 'mean_cosine'"), "{err}");
    }

    #[test]
    fn missing_columns_are_all_named() {
        let df = table().drop(COLUMNS[5]).unwrap().drop(COLUMNS[1]).unwrap();
        let err = render(&df, TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("'d', 'value'"), "{err}");
    }
}
