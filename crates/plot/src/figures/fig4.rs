//! Fig. 4: stochastic versus exact regression targets during training. One row of four panels
//! per dataset, standing for the paper's four (Inception / DINOv2 embedding x train / test
//! reference set): the Fréchet distance of the samples in the features of a classifier trained
//! here and in pixel space, each to the training and to the test images, against the training
//! epochs on a log axis. One line per method, in the paper's order (CFM, OT-CFM, then EFM-M by
//! M): CFM and OT-CFM in categorical colours, EFM-M on the sequential scale by M (dark = small).
//! A line is the mean over the seeds; where a method has two seeds or more, a light band spans
//! the smallest to the largest value over them. A panel's value axis is logarithmic when its
//! values are positive and span more than a decade. Below the panels, the legend names the
//! methods, the seeds and the classifier's test accuracy. Evaluations at epoch 0 cannot sit on
//! the log axis and are left out.

use cfm_study::figures::fig4;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Chart, Entry, Mark};
use crate::style::{self, WIDTH};
use crate::table::{Table, distinct, sorted_distinct};

const ID: &str = "fig4";
/// The Fréchet distances, in the order of the paper's panels: metric and panel title.
const PANELS: [(&str, &str); 4] = [
    ("feature_train", "classifier features, to train"),
    ("feature_test", "classifier features, to test"),
    ("pixel_train", "pixel space, to train"),
    ("pixel_test", "pixel space, to test"),
];
/// The metric of the feature classifier's test accuracy.
const ACCURACY: &str = fig4::CLASSIFIER_ACCURACY;
/// Height of the panels of a dataset row, in pixels.
const PANEL_H: u32 = 320;
/// Largest number of entries in one column of the legend of the methods.
const KEY_ROWS: usize = 3;
/// The categorical colour of CFM (vermillion).
const CFM: usize = 1;
/// The categorical colour of OT-CFM (black).
const OT_CFM: usize = 6;

/// Points `(epoch, value)` sorted by epoch.
type Points = Vec<(f64, f64)>;

/// Where a method sorts in the paper's order (CFM, OT-CFM, then EFM-M by M); `None` for a
/// label that names no known method.
fn rank(label: &str) -> Option<(u8, u64)> {
    match label {
        "CFM" => Some((0, 0)),
        "OT-CFM" => Some((1, 0)),
        _ => label.strip_prefix("EFM-")?.parse().ok().map(|m| (2, m)),
    }
}

/// The distinct method labels of `labels` in the paper's order, or the first label that names
/// no known method.
pub(super) fn in_order<'a>(
    labels: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<Vec<&'a str>, &'a str> {
    let mut methods = distinct(labels);
    if let Some(unknown) = methods.iter().find(|m| rank(m).is_none()) {
        return Err(*unknown);
    }
    methods.sort_by_key(|m| rank(m));
    Ok(methods)
}

/// The error for a method label that names no known method.
pub(super) fn unknown_method(table: &Table<'_>, label: &str) -> crate::Error {
    table.malformed(format!("unknown method '{label}' (expected CFM, OT-CFM or EFM-<M>)"))
}

/// One method's line in a panel.
struct Series {
    colour: RGBColor,
    /// The mean over the seeds.
    mean: Points,
    /// The outline of the band from the largest (left to right) to the smallest value (back),
    /// where the method has two seeds or more.
    band: Option<Points>,
}

/// One dataset's row: its name, the lines of each panel of [`PANELS`], and the legend below
/// them (columns of methods, then the notes).
struct Row {
    dataset: String,
    panels: Vec<Vec<Series>>,
    methods: Vec<Vec<Entry>>,
    notes: Vec<Entry>,
}

/// Renders Fig. 4.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let table = Table::new(ID, df, &["dataset", "method", "seed", "epoch", "metric", "value"])?;
    let (names, methods, seeds) = (table.text("dataset")?, table.text("method")?, table.num("seed")?);
    let (epochs, metrics, values) = (table.num("epoch")?, table.text("metric")?, table.num("value")?);
    let mut rows = Vec::new();
    for name in distinct(names.iter().cloned()) {
        let mine: Vec<usize> = (0..names.len()).filter(|&i| names[i] == name).collect();
        let order =
            in_order(mine.iter().map(|&i| methods[i].as_str())).map_err(|m| unknown_method(&table, m))?;
        let efms = order.iter().filter(|m| m.starts_with("EFM-")).count();
        let colours: Vec<RGBColor> = (0..order.len())
            .map(|k| match order[k] {
                "CFM" => style::categorical(CFM),
                "OT-CFM" => style::categorical(OT_CFM),
                _ => style::sequential(k + efms - order.len(), efms),
            })
            .collect();
        let distances = |i: &usize| PANELS.iter().any(|(metric, _)| metrics[*i] == *metric);
        let counts: Vec<usize> = order
            .iter()
            .map(|m| {
                let of_method = mine.iter().filter(|&&i| methods[i] == *m).filter(|i| distances(i));
                distinct(of_method.map(|&i| seeds[i])).len()
            })
            .collect();
        let mut panels = Vec::new();
        for (metric, _) in PANELS {
            let of_metric: Vec<usize> = mine.iter().copied().filter(|&i| metrics[i] == metric).collect();
            if of_metric.is_empty() {
                return Err(table.malformed(format!("dataset '{name}' has no '{metric}' rows")));
            }
            let mut lines = Vec::new();
            for (k, method) in order.iter().enumerate() {
                let of_method: Vec<usize> =
                    of_metric.iter().copied().filter(|&i| methods[i] == *method && epochs[i] > 0.0).collect();
                let (mut mean, mut low, mut high) = (Points::new(), Points::new(), Points::new());
                for epoch in sorted_distinct(of_method.iter().map(|&i| epochs[i])) {
                    let at: Vec<f64> = of_method
                        .iter()
                        .filter(|&&i| epochs[i] == epoch && values[i].is_finite())
                        .map(|&i| values[i])
                        .collect();
                    if at.is_empty() {
                        continue;
                    }
                    mean.push((epoch, at.iter().sum::<f64>() / at.len() as f64));
                    low.push((epoch, at.iter().copied().fold(f64::INFINITY, f64::min)));
                    high.push((epoch, at.iter().copied().fold(f64::NEG_INFINITY, f64::max)));
                }
                if mean.is_empty() {
                    continue;
                }
                let band = (counts[k] >= 2).then(|| high.into_iter().chain(low.into_iter().rev()).collect());
                lines.push(Series { colour: colours[k], mean, band });
            }
            if lines.is_empty() {
                return Err(table
                    .malformed(format!("dataset '{name}' has no finite '{metric}' values after epoch 0")));
            }
            panels.push(lines);
        }
        let accuracy = mine.iter().find(|&&i| metrics[i] == ACCURACY).map(|&i| values[i]);
        let (methods, notes) = key(&order, &colours, &counts, accuracy);
        rows.push(Row { dataset: name, panels, methods, notes });
    }
    let heights: Vec<u32> = rows.iter().map(row_height).collect();
    canvas::figure(title, caption, heights.iter().sum(), |area| {
        let mut rest = area.clone();
        for (row, h) in rows.iter().zip(&heights) {
            let (slot, below) = rest.split_vertically(*h);
            draw_row(&slot, row)?;
            rest = below;
        }
        Ok(())
    })
}

/// The legend of a row: the methods in columns of at most [`KEY_ROWS`] (a band mark where a
/// method has two seeds or more; the seed count in the label where methods differ in it), and
/// the notes: what lines and bands show, and the classifier's test accuracy.
fn key(
    order: &[&str],
    colours: &[RGBColor],
    counts: &[usize],
    accuracy: Option<f64>,
) -> (Vec<Vec<Entry>>, Vec<Entry>) {
    let seeds = distinct(counts.iter().copied());
    let plural = |s: usize| if s == 1 { "1 seed".to_string() } else { format!("{s} seeds") };
    let entries: Vec<Entry> = (0..order.len())
        .map(|k| {
            let mark = if counts[k] >= 2 { Mark::Band(colours[k]) } else { Mark::Line(colours[k]) };
            let label = if seeds.len() == 1 {
                order[k].to_string()
            } else {
                format!("{} ({})", order[k], plural(counts[k]))
            };
            Entry::new(mark, label)
        })
        .collect();
    let columns = entries.len().div_ceil(KEY_ROWS);
    let per_column = entries.len().div_ceil(columns);
    let mut entries = entries.into_iter();
    let methods = (0..columns).map(|_| entries.by_ref().take(per_column).collect()).collect();
    let lines = match seeds[..] {
        [1] => "one seed per method".to_string(),
        [s] => format!("line: mean over {s} seeds; band: their smallest to largest value"),
        _ => "line: mean over the seeds; band (2 seeds or more): their smallest to largest value".to_string(),
    };
    let mut notes = vec![Entry::new(Mark::None, lines)];
    if let Some(a) = accuracy {
        notes.push(Entry::new(Mark::None, format!("classifier test accuracy {:.1}%", 100.0 * a)));
    }
    (methods, notes)
}

/// The width of each column of methods in the legend, in pixels (that of a panel).
fn column_width() -> u32 {
    WIDTH / PANELS.len() as u32
}

/// The height of a dataset row: heading, panels and legend.
fn row_height(row: &Row) -> u32 {
    let notes_width = WIDTH - row.methods.len() as u32 * column_width();
    let key = row
        .methods
        .iter()
        .map(|column| canvas::legend_height(column, column_width()))
        .chain([canvas::legend_height(&row.notes, notes_width)])
        .max()
        .unwrap_or(0);
    canvas::heading_height() + PANEL_H + key
}

/// A dataset's heading, four panels and legend.
fn draw_row(area: &Area<'_>, row: &Row) -> Result<()> {
    let below = canvas::heading(area, &row.dataset)?;
    let (plots, key) = below.split_vertically(PANEL_H);
    let points = || row.panels.iter().flatten().flat_map(|s| &s.mean);
    let (lo, hi) = points().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    for ((lines, (_, panel_title)), slot) in row.panels.iter().zip(PANELS).zip(plots.split_evenly((1, 4))) {
        let axes = Axes::new(panel_title, "training epochs", "Fréchet distance");
        let x = ((lo / 1.25)..(hi * 1.25)).log_scale();
        let ys = || lines.iter().flat_map(|s| s.mean.iter().chain(s.band.iter().flatten())).map(|p| p.1);
        let (y_lo, y_hi) =
            ys().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if y_lo > 0.0 && y_hi > 10.0 * y_lo {
            let mut chart = canvas::panel(&slot, &axes, x, style::decades(y_lo, y_hi).log_scale())?;
            draw_lines(&mut chart, lines)?;
        } else {
            let pad = if y_hi > y_lo { 0.06 * (y_hi - y_lo) } else { 0.05 * y_hi.abs().max(1e-9) };
            let bottom = if y_lo >= 0.0 { (y_lo - pad).max(0.0) } else { y_lo - pad };
            let mut chart = canvas::panel(&slot, &axes, x, bottom..(y_hi + pad))?;
            draw_lines(&mut chart, lines)?;
        }
    }
    let (methods, notes) = key.split_horizontally(row.methods.len() as u32 * column_width());
    for (column, slot) in row.methods.iter().zip(methods.split_evenly((1, row.methods.len()))) {
        canvas::legend(&slot, column)?;
    }
    canvas::legend(&notes, &row.notes)
}

/// The bands of `lines` first, then their mean lines on top.
fn draw_lines<X, Y>(chart: &mut Chart<'_, '_, X, Y>, lines: &[Series]) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for line in lines {
        if let Some(band) = &line.band {
            chart.draw_series([Polygon::new(band.clone(), line.colour.mix(style::BAND).filled())])?;
        }
    }
    for line in lines {
        chart.draw_series(LineSeries::new(line.mean.iter().copied(), line.colour.stroke_width(2)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    const COLUMNS: [&str; 8] = ["dataset", "method", "m", "seed", "epoch", "step", "metric", "value"];
    /// The digits' methods, not in the paper's order (the renderer sorts them).
    const DIGITS: [&str; 5] = ["EFM-256", "CFM", "EFM-1000", "OT-CFM", "EFM-128"];
    const DIGITS_EPOCHS: [f64; 5] = [1.0, 2.0, 5.0, 10.0, 34.5];
    const MNIST_EPOCHS: [f64; 3] = [1.0, 5.0, 25.0];

    /// A Fréchet distance: features fall over two decades (log axis), pixels stay within one.
    fn value(metric: &str, epoch: f64, seed: usize) -> f64 {
        let spread = 1.0 + 0.05 * seed as f64;
        if metric.starts_with("feature") {
            300.0 / epoch * spread
        } else {
            2.0 + 1.0 / epoch + 0.1 * seed as f64
        }
    }

    /// Digits: five methods x three seeds, with a distance row at epoch 0 (left out of the log
    /// axis); MNIST: CFM and EFM-128, one seed, no accuracy row. `seeds(method)` overrides the
    /// digits' seed count; rows for which `skip(dataset, method, metric)` holds are left out.
    fn table(seeds: impl Fn(&str) -> usize, skip: impl Fn(&str, &str, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |name: &str, method: &str, seed: usize, epoch: f64, metric: &str, v: f64| {
            if !skip(name, method, metric) {
                b.push(row![name, method, 1usize, seed, epoch, (epoch * 12.0) as usize, metric, v]);
            }
        };
        for method in DIGITS {
            for seed in 0..seeds(method) {
                push("digits", method, seed, 0.0, ACCURACY, 0.973);
                push("digits", method, seed, 0.0, "feature_train", 1e4);
                for epoch in DIGITS_EPOCHS {
                    for (metric, _) in PANELS {
                        push("digits", method, seed, epoch, metric, value(metric, epoch, seed));
                    }
                }
            }
        }
        for method in ["EFM-128", "CFM"] {
            for epoch in MNIST_EPOCHS {
                for (metric, _) in PANELS {
                    push("mnist", method, 0, epoch, metric, value(metric, epoch, 0));
                }
            }
        }
        b.finish().unwrap()
    }

    fn full() -> DataFrame {
        table(|_| 3, |_, _, _| false)
    }

    /// The strokes of the polylines of `points` points, in order.
    fn strokes(el: &[testing::Element], points: usize) -> Vec<String> {
        el.iter()
            .filter(|e| e.tag == "polyline" && e.points() == points)
            .map(|e| e.attr("stroke").unwrap().to_string())
            .collect()
    }

    #[test]
    fn draws_a_line_and_a_band_per_method_and_panel_in_the_papers_order() {
        let df = full();
        let svg = render(&df, TITLE, CAPTION).unwrap();
        assert_eq!(svg, render(&df, TITLE, CAPTION).unwrap(), "deterministic");
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // Digits: per panel, CFM, OT-CFM, then EFM-M by M; epoch 0 is left out of every line.
        let (cfm, ot) = (style::categorical(CFM), style::categorical(OT_CFM));
        let efm = |k: usize, count: usize| style::sequential(k, count);
        let order = [cfm, ot, efm(0, 3), efm(1, 3), efm(2, 3)].map(testing::hex);
        assert_eq!(strokes(&el, DIGITS_EPOCHS.len()), vec![order.to_vec(); PANELS.len()].concat());
        // MNIST: CFM and its only EFM, the darkest of the scale.
        let order = [cfm, efm(0, 1)].map(testing::hex);
        assert_eq!(strokes(&el, MNIST_EPOCHS.len()), vec![order.to_vec(); PANELS.len()].concat());
        assert_eq!(testing::data_lines(&el), 4 * 5 + 4 * 2);
        // A band per digits method and panel (three seeds), none for MNIST (one seed); each
        // band outlines the largest then the smallest value at every epoch.
        let bands: Vec<&testing::Element> = el.iter().filter(|e| e.tag == "polygon").collect();
        assert_eq!(bands.len(), 4 * 5);
        assert!(bands.iter().all(|b| b.points() == 2 * DIGITS_EPOCHS.len()));
        assert!(bands.iter().all(|b| b.attr("opacity") == Some("0.18")));
        for colour in [cfm, ot, efm(0, 3), efm(1, 3), efm(2, 3)] {
            assert_eq!(testing::filled(&el, "polygon", colour), 4);
        }
        for label in [
            "digits",
            "mnist",
            "classifier features, to train",
            "classifier features, to test",
            "pixel space, to train",
            "pixel space, to test",
            "training epochs",
            "Fréchet distance",
            "CFM",
            "OT-CFM",
            "EFM-128",
            "EFM-256",
            "EFM-1000",
            "line: mean over 3 seeds; band: their smallest to largest value",
            "classifier test accuracy 97.3%",
            "one seed per method",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        assert!(testing::has_label(&el, "1000"), "the feature distances span two decades: log axis");
        let text = testing::all_text(&el);
        assert_eq!(text.matches("classifier test accuracy").count(), 1, "MNIST has no accuracy row");
        // Legend marks: a band swatch per digits method, a plain line per MNIST method.
        let swatches = el.iter().filter(|e| e.tag == "rect" && e.attr("opacity") == Some("0.18")).count();
        assert_eq!(swatches, 5);
    }

    #[test]
    fn seed_counts_that_differ_are_given_per_method() {
        let seeds = |method: &str| if method == "CFM" { 2 } else { 1 };
        let el = testing::parse(&render(&table(seeds, |_, _, _| false), TITLE, CAPTION).unwrap());
        assert_eq!(el.iter().filter(|e| e.tag == "polygon").count(), 4, "bands for CFM only");
        assert_eq!(testing::filled(&el, "polygon", style::categorical(CFM)), 4);
        for label in ["CFM (2 seeds)", "OT-CFM (1 seed)", "EFM-1000 (1 seed)"] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        let text = testing::all_text(&el);
        let note = "line: mean over the seeds; band (2 seeds or more): their smallest to largest value";
        assert!(text.contains(note), "{text}");
    }

    #[test]
    fn missing_rows_unknown_methods_and_missing_columns_are_named() {
        let err = render(&full().drop("epoch").unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig4") && err.contains("'epoch'"), "{err}");
        let skip = |name: &str, _: &str, metric: &str| name == "mnist" && metric == "pixel_test";
        let err = render(&table(|_| 3, skip), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'mnist' has no 'pixel_test' rows"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["digits", "DDPM", 1usize, 0usize, 1.0, 12usize, "feature_train", 1.0]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("unknown method 'DDPM' (expected CFM, OT-CFM or EFM-<M>)"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        for (metric, _) in PANELS {
            b.push(row!["digits", "CFM", 1usize, 0usize, 0.0, 0usize, metric, 1.0]);
        }
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'digits' has no finite 'feature_train' values after epoch 0"), "{err}");
    }

    #[test]
    fn methods_sort_in_the_papers_order() {
        let labels = ["EFM-1024", "EFM-64", "OT-CFM", "CFM", "EFM-64"];
        assert_eq!(in_order(labels), Ok(vec!["CFM", "OT-CFM", "EFM-64", "EFM-1024"]));
        assert_eq!(in_order(["CFM", "EFM-x"]), Err("EFM-x"));
    }
}
