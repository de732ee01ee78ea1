//! Training hyper-parameters shared by every model ([`TrainConfig`]) and the training loop.

use serde::{Deserialize, Serialize};

use crate::ema::EmaConfig;
use crate::optim::{AdamConfig, LrSchedule};

/// How long, how and how reproducibly a model is trained. Serialised as the `train` object of
/// a run config (`deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimizer steps (exactly one of `steps` and `epochs` is set).
    pub steps: Option<u64>,
    /// Number of epochs, `ceil(train graphs / batch_size)` steps each (the reference codes
    /// count epochs).
    pub epochs: Option<u64>,
    /// Graphs per mini-batch (the last batch of an epoch may be smaller, as with a PyTorch
    /// `DataLoader` without `drop_last`).
    pub batch_size: usize,
    /// Adam / AdamW hyper-parameters.
    pub optimizer: AdamConfig,
    /// Learning-rate decay.
    pub lr_schedule: LrSchedule,
    /// Linear warm-up steps (0: none), score_sde rule `lr · min(step / warmup, 1)`.
    pub warmup_steps: u64,
    /// Clip the joint gradient norm to this value (`None`: no clipping).
    pub grad_clip: Option<f64>,
    /// Exponential moving average of the weights (`None`: none).
    pub ema: Option<EmaConfig>,
    /// Seed of everything random in training: initial weights, batch order, noise.
    pub seed: u64,
    /// Apply a fresh random node permutation to every training graph in every batch.
    pub permute_nodes: bool,
    /// Write a metrics line every this many steps.
    pub log_every: u64,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Keep this many most recent checkpoints (plus the best one).
    pub keep_last: usize,
}

impl Default for TrainConfig {
    /// Adam 1e-3, no decay, batch 32, 1000 steps, no EMA, seed 0.
    fn default() -> Self {
        TrainConfig {
            steps: Some(1000),
            epochs: None,
            batch_size: 32,
            optimizer: AdamConfig::default(),
            lr_schedule: LrSchedule::Constant {},
            warmup_steps: 0,
            grad_clip: None,
            ema: None,
            seed: 0,
            permute_nodes: false,
            log_every: 50,
            checkpoint_every: 500,
            keep_last: 3,
        }
    }
}

impl TrainConfig {
    /// Optimizer steps per epoch for `num_graphs` training graphs (at least 1).
    pub fn steps_per_epoch(&self, num_graphs: usize) -> u64 {
        (num_graphs.div_ceil(self.batch_size.max(1)) as u64).max(1)
    }

    /// Total optimizer steps for `num_graphs` training graphs.
    pub fn total_steps(&self, num_graphs: usize) -> u64 {
        match (self.steps, self.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e * self.steps_per_epoch(num_graphs),
            (None, None) => 0,
        }
    }

    /// Checks ranges and consistency; the error is `(field path, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        match (self.steps, self.epochs) {
            (Some(_), Some(_)) => return bad("steps", "set either `steps` or `epochs`, not both"),
            (None, None) => return bad("steps", "set `steps` or `epochs`"),
            _ => {}
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if let Err((f, m)) = self.optimizer.validate() {
            return Err((format!("optimizer.{f}"), m));
        }
        if let LrSchedule::Exponential { gamma, .. } = self.lr_schedule {
            if !(gamma.is_finite() && gamma > 0.0) {
                return bad("lr_schedule.gamma", "must be a finite number > 0");
            }
        }
        if let Some(c) = self.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return bad(
                    "grad_clip",
                    "must be a finite number > 0 (or null for no clipping)",
                );
            }
        }
        if let Some(e) = &self.ema {
            if !(0.0..1.0).contains(&e.decay) {
                return bad("ema.decay", "must be in [0, 1)");
            }
        }
        if self.log_every == 0 {
            return bad("log_every", "must be at least 1");
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "must be at least 1");
        }
        if self.keep_last == 0 {
            return bad("keep_last", "must be at least 1");
        }
        Ok(())
    }
}
