//! Kernels on feature vectors and the biased squared-MMD estimate.
//!
//! All kernels have the form `k(x, y) = exp(−q(x, y) / (2σ²))` with (GDSS:evaluation/mmd.py,
//! GRAN:utils/dist_helper.py, GraphGDP:evaluation/structure_evaluator.py):
//!
//! * Gaussian EMD: `q = EMD(x, y)²`, the 1-D earth mover's distance with ground distance
//!   `|i − j| / distance_scaling`, computed **exactly** in `O(L)` as
//!   `Σ_{k=0}^{L−2} |F_x(k) − F_y(k)| / distance_scaling` (F = cumulative sums);
//! * Gaussian total variation: `q = (Σ|x − y| / 2)²`;
//! * Gaussian RBF: `q = ‖x − y‖₂²`;
//!
//! vectors of different lengths being zero-padded at the end (which changes none of them).
//!
//! **pyemd 0.5.1**, pinned by GDSS and used for the published GraphRNN/EDP-GNN/GDSS numbers,
//! does not compute the EMD exactly: its double path rounds every mass to a multiple of
//! `max(Σx, Σy)/1e6` and every ground distance to a multiple of `max(D)/1e6`, solves the
//! integer problem and rescales (lib/emd_hat_impl.hpp, `MULT_FACTOR = 1000000`). Measured
//! effect on MMD values: up to ~1.6e-5 relative on degree/clustering and ~6e-4 on spectral
//! (evaluation.md §3, §5). This crate computes the exact value and does not copy the
//! quantisation; `expected.json` in the MMD test cases records both.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::MmdError;

/// A kernel between two feature vectors (histograms or orbit averages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kernel {
    /// `exp(−EMD² / (2σ²))`, EMD with ground distance `|i − j| / distance_scaling`
    /// (GraphRNN `gaussian_emd`).
    GaussianEmd {
        /// Bandwidth σ.
        sigma: f64,
        /// Divides the bin-index distance (100 for the clustering histogram, else 1).
        distance_scaling: f64,
    },
    /// `exp(−TV² / (2σ²))`, `TV = Σ|x − y| / 2` (GRAN `gaussian_tv`).
    GaussianTv {
        /// Bandwidth σ.
        sigma: f64,
    },
    /// `exp(−‖x − y‖² / (2σ²))` (GraphRNN `gaussian`).
    GaussianRbf {
        /// Bandwidth σ.
        sigma: f64,
    },
    /// Gaussian RBF on `‖x − y‖²`, evaluated for every σ in the list; the reported MMD is
    /// the **maximum** over σ (and 0 if none is positive), as GraphGDP's
    /// `structure_evaluator.py` with `sigma_type='argmax'` (from GGM-metrics).
    RbfMaxOverSigmas {
        /// Candidate bandwidths.
        sigmas: Vec<f64>,
    },
}

impl Kernel {
    /// GraphGDP's σ grid: `exp(np.linspace(−5, 5, 50)[:20])`.
    pub fn graphgdp_sigmas() -> Vec<f64> {
        // numpy linspace: k·step + start with step = (stop − start)/(num − 1).
        let step = 10.0 / 49.0;
        (0..20).map(|k| (k as f64 * step + -5.0).exp()).collect()
    }

    /// Bandwidths this kernel evaluates.
    pub fn sigmas(&self) -> Vec<f64> {
        match self {
            Kernel::GaussianEmd { sigma, .. }
            | Kernel::GaussianTv { sigma }
            | Kernel::GaussianRbf { sigma } => vec![*sigma],
            Kernel::RbfMaxOverSigmas { sigmas } => sigmas.clone(),
        }
    }

    /// Short human-readable description, e.g. `gaussian_emd(σ=0.1, ds=100)`.
    pub fn describe(&self) -> String {
        match self {
            Kernel::GaussianEmd {
                sigma,
                distance_scaling,
            } => format!("gaussian_emd(σ={sigma}, ds={distance_scaling})"),
            Kernel::GaussianTv { sigma } => format!("gaussian_tv(σ={sigma})"),
            Kernel::GaussianRbf { sigma } => format!("gaussian_rbf(σ={sigma})"),
            Kernel::RbfMaxOverSigmas { sigmas } => format!(
                "max over {} σ in [{:.4}, {:.4}] of gaussian_rbf",
                sigmas.len(),
                sigmas.iter().copied().fold(f64::INFINITY, f64::min),
                sigmas.iter().copied().fold(0.0, f64::max)
            ),
        }
    }

    /// Checks that every σ (and the distance scaling) is finite and positive.
    pub fn validate(&self) -> Result<(), MmdError> {
        let sig = self.sigmas();
        if sig.is_empty() {
            return Err(MmdError::InvalidKernel("no σ given".into()));
        }
        for s in sig {
            if !(s.is_finite() && s > 0.0) {
                return Err(MmdError::InvalidKernel(format!(
                    "σ must be finite and > 0, got {s}"
                )));
            }
        }
        if let Kernel::GaussianEmd {
            distance_scaling, ..
        } = self
        {
            if !(distance_scaling.is_finite() && *distance_scaling > 0.0) {
                return Err(MmdError::InvalidKernel(format!(
                    "distance scaling must be finite and > 0, got {distance_scaling}"
                )));
            }
        }
        Ok(())
    }
}

/// What `disc` returns when one of its two sets is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptySetRule {
    /// An error: GraphRNN/GDSS/GRAN divide by zero there.
    Error,
    /// `disc = 1e6`, as SPECTRE/DiGress `dist_helper.disc`.
    Spectre,
}

/// One MMD value with the bandwidth that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdValue {
    /// The biased squared-MMD estimate.
    pub value: f64,
    /// The σ that gave `value` (for a single-σ kernel, that σ; for a max over σ, the
    /// maximiser, `None` when no σ gave a positive value and 0 was reported).
    pub sigma: Option<f64>,
}

#[inline]
fn l1(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += (x[i] - y[i]).abs();
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y).abs();
    }
    s
}

#[inline]
fn l2sq(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Distinct vectors (bitwise) with their multiplicities, in first-seen order. The Gram sums
/// over a set only depend on the multiset, so this is exact and saves the repeated work on
/// data sets with many identical histograms (grids, small graphs).
fn dedup(vs: &[Vec<f64>]) -> (Vec<&[f64]>, Vec<f64>) {
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut uniq: Vec<&[f64]> = Vec::new();
    let mut w: Vec<f64> = Vec::new();
    for v in vs {
        let key: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
        match index.get(&key) {
            Some(&i) => w[i] += 1.0,
            None => {
                index.insert(key, uniq.len());
                uniq.push(v);
                w.push(1.0);
            }
        }
    }
    (uniq, w)
}

/// Squared-distance functional `q(x, y)` of a kernel, on transformed vectors.
#[derive(Clone, Copy)]
enum Q {
    /// q = (l1 / scale)²
    L1Sq(f64),
    /// q = ‖·‖²
    L2Sq,
}

impl Q {
    #[inline]
    fn eval(self, a: &[f64], b: &[f64]) -> f64 {
        match self {
            Q::L1Sq(s) => {
                let d = l1(a, b) / s;
                d * d
            }
            Q::L2Sq => l2sq(a, b),
        }
    }
}

/// `Σ_{a,b} w_a w_b exp(−γ q(a, b))` for every γ, over two weighted sets (the same set when
/// `same`, using symmetry). Rows run in parallel; the row sums are added in row order, so the
/// result does not depend on the number of threads.
fn gram_sums(
    xs: &[&[f64]],
    wx: &[f64],
    ys: &[&[f64]],
    wy: &[f64],
    same: bool,
    q: Q,
    gammas: &[f64],
) -> Vec<f64> {
    let rows: Vec<Vec<f64>> = (0..xs.len())
        .into_par_iter()
        .map(|a| {
            let mut acc = vec![0.0f64; gammas.len()];
            let start = if same { a + 1 } else { 0 };
            for b in start..ys.len() {
                let d = q.eval(xs[a], ys[b]);
                let w = wy[b];
                for (s, g) in acc.iter_mut().zip(gammas) {
                    *s += w * (-g * d).exp();
                }
            }
            let scale = if same { 2.0 * wx[a] } else { wx[a] };
            for s in &mut acc {
                *s *= scale;
            }
            if same {
                // Diagonal: q = 0, k = 1.
                for s in &mut acc {
                    *s += wx[a] * wx[a];
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; gammas.len()];
    for r in rows {
        for (t, v) in total.iter_mut().zip(r) {
            *t += v;
        }
    }
    total
}

/// Zero-pads every vector to the longest length.
fn pad(vs: &[Vec<f64>], len: usize) -> Vec<Vec<f64>> {
    vs.iter()
        .map(|v| {
            let mut p = v.clone();
            p.resize(len, 0.0);
            p
        })
        .collect()
}

/// Cumulative sums without the last entry (which only carries the total mass).
fn cumsums(vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    vs.iter()
        .map(|v| {
            let mut acc = 0.0;
            let mut out = Vec::with_capacity(v.len().saturating_sub(1));
            for &x in &v[..v.len().saturating_sub(1)] {
                acc += x;
                out.push(acc);
            }
            out
        })
        .collect()
}

/// The biased (V-statistic) estimate of the squared MMD between sets `x` and `y`:
/// `mean k(x, x') + mean k(y, y') − 2 mean k(x, y)`, diagonal terms included, no square
/// root (`compute_mmd` in GraphRNN/EDP-GNN/GDSS/GRAN). For [`Kernel::RbfMaxOverSigmas`] the
/// maximum over σ, floored at 0.
///
/// Vectors are used as given (normalise histograms before calling). Cost
/// `O((|X|+|Y|)² · L)` kernel work on the distinct vectors, in parallel.
pub fn mmd_squared(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    kernel: &Kernel,
    empty: EmptySetRule,
) -> Result<MmdValue, MmdError> {
    kernel.validate()?;
    let sigmas = kernel.sigmas();
    if x.is_empty() || y.is_empty() {
        return match empty {
            EmptySetRule::Error => Err(MmdError::EmptySet {
                side: if x.is_empty() {
                    "reference"
                } else {
                    "generated"
                },
                detail: String::new(),
            }),
            EmptySetRule::Spectre => {
                // disc(·,·) = 1e6 whenever one of its sets is empty; a non-empty set's
                // self-discrepancy is still computed (first σ of the kernel).
                let dxx = if x.is_empty() {
                    1e6
                } else {
                    self_disc(x, kernel)
                };
                let dyy = if y.is_empty() {
                    1e6
                } else {
                    self_disc(y, kernel)
                };
                Ok(MmdValue {
                    value: dxx + dyy - 2.0 * 1e6,
                    sigma: sigmas.first().copied(),
                })
            }
        };
    }
    let len = x.iter().chain(y).map(Vec::len).max().unwrap_or(0);
    let (px, py) = (pad(x, len), pad(y, len));
    let (tx, ty, q) = match kernel {
        Kernel::GaussianEmd {
            distance_scaling, ..
        } => (cumsums(&px), cumsums(&py), Q::L1Sq(*distance_scaling)),
        Kernel::GaussianTv { .. } => (px, py, Q::L1Sq(2.0)),
        Kernel::GaussianRbf { .. } | Kernel::RbfMaxOverSigmas { .. } => (px, py, Q::L2Sq),
    };
    let gammas: Vec<f64> = sigmas.iter().map(|s| 1.0 / (2.0 * s * s)).collect();
    let (ux, wx) = dedup(&tx);
    let (uy, wy) = dedup(&ty);
    let sxx = gram_sums(&ux, &wx, &ux, &wx, true, q, &gammas);
    let syy = gram_sums(&uy, &wy, &uy, &wy, true, q, &gammas);
    let sxy = gram_sums(&ux, &wx, &uy, &wy, false, q, &gammas);
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let values: Vec<f64> = (0..gammas.len())
        .map(|i| sxx[i] / (nx * nx) + syy[i] / (ny * ny) - 2.0 * sxy[i] / (nx * ny))
        .collect();
    match kernel {
        Kernel::RbfMaxOverSigmas { .. } => {
            // GraphGDP: max_mmd = 0; keep an MMD only if it is larger.
            let mut best = MmdValue {
                value: 0.0,
                sigma: None,
            };
            for (v, s) in values.iter().zip(&sigmas) {
                if *v > best.value {
                    best = MmdValue {
                        value: *v,
                        sigma: Some(*s),
                    };
                }
            }
            Ok(best)
        }
        _ => Ok(MmdValue {
            value: values[0],
            sigma: Some(sigmas[0]),
        }),
    }
}

/// `disc(s, s) = mean k(s_i, s_j)` for a single-σ kernel (used by the SPECTRE empty-set rule).
fn self_disc(s: &[Vec<f64>], kernel: &Kernel) -> f64 {
    let len = s.iter().map(Vec::len).max().unwrap_or(0);
    let p = pad(s, len);
    let (t, q) = match kernel {
        Kernel::GaussianEmd {
            distance_scaling, ..
        } => (cumsums(&p), Q::L1Sq(*distance_scaling)),
        Kernel::GaussianTv { .. } => (p, Q::L1Sq(2.0)),
        _ => (p, Q::L2Sq),
    };
    let sig = kernel.sigmas()[0];
    let (u, w) = dedup(&t);
    let n = s.len() as f64;
    gram_sums(&u, &w, &u, &w, true, q, &[1.0 / (2.0 * sig * sig)])[0] / (n * n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// Straightforward O(L²)-free but literal definition, for checking.
    fn naive(x: &[Vec<f64>], y: &[Vec<f64>], k: &dyn Fn(&[f64], &[f64]) -> f64) -> f64 {
        let disc = |a: &[Vec<f64>], b: &[Vec<f64>]| {
            let mut s = 0.0;
            for u in a {
                for v in b {
                    s += k(u, v);
                }
            }
            s / (a.len() * b.len()) as f64
        };
        disc(x, x) + disc(y, y) - 2.0 * disc(x, y)
    }

    fn padded(a: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let l = a.len().max(b.len());
        let mut a = a.to_vec();
        let mut b = b.to_vec();
        a.resize(l, 0.0);
        b.resize(l, 0.0);
        (a, b)
    }

    /// EMD by the transport definition on a line: move mass greedily left to right.
    fn emd_greedy(a: &[f64], b: &[f64], ds: f64) -> f64 {
        let (a, b) = padded(a, b);
        let mut carry = 0.0;
        let mut cost = 0.0;
        for i in 0..a.len() {
            carry += a[i] - b[i];
            if i + 1 < a.len() {
                cost += carry.abs() / ds;
            }
        }
        cost
    }

    fn sets() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let x = vec![
            vec![0.5, 0.25, 0.25],
            vec![0.1, 0.9],
            vec![0.5, 0.25, 0.25],
            vec![0.0, 0.0, 0.0, 1.0],
        ];
        let y = vec![
            vec![0.2, 0.3, 0.5],
            vec![1.0],
            vec![0.0, 0.5, 0.0, 0.25, 0.25],
        ];
        (x, y)
    }

    #[test]
    fn matches_literal_definitions() {
        let (x, y) = sets();
        for (sigma, ds) in [(1.0, 1.0), (0.1, 100.0), (0.7, 3.0)] {
            let k = Kernel::GaussianEmd {
                sigma,
                distance_scaling: ds,
            };
            let got = mmd_squared(&x, &y, &k, EmptySetRule::Error).unwrap();
            let want = naive(&x, &y, &|a, b| {
                let e = emd_greedy(a, b, ds);
                (-e * e / (2.0 * sigma * sigma)).exp()
            });
            assert_relative_eq!(got.value, want, max_relative = 1e-12);
        }
        let got = mmd_squared(
            &x,
            &y,
            &Kernel::GaussianTv { sigma: 0.3 },
            EmptySetRule::Error,
        )
        .unwrap();
        let want = naive(&x, &y, &|a, b| {
            let (a, b) = padded(a, b);
            let tv: f64 = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum::<f64>() / 2.0;
            (-tv * tv / (2.0 * 0.09)).exp()
        });
        assert_relative_eq!(got.value, want, max_relative = 1e-12);
        let got = mmd_squared(
            &x,
            &y,
            &Kernel::GaussianRbf { sigma: 2.0 },
            EmptySetRule::Error,
        )
        .unwrap();
        let want = naive(&x, &y, &|a, b| {
            let (a, b) = padded(a, b);
            let d: f64 = a.iter().zip(&b).map(|(p, q)| (p - q) * (p - q)).sum();
            (-d / 8.0).exp()
        });
        assert_relative_eq!(got.value, want, max_relative = 1e-12);
    }

    #[test]
    fn max_over_sigmas() {
        let (x, y) = sets();
        let sig = Kernel::graphgdp_sigmas();
        assert_eq!(sig.len(), 20);
        assert_relative_eq!(sig[0], (-5.0f64).exp());
        assert_relative_eq!(sig[19], (-5.0 + 19.0 * 10.0 / 49.0f64).exp());
        let k = Kernel::RbfMaxOverSigmas {
            sigmas: sig.clone(),
        };
        let got = mmd_squared(&x, &y, &k, EmptySetRule::Error).unwrap();
        let best = sig
            .iter()
            .map(|&s| {
                mmd_squared(
                    &x,
                    &y,
                    &Kernel::GaussianRbf { sigma: s },
                    EmptySetRule::Error,
                )
                .unwrap()
                .value
            })
            .fold(0.0, f64::max);
        assert_relative_eq!(got.value, best, max_relative = 1e-12);
        assert!(got.sigma.is_some());
    }

    #[test]
    fn empty_sets() {
        let (x, _) = sets();
        let k = Kernel::GaussianTv { sigma: 1.0 };
        assert!(matches!(
            mmd_squared(&x, &[], &k, EmptySetRule::Error),
            Err(MmdError::EmptySet { .. })
        ));
        // SPECTRE: disc(X,X) + 1e6 − 2·1e6.
        let v = mmd_squared(&x, &[], &k, EmptySetRule::Spectre)
            .unwrap()
            .value;
        assert_relative_eq!(v, self_disc(&x, &k) - 1e6, max_relative = 1e-15);
        assert!(mmd_squared(
            &x,
            &x,
            &Kernel::GaussianTv { sigma: 0.0 },
            EmptySetRule::Error
        )
        .is_err());
    }

    #[test]
    fn self_mmd_is_zero() {
        let (x, _) = sets();
        for k in [
            Kernel::GaussianEmd {
                sigma: 1.0,
                distance_scaling: 1.0,
            },
            Kernel::GaussianTv { sigma: 1.0 },
            Kernel::GaussianRbf { sigma: 1.0 },
        ] {
            let v = mmd_squared(&x, &x, &k, EmptySetRule::Error).unwrap().value;
            assert!(v.abs() < 1e-14, "{v}");
        }
    }
}
