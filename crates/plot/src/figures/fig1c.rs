//! Fig. 1c: the fraction of pairs whose cosine `cos(u*(x_t, t), x1 - x0)` exceeds 0.9, against
//! t, one line per resolution of a dataset family (colour: resolution, dark = low), one panel
//! per family. Curves that rise earlier belong to higher dimensions. It draws the study's
//! [`fig1c::View`].

use cfm_study::figures::fig1c;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Axes, Entry, Mark};
use crate::style;

/// Height of the panels, in pixels.
const HEIGHT: u32 = 540;
/// Width of each panel's legend column, in pixels.
const LEGEND: u32 = 230;

/// Renders Fig. 1c.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig1c::View::read(df)?;
    let panels = &view.families;
    canvas::figure(title, caption, HEIGHT, |area| {
        for (k, (family, slot)) in panels.iter().zip(area.split_evenly((1, panels.len()))).enumerate() {
            let name = family.data.name();
            let curves = &family.resolutions;
            let (plot, key) = canvas::with_legend(&slot, LEGEND);
            let y = if k == 0 { "fraction of pairs with cosine > 0.9" } else { "" };
            let axes = Axes { x_ticks: 11, ..Axes::new(name, "t", y) };
            let mut chart = canvas::panel(&plot, &axes, 0.0..1.0, 0.0..1.02)?;
            let mut entries = Vec::new();
            for (j, curve) in curves.iter().enumerate() {
                let colour = style::sequential(j, curves.len());
                let points = curve.ts.iter().copied().zip(curve.values.iter().copied());
                chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
                let label = format!("{name} {0}x{0} (d = {1})", curve.size, curve.d);
                entries.push(Entry::new(Mark::Line(colour), label));
            }
            canvas::legend(&key, &entries)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use cfm_study::figures::fig1a_mean::{FRAC_ABOVE, MEAN_COSINE};
    use cfm_study::figures::fig1c::COLUMNS;
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (family, sizes, channels) in [("digits", &[16usize, 2, 8][..], 1usize), ("cifar10", &[4, 8], 3)] {
            for &s in sizes {
                let d = channels * s * s;
                for k in 0..4 {
                    let t = k as f64 / 3.0;
                    b.push(row![family, s, d, 100usize, t, FRAC_ABOVE, t.powf(1.0 / d as f64)]);
                    b.push(row![family, s, d, 100usize, t, MEAN_COSINE, 0.5]);
                }
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_one_line_per_resolution_and_a_panel_per_family() {
        let svg = render(&table(), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        assert_eq!(testing::data_lines(&el), 5);
        for label in
            ["digits", "cifar10", "digits 2x2 (d = 4)", "digits 16x16 (d = 256)", "cifar10 8x8 (d = 192)"]
        {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        // Colour by resolution: the lowest resolution of each family gets the darkest colour.
        let dark = testing::hex(style::sequential(0, 3));
        let first = el.iter().find(|e| e.tag == "polyline" && e.points() >= 3).unwrap();
        assert_eq!(first.attr("stroke"), Some(dark.as_str()));
    }

    #[test]
    fn missing_column_is_named() {
        let df = table().drop(COLUMNS[1]).unwrap();
        let err = render(&df, TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig1c") && err.contains("'size'"), "{err}");
    }
}
