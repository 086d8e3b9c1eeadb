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
use cfm_core::ode::{Hybrid, Solver, integrate};
use cfm_core::{ClosedForm, Matrix};
use cfm_nn::Target;
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::common::grid;
use super::learned::{self, Evaluator, ImageData, ImageSet};
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, f64s, filter_eq};
use crate::{Context, Error, Profile, Result, row};

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: ImageData,
    steps: u64,
    noises: usize,
    highlighted: usize,
    taus: Vec<f64>,
    euler_steps: usize,
}

fn plan(profile: Profile) -> CellConfig {
    match profile {
        Profile::Smoke => CellConfig {
            data: ImageData::Digits,
            steps: 200,
            noises: 32,
            highlighted: 2,
            taus: grid(0.25, 1.0),
            euler_steps: 100,
        },
        Profile::Quick => CellConfig {
            data: ImageData::Digits,
            steps: 4000,
            noises: 256,
            highlighted: 4,
            taus: grid(0.05, 1.0),
            euler_steps: 100,
        },
        Profile::Paper => CellConfig {
            data: ImageData::Cifar10,
            steps: 500_000,
            noises: 256,
            highlighted: 4,
            taus: grid(0.05, 1.0),
            euler_steps: 100,
        },
    }
}

/// The figure.
pub struct Fig3;

impl Figure for Fig3 {
    fn id(&self) -> &'static str {
        "fig3"
    }
    fn title(&self) -> &'static str {
        "Hybrid sampler: closed form on [0, tau), network on [tau, 1)"
    }
    fn paper(&self) -> &'static str {
        "Fig. 3: hybrid sampler on CIFAR-10 and CelebA-64; following u* up to tau ~ 0.2 leaves samples as novel as the network's, from tau ~ 0.4 on the output is the training image that u* alone gives."
    }
    fn caption(&self, profile: Profile) -> String {
        let c = plan(profile);
        let (data, net) = match profile {
            Profile::Paper => ("CIFAR-10 (CelebA-64 is not supported)", "the paper's U-Net"),
            _ => ("the 8x8 digits (standing in for CIFAR-10 and CelebA-64)", "an MLP on flattened images"),
        };
        format!(
            "{} fixed noises integrated with Euler ({} steps) following the closed form over the {} training \
             images on [0, tau) and a CFM-trained network ({net}, {} steps, the full-split model of Fig. 2) on \
             [tau, 1). Top: mean distance to the nearest training image, in pixels (L2) and in classifier \
             features (stand-ins for min-LPIPS), with {} highlighted noises. Bottom: those samples across tau. \
             Data: {data}.",
            c.noises,
            c.euler_steps,
            match c.data {
                ImageData::Digits => "1500".to_string(),
                _ => "whole".to_string(),
            },
            c.steps,
            c.highlighted
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn trains(&self) -> bool {
        true
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        let c = plan(ctx.profile);
        let cost = c.steps as f64 * if ctx.profile == Profile::Paper { 0.1 } else { 0.005 } + 10.0;
        Ok(vec![CellSpec::new(c.data.name(), &c, cost)])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let set = ImageSet::load(ctx, cfg.data)?;
        let evaluator = Evaluator::new(ctx, &set)?;
        let n = set.train.rows();
        let config = learned::train_config(
            ctx.profile,
            learned::network(ctx.profile, None),
            Target::Cfm,
            cfg.steps,
            0,
            n,
        );
        let trained =
            learned::train(ctx, &config, &set.train, Some(set.shape), &learned::identity(cfg.data, n))?;
        let network = trained.field()?;
        let closed = ClosedForm::new(set.train.clone())?;
        let train_features = evaluator.features(&set.train)?;
        let d = set.train.cols();
        let x0 =
            Matrix::from_vec(cfg.noises, d, ctx.stream("fig3").derive("noise").normal_vec(cfg.noises * d))?;
        let name = cfg.data.name();
        let mut table = TableBuilder::new(&["dataset", "tau", "sample", "index", "statistic", "value"]);
        bar.set_length(cfg.taus.len() as u64);
        for &tau in &cfg.taus {
            let hybrid = Hybrid { first: &closed, second: &network, tau };
            let x = integrate(&hybrid, &x0, Solver::Euler { steps: cfg.euler_steps }, false)?.x;
            let pixel = knn(&x, &set.train, 1, false)?;
            let feature = knn(&evaluator.features(&x)?, &train_features, 1, false)?;
            let mem = memorization(&x, &set.train, COPY_THRESHOLD)?;
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            table.push(row![name, tau, -1i64, 0usize, "mean_pixel_distance", mean(&pixel.dist)]);
            table.push(row![name, tau, -1i64, 0usize, "mean_feature_distance", mean(&feature.dist)]);
            table.push(row![name, tau, -1i64, 0usize, "fraction_memorized", mem.summary.fraction_memorized]);
            for i in 0..cfg.highlighted {
                table.push(row![name, tau, i as i64, 0usize, "pixel_distance", pixel.dist[i]]);
                for (k, &v) in x.row(i).iter().enumerate() {
                    table.push(row![name, tau, i as i64, k, "image", v as f64]);
                }
            }
            bar.inc(1);
        }
        table.finish()
    }
}

/// C7: the hybrid stays as novel as the network for small tau, and is a training image for
/// larger tau. With `D(tau)` the mean pixel distance and `N = (D - D(1)) / (D(0) - D(1))`:
/// `tau_novel` is the last tau of the initial run with `N >= 0.8`, `tau_copy` the first tau
/// from which `N <= 0.1` for good.
fn c7(df: &DataFrame) -> Result<Measured> {
    let rows = filter_eq(df, "statistic", "mean_pixel_distance")?;
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
    Ok(Measured {
        value: format!(
            "mean pixel distance {d0:.3} at tau = 0, {d1:.3} at tau = 1; as novel as the network (>= 80% of the \
             way) up to tau = {tau_novel:.2}; a training image (<= 10%) from tau = {tau_copy:.2} (paper, \
             CIFAR-10: ~0.2 and ~0.4)"
        ),
        threshold: "tau_novel >= 0.1, tau_copy <= 0.9, tau_novel < tau_copy".into(),
        pass: tau_novel >= 0.1 && tau_copy <= 0.9 && tau_novel < tau_copy,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![Claim {
        id: "C7",
        figure: "fig3",
        statement: "Hybrid sampler: up to tau ~ 0.2 the hybrid is as novel as u_theta; above it the distance to \
                    the training set drops; from tau ~ 0.4 the output is essentially the tau = 1 training image.",
        paper: "Fig. 3, CIFAR-10 and CelebA-64: transition between tau ~ 0.2 and ~ 0.4",
        check: c7,
    }]
}
