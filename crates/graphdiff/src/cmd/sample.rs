//! `graphdiff sample`: draw graphs from a trained checkpoint and write them to a graph file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use graph_tensor::checkpoint::{best_checkpoint, latest_checkpoint, read_checkpoint, Checkpoint};
use graph_tensor::io::{write_bytes_atomic, write_graphs_with, GraphFormat, WriteOptions};
use graph_tensor::model::DiffusionModel;
use graph_tensor::run::set_json_path;
use graph_tensor::sample::{load_model_with_config, sample_graph_range};

use super::models::{
    dispatch, init_logging, parse_device, progress_bar, set_threads, ModelVisitor,
};

/// Arguments of `graphdiff sample`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Sample graphs from a checkpoint. The model is rebuilt from the checkpoint \
alone (its config.json), node counts are drawn from the training node-count distribution stored \
in it, and graph i of a request depends only on --seed and i: the output does not depend on \
--batch-size, and the first k graphs of a larger request are the graphs of a request for k. \
Adjacency entries >= 0.5 are edges; every node of the drawn count is kept (isolated or not).",
    after_help = "Examples:\n  graphdiff sample --run runs/com -n 1024 --out samples.g6\n  \
graphdiff sample --run runs/com --best -n 64 --out samples.jsonl --seed 7 --batch-size 32\n  \
graphdiff sample --run runs/gdp -n 1024 --out fast.g6 --sampler few_step\n  \
graphdiff sample --checkpoint runs/com/checkpoints/step-000015003 -n 16 --out s.npz --no-ema"
)]
pub struct Args {
    /// Run directory: its newest checkpoint (or the best with --best).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "checkpoint",
        conflicts_with = "checkpoint"
    )]
    pub run: Option<PathBuf>,

    /// With --run: the checkpoint with the lowest training loss instead of the newest.
    #[arg(long, requires = "run")]
    pub best: bool,

    /// A checkpoint directory (checkpoints/step-N).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,

    /// Number of graphs.
    #[arg(short = 'n', long = "num", value_name = "COUNT")]
    pub count: usize,

    /// Output graph file.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,

    /// Output format: g6|graph6, s6|sparse6, edgelist, jsonl, json|node-link, npz.
    /// Default: from the extension of FILE.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<GraphFormat>,

    /// Sampling seed.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,

    /// Write only part I of K (1 ≤ I ≤ K) of the request: graphs ⌊(I−1)·COUNT/K⌋ up to
    /// ⌊I·COUNT/K⌋ of the COUNT graphs. The K parts, concatenated in order, are byte for byte
    /// the file one unsharded run with the same seed writes (graph6, sparse6, edge list or
    /// JSON lines; an empty part is an empty file). For a cluster job array:
    /// `--shard $SLURM_ARRAY_TASK_ID/K` with `--array=1-K`.
    #[arg(long, value_name = "I/K")]
    pub shard: Option<String>,

    /// Graphs per sampler call (memory vs speed; does not change the graphs). Default: as
    /// many as fit in 2^21 node pairs of the model's padding (max_nodes² per graph), e.g.
    /// all of them for 20-node graphs; larger calls are faster on the CPU.
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,

    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,

    /// Torch intra-op threads (default: 1 on machines with at most 2 cores, else torch's
    /// default).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Use the EMA weights (the default when the run kept an EMA).
    #[arg(long, conflicts_with = "no_ema")]
    pub ema: bool,

    /// Use the raw weights even when the run kept an EMA.
    #[arg(long)]
    pub no_ema: bool,

    /// Sample with the sampler the run's config keeps under this name in `samplers` instead
    /// of its `sampler`, e.g. `--sampler few_step` (the GraphGDP presets' SDE-DPM-Solver++:
    /// 32 evaluations for Community-small, 20 for Ego-small and ENZYMES). Applied before
    /// --set, so `--set sampler.steps=…` edits it.
    #[arg(long, value_name = "NAME")]
    pub sampler: Option<String>,

    /// Edit the checkpoint's config for this sampling run only: key.path=value (repeatable),
    /// e.g. `--set sampler.grad_step_size=0.005` (sampler settings; the architecture must
    /// stay that of the weights).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Runs `graphdiff sample`.
pub fn run(args: Args) -> Result<()> {
    init_logging();
    set_threads(args.threads)?;
    let format = match args.format {
        Some(f) => f,
        None => GraphFormat::from_path(&args.out).ok_or_else(|| {
            anyhow!(
                "--out {}: cannot tell the format from the extension; pass --format",
                args.out.display()
            )
        })?,
    };
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    if let Some(spec) = &args.shard {
        parse_shard(spec, args.count)?;
        if !WriteOptions::concatenable(format) {
            bail!(
                "--shard: {format} files cannot be concatenated; write graph6, sparse6, edge \
                 lists or JSON lines"
            );
        }
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!(
                "--out {}: directory {} does not exist",
                args.out.display(),
                parent.display()
            );
        }
    }
    let device = parse_device(&args.device)?;
    let dir = match (&args.checkpoint, &args.run) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) if args.best => best_checkpoint(r)?,
        (None, Some(r)) => latest_checkpoint(r)?,
        (None, None) => bail!("pass --run DIR or --checkpoint DIR"),
    };
    let ckpt = read_checkpoint(&dir)?;
    let ema = if args.no_ema {
        false
    } else if args.ema {
        if !ckpt.has_ema() {
            bail!(
                "--ema: {} has no EMA weights (the run was trained without train.ema)",
                dir.display()
            );
        }
        true
    } else {
        ckpt.has_ema()
    };
    let name = ckpt.state.model.clone();
    dispatch(
        &name,
        Sample {
            args: &args,
            ckpt: &ckpt,
            device,
            ema,
            format,
        },
    )?
}

struct Sample<'a> {
    args: &'a Args,
    ckpt: &'a Checkpoint,
    device: tch::Device,
    ema: bool,
    format: GraphFormat,
}

/// Node pairs per sampler call when `--batch-size` is not given.
const PAIRS_PER_CALL: usize = 1 << 21;

/// Graphs per sampler call: as many as fit in [`PAIRS_PER_CALL`] pairs of the padding, at
/// least 1 and at most `count`.
fn default_batch_size(max_nodes: usize, count: usize) -> usize {
    (PAIRS_PER_CALL / (max_nodes * max_nodes).max(1)).clamp(1, count.max(1))
}

impl ModelVisitor for Sample<'_> {
    type Output = Result<()>;
    fn visit<M: DiffusionModel>(self) -> Result<()> {
        let a = self.args;
        let mut config = self.ckpt.config.clone();
        if let Some(name) = &a.sampler {
            select_named_sampler(&mut config, name)?;
        }
        for s in &a.set {
            set_json_path(&mut config, s).map_err(|e| anyhow!("--set: {e}"))?;
        }
        let (_vs, model, _config) =
            load_model_with_config::<M>(self.ckpt, &config, self.device, self.ema).with_context(
                || {
                    if a.set.is_empty() && a.sampler.is_none() {
                        String::from("loading the model")
                    } else {
                        String::from("loading the model with --sampler/--set")
                    }
                },
            )?;
        let pb = progress_bar(
            a.count as u64,
            "{spinner} sample [{bar:30}] {pos}/{len} graphs ETA {eta} {msg}",
        );
        let t0 = Instant::now();
        let range = match &a.shard {
            Some(spec) => parse_shard(spec, a.count)?,
            None => 0..a.count,
        };
        let batch_size = a
            .batch_size
            .unwrap_or_else(|| default_batch_size(model.max_nodes(), range.len()));
        let graphs = sample_graph_range(
            &model,
            &self.ckpt.state.node_counts,
            a.count,
            a.seed,
            range.clone(),
            batch_size,
            self.device,
            &mut |p| {
                let frac = if p.steps == 0 {
                    0.0
                } else {
                    p.step as f64 / p.steps as f64
                };
                pb.set_position(p.graphs_done as u64 + (frac * p.batch_size as f64) as u64);
                pb.set_message(format!("step {}/{}", p.step, p.steps));
            },
        );
        pb.finish_and_clear();
        let graphs = graphs?;
        if graphs.is_empty() && a.shard.is_some() {
            write_bytes_atomic(&a.out, b"")
        } else {
            let options = WriteOptions::default().first_index(range.start);
            write_graphs_with(&a.out, self.format, &graphs, options)
        }
        .with_context(|| format!("writing {}", a.out.display()))?;
        let secs = t0.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}: {} graphs{} from {} ({} weights, step {}) to {} in {secs:.1} s, {} network evaluations per graph",
            M::NAME,
            graphs.len(),
            match &a.shard {
                Some(_) => format!(" ({}..{} of {})", range.start, range.end, a.count),
                None => String::new(),
            },
            display(&self.ckpt.dir),
            if self.ema { "EMA" } else { "raw" },
            self.ckpt.state.step,
            a.out.display(),
            model.nfe()
        )?;
        Ok(())
    }
}

/// Replaces the run config's `sampler` by its `samplers.NAME`; the error names the samplers
/// the config does have.
fn select_named_sampler(config: &mut serde_json::Value, name: &str) -> Result<()> {
    let named = config.get("samplers").and_then(|v| v.as_object());
    let Some(sampler) = named.and_then(|m| m.get(name)).cloned() else {
        let model = config.get("model").and_then(|v| v.as_str()).unwrap_or("?");
        match named.filter(|m| !m.is_empty()) {
            Some(m) => bail!(
                "--sampler {name}: the run's config ({model}) has no sampler of that name; it \
                 names {}",
                m.keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => bail!(
                "--sampler {name}: the run's config ({model}) names no samplers; give the \
                 sampler itself with --set 'sampler={{...}}'"
            ),
        }
    };
    if let Some(obj) = config.as_object_mut() {
        obj.insert("sampler".into(), sampler);
    }
    Ok(())
}

/// Graphs `start..end` of part `I/K` of a request for `count` graphs.
fn parse_shard(spec: &str, count: usize) -> Result<std::ops::Range<usize>> {
    let parsed = spec.split_once('/').and_then(|(i, k)| {
        Some((
            i.trim().parse::<usize>().ok()?,
            k.trim().parse::<usize>().ok()?,
        ))
    });
    let Some((i, k)) = parsed else {
        bail!("--shard {spec}: expected I/K, e.g. 3/8");
    };
    if k == 0 || i == 0 || i > k {
        bail!("--shard {spec}: I must be between 1 and K (K ≥ 1)");
    }
    Ok((i - 1) * count / k..i * count / k)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::{default_batch_size, parse_shard, select_named_sampler};

    #[test]
    fn a_named_sampler_replaces_the_sampler() {
        let mut c = serde_json::json!({
            "model": "graph-gdp",
            "sampler": {"kind": "pc"},
            "samplers": {"few_step": {"kind": "dpm_solver", "steps": 20}}
        });
        select_named_sampler(&mut c, "few_step").unwrap();
        assert_eq!(
            c["sampler"],
            serde_json::json!({"kind": "dpm_solver", "steps": 20})
        );
        let e = select_named_sampler(&mut c, "fast")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--sampler fast") && e.contains("`few_step`"),
            "{e}"
        );
        let mut plain = serde_json::json!({"model": "edp-gnn", "sampler": {}});
        let e = select_named_sampler(&mut plain, "few_step")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("edp-gnn") && e.contains("names no samplers"),
            "{e}"
        );
        assert_eq!(plain["sampler"], serde_json::json!({}));
    }

    #[test]
    fn shards_partition_the_request() {
        for (count, k) in [(1024usize, 8usize), (10, 3), (2, 4), (1, 1)] {
            let mut next = 0;
            for i in 1..=k {
                let r = parse_shard(&format!("{i}/{k}"), count).unwrap();
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, count);
        }
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_batch_fits_the_pair_budget() {
        // 20-node models: every graph of a 1024-graph request in one call.
        assert_eq!(default_batch_size(20, 1024), 1024);
        assert_eq!(default_batch_size(20, 10_000), 5242);
        // Large graphs: few per call, never zero.
        assert_eq!(default_batch_size(399, 1000), 13);
        assert_eq!(default_batch_size(5000, 3), 1);
        assert_eq!(default_batch_size(20, 0), 1);
    }
}
