//! The user tools: `velocity`, `sample`, `memorization` on the user's own `.npy` / `.csv` files.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cfm_core::io::{read_matrix, write_matrix};
use cfm_core::ode::{Solver, integrate, noise};
use cfm_core::{ClosedForm, Matrix};

/// Arguments of `cfm velocity`. A negative number given to a flag reaches our own check, not
/// clap's "unexpected argument".
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct VelocityArgs {
    /// Training (reference) points, one per row (.npy or .csv).
    #[arg(long)]
    train: PathBuf,
    /// Query points x, one per row, same number of columns as --train.
    #[arg(long)]
    query: PathBuf,
    /// Time t in [0, 1).
    #[arg(long)]
    t: f64,
    /// Output file (.npy or .csv); CSV on standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `cfm sample`.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
#[command(group(clap::ArgGroup::new("field").required(true).args(["train", "model"])))]
pub struct SampleArgs {
    /// Training points: sample the closed-form field over them (.npy or .csv).
    #[arg(long)]
    train: Option<PathBuf>,
    /// A trained network's directory (from `cfm train`): sample its velocity field (EMA weights).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Number of samples.
    #[arg(long, default_value_t = 256)]
    n: usize,
    /// Steps of the fixed-step solvers.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Seed of the initial Gaussian noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// ODE solver.
    #[arg(long, value_enum, default_value_t = SolverName::Euler)]
    solver: SolverName,
    /// Relative tolerance of dopri5.
    #[arg(long, default_value_t = 1e-5)]
    rtol: f64,
    /// Absolute tolerance of dopri5.
    #[arg(long, default_value_t = 1e-5)]
    atol: f64,
    /// Where dopri5 stops (< 1: the field is never evaluated at t = 1).
    #[arg(long, default_value_t = 0.999)]
    t_max: f64,
    /// Output file (.npy or .csv); CSV on standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// ODE solvers selectable on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SolverName {
    Euler,
    Heun,
    Rk4,
    Dopri5,
}

/// Arguments of `cfm memorization`.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct MemorizationArgs {
    /// Training points (.npy or .csv).
    #[arg(long)]
    train: PathBuf,
    /// Generated samples to test, same number of columns as --train.
    #[arg(long)]
    samples: PathBuf,
    /// A sample is a copy when d1 / d2 is below this ratio.
    #[arg(long, default_value_t = 1.0 / 3.0)]
    threshold: f64,
    /// Output file (.npy: columns d1, d2, ratio, copy; .csv with a header); standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn read(flag: &str, path: &Path) -> Result<Matrix> {
    read_matrix(path).with_context(|| format!("--{flag}"))
}

fn same_dim(a: (&str, &Matrix), b: (&str, &Matrix)) -> Result<()> {
    if a.1.cols() != b.1.cols() {
        bail!(
            "--{} has {} columns but --{} has {}: both files need points of the same dimension",
            a.0,
            a.1.cols(),
            b.0,
            b.1.cols()
        );
    }
    Ok(())
}

/// Writes `m` to `out`, or as CSV to standard output.
fn emit(m: &Matrix, out: Option<&Path>) -> Result<()> {
    match out {
        Some(p) => write_matrix(p, m).context("--out"),
        None => {
            std::io::stdout().write_all(&cfm_core::io::csv_bytes(m))?;
            Ok(())
        }
    }
}

/// Checks an output path's extension before any work is done.
fn check_out(out: Option<&Path>) -> Result<()> {
    if let Some(p) = out {
        cfm_core::io::Format::of(p).context("--out")?;
    }
    Ok(())
}

/// `cfm velocity`.
pub fn velocity(a: &VelocityArgs) -> Result<()> {
    check_out(a.out.as_deref())?;
    if !(0.0..1.0).contains(&a.t) {
        bail!("--t {} is outside [0, 1): the closed form diverges at t = 1; pass a time in [0, 1)", a.t);
    }
    let train = read("train", &a.train)?;
    let query = read("query", &a.query)?;
    same_dim(("query", &query), ("train", &train))?;
    let u = ClosedForm::new(train)?.velocity(&query, a.t)?;
    emit(&u, a.out.as_deref())
}

/// `cfm sample`.
pub fn sample(a: &SampleArgs) -> Result<()> {
    check_out(a.out.as_deref())?;
    if a.n == 0 {
        bail!("--n 0: ask for at least one sample");
    }
    let solver = match a.solver {
        SolverName::Euler => Solver::Euler { steps: a.steps },
        SolverName::Heun => Solver::Heun { steps: a.steps },
        SolverName::Rk4 => Solver::Rk4 { steps: a.steps },
        SolverName::Dopri5 => Solver::Dopri5 { rtol: a.rtol, atol: a.atol, t_max: a.t_max },
    };
    let field: Box<dyn cfm_core::VelocityField> = match (&a.train, &a.model) {
        (Some(train), _) => Box::new(ClosedForm::new(read("train", train)?)?),
        (None, Some(dir)) => Box::new(
            cfm_nn::TrainedModel::load(dir).with_context(|| format!("--model {}", dir.display()))?.field()?,
        ),
        (None, None) => unreachable!("clap requires --train or --model"),
    };
    let x0 = noise(a.n, field.dim(), a.seed);
    let sol = integrate(field.as_ref(), &x0, solver, false)?;
    if sol.t_end < 1.0 {
        eprintln!("stopped at t = {} (dopri5 t_max)", sol.t_end);
    }
    emit(&sol.x, a.out.as_deref())
}

/// `cfm memorization`.
pub fn memorization(a: &MemorizationArgs) -> Result<()> {
    check_out(a.out.as_deref())?;
    let train = read("train", &a.train)?;
    let samples = read("samples", &a.samples)?;
    same_dim(("samples", &samples), ("train", &train))?;
    if train.rows() < 2 {
        bail!("--train has {} point(s): the ratio test needs at least two training points", train.rows());
    }
    if !(a.threshold > 0.0 && a.threshold <= 1.0) {
        bail!("--threshold {} must lie in (0, 1]", a.threshold);
    }
    let mem = cfm_core::metrics::memorization(&samples, &train, a.threshold)?;
    let baseline = cfm_core::metrics::train_to_train_distance(&train)?;
    let rows: Vec<[f32; 4]> = mem
        .samples
        .iter()
        .map(|s| [s.d1 as f32, s.d2 as f32, s.ratio as f32, f32::from(u8::from(s.copy))])
        .collect();
    let table = Matrix::from_rows(&rows)?;
    let header = "d1,d2,ratio,copy\n";
    match a.out.as_deref() {
        Some(p) if cfm_core::io::Format::of(p)? == cfm_core::io::Format::Csv => {
            let mut bytes = header.as_bytes().to_vec();
            bytes.extend(cfm_core::io::csv_bytes(&table));
            cfm_core::io::write_atomic(p, &bytes).context("--out")?;
        }
        Some(p) => write_matrix(p, &table).context("--out")?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(header.as_bytes())?;
            out.write_all(&cfm_core::io::csv_bytes(&table))?;
        }
    }
    let s = &mem.summary;
    eprintln!(
        "{} samples: {} copies ({:.1}% memorized, d1/d2 < {:.3}); mean d1 {:.4}, median d1 {:.4}; \
         train-to-train mean nearest distance {:.4}",
        s.samples,
        s.copies,
        100.0 * s.fraction_memorized,
        a.threshold,
        s.mean_d1,
        s.median_d1,
        baseline
    );
    Ok(())
}
