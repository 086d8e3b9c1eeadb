//! Tables 1-2 of the paper, drawn as tables from [`table1::View`]. First ours: per dataset with
//! summary rows, a row per method (the view's order, the paper's: CFM, then EFM-M by M) and a
//! column per epoch, each cell the mean ± sd over the training seeds of the Fréchet distance to
//! the test images in the classifier's features (the mean alone where there is one seed). Then a
//! note that the paper's numbers are not comparable with ours in absolute value, and the paper's
//! published tables (Table 1, MNIST; Table 2, Fashion-MNIST) in the same layout. The best value
//! of a column ([`table1::Scores::best`]) is bold on a light green ground: in the paper's tables
//! the lowest, in ours the lowest where it is below every other by more than the larger of their
//! standard deviations over seeds (never with one seed). An epoch a method was not evaluated at
//! shows "n/a".

use cfm_study::figures::table1::{self, Scores};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::Result;
use crate::canvas::{self, Area};
use crate::style::{self, INK, MARGIN, TICK_PX, WIDTH};

/// What the paper's tables hold, and why they cannot be compared with ours in absolute value.
const NOT_COMPARABLE: &str = "Below, the paper's published numbers: FID in the 128-d features of \
     the paper's own classifier (99% accurate on MNIST, 90% on Fashion-MNIST), 28x28 images. Their \
     absolute values are NOT comparable with ours above (other data, other feature network): compare \
     only the order of the methods within a column.";
/// Font size of the cells, the column heads and the note on the paper's numbers.
const CELL_PX: f64 = 14.0;
/// Height of a table row, in pixels.
const ROW_H: u32 = 30;
/// Width of the method column, in pixels.
const LABEL_W: u32 = 110;
/// Largest width of an epoch column, in pixels.
const MAX_COLUMN_W: u32 = 160;
/// The ground of the best value of a column.
const BEST: RGBColor = RGBColor(0xDD, 0xF0, 0xD8);
/// The ground and the border of the note on the paper's numbers.
const WARNING: (RGBColor, RGBColor) = (RGBColor(0xFF, 0xF4, 0xD6), RGBColor(0xE6, 0x9F, 0x00));

/// One table as drawn: heading, notes below the heading, and the view's grid of values.
struct Grid<'a> {
    heading: String,
    notes: Vec<String>,
    scores: &'a Scores,
}

/// The heading of a published table: the paper's table it is.
fn paper_heading(p: &table1::Published) -> String {
    match p.table() {
        Some(table) => format!("Paper, {table}"),
        None => format!("Paper: {}", p.data.name()),
    }
}

/// Our table of a dataset, with its notes: what the cells hold, what bold means, and the
/// classifier's accuracy.
fn ours(o: &table1::Ours) -> Grid<'_> {
    let spread = if o.seeds == 1 {
        "one training seed".to_string()
    } else {
        format!("mean ± sd over {} training seeds", o.seeds)
    };
    let mut notes = vec![
        format!(
            "Fréchet distance to the test images in the features of a classifier trained here; {spread}."
        ),
        "Bold on green: the lowest value of a column, where it is below every other by more than the \
         larger of their standard deviations over seeds."
            .to_string(),
    ];
    if let Some(a) = o.accuracy {
        notes.push(format!("Classifier test accuracy {:.1}%.", 100.0 * a));
    }
    Grid { heading: format!("Ours: {}", o.data.name()), notes, scores: &o.scores }
}

/// Renders Tables 1-2.
pub fn render(df: &DataFrame, title: &str, caption: &str) -> Result<String> {
    let view = table1::View::read(df)?;
    let ours: Vec<Grid> = view.ours.iter().map(ours).collect();
    let published: Vec<Grid> = view
        .published
        .iter()
        .map(|p| Grid { heading: paper_heading(p), notes: Vec::new(), scores: &p.scores })
        .collect();
    let warning = canvas::wrap(NOT_COMPARABLE, WIDTH - 2 * MARGIN - 24, CELL_PX);
    let warning_h = 8 + warning.len() as u32 * style::line_height(CELL_PX) + 28;
    let heights: Vec<u32> = ours.iter().chain(&published).map(grid_height).collect();
    canvas::figure(title, caption, heights.iter().sum::<u32>() + warning_h, |area| {
        let mut rest = area.clone();
        for (k, (grid, h)) in ours.iter().chain(&published).zip(&heights).enumerate() {
            if k == ours.len() {
                let (slot, below) = rest.split_vertically(warning_h);
                draw_warning(&slot, &warning)?;
                rest = below;
            }
            let (slot, below) = rest.split_vertically(*h);
            draw_grid(&slot, grid)?;
            rest = below;
        }
        Ok(())
    })
}

/// The width of the epoch columns of `grid`, in pixels.
fn column_width(grid: &Grid) -> u32 {
    ((WIDTH - 2 * MARGIN - LABEL_W) / grid.scores.epochs.len() as u32).min(MAX_COLUMN_W)
}

/// The lines of the notes of `grid`, wrapped to the figure width.
fn note_lines(grid: &Grid) -> Vec<String> {
    grid.notes.iter().flat_map(|n| canvas::wrap(n, WIDTH - 2 * MARGIN, TICK_PX)).collect()
}

/// The height of a table: heading, notes, the head row and a row per method, and a gap.
fn grid_height(grid: &Grid) -> u32 {
    let notes = note_lines(grid).len() as u32 * style::line_height(TICK_PX);
    canvas::heading_height() + notes + (1 + grid.scores.rows.len() as u32) * ROW_H + 24
}

/// The text of a cell: two decimals, as the paper's tables; "mean ± sd" from 100 on with one
/// (so that it fits a column).
fn cell_text(value: f64, sd: Option<f64>) -> String {
    match sd {
        Some(sd) if value.abs() >= 100.0 => format!("{value:.1} ± {sd:.1}"),
        Some(sd) => format!("{value:.2} ± {sd:.2}"),
        None => format!("{value:.2}"),
    }
}

/// The note on the paper's numbers, in a box with a light amber ground.
fn draw_warning(area: &Area<'_>, lines: &[String]) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let corners = [(MARGIN as i32, 8), ((w - MARGIN) as i32, h as i32 - 16)];
    area.draw(&Rectangle::new(corners, WARNING.0.filled()))?;
    area.draw(&Rectangle::new(corners, WARNING.1.stroke_width(2)))?;
    let text = style::font(CELL_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Top));
    for (j, line) in lines.iter().enumerate() {
        let y = 14 + j as u32 * style::line_height(CELL_PX);
        area.draw_text(line, &text, ((MARGIN + 12) as i32, y as i32))?;
    }
    Ok(())
}

/// A table: its heading and notes, then the head row (epochs), a rule, and a row per method,
/// the best value of each column bold on a light ground; rules above and below.
fn draw_grid(area: &Area<'_>, grid: &Grid) -> Result<()> {
    let below = canvas::heading(area, &grid.heading)?;
    let notes = note_lines(grid);
    let note_style = style::font(TICK_PX).color(&INK).pos(Pos::new(HPos::Left, VPos::Top));
    for (k, line) in notes.iter().enumerate() {
        below.draw_text(
            line,
            &note_style,
            (MARGIN as i32, (k as u32 * style::line_height(TICK_PX)) as i32),
        )?;
    }
    let top = (notes.len() as u32 * style::line_height(TICK_PX) + 4) as i32;
    let (left, width) = (MARGIN as i32, column_width(grid) as i32);
    let right = left + LABEL_W as i32 + width * grid.scores.epochs.len() as i32;
    let row_h = ROW_H as i32;
    let rule =
        |y: i32, px: u32| below.draw(&PathElement::new(vec![(left, y), (right, y)], INK.stroke_width(px)));
    let at = |h: HPos| Pos::new(h, VPos::Center);
    let (plain, bold) = (style::font(CELL_PX).color(&INK), style::bold(CELL_PX).color(&INK));
    rule(top, 2)?;
    below.draw_text("method \\ epoch", &bold.pos(at(HPos::Left)), (left + 6, top + row_h / 2))?;
    for (c, epoch) in grid.scores.epochs.iter().enumerate() {
        let x = left + LABEL_W as i32 + c as i32 * width + width / 2;
        below.draw_text(&style::num(*epoch, 4), &bold.pos(at(HPos::Center)), (x, top + row_h / 2))?;
    }
    rule(top + row_h, 1)?;
    let best: Vec<Option<usize>> = (0..grid.scores.epochs.len()).map(|c| grid.scores.best(c)).collect();
    for (r, row) in grid.scores.rows.iter().enumerate() {
        let y = top + (r as i32 + 1) * row_h;
        below.draw_text(&row.method.label(), &plain.pos(at(HPos::Left)), (left + 6, y + row_h / 2))?;
        for (c, cell) in row.cells.iter().enumerate() {
            let x = left + LABEL_W as i32 + c as i32 * width;
            let middle = (x + width / 2, y + row_h / 2);
            match cell {
                Some(score) if best[c] == Some(r) => {
                    below.draw(&Rectangle::new(
                        [(x + 2, y + 2), (x + width - 2, y + row_h - 2)],
                        BEST.filled(),
                    ))?;
                    below.draw_text(&cell_text(score.mean, score.sd), &bold.pos(at(HPos::Center)), middle)?;
                }
                Some(score) => {
                    below.draw_text(&cell_text(score.mean, score.sd), &plain.pos(at(HPos::Center)), middle)?
                }
                None => below.draw_text("n/a", &plain.pos(at(HPos::Center)), middle)?,
            }
        }
    }
    rule(top + (grid.scores.rows.len() as i32 + 1) * row_h, 2)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cfm_study::row;
    use cfm_study::table::TableBuilder;

    use cfm_study::figures::fig4::{CLASSIFIER_ACCURACY, COLUMNS, FEATURE_TEST, PIXEL_TEST};
    use cfm_study::figures::table1::{FEATURE_TEST_MEAN as MEAN, FEATURE_TEST_SD as SD, PAPER_FID as PAPER};

    use super::*;
    use crate::testing::{self, CAPTION, TITLE};

    /// Which rows a test table leaves out: `(method, epoch, metric)`.
    type Skip = fn(&str, f64, &str) -> bool;

    /// Our methods, not in the paper's order (the renderer sorts them).
    const OURS: [&str; 3] = ["EFM-1000", "CFM", "EFM-128"];
    const EPOCHS: [f64; 3] = [1.0, 2.0, 5.0];
    /// Our means per method (in the order of [`OURS`]) and epoch: the best of epoch 1 is
    /// EFM-128's, of epoch 2 CFM's, of epoch 5 EFM-1000's.
    const MEANS: [[f64; 3]; 3] = [[160.3, 90.25, 40.5], [150.7, 80.5, 41.75], [140.1, 85.75, 42.5]];
    const SPREAD: f64 = 12.34;
    /// The paper's rows: dataset, method, epochs, values; the best of each column is EFM-M's.
    const PAPER_ROWS: [(&str, &str, &[f64], &[f64]); 4] = [
        ("mnist", "paper:CFM", &[1.0, 2.0], &[378.0, 181.25]),
        ("mnist", "paper:EFM-1024", &[1.0, 2.0], &[369.72, 168.43]),
        ("fashion-mnist", "paper:CFM", &[5.0, 10.0, 50.0], &[253.56, 48.67, 25.36]),
        ("fashion-mnist", "paper:EFM-512", &[5.0, 10.0, 50.0], &[194.66, 44.19, 22.1]),
    ];

    /// Ours on the digits with `seeds` seeds, then the paper's rows. Rows for which
    /// `skip(method, epoch, metric)` holds are left out.
    fn table(seeds: usize, skip: impl Fn(&str, f64, &str) -> bool) -> DataFrame {
        table_spread(seeds, SPREAD, skip)
    }

    /// [`table`] with our standard deviations `spread`.
    fn table_spread(seeds: usize, spread: f64, skip: impl Fn(&str, f64, &str) -> bool) -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let mut push = |name: &str, method: &str, seed: i64, epoch: f64, metric: &str, v: f64| {
            if !skip(method, epoch, metric) {
                b.push(row![name, method, 1usize, seed, epoch, 12i64, metric, v]);
            }
        };
        for method in OURS {
            for seed in 0..seeds as i64 {
                push("digits", method, seed, 0.0, CLASSIFIER_ACCURACY, 0.973);
                for epoch in EPOCHS {
                    push("digits", method, seed, epoch, FEATURE_TEST, 100.0);
                    push("digits", method, seed, epoch, PIXEL_TEST, 1.0);
                }
            }
        }
        for (k, method) in OURS.into_iter().enumerate() {
            for (j, epoch) in EPOCHS.into_iter().enumerate() {
                push("digits", method, -1, epoch, MEAN, MEANS[k][j]);
                push("digits", method, -1, epoch, SD, if seeds > 1 { spread } else { 0.0 });
            }
        }
        for (name, method, epochs, fids) in PAPER_ROWS {
            for (&epoch, &fid) in epochs.iter().zip(fids) {
                push(name, method, -1, epoch, PAPER, fid);
            }
        }
        b.finish().unwrap()
    }

    /// The `<text>` elements that are cells: numbers with a decimal point (the epoch heads have
    /// none), or "mean ± sd".
    fn cells(el: &[testing::Element]) -> Vec<&testing::Element> {
        el.iter()
            .filter(|e| {
                e.tag == "text" && e.text.contains('.') && e.text.chars().all(|c| "0123456789. ±".contains(c))
            })
            .collect()
    }

    fn bold(e: &testing::Element) -> bool {
        e.attr("font-weight") == Some("bold")
    }

    #[test]
    fn draws_our_table_then_the_papers_with_the_best_of_each_column_marked() {
        let df = table(2, |_, _, _| false);
        let svg = render(&df, TITLE, CAPTION).unwrap();
        assert_eq!(svg, render(&df, TITLE, CAPTION).unwrap(), "deterministic");
        let el = testing::parse(&svg);
        testing::assert_frame(&el, TITLE, CAPTION);
        // Ours: 3 methods x 3 epochs of mean ± sd; the paper's: 2 x 2 and 2 x 3 values.
        let cells = cells(&el);
        let texts: Vec<&str> = cells.iter().map(|e| e.text.as_str()).collect();
        let expected = [
            // CFM, EFM-128, EFM-1000 (the paper's order), one decimal from 100 on.
            "150.7 ± 12.3",
            "80.50 ± 12.34",
            "41.75 ± 12.34",
            "140.1 ± 12.3",
            "85.75 ± 12.34",
            "42.50 ± 12.34",
            "160.3 ± 12.3",
            "90.25 ± 12.34",
            "40.50 ± 12.34",
            // MNIST, then Fashion-MNIST, with the paper's two decimals.
            "378.00",
            "181.25",
            "369.72",
            "168.43",
            "253.56",
            "48.67",
            "25.36",
            "194.66",
            "44.19",
            "22.10",
        ];
        assert_eq!(texts, expected);
        // The best of each column, bold on the light green ground: the paper's always; ours only
        // where the spread separates it, and a spread of 12.34 separates none of ours.
        let best: Vec<&str> = cells.iter().filter(|e| bold(e)).map(|e| e.text.as_str()).collect();
        assert_eq!(best, ["369.72", "168.43", "194.66", "44.19", "22.10"]);
        assert_eq!(testing::filled(&el, "rect", BEST), best.len());
        // A head row per table, the methods in the paper's order.
        assert_eq!(el.iter().filter(|e| e.tag == "text" && e.text == "method \\ epoch").count(), 3);
        let methods: Vec<&str> = el
            .iter()
            .filter(|e| {
                e.tag == "text"
                    && ["CFM", "EFM-128", "EFM-1000", "EFM-1024", "EFM-512"].contains(&e.text.as_str())
            })
            .map(|e| e.text.as_str())
            .collect();
        assert_eq!(methods, ["CFM", "EFM-128", "EFM-1000", "CFM", "EFM-1024", "CFM", "EFM-512"]);
        for label in [
            "Ours: digits",
            "Paper, Table 1: MNIST",
            "Paper, Table 2: Fashion-MNIST",
            "Classifier test accuracy 97.3%.",
            "50",
        ] {
            assert!(testing::has_label(&el, label), "no label {label}");
        }
        let text = testing::all_text(&el);
        assert!(text.contains("mean ± sd over 2 training seeds"), "{text}");
        let warning = NOT_COMPARABLE.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains(&testing::escape(&warning)), "{text}");
        assert!(!text.contains("n/a"));
        assert_eq!(testing::filled(&el, "rect", WARNING.0), 1, "the note on the paper's numbers is boxed");
    }

    #[test]
    fn ours_are_marked_only_where_the_spread_over_seeds_separates_them() {
        let marked = |spread: f64, seeds: usize| -> Vec<String> {
            let el = testing::parse(
                &render(&table_spread(seeds, spread, |_, _, _| false), TITLE, CAPTION).unwrap(),
            );
            cells(&el).iter().filter(|e| bold(e) && e.text.contains('±')).map(|e| e.text.clone()).collect()
        };
        // Gaps to the runner-up: 10.6 (epoch 1), 5.25 (epoch 2), 1.25 (epoch 5).
        assert_eq!(marked(1.0, 2), ["80.50 ± 1.00", "140.1 ± 1.0", "40.50 ± 1.00"]);
        assert_eq!(marked(6.0, 2), ["140.1 ± 6.0"]);
        assert_eq!(marked(12.34, 2), Vec::<String>::new());
        // One seed: no spread, nothing of ours is marked.
        let el = testing::parse(&render(&table_spread(1, 1.0, |_, _, _| false), TITLE, CAPTION).unwrap());
        assert_eq!(cells(&el).iter().filter(|e| bold(e)).count(), 5, "the paper's five only");
    }

    #[test]
    fn one_seed_shows_means_only_and_missing_cells_show_n_a() {
        let skip = |method: &str, epoch: f64, metric: &str| {
            method == "CFM" && epoch == 2.0 && metric != FEATURE_TEST
        };
        let el = testing::parse(&render(&table(1, skip), TITLE, CAPTION).unwrap());
        let text = testing::all_text(&el);
        assert!(!text.contains(" ± 0") && text.contains("one training seed"), "{text}");
        assert!(testing::has_label(&el, "150.70") && testing::has_label(&el, "41.75"));
        assert_eq!(el.iter().filter(|e| e.tag == "text" && e.text == "n/a").count(), 1);
    }

    #[test]
    fn missing_rows_and_columns_are_named() {
        let err = render(&table(2, |_, _, _| false).drop(COLUMNS[6]).unwrap(), TITLE, CAPTION)
            .unwrap_err()
            .to_string();
        assert!(err.contains("table1") && err.contains("'metric'"), "{err}");
        let cases: [(Skip, &str); 4] = [
            (|_, _, metric| metric == MEAN, "no 'feature_test_mean' rows"),
            (|_, _, metric| metric == PAPER, "no 'paper_fid' rows"),
            (|_, _, metric| metric == FEATURE_TEST, "dataset 'digits' has no 'feature_test' rows"),
            (
                |method, epoch, metric| method == "EFM-128" && epoch == 2.0 && metric == SD,
                "dataset 'digits', method 'EFM-128', epoch 2: no 'feature_test_sd' row",
            ),
        ];
        for (skip, expected) in cases {
            let err = render(&table(2, skip), TITLE, CAPTION).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
