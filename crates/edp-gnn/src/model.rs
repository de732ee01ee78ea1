//! [`EdpGnnModel`]: EDP-GNN behind graph-tensor's [`DiffusionModel`] trait, so the shared
//! trainer and the `graphdiff` CLI can train and sample it.

use graph_tensor::batch::{mask_adjs, DenseBatch};
use graph_tensor::model::{DataSummary, DiffusionModel, ModelError};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{AdamConfig, DecayEvery, LrSchedule};
use graph_tensor::train::TrainConfig;
use graph_tensor::Graph;
use tch::{nn, Device, Kind, Tensor};

use crate::config::EdpGnnConfig;
use crate::error::EdpGnnError;
use crate::loss::{perturb, score_matching_loss, Perturbed};
use crate::network::{Conditioning, EdgeBackward, EdpGnn, IN_FEATURES};
use crate::sampler::{prefix_flags, quantize, AnnealedLangevin};

impl From<EdpGnnError> for ModelError {
    fn from(e: EdpGnnError) -> Self {
        match e {
            EdpGnnError::Config { field, reason } => ModelError::config(field, reason),
            EdpGnnError::Torch(t) => ModelError::Torch(t),
            other => ModelError::Invalid(other.to_string()),
        }
    }
}

/// EDP-GNN as a [`DiffusionModel`]: the score network, its config and the annealed
/// Langevin sampler.
#[derive(Debug)]
pub struct EdpGnnModel {
    net: EdpGnn,
    config: EdpGnnConfig,
    sampler: AnnealedLangevin,
}

impl EdpGnnModel {
    /// Builds the network under `vs` with its initial weights drawn from a ChaCha8 stream
    /// seeded by `seed`.
    pub fn build_seeded(
        vs: &nn::Path,
        config: &EdpGnnConfig,
        seed: u64,
    ) -> Result<Self, EdpGnnError> {
        config.validate()?;
        let net = EdpGnn::new(vs, config, seed)?;
        let sampler = AnnealedLangevin::new(&config.sigmas, config.sampler.clone())?;
        Ok(Self {
            net,
            config: config.clone(),
            sampler,
        })
    }

    /// The score network.
    pub fn network(&self) -> &EdpGnn {
        &self.net
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &EdpGnnConfig {
        &self.config
    }

    /// The sampler.
    pub fn sampler(&self) -> &AnnealedLangevin {
        &self.sampler
    }

    /// Replaces the sampler settings (step count, step size, eps) without rebuilding the
    /// network, e.g. for the official step-size/eps grid search.
    pub fn set_sampler(
        &mut self,
        sampler: crate::config::SamplerConfig,
    ) -> Result<(), EdpGnnError> {
        self.sampler = AnnealedLangevin::new(&self.config.sigmas, sampler.clone())?;
        self.config.sampler = sampler;
        Ok(())
    }

    /// The official perturbation of a clean batch (train.py `loss_func` with
    /// `gen_list_of_data`): the batch replicated over every σ level, σ-major, noise
    /// `Z ~ N(0,1)` per graph and level from the graph's stream of `noise`.
    fn perturbed_batch(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
    ) -> Result<Perturbed, ModelError> {
        let n = self.config.max_nodes;
        if batch.max_nodes() != n {
            return Err(ModelError::Invalid(format!(
                "batch is padded to {} nodes, the model to {n}",
                batch.max_nodes()
            )));
        }
        if noise.batch_size() != batch.batch_size() {
            return Err(ModelError::Invalid(format!(
                "{} noise streams for a batch of {}",
                noise.batch_size(),
                batch.batch_size()
            )));
        }
        let (kind, device) = (self.net.kind(), self.net.device());
        let adj = batch.adj().to_device(device).to_kind(kind);
        let flags = self.node_flags(batch).to_device(device).to_kind(kind);
        let adj = mask_adjs(&adj, &flags);
        let levels = self.config.num_levels() as i64;
        // [B, L, N, N] symmetric draws (graph b's from its own stream) → [L, B, N, N].
        let z = noise
            .randn_sym_with(&[levels], n as i64)
            .transpose(0, 1)
            .to_device(device)
            .to_kind(kind);
        let p = perturb(&adj, &flags, &self.config.sigmas, &z)?;
        Ok(p)
    }

    /// Node flags `[B, N]` of a clean batch under the configured rule.
    pub fn node_flags(&self, batch: &DenseBatch) -> Tensor {
        self.config.node_flags.flags(batch)
    }

    /// The score `s_θ(Ã, σ_i)` of the official network for noisy adjacencies `adj: [B, N, N]`
    /// (exactly symmetric), node flags `[B, N]` and the samples' levels, in eval mode
    /// unless `train`. Node features are the official all-zero features. The result is
    /// symmetric with a zero diagonal and — like the official network's output — not
    /// masked by the flags: the loss counts padded pairs (their target is 0), and the
    /// sampler masks the state before every evaluation and at the end.
    pub fn score(
        &self,
        adj: &Tensor,
        flags: &Tensor,
        cond: Conditioning<'_>,
        train: bool,
    ) -> Result<Tensor, EdpGnnError> {
        let s = adj.size();
        let x = Tensor::zeros([s[0], s[1], IN_FEATURES], (adj.kind(), adj.device()));
        self.net.forward_t(&x, adj, flags, cond, train)
    }
}

/// The official conversion of a sampled graph for evaluation
/// (GraphScoreMatching:evaluation/stats.py `adjs_to_graphs`): isolated nodes are removed, and
/// a graph left without nodes becomes a single node.
pub fn official_postprocess(graph: &Graph) -> Graph {
    let g = graph.without_isolated_nodes();
    if g.n() == 0 {
        Graph::empty(1)
    } else {
        g
    }
}

impl DiffusionModel for EdpGnnModel {
    type Config = EdpGnnConfig;

    const NAME: &'static str = "edp-gnn";

    /// The official training setup (GraphScoreMatching:train.py, config/train_*.yaml): Adam
    /// lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay; ExponentialLR γ = 0.999 per
    /// epoch; batch 32; 5001 epochs; no EMA, no gradient clipping; seed 1234.
    ///
    /// One known difference: the official loop calls `scheduler.step(epoch)`, whose
    /// closed form gives epoch e the rate lr·γ^max(e−1, 0), while the shared schedule gives
    /// lr·γ^e — the same decay shifted by one epoch (a factor 0.999).
    fn default_train_config() -> TrainConfig {
        TrainConfig {
            steps: None,
            epochs: Some(5001),
            batch_size: 32,
            optimizer: AdamConfig::default(),
            lr_schedule: LrSchedule::Exponential {
                gamma: 0.999,
                every: DecayEvery::Epoch,
            },
            warmup_steps: 0,
            grad_clip: None,
            ema: None,
            seed: 1234,
            ..TrainConfig::default()
        }
    }

    /// Checks that the largest training graph fits the padding `max_nodes` (the official
    /// configs fix it: 20 for Community-small, 18 for Ego-small); graphs are never truncated.
    fn resolve_config(config: &mut EdpGnnConfig, data: &DataSummary) -> Result<(), ModelError> {
        config.validate()?;
        graph_tensor::model::check_padding(config.max_nodes, data)
    }

    /// Builds the network. The trait passes no seed, so the initialisation seed is drawn
    /// from torch's CPU generator: a trainer that calls `tch::manual_seed(seed)` first gets
    /// a reproducible, seed-dependent initialisation. Use [`EdpGnnModel::build_seeded`] for
    /// an explicit seed.
    fn build(vs: &nn::Path, config: &EdpGnnConfig) -> Result<Self, ModelError> {
        let seed = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
        Ok(Self::build_seeded(vs, config, seed as u64)?)
    }

    fn max_nodes(&self) -> usize {
        self.config.max_nodes
    }

    /// The official loss (train.py `loss_func`) on the batch replicated over every σ level
    /// (`gen_list_of_data`): noise `Z ~ N(0,1)` per graph and level from the graph's stream
    /// of `noise`, node flags by [`EdpGnnConfig::node_flags`], BatchNorm batch statistics
    /// over all `L·B·N·N` pairs when `train`.
    fn loss(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let p = self.perturbed_batch(batch, noise)?;
        let score = self.score(&p.noisy, &p.flags, Conditioning::SigmaMajor, train)?;
        let (loss, _items) = score_matching_loss(&score, &p.target, &self.config.sigmas)?;
        Ok(loss)
    }

    /// [`DiffusionModel::loss`] in train mode and its gradient, through
    /// [`EdpGnn::forward_train_tape`] with [`EdgeBackward::Auto`]: on the CPU with up to two
    /// libtorch threads the edge MLPs' hand-written backward (the same gradient as
    /// autograd's, tested to 1e-9 in float64), otherwise autograd.
    fn loss_backward(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let p = self.perturbed_batch(batch, noise)?;
        let s = p.noisy.size();
        let x = Tensor::zeros(
            [s[0], s[1], IN_FEATURES],
            (p.noisy.kind(), p.noisy.device()),
        );
        let (score, tape) = self.net.forward_train_tape(
            &x,
            &p.noisy,
            &p.flags,
            Conditioning::SigmaMajor,
            EdgeBackward::Auto,
        )?;
        let (loss, _items) = score_matching_loss(&score, &p.target, &self.config.sigmas)?;
        tape.backward(&loss);
        Ok(loss.detach())
    }

    /// Annealed Langevin sampling ([`AnnealedLangevin`]) with the first `node_counts[g]`
    /// nodes present in graph g and graph g's noise from `seeds[g]` (grouped chains on the
    /// CPU, [`AnnealedLangevin::run_padded`] on a GPU). Returns the quantised
    /// (threshold 0.5), masked batch on `device`; every node of the requested count is in the
    /// mask, isolated or not — apply [`official_postprocess`] for the official evaluation.
    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        let n = self.config.max_nodes;
        graph_tensor::model::check_sample_request(node_counts, seeds, n)?;
        // On the CPU the chains run grouped by node count, with no work on padding; on a GPU,
        // where a small call costs mostly its launch, as one padded batch (the same chains up
        // to float rounding, see `AnnealedLangevin::run_padded`).
        let adj = tch::no_grad(|| {
            if self.net.device() == Device::Cpu {
                self.sampler.run(&self.net, node_counts, seeds, n, progress)
            } else {
                self.sampler
                    .run_padded(&self.net, node_counts, seeds, n, progress)
            }
        })?;
        let flags = prefix_flags(node_counts, n)
            .to_device(adj.device())
            .to_kind(adj.kind());
        let adj = quantize(&adj, &flags);
        Ok(DenseBatch::new(
            adj.to_kind(Kind::Float).to_device(device),
            flags.to_kind(Kind::Float).to_device(device),
        )?)
    }

    /// `L × step_num` (6000 for the official settings).
    fn nfe(&self) -> usize {
        self.sampler.nfe()
    }
}
