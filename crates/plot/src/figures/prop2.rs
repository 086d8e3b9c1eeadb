//! Proposition 2 checked numerically: draws [`prop2::View`], one row of panels per dataset; left, the bias
//! `||E u*_M - u*||` of the EFM estimate, right, its variance `tr Cov(u*_M)`, both against the
//! number M of reference points on log-log axes. One line per (estimator, t): solid with filled
//! dots for the unbiased estimator (b_1 drawn from the posterior), dashed with open dots for
//! the biased one (M uniform references); colour by t. Values <= 0 cannot sit on a log axis:
//! they are drawn at a floor a decade below the smallest positive value, and the legend says so.

use cfm_study::figures::prop2::{self, Estimator, Statistic};
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::canvas::{self, Axes, Entry, Mark};
use crate::style::{self, INK};
use crate::{Error, Result};

/// The statistics drawn, with their axis descriptions.
const PANELS: [(Statistic, &str); 2] =
    [(Statistic::Bias, "bias ||E u*_M - u*||"), (Statistic::Variance, "variance tr Cov(u*_M)")];
/// Height of one dataset row, in pixels.
const ROW_HEIGHT: u32 = 340;
/// Width of the legend column, in pixels.
const LEGEND: u32 = 250;
/// Radius of the markers, in pixels.
const MARKER: u32 = 3;

/// One line: estimator, time (index into the view's times) and points `(M, value)` sorted by M.
struct Line {
    estimator: Estimator,
    time: usize,
    points: Vec<(f64, f64)>,
}

/// One panel: dataset, statistic, axis description, lines, and the floor values <= 0 are drawn
/// at (None when every value is positive).
struct Panel {
    dataset: String,
    stat: &'static str,
    y: &'static str,
    lines: Vec<Line>,
    floor: Option<f64>,
}

/// Renders the Proposition 2 figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = prop2::View::read(df)?;
    let times = &view.times;
    let (m_lo, m_hi) = view.m_range;
    let mut rows: Vec<Vec<Panel>> = Vec::new();
    for data in &view.datasets {
        let mut panels = Vec::new();
        for (stat, y) in PANELS {
            let mut lines = Vec::new();
            for estimator in Estimator::ALL {
                for (k, &t) in times.iter().enumerate() {
                    let Some(curve) = data.curve(estimator, t) else { continue };
                    let points: Vec<(f64, f64)> =
                        curve.points(stat).iter().copied().filter(|p| p.1.is_finite()).collect();
                    if !points.is_empty() {
                        lines.push(Line { estimator, time: k, points });
                    }
                }
            }
            let all = || lines.iter().flat_map(|l| &l.points).map(|p| p.1);
            if all().next().is_none() {
                let msg = format!("dataset '{}' has no finite '{}' values", data.dataset, stat.name());
                return Err(Error::malformed(prop2::ID, msg));
            }
            let smallest = all().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
            let floor =
                all().any(|v| v <= 0.0).then_some(if smallest.is_finite() { smallest / 10.0 } else { 1e-12 });
            panels.push(Panel { dataset: data.dataset.clone(), stat: stat.name(), y, lines, floor });
        }
        rows.push(panels);
    }
    let mut entries: Vec<Entry> = times
        .iter()
        .enumerate()
        .map(|(k, t)| {
            Entry::new(Mark::Line(style::sequential(k, times.len())), format!("t = {}", style::num(*t, 3)))
        })
        .collect();
    entries.push(Entry::new(Mark::Line(INK), "unbiased: b_1 from the posterior (solid, filled dots)"));
    entries.push(Entry::new(Mark::Dashed(INK), "biased: M uniform references (dashed, open dots)"));
    for panel in rows.iter().flatten() {
        if let Some(floor) = panel.floor {
            let note = format!(
                "{}: {} <= 0 drawn at {} (log axis)",
                panel.dataset,
                panel.stat,
                style::num(floor, 2)
            );
            entries.push(Entry::new(Mark::None, note));
        }
    }
    canvas::figure(title, caption, ROW_HEIGHT * rows.len() as u32, |area| {
        let (plots, key) = canvas::with_legend(area, LEGEND);
        let slots = plots.split_evenly((rows.len(), PANELS.len()));
        for (panel, slot) in rows.iter().flatten().zip(&slots) {
            let clamp = |(m, v): (f64, f64)| match panel.floor {
                Some(floor) if v <= floor => (m, floor),
                _ => (m, v),
            };
            let ys = || panel.lines.iter().flat_map(|l| &l.points).map(|p| clamp(*p).1);
            let (lo, hi) = (ys().fold(f64::INFINITY, f64::min), ys().fold(0.0, f64::max));
            let title = format!("{}: {}", panel.dataset, panel.stat);
            let axes = Axes { x_ticks: 6, ..Axes::new(&title, "M (number of reference points)", panel.y) };
            let x = ((m_lo / 1.4)..(m_hi * 1.4)).log_scale().base(2.0);
            let mut chart = canvas::panel(slot, &axes, x, style::decades(lo, hi).log_scale())?;
            for line in &panel.lines {
                let colour = style::sequential(line.time, times.len());
                let points: Vec<(f64, f64)> = line.points.iter().map(|&p| clamp(p)).collect();
                if line.estimator == Estimator::Unbiased {
                    chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?;
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, MARKER, colour.filled())))?;
                } else {
                    chart.draw_series(DashedLineSeries::new(
                        points.iter().copied(),
                        canvas::DASHED.0,
                        canvas::DASHED.1,
                        colour.stroke_width(2),
                    ))?;
                    chart.draw_series(
                        points.iter().map(|&p| Circle::new(p, MARKER, colour.stroke_width(2))),
                    )?;
                }
            }
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

    const MS: [usize; 4] = [1, 4, 16, 64];

    /// Two datasets x two estimators x two times x four M; one unbiased bias is exactly 0.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&prop2::COLUMNS);
        for name in ["two-moons", "digits"] {
            for estimator in [prop2::UNBIASED, prop2::BIASED] {
                for t in [0.05, 0.5] {
                    for m in MS {
                        let bias = if estimator == prop2::UNBIASED && m == 4 && name == "digits" {
                            0.0
                        } else {
                            0.1 / m as f64
                        };
                        b.push(row![name, estimator, t, m, prop2::BIAS, bias]);
                        b.push(row![name, estimator, t, m, prop2::BIAS_Z, 1.0]);
                        b.push(row![name, estimator, t, m, prop2::VARIANCE, 2.0 - 1.0 / m as f64]);
                    }
                }
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_solid_and_dashed_lines_with_a_marker_per_value() {
        let svg = render(&table(), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        let points = 2 * PANELS.len() * 2 * MS.len();
        let circles = |filled: bool| {
            el.iter().filter(|e| e.tag == "circle" && (e.attr("fill") != Some("none")) == filled).count()
        };
        assert_eq!(circles(true), points, "filled dots: unbiased values");
        assert_eq!(circles(false), points, "open dots: biased values");
        // Solid lines hold every M; dashes hold two or three points.
        let solid = el.iter().filter(|e| e.tag == "polyline" && e.points() == MS.len()).count();
        assert_eq!(solid, 2 * PANELS.len() * 2);
        let first = testing::hex(style::sequential(0, 2));
        let strokes =
            el.iter().filter(|e| e.tag == "polyline" && e.attr("stroke") == Some(first.as_str())).count();
        assert!(strokes >= 4 + 1 + 4 * 2, "dashed lines are drawn in dashes: {strokes}");
        for label in ["t = 0.05", "t = 0.5", "two-moons: bias", "digits: variance", "variance tr Cov(u*_M)"] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        let text = testing::all_text(&el);
        assert!(text.contains("digits: bias &lt;= 0 drawn at 1.6e-4 (log axis)"), "{text}");
        assert!(!text.contains("two-moons: bias &lt;="));
    }

    #[test]
    fn unknown_estimator_and_missing_statistic_are_errors() {
        let mut b = TableBuilder::new(&prop2::COLUMNS);
        b.push(row!["a", "exact", 0.5, 1usize, prop2::BIAS, 0.1]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("unknown estimator 'exact'"), "{err}");
        let mut b = TableBuilder::new(&prop2::COLUMNS);
        b.push(row!["a", prop2::BIASED, 0.5, 1usize, prop2::BIAS, 0.1]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'a' has no 'variance' rows"), "{err}");
    }

    #[test]
    fn missing_column_is_named() {
        let err = render(&table().drop(prop2::COLUMNS[3]).unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("prop2") && err.contains("'m'"), "{err}");
    }
}
