//! The frame every figure shares: the SVG canvas with the title above and the wrapped caption
//! below, row headings, panels (a chart with its title, axes and grid) and legends.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Result;
use crate::style::{self, AXIS_PX, CAPTION_PX, GRID, INK, MARGIN, PANEL_PX, TICK_PX, TITLE_PX, WIDTH};

/// A region of the SVG canvas, in pixels.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A panel: a region with data coordinates.
pub type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;

/// Greedy word wrap of `text` into lines at most `width` pixels wide at font size `px`.
pub fn wrap(text: &str, width: u32, px: f64) -> Vec<String> {
    let max_chars = (width as f64 / (px * style::CHAR_WIDTH)).floor().max(8.0) as usize;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max_chars {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Renders a whole figure to SVG text: `title` centred on top, then a body of `body_height`
/// pixels drawn by `draw`, then `caption` wrapped to the figure width.
pub fn figure(
    title: &str,
    caption: &str,
    body_height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<String> {
    let text_width = WIDTH - 2 * MARGIN;
    let title_lines = wrap(title, text_width, TITLE_PX);
    let caption_lines = wrap(caption, text_width, CAPTION_PX);
    let title_h = MARGIN + title_lines.len() as u32 * style::line_height(TITLE_PX) + 8;
    let caption_h = 12 + caption_lines.len() as u32 * style::line_height(CAPTION_PX) + MARGIN;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, title_h + body_height + caption_h)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(title_h);
        let (body, bottom) = rest.split_vertically(body_height);
        let centre = Pos::new(HPos::Center, VPos::Top);
        let title_style = style::bold(TITLE_PX).color(&INK).pos(centre);
        for (i, line) in title_lines.iter().enumerate() {
            let y = MARGIN + i as u32 * style::line_height(TITLE_PX);
            top.draw_text(line, &title_style, ((WIDTH / 2) as i32, y as i32))?;
        }
        draw(&body)?;
        let caption_style = style::font(CAPTION_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Top));
        for (i, line) in caption_lines.iter().enumerate() {
            let y = 12 + i as u32 * style::line_height(CAPTION_PX);
            bottom.draw_text(line, &caption_style, (MARGIN as i32, y as i32))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The height in pixels that [`heading`] takes.
pub fn heading_height() -> u32 {
    style::line_height(PANEL_PX) + 6
}

/// Draws `text` as a bold heading at the top left of `area`; returns the area below it.
pub fn heading<'a>(area: &Area<'a>, text: &str) -> Result<Area<'a>> {
    let (top, rest) = area.split_vertically(heading_height());
    top.draw_text(text, &style::bold(PANEL_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Top)), (12, 4))?;
    Ok(rest)
}

/// Draws lines of plain text (size [`TICK_PX`]) from the top left of `area`, wrapping each to its
/// width.
pub fn note(area: &Area<'_>, lines: &[String]) -> Result<()> {
    let style = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Top));
    let width = area.dim_in_pixel().0.saturating_sub(16);
    let mut y = 4;
    for line in lines.iter().flat_map(|l| wrap(l, width, TICK_PX)) {
        area.draw_text(&line, &style, (8, y))?;
        y += style::line_height(TICK_PX) as i32;
    }
    Ok(())
}

/// What a panel shows around its data: title, axis descriptions (with units where there are
/// units; empty for none) and the number of tick labels per axis.
pub struct Axes<'t> {
    /// Panel title, above the panel.
    pub title: &'t str,
    /// Description of the horizontal axis.
    pub x: &'t str,
    /// Description of the vertical axis.
    pub y: &'t str,
    /// Largest number of tick labels on the horizontal axis.
    pub x_ticks: usize,
    /// Largest number of tick labels on the vertical axis.
    pub y_ticks: usize,
}

impl<'t> Axes<'t> {
    /// A panel titled `title` with axis descriptions `x` and `y` and default tick counts.
    pub fn new(title: &'t str, x: &'t str, y: &'t str) -> Self {
        Self { title, x, y, x_ticks: 6, y_ticks: 6 }
    }
}

/// A panel in `area` over the coordinate ranges `x` and `y` (linear ranges or `.log_scale()`),
/// with its title, grid, axes, tick labels and axis descriptions drawn.
pub fn panel<'a, 'b, X, Y>(
    area: &'a Area<'b>,
    axes: &Axes<'_>,
    x: X,
    y: Y,
) -> Result<Chart<'a, 'b, X::CoordDescType, Y::CoordDescType>>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(area);
    if !axes.title.is_empty() {
        builder.caption(axes.title, style::font(PANEL_PX).color(&INK));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(if axes.x.is_empty() { 26 } else { 50 })
        .y_label_area_size(if axes.y.is_empty() { 52 } else { 74 })
        .build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(INK)
        .label_style(style::font(TICK_PX).color(&INK))
        .axis_desc_style(style::font(AXIS_PX).color(&INK))
        .x_labels(axes.x_ticks)
        .y_labels(axes.y_ticks)
        .x_label_formatter(&style::tick)
        .y_label_formatter(&style::tick);
    if !axes.x.is_empty() {
        mesh.x_desc(axes.x);
    }
    if !axes.y.is_empty() {
        mesh.y_desc(axes.y);
    }
    mesh.draw()?;
    Ok(chart)
}

/// The mark drawn next to a legend label.
pub enum Mark {
    /// A solid line of this colour.
    Line(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A dotted line.
    Dotted(RGBColor),
    /// A filled dot.
    Dot(RGBColor),
    /// A hollow dot.
    Ring(RGBColor),
    /// A solid line on a light band of the same colour (a mean and its spread).
    Band(RGBColor),
    /// No mark: the label is a note.
    None,
}

/// One legend entry.
pub struct Entry {
    /// The mark, left of the label.
    pub mark: Mark,
    /// The label, wrapped to the legend's width.
    pub label: String,
}

impl Entry {
    /// An entry with `mark` and `label`.
    pub fn new(mark: Mark, label: impl Into<String>) -> Self {
        Self { mark, label: label.into() }
    }
}

/// Radius of data markers, in pixels.
pub const DOT: u32 = 4;

/// Dash length and gap, in pixels, of dashed lines.
pub const DASHED: (u32, u32) = (6, 4);
/// Dot length and gap, in pixels, of dotted lines.
pub const DOTTED: (u32, u32) = (2, 4);

/// The width of a legend's labels in a legend area `width` pixels wide.
fn label_width(width: u32) -> u32 {
    width.saturating_sub(60)
}

/// The height in pixels that [`legend`] takes for `entries` in an area `width` pixels wide.
pub fn legend_height(entries: &[Entry], width: u32) -> u32 {
    let step = style::line_height(TICK_PX) + 2;
    let lines: usize = entries.iter().map(|e| wrap(&e.label, label_width(width), TICK_PX).len()).sum();
    10 + lines as u32 * step + entries.len() as u32 * 2 + 6
}

/// Draws `entries` top-down from the top left of `area` (labels wrapped to its width).
pub fn legend(area: &Area<'_>, entries: &[Entry]) -> Result<()> {
    let style = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    let width = label_width(area.dim_in_pixel().0);
    let step = style::line_height(TICK_PX) as i32 + 2;
    let mut y = 10 + step / 2;
    for entry in entries {
        let (x0, x1, xm) = (8, 36, 22);
        match entry.mark {
            Mark::Line(c) => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], c.stroke_width(2)))?,
            Mark::Dashed(c) => area.draw(&DashedPathElement::new(
                vec![(x0, y), (x1, y)],
                DASHED.0,
                DASHED.1,
                c.stroke_width(2),
            ))?,
            Mark::Dotted(c) => area.draw(&DashedPathElement::new(
                vec![(x0, y), (x1, y)],
                DOTTED.0,
                DOTTED.1,
                c.stroke_width(2),
            ))?,
            Mark::Dot(c) => area.draw(&Circle::new((xm, y), DOT, c.filled()))?,
            Mark::Ring(c) => area.draw(&Circle::new((xm, y), DOT, c.stroke_width(2)))?,
            Mark::Band(c) => {
                area.draw(&Rectangle::new([(x0, y - 6), (x1, y + 6)], c.mix(style::BAND).filled()))?;
                area.draw(&PathElement::new(vec![(x0, y), (x1, y)], c.stroke_width(2)))?;
            }
            Mark::None => {}
        }
        let x_text = if matches!(entry.mark, Mark::None) { x0 } else { x1 + 8 };
        for line in wrap(&entry.label, width, TICK_PX) {
            area.draw_text(&line, &style, (x_text, y))?;
            y += step;
        }
        y += 2;
    }
    Ok(())
}

/// Splits `area` into a left part for panels and a right column of `width` pixels for a legend.
pub fn with_legend<'a>(area: &Area<'a>, width: u32) -> (Area<'a>, Area<'a>) {
    let w = area.dim_in_pixel().0;
    area.split_horizontally(w.saturating_sub(width))
}
