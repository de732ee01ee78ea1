//! Benchmark of `graph_mmd::evaluate` under the `graphrnn` protocol (all four statistics) on
//! the two workloads of evaluation.md §6:
//!
//! * A: 1024 reference vs 1024 generated community-small-like graphs (GDSS community recipe,
//!   12–20 nodes; reference p_intra 0.7, generated p_intra 0.6; seeded);
//! * B: 100 grids vs 100 perturbed grids (sides drawn from 10..=19; generated side with 0–5
//!   edges removed and 1–7 added; seeded).
//!
//! Run with `cargo run --release -p graph-mmd --example bench_mmd -- [--threads N] [--reps R]`
//! (or `scripts/bench-mmd.sh`). Prints the median wall time of `reps` runs, end to end
//! (features + kernels), for all four statistics together and for each alone.

use std::io::Write;
use std::time::Instant;

use graph_mmd::{evaluate, EvalConfig, IsolatedNodes, Protocol, Statistic};
use graph_tensor::datasets::community::CommunityParams;
use graph_tensor::datasets::grid::grid_2d;
use graph_tensor::Graph;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn community(p_intra: f64, count: usize, seed: u64) -> Vec<Graph> {
    let params = CommunityParams {
        graphs: count,
        communities: 2,
        max_nodes: [12, 20],
        p_intra,
        p_inter: 0.05,
        intra_seeding: Default::default(),
    };
    params
        .generate(&mut ChaCha8Rng::seed_from_u64(seed))
        .expect("valid parameters")
}

fn grids(count: usize, perturb: bool, seed: u64) -> Vec<Graph> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let (a, b) = (rng.gen_range(10..=19), rng.gen_range(10..=19));
            let g = grid_2d(a, b);
            if !perturb {
                return g;
            }
            let n = g.n();
            let mut edges = g.edges().to_vec();
            edges.shuffle(&mut rng);
            edges.truncate(edges.len() - rng.gen_range(0..=5));
            let add = rng.gen_range(1..=7);
            let mut added = 0;
            while added < add {
                let (u, v) = (rng.gen_range(0..n), rng.gen_range(0..n));
                let e = (u.min(v), u.max(v));
                if u != v && !edges.contains(&e) {
                    edges.push(e);
                    added += 1;
                }
            }
            Graph::new(n, edges).expect("simple graph")
        })
        .collect()
}

fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn bench(
    out: &mut impl Write,
    name: &str,
    reference: &[Graph],
    generated: &[Graph],
    reps: usize,
) -> std::io::Result<()> {
    // Both sides are evaluated as given (the reference numbers time the same computation).
    let cfg = |stats: &[Statistic]| {
        EvalConfig::new(Protocol::GraphRnn)
            .with_statistics(stats)
            .with_isolated_nodes(IsolatedNodes::Keep)
    };
    let all = cfg(&Statistic::ALL);
    let report = evaluate(reference, generated, &all).expect("evaluation");
    let total = median_seconds(reps, || {
        evaluate(reference, generated, &all).expect("evaluation");
    });
    writeln!(
        out,
        "\n{name}: {} reference vs {} generated graphs, graphrnn protocol",
        reference.len(),
        generated.len()
    )?;
    writeln!(out, "| statistic | seconds (median of {reps}) | MMD² |")?;
    writeln!(out, "|---|---|---|")?;
    for s in Statistic::ALL {
        let c = cfg(&[s]);
        let t = median_seconds(reps, || {
            evaluate(reference, generated, &c).expect("evaluation");
        });
        writeln!(
            out,
            "| {} alone | {t:.4} | {:.6e} |",
            s.name(),
            report.get(s).expect("computed").value
        )?;
    }
    let features = median_seconds(reps, || {
        use rayon::prelude::*;
        let n: usize = reference
            .par_iter()
            .chain(generated.par_iter())
            .map(|g| {
                graph_mmd::graph_features(g, &Statistic::ALL)
                    .expect("features")
                    .n
            })
            .sum();
        assert!(n > 0);
    });
    writeln!(out, "| **all four together** | **{total:.4}** | |")?;
    writeln!(
        out,
        "| per-graph features only (both sides, unsorted parallel map) | {features:.4} | |"
    )?;
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut threads: Option<usize> = None;
    let mut reps = 5usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--threads" => {
                threads = Some(args[i + 1].parse().expect("--threads N"));
                i += 2;
            }
            "--reps" => {
                reps = args[i + 1].parse().expect("--reps R");
                i += 2;
            }
            other => panic!("unknown argument {other} (use --threads N, --reps R)"),
        }
    }
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        b = b.num_threads(t);
    }
    let pool = b.build().expect("thread pool");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let a_ref = community(0.7, 1024, 1);
    let a_gen = community(0.6, 1024, 2);
    let b_ref = grids(100, false, 3);
    let b_gen = grids(100, true, 4);
    writeln!(
        out,
        "threads: {}, cpu: {}",
        pool.current_num_threads(),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |s| s.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_else(|| "unknown".into())
    )?;
    // Tables are collected inside the pool (a stdout lock cannot cross threads), then written.
    let mut text: Vec<u8> = Vec::new();
    pool.install(|| {
        bench(
            &mut text,
            "Workload A (community-small-like)",
            &a_ref,
            &a_gen,
            reps,
        )?;
        bench(
            &mut text,
            "Workload B (grids vs perturbed grids)",
            &b_ref,
            &b_gen,
            reps,
        )
    })?;
    out.write_all(&text)?;
    out.flush()
}
