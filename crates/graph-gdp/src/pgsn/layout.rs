//! How a padded batch `[B, N, N]` is laid out for the network: grouped by node count
//! ([`Layout::BySize`]: every group is dense over its own `n × n` pairs, no work on padding)
//! or padded ([`Layout::Padded`]: one group of all graphs at `n = N`, the official layout).
//!
//! Node features live in one row-major tensor `[M, d]` (group after group, graph after graph,
//! node after node) and pair features in one tensor `[P, d]` (pair `(i, j)` of a graph at row
//! `i·n + j` of its block), so the dense maps run once over the whole batch and only the
//! attention, the aggregation and the pair updates `u_i + u_j` run per group.

use tch::{Device, Kind, Tensor};

use crate::config::Layout;

/// The real nodes of each graph of a batch: graph `b` has nodes `0..counts[b]` (a prefix
/// mask, as `DenseBatch::from_graphs` and the samplers build them), and which pairs of real
/// nodes count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nodes {
    /// Real nodes per graph.
    pub counts: Vec<usize>,
    /// Whether a node's pair with itself is valid. `false` everywhere except to reproduce
    /// the official probability-flow ODE samplers, whose mask keeps the diagonal (the network
    /// then sees self-loops it never saw in training).
    pub self_loops: bool,
}

impl Nodes {
    /// Pairs of distinct real nodes (the training and predictor–corrector mask).
    pub fn new(counts: Vec<usize>) -> Self {
        Self {
            counts,
            self_loops: false,
        }
    }

    /// The pair mask `[B, N, N]`: 1 for valid pairs (`m_i·m_j`, zero diagonal unless
    /// `self_loops`).
    pub fn pair_mask(&self, n: i64, kind: Kind, device: Device) -> Tensor {
        let m = self.node_mask(n, kind, device);
        let pm = m.unsqueeze(-1) * m.unsqueeze(-2);
        if self.self_loops {
            pm
        } else {
            pm * (Tensor::eye(n, (kind, device)) * -1.0 + 1.0)
        }
    }

    /// The node mask `[B, N]` (1 on `0..counts[b]`).
    pub fn node_mask(&self, n: i64, kind: Kind, device: Device) -> Tensor {
        let b = self.counts.len();
        let mut v = vec![0f32; b * n as usize];
        for (g, &c) in self.counts.iter().enumerate() {
            v[g * n as usize..g * n as usize + c.min(n as usize)].fill(1.0);
        }
        Tensor::from_slice(&v)
            .view([b as i64, n])
            .to_kind(kind)
            .to_device(device)
    }
}

/// One group: graphs laid out at the same node dimension `n`.
#[derive(Debug)]
pub(crate) struct Group {
    /// Batch indices of the graphs, in batch order.
    pub members: Vec<usize>,
    /// The same, as an index tensor on the device.
    pub members_t: Tensor,
    /// Node dimension of the group (`= count` for by-size groups, `N` when padded).
    pub n: usize,
}

impl Group {
    /// Graphs in the group.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Node rows of the group.
    pub fn node_rows(&self) -> usize {
        self.members.len() * self.n
    }

    /// Pair rows of the group.
    pub fn pair_rows(&self) -> usize {
        self.members.len() * self.n * self.n
    }
}

/// A batch's layout: the groups and where their rows are.
#[derive(Debug)]
pub(crate) struct BatchLayout {
    pub groups: Vec<Group>,
    pub counts: Vec<usize>,
    pub self_loops: bool,
    /// Padding size N of the batch tensors.
    pub max_nodes: usize,
    /// Node rows M.
    pub nodes: usize,
    /// Pair rows P.
    pub pairs: usize,
    pub padded: bool,
    pub device: Device,
}

impl BatchLayout {
    /// The layout `layout` resolves to on `device` (`Auto`: by size on the CPU, padded
    /// elsewhere).
    pub fn new(layout: Layout, nodes: &Nodes, max_nodes: usize, device: Device) -> Self {
        let padded = match layout {
            Layout::Padded => true,
            Layout::BySize => false,
            Layout::Auto => device != Device::Cpu,
        };
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        if padded {
            groups.push((max_nodes, (0..nodes.counts.len()).collect()));
        } else {
            let mut sizes: Vec<usize> = nodes.counts.clone();
            sizes.sort_unstable();
            sizes.dedup();
            for n in sizes {
                let members: Vec<usize> = (0..nodes.counts.len())
                    .filter(|&b| nodes.counts[b] == n)
                    .collect();
                groups.push((n, members));
            }
        }
        let (mut nodes_total, mut pairs_total) = (0, 0);
        let groups = groups
            .into_iter()
            .map(|(n, members)| {
                let idx: Vec<i64> = members.iter().map(|&b| b as i64).collect();
                let g = Group {
                    members_t: Tensor::from_slice(&idx).to_device(device),
                    members,
                    n,
                };
                nodes_total += g.node_rows();
                pairs_total += g.pair_rows();
                g
            })
            .collect();
        Self {
            groups,
            counts: nodes.counts.clone(),
            self_loops: nodes.self_loops,
            max_nodes,
            nodes: nodes_total,
            pairs: pairs_total,
            padded,
            device,
        }
    }

    /// Groups that have nodes (a by-size group of empty graphs has none).
    pub fn active(&self) -> impl Iterator<Item = &Group> {
        self.groups
            .iter()
            .filter(|g| g.n > 0 && !g.members.is_empty())
    }

    /// The group's states `[Bg, n, n]` from the batch `x: [B, N, N]`.
    pub fn group_x(&self, g: &Group, x: &Tensor) -> Tensor {
        if self.padded {
            return x.shallow_clone();
        }
        let n = g.n as i64;
        x.index_select(0, &g.members_t)
            .narrow(1, 0, n)
            .narrow(2, 0, n)
    }

    /// The group's per-graph rows `[Bg, d]` of a per-graph tensor `[B, d]`.
    pub fn group_rows(&self, g: &Group, per_graph: &Tensor) -> Tensor {
        if self.padded {
            per_graph.shallow_clone()
        } else {
            per_graph.index_select(0, &g.members_t)
        }
    }

    /// The group's pair mask `[Bg, n, n]`.
    pub fn group_pair_mask(&self, g: &Group, kind: Kind) -> Tensor {
        let nodes = Nodes {
            counts: g.members.iter().map(|&b| self.counts[b]).collect(),
            self_loops: self.self_loops,
        };
        nodes.pair_mask(g.n as i64, kind, self.device)
    }

    /// The graph index of every node row, `[M]` i64.
    #[cfg(test)]
    pub fn node_graph(&self) -> Tensor {
        let mut v = Vec::with_capacity(self.nodes);
        for g in &self.groups {
            for &b in &g.members {
                v.extend(std::iter::repeat_n(b as i64, g.n));
            }
        }
        Tensor::from_slice(&v).to_device(self.device)
    }

    /// Node rows `[M, d]` from a tensor in the padded layout `[B·N, d]`.
    pub fn node_rows_from_padded(&self, t: &Tensor) -> Tensor {
        if self.padded {
            return t.shallow_clone();
        }
        let n_max = self.max_nodes as i64;
        let mut rows = Vec::with_capacity(self.nodes);
        for g in &self.groups {
            for &b in &g.members {
                rows.extend((0..g.n as i64).map(|i| b as i64 * n_max + i));
            }
        }
        t.index_select(0, &Tensor::from_slice(&rows).to_device(t.device()))
    }

    /// Pair rows `[P, d]` from a tensor in the padded layout `[B, N, N, d]`.
    pub fn pair_rows_from_padded(&self, t: &Tensor) -> Tensor {
        let d = t.size()[3];
        if self.padded {
            return t.reshape([-1, d]);
        }
        let parts: Vec<Tensor> = self
            .groups
            .iter()
            .map(|g| {
                let n = g.n as i64;
                t.index_select(0, &g.members_t.to_device(t.device()))
                    .narrow(1, 0, n)
                    .narrow(2, 0, n)
                    .reshape([-1, d])
            })
            .collect();
        Tensor::cat(&parts, 0)
    }

    /// The batch `[B, N, N]` from per-group outputs (`outs[k]`: `[Bg, n, n]` of the k-th
    /// active group); graphs of groups without nodes are zero.
    pub fn assemble(&self, outs: Vec<Tensor>, kind: Kind) -> Tensor {
        let b = self.counts.len() as i64;
        let n_max = self.max_nodes as i64;
        if self.padded {
            return match outs.into_iter().next() {
                Some(o) => o,
                None => Tensor::zeros([b, n_max, n_max], (kind, self.device)),
            };
        }
        let mut parts = Vec::with_capacity(self.groups.len());
        let mut order: Vec<i64> = Vec::with_capacity(self.counts.len());
        let mut outs = outs.into_iter();
        for g in &self.groups {
            let pad = n_max - g.n as i64;
            if g.n > 0 && !g.members.is_empty() {
                let o = outs.next().expect("one output per active group");
                parts.push(if pad > 0 {
                    o.constant_pad_nd([0, pad, 0, pad])
                } else {
                    o
                });
            } else {
                parts.push(Tensor::zeros(
                    [g.members.len() as i64, n_max, n_max],
                    (kind, self.device),
                ));
            }
            order.extend(g.members.iter().map(|&m| m as i64));
        }
        let stacked = Tensor::cat(&parts, 0);
        // position of batch graph b in the stacked order
        let mut inv = vec![0i64; order.len()];
        for (pos, &m) in order.iter().enumerate() {
            inv[m as usize] = pos as i64;
        }
        stacked.index_select(0, &Tensor::from_slice(&inv).to_device(self.device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_size_groups_and_rows() {
        let nodes = Nodes::new(vec![3, 1, 3, 0, 2]);
        let l = BatchLayout::new(Layout::BySize, &nodes, 4, Device::Cpu);
        let sizes: Vec<(usize, Vec<usize>)> =
            l.groups.iter().map(|g| (g.n, g.members.clone())).collect();
        assert_eq!(
            sizes,
            vec![(0, vec![3]), (1, vec![1]), (2, vec![4]), (3, vec![0, 2])]
        );
        assert_eq!(l.nodes, 1 + 2 + 6);
        assert_eq!(l.pairs, 1 + 4 + 18);
        let ng = Vec::<i64>::try_from(&l.node_graph()).unwrap();
        assert_eq!(ng, vec![1, 4, 4, 0, 0, 0, 2, 2, 2]);
        // padded rows -> layout rows
        let padded = Tensor::arange(5 * 4, (Kind::Float, Device::Cpu)).view([20, 1]);
        let rows = Vec::<f32>::try_from(&l.node_rows_from_padded(&padded).view([-1])).unwrap();
        assert_eq!(rows, vec![4., 16., 17., 0., 1., 2., 8., 9., 10.]);
        // assemble puts every group back in batch order
        let outs: Vec<Tensor> = l
            .active()
            .map(|g| {
                Tensor::full(
                    [g.len() as i64, g.n as i64, g.n as i64],
                    g.n as f64,
                    (Kind::Float, Device::Cpu),
                )
            })
            .collect();
        let full = l.assemble(outs, Kind::Float);
        assert_eq!(full.size(), vec![5, 4, 4]);
        let sums =
            Vec::<f32>::try_from(&full.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float))
                .unwrap();
        assert_eq!(sums, vec![27., 1., 27., 0., 8.]);
    }

    #[test]
    fn pair_mask_excludes_padding_and_the_diagonal() {
        let nodes = Nodes::new(vec![2, 1]);
        let pm =
            Vec::<f32>::try_from(&nodes.pair_mask(3, Kind::Float, Device::Cpu).view([-1])).unwrap();
        assert_eq!(
            pm,
            vec![0., 1., 0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
    }
}
