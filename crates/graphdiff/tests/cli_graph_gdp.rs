//! GraphGDP through the CLI: train, resume exactly, sample with several samplers
//! independently of the batch size, evaluate; and its bad-input errors.
#![cfg(feature = "torch")] // training and sampling need libtorch

use std::path::Path;

use approx::assert_relative_eq;
use predicates::prelude::*;

mod common;
use common::{bin, metrics, write_small_graphs};

/// A small network trained for `steps` steps (preset Ego-small, shrunk).
fn train_args(data: &Path, run: &Path, steps: u64) -> Vec<String> {
    let mut v: Vec<String> = vec!["train".into(), "graph-gdp".into(), "--data".into()];
    v.push(data.display().to_string());
    v.extend(["--split".into(), "gdss".into(), "--run-dir".into()]);
    v.push(run.display().to_string());
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/graph-gdp/ego-small.json");
    v.extend(["--config".into(), config.display().to_string()]);
    v.extend([
        "--steps".into(),
        steps.to_string(),
        "--threads".into(),
        "1".into(),
    ]);
    for s in [
        "max_nodes=12",
        "nf=16",
        "num_layers=2",
        "rw_depth=3",
        "heads=4",
        "train.batch_size=5",
        "train.log_every=2",
        "train.checkpoint_every=3",
        "train.warmup_steps=2",
        "train.optimizer.lr=0.001",
    ] {
        v.extend(["--set".into(), s.into()]);
    }
    v
}

#[test]
fn graph_gdp_trains_resumes_exactly_samples_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_small_graphs(tmp.path(), false);
    let full = tmp.path().join("full");
    bin().args(train_args(&data, &full, 8)).assert().success();
    let split = tmp.path().join("split");
    bin().args(train_args(&data, &split, 4)).assert().success();
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
    for (sampler, nfe) in [
        (r#"{"kind":"pc","steps":5}"#, 5),
        (r#"{"kind":"dpm_solver","order":2,"steps":4}"#, 4),
        (r#"{"kind":"ode_fixed","method":"rk4","steps":2}"#, 9),
        (
            r#"{"kind":"pc","steps":3,"predictor":"reverse_diffusion","corrector":"langevin"}"#,
            6,
        ),
    ] {
        let sample = |batch: &str, out: &Path| {
            bin()
                .args(["sample", "--run"])
                .arg(&full)
                .args(["-n", "5", "--batch-size", batch, "--seed", "3"])
                .args(["--set", &format!("sampler={sampler}")])
                .arg("--out")
                .arg(out)
                .assert()
                .success()
                .stdout(predicate::str::contains(format!(
                    "{nfe} network evaluations per graph"
                )));
        };
        let s5 = tmp.path().join("s5.jsonl");
        let s2 = tmp.path().join("s2.jsonl");
        sample("5", &s5);
        sample("2", &s2);
        assert_eq!(
            std::fs::read_to_string(&s5).unwrap(),
            std::fs::read_to_string(&s2).unwrap(),
            "{sampler}"
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
    // one field of the configured sampler
    bin()
        .args(["sample", "--run"])
        .arg(&full)
        .args(["-n", "2", "--set", "sampler.steps=4", "--out"])
        .arg(tmp.path().join("four.g6"))
        .assert()
        .success()
        .stdout(predicate::str::contains("4 network evaluations per graph"));
    // the preset's named few-step sampler, and one of its fields edited after it
    bin()
        .args(["sample", "--run"])
        .arg(&full)
        .args(["-n", "2", "--sampler", "few_step", "--out"])
        .arg(tmp.path().join("few.g6"))
        .assert()
        .success()
        .stdout(predicate::str::contains("20 network evaluations per graph"));
    bin()
        .args(["sample", "--run"])
        .arg(&full)
        .args([
            "-n",
            "2",
            "--sampler",
            "few_step",
            "--set",
            "sampler.steps=6",
        ])
        .arg("--out")
        .arg(tmp.path().join("six.g6"))
        .assert()
        .success()
        .stdout(predicate::str::contains("6 network evaluations per graph"));
    bin()
        .args(["sample", "--run"])
        .arg(&full)
        .args(["-n", "2", "--sampler", "fastest", "--out"])
        .arg(tmp.path().join("none.g6"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("--sampler fastest")
                .and(predicate::str::contains("`few_step`")),
        );
    // the adaptive solver reports its (mean) count
    bin()
        .args(["sample", "--run"])
        .arg(&full)
        .args([
            "-n",
            "3",
            "--set",
            r#"sampler={"kind":"dopri5","rtol":0.01,"atol":0.01}"#,
        ])
        .arg("--out")
        .arg(tmp.path().join("dopri.g6"))
        .assert()
        .success()
        .stdout(predicate::str::contains("network evaluations per graph"));
}

#[test]
fn graph_gdp_bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_small_graphs(tmp.path(), false);
    let run = tmp.path().join("run");
    let fail = |args: Vec<String>, needles: &[&str]| {
        let mut a = bin().args(args).assert().failure().code(2);
        for n in needles {
            a = a.stderr(predicate::str::contains(*n));
        }
    };
    let with = |set: &str| {
        let mut a = train_args(&data, &run, 2);
        a.extend(["--set".into(), set.into()]);
        a
    };
    fail(with("num_layer=3"), &["num_layer"]);
    fail(
        with(r#"sde={"kind":"vp","beta_min":20,"beta_max":0.1}"#),
        &["sde.beta_max"],
    );
    fail(
        with(r#"sde={"kind":"ve","sigma_min":-1,"sigma_max":50}"#),
        &["sde.sigma_min"],
    );
    fail(
        with(r#"sampler={"kind":"ddim"}"#),
        &["ddim", "pc", "dopri5", "ode_fixed", "dpm_solver"],
    );
    fail(
        with("sampler.kind=dopri5"),
        &["belongs to sampler kind `pc`"],
    );
    // a graph larger than the padding is refused, never truncated
    let big = write_small_graphs(tmp.path(), true);
    fail(train_args(&big, &run, 2), &["max_nodes"]);
    // a diverging run stops at the step whose loss is not finite, naming it
    let mut a = train_args(&data, &run, 30);
    a.extend(["--set".into(), "train.optimizer.lr=1e30".into()]);
    bin()
        .args(a)
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::is_match("at step [0-9]+").unwrap());
    // a checkpoint of another config: resuming with a changed config is refused
    let run2 = tmp.path().join("run2");
    bin().args(train_args(&data, &run2, 3)).assert().success();
    let mut a = train_args(&data, &run2, 6);
    a.extend(["--set".into(), "dropout=0.2".into(), "--resume".into()]);
    bin().args(&a).assert().failure().code(2);
    // sampling with an architecture the weights do not have names the tensor
    bin()
        .args(["sample", "--run"])
        .arg(&run2)
        .args(["-n", "2", "--set", "nf=32", "--out"])
        .arg(tmp.path().join("x.g6"))
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("shape"));
    // an unknown sampler when sampling
    bin()
        .args(["sample", "--run"])
        .arg(&run2)
        .args([
            "-n",
            "2",
            "--set",
            r#"sampler={"kind":"leapfrog"}"#,
            "--out",
        ])
        .arg(tmp.path().join("y.g6"))
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("dpm_solver"));
    // a checkpoint of another model
    let er = tmp.path().join("er");
    bin()
        .args(["train", "erdos-renyi", "--data"])
        .arg(&data)
        .args(["--split", "gdss", "--steps", "1", "--run-dir"])
        .arg(&er)
        .assert()
        .success();
    let mut a: Vec<String> = vec!["train".into(), "graph-gdp".into(), "--resume".into()];
    a.extend(["--run-dir".into(), er.display().to_string()]);
    bin()
        .args(&a)
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("not `graph-gdp`"));
}
