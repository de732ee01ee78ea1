//! Sampling from a trained model: rebuild it from a checkpoint alone, draw node counts from
//! the training distribution stored in the checkpoint, sample in batches.
//!
//! Graph `i` of a request with seed `s` gets the node count
//! `NodeCountDistribution::sample_n(count, derive_seed(s, [1]))[i]` (a prefix-stable stream)
//! and the sampler seed `derive_seed(s, [2, i])`. With a model that honours the
//! [`DiffusionModel`] contract, the graphs therefore do not depend on the batch size, and the
//! first `k` graphs of a request for `m > k` graphs are the graphs of a request for `k`.

use tch::{nn::VarStore, Device};

use crate::checkpoint::{load_weights, Checkpoint, CheckpointError};
use crate::datasets::NodeCountDistribution;
use crate::graph::Graph;
use crate::model::{DiffusionModel, ModelError};
use crate::noise::derive_seed;
use crate::run::{config_hash, ConfigError, RunConfig};

/// Why sampling failed.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The checkpoint could not be read or does not fit.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint's config is invalid for this build.
    #[error("checkpoint config: {0}")]
    Config(ConfigError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<ConfigError> for SampleError {
    fn from(e: ConfigError) -> Self {
        SampleError::Config(e)
    }
}

/// Where a sampling call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleProgress {
    /// Graphs finished before the current batch.
    pub graphs_done: usize,
    /// Graphs asked for.
    pub graphs_total: usize,
    /// Size of the current batch.
    pub batch_size: usize,
    /// Network evaluations done in the current batch.
    pub step: usize,
    /// Network evaluations of the current batch.
    pub steps: usize,
}

/// Node counts and per-graph sampler seeds for `count` graphs from `seed`.
pub fn sample_plan(
    dist: &NodeCountDistribution,
    count: usize,
    seed: u64,
) -> (Vec<usize>, Vec<u64>) {
    let counts = dist.sample_n(count, derive_seed(seed, &[1]));
    let seeds = (0..count as u64)
        .map(|i| derive_seed(seed, &[2, i]))
        .collect();
    (counts, seeds)
}

/// Rebuilds model `M` from a checkpoint on `device` with its raw or EMA weights.
///
/// The config comes from the checkpoint's own `config.json` (checked against the hash in
/// `state.json`); the checkpoint must be of model `M`.
pub fn load_model<M: DiffusionModel>(
    ckpt: &Checkpoint,
    device: Device,
    ema: bool,
) -> Result<(VarStore, M, RunConfig<M::Config>), SampleError> {
    ckpt.expect_model(M::NAME)?;
    if config_hash(&ckpt.config) != ckpt.state.config_hash {
        return Err(CheckpointError::Mismatch {
            path: ckpt.dir.clone(),
            message: "config.json does not match the config hash in state.json (edited?)".into(),
        }
        .into());
    }
    load_model_with_config(ckpt, &ckpt.config, device, ema)
}

/// Like [`load_model`], but builds the model from `config` (a run config JSON, usually the
/// checkpoint's with sampler settings edited, e.g. EDP-GNN's step size) instead of the
/// checkpoint's own. The checkpoint's own config is still checked against its hash; a
/// `config` whose architecture differs fails when the weights are loaded, naming the
/// variable.
pub fn load_model_with_config<M: DiffusionModel>(
    ckpt: &Checkpoint,
    config: &serde_json::Value,
    device: Device,
    ema: bool,
) -> Result<(VarStore, M, RunConfig<M::Config>), SampleError> {
    ckpt.expect_model(M::NAME)?;
    if config_hash(&ckpt.config) != ckpt.state.config_hash {
        return Err(CheckpointError::Mismatch {
            path: ckpt.dir.clone(),
            message: "config.json does not match the config hash in state.json (edited?)".into(),
        }
        .into());
    }
    let config = RunConfig::<M::Config>::from_json(config, M::NAME)?;
    let vs = VarStore::new(device);
    let model = M::build(&vs.root(), &config.model)?;
    load_weights(&vs, ckpt, ema)?;
    Ok((vs, model, config))
}

/// Samples `count` graphs in batches of `batch_size` (see the [module docs](self) for how
/// node counts and seeds are assigned). Each sampled batch is checked to have the requested
/// node counts; adjacency entries `>= 0.5` are edges.
pub fn sample_graphs<M: DiffusionModel>(
    model: &M,
    node_counts: &NodeCountDistribution,
    count: usize,
    seed: u64,
    batch_size: usize,
    device: Device,
    progress: &mut dyn FnMut(SampleProgress),
) -> Result<Vec<Graph>, ModelError> {
    sample_graph_range(
        model,
        node_counts,
        count,
        seed,
        0..count,
        batch_size,
        device,
        progress,
    )
}

/// Graphs `range` of a request for `count` graphs from `seed`: exactly those graphs of
/// [`sample_graphs`]`(count, seed)` (each graph depends only on the plan's node count and
/// seed for its index), so the parts of a request sampled separately — on other machines,
/// for `graphdiff sample --shard` — and put together in order are the whole request.
#[allow(clippy::too_many_arguments)]
pub fn sample_graph_range<M: DiffusionModel>(
    model: &M,
    node_counts: &NodeCountDistribution,
    count: usize,
    seed: u64,
    range: std::ops::Range<usize>,
    batch_size: usize,
    device: Device,
    progress: &mut dyn FnMut(SampleProgress),
) -> Result<Vec<Graph>, ModelError> {
    if batch_size == 0 {
        return Err(ModelError::Invalid("batch size must be at least 1".into()));
    }
    if range.start > range.end || range.end > count {
        return Err(ModelError::Invalid(format!(
            "graphs {}..{} are not part of a request for {count}",
            range.start, range.end
        )));
    }
    let (counts, seeds) = sample_plan(node_counts, count, seed);
    let (counts, seeds) = (&counts[range.clone()], &seeds[range.clone()]);
    let count = range.len();
    let mut out = Vec::with_capacity(count);
    for (c, s) in counts.chunks(batch_size).zip(seeds.chunks(batch_size)) {
        let done = out.len();
        let mut cb = |step: usize, steps: usize| {
            progress(SampleProgress {
                graphs_done: done,
                graphs_total: count,
                batch_size: c.len(),
                step,
                steps,
            })
        };
        let batch = tch::no_grad(|| model.sample(c, s, device, &mut cb))?;
        if batch.node_counts() != c {
            return Err(ModelError::Invalid(format!(
                "{} sampler returned node counts {:?} for requested {:?}",
                M::NAME,
                batch.node_counts(),
                c
            )));
        }
        out.extend(batch.to_graphs(0.5)?);
    }
    Ok(out)
}
