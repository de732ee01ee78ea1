//! Stochastic block model graphs of SPECTRE (SPECTRE:data.py `SBMDataset`, shipped as
//! `data/sbm_200.pt` and used by DiGress): for each graph, the number of communities is
//! uniform in 2..=5 and each community size uniform in 20..=40 (numpy's inclusive
//! `random_integers`, unseeded in the reference); edges inside a community appear with
//! probability 0.3 and between communities with 0.005 (`nx.stochastic_block_model`).
//!
//! Nodes are numbered block by block. (networkx keeps each block in a Python `set`, so in the
//! shipped adjacency matrices the nodes of a block can be rotated; the graphs are the same up
//! to that relabelling.) Bergmeister et al. (ICLR 2024) additionally reject disconnected
//! graphs and draw sizes from 20..=39; `require_connected` reproduces the first.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::community::components;
use super::{check_prob, check_range, DatasetError};
use crate::Graph;

/// Parameters of the SBM generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbmParams {
    /// Number of graphs.
    pub graphs: usize,
    /// Inclusive range of the number of communities ([2, 5]).
    pub communities: [usize; 2],
    /// Inclusive range of each community's size ([20, 40]).
    pub community_size: [usize; 2],
    /// Edge probability inside a community (0.3).
    pub p_intra: f64,
    /// Edge probability between communities (0.005).
    pub p_inter: f64,
    /// Redraw graphs that are not connected (false in SPECTRE).
    #[serde(default)]
    pub require_connected: bool,
}

/// An SBM graph with the given block sizes (nodes numbered block by block).
pub fn sbm(sizes: &[usize], p_intra: f64, p_inter: f64, rng: &mut ChaCha8Rng) -> Graph {
    let n: usize = sizes.iter().sum();
    let mut block = Vec::with_capacity(n);
    for (b, &s) in sizes.iter().enumerate() {
        block.extend(std::iter::repeat_n(b, s));
    }
    let mut edges = Vec::new();
    for u in 0..n {
        for v in u + 1..n {
            let p = if block[u] == block[v] {
                p_intra
            } else {
                p_inter
            };
            if rng.gen::<f64>() < p {
                edges.push((u, v));
            }
        }
    }
    Graph::new(n, edges).expect("SBM edges are simple by construction")
}

impl SbmParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), DatasetError> {
        check_range("sbm: communities", self.communities)?;
        check_range("sbm: community_size", self.community_size)?;
        check_prob("sbm: p_intra", self.p_intra)?;
        check_prob("sbm: p_inter", self.p_inter)?;
        if self.communities[0] == 0 || self.community_size[0] == 0 {
            return Err(DatasetError::InvalidParameter(
                "sbm: communities and community sizes must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Generates the graphs; also returns each graph's block sizes.
    pub fn generate_with_blocks(
        &self,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<(Graph, Vec<usize>)>, DatasetError> {
        self.validate()?;
        let mut out = Vec::with_capacity(self.graphs);
        let max_tries = 1000 * self.graphs.max(1);
        let mut tries = 0;
        while out.len() < self.graphs {
            if tries == max_tries {
                return Err(DatasetError::InvalidParameter(format!(
                    "sbm: only {} of {} graphs were connected after {max_tries} draws",
                    out.len(),
                    self.graphs
                )));
            }
            tries += 1;
            let k = rng.gen_range(self.communities[0]..=self.communities[1]);
            let sizes: Vec<usize> = (0..k)
                .map(|_| rng.gen_range(self.community_size[0]..=self.community_size[1]))
                .collect();
            let g = sbm(&sizes, self.p_intra, self.p_inter, rng);
            if self.require_connected && components(g.n(), g.edges()).len() != 1 {
                continue;
            }
            out.push((g, sizes));
        }
        Ok(out)
    }

    /// Generates the graphs.
    pub fn generate(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Graph>, DatasetError> {
        Ok(self
            .generate_with_blocks(rng)?
            .into_iter()
            .map(|(g, _)| g)
            .collect())
    }

    /// Expected edge count and its variance for block sizes `sizes` (a sum of independent
    /// Bernoulli pairs).
    pub fn edge_moments(&self, sizes: &[usize]) -> (f64, f64) {
        let total: usize = sizes.iter().sum();
        let intra: usize = sizes.iter().map(|&s| s * s.saturating_sub(1) / 2).sum();
        let inter = total * total.saturating_sub(1) / 2 - intra;
        let (pi, po) = (self.p_intra, self.p_inter);
        (
            intra as f64 * pi + inter as f64 * po,
            intra as f64 * pi * (1.0 - pi) + inter as f64 * po * (1.0 - po),
        )
    }
}
