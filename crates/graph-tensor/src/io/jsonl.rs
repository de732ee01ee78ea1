//! JSON lines: one graph per line as `{"n": N, "edges": [[u, v], ...]}`, the serde form of
//! [`Graph`]. Blank lines are skipped. The form is strict, like `Graph`'s own
//! deserialisation: unknown keys, self-loops, repeated edges and edges naming a node `>= n`
//! are errors naming the line.

use std::io::{self, BufRead, Write};
use std::path::Path;

use serde::Deserialize;

use super::{GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// The line as written, before validation (so `n` can be checked before anything is built).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    n: u64,
    edges: Vec<(u64, u64)>,
}

/// A serde_json message without its ` at line L column C` suffix, and the column.
pub(crate) fn json_message(e: &serde_json::Error) -> (String, Option<usize>) {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = super::one_line(full.strip_suffix(&suffix).unwrap_or(&full), 240);
    (msg, (e.column() > 0).then_some(e.column()))
}

/// Reads a JSON-lines file (see the module docs).
pub(crate) fn read<R: BufRead>(reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let mut graphs = Vec::new();
    super::for_each_line(reader, name, |line, s| {
        if s.trim_ascii().is_empty() {
            return Ok(());
        }
        let raw: Raw = serde_json::from_slice(s).map_err(|e| {
            let (message, column) = json_message(&e);
            IoError::Syntax {
                path: name.to_path_buf(),
                line,
                column,
                format: GraphFormat::JsonLines,
                message,
            }
        })?;
        if raw.n > MAX_NODES as u64 {
            return Err(IoError::TooManyNodes {
                path: name.to_path_buf(),
                line,
                n: raw.n,
                limit: MAX_NODES,
            });
        }
        let n = raw.n as usize;
        // Ids above usize::MAX cannot be nodes; clamp so Graph::new reports them out of range.
        let edges = raw.edges.into_iter().map(|(u, v)| {
            (
                usize::try_from(u).unwrap_or(usize::MAX),
                usize::try_from(v).unwrap_or(usize::MAX),
            )
        });
        let g = Graph::new(n, edges).map_err(|err| IoError::Graph {
            path: name.to_path_buf(),
            line,
            graph: graphs.len(),
            err,
        })?;
        graphs.push(g);
        Ok(())
    })?;
    Ok(graphs)
}

/// Writes graphs as JSON lines.
pub(crate) fn write<W: Write>(w: &mut W, graphs: &[Graph]) -> io::Result<()> {
    for g in graphs {
        serde_json::to_writer(&mut *w, g)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(s: &str) -> Result<Vec<Graph>, IoError> {
        read(s.as_bytes(), Path::new("g.jsonl"))
    }

    #[test]
    fn reads_and_validates() {
        let gs =
            read_str("{\"n\": 3, \"edges\": [[2, 0]]}\n\n{\"edges\": [], \"n\": 0}\n").unwrap();
        assert_eq!(gs, vec![Graph::new(3, [(0, 2)]).unwrap(), Graph::empty(0)]);
        let e = read_str("{\"n\": 3, \"edges\": []}\n{\"n\": 3, \"edges\": [[0, 5]]}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "g.jsonl line 2: edge 0-5 names node 5, but the graph has only 3 nodes (0..3)"
        );
        let e = read_str("{\"n\": 3, \"edges\": [[0, 1]], \"x\": 1}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("g.jsonl line 1 column") && e.contains("unknown field"),
            "{e}"
        );
        let e = read_str("{\"n\": 3, \"edges\": [[1, 1]]}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("self-loop"), "{e}");
        let e = read_str("{\"n\": 1e300, \"edges\": []}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.jsonl line 1"), "{e}");
        let e = read_str("{\"n\": 18446744073709551615, \"edges\": []}\n").unwrap_err();
        assert!(matches!(e, IoError::TooManyNodes { line: 1, .. }), "{e}");
    }
}
