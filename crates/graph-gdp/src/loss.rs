//! The continuous-time denoising loss of GraphGDP (score_sde `losses.get_sde_loss_fn` with
//! `continuous=True`, `reduce_mean=True`, no likelihood weighting).
//!
//! For clean data `x₀ = 2A − 1`, `t ~ U(ε, 1)` and symmetric noise `z` (zero diagonal):
//! `x_t = sym(α(t)·x₀) + σ(t)·z`, `score = −ε̂(x_t, t)/σ(t)`, and the loss of a graph is the
//! mean of `(score·σ(t) + z)²` over its valid pairs (both triangles); the batch loss is the
//! mean over graphs. (`score·σ` is not exactly `−ε̂` in floating point; the official order is
//! kept.)

use tch::{Kind, Tensor};

use crate::sde::{per_graph, sym, Sde};

/// A batch perturbed to times `t` (official `loss_fn` before the network call).
#[derive(Debug)]
pub struct Perturbed {
    /// Times `[B]`.
    pub t: Tensor,
    /// Symmetric standard noise `[B, N, N]`, zero diagonal, not masked.
    pub z: Tensor,
    /// `sym(α(t)·x₀)` `[B, N, N]`.
    pub mean: Tensor,
    /// `σ(t)` `[B]`.
    pub std: Tensor,
    /// `mean + σ(t)·z`, the network's input.
    pub x_t: Tensor,
}

/// Times from uniform draws: `t = u·(1 − eps) + eps` (official `torch.rand(B)·(T − eps) + eps`).
pub fn times_from_uniform(u: &Tensor, eps: f64) -> Tensor {
    u * (1.0 - eps) + eps
}

/// Perturbs clean data `x0: [B, N, N]` (scaled to ±1) to times `t` with symmetric noise `z`.
pub fn perturb(sde: &dyn Sde, x0: &Tensor, t: &Tensor, z: &Tensor) -> Perturbed {
    let (mean, std) = sde.marginal_prob(x0, t);
    let mean = sym(&mean);
    let x_t = &mean + per_graph(&std) * z;
    Perturbed {
        t: t.shallow_clone(),
        z: z.shallow_clone(),
        mean,
        std,
        x_t,
    }
}

/// The loss from the network's noise prediction `eps: [B, N, N]`: per graph the mean of
/// `(−ε̂/σ·σ + z)²` over `pair_mask: [B, N, N]`, and their mean over the graphs that have a
/// valid pair (the official code divides by zero for a graph of fewer than two nodes).
/// Returns `(loss, per-graph losses [B])`.
pub fn denoising_loss(
    eps: &Tensor,
    std: &Tensor,
    z: &Tensor,
    pair_mask: &Tensor,
) -> (Tensor, Tensor) {
    let kind = eps.kind();
    let s = per_graph(std);
    let score = -eps / &s;
    let losses = (score * &s + z).square();
    let dims = [1i64, 2];
    let count = pair_mask.sum_dim_intlist(dims.as_slice(), false, kind);
    let per =
        (losses * pair_mask).sum_dim_intlist(dims.as_slice(), false, kind) / count.clamp_min(1.0);
    let graphs = count.gt(0.0).to_kind(kind).sum(kind).clamp_min(1.0);
    let loss = per.sum(kind) / graphs;
    (loss, per)
}

/// `x₀ = 2A − 1` of a 0/1 adjacency in `kind` (official `scaler` with `centered=True`:
/// non-edges, the diagonal and padding are −1).
pub fn scale_data(adj: &Tensor, kind: Kind) -> Tensor {
    adj.to_kind(kind) * 2.0 - 1.0
}
