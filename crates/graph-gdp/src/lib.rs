//! # graph-gdp
//!
//! GraphGDP (Huang, Sun, Du, Fu, Lv — *GraphGDP: Generative Diffusion Processes for
//! Permutation Invariant Graph Generation*, ICDM 2022), ported from the official code
//! (`GRAPH-0/GraphGDP`, built on `yang-song/score_sde_pytorch`) and checked against it tensor
//! by tensor (`tests/parity.rs`).
//!
//! * [`sde`]: the forward SDEs (VP — the official one —, sub-VP, VE) behind one [`Sde`] trait;
//! * [`pgsn`]: the position-enhanced graph score network, predicting the noise ε;
//! * [`loss`]: the continuous-time denoising loss;
//! * [`sampler`]: predictor–corrector sampling of the reverse SDE and probability-flow ODE
//!   samplers (adaptive Dormand–Prince, fixed-step Runge–Kutta, DPM-Solver++), each counting
//!   the network evaluations it makes;
//! * [`GraphGdpConfig`]: configuration, with the official presets;
//! * [`GraphGdpModel`]: all of it behind graph-tensor's `DiffusionModel` trait.
//!
//! Data are adjacency matrices scaled to `x = 2A − 1` (non-edges and padding −1), noised
//! symmetrically on the strict lower triangle and mirrored; a sample is quantised by
//! `(x + 1)/2 ≥ 0.5`. Every random draw comes from explicitly seeded ChaCha8 streams
//! (initialisation from a seed, training noise from graph-tensor's `NoiseSource`, sampling
//! noise from per-graph seeds), never from torch's global generator.

pub mod config;
pub mod error;
pub mod loss;
pub mod model;
pub mod pgsn;
pub mod sampler;
pub mod sde;

pub use config::{
    few_step_sampler, Corrector, Dopri5Config, DpmSolverConfig, FixedMethod, FixedStepConfig,
    GraphGdpConfig, Layout, PcConfig, Predictor, SamplerConfig, SdeConfig, Spacing,
    COMMUNITY_SMALL_FEW_STEPS, FEW_STEP, FEW_STEPS,
};
pub use error::{GdpError, Result};
pub use model::GraphGdpModel;
pub use pgsn::{load_official_weights, Dropout, LayerMasks, Nodes, Pgsn, Trace};
pub use sde::{build_sde, BetaTable, Sde, SubVpSde, VeSde, VpSde};
