//! Configuration: the PPGN's size, the forward process (`T` and the schedule), the training
//! objective and the sampler.
//!
//! `GraphDdpmConfig::default()` is the official Community-small configuration
//! (`config/train_com_small_ddpm.yaml`: L = 6 PowerfulLayers of width 32, T = 32 linear
//! steps, instance norm, dropout 1e-6, N = 20). The presets in `configs/graph-ddpm/` are
//! [`GraphDdpmConfig::community_small`], [`GraphDdpmConfig::ego_small`] and
//! [`GraphDdpmConfig::planar_60`] with the official training settings.
//!
//! The training hyper-parameters (Adam lr 1e-3, ExponentialLR γ 0.999 per epoch, batch 32,
//! 5000 epochs, seed 1234) are the model's default [`graph_tensor::train::TrainConfig`].

use serde::{Deserialize, Serialize};

use crate::error::{config_err, Result};
use crate::ppgn::PpgnShape;
use crate::transition::{DoublyStochastic, Schedule};

pub use graph_tensor::batch::NodeFlagRule;

/// The training objective (Haefeli et al., 2022, §3.2; official `ppgn_simple.py`,
/// `ppgn_vlb.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// L_simple (`ppgn_simple.py` `loss_func_bce`): per graph a continuous
    /// `β̄ ~ U(0, ½)`, and the weighted binary cross-entropy of the flip logits against the
    /// flip indicators `|A_t − A_0|`, with weight `1 − 2β̄ + 1/B`, averaged over all
    /// `B·N·N` entries of the padded batch (diagonal and padding included).
    #[default]
    Simple,
    /// The variational bound (`ppgn_vlb.py` `loss_func_kld`): per graph a step
    /// `t ~ U{1, …, T}` and the KL divergence between the exact posterior
    /// `q(A_{t−1} | A_t, A_0)` and the model's `p_θ(A_{t−1} | A_t)`, summed over the valid
    /// off-diagonal entries and the graphs of the batch.
    Vlb,
}

/// Which reverse process generates graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// The official sampler of the configured objective: [`SamplerKind::Vlb`] for `vlb`,
    /// [`SamplerKind::Simple`] for `simple`.
    #[default]
    Auto,
    /// The ancestral sampler (`sample_ppgn_vlb.py`): for `t = T … 1`, draw
    /// `A_{t−1} ~ p_θ(A_{t−1} | A_t)` through the exact posterior.
    Vlb,
    /// The L_simple sampler (`sample_ppgn_simple.py`): at levels `σ = linspace(0, ½, T)`
    /// from ½ down to 0, re-noise the current estimate to σ, predict the flips and sample a
    /// new estimate of `A_0`.
    Simple,
}

/// Sampler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Which sampler (`auto`: the official one of the objective).
    pub kind: SamplerKind,
    /// Network evaluations per graph (default: `T`, the official setting). The VLB sampler
    /// then runs the configured schedule over this many steps; the L_simple sampler uses
    /// this many levels. A model trained with the VLB has seen only the `T` training levels.
    pub steps: Option<usize>,
}

/// Full graph-ddpm configuration. `Default` is the official Community-small configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphDdpmConfig {
    /// Where these settings come from, e.g. the official config file of a preset
    /// (informational; not read by the model).
    pub source: Option<String>,
    /// Padded graph size N (official `dataset.max_node_num`: 20 Community-small, 18
    /// Ego-small, 60 Planar-60). The L_simple loss divides by `B·N²`.
    pub max_nodes: usize,
    /// Number of PowerfulLayers L (official `num_layers`).
    pub num_layers: usize,
    /// Hidden width h (official `hidden` = `hidden_final`).
    pub hidden: usize,
    /// Dropout before the output layer, active in training (official `dropout`, 1e-6).
    pub dropout: f64,
    /// Number of diffusion steps T (official `num_levels`).
    pub timesteps: usize,
    /// The schedule of the cumulative flip probability β̄_t.
    pub schedule: Schedule,
    /// The training objective.
    pub objective: Objective,
    /// Which nodes are present (official: nodes with at least one edge).
    pub node_flags: NodeFlagRule,
    /// The sampler.
    pub sampler: SamplerConfig,
}

impl Default for GraphDdpmConfig {
    fn default() -> Self {
        Self::community_small()
    }
}

impl GraphDdpmConfig {
    /// Official Community-small configuration (`config/train_com_small_ddpm.yaml`).
    pub fn community_small() -> Self {
        Self {
            source: Some(
                "kilianhae/discrete_DPPM_Graphs@3e924ef:config/train_com_small_ddpm.yaml".into(),
            ),
            max_nodes: 20,
            num_layers: 6,
            hidden: 32,
            dropout: 1e-6,
            timesteps: 32,
            schedule: Schedule::Linear {},
            objective: Objective::Simple,
            node_flags: NodeFlagRule::NonIsolated,
            sampler: SamplerConfig::default(),
        }
    }

    /// Official Ego-small configuration (`config/train_ego_small_ddpm.yaml`): the same
    /// network and process with N = 18.
    pub fn ego_small() -> Self {
        Self {
            source: Some(
                "kilianhae/discrete_DPPM_Graphs@3e924ef:config/train_ego_small_ddpm.yaml".into(),
            ),
            max_nodes: 18,
            ..Self::community_small()
        }
    }

    /// Official Planar-60 configuration (`config/train_plan_ddpm.yaml`): L = 8, h = 128,
    /// T = 128, N = 60.
    pub fn planar_60() -> Self {
        Self {
            source: Some(
                "kilianhae/discrete_DPPM_Graphs@3e924ef:config/train_plan_ddpm.yaml".into(),
            ),
            max_nodes: 60,
            num_layers: 8,
            hidden: 128,
            timesteps: 128,
            ..Self::community_small()
        }
    }

    /// The network's sizes.
    pub fn shape(&self) -> PpgnShape {
        PpgnShape {
            num_layers: self.num_layers,
            hidden: self.hidden,
        }
    }

    /// The forward process of the configured schedule.
    pub fn process(&self) -> Result<DoublyStochastic> {
        DoublyStochastic::new(&self.schedule, self.timesteps)
    }

    /// The sampler actually used (`auto` resolved against the objective).
    pub fn sampler_kind(&self) -> SamplerKind {
        match (self.sampler.kind, self.objective) {
            (SamplerKind::Auto, Objective::Simple) => SamplerKind::Simple,
            (SamplerKind::Auto, Objective::Vlb) => SamplerKind::Vlb,
            (k, _) => k,
        }
    }

    /// Network evaluations per sampled graph.
    pub fn sampler_steps(&self) -> usize {
        self.sampler.steps.unwrap_or(self.timesteps)
    }

    /// Checks every field; the error names the first offending field.
    pub fn validate(&self) -> Result<()> {
        if self.max_nodes < 2 {
            return Err(config_err(
                "max_nodes",
                format!("must be at least 2, got {}", self.max_nodes),
            ));
        }
        if self.num_layers == 0 {
            return Err(config_err("num_layers", "must be at least 1"));
        }
        if self.hidden == 0 {
            return Err(config_err("hidden", "must be at least 1"));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(config_err(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        self.process()?;
        if let Some(steps) = self.sampler.steps {
            if steps == 0 {
                return Err(config_err(
                    "sampler.steps",
                    "must be at least 1 (or null for T)",
                ));
            }
            if self.sampler_kind() == SamplerKind::Simple && steps < 2 {
                return Err(config_err(
                    "sampler.steps",
                    "the L_simple sampler needs at least 2 levels (it runs linspace(0, ½, steps))",
                ));
            }
            DoublyStochastic::new(&self.schedule, steps).map_err(|e| match e {
                crate::DdpmError::Config { reason, .. } => config_err("sampler.steps", reason),
                other => other,
            })?;
        }
        if self.sampler_kind() == SamplerKind::Simple
            && self.sampler.steps.is_none()
            && self.timesteps < 2
        {
            return Err(config_err(
                "timesteps",
                "the L_simple sampler needs at least 2 levels: set timesteps ≥ 2 or sampler.steps",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_official() {
        for c in [
            GraphDdpmConfig::community_small(),
            GraphDdpmConfig::ego_small(),
            GraphDdpmConfig::planar_60(),
        ] {
            c.validate().unwrap();
        }
        assert_eq!(
            GraphDdpmConfig::default().shape().total_parameters(),
            63_886
        );
        assert_eq!(
            GraphDdpmConfig::planar_60().shape().total_parameters(),
            1_334_286
        );
        assert_eq!(
            GraphDdpmConfig::planar_60().shape().used_parameters(),
            940_033
        );
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let c = GraphDdpmConfig {
            objective: Objective::Vlb,
            schedule: Schedule::Explicit {
                beta_bar: vec![0.1, 0.5],
            },
            timesteps: 2,
            sampler: SamplerConfig {
                kind: SamplerKind::Simple,
                steps: Some(5),
            },
            ..GraphDdpmConfig::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        let back: GraphDdpmConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        let e = serde_json::from_str::<GraphDdpmConfig>(r#"{"hiden": 3}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `hiden`"), "{e}");
        let e = serde_json::from_str::<GraphDdpmConfig>(r#"{"sampler": {"kind": "ddim"}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown variant `ddim`"), "{e}");
        let e =
            serde_json::from_str::<GraphDdpmConfig>(r#"{"schedule": {"kind": "cosine", "s": 1}}"#)
                .unwrap_err();
        assert!(e.to_string().contains("unknown field `s`"), "{e}");
    }

    #[test]
    fn invalid_values_name_their_field() {
        let bad = |f: fn(&mut GraphDdpmConfig)| {
            let mut c = GraphDdpmConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.timesteps = 0).contains("`timesteps`"));
        assert!(bad(|c| c.max_nodes = 1).contains("`max_nodes`"));
        assert!(bad(|c| c.hidden = 0).contains("`hidden`"));
        assert!(bad(|c| c.dropout = 1.0).contains("`dropout`"));
        assert!(bad(|c| c.sampler.steps = Some(0)).contains("`sampler.steps`"));
        assert!(bad(|c| c.sampler.steps = Some(1)).contains("`sampler.steps`"));
        let e = bad(|c| {
            c.timesteps = 3;
            c.schedule = Schedule::Explicit {
                beta_bar: vec![0.2, 0.7, 0.5],
            };
        });
        assert!(
            e.contains("schedule.beta_bar[1]") && e.contains("outside (0, ½]"),
            "{e}"
        );
    }

    #[test]
    fn auto_sampler_follows_the_objective() {
        let mut c = GraphDdpmConfig::default();
        assert_eq!(c.sampler_kind(), SamplerKind::Simple);
        c.objective = Objective::Vlb;
        assert_eq!(c.sampler_kind(), SamplerKind::Vlb);
        c.sampler.kind = SamplerKind::Simple;
        assert_eq!(c.sampler_kind(), SamplerKind::Simple);
        assert_eq!(c.sampler_steps(), 32);
    }
}
