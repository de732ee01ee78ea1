//! The EDP-GNN score network (Niu et al. 2020, §3.2), faithful to
//! GraphScoreMatching:model/edp_gnn.py, model/gin.py, model/gnn.py, model/mlp.py and
//! model/cond_layers.py.
//!
//! Parameter names follow the official `state_dict`
//! (`gnn_list.0.multi_channel_gnn_module.eps`, `final_read_score.linears.2.weight`, …), so
//! official weights load as they are ([`load_official_weights`]).
//!
//! The math is the official one; the arithmetic is arranged for speed and every rearrangement
//! is exact up to float rounding (the parity test against the official outputs proves it):
//!
//! * tensors are kept channel-first (`[B, C, N, N]`), so few permutes are materialised;
//! * GIN: each aggregation `concat_c((A_c + I)·x)` is one GEMM per graph over the stacked
//!   channels, whose output is already the channel-major concatenation; the five readout
//!   MLPs' second Linears are one GEMM over the concatenated hidden activations;
//! * the edge MLP's first Linear over `[A_c(u,v)] ‖ x_u ‖ x_v` is split into
//!   `W_a·A(u,v) + (W_u x)_u + (W_v x)_v + b`: two per-node projections added by broadcasting
//!   instead of a `[B·N·N, C+2F]` concatenation;
//! * the per-noise-level gain/bias (`ConditionalLayer1d`) is folded into per-sample weights,
//!   and in eval mode BatchNorm's running statistics are folded in as well, so every hidden
//!   block is one batched GEMM (bias included) and one ELU; in the head, whose samples come
//!   in runs of equal level (σ-major batches, sampler steps), each run is one GEMM per layer;
//! * the output head, which sees exactly symmetric inputs (every adjacency channel is
//!   symmetric: `[Ã, 1−Ã]` and each layer's `S + Sᵀ`), is evaluated on the strict upper
//!   triangle only and mirrored; the official head multiplies the diagonal by 0 anyway.
//!   The network therefore requires a symmetric input `Ã`, which every caller in this crate
//!   provides (noised adjacencies are built as `A + E + Eᵀ`);
//! * [`EdpGnn::score_prefix`] evaluates graphs without their padding (eval mode only, where
//!   present pairs do not depend on padded nodes); the annealed Langevin sampler uses it.

use std::path::Path;

use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{nn, Device, Kind, Tensor};

use crate::config::EdpGnnConfig;
use crate::error::{input_err, EdpGnnError, Result};

mod fused;
mod fused_gin;
mod packed;

#[cfg(test)]
pub(crate) use fused::THREADS;
pub(crate) use fused::{run_jobs, threads};

/// Width of the node-feature input: the official preprocessing gives every node the feature
/// `[1.0]`, standardised per graph to all zeros (GraphScoreMatching:utils/arg_helper.py
/// `graphs_to_tensor`), so `in_feature = 1`.
pub const IN_FEATURES: i64 = 1;

/// BatchNorm1d ε (PyTorch default, as in the official code).
pub const BN_EPS: f64 = 1e-5;
/// BatchNorm1d momentum (PyTorch default, as in the official code).
pub const BN_MOMENTUM: f64 = 0.1;

/// How each sample's noise level is given to the network.
#[derive(Clone, Copy, Debug)]
pub enum Conditioning<'a> {
    /// The official layout: the batch is `L` equal chunks, chunk `k` at level `k`
    /// (GraphScoreMatching:model/cond_layers.py reshapes rows to `(L, -1, F)`).
    SigmaMajor,
    /// An explicit level index per sample: `[B]` int64 in `0..L`, any order.
    PerSample(&'a Tensor),
    /// Every sample at the same level (what the sampler needs at each step).
    Level(usize),
}

/// A resolved, validated [`Conditioning`].
#[derive(Debug)]
pub(crate) enum Levels {
    /// A level per sample: `[B]` int64 on the device, and the same values on the host.
    PerSample(Tensor, Vec<i64>),
    /// One level for the whole batch.
    Uniform(i64),
}

impl Levels {
    fn per_sample(host: Vec<i64>, device: Device) -> Levels {
        Levels::PerSample(Tensor::from_slice(&host).to_device(device), host)
    }

    /// The levels of the samples `members` (in that order).
    fn subset(&self, members: &[i64], device: Device) -> Levels {
        match self {
            Levels::PerSample(_, host) => {
                Levels::per_sample(members.iter().map(|&g| host[g as usize]).collect(), device)
            }
            Levels::Uniform(l) => Levels::Uniform(*l),
        }
    }

    /// Maximal runs of consecutive samples at one level: `(level, first sample, count)`.
    fn runs(&self, batch: i64) -> Vec<(i64, i64, i64)> {
        match self {
            Levels::Uniform(l) => vec![(*l, 0, batch)],
            Levels::PerSample(_, host) => {
                let mut runs: Vec<(i64, i64, i64)> = Vec::new();
                for (i, &l) in host.iter().enumerate() {
                    match runs.last_mut() {
                        Some(r) if r.0 == l => r.2 += 1,
                        _ => runs.push((l, i as i64, 1)),
                    }
                }
                runs
            }
        }
    }
}

/// Per-layer outputs of a forward pass, for localising a mismatch.
#[derive(Debug)]
pub struct LayerTrace {
    /// Node features `x_o` of the layer's GIN: `[B, N, F]`.
    pub x: Tensor,
    /// The new adjacency stack: `[B, C_out, N, N]`.
    pub adjs: Tensor,
}

/// How [`EdpGnn::forward_train_tape`] takes the gradient through the edge MLPs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EdgeBackward {
    /// Hand-written on the CPU when libtorch runs at most 2 intra-op threads (measured
    /// faster there: 1.20–1.23× the autograd step with 1 thread, 1.11–1.22× with 2,
    /// BENCHMARKS.md "EDP-GNN speed"); autograd on other devices, and with more threads,
    /// which were not measured (the hand-written loops use at most one thread per channel).
    #[default]
    Auto,
    /// The hand-written forward and backward of the edge MLPs (`network/fused.rs`) and the
    /// GINs (`network/fused_gin.rs`); CPU only.
    HandWritten,
    /// libtorch's autograd throughout.
    Autograd,
}

/// How the gradient of a train-mode forward from [`EdpGnn::forward_train_tape`] is taken:
/// call [`TrainTape::backward`] with a loss computed from its score.
///
/// With the hand-written backward ([`EdgeBackward`]) the edge MLPs and GINs run outside
/// libtorch's autograd (`network/fused.rs`, `network/fused_gin.rs`), so `loss.backward()`
/// alone would reach only the output head; `backward` carries the gradient through every
/// layer. With autograd it is
/// `loss.backward()`.
pub struct TrainTape<'a> {
    inner: TapeInner<'a>,
}

enum TapeInner<'a> {
    Autograd,
    Fused(&'a EdpGnn, Box<packed::FusedTape>),
}

impl std::fmt::Debug for TrainTape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            TapeInner::Autograd => "TrainTape(autograd)",
            TapeInner::Fused(..) => "TrainTape(fused edge MLPs and GINs)",
        })
    }
}

impl TrainTape<'_> {
    /// Accumulates the gradient of `loss` (a scalar computed from the tape's score) into
    /// every parameter's `.grad`, exactly as `loss.backward()` through [`EdpGnn::forward_t`]
    /// in train mode would (up to float rounding).
    pub fn backward(self, loss: &Tensor) {
        match self.inner {
            TapeInner::Autograd => loss.backward(),
            TapeInner::Fused(net, tape) => net.backward_fused(*tape, loss),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Initialisation from an explicit seed (PyTorch's default distributions).

struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    fn uniform(&mut self, dims: &[i64], bound: f64) -> Tensor {
        let n: i64 = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| self.rng.gen_range(-bound..bound) as f32)
            .collect();
        Tensor::from_slice(&v).reshape(dims)
    }

    fn normal(&mut self, dims: &[i64], mean: f64, std: f64) -> Tensor {
        let n: i64 = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                (mean + std * z) as f32
            })
            .collect();
        Tensor::from_slice(&v).reshape(dims)
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks.

/// `nn.Linear` with PyTorch's default init U(−1/√fan_in, 1/√fan_in) for weight and bias.
#[derive(Debug)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    fn new(p: nn::Path, fan_in: i64, fan_out: i64, init: &mut Init) -> Self {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w = p.var_copy("weight", &init.uniform(&[fan_out, fan_in], bound));
        let b = p.var_copy("bias", &init.uniform(&[fan_out], bound));
        Self { w, b }
    }

    /// Row-wise `x Wᵀ + b` on the last axis.
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, Some(&self.b))
    }

    fn out_dim(&self) -> i64 {
        self.w.size()[0]
    }

    /// The same parameters (shared storage and gradients), as an owned value.
    fn shallow(&self) -> Linear {
        Linear {
            w: self.w.shallow_clone(),
            b: self.b.shallow_clone(),
        }
    }
}

/// `nn.BatchNorm1d(H)`: affine, running statistics and `num_batches_tracked` as buffers.
#[derive(Debug)]
struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm {
    fn new(p: nn::Path, h: i64) -> Self {
        let weight = p.ones("weight", &[h]);
        let bias = p.zeros("bias", &[h]);
        let running_mean = p.zeros_no_train("running_mean", &[h]);
        let running_var = p.ones_no_train("running_var", &[h]);
        let num_batches_tracked = p.add(
            "num_batches_tracked",
            Tensor::zeros([], (Kind::Int64, p.device())),
            false,
        );
        Self {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
        }
    }

    /// Train mode without the affine part: `(x − mean)/√(var + ε)` with the biased batch
    /// variance over every row (dims 0 and 2 of `[B, H, L]`), and the running-statistics update
    /// with the unbiased variance and momentum 0.1, exactly as `nn.BatchNorm1d.train()`.
    fn normalise_train(&self, x: &Tensor) -> Tensor {
        let y = x.batch_norm(
            None::<&Tensor>,
            None,
            Some(&self.running_mean),
            Some(&self.running_var),
            true,
            BN_MOMENTUM,
            BN_EPS,
            false,
        );
        tch::no_grad(|| {
            let mut n = self.num_batches_tracked.shallow_clone();
            let _ = n.g_add_scalar_(1);
        });
        y
    }

    /// The running-statistics update of `nn.BatchNorm1d.train()` from a batch's mean and
    /// biased variance (`[H]` each) over `total` rows: momentum 0.1, the variance made
    /// unbiased; counts the batch. For train forwards that compute the statistics
    /// themselves (`network/packed.rs`, `network/fused.rs`).
    fn update_running(&self, mean: &Tensor, biased_var: &Tensor, total: f64) {
        tch::no_grad(|| {
            let mut rm = self.running_mean.shallow_clone();
            let mut rv = self.running_var.shallow_clone();
            let _ = rm.g_mul_scalar_(1.0 - BN_MOMENTUM);
            let _ = rm.g_add_(&(mean.detach().view([-1]) * BN_MOMENTUM));
            let _ = rv.g_mul_scalar_(1.0 - BN_MOMENTUM);
            let unbiased = BN_MOMENTUM * total / (total - 1.0);
            let _ = rv.g_add_(&(biased_var.detach().view([-1]) * unbiased));
            let mut n = self.num_batches_tracked.shallow_clone();
            let _ = n.g_add_scalar_(1);
        });
    }

    /// The same parameters and buffers (shared storage), as an owned value.
    fn shallow(&self) -> BatchNorm {
        BatchNorm {
            weight: self.weight.shallow_clone(),
            bias: self.bias.shallow_clone(),
            running_mean: self.running_mean.shallow_clone(),
            running_var: self.running_var.shallow_clone(),
            num_batches_tracked: self.num_batches_tracked.shallow_clone(),
        }
    }

    /// Eval mode as an affine map `x·s + t` per channel: `s = γ/√(running_var + ε)`,
    /// `t = β − running_mean·s`. Returns `(s, t)`, each `[H]`.
    fn eval_affine(&self) -> (Tensor, Tensor) {
        let s = &self.weight * (&self.running_var + BN_EPS).rsqrt();
        let t = &self.bias - &self.running_mean * &s;
        (s, t)
    }
}

/// `ConditionalLayer1d`: per-level gain (init 1 + 0.02·N(0,1)) and bias (init 0), `[L, 1, H]`.
#[derive(Debug)]
struct CondLayer {
    gain: Tensor,
    bias: Tensor,
}

impl CondLayer {
    fn new(p: nn::Path, levels: i64, h: i64, init: &mut Init) -> Self {
        let gain = p.var_copy("gain", &init.normal(&[levels, 1, h], 1.0, 0.02));
        let bias = p.zeros("bias", &[levels, 1, h]);
        Self { gain, bias }
    }

    /// The same parameters (shared storage), as an owned value.
    fn shallow(&self) -> CondLayer {
        CondLayer {
            gain: self.gain.shallow_clone(),
            bias: self.bias.shallow_clone(),
        }
    }

    /// Gain and bias of each sample's level for a `[B, H, L]` batch: two `[B, H, 1]`
    /// tensors (`[1, H, 1]` for a uniform level).
    fn batch_first(&self, level: &Levels) -> (Tensor, Tensor) {
        match level {
            Levels::PerSample(l, _) => (
                self.gain.index_select(0, l).transpose(1, 2),
                self.bias.index_select(0, l).transpose(1, 2),
            ),
            Levels::Uniform(l) => (
                self.gain.narrow(0, *l, 1).transpose(1, 2),
                self.bias.narrow(0, *l, 1).transpose(1, 2),
            ),
        }
    }

    /// Gain and bias for a channel-major `[H, B, L]` batch: two `[H, B, 1]` tensors
    /// (`[H, 1, 1]` for a uniform level).
    fn channel_major(&self, level: &Levels) -> (Tensor, Tensor) {
        match level {
            Levels::PerSample(l, _) => (
                self.gain.index_select(0, l).permute([2, 0, 1]).contiguous(),
                self.bias.index_select(0, l).permute([2, 0, 1]).contiguous(),
            ),
            Levels::Uniform(l) => (
                self.gain.narrow(0, *l, 1).permute([2, 0, 1]),
                self.bias.narrow(0, *l, 1).permute([2, 0, 1]),
            ),
        }
    }
}

/// `W·x + bias` for a weight `[O, I]` and a channel-first batch `[B, I, L]` plus a bias
/// broadcastable to `[B, O, L]`, as one batched GEMM. `w` may also be per-sample
/// `[B, O, I]` (or `[1, O, I]`).
fn affine_cf(bias: &Tensor, w: &Tensor, x: &Tensor) -> Tensor {
    let b = x.size()[0];
    let s = w.size();
    let w = match s.as_slice() {
        [o, i] => w.expand([b, *o, *i], false),
        [1, o, i] => w.expand([b, *o, *i], false),
        _ => w.shallow_clone(),
    };
    bias.baddbmm(&w, x, 1.0, 1.0)
}

// ---------------------------------------------------------------------------------------------
// GIN (model/gin.py, model/gnn.py).

/// Multi-channel GIN with per-channel degree features and a jumping-knowledge readout.
#[derive(Debug)]
struct Gin {
    eps: Tensor,
    layers: Vec<(Linear, Linear)>,
    readout: Vec<(Linear, Linear)>,
    channels: i64,
}

impl Gin {
    /// `feature_nums` = `[F_in + C] + gnn_hidden_num_list` as in the official `get_score_model`.
    fn new(
        p: nn::Path,
        feature_nums: &[i64],
        out_dim: i64,
        channels: i64,
        init: &mut Init,
    ) -> Self {
        let hidden = 2 * feature_nums.iter().copied().max().unwrap_or(1);
        let k = feature_nums.len() - 1;
        let eps = p.zeros("eps", &[k as i64]);
        let lp = &p / "layers";
        let layers = (0..k)
            .map(|i| {
                let q = &lp / i / "linears";
                (
                    Linear::new(&q / 0, feature_nums[i] * channels, hidden, init),
                    Linear::new(&q / 1, hidden, feature_nums[i + 1], init),
                )
            })
            .collect();
        let rp = &p / "linear_prediction";
        let readout = (0..=k)
            .map(|j| {
                let q = &rp / j;
                (
                    Linear::new(&q / 0, feature_nums[j], hidden, init),
                    Linear::new(&q / 2, hidden, out_dim, init),
                )
            })
            .collect();
        Self {
            eps,
            layers,
            readout,
            channels,
        }
    }

    /// x: `[B, N, F_in]`; adjs: `[B, C, N, N]` masked; flags3: `[B, N, 1]`; eye: `[N, N]`.
    /// Returns the readout `[B, N, F_out]` (not masked, as in the official code).
    fn forward(&self, x: &Tensor, adjs: &Tensor, flags3: &Tensor, eye: &Tensor) -> Tensor {
        let s = adjs.size();
        let (b, c, n) = (s[0], s[1], s[2]);
        debug_assert_eq!(c, self.channels);
        // Degree features of the masked channels, before the self-loops (gnn.py).
        let deg = adjs
            .sum_dim_intlist([-1i64].as_slice(), false, None::<Kind>)
            .transpose(1, 2);
        let h0 = Tensor::cat(&[x, &deg], -1) * flags3;
        // Self-loops on every node, padded ones included (add_self_loop_if_not_exists),
        // laid out [B, N(i), C, N(j)] once, so that each aggregation is one GEMM per graph
        // whose output is already the channel-major concatenation [B, N, C·d].
        let adj_t = (adjs + eye)
            .permute([0, 2, 1, 3])
            .contiguous()
            .view([b, n * c, n]);
        // Readout (jumping knowledge): Σ_j W2_j·LeakyReLU(W1_j h_j + b1_j) + b2_j, with the
        // five second Linears done as one GEMM over the concatenated hidden activations.
        let mut hidden = Vec::with_capacity(self.readout.len());
        let mut z = self.readout[0].0.forward(&h0);
        let _ = z.leaky_relu_();
        hidden.push(z);
        let mut cur = h0;
        for (k, (l1, l2)) in self.layers.iter().enumerate() {
            let d = cur.size()[2];
            // concat_c(A_c x) + ε_k·concat_c(x), channel-major (gin.py `_aggregate`).
            let agg =
                adj_t.bmm(&cur).view([b, n, c, d]) + cur.unsqueeze(2) * self.eps.get(k as i64);
            let mut a = l1.forward(&agg.view([b, n, c * d]));
            let _ = a.relu_();
            let mut h = l2.forward(&a);
            let _ = h.tanh_();
            let mut z = self.readout[k + 1].0.forward(&(&h * flags3));
            let _ = z.leaky_relu_();
            hidden.push(z);
            // The unmasked tanh output feeds the next step.
            cur = h;
        }
        self.readout_sum(&Tensor::cat(&hidden, -1))
    }

    /// The same parameters (shared storage and gradients), as an owned value that can be
    /// moved to another thread.
    fn shallow(&self) -> Gin {
        let pair = |(a, b): &(Linear, Linear)| (a.shallow(), b.shallow());
        Gin {
            eps: self.eps.shallow_clone(),
            layers: self.layers.iter().map(pair).collect(),
            readout: self.readout.iter().map(pair).collect(),
            channels: self.channels,
        }
    }

    /// Every parameter, in a fixed order.
    fn params(&self) -> Vec<Tensor> {
        let mut out = vec![self.eps.shallow_clone()];
        for (a, b) in self.layers.iter().chain(&self.readout) {
            for l in [a, b] {
                out.push(l.w.shallow_clone());
                out.push(l.b.shallow_clone());
            }
        }
        out
    }

    /// The readout's second Linears as one GEMM: `Σ_j W2_j z_j + Σ_j b2_j` for the
    /// concatenated hidden activations `z = [z_0 ‖ … ‖ z_K]` on the last axis.
    fn readout_sum(&self, z: &Tensor) -> Tensor {
        let w2: Vec<&Tensor> = self.readout.iter().map(|r| &r.1.w).collect();
        let b2 = Tensor::stack(&self.readout.iter().map(|r| &r.1.b).collect::<Vec<_>>(), 0)
            .sum_dim_intlist([0i64].as_slice(), false, None::<Kind>);
        z.linear(&Tensor::cat(&w2, 1), Some(&b2))
    }
}

/// `MLP(num_layers=3, use_bn=True, ELU, conditional)` on `[A_c(u,v)] ‖ x_u ‖ x_v`.
#[derive(Debug)]
struct EdgeMlp {
    lin: [Linear; 3],
    bn: [BatchNorm; 2],
    cond: [CondLayer; 2],
    c_in: i64,
    f: i64,
}

impl EdgeMlp {
    fn new(p: nn::Path, c_in: i64, f: i64, c_out: i64, levels: i64, init: &mut Init) -> Self {
        let h = 2 * c_in.max(c_out);
        let lp = &p / "linears";
        let lin = [
            Linear::new(&lp / 0, c_in + 2 * f, h, init),
            Linear::new(&lp / 1, h, h, init),
            Linear::new(&lp / 2, h, c_out, init),
        ];
        let bp = &p / "batch_norms";
        let bn = [BatchNorm::new(&bp / 0, h), BatchNorm::new(&bp / 1, h)];
        let cp = &p / "cond_layers";
        let cond = [
            CondLayer::new(&cp / 0, levels, h, init),
            CondLayer::new(&cp / 1, levels, h, init),
        ];
        Self {
            lin,
            bn,
            cond,
            c_in,
            f,
        }
    }

    /// The same parameters (shared storage), as an owned value.
    fn shallow(&self) -> EdgeMlp {
        EdgeMlp {
            lin: self.lin.each_ref().map(Linear::shallow),
            bn: self.bn.each_ref().map(BatchNorm::shallow),
            cond: self.cond.each_ref().map(CondLayer::shallow),
            c_in: self.c_in,
            f: self.f,
        }
    }

    /// The split first Linear: per-node projections `[B, H, N]` of the row and column node.
    fn node_projections(&self, x: &Tensor) -> (Tensor, Tensor) {
        let w0 = &self.lin[0].w;
        let wu = w0.narrow(1, self.c_in, self.f);
        let wv = w0.narrow(1, self.c_in + self.f, self.f);
        (
            x.matmul(&wu.tr()).transpose(1, 2),
            x.matmul(&wv.tr()).transpose(1, 2),
        )
    }

    /// adjs: `[B, C_in, N, N]`, x: `[B, N, F]` → `[B, C_out, N·N]` (rows (i, j)), before the
    /// symmetrisation.
    fn forward(&self, adjs: &Tensor, x: &Tensor, level: &Levels, train: bool) -> Tensor {
        let s = adjs.size();
        let (b, c, n) = (s[0], s[1], s[2]);
        let h = self.lin[0].out_dim();
        let a = adjs.reshape([b, c, n * n]);
        let wa = self.lin[0].w.narrow(1, 0, self.c_in);
        let (pu, pv) = self.node_projections(x);
        let (g0, gb0) = self.cond[0].batch_first(level);
        let (g1, gb1) = self.cond[1].batch_first(level);
        let b0 = self.lin[0].b.view([1, h, 1]);
        let b1 = self.lin[1].b.view([1, h, 1]);
        let h2 = if train {
            // Linear → BatchNorm (batch statistics) → gain/bias → ELU, twice.
            let puv = (pu + b0).unsqueeze(-1) + pv.unsqueeze(-2);
            // bmm + add rather than baddbmm: the backward of an added full-size input is free.
            let pre = wa.expand([b, h, c], false).bmm(&a) + puv.view([b, h, n * n]);
            let xh = self.bn[0].normalise_train(&pre);
            let (scale, shift) = bn_cond(&self.bn[0], &g0, &gb0);
            let h1 = elu_owned(affine_owned(&xh, &scale, &shift));
            let pre = affine_cf(&b1, &self.lin[1].w, &h1);
            let xh = self.bn[1].normalise_train(&pre);
            let (scale, shift) = bn_cond(&self.bn[1], &g1, &gb1);
            elu_owned(affine_owned(&xh, &scale, &shift))
        } else {
            // BatchNorm (running statistics) and gain/bias folded into per-sample weights:
            // ((W·z + b − μ)·s)·g + (β·g + b') with s = γ/√(var + ε).
            let (s0, t0) = self.bn[0].eval_affine();
            let sc0 = s0.view([1, h, 1]) * &g0; // [B|1, H, 1]
            let sh0 = t0.view([1, h, 1]) * &g0 + &gb0;
            let wa_s = wa.unsqueeze(0) * &sc0; // [B|1, H, C]
            let puv = (pu * &sc0 + (b0 * &sc0 + sh0)).unsqueeze(-1) + (pv * &sc0).unsqueeze(-2);
            let h1 = elu_owned(affine_cf(&puv.view([b, h, n * n]), &wa_s, &a));
            let (s1, t1) = self.bn[1].eval_affine();
            let sc1 = s1.view([1, h, 1]) * &g1;
            let sh1 = t1.view([1, h, 1]) * &g1 + &gb1;
            let w1_s = self.lin[1].w.unsqueeze(0) * &sc1;
            elu_owned(affine_cf(&(b1 * &sc1 + sh1), &w1_s, &h1))
        };
        let c_out = self.lin[2].out_dim();
        affine_cf(&self.lin[2].b.view([1, c_out, 1]), &self.lin[2].w, &h2)
    }
}

/// `x·scale + shift` as a product and an in-place add: unlike `addcmul`, whose backward
/// spends an extra full-size pass multiplying by its scalar `value`, this costs two passes
/// forward and two backward.
fn affine_owned(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Tensor {
    let mut y = x * scale;
    let _ = y.g_add_(shift);
    y
}

/// ELU (α = 1) in place on a freshly computed tensor (autograd saves the result, which is
/// all the ELU backward needs; the producer's backward does not need its output).
fn elu_owned(mut t: Tensor) -> Tensor {
    let _ = t.elu_();
    t
}

/// BatchNorm affine followed by the level gain/bias, as one per-sample affine map:
/// `(x̂·γ + β)·g + b = x̂·(γg) + (βg + b)`. Returns `(scale, shift)`, each `[B, H, 1]`.
fn bn_cond(bn: &BatchNorm, g: &Tensor, gb: &Tensor) -> (Tensor, Tensor) {
    let h = bn.weight.size()[0];
    let scale = bn.weight.view([1, h, 1]) * g;
    let shift = bn.bias.view([1, h, 1]) * g + gb;
    (scale, shift)
}

/// `MLP(num_layers=3, ELU, conditional, no BatchNorm)` over the stacked adjacency channels.
#[derive(Debug)]
struct ReadScore {
    lin: [Linear; 3],
    cond: [CondLayer; 2],
}

impl ReadScore {
    fn new(p: nn::Path, c_sum: i64, levels: i64, init: &mut Init) -> Self {
        let h = 2 * c_sum;
        let lp = &p / "linears";
        let lin = [
            Linear::new(&lp / 0, c_sum, h, init),
            Linear::new(&lp / 1, h, h, init),
            Linear::new(&lp / 2, h, 1, init),
        ];
        let cp = &p / "cond_layers";
        let cond = [
            CondLayer::new(&cp / 0, levels, h, init),
            CondLayer::new(&cp / 1, levels, h, init),
        ];
        Self { lin, cond }
    }

    /// Every parameter: the Linears' weights and biases, then the levels' gains and biases.
    fn params(&self) -> Vec<Tensor> {
        let lin = self.lin.iter().flat_map(|l| [&l.w, &l.b]);
        let cond = self.cond.iter().flat_map(|c| [&c.gain, &c.bias]);
        lin.chain(cond).map(Tensor::shallow_clone).collect()
    }

    /// The same parameters (shared storage), as an owned value.
    fn shallow(&self) -> ReadScore {
        ReadScore {
            lin: self.lin.each_ref().map(Linear::shallow),
            cond: self.cond.each_ref().map(CondLayer::shallow),
        }
    }

    /// stack: the adjacency stacks `[B, C_l, N, N]` of the input and of every layer, each
    /// exactly symmetric in the last two axes → score `[B, N, N]` with zero diagonal (not
    /// masked by the node flags, as in the official code).
    ///
    /// The strict upper triangle of every channel is gathered into one channel-major
    /// `[ΣC, B·P]` matrix, so each Linear is one GEMM over many pairs.
    fn forward(&self, stack: &[Tensor], level: &Levels) -> Tensor {
        let s = stack[0].size();
        let (b, n) = (s[0], s[2]);
        let p = n * (n - 1) / 2;
        let (upper, sym) = pair_indices(n, stack[0].device());
        let parts: Vec<Tensor> = stack
            .iter()
            .map(|t| {
                let c = t.size()[1];
                let idx = upper.view([1, 1, p]).expand([b, c, p], false);
                t.reshape([b, c, n * n])
                    .gather(2, &idx, false)
                    .permute([1, 0, 2])
            })
            .collect();
        let c_sum: i64 = parts.iter().map(|t| t.size()[0]).sum();
        let u = Tensor::cat(&parts, 0).contiguous().view([c_sum, b * p]); // [ΣC, B·P]
        let runs = level.runs(b);
        let out = if runs.len() as i64 <= 2 * self.cond[0].gain.size()[0] {
            // Samples come in a few runs of one level (σ-major or uniform): fold each run's
            // gain/bias into the weights, (W h + b)·g + b' = (g ⊙ W) h + (b·g + b'), so each
            // Linear is one GEMM over the run's pairs, bias included. Exact in train and
            // eval mode: the head has no BatchNorm.
            // One split (its backward is one concatenation, where narrow views would each
            // materialise a full-size gradient).
            let sizes: Vec<i64> = runs.iter().map(|r| r.2 * p).collect();
            let pieces = u.split_with_sizes(sizes.as_slice(), 1);
            let outs: Vec<Tensor> = runs
                .iter()
                .zip(pieces)
                .map(|(&(l, _, _), piece)| {
                    let mut h = piece;
                    for (lin, cond) in self.lin[..2].iter().zip(&self.cond) {
                        let o = lin.out_dim();
                        let g = cond.gain.get(l).view([o, 1]);
                        let gb = cond.bias.get(l).view([o, 1]);
                        let shift = lin.b.view([o, 1]) * &g + gb;
                        let mut z = shift.addmm(&(&lin.w * &g), &h);
                        let _ = z.elu_();
                        h = z;
                    }
                    self.lin[2].b.view([1, 1]).addmm(&self.lin[2].w, &h)
                })
                .collect();
            Tensor::cat(&outs, 1) // [1, B·P]
        } else {
            // Levels in any order: one GEMM, then each sample's gain and bias.
            let mut h = u;
            for (lin, cond) in self.lin[..2].iter().zip(&self.cond) {
                let o = lin.out_dim();
                let (g, gb) = cond.channel_major(level); // [O, B, 1]
                let shift = lin.b.view([o, 1, 1]) * &g + gb;
                let mut z = shift
                    .addcmul(&lin.w.mm(&h).view([o, b, p]), &g)
                    .view([o, b * p]);
                let _ = z.elu_();
                h = z;
            }
            self.lin[2].b.view([1, 1]).addmm(&self.lin[2].w, &h)
        };
        let zero = Tensor::zeros([b, 1], (out.kind(), out.device()));
        Tensor::cat(&[out.view([b, p]), zero], 1)
            .index_select(1, &sym)
            .view([b, n, n])
    }
}

/// Blocks `[m_i, …]` whose rows are the batch entries `members_i` (each entry in exactly one
/// block), concatenated back into the batch's order.
pub(crate) fn in_batch_order(blocks: Vec<(Vec<usize>, Tensor)>, device: Device) -> Tensor {
    let b = blocks.iter().map(|(members, _)| members.len()).sum();
    let mut inverse = vec![0i64; b];
    let mut pos = 0;
    for (members, _) in &blocks {
        for &g in members {
            inverse[g] = pos;
            pos += 1;
        }
    }
    let inverse = Tensor::from_slice(&inverse).to_device(device);
    let tensors: Vec<Tensor> = blocks.into_iter().map(|(_, t)| t).collect();
    Tensor::cat(&tensors, 0).index_select(0, &inverse)
}

/// Flat indices of the strict upper triangle (row-major, `[P]`) and, for every `(i, j)`, the
/// position of pair `{i, j}` in that list, or `P` on the diagonal (`[N·N]`).
fn pair_indices(n: i64, device: Device) -> (Tensor, Tensor) {
    let p = n * (n - 1) / 2;
    let mut upper = Vec::with_capacity(p as usize);
    let mut pos = vec![p; (n * n) as usize];
    for i in 0..n {
        for j in (i + 1)..n {
            let k = upper.len() as i64;
            upper.push(i * n + j);
            pos[(i * n + j) as usize] = k;
            pos[(j * n + i) as usize] = k;
        }
    }
    (
        Tensor::from_slice(&upper).to_device(device),
        Tensor::from_slice(&pos).to_device(device),
    )
}

// ---------------------------------------------------------------------------------------------
// The network.

/// One EDP layer: multi-channel GIN node update, then the per-pair edge MLP, symmetrised
/// and masked (edp_gnn.py `EdgeDensePredictionGNNLayer`).
#[derive(Debug)]
struct EdpLayer {
    gin: Gin,
    edge: EdgeMlp,
}

/// The EDP-GNN score network `s_θ(Ã, σ_i)` (`EdgeDensePredictionGraphScoreNetwork`).
#[derive(Debug)]
pub struct EdpGnn {
    layers: Vec<EdpLayer>,
    head: ReadScore,
    num_levels: i64,
}

impl EdpGnn {
    /// The same parameters and buffers (shared storage and gradients), as an owned value
    /// that can be moved to another thread (for read-only use there: eval-mode forwards).
    pub(crate) fn shallow(&self) -> EdpGnn {
        EdpGnn {
            layers: self
                .layers
                .iter()
                .map(|l| EdpLayer {
                    gin: l.gin.shallow(),
                    edge: l.edge.shallow(),
                })
                .collect(),
            head: self.head.shallow(),
            num_levels: self.num_levels,
        }
    }

    /// Builds the network under `p` (use the var store's root for official parameter names)
    /// with PyTorch's default initialisation drawn from a ChaCha8 stream seeded by `seed`.
    /// Variables are created on the var store's device, in float32.
    pub fn new(p: &nn::Path, config: &EdpGnnConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut init = Init {
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        let levels = config.num_levels() as i64;
        // feature list F = [in_feature] + feature_nums, channels C = [2] + channel_num_list.
        let mut feats = vec![IN_FEATURES];
        feats.extend(config.feature_nums.iter().map(|&f| f as i64));
        let mut chans = vec![2i64];
        chans.extend(config.channel_num_list.iter().map(|&c| c as i64));
        let hidden: Vec<i64> = config
            .gnn_hidden_num_list
            .iter()
            .map(|&h| h as i64)
            .collect();
        // The head is created first, as in the official constructor (the order only matters
        // for the draws of the initialisation stream).
        let head = ReadScore::new(
            p / "final_read_score",
            chans.iter().sum(),
            levels,
            &mut init,
        );
        let gp = p / "gnn_list";
        let layers = (0..config.num_layers())
            .map(|i| {
                let q = &gp / i;
                let mut gin_feats = vec![feats[i] + chans[i]];
                gin_feats.extend(&hidden);
                let gin = Gin::new(
                    &q / "multi_channel_gnn_module",
                    &gin_feats,
                    feats[i + 1],
                    chans[i],
                    &mut init,
                );
                let edge = EdgeMlp::new(
                    &q / "translate_mlp",
                    chans[i],
                    feats[i + 1],
                    chans[i + 1],
                    levels,
                    &mut init,
                );
                EdpLayer { gin, edge }
            })
            .collect();
        Ok(Self {
            layers,
            head,
            num_levels: levels,
        })
    }

    /// Number of trainable parameters of the network `config` describes (91,013 for the
    /// official Community-small / Ego-small configuration).
    pub fn num_parameters(config: &EdpGnnConfig) -> usize {
        let lin = |i: usize, o: usize| i * o + o;
        let levels = config.num_levels();
        let mut feats = vec![IN_FEATURES as usize];
        feats.extend(&config.feature_nums);
        let mut chans = vec![2usize];
        chans.extend(&config.channel_num_list);
        let c_sum: usize = chans.iter().sum();
        let hh = 2 * c_sum;
        let mut total = lin(c_sum, hh) + lin(hh, hh) + lin(hh, 1) + 2 * 2 * levels * hh;
        for i in 0..config.num_layers() {
            let mut g = vec![feats[i] + chans[i]];
            g.extend(&config.gnn_hidden_num_list);
            let hid = 2 * g.iter().copied().max().unwrap_or(1);
            let k = g.len() - 1;
            total += k; // eps
            for j in 0..k {
                total += lin(g[j] * chans[i], hid) + lin(hid, g[j + 1]);
            }
            for &gj in &g {
                total += lin(gj, hid) + lin(hid, feats[i + 1]);
            }
            let h = 2 * chans[i].max(chans[i + 1]);
            total += lin(chans[i] + 2 * feats[i + 1], h) + lin(h, h) + lin(h, chans[i + 1]);
            total += 2 * 2 * h; // BatchNorm affine
            total += 2 * 2 * levels * h; // conditional gain and bias
        }
        total
    }

    /// Number of noise levels the network is conditioned on.
    pub fn num_levels(&self) -> i64 {
        self.num_levels
    }

    /// Kind of the network's weights (inputs must have it).
    pub fn kind(&self) -> Kind {
        self.head.lin[0].w.kind()
    }

    /// Device of the network's weights.
    pub fn device(&self) -> Device {
        self.head.lin[0].w.device()
    }

    /// The official forward `model(x, adjs, node_flags)`.
    ///
    /// * `x`: `[B, N, 1]` node features (all zeros for the official preprocessing);
    /// * `adj`: `[B, N, N]` noisy adjacency Ã, **exactly symmetric**, masked by the flags;
    /// * `flags`: `[B, N]` 0/1 node flags;
    /// * `cond`: each sample's noise level;
    /// * `train`: BatchNorm uses batch statistics (and updates its running statistics) when
    ///   true, running statistics when false.
    ///
    /// Returns the score `[B, N, N]`: symmetric, zero on the diagonal, and — as in the
    /// official network — **not** masked by the flags (padded pairs get the head's response
    /// to an all-zero input). All tensors must have the kind of the network's weights.
    pub fn forward_t(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        cond: Conditioning<'_>,
        train: bool,
    ) -> Result<Tensor> {
        let level = self.check_inputs(x, adj, flags, cond)?;
        Ok(self.forward_impl(x, adj, flags, &level, train, None))
    }

    /// [`EdpGnn::forward_t`] that also returns every EDP layer's `(x_o, new_adjs)`.
    pub fn forward_trace(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        cond: Conditioning<'_>,
        train: bool,
    ) -> Result<(Tensor, Vec<LayerTrace>)> {
        let level = self.check_inputs(x, adj, flags, cond)?;
        let mut trace = Vec::with_capacity(self.layers.len());
        let score = self.forward_impl(x, adj, flags, &level, train, Some(&mut trace));
        Ok((score, trace))
    }

    /// Train-mode forward for training: the score of [`EdpGnn::forward_t`] with `train`
    /// true (BatchNorm batch statistics, running statistics updated), and the
    /// [`TrainTape`] whose [`TrainTape::backward`] takes its gradient, by the method
    /// `backward` selects (see [`EdgeBackward`]; every method gives the same gradient up to
    /// float rounding).
    pub fn forward_train_tape(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        cond: Conditioning<'_>,
        backward: EdgeBackward,
    ) -> Result<(Tensor, TrainTape<'_>)> {
        let level = self.check_inputs(x, adj, flags, cond)?;
        let cpu = adj.device() == Device::Cpu;
        let hand_written = match backward {
            EdgeBackward::Auto => cpu && tch::get_num_threads() <= 2,
            EdgeBackward::HandWritten if !cpu => {
                return Err(input_err(
                    "backward",
                    format!(
                        "the hand-written edge-MLP backward runs on the CPU; the batch is on {:?}",
                        adj.device()
                    ),
                ))
            }
            EdgeBackward::HandWritten => true,
            EdgeBackward::Autograd => false,
        };
        if hand_written {
            let (score, tape) = self.forward_train_fused(x, adj, flags, &level);
            Ok((
                score,
                TrainTape {
                    inner: TapeInner::Fused(self, Box::new(tape)),
                },
            ))
        } else {
            let score = self.forward_impl(x, adj, flags, &level, true, None);
            Ok((
                score,
                TrainTape {
                    inner: TapeInner::Autograd,
                },
            ))
        }
    }

    /// Eval-mode score of graphs whose present nodes are a prefix: graph g has nodes
    /// `0..node_counts[g]` present (flags 1) and the rest padding. Equal (up to float
    /// rounding) to [`EdpGnn::forward_t`] in eval mode with those flags and all-zero node
    /// features, padded entries included, but computed without the padding.
    ///
    /// In eval mode (BatchNorm with running statistics) every pair's output depends on the
    /// present nodes only, and the head's input at a padded pair is all-zero, so its output
    /// there is a per-level constant. Graphs are therefore grouped by node count and each
    /// group is evaluated at its own size; the constants fill the padded pairs. Graphs with
    /// the same count share GEMMs, and no work is spent on padding.
    ///
    /// adj: `[B, N, N]` exactly symmetric, masked; returns `[B, N, N]`.
    pub fn score_prefix(
        &self,
        adj: &Tensor,
        node_counts: &[usize],
        cond: Conditioning<'_>,
    ) -> Result<Tensor> {
        let (kind, device) = (self.kind(), self.device());
        let s = adj.size();
        if s.len() != 3 || s[1] != s[2] || s[1] < 2 {
            return Err(input_err(
                "adj",
                format!("expected [B, N, N] with N ≥ 2, got {s:?}"),
            ));
        }
        if adj.kind() != kind || adj.device() != device {
            return Err(input_err(
                "adj",
                format!(
                    "is {:?} on {:?}; the network's weights are {kind:?} on {device:?}",
                    adj.kind(),
                    adj.device()
                ),
            ));
        }
        let (b, n) = (s[0], s[1]);
        if node_counts.len() as i64 != b {
            return Err(input_err(
                "node_counts",
                format!("{} counts for a batch of {b}", node_counts.len()),
            ));
        }
        if let Some(g) = node_counts.iter().position(|&c| c as i64 > n) {
            return Err(input_err(
                "node_counts",
                format!("graph {g} has {} nodes, more than N = {n}", node_counts[g]),
            ));
        }
        let level = sigma_levels(cond, b, self.num_levels, device)?;
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (g, &c) in node_counts.iter().enumerate() {
            groups.entry(c).or_default().push(g);
        }
        let mut blocks = Vec::with_capacity(groups.len());
        for (c, members) in groups {
            let m = members.len() as i64;
            let c = c as i64;
            if c < 2 {
                blocks.push((members, Tensor::zeros([m, n, n], (kind, device))));
                continue;
            }
            let rows: Vec<i64> = members.iter().map(|&g| g as i64).collect();
            let idx = Tensor::from_slice(&rows).to_device(device);
            let sub = adj
                .index_select(0, &idx)
                .narrow(1, 0, c)
                .narrow(2, 0, c)
                .contiguous();
            let flags = Tensor::ones([m, c], (kind, device));
            let x = Tensor::zeros([m, c, IN_FEATURES], (kind, device));
            let lv = level.subset(&rows, device);
            let out = self.forward_impl(&x, &sub, &flags, &lv, false, None);
            blocks.push((members, out.constant_pad_nd([0, n - c, 0, n - c])));
        }
        let blocks = in_batch_order(blocks, device);
        // Padded off-diagonal pairs: the head's response to an all-zero input.
        let counts: Vec<f32> = node_counts.iter().map(|&c| c as f32).collect();
        let counts = Tensor::from_slice(&counts).to_device(device).to_kind(kind);
        let ar = Tensor::arange(n, (kind, device));
        let present = ar
            .unsqueeze(0)
            .lt_tensor(&counts.unsqueeze(1))
            .to_kind(kind); // [B, N]
        let eye = Tensor::eye(n, (kind, device));
        let padded_pair = (1.0 - present.unsqueeze(-1) * present.unsqueeze(1)) * (1.0 - eye); // [B, N, N]
        let constant = self.zero_input_response(&level, b);
        Ok(blocks + padded_pair * constant.view([b, 1, 1]))
    }

    /// The score at a padded pair for each sample's level: the head applied to an all-zero
    /// input. Returns `[B]`.
    fn zero_input_response(&self, level: &Levels, b: i64) -> Tensor {
        let (kind, device) = (self.kind(), self.device());
        let l = self.num_levels;
        let mut chans = vec![2i64];
        chans.extend(self.layers.iter().map(|layer| layer.edge.lin[2].out_dim()));
        let stack: Vec<Tensor> = chans
            .iter()
            .map(|&c| Tensor::zeros([l, c, 2, 2], (kind, device)))
            .collect();
        let all = Levels::per_sample((0..l).collect(), device);
        let per_level = self.head.forward(&stack, &all).select(1, 0).select(1, 1); // [L]
        match level {
            Levels::PerSample(lv, _) => per_level.index_select(0, lv),
            Levels::Uniform(lv) => per_level.narrow(0, *lv, 1).expand([b], false),
        }
    }

    /// Forward pass without input checks. On the CPU, a train-mode batch whose present pairs
    /// are at most half of the padded ones runs on the present pairs only (`packed.rs`, the
    /// same math; faster when much of the batch is padding, as in Ego-small); everything else
    /// runs on the padded batch.
    pub(crate) fn forward_impl(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        level: &Levels,
        train: bool,
        trace: Option<&mut Vec<LayerTrace>>,
    ) -> Tensor {
        if train && adj.device() == Device::Cpu && packed::present_fraction(flags) <= 0.5 {
            self.forward_train_packed(x, adj, flags, level, trace)
        } else {
            let skip_absent = adj.device() == Device::Cpu;
            self.forward_padded(x, adj, flags, level, train, skip_absent, trace)
        }
    }

    /// The padded forward, the official layout: every pair of the `N×N` padding goes
    /// through every edge MLP. With `skip_absent_nodes` the GIN runs on the present nodes
    /// only (exact; it saves work on the CPU, where the index bookkeeping is cheap); without,
    /// it is the official computation throughout, the reference of the tests.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_padded(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        level: &Levels,
        train: bool,
        skip_absent_nodes: bool,
        mut trace: Option<&mut Vec<LayerTrace>>,
    ) -> Tensor {
        let n = adj.size()[1];
        let flags3 = flags.unsqueeze(-1);
        // mask_adjs: rows and columns of absent nodes are zero ([B, 1, N, N], 0/1 exact).
        let mask = (&flags3 * flags.unsqueeze(1)).unsqueeze(1);
        let eye = Tensor::eye(n, (adj.kind(), adj.device()));
        let a = adj.unsqueeze(1);
        let mut adjs = Tensor::cat(&[&a, &(1.0 - &a)], 1) * &mask;
        let mut stack = Vec::with_capacity(self.layers.len() + 1);
        stack.push(adjs.shallow_clone());
        let mut x = x.shallow_clone();
        let present = if skip_absent_nodes {
            packed::present_nodes(flags)
        } else {
            None
        };
        for layer in &self.layers {
            let x_o = match &present {
                // GIN on the present nodes only (exact: it has no BatchNorm), then x_pad at
                // the absent nodes.
                Some(idx) => {
                    let f_in = x.size()[2];
                    let rows = x.reshape([-1, f_in]).index_select(0, idx);
                    let out = layer.gin.forward_packed(&rows, &adjs, &eye, idx);
                    let x_pad = layer.gin.padded_output();
                    packed::dense_nodes(&out, &x_pad, idx, x.size()[0], n)
                }
                None => layer.gin.forward(&x, &adjs, &flags3, &eye),
            };
            let s = layer.edge.forward(&adjs, &x_o, level, train);
            let c_out = s.size()[1];
            let s = s.view([-1, c_out, n, n]);
            let new_adjs = (&s + s.transpose(-1, -2)) * &mask;
            if let Some(t) = trace.as_deref_mut() {
                t.push(LayerTrace {
                    x: x_o.shallow_clone(),
                    adjs: new_adjs.shallow_clone(),
                });
            }
            stack.push(new_adjs.shallow_clone());
            adjs = new_adjs;
            x = x_o;
        }
        self.head.forward(&stack, level)
    }

    /// Validates the inputs and resolves the conditioning.
    fn check_inputs(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        cond: Conditioning<'_>,
    ) -> Result<Levels> {
        let (kind, device) = (self.kind(), self.device());
        let s = adj.size();
        if s.len() != 3 || s[1] != s[2] || s[1] < 2 {
            return Err(input_err(
                "adj",
                format!("expected [B, N, N] with N ≥ 2, got {s:?}"),
            ));
        }
        let (b, n) = (s[0], s[1]);
        if flags.size() != [b, n] {
            return Err(input_err(
                "flags",
                format!("expected [{b}, {n}], got {:?}", flags.size()),
            ));
        }
        if x.size() != [b, n, IN_FEATURES] {
            return Err(input_err(
                "x",
                format!("expected [{b}, {n}, {IN_FEATURES}], got {:?}", x.size()),
            ));
        }
        for (what, t) in [("adj", adj), ("flags", flags), ("x", x)] {
            if t.kind() != kind || t.device() != device {
                return Err(input_err(
                    what,
                    format!(
                        "is {:?} on {:?}; the network's weights are {kind:?} on {device:?}",
                        t.kind(),
                        t.device()
                    ),
                ));
            }
        }
        sigma_levels(cond, b, self.num_levels, device)
    }
}

/// Resolves a [`Conditioning`] for a batch of `batch` samples, validating it.
pub(crate) fn sigma_levels(
    cond: Conditioning<'_>,
    batch: i64,
    num_levels: i64,
    device: Device,
) -> Result<Levels> {
    match cond {
        Conditioning::SigmaMajor => {
            if batch % num_levels != 0 || batch == 0 {
                return Err(input_err(
                    "cond",
                    format!(
                        "a σ-major batch needs a positive multiple of {num_levels} samples, got {batch}"
                    ),
                ));
            }
            let per = batch / num_levels;
            Ok(Levels::per_sample(
                (0..batch).map(|i| i / per).collect(),
                device,
            ))
        }
        Conditioning::PerSample(level) => {
            if level.size() != [batch] || level.kind() != Kind::Int64 {
                return Err(input_err(
                    "cond",
                    format!(
                        "per-sample levels must be [{batch}] int64, got {:?} {:?}",
                        level.size(),
                        level.kind()
                    ),
                ));
            }
            let host = Vec::<i64>::try_from(&level.to_device(Device::Cpu))
                .map_err(|e| input_err("cond", e.to_string()))?;
            if let Some(bad) = host.iter().find(|&&l| l < 0 || l >= num_levels) {
                return Err(input_err(
                    "cond",
                    format!("levels must lie in 0..{num_levels}, got {bad}"),
                ));
            }
            Ok(Levels::PerSample(level.to_device(device), host))
        }
        Conditioning::Level(l) => {
            if l as i64 >= num_levels {
                return Err(input_err(
                    "cond",
                    format!("level {l} is outside 0..{num_levels}"),
                ));
            }
            Ok(Levels::Uniform(l as i64))
        }
    }
}

/// Loads an official EDP-GNN `state_dict` saved as safetensors (keys as in
/// GraphScoreMatching's `model.state_dict()`) into `vs`, which must hold exactly the
/// variables of an [`EdpGnn`] built under its root. Strict: every variable must be present
/// with the same shape, and the file must hold nothing else. Values are converted to each
/// variable's kind.
pub fn load_official_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let werr = |reason: String| EdpGnnError::Weights {
        path: path.to_owned(),
        reason,
    };
    let file: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| werr(e.to_string()))?
        .into_iter()
        .collect();
    graph_tensor::checkpoint::copy_into_vars(vs, &file, "", false).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_official() {
        let cfg = EdpGnnConfig::default();
        assert_eq!(EdpGnn::num_parameters(&cfg), 91_013);
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = EdpGnn::new(&vs.root(), &cfg, 0).unwrap();
        let n: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(n, 91_013);
        // 265 parameters + 10 BatchNorms × 3 buffers, as in the official state_dict.
        assert_eq!(vs.variables().len(), 295);
        let buffers: i64 = vs
            .variables()
            .iter()
            .filter(|(_, t)| !t.requires_grad())
            .map(|(_, t)| t.numel() as i64)
            .sum();
        assert_eq!(buffers, 154);
    }

    #[test]
    fn other_shapes_count_consistently() {
        let cfg = EdpGnnConfig {
            feature_nums: vec![8, 12, 4],
            channel_num_list: vec![3, 5, 1],
            gnn_hidden_num_list: vec![7, 9],
            sigmas: vec![0.5, 1.0],
            ..EdpGnnConfig::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = EdpGnn::new(&vs.root(), &cfg, 0).unwrap();
        let n: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
        assert_eq!(n, EdpGnn::num_parameters(&cfg));
    }

    #[test]
    fn pair_indices_are_consistent() {
        let (upper, sym) = pair_indices(4, Device::Cpu);
        assert_eq!(
            Vec::<i64>::try_from(&upper).unwrap(),
            vec![1, 2, 3, 6, 7, 11]
        );
        let sym = Vec::<i64>::try_from(&sym).unwrap();
        assert_eq!(sym[0], 6);
        assert_eq!(sym[1], 0);
        assert_eq!(sym[4], 0);
        assert_eq!(sym[14], 5);
        assert_eq!(sym[11], 5);
    }

    #[test]
    fn init_is_seeded() {
        let cfg = EdpGnnConfig::default();
        let a = nn::VarStore::new(Device::Cpu);
        let b = nn::VarStore::new(Device::Cpu);
        let c = nn::VarStore::new(Device::Cpu);
        EdpGnn::new(&a.root(), &cfg, 7).unwrap();
        EdpGnn::new(&b.root(), &cfg, 7).unwrap();
        EdpGnn::new(&c.root(), &cfg, 8).unwrap();
        let key = "gnn_list.2.translate_mlp.cond_layers.1.gain";
        let (va, vb, vc) = (
            &a.variables()[key],
            &b.variables()[key],
            &c.variables()[key],
        );
        assert_eq!(va.size(), [6, 1, 8]);
        assert!(va.equal(vb));
        assert!(!va.equal(vc));
        let w = &a.variables()["final_read_score.linears.0.weight"];
        let bound = 1.0 / 18f64.sqrt();
        assert!(w.abs().max().double_value(&[]) <= bound);
        assert!(w.abs().max().double_value(&[]) > 0.5 * bound);
    }
}
