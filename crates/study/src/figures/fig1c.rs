//! Fig. 1c: fraction of pairs whose cosine `cos(u*(x_t, t), x1 - x0)` exceeds 0.9, against `t`,
//! for one image dataset at several resolutions (the paper: Imagenette at 8x8 ... 256x256).
//! Claim C3: the time at which the fraction reaches ~100% moves earlier as the dimension grows,
//! decided on the highest-dimensional real images of the run.
//!
//! The table is read once into a [`View`]: per image family ([`Family`]), its resolutions by
//! increasing dimension, each with its fraction curve ([`Resolution`]). The claim, the key
//! numbers and the renderer all read that view.

use cfm_core::datasets::ImageData;
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::fig1a::cosines;
use super::fig1a_mean::{FRAC_ABOVE, LEVEL, MEAN_COSINE};
use crate::claims::{Claim, Evidence, Measured};
use crate::data::{DataSpec, Dataset, pairs};
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{grid, mean, num, pct, settles_above};
use crate::table::{Columns, TableBuilder, unique};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/fig1c.svg`).
pub const ID: &str = "fig1c";

/// Columns of the table: per dataset family, resolution and time, the statistics of
/// [`super::fig1a_mean`].
pub const COLUMNS: [&str; 7] = ["dataset", "size", "d", "n", "t", "statistic", "value"];
/// The fraction of pairs counted as "~100%".
pub const ALL_ALIGNED: f64 = 0.99;
/// The times of the key numbers' columns.
pub const KEY_TIMES: [f64; 2] = [0.2, 0.5];

#[derive(Serialize, Deserialize)]
struct CellConfig {
    family: String,
    size: usize,
    data: DataSpec,
    pairs: usize,
    times: Vec<f64>,
}

struct Fig1cPlan {
    /// Per family, the sizes.
    families: Vec<(ImageData, Vec<usize>)>,
    pairs: usize,
    step: f64,
}

fn plan(profile: Profile) -> Fig1cPlan {
    let digits = |s: &[usize]| (ImageData::Digits, s.to_vec());
    // Average pooling of the real images only: an up-sampled image lies in the subspace of the
    // low-resolution ones, where u* equals -x0 on the other coordinates, which inflates the cosine.
    let mnist_like = |d| (d, vec![7, 14, 28]);
    let families = match profile {
        Profile::Smoke => vec![digits(&[2, 4, 8])],
        Profile::Quick => vec![mnist_like(ImageData::FashionMnist), digits(&[2, 4, 8])],
        Profile::Paper => vec![
            (ImageData::Cifar10, vec![4, 8, 16, 32]),
            mnist_like(ImageData::Mnist),
            mnist_like(ImageData::FashionMnist),
            digits(&[2, 4, 8]),
        ],
    };
    let (pairs, step) = if profile == Profile::Smoke { (64, 0.05) } else { (256, 0.01) };
    Fig1cPlan { families, pairs, step }
}

impl Plan for Fig1cPlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        let times = grid(self.step, 0.99);
        let mut cells = Vec::new();
        for (family, sizes) in &self.families {
            for &size in sizes {
                let data = DataSpec::Images { data: *family, n: None, size: Some(size) };
                let n = if *family == ImageData::Digits { 1797 } else { family.sizes().0 };
                let cost =
                    closed_form_cost(n, family.shape().channels * size * size, self.pairs, times.len());
                let cfg = CellConfig {
                    family: family.name().into(),
                    size,
                    data: data.clone(),
                    pairs: self.pairs,
                    times: times.clone(),
                };
                cells.push(CellSpec::new(data.name(), &cfg, cost, 2 * times.len()).reading(data.reads()));
            }
        }
        Ok(cells)
    }
    fn caption(&self) -> String {
        let families: Vec<String> = self
            .families
            .iter()
            .map(|(f, sizes)| {
                let native = f.shape().height;
                let how: Vec<String> = sizes
                    .iter()
                    .map(|&s| {
                        if s < native {
                            format!("{s}x{s} (average-pooled)")
                        } else {
                            format!("{s}x{s} (native)")
                        }
                    })
                    .collect();
                format!("{} at {}", f.name(), how.join(", "))
            })
            .collect();
        format!(
            "Fraction of {} pairs with cos(u*(x_t, t), x1 - x0) > 0.9 against t (grid step {}); data: {}; d = \
             pixels; every resolution from the real images by average pooling (none up-sampled). Imagenette \
             at 8x8 to 256x256 in the paper.",
            self.pairs,
            self.step,
            families.join("; ")
        )
    }
}

/// Estimated seconds of `calls` closed-form evaluations of `pairs` queries over `n` points of
/// dimension `d` on 2 cores (about 80 GFLOP/s over the `4 pairs n d` operations of a call).
pub fn closed_form_cost(n: usize, d: usize, pairs: usize, calls: usize) -> f64 {
    0.1 + 4.0 * (pairs * n * d * calls) as f64 / 8e10
}

/// The figure.
pub struct Fig1c;

impl Figure for Fig1c {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Fraction of pairs where the closed form matches the stochastic target, by resolution"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Fig. 1c: fraction of a batch of 256 with cosine > 0.9 against t, Imagenette down-sampled to 8x8 ... \
             256x256; the curves reach 100% earlier as the resolution grows.",
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(plan(profile))
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let data = cfg.data.load(ctx)?;
        let (n, d) = (data.rows(), data.cols());
        let (x0, x1) = pairs(&data, cfg.pairs, &ctx.stream(ID).derive(&cfg.data.name()));
        let cf = cfm_core::ClosedForm::new(data)?;
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length(cfg.times.len() as u64);
        for &t in &cfg.times {
            let (cos, _) = cosines(&cf, &x0, &x1, t)?;
            let above = cos.iter().filter(|&&c| c > LEVEL).count() as f64 / cos.len() as f64;
            table.push(row![cfg.family.clone(), cfg.size, d, n, t, FRAC_ABOVE, above]);
            table.push(row![cfg.family.clone(), cfg.size, d, n, t, MEAN_COSINE, mean(&cos)]);
            bar.inc(1);
        }
        table.finish()
    }
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C3",
            short: "Alignment sets in earlier as the dimension grows.",
            figure: ID,
            statement: "The time at which the fraction of pairs with cosine > 0.9 reaches ~100% moves earlier \
                        as the dimension grows.",
            paper: "Fig. 1c, Imagenette 8x8 to 256x256: the curves shift left as the resolution grows",
            on: &[
                Dataset::Images(ImageData::Cifar10),
                Dataset::Images(ImageData::Mnist),
                Dataset::Images(ImageData::FashionMnist),
                Dataset::Images(ImageData::Digits),
            ],
            reads: &[],
            regime: "Average pooling shrinks Delta with the side length, so t* should move earlier from 7x7 to 28x28; a FAIL means the nearest-neighbour gap does not grow with the resolution on these images.",
            check: c3,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut k =
            KeyTable::new("", &["data", "d", "% cos > 0.9 at t = 0.2", "at t = 0.5", ">= 99% from t ="]);
        for family in &view.families {
            for r in &family.resolutions {
                k.rows.push(vec![
                    format!("{} {1}x{1}", family.data.name(), r.size),
                    num(r.d, 4),
                    pct(r.at(KEY_TIMES[0])),
                    pct(r.at(KEY_TIMES[1])),
                    r.settle.map_or("never".into(), |t| num(t, 2)),
                ]);
            }
        }
        Ok(vec![k])
    }
}

/// The table as the paper reads it: per image family, the fraction of pairs with
/// `cos(u*(x_t, t), x1 - x0) > 0.9` against t at each resolution.
pub struct View {
    /// The families, in the order of the table.
    pub families: Vec<Family>,
}

/// One image dataset at its resolutions.
pub struct Family {
    /// The images.
    pub data: ImageData,
    /// Its resolutions, by increasing dimension.
    pub resolutions: Vec<Resolution>,
}

/// One resolution of a family: its fraction curve and when it settles above [`ALL_ALIGNED`].
pub struct Resolution {
    /// Side in pixels.
    pub size: usize,
    /// Dimension d (pixels times channels).
    pub d: f64,
    /// Time grid, ascending.
    pub ts: Vec<f64>,
    /// Fraction of pairs with cosine > 0.9 at each time of the grid.
    pub values: Vec<f64>,
    /// Time from which the fraction stays >= [`ALL_ALIGNED`]; `None` if never.
    pub settle: Option<f64>,
}

impl View {
    /// Reads the [`FRAC_ABOVE`] rows of the table.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, size, d, _, t, statistic, value] = COLUMNS;
        let (names, sizes, ds) = (cols.text(dataset)?, cols.num(size)?, cols.num(d)?);
        let (ts, stats, values) = (cols.num(t)?, cols.text(statistic)?, cols.num(value)?);
        let rows: Vec<usize> = (0..names.len()).filter(|&i| stats[i] == FRAC_ABOVE).collect();
        if rows.is_empty() {
            return Err(cols.malformed(format!("no rows with statistic '{FRAC_ABOVE}'")));
        }
        let mut families = Vec::new();
        for name in unique(rows.iter().map(|&i| names[i].clone())) {
            let data = ImageData::parse(&name).map_err(|e| cols.malformed(e.to_string()))?;
            let mine: Vec<usize> = rows.iter().copied().filter(|&i| names[i] == name).collect();
            let mut resolutions: Vec<Resolution> = unique(mine.iter().map(|&i| sizes[i]))
                .into_iter()
                .map(|size| {
                    let at: Vec<usize> = mine.iter().copied().filter(|&i| sizes[i] == size).collect();
                    let mut points: Vec<(f64, f64)> = at.iter().map(|&i| (ts[i], values[i])).collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let (ts, values): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
                    let settle = settles_above(&ts, &values, ALL_ALIGNED);
                    Resolution { size: size as usize, d: ds[at[0]], ts, values, settle }
                })
                .collect();
            resolutions.sort_by(|a, b| a.d.total_cmp(&b.d).then(a.size.cmp(&b.size)));
            families.push(Family { data, resolutions });
        }
        Ok(View { families })
    }

    /// The family named `name` in the table.
    pub fn family(&self, name: &str) -> Result<&Family> {
        self.families
            .iter()
            .find(|f| f.data.name() == name)
            .ok_or_else(|| Error::malformed(ID, format!("no {name} rows with statistic '{FRAC_ABOVE}'")))
    }
}

impl Family {
    /// Per resolution (by increasing dimension), the time from which at least [`ALL_ALIGNED`]
    /// of the pairs are aligned, 1 where that is never reached.
    pub fn aligned_from(&self) -> Vec<f64> {
        self.resolutions.iter().map(|r| r.settle.unwrap_or(1.0)).collect()
    }
}

impl Resolution {
    /// The fraction at grid time `t` (NaN off the grid).
    pub fn at(&self, t: f64) -> f64 {
        self.ts.iter().position(|&x| (x - t).abs() < 1e-9).map_or(f64::NAN, |i| self.values[i])
    }
}

/// C3 on `family`: the time from which 99% of pairs are aligned does not increase with d.
fn c3(e: &Evidence, family: &str) -> Result<Measured> {
    let view = View::read(&e.table)?;
    let data = view.family(family)?;
    let t99 = data.aligned_from();
    let pass = t99.windows(2).all(|w| w[1] <= w[0] + 0.01);
    let list: Vec<String> =
        data.resolutions.iter().zip(&t99).map(|(r, t)| format!("d={}: {t:.2}", r.d)).collect();
    Ok(Measured::new(
        format!("t from which >= 99% of pairs have cosine > 0.9 — {family}: {}", list.join(", ")),
        format!("t of 99% alignment: {} (needs non-increasing in d)", list.join(", ")),
        "non-increasing in d (one grid step, 0.01, of slack); 1.00 = never reached",
        pass,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digits at 8x8, 2x2 and 4x4 (in that order in the table, times descending): all pairs
    /// aligned from t = 0.5 at 2x2, from 0.2 at 4x4, never at 8x8.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        for (size, from) in [(8usize, 2.0), (2, 0.5), (4, 0.2)] {
            for k in (0..6).rev() {
                let t = k as f64 * 0.1;
                let frac = if t >= from { 1.0 } else { 0.5 };
                b.push(row!["digits", size, size * size, 1797usize, t, FRAC_ABOVE, frac]);
                b.push(row!["digits", size, size * size, 1797usize, t, MEAN_COSINE, 0.0]);
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn resolutions_by_dimension_with_their_alignment_times() {
        let view = View::read(&table()).unwrap();
        let digits = view.family("digits").unwrap();
        assert_eq!(digits.data, ImageData::Digits);
        let sizes: Vec<usize> = digits.resolutions.iter().map(|r| r.size).collect();
        assert_eq!(sizes, [2, 4, 8]);
        let r = &digits.resolutions[1];
        assert_eq!((r.d, r.ts.len(), r.at(0.2), r.at(0.1)), (16.0, 6, 1.0, 0.5));
        let t = digits.aligned_from();
        // Interpolated between the last grid time below 99% and the next.
        assert!((t[0] - 0.498).abs() < 1e-12 && (t[1] - 0.198).abs() < 1e-12 && t[2] == 1.0, "{t:?}");
        assert!(view.family("mnist").is_err());
    }

    #[test]
    fn c3_fails_where_alignment_comes_later_at_a_higher_dimension() {
        let m = c3(&Evidence::of(table()), "digits").unwrap();
        assert!(m.headline.contains("d=4: 0.50, d=16: 0.20, d=64: 1.00"), "{}", m.headline);
        assert_eq!(m.decision, crate::claims::Decision::Fail);
    }
}
