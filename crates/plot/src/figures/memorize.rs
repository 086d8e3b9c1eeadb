//! Closed-form sampling memorizes (claim C4). One column per dataset, headed by its summary
//! rows (memorized fraction by the ratio test, mean distance d1 to the nearest training point,
//! mean train-to-train distance). Two-dimensional data: the training points in light grey and
//! the sampled trajectories from noise (t = 0) to t = 1 as thin coloured lines, each ending in
//! a dot. Image data: each generated image (top row) above its nearest training image (bottom
//! row), grey scale with -1 black and 1 white. It draws the study's [`memorize::View`].

use cfm_study::figures::memorize::{self, Shown};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Entry, Mark};
use crate::style::{self, INK, LIGHT, TICK_PX};

/// Height of the panels, in pixels.
const HEIGHT: u32 = 600;
/// Width of the legend beside the summary of the trajectories, in pixels.
const LEGEND: u32 = 190;
/// Width of the row labels beside the images, in pixels.
const LABELS: u32 = 170;

/// Renders the memorization figure.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = memorize::View::read(df)?;
    let columns = &view.datasets;
    let shown = columns.iter().map(|c| c.shown()).collect::<Result<Vec<&Shown>, _>>()?;
    canvas::figure(title, caption, HEIGHT, |area| {
        for ((column, shown), slot) in columns.iter().zip(shown).zip(area.split_evenly((1, columns.len()))) {
            let below = canvas::heading(&slot, &column.name)?;
            let (top, rest) = below.split_vertically(4 * style::line_height(TICK_PX) + 8);
            let summary = summary(column);
            match shown {
                Shown::Paths { train, paths } => {
                    let (note, key) = canvas::with_legend(&top, LEGEND);
                    canvas::note(&note, &summary)?;
                    canvas::legend(&key, &legend())?;
                    draw_paths(&rest, train, paths)?;
                }
                Shown::Images { side, pairs } => {
                    canvas::note(&top, &summary)?;
                    draw_images(&rest, *side, pairs)?;
                }
            }
        }
        Ok(())
    })
}

/// The summary lines above a dataset's panel.
fn summary(data: &memorize::Sampled) -> Vec<String> {
    vec![
        format!("memorized (d1/d2 < 1/3): {:.1}%", 100.0 * data.fraction_memorized),
        format!("mean d1 (to nearest training point): {}", style::num(data.mean_d1, 3)),
        format!("mean train-to-train nearest distance: {}", style::num(data.train_to_train, 3)),
    ]
}

/// The legend of the trajectories panel.
fn legend() -> [Entry; 3] {
    [
        Entry::new(Mark::Dot(LIGHT), "training point"),
        Entry::new(Mark::Line(style::categorical(0)), "trajectory from noise"),
        Entry::new(Mark::Dot(style::categorical(0)), "sample at t = 1"),
    ]
}

/// Training points (grey) and trajectories (coloured, ending in a dot) on equal axes.
fn draw_paths(plot: &Area<'_>, train: &[(f64, f64)], paths: &[Vec<(f64, f64)>]) -> Result<()> {
    let all = || train.iter().chain(paths.iter().flatten());
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    // Equal units on both axes: widen the range that is short for its side of the panel
    // (the pixel size is estimated from the panel's margins and label areas).
    let (w, h) = plot.dim_in_pixel();
    let (pw, ph) = ((w as f64 - 100.0).max(1.0), (h as f64 - 75.0).max(1.0));
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let per_px = ((x1 - x0) / pw).max((y1 - y0) / ph).max(1e-9) * 1.08;
    let (hx, hy) = (per_px * pw / 2.0, per_px * ph / 2.0);
    let axes = Axes::new("", "coordinate 1", "coordinate 2");
    let mut chart = canvas::panel(plot, &axes, (cx - hx)..(cx + hx), (cy - hy)..(cy + hy))?;
    chart.draw_series(train.iter().map(|&p| Circle::new(p, 2, LIGHT.filled())))?;
    for (k, path) in paths.iter().enumerate() {
        let colour = style::categorical(k);
        chart.draw_series(LineSeries::new(path.iter().copied(), colour.stroke_width(1)))?;
        if let Some(&end) = path.last() {
            chart.draw_series(std::iter::once(Circle::new(end, 3, colour.filled())))?;
        }
    }
    Ok(())
}

/// The pixel size and number of columns that make the images largest in an area of `w` x `h`
/// pixels (each sample takes two rows: generated above nearest).
fn image_layout(w: u32, h: u32, side: usize, count: usize) -> (u32, usize) {
    let side = side as u32;
    let mut best = (1, count.max(1));
    for cols in 1..=count.max(1) {
        let pair_rows = count.div_ceil(cols) as u32;
        let by_width = (w / cols as u32).saturating_sub(10) / side;
        let by_height = (h / pair_rows).saturating_sub(26) / (2 * side);
        let px = by_width.min(by_height).clamp(1, 16);
        if px >= best.0 {
            best = (px, cols);
        }
    }
    best
}

/// The image grid: generated images (top) above their nearest training images (bottom).
fn draw_images(area: &Area<'_>, side: usize, pairs: &[(Vec<f64>, Vec<f64>)]) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (labels, grid) = area.split_horizontally(LABELS);
    let (px, cols) = image_layout(w - LABELS - 10, h - 10, side, pairs.len());
    let size = px as i32 * side as i32;
    let (row_pitch, pair_pitch) = (size + 6, 2 * (size + 6) + 14);
    let cell = ((w - LABELS - 10) / cols as u32) as i32;
    let label_style = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (j, (generated, nearest)) in pairs.iter().enumerate() {
        let (x, y) = ((j % cols) as i32 * cell, 10 + (j / cols) as i32 * pair_pitch);
        for (r, image) in [generated, nearest].into_iter().enumerate() {
            let top = y + r as i32 * row_pitch;
            if j % cols == 0 {
                let label = if r == 0 { "generated" } else { "nearest training image" };
                labels.draw_text(label, &label_style, (8, top + size / 2))?;
            }
            for (k, &v) in image.iter().enumerate() {
                let (px0, py0) = (x + (k % side) as i32 * px as i32, top + (k / side) as i32 * px as i32);
                grid.draw(&Rectangle::new(
                    [(px0, py0), (px0 + px as i32, py0 + px as i32)],
                    style::grey(v).filled(),
                ))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::figures::memorize::{
        COLUMNS, D1, FRACTION_MEMORIZED, MEAN_D1, NEAREST_PIXEL, RATIO, SAMPLE_PIXEL, TRAIN_POINT,
        TRAIN_TO_TRAIN, TRAJECTORY,
    };
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    fn summary(b: &mut TableBuilder, name: &str) {
        b.push(row![name, FRACTION_MEMORIZED, 0usize, 1.0, 0usize, 1.0]);
        b.push(row![name, MEAN_D1, 0usize, 1.0, 0usize, 1.5e-6]);
        b.push(row![name, TRAIN_TO_TRAIN, 0usize, 1.0, 0usize, 0.25]);
        b.push(row![name, D1, 0usize, 1.0, 0usize, 1.5e-6]);
        b.push(row![name, RATIO, 0usize, 1.0, 0usize, 1e-5]);
    }

    /// Two-moons: 5 training points, 3 trajectories over 4 times. Digits: 3 samples of 8x8.
    fn table(with_nearest: usize) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        summary(&mut b, "two-moons");
        for i in 0..5usize {
            b.push(row!["two-moons", TRAIN_POINT, i, 1.0, 0usize, i as f64]);
            b.push(row!["two-moons", TRAIN_POINT, i, 1.0, 1usize, 0.5]);
        }
        for step in 0..4 {
            let t = step as f64 / 3.0;
            for i in 0..3usize {
                b.push(row!["two-moons", TRAJECTORY, i, t, 0usize, i as f64 * t]);
                b.push(row!["two-moons", TRAJECTORY, i, t, 1usize, 0.5 * t - 1.0]);
            }
        }
        summary(&mut b, "digits");
        for i in 0..3usize {
            for k in 0..64usize {
                b.push(row!["digits", SAMPLE_PIXEL, i, 1.0, k, -1.0 + k as f64 / 40.0]);
            }
        }
        for i in 0..with_nearest {
            for k in 0..64usize {
                b.push(row!["digits", NEAREST_PIXEL, i, 1.0, k, 0.95]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_points_trajectories_images_and_summaries() {
        let svg = render(&table(3), TITLE, CAPTION).unwrap();
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // Training points and the legend's grey dot.
        assert_eq!(testing::filled(&el, "circle", LIGHT), 5 + 1);
        // Training points, one end dot per trajectory, two legend dots.
        assert_eq!(el.iter().filter(|e| e.tag == "circle").count(), 5 + 3 + 2);
        assert_eq!(testing::data_lines(&el), 3);
        // 3 samples x (generated, nearest) x 64 pixels, all grey and never white here.
        let pixels = el
            .iter()
            .filter(|e| e.tag == "rect")
            .filter_map(|e| e.attr("fill"))
            .filter(|f| f.len() == 7 && f[1..3] == f[3..5] && f[3..5] == f[5..7] && *f != "#FFFFFF")
            .count();
        assert_eq!(pixels, 3 * 2 * 64);
        assert_eq!(testing::filled(&el, "rect", style::grey(0.95)), 3 * 64);
        for label in [
            "two-moons",
            "digits",
            "generated",
            "nearest training image",
            "training point",
            "memorized (d1/d2 < 1/3): 100.0%",
            "mean d1 (to nearest training point): 1.5e-6",
            "mean train-to-train nearest distance: 0.25",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
    }

    #[test]
    fn missing_rows_are_named() {
        let err = render(&table(2), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("'digits'") && err.contains("sample 2 has no 'nearest_pixel' rows"), "{err}");
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["x", FRACTION_MEMORIZED, 0usize, 1.0, 0usize, 1.0]);
        let err = render(&b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'x' has no 'mean_d1' row"), "{err}");
    }

    #[test]
    fn missing_column_is_named() {
        let err = render(&table(3).drop(COLUMNS[4]).unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("memorize") && err.contains("'index'"), "{err}");
    }

    #[test]
    fn image_layout_fills_the_area() {
        // 16 8x8 images in 400 x 460 pixels: 4 columns of 10-pixel cells beat 8 columns of 4.
        let (px, cols) = image_layout(400, 460, 8, 16);
        assert!(px >= 5 && cols < 16, "{px} {cols}");
        let rows = 16usize.div_ceil(cols) as u32;
        assert!(cols as u32 * (8 * px + 10) <= 400 && rows * (16 * px + 26) <= 460);
    }
}
