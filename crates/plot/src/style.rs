//! The look shared by every figure: sizes, fonts, colours and number formats.

use plotters::style::{FontDesc, FontFamily, FontStyle, RGBColor};

/// Width of every figure, in pixels.
pub const WIDTH: u32 = 1200;
/// Outer margin of the figure, in pixels.
pub const MARGIN: u32 = 24;

/// Font size (SVG pixels) of the figure title.
pub const TITLE_PX: f64 = 22.0;
/// Font size of panel titles and row headings.
pub const PANEL_PX: f64 = 16.0;
/// Font size of axis descriptions.
pub const AXIS_PX: f64 = 14.5;
/// Font size of tick labels, legends and annotations.
pub const TICK_PX: f64 = 12.5;
/// Font size of the caption.
pub const CAPTION_PX: f64 = 14.0;

/// Near-black used for text and axes.
pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Light grey of background data (training points) and grid lines.
pub const LIGHT: RGBColor = RGBColor(0xBB, 0xBB, 0xBB);
/// Very light grey of grid lines.
pub const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
/// Opacity of the light band that shows the spread around a line.
pub const BAND: f64 = 0.18;

/// The size to ask plotters for so that the SVG says `font-size="px"`.
///
/// The SVG backend of plotters writes `font-size` as the requested size divided by 1.24 (its
/// pixel-to-point factor): the request is `px * 1.24`, nudged by a unit in the last place where
/// needed so that the division gives back exactly `px`.
fn requested(px: f64) -> f64 {
    let mut size = px * 1.24;
    for _ in 0..4 {
        match (size / 1.24).total_cmp(&px) {
            std::cmp::Ordering::Less => size = size.next_up(),
            std::cmp::Ordering::Greater => size = size.next_down(),
            std::cmp::Ordering::Equal => break,
        }
    }
    size
}

/// A sans-serif font whose SVG `font-size` is `px`.
pub fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, requested(px), FontStyle::Normal)
}

/// [`font`] in bold.
pub fn bold(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, requested(px), FontStyle::Bold)
}

/// Height of one line of text of size `px`, in pixels.
pub fn line_height(px: f64) -> u32 {
    (px * 1.4).ceil() as u32
}

/// Average width of a character of sans-serif text, in units of the font size (generous, so
/// that wrapped text stays inside the figure whatever font the viewer picks).
pub const CHAR_WIDTH: f64 = 0.55;

/// The categorical palette (Okabe-Ito, safe for colour-blind readers), yellow last.
const CATEGORICAL: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xF0, 0xE4, 0x42),
];

/// The `i`-th categorical colour (cycling).
pub fn categorical(i: usize) -> RGBColor {
    CATEGORICAL[i % CATEGORICAL.len()]
}

/// Anchors of the viridis map, dark purple to light green (its yellow end is left out: it is
/// unreadable on white).
const SEQUENTIAL: [(u8, u8, u8); 5] =
    [(0x44, 0x01, 0x54), (0x3B, 0x52, 0x8B), (0x21, 0x90, 0x8C), (0x3E, 0xB8, 0x6F), (0x9A, 0xD2, 0x3A)];

/// The colour of position `i` among `count` ordered values (low = dark, high = light).
pub fn sequential(i: usize, count: usize) -> RGBColor {
    ramp(if count <= 1 { 0.0 } else { i as f64 / (count - 1) as f64 })
}

/// The colour of `f` in `[0, 1]` on the sequential scale (0 dark, 1 light; clamped).
pub fn ramp(f: f64) -> RGBColor {
    let x = f.clamp(0.0, 1.0) * (SEQUENTIAL.len() - 1) as f64;
    let k = (x.floor() as usize).min(SEQUENTIAL.len() - 2);
    let w = x - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + w * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (SEQUENTIAL[k], SEQUENTIAL[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The intensity 0 to 255 of a pixel value in `[-1, 1]` (clamped).
fn intensity(v: f64) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) / 2.0) * 255.0).round() as u8
}

/// The grey of a pixel value in `[-1, 1]` (-1 black, 1 white; clamped).
pub fn grey(v: f64) -> RGBColor {
    let g = intensity(v);
    RGBColor(g, g, g)
}

/// The colour of an RGB pixel with channel values in `[-1, 1]` (clamped).
pub fn rgb(r: f64, g: f64, b: f64) -> RGBColor {
    RGBColor(intensity(r), intensity(g), intensity(b))
}

/// A number for tick labels and legends: at most `sig` significant digits, no trailing zeros,
/// scientific notation for very small or large magnitudes.
pub fn num(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let r: f64 = format!("{:.*e}", sig.max(1) - 1, v).parse().expect("a formatted float parses");
    if r.abs() >= 1e5 || r.abs() < 1e-3 { format!("{r:e}") } else { format!("{r}") }
}

/// Tick label of a number (four significant digits).
pub fn tick(v: &f64) -> String {
    num(*v, 4)
}

/// The range from the power of ten at or below `lo` to the one at or above `hi` (both positive),
/// widened by 0.1% so that rounding cannot drop its end labels: a log axis over it shows at
/// least two labelled decades.
pub fn decades(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let (a, b) = (lo.log10().floor(), hi.log10().ceil());
    10f64.powf(a) * 0.999..10f64.powf(if b > a { b } else { a + 1.0 }) * 1.001
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_font_sizes_are_the_sizes_asked_for() {
        for px in [TITLE_PX, PANEL_PX, AXIS_PX, TICK_PX, CAPTION_PX] {
            assert_eq!(format!("{}", requested(px) / 1.24), format!("{px}"));
        }
    }

    #[test]
    fn numbers_are_short_and_exact_enough() {
        assert_eq!(num(0.30000000000000004, 3), "0.3");
        assert_eq!(num(1024.0, 4), "1024");
        assert_eq!(num(98765.0, 2), "99000");
        assert_eq!(num(1.5625e-4, 2), "1.6e-4");
        assert_eq!(num(2e6, 3), "2e6");
        assert_eq!(num(-0.25, 3), "-0.25");
        assert_eq!(num(0.0, 3), "0");
    }

    #[test]
    fn decades_cover_the_range_with_whole_powers_of_ten() {
        let r = decades(1.6e-4, 0.5);
        assert!(r.start < 1e-4 && r.start > 0.99e-4 && r.end > 1.0 && r.end < 1.01);
        let r = decades(0.2, 0.2);
        assert!(r.start < 0.1 && r.end > 1.0);
    }

    #[test]
    fn colours() {
        assert_eq!(sequential(0, 5), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(sequential(4, 5), RGBColor(0x9A, 0xD2, 0x3A));
        assert_eq!(sequential(0, 1), sequential(0, 3));
        assert_eq!(
            (grey(-1.0), grey(1.0), grey(7.0)),
            (RGBColor(0, 0, 0), RGBColor(255, 255, 255), RGBColor(255, 255, 255))
        );
        assert_ne!(categorical(0), categorical(1));
        assert_eq!(
            (ramp(-1.0), ramp(0.5), ramp(2.0)),
            (sequential(0, 5), sequential(2, 5), sequential(4, 5))
        );
        assert_eq!(rgb(-1.0, 0.0, 1.0), RGBColor(0, 128, 255));
    }
}
