//! Parity with the official discrete DDPM code (kilianhae/discrete_DPPM_Graphs @ 3e924ef).
//!
//! The fixture in `../shared/parity/graph-ddpm/` (see its README, the exact specification)
//! holds the official weights after 20 training steps, one batch of 4 graphs noised twice
//! (an L_simple case and a VLB case) with logits, losses, gradients and float64 references,
//! the schedule tables for T = 32, 64, 128, and three steps of each official sampler with
//! every Bernoulli draw's uniforms stored. Tolerances are the README's acceptance criteria.

use std::collections::HashMap;
use std::path::PathBuf;

use graph_ddpm::loss::{node_mask, noise_adjacency, simple_loss, vlb_loss};
use graph_ddpm::ppgn::{dropout_scale, PpgnTrace};
use graph_ddpm::sampler::{simple_step, vlb_step};
use graph_ddpm::transition::{torch_linspace_f32, LevelTensors, StepLevels};
use graph_ddpm::{load_official_weights, DoublyStochastic, GraphDdpmConfig, Powerful, Schedule};
use graph_tensor::compare::{l2_rel, max_abs, normwise, same_values};
use tch::{nn, Device, Kind, Tensor};

fn fixture_dir() -> PathBuf {
    graph_tensor::compare::fixture_dir(env!("CARGO_MANIFEST_DIR"), "graph-ddpm")
}

/// CPU, or CUDA with the `cuda` feature (the same tolerances then hold on the GPU).
fn device() -> Device {
    if cfg!(feature = "cuda") {
        assert!(tch::Cuda::is_available(), "feature cuda: no CUDA device");
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}

fn read(name: &str) -> HashMap<String, Tensor> {
    graph_tensor::compare::read_tensors(&fixture_dir().join(name), device())
}

/// The official network with the fixture's weights, in float32 or float64.
fn official_net(kind: Kind) -> (nn::VarStore, Powerful) {
    let mut vs = nn::VarStore::new(device());
    let net = Powerful::new(&vs.root(), GraphDdpmConfig::default().shape());
    load_official_weights(&vs, &fixture_dir().join("model.safetensors")).unwrap();
    if kind == Kind::Double {
        vs.double();
    }
    (vs, net)
}

fn f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )
    .unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .double_value(&[])
}

fn check_normwise(what: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let e = normwise(got, want);
    eprintln!("{what}: normwise {e:.3e}");
    assert!(e <= tol, "{what}: normwise {e:e} > {tol:e}");
}

fn check_exact(what: &str, got: &Tensor, want: &Tensor) {
    assert!(
        same_values(got, want),
        "{what}: differs (max |Δ| {:e})",
        max_abs(&(graph_tensor::compare::host(got) - graph_tensor::compare::host(want)))
    );
}

fn check_rel(what: &str, got: f64, want: f64, tol: f64) {
    let e = (got - want).abs() / want.abs();
    eprintln!("{what}: {got} vs {want}, relative {e:.3e}");
    assert!(e <= tol, "{what}: relative error {e:e} > {tol:e}");
}

#[test]
fn parameter_names_shapes_and_count_match_the_official_state_dict() {
    let model = read("model.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = Powerful::new(&vs.root(), GraphDdpmConfig::default().shape());
    let vars = vs.variables();
    let mut ours: Vec<_> = vars.keys().cloned().collect();
    let mut theirs: Vec<_> = model.keys().cloned().collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 96);
    for (k, v) in &vars {
        assert_eq!(v.size(), model[k].size(), "{k}");
        assert_eq!(v.kind(), model[k].kind(), "{k}");
    }
    let total: usize = vars.values().map(Tensor::numel).sum();
    assert_eq!(total, 63_886);
    // Only the 68 tensors the forward uses are trained (the official unused modules get no
    // gradient, so Adam never moves them).
    let trainable = vs.trainable_variables();
    assert_eq!(trainable.len(), 68);
    assert_eq!(trainable.iter().map(Tensor::numel).sum::<usize>(), 45_249);
    let cases = read("cases.safetensors");
    let grads = cases
        .keys()
        .filter(|k| k.starts_with("simple.grad."))
        .count();
    assert_eq!(grads, 68);
    for (k, v) in &vars {
        assert_eq!(
            v.requires_grad(),
            cases.contains_key(&format!("simple.grad.{k}")),
            "{k}: trainable iff the official code gives it a gradient"
        );
    }
}

#[test]
fn schedule_tables_match_the_official_ones() {
    let s = read("schedule.safetensors");
    for t_max in [32usize, 64, 128] {
        let p = DoublyStochastic::new(&Schedule::Linear {}, t_max).unwrap();
        let key = |k: &str| format!("T{t_max}.{k}");
        assert_eq!(p.beta_bars(), f64s(&s[&key("beta_bar")]).as_slice());
        assert_eq!(p.beta_bars(), f64s(&s[&key("beta_bar_np")]).as_slice());
        assert_eq!(p.betas(), f64s(&s[&key("beta")]).as_slice());
        // the loss's β̄_{t−1} = β̄_t − β̄_t/t is our β̄_{t−1} for these T
        let tm1 = f64s(&s[&key("beta_bar_tm1_loss")]);
        for (t, &v) in tm1.iter().enumerate().skip(1) {
            assert_eq!(v, p.beta_bar(t - 1), "T {t_max} t {t}");
        }
        for table in ["posterior", "posterior_loss_convention"] {
            let want = f64s(&s[&key(table)]);
            for t in 1..=t_max {
                for a_t in 0..2 {
                    for a_0 in 0..2 {
                        let w = want[t * 4 + a_t * 2 + a_0];
                        let g = p.posterior(t, a_t == 1, a_0 == 1);
                        assert!(
                            (g - w).abs() <= 1e-15,
                            "T {t_max} {table}[{t}][{a_t}][{a_0}]: {g} vs {w}"
                        );
                    }
                }
            }
        }
        let levels = torch_linspace_f32(0.0, 0.5, t_max);
        assert_eq!(levels, f64s(&s[&key("simple_sampler_levels")]));
    }
}

/// The forward noising of both cases, bit for bit from the stored uniforms.
#[test]
fn noising_from_the_stored_uniforms_is_exact() {
    let c = read("cases.safetensors");
    let (_vs, net) = official_net(Kind::Float);
    let adj0 = &c["adj_clean"];
    let flags = &c["node_flags"];
    check_exact("mask", &node_mask(flags), &c["mask"]);
    let vlb_levels = f64s(&c["vlb.beta_bar_t"]);
    for (prefix, levels) in [("simple", f64s(&c["simple.beta_bar"])), ("vlb", vlb_levels)] {
        let key = |k: &str| format!("{prefix}.{k}");
        let noised = noise_adjacency(adj0, flags, &levels, &c[&key("uniform")]).unwrap();
        // the stored draw covers the full matrix; we read its strict upper triangle
        let draw = c[&key("uniform")]
            .lt_tensor(&c[&key("bernoulli_prob")])
            .to_kind(Kind::Float);
        check_exact(&key("bernoulli_draw"), &draw, &c[&key("bernoulli_draw")]);
        check_exact(&key("noisy_adj"), &noised.noisy, &c[&key("noisy_adj")]);
        check_exact(&key("flip_target"), &noised.flips, &c[&key("flip_target")]);
        let mut trace = PpgnTrace::default();
        let _ = net
            .forward_traced(&noised.noisy, flags, &levels, None, Some(&mut trace))
            .unwrap();
        check_exact(
            &key("net_input"),
            trace.input.as_ref().unwrap(),
            &c[&key("net_input")],
        );
    }
    // The official keep/flip probabilities are float32 values of the doubles 1 − β̄, β̄.
    let beta = f64s(&c["simple.beta_bar"]);
    let p = f64s(&c["simple.bernoulli_prob"].get(0));
    let a = f64s(&adj0.get(0));
    for (x, &pv) in a.iter().zip(&p) {
        let want = if *x > 0.5 { 1.0 - beta[0] } else { beta[0] };
        assert_eq!(pv, f64::from(want as f32));
    }
}

/// Logits (eval and train mode), both losses, the VLB's posterior and model tables, and
/// every gradient, in float32 and float64.
#[test]
fn logits_losses_and_gradients_match_float32_and_float64() {
    let c = read("cases.safetensors");
    for kind in [Kind::Float, Kind::Double] {
        let (vs, net) = official_net(kind);
        let f64 = kind == Kind::Double;
        let sfx = if f64 { "_f64" } else { "" };
        let logit_tol = if f64 { 1e-12 } else { 1e-5 };
        let flags = c["node_flags"].to_kind(kind);
        let adj0 = c["adj_clean"].to_kind(kind);
        let mask = c["mask"].to_kind(kind);
        for prefix in ["simple", "vlb"] {
            let key = |k: &str| format!("{prefix}.{k}");
            let levels = if prefix == "simple" {
                f64s(&c["simple.beta_bar"])
            } else {
                f64s(&c["vlb.beta_bar_t"])
            };
            let a_t = c[&key("noisy_adj")].to_kind(kind);
            let flips = c[&key("flip_target")].to_kind(kind);
            // eval mode
            let mut trace = PpgnTrace::default();
            let z =
                tch::no_grad(|| net.forward_traced(&a_t, &flags, &levels, None, Some(&mut trace)))
                    .unwrap();
            check_normwise(
                &format!("{prefix} logits {kind:?}"),
                &z,
                &c[&key(&format!("logits{sfx}"))],
                logit_tol,
            );
            if prefix == "simple" && !f64 {
                // intermediates, for localising a mismatch
                let inter = |k: &str| &c[&format!("simple.inter.{k}")];
                check_normwise(
                    "in_lin",
                    trace.in_lin.as_ref().unwrap(),
                    inter("in_lin"),
                    1e-6,
                );
                check_normwise(
                    "layer0.mm",
                    trace.layer0_mm.as_ref().unwrap(),
                    inter("layer0.mm"),
                    1e-6,
                );
                check_normwise(
                    "layer0.pre_norm",
                    trace.layer0_pre_norm.as_ref().unwrap(),
                    inter("layer0.pre_norm"),
                    1e-6,
                );
                for (l, x) in trace.layers.iter().enumerate() {
                    check_normwise(
                        &format!("layer{l}.out"),
                        x,
                        inter(&format!("layer{l}.out")),
                        1e-5,
                    );
                }
                check_normwise(
                    "cat_lin",
                    trace.cat_lin.as_ref().unwrap(),
                    inter("cat_lin"),
                    1e-5,
                );
                check_normwise(
                    "head_in",
                    trace.head_in.as_ref().unwrap(),
                    inter("head_in"),
                    1e-5,
                );
            }
            let loss_tol = match (f64, prefix) {
                (true, _) => 1e-12,
                (false, "simple") => 1e-6,
                (false, _) => 2e-6,
            };
            let lt = LevelTensors::new(
                &(0..4)
                    .map(|i| StepLevels {
                        beta_bar_t: scalar(&c["vlb.beta_bar_t"].get(i)),
                        beta_t: scalar(&c["vlb.beta_t"].get(i)),
                        beta_bar_tm1: scalar(&c["vlb.beta_bar_tm1"].get(i)),
                    })
                    .collect::<Vec<_>>(),
                kind,
                device(),
            );
            let loss_of = |z: &Tensor| {
                if prefix == "simple" {
                    simple_loss(z, &flips, &mask, &levels).unwrap()
                } else {
                    vlb_loss(z, &a_t, &adj0, &mask, &lt).unwrap()
                }
            };
            let le = tch::no_grad(|| loss_of(&z));
            check_rel(
                &format!("{prefix} eval loss {kind:?}"),
                scalar(&le),
                scalar(&c[&key(&format!("loss_eval{sfx}"))]),
                loss_tol,
            );

            // train mode: the stored dropout mask, gradients of every used parameter
            let scale = dropout_scale(&c[&key("dropout_keep")], 1e-6, kind);
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            let zt = net.forward(&a_t, &flags, &levels, Some(&scale)).unwrap();
            check_normwise(
                &format!("{prefix} train logits {kind:?}"),
                &zt,
                &c[&key(&format!("logits_train{sfx}"))],
                logit_tol,
            );
            let loss = loss_of(&zt);
            check_rel(
                &format!("{prefix} train loss {kind:?}"),
                scalar(&loss),
                scalar(&c[&key(&format!("loss{sfx}"))]),
                loss_tol,
            );
            if prefix == "vlb" {
                // the official loss overwrites its inputs with q and p
                let q = lt.posterior(&a_t, &adj0);
                let s = zt.sigmoid();
                let p0 = (-&s + 1.0).where_self(&a_t.gt(0.5), &s);
                let p = lt.mixture(&a_t, &p0);
                let (tq, tp) = if f64 { (1e-15, 1e-12) } else { (1e-7, 1e-6) };
                assert!(max_abs(&(&q - c[&format!("vlb.q_posterior{sfx}")].to_kind(kind))) <= tq);
                assert!(max_abs(&(&p - c[&format!("vlb.p_model{sfx}")].to_kind(kind))) <= tp);
            }
            loss.backward();
            let mut worst = (0.0f64, String::new());
            for (name, v) in vs.variables() {
                if !v.requires_grad() {
                    assert!(
                        !v.grad().defined(),
                        "{name}: unused parameter got a gradient"
                    );
                    continue;
                }
                let gkey = if f64 {
                    format!("{prefix}.f64.grad.{name}")
                } else {
                    format!("{prefix}.grad.{name}")
                };
                let want = &c[&gkey];
                let got = v.grad();
                if name.ends_with("m4.0.bias") {
                    // structurally zero: the instance norm removes any per-channel constant
                    let bound = if f64 { 1e-12 } else { 1e-4 };
                    assert!(max_abs(&got) < bound, "{name}: |g| {}", max_abs(&got));
                    continue;
                }
                let e = l2_rel(&got, want);
                if e > worst.0 {
                    worst = (e, name.clone());
                }
            }
            let tol = match (f64, prefix) {
                (true, _) => 1e-10,
                (false, "simple") => 1e-2,
                (false, _) => 1e-4,
            };
            eprintln!(
                "{prefix} {kind:?} gradients: worst L2-relative {:.3e} ({})",
                worst.0, worst.1
            );
            assert!(
                worst.0 <= tol,
                "{prefix} {kind:?}: gradient of {} off by {:e}",
                worst.1,
                worst.0
            );
        }
    }
}

/// The L_simple loss divides by B·N² (padding and diagonal included) and weights each graph
/// by 1 − 2β̄ + 1/B.
#[test]
fn simple_loss_normalisation_is_the_official_one() {
    let c = read("cases.safetensors");
    let levels = f64s(&c["simple.beta_bar"]);
    let w = f64s(&c["simple.loss_weight"]);
    for (b, &x) in levels.iter().enumerate() {
        assert_eq!(w[b], 1.0 - 2.0 * x + 1.0 / 4.0);
    }
    let z = c["simple.logits_f64"].shallow_clone();
    let y = c["simple.flip_target"].to_kind(Kind::Double);
    let m = c["mask"].to_kind(Kind::Double);
    let loss = scalar(&simple_loss(&z, &y, &m, &levels).unwrap());
    let ell = z.binary_cross_entropy_with_logits::<&Tensor>(&y, None, None, tch::Reduction::None);
    let wt = Tensor::from_slice(&w).view([4, 1, 1]).to_device(device());
    let manual = ((&ell * &wt + ell.transpose(-2, -1) * &wt) / 2.0 * &m).sum(Kind::Double);
    assert!((loss - scalar(&manual) / (4.0 * 400.0)).abs() < 1e-15);
}

/// The start of both samplers and three steps of each, from the stored states and uniforms:
/// logits, probabilities and next states, in float32 and float64.
#[test]
fn sampler_steps_match_the_official_ones() {
    let s = read("sampler.safetensors");
    for prefix in ["vlb", "simple"] {
        let key = |k: &str| format!("{prefix}.{k}");
        let flags = &s[&key("node_flags")];
        let m = node_mask(flags);
        check_exact("init_prob", &(&m * 0.5), &s[&key("init_prob")]);
        let d = s[&key("init_uniform")]
            .lt_tensor(&s[&key("init_prob")])
            .to_kind(Kind::Float);
        check_exact(
            "adj_init",
            &graph_tensor::batch::symmetrize_upper(&d),
            &s[&key("adj_init")],
        );
    }
    let process = DoublyStochastic::new(&Schedule::Linear {}, 32).unwrap();
    for kind in [Kind::Float, Kind::Double] {
        let (_vs, net) = official_net(kind);
        let f64 = kind == Kind::Double;
        let sfx = if f64 { "_f64" } else { "" };
        let (logit_tol, prob_atol) = if f64 { (1e-12, 1e-14) } else { (1e-5, 1e-6) };
        tch::no_grad(|| {
            let flags = s["vlb.node_flags"].to_kind(kind);
            for t in [32usize, 16, 1] {
                let key = |k: &str| format!("vlb.step_t{t}.{k}");
                let levels = StepLevels::of(&process, t);
                assert_eq!(levels.beta_bar_t, scalar(&s[&key("beta_bar_t")]));
                assert_eq!(levels.beta_t, scalar(&s[&key("beta_t")]));
                assert_eq!(levels.beta_bar_tm1, scalar(&s[&key("beta_bar_tm1")]));
                let a = s[&key("adj_in")].to_kind(kind);
                let u = &s[&key("uniform")];
                let step = vlb_step(&net, &a, &flags, levels, u).unwrap();
                check_normwise(
                    &key(&format!("logits{sfx}")),
                    &step.logits,
                    &s[&key(&format!("logits{sfx}"))],
                    logit_tol,
                );
                let e = max_abs(
                    &(graph_tensor::compare::host(&step.prob)
                        - graph_tensor::compare::host(&s[&key(&format!("prob{sfx}"))])),
                );
                assert!(e <= prob_atol, "{}: |Δp| {e:e}", key("prob"));
                // the next state from our own p, and from the stored p, is the official one
                check_exact(
                    &key("adj_out"),
                    &step.next,
                    &s[&key(&format!("adj_out{sfx}"))],
                );
                let stored_p = s[&key("prob")].shallow_clone();
                let from_stored = graph_tensor::batch::symmetrize_upper(
                    &u.lt_tensor(&stored_p).to_kind(Kind::Float),
                );
                check_exact(
                    &key("adj_out from stored p"),
                    &from_stored,
                    &s[&key("adj_out")],
                );
            }
            let flags = s["simple.node_flags"].to_kind(kind);
            let levels = torch_linspace_f32(0.0, 0.5, 32);
            for k in [0usize, 16, 31] {
                let key = |x: &str| format!("simple.step{k}.{x}");
                let level = scalar(&s[&key("level")]);
                assert_eq!(level, levels[31 - k]);
                let a = s[&key("adj_in")].to_kind(kind);
                let step = simple_step(
                    &net,
                    &a,
                    &flags,
                    level,
                    &s[&key("renoise_uniform")],
                    &s[&key("flip_uniform")],
                )
                .unwrap();
                if !f64 {
                    check_exact(
                        &key("renoise_prob"),
                        &step.renoise_prob,
                        &s[&key("renoise_prob")],
                    );
                }
                check_exact(
                    &key("adj_noised"),
                    &step.noised,
                    &s[&key(&format!("adj_noised{sfx}"))],
                );
                check_normwise(
                    &key(&format!("logits{sfx}")),
                    &step.logits,
                    &s[&key(&format!("logits{sfx}"))],
                    logit_tol,
                );
                let e = max_abs(
                    &(graph_tensor::compare::host(&step.flip_prob)
                        - graph_tensor::compare::host(&s[&key(&format!("flip_prob{sfx}"))])),
                );
                assert!(e <= prob_atol, "{}: |Δp| {e:e}", key("flip_prob"));
                check_exact(
                    &key("adj_out"),
                    &step.next,
                    &s[&key(&format!("adj_out{sfx}"))],
                );
            }
        });
    }
}

/// A padded batch gives each graph the output it gets alone (padded to the same N, and
/// padded only to its own node count), at per-graph levels.
#[test]
fn batched_forward_equals_per_graph_forward() {
    let c = read("cases.safetensors");
    let (_vs, net) = official_net(Kind::Float);
    let levels = f64s(&c["simple.beta_bar"]);
    let a = &c["simple.noisy_adj"];
    let flags = &c["node_flags"];
    let counts: Vec<i64> = f64s(&c["num_nodes"]).iter().map(|&x| x as i64).collect();
    tch::no_grad(|| {
        let batched = net.forward(a, flags, &levels, None).unwrap();
        for g in 0..4 {
            let alone = net
                .forward(
                    &a.narrow(0, g, 1),
                    &flags.narrow(0, g, 1),
                    &levels[g as usize..g as usize + 1],
                    None,
                )
                .unwrap();
            let e = normwise(&alone, &batched.narrow(0, g, 1));
            assert!(e <= 1e-6, "graph {g} alone (N = 20): normwise {e:e}");
            let n = counts[g as usize];
            let own = net
                .forward(
                    &a.narrow(0, g, 1).narrow(1, 0, n).narrow(2, 0, n),
                    &flags.narrow(0, g, 1).narrow(1, 0, n),
                    &levels[g as usize..g as usize + 1],
                    None,
                )
                .unwrap();
            // the README observes ≤ 1.9e-6 absolute (|z| ≤ 5.7) for the official code re-padded
            let want = batched.narrow(0, g, 1).narrow(1, 0, n).narrow(2, 0, n);
            let e = normwise(&own, &want);
            assert!(
                e <= 1e-6,
                "graph {g} padded to its own {n} nodes: normwise {e:e}"
            );
        }
    });
}

/// The padding-free forward the training loss uses on the CPU gives the official logits on
/// every present pair, hence the same losses and gradients as the padded network (float64:
/// to 1e-12 normwise and L2), with non-prefix node flags too.
#[test]
fn packed_forward_gives_the_padded_losses_and_gradients() {
    let c = read("cases.safetensors");
    let (vs, net) = official_net(Kind::Double);
    let levels = f64s(&c["simple.beta_bar"]);
    let flags = c["node_flags"].to_kind(Kind::Double);
    // knock out a node in the middle of graph 0: flags that are not a prefix
    let _ = flags.get(0).get(3).fill_(0.0);
    let m = node_mask(&flags);
    let a = c["simple.noisy_adj"].to_kind(Kind::Double) * &m;
    let y = c["simple.flip_target"].to_kind(Kind::Double) * &m;
    let scale = dropout_scale(&c["simple.dropout_keep"], 1e-6, Kind::Double);
    let run = |packed: bool| {
        for mut v in vs.trainable_variables() {
            v.zero_grad();
        }
        let z = if packed {
            net.forward_packed(&a, &flags, &levels, Some(&scale))
                .unwrap()
        } else {
            net.forward(&a, &flags, &levels, Some(&scale)).unwrap()
        };
        let loss = simple_loss(&z, &y, &m, &levels).unwrap();
        loss.backward();
        let grads: Vec<Tensor> = vs
            .trainable_variables()
            .iter()
            .map(|v| v.grad().flatten(0, -1))
            .collect();
        (z * &m, scalar(&loss), Tensor::cat(&grads, 0))
    };
    let (zp, lp, gp) = run(false);
    let (zk, lk, gk) = run(true);
    assert!(
        normwise(&zk, &zp) <= 1e-12,
        "logits {:e}",
        normwise(&zk, &zp)
    );
    assert!((lk - lp).abs() <= 1e-12 * lp.abs());
    assert!(
        l2_rel(&gk, &gp) <= 1e-12,
        "gradients {:e}",
        l2_rel(&gk, &gp)
    );
}

/// The samplers' evaluator (the fused float32 CPU forward, first layer in closed form) gives
/// the official eval-mode logits of each fixture graph alone, unpadded, at both objectives'
/// levels (the README's float32 logit tolerance, 1e-5 normwise), and runs the fused path
/// only where it applies: a padded batch goes through the autograd forward unchanged.
#[test]
fn sampler_evaluator_gives_the_official_logits() {
    let c = read("cases.safetensors");
    let (_vs, net) = official_net(Kind::Float);
    let eval = net.evaluator();
    assert_eq!(
        format!("{eval:?}").contains("fused: true"),
        device() == Device::Cpu
    );
    let counts: Vec<i64> = f64s(&c["num_nodes"]).iter().map(|&x| x as i64).collect();
    let flags = &c["node_flags"];
    for prefix in ["simple", "vlb"] {
        let levels = if prefix == "simple" {
            f64s(&c["simple.beta_bar"])
        } else {
            f64s(&c["vlb.beta_bar_t"])
        };
        let a = c[&format!("{prefix}.noisy_adj")].to_kind(Kind::Float);
        let want = &c[&format!("{prefix}.logits")];
        // padded batch: the autograd forward's own logits
        let padded = eval.logits(&a, flags, &levels).unwrap();
        let direct = tch::no_grad(|| net.forward(&a, flags, &levels, None)).unwrap();
        check_exact(&format!("{prefix} padded batch"), &padded, &direct);
        for (g, &n) in counts.iter().enumerate() {
            let gi = g as i64;
            let own = |t: &Tensor| t.narrow(0, gi, 1).narrow(1, 0, n).narrow(2, 0, n);
            let z = eval
                .logits(
                    &own(&a),
                    &Tensor::ones([1, n], (Kind::Float, a.device())),
                    &levels[g..g + 1],
                )
                .unwrap();
            check_normwise(
                &format!("{prefix} graph {g} ({n} nodes), fused"),
                &z,
                &own(want),
                1e-5,
            );
        }
    }
}
