//! Named evaluation protocols: which statistics, kernels, σ, normalisation and treatment of
//! isolated nodes each line of papers used.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::kernel::{EmptySetRule, Kernel};
use crate::MmdError;

/// A per-graph statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Degree histogram, normalised to a pmf.
    Degree,
    /// 100-bin histogram of local clustering coefficients on [0, 1], normalised.
    Clustering,
    /// Average per-node counts of the 15 orbits of 2–4-node graphlets (not normalised).
    Orbit,
    /// 200-bin histogram of normalized-Laplacian eigenvalues on [−1e-5, 2] (clipped into
    /// [0, 2]), normalised.
    Spectral,
}

impl Statistic {
    /// All four statistics, in the order the papers list them.
    pub const ALL: [Statistic; 4] = [
        Statistic::Degree,
        Statistic::Clustering,
        Statistic::Orbit,
        Statistic::Spectral,
    ];

    /// Canonical name (`degree`, `clustering`, `orbit`, `spectral`).
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Degree => "degree",
            Statistic::Clustering => "clustering",
            Statistic::Orbit => "orbit",
            Statistic::Spectral => "spectral",
        }
    }

    /// EMD ground-distance scaling of the reference code: the number of clustering bins
    /// (100) for clustering, 1 otherwise (EMD measured in bins).
    pub fn emd_distance_scaling(self) -> f64 {
        match self {
            Statistic::Clustering => 100.0,
            _ => 1.0,
        }
    }

    /// The reference σ of this statistic (1, 0.1, 30, 1), shared by GraphRNN, GRAN and SPECTRE.
    pub fn reference_sigma(self) -> f64 {
        match self {
            Statistic::Degree | Statistic::Spectral => 1.0,
            Statistic::Clustering => 0.1,
            Statistic::Orbit => 30.0,
        }
    }

    /// Whether the vectors are histograms normalised to sum 1 (`is_hist=True`).
    pub fn is_histogram(self) -> bool {
        !matches!(self, Statistic::Orbit)
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Statistic {
    type Err = MmdError;
    fn from_str(s: &str) -> Result<Self, MmdError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "degree" | "deg" => Ok(Statistic::Degree),
            "clustering" | "cluster" | "clus" => Ok(Statistic::Clustering),
            "orbit" | "orbits" => Ok(Statistic::Orbit),
            "spectral" | "spectre" | "spec" => Ok(Statistic::Spectral),
            _ => Err(MmdError::UnknownName {
                what: "statistic",
                name: s.to_string(),
                known: "degree, clustering, orbit, spectral".into(),
            }),
        }
    }
}

/// How histograms are normalised before the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// `s / np.sum(s)` (GraphRNN, EDP-GNN, GDSS, GRAN, GraphGDP).
    Sum,
    /// `s / (np.sum(s) + 1e-6)` (SPECTRE, DiGress `compute_mmd`).
    SumPlus1e6,
}

/// What happens to isolated nodes of the **generated** graphs before evaluation (reference
/// graphs are never changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolatedNodes {
    /// Evaluate the graphs as given.
    Keep,
    /// Delete isolated nodes; a graph left with no nodes becomes a single node
    /// (GDSS/EDP-GNN `adjs_to_graphs`: `remove_nodes_from(isolates)`, then `add_node` if empty).
    RemoveKeepOneNode,
    /// Delete isolated nodes; a graph left with no nodes is then dropped like any empty graph
    /// (GraphRNN/GRAN `get_graph` drops all-zero rows and columns).
    Remove,
}

impl IsolatedNodes {
    /// A one-line statement for reports.
    pub fn describe(self) -> &'static str {
        match self {
            IsolatedNodes::Keep => "isolated nodes of generated graphs are kept",
            IsolatedNodes::RemoveKeepOneNode => {
                "isolated nodes of generated graphs are removed (a graph left empty becomes one node, as GDSS/EDP-GNN adjs_to_graphs)"
            }
            IsolatedNodes::Remove => {
                "isolated nodes of generated graphs are removed (a graph left empty is dropped, as GraphRNN/GRAN get_graph)"
            }
        }
    }
}

/// A named evaluation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Protocol {
    /// GraphRNN's evaluator as copied by EDP-GNN and GDSS (their tables): Gaussian EMD for
    /// degree (σ 1), clustering (σ 0.1, ground distance |i−j|/100) and spectral (σ 1),
    /// Gaussian RBF σ 30 for orbits; histograms divided by their sum; isolated nodes of
    /// generated graphs removed.
    GraphRnn,
    /// GRAN's evaluator (lrjconan/GRAN utils/eval_helper.py): Gaussian total variation for all
    /// four statistics, σ 1 / 0.1 / 30 / 1; isolated nodes of generated graphs removed.
    Gran,
    /// SPECTRE / DiGress (`compute_emd=False`, the Planar and SBM tables): GRAN's kernels with
    /// `s / (sum + 1e-6)` normalisation and `disc = 1e6` for an empty set; generated graphs
    /// kept as sampled.
    Spectre,
    /// GraphGDP's public evaluator (GRAPH-0/GraphGDP evaluation/structure_evaluator.py,
    /// modified from GGM-metrics): Gaussian RBF on the L2 distance between normalised
    /// histograms, the maximum MMD over σ = exp(linspace(−5, 5, 50)[:20]); degree, clustering
    /// and spectral; generated graphs kept as sampled.
    Ggm,
}

impl Protocol {
    /// All protocols.
    pub const ALL: [Protocol; 4] = [
        Protocol::GraphRnn,
        Protocol::Gran,
        Protocol::Spectre,
        Protocol::Ggm,
    ];

    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::GraphRnn => "graphrnn",
            Protocol::Gran => "gran",
            Protocol::Spectre => "spectre",
            Protocol::Ggm => "ggm",
        }
    }

    /// Where the protocol comes from, for reports.
    pub fn source(self) -> &'static str {
        match self {
            Protocol::GraphRnn => {
                "GraphRNN eval/stats.py + mmd.py as used by EDP-GNN (GraphScoreMatching evaluation/) and GDSS (evaluation/stats.py with utils/loader.py load_eval_settings)"
            }
            Protocol::Gran => "GRAN utils/eval_helper.py + dist_helper.py (gaussian_tv)",
            Protocol::Spectre => {
                "SPECTRE util/eval_helper.py + dist_helper.py, DiGress src/analysis/spectre_utils.py (compute_emd=False)"
            }
            Protocol::Ggm => {
                "GraphGDP evaluation/structure_evaluator.py (from GGM-metrics), sigma_type='argmax'"
            }
        }
    }

    /// The kernel this protocol uses for a statistic.
    pub fn kernel(self, stat: Statistic) -> Kernel {
        let sigma = stat.reference_sigma();
        match self {
            Protocol::GraphRnn => match stat {
                Statistic::Orbit => Kernel::GaussianRbf { sigma },
                _ => Kernel::GaussianEmd {
                    sigma,
                    distance_scaling: stat.emd_distance_scaling(),
                },
            },
            Protocol::Gran | Protocol::Spectre => Kernel::GaussianTv { sigma },
            Protocol::Ggm => Kernel::RbfMaxOverSigmas {
                sigmas: Kernel::graphgdp_sigmas(),
            },
        }
    }

    /// Histogram normalisation.
    pub fn normalization(self) -> Normalization {
        match self {
            Protocol::Spectre => Normalization::SumPlus1e6,
            _ => Normalization::Sum,
        }
    }

    /// What `disc` does with an empty set.
    pub fn empty_set_rule(self) -> EmptySetRule {
        match self {
            Protocol::Spectre => EmptySetRule::Spectre,
            _ => EmptySetRule::Error,
        }
    }

    /// Default treatment of isolated nodes in generated graphs.
    pub fn default_isolated_nodes(self) -> IsolatedNodes {
        match self {
            Protocol::GraphRnn => IsolatedNodes::RemoveKeepOneNode,
            Protocol::Gran => IsolatedNodes::Remove,
            Protocol::Spectre | Protocol::Ggm => IsolatedNodes::Keep,
        }
    }

    /// Statistics evaluated by default.
    pub fn default_statistics(self) -> Vec<Statistic> {
        match self {
            // GraphGDP evaluates no orbits.
            Protocol::Ggm => vec![
                Statistic::Degree,
                Statistic::Clustering,
                Statistic::Spectral,
            ],
            _ => Statistic::ALL.to_vec(),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = MmdError;
    fn from_str(s: &str) -> Result<Self, MmdError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "graphrnn" | "gdss" | "edp-gnn" | "edpgnn" => Ok(Protocol::GraphRnn),
            "gran" => Ok(Protocol::Gran),
            "spectre" | "digress" => Ok(Protocol::Spectre),
            "ggm" | "graphgdp" => Ok(Protocol::Ggm),
            _ => Err(MmdError::UnknownName {
                what: "protocol",
                name: s.to_string(),
                known: "graphrnn (= gdss, edp-gnn), gran, spectre (= digress), ggm (= graphgdp)"
                    .into(),
            }),
        }
    }
}

/// Parses a kernel given as `emd[:σ]`, `tv[:σ]`, `rbf[:σ]` or `rbf-max` for a statistic
/// (σ defaults to the statistic's reference σ; the EMD distance scaling is the statistic's).
pub fn parse_kernel(stat: Statistic, spec: &str) -> Result<Kernel, MmdError> {
    let (kind, sigma) = match spec.split_once(':') {
        Some((k, s)) => {
            let v: f64 = s.trim().parse().map_err(|_| {
                MmdError::InvalidKernel(format!("σ '{s}' in '{spec}' is not a number"))
            })?;
            (k.trim().to_ascii_lowercase(), Some(v))
        }
        None => (spec.trim().to_ascii_lowercase(), None),
    };
    let sigma = sigma.unwrap_or(stat.reference_sigma());
    let k = match kind.as_str() {
        "emd" | "gaussian_emd" => Kernel::GaussianEmd {
            sigma,
            distance_scaling: stat.emd_distance_scaling(),
        },
        "tv" | "gaussian_tv" => Kernel::GaussianTv { sigma },
        "rbf" | "gaussian" | "gaussian_rbf" => Kernel::GaussianRbf { sigma },
        "rbf-max" | "rbf_max" => Kernel::RbfMaxOverSigmas {
            sigmas: Kernel::graphgdp_sigmas(),
        },
        _ => {
            return Err(MmdError::UnknownName {
                what: "kernel",
                name: kind,
                known: "emd, tv, rbf, rbf-max".into(),
            })
        }
    };
    k.validate()?;
    Ok(k)
}

/// What [`crate::evaluate`] computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// The protocol (named in the report; decides normalisation and the empty-set rule).
    pub protocol: Protocol,
    /// Statistics to compute, each with its kernel.
    pub statistics: Vec<(Statistic, Kernel)>,
    /// Treatment of isolated nodes in generated graphs.
    pub isolated_nodes: IsolatedNodes,
}

impl EvalConfig {
    /// The protocol's defaults: its statistics, kernels and isolated-node treatment.
    pub fn new(protocol: Protocol) -> Self {
        EvalConfig {
            protocol,
            statistics: protocol
                .default_statistics()
                .into_iter()
                .map(|s| (s, protocol.kernel(s)))
                .collect(),
            isolated_nodes: protocol.default_isolated_nodes(),
        }
    }

    /// Only these statistics, with the protocol's kernels.
    pub fn with_statistics(mut self, stats: &[Statistic]) -> Self {
        self.statistics = stats
            .iter()
            .map(|&s| (s, self.protocol.kernel(s)))
            .collect();
        self
    }

    /// Uses `kernel` for `stat` (adding the statistic if it was not selected).
    pub fn with_kernel(mut self, stat: Statistic, kernel: Kernel) -> Self {
        match self.statistics.iter_mut().find(|(s, _)| *s == stat) {
            Some(entry) => entry.1 = kernel,
            None => self.statistics.push((stat, kernel)),
        }
        self
    }

    /// Overrides the treatment of isolated nodes in generated graphs.
    pub fn with_isolated_nodes(mut self, iso: IsolatedNodes) -> Self {
        self.isolated_nodes = iso;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>().unwrap(), p);
        }
        for s in Statistic::ALL {
            assert_eq!(s.name().parse::<Statistic>().unwrap(), s);
        }
        assert_eq!("GDSS".parse::<Protocol>().unwrap(), Protocol::GraphRnn);
        let e = "foo".parse::<Protocol>().unwrap_err().to_string();
        assert!(
            e.contains("unknown protocol 'foo'") && e.contains("gran"),
            "{e}"
        );
    }

    #[test]
    fn kernels_parse() {
        assert_eq!(
            parse_kernel(Statistic::Clustering, "emd").unwrap(),
            Kernel::GaussianEmd {
                sigma: 0.1,
                distance_scaling: 100.0
            }
        );
        assert_eq!(
            parse_kernel(Statistic::Orbit, "tv:3").unwrap(),
            Kernel::GaussianTv { sigma: 3.0 }
        );
        assert!(parse_kernel(Statistic::Orbit, "tv:-1").is_err());
        assert!(parse_kernel(Statistic::Orbit, "tv:x").is_err());
        assert!(parse_kernel(Statistic::Orbit, "cosine").is_err());
    }

    #[test]
    fn graphrnn_table() {
        let c = EvalConfig::new(Protocol::GraphRnn);
        assert_eq!(c.statistics.len(), 4);
        assert_eq!(c.statistics[2].1, Kernel::GaussianRbf { sigma: 30.0 });
        assert_eq!(c.isolated_nodes, IsolatedNodes::RemoveKeepOneNode);
        let c = c.with_kernel(Statistic::Orbit, Kernel::GaussianTv { sigma: 30.0 });
        assert_eq!(c.statistics[2].1, Kernel::GaussianTv { sigma: 30.0 });
    }
}
