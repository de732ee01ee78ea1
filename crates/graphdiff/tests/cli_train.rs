//! `graphdiff train` and `graphdiff sample` end to end: run directories, config errors,
//! SIGKILL and --resume, sampling independent of the batch size.
#![cfg(feature = "torch")] // training and sampling need libtorch

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use approx::assert_relative_eq;
use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::{bin, metrics};

/// 30 small training graphs (cycles with chords and paths, 4..=12 nodes) as JSON lines.
fn write_graphs(dir: &Path) -> std::path::PathBuf {
    let mut lines = String::new();
    for i in 0..30usize {
        let n = 4 + i % 9;
        let mut edges: Vec<[usize; 2]> = (0..n - 1).map(|u| [u, u + 1]).collect();
        if i % 2 == 0 {
            edges.push([0, n - 1]);
        }
        if i % 3 == 0 {
            edges.push([0, n / 2]);
        }
        lines.push_str(&serde_json::json!({"n": n, "edges": edges}).to_string());
        lines.push('\n');
    }
    let path = dir.join("train.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

fn checkpoints(run: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(run.join("checkpoints")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-") && !n.contains('.'))
        .collect();
    v.sort();
    v
}

/// Settings that make the ER run exercise EMA, clipping, warm-up and decay.
const ER_SETS: [&str; 6] = [
    "train.ema={\"decay\":0.9,\"warmup\":true}",
    "train.grad_clip=0.5",
    "train.warmup_steps=5",
    "train.lr_schedule={\"kind\":\"exponential\",\"gamma\":0.97,\"every\":\"epoch\"}",
    "train.log_every=7",
    "train.checkpoint_every=10",
];

fn er_args(data: &Path, run: &Path, steps: u64) -> Vec<String> {
    let mut v: Vec<String> = vec!["train".into(), "erdos-renyi".into(), "--data".into()];
    v.push(data.display().to_string());
    v.extend([
        "--split".into(),
        "gdss".into(),
        "--run-dir".into(),
        run.display().to_string(),
    ]);
    v.extend([
        "--steps".into(),
        steps.to_string(),
        "--threads".into(),
        "1".into(),
    ]);
    for s in ER_SETS {
        v.extend(["--set".into(), s.to_string()]);
    }
    v
}

#[test]
fn train_writes_a_run_directory_and_sample_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_graphs(tmp.path());
    let run = tmp.path().join("run");
    bin()
        .args(er_args(&data, &run, 45))
        .assert()
        .success()
        .stdout(predicate::str::contains("erdos-renyi: 45 steps"));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"], "erdos-renyi");
    assert_eq!(config["max_nodes"], 12);
    assert_eq!(config["train"]["grad_clip"], 0.5);
    assert!(config["data"]["file"]
        .as_str()
        .unwrap()
        .ends_with("train.jsonl"));
    let m = metrics(&run);
    let steps: Vec<u64> = m.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![7, 14, 21, 28, 35, 42, 45]);
    for r in &m {
        for k in ["loss", "lr", "grad_norm", "step_time_s"] {
            assert!(r[k].as_f64().unwrap().is_finite(), "{k} in {r}");
        }
    }
    // keep_last 3 (the ER default) plus the best, and the final checkpoint
    let cks = checkpoints(&run);
    assert!(
        cks.len() <= 4 && cks.last().unwrap() == "step-000000045",
        "{cks:?}"
    );
    for f in ["tensors.safetensors", "state.json", "config.json"] {
        assert!(run.join("checkpoints/step-000000045").join(f).is_file());
    }

    // sampling: the same graphs for any batch size, from --run or --checkpoint
    let a = tmp.path().join("a.jsonl");
    let b = tmp.path().join("b.jsonl");
    let c = tmp.path().join("c.g6");
    bin()
        .args(["sample", "--run"])
        .arg(&run)
        .args(["-n", "10", "--batch-size", "10", "--out"])
        .arg(&a)
        .assert()
        .success();
    bin()
        .args(["sample", "--checkpoint"])
        .arg(run.join("checkpoints/step-000000045"))
        .args(["-n", "10", "--batch-size", "3", "--out"])
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("EMA weights"));
    assert_eq!(
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap()
    );
    bin()
        .args(["sample", "--run"])
        .arg(&run)
        .args(["-n", "10", "--no-ema", "--out"])
        .arg(&c)
        .assert()
        .success();
    assert_eq!(graph_tensor::io::read_graphs(&c).unwrap().len(), 10);
    // node counts come from the training distribution (4..=12 nodes)
    for line in std::fs::read_to_string(&a).unwrap().lines() {
        let g: Value = serde_json::from_str(line).unwrap();
        let n = g["n"].as_u64().unwrap();
        assert!((4..=12).contains(&n), "{n}");
    }
    // another seed, other graphs
    let d = tmp.path().join("d.jsonl");
    bin()
        .args(["sample", "--run"])
        .arg(&run)
        .args(["-n", "10", "--seed", "1", "--out"])
        .arg(&d)
        .assert()
        .success();
    assert_ne!(
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&d).unwrap()
    );
}

#[test]
fn config_errors_name_the_json_path() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_graphs(tmp.path());
    let run = tmp.path().join("run");
    let base = |extra: &[&str]| {
        let mut c = bin();
        c.args(["train", "erdos-renyi", "--data"])
            .arg(&data)
            .args(["--split", "gdss", "--run-dir"])
            .arg(&run);
        c.args(extra);
        c
    };
    base(&["--set", "train.optimizer.lrr=0.1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "field `train.optimizer.lrr`: unknown field `lrr`",
        ));
    base(&["--set", "per_sizee=true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("field `per_sizee`"));
    base(&["--set", "train.batch_size=0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("field `train.batch_size`"));
    base(&["--set", "train.lr_schedule={\"kind\":\"cosine\"}"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("field `train.lr_schedule"));
    let cfg = tmp.path().join("cfg.json");
    std::fs::write(
        &cfg,
        r#"{"train": {"ema": {"decay": 0.9, "warmup": true, "extra": 1}}}"#,
    )
    .unwrap();
    base(&["--config", cfg.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cfg.json: field `train.ema.extra`",
        ));
    std::fs::write(&cfg, r#"{"model": "edp-gnn"}"#).unwrap();
    base(&["--config", cfg.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("field `model`"));
    bin()
        .args(["train", "no-such-model", "--data"])
        .arg(&data)
        .args(["--run-dir"])
        .arg(&run)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown model `no-such-model`; the models are: edp-gnn, graph-ddpm, graph-gdp, erdos-renyi",
        ));
    assert!(
        !run.exists(),
        "a failed config check must not create the run directory"
    );
    // the resolved defaults can be printed
    bin()
        .args(["train", "edp-gnn", "--show-config"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"model\": \"edp-gnn\"")
                .and(predicate::str::contains("\"epochs\": 5001")),
        );
}

#[test]
fn run_directory_and_device_misuse_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_graphs(tmp.path());
    let run = tmp.path().join("run");
    bin().args(er_args(&data, &run, 10)).assert().success();
    bin()
        .args(er_args(&data, &run, 10))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--resume"));
    bin()
        .args(["train", "--resume", "--run-dir"])
        .arg(&run)
        .args(["--set", "train.optimizer.lr=1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--set cannot change it"));
    bin()
        .args(["train", "edp-gnn", "--resume", "--run-dir"])
        .arg(&run)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is a run of `erdos-renyi`, not `edp-gnn`",
        ));
    // resuming a finished run with more steps extends it
    bin()
        .args(["train", "--resume", "--run-dir"])
        .arg(&run)
        .args(["--steps", "20"])
        .assert()
        .success();
    assert_eq!(metrics(&run).last().unwrap()["step"], 20);
    // a checkpoint edited to another model is refused by sample
    let state = run.join("checkpoints/step-000000020/state.json");
    let text = std::fs::read_to_string(&state)
        .unwrap()
        .replace("\"erdos-renyi\"", "\"edp-gnn\"");
    std::fs::write(&state, text).unwrap();
    bin()
        .args(["sample", "--checkpoint"])
        .arg(run.join("checkpoints/step-000000020"))
        .args(["-n", "2", "--out"])
        .arg(tmp.path().join("x.g6"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("config"));
    if !tch::Cuda::is_available() {
        bin()
            .args(["sample", "--run"])
            .arg(&run)
            .args(["-n", "2", "--device", "cuda", "--out"])
            .arg(tmp.path().join("x.g6"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("CUDA is not available"));
    }
    bin()
        .args(["sample", "--run"])
        .arg(tmp.path().join("nothing"))
        .args(["-n", "2", "--out"])
        .arg(tmp.path().join("x.g6"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no checkpoint found"));
}

/// Kills a real `graphdiff train` with SIGKILL after it has written checkpoints, resumes it,
/// and compares its metrics with an uninterrupted run.
#[test]
fn sigkill_then_resume_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_graphs(tmp.path());
    let killed = tmp.path().join("killed");
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("graphdiff"))
        .args(er_args(&data, &killed, 10_000_000))
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while checkpoints(&killed).len() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoints written"
        );
        assert!(child.try_wait().unwrap().is_none(), "training exited early");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let total = 600u64;
    let last = checkpoints(&killed)
        .last()
        .unwrap()
        .trim_start_matches("step-")
        .parse::<u64>()
        .unwrap();
    assert!(last < total, "killed too late (step {last})");
    eprintln!("killed after checkpoint {last}");
    bin()
        .args(["train", "--resume", "--run-dir"])
        .arg(&killed)
        .args(["--steps", &total.to_string(), "--threads", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("resumed from"));
    let reference = tmp.path().join("reference");
    bin()
        .args(er_args(&data, &reference, total))
        .assert()
        .success();
    let (a, b) = (metrics(&reference), metrics(&killed));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["step"], y["step"]);
        assert_relative_eq!(
            x["loss"].as_f64().unwrap(),
            y["loss"].as_f64().unwrap(),
            max_relative = 1e-6
        );
        assert_relative_eq!(
            x["lr"].as_f64().unwrap(),
            y["lr"].as_f64().unwrap(),
            max_relative = 1e-12
        );
    }
    // the resumed run's final checkpoint samples the same graphs as the reference's
    let (sa, sb) = (tmp.path().join("a.jsonl"), tmp.path().join("b.jsonl"));
    bin()
        .args(["sample", "--run"])
        .arg(&reference)
        .args(["-n", "8", "--out"])
        .arg(&sa)
        .assert()
        .success();
    bin()
        .args(["sample", "--run"])
        .arg(&killed)
        .args(["-n", "8", "--out"])
        .arg(&sb)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&sa).unwrap(),
        std::fs::read_to_string(&sb).unwrap()
    );
}

/// EDP-GNN through the CLI with a shortened schedule: training resumes exactly (its noise
/// comes from the seeded per-graph streams) and sampling does not depend on the batch size.
#[test]
fn edp_gnn_resumes_exactly_and_samples_independently_of_the_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_graphs(tmp.path());
    let args = |run: &Path, steps: u64| {
        let mut v: Vec<String> = vec![
            "train".into(),
            "edp-gnn".into(),
            "--data".into(),
            data.display().to_string(),
        ];
        v.extend([
            "--split".into(),
            "gdss".into(),
            "--run-dir".into(),
            run.display().to_string(),
        ]);
        v.extend([
            "--steps".into(),
            steps.to_string(),
            "--threads".into(),
            "1".into(),
        ]);
        for s in [
            "train.batch_size=4",
            "train.log_every=2",
            "train.checkpoint_every=3",
            "max_nodes=12",
        ] {
            v.extend(["--set".into(), s.into()]);
        }
        v
    };
    let full = tmp.path().join("full");
    bin().args(args(&full, 8)).assert().success();
    let split = tmp.path().join("split");
    bin().args(args(&split, 4)).assert().success();
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
            max_relative = 1e-6
        );
    }
    let sample = |batch: &str, out: &Path| {
        bin()
            .args(["sample", "--run"])
            .arg(&full)
            .args([
                "-n",
                "3",
                "--batch-size",
                batch,
                "--set",
                "sampler.step_num=3",
                "--out",
            ])
            .arg(out)
            .assert()
            .success()
            .stdout(predicate::str::contains("18 network evaluations per graph"));
    };
    let (s3, s1) = (tmp.path().join("s3.jsonl"), tmp.path().join("s1.jsonl"));
    sample("3", &s3);
    sample("1", &s1);
    assert_eq!(
        std::fs::read_to_string(&s3).unwrap(),
        std::fs::read_to_string(&s1).unwrap()
    );
}
