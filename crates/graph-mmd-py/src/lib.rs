//! `graphdiff_mmd._core`: the compiled half of the Python package `graphdiff_mmd`.
//!
//! The pure-Python layer (`python/graphdiff_mmd/__init__.py`) turns networkx graphs, numpy
//! adjacency arrays and edge lists into flat integer lists and calls the functions here; this
//! module validates them into [`graph_tensor::Graph`]s (errors name the graph's position and
//! the problem), runs [`graph_mmd::evaluate`] / [`graph_mmd::sample_quality`] with the GIL
//! released on a local rayon pool of the requested size, and returns the report as JSON text
//! (the same serialisation as `graphdiff eval --json`).

use std::collections::HashMap;

use graph_mmd::{
    evaluate as mmd_evaluate, parse_kernel, sample_quality as mmd_quality, EvalConfig,
    IsolatedNodes, MmdError, Protocol, Statistic, Validity,
};
use graph_tensor::io::MAX_NODES;
use graph_tensor::Graph;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde::Serialize;

create_exception!(
    _core,
    GraphInputError,
    PyValueError,
    "A graph given to graphdiff_mmd is not an undirected simple graph (or not a graph at all); \
     the message names the argument, the graph's position and the problem."
);

/// A validated list of undirected simple graphs, ready for evaluation.
///
/// Built by the Python layer from whatever the user passed; can be passed again to every
/// function of `graphdiff_mmd` to skip the conversion.
#[pyclass(frozen, module = "graphdiff_mmd._core")]
pub struct GraphSet {
    graphs: Vec<Graph>,
}

/// Why one graph's edge list is not an undirected simple graph.
fn check_edges(n: usize, pairs: &[(i64, i64)]) -> Result<Vec<(usize, usize)>, String> {
    let mut ordered: HashMap<(usize, usize), usize> = HashMap::with_capacity(pairs.len());
    for (k, &(u, v)) in pairs.iter().enumerate() {
        for w in [u, v] {
            if w < 0 || w as u64 >= n as u64 {
                return Err(format!(
                    "edge {k} ({u}, {v}) names node {w}, but the graph has {n} nodes (0..{n})"
                ));
            }
        }
        if u == v {
            return Err(format!(
                "self-loop on node {u} (edge {k}); the statistics are defined for simple graphs: \
                 remove self-loops first (networkx: G.remove_edges_from(nx.selfloop_edges(G)))"
            ));
        }
        let key = (u as usize, v as usize);
        if let Some(first) = ordered.insert(key, k) {
            return Err(format!(
                "edge ({u}, {v}) is listed twice (edges {first} and {k}); a multigraph is not a \
                 simple graph"
            ));
        }
    }
    // Each undirected edge once, or every edge in both directions (PyG's edge_index).
    let both = ordered
        .keys()
        .filter(|&&(u, v)| ordered.contains_key(&(v, u)))
        .count();
    if both == 0 {
        return Ok(ordered.keys().map(|&(u, v)| (u.min(v), u.max(v))).collect());
    }
    if both == ordered.len() {
        return Ok(ordered.keys().filter(|&&(u, v)| u < v).copied().collect());
    }
    let (u, v) = ordered
        .keys()
        .find(|&&(u, v)| ordered.contains_key(&(v, u)))
        .copied()
        .expect("counted above");
    Err(format!(
        "edge {{{u}, {v}}} is listed in both directions but other edges only once; list every \
         undirected edge once, or every edge in both directions (PyG edge_index)"
    ))
}

/// Builds graph `i` of a set, or the error message naming it.
fn build_graph(name: &str, i: usize, n: i64, pairs: &[(i64, i64)]) -> Result<Graph, String> {
    let at = |msg: String| format!("{name}[{i}]: {msg}");
    if n < 0 {
        return Err(at(format!("negative node count {n}")));
    }
    if n as u64 > MAX_NODES as u64 {
        return Err(at(format!(
            "{n} nodes, more than the {MAX_NODES} graphdiff accepts (as its file readers)"
        )));
    }
    let n = n as usize;
    let edges = check_edges(n, pairs).map_err(at)?;
    Graph::new(n, edges).map_err(|e| at(e.to_string()))
}

#[pymethods]
impl GraphSet {
    /// Validates graphs given as flat integer lists: graph `i` has `node_counts[i]` nodes and
    /// the next `edge_counts[i]` pairs of `endpoints`; `name` is used in error messages
    /// (`name[i]: self-loop on node 3 ...`).
    #[new]
    #[pyo3(signature = (node_counts, endpoints, edge_counts, name = "graphs"))]
    fn new(
        py: Python<'_>,
        node_counts: Vec<i64>,
        endpoints: Vec<i64>,
        edge_counts: Vec<i64>,
        name: &str,
    ) -> PyResult<Self> {
        if node_counts.len() != edge_counts.len() {
            return Err(PyValueError::new_err(format!(
                "{} node counts but {} edge counts",
                node_counts.len(),
                edge_counts.len()
            )));
        }
        if endpoints.len() % 2 != 0 {
            return Err(PyValueError::new_err(
                "endpoints must hold an even number of integers (u, v pairs)",
            ));
        }
        let total: i64 = edge_counts.iter().map(|&m| m.max(0)).sum();
        if edge_counts.iter().any(|&m| m < 0) || total as usize * 2 != endpoints.len() {
            return Err(PyValueError::new_err(format!(
                "edge counts add up to {total} edges but {} endpoint pairs were given",
                endpoints.len() / 2
            )));
        }
        let name = name.to_string();
        let graphs = py.detach(move || -> Result<Vec<Graph>, String> {
            let pairs: Vec<(i64, i64)> = endpoints.chunks_exact(2).map(|p| (p[0], p[1])).collect();
            let mut start = 0usize;
            let mut graphs = Vec::with_capacity(node_counts.len());
            for (i, (&n, &m)) in node_counts.iter().zip(&edge_counts).enumerate() {
                let end = start + m as usize;
                graphs.push(build_graph(&name, i, n, &pairs[start..end])?);
                start = end;
            }
            Ok(graphs)
        });
        graphs
            .map(|graphs| GraphSet { graphs })
            .map_err(GraphInputError::new_err)
    }

    fn __len__(&self) -> usize {
        self.graphs.len()
    }

    fn __repr__(&self) -> String {
        let nodes: usize = self.graphs.iter().map(Graph::n).sum();
        let edges: usize = self.graphs.iter().map(Graph::num_edges).sum();
        format!(
            "GraphSet({} graphs, {nodes} nodes, {edges} edges)",
            self.graphs.len()
        )
    }

    /// Number of nodes of every graph.
    fn node_counts(&self) -> Vec<usize> {
        self.graphs.iter().map(Graph::n).collect()
    }

    /// The edges `(u, v)`, `u < v`, of graph `i`, sorted.
    fn edges(&self, i: usize) -> PyResult<Vec<(usize, usize)>> {
        self.graphs
            .get(i)
            .map(|g| g.edges().to_vec())
            .ok_or_else(|| {
                pyo3::exceptions::PyIndexError::new_err(format!(
                    "graph {i} of a set of {}",
                    self.graphs.len()
                ))
            })
    }
}

/// A rayon pool of `threads` workers (all cores when `None`), local to one call.
fn pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        b = b.num_threads(t);
    }
    b.build()
        .map_err(|e| PyRuntimeError::new_err(format!("starting the worker threads: {e}")))
}

fn value_error(e: MmdError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn parse<T: std::str::FromStr<Err = MmdError>>(s: &str) -> PyResult<T> {
    s.parse().map_err(value_error)
}

/// What `evaluate` returns (as JSON).
#[derive(Serialize)]
struct EvalOut<'a> {
    report: &'a graph_mmd::Report,
    threads: usize,
}

/// MMD of `generated` against `reference` under `protocol`; returns the report as JSON text
/// (the `report` object of `graphdiff eval --json`, plus the thread count used).
///
/// `statistics`: names (default: the protocol's). `kernels`: `(statistic, spec)` pairs with
/// spec `emd[:σ]`, `tv[:σ]`, `rbf[:σ]` or `rbf-max`. `isolated_nodes`: `keep`, `remove` or
/// `remove_keep_one_node` (default: the protocol's).
#[pyfunction]
#[pyo3(signature = (reference, generated, protocol = "graphrnn", statistics = None, kernels = None, isolated_nodes = None, threads = None))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    reference: &Bound<'_, GraphSet>,
    generated: &Bound<'_, GraphSet>,
    protocol: &str,
    statistics: Option<Vec<String>>,
    kernels: Option<Vec<(String, String)>>,
    isolated_nodes: Option<&str>,
    threads: Option<usize>,
) -> PyResult<String> {
    let protocol: Protocol = parse(protocol)?;
    let mut cfg = EvalConfig::new(protocol);
    if let Some(list) = statistics {
        let stats = list
            .iter()
            .map(|s| parse::<Statistic>(s))
            .collect::<PyResult<Vec<_>>>()?;
        if stats.is_empty() {
            return Err(PyValueError::new_err("statistics names no statistic"));
        }
        cfg = cfg.with_statistics(&stats);
    }
    for (stat, spec) in kernels.unwrap_or_default() {
        let stat: Statistic = parse(&stat)?;
        cfg = cfg.with_kernel(stat, parse_kernel(stat, &spec).map_err(value_error)?);
    }
    if let Some(iso) = isolated_nodes {
        cfg = cfg.with_isolated_nodes(match iso {
            "keep" => IsolatedNodes::Keep,
            "remove" => IsolatedNodes::Remove,
            "remove_keep_one_node" => IsolatedNodes::RemoveKeepOneNode,
            other => {
                return Err(PyValueError::new_err(format!(
                    "isolated_nodes '{other}': expected keep, remove or remove_keep_one_node"
                )))
            }
        });
    }
    let pool = pool(threads)?;
    let (r, g) = (reference.get(), generated.get());
    let report = py
        .detach(|| pool.install(|| mmd_evaluate(&r.graphs, &g.graphs, &cfg)))
        .map_err(value_error)?;
    serde_json::to_string(&EvalOut {
        report: &report,
        threads: pool.current_num_threads(),
    })
    .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// Uniqueness, novelty (against `train`), validity (`planar`, `tree`, `lobster`) and V.U.N.
/// of `generated`, as JSON text (the `quality` object of `graphdiff eval --json`).
#[pyfunction]
#[pyo3(signature = (generated, train = None, validity = None, threads = None))]
fn sample_quality(
    py: Python<'_>,
    generated: &Bound<'_, GraphSet>,
    train: Option<&Bound<'_, GraphSet>>,
    validity: Option<&str>,
    threads: Option<usize>,
) -> PyResult<String> {
    let validity: Option<Validity> = validity.map(parse).transpose()?;
    let pool = pool(threads)?;
    let g = generated.get();
    let t = train.map(|t| t.get());
    let q = py
        .detach(|| {
            pool.install(|| mmd_quality(&g.graphs, t.map(|t| t.graphs.as_slice()), validity))
        })
        .map_err(value_error)?;
    serde_json::to_string(&q).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The compiled module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("GraphInputError", m.py().get_type::<GraphInputError>())?;
    m.add_class::<GraphSet>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(sample_quality, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_edges;

    #[test]
    fn edge_rules() {
        assert_eq!(check_edges(3, &[(0, 1), (2, 1)]).unwrap().len(), 2);
        // PyG style: both directions.
        let mut e = check_edges(3, &[(0, 1), (1, 0), (1, 2), (2, 1)]).unwrap();
        e.sort();
        assert_eq!(e, vec![(0, 1), (1, 2)]);
        let err = check_edges(3, &[(0, 1), (1, 0), (1, 2)]).unwrap_err();
        assert!(err.contains("both directions"), "{err}");
        assert!(check_edges(3, &[(0, 0)])
            .unwrap_err()
            .contains("self-loop on node 0"));
        assert!(check_edges(3, &[(0, 3)])
            .unwrap_err()
            .contains("names node 3"));
        assert!(check_edges(3, &[(0, -1)])
            .unwrap_err()
            .contains("names node -1"));
        assert!(check_edges(3, &[(0, 1), (0, 1)])
            .unwrap_err()
            .contains("listed twice"));
    }
}
