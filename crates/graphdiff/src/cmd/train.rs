//! `graphdiff train`: train a model into a run directory (config, metrics, checkpoints),
//! resumable after an interruption with `--resume`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use graph_tensor::datasets::{Dataset, SplitRule, SPLIT_RULE_SYNTAX};
use graph_tensor::model::DiffusionModel;
use graph_tensor::run::{default_run_config, merge_json, model_name, set_json_path, RunConfig};
use graph_tensor::train::{train, TrainEvent, TrainRun, CONFIG_FILE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::models::{
    dispatch, init_logging, parse_device, progress_bar, set_threads, ModelVisitor, MODEL_NAMES,
};

/// Arguments of `graphdiff train`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Train a model into a run directory. The run directory receives the resolved \
config (config.json), one line of metrics per logging interval (metrics.jsonl: mean loss, \
learning rate, gradient norm, seconds per step) and checkpoints (checkpoints/step-N/: weights, \
EMA and optimizer moments in safetensors, state.json, config.json), keeping the last \
train.keep_last plus the one with the lowest loss. A run killed at any moment continues with \
--resume from its newest checkpoint and computes exactly the steps an uninterrupted run would.\n\n\
The config starts from the model's reference settings (print them with --show-config), then \
--config FILE is merged over them, then each --set key.path=value (value parsed as JSON, else \
taken as a string). An unknown or invalid field is an error naming its JSON path.",
    after_help = "Examples:\n  graphdiff train edp-gnn --dataset community-small --run-dir runs/com\n  \
graphdiff train edp-gnn --dataset ego-small --source shared/datasets --run-dir runs/ego --set train.batch_size=16\n  \
graphdiff train graph-ddpm --data ../shared/datasets/gdss/community_small.g6 --split gdss --config configs/graph-ddpm/community-small.json --run-dir runs/ddpm\n  \
graphdiff train erdos-renyi --data graphs.g6 --split gdss --run-dir runs/er --steps 200\n  \
graphdiff train --resume --run-dir runs/com\n  graphdiff train edp-gnn --show-config"
)]
pub struct Args {
    /// Model to train (not needed with --resume): edp-gnn, graph-ddpm, graph-gdp, erdos-renyi.
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,

    /// Built-in dataset to train on (its training split).
    #[arg(long, value_name = "NAME", conflicts_with = "data")]
    pub dataset: Option<String>,

    /// Graph file to train on (its training split: from --split, else the manifest
    /// FILE.dataset.json written by `graphdiff dataset`).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// Seed of the dataset generator (default: the recipe's).
    #[arg(long, value_name = "S", requires = "dataset")]
    pub data_seed: Option<u64>,

    /// Directory with the raw files of ego-small or enzymes.
    #[arg(long, value_name = "DIR", requires = "dataset")]
    pub source: Option<PathBuf>,

    /// Split rule instead of the dataset's own.
    #[arg(long, value_name = "RULE", help = format!("Split rule instead of the dataset's own: {SPLIT_RULE_SYNTAX}"))]
    pub split: Option<SplitRule>,

    /// Run directory (created; must not hold a run unless --resume).
    #[arg(long, value_name = "DIR", required_unless_present = "show_config")]
    pub run_dir: Option<PathBuf>,

    /// JSON config merged over the model's defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Edit one config value: key.path=value (repeatable), e.g. `--set train.optimizer.lr=2e-4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Number of optimizer steps (overrides train.steps / train.epochs; with --resume it may
    /// extend the run).
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,

    /// Training seed (train.seed): initial weights, batch order, noise.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,

    /// Torch intra-op threads (default: 1 on machines with at most 2 cores, else torch's
    /// default).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Continue the run in --run-dir from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,

    /// Print the resolved config (defaults, --config, --set) as JSON and exit.
    #[arg(long)]
    pub show_config: bool,
}

/// Where the training graphs come from (the `data` object of a run config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSpec {
    /// Built-in dataset name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dataset: Option<String>,
    /// Graph file (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    /// Generator seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// Raw-file directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<PathBuf>,
    /// Split rule override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split: Option<SplitRule>,
}

impl DataSpec {
    fn from_args(a: &Args) -> Result<Option<DataSpec>> {
        let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
        Ok(match (&a.dataset, &a.data) {
            (None, None) => None,
            (Some(name), _) => Some(DataSpec {
                dataset: Some(name.clone()),
                file: None,
                seed: a.data_seed,
                source: a.source.as_deref().map(abs).transpose()?,
                split: a.split,
            }),
            (None, Some(file)) => Some(DataSpec {
                dataset: None,
                file: Some(abs(file)?),
                seed: None,
                source: None,
                split: a.split,
            }),
        })
    }

    fn load(&self) -> Result<Dataset> {
        let mut ds = match (&self.dataset, &self.file) {
            (Some(name), None) => Dataset::generate(name, self.seed, self.source.as_deref())?,
            (None, Some(file)) => Dataset::load(file, self.split)?,
            _ => bail!("config field `data`: name exactly one of `dataset` and `file`"),
        };
        if let Some(rule) = self.split {
            ds.split_rule = rule;
        }
        Ok(ds)
    }
}

/// The default run config of a model, as JSON.
struct Defaults;
impl ModelVisitor for Defaults {
    type Output = Result<Value>;
    fn visit<M: DiffusionModel>(self) -> Result<Value> {
        Ok(default_run_config::<M>().to_json(M::NAME)?)
    }
}

/// Parses and checks a run config for its model (errors name the JSON path).
struct Check<'a>(&'a Value);
impl ModelVisitor for Check<'_> {
    type Output = Result<()>;
    fn visit<M: DiffusionModel>(self) -> Result<()> {
        RunConfig::<M::Config>::from_json(self.0, M::NAME)?;
        Ok(())
    }
}

/// Reads a JSON file, naming the file in errors.
fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// Runs `graphdiff train`.
pub fn run(args: Args) -> Result<()> {
    init_logging();
    let threads = set_threads(args.threads)?;
    let (name, value) = if args.resume {
        resumed_config(&args)?
    } else {
        new_config(&args)?
    };
    if args.show_config {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let run_dir = args
        .run_dir
        .clone()
        .ok_or_else(|| anyhow!("--run-dir is required"))?;
    let device = parse_device(&args.device)?;
    tracing::info!(threads, ?device, model = %name, "training");
    dispatch(
        &name,
        Train {
            value,
            run_dir: &run_dir,
            device,
            resume: args.resume,
        },
    )?
}

fn new_config(args: &Args) -> Result<(String, Value)> {
    let name = match &args.model {
        Some(m) => m.clone(),
        None => bail!(
            "name the model to train ({}), or pass --resume",
            MODEL_NAMES.join(", ")
        ),
    };
    let mut value = dispatch(&name, Defaults)??;
    let mut context = String::from("config");
    if let Some(path) = &args.config {
        let file = read_json(path)?;
        match model_name(&file) {
            Ok(m) if m != name => bail!(
                "{}: field `model`: is `{m}`, but the command trains `{name}`",
                path.display()
            ),
            _ => {}
        }
        merge_json(&mut value, file);
        context = format!("{}", path.display());
    }
    if let Some(spec) = DataSpec::from_args(args)? {
        value["data"] = serde_json::to_value(spec)?;
    }
    for s in &args.set {
        set_json_path(&mut value, s).map_err(|e| anyhow!("--set: {e}"))?;
    }
    if let Some(seed) = args.seed {
        value["train"]["seed"] = seed.into();
    }
    if let Some(steps) = args.steps {
        value["train"]["steps"] = steps.into();
        value["train"]["epochs"] = Value::Null;
    }
    dispatch(&name, Check(&value))?.with_context(|| context.clone())?;
    if value["data"].is_null() && !args.show_config {
        bail!("no training data: pass --dataset NAME or --data FILE");
    }
    Ok((name, value))
}

fn resumed_config(args: &Args) -> Result<(String, Value)> {
    let run_dir = args
        .run_dir
        .as_ref()
        .ok_or_else(|| anyhow!("--resume needs --run-dir"))?;
    let path = run_dir.join(CONFIG_FILE);
    if !path.is_file() {
        bail!(
            "--resume: {} has no {CONFIG_FILE}; start the run without --resume",
            run_dir.display()
        );
    }
    let changes = [
        ("--config", args.config.is_some()),
        ("--set", !args.set.is_empty()),
        ("--seed", args.seed.is_some()),
        ("--dataset", args.dataset.is_some()),
        ("--data", args.data.is_some()),
        ("--split", args.split.is_some()),
    ];
    if let Some((flag, _)) = changes.iter().find(|(_, given)| *given) {
        bail!("--resume continues the run with its own config.json; {flag} cannot change it (only --steps can)");
    }
    let mut value = read_json(&path)?;
    let name = model_name(&value)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .to_string();
    if let Some(m) = &args.model {
        if *m != name {
            bail!(
                "--resume: {} is a run of `{name}`, not `{m}`",
                run_dir.display()
            );
        }
    }
    if let Some(steps) = args.steps {
        value["train"]["steps"] = steps.into();
        value["train"]["epochs"] = Value::Null;
    }
    dispatch(&name, Check(&value))?.with_context(|| format!("{}", path.display()))?;
    Ok((name, value))
}

struct Train<'a> {
    value: Value,
    run_dir: &'a Path,
    device: tch::Device,
    resume: bool,
}

impl ModelVisitor for Train<'_> {
    type Output = Result<()>;
    fn visit<M: DiffusionModel>(self) -> Result<()> {
        let config = RunConfig::<M::Config>::from_json(&self.value, M::NAME)?;
        let spec: DataSpec = serde_json::from_value(config.data.clone())
            .map_err(|e| anyhow!("config field `data`: {e}"))?;
        let dataset = spec.load().context("loading the training data")?;
        let graphs = dataset.train_graphs();
        tracing::info!(dataset = %dataset.name, train_graphs = graphs.len(), "data");
        let pb = progress_bar(
            0,
            "{spinner} train [{bar:30}] {pos}/{len} steps {per_sec} ETA {eta} {msg}",
        );
        let t0 = Instant::now();
        let mut resumed = None;
        let mut start = 0;
        let outcome = train::<M>(
            TrainRun {
                run_dir: self.run_dir,
                config,
                graphs: &graphs,
                data_fingerprint: dataset.fingerprint(),
                device: self.device,
                resume: self.resume,
            },
            &mut |event| match event {
                TrainEvent::Started {
                    start_step,
                    total_steps,
                    num_parameters,
                    resumed_from,
                } => {
                    pb.set_length(total_steps);
                    pb.set_position(start_step);
                    pb.reset_eta();
                    start = start_step;
                    resumed = resumed_from.map(Path::to_path_buf);
                    tracing::info!(num_parameters, start_step, total_steps, "started");
                }
                TrainEvent::Step { step, .. } => pb.set_position(step),
                TrainEvent::Logged(r) => {
                    pb.set_message(format!("loss {:.5} lr {:.2e}", r.loss, r.lr))
                }
                TrainEvent::Checkpoint { step, dir } => {
                    tracing::info!(step, dir = %dir.display(), "checkpoint")
                }
                _ => {}
            },
        );
        pb.finish_and_clear();
        let outcome = outcome?;
        let mut out = std::io::stdout().lock();
        if let Some(from) = resumed {
            writeln!(out, "resumed from {}", from.display())?;
        }
        let loss = outcome
            .last_loss
            .map_or_else(|| "-".to_string(), |l| format!("{l:.6}"));
        writeln!(
            out,
            "{}: {} steps ({} this session, {:.1} s), last logged loss {loss}, checkpoint {}",
            M::NAME,
            outcome.step,
            outcome.step.saturating_sub(start),
            t0.elapsed().as_secs_f64(),
            outcome.last_checkpoint.display()
        )?;
        Ok(())
    }
}
