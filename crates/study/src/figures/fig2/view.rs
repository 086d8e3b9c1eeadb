//! Fig. 2's table read once: [`View`] holds, per dataset ([`DatasetRuns`]), its training runs
//! ([`Run`]) with their checkpoints and last-step statistics; the onsets and their fit, the phase
//! diagram and d1 against the train-to-train distance are its methods. The summary rows, the
//! claims C5 and C6, the key numbers and the renderer all read it.

use polars::prelude::DataFrame;

use super::*;
use crate::stats::{least_squares, mean};
use crate::table::{Columns, slot, sorted_unique};
use crate::{Error, Result};

/// The statistics of the summary rows, which [`View::read`] leaves out: the view computes them
/// ([`DatasetRuns::onsets`]).
const SUMMARY: [&str; 4] = [TAU_MEM, TAU_MEM_SLOPE, TAU_MEM_R2, TAU_MEM_POINTS];

/// Fig. 2's table read once ([`View::read`]): per dataset, its training runs. The claims, the
/// key numbers, the summary rows and the renderer read it, and every number two of them need is
/// a method here.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The datasets, in table order.
    pub datasets: Vec<DatasetRuns>,
}

/// One dataset's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetRuns {
    /// Its name in the table.
    pub name: String,
    /// The main width: the largest (the phase diagram's others are narrower).
    pub width: f64,
    /// Every run (output x n x width), in table order.
    pub runs: Vec<Run>,
}

/// One training run: a network of one width and output trained on the first `n` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The parameterization.
    pub output: Param,
    /// Training-set size.
    pub n: f64,
    /// Network width.
    pub width: f64,
    /// Fraction of samples that are copies, `(step, fraction)` by step.
    pub copies: Vec<(f64, f64)>,
    /// Mean distance `d1` of the samples to their nearest training point, `(step, d1)` by step.
    pub d1: Vec<(f64, f64)>,
    /// `E ||u_theta - u*||^2` at the last step, `(t, error)` by t.
    pub errors: Vec<(f64, f64)>,
    /// Mean distance of a training point to its nearest other, over the subset.
    pub train_to_train_subset: Option<f64>,
    /// The same over the whole training split (images).
    pub train_to_train_full: Option<f64>,
    /// Fréchet distance of the last step's samples to the test set, classifier features (images).
    pub fd_feature_test: Option<f64>,
    /// The same in data space.
    pub fd_pixel_test: Option<f64>,
    /// Energy distance of the last step's samples to held-out points (two-moons).
    pub energy_test: Option<f64>,
    /// Test accuracy of the feature classifier (images).
    pub classifier_accuracy: Option<f64>,
}

/// A dataset's memorization onsets for one output: per subset size (increasing) the first
/// checkpoint with at least [`ONSET`] copies (`None` within the budget), and the fit
/// `ln tau_mem = a + b ln n` where there are onsets at two distinct n.
#[derive(Clone, Debug, PartialEq)]
pub struct Onsets {
    /// `(n, tau_mem)`.
    pub taus: Vec<(f64, Option<f64>)>,
    /// The number of onsets (the fit's points).
    pub points: usize,
    /// Slope and `R^2` of the fit.
    pub fit: Option<(f64, f64)>,
}

/// The phase diagram of one dataset: the fraction of copies at the last checkpoint per
/// `(n, width)`, velocity output.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Subset sizes, increasing.
    pub ns: Vec<f64>,
    /// Widths, increasing.
    pub widths: Vec<f64>,
    /// Per width and n, where the table has it.
    pub cells: Vec<Vec<Option<f64>>>,
}

impl View {
    /// Reads fig2's table: every run's rows (the summary rows are derived, and left out). Every
    /// dataset must have error and mean-d1 rows of the velocity output at its main width.
    pub fn read(df: &DataFrame) -> Result<View> {
        let c = Columns::new(ID, df, &COLUMNS)?;
        let [dataset, output, n, width, step, t, statistic, value] = COLUMNS;
        let (names, outputs, ns) = (c.text(dataset)?, c.text(output)?, c.num(n)?);
        let (widths, steps, ts) = (c.num(width)?, c.num(step)?, c.num(t)?);
        let (stats, values) = (c.text(statistic)?, c.num(value)?);
        let mut datasets: Vec<DatasetRuns> = Vec::new();
        for i in 0..names.len() {
            if SUMMARY.contains(&stats[i].as_str()) {
                continue;
            }
            let output = Param::parse(&outputs[i])
                .ok_or_else(|| c.malformed(format!("unknown output '{}'", outputs[i])))?;
            let data = slot(
                &mut datasets,
                |d| d.name == names[i],
                || DatasetRuns { name: names[i].clone(), width: f64::NEG_INFINITY, runs: Vec::new() },
            );
            data.width = data.width.max(widths[i]);
            let run = slot(
                &mut data.runs,
                |r| r.output == output && r.n == ns[i] && r.width == widths[i],
                || Run::new(output, ns[i], widths[i]),
            );
            let v = Some(values[i]);
            match stats[i].as_str() {
                FRACTION_MEMORIZED => run.copies.push((steps[i], values[i])),
                MEAN_D1 => run.d1.push((steps[i], values[i])),
                ERROR => run.errors.push((ts[i], values[i])),
                TRAIN_TO_TRAIN_SUBSET => run.train_to_train_subset = run.train_to_train_subset.or(v),
                TRAIN_TO_TRAIN_FULL => run.train_to_train_full = run.train_to_train_full.or(v),
                FD_FEATURE_TEST => run.fd_feature_test = run.fd_feature_test.or(v),
                FD_PIXEL_TEST => run.fd_pixel_test = run.fd_pixel_test.or(v),
                ENERGY_TEST => run.energy_test = run.energy_test.or(v),
                CLASSIFIER_ACCURACY => run.classifier_accuracy = run.classifier_accuracy.or(v),
                other => return Err(c.malformed(format!("unknown statistic '{other}'"))),
            }
        }
        for data in &mut datasets {
            for run in &mut data.runs {
                run.copies.sort_by(|a, b| a.0.total_cmp(&b.0));
                run.d1.sort_by(|a, b| a.0.total_cmp(&b.0));
                run.errors.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            let deciding = || data.runs.iter().filter(|r| r.output == DECIDING && r.width == data.width);
            for (stat, has) in [(ERROR, Run::has_errors as fn(&Run) -> bool), (MEAN_D1, Run::has_checkpoints)]
            {
                if !deciding().any(has) {
                    return Err(c.malformed(format!(
                        "dataset '{}' has no '{stat}' rows of the {} output at width {}",
                        data.name,
                        DECIDING.name(),
                        data.width
                    )));
                }
            }
        }
        Ok(View { datasets })
    }

    /// The runs of dataset `name`.
    pub fn dataset(&self, name: &str) -> Result<&DatasetRuns> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::malformed(ID, format!("no {name} rows")))
    }
}

impl Run {
    fn new(output: Param, n: f64, width: f64) -> Run {
        Run {
            output,
            n,
            width,
            copies: Vec::new(),
            d1: Vec::new(),
            errors: Vec::new(),
            train_to_train_subset: None,
            train_to_train_full: None,
            fd_feature_test: None,
            fd_pixel_test: None,
            energy_test: None,
            classifier_accuracy: None,
        }
    }

    fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    fn has_checkpoints(&self) -> bool {
        !self.d1.is_empty()
    }

    /// The last checkpoint's step (NaN for a run without checkpoints).
    pub fn last_step(&self) -> f64 {
        self.d1.last().map_or(f64::NAN, |p| p.0)
    }

    /// The fraction of copies at the last checkpoint.
    pub fn copies_at_end(&self) -> Option<f64> {
        self.copies.last().map(|p| p.1)
    }

    /// The mean distance d1 at the last checkpoint.
    pub fn d1_at_end(&self) -> Option<f64> {
        self.d1.last().map(|p| p.1)
    }

    /// The train-to-train distance that d1 is read against: the whole split's (images), else
    /// the subset's (two-moons).
    pub fn train_to_train(&self) -> Option<f64> {
        self.train_to_train_full.or(self.train_to_train_subset)
    }

    /// `(step, d1 / train-to-train)` per checkpoint (none without a positive train-to-train).
    pub fn relative_d1(&self) -> Vec<(f64, f64)> {
        match self.train_to_train().filter(|b| *b > 0.0) {
            Some(b) => self.d1.iter().map(|&(s, v)| (s, v / b)).collect(),
            None => Vec::new(),
        }
    }

    /// d1 over the train-to-train distance at the last checkpoint (NaN where either is missing).
    pub fn relative_d1_at_end(&self) -> f64 {
        self.d1_at_end().unwrap_or(f64::NAN) / self.train_to_train().unwrap_or(f64::NAN)
    }

    /// The error averaged over t.
    pub fn mean_error(&self) -> f64 {
        mean(&self.errors.iter().map(|p| p.1).collect::<Vec<_>>())
    }

    /// The memorization onset: the first checkpoint with at least [`ONSET`] copies.
    pub fn onset(&self) -> Option<f64> {
        self.copies.iter().find(|p| p.1 >= ONSET).map(|p| p.0)
    }
}

impl DatasetRuns {
    /// Whether these are the two-moons runs.
    pub fn is_two_moons(&self) -> bool {
        self.name == Dataset::TwoMoons.name()
    }

    /// The runs of `output` at the main width that have checkpoints, by increasing n.
    pub fn main(&self, output: Param) -> impl Iterator<Item = &Run> {
        let mut runs: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| r.output == output && r.width == self.width && r.has_checkpoints())
            .collect();
        runs.sort_by(|a, b| a.n.total_cmp(&b.n));
        runs.into_iter()
    }

    /// The run of `output` at the main width on `n` points.
    pub fn main_run(&self, output: Param, n: f64) -> Option<&Run> {
        self.main(output).find(|r| r.n == n)
    }

    /// The subset sizes of the deciding output's main runs, increasing.
    pub fn sizes(&self) -> Vec<f64> {
        self.main(DECIDING).map(|r| r.n).collect()
    }

    /// The memorization onsets of `output`'s main runs, and their fit in log-log.
    pub fn onsets(&self, output: Param) -> Onsets {
        let taus: Vec<(f64, Option<f64>)> = self.main(output).map(|r| (r.n, r.onset())).collect();
        let pts: Vec<(f64, f64)> = taus.iter().filter_map(|&(n, t)| t.map(|t| (n.ln(), t.ln()))).collect();
        let (_, slope, r2) = least_squares(&pts);
        Onsets { taus, points: pts.len(), fit: slope.is_finite().then_some((slope, r2)) }
    }

    /// The classifier's test accuracy (images).
    pub fn classifier_accuracy(&self) -> Option<f64> {
        self.main(DECIDING).find_map(|r| r.classifier_accuracy)
    }

    /// The phase diagram, when the velocity output ran at several widths.
    pub fn phase(&self) -> Option<Phase> {
        let runs: Vec<&Run> =
            self.runs.iter().filter(|r| r.output == Param::Velocity && !r.copies.is_empty()).collect();
        let widths = sorted_unique(runs.iter().map(|r| r.width));
        if widths.len() < 2 {
            return None;
        }
        let ns = sorted_unique(runs.iter().map(|r| r.n));
        let cell =
            |w: f64, n: f64| runs.iter().find(|r| r.width == w && r.n == n).and_then(|r| r.copies_at_end());
        let cells = widths.iter().map(|&w| ns.iter().map(|&n| cell(w, n)).collect()).collect();
        Some(Phase { ns, widths, cells })
    }
}

impl Phase {
    /// Whether some cell is missing.
    pub fn missing(&self) -> bool {
        self.cells.iter().flatten().any(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row;
    use crate::table::{TableBuilder, f64s, strs};

    /// Two-moons runs at width 64, both outputs, n = 10 and 100, checkpoints at 100 and 1000
    /// (copies 0.2 then 0.6 for n = 10, 0.1 then 0.3 for n = 100), each with its own subset
    /// train-to-train distance; digits' velocity run at widths 32 and 128; one summary row.
    fn table() -> DataFrame {
        let mut b = TableBuilder::new(&COLUMNS);
        let moons = Dataset::TwoMoons.name();
        for (o, p) in Param::ALL.into_iter().enumerate() {
            for (k, n) in [10usize, 100].into_iter().enumerate() {
                let copies = [[0.2, 0.6], [0.1, 0.3]][k];
                for (j, step) in [1000u64, 100].into_iter().enumerate() {
                    b.push(row![moons, p.name(), n, 64usize, step, 0.0, FRACTION_MEMORIZED, copies[1 - j]]);
                    b.push(row![moons, p.name(), n, 64usize, step, 0.0, MEAN_D1, 1.0 + j as f64]);
                }
                b.push(row![moons, p.name(), n, 64usize, 1000u64, 0.5, ERROR, 2.0 * n as f64]);
                b.push(row![moons, p.name(), n, 64usize, 1000u64, 0.1, ERROR, n as f64]);
                b.push(row![
                    moons,
                    p.name(),
                    n,
                    64usize,
                    1000u64,
                    0.0,
                    TRAIN_TO_TRAIN_SUBSET,
                    2.0 + o as f64
                ]);
            }
        }
        b.push(row![moons, "velocity", 10usize, 64usize, 0u64, 0.0, TAU_MEM, 7.0]);
        for w in [32usize, 128] {
            b.push(row!["digits", "velocity", 10usize, w, 500u64, 0.0, FRACTION_MEMORIZED, w as f64 / 256.0]);
            b.push(row!["digits", "velocity", 10usize, w, 500u64, 0.0, MEAN_D1, 1.0]);
            b.push(row!["digits", "velocity", 10usize, w, 500u64, 0.5, ERROR, 1.0]);
        }
        b.finish().unwrap()
    }

    #[test]
    fn the_view_groups_runs_orders_checkpoints_and_derives_onsets_and_the_phase_diagram() {
        let view = View::read(&table()).unwrap();
        let moons = view.dataset(Dataset::TwoMoons.name()).unwrap();
        assert_eq!((moons.width, moons.runs.len(), moons.sizes()), (64.0, 4, vec![10.0, 100.0]));
        let run = moons.main_run(Param::X1, 10.0).unwrap();
        assert_eq!(run.copies, vec![(100.0, 0.2), (1000.0, 0.6)], "by step");
        assert_eq!(run.errors, vec![(0.1, 10.0), (0.5, 20.0)], "by t");
        assert_eq!((run.last_step(), run.copies_at_end(), run.mean_error()), (1000.0, Some(0.6), 15.0));
        // d1 is read against the run's own train-to-train distance (the x1 runs': 3).
        assert_eq!(run.relative_d1(), vec![(100.0, 2.0 / 3.0), (1000.0, 1.0 / 3.0)]);
        assert_eq!(run.relative_d1_at_end(), 1.0 / 3.0);
        // The onset comes from the checkpoints, not the summary rows: n = 10 at step 1000 only.
        let onsets = moons.onsets(Param::Velocity);
        assert_eq!(
            (onsets.taus, onsets.points, onsets.fit),
            (vec![(10.0, Some(1000.0)), (100.0, None)], 1, None)
        );
        assert!(moons.phase().is_none(), "one width");
        let digits = view.dataset("digits").unwrap();
        let phase = digits.phase().unwrap();
        assert_eq!(
            (phase.widths, phase.ns, phase.cells),
            (vec![32.0, 128.0], vec![10.0], vec![vec![Some(0.125)], vec![Some(0.5)]])
        );
    }

    #[test]
    fn the_summary_rows_are_the_views_onsets_and_fit() {
        let mut b = TableBuilder::new(&COLUMNS);
        for (n, tau) in [(10usize, 100u64), (100, 1000), (1000, 10_000)] {
            for step in [tau / 2, tau] {
                let copies = if step == tau { ONSET } else { 0.0 };
                b.push(row!["digits", "velocity", n, 64usize, step, 0.0, FRACTION_MEMORIZED, copies]);
                b.push(row!["digits", "velocity", n, 64usize, step, 0.0, MEAN_D1, 1.0]);
            }
            b.push(row!["digits", "velocity", n, 64usize, tau, 0.5, ERROR, 1.0]);
        }
        let summary = Fig2.summarize(&b.finish().unwrap()).unwrap().unwrap();
        let (outputs, stats) = (strs(&summary, "output").unwrap(), strs(&summary, "statistic").unwrap());
        let values = f64s(&summary, "value").unwrap();
        let stat = |s: &str| {
            (0..values.len()).find(|&i| outputs[i] == "velocity" && stats[i] == s).map(|i| values[i]).unwrap()
        };
        assert!((stat(TAU_MEM_SLOPE) - 1.0).abs() < 1e-12 && (stat(TAU_MEM_R2) - 1.0).abs() < 1e-12);
        assert_eq!((stat(TAU_MEM), stat(TAU_MEM_POINTS)), (100.0, 3.0));
    }

    #[test]
    fn a_dataset_without_deciding_runs_at_its_main_width_is_named() {
        let mut b = TableBuilder::new(&COLUMNS);
        b.push(row!["digits", "velocity", 10usize, 32usize, 500u64, 0.0, MEAN_D1, 1.0]);
        b.push(row!["digits", "velocity", 10usize, 32usize, 500u64, 0.5, ERROR, 1.0]);
        b.push(row!["digits", "x1", 10usize, 64usize, 500u64, 0.0, MEAN_D1, 1.0]);
        let err = View::read(&b.finish().unwrap()).unwrap_err().to_string();
        assert!(
            err.contains("dataset 'digits' has no 'error' rows of the velocity output at width 64"),
            "{err}"
        );
    }
}
