//! Hand-written loops for the per-pair work of a `PosTransLayer` and of the dense edge
//! update, forward and backward, on one group of graphs laid out densely (`[B, n, n, ·]`
//! pair rows, `[B, n, ·]` node rows, row-major, `i` = source, `j` = target).
//!
//! Why: with libtorch ops every product, reduction and broadcast of these `[P, nf]` tensors is
//! its own pass over memory (and several more in the backward); a training step of the
//! Community-small network then spends more time in those passes than in its matrix
//! products (BENCHMARKS.md, "GraphGDP speed"). These loops do each pair once: the attention
//! logits, the masked softmax, the messages and their sum in one pass; the gradient of all
//! of it in one more. The matrix products (`lin_edge0/1`, `lin_pos` and their gradients) stay
//! in libtorch. `tests` below hold every kernel to libtorch's autograd in float64.
//!
//! The maths (per group, heads h of C channels, `logit_ijh = Σ_{c∈h} q_jc k_ic E0_ijc / √C`
//! over the message-passing edges `i → j`):
//!
//! * attention: `α_ijh = exp(logit_ijh − max_i)/(Σ_i exp(· − max) + 1e-16)`,
//!   `msg_ijc = v_ic E1_ijc α_ijh(c)`, `out_jc = Σ_i msg_ijc`;
//!   backward with `G_ijc = ∂out_jc + ∂msg_ijc`: `∂α_ijh = Σ_{c∈h} G v E1`,
//!   `∂logit = α(∂α − Σ_i α ∂α)`, and the products' gradients;
//! * positions: `out_jp = Σ_i pos_ip lp_ijp / max(deg_j, 1)` (the official scatter mean);
//! * edge update: `e'_ij = (e_ij + SiLU(ua_j + ub_i))·m_ij` with `m` the dropout mask times
//!   `1/√2` (or `1/√2` alone).
//!
//! The loops are written over row slices so that the compiler vectorises them, and each
//! kernel runs through `simd_fn!`, which compiles it for the best instruction set the CPU has
//! (chosen at run time by `pulp`, no `unsafe`; graph-tensor's `simd` module). The float32 exponential is a
//! branch-free polynomial ([`exp_f32`], Cephes `expf`: relative error below 2e-7, which
//! vectorises where the C library's `expf` does not); float64 uses the standard one.

use graph_tensor::host::HostFloat;

/// The float types the kernels run on (the network's float32, and float64 for tests):
/// graph-tensor's [`HostFloat`] (arithmetic, `from_f64`) and what the kernels add to it.
pub(crate) trait Real:
    HostFloat + Default + std::ops::AddAssign + std::ops::Neg<Output = Self> + Send + Sync
{
    // `ZERO` comes from `tch::kind::Element`.
    const ONE: Self;
    fn exp(self) -> Self;
    fn max(self, other: Self) -> Self;
    /// A keep flag (0 or 1) as 0 or 1 (exact).
    fn from_flag(flag: u8) -> Self;
}

impl Real for f32 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    #[inline(always)]
    fn from_flag(flag: u8) -> Self {
        f32::from(flag)
    }
}

impl Real for f64 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        f64::max(self, other)
    }
    #[inline(always)]
    fn from_flag(flag: u8) -> Self {
        f64::from(flag)
    }
}

/// `e^x` in float32 without branches (Cephes `expf`): `x = k·ln 2 + r`, `k` the nearest
/// integer to `x/ln 2` so `|r| ≤ ln 2 / 2`,
/// a degree-6 polynomial for `e^r`, times `2^k`; `x` clamped to [−87.3, 88] (within the float32
/// range). Relative error below 2e-7 (tested against `f64::exp`).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.336_54, 88.0);
    let (k, two_k) = graph_tensor::simd::exp_range_reduce(x);
    let r = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let y = p * r2 + r + 1.0;
    y * two_k
}

graph_tensor::simd_fn! {
    /// Attention forward (see [`attention_forward_impl`]).
    pub(crate) fn attention_forward<'a, T: Real>(
        d: Dims, q: &'a [T], k: &'a [T], v: &'a [T], e: &'a [T],
        erow: Option<&'a [usize]>, edge: &'a [bool], clamp: bool, out: &'a mut [T],
        msg: Option<&'a mut [T]>,
    ) -> AttnSaved<T> => attention_forward_impl
}

graph_tensor::simd_fn! {
    /// Attention backward (see [`attention_backward_impl`]).
    pub(crate) fn attention_backward<'a, T: Real>(
        d: Dims, q: &'a [T], k: &'a [T], v: &'a [T], e: &'a [T],
        edge: &'a [bool], saved: &'a AttnSaved<T>, g_out: &'a [T], g_msg: Option<&'a [T]>,
        grads: AttnGrads<'a, T>,
    ) -> () => attention_backward_impl
}

graph_tensor::simd_fn! {
    /// Position aggregation forward (see [`positions_forward_impl`]).
    pub(crate) fn positions_forward<'a, T: Real>(
        b: usize, n: usize, pc: usize, pos: &'a [T], lp: &'a [T], edge: &'a [bool],
        count: &'a [T], out: &'a mut [T],
    ) -> () => positions_forward_impl
}

graph_tensor::simd_fn! {
    /// Position aggregation backward (see [`positions_backward_impl`]).
    pub(crate) fn positions_backward<'a, T: Real>(
        b: usize, n: usize, pc: usize, pos: &'a [T], lp: &'a [T], edge: &'a [bool],
        count: &'a [T], grad: &'a [T], dpos: &'a mut [T], dlp: &'a mut [T],
    ) -> () => positions_backward_impl
}

graph_tensor::simd_fn! {
    /// Edge update forward (see [`edge_update_forward_impl`]).
    pub(crate) fn edge_update_forward<'a, T: Real>(
        b: usize, n: usize, dd: usize, dense: &'a [T], ua: &'a [T], ub: &'a [T],
        scale: &'a EdgeScale<'a, T>, out: &'a mut [T],
    ) -> () => edge_update_forward_impl
}

graph_tensor::simd_fn! {
    /// Edge update of a packed symmetric layout (see [`edge_update_packed_impl`]).
    pub(crate) fn edge_update_packed<'a, T: Real>(
        b: usize, n: usize, dd: usize, dense: &'a [T], ua: &'a [T], ub: &'a [T], scale: T,
        out: &'a mut [T],
    ) -> () => edge_update_packed_impl
}

graph_tensor::simd_fn! {
    /// Edge update backward (see [`edge_update_backward_impl`]).
    pub(crate) fn edge_update_backward<'a, T: Real>(
        b: usize, n: usize, dd: usize, ua: &'a [T], ub: &'a [T], scale: &'a EdgeScale<'a, T>,
        grad: &'a [T], ddense: &'a mut [T], dua: &'a mut [T], dub: &'a mut [T],
    ) -> () => edge_update_backward_impl
}

graph_tensor::simd_fn! {
    /// Pair rows of an affine function of the pair's value and a lookup of its class (see
    /// [`affine_rows_impl`]).
    pub(crate) fn affine_rows<'a, T: Real>(
        per_graph: usize, x: &'a [T], s: &'a [i64], u: &'a [T], c: &'a [T], q: &'a [T],
        out: &'a mut [T],
    ) -> () => affine_rows_impl
}

graph_tensor::simd_fn! {
    /// The sums that the gradient of [`affine_rows`] needs (see [`reduce_rows_impl`]).
    pub(crate) fn reduce_rows<'a, T: Real>(
        per_graph: usize, x: &'a [T], s: &'a [i64], g: &'a [T], sums: RowSums<'a, T>,
    ) -> () => reduce_rows_impl
}

/// Sizes of one group.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    /// Graphs.
    pub b: usize,
    /// Nodes per graph.
    pub n: usize,
    /// Heads.
    pub h: usize,
    /// Channels per head.
    pub c: usize,
}

impl Dims {
    fn nf(&self) -> usize {
        self.h * self.c
    }
}

/// What the attention forward keeps for its backward.
pub(crate) struct AttnSaved<T> {
    /// `[B, n(i), n(j), H]`, 0 off the edges.
    pub alpha: Vec<T>,
    /// Logits before the optional clamp (only kept with the clamp), `[B, n, n, H]`.
    pub logits: Option<Vec<T>>,
}

/// Attention forward. `q, k, v: [B, n, nf]`, `e: [B, n, n, 2nf]` (`E0 ‖ E1` per pair, the
/// output of one product with `[W0; W1]`; with `erow`, pair `p`'s row is `erow[p]`),
/// `edge: [B, n, n]` (`i → j`). Writes `out: [B, n, nf]` and, if given,
/// `msg: [B, n, n, nf]` (0 off the edges).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attention_forward_impl<T: Real>(
    d: Dims,
    q: &[T],
    k: &[T],
    v: &[T],
    e: &[T],
    erow: Option<&[usize]>,
    edge: &[bool],
    clamp: bool,
    out: &mut [T],
    mut msg: Option<&mut [T]>,
) -> AttnSaved<T> {
    let (n, hh, c, nf) = (d.n, d.h, d.c, d.nf());
    // the row of `e` holding pair p (a packed symmetric layout maps (i, j) and (j, i) to
    // one row)
    let er = |p: usize| erow.map_or(p, |m| m[p]) * 2 * nf;
    let scale = T::from_f64((c as f64).sqrt());
    let mut alpha = vec![T::ZERO; d.b * n * n * hh];
    let mut logits_keep = clamp.then(|| vec![T::ZERO; d.b * n * n * hh]);
    // one graph's logits, `[n(i), n(j), H]`
    let mut logit = vec![T::ZERO; n * n * hh];
    let mut t = vec![T::ZERO; nf];
    // α of a pair broadcast over its heads' channels
    let mut a_wide = vec![T::ZERO; nf];
    // per head: the largest logit over a target's sources, the sum of the exponentials
    let (mut mx, mut sum) = (vec![T::ZERO; hh], vec![T::ZERO; hh]);
    let lim = T::from_f64(5.0);
    // The pair loops run source-major (pair rows in memory order), the softmax per target.
    for b in 0..d.b {
        let is_edge = |i: usize, j: usize| edge[(b * n + i) * n + j];
        // logits: Σ_{c∈h} q_j k_i E0 per head (whole rows of nf channels, so that the
        // products vectorise; then a sum per head)
        for i in 0..n {
            let ki = &k[(b * n + i) * nf..][..nf];
            for j in (0..n).filter(|&j| is_edge(i, j)) {
                let qj = &q[(b * n + j) * nf..][..nf];
                let e0 = &e[er((b * n + i) * n + j)..][..nf];
                for (((tc, &qc), &kc), &ec) in t.iter_mut().zip(qj).zip(ki).zip(e0) {
                    *tc = qc * kc * ec;
                }
                for (h, lg) in logit[(i * n + j) * hh..][..hh].iter_mut().enumerate() {
                    let mut l = sum_lanes(&t[h * c..(h + 1) * c]) / scale;
                    if let Some(keep) = logits_keep.as_mut() {
                        keep[((b * n + i) * n + j) * hh + h] = l;
                        if l > lim {
                            l = lim;
                        } else if l < -lim {
                            l = -lim;
                        }
                    }
                    *lg = l;
                }
            }
        }
        // softmax over the sources of each target, all heads at once (a pair's H logits
        // are adjacent, so the exponentials vectorise); per head the sum runs over the
        // sources in order
        for j in 0..n {
            let mut sources = (0..n).filter(|&i| is_edge(i, j));
            let Some(first) = sources.next() else {
                continue;
            };
            mx.copy_from_slice(&logit[(first * n + j) * hh..][..hh]);
            for i in sources {
                for (m, &l) in mx.iter_mut().zip(&logit[(i * n + j) * hh..][..hh]) {
                    *m = m.max(l);
                }
            }
            sum.fill(T::ZERO);
            for i in (0..n).filter(|&i| is_edge(i, j)) {
                let a = &mut alpha[((b * n + i) * n + j) * hh..][..hh];
                for (((a, &l), &m), s) in a
                    .iter_mut()
                    .zip(&logit[(i * n + j) * hh..][..hh])
                    .zip(&mx)
                    .zip(sum.iter_mut())
                {
                    let ex = (l - m).exp();
                    *a = ex;
                    *s += ex;
                }
            }
            for s in sum.iter_mut() {
                *s += T::from_f64(1e-16);
            }
            for i in (0..n).filter(|&i| is_edge(i, j)) {
                let a = &mut alpha[((b * n + i) * n + j) * hh..][..hh];
                for (a, &s) in a.iter_mut().zip(&sum) {
                    *a = *a / s;
                }
            }
        }
        // messages v_i E1 α and their sums
        let ob = &mut out[b * n * nf..(b + 1) * n * nf];
        ob.fill(T::ZERO);
        for i in 0..n {
            let vi = &v[(b * n + i) * nf..][..nf];
            for j in 0..n {
                let p = ((b * n + i) * n + j) * nf;
                if !is_edge(i, j) {
                    if let Some(m) = msg.as_deref_mut() {
                        m[p..p + nf].fill(T::ZERO);
                    }
                    continue;
                }
                let e1 = &e[er(p / nf) + nf..][..nf];
                let a = &alpha[((b * n + i) * n + j) * hh..][..hh];
                for (aw, &ah) in a_wide.chunks_exact_mut(c).zip(a) {
                    aw.fill(ah);
                }
                let oj = &mut ob[j * nf..][..nf];
                match msg.as_deref_mut() {
                    Some(m) => {
                        for ((((mc, oc), &vc), &ec), &ac) in m[p..p + nf]
                            .iter_mut()
                            .zip(oj.iter_mut())
                            .zip(vi)
                            .zip(e1)
                            .zip(&a_wide)
                        {
                            let x = vc * ec * ac;
                            *mc = x;
                            *oc += x;
                        }
                    }
                    None => {
                        for (((oc, &vc), &ec), &ac) in oj.iter_mut().zip(vi).zip(e1).zip(&a_wide) {
                            *oc += vc * ec * ac;
                        }
                    }
                }
            }
        }
    }
    AttnSaved {
        alpha,
        logits: logits_keep,
    }
}

/// Where the attention backward writes its gradients (every entry: the loops zero what
/// they do not reach).
pub(crate) struct AttnGrads<'a, T> {
    /// `[B, n, nf]`.
    pub dq: &'a mut [T],
    /// `[B, n, nf]`.
    pub dk: &'a mut [T],
    /// `[B, n, nf]`.
    pub dv: &'a mut [T],
    /// `[B, n, n, 2nf]`: `∂E0 ‖ ∂E1` per pair, as `e` is laid out.
    pub de: &'a mut [T],
}

/// Attention backward from `g_out: [B, n, nf]` and, if the messages were used, `g_msg:
/// [B, n, n, nf]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attention_backward_impl<T: Real>(
    d: Dims,
    q: &[T],
    k: &[T],
    v: &[T],
    e: &[T],
    edge: &[bool],
    saved: &AttnSaved<T>,
    g_out: &[T],
    g_msg: Option<&[T]>,
    grads: AttnGrads<'_, T>,
) {
    let (n, hh, c, nf) = (d.n, d.h, d.c, d.nf());
    let scale = T::from_f64((c as f64).sqrt());
    let lim = T::from_f64(5.0);
    let AttnGrads { dq, dk, dv, de } = grads;
    dq.fill(T::ZERO);
    dk.fill(T::ZERO);
    dv.fill(T::ZERO);
    // one graph's ∂α, then ∂logit, `[n(i), n(j), H]`
    let mut dalpha = vec![T::ZERO; n * n * hh];
    let mut g = vec![T::ZERO; nf];
    let mut prod = vec![T::ZERO; nf];
    // a per-head factor broadcast over the head's channels
    let mut wide = vec![T::ZERO; nf];
    // per head: Σ α ∂α over a target's sources
    let mut s_dot = vec![T::ZERO; hh];
    // As in the forward: the pair loops source-major, the softmax per target.
    for b in 0..d.b {
        let is_edge = |i: usize, j: usize| edge[(b * n + i) * n + j];
        // ∂α and the gradients of v and E1 (whole rows, then a sum per head)
        for i in 0..n {
            let vi = &v[(b * n + i) * nf..][..nf];
            for j in 0..n {
                let p = ((b * n + i) * n + j) * nf;
                let pe = 2 * p;
                if !is_edge(i, j) {
                    de[pe..pe + 2 * nf].fill(T::ZERO);
                    continue;
                }
                let go = &g_out[(b * n + j) * nf..][..nf];
                match g_msg {
                    Some(gm) => {
                        for ((x, &a), &bb) in g.iter_mut().zip(go).zip(&gm[p..p + nf]) {
                            *x = a + bb;
                        }
                    }
                    None => g.copy_from_slice(go),
                }
                let a = &saved.alpha[((b * n + i) * n + j) * hh..][..hh];
                for (w, &ah) in wide.chunks_exact_mut(c).zip(a) {
                    w.fill(ah);
                }
                let dvi = &mut dv[(b * n + i) * nf..][..nf];
                let e1 = &e[pe + nf..][..nf];
                let de1 = &mut de[pe + nf..][..nf];
                for ((((((&gc, &vc), dvc), &ec), dec), pc), &ac) in g
                    .iter()
                    .zip(vi)
                    .zip(dvi.iter_mut())
                    .zip(e1)
                    .zip(de1.iter_mut())
                    .zip(prod.iter_mut())
                    .zip(&wide)
                {
                    let gv = gc * vc;
                    *pc = gv * ec;
                    *dvc += gc * ec * ac;
                    *dec = gv * ac;
                }
                for (h, da) in dalpha[(i * n + j) * hh..][..hh].iter_mut().enumerate() {
                    *da = sum_lanes(&prod[h * c..(h + 1) * c]);
                }
            }
        }
        // softmax backward: ∂logit = α(∂α − Σ α ∂α), then the 1/√C of the logit; all heads
        // at once, per head the sum over the sources in order
        for j in 0..n {
            s_dot.fill(T::ZERO);
            for i in (0..n).filter(|&i| is_edge(i, j)) {
                let a = &saved.alpha[((b * n + i) * n + j) * hh..][..hh];
                for ((s, &a), &da) in s_dot
                    .iter_mut()
                    .zip(a)
                    .zip(&dalpha[(i * n + j) * hh..][..hh])
                {
                    *s += a * da;
                }
            }
            for i in (0..n).filter(|&i| is_edge(i, j)) {
                let idx = ((b * n + i) * n + j) * hh;
                let a = &saved.alpha[idx..][..hh];
                let da = &mut dalpha[(i * n + j) * hh..][..hh];
                for ((da, &a), &s) in da.iter_mut().zip(a).zip(&s_dot) {
                    *da = a * (*da - s);
                }
                if let Some(l) = &saved.logits {
                    for (da, &l) in da.iter_mut().zip(&l[idx..][..hh]) {
                        if l > lim || l < -lim {
                            *da = T::ZERO;
                        }
                    }
                }
                for da in da.iter_mut() {
                    *da = *da / scale;
                }
            }
        }
        // gradients of q, k and E0
        for i in 0..n {
            let ki = &k[(b * n + i) * nf..][..nf];
            let dki = &mut dk[(b * n + i) * nf..][..nf];
            for j in (0..n).filter(|&j| is_edge(i, j)) {
                let pe = ((b * n + i) * n + j) * 2 * nf;
                for (w, &f) in wide
                    .chunks_exact_mut(c)
                    .zip(&dalpha[(i * n + j) * hh..][..hh])
                {
                    w.fill(f);
                }
                let qj = &q[(b * n + j) * nf..][..nf];
                let dqj = &mut dq[(b * n + j) * nf..][..nf];
                let e0 = &e[pe..][..nf];
                let de0 = &mut de[pe..][..nf];
                for ((((((&qc, &kc), &ec), dec), dqc), dkc), &f) in qj
                    .iter()
                    .zip(ki.iter())
                    .zip(e0)
                    .zip(de0.iter_mut())
                    .zip(dqj.iter_mut())
                    .zip(dki.iter_mut())
                    .zip(&wide)
                {
                    *dec = f * qc * kc;
                    *dqc += f * kc * ec;
                    *dkc += f * qc * ec;
                }
            }
        }
    }
}

/// Position aggregation forward: `out[b, j] = Σ_{i → j} pos[b, i] ⊙ lp[b, i, j] / count[b, j]`
/// (`pos: [B, n, p]`, `lp: [B, n, n, p]`, `count`: in-degrees at least 1, `[B, n]`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn positions_forward_impl<T: Real>(
    b: usize,
    n: usize,
    pc: usize,
    pos: &[T],
    lp: &[T],
    edge: &[bool],
    count: &[T],
    out: &mut [T],
) {
    out.fill(T::ZERO);
    for g in 0..b {
        for j in 0..n {
            let o = &mut out[(g * n + j) * pc..(g * n + j + 1) * pc];
            for i in (0..n).filter(|&i| edge[(g * n + i) * n + j]) {
                let p = ((g * n + i) * n + j) * pc;
                for ((oc, &a), &l) in o
                    .iter_mut()
                    .zip(&pos[(g * n + i) * pc..(g * n + i + 1) * pc])
                    .zip(&lp[p..p + pc])
                {
                    *oc += a * l;
                }
            }
            let cnt = count[g * n + j];
            o.iter_mut().for_each(|x| *x = *x / cnt);
        }
    }
}

/// Position aggregation backward from `grad: [B, n, p]`: writes `∂pos: [B, n, p]` and
/// `∂lp: [B, n, n, p]` (0 off the edges).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn positions_backward_impl<T: Real>(
    b: usize,
    n: usize,
    pc: usize,
    pos: &[T],
    lp: &[T],
    edge: &[bool],
    count: &[T],
    grad: &[T],
    dpos: &mut [T],
    dlp: &mut [T],
) {
    dpos.fill(T::ZERO);
    let mut gj = vec![T::ZERO; pc];
    for g in 0..b {
        for j in 0..n {
            let cnt = count[g * n + j];
            for (x, &y) in gj
                .iter_mut()
                .zip(&grad[(g * n + j) * pc..(g * n + j + 1) * pc])
            {
                *x = y / cnt;
            }
            for i in 0..n {
                let p = ((g * n + i) * n + j) * pc;
                if !edge[(g * n + i) * n + j] {
                    dlp[p..p + pc].fill(T::ZERO);
                    continue;
                }
                let pi = &pos[(g * n + i) * pc..(g * n + i + 1) * pc];
                for ((x, &a), &gg) in dlp[p..p + pc].iter_mut().zip(pi).zip(&gj) {
                    *x = a * gg;
                }
                let dpi = &mut dpos[(g * n + i) * pc..(g * n + i + 1) * pc];
                for ((x, &l), &gg) in dpi.iter_mut().zip(&lp[p..p + pc]).zip(&gj) {
                    *x += l * gg;
                }
            }
        }
    }
}

/// `Σ x` with eight partial sums (a sum in one accumulator does not vectorise: float
/// addition is not reassociated).
#[inline(always)]
fn sum_lanes<T: Real>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let mut chunks = x.chunks_exact(8);
    for ch in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += v;
        }
    }
    let mut rest = T::ZERO;
    for &v in chunks.remainder() {
        rest += v;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + rest
}

/// `x·σ(x)`.
#[inline(always)]
fn silu<T: Real>(x: T) -> T {
    x / (T::ONE + (-x).exp())
}

/// The scale of the edge update: one factor for every pair, or per entry (dropout).
pub(crate) enum EdgeScale<'a, T> {
    /// `1/√2` everywhere (eval).
    Uniform(T),
    /// The dropout keep flags (0 or 1, `[B, n, n, nf]`) and the scale of a kept entry
    /// (`1/(1 − p)` times the factor `1/√2`, rounded once): the entry's scale is
    /// `flag·scale`.
    PerEntry(&'a [u8], T),
}

/// Edge update forward: `out[b, i, j] = (dense[b, i, j] + SiLU(ua[b, j] + ub[b, i]))·m`
/// (`ua, ub: [B, n, d]`, `dense: [B, n, n, d]`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn edge_update_forward_impl<T: Real>(
    b: usize,
    n: usize,
    dd: usize,
    dense: &[T],
    ua: &[T],
    ub: &[T],
    scale: &EdgeScale<'_, T>,
    out: &mut [T],
) {
    for g in 0..b {
        for i in 0..n {
            let ubi = &ub[(g * n + i) * dd..(g * n + i + 1) * dd];
            for j in 0..n {
                let uaj = &ua[(g * n + j) * dd..(g * n + j + 1) * dd];
                let p = ((g * n + i) * n + j) * dd;
                let o = &mut out[p..p + dd];
                let e = &dense[p..p + dd];
                match scale {
                    EdgeScale::Uniform(s) => {
                        for (((oc, &ec), &a), &bb) in o.iter_mut().zip(e).zip(uaj).zip(ubi) {
                            *oc = (ec + silu(a + bb)) * *s;
                        }
                    }
                    EdgeScale::PerEntry(m, f) => {
                        for ((((oc, &ec), &a), &bb), &mc) in
                            o.iter_mut().zip(e).zip(uaj).zip(ubi).zip(&m[p..p + dd])
                        {
                            *oc = (ec + silu(a + bb)) * (T::from_flag(mc) * *f);
                        }
                    }
                }
            }
        }
    }
}

/// Rows `out[r] = x[r]·u + c[g(r)] + q[s[r]]` of width `d = u.len()`, with `g(r) = r /
/// per_graph` the row's graph (`c: [B, d]`) and `s[r]` its class (`q: [K, d]`).
///
/// Why: the network's first dense edge features are such rows (`[x·wx + bx + te0_b ‖
/// table[s] + te1_b]`), and so are their products with the first layer's `[W0; W1]`
/// (`x·(A wx) + (A(bx + te0_b) + B te1_b) + (table Bᵀ)[s]` for `[W0; W1] = [A | B]`): the
/// first layer's edge projections need no matrix product over the pairs.
#[inline(always)]
fn affine_rows_impl<T: Real>(
    per_graph: usize,
    x: &[T],
    s: &[i64],
    u: &[T],
    c: &[T],
    q: &[T],
    out: &mut [T],
) {
    let d = u.len();
    for (r, (o, (&xr, &sr))) in out.chunks_exact_mut(d).zip(x.iter().zip(s)).enumerate() {
        let cg = &c[r / per_graph * d..][..d];
        let qs = &q[sr as usize * d..][..d];
        for (((oc, &uc), &cc), &qc) in o.iter_mut().zip(u).zip(cg).zip(qs) {
            *oc = xr * uc + cc + qc;
        }
    }
}

/// Where [`reduce_rows`] writes (every entry).
pub(crate) struct RowSums<'a, T> {
    /// `Σ_r x[r]·g[r]`, `[d]`.
    pub by_value: &'a mut [T],
    /// `Σ_{r of graph b} g[r]`, `[B, d]`.
    pub by_graph: &'a mut [T],
    /// `Σ_{r: s[r] = k} g[r]`, `[K, d]`.
    pub by_class: &'a mut [T],
}

/// The sums of the rows `g: [R, d]` that the gradient of [`affine_rows`]' inputs (`u`, `c`,
/// `q`) is made of (`d = by_value.len()`).
#[inline(always)]
fn reduce_rows_impl<T: Real>(per_graph: usize, x: &[T], s: &[i64], g: &[T], sums: RowSums<'_, T>) {
    let RowSums {
        by_value,
        by_graph,
        by_class,
    } = sums;
    let d = by_value.len();
    by_value.fill(T::ZERO);
    by_graph.fill(T::ZERO);
    by_class.fill(T::ZERO);
    for (r, (gr, (&xr, &sr))) in g.chunks_exact(d).zip(x.iter().zip(s)).enumerate() {
        let bg = &mut by_graph[r / per_graph * d..][..d];
        for ((v, b), &gc) in by_value.iter_mut().zip(bg.iter_mut()).zip(gr) {
            *v += xr * gc;
            *b += gc;
        }
        for (k, &gc) in by_class[sr as usize * d..][..d].iter_mut().zip(gr) {
            *k += gc;
        }
    }
}

/// The number of pairs `i ≤ j` of `n` nodes (the packed layout of a symmetric pair tensor).
pub(crate) fn packed_pairs(n: usize) -> usize {
    n * (n + 1) / 2
}

/// Row of the pair `(i, j)`, `i ≤ j`, in the packed upper triangle of `n` nodes.
#[inline(always)]
pub(crate) fn packed_row(n: usize, i: usize, j: usize) -> usize {
    // rows 0..i hold n, n − 1, …, n − i + 1 pairs
    i * n - i * (i + 1) / 2 + j
}

/// Edge update of a symmetric pair tensor stored as its upper triangle (`[B, n(n+1)/2, d]`,
/// rows by [`packed_row`]), without dropout: for `i ≤ j`,
/// `out = (dense + SiLU(ua_j + ub_i))·scale` (evaluation of a symmetric state, where the
/// pair `(j, i)` has the same value).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn edge_update_packed_impl<T: Real>(
    b: usize,
    n: usize,
    dd: usize,
    dense: &[T],
    ua: &[T],
    ub: &[T],
    scale: T,
    out: &mut [T],
) {
    let u = packed_pairs(n);
    for g in 0..b {
        for i in 0..n {
            let ubi = &ub[(g * n + i) * dd..(g * n + i + 1) * dd];
            for j in i..n {
                let uaj = &ua[(g * n + j) * dd..(g * n + j + 1) * dd];
                let p = (g * u + packed_row(n, i, j)) * dd;
                for (((oc, &e), &a), &bb) in out[p..p + dd]
                    .iter_mut()
                    .zip(&dense[p..p + dd])
                    .zip(uaj)
                    .zip(ubi)
                {
                    *oc = (e + silu(a + bb)) * scale;
                }
            }
        }
    }
}

/// Edge update backward from `grad: [B, n, n, d]`: writes `∂dense: [B, n, n, d]`,
/// `∂ua, ∂ub: [B, n, d]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn edge_update_backward_impl<T: Real>(
    b: usize,
    n: usize,
    dd: usize,
    ua: &[T],
    ub: &[T],
    scale: &EdgeScale<'_, T>,
    grad: &[T],
    ddense: &mut [T],
    dua: &mut [T],
    dub: &mut [T],
) {
    dua.fill(T::ZERO);
    dub.fill(T::ZERO);
    let (flags, factor) = match scale {
        EdgeScale::Uniform(s) => (vec![1u8; dd], *s),
        EdgeScale::PerEntry(_, f) => (Vec::new(), *f),
    };
    for g in 0..b {
        for i in 0..n {
            let ubi = &ub[(g * n + i) * dd..(g * n + i + 1) * dd];
            let dubi = &mut dub[(g * n + i) * dd..(g * n + i + 1) * dd];
            for j in 0..n {
                let p = ((g * n + i) * n + j) * dd;
                let uaj = &ua[(g * n + j) * dd..(g * n + j + 1) * dd];
                let duaj = &mut dua[(g * n + j) * dd..(g * n + j + 1) * dd];
                let m = match scale {
                    EdgeScale::Uniform(_) => flags.as_slice(),
                    EdgeScale::PerEntry(m, _) => &m[p..p + dd],
                };
                for (((((dc, &gc), &mc), (&a, &bb)), dac), dbc) in ddense[p..p + dd]
                    .iter_mut()
                    .zip(&grad[p..p + dd])
                    .zip(m)
                    .zip(uaj.iter().zip(ubi))
                    .zip(duaj.iter_mut())
                    .zip(dubi.iter_mut())
                {
                    let gg = gc * (T::from_flag(mc) * factor);
                    *dc = gg;
                    let x = a + bb;
                    let sg = T::ONE / (T::ONE + (-x).exp());
                    let dpre = gg * (sg * (T::ONE + x * (T::ONE - sg)));
                    *dac += dpre;
                    *dbc += dpre;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind, Tensor};

    fn rand_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
        (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn t(v: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).view(shape).set_requires_grad(true)
    }

    fn vals(x: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&x.detach().contiguous().view([-1])).unwrap()
    }

    fn close(a: &[f64], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        let m = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
        let e = a
            .iter()
            .zip(b)
            .fold(0.0f64, |e, (x, y)| e.max((x - y).abs()));
        assert!(
            e <= 1e-12 * m.max(1.0),
            "{what}: max error {e:e} (max {m:e})"
        );
    }

    /// The attention as libtorch ops (the layer's autograd formulation).
    #[allow(clippy::too_many_arguments)]
    fn reference(
        d: Dims,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        e0: &Tensor,
        e1: &Tensor,
        edge: &Tensor,
        clamp: bool,
    ) -> (Tensor, Tensor) {
        let (b, n, hh, c) = (d.b as i64, d.n as i64, d.h as i64, d.c as i64);
        let qg = q.view([b, 1, n, hh, c]);
        let kg = k.view([b, n, 1, hh, c]);
        let vg = v.view([b, n, 1, hh, c]);
        let mut logits = ((qg * kg) * e0.view([b, n, n, hh, c])).sum_dim_intlist(
            [-1i64].as_slice(),
            false,
            Kind::Double,
        ) / (c as f64).sqrt();
        if clamp {
            logits = logits.clamp(-5.0, 5.0);
        }
        let mask = edge.view([b, n, n, 1]);
        let not = mask.logical_not();
        let mx = tch::no_grad(|| {
            let m = logits
                .detach()
                .masked_fill(&not, f64::NEG_INFINITY)
                .amax([1i64].as_slice(), true);
            m.masked_fill(&m.isinf(), 0.0)
        });
        let ex = (&logits - mx).masked_fill(&not, 0.0).exp() * mask.to_kind(Kind::Double);
        let alpha = &ex / (ex.sum_dim_intlist([1i64].as_slice(), true, Kind::Double) + 1e-16);
        let msg = (vg * e1.view([b, n, n, hh, c])) * alpha.unsqueeze(-1);
        let out = msg.sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
        (out.view([b, n, hh * c]), msg.view([b, n, n, hh * c]))
    }

    #[test]
    fn packed_rows_enumerate_the_upper_triangle() {
        for n in 1..7 {
            let rows: Vec<usize> = (0..n)
                .flat_map(|i| (i..n).map(move |j| packed_row(n, i, j)))
                .collect();
            assert_eq!(rows, (0..packed_pairs(n)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn exp_f32_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp_f32(x));
            worst = worst.max((got - want).abs() / want);
            x += 0.0137;
        }
        assert!(worst < 2e-7, "relative error {worst:e}");
        assert!(exp_f32(-200.0) >= 0.0 && exp_f32(200.0).is_finite());
    }

    /// `exp_f32` with `2^k` from the float-to-integer conversion (its first form).
    fn exp_f32_by_conversion(x: f32) -> f32 {
        let x = x.clamp(-87.336_54, 88.0);
        let k = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
        let r = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
            * r
            + 0.166_666_65)
            * r
            + 0.5;
        (p * (r * r) + r + 1.0) * f32::from_bits(((k as i32 + 127) as u32) << 23)
    }

    #[test]
    fn exp_f32_takes_the_power_of_two_from_the_bits_exactly() {
        // floats in [−90, 90] 2¹⁰ apart (their low bits varied), and the clamped ends
        for bits in (0..u32::MAX).step_by(1 << 10) {
            let x = f32::from_bits(bits | (bits >> 20 & 63));
            if x.abs() <= 90.0 {
                assert_eq!(
                    exp_f32(x).to_bits(),
                    exp_f32_by_conversion(x).to_bits(),
                    "{x}"
                );
            }
        }
        for x in [-1e30f32, -87.336_54, 88.0, 1e30, f32::MIN, f32::MAX] {
            assert_eq!(
                exp_f32(x).to_bits(),
                exp_f32_by_conversion(x).to_bits(),
                "{x}"
            );
        }
    }

    #[test]
    fn attention_matches_autograd() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (clamp, with_msg) in [(false, true), (true, true), (false, false)] {
            let d = Dims {
                b: 2,
                n: 5,
                h: 2,
                c: 3,
            };
            let nf = d.h * d.c;
            let (nn, pp) = (d.b * d.n * nf, d.b * d.n * d.n * nf);
            let scale = if clamp { 4.0 } else { 1.0 };
            let qv: Vec<f64> = rand_vec(&mut rng, nn).iter().map(|x| x * scale).collect();
            let kv = rand_vec(&mut rng, nn);
            let vv = rand_vec(&mut rng, nn);
            let e0v: Vec<f64> = rand_vec(&mut rng, pp).iter().map(|x| x * scale).collect();
            let e1v = rand_vec(&mut rng, pp);
            // a node (j = 3 of graph 1) without incoming edges
            let edge: Vec<bool> = (0..d.b * d.n * d.n)
                .map(|p| {
                    let (g, j) = (p / (d.n * d.n), p % d.n);
                    !(g == 1 && j == 3) && rng.gen_bool(0.7)
                })
                .collect();
            let (b, n) = (d.b as i64, d.n as i64);
            let (q, k, v) = (
                t(&qv, &[b, n, nf as i64]),
                t(&kv, &[b, n, nf as i64]),
                t(&vv, &[b, n, nf as i64]),
            );
            let (e0, e1) = (
                t(&e0v, &[b, n, n, nf as i64]),
                t(&e1v, &[b, n, n, nf as i64]),
            );
            let edge_t = Tensor::from_slice(&edge).view([b, n, n]);
            let (out_r, msg_r) = reference(d, &q, &k, &v, &e0, &e1, &edge_t, clamp);
            // E0 ‖ E1 per pair, as the product with [W0; W1] lays them out
            let ev: Vec<f64> = e0v
                .chunks(nf)
                .zip(e1v.chunks(nf))
                .flat_map(|(a, b)| a.iter().chain(b).copied())
                .collect();
            // the outputs start as garbage: every entry must be written
            let mut out = vec![f64::NAN; nn];
            let mut msg = vec![f64::NAN; pp];
            let saved = attention_forward(
                d,
                &qv,
                &kv,
                &vv,
                &ev,
                None,
                &edge,
                clamp,
                &mut out,
                with_msg.then_some(msg.as_mut_slice()),
            );
            close(&out, &vals(&out_r), "out");
            if with_msg {
                close(&msg, &vals(&msg_r), "msg");
            }
            let go = rand_vec(&mut rng, nn);
            let gm = rand_vec(&mut rng, pp);
            let mut root =
                (&out_r * Tensor::from_slice(&go).view([b, n, nf as i64])).sum(Kind::Double);
            if with_msg {
                root +=
                    (&msg_r * Tensor::from_slice(&gm).view([b, n, n, nf as i64])).sum(Kind::Double);
            }
            let want = Tensor::run_backward(&[&root], &[&q, &k, &v, &e0, &e1], false, false);
            let (mut dq, mut dk, mut dv) =
                (vec![f64::NAN; nn], vec![f64::NAN; nn], vec![f64::NAN; nn]);
            let mut de = vec![f64::NAN; 2 * pp];
            attention_backward(
                d,
                &qv,
                &kv,
                &vv,
                &ev,
                &edge,
                &saved,
                &go,
                with_msg.then_some(gm.as_slice()),
                AttnGrads {
                    dq: &mut dq,
                    dk: &mut dk,
                    dv: &mut dv,
                    de: &mut de,
                },
            );
            let de0: Vec<f64> = de.chunks(2 * nf).flat_map(|r| r[..nf].to_vec()).collect();
            let de1: Vec<f64> = de.chunks(2 * nf).flat_map(|r| r[nf..].to_vec()).collect();
            for (name, got, w) in [
                ("dq", &dq, &want[0]),
                ("dk", &dk, &want[1]),
                ("dv", &dv, &want[2]),
                ("de0", &de0, &want[3]),
                ("de1", &de1, &want[4]),
            ] {
                close(got, &vals(w), name);
            }
        }
    }

    #[test]
    fn affine_rows_and_their_sums_match_autograd() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (b, per, d, k) = (3usize, 4usize, 5usize, 3usize);
        let r = b * per;
        let xv = rand_vec(&mut rng, r);
        let sv: Vec<i64> = (0..r).map(|_| rng.gen_range(0..k as i64)).collect();
        let (uv, cv, qv) = (
            rand_vec(&mut rng, d),
            rand_vec(&mut rng, b * d),
            rand_vec(&mut rng, k * d),
        );
        let (u, c, q) = (
            t(&uv, &[d as i64]),
            t(&cv, &[b as i64, d as i64]),
            t(&qv, &[k as i64, d as i64]),
        );
        let graph: Vec<i64> = (0..r).map(|i| (i / per) as i64).collect();
        let want = Tensor::from_slice(&xv).unsqueeze(1) * &u
            + c.index_select(0, &Tensor::from_slice(&graph))
            + q.index_select(0, &Tensor::from_slice(&sv));
        let mut got = vec![f64::NAN; r * d];
        affine_rows(per, &xv, &sv, &uv, &cv, &qv, &mut got);
        close(&got, &vals(&want), "rows");
        // the sums give the gradients of u, c and q
        let g = rand_vec(&mut rng, r * d);
        let root = (&want * Tensor::from_slice(&g).view([r as i64, d as i64])).sum(Kind::Double);
        let w = Tensor::run_backward(&[&root], &[&u, &c, &q], false, false);
        let (mut bv, mut bg, mut bc) = (
            vec![f64::NAN; d],
            vec![f64::NAN; b * d],
            vec![f64::NAN; k * d],
        );
        reduce_rows(
            per,
            &xv,
            &sv,
            &g,
            RowSums {
                by_value: &mut bv,
                by_graph: &mut bg,
                by_class: &mut bc,
            },
        );
        close(&bv, &vals(&w[0]), "by value");
        close(&bg, &vals(&w[1]), "by graph");
        close(&bc, &vals(&w[2]), "by class");
    }

    #[test]
    fn positions_and_edge_update_match_autograd() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (b, n, pc) = (2usize, 4usize, 3usize);
        let edge: Vec<bool> = (0..b * n * n).map(|_| rng.gen_bool(0.6)).collect();
        let edge_t = Tensor::from_slice(&edge).view([b as i64, n as i64, n as i64]);
        let count = edge_t
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
            .clamp_min(1.0);
        let countv = vals(&count);
        let posv = rand_vec(&mut rng, b * n * pc);
        let lpv = rand_vec(&mut rng, b * n * n * pc);
        let (bi, ni, pi) = (b as i64, n as i64, pc as i64);
        let pos = t(&posv, &[bi, ni, pi]);
        let lp = t(&lpv, &[bi, ni, ni, pi]);
        let lpm = &lp * edge_t.unsqueeze(-1).to_kind(Kind::Double);
        let want = (pos.view([bi, ni, 1, pi]) * lpm).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        ) / count.unsqueeze(-1);
        let mut got = vec![f64::NAN; b * n * pc];
        positions_forward(b, n, pc, &posv, &lpv, &edge, &countv, &mut got);
        close(&got, &vals(&want), "positions");
        let g = rand_vec(&mut rng, b * n * pc);
        let root = (&want * Tensor::from_slice(&g).view([bi, ni, pi])).sum(Kind::Double);
        let w = Tensor::run_backward(&[&root], &[&pos, &lp], false, false);
        let (mut dpos, mut dlp) = (vec![f64::NAN; b * n * pc], vec![f64::NAN; b * n * n * pc]);
        positions_backward(
            b, n, pc, &posv, &lpv, &edge, &countv, &g, &mut dpos, &mut dlp,
        );
        close(&dpos, &vals(&w[0]), "dpos");
        close(&dlp, &vals(&w[1]), "dlp");

        let dd = 3usize;
        let di = dd as i64;
        let densev = rand_vec(&mut rng, b * n * n * dd);
        let uav: Vec<f64> = rand_vec(&mut rng, b * n * dd)
            .iter()
            .map(|x| 3.0 * x)
            .collect();
        let ubv = rand_vec(&mut rng, b * n * dd);
        let flags: Vec<u8> = (0..b * n * n * dd)
            .map(|_| u8::from(rng.gen_bool(0.9)))
            .collect();
        let maskv: Vec<f64> = flags.iter().map(|&f| 1.25 * f64::from(f)).collect();
        for per_entry in [false, true] {
            let (dense, ua, ub) = (
                t(&densev, &[bi, ni, ni, di]),
                t(&uav, &[bi, ni, di]),
                t(&ubv, &[bi, ni, di]),
            );
            let pre = ua.view([bi, 1, ni, di]) + ub.view([bi, ni, 1, di]);
            let sum = &dense + pre.silu();
            let (want, scale) = if per_entry {
                (
                    sum * (Tensor::from_slice(&maskv).view([bi, ni, ni, di]) * 0.5),
                    EdgeScale::PerEntry(flags.as_slice(), 1.25 * 0.5),
                )
            } else {
                (
                    sum / std::f64::consts::SQRT_2,
                    EdgeScale::Uniform(1.0 / std::f64::consts::SQRT_2),
                )
            };
            let mut got = vec![f64::NAN; b * n * n * dd];
            edge_update_forward(b, n, dd, &densev, &uav, &ubv, &scale, &mut got);
            close(&got, &vals(&want), "edge update");
            let g = rand_vec(&mut rng, b * n * n * dd);
            let root = (&want * Tensor::from_slice(&g).view([bi, ni, ni, di])).sum(Kind::Double);
            let w = Tensor::run_backward(&[&root], &[&dense, &ua, &ub], false, false);
            let mut dde = vec![f64::NAN; b * n * n * dd];
            let (mut dua, mut dub) = (vec![f64::NAN; b * n * dd], vec![f64::NAN; b * n * dd]);
            edge_update_backward(
                b, n, dd, &uav, &ubv, &scale, &g, &mut dde, &mut dua, &mut dub,
            );
            close(&dde, &vals(&w[0]), "ddense");
            close(&dua, &vals(&w[1]), "dua");
            close(&dub, &vals(&w[2]), "dub");
        }
        let _ = Device::Cpu;
    }
}
