//! Uniformly random labelled trees (`nx.random_tree`, a uniform Prüfer sequence decoded by
//! `nx.from_prufer_sequence`).
//!
//! The "tree" benchmark comes from Bergmeister et al., *Efficient and Scalable Graph
//! Generation through Iterative Local Expansion* (ICLR 2024;
//! AndreasBergmeister/graph-generation:graph_generation/data/synthetic_graphs.py and
//! data/Dataset.ipynb): 128 training, 32 validation and 40 test trees of 64 nodes, generated
//! as three separate lists (numpy `default_rng` seeds 0, 1, 2) — hence the train-first
//! 0.64 / 0.16 / 0.20 split of the recipe. SPECTRE:data.py `TreeDataset` draws trees the same
//! way, unseeded. A uniform random labelled tree is the same distribution whatever generator
//! draws the sequence; ours comes from the run's seed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{check_range, DatasetError};
use crate::Graph;

/// Parameters of the random-tree generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeParams {
    /// Number of trees.
    pub graphs: usize,
    /// Inclusive range of node counts, drawn uniformly per tree ([64, 64]).
    pub nodes: [usize; 2],
}

/// Decodes a Prüfer sequence of length `n − 2` into the tree on `0..n` (networkx
/// `from_prufer_sequence`: repeatedly join the smallest current leaf to the next entry).
pub fn from_prufer(n: usize, seq: &[usize]) -> Graph {
    assert!(n >= 2 && seq.len() == n - 2 && seq.iter().all(|&x| x < n));
    let mut degree = vec![1usize; n];
    for &x in seq {
        degree[x] += 1;
    }
    let mut edges = Vec::with_capacity(n - 1);
    // Linear-time decoding: `leaf` walks upward over the smallest leaf, `u` is the current one.
    let mut index = degree
        .iter()
        .position(|&d| d == 1)
        .expect("a tree has a leaf");
    let mut u = index;
    for &v in seq {
        edges.push((u, v));
        degree[v] -= 1;
        if v < index && degree[v] == 1 {
            u = v;
        } else {
            index += 1;
            while degree[index] != 1 {
                index += 1;
            }
            u = index;
        }
    }
    edges.push((u, n - 1));
    Graph::new(n, edges).expect("a Prüfer sequence decodes to a simple tree")
}

/// A uniformly random labelled tree on `n` nodes.
pub fn random_tree(n: usize, rng: &mut ChaCha8Rng) -> Graph {
    match n {
        0 | 1 => Graph::empty(n),
        _ => {
            let seq: Vec<usize> = (0..n - 2).map(|_| rng.gen_range(0..n)).collect();
            from_prufer(n, &seq)
        }
    }
}

impl TreeParams {
    /// Generates the trees.
    pub fn generate(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Graph>, DatasetError> {
        check_range("tree: nodes", self.nodes)?;
        Ok((0..self.graphs)
            .map(|_| {
                let n = rng.gen_range(self.nodes[0]..=self.nodes[1]);
                random_tree(n, rng)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prufer_matches_networkx() {
        // networkx 3.6: sorted(nx.from_prufer_sequence([3, 3, 3, 4]).edges())
        assert_eq!(
            from_prufer(6, &[3, 3, 3, 4]).edges(),
            &[(0, 3), (1, 3), (2, 3), (3, 4), (4, 5)]
        );
        // sorted(nx.from_prufer_sequence([4, 0, 4, 1, 5]).edges())
        assert_eq!(
            from_prufer(7, &[4, 0, 4, 1, 5]).edges(),
            &[(0, 3), (0, 4), (1, 4), (1, 5), (2, 4), (5, 6)]
        );
        assert_eq!(from_prufer(2, &[]).edges(), &[(0, 1)]);
    }

    #[test]
    fn trees_are_connected_with_n_minus_1_edges() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for n in 2..40 {
            let t = random_tree(n, &mut rng);
            assert_eq!(t.num_edges(), n - 1);
            assert_eq!(super::super::community::components(n, t.edges()).len(), 1);
        }
    }
}
