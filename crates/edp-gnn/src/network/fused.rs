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

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Sub};
use std::sync::Mutex;

use tch::{Kind, Tensor};

use super::{EdgeMlp, BN_EPS};

/// Defines `fn $name`, which runs `$body` compiled with AVX2 where the CPU has it
/// ([`use_avx2`]) and in the baseline build elsewhere. The AVX2 copy is a function of its own
/// with `#[target_feature(enable = "avx2")]`, into which `$body` (`#[inline(always)]`) and
/// everything it inlines are compiled; the compiler cannot inline it back into a caller
/// without AVX2. Generic bounds go in the `where [..]` clause.
macro_rules! avx2_dispatch {
    (
        $(#[$attr:meta])*
        fn $name:ident<$($g:ident),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        where [$($bounds:tt)*] => $body:ident;
    ) => {
        $(#[$attr])*
        fn $name<$($g),*>($($arg: $ty),*) $(-> $ret)? where $($bounds)* {
            /// The body compiled with AVX2.
            ///
            /// # Safety
            /// The CPU must support AVX2.
            #[cfg(target_arch = "x86_64")]
            #[allow(unsafe_code, clippy::too_many_arguments)]
            #[inline(never)]
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<$($g),*>($($arg: $ty),*) $(-> $ret)? where $($bounds)* {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if super::fused::use_avx2() {
                #[allow(unsafe_code)]
                // SAFETY: the CPU supports AVX2 (`use_avx2` checked it).
                return unsafe { avx2($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}
pub(super) use avx2_dispatch;

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
    + Div<Output = Self>
    + AddAssign
    + MulAssign
    + Send
    + Sync
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
        let z = self.max(-87.0);
        let (kf, two_k) = graph_tensor::simd::exp_range_reduce(z); // k ∈ [−126, 0]
        let r = (z - kf * LN2_HI) - kf * LN2_LO;
        let mut p = 1.0 / 40_320.0;
        for d in [5_040.0f32, 720.0, 120.0, 24.0, 6.0, 2.0] {
            p = p * r + 1.0 / d;
        }
        let em1 = r + r * r * p;
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
    /// Input adjacency rows, channel-major `[C_in][R]`.
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

/// Rows per block of the channel-major matrix products (keeps a block in L1).
const BLOCK: usize = 256;

/// `y[t] = bias + Σ_i w[i]·x_i[t]` for `t < y.len()`, where `x_i = x[i·sx..]`: one output
/// channel of a channel-major Linear.
#[inline(always)]
fn linear_channel<F: Real>(w: &[F], bias: F, x: &[F], sx: usize, y: &mut [F]) {
    let len = y.len();
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let yb = &mut y[start..end];
        yb.fill(bias);
        for (i, &c) in w.iter().enumerate() {
            for (y, &x) in yb.iter_mut().zip(&x[i * sx + start..i * sx + end]) {
                *y += c * x;
            }
        }
        start = end;
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set it to force a thread count for the per-channel loops on this thread.
    pub(crate) static THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Threads for the per-channel loops: libtorch's intra-op thread count.
pub(crate) fn threads() -> usize {
    #[cfg(test)]
    if let Some(n) = THREADS.with(|t| t.get()) {
        return n;
    }
    tch::get_num_threads().max(1) as usize
}

/// One phase of the kernel: `work(c, item_c)` for every channel `c`, each on its own item
/// (the channel's output slices), independent of the others.
struct PerChannel<T, G> {
    items: Vec<Mutex<T>>,
    work: G,
}

impl<T: Send, G: Fn(usize, &mut T) + Sync> PerChannel<T, G> {
    /// Channel `c`'s work (inlined into the AVX2 build of [`run_channel`]).
    #[inline(always)]
    fn run(&self, c: usize) {
        let mut item = self.items[c].lock().unwrap_or_else(|e| e.into_inner());
        (self.work)(c, &mut item);
    }
}

/// [`PerChannel::run`], inlined into [`run_channel`]'s AVX2 build.
#[inline(always)]
fn run_channel_body<T: Send, G: Fn(usize, &mut T) + Sync>(w: &PerChannel<T, G>, c: usize) {
    w.run(c)
}

avx2_dispatch! {
    /// Channel `c` of `w`, in the AVX2 build where the CPU has it.
    fn run_channel<T, G>(w: &PerChannel<T, G>, c: usize)
    where [T: Send, G: Fn(usize, &mut T) + Sync] => run_channel_body;
}

/// Runs `work(c, item)` for the items of `items` (channel `c` gets the `c`-th), spread over
/// libtorch's intra-op threads (channel `c` on thread `c mod n`). Every channel's result
/// is computed the same way on any thread count.
fn for_each_channel<T: Send, G: Fn(usize, &mut T) + Sync>(
    items: impl IntoIterator<Item = T>,
    work: G,
) {
    let w = PerChannel {
        items: items.into_iter().map(Mutex::new).collect(),
        work,
    };
    let n = w.items.len();
    let threads = threads().min(n);
    if threads <= 1 {
        for c in 0..n {
            run_channel(&w, c);
        }
        return;
    }
    graph_tensor::parallel::parallel(threads, &|i, team| {
        for c in (i..n).step_by(team) {
            run_channel(&w, c);
        }
    });
}

/// Runs `work(job)` for every job, spread over up to `jobs.len()` threads of libtorch's
/// OpenMP team (each thread takes the next job not yet taken; with one thread, in order on
/// the calling thread). Inside the team every libtorch op a job runs is single-threaded (libtorch
/// does not nest parallel regions), so each job computes the same on any thread count.
pub(crate) fn run_jobs<T: Send>(jobs: &mut [T], work: impl Fn(&mut T) + Sync) {
    graph_tensor::parallel::run_jobs(threads(), jobs, work)
}

/// Per-channel BatchNorm statistics: `(mean, biased variance, (var + ε)^−½)`.
type ChannelStats = (f64, f64, f64);

/// One channel of BatchNorm (batch statistics, weighted rows) → level scale/shift → ELU,
/// in place: `x` holds the pre-activations on entry and `x̂` on exit; `y` gets the ELU
/// output. `scale`/`shift` are this channel's per-level values.
#[inline(always)]
fn bn_elu_channel<F: Real>(
    x: &mut [F],
    y: &mut [F],
    scale: &[F],
    shift: &[F],
    rows: &HostRows,
) -> ChannelStats {
    let r = rows.r;
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
    for &(l, s, e) in &rows.runs {
        let (sc, sh) = (scale[l], shift[l]);
        for (xv, yv) in x[s..e].iter_mut().zip(&mut y[s..e]) {
            let xh = (*xv - m) * rs;
            *xv = xh;
            *yv = elu(xh * sc + sh);
        }
    }
    (mean, var, rstd)
}

/// Backward of [`bn_elu_channel`], in place: `g` holds the gradient of the ELU output on
/// entry and that of the pre-BatchNorm value on exit. Accumulates this channel's per-level
/// gradients of the scale and of the shift.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn bn_elu_channel_backward<F: Real>(
    g: &mut [F],
    xh: &[F],
    act: &[F],
    rstd: f64,
    scale: &[F],
    rows: &HostRows,
    g_scale: &mut [f64],
    g_shift: &mut [f64],
) {
    let r = rows.r;
    // ∂y = ∂h'·ELU'(y), ELU'(y) = 1 for y > 0, h' + 1 otherwise (h' > 0 ⇔ y > 0).
    for &(l, s, e) in &rows.runs {
        for (gv, &a) in g[s..e].iter_mut().zip(&act[s..e]) {
            let d = if a > F::ZERO { F::ONE } else { a + F::ONE };
            *gv *= d;
        }
        g_scale[l] += dot(&g[s..e], &xh[s..e]);
        g_shift[l] += sum(&g[s..e]);
        let sc = scale[l];
        for gv in &mut g[s..e] {
            *gv *= sc;
        }
    }
    // ∂p_t = r·(∂x̂_t − (w_t/W)·(Σ ∂x̂ + x̂_t·Σ ∂x̂·x̂)).
    let sg = sum(g);
    let sgx = dot(g, xh);
    let inv = 1.0 / rows.total;
    let (rs, a0, a1) = (F::of(rstd), F::of(inv * sg), F::of(inv * sgx));
    for (gv, &x) in g[..r].iter_mut().zip(&xh[..r]) {
        *gv = rs * (*gv - (a0 + x * a1));
    }
    for ((gv, &x), &w) in g[r..].iter_mut().zip(&xh[r..]).zip(&rows.tail_weight) {
        let v = rstd * (gv.wide() - w * inv * (sg + x.wide() * sgx));
        *gv = F::of(v);
    }
}

/// Updates BatchNorm `k`'s running statistics from the per-channel batch statistics (over
/// all `B·N²` rows), as `nn.BatchNorm1d.train()` does.
fn update_running(e: &EdgeMlp, k: usize, stats: &[ChannelStats], total: f64) {
    let bn = &e.bn[k];
    let kind = bn.running_mean.kind();
    let column = |f: fn(&ChannelStats) -> f64| {
        let v: Vec<f64> = stats.iter().map(f).collect();
        Tensor::from_slice(&v).to_kind(kind)
    };
    bn.update_running(&column(|s| s.0), &column(|s| s.1), total);
}

/// Statistics of the two BatchNorms of one forward, per channel.
type Stats = [Vec<ChannelStats>; 2];

/// Per-level values of channel `c` from a `[L][H]` table.
fn column<F: Real>(table: &[F], h: usize, c: usize) -> Vec<F> {
    table.iter().skip(c).step_by(h).copied().collect()
}

/// The forward computation of [`edge_forward`] for one float type, channel by channel.
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
    let a: Vec<F> = rows_in.iter().map(|&v| F::of(v)).collect(); // [C_in][R]
    let k1 = nodes.len() / f;
    let (scale0, shift0) = p.level_affine(0);
    let (scale1, shift1) = p.level_affine(1);
    // Hidden layer 1, per channel o: pu[row node] + pv[column node] + Wa·a (a = 0 on the
    // padded rows), where pu/pv are the per-node projections of the first Linear (bias in
    // pu); then BatchNorm → level affine → ELU.
    let mut xh0 = vec![F::ZERO; h * t];
    let mut act0 = vec![F::ZERO; h * t];
    let mut stats0 = vec![(0.0, 0.0, 0.0); h];
    for_each_channel(
        xh0.chunks_mut(t)
            .zip(act0.chunks_mut(t))
            .zip(stats0.iter_mut()),
        #[inline(always)]
        |o, item| {
            let ((x, y), st) = item;
            let (wu, wv) = (&p.wu[o * f..(o + 1) * f], &p.wv[o * f..(o + 1) * f]);
            let mut pu = Vec::with_capacity(k1);
            let mut pv = Vec::with_capacity(k1);
            for node in nodes.chunks_exact(f) {
                let (mut su, mut sv) = (p.b0[o], F::ZERO);
                for ((&xj, &a), &b) in node.iter().zip(wu).zip(wv) {
                    su += a * xj;
                    sv += b * xj;
                }
                pu.push(su);
                pv.push(sv);
            }
            for ((x, &u), &v) in x.iter_mut().zip(&rows.row_u).zip(&rows.row_v) {
                *x = pu[u as usize] + pv[v as usize];
            }
            for c in 0..c_in {
                let w = p.wa[o * c_in + c];
                for (x, &av) in x[..r].iter_mut().zip(&a[c * r..(c + 1) * r]) {
                    *x += w * av;
                }
            }
            **st = bn_elu_channel(x, y, &column(&scale0, h, o), &column(&shift0, h, o), rows);
        },
    );
    // Hidden layer 2: the second Linear, then BatchNorm → level affine → ELU.
    let mut xh1 = vec![F::ZERO; h * t];
    let mut act1 = vec![F::ZERO; h * t];
    let mut stats1 = vec![(0.0, 0.0, 0.0); h];
    for_each_channel(
        xh1.chunks_mut(t)
            .zip(act1.chunks_mut(t))
            .zip(stats1.iter_mut()),
        #[inline(always)]
        |o, item| {
            let ((x, y), st) = item;
            linear_channel(&p.w1[o * h..(o + 1) * h], p.b1[o], &act0, t, x);
            **st = bn_elu_channel(x, y, &column(&scale1, h, o), &column(&shift1, h, o), rows);
        },
    );
    // The last Linear on the present pairs, then S + Sᵀ; channel-major [C_out][R].
    let mut out = vec![0.0; c_out * r];
    for_each_channel(
        out.chunks_mut(r.max(1)),
        #[inline(always)]
        |c, item| {
            let y = item;
            let mut s = vec![F::ZERO; r];
            linear_channel(&p.w2[c * h..(c + 1) * h], p.b2[c], &act1, t, &mut s);
            for (y, (&sv, &tr)) in y.iter_mut().zip(s.iter().zip(&rows.transpose)) {
                *y = (sv + s[tr as usize]).wide();
            }
        },
    );
    let tape = Tape {
        p,
        nodes,
        a,
        xh: [xh0, xh1],
        act: [act0, act1],
        rstd: [
            stats0.iter().map(|s| s.2).collect(),
            stats1.iter().map(|s| s.2).collect(),
        ],
    };
    (out, tape, [stats0, stats1])
}

#[cfg(test)]
thread_local! {
    /// Tests set it to run the baseline (non-AVX2) build of the loops on this thread.
    pub(super) static BASELINE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether to run the AVX2 build of the loops: the CPU has AVX2 (and, in tests, the
/// baseline build was not asked for).
#[cfg(target_arch = "x86_64")]
pub(super) fn use_avx2() -> bool {
    #[cfg(test)]
    if BASELINE_ONLY.with(|b| b.get()) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

avx2_dispatch! {
    /// [`forward_body`] with AVX2 where the CPU has it.
    fn forward_dispatch<F>(
        p: Params<F>,
        rows_in: &[f64],
        nodes: &[f64],
        rows: &HostRows,
    ) -> (Vec<f64>, Tape<F>, Stats)
    where [F: Real] => forward_body;
}

/// Forward of edge MLP `e` in train mode on the packed rows, in the float type of its
/// weights (float32 or float64).
///
/// `rows_in`: the present pairs' input channels, channel-major `[C_in][R]`; `nodes`: node
/// table `[K + 1][F]`. Returns the layer's new adjacency channels on the present pairs after
/// the symmetrisation `S + Sᵀ`, channel-major `[C_out][R]`, and the tape for
/// [`edge_backward`]. Updates the BatchNorm running statistics.
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
    for (k, st) in stats.iter().enumerate() {
        update_running(e, k, st, rows.total);
    }
    (out, tape)
}

/// Gradients of `γ`, `β`, the level gains and biases from those of the per-level scale and
/// shift (`scale = γ g_l`, `shift = β g_l + b'_l`), given per channel: `[H][L]` each.
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
    let mut g_bias = vec![0.0; levels * h];
    for l in 0..levels {
        for c in 0..h {
            let (i, j) = (l * h + c, c * levels + l);
            let gain = p.gain[k][i].wide();
            g_gamma[c] += g_scale[j] * gain;
            g_beta[c] += g_shift[j] * gain;
            g_gain[i] = g_scale[j] * p.gamma[k][c].wide() + g_shift[j] * p.beta[k][c].wide();
            g_bias[i] = g_shift[j];
        }
    }
    [g_gamma, g_beta, g_gain, g_bias]
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

/// The backward computation of [`edge_backward`] for one float type, channel by channel.
#[inline(always)]
fn backward_body<F: Real>(tape: &Tape<F>, g_out: &[f64], rows: &HostRows) -> RawGrads {
    let p = &tape.p;
    let (h, c_in, f, c_out) = (p.h, p.c_in, p.f, p.c_out);
    let (r, t) = (rows.r, rows.t);
    let levels = p.gain[0].len() / h;
    let (act0, act1) = (&tape.act[0], &tape.act[1]);
    // Through S + Sᵀ (∂S = ∂out + ∂outᵀ) and the last Linear (present rows only).
    let mut gs = vec![F::ZERO; c_out * r];
    let mut g_w2 = vec![0.0; c_out * h];
    let mut g_b2 = vec![0.0; c_out];
    for_each_channel(
        gs.chunks_mut(r.max(1))
            .zip(g_w2.chunks_mut(h))
            .zip(g_b2.iter_mut()),
        #[inline(always)]
        |c, item| {
            let ((y, gw), gb) = item;
            let go = &g_out[c * r..(c + 1) * r];
            for (y, (&g, &tr)) in y.iter_mut().zip(go.iter().zip(&rows.transpose)) {
                *y = F::of(g + go[tr as usize]);
            }
            **gb = sum(y);
            for (i, gw) in gw.iter_mut().enumerate() {
                *gw = dot(y, &act1[i * t..i * t + r]);
            }
        },
    );
    // Hidden layer 2, per channel i: ∂h' = W2ᵀ ∂S on the present rows (the padded rows'
    // outputs are masked away: zero), then back through ELU, affine and BatchNorm.
    let (scale1, _) = p.level_affine(1);
    let mut g1 = vec![F::ZERO; h * t];
    let mut gsc1 = vec![0.0; h * levels];
    let mut gsh1 = vec![0.0; h * levels];
    for_each_channel(
        g1.chunks_mut(t)
            .zip(gsc1.chunks_mut(levels))
            .zip(gsh1.chunks_mut(levels)),
        #[inline(always)]
        |i, item| {
            let ((g, gsc), gsh) = item;
            let w: Vec<F> = (0..c_out).map(|c| p.w2[c * h + i]).collect();
            linear_channel(&w, F::ZERO, &gs, r, &mut g[..r]);
            let xh = &tape.xh[1][i * t..(i + 1) * t];
            let act = &act1[i * t..(i + 1) * t];
            let sc = column(&scale1, h, i);
            bn_elu_channel_backward(g, xh, act, tape.rstd[1][i], &sc, rows, gsc, gsh);
        },
    );
    // The second Linear (its weight gradient per output channel j) and hidden layer 1,
    // per channel j: ∂h = W1ᵀ ∂p over all rows, then back through ELU, affine, BatchNorm.
    let (scale0, _) = p.level_affine(0);
    let mut g0 = vec![F::ZERO; h * t];
    let mut g_w1 = vec![0.0; h * h];
    let mut g_b1 = vec![0.0; h];
    let mut gsc0 = vec![0.0; h * levels];
    let mut gsh0 = vec![0.0; h * levels];
    for_each_channel(
        g0.chunks_mut(t)
            .zip(g_w1.chunks_mut(h))
            .zip(g_b1.iter_mut())
            .zip(gsc0.chunks_mut(levels).zip(gsh0.chunks_mut(levels))),
        #[inline(always)]
        |j, item| {
            let (((g, gw), gb), (gsc, gsh)) = item;
            let gj = &g1[j * t..(j + 1) * t];
            **gb = sum(gj);
            for (i, gw) in gw.iter_mut().enumerate() {
                *gw = dot(gj, &act0[i * t..(i + 1) * t]);
            }
            let w: Vec<F> = (0..h).map(|o| p.w1[o * h + j]).collect();
            linear_channel(&w, F::ZERO, &g1, t, g);
            let xh = &tape.xh[0][j * t..(j + 1) * t];
            let act = &act0[j * t..(j + 1) * t];
            let sc = column(&scale0, h, j);
            bn_elu_channel_backward(g, xh, act, tape.rstd[0][j], &sc, rows, gsc, gsh);
        },
    );
    // The first Linear, per output channel o: the adjacency part on the present rows; the
    // node parts through the gathers, i.e. scatter-adds into the node table ([H][K+1]).
    let k1 = tape.nodes.len() / f;
    let mut g_wa = vec![0.0; h * c_in];
    let mut g_pu = vec![0.0f64; h * k1];
    let mut g_pv = vec![0.0f64; h * k1];
    for_each_channel(
        g_wa.chunks_mut(c_in)
            .zip(g_pu.chunks_mut(k1).zip(g_pv.chunks_mut(k1))),
        #[inline(always)]
        |o, item| {
            let (gwa, (gu, gv)) = item;
            let go = &g0[o * t..(o + 1) * t];
            for (c, gw) in gwa.iter_mut().enumerate() {
                *gw = dot(&go[..r], &tape.a[c * r..(c + 1) * r]);
            }
            // Consecutive rows mostly share their row node: sum runs before adding.
            let (mut cur, mut acc) = (rows.row_u.first().copied().unwrap_or(0), 0.0);
            for ((&x, &u), &v) in go.iter().zip(&rows.row_u).zip(&rows.row_v) {
                if u != cur {
                    gu[cur as usize] += acc;
                    (cur, acc) = (u, 0.0);
                }
                acc += x.wide();
                gv[v as usize] += x.wide();
            }
            if !go.is_empty() {
                gu[cur as usize] += acc;
            }
        },
    );
    let mut rows_in = vec![0.0; c_in * r];
    for_each_channel(
        rows_in.chunks_mut(r.max(1)),
        #[inline(always)]
        |c, item| {
            let y = item;
            let w: Vec<F> = (0..h).map(|o| p.wa[o * c_in + c]).collect();
            let mut ga = vec![F::ZERO; r];
            linear_channel(&w, F::ZERO, &g0, t, &mut ga);
            for (y, g) in y.iter_mut().zip(ga) {
                *y = g.wide();
            }
        },
    );
    // The node table (small: K + 1 rows).
    let mut g_b0 = vec![0.0; h];
    let mut g_wu = vec![0.0; h * f];
    let mut g_wv = vec![0.0; h * f];
    let mut g_nodes = vec![0.0; k1 * f];
    for (k, x) in tape.nodes.chunks_exact(f).enumerate() {
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
        affine: [
            affine_param_grads(p, 0, &gsc0, &gsh0),
            affine_param_grads(p, 1, &gsc1, &gsh1),
        ],
    }
}

avx2_dispatch! {
    /// [`backward_body`] with AVX2 where the CPU has it.
    fn backward_dispatch<F>(tape: &Tape<F>, g_out: &[f64], rows: &HostRows) -> RawGrads
    where [F: Real] => backward_body;
}

/// Backward of [`edge_forward`]: `g_out` is the gradient of its output, channel-major
/// `[C_out][R]`; the input rows' gradient comes back channel-major `[C_in][R]`.
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
