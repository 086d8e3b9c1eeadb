//! The efm_cost table read once: [`View`] holds what each timed network measured ([`NetworkTimes`]:
//! step and target times against M, their fits) and the paper's cost model ([`PaperModel`]); the
//! fit lines and the overheads at an M are its methods. The claims C10a and C10b, the key numbers
//! and the renderer all read it.

use polars::prelude::DataFrame;

use super::*;

/// The efm_cost table, read: what each timed network measured, and the paper's cost model at
/// the same `M`.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The timed networks, in the order of the table (at least one).
    pub networks: Vec<NetworkTimes>,
    /// The paper's cost model (App. D.1, L4 GPU, CIFAR-10 U-Net).
    pub paper: PaperModel,
}

/// What one network measured: median times against the number of references `M`, and the
/// least-squares fits of the cost model.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkTimes {
    /// The network.
    pub network: Network,
    /// Median time of a whole training step, in ms.
    pub step: Curve,
    /// Median time of building the minibatch and its EFM target, in ms.
    pub target: Curve,
    /// Overhead of the step at `M` over the step at `M = 1` (CFM), in %.
    pub overhead: Curve,
    /// Fit of the step times to `b (a + M c)`.
    pub step_fit: StepFit,
    /// Fit of the target times to a line in `M`.
    pub target_fit: TargetFit,
}

/// The paper's cost model `b (a + M c)` at the table's `M`.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperModel {
    /// Time of a step, in ms.
    pub step: Curve,
    /// Overhead of the step at `M` over the step at `M = 1`, in %.
    pub overhead: Curve,
    /// `a`, in ms per sample.
    pub a_ms: f64,
    /// `c`, in us per sample and reference.
    pub c_us: f64,
}

/// One quantity against the number of references: `(M, value)` points, ascending in `M` (at
/// least one).
#[derive(Clone, Debug, PartialEq)]
pub struct Curve(pub Vec<(f64, f64)>);

/// The least-squares fit of the step times to `b (a + M c)` (NaN where fewer than two `M`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepFit {
    /// `a`, in ms per sample.
    pub a_ms: f64,
    /// `c`, in us per sample and reference.
    pub c_us: f64,
    /// The share of the variance of the step times the line explains.
    pub r2: f64,
}

/// The least-squares fit of the target times to a line in `M` (NaN where fewer than two `M`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetFit {
    /// The slope per sample, in us per sample and reference.
    pub c_us: f64,
    /// The share of the variance of the target times the line explains.
    pub r2: f64,
}

/// A straight line `intercept + slope M`, in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// The time at `M = 0`.
    pub intercept: f64,
    /// The time per reference.
    pub slope: f64,
}

impl View {
    /// Reads the efm_cost table. Errors name the missing columns, a network without some of its
    /// rows, an unknown model, and a table without timed networks or the paper's rows.
    pub fn read(df: &DataFrame) -> Result<View> {
        let table = Columns::new(ID, df, &COLUMNS)?;
        let (models, ms, stats, values) =
            (table.text(MODEL)?, table.num(M)?, table.text(STATISTIC)?, table.num(VALUE)?);
        let rows = |model: &str, stat: &str| -> Vec<usize> {
            (0..models.len()).filter(|&i| models[i] == model && stats[i] == stat).collect()
        };
        let curve = |model: &str, stat: &str| -> Result<Curve> {
            let mut points: Vec<(f64, f64)> =
                rows(model, stat).into_iter().filter(|&i| ms[i] > 0.0).map(|i| (ms[i], values[i])).collect();
            if points.is_empty() {
                return Err(table.malformed(format!("model '{model}' has no '{stat}' rows")));
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Ok(Curve(points))
        };
        let scalar = |model: &str, stat: &str| -> Result<f64> {
            rows(model, stat)
                .into_iter()
                .find(|&i| ms[i] == 0.0)
                .map(|i| values[i])
                .ok_or_else(|| table.malformed(format!("model '{model}' has no '{stat}' row at m = 0")))
        };
        let measured = unique(models.iter().filter(|n| *n != PAPER_MODEL).cloned());
        if measured.is_empty() {
            return Err(table.malformed("no measured model, only the paper's cost model"));
        }
        if !models.iter().any(|n| n == PAPER_MODEL) {
            return Err(table.malformed(format!("no '{PAPER_MODEL}' rows (the paper's cost model)")));
        }
        let mut networks = Vec::with_capacity(measured.len());
        for name in &measured {
            let network = Network::parse(name).ok_or_else(|| {
                table.malformed(format!(
                    "model '{name}' is neither a timed network (mlp, unet) nor '{PAPER_MODEL}'"
                ))
            })?;
            networks.push(NetworkTimes {
                network,
                step: curve(name, STEP_MS)?,
                target: curve(name, TARGET_MS)?,
                overhead: curve(name, OVERHEAD_PCT)?,
                step_fit: StepFit {
                    a_ms: scalar(name, A_MS)?,
                    c_us: scalar(name, C_US)?,
                    r2: scalar(name, R2)?,
                },
                target_fit: TargetFit { c_us: scalar(name, TARGET_C_US)?, r2: scalar(name, TARGET_R2)? },
            });
        }
        let paper = PaperModel {
            step: curve(PAPER_MODEL, STEP_MS)?,
            overhead: curve(PAPER_MODEL, OVERHEAD_PCT)?,
            a_ms: scalar(PAPER_MODEL, A_MS)?,
            c_us: scalar(PAPER_MODEL, C_US)?,
        };
        Ok(View { networks, paper })
    }

    /// The timings of `network`, when the table has them.
    pub fn network(&self, network: Network) -> Option<&NetworkTimes> {
        self.networks.iter().find(|n| n.network == network)
    }
}

impl NetworkTimes {
    /// The fitted `b (a + M c)` as a line in ms per step, when there is a fit.
    pub fn step_line(&self) -> Option<Line> {
        let StepFit { a_ms, c_us, .. } = self.step_fit;
        let b = BATCH as f64;
        (a_ms.is_finite() && c_us.is_finite()).then_some(Line { intercept: b * a_ms, slope: b * c_us * 1e-3 })
    }

    /// The least-squares line of the target times in ms per minibatch, when there is a fit: slope
    /// `b c`, through the mean point of the times (where a least-squares line passes).
    pub fn target_line(&self) -> Option<Line> {
        let c_us = self.target_fit.c_us;
        c_us.is_finite().then(|| {
            let points = &self.target.0;
            let n = points.len() as f64;
            let (mean_m, mean_t) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
            let slope = BATCH as f64 * c_us * 1e-3;
            Line { intercept: mean_t - slope * mean_m, slope }
        })
    }

    /// The extra time of building the minibatch and its target at `m` over `M = 1`, in % of a
    /// whole step at `M = 1` (the EFM overhead itself, apart from the step's own noise).
    pub fn target_share(&self, m: f64) -> Option<f64> {
        Some(100.0 * (self.target.at(m)? - self.target.at(1.0)?) / self.step.at(1.0)?)
    }
}

impl Curve {
    /// The value at `M = m`, when the curve has that `M`.
    pub fn at(&self, m: f64) -> Option<f64> {
        self.0.iter().find(|p| p.0 == m).map(|p| p.1)
    }

    /// The point of the largest `M`.
    pub fn largest(&self) -> (f64, f64) {
        self.0[self.0.len() - 1]
    }

    /// The smallest and the largest `M`.
    pub fn span(&self) -> (f64, f64) {
        (self.0[0].0, self.largest().0)
    }
}

impl Line {
    /// The line's value at `M = m`.
    pub fn at(&self, m: f64) -> f64 {
        self.intercept + self.slope * m
    }
}
