//! # edp-gnn
//!
//! EDP-GNN (Niu, Song, Song, Zhao, Grover, Ermon — *Permutation Invariant Graph Generation
//! via Score-Based Generative Modeling*, AISTATS 2020), ported from the official code
//! (`ermongroup/GraphScoreMatching`) and checked against it tensor by tensor
//! (`tests/parity.rs`).
//!
//! * [`EdpGnn`]: the edgewise dense prediction score network `s_θ(Ã, σ_i)`;
//! * [`loss`]: the multi-noise denoising score matching objective;
//! * [`sampler`]: annealed Langevin dynamics;
//! * [`EdpGnnConfig`]: configuration, `Default` = the official Community-small config;
//! * [`EdpGnnModel`]: all of it behind graph-tensor's `DiffusionModel` trait.

pub mod config;
pub mod error;
pub mod loss;
pub mod model;
pub mod network;
pub mod sampler;

pub use config::{EdpGnnConfig, NodeFlagRule, SamplerConfig};
pub use error::{EdpGnnError, Result};
pub use loss::{perturb, score_matching_loss, Perturbed};
pub use model::{official_postprocess, EdpGnnModel};
pub use network::{load_official_weights, Conditioning, EdpGnn, LayerTrace};
pub use sampler::{langevin_step, AnnealedLangevin, LangevinStep};
