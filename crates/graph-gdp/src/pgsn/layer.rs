//! `PosTransLayer` (`models/trans_layers.py`): the edge-aware graph transformer layer with
//! the position update, on dense groups.
//!
//! The official layer is a PyG `MessagePassing` over `edge_index = dense_to_sparse(cont_adj)`:
//! every pair `i → j` with `cont_adj[b, i, j] > 0` sends a message to `j`; with `edge_th = −1`
//! that is every valid pair whose noisy entry is above −1. Here each group is dense: the
//! attention logits of all `n × n` pairs are computed and the softmax over the sources `i` of
//! a target `j` is masked to its edges, which gives exactly the official sparse softmax
//! (max over the incoming edges, detached; `exp(logit − max)`; sum + 1e-16), and a target
//! without incoming edges gets a zero message and a zero position update, as the official
//! scatter sum and mean give. `tests/parity.rs` compares the logits and the attention at the
//! official edges.

use tch::{nn, Kind, Tensor};

use super::layout::BatchLayout;
use super::nn::{GroupNorm, Init, Linear};

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// Per-group structure the layers share: the message-passing edges and the in-degree.
#[derive(Debug)]
pub(crate) struct GroupEdges {
    /// `[Bg, n(src), n(dst), 1]` bool: `i → j` is not an edge.
    pub not_mask: Tensor,
    /// `[Bg, n(src), n(dst), 1]`: 1 where `i → j` is an edge, in the model's kind.
    pub mask_f: Tensor,
    /// Incoming edges per target, at least 1, `[Bg, n, 1]` (the scatter mean's divisor).
    pub count: Tensor,
}

impl GroupEdges {
    pub(crate) fn new(edges: &Tensor, kind: Kind) -> Self {
        let mask = edges.unsqueeze(-1);
        let count = edges
            .sum_dim_intlist([1i64].as_slice(), false, kind)
            .clamp_min(1.0)
            .unsqueeze(-1);
        Self {
            not_mask: mask.logical_not(),
            mask_f: mask.to_kind(kind),
            count,
        }
    }
}

/// Attention logits and weights of one group, `[Bg, n(src), n(dst), H]` (for traces).
pub(crate) struct Attention {
    pub logits: Tensor,
    pub alpha: Tensor,
}

/// One `PosTransLayer` (`lin_key`, `lin_query`, `lin_value`, `lin_edge0`, `lin_edge1`,
/// `lin_pos`, `lin_skip`, `norm1`, `norm2`, `FFN.0`, `FFN.2`).
#[derive(Debug)]
pub(crate) struct PosTransLayer {
    lin_key: Linear,
    lin_query: Linear,
    lin_value: Linear,
    lin_edge0: Linear,
    lin_edge1: Linear,
    lin_pos: Linear,
    lin_skip: Linear,
    norm1: GroupNorm,
    norm2: GroupNorm,
    ffn0: Linear,
    ffn2: Linear,
    heads: i64,
    c: i64,
    attn_clamp: bool,
}

impl PosTransLayer {
    /// `PosTransLayer(x_ch, pos_ch, nf / heads, heads, edge_dim = nf)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        p: nn::Path,
        x_ch: i64,
        pos_ch: i64,
        nf: i64,
        heads: i64,
        groups: i64,
        attn_clamp: bool,
        init: &mut Init,
    ) -> Self {
        let inp = x_ch + pos_ch;
        Self {
            lin_key: Linear::new(&p / "lin_key", inp, nf, true, init),
            lin_query: Linear::new(&p / "lin_query", inp, nf, true, init),
            lin_value: Linear::new(&p / "lin_value", inp, nf, true, init),
            lin_edge0: Linear::new(&p / "lin_edge0", nf, nf, false, init),
            lin_edge1: Linear::new(&p / "lin_edge1", nf, nf, false, init),
            lin_pos: Linear::new(&p / "lin_pos", nf, pos_ch, false, init),
            lin_skip: Linear::new(&p / "lin_skip", x_ch, nf, true, init),
            norm1: GroupNorm::new(&p / "norm1", nf, groups),
            norm2: GroupNorm::new(&p / "norm2", nf, groups),
            ffn0: Linear::new(&p / "FFN" / "0", nf, nf, true, init),
            ffn2: Linear::new(&p / "FFN" / "2", nf, nf, true, init),
            heads,
            c: nf / heads,
            attn_clamp,
        }
    }

    /// The layer on node rows `h: [M, x_ch]`, `pos: [M, pos_ch]` and each active group's pair
    /// rows `dense[k]: [Bg·n·n, nf]` (edge feature of `i → j` at pair `(i, j)`). Returns the new node
    /// features `[M, nf]` and, when `want_pos`, the new positions `[M, pos_ch]` (the last
    /// layer's are unused, so it skips them; its `lin_pos` gets no gradient, as in the
    /// official code). `attention` receives each group's logits and weights if given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        h: &Tensor,
        pos: &Tensor,
        dense: &[Tensor],
        layout: &BatchLayout,
        edges: &[&GroupEdges],
        want_pos: bool,
        mut attention: Option<&mut Vec<Attention>>,
    ) -> (Tensor, Option<Tensor>) {
        let kind = h.kind();
        let (hh, c) = (self.heads, self.c);
        let nf = hh * c;
        let pos_ch = pos.size()[1];
        // Per-group views by `split_with_sizes`, whose backward is one concatenation (a
        // `narrow` per group would zero-fill and add a full-size gradient for every group).
        let groups: Vec<_> = layout.active().collect();
        let node_sizes: Vec<i64> = groups.iter().map(|g| g.node_rows() as i64).collect();
        let (q, k, v) = self.qkv(h, pos);
        let q = q.split_with_sizes(&node_sizes, 0);
        let k = k.split_with_sizes(&node_sizes, 0);
        let v = v.split_with_sizes(&node_sizes, 0);
        let pos_g = pos.split_with_sizes(&node_sizes, 0);
        let (w0, w1) = (self.lin_edge0.weight(), self.lin_edge1.weight());
        let w_pos = self.lin_pos.weight();
        let scale = (c as f64).sqrt();
        // Sums over each head's C channels and the broadcast of a per-head value over them as
        // products with the 0/1 head indicator [nf, H] (one GEMM each way): an elementwise
        // reduction or broadcast over the innermost C (8 or 16 values) is slow in libtorch.
        let heads =
            Tensor::eye(hh, (kind, h.device())).repeat_interleave_self_int(c, Some(0), None::<i64>);
        let heads_t = heads.tr();
        let mut out_h = Vec::new();
        let mut out_pos = Vec::new();
        for (gi, (g, ge)) in groups.iter().zip(edges).enumerate() {
            let (bg, n) = (g.len() as i64, g.n as i64);
            let q_g = q[gi].view([bg, 1, n, hh, c]);
            let k_g = k[gi].view([bg, n, 1, hh, c]);
            let v_g = v[gi].view([bg, n, 1, hh, c]);
            let e0 = dense[gi]
                .linear::<&Tensor>(&w0, None)
                .view([bg, n, n, hh, c]);
            let e1 = dense[gi]
                .linear::<&Tensor>(&w1, None)
                .view([bg, n, n, hh, c]);
            // logit(i → j) = Σ_c q_j·k_i·E0_ij / √C, product order (q·k)·E0
            let mut logits = ((q_g * k_g) * e0)
                .view([bg * n * n, nf])
                .mm(&heads)
                .view([bg, n, n, hh])
                / scale;
            if self.attn_clamp {
                logits = logits.clamp(-5.0, 5.0);
            }
            // softmax over the incoming edges of each target (PyG `softmax`: detached max)
            let mx = tch::no_grad(|| {
                let m = logits
                    .detach()
                    .masked_fill(&ge.not_mask, f64::NEG_INFINITY)
                    .amax([1i64].as_slice(), true);
                m.masked_fill(&m.isinf(), 0.0)
            });
            let ex = (&logits - mx).masked_fill(&ge.not_mask, 0.0).exp() * &ge.mask_f;
            let denom = ex.sum_dim_intlist([1i64].as_slice(), true, kind) + 1e-16;
            let alpha = ex / denom;
            let alpha_c = alpha
                .view([bg * n * n, hh])
                .mm(&heads_t)
                .view([bg, n, n, hh, c]);
            let msg = (v_g * e1) * alpha_c;
            out_h.push(
                msg.sum_dim_intlist([1i64].as_slice(), false, kind)
                    .view([bg * n, nf]),
            );
            if want_pos {
                let lp = msg
                    .reshape([bg * n * n, nf])
                    .linear::<&Tensor>(&w_pos, None)
                    .view([bg, n, n, pos_ch]);
                let pos_src = pos_g[gi].view([bg, n, 1, pos_ch]);
                let mean =
                    (pos_src * lp).sum_dim_intlist([1i64].as_slice(), false, kind) / &ge.count;
                out_pos.push(mean.view([bg * n, pos_ch]));
            }
            if let Some(a) = attention.as_deref_mut() {
                a.push(Attention { logits, alpha });
            }
        }
        let out_h = cat_rows(out_h, nf, h);
        let out_pos = want_pos.then(|| cat_rows(out_pos, pos_ch, pos));
        self.node_update(h, pos, &out_h, out_pos.as_ref())
    }

    /// Queries, keys and values `[M, nf]` of the node rows (input `[h ‖ pos]`).
    pub(crate) fn qkv(&self, h: &Tensor, pos: &Tensor) -> (Tensor, Tensor, Tensor) {
        let xf = Tensor::cat(&[h, pos], -1);
        (
            self.lin_query.forward(&xf),
            self.lin_key.forward(&xf),
            self.lin_value.forward(&xf),
        )
    }

    /// `lin_edge0`, `lin_edge1` and `lin_pos` weights as `[out, in]` (views of the variables).
    pub(crate) fn pair_weights(&self) -> (Tensor, Tensor, Tensor) {
        (
            self.lin_edge0.weight(),
            self.lin_edge1.weight(),
            self.lin_pos.weight(),
        )
    }

    /// The node update after the message passing: `h' = GN₂((o + FFN(o))/√2)` with
    /// `o = GN₁((Σ msg + lin_skip(h))/√2)`, and `pos' = pos + tanh(pos + mean pos_msg)`.
    pub(crate) fn node_update(
        &self,
        h: &Tensor,
        pos: &Tensor,
        out_h: &Tensor,
        out_pos: Option<&Tensor>,
    ) -> (Tensor, Option<Tensor>) {
        self.node_update_with(h, pos, out_h, out_pos, &mut |norm, x| norm.forward(x))
    }

    /// [`Self::node_update`] with each GroupNorm computed by `norm` (the fused paths use a
    /// loop outside autograd, `super::norm`).
    pub(crate) fn node_update_with(
        &self,
        h: &Tensor,
        pos: &Tensor,
        out_h: &Tensor,
        out_pos: Option<&Tensor>,
        norm: &mut dyn FnMut(&GroupNorm, &Tensor) -> Tensor,
    ) -> (Tensor, Option<Tensor>) {
        let x_r = self.lin_skip.forward(h);
        let out = norm(&self.norm1, &((out_h + x_r) / SQRT2));
        let ffn = self.ffn2.forward(&self.ffn0.forward(&out).silu());
        let out = norm(&self.norm2, &((&out + ffn) / SQRT2));
        let new_pos = out_pos.map(|op| pos + (pos + op).tanh());
        (out, new_pos)
    }

    /// `norm1` and `norm2`.
    pub(crate) fn norms(&self) -> [&GroupNorm; 2] {
        [&self.norm1, &self.norm2]
    }

    /// Heads and channels per head.
    pub(crate) fn heads(&self) -> (i64, i64) {
        (self.heads, self.c)
    }

    /// Whether the logits are clamped to [−5, 5].
    pub(crate) fn clamps(&self) -> bool {
        self.attn_clamp
    }

    /// `lin_pos`'s weight variable (the last layer's gets no gradient).
    pub(crate) fn lin_pos_var(&self) -> &Tensor {
        self.lin_pos.weight_var()
    }
}

/// The rows of every group stacked (`[0, d]` like `like` when there are none).
fn cat_rows(parts: Vec<Tensor>, d: i64, like: &Tensor) -> Tensor {
    if parts.is_empty() {
        Tensor::zeros([0, d], (like.kind(), like.device()))
    } else if parts.len() == 1 {
        parts.into_iter().next().expect("one part")
    } else {
        Tensor::cat(&parts, 0)
    }
}
