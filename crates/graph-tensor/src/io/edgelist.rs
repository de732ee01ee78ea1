//! Text edge lists, one or many graphs per file.
//!
//! ```text
//! # graph 0 nodes 5 edges 3
//! 0 1
//! 1 2
//! 3 1
//!
//! # graph 1 nodes 2 edges 0
//! ```
//!
//! * An edge is a line `u v`: two 0-based node ids separated by whitespace. A trailing
//!   networkx data dict (`0 1 {}` or `0 1 {'weight': 2}`, what `nx.write_edgelist` writes by
//!   default) is ignored; any other third field is an error.
//! * `#` starts a comment, on its own line or after an edge.
//! * Graphs are separated by blank lines, and a header comment `# graph <i> nodes <n>`
//!   (optionally followed by `edges <m>`) also starts a new graph. The header fixes the node
//!   count, so isolated nodes (and graphs with no edges) survive; `edges <m>`, when present,
//!   is checked against the number of edge lines, which catches truncated files. The index
//!   `<i>` is informative and not checked (files may be concatenated).
//! * Without a header a graph has `max id + 1` nodes, so a plain `u v` file such as
//!   Citeseer's reads as one graph.
//! * Edges are undirected: self-loops and repeated edges (either orientation) are dropped
//!   and reported through `tracing::warn!` (see [`super`]).
//!
//! The writer emits exactly the layout above (header with `nodes` and `edges`, `u v` with
//! `u < v` in canonical order, a blank line between graphs), so every graph round-trips.

use std::io::{self, BufRead, Write};
use std::path::Path;

use super::{excerpt, GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// A graph being read.
#[derive(Default)]
struct Block {
    /// Line of the header, if any, with the declared node and edge counts.
    header: Option<(usize, usize, Option<u64>)>,
    /// First line of the block (for messages).
    first_line: usize,
    edges: Vec<(usize, usize)>,
    max_id: Option<usize>,
}

impl Block {
    fn is_empty(&self) -> bool {
        self.header.is_none() && self.edges.is_empty()
    }
}

/// The parsed `# graph <i> nodes <n> [edges <m>]` header, `None` for an ordinary comment.
fn parse_header(comment: &str) -> Option<Result<(usize, Option<u64>), String>> {
    let t: Vec<&str> = comment.split_whitespace().collect();
    if t.first() != Some(&"graph") || t.get(2) != Some(&"nodes") {
        return None;
    }
    let num = |s: Option<&&str>, what: &str| -> Result<u64, String> {
        let s = s.ok_or_else(|| format!("graph header: no {what} count after '{what}'"))?;
        s.parse::<u64>().map_err(|_| {
            format!(
                "graph header: {what} count '{}' is not a non-negative integer",
                excerpt(s)
            )
        })
    };
    Some((|| {
        let _index = t[1].parse::<u64>().map_err(|_| {
            format!(
                "graph header: graph index '{}' is not a non-negative integer",
                excerpt(t[1])
            )
        })?;
        let n = num(t.get(3), "nodes")?;
        if n > MAX_NODES as u64 {
            return Err(format!(
                "graph header declares {n} nodes, more than the {MAX_NODES} graphdiff reads"
            ));
        }
        let m = match t.get(4) {
            None => None,
            Some(&"edges") => Some(num(t.get(5), "edges")?),
            Some(other) => {
                return Err(format!(
                    "graph header: unexpected '{}' (expected '# graph <i> nodes <n> [edges <m>]')",
                    excerpt(other)
                ))
            }
        };
        if t.len() > 6 {
            return Err(format!(
                "graph header: unexpected '{}' (expected '# graph <i> nodes <n> [edges <m>]')",
                excerpt(t[6])
            ));
        }
        Ok((n as usize, m))
    })())
}

/// Reads an edge-list file (see the module docs).
pub(crate) fn read<R: BufRead>(reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let fmt = GraphFormat::EdgeList;
    let mut graphs = Vec::new();
    let mut block = Block::default();
    let finish = |block: &mut Block, graphs: &mut Vec<Graph>| -> Result<(), IoError> {
        let b = std::mem::take(block);
        if b.is_empty() {
            return Ok(());
        }
        let n = match b.header {
            Some((line, n, m)) => {
                if let Some(m) = m {
                    if m != b.edges.len() as u64 {
                        return Err(IoError::syntax(
                            name,
                            line,
                            fmt,
                            format!(
                                "graph header says {m} edges but {} edge lines follow",
                                b.edges.len()
                            ),
                        ));
                    }
                }
                n
            }
            None => b.max_id.map_or(0, |m| m + 1),
        };
        let line = b.header.map_or(b.first_line, |h| h.0);
        let (g, loops, repeats) = super::simplify(n, b.edges).map_err(|err| IoError::Graph {
            path: name.to_path_buf(),
            line,
            graph: graphs.len(),
            err,
        })?;
        super::warn_dropped(name, line, graphs.len(), loops, repeats);
        graphs.push(g);
        Ok(())
    };
    super::for_each_line(reader, name, |line, raw| {
        let text = std::str::from_utf8(raw).map_err(|e| {
            IoError::syntax(
                name,
                line,
                fmt,
                format!(
                    "not UTF-8 text (bad byte at column {})",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let (content, comment) = match text.find('#') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let content = content.trim();
        if content.is_empty() {
            match comment {
                None => finish(&mut block, &mut graphs)?,
                Some(c) => {
                    if let Some(h) = parse_header(c) {
                        let (n, m) = h.map_err(|msg| IoError::syntax(name, line, fmt, msg))?;
                        finish(&mut block, &mut graphs)?;
                        block.header = Some((line, n, m));
                        block.first_line = line;
                    }
                }
            }
            return Ok(());
        }
        let mut fields = content.split_whitespace();
        let mut id = |what: &str| -> Result<usize, IoError> {
            let s = fields.next().ok_or_else(|| {
                IoError::syntax(
                    name,
                    line,
                    fmt,
                    format!(
                        "expected an edge 'u v', found '{}' (no {what} node)",
                        excerpt(content)
                    ),
                )
            })?;
            let v = s.parse::<u64>().map_err(|_| {
                IoError::syntax(
                    name,
                    line,
                    fmt,
                    format!("node id '{}' is not a non-negative integer", excerpt(s)),
                )
            })?;
            if v >= MAX_NODES as u64 {
                return Err(IoError::TooManyNodes {
                    path: name.to_path_buf(),
                    line,
                    n: v.saturating_add(1),
                    limit: MAX_NODES,
                });
            }
            Ok(v as usize)
        };
        let u = id("first")?;
        let v = id("second")?;
        if let Some(extra) = fields.next() {
            if !extra.starts_with('{') {
                return Err(IoError::syntax(
                    name,
                    line,
                    fmt,
                    format!(
                        "expected an edge 'u v', found a third field '{}' in '{}'",
                        excerpt(extra),
                        excerpt(content)
                    ),
                ));
            }
        }
        if let Some((hline, n, _)) = block.header {
            if let Some(&bad) = [u, v].iter().find(|&&x| x >= n) {
                return Err(IoError::syntax(
                    name,
                    line,
                    fmt,
                    format!(
                        "edge {u} {v} names node {bad}, but the header on line {hline} says the graph has {n} nodes (0..{n})"
                    ),
                ));
            }
        }
        if block.is_empty() {
            block.first_line = line;
        }
        block.max_id = Some(block.max_id.unwrap_or(0).max(u).max(v));
        block.edges.push((u, v));
        Ok(())
    })?;
    finish(&mut block, &mut graphs)?;
    Ok(graphs)
}

/// Writes graphs as a headed edge list (see the module docs), numbering them from `first`
/// (a file continuing another starts with the separating blank line).
pub(crate) fn write<W: Write>(w: &mut W, graphs: &[Graph], first: usize) -> io::Result<()> {
    for (i, g) in graphs.iter().enumerate().map(|(i, g)| (i + first, g)) {
        if i > 0 {
            writeln!(w)?;
        }
        writeln!(w, "# graph {i} nodes {} edges {}", g.n(), g.num_edges())?;
        for &(u, v) in g.edges() {
            writeln!(w, "{u} {v}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(s: &str) -> Result<Vec<Graph>, IoError> {
        read(s.as_bytes(), Path::new("t.edges"))
    }

    #[test]
    fn plain_file_is_one_graph() {
        let gs = read_str("# a comment\n0 4\n1 2 # trailing\n2 1\n3 3\n").unwrap();
        assert_eq!(gs, vec![Graph::new(5, [(0, 4), (1, 2)]).unwrap()]);
    }

    #[test]
    fn blocks_and_headers() {
        let s = "# graph 0 nodes 4 edges 1\n0 1\n\n\n# graph 1 nodes 3 edges 0\n# graph 2 nodes 0\n\n2 3\n";
        let gs = read_str(s).unwrap();
        assert_eq!(
            gs,
            vec![
                Graph::new(4, [(0, 1)]).unwrap(),
                Graph::empty(3),
                Graph::empty(0),
                Graph::new(4, [(2, 3)]).unwrap()
            ]
        );
        // networkx's default write_edgelist data column.
        assert_eq!(
            read_str("0 1 {}\n1 2 {'weight': 3}\n").unwrap()[0].num_edges(),
            2
        );
    }

    #[test]
    fn faults_name_the_line() {
        let e = read_str("0 1\n1 x\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.edges line 2: node id 'x' is not a non-negative integer"
        );
        let e = read_str("# graph 0 nodes 3\n0 1\n1 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.edges line 3: edge 1 3 names node 3"),
            "{e}"
        );
        let e = read_str("# graph 0 nodes 3 edges 4\n0 1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.edges line 1: graph header says 4 edges but 1 edge lines follow"
        );
        let e = read_str("0 1 2\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("third field"), "{e}");
        let e = read_str("0\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("no second node"), "{e}");
        let e = read_str("# graph 0 nodes 99999999999\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("more than"), "{e}");
        let e = read_str("0 99999999999\n").unwrap_err();
        assert!(matches!(e, IoError::TooManyNodes { line: 1, .. }), "{e}");
        let e = read(&b"0 1\n\xff\xfe\n"[..], Path::new("t.edges"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
    }
}
