//! [`DenseBatch`]: graphs as padded dense tensors, and the masking helpers every model uses.
//!
//! A batch of `B` graphs padded to `N` nodes is
//!
//! * `adj: [B, N, N]` f32, symmetric, zero diagonal, zero in every row and column of a padded
//!   node (for training data it is 0/1; a model's intermediate states may be real-valued);
//! * `mask: [B, N]` f32, 1 for a real node and 0 for padding (the reference codes' "node
//!   flags").
//!
//! Graphs built by [`DenseBatch::from_graphs`] occupy the first `n` rows (a prefix mask). A
//! mask need not be a prefix: [`degree_flags`] marks the nodes with at least one edge, the
//! EDP-GNN convention (`train.py`: `flags = A.sum(-1) > 1e-5`), and [`DenseBatch::to_graphs`]
//! turns the flagged nodes, in order, into the nodes `0..k` of each output graph.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::graph::{Graph, GraphError};
use crate::noise::derive_seed;

/// Why graphs and tensors could not be converted into each other.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A graph has more nodes than the padding size (graphs are never truncated).
    #[error("graph {index} has {nodes} nodes, more than max_nodes = {max_nodes}")]
    TooManyNodes {
        /// Position of the graph in the input.
        index: usize,
        /// Its number of nodes.
        nodes: usize,
        /// The padding size asked for.
        max_nodes: usize,
    },
    /// The adjacency and mask tensors do not have shapes `[B, N, N]` and `[B, N]`.
    #[error("adjacency has shape {adj:?} and mask {mask:?}; expected [B, N, N] and [B, N]")]
    Shape {
        /// Shape of the adjacency tensor.
        adj: Vec<i64>,
        /// Shape of the mask tensor.
        mask: Vec<i64>,
    },
    /// The adjacency and mask tensors live on different devices.
    #[error("adjacency is on {adj:?} but the mask is on {mask:?}")]
    Device {
        /// Device of the adjacency tensor.
        adj: Device,
        /// Device of the mask tensor.
        mask: Device,
    },
    /// A permutation has the wrong length or is not a permutation.
    #[error("permutation {index}: {message}")]
    Permutation {
        /// Position of the offending permutation.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A graph could not be built from the tensor (never expected: the tensor is read as an
    /// upper triangle).
    #[error("graph {index}: {err}")]
    Graph {
        /// Position of the graph in the batch.
        index: usize,
        /// The underlying error.
        err: GraphError,
    },
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for BatchError {
    fn from(e: tch::TchError) -> Self {
        BatchError::Torch(e)
    }
}

/// A batch of graphs as padded dense tensors on one device. See the [module docs](self).
#[derive(Debug)]
pub struct DenseBatch {
    adj: Tensor,
    mask: Tensor,
    node_counts: Vec<usize>,
}

impl Clone for DenseBatch {
    fn clone(&self) -> Self {
        DenseBatch {
            adj: self.adj.copy(),
            mask: self.mask.copy(),
            node_counts: self.node_counts.clone(),
        }
    }
}

impl DenseBatch {
    /// Pads `graphs` to `max_nodes` nodes: graph `b` occupies rows and columns `0..n_b`.
    ///
    /// A graph with more than `max_nodes` nodes is an error naming its position and size.
    /// `adj: [B, N, N]` 0/1 f32; `mask: [B, N]` with ones on `0..n_b`; both on `device`.
    pub fn from_graphs<'a, I>(
        graphs: I,
        max_nodes: usize,
        device: Device,
    ) -> Result<Self, BatchError>
    where
        I: IntoIterator<Item = &'a Graph>,
    {
        let graphs: Vec<&Graph> = graphs.into_iter().collect();
        let (b, n) = (graphs.len(), max_nodes);
        let mut adj = vec![0f32; b * n * n];
        let mut mask = vec![0f32; b * n];
        let mut node_counts = Vec::with_capacity(b);
        for (index, g) in graphs.iter().enumerate() {
            if g.n() > n {
                return Err(BatchError::TooManyNodes {
                    index,
                    nodes: g.n(),
                    max_nodes,
                });
            }
            let a = &mut adj[index * n * n..(index + 1) * n * n];
            for &(u, v) in g.edges() {
                a[u * n + v] = 1.0;
                a[v * n + u] = 1.0;
            }
            mask[index * n..index * n + g.n()].fill(1.0);
            node_counts.push(g.n());
        }
        let (bi, ni) = (b as i64, n as i64);
        let adj = Tensor::from_slice(&adj)
            .view([bi, ni, ni])
            .to_device(device);
        let mask = Tensor::from_slice(&mask).view([bi, ni]).to_device(device);
        Ok(DenseBatch {
            adj,
            mask,
            node_counts,
        })
    }

    /// Wraps existing tensors (`adj: [B, N, N]`, `mask: [B, N]`, converted to f32).
    ///
    /// Only shapes and devices are checked here; [`DenseBatch::check_invariants`] checks
    /// symmetry, the zero diagonal and masking. The node counts are the number of mask entries
    /// `> 0.5` per graph.
    pub fn new(adj: Tensor, mask: Tensor) -> Result<Self, BatchError> {
        let (sa, sm) = (adj.size(), mask.size());
        if sa.len() != 3 || sm.len() != 2 || sa[1] != sa[2] || sa[0] != sm[0] || sa[1] != sm[1] {
            return Err(BatchError::Shape { adj: sa, mask: sm });
        }
        if adj.device() != mask.device() {
            return Err(BatchError::Device {
                adj: adj.device(),
                mask: mask.device(),
            });
        }
        let adj = adj.f_to_kind(Kind::Float)?;
        let mask = mask.f_to_kind(Kind::Float)?;
        let counts = mask.f_gt(0.5)?.f_sum_dim_intlist(-1, false, Kind::Int64)?;
        let counts = Vec::<i64>::try_from(&counts.f_to_device(Device::Cpu)?)?;
        let node_counts = counts.into_iter().map(|c| c as usize).collect();
        Ok(DenseBatch {
            adj,
            mask,
            node_counts,
        })
    }

    /// Padded adjacency `[B, N, N]` f32.
    pub fn adj(&self) -> &Tensor {
        &self.adj
    }

    /// Node mask `[B, N]` f32 (1 = real node).
    pub fn mask(&self) -> &Tensor {
        &self.mask
    }

    /// Number of real nodes of each graph (mask entries `> 0.5`).
    pub fn node_counts(&self) -> &[usize] {
        &self.node_counts
    }

    /// Number of graphs `B`.
    pub fn batch_size(&self) -> usize {
        self.node_counts.len()
    }

    /// Padding size `N`.
    pub fn max_nodes(&self) -> usize {
        self.mask.size()[1] as usize
    }

    /// Device of both tensors.
    pub fn device(&self) -> Device {
        self.adj.device()
    }

    /// Splits the batch into its tensors `(adj, mask)`.
    pub fn into_tensors(self) -> (Tensor, Tensor) {
        (self.adj, self.mask)
    }

    /// The same batch on another device.
    pub fn to_device(&self, device: Device) -> DenseBatch {
        DenseBatch {
            adj: self.adj.to_device(device),
            mask: self.mask.to_device(device),
            node_counts: self.node_counts.clone(),
        }
    }

    /// Valid node pairs `[B, N, N]` f32: `mask_u · mask_v` for `u ≠ v`, zero on the diagonal
    /// (the `dense_adj` mask of GraphGDP and the loss mask of the discrete DDPM).
    pub fn pair_mask(&self) -> Tensor {
        pair_mask(&self.mask)
    }

    /// The batch with its mask replaced by [`degree_flags`] of its adjacency: nodes without
    /// edges are treated as absent, as EDP-GNN does in training and sampling.
    pub fn with_degree_flags(&self) -> DenseBatch {
        let mask = degree_flags(&self.adj);
        let adj = mask_adjs(&self.adj, &mask);
        DenseBatch::new(adj, mask).expect("shapes are unchanged")
    }

    /// Each graph with its real nodes permuted uniformly at random (graph `b` uses the stream
    /// `(seed, b)`, so the result does not depend on the batch composition). Padding stays
    /// padding: a prefix mask stays a prefix mask.
    pub fn permute_nodes(&self, seed: u64) -> DenseBatch {
        let n = self.max_nodes();
        let perms: Vec<Vec<usize>> = (0..self.batch_size())
            .map(|b| {
                let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[b as u64]));
                // real nodes (mask > 0.5) are shuffled among their own positions
                let real = self.real_nodes(b);
                let mut shuffled = real.clone();
                shuffled.shuffle(&mut rng);
                let mut perm: Vec<usize> = (0..n).collect();
                for (&from, &to) in real.iter().zip(&shuffled) {
                    perm[from] = to;
                }
                perm
            })
            .collect();
        self.apply_permutations(&perms)
            .expect("valid permutations by construction")
    }

    /// Relabels nodes: node `u` of graph `b` becomes node `perms[b][u]`
    /// (`adj'[perm[u], perm[v]] = adj[u, v]`, `mask'[perm[u]] = mask[u]`).
    pub fn apply_permutations(&self, perms: &[Vec<usize>]) -> Result<DenseBatch, BatchError> {
        let (b, n) = (self.batch_size(), self.max_nodes());
        if perms.len() != b {
            return Err(BatchError::Permutation {
                index: perms.len().min(b),
                message: format!("{} permutations for a batch of {b}", perms.len()),
            });
        }
        // P[b, perm[u], u] = 1, so adj' = P adj Pᵀ and mask' = P mask.
        let mut p = vec![0f32; b * n * n];
        for (index, perm) in perms.iter().enumerate() {
            let mut seen = vec![false; n];
            if perm.len() != n {
                return Err(BatchError::Permutation {
                    index,
                    message: format!("length {} for {n} padded nodes", perm.len()),
                });
            }
            for (u, &pu) in perm.iter().enumerate() {
                if pu >= n || seen[pu] {
                    return Err(BatchError::Permutation {
                        index,
                        message: format!("entry {u} = {pu} is out of range or repeated"),
                    });
                }
                seen[pu] = true;
                p[index * n * n + pu * n + u] = 1.0;
            }
        }
        let p = Tensor::from_slice(&p)
            .view([b as i64, n as i64, n as i64])
            .to_device(self.device());
        let adj = p.matmul(&self.adj).matmul(&p.transpose(1, 2));
        let mask = p.matmul(&self.mask.unsqueeze(-1)).squeeze_dim(-1);
        DenseBatch::new(adj, mask)
    }

    /// Converts back to graphs: graph `b` has the nodes whose mask is `> 0.5`, relabelled
    /// `0..k` in order, and an edge `{u, v}` when the upper-triangle entry `adj[b, u, v]` is
    /// `>= threshold` (the reference codes quantise with `A < 0.5 → 0`, i.e. threshold 0.5).
    pub fn to_graphs(&self, threshold: f32) -> Result<Vec<Graph>, BatchError> {
        let (b, n) = (self.batch_size(), self.max_nodes());
        let adj = flat_f32(&self.adj)?;
        let mask = flat_f32(&self.mask)?;
        let mut out = Vec::with_capacity(b);
        for index in 0..b {
            let nodes: Vec<usize> = (0..n).filter(|&u| mask[index * n + u] > 0.5).collect();
            let a = &adj[index * n * n..(index + 1) * n * n];
            let mut edges = Vec::new();
            for (i, &u) in nodes.iter().enumerate() {
                for (j, &v) in nodes.iter().enumerate().skip(i + 1) {
                    if a[u * n + v] >= threshold {
                        edges.push((i, j));
                    }
                }
            }
            let g =
                Graph::new(nodes.len(), edges).map_err(|err| BatchError::Graph { index, err })?;
            out.push(g);
        }
        Ok(out)
    }

    /// Checks the invariants of a batch: adjacency symmetric (to `tol`), zero diagonal, zero
    /// in rows and columns of padded nodes, mask entries 0 or 1. Returns a description of the
    /// first violation.
    pub fn check_invariants(&self, tol: f32) -> Result<(), String> {
        let (b, n) = (self.batch_size(), self.max_nodes());
        let adj = flat_f32(&self.adj).map_err(|e| e.to_string())?;
        let mask = flat_f32(&self.mask).map_err(|e| e.to_string())?;
        for g in 0..b {
            for u in 0..n {
                let m = mask[g * n + u];
                if m != 0.0 && m != 1.0 {
                    return Err(format!("graph {g}: mask[{u}] = {m}, expected 0 or 1"));
                }
                for v in 0..n {
                    let x = adj[g * n * n + u * n + v];
                    let y = adj[g * n * n + v * n + u];
                    if !x.is_finite() {
                        return Err(format!("graph {g}: adj[{u}, {v}] = {x}"));
                    }
                    if u == v && x != 0.0 {
                        return Err(format!("graph {g}: diagonal adj[{u}, {u}] = {x}"));
                    }
                    if (x - y).abs() > tol {
                        return Err(format!(
                            "graph {g}: adj[{u}, {v}] = {x} but adj[{v}, {u}] = {y}"
                        ));
                    }
                    if (mask[g * n + u] == 0.0 || mask[g * n + v] == 0.0) && x != 0.0 {
                        return Err(format!(
                            "graph {g}: adj[{u}, {v}] = {x} touches a padded node"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn real_nodes(&self, b: usize) -> Vec<usize> {
        let m = flat_f32(&self.mask.get(b as i64)).expect("mask is a float tensor");
        (0..m.len()).filter(|&u| m[u] > 0.5).collect()
    }
}

/// The tensor's values as a flat f32 vector on the CPU.
fn flat_f32(t: &Tensor) -> Result<Vec<f32>, tch::TchError> {
    let t = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_reshape([-1])?;
    Vec::<f32>::try_from(&t)
}

/// Zeroes the rows and columns of padded nodes: `adj · m_u · m_v`.
///
/// `adj: [B, N, N]` or `[B, C, N, N]` (channels share the mask); `mask: [B, N]`.
/// Mirrors `mask_adjs` in GraphScoreMatching `utils/graph_utils.py`.
pub fn mask_adjs(adj: &Tensor, mask: &Tensor) -> Tensor {
    let mut m = mask.to_kind(adj.kind());
    if adj.dim() == 4 {
        m = m.unsqueeze(1);
    }
    adj * m.unsqueeze(-1) * m.unsqueeze(-2)
}

/// Zeroes the features of padded nodes: `x: [B, N, F]`, `mask: [B, N]`.
pub fn mask_nodes(x: &Tensor, mask: &Tensor) -> Tensor {
    x * mask.to_kind(x.kind()).unsqueeze(-1)
}

/// Valid node pairs `[B, N, N]`: `mask_u · mask_v`, zero diagonal.
pub fn pair_mask(mask: &Tensor) -> Tensor {
    let n = mask.size()[1];
    let eye = Tensor::eye(n, (mask.kind(), mask.device()));
    mask.unsqueeze(-1) * mask.unsqueeze(-2) * (1.0 - eye)
}

/// Which nodes of a padded graph count as present: the node flags a model computes from a
/// clean batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NodeFlagRule {
    /// The rule of the EDP-GNN and discrete-DDPM official codes (GraphScoreMatching:train.py,
    /// discrete_DPPM_Graphs:ppgn_simple.py): a node is present iff its clean row sum exceeds
    /// 1e-5, so isolated nodes are treated as padding ([`degree_flags`]).
    #[default]
    NonIsolated,
    /// Every one of the graph's `n` nodes is present, isolated or not (the batch's mask).
    AllNodes,
}

impl NodeFlagRule {
    /// The node flags `[B, N]` f32 of a clean batch under this rule.
    pub fn flags(self, batch: &DenseBatch) -> Tensor {
        match self {
            NodeFlagRule::NonIsolated => degree_flags(batch.adj()),
            NodeFlagRule::AllNodes => batch.mask().to_kind(Kind::Float),
        }
    }
}

/// Node flags `[B, N]` f32: 1 where a node has (weighted) degree `> 1e-5`.
///
/// `adj: [B, N, N]`. EDP-GNN's convention (GraphScoreMatching `train.py`, `sample.py`):
/// isolated nodes count as absent.
pub fn degree_flags(adj: &Tensor) -> Tensor {
    adj.sum_dim_intlist(-1, false, adj.kind())
        .gt(1e-5)
        .to_kind(Kind::Float)
}

/// The symmetric matrix with `x`'s strict upper triangle mirrored and a zero diagonal:
/// `triu(x, 1) + triu(x, 1)ᵀ` over the last two dimensions (`x: [..., N, N]`).
pub fn symmetrize_upper(x: &Tensor) -> Tensor {
    let up = x.triu(1);
    let t = up.transpose(-1, -2);
    up + t
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    fn arb_graph(max_n: usize) -> impl Strategy<Value = Graph> {
        (0..=max_n).prop_flat_map(|n| {
            let pairs: Vec<(usize, usize)> = (0..n)
                .flat_map(|u| (u + 1..n).map(move |v| (u, v)))
                .collect();
            let m = pairs.len();
            proptest::collection::vec(any::<bool>(), m).prop_map(move |keep| {
                let edges = pairs.iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| *e);
                Graph::new(n, edges).unwrap()
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip_and_invariants(graphs in proptest::collection::vec(arb_graph(9), 0..6),
                                     extra in 0usize..3) {
            let max_n = graphs.iter().map(Graph::n).max().unwrap_or(0) + extra;
            let batch = DenseBatch::from_graphs(&graphs, max_n, Device::Cpu).unwrap();
            prop_assert_eq!(batch.adj().size(), vec![graphs.len() as i64, max_n as i64, max_n as i64]);
            prop_assert_eq!(batch.mask().size(), vec![graphs.len() as i64, max_n as i64]);
            prop_assert!(batch.check_invariants(0.0).is_ok());
            let counts: Vec<usize> = graphs.iter().map(Graph::n).collect();
            prop_assert_eq!(batch.node_counts(), &counts[..]);
            // rebuilt from raw tensors: same counts
            let again = DenseBatch::new(batch.adj().copy(), batch.mask().copy()).unwrap();
            prop_assert_eq!(again.node_counts(), &counts[..]);
            prop_assert_eq!(batch.to_graphs(0.5).unwrap(), graphs.clone());
            // pair mask: mask_u mask_v off the diagonal, and the adjacency lies inside it
            let pm = batch.pair_mask();
            let outside: Tensor = batch.adj() * (1.0 - &pm);
            let outside = outside.abs().sum(Kind::Float).double_value(&[]);
            prop_assert_eq!(outside, 0.0);
            let pairs: usize = counts.iter().map(|n| n * n.saturating_sub(1)).sum();
            prop_assert_eq!(pm.sum(Kind::Float).double_value(&[]) as usize, pairs);
        }

        #[test]
        fn permutation_preserves_isomorphism_class(graphs in proptest::collection::vec(arb_graph(8), 1..5),
                                                   seed in any::<u64>()) {
            let batch = DenseBatch::from_graphs(&graphs, 8, Device::Cpu).unwrap();
            let p = batch.permute_nodes(seed);
            prop_assert!(p.check_invariants(0.0).is_ok());
            prop_assert_eq!(p.node_counts(), batch.node_counts());
            let back = p.to_graphs(0.5).unwrap();
            for (g, h) in graphs.iter().zip(&back) {
                prop_assert_eq!(g.num_edges(), h.num_edges());
                let mut dg = g.degrees(); dg.sort_unstable();
                let mut dh = h.degrees(); dh.sort_unstable();
                prop_assert_eq!(dg, dh);
            }
            // deterministic under the seed
            let q = batch.permute_nodes(seed);
            prop_assert_eq!(q.to_graphs(0.5).unwrap(), back);
        }

        #[test]
        fn masking_zeroes_padded_rows(graphs in proptest::collection::vec(arb_graph(6), 1..4), fill in -3.0f32..3.0) {
            let batch = DenseBatch::from_graphs(&graphs, 7, Device::Cpu).unwrap();
            let b = graphs.len() as i64;
            let dense = Tensor::full([b, 7, 7], f64::from(fill), (Kind::Float, Device::Cpu));
            let masked = mask_adjs(&dense, batch.mask());
            let m = flat_f32(batch.mask()).unwrap();
            let x = flat_f32(&masked).unwrap();
            for g in 0..graphs.len() {
                for u in 0..7 { for v in 0..7 {
                    let expect = fill * m[g * 7 + u] * m[g * 7 + v];
                    prop_assert_eq!(x[g * 49 + u * 7 + v], expect);
                }}
            }
            // four-dimensional input: every channel masked the same way
            let four = mask_adjs(&dense.unsqueeze(1).repeat([1, 3, 1, 1]), batch.mask());
            let diff = (four - masked.unsqueeze(1)).abs().sum(Kind::Float).double_value(&[]);
            prop_assert_eq!(diff, 0.0);
        }
    }

    #[test]
    fn too_many_nodes_names_the_graph() {
        let gs = vec![Graph::empty(3), Graph::empty(5)];
        let err = DenseBatch::from_graphs(&gs, 4, Device::Cpu).unwrap_err();
        assert!(matches!(
            err,
            BatchError::TooManyNodes {
                index: 1,
                nodes: 5,
                max_nodes: 4
            }
        ));
        assert_eq!(
            err.to_string(),
            "graph 1 has 5 nodes, more than max_nodes = 4"
        );
    }

    #[test]
    fn threshold_and_degree_flags() {
        // a path 0-1-2 plus an isolated node 3, padded to 5
        let g = Graph::new(4, [(0, 1), (1, 2)]).unwrap();
        let batch = DenseBatch::from_graphs([&g], 5, Device::Cpu).unwrap();
        let flagged = batch.with_degree_flags();
        assert_eq!(flagged.node_counts(), &[3]);
        assert_eq!(
            flagged.to_graphs(0.5).unwrap(),
            vec![Graph::new(3, [(0, 1), (1, 2)]).unwrap()]
        );
        // non-prefix mask: drop node 1 of the path; nodes 0, 2 become 0, 1 with no edge
        let mask = Tensor::from_slice(&[1f32, 0., 1., 1., 0.]).view([1, 5]);
        let adj = mask_adjs(batch.adj(), &mask);
        let b = DenseBatch::new(adj, mask).unwrap();
        assert_eq!(b.to_graphs(0.5).unwrap(), vec![Graph::empty(3)]);
        // real-valued adjacency, threshold semantics: >= threshold is an edge
        let a = Tensor::from_slice(&[0f32, 0.5, 0.5, 0.0]).view([1, 2, 2]);
        let b = DenseBatch::new(a, Tensor::ones([1, 2], (Kind::Float, Device::Cpu))).unwrap();
        assert_eq!(b.to_graphs(0.5).unwrap()[0].num_edges(), 1);
        assert_eq!(b.to_graphs(0.51).unwrap()[0].num_edges(), 0);
    }

    #[test]
    fn symmetrize_upper_mirrors_and_zeroes_diagonal() {
        let x = Tensor::arange(9, (Kind::Float, Device::Cpu)).view([1, 3, 3]);
        let s = symmetrize_upper(&x);
        let v = flat_f32(&s).unwrap();
        assert_eq!(v, vec![0., 1., 2., 1., 0., 5., 2., 5., 0.]);
        let flags = degree_flags(&s);
        assert_relative_eq!(flags.sum(Kind::Float).double_value(&[]), 3.0);
    }

    #[test]
    fn shape_errors() {
        let adj = Tensor::zeros([2, 3, 3], (Kind::Float, Device::Cpu));
        let mask = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
        assert!(matches!(
            DenseBatch::new(adj, mask),
            Err(BatchError::Shape { .. })
        ));
        let b = DenseBatch::from_graphs(&[Graph::empty(2)], 2, Device::Cpu).unwrap();
        assert!(b.apply_permutations(&[vec![0, 0]]).is_err());
        assert!(b.apply_permutations(&[vec![1, 0], vec![0, 1]]).is_err());
    }
}
