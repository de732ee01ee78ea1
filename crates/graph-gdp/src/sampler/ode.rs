//! The probability-flow ODE `dx/dt = f(t)·x − ½g(t)²·score(x, t)` (score_sde
//! `SDE.reverse(score_fn, probability_flow=True)`), its time grids, the official final
//! denoising step, and the fixed-step Runge–Kutta solvers (the official `diffeq` sampler's
//! torchdiffeq fixed grids: `euler`, `midpoint`, `rk4`; plus Heun).

use tch::Tensor;

use super::{check_finite, full_t, prior, score_from_eps, Denoiser, SamplerNoise, DENOISE_SCALES};
use crate::config::{FixedMethod, FixedStepConfig, Spacing};
use crate::error::Result;
use crate::pgsn::Nodes;
use crate::sampler::pc::reverse_diffusion;
use crate::sde::{reverse_drift, Sde};

/// The probability-flow drift from a score.
pub fn drift_from_score(sde: &dyn Sde, x: &Tensor, t: &Tensor, score: &Tensor) -> Tensor {
    reverse_drift(sde, x, t, score, 0.5)
}

/// The probability-flow drift of the graphs `members` (states `x`, times `t`), one network
/// evaluation each.
pub fn drift(
    den: &mut Denoiser<'_>,
    x: &Tensor,
    t: &Tensor,
    nodes: &Nodes,
    members: &[usize],
) -> Result<Tensor> {
    let eps = den.eps_of(x, t, nodes, members)?;
    let score = score_from_eps(den.sde, &eps, t);
    Ok(drift_from_score(den.sde, x, t, &score))
}

/// `steps + 1` decreasing times from 1 to `eps` with the given spacing.
pub fn time_grid(sde: &dyn Sde, spacing: Spacing, steps: usize, eps: f64) -> Vec<f64> {
    let m = steps as f64;
    let mut ts: Vec<f64> = (0..=steps)
        .map(|i| {
            let f = i as f64 / m;
            match spacing {
                Spacing::Time => 1.0 + (eps - 1.0) * f,
                Spacing::TimeQuadratic => {
                    let s = 1.0 + (eps.sqrt() - 1.0) * f;
                    s * s
                }
                Spacing::LogSnr => {
                    let (l0, l1) = (sde.log_snr(1.0), sde.log_snr(eps));
                    sde.t_of_log_snr(l0 + (l1 - l0) * f)
                }
            }
        })
        .collect();
    // exact end points
    ts[0] = 1.0;
    ts[steps] = eps;
    ts
}

/// The official final denoising step of the ODE samplers: one reverse-diffusion predictor
/// step at `eps` (with the SDE discretised into [`DENOISE_SCALES`] steps), returning its mean.
pub fn denoise(den: &mut Denoiser<'_>, x: &Tensor, nodes: &Nodes, eps: f64) -> Result<Tensor> {
    let b = nodes.counts.len();
    let t = full_t(b, eps, x);
    let score = den.score(x, &t, nodes)?;
    let zero = x.zeros_like();
    Ok(reverse_diffusion(den.sde, x, &t, &score, &zero, DENOISE_SCALES).x_mean)
}

/// One step of a fixed-step method from `t0` to `t1` (`h = t1 − t0 < 0`) for the whole
/// batch.
pub fn rk_step(
    method: FixedMethod,
    den: &mut Denoiser<'_>,
    x: &Tensor,
    t0: f64,
    t1: f64,
    nodes: &Nodes,
    counter: &mut dyn FnMut(),
) -> Result<Tensor> {
    let b = nodes.counts.len();
    let all: Vec<usize> = (0..b).collect();
    let h = t1 - t0;
    let mut f = |y: &Tensor, t: f64| -> Result<Tensor> {
        let out = drift(den, y, &full_t(b, t, y), nodes, &all)?;
        counter();
        Ok(out)
    };
    Ok(match method {
        FixedMethod::Euler => x + f(x, t0)? * h,
        FixedMethod::Midpoint => {
            let k1 = f(x, t0)?;
            let k2 = f(&(x + &k1 * (h / 2.0)), t0 + h / 2.0)?;
            x + k2 * h
        }
        FixedMethod::Heun => {
            let k1 = f(x, t0)?;
            let k2 = f(&(x + &k1 * h), t1)?;
            x + (k1 + k2) * (h / 2.0)
        }
        FixedMethod::Rk4 => {
            // torchdiffeq `rk4_alt_step_func` (Kutta's 3/8 rule)
            let k1 = f(x, t0)?;
            let k2 = f(&(x + &k1 * (h / 3.0)), t0 + h / 3.0)?;
            let k3 = f(&(x + (&k2 - &k1 / 3.0) * h), t0 + h * 2.0 / 3.0)?;
            let k4 = f(&(x + (&k1 - &k2 + &k3) * h), t1)?;
            x + (k1 + (k2 + k3) * 3.0 + k4) * (h * 0.125)
        }
    })
}

/// Fixed-step probability-flow sampling: prior sample masked to the valid pairs, `steps`
/// steps of the method on the grid, then the optional denoising step; masked.
pub fn sample(
    cfg: &FixedStepConfig,
    den: &mut Denoiser<'_>,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor> {
    let (mut x, pm) = prior(den, nodes, noise);
    let grid = time_grid(den.sde, cfg.spacing, cfg.steps, cfg.eps);
    let total = cfg.steps * cfg.method.evals_per_step() + usize::from(cfg.denoise);
    let mut done = 0;
    for (i, w) in grid.windows(2).enumerate() {
        let mut counter = || {
            done += 1;
            progress(done, total);
        };
        x = rk_step(cfg.method, den, &x, w[0], w[1], nodes, &mut counter)?;
        check_finite(&x, || {
            format!("after step {} of {} (t = {})", i + 1, cfg.steps, w[1])
        })?;
    }
    if cfg.denoise {
        x = denoise(den, &x, nodes, cfg.eps)?;
        progress(total, total);
    }
    Ok(x * pm)
}
