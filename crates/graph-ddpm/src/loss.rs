//! The forward noising of a clean batch and the two training objectives (Haefeli et al.,
//! 2022, §3.2): L_simple (official `ppgn_simple.py` `loss_func_bce`) and the variational
//! bound (official `ppgn_vlb.py` `loss_func_kld`).
//!
//! Everything that is random is an argument (the uniforms of the Bernoulli draws, the
//! levels), so the parity tests feed the official draws and the model feeds draws from its
//! seeded streams.

use tch::{Kind, Reduction, Tensor};

use crate::error::{input_err, Result};
use crate::transition::LevelTensors;

/// A noised batch: `A_t` and the flip indicators `|A_t − A_0|`, both masked.
#[derive(Debug)]
pub struct Noised {
    /// `A_t: [B, N, N]` 0/1, symmetric, zero diagonal, masked by the node flags.
    pub noisy: Tensor,
    /// `|A_t − A_0|` masked (the official `grad_log_q_noise`), the L_simple target.
    pub flips: Tensor,
}

/// The official marginal noising `q(A_t | A_0)` (`utils/graph_utils.py`
/// `discretenoise_single`): each entry keeps its state with probability `1 − β̄_b` and
/// flips with `β̄_b` (graph b's level), drawn on the strict upper triangle as
/// `uniform < p` with `p = where(A_0 > ½, 1 − β̄_b, β̄_b)` rounded to `adj0`'s dtype, mirrored,
/// and masked by `flags`.
///
/// `adj0: [B, N, N]` 0/1; `flags: [B, N]`; `beta_bar`: one level per graph; `uniform:
/// [B, N, N]` in `[0, 1)` (only its strict upper triangle is read).
pub fn noise_adjacency(
    adj0: &Tensor,
    flags: &Tensor,
    beta_bar: &[f64],
    uniform: &Tensor,
) -> Result<Noised> {
    let s = adj0.size();
    if s.len() != 3 || beta_bar.len() as i64 != s[0] || uniform.size() != s {
        return Err(input_err(
            "adj0",
            format!(
                "adjacency {s:?}, {} levels and uniforms {:?} do not match",
                beta_bar.len(),
                uniform.size()
            ),
        ));
    }
    let (kind, device) = (adj0.kind(), adj0.device());
    let keep: Vec<f64> = beta_bar.iter().map(|&b| 1.0 - b).collect();
    let col = |v: &[f64]| {
        Tensor::from_slice(v)
            .to_kind(kind)
            .to_device(device)
            .view([-1, 1, 1])
    };
    let p = crate::transition::select(&adj0.gt(0.5), &col(&keep), &col(beta_bar));
    let draw = uniform.to_device(device).lt_tensor(&p).to_kind(kind);
    let noisy = graph_tensor::batch::symmetrize_upper(&draw);
    let flags = flags.to_kind(kind);
    let noisy = graph_tensor::batch::mask_adjs(&noisy, &flags);
    let flips = graph_tensor::batch::mask_adjs(&(&noisy - adj0).abs(), &flags);
    Ok(Noised { noisy, flips })
}

/// The node-pair mask `M = f fᵀ` `[B, N, N]`, diagonal included (official `generate_mask`).
pub fn node_mask(flags: &Tensor) -> Tensor {
    flags.unsqueeze(-1) * flags.unsqueeze(-2)
}

/// The official L_simple loss (`ppgn_simple.py` `loss_func_bce`), as a float64 scalar:
///
/// `ℓ_bij = BCEWithLogits(z_bij, y_bij)`, `w_b = 1 − 2β̄_b + 1/B`,
/// `L = mean_{b,i,j} M_bij · ½(ℓ_bij w_b + ℓ_bji w_b)`.
///
/// The mean runs over all `B·N·N` entries of the padded batch, diagonal and padding
/// included, and `B` in the weight is the number of graphs in this minibatch — so the value
/// (and the effective learning rate) depends on the padding `N` and on the batch size, as in
/// the official code: padding to 40 instead of 20 divides the loss and its gradient by 4, and
/// the last, smaller batch of an epoch weighs its `1/B` term more.
///
/// `logits: [B, N, N]`, `flips: [B, N, N]` (the target), `mask: [B, N, N]` ([`node_mask`]).
pub fn simple_loss(
    logits: &Tensor,
    flips: &Tensor,
    mask: &Tensor,
    beta_bar: &[f64],
) -> Result<Tensor> {
    let s = logits.size();
    let sum = simple_loss_sum(logits, flips, mask, beta_bar, beta_bar.len())?;
    Ok(sum / (s[0] * s[1] * s[2]) as f64)
}

/// The sum `Σ_{b,i,j} M_bij · ½(ℓ_bij w_b + ℓ_bji w_b)` of [`simple_loss`] over the graphs
/// given (float64), with the weight's `1/B` taken from `batch_size`, the size of the whole
/// minibatch these graphs belong to: the L_simple loss of a minibatch is the sum of this
/// over any partition of its graphs, divided by `B·N²`. The graphs may be padded to any size
/// (the mask zeroes the padding).
pub fn simple_loss_sum(
    logits: &Tensor,
    flips: &Tensor,
    mask: &Tensor,
    beta_bar: &[f64],
    batch_size: usize,
) -> Result<Tensor> {
    let s = logits.size();
    if flips.size() != s || mask.size() != s || beta_bar.len() as i64 != s[0] {
        return Err(input_err(
            "logits",
            format!(
                "logits {s:?}, targets {:?}, mask {:?} and {} levels do not match",
                flips.size(),
                mask.size(),
                beta_bar.len()
            ),
        ));
    }
    let b = batch_size as f64;
    let ell = logits.binary_cross_entropy_with_logits::<&Tensor>(
        &flips.to_kind(logits.kind()),
        None,
        None,
        Reduction::None,
    );
    // The official weight is a float64 tensor, so the loss is float64 from here on.
    let w: Vec<f64> = beta_bar.iter().map(|&x| 1.0 - 2.0 * x + 1.0 / b).collect();
    let w = Tensor::from_slice(&w)
        .to_device(logits.device())
        .view([-1, 1, 1]);
    let lm = ell * w;
    let lm = (&lm + lm.transpose(-2, -1)) / 2.0;
    Ok((lm * mask).sum(Kind::Double))
}

/// The official VLB loss (`ppgn_vlb.py` `loss_func_kld`): for each graph at its step
/// (`levels`), the two-class KL divergence `KL(q(A_{t−1} | A_t, A_0) ‖ p_θ(A_{t−1} | A_t))`
/// per entry, symmetrised, masked, off the diagonal, summed over entries and graphs (no
/// mean, no weighting over t, no L_T or L_0 term), in the logits' dtype.
///
/// The model's reverse step is `p = (1 − P₀)·q(·|A_t, A_0 = 0) + P₀·q(·|A_t, A_0 = 1)` with
/// `P₀ = p_θ(A_0 = 1 | A_t) = A_t ? 1 − σ(z) : σ(z)` from the **unsymmetrised** logits, as in
/// the official loss. The logarithms of `p` and `1 − p` are evaluated in log space
/// (`log σ(±z)` and a log-sum-exp of the two posterior branches): the same function up to
/// rounding, but finite where the official float32 evaluation turns a saturated sigmoid
/// (`σ(z)` rounded to exactly 0 or 1) into `0 · log 0 = NaN`.
///
/// `logits`, `a_t`, `a_0`, `mask`: `[B, N, N]`.
pub fn vlb_loss(
    logits: &Tensor,
    a_t: &Tensor,
    a_0: &Tensor,
    mask: &Tensor,
    levels: &LevelTensors,
) -> Result<Tensor> {
    let s = logits.size();
    if a_t.size() != s || a_0.size() != s || mask.size() != s {
        return Err(input_err(
            "logits",
            format!(
                "logits {s:?}, A_t {:?}, A_0 {:?} and mask {:?} do not match",
                a_t.size(),
                a_0.size(),
                mask.size()
            ),
        ));
    }
    let kind = logits.kind();
    let q = levels.posterior(a_t, a_0);
    // log P₀ and log(1 − P₀), P₀ = p_θ(A_0 = 1 | A_t).
    let on = a_t.gt(0.5);
    let ls_pos = logits.log_sigmoid(); // log σ(z)
    let ls_neg = (-logits).log_sigmoid(); // log(1 − σ(z))
    let log_p0 = crate::transition::select(&on, &ls_neg, &ls_pos);
    let log_1mp0 = crate::transition::select(&on, &ls_pos, &ls_neg);
    // post(A_t, 0) and post(A_t, 1): constants (no gradient).
    let zeros = a_t.zeros_like();
    let post0 = levels.posterior(a_t, &zeros);
    let post1 = levels.posterior(a_t, &zeros.ones_like());
    // p = (1 − P₀)·post0 + P₀·post1;  1 − p = (1 − P₀)(1 − post0) + P₀(1 − post1).
    let log_p = (&log_1mp0 + post0.log()).logaddexp(&(&log_p0 + post1.log()));
    let (keep0, keep1): (Tensor, Tensor) = (1.0 - &post0, 1.0 - &post1);
    let log_1mp = (&log_1mp0 + keep0.log()).logaddexp(&(&log_p0 + keep1.log()));
    let one_m_q: Tensor = 1.0 - &q;
    // KLDivLoss(log[p, 1−p], [q, 1−q]) summed over the two classes (0·log 0 = 0).
    let kl = q.xlogy(&q) - &q * log_p + one_m_q.xlogy(&one_m_q) - &one_m_q * log_1mp;
    let k = (&kl + kl.transpose(-2, -1)) / 2.0 * mask.to_kind(kind);
    let k = k.triu(1) + k.tril(-1);
    Ok(k.sum(kind))
}
