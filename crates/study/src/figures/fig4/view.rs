//! Fig. 4's table read once: [`View`] holds, per dataset ([`Data`]), each method's runs ([`Runs`]),
//! one per seed ([`Run`]), with their evaluations ([`Eval`]); the final values and the spread over
//! seeds are its methods. The claims C8a and C8b, the key numbers, table1 and the renderer all read
//! it.

use polars::prelude::DataFrame;

use super::*;
use crate::table::slot;

/// Fig. 4's table, read: per dataset, every run's Fréchet distances as training goes.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The datasets, in the order of the table.
    pub datasets: Vec<Data>,
}

/// One dataset's runs: a row of the figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    /// The dataset.
    pub data: ImageData,
    /// The test accuracy of the feature classifier (a fraction), where the table holds it.
    pub accuracy: Option<f64>,
    /// The learning-rate warm-up of the runs, in steps, where the table holds it.
    pub warmup: Option<f64>,
    /// The methods trained on it, in the paper's order (CFM, OT-CFM, then EFM-M by M).
    pub methods: Vec<Runs>,
}

/// One method's runs on a dataset, one per training seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Runs {
    /// The method.
    pub method: Method,
    /// References of the regression target actually used, `min(M, n)` (1 for CFM and OT-CFM).
    pub m: f64,
    /// The runs that were evaluated, one per seed, in the order of the table.
    pub runs: Vec<Run>,
}

/// One training run (one seed) of a method.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The replicate `k` of the training seed.
    pub seed: u64,
    /// Its evaluations in each panel (indexed as [`Panel::ALL`]), in the order of the table.
    pub panels: [Vec<Eval>; 4],
}

/// One evaluation of a run: a Fréchet distance at a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Training epochs done (`step B / n`; the scheduled epoch).
    pub epoch: f64,
    /// Optimiser steps done.
    pub step: f64,
    /// The Fréchet distance.
    pub value: f64,
}

/// A method's last-step values in one panel, over its seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Final {
    /// The method.
    pub method: Method,
    /// Mean over the seeds of each run's value at its last step.
    pub mean: f64,
    /// Their sample standard deviation (0 for one seed).
    pub sd: f64,
    /// Seeds with a value.
    pub seeds: usize,
}

/// A method's values at one epoch of a panel, over its seeds (the finite ones).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The epoch.
    pub epoch: f64,
    /// Mean over the seeds.
    pub mean: f64,
    /// The smallest value over the seeds.
    pub low: f64,
    /// The largest.
    pub high: f64,
}

/// The error for a method label that names no method of the figure.
pub(crate) fn unknown_method(columns: &Columns<'_>, label: &str) -> Error {
    columns.malformed(format!("unknown method '{label}' (expected CFM, OT-CFM or EFM-<M>)"))
}

impl View {
    /// Reads the table: every row of a Fréchet distance into its run, the classifier's accuracy
    /// and the warm-up (the first row of each) into its dataset. Errors on an unknown dataset or
    /// method, and on a dataset without rows of one of the four distances.
    pub fn read(df: &DataFrame) -> Result<View> {
        let columns = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, method, m, seed, epoch, step, metric, value] = COLUMNS;
        let (names, labels, ms, seeds) =
            (columns.text(dataset)?, columns.text(method)?, columns.num(m)?, columns.num(seed)?);
        let (epochs, steps, metrics, values) =
            (columns.num(epoch)?, columns.num(step)?, columns.text(metric)?, columns.num(value)?);
        let mut datasets: Vec<Data> = Vec::new();
        for i in 0..names.len() {
            let image = ImageData::parse(&names[i]).map_err(|e| columns.malformed(e.to_string()))?;
            let method = Method::parse(&labels[i]).ok_or_else(|| unknown_method(&columns, &labels[i]))?;
            let data = slot(
                &mut datasets,
                |d| d.data == image,
                || Data { data: image, accuracy: None, warmup: None, methods: Vec::new() },
            );
            let runs = slot(
                &mut data.methods,
                |r| r.method == method,
                || Runs { method, m: ms[i], runs: Vec::new() },
            );
            match (metrics[i].as_str(), Panel::of(&metrics[i])) {
                (CLASSIFIER_ACCURACY, _) => _ = data.accuracy.get_or_insert(values[i]),
                (WARMUP_STEPS, _) => _ = data.warmup.get_or_insert(values[i]),
                (_, Some(panel)) => {
                    let replicate = seeds[i] as u64;
                    let new = || Run { seed: replicate, panels: Default::default() };
                    let run = slot(&mut runs.runs, |r| r.seed == replicate, new);
                    run.panels[panel as usize].push(Eval {
                        epoch: epochs[i],
                        step: steps[i],
                        value: values[i],
                    });
                }
                (other, None) => return Err(columns.malformed(format!("unknown metric '{other}'"))),
            }
        }
        for data in &mut datasets {
            data.methods.sort_by_key(|r| r.method);
            for panel in Panel::ALL {
                if data.methods.iter().all(|r| r.runs.iter().all(|run| run.panels[panel as usize].is_empty()))
                {
                    return Err(columns.malformed(format!(
                        "dataset '{}' has no '{}' rows",
                        data.data.name(),
                        panel.metric()
                    )));
                }
            }
        }
        Ok(View { datasets })
    }
}

impl Data {
    /// The last epoch any run of the dataset was evaluated at.
    pub fn last_epoch(&self) -> f64 {
        let evals = self.methods.iter().flat_map(|r| &r.runs).flat_map(|run| run.panels.iter().flatten());
        evals.map(|e| e.epoch).fold(f64::NEG_INFINITY, f64::max)
    }
}

impl Runs {
    /// How many seeds of the method were evaluated.
    pub fn seeds(&self) -> usize {
        self.runs.len()
    }

    /// The mean and sd over the seeds of each run's value at its last step in `panel`.
    pub fn last(&self, panel: Panel) -> Final {
        let finals: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|run| run.panels[panel as usize].iter().max_by(|a, b| a.step.total_cmp(&b.step)))
            .map(|e| e.value)
            .collect();
        let (mean, sd) = mean_sd(&finals);
        Final { method: self.method, mean, sd, seeds: finals.len() }
    }

    /// The evaluations of every seed at `epoch` (within `1e-9`) in `panel`, in the order of the
    /// runs.
    pub fn at(&self, panel: Panel, epoch: f64) -> Vec<Eval> {
        let evals = self.runs.iter().flat_map(|run| &run.panels[panel as usize]);
        evals.filter(|e| (e.epoch - epoch).abs() <= 1e-9).copied().collect()
    }

    /// At each epoch of `panel` (ascending) with finite values, their mean, smallest and largest
    /// over the seeds.
    pub fn over_seeds(&self, panel: Panel) -> Vec<Spread> {
        let evals: Vec<&Eval> = self.runs.iter().flat_map(|run| &run.panels[panel as usize]).collect();
        let mut epochs: Vec<f64> = evals.iter().map(|e| e.epoch).filter(|e| e.is_finite()).collect();
        epochs.sort_by(f64::total_cmp);
        epochs.dedup();
        epochs
            .into_iter()
            .filter_map(|epoch| {
                let at: Vec<f64> = evals
                    .iter()
                    .filter(|e| e.epoch == epoch && e.value.is_finite())
                    .map(|e| e.value)
                    .collect();
                (!at.is_empty()).then(|| Spread {
                    epoch,
                    mean: at.iter().sum::<f64>() / at.len() as f64,
                    low: at.iter().copied().fold(f64::INFINITY, f64::min),
                    high: at.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                })
            })
            .collect()
    }
}
