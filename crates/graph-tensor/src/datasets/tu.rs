//! Graph classification datasets in the TU format (Morris et al., TUDataset), read the way
//! GDSS's `graph_load_batch` reads them (GDSS:data/data_generators.py, from GraphRNN's
//! `Graph_load_batch`): `<NAME>_A.txt` (one `u, v` line per directed edge, 1-based global
//! node ids) and `<NAME>_graph_indicator.txt` (line `i` = graph of node `i`).
//!
//! Procedure: one big graph from all edges; every node of the indicator file added; isolated
//! nodes removed; for graph `g = 1..=max(indicator)` the subgraph induced by its nodes; kept
//! when it has `min_nodes..=max_nodes` nodes. For ENZYMES with 10..=1000 this gives 587 graphs
//! of 10–125 nodes, equal to GDSS's published list graph for graph with the node order
//! included: the node order is networkx's `G.subgraph(nodes)` order, CPython's set order of
//! the node ids ([`super::pyset`]). Self-loops (absent from ENZYMES) are dropped, since
//! [`Graph`] is simple; the reference would keep them.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::pyset::PySet;
use super::{check_range, DatasetError};
use crate::Graph;

/// Parameters of the TU reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuParams {
    /// Dataset name, the prefix of its files (`ENZYMES`).
    pub name: String,
    /// Inclusive range of node counts kept, counted after isolated nodes are removed
    /// ([10, 1000]).
    pub nodes: [usize; 2],
}

impl TuParams {
    /// The files the reader needs, relative to the source directory.
    pub fn required_files(&self) -> [String; 2] {
        [
            format!("{}_A.txt", self.name),
            format!("{}_graph_indicator.txt", self.name),
        ]
    }

    /// Reads the dataset from `source_dir`.
    pub fn generate(&self, source_dir: &Path) -> Result<Vec<Graph>, DatasetError> {
        check_range("tu: nodes", self.nodes)?;
        let [a, ind] = self.required_files();
        let (a_path, ind_path) = (source_dir.join(a), source_dir.join(ind));
        for p in [&a_path, &ind_path] {
            if !p.is_file() {
                return Err(DatasetError::MissingFile {
                    path: p.clone(),
                    what: "a TU-format dataset file".into(),
                });
            }
        }
        let indicator = read_column(&ind_path)?;
        let n_nodes = indicator.len();
        let edges = read_edges(&a_path, n_nodes, &ind_path)?;
        Ok(split_graphs(&indicator, &edges, self.nodes))
    }
}

fn open_lines(
    path: &Path,
) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)>, DatasetError> {
    let f = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    Ok(BufReader::new(f)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l)))
}

/// One positive integer per line (blank lines ignored).
fn read_column(path: &Path) -> Result<Vec<usize>, DatasetError> {
    let mut out = Vec::new();
    for (line_no, line) in open_lines(path)? {
        let line = line.map_err(|e| DatasetError::io(path, e))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match t.parse::<usize>() {
            Ok(g) if g >= 1 => out.push(g),
            _ => {
                return Err(DatasetError::parse(
                    path,
                    line_no,
                    format!("expected a positive integer graph id, found '{t}'"),
                ))
            }
        }
    }
    Ok(out)
}

/// `u, v` lines with 1-based node ids below `n_nodes + 1`; returned 0-based, in file order.
fn read_edges(
    path: &Path,
    n_nodes: usize,
    ind_path: &Path,
) -> Result<Vec<(usize, usize)>, DatasetError> {
    let mut out = Vec::new();
    for (line_no, line) in open_lines(path)? {
        let line = line.map_err(|e| DatasetError::io(path, e))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let mut parts = t.split(',').map(str::trim);
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<usize>().ok());
        let (u, v) = match (parse(parts.next()), parse(parts.next()), parts.next()) {
            (Some(u), Some(v), None) if u >= 1 && v >= 1 => (u, v),
            _ => {
                return Err(DatasetError::parse(
                    path,
                    line_no,
                    format!("expected 'u, v' with positive integer node ids, found '{t}'"),
                ))
            }
        };
        for x in [u, v] {
            if x > n_nodes {
                return Err(DatasetError::parse(
                    path,
                    line_no,
                    format!(
                        "node {x} has no graph: {} has {n_nodes} lines",
                        ind_path.file_name().map_or_else(
                            || ind_path.display().to_string(),
                            |f| f.to_string_lossy().into_owned()
                        )
                    ),
                ));
            }
        }
        out.push((u - 1, v - 1));
    }
    Ok(out)
}

/// GDSS's split of the big graph (0-based node ids; `indicator[i]` is 1-based).
fn split_graphs(indicator: &[usize], edges: &[(usize, usize)], nodes: [usize; 2]) -> Vec<Graph> {
    let n = indicator.len();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(u, v) in edges {
        if u != v {
            adj[u].push(v);
            adj[v].push(u);
        }
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }
    // Nodes of the big graph after `remove_nodes_from(isolates)`. A node with only a self-loop
    // is not isolated for networkx; it stays, as a node without edges.
    let mut has_loop = vec![false; n];
    for &(u, v) in edges {
        if u == v {
            has_loop[u] = true;
        }
    }
    let present: Vec<bool> = (0..n).map(|v| !adj[v].is_empty() || has_loop[v]).collect();
    let graph_size = present.iter().filter(|&&p| p).count();
    // G's own node order: first appearance in the edge file, then the indicator's nodes.
    let mut g_order: Vec<usize> = Vec::with_capacity(graph_size);
    let mut placed = vec![false; n];
    for &(u, v) in edges {
        for x in [u, v] {
            if !placed[x] {
                placed[x] = true;
                g_order.push(x);
            }
        }
    }
    let mut position = vec![usize::MAX; n];
    for (i, &v) in g_order.iter().filter(|&&v| present[v]).enumerate() {
        position[v] = i;
    }
    let num_graphs = indicator.iter().copied().max().unwrap_or(0);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); num_graphs + 1];
    for (v, &g) in indicator.iter().enumerate() {
        if present[v] {
            members[g].push(v); // ascending node ids, as `node_list[indicator == g]`
        }
    }
    let mut out = Vec::new();
    for m in members.iter().skip(1) {
        if !(nodes[0]..=nodes[1]).contains(&m.len()) {
            continue;
        }
        let order: Vec<usize> = if 2 * m.len() < graph_size {
            PySet::from_keys(m.iter().map(|&v| v as u64 + 1))
                .iter_order()
                .into_iter()
                .map(|v| v as usize - 1)
                .collect()
        } else {
            let mut o = m.clone();
            o.sort_by_key(|&v| position[v]);
            o
        };
        let mut index = vec![usize::MAX; n];
        for (i, &v) in order.iter().enumerate() {
            index[v] = i;
        }
        let mut es = Vec::new();
        for &v in &order {
            for &w in &adj[v] {
                if index[w] != usize::MAX && index[v] < index[w] {
                    es.push((index[v], index[w]));
                }
            }
        }
        out.push(Graph::new(order.len(), es).expect("TU subgraph edges are simple"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn small_tu_dataset() {
        let dir = tempfile::tempdir().unwrap();
        // Graph 1: triangle 1-2-3 plus isolated node 4; graph 2: path 5-6-7; graph 3: node 8.
        write(
            dir.path(),
            "T_A.txt",
            "1, 2\n2, 1\n2, 3\n3, 2\n1, 3\n3, 1\n5, 6\n6, 5\n6, 7\n7, 6\n",
        );
        write(
            dir.path(),
            "T_graph_indicator.txt",
            "1\n1\n1\n1\n2\n2\n2\n3\n",
        );
        let p = TuParams {
            name: "T".into(),
            nodes: [2, 10],
        };
        let gs = p.generate(dir.path()).unwrap();
        assert_eq!(gs.len(), 2);
        assert_eq!((gs[0].n(), gs[0].num_edges()), (3, 3));
        assert_eq!((gs[1].n(), gs[1].num_edges()), (3, 2));
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "T_A.txt", "1, 2\n2; 1\n");
        write(dir.path(), "T_graph_indicator.txt", "1\n1\n");
        let p = TuParams {
            name: "T".into(),
            nodes: [1, 10],
        };
        let e = p.generate(dir.path()).unwrap_err().to_string();
        assert!(e.contains("T_A.txt line 2") && e.contains("2; 1"), "{e}");

        write(dir.path(), "T_A.txt", "1, 2\n2, 9\n");
        let e = p.generate(dir.path()).unwrap_err().to_string();
        assert!(e.contains("T_A.txt line 2") && e.contains("node 9"), "{e}");

        write(dir.path(), "T_graph_indicator.txt", "1\nzero\n");
        let e = p.generate(dir.path()).unwrap_err().to_string();
        assert!(e.contains("T_graph_indicator.txt line 2"), "{e}");

        std::fs::remove_file(dir.path().join("T_A.txt")).unwrap();
        let e = p.generate(dir.path()).unwrap_err().to_string();
        assert!(e.contains("T_A.txt"), "{e}");
    }
}
