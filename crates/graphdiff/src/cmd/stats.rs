//! `graphdiff stats FILE`: summary statistics of a graph file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use graph_tensor::io::{read_graphs_detect, GraphFormat};
use graph_tensor::Graph;
use serde::Serialize;

/// The examples shown by `-h` and `--help`.
macro_rules! examples {
    () => {
        "Examples:\n  graphdiff stats community_small.g6\n  graphdiff stats samples.jsonl --json\n  \
         cat graphs.txt | graphdiff stats - --format edgelist"
    };
}

/// Arguments of `graphdiff stats`.
#[derive(clap::Args)]
#[command(
    after_help = examples!(),
    after_long_help = concat!(
        "Reported: the number of graphs and of connected graphs; per graph, node and edge \
counts, the largest degree and the average local clustering (networkx's average_clustering), \
each as min / mean / max; per node, pooled over all graphs, degree and local clustering \
(networkx's clustering); the total and isolated node counts. A graph with no nodes counts as \
not connected and is left out of the per-graph degree and clustering rows.\n\n",
        examples!()
    )
)]
pub struct Args {
    /// Graph file to summarise: graph6 (.g6), sparse6 (.s6), edge list (.edgelist, .edges,
    /// .txt), JSON lines (.jsonl), networkx node-link JSON (.json) or npz; `-` reads standard
    /// input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Format of FILE: g6|graph6, s6|sparse6, edgelist, jsonl, json|node-link, npz.
    /// Default: from the extension, else recognised from the content.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<GraphFormat>,

    /// Print one JSON object (the same numbers, full precision) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Minimum, mean and maximum of a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Spread<T> {
    min: T,
    mean: f64,
    max: T,
}

/// Running minimum, sum and maximum (statistics are folded graph by graph, so memory is
/// that of one graph, not of every node of the file).
struct Acc<T> {
    min_max: Option<(T, T)>,
    sum: f64,
    count: usize,
}

impl<T: Copy + PartialOrd + Into<f64>> Acc<T> {
    fn new() -> Self {
        Acc {
            min_max: None,
            sum: 0.0,
            count: 0,
        }
    }

    fn push(&mut self, v: T) {
        self.min_max = Some(match self.min_max {
            None => (v, v),
            Some((lo, hi)) => (if v < lo { v } else { lo }, if v > hi { v } else { hi }),
        });
        self.sum += v.into();
        self.count += 1;
    }

    /// `None` when nothing was pushed.
    fn spread(&self) -> Option<Spread<T>> {
        let (min, max) = self.min_max?;
        Some(Spread {
            min,
            mean: self.sum / self.count as f64,
            max,
        })
    }
}

/// Counts as f64 for [`Spread`] (graph sizes are far below 2^53).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
struct Count(u64);

impl From<Count> for f64 {
    fn from(c: Count) -> f64 {
        c.0 as f64
    }
}

/// Everything `graphdiff stats` reports. Per-node spreads are pooled over all nodes of all
/// graphs; `None` (JSON `null`) when there are no nodes at all.
#[derive(Debug, Serialize)]
struct Summary {
    file: String,
    format: String,
    graphs: usize,
    connected_graphs: usize,
    nodes_total: usize,
    edges_total: usize,
    isolated_nodes: usize,
    /// Node count per graph.
    nodes: Option<Spread<Count>>,
    /// Edge count per graph.
    edges: Option<Spread<Count>>,
    /// Largest degree per graph (graphs with at least one node).
    max_degree: Option<Spread<Count>>,
    /// Degree per node.
    degree: Option<Spread<Count>>,
    /// Local clustering per node.
    clustering_per_node: Option<Spread<f64>>,
    /// Average local clustering per graph (graphs with at least one node).
    clustering_per_graph: Option<Spread<f64>>,
}

/// Whether a graph has at least one node and a single connected component.
fn is_connected(g: &Graph) -> bool {
    let n = g.n();
    if n == 0 {
        return false;
    }
    // Union-find with path halving.
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut components = n;
    for &(u, v) in g.edges() {
        let (a, b) = (root(&mut parent, u), root(&mut parent, v));
        if a != b {
            parent[a] = b;
            components -= 1;
        }
    }
    components == 1
}

fn summarize(graphs: &[Graph], file: String, format: GraphFormat) -> Summary {
    let count = |v: usize| Count(v as u64);
    let (mut nodes, mut edges) = (Acc::new(), Acc::new());
    let (mut degree, mut max_degree) = (Acc::new(), Acc::new());
    let (mut clustering, mut avg_clustering) = (Acc::new(), Acc::new());
    let (mut connected, mut isolated) = (0, 0);
    for g in graphs {
        nodes.push(count(g.n()));
        edges.push(count(g.num_edges()));
        connected += usize::from(is_connected(g));
        let d = g.degrees();
        isolated += d.iter().filter(|&&x| x == 0).count();
        d.iter().for_each(|&x| degree.push(count(x)));
        if let Some(&m) = d.iter().max() {
            max_degree.push(count(m));
        }
        drop(d);
        if g.n() == 0 {
            continue;
        }
        let c = if g.num_edges() == 0 {
            vec![]
        } else {
            g.local_clustering()
        };
        let mut sum = 0.0;
        for &x in &c {
            clustering.push(x);
            sum += x;
        }
        // An edgeless graph: clustering 0 at every node, without allocating per node.
        for _ in c.len()..g.n() {
            clustering.push(0.0);
        }
        avg_clustering.push(sum / g.n() as f64);
    }
    Summary {
        file,
        format: format.to_string(),
        graphs: graphs.len(),
        connected_graphs: connected,
        nodes_total: graphs.iter().map(Graph::n).sum(),
        edges_total: graphs.iter().map(Graph::num_edges).sum(),
        isolated_nodes: isolated,
        nodes: nodes.spread(),
        edges: edges.spread(),
        max_degree: max_degree.spread(),
        degree: degree.spread(),
        clustering_per_node: clustering.spread(),
        clustering_per_graph: avg_clustering.spread(),
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

fn write_table(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    const W: usize = 24;
    writeln!(out, "{:<W$}{}", "file", s.file)?;
    writeln!(out, "{:<W$}{}", "format", s.format)?;
    writeln!(out, "{:<W$}{}", "graphs", s.graphs)?;
    writeln!(
        out,
        "{:<W$}{} ({})",
        "connected graphs",
        s.connected_graphs,
        percent(s.connected_graphs, s.graphs)
    )?;
    writeln!(out, "{:<W$}{}", "nodes (total)", s.nodes_total)?;
    writeln!(out, "{:<W$}{}", "edges (total)", s.edges_total)?;
    writeln!(
        out,
        "{:<W$}{} ({} of nodes)",
        "isolated nodes",
        s.isolated_nodes,
        percent(s.isolated_nodes, s.nodes_total)
    )?;
    writeln!(out)?;
    writeln!(out, "{:<W$}{:>10}{:>12}{:>10}", "", "min", "mean", "max")?;
    let count_row = |out: &mut dyn Write, label: &str, v: &Option<Spread<Count>>| match v {
        Some(v) => writeln!(
            out,
            "{label:<W$}{:>10}{:>12.4}{:>10}",
            v.min.0, v.mean, v.max.0
        ),
        None => writeln!(out, "{label:<W$}{:>10}{:>12}{:>10}", "-", "-", "-"),
    };
    let float_row = |out: &mut dyn Write, label: &str, v: &Option<Spread<f64>>| match v {
        Some(v) => writeln!(
            out,
            "{label:<W$}{:>10.4}{:>12.4}{:>10.4}",
            v.min, v.mean, v.max
        ),
        None => writeln!(out, "{label:<W$}{:>10}{:>12}{:>10}", "-", "-", "-"),
    };
    writeln!(out, "per graph")?;
    count_row(out, "  nodes", &s.nodes)?;
    count_row(out, "  edges", &s.edges)?;
    count_row(out, "  max degree", &s.max_degree)?;
    float_row(out, "  avg clustering", &s.clustering_per_graph)?;
    writeln!(out, "per node (all graphs)")?;
    count_row(out, "  degree", &s.degree)?;
    float_row(out, "  clustering", &s.clustering_per_node)?;
    Ok(())
}

/// Runs `graphdiff stats`.
pub fn run(args: Args) -> Result<()> {
    let (graphs, format) = read_graphs_detect(&args.file, args.format)?;
    let summary = summarize(&graphs, args.file.display().to_string(), format);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &summary)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn summary_of_a_small_list() {
        // A triangle with a pendant node, an isolated pair (one edge, one isolated node:
        // disconnected), and the empty graph.
        let graphs = vec![
            Graph::new(4, [(0, 1), (1, 2), (0, 2), (2, 3)]).unwrap(),
            Graph::new(3, [(0, 1)]).unwrap(),
            Graph::empty(0),
        ];
        let s = summarize(&graphs, "t".into(), GraphFormat::Graph6);
        assert_eq!(
            (s.graphs, s.connected_graphs, s.nodes_total, s.edges_total),
            (3, 1, 7, 5)
        );
        assert_eq!(s.isolated_nodes, 1);
        let nodes = s.nodes.unwrap();
        assert_eq!((nodes.min, nodes.max), (Count(0), Count(4)));
        assert_relative_eq!(nodes.mean, 7.0 / 3.0);
        let deg = s.degree.unwrap();
        assert_eq!((deg.min, deg.max), (Count(0), Count(3)));
        assert_relative_eq!(deg.mean, 10.0 / 7.0);
        let maxd = s.max_degree.unwrap();
        assert_eq!((maxd.min, maxd.max), (Count(1), Count(3)));
        assert_relative_eq!(maxd.mean, 2.0);
        // networkx: clustering of the first graph is [1, 1, 1/3, 0]; the second is all 0.
        let per_node = s.clustering_per_node.unwrap();
        assert_relative_eq!(per_node.mean, (1.0 + 1.0 + 1.0 / 3.0) / 7.0);
        let per_graph = s.clustering_per_graph.unwrap();
        assert_relative_eq!(per_graph.mean, ((1.0 + 1.0 + 1.0 / 3.0) / 4.0 + 0.0) / 2.0);
        assert_relative_eq!(per_graph.max, (1.0 + 1.0 + 1.0 / 3.0) / 4.0);
    }

    #[test]
    fn table_without_nodes_has_dashes() {
        let s = summarize(&[Graph::empty(0)], "t".into(), GraphFormat::JsonLines);
        assert!(s.degree.is_none() && s.clustering_per_graph.is_none());
        let mut buf = Vec::new();
        write_table(&mut buf, &s).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("connected graphs        0 (0.0%)"), "{text}");
        assert!(
            text.contains("isolated nodes          0 (- of nodes)"),
            "{text}"
        );
    }

    #[test]
    fn connectivity() {
        assert!(is_connected(&Graph::empty(1)));
        assert!(!is_connected(&Graph::empty(2)));
        assert!(is_connected(
            &Graph::new(4, [(0, 3), (3, 1), (2, 1)]).unwrap()
        ));
        assert!(!is_connected(&Graph::new(4, [(0, 1), (2, 3)]).unwrap()));
    }
}
