//! Properties of the network, the loss and the model (no fixture needed): the conformance
//! suite for every sampler, symmetry, masking and permutation equivariance of the PGSN, the
//! layouts, the loss decreasing on a tiny dataset, bad inputs.

use graph_gdp::pgsn::{Dropout, Nodes, Pgsn};
use graph_gdp::{
    Corrector, Dopri5Config, DpmSolverConfig, FixedMethod, FixedStepConfig, GraphGdpConfig,
    GraphGdpModel, Layout, PcConfig, Predictor, SamplerConfig, Spacing,
};
use graph_tensor::batch::DenseBatch;
use graph_tensor::conformance::{check_loss, check_sampler};
use graph_tensor::model::DiffusionModel;
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{Adam, AdamConfig};
use graph_tensor::Graph;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use tch::{nn, Device, Kind, Tensor};

fn tiny(max_nodes: usize, sampler: SamplerConfig) -> GraphGdpConfig {
    GraphGdpConfig {
        max_nodes,
        nf: 16,
        num_layers: 2,
        rw_depth: 3,
        heads: 4,
        sampler,
        ..GraphGdpConfig::ego_small()
    }
}

fn model(cfg: &GraphGdpConfig, seed: u64) -> (nn::VarStore, GraphGdpModel) {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = GraphGdpModel::build_seeded(&vs.root(), cfg, seed).unwrap();
    (vs, m)
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().to_kind(Kind::Double).double_value(&[])
}

fn small_graphs() -> Vec<Graph> {
    let cycle = |n: usize| Graph::new(n, (0..n).map(|i| (i, (i + 1) % n))).unwrap();
    let path = |n: usize| Graph::new(n, (0..n - 1).map(|i| (i, i + 1))).unwrap();
    let star = |n: usize| Graph::new(n, (1..n).map(|i| (0, i))).unwrap();
    vec![
        cycle(5),
        path(4),
        star(6),
        cycle(8),
        path(7),
        star(3),
        cycle(6),
        path(8),
    ]
}

fn samplers() -> Vec<SamplerConfig> {
    vec![
        SamplerConfig::Pc(PcConfig {
            steps: 6,
            ..PcConfig::default()
        }),
        SamplerConfig::Pc(PcConfig {
            steps: 4,
            predictor: Predictor::ReverseDiffusion,
            corrector: Corrector::Langevin,
            corrector_steps: 2,
            ..PcConfig::default()
        }),
        SamplerConfig::Dopri5(Dopri5Config {
            rtol: 1e-3,
            atol: 1e-3,
            ..Dopri5Config::default()
        }),
        SamplerConfig::OdeFixed(FixedStepConfig {
            method: FixedMethod::Rk4,
            steps: 2,
            ..FixedStepConfig::default()
        }),
        SamplerConfig::OdeFixed(FixedStepConfig {
            method: FixedMethod::Heun,
            steps: 3,
            spacing: Spacing::LogSnr,
            denoise: false,
            ..FixedStepConfig::default()
        }),
        SamplerConfig::DpmSolver(DpmSolverConfig {
            order: 3,
            steps: 5,
            spacing: Spacing::TimeQuadratic,
            denoise: true,
            ..DpmSolverConfig::default()
        }),
    ]
}

#[test]
fn conformance_of_every_sampler_and_the_loss() {
    for sampler in samplers() {
        let kind = sampler.kind();
        let cfg = tiny(8, sampler);
        let (vs, m) = model(&cfg, 3);
        check_sampler(&m, &[5, 1, 8, 0, 8, 3], 7, Device::Cpu)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        check_loss(&m, &vs, &small_graphs(), 11).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn evaluations_are_counted() {
    let counts = [5usize, 1, 8, 0];
    let seeds = [1u64, 2, 3, 4];
    for (sampler, want) in [
        (
            SamplerConfig::Pc(PcConfig {
                steps: 7,
                ..PcConfig::default()
            }),
            7,
        ),
        (
            SamplerConfig::Pc(PcConfig {
                steps: 5,
                corrector: Corrector::Langevin,
                corrector_steps: 2,
                ..PcConfig::default()
            }),
            15,
        ),
        (
            SamplerConfig::OdeFixed(FixedStepConfig {
                method: FixedMethod::Rk4,
                steps: 6,
                ..FixedStepConfig::default()
            }),
            25,
        ),
        (
            SamplerConfig::DpmSolver(DpmSolverConfig {
                steps: 12,
                ..DpmSolverConfig::default()
            }),
            12,
        ),
    ] {
        let (_, m) = model(&tiny(8, sampler.clone()), 0);
        m.sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})
            .unwrap();
        assert_eq!(m.nfe(), want, "{sampler:?}");
        assert_eq!(m.last_nfe(), (want, want, want as f64), "{sampler:?}");
    }
    // the adaptive solver: 2 + 6k per graph plus the denoising step; graphs without a pair 1
    let (_, m) = model(&tiny(8, SamplerConfig::Dopri5(Dopri5Config::default())), 0);
    m.sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})
        .unwrap();
    let (min, max, _) = m.last_nfe();
    assert_eq!(
        min, 1,
        "graphs with fewer than two nodes only see the denoising step"
    );
    assert!(max >= 9 && (max - 3) % 6 == 0, "{max}");
}

/// Random symmetric states, node counts and times.
fn random_state(
    b: usize,
    n: usize,
    values: &[f64],
    counts: &[usize],
    times: &[f64],
) -> (Tensor, Tensor, Nodes) {
    let mut a = vec![0f64; b * n * n];
    let mut k = 0;
    for g in 0..b {
        for u in 0..n {
            for v in (u + 1)..n {
                a[g * n * n + u * n + v] = values[k];
                a[g * n * n + v * n + u] = values[k];
                k += 1;
            }
        }
    }
    let nodes = Nodes::new(counts.to_vec());
    let pm = nodes.pair_mask(n as i64, Kind::Double, Device::Cpu);
    let x = Tensor::from_slice(&a).view([b as i64, n as i64, n as i64]) * pm;
    (x, Tensor::from_slice(times), nodes)
}

#[test]
fn output_is_symmetric_masked_and_permutation_equivariant() {
    let (b, n) = (3usize, 7usize);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let cfg = tiny(n, SamplerConfig::default());
    let net = Pgsn::new(&vs.root(), &cfg, 5).unwrap();
    vs.double();
    let pairs = b * n * (n - 1) / 2;
    let strategy = (
        proptest::collection::vec(-2.5f64..2.5, pairs),
        proptest::collection::vec(0usize..=7, b),
        proptest::collection::vec(0.001f64..1.0, b),
        Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
    );
    let mut runner = TestRunner::new(PtConfig {
        cases: 24,
        ..PtConfig::default()
    });
    runner
        .run(&strategy, |(values, counts, times, perm)| {
            let (x, t, nodes) = random_state(b, n, &values, &counts, &times);
            for layout in [Layout::BySize, Layout::Padded] {
                let out = net
                    .forward_with_layout(&x, &t, &nodes, layout, Dropout::Off)
                    .unwrap();
                prop_assert_eq!(max_abs(&(&out - out.transpose(1, 2))), 0.0);
                let pm = nodes.pair_mask(n as i64, Kind::Double, Device::Cpu);
                prop_assert_eq!(max_abs(&(&out * (pm * -1.0 + 1.0))), 0.0);
                prop_assert!(out.isfinite().all().int64_value(&[]) == 1);
            }
            // relabel the real nodes of every graph with the same permutation of 0..n, so
            // prefix masks stay prefix masks: take graphs with all n nodes
            let full = Nodes::new(vec![n; b]);
            let (x, _, _) = random_state(b, n, &values, &[n; 3], &times);
            let out = net.forward(&x, &t, &full, Dropout::Off).unwrap();
            let idx = Tensor::from_slice(&perm.iter().map(|&p| p as i64).collect::<Vec<_>>());
            let px = x.index_select(1, &idx).index_select(2, &idx);
            let pout = net.forward(&px, &t, &full, Dropout::Off).unwrap();
            let want = out.index_select(1, &idx).index_select(2, &idx);
            let err = max_abs(&(&pout - &want)) / max_abs(&want).max(1e-12);
            prop_assert!(err < 1e-5, "permutation equivariance error {}", err);
            Ok(())
        })
        .unwrap();
}

#[test]
fn permutation_equivariance_in_float32_and_of_partial_graphs() {
    // float32 at 1e-5, and a relabelling of the first k nodes of graphs with k real nodes
    let cfg = tiny(9, SamplerConfig::default());
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Pgsn::new(&vs.root(), &cfg, 8).unwrap();
    let counts = vec![9, 6, 4];
    let nodes = Nodes::new(counts.clone());
    let mut noise = NoiseSource::from_seeds(&[1, 2, 3], Device::Cpu);
    let x = noise.randn_sym(9) * nodes.pair_mask(9, Kind::Float, Device::Cpu);
    let t = Tensor::from_slice(&[0.3f32, 0.05, 0.9]);
    let out = net.forward(&x, &t, &nodes, Dropout::Off).unwrap();
    let perm: Vec<Vec<i64>> = counts
        .iter()
        .map(|&c| {
            let mut p: Vec<i64> = (0..9).collect();
            p[..c].reverse();
            p
        })
        .collect();
    let permute = |a: &Tensor| {
        let parts: Vec<Tensor> = (0..3)
            .map(|g| {
                let idx = Tensor::from_slice(&perm[g]);
                a.get(g as i64).index_select(0, &idx).index_select(1, &idx)
            })
            .collect();
        Tensor::stack(&parts, 0)
    };
    let pout = net.forward(&permute(&x), &t, &nodes, Dropout::Off).unwrap();
    let want = permute(&out);
    let err = max_abs(&(&pout - &want)) / max_abs(&want);
    assert!(err < 1e-5, "float32 permutation error {err}");
}

#[test]
fn layouts_agree_in_train_mode_with_drawn_dropout() {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let cfg = tiny(9, SamplerConfig::default());
    let net = Pgsn::new(&vs.root(), &cfg, 2).unwrap();
    vs.double();
    let counts = vec![9, 4, 0, 4, 1, 7];
    let nodes = Nodes::new(counts.clone());
    let seeds: Vec<u64> = (0..6).collect();
    let x = NoiseSource::from_seeds(&seeds, Device::Cpu)
        .randn_sym(9)
        .to_kind(Kind::Double)
        * nodes.pair_mask(9, Kind::Double, Device::Cpu);
    let t = Tensor::from_slice(&[0.3f64, 0.05, 0.9, 0.5, 0.2, 1.0]);
    let run = |layout| {
        let mut noise = NoiseSource::from_seeds(&seeds, Device::Cpu);
        net.forward_with_layout(&x, &t, &nodes, layout, Dropout::Draw(&mut noise))
            .unwrap()
    };
    let (a, b) = (run(Layout::BySize), run(Layout::Padded));
    let err = max_abs(&(&a - &b)) / max_abs(&b);
    assert!(err < 1e-12, "layouts differ by {err}");
    let eval = net
        .forward_with_layout(&x, &t, &nodes, Layout::BySize, Dropout::Off)
        .unwrap();
    assert!(max_abs(&(&eval - &a)) > 1e-3, "dropout had no effect");
}

#[test]
fn loss_decreases_on_a_tiny_dataset() {
    let cfg = tiny(8, SamplerConfig::default());
    let (vs, m) = model(&cfg, 1);
    let graphs = small_graphs();
    let batch = DenseBatch::from_graphs(&graphs, 8, Device::Cpu).unwrap();
    let held_out = |m: &GraphGdpModel| -> f64 {
        (0..8)
            .map(|k| {
                let mut noise = NoiseSource::for_step(99, k, graphs.len(), Device::Cpu);
                tch::no_grad(|| m.loss(&batch, false, &mut noise))
                    .unwrap()
                    .double_value(&[])
            })
            .sum::<f64>()
            / 8.0
    };
    let before = held_out(&m);
    let mut opt = Adam::new(
        &vs,
        AdamConfig {
            lr: 3e-3,
            ..AdamConfig::default()
        },
    );
    for step in 0..150 {
        opt.zero_grad();
        let mut noise = NoiseSource::for_step(5, step, graphs.len(), Device::Cpu);
        let loss = m.loss_backward(&batch, &mut noise).unwrap();
        assert!(loss.double_value(&[]).is_finite());
        opt.clip_grad_norm(1.0);
        opt.step(3e-3);
    }
    let after = held_out(&m);
    eprintln!("held-out loss {before:.4} -> {after:.4}");
    assert!(after < 0.8 * before, "loss {before} -> {after}");
}

#[test]
fn the_unused_variable_keeps_its_value_under_training() {
    let cfg = tiny(8, SamplerConfig::default());
    let (vs, m) = model(&cfg, 4);
    let before = m.network().unused_variable().copy();
    let graphs = small_graphs();
    let batch = DenseBatch::from_graphs(&graphs, 8, Device::Cpu).unwrap();
    let mut opt = Adam::new(&vs, AdamConfig::default());
    for step in 0..3 {
        opt.zero_grad();
        let mut noise = NoiseSource::for_step(0, step, graphs.len(), Device::Cpu);
        let _ = m.loss_backward(&batch, &mut noise).unwrap();
        opt.step(1e-2);
    }
    assert!(m.network().unused_variable().equal(&before));
}

#[test]
fn bad_inputs_are_errors() {
    let cfg = tiny(6, SamplerConfig::default());
    let (_, m) = model(&cfg, 0);
    // a batch padded to another size
    let g = Graph::new(3, [(0, 1)]).unwrap();
    let other = DenseBatch::from_graphs([&g], 7, Device::Cpu).unwrap();
    let mut noise = NoiseSource::for_step(0, 0, 1, Device::Cpu);
    let e = m.loss(&other, true, &mut noise).unwrap_err().to_string();
    assert!(e.contains("padded to 7"), "{e}");
    // a mask that is not a prefix
    let b = DenseBatch::from_graphs([&g], 6, Device::Cpu).unwrap();
    let mask = Tensor::from_slice(&[0f32, 1., 1., 1., 0., 0.]).view([1, 6]);
    let shifted = DenseBatch::new(
        b.adj()
            .roll([1i64].as_slice(), [1i64].as_slice())
            .roll([1i64].as_slice(), [2i64].as_slice()),
        mask,
    )
    .unwrap();
    let e = m.loss(&shifted, true, &mut noise).unwrap_err().to_string();
    assert!(e.contains("prefix"), "{e}");
    // noise streams of another batch size
    let mut two = NoiseSource::for_step(0, 0, 2, Device::Cpu);
    assert!(m.loss(&b, true, &mut two).is_err());
    // oversize graphs
    assert!(m.sample(&[7], &[0], Device::Cpu, &mut |_, _| {}).is_err());
    // the network's own checks
    let net = m.network();
    let x = Tensor::zeros([2, 5, 5], (Kind::Float, Device::Cpu));
    let t = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let e = net
        .forward(&x, &t, &Nodes::new(vec![2, 2]), Dropout::Off)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_nodes = 6"), "{e}");
    let x = Tensor::zeros([2, 6, 5 + 1], (Kind::Double, Device::Cpu));
    let e = net
        .forward(
            &x,
            &t.to_kind(Kind::Double),
            &Nodes::new(vec![2, 2]),
            Dropout::Off,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("Double"), "{e}");
}

/// The CPU's fused pair loops (evaluation without gradients, and the training tape with its
/// hand-written backward) compute what the libtorch formulation and its autograd compute.
#[test]
fn fused_forward_and_training_tape_match_autograd() {
    for (kind, clamp, tol_out, tol_grad) in [
        (Kind::Double, false, 1e-12, 1e-10),
        (Kind::Double, true, 1e-12, 1e-10),
        (Kind::Float, false, 1e-5, 1e-4),
    ] {
        let cfg = GraphGdpConfig {
            attn_clamp: clamp,
            ..tiny(9, SamplerConfig::default())
        };
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = Pgsn::new(&vs.root(), &cfg, 6).unwrap();
        if kind == Kind::Double {
            vs.double();
        }
        let counts = vec![9, 4, 0, 4, 1, 7, 9];
        let nodes = Nodes::new(counts.clone());
        let seeds: Vec<u64> = (10..17).collect();
        // large entries so that the clamp acts
        let scale = if clamp { 6.0 } else { 1.0 };
        let x = NoiseSource::from_seeds(&seeds, Device::Cpu)
            .randn_sym(9)
            .to_kind(kind)
            * scale
            * nodes.pair_mask(9, kind, Device::Cpu);
        let t = Tensor::from_slice(&[0.3f64, 0.05, 0.9, 0.5, 0.2, 1.0, 0.7]).to_kind(kind);
        let rel = |a: &Tensor, b: &Tensor| {
            let d = (a - b).to_kind(Kind::Double);
            let n = b.to_kind(Kind::Double).norm().double_value(&[]);
            d.norm().double_value(&[]) / n.max(1e-300)
        };
        // evaluation
        let fused = tch::no_grad(|| net.forward(&x, &t, &nodes, Dropout::Off)).unwrap();
        let plain = net.forward(&x, &t, &nodes, Dropout::Off).unwrap().detach();
        let e = rel(&fused, &plain);
        assert!(e < tol_out, "{kind:?} clamp {clamp}: eval differs by {e:e}");
        // training: the same dropout draws, a random linear loss
        let w = NoiseSource::from_seeds(&seeds, Device::Cpu)
            .randn(&[9, 9])
            .to_kind(kind);
        let grads = |vs: &nn::VarStore| -> Vec<(String, Tensor)> {
            let mut v: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(k, v)| {
                    let g = v.grad();
                    (k, if g.defined() { g.copy() } else { g })
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        for v in vs.trainable_variables() {
            let mut v = v;
            v.zero_grad();
        }
        let mut na = NoiseSource::from_seeds(&seeds, Device::Cpu);
        let out_a = net.forward(&x, &t, &nodes, Dropout::Draw(&mut na)).unwrap();
        (&out_a * &w).sum(kind).backward();
        let want = grads(&vs);
        for v in vs.trainable_variables() {
            let mut v = v;
            v.zero_grad();
        }
        let mut nb = NoiseSource::from_seeds(&seeds, Device::Cpu);
        let (out_b, tape) = net
            .forward_train_tape(&x, &t, &nodes, Dropout::Draw(&mut nb))
            .unwrap();
        let e = rel(&out_b.detach(), &out_a.detach());
        assert!(
            e < tol_out,
            "{kind:?} clamp {clamp}: train output differs by {e:e}"
        );
        tape.backward(&net, &(&out_b * &w).sum(kind));
        let got = grads(&vs);
        for ((name, g), (_, wnt)) in got.iter().zip(&want) {
            if !wnt.defined() {
                assert!(
                    !g.defined() || g.abs().max().double_value(&[]) == 0.0,
                    "{name}"
                );
                continue;
            }
            let e = rel(g, wnt);
            assert!(
                e < tol_grad,
                "{kind:?} clamp {clamp}: gradient of {name} differs by {e:e}"
            );
        }
    }
}

/// The presets in `configs/graph-gdp/` are the official configurations (each naming the
/// official config file it comes from) with the official training setup and this project's
/// few-evaluation sampler under `samplers.few_step`.
#[test]
fn presets_are_the_official_run_configs() {
    use graph_tensor::run::RunConfig;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/graph-gdp");
    for (file, want, py, steps, few_steps) in [
        (
            "community-small.json",
            GraphGdpConfig::community_small(),
            "vp_com_small_pgsn.py",
            1_500_001,
            32,
        ),
        (
            "ego-small.json",
            GraphGdpConfig::ego_small(),
            "vp_ego_small_pgsn.py",
            200_001,
            20,
        ),
        (
            "enzymes.json",
            GraphGdpConfig::enzymes(),
            "vp_enzyme_pgsn.py",
            2_000_001,
            20,
        ),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rc = RunConfig::<GraphGdpConfig>::from_json(&v, "graph-gdp").unwrap();
        assert_eq!(rc.model, want, "{file}");
        assert!(want.source.as_deref().unwrap().ends_with(py), "{file}");
        assert_eq!(
            rc.model.samplers[graph_gdp::FEW_STEP],
            graph_gdp::few_step_sampler(few_steps),
            "{file}"
        );
        // The JSON spells the few-step sampler out in full, not through defaults.
        assert_eq!(
            v["samplers"][graph_gdp::FEW_STEP],
            serde_json::to_value(graph_gdp::few_step_sampler(few_steps)).unwrap(),
            "{file}"
        );
        // The presets' own length and bookkeeping (neither changes what a step computes).
        let mut train = GraphGdpModel::default_train_config();
        train.steps = Some(steps);
        train.log_every = 200;
        train.checkpoint_every = 5000;
        assert_eq!(rc.train, train, "{file}");
    }
}
