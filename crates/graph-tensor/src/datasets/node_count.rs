//! The empirical node-count distribution of a training set, from which one-shot generators
//! draw the size of each graph they sample.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::DatasetError;
use crate::Graph;

/// Empirical distribution of the node count over a set of graphs: `P(n) = #{graphs with n
/// nodes} / #graphs`. This is GraphGDP's `n_node_pmf` (`np.bincount` of the training node
/// counts, normalised; GraphGDP:datasets.py) and, equivalently, EDP-GNN / discrete-DDPM's
/// practice of copying the node count of a uniformly chosen training graph.
///
/// Sampling is exact: an integer drawn uniformly from `0..#graphs` is located in the
/// cumulative counts, so no floating-point rounding biases rare sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NodeCountRepr", into = "NodeCountRepr")]
pub struct NodeCountDistribution {
    /// `counts[n]` = number of graphs with `n` nodes (trailing entry non-zero).
    counts: Vec<u64>,
    /// Cumulative counts: `cumulative[n] = counts[0] + … + counts[n]`.
    cumulative: Vec<u64>,
}

/// Serialised form: `{"counts": [c0, c1, ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeCountRepr {
    counts: Vec<u64>,
}

impl TryFrom<NodeCountRepr> for NodeCountDistribution {
    type Error = DatasetError;
    fn try_from(r: NodeCountRepr) -> Result<Self, DatasetError> {
        NodeCountDistribution::from_counts(r.counts)
    }
}

impl From<NodeCountDistribution> for NodeCountRepr {
    fn from(d: NodeCountDistribution) -> Self {
        NodeCountRepr { counts: d.counts }
    }
}

impl NodeCountDistribution {
    /// The node-count distribution of `graphs` (typically a training split).
    pub fn from_graphs(graphs: &[Graph]) -> Result<Self, DatasetError> {
        Self::from_sizes(graphs.iter().map(Graph::n))
    }

    /// The distribution of the given node counts.
    pub fn from_sizes<I: IntoIterator<Item = usize>>(sizes: I) -> Result<Self, DatasetError> {
        let mut counts: Vec<u64> = Vec::new();
        for n in sizes {
            if counts.len() <= n {
                counts.resize(n + 1, 0);
            }
            counts[n] += 1;
        }
        Self::from_counts(counts)
    }

    /// From a histogram: `counts[n]` graphs with `n` nodes. At least one count must be
    /// non-zero.
    pub fn from_counts(mut counts: Vec<u64>) -> Result<Self, DatasetError> {
        while counts.last() == Some(&0) {
            counts.pop();
        }
        if counts.is_empty() {
            return Err(DatasetError::EmptyNodeCounts);
        }
        let mut acc = 0u64;
        let cumulative = counts
            .iter()
            .map(|&c| {
                acc += c;
                acc
            })
            .collect();
        Ok(NodeCountDistribution { counts, cumulative })
    }

    /// Number of graphs the distribution was built from.
    pub fn total(&self) -> u64 {
        *self.cumulative.last().expect("non-empty by construction")
    }

    /// Histogram: `counts()[n]` graphs had `n` nodes.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Probability mass function indexed by node count (length `max() + 1`), like
    /// GraphGDP's `n_node_pmf`.
    pub fn pmf(&self) -> Vec<f64> {
        let t = self.total() as f64;
        self.counts.iter().map(|&c| c as f64 / t).collect()
    }

    /// `P(n)`; 0 outside the support.
    pub fn prob(&self, n: usize) -> f64 {
        self.counts
            .get(n)
            .map_or(0.0, |&c| c as f64 / self.total() as f64)
    }

    /// Smallest node count with non-zero probability.
    pub fn min(&self) -> usize {
        self.counts
            .iter()
            .position(|&c| c > 0)
            .expect("non-empty by construction")
    }

    /// Largest node count with non-zero probability (the padding size a batch needs).
    pub fn max(&self) -> usize {
        self.counts.len() - 1
    }

    /// Mean node count.
    pub fn mean(&self) -> f64 {
        let s: f64 = self
            .counts
            .iter()
            .enumerate()
            .map(|(n, &c)| n as f64 * c as f64)
            .sum();
        s / self.total() as f64
    }

    /// Draws one node count.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let r = rng.gen_range(0..self.total());
        // First n with cumulative[n] > r.
        self.cumulative.partition_point(|&c| c <= r)
    }

    /// Draws `count` node counts from a ChaCha8 generator seeded with `seed`.
    pub fn sample_n(&self, count: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count).map(|_| self.sample(&mut rng)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pmf_and_moments() {
        let d = NodeCountDistribution::from_sizes([12, 12, 14, 20]).unwrap();
        assert_eq!(d.total(), 4);
        assert_eq!((d.min(), d.max()), (12, 20));
        assert_eq!(d.pmf().len(), 21);
        assert!((d.prob(12) - 0.5).abs() < 1e-15);
        assert!((d.prob(14) - 0.25).abs() < 1e-15);
        assert_eq!(d.prob(13), 0.0);
        assert_eq!(d.prob(99), 0.0);
        assert!((d.mean() - 14.5).abs() < 1e-12);
        assert!((d.pmf().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn empty_is_an_error() {
        assert!(matches!(
            NodeCountDistribution::from_graphs(&[]),
            Err(DatasetError::EmptyNodeCounts)
        ));
        assert!(NodeCountDistribution::from_counts(vec![0, 0]).is_err());
    }

    #[test]
    fn sampling_frequencies_match_pmf() {
        // 3 : 1 between 10 and 30 nodes; 40,000 draws: the standard error of the frequency
        // of 10 is sqrt(0.75·0.25/40000) ≈ 0.0022, so 5 σ is 0.011.
        let d = NodeCountDistribution::from_sizes([10, 10, 10, 30]).unwrap();
        let s = d.sample_n(40_000, 7);
        assert!(s.iter().all(|&n| n == 10 || n == 30));
        let f10 = s.iter().filter(|&&n| n == 10).count() as f64 / s.len() as f64;
        assert!((f10 - 0.75).abs() < 0.011, "frequency of 10 nodes: {f10}");
        assert_eq!(d.sample_n(100, 3), d.sample_n(100, 3));
        assert_ne!(d.sample_n(100, 3), d.sample_n(100, 4));
    }

    #[test]
    fn serde_round_trip() {
        let d = NodeCountDistribution::from_sizes([3, 5, 5]).unwrap();
        let s = serde_json::to_string(&d).unwrap();
        assert_eq!(s, r#"{"counts":[0,0,0,1,0,2]}"#);
        assert_eq!(
            serde_json::from_str::<NodeCountDistribution>(&s).unwrap(),
            d
        );
        assert!(serde_json::from_str::<NodeCountDistribution>(r#"{"counts":[0]}"#).is_err());
    }

    proptest! {
        #[test]
        fn samples_stay_in_support(sizes in proptest::collection::vec(0usize..50, 1..40), seed in any::<u64>()) {
            let d = NodeCountDistribution::from_sizes(sizes.iter().copied()).unwrap();
            for n in d.sample_n(50, seed) {
                prop_assert!(sizes.contains(&n));
            }
        }
    }
}
