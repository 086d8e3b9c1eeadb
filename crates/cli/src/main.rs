//! `cfm`: the command-line front end of the reproduction suite.
//!
//! User tools on your own data (`.npy` or `.csv`, one point per row): `velocity`, `sample`,
//! `memorization`. Errors are printed once, with the file or flag at fault, and give a
//! non-zero exit status; no output file is written on error.

mod cells;
mod compare;
mod reproduce;
mod slurm;
mod tools;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cfm", version, about = "Closed-form flow matching: reproduction suite and tools")]
struct Cli {
    /// Where the U-Net and the feature classifier compute: auto (a CUDA GPU when this cfm is
    /// built with `--features cuda` and one is present, else the CPU), cpu, or cuda (an error
    /// when the build or the machine has none). The MLPs always run on the CPU.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    device: DeviceArg,
    #[command(subcommand)]
    command: Command,
}

/// `--device`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate figures: results tables, SVGs and the manifest (default profile: quick).
    Reproduce(reproduce::RunArgs),
    /// Same as `reproduce`, meant with `--only FIG`.
    Run(reproduce::RunArgs),
    /// List every cell: figure, id (its cache key), estimated cost, the cells it reads, and
    /// whether it is cached.
    Cells(cells::CellsArgs),
    /// Compute one cell (`cfm cell FIG ID`) into the cache, unless it is cached.
    Cell(cells::CellArgs),
    /// Submit the uncached cells as Slurm job arrays (one task per cell), then a job that
    /// collects the figures; `--dry-run` prints the scripts and sbatch commands.
    Slurm(slurm::SlurmArgs),
    /// Re-render the SVGs from the saved results tables.
    Plot(reproduce::PlotArgs),
    /// Write the reproduction report (paper/REPRODUCTION.md) and the README's claims table.
    Report(reproduce::ReportArgs),
    /// Check the paper's claims against the results tables.
    Verify(reproduce::VerifyArgs),
    /// List the figures and the claims they decide.
    List,
    /// The datasets the profiles use: where each was found (files checked against their
    /// published SHA-256), or how to get it.
    Data(reproduce::DataArgs),
    /// Compare regenerated results tables with reference ones, within a tolerance.
    Compare(compare::CompareArgs),
    /// The closed-form optimal velocity u*(x, t) (Proposition 1) at each query row.
    Velocity(tools::VelocityArgs),
    /// Trains a velocity network (CFM, EFM or OT-CFM) and saves it.
    Train(train::TrainArgs),
    /// Samples by integrating a velocity field (closed form or trained network) from Gaussian noise.
    Sample(tools::SampleArgs),
    /// Per-sample nearest-training distances and the memorization ratio test.
    Memorization(tools::MemorizationArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let choice = match cli.device {
        DeviceArg::Auto => cfm_nn::DeviceChoice::Auto,
        DeviceArg::Cpu => cfm_nn::DeviceChoice::Cpu,
        DeviceArg::Cuda => cfm_nn::DeviceChoice::Cuda,
    };
    if let Err(e) = cfm_nn::select_device(choice) {
        return finish(Err(e.into()));
    }
    let result = match cli.command {
        Command::Reproduce(a) | Command::Run(a) => reproduce::reproduce(&a),
        Command::Cells(a) => cells::list(&a),
        Command::Cell(a) => cells::run(&a),
        Command::Slurm(a) => slurm::slurm(&a),
        Command::Plot(a) => reproduce::plot(&a),
        Command::Report(a) => reproduce::report(&a),
        Command::Compare(a) => compare::compare(&a),
        Command::Verify(a) => return finish(reproduce::verify(&a)),
        Command::List => {
            reproduce::list();
            Ok(())
        }
        Command::Data(a) => return finish(reproduce::data(&a)),
        Command::Velocity(a) => tools::velocity(&a),
        Command::Sample(a) => tools::sample(&a),
        Command::Train(a) => train::train(&a),
        Command::Memorization(a) => tools::memorization(&a),
    };
    finish(result.map(|()| std::process::ExitCode::SUCCESS))
}

/// Prints an error once, with its chain of causes, and turns it into exit status 1.
fn finish(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: library errors often repeat their source in their own message.
            let mut text = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !text.contains(&cause) {
                    text = if text.is_empty() { cause } else { format!("{text}: {cause}") };
                }
            }
            eprintln!("error: {text}");
            std::process::ExitCode::FAILURE
        }
    }
}
