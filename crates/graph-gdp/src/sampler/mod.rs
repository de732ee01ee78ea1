//! Samplers: predictor–corrector sampling of the reverse SDE ([`pc`]) and probability-flow
//! ODE solvers ([`ode`]: fixed-step Runge–Kutta; [`dopri5`]: adaptive Dormand–Prince 5(4);
//! [`dpm_solver`]: the multistep exponential integrator DPM-Solver++), all on states
//! `x: [B, N, N]` with one time per graph.
//!
//! Every sampler counts the network evaluations that really happen, per graph
//! ([`SampleRun::nfe`]), denoising steps included. Where the official code is wrong, the
//! samplers do the right thing and the official behaviour is reachable only through the step
//! functions the parity tests call:
//!
//! * the official ODE samplers keep the diagonal in their mask (the network sees self-loops
//!   it never saw in training); here every sampler uses the training mask (zero diagonal),
//!   and [`Nodes::self_loops`] reproduces the official one;
//! * the official Langevin corrector and reverse-diffusion predictor index a DDPM β table
//!   that exceeds 1 with fewer than β_max steps (NaN); here they use the exact one-step β
//!   ([`crate::sde::BetaTable::Exact`]), the official table is [`crate::VpSde::with_official_table`];
//! * the official Langevin corrector sets one step size for the whole batch from batch-mean
//!   norms, so a graph's chain depends on the others; here each graph's step uses its own
//!   norms ([`pc::LangevinNorms`]);
//! * the official PC sampler reports `steps·(n_steps_each + 1)` evaluations even without a
//!   corrector (twice the real count), and its ODE samplers leave the denoising evaluation
//!   out; here every evaluation counts;
//! * the official adaptive solver controls one step size for the whole flattened batch;
//!   here each graph has its own (so a graph's sample does not depend on its batch).
//!
//! All noise comes from a [`SamplerNoise`]: per-graph ChaCha8 streams in production
//! ([`graph_tensor::noise::NoiseSource`]), stored draws in the parity tests.

pub mod dopri5;
pub mod dpm_solver;
pub mod ode;
pub mod pc;

use graph_tensor::noise::NoiseSource;
use tch::{Device, Kind, Tensor};

use crate::config::SamplerConfig;
use crate::error::{GdpError, Result};
use crate::pgsn::{Dropout, Nodes, Pgsn};
use crate::sde::{per_graph, sym, Sde};

/// Discretisation steps the ODE samplers' denoising step uses (the official `num_scales`).
pub const DENOISE_SCALES: usize = 1000;

/// Where a sampler's Gaussian noise comes from.
pub trait SamplerNoise {
    /// Standard symmetric noise `[B, n, n]` (zero diagonal) for the graphs of the run.
    fn normal_sym(&mut self, n: i64) -> Tensor;
}

impl SamplerNoise for NoiseSource {
    fn normal_sym(&mut self, n: i64) -> Tensor {
        self.randn_sym(n)
    }
}

/// A noise predictor `ε̂(x, t)` on padded graph states (the PGSN in eval mode, or a closed
/// form in tests).
pub trait EpsModel {
    /// ε̂ for states `x: [B, N, N]` at times `t: [B]` of the graphs `nodes`.
    fn eps(&self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> Result<Tensor>;
    /// Padding size N.
    fn max_nodes(&self) -> usize;
    /// Kind of the states.
    fn kind(&self) -> Kind;
    /// Device of the states.
    fn device(&self) -> Device;
}

impl EpsModel for Pgsn {
    fn eps(&self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> Result<Tensor> {
        self.forward(x, t, nodes, Dropout::Off)
    }
    fn max_nodes(&self) -> usize {
        self.config().max_nodes
    }
    fn kind(&self) -> Kind {
        Pgsn::kind(self)
    }
    fn device(&self) -> Device {
        Pgsn::device(self)
    }
}

/// A noise predictor as a score function on a sampler's states, counting evaluations per
/// graph.
pub struct Denoiser<'a> {
    /// The network.
    pub net: &'a dyn EpsModel,
    /// The SDE it was trained with.
    pub sde: &'a dyn Sde,
    nfe: Vec<usize>,
}

impl<'a> Denoiser<'a> {
    /// A denoiser for a batch of `batch` graphs.
    pub fn new(net: &'a dyn EpsModel, sde: &'a dyn Sde, batch: usize) -> Self {
        Self {
            net,
            sde,
            nfe: vec![0; batch],
        }
    }

    /// ε̂ for the graphs `members` of the batch (their states `x`, times `t`, nodes).
    pub fn eps_of(
        &mut self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        members: &[usize],
    ) -> Result<Tensor> {
        let out = self.net.eps(x, t, nodes)?;
        for &m in members {
            self.nfe[m] += 1;
        }
        Ok(out)
    }

    /// ε̂ for the whole batch.
    pub fn eps(&mut self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.nfe.len()).collect();
        self.eps_of(x, t, nodes, &all)
    }

    /// The score `−ε̂/σ(t)` of the whole batch (official `get_score_fn`, continuous VP).
    pub fn score(&mut self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> Result<Tensor> {
        let eps = self.eps(x, t, nodes)?;
        Ok(score_from_eps(self.sde, &eps, t))
    }

    /// Evaluations made so far, per graph.
    pub fn nfe(&self) -> &[usize] {
        &self.nfe
    }
}

/// `−ε̂ / σ(t)` (official order: negate, then divide).
pub fn score_from_eps(sde: &dyn Sde, eps: &Tensor, t: &Tensor) -> Tensor {
    let std = sde.marginal_coeffs(t).1;
    -eps / per_graph(&std)
}

/// A finished sampler run.
#[derive(Debug)]
pub struct SampleRun {
    /// The final continuous state `[B, N, N]` (scaled like the data, x ≈ ±1), masked.
    pub x: Tensor,
    /// Network evaluations per graph.
    pub nfe: Vec<usize>,
}

/// Runs the sampler `cfg` for the graphs `nodes` (prefix masks, padded to the network's
/// `max_nodes`). `progress(done, total)` reports batched network calls.
pub fn run(
    cfg: &SamplerConfig,
    net: &dyn EpsModel,
    sde: &dyn Sde,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SampleRun> {
    cfg.validate()?;
    let mut den = Denoiser::new(net, sde, nodes.counts.len());
    let x = match cfg {
        SamplerConfig::Pc(c) => pc::sample(c, &mut den, nodes, noise, progress)?,
        SamplerConfig::Dopri5(c) => dopri5::sample(c, &mut den, nodes, noise, progress)?,
        SamplerConfig::OdeFixed(c) => ode::sample(c, &mut den, nodes, noise, progress)?,
        SamplerConfig::DpmSolver(c) => dpm_solver::sample(c, &mut den, nodes, noise, progress)?,
    };
    Ok(SampleRun {
        x,
        nfe: den.nfe().to_vec(),
    })
}

/// Network evaluations per graph that `cfg` makes for a graph with valid pairs when the
/// count is fixed; the adaptive solver's smallest count (its first two evaluations and the
/// denoising step) otherwise.
pub fn evaluations(cfg: &SamplerConfig) -> usize {
    match cfg {
        SamplerConfig::Pc(c) => pc::evaluations(c),
        SamplerConfig::Dopri5(c) => 2 + usize::from(c.denoise),
        SamplerConfig::OdeFixed(c) => c.steps * c.method.evals_per_step() + usize::from(c.denoise),
        SamplerConfig::DpmSolver(c) => c.steps + usize::from(c.denoise),
    }
}

/// The official quantisation (`utils.adj2graph` of `inverse_scaler(x)·mask`): an edge where
/// `(x + 1)/2 ≥ 0.5`, read from the lower triangle and mirrored, masked. Returns 0/1
/// `[B, N, N]` float32.
pub fn quantize(x: &Tensor, pair_mask: &Tensor) -> Tensor {
    let sample = (x + 1.0) / 2.0 * pair_mask;
    let a = sample.ge(0.5).to_kind(Kind::Float);
    sym(&a) * pair_mask.to_kind(Kind::Float)
}

/// An error unless every entry of `x` is finite.
pub(crate) fn check_finite(x: &Tensor, what: impl FnOnce() -> String) -> Result<()> {
    let finite = x.isfinite().all().int64_value(&[]) == 1;
    if finite {
        Ok(())
    } else {
        Err(GdpError::Sampler(format!(
            "the state is not finite {} (NaN or infinite values)",
            what()
        )))
    }
}

/// Times `t` broadcast to a batch: `[B]` of `value` in `kind`.
pub(crate) fn full_t(b: usize, value: f64, like: &Tensor) -> Tensor {
    Tensor::full([b as i64], value, (like.kind(), like.device()))
}

/// The initial state: a prior sample masked to the valid pairs.
pub(crate) fn prior(
    den: &Denoiser<'_>,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
) -> (Tensor, Tensor) {
    let net = den.net;
    let n = net.max_nodes() as i64;
    let (kind, device) = (net.kind(), net.device());
    let pm = nodes.pair_mask(n, kind, device);
    let z = noise.normal_sym(n).to_kind(kind).to_device(device);
    (den.sde.prior_sample(&z) * &pm, pm)
}
