//! Fig. 3, drawn from [`fig3::View`]: the hybrid sampler, which follows the closed form u* on [0, tau) and the network on
//! [tau, 1) from fixed noises. One section per dataset. Top: against tau, the mean distance of
//! the outputs to the nearest training image in pixels (thick black; each highlighted noise a
//! thin coloured line) and in classifier features, and the fraction of outputs that are copies
//! (d1/d2 < 1/3). Bottom: the output of each highlighted noise (rows, labelled in its line's
//! colour) at each tau (columns), grey or RGB (channel-major) with -1 black and 1 white.

use cfm_study::figures::fig3::{self, Curve, DatasetView, Strip};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area, Axes, Entry, Mark};
use crate::style::{self, CHAR_WIDTH, INK, TICK_PX, WIDTH};

/// The top panels, one per mean of [`DatasetView::means`]: panel title and axis description.
const PANELS: [(&str, &str); 3] = [
    ("distance to training set, pixels", "L2 to nearest training image"),
    ("distance in classifier features", "L2 to nearest, features"),
    ("fraction of copies", "fraction of outputs"),
];
/// Height of the top panels, in pixels.
const PANEL_H: u32 = 300;
/// Width of the legend beside the top panels, in pixels.
const LEGEND: u32 = 220;
/// Width of the row labels of the image strip, in pixels.
const LABELS: u32 = 100;
/// Height of the column labels of the image strip, in pixels.
const COLUMN_LABELS: u32 = 26;
/// Space around each image of the strip, in pixels.
const GAP: u32 = 8;
/// Largest size of an image pixel, in pixels.
const MAX_PX: u32 = 6;

/// One dataset's section: its view and the outputs of its highlighted noises.
struct Section<'a> {
    data: &'a DatasetView,
    strip: &'a Strip,
}

/// Renders Fig. 3.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = fig3::View::read(df)?;
    let sections = view
        .datasets
        .iter()
        .map(|data| Ok(Section { data, strip: data.strip()? }))
        .collect::<Result<Vec<_>>>()?;
    let heights: Vec<u32> = sections.iter().map(section_height).collect();
    canvas::figure(title, caption, heights.iter().sum(), |area| {
        let mut rest = area.clone();
        for (section, h) in sections.iter().zip(&heights) {
            let (slot, below) = rest.split_vertically(*h);
            draw_section(&slot, section)?;
            rest = below;
        }
        Ok(())
    })
}

/// The layout of an image strip of `count` columns of images of `side` pixels a side: the
/// column pitch, the size of an image pixel and of an image, in pixels.
fn strip_layout(count: usize, side: usize) -> (u32, u32, u32) {
    let pitch = (WIDTH - LABELS - 20) / count.max(1) as u32;
    let px = (pitch.saturating_sub(GAP) / side as u32).clamp(1, MAX_PX);
    (pitch, px, px * side as u32)
}

/// The height of a section: heading, panels, strip heading, column labels and image rows.
fn section_height(section: &Section) -> u32 {
    let (_, _, size) = strip_layout(section.strip.taus.len(), section.strip.side);
    let strip = COLUMN_LABELS + section.strip.images.len() as u32 * (size + GAP) + 10;
    2 * canvas::heading_height() + PANEL_H + strip
}

/// The colour of highlighted noise number `k`.
fn colour(k: usize) -> RGBColor {
    style::categorical(k)
}

/// A section: the distance panels with their legend, then the image strip.
fn draw_section(area: &Area<'_>, section: &Section) -> Result<()> {
    let data = section.data;
    let below = canvas::heading(area, &data.dataset)?;
    let (top, strip) = below.split_vertically(PANEL_H);
    let (plots, key) = canvas::with_legend(&top, LEGEND);
    for (k, ((means, slot), (title, y))) in
        data.means().into_iter().zip(plots.split_evenly((1, PANELS.len()))).zip(PANELS).enumerate()
    {
        let mut lines: Vec<(&Curve, RGBColor, u32)> = vec![(means, INK, 3)];
        if k == 0 {
            lines.extend(data.distances.iter().map(|(n, points)| (points, colour(*n), 1)));
        }
        let y_top = if k + 1 == PANELS.len() {
            1.02
        } else {
            let all = lines.iter().flat_map(|(points, ..)| points.iter().map(|p| p.1));
            all.filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9) * 1.08
        };
        let axes = Axes { x_ticks: 6, ..Axes::new(title, fig3::TAU, y) };
        let mut chart = canvas::panel(&slot, &axes, 0.0..1.0, 0.0..y_top)?;
        // The thin noise lines first, the mean on top.
        for (points, c, width) in lines.iter().rev() {
            chart.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(*width)))?;
        }
    }
    let mut entries = vec![Entry::new(Mark::Line(INK), "mean over all noises")];
    entries.extend(data.distances.iter().map(|(k, _)| noise_entry(data, *k)));
    entries.push(Entry::new(Mark::None, "tau = 0: the network only; tau = 1: the closed form only"));
    canvas::legend(&key, &entries)?;
    let strip = canvas::heading(&strip, "outputs of the highlighted noises (rows) at each tau (columns)")?;
    draw_strip(&strip, section)
}

/// The legend entry of highlighted noise number `k`.
fn noise_entry(data: &DatasetView, k: usize) -> Entry {
    Entry::new(Mark::Line(colour(k)), format!("noise {}", data.noises[k]))
}

/// The image strip: a row per highlighted noise, a column per tau (labelled where they fit).
fn draw_strip(area: &Area<'_>, section: &Section) -> Result<()> {
    let (strip, noises) = (section.strip, &section.data.noises);
    let (labels, grid) = area.split_horizontally(LABELS);
    let (pitch, px, size) = strip_layout(strip.taus.len(), strip.side);
    let names: Vec<String> = strip.taus.iter().map(|t| style::num(*t, 3)).collect();
    let widest = names.iter().map(|n| n.chars().count()).max().unwrap_or(1) as f64 * TICK_PX * CHAR_WIDTH;
    let every = ((widest + 8.0) / pitch as f64).ceil().max(1.0) as usize;
    let centre = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Center, VPos::Center));
    let left = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    let label_y = COLUMN_LABELS as i32 / 2;
    labels.draw_text(&format!("{} =", fig3::TAU), &left, (8, label_y))?;
    for (c, name) in names.iter().enumerate().step_by(every) {
        grid.draw_text(name, &centre, ((c as u32 * pitch + pitch / 2) as i32, label_y))?;
    }
    let plane = strip.side * strip.side;
    for (r, (k, row)) in strip.images.iter().enumerate() {
        let y = (COLUMN_LABELS + r as u32 * (size + GAP) + GAP / 2) as i32;
        let mid = y + size as i32 / 2;
        labels.draw(&PathElement::new(vec![(8, mid), (24, mid)], colour(*k).stroke_width(3)))?;
        labels.draw_text(&format!("noise {}", noises[*k]), &left, (30, mid))?;
        for (c, image) in row.iter().enumerate() {
            let x = (c as u32 * pitch + (pitch - size) / 2) as i32;
            for p in 0..plane {
                let fill = match strip.channels {
                    1 => style::grey(image[p]),
                    _ => style::rgb(image[p], image[plane + p], image[2 * plane + p]),
                };
                let (x0, y0) =
                    (x + (p % strip.side) as i32 * px as i32, y + (p / strip.side) as i32 * px as i32);
                grid.draw(&Rectangle::new([(x0, y0), (x0 + px as i32, y0 + px as i32)], fill.filled()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    use cfm_study::figures::fig3::{
        COLUMNS, FRACTION_MEMORIZED, IMAGE, MEAN_FEATURE_DISTANCE, MEAN_PIXEL_DISTANCE, PIXEL_DISTANCE,
    };
    const TAUS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
    /// Highlighted noises of the digits.
    const NOISES: usize = 3;
    /// The colour of every pixel of the RGB dataset.
    const RGB: [f64; 3] = [0.5, -0.5, 0.0];

    /// Digits: 3 highlighted noises of 8x8 grey images at 5 taus; "tiny-rgb": one noise of 2x2
    /// RGB images at 3 taus. Rows for which `skip(dataset, tau, sample, statistic)` holds are
    /// left out; the digits images have `pixels` values.
    fn table(pixels: usize, skip: impl Fn(&str, f64, i64, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |name: &str, tau: f64, s: i64, k: usize, stat: &str, v: f64| {
            if !skip(name, tau, s, stat) {
                b.push(row![name, tau, s, k, stat, v]);
            }
        };
        for (name, taus, noises) in [("digits", &TAUS[..], NOISES), ("tiny-rgb", &TAUS[..3], 1)] {
            for &tau in taus {
                push(name, tau, -1, 0, MEAN_PIXEL_DISTANCE, 3.0 - 2.0 * tau);
                push(name, tau, -1, 0, MEAN_FEATURE_DISTANCE, 10.0 - 9.0 * tau);
                push(name, tau, -1, 0, FRACTION_MEMORIZED, tau);
                for s in 0..noises as i64 {
                    push(name, tau, s, 0, PIXEL_DISTANCE, 3.0 - tau * s as f64);
                    if name == "digits" {
                        for k in 0..pixels {
                            push(name, tau, s, k, IMAGE, -1.0 + k as f64 / 40.0);
                        }
                    } else {
                        for (c, v) in RGB.into_iter().enumerate() {
                            for k in 0..4 {
                                push(name, tau, s, 4 * c + k, IMAGE, v);
                            }
                        }
                    }
                }
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn draws_distance_lines_and_an_image_per_noise_and_tau() {
        let df = table(64, |_, _, _, _| false);
        let svg = render(&df, TITLE, CAPTION).unwrap();
        assert_eq!(svg, render(&df, TITLE, CAPTION).unwrap(), "deterministic");
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // Per dataset: three means and one line per highlighted noise.
        assert_eq!(testing::data_lines(&el), (3 + NOISES) + (3 + 1));
        let thin = |k: usize| {
            let c = testing::hex(colour(k));
            el.iter()
                .filter(|e| e.tag == "polyline" && e.points() >= 3 && e.attr("stroke") == Some(c.as_str()))
                .count()
        };
        assert_eq!((thin(0), thin(1), thin(2)), (2, 1, 1));
        // 3 noises x 5 taus x 64 grey pixels (never white here), and 3 taus x 4 RGB pixels.
        let grey = el
            .iter()
            .filter(|e| e.tag == "rect")
            .filter_map(|e| e.attr("fill"))
            .filter(|f| f.len() == 7 && f[1..3] == f[3..5] && f[3..5] == f[5..7] && *f != "#FFFFFF")
            .count();
        assert_eq!(grey, NOISES * TAUS.len() * 64);
        assert_eq!(testing::filled(&el, "rect", style::rgb(RGB[0], RGB[1], RGB[2])), 3 * 4);
        // Pixels in index order, row by row: the last one is the lightest of each image.
        assert_eq!(testing::filled(&el, "rect", style::grey(-1.0 + 63.0 / 40.0)), NOISES * TAUS.len());
        for label in [
            "digits",
            "tiny-rgb",
            "mean over all noises",
            "noise 0",
            "noise 2",
            "tau =",
            "0.25",
            "0.75",
            "distance to training set, pixels",
            "fraction of copies",
            "tau",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
    }

    #[test]
    fn crowded_tau_labels_are_thinned() {
        let many: Vec<f64> = (0..=40).map(|k| k as f64 / 40.0).collect();
        let (pitch, ..) = strip_layout(many.len(), 8);
        assert!(pitch < 40, "{pitch}");
        let mut b = TableBuilder::new(&COLUMNS);
        for &tau in &many {
            for stat in [MEAN_PIXEL_DISTANCE, MEAN_FEATURE_DISTANCE, FRACTION_MEMORIZED] {
                b.push(row!["digits", tau, -1i64, 0usize, stat, 0.5]);
            }
            for k in 0..64usize {
                b.push(row!["digits", tau, 0i64, k, IMAGE, 0.0]);
            }
        }
        let el = testing::parse(&render(&b.finish().unwrap(), TITLE, CAPTION).unwrap());
        assert!(testing::has_label(&el, "0.05") && !testing::has_label(&el, "0.025"));
        assert_eq!(testing::filled(&el, "rect", style::grey(0.0)), many.len() * 64);
    }

    #[test]
    fn missing_rows_and_odd_images_are_named() {
        let skip = |name: &str, tau: f64, s: i64, stat: &str| {
            name == "digits" && tau == 0.5 && s == 1 && stat == IMAGE
        };
        let err = render(&table(64, skip), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'digits': noise 1 has no 'image' rows at tau = 0.5"), "{err}");
        let skip =
            |name: &str, _: f64, _: i64, stat: &str| name == "tiny-rgb" && stat == MEAN_FEATURE_DISTANCE;
        let err = render(&table(64, skip), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("dataset 'tiny-rgb' has no 'mean_feature_distance' rows"), "{err}");
        let err = render(&table(5, |_, _, _, _| false), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("images of 5 values are neither square grey nor square RGB"), "{err}");
    }

    #[test]
    fn missing_column_is_named() {
        let df = table(64, |_, _, _, _| false).drop(COLUMNS[1]).unwrap();
        let err = render(&df, TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("fig3") && err.contains("'tau'"), "{err}");
    }
}
