//! Annealed Langevin dynamics (Niu et al. 2020, Algorithm 1), as
//! GraphScoreMatching:model/langevin_mc.py (`LangevinMCSampler`) and sample.py run it.
//!
//! For each level σ_i from the largest to the smallest, `step_num` steps of
//!
//! ```text
//! Ã ← mask(A + T + Tᵀ),  T = triu(Z, 1)·√(2α_i)·eps,  Z ~ N(0, 1)
//! A ← Ã + α_i · s_θ(Ã, σ_i),                          α_i = grad_step_size·σ_i²
//! ```
//!
//! (noise is added *before* the score is evaluated), starting from `|N(0, 1)|` on the strict
//! upper triangle, symmetrised and masked; the result is thresholded at 0.5.
//!
//! The official `sample.py` pipelines the levels (one batch holds a chunk per level and
//! chunks move down one level per round); each graph still sees exactly the sequence above,
//! so here all graphs of a batch simply go through the levels together. The network is in
//! eval mode (BatchNorm uses running statistics), so graphs do not interact.
//!
//! Randomness: graph g draws everything — its start and every step's noise — from its own
//! stream of a [`NoiseSource`] (`ChaCha8Rng` seeded with the graph's seed, drawn on the CPU),
//! so the output depends on the graph's seed, node count and the padding size only: not on
//! the batch it is sampled in, its position there, the device's random generator or the
//! thread count.
//!
//! Differences from the official code, none of which changes the chain of a present pair:
//! α_i and √(2α_i)·eps are computed in double precision and rounded once (the official code
//! computes them in float32); the final adjacency is masked by the node flags before
//! thresholding (the official one is not, so a padded pair whose last update α·s exceeds
//! 0.5 would become an edge of a node that does not exist).

use graph_tensor::batch::mask_adjs;
use graph_tensor::noise::NoiseSource;
use tch::{Device, Tensor};

use crate::config::SamplerConfig;
use crate::error::{config_err, input_err, Result};
use crate::network::{Conditioning, EdpGnn, IN_FEATURES};

/// The output of one Langevin update.
#[derive(Debug)]
pub struct LangevinStep {
    /// Ã = mask(A + T + Tᵀ), the point where the score was evaluated: `[B, N, N]`.
    pub noised: Tensor,
    /// The score s_θ(Ã, σ): `[B, N, N]`.
    pub score: Tensor,
    /// A' = Ã + α·s_θ(Ã, σ): `[B, N, N]` (not masked again, as in the official code).
    pub next: Tensor,
}

/// One Langevin update (langevin_mc.py `_step_sample`), in eval mode without gradients.
///
/// * `adj`: `[B, N, N]` current state (symmetric); `flags`: `[B, N]`; `cond`: the levels;
/// * `step_size` α and `noise_scale` √(2α)·eps: `[B]`, per sample;
/// * `z`: `[B, N, N]` standard normal draws, only the strict upper triangle is used.
pub fn langevin_step(
    net: &EdpGnn,
    adj: &Tensor,
    flags: &Tensor,
    cond: Conditioning<'_>,
    step_size: &Tensor,
    noise_scale: &Tensor,
    z: &Tensor,
) -> Result<LangevinStep> {
    let s = adj.size();
    if s.len() != 3 || z.size() != s {
        return Err(input_err(
            "z",
            format!("expected the shape of adj {s:?}, got {:?}", z.size()),
        ));
    }
    let b = s[0];
    for (what, t) in [("step_size", step_size), ("noise_scale", noise_scale)] {
        if t.size() != [b] {
            return Err(input_err(
                what,
                format!("expected [{b}], got {:?}", t.size()),
            ));
        }
    }
    tch::no_grad(|| {
        let t = z.triu(1) * noise_scale.view([b, 1, 1]);
        let noised = mask_adjs(&(&t + t.transpose(-1, -2) + adj), flags);
        let x = Tensor::zeros([b, s[1], IN_FEATURES], (adj.kind(), adj.device()));
        let score = net.forward_t(&x, &noised, flags, cond, false)?;
        let next = &noised + &score * step_size.view([b, 1, 1]);
        Ok(LangevinStep {
            noised,
            score,
            next,
        })
    })
}

/// Node flags of graphs whose first `n_g` nodes are present: `[B, N]` float32 on the CPU.
pub fn prefix_flags(counts: &[usize], max_nodes: usize) -> Tensor {
    let mut buf = vec![0f32; counts.len() * max_nodes];
    for (g, &n) in counts.iter().enumerate() {
        buf[g * max_nodes..g * max_nodes + n.min(max_nodes)].fill(1.0);
    }
    Tensor::from_slice(&buf).view([counts.len() as i64, max_nodes as i64])
}

/// The annealed Langevin sampler for a σ ladder.
#[derive(Clone, Debug)]
pub struct AnnealedLangevin {
    sigmas: Vec<f64>,
    config: SamplerConfig,
}

impl AnnealedLangevin {
    /// A sampler for the ascending σ ladder `sigmas` (level 0 = smallest σ).
    pub fn new(sigmas: &[f64], config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        if sigmas.is_empty() || sigmas.windows(2).any(|w| w[1] <= w[0]) || sigmas[0] <= 0.0 {
            return Err(config_err(
                "sigmas",
                "must be positive and strictly ascending",
            ));
        }
        Ok(Self {
            sigmas: sigmas.to_vec(),
            config,
        })
    }

    /// The sampler settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Score-network evaluations per graph: `L × step_num`.
    pub fn nfe(&self) -> usize {
        self.sigmas.len() * self.config.step_num
    }

    /// Step size α_i = grad_step_size·σ_i² of level `i`.
    pub fn step_size(&self, level: usize) -> f64 {
        self.config.grad_step_size * self.sigmas[level] * self.sigmas[level]
    }

    /// Injected noise standard deviation √(2α_i)·eps of level `i`.
    pub fn noise_scale(&self, level: usize) -> f64 {
        (2.0 * self.step_size(level)).sqrt() * self.config.eps
    }

    /// Runs the chain for one batch: graph g has `node_counts[g]` present nodes (the first
    /// ones) and draws all its noise from its own stream, `seeds[g]` (the per-graph streams
    /// of [`NoiseSource::from_seeds`], drawn at the padding `max_nodes`). Returns the final
    /// continuous state `[B, N, N]`, masked, on the network's device.
    ///
    /// Graphs are grouped by node count and each group's chain runs at its own size (see
    /// [`EdpGnn::score_prefix`]: in eval mode the present pairs do not depend on the
    /// padding), so no work is spent on padded pairs; the result equals
    /// [`AnnealedLangevin::run_padded`] up to float rounding.
    ///
    /// `progress(done, total)` counts score evaluations of single graphs:
    /// `total = node_counts.len() × nfe()`.
    pub fn run(
        &self,
        net: &EdpGnn,
        node_counts: &[usize],
        seeds: &[u64],
        max_nodes: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Tensor> {
        check_run_inputs(node_counts, seeds, max_nodes)?;
        let n = max_nodes as i64;
        let (kind, device) = (net.kind(), net.device());
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (g, &c) in node_counts.iter().enumerate() {
            groups.entry(c).or_default().push(g);
        }
        let total = node_counts.len() * self.nfe();
        let mut done = 0;
        let mut order = Vec::with_capacity(node_counts.len());
        let mut blocks = Vec::with_capacity(groups.len());
        for (&c, members) in &groups {
            order.extend_from_slice(members);
            let m = members.len() as i64;
            let c = c as i64;
            if c < 2 {
                // No pairs: nothing to sample.
                blocks.push(Tensor::zeros([m, n, n], (kind, device)));
                done += members.len() * self.nfe();
                progress(done, total);
                continue;
            }
            let group_seeds: Vec<u64> = members.iter().map(|&g| seeds[g]).collect();
            let mut noise = NoiseSource::from_seeds(&group_seeds, Device::Cpu);
            let mut draw = |abs: bool| {
                let z = noise.randn_sym(n);
                let z = if abs { z.abs() } else { z };
                z.narrow(1, 0, c)
                    .narrow(2, 0, c)
                    .to_device(device)
                    .to_kind(kind)
            };
            let flags = Tensor::ones([m, c], (kind, device));
            // gen_init_sample: |N(0,1)| on the upper triangle, symmetrised.
            let mut adj = draw(true);
            for level in (0..self.sigmas.len()).rev() {
                let alpha = Tensor::full([m], self.step_size(level), (kind, device));
                let scale = Tensor::full([m], self.noise_scale(level), (kind, device));
                for _ in 0..self.config.step_num {
                    let z = draw(false);
                    adj = langevin_step(
                        net,
                        &adj,
                        &flags,
                        Conditioning::Level(level),
                        &alpha,
                        &scale,
                        &z,
                    )?
                    .next;
                    done += members.len();
                    progress(done, total);
                }
            }
            blocks.push(adj.constant_pad_nd([0, n - c, 0, n - c]));
        }
        let mut inverse = vec![0i64; order.len()];
        for (pos, &g) in order.iter().enumerate() {
            inverse[g] = pos as i64;
        }
        let inverse = Tensor::from_slice(&inverse).to_device(device);
        Ok(Tensor::cat(&blocks, 0).index_select(0, &inverse))
    }

    /// The same chain as [`AnnealedLangevin::run`] with every graph at the full padding
    /// `max_nodes` in one batch, as the official sampler runs it: the reference the faster
    /// [`AnnealedLangevin::run`] is tested against. `progress(done, total)` counts batched
    /// steps (`total = nfe()`).
    pub fn run_padded(
        &self,
        net: &EdpGnn,
        node_counts: &[usize],
        seeds: &[u64],
        max_nodes: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Tensor> {
        check_run_inputs(node_counts, seeds, max_nodes)?;
        let mut noise = NoiseSource::from_seeds(seeds, Device::Cpu);
        let n = max_nodes as i64;
        let b = node_counts.len() as i64;
        let (kind, device) = (net.kind(), net.device());
        let flags = prefix_flags(node_counts, max_nodes)
            .to_device(device)
            .to_kind(kind);
        // gen_init_sample: |N(0,1)| on the upper triangle, symmetrised, masked.
        let start = noise.randn_sym(n).abs().to_device(device).to_kind(kind);
        let mut adj = mask_adjs(&start, &flags);
        let total = self.nfe();
        let mut done = 0;
        for level in (0..self.sigmas.len()).rev() {
            let alpha = Tensor::full([b], self.step_size(level), (kind, device));
            let scale = Tensor::full([b], self.noise_scale(level), (kind, device));
            for _ in 0..self.config.step_num {
                let z = noise.randn_sym(n).to_device(device).to_kind(kind);
                adj = langevin_step(
                    net,
                    &adj,
                    &flags,
                    Conditioning::Level(level),
                    &alpha,
                    &scale,
                    &z,
                )?
                .next;
                done += 1;
                progress(done, total);
            }
        }
        Ok(mask_adjs(&adj, &flags))
    }
}

fn check_run_inputs(node_counts: &[usize], seeds: &[u64], max_nodes: usize) -> Result<()> {
    if max_nodes < 2 {
        return Err(input_err("max_nodes", "must be at least 2"));
    }
    if seeds.len() != node_counts.len() {
        return Err(input_err(
            "seeds",
            format!("{} seeds for {} graphs", seeds.len(), node_counts.len()),
        ));
    }
    if let Some(g) = node_counts.iter().position(|&n| n > max_nodes) {
        return Err(input_err(
            "node_counts",
            format!(
                "graph {g} has {} nodes, more than max_nodes = {max_nodes}",
                node_counts[g]
            ),
        ));
    }
    Ok(())
}

/// Quantises final states (`adj_to_int`: `A < 0.5 → 0`, else 1) and masks them by the
/// flags. adj: `[B, N, N]`, flags: `[B, N]`.
pub fn quantize(adj: &Tensor, flags: &Tensor) -> Tensor {
    mask_adjs(&adj.ge(0.5).to_kind(adj.kind()), flags)
}
