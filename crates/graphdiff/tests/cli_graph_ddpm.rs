//! The discrete DDPM through the CLI: train, resume exactly, sample with both samplers
//! independently of the batch size, evaluate; and its bad-input errors.
#![cfg(feature = "torch")] // training and sampling need libtorch

use std::path::Path;

use approx::assert_relative_eq;
use predicates::prelude::*;

mod common;
use common::{bin, metrics, write_small_graphs};

fn train_args(data: &Path, run: &Path, steps: u64, objective: &str) -> Vec<String> {
    let mut v: Vec<String> = vec!["train".into(), "graph-ddpm".into(), "--data".into()];
    v.push(data.display().to_string());
    v.extend(["--split".into(), "gdss".into(), "--run-dir".into()]);
    v.push(run.display().to_string());
    v.extend([
        "--steps".into(),
        steps.to_string(),
        "--threads".into(),
        "1".into(),
    ]);
    for s in [
        "max_nodes=12".to_string(),
        "num_layers=2".into(),
        "hidden=8".into(),
        "train.batch_size=5".into(),
        "train.log_every=2".into(),
        "train.checkpoint_every=3".into(),
        format!("objective={objective}"),
    ] {
        v.extend(["--set".into(), s]);
    }
    v
}

#[test]
fn graph_ddpm_trains_resumes_exactly_samples_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_small_graphs(tmp.path(), false);
    for objective in ["simple", "vlb"] {
        let full = tmp.path().join(format!("full-{objective}"));
        bin()
            .args(train_args(&data, &full, 8, objective))
            .assert()
            .success();
        let split = tmp.path().join(format!("split-{objective}"));
        bin()
            .args(train_args(&data, &split, 4, objective))
            .assert()
            .success();
        bin()
            .args(["train", "--resume", "--run-dir"])
            .arg(&split)
            .args(["--steps", "8"])
            .assert()
            .success();
        let (a, b) = (metrics(&full), metrics(&split));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x["step"], y["step"]);
            assert_relative_eq!(
                x["loss"].as_f64().unwrap(),
                y["loss"].as_f64().unwrap(),
                max_relative = 1e-9
            );
        }
        for sampler in ["vlb", "simple"] {
            let sample = |batch: &str, out: &Path| {
                bin()
                    .args(["sample", "--run"])
                    .arg(&full)
                    .args(["-n", "5", "--batch-size", batch, "--seed", "3"])
                    .args(["--set", &format!("sampler.kind={sampler}")])
                    .arg("--out")
                    .arg(out)
                    .assert()
                    .success()
                    .stdout(predicate::str::contains("32 network evaluations per graph"));
            };
            let s5 = tmp.path().join(format!("{objective}-{sampler}-5.jsonl"));
            let s2 = tmp.path().join(format!("{objective}-{sampler}-2.jsonl"));
            sample("5", &s5);
            sample("2", &s2);
            assert_eq!(
                std::fs::read_to_string(&s5).unwrap(),
                std::fs::read_to_string(&s2).unwrap()
            );
            bin()
                .args(["eval", "--ref"])
                .arg(&data)
                .arg("--gen")
                .arg(&s5)
                .assert()
                .success()
                .stdout(predicate::str::contains("degree"));
        }
        // fewer steps through the config
        bin()
            .args(["sample", "--run"])
            .arg(&full)
            .args(["-n", "2", "--set", "sampler.steps=4", "--out"])
            .arg(tmp.path().join("four.g6"))
            .assert()
            .success()
            .stdout(predicate::str::contains("4 network evaluations per graph"));
    }
}

#[test]
fn graph_ddpm_bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_small_graphs(tmp.path(), false);
    let run = tmp.path().join("run");
    let fail = |args: Vec<String>, needle: &str| {
        bin()
            .args(args)
            .assert()
            .failure()
            .code(2)
            .stderr(predicate::str::contains(needle));
    };
    let with = |set: &str| {
        let mut a = train_args(&data, &run, 2, "simple");
        a.extend(["--set".into(), set.into()]);
        a
    };
    fail(with("hiden=3"), "hiden");
    fail(with("timesteps=0"), "timesteps");
    let mut a = with("schedule={\"kind\":\"explicit\",\"beta_bar\":[0.1,0.7]}");
    a.extend(["--set".into(), "timesteps=2".into()]);
    fail(a, "schedule.beta_bar[1]");
    fail(with("sampler.kind=ddim"), "ddim");
    // a graph larger than the padding is refused, never truncated
    let big = write_small_graphs(tmp.path(), true);
    fail(train_args(&big, &run, 2, "simple"), "max_nodes");
    // a diverging run stops at the step whose loss is not finite, naming it
    let mut a = train_args(&data, &run, 30, "simple");
    a.extend(["--set".into(), "train.optimizer.lr=1e30".into()]);
    bin()
        .args(a)
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::is_match("at step [0-9]+").unwrap());
    // a checkpoint of another config: resuming with a changed config is refused
    let run2 = tmp.path().join("run2");
    bin()
        .args(train_args(&data, &run2, 3, "simple"))
        .assert()
        .success();
    let mut a = train_args(&data, &run2, 6, "simple");
    a.push("--resume".into());
    bin().args(&a).assert().failure().code(2);
    // sampling with an architecture the weights do not have names the tensor
    bin()
        .args(["sample", "--run"])
        .arg(&run2)
        .args(["-n", "2", "--set", "hidden=16", "--out"])
        .arg(tmp.path().join("x.g6"))
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("shape"));
}
