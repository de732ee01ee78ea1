//! Per-graph statistics, computed exactly as the reference evaluators compute them
//! (GraphRNN:eval/stats.py and its copies in EDP-GNN, GDSS, GRAN, SPECTRE, DiGress).

use faer::dyn_stack::{GlobalPodBuffer, PodStack};
use faer::linalg::{evd, svd};
use faer::{Mat, Parallelism};
use graph_tensor::Graph;

/// Number of clustering-coefficient bins (`np.histogram(..., bins=100, range=(0, 1))`).
pub const CLUSTERING_BINS: usize = 100;
/// Number of spectral bins (`np.histogram(eigs, bins=200, range=(-1e-5, 2))`).
pub const SPECTRAL_BINS: usize = 200;
/// Lower end of the spectral histogram range.
pub const SPECTRAL_LO: f64 = -1e-5;
/// Upper end of the spectral histogram range (closed).
pub const SPECTRAL_HI: f64 = 2.0;

/// Bin of `x` in `np.histogram(a, bins, range=(lo, hi))`, or `None` when numpy drops it
/// (outside `[lo, hi]`, or NaN).
///
/// Mirrors numpy's uniform-bin fast path (numpy/lib/_histograms_impl.py): a first guess
/// `floor((x − lo) / (hi − lo) · bins)`, then one correction step against the float64 edges
/// `np.linspace(lo, hi, bins + 1)` = `k·((hi − lo)/bins) + lo` (last edge exactly `hi`), so
/// bin `k` holds `edge[k] ≤ x < edge[k+1]` and the last bin is closed. `floor(100·x)` is
/// not the same: 0.29 lands in bin 29 here and in bin 28 with floor.
pub fn numpy_bin(x: f64, lo: f64, hi: f64, bins: usize) -> Option<usize> {
    if !(x >= lo && x <= hi) {
        return None;
    }
    let step = (hi - lo) / bins as f64;
    let edge = |k: usize| {
        if k == bins {
            hi
        } else {
            k as f64 * step + lo
        }
    };
    let f = (x - lo) / (hi - lo) * bins as f64;
    let mut k = f as usize; // truncation, as `astype(np.intp)` (f ≥ 0 here)
    if k >= bins {
        k = bins - 1;
    }
    if x < edge(k) {
        k -= 1;
    }
    if k != bins - 1 && x >= edge(k + 1) {
        k += 1;
    }
    Some(k)
}

/// `nx.degree_histogram(G)`: number of nodes of degree 0, 1, …, max degree (empty for a
/// graph with no nodes).
pub fn degree_histogram(g: &Graph) -> Vec<u64> {
    let deg = g.degrees();
    let Some(&max) = deg.iter().max() else {
        return Vec::new();
    };
    let mut h = vec![0u64; max + 1];
    for d in deg {
        h[d] += 1;
    }
    h
}

/// Triangles through every node, from sorted neighbour lists.
fn triangles(adj: &[Vec<usize>]) -> Vec<u64> {
    let n = adj.len();
    let mut t = vec![0u64; n];
    let mut mark = vec![false; n];
    for x in 0..n {
        for &w in &adj[x] {
            mark[w] = true;
        }
        for &y in adj[x].iter().filter(|&&y| y > x) {
            for &z in adj[y].iter().filter(|&&z| z > y) {
                if mark[z] {
                    t[x] += 1;
                    t[y] += 1;
                    t[z] += 1;
                }
            }
        }
        for &w in &adj[x] {
            mark[w] = false;
        }
    }
    t
}

/// networkx's local clustering `2·T_v / (d_v·(d_v − 1))` (0 when `d_v < 2`): the ratio of two
/// exact integers, rounded once, so bit-identical to networkx.
pub fn local_clustering(g: &Graph) -> Vec<f64> {
    let adj = g.adjacency_lists();
    let t = triangles(&adj);
    adj.iter()
        .zip(t)
        .map(|(a, t)| {
            let d = a.len() as u64;
            if d < 2 {
                0.0
            } else {
                (2 * t) as f64 / (d * (d - 1)) as f64
            }
        })
        .collect()
}

/// `np.histogram(list(nx.clustering(G).values()), bins=100, range=(0.0, 1.0))`: raw counts.
pub fn clustering_histogram(g: &Graph) -> Vec<u64> {
    let mut h = vec![0u64; CLUSTERING_BINS];
    for c in local_clustering(g) {
        if let Some(k) = numpy_bin(c, 0.0, 1.0, CLUSTERING_BINS) {
            h[k] += 1;
        }
    }
    h
}

/// Eigenvalues of networkx's normalized Laplacian `D^{-1/2} (D − A) D^{-1/2}` (with
/// `D^{-1/2}` set to 0 for isolated nodes, which therefore contribute eigenvalue 0), in no
/// particular order. `None` if a solver returned a non-finite value.
///
/// The matrix is block diagonal over connected components, so each component is solved on
/// its own: an isolated node gives 0 and a lone edge exactly {0, 2}. A **bipartite**
/// component with parts of sizes p ≥ q has `N = D^{-1/2} A D^{-1/2} = [[0, B], [Bᵀ, 0]]`, whose
/// eigenvalues are `±σ_i(B)` and `p − q` zeros, so its Laplacian eigenvalues are `1 ∓ σ_i` and
/// `p − q` ones: computed from the singular values of the p × q block (a backward-stable SVD,
/// about 4× less work than the dense eigenproblem; grids, trees and lobsters take this path).
/// Any other component goes to faer's dense self-adjoint solver (Householder
/// tridiagonalisation + implicit QR), on the matrix networkx builds.
pub fn normalized_laplacian_eigenvalues(g: &Graph) -> Option<Vec<f64>> {
    let n = g.n();
    let adj = g.adjacency_lists();
    let mut color = vec![u8::MAX; n];
    let mut eigs = Vec::with_capacity(n);
    let mut queue = std::collections::VecDeque::new();
    let mut nodes = Vec::new();
    let mut local = vec![0usize; n];
    let dh: Vec<f64> = adj.iter().map(|a| 1.0 / (a.len() as f64).sqrt()).collect();
    for s in 0..n {
        if color[s] != u8::MAX {
            continue;
        }
        nodes.clear();
        color[s] = 0;
        queue.push_back(s);
        let mut bipartite = true;
        while let Some(x) = queue.pop_front() {
            nodes.push(x);
            for &y in &adj[x] {
                if color[y] == u8::MAX {
                    color[y] = 1 - color[x];
                    queue.push_back(y);
                } else if color[y] == color[x] {
                    bipartite = false;
                }
            }
        }
        match nodes.len() {
            1 => eigs.push(0.0),
            2 => eigs.extend([0.0, 2.0]),
            k if bipartite => {
                nodes.sort_unstable();
                let (mut p, mut q) = (Vec::new(), Vec::new());
                for &x in &nodes {
                    if color[x] == 0 {
                        local[x] = p.len();
                        p.push(x);
                    } else {
                        local[x] = q.len();
                        q.push(x);
                    }
                }
                if p.len() < q.len() {
                    std::mem::swap(&mut p, &mut q);
                }
                let mut b = Mat::<f64>::zeros(p.len(), q.len());
                for (i, &x) in p.iter().enumerate() {
                    for &y in &adj[x] {
                        b.write(i, local[y], dh[x] * dh[y]);
                    }
                }
                let mut sv = faer::Col::<f64>::zeros(q.len());
                let req = svd::compute_svd_req::<f64>(
                    p.len(),
                    q.len(),
                    svd::ComputeVectors::No,
                    svd::ComputeVectors::No,
                    Parallelism::None,
                    Default::default(),
                )
                .ok()?;
                let mut mem = GlobalPodBuffer::new(req);
                svd::compute_svd(
                    b.as_ref(),
                    sv.as_mut(),
                    None,
                    None,
                    Parallelism::None,
                    PodStack::new(&mut mem),
                    Default::default(),
                );
                for i in 0..q.len() {
                    let v = sv.read(i);
                    if !v.is_finite() {
                        return None;
                    }
                    eigs.push(1.0 - v);
                    eigs.push(1.0 + v);
                }
                eigs.extend(std::iter::repeat_n(1.0, k - 2 * q.len()));
            }
            k => {
                nodes.sort_unstable();
                for (i, &x) in nodes.iter().enumerate() {
                    local[x] = i;
                }
                // networkx: DH @ (L @ DH) with DH = diag(1/sqrt(d)), L = D − A.
                let mut m = Mat::<f64>::zeros(k, k);
                for (i, &x) in nodes.iter().enumerate() {
                    let d = adj[x].len() as f64;
                    m.write(i, i, dh[x] * (d * dh[x]));
                    for &y in &adj[x] {
                        m.write(i, local[y], -(dh[x] * dh[y]));
                    }
                }
                let s = symmetric_eigenvalues(m.as_ref())?;
                for i in 0..k {
                    let v = s.read(i);
                    if !v.is_finite() {
                        return None;
                    }
                    eigs.push(v);
                }
            }
        }
    }
    Some(eigs)
}

/// Eigenvalues as [`normalized_laplacian_eigenvalues`] but always from the dense
/// self-adjoint solver on the whole matrix (no component split, no bipartite shortcut): the
/// straightforward computation, kept to check the fast path.
pub fn normalized_laplacian_eigenvalues_dense(g: &Graph) -> Option<Vec<f64>> {
    let n = g.n();
    if n == 0 {
        return Some(Vec::new());
    }
    let adj = g.adjacency_lists();
    let dh: Vec<f64> = adj
        .iter()
        .map(|a| {
            if a.is_empty() {
                0.0
            } else {
                1.0 / (a.len() as f64).sqrt()
            }
        })
        .collect();
    let mut m = Mat::<f64>::zeros(n, n);
    for x in 0..n {
        let d = adj[x].len() as f64;
        m.write(x, x, dh[x] * (d * dh[x]));
        for &y in &adj[x] {
            m.write(x, y, -(dh[x] * dh[y]));
        }
    }
    let s = symmetric_eigenvalues(m.as_ref())?;
    let v: Vec<f64> = (0..n).map(|i| s.read(i)).collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// 200-bin histogram of normalized-Laplacian eigenvalues over `[−1e-5, 2]` (numpy edge
/// semantics), with every eigenvalue first **clipped into `[0, 2]`**.
///
/// The reference code does not clip: a bipartite component with an edge has eigenvalue
/// exactly 2, which LAPACK returns as 2 ± a few ulp, and `np.histogram` silently drops a value
/// above 2, so its spectral MMD depends on the LAPACK build (evaluation.md §2). Clipping is
/// solver independent and equals the reference wherever its solver returned ≤ 2.
pub fn spectral_histogram(eigenvalues: &[f64]) -> Vec<u64> {
    let mut h = vec![0u64; SPECTRAL_BINS];
    for &e in eigenvalues {
        let c = e.clamp(0.0, 2.0);
        if let Some(k) = numpy_bin(c, SPECTRAL_LO, SPECTRAL_HI, SPECTRAL_BINS) {
            h[k] += 1;
        }
    }
    h
}

/// Eigenvalues of a dense symmetric matrix (faer's Hermitian solver, no eigenvectors, on the
/// calling thread: graphs are already spread over rayon's workers).
fn symmetric_eigenvalues(m: faer::MatRef<'_, f64>) -> Option<faer::Col<f64>> {
    let k = m.nrows();
    let mut s = faer::Col::<f64>::zeros(k);
    let req = evd::compute_hermitian_evd_req::<f64>(
        k,
        evd::ComputeVectors::No,
        Parallelism::None,
        Default::default(),
    )
    .ok()?;
    let mut mem = GlobalPodBuffer::new(req);
    evd::compute_hermitian_evd(
        m,
        s.as_mut(),
        None,
        Parallelism::None,
        PodStack::new(&mut mem),
        Default::default(),
    );
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_bins_differ_from_floor() {
        // Values measured in evaluation.md §2: numpy bin vs floor(100·x).
        assert_eq!(numpy_bin(0.29, 0.0, 1.0, 100), Some(29));
        assert_eq!((100.0f64 * 0.29).floor(), 28.0);
        assert_eq!(numpy_bin(0.35, 0.0, 1.0, 100), Some(34));
        assert_eq!(numpy_bin(0.58, 0.0, 1.0, 100), Some(58));
        assert_eq!(numpy_bin(1.0, 0.0, 1.0, 100), Some(99));
        assert_eq!(numpy_bin(0.0, 0.0, 1.0, 100), Some(0));
        assert_eq!(numpy_bin(1.0 + 1e-12, 0.0, 1.0, 100), None);
        assert_eq!(numpy_bin(-1e-12, 0.0, 1.0, 100), None);
        assert_eq!(numpy_bin(f64::NAN, 0.0, 1.0, 100), None);
        assert_eq!(numpy_bin(2.0, SPECTRAL_LO, SPECTRAL_HI, 200), Some(199));
        assert_eq!(numpy_bin(0.0, SPECTRAL_LO, SPECTRAL_HI, 200), Some(0));
        assert_eq!(numpy_bin(1.0, SPECTRAL_LO, SPECTRAL_HI, 200), Some(100));
    }

    #[test]
    fn bin_agrees_with_edge_definition() {
        // Exhaustive over the clustering values 2T/(d(d−1)) for d ≤ 40: the bin holds the
        // value between its float64 edges.
        for d in 2u64..=40 {
            for t in 0..=d * (d - 1) / 2 {
                let x = (2 * t) as f64 / (d * (d - 1)) as f64;
                let k = numpy_bin(x, 0.0, 1.0, 100).unwrap();
                let lo = k as f64 * 0.01;
                let hi = if k == 99 { 1.0 } else { (k + 1) as f64 * 0.01 };
                assert!(
                    lo <= x && (x < hi || (k == 99 && x <= hi)),
                    "{x} in bin {k}"
                );
            }
        }
    }

    #[test]
    fn floor_differs_on_exactly_the_measured_values() {
        // evaluation.md §2 (measured with numpy): among the 31,965 distinct values
        // 2T/(d(d−1)) with d ≤ 60, floor(100·x) picks a different bin for 11.
        let mut values: Vec<f64> = Vec::new();
        for d in 2u64..=60 {
            for t in 0..=d * (d - 1) / 2 {
                values.push((2 * t) as f64 / (d * (d - 1)) as f64);
            }
        }
        values.sort_by(f64::total_cmp);
        values.dedup_by(|a, b| a.to_bits() == b.to_bits());
        assert_eq!(values.len(), 31_965);
        let differ = values
            .iter()
            .filter(|&&x| {
                let floor = ((100.0 * x).floor() as usize).min(99);
                numpy_bin(x, 0.0, 1.0, 100) != Some(floor)
            })
            .count();
        assert_eq!(differ, 11);
    }

    #[test]
    fn degree_and_clustering() {
        let g = Graph::new(6, [(0, 1), (0, 2), (1, 2), (0, 3)]).unwrap();
        assert_eq!(degree_histogram(&g), vec![2, 1, 2, 1]);
        assert_eq!(degree_histogram(&Graph::empty(0)), Vec::<u64>::new());
        let c = local_clustering(&g);
        assert_eq!(c, vec![1.0 / 3.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let h = clustering_histogram(&g);
        assert_eq!(h[0], 3);
        assert_eq!(h[33], 1);
        assert_eq!(h[99], 2);
        assert_eq!(h.iter().sum::<u64>(), 6);
    }

    #[test]
    fn spectra() {
        // Path on 3 nodes: normalized Laplacian eigenvalues 0, 1, 2; plus an isolated node (0)
        // and a lone edge (0, 2).
        let g = Graph::new(6, [(0, 1), (1, 2), (4, 5)]).unwrap();
        let mut e = normalized_laplacian_eigenvalues(&g).unwrap();
        e.sort_by(f64::total_cmp);
        let want = [0.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{e:?}");
        }
        let h = spectral_histogram(&e);
        assert_eq!(h[0], 3);
        assert_eq!(h[100], 1);
        assert_eq!(h[199], 2);
        // K4: eigenvalues 0 and 4/3 (three times).
        let k4 = Graph::new(4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]).unwrap();
        let mut e = normalized_laplacian_eigenvalues(&k4).unwrap();
        e.sort_by(f64::total_cmp);
        assert!(e[0].abs() < 1e-12);
        for x in &e[1..] {
            assert!((x - 4.0 / 3.0).abs() < 1e-12);
        }
        assert!(normalized_laplacian_eigenvalues(&Graph::empty(0))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn fast_path_equals_dense_solver() {
        use rand::{Rng, SeedableRng};
        let mut bip = 0;
        for seed in 0..300u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n = rng.gen_range(1..40);
            let p = rng.gen_range(0.02..0.5);
            // Half the graphs bipartite: edges only between even and odd nodes.
            let only_bip = seed % 2 == 0;
            let mut e = vec![];
            for u in 0..n {
                for v in u + 1..n {
                    if (!only_bip || (u + v) % 2 == 1) && rng.gen::<f64>() < p {
                        e.push((u, v));
                    }
                }
            }
            let g = Graph::new(n, e).unwrap();
            let mut a = normalized_laplacian_eigenvalues(&g).unwrap();
            let mut b = normalized_laplacian_eigenvalues_dense(&g).unwrap();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            assert_eq!(a.len(), n);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-12, "seed {seed}: {a:?} vs {b:?}");
            }
            if only_bip && g.num_edges() > 2 {
                bip += 1;
            }
        }
        assert!(bip > 100);
    }

    #[test]
    fn clipping_keeps_values_just_above_two() {
        let h = spectral_histogram(&[2.0 + 4e-16, -3e-16, 1.0]);
        assert_eq!(h[199], 1);
        assert_eq!(h[0], 1);
        assert_eq!(h.iter().sum::<u64>(), 3);
    }
}
