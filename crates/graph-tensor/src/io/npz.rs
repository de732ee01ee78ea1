//! numpy `.npz` archives of zero-padded adjacency tensors.
//!
//! ## Layout written
//! A zip archive, entries stored (not compressed), fixed timestamp 1980-01-01 00:00 (so the
//! same graphs give the same bytes), holding two `.npy` version 1.0 arrays, C order, little
//! endian, exactly what `np.savez(path, adj=..., n_nodes=...)` would hold:
//!
//! * `n_nodes.npy`: `int64 [G]`, the node count of every graph;
//! * `adj.npy`: `float32 [G, N, N]` with `N = max n_nodes` (0 when there are no graphs):
//!   `adj[g, i, j] = 1` when `i–j` is an edge of graph `g`, else 0. Rows and columns
//!   `>= n_nodes[g]` are zero padding; the diagonal is zero; every matrix is symmetric.
//!
//! ```python
//! z = np.load("graphs.npz")
//! adj, n = z["adj"], z["n_nodes"]
//! G = [nx.from_numpy_array(adj[g, :n[g], :n[g]]) for g in range(len(n))]
//! ```
//!
//! Entries of 4 GiB or more, and archives whose directory starts past 4 GiB, use the zip64
//! extensions (numpy reads them). The archive is produced in one pass over a plain
//! [`Write`] (CRC-32s are computed by a first pass over the same rows), so no seeking and
//! no `G × N × N` buffer: memory is one row.
//!
//! ## Reading
//! The reader takes any uncompressed npz (`np.savez`, not `np.savez_compressed`) with an
//! array `adj` of shape `[G, N, N]` or `[N, N]` (dtype `float32`, `float64`, `bool`, `int8`,
//! `uint8`, `int32`, `int64`; either byte order; C or Fortran order) and optionally
//! `n_nodes` (any of those integer dtypes, shape `[G]`). Without `n_nodes` every graph has
//! `N` nodes. Every entry must be exactly 0 or 1, every matrix symmetric with a zero
//! diagonal and zero padding; other arrays in the archive are ignored. CRC-32s are checked.

use std::io::{self, BufRead, Write};
use std::path::Path;

use super::{GraphFormat, IoError, MAX_NODES};
use crate::graph::Graph;

/// DOS date of 1980-01-01 (the earliest a zip can say).
const DOS_DATE: u16 = (1 << 5) | 1;
const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const U32_MAX: u64 = 0xFFFF_FFFF;

/// The `.npy` v1.0 header for a C-order array: magic, version, length, dict padded with
/// spaces and a newline so the data starts at a multiple of 64 bytes (as numpy pads).
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut h = Vec::with_capacity(total);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

/// Receives the bytes of an entry, chunk by chunk.
type Sink<'s> = dyn FnMut(&[u8]) -> io::Result<()> + 's;

/// Streams an entry's bytes into a sink.
type Emit<'a> = Box<dyn Fn(&mut Sink<'_>) -> io::Result<()> + 'a>;

/// One archive entry: a name and a way to stream its bytes (called once for the CRC, once
/// to write).
struct Entry<'a> {
    name: &'static str,
    size: u64,
    emit: Emit<'a>,
}

fn adjacency_entry(graphs: &[Graph]) -> Entry<'_> {
    let n_max = graphs.iter().map(Graph::n).max().unwrap_or(0);
    let header = npy_header("<f4", &[graphs.len(), n_max, n_max]);
    let size = header.len() as u64 + 4 * (graphs.len() as u64) * (n_max as u64).pow(2);
    Entry {
        name: "adj.npy",
        size,
        emit: Box::new(move |sink| {
            sink(&header)?;
            let one = 1.0f32.to_le_bytes();
            let mut row = vec![0u8; 4 * n_max];
            for g in graphs {
                let adj = g.adjacency_lists();
                for i in 0..n_max {
                    if let Some(nbrs) = adj.get(i) {
                        for &j in nbrs {
                            row[4 * j..4 * j + 4].copy_from_slice(&one);
                        }
                        sink(&row)?;
                        for &j in nbrs {
                            row[4 * j..4 * j + 4].fill(0);
                        }
                    } else {
                        sink(&row)?;
                    }
                }
            }
            Ok(())
        }),
    }
}

fn n_nodes_entry(graphs: &[Graph]) -> Entry<'_> {
    let header = npy_header("<i8", &[graphs.len()]);
    Entry {
        name: "n_nodes.npy",
        size: header.len() as u64 + 8 * graphs.len() as u64,
        emit: Box::new(move |sink| {
            sink(&header)?;
            for g in graphs {
                sink(&(g.n() as i64).to_le_bytes())?;
            }
            Ok(())
        }),
    }
}

/// A writer that counts bytes.
struct Counting<'w, W: Write + ?Sized> {
    w: &'w mut W,
    at: u64,
}

impl<W: Write + ?Sized> Counting<'_, W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.at += b.len() as u64;
        Ok(())
    }
}

/// Writes graphs as an npz archive (see the module docs).
pub(crate) fn write<W: Write + ?Sized>(w: &mut W, graphs: &[Graph]) -> io::Result<()> {
    write_impl(w, graphs, false)
}

/// `force_zip64`: use the zip64 fields even for small archives (tests the large-file path).
pub(crate) fn write_impl<W: Write + ?Sized>(
    w: &mut W,
    graphs: &[Graph],
    force_zip64: bool,
) -> io::Result<()> {
    let entries = [n_nodes_entry(graphs), adjacency_entry(graphs)];
    let mut out = Counting { w, at: 0 };
    let mut central = Vec::new();
    for e in &entries {
        let mut crc = crc32fast::Hasher::new();
        (e.emit)(&mut |b| {
            crc.update(b);
            Ok(())
        })?;
        let crc = crc.finalize();
        let offset = out.at;
        let zip64_size = force_zip64 || e.size >= U32_MAX;
        let zip64_offset = force_zip64 || offset >= U32_MAX;
        let version: u16 = if zip64_size || zip64_offset { 45 } else { 20 };
        let size32 = if zip64_size {
            U32_MAX as u32
        } else {
            e.size as u32
        };
        // Local header.
        let mut h = Vec::with_capacity(64);
        h.extend(LOCAL_SIG.to_le_bytes());
        h.extend(version.to_le_bytes());
        h.extend(0u16.to_le_bytes()); // flags
        h.extend(0u16.to_le_bytes()); // stored
        h.extend(0u16.to_le_bytes()); // time 00:00
        h.extend(DOS_DATE.to_le_bytes());
        h.extend(crc.to_le_bytes());
        h.extend(size32.to_le_bytes()); // compressed size
        h.extend(size32.to_le_bytes()); // uncompressed size
        h.extend((e.name.len() as u16).to_le_bytes());
        h.extend((if zip64_size { 20u16 } else { 0 }).to_le_bytes());
        h.extend(e.name.as_bytes());
        if zip64_size {
            h.extend(1u16.to_le_bytes());
            h.extend(16u16.to_le_bytes());
            h.extend(e.size.to_le_bytes());
            h.extend(e.size.to_le_bytes());
        }
        out.put(&h)?;
        let start = out.at;
        (e.emit)(&mut |b| out.put(b))?;
        debug_assert_eq!(out.at - start, e.size);
        // Central directory record.
        let mut extra = Vec::new();
        if zip64_size {
            extra.extend(e.size.to_le_bytes());
            extra.extend(e.size.to_le_bytes());
        }
        if zip64_offset {
            extra.extend(offset.to_le_bytes());
        }
        let c = &mut central;
        c.extend(CENTRAL_SIG.to_le_bytes());
        c.extend((0x0300u16 | version).to_le_bytes()); // made by: unix
        c.extend(version.to_le_bytes());
        c.extend(0u16.to_le_bytes());
        c.extend(0u16.to_le_bytes());
        c.extend(0u16.to_le_bytes());
        c.extend(DOS_DATE.to_le_bytes());
        c.extend(crc.to_le_bytes());
        c.extend(size32.to_le_bytes());
        c.extend(size32.to_le_bytes());
        c.extend((e.name.len() as u16).to_le_bytes());
        let extra_len = if extra.is_empty() {
            0
        } else {
            4 + extra.len() as u16
        };
        c.extend(extra_len.to_le_bytes());
        c.extend(0u16.to_le_bytes()); // comment
        c.extend(0u16.to_le_bytes()); // disk
        c.extend(0u16.to_le_bytes()); // internal attributes
        c.extend((0o100644u32 << 16).to_le_bytes()); // -rw-r--r--
        c.extend(
            (if zip64_offset {
                U32_MAX as u32
            } else {
                offset as u32
            })
            .to_le_bytes(),
        );
        c.extend(e.name.as_bytes());
        if !extra.is_empty() {
            c.extend(1u16.to_le_bytes());
            c.extend((extra.len() as u16).to_le_bytes());
            c.extend(extra);
        }
    }
    let cd_offset = out.at;
    let cd_size = central.len() as u64;
    out.put(&central)?;
    let n = entries.len() as u16;
    let zip64_end = force_zip64 || cd_offset >= U32_MAX;
    if zip64_end {
        let z64_at = out.at;
        let mut z = Vec::with_capacity(76);
        z.extend(ZIP64_EOCD_SIG.to_le_bytes());
        z.extend(44u64.to_le_bytes());
        z.extend(0x032du16.to_le_bytes());
        z.extend(45u16.to_le_bytes());
        z.extend(0u32.to_le_bytes());
        z.extend(0u32.to_le_bytes());
        z.extend(u64::from(n).to_le_bytes());
        z.extend(u64::from(n).to_le_bytes());
        z.extend(cd_size.to_le_bytes());
        z.extend(cd_offset.to_le_bytes());
        z.extend(ZIP64_LOCATOR_SIG.to_le_bytes());
        z.extend(0u32.to_le_bytes());
        z.extend(z64_at.to_le_bytes());
        z.extend(1u32.to_le_bytes());
        out.put(&z)?;
    }
    let mut e = Vec::with_capacity(22);
    e.extend(EOCD_SIG.to_le_bytes());
    e.extend(0u16.to_le_bytes());
    e.extend(0u16.to_le_bytes());
    e.extend(n.to_le_bytes());
    e.extend(n.to_le_bytes());
    e.extend((cd_size as u32).to_le_bytes());
    e.extend(
        (if zip64_end {
            U32_MAX as u32
        } else {
            cd_offset as u32
        })
        .to_le_bytes(),
    );
    e.extend(0u16.to_le_bytes());
    out.put(&e)
}

// ---------------------------------------------------------------------------------------
// Reading.

/// Little-endian field access with bounds checks.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn get(&self, at: u64, len: usize) -> Option<&'a [u8]> {
        let at = usize::try_from(at).ok()?;
        self.0.get(at..at.checked_add(len)?)
    }
    fn u16(&self, at: u64) -> Option<u16> {
        Some(u16::from_le_bytes(self.get(at, 2)?.try_into().ok()?))
    }
    fn u32(&self, at: u64) -> Option<u32> {
        Some(u32::from_le_bytes(self.get(at, 4)?.try_into().ok()?))
    }
    fn u64(&self, at: u64) -> Option<u64> {
        Some(u64::from_le_bytes(self.get(at, 8)?.try_into().ok()?))
    }
}

/// An archive member found in the central directory.
struct Member<'a> {
    name: String,
    data: &'a [u8],
}

/// Lists the members of a zip archive held in memory.
fn zip_members(buf: &[u8]) -> Result<Vec<Member<'_>>, String> {
    let b = Bytes(buf);
    let trunc = || "truncated or not a zip archive".to_string();
    // End of central directory: 22 bytes plus a comment of up to 65535.
    let lowest = buf.len().saturating_sub(22 + 65535);
    let eocd = (lowest..=buf.len().saturating_sub(22))
        .rev()
        .find(|&i| buf[i..].starts_with(&EOCD_SIG.to_le_bytes()))
        .ok_or("no zip end-of-directory record (truncated or not an npz file)")?
        as u64;
    let mut count = u64::from(b.u16(eocd + 10).ok_or_else(trunc)?);
    let mut cd_offset = u64::from(b.u32(eocd + 16).ok_or_else(trunc)?);
    if (count == 0xFFFF || cd_offset == U32_MAX)
        && eocd >= 20
        && b.u32(eocd - 20) == Some(ZIP64_LOCATOR_SIG)
    {
        let z = b.u64(eocd - 12).ok_or_else(trunc)?;
        if b.u32(z) != Some(ZIP64_EOCD_SIG) {
            return Err("broken zip64 end-of-directory record".into());
        }
        count = b.u64(z + 32).ok_or_else(trunc)?;
        cd_offset = b.u64(z + 48).ok_or_else(trunc)?;
    }
    let mut members = Vec::new();
    let mut at = cd_offset;
    for _ in 0..count {
        if b.u32(at) != Some(CENTRAL_SIG) {
            return Err("broken zip central directory".into());
        }
        let method = b.u16(at + 10).ok_or_else(trunc)?;
        let crc = b.u32(at + 16).ok_or_else(trunc)?;
        let mut csize = u64::from(b.u32(at + 20).ok_or_else(trunc)?);
        let mut usize_ = u64::from(b.u32(at + 24).ok_or_else(trunc)?);
        let name_len = b.u16(at + 28).ok_or_else(trunc)? as usize;
        let extra_len = b.u16(at + 30).ok_or_else(trunc)? as usize;
        let comment_len = b.u16(at + 32).ok_or_else(trunc)? as usize;
        let mut local = u64::from(b.u32(at + 42).ok_or_else(trunc)?);
        let name = b.get(at + 46, name_len).ok_or_else(trunc)?;
        let name = String::from_utf8_lossy(name).into_owned();
        // zip64 extra field: the 0xFFFFFFFF fields, in the order usize, csize, offset.
        let mut x = at + 46 + name_len as u64;
        let x_end = x + extra_len as u64;
        while x + 4 <= x_end {
            let tag = b.u16(x).ok_or_else(trunc)?;
            let len = u64::from(b.u16(x + 2).ok_or_else(trunc)?);
            if tag == 1 {
                let mut f = x + 4;
                for field in [&mut usize_, &mut csize, &mut local] {
                    if *field == U32_MAX && f + 8 <= x + 4 + len {
                        *field = b.u64(f).ok_or_else(trunc)?;
                        f += 8;
                    }
                }
            }
            x += 4 + len;
        }
        at = x_end + comment_len as u64;
        if !name.ends_with(".npy") {
            continue;
        }
        if method != 0 {
            return Err(format!(
                "member '{name}' is compressed (np.savez_compressed); graphdiff reads uncompressed npz (np.savez)"
            ));
        }
        if csize != usize_ {
            return Err(format!("member '{name}': stored sizes disagree"));
        }
        if b.u32(local) != Some(LOCAL_SIG) {
            return Err(format!("member '{name}': broken local header"));
        }
        let lname = u64::from(b.u16(local + 26).ok_or_else(trunc)?);
        let lextra = u64::from(b.u16(local + 28).ok_or_else(trunc)?);
        let start = local + 30 + lname + lextra;
        let len = usize::try_from(csize).map_err(|_| trunc())?;
        let data = b
            .get(start, len)
            .ok_or_else(|| format!("member '{name}' is cut short"))?;
        if crc32fast::hash(data) != crc {
            return Err(format!("member '{name}': CRC-32 mismatch (corrupted file)"));
        }
        members.push(Member { name, data });
    }
    Ok(members)
}

/// A parsed `.npy` array: element type, byte order, shape, order, raw data.
struct Npy<'a> {
    kind: u8,
    size: usize,
    big_endian: bool,
    shape: Vec<usize>,
    fortran: bool,
    data: &'a [u8],
}

impl Npy<'_> {
    fn parse(buf: &[u8]) -> Result<Npy<'_>, String> {
        let b = Bytes(buf);
        if !buf.starts_with(b"\x93NUMPY") {
            return Err("not a .npy array (bad magic)".into());
        }
        let (hlen, hstart) = match buf.get(6) {
            Some(1) => (b.u16(8).ok_or("truncated header")? as usize, 10),
            Some(2 | 3) => (b.u32(8).ok_or("truncated header")? as usize, 12),
            _ => return Err("unknown .npy version".into()),
        };
        let header = b.get(hstart as u64, hlen).ok_or("truncated header")?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
        let field = |key: &str| -> Result<&str, String> {
            let k = format!("'{key}':");
            let i = header.find(&k).ok_or(format!("header has no '{key}'"))?;
            Ok(header[i + k.len()..].trim_start())
        };
        let descr = field("descr")?;
        let descr = descr
            .strip_prefix('\'')
            .and_then(|d| d.split('\'').next())
            .ok_or("unreadable 'descr'")?;
        let (order, rest) = descr.split_at(descr.len().min(1));
        let big_endian = order == ">";
        if !matches!(order, "<" | ">" | "|" | "=") {
            return Err(format!("unsupported dtype '{descr}'"));
        }
        let (kind, size) = match rest {
            "f4" => (b'f', 4),
            "f8" => (b'f', 8),
            "b1" => (b'b', 1),
            "i1" => (b'i', 1),
            "u1" => (b'u', 1),
            "i4" => (b'i', 4),
            "i8" => (b'i', 8),
            "u4" => (b'u', 4),
            "u8" => (b'u', 8),
            _ => return Err(format!("unsupported dtype '{descr}'")),
        };
        let fortran = field("fortran_order")?.starts_with("True");
        let shape = field("shape")?;
        let shape = shape
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("unreadable 'shape'")?;
        let shape = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("unreadable shape ({shape})"))?;
        let data = &buf[hstart + hlen..];
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = count.and_then(|c| c.checked_mul(size));
        if bytes != Some(data.len()) {
            return Err(format!(
                "shape {shape:?} of {size}-byte items does not match the {} data bytes",
                data.len()
            ));
        }
        Ok(Npy {
            kind,
            size,
            big_endian,
            shape,
            fortran,
            data,
        })
    }

    /// Element `flat` (in memory order) as f64.
    fn get(&self, flat: usize) -> f64 {
        let raw = &self.data[flat * self.size..(flat + 1) * self.size];
        let mut a = [0u8; 8];
        a[..self.size].copy_from_slice(raw);
        if self.big_endian {
            a[..self.size].reverse();
        }
        match (self.kind, self.size) {
            (b'f', 4) => f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            (b'f', 8) => f64::from_le_bytes(a),
            (b'i', 1) => f64::from(a[0] as i8),
            (b'i', 4) => f64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            (b'i', 8) => i64::from_le_bytes(a) as f64,
            (b'u', 4) => f64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            (b'u', 8) => u64::from_le_bytes(a) as f64,
            _ => f64::from(a[0]), // b1, u1
        }
    }

    /// Memory index of the element at `idx` (row-major index tuple).
    fn flat(&self, idx: &[usize]) -> usize {
        let dims = self.shape.iter().zip(idx);
        if self.fortran {
            dims.rev().fold(0, |f, (&d, &i)| f * d + i)
        } else {
            dims.fold(0, |f, (&d, &i)| f * d + i)
        }
    }
}

/// Reads an npz archive (see the module docs). The whole input is read into memory.
pub(crate) fn read<R: BufRead>(mut reader: R, name: &Path) -> Result<Vec<Graph>, IoError> {
    let mut buf = Vec::new();
    reader
        .read_to_end(&mut buf)
        .map_err(|e| IoError::io(name, e))?;
    let err = |m: String| IoError::syntax(name, 0, GraphFormat::Npz, m);
    let members = zip_members(&buf).map_err(err)?;
    let find = |want: &str| members.iter().find(|m| m.name == want);
    let adj = find("adj.npy").ok_or_else(|| {
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        err(format!(
            "no array 'adj' in the archive (it holds: {})",
            names.join(", ")
        ))
    })?;
    let adj = Npy::parse(adj.data).map_err(|m| err(format!("adj: {m}")))?;
    let (g_count, n_max) = match adj.shape[..] {
        [g, a, b] if a == b => (g, a),
        [a, b] if a == b => (1, a),
        _ => {
            return Err(err(format!(
                "adj has shape {:?}, expected [G, N, N] or [N, N]",
                adj.shape
            )))
        }
    };
    if n_max > MAX_NODES {
        return Err(IoError::TooManyNodes {
            path: name.to_path_buf(),
            line: 0,
            n: n_max as u64,
            limit: MAX_NODES,
        });
    }
    let sizes: Vec<usize> = match find("n_nodes.npy") {
        None => vec![n_max; g_count],
        Some(m) => {
            let nn = Npy::parse(m.data).map_err(|m| err(format!("n_nodes: {m}")))?;
            if nn.shape != [g_count] || nn.kind == b'f' || nn.kind == b'b' {
                return Err(err(format!(
                    "n_nodes must be an integer array of shape [{g_count}] (adj holds {g_count} graphs)"
                )));
            }
            (0..g_count)
                .map(|g| {
                    let v = nn.get(g);
                    if v < 0.0 || v > n_max as f64 {
                        Err(err(format!("n_nodes[{g}] = {v} is outside 0..={n_max}")))
                    } else {
                        Ok(v as usize)
                    }
                })
                .collect::<Result<_, _>>()?
        }
    };
    let three_d = adj.shape.len() == 3;
    let mut graphs = Vec::with_capacity(g_count);
    for (g, &n) in sizes.iter().enumerate() {
        let at = |i: usize, j: usize| {
            adj.get(if three_d {
                adj.flat(&[g, i, j])
            } else {
                adj.flat(&[i, j])
            })
        };
        let mut edges = Vec::new();
        for i in 0..n_max {
            for j in i..n_max {
                let (x, y) = (at(i, j), at(j, i));
                let bad = |v: f64| v != 0.0 && v != 1.0;
                if bad(x) || bad(y) {
                    let v = if bad(x) { x } else { y };
                    return Err(err(format!(
                        "adj[{g}, {i}, {j}] = {v}: entries must be 0 or 1 (threshold the matrix first)"
                    )));
                }
                if x != y {
                    return Err(err(format!("adj[{g}] is not symmetric at ({i}, {j})")));
                }
                if x == 1.0 {
                    if i == j {
                        return Err(err(format!("adj[{g}] has a self-loop at node {i}")));
                    }
                    if j >= n {
                        return Err(err(format!(
                            "adj[{g}] has an edge {i}-{j} outside its {n} nodes (n_nodes[{g}] = {n}; padding must be zero)"
                        )));
                    }
                    edges.push((i, j));
                }
            }
        }
        graphs.push(Graph::new(n, edges).expect("upper triangle within n: a simple graph"));
    }
    Ok(graphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned() {
        let h = npy_header("<f4", &[3, 4, 4]);
        assert_eq!(h.len() % 64, 0);
        assert!(h.ends_with(b"\n"));
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 4), }"));
        assert!(std::str::from_utf8(&npy_header("<i8", &[7])[10..])
            .unwrap()
            .contains("(7,)"));
    }

    #[test]
    fn round_trip_and_zip64() {
        let graphs = vec![
            Graph::new(3, [(0, 1), (1, 2)]).unwrap(),
            Graph::empty(0),
            Graph::new(5, [(0, 4)]).unwrap(),
        ];
        for force in [false, true] {
            let mut buf = Vec::new();
            write_impl(&mut buf, &graphs, force).unwrap();
            assert_eq!(
                read(&buf[..], Path::new("g.npz")).unwrap(),
                graphs,
                "zip64 = {force}"
            );
        }
    }

    #[test]
    fn faults() {
        let graphs = vec![Graph::new(3, [(0, 1), (1, 2)]).unwrap()];
        let mut buf = Vec::new();
        write(&mut buf, &graphs).unwrap();
        let e = read(&buf[..buf.len() - 3], Path::new("g.npz"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("g.npz: ") && e.contains("end-of-directory"),
            "{e}"
        );
        // Flip one byte of the adjacency data: the CRC catches it.
        let mut bad = buf.clone();
        let at = bad
            .windows(4)
            .position(|w| w == 1.0f32.to_le_bytes())
            .unwrap();
        bad[at + 1] ^= 0x10;
        let e = read(&bad[..], Path::new("g.npz")).unwrap_err().to_string();
        assert!(e.contains("CRC"), "{e}");
    }
}
