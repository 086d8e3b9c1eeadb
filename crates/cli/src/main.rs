//! `cfm`: the command-line front end of the reproduction suite.
//!
//! User tools on your own data (`.npy` or `.csv`, one point per row): `velocity`, `sample`,
//! `memorization`. Errors are printed once, with the file or flag at fault, and give a
//! non-zero exit status; no output file is written on error.

mod tools;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cfm", version, about = "Closed-form flow matching: reproduction suite and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The closed-form optimal velocity u*(x, t) (Proposition 1) at each query row.
    Velocity(tools::VelocityArgs),
    /// Samples by integrating the closed-form velocity from Gaussian noise.
    Sample(tools::SampleArgs),
    /// Per-sample nearest-training distances and the memorization ratio test.
    Memorization(tools::MemorizationArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Velocity(a) => tools::velocity(&a),
        Command::Sample(a) => tools::sample(&a),
        Command::Memorization(a) => tools::memorization(&a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
