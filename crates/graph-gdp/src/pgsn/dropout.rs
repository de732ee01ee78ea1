//! Dropout of the PGSN's train mode (`pos_gnn`: `Dropout_0` on the node features, the
//! position features and the dense edge features after every layer), from explicit masks.
//!
//! Masks come from a [`NoiseSource`] (graph `b`'s masks from its own stream, drawn in a
//! fixed order per layer, so they do not depend on the layout or on the other graphs), or are
//! given in the official padded layout (the parity fixture's stored masks).

use graph_tensor::noise::NoiseSource;
use rand::RngCore;
use tch::{Kind, Tensor};

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
/// kept with probability `1 − p` (one 32-bit draw each).
fn draw(
    noise: &mut NoiseSource,
    p: f64,
    layers: usize,
    (nf, pos, ef): (usize, usize, usize),
    layout: &BatchLayout,
    kind: Kind,
    scale: f64,
) -> Vec<Scaled> {
    let threshold = ((1.0 - p) * 4_294_967_296.0).round().min(u32::MAX as f64) as u64;
    let counts = &layout.counts;
    // blocks[layer][site][graph]
    let mut blocks: Vec<[Vec<Vec<f32>>; 3]> = (0..layers)
        .map(|_| [Vec::new(), Vec::new(), Vec::new()])
        .collect();
    for (b, &n) in counts.iter().enumerate() {
        let rng = noise.graph_rng(b);
        let mut fill = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    if u64::from(rng.next_u32()) < threshold {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        for layer in blocks.iter_mut() {
            layer[0].push(fill(n * nf));
            layer[1].push(fill(n * pos));
            layer[2].push(fill(n * n * ef));
        }
    }
    blocks
        .into_iter()
        .map(|[h, ps, e]| Scaled {
            h: layout.node_rows_from_blocks(&h, nf, 1.0).to_kind(kind) * scale,
            pos: layout.node_rows_from_blocks(&ps, pos, 1.0).to_kind(kind) * scale,
            edge: layout.pair_rows_from_blocks(&e, ef, 1.0).to_kind(kind) * scale,
        })
        .collect()
}
