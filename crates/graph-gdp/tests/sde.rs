//! The SDEs and the samplers against closed forms: the marginals against a Monte-Carlo
//! simulation of the discretised forward process; with Gaussian data, whose score is known,
//! the reverse-SDE samplers recover the data distribution and the probability-flow solvers
//! the exact solution of the (linear) probability-flow ODE.

use graph_gdp::pgsn::Nodes;
use graph_gdp::sampler::{self, EpsModel};
use graph_gdp::sde::{per_graph, Sde, SubVpSde, VeSde, VpSde};
use graph_gdp::{
    Corrector, Dopri5Config, DpmSolverConfig, FixedMethod, FixedStepConfig, PcConfig, Predictor,
    SamplerConfig, Spacing,
};
use graph_tensor::noise::NoiseSource;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

fn sdes() -> Vec<Box<dyn Sde>> {
    vec![
        Box::new(VpSde::new(0.1, 20.0).unwrap()),
        Box::new(SubVpSde::new(0.1, 20.0).unwrap()),
        Box::new(VeSde::new(0.01, 10.0).unwrap()),
    ]
}

fn scalar(sde: &dyn Sde, f: impl Fn(&dyn Sde, &Tensor) -> Tensor, t: f64) -> f64 {
    f(sde, &Tensor::from_slice(&[t])).double_value(&[0])
}

/// Euler–Maruyama simulation of dx = f(t)x dt + g(t) dW from x₀ with 4000 steps to t = 1,
/// 20,000 paths: mean and variance at t = 0.3, 0.7, 1 against α(t)x₀ and σ(t)².
#[test]
fn marginals_match_a_monte_carlo_of_the_forward_process() {
    let paths = 20_000;
    let steps = 4000;
    let x0 = 0.7;
    for sde in sdes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut x = vec![x0; paths];
        let dt = 1.0 / steps as f64;
        let mut checked = 0;
        for i in 0..steps {
            let t = i as f64 * dt;
            let f = scalar(sde.as_ref(), |s, t| s.drift_coeff(t), t);
            let g = scalar(sde.as_ref(), |s, t| s.diffusion(t), t);
            for v in &mut x {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v += f * *v * dt + g * dt.sqrt() * z;
            }
            let t_next = (i + 1) as f64 * dt;
            if [0.3, 0.7, 1.0].iter().any(|&c| (t_next - c).abs() < 1e-9) {
                let (a, s) = sde.coeffs_f64(t_next);
                let mean = x.iter().sum::<f64>() / paths as f64;
                let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (paths - 1) as f64;
                let se_mean = s / (paths as f64).sqrt();
                let se_var = s * s * (2.0 / paths as f64).sqrt();
                eprintln!(
                    "{} t={t_next}: mean {mean:.5} vs {:.5}, var {var:.5} vs {:.5}",
                    sde.name(),
                    a * x0,
                    s * s
                );
                // 4 standard errors, plus the Euler–Maruyama bias O(dt)
                assert!(
                    (mean - a * x0).abs() < 4.0 * se_mean + 2e-3 * x0,
                    "{} mean",
                    sde.name()
                );
                assert!(
                    (var - s * s).abs() < 4.0 * se_var + 2e-3 * s * s,
                    "{} var",
                    sde.name()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 3);
    }
}

/// Data whose entries are independent N(μ, s²): `ε̂(x, t) = σ(x − αμ)/(α²s² + σ²)` exactly.
struct Gaussian<'a> {
    sde: &'a dyn Sde,
    mu: f64,
    s: f64,
    n: usize,
}

impl EpsModel for Gaussian<'_> {
    fn eps(&self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> graph_gdp::Result<Tensor> {
        let (a, sig) = self.sde.marginal_coeffs(t);
        let v = (&a * &a) * (self.s * self.s) + &sig * &sig;
        let e = (x - per_graph(&a) * self.mu) * per_graph(&(sig / v));
        Ok(e * nodes.pair_mask(self.n as i64, x.kind(), x.device()))
    }
    fn max_nodes(&self) -> usize {
        self.n
    }
    fn kind(&self) -> Kind {
        Kind::Double
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
}

/// Upper-triangle entries of the valid pairs.
fn entries(x: &Tensor, n: usize) -> Vec<f64> {
    let v = Vec::<f64>::try_from(&x.reshape([-1])).unwrap();
    let b = v.len() / (n * n);
    let mut out = Vec::new();
    for g in 0..b {
        for i in 0..n {
            for j in i + 1..n {
                out.push(v[g * n * n + i * n + j]);
            }
        }
    }
    out
}

fn run(
    cfg: &SamplerConfig,
    model: &Gaussian<'_>,
    b: usize,
    seed: u64,
) -> (Tensor, Tensor, Vec<usize>) {
    let n = model.n;
    let nodes = Nodes::new(vec![n; b]);
    let seeds: Vec<u64> = (0..b as u64).map(|i| seed * 1000 + i).collect();
    let mut noise = NoiseSource::from_seeds(&seeds, Device::Cpu);
    let out = sampler::run(cfg, model, model.sde, &nodes, &mut noise, &mut |_, _| {}).unwrap();
    // the prior sample the run started from: each graph's first draw
    let prior = NoiseSource::from_seeds(&seeds, Device::Cpu)
        .randn_sym(n as i64)
        .to_kind(Kind::Double)
        * model.sde.prior_std();
    (out.x, prior, out.nfe)
}

#[test]
fn reverse_sde_samplers_recover_gaussian_data() {
    let (mu, s, n, b) = (0.3, 0.5, 8usize, 96usize);
    let pcs = [
        PcConfig {
            steps: 500,
            noise_removal: true,
            ..PcConfig::default()
        },
        PcConfig {
            steps: 500,
            predictor: Predictor::ReverseDiffusion,
            ..PcConfig::default()
        },
        PcConfig {
            steps: 200,
            corrector: Corrector::Langevin,
            ..PcConfig::default()
        },
    ];
    let dpm_sde = [1usize, 2].map(|order| {
        SamplerConfig::DpmSolver(DpmSolverConfig {
            order,
            stochastic: true,
            steps: 100,
            ..DpmSolverConfig::default()
        })
    });
    for sde in sdes() {
        for cfg in &dpm_sde {
            let model = Gaussian {
                sde: sde.as_ref(),
                mu,
                s,
                n,
            };
            let (x, _, _) = run(cfg, &model, b, 1);
            let v = entries(&x, n);
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
            eprintln!(
                "{} {cfg:?}: mean {m:.4} sd {sd:.4} (want {mu}, {s})",
                sde.name()
            );
            assert!((m - mu).abs() < 0.04, "{} mean {m}", sde.name());
            assert!((sd - s).abs() < 0.05 * s + 0.02, "{} sd {sd}", sde.name());
        }
        for pc in &pcs {
            let model = Gaussian {
                sde: sde.as_ref(),
                mu,
                s,
                n,
            };
            let (x, _, _) = run(&SamplerConfig::Pc(pc.clone()), &model, b, 1);
            let v = entries(&x, n);
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
            eprintln!(
                "{} {:?}+{:?} {} steps: mean {m:.4} sd {sd:.4} (want {mu}, {s})",
                sde.name(),
                pc.predictor,
                pc.corrector,
                pc.steps
            );
            // 2688 draws: standard error of the mean 0.01, of the sd 0.007
            assert!((m - mu).abs() < 0.04, "{} mean {m}", sde.name());
            assert!((sd - s).abs() < 0.05 * s + 0.02, "{} sd {sd}", sde.name());
        }
    }
}

/// The probability-flow ODE of Gaussian data is linear: the standardised value
/// `(x − α(t)μ)/√v(t)` is constant, `v = α²s² + σ²`.
fn exact_flow(sde: &dyn Sde, prior: &Tensor, mu: f64, s: f64, eps: f64) -> Tensor {
    let (a1, s1) = sde.coeffs_f64(1.0);
    let (ae, se) = sde.coeffs_f64(eps);
    let v1 = a1 * a1 * s * s + s1 * s1;
    let ve = ae * ae * s * s + se * se;
    (prior - a1 * mu) * (ve / v1).sqrt() + ae * mu
}

#[test]
fn ode_solvers_follow_the_exact_probability_flow() {
    let (mu, s, n, b) = (0.3, 0.5, 6usize, 8usize);
    let eps = 1e-3;
    let solvers: Vec<(SamplerConfig, f64)> = vec![
        (
            // the global error of rtol = atol = 1e-5 reaches 1.5e-3 for sub-VP (small σ near 0)
            SamplerConfig::Dopri5(Dopri5Config {
                rtol: 1e-7,
                atol: 1e-7,
                denoise: false,
                ..Dopri5Config::default()
            }),
            1e-4,
        ),
        (
            SamplerConfig::OdeFixed(FixedStepConfig {
                method: FixedMethod::Rk4,
                steps: 40,
                spacing: Spacing::LogSnr,
                denoise: false,
                eps,
            }),
            1e-4,
        ),
        (
            SamplerConfig::OdeFixed(FixedStepConfig {
                method: FixedMethod::Heun,
                steps: 100,
                spacing: Spacing::LogSnr,
                denoise: false,
                eps,
            }),
            2e-3,
        ),
        (
            SamplerConfig::OdeFixed(FixedStepConfig {
                method: FixedMethod::Midpoint,
                steps: 100,
                spacing: Spacing::LogSnr,
                denoise: false,
                eps,
            }),
            2e-3,
        ),
        (
            SamplerConfig::OdeFixed(FixedStepConfig {
                method: FixedMethod::Euler,
                steps: 2000,
                spacing: Spacing::LogSnr,
                denoise: false,
                eps,
            }),
            5e-3,
        ),
    ];
    for sde in sdes() {
        let model = Gaussian {
            sde: sde.as_ref(),
            mu,
            s,
            n,
        };
        for (cfg, tol) in &solvers {
            let (x, prior, nfe) = run(cfg, &model, b, 2);
            let pm = Nodes::new(vec![n; b]).pair_mask(n as i64, Kind::Double, Device::Cpu);
            let want = exact_flow(sde.as_ref(), &prior, mu, s, eps) * &pm;
            let err = (&x - &want).abs().max().double_value(&[]);
            eprintln!(
                "{} {:?}: max error {err:.2e}, nfe {:?}",
                sde.name(),
                cfg,
                &nfe[..2]
            );
            // relative to the scale of the prior (σ_max = 10 for VE)
            let tol = tol * sde.prior_std();
            assert!(err < tol, "{} {cfg:?}: error {err:e} > {tol:e}", sde.name());
        }
    }
}

#[test]
fn dopri5_steps_are_per_graph() {
    // one graph alone or among others: the same steps and the same result
    let sde = VpSde::new(0.1, 20.0).unwrap();
    let model = Gaussian {
        sde: &sde,
        mu: 0.3,
        s: 0.5,
        n: 5,
    };
    let cfg = SamplerConfig::Dopri5(Dopri5Config::default());
    let (all, _, nfe_all) = run(&cfg, &model, 6, 3);
    let nodes = Nodes::new(vec![5]);
    let mut noise = NoiseSource::from_seeds(&[3000 + 4], Device::Cpu);
    let one = sampler::run(&cfg, &model, &sde, &nodes, &mut noise, &mut |_, _| {}).unwrap();
    assert_eq!(one.nfe[0], nfe_all[4]);
    let d = (&one.x.get(0) - all.get(4)).abs().max().double_value(&[]);
    assert!(d < 1e-12, "{d}");
}

/// DPM-Solver++ converges at its order: halving the step divides the error by about 2 for
/// order 1 and by about 4 for orders 2 and 3 (the multistep method starts with lower-order
/// steps, whose local error O(h²) sets the global order to 2 for order 3 too).
#[test]
fn dpm_solver_converges() {
    for sde in sdes() {
        let model = Gaussian {
            sde: sde.as_ref(),
            mu: 0.3,
            s: 0.5,
            n: 6,
        };
        for order in 1..=3 {
            let err = |steps| {
                let cfg = SamplerConfig::DpmSolver(DpmSolverConfig {
                    order,
                    steps,
                    spacing: Spacing::LogSnr,
                    denoise: false,
                    eps: 1e-3,
                    stochastic: false,
                });
                let (x, prior, nfe) = run(&cfg, &model, 8, 2);
                assert_eq!(nfe, vec![steps; 8]);
                let pm = Nodes::new(vec![6; 8]).pair_mask(6, Kind::Double, Device::Cpu);
                let want = exact_flow(sde.as_ref(), &prior, 0.3, 0.5, 1e-3) * &pm;
                (&x - &want).abs().max().double_value(&[])
            };
            let (e40, e80) = (err(40), err(80));
            eprintln!(
                "{} order {order}: error {e40:.3e} (40 steps), {e80:.3e} (80 steps)",
                sde.name()
            );
            let want_ratio = if order == 1 { 1.8 } else { 3.5 };
            assert!(
                e40 / e80 > want_ratio,
                "{} order {order}: {e40} -> {e80}",
                sde.name()
            );
            if order > 1 {
                assert!(e80 < 5e-3, "{} order {order}: {e80}", sde.name());
            }
        }
    }
}
