//! Fig. 3: the hybrid sampler. Follow the closed form `u*` (over the training set) on
//! `[0, tau)` and the trained network `u_theta` on `[tau, 1)`, from the same fixed noises, for
//! `tau` from 0 (network only) to 1 (closed form only, which reproduces training images).
//!
//! The distance of the outputs to the training set says when the sample's identity is decided:
//! if following `u*` only briefly already yields a training image, the network's generalization
//! happens at early times (claim C7). Distances: pixel L2 to the nearest training image, and L2
//! between classifier features (stand-ins for the paper's min-LPIPS).
//!
//! Table: `dataset, tau, sample, index, statistic, value`. Per `tau`: `mean_pixel_distance`,
//! `mean_feature_distance`, `fraction_memorized` (sample = -1, index = 0); for the highlighted
//! noises: `pixel_distance` (index 0) and `image` (index = pixel).
//!
//! The table reads into a [`View`]: per dataset, the three means against tau, each highlighted
//! noise's distance against tau, and the [`Strip`] of its outputs. Claim C7
//! ([`DatasetView::novelty`]), the key numbers and the figure all read that view.

use cfm_core::metrics::{COPY_THRESHOLD, knn, memorization};
use cfm_core::ode::{Solver, integrate, integrate_span};
use cfm_core::{ClosedForm, Matrix, VelocityField};
use cfm_nn::NetworkField;
use cfm_nn::{Target, TrainConfig};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;

use super::fig2::DECIDING;
use super::learned::{self, Evaluator, Param};
use crate::claims::{Claim, Evidence, Measured};
use crate::data::{Dataset, LabelledImages};
use crate::figure::{CellSpec, Figure, KeyTable, Plan, Setting};
use crate::stats::{grid, mean, num, pct};
use crate::table::{Columns, TableBuilder, slot, sorted_unique};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/fig3.svg`).
pub const ID: &str = "fig3";

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", TAU, "sample", "index", "statistic", "value"];
/// The switch time from the closed form to the network: its symbol in the table (a column) and
/// on the figure's axes.
pub const TAU: &str = "tau";
/// Mean pixel distance of the outputs to their nearest training image.
pub const MEAN_PIXEL_DISTANCE: &str = "mean_pixel_distance";
/// Mean classifier-feature distance to the nearest training image.
pub const MEAN_FEATURE_DISTANCE: &str = "mean_feature_distance";
/// Fraction of outputs that are copies.
pub const FRACTION_MEMORIZED: &str = "fraction_memorized";
/// A highlighted noise's pixel distance.
pub const PIXEL_DISTANCE: &str = "pixel_distance";
/// A highlighted noise's output, pixel `index`.
pub const IMAGE: &str = "image";

/// One cell. `train` is the network's whole training configuration (Fig. 2's full-split run
/// where the plan has one), so that a change to the network changes the cell's cache key.
#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: ImageData,
    train: TrainConfig,
    param: Param,
    noises: usize,
    highlighted: usize,
    taus: Vec<f64>,
    euler_steps: usize,
}

fn plan(profile: Profile) -> Fig3Plan {
    let cell = |data: ImageData, noises, highlighted, taus: Vec<f64>| {
        // The full-split model of Fig. 2 where its plan has one; the paper profile trains its own.
        let (steps, reuse) = match super::fig2::full_split_run(profile, data) {
            Some((label, steps)) => (steps, Some(label)),
            None => (500_000, None),
        };
        let train = train_config(profile, data, steps, DECIDING, 0);
        (CellConfig { data, train, param: DECIDING, noises, highlighted, taus, euler_steps: 100 }, reuse)
    };
    let cells = match profile {
        Profile::Smoke => vec![cell(ImageData::Digits, 32, 2, grid(0.25, 1.0))],
        Profile::Quick => vec![
            cell(ImageData::FashionMnist, 256, 4, grid(0.05, 1.0)),
            cell(ImageData::Digits, 256, 4, grid(0.05, 1.0)),
        ],
        Profile::Paper => vec![cell(ImageData::Cifar10, 256, 4, grid(0.05, 1.0))],
    };
    Fig3Plan { cells, profile }
}

struct Fig3Plan {
    /// Each cell, with the Fig. 2 cell whose model it reuses.
    cells: Vec<(CellConfig, Option<String>)>,
    profile: Profile,
}

impl CellConfig {
    fn rows(&self) -> usize {
        self.taus.len() * (3 + self.highlighted * (1 + self.data.shape().dim()))
    }
}

/// The network's training run on the full training split of `data` (Fig. 2's full-split run).
fn train_config(profile: Profile, data: ImageData, steps: u64, param: Param, seed: u64) -> TrainConfig {
    let n = data.sizes().0;
    let mut c = learned::train_config(profile, learned::network(profile, None), Target::Cfm, steps, seed, n);
    param.apply(&mut c);
    c
}

impl Plan for Fig3Plan {
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(self
            .cells
            .iter()
            .map(|(c, reuse)| {
                let (n, shape) = (c.data.sizes().0, c.data.shape());
                let c = &CellConfig {
                    train: TrainConfig { seed: ctx.train_seed(0), ..c.train.clone() },
                    taus: c.taus.clone(),
                    ..*c
                };
                let train = &c.train;
                let closed = super::fig1c::closed_form_cost(n, shape.dim(), c.noises, c.euler_steps);
                let network = c.taus.len() as f64
                    * learned::sampling_seconds(
                        &train.model,
                        shape.dim(),
                        Some(shape),
                        c.noises,
                        c.euler_steps / 2,
                    );
                let knn = c.taus.len() as f64 * super::fig1c::closed_form_cost(n, shape.dim(), c.noises, 1);
                let training = match reuse {
                    Some(_) => 0.0,
                    None => train.steps as f64 * learned::step_seconds(train, shape.dim(), Some(shape)),
                };
                let cell = CellSpec::new(c.data.name(), c, closed + network + knn + training + 5.0, c.rows())
                    .reading([c.data]);
                match reuse {
                    Some(label) => cell.after(super::fig2::ID, label.clone()),
                    None => cell,
                }
            })
            .collect())
    }
    fn caption(&self) -> String {
        let data: Vec<String> = self
            .cells
            .iter()
            .map(|(c, _)| format!("{} ({} training images)", c.data.name(), c.data.sizes().0))
            .collect();
        let (c, reuse) = &self.cells[0];
        let net = match self.profile {
            Profile::Paper => "the paper's U-Net",
            _ => "an MLP on flattened images",
        };
        format!(
            "{} fixed noises integrated with Euler ({} steps) following the closed form over the training images \
             on [0, tau) and a CFM-trained network ({net}, {} output, {} steps{}) on [tau, 1); the closed-form \
             trajectory of each noise is integrated once and reused for every tau. Top: mean distance to the \
             nearest training image, in pixels (L2) and in classifier features (stand-ins for min-LPIPS), with {} \
             highlighted noises. Bottom: those samples across tau. Data: {}. The paper: CIFAR-10 and CelebA-64 \
             (not supported here).",
            c.noises,
            c.euler_steps,
            c.param.name(),
            c.train.steps,
            if reuse.is_some() { ", the full-split model of Fig. 2" } else { "" },
            c.highlighted,
            data.join(", ")
        )
    }
    fn settings(&self) -> Vec<Setting> {
        let (c, _) = &self.cells[0];
        let shape = c.data.shape();
        learned::settings(
            &PAPER,
            &c.train,
            shape.dim(),
            Some(shape),
            c.noises,
            c.euler_steps,
            "1 (replicate 0 of the root seed)",
        )
        .rows()
    }
}

/// The paper's setting of Fig. 3.
const PAPER: learned::PaperSetup = learned::PaperSetup {
    network: "U-Net, 128 channels (34M parameters)",
    steps: "500000",
    samples: "256 noises",
    solver: "Euler",
    seeds: "1",
};

/// The figure.
pub struct Fig3;

impl Figure for Fig3 {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "Hybrid sampler: closed form on [0, tau), network on [tau, 1)"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "Fig. 3: hybrid sampler on CIFAR-10 and CelebA-64; following u* up to tau ~ 0.2 leaves samples as \
             novel as the network's, from tau ~ 0.4 on the output is the training image that u* alone gives.",
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS
    }
    fn trains(&self) -> bool {
        true
    }
    fn plan(&self, profile: Profile) -> Box<dyn Plan> {
        Box::new(plan(profile))
    }
    fn claims(&self) -> Vec<Claim> {
        vec![Claim {
            id: "C7",
            short: "The hybrid sampler is as novel as the network before t*, a copy past it.",
            figure: ID,
            statement: "Hybrid sampler: for tau well before the collapse time t* of the data the hybrid is as novel \
                        as u_theta; for tau past t* its output is the training image that u* alone gives.",
            paper: "Fig. 3, CIFAR-10 and CelebA-64: as novel up to tau ~ 0.2, the training image from tau ~ 0.4",
            on: &[
                Dataset::Images(ImageData::Cifar10),
                Dataset::Images(ImageData::FashionMnist),
                Dataset::Images(ImageData::Mnist),
                Dataset::Images(ImageData::Digits),
            ],
            reads: &[super::collapse::ID],
            regime: "Past t* the closed-form trajectory has chosen its training point and the network, started \
                     there, only refines it; before t* the network can still move the sample elsewhere. A \
                     network that has memorized its training set returns training images from every tau, so \
                     C7 tests the hybrid only where the network alone is novel (C6).",
            check: c7,
        }]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let mut out = Vec::new();
        for data in View::read(df)?.datasets {
            let mut k = KeyTable::new(
                data.dataset.clone(),
                &["tau", "pixel distance to nearest training image", "feature distance", "copies"],
            );
            for tau in [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0] {
                if let Some([pixel, feature, copies]) = data.means_at(tau) {
                    k.rows.push(vec![num(tau, 2), num(pixel, 3), num(feature, 3), pct(copies)]);
                }
            }
            out.push(k);
        }
        Ok(out)
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let set = LabelledImages::load(ctx, cfg.data)?;
        let evaluator = Evaluator::new(ctx, &set)?;
        let (network, guard) = train_network(ctx, &cfg, &set)?;
        let closed = ClosedForm::new(set.train.clone())?;
        let train_features = evaluator.features(&set.train)?;
        let d = set.train.cols();
        let x0 =
            Matrix::from_vec(cfg.noises, d, ctx.stream("fig3").derive("noise").normal_vec(cfg.noises * d))?;
        // The closed-form part of every tau is a prefix of one closed-form trajectory.
        let euler = Solver::Euler { steps: cfg.euler_steps };
        let trajectory = integrate(&closed, &x0, euler, true)?.trajectory;
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length(cfg.taus.len() as u64);
        for &tau in &cfg.taus {
            let x = hybrid(&network, &trajectory, tau, cfg.euler_steps)?;
            guard.samples(&x, cfg.train.steps)?;
            let pixel = knn(&x, &set.train, 1, false)?;
            let feature = knn(&evaluator.features(&x)?, &train_features, 1, false)?;
            let copies = memorization(&x, &set.train, COPY_THRESHOLD)?.summary.fraction_memorized;
            let name = cfg.data.name();
            for (stat, v) in [
                (MEAN_PIXEL_DISTANCE, mean(&pixel.dist)),
                (MEAN_FEATURE_DISTANCE, mean(&feature.dist)),
                (FRACTION_MEMORIZED, copies),
            ] {
                table.push(row![name, tau, -1i64, 0usize, stat, v]);
            }
            for i in 0..cfg.highlighted {
                table.push(row![name, tau, i as i64, 0usize, PIXEL_DISTANCE, pixel.dist[i]]);
                for (k, &v) in x.row(i).iter().enumerate() {
                    table.push(row![name, tau, i as i64, k, IMAGE, v as f64]);
                }
            }
            bar.inc(1);
        }
        table.finish()
    }
}

/// The network of the cell, trained (or read from Fig. 2's cache) on the full training split,
/// with the guard that checks its weights and samples.
fn train_network(
    ctx: &Context,
    cfg: &CellConfig,
    set: &LabelledImages,
) -> Result<(NetworkField, learned::Guard)> {
    let n = set.train.rows();
    let trained = learned::train(ctx, &cfg.train, &set.train, Some(set.shape), &set.identity(n))?;
    let guard = learned::Guard::of(&set.train);
    guard.weights(&trained, cfg.train.steps)?;
    Ok((trained.field()?, guard))
}

/// The hybrid sampler's outputs: the closed-form `trajectory` (of `steps` Euler steps) up to the
/// first grid time at or after `tau`, then the network's Euler steps to 1.
fn hybrid(
    network: &dyn VelocityField,
    trajectory: &[(f64, Matrix)],
    tau: f64,
    steps: usize,
) -> Result<Matrix> {
    let k = trajectory.iter().position(|(t, _)| *t >= tau).unwrap_or(steps);
    if k >= steps {
        return Ok(trajectory[steps].1.clone());
    }
    let (t, start) = &trajectory[k];
    Ok(integrate_span(network, start, Solver::Euler { steps: steps - k }, *t, 1.0, false)?.x)
}

/// C7 on the dataset's own clock. With `D(tau)` the mean pixel distance to the nearest
/// training image and `N = (D - D(1)) / (D(0) - D(1))`: `tau_novel` is the last tau of the
/// initial run with `N >= 0.8`, `tau_copy` the first tau from which `N <= 0.1` for good. With
/// t* the collapse time of the same data (measured by `collapse`): the claim holds when
/// `tau_novel >= t* / 2` (novel well before t*), `tau_copy <= t* + 0.2` (a copy soon past t*)
/// and `tau_novel < tau_copy`.
fn c7(e: &Evidence, dataset: &str) -> Result<Measured> {
    let collapse = super::collapse::View::read(e.other(super::collapse::ID)?)?;
    let (t_star, t_pred) = collapse.collapse_time(dataset)?;
    let view = View::read(&e.table)?;
    let Novelty { d0, d1, tau_novel, tau_copy } = view.dataset(dataset)?.novelty()?;
    Ok(Measured::new(
        format!(
            "{dataset}: mean pixel distance {d0:.3} at tau = 0, {d1:.3} at tau = 1; as novel as the network (>= 80% \
             of the way) up to tau = {tau_novel:.2}; a training image (<= 10%) from tau = {tau_copy:.2}; collapse \
             time t* = {t_star:.2} (predicted {t_pred:.2}). Paper, CIFAR-10: ~0.2 and ~0.4 (CIFAR-10's t* is not \
             measured at this profile)"
        ),
        format!(
            "as novel as the network up to tau = {tau_novel:.2} (needs >= t*/2 = {:.2}); a training image from tau = \
             {tau_copy:.2} (needs <= t* + 0.2 = {:.2})",
            t_star / 2.0,
            t_star + 0.2
        ),
        "tau_novel >= t*/2, tau_copy <= t* + 0.2, tau_novel < tau_copy",
        tau_novel >= t_star / 2.0 - 1e-9 && tau_copy <= t_star + 0.2 + 1e-9 && tau_novel < tau_copy,
    ))
}

/// Points `(tau, value)`, ascending tau.
pub type Curve = Vec<(f64, f64)>;

/// Where the hybrid's outputs stop being novel, on one dataset's mean pixel distance `D(tau)`
/// to the nearest training image, normalised as `N = (D - D(1)) / (D(0) - D(1))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Novelty {
    /// `D` at the first tau (0: the network only).
    pub d0: f64,
    /// `D` at the last tau (1: the closed form only).
    pub d1: f64,
    /// The last tau of the initial run with `N >= 0.8`: as novel as the network up to there
    /// (NaN when the first tau is already below).
    pub tau_novel: f64,
    /// The first tau from which `N <= 0.1` for good: a training image from there on (NaN when
    /// the last tau is above).
    pub tau_copy: f64,
}

/// The outputs of the highlighted noises across tau.
#[derive(Clone, Debug, PartialEq)]
pub struct Strip {
    /// The taus at which the outputs are shown, ascending.
    pub taus: Vec<f64>,
    /// Per highlighted noise with outputs: its position in [`DatasetView::noises`] and its
    /// output at each of `taus`, pixels in index order (channel-major for RGB).
    pub images: Vec<(usize, Vec<Vec<f64>>)>,
    /// Colour channels of the images: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Side of the (square) images, in pixels.
    pub side: usize,
}

/// One dataset of the figure.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetView {
    /// Name in the table (`digits`).
    pub dataset: String,
    /// Mean pixel distance of the outputs to their nearest training image, against tau.
    pub mean_pixel_distance: Curve,
    /// Mean classifier-feature distance to the nearest training image, against tau.
    pub mean_feature_distance: Curve,
    /// Fraction of the outputs that are copies of a training image, against tau.
    pub fraction_memorized: Curve,
    /// The highlighted noises (sample ids), ascending.
    pub noises: Vec<f64>,
    /// Per highlighted noise with distances: its position in `noises` and its pixel distance to
    /// the nearest training image against tau.
    pub distances: Vec<(usize, Curve)>,
    /// The outputs of the highlighted noises, where the table holds them.
    pub strip: Option<Strip>,
}

impl DatasetView {
    /// The three means at `tau` (pixel distance, feature distance, fraction of copies; NaN for a
    /// missing one), if the table holds any of them there.
    pub fn means_at(&self, tau: f64) -> Option<[f64; 3]> {
        let at = |curve: &Curve| curve.iter().find(|p| (p.0 - tau).abs() <= 1e-9).map(|p| p.1);
        let means =
            [&self.mean_pixel_distance, &self.mean_feature_distance, &self.fraction_memorized].map(at);
        means.iter().any(Option::is_some).then(|| means.map(|v| v.unwrap_or(f64::NAN)))
    }

    /// The three means: pixel distance, feature distance, fraction of copies.
    pub fn means(&self) -> [&Curve; 3] {
        [&self.mean_pixel_distance, &self.mean_feature_distance, &self.fraction_memorized]
    }

    /// Where the outputs stop being novel (claim C7): at least three taus are needed.
    pub fn novelty(&self) -> Result<Novelty> {
        let (taus, d): (Vec<f64>, Vec<f64>) = self.mean_pixel_distance.iter().copied().unzip();
        if taus.len() < 3 {
            return Err(Error::invalid("too few tau values"));
        }
        let (d0, d1) = (d[0], d[d.len() - 1]);
        let norm: Vec<f64> = d.iter().map(|v| (v - d1) / (d0 - d1)).collect();
        let novel_end = norm.iter().position(|&v| v < 0.8).unwrap_or(norm.len());
        let tau_novel = if novel_end == 0 { f64::NAN } else { taus[novel_end - 1] };
        let copy_start = norm.iter().rposition(|&v| v > 0.1).map_or(0, |i| i + 1);
        let tau_copy = taus.get(copy_start).copied().unwrap_or(f64::NAN);
        Ok(Novelty { d0, d1, tau_novel, tau_copy })
    }

    /// The outputs of the highlighted noises, which the figure draws: the table must hold them.
    pub fn strip(&self) -> Result<&Strip> {
        self.strip
            .as_ref()
            .ok_or_else(|| Error::malformed(ID, format!("dataset '{}' has no '{IMAGE}' rows", self.dataset)))
    }
}

/// The Fig. 3 table as claim C7, the key numbers and the figure read it.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Per dataset, in order of first appearance.
    pub datasets: Vec<DatasetView>,
}

/// One dataset's rows, as read: the means, then `(sample, tau, value)` of the highlighted
/// noises' distances and `(sample, tau, index, value)` of their outputs' pixels.
#[derive(Default)]
struct Rows {
    means: [Curve; 3],
    distances: Vec<(f64, f64, f64)>,
    pixels: Vec<(f64, f64, f64, f64)>,
}

impl View {
    /// Reads the table: every dataset must have the three means; where it has outputs of the
    /// highlighted noises, every noise must have one at every tau, all of one size, of a square
    /// grey or RGB image.
    pub fn read(df: &DataFrame) -> Result<View> {
        let cols = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, tau, sample, index, statistic, value] = COLUMNS;
        let (names, stats) = (cols.text(dataset)?, cols.text(statistic)?);
        let (taus, samples, idx, values) =
            (cols.num(tau)?, cols.num(sample)?, cols.num(index)?, cols.num(value)?);
        let mut rows: Vec<(String, Rows)> = Vec::new();
        for i in 0..names.len() {
            let r = &mut slot(&mut rows, |r| r.0 == names[i], || (names[i].clone(), Rows::default())).1;
            match stats[i].as_str() {
                MEAN_PIXEL_DISTANCE => r.means[0].push((taus[i], values[i])),
                MEAN_FEATURE_DISTANCE => r.means[1].push((taus[i], values[i])),
                FRACTION_MEMORIZED => r.means[2].push((taus[i], values[i])),
                PIXEL_DISTANCE => r.distances.push((samples[i], taus[i], values[i])),
                IMAGE => r.pixels.push((samples[i], taus[i], idx[i], values[i])),
                other => return Err(cols.malformed(format!("unknown statistic '{other}'"))),
            }
        }
        let datasets =
            rows.into_iter().map(|(name, rows)| dataset_view(&cols, name, rows)).collect::<Result<_>>()?;
        Ok(View { datasets })
    }

    /// The dataset named `name`.
    pub fn dataset(&self, name: &str) -> Result<&DatasetView> {
        self.datasets
            .iter()
            .find(|d| d.dataset == name)
            .ok_or_else(|| Error::malformed(ID, format!("no rows of dataset '{name}'")))
    }
}

/// One dataset's view from its rows (see [`View::read`]).
fn dataset_view(cols: &Columns, name: String, rows: Rows) -> Result<DatasetView> {
    let bad = |msg: String| cols.malformed(format!("dataset '{name}': {msg}"));
    let sorted = |mut points: Curve| {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let [pixel, feature, copies] = rows.means;
    for (stat, curve) in
        [(MEAN_PIXEL_DISTANCE, &pixel), (MEAN_FEATURE_DISTANCE, &feature), (FRACTION_MEMORIZED, &copies)]
    {
        if curve.is_empty() {
            return Err(cols.malformed(format!("dataset '{name}' has no '{stat}' rows")));
        }
    }
    let noises = sorted_unique(rows.distances.iter().map(|r| r.0).chain(rows.pixels.iter().map(|r| r.0)));
    let distances = (0..noises.len())
        .map(|k| {
            (k, sorted(rows.distances.iter().filter(|r| r.0 == noises[k]).map(|r| (r.1, r.2)).collect()))
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    let strip = if rows.pixels.is_empty() {
        None
    } else {
        let taus = sorted_unique(rows.pixels.iter().map(|r| r.1));
        let mut images = Vec::new();
        for (k, &s) in noises.iter().enumerate() {
            let mine: Vec<&(f64, f64, f64, f64)> = rows.pixels.iter().filter(|r| r.0 == s).collect();
            if mine.is_empty() {
                continue;
            }
            let mut row = Vec::new();
            for &tau in &taus {
                let mut pixels: Vec<(f64, f64)> =
                    mine.iter().filter(|r| r.1 == tau).map(|r| (r.2, r.3)).collect();
                if pixels.is_empty() {
                    return Err(bad(format!("noise {s} has no '{IMAGE}' rows at tau = {tau}")));
                }
                pixels.sort_by(|a, b| a.0.total_cmp(&b.0));
                row.push(pixels.into_iter().map(|p| p.1).collect::<Vec<f64>>());
            }
            images.push((k, row));
        }
        let len = images[0].1[0].len();
        if let Some(other) = images.iter().flat_map(|(_, row)| row).find(|image| image.len() != len) {
            return Err(bad(format!("images of different sizes ({len} and {} values)", other.len())));
        }
        let (channels, side) = image_shape(len).ok_or_else(|| {
            bad(format!("images of {len} values are neither square grey nor square RGB images"))
        })?;
        Some(Strip { taus, images, channels, side })
    };
    Ok(DatasetView {
        dataset: name.clone(),
        mean_pixel_distance: sorted(pixel),
        mean_feature_distance: sorted(feature),
        fraction_memorized: sorted(copies),
        noises,
        distances,
        strip,
    })
}

/// The channels and side of a square image of `len` values: grey if `len` is a square, else
/// RGB if `len / 3` is.
pub fn image_shape(len: usize) -> Option<(usize, usize)> {
    [1, 3].into_iter().find_map(|channels| {
        let side = ((len / channels) as f64).sqrt().round() as usize;
        (side > 0 && channels * side * side == len).then_some((channels, side))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digits' mean pixel distance `d(tau)` at tau = 0, 0.1, ..., 1 (in reverse order, to show
    /// that the view sorts them), the other means constant.
    fn view(d: impl Fn(f64) -> f64) -> View {
        let mut b = TableBuilder::new(&COLUMNS);
        for k in (0..=10).rev() {
            let tau = k as f64 / 10.0;
            b.push(row!["digits", tau, -1i64, 0usize, MEAN_PIXEL_DISTANCE, d(tau)]);
            b.push(row!["digits", tau, -1i64, 0usize, MEAN_FEATURE_DISTANCE, 1.0]);
            b.push(row!["digits", tau, -1i64, 0usize, FRACTION_MEMORIZED, 0.5]);
        }
        View::read(&b.finish().unwrap()).unwrap()
    }

    #[test]
    fn novelty_is_where_the_normalised_distance_leaves_0_8_and_settles_below_0_1() {
        // Novel up to 0.2 (N = 1), N = 0.5 and 0.2 at 0.3 and 0.4, a copy from 0.5 (N = 0.05).
        let d = |tau: f64| match (tau * 10.0).round() as i32 {
            0..=2 => 2.0,
            3 => 1.0,
            4 => 0.4,
            5 => 0.1,
            _ => 0.0,
        };
        let novelty = view(d).dataset("digits").unwrap().novelty().unwrap();
        assert_eq!(novelty, Novelty { d0: 2.0, d1: 0.0, tau_novel: 0.2, tau_copy: 0.5 });
        // Never novel: the distance drops at once.
        let novelty = view(|tau| if tau == 0.0 { 2.0 } else { 1.0 }).datasets[0].novelty().unwrap();
        assert_eq!((novelty.tau_novel, novelty.tau_copy), (0.0, 0.1));
        assert!(view(d).dataset("cifar10").is_err());
    }

    #[test]
    fn key_numbers_read_the_means_at_a_tau() {
        let view = view(|tau| 2.0 * tau);
        assert_eq!(view.datasets[0].means_at(0.3), Some([0.6, 1.0, 0.5]));
        assert_eq!(view.datasets[0].means_at(0.95), None);
        assert!(
            view.datasets[0]
                .strip()
                .unwrap_err()
                .to_string()
                .contains("dataset 'digits' has no 'image' rows")
        );
    }

    #[test]
    fn image_shapes() {
        assert_eq!(image_shape(64), Some((1, 8)));
        assert_eq!(image_shape(3072), Some((3, 32)));
        assert_eq!(image_shape(12), Some((3, 2)));
        assert_eq!(image_shape(5), None);
    }
}
