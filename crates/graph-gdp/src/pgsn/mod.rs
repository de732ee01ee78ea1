//! PGSN, the position-enhanced graph score network of GraphGDP (`models/pgsn.py`,
//! `models/gnns.py` `pos_gnn`, `models/trans_layers.py` `PosTransLayer`).
//!
//! Parameter names are the official `state_dict` names (`all_modules.0.weight`, …,
//! `all_modules.6.convs.2.lin_pos.weight`, …), so an official checkpoint's weights load as
//! they are ([`load_official_weights`]).
//!
//! Forward, for noisy adjacencies `x: [B, N, N]` (data scaled to x = 2A − 1), times `t: [B]`
//! and the real nodes of each graph:
//!
//! 1. time: `temb = Linear₁(SiLU(Linear₀(sinusoid(999·t))))` (the sinusoid in float32);
//! 2. without gradient: `cont = clamp((x+1)/2·mask, 0, 1)`, `quant = (x ≥ 0)·mask`, the
//!    random-walk return probabilities and zero-walk ("SPD") index of `quant`, the degree
//!    class `floor(min(Σ_j cont_ij, N/2))`;
//! 3. inputs: dense edge streams `Conv(1→nf/2)(x)` and `Conv(K+1→nf/2)(onehot(spd))`, node
//!    features `Linear(onehot(degree))`, positions `Linear(return probabilities)`, each plus a
//!    Linear of `SiLU(temb)`;
//! 4. L `PosTransLayer`s, each followed by dropout and the dense edge update
//!    `e ← (e + SiLU(W(h_i + h_j) + b))/√2` (then dropout);
//! 5. head: `Linear(2nf → nf/2)([e₀ ‖ e_L])` → SiLU → Conv 1×1 → SiLU → Conv 1×1 (→ 1),
//!    symmetrised `(o + oᵀ)/2` and masked: the prediction of the noise ε.
//!
//! Batches are laid out by [`Layout`]: on the CPU graphs are grouped by node count and every
//! group is dense over its own pairs (no work on padding; padded nodes never influence real
//! outputs in the official computation either), on a GPU they stay padded.

mod dropout;
mod features;
mod fused;
mod layer;
mod layout;
mod nn;
mod norm;
mod tape;
mod time;

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

pub use dropout::{Dropout, LayerMasks};
pub use layout::Nodes;
pub use tape::TrainTape;
pub use time::timestep_embedding;

use crate::config::{GraphGdpConfig, Layout};
use crate::error::{input_err, GdpError, Result};
use layer::{Attention, GroupEdges, PosTransLayer};
use layout::BatchLayout;
use nn::{Init, Linear};

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// Node pairs per chunk of an evaluation without gradients: a large batch runs in chunks of
/// whole graphs with at most this many pairs, so its pair tensors (`[P, 2·nf]` float32: 16 MiB
/// at nf = 128) stay below glibc's mmap threshold (`graph_tensor::malloc`) and are reused
/// instead of being mapped and faulted in afresh for every operation. Graphs are
/// independent in eval mode, so the output does not change.
const EVAL_CHUNK_PAIRS: usize = 1 << 14;

/// Named intermediate tensors of one forward pass in the official padded layout (keys as
/// the parity fixture's: `temb`, `cont_adj`, `rw_landing`, `layer0.h`, `gnn.edge_layer_out`,
/// …), recorded by [`Pgsn::forward_trace`].
#[derive(Debug, Default)]
pub struct Trace {
    /// The tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Trace {
    fn put(&mut self, name: &str, t: &Tensor) {
        self.tensors.insert(name.to_string(), t.detach().copy());
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }
}

/// The PGSN with the official module tree under `all_modules`.
#[derive(Debug)]
pub struct Pgsn {
    cfg: GraphGdpConfig,
    temb0: Linear,
    temb1: Linear,
    edge_x: Linear,
    edge_spd: Linear,
    node_degree: Linear,
    node_pos: Linear,
    dense_node0: Linear,
    dense_node1: Linear,
    dense_edge0: Linear,
    dense_edge1: Linear,
    layers: Vec<PosTransLayer>,
    edge_convs: Vec<Linear>,
    edge_layer: Linear,
    head0: Linear,
    head1: Linear,
    device: Device,
}

/// The network's inputs: node rows `[M, nf]` and `[M, nf/2]`, one pair tensor
/// `[Bg·n·n, nf]` per active group (unless not asked for), the terms those are made of, and
/// what each group's adjacency gives.
struct InputStage {
    inputs: Vec<GroupInputs>,
    h: Tensor,
    pos: Tensor,
    dense: Vec<Tensor>,
    terms: EdgeTerms,
}

/// The terms of the dense edge streams: pair `(i, j)` of graph `b` (value `x_ij`, "SPD"
/// class `s_ij`) is `[x_ij·wx + bx + te0_b ‖ table[s_ij] + te1_b]`.
struct EdgeTerms {
    /// `edge_x`'s weight `[ed]`.
    wx: Tensor,
    /// `edge_x`'s bias `[ed]`.
    bx: Tensor,
    /// `edge_spd`'s rows per class, bias included `[K, ed]`.
    table: Tensor,
    /// `Dense_edge0` of each graph's time, per active group `[Bg, ed]`.
    te0: Vec<Tensor>,
    /// `Dense_edge1` of each graph's time, per active group `[Bg, ed]`.
    te1: Vec<Tensor>,
}

/// What the network reads from one group's noisy states (no gradient).
struct GroupInputs {
    x: Tensor,
    pair_mask: Tensor,
    spd: Tensor,
    landing: Tensor,
    degree: Tensor,
    edges: GroupEdges,
    cont: Tensor,
    quant: Tensor,
}

impl Pgsn {
    /// Builds the network under `p` (use the root of a `VarStore` for the official names),
    /// initialised as PyTorch initialises the official modules, from a ChaCha8 stream seeded
    /// by `seed`.
    pub fn new(p: &tch::nn::Path, cfg: &GraphGdpConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut init = Init {
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        let init = &mut init;
        let nf = cfg.nf as i64;
        let (pos_ch, ed) = (cfg.pos_ch() as i64, cfg.edge_dim() as i64);
        let k = cfg.rw_depth as i64;
        let classes = cfg.degree_max() as i64 + 1;
        let am = p / "all_modules";
        let g = &am / "6";
        let temb0 = Linear::new(&am / "0", nf, 4 * nf, true, init);
        let temb1 = Linear::new(&am / "1", 4 * nf, 4 * nf, true, init);
        let edge_x = Linear::conv1x1(&am / "2", 1, ed, init);
        let edge_spd = Linear::conv1x1(&am / "3", k + 1, ed, init);
        let node_degree = Linear::new(&am / "4", classes, nf, true, init);
        let node_pos = Linear::new(&am / "5", k, pos_ch, true, init);
        let dense_node0 = Linear::new(&g / "Dense_node0", 4 * nf, nf, true, init);
        let dense_node1 = Linear::new(&g / "Dense_node1", 4 * nf, pos_ch, true, init);
        let dense_edge0 = Linear::new(&g / "Dense_edge0", 4 * nf, ed, true, init);
        let dense_edge1 = Linear::new(&g / "Dense_edge1", 4 * nf, ed, true, init);
        let groups = cfg.norm_groups() as i64;
        let heads = cfg.heads as i64;
        let mut layers = Vec::with_capacity(cfg.num_layers);
        let mut edge_convs = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            layers.push(PosTransLayer::new(
                &g / "convs" / l,
                nf,
                pos_ch,
                nf,
                heads,
                groups,
                cfg.attn_clamp,
                init,
            ));
            edge_convs.push(Linear::new(&g / "edge_convs" / l, nf, 2 * ed, true, init));
        }
        let edge_layer = Linear::new(&g / "edge_layer", 2 * ed + nf, ed, true, init);
        let head0 = Linear::conv1x1(&am / "7", ed, ed, init);
        let head1 = Linear::conv1x1(&am / "8", ed, 1, init);
        Ok(Self {
            cfg: cfg.clone(),
            temb0,
            temb1,
            edge_x,
            edge_spd,
            node_degree,
            node_pos,
            dense_node0,
            dense_node1,
            dense_edge0,
            dense_edge1,
            layers,
            edge_convs,
            edge_layer,
            head0,
            head1,
            device: p.device(),
        })
    }

    /// Number of parameters of the network a config builds (the official models: 1,243,969
    /// for Community-small, 267,425 for Ego-small, 4,971,137 for ENZYMES).
    pub fn num_parameters(cfg: &GraphGdpConfig) -> usize {
        let nf = cfg.nf;
        let (pc, ed, k) = (cfg.pos_ch(), cfg.edge_dim(), cfg.rw_depth);
        let lin = |i: usize, o: usize| i * o + o;
        let time = lin(nf, 4 * nf) + lin(4 * nf, 4 * nf);
        let inputs = lin(1, ed) + lin(k + 1, ed) + lin(cfg.degree_max() + 1, nf) + lin(k, pc);
        let dense = lin(4 * nf, nf) + lin(4 * nf, pc) + 2 * lin(4 * nf, ed);
        let layer = 3 * lin(nf + pc, nf)
            + 2 * nf * nf
            + nf * pc
            + lin(nf, nf)
            + 2 * 2 * nf
            + 2 * lin(nf, nf);
        let per_layer = layer + lin(nf, 2 * ed);
        let head = lin(2 * ed + nf, ed) + lin(ed, ed) + lin(ed, 1);
        time + inputs + dense + cfg.num_layers * per_layer + head
    }

    /// The config the network was built from.
    pub fn config(&self) -> &GraphGdpConfig {
        &self.cfg
    }

    /// The device of the variables.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The kind of the variables (float32 unless the `VarStore` was converted).
    pub fn kind(&self) -> Kind {
        self.temb0.weight_var().kind()
    }

    /// The variable of the last layer's `lin_pos`, which the official network never uses
    /// (the last layer's positions are discarded), so it never receives a gradient.
    pub fn unused_variable(&self) -> &Tensor {
        self.layers
            .last()
            .expect("at least one layer")
            .lin_pos_var()
    }

    fn check(&self, x: &Tensor, t: &Tensor, nodes: &Nodes) -> Result<()> {
        let s = x.size();
        let n = self.cfg.max_nodes as i64;
        if s.len() != 3 || s[1] != n || s[2] != n {
            return Err(input_err(
                "x",
                format!("shape {s:?}, expected [B, {n}, {n}] (max_nodes = {n})"),
            ));
        }
        if t.size() != [s[0]] {
            return Err(input_err(
                "t",
                format!("shape {:?}, expected [{}]", t.size(), s[0]),
            ));
        }
        if nodes.counts.len() != s[0] as usize {
            return Err(input_err(
                "nodes",
                format!("{} node counts for a batch of {}", nodes.counts.len(), s[0]),
            ));
        }
        if let Some(b) = nodes.counts.iter().position(|&c| c > n as usize) {
            return Err(input_err(
                "nodes",
                format!(
                    "graph {b} has {} nodes, more than max_nodes = {n}",
                    nodes.counts[b]
                ),
            ));
        }
        if x.kind() != self.kind() || t.kind() != self.kind() {
            return Err(input_err(
                "x",
                format!(
                    "x is {:?} and t {:?}, the network {:?}",
                    x.kind(),
                    t.kind(),
                    self.kind()
                ),
            ));
        }
        Ok(())
    }

    /// The predicted noise ε̂ `[B, N, N]` (symmetric, zero outside the valid pairs) for noisy
    /// states `x: [B, N, N]` at times `t: [B]` (both the network's kind and device). Eval
    /// mode unless `dropout` provides masks (train mode: dropout is the only difference).
    pub fn forward(
        &self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        dropout: Dropout<'_>,
    ) -> Result<Tensor> {
        self.check(x, t, nodes)?;
        self.forward_chunked(x, t, nodes, self.cfg.layout, dropout)
    }

    /// The forward pass; without gradients and dropout, a large batch runs in chunks of
    /// graphs (see [`EVAL_CHUNK_PAIRS`]).
    fn forward_chunked(
        &self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        layout: Layout,
        dropout: Dropout<'_>,
    ) -> Result<Tensor> {
        let eval = matches!(dropout, Dropout::Off) && !self.grad_enabled();
        let n = self.cfg.max_nodes;
        let pairs: usize = nodes.counts.iter().map(|&c| c * c).sum();
        if !eval {
            let layout = BatchLayout::new(layout, nodes, n, self.device);
            return self.forward_impl(x, t, &layout, dropout, None);
        }
        if pairs <= EVAL_CHUNK_PAIRS || nodes.counts.len() < 2 {
            let layout = BatchLayout::new(layout, nodes, n, self.device);
            return self.eval_impl(x, t, &layout);
        }
        // consecutive graphs up to the pair budget (at least one graph per chunk)
        let mut outs = Vec::new();
        let mut start = 0;
        while start < nodes.counts.len() {
            let mut end = start;
            let mut p = 0;
            while end < nodes.counts.len()
                && (end == start || p + nodes.counts[end].pow(2) <= EVAL_CHUNK_PAIRS)
            {
                p += nodes.counts[end].pow(2);
                end += 1;
            }
            let len = (end - start) as i64;
            let sub = Nodes {
                counts: nodes.counts[start..end].to_vec(),
                self_loops: nodes.self_loops,
            };
            let layout = BatchLayout::new(layout, &sub, n, self.device);
            outs.push(self.eval_impl(
                &x.narrow(0, start as i64, len),
                &t.narrow(0, start as i64, len),
                &layout,
            )?);
            start = end;
        }
        Ok(Tensor::cat(&outs, 0))
    }

    /// An evaluation without gradients or dropout: the pair work in fused loops on the CPU's
    /// grouped layout (the `tape` module), the libtorch formulation otherwise.
    fn eval_impl(&self, x: &Tensor, t: &Tensor, layout: &BatchLayout) -> Result<Tensor> {
        if layout.padded || self.device != Device::Cpu {
            self.forward_impl(x, t, layout, Dropout::Off, None)
        } else {
            self.forward_fused_eval(x, t, layout)
        }
    }

    /// The forward of a training step and what its gradient needs: on the CPU with the
    /// grouped layout the pair work runs in fused loops and [`TrainTape::backward`] computes
    /// its gradient by hand (the `tape` module); otherwise the tape is libtorch's autograd. Either
    /// way `tape.backward(self, &loss)` puts into every parameter's `.grad` what
    /// `loss.backward()` through [`Pgsn::forward`] would.
    pub fn forward_train_tape(
        &self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        dropout: Dropout<'_>,
    ) -> Result<(Tensor, TrainTape)> {
        self.check(x, t, nodes)?;
        let layout = BatchLayout::new(self.cfg.layout, nodes, self.cfg.max_nodes, self.device);
        if layout.padded || self.device != Device::Cpu {
            let out = self.forward_impl(x, t, &layout, dropout, None)?;
            return Ok((out, TrainTape::autograd()));
        }
        let masks = self.dropout_masks(dropout, &layout)?;
        self.forward_tape(x, t, &layout, masks)
    }

    /// The dropout masks of every layer in the layout's order (checked against the batch).
    fn dropout_masks(
        &self,
        dropout: Dropout<'_>,
        layout: &BatchLayout,
    ) -> Result<Option<Vec<dropout::Scaled>>> {
        let cfg = &self.cfg;
        if let Dropout::Draw(noise) = &dropout {
            if noise.batch_size() != layout.counts.len() {
                return Err(input_err(
                    "dropout",
                    format!(
                        "{} noise streams for a batch of {}",
                        noise.batch_size(),
                        layout.counts.len()
                    ),
                ));
            }
        }
        if let Dropout::Given(masks) = &dropout {
            if masks.len() < cfg.num_layers {
                return Err(input_err(
                    "dropout",
                    format!("{} layer masks for {} layers", masks.len(), cfg.num_layers),
                ));
            }
        }
        Ok(dropout::layer_masks(
            dropout,
            cfg.dropout,
            cfg.num_layers,
            (cfg.nf, cfg.pos_ch(), cfg.nf),
            layout,
            self.kind(),
        ))
    }

    /// [`Pgsn::forward`] in the official padded layout, recording the intermediates into a
    /// [`Trace`] (for the parity tests).
    pub fn forward_trace(
        &self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        dropout: Dropout<'_>,
    ) -> Result<(Tensor, Trace)> {
        self.check(x, t, nodes)?;
        let layout = BatchLayout::new(Layout::Padded, nodes, self.cfg.max_nodes, self.device);
        let mut trace = Trace::default();
        let out = self.forward_impl(x, t, &layout, dropout, Some(&mut trace))?;
        Ok((out, trace))
    }

    /// Forward with an explicit layout (tests compare the layouts).
    pub fn forward_with_layout(
        &self,
        x: &Tensor,
        t: &Tensor,
        nodes: &Nodes,
        layout: Layout,
        dropout: Dropout<'_>,
    ) -> Result<Tensor> {
        self.check(x, t, nodes)?;
        self.forward_chunked(x, t, nodes, layout, dropout)
    }

    /// Whether autograd records operations now (outside `tch::no_grad`): an operation on a
    /// variable then requires a gradient.
    fn grad_enabled(&self) -> bool {
        (self.head1.bias().expect("bias") * 1.0).requires_grad()
    }

    /// The time embedding `temb: [B, 4nf]` for times `t` (labels `999·t`, computed in `t`'s
    /// kind then cast to float32 for the sinusoid; the result in the network's kind).
    fn time_embedding(&self, t: &Tensor, trace: Option<&mut Trace>) -> Tensor {
        let labels = t * 999.0;
        let sin = timestep_embedding(&labels, self.cfg.nf as i64);
        let lin0 = self.temb0.forward(&sin.to_kind(self.kind()));
        let temb = self.temb1.forward(&lin0.silu());
        if let Some(tr) = trace {
            tr.put("labels", &labels);
            tr.put("temb_sin", &sin);
            tr.put("temb_lin0", &lin0);
            tr.put("temb", &temb);
        }
        temb
    }

    fn group_inputs(&self, layout: &BatchLayout, x: &Tensor) -> Vec<GroupInputs> {
        let kind = x.kind();
        tch::no_grad(|| {
            layout
                .active()
                .map(|g| {
                    let xg = layout.group_x(g, x);
                    let pm = layout.group_pair_mask(g, kind);
                    let views = features::adjacency_views(&xg, &pm, self.cfg.edge_th);
                    let (landing, spd) = features::random_walk(&views.quant, self.cfg.rw_depth);
                    let degree = features::degree_class(&views.cont, self.cfg.degree_max());
                    GroupInputs {
                        edges: GroupEdges::new(&views.edges, kind),
                        x: xg,
                        pair_mask: pm,
                        spd,
                        landing,
                        degree,
                        cont: views.cont,
                        quant: views.quant,
                    }
                })
                .collect()
        })
    }

    /// Steps 1–3 of the forward: time embedding, the adjacency views (no gradient), the
    /// dense edge streams and the node and position features with their time terms.
    fn input_stage(
        &self,
        x: &Tensor,
        t: &Tensor,
        layout: &BatchLayout,
        mut trace: Option<&mut Trace>,
        build_dense: bool,
    ) -> InputStage {
        let kind = self.kind();
        let cfg = &self.cfg;
        let (nf, pos_ch, ed) = (cfg.nf as i64, cfg.pos_ch() as i64, cfg.edge_dim() as i64);
        let temb = self.time_embedding(t, trace.as_deref_mut());
        let s = temb.silu();
        let d_e0 = self.dense_edge0.forward(&s);
        let d_e1 = self.dense_edge1.forward(&s);
        let d_n0 = self.dense_node0.forward(&s);
        let d_n1 = self.dense_node1.forward(&s);
        let inputs = self.group_inputs(layout, x);
        let active: Vec<_> = layout.active().collect();

        // Dense edge streams [P, nf] = [Conv(x) + t₀ ‖ Conv(onehot(spd)) + t₁]. A 1×1
        // convolution of a one-hot is its weight column plus the bias: a row lookup.
        let spd_table = self.edge_spd.weight().tr() + self.edge_spd.bias().expect("bias");
        let wx = self.edge_x.weight().view([ed]);
        let bx = self.edge_x.bias().expect("bias");
        let mut dense_parts = Vec::with_capacity(active.len());
        let degree_table = self.node_degree.weight().tr() + self.node_degree.bias().expect("bias");
        let (mut te0_rows, mut te1_rows) = (Vec::new(), Vec::new());
        // the node rows of every group at once (few operations for autograd to run back):
        // each row's graph, degree class and return probabilities
        let (mut graph_of_row, mut degrees, mut landing) = (Vec::new(), Vec::new(), Vec::new());
        for (g, gi) in active.iter().zip(&inputs) {
            let rows: Vec<i64> = if layout.padded {
                (0..g.len() as i64).collect()
            } else {
                g.members.iter().map(|&b| b as i64).collect()
            };
            graph_of_row.extend(rows.iter().flat_map(|&b| std::iter::repeat_n(b, g.n)));
            degrees.push(gi.degree.reshape([-1]));
            landing.push(
                gi.landing
                    .reshape([-1, gi.landing.size()[gi.landing.dim() - 1]]),
            );
        }
        let (h, pos) = if active.is_empty() {
            (
                Tensor::zeros([0, nf], (kind, self.device)),
                Tensor::zeros([0, pos_ch], (kind, self.device)),
            )
        } else {
            let graph_of_row = Tensor::from_slice(&graph_of_row).to_device(self.device);
            let deg = degree_table.index_select(0, &Tensor::cat(&degrees, 0));
            let posf = self.node_pos.forward(&Tensor::cat(&landing, 0));
            (
                deg + d_n0.index_select(0, &graph_of_row),
                posf + d_n1.index_select(0, &graph_of_row),
            )
        };
        for (g, gi) in active.iter().zip(&inputs) {
            let (bg, n) = (g.len() as i64, g.n as i64);
            let te0_g = layout.group_rows(g, &d_e0);
            let te1_g = layout.group_rows(g, &d_e1);
            if build_dense {
                let te0 = te0_g.view([bg, 1, 1, ed]);
                let te1 = te1_g.view([bg, 1, 1, ed]);
                let e_ori = (gi.x.unsqueeze(-1) * &wx + bx) + te0;
                let e_spd = spd_table
                    .index_select(0, &gi.spd.reshape([-1]))
                    .view([bg, n, n, ed])
                    + te1;
                dense_parts.push(Tensor::cat(&[e_ori, e_spd], -1).view([bg * n * n, 2 * ed]));
            }
            te0_rows.push(te0_g);
            te1_rows.push(te1_g);
            if let Some(tr) = trace.as_deref_mut() {
                let tn0 = layout.group_rows(g, &d_n0).view([bg, 1, nf]);
                let tn1 = layout.group_rows(g, &d_n1).view([bg, 1, pos_ch]);
                let deg = degree_table
                    .index_select(0, &gi.degree.reshape([-1]))
                    .view([bg, n, nf]);
                let posf = self.node_pos.forward(&gi.landing);
                tr.put("cont_adj", &gi.cont);
                tr.put("adj_quant", &gi.quant);
                tr.put("rw_landing", &gi.landing);
                tr.put("spd_index", &gi.spd);
                tr.put("degree_index", &gi.degree);
                tr.put("degree_feat", &deg);
                tr.put("pos_feat", &posf);
                tr.put(
                    "gnn.Dense_node0",
                    &tn0.expand([bg, n, nf], false).reshape([-1, nf]),
                );
                tr.put(
                    "gnn.Dense_node1",
                    &tn1.expand([bg, n, pos_ch], false).reshape([-1, pos_ch]),
                );
                tr.put("gnn.Dense_edge0", &d_e0);
                tr.put("gnn.Dense_edge1", &d_e1);
            }
        }
        InputStage {
            inputs,
            h,
            pos,
            dense: dense_parts,
            terms: EdgeTerms {
                wx,
                bx: bx.shallow_clone(),
                table: spd_table,
                te0: te0_rows,
                te1: te1_rows,
            },
        }
    }

    fn forward_impl(
        &self,
        x: &Tensor,
        t: &Tensor,
        layout: &BatchLayout,
        dropout: Dropout<'_>,
        mut trace: Option<&mut Trace>,
    ) -> Result<Tensor> {
        let kind = self.kind();
        let cfg = &self.cfg;
        let ed = cfg.edge_dim() as i64;
        let masks = self.dropout_masks(dropout, layout)?;
        let stage = self.input_stage(x, t, layout, trace.as_deref_mut(), true);
        let InputStage {
            inputs,
            h: h_in,
            pos: pos_in,
            dense: dense_parts,
            ..
        } = stage;
        let active: Vec<_> = layout.active().collect();
        if active.is_empty() {
            let b = layout.counts.len() as i64;
            let n = cfg.max_nodes as i64;
            return Ok(Tensor::zeros([b, n, n], (kind, self.device)));
        }
        // Pair features stay one tensor per group ([Bg·n·n, d]): the dense maps run per group
        // and no full-size concatenation (or its backward) is needed.
        let mut dense = dense_parts;
        let mut h = h_in;
        let mut pos = pos_in;
        let ori: Vec<Tensor> = dense.iter().map(Tensor::shallow_clone).collect();
        if let Some(tr) = trace.as_deref_mut() {
            tr.put("gnn.h_in", &h);
            tr.put("gnn.pos_in", &pos);
            tr.put("gnn.edge_in", &self.padded_pairs(&dense[0], layout));
        }
        let edges: Vec<&GroupEdges> = inputs.iter().map(|gi| &gi.edges).collect();
        let node_sizes: Vec<i64> = active.iter().map(|g| g.node_rows() as i64).collect();
        let pair_sizes: Vec<i64> = active.iter().map(|g| g.pair_rows() as i64).collect();
        // each layer's edge mask per group, with the 1/√2 of the update folded in
        let edge_masks: Option<Vec<Vec<Tensor>>> = masks.as_ref().map(|ms| {
            ms.iter()
                .map(|m| (m.edge_values(kind) / SQRT2).split_with_sizes(&pair_sizes, 0))
                .collect()
        });

        let num_layers = self.layers.len();
        for (l, (layer, edge_conv)) in self.layers.iter().zip(&self.edge_convs).enumerate() {
            // The last layer's positions are never used; they are computed only for traces.
            let want_pos = l + 1 < num_layers || trace.is_some();
            let mut att = trace.as_ref().map(|_| Vec::new());
            let (h_new, pos_new) =
                layer.forward(&h, &pos, &dense, layout, &edges, want_pos, att.as_mut());
            h = h_new;
            if let Some(p) = pos_new {
                pos = p;
            }
            if let Some(m) = &masks {
                h = h.g_mul(&m[l].h);
                if want_pos {
                    pos = pos.g_mul(&m[l].pos);
                }
            }
            // e ← (e + SiLU(W(h_i + h_j) + b))/√2, with W(h_i + h_j) + b = (W h_j + b) + W h_i
            let ua = edge_conv.forward(&h).split_with_sizes(&node_sizes, 0);
            let ub = edge_conv
                .forward_no_bias(&h)
                .split_with_sizes(&node_sizes, 0);
            for (k, (g, (a, b))) in active.iter().zip(ua.iter().zip(&ub)).enumerate() {
                let (bg, n) = (g.len() as i64, g.n as i64);
                let upd = (a.view([bg, 1, n, 2 * ed]) + b.view([bg, n, 1, 2 * ed]))
                    .silu()
                    .view([bg * n * n, 2 * ed]);
                let sum = &dense[k] + upd;
                dense[k] = match &edge_masks {
                    Some(m) => sum * &m[l][k],
                    None => sum / SQRT2,
                };
            }
            if let Some(tr) = trace.as_deref_mut() {
                tr.put(&format!("layer{l}.h"), &h);
                tr.put(&format!("layer{l}.pos"), &pos);
                tr.put(
                    &format!("layer{l}.edge"),
                    &self.padded_pairs(&dense[0], layout),
                );
                if let Some(a) = att {
                    let Attention { logits, alpha } =
                        a.into_iter().next().expect("one padded group");
                    tr.put(&format!("layer{l}.attn_logits"), &logits);
                    tr.put(&format!("layer{l}.attn"), &alpha);
                }
            }
        }

        // Head: Linear([e₀ ‖ e_L]) → SiLU → Conv → SiLU → Conv, symmetrised and masked. The
        // first Linear as two products (columns of e₀ and of e_L), without the concatenation.
        let mut outs = Vec::with_capacity(active.len());
        for (k, (g, gi)) in active.iter().zip(&inputs).enumerate() {
            let (bg, n) = (g.len() as i64, g.n as i64);
            let (e, o) = self.head(&ori[k], &dense[k]);
            if let Some(tr) = trace.as_deref_mut() {
                tr.put("gnn.edge_layer_out", &self.padded_pairs(&e, layout));
                tr.put("head_conv1", &self.padded_pairs(&o, layout).squeeze_dim(-1));
            }
            let og = o.view([bg, n, n]);
            outs.push((&og + og.transpose(1, 2)) / 2.0 * &gi.pair_mask);
        }
        Ok(layout.assemble(outs, kind))
    }

    /// The head on a group's pair rows: `Linear([e₀ ‖ e_L])` (as two products, without the
    /// concatenation) → SiLU → Conv → SiLU → Conv. Returns the `edge_layer` output `[P, nf/2]`
    /// and the last conv's `[P, 1]` (before the symmetrisation).
    fn head(&self, ori: &Tensor, last: &Tensor) -> (Tensor, Tensor) {
        let nf = self.cfg.nf as i64;
        let w_ori = self.edge_layer.weight().narrow(1, 0, nf);
        let b = self.edge_layer.bias().expect("bias");
        self.head_from(&ori.linear(&w_ori, Some(b)), last)
    }

    /// The head's first product on the initial edge features, `edge_layer`'s `e₀` half with
    /// its bias, as the terms of [`fused`]'s `affine_rows` for active group `k`: with the
    /// `e₀` columns `[A | B]` of the weight, a pair row is `x·u + c_b + q[s]` with `u = A·wx`,
    /// `c_b = A(bx + te0_b) + B·te1_b + bias`, `q = table·Bᵀ` (`[nf/2]`, `[Bg, nf/2]`,
    /// `[K, nf/2]`), with autograd history.
    fn head_terms(&self, terms: &EdgeTerms, k: usize) -> (Tensor, Tensor, Tensor) {
        let nf = self.cfg.nf as i64;
        let ed = terms.wx.numel() as i64;
        let w = self.edge_layer.weight();
        let (a, b) = (w.narrow(1, 0, ed), w.narrow(1, ed, ed));
        let bias = self.edge_layer.bias().expect("bias");
        debug_assert_eq!(2 * ed, nf);
        let u = terms.wx.unsqueeze(0).mm(&a.tr()).view([-1]);
        let c = (&terms.bx + &terms.te0[k]).mm(&a.tr()) + terms.te1[k].mm(&b.tr()) + bias;
        let q = terms.table.mm(&b.tr());
        (u, c, q)
    }

    /// [`Self::head`] from its first product's `e₀` half (bias included, `[P, nf/2]`) and
    /// the last edge features: `+ edge_layer`'s `e_L` half → SiLU → Conv → SiLU → Conv.
    /// Returns the `edge_layer` output `[P, nf/2]` and the last conv's `[P, 1]`.
    fn head_from(&self, ori_part: &Tensor, last: &Tensor) -> (Tensor, Tensor) {
        let nf = self.cfg.nf as i64;
        let w_last = self.edge_layer.weight().narrow(1, nf, nf);
        let e = ori_part + last.linear::<&Tensor>(&w_last, None);
        let o = self.head1.forward(&self.head0.forward(&e.silu()).silu());
        (e, o)
    }

    /// Pair rows `[P, d]` of a padded layout as `[B, N, N, d]` (traces only).
    fn padded_pairs(&self, rows: &Tensor, layout: &BatchLayout) -> Tensor {
        let b = layout.counts.len() as i64;
        let n = layout.max_nodes as i64;
        rows.view([b, n, n, -1])
    }
}

/// Loads an official PGSN `state_dict` saved as safetensors (the fixture's
/// `model.safetensors`; keys `all_modules.…`, an official checkpoint's `model` entry without
/// its `module.` prefix) into `vs`, which must hold exactly the variables of a [`Pgsn`] built
/// under its root. Strict (unlike the official `strict=False`): every variable must be present
/// with the same shape, and the file must hold nothing else. `prefix` is stripped from the
/// file's keys first (e.g. `"ema."` for the fixture's EMA file, `"module."` for an official
/// checkpoint).
pub fn load_official_weights(vs: &tch::nn::VarStore, path: &Path, prefix: &str) -> Result<()> {
    let werr = |reason: String| GdpError::Weights {
        path: path.to_owned(),
        reason,
    };
    let file = Tensor::read_safetensors(path).map_err(|e| werr(e.to_string()))?;
    let mut tensors = std::collections::HashMap::new();
    for (k, v) in file {
        match k.strip_prefix(prefix) {
            Some(name) => {
                tensors.insert(name.to_string(), v);
            }
            None => return Err(werr(format!("key `{k}` does not start with `{prefix}`"))),
        }
    }
    graph_tensor::checkpoint::copy_into_vars(vs, &tensors, "", false).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(cfg: &GraphGdpConfig) -> i64 {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        Pgsn::new(&vs.root(), cfg, 0).unwrap();
        vs.variables().values().map(|v| v.numel() as i64).sum()
    }

    #[test]
    fn parameter_counts_match_the_official_models() {
        for (cfg, want) in [
            (GraphGdpConfig::community_small(), 1_243_969),
            (GraphGdpConfig::ego_small(), 267_425),
            (GraphGdpConfig::enzymes(), 4_971_137),
        ] {
            assert_eq!(Pgsn::num_parameters(&cfg), want);
            assert_eq!(count(&cfg), want as i64);
        }
        // vp_ego_pgsn.py (not a preset): nf 64, 3 layers, rw_depth 16, max_node 399
        let ego = GraphGdpConfig {
            max_nodes: 399,
            rw_depth: 16,
            ..GraphGdpConfig::ego_small()
        };
        assert_eq!(Pgsn::num_parameters(&ego), 280_097);
    }

    #[test]
    fn official_names() {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        Pgsn::new(&vs.root(), &GraphGdpConfig::ego_small(), 0).unwrap();
        let vars = vs.variables();
        for name in [
            "all_modules.0.weight",
            "all_modules.2.weight",
            "all_modules.6.Dense_edge1.bias",
            "all_modules.6.convs.2.lin_pos.weight",
            "all_modules.6.convs.0.FFN.2.bias",
            "all_modules.6.convs.1.norm2.weight",
            "all_modules.6.edge_convs.2.weight",
            "all_modules.6.edge_layer.weight",
            "all_modules.8.bias",
        ] {
            assert!(vars.contains_key(name), "{name}");
        }
        assert_eq!(vars.len(), 89);
        assert_eq!(vars["all_modules.3.weight"].size(), vec![32, 9, 1, 1]);
        assert!(!vars.contains_key("all_modules.6.convs.0.lin_edge0.bias"));
    }
}
