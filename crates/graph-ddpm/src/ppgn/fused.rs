//! The PPGN's eval-mode forward on graphs without padding, float32 on the CPU: what the
//! samplers run 32 times per graph.
//!
//! The matrix products stay libtorch's (MKL); the element-wise work between them is a few
//! hand-written loops on the tensors' memory, each one pass instead of libtorch's several
//! (a profile of sampling 1024 Community-small graphs put the broadcast bias copies of
//! `addmm`, the instance norm and the LeakyReLUs at about 30 % of the time):
//!
//! * the first layer is computed in closed form when the input is a binary adjacency with an
//!   empty diagonal (every sampler state): see [`Layer0`];
//! * the first products of `m1` and `m2` are written into one buffer `[hid₁; 1; hid₂]` and
//!   take their bias and LeakyReLU there in one pass, so the second layers' biases ride in
//!   their matrix products (`[W | b]·[hid₁; 1]`, `[b | W]·[1; hid₂]`);
//! * `m4`'s bias is dropped: the instance norm that follows subtracts each channel's mean
//!   over the graph, so a per-channel constant cancels exactly (in real arithmetic; in float
//!   it only removes a rounding);
//! * `m4`'s product half accumulates in place onto its `x`-half, and the instance norm
//!   (biased variance, eps 1e-5, per graph and channel over the `n²` entries) runs in place;
//! * the head's `x + LeakyReLU(after_conv(x))` is one pass.
//!
//! The arithmetic is [`Powerful::forward`]'s on an unpadded batch up to float rounding
//! (`tests` below compare them). Nothing here is differentiable: it serves the samplers, which
//! never take a gradient; training keeps the autograd forward.
//!
//! The loops run through graph-tensor's `simd_fn!`, which compiles them inside `pulp`'s
//! run-time dispatch for the best instruction set the CPU has, so that they vectorise.

use tch::{Device, Kind, Tensor};

use super::{Powerful, LEAKY_SLOPE, NORM_EPS};
use crate::error::{input_err, Result};

graph_tensor::simd_fn! {
    /// See [`input_map_impl`].
    fn input_map<'a>(
        adj: &'a [f32], n: usize, levels: &'a [f32], w: &'a [f32], bias: &'a [f32],
        out: &'a mut [f32],
    ) -> () => input_map_impl
}

graph_tensor::simd_fn! {
    /// See [`layer0_map_impl`].
    fn layer0_map<'a>(
        adj: &'a [f32], a2: &'a [f32], n: usize, deg_row: &'a [f32], deg_col: &'a [f32],
        k: &'a [f32], out: &'a mut [f32],
    ) -> () => layer0_map_impl
}

graph_tensor::simd_fn! {
    /// See [`bias_leaky_impl`].
    fn bias_leaky<'a>(hid: &'a mut [f32], b1: &'a [f32], b2: &'a [f32]) -> () => bias_leaky_impl
}

graph_tensor::simd_fn! {
    /// See [`instance_norm_impl`].
    fn instance_norm<'a>(y: &'a mut [f32], len: usize) -> () => instance_norm_impl
}

graph_tensor::simd_fn! {
    /// See [`residual_leaky_impl`].
    fn residual_leaky<'a>(x: &'a [f32], y: &'a mut [f32], bias: &'a [f32]) -> () => residual_leaky_impl
}

#[inline(always)]
fn leaky(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        v * LEAKY_SLOPE as f32
    }
}

/// A linear map of the input `u⁰ = [A, β̄·I]` (`w: [C, 2]` row-major, `bias: [C]`) into
/// `out: [C, B·n²]`: `W₀·A + W₁·β̄_b·[i = j] + b`, summed in the order of the autograd
/// forward (`(W₀A + W₁β̄δ) + b`). `adj: [B, n, n]`, `levels: [B]`.
#[inline(always)]
fn input_map_impl(adj: &[f32], n: usize, levels: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    let e = adj.len();
    let nn = n * n;
    for (c, row) in out.chunks_exact_mut(e).enumerate() {
        let (w0, w1, b) = (w[2 * c], w[2 * c + 1], bias[c]);
        for (o, &a) in row.iter_mut().zip(adj) {
            *o = w0 * a + b;
        }
        for (g, &lvl) in levels.iter().enumerate() {
            for i in 0..n {
                let k = g * nn + i * n + i;
                row[k] = (w0 * adj[k] + w1 * lvl) + b;
            }
        }
    }
}

/// The first layer's `y` from its closed form (see [`Layer0`]): per channel `c`, graph `b`
/// and entry `(i, j)`, `k_r·deg_i + k_c·deg_j + k_2·(A²)_ij + k_A·A_ij + k_I·[i = j]` with
/// the graph's coefficients `k[b] = [k_r; k_c; k_2; k_A; k_I]` (`[B, 5, C]`); `out: [C, B·n²]`.
#[inline(always)]
fn layer0_map_impl(
    adj: &[f32],
    a2: &[f32],
    n: usize,
    deg_row: &[f32],
    deg_col: &[f32],
    k: &[f32],
    out: &mut [f32],
) {
    let e = adj.len();
    let nn = n * n;
    let b_count = e / nn;
    let h = out.len() / e;
    for (c, row) in out.chunks_exact_mut(e).enumerate() {
        for g in 0..b_count {
            let kg = &k[g * 5 * h..(g + 1) * 5 * h];
            let (kr, kc, k2, ka, ki) = (
                kg[c],
                kg[h + c],
                kg[2 * h + c],
                kg[3 * h + c],
                kg[4 * h + c],
            );
            let dc = &deg_col[g * n..(g + 1) * n];
            for i in 0..n {
                let base = g * nn + i * n;
                let ri = kr * deg_row[g * n + i];
                let o = &mut row[base..base + n];
                for (((o, &a), &q), &d) in o
                    .iter_mut()
                    .zip(&adj[base..base + n])
                    .zip(&a2[base..base + n])
                    .zip(dc)
                {
                    *o = ri + kc * d + k2 * q + ka * a;
                }
                o[i] += ki;
            }
        }
    }
}

/// The hidden layers of `m1` and `m2` in place: `hid: [2C + 1, E]` holds `m1`'s first
/// products in rows `0..C`, `m2`'s in rows `C + 1..2C + 1`; each row becomes
/// `LeakyReLU(v + b[c])` with its layer's bias, and row `C` is set to ones (the input of the
/// second layers' bias column).
#[inline(always)]
fn bias_leaky_impl(hid: &mut [f32], b1: &[f32], b2: &[f32]) {
    let c = b1.len();
    let e = hid.len() / (2 * c + 1);
    let (first, rest) = hid.split_at_mut(c * e);
    let (ones, second) = rest.split_at_mut(e);
    for (rows, bias) in [(first, b1), (second, b2)] {
        for (row, &b) in rows.chunks_exact_mut(e).zip(bias) {
            for v in row.iter_mut() {
                *v = leaky(*v + b);
            }
        }
    }
    ones.fill(1.0);
}

/// `(Σ (v − s), Σ (v − s)²)` over `v` with 16 independent partial sums (so that it
/// vectorises), shifted by `s`.
#[inline(always)]
fn shifted_sums(v: &[f32], s: f32) -> (f32, f32) {
    let mut acc = [0f32; 16];
    let mut acc2 = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail = chunks.remainder();
    for ch in chunks {
        for ((a, a2), &x) in acc.iter_mut().zip(acc2.iter_mut()).zip(ch) {
            let d = x - s;
            *a += d;
            *a2 += d * d;
        }
    }
    let (mut t, mut t2) = (0.0, 0.0);
    for &x in tail {
        let d = x - s;
        t += d;
        t2 += d * d;
    }
    (t + acc.iter().sum::<f32>(), t2 + acc2.iter().sum::<f32>())
}

/// The instance norm in place over every row of `len` entries (one graph's channel):
/// `(y − μ)/√(σ² + ε)` with the biased variance, as `masked_instance_norm2D` on a block
/// without padding. The statistics take one pass, shifted by the row's first entry so that
/// `σ² = E[(y − s)²] − E[y − s]²` does not cancel catastrophically when `|μ| ≫ σ`.
#[inline(always)]
fn instance_norm_impl(y: &mut [f32], len: usize) {
    let inv_len = 1.0 / len as f32;
    for row in y.chunks_exact_mut(len) {
        let shift = row[0];
        let (s1, s2) = shifted_sums(row, shift);
        let m = s1 * inv_len;
        let var = (s2 * inv_len - m * m).max(0.0);
        let mean = shift + m;
        let r = 1.0 / (var + NORM_EPS as f32).sqrt();
        for v in row.iter_mut() {
            *v = (*v - mean) * r;
        }
    }
}

/// The head's residual: `y[c][k] = x[c][k] + LeakyReLU(y[c][k] + bias[c])`.
#[inline(always)]
fn residual_leaky_impl(x: &[f32], y: &mut [f32], bias: &[f32]) {
    let e = x.len() / bias.len();
    for ((yr, xr), &b) in y.chunks_exact_mut(e).zip(x.chunks_exact(e)).zip(bias) {
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = v + leaky(*o + b);
        }
    }
}

/// The floats of `t` (a contiguous float32 CPU tensor). The tensors viewed here are made
/// inside `Prepared::forward`, or are its input, which it only reads; none is written while
/// a view of it lives.
fn host(t: &Tensor) -> &[f32] {
    graph_tensor::host::host(t)
}

/// The floats of `t`, writable (see [`host`]).
fn host_mut(t: &mut Tensor) -> &mut [f32] {
    graph_tensor::host::host_mut(t)
}

/// A copy of a weight tensor's values in `T` (float32 for the loops, float64 for
/// [`Layer0`]'s coefficients).
fn to_vec<T: tch::kind::Element>(t: &Tensor) -> Vec<T> {
    let t = t.detach().to_kind(T::KIND).contiguous();
    let mut v = vec![T::ZERO; t.numel()];
    t.copy_data(&mut v, t.numel());
    v
}

fn leaky64(v: f64) -> f64 {
    if v > 0.0 {
        v
    } else {
        v * LEAKY_SLOPE
    }
}

/// `W·x + b` for a row-major `W: [rows, x.len()]`.
fn affine(w: &[f64], b: Option<&[f64]>, x: &[f64]) -> Vec<f64> {
    w.chunks_exact(x.len())
        .enumerate()
        .map(|(r, wr)| wr.iter().zip(x).map(|(a, v)| a * v).sum::<f64>() + b.map_or(0.0, |b| b[r]))
        .collect()
}

/// The first PowerfulLayer in closed form, for binary inputs with an empty diagonal.
///
/// Its input `x⁰ = in_lin([A, β̄I])` takes three values per graph: `v₀ = b` on a non-edge,
/// `v₁ = W₀ + b` on an edge, `v_d = W₁β̄ + b` on the diagonal. So do the outputs of `m1` and
/// `m2`, entry by entry: per channel, `P = αJ + βA + γI` (`α = p(v₀)`, `β = p(v₁) − p(v₀)`,
/// `γ = p(v_d) − p(v₀)`, `J` all ones) and `Q = α'J + β'A + γ'I`, whence
/// `PQ = (nαα' + αγ' + γα')J + αβ'·deg_j + βα'·deg_i + ββ'·A² + (βγ' + γβ')A + γγ'I`
/// (`JA` holds the column sums, `AJ` the row sums). Through `m4`,
/// `y = W_a·PQ/√n + W_b·x⁰` is a per-channel combination of `deg_i`, `deg_j`, `A²`, `A`, `I`
/// and a constant, which the instance norm removes (as it removes `m4`'s bias). The layer's
/// matrix products (about a sixth of the network's arithmetic) become `B` products `A·A`.
/// The coefficients are computed in float64 from the float32 weights.
struct Layer0 {
    h: usize,
    /// in_lin's level column `W₁` and bias.
    w1: Vec<f64>,
    in_b: Vec<f64>,
    m1: [Vec<f64>; 4],
    m2: [Vec<f64>; 4],
    /// m4's product half `W_a` and `x`-half `W_b`, `[h, h]` each.
    wa: Vec<f64>,
    wb: Vec<f64>,
    /// `(p, q, W_b·v)` at `v₀` and `v₁`, which do not depend on the level.
    at_v0: (Vec<f64>, Vec<f64>, Vec<f64>),
    at_v1: (Vec<f64>, Vec<f64>, Vec<f64>),
}

impl Layer0 {
    fn new(net: &Powerful) -> Self {
        let conv = &net.convs[0];
        let b = |l: &super::Linear| to_vec::<f64>(l.b.as_ref().expect("bias"));
        let h = net.shape.hidden;
        let in_w = to_vec::<f64>(&net.in_lin.w);
        let col = |k: usize| -> Vec<f64> { (0..h).map(|c| in_w[2 * c + k]).collect() };
        let w4 = to_vec::<f64>(&conv.m4.w);
        let half = |lo: usize| -> Vec<f64> {
            w4.chunks_exact(2 * h)
                .flat_map(|r| r[lo..lo + h].iter().copied())
                .collect()
        };
        let mut l0 = Self {
            h,
            w1: col(1),
            in_b: b(&net.in_lin),
            m1: [
                to_vec::<f64>(&conv.m1.0.w),
                b(&conv.m1.0),
                to_vec::<f64>(&conv.m1.1.w),
                b(&conv.m1.1),
            ],
            m2: [
                to_vec::<f64>(&conv.m2.0.w),
                b(&conv.m2.0),
                to_vec::<f64>(&conv.m2.1.w),
                b(&conv.m2.1),
            ],
            wa: half(0),
            wb: half(h),
            at_v0: Default::default(),
            at_v1: Default::default(),
        };
        let v0 = l0.in_b.clone();
        let v1: Vec<f64> = col(0).iter().zip(&v0).map(|(w, b)| w + b).collect();
        l0.at_v0 = l0.maps(&v0);
        l0.at_v1 = l0.maps(&v1);
        l0
    }

    /// `(p(v), q(v), W_b·v)` for a value `v` of `x⁰`.
    fn maps(&self, v: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mlp = |m: &[Vec<f64>; 4]| {
            let hid: Vec<f64> = affine(&m[0], Some(&m[1]), v)
                .into_iter()
                .map(leaky64)
                .collect();
            affine(&m[2], Some(&m[3]), &hid)
        };
        (mlp(&self.m1), mlp(&self.m2), affine(&self.wb, None, v))
    }

    /// The coefficients `[k_r; k_c; k_2; k_A; k_I]` of [`layer0_map`] per graph (`[B, 5, h]`,
    /// float32), for the float32 levels the network reads, with `inv_sqrt_n` the product's
    /// `1/√n`. Computed once per distinct level.
    fn coefficients(&self, levels: &[f32], inv_sqrt_n: f64) -> Vec<f32> {
        let mut done: Vec<(u32, Vec<f32>)> = Vec::new();
        let mut out = Vec::with_capacity(levels.len() * 5 * self.h);
        for &lvl in levels {
            if !done.iter().any(|(bits, _)| *bits == lvl.to_bits()) {
                done.push((lvl.to_bits(), self.coefficients_at(lvl, inv_sqrt_n)));
            }
            let (_, k) = done
                .iter()
                .find(|(bits, _)| *bits == lvl.to_bits())
                .expect("just computed");
            out.extend_from_slice(k);
        }
        out
    }

    fn coefficients_at(&self, level: f32, inv_sqrt_n: f64) -> Vec<f32> {
        let h = self.h;
        let vd: Vec<f64> = self
            .w1
            .iter()
            .zip(&self.in_b)
            .map(|(w, b)| w * f64::from(level) + b)
            .collect();
        let (p0, q0, x0) = &self.at_v0;
        let (p1, q1, x1) = &self.at_v1;
        let (pd, qd, xd) = self.maps(&vd);
        // Per product channel: coefficients of deg_i, deg_j, A², A, I in PQ.
        let mut terms = vec![vec![0.0; h]; 5];
        for c in 0..h {
            let (a, b, g) = (p0[c], p1[c] - p0[c], pd[c] - p0[c]);
            let (a2, b2, g2) = (q0[c], q1[c] - q0[c], qd[c] - q0[c]);
            terms[0][c] = b * a2;
            terms[1][c] = a * b2;
            terms[2][c] = b * b2;
            terms[3][c] = b * g2 + g * b2;
            terms[4][c] = g * g2;
        }
        let mut k = Vec::with_capacity(5 * h);
        for (t, term) in terms.iter().enumerate() {
            let mapped = affine(&self.wa, None, term);
            for c in 0..h {
                let extra = match t {
                    3 => x1[c] - x0[c],
                    4 => xd[c] - x0[c],
                    _ => 0.0,
                };
                k.push((mapped[c] * inv_sqrt_n + extra) as f32);
            }
        }
        k
    }
}

/// Row and column sums of `adj: [B, n, n]` if every entry is 0 or 1 and every diagonal
/// entry 0 (what [`Layer0`] needs), else `None`.
fn binary_degrees(adj: &[f32], n: usize) -> Option<(Vec<f32>, Vec<f32>)> {
    let b = adj.len() / (n * n);
    let mut rows = vec![0f32; b * n];
    let mut cols = vec![0f32; b * n];
    for g in 0..b {
        for i in 0..n {
            for j in 0..n {
                let a = adj[(g * n + i) * n + j];
                if !(a == 0.0 || a == 1.0 && i != j) {
                    return None;
                }
                rows[g * n + i] += a;
                cols[g * n + j] += a;
            }
        }
    }
    Some((rows, cols))
}

/// One PowerfulLayer's weights as the fused forward reads them.
struct LayerWeights {
    /// The first layers of `m1` and `m2` `[h, h]`.
    m1_first: Tensor,
    m2_first: Tensor,
    b_m1: Vec<f32>,
    b_m2: Vec<f32>,
    /// `[W | b]` of `m1.2` and `[b | W]` of `m2.2` `[h, h + 1]`: they read the hidden
    /// buffer's rows `[hid₁; 1]` and `[1; hid₂]`.
    m1_aug: Tensor,
    m2_aug: Tensor,
    /// m4's product half and `x`-half `[h, h]`.
    w4a: Tensor,
    w4b: Tensor,
    /// The head's block of `layer_cat_lin` for this layer's output `[h, h]`.
    head: Tensor,
}

/// The network's weights laid out once for the fused forward, and the first layer's closed
/// form (see [`Layer0`]): what a sampler chain builds once and evaluates 32 times.
pub(super) struct Prepared {
    h: i64,
    in_w: Vec<f32>,
    in_b: Vec<f32>,
    cat_u: Vec<f32>,
    cat_b: Vec<f32>,
    layers: Vec<LayerWeights>,
    after_w: Tensor,
    after_b: Vec<f32>,
    fin_w: Tensor,
    fin_b: Tensor,
    layer0: Layer0,
}

impl Prepared {
    pub(super) fn new(net: &Powerful) -> Self {
        tch::no_grad(|| {
            let h = net.shape.hidden as i64;
            let bias = |l: &super::Linear| l.b.as_ref().expect("bias").detach();
            let aug = |l: &super::Linear| Tensor::cat(&[l.w.detach(), bias(l).unsqueeze(1)], 1);
            let w_cat = net.layer_cat_lin.w.detach();
            let head_w = |l: usize| {
                w_cat
                    .narrow(1, super::INPUT_FEATURES + l as i64 * h, h)
                    .contiguous()
            };
            let layers = net
                .convs
                .iter()
                .enumerate()
                .map(|(l, conv)| {
                    let w4 = conv.m4.w.detach();
                    LayerWeights {
                        m1_first: conv.m1.0.w.detach(),
                        m2_first: conv.m2.0.w.detach(),
                        b_m1: to_vec(&bias(&conv.m1.0)),
                        b_m2: to_vec(&bias(&conv.m2.0)),
                        m1_aug: aug(&conv.m1.1),
                        m2_aug: Tensor::cat(
                            &[bias(&conv.m2.1).unsqueeze(1), conv.m2.1.w.detach()],
                            1,
                        ),
                        w4a: w4.narrow(1, 0, h).contiguous(),
                        w4b: w4.narrow(1, h, h).contiguous(),
                        head: head_w(l),
                    }
                })
                .collect();
            Self {
                h,
                in_w: to_vec(&net.in_lin.w),
                in_b: to_vec(&bias(&net.in_lin)),
                cat_u: to_vec(&w_cat.narrow(1, 0, super::INPUT_FEATURES)),
                cat_b: to_vec(&bias(&net.layer_cat_lin)),
                layers,
                after_w: net.after_conv.w.detach(),
                after_b: to_vec(&bias(&net.after_conv)),
                fin_w: net.final_lin.w.detach(),
                fin_b: bias(&net.final_lin).unsqueeze(1),
                layer0: Layer0::new(net),
            }
        })
    }

    /// Eval-mode logits `[B, n, n]` of graphs without padding, `adj: [B, n, n]` on the CPU,
    /// one level per graph.
    pub(super) fn forward(&self, adj: &Tensor, beta_bar: &[f64]) -> Result<Tensor> {
        let s = adj.size();
        let (b, n) = (s[0], s[1]);
        if beta_bar.len() as i64 != b {
            return Err(input_err(
                "beta_bar",
                format!("{} levels for a batch of {b}", beta_bar.len()),
            ));
        }
        let h = self.h;
        let e = b * n * n;
        let nu = n as usize;
        let opts = (Kind::Float, Device::Cpu);
        let adj = adj.to_kind(Kind::Float).contiguous();
        let a = host(&adj);
        let levels: Vec<f32> = beta_bar.iter().map(|&v| v as f32).collect();
        // 1/√n in float32 (as `Powerful::forward` computes it).
        let inv = 1.0 / f64::from((n.max(1) as f32).sqrt());
        // The first layer in closed form where the input allows (every sampler state does),
        // else x⁰ = in_lin(u⁰) into the generic layer.
        let (mut x, first) = match binary_degrees(a, nu) {
            Some((deg_row, deg_col)) => {
                let k = self.layer0.coefficients(&levels, inv);
                let a2 = adj.bmm(&adj);
                let mut y = Tensor::empty([h, e], opts);
                layer0_map(a, host(&a2), nu, &deg_row, &deg_col, &k, host_mut(&mut y));
                instance_norm(host_mut(&mut y), nu * nu);
                (y, 1)
            }
            None => {
                let mut x = Tensor::empty([h, e], opts);
                input_map(a, nu, &levels, &self.in_w, &self.in_b, host_mut(&mut x));
                (x, 0)
            }
        };
        // The head's accumulator: layer_cat_lin's u⁰ block and bias, then W_l·x^l per layer.
        let mut head = Tensor::empty([h, e], opts);
        input_map(
            a,
            nu,
            &levels,
            &self.cat_u,
            &self.cat_b,
            host_mut(&mut head),
        );
        if first == 1 {
            let _ = head.addmm_(&self.layers[0].head, &x);
        }
        let blocks = [h * b, n, n];
        for lw in &self.layers[first..] {
            // The hidden layers of m1 and m2 in one buffer [hid₁; 1; hid₂], written by the
            // products and activated in place.
            let mut hid = Tensor::empty([2 * h + 1, e], opts);
            let _ = lw.m1_first.mm_out(&hid.narrow(0, 0, h), &x);
            let _ = lw.m2_first.mm_out(&hid.narrow(0, h + 1, h), &x);
            bias_leaky(host_mut(&mut hid), &lw.b_m1, &lw.b_m2);
            let p = lw.m1_aug.mm(&hid.narrow(0, 0, h + 1));
            let q = lw.m2_aug.mm(&hid.narrow(0, h, h + 1));
            drop(hid);
            let mm = p.view(blocks).bmm(&q.view(blocks)).view([h, e]);
            // y = W_a·mm/√n + W_b·x (m4's bias cancels in the norm).
            let mut y = lw.w4b.mm(&x);
            let _ = y.addmm_(&(&lw.w4a * inv), &mm);
            instance_norm(host_mut(&mut y), nu * nu);
            let _ = head.addmm_(&lw.head, &y);
            x = y;
        }

        let mut out = self.after_w.mm(&head);
        residual_leaky(host(&head), host_mut(&mut out), &self.after_b);
        Ok(self.fin_b.addmm(&self.fin_w, &out).view([b, n, n]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppgn::PpgnShape;
    use tch::nn;

    fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
        let d = (a - b).abs().max().double_value(&[]);
        d / b.abs().max().double_value(&[]).max(1e-12)
    }

    /// The fused eval forward against the autograd forward on unpadded batches, several
    /// node counts and levels (one per graph), with trained-like (non-default) biases.
    #[test]
    fn matches_autograd_forward() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Powerful::new(
            &vs.root(),
            PpgnShape {
                num_layers: 3,
                hidden: 8,
            },
        );
        tch::no_grad(|| {
            for p in net.parameters() {
                let _ = p.shallow_clone().uniform_(-0.8, 0.8);
            }
        });
        // binary with an empty diagonal (the first layer in closed form), then weighted and
        // with self-loops (the generic first layer)
        for (b, n, binary) in [(3, 5, true), (1, 2, true), (4, 11, true), (3, 6, false)] {
            let a = Tensor::rand([b, n, n], (Kind::Float, Device::Cpu));
            let a = if binary {
                a.gt(0.5).to_kind(Kind::Float).triu(1)
            } else {
                a.triu(0)
            };
            let a = &a + a.triu(1).transpose(1, 2);
            let flat = Vec::<f32>::try_from(a.flatten(0, -1)).unwrap();
            assert_eq!(binary_degrees(&flat, n as usize).is_some(), binary);
            let levels: Vec<f64> = (0..b).map(|g| 0.05 + 0.1 * g as f64).collect();
            let want = net
                .forward(
                    &a,
                    &Tensor::ones([b, n], (Kind::Float, Device::Cpu)),
                    &levels,
                    None,
                )
                .unwrap();
            let got = tch::no_grad(|| Prepared::new(&net).forward(&a, &levels)).unwrap();
            assert_eq!(got.size(), want.size());
            let r = max_rel(&got, &want);
            assert!(
                r < 2e-5,
                "b {b} n {n} binary {binary}: relative difference {r}"
            );
        }
    }

    #[test]
    fn instance_norm_rows() {
        let mut y: Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0).collect();
        let orig = y.clone();
        instance_norm(&mut y, 20);
        for (row, o) in y.chunks(20).zip(orig.chunks(20)) {
            let m: f64 = o.iter().map(|&v| f64::from(v)).sum::<f64>() / 20.0;
            let v: f64 = o.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / 20.0;
            for (&got, &x) in row.iter().zip(o) {
                let want = (f64::from(x) - m) / (v + NORM_EPS).sqrt();
                assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
    }
}
