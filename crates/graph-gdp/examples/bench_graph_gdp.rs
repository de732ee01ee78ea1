//! GraphGDP speed benchmark, the Rust side of `scripts/bench_graph_gdp.sh`.
//!
//! Measures, on a published graph list (default Community-small; training graphs = all but
//! the first 20 %), with the official network of a preset (default `community-small`):
//!
//! * one training step at batch 32 as the training loop runs it (`train_step`): the padded
//!   batch, the noise, the train-mode forward and loss, the backward
//!   ([`DiffusionModel::loss_backward`]), gradient clipping, the Adam step, the EMA update,
//!   reading the loss value;
//! * one score evaluation (eval mode, no gradients) of 1024 graphs in the sampler's initial
//!   state (symmetric N(0, 1) masked to the valid pairs, t = 0.5: `score_eval_noisy_1024`)
//!   and of 1024 clean training graphs at t = 1e-3 (`score_eval_clean_1024`), node counts
//!   from the training distribution;
//! * one Euler–Maruyama predictor step of 1024 noisy graphs as the sampler runs it, per-graph
//!   noise drawing included (`em_step_1024`).
//!
//! Usage: `bench_graph_gdp [--threads N] [--iters K] [--data FILE.g6]
//! [--preset community-small|ego-small|enzymes] [--layout auto|by_size|padded]
//! [--device cpu|cuda] [--only PREFIX]`. Applies [`graph_tensor::malloc::tune_for_tensors`]
//! as the `graphdiff` binary does. Prints one line per measurement:
//! `rust <what> threads=N median_ms=… min_ms=… graphs_per_s=…`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use graph_gdp::pgsn::{Dropout, Nodes};
use graph_gdp::sampler::pc::euler_maruyama;
use graph_gdp::sampler::score_from_eps;
use graph_gdp::{GraphGdpConfig, GraphGdpModel, Layout};
use graph_tensor::batch::DenseBatch;
use graph_tensor::datasets::NodeCountDistribution;
use graph_tensor::ema::{Ema, EmaConfig};
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
    preset: String,
    layout: Layout,
    only: Option<String>,
    device: Device,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        threads: 1,
        iters: 20,
        data: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/datasets/gdss/community_small.g6"),
        preset: "community-small".into(),
        layout: Layout::Auto,
        only: None,
        device: Device::Cpu,
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
            "--preset" => args.preset = value()?,
            "--only" => args.only = Some(value()?),
            "--layout" => {
                args.layout = serde_json::from_value(serde_json::Value::String(value()?))
                    .map_err(|e| format!("--layout: {e}"))?
            }
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

/// CPU time of the process in ms (Linux `/proc/self/stat`: user + system clock ticks).
fn process_cpu_ms() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) * 10.0
}

/// Wall-clock median and minimum (ms) over `iters` runs after `warmup` runs, and the mean
/// CPU time of the process per run (ms; less sensitive than the wall clock to other
/// processes on a shared machine, 10 ms resolution).
fn time<F: FnMut()>(warmup: usize, iters: usize, mut f: F) -> (f64, f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let mut ts = Vec::with_capacity(iters);
    let c0 = process_cpu_ms();
    for _ in 0..iters {
        let t = Instant::now();
        f();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = (process_cpu_ms() - c0) / iters as f64;
    let min = ts.iter().copied().fold(f64::INFINITY, f64::min);
    (median(&mut ts), min, cpu)
}

fn pick<'a>(rng: &mut ChaCha8Rng, graphs: &'a [Graph], k: usize) -> Vec<&'a Graph> {
    (0..k)
        .map(|_| &graphs[rng.gen_range(0..graphs.len())])
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    graph_tensor::malloc::tune_for_tensors();
    tch::set_num_threads(args.threads);
    let out = std::io::stdout();
    let mut out = out.lock();
    let graphs = graph_tensor::io::read_graphs(&args.data)?;
    let train = &graphs[graphs.len() / 5..];
    let mut cfg = match args.preset.as_str() {
        "community-small" => GraphGdpConfig::community_small(),
        "ego-small" => GraphGdpConfig::ego_small(),
        "enzymes" => GraphGdpConfig::enzymes(),
        other => return Err(format!("--preset {other}: unknown").into()),
    };
    cfg.layout = args.layout;
    let n = cfg.max_nodes;
    let dev = args.device;
    if dev != Device::Cpu && !tch::Cuda::is_available() {
        return Err("--device cuda: CUDA is not available".into());
    }
    let sync = || {
        if let Device::Cuda(i) = dev {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let vs = nn::VarStore::new(dev);
    let model = GraphGdpModel::build_seeded(&vs.root(), &cfg, 0)?;
    let train_cfg = GraphGdpModel::default_train_config();
    let mut adam = Adam::new(
        &vs,
        AdamConfig {
            lr: 2e-5,
            ..AdamConfig::default()
        },
    );
    let mut ema = Ema::new(&vs, train_cfg.ema.clone().unwrap_or(EmaConfig::default()));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let bs = train_cfg.batch_size;
    let run = |what: &str| args.only.as_deref().is_none_or(|o| what.starts_with(o));
    let th = args.threads;

    let mut step = 0u64;
    if run("train_step") {
        let (med, min, cpu) = time(3, args.iters, || {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, bs), n, dev).unwrap();
            let mut noise = NoiseSource::for_step(7, step, bs, dev);
            step += 1;
            adam.zero_grad();
            let loss = model.loss_backward(&batch, &mut noise).unwrap();
            adam.clip_grad_norm(1.0);
            adam.step(2e-5);
            ema.update();
            let _ = loss.double_value(&[]);
            sync();
        });
        writeln!(
            out,
            "rust train_step threads={th} median_ms={med:.1} min_ms={min:.1} cpu_ms={cpu:.1} graphs_per_s={:.0}",
            bs as f64 / med * 1e3
        )?;
    }

    if run("train_forward") {
        let (med, min, cpu) = time(3, args.iters, || {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, bs), n, dev).unwrap();
            let mut noise = NoiseSource::for_step(7, step, bs, dev);
            step += 1;
            let loss = model.loss(&batch, true, &mut noise).unwrap();
            let _ = loss.double_value(&[]);
            sync();
        });
        writeln!(
            out,
            "rust train_forward threads={th} median_ms={med:.1} min_ms={min:.1} cpu_ms={cpu:.1} graphs_per_s={:.0}",
            bs as f64 / med * 1e3
        )?;
    }

    let dist = NodeCountDistribution::from_graphs(train)?;
    let b = 1024usize;
    let net = model.network();
    let sde = model.sde();
    let few = (args.iters / 4).max(3);
    for clean in [false, true] {
        let what = format!("score_eval_{}_{b}", if clean { "clean" } else { "noisy" });
        if !run(&what) {
            continue;
        }
        let (x, t, nodes) = if clean {
            let batch = DenseBatch::from_graphs(pick(&mut rng, train, b), n, dev)?;
            let nodes = Nodes::new(batch.node_counts().to_vec());
            let x = batch.adj() * 2.0 - 1.0;
            (x, Tensor::full([b as i64], 1e-3, (Kind::Float, dev)), nodes)
        } else {
            let nodes = Nodes::new(dist.sample_n(b, 3));
            let pm = nodes.pair_mask(n as i64, Kind::Float, dev);
            let seeds: Vec<u64> = (0..b as u64).collect();
            let x = NoiseSource::from_seeds(&seeds, dev).randn_sym(n as i64) * pm;
            (x, Tensor::full([b as i64], 0.5, (Kind::Float, dev)), nodes)
        };
        let (med, min, cpu) = tch::no_grad(|| {
            time(1, few, || {
                let eps = net.forward(&x, &t, &nodes, Dropout::Off).unwrap();
                let _ = score_from_eps(sde, &eps, &t);
                sync();
            })
        });
        writeln!(
            out,
            "rust {what} threads={th} median_ms={med:.1} min_ms={min:.1} cpu_ms={cpu:.1} graphs_per_s={:.0}",
            b as f64 / med * 1e3
        )?;
    }
    if run("em_step_1024") {
        let nodes = Nodes::new(dist.sample_n(b, 4));
        let pm = nodes.pair_mask(n as i64, Kind::Float, dev);
        let seeds: Vec<u64> = (0..b as u64).collect();
        let mut noise = NoiseSource::from_seeds(&seeds, dev);
        let x = noise.randn_sym(n as i64) * &pm;
        let t = Tensor::full([b as i64], 0.5, (Kind::Float, dev));
        let (med, min, cpu) = tch::no_grad(|| {
            time(1, few, || {
                let eps = net.forward(&x, &t, &nodes, Dropout::Off).unwrap();
                let score = score_from_eps(sde, &eps, &t);
                let z = noise.randn_sym(n as i64);
                let s = euler_maruyama(sde, &x, &t, &score, &z, 1000);
                let _ = s.x * &pm;
                sync();
            })
        });
        writeln!(
            out,
            "rust em_step_{b} threads={th} median_ms={med:.1} min_ms={min:.1} cpu_ms={cpu:.1} graphs_per_s={:.0}",
            b as f64 / med * 1e3
        )?;
    }
    Ok(())
}
