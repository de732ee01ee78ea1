//! networkx node-link JSON: what `json.dump(nx.node_link_data(G), f)` writes.
//!
//! ```json
//! {"directed": false, "multigraph": false, "graph": {},
//!  "nodes": [{"id": 0}, {"id": "a"}, {"id": [1, 2]}],
//!  "edges": [{"source": 0, "target": "a"}]}
//! ```
//!
//! A file holds one such object or a JSON array of them. The edge list is under `edges`
//! (networkx >= 3.4) or `links` (older networkx). Node ids may be any JSON value (ints,
//! strings, and the lists networkx writes for tuple nodes such as grid coordinates); they
//! become `0..n` in the order of the `nodes` list, and two ids are the same node when their
//! JSON text is the same (so `1` and `"1"` are different nodes, as in networkx). Other keys
//! (node and edge attributes, `graph`) are ignored. `"directed": true` is refused (graphdiff
//! graphs are undirected); multigraphs are read with repeated edges dropped, and self-loops
//! are dropped too, both reported through `tracing::warn!` (see [`super`]).
//!
//! JSON syntax errors name the line and column; structural faults name the graph's index
//! in the array (the data is parsed as a whole, so lines are not known there).
//!
//! The writer writes networkx >= 3.4's default layout (`"edges"` key, integer ids): one
//! object for a single graph, else an array with one graph per line. networkx older than
//! 3.4 reads it with `nx.node_link_graph(data, edges="edges")`.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::Path;

use serde_json::Value;

use super::{GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// Reads a node-link JSON file (see the module docs).
pub(crate) fn read<R: BufRead>(mut reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let mut buf = Vec::new();
    reader
        .read_to_end(&mut buf)
        .map_err(|e| IoError::io(name, e))?;
    if buf.trim_ascii().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(&buf).map_err(|e| {
        let (message, column) = super::jsonl::json_message(&e);
        IoError::Syntax {
            path: name.to_path_buf(),
            line: e.line(),
            column,
            format: GraphFormat::NodeLinkJson,
            message,
        }
    })?;
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| graph_from_value(v, i, name))
            .collect(),
        v @ Value::Object(_) => Ok(vec![graph_from_value(&v, 0, name)?]),
        other => Err(IoError::NodeLink {
            path: name.to_path_buf(),
            graph: 0,
            message: format!(
                "expected a node-link object or an array of them, found {}",
                kind(&other)
            ),
        }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a JSON value for messages.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(37).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn graph_from_value(v: &Value, index: usize, name: &Path) -> Result<Graph, IoError> {
    let err = |message: String| IoError::NodeLink {
        path: name.to_path_buf(),
        graph: index,
        message,
    };
    let obj = v
        .as_object()
        .ok_or_else(|| err(format!("expected a node-link object, found {}", kind(v))))?;
    match obj.get("directed") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => {}
        Some(Value::Bool(true)) => {
            return Err(err(
                "the graph is directed; graphdiff graphs are undirected (save G.to_undirected())"
                    .into(),
            ))
        }
        Some(other) => return Err(err(format!("'directed' is {}, not a boolean", show(other)))),
    }
    let nodes = match obj.get("nodes") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(err(format!("'nodes' is {}, not a list", kind(other)))),
        None => return Err(err("no 'nodes' list".into())),
    };
    if nodes.len() > MAX_NODES {
        return Err(err(format!(
            "{} nodes, more than the {MAX_NODES} graphdiff reads",
            nodes.len()
        )));
    }
    let mut index_of: HashMap<String, usize> = HashMap::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let id = node
            .as_object()
            .ok_or_else(|| err(format!("nodes[{i}] is {}, not an object", kind(node))))?
            .get("id")
            .ok_or_else(|| err(format!("nodes[{i}] has no 'id'")))?;
        if index_of.insert(id.to_string(), i).is_some() {
            return Err(err(format!("nodes[{i}]: id {} appears twice", show(id))));
        }
    }
    let (key, edges) = match (obj.get("edges"), obj.get("links")) {
        (Some(e), None) => ("edges", e),
        (None, Some(l)) => ("links", l),
        (Some(_), Some(_)) => {
            return Err(err(
                "both 'edges' and 'links' are present; which one is meant?".into(),
            ))
        }
        (None, None) => return Err(err("no 'edges' (or 'links') list".into())),
    };
    let edges = edges
        .as_array()
        .ok_or_else(|| err(format!("'{key}' is {}, not a list", kind(edges))))?;
    let mut pairs = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        let e = e
            .as_object()
            .ok_or_else(|| err(format!("{key}[{i}] is {}, not an object", kind(e))))?;
        let end = |which: &str| -> Result<usize, IoError> {
            let id = e
                .get(which)
                .ok_or_else(|| err(format!("{key}[{i}] has no '{which}'")))?;
            index_of.get(&id.to_string()).copied().ok_or_else(|| {
                err(format!(
                    "{key}[{i}]: {which} {} is not one of the graph's nodes",
                    show(id)
                ))
            })
        };
        pairs.push((end("source")?, end("target")?));
    }
    let (g, loops, repeats) = super::simplify(nodes.len(), pairs)
        .expect("endpoints come from the node index, so they are in range");
    super::warn_dropped(name, 0, index, loops, repeats);
    Ok(g)
}

/// Writes graphs as node-link JSON (see the module docs).
pub(crate) fn write<W: Write>(w: &mut W, graphs: &[Graph]) -> io::Result<()> {
    let one = |w: &mut W, g: &Graph| -> io::Result<()> {
        w.write_all(br#"{"directed": false, "multigraph": false, "graph": {}, "nodes": ["#)?;
        for i in 0..g.n() {
            if i > 0 {
                w.write_all(b", ")?;
            }
            write!(w, r#"{{"id": {i}}}"#)?;
        }
        w.write_all(br#"], "edges": ["#)?;
        for (k, &(u, v)) in g.edges().iter().enumerate() {
            if k > 0 {
                w.write_all(b", ")?;
            }
            write!(w, r#"{{"source": {u}, "target": {v}}}"#)?;
        }
        w.write_all(b"]}")
    };
    if let [g] = graphs {
        one(w, g)?;
        return w.write_all(b"\n");
    }
    w.write_all(b"[")?;
    for (i, g) in graphs.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        one(w, g)?;
    }
    w.write_all(b"\n]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(s: &str) -> Result<Vec<Graph>, IoError> {
        read(s.as_bytes(), Path::new("g.json"))
    }

    #[test]
    fn networkx_layouts() {
        // networkx 3.6: node_link_data(grid_2d_graph(2, 2)) (tuple ids become lists).
        let grid = r#"{"directed": false, "multigraph": false, "graph": {}, "nodes": [{"id": [0, 0]}, {"id": [0, 1]}, {"id": [1, 0]}, {"id": [1, 1]}], "edges": [{"source": [0, 0], "target": [1, 0]}, {"source": [0, 0], "target": [0, 1]}, {"source": [0, 1], "target": [1, 1]}, {"source": [1, 0], "target": [1, 1]}]}"#;
        assert_eq!(
            read_str(grid).unwrap(),
            vec![Graph::new(4, [(0, 1), (0, 2), (1, 3), (2, 3)]).unwrap()]
        );
        // Older networkx: "links", string ids, an isolated node, in an array.
        let old = r#"[{"directed": false, "multigraph": false, "graph": {}, "nodes": [{"id": "b"}, {"id": "a"}, {"id": "c"}], "links": [{"source": "a", "target": "b", "weight": 2}]},
                      {"nodes": [], "links": []}]"#;
        assert_eq!(
            read_str(old).unwrap(),
            vec![Graph::new(3, [(0, 1)]).unwrap(), Graph::empty(0)]
        );
    }

    #[test]
    fn faults() {
        let e = read_str(r#"{"nodes": [{"id": 0}], "edges": [{"source": 0, "target": 7}]}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "g.json graph 0: edges[0]: target 7 is not one of the graph's nodes"
        );
        let e = read_str("[{\"nodes\": [], \"links\": []},\n {\"nodes\": [{\"id\": 1}, {\"id\": 1}], \"links\": []}]")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "g.json graph 1: nodes[1]: id 1 appears twice");
        let e = read_str("{\"nodes\": [],\n \"edges\": [}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.json line 2 column"), "{e}");
        let e = read_str(r#"{"directed": true, "nodes": [], "edges": []}"#).unwrap_err();
        assert!(e.to_string().contains("directed"), "{e}");
        assert!(read_str("3").is_err());
        assert!(read_str(r#"{"nodes": []}"#).is_err());
    }
}
