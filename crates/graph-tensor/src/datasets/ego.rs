//! Ego graphs of the Citeseer citation graph (EDP-GNN / GDSS ego-small:
//! `citeseer_ego(radius=1, node_min=4, node_max=18)[:200]`, GDSS:data/data_generators.py and
//! GraphScoreMatching:process_dataset.py).
//!
//! Procedure: the largest connected component of Citeseer, its nodes renumbered `0..` in
//! order; for every node `i` in that order `nx.ego_graph(G, i, radius)`; keep those with
//! `node_min..=node_max` nodes, remove self-loops; keep the first `graphs`.
//!
//! The node order inside each ego graph is networkx's, which is not the BFS order: networkx
//! induces the subgraph through a Python `set` of the chosen nodes and, for subgraphs smaller
//! than half the graph, iterates over that set, so the order is CPython's hash-table order
//! ([`super::pyset`]). It depends on the order in which the BFS inserted the nodes, i.e. on
//! the adjacency order of the graph networkx built. We replay all of it: networkx's adjacency
//! insertion order while reading the edge file, the relabelling of the component
//! (`convert_node_labels_to_integers`, which re-adds edges in its edge-view order), the BFS of
//! `single_source_shortest_path_length`, and the set. GDSS built Citeseer from the Planetoid
//! pickle `ind.citeseer.graph` (a dict of unsorted adjacency lists, read here by
//! [`super::planetoid`]); from that file the replay reproduces the published ego-small list
//! exactly, node order included. From an edge list such as `citeseer.edges` (one sorted
//! `u v` line per edge) the graphs are the same — isomorphic, in the same order — and the node
//! order differs wherever the Planetoid lists were not sorted (31 of the 200 graphs).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::pyset::PySet;
use super::{check_range, DatasetError};
use crate::Graph;

/// Parameters of the ego-graph reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgoParams {
    /// Candidate files inside the source directory, the first one present is read: a
    /// Planetoid adjacency pickle (name ending in `.graph`, e.g. `ind.citeseer.graph`, what
    /// the reference read) or a `u v` edge list (e.g. `citeseer.edges`).
    pub files: Vec<String>,
    /// Ego radius (1 for ego-small).
    pub radius: usize,
    /// Inclusive range of ego-graph sizes kept ([4, 18]).
    pub nodes: [usize; 2],
    /// Keep only the first this many ego graphs (200); all when absent.
    #[serde(default)]
    pub graphs: Option<usize>,
}

/// An undirected graph as networkx stores it: nodes in insertion order and, per node, its
/// neighbours in insertion order (a self-loop appears once in its node's list).
#[derive(Debug, Clone, Default)]
pub struct NxAdjacency {
    /// Neighbour lists, indexed by node, in networkx's insertion order.
    pub adj: Vec<Vec<usize>>,
}

impl NxAdjacency {
    /// `nx.Graph()` with nodes `0..n` added in order.
    pub fn with_nodes(n: usize) -> Self {
        NxAdjacency {
            adj: vec![Vec::new(); n],
        }
    }

    /// `G.add_edge(u, v)`: appends each endpoint to the other's list unless already there.
    pub fn add_edge(&mut self, u: usize, v: usize) {
        let need = u.max(v) + 1;
        if self.adj.len() < need {
            self.adj.resize(need, Vec::new());
        }
        if !self.adj[u].contains(&v) {
            self.adj[u].push(v);
        }
        if u != v && !self.adj[v].contains(&u) {
            self.adj[v].push(u);
        }
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.adj.len()
    }
}

/// Reads a `u v` edge list (`#` comments and blank lines ignored) the way
/// `G = nx.Graph(); G.add_nodes_from(range(max_id + 1)); G.add_edges_from(lines)` would.
pub fn read_edge_file(path: &Path) -> Result<NxAdjacency, DatasetError> {
    let file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| DatasetError::io(path, e))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut it = t.split_whitespace();
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<usize>().ok());
        match (parse(it.next()), parse(it.next()), it.next()) {
            (Some(u), Some(v), None) => edges.push((u, v)),
            _ => {
                return Err(DatasetError::parse(
                    path,
                    i + 1,
                    format!("expected two non-negative integer node ids 'u v', found '{t}'"),
                ))
            }
        }
    }
    let n = edges.iter().map(|&(u, v)| u.max(v) + 1).max().unwrap_or(0);
    if n > 1 << 26 {
        return Err(DatasetError::parse(
            path,
            0,
            format!("node id {} is implausibly large", n - 1),
        ));
    }
    let mut g = NxAdjacency::with_nodes(n);
    for (u, v) in edges {
        g.add_edge(u, v);
    }
    Ok(g)
}

/// Reads a Planetoid `ind.*.graph` pickle the way `nx.from_dict_of_lists(graph)` builds
/// its graph (nodes in key order, then each key's list in order). The keys must be the node
/// ids `0..n` in ascending order, as in the Planetoid files.
pub fn read_planetoid(path: &Path) -> Result<NxAdjacency, DatasetError> {
    let dict = super::planetoid::read_adjacency_pickle(path)?;
    let n = dict.len();
    for (i, (k, nbrs)) in dict.iter().enumerate() {
        if *k != i as i64 {
            return Err(DatasetError::parse(
                path,
                0,
                format!("key {k} at position {i}: expected the node ids 0..{n} in ascending order"),
            ));
        }
        if let Some(v) = nbrs.iter().find(|&&v| v < 0 || v >= n as i64) {
            return Err(DatasetError::parse(
                path,
                0,
                format!("node {k} lists neighbour {v}, not a node (0..{n})"),
            ));
        }
    }
    let mut g = NxAdjacency::with_nodes(n);
    for (k, nbrs) in &dict {
        for &v in nbrs {
            g.add_edge(*k as usize, v as usize);
        }
    }
    Ok(g)
}

/// Nodes discovered by a breadth-first search from `source` up to depth `radius` (`None`:
/// unbounded), in networkx's order (level by level; within a level, neighbours of earlier
/// nodes first, each list in adjacency order).
fn bfs_order(
    adj: &[Vec<usize>],
    source: usize,
    radius: Option<usize>,
    seen: &mut [bool],
) -> Vec<usize> {
    let mut order = vec![source];
    seen[source] = true;
    let mut level_start = 0;
    let mut depth = 0;
    while level_start < order.len() && radius.is_none_or(|r| depth < r) {
        let level_end = order.len();
        for k in level_start..level_end {
            let v = order[k];
            for &w in &adj[v] {
                if !seen[w] {
                    seen[w] = true;
                    order.push(w);
                }
            }
        }
        level_start = level_end;
        depth += 1;
    }
    order
}

/// Node order of networkx `G.subgraph(nodes)` for a graph whose nodes are `0..graph_n` in
/// order: `nodes` in the order `nbunch_iter` yields them.
fn subgraph_order(nodes: &[usize], graph_n: usize) -> Vec<usize> {
    let set = PySet::from_keys(nodes.iter().map(|&v| v as u64));
    let mut order: Vec<usize> = set.iter_order().into_iter().map(|v| v as usize).collect();
    if 2 * order.len() >= graph_n {
        // networkx iterates over the graph's own node order, filtered.
        order.sort_unstable();
    }
    order
}

/// The largest connected component, relabelled `0..` as `nx.convert_node_labels_to_integers`
/// does, with networkx's adjacency order after relabelling.
pub fn largest_component(g: &NxAdjacency) -> NxAdjacency {
    let n = g.n();
    let mut seen = vec![false; n];
    let mut best: Vec<usize> = Vec::new();
    for v in 0..n {
        if !seen[v] {
            let comp = bfs_order(&g.adj, v, None, &mut seen);
            // `max(..., key=len)` keeps the first of equally large components.
            if comp.len() > best.len() {
                best = comp;
            }
        }
    }
    // Iteration order of G.subgraph(component).
    let order = subgraph_order(&best, n);
    let mut index = vec![usize::MAX; n];
    for (i, &v) in order.iter().enumerate() {
        index[v] = i;
    }
    // relabel_nodes(copy=True) adds the edges in the subgraph's edge-view order: nodes in
    // order, each node's neighbours in adjacency order, an edge reported once (from the node
    // reached first; a self-loop from its node).
    let mut h = NxAdjacency::with_nodes(order.len());
    let mut done = vec![false; n];
    for &v in &order {
        for &w in &g.adj[v] {
            if !done[w] && index[w] != usize::MAX {
                h.add_edge(index[v], index[w]);
            }
        }
        done[v] = true;
    }
    h
}

/// `nx.ego_graph(G, center, radius)` with self-loops removed, nodes in networkx's order.
pub fn ego_graph(g: &NxAdjacency, center: usize, radius: usize) -> Graph {
    let mut seen = vec![false; g.n()];
    let sp = bfs_order(&g.adj, center, Some(radius), &mut seen);
    let order = subgraph_order(&sp, g.n());
    let mut index = vec![usize::MAX; g.n()];
    for (i, &v) in order.iter().enumerate() {
        index[v] = i;
    }
    let mut edges = Vec::new();
    for &v in &order {
        for &w in &g.adj[v] {
            if index[w] != usize::MAX && index[v] < index[w] {
                edges.push((index[v], index[w]));
            }
        }
    }
    Graph::new(order.len(), edges).expect("ego graph edges are simple")
}

impl EgoParams {
    /// Reads the first of `files` present in `source_dir` and extracts the ego graphs.
    pub fn generate(&self, source_dir: &Path) -> Result<Vec<Graph>, DatasetError> {
        check_range("ego: nodes", self.nodes)?;
        let path = self
            .files
            .iter()
            .map(|f| source_dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| DatasetError::MissingFile {
                path: source_dir.join(self.files.first().map_or("", String::as_str)),
                what: format!(
                    "the graph: none of {} is in {}",
                    self.files.join(", "),
                    source_dir.display()
                ),
            })?;
        let g = if path.extension().is_some_and(|e| e == "graph") {
            read_planetoid(&path)?
        } else {
            read_edge_file(&path)?
        };
        let lcc = largest_component(&g);
        let mut out = Vec::new();
        for center in 0..lcc.n() {
            if self.graphs.is_some_and(|k| out.len() >= k) {
                break;
            }
            let e = ego_graph(&lcc, center, self.radius);
            if (self.nodes[0]..=self.nodes[1]).contains(&e.n()) {
                out.push(e);
            }
        }
        if let Some(k) = self.graphs {
            if out.len() < k {
                return Err(DatasetError::InvalidParameter(format!(
                    "ego: {} has only {} ego graphs with {}..={} nodes, {k} requested",
                    path.display(),
                    out.len(),
                    self.nodes[0],
                    self.nodes[1]
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabel_and_ego_order_follow_networkx() {
        // networkx 3.6: G = nx.Graph(); G.add_nodes_from(range(7))
        // G.add_edges_from([(0, 5), (5, 2), (2, 0), (3, 4), (5, 6), (6, 6)])
        // L = nx.convert_node_labels_to_integers(G.subgraph(max(nx.connected_components(G), key=len)))
        // [list(L.adj[v]) for v in L] == [[2, 1], [0, 2], [0, 1, 3], [2, 3]]
        let mut g = NxAdjacency::with_nodes(7);
        for (u, v) in [(0, 5), (5, 2), (2, 0), (3, 4), (5, 6), (6, 6)] {
            g.add_edge(u, v);
        }
        let l = largest_component(&g);
        assert_eq!(
            l.adj,
            vec![vec![2, 1], vec![0, 2], vec![0, 1, 3], vec![2, 3]]
        );

        // A path 0..40 plus chords: ego graphs whose node order is neither sorted nor BFS.
        // networkx 3.6: list(nx.ego_graph(L, 0, radius=1)) == [0, 1, 33, 9, 17] and
        // list(nx.ego_graph(L, 3, radius=2)) == [1, 2, 3, 4, 5, 19, 20, 21].
        let mut g = NxAdjacency::with_nodes(40);
        for i in 0..39 {
            g.add_edge(i, i + 1);
        }
        for (u, v) in [(0, 33), (0, 9), (0, 17), (5, 5), (20, 3)] {
            g.add_edge(u, v);
        }
        let l = largest_component(&g);
        assert_eq!(l.adj[0], vec![1, 33, 9, 17]);
        assert_eq!(l.adj[3], vec![2, 4, 20]);
        let e = ego_graph(&l, 0, 1);
        assert_eq!(e.edges(), &[(0, 1), (0, 2), (0, 3), (0, 4)]);
        let e = ego_graph(&l, 3, 2);
        // networkx's edges less the self-loop (4, 4) at node 5.
        assert_eq!(
            e.edges(),
            &[(0, 1), (1, 2), (2, 3), (2, 6), (3, 4), (5, 6), (6, 7)]
        );
    }

    #[test]
    fn malformed_edge_file_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.edges");
        std::fs::write(&p, "# header\n0 1\n1 x\n").unwrap();
        let e = read_edge_file(&p).unwrap_err().to_string();
        assert!(e.contains("bad.edges line 3"), "{e}");
    }
}
