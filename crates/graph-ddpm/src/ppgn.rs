//! The denoiser: a Provably Powerful Graph Network (PPGN, Maron et al. 2019) that predicts, for
//! every node pair, the logit of "this entry was flipped by the forward process" — the
//! official `model/ppgn.py` `Powerful` with `adj_out=True, cat_output=True, residual=False,
//! project_first=False, normalization='instance'`, as built by the official
//! `utils/loading_utils.py` `get_score_model`.
//!
//! Parameter names are the official `state_dict` names (`in_lin.0.weight`,
//! `convs.3.m1.2.bias`, `layer_cat_lin.0.weight`, …), so the official weights load as they
//! are. The official model also builds `feature_extractors.*` and `time_mlp.*`, which its
//! edge output never uses: they are built here too (so a strict load of an official
//! `state_dict` and an export back to it work) but as non-trainable variables, which is what
//! they are in the official training (no gradient, never updated by Adam).
//!
//! Unlike the official code, which calls the network once per graph with one Python float
//! noise level, [`Powerful::forward`] runs a padded batch with one level per graph: nothing in
//! the network mixes graphs (the `√n` of the matrix product, the instance-norm statistics and
//! the matrix product itself are per graph), so each graph gets the output it gets alone.
//!
//! Shapes are channel-last as in the official code: `[B, N, N, C]`.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::error::{input_err, Result};

mod fused;

/// Slope of every LeakyReLU of the official model (`SLOPE = 0.01`).
pub const LEAKY_SLOPE: f64 = 0.01;
/// The instance norm's epsilon (`masked_instance_norm2D`, `eps = 1e-5`).
pub const NORM_EPS: f64 = 1e-5;
/// Input channels: the noisy adjacency and the noise level on the diagonal.
pub const INPUT_FEATURES: i64 = 2;

/// The parameters of an `nn.Linear` (`W: [out, in]`, `b: [out]`), with its default
/// initialisation `U(−1/√in, 1/√in)` for weight and bias.
#[derive(Debug)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    fn shallow_clone(&self) -> Self {
        Self {
            w: self.w.shallow_clone(),
            b: self.b.as_ref().map(Tensor::shallow_clone),
        }
    }

    fn new(vs: &nn::Path, fan_in: i64, fan_out: i64, bias: bool) -> Self {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let w = vs.var("weight", &[fan_out, fan_in], init);
        let b = bias.then(|| vs.var("bias", &[fan_out], init));
        Self { w, b }
    }
}

/// A variable the official model has but never uses: present in the `state_dict`, not
/// trainable. Initialised like `nn.Linear`'s parameters.
fn dead_var(vs: &nn::Path, name: &str, dims: &[i64], fan_in: i64) {
    let v = vs.zeros_no_train(name, dims);
    let bound = 1.0 / (fan_in as f64).sqrt();
    let mut v = v;
    tch::no_grad(|| {
        let _ = v.uniform_(-bound, bound);
    });
}

/// One PowerfulLayer (`model/ppgn.py` `PowerfulLayer`, `layers_per_conv = 2`): two MLPs on the
/// feature axis, their matrix product over the node axes divided by `√n`, and a linear map
/// of `[product ‖ input]`.
#[derive(Debug)]
struct PowerfulLayer {
    m1: (Linear, Linear),
    m2: (Linear, Linear),
    m4: Linear,
}

impl PowerfulLayer {
    fn shallow_clone(&self) -> Self {
        Self {
            m1: (self.m1.0.shallow_clone(), self.m1.1.shallow_clone()),
            m2: (self.m2.0.shallow_clone(), self.m2.1.shallow_clone()),
            m4: self.m4.shallow_clone(),
        }
    }

    fn new(vs: &nn::Path, h: i64) -> Self {
        let mlp = |p: nn::Path| {
            (
                Linear::new(&(&p / 0), h, h, true),
                Linear::new(&(&p / 2), h, h, true),
            )
        };
        Self {
            m1: mlp(vs / "m1"),
            m2: mlp(vs / "m2"),
            m4: Linear::new(&(vs / "m4" / 0), 2 * h, h, true),
        }
    }
}

/// The PPGN sizes (official `num_layers`, `hidden`; `hidden_final` equals `hidden` in every
/// official config and must, for the head's shapes to compose).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpgnShape {
    /// Number of PowerfulLayers `L`.
    pub num_layers: usize,
    /// Hidden width `h`.
    pub hidden: usize,
}

impl PpgnShape {
    /// Parameters used by the forward: `7Lh² + 5Lh + h² + 8h + 1` (45,249 for L = 6,
    /// h = 32), as the fixture's README counts them.
    pub fn used_parameters(&self) -> usize {
        let (l, h) = (self.num_layers, self.hidden);
        7 * l * h * h + 5 * l * h + h * h + 8 * h + 1
    }

    /// Parameters of the official modules the edge output never uses:
    /// `L(3h² + h) + 13` (18,637 for L = 6, h = 32).
    pub fn unused_parameters(&self) -> usize {
        let (l, h) = (self.num_layers, self.hidden);
        l * (3 * h * h + h) + 13
    }

    /// All parameters of the official `state_dict` (63,886 for L = 6, h = 32).
    pub fn total_parameters(&self) -> usize {
        self.used_parameters() + self.unused_parameters()
    }
}

/// Intermediate tensors of one forward pass, for localising a parity mismatch (the keys
/// `simple.inter.*` of the fixture).
#[derive(Debug, Default)]
pub struct PpgnTrace {
    /// The network input `u⁰ = [A_t, β̄·I]` `[B, N, N, 2]`.
    pub input: Option<Tensor>,
    /// `x⁰ = in_lin(u⁰)` `[B, N, N, h]`.
    pub in_lin: Option<Tensor>,
    /// The first layer's matrix product after `÷ √n` `[B, N, N, h]`.
    pub layer0_mm: Option<Tensor>,
    /// The first layer's `m4` output, before the norm `[B, N, N, h]`.
    pub layer0_pre_norm: Option<Tensor>,
    /// `x¹ … x^L` after the masked instance norm.
    pub layers: Vec<Tensor>,
    /// `layer_cat_lin` output.
    pub cat_lin: Option<Tensor>,
    /// Input of `final_lin` (after the residual branch and dropout).
    pub head_in: Option<Tensor>,
}

/// The PPGN denoiser. See the [module docs](self).
#[derive(Debug)]
pub struct Powerful {
    shape: PpgnShape,
    in_lin: Linear,
    convs: Vec<PowerfulLayer>,
    layer_cat_lin: Linear,
    after_conv: Linear,
    final_lin: Linear,
}

impl Powerful {
    /// Builds the network under `vs` with `nn.Linear`'s default initialisation (drawn from
    /// torch's CPU generator: seed it with `tch::manual_seed` for a reproducible start).
    pub fn new(vs: &nn::Path, shape: PpgnShape) -> Self {
        let (l, h) = (shape.num_layers as i64, shape.hidden as i64);
        // Official construction order: time_mlp, in_lin, layer_cat_lin, convs,
        // feature_extractors, after_conv, final_lin.
        let tm = vs / "time_mlp";
        dead_var(&(&tm / 0), "weight", &[4, 1], 1);
        dead_var(&(&tm / 0), "bias", &[4], 1);
        dead_var(&(&tm / 2), "weight", &[1, 4], 4);
        dead_var(&(&tm / 2), "bias", &[1], 4);
        let in_lin = Linear::new(&(vs / "in_lin" / 0), INPUT_FEATURES, h, true);
        let layer_cat_lin =
            Linear::new(&(vs / "layer_cat_lin" / 0), h * l + INPUT_FEATURES, h, true);
        let convs = (0..l)
            .map(|i| PowerfulLayer::new(&(vs / "convs" / i), h))
            .collect();
        for i in 0..l {
            let fe = vs / "feature_extractors" / i;
            dead_var(&(&fe / "lin1" / 0), "weight", &[h, h], h);
            dead_var(&(&fe / "lin1" / 0), "bias", &[h], h);
            dead_var(&(&fe / "lin2" / 0), "weight", &[h, h], h);
            dead_var(&(&fe / "lin3" / 0), "weight", &[h, h], h);
        }
        let after_conv = Linear::new(&(vs / "after_conv" / 0), h, h, true);
        let final_lin = Linear::new(&(vs / "final_lin" / 0), h, 1, true);
        Self {
            shape,
            in_lin,
            convs,
            layer_cat_lin,
            after_conv,
            final_lin,
        }
    }

    /// The same network on the same weight tensors (a new handle to each: e.g. to move
    /// into a job on another thread).
    pub fn shallow_clone(&self) -> Self {
        Self {
            shape: self.shape,
            in_lin: self.in_lin.shallow_clone(),
            convs: self
                .convs
                .iter()
                .map(PowerfulLayer::shallow_clone)
                .collect(),
            layer_cat_lin: self.layer_cat_lin.shallow_clone(),
            after_conv: self.after_conv.shallow_clone(),
            final_lin: self.final_lin.shallow_clone(),
        }
    }

    /// The parameters the forward uses (the trainable ones), in a fixed order.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut lins: Vec<&Linear> = vec![&self.in_lin];
        for c in &self.convs {
            lins.extend([&c.m1.0, &c.m1.1, &c.m2.0, &c.m2.1, &c.m4]);
        }
        lins.extend([&self.layer_cat_lin, &self.after_conv, &self.final_lin]);
        lins.iter()
            .flat_map(|l| {
                std::iter::once(l.w.shallow_clone()).chain(l.b.as_ref().map(Tensor::shallow_clone))
            })
            .collect()
    }

    /// The network's sizes.
    pub fn shape(&self) -> PpgnShape {
        self.shape
    }

    /// The dtype of the network's weights.
    pub fn kind(&self) -> Kind {
        self.in_lin.w.kind()
    }

    /// The device of the network's weights.
    pub fn device(&self) -> tch::Device {
        self.in_lin.w.device()
    }

    /// Flip logits `z: [B, N, N]` for noisy adjacencies `adj: [B, N, N]` (0/1, symmetric,
    /// zero outside the real block and on the diagonal), node flags `flags: [B, N]` (0/1) and
    /// one noise level `β̄_b` per graph.
    ///
    /// `dropout_scale`: in train mode, the official `F.dropout(H, p)` before `final_lin` as a
    /// `[B, N, N, h]` tensor of `keep / (1 − p)` ([`dropout_scale`]); `None` in eval mode.
    ///
    /// As in the official code, the logits are neither masked nor symmetrised, and padded
    /// entries are not zero: the losses and samplers mask them. The level is written on all
    /// `N` diagonal entries (padded nodes included) in the network's dtype (a float32 network
    /// sees float32(β̄)). `√n_b` is the square root of graph b's flag count, computed in
    /// float32 as the official code does even for a float64 network. (The official code
    /// counts the mask's first row, which is the same number when node 0 is present and
    /// zero — a division by zero — when it is not; a graph without nodes uses `√1` here.)
    pub fn forward(
        &self,
        adj: &Tensor,
        flags: &Tensor,
        beta_bar: &[f64],
        dropout_scale: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.forward_traced(adj, flags, beta_bar, dropout_scale, None)
    }

    /// The network prepared for repeated eval-mode calls (the samplers' 32 steps).
    pub fn evaluator(&self) -> Evaluator<'_> {
        let fused = (self.device() == tch::Device::Cpu && self.kind() == Kind::Float)
            .then(|| fused::Prepared::new(self));
        Evaluator { net: self, fused }
    }

    /// [`Powerful::forward`] on the real entries only: graphs are grouped by their number of
    /// present nodes, each group runs without padding (no masks, and `n²` instead of `N²`
    /// entries per graph), and the logits are scattered back into `[B, N, N]`. On every
    /// present pair (diagonal included) the logits are [`Powerful::forward`]'s up to float
    /// rounding; every other entry is 0 (the official network leaves non-zero logits there,
    /// which no loss or sampler reads). What the training loss uses on the CPU.
    ///
    /// `dropout_scale`: as in [`Powerful::forward`], `[B, N, N, h]`.
    pub fn forward_packed(
        &self,
        adj: &Tensor,
        flags: &Tensor,
        beta_bar: &[f64],
        dropout_scale: Option<&Tensor>,
    ) -> Result<Tensor> {
        let s = adj.size();
        if s.len() != 3
            || s[1] != s[2]
            || flags.size() != [s[0], s[1]]
            || beta_bar.len() as i64 != s[0]
        {
            return Err(input_err(
                "adj",
                format!(
                    "adjacency {s:?}, flags {:?} and {} levels do not match",
                    flags.size(),
                    beta_bar.len()
                ),
            ));
        }
        let (b, n_max) = (s[0] as usize, s[1] as usize);
        let f = Vec::<f32>::try_from(
            flags
                .to_kind(Kind::Float)
                .to_device(tch::Device::Cpu)
                .flatten(0, -1),
        )?;
        let mut groups: std::collections::BTreeMap<usize, Vec<(usize, Vec<i64>)>> =
            Default::default();
        for g in 0..b {
            let nodes: Vec<i64> = (0..n_max)
                .filter(|&i| f[g * n_max + i] > 0.5)
                .map(|i| i as i64)
                .collect();
            if !nodes.is_empty() {
                groups.entry(nodes.len()).or_default().push((g, nodes));
            }
        }
        let device = adj.device();
        let out = Tensor::zeros([s[0], s[1], s[2]], (adj.kind(), device));
        for (&n, members) in &groups {
            let (n, bg) = (n as i64, members.len() as i64);
            let gi: Vec<i64> = members.iter().map(|(g, _)| *g as i64).collect();
            let nodes: Vec<i64> = members
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            let g3 = Tensor::from_slice(&gi).to_device(device).view([bg, 1, 1]);
            let rows = Tensor::from_slice(&nodes)
                .to_device(device)
                .view([bg, n, 1]);
            let cols = rows.view([bg, 1, n]);
            let index = [Some(g3), Some(rows), Some(cols)];
            let a = adj.index(&index);
            let levels: Vec<f64> = members.iter().map(|(g, _)| beta_bar[*g]).collect();
            let ones = Tensor::ones([bg, n], (adj.kind(), device));
            let scale = dropout_scale.map(|d| d.index(&index));
            let z = self.forward(&a, &ones, &levels, scale.as_ref())?;
            let _ = out.shallow_clone().index_put_(&index, &z, false);
        }
        Ok(out)
    }

    /// [`Powerful::forward`] that also records the intermediates into `trace`.
    pub fn forward_traced(
        &self,
        adj: &Tensor,
        flags: &Tensor,
        beta_bar: &[f64],
        dropout_scale: Option<&Tensor>,
        mut trace: Option<&mut PpgnTrace>,
    ) -> Result<Tensor> {
        let s = adj.size();
        if s.len() != 3 || s[1] != s[2] {
            return Err(input_err("adj", format!("expected [B, N, N], got {s:?}")));
        }
        let (b, n) = (s[0], s[1]);
        if flags.size() != [b, n] {
            return Err(input_err(
                "flags",
                format!("expected [{b}, {n}], got {:?}", flags.size()),
            ));
        }
        if beta_bar.len() != b as usize {
            return Err(input_err(
                "beta_bar",
                format!("{} levels for a batch of {b}", beta_bar.len()),
            ));
        }
        let (kind, device) = (adj.kind(), adj.device());
        let flags = flags.to_kind(kind);
        let h = self.shape.hidden as i64;
        let num_layers = self.convs.len();
        let pairs = n * n;
        // Internally channel-major, [C, B, N, N] viewed as [C, B·N²]: every per-entry linear
        // map is one plain GEMM over all entries of the batch, the matrix product over the
        // node axes is one batched product over the C·B contiguous [N, N] blocks, and the
        // norm reduces contiguous rows. (The official code is channel-last and concatenates
        // its inputs; the arithmetic is the same up to summation order.) A batch without
        // padding (every flag 1, as in the sampler's node-count groups) skips every mask.
        let padded = flags.min().double_value(&[]) < 0.5;
        let counts = flags
            .to_kind(Kind::Float)
            .sum_dim_intlist(-1, false, Kind::Float);
        // √n_b in float32 (official `mask[:, 0]....float().sum(-1).sqrt()`).
        let sqrt_n = counts.clamp_min(1.0).sqrt().to_kind(kind);
        // M = f fᵀ, diagonal included (official `generate_mask`), [1, B, N, N]; the product
        // P Q / √n takes the mask and 1/√n_b in one multiplication of P.
        let mask = padded.then(|| (flags.unsqueeze(-1) * flags.unsqueeze(-2)).unsqueeze(0));
        let p_scale = mask.as_ref().map(|m| m / sqrt_n.view([1, b, 1, 1]));
        // The level on every diagonal entry, padded nodes included.
        let levels = Tensor::from_slice(beta_bar).to_kind(kind).to_device(device);
        let eye = Tensor::eye(n, (kind, device));
        let level_diag = levels.view([b, 1, 1]) * eye.unsqueeze(0);
        let adj = adj.to_kind(kind);
        if let Some(t) = trace.as_deref_mut() {
            t.input = Some(Tensor::stack(&[&adj, &level_diag], -1));
        }
        // A map of u⁰ = [A_t, β̄·I]: W₀·A_t + W₁·β̄I + b per entry, [C, B·N²].
        let of_input = |w: &Tensor, bias: Option<&Tensor>| {
            let y = adj.unsqueeze(0) * w.select(1, 0).view([-1, 1, 1, 1])
                + level_diag.unsqueeze(0) * w.select(1, 1).view([-1, 1, 1, 1]);
            let y = match bias {
                Some(bb) => y + bb.view([-1, 1, 1, 1]),
                None => y,
            };
            y.view([-1, b * pairs])
        };
        let mut x = of_input(&self.in_lin.w, self.in_lin.b.as_ref());
        if let Some(t) = trace.as_deref_mut() {
            t.in_lin = Some(batch_major(&x, b, n));
        }
        // The head's first map accumulates layer by layer instead of concatenating
        // [u⁰ ‖ x¹ ‖ … ‖ x^L] (2 + L·h channels): H = b + W_u·u⁰ + Σ_l W_l·x^l.
        let w_cat = &self.layer_cat_lin.w;
        let mut head = of_input(
            &w_cat.narrow(1, 0, INPUT_FEATURES),
            self.layer_cat_lin.b.as_ref(),
        );
        let head_w = |l: usize| w_cat.narrow(1, INPUT_FEATURES + l as i64 * h, h);
        for (l, conv) in self.convs.iter().enumerate() {
            // Every map that reads x^l in one GEMM: this layer's m1 and m2 first layers and
            // the x-half of its m4 (the official m4 reads [mm ‖ x]), and, for l ≥ 1, the
            // head's block of the previous layer's output.
            let w4 = &conv.m4.w;
            let bias = |t: &Option<Tensor>| t.as_ref().expect("bias").shallow_clone();
            let mut ws = vec![
                conv.m1.0.w.shallow_clone(),
                conv.m2.0.w.shallow_clone(),
                w4.narrow(1, h, h),
            ];
            let mut bs = vec![bias(&conv.m1.0.b), bias(&conv.m2.0.b), bias(&conv.m4.b)];
            if l > 0 {
                ws.push(head_w(l - 1));
                bs.push(Tensor::zeros([h], (kind, device)));
            }
            let g = Tensor::cat(&bs, 0)
                .unsqueeze(1)
                .addmm(&Tensor::cat(&ws, 0), &x);
            // Row blocks by `split` (its backward concatenates the blocks' gradients, where
            // `narrow`'s would zero-fill and add a full-size tensor per block).
            let sizes: &[i64] = if l > 0 { &[2 * h, h, h] } else { &[2 * h, h] };
            let mut blocks_g = g.split_with_sizes(sizes, 0);
            if l > 0 {
                head += &blocks_g[2];
            }
            let xw = blocks_g.swap_remove(1);
            let hid = blocks_g.swap_remove(0).leaky_relu().split(h, 0);
            let p = bias(&conv.m1.1.b).unsqueeze(1).addmm(&conv.m1.1.w, &hid[0]);
            let q = bias(&conv.m2.1.b).unsqueeze(1).addmm(&conv.m2.1.w, &hid[1]);
            // mm[c,b] = (P[c,b] M) (Q[c,b] M) / √n_b over the node axes; y = W_a·mm + (W_b·x + b).
            let blocks = [h * b, n, n];
            let y = match (&mask, &p_scale) {
                (Some(m), Some(ps)) => {
                    let p = p.view([h, b, n, n]) * ps;
                    let q = q.view([h, b, n, n]) * m;
                    let mm = p.view(blocks).bmm(&q.view(blocks)).view([h, b * pairs]);
                    if l == 0 {
                        if let Some(t) = trace.as_deref_mut() {
                            t.layer0_mm = Some(batch_major(&mm, b, n));
                        }
                    }
                    xw.addmm(&w4.narrow(1, 0, h), &mm)
                }
                _ => {
                    // one node count: 1/√n scales the 32×32 weight instead of the product
                    let inv = 1.0 / sqrt_n.double_value(&[0]);
                    let mm = p.view(blocks).bmm(&q.view(blocks)).view([h, b * pairs]);
                    if l == 0 {
                        if let Some(t) = trace.as_deref_mut() {
                            t.layer0_mm = Some(batch_major(&(&mm * inv), b, n));
                        }
                    }
                    xw.addmm(&(w4.narrow(1, 0, h) * inv), &mm)
                }
            };
            if l == 0 {
                if let Some(t) = trace.as_deref_mut() {
                    t.layer0_pre_norm = Some(batch_major(&y, b, n));
                }
            }
            x = match &mask {
                Some(m) => masked_instance_norm_cm(&y, &m.view([1, b, pairs]), &counts, h),
                None => y
                    .view([1, h * b, n, n])
                    .instance_norm::<&Tensor>(None, None, None, None, true, 0.0, NORM_EPS, false)
                    .view([h, b * pairs]),
            };
            if let Some(t) = trace.as_deref_mut() {
                t.layers.push(batch_major(&x, b, n));
            }
        }
        head += head_w(num_layers - 1).mm(&x);
        if let Some(t) = trace.as_deref_mut() {
            t.cat_lin = Some(batch_major(&head, b, n));
        }
        let after = &self.after_conv;
        let mut head = &head
            + after
                .b
                .as_ref()
                .expect("bias")
                .unsqueeze(1)
                .addmm(&after.w, &head)
                .leaky_relu();
        if let Some(scale) = dropout_scale {
            let want = [b, n, n, h];
            if scale.size() != want {
                return Err(input_err(
                    "dropout_scale",
                    format!("expected {want:?}, got {:?}", scale.size()),
                ));
            }
            head *= scale.permute([3, 0, 1, 2]).reshape([h, b * pairs]);
        }
        if let Some(t) = trace {
            t.head_in = Some(batch_major(&head, b, n));
        }
        let fin = &self.final_lin;
        Ok(fin
            .b
            .as_ref()
            .expect("bias")
            .unsqueeze(1)
            .addmm(&fin.w, &head)
            .view([b, n, n]))
    }
}

/// Eval-mode flip logits without gradient, for the samplers ([`Powerful::evaluator`]).
///
/// A float32 CPU batch without padding (every flag 1, as in the samplers' node-count groups)
/// runs the fused forward of `ppgn/fused.rs`: libtorch's matrix products with the element-wise
/// work in hand-written loops, and the first layer in closed form when the input is a binary
/// adjacency with an empty diagonal. It equals [`Powerful::forward`] up to float rounding
/// (relative 2e-5 in its test). Any other batch runs [`Powerful::forward`].
pub struct Evaluator<'a> {
    net: &'a Powerful,
    /// The weights laid out for the fused forward (float32 CPU networks).
    fused: Option<fused::Prepared>,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("shape", &self.net.shape)
            .field("fused", &self.fused.is_some())
            .finish()
    }
}

impl Evaluator<'_> {
    /// Flip logits `[B, N, N]`, as [`Powerful::forward`] in eval mode (see the type's docs).
    pub fn logits(&self, adj: &Tensor, flags: &Tensor, beta_bar: &[f64]) -> Result<Tensor> {
        tch::no_grad(|| {
            let s = adj.size();
            let unpadded = s.len() == 3
                && s[0] > 0
                && s[1] > 0
                && s[1] == s[2]
                && adj.device() == tch::Device::Cpu
                && flags.size() == [s[0], s[1]]
                && flags.min().double_value(&[]) > 0.5;
            match &self.fused {
                Some(fused) if unpadded => fused.forward(adj, beta_bar),
                _ => self.net.forward(adj, flags, beta_bar, None),
            }
        })
    }
}

/// `[C, B·N²]` → `[B, N, N, C]` (the official layout), for traces.
fn batch_major(x: &Tensor, b: i64, n: i64) -> Tensor {
    x.view([-1, b, n, n]).permute([1, 2, 3, 0])
}

/// The official `masked_instance_norm2D` (`util/model_helper.py`, eps 1e-5) in the
/// channel-major layout: per graph and channel, over the `n²` entries of the real block
/// (diagonal included), the biased mean and variance; the result is zero outside the block.
/// `y: [C, B·N²]`, `mask: [1, B, N²]`, `counts`: the `n_b` (float32), so `Σ M = n_b²`. A
/// graph without nodes gives zeros (the official code divides by zero there).
fn masked_instance_norm_cm(y: &Tensor, mask: &Tensor, counts: &Tensor, c: i64) -> Tensor {
    let kind = y.kind();
    let b = counts.size()[0];
    let y = y.view([c, b, -1]);
    let count = counts
        .to_kind(kind)
        .square()
        .clamp_min(1.0)
        .view([1, -1, 1]);
    let mean = (&y * mask).sum_dim_intlist(-1, true, kind) / &count;
    let centred = y - &mean;
    let var = (&centred * mask).square().sum_dim_intlist(-1, true, kind) / &count;
    (centred / (var + NORM_EPS).sqrt() * mask).view([c, -1])
}

/// The train-mode dropout of the head as the `[B, N, N, h]` tensor `keep / (1 − p)` the
/// network multiplies by, for a keep mask `keep` (1 = kept; any shape that broadcasts). The
/// scale is formed in the network's dtype as the official `F.dropout` does
/// (`1 / float32(1 − p)` = 1.0000010728836 for p = 1e-6 in float32).
pub fn dropout_scale(keep: &Tensor, p: f64, kind: Kind) -> Tensor {
    let scale = if kind == Kind::Float {
        f64::from(1.0f32 / (1.0 - p) as f32)
    } else {
        1.0 / (1.0 - p)
    };
    keep.to_kind(kind) * scale
}
