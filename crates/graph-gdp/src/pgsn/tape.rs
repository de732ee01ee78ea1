//! The PGSN forward with the pair work in [`super::fused`]'s loops, and its gradient: the
//! evaluation path of the CPU sampler and the training step's path ([`TrainTape`]).
//!
//! Node-level work (queries, keys, values, the node update, the time terms, the head) stays in
//! libtorch's autograd, but for the node update's GroupNorms ([`super::norm`]'s loops, with
//! autograd run segment by segment between them); pair-level work (the edge projections and
//! `lin_pos` as libtorch matrix products, the attention, the position aggregation and the
//! dense edge update as fused loops) runs outside it. The training forward records what the
//! backward needs; the backward walks the layers from the last: the edge update's gradient
//! by hand, then autograd through the node update (from the node-level gradients, whose
//! values it receives as the weights of a scalar surrogate `Σ output·gradient`), the
//! attention's gradient by hand, the matrix products' gradients as libtorch products, and
//! autograd through the queries, keys and values. Parameter gradients reach `.grad` exactly as
//! `loss.backward()` through [`super::Pgsn::forward`] would put them there (up to rounding;
//! `tests/model.rs` and `tests/parity.rs` compare).
//!
//! The pair tensors stay libtorch tensors that the loops read and write in place
//! (`graph_tensor::host`). The first layer is special: its input features and their
//! products with `[W0; W1]` are affine rows of each pair's value and "SPD" class
//! ([`super::fused`]'s `affine_rows`), so it needs no matrix product over the pairs, and
//! the gradients of those features reach the input stage's parameters as sums over the
//! pairs (`reduce_rows`) instead of through autograd. The head's product with those first
//! features (`edge_layer`'s `e₀` half) is such rows too (`Pgsn::head_terms`).

use graph_tensor::host::{host, host_mut};
use tch::{Device, Kind, Tensor};

use super::dropout::Scaled;
use super::fused::{
    affine_rows, attention_backward, attention_forward, edge_update_backward, edge_update_forward,
    edge_update_packed, packed_pairs, packed_row, positions_backward, positions_forward,
    reduce_rows, AttnGrads, AttnSaved, Dims, EdgeScale, Real, RowSums,
};
use super::layout::BatchLayout;
use super::nn::GroupNorm;
use super::norm::{group_norm_backward, group_norm_forward};
use super::{EdgeTerms, InputStage, Pgsn};
use crate::error::Result;

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// A tensor the loops write whole, `shape` of `T` on the CPU (the fused path's device).
fn empty<T: Real>(shape: &[i64]) -> Tensor {
    Tensor::empty(shape, (T::KIND, Device::Cpu))
}

/// `t` without its autograd history, contiguous (a view of the same memory when it already
/// is), for the loops to read.
fn plain(t: &Tensor) -> Tensor {
    t.detach().contiguous()
}

/// The packed layout of a group's symmetric pair tensors (evaluation of a symmetric state):
/// one row per pair `i ≤ j`.
struct Packing {
    /// Full pair `p = (b·n + i)·n + j` → packed row `b·n(n+1)/2 + row(min, max)`.
    umap: Vec<usize>,
    /// The same as an index tensor.
    umap_t: Tensor,
    /// Packed row → its full pair `(i ≤ j)`, an index tensor.
    upper: Tensor,
}

impl Packing {
    fn new(b: usize, n: usize, device: tch::Device) -> Self {
        let u = packed_pairs(n);
        let mut umap = Vec::with_capacity(b * n * n);
        let mut upper = Vec::with_capacity(b * u);
        for g in 0..b {
            for i in 0..n {
                for j in 0..n {
                    let (lo, hi) = if i <= j { (i, j) } else { (j, i) };
                    umap.push(g * u + packed_row(n, lo, hi));
                }
                for j in i..n {
                    upper.push(((g * n + i) * n + j) as i64);
                }
            }
        }
        let ut: Vec<i64> = umap.iter().map(|&r| r as i64).collect();
        Self {
            umap_t: Tensor::from_slice(&ut).to_device(device),
            umap,
            upper: Tensor::from_slice(&upper).to_device(device),
        }
    }
}

/// A group's sizes and message-passing structure.
struct GroupMeta<T> {
    b: usize,
    n: usize,
    /// First node row.
    row: usize,
    /// First pair row (of the full, unpacked layout).
    pair_row: usize,
    /// `[B, n, n]`: `i → j` is an edge.
    edge: Vec<bool>,
    /// In-degrees at least 1, `[B, n]`.
    count: Vec<T>,
    /// The packed symmetric layout, when used.
    packed: Option<Packing>,
    /// Pair rows per graph (`n²`, or `n(n + 1)/2` packed).
    per_graph: usize,
    /// Each pair row's value `x_ij` (`[rows]`) and "SPD" class (`[rows]`, i64).
    x_rows: Tensor,
    s_rows: Tensor,
}

impl<T: Real> GroupMeta<T> {
    /// The group's data as plain slices, for the loops (and the jobs of several threads).
    fn view(&self) -> View<'_, T> {
        View {
            b: self.b,
            n: self.n,
            row: self.row,
            pair_row: self.pair_row,
            per_graph: self.per_graph,
            edge: &self.edge,
            count: &self.count,
            umap: self.packed.as_ref().map(|pk| pk.umap.as_slice()),
            x: host::<T>(&self.x_rows),
            s: host::<i64>(&self.s_rows),
        }
    }

    /// [`affine_rows`] over the group's pair rows.
    fn affine(&self, u: &Tensor, c: &Tensor, q: &Tensor) -> Tensor {
        self.view().affine(host::<T>(u), host::<T>(c), host::<T>(q))
    }

    /// [`reduce_rows`] of `g: [rows, d]`: the sums by value `[d]`, by graph `[B, d]` and by
    /// class `[K, d]`.
    fn reduce(&self, g: &Tensor, classes: i64) -> (Tensor, Tensor, Tensor) {
        self.view().reduce(host::<T>(g), g.size()[1], classes)
    }
}

/// A group's sizes and structure as plain slices: what the loops read, shareable by the jobs
/// of several threads.
#[derive(Clone, Copy)]
struct View<'a, T> {
    b: usize,
    n: usize,
    row: usize,
    pair_row: usize,
    per_graph: usize,
    edge: &'a [bool],
    count: &'a [T],
    umap: Option<&'a [usize]>,
    x: &'a [T],
    s: &'a [i64],
}

impl<T: Real> View<'_, T> {
    fn nodes(&self) -> std::ops::Range<usize> {
        self.row..self.row + self.b * self.n
    }
    fn pairs(&self) -> usize {
        self.b * self.n * self.n
    }
    fn dims(&self, heads: (i64, i64)) -> Dims {
        Dims {
            b: self.b,
            n: self.n,
            h: heads.0 as usize,
            c: heads.1 as usize,
        }
    }

    /// [`affine_rows`] over the group's pair rows (`u: [d]`, `c: [B, d]`, `q: [K, d]`).
    fn affine(&self, u: &[T], c: &[T], q: &[T]) -> Tensor {
        let mut out = empty::<T>(&[self.x.len() as i64, u.len() as i64]);
        affine_rows(
            self.per_graph,
            self.x,
            self.s,
            u,
            c,
            q,
            host_mut::<T>(&mut out),
        );
        out
    }

    /// [`reduce_rows`] of `g: [rows, d]`.
    fn reduce(&self, g: &[T], d: i64, classes: i64) -> (Tensor, Tensor, Tensor) {
        let mut by_value = empty::<T>(&[d]);
        let mut by_graph = empty::<T>(&[self.b as i64, d]);
        let mut by_class = empty::<T>(&[classes, d]);
        reduce_rows(
            self.per_graph,
            self.x,
            self.s,
            g,
            RowSums {
                by_value: host_mut::<T>(&mut by_value),
                by_graph: host_mut::<T>(&mut by_graph),
                by_class: host_mut::<T>(&mut by_class),
            },
        );
        (by_value, by_graph, by_class)
    }
}

/// One layer's record for the backward. Pair tensors are per group, `[pairs, ·]`; `*_d` are
/// the values (no autograd history) of node tensors the loops read.
struct LayerTape<T> {
    h_in: Tensor,
    pos_in: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_d: Tensor,
    k_d: Tensor,
    v_d: Tensor,
    pos_d: Tensor,
    /// The layer's dense edge features, the input of its products.
    dense_in: Vec<Tensor>,
    /// `E0 ‖ E1` (`[pairs, 2nf]`).
    e: Vec<Tensor>,
    saved: Vec<AttnSaved<T>>,
    /// The messages (the input of `lin_pos`).
    msg: Vec<Tensor>,
    /// `lin_pos` of the messages.
    lp: Vec<Tensor>,
    out_leaf: Tensor,
    out_pos_leaf: Option<Tensor>,
    h_out: Tensor,
    pos_out: Option<Tensor>,
    ua: Tensor,
    ub: Tensor,
    ua_d: Tensor,
    ub_d: Tensor,
    /// The edge dropout keep flags of the layer (`[P, nf]`, `u8`) and `1/(1 − p)`, if any.
    edge_mask: Option<(Tensor, f64)>,
    /// The node update's two GroupNorms, in order.
    norms: Vec<NormTape>,
}

/// A GroupNorm of the node update computed by [`group_norm_forward`]: its input (with
/// autograd history, the root of the segment before it), its output (a leaf, the start of
/// the segment after it) and the statistics.
struct NormTape {
    input: Tensor,
    output: Tensor,
    mean: Tensor,
    rstd: Tensor,
}

/// `norm(x)` by [`group_norm_forward`] on the rows `x: [M, C]`; returns the output, as a
/// leaf requiring its gradient when `record`, and what the backward needs.
fn group_norm_fused<T: Real>(norm: &GroupNorm, x: &Tensor, record: bool) -> (Tensor, NormTape) {
    let groups = norm.groups();
    let (w, b) = norm.affine();
    let (xv, wv, bv) = (plain(x), plain(w), plain(b));
    let m = x.size()[0];
    let mut y = empty::<T>(&x.size());
    let mut mean = empty::<T>(&[m, groups as i64]);
    let mut rstd = empty::<T>(&[m, groups as i64]);
    group_norm_forward(
        groups,
        host::<T>(&xv),
        host::<T>(&wv),
        host::<T>(&bv),
        host_mut::<T>(&mut y),
        host_mut::<T>(&mut mean),
        host_mut::<T>(&mut rstd),
    );
    let output = if record { y.set_requires_grad(true) } else { y };
    (
        output.shallow_clone(),
        NormTape {
            input: x.shallow_clone(),
            output,
            mean,
            rstd,
        },
    )
}

/// The gradient through a [`group_norm_fused`]: from its output's gradient, the input's,
/// the weight's and the bias's, put where autograd would put them (backward of the segment
/// before it from `Σ input·∂input` and of the affine variables).
fn group_norm_fused_backward<T: Real>(norm: &GroupNorm, nt: &NormTape) {
    let dy = nt.output.grad();
    if !dy.defined() {
        return;
    }
    let dy = plain(&dy);
    let (w, b) = norm.affine();
    let (xv, wv) = (plain(&nt.input), plain(w));
    let c = wv.numel() as i64;
    let mut dx = empty::<T>(&xv.size());
    let mut dw = empty::<T>(&[c]);
    let mut db = empty::<T>(&[c]);
    group_norm_backward(
        norm.groups(),
        host::<T>(&xv),
        host::<T>(&wv),
        host::<T>(&nt.mean),
        host::<T>(&nt.rstd),
        host::<T>(&dy),
        host_mut::<T>(&mut dx),
        host_mut::<T>(&mut dw),
        host_mut::<T>(&mut db),
    );
    let kind = dx.kind();
    let s = (&nt.input * dx).sum(kind) + (w * dw).sum(kind) + (b * db).sum(kind);
    s.backward();
}

/// The values (no autograd history) of the [`EdgeTerms`], and what the first layer's edge
/// projections are made of (see [`affine_rows`]): with `[W0; W1] = [A | B]`, the projections
/// of pair `(i, j)` of graph `b` are `x_ij·u + c_b + q[s_ij]`.
struct FirstTerms {
    wx: Tensor,
    bx: Tensor,
    table: Tensor,
    te0: Vec<Tensor>,
    te1: Vec<Tensor>,
    /// The first layer's `[W0; W1]`, `[2nf, nf]`.
    w01: Tensor,
    /// `A·wx`, `[2nf]`.
    u: Tensor,
    /// `table·Bᵀ`, `[K, 2nf]`.
    q: Tensor,
    /// Per group: `A(bx + te0_b) + B·te1_b`, `[Bg, 2nf]`.
    c: Vec<Tensor>,
}

impl FirstTerms {
    fn new(terms: &EdgeTerms, w01: Tensor) -> Self {
        let ed = terms.wx.numel() as i64;
        let (wx, bx, table) = (plain(&terms.wx), plain(&terms.bx), plain(&terms.table));
        let te0: Vec<Tensor> = terms.te0.iter().map(plain).collect();
        let te1: Vec<Tensor> = terms.te1.iter().map(plain).collect();
        let (a, b) = (w01.narrow(1, 0, ed), w01.narrow(1, ed, ed));
        let u = plain(&wx.unsqueeze(0).mm(&a.tr()).view([-1]));
        let q = plain(&table.mm(&b.tr()));
        let c = te0
            .iter()
            .zip(&te1)
            .map(|(t0, t1)| plain(&((&bx + t0).mm(&a.tr()) + t1.mm(&b.tr()))))
            .collect();
        Self {
            wx,
            bx,
            table,
            te0,
            te1,
            w01,
            u,
            q,
            c,
        }
    }

    /// The dense edge features of group `k`'s rows: `[x·wx + bx + te0_b ‖ table[s] + te1_b]`
    /// as [`affine_rows`] with `u = [wx ‖ 0]`, `c_b = [bx + te0_b ‖ te1_b]`,
    /// `q = [0 ‖ table]`.
    fn dense<T: Real>(&self, gm: &GroupMeta<T>, k: usize) -> Tensor {
        let u = Tensor::cat(&[&self.wx, &self.wx.zeros_like()], 0);
        let q = Tensor::cat(&[&self.table.zeros_like(), &self.table], 1);
        let c = Tensor::cat(&[&(&self.bx + &self.te0[k]), &self.te1[k]], 1);
        gm.affine(&u, &c, &q)
    }

    fn classes(&self) -> i64 {
        self.table.size()[0]
    }
}

struct Tape<T> {
    h0: Tensor,
    pos0: Tensor,
    terms: EdgeTerms,
    first: FirstTerms,
    /// Per group: the sums (by value, graph, class) of the first layer's `∂[E0 ‖ E1]`.
    first_sums: Vec<(Tensor, Tensor, Tensor)>,
    /// Per group: the head's first-stream rows (`[P, nf/2]`, a leaf whose gradient the
    /// backward reads) and their affine terms `(u, c, q)` with autograd history.
    head_ori: Vec<(Tensor, (Tensor, Tensor, Tensor))>,
    last: Vec<Tensor>,
    groups: Vec<GroupMeta<T>>,
    layers: Vec<LayerTape<T>>,
    nf: usize,
    pc: usize,
}

enum AnyTape {
    F32(Tape<f32>),
    F64(Tape<f64>),
}

/// What [`Pgsn::forward_train_tape`] records for the gradient of a training step.
pub struct TrainTape {
    tape: Option<AnyTape>,
}

impl std::fmt::Debug for TrainTape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrainTape")
    }
}

impl TrainTape {
    /// A tape that is libtorch's own autograd.
    pub(crate) fn autograd() -> Self {
        Self { tape: None }
    }

    /// Accumulates `∂loss/∂θ` into every parameter's `.grad` (`loss` a scalar computed from
    /// the forward's output). Consumes the tape.
    pub fn backward(self, net: &Pgsn, loss: &Tensor) {
        match self.tape {
            None => loss.backward(),
            Some(AnyTape::F32(t)) => net.fused_backward(t, loss),
            Some(AnyTape::F64(t)) => net.fused_backward(t, loss),
        }
    }
}

/// The edge update's scale for a group: the layer's dropout keep flags of the group's rows
/// with `1/(1 − p)` times `1/√2`, or `1/√2` alone.
fn edge_scale<'a, T: Real>(
    mask: Option<(&'a [u8], f64)>,
    gm: &View<'_, T>,
    nf: usize,
) -> EdgeScale<'a, T> {
    let inv_sqrt2 = T::from_f64(1.0 / SQRT2);
    match mask {
        Some((m, keep)) => EdgeScale::PerEntry(
            &m[gm.pair_row * nf..(gm.pair_row + gm.pairs()) * nf],
            T::from_f64(keep) * inv_sqrt2,
        ),
        None => EdgeScale::Uniform(inv_sqrt2),
    }
}

/// `s` cut into consecutive pieces of the given lengths.
fn split_rows<T>(mut s: &mut [T], sizes: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    let mut pieces = Vec::new();
    for n in sizes {
        let (piece, rest) = std::mem::take(&mut s).split_at_mut(n);
        pieces.push(piece);
        s = rest;
    }
    pieces
}

/// Runs `work` on every group's job, the jobs spread over libtorch's intra-op threads, the
/// largest first. A job owns (shallow copies of) the tensors it uses and reads shared data
/// as slices; inside a job libtorch runs single-threaded, and its numbers depend on its group
/// alone: the same results on any thread count.
fn run_groups<J: Send>(jobs: &mut [J], size: impl Fn(&J) -> usize, work: impl Fn(&mut J) + Sync) {
    graph_tensor::parallel::run_jobs_by_size(jobs, size, work);
}

/// A group's attention forward.
struct AttnJob<'a, T> {
    g: View<'a, T>,
    /// The first layer's `(u, c, q)` of [`FirstTerms`], or the dense features and
    /// `[W0; W1]` of a later layer.
    first: Option<(Tensor, Tensor, Tensor)>,
    dense: Tensor,
    w01: Tensor,
    wp: Tensor,
    out: &'a mut [T],
    out_pos: &'a mut [T],
    /// `E0 ‖ E1`, the saved attention, and the messages with their `lin_pos`.
    #[allow(clippy::type_complexity)]
    done: Option<(Tensor, AttnSaved<T>, Option<(Tensor, Tensor)>)>,
}

/// A group's edge update backward.
struct EdgeBackJob<'a, T> {
    g: View<'a, T>,
    grad: Tensor,
    dua: &'a mut [T],
    dub: &'a mut [T],
    dd: Option<Tensor>,
}

/// A group's attention backward, with its parts of the weight gradients.
struct AttnBackJob<'a, T> {
    gi: usize,
    g: View<'a, T>,
    /// The edge update's `∂dense`, to which the products' gradient is added.
    dd: Tensor,
    dq: &'a mut [T],
    dk: &'a mut [T],
    dv: &'a mut [T],
    dpos: &'a mut [T],
    /// The layer's `E0 ‖ E1`, input features, messages and `lin_pos` of the group.
    e: Tensor,
    dense_in: Tensor,
    msg: Option<(Tensor, Tensor)>,
    w01: Tensor,
    wp: Tensor,
    /// The first layer's `(wx, bx + te0, table, te1)`.
    first: Option<(Tensor, Tensor, Tensor, Tensor)>,
    classes: i64,
    dw01: Option<Tensor>,
    dwp: Option<Tensor>,
    sums: Option<(Tensor, Tensor, Tensor)>,
}

/// `[W0; W1]` (`[2nf, nf]`): one product gives `E0 ‖ E1` per pair.
fn stacked(w0: &Tensor, w1: &Tensor) -> Tensor {
    Tensor::cat(&[w0, w1], 0)
}

impl Pgsn {
    /// The forward of a training step with its tape (by-size layout, the pair work fused;
    /// see the [module docs](self)). `masks` are the dropout masks in the layout's order.
    pub(crate) fn forward_tape(
        &self,
        x: &Tensor,
        t: &Tensor,
        layout: &BatchLayout,
        masks: Option<Vec<Scaled>>,
    ) -> Result<(Tensor, TrainTape)> {
        match self.kind() {
            Kind::Double => {
                let (out, tape) = self.fused_forward::<f64>(x, t, layout, masks, true, false)?;
                Ok((
                    out,
                    TrainTape {
                        tape: tape.map(AnyTape::F64),
                    },
                ))
            }
            _ => {
                let (out, tape) = self.fused_forward::<f32>(x, t, layout, masks, true, false)?;
                Ok((
                    out,
                    TrainTape {
                        tape: tape.map(AnyTape::F32),
                    },
                ))
            }
        }
    }

    /// The evaluation forward with the pair work fused (no gradient, no dropout). An exactly
    /// symmetric `x` (every sampler's state is) keeps the pair tensors that stay symmetric
    /// (the dense edge features, their projections, the head) as their upper triangles: half
    /// the work, the same function (up to rounding: `(W h_j + b) + W h_i` is computed once
    /// per pair instead of twice).
    pub(crate) fn forward_fused_eval(
        &self,
        x: &Tensor,
        t: &Tensor,
        layout: &BatchLayout,
    ) -> Result<Tensor> {
        tch::no_grad(|| {
            let sym = x.equal(&x.transpose(1, 2));
            match self.kind() {
                Kind::Double => Ok(self.fused_forward::<f64>(x, t, layout, None, false, sym)?.0),
                _ => Ok(self.fused_forward::<f32>(x, t, layout, None, false, sym)?.0),
            }
        })
    }

    fn fused_forward<T: Real>(
        &self,
        x: &Tensor,
        t: &Tensor,
        layout: &BatchLayout,
        masks: Option<Vec<Scaled>>,
        record: bool,
        sym: bool,
    ) -> Result<(Tensor, Option<Tape<T>>)> {
        let kind = self.kind();
        let cfg = &self.cfg;
        let (nf, pc) = (cfg.nf, cfg.pos_ch());
        // the dense edge features are built here, from their terms
        let InputStage {
            inputs,
            h: h0,
            pos: pos0,
            terms,
            ..
        } = self.input_stage(x, t, layout, None, false);
        let active: Vec<_> = layout.active().collect();
        if active.is_empty() {
            let (b, n) = (layout.counts.len() as i64, cfg.max_nodes as i64);
            return Ok((Tensor::zeros([b, n, n], (kind, self.device)), None));
        }
        let mut groups = Vec::with_capacity(active.len());
        let (mut row, mut pair_row) = (0, 0);
        for (g, gi) in active.iter().zip(&inputs) {
            let edge = Vec::<bool>::try_from(&gi.cont.gt(0.0).contiguous().view([-1]))?;
            let count = Vec::<T>::try_from(&plain(&gi.edges.count).view([-1]))?;
            // the "SPD" index is symmetric unless a walk probability underflowed one way
            let packed =
                (sym && !record && masks.is_none() && gi.spd.equal(&gi.spd.transpose(1, 2)))
                    .then(|| Packing::new(g.len(), g.n, self.device));
            let (mut x_rows, mut s_rows) = (gi.x.to_kind(kind).reshape([-1]), gi.spd.reshape([-1]));
            let per_graph = match &packed {
                Some(pk) => {
                    x_rows = x_rows.index_select(0, &pk.upper);
                    s_rows = s_rows.index_select(0, &pk.upper);
                    packed_pairs(g.n)
                }
                None => g.n * g.n,
            };
            groups.push(GroupMeta {
                b: g.len(),
                n: g.n,
                row,
                pair_row,
                edge,
                count,
                packed,
                per_graph,
                x_rows: plain(&x_rows),
                s_rows: plain(&s_rows.to_kind(Kind::Int64)),
            });
            row += g.node_rows();
            pair_row += g.pair_rows();
        }
        let m = row;
        let leaf = |t: &Tensor| {
            if record {
                t.detach().set_requires_grad(true)
            } else {
                t.shallow_clone()
            }
        };
        let mut h = leaf(&h0);
        let mut pos = leaf(&pos0);
        // the dense edge features per group (values only: their gradient is the tape's)
        let first = tch::no_grad(|| {
            let (w0, w1, _) = self.layers[0].pair_weights();
            FirstTerms::new(&terms, stacked(&w0, &w1).detach())
        });
        let mut dense: Vec<Tensor> = tch::no_grad(|| {
            groups
                .iter()
                .enumerate()
                .map(|(k, gm)| first.dense(gm, k))
                .collect()
        });
        let mut layers = Vec::new();
        let num_layers = self.layers.len();
        let inv_sqrt2 = T::from_f64(1.0 / SQRT2);
        for (l, (layer, edge_conv)) in self.layers.iter().zip(&self.edge_convs).enumerate() {
            let want_pos = l + 1 < num_layers;
            let heads = layer.heads();
            let (q, k, v) = layer.qkv(&h, &pos);
            let (q_d, k_d, v_d, pos_d) = (plain(&q), plain(&k), plain(&v), plain(&pos));
            let (w0, w1, wp) = layer.pair_weights();
            let (w01, wp) = (stacked(&w0, &w1).detach(), wp.detach());
            let mut out_all = empty::<T>(&[m as i64, nf as i64]);
            let mut out_pos_all = empty::<T>(&[m as i64, if want_pos { pc as i64 } else { 0 }]);
            let (mut es, mut saved, mut msgs, mut lps) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            tch::no_grad(|| {
                let (qs, ks, vs) = (host::<T>(&q_d), host::<T>(&k_d), host::<T>(&v_d));
                let pos_s = host::<T>(&pos_d);
                let clamp = layer.clamps();
                let outs = split_rows(
                    host_mut::<T>(&mut out_all),
                    groups.iter().map(|g| g.b * g.n * nf),
                );
                let out_pos = split_rows(
                    host_mut::<T>(&mut out_pos_all),
                    groups
                        .iter()
                        .map(|g| if want_pos { g.b * g.n * pc } else { 0 }),
                );
                let mut jobs: Vec<AttnJob<'_, T>> = groups
                    .iter()
                    .zip(&dense)
                    .zip(outs.into_iter().zip(out_pos))
                    .enumerate()
                    .map(|(k, ((gm, dg), (out, out_pos)))| AttnJob {
                        g: gm.view(),
                        first: (l == 0).then(|| {
                            (
                                first.u.shallow_clone(),
                                first.c[k].shallow_clone(),
                                first.q.shallow_clone(),
                            )
                        }),
                        dense: dg.shallow_clone(),
                        w01: w01.shallow_clone(),
                        wp: wp.shallow_clone(),
                        out,
                        out_pos,
                        done: None,
                    })
                    .collect();
                run_groups(
                    &mut jobs,
                    |j| j.g.pairs(),
                    |j| {
                        let g = j.g;
                        let p = g.pairs() as i64;
                        let e = match &j.first {
                            Some((u, c, q)) => g.affine(host::<T>(u), host::<T>(c), host::<T>(q)),
                            None => j.dense.linear::<&Tensor>(&j.w01, None),
                        };
                        let rows = g.nodes();
                        let nr = rows.start * nf..rows.end * nf;
                        let mut msg = want_pos.then(|| empty::<T>(&[p, nf as i64]));
                        let s = attention_forward(
                            g.dims(heads),
                            &qs[nr.clone()],
                            &ks[nr.clone()],
                            &vs[nr],
                            host::<T>(&e),
                            g.umap,
                            g.edge,
                            clamp,
                            &mut j.out[..],
                            msg.as_mut().map(host_mut::<T>),
                        );
                        let positions = msg.map(|msg| {
                            let lp = msg.linear::<&Tensor>(&j.wp, None);
                            positions_forward(
                                g.b,
                                g.n,
                                pc,
                                &pos_s[rows.start * pc..rows.end * pc],
                                host::<T>(&lp),
                                g.edge,
                                g.count,
                                &mut j.out_pos[..],
                            );
                            (msg, lp)
                        });
                        j.done = Some((e, s, positions));
                    },
                );
                for j in jobs {
                    let (e, s, positions) = j.done.expect("every job ran");
                    saved.push(s);
                    if record {
                        es.push(e);
                        if let Some((msg, lp)) = positions {
                            msgs.push(msg);
                            lps.push(lp);
                        }
                    }
                }
            });
            let out_leaf = leaf(&out_all);
            let out_pos_leaf = want_pos.then(|| leaf(&out_pos_all));
            let mut norms = Vec::with_capacity(2);
            let (mut h_new, pos_new) = layer.node_update_with(
                &h,
                &pos,
                &out_leaf,
                out_pos_leaf.as_ref(),
                &mut |norm, x| {
                    let (y, nt) = group_norm_fused::<T>(norm, x, record);
                    norms.push(nt);
                    y
                },
            );
            let mut pos_new = pos_new;
            if let Some(ms) = &masks {
                h_new = h_new.g_mul(&ms[l].h);
                pos_new = pos_new.map(|p| p.g_mul(&ms[l].pos));
            }
            let ua = edge_conv.forward(&h_new);
            let ub = edge_conv.forward_no_bias(&h_new);
            let (ua_d, ub_d) = (plain(&ua), plain(&ub));
            let edge_mask = masks.as_ref().map(|ms| (plain(&ms[l].edge), ms[l].keep));
            let next = {
                let (uas, ubs) = (host::<T>(&ua_d), host::<T>(&ub_d));
                let mask = edge_mask.as_ref().map(|(m, k)| (host::<u8>(m), *k));
                let mut jobs: Vec<(View<'_, T>, Tensor, Option<Tensor>)> = groups
                    .iter()
                    .zip(&dense)
                    .map(|(gm, dg)| (gm.view(), dg.shallow_clone(), None))
                    .collect();
                run_groups(
                    &mut jobs,
                    |j| j.0.pairs(),
                    |(g, dg, next)| {
                        let nr = g.nodes().start * nf..g.nodes().end * nf;
                        let mut out = empty::<T>(&dg.size());
                        if g.umap.is_some() {
                            edge_update_packed(
                                g.b,
                                g.n,
                                nf,
                                host::<T>(dg),
                                &uas[nr.clone()],
                                &ubs[nr],
                                inv_sqrt2,
                                host_mut::<T>(&mut out),
                            );
                        } else {
                            edge_update_forward(
                                g.b,
                                g.n,
                                nf,
                                host::<T>(dg),
                                &uas[nr.clone()],
                                &ubs[nr],
                                &edge_scale(mask, g, nf),
                                host_mut::<T>(&mut out),
                            );
                        }
                        *next = Some(out);
                    },
                );
                jobs.into_iter()
                    .map(|j| j.2.expect("every job ran"))
                    .collect::<Vec<_>>()
            };
            let dense_in = std::mem::replace(&mut dense, next);
            let h_next = leaf(&h_new);
            let pos_next = pos_new
                .as_ref()
                .map(leaf)
                .unwrap_or_else(|| pos.shallow_clone());
            if record {
                layers.push(LayerTape {
                    h_in: std::mem::replace(&mut h, h_next),
                    pos_in: std::mem::replace(&mut pos, pos_next),
                    q,
                    k,
                    v,
                    q_d,
                    k_d,
                    v_d,
                    pos_d,
                    dense_in,
                    e: es,
                    saved,
                    msg: msgs,
                    lp: lps,
                    out_leaf,
                    out_pos_leaf,
                    h_out: h_new,
                    pos_out: pos_new,
                    ua,
                    ub,
                    ua_d,
                    ub_d,
                    edge_mask,
                    norms,
                });
            } else {
                h = h_next;
                pos = pos_next;
            }
        }
        // head: `edge_layer([e₀ ‖ e_L])`; the `e₀` half (with the bias) is `affine_rows` of
        // its terms (see `head_terms`), no matrix product over the pairs
        let mut outs = Vec::with_capacity(groups.len());
        let mut head_ori = Vec::with_capacity(groups.len());
        let mut last = Vec::with_capacity(groups.len());
        for (k, (((g, gi), gm), dl)) in active
            .iter()
            .zip(&inputs)
            .zip(&groups)
            .zip(&dense)
            .enumerate()
        {
            let (bg, n) = (g.len() as i64, g.n as i64);
            let (u, c, q) = self.head_terms(&terms, k);
            let z = leaf(&tch::no_grad(|| {
                gm.affine(&plain(&u), &plain(&c), &plain(&q))
            }));
            let e = leaf(dl);
            let (_, head) = self.head_from(&z, &e);
            outs.push(match &gm.packed {
                // exactly symmetric: (o + oᵀ)/2 = o
                Some(pk) => head.index_select(0, &pk.umap_t).view([bg, n, n]) * &gi.pair_mask,
                None => {
                    let og = head.view([bg, n, n]);
                    (&og + og.transpose(1, 2)) / 2.0 * &gi.pair_mask
                }
            });
            head_ori.push((z, (u, c, q)));
            last.push(e);
        }
        let out = layout.assemble(outs, kind);
        let tape = record.then(|| Tape {
            h0,
            pos0,
            terms,
            first,
            first_sums: Vec::new(),
            head_ori,
            last,
            groups,
            layers,
            nf,
            pc,
        });
        Ok((out, tape))
    }

    fn fused_backward<T: Real>(&self, tape: Tape<T>, loss: &Tensor) {
        let Tape {
            h0,
            pos0,
            terms,
            first,
            mut first_sums,
            head_ori,
            last,
            groups,
            layers,
            nf,
            pc,
        } = tape;
        loss.backward();
        let m = groups.last().map_or(0, |g| g.view().nodes().end);
        let grad_or_zeros = |t: &Tensor| {
            let g = t.grad();
            if g.defined() {
                plain(&g)
            } else {
                t.zeros_like()
            }
        };
        let mut g_dense: Vec<Tensor> = last.iter().map(grad_or_zeros).collect();
        let mut g_h: Option<Tensor> = None;
        let mut g_pos: Option<Tensor> = None;
        let (mi, nfi, pci) = (m as i64, nf as i64, pc as i64);
        for (l, lt) in layers.iter().enumerate().rev() {
            let layer = &self.layers[l];
            let heads = layer.heads();
            // the edge update
            let mut d_ua = empty::<T>(&[mi, nfi]);
            let mut d_ub = empty::<T>(&[mi, nfi]);
            let d_dense = {
                let (uas, ubs) = (host::<T>(&lt.ua_d), host::<T>(&lt.ub_d));
                let rows = || groups.iter().map(|g| g.b * g.n * nf);
                let duas = split_rows(host_mut::<T>(&mut d_ua), rows());
                let dubs = split_rows(host_mut::<T>(&mut d_ub), rows());
                let mask = lt.edge_mask.as_ref().map(|(m, k)| (host::<u8>(m), *k));
                let mut jobs: Vec<EdgeBackJob<'_, T>> = groups
                    .iter()
                    .zip(&g_dense)
                    .zip(duas.into_iter().zip(dubs))
                    .map(|((gm, gd), (dua, dub))| EdgeBackJob {
                        g: gm.view(),
                        grad: gd.shallow_clone(),
                        dua,
                        dub,
                        dd: None,
                    })
                    .collect();
                run_groups(
                    &mut jobs,
                    |j| j.g.pairs(),
                    |j| {
                        let g = j.g;
                        let nr = g.nodes().start * nf..g.nodes().end * nf;
                        let mut dd = empty::<T>(&j.grad.size());
                        edge_update_backward(
                            g.b,
                            g.n,
                            nf,
                            &uas[nr.clone()],
                            &ubs[nr],
                            &edge_scale(mask, &g, nf),
                            host::<T>(&j.grad),
                            host_mut::<T>(&mut dd),
                            &mut j.dua[..],
                            &mut j.dub[..],
                        );
                        j.dd = Some(dd);
                    },
                );
                jobs.into_iter()
                    .map(|j| j.dd.expect("every job ran"))
                    .collect::<Vec<_>>()
            };
            // autograd through the node update (and the dropout of its outputs)
            let kind = lt.ua.kind();
            let mut s = (&lt.ua * &d_ua).sum(kind) + (&lt.ub * &d_ub).sum(kind);
            if let Some(g) = &g_h {
                s += (&lt.h_out * g).sum(kind);
            }
            if let (Some(g), Some(p)) = (&g_pos, &lt.pos_out) {
                s += (p * g).sum(kind);
            }
            s.backward();
            // the GroupNorms by hand, each followed by autograd through the segment before it
            for (norm, nt) in layer.norms().into_iter().zip(&lt.norms).rev() {
                group_norm_fused_backward::<T>(norm, nt);
            }
            let g_out = grad_or_zeros(&lt.out_leaf);
            let g_out_pos = lt.out_pos_leaf.as_ref().map(grad_or_zeros);
            // the attention and the position aggregation
            let (w0, w1, wp) = layer.pair_weights();
            let (w01, wpd) = (stacked(&w0, &w1).detach(), wp.detach());
            let mut dq = empty::<T>(&[mi, nfi]);
            let mut dk = empty::<T>(&[mi, nfi]);
            let mut dv = empty::<T>(&[mi, nfi]);
            let mut d_pos_extra = empty::<T>(&[mi, if g_out_pos.is_some() { pci } else { 0 }]);
            let mut dw01 = Tensor::zeros([2 * nfi, nfi], (kind, w0.device()));
            let mut dwp = Tensor::zeros([pci, nfi], (kind, w0.device()));
            let mut next_dense = Vec::with_capacity(groups.len());
            tch::no_grad(|| {
                let (qs, ks, vs) = (host::<T>(&lt.q_d), host::<T>(&lt.k_d), host::<T>(&lt.v_d));
                let g_out_s = host::<T>(&g_out);
                let gp_s = g_out_pos.as_ref().map(host::<T>);
                let pos_s = host::<T>(&lt.pos_d);
                let saved = lt.saved.as_slice();
                let rows = || groups.iter().map(|g| g.b * g.n * nf);
                let dqs = split_rows(host_mut::<T>(&mut dq), rows());
                let dks = split_rows(host_mut::<T>(&mut dk), rows());
                let dvs = split_rows(host_mut::<T>(&mut dv), rows());
                let dposs = split_rows(
                    host_mut::<T>(&mut d_pos_extra),
                    groups
                        .iter()
                        .map(|g| if gp_s.is_some() { g.b * g.n * pc } else { 0 }),
                );
                let mut jobs: Vec<AttnBackJob<'_, T>> = groups
                    .iter()
                    .zip(d_dense)
                    .zip(dqs.into_iter().zip(dks))
                    .zip(dvs.into_iter().zip(dposs))
                    .enumerate()
                    .map(|(gi, (((gm, dd), (dq, dk)), (dv, dpos)))| AttnBackJob {
                        gi,
                        g: gm.view(),
                        dd,
                        dq,
                        dk,
                        dv,
                        dpos,
                        e: lt.e[gi].shallow_clone(),
                        dense_in: lt.dense_in[gi].shallow_clone(),
                        msg: gp_s.map(|_| (lt.msg[gi].shallow_clone(), lt.lp[gi].shallow_clone())),
                        w01: w01.shallow_clone(),
                        wp: wpd.shallow_clone(),
                        first: (l == 0).then(|| {
                            (
                                first.wx.shallow_clone(),
                                &first.bx + &first.te0[gi],
                                first.table.shallow_clone(),
                                first.te1[gi].shallow_clone(),
                            )
                        }),
                        classes: first.classes(),
                        dw01: None,
                        dwp: None,
                        sums: None,
                    })
                    .collect();
                run_groups(
                    &mut jobs,
                    |j| j.g.pairs(),
                    |j| {
                        let g = j.g;
                        let r = g.nodes();
                        let (nr, pr) = (r.start * nf..r.end * nf, r.start * pc..r.end * pc);
                        let p = g.pairs() as i64;
                        let d_msg = match (gp_s, &j.msg) {
                            (Some(gp), Some((msg, lp))) => {
                                let mut dlp = empty::<T>(&[p, pci]);
                                positions_backward(
                                    g.b,
                                    g.n,
                                    pc,
                                    &pos_s[pr.clone()],
                                    host::<T>(lp),
                                    g.edge,
                                    g.count,
                                    &gp[pr],
                                    &mut j.dpos[..],
                                    host_mut::<T>(&mut dlp),
                                );
                                j.dwp = Some(dlp.tr().mm(msg));
                                Some(dlp.mm(&j.wp))
                            }
                            _ => None,
                        };
                        let mut de = empty::<T>(&[p, 2 * nfi]);
                        attention_backward(
                            g.dims(heads),
                            &qs[nr.clone()],
                            &ks[nr.clone()],
                            &vs[nr.clone()],
                            host::<T>(&j.e),
                            g.edge,
                            &saved[j.gi],
                            &g_out_s[nr],
                            d_msg.as_ref().map(host::<T>),
                            AttnGrads {
                                dq: &mut j.dq[..],
                                dk: &mut j.dk[..],
                                dv: &mut j.dv[..],
                                de: host_mut::<T>(&mut de),
                            },
                        );
                        match &j.first {
                            Some((wx, bx_te0, table, te1)) => {
                                // the features are `affine_rows` of their terms: the weight
                                // gradient from sums over the pairs, `[X ⊗ wx + Dᵀ(bx + te0) ‖
                                // Sᵀ table + Dᵀ te1]`; the features' own gradient `∂E·[W0; W1]`
                                // is kept as its sums for the input stage
                                let (x_sum, g_sum, c_sum) =
                                    g.reduce(host::<T>(&de), 2 * nfi, j.classes);
                                let left =
                                    x_sum.unsqueeze(1).mm(&wx.unsqueeze(0)) + g_sum.tr().mm(bx_te0);
                                let right = c_sum.tr().mm(table) + g_sum.tr().mm(te1);
                                j.dw01 = Some(Tensor::cat(&[left, right], 1));
                                j.sums = Some((x_sum, g_sum, c_sum));
                            }
                            None => {
                                j.dw01 = Some(de.tr().mm(&j.dense_in));
                                let _ = j.dd.addmm_(&de, &j.w01);
                            }
                        }
                    },
                );
                // the weight gradients summed in group order (the same on any thread count)
                for j in jobs {
                    dw01 += j.dw01.expect("every job ran");
                    if let Some(g) = j.dwp {
                        dwp += g;
                    }
                    if let Some(sums) = j.sums {
                        first_sums.push(sums);
                    }
                    next_dense.push(j.dd);
                }
            });
            // autograd through the queries, keys and values; the pair weights' gradients
            let mut s = (&lt.q * &dq).sum(kind)
                + (&lt.k * &dk).sum(kind)
                + (&lt.v * &dv).sum(kind)
                + (&w0 * dw01.narrow(0, 0, nfi)).sum(kind)
                + (&w1 * dw01.narrow(0, nfi, nfi)).sum(kind);
            if g_out_pos.is_some() {
                s += (&wp * dwp).sum(kind);
            }
            s.backward();
            g_h = Some(grad_or_zeros(&lt.h_in));
            let gp = grad_or_zeros(&lt.pos_in);
            g_pos = Some(if g_out_pos.is_some() {
                gp + d_pos_extra
            } else {
                gp
            });
            g_dense = next_dense;
        }
        // the input stage
        let kind = h0.kind();
        let mut s = (&h0 * g_h.unwrap_or_else(|| h0.zeros_like())).sum(kind)
            + (&pos0 * g_pos.unwrap_or_else(|| pos0.zeros_like())).sum(kind);
        // the dense edge features' gradient `G` (the first edge update's and the head's, and
        // the first layer's products' as sums) reaches their terms through the same sums
        let ed = terms.wx.numel() as i64;
        for (k, gm) in groups.iter().enumerate() {
            // the head's `e₀` half: its rows' gradient reaches its terms as the same sums
            let (z, (u, c, q)) = &head_ori[k];
            let (zx, zg, zc) = gm.reduce(&grad_or_zeros(z), first.classes());
            s += (u * zx).sum(kind) + (c * zg).sum(kind) + (q * zc).sum(kind);
            let g = &g_dense[k];
            let (x_sum, g_sum, c_sum) = gm.reduce(g, first.classes());
            let (xe, ge, ce) = &first_sums[k];
            let (x_sum, g_sum, c_sum) = tch::no_grad(|| {
                (
                    x_sum + xe.unsqueeze(0).mm(&first.w01).view([-1]),
                    g_sum + ge.mm(&first.w01),
                    c_sum + ce.mm(&first.w01),
                )
            });
            let g_ori = g_sum.narrow(1, 0, ed);
            s += (&terms.wx * x_sum.narrow(0, 0, ed)).sum(kind)
                + (&terms.bx * g_ori.sum_dim_intlist([0i64].as_slice(), false, kind)).sum(kind)
                + (&terms.te0[k] * &g_ori).sum(kind)
                + (&terms.table * c_sum.narrow(1, ed, ed)).sum(kind)
                + (&terms.te1[k] * g_sum.narrow(1, ed, ed)).sum(kind);
        }
        if s.requires_grad() {
            s.backward();
        }
    }
}
