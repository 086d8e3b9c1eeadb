//! # cfm-plot
//!
//! One SVG renderer per figure of the study: a figure's results table (the tidy polars
//! DataFrame that `cfm-study` writes to `figures/data/<id>.csv`) in, SVG text out. A renderer
//! reads the table only through its figure's typed view (`cfm_study::figures::<id>::View`), and
//! only presents: it bins, chooses ranges, colours and layout, and never recomputes a result.
//!
//! Every figure shares one frame (module `canvas`): the title on top, the panels, and the caption
//! (which names what stands in for the paper's data) wrapped below; sizes, fonts and palettes
//! live in module `style`. Output is deterministic: the same table gives byte-identical SVG.
//!
//! Adding a figure: write `figures/<id>.rs` with `pub fn render(&DataFrame, title, caption)`
//! (read the table with the figure's `View::read`, which names missing columns and rows; draw
//! the view with `canvas`), add it to `RENDERERS` and to `SOURCES` of the view test, and test it
//! on a small synthetic table of the figure's schema.

mod canvas;
mod error;
mod figures;
mod style;

#[cfg(test)]
mod testing;

use cfm_study::figures as study;
pub use error::{Error, Result};
use polars::prelude::DataFrame;

/// A renderer: results table, title and caption in, SVG text out.
type Renderer = fn(&DataFrame, &str, &str) -> Result<String>;

/// Every renderer, by figure id.
const RENDERERS: [(&str, Renderer); 11] = [
    (study::fig1a::ID, figures::fig1a::render),
    (study::fig1a_mean::ID, figures::fig1a_mean::render),
    (study::fig1c::ID, figures::fig1c::render),
    (study::fig2::ID, figures::fig2::render),
    (study::fig3::ID, figures::fig3::render),
    (study::fig4::ID, figures::fig4::render),
    (study::memorize::ID, figures::memorize::render),
    (study::prop2::ID, figures::prop2::render),
    (study::collapse::ID, figures::collapse::render),
    (study::table1::ID, figures::table1::render),
    (study::efm_cost::ID, figures::efm_cost::render),
];

/// The ids of the figures this crate can render.
pub fn figure_ids() -> impl Iterator<Item = &'static str> {
    RENDERERS.iter().map(|(id, _)| *id)
}

/// Renders the results table of figure `figure_id` to SVG text, with `title` on top and
/// `caption` wrapped below the panels.
///
/// Errors name the unknown figure id, or the columns or rows the table lacks.
pub fn render(figure_id: &str, table: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let (_, renderer) = RENDERERS.iter().find(|(id, _)| *id == figure_id).ok_or_else(|| {
        Error::UnknownFigure { id: figure_id.to_string(), known: figure_ids().collect::<Vec<_>>().join(", ") }
    })?;
    renderer(table, title, caption)
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::{TableBuilder, read_csv, write_csv};

    use super::*;
    use crate::testing::{CAPTION, TITLE};

    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
        for (name, d) in [("two-moons", 2usize), ("gmm-d128", 128)] {
            for k in 0..10 {
                let t = k as f64 * 0.11;
                b.push(row![name, d, 500usize, t, "mean_cosine", 1.0 - (1.0 - t) / d as f64]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn same_table_gives_the_same_bytes_also_after_a_csv_round_trip() {
        let df = table();
        let first = render("fig1a_mean", &df, TITLE, CAPTION).unwrap();
        assert_eq!(first, render("fig1a_mean", &df, TITLE, CAPTION).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fig1a_mean.csv");
        write_csv(&path, &df).unwrap();
        assert_eq!(first, render("fig1a_mean", &read_csv(&path).unwrap(), TITLE, CAPTION).unwrap());
    }

    #[test]
    fn unknown_figure_is_an_error_listing_the_known_ones() {
        let err = render("fig9", &table(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(
            err.contains("'fig9'")
                && err.contains(
                    "fig1a, fig1a_mean, fig1c, fig2, fig3, fig4, memorize, prop2, collapse, table1, efm_cost"
                ),
            "{err}"
        );
        assert_eq!(figure_ids().count(), RENDERERS.len());
    }

    #[test]
    fn every_figure_of_the_study_has_a_renderer() {
        let ids: Vec<&str> = cfm_study::figures::all().iter().map(|f| f.id()).collect();
        let missing: Vec<&&str> = ids.iter().filter(|id| !figure_ids().any(|r| r == **id)).collect();
        assert!(missing.is_empty(), "no renderer for {missing:?}");
        assert_eq!(figure_ids().count(), ids.len(), "a renderer for a figure the study does not have");
    }

    /// Each renderer's source, by figure id.
    const SOURCES: [(&str, &str); 11] = [
        (study::fig1a::ID, include_str!("figures/fig1a.rs")),
        (study::fig1a_mean::ID, include_str!("figures/fig1a_mean.rs")),
        (study::fig1c::ID, include_str!("figures/fig1c.rs")),
        (study::fig2::ID, include_str!("figures/fig2.rs")),
        (study::fig3::ID, include_str!("figures/fig3.rs")),
        (study::fig4::ID, include_str!("figures/fig4.rs")),
        (study::memorize::ID, include_str!("figures/memorize.rs")),
        (study::prop2::ID, include_str!("figures/prop2.rs")),
        (study::collapse::ID, include_str!("figures/collapse.rs")),
        (study::table1::ID, include_str!("figures/table1.rs")),
        (study::efm_cost::ID, include_str!("figures/efm_cost.rs")),
    ];

    /// A renderer reads its figure's view, never the table: its code (its tests aside) builds
    /// the view with the figure's `View::read`, spells none of the table's column names (of
    /// more than one letter), reaches
    /// no column accessor and computes no statistic of the study's.
    #[test]
    fn a_renderer_reads_the_view_never_the_table() {
        assert_eq!(SOURCES.len(), RENDERERS.len());
        let mut faults = Vec::new();
        for (id, source) in SOURCES {
            let code = source.split("#[cfg(test)]").next().expect("split yields a first part");
            let figure = cfm_study::figures::get(id).unwrap();
            if !code.contains(&format!("{id}::View::read(")) {
                faults.push(format!("{id}: does not read {id}::View"));
            }
            // One-letter columns (t, n, d) are also the symbols of axis labels.
            for column in figure.columns().iter().filter(|c| c.len() > 1) {
                if code.contains(&format!("\"{column}\"")) {
                    faults.push(format!("{id}: names the column '{column}'"));
                }
            }
            for access in ["Columns", "table::", "f64s(", "strs(", "stats::"] {
                if code.contains(access) {
                    faults.push(format!("{id}: reaches the table or the statistics through `{access}`"));
                }
            }
        }
        assert!(faults.is_empty(), "{}", faults.join("\n"));
    }

    #[test]
    fn text_columns_where_numbers_belong_are_an_error() {
        let mut b = TableBuilder::new(&["dataset", "d", "n", "t", "statistic", "value"]);
        b.push(row!["two-moons", "two", 500usize, 0.5, "mean_cosine", 0.5]);
        let err = render("fig1a_mean", &b.finish().unwrap(), TITLE, CAPTION).unwrap_err().to_string();
        assert!(err.contains("column 'd' holds str, numbers expected"), "{err}");
    }
}
