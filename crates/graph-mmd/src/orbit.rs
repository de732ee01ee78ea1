//! Node orbits of the 2-, 3- and 4-node graphlets (ORCA numbering), counted natively.
//!
//! Orbits, as `orca node 4` numbers them (Hočevar & Demšar, ORCA; the copies of `orca.cpp` in
//! GraphRNN/GDSS/GRAN/SPECTRE/DiGress are byte-identical):
//!
//! | orbit | graphlet | position |
//! |---|---|---|
//! | 0 | edge | either end |
//! | 1, 2 | path P3 | end, middle |
//! | 3 | triangle | any |
//! | 4, 5 | path P4 | end, middle |
//! | 6, 7 | star K1,3 | leaf, centre |
//! | 8 | cycle C4 | any |
//! | 9, 10, 11 | paw (triangle + pendant) | pendant, triangle node of degree 2, of degree 3 |
//! | 12, 13 | diamond (K4 minus an edge) | node of degree 2, of degree 3 |
//! | 14 | K4 | any |
//!
//! Counts are of **induced** graphlets. The algorithm has ORCA's complexity: it counts, for
//! every node, the *non-induced* occurrences of each 4-node graphlet from degrees, triangle
//! counts, common-neighbour counts of node pairs (rows of A²) and per-edge common-neighbour
//! counts, plus an explicit enumeration of 4-cliques; then it turns them into induced counts by
//! inverting the fixed upper-triangular system "non-induced = M · induced", where `M[i][j]`
//! is the number of spanning subgraphs of graphlet `j` that are copies of graphlet `i` with the
//! node of orbit `j` sitting at orbit `i`. Time `O(Σ_v d_v² + T·d_max·log d_max)` (T =
//! triangles), memory `O(n + m)`.

use graph_tensor::Graph;

/// Number of node orbits of graphlets with 2 to 4 nodes.
pub const NUM_ORBITS: usize = 15;

/// Compressed sparse rows of a graph's adjacency (neighbour lists sorted).
struct Csr {
    offsets: Vec<usize>,
    targets: Vec<usize>,
}

impl Csr {
    fn new(g: &Graph) -> Self {
        let n = g.n();
        let mut deg = vec![0usize; n];
        for &(u, v) in g.edges() {
            deg[u] += 1;
            deg[v] += 1;
        }
        let mut offsets = vec![0usize; n + 1];
        for v in 0..n {
            offsets[v + 1] = offsets[v] + deg[v];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0usize; offsets[n]];
        for &(u, v) in g.edges() {
            targets[fill[u]] = v;
            fill[u] += 1;
            targets[fill[v]] = u;
            fill[v] += 1;
        }
        for v in 0..n {
            targets[offsets[v]..offsets[v + 1]].sort_unstable();
        }
        Csr { offsets, targets }
    }

    #[inline]
    fn nbrs(&self, v: usize) -> &[usize] {
        &self.targets[self.offsets[v]..self.offsets[v + 1]]
    }

    #[inline]
    fn deg(&self, v: usize) -> usize {
        self.offsets[v + 1] - self.offsets[v]
    }

    /// Slot of `y` in `x`'s list, if adjacent.
    #[inline]
    fn slot(&self, x: usize, y: usize) -> Option<usize> {
        self.nbrs(x)
            .binary_search(&y)
            .ok()
            .map(|i| self.offsets[x] + i)
    }
}

#[inline]
fn choose2(k: u64) -> u64 {
    if k < 2 {
        0
    } else {
        k * (k - 1) / 2
    }
}

#[inline]
fn choose3(k: u64) -> u64 {
    if k < 3 {
        0
    } else {
        k * (k - 1) * (k - 2) / 6
    }
}

/// Per-node induced orbit counts: `result[v][k]` is the number of induced graphlets in which
/// node `v` sits at orbit `k` (what `orca node 4` prints for node `v`).
pub fn node_orbits(g: &Graph) -> Vec<[u64; NUM_ORBITS]> {
    let n = g.n();
    let csr = Csr::new(g);
    let deg: Vec<u64> = (0..n).map(|v| csr.deg(v) as u64).collect();

    // Reverse slot of every directed slot, to keep per-edge counts symmetric.
    let m2 = csr.targets.len();
    let mut rev = vec![0usize; m2];
    for x in 0..n {
        for (i, &y) in csr.nbrs(x).iter().enumerate() {
            rev[csr.offsets[x] + i] = csr.slot(y, x).expect("symmetric adjacency");
        }
    }

    // Triangles (enumerated once each, as x < y < z), per-node triangle counts t, per-edge
    // common-neighbour counts c (stored on both slots), K4 per node, and the per-node sum
    // Σ_{triangles {v,x,y}} (c_xy − 1) needed for the diamond tips (orbit 12).
    let mut tri = vec![0u64; n];
    let mut cslot = vec![0u64; m2];
    let mut k4 = vec![0u64; n];
    let mut triangles: Vec<(usize, usize, usize, usize, usize, usize)> = Vec::new();
    // mark[w] = 1 + slot of w in x's list, for w ∈ N(x).
    let mut mark = vec![0usize; n];
    for x in 0..n {
        for (i, &w) in csr.nbrs(x).iter().enumerate() {
            mark[w] = csr.offsets[x] + i + 1;
        }
        for (iy, &y) in csr.nbrs(x).iter().enumerate() {
            if y <= x {
                continue;
            }
            let sxy = csr.offsets[x] + iy;
            for (iz, &z) in csr.nbrs(y).iter().enumerate() {
                if z <= y || mark[z] == 0 {
                    continue;
                }
                let syz = csr.offsets[y] + iz;
                let sxz = mark[z] - 1;
                tri[x] += 1;
                tri[y] += 1;
                tri[z] += 1;
                for s in [sxy, syz, sxz] {
                    cslot[s] += 1;
                    cslot[rev[s]] += 1;
                }
                triangles.push((x, y, z, sxy, syz, sxz));
                // 4-cliques {x, y, z, w} with w > z, each found once.
                for &w in csr.nbrs(z) {
                    if w > z && mark[w] != 0 && csr.slot(y, w).is_some() {
                        k4[x] += 1;
                        k4[y] += 1;
                        k4[z] += 1;
                        k4[w] += 1;
                    }
                }
            }
        }
        for &w in csr.nbrs(x) {
            mark[w] = 0;
        }
    }
    let mut n12 = vec![0u64; n];
    for &(x, y, z, sxy, syz, sxz) in &triangles {
        // Tip x of a diamond on edge yz: c_yz − 1 choices of the other tip.
        n12[x] += cslot[syz] - 1;
        n12[y] += cslot[sxz] - 1;
        n12[z] += cslot[sxy] - 1;
    }

    // S_a = Σ_{b ∈ N(a)} (d_b − 1).
    let s: Vec<u64> = (0..n)
        .map(|a| csr.nbrs(a).iter().map(|&b| deg[b] - 1).sum())
        .collect();

    let mut out = vec![[0u64; NUM_ORBITS]; n];
    let mut cnt = vec![0u64; n];
    let mut touched: Vec<usize> = Vec::new();
    for v in 0..n {
        let dv = deg[v];
        let tv = tri[v];
        let nb = csr.nbrs(v);
        // Row v of A² (common neighbours with every other node) for the 4-cycles.
        for &a in nb {
            for &w in csr.nbrs(a) {
                if w != v {
                    if cnt[w] == 0 {
                        touched.push(w);
                    }
                    cnt[w] += 1;
                }
            }
        }
        let mut n8 = 0u64;
        for &w in &touched {
            n8 += choose2(cnt[w]);
            cnt[w] = 0;
        }
        touched.clear();

        let mut n4 = 0u64;
        let mut sum_db1 = 0u64;
        let mut n6 = 0u64;
        let mut n9 = 0u64;
        let mut n10 = 0u64;
        let mut n13 = 0u64;
        let mut o1 = 0u64;
        for (i, &x) in nb.iter().enumerate() {
            let cvx = cslot[csr.offsets[v] + i];
            let dx = deg[x];
            n4 += s[x] - (dv - 1);
            sum_db1 += dx - 1;
            n6 += choose2(dx - 1);
            n9 += tri[x] - cvx;
            if cvx > 0 {
                // x has v and the third triangle node as neighbours, so dx ≥ 2.
                n10 += cvx * (dx - 2);
            }
            n13 += choose2(cvx);
            o1 += dx - 1;
        }
        // Non-induced counts (see the module docs).
        let n4 = n4 - 2 * tv;
        let n5 = if dv == 0 {
            0
        } else {
            (dv - 1) * sum_db1 - 2 * tv
        };
        let n7 = choose3(dv);
        let n11 = if dv < 2 { 0 } else { tv * (dv - 2) };
        let n12v = n12[v];
        let n14 = k4[v];

        // Invert "non-induced = M · induced" (back substitution, highest orbit first).
        let o14 = n14;
        let o13 = n13 - 3 * o14;
        let o12 = n12v - 3 * o14;
        let o11 = n11 - 2 * o13 - 3 * o14;
        let o10 = n10 - 2 * o12 - 2 * o13 - 6 * o14;
        let o9 = n9 - 2 * o12 - 3 * o14;
        let o8 = n8 - o12 - o13 - 3 * o14;
        let o7 = n7 - o11 - o13 - o14;
        let o6 = n6 - o9 - o10 - 2 * o12 - o13 - 3 * o14;
        let o5 = n5 - 2 * o8 - o10 - 2 * o11 - 2 * o12 - 4 * o13 - 6 * o14;
        let o4 = n4 - 2 * o8 - 2 * o9 - o10 - 4 * o12 - 2 * o13 - 6 * o14;

        out[v] = [
            dv,
            o1 - 2 * tv,
            choose2(dv) - tv,
            tv,
            o4,
            o5,
            o6,
            o7,
            o8,
            o9,
            o10,
            o11,
            o12,
            o13,
            o14,
        ];
    }
    out
}

/// Column sums of [`node_orbits`]: the total count of every orbit over all nodes.
pub fn orbit_totals(g: &Graph) -> [u64; NUM_ORBITS] {
    let mut t = [0u64; NUM_ORBITS];
    for row in node_orbits(g) {
        for (a, b) in t.iter_mut().zip(row) {
            *a += b;
        }
    }
    t
}

/// The orbit feature of the reference evaluators: `np.sum(orbit_counts, axis=0) / n`
/// (isolated nodes included in `n`). `None` for a graph with no nodes, which ORCA cannot
/// process and the reference code skips.
pub fn orbit_feature(g: &Graph) -> Option<[f64; NUM_ORBITS]> {
    if g.n() == 0 {
        return None;
    }
    let t = orbit_totals(g);
    let n = g.n() as f64;
    Some(t.map(|c| c as f64 / n))
}

/// Slow oracle: per-node orbit counts by enumerating every 2-, 3- and 4-node subset and
/// classifying its induced subgraph. `O(n⁴)`; for tests and for checking other counters.
pub fn node_orbits_by_enumeration(g: &Graph) -> Vec<[u64; NUM_ORBITS]> {
    let n = g.n();
    let mut out = vec![[0u64; NUM_ORBITS]; n];
    let adj = g.to_dense();
    let a = |x: usize, y: usize| adj[x * n + y] != 0;
    for x in 0..n {
        for y in x + 1..n {
            if a(x, y) {
                out[x][0] += 1;
                out[y][0] += 1;
            }
            for z in y + 1..n {
                let nodes = [x, y, z];
                let mut d = [0usize; 3];
                let mut m = 0;
                for i in 0..3 {
                    for j in i + 1..3 {
                        if a(nodes[i], nodes[j]) {
                            d[i] += 1;
                            d[j] += 1;
                            m += 1;
                        }
                    }
                }
                match m {
                    2 => {
                        for i in 0..3 {
                            out[nodes[i]][if d[i] == 1 { 1 } else { 2 }] += 1;
                        }
                    }
                    3 => {
                        for &v in &nodes {
                            out[v][3] += 1;
                        }
                    }
                    _ => {}
                }
                for w in z + 1..n {
                    let nodes = [x, y, z, w];
                    let mut d = [0usize; 4];
                    let mut m = 0;
                    for i in 0..4 {
                        for j in i + 1..4 {
                            if a(nodes[i], nodes[j]) {
                                d[i] += 1;
                                d[j] += 1;
                                m += 1;
                            }
                        }
                    }
                    if m < 3 || d.contains(&0) {
                        continue;
                    }
                    let maxd = *d.iter().max().expect("4 entries");
                    for i in 0..4 {
                        let orbit = match (m, maxd, d[i]) {
                            (3, 2, 1) => 4,
                            (3, 2, 2) => 5,
                            (3, 3, 1) => 6,
                            (3, 3, 3) => 7,
                            (4, 2, _) => 8,
                            (4, 3, 1) => 9,
                            (4, 3, 2) => 10,
                            (4, 3, 3) => 11,
                            (5, _, 2) => 12,
                            (5, _, 3) => 13,
                            (6, _, _) => 14,
                            _ => unreachable!("connected 4-node graphs are classified above"),
                        };
                        out[nodes[i]][orbit] += 1;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(n: usize, e: &[(usize, usize)]) -> Graph {
        Graph::new(n, e.iter().copied()).unwrap()
    }

    fn complete(n: usize) -> Graph {
        let mut e = vec![];
        for u in 0..n {
            for v in u + 1..n {
                e.push((u, v));
            }
        }
        g(n, &e)
    }

    /// Both counters agree, and equal the expected per-node vectors.
    fn check(graph: &Graph, expected: &[[u64; 15]]) {
        assert_eq!(node_orbits_by_enumeration(graph), expected, "enumeration");
        assert_eq!(node_orbits(graph), expected, "closed form");
    }

    // Expected vectors derived by hand from the graphlet definitions (and equal to ORCA's
    // `orca node 4` output on the same graphs, evaluation.md §5).
    #[test]
    fn k4() {
        let row = [3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        check(&complete(4), &[row; 4]);
    }

    #[test]
    fn paw() {
        // Triangle 0-1-2, pendant 3 on node 0.
        let gr = g(4, &[(0, 1), (0, 2), (1, 2), (0, 3)]);
        check(
            &gr,
            &[
                [3, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
                [2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                [2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                [1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
            ],
        );
    }

    #[test]
    fn diamond() {
        // K4 minus edge 2-3: nodes 0, 1 have degree 3, nodes 2, 3 degree 2.
        let gr = g(4, &[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]);
        let hub = [3, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        let tip = [2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
        check(&gr, &[hub, hub, tip, tip]);
    }

    #[test]
    fn star_and_c4_with_isolated() {
        let star = g(5, &[(0, 1), (0, 2), (0, 3), (0, 4)]);
        let centre = [4, 0, 6, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
        let leaf = [1, 3, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        check(&star, &[centre, leaf, leaf, leaf, leaf]);
        // C4 on 0..4 plus isolated nodes 4 and 5.
        let c4 = g(6, &[(0, 1), (1, 2), (2, 3), (0, 3)]);
        let on = [2, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        check(&c4, &[on, on, on, on, [0; 15], [0; 15]]);
    }

    #[test]
    fn p5() {
        let p5 = g(5, &[(0, 1), (1, 2), (2, 3), (3, 4)]);
        check(
            &p5,
            &[
                [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                [2, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                [2, 2, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                [2, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ],
        );
    }

    #[test]
    fn k12_edgeless_single() {
        // K12: every node has degree 11, C(11,2) triangles, C(11,3) 4-cliques.
        let row = [11, 0, 0, 55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 165];
        check(&complete(12), &[row; 12]);
        check(&Graph::empty(7), &[[0; 15]; 7]);
        check(&Graph::empty(1), &[[0; 15]; 1]);
        check(&Graph::empty(0), &[]);
        assert_eq!(orbit_feature(&Graph::empty(0)), None);
    }

    fn random_graph(n: usize, p: f64, seed: u64) -> Graph {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut e = vec![];
        for u in 0..n {
            for v in u + 1..n {
                if rng.gen::<f64>() < p {
                    e.push((u, v));
                }
            }
        }
        g(n, &e)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn closed_form_equals_enumeration(n in 0usize..22, p in 0.0f64..1.0, seed in any::<u64>()) {
            let gr = random_graph(n, p, seed);
            prop_assert_eq!(node_orbits(&gr), node_orbits_by_enumeration(&gr));
        }

        #[test]
        fn permutation_equivariant(n in 1usize..16, p in 0.0f64..1.0, seed in any::<u64>()) {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let gr = random_graph(n, p, seed);
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 1));
            let a = node_orbits(&gr);
            let b = node_orbits(&gr.permute(&perm));
            for v in 0..n {
                prop_assert_eq!(a[v], b[perm[v]]);
            }
        }
    }
}
