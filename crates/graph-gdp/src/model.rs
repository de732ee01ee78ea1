//! [`GraphGdpModel`]: GraphGDP behind graph-tensor's [`DiffusionModel`] trait, so the shared
//! trainer and the `graphdiff` CLI can train and sample it.

use graph_tensor::batch::DenseBatch;
use graph_tensor::ema::EmaConfig;
use graph_tensor::model::{DataSummary, DiffusionModel, ModelError};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{AdamConfig, LrSchedule};
use graph_tensor::train::TrainConfig;
use std::cell::Cell;
use tch::{nn, Device, Kind, Tensor};

use crate::config::GraphGdpConfig;
use crate::error::{input_err, GdpError};
use crate::loss::{denoising_loss, perturb, scale_data, times_from_uniform};
use crate::pgsn::{Dropout, Nodes, Pgsn};
use crate::sampler::{self, quantize};
use crate::sde::{build_sde, Sde};

impl From<GdpError> for ModelError {
    fn from(e: GdpError) -> Self {
        match e {
            GdpError::Config { field, reason } => ModelError::config(field, reason),
            GdpError::Torch(t) => ModelError::Torch(t),
            other => ModelError::Invalid(other.to_string()),
        }
    }
}

/// GraphGDP as a [`DiffusionModel`]: the PGSN, its SDE and the configured sampler.
#[derive(Debug)]
pub struct GraphGdpModel {
    net: Pgsn,
    sde: Box<dyn Sde>,
    config: GraphGdpConfig,
    last_nfe: Cell<(usize, usize, f64)>,
}

impl GraphGdpModel {
    /// Builds the network under `vs` with its initial weights drawn from a ChaCha8 stream
    /// seeded by `seed`.
    pub fn build_seeded(
        vs: &nn::Path,
        config: &GraphGdpConfig,
        seed: u64,
    ) -> Result<Self, GdpError> {
        config.validate()?;
        let net = Pgsn::new(vs, config, seed)?;
        let sde = build_sde(&config.sde)?;
        Ok(Self {
            net,
            sde,
            config: config.clone(),
            last_nfe: Cell::new((0, 0, 0.0)),
        })
    }

    /// The score network.
    pub fn network(&self) -> &Pgsn {
        &self.net
    }

    /// The SDE.
    pub fn sde(&self) -> &dyn Sde {
        self.sde.as_ref()
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &GraphGdpConfig {
        &self.config
    }

    /// Replaces the sampler settings without rebuilding the network.
    pub fn set_sampler(&mut self, sampler: crate::config::SamplerConfig) -> Result<(), GdpError> {
        sampler.validate()?;
        self.config.sampler = sampler;
        Ok(())
    }

    /// Network evaluations per graph of the last `sample` call: `(min, max, mean)`.
    pub fn last_nfe(&self) -> (usize, usize, f64) {
        self.last_nfe.get()
    }

    /// The training loss of a batch (train mode: dropout on), drawing `t` and the noise from
    /// `noise` (per graph: one uniform for t, then the symmetric noise, then in train mode the
    /// dropout masks). Returns the loss and the per-graph losses.
    pub fn loss_with(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
        train: bool,
    ) -> Result<(Tensor, Tensor), GdpError> {
        let p = self.perturbed(batch, noise)?;
        let dropout = if train {
            Dropout::Draw(noise)
        } else {
            Dropout::Off
        };
        let eps = self.net.forward(&p.x_t, &p.t, &p.nodes, dropout)?;
        Ok(self.finish_loss(&eps, &p, train))
    }

    /// A training batch perturbed as the official loss does.
    fn perturbed(&self, batch: &DenseBatch, noise: &mut NoiseSource) -> Result<Batch, GdpError> {
        let n = self.config.max_nodes;
        if batch.max_nodes() != n {
            return Err(input_err(
                "batch",
                format!("padded to {} nodes, the model to {n}", batch.max_nodes()),
            ));
        }
        if noise.batch_size() != batch.batch_size() {
            return Err(input_err(
                "noise",
                format!(
                    "{} noise streams for a batch of {}",
                    noise.batch_size(),
                    batch.batch_size()
                ),
            ));
        }
        let (kind, device) = (self.net.kind(), self.net.device());
        let nodes = Nodes::new(batch.node_counts().to_vec());
        let prefix = nodes.node_mask(n as i64, Kind::Float, batch.device());
        if !prefix.equal(&batch.mask().to_kind(Kind::Float)) {
            return Err(input_err(
                "batch",
                "the node mask is not a prefix mask (graph b must occupy nodes 0..n_b)",
            ));
        }
        let u = noise.rand(&[]).to_device(device).to_kind(kind);
        let t = times_from_uniform(&u, self.config.train_eps);
        let z = noise.randn_sym(n as i64).to_device(device).to_kind(kind);
        let x0 = scale_data(&batch.adj().to_device(device), kind);
        let p = perturb(self.sde.as_ref(), &x0, &t, &z);
        Ok(Batch {
            pair_mask: nodes.pair_mask(n as i64, kind, device),
            x_t: p.x_t,
            t,
            z: p.z,
            std: p.std,
            nodes,
        })
    }

    /// The loss from the network's output (and, in train mode, the zero-gradient anchor of
    /// the unused variable).
    fn finish_loss(&self, eps: &Tensor, p: &Batch, train: bool) -> (Tensor, Tensor) {
        let (mut loss, per) = denoising_loss(eps, &p.std, &p.z, &p.pair_mask);
        if train && loss.requires_grad() {
            // The last layer's lin_pos is never used (as in the official network), so
            // autograd would leave its gradient undefined; a zero gradient keeps it exactly
            // at its value under Adam (zero moments, zero update) and lets the optimizer take
            // its single-buffer step.
            let kind = loss.kind();
            loss = loss.g_add(&(self.net.unused_variable() * 0.0).sum(kind));
        }
        (loss, per)
    }
}

/// A perturbed training batch.
struct Batch {
    nodes: Nodes,
    pair_mask: Tensor,
    x_t: Tensor,
    t: Tensor,
    z: Tensor,
    std: Tensor,
}

impl DiffusionModel for GraphGdpModel {
    type Config = GraphGdpConfig;

    const NAME: &'static str = "graph-gdp";

    /// The official optimisation (`configs/vp_*_pgsn.py`, `losses.optimization_manager`):
    /// Adam lr 2e-5, β (0.9, 0.999), eps 1e-8, no weight decay; linear warm-up over 1000
    /// steps starting at lr 0; gradient clipping at norm 1; EMA 0.9999 with score_sde's
    /// warm-up rule; batch 32; seed 42; 1,500,001 steps (Community-small's `n_iters`
    /// 1,500,000, the loop runs steps 0..=n_iters). The Ego-small and ENZYMES presets set
    /// their own lengths.
    fn default_train_config() -> TrainConfig {
        TrainConfig {
            steps: Some(1_500_001),
            epochs: None,
            batch_size: 32,
            optimizer: AdamConfig {
                lr: 2e-5,
                ..AdamConfig::default()
            },
            lr_schedule: LrSchedule::Constant {},
            warmup_steps: 1000,
            grad_clip: Some(1.0),
            ema: Some(EmaConfig {
                decay: 0.9999,
                warmup: true,
            }),
            seed: 42,
            ..TrainConfig::default()
        }
    }

    /// Checks that the largest training graph fits the padding `max_nodes` (graphs are
    /// never truncated).
    fn resolve_config(config: &mut GraphGdpConfig, data: &DataSummary) -> Result<(), ModelError> {
        config.validate()?;
        graph_tensor::model::check_padding(config.max_nodes, data)
    }

    /// Builds the network. The trait passes no seed, so the initialisation seed is drawn
    /// from torch's CPU generator (which the shared trainer seeds from the training seed);
    /// use [`GraphGdpModel::build_seeded`] for an explicit seed.
    fn build(vs: &nn::Path, config: &GraphGdpConfig) -> Result<Self, ModelError> {
        let seed = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
        Ok(Self::build_seeded(vs, config, seed as u64)?)
    }

    fn max_nodes(&self) -> usize {
        self.config.max_nodes
    }

    /// The official loss (`get_sde_loss_fn`): per graph `t = u·(1 − train_eps) + train_eps`
    /// from one uniform of its stream, then symmetric noise, then (train mode) its dropout
    /// masks.
    fn loss(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        Ok(self.loss_with(batch, noise, train)?.0)
    }

    /// The training loss and its gradient through [`Pgsn::forward_train_tape`]: on the CPU
    /// the pair work's gradient is taken by hand (the same gradient as autograd's, tested to
    /// 1e-10 in float64), elsewhere by autograd.
    fn loss_backward(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let p = self.perturbed(batch, noise)?;
        let (eps, tape) =
            self.net
                .forward_train_tape(&p.x_t, &p.t, &p.nodes, Dropout::Draw(noise))?;
        let (loss, _) = self.finish_loss(&eps, &p, true);
        tape.backward(&self.net, &loss);
        Ok(loss.detach())
    }

    /// Samples with the configured sampler; graph `g`'s noise from `seeds[g]`, its first
    /// `node_counts[g]` nodes real. Returns the quantised batch (`(x + 1)/2 ≥ 0.5`, lower
    /// triangle mirrored) on `device`.
    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        let n = self.config.max_nodes;
        graph_tensor::model::check_sample_request(node_counts, seeds, n)?;
        let nodes = Nodes::new(node_counts.to_vec());
        let mut noise = NoiseSource::from_seeds(seeds, self.net.device());
        let run = tch::no_grad(|| {
            sampler::run(
                &self.config.sampler,
                &self.net,
                self.sde.as_ref(),
                &nodes,
                &mut noise,
                progress,
            )
        })?;
        let nfe = &run.nfe;
        if !nfe.is_empty() {
            let (min, max) = (
                *nfe.iter().min().expect("non-empty"),
                *nfe.iter().max().expect("non-empty"),
            );
            let mean = nfe.iter().sum::<usize>() as f64 / nfe.len() as f64;
            self.last_nfe.set((min, max, mean));
        }
        let pm = nodes.pair_mask(n as i64, run.x.kind(), run.x.device());
        let adj = quantize(&run.x, &pm);
        let mask = nodes.node_mask(n as i64, Kind::Float, device);
        Ok(DenseBatch::new(adj.to_device(device), mask)?)
    }

    /// Network evaluations per graph: of the last `sample` call (rounded mean; adaptive
    /// solvers differ between graphs), else what the sampler makes for a graph with valid
    /// pairs when the count is fixed (the adaptive solver's first two evaluations otherwise).
    fn nfe(&self) -> usize {
        let (_, max, mean) = self.last_nfe.get();
        if max > 0 {
            return mean.round().max(1.0) as usize;
        }
        sampler::evaluations(&self.config.sampler)
    }
}
