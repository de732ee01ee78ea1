//! What the PGSN reads from the noisy adjacency, without gradient (`models/pgsn.py`,
//! `models/utils.get_rw_feat`): the continuous and quantised adjacency, the random-walk
//! return probabilities and the "SPD" index, the degree class.

use tch::{Kind, Tensor};

/// The adjacency views of one group, all `[Bg, n, n]` unless noted.
#[derive(Debug)]
pub(crate) struct AdjViews {
    /// `clamp((x + 1)/2 · mask, 0, 1)`, entries below `edge_th` zeroed when `edge_th > 0`.
    pub cont: Tensor,
    /// `(x ≥ 0) · mask`.
    pub quant: Tensor,
    /// Message-passing edges `i → j`: `cont[b, i, j] > 0` (bool).
    pub edges: Tensor,
}

/// `cont_adj` and `adj` of `PGSN.forward`.
pub(crate) fn adjacency_views(x: &Tensor, pair_mask: &Tensor, edge_th: f64) -> AdjViews {
    let mut cont = ((x + 1.0) / 2.0 * pair_mask).clamp(0.0, 1.0);
    if edge_th > 0.0 {
        cont = cont.where_self(&cont.ge(edge_th), &cont.zeros_like());
    }
    let quant = x.ge(0.0).to_kind(x.kind()) * pair_mask;
    let edges = cont.gt(0.0);
    AdjViews { cont, quant, edges }
}

/// Random-walk features of `get_rw_feat(K, adj)`: with `AD = A / (deg + 1e-8)`, the powers
/// `AD², …, AD^{K+1}` (the code builds `AD¹..AD^{K+1}` by repeated `bmm` and drops `AD¹`).
/// Returns the return probabilities `[Bg, n, K]` (`(AD^{k+2})_ii` at `k`) and the "SPD"
/// index `[Bg, n, n]` i64: the number of those powers with `(AD^k)_ij ≤ 0`, a zero-walk count
/// in `0..=K` (not a shortest-path distance).
pub(crate) fn random_walk(quant: &Tensor, k_steps: usize) -> (Tensor, Tensor) {
    let deg = quant.sum_dim_intlist([-1i64].as_slice(), true, quant.kind());
    let ad = quant / (deg + 1e-8);
    let mut cur = ad.shallow_clone();
    let mut landing = Vec::with_capacity(k_steps);
    let mut zero_count = Tensor::zeros(quant.size(), (Kind::Int64, quant.device()));
    for _ in 0..k_steps {
        cur = cur.bmm(&ad);
        landing.push(cur.diagonal(0, 1, 2));
        zero_count += cur.le(0.0).to_kind(Kind::Int64);
    }
    (Tensor::stack(&landing, -1), zero_count)
}

/// Degree classes `[Bg, n]` i64: `floor(min(Σ_j cont_ij, degree_max))` (the continuous
/// adjacency, clamped before the integer cast).
pub(crate) fn degree_class(cont: &Tensor, degree_max: usize) -> Tensor {
    cont.sum_dim_intlist([-1i64].as_slice(), false, cont.kind())
        .clamp_max(degree_max as f64)
        .to_kind(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn path_graph_walks() {
        // path 0-1-2: bipartite, so odd powers have zero diagonal, even powers zero off the
        // same side.
        let a = Tensor::from_slice(&[0f64, 1., 0., 1., 0., 1., 0., 1., 0.]).view([1, 3, 3]);
        let (landing, spd) = random_walk(&a, 3);
        let l = Vec::<f64>::try_from(&landing.reshape([-1])).unwrap();
        // AD² diag: node 0 → 1 → 0 with prob 1·1/2 = 0.5 (up to the 1e-8 in the degree);
        // node 1: 1; AD³ diag exactly 0 (bipartite)
        assert!((l[0] - 0.5).abs() < 1e-7 && l[1] == 0.0);
        assert!((l[3] - 1.0).abs() < 1e-7);
        let s = Vec::<i64>::try_from(&spd.reshape([-1])).unwrap();
        // pair (0, 1): walks of length 2, 4 are zero, 3 is not → 2 zeros of 3
        assert_eq!(s[1], 2);
        // pair (0, 2): length 2 and 4 non-zero, length 3 zero
        assert_eq!(s[2], 1);
        let deg = degree_class(&a, 1);
        assert_eq!(
            Vec::<i64>::try_from(&deg.reshape([-1])).unwrap(),
            vec![1, 1, 1]
        );
        let views = adjacency_views(
            &(a * 2.0 - 1.0),
            &Tensor::ones([1, 3, 3], (Kind::Double, Device::Cpu)),
            -1.0,
        );
        assert_eq!(views.edges.sum(Kind::Int64).int64_value(&[]), 4);
    }
}
