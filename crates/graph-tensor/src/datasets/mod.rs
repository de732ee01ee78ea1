//! Benchmark datasets: seeded generators and readers faithful to the reference code, their
//! recipes, split rules, and the node-count distribution of a training set.
//!
//! # Datasets
//!
//! Every built-in dataset is described by a small JSON *recipe* (the repository's `datasets/`
//! folder, embedded in the binary): generator or source with its parameters, default seed,
//! split rule, citation and the places where we knowingly differ from the reference.
//!
//! | name | graphs | nodes | source | split |
//! |---|---|---|---|---|
//! | `community-small` | 100 | 12–20 | EDP-GNN / GDSS `n_community` ([`community`]) | first 20 % test |
//! | `ego-small` | 200 | 4–17 | Citeseer 1-hop ego graphs, read from `--source` ([`ego`], [`planetoid`]) | first 20 % test |
//! | `grid` | 100 | 100–361 | GraphRNN / GRAN: all `grid_2d_graph(i, j)`, `i, j ∈ 10..=19` ([`grid`]) | GRAN: first 80 % train |
//! | `grid-gdss` | 100 | 100–361 | GDSS: sides drawn with replacement ([`grid`]) | first 20 % test |
//! | `enzymes` | 587 | 10–125 | TU ENZYMES, read from `--source` ([`tu`]) | first 20 % test |
//! | `lobster` | 100 | 10–100 | GRAN `random_lobster(80, 0.7, 0.7)`, bit-exact ([`lobster`]) | GRAN: first 80 % train |
//! | `planar` | 200 | 64 | SPECTRE: Delaunay triangulations ([`planar`]) | DiGress random split |
//! | `sbm` | 200 | 40–200 | SPECTRE stochastic block model ([`sbm`]) | DiGress random split |
//! | `tree` | 200 | 64 | Bergmeister et al. 2024 uniform random trees ([`tree`]) | 128 / 32 / 40 in order |
//!
//! What is reproduced bit for bit: everything the reference code seeded. Python's
//! `random.Random(seed)` and torch's `manual_seed` are replayed exactly ([`reference_rng`]),
//! so GRAN's lobster list, the communities of the EDP-GNN/GDSS generator
//! ([`community::IntraSeeding::CommunityIndex`]) and the SPECTRE / DiGress split indices are
//! the reference's own. Readers of fixed data (ego-small, ENZYMES) reproduce the published
//! lists graph for graph, including networkx's node order ([`pyset`]). Whatever the
//! reference drew from numpy's *unseeded* global state (community sizes and bridges, GDSS
//! grid sides, planar points, SBM sizes and edges, tree sequences) nobody can reproduce;
//! those draws come from a ChaCha8 generator seeded with the run's seed, with the same
//! distributions. For exact comparisons with published numbers, use the published lists
//! themselves through [`Dataset::from_file`].
//!
//! # Use
//!
//! ```no_run
//! use graph_tensor::datasets::{Dataset, NodeCountDistribution};
//! let ds = Dataset::generate("community-small", None, None)?; // recipe's default seed
//! let split = ds.split();
//! let train = ds.train_graphs();
//! let sizes = NodeCountDistribution::from_graphs(&train)?;
//! let n = sizes.sample_n(16, 0);
//! # Ok::<(), graph_tensor::datasets::DatasetError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::io::IoError;
use crate::Graph;

pub mod community;
pub mod ego;
pub mod grid;
pub mod lobster;
pub mod node_count;
pub mod planar;
pub mod planetoid;
pub mod pyset;
pub mod reference_rng;
pub mod sbm;
pub mod split;
pub mod tree;
pub mod tu;

pub use node_count::NodeCountDistribution;
pub use split::{Split, SplitRule, SPLIT_RULE_SYNTAX};

/// Why a dataset could not be produced.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// A dataset name that is not built in.
    #[error("unknown dataset '{name}'; known datasets: {}", known.join(", "))]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The built-in names.
        known: Vec<String>,
    },
    /// A dataset read from files was asked for without a source directory.
    #[error(
        "dataset '{dataset}' is read from {what}: give the directory holding {files} (`--source DIR` on the command line)"
    )]
    MissingSource {
        /// The dataset.
        dataset: String,
        /// What the files are.
        what: &'static str,
        /// The files expected in the directory, e.g. `A.txt and B.txt`.
        files: String,
    },
    /// A file the dataset needs is not there.
    #[error("{}: not found ({what})", path.display())]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// What it should be.
        what: String,
    },
    /// The operating system refused to read a file.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        err: std::io::Error,
    },
    /// A malformed line in a source file.
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(" line {line}") } else { String::new() })]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when not about one line).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A recipe that does not parse or does not validate.
    #[error("recipe {origin}: {message}")]
    Recipe {
        /// Where the recipe came from (a built-in name or a path).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A generator parameter out of its domain.
    #[error("{0}")]
    InvalidParameter(String),
    /// A split rule out of its domain.
    #[error("{0}")]
    InvalidSplit(String),
    /// A graph file that could not be read.
    #[error(transparent)]
    GraphFile(#[from] IoError),
    /// A node-count distribution over no graphs.
    #[error("node-count distribution of an empty set of graphs")]
    EmptyNodeCounts,
    /// A manifest that does not describe the graph file next to it.
    #[error("{}: {message}", path.display())]
    ManifestMismatch {
        /// The manifest.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A graph file without a manifest, and no split rule given.
    #[error(
        "{}: no split rule: the file has no manifest {} (written by `graphdiff dataset`), so name a rule (`--split`)",
        path.display(), manifest.display()
    )]
    NoSplitRule {
        /// The graph file.
        path: PathBuf,
        /// The manifest looked for.
        manifest: PathBuf,
    },
}

impl DatasetError {
    pub(crate) fn io(path: &Path, err: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            err,
        }
    }

    pub(crate) fn parse(path: &Path, line: usize, message: String) -> Self {
        DatasetError::Parse {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

pub(crate) fn check_range(what: &str, r: [usize; 2]) -> Result<(), DatasetError> {
    if r[0] > r[1] {
        return Err(DatasetError::InvalidParameter(format!(
            "{what}: empty range [{}, {}] (the first bound must not exceed the second)",
            r[0], r[1]
        )));
    }
    Ok(())
}

pub(crate) fn check_prob(what: &str, p: f64) -> Result<(), DatasetError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(DatasetError::InvalidParameter(format!(
            "{what} = {p} is not a probability in [0, 1]"
        )));
    }
    Ok(())
}

/// A generator or reader with its parameters; the `"kind"` tag of a recipe's `generator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Generator {
    /// EDP-GNN / GDSS community graphs.
    Community(community::CommunityParams),
    /// 2-D grids.
    Grid(grid::GridParams),
    /// GRAN random lobsters.
    Lobster(lobster::LobsterParams),
    /// SPECTRE Delaunay planar graphs.
    Planar(planar::PlanarParams),
    /// SPECTRE stochastic block models.
    Sbm(sbm::SbmParams),
    /// Uniform random labelled trees.
    Tree(tree::TreeParams),
    /// Ego graphs of an edge-list graph (Citeseer), read from a source directory.
    Ego(ego::EgoParams),
    /// A TU-format dataset, read from a source directory.
    Tu(tu::TuParams),
}

impl Generator {
    /// Whether the generator reads files from a source directory.
    pub fn needs_source(&self) -> bool {
        matches!(self, Generator::Ego(_) | Generator::Tu(_))
    }

    /// Whether the output depends on the seed.
    pub fn uses_seed(&self) -> bool {
        match self {
            Generator::Ego(_) | Generator::Tu(_) => false,
            Generator::Grid(g) => matches!(g.selection, grid::GridSides::Random { .. }),
            _ => true,
        }
    }

    fn source_files(&self) -> (&'static str, String) {
        match self {
            Generator::Ego(p) => (
                "a citation graph (Planetoid pickle or edge list)",
                p.files.join(" or "),
            ),
            Generator::Tu(p) => ("TU-format files", p.required_files().join(" and ")),
            _ => ("", String::new()),
        }
    }
}

/// A dataset recipe: how to produce the graphs and how to split them. Built-in recipes live
/// in the repository's `datasets/` folder and are embedded in the binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Dataset name (lower case, `-` separated).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Generator or reader and its parameters.
    pub generator: Generator,
    /// Default seed (absent for datasets that do not depend on one).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Split rule.
    pub split: SplitRule,
    /// The paper(s) the dataset comes from.
    pub citation: String,
    /// The reference code followed (`owner/repo:path`).
    pub reference: Vec<String>,
    /// Where this implementation knowingly differs from the reference, and why.
    #[serde(default)]
    pub differences: Vec<String>,
}

const BUILTIN_JSON: [(&str, &str); 9] = [
    (
        "community-small",
        include_str!("../../../../datasets/community-small.json"),
    ),
    (
        "ego-small",
        include_str!("../../../../datasets/ego-small.json"),
    ),
    ("grid", include_str!("../../../../datasets/grid.json")),
    (
        "grid-gdss",
        include_str!("../../../../datasets/grid-gdss.json"),
    ),
    ("enzymes", include_str!("../../../../datasets/enzymes.json")),
    ("lobster", include_str!("../../../../datasets/lobster.json")),
    ("planar", include_str!("../../../../datasets/planar.json")),
    ("sbm", include_str!("../../../../datasets/sbm.json")),
    ("tree", include_str!("../../../../datasets/tree.json")),
];

/// Names of the built-in datasets, in a fixed order.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN_JSON.iter().map(|(n, _)| *n).collect()
}

/// `Community_Small`, `community_small` and `community-small` name the same dataset.
fn normalise_name(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

impl Recipe {
    /// Parses and validates a recipe; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Recipe, DatasetError> {
        let r: Recipe = serde_json::from_str(text).map_err(|e| DatasetError::Recipe {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        r.split.validate().map_err(|m| DatasetError::Recipe {
            origin: origin.to_string(),
            message: m,
        })?;
        Ok(r)
    }

    /// Reads a recipe file.
    pub fn from_file(path: &Path) -> Result<Recipe, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        Recipe::from_json(&text, &path.display().to_string())
    }

    /// The built-in recipe of a dataset (names are case-insensitive, `_` = `-`).
    pub fn builtin(name: &str) -> Result<Recipe, DatasetError> {
        let key = normalise_name(name);
        let (n, text) = BUILTIN_JSON
            .iter()
            .find(|(n, _)| *n == key)
            .ok_or_else(|| DatasetError::UnknownDataset {
                name: name.to_string(),
                known: builtin_names().iter().map(|s| s.to_string()).collect(),
            })?;
        Recipe::from_json(text, &format!("datasets/{n}.json"))
    }

    /// Every built-in recipe.
    pub fn all_builtin() -> Vec<Recipe> {
        builtin_names()
            .into_iter()
            .map(|n| Recipe::builtin(n).expect("built-in recipes are checked by the test suite"))
            .collect()
    }

    /// Produces the graphs. `seed` defaults to the recipe's; `source_dir` is required by
    /// readers of files (ego graphs, TU datasets) and ignored by generators.
    pub fn produce(
        &self,
        seed: Option<u64>,
        source_dir: Option<&Path>,
    ) -> Result<Vec<Graph>, DatasetError> {
        let seed = seed.or(self.seed).unwrap_or(0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let source = || -> Result<&Path, DatasetError> {
            source_dir.ok_or_else(|| {
                let (what, files) = self.generator.source_files();
                DatasetError::MissingSource {
                    dataset: self.name.clone(),
                    what,
                    files,
                }
            })
        };
        match &self.generator {
            Generator::Community(p) => p.generate(&mut rng),
            Generator::Grid(p) => p.generate(&mut rng),
            Generator::Lobster(p) => p.generate(seed),
            Generator::Planar(p) => p.generate(&mut rng),
            Generator::Sbm(p) => p.generate(&mut rng),
            Generator::Tree(p) => p.generate(&mut rng),
            Generator::Ego(p) => p.generate(source()?),
            Generator::Tu(p) => p.generate(source()?),
        }
    }
}

/// Where a dataset's graphs came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Origin {
    /// Produced from a recipe.
    Recipe {
        /// The recipe.
        recipe: Box<Recipe>,
        /// The seed used (`None` when the recipe does not use one).
        seed: Option<u64>,
        /// The source directory read, for readers of files.
        source_dir: Option<PathBuf>,
    },
    /// Read from a graph file.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// A list of graphs with the rule that splits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Dataset name (the recipe's, or the file stem).
    pub name: String,
    /// The graphs, in dataset order (the order split rules refer to).
    pub graphs: Vec<Graph>,
    /// How the graphs are split.
    pub split_rule: SplitRule,
    /// Where the graphs came from.
    pub origin: Origin,
}

impl Dataset {
    /// A built-in dataset by name (see [`builtin_names`]); `seed` defaults to the recipe's,
    /// `source_dir` is needed by `ego-small` (Citeseer edge list) and `enzymes` (TU files).
    pub fn generate(
        name: &str,
        seed: Option<u64>,
        source_dir: Option<&Path>,
    ) -> Result<Dataset, DatasetError> {
        Dataset::from_recipe(&Recipe::builtin(name)?, seed, source_dir)
    }

    /// A dataset from any recipe.
    pub fn from_recipe(
        recipe: &Recipe,
        seed: Option<u64>,
        source_dir: Option<&Path>,
    ) -> Result<Dataset, DatasetError> {
        recipe.split.validate().map_err(|m| DatasetError::Recipe {
            origin: recipe.name.clone(),
            message: m,
        })?;
        let graphs = recipe.produce(seed, source_dir)?;
        let seed = if recipe.generator.uses_seed() {
            seed.or(recipe.seed).or(Some(0))
        } else {
            None
        };
        Ok(Dataset {
            name: recipe.name.clone(),
            graphs,
            split_rule: recipe.split,
            origin: Origin::Recipe {
                recipe: Box::new(recipe.clone()),
                seed,
                source_dir: if recipe.generator.needs_source() {
                    source_dir.map(Path::to_path_buf)
                } else {
                    None
                },
            },
        })
    }

    /// Any graph file as a dataset (format from the extension or the content, see
    /// [`crate::io::read_graphs`]), split by `split_rule`.
    pub fn from_file(path: &Path, split_rule: SplitRule) -> Result<Dataset, DatasetError> {
        split_rule.validate().map_err(DatasetError::InvalidSplit)?;
        let graphs = crate::io::read_graphs(path)?;
        Ok(Dataset {
            name: file_stem(path),
            graphs,
            split_rule,
            origin: Origin::File {
                path: path.to_path_buf(),
            },
        })
    }

    /// A dataset from graphs in memory.
    pub fn from_graphs(
        name: &str,
        graphs: Vec<Graph>,
        split_rule: SplitRule,
    ) -> Result<Dataset, DatasetError> {
        split_rule.validate().map_err(DatasetError::InvalidSplit)?;
        Ok(Dataset {
            name: name.to_string(),
            graphs,
            split_rule,
            origin: Origin::File {
                path: PathBuf::new(),
            },
        })
    }

    /// Number of graphs.
    pub fn len(&self) -> usize {
        self.graphs.len()
    }

    /// Whether there are no graphs.
    pub fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }

    /// The split of this dataset under its rule.
    pub fn split(&self) -> Split {
        self.split_rule.split(self.graphs.len())
    }

    fn pick(&self, idx: &[usize]) -> Vec<Graph> {
        idx.iter().map(|&i| self.graphs[i].clone()).collect()
    }

    /// The training graphs, in split order.
    pub fn train_graphs(&self) -> Vec<Graph> {
        self.pick(&self.split().train)
    }

    /// The validation graphs (empty for rules without a validation set).
    pub fn val_graphs(&self) -> Vec<Graph> {
        self.pick(&self.split().val)
    }

    /// The test graphs, in split order.
    pub fn test_graphs(&self) -> Vec<Graph> {
        self.pick(&self.split().test)
    }

    /// Node-count distribution of the training graphs.
    pub fn train_node_counts(&self) -> Result<NodeCountDistribution, DatasetError> {
        NodeCountDistribution::from_graphs(&self.train_graphs())
    }

    /// Summary statistics of all graphs.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.graphs)
    }

    /// SHA-256 (hex) of the graphs in order (node count and canonical edge list of each):
    /// equal values mean the same labelled graphs in the same order.
    pub fn graphs_fingerprint(&self) -> String {
        hex(&self.graphs_hasher().finalize())
    }

    fn graphs_hasher(&self) -> Sha256 {
        let mut h = Sha256::new();
        for g in &self.graphs {
            h.update((g.n() as u64).to_le_bytes());
            h.update((g.num_edges() as u64).to_le_bytes());
            for &(u, v) in g.edges() {
                h.update((u as u64).to_le_bytes());
                h.update((v as u64).to_le_bytes());
            }
        }
        h
    }

    /// SHA-256 (hex) of the graphs in order and of the split: equal fingerprints mean the
    /// same labelled graphs, split the same way (what a checkpoint should record).
    pub fn fingerprint(&self) -> String {
        let mut h = self.graphs_hasher();
        let s = self.split();
        for part in [&s.train, &s.val, &s.test] {
            h.update((part.len() as u64).to_le_bytes());
            for &i in part.iter() {
                h.update((i as u64).to_le_bytes());
            }
        }
        hex(&h.finalize())
    }

    /// The manifest describing this dataset, for writing next to its graph file.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            name: self.name.clone(),
            graphs: self.graphs.len(),
            graphs_sha256: self.graphs_fingerprint(),
            split_rule: self.split_rule,
            origin: self.origin.clone(),
            summary: self.summary(),
        }
    }

    /// Reads a graph file as a dataset, taking name, split rule and origin from its manifest
    /// (`<file>.dataset.json`, see [`manifest_path`]) when there is one, after checking that
    /// the manifest describes exactly these graphs; without a manifest, `fallback` is the
    /// split rule, and its absence is an error ([`DatasetError::NoSplitRule`]).
    pub fn load(path: &Path, fallback: Option<SplitRule>) -> Result<Dataset, DatasetError> {
        let mpath = manifest_path(path);
        // Read the graphs first: a missing or broken graph file is the first thing to report.
        let graphs = crate::io::read_graphs(path)?;
        let origin = Origin::File {
            path: path.to_path_buf(),
        };
        if !mpath.is_file() {
            let rule = fallback.ok_or_else(|| DatasetError::NoSplitRule {
                path: path.to_path_buf(),
                manifest: mpath.clone(),
            })?;
            rule.validate().map_err(DatasetError::InvalidSplit)?;
            return Ok(Dataset {
                name: file_stem(path),
                graphs,
                split_rule: rule,
                origin,
            });
        }
        let m = Manifest::read(&mpath)?;
        let mut ds = Dataset {
            name: file_stem(path),
            graphs,
            split_rule: m.split_rule,
            origin,
        };
        if ds.graphs.len() != m.graphs || ds.graphs_fingerprint() != m.graphs_sha256 {
            return Err(DatasetError::ManifestMismatch {
                path: mpath,
                message: format!(
                    "describes {} graphs with SHA-256 {}, but {} holds {} graphs with SHA-256 {}",
                    m.graphs,
                    m.graphs_sha256,
                    path.display(),
                    ds.graphs.len(),
                    ds.graphs_fingerprint()
                ),
            });
        }
        ds.name = m.name;
        ds.origin = m.origin;
        Ok(ds)
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest path of a graph file: the file name with `.dataset.json` appended
/// (`planar.g6` → `planar.g6.dataset.json`).
pub fn manifest_path(graph_file: &Path) -> PathBuf {
    let mut name = graph_file.as_os_str().to_owned();
    name.push(".dataset.json");
    PathBuf::from(name)
}

/// What `graphdiff dataset` writes next to a graph file, so that the split rule (and the
/// recipe and seed the graphs came from) travel with the graphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Dataset name.
    pub name: String,
    /// Number of graphs in the file.
    pub graphs: usize,
    /// [`Dataset::graphs_fingerprint`] of the file's graphs.
    pub graphs_sha256: String,
    /// How to split the graphs.
    pub split_rule: SplitRule,
    /// Where the graphs came from.
    pub origin: Origin,
    /// Node and edge statistics.
    pub summary: Summary,
}

impl Manifest {
    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Manifest, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| DatasetError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("not a dataset manifest: {e}"),
        })?;
        m.split_rule.validate().map_err(|msg| DatasetError::Parse {
            path: path.to_path_buf(),
            line: 0,
            message: msg,
        })?;
        Ok(m)
    }

    /// Writes the manifest atomically (`<path>.tmp` in the same folder, then rename).
    pub fn write(&self, path: &Path) -> Result<(), DatasetError> {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        text.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text).map_err(|e| DatasetError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DatasetError::io(path, e)
        })
    }
}

/// Node and edge statistics of a list of graphs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of graphs.
    pub graphs: usize,
    /// Smallest node count (0 for no graphs).
    pub min_nodes: usize,
    /// Largest node count.
    pub max_nodes: usize,
    /// Mean node count.
    pub mean_nodes: f64,
    /// Smallest edge count.
    pub min_edges: usize,
    /// Largest edge count.
    pub max_edges: usize,
    /// Mean edge count.
    pub mean_edges: f64,
}

impl Summary {
    /// Statistics of `graphs`.
    pub fn of(graphs: &[Graph]) -> Summary {
        let k = graphs.len();
        let nodes = graphs.iter().map(Graph::n);
        let edges = graphs.iter().map(Graph::num_edges);
        let mean = |s: usize| if k == 0 { 0.0 } else { s as f64 / k as f64 };
        Summary {
            graphs: k,
            min_nodes: nodes.clone().min().unwrap_or(0),
            max_nodes: nodes.clone().max().unwrap_or(0),
            mean_nodes: mean(nodes.sum()),
            min_edges: edges.clone().min().unwrap_or(0),
            max_edges: edges.clone().max().unwrap_or(0),
            mean_edges: mean(edges.sum()),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} graphs, {}–{} nodes (mean {:.2}), {}–{} edges (mean {:.2})",
            self.graphs,
            self.min_nodes,
            self.max_nodes,
            self.mean_nodes,
            self.min_edges,
            self.max_edges,
            self.mean_edges
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_recipes_parse_and_round_trip() {
        for name in builtin_names() {
            let r = Recipe::builtin(name).unwrap();
            assert_eq!(r.name, name);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(Recipe::from_json(&json, "round trip").unwrap(), r);
        }
        assert_eq!(
            Recipe::builtin("Community_Small").unwrap().name,
            "community-small"
        );
        assert_eq!(Recipe::builtin("ENZYMES").unwrap().name, "enzymes");
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let e = Dataset::generate("comunity-small", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown dataset 'comunity-small'"), "{e}");
        for n in builtin_names() {
            assert!(e.contains(n), "{e}");
        }
    }

    #[test]
    fn missing_source_says_flag_and_files() {
        let e = Dataset::generate("enzymes", None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--source")
                && e.contains("ENZYMES_A.txt")
                && e.contains("ENZYMES_graph_indicator.txt"),
            "{e}"
        );
        let e = Dataset::generate("ego-small", None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--source") && e.contains("ind.citeseer.graph or citeseer.edges"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = Dataset::generate("ego-small", None, Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ind.citeseer.graph: not found") && e.contains("citeseer.edges"),
            "{e}"
        );
    }

    #[test]
    fn bad_recipes_are_refused() {
        let good = BUILTIN_JSON[0].1;
        let typo = good.replace("\"p_intra\"", "\"p_intar\"");
        let e = Recipe::from_json(&typo, "typo.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("recipe typo.json:") && e.contains("p_intar"),
            "{e}"
        );
        let bad_kind = good.replace("\"community\"", "\"communitee\"");
        assert!(Recipe::from_json(&bad_kind, "x").is_err());
        let bad_split = good.replace("\"test_fraction\": 0.2", "\"test_fraction\": 2.0");
        assert!(Recipe::from_json(&bad_split, "x")
            .unwrap_err()
            .to_string()
            .contains("test_fraction"));
    }

    #[test]
    fn fingerprint_tracks_graphs_and_split() {
        let a = Dataset::generate("community-small", Some(1), None).unwrap();
        let b = Dataset::generate("community-small", Some(1), None).unwrap();
        let c = Dataset::generate("community-small", Some(2), None).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        let mut d = a.clone();
        d.split_rule = SplitRule::test_first(0.3);
        assert_ne!(a.fingerprint(), d.fingerprint());
    }

    #[test]
    fn manifest_travels_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("planar.jsonl");
        let ds = Dataset::generate("planar", Some(3), None).unwrap();
        crate::io::write_graphs(&file, crate::io::GraphFormat::JsonLines, &ds.graphs).unwrap();
        // No manifest and no rule: an error naming the manifest looked for.
        let e = Dataset::load(&file, None).unwrap_err().to_string();
        assert!(e.contains("planar.jsonl.dataset.json"), "{e}");
        assert_eq!(
            Dataset::load(&file, Some(SplitRule::default()))
                .unwrap()
                .split_rule,
            SplitRule::default()
        );
        ds.manifest().write(&manifest_path(&file)).unwrap();
        let back = Dataset::load(&file, Some(SplitRule::default())).unwrap();
        assert_eq!(back.split_rule, ds.split_rule);
        assert_eq!(back.name, "planar");
        assert_eq!(back.origin, ds.origin);
        assert_eq!(back.fingerprint(), ds.fingerprint());
        // A changed graph file no longer matches its manifest.
        crate::io::write_graphs(&file, crate::io::GraphFormat::JsonLines, &ds.graphs[1..]).unwrap();
        let e = Dataset::load(&file, None).unwrap_err().to_string();
        assert!(
            e.contains("describes 200 graphs") && e.contains("199 graphs"),
            "{e}"
        );
    }

    #[test]
    fn summary_line() {
        let g = vec![
            Graph::new(3, [(0, 1)]).unwrap(),
            Graph::new(5, [(0, 1), (1, 2), (3, 4)]).unwrap(),
        ];
        let s = Summary::of(&g);
        assert_eq!(
            (s.min_nodes, s.max_nodes, s.min_edges, s.max_edges),
            (3, 5, 1, 3)
        );
        assert_eq!(
            s.to_string(),
            "2 graphs, 3–5 nodes (mean 4.00), 1–3 edges (mean 2.00)"
        );
    }
}
