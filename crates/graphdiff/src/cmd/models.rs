//! The models the CLI can train and sample, and what `train` and `sample` share (device and
//! thread set-up, logging).
//!
//! Adding a model: one arm in [`dispatch`] and one entry in [`MODEL_NAMES`]. Everything else
//! (config parsing with JSON-path errors, training, checkpoints, sampling) is generic over
//! [`DiffusionModel`].

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use edp_gnn::EdpGnnModel;
use graph_ddpm::GraphDdpmModel;
use graph_gdp::GraphGdpModel;
use graph_tensor::baseline::ErdosRenyi;
use graph_tensor::model::DiffusionModel;
use tch::Device;

/// Names of the models, for help texts and errors.
pub const MODEL_NAMES: &[&str] = &[
    EdpGnnModel::NAME,
    GraphDdpmModel::NAME,
    GraphGdpModel::NAME,
    ErdosRenyi::NAME,
];

/// Something to do with a model type chosen by name at run time.
pub trait ModelVisitor {
    /// What the visit returns.
    type Output;
    /// Does it with model `M`.
    fn visit<M: DiffusionModel>(self) -> Self::Output;
}

/// Calls `visitor.visit::<M>()` for the model named `name`.
pub fn dispatch<V: ModelVisitor>(name: &str, visitor: V) -> Result<V::Output> {
    Ok(match name {
        EdpGnnModel::NAME => visitor.visit::<EdpGnnModel>(),
        GraphDdpmModel::NAME => visitor.visit::<GraphDdpmModel>(),
        GraphGdpModel::NAME => visitor.visit::<GraphGdpModel>(),
        ErdosRenyi::NAME => visitor.visit::<ErdosRenyi>(),
        other => bail!(
            "unknown model `{other}`; the models are: {}",
            MODEL_NAMES.join(", ")
        ),
    })
}

/// Parses `--device`: `cpu`, `cuda` or `cuda:N`; CUDA must be available.
pub fn parse_device(s: &str) -> Result<Device> {
    let device = match s.trim() {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Device::Cuda(i),
            _ => bail!("--device {other}: expected cpu, cuda or cuda:N"),
        },
    };
    if let Device::Cuda(i) = device {
        if !tch::Cuda::is_available() {
            bail!("--device {s}: CUDA is not available to libtorch on this machine (no GPU or no CUDA driver); use --device cpu");
        }
        let count = tch::Cuda::device_count() as usize;
        if i >= count {
            bail!("--device {s}: this machine has {count} CUDA device(s)");
        }
    }
    Ok(device)
}

/// Sets torch's intra-op thread count before any tensor operation: `threads`, else 1 on a
/// machine with at most 2 cores (see BENCHMARKS.md, "threads"), else torch's default.
/// Returns the count in effect.
pub fn set_threads(threads: Option<usize>) -> Result<i32> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let n = match threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => Some(n),
        None if cores <= 2 => Some(1),
        None => None,
    };
    if let Some(n) = n {
        let n = i32::try_from(n).context("--threads is too large")?;
        tch::set_num_threads(n);
    }
    Ok(tch::get_num_threads())
}

/// Logging set-up; lives in `cmd` because every command, not only these, uses it.
pub use super::init_logging;

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb
}
