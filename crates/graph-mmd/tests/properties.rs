//! Invariants of the MMD estimate: zero on identical sets, symmetric, invariant to node
//! permutations and to the order of the graphs, for every protocol.

use graph_mmd::{evaluate, EvalConfig, IsolatedNodes, Protocol, Report, Statistic};
use graph_tensor::Graph;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_set(seed: u64, count: usize) -> Vec<Graph> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let n = rng.gen_range(1..16);
            let p = rng.gen_range(0.05..0.9);
            let mut e = vec![];
            for u in 0..n {
                for v in u + 1..n {
                    if rng.gen::<f64>() < p {
                        e.push((u, v));
                    }
                }
            }
            Graph::new(n, e).unwrap()
        })
        .collect()
}

fn config(p: Protocol) -> EvalConfig {
    EvalConfig::new(p)
        .with_statistics(&Statistic::ALL)
        .with_isolated_nodes(IsolatedNodes::Keep)
}

fn values(r: &Report) -> Vec<f64> {
    r.mmd.iter().map(|s| s.value).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) + 1e-14)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants(seed in any::<u64>(), nx in 1usize..12, ny in 1usize..12, pi in 0usize..4) {
        let protocol = Protocol::ALL[pi];
        let cfg = config(protocol);
        let x = random_set(seed, nx);
        let y = random_set(seed ^ 0xdead_beef, ny);
        let base = values(&evaluate(&x, &y, &cfg).unwrap());
        prop_assert!(base.iter().all(|v| v.is_finite() && *v >= -1e-12), "{:?}", base);

        // MMD of a set with itself is 0.
        let same = values(&evaluate(&x, &x, &cfg).unwrap());
        prop_assert!(same.iter().all(|v| v.abs() < 1e-12), "{:?}", same);

        // Symmetric in its arguments.
        let swapped = values(&evaluate(&y, &x, &cfg).unwrap());
        prop_assert!(close(&base, &swapped), "{:?} vs {:?}", base, swapped);

        // Invariant to node relabelling and to the order of the graphs.
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(7));
        let relabel = |gs: &[Graph], rng: &mut ChaCha8Rng| -> Vec<Graph> {
            gs.iter()
                .map(|g| {
                    let mut p: Vec<usize> = (0..g.n()).collect();
                    p.shuffle(rng);
                    g.permute(&p)
                })
                .collect()
        };
        let mut x2 = relabel(&x, &mut rng);
        let mut y2 = relabel(&y, &mut rng);
        x2.shuffle(&mut rng);
        y2.shuffle(&mut rng);
        let moved = values(&evaluate(&x2, &y2, &cfg).unwrap());
        prop_assert!(close(&base, &moved), "{:?} vs {:?}", base, moved);
    }
}

#[test]
fn same_result_on_any_thread_count() {
    let x = random_set(1, 40);
    let y = random_set(2, 33);
    let cfg = config(Protocol::GraphRnn);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| evaluate(&x, &y, &cfg).unwrap());
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| evaluate(&x, &y, &cfg).unwrap());
    // Bit-identical: row sums are added in a fixed order.
    assert_eq!(values(&one), values(&three));
}

#[test]
fn different_sets_give_positive_mmd() {
    let x = random_set(3, 20);
    // Complete graphs vs random ones: every statistic must see the difference.
    let k: Vec<Graph> = (5..15)
        .map(|n| {
            let mut e = vec![];
            for u in 0..n {
                for v in u + 1..n {
                    e.push((u, v));
                }
            }
            Graph::new(n, e).unwrap()
        })
        .collect();
    for p in Protocol::ALL {
        let r = evaluate(&x, &k, &config(p)).unwrap();
        for s in &r.mmd {
            assert!(s.value > 1e-3, "{p} {}: {}", s.statistic, s.value);
        }
    }
}

#[test]
fn empty_inputs() {
    let x = random_set(4, 5);
    let cfg = config(Protocol::GraphRnn);
    assert!(evaluate(&x, &[], &cfg).is_err());
    assert!(evaluate(&[], &x, &cfg).is_err());
    assert!(evaluate(&[Graph::empty(0)], &x, &cfg).is_err());
    // Generated graphs with no nodes are dropped and counted.
    let mut g = x.clone();
    g.push(Graph::empty(0));
    let r = evaluate(&x, &g, &cfg).unwrap();
    assert_eq!(r.generated_empty_dropped, 1);
    assert!(r.mmd.iter().all(|s| s.n_generated == 5));
    // All generated graphs empty: an error, except under SPECTRE's 1e6 convention.
    let empties = vec![Graph::empty(0); 3];
    assert!(evaluate(&x, &empties, &cfg).is_err());
    let r = evaluate(&x, &empties, &config(Protocol::Spectre)).unwrap();
    assert!(r.mmd.iter().all(|s| s.value < -9e5));
    // GDSS turns a graph left empty by isolated-node removal into a single node.
    let r = evaluate(&x, &[Graph::empty(4)], &EvalConfig::new(Protocol::GraphRnn)).unwrap();
    assert_eq!(r.generated_empty_dropped, 0);
    assert_eq!(r.generated_isolated_nodes_removed, 4);
    // GRAN drops it.
    assert!(evaluate(&x, &[Graph::empty(4)], &EvalConfig::new(Protocol::Gran)).is_err());
}
