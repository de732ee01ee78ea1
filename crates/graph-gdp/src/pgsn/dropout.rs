//! Dropout of the PGSN's train mode (`pos_gnn`: `Dropout_0` on the node features, the
//! position features and the dense edge features after every layer), from explicit masks.
//!
//! Masks come from a [`NoiseSource`] (graph `b`'s masks from its own stream, drawn in a
//! fixed order per layer, so they do not depend on the layout or on the other graphs), or are
//! given in the official padded layout (the parity fixture's stored masks).

use graph_tensor::host::{host_mut, HostFloat};
use graph_tensor::noise::NoiseSource;
use rand::Rng;
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

/// One layer's multiplicative masks in the layout's row order, values 0 or `1/(1 − p)`.
pub(crate) struct Scaled {
    pub h: Tensor,
    pub pos: Tensor,
    pub edge: Tensor,
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
                        edge: s(&layout.pair_rows_from_padded(&m.edge)),
                    }
                })
                .collect(),
        ),
        Dropout::Draw(noise) => Some(draw(noise, p, layers, dims, layout, kind, scale)),
    }
}

/// Per graph and layer: node mask `n × nf`, position mask `n × pos`, edge mask `n² × nf`,
/// kept with probability `1 − p` (one 32-bit draw each), written straight into the layout's
/// rows (entries of padded nodes 0).
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
                edge: s.edge.to_kind(kind),
            })
            .collect(),
    }
}

/// [`draw`] in `T` (float32 or float64): the kept entries hold `1/(1 − p)` in `T`.
fn draw_as<T: HostFloat>(
    noise: &mut NoiseSource,
    p: f64,
    layers: usize,
    (nf, pos, ef): (usize, usize, usize),
    layout: &BatchLayout,
    scale: f64,
) -> Vec<Scaled> {
    let threshold = ((1.0 - p) * 4_294_967_296.0).round().min(u32::MAX as f64) as u64;
    let keep = T::from_f64(scale);
    let cpu =
        |rows: usize, d: usize| Tensor::empty([rows as i64, d as i64], (T::KIND, Device::Cpu));
    let mut masks: Vec<[Tensor; 3]> = (0..layers)
        .map(|_| {
            [
                cpu(layout.nodes, nf),
                cpu(layout.nodes, pos),
                cpu(layout.pairs, ef),
            ]
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
    for (b, &count) in layout.counts.iter().enumerate() {
        let (n, node, pair) = at[b];
        let c = count.min(n);
        let rng = noise.graph_rng(b);
        let mut words = [0u32; 1024];
        let mut fill = |out: &mut [T]| {
            for chunk in out.chunks_mut(words.len()) {
                let w = &mut words[..chunk.len()];
                // the same words as one `next_u32` per entry, drawn in bulk
                rng.fill(w);
                for (x, &r) in chunk.iter_mut().zip(w.iter()) {
                    *x = if u64::from(r) < threshold {
                        keep
                    } else {
                        T::ZERO
                    };
                }
            }
        };
        for [h, ps, e] in masks.iter_mut() {
            // the draw order per graph and layer: nodes, positions, pairs (row-major)
            for (t, d) in [(h, nf), (ps, pos)] {
                let rows = &mut host_mut::<T>(t)[node * d..(node + n) * d];
                fill(&mut rows[..c * d]);
                rows[c * d..].fill(T::ZERO);
            }
            let rows = &mut host_mut::<T>(e)[pair * ef..(pair + n * n) * ef];
            for i in 0..n {
                let r = &mut rows[i * n * ef..(i + 1) * n * ef];
                if i < c {
                    fill(&mut r[..c * ef]);
                    r[c * ef..].fill(T::ZERO);
                } else {
                    r.fill(T::ZERO);
                }
            }
        }
    }
    masks
        .into_iter()
        .map(|[h, ps, e]| Scaled {
            h: h.to_device(layout.device),
            pos: ps.to_device(layout.device),
            edge: e.to_device(layout.device),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layout;
    use crate::pgsn::layout::Nodes;

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
    }

    #[test]
    fn bulk_words_are_the_sequential_draws() {
        use rand::{RngCore, SeedableRng};
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut b = a.clone();
        let _ = a.next_u32();
        let _ = b.next_u32();
        let mut w = [0u32; 37];
        a.fill(&mut w[..]);
        let seq: Vec<u32> = (0..37).map(|_| b.next_u32()).collect();
        assert_eq!(w.to_vec(), seq);
        assert_eq!(a.next_u32(), b.next_u32());
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
            for x in values(&b_l.edge) {
                assert!(x == 0.0 || (x - 1.0 / 0.75).abs() < 1e-6, "{x}");
                kept += usize::from(x != 0.0);
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
