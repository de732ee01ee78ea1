//! CLI tests of `graphdiff stats`: a published dataset against networkx's numbers, every
//! input format, and the bad inputs a new user would try (each must exit 2 with one line
//! naming the file, and never panic).

use std::path::{Path, PathBuf};

use approx::assert_relative_eq;
use assert_cmd::Command;
use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

fn graphdiff() -> Command {
    Command::cargo_bin("graphdiff").unwrap()
}

fn stats_json(args: &[&str]) -> Value {
    let out = graphdiff()
        .arg("stats")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn community_small_matches_networkx() {
    let path = shared("datasets/gdss/community_small.g6");
    let s = stats_json(&[path.to_str().unwrap()]);
    // Reference: networkx 3.6 on the same file (read_graph6, degree, clustering,
    // average_clustering, is_connected).
    assert_eq!(s["format"], "graph6");
    assert_eq!(s["graphs"], 100);
    assert_eq!(s["connected_graphs"], 100);
    assert_eq!(s["nodes_total"], 1528);
    assert_eq!(s["edges_total"], 3515);
    assert_eq!(s["isolated_nodes"], 0);
    assert_eq!(
        (s["nodes"]["min"].as_u64(), s["nodes"]["max"].as_u64()),
        (Some(12), Some(20))
    );
    assert_relative_eq!(
        s["nodes"]["mean"].as_f64().unwrap(),
        15.28,
        max_relative = 1e-12
    );
    assert_eq!(
        (s["edges"]["min"].as_u64(), s["edges"]["max"].as_u64()),
        (Some(21), Some(60))
    );
    assert_relative_eq!(
        s["edges"]["mean"].as_f64().unwrap(),
        35.15,
        max_relative = 1e-12
    );
    assert_eq!(
        (s["degree"]["min"].as_u64(), s["degree"]["max"].as_u64()),
        (Some(2), Some(9))
    );
    assert_relative_eq!(
        s["degree"]["mean"].as_f64().unwrap(),
        4.600785340314136,
        max_relative = 1e-12
    );
    assert_eq!(s["max_degree"]["min"].as_u64(), Some(5));
    assert_relative_eq!(
        s["max_degree"]["mean"].as_f64().unwrap(),
        6.36,
        max_relative = 1e-12
    );
    let c = &s["clustering_per_node"];
    assert_relative_eq!(
        c["mean"].as_f64().unwrap(),
        0.5797863167954801,
        max_relative = 1e-12
    );
    assert_relative_eq!(c["min"].as_f64().unwrap(), 1.0 / 6.0, max_relative = 1e-12);
    assert_relative_eq!(c["max"].as_f64().unwrap(), 1.0, max_relative = 1e-12);
    let c = &s["clustering_per_graph"];
    assert_relative_eq!(
        c["mean"].as_f64().unwrap(),
        0.5739204805996468,
        max_relative = 1e-12
    );
    assert_relative_eq!(
        c["min"].as_f64().unwrap(),
        0.43809523809523804,
        max_relative = 1e-12
    );
    assert_relative_eq!(
        c["max"].as_f64().unwrap(),
        0.7352733686067021,
        max_relative = 1e-12
    );
}

#[test]
fn table_is_readable() {
    let path = shared("datasets/gdss/community_small.g6");
    let out = graphdiff().arg("stats").arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for row in [
        "format                  graph6\n",
        "graphs                  100\n",
        "connected graphs        100 (100.0%)\n",
        "  nodes                         12     15.2800        20\n",
        "  degree                         2      4.6008         9\n",
    ] {
        assert!(text.contains(row), "missing {row:?} in\n{text}");
    }
}

#[test]
fn citeseer_edge_list_and_stdin() {
    let path = shared("datasets/citeseer/citeseer.edges");
    let s = stats_json(&[path.to_str().unwrap()]);
    assert_eq!(
        (s["format"].as_str(), s["graphs"].as_u64()),
        (Some("edgelist"), Some(1))
    );
    // 4,676 lines less 124 self-loops (networkx: 4,552 edges); Citeseer has 48 isolated
    // nodes and is not connected.
    assert_eq!(s["nodes_total"], 3327);
    assert_eq!(s["edges_total"], 4552);
    assert_eq!(s["connected_graphs"], 0);
    // The same through standard input, format sniffed.
    let out = graphdiff()
        .args(["stats", "-", "--json"])
        .pipe_stdin(&path)
        .unwrap()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (t["edges_total"].as_u64(), t["file"].as_str()),
        (Some(4552), Some("-"))
    );
}

#[test]
fn every_format_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let graphs = graph_tensor::io::read_graphs(&shared("datasets/gdss/ego_small.g6")).unwrap();
    let reference = stats_json(&[shared("datasets/gdss/ego_small.g6").to_str().unwrap()]);
    for format in graph_tensor::io::GraphFormat::ALL {
        let p = dir.path().join(format!("ego.{}", format.extension()));
        graph_tensor::io::write_graphs(&p, format, &graphs).unwrap();
        let mut s = stats_json(&[p.to_str().unwrap()]);
        assert_eq!(s["format"], format.name());
        for key in ["file", "format"] {
            s[key] = reference[key].clone();
        }
        assert_eq!(s, reference, "{format}");
        // --format overrides the extension.
        let q = dir.path().join(format!("ego-{}.bin", format.extension()));
        std::fs::copy(&p, &q).unwrap();
        let s = stats_json(&[q.to_str().unwrap(), "--format", format.extension()]);
        assert_eq!(s["graphs"], 200);
    }
}

/// Runs `graphdiff stats` on a file that must be refused: exit code 2, one line on stderr
/// naming the file and containing `expect`, nothing on stdout, no panic.
fn refused(path: &Path, extra: &[&str], expect: &str) {
    let out = graphdiff()
        .arg("stats")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "does not name {name}: {err}");
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let g6 = std::fs::read(shared("datasets/gdss/community_small.g6")).unwrap();
    // Truncated graph6: the file cut in the middle of its 17th line.
    let cut = g6
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(15)
        .unwrap()
        .0
        + 6;
    refused(
        &write("truncated.g6", &g6[..cut]),
        &[],
        "line 17: graph6 header says 18 nodes (26 bytes of edges) but 4 bytes of edges follow",
    );
    // Wrong header: a sparse6 file named .g6, a misspelt header, a graph6 header in .s6.
    refused(
        &write("wrong.g6", b">>sparse6<<:Bd\n"),
        &[],
        "line 1: this is sparse6",
    );
    refused(
        &write("typo.g6", b">>grpah6<<Bg\n"),
        &[],
        "line 1: unknown header '>>grpah6<<' (expected '>>graph6<<')",
    );
    refused(
        &write("other.s6", b">>graph6<<Bg\n"),
        &[],
        "does not start with ':'",
    );
    // An edge to a missing node in JSON lines.
    refused(
        &write(
            "missing-node.jsonl",
            b"{\"n\": 3, \"edges\": [[0, 1]]}\n{\"n\": 3, \"edges\": [[0, 3]]}\n",
        ),
        &[],
        "line 2: edge 0-3 names node 3, but the graph has only 3 nodes",
    );
    refused(
        &write("header.edges", b"# graph 0 nodes 3\n0 1\n2 3\n"),
        &[],
        "line 3: edge 2 3 names node 3",
    );
    // Empty files, in a known and an unknown format.
    refused(&write("empty.g6", b""), &[], "no graphs in");
    refused(&write("empty.dat", b""), &[], "no graphs in");
    refused(&write("blank.jsonl", b"\n\n  \n"), &[], "no graphs in");
    // Binary garbage: named as graph6, and with no telling extension.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    refused(
        &write("garbage.g6", &garbage),
        &[],
        "not a graph6 character",
    );
    refused(
        &write("garbage.bin", &garbage),
        &[],
        "cannot tell the graph format",
    );
    refused(&write("garbage.npz", &garbage), &[], "zip");
    refused(&write("garbage.json", &garbage), &[], "line 1 column");
    // A huge node count declared with no data.
    refused(
        &write("huge.g6", b"~~~~~~~~\n"),
        &[],
        "more than the 16777216",
    );
    refused(
        &write("huge.jsonl", b"{\"n\": 99999999999, \"edges\": []}\n"),
        &[],
        "more than",
    );
    // A file that does not exist, and a directory.
    refused(&dir.path().join("does-not-exist.g6"), &[], "No such file");
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    refused(&sub, &[], "a-directory");
    // The right file read as the wrong format.
    let ok = write("fine.g6", b"Bg\n");
    refused(&ok, &["--format", "jsonl"], "fine.g6 line 1");
}

#[test]
fn unknown_format_name_is_a_usage_error() {
    let out = graphdiff()
        .args(["stats", "x.g6", "--format", "graphml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown graph format 'graphml'"), "{err}");
}

#[test]
fn help_documents_every_flag() {
    let out = graphdiff().args(["stats", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "<FILE>",
        "--format <FORMAT>",
        "--json",
        "standard input",
        "average_clustering",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from\n{help}");
    }
}
