//! Community graphs of EDP-GNN / GDSS (`n_community`, GDSS:data/data_generators.py, identical
//! in GraphScoreMatching:utils/data_generators.py and SPECTRE:data.py).
//!
//! One graph: `max_nodes` uniform in the given range (`np.random.choice`), community size
//! `c = max_nodes // M`, so `n = M·c`; each community is a G(c, p_intra); the communities are
//! the connected components of their disjoint union (normally the M communities; more when a
//! G(c, p) happens to be disconnected); every pair of components is bridged by testing each of
//! their cross pairs with probability `p_inter · 2 / ((M − 1) · c)` (so that the expected
//! number of bridges per node is `p_inter`), and when no bridge was drawn, one edge joins the
//! first node of each.
//!
//! Difference from the reference, by default: the reference seeds community `i` with
//! `gnp_random_graph(c, 0.7, seed=i)`, so all its graphs with the same `c` share the same two
//! communities and only the bridges vary (5 distinct community pairs in the whole dataset).
//! We draw every community independently from the run's seed ([`IntraSeeding::Independent`]).
//! [`IntraSeeding::CommunityIndex`] reproduces the reference exactly (Python's Mersenne
//! Twister seeded with `i`), and then the intra-community edges of every graph in the
//! published `community_small` list are matched exactly. Bridges and sizes used numpy's
//! unseeded global generator in the reference and come from the run's seed in both modes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::reference_rng::nx_gnp_random_graph;
use super::{check_prob, check_range, DatasetError};
use crate::Graph;

/// How the intra-community random graphs are seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntraSeeding {
    /// Every community of every graph is drawn independently from the run's seed.
    #[default]
    Independent,
    /// Community `i` is `nx.gnp_random_graph(c, p_intra, seed=i)`, bit for bit, as in the
    /// reference code (all graphs with the same community size share their communities).
    CommunityIndex,
}

/// Parameters of the community generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityParams {
    /// Number of graphs.
    pub graphs: usize,
    /// Number of communities `M` (2).
    pub communities: usize,
    /// Inclusive range of `max_nodes` (12..=20); each community gets `max_nodes // M` nodes.
    pub max_nodes: [usize; 2],
    /// Edge probability inside a community (0.7).
    pub p_intra: f64,
    /// Expected number of bridge edges per node (0.05).
    pub p_inter: f64,
    /// Seeding of the intra-community graphs.
    #[serde(default)]
    pub intra_seeding: IntraSeeding,
}

impl CommunityParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.communities < 2 {
            return Err(DatasetError::InvalidParameter(
                "community: communities must be at least 2".into(),
            ));
        }
        check_range("community: max_nodes", self.max_nodes)?;
        if self.max_nodes[0] < self.communities {
            return Err(DatasetError::InvalidParameter(format!(
                "community: max_nodes must be at least communities = {} (communities would be empty)",
                self.communities
            )));
        }
        check_prob("community: p_intra", self.p_intra)?;
        if !(self.p_inter >= 0.0 && self.p_inter.is_finite()) {
            return Err(DatasetError::InvalidParameter(format!(
                "community: p_inter = {} must be a non-negative number",
                self.p_inter
            )));
        }
        Ok(())
    }

    /// The bridge probability for community size `c`: `p_inter · 2 / ((M − 1) · c)`.
    pub fn p_bridge(&self, c: usize) -> f64 {
        self.p_inter * 2.0 / ((self.communities - 1) as f64 * c as f64)
    }

    /// Generates the graphs.
    pub fn generate(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Graph>, DatasetError> {
        self.validate()?;
        Ok((0..self.graphs).map(|_| self.one(rng)).collect())
    }

    /// One community graph (nodes of community `i` are `i·c .. (i+1)·c`).
    pub fn one(&self, rng: &mut ChaCha8Rng) -> Graph {
        let max_nodes = rng.gen_range(self.max_nodes[0]..=self.max_nodes[1]);
        let m = self.communities;
        let c = max_nodes / m;
        let n = m * c;
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for i in 0..m {
            let off = i * c;
            match self.intra_seeding {
                IntraSeeding::CommunityIndex => {
                    for (u, v) in nx_gnp_random_graph(c, self.p_intra, i as u64) {
                        edges.push((u + off, v + off));
                    }
                }
                IntraSeeding::Independent => {
                    for u in 0..c {
                        for v in u + 1..c {
                            if rng.gen::<f64>() < self.p_intra {
                                edges.push((u + off, v + off));
                            }
                        }
                    }
                }
            }
        }
        // Communities = connected components of the disjoint union, ordered by their smallest
        // node (networkx `connected_components` visits nodes in order); nodes ascending.
        let comps = components(n, &edges);
        let p = self.p_bridge(c);
        for i in 0..comps.len() {
            for j in i + 1..comps.len() {
                let mut bridged = false;
                for &a in &comps[i] {
                    for &b in &comps[j] {
                        if rng.gen::<f64>() < p {
                            edges.push((a, b));
                            bridged = true;
                        }
                    }
                }
                if !bridged {
                    edges.push((comps[i][0], comps[j][0]));
                }
            }
        }
        Graph::new(n, edges).expect("community edges are simple by construction")
    }
}

/// Connected components, each sorted, ordered by smallest node.
pub(crate) fn components(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(u, v) in edges {
        let (a, b) = (find(&mut parent, u), find(&mut parent, v));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut index = vec![usize::MAX; n];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    for v in 0..n {
        let r = find(&mut parent, v);
        if index[r] == usize::MAX {
            index[r] = comps.len();
            comps.push(Vec::new());
        }
        comps[index[r]].push(v);
    }
    comps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn params() -> CommunityParams {
        CommunityParams {
            graphs: 50,
            communities: 2,
            max_nodes: [12, 20],
            p_intra: 0.7,
            p_inter: 0.05,
            intra_seeding: IntraSeeding::Independent,
        }
    }

    #[test]
    fn structure() {
        let gs = params()
            .generate(&mut ChaCha8Rng::seed_from_u64(1))
            .unwrap();
        for g in &gs {
            assert!(g.n() % 2 == 0 && (12..=20).contains(&g.n()));
            let c = g.n() / 2;
            let cross = g
                .edges()
                .iter()
                .filter(|&&(u, v)| (u < c) != (v < c))
                .count();
            assert!(cross >= 1, "at least one bridge");
        }
    }

    #[test]
    fn reference_seeding_shares_communities() {
        let p = CommunityParams {
            intra_seeding: IntraSeeding::CommunityIndex,
            ..params()
        };
        let gs = p.generate(&mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        let intra = |g: &Graph| -> Vec<(usize, usize)> {
            let c = g.n() / 2;
            g.edges()
                .iter()
                .copied()
                .filter(|&(u, v)| (u < c) == (v < c))
                .collect()
        };
        for a in &gs {
            for b in &gs {
                if a.n() == b.n() {
                    assert_eq!(intra(a), intra(b));
                }
            }
        }
    }

    #[test]
    fn components_ordered() {
        let comps = components(6, &[(4, 5), (0, 2), (2, 4)]);
        assert_eq!(comps, vec![vec![0, 2, 4, 5], vec![1], vec![3]]);
    }

    #[test]
    fn invalid_parameters() {
        let bad = CommunityParams {
            communities: 1,
            ..params()
        };
        assert!(bad.validate().is_err());
        let bad = CommunityParams {
            max_nodes: [20, 12],
            ..params()
        };
        assert!(bad.validate().is_err());
        let bad = CommunityParams {
            p_intra: 1.5,
            ..params()
        };
        assert!(bad.validate().is_err());
    }
}
