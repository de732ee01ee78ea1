//! EDP-GNN speed benchmark, the Rust side of `scripts/bench_edp_gnn.sh`.
//!
//! Measures, on Community-small (graphs 20–99 of the published `community_small.g6`, the
//! official training split), with the official network:
//!
//! * one training step at batch 32 (× 6 σ = 192 graphs through the network): noise, forward
//!   in train mode, the official loss, backward, Adam, reading the loss value, as the
//!   training loop runs it (`train_step`, [`DiffusionModel::loss_backward`]); a paired A/B
//!   of the edge MLPs' hand-written backward and autograd (`ab_train_step`, alternating
//!   steps); and the forward alone (`train_forward`: noise, autograd forward, loss);
//! * one score evaluation (eval mode, no gradients) of 192 and of 1026 noisy graphs, in the
//!   official padded layout (`score_eval_padded_*`, every pair of the 20-node padding) and
//!   padding-free (`score_eval_*`, [`edp_gnn::EdpGnn::score_prefix`], the same output);
//! * one Langevin step of 1026 graphs as the sampler runs it (grouped by node count, noise
//!   drawn per graph on the CPU included).
//!
//! Usage: `bench_edp_gnn [--threads N] [--iters K] [--data community_small.g6] [--device cpu|cuda]
//! [--only PREFIX] [--default-malloc]`. Like the `graphdiff` binary, it applies
//! [`graph_tensor::malloc::tune_for_tensors`] unless `--default-malloc` is given.
//! Prints one line per measurement: `rust <what> threads=N median_ms=… min_ms=… graphs_per_s=…`
//! (with `device=cuda` on the GPU, where every timed call ends by reading a value back, which
//! waits for the device).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use edp_gnn::loss::{perturb, score_matching_loss};
use edp_gnn::{
    AnnealedLangevin, Conditioning, EdgeBackward, EdpGnnConfig, EdpGnnModel, SamplerConfig,
};
use graph_tensor::batch::{degree_flags, DenseBatch};
use graph_tensor::model::DiffusionModel;
use graph_tensor::noise::NoiseSource;
use graph_tensor::optim::{Adam, AdamConfig};
use graph_tensor::Graph;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

struct Args {
    threads: i32,
    iters: usize,
    data: PathBuf,
    only: Option<String>,
    device: Device,
    default_malloc: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        threads: 1,
        iters: 20,
        data: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/datasets/gdss/community_small.g6"),
        only: None,
        device: Device::Cpu,
        default_malloc: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--iters" => args.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--data" => args.data = PathBuf::from(value()?),
            "--only" => args.only = Some(value()?),
            "--default-malloc" => args.default_malloc = true,
            "--device" => {
                args.device = match value()?.as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" => Device::Cuda(0),
                    other => return Err(format!("--device {other}: expected cpu or cuda")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// CPU time of the calling thread in ms (Linux `/proc/thread-self/schedstat`), if readable.
fn thread_cpu_ms() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-6)
}

/// Wall-clock median and minimum (ms) over `iters` runs after `warmup` runs, and the median
/// CPU time of the calling thread (ms; NaN where unavailable). On a shared machine the
/// thread CPU time is much less sensitive to other processes than the wall-clock time.
fn time<F: FnMut()>(warmup: usize, iters: usize, mut f: F) -> (f64, f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut ts = Vec::with_capacity(iters);
    let mut cpu = Vec::with_capacity(iters);
    for _ in 0..iters {
        let c = thread_cpu_ms();
        let t = Instant::now();
        f();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(match (c, thread_cpu_ms()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        });
    }
    let min = ts.iter().copied().fold(f64::INFINITY, f64::min);
    (median(&mut ts), min, median(&mut cpu))
}

fn pick<'a>(rng: &mut ChaCha8Rng, graphs: &'a [Graph], k: usize) -> Vec<&'a Graph> {
    (0..k)
        .map(|_| &graphs[rng.gen_range(0..graphs.len())])
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // As the graphdiff binary does (graph_tensor::malloc); `--default-malloc` measures without.
    if !args.default_malloc {
        graph_tensor::malloc::tune_for_tensors();
    }
    tch::set_num_threads(args.threads);
    let out = std::io::stdout();
    let mut out = out.lock();
    let graphs = graph_tensor::io::read_graphs(&args.data)?;
    if graphs.len() < 100 {
        return Err(format!(
            "{}: expected the 100 Community-small graphs",
            args.data.display()
        )
        .into());
    }
    let train = &graphs[20..];
    let cfg = EdpGnnConfig::default();
    let n = cfg.max_nodes;
    let dev = args.device;
    if dev != Device::Cpu && !tch::Cuda::is_available() {
        return Err("--device cuda: CUDA is not available".into());
    }
    let vs = nn::VarStore::new(dev);
    let model = EdpGnnModel::build_seeded(&vs.root(), &cfg, 0)?;
    let mut adam = Adam::new(&vs, AdamConfig::default());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let th = match dev {
        Device::Cpu => args.threads.to_string(),
        _ => format!("{} device=cuda", args.threads),
    };

    let run = |what: &str| args.only.as_deref().is_none_or(|o| what.starts_with(o));

    // Training step.
    let mut step = 0u64;
    if run("train_step") {
        let (med, min, cpu) = time(3, args.iters, || {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, 32), n, Device::Cpu).unwrap();
            let mut noise = NoiseSource::for_step(7, step, 32, Device::Cpu);
            step += 1;
            adam.zero_grad();
            let loss = model.loss_backward(&batch, &mut noise).unwrap();
            adam.step(1e-3);
            let _ = loss.double_value(&[]);
        });
        writeln!(
            out,
            "rust train_step threads={th} median_ms={med:.1} min_ms={min:.1} thread_cpu_ms={cpu:.1} graphs_per_s={:.0}",
            32.0 / med * 1e3
        )?;
    }

    // Paired A/B of the two ways of taking the training step's gradient through the edge
    // MLPs (EdgeBackward::HandWritten and ::Autograd; the training loop's `Auto` picks one
    // by the thread count): alternating single steps, so that the machine's slow and fast
    // phases hit both; reports each one's median and the median of the per-pair ratios.
    if run("ab_train_step") && dev == Device::Cpu {
        let net = model.network();
        let sigmas = cfg.sigmas.clone();
        let mut one = |backward: EdgeBackward, step: u64| {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, 32), n, Device::Cpu).unwrap();
            let t0 = Instant::now();
            let mut noise = NoiseSource::for_step(7, step, 32, Device::Cpu);
            let flags = degree_flags(batch.adj());
            let adj = batch.adj() * flags.unsqueeze(-1) * flags.unsqueeze(1);
            let z = noise
                .randn_sym_with(&[sigmas.len() as i64], n as i64)
                .transpose(0, 1);
            let p = perturb(&adj, &flags, &sigmas, &z).unwrap();
            let x = Tensor::zeros([p.noisy.size()[0], n as i64, 1], (Kind::Float, Device::Cpu));
            adam.zero_grad();
            let (score, tape) = net
                .forward_train_tape(&x, &p.noisy, &p.flags, Conditioning::SigmaMajor, backward)
                .unwrap();
            let (loss, _) = score_matching_loss(&score, &p.target, &sigmas).unwrap();
            tape.backward(&loss);
            adam.step(1e-3);
            let _ = loss.double_value(&[]);
            t0.elapsed().as_secs_f64() * 1e3
        };
        let mut pairs = Vec::new();
        for i in 0..args.iters as u64 + 2 {
            let (hw, ag) = if i % 2 == 0 {
                let hw = one(EdgeBackward::HandWritten, 2 * i);
                (hw, one(EdgeBackward::Autograd, 2 * i + 1))
            } else {
                let ag = one(EdgeBackward::Autograd, 2 * i);
                (one(EdgeBackward::HandWritten, 2 * i + 1), ag)
            };
            if i >= 2 {
                pairs.push((hw, ag));
            }
        }
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let hw = med(pairs.iter().map(|p| p.0).collect());
        let ag = med(pairs.iter().map(|p| p.1).collect());
        let ratio = med(pairs.iter().map(|p| p.1 / p.0).collect());
        writeln!(
            out,
            "rust ab_train_step threads={th} hand_written_median_ms={hw:.1} autograd_median_ms={ag:.1} paired_autograd_over_hand_written={ratio:.3}"
        )?;
    }

    // The training step's forward alone (noise, train-mode forward, loss; no backward, no
    // optimizer): with `train_step` it splits a step into forward and the rest.
    if run("train_forward") {
        let (med, min, cpu) = time(3, args.iters, || {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, 32), n, Device::Cpu).unwrap();
            let mut noise = NoiseSource::for_step(7, step, 32, Device::Cpu);
            step += 1;
            let loss = model.loss(&batch, true, &mut noise).unwrap();
            let _ = loss.double_value(&[]);
        });
        writeln!(
            out,
            "rust train_forward threads={th} median_ms={med:.1} min_ms={min:.1} thread_cpu_ms={cpu:.1} graphs_per_s={:.0}",
            32.0 / med * 1e3
        )?;
    }

    // Score evaluations on σ-major noisy batches: the official layout (every pair of the
    // padded batch) and the padding-free evaluation the sampler uses (same output).
    for b in [192usize, 1026] {
        let per = b / cfg.sigmas.len();
        let graphs = pick(&mut rng, train, per);
        let batch = DenseBatch::from_graphs(graphs.iter().copied(), n, Device::Cpu)?;
        let flags = degree_flags(batch.adj());
        let mut noise = NoiseSource::for_step(3, 0, per, Device::Cpu);
        let z = noise
            .randn_sym_with(&[cfg.sigmas.len() as i64], n as i64)
            .transpose(0, 1);
        let p = perturb(batch.adj(), &flags, &cfg.sigmas, &z)?;
        let (noisy, pflags) = (p.noisy.to_device(dev), p.flags.to_device(dev));
        let counts: Vec<usize> = graphs
            .iter()
            .map(|g| g.n())
            .collect::<Vec<_>>()
            .repeat(cfg.sigmas.len());
        let iters = if b > 500 {
            args.iters.div_ceil(2).max(5)
        } else {
            args.iters
        };
        for (name, padded) in [("score_eval_padded", true), ("score_eval", false)] {
            if !run(&format!("{name}_{b}")) {
                continue;
            }
            let (med, min, cpu) = time(2, iters, || {
                let s = tch::no_grad(|| {
                    if padded {
                        model.score(&noisy, &pflags, Conditioning::SigmaMajor, false)
                    } else {
                        model
                            .network()
                            .score_prefix(&noisy, &counts, Conditioning::SigmaMajor)
                    }
                })
                .unwrap();
                let _ = s.sum(Kind::Float).double_value(&[]);
            });
            writeln!(
                out,
                "rust {name}_{b} threads={th} median_ms={med:.1} min_ms={min:.1} thread_cpu_ms={cpu:.1} graphs_per_s={:.0}",
                b as f64 / med * 1e3
            )?;
        }
    }

    // Langevin steps of 1026 graphs with node counts drawn from the training graphs: the
    // sampler's grouped chains, noise drawn per graph on the CPU included. Two steps per
    // level (12 steps); times are per step.
    if !run("langevin_step_1026") {
        return Ok(());
    }
    let b = 1026usize;
    let counts: Vec<usize> = pick(&mut rng, train, b).iter().map(|g| g.n()).collect();
    let seeds: Vec<u64> = (0..b as u64).collect();
    let sampler = AnnealedLangevin::new(
        &cfg.sigmas,
        SamplerConfig {
            step_num: 2,
            ..cfg.sampler.clone()
        },
    )?;
    let steps = sampler.nfe() as f64;
    let (med, min, cpu) = time(1, args.iters.div_ceil(4).max(3), || {
        let a = tch::no_grad(|| sampler.run(model.network(), &counts, &seeds, n, &mut |_, _| {}))
            .unwrap();
        let _ = a.sum(Kind::Float).double_value(&[]);
    });
    let (med, min, cpu) = (med / steps, min / steps, cpu / steps);
    writeln!(
        out,
        "rust langevin_step_1026 threads={th} median_ms={med:.1} min_ms={min:.1} thread_cpu_ms={cpu:.1} graphs_per_s={:.0}",
        b as f64 / med * 1e3
    )?;
    Ok(())
}
