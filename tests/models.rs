//! Every model end to end through the shared machinery, across crates: the conformance suite
//! (graph-tensor), training with the one training loop into a run directory, a checkpoint read
//! back into a rebuilt model, sampling through `sample_graphs`, and graph-mmd's evaluation of
//! the samples. Small configs, a few steps: this tests the plumbing, not quality.

use std::path::Path;

use edp_gnn::EdpGnnModel;
use graph_ddpm::GraphDdpmModel;
use graph_gdp::GraphGdpModel;
use graph_mmd::{evaluate, EvalConfig, Protocol};
use graph_tensor::baseline::ErdosRenyi;
use graph_tensor::checkpoint::{latest_checkpoint, read_checkpoint};
use graph_tensor::conformance::{check_loss, check_sampler};
use graph_tensor::model::DiffusionModel;
use graph_tensor::run::{default_run_config, merge_json, RunConfig};
use graph_tensor::sample::{load_model, sample_graphs};
use graph_tensor::train::{build_seeded, train, TrainRun};
use graph_tensor::Graph;
use serde_json::{json, Value};
use tch::{nn, Device};

/// Small graphs of 4 to 10 nodes: cycles with a chord and stars.
fn graphs() -> Vec<Graph> {
    (0..12usize)
        .map(|i| {
            let n = 4 + i % 7;
            let mut edges: Vec<(usize, usize)> = if i % 2 == 0 {
                (0..n)
                    .map(|u| (u.min((u + 1) % n), u.max((u + 1) % n)))
                    .collect()
            } else {
                (1..n).map(|v| (0, v)).collect()
            };
            if i % 3 == 0 && n > 4 {
                edges.push((1, 3));
            }
            Graph::new(n, edges).unwrap()
        })
        .collect()
}

/// The run config of model `M` with `overrides` merged over its defaults, a short training.
fn config<M: DiffusionModel>(overrides: Value) -> RunConfig<M::Config> {
    let mut v = default_run_config::<M>().to_json(M::NAME).unwrap();
    merge_json(&mut v, overrides);
    merge_json(
        &mut v,
        json!({"train": {"steps": 6, "epochs": null, "batch_size": 4, "log_every": 2,
                         "checkpoint_every": 3, "warmup_steps": 0}}),
    );
    RunConfig::from_json(&v, M::NAME).unwrap()
}

fn end_to_end<M: DiffusionModel>(overrides: Value) {
    let rc = config::<M>(overrides);
    // the conformance suite on a freshly built model
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build_seeded::<M>(&vs, &rc.model, 1).unwrap();
    check_sampler(&model, &[5, 1, 8, 0, 8, model.max_nodes()], 3, Device::Cpu)
        .unwrap_or_else(|e| panic!("{e}"));
    check_loss(&model, &vs, &graphs()[..4], 5).unwrap_or_else(|e| panic!("{e}"));

    // the training loop, a checkpoint, a model rebuilt from it alone
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let outcome = train::<M>(
        TrainRun {
            run_dir: &run_dir,
            config: rc,
            graphs: &graphs(),
            data_fingerprint: "e2e".into(),
            device: Device::Cpu,
            resume: false,
        },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{}: training failed: {e}", M::NAME));
    assert_eq!(outcome.step, 6, "{}", M::NAME);
    assert!(outcome.last_loss.is_some_and(f64::is_finite), "{}", M::NAME);
    let ck = read_checkpoint(&latest_checkpoint(Path::new(&run_dir)).unwrap()).unwrap();
    let ema = ck.has_ema();
    let (_vs, model, _config) = load_model::<M>(&ck, Device::Cpu, ema).unwrap();

    // sampling from the training node counts, then graph-mmd on the samples
    let samples = sample_graphs(
        &model,
        &ck.state.node_counts,
        16,
        7,
        5,
        Device::Cpu,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{}: sampling failed: {e}", M::NAME));
    assert_eq!(samples.len(), 16);
    let sizes: Vec<usize> = graphs().iter().map(Graph::n).collect();
    assert!(
        samples.iter().all(|g| sizes.contains(&g.n())),
        "{}: node counts",
        M::NAME
    );
    let report = evaluate(&graphs(), &samples, &EvalConfig::new(Protocol::GraphRnn)).unwrap();
    assert!(!report.mmd.is_empty());
    for e in &report.mmd {
        assert!(
            e.value.is_finite() && e.value >= -1e-12,
            "{}: {} {}",
            M::NAME,
            e.statistic,
            e.value
        );
    }
}

#[test]
fn edp_gnn_end_to_end() {
    end_to_end::<EdpGnnModel>(json!({"max_nodes": 10, "sampler": {"step_num": 2}}));
}

#[test]
fn graph_ddpm_end_to_end() {
    end_to_end::<GraphDdpmModel>(
        json!({"max_nodes": 10, "num_layers": 2, "hidden": 8, "timesteps": 4}),
    );
}

#[test]
fn graph_gdp_end_to_end() {
    end_to_end::<GraphGdpModel>(json!({
        "max_nodes": 10, "nf": 16, "num_layers": 1, "rw_depth": 4, "heads": 2,
        "sampler": {"kind": "pc", "steps": 3, "predictor": "euler_maruyama", "corrector": "none"}
    }));
}

#[test]
fn erdos_renyi_end_to_end() {
    end_to_end::<ErdosRenyi>(json!({"max_nodes": 10}));
}
