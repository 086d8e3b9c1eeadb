//! Fig. 2: from memorization to generalization as the training set grows.
//!
//! Fixed-capacity networks trained with CFM (Algorithm 1) on the first `n` training points, for
//! `n` on a log grid. Per `n`:
//! - the error `E ||u_theta(x_t, t) - u*(x_t, t)||^2` against `t` (x0 ~ N(0, I), x1 from the
//!   subset, `u*` the closed form over the subset): where the network fails to fit the closed
//!   form, it can generalize (claim C5);
//! - the Fréchet distance of 1000 generated samples to the held-out test set, in the feature
//!   space of a classifier trained here and in pixel space (the paper: FID-10k with DINOv2);
//! - the mean distance of samples to their nearest training point, beside the mean distance of
//!   training points to their nearest other training point (the paper's dashed line), and the
//!   fraction of samples that are copies by the ratio test `d1 / d2 < 1/3` (claim C6).
//!
//! Beyond the paper, the memorized fraction over a grid of `n` x network width (a phase
//! diagram), so the transition is shown where it lies rather than where one width puts it.
//!
//! Table: `dataset, n, width, t, statistic, value`. `statistic = error` rows are per time `t`;
//! the others (`fd_feature_test`, `fd_pixel_test`, `energy_test`, `mean_d1`, `fraction_memorized`,
//! `train_to_train_subset`, `train_to_train_full`, `classifier_accuracy`) have `t = 0`. Image
//! sets have the feature distance, the whole split's train-to-train distance and the
//! classifier's accuracy; two-moons has the energy distance to held-out points instead.

use cfm_core::ClosedForm;
use cfm_core::datasets::two_moons;
use cfm_core::metrics::{
    COPY_THRESHOLD, energy_distance, frechet_distance, memorization, train_to_train_distance,
};
use cfm_core::targets::interpolate;
use cfm_nn::{MlpConfig, ModelConfig, Target};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::common::{grid, pairs};
use super::learned::{self, Evaluator, ImageData, ImageSet};
use crate::claims::{Claim, Measured};
use crate::figure::{CellSpec, Figure};
use crate::table::{TableBuilder, distinct, f64s, filter_eq};
use crate::{Context, Error, Profile, Result, row};

/// Points of two-moons generated once; subsets are their first `n`.
const MOONS_POOL: usize = 50_000;
/// Held-out two-moons points for the distances to "test".
const MOONS_TEST: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Data {
    Images(ImageData),
    TwoMoons,
}

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: Data,
    n: usize,
    width: usize,
    steps: u64,
    pairs: usize,
    times: Vec<f64>,
    samples: usize,
    sample_steps: usize,
}

struct Plan {
    images: ImageData,
    sizes: Vec<usize>,
    width: usize,
    phase_widths: Vec<usize>,
    moons: Vec<usize>,
    steps: u64,
    pairs: usize,
    times: Vec<f64>,
    samples: usize,
}

fn plan(profile: Profile) -> Plan {
    match profile {
        Profile::Smoke => Plan {
            images: ImageData::Digits,
            sizes: vec![10, 100],
            width: 64,
            phase_widths: vec![32],
            moons: vec![4, 400],
            steps: 200,
            pairs: 32,
            times: grid(0.1, 0.9),
            samples: 200,
        },
        Profile::Quick => Plan {
            images: ImageData::Digits,
            sizes: vec![10, 30, 100, 300, 1000, 1500],
            width: 256,
            phase_widths: vec![32, 64, 128],
            moons: vec![4, 40, 400, 4_000, 50_000],
            steps: 4000,
            pairs: 256,
            times: grid(0.02, 0.98),
            samples: 1000,
        },
        Profile::Paper => Plan {
            images: ImageData::Cifar10,
            sizes: vec![10, 100, 1000, 2000, 3000, 4000, 5000, 10000],
            width: 0,
            phase_widths: vec![],
            moons: vec![4, 40, 400, 4_000, 50_000],
            steps: 50_000,
            pairs: 256,
            times: grid(0.02, 0.98),
            samples: 10_000,
        },
    }
}

/// The network of a cell: the profile's image network (of the given width on the CPU profiles),
/// or the official toy MLP for two-moons.
fn model(profile: Profile, data: Data, width: usize) -> ModelConfig {
    match data {
        Data::TwoMoons => ModelConfig::Mlp(MlpConfig::toy()),
        Data::Images(_) => learned::network(profile, (width > 0).then_some(width)),
    }
}

/// The figure.
pub struct Fig2;

impl Figure for Fig2 {
    fn id(&self) -> &'static str {
        "fig2"
    }
    fn title(&self) -> &'static str {
        "From memorization to generalization: networks trained on n points"
    }
    fn paper(&self) -> &'static str {
        "Fig. 2: U-Nets trained with CFM on CIFAR-10 subsets of n = 10 ... 10000 images. Left: E||u_theta - u*||^2 against t, growing with n and concentrated at early times (t ~ 0.15) and near t = 1. Middle: FID-10k (DINOv2). Right: mean distance of samples to their nearest training image, rising to the train-to-train level past n ~ 3000."
    }
    fn caption(&self, profile: Profile) -> String {
        let p = plan(profile);
        let net = match profile {
            Profile::Paper => "the paper's U-Net".to_string(),
            _ => format!("an MLP ({} wide, 3 hidden layers) on flattened 8x8 digits", p.width),
        };
        format!(
            "CFM-trained networks ({net}; {} steps of 128) on the first n training images of {} (n = {:?}) \
             and on two-moons (n = {:?}). Error E||u_theta - u*||^2 against t over {} pairs; Fréchet distance \
             of {} samples (Euler, 100 steps) to the held-out test set in the features of a classifier trained \
             here (replacing DINOv2) and in pixel space; mean distance of samples to the nearest training image \
             (dashed: training image to nearest other training image, whole split); fraction of copies \
             (d1/d2 < 1/3). Phase diagram: fraction of copies over n x width{}.",
            p.steps,
            p.images.name(),
            p.sizes,
            p.moons,
            p.pairs,
            p.samples,
            if p.phase_widths.is_empty() {
                " (not run at this profile)".to_string()
            } else {
                format!(" (widths {:?} and {})", p.phase_widths, p.width)
            }
        )
    }
    fn revision(&self) -> u32 {
        1
    }
    fn trains(&self) -> bool {
        true
    }
    fn cells(&self, ctx: &Context) -> Result<Vec<CellSpec>> {
        let p = plan(ctx.profile);
        let cell = |data: Data, n: usize, width: usize| CellConfig {
            data,
            n,
            width,
            steps: p.steps,
            pairs: p.pairs,
            times: p.times.clone(),
            samples: p.samples,
            sample_steps: 100,
        };
        let per_step = if ctx.profile == Profile::Paper { 0.1 } else { 0.005 };
        let mut cells = Vec::new();
        for &w in std::iter::once(&p.width).chain(&p.phase_widths) {
            for &n in &p.sizes {
                let cost = p.steps as f64 * per_step * (w.max(64) as f64 / 256.0) + 3.0;
                let label = format!("{} n={n} width={w}", p.images.name());
                cells.push(CellSpec::new(label, &cell(Data::Images(p.images), n, w), cost));
            }
        }
        for &n in &p.moons {
            let cost = p.steps as f64 * 0.001 + 1.0;
            cells.push(CellSpec::new(format!("two-moons n={n}"), &cell(Data::TwoMoons, n, 64), cost));
        }
        Ok(cells)
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let s = ctx.stream("fig2").derive(&cell.label);
        // Training subset, held-out set, and the full training split for the reference distance.
        let (name, train, test, full, shape, identity, evaluator) = match cfg.data {
            Data::Images(images) => {
                let set = ImageSet::load(ctx, images)?;
                let evaluator = Evaluator::new(ctx, &set)?;
                let train = set.subset(cfg.n)?;
                (
                    images.name(),
                    train,
                    set.test.clone(),
                    set.train.clone(),
                    Some(set.shape),
                    learned::identity(images, cfg.n),
                    Some(evaluator),
                )
            }
            Data::TwoMoons => {
                let pool = two_moons(MOONS_POOL, &mut ctx.stream("data").derive("fig2-two-moons"));
                let test = two_moons(MOONS_TEST, &mut ctx.stream("data").derive("fig2-two-moons-test"));
                let train = pool.slice_rows(0, cfg.n);
                ("two-moons", train, test, pool, None, format!("two-moons pool[0..{}]", cfg.n), None)
            }
        };
        let config = learned::train_config(
            ctx.profile,
            model(ctx.profile, cfg.data, cfg.width),
            Target::Cfm,
            cfg.steps,
            0,
            train.rows(),
        );
        let trained = learned::train(ctx, &config, &train, shape, &identity)?;
        let field = trained.field()?;
        let cf = ClosedForm::new(train.clone())?;
        let mut table = TableBuilder::new(&["dataset", "n", "width", "t", "statistic", "value"]);
        let (n, w) = (cfg.n, cfg.width);
        bar.set_length(cfg.times.len() as u64 + 1);
        for (k, &t) in cfg.times.iter().enumerate() {
            let (x0, x1) = pairs(&train, cfg.pairs, &s.derive("pairs").derive_index(k as u64));
            let ts = vec![t; cfg.pairs];
            let xt = interpolate(&x0, &x1, &ts);
            let exact = cf.evaluate(&xt, &ts, false)?.velocity;
            let net = field.evaluate(&xt, &ts)?;
            let err = exact
                .iter_rows()
                .zip(net.iter_rows())
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>())
                .sum::<f64>()
                / cfg.pairs as f64;
            table.push(row![name, n, w, t, "error", err]);
            bar.inc(1);
        }
        let samples = learned::sample(&field, cfg.samples, cfg.sample_steps, &s.derive("noise"))?;
        let mem = memorization(&samples, &train, COPY_THRESHOLD)?;
        let mut scalar = |stat: &str, v: f64| table.push(row![name, n, w, 0.0, stat, v]);
        scalar("mean_d1", mem.summary.mean_d1);
        scalar("fraction_memorized", mem.summary.fraction_memorized);
        scalar("train_to_train_subset", train_to_train_distance(&train)?);
        match &evaluator {
            Some(ev) => {
                scalar("train_to_train_full", train_to_train_distance(&full)?);
                let fd = ev.distances(&samples)?;
                scalar("fd_feature_test", fd.feature_test);
                scalar("fd_pixel_test", fd.pixel_test);
                scalar("classifier_accuracy", ev.accuracy());
            }
            None => {
                scalar("fd_pixel_test", frechet_distance(&samples, &test)?);
                scalar("energy_test", energy_distance(&samples, &test)?);
            }
        }
        bar.inc(1);
        table.finish()
    }
}

/// Rows of `statistic` for the image dataset at the main width, as `(n, value)` sorted by `n`.
fn by_n(df: &DataFrame, statistic: &str) -> Result<(String, Vec<(f64, f64)>)> {
    let images = distinct(df, "dataset")?
        .into_iter()
        .find(|d| d != "two-moons")
        .ok_or_else(|| Error::invalid("no image dataset in the fig2 table"))?;
    let rows = filter_eq(&filter_eq(df, "dataset", &images)?, "statistic", statistic)?;
    let widths = f64s(&rows, "width")?;
    let main = widths.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut pts: Vec<(f64, f64)> = f64s(&rows, "n")?
        .into_iter()
        .zip(f64s(&rows, "value")?)
        .zip(widths)
        .filter(|(_, w)| *w == main)
        .map(|(p, _)| p)
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok((images, pts))
}

/// Spearman rank correlation (no ties expected).
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        idx.iter().enumerate().for_each(|(k, &i)| r[i] = k as f64);
        r
    };
    let (rx, ry) = (rank(x), rank(y));
    let n = x.len() as f64;
    1.0 - 6.0 * rx.iter().zip(&ry).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / (n * (n * n - 1.0))
}

/// C5: the time-averaged error grows with n, and for the largest n it peaks early.
fn c5(df: &DataFrame) -> Result<Measured> {
    let images = by_n(df, "error")?.0;
    let rows = filter_eq(&filter_eq(df, "dataset", &images)?, "statistic", "error")?;
    let main = f64s(&rows, "width")?.into_iter().fold(f64::NEG_INFINITY, f64::max);
    let mut ns: Vec<f64> = Vec::new();
    let mut means = Vec::new();
    let mut largest: Vec<(f64, f64)> = Vec::new();
    let all_n = f64s(&rows, "n")?;
    let max_n = all_n.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for n in distinct(&rows, "n")? {
        let r = filter_eq(&filter_eq(&rows, "n", &n)?, "width", &main.to_string())?;
        let (ts, vs) = (f64s(&r, "t")?, f64s(&r, "value")?);
        let nv: f64 = n.parse().map_err(|_| Error::invalid("bad n"))?;
        ns.push(nv);
        means.push(vs.iter().sum::<f64>() / vs.len() as f64);
        if nv == max_n {
            largest = ts.into_iter().zip(vs).collect();
        }
    }
    let rho = spearman(&ns, &means);
    let peak = largest
        .iter()
        .filter(|p| p.0 <= 0.9)
        .fold((f64::NAN, f64::NEG_INFINITY), |b, p| if p.1 > b.1 { *p } else { b });
    Ok(Measured {
        value: format!(
            "{images}: Spearman(n, time-averaged error) = {rho:.2}; for n = {max_n}, the error over t <= 0.9 peaks at t = {:.2}",
            peak.0
        ),
        threshold: "Spearman >= 0.8, and the peak at t <= 0.4".into(),
        pass: rho >= 0.8 && peak.0 <= 0.4,
    })
}

/// C6: copies at the smallest n, novel samples at the largest.
fn c6(df: &DataFrame) -> Result<Measured> {
    let (images, d1) = by_n(df, "mean_d1")?;
    let (_, frac) = by_n(df, "fraction_memorized")?;
    let base =
        f64s(&filter_eq(&filter_eq(df, "dataset", &images)?, "statistic", "train_to_train_full")?, "value")?
            [0];
    let (small, large) = (d1.first().copied(), d1.last().copied());
    let (Some(small), Some(large)) = (small, large) else {
        return Err(Error::invalid("no mean_d1 rows"));
    };
    let frac_small = frac.first().map_or(f64::NAN, |p| p.1);
    let transition = frac.iter().find(|p| p.1 < 0.5).map_or("none".to_string(), |p| format!("n = {}", p.0));
    Ok(Measured {
        value: format!(
            "{images}: n = {}: {:.0}% copies, mean d1 = {:.2} x train-to-train; n = {}: mean d1 = {:.2} x train-to-train; \
             copies first below 50% at {transition} (paper: ~3000 on CIFAR-10)",
            small.0,
            100.0 * frac_small,
            small.1 / base,
            large.0,
            large.1 / base
        ),
        threshold: "smallest n: >= 90% copies and mean d1 <= 0.2 x train-to-train; largest n: mean d1 >= 0.5 x train-to-train".into(),
        pass: frac_small >= 0.9 && small.1 <= 0.2 * base && large.1 >= 0.5 * base,
    })
}

/// The claims this figure decides.
pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            id: "C5",
            figure: "fig2",
            statement: "The network approximates u* well for small n and worse as n grows; the error concentrates \
                        at early times and near t = 1.",
            paper: "Fig. 2 left, CIFAR-10: error grows with n and peaks around t ~ 0.15",
            check: c5,
        },
        Claim {
            id: "C6",
            figure: "fig2",
            statement: "Memorization to generalization: for small n samples are copies of training points; past a \
                        threshold n their distance to the training set rises towards the train-to-train distance.",
            paper: "Fig. 2 right, CIFAR-10: transition around n ~ 3000",
            check: c6,
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn spearman_of_monotone_and_reversed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((super::spearman(&x, &[10.0, 20.0, 25.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((super::spearman(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }
}
