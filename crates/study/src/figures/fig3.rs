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

use cfm_core::metrics::{COPY_THRESHOLD, knn, memorization};
use cfm_core::ode::{Solver, integrate, integrate_span};
use cfm_core::{ClosedForm, Matrix};
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
use crate::table::{TableBuilder, f64s, filter_eq, filter_near, stat_value};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/fig3.svg`).
pub const ID: &str = "fig3";

/// Columns of the table.
pub const COLUMNS: [&str; 6] = ["dataset", "tau", "sample", "index", "statistic", "value"];
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
        for name in crate::table::distinct(df, "dataset")? {
            let d = filter_eq(df, "dataset", &name)?;
            let mut k = KeyTable::new(
                name.clone(),
                &["tau", "pixel distance to nearest training image", "feature distance", "copies"],
            );
            for tau in [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0] {
                let r = filter_near(&d, "tau", tau)?;
                if r.height() == 0 {
                    continue;
                }
                k.rows.push(vec![
                    num(tau, 2),
                    num(stat_value(&r, MEAN_PIXEL_DISTANCE)?, 3),
                    num(stat_value(&r, MEAN_FEATURE_DISTANCE)?, 3),
                    pct(stat_value(&r, FRACTION_MEMORIZED)?),
                ]);
            }
            out.push(k);
        }
        Ok(out)
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let set = LabelledImages::load(ctx, cfg.data)?;
        let evaluator = Evaluator::new(ctx, &set)?;
        let n = set.train.rows();
        let trained = learned::train(ctx, &cfg.train, &set.train, Some(set.shape), &set.identity(n))?;
        let guard = learned::Guard::of(&set.train);
        guard.weights(&trained, cfg.train.steps)?;
        let network = trained.field()?;
        let closed = ClosedForm::new(set.train.clone())?;
        let train_features = evaluator.features(&set.train)?;
        let d = set.train.cols();
        let x0 =
            Matrix::from_vec(cfg.noises, d, ctx.stream("fig3").derive("noise").normal_vec(cfg.noises * d))?;
        // The closed-form part of every tau is a prefix of one closed-form trajectory.
        let euler = Solver::Euler { steps: cfg.euler_steps };
        let trajectory = integrate(&closed, &x0, euler, true)?.trajectory;
        let name = cfg.data.name();
        let mut table = TableBuilder::new(&COLUMNS);
        bar.set_length(cfg.taus.len() as u64);
        for &tau in &cfg.taus {
            // The first grid time at or after tau: the network's part starts there.
            let k = trajectory.iter().position(|(t, _)| *t >= tau).unwrap_or(cfg.euler_steps);
            let x = if k >= cfg.euler_steps {
                trajectory[cfg.euler_steps].1.clone()
            } else {
                let (t, start) = &trajectory[k];
                integrate_span(&network, start, Solver::Euler { steps: cfg.euler_steps - k }, *t, 1.0, false)?
                    .x
            };
            guard.samples(&x, cfg.train.steps)?;
            let pixel = knn(&x, &set.train, 1, false)?;
            let feature = knn(&evaluator.features(&x)?, &train_features, 1, false)?;
            let mem = memorization(&x, &set.train, COPY_THRESHOLD)?;
            table.push(row![name, tau, -1i64, 0usize, MEAN_PIXEL_DISTANCE, mean(&pixel.dist)]);
            table.push(row![name, tau, -1i64, 0usize, MEAN_FEATURE_DISTANCE, mean(&feature.dist)]);
            table.push(row![name, tau, -1i64, 0usize, FRACTION_MEMORIZED, mem.summary.fraction_memorized]);
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

/// C7 on the dataset's own clock. With `D(tau)` the mean pixel distance to the nearest
/// training image and `N = (D - D(1)) / (D(0) - D(1))`: `tau_novel` is the last tau of the
/// initial run with `N >= 0.8`, `tau_copy` the first tau from which `N <= 0.1` for good. With
/// t* the collapse time of the same data (measured by `collapse`): the claim holds when
/// `tau_novel >= t* / 2` (novel well before t*), `tau_copy <= t* + 0.2` (a copy soon past t*)
/// and `tau_novel < tau_copy`.
fn c7(e: &Evidence, dataset: &str) -> Result<Measured> {
    let df = &e.table;
    let (t_star, t_pred) = super::collapse::collapse_time(e.other(super::collapse::ID)?, dataset)?;
    let rows = filter_eq(&filter_eq(df, "dataset", dataset)?, "statistic", MEAN_PIXEL_DISTANCE)?;
    let (taus, d) = (f64s(&rows, "tau")?, f64s(&rows, "value")?);
    if taus.len() < 3 {
        return Err(Error::invalid("too few tau values"));
    }
    let (d0, d1) = (d[0], d[d.len() - 1]);
    let norm: Vec<f64> = d.iter().map(|v| (v - d1) / (d0 - d1)).collect();
    let novel_end = norm.iter().position(|&v| v < 0.8).unwrap_or(norm.len());
    let tau_novel = if novel_end == 0 { f64::NAN } else { taus[novel_end - 1] };
    let copy_start = norm.iter().rposition(|&v| v > 0.1).map_or(0, |i| i + 1);
    let tau_copy = taus.get(copy_start).copied().unwrap_or(f64::NAN);
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
