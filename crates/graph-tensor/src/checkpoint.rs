//! Checkpoints and run directories.
//!
//! A run directory holds
//!
//! ```text
//! config.json                      resolved run config (see crate::run)
//! metrics.jsonl                    one JSON object per logging interval (append-only)
//! checkpoints/step-000001000/      one directory per checkpoint:
//!     tensors.safetensors          model/<var>, ema/<var>, adam.m/<var>, adam.v/<var>
//!     state.json                   CheckpointState (step, seeds, hashes, versions, ...)
//!     config.json                  the resolved run config again: a checkpoint is self-contained
//! ```
//!
//! Every file is written atomically: a checkpoint is assembled in a temporary directory
//! (each file written to a `.tmp` name, synced, renamed) and the directory is renamed into
//! place, so a process killed at any moment leaves either a complete checkpoint or none.
//! The run keeps the newest `keep_last` checkpoints plus the best one (lowest mean training
//! loss over its checkpoint interval).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::{nn::VarStore, Device, Tensor};

use crate::datasets::NodeCountDistribution;

/// The libtorch version this build links (checked by the build script `libtorch-link.rs`).
pub const TORCH_VERSION: &str = "2.11.0";
/// The tch version.
pub const TCH_VERSION: &str = "0.24.0";
/// Version of the checkpoint layout.
pub const CHECKPOINT_FORMAT: u32 = 1;
/// Name prefix of model variables in `tensors.safetensors`.
pub const MODEL_PREFIX: &str = "model/";

/// Why a checkpoint or run directory could not be read or written.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file system error.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        err: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing tensors failed.
    #[error("{}: {err}", path.display())]
    Tensors {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        err: tch::TchError,
    },
    /// The checkpoint does not fit what is loading it (another model, config, data, torch
    /// version, or a variable that is missing or has another shape).
    #[error("{}: {message}", path.display())]
    Mismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// The run directory has no checkpoint.
    #[error("{}: no checkpoint found (expected checkpoints/step-*/ directories)", path.display())]
    NotFound {
        /// The run directory.
        path: PathBuf,
    },
}

/// Maps an I/O error on `path` to [`CheckpointError::Io`].
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |err| CheckpointError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Partial sums of the current logging interval (saved so a resumed run logs the same
/// numbers as an uninterrupted one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogWindow {
    /// Steps accumulated.
    pub steps: u64,
    /// Sum of the step losses.
    pub loss_sum: f64,
    /// Sum of the gradient norms (before clipping).
    pub grad_norm_sum: f64,
    /// Wall-clock seconds spent in the steps.
    pub seconds: f64,
}

/// The small JSON part of a checkpoint (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointState {
    /// Layout version ([`CHECKPOINT_FORMAT`]).
    pub format: u32,
    /// Model name ([`crate::model::DiffusionModel::NAME`]).
    pub model: String,
    /// Optimizer steps completed.
    pub step: u64,
    /// Steps the run was configured for when this was written.
    pub total_steps: u64,
    /// libtorch version that wrote it.
    pub torch_version: String,
    /// tch version that wrote it.
    pub tch_version: String,
    /// [`crate::run::config_hash`] of the run config.
    pub config_hash: String,
    /// Fingerprint of the training data.
    pub data_fingerprint: String,
    /// Training seed.
    pub seed: u64,
    /// Number of training graphs.
    pub num_train_graphs: usize,
    /// Node-count distribution of the training graphs (what sampling draws sizes from).
    pub node_counts: NodeCountDistribution,
    /// Adam step count of each trainable variable.
    pub adam_steps: BTreeMap<String, u64>,
    /// EMA updates so far (`None`: the run has no EMA).
    pub ema_updates: Option<u64>,
    /// Mean training loss over the steps since the previous checkpoint (what "best" means).
    pub window_loss: Option<f64>,
    /// The unfinished logging interval.
    pub log_window: LogWindow,
}

/// A checkpoint on disk: its directory, state and run config (tensors are read on demand).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// `state.json`.
    pub state: CheckpointState,
    /// `config.json` (the resolved run config).
    pub config: Value,
}

const STATE_FILE: &str = "state.json";
const CONFIG_FILE: &str = "config.json";
const TENSORS_FILE: &str = "tensors.safetensors";
const CHECKPOINTS_DIR: &str = "checkpoints";

/// Writes `bytes` to `path` atomically: `<path>.tmp` in the same directory, synced, renamed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = tmp_path(path);
    {
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `value` as pretty JSON (plus a newline), atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| CheckpointError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push('\n');
    atomic_write(path, text.as_bytes())
}

fn read_json(path: &Path) -> Result<Value, CheckpointError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The `checkpoints/` directory of a run directory.
pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINTS_DIR)
}

fn step_dir_name(step: u64) -> String {
    format!("step-{step:09}")
}

fn parse_step_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("step-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes a checkpoint for `state.step` under `run_dir/checkpoints/` and returns its
/// directory. `tensors` are moved to the CPU and made contiguous.
pub fn write_checkpoint(
    run_dir: &Path,
    state: &CheckpointState,
    config: &Value,
    tensors: &[(String, Tensor)],
) -> Result<PathBuf, CheckpointError> {
    let root = checkpoints_dir(run_dir);
    fs::create_dir_all(&root).map_err(io_err(&root))?;
    let final_dir = root.join(step_dir_name(state.step));
    let tmp_dir = root.join(format!("{}.tmp", step_dir_name(state.step)));
    if tmp_dir.exists() {
        fs::remove_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
    }
    fs::create_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;

    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    let tensors_path = tmp_dir.join(TENSORS_FILE);
    let tensors_tmp = tmp_path(&tensors_path);
    Tensor::write_safetensors(&cpu, &tensors_tmp).map_err(|err| CheckpointError::Tensors {
        path: tensors_tmp.clone(),
        err,
    })?;
    fs::File::open(&tensors_tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tensors_tmp))?;
    fs::rename(&tensors_tmp, &tensors_path).map_err(io_err(&tensors_path))?;
    write_json_atomic(&tmp_dir.join(STATE_FILE), state)?;
    write_json_atomic(&tmp_dir.join(CONFIG_FILE), config)?;
    fs::File::open(&tmp_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&tmp_dir))?;

    if final_dir.exists() {
        // A checkpoint of the same step from an earlier attempt (a run resumed from an older
        // checkpoint): replace it.
        let old = root.join(format!("{}.old", step_dir_name(state.step)));
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
        fs::rename(&final_dir, &old).map_err(io_err(&final_dir))?;
        fs::rename(&tmp_dir, &final_dir).map_err(io_err(&final_dir))?;
        fs::remove_dir_all(&old).map_err(io_err(&old))?;
    } else {
        fs::rename(&tmp_dir, &final_dir).map_err(io_err(&final_dir))?;
    }
    fs::File::open(&root)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&root))?;
    Ok(final_dir)
}

/// The complete checkpoints of a run directory, `(step, dir)` sorted by step. Leftover
/// temporary directories of an interrupted write are ignored.
pub fn list_checkpoints(run_dir: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let root = checkpoints_dir(run_dir);
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&root).map_err(io_err(&root))? {
        let entry = entry.map_err(io_err(&root))?;
        let name = entry.file_name();
        if let Some(step) = name.to_str().and_then(parse_step_dir) {
            if entry.path().join(STATE_FILE).is_file() {
                out.push((step, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The newest checkpoint of a run directory.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    list_checkpoints(run_dir)?
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| CheckpointError::NotFound {
            path: run_dir.to_path_buf(),
        })
}

/// The checkpoint with the lowest `window_loss` (the earliest on ties).
pub fn best_checkpoint(run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    let mut best: Option<(f64, PathBuf)> = None;
    for (_, dir) in list_checkpoints(run_dir)? {
        let state = read_checkpoint(&dir)?.state;
        if let Some(l) = state.window_loss.filter(|l| l.is_finite()) {
            if best.as_ref().is_none_or(|(b, _)| l < *b) {
                best = Some((l, dir));
            }
        }
    }
    match best {
        Some((_, dir)) => Ok(dir),
        None => latest_checkpoint(run_dir),
    }
}

/// Deletes all but the newest `keep_last` checkpoints and the best one; also removes
/// leftovers of interrupted writes.
pub fn prune_checkpoints(run_dir: &Path, keep_last: usize) -> Result<(), CheckpointError> {
    let all = list_checkpoints(run_dir)?;
    if all.is_empty() {
        return Ok(());
    }
    let best = best_checkpoint(run_dir)?;
    let cut = all.len().saturating_sub(keep_last);
    for (i, (_, dir)) in all.iter().enumerate() {
        if i < cut && *dir != best {
            fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
    }
    let root = checkpoints_dir(run_dir);
    for entry in fs::read_dir(&root).map_err(io_err(&root))? {
        let entry = entry.map_err(io_err(&root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("step-") && (name.ends_with(".tmp") || name.ends_with(".old")) {
            fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
        }
    }
    Ok(())
}

/// Reads a checkpoint's `state.json` and `config.json`, checking its layout version and
/// libtorch version.
pub fn read_checkpoint(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let state_path = dir.join(STATE_FILE);
    if !state_path.is_file() {
        return Err(CheckpointError::Mismatch {
            path: dir.to_path_buf(),
            message: "not a checkpoint directory (no state.json)".into(),
        });
    }
    let state: CheckpointState = serde_path_to_error::deserialize(read_json(&state_path)?)
        .map_err(|e| CheckpointError::Json {
            path: state_path.clone(),
            message: format!("field `{}`: {}", e.path(), e.inner()),
        })?;
    if state.format != CHECKPOINT_FORMAT {
        return Err(CheckpointError::Mismatch {
            path: dir.to_path_buf(),
            message: format!(
                "checkpoint format {} (this build reads {CHECKPOINT_FORMAT})",
                state.format
            ),
        });
    }
    if state.torch_version != TORCH_VERSION {
        return Err(CheckpointError::Mismatch {
            path: dir.to_path_buf(),
            message: format!(
                "written with libtorch {}, this build uses libtorch {TORCH_VERSION}",
                state.torch_version
            ),
        });
    }
    let config = read_json(&dir.join(CONFIG_FILE))?;
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        state,
        config,
    })
}

impl Checkpoint {
    /// Reads `tensors.safetensors` (on the CPU).
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>, CheckpointError> {
        let path = self.dir.join(TENSORS_FILE);
        let v = Tensor::read_safetensors(&path)
            .map_err(|err| CheckpointError::Tensors { path, err })?;
        Ok(v.into_iter().collect())
    }

    /// Checks that this checkpoint belongs to model `name`.
    pub fn expect_model(&self, name: &str) -> Result<(), CheckpointError> {
        if self.state.model != name {
            return Err(CheckpointError::Mismatch {
                path: self.dir.clone(),
                message: format!("checkpoint of model `{}`, not `{name}`", self.state.model),
            });
        }
        Ok(())
    }

    /// Whether the checkpoint holds EMA weights.
    pub fn has_ema(&self) -> bool {
        self.state.ema_updates.is_some()
    }
}

/// Copies `tensors[prefix + name]` into every variable `name` of `vs` (only the trainable
/// ones when `trainable_only`), converting each to the variable's kind and device. Keys
/// without `prefix` are ignored. Strict: a variable without its tensor, a `prefix` key that
/// names no variable, a shape or a floating/integer kind that differs are errors naming the
/// tensors (counts and the first few names). Returns the reason, for the caller to put into
/// its error with the file it read (see [`load_variables`]; the models' official-weight
/// loaders use it directly).
pub fn copy_into_vars(
    vs: &VarStore,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    trainable_only: bool,
) -> Result<(), String> {
    let all_vars = vs.variables();
    let vars: Vec<(&String, &Tensor)> = all_vars
        .iter()
        .filter(|(_, v)| !trainable_only || v.requires_grad())
        .collect();
    let mut missing: Vec<String> = vars
        .iter()
        .map(|(name, _)| format!("{prefix}{name}"))
        .filter(|key| !tensors.contains_key(key))
        .collect();
    let mut unexpected: Vec<&str> = tensors
        .keys()
        .filter(|k| {
            k.strip_prefix(prefix)
                .is_some_and(|n| !all_vars.contains_key(n))
        })
        .map(String::as_str)
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort_unstable();
        unexpected.sort_unstable();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "{} missing tensor(s) {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            ));
        }
        if !unexpected.is_empty() {
            parts.push(format!(
                "{} tensor(s) the model does not have {:?}",
                unexpected.len(),
                &unexpected[..unexpected.len().min(5)]
            ));
        }
        return Err(parts.join(", "));
    }
    for (name, var) in &vars {
        let key = format!("{prefix}{name}");
        let src = &tensors[&key];
        if src.size() != var.size() {
            return Err(format!(
                "`{key}` has shape {:?}, the model has {:?}",
                src.size(),
                var.size()
            ));
        }
        if src.is_floating_point() != var.is_floating_point() {
            return Err(format!(
                "`{key}` is {:?}, the model has {:?}",
                src.kind(),
                var.kind()
            ));
        }
        let mut dst = var.shallow_clone();
        // copy_ converts the kind and the device.
        tch::no_grad(|| dst.f_copy_(src)).map_err(|e| format!("`{key}`: {e}"))?;
    }
    Ok(())
}

/// [`copy_into_vars`] for a checkpoint: its errors name the checkpoint `path`.
pub fn load_variables(
    vs: &VarStore,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    trainable_only: bool,
    path: &Path,
) -> Result<(), CheckpointError> {
    copy_into_vars(vs, tensors, prefix, trainable_only).map_err(|message| {
        CheckpointError::Mismatch {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// Loads a checkpoint's weights into `vs`: the raw weights, then (when `ema`) the EMA
/// shadows over the trainable variables.
pub fn load_weights(vs: &VarStore, ckpt: &Checkpoint, ema: bool) -> Result<(), CheckpointError> {
    let tensors = ckpt.tensors()?;
    load_variables(vs, &tensors, MODEL_PREFIX, false, &ckpt.dir)?;
    if ema {
        if !ckpt.has_ema() {
            return Err(CheckpointError::Mismatch {
                path: ckpt.dir.clone(),
                message:
                    "has no EMA weights (the run was trained without `ema`); use the raw weights"
                        .into(),
            });
        }
        load_variables(vs, &tensors, crate::ema::EMA_PREFIX, true, &ckpt.dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Kind};

    fn state(step: u64, loss: f64) -> CheckpointState {
        CheckpointState {
            format: CHECKPOINT_FORMAT,
            model: "toy".into(),
            step,
            total_steps: 100,
            torch_version: TORCH_VERSION.into(),
            tch_version: TCH_VERSION.into(),
            config_hash: "h".into(),
            data_fingerprint: "d".into(),
            seed: 1,
            num_train_graphs: 3,
            node_counts: NodeCountDistribution::from_sizes([2, 3, 3]).unwrap(),
            adam_steps: BTreeMap::new(),
            ema_updates: None,
            window_loss: Some(loss),
            log_window: LogWindow::default(),
        }
    }

    #[test]
    fn write_list_prune_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var(
            "w",
            &[2, 3],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let named: Vec<(String, Tensor)> = vec![(format!("{MODEL_PREFIX}w"), w.detach())];
        for (step, loss) in [(10, 3.0), (20, 1.0), (30, 2.0), (40, 2.5), (50, 2.6)] {
            write_checkpoint(
                run,
                &state(step, loss),
                &serde_json::json!({"model": "toy"}),
                &named,
            )
            .unwrap();
        }
        // a torn write leaves a .tmp directory that is ignored and pruned
        fs::create_dir_all(checkpoints_dir(run).join("step-000000060.tmp")).unwrap();
        assert_eq!(list_checkpoints(run).unwrap().len(), 5);
        assert!(latest_checkpoint(run).unwrap().ends_with("step-000000050"));
        assert!(best_checkpoint(run).unwrap().ends_with("step-000000020"));
        prune_checkpoints(run, 2).unwrap();
        let steps: Vec<u64> = list_checkpoints(run)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(steps, vec![20, 40, 50]);
        assert!(!checkpoints_dir(run).join("step-000000060.tmp").exists());

        let ck = read_checkpoint(&latest_checkpoint(run).unwrap()).unwrap();
        assert_eq!(ck.state, state(50, 2.6));
        let vs2 = VarStore::new(Device::Cpu);
        let w2 = vs2.root().var("w", &[2, 3], nn::Init::Const(0.0));
        load_weights(&vs2, &ck, false).unwrap();
        assert_eq!((&w2 - &w).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(load_weights(&vs2, &ck, true)
            .unwrap_err()
            .to_string()
            .contains("no EMA"));
        ck.expect_model("toy").unwrap();
        assert!(ck
            .expect_model("edp-gnn")
            .unwrap_err()
            .to_string()
            .contains("model `toy`"));

        // shape and name mismatches are named
        let vs3 = VarStore::new(Device::Cpu);
        let _ = vs3.root().var("w", &[3, 2], nn::Init::Const(0.0));
        let e = load_weights(&vs3, &ck, false).unwrap_err().to_string();
        assert!(e.contains("`model/w` has shape [2, 3]"), "{e}");
        let vs4 = VarStore::new(Device::Cpu);
        let _ = vs4.root().var("v", &[2, 3], nn::Init::Const(0.0));
        let e = load_weights(&vs4, &ck, false).unwrap_err().to_string();
        assert!(
            e.contains("1 missing tensor(s) [\"model/v\"]")
                && e.contains("1 tensor(s) the model does not have [\"model/w\"]"),
            "{e}"
        );
    }

    #[test]
    fn copy_into_vars_converts_kinds_and_skips_what_it_should() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let b = vs.root().var("b", &[1], nn::Init::Const(0.0));
        let _ = b.set_requires_grad(false);
        let mut t = HashMap::new();
        // float64 into a float32 variable; a key of another prefix is ignored
        t.insert("p.w".to_string(), Tensor::from_slice(&[1.5f64, -2.0]));
        t.insert("q.x".to_string(), Tensor::from_slice(&[9.0f64]));
        copy_into_vars(&vs, &t, "p.", true).unwrap();
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![1.5, -2.0]);
        // all variables: `p.b` is now missing
        let e = copy_into_vars(&vs, &t, "p.", false).unwrap_err();
        assert!(e.contains("1 missing tensor(s) [\"p.b\"]"), "{e}");
        // an integer tensor for a float variable
        t.insert("p.b".to_string(), Tensor::from_slice(&[1i64]));
        let e = copy_into_vars(&vs, &t, "p.", false).unwrap_err();
        assert!(e.contains("`p.b` is Int64"), "{e}");
    }

    #[test]
    fn version_and_format_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(1, 1.0);
        s.torch_version = "1.13.1".into();
        let d = write_checkpoint(dir.path(), &s, &serde_json::json!({}), &[]).unwrap();
        let e = read_checkpoint(&d).unwrap_err().to_string();
        assert!(e.contains("libtorch 1.13.1"), "{e}");
        assert!(read_checkpoint(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not a checkpoint"));
        assert!(matches!(
            latest_checkpoint(&dir.path().join("none")),
            Err(CheckpointError::NotFound { .. })
        ));
    }
}
