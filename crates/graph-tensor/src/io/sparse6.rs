//! nauty's sparse6 format (B. McKay, <https://users.cecs.anu.edu.au/~bdm/data/formats.txt>).
//!
//! One graph per line: `:`, the node count `N(n)` (as in graph6), then a bit stream of
//! `(b, x)` pairs, `b` one bit and `x` a `k`-bit node (`k` the bits needed for `n − 1`, at
//! least 1): `b = 1` moves the current node `v` on by one; then `x > v` sets `v = x`, and
//! `x <= v` is the edge `x–v`. The stream is padded with 1 bits to a multiple of six.
//!
//! The encoder reproduces networkx's `to_sparse6_bytes` bit for bit, including its rule for
//! padding when `n` is a small power of two; the decoder follows `from_sparse6_bytes`
//! (decoding stops at the first `x >= n` or `v >= n`, which is how padding ends). sparse6 can
//! spell self-loops and repeated edges; [`decode`] drops them (see [`super`] on
//! simplification), the file reader also reports them with `tracing::warn!`. The incremental
//! form (`;`) is not supported. Header and line handling as in [`super::graph6`].

use std::io::{self, BufRead, Write};
use std::path::Path;

use super::graph6::{check_bytes, decode_size, encode_size};
use super::{DecodeError, EncodeError, GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// The optional sparse6 file header.
pub const HEADER: &[u8] = b">>sparse6<<";

/// Bits per node number: the smallest `k >= 1` with `2^k >= n` (networkx's rule).
fn bits_per_node(n: u64) -> u32 {
    let mut k = 1;
    while (1u64 << k) < n {
        k += 1;
    }
    k
}

/// Encodes one graph as sparse6 (starting with `:`), without header or newline.
///
/// Fails only for a graph with more than [`MAX_NODES`] nodes.
pub fn encode(g: &Graph) -> Result<String, EncodeError> {
    let mut out = Vec::new();
    encode_into(g, &mut out)?;
    Ok(String::from_utf8(out).expect("sparse6 is ASCII"))
}

fn encode_into(g: &Graph, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let n = g.n();
    if n > MAX_NODES {
        return Err(EncodeError::TooManyNodes {
            format: GraphFormat::Sparse6,
            n,
            limit: MAX_NODES as u64,
        });
    }
    out.push(b':');
    encode_size(n as u64, out);
    let k = bits_per_node(n as u64);
    // networkx: edges = sorted((max(u, v), min(u, v)) ...): by larger endpoint, then smaller.
    let mut edges: Vec<(usize, usize)> = g.edges().iter().map(|&(u, v)| (v, u)).collect();
    edges.sort_unstable();
    let mut bits: Vec<bool> = Vec::with_capacity(edges.len() * (k as usize + 1) * 2);
    let push = |bits: &mut Vec<bool>, x: usize| {
        bits.extend((0..k).rev().map(|i| (x >> i) & 1 == 1));
    };
    let mut cur = 0usize;
    for &(v, u) in &edges {
        if v == cur {
            bits.push(false);
            push(&mut bits, u);
        } else if v == cur + 1 {
            cur += 1;
            bits.push(true);
            push(&mut bits, u);
        } else {
            cur = v;
            bits.push(true);
            push(&mut bits, v);
            bits.push(false);
            push(&mut bits, u);
        }
    }
    let pad = (6 - bits.len() % 6) % 6;
    if k < 6 && n == 1 << k && pad >= k as usize && cur < n - 1 {
        // Padding with 1s would spell an edge to node n−1; networkx (and nauty) put a 0 first.
        bits.push(false);
    }
    bits.resize(bits.len().div_ceil(6) * 6, true);
    out.extend(
        bits.chunks(6)
            .map(|c| c.iter().fold(0u8, |a, &b| (a << 1) | u8::from(b)) + 63),
    );
    Ok(())
}

/// Decodes one sparse6 string (an optional `>>sparse6<<` header is accepted; no newline).
/// Self-loops and repeated edges are dropped.
pub fn decode(bytes: &[u8]) -> Result<Graph, DecodeError> {
    decode_counted(bytes).map(|(g, _, _)| g)
}

/// [`decode`], also returning how many self-loops and repeated edges were dropped.
pub(crate) fn decode_counted(bytes: &[u8]) -> Result<(Graph, usize, usize), DecodeError> {
    let (offset, data) = match bytes.strip_prefix(HEADER) {
        Some(rest) => (HEADER.len(), rest),
        None => (0, bytes),
    };
    let data = match data.first() {
        None => {
            return Err(DecodeError::Empty {
                format: GraphFormat::Sparse6,
            })
        }
        Some(b':') => &data[1..],
        Some(b';') => return Err(DecodeError::Incremental),
        Some(_) => {
            if !data.starts_with(super::graph6::HEADER) {
                if let Some(e) = super::unknown_header(data, ">>sparse6<<") {
                    return Err(e);
                }
            }
            let looks_like_graph6 = super::graph6::decode(data).is_ok();
            return Err(DecodeError::MissingColon { looks_like_graph6 });
        }
    };
    check_bytes(data, offset + 1, GraphFormat::Sparse6)?;
    let (n, used) = decode_size(data, GraphFormat::Sparse6)?;
    if n > MAX_NODES as u64 {
        return Err(DecodeError::TooManyNodes {
            format: GraphFormat::Sparse6,
            n,
            limit: MAX_NODES,
        });
    }
    let body = &data[used..];
    let k = bits_per_node(n) as usize;
    let total = body.len() * 6;
    let bit = |p: usize| ((body[p / 6] - 63) >> (5 - p % 6)) & 1;
    let mut edges = Vec::new();
    let (mut pos, mut v) = (0usize, 0u64);
    while pos + 1 + k <= total {
        let b = bit(pos);
        let x = (pos + 1..pos + 1 + k).fold(0u64, |a, p| (a << 1) | u64::from(bit(p)));
        pos += 1 + k;
        if b == 1 {
            v += 1;
        }
        if x >= n || v >= n {
            break;
        } else if x > v {
            v = x;
        } else {
            edges.push((x as usize, v as usize));
        }
    }
    let (g, loops, repeats) =
        super::simplify(n as usize, edges).expect("decoded endpoints are below n");
    Ok((g, loops, repeats))
}

/// Reads a sparse6 file (see the module docs).
pub(crate) fn read<R: BufRead>(reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let mut graphs = Vec::new();
    super::for_each_line(reader, name, |line, s| {
        let s = s.trim_ascii();
        if s.is_empty() || s == HEADER {
            return Ok(());
        }
        let (g, loops, repeats) = decode_counted(s).map_err(|err| IoError::Decode {
            path: name.to_path_buf(),
            line,
            format: GraphFormat::Sparse6,
            err,
        })?;
        super::warn_dropped(name, line, graphs.len(), loops, repeats);
        graphs.push(g);
        Ok(())
    })?;
    Ok(graphs)
}

/// Writes graphs as sparse6, one per line, with the header once at the start if asked.
pub(crate) fn write<W: Write>(w: &mut W, graphs: &[Graph], header: bool) -> io::Result<()> {
    super::write_lines(w, graphs, header.then_some(HEADER), encode_into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings() {
        // networkx: to_sparse6_bytes(path_graph(3), header=False) == b":Bd\n".
        let p3 = Graph::new(3, [(0, 1), (1, 2)]).unwrap();
        assert_eq!(encode(&p3).unwrap(), ":Bd");
        assert_eq!(decode(b":Bd").unwrap(), p3);
        assert_eq!(decode(b">>sparse6<<:Bd").unwrap(), p3);
        assert_eq!(encode(&Graph::empty(0)).unwrap(), ":?");
        assert_eq!(encode(&Graph::empty(1)).unwrap(), ":@");
        // The example of the sparse6 specification: n = 7, edges 0-1 0-2 1-2 5-6.
        let g = Graph::new(7, [(0, 1), (0, 2), (1, 2), (5, 6)]).unwrap();
        assert_eq!(encode(&g).unwrap(), ":Fa@x^");
        assert_eq!(decode(b":Fa@x^").unwrap(), g);
    }

    #[test]
    fn multigraph_is_simplified() {
        // networkx docs: from_sparse6_bytes(b":A_") is a triple edge 0-1.
        let (g, loops, repeats) = decode_counted(b":A_").unwrap();
        assert_eq!(g, Graph::new(2, [(0, 1)]).unwrap());
        assert_eq!((loops, repeats), (0, 2));
    }

    #[test]
    fn faults() {
        assert_eq!(
            decode(b""),
            Err(DecodeError::Empty {
                format: GraphFormat::Sparse6
            })
        );
        assert_eq!(decode(b";Bd"), Err(DecodeError::Incremental));
        assert_eq!(
            decode(b"Bg"),
            Err(DecodeError::MissingColon {
                looks_like_graph6: true
            })
        );
        assert!(matches!(
            decode(b":~~~~~~~~"),
            Err(DecodeError::TooManyNodes { .. })
        ));
        assert!(matches!(
            decode(b":~?"),
            Err(DecodeError::TruncatedSize { .. })
        ));
        assert!(matches!(
            decode(b":B\n"),
            Err(DecodeError::BadByte { column: 3, .. })
        ));
        // A huge graph declared with no data is legal sparse6 (no edges) and costs nothing.
        let mut s = b":".to_vec();
        encode_size(MAX_NODES as u64, &mut s);
        assert_eq!(decode(&s).unwrap().n(), MAX_NODES);
    }
}
