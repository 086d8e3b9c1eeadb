//! What the renderers' tests share: a minimal reader of the SVG text (elements, attributes,
//! text content) and the assertions every figure must pass.

use plotters::style::RGBColor;

/// One element of the SVG: its tag, attributes and (for `<text>`) its content.
pub struct Element {
    pub tag: String,
    attrs: Vec<(String, String)>,
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The number of points of a `<polyline>`.
    pub fn points(&self) -> usize {
        self.attr("points").map_or(0, |p| p.split_whitespace().count())
    }
}

/// Parses `svg`, panicking unless it is well-formed: it starts with `<svg`, ends with `</svg>`,
/// every tag is closed in order, and attribute values and text hold no raw `<`.
pub fn parse(svg: &str) -> Vec<Element> {
    assert!(svg.starts_with("<svg"), "SVG does not start with <svg: {:?}", &svg[..svg.len().min(40)]);
    assert!(svg.trim_end().ends_with("</svg>"), "SVG does not end with </svg>");
    let mut out: Vec<Element> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if let Some(top) = out.last_mut().filter(|_| !stack.is_empty()) {
            top.text.push_str(text.trim());
        }
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "unbalanced </{name}>");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().expect("tag name").to_string();
        let mut attrs = Vec::new();
        let mut a = &tag[name.len()..];
        while let Some(eq) = a.find("=\"") {
            let key = a[..eq].trim().to_string();
            let end = a[eq + 2..].find('"').expect("unterminated attribute") + eq + 2;
            attrs.push((key, a[eq + 2..end].to_string()));
            a = &a[end + 1..];
        }
        if !self_closing {
            stack.push(name.clone());
        }
        out.push(Element { tag: name, attrs, text: String::new() });
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    out
}

/// `text` escaped as the SVG backend writes it.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `#RRGGBB` of a colour, as the SVG backend writes it.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// All text content, one element per line-break-free piece, joined by spaces.
pub fn all_text(elements: &[Element]) -> String {
    elements.iter().filter(|e| e.tag == "text").map(|e| e.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// Whether some `<text>` element holds exactly `label` (escaped).
pub fn has_label(elements: &[Element], label: &str) -> bool {
    let label = escape(label);
    elements.iter().any(|e| e.tag == "text" && e.text == label)
}

/// Asserts what every figure must show: the title and the caption (wrapped over several lines,
/// escaped), text no smaller than 12 px, and a width of 1000 to 1400 px.
pub fn assert_frame(elements: &[Element], title: &str, caption: &str) {
    let svg = &elements[0];
    let width: f64 = svg.attr("width").expect("width").parse().expect("numeric width");
    assert!((1000.0..=1400.0).contains(&width), "width {width}");
    let text = all_text(elements);
    assert!(text.contains(&escape(title)), "title missing from {text}");
    assert!(text.contains(&escape(caption)), "caption missing from {text}");
    for e in elements.iter().filter(|e| e.tag == "text") {
        let size: f64 = e.attr("font-size").expect("font-size").parse().expect("numeric font-size");
        assert!(size >= 12.0, "font-size {size} of {:?}", e.text);
    }
}

/// The number of `<polyline>` elements with at least three points: the data lines (axes, ticks,
/// grid lines and legend marks have two).
pub fn data_lines(elements: &[Element]) -> usize {
    elements.iter().filter(|e| e.tag == "polyline" && e.points() >= 3).count()
}

/// The number of `tag` elements filled with `colour`.
pub fn filled(elements: &[Element], tag: &str, colour: RGBColor) -> usize {
    let c = hex(colour);
    elements.iter().filter(|e| e.tag == tag && e.attr("fill") == Some(c.as_str())).count()
}

/// The number of hollow circles stroked with `colour`.
pub fn rings(elements: &[Element], colour: RGBColor) -> usize {
    let c = hex(colour);
    elements
        .iter()
        .filter(|e| {
            e.tag == "circle" && e.attr("fill") == Some("none") && e.attr("stroke") == Some(c.as_str())
        })
        .count()
}

/// A title and a caption with characters that need escaping.
pub const TITLE: &str = "A <test> title & more";
pub const CAPTION: &str = "The 8x8 digits stand in for CIFAR-10 (d = 3072); \"u*\" is the closed form of Prop. 1, \
     evaluated at t < 1 only, and this sentence is long enough to be wrapped over more than one line of the \
     caption, which the test checks by joining the lines again.";
