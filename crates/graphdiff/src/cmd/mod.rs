//! One module per subcommand; each has an `Args` (clap) and a `run`. `models`, `train` and
//! `sample` need libtorch and exist only with the `torch` feature.

use std::io::IsTerminal;

pub mod dataset;
pub mod eval;
#[cfg(feature = "torch")]
pub mod models;
pub mod plot;
#[cfg(feature = "torch")]
pub mod sample;
pub mod stats;
#[cfg(feature = "torch")]
pub mod train;

/// `tracing` to stderr, filtered by `RUST_LOG` (default: warnings only).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The arguments of a command this build does not have (evaluation-only binary).
#[cfg(not(feature = "torch"))]
#[derive(clap::Args)]
pub struct Unavailable {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<std::ffi::OsString>,
}

/// The error of a command this build does not have.
#[cfg(not(feature = "torch"))]
pub fn unavailable(command: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "`graphdiff {command}` needs libtorch, and this graphdiff was built without the `torch` \
         feature (evaluation only: dataset, stats, eval); install the full one with \
         `cargo install --path crates/graphdiff`"
    )
}

/// Whether an error is (caused by) a closed stdout, which is not worth reporting.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
