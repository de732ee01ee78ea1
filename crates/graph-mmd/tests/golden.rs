//! Golden tests: the MMD test cases of ../shared/mmd-cases (values from an independent
//! reference evaluator that reproduces the GDSS code to ≤ 7e-12) and the test-vs-train values
//! of the published GDSS graph lists (evaluation.md §5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use graph_mmd::{evaluate, EvalConfig, IsolatedNodes, Protocol, Statistic};
use graph_tensor::io::read_graphs;
use graph_tensor::Graph;
use serde_json::Value;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn read(path: &Path) -> Vec<Graph> {
    read_graphs(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected() -> Value {
    let p = shared().join("mmd-cases/expected.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

const CASES: [&str; 2] = ["case1_community_vs_er", "case5_edge_cases"];

/// Relative tolerance 1e-9 with an absolute floor of 1e-12 (expected.json "tolerance").
fn assert_close(got: f64, want: f64, what: &str) {
    let err = (got - want).abs();
    assert!(
        err <= 1e-9 * want.abs() || err <= 1e-12,
        "{what}: got {got:.17e}, expected {want:.17e} (rel err {:.2e})",
        err / want.abs()
    );
}

fn check_case(case: &str, protocol: Protocol, key: &str) {
    let exp = expected();
    let c = &exp["cases"][case];
    let dir = shared().join("mmd-cases");
    let reference = read(&dir.join(c["ref"].as_str().unwrap()));
    let generated = read(&dir.join(c["gen"].as_str().unwrap()));
    assert_eq!(reference.len() as u64, c["n_ref"].as_u64().unwrap());
    assert_eq!(generated.len() as u64, c["n_gen"].as_u64().unwrap());
    // The expected values evaluate the graphs as given (isolated nodes included).
    let cfg = EvalConfig::new(protocol)
        .with_statistics(&Statistic::ALL)
        .with_isolated_nodes(IsolatedNodes::Keep);
    let report = evaluate(&reference, &generated, &cfg).unwrap();
    for stat in Statistic::ALL {
        let want = c[key][stat.name()].as_f64().unwrap();
        let got = report.get(stat).unwrap().value;
        assert_close(got, want, &format!("{case} {protocol} {stat}"));
    }
    // Symmetric in its arguments.
    let swapped = evaluate(&generated, &reference, &cfg).unwrap();
    for stat in Statistic::ALL {
        assert_close(
            swapped.get(stat).unwrap().value,
            report.get(stat).unwrap().value,
            &format!("{case} swapped {stat}"),
        );
    }
}

#[test]
fn case1_graphrnn() {
    check_case(CASES[0], Protocol::GraphRnn, "expected");
}

#[test]
fn case1_gran() {
    check_case(CASES[0], Protocol::Gran, "expected_gran");
}

#[test]
fn case5_graphrnn() {
    check_case(CASES[1], Protocol::GraphRnn, "expected");
}

#[test]
fn case5_gran() {
    check_case(CASES[1], Protocol::Gran, "expected_gran");
}

fn bins(v: &Value, len: usize) -> Vec<u64> {
    let mut out = vec![0u64; len];
    for (k, c) in v.as_object().unwrap() {
        out[k.parse::<usize>().unwrap()] = c.as_u64().unwrap();
    }
    out
}

#[test]
fn per_graph_features() {
    let mut checked = 0;
    for case in CASES {
        let dir = shared().join("mmd-cases").join(case);
        let sides: BTreeMap<&str, Vec<Graph>> = [
            ("ref", read(&dir.join("ref.jsonl"))),
            ("gen", read(&dir.join("gen.jsonl"))),
        ]
        .into_iter()
        .collect();
        let text = std::fs::read_to_string(dir.join("features.jsonl")).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Value = serde_json::from_str(line).unwrap();
            let g = &sides[f["side"].as_str().unwrap()][f["i"].as_u64().unwrap() as usize];
            let what = format!("{case} {} {}", f["side"], f["i"]);
            assert_eq!(g.n() as u64, f["n"].as_u64().unwrap(), "{what}");
            assert_eq!(g.num_edges() as u64, f["m"].as_u64().unwrap(), "{what}");
            let feats = graph_mmd::graph_features(g, &Statistic::ALL).unwrap();
            let deg: Vec<u64> = serde_json::from_value(f["degree_hist"].clone()).unwrap();
            assert_eq!(feats.degree.unwrap(), deg, "{what} degree");
            assert_eq!(
                feats.clustering.unwrap(),
                bins(&f["clustering_bins"], 100),
                "{what} clustering"
            );
            let orb: Vec<u64> = serde_json::from_value(f["orbit_totals"].clone()).unwrap();
            assert_eq!(feats.orbit_totals.unwrap().to_vec(), orb, "{what} orbit");
            assert_eq!(
                feats.spectral.unwrap(),
                bins(&f["spectral_bins_clipped"], 200),
                "{what} spectral"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 136);
}

/// Test split (first 20 %) vs train split of a published GDSS list, reference vs reference:
/// isolated nodes are kept (the GDSS code evaluates both lists as loaded).
fn gdss_split(name: &str, n_train: Option<usize>) -> graph_mmd::Report {
    let all = read(&shared().join("datasets/gdss").join(name));
    let n_test = (0.2 * all.len() as f64) as usize;
    let (test, train) = all.split_at(n_test);
    let train = match n_train {
        Some(k) => &train[..k],
        None => train,
    };
    let cfg = EvalConfig::new(Protocol::GraphRnn)
        .with_statistics(&Statistic::ALL)
        .with_isolated_nodes(IsolatedNodes::Keep);
    evaluate(test, train, &cfg).unwrap()
}

/// `value` shown with its significant digits as in evaluation.md: equal within half a unit
/// of the last digit shown.
fn assert_digits(got: f64, shown: &str, what: &str) {
    let want: f64 = shown.parse().unwrap();
    if want == 0.0 {
        assert!(got.abs() <= 1e-15, "{what}: got {got:e}, published 0");
        return;
    }
    let decimals = shown.split('.').nth(1).map_or(0, str::len) as i32;
    let half_ulp = 0.5 * 10f64.powi(-decimals);
    assert!(
        (got - want).abs() <= half_ulp * (1.0 + 1e-9),
        "{what}: got {got:.10}, published {shown}"
    );
}

fn check_gdss(name: &str, n_train: Option<usize>, shown: [&str; 4]) {
    let r = gdss_split(name, n_train);
    for (stat, s) in Statistic::ALL.into_iter().zip(shown) {
        assert_digits(r.get(stat).unwrap().value, s, &format!("{name} {stat}"));
    }
}

#[test]
fn gdss_community_small() {
    // evaluation.md §5 shows clustering 0.0092346. The exact-EMD value is 0.00923454888
    // (this crate, and an independent numpy evaluation with exact EMD, 0.009234548884319738),
    // which rounds to 0.0092345; the table's last digit sits 5.5e-6 relative above it, inside
    // pyemd 0.5.1's quantisation envelope (≤ 1.6e-5 on clustering). Checked both ways.
    check_gdss(
        "community_small.g6",
        None,
        ["0.0033839", "0.0092345", "0.00097161", "0.034050"],
    );
    let c = gdss_split("community_small.g6", None)
        .get(Statistic::Clustering)
        .unwrap()
        .value;
    assert!((c - 0.0092346f64).abs() / 0.0092346 < 1e-5, "{c}");
    assert!((c - 0.009234548884319738f64).abs() < 1e-14, "{c}");
}

#[test]
fn gdss_ego_small() {
    check_gdss(
        "ego_small.g6",
        None,
        ["0.014201", "0.027289", "0.0044411", "0.024362"],
    );
}

#[test]
fn gdss_grid() {
    // Spectral: the clipped value (0.018136 unclipped with scipy 1.17, 0.018443 with 1.7.1).
    check_gdss(
        "grid.g6",
        None,
        ["0.00013751", "0", "0.00013401", "0.017353"],
    );
}

#[test]
fn gdss_enzymes() {
    check_gdss(
        "enzymes.g6",
        Some(117),
        ["0.011807", "0.087317", "0.017458", "0.019130"],
    );
}

#[test]
fn isolated_node_removal_changes_values() {
    // case5 has isolated nodes on both sides: removing them from the generated side must
    // move every statistic away from the keep-isolated value.
    let dir = shared().join("mmd-cases/case5_edge_cases");
    let (r, g) = (read(&dir.join("ref.jsonl")), read(&dir.join("gen.jsonl")));
    let keep = evaluate(
        &r,
        &g,
        &EvalConfig::new(Protocol::GraphRnn).with_isolated_nodes(IsolatedNodes::Keep),
    )
    .unwrap();
    let removed = evaluate(&r, &g, &EvalConfig::new(Protocol::GraphRnn)).unwrap();
    assert_eq!(removed.generated_isolated_nodes_removed, 44);
    for stat in Statistic::ALL {
        let (a, b) = (
            keep.get(stat).unwrap().value,
            removed.get(stat).unwrap().value,
        );
        assert!((a - b).abs() > 1e-6, "{stat}: {a} vs {b}");
    }
}

/// `spectre` and `ggm` on case1 against values from scripts/mmd_protocol_values.py, an
/// independent brute-force numpy/networkx implementation of SPECTRE's dist_helper.py
/// (`s / (sum + 1e-6)`, gaussian_tv) and GraphGDP's structure_evaluator.py (RBF on squared L2,
/// max over σ = exp(linspace(−5, 5, 50)[:20])), run with numpy 2.4.6 and networkx 3.6.1.
#[test]
fn case1_spectre_and_ggm() {
    let dir = shared().join("mmd-cases/case1_community_vs_er");
    let (r, g) = (read(&dir.join("ref.jsonl")), read(&dir.join("gen.jsonl")));
    let spectre = evaluate(&r, &g, &EvalConfig::new(Protocol::Spectre)).unwrap();
    assert_eq!(spectre.isolated_nodes, IsolatedNodes::Keep);
    for (stat, want) in [
        (Statistic::Degree, 0.059496942012937204),
        (Statistic::Clustering, 0.05074240900564884),
        (Statistic::Orbit, 0.7949570779549704),
        (Statistic::Spectral, 0.03845359440341167),
    ] {
        assert_close(
            spectre.get(stat).unwrap().value,
            want,
            &format!("spectre {stat}"),
        );
    }
    let ggm = evaluate(&r, &g, &EvalConfig::new(Protocol::Ggm)).unwrap();
    assert_eq!(ggm.mmd.len(), 3);
    for (stat, want) in [
        (Statistic::Degree, 0.18851379026837078),
        (Statistic::Clustering, 0.23424379708037718),
        (Statistic::Spectral, 0.06335197268921516),
    ] {
        let got = ggm.get(stat).unwrap();
        assert_close(got.value, want, &format!("ggm {stat}"));
        assert!(got.sigma.is_some());
    }
    // The +1e-6 normalisation is visible: spectre differs from gran beyond 1e-9 on degree.
    let gran = evaluate(
        &r,
        &g,
        &EvalConfig::new(Protocol::Gran).with_isolated_nodes(IsolatedNodes::Keep),
    )
    .unwrap();
    let (a, b) = (
        spectre.get(Statistic::Degree).unwrap().value,
        gran.get(Statistic::Degree).unwrap().value,
    );
    assert!((a - b).abs() > 1e-9 * b, "{a} vs {b}");
}
