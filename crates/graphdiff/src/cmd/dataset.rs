//! `graphdiff dataset`: generate a benchmark dataset (or re-split / convert a graph file) and
//! write it to a graph file, with a manifest recording its split rule and origin.
//!
//! [`DataSource`] is the dataset argument group every subcommand can flatten: a built-in
//! dataset NAME, a recipe file, or any graph file (`--data FILE`).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use graph_tensor::datasets::{
    builtin_names, manifest_path, Dataset, Recipe, SplitRule, SPLIT_RULE_SYNTAX,
};
use graph_tensor::io::{write_graphs, write_graphs_to, GraphFormat};

/// The examples shown by `-h` and `--help`.
macro_rules! examples {
    () => {
        "Examples:\n  graphdiff dataset --list\n  graphdiff dataset community-small --out community_small.g6\n  \
         graphdiff dataset planar --seed 3 --out planar.jsonl\n  \
         graphdiff dataset ego-small --source data/citeseer --out ego_small.g6\n  \
         graphdiff dataset enzymes --source data/ENZYMES --out enzymes.g6\n  \
         graphdiff dataset tree --out - --format edgelist | head\n  \
         graphdiff dataset --data published/grid.g6 --split gdss --out grid.jsonl"
    };
}

/// Where a command's graphs come from: a built-in dataset, a recipe file, or a graph file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataSource {
    /// Built-in dataset to generate: community-small, ego-small, grid, grid-gdss, enzymes,
    /// lobster, planar, sbm, tree (`graphdiff dataset --list` describes them).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Use the graphs of FILE as the dataset (graph6, sparse6, edge list, JSON lines,
    /// node-link JSON or npz). Its split rule comes from `--split`, else from the manifest
    /// `FILE.dataset.json` written by `graphdiff dataset`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "recipe", "seed", "source"])]
    pub data: Option<PathBuf>,

    /// Generate from a recipe file (JSON, same schema as the built-in recipes; print one with
    /// `graphdiff dataset NAME --show-recipe`).
    #[arg(long, value_name = "FILE", conflicts_with = "name")]
    pub recipe: Option<PathBuf>,

    /// Seed of the generator (default: the recipe's). For lobster it is GRAN's first Python
    /// seed (1234): nearby seeds give overlapping lists, so take seeds far apart there.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Directory with the raw files of ego-small (citeseer.edges) or enzymes
    /// (ENZYMES_A.txt, ENZYMES_graph_indicator.txt).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,

    /// Split rule instead of the dataset's own.
    #[arg(long, value_name = "RULE", help = format!("Split rule instead of the dataset's own: {SPLIT_RULE_SYNTAX}"))]
    pub split: Option<SplitRule>,
}

impl DataSource {
    /// The recipe named by NAME or `--recipe`, if any.
    pub fn recipe(&self) -> Result<Option<Recipe>> {
        Ok(match (&self.name, &self.recipe) {
            (Some(n), _) => Some(Recipe::builtin(n)?),
            (None, Some(p)) => Some(Recipe::from_file(p)?),
            (None, None) => None,
        })
    }

    /// Produces the dataset.
    pub fn load(&self) -> Result<Dataset> {
        let mut ds = if let Some(path) = &self.data {
            Dataset::load(path, self.split)?
        } else if let Some(recipe) = self.recipe()? {
            if self.source.is_some() && !recipe.generator.needs_source() {
                bail!(
                    "--source: dataset '{}' is generated, it reads no files",
                    recipe.name
                );
            }
            Dataset::from_recipe(&recipe, self.seed, self.source.as_deref())?
        } else {
            bail!(
                "name a dataset ({}), a recipe (--recipe FILE) or a graph file (--data FILE)",
                builtin_names().join(", ")
            );
        };
        if let Some(rule) = self.split {
            ds.split_rule = rule;
        }
        Ok(ds)
    }
}

/// Arguments of `graphdiff dataset`.
#[derive(clap::Args)]
#[command(
    after_help = examples!(),
    after_long_help = concat!(
        "Every dataset follows its reference code (see the recipes in the repository's \
datasets/ folder, also printed by --show-recipe). Seeded steps of the reference are reproduced \
bit for bit (GRAN's lobsters, the SPECTRE/DiGress split indices); ego-small and enzymes equal \
the published GDSS lists. Steps the reference drew from numpy's unseeded generator use our \
seeded generator instead.\n\n\
Next to FILE a manifest FILE.dataset.json records the split rule, the recipe and seed, and a \
SHA-256 of the graphs, so that --data FILE later splits the graphs the same way.\n\n",
        examples!()
    )
)]
pub struct Args {
    #[command(flatten)]
    pub data: DataSource,

    /// Output graph file; `-` writes to standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Output format: g6|graph6, s6|sparse6, edgelist, jsonl, json|node-link, npz.
    /// Default: from the extension of FILE; graph6 for `-`.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<GraphFormat>,

    /// List the built-in datasets with a one-line description each, and exit.
    #[arg(long, exclusive = true)]
    pub list: bool,

    /// Print the dataset's recipe (JSON) to standard output instead of generating it.
    #[arg(long, conflicts_with_all = ["out", "format", "data"])]
    pub show_recipe: bool,

    /// Do not write the manifest FILE.dataset.json.
    #[arg(long)]
    pub no_manifest: bool,

    /// Write only one part of the split (e.g. `--part test` for the reference set of
    /// `graphdiff eval`). No manifest is written for a part.
    #[arg(long, value_enum, default_value_t = Part::All)]
    pub part: Part,
}

/// Which graphs of a dataset `graphdiff dataset` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Every graph, in dataset order.
    All,
    /// The training part of the split.
    Train,
    /// The validation part of the split (empty for rules without one).
    Val,
    /// The test part of the split.
    Test,
}

/// Runs `graphdiff dataset`.
pub fn run(args: Args) -> Result<()> {
    if args.list {
        return list();
    }
    if args.show_recipe {
        let recipe = args
            .data
            .recipe()?
            .context("--show-recipe needs a dataset NAME or --recipe FILE")?;
        let text = serde_json::to_string_pretty(&recipe)?;
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        return Ok(out.flush()?);
    }
    if args.data.name.is_none() && args.data.data.is_none() && args.data.recipe.is_none() {
        bail!(
            "name a dataset ({}), a recipe (--recipe FILE) or a graph file (--data FILE); see --list",
            builtin_names().join(", ")
        );
    }
    let out = args
        .out
        .as_deref()
        .context("give the output file: --out FILE (or --out - for standard output)")?;
    let to_stdout = out.as_os_str() == "-";
    let format = match args.format {
        Some(f) => f,
        None if to_stdout => GraphFormat::Graph6,
        None => GraphFormat::from_path(out).with_context(|| {
            format!(
                "{}: cannot tell the format from the extension; use --format (g6, s6, edgelist, jsonl, json, npz)",
                out.display()
            )
        })?,
    };
    if to_stdout && !format.is_textual() && io::stdout().is_terminal() {
        bail!("refusing to write {} (binary) to a terminal; redirect standard output or use --out FILE", format.name());
    }
    if !to_stdout {
        check_parent(out)?;
    }

    let ds = args.data.load()?;
    let graphs = match args.part {
        Part::All => ds.graphs.clone(),
        Part::Train => ds.train_graphs(),
        Part::Val => ds.val_graphs(),
        Part::Test => ds.test_graphs(),
    };
    if graphs.is_empty() {
        bail!("the {:?} part of {} is empty", args.part, ds.name);
    }
    if to_stdout {
        let mut w = BufWriter::new(io::stdout().lock());
        write_graphs_to(&mut w, format, &graphs)?;
        w.flush()?;
    } else {
        write_graphs(out, format, &graphs)?;
        if !args.no_manifest && args.part == Part::All {
            ds.manifest().write(&manifest_path(out))?;
        }
    }

    let seed = match &ds.origin {
        graph_tensor::datasets::Origin::Recipe { seed: Some(s), .. } => format!(" (seed {s})"),
        _ => String::new(),
    };
    let dest = if to_stdout {
        "standard output".to_string()
    } else {
        out.display().to_string()
    };
    let s = ds.summary();
    let _ = writeln!(
        io::stderr(),
        "graphdiff: {}{seed}: {} graphs, {}–{} nodes, mean {:.2} edges; split {} → {}{} ({})",
        ds.name,
        s.graphs,
        s.min_nodes,
        s.max_nodes,
        s.mean_edges,
        ds.split_rule.describe(ds.len()),
        match args.part {
            Part::All => String::new(),
            p => format!("{} {:?} graphs of ", graphs.len(), p).to_lowercase(),
        },
        dest,
        format.name()
    );
    Ok(())
}

/// Fails early, before generating, when the output folder does not exist.
fn check_parent(out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "{}: the folder {} does not exist",
                out.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// `graphdiff dataset --list`.
fn list() -> Result<()> {
    let mut out = io::stdout().lock();
    let recipes = Recipe::all_builtin();
    let width = recipes.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &recipes {
        writeln!(out, "{:width$}  {}", r.name, r.description)?;
    }
    out.flush()?;
    Ok(())
}
