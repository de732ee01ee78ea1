//! A tiny test-only denoising model that uses every kind of randomness a real model uses
//! (symmetric Gaussian noise, shared-stream dropout, per-graph Bernoulli sampling), so the
//! training machinery's determinism and resume guarantees are exercised, not just plumbed.

#![allow(dead_code)]

use graph_tensor::batch::{pair_mask, DenseBatch};
use graph_tensor::model::{DataSummary, DiffusionModel, ModelError};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::AdamConfig;
use graph_tensor::train::TrainConfig;
use graph_tensor::Graph;
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TinyConfig {
    pub max_nodes: Option<usize>,
    pub hidden: i64,
    pub sigma: f64,
    pub dropout: f64,
    pub sample_steps: usize,
}

impl Default for TinyConfig {
    fn default() -> Self {
        TinyConfig {
            max_nodes: None,
            hidden: 16,
            sigma: 0.5,
            dropout: 0.1,
            sample_steps: 3,
        }
    }
}

pub struct Tiny {
    l1: nn::Linear,
    l2: nn::Linear,
    cfg: TinyConfig,
    n: usize,
}

impl Tiny {
    /// Edge logits [B, N, N] for a noisy adjacency (symmetric, masked).
    fn logits(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        noise: Option<&mut NoiseSource>,
    ) -> Tensor {
        let n = x.size()[1];
        let deg = x.sum_dim_intlist(-1, false, Kind::Float) / n as f64; // [B, N]
        let pair_deg = deg.unsqueeze(-1) + deg.unsqueeze(-2);
        let feats = Tensor::stack(&[x.shallow_clone(), pair_deg, x.ones_like()], -1); // [B,N,N,3]
        let mut h = self.l1.forward(&feats).tanh();
        if let Some(noise) = noise {
            h = noise.dropout(&h, self.cfg.dropout, train);
        }
        let out = self.l2.forward(&h).squeeze_dim(-1);
        let sym = (&out + out.transpose(1, 2)) / 2.0;
        sym * pair_mask(mask)
    }
}

impl DiffusionModel for Tiny {
    type Config = TinyConfig;
    const NAME: &'static str = "tiny-test";

    fn default_train_config() -> TrainConfig {
        TrainConfig {
            steps: Some(60),
            batch_size: 4,
            optimizer: AdamConfig {
                lr: 1e-2,
                ..AdamConfig::default()
            },
            log_every: 7,
            checkpoint_every: 20,
            keep_last: 2,
            ..TrainConfig::default()
        }
    }

    fn resolve_config(config: &mut TinyConfig, data: &DataSummary) -> Result<(), ModelError> {
        config.max_nodes.get_or_insert(data.max_nodes);
        Ok(())
    }

    fn build(vs: &nn::Path, cfg: &TinyConfig) -> Result<Self, ModelError> {
        let n = cfg
            .max_nodes
            .ok_or_else(|| ModelError::config("max_nodes", "unresolved"))?;
        let l1 = nn::linear(vs / "l1", 3, cfg.hidden, Default::default());
        let l2 = nn::linear(vs / "l2", cfg.hidden, 1, Default::default());
        Ok(Tiny {
            l1,
            l2,
            cfg: cfg.clone(),
            n,
        })
    }

    fn max_nodes(&self) -> usize {
        self.n
    }

    fn loss(
        &self,
        batch: &DenseBatch,
        train: bool,
        noise: &mut NoiseSource,
    ) -> Result<Tensor, ModelError> {
        let n = batch.max_nodes() as i64;
        let pm = batch.pair_mask();
        let x = (batch.adj() + noise.randn_sym(n) * self.cfg.sigma) * &pm;
        let logits = self.logits(&x, batch.mask(), train, Some(noise));
        let bce = logits.binary_cross_entropy_with_logits::<Tensor>(
            batch.adj(),
            None,
            None,
            tch::Reduction::None,
        );
        Ok((bce * &pm).sum(Kind::Float) / pm.sum(Kind::Float).clamp_min(1.0))
    }

    fn sample(
        &self,
        node_counts: &[usize],
        seeds: &[u64],
        device: Device,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        if node_counts.len() != seeds.len() {
            return Err(ModelError::Invalid(
                "counts and seeds differ in length".into(),
            ));
        }
        if node_counts.iter().any(|&c| c > self.n) {
            return Err(ModelError::Invalid("too many nodes".into()));
        }
        let graphs: Vec<Graph> = node_counts.iter().map(|&c| Graph::empty(c)).collect();
        let mask = DenseBatch::from_graphs(&graphs, self.n, device)?
            .mask()
            .shallow_clone();
        let pm = pair_mask(&mask);
        let mut noise = NoiseSource::from_seeds(seeds, device);
        let mut x = noise.rand_sym_with(&[], self.n as i64) * &pm;
        for k in 0..self.cfg.sample_steps {
            let p = self.logits(&x, &mask, false, None).sigmoid();
            x = noise.bernoulli_sym(&p) * &pm;
            progress(k + 1, self.cfg.sample_steps);
        }
        Ok(DenseBatch::new(x, mask)?)
    }

    fn nfe(&self) -> usize {
        self.cfg.sample_steps
    }
}

/// Small training graphs: paths and cycles of 3..=8 nodes plus a few empty graphs.
pub fn toy_graphs() -> Vec<Graph> {
    let mut out = Vec::new();
    for n in 3..=8usize {
        out.push(Graph::new(n, (0..n - 1).map(|i| (i, i + 1))).unwrap());
        out.push(Graph::new(n, (0..n).map(|i| (i, (i + 1) % n))).unwrap());
    }
    out.push(Graph::empty(2));
    out.push(Graph::new(4, [(0, 1), (0, 2), (0, 3)]).unwrap());
    out
}
