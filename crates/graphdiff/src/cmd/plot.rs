//! `graphdiff plot`: pictures as SVG — a grid of graphs (`samples`) and training curves
//! (`curves`). No libtorch and no font or graphics library needed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use graph_tensor::io::{read_graphs_detect, write_bytes_atomic, GraphFormat};

use crate::plot::{curves, graph_grid, Panel, Series};

/// Arguments of `graphdiff plot`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Draw the first graphs of a file as a grid (optionally real graphs beside them).
    #[command(
        after_help = "Examples:\n  graphdiff plot samples samples.g6 --out grid.svg\n  \
graphdiff plot samples samples.g6 --real test.g6 -n 12 --cols 4 --out grid.svg"
    )]
    Samples(SamplesArgs),
    /// Draw the training loss and learning rate of a run directory (metrics.jsonl).
    #[command(after_help = "Example:\n  graphdiff plot curves runs/com --out loss.svg")]
    Curves(CurvesArgs),
}

/// `graphdiff plot samples`.
#[derive(clap::Args)]
struct SamplesArgs {
    /// Graph file (any format `graphdiff stats` reads).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Reference graphs drawn beside them (e.g. the test split).
    #[arg(long, value_name = "FILE")]
    real: Option<PathBuf>,
    /// Graphs drawn from each file (the first ones).
    #[arg(short = 'n', long = "num", default_value_t = 16, value_name = "COUNT")]
    count: usize,
    /// Columns of each grid.
    #[arg(long, default_value_t = 4, value_name = "C")]
    cols: usize,
    /// Seed of the layouts (graph i of a grid is laid out with seed + i).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Cell size in pixels.
    #[arg(long, default_value_t = 140.0, value_name = "PX")]
    cell: f64,
    /// Title of the generated graphs' grid (default: the file name).
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Output SVG file.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
}

/// `graphdiff plot curves`.
#[derive(clap::Args)]
struct CurvesArgs {
    /// Run directory (its metrics.jsonl), or a metrics.jsonl file.
    #[arg(value_name = "RUN_DIR")]
    run: PathBuf,
    /// Output SVG file.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
}

/// Runs `graphdiff plot`.
pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Samples(a) => samples(a),
        What::Curves(a) => curves_cmd(a),
    }
}

fn read(path: &Path) -> Result<Vec<graph_tensor::Graph>> {
    let format = GraphFormat::from_path(path);
    let (graphs, _) =
        read_graphs_detect(path, format).with_context(|| format!("reading {}", path.display()))?;
    Ok(graphs)
}

fn check_out(out: &Path) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!(
                "--out {}: directory {} does not exist",
                out.display(),
                parent.display()
            );
        }
    }
    Ok(())
}

fn samples(a: SamplesArgs) -> Result<()> {
    if a.count == 0 {
        bail!("--num must be at least 1");
    }
    if a.cols == 0 {
        bail!("--cols must be at least 1");
    }
    if !(a.cell.is_finite() && a.cell >= 40.0) {
        bail!("--cell must be at least 40 pixels");
    }
    check_out(&a.out)?;
    let generated = read(&a.file)?;
    if generated.is_empty() {
        bail!("{}: no graphs to draw", a.file.display());
    }
    let real = a.real.as_deref().map(read).transpose()?;
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        )
    };
    let mut panels = vec![Panel {
        title: a.title.clone().unwrap_or_else(|| name(&a.file)),
        graphs: &generated[..a.count.min(generated.len())],
        color: "#1f77b4",
    }];
    if let (Some(r), Some(path)) = (&real, &a.real) {
        panels.push(Panel {
            title: format!("real: {}", name(path)),
            graphs: &r[..a.count.min(r.len())],
            color: "#2ca02c",
        });
    }
    let svg = graph_grid(&panels, a.cols, a.cell, a.seed);
    write_bytes_atomic(&a.out, svg.as_bytes())?;
    println!(
        "graphdiff: drew {} graph(s){} to {}",
        panels[0].graphs.len(),
        panels.get(1).map_or(String::new(), |p| format!(
            " and {} real one(s)",
            p.graphs.len()
        )),
        a.out.display()
    );
    Ok(())
}

fn curves_cmd(a: CurvesArgs) -> Result<()> {
    check_out(&a.out)?;
    let path = if a.run.is_dir() {
        a.run.join("metrics.jsonl")
    } else {
        a.run.clone()
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (mut loss, mut lr) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_f64)
                .with_context(|| format!("{} line {}: no number `{k}`", path.display(), i + 1))
        };
        let step = field("step")?;
        loss.push((step, field("loss")?));
        lr.push((step, field("lr")?));
    }
    if loss.is_empty() {
        bail!("{}: no metrics lines yet", path.display());
    }
    let log = loss.iter().all(|p| p.1 > 0.0);
    let title = format!("training curves of {}", a.run.display());
    let svg = curves(
        &title,
        "optimizer step",
        &[
            Series {
                name: "training loss (mean over each logging interval)",
                color: "#d62728",
                points: loss,
                log,
            },
            Series {
                name: "learning rate",
                color: "#1f77b4",
                points: lr,
                log: false,
            },
        ],
    );
    write_bytes_atomic(&a.out, svg.as_bytes())?;
    println!("graphdiff: drew {} to {}", path.display(), a.out.display());
    Ok(())
}
