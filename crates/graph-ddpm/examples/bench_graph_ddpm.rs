//! Discrete DDPM speed benchmark, the Rust side of `scripts/bench_graph_ddpm.sh`.
//!
//! Measures, on Community-small (graphs 20–99 of the published `community_small.g6`, the
//! official training split), with the official network (L = 6, h = 32, T = 32):
//!
//! * `train_step`: one L_simple training step at batch 32 as the training loop runs it —
//!   the batch, the noise, the forward in train mode, the loss, the backward, Adam, reading
//!   the loss value ([`DiffusionModel::loss_backward`]);
//! * `net_eval_32`, `net_eval_128`: one network evaluation (eval mode, no gradients) of 32 and
//!   128 noisy graphs padded to 20 nodes, as the official sampler calls it;
//! * `sample_1024_simple`, `sample_1024_vlb`: sampling 1024 graphs with T = 32 steps (node
//!   counts drawn from the training graphs), the whole [`DiffusionModel::sample`] call.
//!
//! Usage: `bench_graph_ddpm [--threads N] [--iters K] [--data community_small.g6] [--device
//! cpu|cuda] [--only PREFIX]`. Prints one line per measurement:
//! `rust <what> threads=N median_ms=… min_ms=… graphs_per_s=… iters=… cpu_ms=…` (cpu_ms: CPU time
//! per call, all threads, mean over the timed calls).

use std::path::PathBuf;
use std::time::Instant;

use graph_ddpm::{GraphDdpmConfig, GraphDdpmModel, SamplerKind};
use graph_tensor::batch::DenseBatch;
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
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        threads: 1,
        iters: 20,
        data: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/datasets/gdss/community_small.g6"),
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
            "--only" => args.only = Some(value()?),
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
    if args.iters == 0 {
        return Err("--iters must be at least 1".into());
    }
    Ok(args)
}

/// Waits for the device (reads one value back).
fn sync(t: &Tensor) {
    let _ = t.sum(Kind::Double).double_value(&[]);
}

/// CPU seconds this process has used (all threads), from `/proc/self/stat` (clock ticks of
/// 10 ms; summed over a whole timing loop). `None` where that file does not exist.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / 100.0)
}

fn report(what: &str, args: &Args, graphs: usize, (mut times, cpu_ms): (Vec<f64>, Option<f64>)) {
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let min = times[0];
    let dev = if args.device == Device::Cpu {
        ""
    } else {
        " device=cuda"
    };
    let cpu = cpu_ms.map_or(String::new(), |c| format!(" cpu_ms={c:.2}"));
    println!(
        "rust {what} threads={} median_ms={median:.2} min_ms={min:.2} graphs_per_s={:.0} iters={}{cpu}{dev}",
        args.threads,
        graphs as f64 / median * 1e3,
        times.len()
    );
}

/// Wall-clock ms of each of `iters` calls after `warmup` calls, and the mean CPU ms per call
/// (all threads; robust to other processes on the machine, which wall time is not).
fn time<F: FnMut() -> Tensor>(iters: usize, warmup: usize, mut f: F) -> (Vec<f64>, Option<f64>) {
    for _ in 0..warmup {
        sync(&f());
    }
    let c0 = cpu_seconds();
    let times = (0..iters)
        .map(|_| {
            let t0 = Instant::now();
            sync(&f());
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = c0
        .zip(cpu_seconds())
        .map(|(a, b)| (b - a) * 1e3 / iters as f64);
    (times, cpu)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_graph_ddpm: {e}");
            std::process::exit(2);
        }
    };
    graph_tensor::malloc::tune_for_tensors();
    tch::set_num_threads(args.threads);
    let wanted = |what: &str| args.only.as_deref().is_none_or(|p| what.starts_with(p));
    let graphs = graph_tensor::io::read_graphs(&args.data).unwrap_or_else(|e| {
        eprintln!("bench_graph_ddpm: {e}");
        std::process::exit(2);
    });
    let train: Vec<Graph> = graphs[graphs.len() / 5..].to_vec();
    let cfg = GraphDdpmConfig::default();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(args.device);
    let model = GraphDdpmModel::build(&vs.root(), &cfg).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);

    if wanted("train_step") {
        let mut opt = Adam::new(&vs, AdamConfig::default());
        let mut step = 0u64;
        let times = time(args.iters, 3, || {
            let members: Vec<&Graph> = (0..32)
                .map(|_| &train[rng.gen_range(0..train.len())])
                .collect();
            let batch = DenseBatch::from_graphs(members, cfg.max_nodes, args.device).unwrap();
            let mut noise = NoiseSource::for_step(0, step, 32, args.device);
            step += 1;
            opt.zero_grad();
            let loss = model.loss_backward(&batch, &mut noise).unwrap();
            opt.step(1e-3);
            let _ = loss.double_value(&[]);
            loss
        });
        report("train_step", &args, 32, times);
    }
    for b in [32usize, 128] {
        let what = format!("net_eval_{b}");
        if !wanted(&what) {
            continue;
        }
        let members: Vec<&Graph> = (0..b)
            .map(|_| &train[rng.gen_range(0..train.len())])
            .collect();
        let batch = DenseBatch::from_graphs(members, cfg.max_nodes, args.device).unwrap();
        let flags = batch.mask().to_kind(Kind::Float);
        let mut noise = NoiseSource::for_step(1, 0, b, args.device);
        let half = batch.pair_mask() * 0.5;
        let a = noise.bernoulli_sym(&half);
        let times = time(args.iters, 2, || {
            tch::no_grad(|| {
                model
                    .network()
                    .forward(&a, &flags, &vec![0.25; b], None)
                    .unwrap()
            })
        });
        report(&what, &args, b, times);
    }
    let counts: Vec<usize> = (0..1024)
        .map(|_| train[rng.gen_range(0..train.len())].n())
        .collect();
    let seeds: Vec<u64> = (0..1024).collect();
    for kind in [SamplerKind::Simple, SamplerKind::Vlb] {
        let what = format!(
            "sample_1024_{}",
            if kind == SamplerKind::Simple {
                "simple"
            } else {
                "vlb"
            }
        );
        if !wanted(&what) {
            continue;
        }
        let mut c = cfg.clone();
        c.sampler.kind = kind;
        let vs2 = nn::VarStore::new(args.device);
        let m = GraphDdpmModel::build(&vs2.root(), &c).unwrap();
        let iters = args.iters.clamp(1, 3);
        let times = time(iters, 1, || {
            let b =
                tch::no_grad(|| m.sample(&counts, &seeds, args.device, &mut |_, _| {})).unwrap();
            b.adj().shallow_clone()
        });
        report(&what, &args, 1024, times);
    }
}
