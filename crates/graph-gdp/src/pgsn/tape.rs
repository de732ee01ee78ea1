//! The PGSN forward with the pair work in [`super::fused`]'s loops, and its gradient: the
//! evaluation path of the CPU sampler and the training step's path ([`TrainTape`]).
//!
//! Node-level work (queries, keys, values, the node update, the time terms, the head) stays in
//! libtorch's autograd; pair-level work (the edge projections and `lin_pos` as libtorch matrix
//! products, the attention, the position aggregation and the dense edge update as fused
//! loops) runs outside it. The training forward records what the backward needs; the
//! backward walks the layers from the last: the edge update's gradient by hand, then
//! autograd through the node update (from the node-level gradients, whose values it
//! receives as the weights of a scalar surrogate `Σ output·gradient`), the attention's
//! gradient by hand, the matrix products' gradients as libtorch products, and autograd
//! through the queries, keys and values. Parameter gradients reach `.grad` exactly as
//! `loss.backward()` through [`super::Pgsn::forward`] would put them there (up to rounding;
//! `tests/model.rs` and `tests/parity.rs` compare).

use tch::{Kind, Tensor};

use super::dropout::Scaled;
use super::fused::{
    attention_backward, attention_forward, edge_update_backward, edge_update_forward,
    edge_update_packed, packed_pairs, packed_row, positions_backward, positions_forward, AttnSaved,
    Dims, EdgeScale, Real,
};
use super::layout::BatchLayout;
use super::{InputStage, Pgsn};
use crate::error::Result;

const SQRT2: f64 = std::f64::consts::SQRT_2;

fn to_vec<T: Real>(t: &Tensor) -> Vec<T> {
    Vec::<T>::try_from(&t.detach().contiguous().view([-1])).expect("tensor of the network's kind")
}

fn from_vec<T: Real>(v: &[T], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape)
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
    /// `[B, n, n]`: `i → j` is an edge.
    edge: Vec<bool>,
    /// In-degrees at least 1, `[B, n]`.
    count: Vec<T>,
    /// The packed symmetric layout, when used.
    packed: Option<Packing>,
}

impl<T> GroupMeta<T> {
    fn nodes(&self) -> std::ops::Range<usize> {
        self.row..self.row + self.b * self.n
    }
    fn pairs(&self) -> usize {
        self.b * self.n * self.n
    }
}

/// One layer's record for the backward.
struct LayerTape<T> {
    h_in: Tensor,
    pos_in: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    qv: Vec<T>,
    kv: Vec<T>,
    vv: Vec<T>,
    pos_v: Vec<T>,
    /// The layer's dense edge features per group, as the tensors its products read.
    dense_in: Vec<Tensor>,
    e0: Vec<Vec<T>>,
    e1: Vec<Vec<T>>,
    saved: Vec<AttnSaved<T>>,
    /// The messages per group (the input of `lin_pos`).
    msg: Vec<Tensor>,
    lp: Vec<Vec<T>>,
    out_leaf: Tensor,
    out_pos_leaf: Option<Tensor>,
    h_out: Tensor,
    pos_out: Option<Tensor>,
    ua: Tensor,
    ub: Tensor,
    uav: Vec<T>,
    ubv: Vec<T>,
    /// Per group: the edge update's per-entry scale, or `None` for `1/√2`.
    scale: Vec<Option<Vec<T>>>,
}

struct Tape<T> {
    h0: Tensor,
    pos0: Tensor,
    dense0: Vec<Tensor>,
    ori: Vec<Tensor>,
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
        let InputStage {
            inputs,
            h: h0,
            pos: pos0,
            dense: dense0,
        } = self.input_stage(x, t, layout, None);
        let active: Vec<_> = layout.active().collect();
        if active.is_empty() {
            let (b, n) = (layout.counts.len() as i64, cfg.max_nodes as i64);
            return Ok((Tensor::zeros([b, n, n], (kind, self.device)), None));
        }
        let mut groups = Vec::with_capacity(active.len());
        let mut row = 0;
        for (g, gi) in active.iter().zip(&inputs) {
            let edge = Vec::<bool>::try_from(&gi.cont.gt(0.0).contiguous().view([-1]))?;
            let count = to_vec::<T>(&gi.edges.count);
            // the "SPD" index is symmetric unless a walk probability underflowed one way
            let packed =
                (sym && !record && masks.is_none() && gi.spd.equal(&gi.spd.transpose(1, 2)))
                    .then(|| Packing::new(g.len(), g.n, self.device));
            groups.push(GroupMeta {
                b: g.len(),
                n: g.n,
                row,
                edge,
                count,
                packed,
            });
            row += g.node_rows();
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
        let mut dense: Vec<Vec<T>> = dense0
            .iter()
            .zip(&groups)
            .map(|(d, gm)| match &gm.packed {
                Some(pk) => to_vec::<T>(&d.index_select(0, &pk.upper)),
                None => to_vec::<T>(d),
            })
            .collect();
        let pair_sizes: Vec<i64> = groups.iter().map(|g| g.pairs() as i64).collect();
        let mut layers = Vec::new();
        let num_layers = self.layers.len();
        let inv_sqrt2 = T::from_f64(1.0 / SQRT2);
        for (l, (layer, edge_conv)) in self.layers.iter().zip(&self.edge_convs).enumerate() {
            let want_pos = l + 1 < num_layers;
            let (hh, c) = layer.heads();
            let (q, k, v) = layer.qkv(&h, &pos);
            let (qv, kv, vv) = (to_vec::<T>(&q), to_vec::<T>(&k), to_vec::<T>(&v));
            let pos_v = if want_pos {
                to_vec::<T>(&pos)
            } else {
                Vec::new()
            };
            let (w0, w1, wp) = layer.pair_weights();
            let (w0, w1, wp) = (w0.detach(), w1.detach(), wp.detach());
            let mut out_all = vec![T::ZERO; m * nf];
            let mut out_pos_all = vec![T::ZERO; if want_pos { m * pc } else { 0 }];
            let (mut e0s, mut e1s, mut saved, mut msgs, mut lps, mut dts) = (
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            );
            tch::no_grad(|| {
                for (gm, dg) in groups.iter().zip(&dense) {
                    let p = gm.pairs() as i64;
                    let dt = from_vec(dg, &[(dg.len() / nf) as i64, nf as i64]);
                    let e0 = to_vec::<T>(&dt.linear::<&Tensor>(&w0, None));
                    let e1 = to_vec::<T>(&dt.linear::<&Tensor>(&w1, None));
                    let rows = gm.nodes();
                    let d = Dims {
                        b: gm.b,
                        n: gm.n,
                        h: hh as usize,
                        c: c as usize,
                    };
                    let mut msg = if want_pos {
                        vec![T::ZERO; gm.pairs() * nf]
                    } else {
                        Vec::new()
                    };
                    let s = attention_forward(
                        d,
                        &qv[rows.start * nf..rows.end * nf],
                        &kv[rows.start * nf..rows.end * nf],
                        &vv[rows.start * nf..rows.end * nf],
                        &e0,
                        &e1,
                        gm.packed.as_ref().map(|pk| pk.umap.as_slice()),
                        &gm.edge,
                        layer.clamps(),
                        &mut out_all[rows.start * nf..rows.end * nf],
                        want_pos.then_some(msg.as_mut_slice()),
                    );
                    if want_pos {
                        let msg_t = from_vec(&msg, &[p, nf as i64]);
                        let lp = to_vec::<T>(&msg_t.linear::<&Tensor>(&wp, None));
                        if record {
                            msgs.push(msg_t);
                        }
                        let op = positions_forward(
                            gm.b,
                            gm.n,
                            pc,
                            &pos_v[rows.start * pc..rows.end * pc],
                            &lp,
                            &gm.edge,
                            &gm.count,
                        );
                        out_pos_all[rows.start * pc..rows.end * pc].copy_from_slice(&op);
                        lps.push(lp);
                    }
                    saved.push(s);
                    if record {
                        e0s.push(e0);
                        e1s.push(e1);
                        dts.push(dt);
                    }
                }
            });
            let out_leaf = leaf(&from_vec(&out_all, &[m as i64, nf as i64]));
            let out_pos_leaf =
                want_pos.then(|| leaf(&from_vec(&out_pos_all, &[m as i64, pc as i64])));
            let (mut h_new, pos_new) =
                layer.node_update(&h, &pos, &out_leaf, out_pos_leaf.as_ref());
            let mut pos_new = pos_new;
            if let Some(ms) = &masks {
                h_new = h_new.g_mul(&ms[l].h);
                pos_new = pos_new.map(|p| p.g_mul(&ms[l].pos));
            }
            let ua = edge_conv.forward(&h_new);
            let ub = edge_conv.forward_no_bias(&h_new);
            let (uav, ubv) = (to_vec::<T>(&ua), to_vec::<T>(&ub));
            let scales: Vec<Option<Vec<T>>> = match &masks {
                Some(ms) => (&ms[l].edge * (1.0 / SQRT2))
                    .split_with_sizes(&pair_sizes, 0)
                    .iter()
                    .map(|t| Some(to_vec::<T>(t)))
                    .collect(),
                None => groups.iter().map(|_| None).collect(),
            };
            let mut next = Vec::with_capacity(groups.len());
            for ((gm, dg), sc) in groups.iter().zip(&dense).zip(&scales) {
                let rows = gm.nodes();
                let (ua_g, ub_g) = (
                    &uav[rows.start * nf..rows.end * nf],
                    &ubv[rows.start * nf..rows.end * nf],
                );
                if gm.packed.is_some() {
                    next.push(edge_update_packed(
                        gm.b, gm.n, nf, dg, ua_g, ub_g, inv_sqrt2,
                    ));
                    continue;
                }
                let scale = match sc {
                    Some(v) => EdgeScale::PerEntry(v.as_slice()),
                    None => EdgeScale::Uniform(inv_sqrt2),
                };
                next.push(edge_update_forward(gm.b, gm.n, nf, dg, ua_g, ub_g, &scale));
            }
            dense = next;
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
                    qv,
                    kv,
                    vv,
                    pos_v,
                    dense_in: dts,
                    e0: e0s,
                    e1: e1s,
                    saved,
                    msg: msgs,
                    lp: lps,
                    out_leaf,
                    out_pos_leaf,
                    h_out: h_new,
                    pos_out: pos_new,
                    ua,
                    ub,
                    uav,
                    ubv,
                    scale: scales,
                });
            } else {
                h = h_next;
                pos = pos_next;
            }
        }
        // head
        let mut outs = Vec::with_capacity(groups.len());
        let mut ori = Vec::with_capacity(groups.len());
        let mut last = Vec::with_capacity(groups.len());
        for (((g, gi), gm), (d0, dl)) in active
            .iter()
            .zip(&inputs)
            .zip(&groups)
            .zip(dense0.iter().zip(&dense))
        {
            let (bg, n) = (g.len() as i64, g.n as i64);
            let o = match &gm.packed {
                Some(pk) => d0.index_select(0, &pk.upper),
                None => leaf(d0),
            };
            let e = leaf(&from_vec(dl, &[(dl.len() / nf) as i64, nf as i64]));
            let (_, head) = self.head(&o, &e);
            outs.push(match &gm.packed {
                // exactly symmetric: (o + oᵀ)/2 = o
                Some(pk) => head.index_select(0, &pk.umap_t).view([bg, n, n]) * &gi.pair_mask,
                None => {
                    let og = head.view([bg, n, n]);
                    (&og + og.transpose(1, 2)) / 2.0 * &gi.pair_mask
                }
            });
            ori.push(o);
            last.push(e);
        }
        let out = layout.assemble(outs, kind);
        let tape = record.then(|| Tape {
            h0,
            pos0,
            dense0,
            ori,
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
            dense0,
            ori,
            last,
            groups,
            layers,
            nf,
            pc,
        } = tape;
        loss.backward();
        let m = groups.last().map_or(0, |g| g.nodes().end);
        let grad_or_zeros = |t: &Tensor| {
            let g = t.grad();
            if g.defined() {
                g
            } else {
                t.zeros_like()
            }
        };
        let mut g_dense: Vec<Vec<T>> = last
            .iter()
            .map(|t| to_vec::<T>(&grad_or_zeros(t)))
            .collect();
        let mut g_h: Option<Tensor> = None;
        let mut g_pos: Option<Tensor> = None;
        for (l, lt) in layers.iter().enumerate().rev() {
            let layer = &self.layers[l];
            let want_pos = lt.out_pos_leaf.is_some();
            let (hh, c) = layer.heads();
            // the edge update
            let mut d_ua = vec![T::ZERO; m * nf];
            let mut d_ub = vec![T::ZERO; m * nf];
            let mut d_dense = Vec::with_capacity(groups.len());
            let inv_sqrt2 = T::from_f64(1.0 / SQRT2);
            for ((gm, gd), sc) in groups.iter().zip(&g_dense).zip(&lt.scale) {
                let r = gm.nodes();
                let scale = match sc {
                    Some(v) => EdgeScale::PerEntry(v.as_slice()),
                    None => EdgeScale::Uniform(inv_sqrt2),
                };
                let (dd, da, db) = edge_update_backward(
                    gm.b,
                    gm.n,
                    nf,
                    &lt.uav[r.start * nf..r.end * nf],
                    &lt.ubv[r.start * nf..r.end * nf],
                    &scale,
                    gd,
                );
                d_ua[r.start * nf..r.end * nf].copy_from_slice(&da);
                d_ub[r.start * nf..r.end * nf].copy_from_slice(&db);
                d_dense.push(dd);
            }
            // autograd through the node update (and the dropout of its outputs)
            let kind = lt.ua.kind();
            let shape = [m as i64, nf as i64];
            let mut s = (&lt.ua * from_vec(&d_ua, &shape)).sum(kind)
                + (&lt.ub * from_vec(&d_ub, &shape)).sum(kind);
            if let Some(g) = &g_h {
                s += (&lt.h_out * g).sum(kind);
            }
            if let (Some(g), Some(p)) = (&g_pos, &lt.pos_out) {
                s += (p * g).sum(kind);
            }
            s.backward();
            let g_out = to_vec::<T>(&grad_or_zeros(&lt.out_leaf));
            let g_out_pos = lt
                .out_pos_leaf
                .as_ref()
                .map(|t| to_vec::<T>(&grad_or_zeros(t)));
            // the attention and the position aggregation
            let (w0, w1, wp) = layer.pair_weights();
            let (w0d, w1d, wpd) = (w0.detach(), w1.detach(), wp.detach());
            let mut dq = vec![T::ZERO; m * nf];
            let mut dk = vec![T::ZERO; m * nf];
            let mut dv = vec![T::ZERO; m * nf];
            let mut d_pos_extra = vec![T::ZERO; if want_pos { m * pc } else { 0 }];
            let mut dw0 = Tensor::zeros([nf as i64, nf as i64], (kind, w0.device()));
            let mut dw1 = dw0.zeros_like();
            let mut dwp = Tensor::zeros([pc as i64, nf as i64], (kind, w0.device()));
            let mut next_dense = Vec::with_capacity(groups.len());
            tch::no_grad(|| {
                for (gi, gm) in groups.iter().enumerate() {
                    let r = gm.nodes();
                    let p = gm.pairs() as i64;
                    let d_msg = match &g_out_pos {
                        Some(gp) => {
                            let (dpos, dlp) = positions_backward(
                                gm.b,
                                gm.n,
                                pc,
                                &lt.pos_v[r.start * pc..r.end * pc],
                                &lt.lp[gi],
                                &gm.edge,
                                &gm.count,
                                &gp[r.start * pc..r.end * pc],
                            );
                            d_pos_extra[r.start * pc..r.end * pc].copy_from_slice(&dpos);
                            let dlp = from_vec(&dlp, &[p, pc as i64]);
                            dwp += dlp.tr().mm(&lt.msg[gi]);
                            Some(to_vec::<T>(&dlp.mm(&wpd)))
                        }
                        None => None,
                    };
                    let d = Dims {
                        b: gm.b,
                        n: gm.n,
                        h: hh as usize,
                        c: c as usize,
                    };
                    let g = attention_backward(
                        d,
                        &lt.qv[r.start * nf..r.end * nf],
                        &lt.kv[r.start * nf..r.end * nf],
                        &lt.vv[r.start * nf..r.end * nf],
                        &lt.e0[gi],
                        &lt.e1[gi],
                        &gm.edge,
                        &lt.saved[gi],
                        &g_out[r.start * nf..r.end * nf],
                        d_msg.as_deref(),
                    );
                    dq[r.start * nf..r.end * nf].copy_from_slice(&g.dq);
                    dk[r.start * nf..r.end * nf].copy_from_slice(&g.dk);
                    dv[r.start * nf..r.end * nf].copy_from_slice(&g.dv);
                    let shape = [p, nf as i64];
                    let (de0, de1) = (from_vec(&g.de0, &shape), from_vec(&g.de1, &shape));
                    let din = &lt.dense_in[gi];
                    dw0 += de0.tr().mm(din);
                    dw1 += de1.tr().mm(din);
                    let dd = from_vec(&d_dense[gi], &shape) + de0.mm(&w0d) + de1.mm(&w1d);
                    next_dense.push(to_vec::<T>(&dd));
                }
            });
            // autograd through the queries, keys and values; the pair weights' gradients
            let shape = [m as i64, nf as i64];
            let mut s = (&lt.q * from_vec(&dq, &shape)).sum(kind)
                + (&lt.k * from_vec(&dk, &shape)).sum(kind)
                + (&lt.v * from_vec(&dv, &shape)).sum(kind)
                + (&w0 * dw0).sum(kind)
                + (&w1 * dw1).sum(kind);
            if want_pos {
                s += (&wp * dwp).sum(kind);
            }
            s.backward();
            g_h = Some(grad_or_zeros(&lt.h_in));
            let gp = grad_or_zeros(&lt.pos_in);
            g_pos = Some(if want_pos {
                gp + from_vec(&d_pos_extra, &[m as i64, pc as i64])
            } else {
                gp
            });
            g_dense = next_dense;
        }
        // the input stage
        let kind = h0.kind();
        let mut s = (&h0 * g_h.unwrap_or_else(|| h0.zeros_like())).sum(kind)
            + (&pos0 * g_pos.unwrap_or_else(|| pos0.zeros_like())).sum(kind);
        for ((d0, o), gd) in dense0.iter().zip(&ori).zip(&g_dense) {
            let shape = d0.size();
            s += (d0 * (from_vec(gd, &shape) + grad_or_zeros(o))).sum(kind);
        }
        if s.requires_grad() {
            s.backward();
        }
    }
}
