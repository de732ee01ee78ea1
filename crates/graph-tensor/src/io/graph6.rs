//! nauty's graph6 format (B. McKay, <https://users.cecs.anu.edu.au/~bdm/data/formats.txt>).
//!
//! One graph per line: the node count `N(n)` then the upper triangle of the adjacency matrix
//! column by column (`(0,1), (0,2), (1,2), (0,3), ...`), six bits per byte, each byte plus 63.
//! `N(n)` is one byte for `n <= 62`, `~` and three bytes for `n <= 258047`, `~~` and six
//! bytes up to `2^36 − 1`.
//!
//! Files: the reader accepts `>>graph6<<` at the start of any line (nauty writes it once
//! before the first graph, networkx's `to_graph6_bytes` before every graph), skips blank
//! lines and surrounding whitespace, and ignores the padding bits of the last byte, as
//! networkx and nauty do. The writer puts the header once at the start when
//! [`WriteOptions::header`](super::WriteOptions) is on (the default): for a single graph the
//! file is byte-identical to networkx's `write_graph6(G, path)`; with the header off, to
//! `to_graph6_bytes(G, header=False)` for every graph (the published GDSS `.g6` lists).

use std::io::{self, BufRead, Write};
use std::path::Path;

use super::{DecodeError, EncodeError, GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// The optional graph6 file header.
pub const HEADER: &[u8] = b">>graph6<<";

/// The largest node count graph6 and sparse6 can spell (`2^36 − 1`).
pub const FORMAT_MAX_NODES: u64 = (1 << 36) - 1;

/// Appends the size field `N(n)` (bytes already offset by 63). `n` must be `< 2^36`.
pub(crate) fn encode_size(n: u64, out: &mut Vec<u8>) {
    debug_assert!(n <= FORMAT_MAX_NODES);
    if n <= 62 {
        out.push(n as u8 + 63);
    } else if n <= 258_047 {
        out.push(126);
        out.extend((0..3).rev().map(|i| ((n >> (6 * i)) & 0x3f) as u8 + 63));
    } else {
        out.extend([126, 126]);
        out.extend((0..6).rev().map(|i| ((n >> (6 * i)) & 0x3f) as u8 + 63));
    }
}

/// Reads `N(n)` from `data` (bytes still offset by 63, already checked to be in 63..=126):
/// returns `n` and the number of bytes it took.
pub(crate) fn decode_size(data: &[u8], format: GraphFormat) -> Result<(u64, usize), DecodeError> {
    let field = |len: usize, from: usize| -> Result<u64, DecodeError> {
        let bytes = data.get(from..len).ok_or(DecodeError::TruncatedSize {
            format,
            needed: len,
            found: data.len(),
        })?;
        Ok(bytes
            .iter()
            .fold(0u64, |acc, &b| (acc << 6) | u64::from(b - 63)))
    };
    match data.first() {
        None => Err(DecodeError::Empty { format }),
        Some(&b) if b < 126 => Ok((u64::from(b - 63), 1)),
        Some(_) => match data.get(1) {
            Some(&b) if b < 126 => Ok((field(4, 1)?, 4)),
            Some(_) => Ok((field(8, 2)?, 8)),
            None => Err(DecodeError::TruncatedSize {
                format,
                needed: 4,
                found: 1,
            }),
        },
    }
}

/// Checks every byte is a format character (63..=126); `offset` is the number of bytes
/// before `data` in the line (for 1-based columns in messages).
pub(crate) fn check_bytes(
    data: &[u8],
    offset: usize,
    format: GraphFormat,
) -> Result<(), DecodeError> {
    match data.iter().position(|b| !(63..=126).contains(b)) {
        Some(i) => Err(DecodeError::BadByte {
            format,
            column: offset + i + 1,
            byte: data[i],
        }),
        None => Ok(()),
    }
}

/// Encodes one graph as graph6, without header or newline.
///
/// Fails only for a graph with more than [`MAX_NODES`] nodes.
pub fn encode(g: &Graph) -> Result<String, EncodeError> {
    let mut out = Vec::new();
    encode_into(g, &mut out)?;
    Ok(String::from_utf8(out).expect("graph6 is ASCII"))
}

fn encode_into(g: &Graph, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let n = g.n();
    if n > MAX_NODES {
        return Err(EncodeError::TooManyNodes {
            format: GraphFormat::Graph6,
            n,
            limit: MAX_NODES as u64,
        });
    }
    encode_size(n as u64, out);
    let bits = n * n.saturating_sub(1) / 2;
    let start = out.len();
    out.resize(start + bits.div_ceil(6), 0);
    for &(u, v) in g.edges() {
        // (u, v), u < v, is bit v(v−1)/2 + u of the column-wise upper triangle.
        let k = v * (v - 1) / 2 + u;
        out[start + k / 6] |= 1 << (5 - k % 6);
    }
    for b in &mut out[start..] {
        *b += 63;
    }
    Ok(())
}

/// Decodes one graph6 string (an optional `>>graph6<<` header is accepted; no newline).
///
/// The length of the adjacency part is checked against the node count before anything is
/// allocated; padding bits in the last byte are ignored (as networkx and nauty do).
pub fn decode(bytes: &[u8]) -> Result<Graph, DecodeError> {
    let (offset, data) = match bytes.strip_prefix(HEADER) {
        Some(rest) => (HEADER.len(), rest),
        None => (0, bytes),
    };
    if data.starts_with(super::sparse6::HEADER) {
        return Err(DecodeError::IsSparse6 {
            prefix: ">>sparse6<<",
        });
    }
    if data.starts_with(b":") {
        return Err(DecodeError::IsSparse6 { prefix: ":" });
    }
    if let Some(e) = super::unknown_header(data, ">>graph6<<") {
        return Err(e);
    }
    check_bytes(data, offset, GraphFormat::Graph6)?;
    let (n, used) = decode_size(data, GraphFormat::Graph6)?;
    if n > MAX_NODES as u64 {
        return Err(DecodeError::TooManyNodes {
            format: GraphFormat::Graph6,
            n,
            limit: MAX_NODES,
        });
    }
    let body = &data[used..];
    let bits = n * n.saturating_sub(1) / 2;
    let expected = bits.div_ceil(6);
    if body.len() as u64 != expected {
        return Err(DecodeError::Graph6Length {
            n,
            expected,
            found: body.len(),
        });
    }
    let n = n as usize;
    let mut edges = Vec::new();
    // Column-wise walk: bit k is (i, j) with i < j.
    let (mut i, mut j) = (0usize, 1usize);
    for (byte_idx, &b) in body.iter().enumerate() {
        let b = b - 63;
        let in_byte = (bits as usize - byte_idx * 6).min(6);
        for s in 0..in_byte {
            if b & (1 << (5 - s)) != 0 {
                edges.push((i, j));
            }
            i += 1;
            if i == j {
                j += 1;
                i = 0;
            }
        }
    }
    Ok(Graph::new(n, edges).expect("graph6 spells each pair once, in range, without loops"))
}

/// Reads a graph6 file (see the module docs).
pub(crate) fn read<R: BufRead>(reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let mut graphs = Vec::new();
    super::for_each_line(reader, name, |line, s| {
        let s = s.trim_ascii();
        if s.is_empty() || s == HEADER {
            return Ok(());
        }
        let g = decode(s).map_err(|err| IoError::Decode {
            path: name.to_path_buf(),
            line,
            format: GraphFormat::Graph6,
            err,
        })?;
        graphs.push(g);
        Ok(())
    })?;
    Ok(graphs)
}

/// Writes graphs as graph6, one per line, with the header once at the start if asked.
pub(crate) fn write<W: Write>(w: &mut W, graphs: &[Graph], header: bool) -> io::Result<()> {
    super::write_lines(w, graphs, header.then_some(HEADER), encode_into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings() {
        // networkx: to_graph6_bytes(path_graph(3), header=False) == b"Bg\n".
        let p3 = Graph::new(3, [(0, 1), (1, 2)]).unwrap();
        assert_eq!(encode(&p3).unwrap(), "Bg");
        assert_eq!(decode(b"Bg").unwrap(), p3);
        assert_eq!(decode(b">>graph6<<Bg").unwrap(), p3);
        assert_eq!(encode(&Graph::empty(0)).unwrap(), "?");
        assert_eq!(decode(b"?").unwrap(), Graph::empty(0));
        // The first line of the GDSS community_small.g6 list.
        let g = decode(b"MF~DK?@?G?_K?]?T_").unwrap();
        assert_eq!(g.n(), 14);
        assert_eq!(encode(&g).unwrap(), "MF~DK?@?G?_K?]?T_");
    }

    #[test]
    fn size_field_boundaries() {
        for (n, len) in [
            (0u64, 1usize),
            (62, 1),
            (63, 4),
            (258_047, 4),
            (258_048, 8),
            (FORMAT_MAX_NODES, 8),
        ] {
            let mut out = Vec::new();
            encode_size(n, &mut out);
            assert_eq!(out.len(), len, "n = {n}");
            assert_eq!(decode_size(&out, GraphFormat::Graph6).unwrap(), (n, len));
        }
        // networkx's n_to_data(63) = [63, 0, 0, 63] → "~??~".
        let mut out = Vec::new();
        encode_size(63, &mut out);
        assert_eq!(out, b"~??~");
    }

    #[test]
    fn faults() {
        assert_eq!(
            decode(b""),
            Err(DecodeError::Empty {
                format: GraphFormat::Graph6
            })
        );
        assert_eq!(
            decode(b"Bgx\x01"),
            Err(DecodeError::BadByte {
                format: GraphFormat::Graph6,
                column: 4,
                byte: 1
            })
        );
        let e = decode(b"K???").unwrap_err();
        assert_eq!(
            e,
            DecodeError::Graph6Length {
                n: 12,
                expected: 11,
                found: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "graph6 header says 12 nodes (11 bytes of edges) but 3 bytes of edges follow"
        );
        assert!(matches!(
            decode(b"~?"),
            Err(DecodeError::TruncatedSize { needed: 4, .. })
        ));
        assert!(matches!(
            decode(b"~~??"),
            Err(DecodeError::TruncatedSize { needed: 8, .. })
        ));
        // 2^36 − 1 nodes declared and nothing else: refused without allocating.
        assert!(matches!(
            decode(b"~~~~~~~~"),
            Err(DecodeError::TooManyNodes { .. })
        ));
        // The largest accepted n with no data: a length error, not an allocation.
        let mut big = Vec::new();
        encode_size(MAX_NODES as u64, &mut big);
        assert!(matches!(
            decode(&big),
            Err(DecodeError::Graph6Length { .. })
        ));
        assert!(matches!(decode(b":Bd"), Err(DecodeError::IsSparse6 { .. })));
        assert_eq!(
            decode(b">>grpah6<<Bg").unwrap_err().to_string(),
            "unknown header '>>grpah6<<' (expected '>>graph6<<')"
        );
        assert!(matches!(
            decode(b">>"),
            Err(DecodeError::UnknownHeader { .. })
        ));
    }
}
