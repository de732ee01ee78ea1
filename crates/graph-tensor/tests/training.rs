//! Training, checkpoints, resume (including after SIGKILL), sampling and the conformance
//! suites, with the Erdős–Rényi baseline and a tiny test-only denoiser.

#![cfg(feature = "torch")]

mod common;

use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use approx::assert_relative_eq;
use common::{toy_graphs, Tiny, TinyConfig};
use graph_tensor::baseline::{ErdosRenyi, ErdosRenyiConfig};
use graph_tensor::batch::DenseBatch;
use graph_tensor::checkpoint::{latest_checkpoint, list_checkpoints, read_checkpoint};
use graph_tensor::conformance::{check_loss, check_sampler};
use graph_tensor::datasets::NodeCountDistribution;
use graph_tensor::ema::EmaConfig;
use graph_tensor::model::{DataSummary, DiffusionModel, ModelError};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{DecayEvery, LrSchedule};
use graph_tensor::run::{sha256_hex, RunConfig};
use graph_tensor::sample::{load_model, sample_graphs};
use graph_tensor::train::{
    build_seeded, read_metrics, train, MetricsRecord, TrainConfig, TrainError, TrainRun,
};
use graph_tensor::Graph;
use tch::{nn::VarStore, Device, Tensor};

fn fingerprint(graphs: &[Graph]) -> String {
    sha256_hex(serde_json::to_string(graphs).unwrap().as_bytes())
}

/// A training setup that uses every optional feature (EMA, clipping, warm-up, decay,
/// node permutations) so resume has to restore all of it.
fn full_train_config(steps: u64) -> TrainConfig {
    TrainConfig {
        steps: Some(steps),
        lr_schedule: LrSchedule::Exponential {
            gamma: 0.9,
            every: DecayEvery::Epoch,
        },
        warmup_steps: 5,
        grad_clip: Some(1.0),
        ema: Some(EmaConfig {
            decay: 0.99,
            warmup: true,
        }),
        seed: 17,
        permute_nodes: true,
        log_every: 7,
        checkpoint_every: 10,
        keep_last: 2,
        ..Tiny::default_train_config()
    }
}

fn run_tiny(
    dir: &Path,
    train_cfg: TrainConfig,
    resume: bool,
) -> Result<graph_tensor::train::TrainOutcome, TrainError> {
    let graphs = toy_graphs();
    let config = RunConfig {
        model: TinyConfig::default(),
        train: train_cfg,
        data: serde_json::json!({"toy": true}),
    };
    train::<Tiny>(
        TrainRun {
            run_dir: dir,
            config,
            graphs: &graphs,
            data_fingerprint: fingerprint(&graphs),
            device: Device::Cpu,
            resume,
        },
        &mut |_| {},
    )
}

fn assert_same_metrics(a: &[MetricsRecord], b: &[MetricsRecord]) {
    assert_eq!(a.len(), b.len(), "{a:?}\nvs\n{b:?}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.step, y.step);
        assert_eq!(x.steps, y.steps);
        assert_relative_eq!(x.loss, y.loss, max_relative = 1e-6);
        assert_relative_eq!(x.lr, y.lr, max_relative = 1e-12);
        assert_relative_eq!(x.grad_norm, y.grad_norm, max_relative = 1e-5);
    }
}

#[test]
fn models_pass_the_conformance_suites() {
    let graphs = toy_graphs();
    let summary = DataSummary::from_graphs(&graphs);
    let counts = [0, 1, 5, 8, 8, 3, 2];

    let mut cfg = TinyConfig::default();
    Tiny::resolve_config(&mut cfg, &summary).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let tiny: Tiny = build_seeded(&vs, &cfg, 1).unwrap();
    check_sampler(&tiny, &counts, 3, Device::Cpu).unwrap();
    check_loss(&tiny, &vs, &graphs[..6], 9).unwrap();

    let mut cfg = ErdosRenyiConfig::default();
    ErdosRenyi::resolve_config(&mut cfg, &summary).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let er: ErdosRenyi = build_seeded(&vs, &cfg, 1).unwrap();
    check_sampler(&er, &counts, 3, Device::Cpu).unwrap();
    check_loss(&er, &vs, &graphs[..6], 9).unwrap();
}

/// A sampler that ignores its seeds for the second half of the batch: the conformance suite
/// must catch it (the suite is not vacuous).
#[test]
fn conformance_catches_a_batch_dependent_sampler() {
    struct Leaky(ErdosRenyi);
    impl DiffusionModel for Leaky {
        type Config = ErdosRenyiConfig;
        const NAME: &'static str = "leaky";
        fn default_train_config() -> TrainConfig {
            TrainConfig::default()
        }
        fn build(vs: &tch::nn::Path, c: &ErdosRenyiConfig) -> Result<Self, ModelError> {
            ErdosRenyi::build(vs, c).map(Leaky)
        }
        fn max_nodes(&self) -> usize {
            self.0.max_nodes()
        }
        fn loss(&self, b: &DenseBatch, t: bool, n: &mut NoiseSource) -> Result<Tensor, ModelError> {
            self.0.loss(b, t, n)
        }
        fn sample(
            &self,
            counts: &[usize],
            seeds: &[u64],
            device: Device,
            p: &mut dyn FnMut(usize, usize),
        ) -> Result<DenseBatch, ModelError> {
            // every graph uses the first graph's seed plus its position: batch-dependent
            let s: Vec<u64> = (0..seeds.len() as u64).map(|i| seeds[0] + i).collect();
            if seeds.len() != counts.len() {
                return Err(ModelError::Invalid("len".into()));
            }
            self.0.sample(counts, &s, device, p)
        }
        fn nfe(&self) -> usize {
            1
        }
    }
    let vs = VarStore::new(Device::Cpu);
    let m = Leaky::build(
        &vs.root(),
        &ErdosRenyiConfig {
            max_nodes: Some(10),
            per_size: false,
        },
    )
    .unwrap();
    let e = check_sampler(&m, &[10, 10, 10, 10], 1, Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("leaky"), "{e}");
}

#[test]
fn erdos_renyi_learns_the_per_size_edge_density() {
    let dir = tempfile::tempdir().unwrap();
    let graphs = toy_graphs();
    let mut train_cfg = ErdosRenyi::default_train_config();
    train_cfg.steps = Some(600);
    train_cfg.optimizer.lr = 0.1;
    let config = RunConfig {
        model: ErdosRenyiConfig::default(),
        train: train_cfg,
        data: serde_json::Value::Null,
    };
    let out = train::<ErdosRenyi>(
        TrainRun {
            run_dir: dir.path(),
            config,
            graphs: &graphs,
            data_fingerprint: fingerprint(&graphs),
            device: Device::Cpu,
            resume: false,
        },
        &mut |_| {},
    )
    .unwrap();
    let ck = read_checkpoint(&out.last_checkpoint).unwrap();
    let (_vs, er, cfg) = load_model::<ErdosRenyi>(&ck, Device::Cpu, false).unwrap();
    assert_eq!(cfg.model.max_nodes, Some(8));
    for n in 3..=8usize {
        let (mut e, mut p) = (0, 0);
        for g in graphs.iter().filter(|g| g.n() == n) {
            e += g.num_edges();
            p += n * (n - 1) / 2;
        }
        let mle = e as f64 / p as f64;
        assert_relative_eq!(er.edge_probability(n), mle, epsilon = 0.02);
    }
    // the node-count distribution stored in the checkpoint is the training one
    assert_eq!(
        ck.state.node_counts,
        NodeCountDistribution::from_graphs(&graphs).unwrap()
    );
}

#[test]
fn resume_from_a_checkpoint_matches_an_uninterrupted_run() {
    let full = tempfile::tempdir().unwrap();
    run_tiny(full.path(), full_train_config(60), false).unwrap();
    let split = tempfile::tempdir().unwrap();
    // first 43 steps (a checkpoint at 40 and a final one at 43, mid log window), then on to 60
    run_tiny(split.path(), full_train_config(43), false).unwrap();
    run_tiny(split.path(), full_train_config(60), true).unwrap();
    let a = read_metrics(&full.path().join("metrics.jsonl")).unwrap();
    let b = read_metrics(&split.path().join("metrics.jsonl")).unwrap();
    // the split run logs an extra line at its first end (step 43); the rest is identical
    let b: Vec<MetricsRecord> = b.into_iter().filter(|r| r.step != 43).collect();
    let a: Vec<MetricsRecord> = a
        .into_iter()
        .filter(|r| r.step < 43 || r.step > 49)
        .collect();
    let b: Vec<MetricsRecord> = b
        .into_iter()
        .filter(|r| r.step < 43 || r.step > 49)
        .collect();
    assert_same_metrics(&a, &b);
    // final weights, EMA and moments agree
    let ta = read_checkpoint(&latest_checkpoint(full.path()).unwrap())
        .unwrap()
        .tensors()
        .unwrap();
    let tb = read_checkpoint(&latest_checkpoint(split.path()).unwrap())
        .unwrap()
        .tensors()
        .unwrap();
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        let diff = (v - &tb[k]).abs().max().double_value(&[]);
        assert!(diff <= 1e-6, "{k} differs by {diff}");
    }
    // keep_last = 2 plus the best
    assert!(list_checkpoints(full.path()).unwrap().len() <= 3);
}

/// Not a test on its own: the child process of `sigkill_and_resume_matches_uninterrupted`.
#[test]
#[ignore = "run as a child process by sigkill_and_resume_matches_uninterrupted"]
fn child_training_process() {
    let Some(dir) = std::env::var_os("GRAPH_TENSOR_CHILD_RUN_DIR") else {
        return;
    };
    run_tiny(Path::new(&dir), full_train_config(1_000_000), false).unwrap();
}

#[test]
fn sigkill_and_resume_matches_uninterrupted() {
    let killed = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_training_process",
            "--test-threads=1",
        ])
        .env("GRAPH_TENSOR_CHILD_RUN_DIR", killed.path())
        .env("OMP_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let n = list_checkpoints(killed.path())
            .map(|v| v.len())
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "child wrote no checkpoints"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let resumed_from = read_checkpoint(&latest_checkpoint(killed.path()).unwrap())
        .unwrap()
        .state
        .step;
    let total = 300;
    eprintln!("child killed; resuming from step {resumed_from}");
    assert!(
        resumed_from < total,
        "the child ran too far before the kill ({resumed_from})"
    );
    run_tiny(killed.path(), full_train_config(total), true).unwrap();
    let reference = tempfile::tempdir().unwrap();
    run_tiny(reference.path(), full_train_config(total), false).unwrap();
    let a = read_metrics(&reference.path().join("metrics.jsonl")).unwrap();
    let b = read_metrics(&killed.path().join("metrics.jsonl")).unwrap();
    assert_same_metrics(&a, &b);
}

#[test]
fn sampling_from_a_checkpoint_does_not_depend_on_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_tiny(dir.path(), full_train_config(20), false).unwrap();
    let ck = read_checkpoint(&out.last_checkpoint).unwrap();
    assert!(ck.has_ema());
    let (_vs, model, _) = load_model::<Tiny>(&ck, Device::Cpu, true).unwrap();
    let dist = &ck.state.node_counts;
    let mut calls = 0;
    let all = sample_graphs(&model, dist, 10, 5, 10, Device::Cpu, &mut |_| calls += 1).unwrap();
    assert_eq!(calls, 3); // one batch, three sampler steps
    let small = sample_graphs(&model, dist, 10, 5, 3, Device::Cpu, &mut |_| {}).unwrap();
    assert_eq!(all, small);
    let prefix = sample_graphs(&model, dist, 4, 5, 4, Device::Cpu, &mut |_| {}).unwrap();
    assert_eq!(prefix[..], all[..4]);
    let other = sample_graphs(&model, dist, 10, 6, 10, Device::Cpu, &mut |_| {}).unwrap();
    assert_ne!(all, other);
    for g in &all {
        assert!(
            dist.prob(g.n()) > 0.0,
            "node count {} not in the training distribution",
            g.n()
        );
    }
    // EMA and raw weights differ, and both load
    let (_vs, raw, _) = load_model::<Tiny>(&ck, Device::Cpu, false).unwrap();
    let _ = sample_graphs(&raw, dist, 2, 5, 2, Device::Cpu, &mut |_| {}).unwrap();
    // a checkpoint of another model is refused, naming both
    let e = load_model::<ErdosRenyi>(&ck, Device::Cpu, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tiny-test") && e.contains("erdos-renyi"), "{e}");
}

#[test]
fn run_directory_misuse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run_tiny(dir.path(), full_train_config(10), false).unwrap();
    // starting again in the same directory
    let e = run_tiny(dir.path(), full_train_config(10), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume"), "{e}");
    // resuming with another learning rate
    let mut other = full_train_config(20);
    other.optimizer.lr = 0.5;
    let e = run_tiny(dir.path(), other, true).unwrap_err().to_string();
    assert!(e.contains("config hash differs"), "{e}");
    // resuming with other data
    let graphs: Vec<Graph> = toy_graphs().into_iter().skip(1).collect();
    let e = train::<Tiny>(
        TrainRun {
            run_dir: dir.path(),
            config: RunConfig {
                model: TinyConfig::default(),
                train: full_train_config(20),
                data: serde_json::json!({"toy": true}),
            },
            graphs: &graphs,
            data_fingerprint: fingerprint(&graphs),
            device: Device::Cpu,
            resume: true,
        },
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("data fingerprint differs"), "{e}");
    // a graph larger than the configured padding is an error, not truncation
    let fresh = tempfile::tempdir().unwrap();
    let e = train::<Tiny>(
        TrainRun {
            run_dir: fresh.path(),
            config: RunConfig {
                model: TinyConfig {
                    max_nodes: Some(5),
                    ..TinyConfig::default()
                },
                train: full_train_config(5),
                data: serde_json::Value::Null,
            },
            graphs: &toy_graphs(),
            data_fingerprint: "x".into(),
            device: Device::Cpu,
            resume: false,
        },
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("more than the model's max_nodes = 5"), "{e}");
}

/// A model whose loss becomes NaN at its 25th evaluation.
struct NanAfter {
    inner: Tiny,
    calls: Cell<usize>,
}

impl DiffusionModel for NanAfter {
    type Config = TinyConfig;
    const NAME: &'static str = "nan-test";
    fn default_train_config() -> TrainConfig {
        Tiny::default_train_config()
    }
    fn resolve_config(c: &mut TinyConfig, d: &DataSummary) -> Result<(), ModelError> {
        Tiny::resolve_config(c, d)
    }
    fn build(vs: &tch::nn::Path, c: &TinyConfig) -> Result<Self, ModelError> {
        Ok(NanAfter {
            inner: Tiny::build(vs, c)?,
            calls: Cell::new(0),
        })
    }
    fn max_nodes(&self) -> usize {
        self.inner.max_nodes()
    }
    fn loss(&self, b: &DenseBatch, t: bool, n: &mut NoiseSource) -> Result<Tensor, ModelError> {
        self.calls.set(self.calls.get() + 1);
        let l = self.inner.loss(b, t, n)?;
        Ok(if self.calls.get() >= 25 {
            l * f64::NAN
        } else {
            l
        })
    }
    fn sample(
        &self,
        c: &[usize],
        s: &[u64],
        d: Device,
        p: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseBatch, ModelError> {
        self.inner.sample(c, s, d, p)
    }
    fn nfe(&self) -> usize {
        self.inner.nfe()
    }
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let graphs = toy_graphs();
    let e = train::<NanAfter>(
        TrainRun {
            run_dir: dir.path(),
            config: RunConfig {
                model: TinyConfig::default(),
                train: full_train_config(100),
                data: serde_json::Value::Null,
            },
            graphs: &graphs,
            data_fingerprint: fingerprint(&graphs),
            device: Device::Cpu,
            resume: false,
        },
        &mut |_| {},
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TrainError::NonFinite { step: 25, .. }), "{msg}");
    assert!(
        msg.contains("NaN at step 25") && msg.contains("step-000000020"),
        "{msg}"
    );
    let steps: Vec<u64> = list_checkpoints(dir.path())
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(steps.last(), Some(&20));
}
