//! The cost of EFM (App. D.1 of the paper, beyond its figures): time of a training step against
//! the number of references `M`, fitted to the paper's cost model for a batch of `b` samples
//!
//! ```text
//! t(M) = b (a + M c)          paper (NVIDIA L4, CIFAR-10 U-Net): a = 4.3 ms, c = 0.9 us
//! ```
//!
//! by least squares over the `M` grid (`b a` the intercept, `b c` the slope, `R^2` the share of
//! the variance of the step times the line explains). The overhead of EFM-M is
//! `100 (t(M) / t(1) - 1)` % (`M = 1` is CFM computed by the EFM code path); the paper's model
//! gives `100 (M - 1) c / (a + c)`: +2% per 100 references, 2.7% at M = 128, ~17% measured at
//! M = 1000. Claim C10.
//!
//! One cell per network: a [`Trainer`] per `M` (batch [`BATCH`], paper reference mode) on the
//! training images; for `warmup + repeats` rounds each trainer in turn times the construction
//! of its next minibatch and regression target ([`Trainer::batch`], which is what EFM changes)
//! and then its whole next step ([`Trainer::step`], which draws that minibatch again, then
//! forward, backward, Adam and EMA) with [`std::time::Instant`]; the first `warmup` rounds are
//! dropped and the median of the others kept. Interleaving the `M` values spreads load changes
//! of the machine over all of them. The EFM target is computed on the CPU in every profile.
//! Timings depend on the machine and its load: they are not reproducible bit for bit (the
//! snapshot test checks the schema and the grid only), and a finished cell is cached like any
//! other.
//!
//! # Table
//!
//! | column | meaning |
//! |---|---|
//! | `model` | `mlp`, `unet` ([`Network`]), or `paper` (the paper's cost model, L4 GPU, CIFAR-10 U-Net) |
//! | `m` | references `M`; 0 for the fit rows |
//! | `statistic` | per `M`: `step_ms` (median time of a training step), `target_ms` (median time of building the minibatch and its target), `overhead_pct` (`100 (step_ms(M) / step_ms(1) - 1)`); per model at `m = 0`: `a_ms`, `c_us`, `r2` (fit of `step_ms`), `target_c_us`, `target_r2` (fit of `target_ms`: its slope per sample, in us, and `R^2`) |
//! | `value` | the number |
//!
//! [`push_timings`] writes a network's rows (a cell's table). The `paper` rows, which
//! [`Figure::summarize`] adds with [`push_paper_model`], are the model's `step_ms = b (a + M c)`,
//! `overhead_pct` and `a_ms`, `c_us` at the table's `M` grid.
//!
//! # View
//!
//! [`View::read`] (in `efm_cost/view.rs`) reads the table once into a [`View`]: a [`NetworkTimes`]
//! per timed network (its step, target and overhead [`Curve`]s against `M`, its [`StepFit`] and
//! [`TargetFit`]) and the [`PaperModel`]. The claims C10a and C10b, the key numbers and the
//! renderer read the view.

mod view;

pub use view::{Curve, Line, NetworkTimes, PaperModel, StepFit, TargetFit, View};

use std::time::Instant;

use cfm_core::efm::RefMode;
use cfm_nn::{ModelConfig, Target, TrainConfig, Trainer, UNetConfig};
use indicatif::ProgressBar;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use cfm_core::datasets::ImageData;

use super::learned;
use crate::claims::{Claim, Decision, Evidence, Measured};
use crate::data::LabelledImages;
use crate::figure::{CellSpec, Figure, KeyTable, Plan};
use crate::stats::{least_squares, median, num};
use crate::table::{Columns, TableBuilder, sorted_unique, unique};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/efm_cost.svg`).
pub const ID: &str = "efm_cost";

/// Column: the timed network, or the paper's cost model.
const MODEL: &str = "model";
/// Column: the number of references `M` (0 for the fit rows).
const M: &str = "m";
/// Column: what the row's value is.
const STATISTIC: &str = "statistic";
/// Column: the number.
const VALUE: &str = "value";
/// Columns of the table.
pub const COLUMNS: [&str; 4] = [MODEL, M, STATISTIC, VALUE];

/// Median time of a training step, in ms.
pub const STEP_MS: &str = "step_ms";
/// Median time of building the minibatch and its target, in ms.
pub const TARGET_MS: &str = "target_ms";
/// `100 (step_ms(M) / step_ms(1) - 1)`.
pub const OVERHEAD_PCT: &str = "overhead_pct";
/// Fit of the step times `b (a + M c)`: `a`, in ms per sample.
pub const A_MS: &str = "a_ms";
/// Fit of the step times: `c`, in us per sample and reference.
pub const C_US: &str = "c_us";
/// Fit of the step times: its `R^2`.
pub const R2: &str = "r2";
/// Fit of the target times: its slope per sample, in us per sample and reference.
pub const TARGET_C_US: &str = "target_c_us";
/// Fit of the target times: its `R^2`.
pub const TARGET_R2: &str = "target_r2";
/// The `model` of the paper's cost model rows.
pub const PAPER_MODEL: &str = "paper";

/// The batch size `b` of every timed step, and of the paper's cost model rows.
pub const BATCH: usize = 128;
/// The paper's cost model (App. D.1): `a` in ms per sample.
pub const PAPER_A_MS: f64 = 4.3;
/// The paper's cost model: `c` in us per sample and reference.
pub const PAPER_C_US: f64 = 0.9;

/// A timed network, as the table's `model` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// The MLP of the profile.
    Mlp,
    /// A U-Net (the paper's network).
    UNet,
}

impl Network {
    /// Both, MLP first.
    pub const ALL: [Network; 2] = [Network::Mlp, Network::UNet];

    /// The network of `model`.
    pub fn of(model: &ModelConfig) -> Network {
        match model {
            ModelConfig::Mlp(_) => Network::Mlp,
            ModelConfig::UNet(_) => Network::UNet,
        }
    }

    /// Name in the table (`mlp`, `unet`).
    pub fn name(self) -> &'static str {
        match self {
            Network::Mlp => "mlp",
            Network::UNet => "unet",
        }
    }

    /// The network named `name` in the table.
    pub fn parse(name: &str) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.name() == name)
    }

    /// Name in the claims' text (`MLP`, `U-Net`).
    fn label(self) -> &'static str {
        match self {
            Network::Mlp => "MLP",
            Network::UNet => "U-Net",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CellConfig {
    data: ImageData,
    /// The timed runs' training configuration (network, batch, optimiser); each `M` of `ms`
    /// sets its target.
    train: TrainConfig,
    ms: Vec<usize>,
    warmup: usize,
    repeats: usize,
}

struct CostPlan {
    profile: Profile,
    cells: Vec<CellConfig>,
}

fn plan(profile: Profile) -> CostPlan {
    let grid = vec![1, 32, 128, 256, 512, 1000];
    let cell = |data: ImageData, model, ms: &Vec<usize>, warmup, repeats| {
        let steps = (warmup + repeats) as u64;
        let mut train = learned::train_config(profile, model, Target::Cfm, steps, 0, data.sizes().0);
        train.batch_size = BATCH;
        CellConfig { data, train, ms: ms.clone(), warmup, repeats }
    };
    let cells = match profile {
        Profile::Smoke => vec![
            cell(ImageData::Digits, learned::network(profile, None), &vec![1, 32, 128], 1, 3),
            cell(ImageData::Digits, ModelConfig::UNet(UNetConfig::tiny()), &vec![1, 32, 128], 1, 1),
        ],
        Profile::Quick => vec![
            cell(ImageData::Digits, learned::network(profile, None), &grid, 3, 30),
            cell(ImageData::Digits, ModelConfig::UNet(UNetConfig::tiny()), &grid, 2, 5),
        ],
        Profile::Paper => vec![cell(ImageData::Cifar10, learned::network(profile, None), &grid, 5, 20)],
    };
    CostPlan { profile, cells }
}

impl Plan for CostPlan {
    fn cells(&self, _ctx: &Context) -> Result<Vec<CellSpec>> {
        Ok(self
            .cells
            .iter()
            .map(|c| {
                let per_step = match &c.train.model {
                    ModelConfig::Mlp(_) => 0.015,
                    ModelConfig::UNet(u) if u.channels <= 8 => 0.3,
                    ModelConfig::UNet(_) => 1.0,
                };
                let cost = (c.ms.len() * (c.warmup + c.repeats)) as f64 * per_step + 1.0;
                CellSpec::new(Network::of(&c.train.model).name(), c, cost, 3 * c.ms.len() + 5)
                    .reading([c.data])
            })
            .collect())
    }
    fn caption(&self) -> String {
        let runs: Vec<String> = self
            .cells
            .iter()
            .map(|c| {
                format!(
                    "{} on {} (median of {} steps after {} warm-up), M in {:?}",
                    learned::describe(&c.train.model),
                    c.data.name(),
                    c.repeats,
                    c.warmup,
                    c.ms
                )
            })
            .collect();
        let device = if self.profile == Profile::Paper {
            "the GPU when there is one (EFM targets on the CPU)"
        } else {
            "2 CPU cores"
        };
        format!(
            "Median time of a training step (batch b = 128, EFM paper references) against the number of \
             references M, and its least-squares fit t(M) = b (a + M c); overhead in % of the M = 1 (CFM) \
             step. Paper (App. D.1, L4 GPU, CIFAR-10 U-Net): a = 4.3 ms, c = 0.9 us, EFM-128 < 3%, \
             EFM-1000 ~17%. Here: {}; on {device}. Wall-clock timings: machine- and load-dependent.",
            runs.join("; ")
        )
    }
}

/// The least-squares line through the points `(M, time)`: `(intercept, slope, R^2)`.
fn fit(ms: &[f64], times: &[f64]) -> (f64, f64, f64) {
    least_squares(&ms.iter().copied().zip(times.iter().copied()).collect::<Vec<_>>())
}

/// The figure.
pub struct EfmCost;

impl Figure for EfmCost {
    fn id(&self) -> &'static str {
        ID
    }
    fn title(&self) -> &'static str {
        "EFM overhead per training step against M, with the paper's cost model b (a + M c)"
    }
    fn paper(&self) -> Option<&'static str> {
        Some(
            "App. D.1: the cost per batch of b samples is about b (4.3 ms + M 0.9 us) on an NVIDIA L4 with the \
             CIFAR-10 U-Net: about +2% per 100 references, EFM-128 < 3%, EFM-1000 ~17%.",
        )
    }
    fn timings(&self) -> bool {
        true
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
        let paper = "App. D.1: b (4.3 ms + M 0.9 us) per batch on an L4 GPU (CIFAR-10 U-Net): about +2% per 100 \
                     references, EFM-128 < 3%, EFM-1000 ~17%";
        vec![
            Claim {
                id: "C10a",
                short: "The EFM target's cost is linear in M and small next to a step.",
                figure: ID,
                statement: "The cost of the EFM target grows linearly in M and stays small next to a \
                            forward/backward pass.",
                paper,
                on: &[],
                reads: &[],
                regime: "Building the target is one (b x d)(d x M) product and a softmax: linear in M by \
                         construction; on a CPU the U-Net's step is slow, so the overhead's share is smaller \
                         than on the paper's GPU.",
                check: c10a,
            },
            Claim {
                id: "C10b",
                short: "Whole steps cost b (a + M c): at most +3% at M = 128.",
                figure: ID,
                statement: "Whole training steps take b (a + M c): linear in M, +3% at most at M = 128.",
                paper,
                on: &[],
                reads: &[],
                regime: "The overhead at M = 128 is a few per cent of a U-Net step, smaller on a shared CPU than \
                         the run-to-run noise of the step itself: the whole-step fit cannot resolve it, and the \
                         claim is then INCONCLUSIVE (C10a reads the overhead directly).",
                check: c10b,
            },
        ]
    }
    fn key_numbers(&self, df: &DataFrame) -> Result<Vec<KeyTable>> {
        let view = View::read(df)?;
        let mut k = KeyTable::new(
            "",
            &[
                "model",
                "step ms at M = 1",
                "overhead M = 128",
                "M = 1000",
                "fit of step times b (a + M c)",
                "target time per sample and reference",
            ],
        );
        for n in &view.networks {
            let StepFit { a_ms, c_us, r2 } = n.step_fit;
            let target = format!("{} us (R^2 {})", num(n.target_fit.c_us, 3), num(n.target_fit.r2, 4));
            k.rows.push(key_row(n.network.name(), &n.step, &n.overhead, a_ms, c_us, Some(r2), target));
        }
        let p = &view.paper;
        k.rows.push(key_row(PAPER_MODEL, &p.step, &p.overhead, p.a_ms, p.c_us, None, "-".into()));
        Ok(vec![k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let set = LabelledImages::load(ctx, cfg.data)?;
        let mut trainers = trainers(&cfg, &set)?;
        let (step_ms, target_ms) = time_rounds(&cfg, &mut trainers, bar)?;
        let mut table = TableBuilder::new(&COLUMNS);
        let network = Network::of(&cfg.train.model);
        push_timings(&mut table, network, &cfg.ms, cfg.train.batch_size, &step_ms, &target_ms);
        table.finish()
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let cells = Columns::new(ID, table, &COLUMNS)?;
        let (ms, stats) = (cells.num(M)?, cells.text(STATISTIC)?);
        let grid = sorted_unique((0..ms.len()).filter(|&i| stats[i] == STEP_MS).map(|i| ms[i]));
        let mut out = TableBuilder::new(&COLUMNS);
        push_paper_model(&mut out, &grid.into_iter().map(|m| m as usize).collect::<Vec<_>>());
        Ok(Some(out.finish()?))
    }
}

/// A row of the key numbers: step time at `M = 1`, overheads at 128 and 1000, the fit of the
/// step times and the target-time column.
fn key_row(
    model: &str,
    step: &Curve,
    overhead: &Curve,
    a_ms: f64,
    c_us: f64,
    r2: Option<f64>,
    target: String,
) -> Vec<String> {
    let pct = |v: Option<f64>| match v {
        Some(v) if v.is_finite() => format!("{v:+.1}%"),
        _ => "-".into(),
    };
    let r2 = r2.map_or_else(|| "n/a".into(), |r2| num(r2, 3));
    vec![
        model.to_string(),
        num(step.at(1.0).unwrap_or(f64::NAN), 3),
        pct(overhead.at(128.0)),
        pct(overhead.at(1000.0)),
        format!("a = {} ms, c = {} us, R^2 {r2}", num(a_ms, 3), num(c_us, 3)),
        target,
    ]
}

/// One trainer per `M` of the cell, in the order of `cfg.ms`, each with the EFM target of its
/// `M` (paper reference mode).
fn trainers<'a>(cfg: &CellConfig, set: &'a LabelledImages) -> Result<Vec<Trainer<'a>>> {
    let device = cfm_nn::default_device()?;
    let mut trainers = Vec::with_capacity(cfg.ms.len());
    for &m in &cfg.ms {
        let train = TrainConfig { target: Target::Efm { m, refs: RefMode::Paper }, ..cfg.train.clone() };
        trainers.push(Trainer::new(&train, &set.train, Some(set.shape), &device)?);
    }
    Ok(trainers)
}

/// Times `warmup + repeats` rounds of every trainer in turn: building its next minibatch and
/// target, then its whole next step. The medians over the rounds after the warm-up, per
/// trainer, in ms: `(step, target)`.
fn time_rounds(
    cfg: &CellConfig,
    trainers: &mut [Trainer<'_>],
    bar: &ProgressBar,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let rounds = cfg.warmup + cfg.repeats;
    let mut step_ms = vec![Vec::with_capacity(cfg.repeats); trainers.len()];
    let mut target_ms = step_ms.clone();
    bar.set_length(rounds as u64);
    for round in 0..rounds {
        for (i, trainer) in trainers.iter_mut().enumerate() {
            let start = Instant::now();
            trainer.batch(trainer.steps_done())?;
            let target = start.elapsed().as_secs_f64() * 1e3;
            let start = Instant::now();
            trainer.step()?;
            let step = start.elapsed().as_secs_f64() * 1e3;
            if round >= cfg.warmup {
                step_ms[i].push(step);
                target_ms[i].push(target);
            }
        }
        bar.inc(1);
    }
    let medians = |times: &[Vec<f64>]| times.iter().map(|v| median(v)).collect();
    Ok((medians(&step_ms), medians(&target_ms)))
}

/// Appends the rows of `network` timed at the references `ms` with batch size `batch`: per `M`
/// its median step and target times (`step`, `target`, in ms) and the step's overhead over the
/// first `M`, then the fits of both times at `m = 0`.
pub fn push_timings(
    table: &mut TableBuilder,
    network: Network,
    ms: &[usize],
    batch: usize,
    step: &[f64],
    target: &[f64],
) {
    let name = network.name();
    for (i, &m) in ms.iter().enumerate() {
        table.push(row![name, m, STEP_MS, step[i]]);
        table.push(row![name, m, TARGET_MS, target[i]]);
        table.push(row![name, m, OVERHEAD_PCT, 100.0 * (step[i] / step[0] - 1.0)]);
    }
    let ms: Vec<f64> = ms.iter().map(|&m| m as f64).collect();
    let b = batch as f64;
    let (intercept, slope, r2) = fit(&ms, step);
    let (_, target_slope, target_r2) = fit(&ms, target);
    for (stat, v) in [
        (A_MS, intercept / b),
        (C_US, slope / b * 1e3),
        (R2, r2),
        (TARGET_C_US, target_slope / b * 1e3),
        (TARGET_R2, target_r2),
    ] {
        table.push(row![name, 0usize, stat, v]);
    }
}

/// Appends the paper's cost model at the references `grid`: per `M` its step time
/// `b (a + M c)` and overhead `100 (M - 1) c / (a + c)`, then its `a` and `c` at `m = 0`.
pub fn push_paper_model(table: &mut TableBuilder, grid: &[usize]) {
    let c_ms = PAPER_C_US * 1e-3;
    for &m in grid {
        table.push(row![PAPER_MODEL, m, STEP_MS, BATCH as f64 * (PAPER_A_MS + m as f64 * c_ms)]);
        table.push(row![PAPER_MODEL, m, OVERHEAD_PCT, 100.0 * (m as f64 - 1.0) * c_ms / (PAPER_A_MS + c_ms)]);
    }
    table.push(row![PAPER_MODEL, 0usize, A_MS, PAPER_A_MS]);
    table.push(row![PAPER_MODEL, 0usize, C_US, PAPER_C_US]);
}

/// What C10 reads of one network: the fits of its step and target times, its overheads at 128
/// and 1000, and its extra target time at 128.
struct Overheads {
    step_fit: StepFit,
    target_fit: TargetFit,
    at_128: f64,
    at_1000: Option<f64>,
    /// `(target_ms(128) - target_ms(1)) / step_ms(1)`, in percent.
    target_at_128: f64,
}

/// The overheads of `times`, which needs step and target times at M = 1, 128 and a third M.
fn overheads(times: &NetworkTimes) -> Result<Overheads> {
    let name = times.network.name();
    for (stat, curve) in [(STEP_MS, &times.step), (TARGET_MS, &times.target)] {
        if curve.0.len() < 3 || curve.at(1.0).is_none() || curve.at(128.0).is_none() {
            return Err(Error::malformed(ID, format!("{name} needs {stat} at M = 1, 128 and a third M")));
        }
    }
    let at_128 = times
        .overhead
        .at(128.0)
        .ok_or_else(|| Error::malformed(ID, format!("{name} has no {OVERHEAD_PCT} at M = 128")))?;
    Ok(Overheads {
        step_fit: times.step_fit,
        target_fit: times.target_fit,
        at_128,
        at_1000: times.overhead.at(1000.0),
        target_at_128: times.target_share(128.0).expect("checked"),
    })
}

/// The U-Net's overheads and their description (with the MLP's when timed).
fn measure(view: &View) -> Result<(Overheads, String)> {
    let describe = |times: &NetworkTimes| -> Result<(Overheads, String)> {
        let o = overheads(times)?;
        let at_1000 = o.at_1000.map_or("-".into(), |v| format!("{v:+.1}%"));
        let text = format!(
            "{}: EFM target time linear in M with R^2 = {:.4} (c = {:.3} us per sample and reference); extra \
             target time at M = 128 = {:.1}% of a step; whole-step fit R^2 = {:.3}, a = {:.3} ms, c = {:.3} us, \
             step overhead {:+.1}% at M = 128, {at_1000} at M = 1000",
            times.network.label(),
            o.target_fit.r2,
            o.target_fit.c_us,
            o.target_at_128,
            o.step_fit.r2,
            o.step_fit.a_ms,
            o.step_fit.c_us,
            o.at_128
        );
        Ok((o, text))
    };
    let unet = view.network(Network::UNet).ok_or_else(|| Error::malformed(ID, "no U-Net timings"))?;
    let (unet, mut value) = describe(unet)?;
    if let Some(mlp) = view.network(Network::Mlp) {
        value.push_str(&format!("; {}", describe(mlp)?.1));
    }
    Ok((unet, value))
}

/// The R^2 from which the whole-step fit of C10b is read.
pub const STEP_FIT_R2: f64 = 0.9;

/// C10a on the U-Net (the paper's setting). Linearity is read off the time to build the EFM
/// targets, which is the overhead itself; "small" compares the extra target time at M = 128
/// with a whole step at M = 1.
fn c10a(e: &Evidence, _: &str) -> Result<Measured> {
    let (unet, value) = measure(&View::read(&e.table)?)?;
    Ok(Measured::new(
        value,
        format!(
            "U-Net: EFM target time linear in M with R^2 = {:.4} (needs >= 0.9); extra time at M = 128 {:.1}% of a \
             step (needs < 3%)",
            unet.target_fit.r2, unet.target_at_128
        ),
        "U-Net: target time linear in M (R^2 >= 0.9) and extra time at M = 128 < 3% of a step \
         (paper: EFM-128 < 3%, EFM-1000 ~17%, a = 4.3 ms, c = 0.9 us)",
        unet.target_fit.r2 >= 0.9 && unet.target_at_128 < 3.0,
    ))
}

/// C10b on the U-Net: the whole step's time fits `b (a + M c)` (R^2 >= [`STEP_FIT_R2`]) and
/// the step at M = 128 is at most 3% slower than at M = 1. A fit below the R^2 is INCONCLUSIVE:
/// the step's own timing noise hides the overhead.
fn c10b(e: &Evidence, _: &str) -> Result<Measured> {
    let (unet, value) = measure(&View::read(&e.table)?)?;
    let r2 = unet.step_fit.r2;
    let mut m = Measured::new(
        value,
        format!(
            "U-Net: whole-step fit R^2 = {r2:.3} (needs >= {STEP_FIT_R2}); step at M = 128 {:+.1}% (needs <= +3%)",
            unet.at_128
        ),
        format!(
            "U-Net: whole-step fit R^2 >= {STEP_FIT_R2} (else INCONCLUSIVE), and the step at M = 128 at most 3% \
             slower than at M = 1"
        ),
        r2 >= STEP_FIT_R2 && unet.at_128 <= 3.0,
    );
    if r2 < STEP_FIT_R2 {
        m.decision = Decision::Inconclusive(format!(
            "the whole-step times fit b (a + M c) with R^2 = {r2:.3} < {STEP_FIT_R2}: the timing noise of a step is \
             larger than the overhead it would measure"
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: [usize; 4] = [1, 32, 128, 1000];

    /// The paper's cost model's step times at [`GRID`].
    fn paper_steps() -> Vec<f64> {
        GRID.iter().map(|&m| 128.0 * (4.3 + m as f64 * 0.0009)).collect()
    }

    /// A table of the U-Net timed at [`GRID`] with `step` and `target` times, then the paper's rows.
    fn table(step: &[f64], target: &[f64]) -> DataFrame {
        let mut t = TableBuilder::new(&COLUMNS);
        push_timings(&mut t, Network::UNet, &GRID, BATCH, step, target);
        push_paper_model(&mut t, &GRID);
        t.finish().unwrap()
    }

    #[test]
    fn fit_recovers_the_paper_model() {
        let x = GRID.map(|m| m as f64);
        let (i, s, r2) = fit(&x, &paper_steps());
        assert!((i / 128.0 - 4.3).abs() < 1e-9 && (s / 128.0 * 1e3 - 0.9).abs() < 1e-9);
        assert!((r2 - 1.0).abs() < 1e-12);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn the_view_holds_the_timings_their_fits_and_the_papers_model() {
        let target = [0.1, 0.5, 2.0, 10.0];
        let view = View::read(&table(&paper_steps(), &target)).unwrap();
        assert_eq!(view.networks.len(), 1);
        let unet = view.network(Network::UNet).unwrap();
        assert!(view.network(Network::Mlp).is_none());
        assert_eq!(unet.step.at(1.0), Some(128.0 * (4.3 + 0.0009)));
        assert_eq!(unet.step.largest().0, 1000.0);
        assert_eq!(unet.step.span(), (1.0, 1000.0));
        assert_eq!(unet.target.at(32.0), Some(0.5));
        assert_eq!(unet.target.at(64.0), None);
        let fit = unet.step_fit;
        assert!(
            (fit.a_ms - 4.3).abs() < 1e-9 && (fit.c_us - 0.9).abs() < 1e-9 && (fit.r2 - 1.0).abs() < 1e-12
        );
        // The overhead of the step at 128 over the step at 1, as the paper's model has it.
        let paper_128 = view.paper.overhead.at(128.0).unwrap();
        assert!((unet.overhead.at(128.0).unwrap() - paper_128).abs() < 1e-9);
        assert!((paper_128 - 100.0 * 127.0 * 0.0009 / 4.3009).abs() < 1e-12);
        assert_eq!((view.paper.a_ms, view.paper.c_us), (PAPER_A_MS, PAPER_C_US));
        // The extra target time at 128 over M = 1, in % of the step at M = 1.
        let share = unet.target_share(128.0).unwrap();
        assert!((share - 100.0 * 1.9 / (128.0 * 4.3009)).abs() < 1e-12, "{share}");
        assert_eq!(unet.target_share(64.0), None);
    }

    #[test]
    fn the_fit_lines_are_the_cost_model_and_pass_through_the_mean_target() {
        let target = [1.0, 2.0, 4.0, 5.0];
        let view = View::read(&table(&paper_steps(), &target)).unwrap();
        let unet = &view.networks[0];
        let step = unet.step_line().unwrap();
        assert!((step.at(1000.0) - 128.0 * (4.3 + 0.9)).abs() < 1e-9);
        let line = unet.target_line().unwrap();
        assert!((line.slope - 128.0 * unet.target_fit.c_us * 1e-3).abs() < 1e-15);
        let mean_m = GRID.iter().sum::<usize>() as f64 / 4.0;
        assert!((line.at(mean_m) - 3.0).abs() < 1e-12);
        // Fewer than two M: no fit, no line.
        let mut t = TableBuilder::new(&COLUMNS);
        push_timings(&mut t, Network::Mlp, &[1], BATCH, &[2.0], &[0.5]);
        push_paper_model(&mut t, &[1]);
        let mlp = &View::read(&t.finish().unwrap()).unwrap().networks[0];
        assert!(mlp.step_line().is_none() && mlp.target_line().is_none());
    }

    #[test]
    fn an_unknown_model_is_named() {
        let mut t = TableBuilder::new(&COLUMNS);
        t.push(row!["gpu-net", 1usize, STEP_MS, 1.0]);
        push_paper_model(&mut t, &[1]);
        let err = View::read(&t.finish().unwrap()).unwrap_err().to_string();
        assert!(err.contains("model 'gpu-net' is neither a timed network (mlp, unet) nor 'paper'"), "{err}");
    }

    #[test]
    fn c10_reads_the_unets_overheads_and_needs_three_references() {
        let target: Vec<f64> = GRID.iter().map(|&m| 0.1 + 128.0 * 0.0009 * m as f64).collect();
        let view = View::read(&table(&paper_steps(), &target)).unwrap();
        let (o, value) = measure(&view).unwrap();
        assert!((o.at_128 - 100.0 * 127.0 * 0.0009 / 4.3009).abs() < 1e-9);
        assert!((o.at_1000.unwrap() - 100.0 * 999.0 * 0.0009 / 4.3009).abs() < 1e-9);
        assert!((o.target_fit.r2 - 1.0).abs() < 1e-12 && (o.step_fit.r2 - 1.0).abs() < 1e-12);
        assert!(value.starts_with("U-Net: EFM target time linear in M with R^2 = 1.0000"), "{value}");
        let mut t = TableBuilder::new(&COLUMNS);
        push_timings(&mut t, Network::UNet, &[1, 128], BATCH, &[1.0, 2.0], &[0.1, 0.2]);
        push_paper_model(&mut t, &[1, 128]);
        let err = measure(&View::read(&t.finish().unwrap()).unwrap()).err().unwrap().to_string();
        assert!(err.contains("unet needs step_ms at M = 1, 128 and a third M"), "{err}");
    }
}
