//! Fig. 2: from memorization to generalization as the training set grows, and against
//! training time, drawn from the figure's view (`cfm_study::figures::fig2::View`). One row of
//! panels per dataset, at its main (largest) network width, each panel with its legend below it:
//! 1. the error `E||u_theta - u*||^2` against t at the last step, one line per training-set size
//!    n (colour: n, dark = small), on a log axis (the deciding output, velocity);
//! 2. the fraction of samples that are copies (d1/d2 < 1/3) against training steps, one curve
//!    per n (solid: velocity output; dashed: x1 output with the (1 - t)^2-weighted loss);
//! 3. the mean distance d1 of the samples to their nearest training point, over the mean
//!    distance of a training point to its nearest other one (whole split; two-moons: the
//!    subset), against steps, same curves;
//! 4. the memorization onset tau_mem(n), the first checkpoint with at least half copies,
//!    against n on log-log axes, per output, with the slope of its fit, beside a line of slope 1
//!    (Bonnaire et al. 2025: linear in n);
//! 5. the distances of the last step's samples to the held-out test set against n (velocity
//!    output): Fréchet distance in the features of the classifier (whose test accuracy the
//!    legend gives) or the energy distance, and the Fréchet distance in data space.
//!
//! Then, for every dataset run at several widths, the phase diagram: the fraction of copies at
//! the last step per (n, width), velocity output, each cell coloured on the sequential scale
//! (dark = 0, light = 1) with its value printed. Values <= 0 cannot sit on a log axis and are
//! left out.

use cfm_study::figures::fig2::{self, DatasetRuns, Phase, Run};
use cfm_study::figures::learned::Param;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Chart, DASHED, DOT, DOTTED, Entry, Mark};
use crate::style::{self, INK, TICK_PX, WIDTH};
/// The distances to the test set of the last panel (those the runs have): the run's distance and
/// its legend label; colour: the categorical colour of the position here.
const TEST: [(Distance, &str); 3] = [
    (|r| r.fd_feature_test, "Fréchet, classifier features"),
    (|r| r.energy_test, "energy distance, data space"),
    (|r| r.fd_pixel_test, "Fréchet, data space"),
];
/// A run's distance to the test set, where it has it.
type Distance = fn(&Run) -> Option<f64>;
/// Number of panels per dataset row.
const PANELS: usize = 5;
/// Height of the panels of a dataset row, in pixels.
const PANEL_H: u32 = 300;
/// Largest number of entries in one column of the legend of the n.
const KEY_ROWS: usize = 4;
/// Colour of the slope-1 reference line of the onset panel.
const LINEAR: usize = 6;
/// Width of the phase diagram's row labels, in pixels.
const PHASE_LABELS: u32 = 110;
/// Width of the phase diagram's colour key, in pixels.
const PHASE_KEY: u32 = 280;
/// Size of a phase-diagram cell, in pixels (at most; narrower when many n must fit).
const CELL: (u32, u32) = (110, 44);

/// Points `(x, value)` sorted by x.
type Points = Vec<(f64, f64)>;

/// One run's curves against steps: output index, n index, points.
type Curve = (usize, usize, Points);

/// One output's onsets: output index, tau_mem against n, and the fit's slope and R^2.
type Onsets = (usize, Points, Option<(f64, f64)>);

/// One dataset's row of panels.
struct Row {
    heading: String,
    /// The subset sizes, ascending.
    ns: Vec<f64>,
    /// Per n index: the error against t at the last step (velocity output).
    errors: Vec<(usize, Points)>,
    copies: Vec<Curve>,
    d1: Vec<Curve>,
    /// Per output: tau_mem against n (where reached), and the fit.
    onsets: Vec<Onsets>,
    /// Distances to the test set against n: index into [`TEST`] and points.
    test: Vec<(usize, Points)>,
    /// The legend of each panel, in columns.
    keys: [Vec<Vec<Entry>>; PANELS],
}

/// Renders Fig. 2.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig2::View::read(df)?;
    let rows: Vec<Row> = view.datasets.iter().map(row).collect();
    let phases: Vec<(&str, Phase)> =
        view.datasets.iter().filter_map(|d| d.phase().map(|p| (d.name.as_str(), p))).collect();
    let heights: Vec<u32> =
        rows.iter().map(row_height).chain(phases.iter().map(|(_, p)| phase_height(p))).collect();
    canvas::figure(title, caption, heights.iter().sum(), |area| {
        let mut rest = area.clone();
        for (k, h) in heights.iter().enumerate() {
            let (slot, below) = rest.split_vertically(*h);
            match rows.get(k) {
                Some(row) => draw_row(&slot, row)?,
                None => {
                    let (name, phase) = &phases[k - rows.len()];
                    draw_phase(&slot, name, phase)?
                }
            }
            rest = below;
        }
        Ok(())
    })
}

/// The panels of one dataset, from its runs.
fn row(data: &DatasetRuns) -> Row {
    let sizes = data.sizes();
    let errors = data.main(fig2::DECIDING).enumerate().map(|(k, r)| (k, r.errors.clone())).collect();
    let (mut copies, mut d1, mut onsets) = (Vec::new(), Vec::new(), Vec::new());
    for (o, output) in Param::ALL.into_iter().enumerate() {
        for (k, &n) in sizes.iter().enumerate() {
            let Some(run) = data.main_run(output, n) else { continue };
            if !run.copies.is_empty() {
                copies.push((o, k, run.copies.clone()));
            }
            let relative = run.relative_d1();
            if !relative.is_empty() {
                d1.push((o, k, relative));
            }
        }
        let on = data.onsets(output);
        let taus: Points = on
            .taus
            .iter()
            .filter_map(|&(n, t)| t.map(|t| (n, t)))
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
            .collect();
        let fit = on.fit.filter(|(slope, r2)| slope.is_finite() && r2.is_finite());
        if !taus.is_empty() || fit.is_some() {
            onsets.push((o, taus, fit));
        }
    }
    let test: Vec<(usize, Points)> = TEST
        .iter()
        .enumerate()
        .map(|(k, (distance, _))| {
            (k, data.main(fig2::DECIDING).filter_map(|r| distance(r).map(|v| (r.n, v))).collect())
        })
        .filter(|(_, points): &(usize, Points)| !points.is_empty())
        .collect();
    let full = data.main(fig2::DECIDING).any(|r| r.train_to_train_full.is_some());
    let heading = if data.width > 0.0 {
        format!("{}, network width {}", data.name, data.width)
    } else {
        data.name.clone()
    };
    let keys = keys(&sizes, &onsets, &test, data.classifier_accuracy(), full);
    Row { heading, ns: sizes, errors, copies, d1, onsets, test, keys }
}

/// The legends of a row's panels: the n (in columns of at most [`KEY_ROWS`]), the outputs and
/// what a copy is, the distance ratio, the onsets with their slopes, the distances to the test
/// set (with the classifier's accuracy).
fn keys(
    ns: &[f64],
    onsets: &[Onsets],
    test: &[(usize, Points)],
    accuracy: Option<f64>,
    full: bool,
) -> [Vec<Vec<Entry>>; PANELS] {
    let sizes: Vec<Entry> = ns
        .iter()
        .enumerate()
        .map(|(k, n)| Entry::new(Mark::Line(style::sequential(k, ns.len())), format!("n = {n}")))
        .collect();
    let columns = sizes.len().div_ceil(KEY_ROWS);
    let per_column = sizes.len().div_ceil(columns.max(1));
    let mut sizes = sizes.into_iter();
    let n_key: Vec<Vec<Entry>> = (0..columns).map(|_| sizes.by_ref().take(per_column).collect()).collect();
    let outputs = || {
        vec![
            Entry::new(Mark::Line(INK), "velocity output (colour: n)"),
            Entry::new(Mark::Dashed(INK), "x1 output, (1 - t)²-weighted loss"),
        ]
    };
    let mut copy_key = outputs();
    copy_key.push(Entry::new(
        Mark::None,
        "a copy: d1/d2 < 1/3 (d1, d2: nearest and second-nearest training points)",
    ));
    let mut d1_key = outputs();
    d1_key.push(Entry::new(
        Mark::None,
        if full {
            "d1 over the distance of a training point to its nearest other, whole split"
        } else {
            "d1 over the distance of a training point to its nearest other, subset of n"
        },
    ));
    let mut onset_key: Vec<Entry> = onsets
        .iter()
        .map(|(o, _, fit)| {
            let fit = fit.map_or(String::new(), |(slope, r2)| {
                format!(": slope {} (R² {})", style::num(slope, 3), style::num(r2, 2))
            });
            Entry::new(Mark::Dot(style::categorical(*o)), format!("{} output{fit}", Param::ALL[*o].name()))
        })
        .collect();
    onset_key
        .push(Entry::new(Mark::Dotted(style::categorical(LINEAR)), "slope 1: linear in n (Bonnaire et al.)"));
    let mut test_key: Vec<Entry> =
        test.iter().map(|(k, _)| Entry::new(Mark::Line(style::categorical(*k)), TEST[*k].1)).collect();
    if let Some(a) = accuracy {
        test_key.push(Entry::new(Mark::None, format!("classifier test accuracy {:.1}%", 100.0 * a)));
    }
    [n_key, vec![copy_key], vec![d1_key], vec![onset_key], vec![test_key]]
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
    points.iter().copied().filter(|p| p.0 > 0.0 && p.1.is_finite() && p.1 > 0.0).collect()
}

/// A line in `colour`, solid or dashed, with a dot at each point.
fn line_with_dots<X, Y>(
    chart: &mut Chart<'_, '_, X, Y>,
    points: &[(f64, f64)],
    colour: RGBColor,
    dashed: bool,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if dashed {
        chart.draw_series(DashedLineSeries::new(
            points.iter().copied(),
            DASHED.0,
            DASHED.1,
            colour.stroke_width(2),
        ))?;
    } else {
        chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?;
    }
    chart.draw_series(points.iter().map(|&p| Circle::new(p, DOT, colour.filled())))?;
    Ok(())
}

/// A dataset's heading, five panels and their legends.
fn draw_row(area: &Area<'_>, row: &Row) -> Result<()> {
    let below = canvas::heading(area, &row.heading)?;
    let (plots, keys) = below.split_vertically(PANEL_H);
    let plots = plots.split_evenly((1, PANELS));
    let colour = |k: usize| style::sequential(k, row.ns.len());

    let errors = || row.errors.iter().flat_map(|(_, points)| points.iter().map(|p| p.1));
    let axes = Axes::new("network error vs u*, last step", "t", "E||u_theta - u*||²");
    let mut chart = canvas::panel(&plots[0], &axes, 0.0..1.0, log_range(errors()).log_scale())?;
    for (k, points) in &row.errors {
        let points: Points = points.iter().copied().filter(|p| p.1.is_finite() && p.1 > 0.0).collect();
        chart.draw_series(LineSeries::new(points, colour(*k).stroke_width(2)))?;
    }

    let all_steps = || row.copies.iter().chain(&row.d1).flat_map(|c| c.2.iter().map(|p| p.0));
    let (s_lo, s_hi) =
        all_steps().filter(|s| *s > 0.0).fold((f64::INFINITY, 0.0f64), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let (s_lo, s_hi) = if s_hi > 0.0 { (s_lo / 1.5, s_hi * 1.5) } else { (1.0, 10.0) };
    let steps_desc = "training step";
    let axes = Axes::new("fraction of copies", steps_desc, "fraction of samples");
    let mut chart = canvas::panel(&plots[1], &axes, (s_lo..s_hi).log_scale(), 0.0..1.02)?;
    for (o, k, points) in &row.copies {
        let points: Points = points.iter().copied().filter(|p| p.0 > 0.0).collect();
        line_with_dots(&mut chart, &points, colour(*k), *o == 1)?;
    }

    let ratios = || row.d1.iter().flat_map(|c| c.2.iter().map(|p| p.1));
    let axes = Axes::new("distance to the training set", steps_desc, "mean d1 / train-to-train");
    let mut chart =
        canvas::panel(&plots[2], &axes, (s_lo..s_hi).log_scale(), log_range(ratios()).log_scale())?;
    for (o, k, points) in &row.d1 {
        line_with_dots(&mut chart, &positive(points), colour(*k), *o == 1)?;
    }

    let (n_lo, n_hi) = row
        .ns
        .iter()
        .filter(|n| **n > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &n| (lo.min(n), hi.max(n)));
    let (n_lo, n_hi) = if n_hi > 0.0 { (n_lo / 1.5, n_hi * 1.5) } else { (1.0, 10.0) };
    let n_axis = || (n_lo..n_hi).log_scale();
    let n_desc = "n (training points)";
    let taus = || row.onsets.iter().flat_map(|o| o.1.iter().map(|p| p.1));
    let tau_range = log_range(taus());
    // At most three labels on the n axes: the panels are narrow, and four decades' labels
    // ran into each other.
    let axes = Axes { x_ticks: 3, ..Axes::new("memorization onset", n_desc, "tau_mem (steps)") };
    let mut chart = canvas::panel(&plots[3], &axes, n_axis(), tau_range.clone().log_scale())?;
    if let Some(&(n0, t0)) = row.onsets.first().and_then(|o| o.1.first()) {
        // Slope 1 through the first onset, clipped to the panel.
        let line: Points = [n_lo, n_hi]
            .iter()
            .map(|&n| (n, t0 * n / n0))
            .map(|(n, t)| (n, t.clamp(tau_range.start, tau_range.end)))
            .collect();
        let c = style::categorical(LINEAR);
        chart.draw_series(DashedLineSeries::new(line, DOTTED.0, DOTTED.1, c.stroke_width(2)))?;
    }
    for (o, points, _) in &row.onsets {
        line_with_dots(&mut chart, &positive(points), style::categorical(*o), false)?;
    }

    let distances = || row.test.iter().flat_map(|(_, points)| points.iter().map(|p| p.1));
    let axes = Axes { x_ticks: 3, ..Axes::new("distance to the test set", n_desc, "distance") };
    let mut chart = canvas::panel(&plots[4], &axes, n_axis(), log_range(distances()).log_scale())?;
    for (k, points) in &row.test {
        line_with_dots(&mut chart, &positive(points), style::categorical(*k), false)?;
    }

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
fn draw_phase(area: &Area<'_>, dataset: &str, phase: &Phase) -> Result<()> {
    let heading = format!("{dataset}: phase diagram of the fraction of copies over n and network width");
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

    const DIGITS_N: [usize; 4] = [10, 100, 1000, 3000];
    const MOONS_N: [usize; 3] = [4, 40, 400];
    /// Times of the error rows (more than there are n, so error lines have their own length).
    const TIMES: usize = 7;
    /// Checkpoints of every run.
    const STEPS: [u64; 3] = [250, 1000, 4000];
    /// The fraction of copies of the digits at width index `w` and n index `k` at the last step
    /// (never a key colour's value).
    fn copies(w: usize, k: usize) -> f64 {
        0.05 + 0.1 * (4 * w + k) as f64
    }

    /// Digits at widths 32 and 256 (main), both outputs, with every statistic; two-moons at
    /// width 64. Rows for which `skip(dataset, n, width, statistic)` holds are left out.
    fn table(skip: impl Fn(&str, usize, usize, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&fig2::COLUMNS);
        let mut push = |name: &str, out: &str, n: usize, w: usize, step: u64, t: f64, stat: &str, v: f64| {
            if !skip(name, n, w, stat) {
                b.push(row![name, out, n, w, step, t, stat, v]);
            }
        };
        for (wi, w) in [32usize, 256].into_iter().enumerate() {
            for (o, out) in Param::ALL.map(Param::name).into_iter().enumerate() {
                if wi == 0 && o == 1 {
                    continue;
                }
                for (k, n) in DIGITS_N.into_iter().enumerate() {
                    for j in 0..TIMES {
                        let t = (j + 1) as f64 / (TIMES + 1) as f64;
                        push("digits", out, n, w, 4000, t, fig2::ERROR, (n as f64).sqrt() * t);
                    }
                    for (s, step) in STEPS.into_iter().enumerate() {
                        let f = copies(wi, k) * (s + 1) as f64 / 3.0;
                        push("digits", out, n, w, step, 0.0, fig2::FRACTION_MEMORIZED, f);
                        push("digits", out, n, w, step, 0.0, fig2::MEAN_D1, 0.5 + k as f64 + o as f64);
                    }
                    push("digits", out, n, w, 4000, 0.0, fig2::TRAIN_TO_TRAIN_SUBSET, 5.0 - k as f64);
                    push("digits", out, n, w, 4000, 0.0, fig2::TRAIN_TO_TRAIN_FULL, 2.1);
                    push("digits", out, n, w, 4000, 0.0, fig2::FD_FEATURE_TEST, 100.0 / (k + 1) as f64);
                    push("digits", out, n, w, 4000, 0.0, fig2::FD_PIXEL_TEST, 10.0 / (k + 1) as f64);
                    push("digits", out, n, w, 4000, 0.0, fig2::CLASSIFIER_ACCURACY, 0.973);
                }
            }
        }
        for (k, n) in MOONS_N.into_iter().enumerate() {
            for j in 0..TIMES {
                push(
                    "two-moons",
                    "velocity",
                    n,
                    64,
                    4000,
                    j as f64 / TIMES as f64,
                    fig2::ERROR,
                    0.1 + k as f64,
                );
            }
            for step in STEPS {
                push("two-moons", "velocity", n, 64, step, 0.0, fig2::MEAN_D1, 0.3 / (k + 1) as f64);
                push(
                    "two-moons",
                    "velocity",
                    n,
                    64,
                    step,
                    0.0,
                    fig2::FRACTION_MEMORIZED,
                    0.8 / (k + 1) as f64,
                );
            }
            push(
                "two-moons",
                "velocity",
                n,
                64,
                4000,
                0.0,
                fig2::TRAIN_TO_TRAIN_SUBSET,
                3.0 / (k + 1) as f64,
            );
            push("two-moons", "velocity", n, 64, 4000, 0.0, fig2::FD_PIXEL_TEST, 2.0 / (k + 1) as f64);
            push("two-moons", "velocity", n, 64, 4000, 0.0, fig2::ENERGY_TEST, 0.8 / (k + 1) as f64);
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
        // Against steps, per n: the velocity output's solid curves (copies and d1), with a dot
        // per checkpoint; the digits' x1 output dashed (many short segments).
        // (The darkest colour of both datasets' scales may coincide: at least.)
        for k in 0..4 {
            let c = style::sequential(k, 4);
            assert!(strokes(&el, c, STEPS.len()) >= 2, "digits n index {k}");
            assert!(strokes(&el, c, 2) > 4, "digits n index {k}: no dashed x1 curves");
        }
        for k in 0..3 {
            assert!(strokes(&el, style::sequential(k, 3), STEPS.len()) >= 2, "two-moons n index {k}");
        }
        // Onsets: three n reached it, for each output (colours 0 and 1; 1 and 2 are also
        // two-moons' distances to the test set, over its three n); the slope-1 line dotted.
        assert_eq!(strokes(&el, style::categorical(0), 3), 1);
        assert_eq!(strokes(&el, style::categorical(1), 3), 2);
        assert!(strokes(&el, style::categorical(LINEAR), 2) > 5);
        // The phase diagram: one cell per (n, width) of the digits, the last checkpoint's value.
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
            "network error vs u*, last step",
            "training step",
            "memorization onset",
            "n (training points)",
        ] {
            // Legend lines may wrap: the text elements joined by spaces hold it.
            assert!(text.contains(label), "no label {label}");
        }
        // The onset fits of the view, one per output (legend lines may wrap).
        let view = fig2::View::read(&df).unwrap();
        for output in Param::ALL {
            let (slope, _) = view.dataset("digits").unwrap().onsets(output).fit.expect("three onsets");
            let label = format!("{} output: slope {}", output.name(), style::num(slope, 3));
            assert_eq!(text.matches(&label).count(), 1, "{label} in {text}");
        }
        assert!(!text.contains("n/a"), "every cell ran");
    }

    #[test]
    fn missing_cells_are_shown_as_missing() {
        let skip = |name: &str, n: usize, w: usize, stat: &str| {
            name == "digits" && n == 100 && w == 32 && stat == fig2::FRACTION_MEMORIZED
        };
        let el = testing::parse(&render(&table(skip), TITLE, CAPTION).unwrap());
        assert_eq!(el.iter().filter(|e| e.tag == "text" && e.text == "n/a").count(), 1);
        assert!(testing::has_label(&el, "n/a: not run"));
        assert_eq!(testing::filled(&el, "rect", style::ramp(copies(0, 1))), 0);
    }

    #[test]
    fn missing_rows_and_columns_are_named() {
        let err =
            render(&table(|_, _, _, _| false).drop("step").unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig2") && err.contains("'step'"), "{err}");
        for stat in [fig2::ERROR, fig2::MEAN_D1] {
            let skip = |name: &str, _: usize, w: usize, s: &str| name == "digits" && w == 256 && s == stat;
            let err = render(&table(skip), TITLE, CAPTION).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "dataset 'digits' has no '{stat}' rows of the velocity output at width 256"
                )),
                "{err}"
            );
        }
    }
}
