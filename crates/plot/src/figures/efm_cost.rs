//! The cost of EFM (App. D.1 of the paper) against the number M of references, in two rows of
//! panels, each panel with its legend below it. Top: the median time of a whole training step,
//! one panel per measured network (solid line with dots; the step times of the networks differ
//! a hundredfold) with the fitted cost model `b (a + M c)` dashed, and one for the paper's
//! model (dashed black). Bottom left: the median time of building a minibatch and its EFM
//! target, all networks on linear axes, each with its least-squares line dashed (drawn through
//! the mean point of its times, where a least-squares line passes). Bottom right: the overhead
//! of each network's step over the M = 1 (CFM) step, in %, with the paper's model dashed black.
//! The legends give the fitted a, c and R² and the overhead at the largest M.

use cfm_study::figures::efm_cost;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Chart, DASHED, DOT, Entry, Mark};
use crate::style::{self, INK, WIDTH};
use crate::table::{Table, distinct};

const ID: &str = "efm_cost";
/// The model whose rows are the paper's cost model.
const PAPER: &str = efm_cost::PAPER_MODEL;
/// The batch size b of the timed steps (efm_cost's cells and its paper rows: 128).
const BATCH: f64 = 128.0;
/// Height of the panels, in pixels.
const PANEL_H: u32 = 300;

/// Points `(M, value)` sorted by M.
type Points = Vec<(f64, f64)>;

/// A measured network: its rows per M, and the fits of its step and target times.
struct Model {
    name: String,
    colour: RGBColor,
    step: Points,
    target: Points,
    overhead: Points,
    /// Fit of the step time `b (a + M c)`: a in ms, c in us (per sample), R².
    step_fit: (f64, f64, f64),
    /// Fit of the target time: slope c in us per sample and reference, R².
    target_fit: (f64, f64),
}

/// The paper's cost model at the table's M, and its a (ms) and c (us).
struct Paper {
    step: Points,
    overhead: Points,
    a_ms: f64,
    c_us: f64,
}

/// Renders the EFM cost figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let table = Table::new(ID, df, &["model", "m", "statistic", "value"])?;
    let (names, ms, stats, values) =
        (table.text("model")?, table.num("m")?, table.text("statistic")?, table.num("value")?);
    let series = |model: &str, stat: &str| -> Result<Points> {
        let mut points: Points = (0..names.len())
            .filter(|&i| names[i] == model && stats[i] == stat && ms[i] > 0.0)
            .map(|i| (ms[i], values[i]))
            .collect();
        if points.is_empty() {
            return Err(table.malformed(format!("model '{model}' has no '{stat}' rows")));
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(points)
    };
    let scalar = |model: &str, stat: &str| -> Result<f64> {
        (0..names.len())
            .find(|&i| names[i] == model && stats[i] == stat && ms[i] == 0.0)
            .map(|i| values[i])
            .ok_or_else(|| table.malformed(format!("model '{model}' has no '{stat}' row at m = 0")))
    };
    let measured: Vec<String> = distinct(names.iter().filter(|n| *n != PAPER).cloned());
    if measured.is_empty() {
        return Err(table.malformed("no measured model, only the paper's cost model"));
    }
    if !names.iter().any(|n| n == PAPER) {
        return Err(table.malformed(format!("no '{PAPER}' rows (the paper's cost model)")));
    }
    let mut models = Vec::new();
    for (k, name) in measured.into_iter().enumerate() {
        models.push(Model {
            colour: style::categorical(k),
            step: series(&name, efm_cost::STEP_MS)?,
            target: series(&name, efm_cost::TARGET_MS)?,
            overhead: series(&name, efm_cost::OVERHEAD_PCT)?,
            step_fit: (scalar(&name, "a_ms")?, scalar(&name, "c_us")?, scalar(&name, "r2")?),
            target_fit: (scalar(&name, "target_c_us")?, scalar(&name, "target_r2")?),
            name,
        });
    }
    let paper = Paper {
        step: series(PAPER, efm_cost::STEP_MS)?,
        overhead: series(PAPER, efm_cost::OVERHEAD_PCT)?,
        a_ms: scalar(PAPER, "a_ms")?,
        c_us: scalar(PAPER, "c_us")?,
    };
    let top: Vec<Vec<Entry>> = models
        .iter()
        .map(step_key)
        .chain([vec![Entry::new(Mark::Dashed(INK), paper_label(&paper))]])
        .collect();
    let bottom = [target_key(&models), overhead_key(&models, &paper)];
    let keys_height = |keys: &[Vec<Entry>]| {
        let width = WIDTH / keys.len() as u32;
        keys.iter().map(|k| canvas::legend_height(k, width)).max().unwrap_or(0)
    };
    let heights = [
        PANEL_H + canvas::heading_height() + keys_height(&top),
        PANEL_H + canvas::heading_height() + keys_height(&bottom),
    ];
    canvas::figure(title, caption, heights.iter().sum(), |area| {
        let (upper, lower) = area.split_vertically(heights[0]);
        let upper = canvas::heading(&upper, "Whole training step against M (one panel per network)")?;
        let (plots, keys) = upper.split_vertically(PANEL_H);
        let slots = plots.split_evenly((1, top.len()));
        for (model, slot) in models.iter().zip(&slots) {
            draw_step(slot, model)?;
        }
        draw_paper_step(&slots[models.len()], &paper)?;
        for (key, slot) in top.iter().zip(keys.split_evenly((1, top.len()))) {
            canvas::legend(&slot, key)?;
        }
        let lower = canvas::heading(&lower, "Building the EFM targets, and the overhead of EFM-M over CFM")?;
        let (plots, keys) = lower.split_vertically(PANEL_H);
        let slots = plots.split_evenly((1, 2));
        draw_targets(&slots[0], &models)?;
        draw_overheads(&slots[1], &models, &paper)?;
        for (key, slot) in bottom.iter().zip(keys.split_evenly((1, 2))) {
            canvas::legend(&slot, key)?;
        }
        Ok(())
    })
}

/// The legend of a network's step panel: the measured times and the fit.
fn step_key(model: &Model) -> Vec<Entry> {
    let (a, c, r2) = model.step_fit;
    let fit = if a.is_finite() && c.is_finite() {
        format!(
            "fit b (a + M c), b = {BATCH}: a = {} ms, c = {} us, R² = {r2:.3}",
            style::num(a, 3),
            style::num(c, 3)
        )
    } else {
        "no fit: fewer than two M".to_string()
    };
    vec![
        Entry::new(Mark::Dot(model.colour), format!("{}: median step time", model.name)),
        Entry::new(Mark::Dashed(model.colour), fit),
    ]
}

/// The paper's cost model, as the legends name it.
fn paper_label(paper: &Paper) -> String {
    format!(
        "paper: b ({} ms + M {} us), b = {BATCH}, L4 GPU, CIFAR-10 U-Net",
        style::num(paper.a_ms, 3),
        style::num(paper.c_us, 3)
    )
}

/// The legend of the target panel: the fitted slope of each network.
fn target_key(models: &[Model]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = models
        .iter()
        .map(|m| {
            let (c, r2) = m.target_fit;
            let label = if c.is_finite() {
                format!(
                    "{}: slope b c, c = {} us per sample and reference, R² = {r2:.3}",
                    m.name,
                    style::num(c, 3)
                )
            } else {
                format!("{}: no fit, fewer than two M", m.name)
            };
            Entry::new(Mark::Dashed(m.colour), label)
        })
        .collect();
    entries.push(Entry::new(Mark::None, "dots: median time; dashed: least-squares line"));
    entries
}

/// The legend of the overhead panel: each network's overhead at its largest M, and the paper's.
fn overhead_key(models: &[Model], paper: &Paper) -> Vec<Entry> {
    let at_largest = |points: &Points| {
        let (m, v) = points[points.len() - 1];
        format!("{v:+.1}% at M = {m}")
    };
    let mut entries: Vec<Entry> = models
        .iter()
        .map(|m| Entry::new(Mark::Dot(m.colour), format!("{}: {}", m.name, at_largest(&m.overhead))))
        .collect();
    entries.push(Entry::new(
        Mark::Dashed(INK),
        format!("{}: {}", paper_label(paper), at_largest(&paper.overhead)),
    ));
    entries
}

/// The x range of the panels: from 0 to a little past the largest M of `points`.
fn m_range<'a>(points: impl Iterator<Item = &'a Points>) -> std::ops::Range<f64> {
    let largest = points.flatten().map(|p| p.0).fold(1.0, f64::max);
    0.0..largest * 1.04
}

/// A value range around `values`, padded by a tenth of their span (or of their size).
fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = if hi > lo { 0.1 * (hi - lo) } else { 0.1 * hi.abs().max(1.0) };
    (lo - pad)..(hi + pad)
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

/// A dashed line through `points`.
fn dashed<X, Y>(chart: &mut Chart<'_, '_, X, Y>, points: Vec<(f64, f64)>, colour: RGBColor) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(DashedLineSeries::new(points, DASHED.0, DASHED.1, colour.stroke_width(2)))?;
    Ok(())
}

/// The ends of the line `intercept + slope M` over the M of `points`.
fn line_over(points: &Points, intercept: f64, slope: f64) -> Vec<(f64, f64)> {
    [points[0].0, points[points.len() - 1].0].into_iter().map(|m| (m, intercept + slope * m)).collect()
}

/// A network's step times and its fit `b (a + M c)`.
fn draw_step(area: &Area<'_>, model: &Model) -> Result<()> {
    let (a, c, _) = model.step_fit;
    let fit = (a.is_finite() && c.is_finite()).then(|| line_over(&model.step, BATCH * a, BATCH * c * 1e-3));
    let ys = model.step.iter().chain(fit.iter().flatten()).map(|p| p.1);
    let axes = Axes::new(&model.name, "M (references)", "ms per step");
    let mut chart = canvas::panel(area, &axes, m_range([&model.step].into_iter()), padded(ys))?;
    if let Some(fit) = fit {
        dashed(&mut chart, fit, model.colour)?;
    }
    line_with_dots(&mut chart, &model.step, model.colour)
}

/// The paper's model of the step time.
fn draw_paper_step(area: &Area<'_>, paper: &Paper) -> Result<()> {
    let axes = Axes::new("paper's model (L4 GPU)", "M (references)", "ms per step");
    let ys = paper.step.iter().map(|p| p.1);
    let mut chart = canvas::panel(area, &axes, m_range([&paper.step].into_iter()), padded(ys))?;
    dashed(&mut chart, paper.step.clone(), INK)
}

/// The target times of every network, each with its least-squares line through its mean point.
fn draw_targets(area: &Area<'_>, models: &[Model]) -> Result<()> {
    let top = models.iter().flat_map(|m| &m.target).map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.08;
    let axes = Axes::new("building the minibatch and its EFM target", "M (references)", "ms per minibatch");
    let mut chart = canvas::panel(area, &axes, m_range(models.iter().map(|m| &m.target)), 0.0..top)?;
    for model in models {
        let (c, _) = model.target_fit;
        if c.is_finite() {
            let n = model.target.len() as f64;
            let (mean_m, mean_t) =
                model.target.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
            let slope = BATCH * c * 1e-3;
            dashed(&mut chart, line_over(&model.target, mean_t - slope * mean_m, slope), model.colour)?;
        }
        line_with_dots(&mut chart, &model.target, model.colour)?;
    }
    Ok(())
}

/// The overhead of every network, and the paper's model dashed.
fn draw_overheads(area: &Area<'_>, models: &[Model], paper: &Paper) -> Result<()> {
    let all = || models.iter().map(|m| &m.overhead).chain([&paper.overhead]);
    let ys = all().flatten().map(|p| p.1).chain([0.0]);
    let axes = Axes::new("overhead of EFM-M over the M = 1 step", "M (references)", "overhead (%)");
    let mut chart = canvas::panel(area, &axes, m_range(all()), padded(ys))?;
    dashed(&mut chart, paper.overhead.clone(), INK)?;
    for model in models {
        line_with_dots(&mut chart, &model.overhead, model.colour)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    /// Which rows a test table leaves out: `(model, statistic)`.
    type Skip = fn(&str, &str) -> bool;

    const COLUMNS: [&str; 4] = ["model", "m", "statistic", "value"];
    const GRID: [usize; 4] = [1, 32, 128, 512];

    /// mlp and unet timed on [`GRID`] (step times 5 + 0.02 M and 384 + 0.01 M ms), then the
    /// paper's rows. Rows for which `skip(model, statistic)` holds are left out; `unet_a` is
    /// unet's fitted a.
    fn table(unet_a: f64, skip: impl Fn(&str, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |model: &str, m: usize, stat: &str, v: f64| {
            if !skip(model, stat) {
                b.push(row![model, m, stat, v]);
            }
        };
        for (model, base, per_m, a) in [("mlp", 5.0, 0.02, 0.04), ("unet", 384.0, 0.01, unet_a)] {
            for m in GRID {
                let step = base + per_m * m as f64;
                push(model, m, "step_ms", step);
                push(model, m, "target_ms", 0.2 + 0.014 * m as f64);
                push(model, m, "overhead_pct", 100.0 * (step / (base + per_m) - 1.0));
            }
            push(model, 0, "a_ms", a);
            push(model, 0, "c_us", 1e3 * per_m / BATCH);
            push(model, 0, "r2", 0.99);
            push(model, 0, "target_c_us", 0.109375);
            push(model, 0, "target_r2", 0.99995);
        }
        for m in GRID {
            push("paper", m, "step_ms", BATCH * (4.3 + 0.0009 * m as f64));
            push("paper", m, "overhead_pct", 100.0 * (m as f64 - 1.0) * 0.0009 / 4.3009);
        }
        push("paper", 0, "a_ms", 4.3);
        push("paper", 0, "c_us", 0.9);
        b.finish().unwrap()
    }

    /// The number of polylines stroked with `colour` that have `points` points.
    fn strokes(el: &[testing::Element], colour: RGBColor, points: usize) -> usize {
        let c = testing::hex(colour);
        el.iter()
            .filter(|e| e.tag == "polyline" && e.attr("stroke") == Some(c.as_str()) && e.points() == points)
            .count()
    }

    #[test]
    fn draws_step_target_and_overhead_per_network_with_fits_and_the_papers_model() {
        let df = table(3.0, |_, _| false);
        let svg = render(&df, TITLE, CAPTION).unwrap();
        assert_eq!(svg, render(&df, TITLE, CAPTION).unwrap(), "deterministic");
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        let (mlp, unet) = (style::categorical(0), style::categorical(1));
        // Per network: its step, target and overhead lines, a dot per M on each, and the dots of
        // its two legends (step panel, overhead panel).
        for colour in [mlp, unet] {
            assert_eq!(strokes(&el, colour, GRID.len()), 3);
            assert_eq!(testing::filled(&el, "circle", colour), 3 * GRID.len() + 2);
            // The fits are dashed: many two-point dashes besides the two legend marks.
            assert!(strokes(&el, colour, 2) > 2 + 10, "dashed fits");
        }
        // The paper's model is dashed only (no line of GRID points, no dots).
        assert_eq!(strokes(&el, INK, GRID.len()), 0);
        assert!(strokes(&el, INK, 2) > 20, "dashed paper model");
        let text = testing::all_text(&el);
        for label in [
            "fit b (a + M c), b = 128: a = 0.04 ms, c = 0.156 us, R² = 0.990",
            "fit b (a + M c), b = 128: a = 3 ms, c = 0.0781 us, R² = 0.990",
            "mlp: slope b c, c = 0.109 us per sample and reference, R² = 1.000",
            "mlp: +203.6% at M = 512",
            "unet: +1.3% at M = 512",
            "paper: b (4.3 ms + M 0.9 us), b = 128, L4 GPU, CIFAR-10 U-Net: +10.7% at M = 512",
            "dots: median time; dashed: least-squares line",
        ] {
            assert!(text.contains(&testing::escape(label)), "no {label} in {text}");
        }
        for label in [
            "mlp",
            "unet",
            "paper's model (L4 GPU)",
            "building the minibatch and its EFM target",
            "overhead of EFM-M over the M = 1 step",
            "mlp: median step time",
            "M (references)",
            "ms per step",
            "overhead (%)",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
    }

    #[test]
    fn a_missing_fit_draws_no_line_and_says_so() {
        let el = testing::parse(&render(&table(f64::NAN, |_, _| false), TITLE, CAPTION).unwrap());
        let full = testing::parse(&render(&table(3.0, |_, _| false), TITLE, CAPTION).unwrap());
        let unet = style::categorical(1);
        assert!(strokes(&el, unet, 2) < strokes(&full, unet, 2));
        assert_eq!(strokes(&el, style::categorical(0), 2), strokes(&full, style::categorical(0), 2));
        assert!(testing::has_label(&el, "no fit: fewer than two M"));
    }

    #[test]
    fn missing_rows_and_columns_are_named() {
        let err =
            render(&table(3.0, |_, _| false).drop("m").unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("efm_cost") && err.contains("'m'"), "{err}");
        let cases: [(Skip, &str); 5] = [
            (|model, stat| model == "unet" && stat == "target_ms", "model 'unet' has no 'target_ms' rows"),
            (|model, stat| model == "mlp" && stat == "r2", "model 'mlp' has no 'r2' row at m = 0"),
            (|model, stat| model == "paper" && stat == "c_us", "model 'paper' has no 'c_us' row at m = 0"),
            (|model, _| model == "paper", "no 'paper' rows (the paper's cost model)"),
            (|model, _| model != "paper", "no measured model, only the paper's cost model"),
        ];
        for (skip, expected) in cases {
            let err = render(&table(3.0, skip), TITLE, CAPTION).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
