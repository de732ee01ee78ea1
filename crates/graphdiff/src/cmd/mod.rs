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

/// The error as one line: its chain of causes joined with ": ", leaving out a cause whose
/// message the line already ends with. The workspace's error types state their causes in
/// their own message and expose no source; an error that both prints its cause and exposes
/// it (a common pattern in other crates) would otherwise repeat it.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if line.is_empty() {
            line = msg;
        } else if !line.ends_with(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `field `x`: bad`.
    #[derive(Debug)]
    struct Inner;

    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field `x`: bad")
        }
    }

    impl std::error::Error for Inner {}

    /// A wrapper with a prefix; its message holds its source's when `repeats`.
    #[derive(Debug)]
    struct Outer {
        prefix: &'static str,
        repeats: bool,
        inner: Inner,
    }

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.repeats {
                write!(f, "{}: {}", self.prefix, self.inner)
            } else {
                f.write_str(self.prefix)
            }
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.inner)
        }
    }

    #[test]
    fn error_line_states_each_cause_once() {
        for repeats in [true, false] {
            let e = anyhow::Error::from(Outer {
                prefix: "checkpoint config",
                repeats,
                inner: Inner,
            })
            .context("loading the model");
            assert_eq!(
                error_line(&e),
                "loading the model: checkpoint config: field `x`: bad"
            );
        }
    }
}
