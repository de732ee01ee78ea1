//! DPM-Solver++ (Lu, Zhou, Bao, Chen, Li, Zhu 2022, "DPM-Solver++: Fast Solver for Guided
//! Sampling of Diffusion Probabilistic Models", Algorithm 2 and its third-order extension):
//! a multistep exponential integrator of the probability-flow ODE in the data-prediction
//! form, one network evaluation per step.
//!
//! With `x_t = α_t x₀ + σ_t ε`, `λ_t = log(α_t/σ_t)`, the data prediction
//! `x̂₀(x, t) = (x − σ_t ε̂(x, t))/α_t`, and `h = λ_t − λ_s` for a step from `s` to `t`:
//!
//! * order 1 (DDIM): `x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) D₀`, `D₀ = x̂₀(s)`;
//! * order 2 (midpoint form): `… − ½ α_t (e^{−h} − 1) D₁`, `D₁ = (D₀ − x̂₀(s₁))/r₀`,
//!   `r₀ = h₀/h` with `h₀` the previous step;
//! * order 3: `x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) D₀ + α_t ((e^{−h} − 1)/h + 1) D₁
//!   − α_t ((e^{−h} − 1 + h)/h² − ½) D₂` with the second-order differences of the last three
//!   data predictions.
//!
//! The first steps use the orders their history allows; with fewer than 15 steps the last
//! step is first order and (order 3) the one before it second order, as the reference
//! implementation (diffusers' `DPMSolverMultistepScheduler`, `lower_order_final`) does.
//!
//! The stochastic variant (SDE-DPM-Solver++, the same paper; diffusers' `sde-dpmsolver++`)
//! solves the reverse SDE exactly in its linear part:
//! `x_t = (σ_t/σ_s) e^{−h} x_s + α_t (1 − e^{−2h}) (D₀ + ½ D₁) + σ_t √(1 − e^{−2h}) z`
//! (`D₁` only at order 2), with symmetric standard noise `z` per step.

use tch::Tensor;

use super::ode::{denoise, time_grid};
use super::{check_finite, full_t, prior, Denoiser, SamplerNoise};
use crate::config::DpmSolverConfig;
use crate::error::Result;
use crate::pgsn::Nodes;

/// Multistep DPM-Solver++ sampling from a prior sample at t = 1 to `eps`, then the optional
/// denoising step; masked.
pub fn sample(
    cfg: &DpmSolverConfig,
    den: &mut Denoiser<'_>,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor> {
    let (mut x, pm) = prior(den, nodes, noise);
    let b = nodes.counts.len();
    let sde = den.sde;
    let grid = time_grid(sde, cfg.spacing, cfg.steps, cfg.eps);
    let lambda: Vec<f64> = grid.iter().map(|&t| sde.log_snr(t)).collect();
    let coeffs: Vec<(f64, f64)> = grid.iter().map(|&t| sde.coeffs_f64(t)).collect();
    let total = cfg.steps + usize::from(cfg.denoise);
    let mut history: Vec<Tensor> = Vec::with_capacity(3);
    let lower_final = cfg.steps < 15;
    for i in 0..cfg.steps {
        let (a_s, s_s) = coeffs[i];
        let t = full_t(b, grid[i], &x);
        let eps_hat = den.eps(&x, &t, nodes)?;
        progress(i + 1, total);
        let x0 = (&x - eps_hat * s_s) / a_s;
        history.push(x0);
        if history.len() > 3 {
            let _ = history.remove(0);
        }
        let (a_t, s_t) = coeffs[i + 1];
        let h = lambda[i + 1] - lambda[i];
        let phi = (-h).exp_m1(); // e^{−h} − 1
        let last = i + 1 == cfg.steps;
        let second_last = i + 2 == cfg.steps;
        let mut order = cfg.order.min(history.len());
        if lower_final && last {
            order = 1;
        }
        if lower_final && second_last {
            order = order.min(2);
        }
        let m0 = &history[history.len() - 1];
        if cfg.stochastic {
            // e^{−h} and 1 − e^{−2h}
            let (eh, one_m) = ((-h).exp(), -(-2.0 * h).exp_m1());
            let mut next = &x * (s_t / s_s * eh) + m0 * (a_t * one_m);
            if order >= 2 {
                let m1 = &history[history.len() - 2];
                let r0 = (lambda[i] - lambda[i - 1]) / h;
                next += (m0 - m1) / r0 * (0.5 * a_t * one_m);
            }
            let n_pad = x.size()[1];
            let z = noise
                .normal_sym(n_pad)
                .to_kind(x.kind())
                .to_device(x.device());
            x = (next + z * (s_t * one_m.sqrt())) * &pm;
            check_finite(&x, || {
                format!(
                    "after step {} of {} (t = {})",
                    i + 1,
                    cfg.steps,
                    grid[i + 1]
                )
            })?;
            continue;
        }
        let mut next = &x * (s_t / s_s) - m0 * (a_t * phi);
        if order >= 2 {
            let m1 = &history[history.len() - 2];
            let h0 = lambda[i] - lambda[i - 1];
            let r0 = h0 / h;
            let d1_0 = (m0 - m1) / r0;
            if order == 2 {
                next -= d1_0 * (0.5 * a_t * phi);
            } else {
                let m2 = &history[history.len() - 3];
                let h1 = lambda[i - 1] - lambda[i - 2];
                let r1 = h1 / h;
                let d1_1 = (m1 - m2) / r1;
                let d1 = &d1_0 + (&d1_0 - &d1_1) * (r0 / (r0 + r1));
                let d2 = (d1_0 - d1_1) / (r0 + r1);
                next += d1 * (a_t * (phi / h + 1.0));
                next -= d2 * (a_t * ((phi + h) / (h * h) - 0.5));
            }
        }
        x = next * &pm;
        check_finite(&x, || {
            format!(
                "after step {} of {} (t = {})",
                i + 1,
                cfg.steps,
                grid[i + 1]
            )
        })?;
    }
    if cfg.denoise {
        x = denoise(den, &x, nodes, cfg.eps)?;
        progress(total, total);
    }
    Ok(x * pm)
}
