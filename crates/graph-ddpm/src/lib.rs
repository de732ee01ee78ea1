//! # graph-ddpm
//!
//! The discrete-state diffusion model for graphs of Haefeli, Martinkus, Perraudin and
//! Wattenhofer (2022, *Diffusion Models for Graphs Benefit From Discrete State Spaces*),
//! ported from the official code (`kilianhae/discrete_DPPM_Graphs`) and checked against it
//! tensor by tensor (`tests/parity.rs`).
//!
//! Every node pair is a two-state variable (edge / no edge) that the forward process flips
//! with symmetric, doubly stochastic transitions until it is Bernoulli(½); a PPGN denoiser
//! predicts which entries were flipped; 32 reverse steps generate a graph.
//!
//! * [`transition`]: the forward process ([`DoublyStochastic`]: `q(t)`, `q̄(t)`, the exact
//!   posterior) and its schedules;
//! * [`ppgn`]: the denoiser ([`Powerful`]), with the official parameter names;
//! * [`loss`]: the forward noising, L_simple and the variational bound;
//! * [`sampler`]: the ancestral (VLB) and L_simple samplers;
//! * [`GraphDdpmConfig`]: configuration, `Default` = the official Community-small config;
//! * [`GraphDdpmModel`]: all of it behind graph-tensor's `DiffusionModel` trait.
//!
//! ```no_run
//! use graph_ddpm::{GraphDdpmConfig, GraphDdpmModel};
//! use graph_tensor::model::DiffusionModel;
//! use tch::{nn, Device};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = GraphDdpmModel::build(&vs.root(), &GraphDdpmConfig::default())?;
//! graph_ddpm::load_official_weights(&vs, std::path::Path::new("model.safetensors"))?;
//! // 32 reverse steps for three graphs of 12, 15 and 20 nodes.
//! let graphs = model.sample(&[12, 15, 20], &[0, 1, 2], Device::Cpu, &mut |_, _| {})?;
//! assert_eq!(graphs.node_counts(), [12, 15, 20]);
//! # Ok(())
//! # }
//! ```
//!
//! Conventions: node flags are 0/1 floats; every random draw comes from seeded ChaCha8
//! streams (graph-tensor's `NoiseSource`): training noise per graph and step, sampling noise
//! per graph.

pub mod config;
pub mod error;
pub mod loss;
pub mod model;
pub mod ppgn;
pub mod sampler;
pub mod transition;

pub use config::{GraphDdpmConfig, NodeFlagRule, Objective, SamplerConfig, SamplerKind};
pub use error::{DdpmError, Result};
pub use model::GraphDdpmModel;
pub use ppgn::{Evaluator, Powerful, PpgnShape};
pub use sampler::DdpmSampler;
pub use transition::{DoublyStochastic, Schedule, StepLevels};

use std::collections::HashMap;
use std::path::Path;

/// Loads an official `state_dict` saved as safetensors (every tensor of the official
/// `Powerful`, the unused ones included) into a network built under `vs` from the matching
/// config. Missing, unexpected and mis-shaped tensors are errors naming the tensor.
pub fn load_official_weights(vs: &tch::nn::VarStore, path: &Path) -> Result<()> {
    let werr = |reason: String| DdpmError::Weights {
        path: path.to_owned(),
        reason,
    };
    let tensors: HashMap<String, tch::Tensor> = tch::Tensor::read_safetensors(path)
        .map_err(|e| werr(e.to_string()))?
        .into_iter()
        .collect();
    graph_tensor::checkpoint::copy_into_vars(vs, &tensors, "", false).map_err(werr)
}
