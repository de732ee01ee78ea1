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
    /// (GraphRNN `gaussian_emd`). Not positive definite: an MMD² with it can be negative.
    GaussianEmd {
        /// Bandwidth σ.
        sigma: f64,
        /// Divides the bin-index distance (100 for the clustering histogram, else 1).
        distance_scaling: f64,
    },
    /// `exp(−TV² / (2σ²))`, `TV = Σ|x − y| / 2` (GRAN `gaussian_tv`). Not positive
    /// definite: an MMD² with it can be negative.
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

/// `Σ|a − b|` (or `Σ(a − b)²` when `squared`) with the vector width of `simd`, two
/// independent accumulators, then the scalar tail.
#[inline(always)]
fn simd_dist<S: pulp::Simd>(simd: S, a: &[f64], b: &[f64], squared: bool) -> f64 {
    let (ah, at) = S::f64s_as_simd(a);
    let (bh, bt) = S::f64s_as_simd(b);
    let mut acc0 = simd.f64s_splat(0.0);
    let mut acc1 = simd.f64s_splat(0.0);
    let mut i = 0;
    while i + 1 < ah.len() {
        let d0 = simd.f64s_sub(ah[i], bh[i]);
        let d1 = simd.f64s_sub(ah[i + 1], bh[i + 1]);
        if squared {
            acc0 = simd.f64s_add(acc0, simd.f64s_mul(d0, d0));
            acc1 = simd.f64s_add(acc1, simd.f64s_mul(d1, d1));
        } else {
            acc0 = simd.f64s_add(acc0, simd.f64s_abs(d0));
            acc1 = simd.f64s_add(acc1, simd.f64s_abs(d1));
        }
        i += 2;
    }
    if i < ah.len() {
        let d0 = simd.f64s_sub(ah[i], bh[i]);
        acc0 = if squared {
            simd.f64s_add(acc0, simd.f64s_mul(d0, d0))
        } else {
            simd.f64s_add(acc0, simd.f64s_abs(d0))
        };
    }
    let mut s = simd.f64s_reduce_sum(simd.f64s_add(acc0, acc1));
    for (x, y) in at.iter().zip(bt) {
        let d = x - y;
        s += if squared { d * d } else { d.abs() };
    }
    s
}

/// One row block of [`gram_sums`], run under the best instruction set of the CPU.
struct BlockOp<'a> {
    xs: &'a Packed,
    ys: &'a Packed,
    wy: &'a [f64],
    same: bool,
    q: Q,
    gammas: &'a [f64],
    r0: usize,
    r1: usize,
}

impl pulp::WithSimd for BlockOp<'_> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Vec<f64> {
        let BlockOp {
            xs,
            ys,
            wy,
            same,
            q,
            gammas,
            r0,
            r1,
        } = self;
        let ng = gammas.len();
        let mut acc = vec![0.0f64; (r1 - r0) * ng];
        let (squared, scale) = match q {
            Q::L1Sq(s) => (false, s),
            Q::L2Sq => (true, 1.0),
        };
        let mut c0 = if same { r0 + 1 } else { 0 };
        while c0 < ys.rows {
            let c1 = (c0 + COL_TILE).min(ys.rows);
            for a in r0..r1 {
                let xa = xs.row(a);
                let row_acc = &mut acc[(a - r0) * ng..(a - r0 + 1) * ng];
                let start = if same { c0.max(a + 1) } else { c0 };
                for (b, &w) in wy.iter().enumerate().take(c1).skip(start) {
                    let raw = simd_dist(simd, xa, ys.row(b), squared);
                    let d = if squared {
                        raw
                    } else {
                        let t = raw / scale;
                        t * t
                    };
                    for (s, g) in row_acc.iter_mut().zip(gammas) {
                        *s += w * (-g * d).exp();
                    }
                }
            }
            c0 = c1;
        }
        acc
    }
}

/// Vectors of one length stored contiguously, row after row.
struct Packed {
    data: Vec<f64>,
    dim: usize,
    rows: usize,
}

impl Packed {
    /// Packs the given vectors keeping only the columns in `keep`.
    fn new(vs: &[&[f64]], keep: &[usize]) -> Self {
        let mut data = Vec::with_capacity(vs.len() * keep.len());
        for v in vs {
            data.extend(keep.iter().map(|&j| v[j]));
        }
        Packed {
            data,
            dim: keep.len(),
            rows: vs.len(),
        }
    }

    #[inline]
    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Columns on which the vectors are not all equal: a column where every vector has the same
/// value adds exactly 0 to every |x − y| and (x − y)², so dropping it changes nothing (the
/// leading and trailing bins of most histograms).
fn varying_columns(vs: &[&[f64]], len: usize) -> Vec<usize> {
    (0..len)
        .filter(|&j| {
            let first = vs.first().map_or(0.0, |v| v[j]);
            vs.iter().any(|v| v[j].to_bits() != first.to_bits())
        })
        .collect()
}

/// Rows handled by one parallel task (fixed, so the summation order never depends on the
/// number of threads).
const ROW_BLOCK: usize = 8;
/// Columns of the second set kept hot in cache while a row block runs over them.
const COL_TILE: usize = 64;

/// `Σ_{a,b} w_a w_b exp(−γ q(a, b))` for every γ, over two weighted sets (the same set when
/// `same`, using symmetry). Blocks of rows run in parallel over cache-sized tiles of the
/// second set; every row sums its terms in increasing column order and the row sums are added
/// in row order, so the result does not depend on the number of threads.
fn gram_sums(
    xs: &Packed,
    wx: &[f64],
    ys: &Packed,
    wy: &[f64],
    same: bool,
    q: Q,
    gammas: &[f64],
) -> Vec<f64> {
    let ng = gammas.len();
    // The distance loops are compiled for the best instruction set the CPU has (AVX2 …),
    // chosen at run time; same arithmetic, same order, on every path.
    let arch = pulp::Arch::new();
    let blocks: Vec<Vec<f64>> = (0..xs.rows.div_ceil(ROW_BLOCK))
        .into_par_iter()
        .map(|blk| {
            let r0 = blk * ROW_BLOCK;
            let r1 = (r0 + ROW_BLOCK).min(xs.rows);
            let mut acc = arch.dispatch(BlockOp {
                xs,
                ys,
                wy,
                same,
                q,
                gammas,
                r0,
                r1,
            });
            for a in r0..r1 {
                let row_acc = &mut acc[(a - r0) * ng..(a - r0 + 1) * ng];
                let scale = if same { 2.0 * wx[a] } else { wx[a] };
                for s in row_acc.iter_mut() {
                    *s *= scale;
                    if same {
                        // Diagonal: q = 0, k = 1.
                        *s += wx[a] * wx[a];
                    }
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; ng];
    for blk in blocks {
        for row in blk.chunks(ng) {
            for (t, v) in total.iter_mut().zip(row) {
                *t += v;
            }
        }
    }
    total
}

/// All three Gram sums (XX, YY, XY) for transformed vectors.
fn all_gram_sums(
    tx: &[Vec<f64>],
    ty: &[Vec<f64>],
    q: Q,
    gammas: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (ux, wx) = dedup(tx);
    let (uy, wy) = dedup(ty);
    let len = tx.iter().chain(ty).map(Vec::len).max().unwrap_or(0);
    let all: Vec<&[f64]> = ux.iter().chain(&uy).copied().collect();
    let keep = varying_columns(&all, len);
    let (px, py) = (Packed::new(&ux, &keep), Packed::new(&uy, &keep));
    (
        gram_sums(&px, &wx, &px, &wx, true, q, gammas),
        gram_sums(&py, &wy, &py, &wy, true, q, gammas),
        gram_sums(&px, &wx, &py, &wy, false, q, gammas),
    )
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
/// The estimate is never negative for the Gaussian RBF kernels, which are positive
/// definite. [`Kernel::GaussianEmd`] and [`Kernel::GaussianTv`] are not (a Gaussian of a
/// squared L1-type distance), so with them the estimate can come out below zero, as it does
/// in the reference evaluators; it is returned as they return it, not clamped.
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
    let (sxx, syy, sxy) = all_gram_sums(&tx, &ty, q, &gammas);
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
    let tlen = t.iter().map(Vec::len).max().unwrap_or(0);
    let keep = varying_columns(&u, tlen);
    let pk = Packed::new(&u, &keep);
    let n = s.len() as f64;
    gram_sums(&pk, &w, &pk, &w, true, q, &[1.0 / (2.0 * sig * sig)])[0] / (n * n)
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
