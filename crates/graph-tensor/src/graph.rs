//! [`Graph`]: an undirected simple graph with a canonical edge list.

use std::fmt;

use petgraph::graph::{NodeIndex, UnGraph};
use serde::{Deserialize, Serialize};

/// Why a set of edges does not make an undirected simple graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// An edge joins a node to itself.
    #[error("self-loop at node {node}")]
    SelfLoop {
        /// The node with the loop.
        node: usize,
    },
    /// The same undirected edge appears twice.
    #[error("duplicate edge {u}-{v}")]
    DuplicateEdge {
        /// Smaller endpoint.
        u: usize,
        /// Larger endpoint.
        v: usize,
    },
    /// An endpoint is not one of the graph's nodes `0..n`.
    #[error("edge {u}-{v} names node {node}, but the graph has only {n} nodes (0..{n})")]
    NodeOutOfRange {
        /// First endpoint as given.
        u: usize,
        /// Second endpoint as given.
        v: usize,
        /// The endpoint that is out of range.
        node: usize,
        /// Number of nodes.
        n: usize,
    },
    /// A dense adjacency matrix is not `n × n` or not symmetric.
    #[error("adjacency matrix: {0}")]
    Dense(String),
}

/// An undirected simple graph on nodes `0..n` (isolated nodes allowed).
///
/// Invariant: `edges` holds each edge once as `(u, v)` with `u < v < n`, sorted
/// lexicographically. Two graphs are `==` exactly when they have the same labelled edges.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "GraphRepr", into = "GraphRepr")]
pub struct Graph {
    n: usize,
    edges: Vec<(usize, usize)>,
}

/// Serialised form: `{"n": N, "edges": [[u, v], ...]}` (the JSON-lines graph format).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphRepr {
    n: usize,
    edges: Vec<(usize, usize)>,
}

impl TryFrom<GraphRepr> for Graph {
    type Error = GraphError;
    fn try_from(r: GraphRepr) -> Result<Self, GraphError> {
        Graph::new(r.n, r.edges)
    }
}

impl From<Graph> for GraphRepr {
    fn from(g: Graph) -> Self {
        GraphRepr {
            n: g.n,
            edges: g.edges,
        }
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph(n={}, edges={:?})", self.n, self.edges)
    }
}

impl Graph {
    /// Builds a graph on `n` nodes from undirected edges in any order and orientation.
    ///
    /// Self-loops, repeated edges (in either orientation) and endpoints `>= n` are errors.
    pub fn new<I>(n: usize, edges: I) -> Result<Self, GraphError>
    where
        I: IntoIterator<Item = (usize, usize)>,
    {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (u, v) in edges {
            for node in [u, v] {
                if node >= n {
                    return Err(GraphError::NodeOutOfRange { u, v, node, n });
                }
            }
            if u == v {
                return Err(GraphError::SelfLoop { node: u });
            }
            out.push((u.min(v), u.max(v)));
        }
        out.sort_unstable();
        if let Some(w) = out.windows(2).find(|w| w[0] == w[1]) {
            return Err(GraphError::DuplicateEdge {
                u: w[0].0,
                v: w[0].1,
            });
        }
        Ok(Graph { n, edges: out })
    }

    /// Like [`Graph::new`], but silently drops self-loops and repeated edges (endpoints out of
    /// range are still an error). Used where a reference pipeline does the same, e.g. networkx's
    /// `remove_edges_from(selfloop_edges(G))` in the ego-small recipe.
    pub fn new_simplified<I>(n: usize, edges: I) -> Result<Self, GraphError>
    where
        I: IntoIterator<Item = (usize, usize)>,
    {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (u, v) in edges {
            for node in [u, v] {
                if node >= n {
                    return Err(GraphError::NodeOutOfRange { u, v, node, n });
                }
            }
            if u != v {
                out.push((u.min(v), u.max(v)));
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(Graph { n, edges: out })
    }

    /// The graph with `n` nodes and no edges.
    pub fn empty(n: usize) -> Self {
        Graph {
            n,
            edges: Vec::new(),
        }
    }

    /// Number of nodes (isolated ones included).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }

    /// Canonical edge list: `(u, v)` with `u < v`, sorted.
    pub fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }

    /// Whether `u` and `v` are adjacent (binary search in the canonical list).
    pub fn has_edge(&self, u: usize, v: usize) -> bool {
        u != v && self.edges.binary_search(&(u.min(v), u.max(v))).is_ok()
    }

    /// Degree of every node.
    pub fn degrees(&self) -> Vec<usize> {
        let mut d = vec![0; self.n];
        for &(u, v) in &self.edges {
            d[u] += 1;
            d[v] += 1;
        }
        d
    }

    /// Sorted neighbour lists of every node.
    pub fn adjacency_lists(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.n];
        for &(u, v) in &self.edges {
            adj[u].push(v);
            adj[v].push(u);
        }
        for a in &mut adj {
            a.sort_unstable();
        }
        adj
    }

    /// Dense 0/1 adjacency, row-major `n × n`, symmetric with zero diagonal.
    pub fn to_dense(&self) -> Vec<u8> {
        let n = self.n;
        let mut a = vec![0u8; n * n];
        for &(u, v) in &self.edges {
            a[u * n + v] = 1;
            a[v * n + u] = 1;
        }
        a
    }

    /// Builds a graph from a dense row-major `n × n` matrix: entry `(u, v)`, `u < v`, is an edge
    /// when it is `>= threshold`. Only the upper triangle is read; the diagonal is ignored.
    pub fn from_dense_upper(n: usize, a: &[f32], threshold: f32) -> Result<Self, GraphError> {
        if a.len() != n * n {
            return Err(GraphError::Dense(format!(
                "{} entries for a {n}×{n} matrix",
                a.len()
            )));
        }
        let mut edges = Vec::new();
        for u in 0..n {
            for v in u + 1..n {
                if a[u * n + v] >= threshold {
                    edges.push((u, v));
                }
            }
        }
        Ok(Graph { n, edges })
    }

    /// Builds a graph from a dense row-major 0/1 `n × n` matrix that must be symmetric with a
    /// zero diagonal (any non-zero entry is an edge).
    pub fn from_dense(n: usize, a: &[u8]) -> Result<Self, GraphError> {
        if a.len() != n * n {
            return Err(GraphError::Dense(format!(
                "{} entries for a {n}×{n} matrix",
                a.len()
            )));
        }
        let mut edges = Vec::new();
        for u in 0..n {
            if a[u * n + u] != 0 {
                return Err(GraphError::SelfLoop { node: u });
            }
            for v in u + 1..n {
                let (x, y) = (a[u * n + v] != 0, a[v * n + u] != 0);
                if x != y {
                    return Err(GraphError::Dense(format!("not symmetric at ({u}, {v})")));
                }
                if x {
                    edges.push((u, v));
                }
            }
        }
        Ok(Graph { n, edges })
    }

    /// The same graph with node `i` renamed `perm[i]`. `perm` must be a permutation of `0..n`.
    ///
    /// # Panics
    /// If `perm` is not a permutation of `0..n` (a programming error, not bad input).
    pub fn permute(&self, perm: &[usize]) -> Graph {
        assert_eq!(perm.len(), self.n, "permutation length must equal n");
        let mut seen = vec![false; self.n];
        for &p in perm {
            assert!(p < self.n && !seen[p], "not a permutation of 0..n");
            seen[p] = true;
        }
        let mut edges: Vec<(usize, usize)> = self
            .edges
            .iter()
            .map(|&(u, v)| {
                let (a, b) = (perm[u], perm[v]);
                (a.min(b), a.max(b))
            })
            .collect();
        edges.sort_unstable();
        Graph { n: self.n, edges }
    }

    /// The induced subgraph on `nodes` (in that order: `nodes[i]` becomes node `i`).
    /// Duplicate or out-of-range entries are a programming error and panic.
    pub fn induced_subgraph(&self, nodes: &[usize]) -> Graph {
        let mut index = vec![usize::MAX; self.n];
        for (i, &v) in nodes.iter().enumerate() {
            assert!(index[v] == usize::MAX, "node {v} listed twice");
            index[v] = i;
        }
        let mut edges: Vec<(usize, usize)> = self
            .edges
            .iter()
            .filter(|&&(u, v)| index[u] != usize::MAX && index[v] != usize::MAX)
            .map(|&(u, v)| (index[u].min(index[v]), index[u].max(index[v])))
            .collect();
        edges.sort_unstable();
        Graph {
            n: nodes.len(),
            edges,
        }
    }

    /// The graph without its isolated (degree-0) nodes, remaining nodes renumbered in order.
    /// This is what the EDP-GNN / GDSS pipelines do to generated graphs before evaluation.
    pub fn without_isolated_nodes(&self) -> Graph {
        let deg = self.degrees();
        let keep: Vec<usize> = (0..self.n).filter(|&v| deg[v] > 0).collect();
        self.induced_subgraph(&keep)
    }

    /// Number of isolated (degree-0) nodes.
    pub fn num_isolated_nodes(&self) -> usize {
        self.degrees().iter().filter(|&&d| d == 0).count()
    }

    /// Number of triangles through every node (each triangle counted once per corner).
    ///
    /// Merges the sorted neighbour lists of each edge's endpoints: O(Σ_edges (d_u + d_v)).
    pub fn triangles_per_node(&self) -> Vec<usize> {
        let adj = self.adjacency_lists();
        let mut t = vec![0usize; self.n];
        for &(u, v) in &self.edges {
            let (a, b) = (&adj[u], &adj[v]);
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                match a[i].cmp(&b[j]) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        // w closes the triangle u-v-w; counted from each of its 3 edges once,
                        // so credit only the endpoints of this edge.
                        t[u] += 1;
                        t[v] += 1;
                        i += 1;
                        j += 1;
                    }
                }
            }
        }
        // Each triangle at u is seen from its two edges incident to u.
        for x in &mut t {
            *x /= 2;
        }
        t
    }

    /// Local clustering coefficient of every node, as networkx's `clustering`:
    /// `2·T_v / (d_v·(d_v − 1))`, and 0 when `d_v < 2`. The ratio of two exact integers is
    /// rounded once, so the value is bit-identical to networkx's.
    pub fn local_clustering(&self) -> Vec<f64> {
        let deg = self.degrees();
        self.triangles_per_node()
            .iter()
            .zip(&deg)
            .map(|(&t, &d)| {
                if d < 2 {
                    0.0
                } else {
                    (2 * t) as f64 / (d * (d - 1)) as f64
                }
            })
            .collect()
    }

    /// Conversion to petgraph (node `i` is `NodeIndex::new(i)`).
    pub fn to_petgraph(&self) -> UnGraph<(), ()> {
        let mut g = UnGraph::with_capacity(self.n, self.edges.len());
        for _ in 0..self.n {
            g.add_node(());
        }
        for &(u, v) in &self.edges {
            g.add_edge(NodeIndex::new(u), NodeIndex::new(v), ());
        }
        g
    }

    /// Conversion from petgraph. Self-loops and parallel edges are errors.
    pub fn from_petgraph<N, E>(g: &UnGraph<N, E>) -> Result<Self, GraphError> {
        Graph::new(
            g.node_count(),
            g.edge_indices().map(|e| {
                let (a, b) = g
                    .edge_endpoints(e)
                    .expect("edge index from the graph itself");
                (a.index(), b.index())
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_edges() {
        let g = Graph::new(4, [(2, 1), (0, 3), (1, 0)]).unwrap();
        assert_eq!(g.edges(), &[(0, 1), (0, 3), (1, 2)]);
        assert_eq!(g.degrees(), vec![2, 2, 1, 1]);
        assert!(g.has_edge(2, 1) && !g.has_edge(2, 3));
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            Graph::new(3, [(1, 1)]),
            Err(GraphError::SelfLoop { node: 1 })
        );
        assert_eq!(
            Graph::new(3, [(0, 1), (1, 0)]),
            Err(GraphError::DuplicateEdge { u: 0, v: 1 })
        );
        assert!(matches!(
            Graph::new(3, [(0, 3)]),
            Err(GraphError::NodeOutOfRange { node: 3, n: 3, .. })
        ));
        let e = Graph::new(3, [(0, 5)]).unwrap_err().to_string();
        assert!(e.contains("node 5") && e.contains("3 nodes"), "{e}");
    }

    #[test]
    fn triangles_and_clustering() {
        // K4 minus edge 2-3 (a diamond) plus a pendant node 4 on node 0.
        let g = Graph::new(5, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (0, 4)]).unwrap();
        assert_eq!(g.triangles_per_node(), vec![2, 2, 1, 1, 0]);
        let c = g.local_clustering();
        assert_eq!(c, vec![2.0 * 2.0 / 12.0, 2.0 * 2.0 / 6.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn isolated_nodes_removed() {
        let g = Graph::new(5, [(1, 3), (3, 4)]).unwrap();
        assert_eq!(g.num_isolated_nodes(), 2);
        let h = g.without_isolated_nodes();
        assert_eq!(h.n(), 3);
        assert_eq!(h.edges(), &[(0, 1), (1, 2)]);
    }

    #[test]
    fn json_form_validates() {
        let g: Graph = serde_json::from_str(r#"{"n": 3, "edges": [[0, 2], [1, 2]]}"#).unwrap();
        assert_eq!(g.num_edges(), 2);
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            r#"{"n":3,"edges":[[0,2],[1,2]]}"#
        );
        assert!(serde_json::from_str::<Graph>(r#"{"n": 2, "edges": [[0, 2]]}"#).is_err());
        assert!(serde_json::from_str::<Graph>(r#"{"n": 2, "edges": [], "x": 1}"#).is_err());
    }

    fn arb_graph() -> impl Strategy<Value = Graph> {
        (0usize..12).prop_flat_map(|n| {
            proptest::collection::vec(any::<bool>(), n * n.saturating_sub(1) / 2).prop_map(
                move |bits| {
                    let mut k = 0;
                    let mut e = Vec::new();
                    for u in 0..n {
                        for v in u + 1..n {
                            if bits[k] {
                                e.push((u, v));
                            }
                            k += 1;
                        }
                    }
                    Graph::new(n, e).unwrap()
                },
            )
        })
    }

    proptest! {
        #[test]
        fn dense_round_trip(g in arb_graph()) {
            let d = g.to_dense();
            prop_assert_eq!(Graph::from_dense(g.n(), &d).unwrap(), g.clone());
            let f: Vec<f32> = d.iter().map(|&x| x as f32).collect();
            prop_assert_eq!(Graph::from_dense_upper(g.n(), &f, 0.5).unwrap(), g);
        }

        #[test]
        fn petgraph_round_trip(g in arb_graph()) {
            prop_assert_eq!(Graph::from_petgraph(&g.to_petgraph()).unwrap(), g);
        }

        #[test]
        fn permutation_preserves_degree_multiset(g in arb_graph(), seed in any::<u64>()) {
            use rand::{seq::SliceRandom, SeedableRng};
            let mut perm: Vec<usize> = (0..g.n()).collect();
            perm.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            let h = g.permute(&perm);
            let (mut a, mut b) = (g.degrees(), h.degrees());
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
            prop_assert_eq!(h.num_edges(), g.num_edges());
        }
    }
}
