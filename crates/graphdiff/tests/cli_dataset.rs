//! CLI tests of `graphdiff dataset`: every synthetic dataset written and read back in every
//! format, the file readers on the shared raw data, manifests, and the mistakes a new user
//! makes (each exits 2 with one line).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use graph_tensor::datasets::{builtin_names, manifest_path, Dataset, Recipe, SplitRule};
use graph_tensor::io::{read_from, read_graphs, GraphFormat};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

fn graphdiff() -> Command {
    Command::cargo_bin("graphdiff").unwrap()
}

/// Runs `graphdiff dataset ARGS`, expecting success; returns (stdout, stderr).
fn ok(args: &[&str]) -> (Vec<u8>, String) {
    let out = graphdiff().arg("dataset").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "graphdiff dataset {args:?}: {stderr}");
    (out.stdout, stderr)
}

/// Runs `graphdiff dataset ARGS`, expecting exit code 2 and a one-line error; returns it.
fn fails(args: &[&str]) -> String {
    let out = graphdiff().arg("dataset").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "graphdiff dataset {args:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_synthetic_dataset_round_trips_through_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let formats = ["g6", "jsonl", "s6", "edgelist", "json", "npz"];
    let mut k = 0;
    for name in builtin_names() {
        let recipe = Recipe::builtin(name).unwrap();
        if recipe.generator.needs_source() {
            continue;
        }
        let ext = formats[k % formats.len()];
        k += 1;
        let path = dir.path().join(format!("{name}.{ext}"));
        let (stdout, stderr) = ok(&[name, "--out", s(&path)]);
        assert!(stdout.is_empty());
        // One summary line on stderr naming the dataset, its size and its split.
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let want = Dataset::generate(name, None, None).unwrap();
        assert!(
            stderr.contains(name) && stderr.contains(&format!("{} graphs", want.len())),
            "{stderr}"
        );
        assert!(stderr.contains("split"), "{stderr}");
        let back = read_graphs(&path).unwrap();
        assert_eq!(back, want.graphs, "{name} through .{ext}");
        // The manifest carries the split rule and checks the graphs.
        let loaded = Dataset::load(&path, None).unwrap();
        assert_eq!(loaded.split_rule, want.split_rule);
        assert_eq!(loaded.fingerprint(), want.fingerprint());
    }
    assert_eq!(k, 7);
}

#[test]
fn seeds_change_the_graphs_and_only_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    ok(&["planar", "--seed", "5", "--out", s(&p("a.g6"))]);
    ok(&["planar", "--seed", "5", "--out", s(&p("b.g6"))]);
    ok(&["planar", "--seed", "6", "--out", s(&p("c.g6"))]);
    let read = |n: &str| std::fs::read(p(n)).unwrap();
    assert_eq!(read("a.g6"), read("b.g6"));
    assert_ne!(read("a.g6"), read("c.g6"));
    assert_eq!(
        read_graphs(&p("a.g6")).unwrap(),
        Dataset::generate("planar", Some(5), None).unwrap().graphs
    );
}

#[test]
fn standard_output_and_formats() {
    let (stdout, stderr) = ok(&["tree", "--out", "-"]);
    assert!(stderr.contains("standard output"), "{stderr}");
    let graphs = read_from(&stdout[..], GraphFormat::Graph6, Path::new("<stdout>")).unwrap();
    assert_eq!(
        graphs,
        Dataset::generate("tree", None, None).unwrap().graphs
    );
    let (stdout, _) = ok(&["grid", "--out", "-", "--format", "jsonl"]);
    assert_eq!(String::from_utf8(stdout).unwrap().lines().count(), 100);
    // npz to a pipe is allowed (stdout is not a terminal here).
    let (stdout, _) = ok(&["community-small", "--out", "-", "--format", "npz"]);
    let graphs = read_from(&stdout[..], GraphFormat::Npz, Path::new("<stdout>")).unwrap();
    assert_eq!(graphs.len(), 100);
}

#[test]
fn list_names_every_dataset_once() {
    let (stdout, _) = ok(&["--list"]);
    let text = String::from_utf8(stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), builtin_names().len());
    for (line, name) in lines.iter().zip(builtin_names()) {
        assert!(
            line.starts_with(name) && line.len() > name.len() + 10,
            "{line}"
        );
    }
}

#[test]
fn readers_of_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    let ego = dir.path().join("ego.g6");
    let citeseer = shared("datasets/citeseer");
    let (_, stderr) = ok(&["ego-small", "--source", s(&citeseer), "--out", s(&ego)]);
    assert!(stderr.contains("200 graphs, 4–17 nodes"), "{stderr}");
    let enz = dir.path().join("enzymes.g6");
    let enzymes = shared("datasets/ENZYMES");
    ok(&["enzymes", "--source", s(&enzymes), "--out", s(&enz)]);
    // The published GDSS list, graph for graph (node order included).
    assert_eq!(
        read_graphs(&enz).unwrap(),
        read_graphs(&shared("datasets/gdss/enzymes.g6")).unwrap()
    );
    let m = std::fs::read_to_string(manifest_path(&enz)).unwrap();
    assert!(m.contains("\"source_dir\""), "{m}");
}

#[test]
fn graph_files_recipes_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    let published = shared("datasets/gdss/community_small.g6");
    // A file without a manifest needs a split rule.
    let e = fails(&[
        "--data",
        s(&published),
        "--out",
        s(&dir.path().join("x.jsonl")),
    ]);
    assert!(
        e.contains("--split") && e.contains("community_small.g6.dataset.json"),
        "{e}"
    );
    let out = dir.path().join("cs.jsonl");
    let (_, stderr) = ok(&["--data", s(&published), "--split", "gdss", "--out", s(&out)]);
    assert!(stderr.contains("80/0/20"), "{stderr}");
    assert_eq!(read_graphs(&out).unwrap(), read_graphs(&published).unwrap());
    // Converting again picks the rule up from the manifest; --split overrides it.
    let out2 = dir.path().join("cs2.g6");
    let (_, stderr) = ok(&["--data", s(&out), "--out", s(&out2)]);
    assert!(stderr.contains("80/0/20"), "{stderr}");
    let (_, stderr) = ok(&["--data", s(&out), "--split", "digress", "--out", s(&out2)]);
    assert!(stderr.contains("64/16/20"), "{stderr}");
    assert_eq!(
        Dataset::load(&out2, None).unwrap().split_rule,
        "digress".parse::<SplitRule>().unwrap()
    );

    // --show-recipe prints a recipe that --recipe accepts back, edited.
    let (stdout, _) = ok(&["tree", "--show-recipe"]);
    let text = String::from_utf8(stdout).unwrap();
    let edited = text.replace("\"graphs\": 200", "\"graphs\": 12");
    assert_ne!(edited, text);
    let recipe = dir.path().join("small-tree.json");
    std::fs::write(&recipe, edited).unwrap();
    let out3 = dir.path().join("t.g6");
    let (_, stderr) = ok(&["--recipe", s(&recipe), "--out", s(&out3)]);
    assert!(stderr.contains("12 graphs"), "{stderr}");
    std::fs::write(&recipe, text.replace("\"graphs\"", "\"graphz\"")).unwrap();
    let e = fails(&["--recipe", s(&recipe), "--out", s(&out3)]);
    assert!(e.contains("small-tree.json") && e.contains("graphz"), "{e}");
}

#[test]
fn mistakes_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.g6");
    let e = fails(&["comunity-small", "--out", s(&out)]);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("unknown dataset 'comunity-small'") && e.contains("community-small"),
        "{e}"
    );
    let e = fails(&["enzymes", "--out", s(&out)]);
    assert!(e.contains("--source") && e.contains("ENZYMES_A.txt"), "{e}");
    let e = fails(&["ego-small", "--source", s(dir.path()), "--out", s(&out)]);
    assert!(
        e.contains("ind.citeseer.graph: not found") && e.contains("citeseer.edges"),
        "{e}"
    );
    let e = fails(&["planar", "--source", s(dir.path()), "--out", s(&out)]);
    assert!(e.contains("--source"), "{e}");
    let e = fails(&["sbm", "--out", s(&dir.path().join("x.unknown"))]);
    assert!(e.contains("--format"), "{e}");
    let e = fails(&["sbm", "--out", s(&dir.path().join("missing/x.g6"))]);
    assert!(e.contains("does not exist"), "{e}");
    let e = fails(&["sbm"]);
    assert!(e.contains("--out"), "{e}");
    let e = fails(&["--out", s(&out)]);
    assert!(e.contains("name a dataset"), "{e}");
    let e = fails(&["planar", "--split", "shuffled", "--out", s(&out)]);
    assert!(e.contains("digress"), "{e}");
    let e = fails(&[
        "--data",
        s(&dir.path().join("none.g6")),
        "--split",
        "gdss",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("none.g6"), "{e}");
    assert!(!out.exists(), "nothing is written on error");
}
