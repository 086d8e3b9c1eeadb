//! The cost of EFM (App. D.1 of the paper) against the number M of references: draws the
//! [`efm_cost::View`] in two rows of panels, each panel with its legend below it. Top: the
//! median time of a whole training step, one panel per timed network (solid line with dots; the
//! step times of the networks differ a hundredfold) with its fitted cost model `b (a + M c)`
//! dashed, and one for the paper's model (dashed black). Bottom left: the median time of
//! building a minibatch and its EFM target, all networks on linear axes, each with its
//! least-squares line dashed. Bottom right: the overhead of each network's step over the M = 1
//! (CFM) step, in %, with the paper's model dashed black. The legends give the fitted a, c and
//! R² and the overhead at the largest M.

use cfm_study::figures::efm_cost::{self, Curve, Line, NetworkTimes, PaperModel};
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Chart, DASHED, DOT, Entry, Mark};
use crate::style::{self, INK, WIDTH};

/// The batch size b of the timed steps and of the paper's model.
const BATCH: usize = efm_cost::BATCH;
/// Height of the panels, in pixels.
const PANEL_H: u32 = 300;

/// A timed network of the view, with its colour.
struct Model<'a> {
    times: &'a NetworkTimes,
    colour: RGBColor,
}

impl Model<'_> {
    fn name(&self) -> &'static str {
        self.times.network.name()
    }
}

/// Renders the EFM cost figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = efm_cost::View::read(df)?;
    let models: Vec<Model> = view
        .networks
        .iter()
        .enumerate()
        .map(|(k, times)| Model { times, colour: style::categorical(k) })
        .collect();
    let paper = &view.paper;
    let top: Vec<Vec<Entry>> = models
        .iter()
        .map(step_key)
        .chain([vec![Entry::new(Mark::Dashed(INK), paper_label(paper))]])
        .collect();
    let bottom = [target_key(&models), overhead_key(&models, paper)];
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
        draw_paper_step(&slots[models.len()], paper)?;
        for (key, slot) in top.iter().zip(keys.split_evenly((1, top.len()))) {
            canvas::legend(&slot, key)?;
        }
        let lower = canvas::heading(&lower, "Building the EFM targets, and the overhead of EFM-M over CFM")?;
        let (plots, keys) = lower.split_vertically(PANEL_H);
        let slots = plots.split_evenly((1, 2));
        draw_targets(&slots[0], &models)?;
        draw_overheads(&slots[1], &models, paper)?;
        for (key, slot) in bottom.iter().zip(keys.split_evenly((1, 2))) {
            canvas::legend(&slot, key)?;
        }
        Ok(())
    })
}

/// The legend of a network's step panel: the measured times and the fit.
fn step_key(model: &Model) -> Vec<Entry> {
    let fit = model.times.step_fit;
    let fit = match model.times.step_line() {
        Some(_) => format!(
            "fit b (a + M c), b = {BATCH}: a = {} ms, c = {} us, R² = {:.3}",
            style::num(fit.a_ms, 3),
            style::num(fit.c_us, 3),
            fit.r2
        ),
        None => "no fit: fewer than two M".to_string(),
    };
    vec![
        Entry::new(Mark::Dot(model.colour), format!("{}: median step time", model.name())),
        Entry::new(Mark::Dashed(model.colour), fit),
    ]
}

/// The paper's cost model, as the legends name it.
fn paper_label(paper: &PaperModel) -> String {
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
            let fit = m.times.target_fit;
            let label = match m.times.target_line() {
                Some(_) => format!(
                    "{}: slope b c, c = {} us per sample and reference, R² = {:.3}",
                    m.name(),
                    style::num(fit.c_us, 3),
                    fit.r2
                ),
                None => format!("{}: no fit, fewer than two M", m.name()),
            };
            Entry::new(Mark::Dashed(m.colour), label)
        })
        .collect();
    entries.push(Entry::new(Mark::None, "dots: median time; dashed: least-squares line"));
    entries
}

/// The legend of the overhead panel: each network's overhead at its largest M, and the paper's.
fn overhead_key(models: &[Model], paper: &PaperModel) -> Vec<Entry> {
    let at_largest = |curve: &Curve| {
        let (m, v) = curve.largest();
        format!("{v:+.1}% at M = {m}")
    };
    let mut entries: Vec<Entry> = models
        .iter()
        .map(|m| Entry::new(Mark::Dot(m.colour), format!("{}: {}", m.name(), at_largest(&m.times.overhead))))
        .collect();
    entries.push(Entry::new(
        Mark::Dashed(INK),
        format!("{}: {}", paper_label(paper), at_largest(&paper.overhead)),
    ));
    entries
}

/// The x range of the panels: from 0 to a little past the largest M of `curves`.
fn m_range<'a>(curves: impl Iterator<Item = &'a Curve>) -> std::ops::Range<f64> {
    let largest = curves.map(|c| c.largest().0).fold(1.0, f64::max);
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

/// A solid line with a dot at each point of `curve`.
fn line_with_dots<X, Y>(chart: &mut Chart<'_, '_, X, Y>, curve: &Curve, colour: RGBColor) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(LineSeries::new(curve.0.iter().copied(), colour.stroke_width(2)))?;
    chart.draw_series(curve.0.iter().map(|&p| Circle::new(p, DOT, colour.filled())))?;
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

/// The ends of `line` over the M of `curve`.
fn line_over(curve: &Curve, line: Line) -> Vec<(f64, f64)> {
    let (first, last) = curve.span();
    [first, last].into_iter().map(|m| (m, line.at(m))).collect()
}

/// A network's step times and its fit `b (a + M c)`.
fn draw_step(area: &Area<'_>, model: &Model) -> Result<()> {
    let step = &model.times.step;
    let fit = model.times.step_line().map(|line| line_over(step, line));
    let ys = step.0.iter().chain(fit.iter().flatten()).map(|p| p.1);
    let axes = Axes::new(model.name(), "M (references)", "ms per step");
    let mut chart = canvas::panel(area, &axes, m_range([step].into_iter()), padded(ys))?;
    if let Some(fit) = fit {
        dashed(&mut chart, fit, model.colour)?;
    }
    line_with_dots(&mut chart, step, model.colour)
}

/// The paper's model of the step time.
fn draw_paper_step(area: &Area<'_>, paper: &PaperModel) -> Result<()> {
    let axes = Axes::new("paper's model (L4 GPU)", "M (references)", "ms per step");
    let ys = paper.step.0.iter().map(|p| p.1);
    let mut chart = canvas::panel(area, &axes, m_range([&paper.step].into_iter()), padded(ys))?;
    dashed(&mut chart, paper.step.0.clone(), INK)
}

/// The target times of every network, each with its least-squares line.
fn draw_targets(area: &Area<'_>, models: &[Model]) -> Result<()> {
    let top = models.iter().flat_map(|m| &m.times.target.0).map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.08;
    let axes = Axes::new("building the minibatch and its EFM target", "M (references)", "ms per minibatch");
    let mut chart = canvas::panel(area, &axes, m_range(models.iter().map(|m| &m.times.target)), 0.0..top)?;
    for model in models {
        if let Some(line) = model.times.target_line() {
            dashed(&mut chart, line_over(&model.times.target, line), model.colour)?;
        }
        line_with_dots(&mut chart, &model.times.target, model.colour)?;
    }
    Ok(())
}

/// The overhead of every network, and the paper's model dashed.
fn draw_overheads(area: &Area<'_>, models: &[Model], paper: &PaperModel) -> Result<()> {
    let all = || models.iter().map(|m| &m.times.overhead).chain([&paper.overhead]);
    let ys = all().flat_map(|c| &c.0).map(|p| p.1).chain([0.0]);
    let axes = Axes::new("overhead of EFM-M over the M = 1 step", "M (references)", "overhead (%)");
    let mut chart = canvas::panel(area, &axes, m_range(all()), padded(ys))?;
    dashed(&mut chart, paper.overhead.0.clone(), INK)?;
    for model in models {
        line_with_dots(&mut chart, &model.times.overhead, model.colour)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::figures::efm_cost::{
        A_MS, C_US, COLUMNS, Network, OVERHEAD_PCT, PAPER_MODEL, R2, STEP_MS, TARGET_C_US, TARGET_MS,
        TARGET_R2,
    };
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    /// Which rows a test table leaves out: `(model, statistic)`.
    type Skip = fn(&str, &str) -> bool;

    const GRID: [usize; 4] = [1, 32, 128, 512];
    const MLP: &str = "mlp";
    const UNET: &str = "unet";

    /// mlp and unet timed on [`GRID`] (step times 5 + 0.02 M and 384 + 0.01 M ms), then the
    /// paper's rows. Rows for which `skip(model, statistic)` holds are left out; `unet_a` is
    /// unet's fitted a.
    fn table(unet_a: f64, skip: impl Fn(&str, &str) -> bool) -> DataFrame {
        assert_eq!((Network::Mlp.name(), Network::UNet.name()), (MLP, UNET));
        let b_f = BATCH as f64;
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |model: &str, m: usize, stat: &str, v: f64| {
            if !skip(model, stat) {
                b.push(row![model, m, stat, v]);
            }
        };
        for (model, base, per_m, a) in [(MLP, 5.0, 0.02, 0.04), (UNET, 384.0, 0.01, unet_a)] {
            for m in GRID {
                let step = base + per_m * m as f64;
                push(model, m, STEP_MS, step);
                push(model, m, TARGET_MS, 0.2 + 0.014 * m as f64);
                push(model, m, OVERHEAD_PCT, 100.0 * (step / (base + per_m) - 1.0));
            }
            push(model, 0, A_MS, a);
            push(model, 0, C_US, 1e3 * per_m / b_f);
            push(model, 0, R2, 0.99);
            push(model, 0, TARGET_C_US, 0.109375);
            push(model, 0, TARGET_R2, 0.99995);
        }
        for m in GRID {
            push(PAPER_MODEL, m, STEP_MS, b_f * (4.3 + 0.0009 * m as f64));
            push(PAPER_MODEL, m, OVERHEAD_PCT, 100.0 * (m as f64 - 1.0) * 0.0009 / 4.3009);
        }
        push(PAPER_MODEL, 0, A_MS, 4.3);
        push(PAPER_MODEL, 0, C_US, 0.9);
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
        let m = COLUMNS[1];
        let err = render(&table(3.0, |_, _| false).drop(m).unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains(efm_cost::ID) && err.contains(&format!("'{m}'")), "{err}");
        let cases: [(Skip, &str); 5] = [
            (|model, stat| model == UNET && stat == TARGET_MS, "model 'unet' has no 'target_ms' rows"),
            (|model, stat| model == MLP && stat == R2, "model 'mlp' has no 'r2' row at m = 0"),
            (|model, stat| model == PAPER_MODEL && stat == C_US, "model 'paper' has no 'c_us' row at m = 0"),
            (|model, _| model == PAPER_MODEL, "no 'paper' rows (the paper's cost model)"),
            (|model, _| model != PAPER_MODEL, "no measured model, only the paper's cost model"),
        ];
        for (skip, expected) in cases {
            let err = render(&table(3.0, skip), TITLE, CAPTION).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
