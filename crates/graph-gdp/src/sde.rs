//! The forward SDEs of score_sde (`sde_lib.py`), on graph states `x: [B, N, N]` with one time
//! per graph `t: [B]`: [`VpSde`] (GraphGDP's only SDE, its default), [`SubVpSde`] and [`VeSde`],
//! behind one [`Sde`] trait: drift and diffusion, the Gaussian marginal `p_t(x | x₀)`, the
//! prior, the DDPM/SMLD discretisation, the log signal-to-noise ratio (for exponential
//! integrators), and the reverse-time SDE and probability-flow ODE ([`reverse_drift`],
//! [`reverse_discretize`]).
//!
//! All three have a drift linear in `x`, `f(x, t) = f(t)·x`, and marginals
//! `x_t = α(t)·x₀ + σ(t)·ε`, which is all the samplers rely on.
//!
//! Float rounding follows the official code where parity depends on it: a Python float that
//! multiplies a tensor is a scalar of the tensor's kind, and the operations run in the same
//! order (e.g. `lmc = ((−0.25·t²)·(β₁−β₀)) − ((0.5·t)·β₀)`).

use tch::{Device, Kind, Tensor};

use crate::config::SdeConfig;
use crate::error::{config_err, Result};

/// `[B] → [B, 1, 1]`, to scale per-graph states.
pub fn per_graph(v: &Tensor) -> Tensor {
    v.view([-1, 1, 1])
}

/// `tril(a, −1) + tril(a, −1)ᵀ` on the last two axes: the lower triangle mirrored, zero
/// diagonal (how the official code symmetrises noise, drifts and means).
pub fn sym(a: &Tensor) -> Tensor {
    let l = a.tril(-1);
    let lt = l.transpose(-1, -2);
    l + lt
}

/// A forward SDE `dx = f(t)·x dt + g(t) dW` on `[0, 1]` with Gaussian marginals
/// `x_t = α(t)·x₀ + σ(t)·ε`. Every method takes one time per graph (`t: [B]`, the state's
/// kind) and returns per-graph coefficients `[B]` unless it says otherwise.
pub trait Sde: std::fmt::Debug + Send + Sync {
    /// The SDE's name in configs (`vp`, `sub_vp`, `ve`).
    fn name(&self) -> &'static str;

    /// The linear drift coefficient `f(t)` (drift = `f(t)·x`).
    fn drift_coeff(&self, t: &Tensor) -> Tensor;

    /// The diffusion coefficient `g(t)`.
    fn diffusion(&self, t: &Tensor) -> Tensor;

    /// The drift `f(t)·x` and diffusion `g(t)` (score_sde `sde(x, t)`).
    fn sde(&self, x: &Tensor, t: &Tensor) -> (Tensor, Tensor) {
        (per_graph(&self.drift_coeff(t)) * x, self.diffusion(t))
    }

    /// The marginal's mean coefficient `α(t)` and standard deviation `σ(t)`.
    fn marginal_coeffs(&self, t: &Tensor) -> (Tensor, Tensor);

    /// `marginal_prob(x, t)`: the mean `α(t)·x` and `σ(t)`.
    fn marginal_prob(&self, x: &Tensor, t: &Tensor) -> (Tensor, Tensor) {
        let (a, s) = self.marginal_coeffs(t);
        (per_graph(&a) * x, s)
    }

    /// Standard deviation of the prior `p_1` (entries of a prior sample are `prior_std · N(0, 1)`).
    fn prior_std(&self) -> f64;

    /// A prior sample from standard symmetric noise `z` (zero diagonal).
    fn prior_sample(&self, z: &Tensor) -> Tensor {
        let s = self.prior_std();
        if s == 1.0 {
            z.shallow_clone()
        } else {
            z * s
        }
    }

    /// Log density of the prior at `z` over the entries where `mask` is 1
    /// (`sde_lib.prior_logp`): `−n/2·log(2π s²) − Σ (z·mask)²/(2 s²)` per graph, `[B]`.
    fn prior_logp(&self, z: &Tensor, mask: &Tensor) -> Tensor {
        let s = self.prior_std();
        let n = mask.sum_dim_intlist([1i64, 2].as_slice(), false, mask.kind());
        let sq = (z * mask)
            .square()
            .sum_dim_intlist([1i64, 2].as_slice(), false, z.kind());
        n * (-0.5 * (2.0 * std::f64::consts::PI * s * s).ln()) - sq / (2.0 * s * s)
    }

    /// One step of the discretised forward process `x_{i+1} = x_i + f_i(x_i) + G_i z_i` for
    /// `n` steps on `[0, 1]`: `(f_i(x), G_i)` at the step containing `t` (score_sde
    /// `discretize`; DDPM for VP, SMLD for VE, Euler–Maruyama for sub-VP).
    fn discretize(&self, x: &Tensor, t: &Tensor, n: usize) -> (Tensor, Tensor);

    /// The step-size factor `α_i` of score_sde's Langevin corrector at `t` for `n` steps
    /// (`1 − β_i` of the DDPM table for VP and sub-VP, 1 for VE).
    fn langevin_alpha(&self, t: &Tensor, n: usize) -> Tensor;

    /// Half the log signal-to-noise ratio, `λ(t) = log(α(t)/σ(t))` (decreasing in t).
    fn log_snr(&self, t: f64) -> f64;

    /// The time with `log_snr(t) = lambda` (inverse of [`Sde::log_snr`]).
    fn t_of_log_snr(&self, lambda: f64) -> f64;

    /// `α(t)` and `σ(t)` in float64 (for samplers that precompute their step coefficients).
    fn coeffs_f64(&self, t: f64) -> (f64, f64);
}

/// Builds the SDE a config names.
pub fn build_sde(cfg: &SdeConfig) -> Result<Box<dyn Sde>> {
    cfg.validate()?;
    Ok(match *cfg {
        SdeConfig::Vp { beta_min, beta_max } => Box::new(VpSde::new(beta_min, beta_max)?),
        SdeConfig::SubVp { beta_min, beta_max } => Box::new(SubVpSde::new(beta_min, beta_max)?),
        SdeConfig::Ve {
            sigma_min,
            sigma_max,
        } => Box::new(VeSde::new(sigma_min, sigma_max)?),
    })
}

fn check_betas(beta_min: f64, beta_max: f64) -> Result<()> {
    if !(beta_min.is_finite() && beta_min > 0.0) {
        return Err(config_err(
            "sde.beta_min",
            format!("must be positive and finite, got {beta_min}"),
        ));
    }
    if !(beta_max.is_finite() && beta_max > beta_min) {
        return Err(config_err(
            "sde.beta_max",
            format!("must be finite and greater than beta_min = {beta_min}, got {beta_max}"),
        ));
    }
    Ok(())
}

/// Which β table the reverse-diffusion predictor and the Langevin corrector of a VP (or
/// sub-VP) SDE use for `n` sampler steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BetaTable {
    /// `β_i = 1 − exp(−∫ β(s) ds)` over the step `[t − 1/n, t]`: the exact one-step
    /// variance of the VP process, in (0, 1) for every `n`. Equal to the DDPM table to
    /// first order in `1/n` (within 1 % at `n = 1000`, `β_max = 20`).
    #[default]
    Exact,
    /// score_sde's DDPM table `β = linspace(β_min/n, β_max/n, n)`, indexed by
    /// `i = long(t·(n − 1))`. Only valid when `β_max < n`: with fewer steps its last entries
    /// exceed 1, `α_i = 1 − β_i < 0`, and the official Langevin corrector and
    /// reverse-diffusion predictor produce NaN. Kept for the parity tests.
    Official,
}

/// The variance-preserving SDE `dx = −½β(t)x dt + √β(t) dW`, `β(t) = β₀ + t(β₁ − β₀)`
/// (score_sde `VPSDE`; GraphGDP: β₀ = 0.1, β₁ = 20).
#[derive(Clone, Debug, PartialEq)]
pub struct VpSde {
    /// β(0).
    pub beta_min: f64,
    /// β(1).
    pub beta_max: f64,
    /// β table of the discretisation (see [`BetaTable`]).
    pub table: BetaTable,
}

impl VpSde {
    /// A VP SDE; `0 < beta_min < beta_max`, both finite.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        check_betas(beta_min, beta_max)?;
        Ok(Self {
            beta_min,
            beta_max,
            table: BetaTable::Exact,
        })
    }

    /// The same SDE with the official DDPM β table (for parity with the official code).
    pub fn with_official_table(mut self) -> Self {
        self.table = BetaTable::Official;
        self
    }

    /// `β(t)`.
    pub fn beta(&self, t: &Tensor) -> Tensor {
        t * (self.beta_max - self.beta_min) + self.beta_min
    }

    /// log α(t) = `((−0.25·t²)·(β₁−β₀)) − ((0.5·t)·β₀)`, in the official order.
    pub fn log_mean_coeff(&self, t: &Tensor) -> Tensor {
        (t.square() * -0.25) * (self.beta_max - self.beta_min) - (t * 0.5) * self.beta_min
    }

    fn log_mean_coeff_f64(&self, t: f64) -> f64 {
        -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
    }

    /// score_sde's `discrete_betas` for `n` steps: `linspace(β₀/n, β₁/n, n)` (float32 in the
    /// official code).
    pub fn discrete_betas(&self, n: usize, kind: Kind, device: Device) -> Tensor {
        let n = n as f64;
        Tensor::linspace(
            self.beta_min / n,
            self.beta_max / n,
            n as i64,
            (kind, device),
        )
    }

    /// `(α_i, β_i)` of the β table for the step at `t` with `n` steps: float32 for the
    /// official table (products with `t`'s kind promote), `t`'s kind for the exact one.
    pub fn discrete_alpha_beta(&self, t: &Tensor, n: usize) -> (Tensor, Tensor) {
        table_alpha_beta(self, self.table, t, n)
    }
}

/// `∫_{t−1/n}^{t} β(s) ds` (clamped at 0), the one-step integrated β of a linear schedule.
fn integrated_beta(beta_min: f64, beta_max: f64, t: &Tensor, n: usize) -> Tensor {
    let dt = 1.0 / n as f64;
    let s = (t - dt).clamp_min(0.0);
    let width = t - &s;
    // β₀(t − s) + (β₁ − β₀)(t² − s²)/2
    width * beta_min + (t.square() - s.square()) * (0.5 * (beta_max - beta_min))
}

fn table_alpha_beta(sde: &VpSde, table: BetaTable, t: &Tensor, n: usize) -> (Tensor, Tensor) {
    match table {
        BetaTable::Official => {
            // timestep = (t·(N − 1)/T).long(); the tables are float32 (sde_lib.VPSDE builds
            // them at construction, before the official float64 runs switch the default
            // dtype), and so is everything computed from them alone (√α, G = √β, G²)
            let idx = (t * ((n - 1) as f64)).to_kind(Kind::Int64);
            let betas = sde.discrete_betas(n, Kind::Float, t.device());
            let alphas = betas.ones_like() - &betas;
            (alphas.index_select(0, &idx), betas.index_select(0, &idx))
        }
        BetaTable::Exact => {
            let b = integrated_beta(sde.beta_min, sde.beta_max, t, n);
            let alpha = (-&b).exp();
            let beta = (-b).expm1() * -1.0;
            (alpha, beta)
        }
    }
}

impl Sde for VpSde {
    fn name(&self) -> &'static str {
        "vp"
    }

    /// `−0.5·β(t)` (official: `-0.5 * beta_t[:, None, None, None] * x`).
    fn drift_coeff(&self, t: &Tensor) -> Tensor {
        self.beta(t) * -0.5
    }

    fn diffusion(&self, t: &Tensor) -> Tensor {
        self.beta(t).sqrt()
    }

    fn marginal_coeffs(&self, t: &Tensor) -> (Tensor, Tensor) {
        let lmc = self.log_mean_coeff(t);
        let mean = lmc.exp();
        let std = ((lmc * 2.0).exp() * -1.0 + 1.0).sqrt();
        (mean, std)
    }

    fn prior_std(&self) -> f64 {
        1.0
    }

    /// DDPM discretisation: `f = √α_i·x − x`, `G = √β_i`.
    fn discretize(&self, x: &Tensor, t: &Tensor, n: usize) -> (Tensor, Tensor) {
        let (alpha, beta) = self.discrete_alpha_beta(t, n);
        let f = per_graph(&alpha.sqrt()) * x - x;
        (f, beta.sqrt())
    }

    fn langevin_alpha(&self, t: &Tensor, n: usize) -> Tensor {
        self.discrete_alpha_beta(t, n).0
    }

    fn log_snr(&self, t: f64) -> f64 {
        // λ = log α − log σ = lmc − ½ log(1 − e^{2 lmc})
        let lmc = self.log_mean_coeff_f64(t);
        lmc - 0.5 * (-(2.0 * lmc).exp_m1()).ln()
    }

    /// Closed form (DPM-Solver, appendix): with `v = log(e^{−2λ} + 1) = −2·lmc`,
    /// `t = 2v / (√(β₀² + 2(β₁ − β₀)v) + β₀)`.
    fn t_of_log_snr(&self, lambda: f64) -> f64 {
        let v = (-2.0 * lambda).exp().ln_1p();
        let (b0, b1) = (self.beta_min, self.beta_max);
        2.0 * v / ((b0 * b0 + 2.0 * (b1 - b0) * v).sqrt() + b0)
    }

    fn coeffs_f64(&self, t: f64) -> (f64, f64) {
        let lmc = self.log_mean_coeff_f64(t);
        (lmc.exp(), (-(2.0 * lmc).exp_m1()).sqrt())
    }
}

/// The sub-VP SDE of score_sde: VP's drift, diffusion `√(β(t)(1 − e^{−2∫β}))`, marginal
/// `α(t) = e^{lmc}`, `σ(t) = 1 − e^{2·lmc}` (`subVPSDE`; GraphGDP names it but does not ship it).
#[derive(Clone, Debug, PartialEq)]
pub struct SubVpSde {
    vp: VpSde,
}

impl SubVpSde {
    /// A sub-VP SDE; `0 < beta_min < beta_max`, both finite.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        Ok(Self {
            vp: VpSde::new(beta_min, beta_max)?,
        })
    }
}

impl Sde for SubVpSde {
    fn name(&self) -> &'static str {
        "sub_vp"
    }

    fn drift_coeff(&self, t: &Tensor) -> Tensor {
        self.vp.drift_coeff(t)
    }

    fn diffusion(&self, t: &Tensor) -> Tensor {
        let beta = self.vp.beta(t);
        // ∫₀ᵗ β = −2·lmc, so 1 − e^{−2∫β} = 1 − e^{4·lmc}
        let discount = (self.vp.log_mean_coeff(t) * 4.0).exp() * -1.0 + 1.0;
        (beta * discount).sqrt()
    }

    fn marginal_coeffs(&self, t: &Tensor) -> (Tensor, Tensor) {
        let lmc = self.vp.log_mean_coeff(t);
        let mean = lmc.exp();
        let std = (lmc * 2.0).exp() * -1.0 + 1.0;
        (mean, std)
    }

    fn prior_std(&self) -> f64 {
        1.0
    }

    /// Euler–Maruyama (score_sde's default `discretize`): `f = f(t)·x/n`, `G = g(t)/√n`.
    fn discretize(&self, x: &Tensor, t: &Tensor, n: usize) -> (Tensor, Tensor) {
        let dt = 1.0 / n as f64;
        let (drift, g) = self.sde(x, t);
        (drift * dt, g * dt.sqrt())
    }

    fn langevin_alpha(&self, t: &Tensor, n: usize) -> Tensor {
        self.vp.discrete_alpha_beta(t, n).0
    }

    fn log_snr(&self, t: f64) -> f64 {
        let (a, s) = self.coeffs_f64(t);
        a.ln() - s.ln()
    }

    /// By bisection (λ is strictly decreasing in t; no closed form).
    fn t_of_log_snr(&self, lambda: f64) -> f64 {
        bisect_decreasing(|t| self.log_snr(t), lambda)
    }

    fn coeffs_f64(&self, t: f64) -> (f64, f64) {
        let lmc = self.vp.log_mean_coeff_f64(t);
        (lmc.exp(), -(2.0 * lmc).exp_m1())
    }
}

/// The variance-exploding SDE `dx = σ(t)√(2 log(σ_max/σ_min)) dW`,
/// `σ(t) = σ_min (σ_max/σ_min)^t` (score_sde `VESDE`; GraphGDP names it but does not ship it).
#[derive(Clone, Debug, PartialEq)]
pub struct VeSde {
    /// σ(0).
    pub sigma_min: f64,
    /// σ(1), the prior's standard deviation.
    pub sigma_max: f64,
}

impl VeSde {
    /// A VE SDE; `0 < sigma_min < sigma_max`, both finite.
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        if !(sigma_min.is_finite() && sigma_min > 0.0) {
            return Err(config_err(
                "sde.sigma_min",
                format!("must be positive and finite, got {sigma_min}"),
            ));
        }
        if !(sigma_max.is_finite() && sigma_max > sigma_min) {
            return Err(config_err(
                "sde.sigma_max",
                format!("must be finite and greater than sigma_min = {sigma_min}, got {sigma_max}"),
            ));
        }
        Ok(Self {
            sigma_min,
            sigma_max,
        })
    }

    fn sigma(&self, t: &Tensor) -> Tensor {
        (t * (self.sigma_max / self.sigma_min).ln()).exp() * self.sigma_min
    }
}

impl Sde for VeSde {
    fn name(&self) -> &'static str {
        "ve"
    }

    fn drift_coeff(&self, t: &Tensor) -> Tensor {
        t.zeros_like()
    }

    fn diffusion(&self, t: &Tensor) -> Tensor {
        self.sigma(t) * (2.0 * (self.sigma_max / self.sigma_min).ln()).sqrt()
    }

    fn marginal_coeffs(&self, t: &Tensor) -> (Tensor, Tensor) {
        (t.ones_like(), self.sigma(t))
    }

    fn prior_std(&self) -> f64 {
        self.sigma_max
    }

    /// SMLD: `f = 0`, `G = √(σ_i² − σ_{i−1}²)` on the geometric ladder of `n` levels.
    fn discretize(&self, x: &Tensor, t: &Tensor, n: usize) -> (Tensor, Tensor) {
        let idx = (t * ((n - 1) as f64)).to_kind(Kind::Int64);
        let sigmas = Tensor::linspace(
            self.sigma_min.ln(),
            self.sigma_max.ln(),
            n as i64,
            (t.kind(), t.device()),
        )
        .exp();
        let sigma = sigmas.index_select(0, &idx);
        let prev_idx = (&idx - 1).clamp_min(0);
        let prev = sigmas
            .index_select(0, &prev_idx)
            .where_self(&idx.gt(0), &t.zeros_like());
        let g = (sigma.square() - prev.square()).sqrt();
        (x.zeros_like(), g)
    }

    fn langevin_alpha(&self, t: &Tensor, _n: usize) -> Tensor {
        t.ones_like()
    }

    fn log_snr(&self, t: f64) -> f64 {
        -(self.sigma_min.ln() + t * (self.sigma_max / self.sigma_min).ln())
    }

    fn t_of_log_snr(&self, lambda: f64) -> f64 {
        (-lambda - self.sigma_min.ln()) / (self.sigma_max / self.sigma_min).ln()
    }

    fn coeffs_f64(&self, t: f64) -> (f64, f64) {
        (
            1.0,
            self.sigma_min * ((self.sigma_max / self.sigma_min).ln() * t).exp(),
        )
    }
}

/// The `t ∈ [0, 1]` with `f(t) = y` for a strictly decreasing `f` (clamped to the ends).
fn bisect_decreasing(f: impl Fn(f64) -> f64, y: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if f(hi) >= y {
        return hi;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) > y {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Drift of the reverse-time SDE (`weight = 1`) or of the probability-flow ODE
/// (`weight = 0.5`) from the score (score_sde `SDE.reverse(...).sde`):
/// `f(t)·x − g(t)²·score·weight`, with the official operation order.
pub fn reverse_drift(sde: &dyn Sde, x: &Tensor, t: &Tensor, score: &Tensor, weight: f64) -> Tensor {
    let (drift, g) = sde.sde(x, t);
    drift - per_graph(&g.square()) * score * weight
}

/// Discretised reverse SDE (score_sde `RSDE.discretize`, `probability_flow = False`):
/// `rev_f = f − G²·score`, `rev_G = G`, for `n` steps.
pub fn reverse_discretize(
    sde: &dyn Sde,
    x: &Tensor,
    t: &Tensor,
    score: &Tensor,
    n: usize,
) -> (Tensor, Tensor) {
    let (f, g) = sde.discretize(x, t, n);
    let rev_f = f - per_graph(&g.square()) * score * 1.0;
    (rev_f, g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn tt(v: &[f64]) -> Tensor {
        Tensor::from_slice(v)
    }

    fn vals(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.to_kind(Kind::Double).reshape([-1])).unwrap()
    }

    fn all() -> Vec<Box<dyn Sde>> {
        vec![
            Box::new(VpSde::new(0.1, 20.0).unwrap()),
            Box::new(SubVpSde::new(0.1, 20.0).unwrap()),
            Box::new(VeSde::new(0.01, 50.0).unwrap()),
        ]
    }

    #[test]
    fn log_snr_inverts() {
        for sde in all() {
            for &t in &[1e-3, 0.01, 0.1, 0.37, 0.5, 0.9, 1.0] {
                let l = sde.log_snr(t);
                assert_relative_eq!(sde.t_of_log_snr(l), t, epsilon = 1e-9);
                let (a, s) = sde.coeffs_f64(t);
                assert_relative_eq!(l, (a / s).ln(), epsilon = 1e-9);
                let (at, st) = sde.marginal_coeffs(&tt(&[t]));
                assert_relative_eq!(vals(&at)[0], a, epsilon = 1e-12);
                assert_relative_eq!(vals(&st)[0], s, epsilon = 1e-12);
            }
        }
    }

    /// dσ²/dt = 2f(t)σ² + g² and dα/dt = f(t)α: the marginal coefficients are those of the
    /// SDE's drift and diffusion (checked by central differences).
    #[test]
    fn marginals_solve_the_moment_equations() {
        for sde in all() {
            for &t in &[0.05, 0.3, 0.7, 0.95] {
                let h = 1e-6;
                let c = |t: f64| sde.coeffs_f64(t);
                let (a, s) = c(t);
                let da = (c(t + h).0 - c(t - h).0) / (2.0 * h);
                let ds2 = (c(t + h).1.powi(2) - c(t - h).1.powi(2)) / (2.0 * h);
                let f = vals(&sde.drift_coeff(&tt(&[t])))[0];
                let g = vals(&sde.diffusion(&tt(&[t])))[0];
                assert_relative_eq!(da, f * a, epsilon = 1e-5, max_relative = 1e-5);
                assert_relative_eq!(ds2, 2.0 * f * s * s + g * g, max_relative = 1e-5);
            }
        }
    }

    #[test]
    fn exact_table_matches_ddpm_to_first_order_and_stays_valid() {
        let vp = VpSde::new(0.1, 20.0).unwrap();
        let official = vp.clone().with_official_table();
        let t = tt(&[1e-3, 0.25, 0.5, 0.999, 1.0]);
        let (ae, be) = vp.discrete_alpha_beta(&t, 1000);
        let (ao, bo) = official.discrete_alpha_beta(&t, 1000);
        // the DDPM table reads β at the grid point below t, the exact rule integrates over
        // [t − 1/n, t]: 10 % apart at the first step (1.1e-4 vs 1e-4), within 1.1 % after
        for (k, (x, y)) in vals(&be).iter().zip(vals(&bo)).enumerate() {
            assert!((x - y).abs() < 3e-4, "{x} {y}");
            if k > 0 {
                assert_relative_eq!(*x, y, max_relative = 0.011);
            }
        }
        for (x, y) in vals(&ae).iter().zip(vals(&ao)) {
            assert_relative_eq!(*x, y, max_relative = 3e-4);
        }
        // 10 steps: the official table has β = 2 at t = 1 (α < 0), the exact one stays in (0, 1).
        let (ao, _) = official.discrete_alpha_beta(&tt(&[1.0]), 10);
        assert!(vals(&ao)[0] < 0.0);
        let (a, b) = vp.discrete_alpha_beta(&tt(&[1.0, 0.5, 0.0]), 10);
        for (a, b) in vals(&a).into_iter().zip(vals(&b)) {
            assert!(a > 0.0 && a <= 1.0 && (0.0..1.0).contains(&b), "{a} {b}");
            assert_relative_eq!(a + b, 1.0, epsilon = 1e-12);
        }
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(VpSde::new(20.0, 0.1).is_err());
        assert!(VpSde::new(0.1, 0.1).is_err());
        assert!(VpSde::new(-0.1, 20.0).is_err());
        assert!(VpSde::new(0.1, f64::NAN).is_err());
        assert!(VeSde::new(-1.0, 50.0).is_err());
        assert!(VeSde::new(1.0, 0.5).is_err());
        let e = SubVpSde::new(1.0, 1.0).unwrap_err().to_string();
        assert!(e.contains("sde.beta_max"), "{e}");
    }

    #[test]
    fn ve_discretisation_sums_to_the_marginal_variance() {
        // Σ G_i² over the ladder = σ_max² − σ_min² + σ_min² (the first step adds σ_min²).
        let ve = VeSde::new(0.01, 50.0).unwrap();
        let n = 50;
        // (t·(n − 1)).long() truncates: nudge the grid points up to land on every index
        let ts: Vec<f64> = (0..n)
            .map(|i| (i as f64 / (n - 1) as f64 + 1e-9).min(1.0))
            .collect();
        let x = Tensor::zeros([n as i64, 2, 2], (Kind::Double, Device::Cpu));
        let (_, g) = ve.discretize(&x, &tt(&ts), n);
        let total: f64 = vals(&g).iter().map(|g| g * g).sum();
        assert_relative_eq!(total, 50.0f64.powi(2), max_relative = 1e-9);
    }

    #[test]
    fn sym_takes_the_lower_triangle() {
        let a = Tensor::arange(9, (Kind::Double, Device::Cpu)).view([1, 3, 3]);
        assert_eq!(vals(&sym(&a)), vec![0., 3., 6., 3., 0., 7., 6., 7., 0.]);
    }
}
