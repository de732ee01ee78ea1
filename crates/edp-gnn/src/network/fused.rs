//! The train-mode edge MLP with a hand-written backward, on the CPU.
//!
//! The edge MLP (GraphScoreMatching:model/mlp.py with `use_bn=True`, `ELU`, conditional) is
//! a chain of row-wise maps on a few channels (4 or 8 hidden) over tens of thousands of
//! pair rows, with two BatchNorms between them. Through libtorch every step of that chain is
//! a separate pass over all rows, forward and backward (≈ 40 passes per layer), each paying
//! dispatch and allocation; here the whole MLP is a few loops over the rows, in the
//! network's float type (sums in float64), with its exact gradient written out. The loops
//! are compiled twice: for the baseline x86-64 instruction set and, chosen at run time
//! when the CPU has it, for AVX2 (8 float32 lanes). libtorch's autograd runs everything else; the two
//! meet at leaf tensors (see [`super::TrainTape`]).
//!
//! Rows are those of [`super::packed`]: the present pairs (weight 1), then the half-padded
//! and fully padded representatives (weights `m`, `m`, `m²`), so that the BatchNorm
//! statistics are those of the official padded batch. Activations are stored channel-major
//! (`[channel][row]`) so that the loops over rows vectorise.
//!
//! Math (per hidden layer k ∈ {1, 2}, rows t, level l(t), weights w_t, W = Σ w_t):
//! `p = W_k·h + b_k`; `μ = Σ w p / W`, `v = Σ w (p − μ)² / W`, `r = (v + ε)^−½`;
//! `x̂ = (p − μ)·r`; `y = x̂·(γ g_l) + (β g_l + b'_l)`; `h' = ELU(y)`.
//! Backward of the weighted BatchNorm: `∂p_t = r·(∂x̂_t − (w_t/W)·(Σ_s ∂x̂_s + x̂_t Σ_s ∂x̂_s x̂_s))`.

use std::ops::{Add, AddAssign, Mul, MulAssign, Sub};

use tch::{Kind, Tensor};

use super::{EdgeMlp, BN_EPS, BN_MOMENTUM};

/// Rows of one packed batch, on the host.
pub(super) struct HostRows {
    /// Present pairs `R` (the first `R` rows; weight 1).
    pub r: usize,
    /// All rows `T`.
    pub t: usize,
    /// Node-table index of every row's row node (`K` = the absent node).
    pub row_u: Vec<u32>,
    /// Node-table index of every row's column node.
    pub row_v: Vec<u32>,
    /// Weights of rows `R..T`.
    pub tail_weight: Vec<f64>,
    /// Position of the transposed pair of every present pair.
    pub transpose: Vec<u32>,
    /// Maximal runs of rows at one level: `(level, start, end)`, covering `0..T`.
    pub runs: Vec<(usize, usize, usize)>,
    /// `Σ w_t = B·N²`.
    pub total: f64,
}

/// A tensor's values as float64, row-major.
pub(super) fn host_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).contiguous().view([-1]))
        .expect("a CPU tensor converts to f64")
}

/// The kernel's float type: `f32` for float32 networks, `f64` for float64 ones.
pub(super) trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + MulAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// Rounds a float64.
    fn of(v: f64) -> Self;
    /// Widens to float64.
    fn wide(self) -> f64;
    /// `e^z − 1` for `z ≤ 0`, to the type's accuracy, branch-free so that loops vectorise.
    fn expm1_nonpositive(self) -> Self;
    /// The smaller of two values.
    fn min(self, other: Self) -> Self;
    /// A tensor's values, row-major.
    fn host(t: &Tensor) -> Vec<Self>;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn of(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
    /// `z = k·ln2 + r`, `|r| ≤ ln2/2`; `e^r − 1` by its Taylor series to degree 8
    /// (truncation < 2e-10 relative); `e^z − 1 = 2^k (e^r − 1) + (2^k − 1)`.
    #[inline(always)]
    fn expm1_nonpositive(self) -> f32 {
        // ln 2 rounded to 15 significant bits (0.693145751953125): k·LN2_HI is exact.
        const LN2_HI: f32 = f32::from_bits(0x3F31_7200);
        const LN2_LO: f32 = 1.428_606_8e-6;
        // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
        const SHIFTER: f32 = 12_582_912.0;
        let z = self.max(-87.0);
        let t = z * std::f32::consts::LOG2_E + SHIFTER;
        let kf = t - SHIFTER;
        let r = (z - kf * LN2_HI) - kf * LN2_LO;
        let mut p = 1.0 / 40_320.0;
        for d in [5_040.0f32, 720.0, 120.0, 24.0, 6.0, 2.0] {
            p = p * r + 1.0 / d;
        }
        let em1 = r + r * r * p;
        let k = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32); // ∈ [−126, 0]
        let two_k = f32::from_bits(((k + 127) as u32) << 23);
        two_k * em1 + (two_k - 1.0)
    }
    #[inline(always)]
    fn min(self, other: f32) -> f32 {
        if other < self {
            other
        } else {
            self
        }
    }
    fn host(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.detach().to_kind(Kind::Float).contiguous().view([-1]))
            .expect("a CPU tensor converts to f32")
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    /// As for `f32`, with the Taylor series to degree 13 (truncation < 1e-17 relative).
    #[inline(always)]
    fn expm1_nonpositive(self) -> f64 {
        const LN2_HI: f64 = 6.931_471_803_691_238e-1;
        const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
        const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5·2^52
        let z = self.max(-700.0);
        let t = z * std::f64::consts::LOG2_E + SHIFTER;
        let kf = t - SHIFTER;
        let r = (z - kf * LN2_HI) - kf * LN2_LO;
        let mut p = 1.0 / 6_227_020_800.0;
        for d in [
            479_001_600.0f64,
            39_916_800.0,
            3_628_800.0,
            362_880.0,
            40_320.0,
            5_040.0,
            720.0,
            120.0,
            24.0,
            6.0,
            2.0,
        ] {
            p = p * r + 1.0 / d;
        }
        let em1 = r + r * r * p;
        let k = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64); // ∈ [−1010, 0]
        let two_k = f64::from_bits(((k + 1023) as u64) << 52);
        two_k * em1 + (two_k - 1.0)
    }
    #[inline(always)]
    fn min(self, other: f64) -> f64 {
        if other < self {
            other
        } else {
            self
        }
    }
    fn host(t: &Tensor) -> Vec<f64> {
        host_f64(t)
    }
}

/// ELU (α = 1).
#[inline(always)]
fn elu<F: Real>(y: F) -> F {
    let e = y.min(F::ZERO).expm1_nonpositive();
    if y > F::ZERO {
        y
    } else {
        e
    }
}

/// Host copy of one edge MLP's parameters.
struct Params<F> {
    h: usize,
    c_in: usize,
    f: usize,
    c_out: usize,
    /// First Linear `[H, C_in + 2F]`, split: adjacency part `[H][C_in]`, row node `[H][F]`,
    /// column node `[H][F]`; bias `[H]`.
    wa: Vec<F>,
    wu: Vec<F>,
    wv: Vec<F>,
    b0: Vec<F>,
    /// Second Linear `[H][H]`, bias `[H]`; third `[C_out][H]`, `[C_out]`.
    w1: Vec<F>,
    b1: Vec<F>,
    w2: Vec<F>,
    b2: Vec<F>,
    /// BatchNorm affine `γ`, `β` (`[H]` each) and level gain / bias (`[L][H]`), per hidden
    /// layer.
    gamma: [Vec<F>; 2],
    beta: [Vec<F>; 2],
    gain: [Vec<F>; 2],
    cbias: [Vec<F>; 2],
}

impl<F: Real> Params<F> {
    fn read(e: &EdgeMlp) -> Params<F> {
        let w0 = F::host(&e.lin[0].w);
        let (h, c_in, f) = (e.lin[0].out_dim() as usize, e.c_in as usize, e.f as usize);
        let width = c_in + 2 * f;
        let part = |from: usize, len: usize| -> Vec<F> {
            (0..h)
                .flat_map(|o| w0[o * width + from..o * width + from + len].to_vec())
                .collect()
        };
        Params {
            h,
            c_in,
            f,
            c_out: e.lin[2].out_dim() as usize,
            wa: part(0, c_in),
            wu: part(c_in, f),
            wv: part(c_in + f, f),
            b0: F::host(&e.lin[0].b),
            w1: F::host(&e.lin[1].w),
            b1: F::host(&e.lin[1].b),
            w2: F::host(&e.lin[2].w),
            b2: F::host(&e.lin[2].b),
            gamma: [F::host(&e.bn[0].weight), F::host(&e.bn[1].weight)],
            beta: [F::host(&e.bn[0].bias), F::host(&e.bn[1].bias)],
            gain: [F::host(&e.cond[0].gain), F::host(&e.cond[1].gain)],
            cbias: [F::host(&e.cond[0].bias), F::host(&e.cond[1].bias)],
        }
    }

    /// Per-level scale `γ g_l` and shift `β g_l + b'_l` of hidden layer `k`: `[L][H]` each.
    fn level_affine(&self, k: usize) -> (Vec<F>, Vec<F>) {
        let h = self.h;
        let levels = self.gain[k].len() / h;
        let mut scale = Vec::with_capacity(levels * h);
        let mut shift = Vec::with_capacity(levels * h);
        for l in 0..levels {
            for c in 0..h {
                let g = self.gain[k][l * h + c];
                scale.push(self.gamma[k][c] * g);
                shift.push(self.beta[k][c] * g + self.cbias[k][l * h + c]);
            }
        }
        (scale, shift)
    }
}

/// What the backward of one edge MLP needs, in the network's float type.
pub(super) enum EdgeTape {
    F32(Tape<f32>),
    F64(Tape<f64>),
}

/// [`EdgeTape`] for one float type.
pub(super) struct Tape<F> {
    p: Params<F>,
    /// Node table `[K + 1][F]`: the present nodes' features, then the absent-node constant.
    nodes: Vec<F>,
    /// Input adjacency channels of the present pairs, channel-major `[C_in][R]`.
    a: Vec<F>,
    /// Normalised pre-activations `x̂` and ELU outputs of both hidden layers, `[H][T]`.
    xh: [Vec<F>; 2],
    act: [Vec<F>; 2],
    /// `(v + ε)^−½` of both BatchNorms, `[H]`.
    rstd: [Vec<f64>; 2],
}

/// Gradients of one edge MLP's inputs and parameters.
pub(super) struct EdgeGrads {
    /// `[K + 1][F]`: the present nodes' features, then the absent-node constant.
    pub nodes: Vec<f64>,
    /// Input adjacency rows `[R][C_in]`.
    pub rows_in: Vec<f64>,
    /// `(parameter, gradient)` for every parameter of the edge MLP, the gradient in the
    /// parameter's shape and kind.
    pub params: Vec<(Tensor, Tensor)>,
}

/// Lanes of the float64 accumulators of the reductions (they vectorise; the order differs
/// from a plain loop only by rounding).
const LANES: usize = 8;

/// `Σ a_i`, accumulated in float64.
#[inline(always)]
fn sum<F: Real>(a: &[F]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let ca = a.chunks_exact(LANES);
    let rest = ca.remainder();
    for x in ca {
        for j in 0..LANES {
            acc[j] += x[j].wide();
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|x| x.wide()).sum::<f64>()
}

/// `Σ a_i b_i`, accumulated in float64.
#[inline(always)]
fn dot<F: Real>(a: &[F], b: &[F]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j].wide() * y[j].wide();
        }
    }
    acc.iter().sum::<f64>()
        + ra.iter()
            .zip(rb)
            .map(|(x, y)| x.wide() * y.wide())
            .sum::<f64>()
}

/// `Σ (a_i − m)²`, accumulated in float64.
#[inline(always)]
fn sum_sq_dev<F: Real>(a: &[F], m: f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let ca = a.chunks_exact(LANES);
    let rest = ca.remainder();
    for x in ca {
        for j in 0..LANES {
            let d = x[j].wide() - m;
            acc[j] += d * d;
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|x| (x.wide() - m).powi(2)).sum::<f64>()
}

/// Rows per block of the channel-major GEMMs (keeps a block's channels in L1).
const BLOCK: usize = 256;

/// `out[o][t] = bias[o] + Σ_i w[o][i]·x[i][t]` for `t < len`, with `x` channel-major of
/// stride `sx`, `out` of stride `so`; `w` is `[O][I]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm_cm<F: Real>(
    w: &[F],
    bias: Option<&[F]>,
    o_dim: usize,
    i_dim: usize,
    x: &[F],
    sx: usize,
    out: &mut [F],
    so: usize,
    len: usize,
) {
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        for o in 0..o_dim {
            let y = &mut out[o * so + start..o * so + end];
            y.fill(bias.map_or(F::ZERO, |b| b[o]));
            for i in 0..i_dim {
                let c = w[o * i_dim + i];
                let xi = &x[i * sx + start..i * sx + end];
                for (y, &x) in y.iter_mut().zip(xi) {
                    *y += c * x;
                }
            }
        }
        start = end;
    }
}

/// `out[i][t] = Σ_o w[o][i]·g[o][t]` (the transposed map) for `t < len`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm_cm_t<F: Real>(
    w: &[F],
    o_dim: usize,
    i_dim: usize,
    g: &[F],
    sg: usize,
    out: &mut [F],
    so: usize,
    len: usize,
) {
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        for i in 0..i_dim {
            let y = &mut out[i * so + start..i * so + end];
            y.fill(F::ZERO);
            for o in 0..o_dim {
                let c = w[o * i_dim + i];
                let go = &g[o * sg + start..o * sg + end];
                for (y, &g) in y.iter_mut().zip(go) {
                    *y += c * g;
                }
            }
        }
        start = end;
    }
}

/// BatchNorm (batch statistics) → level scale/shift → ELU, in place on `pre` (`[H][T]`):
/// afterwards `pre` holds `x̂` and `act` the ELU output. Returns `(mean, var, rstd)`.
#[inline(always)]
fn bn_affine_elu<F: Real>(
    pre: &mut [F],
    act: &mut [F],
    scale: &[F],
    shift: &[F],
    rows: &HostRows,
    h: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (t, r) = (rows.t, rows.r);
    let (mut means, mut vars, mut rstds) = (vec![0.0; h], vec![0.0; h], vec![0.0; h]);
    for c in 0..h {
        let x = &mut pre[c * t..(c + 1) * t];
        // Weighted mean and biased variance (weights 1 on the present pairs).
        let tail = &x[r..];
        let mean = (sum(&x[..r])
            + tail
                .iter()
                .zip(&rows.tail_weight)
                .map(|(v, w)| v.wide() * w)
                .sum::<f64>())
            / rows.total;
        let var = (sum_sq_dev(&x[..r], mean)
            + tail
                .iter()
                .zip(&rows.tail_weight)
                .map(|(v, w)| w * (v.wide() - mean).powi(2))
                .sum::<f64>())
            / rows.total;
        let rstd = 1.0 / (var + BN_EPS).sqrt();
        let (m, rs) = (F::of(mean), F::of(rstd));
        let y = &mut act[c * t..(c + 1) * t];
        for &(l, s, e) in &rows.runs {
            let (sc, sh) = (scale[l * h + c], shift[l * h + c]);
            for (xv, yv) in x[s..e].iter_mut().zip(&mut y[s..e]) {
                let xh = (*xv - m) * rs;
                *xv = xh;
                *yv = elu(xh * sc + sh);
            }
        }
        means[c] = mean;
        vars[c] = var;
        rstds[c] = rstd;
    }
    (means, vars, rstds)
}

/// Updates BatchNorm `k`'s running statistics as `nn.BatchNorm1d.train()` does (momentum
/// 0.1, unbiased variance over all `B·N²` rows) and counts the batch.
fn update_running(e: &EdgeMlp, k: usize, mean: &[f64], var: &[f64], total: f64) {
    let bn = &e.bn[k];
    let kind = bn.running_mean.kind();
    tch::no_grad(|| {
        let mean = Tensor::from_slice(mean).to_kind(kind);
        let var = Tensor::from_slice(var).to_kind(kind) * (total / (total - 1.0));
        let mut rm = bn.running_mean.shallow_clone();
        let mut rv = bn.running_var.shallow_clone();
        let _ = rm.g_mul_scalar_(1.0 - BN_MOMENTUM);
        let _ = rm.g_add_(&(mean * BN_MOMENTUM));
        let _ = rv.g_mul_scalar_(1.0 - BN_MOMENTUM);
        let _ = rv.g_add_(&(var * BN_MOMENTUM));
        let mut n = bn.num_batches_tracked.shallow_clone();
        let _ = n.g_add_scalar_(1);
    });
}

/// Statistics of the two BatchNorms of one forward: `(mean, var)` each.
type Stats = [(Vec<f64>, Vec<f64>); 2];

/// The forward computation of [`edge_forward`] for one float type.
#[inline(always)]
fn forward_body<F: Real>(
    p: Params<F>,
    rows_in: &[f64],
    nodes: &[f64],
    rows: &HostRows,
) -> (Vec<f64>, Tape<F>, Stats) {
    let (h, c_in, f, c_out) = (p.h, p.c_in, p.f, p.c_out);
    let (r, t) = (rows.r, rows.t);
    let nodes: Vec<F> = nodes.iter().map(|&v| F::of(v)).collect();
    let k1 = nodes.len() / f;
    // Per-node projections of the first Linear, channel-major [H][K+1] (bias in pu).
    let mut pu = vec![F::ZERO; h * k1];
    let mut pv = vec![F::ZERO; h * k1];
    for k in 0..k1 {
        let x = &nodes[k * f..(k + 1) * f];
        for o in 0..h {
            let (mut su, mut sv) = (p.b0[o], F::ZERO);
            let (wu, wv) = (&p.wu[o * f..(o + 1) * f], &p.wv[o * f..(o + 1) * f]);
            for ((&xj, &a), &b) in x.iter().zip(wu).zip(wv) {
                su += a * xj;
                sv += b * xj;
            }
            pu[o * k1 + k] = su;
            pv[o * k1 + k] = sv;
        }
    }
    // Input channels, channel-major [C_in][R].
    let mut a = vec![F::ZERO; c_in * r];
    for (row, vals) in rows_in.chunks_exact(c_in).enumerate() {
        for (c, &v) in vals.iter().enumerate() {
            a[c * r + row] = F::of(v);
        }
    }
    // First Linear: pu[row node] + pv[column node] + Wa·a (a = 0 on the padded rows).
    let mut pre = vec![F::ZERO; h * t];
    for o in 0..h {
        let y = &mut pre[o * t..(o + 1) * t];
        let (pu, pv) = (&pu[o * k1..(o + 1) * k1], &pv[o * k1..(o + 1) * k1]);
        for ((y, &u), &v) in y.iter_mut().zip(&rows.row_u).zip(&rows.row_v) {
            *y = pu[u as usize] + pv[v as usize];
        }
        for c in 0..c_in {
            let w = p.wa[o * c_in + c];
            for (y, &x) in y[..r].iter_mut().zip(&a[c * r..(c + 1) * r]) {
                *y += w * x;
            }
        }
    }
    let mut act0 = vec![F::ZERO; h * t];
    let (scale, shift) = p.level_affine(0);
    let (m0, v0, r0) = bn_affine_elu(&mut pre, &mut act0, &scale, &shift, rows, h);
    let xh0 = pre;
    let mut pre = vec![F::ZERO; h * t];
    gemm_cm(&p.w1, Some(&p.b1), h, h, &act0, t, &mut pre, t, t);
    let mut act1 = vec![F::ZERO; h * t];
    let (scale, shift) = p.level_affine(1);
    let (m1, v1, r1) = bn_affine_elu(&mut pre, &mut act1, &scale, &shift, rows, h);
    let xh1 = pre;
    // Last Linear on the present pairs, then S + Sᵀ.
    let mut s = vec![F::ZERO; c_out * r];
    gemm_cm(&p.w2, Some(&p.b2), c_out, h, &act1, t, &mut s, r, r);
    let mut out = vec![0.0; r * c_out];
    for c in 0..c_out {
        let sc = &s[c * r..(c + 1) * r];
        for (row, &tr) in rows.transpose.iter().enumerate() {
            out[row * c_out + c] = (sc[row] + sc[tr as usize]).wide();
        }
    }
    let tape = Tape {
        p,
        nodes,
        a,
        xh: [xh0, xh1],
        act: [act0, act1],
        rstd: [r0, r1],
    };
    (out, tape, [(m0, v0), (m1, v1)])
}

/// [`forward_body`] compiled with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2<F: Real>(
    p: Params<F>,
    rows_in: &[f64],
    nodes: &[f64],
    rows: &HostRows,
) -> (Vec<f64>, Tape<F>, Stats) {
    forward_body(p, rows_in, nodes, rows)
}

/// [`forward_body`] with AVX2 where the CPU has it.
fn forward_dispatch<F: Real>(
    p: Params<F>,
    rows_in: &[f64],
    nodes: &[f64],
    rows: &HostRows,
) -> (Vec<f64>, Tape<F>, Stats) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { forward_avx2(p, rows_in, nodes, rows) };
    }
    forward_body(p, rows_in, nodes, rows)
}

/// Forward of edge MLP `e` in train mode on the packed rows, in the float type of its
/// weights (float32 or float64).
///
/// `rows_in`: the present pairs' input channels `[R][C_in]`; `nodes`: node table
/// `[K + 1][F]`. Returns the layer's new adjacency channels on the present pairs after the
/// symmetrisation `S + Sᵀ`, `[R][C_out]`, and the tape for [`edge_backward`]. Updates the
/// BatchNorm running statistics.
pub(super) fn edge_forward(
    e: &EdgeMlp,
    rows_in: &[f64],
    nodes: &[f64],
    rows: &HostRows,
) -> (Vec<f64>, EdgeTape) {
    let (out, tape, stats) = if e.lin[0].w.kind() == Kind::Double {
        let (o, t, s) = forward_dispatch(Params::<f64>::read(e), rows_in, nodes, rows);
        (o, EdgeTape::F64(t), s)
    } else {
        let (o, t, s) = forward_dispatch(Params::<f32>::read(e), rows_in, nodes, rows);
        (o, EdgeTape::F32(t), s)
    };
    for (k, (mean, var)) in stats.iter().enumerate() {
        update_running(e, k, mean, var, rows.total);
    }
    (out, tape)
}

/// Backward of ELU → level scale/shift → weighted BatchNorm of hidden layer `k`, in place:
/// `g` holds the gradient of the ELU output on entry and that of the pre-BatchNorm value on
/// exit. Returns the per-level gradients of the scale and of the shift, `[L][H]` each.
#[inline(always)]
fn bn_affine_elu_backward<F: Real>(
    g: &mut [F],
    tape: &Tape<F>,
    k: usize,
    scale: &[F],
    rows: &HostRows,
) -> (Vec<f64>, Vec<f64>) {
    let (h, t, r) = (tape.p.h, rows.t, rows.r);
    let levels = scale.len() / h;
    let mut g_scale = vec![0.0; levels * h];
    let mut g_shift = vec![0.0; levels * h];
    for c in 0..h {
        let gc = &mut g[c * t..(c + 1) * t];
        let xh = &tape.xh[k][c * t..(c + 1) * t];
        let act = &tape.act[k][c * t..(c + 1) * t];
        // ∂y = ∂h'·ELU'(y), ELU'(y) = 1 for y > 0, h' + 1 otherwise (h' > 0 ⇔ y > 0).
        for &(l, s, e) in &rows.runs {
            for (gv, &a) in gc[s..e].iter_mut().zip(&act[s..e]) {
                let d = if a > F::ZERO { F::ONE } else { a + F::ONE };
                *gv *= d;
            }
            g_scale[l * h + c] += dot(&gc[s..e], &xh[s..e]);
            g_shift[l * h + c] += sum(&gc[s..e]);
            let sc = scale[l * h + c];
            for gv in &mut gc[s..e] {
                *gv *= sc;
            }
        }
        // ∂p_t = r·(∂x̂_t − (w_t/W)·(Σ ∂x̂ + x̂_t·Σ ∂x̂·x̂)).
        let sg = sum(gc);
        let sgx = dot(gc, xh);
        let rstd = tape.rstd[k][c];
        let inv = 1.0 / rows.total;
        let (rs, a0, a1) = (F::of(rstd), F::of(inv * sg), F::of(inv * sgx));
        for (gv, &x) in gc[..r].iter_mut().zip(&xh[..r]) {
            *gv = rs * (*gv - (a0 + x * a1));
        }
        for ((gv, &x), &w) in gc[r..].iter_mut().zip(&xh[r..]).zip(&rows.tail_weight) {
            let v = rstd * (gv.wide() - w * inv * (sg + x.wide() * sgx));
            *gv = F::of(v);
        }
    }
    (g_scale, g_shift)
}

/// Gradients of `γ`, `β`, the level gains and biases from those of the per-level scale and
/// shift (`scale = γ g_l`, `shift = β g_l + b'_l`).
fn affine_param_grads<F: Real>(
    p: &Params<F>,
    k: usize,
    g_scale: &[f64],
    g_shift: &[f64],
) -> [Vec<f64>; 4] {
    let h = p.h;
    let levels = g_scale.len() / h;
    let mut g_gamma = vec![0.0; h];
    let mut g_beta = vec![0.0; h];
    let mut g_gain = vec![0.0; levels * h];
    for l in 0..levels {
        for c in 0..h {
            let i = l * h + c;
            let gain = p.gain[k][i].wide();
            g_gamma[c] += g_scale[i] * gain;
            g_beta[c] += g_shift[i] * gain;
            g_gain[i] = g_scale[i] * p.gamma[k][c].wide() + g_shift[i] * p.beta[k][c].wide();
        }
    }
    [g_gamma, g_beta, g_gain, g_shift.to_vec()]
}

/// Gradients of an edge MLP, as float64 vectors in the parameters' layouts.
struct RawGrads {
    nodes: Vec<f64>,
    rows_in: Vec<f64>,
    /// First, second and third Linear: weight and bias each.
    lin: [(Vec<f64>, Vec<f64>); 3],
    /// Per hidden layer: `γ`, `β`, level gains, level biases.
    affine: [[Vec<f64>; 4]; 2],
}

/// The backward computation of [`edge_backward`] for one float type.
#[inline(always)]
fn backward_body<F: Real>(tape: &Tape<F>, g_out: &[f64], rows: &HostRows) -> RawGrads {
    let p = &tape.p;
    let (h, c_in, f, c_out) = (p.h, p.c_in, p.f, p.c_out);
    let (r, t) = (rows.r, rows.t);
    // Through S + Sᵀ: ∂S = ∂out + (∂out)ᵀ, channel-major [C_out][R].
    let mut gs = vec![F::ZERO; c_out * r];
    for c in 0..c_out {
        let y = &mut gs[c * r..(c + 1) * r];
        for (row, (y, &tr)) in y.iter_mut().zip(&rows.transpose).enumerate() {
            *y = F::of(g_out[row * c_out + c] + g_out[tr as usize * c_out + c]);
        }
    }
    // Last Linear (present rows only).
    let act1 = &tape.act[1];
    let mut g_w2 = vec![0.0; c_out * h];
    let mut g_b2 = vec![0.0; c_out];
    for c in 0..c_out {
        let gc = &gs[c * r..(c + 1) * r];
        g_b2[c] = sum(gc);
        for i in 0..h {
            g_w2[c * h + i] = dot(gc, &act1[i * t..i * t + r]);
        }
    }
    // The padded rows' outputs are masked away: their gradient stays zero.
    let mut g = vec![F::ZERO; h * t];
    gemm_cm_t(&p.w2, c_out, h, &gs, r, &mut g, t, r);
    let (scale1, _) = p.level_affine(1);
    let (gsc1, gsh1) = bn_affine_elu_backward(&mut g, tape, 1, &scale1, rows);
    let g_aff1 = affine_param_grads(p, 1, &gsc1, &gsh1);
    // Second Linear.
    let act0 = &tape.act[0];
    let mut g_w1 = vec![0.0; h * h];
    let mut g_b1 = vec![0.0; h];
    for o in 0..h {
        let go = &g[o * t..(o + 1) * t];
        g_b1[o] = sum(go);
        for i in 0..h {
            g_w1[o * h + i] = dot(go, &act0[i * t..(i + 1) * t]);
        }
    }
    let mut g0 = vec![F::ZERO; h * t];
    gemm_cm_t(&p.w1, h, h, &g, t, &mut g0, t, t);
    drop(g);
    let (scale0, _) = p.level_affine(0);
    let (gsc0, gsh0) = bn_affine_elu_backward(&mut g0, tape, 0, &scale0, rows);
    let g_aff0 = affine_param_grads(p, 0, &gsc0, &gsh0);
    // First Linear: the adjacency part on the present rows, the node parts through the
    // gathers (scatter-adds into the node table, channel-major [H][K+1]).
    let k1 = tape.nodes.len() / f;
    let mut g_wa = vec![0.0; h * c_in];
    for o in 0..h {
        for c in 0..c_in {
            g_wa[o * c_in + c] = dot(&g0[o * t..o * t + r], &tape.a[c * r..(c + 1) * r]);
        }
    }
    let mut g_a = vec![F::ZERO; c_in * r];
    gemm_cm_t(&p.wa, h, c_in, &g0, t, &mut g_a, r, r);
    let mut rows_in = vec![0.0; r * c_in];
    for c in 0..c_in {
        for (row, &v) in g_a[c * r..(c + 1) * r].iter().enumerate() {
            rows_in[row * c_in + c] = v.wide();
        }
    }
    let mut g_pu = vec![0.0f64; h * k1];
    let mut g_pv = vec![0.0f64; h * k1];
    for o in 0..h {
        let go = &g0[o * t..(o + 1) * t];
        let (gu, gv) = (
            &mut g_pu[o * k1..(o + 1) * k1],
            &mut g_pv[o * k1..(o + 1) * k1],
        );
        for ((&x, &u), &v) in go.iter().zip(&rows.row_u).zip(&rows.row_v) {
            gu[u as usize] += x.wide();
            gv[v as usize] += x.wide();
        }
    }
    let mut g_b0 = vec![0.0; h];
    let mut g_wu = vec![0.0; h * f];
    let mut g_wv = vec![0.0; h * f];
    let mut g_nodes = vec![0.0; k1 * f];
    for k in 0..k1 {
        let x = &tape.nodes[k * f..(k + 1) * f];
        let gx = &mut g_nodes[k * f..(k + 1) * f];
        for o in 0..h {
            let (gu, gv) = (g_pu[o * k1 + k], g_pv[o * k1 + k]);
            g_b0[o] += gu;
            let (wu, wv) = (&p.wu[o * f..(o + 1) * f], &p.wv[o * f..(o + 1) * f]);
            let (gwu, gwv) = (&mut g_wu[o * f..(o + 1) * f], &mut g_wv[o * f..(o + 1) * f]);
            for (j, &xj) in x.iter().enumerate() {
                gwu[j] += gu * xj.wide();
                gwv[j] += gv * xj.wide();
                gx[j] += gu * wu[j].wide() + gv * wv[j].wide();
            }
        }
    }
    // Reassemble the first Linear's weight gradient [H, C_in + 2F].
    let width = c_in + 2 * f;
    let mut g_w0 = vec![0.0; h * width];
    for o in 0..h {
        let row = &mut g_w0[o * width..(o + 1) * width];
        row[..c_in].copy_from_slice(&g_wa[o * c_in..(o + 1) * c_in]);
        row[c_in..c_in + f].copy_from_slice(&g_wu[o * f..(o + 1) * f]);
        row[c_in + f..].copy_from_slice(&g_wv[o * f..(o + 1) * f]);
    }
    RawGrads {
        nodes: g_nodes,
        rows_in,
        lin: [(g_w0, g_b0), (g_w1, g_b1), (g_w2, g_b2)],
        affine: [g_aff0, g_aff1],
    }
}

/// [`backward_body`] compiled with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2")]
unsafe fn backward_avx2<F: Real>(tape: &Tape<F>, g_out: &[f64], rows: &HostRows) -> RawGrads {
    backward_body(tape, g_out, rows)
}

/// [`backward_body`] with AVX2 where the CPU has it.
fn backward_dispatch<F: Real>(tape: &Tape<F>, g_out: &[f64], rows: &HostRows) -> RawGrads {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { backward_avx2(tape, g_out, rows) };
    }
    backward_body(tape, g_out, rows)
}

/// Backward of [`edge_forward`]: `g_out` is the gradient of its output `[R][C_out]`.
pub(super) fn edge_backward(
    e: &EdgeMlp,
    tape: &EdgeTape,
    g_out: &[f64],
    rows: &HostRows,
) -> EdgeGrads {
    let raw = match tape {
        EdgeTape::F32(t) => backward_dispatch(t, g_out, rows),
        EdgeTape::F64(t) => backward_dispatch(t, g_out, rows),
    };
    let like = |param: &Tensor, g: &[f64]| -> (Tensor, Tensor) {
        let grad = Tensor::from_slice(g)
            .to_kind(param.kind())
            .view(param.size().as_slice());
        (param.shallow_clone(), grad)
    };
    let mut params = Vec::with_capacity(14);
    for (lin, (gw, gb)) in e.lin.iter().zip(&raw.lin) {
        params.push(like(&lin.w, gw));
        params.push(like(&lin.b, gb));
    }
    for k in 0..2 {
        let [g_gamma, g_beta, g_gain, g_bias] = &raw.affine[k];
        params.push(like(&e.bn[k].weight, g_gamma));
        params.push(like(&e.bn[k].bias, g_beta));
        params.push(like(&e.cond[k].gain, g_gain));
        params.push(like(&e.cond[k].bias, g_bias));
    }
    EdgeGrads {
        nodes: raw.nodes,
        rows_in: raw.rows_in,
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorisable `expm1` matches the C library's over the ELU's whole negative
    /// range: to a few ulp in float64, and to within an ulp of the correctly rounded value
    /// in float32; exact at 0.
    #[test]
    fn expm1_matches_libm() {
        assert_eq!(0.0f64.expm1_nonpositive(), 0.0);
        assert_eq!(0.0f32.expm1_nonpositive(), 0.0);
        assert_eq!((-800.0f64).expm1_nonpositive(), -1.0);
        assert_eq!((-200.0f32).expm1_nonpositive(), -1.0);
        let (mut worst64, mut worst32): (f64, f64) = (0.0, 0.0);
        let mut z = -745.0f64;
        while z < -1e-12 {
            let want = z.exp_m1();
            worst64 = worst64.max(((z.expm1_nonpositive() - want) / want).abs());
            let z32 = z as f32;
            if z32 < 0.0 {
                let want32 = (z32 as f64).exp_m1();
                let got32 = z32.expm1_nonpositive() as f64;
                // In units of the float32 spacing at the correct value.
                let ulp = (want32 as f32).abs() * f32::EPSILON;
                worst32 = worst32.max((got32 - want32).abs() / ulp as f64);
            }
            z = if z < -1.0 { z * 0.9993 } else { z * 0.999 };
        }
        assert!(
            worst64 < 4.0 * f64::EPSILON,
            "float64 relative error {worst64:e}"
        );
        assert!(worst32 < 1.0, "float32 error {worst32} ulp");
        assert_eq!(elu(2.5f64), 2.5);
        assert!((elu(-1.0f64) - (-1.0f64).exp_m1()).abs() < 1e-16);
    }
}
