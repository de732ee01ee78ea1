//! Properties of the denoiser, the losses and the samplers (no fixture needed).

use graph_ddpm::{
    GraphDdpmConfig, GraphDdpmModel, Objective, Powerful, SamplerConfig, SamplerKind, Schedule,
};
use graph_tensor::batch::DenseBatch;
use graph_tensor::compare::normwise;
use graph_tensor::conformance::{check_loss, check_sampler};
use graph_tensor::model::{DataSummary, DiffusionModel};
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{Adam, AdamConfig};
use graph_tensor::run::RunConfig;
use graph_tensor::Graph;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use tch::{nn, Device, Kind, Tensor};

fn config(max_nodes: usize, objective: Objective, sampler: SamplerKind) -> GraphDdpmConfig {
    GraphDdpmConfig {
        max_nodes,
        num_layers: 3,
        hidden: 16,
        timesteps: 8,
        objective,
        sampler: SamplerConfig {
            kind: sampler,
            steps: None,
        },
        ..GraphDdpmConfig::default()
    }
}

fn model(cfg: &GraphDdpmConfig, seed: i64) -> (nn::VarStore, GraphDdpmModel) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = GraphDdpmModel::build(&vs.root(), cfg).unwrap();
    (vs, m)
}

/// A permutation matrix `[n, n]` with `P[i, perm[i]] = 1`, so `P x` reorders rows by `perm`.
fn perm_matrix(perm: &[usize]) -> Tensor {
    let n = perm.len() as i64;
    let p = Tensor::zeros([n, n], (Kind::Float, Device::Cpu));
    for (i, &j) in perm.iter().enumerate() {
        let _ = p.get(i as i64).get(j as i64).fill_(1.0);
    }
    p
}

/// Relabelling the nodes relabels the logits: `z(P A Pᵀ, P f) = P z(A, f) Pᵀ`, for random
/// symmetric 0/1 inputs, random (not prefix) node flags and per-graph levels: to 1e-10 in
/// float64 (the algebra) and to 1e-5 in float32 for graphs of at least 5 nodes (with fewer,
/// the instance norm divides nearly constant values by their tiny spread and float32
/// rounding alone reaches ~4e-5).
#[test]
fn denoiser_is_permutation_equivariant() {
    let (b, n) = (3usize, 11usize);
    for kind in [Kind::Double, Kind::Float] {
        tch::manual_seed(5);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = Powerful::new(
            &vs.root(),
            graph_ddpm::PpgnShape {
                num_layers: 4,
                hidden: 16,
            },
        );
        if kind == Kind::Double {
            vs.double();
        }
        let tol = if kind == Kind::Double { 1e-10 } else { 1e-5 };
        let strategy = (
            proptest::collection::vec(any::<bool>(), b * n * n),
            proptest::collection::vec(any::<bool>(), b * n),
            proptest::collection::vec(0.0f64..0.5, b),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        );
        let mut runner = TestRunner::new(PtConfig {
            cases: 16,
            ..PtConfig::default()
        });
        runner
            .run(&strategy, |(bits, mut flag_bits, levels, perm)| {
                if kind == Kind::Float {
                    for g in 0..b {
                        for k in [0, 2, 5, 7, 9] {
                            flag_bits[g * n + k] = true;
                        }
                    }
                }
                let a: Vec<f32> = bits.iter().map(|&x| f32::from(u8::from(x))).collect();
                let a = Tensor::from_slice(&a).view([b as i64, n as i64, n as i64]);
                let a = graph_tensor::batch::symmetrize_upper(&a);
                let f: Vec<f32> = flag_bits.iter().map(|&x| f32::from(u8::from(x))).collect();
                let flags = Tensor::from_slice(&f).view([b as i64, n as i64]);
                let a = graph_tensor::batch::mask_adjs(&a, &flags);
                let p = perm_matrix(&perm);
                let pa = p.matmul(&a).matmul(&p.tr()).to_kind(kind);
                let pf = flags.matmul(&p.tr()).to_kind(kind);
                let (z, pz) = tch::no_grad(|| {
                    (
                        net.forward(&a.to_kind(kind), &flags.to_kind(kind), &levels, None)
                            .unwrap(),
                        net.forward(&pa, &pf, &levels, None).unwrap(),
                    )
                });
                let p = p.to_kind(kind);
                let want = p.matmul(&z).matmul(&p.tr());
                // compare on the real block (padded entries depend on nothing but biases,
                // and are never read)
                let m = graph_ddpm::loss::node_mask(&pf);
                let e = normwise(&(&pz * &m), &(&want * &m));
                prop_assert!(
                    e <= tol,
                    "{kind:?}: relabelled logits differ by {e:e} (normwise)"
                );
                Ok(())
            })
            .unwrap();
    }
}

fn tiny_dataset() -> Vec<Graph> {
    let mut gs = Vec::new();
    for n in [6usize, 7, 8, 9] {
        // a cycle and a star
        gs.push(Graph::new(n, (0..n).map(|i| (i.min((i + 1) % n), i.max((i + 1) % n)))).unwrap());
        gs.push(Graph::new(n, (1..n).map(|i| (0, i))).unwrap());
    }
    gs
}

/// A few Adam steps on 8 small graphs lower both objectives (same noise each step, so the
/// comparison is of the model, not of the draw).
#[test]
fn both_losses_decrease_on_a_tiny_dataset() {
    for objective in [Objective::Simple, Objective::Vlb] {
        let cfg = config(10, objective, SamplerKind::Auto);
        let (vs, m) = model(&cfg, 1);
        let batch = DenseBatch::from_graphs(&tiny_dataset(), 10, Device::Cpu).unwrap();
        let mut opt = Adam::new(
            &vs,
            AdamConfig {
                lr: 3e-3,
                ..AdamConfig::default()
            },
        );
        let eval = |m: &GraphDdpmModel| {
            let mut noise = NoiseSource::for_step(7, 0, batch.batch_size(), Device::Cpu);
            tch::no_grad(|| m.loss(&batch, false, &mut noise).unwrap()).double_value(&[])
        };
        let before = eval(&m);
        for step in 0..60 {
            opt.zero_grad();
            let mut noise = NoiseSource::for_step(3, step, batch.batch_size(), Device::Cpu);
            let _ = m.loss_backward(&batch, &mut noise).unwrap();
            opt.step(3e-3);
        }
        let after = eval(&m);
        assert!(
            after < 0.8 * before,
            "{objective:?}: loss {before} → {after} after 60 steps"
        );
    }
}

/// The shared conformance suite: both samplers (determinism, independence of the batch,
/// valid binary graphs with the requested node counts, errors for bad requests) and both
/// losses (deterministic in the noise, gradient reaches the parameters).
#[test]
fn shared_conformance_suite() {
    for objective in [Objective::Simple, Objective::Vlb] {
        for sampler in [SamplerKind::Vlb, SamplerKind::Simple] {
            let cfg = config(9, objective, sampler);
            let (vs, m) = model(&cfg, 2);
            check_sampler(&m, &[5, 1, 8, 0, 8, 9, 2], 11, Device::Cpu).unwrap();
            if sampler == SamplerKind::Vlb {
                check_loss(&m, &vs, &tiny_dataset()[..6], 4).unwrap();
            }
        }
    }
}

/// Graph g of a request depends only on its seed and node count, also with several
/// libtorch threads (the draws come from per-graph streams on the CPU).
#[test]
fn samples_do_not_depend_on_the_thread_count() {
    let cfg = config(12, Objective::Simple, SamplerKind::Simple);
    let (_vs, m) = model(&cfg, 3);
    let counts = [12usize, 7, 12, 10, 3];
    let seeds = [1u64, 2, 3, 4, 5];
    let run = |threads: i32| {
        tch::set_num_threads(threads);
        let b = tch::no_grad(|| m.sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})).unwrap();
        b.to_graphs(0.5).unwrap()
    };
    let one = run(1);
    let two = run(2);
    tch::set_num_threads(1);
    assert_eq!(one, two);
    assert_eq!(m.nfe(), 8);
}

#[test]
fn sampler_steps_override_counts_evaluations() {
    let mut cfg = config(8, Objective::Simple, SamplerKind::Auto);
    cfg.sampler.steps = Some(5);
    let (_vs, m) = model(&cfg, 4);
    let mut reports = Vec::new();
    tch::no_grad(|| {
        m.sample(&[6, 8, 1], &[1, 2, 3], Device::Cpu, &mut |d, t| {
            reports.push((d, t))
        })
    })
    .unwrap();
    assert_eq!(m.nfe(), 5);
    // two graphs with pairs, five evaluations each
    assert_eq!(reports.last(), Some(&(10, 10)));
}

#[test]
fn default_train_config_is_the_official_one() {
    let t = GraphDdpmModel::default_train_config();
    assert_eq!(t.epochs, Some(5000));
    assert_eq!(t.batch_size, 32);
    assert_eq!(t.optimizer.lr, 1e-3);
    assert_eq!(t.seed, 1234);
    assert!(t.ema.is_none() && t.grad_clip.is_none());
}

/// Every bad config value is one error naming its field; graphs larger than the padding are
/// refused, never truncated.
#[test]
fn bad_configs_and_data_are_errors_naming_the_field() {
    let run = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"model": "graph-ddpm", "train": serde_json::to_value(GraphDdpmModel::default_train_config()).unwrap()});
        graph_tensor::run::merge_json(&mut v, extra);
        RunConfig::<GraphDdpmConfig>::from_json(&v, "graph-ddpm")
            .map_err(|e| e.to_string())
            .and_then(|c| {
                let mut m = c.model;
                GraphDdpmModel::resolve_config(&mut m, &DataSummary::from_graphs(&tiny_dataset()))
                    .map_err(|e| e.to_string())
            })
    };
    assert!(run(serde_json::json!({})).is_ok());
    let e = run(serde_json::json!({"hiden": 4})).unwrap_err();
    assert!(e.contains("hiden"), "{e}");
    let e = run(serde_json::json!({"timesteps": 0})).unwrap_err();
    assert!(e.contains("timesteps"), "{e}");
    let e = run(serde_json::json!({"timesteps": 2, "schedule": {"kind": "explicit", "beta_bar": [0.2, 0.6]}}))
        .unwrap_err();
    assert!(
        e.contains("schedule.beta_bar[1]") && e.contains("outside"),
        "{e}"
    );
    let e = run(serde_json::json!({"schedule": {"kind": "quadratic"}})).unwrap_err();
    assert!(e.contains("quadratic"), "{e}");
    let e = run(serde_json::json!({"objective": "elbo"})).unwrap_err();
    assert!(e.contains("elbo"), "{e}");
    let e = run(serde_json::json!({"max_nodes": 5})).unwrap_err();
    assert!(e.contains("max_nodes") && e.contains("9 nodes"), "{e}");
    let _ = Schedule::default();
}

/// The presets in `configs/graph-ddpm/` are the official configurations with the official
/// training setup, each naming the official config file it comes from.
#[test]
fn presets_are_the_official_run_configs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/graph-ddpm");
    for (file, want, yaml) in [
        (
            "community-small.json",
            GraphDdpmConfig::community_small(),
            "train_com_small_ddpm.yaml",
        ),
        (
            "ego-small.json",
            GraphDdpmConfig::ego_small(),
            "train_ego_small_ddpm.yaml",
        ),
        (
            "planar-60.json",
            GraphDdpmConfig::planar_60(),
            "train_plan_ddpm.yaml",
        ),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rc = RunConfig::<GraphDdpmConfig>::from_json(&v, "graph-ddpm").unwrap();
        assert_eq!(rc.model, want, "{file}");
        assert!(want.source.as_deref().unwrap().ends_with(yaml), "{file}");
        assert_eq!(rc.train, GraphDdpmModel::default_train_config(), "{file}");
    }
}

/// A training step's loss and gradient are the same numbers with one and with two libtorch
/// threads (the batch's two parts run side by side or one after the other, and are added in
/// a fixed order).
#[test]
fn training_gradient_does_not_depend_on_the_thread_count() {
    for objective in [Objective::Simple, Objective::Vlb] {
        let cfg = config(10, objective, SamplerKind::Auto);
        let (vs, m) = model(&cfg, 6);
        let batch = DenseBatch::from_graphs(&tiny_dataset(), 10, Device::Cpu).unwrap();
        let run = |threads: i32| {
            tch::set_num_threads(threads);
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            let mut noise = NoiseSource::for_step(9, 2, batch.batch_size(), Device::Cpu);
            let loss = m
                .loss_backward(&batch, &mut noise)
                .unwrap()
                .double_value(&[]);
            let g: Vec<Tensor> = vs
                .trainable_variables()
                .iter()
                .map(|v| v.grad().flatten(0, -1))
                .collect();
            (loss, Tensor::cat(&g, 0))
        };
        let (l1, g1) = run(1);
        let (l2, g2) = run(2);
        tch::set_num_threads(1);
        assert_eq!(l1.to_bits(), l2.to_bits(), "{objective:?}");
        assert!(g1.equal(&g2), "{objective:?}: gradients differ");
    }
}
