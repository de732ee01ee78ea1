//! The command line's train → sample → eval for every model name, as a user runs it.

use assert_cmd::Command;
use predicates::prelude::*;

fn bin() -> Command {
    let mut c = Command::cargo_bin("graphdiff").unwrap();
    c.env("OMP_NUM_THREADS", "1");
    c
}

/// Small settings of each model (`--set` values), so that a run takes seconds.
const MODELS: &[(&str, &[&str])] = &[
    ("edp-gnn", &["max_nodes=20", "sampler.step_num=2"]),
    ("graph-ddpm", &["max_nodes=20", "num_layers=2", "hidden=8"]),
    (
        "graph-gdp",
        &[
            "max_nodes=20",
            "nf=16",
            "num_layers=1",
            "rw_depth=4",
            "heads=2",
            "sampler.steps=4",
        ],
    ),
    ("erdos-renyi", &["max_nodes=20"]),
];

#[test]
fn every_model_name_trains_samples_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cs.g6");
    bin()
        .args(["dataset", "community-small", "--seed", "3", "--out"])
        .arg(&data)
        .assert()
        .success();
    let test = tmp.path().join("test.g6");
    bin()
        .args(["dataset", "--data"])
        .arg(&data)
        .args(["--part", "test", "--out"])
        .arg(&test)
        .assert()
        .success();
    // `train --help` names every model; each of them is exercised here
    let help = bin().args(["train", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for (name, _) in MODELS {
        assert!(
            help.contains(name),
            "`graphdiff train --help` does not name {name}"
        );
    }
    for (name, sets) in MODELS {
        let run = tmp.path().join(name);
        let mut c = bin();
        c.args(["train", name, "--data"])
            .arg(&data)
            .arg("--run-dir")
            .arg(&run)
            .args(["--steps", "4", "--set", "train.batch_size=8"]);
        for s in *sets {
            c.args(["--set", s]);
        }
        c.assert().success();
        let samples = tmp.path().join(format!("{name}.g6"));
        bin()
            .args(["sample", "--run"])
            .arg(&run)
            .args(["-n", "6", "--seed", "1", "--out"])
            .arg(&samples)
            .assert()
            .success()
            .stdout(predicate::str::contains("network evaluations per graph"));
        bin()
            .args(["eval", "--ref"])
            .arg(&test)
            .arg("--gen")
            .arg(&samples)
            .assert()
            .success()
            .stdout(predicate::str::contains("degree").and(predicate::str::contains("orbit")));
    }
}
