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
//!
//! ```no_run
//! use edp_gnn::{load_official_weights, Conditioning, EdpGnn, EdpGnnConfig};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! # fn main() -> edp_gnn::Result<()> {
//! // The official network with official weights (a state_dict saved as safetensors).
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = EdpGnn::new(&vs.root(), &EdpGnnConfig::default(), 0)?;
//! load_official_weights(&vs, std::path::Path::new("model.safetensors"))?;
//! // Score of 6 noisy graphs on 20 nodes, one per noise level (σ-major), eval mode.
//! let adj = Tensor::zeros([6, 20, 20], (Kind::Float, Device::Cpu));
//! let flags = Tensor::ones([6, 20], (Kind::Float, Device::Cpu));
//! let x = Tensor::zeros([6, 20, 1], (Kind::Float, Device::Cpu));
//! let score = tch::no_grad(|| net.forward_t(&x, &adj, &flags, Conditioning::SigmaMajor, false))?;
//! assert_eq!(score.size(), [6, 20, 20]);
//! # Ok(())
//! # }
//! ```
//!
//! Conventions: σ levels are indexed in ascending order (level 0 = smallest σ, as in the
//! official configs); node flags are 0/1 floats; every random draw comes from explicitly
//! seeded ChaCha8 streams: initialisation from a seed ([`EdpGnn::new`],
//! [`EdpGnnModel::build_seeded`]; the trait's `build`, which receives no seed, takes one
//! from torch's CPU generator, which the shared trainer seeds), training noise from
//! graph-tensor's `NoiseSource`, sampling noise from per-graph seeds.

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
pub use network::{
    load_official_weights, Conditioning, EdgeBackward, EdpGnn, LayerTrace, TrainTape,
};
pub use sampler::{langevin_step, AnnealedLangevin, LangevinStep};
