//! Two-dimensional grid graphs (`nx.grid_2d_graph`).
//!
//! GraphRNN (create_graphs.py) and GRAN (utils/data_helper.py) use all 100 grids
//! `grid_2d_graph(i, j)` for `i, j in range(10, 20)`, `i` outer. GDSS instead draws `m` and
//! `n` independently with `np.random.choice(range(10, 20))` for each of its 100 graphs —
//! sampling with replacement, so its list repeats some grids and misses others
//! ([`GridSides::Random`]).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{check_range, DatasetError};
use crate::Graph;

/// Which side lengths the dataset uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum GridSides {
    /// Every pair `(rows, cols)` of the range once, rows outer (GraphRNN / GRAN).
    AllPairs,
    /// `graphs` grids, rows and cols drawn independently and uniformly from the range (GDSS).
    Random {
        /// Number of graphs.
        graphs: usize,
    },
}

/// Parameters of the grid generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridParams {
    /// Inclusive range of side lengths (10..=19).
    pub sides: [usize; 2],
    /// How sides are chosen.
    pub selection: GridSides,
}

/// `nx.grid_2d_graph(rows, cols)` with nodes numbered in networkx's order: node `(i, j)` is
/// `i · cols + j`.
pub fn grid_2d(rows: usize, cols: usize) -> Graph {
    let mut edges = Vec::with_capacity(2 * rows * cols);
    for i in 0..rows {
        for j in 0..cols {
            let v = i * cols + j;
            if i + 1 < rows {
                edges.push((v, v + cols));
            }
            if j + 1 < cols {
                edges.push((v, v + 1));
            }
        }
    }
    Graph::new(rows * cols, edges).expect("grid edges are simple")
}

impl GridParams {
    /// Generates the graphs (the random generator is used only by [`GridSides::Random`]).
    pub fn generate(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Graph>, DatasetError> {
        check_range("grid: sides", self.sides)?;
        let [lo, hi] = self.sides;
        Ok(match self.selection {
            GridSides::AllPairs => {
                let mut out = Vec::new();
                for i in lo..=hi {
                    for j in lo..=hi {
                        out.push(grid_2d(i, j));
                    }
                }
                out
            }
            GridSides::Random { graphs } => (0..graphs)
                .map(|_| {
                    let m = rng.gen_range(lo..=hi);
                    let n = rng.gen_range(lo..=hi);
                    grid_2d(m, n)
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grid_matches_networkx() {
        // networkx: nx.convert_node_labels_to_integers(nx.grid_2d_graph(2, 3)).edges()
        let g = grid_2d(2, 3);
        assert_eq!(
            g.edges(),
            &[(0, 1), (0, 3), (1, 2), (1, 4), (2, 5), (3, 4), (4, 5)]
        );
        let g = grid_2d(10, 19);
        assert_eq!(g.n(), 190);
        assert_eq!(g.num_edges(), 2 * 190 - 10 - 19);
    }
}
