//! `graphdiff`: the command line of the graphdiff workspace.
//!
//! Only this crate knows about the command line, progress bars and exit codes: errors exit
//! with code 2 and a one-line message on stderr, and a closed stdout (`| head`) is not an error.
//!
//! Without the `torch` feature (default on) the binary is evaluation-only: `train` and
//! `sample` are not compiled in (they answer with an error saying so) and nothing links
//! libtorch.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod plot;

/// `--version`: the evaluation-only build says so.
#[cfg(feature = "torch")]
const VERSION: &str = env!("CARGO_PKG_VERSION");
#[cfg(not(feature = "torch"))]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (evaluation only: built without the `torch` feature)"
);

/// Diffusion models that generate graphs: datasets, training, sampling and MMD evaluation.
#[derive(Parser)]
#[command(name = "graphdiff", version = VERSION, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a benchmark dataset and write it to a graph file.
    Dataset(cmd::dataset::Args),
    /// Print statistics of a graph file.
    Stats(cmd::stats::Args),
    /// Evaluate generated graphs against reference graphs (MMD, uniqueness, novelty, validity).
    Eval(cmd::eval::Args),
    /// Draw graphs or training curves as SVG.
    Plot(cmd::plot::Args),
    /// Train a model into a run directory (config, metrics, checkpoints; resumable).
    #[cfg(feature = "torch")]
    Train(cmd::train::Args),
    /// Sample graphs from a trained checkpoint.
    #[cfg(feature = "torch")]
    Sample(cmd::sample::Args),
    /// Not in this build (needs the `torch` feature).
    #[cfg(not(feature = "torch"))]
    #[command(hide = true)]
    Train(cmd::Unavailable),
    /// Not in this build (needs the `torch` feature).
    #[cfg(not(feature = "torch"))]
    #[command(hide = true)]
    Sample(cmd::Unavailable),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Keep freed tensor memory in the process instead of faulting it in again every step.
    #[cfg(feature = "torch")]
    graph_tensor::malloc::tune_for_tensors();
    // Subnormal floats as zero (torch.set_flush_denormal), before any thread starts: they
    // can slow a training's matrix products several times over (graph_tensor::fpenv).
    #[cfg(feature = "torch")]
    graph_tensor::fpenv::flush_denormals();
    // Warnings from the libraries (e.g. self-loops dropped while reading an edge list) reach
    // stderr for every command; RUST_LOG selects more.
    cmd::init_logging();
    let result = match cli.command {
        Command::Dataset(a) => cmd::dataset::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Plot(a) => cmd::plot::run(a),
        #[cfg(feature = "torch")]
        Command::Train(a) => cmd::train::run(a),
        #[cfg(feature = "torch")]
        Command::Sample(a) => cmd::sample::run(a),
        #[cfg(not(feature = "torch"))]
        Command::Train(_) => cmd::unavailable("train"),
        #[cfg(not(feature = "torch"))]
        Command::Sample(_) => cmd::unavailable("sample"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if cmd::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            // One line: the chain of causes joined with ": ", each stated once.
            eprintln!("graphdiff: error: {}", cmd::error_line(&e));
            ExitCode::from(2)
        }
    }
}
