//! Train-mode forward without the padding's per-pair work, exactly equal (up to float
//! rounding) to the padded official forward.
//!
//! In train mode every edge MLP's BatchNorm takes its statistics over all `B·N·N` ordered
//! pairs of the padded batch, padded pairs included, so the padding cannot simply be dropped.
//! But the padded pairs carry little information (GraphScoreMatching:model/edp_gnn.py with
//! masked adjacencies and `node_flags`):
//!
//! * every adjacency channel is zero at a pair that touches an absent node (`mask_adjs`);
//! * the node features `x_o` of an absent node are one constant vector `x_pad`: its GIN
//!   readout input is masked to zero at every depth, so `x_o = Σ_j W2_j·LeakyReLU(b1_j) + b2`.
//!
//! The edge MLP is row-wise apart from BatchNorm, so a pair `(u, v)` with `u` present and `v`
//! absent has the same hidden activations for every absent `v` (they depend on `x_u`, `x_pad`
//! and the sample's level only); likewise `(v, u)`, and every pair of two absent nodes has a
//! per-sample constant. A graph with `n` present nodes out of `N` therefore has `n²` distinct
//! present rows, `2n` distinct half-padded rows of multiplicity `m = N − n` and one fully
//! padded row of multiplicity `m²`. BatchNorm statistics are the weighted mean and biased
//! variance over these rows (total weight `B·N²`), and the running statistics get the same
//! update as `nn.BatchNorm1d` (unbiased variance over `B·N²` rows, momentum 0.1).
//!
//! Rows touching absent nodes are needed only for these statistics: the layer's output there
//! is masked away, so the last Linear runs on the present rows only. The output head has no
//! BatchNorm; it runs on the present upper-triangle pairs, and every off-diagonal pair that
//! touches an absent node gets the head's response to an all-zero input, as in the padded
//! forward.
//!
//! The GIN has no BatchNorm and a present node aggregates present neighbours only, so it runs
//! on the present nodes ([`super::Gin::forward_packed`], or hand-written in `fused_gin.rs`
//! for the fused training step); the padded forward uses that too on the CPU, in both modes.
//!
//! Present nodes may be any subset of `0..N` (the official flags mark non-isolated nodes).

use tch::{Device, Kind, Tensor};

use super::fused::{self, host_f64, EdgeTape, HostRows};
use super::fused_gin::{self, GinGrads, GinParams, GinTape, PartLayout};
use super::{EdgeMlp, EdpGnn, LayerTrace, Levels, ReadScore, BN_EPS};

/// Fraction of the padded batch's ordered pairs that join two present nodes:
/// `Σ_g n_g² / (B·N²)` for flags `[B, N]`.
pub(super) fn present_fraction(flags: &Tensor) -> f64 {
    let s = flags.size();
    let total = (s[0] * s[1] * s[1]) as f64;
    if total == 0.0 {
        return 1.0;
    }
    let counts = flags.sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    counts.square().sum(Kind::Double).double_value(&[]) / total
}

/// Flat indices `g·N + u` of the present nodes of flags `[B, N]`, or `None` when every node
/// is present.
pub(super) fn present_nodes(flags: &Tensor) -> Option<Tensor> {
    let flat = flags.reshape([-1]).nonzero().view([-1]);
    (flat.size()[0] < flags.numel() as i64).then_some(flat)
}

/// Present-node rows `[K, F]` → the dense `[B, N, F]`, with `x_pad` (`[F]`) at absent nodes.
pub(super) fn dense_nodes(
    rows: &Tensor,
    x_pad: &Tensor,
    node_flat: &Tensor,
    b: i64,
    n: i64,
) -> Tensor {
    let f = x_pad.size()[0];
    x_pad
        .view([1, f])
        .expand([b * n, f], false)
        .contiguous()
        .index_copy(0, node_flat, rows)
        .view([b, n, f])
}

/// Index tables of one batch's present nodes and pairs (built on the host from the flags).
pub(super) struct Packing {
    b: i64,
    n: i64,
    /// Present ordered pairs `(g, u, v)`, diagonal included, sample-major then `u`, `v`:
    /// flat index `g·N² + u·N + v`. `[R]`.
    pair_flat: Tensor,
    /// Present nodes `(g, u)` as flat indices `g·N + u`, sample-major. `[K]`.
    node_flat: Tensor,
    /// For every row (present pairs, then half-padded `(u, pad)`, `(pad, u)`, then one fully
    /// padded row per sample): index of its row node in the node table `[K + 1]` (the present
    /// nodes, then the absent-node constant at `K`). `[T]`.
    row_u: Tensor,
    /// Same for the column node. `[T]`.
    row_v: Tensor,
    /// Level of every row. `[T]`.
    row_level: Tensor,
    /// Multiplicity of every row (1, `m`, `m`, `m²`), `[T, 1]`, in the network's kind.
    row_weight: Tensor,
    /// Position (in `0..R`) of the transposed pair of every present pair. `[R]`.
    transpose: Tensor,
    /// Positions (in `0..R`) of the present pairs with `u < v`. `[P]`.
    upper: Tensor,
    /// Flat indices of those pairs and of their transposes: `[2P]`.
    upper_lower_flat: Tensor,
    /// Runs of equal level among the upper pairs: `(level, rows)`.
    upper_runs: Vec<(i64, i64)>,
    /// Level of every upper pair. `[P]`.
    upper_level: Tensor,
    /// The same on the host.
    upper_level_host: Vec<i64>,
    /// Index of sample `g`'s first upper pair (`[B + 1]`, host; sample-major like the rows).
    upper_start: Vec<usize>,
    /// `[B, N, N]` 1 at off-diagonal pairs that touch an absent node.
    padded_offdiag: Tensor,
    /// Number of present pairs `R`.
    r: i64,
    /// The rows on the host, for the hand-written edge MLP ([`super::fused`]).
    pub(super) host: HostRows,
    /// Index of sample `g`'s first present node in `node_flat` (`[B + 1]`, host).
    node_start: Vec<i64>,
    /// Index of sample `g`'s first present pair among the rows (`[B + 1]`, host): the pairs
    /// are sample-major, so a run of samples owns a contiguous run of rows.
    pair_start: Vec<usize>,
}

impl Packing {
    /// flags: `[B, N]` 0/1 (any kind, any device); levels: each sample's level.
    pub(super) fn new(flags: &Tensor, levels: &[i64], kind: Kind, device: Device) -> Packing {
        let s = flags.size();
        let (b, n) = (s[0], s[1]);
        let host: Vec<f64> = Vec::try_from(
            &flags
                .to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .reshape([-1]),
        )
        .expect("flags convert to f64");
        let present: Vec<Vec<i64>> = (0..b)
            .map(|g| {
                (0..n)
                    .filter(|&u| host[(g * n + u) as usize] != 0.0)
                    .collect()
            })
            .collect();
        let mut node_flat = vec![];
        let mut node_pos = vec![-1i64; (b * n) as usize];
        for (g, nodes) in present.iter().enumerate() {
            for &u in nodes {
                node_pos[g * n as usize + u as usize] = node_flat.len() as i64;
                node_flat.push(g as i64 * n + u);
            }
        }
        let mut node_start = vec![0i64];
        let mut pair_start = vec![0usize];
        let mut upper_start = vec![0usize];
        for nodes in &present {
            let k = nodes.len();
            node_start.push(node_start.last().unwrap_or(&0) + k as i64);
            pair_start.push(pair_start.last().unwrap_or(&0) + k * k);
            upper_start.push(upper_start.last().unwrap_or(&0) + k * k.saturating_sub(1) / 2);
        }
        let pad_node = node_flat.len() as i64;
        let node_of = |g: i64, u: i64| node_pos[(g * n + u) as usize];
        let (mut pair_flat, mut row_u, mut row_v, mut row_level) = (vec![], vec![], vec![], vec![]);
        let mut row_weight: Vec<f64> = vec![];
        let mut transpose = vec![];
        let (mut upper, mut upper_flat, mut lower_flat, mut upper_level) =
            (vec![], vec![], vec![], vec![]);
        let mut padded_offdiag = vec![0f64; (b * n * n) as usize];
        for (g, nodes) in present.iter().enumerate() {
            let g = g as i64;
            let k = nodes.len() as i64;
            let base = pair_flat.len() as i64;
            for (i, &u) in nodes.iter().enumerate() {
                for (j, &v) in nodes.iter().enumerate() {
                    let pos = pair_flat.len() as i64;
                    pair_flat.push(g * n * n + u * n + v);
                    row_u.push(node_of(g, u));
                    row_v.push(node_of(g, v));
                    row_level.push(levels[g as usize]);
                    row_weight.push(1.0);
                    transpose.push(base + (j as i64) * k + i as i64);
                    if u < v {
                        upper.push(pos);
                        upper_flat.push(g * n * n + u * n + v);
                        lower_flat.push(g * n * n + v * n + u);
                        upper_level.push(levels[g as usize]);
                    }
                }
            }
            let mut is_present = vec![false; n as usize];
            for &u in nodes {
                is_present[u as usize] = true;
            }
            for u in 0..n {
                for v in 0..n {
                    if u != v && !(is_present[u as usize] && is_present[v as usize]) {
                        padded_offdiag[(g * n * n + u * n + v) as usize] = 1.0;
                    }
                }
            }
        }
        let r = pair_flat.len() as i64;
        // Half-padded rows (u, pad) then (pad, u), then the fully padded row of each sample.
        for (first, second) in [(true, false), (false, true)] {
            for (g, nodes) in present.iter().enumerate() {
                let m = (n - nodes.len() as i64) as f64;
                for &u in nodes {
                    let node = node_of(g as i64, u);
                    row_u.push(if first { node } else { pad_node });
                    row_v.push(if second { node } else { pad_node });
                    row_level.push(levels[g]);
                    row_weight.push(m);
                }
            }
        }
        for (g, nodes) in present.iter().enumerate() {
            let m = (n - nodes.len() as i64) as f64;
            row_u.push(pad_node);
            row_v.push(pad_node);
            row_level.push(levels[g]);
            row_weight.push(m * m);
        }
        let mut upper_runs: Vec<(i64, i64)> = Vec::new();
        for &l in &upper_level {
            match upper_runs.last_mut() {
                Some(run) if run.0 == l => run.1 += 1,
                _ => upper_runs.push((l, 1)),
            }
        }
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (i, &l) in row_level.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.0 == l as usize => run.2 = i + 1,
                _ => runs.push((l as usize, i, i + 1)),
            }
        }
        let u32s = |v: &[i64]| -> Vec<u32> { v.iter().map(|&x| x as u32).collect() };
        let host = HostRows {
            r: r as usize,
            t: row_weight.len(),
            row_u: u32s(&row_u),
            row_v: u32s(&row_v),
            tail_weight: row_weight[r as usize..].to_vec(),
            transpose: u32s(&transpose),
            runs,
            total: (b * n * n) as f64,
        };
        let long = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        let t = row_weight.len() as i64;
        let upper_lower: Vec<i64> = upper_flat.iter().chain(&lower_flat).copied().collect();
        Packing {
            b,
            n,
            pair_flat: long(&pair_flat),
            pair_start,
            node_flat: long(&node_flat),
            row_u: long(&row_u),
            row_v: long(&row_v),
            row_level: long(&row_level),
            row_weight: Tensor::from_slice(&row_weight)
                .view([t, 1])
                .to_kind(kind)
                .to_device(device),
            transpose: long(&transpose),
            upper: long(&upper),
            upper_lower_flat: long(&upper_lower),
            upper_runs,
            upper_level: long(&upper_level),
            upper_level_host: upper_level,
            upper_start,
            padded_offdiag: Tensor::from_slice(&padded_offdiag)
                .view([b, n, n])
                .to_kind(kind)
                .to_device(device),
            r,
            host,
            node_start,
        }
    }

    /// The batch cut into `parts` runs of whole samples (at most 2; one where the batch has
    /// one sample) with about as many present nodes each, for the GIN.
    fn gin_parts(&self, parts: usize) -> Vec<GinPart> {
        let k = self.node_start[self.b as usize];
        let mut cuts = vec![0i64];
        if parts >= 2 && self.b >= 2 {
            let mid = (1..self.b)
                .min_by_key(|&g| (2 * self.node_start[g as usize] - k).abs())
                .unwrap_or(1);
            cuts.push(mid);
        }
        cuts.push(self.b);
        cuts.windows(2)
            .map(|w| GinPart {
                g0: w[0],
                g: w[1] - w[0],
            })
            .collect()
    }

    /// The upper pairs of samples `g0..g0 + g`: their first index among the upper pairs,
    /// their number, and their runs of equal level `(level, pairs)`.
    fn head_range(&self, g0: i64, g: i64) -> (i64, i64, Vec<(i64, i64)>) {
        let (lo, hi) = (
            self.upper_start[g0 as usize],
            self.upper_start[(g0 + g) as usize],
        );
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for &l in &self.upper_level_host[lo..hi] {
            match runs.last_mut() {
                Some(run) if run.0 == l => run.1 += 1,
                _ => runs.push((l, 1)),
            }
        }
        (lo as i64, (hi - lo) as i64, runs)
    }

    /// Total BatchNorm row count `B·N²` (the sum of the row weights).
    fn total(&self) -> f64 {
        (self.b * self.n * self.n) as f64
    }

    /// Present-pair rows `[R, C]` → the dense channel-first stack `[B, C, N, N]` (zeros
    /// elsewhere).
    fn to_dense(&self, rows: &Tensor) -> Tensor {
        let c = rows.size()[1];
        let (b, n) = (self.b, self.n);
        Tensor::zeros([b * n * n, c], (rows.kind(), rows.device()))
            .index_copy(0, &self.pair_flat, rows)
            .view([b, n, n, c])
            .permute([0, 3, 1, 2])
    }
}

/// What both packed train-mode forwards start from.
struct PackedInput {
    pk: Packing,
    /// `[N, N]` identity (the GIN's self-loops).
    eye: Tensor,
    /// The present-pair rows of the input stack `[Ã, 1 − Ã]`, `[R, 2]` (the mask is 1 there).
    rows: Tensor,
    /// The present nodes' features `[K, F]`.
    x_rows: Tensor,
}

impl PackedInput {
    fn new(x: &Tensor, adj: &Tensor, flags: &Tensor, level: &Levels) -> PackedInput {
        let (kind, device) = (adj.kind(), adj.device());
        let s = adj.size();
        let (b, n) = (s[0], s[1]);
        let levels: Vec<i64> = match level {
            Levels::PerSample(_, host) => host.clone(),
            Levels::Uniform(l) => vec![*l; b as usize],
        };
        let pk = Packing::new(flags, &levels, kind, device);
        let a_rows = adj.reshape([b * n * n]).index_select(0, &pk.pair_flat);
        let rows = Tensor::stack(&[&a_rows, &(1.0 - &a_rows)], 1);
        let f_in = x.size()[2];
        let x_rows = x.reshape([b * n, f_in]).index_select(0, &pk.node_flat);
        PackedInput {
            eye: Tensor::eye(n, (kind, device)),
            pk,
            rows,
            x_rows,
        }
    }
}

impl EdpGnn {
    /// Train-mode forward (BatchNorm batch statistics, running statistics updated) computed
    /// on the present pairs only; see the module documentation. Same contract as the padded
    /// train-mode forward: returns the score `[B, N, N]`.
    pub(super) fn forward_train_packed(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        level: &Levels,
        mut trace: Option<&mut Vec<LayerTrace>>,
    ) -> Tensor {
        let PackedInput {
            pk,
            eye,
            mut rows,
            mut x_rows,
        } = PackedInput::new(x, adj, flags, level);
        // The masked input stack `[Ã, 1 − Ã]`, `[B, 2, N, N]` (the fused forward builds
        // each half's stack from the rows instead).
        let mask = (flags.unsqueeze(-1) * flags.unsqueeze(1)).unsqueeze(1);
        let a = adj.unsqueeze(1);
        let mut adjs = Tensor::cat(&[&a, &(1.0 - &a)], 1) * &mask;
        let (b, n) = (pk.b, pk.n);
        let mut stack_rows = Vec::with_capacity(self.layers.len() + 1);
        stack_rows.push(rows.shallow_clone());
        for layer in &self.layers {
            let x_o = layer
                .gin
                .forward_packed(&x_rows, &adjs, &eye, &pk.node_flat);
            let x_pad = layer.gin.padded_output();
            let s_rows = layer.edge.forward_packed(&rows, &x_o, &x_pad, &pk);
            // (S + Sᵀ)·mask on the present pairs.
            let new_rows = &s_rows + s_rows.index_select(0, &pk.transpose);
            let new_adjs = pk.to_dense(&new_rows);
            if let Some(t) = trace.as_deref_mut() {
                t.push(LayerTrace {
                    x: dense_nodes(&x_o, &x_pad, &pk.node_flat, b, n),
                    adjs: new_adjs.shallow_clone(),
                });
            }
            stack_rows.push(new_rows.shallow_clone());
            adjs = new_adjs;
            rows = new_rows;
            x_rows = x_o;
        }
        self.head_packed(&stack_rows, &pk, level)
    }

    /// The head on the present upper pairs of the stacked layer outputs `stack_rows`
    /// (`[R, C_l]` each), mirrored, and its all-zero response at the off-diagonal pairs that
    /// touch an absent node: the score `[B, N, N]`.
    fn head_packed(&self, stack_rows: &[Tensor], pk: &Packing, level: &Levels) -> Tensor {
        let u = Tensor::cat(stack_rows, 1).index_select(0, &pk.upper); // [P, ΣC]
        let out = self.head.forward_rows(&u, &pk.upper_runs, &pk.upper_level);
        self.score_from_upper(&out, pk, level)
    }

    /// The score `[B, N, N]` from the head's output at the present upper pairs (`[P]`):
    /// mirrored, and the head's all-zero response at the off-diagonal pairs that touch an
    /// absent node.
    fn score_from_upper(&self, out: &Tensor, pk: &Packing, level: &Levels) -> Tensor {
        let (b, n) = (pk.b, pk.n);
        let both = Tensor::cat(&[out, out], 0);
        let dense = Tensor::zeros([b * n * n], (out.kind(), out.device()))
            .index_copy(0, &pk.upper_lower_flat, &both)
            .view([b, n, n]);
        let constant = self.zero_input_response(level, b);
        dense + &pk.padded_offdiag * constant.view([b, 1, 1])
    }
}

/// Samples `g0..g0 + g` of a batch, whose present nodes are `k0..k0 + k` of the packed
/// node table: a part the GIN and the head run on by themselves (neither has BatchNorm, and
/// each sample's nodes aggregate their own sample's nodes only).
struct GinPart {
    g0: i64,
    g: i64,
}

/// One part's GIN forward, as a job for [`fused::run_jobs`].
struct GinForward<'a> {
    params: &'a GinParams,
    lay: &'a PartLayout,
    /// The layer's input rows, channel-major on the host (`[C][R]`).
    rows: &'a [f64],
    r: usize,
    /// The part's node features `[k][F_in]`.
    x: &'a [f64],
    /// The part's readout `[k][F_out]` and its tape.
    out: Option<(Vec<f64>, GinTape)>,
}

impl GinForward<'_> {
    fn run(&mut self) {
        self.out = Some(fused_gin::gin_forward(
            self.params,
            self.lay,
            self.rows,
            self.r,
            self.x,
        ));
    }
}

/// One part's GIN backward, as a job for [`fused::run_jobs`]: the gradients of the GIN's
/// parameters and (`inputs`) of the part's node features and rows, for the gradient of its
/// readout. The parts' parameter gradients are summed afterwards in a fixed order.
struct GinBackward<'a> {
    params: &'a GinParams,
    lay: &'a PartLayout,
    tape: &'a GinTape,
    g_out: &'a [f64],
    inputs: bool,
    out: Option<GinGrads>,
}

impl GinBackward<'_> {
    fn run(&mut self) {
        self.out = Some(fused_gin::gin_backward(
            self.params,
            self.lay,
            self.tape,
            self.g_out,
            self.inputs,
        ));
    }
}

/// The head on one part's upper pairs, as a job for [`fused::run_jobs`]: forward from a
/// leaf of the part's rows of the head's input, then (given the gradient of its output) the
/// backward. As for the GIN, the first part's backward accumulates into `.grad`, and the
/// others return their parameter gradients, which are added afterwards in a fixed order.
struct HeadPart {
    head: super::ReadScore,
    /// The part's rows of the head's input `[p, ΣC]`: a leaf.
    u: Tensor,
    /// Runs of equal level among the rows.
    runs: Vec<(i64, i64)>,
    /// Level of every row `[p]`.
    level: Tensor,
    /// The head's output `[p]`, attached to `u` and the head's parameters.
    out: Option<Tensor>,
    /// A leaf with the output's values: where the score's graph starts.
    out_leaf: Option<Tensor>,
    /// Whether this part's backward accumulates into `.grad` (the first part).
    accumulate: bool,
    /// The other parts' gradients: the head's parameters', then `u`'s.
    grads: Vec<Tensor>,
}

impl HeadPart {
    fn forward(&mut self) {
        self.out = Some(self.head.forward_rows(&self.u, &self.runs, &self.level));
    }

    fn backward(&mut self) {
        let (Some(out), Some(leaf)) = (&self.out, &self.out_leaf) else {
            return;
        };
        let g = leaf.grad();
        if !out.requires_grad() || !g.defined() {
            return; // no rows, or no gradient reached them
        }
        let root = (out * g).sum(out.kind());
        if self.accumulate {
            root.backward();
        } else {
            let mut inputs = self.head.params();
            inputs.push(self.u.shallow_clone());
            self.grads = Tensor::run_backward(&[&root], &inputs, false, false);
        }
    }

    /// The gradient of the part's input rows (zeros where none reached them).
    fn u_grad(&self) -> Tensor {
        let g = if self.accumulate {
            self.u.grad()
        } else {
            self.grads
                .last()
                .map_or_else(Tensor::new, Tensor::shallow_clone)
        };
        if g.defined() {
            g
        } else {
            self.u.zeros_like()
        }
    }
}

/// One EDP layer of a [`FusedTape`].
struct FusedLayer {
    /// The edge MLP's saved activations.
    edge: EdgeTape,
    /// The GIN's parameters on the host, and its saved activations per part.
    gin_params: GinParams,
    gin: Vec<GinTape>,
    /// The layer's output on the present pairs, channel-major `[C_out, R]`: a leaf that
    /// collects the head's gradient.
    out_leaf: Tensor,
}

/// The state [`super::TrainTape::backward`] needs after [`EdpGnn::forward_train_fused`].
pub(super) struct FusedTape {
    rows: HostRows,
    /// The batch's parts for the GIN.
    layouts: Vec<PartLayout>,
    layers: Vec<FusedLayer>,
    /// The head's input rows `[P, ΣC]`, attached to the layers' output leaves.
    head_input: Tensor,
    /// The head on the same parts of the batch.
    head: Vec<HeadPart>,
}

impl EdpGnn {
    /// Train-mode forward with the hand-written edge MLPs (`fused.rs`) and GINs
    /// (`fused_gin.rs`) on the packed rows: the same values as
    /// [`EdpGnn::forward_train_packed`] (up to float rounding), and the same BatchNorm
    /// running-statistics update. Returns the score `[B, N, N]`, whose autograd graph ends
    /// at leaves (each layer's output), and the tape with which
    /// [`super::TrainTape::backward`] carries the gradient through the layers.
    ///
    /// With two or more libtorch threads the GIN runs on two halves of the batch (whole
    /// samples) at once, one thread of libtorch's team each. The head runs on the same
    /// halves (it has no BatchNorm either), forward and backward.
    pub(super) fn forward_train_fused(
        &self,
        x: &Tensor,
        adj: &Tensor,
        flags: &Tensor,
        level: &Levels,
    ) -> (Tensor, FusedTape) {
        let PackedInput {
            pk,
            rows: rows0,
            x_rows,
            ..
        } = PackedInput::new(x, adj, flags, level);
        let kind = adj.kind();
        let rows0 = rows0.detach();
        let mut rows_host = host_f64(&rows0.tr()); // channel-major [2][R]
        let mut stack_rows = Vec::with_capacity(self.layers.len() + 1);
        stack_rows.push(rows0);
        let parts = pk.gin_parts(fused::threads());
        let layouts: Vec<PartLayout> = parts
            .iter()
            .map(|p| PartLayout::new(p.g0 as usize, p.g as usize, &pk.node_start, &pk.pair_start))
            .collect();
        // The GIN's node features `[K][F]` on the host: the input's, then each layer's
        // readout on the present nodes.
        let mut x_host = host_f64(&x_rows);
        let mut f_in = x_rows.size()[1] as usize;
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let gin_params = GinParams::read(&layer.gin);
            let mut jobs: Vec<GinForward> = layouts
                .iter()
                .map(|lay| GinForward {
                    params: &gin_params,
                    lay,
                    rows: &rows_host,
                    r: pk.host.r,
                    x: &x_host[lay.k0 * f_in..(lay.k0 + lay.k) * f_in],
                    out: None,
                })
                .collect();
            fused::run_jobs(&mut jobs, GinForward::run);
            // The node table for the edge MLP: present nodes, then the absent-node readout.
            let mut nodes = Vec::with_capacity(x_host.len() + 16);
            let mut gin = Vec::with_capacity(jobs.len());
            for job in jobs {
                let (o, t) = job.out.expect("every GIN job ran");
                nodes.extend(o);
                gin.push(t);
            }
            let x_pad = gin_params.padded_output();
            f_in = x_pad.len();
            nodes.extend(&x_pad);
            let (out, edge) = fused::edge_forward(&layer.edge, &rows_host, &nodes, &pk.host);
            let c_out = layer.edge.lin[2].out_dim();
            // Channel-major [C_out, R], as the kernel returns it; the graph uses its
            // transpose (rows), and its gradient comes back channel-major.
            let out_leaf = Tensor::from_slice(&out)
                .to_kind(kind)
                .view([c_out, pk.r])
                .set_requires_grad(true);
            stack_rows.push(out_leaf.tr());
            nodes.truncate(nodes.len() - f_in);
            x_host = nodes;
            rows_host = out;
            layers.push(FusedLayer {
                edge,
                gin_params,
                gin,
                out_leaf,
            });
        }
        let (score, head_input, head) = self.head_parts(&stack_rows, &pk, &parts, level);
        let tape = FusedTape {
            rows: pk.host,
            layouts,
            layers,
            head_input,
            head,
        };
        (score, tape)
    }

    /// [`EdpGnn::head_packed`] with the head on each part's upper pairs in a job of its
    /// own (the parts on parallel threads). Returns the score, the head's input rows, and
    /// the parts, whose outputs are leaves of the score's graph (for
    /// [`EdpGnn::backward_fused`]).
    fn head_parts(
        &self,
        stack_rows: &[Tensor],
        pk: &Packing,
        parts: &[GinPart],
        level: &Levels,
    ) -> (Tensor, Tensor, Vec<HeadPart>) {
        let u = Tensor::cat(stack_rows, 1).index_select(0, &pk.upper); // [P, ΣC]
        let mut jobs: Vec<HeadPart> = parts
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let (lo, len, runs) = pk.head_range(p.g0, p.g);
                HeadPart {
                    head: self.head.shallow(),
                    u: u.narrow(0, lo, len).detach().set_requires_grad(true),
                    runs,
                    level: pk.upper_level.narrow(0, lo, len),
                    out: None,
                    out_leaf: None,
                    accumulate: j == 0,
                    grads: Vec::new(),
                }
            })
            .collect();
        fused::run_jobs(&mut jobs, HeadPart::forward);
        let outs: Vec<Tensor> = jobs
            .iter_mut()
            .map(|j| {
                let leaf = j
                    .out
                    .as_ref()
                    .expect("every head job ran")
                    .detach()
                    .set_requires_grad(true);
                j.out_leaf = Some(leaf.shallow_clone());
                leaf
            })
            .collect();
        let score = self.score_from_upper(&Tensor::cat(&outs, 0), pk, level);
        (score, u, jobs)
    }

    /// The backward of [`EdpGnn::forward_train_fused`] for `loss` (a function of its score):
    /// the head's parts (on parallel threads, like the GIN's), then layer by layer from the
    /// last, the edge MLP's and the GIN's hand-written backwards (the GIN's parts on
    /// parallel threads, their parameter gradients summed in a fixed order). Accumulates
    /// into every parameter's gradient exactly what `loss.backward()` through the autograd
    /// forward would (up to float rounding); the result does not depend on the thread
    /// timing.
    pub(super) fn backward_fused(&self, mut tape: FusedTape, loss: &Tensor) {
        // Autograd from the loss to the head's output leaves (and through the head's
        // all-zero response), then the head's parts on parallel threads (their output
        // gradients given), then from the head's input rows to the layers' output leaves.
        loss.backward();
        fused::run_jobs(&mut tape.head, HeadPart::backward);
        let head_params = self.head.params();
        for part in &tape.head[1..] {
            graph_tensor::optim::accumulate_grads(&head_params, &part.grads);
        }
        let g_u: Vec<Tensor> = tape.head.iter().map(HeadPart::u_grad).collect();
        let kind = tape.head_input.kind();
        (&tape.head_input * Tensor::cat(&g_u, 0))
            .sum(kind)
            .backward();
        // The gradient of the next layer's GIN and edge MLP with respect to this layer's
        // output rows (channel-major, host) and node features (`[K][F]`, host).
        let mut from_next: Option<Vec<f64>> = None;
        let mut x_from_next: Option<Vec<f64>> = None;
        let r = tape.rows.r;
        for (i, (layer, saved)) in self.layers.iter().zip(&tape.layers).enumerate().rev() {
            let g = saved.out_leaf.grad();
            let mut g_out = if g.defined() {
                host_f64(&g)
            } else {
                vec![0.0; saved.out_leaf.numel()]
            };
            if let Some(extra) = from_next.take() {
                for (a, b) in g_out.iter_mut().zip(extra) {
                    *a += b;
                }
            }
            let grads = fused::edge_backward(&layer.edge, &saved.edge, &g_out, &tape.rows);
            let (edge_params, edge_grads): (Vec<Tensor>, Vec<Tensor>) =
                grads.params.into_iter().unzip();
            graph_tensor::optim::accumulate_grads(&edge_params, &edge_grads);
            // The GIN's output: the present nodes' rows, then the absent-node readout.
            let k: usize = tape.layouts.iter().map(|l| l.k).sum();
            let f = grads.nodes.len() / (k + 1);
            let mut g_x = grads.nodes;
            let g_pad = g_x.split_off(k * f);
            if let Some(next) = x_from_next.take() {
                for (a, b) in g_x.iter_mut().zip(next) {
                    *a += b;
                }
            }
            let mut jobs: Vec<GinBackward> = tape
                .layouts
                .iter()
                .zip(&saved.gin)
                .map(|(lay, t)| GinBackward {
                    params: &saved.gin_params,
                    lay,
                    tape: t,
                    g_out: &g_x[lay.k0 * f..(lay.k0 + lay.k) * f],
                    inputs: i > 0,
                    out: None,
                })
                .collect();
            fused::run_jobs(&mut jobs, GinBackward::run);
            let mut part_grads = jobs
                .into_iter()
                .map(|j| j.out.expect("every GIN backward job ran"));
            let mut total = part_grads.next().expect("at least one GIN part");
            let mut x_grads = std::mem::take(&mut total.x);
            let mut adj_grads = vec![std::mem::take(&mut total.adj)];
            for part in part_grads {
                for (acc, g) in total.params.iter_mut().zip(&part.params) {
                    for (a, b) in acc.iter_mut().zip(g) {
                        *a += b;
                    }
                }
                x_grads.extend(part.x);
                adj_grads.push(part.adj);
            }
            fused_gin::gin_padded_output_grad(&saved.gin_params, &g_pad, &mut total.params);
            let params = layer.gin.params();
            graph_tensor::optim::accumulate_grads(
                &params,
                &fused_gin::grads_as_tensors(&total.params, &params),
            );
            if i > 0 {
                // The gradient for the previous layer's output rows (channel-major, host)
                // and node features, from this layer's edge MLP and GIN.
                let mut rows_in = grads.rows_in;
                let c = rows_in.len() / r.max(1);
                for (lay, g) in tape.layouts.iter().zip(&adj_grads) {
                    for ch in 0..c {
                        let dst = &mut rows_in[ch * r + lay.lo..ch * r + lay.lo + lay.rows];
                        for (a, b) in dst.iter_mut().zip(&g[ch * lay.rows..(ch + 1) * lay.rows]) {
                            *a += b;
                        }
                    }
                }
                from_next = Some(rows_in);
                x_from_next = Some(x_grads);
            }
        }
    }
}

impl super::Gin {
    /// The GIN on the present nodes only: x: `[K, F_in]` present-node features, adjs:
    /// `[B, C, N, N]` masked, eye: `[N, N]`, node_flat: the present nodes' flat indices
    /// `g·N + u` (`[K]`). Returns the present nodes' readout `[K, F_out]`.
    ///
    /// Exact: GIN has no BatchNorm, a present node aggregates present neighbours and itself
    /// only (the adjacency is masked), and absent nodes' readout inputs are masked to zero
    /// (their output is [`Self::padded_output`]); absent nodes' hidden states never reach a
    /// present node, so they are left at zero here.
    pub(super) fn forward_packed(
        &self,
        x: &Tensor,
        adjs: &Tensor,
        eye: &Tensor,
        node_flat: &Tensor,
    ) -> Tensor {
        let s = adjs.size();
        let (b, c, n) = (s[0], s[1], s[2]);
        let k = x.size()[0];
        let deg = adjs
            .sum_dim_intlist([-1i64].as_slice(), false, None::<Kind>)
            .transpose(1, 2)
            .reshape([b * n, c])
            .index_select(0, node_flat);
        let h0 = Tensor::cat(&[x, &deg], -1);
        let adj_t = (adjs + eye)
            .permute([0, 2, 1, 3])
            .contiguous()
            .view([b, n * c, n]);
        let mut hidden = Vec::with_capacity(self.readout.len());
        let mut z = self.readout[0].0.forward(&h0);
        let _ = z.leaky_relu_();
        hidden.push(z);
        let mut cur = h0;
        for (i, (l1, l2)) in self.layers.iter().enumerate() {
            let d = cur.size()[1];
            let dense = Tensor::zeros([b * n, d], (cur.kind(), cur.device()))
                .index_copy(0, node_flat, &cur)
                .view([b, n, d]);
            let agg = adj_t
                .bmm(&dense)
                .view([b * n, c * d])
                .index_select(0, node_flat)
                .view([k, c, d])
                + cur.unsqueeze(1) * self.eps.get(i as i64);
            let mut a = l1.forward(&agg.view([k, c * d]));
            let _ = a.relu_();
            let mut h = l2.forward(&a);
            let _ = h.tanh_();
            let mut z = self.readout[i + 1].0.forward(&h);
            let _ = z.leaky_relu_();
            hidden.push(z);
            cur = h;
        }
        self.readout_sum(&Tensor::cat(&hidden, -1))
    }

    /// The readout `x_o` of an absent node: every readout input is masked to zero, so it is
    /// `Σ_j W2_j·LeakyReLU(b1_j) + Σ_j b2_j`, the same vector for every absent node. `[F]`.
    pub(super) fn padded_output(&self) -> Tensor {
        let hidden: Vec<Tensor> = self.readout.iter().map(|r| r.0.b.leaky_relu()).collect();
        self.readout_sum(&Tensor::cat(&hidden, 0).unsqueeze(0))
            .squeeze_dim(0)
    }
}

impl EdgeMlp {
    /// Train-mode edge MLP on the packed rows. rows: `[R, C_in]` present-pair adjacency
    /// channels; x: `[K, F]` present-node features; x_pad: `[F]` absent-node features.
    /// Returns the pre-symmetrisation output `[R, C_out]` on the present pairs.
    fn forward_packed(&self, rows: &Tensor, x: &Tensor, x_pad: &Tensor, pk: &Packing) -> Tensor {
        let f = self.f;
        let w0 = &self.lin[0].w;
        let wa = w0.narrow(1, 0, self.c_in);
        let wu = w0.narrow(1, self.c_in, f);
        let wv = w0.narrow(1, self.c_in + f, f);
        // Node table [K + 1, F]: the present nodes, then the absent-node constant.
        let nodes = Tensor::cat(&[x, &x_pad.view([1, f])], 0);
        // First Linear split over [A(u,v)] ‖ x_u ‖ x_v (bias folded into the row projection).
        let pu = nodes.linear(&wu, Some(&self.lin[0].b));
        let pv = nodes.matmul(&wv.tr());
        let pre = pu.index_select(0, &pk.row_u) + pv.index_select(0, &pk.row_v); // [T, H]
        let t = pre.size()[0];
        let extra = Tensor::zeros([t - pk.r, self.c_in], (rows.kind(), rows.device()));
        let a_all = Tensor::cat(&[rows, &extra], 0);
        let pre = pre + a_all.matmul(&wa.tr());
        let h1 = self.hidden_packed(0, &pre, pk);
        let pre = h1.linear(&self.lin[1].w, Some(&self.lin[1].b));
        let h2 = self.hidden_packed(1, &pre, pk);
        h2.narrow(0, 0, pk.r)
            .linear(&self.lin[2].w, Some(&self.lin[2].b))
    }

    /// BatchNorm (weighted batch statistics) → level gain/bias → ELU on `[T, H]` rows.
    fn hidden_packed(&self, i: usize, pre: &Tensor, pk: &Packing) -> Tensor {
        let bn = &self.bn[i];
        let cond = &self.cond[i];
        let total = pk.total();
        let w = &pk.row_weight;
        let mean = (pre * w).sum_dim_intlist([0i64].as_slice(), true, None::<Kind>) / total;
        let d = pre - &mean;
        let var = (d.square() * w).sum_dim_intlist([0i64].as_slice(), true, None::<Kind>) / total;
        let xh = d * (&var + BN_EPS).rsqrt();
        bn.update_running(&mean, &var, total);
        // (x̂·γ + β)·g_l + b_l per row, with the level's gain g_l and bias b_l.
        let h = bn.weight.size()[0];
        let gain = cond.gain.view([-1, h]);
        let bias = cond.bias.view([-1, h]);
        let scale = (&gain * bn.weight.view([1, h])).index_select(0, &pk.row_level);
        let shift = (&gain * bn.bias.view([1, h]) + bias).index_select(0, &pk.row_level);
        let mut y = xh * scale;
        let _ = y.g_add_(&shift);
        let _ = y.elu_();
        y
    }
}

impl ReadScore {
    /// The head on rows `u: [P, ΣC]` (one per pair), whose levels come in `runs`
    /// (`(level, rows)`, consecutive) or, when there are many runs, per row in `level`.
    /// Returns `[P]`.
    fn forward_rows(&self, u: &Tensor, runs: &[(i64, i64)], level: &Tensor) -> Tensor {
        let p = u.size()[0];
        if p == 0 {
            return Tensor::zeros([0], (u.kind(), u.device()));
        }
        let out = if runs.len() as i64 <= 2 * self.cond[0].gain.size()[0] {
            // Fold each run's gain/bias into the weights, as the padded head does.
            let sizes: Vec<i64> = runs.iter().map(|r| r.1).collect();
            let pieces = u.split_with_sizes(sizes.as_slice(), 0);
            let outs: Vec<Tensor> = runs
                .iter()
                .zip(pieces)
                .map(|(&(l, _), piece)| {
                    let mut h = piece;
                    for (lin, cond) in self.lin[..2].iter().zip(&self.cond) {
                        let o = lin.out_dim();
                        let g = cond.gain.get(l).view([1, o]);
                        let gb = cond.bias.get(l).view([1, o]);
                        let shift = lin.b.view([1, o]) * &g + gb;
                        let mut z = shift.addmm(&h, &(&lin.w * g.view([o, 1])).tr());
                        let _ = z.elu_();
                        h = z;
                    }
                    h.linear(&self.lin[2].w, Some(&self.lin[2].b))
                })
                .collect();
            Tensor::cat(&outs, 0)
        } else {
            let mut h = u.shallow_clone();
            for (lin, cond) in self.lin[..2].iter().zip(&self.cond) {
                let o = lin.out_dim();
                let g = cond.gain.view([-1, o]).index_select(0, level);
                let gb = cond.bias.view([-1, o]).index_select(0, level);
                let mut z = h.linear(&lin.w, Some(&lin.b)) * g;
                let _ = z.g_add_(&gb);
                let _ = z.elu_();
                h = z;
            }
            h.linear(&self.lin[2].w, Some(&self.lin[2].b))
        };
        out.view([p])
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sigma_levels, Conditioning, EdgeBackward, EdpGnn};
    use crate::config::EdpGnnConfig;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{nn, Device, Kind, Tensor};

    /// Max |a − b| over two tensors.
    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// A float64 network built from `seed`.
    fn network(seed: u64) -> (nn::VarStore, EdpGnn) {
        let cfg = EdpGnnConfig {
            max_nodes: 7,
            ..EdpGnnConfig::default()
        };
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = EdpGnn::new(&vs.root(), &cfg, seed).unwrap();
        vs.double();
        (vs, net)
    }

    /// A random batch: symmetric noisy adjacencies, flags that are not a prefix, one graph
    /// without present nodes, one with every node present.
    fn batch(seed: u64) -> (Tensor, Tensor, Tensor) {
        let (b, n) = (12i64, 7i64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut flags = vec![0f64; (b * n) as usize];
        for g in 0..b {
            for u in 0..n {
                let on = match g {
                    0 => false,
                    1 => true,
                    _ => rng.gen_bool(0.6),
                };
                flags[(g * n + u) as usize] = if on { 1.0 } else { 0.0 };
            }
        }
        let flags = Tensor::from_slice(&flags).view([b, n]);
        let normal = |rng: &mut ChaCha8Rng, len: i64| {
            let v: Vec<f64> = (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect();
            Tensor::from_slice(&v)
        };
        let e = normal(&mut rng, b * n * n).view([b, n, n]).triu(1);
        let adj = (&e + e.transpose(1, 2) + 0.5) * flags.unsqueeze(-1) * flags.unsqueeze(1);
        let x = normal(&mut rng, b * n).view([b, n, 1]);
        (x, adj, flags)
    }

    /// Shuffled per-sample levels for the 12 samples of [`batch`], and a random `[12, 7, 7]`
    /// weighting of the output, so that the gradients see every entry.
    fn levels_and_target(seed: u64) -> (Tensor, Tensor) {
        let levels = Tensor::from_slice(&[5i64, 0, 2, 2, 1, 4, 3, 5, 0, 1, 4, 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let w: Vec<f64> = (0..12 * 49).map(|_| rng.gen_range(-1.0..1.0)).collect();
        (levels, Tensor::from_slice(&w).view([12, 7, 7]))
    }

    /// Every parameter's gradient and every buffer, by name.
    fn grads_and_buffers(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| {
                let t = if v.requires_grad() {
                    let g = v.grad();
                    if g.defined() {
                        g.copy()
                    } else {
                        v.zeros_like()
                    }
                } else {
                    v.copy()
                };
                (k, t)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Asserts that two [`grads_and_buffers`] lists name the same tensors and agree to 1e-9
    /// relative to each reference tensor's largest entry (at least 1e-3); returns how many
    /// reference tensors are non-zero.
    fn assert_grads_close(
        what: &str,
        reference: &[(String, Tensor)],
        other: &[(String, Tensor)],
    ) -> usize {
        assert_eq!(reference.len(), other.len());
        let mut nonzero = 0;
        for ((name, p), (name_o, o)) in reference.iter().zip(other) {
            assert_eq!(name, name_o);
            let scale = p.abs().max().double_value(&[]).max(1e-3);
            let d = max_diff(p, o) / scale;
            assert!(
                d < 1e-9,
                "{what} {name}: differs by {d:e} (relative to its max)"
            );
            if p.abs().max().double_value(&[]) > 1e-12 {
                nonzero += 1;
            }
        }
        nonzero
    }

    /// The packed train-mode forward equals the padded one: score, every layer's output,
    /// the gradient of every parameter (through the weighted BatchNorm statistics) and the
    /// BatchNorm running statistics, in float64, for σ-major and shuffled per-sample levels.
    #[test]
    fn packed_train_forward_equals_the_padded_one() {
        for (seed, shuffled) in [(3u64, false), (4, true)] {
            let (x, adj, flags) = batch(seed);
            let b = adj.size()[0];
            let (lv_tensor, target) = levels_and_target(seed);
            let cond = if shuffled {
                Conditioning::PerSample(&lv_tensor)
            } else {
                Conditioning::SigmaMajor
            };

            let (vs_p, net_p) = network(seed);
            let level = sigma_levels(cond, b, net_p.num_levels(), Device::Cpu).unwrap();
            let mut trace_p = Vec::new();
            let padded =
                net_p.forward_padded(&x, &adj, &flags, &level, true, false, Some(&mut trace_p));
            (&padded * &target).sum(Kind::Double).backward();

            // The padded forward with the GIN on the present nodes only.
            let (vs_g, net_g) = network(seed);
            let mut trace_g = Vec::new();
            let gin_packed =
                net_g.forward_padded(&x, &adj, &flags, &level, true, true, Some(&mut trace_g));
            (&gin_packed * &target).sum(Kind::Double).backward();

            let (vs_k, net_k) = network(seed);
            let mut trace_k = Vec::new();
            let packed = net_k.forward_train_packed(&x, &adj, &flags, &level, Some(&mut trace_k));
            (&packed * &target).sum(Kind::Double).backward();

            let gp = grads_and_buffers(&vs_p);
            for (what, out, trace, vs) in [
                ("packed", &packed, &trace_k, &vs_k),
                ("GIN on present nodes", &gin_packed, &trace_g, &vs_g),
            ] {
                let d = max_diff(out, &padded);
                assert!(d < 1e-10, "{what}: score differs by {d:e}");
                assert_eq!(trace_p.len(), trace.len());
                for (i, (p, k)) in trace_p.iter().zip(trace).enumerate() {
                    let dx = max_diff(&p.x, &k.x);
                    let da = max_diff(&p.adjs, &k.adjs);
                    assert!(
                        dx < 1e-10 && da < 1e-10,
                        "{what} layer {i}: x {dx:e}, adjs {da:e}"
                    );
                }
                let nonzero = assert_grads_close(what, &gp, &grads_and_buffers(vs));
                // The comparison covers real gradients and updated statistics, not only zeros.
                assert!(
                    nonzero > 250,
                    "{what}: only {nonzero} non-zero gradients/buffers"
                );
            }
        }
    }

    /// Runs the autograd train-mode forward and the hand-written one (each on a fresh
    /// float64 network from `seed`) with the loss `Σ (score − target)²`, and checks that
    /// score, every parameter's gradient and the BatchNorm running statistics agree.
    fn check_fused_against_autograd(
        seed: u64,
        (x, adj, flags): (&Tensor, &Tensor, &Tensor),
        cond: Conditioning<'_>,
        target: &Tensor,
        min_nonzero: usize,
    ) {
        let loss = |score: &Tensor| (score - target).square().sum(Kind::Double);

        let (vs_p, net_p) = network(seed);
        let score_p = net_p.forward_t(x, adj, flags, cond, true).unwrap();
        loss(&score_p).backward();

        let (vs_f, net_f) = network(seed);
        let (score_f, tape) = net_f
            .forward_train_tape(x, adj, flags, cond, EdgeBackward::HandWritten)
            .unwrap();
        assert!(format!("{tape:?}").contains("fused"));
        tape.backward(&loss(&score_f));

        let d = max_diff(&score_f, &score_p);
        assert!(d < 1e-10, "score differs by {d:e}");
        let nonzero = assert_grads_close(
            "hand-written",
            &grads_and_buffers(&vs_p),
            &grads_and_buffers(&vs_f),
        );
        assert!(
            nonzero > min_nonzero,
            "only {nonzero} non-zero gradients/buffers"
        );
    }

    /// The hand-written edge MLPs (`fused.rs`) with their backward give the padded
    /// autograd forward's score, every parameter's gradient and the BatchNorm running
    /// statistics, in float64, for σ-major and shuffled per-sample levels, also when the
    /// loss reaches the score nonlinearly; in the AVX2 build of the loops (where the CPU
    /// has it) and in the baseline build; with the GIN on the whole batch (1 thread) and
    /// on two halves (2 or more).
    #[test]
    fn fused_train_forward_and_backward_equal_autograd() {
        for (seed, shuffled, baseline, threads) in [
            (5u64, false, false, None),
            (6, true, false, None),
            (7, true, true, None),
            (8, true, false, Some(3)),
            (9, false, false, Some(1)),
        ] {
            super::fused::BASELINE_ONLY.with(|b| b.set(baseline));
            super::fused::THREADS.with(|t| t.set(threads));
            let (x, adj, flags) = batch(seed);
            let (lv_tensor, target) = levels_and_target(seed);
            let cond = if shuffled {
                Conditioning::PerSample(&lv_tensor)
            } else {
                Conditioning::SigmaMajor
            };
            check_fused_against_autograd(seed, (&x, &adj, &flags), cond, &target, 250);
        }
    }

    /// In float32 — the type training uses, where the GIN's GEMMs take the AVX-512 or
    /// AVX2+FMA kernel where the CPU has one — the fused step on a batch of realistic size (several GIN
    /// chunks per part, 1 and 2 parts) agrees with autograd on the score and on every
    /// gradient to float32 accuracy (relative to each tensor's largest entry).
    #[test]
    fn fused_float32_agrees_with_autograd() {
        let (b, n) = (40i64, 20i64);
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let flags: Vec<f32> = (0..b * n)
            .map(|i| f32::from(u8::from(i % n < 12 || rng.gen_bool(0.6))))
            .collect();
        let flags = Tensor::from_slice(&flags).view([b, n]);
        let e: Vec<f32> = (0..b * n * n).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let e = Tensor::from_slice(&e).view([b, n, n]).triu(1);
        let adj = (&e + e.transpose(1, 2) + 0.5) * flags.unsqueeze(-1) * flags.unsqueeze(1);
        let x = Tensor::zeros([b, n, 1], (Kind::Float, Device::Cpu));
        let levels: Vec<i64> = (0..b).map(|g| g % 6).collect();
        let levels = Tensor::from_slice(&levels);
        let cfg = EdpGnnConfig {
            max_nodes: n as usize,
            ..EdpGnnConfig::default()
        };
        let build = || {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = EdpGnn::new(&vs.root(), &cfg, 4).unwrap();
            (vs, net)
        };
        let loss = |s: &Tensor| {
            (s * s.ones_like().cumsum(2, s.kind()))
                .square()
                .sum(s.kind())
        };
        let cond = Conditioning::PerSample(&levels);
        // The reference: autograd in float64.
        let (mut vs_r, net_r) = build();
        vs_r.double();
        let dbl = |t: &Tensor| t.to_kind(Kind::Double);
        let score_r = net_r
            .forward_t(&dbl(&x), &dbl(&adj), &dbl(&flags), cond, true)
            .unwrap();
        loss(&score_r).backward();
        let want = grads_and_buffers(&vs_r);
        // Each tensor's error relative to its largest entry, against the reference; where
        // that is near zero (the biases in front of a BatchNorm, whose exact gradient is
        // zero), relative to a thousandth of the largest entry of any tensor.
        let floor = want
            .iter()
            .map(|(_, r)| r.abs().max().double_value(&[]))
            .fold(0.0, f64::max)
            * 1e-3;
        let errors = |vs: &nn::VarStore| -> Vec<(String, f64)> {
            want.iter()
                .zip(&grads_and_buffers(vs))
                .map(|((name, r), (_, o))| {
                    let scale = r.abs().max().double_value(&[]).max(floor);
                    (name.clone(), max_diff(r, &dbl(o)) / scale)
                })
                .collect()
        };
        let (vs_a, net_a) = build();
        let score_a = net_a.forward_t(&x, &adj, &flags, cond, true).unwrap();
        loss(&score_a).backward();
        let err_a = errors(&vs_a);
        for threads in [1, 2] {
            super::fused::THREADS.with(|t| t.set(Some(threads)));
            let (vs_f, net_f) = build();
            let (score_f, tape) = net_f
                .forward_train_tape(&x, &adj, &flags, cond, EdgeBackward::HandWritten)
                .unwrap();
            tape.backward(&loss(&score_f));
            let d = max_diff(&dbl(&score_f), &score_r) / max_diff(&score_r, &score_r.zeros_like());
            assert!(d < 1e-4, "{threads} threads: score differs by {d:e}");
            // The floor is the float32 rounding of train-mode gradients through BatchNorm's
            // batch statistics, ~1e-3 (../shared/parity/edp-gnn/README.md): how close
            // autograd itself comes depends on the CPU's GEMM kernels (with MKL's AVX-512
            // kernels autograd's error here is 1.8e-5, the hand-written AVX2 one's 2.1e-4).
            for ((name, ef), (_, ea)) in errors(&vs_f).iter().zip(&err_a) {
                eprintln!("{threads} {name}: fused {ef:.2e} autograd {ea:.2e}");
                assert!(
                    *ef < (4.0 * ea).max(1e-3),
                    "{threads} threads, {name}: fused float32 off by {ef:e}, autograd float32 by {ea:e}"
                );
            }
        }
    }

    /// Two samples, the first without present nodes: the GIN's first half is empty.
    #[test]
    fn fused_handles_a_gin_part_without_nodes() {
        super::fused::THREADS.with(|t| t.set(Some(2)));
        let (x, adj, flags) = batch(10);
        let (x, adj, flags) = (
            x.narrow(0, 0, 2),
            adj.narrow(0, 0, 2),
            flags.narrow(0, 0, 2),
        );
        assert_eq!(flags.get(0).sum(Kind::Double).double_value(&[]), 0.0);
        let (_, target) = levels_and_target(10);
        let levels = Tensor::from_slice(&[3i64, 1]);
        check_fused_against_autograd(
            10,
            (&x, &adj, &flags),
            Conditioning::PerSample(&levels),
            &target.narrow(0, 0, 2),
            100,
        );
    }

    /// The hand-written loops give bit-identical scores, gradients and statistics on any
    /// number of threads from 2 up (each channel is computed whole by one thread, the GIN
    /// runs on the same two halves of the batch, each on one thread); on one thread the GIN
    /// runs on the whole batch, which changes only the float rounding.
    #[test]
    fn fused_is_independent_of_the_thread_count() {
        let (x, adj, flags) = batch(9);
        let run = |threads: usize| {
            super::fused::THREADS.with(|t| t.set(Some(threads)));
            let (vs, net) = network(9);
            let (score, tape) = net
                .forward_train_tape(
                    &x,
                    &adj,
                    &flags,
                    Conditioning::SigmaMajor,
                    EdgeBackward::HandWritten,
                )
                .unwrap();
            tape.backward(&score.square().sum(Kind::Double));
            let mut all = vec![score.detach()];
            all.extend(grads_and_buffers(&vs).into_iter().map(|(_, t)| t));
            all
        };
        let two = run(2);
        for threads in [3, 4] {
            let many = run(threads);
            assert_eq!(two.len(), many.len());
            for (a, b) in two.iter().zip(&many) {
                assert!(a.equal(b), "{threads} threads differ from 2");
            }
        }
        let one = run(1);
        let mut differ = 0;
        for (a, b) in one.iter().zip(&two) {
            let scale = a.abs().max().double_value(&[]).max(1e-3);
            let d = max_diff(a, b) / scale;
            assert!(d < 1e-9, "1 and 2 threads differ by {d:e}");
            differ += usize::from(!a.equal(b));
        }
        // The two ways of running the GIN are both exercised: rounding tells them apart.
        assert!(differ > 0, "1 and 2 threads gave bit-identical gradients");
    }
}
