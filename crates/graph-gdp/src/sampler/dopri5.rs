//! Adaptive Dormand–Prince 5(4) on the probability-flow ODE, the official `ode` sampler
//! (scipy `solve_ivp(method='RK45', rtol, atol)` from t = 1 to eps), with one step size per
//! graph.
//!
//! Each graph runs scipy's algorithm on its own: the same tableau and error estimator, the
//! initial step selection (`select_initial_step`, one extra evaluation), safety factor 0.9,
//! step factors in [0.2, 10] (at most 1 right after a rejection), the RMS error norm and
//! first-same-as-last (6 evaluations per attempted step; `2 + 6k` for `k` attempts, plus the
//! denoising step). The norm runs over the graph's valid pairs, where scipy's runs over the
//! whole flattened batch (padding included), so here a graph's steps and sample do not
//! depend on the other graphs in its batch. All graphs still share each network call: the
//! active graphs' stages are evaluated together, each at its own time. The state is kept in
//! float64, as scipy keeps it.

use tch::{Kind, Tensor};

use super::ode::{denoise, drift};
use super::{check_finite, prior, Denoiser, SamplerNoise};
use crate::config::Dopri5Config;
use crate::error::{GdpError, Result};
use crate::pgsn::Nodes;

const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [[f64; 5]; 6] = [
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
const B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
const E: [f64; 7] = [
    -71.0 / 57600.0,
    0.0,
    71.0 / 16695.0,
    -71.0 / 1920.0,
    17253.0 / 339200.0,
    -22.0 / 525.0,
    1.0 / 40.0,
];
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// −1/(error estimator order + 1).
const ERROR_EXPONENT: f64 = -1.0 / 5.0;

/// Per-graph RMS over the valid pairs: `√(Σ (v·mask)² / count)`, `[A]` on the host.
fn rms(v: &Tensor, mask: &Tensor, count: &Tensor) -> Vec<f64> {
    let s = (v * mask)
        .square()
        .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
    Vec::<f64>::try_from(&(s / count).sqrt().to_device(tch::Device::Cpu)).expect("f64 vector")
}

fn col(v: &[f64], device: tch::Device) -> Tensor {
    Tensor::from_slice(v).to_device(device).view([-1, 1, 1])
}

/// Per-graph adaptive Dormand–Prince sampling (see the module docs), then the optional
/// denoising step; masked.
pub fn sample(
    cfg: &Dopri5Config,
    den: &mut Denoiser<'_>,
    nodes: &Nodes,
    noise: &mut dyn SamplerNoise,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor> {
    let (x0, pm) = prior(den, nodes, noise);
    let net_kind = x0.kind();
    let device = x0.device();
    let b = nodes.counts.len();
    let mut y = x0.to_kind(Kind::Double);
    let mask = pm.to_kind(Kind::Double);
    let pairs = mask.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
    let pairs_host = Vec::<f64>::try_from(&pairs.to_device(tch::Device::Cpu))?;
    let (rtol, atol, eps) = (cfg.rtol, cfg.atol, cfg.eps);
    let interval = 1.0 - eps;
    // graphs without a valid pair have nothing to integrate
    let mut active: Vec<usize> = (0..b).filter(|&i| pairs_host[i] > 0.0).collect();
    let mut t = vec![1.0f64; b];
    let mut h_abs = vec![0.0f64; b];
    let mut attempts = vec![0usize; b];
    let mut calls = 0usize;
    // A rough total for progress reports: 2 + 6 per step at ~20 steps.
    let mut estimate = 2 + 6 * 20 + usize::from(cfg.denoise);

    // f(t, y) of the graphs `members` (indices into the batch) at times `ts`.
    let eval =
        |den: &mut Denoiser<'_>, ys: &Tensor, ts: &[f64], members: &[usize]| -> Result<Tensor> {
            let sub = Nodes {
                counts: members.iter().map(|&m| nodes.counts[m]).collect(),
                self_loops: nodes.self_loops,
            };
            let tt = Tensor::from_slice(ts).to_device(device).to_kind(net_kind);
            Ok(drift(den, &ys.to_kind(net_kind), &tt, &sub, members)?.to_kind(Kind::Double))
        };
    let select = |v: &Tensor, members: &[usize]| -> Tensor {
        let idx: Vec<i64> = members.iter().map(|&m| m as i64).collect();
        v.index_select(0, &Tensor::from_slice(&idx).to_device(device))
    };

    let mut f0 = y.zeros_like();
    if !active.is_empty() {
        // f(1, y0) and scipy's `select_initial_step` (one more evaluation)
        let ya = select(&y, &active);
        let ma = select(&mask, &active);
        let ca = select(&pairs, &active);
        let fa = eval(den, &ya, &vec![1.0; active.len()], &active)?;
        calls += 1;
        progress(calls, estimate);
        let scale = ya.abs() * rtol + atol;
        let d0 = rms(&(&ya / &scale), &ma, &ca);
        let d1 = rms(&(&fa / &scale), &ma, &ca);
        let h0: Vec<f64> = d0
            .iter()
            .zip(&d1)
            .map(|(&d0, &d1)| {
                let h = if d0 < 1e-5 || d1 < 1e-5 {
                    1e-6
                } else {
                    0.01 * d0 / d1
                };
                h.min(interval)
            })
            .collect();
        // direction −1: y1 = y0 − h0·f0 at t = 1 − h0
        let y1 = &ya - &fa * col(&h0, device);
        let t1: Vec<f64> = h0.iter().map(|h| 1.0 - h).collect();
        let f1 = eval(den, &y1, &t1, &active)?;
        calls += 1;
        progress(calls, estimate);
        let d2 = rms(&((&f1 - &fa) / &scale), &ma, &ca);
        for (k, &g) in active.iter().enumerate() {
            let d2 = d2[k] / h0[k];
            let h1 = if d1[k] <= 1e-15 && d2 <= 1e-15 {
                (h0[k] * 1e-3).max(1e-6)
            } else {
                (0.01 / d1[k].max(d2)).powf(1.0 / 5.0)
            };
            h_abs[g] = (100.0 * h0[k]).min(h1).min(interval);
        }
        let idx: Vec<i64> = active.iter().map(|&m| m as i64).collect();
        f0 = f0.index_copy(0, &Tensor::from_slice(&idx).to_device(device), &fa);
    }

    let mut rejected = vec![false; b];
    while !active.is_empty() {
        let ya = select(&y, &active);
        let fa = select(&f0, &active);
        let ma = select(&mask, &active);
        let ca = select(&pairs, &active);
        let mut h = Vec::with_capacity(active.len());
        let mut t_new = Vec::with_capacity(active.len());
        for &g in &active {
            let min_step = 10.0 * (t[g] - next_down(t[g])).abs();
            if h_abs[g] < min_step {
                return Err(GdpError::Sampler(format!(
                    "dopri5: graph {g}: the step size fell below {min_step:e} at t = {} \
                     (the ODE is too stiff for rtol {rtol}, atol {atol})",
                    t[g]
                )));
            }
            if attempts[g] >= cfg.max_steps {
                return Err(GdpError::Sampler(format!(
                    "dopri5: graph {g}: no end after max_steps = {} steps (t = {})",
                    cfg.max_steps, t[g]
                )));
            }
            let mut tn = t[g] - h_abs[g];
            if tn < eps {
                tn = eps;
            }
            h.push(tn - t[g]);
            t_new.push(tn);
        }
        let hc = col(&h, device);
        // the six new stages (K[1..6]) and f(t + h, y_new)
        let mut k: Vec<Tensor> = vec![fa];
        for s in 1..6 {
            let mut dy = &k[0] * A[s][0];
            for (j, kj) in k.iter().enumerate().skip(1) {
                if A[s][j] != 0.0 {
                    dy += kj * A[s][j];
                }
            }
            let ts: Vec<f64> = active
                .iter()
                .enumerate()
                .map(|(i, &g)| t[g] + C[s] * h[i])
                .collect();
            k.push(eval(den, &(&ya + dy * &hc), &ts, &active)?);
            calls += 1;
            progress(calls, estimate.max(calls));
        }
        let mut sum_b = &k[0] * B[0];
        for (j, kj) in k.iter().enumerate().skip(1) {
            if B[j] != 0.0 {
                sum_b += kj * B[j];
            }
        }
        let y_new = &ya + sum_b * &hc;
        let f_new = eval(den, &y_new, &t_new, &active)?;
        calls += 1;
        k.push(f_new.shallow_clone());
        let mut err = &k[0] * E[0];
        for (j, kj) in k.iter().enumerate().skip(1) {
            if E[j] != 0.0 {
                err += kj * E[j];
            }
        }
        let err = err * &hc;
        let scale = ya.abs().maximum(&y_new.abs()) * rtol + atol;
        let en = rms(&(err / scale), &ma, &ca);

        let mut accepted = Vec::new();
        let mut accepted_rows = Vec::new();
        for (i, &g) in active.iter().enumerate() {
            attempts[g] += 1;
            let e = en[i];
            if !e.is_finite() {
                return Err(GdpError::Sampler(format!(
                    "dopri5: graph {g}: non-finite error estimate at t = {}",
                    t[g]
                )));
            }
            if e < 1.0 {
                let mut factor = if e == 0.0 {
                    MAX_FACTOR
                } else {
                    MAX_FACTOR.min(SAFETY * e.powf(ERROR_EXPONENT))
                };
                if rejected[g] {
                    factor = factor.min(1.0);
                }
                h_abs[g] *= factor;
                rejected[g] = false;
                t[g] = t_new[i];
                accepted.push(g as i64);
                accepted_rows.push(i as i64);
            } else {
                h_abs[g] *= MIN_FACTOR.max(SAFETY * e.powf(ERROR_EXPONENT));
                rejected[g] = true;
            }
        }
        if !accepted.is_empty() {
            let rows = Tensor::from_slice(&accepted_rows).to_device(device);
            let idx = Tensor::from_slice(&accepted).to_device(device);
            y = y.index_copy(0, &idx, &y_new.index_select(0, &rows));
            f0 = f0.index_copy(0, &idx, &f_new.index_select(0, &rows));
        }
        active.retain(|&g| t[g] > eps);
        // steps so far plus ~the same again for what is left, as a progress total
        estimate = estimate.max(calls + 6 * active.len().min(1) + usize::from(cfg.denoise));
        progress(calls, estimate);
    }
    check_finite(&y, || "at the end of the dopri5 integration".to_string())?;
    let mut x = y.to_kind(net_kind);
    if cfg.denoise {
        x = denoise(den, &x, nodes, eps)?;
        calls += 1;
    }
    progress(calls, calls);
    Ok(x * pm)
}

/// The largest f64 below `x` (`nextafter(x, −∞)` for positive finite `x`).
fn next_down(x: f64) -> f64 {
    if x > 0.0 {
        f64::from_bits(x.to_bits() - 1)
    } else if x == 0.0 {
        -f64::from_bits(1)
    } else {
        f64::from_bits(x.to_bits() + 1)
    }
}
