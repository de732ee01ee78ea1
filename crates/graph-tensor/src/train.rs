//! Training hyper-parameters shared by every model ([`TrainConfig`]) and the training loop.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::{nn::VarStore, Device, Tensor};

use crate::batch::DenseBatch;
use crate::checkpoint::{
    atomic_write, io_err, latest_checkpoint, list_checkpoints, load_variables, prune_checkpoints,
    read_checkpoint, write_checkpoint, write_json_atomic, CheckpointError, CheckpointState,
    LogWindow, CHECKPOINT_FORMAT, MODEL_PREFIX, TCH_VERSION, TORCH_VERSION,
};
use crate::datasets::NodeCountDistribution;
use crate::ema::{Ema, EmaConfig};
use crate::graph::Graph;
use crate::model::{DataSummary, DiffusionModel, ModelError};
use crate::noise::{derive_seed, NoiseSource};
use crate::optim::{Adam, AdamConfig, LrSchedule};
use crate::run::{config_hash, ConfigError, RunConfig};

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

// ---------------------------------------------------------------------------------------
// The training loop
// ---------------------------------------------------------------------------------------

/// Stream ids under the training seed (see [`derive_seed`]).
mod streams {
    pub const BATCH_ORDER: u64 = 1;
    pub const NOISE: u64 = 2;
    pub const PERMUTE: u64 = 3;
    pub const INIT: u64 = 4;
}

/// Why training failed.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The run config is invalid.
    #[error("config: {0}")]
    Config(ConfigError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint or run-directory file could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run directory cannot be used as asked.
    #[error("{}: {message}", path.display())]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The training data cannot be used.
    #[error("training data: {0}")]
    Data(String),
    /// The loss or the gradient norm became NaN or infinite.
    #[error(
        "{what} is {value} at step {step}; training stopped. {}",
        match last_checkpoint {
            Some(p) => format!("The last good checkpoint is {}.", p.display()),
            None => "No checkpoint was written yet.".to_string(),
        }
    )]
    NonFinite {
        /// `"the training loss"` or `"the gradient norm"`.
        what: &'static str,
        /// The value.
        value: f64,
        /// The step (1-based) whose loss it was.
        step: u64,
        /// The newest checkpoint on disk.
        last_checkpoint: Option<PathBuf>,
    },
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
}

impl From<ConfigError> for TrainError {
    fn from(e: ConfigError) -> Self {
        TrainError::Config(e)
    }
}

impl From<tch::TchError> for TrainError {
    fn from(e: tch::TchError) -> Self {
        TrainError::Torch(e)
    }
}

/// One line of `metrics.jsonl`: means over a logging interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// Steps completed at the end of the interval.
    pub step: u64,
    /// Epoch of the last step of the interval (0-based).
    pub epoch: u64,
    /// Mean training loss over the interval.
    pub loss: f64,
    /// Learning rate of the interval's last step.
    pub lr: f64,
    /// Mean gradient norm (before clipping) over the interval.
    pub grad_norm: f64,
    /// Mean wall-clock seconds per step over the interval.
    pub step_time_s: f64,
    /// Number of steps in the interval.
    pub steps: u64,
}

/// Progress reported by [`train`] to its caller (the CLI draws bars from it).
#[derive(Debug)]
#[non_exhaustive]
pub enum TrainEvent<'a> {
    /// Training starts (or resumes) at `start_step` of `total_steps`.
    Started {
        /// Steps already done.
        start_step: u64,
        /// Steps to reach.
        total_steps: u64,
        /// Number of trainable scalar parameters.
        num_parameters: i64,
        /// The checkpoint resumed from.
        resumed_from: Option<&'a Path>,
    },
    /// A step finished.
    Step {
        /// Steps completed.
        step: u64,
        /// Its loss.
        loss: f64,
    },
    /// A metrics line was written.
    Logged(&'a MetricsRecord),
    /// A checkpoint was written.
    Checkpoint {
        /// Its step.
        step: u64,
        /// Its directory.
        dir: &'a Path,
    },
}

/// Everything [`train`] needs.
pub struct TrainRun<'a, M: DiffusionModel> {
    /// Run directory (created if missing).
    pub run_dir: &'a Path,
    /// The run config (model config, training setup, data description).
    pub config: RunConfig<M::Config>,
    /// Training graphs, in dataset order.
    pub graphs: &'a [Graph],
    /// Fingerprint of the training data (a resumed run must see the same).
    pub data_fingerprint: String,
    /// Device to train on.
    pub device: Device,
    /// Continue from the newest checkpoint instead of starting a new run.
    pub resume: bool,
}

/// What [`train`] did.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Steps completed.
    pub step: u64,
    /// The newest checkpoint.
    pub last_checkpoint: PathBuf,
    /// The last logged mean loss.
    pub last_loss: Option<f64>,
}

static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Builds model `M` with initial weights drawn from `seed`.
///
/// Parameter initialisers use torch's global generator; this seeds it under a process-wide
/// lock (so concurrent builds cannot interleave) and builds on the CPU, then copies the values
/// to `vs`'s device, so the initial weights depend on the seed only, not on the device.
pub fn build_seeded<M: DiffusionModel>(
    vs: &VarStore,
    config: &M::Config,
    seed: u64,
) -> Result<M, ModelError> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(derive_seed(seed, &[streams::INIT]) as i64);
    if vs.device() == Device::Cpu {
        return M::build(&vs.root(), config);
    }
    let cpu = VarStore::new(Device::Cpu);
    M::build(&cpu.root(), config)?;
    let model = M::build(&vs.root(), config)?;
    let src = cpu.variables();
    tch::no_grad(|| -> Result<(), ModelError> {
        for (name, mut dst) in vs.variables() {
            if let Some(s) = src.get(&name) {
                dst.f_copy_(s)?;
            }
        }
        Ok(())
    })?;
    Ok(model)
}

/// Run directory file names.
pub const CONFIG_FILE: &str = "config.json";
/// Metrics file name.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Trains model `M` as `run` describes, writing config, metrics and checkpoints into the
/// run directory. See the [`crate::checkpoint`] docs for the layout.
///
/// Reproducibility: initial weights, the batch order of every epoch, node permutations and
/// the model's noise all derive from `train.seed` and the step number, so a run resumed from
/// any checkpoint computes exactly the steps an uninterrupted run computes.
pub fn train<M: DiffusionModel>(
    run: TrainRun<'_, M>,
    observer: &mut dyn FnMut(TrainEvent<'_>),
) -> Result<TrainOutcome, TrainError> {
    let TrainRun {
        run_dir,
        mut config,
        graphs,
        data_fingerprint,
        device,
        resume,
    } = run;
    if graphs.is_empty() {
        return Err(TrainError::Data("no training graphs".into()));
    }
    let node_counts =
        NodeCountDistribution::from_graphs(graphs).map_err(|e| TrainError::Data(e.to_string()))?;
    let run_err = |message: String| TrainError::RunDir {
        path: run_dir.to_path_buf(),
        message,
    };
    fs::create_dir_all(run_dir).map_err(|e| run_err(e.to_string()))?;
    let existing = list_checkpoints(run_dir)?;
    let config_path = run_dir.join(CONFIG_FILE);
    let metrics_path = run_dir.join(METRICS_FILE);
    let resume_from = if resume {
        existing.last().map(|(_, p)| p.clone())
    } else {
        None
    };
    if !resume && (config_path.exists() || !existing.is_empty()) {
        return Err(run_err(
            "already holds a run (config.json or checkpoints); pass --resume to continue it, or use a new run directory"
                .into(),
        ));
    }
    M::resolve_config(&mut config.model, &DataSummary::from_graphs(graphs))?;
    let config_json = config.to_json(M::NAME)?;
    let hash = config_hash(&config_json);
    if resume && resume_from.is_none() && config_path.exists() {
        // killed before its first checkpoint: start over, but only with the same config
        let old = fs::read_to_string(&config_path).map_err(|e| run_err(e.to_string()))?;
        let old: Value =
            serde_json::from_str(&old).map_err(|e| run_err(format!("config.json: {e}")))?;
        if config_hash(&old) != hash {
            return Err(run_err(
                "--resume: the config differs from the run's config.json".into(),
            ));
        }
    }
    let train_cfg = config.train.clone();
    train_cfg
        .validate()
        .map_err(|(f, m)| ConfigError::new(format!("train.{f}"), m))?;
    let seed = train_cfg.seed;
    let total_steps = train_cfg.total_steps(graphs.len());
    let steps_per_epoch = train_cfg.steps_per_epoch(graphs.len());

    let vs = VarStore::new(device);
    let model = build_seeded::<M>(&vs, &config.model, seed)?;
    let max_nodes = model.max_nodes();
    if let Some((i, g)) = graphs.iter().enumerate().find(|(_, g)| g.n() > max_nodes) {
        return Err(TrainError::Data(format!(
            "training graph {i} has {} nodes, more than the model's max_nodes = {max_nodes}",
            g.n()
        )));
    }
    let mut opt = Adam::new(&vs, train_cfg.optimizer.clone());
    let mut ema = train_cfg.ema.clone().map(|c| Ema::new(&vs, c));
    let num_parameters: i64 = vs
        .trainable_variables()
        .iter()
        .map(Tensor::numel)
        .map(|n| n as i64)
        .sum();

    let mut start_step = 0;
    let mut window = LogWindow::default();
    let mut last_checkpoint: Option<PathBuf> = None;
    if let Some(dir) = &resume_from {
        let ck = read_checkpoint(dir)?;
        ck.expect_model(M::NAME)?;
        let mismatch = |message: &str| CheckpointError::Mismatch {
            path: dir.clone(),
            message: message.to_string(),
        };
        if ck.state.config_hash != hash {
            return Err(mismatch("was written with another config (config hash differs)").into());
        }
        if ck.state.data_fingerprint != data_fingerprint {
            return Err(mismatch("was trained on other data (data fingerprint differs)").into());
        }
        if ck.state.seed != seed {
            return Err(mismatch(&format!(
                "was trained with seed {}, not {seed}",
                ck.state.seed
            ))
            .into());
        }
        let tensors = ck.tensors()?;
        load_variables(&vs, &tensors, MODEL_PREFIX, false, dir)?;
        opt.load_state(&tensors, &ck.state.adam_steps)
            .map_err(|e| mismatch(&e.to_string()))?;
        match (&mut ema, ck.state.ema_updates) {
            (Some(e), Some(n)) => e
                .load_state(&tensors, n)
                .map_err(|e| mismatch(&e.to_string()))?,
            (None, None) => {}
            _ => return Err(mismatch("EMA presence differs from the config").into()),
        }
        start_step = ck.state.step;
        window = ck.state.log_window.clone();
        last_checkpoint = Some(dir.clone());
        repair_metrics(&metrics_path, start_step)?;
    } else {
        atomic_write(&metrics_path, b"")?;
    }
    write_json_atomic(&config_path, &config_json)?;
    observer(TrainEvent::Started {
        start_step,
        total_steps,
        num_parameters,
        resumed_from: resume_from.as_deref(),
    });

    let mut metrics_file = fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(io_err(&metrics_path))?;
    let mut ckpt_window = (0u64, 0f64);
    let mut last_loss = None;
    let mut order: Option<(u64, Vec<usize>)> = None;
    let n = graphs.len();
    let bs = train_cfg.batch_size;
    for s in start_step..total_steps {
        let t0 = Instant::now();
        let epoch = s / steps_per_epoch;
        let pos = (s % steps_per_epoch) as usize;
        if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
                seed,
                &[streams::BATCH_ORDER, epoch],
            )));
            order = Some((epoch, idx));
        }
        let idx = &order.as_ref().expect("set above").1;
        let members = idx[pos * bs..((pos + 1) * bs).min(n)]
            .iter()
            .map(|&i| &graphs[i]);
        let mut batch =
            DenseBatch::from_graphs(members, max_nodes, device).map_err(ModelError::from)?;
        if train_cfg.permute_nodes {
            batch = batch.permute_nodes(derive_seed(seed, &[streams::PERMUTE, s]));
        }
        let mut noise = NoiseSource::for_step(
            derive_seed(seed, &[streams::NOISE]),
            s,
            batch.batch_size(),
            device,
        );
        opt.zero_grad();
        let loss = model.loss_backward(&batch, &mut noise)?;
        if loss.numel() != 1 {
            return Err(ModelError::Invalid(format!(
                "{}: loss has shape {:?}, expected a scalar",
                M::NAME,
                loss.size()
            ))
            .into());
        }
        let value = loss.double_value(&[]);
        let non_finite = |what, value| TrainError::NonFinite {
            what,
            value,
            step: s + 1,
            last_checkpoint: last_checkpoint.clone(),
        };
        // The gradient is already taken (`loss_backward`), but no step has been made: the
        // parameters are still those of the last good step.
        if !value.is_finite() {
            return Err(non_finite("the training loss", value));
        }
        let grad_norm = match train_cfg.grad_clip {
            Some(c) => opt.clip_grad_norm(c),
            None => opt.grad_norm(),
        };
        if !grad_norm.is_finite() {
            return Err(non_finite("the gradient norm", grad_norm));
        }
        let lr = train_cfg.lr_schedule.lr_at(
            train_cfg.optimizer.lr,
            s,
            train_cfg.warmup_steps,
            steps_per_epoch,
        );
        opt.step(lr);
        if let Some(e) = &mut ema {
            e.update();
        }
        let done = s + 1;
        window.steps += 1;
        window.loss_sum += value;
        window.grad_norm_sum += grad_norm;
        window.seconds += t0.elapsed().as_secs_f64();
        ckpt_window.0 += 1;
        ckpt_window.1 += value;
        observer(TrainEvent::Step {
            step: done,
            loss: value,
        });

        if done % train_cfg.log_every == 0 || done == total_steps {
            let k = window.steps.max(1) as f64;
            let rec = MetricsRecord {
                step: done,
                epoch,
                loss: window.loss_sum / k,
                lr,
                grad_norm: window.grad_norm_sum / k,
                step_time_s: window.seconds / k,
                steps: window.steps,
            };
            let mut line = serde_json::to_string(&rec).expect("metrics serialise");
            line.push('\n');
            // one write per line: a kill can only tear the last line, which resume drops
            metrics_file
                .write_all(line.as_bytes())
                .map_err(io_err(&metrics_path))?;
            last_loss = Some(rec.loss);
            observer(TrainEvent::Logged(&rec));
            window = LogWindow::default();
        }
        if done % train_cfg.checkpoint_every == 0 || done == total_steps {
            let mut tensors: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(k, v)| (format!("{MODEL_PREFIX}{k}"), v))
                .collect();
            tensors.sort_by(|a, b| a.0.cmp(&b.0));
            tensors.extend(opt.state_tensors());
            if let Some(e) = &ema {
                tensors.extend(e.state_tensors());
            }
            let state = CheckpointState {
                format: CHECKPOINT_FORMAT,
                model: M::NAME.to_string(),
                step: done,
                total_steps,
                torch_version: TORCH_VERSION.to_string(),
                tch_version: TCH_VERSION.to_string(),
                config_hash: hash.clone(),
                data_fingerprint: data_fingerprint.clone(),
                seed,
                num_train_graphs: n,
                node_counts: node_counts.clone(),
                adam_steps: opt.step_counts(),
                ema_updates: ema.as_ref().map(Ema::num_updates),
                window_loss: Some(ckpt_window.1 / ckpt_window.0.max(1) as f64),
                log_window: window.clone(),
            };
            metrics_file.sync_data().map_err(io_err(&metrics_path))?;
            let dir = write_checkpoint(run_dir, &state, &config_json, &tensors)?;
            prune_checkpoints(run_dir, train_cfg.keep_last)?;
            observer(TrainEvent::Checkpoint {
                step: done,
                dir: &dir,
            });
            last_checkpoint = Some(dir);
            ckpt_window = (0, 0.0);
        }
    }
    let last_checkpoint = match last_checkpoint {
        Some(p) => p,
        None => latest_checkpoint(run_dir)?,
    };
    Ok(TrainOutcome {
        step: total_steps.max(start_step),
        last_checkpoint,
        last_loss,
    })
}

/// Keeps the metrics lines of steps `<= step` (dropping a torn last line), atomically.
fn repair_metrics(path: &Path, step: u64) -> Result<(), TrainError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(io_err(path)(err).into()),
    };
    let mut kept = String::new();
    for line in text.lines() {
        match serde_json::from_str::<MetricsRecord>(line) {
            Ok(r) if r.step <= step => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => break,
        }
    }
    atomic_write(path, kept.as_bytes())?;
    Ok(())
}

/// Reads `metrics.jsonl` (complete lines only).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRecord>, CheckpointError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let r = serde_json::from_str(line).map_err(|e| CheckpointError::Json {
            path: path.to_path_buf(),
            message: format!("line {}: {e}", i + 1),
        })?;
        out.push(r);
    }
    Ok(out)
}
