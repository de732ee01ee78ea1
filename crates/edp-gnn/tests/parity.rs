//! Parity with the official EDP-GNN code (ermongroup/GraphScoreMatching @ 0b8206c).
//!
//! The fixture in `../shared/parity/edp-gnn/` (see its README) holds the official weights
//! after 20 training steps, one σ-major batch (4 graphs × 6 σ) with the official outputs,
//! losses, gradients, BatchNorm running statistics and float64 references, and one official
//! Langevin step with its noise stored. Tolerances are the README's acceptance criteria.

use std::collections::HashMap;
use std::path::PathBuf;

use edp_gnn::loss::score_matching_loss;
use edp_gnn::network::{load_official_weights, Conditioning, EdgeBackward, EdpGnn};
use edp_gnn::sampler::langevin_step;
use edp_gnn::EdpGnnConfig;
use graph_tensor::compare::{allclose_ratio, l2_rel, max_abs, normwise};
use tch::{nn, Device, Kind, Tensor};

/// `../shared/parity/edp-gnn`, or `$GRAPHDIFF_SHARED/parity/edp-gnn` where that variable is
/// set (a test binary run on another machine, e.g. the GPU check of `scripts/cuda_check.sh`).
fn fixture_dir() -> PathBuf {
    graph_tensor::compare::fixture_dir(env!("CARGO_MANIFEST_DIR"), "edp-gnn")
}

/// The device the network runs on: CPU, or CUDA with the `cuda` feature (the same
/// tolerances then hold on the GPU).
fn device() -> Device {
    if cfg!(feature = "cuda") {
        assert!(tch::Cuda::is_available(), "feature cuda: no CUDA device");
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}

/// The training path's backward: the hand-written one on the CPU, autograd on CUDA.
fn train_tape_backward() -> EdgeBackward {
    if device() == Device::Cpu {
        EdgeBackward::HandWritten
    } else {
        EdgeBackward::Autograd
    }
}

fn read(name: &str) -> HashMap<String, Tensor> {
    graph_tensor::compare::read_tensors(&fixture_dir().join(name), device())
}

/// The official network with the fixture's weights, in float32 or float64.
fn official_net(kind: Kind) -> (nn::VarStore, EdpGnn) {
    let mut vs = nn::VarStore::new(device());
    let net = EdpGnn::new(&vs.root(), &EdpGnnConfig::default(), 0).unwrap();
    load_official_weights(&vs, &fixture_dir().join("model.safetensors")).unwrap();
    if kind == Kind::Double {
        vs.double();
    }
    (vs, net)
}

fn assert_allclose(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol_rel_max: f64) {
    let atol = atol_rel_max * max_abs(want);
    let r = allclose_ratio(got, want, rtol, atol);
    eprintln!(
        "{what}: allclose ratio {r:.3e} (rtol {rtol:e}, atol {atol:.3e}), normwise {:.3e}",
        normwise(got, want)
    );
    assert!(r <= 1.0, "{what}: allclose ratio {r} > 1");
}

/// Gradients that are exactly zero in train mode (BatchNorm removes a per-channel
/// constant), see the README.
fn structurally_zero(name: &str) -> bool {
    (name.starts_with("gnn_list.")
        && (name.ends_with("translate_mlp.linears.0.bias")
            || name.ends_with("translate_mlp.linears.1.bias")))
        || (name.starts_with("gnn_list.4.multi_channel_gnn_module.linear_prediction.")
            && name.ends_with(".2.bias"))
}

fn zero_grads(vs: &nn::VarStore) {
    for mut v in vs.trainable_variables() {
        v.zero_grad();
    }
}

fn grads(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    vs.variables()
        .into_iter()
        .filter(|(_, v)| v.requires_grad())
        .map(|(k, v)| (k, v.grad().copy()))
        .collect()
}

struct Inputs {
    x: Tensor,
    adj: Tensor,
    flags: Tensor,
    target: Tensor,
    level: Tensor,
}

fn inputs(c: &HashMap<String, Tensor>, kind: Kind) -> Inputs {
    Inputs {
        x: c["x"].to_kind(kind).to_device(device()),
        adj: c["noisy_adj"].to_kind(kind).to_device(device()),
        flags: c["node_flags"].to_kind(kind).to_device(device()),
        target: c["target"].to_kind(kind).to_device(device()),
        level: c["sigma_index"].to_device(device()),
    }
}

/// Node counts of prefix flags `[B, N]` (asserting they are a prefix).
fn prefix_counts(flags: &Tensor) -> Vec<usize> {
    let n = flags.size()[1] as usize;
    let f = Vec::<f32>::try_from(
        flags
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )
    .unwrap();
    f.chunks(n)
        .map(|row| {
            let c = row.iter().filter(|&&v| v > 0.5).count();
            assert!(row[..c].iter().all(|&v| v == 1.0), "flags are not a prefix");
            c
        })
        .collect()
}

fn sigmas() -> Vec<f64> {
    EdpGnnConfig::default().sigmas
}

#[test]
fn parameter_names_and_count_match_the_official_state_dict() {
    let model = read("model.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = EdpGnn::new(&vs.root(), &EdpGnnConfig::default(), 0).unwrap();
    let vars = vs.variables();
    let mut ours: Vec<_> = vars.keys().cloned().collect();
    let mut theirs: Vec<_> = model.keys().cloned().collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    for (k, v) in &vars {
        assert_eq!(v.size(), model[k].size(), "{k}");
        assert_eq!(v.kind(), model[k].kind(), "{k}");
    }
    let params: usize = vs.trainable_variables().iter().map(Tensor::numel).sum();
    assert_eq!(params, 91_013);
    assert_eq!(vs.trainable_variables().len(), 265);
}

#[test]
fn eval_and_train_float32_match_official() {
    let c = read("cases.safetensors");
    let (vs, net) = official_net(Kind::Float);
    let inp = inputs(&c, Kind::Float);
    let sig = sigmas();

    // 1. eval, no grad.
    let (score, trace) = tch::no_grad(|| {
        net.forward_trace(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::SigmaMajor,
            false,
        )
    })
    .unwrap();
    for (i, t) in trace.iter().enumerate() {
        eprintln!(
            "eval layer {i}: x {:.2e}, adjs {:.2e}",
            normwise(&t.x, &c[&format!("eval.layer{i}.x")]),
            normwise(&t.adjs, &c[&format!("eval.layer{i}.adjs")])
        );
    }
    assert_allclose("score (eval)", &score, &c["score"], 1e-5, 1e-5);

    // 1b. the same through the padding-free evaluation used by the sampler.
    let counts = prefix_counts(&inp.flags);
    let fast =
        tch::no_grad(|| net.score_prefix(&inp.adj, &counts, Conditioning::SigmaMajor)).unwrap();
    assert_allclose("score (eval, score_prefix)", &fast, &c["score"], 1e-5, 1e-5);

    // 2. eval with backward.
    zero_grads(&vs);
    let score = net
        .forward_t(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::SigmaMajor,
            false,
        )
        .unwrap();
    let (loss, items) = score_matching_loss(&score, &inp.target, &sig).unwrap();
    assert_allclose("loss_eval", &loss, &c["loss_eval"], 1e-5, 1e-5);
    assert_allclose("loss_items_eval", &items, &c["loss_items_eval"], 1e-5, 1e-5);
    loss.backward();
    let g = grads(&vs);
    assert_eq!(g.len(), 265);
    let mut worst = (0.0, String::new());
    for (k, gv) in &g {
        let r = l2_rel(gv, &c[&format!("grad_eval.{k}")]);
        if r > worst.0 {
            worst = (r, k.clone());
        }
    }
    eprintln!("grad_eval: worst L2-rel {:.3e} ({})", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "grad_eval {} L2-rel {}", worst.1, worst.0);

    // 3. train mode with backward (BatchNorm batch statistics, running-stat update).
    zero_grads(&vs);
    let (score, trace) = net
        .forward_trace(&inp.x, &inp.adj, &inp.flags, Conditioning::SigmaMajor, true)
        .unwrap();
    for (i, t) in trace.iter().enumerate() {
        eprintln!(
            "train layer {i}: x {:.2e}, adjs {:.2e}",
            normwise(&t.x, &c[&format!("train.layer{i}.x")]),
            normwise(&t.adjs, &c[&format!("train.layer{i}.adjs")])
        );
    }
    check_train_float32(
        &c,
        &vs,
        &score,
        &inp.target,
        Box::new(|loss| loss.backward()),
    );
}

/// The train-mode checks of the float32 fixture: score, loss, the head's gradients, the
/// structurally zero gradients and the BatchNorm running statistics after one train-mode
/// forward; `backward` takes the loss's gradient.
fn check_train_float32(
    c: &HashMap<String, Tensor>,
    vs: &nn::VarStore,
    score: &Tensor,
    target: &Tensor,
    backward: Box<dyn FnOnce(&Tensor) + '_>,
) {
    let sig = sigmas();
    assert_allclose("score_train", score, &c["score_train"], 0.0, 2e-4);
    let (loss, items) = score_matching_loss(score, target, &sig).unwrap();
    assert_allclose("loss (train)", &loss, &c["loss"], 1e-5, 1e-5);
    assert_allclose("loss_items (train)", &items, &c["loss_items"], 1e-5, 1e-5);
    backward(&loss);
    let g = grads(vs);
    let mut head_worst: f64 = 0.0;
    let mut zero_worst: f64 = 0.0;
    for (k, gv) in &g {
        let want = &c[&format!("grad.{k}")];
        if structurally_zero(k) {
            zero_worst = zero_worst.max(max_abs(gv));
        } else if k.starts_with("final_read_score.") {
            let r = l2_rel(gv, want);
            head_worst = head_worst.max(r);
        }
    }
    eprintln!(
        "grad.final_read_score.*: worst L2-rel {head_worst:.3e}; structurally-zero grads: max |g| {zero_worst:.3e}"
    );
    assert!(head_worst < 2e-3);
    assert!(zero_worst < 1e-2);

    let vars = vs.variables();
    let mut bn_worst: f64 = 0.0;
    let mut n_bn = 0;
    for (k, want) in c.iter().filter(|(k, _)| k.starts_with("bn_after_train.")) {
        let name = &k["bn_after_train.".len()..];
        let got = &vars[name];
        if want.kind() == Kind::Int64 {
            assert_eq!(got.int64_value(&[]), want.int64_value(&[]), "{name}");
            assert_eq!(got.int64_value(&[]), 21);
        } else {
            bn_worst = bn_worst.max(l2_rel(got, want));
        }
        n_bn += 1;
    }
    eprintln!("bn_after_train: worst L2-rel {bn_worst:.3e}");
    assert_eq!(n_bn, 30);
    assert!(bn_worst < 1e-5);
}

/// [`EdpGnn::forward_train_tape`] (on the CPU the edge MLPs with their hand-written
/// backward) meets the same float32 train-mode acceptance criteria.
#[test]
fn train_tape_float32_matches_official() {
    with_train_tape(Kind::Float, check_train_float32);
}

/// A train-mode check: fixture, variables, score, target, and how to take the gradient.
type TrainCheck =
    fn(&HashMap<String, Tensor>, &nn::VarStore, &Tensor, &Tensor, Box<dyn FnOnce(&Tensor) + '_>);

/// Runs the fixture batch through [`EdpGnn::forward_train_tape`] (the official weights in
/// `kind`, gradients zeroed) and hands the score to `check` with the tape's backward.
fn with_train_tape(kind: Kind, check: TrainCheck) {
    let c = read("cases.safetensors");
    let (vs, net) = official_net(kind);
    let inp = inputs(&c, kind);
    zero_grads(&vs);
    let (score, tape) = net
        .forward_train_tape(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::SigmaMajor,
            train_tape_backward(),
        )
        .unwrap();
    check(
        &c,
        &vs,
        &score,
        &inp.target,
        Box::new(|loss| tape.backward(loss)),
    );
}

#[test]
fn float64_matches_official_float64() {
    let c = read("cases.safetensors");
    let (vs, net) = official_net(Kind::Double);
    let inp = inputs(&c, Kind::Double);
    let sig = sigmas();

    let score = tch::no_grad(|| {
        net.forward_t(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::SigmaMajor,
            false,
        )
    })
    .unwrap();
    let e = normwise(&score, &c["score_f64"]);
    eprintln!("score_f64 (eval): normwise {e:.3e}");
    assert!(e < 1e-9);
    let (loss, items) = score_matching_loss(&score, &inp.target, &sig).unwrap();
    let e = normwise(&loss, &c["loss_eval_f64"]).max(normwise(&items, &c["loss_items_eval_f64"]));
    eprintln!("loss_eval_f64, loss_items_eval_f64: {e:.3e}");
    assert!(e < 1e-9);

    zero_grads(&vs);
    let score = net
        .forward_t(&inp.x, &inp.adj, &inp.flags, Conditioning::SigmaMajor, true)
        .unwrap();
    check_train_float64(
        &c,
        &vs,
        &score,
        &inp.target,
        Box::new(|loss| loss.backward()),
    );
}

/// The train-mode checks of the float64 references: score, loss, every gradient and the
/// BatchNorm running statistics; `backward` takes the loss's gradient.
fn check_train_float64(
    c: &HashMap<String, Tensor>,
    vs: &nn::VarStore,
    score: &Tensor,
    target: &Tensor,
    backward: Box<dyn FnOnce(&Tensor) + '_>,
) {
    let sig = sigmas();
    let e = normwise(score, &c["score_train_f64"]);
    eprintln!("score_train_f64: normwise {e:.3e}");
    assert!(e < 1e-9);
    let (loss, items) = score_matching_loss(score, target, &sig).unwrap();
    let e = normwise(&loss, &c["loss_f64"]).max(normwise(&items, &c["loss_items_f64"]));
    eprintln!("loss_f64, loss_items_f64: {e:.3e}");
    assert!(e < 1e-9);
    backward(&loss);

    let g = grads(vs);
    let mut worst = (0.0, String::new());
    let mut zero_worst: f64 = 0.0;
    let mut first_linear = 0.0;
    for (k, gv) in &g {
        let want = &c[&format!("f64.grad.{k}")];
        if structurally_zero(k) {
            zero_worst = zero_worst.max(max_abs(gv));
            continue;
        }
        let r = l2_rel(gv, want);
        if k == "gnn_list.0.multi_channel_gnn_module.layers.0.linears.0.weight" {
            first_linear = r;
        }
        if r > worst.0 {
            worst = (r, k.clone());
        }
    }
    eprintln!(
        "f64.grad.*: worst L2-rel {:.3e} ({}); first Linear {first_linear:.3e}; structurally zero max |g| {zero_worst:.3e}",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-8);
    assert!(zero_worst < 1e-9);

    let vars = vs.variables();
    let mut bn_worst: f64 = 0.0;
    let mut n = 0;
    for (k, want) in c
        .iter()
        .filter(|(k, _)| k.starts_with("f64.bn_after_train."))
    {
        let got = &vars[&k["f64.bn_after_train.".len()..]];
        assert_eq!(got.kind(), Kind::Double);
        bn_worst = bn_worst.max(l2_rel(got, want));
        n += 1;
    }
    eprintln!("f64.bn_after_train: worst L2-rel {bn_worst:.3e}");
    assert_eq!(n, 20);
    assert!(bn_worst < 1e-8);
}

/// [`EdpGnn::forward_train_tape`] meets the float64 criteria: on the CPU every gradient of
/// the hand-written edge-MLP backward within 1e-8 of the official float64 gradient.
#[test]
fn train_tape_float64_matches_official_float64() {
    with_train_tape(Kind::Double, check_train_float64);
}

#[test]
fn langevin_step_matches_official() {
    let s = read("sampler.safetensors");
    let (_vs, net) = official_net(Kind::Float);
    let step = langevin_step(
        &net,
        &s["adj_start"],
        &s["node_flags"],
        Conditioning::PerSample(&s["sigma_index"]),
        &s["step_size"],
        &s["noise_scale"],
        &s["noise"],
    )
    .unwrap();
    assert_allclose("adj_noised", &step.noised, &s["adj_noised"], 1e-5, 1e-5);
    assert_allclose("sampler score", &step.score, &s["score"], 1e-5, 1e-5);
    assert_allclose("adj_next", &step.next, &s["adj_next"], 1e-5, 1e-5);
    let counts = prefix_counts(&s["node_flags"]);
    assert_eq!(&counts[..4], &[14, 12, 14, 20]);
    let fast = tch::no_grad(|| {
        net.score_prefix(
            &step.noised,
            &counts,
            Conditioning::PerSample(&s["sigma_index"]),
        )
    })
    .unwrap();
    assert_allclose(
        "sampler score (score_prefix)",
        &fast,
        &s["score"],
        1e-5,
        1e-5,
    );
    let e = normwise(&step.next, &s["adj_next_f64"]);
    eprintln!("adj_next vs adj_next_f64: {e:.3e}");
    assert!(e < 1e-5);
    // The stored per-sample constants are the ones the sampler computes.
    let sampler =
        edp_gnn::AnnealedLangevin::new(&sigmas(), edp_gnn::SamplerConfig::default()).unwrap();
    let levels = Vec::<i64>::try_from(s["sigma_index"].to_device(Device::Cpu)).unwrap();
    let alpha = Vec::<f32>::try_from(s["step_size"].to_device(Device::Cpu)).unwrap();
    let scale = Vec::<f32>::try_from(s["noise_scale"].to_device(Device::Cpu)).unwrap();
    for ((&l, &a), &sc) in levels.iter().zip(&alpha).zip(&scale) {
        approx::assert_relative_eq!(sampler.step_size(l as usize) as f32, a, max_relative = 1e-6);
        approx::assert_relative_eq!(
            sampler.noise_scale(l as usize) as f32,
            sc,
            max_relative = 1e-6
        );
    }
}

#[test]
fn per_sample_levels_equal_the_sigma_major_forward() {
    let c = read("cases.safetensors");
    let (_vs, net) = official_net(Kind::Float);
    let inp = inputs(&c, Kind::Float);
    let reference = tch::no_grad(|| {
        net.forward_t(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::SigmaMajor,
            false,
        )
    })
    .unwrap();
    // A fixed shuffle of the 24 samples, with each sample's level carried along.
    let perm: Vec<i64> = (0..24).map(|i| (i * 7 + 5) % 24).collect();
    let perm_t = Tensor::from_slice(&perm).to_device(device());
    let lv = inp.level.index_select(0, &perm_t);
    let got = tch::no_grad(|| {
        net.forward_t(
            &inp.x.index_select(0, &perm_t),
            &inp.adj.index_select(0, &perm_t),
            &inp.flags.index_select(0, &perm_t),
            Conditioning::PerSample(&lv),
            false,
        )
    })
    .unwrap();
    let want = reference.index_select(0, &perm_t);
    let e = normwise(&got, &want);
    eprintln!("per-sample vs σ-major (eval): {e:.3e}");
    assert!(e < 1e-6);
    // Same layout, explicit levels: identical to σ-major.
    let got = tch::no_grad(|| {
        net.forward_t(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::PerSample(&inp.level),
            false,
        )
    })
    .unwrap();
    assert!(normwise(&got, &reference) < 1e-7);
    // A level shift changes the output (the conditioning is used at all).
    let shifted = (&inp.level + 1).remainder(6);
    let other = tch::no_grad(|| {
        net.forward_t(
            &inp.x,
            &inp.adj,
            &inp.flags,
            Conditioning::PerSample(&shifted),
            false,
        )
    })
    .unwrap();
    assert!(normwise(&other, &reference) > 1e-3);
}
