//! Multi-noise denoising score matching (Niu et al. 2020, Eq. 7), exactly as
//! GraphScoreMatching:utils/graph_utils.py (`add_gaussian_noise`, `gen_list_of_data`) and
//! train.py (`loss_func`).

use graph_tensor::batch::mask_adjs;
use tch::{Kind, Tensor};

use crate::error::{input_err, Result};

/// A clean batch perturbed at every noise level, laid out σ-major.
#[derive(Debug)]
pub struct Perturbed {
    /// Noisy adjacency Ã = mask(A + E + Eᵀ): `[L·B, N, N]`, chunk k at level k.
    pub noisy: Tensor,
    /// Regression target ∇log q(Ã | A) = mask(−(E + Eᵀ)/σ_k²): `[L·B, N, N]`.
    pub target: Tensor,
    /// Node flags replicated σ-major: `[L·B, N]`.
    pub flags: Tensor,
    /// Level index of every sample: `[L·B]` int64.
    pub level: Tensor,
}

/// Perturbs a clean batch at every level (`gen_list_of_data`): for level k,
/// `E = triu(Z_k, 1)·σ_k`, `Ã = mask(A + E + Eᵀ)`, target `mask(−(E + Eᵀ)/σ_k²)`.
///
/// * `adj`: `[B, N, N]` clean 0/1 adjacency (symmetric, zero diagonal, masked);
/// * `flags`: `[B, N]` node flags;
/// * `z`: `[L, B, N, N]` standard normal draws; only the strict upper triangle is used.
pub fn perturb(adj: &Tensor, flags: &Tensor, sigmas: &[f64], z: &Tensor) -> Result<Perturbed> {
    let s = adj.size();
    if s.len() != 3 || s[1] != s[2] {
        return Err(input_err("adj", format!("expected [B, N, N], got {s:?}")));
    }
    let (b, n) = (s[0], s[1]);
    let l = sigmas.len() as i64;
    if z.size() != [l, b, n, n] {
        return Err(input_err(
            "z",
            format!("expected [{l}, {b}, {n}, {n}], got {:?}", z.size()),
        ));
    }
    if flags.size() != [b, n] {
        return Err(input_err(
            "flags",
            format!("expected [{b}, {n}], got {:?}", flags.size()),
        ));
    }
    let mut noisy = Vec::with_capacity(sigmas.len());
    let mut target = Vec::with_capacity(sigmas.len());
    for (k, &sigma) in sigmas.iter().enumerate() {
        let e = z.get(k as i64).triu(1) * sigma;
        let e_s = &e + e.transpose(-1, -2);
        target.push(mask_adjs(&(-&e_s / (sigma * sigma)), flags));
        noisy.push(mask_adjs(&(adj + e_s), flags));
    }
    Ok(Perturbed {
        noisy: Tensor::cat(&noisy, 0),
        target: Tensor::cat(&target, 0),
        flags: flags.repeat([l, 1]),
        level: Tensor::arange(l, (Kind::Int64, adj.device()))
            .repeat_interleave_self_int(b, 0, None),
    })
}

/// The official `loss_func`: `Σ_k ½σ_k² · mean_{b ∈ chunk k} Σ_{u,v} (score − target)²`,
/// summed over the full N×N (both triangles, padded pairs included), accumulated in σ
/// order. ½σ_k² is taken in double precision from the decimal σ, as the official code does.
///
/// score, target: `[L·B, N, N]` σ-major. Returns the total (0-d, differentiable) and the
/// per-level terms `[L]` (detached).
pub fn score_matching_loss(
    score: &Tensor,
    target: &Tensor,
    sigmas: &[f64],
) -> Result<(Tensor, Tensor)> {
    let l = sigmas.len() as i64;
    let s = score.size();
    if s.len() != 3 || l == 0 || s[0] % l != 0 || s[0] == 0 {
        return Err(input_err(
            "score",
            format!("expected a σ-major [L·B, N, N] batch with L = {l}, got {s:?}"),
        ));
    }
    if target.size() != s {
        return Err(input_err(
            "target",
            format!("expected {s:?}, got {:?}", target.size()),
        ));
    }
    let b = s[0] / l;
    let per_sample =
        (score - target)
            .square()
            .sum_dim_intlist([-1i64, -2].as_slice(), false, None::<Kind>);
    let mut items = Vec::with_capacity(sigmas.len());
    let mut total: Option<Tensor> = None;
    for (k, &sigma) in sigmas.iter().enumerate() {
        let cur =
            per_sample.narrow(0, k as i64 * b, b).mean(None::<Kind>) * (0.5 * (sigma * sigma));
        items.push(cur.detach());
        total = Some(match total {
            None => cur,
            Some(t) => t + cur,
        });
    }
    let total = total.expect("at least one level");
    Ok((total, Tensor::stack(&items, 0)))
}
