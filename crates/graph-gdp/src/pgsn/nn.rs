//! Building blocks with the official parameter names and PyTorch's default initialisation,
//! drawn from an explicit ChaCha8 stream.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Tensor};

/// Initial values drawn from one seeded stream.
pub(crate) struct Init {
    pub(crate) rng: ChaCha8Rng,
}

impl Init {
    /// `U(−bound, bound)` of shape `dims`, float32.
    pub(crate) fn uniform(&mut self, dims: &[i64], bound: f64) -> Tensor {
        let n: i64 = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| self.rng.gen_range(-bound..bound) as f32)
            .collect();
        Tensor::from_slice(&v).reshape(dims)
    }
}

/// `nn.Linear(fan_in, fan_out)` or a 1×1 `nn.Conv2d` (weight `[out, in, 1, 1]`), PyTorch's
/// default init `U(−1/√fan_in, 1/√fan_in)` for weight and bias.
#[derive(Debug)]
pub(crate) struct Linear {
    w: Tensor,
    b: Option<Tensor>,
    out: i64,
    inp: i64,
}

impl Linear {
    /// `nn.Linear` under `p` (`weight [out, in]`, `bias [out]` when `bias`).
    pub(crate) fn new(p: nn::Path, fan_in: i64, fan_out: i64, bias: bool, init: &mut Init) -> Self {
        Self::build(p, &[fan_out, fan_in], fan_in, fan_out, bias, init)
    }

    /// 1×1 `nn.Conv2d` under `p` (`weight [out, in, 1, 1]`, `bias [out]`), used row-wise.
    pub(crate) fn conv1x1(p: nn::Path, fan_in: i64, fan_out: i64, init: &mut Init) -> Self {
        Self::build(p, &[fan_out, fan_in, 1, 1], fan_in, fan_out, true, init)
    }

    fn build(
        p: nn::Path,
        dims: &[i64],
        fan_in: i64,
        fan_out: i64,
        bias: bool,
        init: &mut Init,
    ) -> Self {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w = p.var_copy("weight", &init.uniform(dims, bound));
        let b = bias.then(|| p.var_copy("bias", &init.uniform(&[fan_out], bound)));
        Self {
            w,
            b,
            out: fan_out,
            inp: fan_in,
        }
    }

    /// The weight as `[out, in]` (a view of the variable: gradients reach it).
    pub(crate) fn weight(&self) -> Tensor {
        self.w.view([self.out, self.inp])
    }

    /// The bias, if any.
    pub(crate) fn bias(&self) -> Option<&Tensor> {
        self.b.as_ref()
    }

    /// `x Wᵀ + b` on the last axis.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight(), self.b.as_ref())
    }

    /// `x Wᵀ` without the bias.
    pub(crate) fn forward_no_bias(&self, x: &Tensor) -> Tensor {
        x.linear::<&Tensor>(&self.weight(), None)
    }

    /// The weight variable itself (any shape).
    pub(crate) fn weight_var(&self) -> &Tensor {
        &self.w
    }
}

/// `nn.GroupNorm(groups, channels, eps=1e-6)` on rows `[M, C]` (each row normalised on its
/// own), weight 1 and bias 0 at init.
#[derive(Debug)]
pub(crate) struct GroupNorm {
    w: Tensor,
    b: Tensor,
    groups: i64,
}

impl GroupNorm {
    pub(crate) fn new(p: nn::Path, channels: i64, groups: i64) -> Self {
        let w = p.var_copy("weight", &Tensor::ones([channels], tch::kind::FLOAT_CPU));
        let b = p.var_copy("bias", &Tensor::zeros([channels], tch::kind::FLOAT_CPU));
        Self { w, b, groups }
    }

    /// The weight `[C]` and bias `[C]` variables.
    pub(crate) fn affine(&self) -> (&Tensor, &Tensor) {
        (&self.w, &self.b)
    }

    /// The number of groups.
    pub(crate) fn groups(&self) -> usize {
        self.groups as usize
    }

    /// GroupNorm of each row `[M, C]`: per row and group of `C/G` channels,
    /// `(x − mean)/√(var + eps)` (biased variance), then the affine map. Written with basic
    /// operations: libtorch's `group_norm` (and `layer_norm` on the groups) take 2–3× longer
    /// forward and backward on many rows of few channels per group.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.size();
        let (m, c) = (s[0], s[1]);
        let kind = x.kind();
        let g = x.view([m, self.groups, c / self.groups]);
        let d = &g - g.mean_dim([2i64].as_slice(), true, kind);
        let var = d.square().mean_dim([2i64].as_slice(), true, kind);
        let y = (d * (var + 1e-6).rsqrt()).view([m, c]);
        y * &self.w + &self.b
    }
}
