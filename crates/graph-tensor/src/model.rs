//! The interface every diffusion model implements: [`DiffusionModel`].
//!
//! One trainer ([`crate::train`]) and one CLI drive every model through this trait: the model
//! builds its network on a [`tch::nn::Path`] from its config, computes a scalar training loss
//! on a [`DenseBatch`], and samples adjacency matrices for given node counts. All randomness
//! comes from a [`NoiseSource`] (training) or per-graph seeds (sampling), never from torch's
//! global generator, so runs resume exactly and samples do not depend on the batch size.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{Device, Tensor};

use crate::batch::{BatchError, DenseBatch};
use crate::graph::Graph;
use crate::noise::NoiseSource;
use crate::train::TrainConfig;

/// Why a model could not be built, trained or sampled.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A config field has an invalid value (`field` is its JSON path, e.g. `sigmas[2]`).
    #[error("config field `{field}`: {message}")]
    Config {
        /// JSON path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The model was asked for something it cannot do (e.g. more nodes than `max_nodes`,
    /// node counts and seeds of different lengths).
    #[error("{0}")]
    Invalid(String),
    /// Converting between graphs and tensors failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for ModelError {
    fn from(e: tch::TchError) -> Self {
        ModelError::Torch(e)
    }
}

impl ModelError {
    /// A [`ModelError::Config`] for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks the arguments of [`DiffusionModel::sample`]: one seed per node count, and no
/// graph larger than the model's padding `max_nodes`. Every model calls this first.
pub fn check_sample_request(
    node_counts: &[usize],
    seeds: &[u64],
    max_nodes: usize,
) -> Result<(), ModelError> {
    if node_counts.len() != seeds.len() {
        return Err(ModelError::Invalid(format!(
            "{} node counts but {} seeds",
            node_counts.len(),
            seeds.len()
        )));
    }
    if let Some(g) = node_counts.iter().position(|&c| c > max_nodes) {
        return Err(ModelError::Invalid(format!(
            "graph {g}: {} nodes requested, more than max_nodes = {max_nodes}",
            node_counts[g]
        )));
    }
    Ok(())
}

/// Checks that the largest training graph fits a model's padding `max_nodes` (a config
/// field of that name): graphs are never truncated. What every model's
/// [`DiffusionModel::resolve_config`] checks.
pub fn check_padding(max_nodes: usize, data: &DataSummary) -> Result<(), ModelError> {
    if data.max_nodes > max_nodes {
        return Err(ModelError::config(
            "max_nodes",
            format!(
                "is {max_nodes} but the largest training graph has {} nodes",
                data.max_nodes
            ),
        ));
    }
    Ok(())
}

/// What a model may need to know about its training data before it is built (e.g. to size
/// its padding from the largest training graph).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DataSummary {
    /// Number of training graphs.
    pub num_graphs: usize,
    /// Largest number of nodes of a training graph.
    pub max_nodes: usize,
    /// Mean number of nodes.
    pub mean_nodes: f64,
    /// Fraction of node pairs that are edges, over all training graphs.
    pub edge_density: f64,
}

impl DataSummary {
    /// Summarises a set of training graphs.
    pub fn from_graphs(graphs: &[Graph]) -> Self {
        let num_graphs = graphs.len();
        let max_nodes = graphs.iter().map(Graph::n).max().unwrap_or(0);
        let total_nodes: usize = graphs.iter().map(Graph::n).sum();
        let pairs: usize = graphs
            .iter()
            .map(|g| g.n() * g.n().saturating_sub(1) / 2)
            .sum();
        let edges: usize = graphs.iter().map(Graph::num_edges).sum();
        DataSummary {
            num_graphs,
            max_nodes,
            mean_nodes: if num_graphs == 0 {
                0.0
            } else {
                total_nodes as f64 / num_graphs as f64
            },
            edge_density: if pairs == 0 {
                0.0
            } else {
                edges as f64 / pairs as f64
            },
        }
    }
}

/// A diffusion model over graphs (EDP-GNN, discrete DDPM, GraphGDP, ...).
///
/// Contract (checked for every model by [`crate::conformance::check_sampler`]):
/// * `loss` draws all its randomness from the given [`NoiseSource`];
/// * `sample` is a function of the weights, node counts, seeds and device only: graph `i`'s
///   output depends only on `node_counts[i]` and `seeds[i]` (draw its noise with
///   [`NoiseSource::from_seeds`] and the per-graph methods), so the result does not depend on
///   the batch size;
/// * sampled batches satisfy the [`DenseBatch`] invariants (0/1, symmetric, zero diagonal,
///   masked) with `node_counts[i]` real nodes in graph `i` (a model that treats isolated
///   nodes as absent still reports the requested count in the mask).
pub trait DiffusionModel: Sized {
    /// The model's hyper-parameters; `Default` is the reference configuration. Deserialised
    /// with `deny_unknown_fields`; must not have fields named `model`, `train` or `data`
    /// (those keys belong to the run config that embeds it).
    type Config: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Default + PartialEq;

    /// Name in configs, checkpoints and the CLI, e.g. `"edp-gnn"`.
    const NAME: &'static str;

    /// The reference training hyper-parameters of this model (optimizer, schedule, EMA,
    /// batch size, length).
    fn default_train_config() -> TrainConfig;

    /// Fills data-dependent config fields (e.g. `max_nodes` from the largest training graph)
    /// and checks the config against the data. Called before every build of a training run
    /// (fresh or resumed), so it must be idempotent: resolving a resolved config changes
    /// nothing. The result is what config.json and checkpoints store.
    fn resolve_config(config: &mut Self::Config, data: &DataSummary) -> Result<(), ModelError> {
        let _ = (config, data);
        Ok(())
    }

    /// Builds the network's variables under `vs` (parameter names follow the module tree).
    fn build(vs: &tch::nn::Path, config: &Self::Config) -> Result<Self, ModelError>;

    /// Padding size `N` of the batches the model trains on and samples.
    fn max_nodes(&self) -> usize;

    /// Scalar training loss on a batch (`batch.adj(): [B, N, N]` 0/1, `N = max_nodes()`).
    /// `train` selects training behaviour (dropout, batch-norm statistics); all randomness
    /// comes from `noise`, which has one stream per graph of `batch`.
    fn loss(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError>;

    /// The training loss of `batch` in training mode, with its gradient accumulated into
    /// the parameters' `.grad`: what the training loop calls each step. Returns the loss
    /// value (a scalar tensor; its autograd graph is no longer needed).
    ///
    /// The default is [`DiffusionModel::loss`] with `train` true followed by
    /// `loss.backward()`. A model whose training forward takes part of its gradient outside
    /// libtorch's autograd (a hand-written backward) overrides it; its gradient must equal
    /// the default's up to float rounding.
    fn loss_backward(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let loss = self.loss(batch, true, noise)?;
        // A loss of another shape is the caller's to report (the training loop names it).
        if loss.numel() == 1 {
            if !loss.requires_grad() {
                return Err(ModelError::Invalid(format!(
                    "{}: the training loss does not depend on any parameter",
                    Self::NAME
                )));
            }
            loss.backward();
        }
        Ok(loss)
    }

    /// Samples one graph per entry of `node_counts` (`seeds[i]` drives graph `i`) on
    /// `device`. Returns a 0/1 batch. `progress(done, total)` reports network evaluations
    /// done so far in this call. Runs without gradients.
    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError>;

    /// Network evaluations per sampled graph (of the most recent `sample` call, for samplers
    /// whose count is not fixed).
    fn nfe(&self) -> usize;
}
