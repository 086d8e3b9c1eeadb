//! Fig. 2: from memorization to generalization as the training set grows. One row of panels per
//! dataset, at its main (largest) network width, each panel with its legend below it:
//! 1. the error `E||u_theta - u*||^2` against t, one line per training-set size n (colour: n,
//!    dark = small), on a log axis;
//! 2. the distances of the samples to the held-out test set against n: Fréchet distance in the
//!    features of the classifier (whose test accuracy the legend gives) or the energy distance,
//!    and the Fréchet distance in data space;
//! 3. the mean distance d1 of the samples to their nearest training point against n (solid),
//!    beside the mean distance of a training point to its nearest other one, within the subset
//!    of n points (dotted) and over the whole training split (dashed);
//! 4. the fraction of samples that are copies (d1/d2 < 1/3) against n.
//!
//! Then, for every dataset run at several widths, the phase diagram: the fraction of copies per
//! (n, width), each cell coloured on the sequential scale (dark = 0, light = 1) with its value
//! printed. n is on log axes throughout; values <= 0 cannot sit on a log axis and are left out.

use cfm_study::figures::fig2;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Chart, DASHED, DOT, DOTTED, Entry, Mark};
use crate::style::{self, INK, TICK_PX, WIDTH};
use crate::table::{Table, distinct, sorted_distinct};

const ID: &str = "fig2";
/// The distances to the test set of the second panel (those the table has): statistic and
/// legend label; colour: the categorical colour of the position here.
const TEST: [(&str, &str); 3] = [
    (fig2::FD_FEATURE_TEST, "Fréchet, classifier features"),
    (fig2::ENERGY_TEST, "energy distance, data space"),
    (fig2::FD_PIXEL_TEST, "Fréchet, data space"),
];
/// Number of panels per dataset row.
const PANELS: usize = 4;
/// Height of the panels of a dataset row, in pixels.
const PANEL_H: u32 = 300;
/// Largest number of entries in one column of the legend of the n.
const KEY_ROWS: usize = 4;
/// Colour of the samples' series (mean d1, fraction of copies).
const SAMPLES: usize = 0;
/// Colour of the train-to-train distance within the subset (dotted).
const SUBSET: usize = 3;
/// Colour of the train-to-train distance over the whole split (dashed; black).
const FULL: usize = 6;
/// Width of the phase diagram's row labels, in pixels.
const PHASE_LABELS: u32 = 110;
/// Width of the phase diagram's colour key, in pixels.
const PHASE_KEY: u32 = 280;
/// Size of a phase-diagram cell, in pixels (at most; narrower when many n must fit).
const CELL: (u32, u32) = (110, 44);

/// Points `(x, value)` sorted by x.
type Points = Vec<(f64, f64)>;

/// One dataset's row of panels.
struct Row {
    heading: String,
    /// Per n, ascending: the error against t.
    errors: Vec<(f64, Points)>,
    /// Distances to the test set against n: index into [`TEST`] and points.
    test: Vec<(usize, Points)>,
    d1: Points,
    subset: Points,
    full: Option<f64>,
    copies: Points,
    /// The legend of each panel, in columns.
    keys: [Vec<Vec<Entry>>; PANELS],
}

/// The phase diagram of one dataset.
struct Phase {
    dataset: String,
    ns: Vec<f64>,
    widths: Vec<f64>,
    /// Fraction of copies per width (ascending) and n (ascending), where the table has it.
    cells: Vec<Vec<Option<f64>>>,
}

impl Phase {
    /// Whether some cell is missing.
    fn missing(&self) -> bool {
        self.cells.iter().flatten().any(Option::is_none)
    }
}

/// Renders Fig. 2.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let table = Table::new(ID, df, &["dataset", "n", "width", "t", "statistic", "value"])?;
    let (names, ns, widths) = (table.text("dataset")?, table.num("n")?, table.num("width")?);
    let (ts, stats, values) = (table.num("t")?, table.text("statistic")?, table.num("value")?);
    let mut rows = Vec::new();
    let mut phases = Vec::new();
    for name in distinct(names.iter().cloned()) {
        let mine: Vec<usize> = (0..names.len()).filter(|&i| names[i] == name).collect();
        let width = mine.iter().map(|&i| widths[i]).fold(f64::NEG_INFINITY, f64::max);
        let of = |stat: &str| -> Vec<usize> { mine.iter().copied().filter(|&i| stats[i] == stat).collect() };
        let at_main =
            |stat: &str| -> Vec<usize> { of(stat).into_iter().filter(|&i| widths[i] == width).collect() };
        let sorted = |rows: &[usize], x: &[f64]| -> Points {
            let mut points: Points = rows.iter().map(|&i| (x[i], values[i])).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points
        };
        let required = |stat: &str| -> Result<Vec<usize>> {
            let rows = at_main(stat);
            if rows.is_empty() {
                return Err(
                    table.malformed(format!("dataset '{name}' has no '{stat}' rows at width {width}"))
                );
            }
            Ok(rows)
        };
        let first = |stat: &str| at_main(stat).first().map(|&i| values[i]);
        let error_rows = required(fig2::ERROR)?;
        let errors: Vec<(f64, Points)> = sorted_distinct(error_rows.iter().map(|&i| ns[i]))
            .into_iter()
            .map(|n| {
                let at_n: Vec<usize> = error_rows.iter().copied().filter(|&i| ns[i] == n).collect();
                (n, sorted(&at_n, &ts))
            })
            .collect();
        let (d1, copies) =
            (sorted(&required(fig2::MEAN_D1)?, &ns), sorted(&required(fig2::FRACTION_MEMORIZED)?, &ns));
        let subset = sorted(&required(fig2::TRAIN_TO_TRAIN_SUBSET)?, &ns);
        required(fig2::FD_PIXEL_TEST)?;
        let test: Vec<(usize, Points)> = TEST
            .iter()
            .enumerate()
            .map(|(k, (stat, _))| (k, sorted(&at_main(stat), &ns)))
            .filter(|(_, points)| !points.is_empty())
            .collect();
        let (full, accuracy) = (first(fig2::TRAIN_TO_TRAIN_FULL), first(fig2::CLASSIFIER_ACCURACY));
        let heading = if width > 0.0 { format!("{name}, network width {width}") } else { name.clone() };
        let keys = keys(&errors, &test, accuracy, full.is_some());
        rows.push(Row { heading, errors, test, d1, subset, full, copies, keys });
        let phase_rows = of(fig2::FRACTION_MEMORIZED);
        let phase_widths = sorted_distinct(phase_rows.iter().map(|&i| widths[i]));
        if phase_widths.len() > 1 {
            let phase_ns = sorted_distinct(phase_rows.iter().map(|&i| ns[i]));
            let cells = phase_widths
                .iter()
                .map(|&w| {
                    let find = |n: f64| phase_rows.iter().find(|&&i| widths[i] == w && ns[i] == n);
                    phase_ns.iter().map(|&n| find(n).map(|&i| values[i])).collect()
                })
                .collect();
            phases.push(Phase { dataset: name.clone(), ns: phase_ns, widths: phase_widths, cells });
        }
    }
    let heights: Vec<u32> = rows.iter().map(row_height).chain(phases.iter().map(phase_height)).collect();
    canvas::figure(title, caption, heights.iter().sum(), |area| {
        let mut rest = area.clone();
        for (k, h) in heights.iter().enumerate() {
            let (slot, below) = rest.split_vertically(*h);
            match rows.get(k) {
                Some(row) => draw_row(&slot, row)?,
                None => draw_phase(&slot, &phases[k - rows.len()])?,
            }
            rest = below;
        }
        Ok(())
    })
}

/// The legends of a row's panels: the n (in columns of at most [`KEY_ROWS`]), the distances to
/// the test set (with the classifier's accuracy), the distances to the training set, and what a
/// copy is.
fn keys(
    errors: &[(f64, Points)],
    test: &[(usize, Points)],
    accuracy: Option<f64>,
    full: bool,
) -> [Vec<Vec<Entry>>; PANELS] {
    let sizes: Vec<Entry> = errors
        .iter()
        .enumerate()
        .map(|(k, (n, _))| Entry::new(Mark::Line(style::sequential(k, errors.len())), format!("n = {n}")))
        .collect();
    let columns = sizes.len().div_ceil(KEY_ROWS);
    let per_column = sizes.len().div_ceil(columns.max(1));
    let mut sizes = sizes.into_iter();
    let n_key: Vec<Vec<Entry>> = (0..columns).map(|_| sizes.by_ref().take(per_column).collect()).collect();
    let mut test_key: Vec<Entry> =
        test.iter().map(|(k, _)| Entry::new(Mark::Line(style::categorical(*k)), TEST[*k].1)).collect();
    if let Some(a) = accuracy {
        test_key.push(Entry::new(Mark::None, format!("classifier test accuracy {:.1}%", 100.0 * a)));
    }
    let mut train_key = vec![
        Entry::new(Mark::Line(style::categorical(SAMPLES)), "mean d1: sample to nearest training point"),
        Entry::new(Mark::Dotted(style::categorical(SUBSET)), "training point to nearest other, subset of n"),
    ];
    if full {
        train_key.push(Entry::new(
            Mark::Dashed(style::categorical(FULL)),
            "training point to nearest other, whole split",
        ));
    }
    let copy_key = vec![Entry::new(
        Mark::None,
        "a copy: d1/d2 < 1/3, with d1, d2 the distances to the nearest and second-nearest training points",
    )];
    [n_key, vec![test_key], vec![train_key], vec![copy_key]]
}

/// The height of the legends below a row's panels.
fn keys_height(row: &Row) -> u32 {
    let panel = WIDTH / PANELS as u32;
    row.keys
        .iter()
        .flat_map(|columns| {
            columns.iter().map(move |c| canvas::legend_height(c, panel / columns.len() as u32))
        })
        .max()
        .unwrap_or(0)
}

/// The height of a dataset row: heading, panels and legends.
fn row_height(row: &Row) -> u32 {
    canvas::heading_height() + PANEL_H + keys_height(row)
}

/// The height of a phase diagram: heading, cells and column labels, or the key if that is taller.
fn phase_height(phase: &Phase) -> u32 {
    let cells = 8 + phase.widths.len() as u32 * CELL.1 + 40;
    canvas::heading_height() + cells.max(canvas::legend_height(&phase_key(phase.missing()), PHASE_KEY))
}

/// The range of the positive finite `values` on a log axis: whole decades around them.
fn log_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > 0.0 { style::decades(lo, hi) } else { style::decades(1.0, 1.0) }
}

/// The points of `points` that a log value axis can show.
fn positive(points: &[(f64, f64)]) -> Points {
    points.iter().copied().filter(|p| p.1.is_finite() && p.1 > 0.0).collect()
}

/// A solid line with a dot at each point.
fn line_with_dots<X, Y>(
    chart: &mut Chart<'_, '_, X, Y>,
    points: &[(f64, f64)],
    colour: RGBColor,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, DOT, colour.filled())))?;
    Ok(())
}

/// A dataset's heading, four panels and their legends.
fn draw_row(area: &Area<'_>, row: &Row) -> Result<()> {
    let below = canvas::heading(area, &row.heading)?;
    let (plots, keys) = below.split_vertically(PANEL_H);
    let plots = plots.split_evenly((1, PANELS));
    let all_n =
        || row.d1.iter().chain(&row.copies).chain(&row.subset).chain(row.test.iter().flat_map(|t| &t.1));
    let (n_lo, n_hi) = all_n().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let n_axis = || ((n_lo / 1.5)..(n_hi * 1.5)).log_scale();
    let n_desc = "n (training points)";

    let errors = || row.errors.iter().flat_map(|(_, points)| points.iter().map(|p| p.1));
    let axes = Axes::new("network error vs u*", "t", "E||u_theta - u*||²");
    let mut chart = canvas::panel(&plots[0], &axes, 0.0..1.0, log_range(errors()).log_scale())?;
    for (k, (_, points)) in row.errors.iter().enumerate() {
        let colour = style::sequential(k, row.errors.len());
        chart.draw_series(LineSeries::new(positive(points), colour.stroke_width(2)))?;
    }

    let distances = || row.test.iter().flat_map(|(_, points)| points.iter().map(|p| p.1));
    let axes = Axes::new("distance to the test set", n_desc, "distance");
    let mut chart = canvas::panel(&plots[1], &axes, n_axis(), log_range(distances()).log_scale())?;
    for (k, points) in &row.test {
        line_with_dots(&mut chart, &positive(points), style::categorical(*k))?;
    }

    let nearest = || row.d1.iter().chain(&row.subset).map(|p| p.1).chain(row.full);
    let axes = Axes::new("distance to the training set", n_desc, "mean distance to nearest");
    let mut chart = canvas::panel(&plots[2], &axes, n_axis(), log_range(nearest()).log_scale())?;
    if let Some(full) = row.full.filter(|v| v.is_finite() && *v > 0.0) {
        let (lo, hi) = (n_lo / 1.5, n_hi * 1.5);
        let colour = style::categorical(FULL);
        chart.draw_series(DashedLineSeries::new(
            [(lo, full), (hi, full)],
            DASHED.0,
            DASHED.1,
            colour.stroke_width(2),
        ))?;
    }
    let subset = style::categorical(SUBSET);
    chart.draw_series(DashedLineSeries::new(
        positive(&row.subset),
        DOTTED.0,
        DOTTED.1,
        subset.stroke_width(2),
    ))?;
    line_with_dots(&mut chart, &positive(&row.d1), style::categorical(SAMPLES))?;

    let axes = Axes::new("fraction of copies", n_desc, "fraction of samples");
    let mut chart = canvas::panel(&plots[3], &axes, n_axis(), 0.0..1.02)?;
    line_with_dots(&mut chart, &row.copies, style::categorical(SAMPLES))?;

    for (columns, slot) in row.keys.iter().zip(keys.split_evenly((1, PANELS))) {
        for (column, part) in columns.iter().zip(slot.split_evenly((1, columns.len()))) {
            canvas::legend(&part, column)?;
        }
    }
    Ok(())
}

/// The key of the phase diagram: the colour scale, and what marks a missing cell if any is.
fn phase_key(missing: bool) -> Vec<Entry> {
    let mut entries =
        vec![Entry::new(Mark::None, "cell colour and value: fraction of samples that are copies")];
    entries.extend(
        [0.0, 0.25, 0.5, 0.75, 1.0].map(|f| Entry::new(Mark::Dot(style::ramp(f)), format!("{}%", 100.0 * f))),
    );
    if missing {
        entries.push(Entry::new(Mark::None, "n/a: not run"));
    }
    entries
}

/// The phase diagram: a cell per (n, width), widths growing upwards, n to the right.
fn draw_phase(area: &Area<'_>, phase: &Phase) -> Result<()> {
    let heading =
        format!("{}: phase diagram of the fraction of copies over n and network width", phase.dataset);
    let below = canvas::heading(area, &heading)?;
    let (grid, key) = canvas::with_legend(&below, PHASE_KEY);
    canvas::legend(&key, &phase_key(phase.missing()))?;
    let (w, _) = grid.dim_in_pixel();
    let (cols, rows) = (phase.ns.len() as u32, phase.widths.len() as u32);
    let cell_w = (w.saturating_sub(PHASE_LABELS + 10) / cols).min(CELL.0) as i32;
    let cell_h = CELL.1 as i32;
    let (left, top) = (PHASE_LABELS as i32, 8);
    let centre = Pos::new(HPos::Center, VPos::Center);
    let text = |colour: RGBColor| style::font(TICK_PX).color(&colour).pos(centre);
    for (r, cells) in phase.cells.iter().enumerate() {
        let y = top + (rows as i32 - 1 - r as i32) * cell_h;
        let label = format!("width {}", phase.widths[r]);
        grid.draw_text(
            &label,
            &style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Right, VPos::Center)),
            (left - 10, y + cell_h / 2),
        )?;
        for (c, value) in cells.iter().enumerate() {
            let x = left + c as i32 * cell_w;
            let middle = (x + cell_w / 2, y + cell_h / 2);
            match value {
                Some(v) => {
                    grid.draw(&Rectangle::new(
                        [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                        style::ramp(*v).filled(),
                    ))?;
                    let ink = if *v < 0.5 { WHITE } else { INK };
                    grid.draw_text(&format!("{:.1}%", 100.0 * v), &text(ink), middle)?;
                }
                None => grid.draw_text("n/a", &text(INK), middle)?,
            }
        }
    }
    let y = top + rows as i32 * cell_h + 12;
    for (c, n) in phase.ns.iter().enumerate() {
        let x = left + c as i32 * cell_w + cell_w / 2;
        grid.draw_text(&format!("n = {n}"), &text(INK), (x, y))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    const COLUMNS: [&str; 6] = ["dataset", "n", "width", "t", "statistic", "value"];
    const DIGITS_N: [usize; 4] = [10, 100, 1000, 3000];
    const MOONS_N: [usize; 3] = [4, 40, 400];
    /// Times of the error rows (more than there are n, so error lines have their own length).
    const TIMES: usize = 7;
    /// The fraction of copies of the digits at width index `w` and n index `k` (never a key
    /// colour's value).
    fn copies(w: usize, k: usize) -> f64 {
        0.05 + 0.1 * (4 * w + k) as f64
    }

    /// Digits at widths 32 and 256 (main) with every statistic; two-moons at width 64. Rows for
    /// which `skip(dataset, n, width, statistic)` holds are left out.
    fn table(skip: impl Fn(&str, usize, usize, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |name: &str, n: usize, w: usize, t: f64, stat: &str, v: f64| {
            if !skip(name, n, w, stat) {
                b.push(row![name, n, w, t, stat, v]);
            }
        };
        for (wi, w) in [32usize, 256].into_iter().enumerate() {
            for (k, n) in DIGITS_N.into_iter().enumerate() {
                for j in 0..TIMES {
                    let t = (j + 1) as f64 / (TIMES + 1) as f64;
                    push("digits", n, w, t, "error", (n as f64).sqrt() * t);
                }
                push("digits", n, w, 0.0, "mean_d1", 0.5 + k as f64);
                push("digits", n, w, 0.0, "fraction_memorized", copies(wi, k));
                push("digits", n, w, 0.0, "train_to_train_subset", 5.0 - k as f64);
                push("digits", n, w, 0.0, "train_to_train_full", 2.1);
                push("digits", n, w, 0.0, "fd_feature_test", 100.0 / (k + 1) as f64);
                push("digits", n, w, 0.0, "fd_pixel_test", 10.0 / (k + 1) as f64);
                push("digits", n, w, 0.0, "classifier_accuracy", 0.973);
            }
        }
        for (k, n) in MOONS_N.into_iter().enumerate() {
            for j in 0..TIMES {
                push("two-moons", n, 64, j as f64 / TIMES as f64, "error", 0.1 + k as f64);
            }
            push("two-moons", n, 64, 0.0, "mean_d1", 0.3 / (k + 1) as f64);
            push("two-moons", n, 64, 0.0, "fraction_memorized", 0.8 / (k + 1) as f64);
            push("two-moons", n, 64, 0.0, "train_to_train_subset", 3.0 / (k + 1) as f64);
            push("two-moons", n, 64, 0.0, "fd_pixel_test", 2.0 / (k + 1) as f64);
            push("two-moons", n, 64, 0.0, "energy_test", 0.8 / (k + 1) as f64);
        }
        b.finish().unwrap()
    }

    fn strokes(el: &[testing::Element], colour: RGBColor, points: usize) -> usize {
        let c = testing::hex(colour);
        el.iter()
            .filter(|e| e.tag == "polyline" && e.attr("stroke") == Some(c.as_str()) && e.points() == points)
            .count()
    }

    #[test]
    fn draws_the_rows_of_panels_and_the_phase_diagram() {
        let df = table(|_, _, _, _| false);
        let svg = render(&df, TITLE, CAPTION).unwrap();
        assert_eq!(svg, render(&df, TITLE, CAPTION).unwrap(), "deterministic");
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // One error line per n and dataset, in order, coloured by n within the dataset.
        let error_lines: Vec<&str> = el
            .iter()
            .filter(|e| e.tag == "polyline" && e.points() == TIMES)
            .map(|e| e.attr("stroke").unwrap())
            .collect();
        let expected: Vec<String> = (0..4)
            .map(|k| testing::hex(style::sequential(k, 4)))
            .chain((0..3).map(|k| testing::hex(style::sequential(k, 3))))
            .collect();
        assert_eq!(error_lines, expected);
        // Series against n: a line and a dot per n. Colour 0: digits' feature distance, and
        // both datasets' mean d1 and fraction of copies; 1: energy; 2: data-space Fréchet.
        let (samples, energy, pixel) = (style::categorical(0), style::categorical(1), style::categorical(2));
        assert_eq!((strokes(&el, samples, 4), strokes(&el, samples, 3)), (3, 2));
        assert_eq!((strokes(&el, energy, 4), strokes(&el, energy, 3)), (0, 1));
        assert_eq!((strokes(&el, pixel, 4), strokes(&el, pixel, 3)), (1, 1));
        assert_eq!(testing::filled(&el, "circle", samples), 3 * 4 + 2 * 3);
        assert_eq!(testing::filled(&el, "circle", energy), 3);
        assert_eq!(testing::filled(&el, "circle", pixel), 4 + 3);
        // Dotted subset distances in both rows; the dashed whole-split line in the digits row.
        assert!(strokes(&el, style::categorical(SUBSET), 2) > 2 * 10);
        assert!(strokes(&el, style::categorical(FULL), 2) > 10);
        // The phase diagram: one cell per (n, width) of the digits, with its value.
        for w in 0..2 {
            for k in 0..DIGITS_N.len() {
                let v = copies(w, k);
                assert_eq!(testing::filled(&el, "rect", style::ramp(v)), 1, "cell {w}, {k}");
                assert!(testing::has_label(&el, &format!("{:.1}%", 100.0 * v)), "value of cell {w}, {k}");
            }
        }
        let text = testing::all_text(&el);
        assert_eq!(text.matches("phase diagram").count(), 1, "only the digits ran at several widths");
        for label in [
            "digits, network width 256",
            "two-moons, network width 64",
            "n = 10",
            "n = 3000",
            "n = 4",
            "width 32",
            "width 256",
            "Fréchet, classifier features",
            "energy distance, data space",
            "classifier test accuracy 97.3%",
            "network error vs u*",
            "E||u_theta - u*||²",
            "n (training points)",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        assert!(!text.contains("n/a"), "every cell ran");
    }

    #[test]
    fn missing_cells_and_reference_lines_are_shown_as_missing() {
        let skip = |name: &str, n: usize, w: usize, stat: &str| {
            stat == "train_to_train_full"
                || (name == "digits" && n == 100 && w == 32 && stat == "fraction_memorized")
        };
        let el = testing::parse(&render(&table(skip), TITLE, CAPTION).unwrap());
        assert_eq!(el.iter().filter(|e| e.tag == "text" && e.text == "n/a").count(), 1);
        assert!(testing::has_label(&el, "n/a: not run"));
        assert_eq!(testing::filled(&el, "rect", style::ramp(copies(0, 1))), 0);
        assert_eq!(strokes(&el, style::categorical(FULL), 2), 0);
        assert!(!testing::all_text(&el).contains("whole split"));
    }

    #[test]
    fn missing_rows_and_columns_are_named() {
        let err = render(&table(|_, _, _, _| false).drop("width").unwrap(), TITLE, CAPTION)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fig2") && err.contains("'width'"), "{err}");
        for stat in ["error", "mean_d1", "fraction_memorized", "train_to_train_subset", "fd_pixel_test"] {
            let skip = |name: &str, _: usize, w: usize, s: &str| name == "digits" && w == 256 && s == stat;
            let err = render(&table(skip), TITLE, CAPTION).unwrap_err().to_string();
            assert!(err.contains(&format!("dataset 'digits' has no '{stat}' rows at width 256")), "{err}");
        }
    }
}
