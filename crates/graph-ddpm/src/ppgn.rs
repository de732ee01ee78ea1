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

/// Slope of every LeakyReLU of the official model (`SLOPE = 0.01`).
pub const LEAKY_SLOPE: f64 = 0.01;
/// The instance norm's epsilon (`masked_instance_norm2D`, `eps = 1e-5`).
pub const NORM_EPS: f64 = 1e-5;
/// Input channels: the noisy adjacency and the noise level on the diagonal.
pub const INPUT_FEATURES: i64 = 2;

/// A linear map `y = x Wᵀ + b` over the last axis, with `nn.Linear`'s default
/// initialisation `U(−1/√in, 1/√in)` for weight and bias.
#[derive(Debug)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
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

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
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
        // M = f fᵀ, diagonal included (official `generate_mask`), [B, N, N, 1].
        let mask = (flags.unsqueeze(-1) * flags.unsqueeze(-2)).unsqueeze(-1);
        // √n_b in float32 (official `mask[:, 0]....float().sum(-1).sqrt()`).
        let sqrt_n = flags
            .to_kind(Kind::Float)
            .sum_dim_intlist(-1, false, Kind::Float)
            .clamp_min(1.0)
            .sqrt()
            .to_kind(kind)
            .view([b, 1, 1, 1]);
        // u⁰ = [A_t, β̄·I_N] (the level on every diagonal entry, padded nodes included).
        let levels = Tensor::from_slice(beta_bar).to_kind(kind).to_device(device);
        let eye = Tensor::eye(n, (kind, device));
        let level_diag = levels.view([b, 1, 1]) * eye.unsqueeze(0);
        let u0 = Tensor::stack(&[adj.to_kind(kind), level_diag], -1);

        let mut x = self.in_lin.forward(&u0);
        if let Some(t) = trace.as_deref_mut() {
            t.input = Some(u0.shallow_clone());
            t.in_lin = Some(x.shallow_clone());
        }
        let mut outs = Vec::with_capacity(self.convs.len() + 1);
        outs.push(u0);
        for (l, conv) in self.convs.iter().enumerate() {
            let p = conv.m1.1.forward(&conv.m1.0.forward(&x).leaky_relu()) * &mask;
            let q = conv.m2.1.forward(&conv.m2.0.forward(&x).leaky_relu()) * &mask;
            // mm[b,i,j,c] = Σ_k P[b,i,k,c] Q[b,k,j,c] / √n_b, per channel.
            let mm = p.permute([0, 3, 1, 2]).matmul(&q.permute([0, 3, 1, 2])) / &sqrt_n;
            let mm = mm.permute([0, 2, 3, 1]);
            let y = conv.m4.forward(&Tensor::cat(&[&mm, &x], -1));
            if l == 0 {
                if let Some(t) = trace.as_deref_mut() {
                    t.layer0_mm = Some(mm.shallow_clone());
                    t.layer0_pre_norm = Some(y.shallow_clone());
                }
            }
            x = masked_instance_norm(&y, &mask);
            if let Some(t) = trace.as_deref_mut() {
                t.layers.push(x.shallow_clone());
            }
            outs.push(x.shallow_clone());
        }
        let cat = Tensor::cat(&outs, -1);
        let h = self.layer_cat_lin.forward(&cat);
        if let Some(t) = trace.as_deref_mut() {
            t.cat_lin = Some(h.shallow_clone());
        }
        let mut h = &h + self.after_conv.forward(&h).leaky_relu();
        if let Some(scale) = dropout_scale {
            if scale.size() != h.size() {
                return Err(input_err(
                    "dropout_scale",
                    format!("expected {:?}, got {:?}", h.size(), scale.size()),
                ));
            }
            h *= scale;
        }
        if let Some(t) = trace {
            t.head_in = Some(h.shallow_clone());
        }
        Ok(self.final_lin.forward(&h).squeeze_dim(-1))
    }
}

/// The official `masked_instance_norm2D` (`util/model_helper.py`, eps 1e-5): per graph and
/// channel, over the `n²` entries of the real block (diagonal included), the biased mean and
/// variance; the result is zero outside the block. `x: [B, N, N, C]`, `mask: [B, N, N, 1]`.
/// A graph without nodes gives zeros (the official code divides by zero there).
pub fn masked_instance_norm(x: &Tensor, mask: &Tensor) -> Tensor {
    let count = mask
        .sum_dim_intlist([1, 2].as_slice(), true, x.kind())
        .clamp_min(1.0);
    let mean = (x * mask).sum_dim_intlist([1, 2].as_slice(), true, x.kind()) / &count;
    let centred = x - &mean;
    let var = (&centred * mask)
        .square()
        .sum_dim_intlist([1, 2].as_slice(), true, x.kind())
        / &count;
    centred / (var + NORM_EPS).sqrt() * mask
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
