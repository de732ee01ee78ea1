//! `graphdiff eval`: values against the reference test cases, the settings named in the
//! output, and one-line errors with exit code 2.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mmd-cases")
}

fn case(name: &str, side: &str) -> PathBuf {
    cases().join(name).join(format!("{side}.jsonl"))
}

fn graphdiff() -> Command {
    Command::cargo_bin("graphdiff").unwrap()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(cases().join("expected.json")).unwrap()).unwrap()
}

/// Runs eval with `--json` and returns the parsed report.
fn eval_json(extra: &[&str], name: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    graphdiff()
        .arg("eval")
        .arg("--ref")
        .arg(case(name, "ref"))
        .arg("--gen")
        .arg(case(name, "gen"))
        .args(extra)
        .arg("--json")
        .arg(&out)
        .assert()
        .success();
    assert!(!dir.path().join("out.json.tmp").exists());
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

fn check_values(report: &Value, want: &Value) {
    for stat in ["degree", "clustering", "orbit", "spectral"] {
        let got = report["report"]["mmd"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["statistic"] == stat)
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        let w = want[stat].as_f64().unwrap();
        assert!(
            (got - w).abs() <= 1e-9 * w.abs(),
            "{stat}: got {got}, expected {w}"
        );
    }
}

#[test]
fn reproduces_reference_values_graphrnn_and_gran() {
    let exp = expected();
    for name in ["case1_community_vs_er", "case5_edge_cases"] {
        let r = eval_json(&["--keep-isolated"], name);
        assert_eq!(r["report"]["protocol"], "graphrnn");
        assert_eq!(r["report"]["isolated_nodes"], "keep");
        check_values(&r, &exp["cases"][name]["expected"]);
        let r = eval_json(&["--keep-isolated", "--protocol", "gran"], name);
        check_values(&r, &exp["cases"][name]["expected_gran"]);
    }
}

#[test]
fn json_names_protocol_kernels_and_sigmas() {
    let r = eval_json(
        &["--metrics", "degree,orbit", "--kernel", "orbit=tv:3"],
        "case1_community_vs_er",
    );
    let mmd = r["report"]["mmd"].as_array().unwrap();
    assert_eq!(mmd.len(), 2);
    assert_eq!(mmd[0]["statistic"], "degree");
    assert_eq!(mmd[0]["kernel"]["kind"], "gaussian_emd");
    assert_eq!(mmd[0]["kernel"]["sigma"], 1.0);
    assert_eq!(mmd[0]["kernel"]["distance_scaling"], 1.0);
    assert_eq!(mmd[1]["kernel"]["kind"], "gaussian_tv");
    assert_eq!(mmd[1]["kernel"]["sigma"], 3.0);
    assert!(r["report"]["estimator"]
        .as_str()
        .unwrap()
        .contains("squared MMD"));
    assert!(r["report"]["spectral_note"]
        .as_str()
        .unwrap()
        .contains("clipped"));
    let r = eval_json(&["--protocol", "ggm"], "case1_community_vs_er");
    let mmd = r["report"]["mmd"].as_array().unwrap();
    assert_eq!(mmd.len(), 3);
    assert_eq!(mmd[0]["kernel"]["kind"], "rbf_max_over_sigmas");
    assert_eq!(mmd[0]["kernel"]["sigmas"].as_array().unwrap().len(), 20);
    assert_eq!(r["report"]["isolated_nodes"], "keep");
}

#[test]
fn default_removes_isolated_nodes_and_says_so() {
    let name = "case5_edge_cases";
    graphdiff()
        .arg("eval")
        .arg("--ref")
        .arg(case(name, "ref"))
        .arg("--gen")
        .arg(case(name, "gen"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "isolated nodes of generated graphs are removed",
        ))
        .stdout(predicate::str::contains("44 nodes removed"))
        .stdout(predicate::str::contains("protocol      graphrnn"));
    // And the values then differ from the keep-isolated reference values.
    let r = eval_json(&[], name);
    let exp = expected();
    let deg = r["report"]["mmd"][0]["value"].as_f64().unwrap();
    let want = exp["cases"][name]["expected"]["degree"].as_f64().unwrap();
    assert!((deg - want).abs() > 1e-6);
    assert_eq!(r["report"]["generated_isolated_nodes_removed"], 44);
}

fn write(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[test]
fn novelty_validity_and_vun() {
    let dir = tempfile::tempdir().unwrap();
    let path5 = r#"{"n":5,"edges":[[0,1],[1,2],[2,3],[3,4]]}"#;
    let path5b = r#"{"n":5,"edges":[[4,3],[3,1],[1,0],[0,2]]}"#;
    let star = r#"{"n":5,"edges":[[0,1],[0,2],[0,3],[0,4]]}"#;
    let c4 = r#"{"n":4,"edges":[[0,1],[1,2],[2,3],[0,3]]}"#;
    let gen = write(dir.path(), "gen.jsonl", &[path5, path5b, star, c4]);
    let train = write(dir.path(), "train.jsonl", &[star]);
    graphdiff()
        .args(["eval", "--ref"])
        .arg(&train)
        .arg("--gen")
        .arg(&gen)
        .arg("--train")
        .arg(&train)
        .args(["--validity", "tree", "--metrics", "degree"])
        .assert()
        .success()
        .stdout(predicate::str::contains("unique        75.0% of 4"))
        .stdout(predicate::str::contains("novel         75.0%"))
        .stdout(predicate::str::contains("unique+novel  50.0%"))
        .stdout(predicate::str::contains("valid         75.0% (tree)"))
        .stdout(predicate::str::contains("V.U.N.        25.0%"));
}

fn fails_with(args: &[&str], needle: &str) {
    let out = graphdiff().args(args).assert().code(2).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn errors_are_one_line_with_exit_2() {
    let r = case("case1_community_vs_er", "ref");
    let g = case("case1_community_vs_er", "gen");
    let (r, g) = (r.to_str().unwrap(), g.to_str().unwrap());
    fails_with(
        &["eval", "--ref", r, "--gen", g, "--protocol", "nope"],
        "unknown protocol 'nope'",
    );
    fails_with(
        &["eval", "--ref", r, "--gen", g, "--metrics", "degree,motif"],
        "unknown statistic 'motif'",
    );
    fails_with(
        &["eval", "--ref", r, "--gen", g, "--kernel", "orbit=tv:-2"],
        "σ must be finite and > 0",
    );
    fails_with(
        &["eval", "--ref", r, "--gen", g, "--validity", "sbm"],
        "graph-tool",
    );
    fails_with(
        &["eval", "--ref", r, "--gen", g, "--validity", "grid"],
        "unknown validity family 'grid'",
    );
    fails_with(
        &["eval", "--ref", "does-not-exist.g6", "--gen", g],
        "does-not-exist.g6",
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.g6");
    std::fs::write(&empty, "").unwrap();
    fails_with(
        &["eval", "--ref", r, "--gen", empty.to_str().unwrap()],
        "generated",
    );
}
