//! The benchmark datasets against the reference generators and the published lists in
//! `../shared/datasets/` (GDSS's community_small, ego_small, grid and ENZYMES as graph6).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use graph_tensor::datasets::community::{CommunityParams, IntraSeeding};
use graph_tensor::datasets::grid::grid_2d;
use graph_tensor::datasets::lobster::{LobsterParams, LobsterVariant};
use graph_tensor::datasets::planar::{delaunay, hull_size, random_points, triangulation_graph};
use graph_tensor::datasets::reference_rng::nx_gnp_random_graph;
use graph_tensor::datasets::sbm::SbmParams;
use graph_tensor::datasets::{
    builtin_names, Dataset, DatasetError, Generator, NodeCountDistribution, Recipe, SplitRule,
};
use graph_tensor::Graph;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests need the shared reference data",
        p.display()
    );
    p
}

fn published(name: &str) -> Vec<Graph> {
    graph_tensor::io::read_graphs(&shared(&format!("gdss/{name}.g6"))).unwrap()
}

fn sorted_degrees(g: &Graph) -> Vec<usize> {
    let mut d = g.degrees();
    d.sort_unstable();
    d
}

fn isomorphic(a: &Graph, b: &Graph) -> bool {
    a.n() == b.n()
        && a.num_edges() == b.num_edges()
        && sorted_degrees(a) == sorted_degrees(b)
        && petgraph::algo::is_isomorphic(&a.to_petgraph(), &b.to_petgraph())
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.into_iter().collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// `|observed - expected| <= 4 sd`, with a readable failure message.
fn within_4_sigma(what: &str, observed: f64, expected: f64, sd: f64) {
    assert!(
        (observed - expected).abs() <= 4.0 * sd,
        "{what}: observed {observed:.4}, expected {expected:.4} ± 4·{sd:.4}"
    );
}

// ------------------------------------------------------------------------------------------
// Registry, determinism, splits.

#[test]
fn synthetic_datasets_are_deterministic_and_seed_dependent() {
    for name in builtin_names() {
        let recipe = Recipe::builtin(name).unwrap();
        if recipe.generator.needs_source() {
            continue;
        }
        let a = Dataset::generate(name, Some(7), None).unwrap();
        let b = Dataset::generate(name, Some(7), None).unwrap();
        assert_eq!(a.graphs, b.graphs, "{name}: same seed, same graphs");
        assert_eq!(a.fingerprint(), b.fingerprint());
        if recipe.generator.uses_seed() {
            // Lobster seeds are GRAN's Python seeds s, s + 1, ...: nearby seeds give shifted,
            // overlapping lists (seeds 7 and 8 even give the same list when the lobster of
            // seed 7 is rejected), so compare seeds far apart there.
            let other = if name == "lobster" { 100_007 } else { 8 };
            let c = Dataset::generate(name, Some(other), None).unwrap();
            assert_ne!(
                a.graphs, c.graphs,
                "{name}: different seed, different graphs"
            );
            let d = Dataset::generate(name, None, None).unwrap();
            let e = Dataset::generate(name, recipe.seed, None).unwrap();
            assert_eq!(
                d.graphs, e.graphs,
                "{name}: the default seed is the recipe's"
            );
        }
    }
}

#[test]
fn builtin_sizes_and_splits() {
    // (name, graphs, min nodes, max nodes, (train, val, test))
    let want = [
        ("community-small", 100, 12, 20, (80, 0, 20)),
        ("grid", 100, 100, 361, (80, 0, 20)),
        ("grid-gdss", 100, 100, 361, (80, 0, 20)),
        ("lobster", 100, 10, 100, (80, 0, 20)),
        ("planar", 200, 64, 64, (128, 32, 40)),
        ("sbm", 200, 40, 200, (128, 32, 40)),
        ("tree", 200, 64, 64, (128, 32, 40)),
    ];
    for (name, k, lo, hi, parts) in want {
        let ds = Dataset::generate(name, None, None).unwrap();
        assert_eq!(ds.len(), k, "{name}");
        let s = ds.summary();
        assert!(s.min_nodes >= lo && s.max_nodes <= hi, "{name}: {s}");
        let split = ds.split();
        assert_eq!(
            (split.train.len(), split.val.len(), split.test.len()),
            parts,
            "{name}"
        );
        assert_eq!(ds.train_graphs().len(), parts.0);
        assert_eq!(ds.test_graphs()[0], ds.graphs[split.test[0]]);
    }
    // grid (GRAN) covers every side pair once; the last 20 (test) are the 18- and 19-row grids.
    let grid = Dataset::generate("grid", None, None).unwrap();
    for (k, g) in grid.graphs.iter().enumerate() {
        assert_eq!(*g, grid_2d(10 + k / 10, 10 + k % 10));
    }
}

#[test]
fn any_graph_file_is_a_dataset() {
    let path = shared("gdss/community_small.g6");
    let ds = Dataset::from_file(&path, SplitRule::test_first(0.2)).unwrap();
    assert_eq!(ds.name, "community_small");
    assert_eq!(ds.len(), 100);
    assert_eq!(ds.split().test, (0..20).collect::<Vec<_>>());
    let e = Dataset::from_file(Path::new("no/such/file.g6"), SplitRule::default()).unwrap_err();
    assert!(matches!(e, DatasetError::GraphFile(_)), "{e}");
    assert!(e.to_string().contains("no/such/file.g6"), "{e}");
    assert!(Dataset::from_file(&path, SplitRule::test_first(-0.1)).is_err());
}

#[test]
fn node_count_distribution_of_training_split() {
    let ds = Dataset::from_file(
        &shared("gdss/community_small.g6"),
        SplitRule::test_first(0.2),
    )
    .unwrap();
    let d = ds.train_node_counts().unwrap();
    assert_eq!(d.total(), 80);
    let train = ds.train_graphs();
    for n in 0..=d.max() {
        let c = train.iter().filter(|g| g.n() == n).count();
        assert!((d.prob(n) - c as f64 / 80.0).abs() < 1e-15);
    }
    assert!(d
        .sample_n(1000, 0)
        .iter()
        .all(|&n| n % 2 == 0 && (12..=20).contains(&n)));
    assert_eq!(NodeCountDistribution::from_graphs(&train).unwrap(), d);
}

// ------------------------------------------------------------------------------------------
// community-small.

/// Mean and variance of the bridge count for community size `c` under the reference rule:
/// B ~ Binomial(c², 0.1 / c), and one forced bridge when B = 0.
fn bridge_moments(c: usize, p_inter: f64) -> (f64, f64) {
    let m = (c * c) as f64;
    let q = p_inter * 2.0 / c as f64;
    let p0 = (1.0 - q).powf(m);
    let e = m * q + p0;
    let e2 = m * q * (1.0 - q) + (m * q).powi(2) + p0;
    (e, e2 - e * e)
}

fn split_intra_cross(g: &Graph) -> (Vec<(usize, usize)>, usize) {
    let c = g.n() / 2;
    let intra: Vec<_> = g
        .edges()
        .iter()
        .copied()
        .filter(|&(u, v)| (u < c) == (v < c))
        .collect();
    let cross = g.num_edges() - intra.len();
    (intra, cross)
}

#[test]
fn published_community_small_has_the_reference_communities_exactly() {
    // Every published graph's communities are nx.gnp_random_graph(c, 0.7, seed=0) and
    // (seed=1), bit for bit, and its bridges follow the bridge rule.
    let pubs = published("community_small");
    assert_eq!(pubs.len(), 100);
    let (mut sum_b, mut sum_e, mut sum_v) = (0.0, 0.0, 0.0);
    for g in &pubs {
        assert!(g.n() % 2 == 0 && (12..=20).contains(&g.n()));
        let c = g.n() / 2;
        let mut want: Vec<(usize, usize)> = nx_gnp_random_graph(c, 0.7, 0);
        want.extend(
            nx_gnp_random_graph(c, 0.7, 1)
                .into_iter()
                .map(|(u, v)| (u + c, v + c)),
        );
        want.sort_unstable();
        let (intra, cross) = split_intra_cross(g);
        assert_eq!(intra, want, "published graph with {} nodes", g.n());
        assert!(cross >= 1);
        let (e, v) = bridge_moments(c, 0.05);
        sum_b += cross as f64;
        sum_e += e;
        sum_v += v;
    }
    within_4_sigma("published bridges (total)", sum_b, sum_e, sum_v.sqrt());

    // Our generator in reference mode reproduces those communities.
    let p = CommunityParams {
        graphs: 200,
        communities: 2,
        max_nodes: [12, 20],
        p_intra: 0.7,
        p_inter: 0.05,
        intra_seeding: IntraSeeding::CommunityIndex,
    };
    let ours = p.generate(&mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    for g in &ours {
        let twin = pubs.iter().find(|h| h.n() == g.n()).unwrap();
        assert_eq!(split_intra_cross(g).0, split_intra_cross(twin).0);
    }
}

#[test]
fn community_small_statistics_match_the_reference_rule() {
    // 4,000 graphs of the community-small recipe (independent communities), statistics per
    // community size against the analytic values of the reference rule.
    let mut recipe = Recipe::builtin("community-small").unwrap();
    let Generator::Community(p) = &mut recipe.generator else {
        panic!("community recipe")
    };
    p.graphs = 4000;
    let graphs = recipe.produce(Some(11), None).unwrap();
    let mut by_c: BTreeMap<usize, Vec<&Graph>> = BTreeMap::new();
    for g in &graphs {
        assert!(
            g.n() % 2 == 0 && (12..=20).contains(&g.n()),
            "{} nodes",
            g.n()
        );
        by_c.entry(g.n() / 2).or_default().push(g);
    }
    // max_nodes uniform on 12..=20 and c = max_nodes // 2: P(c) = 2/9 for 6..=9, 1/9 for 10.
    for (c, gs) in &by_c {
        let p = if *c == 10 { 1.0 / 9.0 } else { 2.0 / 9.0 };
        let f = gs.len() as f64 / 4000.0;
        within_4_sigma(
            &format!("P(c = {c})"),
            f,
            p,
            (p * (1.0 - p) / 4000.0).sqrt(),
        );
        let k = gs.len() as f64;
        // Intra edges ~ Binomial(c(c−1), 0.7) (two communities of c(c−1)/2 pairs).
        let pairs = (c * (c - 1)) as f64;
        let intra = mean(gs.iter().map(|g| split_intra_cross(g).0.len() as f64));
        within_4_sigma(
            &format!("intra edges, c = {c}"),
            intra,
            0.7 * pairs,
            (pairs * 0.21 / k).sqrt(),
        );
        let (e, v) = bridge_moments(*c, 0.05);
        let cross = mean(gs.iter().map(|g| split_intra_cross(g).1 as f64));
        // A disconnected G(c, 0.7) (probability ≈ 2c·0.3^(c−1) ≤ 3 % per graph) becomes
        // several components, each bridged: about one extra cross edge, so up to +0.03 here.
        // The exact rule is checked below with complete communities.
        within_4_sigma(
            &format!("bridges, c = {c}"),
            cross,
            e + 0.015,
            (v / k).sqrt() + 0.005,
        );
    }
    assert_eq!(by_c.len(), 5);
}

#[test]
fn community_bridge_rule_is_exact() {
    // With p_intra = 1 every community is connected, so the cross edges of a graph follow
    // the reference rule exactly: Binomial(c², p_inter·2/((M−1)·c)), at least one.
    for p_inter in [0.05, 0.2] {
        let p = CommunityParams {
            graphs: 8000,
            communities: 2,
            max_nodes: [12, 20],
            p_intra: 1.0,
            p_inter,
            intra_seeding: IntraSeeding::Independent,
        };
        let gs = p.generate(&mut ChaCha8Rng::seed_from_u64(17)).unwrap();
        for c in 6..=10 {
            let cross: Vec<f64> = gs
                .iter()
                .filter(|g| g.n() == 2 * c)
                .map(|g| split_intra_cross(g).1 as f64)
                .collect();
            let k = cross.len() as f64;
            let (e, v) = bridge_moments(c, p_inter);
            within_4_sigma(
                &format!("bridges, c = {c}, p_inter = {p_inter}"),
                mean(cross),
                e,
                (v / k).sqrt(),
            );
        }
    }
}

#[test]
fn community_small_default_dataset_vs_published_statistics() {
    // Node counts and mean bridge count of the generated dataset against the published list.
    let ours = Dataset::generate("community-small", None, None).unwrap();
    let pubs = published("community_small");
    let s = ours.summary();
    assert_eq!((s.graphs, s.min_nodes, s.max_nodes), (100, 12, 20));
    let expected_edges = |gs: &[Graph]| -> (f64, f64) {
        // Conditional on the sizes: intra Binomial(c(c−1), 0.7) plus bridges.
        let mut e = 0.0;
        let mut v = 0.0;
        for g in gs {
            let c = g.n() / 2;
            let (be, bv) = bridge_moments(c, 0.05);
            e += 0.7 * (c * (c - 1)) as f64 + be;
            v += 0.21 * (c * (c - 1)) as f64 + bv;
        }
        (e / gs.len() as f64, v.sqrt() / gs.len() as f64)
    };
    let (e, sd) = expected_edges(&ours.graphs);
    within_4_sigma("mean edges (ours)", s.mean_edges, e, sd + 0.02);
    // The published communities are fixed per size, so only their bridges are random.
    let pub_bridges = mean(pubs.iter().map(|g| split_intra_cross(g).1 as f64));
    let our_bridges = mean(ours.graphs.iter().map(|g| split_intra_cross(g).1 as f64));
    let sd_b = |gs: &[Graph]| {
        gs.iter()
            .map(|g| bridge_moments(g.n() / 2, 0.05).1)
            .sum::<f64>()
            .sqrt()
            / gs.len() as f64
    };
    within_4_sigma(
        "mean bridges, ours vs published",
        our_bridges,
        pub_bridges,
        (sd_b(&ours.graphs).powi(2) + sd_b(&pubs).powi(2)).sqrt() + 0.02,
    );
    let ps = graph_tensor::datasets::Summary::of(&pubs);
    assert_eq!((ps.min_nodes, ps.max_nodes), (12, 20));
}

// ------------------------------------------------------------------------------------------
// ego-small and ENZYMES against the published lists.

#[test]
fn ego_small_is_the_published_list_exactly() {
    // From the Planetoid pickle ind.citeseer.graph, as the reference read it: the published
    // list graph for graph, node order included.
    let ours = Dataset::generate("ego-small", None, Some(&shared("citeseer"))).unwrap();
    let pubs = published("ego_small");
    assert_eq!(ours.len(), 200);
    assert_eq!(pubs.len(), 200);
    for (i, (a, b)) in ours.graphs.iter().zip(&pubs).enumerate() {
        assert_eq!(a, b, "ego graph {i}");
    }
    let s = ours.summary();
    assert_eq!((s.min_nodes, s.max_nodes), (4, 17));
    assert_eq!(ours.split().test.len(), 40);
}

#[test]
fn ego_small_from_the_edge_list_is_isomorphic_graph_for_graph() {
    // From citeseer.edges (sorted edge lines) the same graphs come out in the same order;
    // the node order inside an ego graph follows networkx given that (sorted) adjacency, so
    // 31 of the 200 are relabelled versions of the published ones.
    let mut recipe = Recipe::builtin("ego-small").unwrap();
    let Generator::Ego(p) = &mut recipe.generator else {
        panic!("ego recipe")
    };
    p.files = vec!["citeseer.edges".into()];
    let ours = Dataset::from_recipe(&recipe, None, Some(&shared("citeseer"))).unwrap();
    let pubs = published("ego_small");
    assert_eq!(ours.len(), 200);
    let mut labelled = 0;
    for (i, (a, b)) in ours.graphs.iter().zip(&pubs).enumerate() {
        assert!(
            isomorphic(a, b),
            "ego graph {i}: ours {a:?}, published {b:?}"
        );
        labelled += (a == b) as usize;
    }
    assert_eq!(
        labelled, 169,
        "ego graphs equal to the published ones including node order"
    );
}

#[test]
fn enzymes_is_the_published_list_exactly() {
    let ours = Dataset::generate("enzymes", None, Some(&shared("ENZYMES"))).unwrap();
    let pubs = published("enzymes");
    assert_eq!(ours.len(), 587);
    assert_eq!(pubs.len(), 587);
    for (i, (a, b)) in ours.graphs.iter().zip(&pubs).enumerate() {
        assert_eq!((a.n(), a.num_edges()), (b.n(), b.num_edges()), "graph {i}");
        // networkx's node order (CPython set order) is replayed, so the labelled graphs agree.
        assert_eq!(a, b, "graph {i}");
    }
    let s = ours.summary();
    assert_eq!((s.min_nodes, s.max_nodes), (10, 125));
    let split = ours.split();
    assert_eq!((split.train.len(), split.test.len()), (470, 117));
    // 25 of them are disconnected (evaluation notes, measured on GDSS's ENZYMES.pkl).
    let disconnected = ours
        .graphs
        .iter()
        .filter(|g| {
            let pg = g.to_petgraph();
            petgraph::algo::connected_components(&pg) > 1
        })
        .count();
    assert_eq!(disconnected, 25);
}

// ------------------------------------------------------------------------------------------
// grid.

#[test]
fn published_gdss_grids_are_networkx_grids_drawn_with_replacement() {
    let pubs = published("grid");
    assert_eq!(pubs.len(), 100);
    let mut sides = Vec::new();
    for g in &pubs {
        // n = m·k and |E| = 2mk − m − k give m + k; find (m, k) with our exact labelling.
        let s = 2 * g.n() - g.num_edges();
        let found = (10..=19).find(|&m| s > m && g.n() == m * (s - m) && *g == grid_2d(m, s - m));
        let m = found
            .unwrap_or_else(|| panic!("published grid with {} nodes is no grid_2d(m, k)", g.n()));
        sides.push((m, s - m));
    }
    let mut distinct = sides.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Sampling 100 of 100 pairs with replacement leaves about 100·(1 − 1/e) ≈ 63 distinct.
    assert!(
        distinct.len() < 100 && distinct.len() > 45,
        "{} distinct grids",
        distinct.len()
    );
    // grid-gdss reproduces that sampling: mean nodes 14.5² = 210.25, sd of one side 2.87.
    let ours = Dataset::generate("grid-gdss", None, None).unwrap();
    let mean_n = ours.summary().mean_nodes;
    // Var(m·k) = E[m²]² − E[m]⁴ with m uniform on 10..=19.
    let em2: f64 = (10..=19).map(|m| (m * m) as f64).sum::<f64>() / 10.0;
    let sd = ((em2 * em2 - 14.5f64.powi(4)) / 100.0).sqrt();
    within_4_sigma("grid-gdss mean nodes", mean_n, 210.25, sd);
    within_4_sigma(
        "published GDSS grid mean nodes",
        graph_tensor::datasets::Summary::of(&pubs).mean_nodes,
        210.25,
        sd,
    );
}

// ------------------------------------------------------------------------------------------
// lobster: GRAN's list, bit for bit.

fn canonical_sha(graphs: &[Graph]) -> String {
    let mut text = String::new();
    for g in graphs {
        text.push_str(&format!("{}:", g.n()));
        let e: Vec<String> = g.edges().iter().map(|(u, v)| format!("{u}-{v}")).collect();
        text.push_str(&e.join(","));
        text.push(';');
    }
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn lobster_is_grans_list_bit_for_bit() {
    // Reference values: GRAN's loop (utils/data_helper.py) run under networkx 2.3, GRAN's pin,
    // and under networkx 3.6; text = "n:u-v,...;" per graph with sorted canonical edges.
    let gran = Dataset::generate("lobster", None, None).unwrap();
    let nodes: Vec<usize> = gran.graphs.iter().map(Graph::n).collect();
    assert_eq!(
        nodes,
        vec![
            57, 26, 34, 57, 46, 46, 31, 26, 70, 46, 21, 31, 75, 33, 88, 78, 23, 73, 21, 78, 29, 60,
            47, 75, 55, 80, 48, 18, 35, 54, 72, 74, 34, 70, 76, 17, 17, 43, 43, 47, 17, 34, 52, 96,
            21, 20, 57, 36, 14, 97, 37, 28, 74, 20, 35, 78, 74, 86, 40, 33, 87, 44, 11, 90, 85, 20,
            49, 79, 37, 17, 47, 15, 28, 55, 93, 76, 58, 31, 53, 63, 45, 60, 14, 100, 74, 79, 69,
            90, 65, 20, 11, 88, 12, 33, 66, 70, 49, 60, 57, 19
        ]
    );
    assert_eq!(
        gran.graphs.iter().map(Graph::num_edges).sum::<usize>(),
        4922
    );
    assert_eq!(
        canonical_sha(&gran.graphs),
        "c202f1e8e49212a481636b6d8d2a05ea3a33e7c44cd681ade5ad7bcee4e0f703"
    );

    let p = LobsterParams {
        graphs: 100,
        backbone: 80,
        p1: 0.7,
        p2: 0.7,
        nodes: [10, 100],
        variant: LobsterVariant::Networkx25,
    };
    let new = p.generate(1234).unwrap();
    assert_eq!(new.iter().map(Graph::num_edges).sum::<usize>(), 5262);
    assert_eq!(
        canonical_sha(&new),
        "fcb4f238c5a0979aae50b2be7222dd1f37d89e522fa555bf77972e31d9c2486e"
    );
}

// ------------------------------------------------------------------------------------------
// planar, sbm, tree.

#[test]
fn planar_graphs_are_delaunay_triangulations() {
    let ds = Dataset::generate("planar", None, None).unwrap();
    for g in &ds.graphs {
        assert_eq!(g.n(), 64);
        // A triangulation of 64 points has 3n − 3 − h edges, h hull points in 3..=64.
        assert!(g.num_edges() <= 3 * 64 - 6 && g.num_edges() >= 2 * 64 - 3);
        assert!(g.degrees().iter().all(|&d| d >= 2));
    }
    // Edge count = 3n − 3 − h exactly, on the points behind each graph.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut hulls = Vec::new();
    for _ in 0..200 {
        let pts = random_points(64, &mut rng);
        let g = triangulation_graph(64, &delaunay(&pts).unwrap());
        let h = hull_size(&pts);
        assert_eq!(g.num_edges(), 3 * 64 - 3 - h);
        hulls.push(h as f64);
    }
    // Expected hull size of 64 uniform points in the unit square: E[h] = 10.812, sd 1.78
    // (Monte Carlo, 2·10^5 point sets, standard error 0.004). Edges = 189 − h on average.
    let mh = mean(hulls.iter().copied());
    within_4_sigma("mean hull size", mh, 10.812, 1.78 / (200f64).sqrt() + 0.004);
    let me = ds.summary().mean_edges;
    within_4_sigma(
        "planar mean edges",
        me,
        189.0 - 10.812,
        1.78 / (200f64).sqrt() + 0.004,
    );
}

#[test]
fn sbm_edges_match_block_model_expectation() {
    let recipe = Recipe::builtin("sbm").unwrap();
    let Generator::Sbm(p) = &recipe.generator else {
        panic!("sbm recipe")
    };
    let p: SbmParams = p.clone();
    let out = p
        .generate_with_blocks(&mut ChaCha8Rng::seed_from_u64(recipe.seed.unwrap()))
        .unwrap();
    let (mut e, mut v, mut obs) = (0.0, 0.0, 0.0);
    let mut ks = Vec::new();
    for (g, sizes) in &out {
        assert!((2..=5).contains(&sizes.len()) && sizes.iter().all(|s| (20..=40).contains(s)));
        assert_eq!(g.n(), sizes.iter().sum::<usize>());
        let (me, mv) = p.edge_moments(sizes);
        e += me;
        v += mv;
        obs += g.num_edges() as f64;
        ks.push(sizes.len() as f64);
    }
    within_4_sigma("SBM total edges", obs, e, v.sqrt());
    // Number of communities uniform on 2..=5: mean 3.5, variance 1.25.
    within_4_sigma(
        "SBM mean communities",
        mean(ks),
        3.5,
        (1.25f64 / 200.0).sqrt(),
    );
    // The recipe's dataset is the same draw.
    let ds = Dataset::generate("sbm", None, None).unwrap();
    assert_eq!(
        ds.graphs,
        out.into_iter().map(|(g, _)| g).collect::<Vec<_>>()
    );
}

#[test]
fn trees_are_uniform_labelled_trees() {
    let ds = Dataset::generate("tree", None, None).unwrap();
    let n = 64usize;
    let mut leaves = 0.0;
    for g in &ds.graphs {
        assert_eq!((g.n(), g.num_edges()), (n, n - 1));
        assert_eq!(petgraph::algo::connected_components(&g.to_petgraph()), 1);
        leaves += g.degrees().iter().filter(|&&d| d == 1).count() as f64;
    }
    // In a uniform labelled tree a node is a leaf iff absent from the Prüfer sequence:
    // P(leaf) = (1 − 1/n)^(n−2), P(two given nodes leaves) = (1 − 2/n)^(n−2).
    let nf = n as f64;
    let p1 = (1.0 - 1.0 / nf).powf(nf - 2.0);
    let p2 = (1.0 - 2.0 / nf).powf(nf - 2.0);
    let e = nf * p1;
    let var = nf * p1 + nf * (nf - 1.0) * p2 - e * e;
    let k = ds.len() as f64;
    within_4_sigma("leaves per tree", leaves / k, e, (var / k).sqrt());
}
