//! GroupNorm of node rows as one loop forward and one backward (the CPU paths of
//! [`super::tape`]): `torch.nn.GroupNorm(G, C, eps=1e-6)` of `pos_gnn`'s layers on `[M, C]`
//! rows, per row and group of `C/G` consecutive channels `y = (x − μ)/√(σ² + ε)·w + b`
//! (biased variance).
//!
//! Why by hand: the official groups hold 4 channels, and libtorch's broadcasting ops over a
//! last dimension of 4 (or its `group_norm`) take ≈ 1.4 ms forward and backward for the
//! 500 × 128 rows of a Community-small batch — eight of them per training step, about a
//! tenth of it. These loops take a few percent of that. The backward is the standard one:
//! with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)` and `g = ∂y·w`,
//! `∂x = r·(g − mean(g) − x̂·mean(g·x̂))` per group, `∂w = Σ_rows ∂y·x̂`, `∂b = Σ_rows ∂y`.
//! Tests hold both to libtorch's autograd of [`super::nn::GroupNorm::forward`].

use super::fused::Real;

/// GroupNorm's `ε` in `pos_gnn` (`eps=1e-6`).
pub(crate) const EPS: f64 = 1e-6;

graph_tensor::simd_fn! {
    /// GroupNorm forward (see [`group_norm_forward_impl`]).
    pub(crate) fn group_norm_forward<'a, T: Real>(
        groups: usize, x: &'a [T], w: &'a [T], b: &'a [T], y: &'a mut [T], mean: &'a mut [T],
        rstd: &'a mut [T],
    ) -> () => group_norm_forward_impl
}

graph_tensor::simd_fn! {
    /// GroupNorm backward (see [`group_norm_backward_impl`]).
    pub(crate) fn group_norm_backward<'a, T: Real>(
        groups: usize, x: &'a [T], w: &'a [T], mean: &'a [T], rstd: &'a [T], dy: &'a [T],
        dx: &'a mut [T], dw: &'a mut [T], db: &'a mut [T],
    ) -> () => group_norm_backward_impl
}

/// `y = GroupNorm(x)` of rows `x: [M, C]` (`C = w.len()`), with each row's and group's mean
/// and `1/√(σ² + ε)` (`[M, G]`) for the backward.
#[inline(always)]
fn group_norm_forward_impl<T: Real>(
    groups: usize,
    x: &[T],
    w: &[T],
    b: &[T],
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    let c = w.len();
    let cg = c / groups;
    let inv = T::from_f64(1.0 / cg as f64);
    let eps = T::from_f64(EPS);
    for (((xr, yr), mr), rr) in x
        .chunks_exact(c)
        .zip(y.chunks_exact_mut(c))
        .zip(mean.chunks_exact_mut(groups))
        .zip(rstd.chunks_exact_mut(groups))
    {
        for (g, (m, r)) in mr.iter_mut().zip(rr.iter_mut()).enumerate() {
            let s = g * cg..(g + 1) * cg;
            let xs = &xr[s.clone()];
            let mut sum = T::ZERO;
            for &v in xs {
                sum += v;
            }
            let mu = sum * inv;
            let mut sq = T::ZERO;
            for &v in xs {
                sq += (v - mu) * (v - mu);
            }
            let rs = T::ONE / (sq * inv + eps).sqrt();
            for (((o, &v), &wc), &bc) in yr[s.clone()]
                .iter_mut()
                .zip(xs)
                .zip(&w[s.clone()])
                .zip(&b[s])
            {
                *o = (v - mu) * rs * wc + bc;
            }
            (*m, *r) = (mu, rs);
        }
    }
}

/// The gradient of [`group_norm_forward`] from `dy: [M, C]`: writes `dx: [M, C]` and
/// overwrites `dw, db: [C]` with the sums over the rows (in row order).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn group_norm_backward_impl<T: Real>(
    groups: usize,
    x: &[T],
    w: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
) {
    let c = w.len();
    let cg = c / groups;
    let inv = T::from_f64(1.0 / cg as f64);
    dw.fill(T::ZERO);
    db.fill(T::ZERO);
    for ((((xr, dyr), dxr), mr), rr) in x
        .chunks_exact(c)
        .zip(dy.chunks_exact(c))
        .zip(dx.chunks_exact_mut(c))
        .zip(mean.chunks_exact(groups))
        .zip(rstd.chunks_exact(groups))
    {
        for (g, (&mu, &rs)) in mr.iter().zip(rr).enumerate() {
            let s = g * cg..(g + 1) * cg;
            let (mut sg, mut sgx) = (T::ZERO, T::ZERO);
            for ((&v, &d), &wc) in xr[s.clone()].iter().zip(&dyr[s.clone()]).zip(&w[s.clone()]) {
                let gg = d * wc;
                sg += gg;
                sgx += gg * ((v - mu) * rs);
            }
            let (mg, mgx) = (sg * inv, sgx * inv);
            for (((((o, &v), &d), &wc), dwc), dbc) in dxr[s.clone()]
                .iter_mut()
                .zip(&xr[s.clone()])
                .zip(&dyr[s.clone()])
                .zip(&w[s.clone()])
                .zip(dw[s.clone()].iter_mut())
                .zip(db[s].iter_mut())
            {
                let xh = (v - mu) * rs;
                *o = rs * (d * wc - mg - xh * mgx);
                *dwc += d * xh;
                *dbc += d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{Kind, Tensor};

    fn vals(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.detach().contiguous().view([-1])).unwrap()
    }

    /// Forward and backward against libtorch's autograd of the same formula
    /// (`nn::GroupNorm::forward`), in float64: groups of 4 channels (the official) and of 1.
    #[test]
    fn forward_and_backward_match_autograd() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (m, c, groups) in [(37usize, 32usize, 8usize), (5, 6, 6), (3, 12, 1)] {
            let r = |n: usize, rng: &mut ChaCha8Rng| -> Vec<f64> {
                (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect()
            };
            let (xv, wv, bv, dyv) = (
                r(m * c, &mut rng),
                r(c, &mut rng),
                r(c, &mut rng),
                r(m * c, &mut rng),
            );
            let x = Tensor::from_slice(&xv)
                .view([m as i64, c as i64])
                .set_requires_grad(true);
            let w = Tensor::from_slice(&wv).set_requires_grad(true);
            let b = Tensor::from_slice(&bv).set_requires_grad(true);
            let g = x.view([m as i64, groups as i64, (c / groups) as i64]);
            let d = &g - g.mean_dim([2i64].as_slice(), true, Kind::Double);
            let var = d.square().mean_dim([2i64].as_slice(), true, Kind::Double);
            let want = (d * (var + EPS).rsqrt()).view([m as i64, c as i64]) * &w + &b;
            let dy = Tensor::from_slice(&dyv).view([m as i64, c as i64]);
            let grads = Tensor::run_backward(
                &[(&want * &dy).sum(Kind::Double)],
                &[&x, &w, &b],
                false,
                false,
            );

            let (mut y, mut mean, mut rstd) = (
                vec![f64::NAN; m * c],
                vec![f64::NAN; m * groups],
                vec![f64::NAN; m * groups],
            );
            group_norm_forward(groups, &xv, &wv, &bv, &mut y, &mut mean, &mut rstd);
            let (mut dx, mut dw, mut db) =
                (vec![f64::NAN; m * c], vec![f64::NAN; c], vec![f64::NAN; c]);
            group_norm_backward(
                groups, &xv, &wv, &mean, &rstd, &dyv, &mut dx, &mut dw, &mut db,
            );
            for (got, want, what) in [
                (y, vals(&want), "y"),
                (dx, vals(&grads[0]), "dx"),
                (dw, vals(&grads[1]), "dw"),
                (db, vals(&grads[2]), "db"),
            ] {
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                        "{what}: {a} vs {b} ({m}×{c}, {groups} groups)"
                    );
                }
            }
        }
    }
}
