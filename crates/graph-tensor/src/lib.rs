//! # graph-tensor
//!
//! The core crate of graphdiff, shared by every model and by the evaluator:
//!
//! * [`Graph`]: an undirected simple graph with a canonical edge list;
//! * [`io`]: graph6, sparse6, edge lists, JSON lines, networkx node-link JSON and npz;
//! * [`datasets`]: the benchmark datasets (seeded generators and readers faithful to the
//!   reference code), their recipes and train/test split rules, and the node-count
//!   distribution of a training set;
//! * behind the default feature `torch`: padded tensor batches ([`batch::DenseBatch`]), the
//!   diffusion-model traits, the optimizer with saveable state, EMA, checkpoints and the
//!   training loop.
//!
//! Without the `torch` feature the crate builds and tests with no libtorch present.

pub mod datasets;
pub mod fpenv;
pub mod graph;
pub mod io;
pub mod malloc;

#[cfg(feature = "torch")]
pub mod baseline;
#[cfg(feature = "torch")]
pub mod batch;
#[cfg(feature = "torch")]
pub mod checkpoint;
#[cfg(feature = "torch")]
pub mod compare;
#[cfg(feature = "torch")]
pub mod conformance;
#[cfg(feature = "torch")]
pub mod ema;
#[cfg(feature = "torch")]
pub mod host;
#[cfg(feature = "torch")]
pub mod model;
#[cfg(feature = "torch")]
pub mod noise;
#[cfg(feature = "torch")]
pub mod optim;
#[cfg(feature = "torch")]
pub mod parallel;
#[cfg(feature = "torch")]
pub mod run;
#[cfg(feature = "torch")]
pub mod sample;
pub mod simd;
#[cfg(feature = "torch")]
pub mod train;

pub use graph::{Graph, GraphError};
