//! Dropout of the PGSN's train mode (`pos_gnn`: `Dropout_0` on the node features, the
//! position features and the dense edge features after every layer), from explicit masks.
//!
//! Masks come from a [`NoiseSource`] (graph `b`'s masks from its own stream, drawn in a
//! fixed order per layer, so they do not depend on the layout or on the other graphs), or are
//! given in the official padded layout (the parity fixture's stored masks).

use graph_tensor::host::{host_mut, HostFloat};
use graph_tensor::noise::NoiseSource;
use rand::RngCore;
use tch::{Device, Kind, Tensor};

use super::layout::BatchLayout;

/// Keep-masks of one layer in the official padded layout (1 = kept), any numeric kind.
#[derive(Debug)]
pub struct LayerMasks {
    /// Node features `[B·N, nf]`.
    pub h: Tensor,
    /// Position features `[B·N, nf/2]`.
    pub pos: Tensor,
    /// Dense edge features `[B, N, N, nf]`.
    pub edge: Tensor,
}

/// Where the train-mode dropout masks come from.
pub enum Dropout<'a> {
    /// No dropout (eval mode, or probability 0).
    Off,
    /// Drawn from the per-graph streams of a noise source (one stream per graph of the batch).
    Draw(&'a mut NoiseSource),
    /// Given masks, one per layer, in the padded layout.
    Given(&'a [LayerMasks]),
}

impl std::fmt::Debug for Dropout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dropout::Off => "Dropout::Off",
            Dropout::Draw(_) => "Dropout::Draw",
            Dropout::Given(_) => "Dropout::Given",
        })
    }
}

/// One layer's masks in the layout's row order: the node and position masks multiplicative
/// (values 0 or `1/(1 − p)` in the network's kind), the edge mask as keep flags (`u8`, 0 or
/// 1: a quarter of the memory the pair loops read), to be scaled by `keep`.
pub(crate) struct Scaled {
    pub h: Tensor,
    pub pos: Tensor,
    /// `[pairs, nf]`, `u8`.
    pub edge: Tensor,
    /// `1/(1 − p)`.
    pub keep: f64,
}

impl Scaled {
    /// The edge mask as multiplicative values (0 or `1/(1 − p)`) of `kind`.
    pub fn edge_values(&self, kind: Kind) -> Tensor {
        self.edge.to_kind(kind) * self.keep
    }
}

/// The masks of every layer for `layout`, or `None` without dropout.
pub(crate) fn layer_masks(
    dropout: Dropout<'_>,
    p: f64,
    layers: usize,
    dims: (usize, usize, usize),
    layout: &BatchLayout,
    kind: Kind,
) -> Option<Vec<Scaled>> {
    if p <= 0.0 {
        return None;
    }
    let scale = 1.0 / (1.0 - p);
    match dropout {
        Dropout::Off => None,
        Dropout::Given(masks) => Some(
            masks
                .iter()
                .take(layers)
                .map(|m| {
                    let s = |t: &Tensor| t.to_kind(kind).to_device(layout.device) * scale;
                    Scaled {
                        h: s(&layout.node_rows_from_padded(&m.h)),
                        pos: s(&layout.node_rows_from_padded(&m.pos)),
                        edge: layout
                            .pair_rows_from_padded(&m.edge)
                            .ne(0.0)
                            .to_kind(Kind::Uint8)
                            .to_device(layout.device),
                        keep: scale,
                    }
                })
                .collect(),
        ),
        Dropout::Draw(noise) => Some(draw(noise, p, layers, dims, layout, kind, scale)),
    }
}

/// Per graph and layer: node mask `n × nf`, position mask `n × pos`, edge mask `n² × nf`,
/// each entry kept with probability `1 − p` rounded to 32 bits ([`keep_flags`]), written
/// straight into the layout's rows (entries of padded nodes 0).
fn draw(
    noise: &mut NoiseSource,
    p: f64,
    layers: usize,
    dims: (usize, usize, usize),
    layout: &BatchLayout,
    kind: Kind,
    scale: f64,
) -> Vec<Scaled> {
    match kind {
        Kind::Double => draw_as::<f64>(noise, p, layers, dims, layout, scale),
        Kind::Float => draw_as::<f32>(noise, p, layers, dims, layout, scale),
        _ => draw_as::<f32>(noise, p, layers, dims, layout, scale)
            .into_iter()
            .map(|s| Scaled {
                h: s.h.to_kind(kind),
                pos: s.pos.to_kind(kind),
                ..s
            })
            .collect(),
    }
}

/// [`draw`] in `T` (float32 or float64): the kept entries hold `1/(1 − p)` in `T`.
fn draw_as<T: HostFloat + Send + Sync>(
    noise: &mut NoiseSource,
    p: f64,
    layers: usize,
    (nf, pos, ef): (usize, usize, usize),
    layout: &BatchLayout,
    scale: f64,
) -> Vec<Scaled> {
    let threshold = ((1.0 - p) * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let keep = T::from_f64(scale);
    let cpu = |rows: usize, d: usize, kind: Kind| {
        Tensor::empty([rows as i64, d as i64], (kind, Device::Cpu))
    };
    let mut masks: Vec<(Tensor, Tensor, Tensor)> = (0..layers)
        .map(|_| {
            (
                cpu(layout.nodes, nf, T::KIND),
                cpu(layout.nodes, pos, T::KIND),
                cpu(layout.pairs, ef, Kind::Uint8),
            )
        })
        .collect();
    // each graph's group size and first node and pair rows
    let mut at = vec![(0, 0, 0); layout.counts.len()];
    let (mut node, mut pair) = (0, 0);
    for g in &layout.groups {
        for &b in &g.members {
            at[b] = (g.n, node, pair);
            node += g.n;
            pair += g.n * g.n;
        }
    }
    // one job per graph with its own stream and its rows of every mask (the graphs' rows
    // are consecutive in the layout's order, padded graphs' absent); the jobs spread over
    // libtorch's threads and draw the same numbers on any thread count
    struct Job<'a, T, R> {
        n: usize,
        count: usize,
        rng: &'a mut R,
        /// Per layer: node, position and pair rows.
        rows: Vec<(&'a mut [T], &'a mut [T], &'a mut [u8])>,
    }
    let mut order: Vec<usize> = (0..layout.counts.len()).collect();
    order.sort_by_key(|&b| at[b].1);
    let mut jobs: Vec<Job<'_, T, _>> = noise
        .graph_rngs()
        .iter_mut()
        .zip(&layout.counts)
        .zip(&at)
        .map(|((rng, &count), &(n, _, _))| Job {
            n,
            count: count.min(n),
            rng,
            rows: Vec::with_capacity(layers),
        })
        .collect();
    for (h, ps, e) in masks.iter_mut() {
        let (mut h, mut ps, mut e) = (host_mut::<T>(h), host_mut::<T>(ps), host_mut::<u8>(e));
        for &b in &order {
            let n = at[b].0;
            let (hb, hr) = std::mem::take(&mut h).split_at_mut(n * nf);
            let (pb, pr) = std::mem::take(&mut ps).split_at_mut(n * pos);
            let (eb, er) = std::mem::take(&mut e).split_at_mut(n * n * ef);
            (h, ps, e) = (hr, pr, er);
            jobs[b].rows.push((hb, pb, eb));
        }
    }
    graph_tensor::parallel::run_jobs_by_size(
        &mut jobs,
        |j| j.n * j.n,
        |job| {
            let (n, c) = (job.n, job.count);
            let mut flags = Vec::new();
            for (h, ps, e) in job.rows.iter_mut() {
                // the draw order per graph and layer: nodes, positions, pairs (row-major)
                for (rows, d) in [(&mut **h, nf), (&mut **ps, pos)] {
                    flags.resize(c * d, 0);
                    keep_flags(job.rng, threshold, &mut flags);
                    for (x, &f) in rows.iter_mut().zip(&flags) {
                        *x = if f == 1 { keep } else { T::ZERO };
                    }
                    rows[c * d..].fill(T::ZERO);
                }
                for i in 0..n {
                    let r = &mut e[i * n * ef..(i + 1) * n * ef];
                    if i < c {
                        keep_flags(job.rng, threshold, &mut r[..c * ef]);
                        r[c * ef..].fill(0);
                    } else {
                        r.fill(0);
                    }
                }
            }
        },
    );
    masks
        .into_iter()
        .map(|(h, ps, e)| Scaled {
            h: h.to_device(layout.device),
            pos: ps.to_device(layout.device),
            edge: e.to_device(layout.device),
            keep: scale,
        })
        .collect()
}

/// Fills `out` with keep flags (1 with probability `threshold / 2³²`, else 0), from `rng`.
///
/// Each entry stands for a uniform 32-bit word `u` and is kept when `u < threshold`, the
/// comparison made from the word's top byte first: a byte below `threshold`'s top byte keeps,
/// above it drops, and only a tie (probability 1/256) draws the low 24 bits (one `next_u32`,
/// after the bytes of `out`, in entry order) to settle it. The probability is exactly that of
/// a full 32-bit draw per entry, from about a quarter of the random bytes.
fn keep_flags(rng: &mut impl RngCore, threshold: u32, out: &mut [u8]) {
    let top = (threshold >> 24) as u8;
    rng.fill_bytes(out);
    let mut ties = false;
    for x in out.iter_mut() {
        ties |= *x == top;
        // 1 below the top byte, 2 on a tie, 0 above
        *x = u8::from(*x < top) + 2 * u8::from(*x == top);
    }
    if ties {
        // in entry order; a chunk is searched (a vectorised `contains`) before it is walked
        for chunk in out.chunks_mut(64).filter(|c| c.contains(&2)) {
            for x in chunk.iter_mut().filter(|x| **x == 2) {
                *x = u8::from(settle_tie(rng.next_u32(), threshold));
            }
        }
    }
}

/// The decision of a word whose top byte ties `threshold`'s: its low 24 bits (those of
/// `word`) below `threshold`'s.
#[inline]
fn settle_tie(word: u32, threshold: u32) -> bool {
    word & 0x00ff_ffff < threshold & 0x00ff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layout;
    use crate::pgsn::layout::Nodes;

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
    }

    /// An RNG that hands out given bytes, then given words.
    struct Scripted {
        bytes: Vec<u8>,
        words: Vec<u32>,
    }

    impl RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            self.words.remove(0)
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("keep_flags draws bytes and words")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            let rest = self.bytes.split_off(dest.len());
            dest.copy_from_slice(&self.bytes);
            self.bytes = rest;
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    /// Every entry decides as the full 32-bit word `top byte ‖ low 24 bits of its tie word`
    /// against the threshold would: all 256 top bytes, ties settled in entry order.
    #[test]
    fn keep_flags_decide_as_a_32_bit_draw() {
        for threshold in [
            0xe666_6666u32,
            0x8000_0000,
            0x0000_0001,
            0xffff_ffff,
            0x1234_5678,
        ] {
            let top = threshold >> 24;
            let bytes: Vec<u8> = (0..=255).collect();
            // one tie per call: its word, once just below and once at the threshold's low bits
            for low in [
                threshold & 0xff_ffff,
                (threshold & 0xff_ffff).wrapping_sub(1),
            ] {
                let word = 0xab00_0000 | (low & 0xff_ffff);
                let mut rng = Scripted {
                    bytes: bytes.clone(),
                    words: vec![word],
                };
                let mut out = vec![9u8; 256];
                keep_flags(&mut rng, threshold, &mut out);
                assert!(rng.bytes.is_empty() && rng.words.is_empty());
                for (b, &f) in out.iter().enumerate() {
                    let tail = if b as u32 == top { word & 0xff_ffff } else { 0 };
                    let full = (b as u32) << 24 | tail;
                    // below the top byte every tail keeps; above, none does
                    let want = if b as u32 == top {
                        full < threshold
                    } else {
                        (b as u32) < top
                    };
                    assert_eq!(f, u8::from(want), "threshold {threshold:#x}, byte {b}");
                }
            }
        }
    }

    /// Kept with probability `threshold / 2³²`: a million draws of `1 − p = 0.9`, and a
    /// threshold whose ties decide a third of the keeps, each within 4 standard deviations.
    #[test]
    fn keep_flags_keep_at_the_rate() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for q in [0.9, 0.00390625 * 1.5] {
            let threshold = (q * 4_294_967_296.0f64).round() as u32;
            let mut out = vec![0u8; 1 << 20];
            keep_flags(&mut rng, threshold, &mut out);
            let frac = out.iter().map(|&f| f64::from(f)).sum::<f64>() / out.len() as f64;
            let sd = (q * (1.0 - q) / out.len() as f64).sqrt();
            assert!((frac - q).abs() < 4.0 * sd, "{q}: {frac}");
            assert!(out.iter().all(|&f| f <= 1));
        }
    }

    /// The masks of a graph do not depend on the layout: the by-size rows are the padded
    /// rows of the real nodes, padded entries are 0, kept ones `1/(1 − p)`.
    #[test]
    fn drawn_masks_are_the_same_in_every_layout() {
        let nodes = Nodes::new(vec![3, 1, 4, 3, 0]);
        let (nf, pos, ef) = (4, 2, 4);
        let p = 0.25;
        let draw_in = |layout: Layout, kind: Kind| {
            let l = BatchLayout::new(layout, &nodes, 4, Device::Cpu);
            let mut noise = NoiseSource::for_step(7, 0, nodes.counts.len(), Device::Cpu);
            let m = layer_masks(Dropout::Draw(&mut noise), p, 2, (nf, pos, ef), &l, kind)
                .expect("masks");
            (l, m)
        };
        let (padded, pm) = draw_in(Layout::Padded, Kind::Float);
        let (by_size, bm) = draw_in(Layout::BySize, Kind::Float);
        let (_, dm) = draw_in(Layout::BySize, Kind::Double);
        // the graphs' draws run as jobs on libtorch's threads: the same masks on any count
        let before = tch::get_num_threads();
        tch::set_num_threads(3);
        let (_, threaded) = draw_in(Layout::BySize, Kind::Float);
        tch::set_num_threads(before);
        for (a, b) in bm.iter().zip(&threaded) {
            for (x, y) in [(&a.h, &b.h), (&a.pos, &b.pos), (&a.edge, &b.edge)] {
                assert_eq!(values(x), values(y));
            }
        }
        let real = nodes.pair_mask(4, Kind::Double, Device::Cpu);
        let node_real = nodes.node_mask(4, Kind::Double, Device::Cpu);
        let (mut kept, mut total) = (0usize, 0usize);
        for ((p_l, b_l), d_l) in pm.iter().zip(&bm).zip(&dm) {
            for (pt, bt, dt, d) in [
                (&p_l.h, &b_l.h, &d_l.h, nf),
                (&p_l.pos, &b_l.pos, &d_l.pos, pos),
            ] {
                assert_eq!(values(&by_size.node_rows_from_padded(pt)), values(bt));
                assert_eq!(
                    values(bt),
                    values(dt)
                        .iter()
                        .map(|&x| x as f32 as f64)
                        .collect::<Vec<_>>()
                );
                // padded nodes are dropped
                let off = values(
                    &(pt.view([5, 4, d as i64]).to_kind(Kind::Double)
                        * (node_real.unsqueeze(-1) * -1.0 + 1.0)),
                );
                assert!(off.iter().all(|&x| x == 0.0));
            }
            let pe = p_l.edge.view([5, 4, 4, ef as i64]);
            assert_eq!(
                values(&by_size.pair_rows_from_padded(&pe)),
                values(&b_l.edge)
            );
            // every pair of real nodes (the diagonal included) is drawn; the others are 0
            let valid = real.shallow_clone();
            for (b, &c) in nodes.counts.iter().enumerate() {
                for i in 0..c as i64 {
                    let _ = valid.get(b as i64).get(i).get(i).fill_(1.0);
                }
            }
            let off = values(&(pe.to_kind(Kind::Double) * (valid.unsqueeze(-1) * -1.0 + 1.0)));
            assert!(off.iter().all(|&x| x == 0.0));
            assert_eq!(b_l.edge.kind(), Kind::Uint8);
            for x in values(&b_l.edge) {
                assert!(x == 0.0 || x == 1.0, "{x}");
                kept += usize::from(x != 0.0);
            }
            for x in values(&b_l.edge_values(Kind::Float)) {
                assert!(x == 0.0 || (x - 1.0 / 0.75).abs() < 1e-6, "{x}");
            }
            total += values(&valid).iter().filter(|&&v| v != 0.0).count() * ef;
        }
        assert_eq!(padded.counts, nodes.counts);
        // kept with probability 3/4 (176 draws: within 4 standard deviations)
        let frac = kept as f64 / total as f64;
        assert!(
            (frac - 0.75).abs() < 4.0 * (0.75f64 * 0.25 / total as f64).sqrt(),
            "{frac}"
        );
    }
}
