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
//! One cell per network: a [`Trainer`] per `M` (batch 128, paper reference mode) on the
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
//! | `model` | `mlp`, `unet`, or `paper` (the paper's cost model, L4 GPU, CIFAR-10 U-Net) |
//! | `m` | references `M`; 0 for the fit rows |
//! | `statistic` | per `M`: `step_ms` (median time of a training step), `target_ms` (median time of building the minibatch and its target), `overhead_pct` (`100 (step_ms(M) / step_ms(1) - 1)`); per model at `m = 0`: `a_ms`, `c_us`, `r2` (fit of `step_ms`), `target_c_us`, `target_r2` (fit of `target_ms`: its slope per sample, in us, and `R^2`) |
//! | `value` | the number |
//!
//! The `paper` rows (added by [`Figure::summarize`]) are the model's `step_ms = b (a + M c)`,
//! `overhead_pct` and `a_ms`, `c_us` at the table's `M` grid.

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
use crate::table::{TableBuilder, distinct, f64s, filter_eq, filter_near, first};
use crate::{Context, Error, Profile, Result, row};

/// The figure's id: its command-line name and its files' (`figures/efm_cost.svg`).
pub const ID: &str = "efm_cost";

/// Columns of the table.
pub const COLUMNS: [&str; 4] = ["model", "m", "statistic", "value"];
/// Median time of a training step.
pub const STEP_MS: &str = "step_ms";
/// Median time of building the minibatch and its target.
pub const TARGET_MS: &str = "target_ms";
/// `100 (step_ms(M) / step_ms(1) - 1)`.
pub const OVERHEAD_PCT: &str = "overhead_pct";
/// The `model` of the paper's cost model rows.
pub const PAPER_MODEL: &str = "paper";

/// The paper's cost model (App. D.1): `a` in ms per sample.
pub const PAPER_A_MS: f64 = 4.3;
/// The paper's cost model: `c` in us per sample and reference.
pub const PAPER_C_US: f64 = 0.9;

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

/// Name of a network in the table.
fn model_name(model: &ModelConfig) -> &'static str {
    match model {
        ModelConfig::Mlp(_) => "mlp",
        ModelConfig::UNet(_) => "unet",
    }
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
        train.batch_size = 128;
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
                CellSpec::new(model_name(&c.train.model), c, cost, 3 * c.ms.len() + 5).reading([c.data])
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
        let pct = |v: f64| if v.is_finite() { format!("{v:+.1}%") } else { "-".into() };
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
        for model in distinct(df, "model")? {
            let d = filter_eq(df, "model", &model)?;
            let at = |stat: &str, m: f64| -> Result<f64> {
                first(&filter_near(&filter_eq(&d, "statistic", stat)?, "m", m)?, "value")
            };
            let fit = |stat: &str| at(stat, 0.0);
            k.rows.push(vec![
                model.clone(),
                num(at(STEP_MS, 1.0)?, 3),
                pct(at(OVERHEAD_PCT, 128.0)?),
                pct(at(OVERHEAD_PCT, 1000.0)?),
                format!(
                    "a = {} ms, c = {} us, R^2 {}",
                    num(fit("a_ms")?, 3),
                    num(fit("c_us")?, 3),
                    num(fit("r2")?, 3)
                ),
                if model == PAPER_MODEL {
                    "-".into()
                } else {
                    format!("{} us (R^2 {})", num(fit("target_c_us")?, 3), num(fit("target_r2")?, 4))
                },
            ]);
        }
        Ok(vec![k])
    }
    fn run_cell(&self, ctx: &Context, cell: &CellSpec, bar: &ProgressBar) -> Result<DataFrame> {
        let cfg: CellConfig = cell.config()?;
        let set = LabelledImages::load(ctx, cfg.data)?;
        let device = cfm_nn::default_device()?;
        let rounds = cfg.warmup + cfg.repeats;
        let mut trainers = Vec::with_capacity(cfg.ms.len());
        for &m in &cfg.ms {
            let train = TrainConfig { target: Target::Efm { m, refs: RefMode::Paper }, ..cfg.train.clone() };
            trainers.push(Trainer::new(&train, &set.train, Some(set.shape), &device)?);
        }
        let mut step_ms = vec![Vec::with_capacity(cfg.repeats); cfg.ms.len()];
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
        let step: Vec<f64> = step_ms.iter().map(|v| median(v)).collect();
        let target: Vec<f64> = target_ms.iter().map(|v| median(v)).collect();
        let name = model_name(&cfg.train.model);
        let mut table = TableBuilder::new(&COLUMNS);
        for (i, &m) in cfg.ms.iter().enumerate() {
            table.push(row![name, m, STEP_MS, step[i]]);
            table.push(row![name, m, TARGET_MS, target[i]]);
            table.push(row![name, m, OVERHEAD_PCT, 100.0 * (step[i] / step[0] - 1.0)]);
        }
        let ms: Vec<f64> = cfg.ms.iter().map(|&m| m as f64).collect();
        let b = cfg.train.batch_size as f64;
        let (intercept, slope, r2) = fit(&ms, &step);
        let (_, target_slope, target_r2) = fit(&ms, &target);
        for (stat, v) in [
            ("a_ms", intercept / b),
            ("c_us", slope / b * 1e3),
            ("r2", r2),
            ("target_c_us", target_slope / b * 1e3),
            ("target_r2", target_r2),
        ] {
            table.push(row![name, 0usize, stat, v]);
        }
        table.finish()
    }
    fn summarize(&self, table: &DataFrame) -> Result<Option<DataFrame>> {
        let mut out = TableBuilder::new(&COLUMNS);
        let steps = filter_eq(table, "statistic", STEP_MS)?;
        let mut grid: Vec<usize> = f64s(&steps, "m")?.into_iter().map(|m| m as usize).collect();
        grid.sort_unstable();
        grid.dedup();
        let c_ms = PAPER_C_US * 1e-3;
        for m in grid {
            out.push(row![PAPER_MODEL, m, STEP_MS, 128.0 * (PAPER_A_MS + m as f64 * c_ms)]);
            out.push(row![
                PAPER_MODEL,
                m,
                OVERHEAD_PCT,
                100.0 * (m as f64 - 1.0) * c_ms / (PAPER_A_MS + c_ms)
            ]);
        }
        out.push(row![PAPER_MODEL, 0usize, "a_ms", PAPER_A_MS]);
        out.push(row![PAPER_MODEL, 0usize, "c_us", PAPER_C_US]);
        Ok(Some(out.finish()?))
    }
}

/// What C10 reads for one model: the fit of its step times, its overheads at 128 and 1000, and
/// the fit of its target times (when the table has them).
struct Overheads {
    r2: f64,
    a_ms: f64,
    c_us: f64,
    at_128: f64,
    at_1000: Option<f64>,
    /// Fit of the target-construction times: `(c in us per sample and reference, R^2)`.
    target: (f64, f64),
    /// `(target_ms(128) - target_ms(1)) / step_ms(1)`, in percent.
    target_at_128: f64,
}

/// Refits `step_ms` and `target_ms` of `model` (batch 128) and reads its overheads.
fn overheads(df: &DataFrame, model: &str) -> Result<Overheads> {
    let series = |stat: &str| -> Result<(Vec<f64>, Vec<f64>)> {
        let rows = filter_eq(&filter_eq(df, "model", model)?, "statistic", stat)?;
        let (ms, ts) = (f64s(&rows, "m")?, f64s(&rows, "value")?);
        if ms.len() < 3 || !ms.contains(&1.0) || !ms.contains(&128.0) {
            return Err(Error::invalid(format!(
                "efm_cost: {model} needs {stat} at M = 1, 128 and a third M"
            )));
        }
        Ok((ms, ts))
    };
    let at = |(ms, ts): &(Vec<f64>, Vec<f64>), m: f64| ms.iter().position(|&x| x == m).map(|i| ts[i]);
    let steps = series(STEP_MS)?;
    let targets = series(TARGET_MS)?;
    let base = at(&steps, 1.0).expect("checked");
    let (intercept, slope, r2) = fit(&steps.0, &steps.1);
    let (_, target_slope, target_r2) = fit(&targets.0, &targets.1);
    let extra_128 = at(&targets, 128.0).expect("checked") - at(&targets, 1.0).expect("checked");
    Ok(Overheads {
        r2,
        a_ms: intercept / 128.0,
        c_us: slope / 128.0 * 1e3,
        at_128: 100.0 * (at(&steps, 128.0).expect("checked") / base - 1.0),
        at_1000: at(&steps, 1000.0).map(|t| 100.0 * (t / base - 1.0)),
        target: (target_slope / 128.0 * 1e3, target_r2),
        target_at_128: 100.0 * extra_128 / base,
    })
}

/// The U-Net's overheads and their description (with the MLP's when timed).
fn measure(df: &DataFrame) -> Result<(Overheads, String)> {
    let models = distinct(&filter_eq(df, "statistic", STEP_MS)?, "model")?;
    if !models.iter().any(|m| m == "unet") {
        return Err(Error::invalid("efm_cost: no U-Net timings (the smoke profile times the MLP only)"));
    }
    let describe = |name: &str, o: &Overheads| {
        let at_1000 = o.at_1000.map_or("-".into(), |v| format!("{v:+.1}%"));
        format!(
            "{name}: EFM target time linear in M with R^2 = {:.4} (c = {:.3} us per sample and reference); extra \
             target time at M = 128 = {:.1}% of a step; whole-step fit R^2 = {:.3}, a = {:.3} ms, c = {:.3} us, \
             step overhead {:+.1}% at M = 128, {at_1000} at M = 1000",
            o.target.1, o.target.0, o.target_at_128, o.r2, o.a_ms, o.c_us, o.at_128
        )
    };
    let unet = overheads(df, "unet")?;
    let mut value = describe("U-Net", &unet);
    if models.iter().any(|m| m == "mlp") {
        value.push_str(&format!("; {}", describe("MLP", &overheads(df, "mlp")?)));
    }
    Ok((unet, value))
}

/// The R^2 from which the whole-step fit of C10b is read.
pub const STEP_FIT_R2: f64 = 0.9;

/// C10a on the U-Net (the paper's setting). Linearity is read off the time to build the EFM
/// targets, which is the overhead itself; "small" compares the extra target time at M = 128
/// with a whole step at M = 1.
fn c10a(e: &Evidence, _: &str) -> Result<Measured> {
    let (unet, value) = measure(&e.table)?;
    Ok(Measured::new(
        value,
        format!(
            "U-Net: EFM target time linear in M with R^2 = {:.4} (needs >= 0.9); extra time at M = 128 {:.1}% of a \
             step (needs < 3%)",
            unet.target.1, unet.target_at_128
        ),
        "U-Net: target time linear in M (R^2 >= 0.9) and extra time at M = 128 < 3% of a step \
         (paper: EFM-128 < 3%, EFM-1000 ~17%, a = 4.3 ms, c = 0.9 us)",
        unet.target.1 >= 0.9 && unet.target_at_128 < 3.0,
    ))
}

/// C10b on the U-Net: the whole step's time fits `b (a + M c)` (R^2 >= [`STEP_FIT_R2`]) and
/// the step at M = 128 is at most 3% slower than at M = 1. A fit below the R^2 is INCONCLUSIVE:
/// the step's own timing noise hides the overhead.
fn c10b(e: &Evidence, _: &str) -> Result<Measured> {
    let (unet, value) = measure(&e.table)?;
    let mut m = Measured::new(
        value,
        format!(
            "U-Net: whole-step fit R^2 = {:.3} (needs >= {STEP_FIT_R2}); step at M = 128 {:+.1}% (needs <= +3%)",
            unet.r2, unet.at_128
        ),
        format!(
            "U-Net: whole-step fit R^2 >= {STEP_FIT_R2} (else INCONCLUSIVE), and the step at M = 128 at most 3% \
             slower than at M = 1"
        ),
        unet.r2 >= STEP_FIT_R2 && unet.at_128 <= 3.0,
    );
    if unet.r2 < STEP_FIT_R2 {
        m.decision = Decision::Inconclusive(format!(
            "the whole-step times fit b (a + M c) with R^2 = {:.3} < {STEP_FIT_R2}: the timing noise of a step is \
             larger than the overhead it would measure",
            unet.r2
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_the_paper_model() {
        let x = [1.0, 32.0, 128.0, 1000.0];
        let y: Vec<f64> = x.iter().map(|m| 128.0 * (4.3 + m * 0.0009)).collect();
        let (i, s, r2) = fit(&x, &y);
        assert!((i / 128.0 - 4.3).abs() < 1e-9 && (s / 128.0 * 1e3 - 0.9).abs() < 1e-9);
        assert!((r2 - 1.0).abs() < 1e-12);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
