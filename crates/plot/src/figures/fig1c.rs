//! Fig. 1c: the fraction of pairs whose cosine `cos(u*(x_t, t), x1 - x0)` exceeds 0.9, against
//! t, one line per resolution of a dataset family (colour: resolution, dark = low), one panel
//! per family. Curves that rise earlier belong to higher dimensions.

use cfm_study::figures::fig1a_mean;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Axes, Entry, Mark};
use crate::style;
use crate::table::{Table, distinct};

const ID: &str = "fig1c";
const STATISTIC: &str = fig1a_mean::FRAC_ABOVE;
/// Height of the panels, in pixels.
const HEIGHT: u32 = 540;
/// Width of each panel's legend column, in pixels.
const LEGEND: u32 = 230;

/// One line: its legend label and points `(t, fraction)`.
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
}

/// Renders Fig. 1c.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let table = Table::new(ID, df, &["dataset", "size", "d", "t", "statistic", "value"])?;
    let (families, sizes, ds) = (table.text("dataset")?, table.num("size")?, table.num("d")?);
    let (ts, stats, values) = (table.num("t")?, table.text("statistic")?, table.num("value")?);
    let rows: Vec<usize> = (0..families.len()).filter(|&i| stats[i] == STATISTIC).collect();
    if rows.is_empty() {
        return Err(table.malformed(format!("no rows with statistic '{STATISTIC}'")));
    }
    // Per family, one curve per resolution, ordered by dimension.
    let mut panels: Vec<(String, Vec<Curve>)> = Vec::new();
    for family in distinct(rows.iter().map(|&i| families[i].clone())) {
        let mine: Vec<usize> = rows.iter().copied().filter(|&i| families[i] == family).collect();
        let mut keys: Vec<(f64, f64)> = distinct(mine.iter().map(|&i| (ds[i], sizes[i])));
        keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let curves = keys
            .iter()
            .map(|&(d, size)| {
                let mut points: Vec<(f64, f64)> = mine
                    .iter()
                    .filter(|&&i| ds[i] == d && sizes[i] == size)
                    .map(|&i| (ts[i], values[i]))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Curve { label: format!("{family} {size}x{size} (d = {d})"), points }
            })
            .collect();
        panels.push((family, curves));
    }
    canvas::figure(title, caption, HEIGHT, |area| {
        for (k, ((family, curves), slot)) in
            panels.iter().zip(area.split_evenly((1, panels.len()))).enumerate()
        {
            let (plot, key) = canvas::with_legend(&slot, LEGEND);
            let y = if k == 0 { "fraction of pairs with cosine > 0.9" } else { "" };
            let axes = Axes { x_ticks: 11, ..Axes::new(family, "t", y) };
            let mut chart = canvas::panel(&plot, &axes, 0.0..1.0, 0.0..1.02)?;
            let mut entries = Vec::new();
            for (j, curve) in curves.iter().enumerate() {
                let colour = style::sequential(j, curves.len());
                chart.draw_series(LineSeries::new(curve.points.iter().copied(), colour.stroke_width(2)))?;
                entries.push(Entry::new(Mark::Line(colour), curve.label.clone()));
            }
            canvas::legend(&key, &entries)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&["dataset", "size", "d", "n", "t", "statistic", "value"]);
        for (family, sizes, channels) in [("digits", &[16usize, 2, 8][..], 1usize), ("cifar10", &[4, 8], 3)] {
            for &s in sizes {
                let d = channels * s * s;
                for k in 0..4 {
                    let t = k as f64 / 3.0;
                    b.push(row![family, s, d, 100usize, t, "frac_cosine_gt_0.9", t.powf(1.0 / d as f64)]);
                    b.push(row![family, s, d, 100usize, t, "mean_cosine", 0.5]);
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
        let df = table().drop("size").unwrap();
        let err = render(&df, TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig1c") && err.contains("'size'"), "{err}");
    }
}
