//! The two reverse processes (Haefeli et al., 2022, §3.3): the ancestral VLB sampler
//! (official `sample_ppgn_vlb.py`) and the L_simple sampler (official
//! `sample_ppgn_simple.py`). Both start from Bernoulli(½) on every valid pair, make one
//! network evaluation per step, and end with a binary adjacency (no threshold).
//!
//! [`vlb_step`] and [`simple_step`] are one step each, with the uniforms of every Bernoulli
//! draw as arguments (the parity tests feed the official ones). [`DdpmSampler::run`] runs
//! whole chains: graphs are grouped by node count and each group runs without padding, and
//! each graph's draws come from its own seeded stream (`n(n−1)/2` uniforms per draw), so a
//! graph is the same whatever else is in the batch.

use graph_tensor::batch::symmetrize_upper;
use graph_tensor::noise::NoiseSource;
use tch::{Kind, Tensor};

use crate::config::SamplerKind;
use crate::error::{input_err, Result};
use crate::loss::node_mask;
use crate::ppgn::{Evaluator, Powerful};
use crate::transition::{torch_linspace_f32, DoublyStochastic, LevelTensors, StepLevels};

/// One step of the VLB sampler.
#[derive(Debug)]
pub struct VlbStep {
    /// The network's flip logits at `β̄_t` `[B, N, N]`.
    pub logits: Tensor,
    /// `p_θ(A_{t−1} = 1 | A_t)` after symmetrisation and masking — what the Bernoulli draw
    /// reads.
    pub prob: Tensor,
    /// `A_{t−1}`.
    pub next: Tensor,
}

/// One step `A_t → A_{t−1}` of the ancestral sampler (official `take_step` of
/// `sample_ppgn_vlb.py`): `s = σ(z)` symmetrised, `P₀ = A_t ? 1 − s : s`, the posterior
/// mixture `p = (1 − P₀)·q(·|A_t, 0) + P₀·q(·|A_t, 1)`, symmetrised and masked, then
/// `A_{t−1} = sym(triu(uniform < p, 1))`.
///
/// `a_t: [B, N, N]` 0/1; `flags: [B, N]`; `uniform: [B, N, N]` (strict upper triangle read).
pub fn vlb_step(
    net: &Powerful,
    a_t: &Tensor,
    flags: &Tensor,
    levels: StepLevels,
    uniform: &Tensor,
) -> Result<VlbStep> {
    vlb_step_with(&net.evaluator(), a_t, flags, levels, uniform)
}

/// [`vlb_step`] with a prepared network.
fn vlb_step_with(
    net: &Evaluator,
    a_t: &Tensor,
    flags: &Tensor,
    levels: StepLevels,
    uniform: &Tensor,
) -> Result<VlbStep> {
    let b = a_t.size()[0] as usize;
    let kind = a_t.kind();
    let logits = net.logits(a_t, flags, &vec![levels.beta_bar_t; b])?;
    let s = logits.sigmoid();
    let s = (&s + s.transpose(-2, -1)) / 2.0;
    let p0 = crate::transition::select(&a_t.gt(0.5), &(1.0 - &s), &s);
    let lt = LevelTensors::new(&vec![levels; b], kind, a_t.device());
    let p = lt.mixture(a_t, &p0);
    let p = (&p + p.transpose(-2, -1)) / 2.0;
    let prob = p * node_mask(&flags.to_kind(kind));
    let next = draw_symmetric(&prob, uniform)?;
    Ok(VlbStep { logits, prob, next })
}

/// One step of the L_simple sampler.
#[derive(Debug)]
pub struct SimpleStep {
    /// The re-noising probabilities `where(Â > ½, 1 − σ, σ)`.
    pub renoise_prob: Tensor,
    /// `A_σ`, the re-noised estimate (the network input).
    pub noised: Tensor,
    /// The network's flip logits at σ.
    pub logits: Tensor,
    /// The flip probabilities `σ(z)` symmetrised and masked.
    pub flip_prob: Tensor,
    /// The new estimate `Â′ = A_σ XOR flips`.
    pub next: Tensor,
}

/// One step of the L_simple sampler (official `take_step` of `sample_ppgn_simple.py`) at
/// level `level`: re-noise the estimate `a_hat` to `level` (`renoise_uniform`), predict the
/// flips, draw them (`flip_uniform`) and flip.
pub fn simple_step(
    net: &Powerful,
    a_hat: &Tensor,
    flags: &Tensor,
    level: f64,
    renoise_uniform: &Tensor,
    flip_uniform: &Tensor,
) -> Result<SimpleStep> {
    simple_step_with(
        &net.evaluator(),
        a_hat,
        flags,
        level,
        renoise_uniform,
        flip_uniform,
    )
}

/// [`simple_step`] with a prepared network.
fn simple_step_with(
    net: &Evaluator,
    a_hat: &Tensor,
    flags: &Tensor,
    level: f64,
    renoise_uniform: &Tensor,
    flip_uniform: &Tensor,
) -> Result<SimpleStep> {
    let b = a_hat.size()[0] as usize;
    let (kind, device) = (a_hat.kind(), a_hat.device());
    let flags = flags.to_kind(kind);
    let scalar = |v: f64| Tensor::from_slice(&[v]).to_kind(kind).to_device(device);
    let renoise_prob = scalar(1.0 - level).where_self(&a_hat.gt(0.5), &scalar(level));
    let noised =
        graph_tensor::batch::mask_adjs(&draw_symmetric(&renoise_prob, renoise_uniform)?, &flags);
    let logits = net.logits(&noised, &flags, &vec![level; b])?;
    let s = logits.sigmoid();
    let flip_prob = (&s + s.transpose(-2, -1)) / 2.0 * node_mask(&flags);
    let flips = draw_symmetric(&flip_prob, flip_uniform)?;
    let next = noised.logical_xor(&flips).to_kind(kind);
    Ok(SimpleStep {
        renoise_prob,
        noised,
        logits,
        flip_prob,
        next,
    })
}

/// `sym(triu(uniform < p, 1))`: a symmetric 0/1 draw with zero diagonal, in `p`'s dtype.
fn draw_symmetric(p: &Tensor, uniform: &Tensor) -> Result<Tensor> {
    if uniform.size() != p.size() {
        return Err(input_err(
            "uniform",
            format!("expected {:?}, got {:?}", p.size(), uniform.size()),
        ));
    }
    let d = uniform.to_device(p.device()).lt_tensor(p).to_kind(p.kind());
    Ok(symmetrize_upper(&d))
}

/// Node-pair entries per network call of the sampler (`graphs × n²`): a call's working set
/// (about ten `h × entries` float tensors, 0.5 MiB each for h = 32) then stays near a
/// core's L2 cache. Sampling 1024 Community-small graphs with the fused forward took 9.0 s
/// at 4096 entries per call, 9.2 s at 6144, 9.8 s at 8192, 14.3 s at 16384 and 10.2 s at 2048
/// (1 thread, the CPU of BENCHMARKS.md). Graphs of one node count are cut into calls of this
/// size.
pub const CHUNK_ENTRIES: usize = 4096;

/// One sampler call: the chains of graphs `members` of one node count `n`.
struct Chain {
    n: usize,
    members: Vec<usize>,
    /// The network (a handle per job: tensors are not shared between threads by reference).
    net: Powerful,
    result: Option<Result<Tensor>>,
}

/// A configured reverse process. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DdpmSampler {
    kind: SamplerKind,
    /// The VLB sampler's process (over the sampler's step count).
    process: DoublyStochastic,
    /// The L_simple sampler's levels, from ½ down to 0.
    levels: Vec<f64>,
}

impl DdpmSampler {
    /// The sampler `kind` (`Vlb` or `Simple`; `Auto` must be resolved first) with `process`
    /// over `process.num_steps()` steps.
    pub fn new(kind: SamplerKind, process: DoublyStochastic) -> Result<Self> {
        if kind == SamplerKind::Auto {
            return Err(input_err(
                "kind",
                "resolve `auto` against the objective first (GraphDdpmConfig::sampler_kind)",
            ));
        }
        let steps = process.num_steps();
        if kind == SamplerKind::Simple && steps < 2 {
            return Err(input_err(
                "steps",
                "the L_simple sampler needs at least 2 levels",
            ));
        }
        // Official: torch.linspace(0, 1/2, T) (float32), used from the top.
        let mut levels = torch_linspace_f32(0.0, 0.5, steps);
        levels.reverse();
        Ok(Self {
            kind,
            process,
            levels,
        })
    }

    /// Which sampler.
    pub fn kind(&self) -> SamplerKind {
        self.kind
    }

    /// Network evaluations per graph.
    pub fn nfe(&self) -> usize {
        self.process.num_steps()
    }

    /// The L_simple sampler's levels, in the order they are used (½ … 0).
    pub fn simple_levels(&self) -> &[f64] {
        &self.levels
    }

    /// Samples one graph per entry of `node_counts` (graph g has nodes `0..node_counts[g]`
    /// and its draws from `seeds[g]`), returning `[B, max_nodes, max_nodes]` 0/1 in the
    /// network's dtype, on its device. Graphs of one node count run together without
    /// padding; graphs with fewer than two nodes have no pairs and make no evaluation.
    /// `progress(done, total)` counts graph evaluations.
    pub fn run(
        &self,
        net: &Powerful,
        node_counts: &[usize],
        seeds: &[u64],
        max_nodes: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Tensor> {
        let (kind, device) = (net.kind(), net.device());
        let b = node_counts.len();
        let n_max = max_nodes as i64;
        let out = Tensor::zeros([b as i64, n_max, n_max], (kind, device));
        let steps = self.nfe();
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (g, &n) in node_counts.iter().enumerate() {
            if n >= 2 {
                groups.entry(n).or_default().push(g);
            }
        }
        let total = steps * groups.values().map(Vec::len).sum::<usize>();
        progress(0, total);
        // Graphs of one node count run together, in calls of about CHUNK_ENTRIES entries,
        // largest graphs first.
        let mut jobs: Vec<Chain> = groups
            .iter()
            .rev()
            .flat_map(|(&n, members)| {
                members
                    .chunks((CHUNK_ENTRIES / (n * n)).max(1))
                    .map(move |c| Chain {
                        n,
                        members: c.to_vec(),
                        net: net.shallow_clone(),
                        result: None,
                    })
            })
            .collect();
        // On the CPU with several libtorch threads, whole chains run side by side, one per
        // thread of libtorch's OpenMP team, each single-threaded inside; rounds of a few
        // chains per thread let the progress report advance.
        let threads = if device == tch::Device::Cpu {
            tch::get_num_threads().max(1) as usize
        } else {
            1
        };
        let mut done = 0;
        for round in jobs.chunks_mut(4 * threads) {
            graph_tensor::parallel::run_jobs(threads, round, |job: &mut Chain| {
                let seeds: Vec<u64> = job.members.iter().map(|&g| seeds[g]).collect();
                job.result = Some(self.chain(&job.net, job.n as i64, &seeds));
            });
            for job in round.iter_mut() {
                let a = job.result.take().expect("every job ran")?;
                let n = job.n as i64;
                let idx =
                    Tensor::from_slice(&job.members.iter().map(|&g| g as i64).collect::<Vec<_>>())
                        .to_device(device);
                let padded = a.constant_pad_nd([0, n_max - n, 0, n_max - n]);
                let _ = out.shallow_clone().index_copy_(0, &idx, &padded);
                done += steps * job.members.len();
            }
            progress(done, total);
        }
        progress(total, total);
        Ok(out)
    }

    /// The whole chain of graphs with `n` nodes each (no padding) whose draws come from
    /// `seeds`: `[len, n, n]` 0/1.
    fn chain(&self, net: &Powerful, n: i64, seeds: &[u64]) -> Result<Tensor> {
        let (kind, device) = (net.kind(), net.device());
        let mut noise = NoiseSource::from_seeds(seeds, tch::Device::Cpu);
        let bs = seeds.len() as i64;
        let flags = Tensor::ones([bs, n], (kind, device));
        let mut uniform = || {
            noise
                .rand_sym_with(&[], n)
                .to_kind(Kind::Float)
                .to_device(device)
        };
        // Start: Bernoulli(½) on every pair.
        let half = Tensor::full([bs, n, n], 0.5, (kind, device));
        let mut a = draw_symmetric(&half, &uniform())?;
        let steps = self.nfe();
        let eval = net.evaluator();
        for k in 0..steps {
            a = match self.kind {
                SamplerKind::Vlb => {
                    let levels = StepLevels::of(&self.process, steps - k);
                    vlb_step_with(&eval, &a, &flags, levels, &uniform())?.next
                }
                _ => {
                    let ur = uniform();
                    let uf = uniform();
                    simple_step_with(&eval, &a, &flags, self.levels[k], &ur, &uf)?.next
                }
            };
        }
        Ok(a)
    }
}
