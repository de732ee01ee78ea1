//! Random lobster graphs of GRAN (GRAN:utils/data_helper.py `create_graphs('lobster')`,
//! copied by SPECTRE:data.py `LobsterDataset`): `nx.random_lobster(80, 0.7, 0.7, seed=s)` for
//! `s = seed, seed + 1, …`, keeping graphs with 10 to 100 nodes until there are 100.
//!
//! networkx seeds an integer `seed` into Python's `random.Random`, which we reproduce bit for
//! bit ([`PyRandom`]), so the dataset is exactly GRAN's: with the recipe's seed 1234 and
//! [`LobsterVariant::Networkx23`] (GRAN pins networkx 2.3) the 100 graphs are those of GRAN,
//! drawn from Python seeds 1234..=1557. networkx 2.5 rewrote `random_lobster` (networkx PR
//! #3822): the `if` that adds at most one leg per backbone node and at most one extension per
//! leg became a `while`, so legs and their extensions are geometric in number. Code run with
//! networkx ≥ 2.5 (e.g. SPECTRE's environment, networkx 2.6) gets
//! [`LobsterVariant::Networkx25`] lobsters, which are larger and bushier.
//!
//! The seed is a Python seed: seeds `s` and `s + 1` give lists that overlap almost entirely
//! (shifted by one graph); take seeds far apart (e.g. 1234, 100000, 200000) for independent
//! datasets.

use serde::{Deserialize, Serialize};

use super::reference_rng::PyRandom;
use super::{check_prob, check_range, DatasetError};
use crate::Graph;

/// Which networkx implementation of `random_lobster` to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LobsterVariant {
    /// networkx ≤ 2.4 (GRAN pins 2.3): at most one leg per backbone node, at most one
    /// extension per leg.
    #[serde(rename = "networkx-2.3")]
    Networkx23,
    /// networkx ≥ 2.5: legs per backbone node and extensions per leg are geometric.
    #[serde(rename = "networkx-2.5")]
    Networkx25,
}

/// Parameters of the lobster generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LobsterParams {
    /// Number of graphs kept.
    pub graphs: usize,
    /// `n` of `random_lobster`: the expected backbone length (80).
    pub backbone: usize,
    /// Probability of a leg on a backbone node (0.7).
    pub p1: f64,
    /// Probability of extending a leg (0.7).
    pub p2: f64,
    /// Inclusive range of node counts kept ([10, 100]).
    pub nodes: [usize; 2],
    /// Which networkx implementation.
    pub variant: LobsterVariant,
}

/// One `nx.random_lobster(n, p1, p2, seed=seed)`; nodes are numbered as networkx numbers
/// them (backbone path `0..llen`, then legs in order of creation).
pub fn random_lobster(n: usize, p1: f64, p2: f64, seed: u64, variant: LobsterVariant) -> Graph {
    let mut rng = PyRandom::new(seed);
    // llen = int(2 * seed.random() * n + 0.5)
    let llen = (2.0 * rng.random() * n as f64 + 0.5).trunc() as usize;
    let mut edges: Vec<(usize, usize)> = (1..llen).map(|v| (v - 1, v)).collect();
    let mut current = llen as isize - 1;
    for b in 0..llen {
        match variant {
            LobsterVariant::Networkx23 => {
                if rng.random() < p1 {
                    current += 1;
                    edges.push((b, current as usize));
                    if rng.random() < p2 {
                        current += 1;
                        edges.push((current as usize - 1, current as usize));
                    }
                }
            }
            LobsterVariant::Networkx25 => {
                while rng.random() < p1 {
                    current += 1;
                    edges.push((b, current as usize));
                    let cat = current as usize;
                    while rng.random() < p2 {
                        current += 1;
                        edges.push((cat, current as usize));
                    }
                }
            }
        }
    }
    let n_nodes = (current + 1).max(0) as usize;
    Graph::new(n_nodes, edges).expect("lobster edges are simple by construction")
}

impl LobsterParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), DatasetError> {
        check_range("lobster: nodes", self.nodes)?;
        check_prob("lobster: p1", self.p1)?;
        check_prob("lobster: p2", self.p2)?;
        if self.p1 >= 1.0 || self.p2 >= 1.0 {
            return Err(DatasetError::InvalidParameter(
                "lobster: p1 and p2 must be below 1 (the while loops of networkx ≥ 2.5 would not end)"
                    .into(),
            ));
        }
        if self.backbone == 0 {
            return Err(DatasetError::InvalidParameter(
                "lobster: backbone must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Generates the graphs from Python seeds `seed, seed + 1, …`.
    pub fn generate(&self, seed: u64) -> Result<Vec<Graph>, DatasetError> {
        self.validate()?;
        // Expected acceptance is far above 1e-4 for any sensible range; give up after a bound
        // instead of looping forever on an impossible one (e.g. nodes [1000, 1000]).
        let max_tries = 10_000 * self.graphs.max(1) as u64;
        let mut out = Vec::with_capacity(self.graphs);
        let mut s = seed;
        let mut tries = 0u64;
        while out.len() < self.graphs {
            if tries == max_tries {
                return Err(DatasetError::InvalidParameter(format!(
                    "lobster: only {} of {} graphs had {}..={} nodes after {max_tries} draws",
                    out.len(),
                    self.graphs,
                    self.nodes[0],
                    self.nodes[1]
                )));
            }
            let g = random_lobster(self.backbone, self.p1, self.p2, s, self.variant);
            if (self.nodes[0]..=self.nodes[1]).contains(&g.n()) {
                out.push(g);
            }
            s = s.wrapping_add(1);
            tries += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lobsters_are_trees() {
        for seed in 0..50 {
            for v in [LobsterVariant::Networkx23, LobsterVariant::Networkx25] {
                let g = random_lobster(20, 0.7, 0.7, seed, v);
                if g.n() > 0 {
                    assert_eq!(g.num_edges(), g.n() - 1);
                }
            }
        }
    }

    #[test]
    fn first_gran_lobster_matches_networkx_2_3() {
        // networkx 2.3: nx.random_lobster(80, 0.7, 0.7, seed=1237) has 57 nodes and starts
        // with edges (0,1), (0,24), (1,2), (1,26), (2,3), (2,28), (3,4), (4,5).
        let g = random_lobster(80, 0.7, 0.7, 1237, LobsterVariant::Networkx23);
        assert_eq!(g.n(), 57);
        assert_eq!(
            &g.edges()[..8],
            &[
                (0, 1),
                (0, 24),
                (1, 2),
                (1, 26),
                (2, 3),
                (2, 28),
                (3, 4),
                (4, 5)
            ]
        );
    }
}
