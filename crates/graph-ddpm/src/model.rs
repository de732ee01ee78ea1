//! [`GraphDdpmModel`]: the discrete DDPM behind graph-tensor's [`DiffusionModel`] trait, so
//! the shared trainer and the `graphdiff` CLI train and sample it.

use graph_tensor::batch::{mask_adjs, DenseBatch};
use graph_tensor::model::{check_sample_request, DataSummary, DiffusionModel, ModelError};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{AdamConfig, DecayEvery, LrSchedule};
use graph_tensor::train::TrainConfig;
use rand::Rng;
use tch::{nn, Device, Kind, Tensor};

use crate::config::{GraphDdpmConfig, Objective};
use crate::error::DdpmError;
use crate::loss::{node_mask, noise_adjacency, simple_loss_sum, vlb_loss};
use crate::ppgn::{dropout_scale, Powerful};
use crate::sampler::DdpmSampler;
use crate::transition::{DoublyStochastic, LevelTensors, StepLevels};

impl From<DdpmError> for ModelError {
    fn from(e: DdpmError) -> Self {
        match e {
            DdpmError::Config { field, reason } => ModelError::config(field, reason),
            DdpmError::Torch(t) => ModelError::Torch(t),
            other => ModelError::Invalid(other.to_string()),
        }
    }
}

/// The discrete DDPM as a [`DiffusionModel`]: the PPGN denoiser, the forward process, the
/// configured objective and sampler.
#[derive(Debug)]
pub struct GraphDdpmModel {
    net: Powerful,
    config: GraphDdpmConfig,
    process: DoublyStochastic,
    sampler: DdpmSampler,
}

impl GraphDdpmModel {
    /// Builds the model under `vs` (initial weights from torch's CPU generator).
    pub fn new(vs: &nn::Path, config: &GraphDdpmConfig) -> Result<Self, DdpmError> {
        config.validate()?;
        let net = Powerful::new(vs, config.shape());
        let process = config.process()?;
        let sampler = DdpmSampler::new(
            config.sampler_kind(),
            DoublyStochastic::new(&config.schedule, config.sampler_steps())?,
        )?;
        Ok(Self {
            net,
            config: config.clone(),
            process,
            sampler,
        })
    }

    /// The denoiser.
    pub fn network(&self) -> &Powerful {
        &self.net
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &GraphDdpmConfig {
        &self.config
    }

    /// The forward process of the training objective.
    pub fn process(&self) -> &DoublyStochastic {
        &self.process
    }

    /// The sampler.
    pub fn sampler(&self) -> &DdpmSampler {
        &self.sampler
    }

    /// The clean adjacency (masked by the node flags) and the flags of a batch, in the
    /// network's dtype and on its device.
    fn clean(&self, batch: &DenseBatch) -> Result<(Tensor, Tensor), ModelError> {
        let n = self.config.max_nodes;
        if batch.max_nodes() != n {
            return Err(ModelError::Invalid(format!(
                "batch is padded to {} nodes, the model to {n}",
                batch.max_nodes()
            )));
        }
        let flags = self
            .config
            .node_flags
            .flags(batch)
            .to_device(self.net.device())
            .to_kind(self.net.kind());
        let adj = batch
            .adj()
            .to_device(self.net.device())
            .to_kind(self.net.kind());
        Ok((mask_adjs(&adj, &flags), flags))
    }

    /// The random draws of a training step (per graph its level and the forward flips, from
    /// its stream; the head's dropout from the shared stream) and the batch cut into the
    /// parts the loss is computed in: on the CPU two parts of about equal cost (graphs
    /// assigned largest first to the lighter part, a rule that depends on the node counts
    /// only), on a GPU one.
    fn prepare(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Vec<PartInput>, ModelError> {
        let (adj0, flags) = self.clean(batch)?;
        let b = batch.batch_size();
        if noise.batch_size() != b {
            return Err(ModelError::Invalid(format!(
                "{} noise streams for a batch of {b}",
                noise.batch_size()
            )));
        }
        let n = self.config.max_nodes as i64;
        let steps: Vec<usize> = match self.config.objective {
            // np.random.uniform(0, 0.5) per graph
            Objective::Simple => Vec::new(),
            Objective::Vlb => (0..b)
                .map(|g| noise.graph_rng(g).gen_range(1..=self.process.num_steps()))
                .collect(),
        };
        let beta_bar: Vec<f64> = match self.config.objective {
            Objective::Simple => (0..b)
                .map(|g| 0.5 * noise.graph_rng(g).gen::<f64>())
                .collect(),
            Objective::Vlb => steps.iter().map(|&t| self.process.beta_bar(t)).collect(),
        };
        let uniform = noise.rand_sym_with(&[], n).to_device(self.net.device());
        let noised = noise_adjacency(&adj0, &flags, &beta_bar, &uniform)?;
        let drop = if train {
            self.dropout(b as i64, noise)
        } else {
            None
        };
        let cpu = self.net.device() == Device::Cpu;
        let present = Vec::<f32>::try_from(
            flags
                .to_kind(Kind::Float)
                .sum_dim_intlist(-1, false, Kind::Float)
                .to_device(Device::Cpu),
        )
        .map_err(ModelError::Torch)?;
        let mut order: Vec<usize> = (0..b).collect();
        order.sort_by(|&x, &y| present[y].total_cmp(&present[x]).then(x.cmp(&y)));
        let mut members = vec![Vec::new(); if cpu { 2 } else { 1 }];
        let mut cost = vec![0f64; members.len()];
        for g in order {
            let k = (0..members.len())
                .min_by(|&x, &y| cost[x].total_cmp(&cost[y]))
                .expect("a part");
            cost[k] += f64::from(present[g]).powi(2);
            members[k].push(g);
        }
        let mut parts = Vec::new();
        for mut m in members.into_iter().filter(|m| !m.is_empty()) {
            m.sort_unstable();
            let idx = Tensor::from_slice(&m.iter().map(|&g| g as i64).collect::<Vec<_>>())
                .to_device(self.net.device());
            let pick = |t: &Tensor| t.index_select(0, &idx);
            parts.push(PartInput {
                noisy: pick(&noised.noisy),
                flips: pick(&noised.flips),
                adj0: pick(&adj0),
                flags: pick(&flags),
                drop: drop.as_ref().map(pick),
                beta_bar: m.iter().map(|&g| beta_bar[g]).collect(),
                levels: m
                    .iter()
                    .filter_map(|&g| steps.get(g).map(|&t| StepLevels::of(&self.process, t)))
                    .collect(),
                objective: self.config.objective,
                batch_size: b,
                padded_pairs: (b as i64 * n * n) as f64,
                packed: cpu,
            });
        }
        Ok(parts)
    }

    /// The train-mode dropout of the head (p = `config.dropout`) as the scale tensor the
    /// network multiplies by, drawn from the shared stream of `noise`: the positions of the
    /// dropped elements are drawn by geometric skipping (exactly independent Bernoulli(p)
    /// drops, with a number of draws proportional to the number dropped rather than to the
    /// `B·N·N·h` elements — about one per step for the official p = 1e-6).
    fn dropout(&self, b: i64, noise: &mut NoiseSource) -> Option<Tensor> {
        let p = self.config.dropout;
        if p <= 0.0 {
            return None;
        }
        let n = self.config.max_nodes as i64;
        let h = self.config.hidden as i64;
        let numel = b * n * n * h;
        let log_keep = (1.0 - p).ln();
        let mut dropped = Vec::new();
        let mut pos: i64 = -1;
        let rng = noise.shared_rng();
        loop {
            let u: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
            let gap = (u.ln() / log_keep).floor();
            if !gap.is_finite() || pos as f64 + gap + 1.0 >= numel as f64 {
                break;
            }
            pos += gap as i64 + 1;
            dropped.push(pos);
        }
        let keep = Tensor::ones([numel], (self.net.kind(), self.net.device()));
        if !dropped.is_empty() {
            let idx = Tensor::from_slice(&dropped).to_device(self.net.device());
            let _ = keep.shallow_clone().index_fill_(0, &idx, 0.0);
        }
        Some(dropout_scale(&keep.view([b, n, n, h]), p, self.net.kind()))
    }
}

impl DiffusionModel for GraphDdpmModel {
    type Config = GraphDdpmConfig;

    const NAME: &'static str = "graph-ddpm";

    /// The official training setup (`ppgn_simple.py` `train_main`/`fit`,
    /// `config/train_*_ddpm.yaml`): Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight
    /// decay; ExponentialLR γ = 0.999 per epoch; batch 32; 5000 epochs; no EMA, no
    /// gradient clipping; seed 1234.
    ///
    /// One known difference: the official loop calls `scheduler.step(epoch)`, whose closed
    /// form gives epochs 0 and 1 both the initial rate (epoch e: lr·γ^max(e−1, 0)), while the
    /// shared schedule gives lr·γ^e — the same decay shifted by one epoch (a factor 0.999).
    fn default_train_config() -> TrainConfig {
        TrainConfig {
            steps: None,
            epochs: Some(5000),
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

    /// Checks the config and that the largest training graph fits the padding `max_nodes`
    /// (the official configs fix it: 20 Community-small, 18 Ego-small, 60 Planar-60); graphs
    /// are never truncated.
    fn resolve_config(config: &mut GraphDdpmConfig, data: &DataSummary) -> Result<(), ModelError> {
        config.validate()?;
        graph_tensor::model::check_padding(config.max_nodes, data)
    }

    fn build(vs: &nn::Path, config: &GraphDdpmConfig) -> Result<Self, ModelError> {
        Ok(Self::new(vs, config)?)
    }

    fn max_nodes(&self) -> usize {
        self.config.max_nodes
    }

    /// The configured objective on a batch, with its randomness from `noise`: per graph the
    /// level (L_simple: `β̄ ~ U(0, ½)`; VLB: `t ~ U{1, …, T}`) and the uniforms of the
    /// forward flips from the graph's stream, the head's dropout mask (train mode) from the
    /// shared stream.
    fn loss(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let parts = self.prepare(batch, train, noise)?;
        let mut total: Option<Tensor> = None;
        for part in &parts {
            let l = part.loss(&self.net)?;
            total = Some(match total {
                Some(t) => t + l,
                None => l,
            });
        }
        Ok(total.expect("at least one part"))
    }

    /// [`DiffusionModel::loss`] in train mode with its gradient. On the CPU the batch's two
    /// parts run side by side on libtorch's OpenMP team (each part's gradient taken with
    /// `run_backward`), then the parts' losses and gradients are added in a fixed order: the
    /// same numbers for any thread count.
    fn loss_backward(
        &self,
        batch: &DenseBatch,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let parts = self.prepare(batch, true, noise)?;
        let params = self.net.parameters();
        let mut jobs: Vec<PartJob> = parts
            .into_iter()
            .map(|input| PartJob {
                net: self.net.shallow_clone(),
                params: params.iter().map(Tensor::shallow_clone).collect(),
                input,
                result: None,
            })
            .collect();
        let threads = if self.net.device() == Device::Cpu {
            tch::get_num_threads().max(1) as usize
        } else {
            1
        };
        graph_tensor::parallel::run_jobs(threads, &mut jobs, PartJob::run);
        let mut total: Option<(Tensor, Vec<Tensor>)> = None;
        for job in jobs {
            let (l, g) = job.result.expect("every job ran")?;
            total = Some(match total {
                None => (l, g),
                Some((tl, tg)) => (tl + l, tg.iter().zip(&g).map(|(a, b)| a + b).collect()),
            });
        }
        let (loss, grads) = total.expect("at least one part");
        graph_tensor::optim::accumulate_grads(&params, &grads);
        Ok(loss)
    }

    /// The configured sampler ([`DdpmSampler::run`]) with the first `node_counts[g]` nodes
    /// present in graph g and graph g's draws from `seeds[g]`. Returns the binary batch on
    /// `device`; every node of the requested count is in the mask, isolated or not (the
    /// official evaluation then drops isolated nodes, as the `graphrnn` protocol does).
    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        let n = self.config.max_nodes;
        check_sample_request(node_counts, seeds, n)?;
        let adj = tch::no_grad(|| self.sampler.run(&self.net, node_counts, seeds, n, progress))?;
        let counts: Vec<i64> = node_counts.iter().map(|&c| c as i64).collect();
        let mask = Tensor::arange(n as i64, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .lt_tensor(&Tensor::from_slice(&counts).unsqueeze(1))
            .to_kind(Kind::Float);
        Ok(DenseBatch::new(
            adj.to_kind(Kind::Float).to_device(device),
            mask.to_device(device),
        )?)
    }

    /// The sampler's steps (`T` = 32 for the official configs).
    fn nfe(&self) -> usize {
        self.sampler.nfe()
    }
}

/// The graphs of one part of a training batch, noised, with everything their loss needs.
#[derive(Debug)]
struct PartInput {
    noisy: Tensor,
    flips: Tensor,
    adj0: Tensor,
    flags: Tensor,
    drop: Option<Tensor>,
    beta_bar: Vec<f64>,
    /// VLB only: each graph's step levels.
    levels: Vec<StepLevels>,
    objective: Objective,
    /// Graphs in the whole minibatch (the L_simple weight's `1/B`).
    batch_size: usize,
    /// `B·N²` of the whole padded minibatch (the L_simple mean's denominator).
    padded_pairs: f64,
    /// Run the padding-free forward (CPU).
    packed: bool,
}

impl PartInput {
    /// This part's term of the minibatch loss: the L_simple sum over its graphs divided by the
    /// whole batch's `B·N²`, or its graphs' VLB sum.
    fn loss(&self, net: &Powerful) -> Result<Tensor, ModelError> {
        let logits = if self.packed {
            net.forward_packed(&self.noisy, &self.flags, &self.beta_bar, self.drop.as_ref())?
        } else {
            net.forward(&self.noisy, &self.flags, &self.beta_bar, self.drop.as_ref())?
        };
        let mask = node_mask(&self.flags);
        Ok(match self.objective {
            Objective::Simple => {
                simple_loss_sum(&logits, &self.flips, &mask, &self.beta_bar, self.batch_size)?
                    / self.padded_pairs
            }
            Objective::Vlb => {
                let lt = LevelTensors::new(&self.levels, logits.kind(), logits.device());
                vlb_loss(&logits, &self.noisy, &self.adj0, &mask, &lt)?
            }
        })
    }
}

/// A part's loss and gradient, as a job for another thread.
struct PartJob {
    net: Powerful,
    params: Vec<Tensor>,
    input: PartInput,
    result: Option<Result<(Tensor, Vec<Tensor>), ModelError>>,
}

impl PartJob {
    fn run(&mut self) {
        self.result = Some(self.input.loss(&self.net).map(|loss| {
            let grads = Tensor::run_backward(&[&loss], &self.params, false, false);
            (loss.detach(), grads)
        }));
    }
}
