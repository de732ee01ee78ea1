//! [`ErdosRenyi`]: the Erdős–Rényi baseline, trained and sampled through the same machinery
//! as the diffusion models.
//!
//! Each graph with `n` nodes is drawn as `G(n, p_n)`: every pair is an edge independently with
//! probability `p_n = σ(θ_n)`. Training minimises the binary cross-entropy over all valid
//! node pairs of each batch, whose minimiser is the maximum-likelihood `p_n` = fraction of
//! pairs that are edges among the training graphs with `n` nodes (or one `p` for all sizes
//! with `per_size: false`). It is the "E-R" row of the GraphRNN and GRAN result tables, and
//! the cheapest model with which to exercise training, checkpoints, resume and sampling
//! end to end. It is not a diffusion model: one network evaluation per sample.

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::batch::{pair_mask, DenseBatch};
use crate::model::{DataSummary, DiffusionModel, ModelError};
use crate::noise::NoiseSource;
use crate::optim::{AdamConfig, LrSchedule};
use crate::train::TrainConfig;

/// Config of [`ErdosRenyi`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErdosRenyiConfig {
    /// Padding size (`null`: the largest training graph).
    pub max_nodes: Option<usize>,
    /// One edge probability per node count (`true`) or one for all sizes.
    pub per_size: bool,
}

impl Default for ErdosRenyiConfig {
    fn default() -> Self {
        ErdosRenyiConfig {
            max_nodes: None,
            per_size: true,
        }
    }
}

/// The Erdős–Rényi baseline (see the [module docs](self)).
#[derive(Debug)]
pub struct ErdosRenyi {
    /// Edge logits θ: `[max_nodes + 1]` (per size) or `[1]`.
    logits: Tensor,
    max_nodes: usize,
    per_size: bool,
}

impl ErdosRenyi {
    /// Edge probability `p_n` for graphs with `n` nodes.
    pub fn edge_probability(&self, n: usize) -> f64 {
        let i = if self.per_size { n as i64 } else { 0 };
        tch::no_grad(|| self.logits.get(i).sigmoid().double_value(&[]))
    }

    /// Per-graph logits `[B]` for node counts.
    fn logits_for(&self, counts: &[usize]) -> Tensor {
        let idx: Vec<i64> = counts
            .iter()
            .map(|&n| if self.per_size { n as i64 } else { 0 })
            .collect();
        let idx = Tensor::from_slice(&idx).to_device(self.logits.device());
        self.logits.index_select(0, &idx)
    }
}

impl DiffusionModel for ErdosRenyi {
    type Config = ErdosRenyiConfig;
    const NAME: &'static str = "erdos-renyi";

    fn default_train_config() -> TrainConfig {
        TrainConfig {
            steps: Some(500),
            batch_size: 32,
            optimizer: AdamConfig {
                lr: 0.05,
                ..AdamConfig::default()
            },
            lr_schedule: LrSchedule::Constant {},
            log_every: 25,
            checkpoint_every: 100,
            ..TrainConfig::default()
        }
    }

    fn resolve_config(config: &mut Self::Config, data: &DataSummary) -> Result<(), ModelError> {
        match config.max_nodes {
            None => config.max_nodes = Some(data.max_nodes),
            Some(m) if m < data.max_nodes => {
                return Err(ModelError::config(
                    "max_nodes",
                    format!(
                        "{m} is below the largest training graph ({} nodes)",
                        data.max_nodes
                    ),
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn build(vs: &nn::Path, config: &Self::Config) -> Result<Self, ModelError> {
        let max_nodes = config.max_nodes.ok_or_else(|| {
            ModelError::config(
                "max_nodes",
                "not set (null is resolved from training data only)",
            )
        })?;
        let k = if config.per_size {
            max_nodes as i64 + 1
        } else {
            1
        };
        let logits = vs.var("logits", &[k], nn::Init::Const(0.0));
        Ok(ErdosRenyi {
            logits,
            max_nodes,
            per_size: config.per_size,
        })
    }

    fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    /// Mean binary cross-entropy over the valid pairs of the batch.
    fn loss(
        &self,
        batch: &DenseBatch,
        _train: bool,
        _noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let pm = batch.pair_mask();
        let b = batch.batch_size() as i64;
        let logits = self
            .logits_for(batch.node_counts())
            .view([b, 1, 1])
            .expand([b, 1, 1], false);
        let logits = logits.expand_as(batch.adj());
        let bce = logits.binary_cross_entropy_with_logits::<Tensor>(
            batch.adj(),
            None,
            None,
            tch::Reduction::None,
        );
        let pairs = pm.sum(Kind::Float).clamp_min(1.0);
        Ok((bce * &pm).sum(Kind::Float) / pairs)
    }

    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        crate::model::check_sample_request(node_counts, seeds, self.max_nodes)?;
        let (b, n) = (node_counts.len() as i64, self.max_nodes as i64);
        let mask_rows: Vec<f32> = node_counts
            .iter()
            .flat_map(|&c| (0..self.max_nodes).map(move |u| if u < c { 1.0 } else { 0.0 }))
            .collect();
        let mask = Tensor::from_slice(&mask_rows)
            .view([b, n])
            .to_device(device);
        let p = self
            .logits_for(node_counts)
            .sigmoid()
            .to_device(device)
            .view([b, 1, 1])
            .expand([b, n, n], false);
        let mut noise = NoiseSource::from_seeds(seeds, device);
        let adj = noise.bernoulli_sym(&p) * pair_mask(&mask);
        progress(1, 1);
        Ok(DenseBatch::new(adj, mask)?)
    }

    fn nfe(&self) -> usize {
        1
    }
}
