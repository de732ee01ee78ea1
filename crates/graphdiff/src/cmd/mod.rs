//! One module per subcommand; each has an `Args` (clap) and a `run`.

pub mod dataset;
pub mod eval;
pub mod models;
pub mod sample;
pub mod stats;
pub mod train;

/// Whether an error is (caused by) a closed stdout, which is not worth reporting.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
