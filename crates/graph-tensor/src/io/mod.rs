//! Graph file formats: reading and writing lists of [`Graph`]s.
//!
//! | format | extension | read | write | notes |
//! |---|---|---|---|---|
//! | [`GraphFormat::Graph6`] | `.g6` | ✓ | ✓ | nauty's graph6, one graph per line, optional `>>graph6<<` header ([`graph6`]) |
//! | [`GraphFormat::Sparse6`] | `.s6` | ✓ | ✓ | nauty's sparse6, one graph per line, optional `>>sparse6<<` header ([`sparse6`]) |
//! | [`GraphFormat::EdgeList`] | `.edgelist`, `.edges`, `.txt` | ✓ | ✓ | `u v` lines, graphs separated by blank lines ([`edgelist`]) |
//! | [`GraphFormat::JsonLines`] | `.jsonl` | ✓ | ✓ | `{"n": N, "edges": [[u, v], ...]}` per line, the serde form of [`Graph`] ([`jsonl`]) |
//! | [`GraphFormat::NodeLinkJson`] | `.json` | ✓ | ✓ | networkx `node_link_data`, one object or an array of them ([`nodelink`]) |
//! | [`GraphFormat::Npz`] | `.npz` | ✓ | ✓ | numpy archive: `adj` `[G, N, N]` float32 + `n_nodes` `[G]` int64 ([`npz`]) |
//!
//! Reading: [`read_graphs`] (format from the extension, else sniffed from the content, see
//! [`GraphFormat::sniff`]), [`read_graphs_as`] (format given), [`read_from`] (any
//! [`BufRead`] plus a display name, e.g. standard input or bytes in memory). The path `-`
//! reads standard input. Writing: [`write_graphs`] (atomic: `<path>.tmp`, then rename) and
//! [`write_graphs_to`] (any [`Write`], e.g. a locked stdout), with [`WriteOptions`] variants.
//!
//! ## Faults
//! Readers never panic and never allocate in proportion to a size that the data does not
//! back: every declared node count is checked against [`MAX_NODES`] and, for graph6, against
//! the number of bytes that follow, before anything is allocated. Every fault is an
//! [`IoError`] naming the file and, where the format has lines, the line:
//! `graphs.g6 line 17: graph6 header says 12 nodes (11 bytes of edges) but 3 bytes of edges follow`.
//! A file with no graph in it is an error ([`IoError::NoGraphs`]).
//!
//! ## Self-loops and repeated edges
//! [`Graph`] is simple. The formats that can spell a self-loop or a repeated edge (edge
//! lists, sparse6, node-link JSON) are read the way the reference pipelines read them
//! (`networkx` then `remove_edges_from(selfloop_edges(G))`): self-loops and repeats (in
//! either orientation) are dropped, and the number dropped is reported with
//! `tracing::warn!` naming the file and line. JSON lines, the serde form of [`Graph`], is
//! strict: a loop or a repeated edge there is an error. An edge naming a node that does not
//! exist is an error in every format.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::graph::{Graph, GraphError};

pub mod edgelist;
pub mod graph6;
pub mod jsonl;
pub mod nodelink;
pub mod npz;
pub mod sparse6;

/// Writes one encoded line per graph (graph6, sparse6), `header` once at the start if given.
pub(crate) fn write_lines<W: Write>(
    w: &mut W,
    graphs: &[Graph],
    header: Option<&[u8]>,
    encode_into: fn(&Graph, &mut Vec<u8>) -> Result<(), EncodeError>,
) -> io::Result<()> {
    if let Some(h) = header {
        w.write_all(h)?;
    }
    let mut buf = Vec::new();
    for g in graphs {
        buf.clear();
        encode_into(g, &mut buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        buf.push(b'\n');
        w.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// The largest node count any reader accepts (2^24 = 16,777,216). A header that declares more
/// is refused before anything is allocated; writers refuse such graphs too, so every file
/// graphdiff writes, it can read back.
pub const MAX_NODES: usize = 1 << 24;

/// How many bytes from the start of a file [`GraphFormat::sniff`] looks at.
pub const SNIFF_LEN: usize = 64 * 1024;

/// A graph file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GraphFormat {
    /// nauty graph6 (`.g6`): one graph per line, optional `>>graph6<<` header.
    Graph6,
    /// nauty sparse6 (`.s6`): one graph per line, optional `>>sparse6<<` header.
    Sparse6,
    /// Text edge list (`.edgelist`, `.edges`, `.txt`): `u v` per line, blank-line-separated graphs.
    EdgeList,
    /// JSON lines (`.jsonl`): `{"n": N, "edges": [[u, v], ...]}` per line.
    JsonLines,
    /// networkx node-link JSON (`.json`): one `node_link_data` object or an array of them.
    NodeLinkJson,
    /// numpy `.npz` archive with a zero-padded adjacency tensor (see [`npz`]).
    Npz,
}

impl GraphFormat {
    /// Every format, in a fixed order.
    pub const ALL: [GraphFormat; 6] = [
        GraphFormat::Graph6,
        GraphFormat::Sparse6,
        GraphFormat::EdgeList,
        GraphFormat::JsonLines,
        GraphFormat::NodeLinkJson,
        GraphFormat::Npz,
    ];

    /// Canonical name, as accepted by [`FromStr`] and shown in messages.
    pub fn name(self) -> &'static str {
        match self {
            GraphFormat::Graph6 => "graph6",
            GraphFormat::Sparse6 => "sparse6",
            GraphFormat::EdgeList => "edgelist",
            GraphFormat::JsonLines => "jsonl",
            GraphFormat::NodeLinkJson => "node-link",
            GraphFormat::Npz => "npz",
        }
    }

    /// The file extension written for this format (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            GraphFormat::Graph6 => "g6",
            GraphFormat::Sparse6 => "s6",
            GraphFormat::EdgeList => "edgelist",
            GraphFormat::JsonLines => "jsonl",
            GraphFormat::NodeLinkJson => "json",
            GraphFormat::Npz => "npz",
        }
    }

    /// Whether the format is text (everything but [`GraphFormat::Npz`]).
    pub fn is_textual(self) -> bool {
        self != GraphFormat::Npz
    }

    /// The format a file name implies by its extension (case-insensitive): `.g6`, `.s6`,
    /// `.edgelist` / `.edges` / `.txt`, `.jsonl`, `.json`, `.npz`; `None` otherwise.
    pub fn from_path(path: &Path) -> Option<GraphFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "g6" | "graph6" => GraphFormat::Graph6,
            "s6" | "sparse6" => GraphFormat::Sparse6,
            "edgelist" | "edges" | "txt" => GraphFormat::EdgeList,
            "jsonl" | "ndjson" => GraphFormat::JsonLines,
            "json" => GraphFormat::NodeLinkJson,
            "npz" => GraphFormat::Npz,
            _ => return None,
        })
    }

    /// Guesses the format from the first bytes of a file (up to [`SNIFF_LEN`] are used):
    ///
    /// * `PK\x03\x04` (a zip archive): npz;
    /// * `>>graph6<<`: graph6; `>>sparse6<<` or a leading `:`: sparse6;
    /// * a first line that decodes as a graph6 graph: graph6;
    /// * `{` or `[`: JSON: JSON lines when the first line is an object with an `"n"` key,
    ///   node-link JSON otherwise;
    /// * a digit or `#`: edge list.
    ///
    /// Leading whitespace and a UTF-8 byte-order mark are skipped. `None` when nothing fits
    /// (including empty input).
    pub fn sniff(prefix: &[u8]) -> Option<GraphFormat> {
        let prefix = &prefix[..prefix.len().min(SNIFF_LEN)];
        if prefix.starts_with(b"PK\x03\x04") {
            return Some(GraphFormat::Npz);
        }
        let s = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
        let s = &s[s.iter().position(|b| !b.is_ascii_whitespace())?..];
        if s.starts_with(graph6::HEADER) {
            return Some(GraphFormat::Graph6);
        }
        if s.starts_with(sparse6::HEADER) || s.starts_with(b":") {
            return Some(GraphFormat::Sparse6);
        }
        let (first_line, complete) = match s.iter().position(|&b| b == b'\n') {
            Some(i) => (&s[..i], true),
            None => (s, prefix.len() < SNIFF_LEN),
        };
        let first_line = first_line.trim_ascii_end();
        if complete && graph6::decode(first_line).is_ok() {
            return Some(GraphFormat::Graph6);
        }
        match s[0] {
            b'[' => Some(GraphFormat::NodeLinkJson),
            b'{' => {
                let is_jsonl = if complete {
                    matches!(
                        serde_json::from_slice::<serde_json::Value>(first_line),
                        Ok(serde_json::Value::Object(m)) if m.contains_key("n")
                    )
                } else {
                    let has = |k: &[u8]| s.windows(k.len()).any(|w| w == k);
                    has(b"\"n\"") && !has(b"\"nodes\"")
                };
                Some(if is_jsonl {
                    GraphFormat::JsonLines
                } else {
                    GraphFormat::NodeLinkJson
                })
            }
            b'0'..=b'9' | b'#' => Some(GraphFormat::EdgeList),
            _ => None,
        }
    }
}

impl fmt::Display for GraphFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that [`GraphFormat::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown graph format '{0}' (known: g6|graph6, s6|sparse6, edgelist|edges, jsonl, json|node-link, npz)"
)]
pub struct ParseFormatError(pub String);

impl FromStr for GraphFormat {
    type Err = ParseFormatError;

    /// `g6`|`graph6`, `s6`|`sparse6`, `edgelist`|`edges`|`txt`, `jsonl`, `json`|`node-link`,
    /// `npz` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "g6" | "graph6" => GraphFormat::Graph6,
            "s6" | "sparse6" => GraphFormat::Sparse6,
            "edgelist" | "edge-list" | "edges" | "txt" => GraphFormat::EdgeList,
            "jsonl" | "json-lines" | "ndjson" => GraphFormat::JsonLines,
            "json" | "node-link" | "nodelink" => GraphFormat::NodeLinkJson,
            "npz" => GraphFormat::Npz,
            _ => return Err(ParseFormatError(s.to_string())),
        })
    }
}

/// Why a graph6 or sparse6 string does not decode ([`graph6::decode`], [`sparse6::decode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Nothing to decode.
    #[error("empty {format} string")]
    Empty {
        /// graph6 or sparse6.
        format: GraphFormat,
    },
    /// A byte outside the printable range 63..=126 (`?` to `~`) the formats use.
    #[error(
        "byte {byte:#04x} at column {column} is not a {format} character (those are '?' to '~')"
    )]
    BadByte {
        /// graph6 or sparse6.
        format: GraphFormat,
        /// 1-based position in the string, header included.
        column: usize,
        /// The byte.
        byte: u8,
    },
    /// The node-count field stops early.
    #[error("{format} node count is cut short ({found} of {needed} bytes)")]
    TruncatedSize {
        /// graph6 or sparse6.
        format: GraphFormat,
        /// Bytes the field needs (1, 4 or 8).
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// graph6: the adjacency bytes do not match the node count.
    #[error("graph6 header says {n} nodes ({expected} bytes of edges) but {found} bytes of edges follow")]
    Graph6Length {
        /// Declared node count.
        n: u64,
        /// Bytes the upper triangle of an `n`-node graph needs: ⌈n(n−1)/12⌉.
        expected: u64,
        /// Bytes present.
        found: usize,
    },
    /// The declared node count is above [`MAX_NODES`].
    #[error("{format} header says {n} nodes, more than the {limit} graphdiff reads")]
    TooManyNodes {
        /// graph6 or sparse6.
        format: GraphFormat,
        /// Declared node count.
        n: u64,
        /// [`MAX_NODES`].
        limit: usize,
    },
    /// sparse6: the string does not start with `:`.
    #[error("sparse6 string does not start with ':'{}", colon_hint(.looks_like_graph6))]
    MissingColon {
        /// Whether the string decodes as graph6 instead.
        looks_like_graph6: bool,
    },
    /// sparse6: the incremental form (`;` prefix, relative to the previous graph).
    #[error("incremental sparse6 (';' prefix) is not supported")]
    Incremental,
    /// A `>>...<<` header that is not the format's.
    #[error("unknown header '{found}' (expected '{expected}')")]
    UnknownHeader {
        /// The header found (at most 16 bytes, lossily decoded).
        found: String,
        /// `>>graph6<<` or `>>sparse6<<`.
        expected: &'static str,
    },
    /// graph6: the string is sparse6 (`:` or `>>sparse6<<` prefix).
    #[error("this is sparse6 (it starts with '{prefix}'), not graph6: read it as sparse6")]
    IsSparse6 {
        /// The prefix found.
        prefix: &'static str,
    },
}

fn colon_hint(looks_like_graph6: &bool) -> &'static str {
    if *looks_like_graph6 {
        " (it is graph6: read it as graph6)"
    } else {
        ""
    }
}

/// The [`DecodeError::UnknownHeader`] for a string starting with `>>` that is not `expected`.
pub(crate) fn unknown_header(data: &[u8], expected: &'static str) -> Option<DecodeError> {
    if !data.starts_with(b">>") {
        return None;
    }
    let head = &data[..data.len().min(16)];
    let end = head
        .windows(2)
        .skip(1)
        .position(|w| w == b"<<")
        .map_or(head.len(), |i| i + 3);
    Some(DecodeError::UnknownHeader {
        found: excerpt(&String::from_utf8_lossy(&head[..end])),
        expected,
    })
}

/// Why a graph cannot be written in a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// More nodes than the format (or [`MAX_NODES`]) allows.
    #[error("cannot write a graph with {n} nodes as {format}: the limit is {limit}")]
    TooManyNodes {
        /// The format.
        format: GraphFormat,
        /// The graph's node count.
        n: usize,
        /// The limit.
        limit: u64,
    },
}

/// A fault reading or writing a graph file; every variant names the file, and the line
/// where the format has lines. `Display` is one line, complete (no `source()` chain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system refused (missing file, permission, a directory, a full disk...).
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        err: io::Error,
    },
    /// A graph6 or sparse6 line that does not decode.
    #[error("{} line {line}: {err}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// graph6 or sparse6.
        format: GraphFormat,
        /// What is wrong.
        err: DecodeError,
    },
    /// Text that is not the format: a malformed edge-list line, bad JSON, a broken npz archive.
    #[error("{}{}: {message}", path.display(), Loc(*line, *column))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the format has no lines, e.g. npz).
        line: usize,
        /// 1-based column, where known.
        column: Option<usize>,
        /// The format being read.
        format: GraphFormat,
        /// What is wrong.
        message: String,
    },
    /// Well-formed data that is not a simple graph (an edge naming a missing node; in JSON
    /// lines also a self-loop or a repeated edge).
    #[error("{}{}: {err}", path.display(), GraphLoc(*line, *graph))]
    Graph {
        /// The file.
        path: PathBuf,
        /// 1-based line where the format has lines, else 0.
        line: usize,
        /// 0-based index of the graph in the file.
        graph: usize,
        /// What is wrong.
        err: GraphError,
    },
    /// A declared node count above [`MAX_NODES`] (refused before allocating).
    #[error("{}{}: {n} nodes declared, more than the {limit} graphdiff reads", path.display(), Loc(*line, None))]
    TooManyNodes {
        /// The file.
        path: PathBuf,
        /// 1-based line, or 0 when the format has no lines.
        line: usize,
        /// Declared node count.
        n: u64,
        /// [`MAX_NODES`].
        limit: usize,
    },
    /// A node-link JSON graph whose structure is wrong (no `nodes`, an edge to an unknown id...).
    #[error("{} graph {graph}: {message}", path.display())]
    NodeLink {
        /// The file.
        path: PathBuf,
        /// 0-based index of the graph in the file (0 for a single object).
        graph: usize,
        /// What is wrong.
        message: String,
    },
    /// The input holds no graph.
    #[error("no graphs in {}", path.display())]
    NoGraphs {
        /// The file.
        path: PathBuf,
    },
    /// Neither the extension nor the content tells the format.
    #[error(
        "{}: cannot tell the graph format from the name or the content (name one: g6, s6, edgelist, jsonl, json, npz)",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A graph that the chosen format cannot hold.
    #[error("{}: graph {graph}: {err}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// 0-based index of the graph.
        graph: usize,
        /// Why.
        err: EncodeError,
    },
}

impl IoError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            IoError::Io { path, .. }
            | IoError::Decode { path, .. }
            | IoError::Syntax { path, .. }
            | IoError::Graph { path, .. }
            | IoError::TooManyNodes { path, .. }
            | IoError::NodeLink { path, .. }
            | IoError::NoGraphs { path }
            | IoError::UnknownFormat { path }
            | IoError::Encode { path, .. } => path,
        }
    }

    /// The 1-based line of the fault, where the format has lines.
    pub fn line(&self) -> Option<usize> {
        match self {
            IoError::Decode { line, .. } => Some(*line),
            IoError::Syntax { line, .. }
            | IoError::Graph { line, .. }
            | IoError::TooManyNodes { line, .. } => (*line > 0).then_some(*line),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, err: io::Error) -> IoError {
        IoError::Io {
            path: path.to_path_buf(),
            err,
        }
    }

    pub(crate) fn syntax(
        path: &Path,
        line: usize,
        format: GraphFormat,
        message: impl Into<String>,
    ) -> IoError {
        IoError::Syntax {
            path: path.to_path_buf(),
            line,
            column: None,
            format,
            message: one_line(&message.into(), 240),
        }
    }
}

/// `s` with control characters escaped (so a message stays on one line and cannot drive the
/// terminal) and cut to `max` characters.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A piece of the input quoted in a message: [`one_line`], at most 40 characters.
pub(crate) fn excerpt(s: &str) -> String {
    one_line(s, 40)
}

/// ` line L` / ` line L column C` / nothing (line 0 = the format has no lines).
struct Loc(usize, Option<usize>);

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (0, _) => Ok(()),
            (l, None) => write!(f, " line {l}"),
            (l, Some(c)) => write!(f, " line {l} column {c}"),
        }
    }
}

/// ` line L` when known, else ` graph G`.
struct GraphLoc(usize, usize);

impl fmt::Display for GraphLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 {
            write!(f, " line {}", self.0)
        } else {
            write!(f, " graph {}", self.1)
        }
    }
}

/// The name errors use for standard input (the path `-`).
pub const STDIN_NAME: &str = "<stdin>";

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads every graph in a file; the format comes from the extension
/// ([`GraphFormat::from_path`]), else from the content ([`GraphFormat::sniff`]).
/// The path `-` reads standard input (format sniffed).
///
/// An empty file, or one with no graph in it, is [`IoError::NoGraphs`].
pub fn read_graphs(path: &Path) -> Result<Vec<Graph>, IoError> {
    read_graphs_impl(path, None)
}

/// Reads every graph in a file in the given format. The path `-` reads standard input.
pub fn read_graphs_as(path: &Path, format: GraphFormat) -> Result<Vec<Graph>, IoError> {
    read_graphs_impl(path, Some(format))
}

/// Reads a file and reports the format used: the given one, else the extension's, else the
/// sniffed one. The path `-` reads standard input.
pub fn read_graphs_detect(
    path: &Path,
    format: Option<GraphFormat>,
) -> Result<(Vec<Graph>, GraphFormat), IoError> {
    if is_stdin(path) {
        let stdin = io::stdin();
        return read_from_detect(stdin.lock(), format, Path::new(STDIN_NAME));
    }
    let file = File::open(path).map_err(|e| IoError::io(path, e))?;
    let format = format.or_else(|| GraphFormat::from_path(path));
    read_from_detect(BufReader::with_capacity(SNIFF_LEN, file), format, path)
}

fn read_graphs_impl(path: &Path, format: Option<GraphFormat>) -> Result<Vec<Graph>, IoError> {
    read_graphs_detect(path, format).map(|(g, _)| g)
}

/// Reads every graph from `reader` in `format`; `name` is the file name errors show.
///
/// This is the reader every path function wraps; it works on anything buffered: a file, a
/// locked stdin, a `&[u8]`.
pub fn read_from<R: BufRead>(
    mut reader: R,
    format: GraphFormat,
    name: &Path,
) -> Result<Vec<Graph>, IoError> {
    if reader
        .fill_buf()
        .map_err(|e| IoError::io(name, e))?
        .is_empty()
    {
        return Err(IoError::NoGraphs {
            path: name.to_path_buf(),
        });
    }
    let graphs = match format {
        GraphFormat::Graph6 => graph6::read(reader, name)?,
        GraphFormat::Sparse6 => sparse6::read(reader, name)?,
        GraphFormat::EdgeList => edgelist::read(reader, name)?,
        GraphFormat::JsonLines => jsonl::read(reader, name)?,
        GraphFormat::NodeLinkJson => nodelink::read(reader, name)?,
        GraphFormat::Npz => npz::read(reader, name)?,
    };
    if graphs.is_empty() {
        return Err(IoError::NoGraphs {
            path: name.to_path_buf(),
        });
    }
    Ok(graphs)
}

/// Like [`read_from`], with the format given or else sniffed from the first [`SNIFF_LEN`]
/// bytes; returns the format used too.
pub fn read_from_detect<R: BufRead>(
    mut reader: R,
    format: Option<GraphFormat>,
    name: &Path,
) -> Result<(Vec<Graph>, GraphFormat), IoError> {
    if let Some(f) = format {
        return read_from(reader, f, name).map(|g| (g, f));
    }
    let mut prefix = Vec::new();
    (&mut reader)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| IoError::io(name, e))?;
    if prefix.iter().all(|b| b.is_ascii_whitespace()) {
        // Nothing but whitespace so far: empty if the stream has ended.
        let mut more = [0u8; 1];
        if reader.read(&mut more).map_err(|e| IoError::io(name, e))? == 0 {
            return Err(IoError::NoGraphs {
                path: name.to_path_buf(),
            });
        }
        prefix.push(more[0]);
    }
    let f = GraphFormat::sniff(&prefix).ok_or_else(|| IoError::UnknownFormat {
        path: name.to_path_buf(),
    })?;
    let chained = BufReader::new(io::Cursor::new(prefix).chain(reader));
    read_from(chained, f, name).map(|g| (g, f))
}

/// Options of the writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// graph6 / sparse6: start the file with `>>graph6<<` / `>>sparse6<<` (once, before the
    /// first graph, as nauty does). Default `true`: for one graph the file is then
    /// byte-identical to networkx's `write_graph6(G, path)` / `write_sparse6(G, path)`.
    /// Ignored by the other formats.
    pub header: bool,
    /// Index of the first graph written, for a file that continues another (a shard of a
    /// larger set): with `first_index > 0` graph6 / sparse6 write no header and an edge list
    /// starts with the blank line that separates it from the previous graph and numbers its
    /// blocks from `first_index`, so that the shards of a set, concatenated in order, are
    /// byte-identical to the set written at once. Default 0.
    pub first_index: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            header: true,
            first_index: 0,
        }
    }
}

impl WriteOptions {
    /// Sets [`WriteOptions::first_index`].
    pub fn first_index(mut self, index: usize) -> Self {
        self.first_index = index;
        self
    }

    /// Whether the format's files can be concatenated graph by graph (graph6, sparse6, edge
    /// lists and JSON lines can; node-link JSON and npz are one container each).
    pub fn concatenable(format: GraphFormat) -> bool {
        !matches!(format, GraphFormat::NodeLinkJson | GraphFormat::Npz)
    }

    /// Sets [`WriteOptions::header`].
    pub fn header(mut self, on: bool) -> Self {
        self.header = on;
        self
    }
}

/// Writes graphs to a file atomically (`<path>.tmp` in the same folder, then rename), with
/// the default [`WriteOptions`].
pub fn write_graphs(path: &Path, format: GraphFormat, graphs: &[Graph]) -> Result<(), IoError> {
    write_graphs_with(path, format, graphs, WriteOptions::default())
}

/// [`write_graphs`] with options.
pub fn write_graphs_with(
    path: &Path,
    format: GraphFormat,
    graphs: &[Graph],
    options: WriteOptions,
) -> Result<(), IoError> {
    check_encodable(format, graphs).map_err(|(graph, err)| IoError::Encode {
        path: path.to_path_buf(),
        graph,
        err,
    })?;
    write_atomic(path, |w| write_graphs_to_with(w, format, graphs, options))
}

/// Writes graphs to any writer (e.g. a locked stdout) with the default [`WriteOptions`].
/// Every format works, npz included (it is written in one pass, no seeking).
///
/// Errors are the writer's, or `InvalidInput` for a graph the format cannot hold.
pub fn write_graphs_to<W: Write + ?Sized>(
    w: &mut W,
    format: GraphFormat,
    graphs: &[Graph],
) -> io::Result<()> {
    write_graphs_to_with(w, format, graphs, WriteOptions::default())
}

/// [`write_graphs_to`] with options.
pub fn write_graphs_to_with<W: Write + ?Sized>(
    w: &mut W,
    format: GraphFormat,
    graphs: &[Graph],
    options: WriteOptions,
) -> io::Result<()> {
    check_encodable(format, graphs).map_err(|(graph, err)| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("graph {graph}: {err}"))
    })?;
    if options.first_index > 0 && !WriteOptions::concatenable(format) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{format} files cannot continue another file (first_index > 0)"),
        ));
    }
    let header = options.header && options.first_index == 0;
    let mut w = BufWriter::new(w);
    match format {
        GraphFormat::Graph6 => graph6::write(&mut w, graphs, header)?,
        GraphFormat::Sparse6 => sparse6::write(&mut w, graphs, header)?,
        GraphFormat::EdgeList => edgelist::write(&mut w, graphs, options.first_index)?,
        GraphFormat::JsonLines => jsonl::write(&mut w, graphs)?,
        GraphFormat::NodeLinkJson => nodelink::write(&mut w, graphs)?,
        GraphFormat::Npz => npz::write(&mut w, graphs)?,
    }
    w.flush()
}

/// The first graph the format cannot hold (more than [`MAX_NODES`] nodes, or more than the
/// format's own limit).
fn check_encodable(format: GraphFormat, graphs: &[Graph]) -> Result<(), (usize, EncodeError)> {
    for (i, g) in graphs.iter().enumerate() {
        if g.n() > MAX_NODES {
            return Err((
                i,
                EncodeError::TooManyNodes {
                    format,
                    n: g.n(),
                    limit: MAX_NODES as u64,
                },
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (`<path>.tmp` in the same folder, synced, then
/// renamed): a reader never sees a half-written file, and on failure `path` is untouched.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Writes `path` atomically: `<path>.tmp` in the same folder, flushed and synced, then renamed.
/// On failure the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), IoError> {
    let file_name = path.file_name().ok_or_else(|| {
        IoError::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        IoError::io(path, e)
    })
}

/// Calls `f(line_number, line)` for every line (1-based; `\n` and a trailing `\r` removed).
/// Lines are read as bytes: binary garbage is the caller's to judge.
pub(crate) fn for_each_line<R: BufRead>(
    mut reader: R,
    name: &Path,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let k = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| IoError::io(name, e))?;
        if k == 0 {
            return Ok(());
        }
        line += 1;
        let mut s: &[u8] = &buf;
        if line == 1 {
            s = s.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(s);
        }
        s = s.strip_suffix(b"\n").unwrap_or(s);
        s = s.strip_suffix(b"\r").unwrap_or(s);
        f(line, s)?;
    }
}

/// Logs what a simplifying reader dropped (see the module docs).
pub(crate) fn warn_dropped(name: &Path, line: usize, graph: usize, loops: usize, repeats: usize) {
    if loops + repeats > 0 {
        tracing::warn!(
            "{}{}: graph {graph}: dropped {loops} self-loop(s) and {repeats} repeated edge(s) (graphdiff graphs are simple)",
            name.display(),
            Loc(line, None)
        );
    }
}

/// `Graph::new_simplified` plus the number of loops and repeats it dropped.
pub(crate) fn simplify(
    n: usize,
    edges: Vec<(usize, usize)>,
) -> Result<(Graph, usize, usize), GraphError> {
    let raw = edges.len();
    let loops = edges.iter().filter(|(u, v)| u == v).count();
    let g = Graph::new_simplified(n, edges)?;
    let kept = g.num_edges();
    Ok((g, loops, raw - loops - kept))
}
