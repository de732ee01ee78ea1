//! `graphdiff sample --shard I/K` and `graphdiff eval` with several `--gen` files: the shards
//! of a request, concatenated, are byte for byte the unsharded file, and evaluate alike.
#![cfg(feature = "torch")]

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::bin;

/// A trained per-size Erdős–Rényi baseline (fast) in `dir/run`.
fn trained_run(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("train.g6");
    bin()
        .args(["dataset", "community-small", "--seed", "1", "--out"])
        .arg(&data)
        .assert()
        .success();
    let run = dir.join("run");
    bin()
        .args(["train", "erdos-renyi", "--data"])
        .arg(&data)
        .args(["--run-dir"])
        .arg(&run)
        .args(["--steps", "3"])
        .assert()
        .success();
    run
}

fn sample(run: &Path, count: usize, shard: Option<&str>, out: &Path) {
    let mut c = bin();
    c.args(["sample", "--run"])
        .arg(run)
        .args([
            "-n",
            &count.to_string(),
            "--seed",
            "5",
            "--batch-size",
            "3",
            "--out",
        ])
        .arg(out);
    if let Some(s) = shard {
        c.args(["--shard", s]);
    }
    c.assert().success();
}

#[test]
fn shards_concatenate_to_the_unsharded_file_and_evaluate_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let run = trained_run(tmp.path());
    for ext in ["g6", "s6", "edgelist", "jsonl"] {
        for (count, k) in [(10usize, 3usize), (2, 4)] {
            let whole = tmp.path().join(format!("whole-{count}.{ext}"));
            sample(&run, count, None, &whole);
            let mut joined = Vec::new();
            let mut parts = Vec::new();
            for i in 1..=k {
                let part = tmp.path().join(format!("part-{count}-{i}.{ext}"));
                sample(&run, count, Some(&format!("{i}/{k}")), &part);
                joined.extend(std::fs::read(&part).unwrap());
                parts.push(part);
            }
            assert_eq!(
                joined,
                std::fs::read(&whole).unwrap(),
                "{ext}, {count} graphs in {k} parts"
            );
            if ext == "g6" {
                let eval = |gens: &[&Path], json: &Path| {
                    let mut c = bin();
                    c.args(["eval", "--ref"]).arg(&whole).arg("--gen");
                    for g in gens {
                        c.arg(g);
                    }
                    c.arg("--json").arg(json).assert().success();
                    let v: Value =
                        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
                    v["report"]["mmd"].clone()
                };
                let a = eval(&[&whole], &tmp.path().join("a.json"));
                let refs: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();
                let b = eval(&refs, &tmp.path().join("b.json"));
                assert_eq!(a, b);
            }
        }
    }
}

#[test]
fn bad_shards_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = trained_run(tmp.path());
    for (shard, out, needle) in [
        ("0/3", "x.g6", "between 1 and K"),
        ("4/3", "x.g6", "between 1 and K"),
        ("a/b", "x.g6", "expected I/K"),
        ("1/2", "x.npz", "cannot be concatenated"),
        ("1/2", "x.json", "cannot be concatenated"),
    ] {
        bin()
            .args(["sample", "--run"])
            .arg(&run)
            .args(["-n", "4", "--shard", shard, "--out"])
            .arg(tmp.path().join(out))
            .assert()
            .failure()
            .code(2)
            .stderr(predicate::str::contains(needle));
    }
}
