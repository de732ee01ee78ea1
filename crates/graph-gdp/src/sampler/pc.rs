//! Predictor–corrector sampling of the reverse SDE (score_sde `sampling.py`:
//! `EulerMaruyamaPredictor`, `ReverseDiffusionPredictor`, `LangevinCorrector`,
//! `get_pc_sampler`), on symmetric graph states.
//!
//! The step functions take the score and the symmetric noise explicitly, so they are
//! deterministic functions of their inputs (the parity tests feed the official draws).

use tch::{Kind, Tensor};

use super::{check_finite, full_t, prior, Denoiser, SamplerNoise};
use crate::config::{Corrector, PcConfig, Predictor};
use crate::error::Result;
use crate::pgsn::Nodes;
use crate::sde::{per_graph, reverse_discretize, reverse_drift, sym, Sde};

/// One predictor or corrector move: the next state and its mean (without the noise).
#[derive(Debug)]
pub struct Step {
    /// The next state.
    pub x: Tensor,
    /// The next state without the injected noise.
    pub x_mean: Tensor,
}

/// Euler–Maruyama on the reverse SDE with `n` steps (dt = −1/n):
/// `x_mean = x + sym(f(t)x − g²·score)·dt`, `x = x_mean + (g·√(−dt))·z`.
pub fn euler_maruyama(
    sde: &dyn Sde,
    x: &Tensor,
    t: &Tensor,
    score: &Tensor,
    z: &Tensor,
    n: usize,
) -> Step {
    let dt = -1.0 / n as f64;
    let drift = sym(&reverse_drift(sde, x, t, score, 1.0));
    let x_mean = x + drift * dt;
    let g = sde.diffusion(t);
    let x = &x_mean + per_graph(&(g * (-dt).sqrt())) * z;
    Step { x, x_mean }
}

/// The discretised reverse SDE (ancestral sampling): `x_mean = x − sym(f − G²·score)`,
/// `x = x_mean + G·z`, with the SDE's `n`-step discretisation.
pub fn reverse_diffusion(
    sde: &dyn Sde,
    x: &Tensor,
    t: &Tensor,
    score: &Tensor,
    z: &Tensor,
    n: usize,
) -> Step {
    let (f, g) = reverse_discretize(sde, x, t, score, n);
    let x_mean = x - sym(&f);
    let x = &x_mean + per_graph(&g) * z;
    Step { x, x_mean }
}

/// How the Langevin corrector's gradient and noise norms are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LangevinNorms {
    /// Each graph's own norms over its valid pairs: its step does not depend on the other
    /// graphs of the batch.
    PerGraph,
    /// The official rule: the batch means of the per-graph norms, one step size for all
    /// graphs (for parity).
    BatchMean,
}

/// One Langevin corrector step (score_sde `LangevinCorrector`, `n_steps = 1`):
/// `ε = 2α(r‖z‖/‖score‖)²` (norms over `pair_mask`), `x_mean = x + ε·score`,
/// `x = x_mean + √(2ε)·z`. A graph without valid pairs does not move.
#[allow(clippy::too_many_arguments)]
pub fn langevin(
    sde: &dyn Sde,
    x: &Tensor,
    t: &Tensor,
    score: &Tensor,
    z: &Tensor,
    pair_mask: &Tensor,
    snr: f64,
    n: usize,
    norms: LangevinNorms,
) -> Step {
    let kind = x.kind();
    let alpha = sde.langevin_alpha(t, n);
    let b = x.size()[0];
    let norm = |v: &Tensor| {
        (pair_mask * v)
            .reshape([b, -1])
            .norm_scalaropt_dim(2.0, [-1i64].as_slice(), false)
    };
    let (gn, nn) = (norm(score), norm(z));
    let step = match norms {
        LangevinNorms::BatchMean => {
            let (gn, nn) = (gn.mean(kind), nn.mean(kind));
            ((nn * snr) / gn).square() * 2.0 * alpha
        }
        LangevinNorms::PerGraph => {
            let ok = gn.gt(0.0);
            let ratio = ((nn * snr) / gn.where_self(&ok, &gn.ones_like())).square();
            (ratio * 2.0 * alpha).where_self(&ok, &gn.zeros_like())
        }
    };
    let x_mean = x + per_graph(&step) * score;
    let x = &x_mean + per_graph(&(step * 2.0).sqrt()) * z;
    Step { x, x_mean }
}

/// Network evaluations per graph of a PC run.
pub fn evaluations(cfg: &PcConfig) -> usize {
    let corrector = match cfg.corrector {
        Corrector::None => 0,
        Corrector::Langevin => cfg.corrector_steps,
    };
    let predictor = usize::from(cfg.predictor != Predictor::None);
    cfg.steps * (corrector + predictor)
}

/// The PC loop (`get_pc_sampler`): prior sample masked to the valid pairs; for each of the
/// `steps` times of `linspace(1, eps, steps)` (float32): corrector, mask, predictor, mask;
/// returns the last mean (`noise_removal`) or state, masked. Noise per move from `noise`
/// (corrector first, then predictor).
pub fn sample(
    cfg: &PcConfig,
    den: &mut Denoiser<'_>,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor> {
    let (mut x, pm) = prior(den, nodes, noise);
    let b = nodes.counts.len();
    let n_pad = x.size()[1];
    let (kind, device) = (x.kind(), x.device());
    let times = Vec::<f64>::try_from(
        &Tensor::linspace(
            1.0,
            cfg.eps,
            cfg.steps as i64,
            (Kind::Float, tch::Device::Cpu),
        )
        .to_kind(Kind::Double),
    )?;
    let total = evaluations(cfg);
    let mut done = 0;
    let mut x_mean = x.shallow_clone();
    for (i, &tv) in times.iter().enumerate() {
        let t = full_t(b, tv, &x);
        if cfg.corrector == Corrector::Langevin {
            for _ in 0..cfg.corrector_steps {
                let score = den.score(&x, &t, nodes)?;
                let z = noise.normal_sym(n_pad).to_kind(kind).to_device(device);
                let s = langevin(
                    den.sde,
                    &x,
                    &t,
                    &score,
                    &z,
                    &pm,
                    cfg.snr,
                    cfg.steps,
                    LangevinNorms::PerGraph,
                );
                x = s.x;
                x_mean = s.x_mean;
                done += 1;
                progress(done, total);
            }
            x = x.g_mul(&pm);
        }
        if cfg.predictor != Predictor::None {
            let score = den.score(&x, &t, nodes)?;
            let z = noise.normal_sym(n_pad).to_kind(kind).to_device(device);
            let s = match cfg.predictor {
                Predictor::EulerMaruyama => euler_maruyama(den.sde, &x, &t, &score, &z, cfg.steps),
                Predictor::ReverseDiffusion => {
                    reverse_diffusion(den.sde, &x, &t, &score, &z, cfg.steps)
                }
                Predictor::None => unreachable!("checked above"),
            };
            x = s.x * &pm;
            x_mean = s.x_mean;
            done += 1;
            progress(done, total);
        }
        check_finite(&x, || {
            format!("after step {} of {} (t = {tv})", i + 1, cfg.steps)
        })?;
    }
    let out = if cfg.noise_removal { x_mean } else { x };
    Ok(out * pm)
}
