//! Fig. 4: stochastic versus exact regression targets during training. Draws
//! [`fig4::View`]: one row of four panels per dataset, standing for the paper's four
//! (Inception / DINOv2 embedding x train / test reference set): the Fréchet distance of the
//! samples in the features of a classifier trained here and in pixel space, each to the training
//! and to the test images, against the training epochs on a log axis. One line per method, in
//! the view's order (the paper's: CFM, OT-CFM, then EFM-M by M): CFM and OT-CFM in categorical
//! colours, EFM-M on the sequential scale by M (dark = small). A line is the mean over the
//! seeds; where a method has two seeds or more, a light band spans the smallest to the largest
//! value over them. A panel's value axis is logarithmic when its values are positive and span
//! more than a decade. Below the panels, the legend names the methods, the seeds and the
//! classifier's test accuracy. Evaluations at epoch 0 cannot sit on the log axis and are left
//! out.

use cfm_study::figures::fig4::{self, Method, Panel};
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::canvas::{self, Area, Axes, Chart, Entry, Mark};
use crate::style::{self, WIDTH};
use crate::{Error, Result};

/// The panel titles, in the order of [`Panel::ALL`].
const TITLES: [&str; 4] = [
    "classifier features, to train",
    "classifier features, to test",
    "pixel space, to train",
    "pixel space, to test",
];
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

/// One method's line in a panel.
struct Series {
    colour: RGBColor,
    /// The mean over the seeds.
    mean: Points,
    /// The outline of the band from the largest (left to right) to the smallest value (back),
    /// where the method has two seeds or more.
    band: Option<Points>,
}

/// One dataset's row: its name, the lines of each panel (in the order of [`Panel::ALL`]), and
/// the legend below them (columns of methods, then the notes).
struct Row {
    dataset: String,
    panels: Vec<Vec<Series>>,
    methods: Vec<Vec<Entry>>,
    notes: Vec<Entry>,
}

/// Renders Fig. 4.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig4::View::read(df)?;
    let rows: Vec<Row> = view.datasets.iter().map(row).collect::<Result<_>>()?;
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

/// The colour of each method of `methods` (in the view's order): CFM and OT-CFM categorical,
/// the EFMs on the sequential scale in their order.
fn colours(methods: &[Method]) -> Vec<RGBColor> {
    let efms = methods.iter().filter(|m| m.is_efm()).count();
    let mut k = 0;
    methods
        .iter()
        .map(|m| match m {
            Method::Cfm => style::categorical(CFM),
            Method::OtCfm => style::categorical(OT_CFM),
            Method::Efm { .. } => {
                k += 1;
                style::sequential(k - 1, efms)
            }
        })
        .collect()
}

/// A dataset's row: per panel, a line per method with values after epoch 0.
fn row(data: &fig4::Data) -> Result<Row> {
    let methods: Vec<Method> = data.methods.iter().map(|r| r.method).collect();
    let colours = colours(&methods);
    let counts: Vec<usize> = data.methods.iter().map(|r| r.seeds()).collect();
    let mut panels = Vec::new();
    for panel in Panel::ALL {
        let mut lines = Vec::new();
        for (k, runs) in data.methods.iter().enumerate() {
            let spread: Vec<fig4::Spread> =
                runs.over_seeds(panel).into_iter().filter(|s| s.epoch > 0.0).collect();
            if spread.is_empty() {
                continue;
            }
            let mean = spread.iter().map(|s| (s.epoch, s.mean)).collect();
            let outline = || {
                spread.iter().map(|s| (s.epoch, s.high)).chain(spread.iter().rev().map(|s| (s.epoch, s.low)))
            };
            let band = (counts[k] >= 2).then(|| outline().collect());
            lines.push(Series { colour: colours[k], mean, band });
        }
        if lines.is_empty() {
            return Err(Error::malformed(
                fig4::ID,
                format!(
                    "dataset '{}' has no finite '{}' values after epoch 0",
                    data.data.name(),
                    panel.metric()
                ),
            ));
        }
        panels.push(lines);
    }
    let (methods, notes) = key(&methods, &colours, &counts, data.accuracy);
    Ok(Row { dataset: data.data.name().to_string(), panels, methods, notes })
}

/// The legend of a row: the methods in columns of at most [`KEY_ROWS`] (a band mark where a
/// method has two seeds or more; the seed count in the label where methods differ in it), and
/// the notes: what lines and bands show, and the classifier's test accuracy.
fn key(
    methods: &[Method],
    colours: &[RGBColor],
    counts: &[usize],
    accuracy: Option<f64>,
) -> (Vec<Vec<Entry>>, Vec<Entry>) {
    // The seed count every method has, where they agree.
    let same = counts.first().copied().filter(|&s| counts.iter().all(|&c| c == s));
    let plural = |s: usize| if s == 1 { "1 seed".to_string() } else { format!("{s} seeds") };
    let entries: Vec<Entry> = (0..methods.len())
        .map(|k| {
            let mark = if counts[k] >= 2 { Mark::Band(colours[k]) } else { Mark::Line(colours[k]) };
            let label = if same.is_some() {
                methods[k].label()
            } else {
                format!("{} ({})", methods[k].label(), plural(counts[k]))
            };
            Entry::new(mark, label)
        })
        .collect();
    let columns = entries.len().div_ceil(KEY_ROWS);
    let per_column = entries.len().div_ceil(columns);
    let mut entries = entries.into_iter();
    let methods = (0..columns).map(|_| entries.by_ref().take(per_column).collect()).collect();
    let lines = match same {
        Some(1) => "one seed per method".to_string(),
        Some(s) => format!("line: mean over {s} seeds; band: their smallest to largest value"),
        None => {
            "line: mean over the seeds; band (2 seeds or more): their smallest to largest value".to_string()
        }
    };
    let mut notes = vec![Entry::new(Mark::None, lines)];
    if let Some(a) = accuracy {
        notes.push(Entry::new(Mark::None, format!("classifier test accuracy {:.1}%", 100.0 * a)));
    }
    (methods, notes)
}

/// The width of each column of methods in the legend, in pixels (that of a panel).
fn column_width() -> u32 {
    WIDTH / TITLES.len() as u32
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
    for ((lines, panel_title), slot) in row.panels.iter().zip(TITLES).zip(plots.split_evenly((1, 4))) {
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

    use cfm_study::figures::fig4::{CLASSIFIER_ACCURACY, COLUMNS, FEATURE_TEST, FEATURE_TRAIN, METRICS};

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    /// The digits' methods, not in the paper's order (the renderer sorts them).
    const DIGITS: [&str; 5] = ["EFM-256", "CFM", "EFM-1000", "OT-CFM", "EFM-128"];
    const DIGITS_EPOCHS: [f64; 5] = [1.0, 2.0, 5.0, 10.0, 34.5];
    const MNIST_EPOCHS: [f64; 3] = [1.0, 5.0, 25.0];

    /// A Fréchet distance: features fall over two decades (log axis), pixels stay within one.
    fn value(metric: &str, epoch: f64, seed: usize) -> f64 {
        let spread = 1.0 + 0.05 * seed as f64;
        if metric == FEATURE_TRAIN || metric == FEATURE_TEST {
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
                push("digits", method, seed, 0.0, CLASSIFIER_ACCURACY, 0.973);
                push("digits", method, seed, 0.0, FEATURE_TRAIN, 1e4);
                for epoch in DIGITS_EPOCHS {
                    for metric in METRICS {
                        push("digits", method, seed, epoch, metric, value(metric, epoch, seed));
                    }
                }
            }
        }
        for method in ["EFM-128", "CFM"] {
            for epoch in MNIST_EPOCHS {
                for metric in METRICS {
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
        assert_eq!(strokes(&el, DIGITS_EPOCHS.len()), vec![order.to_vec(); METRICS.len()].concat());
        // MNIST: CFM and its only EFM, the darkest of the scale.
        let order = [cfm, efm(0, 1)].map(testing::hex);
        assert_eq!(strokes(&el, MNIST_EPOCHS.len()), vec![order.to_vec(); METRICS.len()].concat());
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
        let err = render(&full().drop(COLUMNS[4]).unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig4") && err.contains("'epoch'"), "{err}");
        let skip = |name: &str, _: &str, metric: &str| name == "mnist" && metric == METRICS[3];
        let err = render(&table(|_| 3, skip), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'mnist' has no 'pixel_test' rows"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["digits", "DDPM", 1usize, 0usize, 1.0, 12usize, FEATURE_TRAIN, 1.0]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("unknown method 'DDPM' (expected CFM, OT-CFM or EFM-<M>)"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        for metric in METRICS {
            b.push(row!["digits", "CFM", 1usize, 0usize, 0.0, 0usize, metric, 1.0]);
        }
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'digits' has no finite 'feature_train' values after epoch 0"), "{err}");
    }
}
