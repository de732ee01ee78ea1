//! [`MmdError`]: what can go wrong when evaluating graph sets.

/// Why an evaluation could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MmdError {
    /// A set of graphs is empty (before or after dropping empty graphs), and the protocol
    /// has no value for that case.
    #[error("the {side} set is empty{detail}: the MMD is undefined")]
    EmptySet {
        /// `"reference"` or `"generated"`.
        side: &'static str,
        /// Extra context, e.g. how many graphs were dropped.
        detail: String,
    },
    /// A reference graph has no nodes: the reference code produces NaN for it.
    #[error("reference graph {index} has no nodes (the reference evaluators produce NaN for it)")]
    EmptyReferenceGraph {
        /// Position of the graph in the reference set.
        index: usize,
    },
    /// A name (protocol, statistic, kernel, validity family) is not known.
    #[error("unknown {what} '{name}' (known: {known})")]
    UnknownName {
        /// What kind of name it is.
        what: &'static str,
        /// The name as given.
        name: String,
        /// The accepted names.
        known: String,
    },
    /// A kernel parameter is invalid (σ must be finite and positive).
    #[error("invalid kernel parameter: {0}")]
    InvalidKernel(String),
    /// A configuration asks for something that cannot be computed.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The eigenvalue solver returned a non-finite value.
    #[error("graph {index} of the {side} set: the eigenvalue solver returned a non-finite value")]
    Eigen {
        /// `"reference"` or `"generated"`.
        side: &'static str,
        /// Position of the graph.
        index: usize,
    },
}
