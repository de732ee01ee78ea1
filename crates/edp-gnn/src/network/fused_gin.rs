//! The GIN of an EDP layer with a hand-written forward and backward, on the CPU.
//!
//! The GIN (GraphScoreMatching: model/gin.py, model/gnn.py) is, per present node, a chain
//! of small dense maps (4 aggregations over ≤ N neighbours and C channels, 4 two-Linear
//! MLPs, 5 readout MLPs of width 2·16). Through libtorch it is ≈ 60 ops forward and
//! ≈ 150 backward per layer, each a pass over all nodes with its dispatch and allocation;
//! here it is a few loops over the nodes, node-major (`[node][feature]`) with the inner
//! loops over features (they vectorise; the common widths 16, 32 and 64 keep their
//! accumulators in registers). Float type as the network's; sums in that type, as
//! libtorch's float32 GEMMs.
//!
//! It runs on one part of a packed batch (whole samples, [`super::packed`]): the present
//! nodes of the part and the present pairs among them (each sample's `m` nodes, then its
//! `m²` pairs `(i, j)`, `i`-major). Absent nodes never reach a present one: the adjacency is
//! masked, and the readout of an absent node is a constant (`padded_output`).
//!
//! Math (per sample; `A_c` the masked channels with their diagonal, `l = 0..L`):
//! `h_0 = [x ‖ A_c·1]`; `agg_l = [A_c h_l + (1 + ε_l) h_l]_c`;
//! `h_{l+1} = tanh(W2_l ReLU(W1_l agg_l + b1_l) + b2_l)`;
//! `out = Σ_j R2_j LeakyReLU(R1_j h_j + c1_j) + Σ_j c2_j` (jumping-knowledge readout).
//! The backward is that chain's exact gradient, written out (see [`backward_body`]).

use tch::{Kind, Tensor};

use super::fused::{self, avx2_dispatch, Real};
use super::{Gin, Linear};

/// Negative slope of `nn.LeakyReLU()` (the readout's activation).
const LEAKY: f64 = 0.01;

/// One Linear on the host: `w` `[out][in]` (PyTorch's layout), `wt` its transpose.
struct Dense<F> {
    w: Vec<F>,
    wt: Vec<F>,
    b: Vec<F>,
    din: usize,
    dout: usize,
}

impl<F: Kernel> Dense<F> {
    fn read(l: &Linear) -> Dense<F> {
        let s = l.w.size();
        let (dout, din) = (s[0] as usize, s[1] as usize);
        let w = F::host(&l.w);
        let mut wt = vec![F::ZERO; din * dout];
        for o in 0..dout {
            for i in 0..din {
                wt[i * dout + o] = w[o * din + i];
            }
        }
        Dense {
            w,
            wt,
            b: F::host(&l.b),
            din,
            dout,
        }
    }
}

/// Host copy of one GIN's parameters in one float type.
pub(super) struct Params<F> {
    /// `1 + ε_l` per GIN layer.
    one_plus_eps: Vec<F>,
    /// `(W1_l, W2_l)` per GIN layer.
    layers: Vec<(Dense<F>, Dense<F>)>,
    /// The readout's first Linears `R1_j`.
    r1: Vec<Dense<F>>,
    /// The readout's second Linears `R2_j`.
    r2: Vec<Dense<F>>,
    /// `[R2_0ᵀ; …; R2_Lᵀ]`: `[(L + 1)·H][F_out]`.
    r2t_cat: Vec<F>,
    /// `Σ_j c2_j`.
    b2: Vec<F>,
    channels: usize,
    f_in: usize,
    hidden: usize,
    f_out: usize,
}

impl<F: Kernel> Params<F> {
    fn read(g: &Gin) -> Params<F> {
        let one_plus_eps = F::host(&g.eps).into_iter().map(|e| F::ONE + e).collect();
        let layers: Vec<(Dense<F>, Dense<F>)> = g
            .layers
            .iter()
            .map(|(a, b)| (Dense::read(a), Dense::read(b)))
            .collect();
        let r1: Vec<Dense<F>> = g.readout.iter().map(|r| Dense::read(&r.0)).collect();
        let r2: Vec<Dense<F>> = g.readout.iter().map(|r| Dense::read(&r.1)).collect();
        let hidden = r1[0].dout;
        let f_out = r2[0].dout;
        let r2t_cat = r2.iter().flat_map(|d| d.wt.iter().copied()).collect();
        let mut b2 = vec![F::ZERO; f_out];
        for d in &r2 {
            for (a, &b) in b2.iter_mut().zip(&d.b) {
                *a += b;
            }
        }
        let channels = g.channels as usize;
        Params {
            one_plus_eps,
            f_in: r1[0].din - channels,
            layers,
            r1,
            r2,
            r2t_cat,
            b2,
            channels,
            hidden,
            f_out,
        }
    }

    /// The readout of an absent node: `Σ_j R2_j LeakyReLU(c1_j) + Σ_j c2_j` (all its
    /// readout inputs are masked to zero). `[F_out]`.
    fn padded_output(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self.b2.iter().map(|v| v.wide()).collect();
        for (r1, r2) in self.r1.iter().zip(&self.r2) {
            for (h, &c) in r1.b.iter().enumerate() {
                let z = leaky(c).wide();
                for (o, acc) in out.iter_mut().enumerate() {
                    *acc += r2.w[o * r2.din + h].wide() * z;
                }
            }
        }
        out
    }
}

/// One GIN's parameters on the host, in the network's float type.
pub(super) enum GinParams {
    F32(Params<f32>),
    F64(Params<f64>),
}

impl GinParams {
    pub(super) fn read(g: &Gin) -> GinParams {
        if g.eps.kind() == Kind::Double {
            GinParams::F64(Params::read(g))
        } else {
            GinParams::F32(Params::read(g))
        }
    }

    /// The readout of an absent node `[F_out]`.
    pub(super) fn padded_output(&self) -> Vec<f64> {
        match self {
            GinParams::F32(p) => p.padded_output(),
            GinParams::F64(p) => p.padded_output(),
        }
    }
}

/// The samples of one part of a packed batch.
pub(super) struct PartLayout {
    /// Per sample: its first node among the part's nodes, its node count `m`, and its first
    /// pair among the part's pairs (`m²` of them, `i`-major).
    samples: Vec<(usize, usize, usize)>,
    /// The part's first present node among the batch's, and its present nodes.
    pub(super) k0: usize,
    pub(super) k: usize,
    /// The part's first pair among the batch's rows.
    pub(super) lo: usize,
    /// The part's pairs.
    pub(super) rows: usize,
}

impl PartLayout {
    /// Samples `g0..g0 + g`, whose nodes and pairs start at `node_start[s]` and
    /// `pair_start[s]` (tables over the whole batch, `[B + 1]`).
    pub(super) fn new(g0: usize, g: usize, node_start: &[i64], pair_start: &[usize]) -> Self {
        let (k0, lo) = (node_start[g0] as usize, pair_start[g0]);
        let samples = (g0..g0 + g)
            .map(|s| {
                let m = (node_start[s + 1] - node_start[s]) as usize;
                debug_assert_eq!(pair_start[s + 1] - pair_start[s], m * m);
                (node_start[s] as usize - k0, m, pair_start[s] - lo)
            })
            .collect();
        PartLayout {
            samples,
            k0,
            k: (node_start[g0 + g] - node_start[g0]) as usize,
            lo,
            rows: pair_start[g0 + g] - lo,
        }
    }
}

impl PartLayout {
    /// The part cut into runs of whole samples with at most `max_nodes` nodes each (one
    /// sample per run where it alone has more): each run's activations stay in cache
    /// while all of the GIN runs on it.
    fn chunks(&self, max_nodes: usize) -> Vec<PartLayout> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < self.samples.len() {
            let (n0, _, q0) = self.samples[start];
            let mut end = start;
            let (mut k, mut rows) = (0, 0);
            while end < self.samples.len() {
                let m = self.samples[end].1;
                if end > start && k + m > max_nodes {
                    break;
                }
                k += m;
                rows += m * m;
                end += 1;
            }
            out.push(PartLayout {
                samples: self.samples[start..end]
                    .iter()
                    .map(|&(n, m, q)| (n - n0, m, q - q0))
                    .collect(),
                k0: self.k0 + n0,
                k,
                lo: self.lo + q0,
                rows,
            });
            start = end;
        }
        out
    }
}

/// Nodes per chunk of a part (see [`PartLayout::chunks`]).
const CHUNK_NODES: usize = 128;

/// What the backward of one part needs.
pub(super) struct Tape<F> {
    /// The part's adjacency channels `[C][rows]`.
    adj: Vec<F>,
    /// `h_0 = [x ‖ deg]`, `[k][F_in + C]`.
    h0: Vec<F>,
    /// Per GIN layer: the aggregation `[k][C·d_l]`, the ReLU output `[k][H]`, the tanh
    /// output `h_{l+1}` `[k][F]`.
    agg: Vec<Vec<F>>,
    a: Vec<Vec<F>>,
    h: Vec<Vec<F>>,
    /// The readout's LeakyReLU outputs, side by side: `[k][(L + 1)·H]`.
    z: Vec<F>,
}

/// [`Tape`]s of one part's chunks in the network's float type, with the chunks.
pub(super) enum GinTape {
    F32(Vec<PartLayout>, Vec<Tape<f32>>),
    F64(Vec<PartLayout>, Vec<Tape<f64>>),
}

/// Gradients of one part: the GIN's parameters in [`Gin::params`] order (PyTorch layouts,
/// flat), the part's node features `[k][F_in]` and adjacency channels `[C][rows]` (both
/// empty where not asked for).
pub(super) struct GinGrads {
    pub(super) params: Vec<Vec<f64>>,
    pub(super) x: Vec<f64>,
    pub(super) adj: Vec<f64>,
}

// ---------------------------------------------------------------------------------------------
// Small dense kernels. Rows of `x`/`y` are node-major with a stride; the widths that occur
// most (16, 32, 64) get fixed-size accumulators, which stay in registers.

/// A node-major matrix view: row `t` is `data[t·stride + off..][..width]`.
#[derive(Clone, Copy)]
struct Rows<'a, F> {
    data: &'a [F],
    stride: usize,
    off: usize,
    width: usize,
}

impl<'a, F> Rows<'a, F> {
    fn all(data: &'a [F], width: usize) -> Self {
        Rows {
            data,
            stride: width,
            off: 0,
            width,
        }
    }

    fn cols(data: &'a [F], stride: usize, off: usize, width: usize) -> Self {
        Rows {
            data,
            stride,
            off,
            width,
        }
    }

    #[inline(always)]
    fn row(&self, t: usize) -> &'a [F] {
        let s = t * self.stride + self.off;
        &self.data[s..s + self.width]
    }
}

/// The kernel's float types, with their fast GEMM where there is one.
pub(super) trait Kernel: Real {
    /// `y_t[..] += Σ_i x(t, i)·m[i·ms..][..y.width]` for `t < n`, `i < k`, where
    /// `x(t, i) = x[t·xr + i·xk]`, with a hand-vectorised kernel: returns `false` (and does
    /// nothing) where there is none for this type and CPU.
    #[allow(clippy::too_many_arguments)]
    fn gemm_fast(
        _x: &[Self],
        _xr: usize,
        _xk: usize,
        _k: usize,
        _m: &[Self],
        _ms: usize,
        _y: &mut RowsMut<Self>,
        _n: usize,
    ) -> bool {
        false
    }
}

impl Kernel for f64 {}

impl Kernel for f32 {
    fn gemm_fast(
        x: &[f32],
        xr: usize,
        xk: usize,
        k: usize,
        m: &[f32],
        ms: usize,
        y: &mut RowsMut<f32>,
        n: usize,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if fused::use_avx2() && std::arch::is_x86_feature_detected!("fma") {
            let o = y.width;
            if n == 0 || o == 0 {
                return true;
            }
            // Every element the kernel touches is inside its slice.
            assert!(k == 0 || (n - 1) * xr + (k - 1) * xk < x.len());
            assert!(k == 0 || (k - 1) * ms + o <= m.len());
            assert!((n - 1) * y.stride + y.off + o <= y.data.len());
            #[allow(unsafe_code)]
            if use_avx512() {
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA; the asserts above bound every
                // access.
                unsafe { avx512::gemm(x, xr, xk, k, m, ms, y, n) };
            } else {
                // SAFETY: the CPU has AVX2 and FMA; the asserts above bound every access.
                unsafe { avx2::gemm(x, xr, xk, k, m, ms, y, n) };
            }
            return true;
        }
        false
    }
}

/// Whether the float32 GEMM takes its AVX-512 kernel: the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
fn use_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Defines module `$name`: the float32 GEMM of [`Kernel::gemm_fast`] with the vector
/// intrinsics of one instruction set, `$lanes` lanes per vector. Columns go in blocks of
/// 4, 2 and 1 vectors (rows in blocks of 2, 4 and 8: at most 8 accumulators, in registers);
/// each entry is one chain of fused multiply-adds over `i`, starting from its value in `y`,
/// so the width of the vectors does not change the bits. The columns left over by whole
/// vectors go to `$rest`, which has the same signature.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_gemm {
    (
        $(#[$doc:meta])*
        mod $name:ident, features = $features:literal, lanes = $lanes:literal,
        $vec:ident, $setzero:ident, $load:ident, $store:ident, $splat:ident, $fmadd:ident,
        rest = $rest:path
    ) => {
        $(#[$doc])*
        #[allow(unsafe_code)]
        mod $name {
            use std::arch::x86_64::{$vec, $fmadd, $load, $setzero, $splat, $store};

            use super::RowsMut;

            /// See [`super::Kernel::gemm_fast`].
            ///
            /// # Safety
            /// The CPU must have the module's features (AVX2 and FMA among them), and
            /// every index the loops form must be in bounds (the caller asserts it).
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn gemm(
                x: &[f32],
                xr: usize,
                xk: usize,
                k: usize,
                m: &[f32],
                ms: usize,
                y: &mut RowsMut<f32>,
                n: usize,
            ) {
                let o = y.width;
                let a = Args {
                    xp: x.as_ptr(),
                    xr,
                    xk,
                    k,
                    mp: m.as_ptr(),
                    ms,
                    yp: y.data.as_mut_ptr().add(y.off),
                    ys: y.stride,
                };
                let mut j0 = 0;
                while o - j0 >= 4 * $lanes {
                    cols::<4, 2>(&a, n, j0);
                    j0 += 4 * $lanes;
                }
                if o - j0 >= 2 * $lanes {
                    cols::<2, 4>(&a, n, j0);
                    j0 += 2 * $lanes;
                }
                if o - j0 >= $lanes {
                    cols::<1, 8>(&a, n, j0);
                    j0 += $lanes;
                }
                if j0 < o {
                    let mut rest = RowsMut {
                        data: &mut *y.data,
                        stride: y.stride,
                        off: y.off + j0,
                        width: o - j0,
                    };
                    // (`m` may be empty when k = 0.)
                    let m_rest = m.get(j0..).unwrap_or(&[]);
                    $rest(x, xr, xk, k, m_rest, ms, &mut rest, n);
                }
            }

            struct Args {
                xp: *const f32,
                xr: usize,
                xk: usize,
                k: usize,
                mp: *const f32,
                ms: usize,
                yp: *mut f32,
                ys: usize,
            }

            /// Columns `j0..j0 + lanes·NV`: rows in blocks of `R`, the rest in blocks of
            /// 4, 2 and 1 (the rows of a graph's aggregation are few: its tail matters).
            #[inline(always)]
            unsafe fn cols<const NV: usize, const R: usize>(a: &Args, n: usize, j0: usize) {
                let mut t0 = 0;
                while n - t0 >= R {
                    block::<NV, R>(a, t0, j0);
                    t0 += R;
                }
                if R > 4 && n - t0 >= 4 {
                    block::<NV, 4>(a, t0, j0);
                    t0 += 4;
                }
                if R > 2 && n - t0 >= 2 {
                    block::<NV, 2>(a, t0, j0);
                    t0 += 2;
                }
                while t0 < n {
                    block::<NV, 1>(a, t0, j0);
                    t0 += 1;
                }
            }

            #[inline(always)]
            unsafe fn block<const NV: usize, const R: usize>(a: &Args, t0: usize, j0: usize) {
                let mut acc: [[$vec; NV]; R] = [[$setzero(); NV]; R];
                for (r, row) in acc.iter_mut().enumerate() {
                    for (v, av) in row.iter_mut().enumerate() {
                        *av = $load(a.yp.add((t0 + r) * a.ys + j0 + $lanes * v));
                    }
                }
                for i in 0..a.k {
                    let mrow = a.mp.add(i * a.ms + j0);
                    let mut mv: [$vec; NV] = [$setzero(); NV];
                    for (v, m) in mv.iter_mut().enumerate() {
                        *m = $load(mrow.add($lanes * v));
                    }
                    for (r, row) in acc.iter_mut().enumerate() {
                        let xv = $splat(*a.xp.add((t0 + r) * a.xr + i * a.xk));
                        for (av, &m) in row.iter_mut().zip(&mv) {
                            *av = $fmadd(xv, m, *av);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    for (v, av) in row.iter().enumerate() {
                        $store(a.yp.add((t0 + r) * a.ys + j0 + $lanes * v), *av);
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
simd_gemm! {
    /// The float32 GEMM with AVX-512F: 16 lanes per vector, the columns left over by whole
    /// vectors through [`avx2::gemm`], so the two kernels give the same bits (tested); with
    /// twice the lanes per instruction, the GIN's 16-wide layers take half the FMAs.
    mod avx512, features = "avx512f,avx2,fma", lanes = 16,
    __m512, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
    _mm512_fmadd_ps, rest = super::avx2::gemm
}

#[cfg(target_arch = "x86_64")]
simd_gemm! {
    /// The float32 GEMM with AVX2 and FMA intrinsics: 8 lanes per vector, the columns left
    /// over by whole vectors in plain loops ([`scalar_gemm`](super::scalar_gemm)).
    mod avx2, features = "avx2,fma", lanes = 8,
    __m256, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
    _mm256_fmadd_ps, rest = super::scalar_gemm
}

/// The kernels' leftover columns, one multiply and one add at a time (`y.width < 8`).
///
/// # Safety
/// Every index the loops form must be in bounds (the callers assert it).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn scalar_gemm(
    x: &[f32],
    xr: usize,
    xk: usize,
    k: usize,
    m: &[f32],
    ms: usize,
    y: &mut RowsMut<f32>,
    n: usize,
) {
    let (xp, mp) = (x.as_ptr(), m.as_ptr());
    let (ys, yp) = (y.stride, y.data.as_mut_ptr().add(y.off));
    for t in 0..n {
        for j in 0..y.width {
            let mut acc = *yp.add(t * ys + j);
            for i in 0..k {
                acc += *xp.add(t * xr + i * xk) * *mp.add(i * ms + j);
            }
            *yp.add(t * ys + j) = acc;
        }
    }
}

/// A node-major output matrix: row `t` is `data[t·stride + off..][..width]`.
pub(super) struct RowsMut<'a, F> {
    data: &'a mut [F],
    stride: usize,
    off: usize,
    width: usize,
}

impl<'a, F> RowsMut<'a, F> {
    fn all(data: &'a mut [F], width: usize) -> Self {
        RowsMut {
            data,
            stride: width,
            off: 0,
            width,
        }
    }

    fn cols(data: &'a mut [F], stride: usize, off: usize, width: usize) -> Self {
        RowsMut {
            data,
            stride,
            off,
            width,
        }
    }
}

/// `y_t[..] += Σ_i x_t[i]·m[i·ms..][..y.width]` for rows `t < n`: a small GEMM. Columns go
/// in blocks of 32, 16, 8 and the rest, rows in blocks of 2 to 8, so that each block's
/// accumulators stay in registers and every load of `m` serves several rows.
#[inline(never)]
fn gemm<F: Kernel>(x: Rows<F>, m: &[F], ms: usize, y: &mut RowsMut<F>, n: usize) {
    if n == 0 {
        return;
    }
    if F::gemm_fast(&x.data[x.off..], x.stride, 1, x.width, m, ms, y, n) {
        return;
    }
    gemm_generic(x, m, ms, y, n)
}

avx2_dispatch! {
    /// [`gemm`] without the fast kernel: [`gemm_body`], in an AVX2 function of its own where
    /// the CPU has AVX2. (In one function of its own the compiler keeps each block's
    /// accumulators in registers, which it failed to do once the whole kernel was inlined
    /// into one function.)
    fn gemm_generic<F>(x: Rows<F>, m: &[F], ms: usize, y: &mut RowsMut<F>, n: usize)
    where [F: Kernel] => gemm_body;
}

/// [`gemm`] in the instruction set of its caller.
#[inline(always)]
fn gemm_body<F: Kernel>(x: Rows<F>, m: &[F], ms: usize, y: &mut RowsMut<F>, n: usize) {
    let o = y.width;
    let mut j0 = 0;
    while o - j0 >= 32 {
        gemm_cols::<F, 32, 2>(x, m, ms, j0, y, n);
        j0 += 32;
    }
    if o - j0 >= 16 {
        gemm_cols::<F, 16, 4>(x, m, ms, j0, y, n);
        j0 += 16;
    }
    if o - j0 >= 8 {
        gemm_cols::<F, 8, 8>(x, m, ms, j0, y, n);
        j0 += 8;
    }
    match o - j0 {
        0 => {}
        1 => gemm_cols::<F, 1, 8>(x, m, ms, j0, y, n),
        2 => gemm_cols::<F, 2, 8>(x, m, ms, j0, y, n),
        3 => gemm_cols::<F, 3, 8>(x, m, ms, j0, y, n),
        4 => gemm_cols::<F, 4, 8>(x, m, ms, j0, y, n),
        5 => gemm_cols::<F, 5, 8>(x, m, ms, j0, y, n),
        6 => gemm_cols::<F, 6, 8>(x, m, ms, j0, y, n),
        _ => gemm_cols::<F, 7, 8>(x, m, ms, j0, y, n),
    }
}

/// Columns `j0..j0 + N` of [`gemm`]: rows in blocks of `R`, then one at a time.
#[inline(always)]
fn gemm_cols<F: Kernel, const N: usize, const R: usize>(
    x: Rows<F>,
    m: &[F],
    ms: usize,
    j0: usize,
    y: &mut RowsMut<F>,
    n: usize,
) {
    let full = n / R * R;
    for t0 in (0..full).step_by(R) {
        gemm_block::<F, N, R>(x, m, ms, j0, y, t0);
    }
    for t0 in full..n {
        gemm_block::<F, N, 1>(x, m, ms, j0, y, t0);
    }
}

/// Rows `t0..t0 + R`, columns `j0..j0 + N` of [`gemm`]; the accumulators are indexed by
/// constants only, so they live in registers.
#[inline(always)]
fn gemm_block<F: Kernel, const N: usize, const R: usize>(
    x: Rows<F>,
    m: &[F],
    ms: usize,
    j0: usize,
    y: &mut RowsMut<F>,
    t0: usize,
) {
    let k = x.width;
    let mut acc = [[F::ZERO; N]; R];
    let mut xs: [&[F]; R] = [&[]; R];
    for r in 0..R {
        let at = (t0 + r) * y.stride + y.off + j0;
        acc[r] = y.data[at..at + N].try_into().expect("N columns");
        xs[r] = &x.row(t0 + r)[..k];
    }
    for i in 0..k {
        let mr: &[F; N] = m[i * ms + j0..i * ms + j0 + N]
            .try_into()
            .expect("N columns");
        for r in 0..R {
            let xv = xs[r][i];
            for j in 0..N {
                acc[r][j] += xv * mr[j];
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let at = (t0 + r) * y.stride + y.off + j0;
        y.data[at..at + N].copy_from_slice(a);
    }
}

/// `b` repeated `n` times, row after row (appended, not zeroed first).
fn rows_of<F: Copy>(b: &[F], n: usize) -> Vec<F> {
    let mut v = Vec::with_capacity(b.len() * n);
    for _ in 0..n {
        v.extend_from_slice(b);
    }
    v
}

/// `y_t = b + W x_t` for `n` rows, `[n][dout]`.
#[inline(always)]
fn linear<F: Kernel>(x: Rows<F>, d: &Dense<F>, n: usize) -> Vec<F> {
    debug_assert_eq!(x.width, d.din);
    let mut y = rows_of(&d.b, n);
    gemm(x, &d.wt, d.dout, &mut RowsMut::all(&mut y, d.dout), n);
    y
}

/// `y_t[oy..oy + dout] += W x_t` for `n` rows of `y` (stride `sy`, the bias already there).
#[inline(always)]
fn readout_first<F: Kernel>(x: Rows<F>, d: &Dense<F>, y: &mut [F], sy: usize, oy: usize, n: usize) {
    debug_assert_eq!(x.width, d.din);
    gemm(x, &d.wt, d.dout, &mut RowsMut::cols(y, sy, oy, d.dout), n);
}

/// `gx_t += Wᵀ g_t` for `n` rows (`gx` dense `[n][din]`).
#[inline(always)]
fn linear_input_grad<F: Kernel>(g: Rows<F>, d: &Dense<F>, gx: &mut [F], n: usize) {
    gemm(g, &d.w, d.din, &mut RowsMut::all(gx, d.din), n);
}

avx2_dispatch! {
    /// `dwt[i][..] += Σ_t x_t[i]·g_t[..]` and `db += Σ_t g_t` over `n` rows: the gradient of
    /// a Linear's weight (transposed, `[din][dout]`) and bias ([`linear_param_grad_body`],
    /// with AVX2 where the CPU has it).
    fn linear_param_grad<F>(x: Rows<F>, g: Rows<F>, dwt: &mut [F], db: &mut [F], n: usize)
    where [F: Kernel] => linear_param_grad_body;
}

/// Rows per chunk of the weight gradients' reduction.
const CHUNK: usize = 128;

/// [`linear_param_grad`] in the instruction set of its caller: the bias's sum, and the
/// weight's as the GEMM `dWᵀ += Xᵀ G` with `Xᵀ` transposed into a buffer of its own.
#[inline(always)]
fn linear_param_grad_body<F: Kernel>(
    x: Rows<F>,
    g: Rows<F>,
    dwt: &mut [F],
    db: &mut [F],
    n: usize,
) {
    let (din, dout) = (x.width, g.width);
    match dout {
        16 => bias_grad_n::<F, 16>(g, db, n),
        32 => bias_grad_n::<F, 32>(g, db, n),
        _ => {
            for t in 0..n {
                for (a, &v) in db.iter_mut().zip(g.row(t)) {
                    *a += v;
                }
            }
        }
    }
    if n == 0 {
        return;
    }
    // dWᵀ[i][..] += Σ_t x_t[i]·g_t[..]: rows i of x(i, t) = x[t·stride + off + i], over
    // chunks of rows t (each chunk's x and g stay in cache while every i is done).
    let mut dw = RowsMut::all(dwt, dout);
    let mut fast = true;
    let mut t0 = 0;
    while fast && t0 < n {
        let len = CHUNK.min(n - t0);
        let xs = &x.data[x.off + t0 * x.stride..];
        let gs = &g.data[g.off + t0 * g.stride..];
        fast = F::gemm_fast(xs, 1, x.stride, len, gs, g.stride, &mut dw, din);
        t0 += len;
    }
    if fast {
        return;
    }
    let dwt = dw.data;
    let mut x_t = vec![F::ZERO; din * n];
    for t in 0..n {
        for (i, &v) in x.row(t).iter().enumerate() {
            x_t[i * n + t] = v;
        }
    }
    gemm_body(
        Rows::all(&x_t, n),
        &g.data[g.off..],
        g.stride,
        &mut RowsMut::all(dwt, dout),
        din,
    );
}

#[inline(always)]
fn bias_grad_n<F: Kernel, const N: usize>(g: Rows<F>, db: &mut [F], n: usize) {
    let mut acc = [F::ZERO; N];
    acc.copy_from_slice(db);
    for t in 0..n {
        for (a, &v) in acc.iter_mut().zip(g.row(t)) {
            *a += v;
        }
    }
    db.copy_from_slice(&acc);
}

#[inline(always)]
fn leaky<F: Kernel>(v: F) -> F {
    if v > F::ZERO {
        v
    } else {
        v * F::of(LEAKY)
    }
}

/// `tanh` from the vectorisable `expm1`: `tanh y = −e/(2 + e)` with `e = expm1(−2|y|)`.
#[inline(always)]
fn tanh<F: Kernel>(v: F) -> F {
    let neg = v < F::ZERO;
    let y = if neg { F::ZERO - v } else { v };
    let e = (F::ZERO - (y + y)).expm1_nonpositive();
    let t = (F::ZERO - e) / (F::of(2.0) + e);
    if neg {
        F::ZERO - t
    } else {
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Forward and backward of one part.

/// Forward of one part. `rows`: the batch's adjacency channels `[C][r]` (`r` pairs); `x`:
/// the part's node features `[k][F_in]`. Returns the readout `[k][F_out]` and the tape.
#[inline(always)]
fn forward_body<F: Kernel>(
    p: &Params<F>,
    lay: &PartLayout,
    rows: &[f64],
    r: usize,
    x: &[f64],
) -> (Vec<f64>, Tape<F>) {
    let (c, k, hd) = (p.channels, lay.k, p.hidden);
    // Buffers are built by appending, not zeroed first: every value is written once.
    let mut adj = Vec::with_capacity(c * lay.rows);
    for ch in 0..c {
        let src = &rows[ch * r + lay.lo..ch * r + lay.lo + lay.rows];
        adj.extend(src.iter().map(|&v| F::of(v)));
    }
    // h_0 = [x ‖ per-channel degree] (gnn.py `get_node_feature`).
    let d0 = p.f_in + c;
    let mut h0 = Vec::with_capacity(k * d0);
    for xt in x.chunks_exact(p.f_in.max(1)).take(k) {
        h0.extend(xt.iter().map(|&v| F::of(v)));
        h0.extend(std::iter::repeat_n(F::ZERO, c));
    }
    if p.f_in == 0 {
        h0.resize(k * d0, F::ZERO);
    }
    for &(n0, m, q0) in &lay.samples {
        for i in 0..m {
            for ch in 0..c {
                let s = ch * lay.rows + q0 + i * m;
                let mut deg = F::ZERO;
                for &v in &adj[s..s + m] {
                    deg += v;
                }
                h0[(n0 + i) * d0 + p.f_in + ch] = deg;
            }
        }
    }
    let levels = p.layers.len();
    let zw = (levels + 1) * hd;
    let z_bias: Vec<F> = p.r1.iter().flat_map(|d| d.b.iter().copied()).collect();
    let mut z = rows_of(&z_bias, k);
    readout_first(Rows::all(&h0, d0), &p.r1[0], &mut z, zw, 0, k);
    let (mut agg_all, mut a_all): (Vec<Vec<F>>, Vec<Vec<F>>) = (vec![], vec![]);
    let mut h_all: Vec<Vec<F>> = vec![];
    for (l, (w1, w2)) in p.layers.iter().enumerate() {
        let cur: &[F] = if l == 0 { &h0 } else { &h_all[l - 1] };
        let d = if l == 0 { d0 } else { p.layers[l - 1].1.dout };
        let cd = c * d;
        // agg[i][c] = Σ_j A_c[i][j] h[j] + (1 + ε) h[i] (gin.py `_aggregate`, self-loops).
        let ope = p.one_plus_eps[l];
        let mut agg = Vec::with_capacity(k * cd);
        for hi in cur.chunks_exact(d) {
            for _ in 0..c {
                agg.extend(hi.iter().map(|&v| ope * v));
            }
        }
        for &(n0, m, q0) in &lay.samples {
            let block = &cur[n0 * d..(n0 + m) * d];
            let dst = &mut agg[n0 * cd..(n0 + m) * cd];
            for ch in 0..c {
                let a_c = Rows::cols(&adj, m, ch * lay.rows + q0, m);
                gemm(a_c, block, d, &mut RowsMut::cols(dst, cd, ch * d, d), m);
            }
        }
        let mut a = linear(Rows::all(&agg, cd), w1, k);
        // ReLU, as a select (it vectorises; NaN stays NaN).
        for v in &mut a {
            *v = if *v < F::ZERO { F::ZERO } else { *v };
        }
        let f = w2.dout;
        let mut h = linear(Rows::all(&a, hd), w2, k);
        for v in &mut h {
            *v = tanh(*v);
        }
        readout_first(Rows::all(&h, f), &p.r1[l + 1], &mut z, zw, (l + 1) * hd, k);
        agg_all.push(agg);
        a_all.push(a);
        h_all.push(h);
    }
    for v in &mut z {
        *v = leaky(*v);
    }
    let mut out = rows_of(&p.b2, k);
    gemm(
        Rows::all(&z, zw),
        &p.r2t_cat,
        p.f_out,
        &mut RowsMut::all(&mut out, p.f_out),
        k,
    );
    let tape = Tape {
        adj,
        h0,
        agg: agg_all,
        a: a_all,
        h: h_all,
        z,
    };
    (out.iter().map(|v| v.wide()).collect(), tape)
}

/// Gradient buffers of one [`Dense`]: weight transposed `[din][dout]`, bias.
struct DenseGrad<F> {
    wt: Vec<F>,
    b: Vec<F>,
}

impl<F: Kernel> DenseGrad<F> {
    fn zeros(d: &Dense<F>) -> Self {
        DenseGrad {
            wt: vec![F::ZERO; d.din * d.dout],
            b: vec![F::ZERO; d.dout],
        }
    }

    /// Weight (PyTorch layout `[dout][din]`) and bias, as float64.
    fn into_flat(self, d: &Dense<F>) -> [Vec<f64>; 2] {
        let mut w = vec![0.0; d.din * d.dout];
        for i in 0..d.din {
            for o in 0..d.dout {
                w[o * d.din + i] = self.wt[i * d.dout + o].wide();
            }
        }
        [w, self.b.iter().map(|v| v.wide()).collect()]
    }
}

/// One GIN's parameter gradients in the kernel's float type (ε's in float64), accumulated
/// over the chunks of a part.
struct ParamGrads<F> {
    eps: Vec<f64>,
    layers: Vec<(DenseGrad<F>, DenseGrad<F>)>,
    r1: Vec<DenseGrad<F>>,
    r2: Vec<DenseGrad<F>>,
}

impl<F: Kernel> ParamGrads<F> {
    fn zeros(p: &Params<F>) -> Self {
        ParamGrads {
            eps: vec![0.0; p.layers.len()],
            layers: p
                .layers
                .iter()
                .map(|(a, b)| (DenseGrad::zeros(a), DenseGrad::zeros(b)))
                .collect(),
            r1: p.r1.iter().map(DenseGrad::zeros).collect(),
            r2: p.r2.iter().map(DenseGrad::zeros).collect(),
        }
    }

    /// In [`Gin::params`] order: ε, the layers' (W1, b1, W2, b2), the readouts'.
    fn into_flat(self, p: &Params<F>) -> Vec<Vec<f64>> {
        let mut params = vec![self.eps];
        for ((w1, w2), (g1, g2)) in p.layers.iter().zip(self.layers) {
            params.extend(g1.into_flat(w1));
            params.extend(g2.into_flat(w2));
        }
        for ((r1, r2), (g1, g2)) in p.r1.iter().zip(&p.r2).zip(self.r1.into_iter().zip(self.r2)) {
            params.extend(g1.into_flat(r1));
            params.extend(g2.into_flat(r2));
        }
        params
    }
}

/// Backward of [`forward_body`] for `g_out` (`[k][F_out]`): the exact gradient of the chain
/// in its module documentation, the parameters' added to `acc`. With `inputs`, returns the
/// gradients of the node features (`[k][F_in]`) and of the adjacency channels
/// (`[C][rows]`, the previous layer's outputs); empty otherwise.
#[inline(always)]
fn backward_body<F: Kernel>(
    p: &Params<F>,
    lay: &PartLayout,
    tape: &Tape<F>,
    g_out: &[f64],
    inputs: bool,
    acc: &mut ParamGrads<F>,
) -> (Vec<f64>, Vec<f64>) {
    let (c, k, hd, fo) = (p.channels, lay.k, p.hidden, p.f_out);
    let levels = p.layers.len();
    let zw = (levels + 1) * hd;
    let g_out: Vec<F> = g_out.iter().map(|&v| F::of(v)).collect();
    let g_out_rows = Rows::all(&g_out, fo);
    // Readout second Linears: out = Σ_j R2_j z_j + Σ_j c2_j.
    let mut gz = vec![F::ZERO; k * zw];
    for (j, (d, g)) in p.r2.iter().zip(&mut acc.r2).enumerate() {
        linear_param_grad(
            Rows::cols(&tape.z, zw, j * hd, hd),
            g_out_rows,
            &mut g.wt,
            &mut g.b,
            k,
        );
        gemm(
            g_out_rows,
            &d.w,
            d.din,
            &mut RowsMut::cols(&mut gz, zw, j * hd, hd),
            k,
        );
    }
    let slope = F::of(LEAKY);
    for (g, &v) in gz.iter_mut().zip(&tape.z) {
        *g = if v > F::ZERO { *g } else { *g * slope };
    }
    // Readout first Linears: z_j = LeakyReLU(R1_j h_j + c1_j); the gradients of h_j.
    let d0 = p.f_in + c;
    let mut g_h0 = vec![F::ZERO; k * d0];
    let mut g_h: Vec<Vec<F>> = tape.h.iter().map(|h| vec![F::ZERO; h.len()]).collect();
    for (j, (d, g)) in p.r1.iter().zip(&mut acc.r1).enumerate() {
        let x = if j == 0 { &tape.h0 } else { &tape.h[j - 1] };
        let gzj = Rows::cols(&gz, zw, j * hd, hd);
        linear_param_grad(Rows::all(x, d.din), gzj, &mut g.wt, &mut g.b, k);
        let dst = if j == 0 { &mut g_h0 } else { &mut g_h[j - 1] };
        linear_input_grad(gzj, d, dst, k);
    }
    // The GIN layers, last to first.
    let mut g_adj = if inputs {
        vec![F::ZERO; c * lay.rows]
    } else {
        Vec::new()
    };
    let mut scratch = Vec::new();
    for l in (0..levels).rev() {
        let (w1, w2) = &p.layers[l];
        let (gw1, gw2) = &mut acc.layers[l];
        let (agg, a, h) = (&tape.agg[l], &tape.a[l], &tape.h[l]);
        let f = w2.dout;
        // h = tanh(p2): ∂p2 = ∂h·(1 − h²).
        let mut gp2 = std::mem::take(&mut g_h[l]);
        for (g, &v) in gp2.iter_mut().zip(h) {
            *g *= F::ONE - v * v;
        }
        let gp2_rows = Rows::all(&gp2, f);
        linear_param_grad(Rows::all(a, hd), gp2_rows, &mut gw2.wt, &mut gw2.b, k);
        let mut ga = vec![F::ZERO; k * hd];
        linear_input_grad(gp2_rows, w2, &mut ga, k);
        for (g, &v) in ga.iter_mut().zip(a) {
            *g = if v > F::ZERO { *g } else { F::ZERO };
        }
        let cd = w1.din;
        let ga_rows = Rows::all(&ga, hd);
        linear_param_grad(Rows::all(agg, cd), ga_rows, &mut gw1.wt, &mut gw1.b, k);
        let mut g_agg = vec![F::ZERO; k * cd];
        linear_input_grad(ga_rows, w1, &mut g_agg, k);
        // agg[i][c] = Σ_j A_c[i][j] h[j] + (1 + ε) h[i]: the gradients of h, ε and A.
        let d = cd / c;
        let (cur, g_cur): (&[F], &mut Vec<F>) = if l == 0 {
            (&tape.h0, &mut g_h0)
        } else {
            let (below, _) = g_h.split_at_mut(l);
            (&tape.h[l - 1], &mut below[l - 1])
        };
        let ope = p.one_plus_eps[l];
        let mut ge = 0.0f64;
        for &(n0, m, q0) in &lay.samples {
            let sample = AggSample {
                adj: &tape.adj,
                rows: lay.rows,
                q0,
                m,
                c,
                h: &cur[n0 * d..(n0 + m) * d],
                g_agg: &g_agg[n0 * cd..(n0 + m) * cd],
                ope,
            };
            let g_block = &mut g_cur[n0 * d..(n0 + m) * d];
            let g_a = if inputs { Some(&mut g_adj[..]) } else { None };
            ge += agg_backward(&sample, d, g_block, g_a, &mut scratch);
        }
        acc.eps[l] += ge;
    }
    // h_0 = [x ‖ A_c·1]: ∂x, and ∂A_c[i][j] += ∂deg[i][c].
    let mut g_x = Vec::new();
    if inputs {
        g_x.reserve(k * p.f_in);
        for row in g_h0.chunks_exact(d0) {
            g_x.extend(row[..p.f_in].iter().map(|v| v.wide()));
        }
        for &(n0, m, q0) in &lay.samples {
            for i in 0..m {
                for ch in 0..c {
                    let gd = g_h0[(n0 + i) * d0 + p.f_in + ch];
                    let s = ch * lay.rows + q0 + i * m;
                    for ga in &mut g_adj[s..s + m] {
                        *ga += gd;
                    }
                }
            }
        }
    }
    (g_x, g_adj.iter().map(|v| v.wide()).collect())
}

/// One sample's aggregation `agg[i][c] = Σ_j A_c[i][j] h[j] + (1 + ε) h[i]`, for its
/// backward: the part's adjacency `[C][rows]` (the sample's pairs from `q0`, `i`-major), the
/// sample's `h` `[m][d]` and `∂agg` `[m][C·d]`.
struct AggSample<'a, F> {
    adj: &'a [F],
    rows: usize,
    q0: usize,
    m: usize,
    c: usize,
    h: &'a [F],
    g_agg: &'a [F],
    ope: F,
}

/// The backward of one sample's aggregation (feature width `d`): adds
/// `∂h[j] = (1 + ε) Σ_c ∂agg[j][c] + Σ_{i,c} A_c[i][j] ∂agg[i][c]` to `g_h` (`[m][d]`) and,
/// where asked, `∂A_c[i][j] = ⟨∂agg[i][c], h[j]⟩` to `g_adj` (`[C][rows]`); returns
/// `∂ε = Σ_{i,c} ⟨∂agg[i][c], h[i]⟩`. Both sums over pairs are small GEMMs ([`gemm`]) with
/// `A_cᵀ` and `hᵀ` (its columns padded to a multiple of 8) in `scratch`.
fn agg_backward<F: Kernel>(
    s: &AggSample<F>,
    d: usize,
    g_h: &mut [F],
    g_adj: Option<&mut [F]>,
    scratch: &mut Vec<F>,
) -> f64 {
    let (m, c) = (s.m, s.c);
    if m == 0 {
        return 0.0;
    }
    let cd = c * d;
    let mut ge = 0.0;
    for (i, (gh, hi)) in g_h.chunks_exact_mut(d).zip(s.h.chunks_exact(d)).enumerate() {
        for gc in s.g_agg[i * cd..(i + 1) * cd].chunks_exact(d) {
            let mut dot = F::ZERO;
            for ((a, &g), &h) in gh.iter_mut().zip(gc).zip(hi) {
                *a += s.ope * g;
                dot += g * h;
            }
            ge += dot.wide();
        }
    }
    let mp = (m + 7) & !7;
    scratch.clear();
    scratch.resize(m * m + d * mp + m * mp, F::ZERO);
    let (a_t, rest) = scratch.split_at_mut(m * m);
    let (h_t, g_a) = rest.split_at_mut(d * mp);
    for ch in 0..c {
        // ∂h += A_cᵀ ∂agg[·][c]: rows j of A_cᵀ are A_c's columns (stride m).
        let at = ch * s.rows + s.q0;
        let mut g_h_rows = RowsMut::all(&mut *g_h, d);
        let a_c = &s.adj[at..at + m * m];
        if !F::gemm_fast(a_c, 1, m, m, &s.g_agg[ch * d..], cd, &mut g_h_rows, m) {
            for i in 0..m {
                for j in 0..m {
                    a_t[j * m + i] = a_c[i * m + j];
                }
            }
            gemm(Rows::all(a_t, m), &s.g_agg[ch * d..], cd, &mut g_h_rows, m);
        }
    }
    if let Some(g_adj) = g_adj {
        for j in 0..m {
            for e in 0..d {
                h_t[e * mp + j] = s.h[j * d + e];
            }
        }
        for ch in 0..c {
            // ∂A_c = ∂agg[·][c] hᵀ, `[m][mp]`, then its first `m` columns into `g_adj`.
            g_a.fill(F::ZERO);
            gemm(
                Rows::cols(s.g_agg, cd, ch * d, d),
                h_t,
                mp,
                &mut RowsMut::all(g_a, mp),
                m,
            );
            let at = ch * s.rows + s.q0;
            for (dst, src) in g_adj[at..at + m * m]
                .chunks_exact_mut(m)
                .zip(g_a.chunks_exact(mp))
            {
                for (a, &v) in dst.iter_mut().zip(src) {
                    *a += v;
                }
            }
        }
    }
    ge
}

/// The gradients of the absent-node readout ([`Params::padded_output`]) for its gradient
/// `g` (`[F_out]`), added to `params` ([`Gin::params`] order).
fn padded_output_grad<F: Kernel>(p: &Params<F>, g: &[f64], params: &mut [Vec<f64>]) {
    // Index of readout j's first tensor: after ε and 4 per GIN layer.
    let base = 1 + 4 * p.layers.len();
    for (j, (r1, r2)) in p.r1.iter().zip(&p.r2).enumerate() {
        let at = base + 4 * j;
        for (h, &c) in r1.b.iter().enumerate() {
            let z = leaky(c).wide();
            let mut back = 0.0;
            for (o, &gv) in g.iter().enumerate() {
                params[at + 2][o * r2.din + h] += gv * z;
                back += r2.w[o * r2.din + h].wide() * gv;
            }
            params[at + 1][h] += if c > F::ZERO { back } else { back * LEAKY };
        }
        for (a, &gv) in params[at + 3].iter_mut().zip(g) {
            *a += gv;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch: float type, and the AVX2 build of the elementwise loops where the CPU has it
// (the GEMMs choose their own).

avx2_dispatch! {
    /// [`forward_body`] with AVX2 where the CPU has it.
    fn forward_dispatch<F>(
        p: &Params<F>,
        lay: &PartLayout,
        rows: &[f64],
        r: usize,
        x: &[f64],
    ) -> (Vec<f64>, Tape<F>)
    where [F: Kernel] => forward_body;
}

avx2_dispatch! {
    /// [`backward_body`] with AVX2 where the CPU has it.
    fn backward_dispatch<F>(
        p: &Params<F>,
        lay: &PartLayout,
        tape: &Tape<F>,
        g_out: &[f64],
        inputs: bool,
        acc: &mut ParamGrads<F>,
    ) -> (Vec<f64>, Vec<f64>)
    where [F: Kernel] => backward_body;
}

/// The GIN's forward on one part: `rows` the batch's adjacency channels `[C][r]` (present
/// pairs), `x` the part's node features `[k][F_in]`. Returns the part's readout
/// `[k][F_out]` and the tape for [`gin_backward`]. Runs chunk by chunk of the part.
pub(super) fn gin_forward(
    p: &GinParams,
    lay: &PartLayout,
    rows: &[f64],
    r: usize,
    x: &[f64],
) -> (Vec<f64>, GinTape) {
    fn run<F: Kernel>(
        p: &Params<F>,
        lay: &PartLayout,
        rows: &[f64],
        r: usize,
        x: &[f64],
    ) -> (Vec<f64>, Vec<PartLayout>, Vec<Tape<F>>) {
        let chunks = lay.chunks(CHUNK_NODES);
        let mut out = Vec::with_capacity(lay.k * p.f_out);
        let mut tapes = Vec::with_capacity(chunks.len());
        for ch in &chunks {
            let at = (ch.k0 - lay.k0) * p.f_in;
            let (o, t) = forward_dispatch(p, ch, rows, r, &x[at..at + ch.k * p.f_in]);
            out.extend(o);
            tapes.push(t);
        }
        (out, chunks, tapes)
    }
    match p {
        GinParams::F32(p) => {
            let (o, c, t) = run(p, lay, rows, r, x);
            (o, GinTape::F32(c, t))
        }
        GinParams::F64(p) => {
            let (o, c, t) = run(p, lay, rows, r, x);
            (o, GinTape::F64(c, t))
        }
    }
}

/// The backward of [`gin_forward`] for the gradient `g_out` of its output (`[k][F_out]`);
/// with `inputs`, also the gradients of `x` and of the part's rows (`[C][rows]`). The
/// chunks' parameter gradients are summed in order.
pub(super) fn gin_backward(
    p: &GinParams,
    lay: &PartLayout,
    tape: &GinTape,
    g_out: &[f64],
    inputs: bool,
) -> GinGrads {
    fn run<F: Kernel>(
        p: &Params<F>,
        lay: &PartLayout,
        chunks: &[PartLayout],
        tapes: &[Tape<F>],
        g_out: &[f64],
        inputs: bool,
    ) -> GinGrads {
        let c = p.channels;
        let mut acc = ParamGrads::zeros(p);
        let mut x = Vec::with_capacity(if inputs { lay.k * p.f_in } else { 0 });
        let mut adj = vec![0.0; if inputs { c * lay.rows } else { 0 }];
        for (ch, t) in chunks.iter().zip(tapes) {
            let at = (ch.k0 - lay.k0) * p.f_out;
            let g_out = &g_out[at..at + ch.k * p.f_out];
            let (g_x, g_adj) = backward_dispatch(p, ch, t, g_out, inputs, &mut acc);
            if inputs {
                x.extend(g_x);
                let off = ch.lo - lay.lo;
                for k in 0..c {
                    adj[k * lay.rows + off..k * lay.rows + off + ch.rows]
                        .copy_from_slice(&g_adj[k * ch.rows..(k + 1) * ch.rows]);
                }
            }
        }
        GinGrads {
            params: acc.into_flat(p),
            x,
            adj,
        }
    }
    match (p, tape) {
        (GinParams::F32(p), GinTape::F32(c, t)) => run(p, lay, c, t, g_out, inputs),
        (GinParams::F64(p), GinTape::F64(c, t)) => run(p, lay, c, t, g_out, inputs),
        _ => unreachable!("a GIN tape is read back with the parameters that wrote it"),
    }
}

/// Adds the absent-node readout's gradients for its gradient `g` to `params`.
pub(super) fn gin_padded_output_grad(p: &GinParams, g: &[f64], params: &mut [Vec<f64>]) {
    match p {
        GinParams::F32(p) => padded_output_grad(p, g, params),
        GinParams::F64(p) => padded_output_grad(p, g, params),
    }
}

/// `params` ([`Gin::params`] order) as tensors shaped and typed like `like`.
pub(super) fn grads_as_tensors(params: &[Vec<f64>], like: &[Tensor]) -> Vec<Tensor> {
    params
        .iter()
        .zip(like)
        .map(|(g, t)| {
            Tensor::from_slice(g)
                .to_kind(t.kind())
                .view(t.size().as_slice())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of values in [−0.5, 0.5) from a 64-bit LCG: test data for the GEMMs.
    fn uniforms(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        }
    }

    /// Test data of an `n × k × o` GEMM drawn from `next`: `x` with row stride `sx = k + 3`,
    /// `m` dense `[k][o]`, and `y0` with row stride `sy = o + 5`, the output at offset `oy = 2`.
    struct GemmCase {
        sx: usize,
        sy: usize,
        oy: usize,
        x: Vec<f64>,
        m: Vec<f64>,
        y0: Vec<f64>,
    }

    fn gemm_case(next: &mut impl FnMut() -> f64, n: usize, k: usize, o: usize) -> GemmCase {
        let (sx, sy, oy) = (k + 3, o + 5, 2);
        let x = (0..n * sx).map(|_| next()).collect();
        let m = (0..k * o).map(|_| next()).collect();
        let y0 = (0..n * sy).map(|_| next()).collect();
        GemmCase {
            sx,
            sy,
            oy,
            x,
            m,
            y0,
        }
    }

    /// `y += x·m` for every shape and layout the kernels meet: the float32 GEMM (the
    /// AVX-512 or AVX2+FMA kernel where the CPU has one) and the float64 one agree with a float64
    /// reference, for widths with and without a remainder of 8 and 32, strided rows and
    /// columns of `x` and an offset output.
    #[test]
    fn gemm_matches_a_plain_product() {
        let mut next = uniforms(1);
        for &(n, k, o) in &[
            (1, 1, 1),
            (7, 5, 3),
            (13, 16, 16),
            (130, 32, 37),
            (9, 80, 70),
        ] {
            let GemmCase {
                sx,
                sy,
                oy,
                x,
                m,
                y0,
            } = gemm_case(&mut next, n, k, o);
            let mut want = y0.clone();
            // Σ |terms| per entry: the scale of float32's rounding there.
            let mut scale: Vec<f64> = y0.iter().map(|v| v.abs()).collect();
            for t in 0..n {
                for j in 0..o {
                    for i in 0..k {
                        want[t * sy + oy + j] += x[t * sx + i] * m[i * o + j];
                        scale[t * sy + oy + j] += (x[t * sx + i] * m[i * o + j]).abs();
                    }
                }
            }
            let mut y64 = y0.clone();
            gemm(
                Rows::cols(&x, sx, 0, k),
                &m,
                o,
                &mut RowsMut::cols(&mut y64, sy, oy, o),
                n,
            );
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (x32, m32) = (f(&x), f(&m));
            let mut y32 = f(&y0);
            gemm(
                Rows::cols(&x32, sx, 0, k),
                &m32,
                o,
                &mut RowsMut::cols(&mut y32, sy, oy, o),
                n,
            );
            for (i, &w) in want.iter().enumerate() {
                assert!((y64[i] - w).abs() < 1e-12, "float64 {n}x{k}x{o} at {i}");
                let tol = 1e-6 * scale[i];
                assert!(
                    (f64::from(y32[i]) - w).abs() < tol,
                    "float32 {n}x{k}x{o} at {i}: {} vs {w}",
                    y32[i]
                );
            }
        }
    }

    /// The AVX-512 float32 GEMM gives the AVX2 kernel's bits (each entry the same chain of
    /// fused multiply-adds), for widths that take each of its column blocks and leave each
    /// kind of remainder (8-wide AVX2 vectors, scalar columns), strided `x`, offset `y`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_gemm_gives_the_avx2_bits() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("this CPU lacks AVX-512F, AVX2 or FMA: nothing to compare");
            return;
        }
        let mut next = uniforms(7);
        for &(n, k, o) in &[
            (1, 1, 1),
            (5, 3, 15),
            (13, 16, 16),
            (11, 17, 24),
            (9, 32, 33),
            (130, 32, 37),
            (21, 48, 64),
            (9, 80, 70),
            (40, 20, 119),
        ] {
            let c = gemm_case(&mut next, n, k, o);
            let (sx, sy, oy) = (c.sx, c.sy, c.oy);
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (x, m, y0) = (f(&c.x), f(&c.m), f(&c.y0));
            let run = |avx512: bool| {
                let mut y = y0.clone();
                let mut rows = RowsMut::cols(&mut y, sy, oy, o);
                #[allow(unsafe_code)]
                // SAFETY: the CPU has the features (checked above); x, m and y hold every
                // entry of the n × k × o product at these strides.
                unsafe {
                    if avx512 {
                        avx512::gemm(&x, sx, 1, k, &m, o, &mut rows, n);
                    } else {
                        avx2::gemm(&x, sx, 1, k, &m, o, &mut rows, n);
                    }
                }
                y
            };
            let (wide, narrow) = (run(true), run(false));
            let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&wide), bits(&narrow), "{n}x{k}x{o}");
            assert_ne!(bits(&wide), bits(&y0), "{n}x{k}x{o}: nothing was computed");
        }
    }

    /// The weight gradient `dWᵀ += Xᵀ G` (the reduction over rows, in chunks) agrees with a
    /// plain sum, in both float types, over more rows than one chunk.
    #[test]
    fn weight_gradient_matches_a_plain_sum() {
        let (n, din, dout, sx) = (300, 20, 32, 25);
        let x: Vec<f64> = (0..n * sx)
            .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let g: Vec<f64> = (0..n * dout)
            .map(|i| ((i * 104729) % 97) as f64 / 48.0 - 1.0)
            .collect();
        let mut want_w = vec![0.0; din * dout];
        let mut want_b = vec![0.0; dout];
        for t in 0..n {
            for o in 0..dout {
                want_b[o] += g[t * dout + o];
                for i in 0..din {
                    want_w[i * dout + o] += x[t * sx + 3 + i] * g[t * dout + o];
                }
            }
        }
        let (mut w64, mut b64) = (vec![0.0; din * dout], vec![0.0; dout]);
        linear_param_grad(
            Rows::cols(&x, sx, 3, din),
            Rows::all(&g, dout),
            &mut w64,
            &mut b64,
            n,
        );
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let g32: Vec<f32> = g.iter().map(|&v| v as f32).collect();
        let (mut w32, mut b32) = (vec![0f32; din * dout], vec![0f32; dout]);
        linear_param_grad(
            Rows::cols(&x32, sx, 3, din),
            Rows::all(&g32, dout),
            &mut w32,
            &mut b32,
            n,
        );
        for (i, &w) in want_w.iter().enumerate() {
            assert!((w64[i] - w).abs() < 1e-10);
            assert!((f64::from(w32[i]) - w).abs() < 1e-3, "{} vs {w}", w32[i]);
        }
        for (i, &b) in want_b.iter().enumerate() {
            assert!((b64[i] - b).abs() < 1e-10);
            assert!((f64::from(b32[i]) - b).abs() < 1e-3);
        }
    }

    /// The vectorisable `tanh` matches the C library's to a few ulp over the range.
    #[test]
    fn tanh_matches_libm() {
        let mut z = -20.0f64;
        while z < 20.0 {
            let want = z.tanh();
            assert!((tanh(z) - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1e-300));
            let want32 = (z as f32).tanh();
            let got32 = tanh(z as f32);
            assert!(
                (got32 - want32).abs() <= 4.0 * f32::EPSILON * want32.abs(),
                "{z}: {got32} vs {want32}"
            );
            z += 0.00731;
        }
        assert_eq!(tanh(0.0f32), 0.0);
    }

    /// Chunks cover a part's samples in order, none over the node budget unless a sample
    /// alone is, with node and pair offsets that add up.
    #[test]
    fn chunks_cover_the_part() {
        let sizes = [0usize, 3, 200, 5, 60, 70, 1, 0];
        let (mut node_start, mut pair_start) = (vec![0i64], vec![0usize]);
        for &m in &sizes {
            node_start.push(node_start.last().unwrap() + m as i64);
            pair_start.push(pair_start.last().unwrap() + m * m);
        }
        let lay = PartLayout::new(1, sizes.len() - 1, &node_start, &pair_start);
        let chunks = lay.chunks(128);
        let mut seen = 0;
        let (mut k0, mut lo) = (lay.k0, lay.lo);
        for c in &chunks {
            assert_eq!((c.k0, c.lo), (k0, lo));
            assert!(c.k <= 128 || c.samples.len() == 1, "{} nodes", c.k);
            for &(n0, m, q0) in &c.samples {
                assert_eq!(m, sizes[1 + seen]);
                assert_eq!(node_start[1 + seen] as usize, c.k0 + n0);
                assert_eq!(pair_start[1 + seen], c.lo + q0);
                seen += 1;
            }
            k0 += c.k;
            lo += c.rows;
        }
        assert_eq!(seen, sizes.len() - 1);
        assert_eq!((k0, lo), (lay.k0 + lay.k, lay.lo + lay.rows));
    }
}
