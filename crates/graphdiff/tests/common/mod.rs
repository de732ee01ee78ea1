//! Helpers the CLI tests share: the binary under test, a small training set, a run's metrics.
// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `graphdiff` binary of this build, with one OpenMP thread (the tests run in parallel).
pub fn bin() -> Command {
    let mut c = Command::cargo_bin("graphdiff").unwrap();
    c.env("OMP_NUM_THREADS", "1");
    c
}

/// 24 small training graphs as JSON lines in `dir/train.jsonl`: paths (even indices) and
/// stars (odd), 4..=11 nodes, every third with one chord; with `extra_big`, in
/// `dir/big.jsonl`, the same 24 and a path of 15 nodes.
pub fn write_small_graphs(dir: &Path, extra_big: bool) -> PathBuf {
    let mut lines = String::new();
    for i in 0..24usize {
        let n = 4 + i % 8;
        let mut edges: Vec<[usize; 2]> = if i % 2 == 0 {
            (0..n - 1).map(|u| [u, u + 1]).collect()
        } else {
            (1..n).map(|v| [0, v]).collect()
        };
        if i % 3 == 0 {
            edges.push([1, n - 1]);
        }
        lines.push_str(&serde_json::json!({"n": n, "edges": edges}).to_string());
        lines.push('\n');
    }
    if extra_big {
        let n = 15;
        let edges: Vec<[usize; 2]> = (0..n - 1).map(|u| [u, u + 1]).collect();
        lines.push_str(&serde_json::json!({"n": n, "edges": edges}).to_string());
        lines.push('\n');
    }
    let path = dir.join(if extra_big {
        "big.jsonl"
    } else {
        "train.jsonl"
    });
    std::fs::write(&path, lines).unwrap();
    path
}

/// The records of a run's `metrics.jsonl`.
pub fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
