"""graphdiff_mmd's numbers: the reference values of ../shared/mmd-cases, every input form,
the GraphRNN/GDSS function interface, and an independent literal re-statement of the
reference code (reference_eval.py) on random graph sets."""

import json
import random

import networkx as nx
import numpy as np
import pytest

import reference_eval as ref_eval
from conftest import CASES, load_jsonl

CASE_NAMES = ["case1_community_vs_er", "case5_edge_cases"]
STATS = ["degree", "clustering", "orbit", "spectral"]


def close(got, want, what, rel=1e-9):
    # expected.json: relative tolerance 1e-9, absolute floor 1e-12.
    err = abs(got - want)
    assert err <= rel * abs(want) or err <= 1e-12, f"{what}: got {got!r}, expected {want!r}"


def case_graphs(case):
    return load_jsonl(CASES / case / "ref.jsonl"), load_jsonl(CASES / case / "gen.jsonl")


def to_nx(d):
    g = nx.Graph()
    g.add_nodes_from(range(d["n"]))
    g.add_edges_from(d["edges"])
    return g


def to_adj(d):
    a = np.zeros((d["n"], d["n"]), dtype=np.float32)
    for u, v in d["edges"]:
        a[u, v] = a[v, u] = 1
    return a


@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize("protocol,key", [("graphrnn", "expected"), ("gran", "expected_gran")])
def test_expected_values(gm, expected, case, protocol, key):
    ref, gen = case_graphs(case)
    c = expected["cases"][case]
    assert (len(ref), len(gen)) == (c["n_ref"], c["n_gen"])
    # The expected values evaluate the graphs as given (isolated nodes included).
    got = gm.evaluate(ref, gen, protocol, isolated_nodes="keep", statistics=STATS)
    assert list(got) == STATS
    for s in STATS:
        close(got[s], c[key][s], f"{case} {protocol} {s}")


@pytest.mark.parametrize("case", CASE_NAMES)
def test_stats_functions_match_expected(gm, expected, case):
    ref, gen = case_graphs(case)
    c = expected["cases"][case]
    rn, gn = [to_nx(d) for d in ref], [to_nx(d) for d in gen]
    close(gm.degree_stats(rn, gn), c["expected"]["degree"], "degree")
    close(gm.clustering_stats(rn, gn), c["expected"]["clustering"], "clustering")
    close(gm.orbit_stats_all(rn, gn), c["expected"]["orbit"], "orbit")
    close(gm.spectral_stats(rn, gn), c["expected"]["spectral"], "spectral")
    # GRAN's kernels, passed the GDSS way (KERNEL=gaussian_tv) and by name.
    for kern in (gm.gaussian_tv, "tv"):
        close(gm.degree_stats(rn, gn, KERNEL=kern), c["expected_gran"]["degree"], "degree tv")
        close(gm.clustering_stats(rn, gn, kern), c["expected_gran"]["clustering"], "clus tv")
        close(gm.orbit_stats_all(rn, gn, kern), c["expected_gran"]["orbit"], "orbit tv")
        close(gm.spectral_stats(rn, gn, kern), c["expected_gran"]["spectral"], "spec tv")
    # The reference code's own kernel functions select the same kernels (matched by name).
    close(gm.degree_stats(rn, gn, KERNEL=ref_eval.gaussian_tv), c["expected_gran"]["degree"], "own tv")
    close(gm.orbit_stats_all(rn, gn, KERNEL=ref_eval.gaussian), c["expected"]["orbit"], "own rbf")
    # GDSS eval_graph_list: rounded to 6 decimals, GDSS method names.
    kernels = {"degree": gm.gaussian_emd, "cluster": gm.gaussian_emd, "orbit": gm.gaussian,
               "spectral": gm.gaussian_emd}
    out = gm.eval_graph_list(rn, gn, methods=["degree", "cluster", "orbit", "spectral"],
                             kernels=kernels)
    for m, s in [("degree", "degree"), ("cluster", "clustering"), ("orbit", "orbit"),
                 ("spectral", "spectral")]:
        assert out[m] == round(c["expected"][s], 6)


class SparseLike:
    """What a scipy sparse matrix offers the converter: shape and toarray()."""

    def __init__(self, a):
        self.shape, self._a = a.shape, a

    def toarray(self):
        return self._a


@pytest.mark.parametrize("case", CASE_NAMES)
def test_input_forms_agree(gm, expected, case):
    """networkx graphs, numpy arrays (float and bool), a [B, N, N] array, (n, edges) tuples,
    dicts, PyG-style both-direction edge lists and GraphSets give the same numbers."""
    ref, gen = case_graphs(case)
    want = gm.evaluate(ref, gen, isolated_nodes="keep")
    for s in STATS:
        close(want[s], expected["cases"][case]["expected"][s], s)
    forms = {
        "networkx": lambda ds: [to_nx(d) for d in ds],
        "numpy float32": lambda ds: [to_adj(d) for d in ds],
        "numpy bool": lambda ds: [to_adj(d).astype(bool) for d in ds],
        "tuple": lambda ds: [(d["n"], [tuple(e) for e in d["edges"]]) for d in ds],
        "tuple of arrays": lambda ds: [(d["n"], np.array(d["edges"], dtype=np.int64).reshape(-1, 2)) for d in ds],
        "both directions": lambda ds: [(d["n"], d["edges"] + [[v, u] for u, v in d["edges"]]) for d in ds],
        "graph set": lambda ds: gm.graph_set(ds, "x"),
        "sparse-like (shape + toarray)": lambda ds: [SparseLike(to_adj(d)) for d in ds],
    }
    for name, f in forms.items():
        got = gm.evaluate(f(ref), f(gen), isolated_nodes="keep")
        assert got == want, name
    # Relabelled networkx nodes (strings, shuffled order): the statistics are invariant.
    rnd = random.Random(0)
    relabel = []
    for d in gen:
        g = to_nx(d)
        names = [f"v{i}" for i in range(d["n"])]
        rnd.shuffle(names)
        relabel.append(nx.relabel_nodes(g, dict(enumerate(names))))
    got = gm.evaluate(ref, relabel, isolated_nodes="keep")
    for s in STATS:
        close(got[s], want[s], f"relabelled {s}", rel=1e-12)


def test_padded_batch_array(gm):
    """A [B, N, N] array (a sampler's padded output): padding nodes are isolated nodes, which
    the graphrnn protocol removes from generated graphs (GDSS adjs_to_graphs)."""
    rng = np.random.default_rng(3)
    graphs = [nx.gnp_random_graph(int(rng.integers(8, 13)), 0.4, seed=int(s)) for s in range(6)]
    graphs = [g.subgraph(max(nx.connected_components(g), key=len)).copy() for g in graphs]
    graphs = [nx.convert_node_labels_to_integers(g) for g in graphs]
    batch = np.zeros((6, 14, 14), dtype=np.float32)
    for b, g in enumerate(graphs):
        batch[b, : g.number_of_nodes(), : g.number_of_nodes()] = nx.to_numpy_array(g)
    ref = [nx.cycle_graph(k) for k in range(5, 11)]
    assert gm.evaluate(ref, batch) == gm.evaluate(ref, graphs)


def random_sets(seed, count=12):
    rnd = random.Random(seed)
    ref = [nx.gnp_random_graph(rnd.randint(6, 16), 0.35, seed=rnd.randrange(10**6)) for _ in range(count)]
    gen = [nx.gnp_random_graph(rnd.randint(5, 18), 0.25, seed=rnd.randrange(10**6)) for _ in range(count + 3)]
    gen.append(nx.empty_graph(0))  # dropped, as graph_pred_list_remove_empty does
    gen.append(nx.grid_2d_graph(3, 4))  # bipartite: eigenvalue 2 (clipped on both sides)
    return ref, gen


@pytest.mark.parametrize("seed", [1, 2])
def test_against_literal_reference(gm, seed):
    ref, gen = random_sets(seed)
    for stat, fn in [("degree", gm.degree_stats), ("clustering", gm.clustering_stats),
                     ("spectral", gm.spectral_stats)]:
        for kern in ("emd", "tv", "rbf"):
            want = ref_eval.mmd(stat, ref, gen, kern)
            got = fn(ref, gen, KERNEL=kern)
            close(got, want, f"{stat} {kern} seed {seed}", rel=1e-10)
        # SPECTRE: sum + 1e-6 normalisation, TV (compute_emd=False) or EMD (True).
        close(fn(ref, gen, compute_emd=False), ref_eval.mmd(stat, ref, gen, "tv", plus=1e-6),
              f"{stat} spectre tv")
        # With sum + 1e-6 the histograms' masses differ by ~1e-7 between graphs, so an EMD
        # by cumulative sums depends on how far the vectors are zero-padded: graph-mmd pads
        # all vectors to one length, the reference pads each pair (and pyemd treats unequal
        # masses its own way). The difference is ~1e-8 relative; hence the looser tolerance.
        close(fn(ref, gen, compute_emd=True), ref_eval.mmd(stat, ref, gen, "emd", plus=1e-6),
              f"{stat} spectre emd", rel=1e-6)
    # GDSS's literal default for clustering_stats is KERNEL=gaussian (an RBF of sigma 0.1).
    close(gm.clustering_stats(ref, gen, KERNEL=gm.gaussian),
          ref_eval.mmd("clustering", ref, gen, "rbf"), "clustering gdss default")
    # GraphRNN's positional arguments: degree_stats(ref, pred, is_parallel),
    # clustering_stats(ref, pred, bins, is_parallel).
    assert gm.degree_stats(ref, gen, False) == gm.degree_stats(ref, gen)
    assert gm.clustering_stats(ref, gen, 100, True) == gm.clustering_stats(ref, gen)


def test_orbits_against_feature_file(gm, expected):
    """Orbit MMD from the per-graph ORCA orbit totals of features.jsonl, with both kernels."""
    for case in CASE_NAMES:
        ref, gen = case_graphs(case)
        feats = load_jsonl(CASES / case / "features.jsonl")
        side = {"ref": {}, "gen": {}}
        for f in feats:
            side[f["side"]][f["i"]] = np.array(f["orbit_totals"], dtype=float) / f["n"]
        xs = [side["ref"][i] for i in range(len(ref))]
        ys = [side["gen"][i] for i in range(len(gen)) if gen[i]["n"] > 0]
        for kern, fn in (("rbf", ref_eval.gaussian), ("tv", ref_eval.gaussian_tv)):
            want = ref_eval.compute_mmd(xs, ys, fn, is_hist=False, sigma=30.0)
            close(gm.orbit_stats_all(ref, gen, KERNEL=kern), want, f"{case} orbit {kern}", rel=1e-10)


def test_python_kernels(gm):
    x, y = [0.2, 0.3, 0.5], [0.5, 0.5]
    for a, b in ((x, y), (y, x)):
        assert gm.gaussian_emd(a, b, 0.7, 3.0) == pytest.approx(ref_eval.gaussian_emd(np.array(a), np.array(b), 0.7, 3.0), rel=1e-14)
        assert gm.gaussian_tv(a, b, 0.3) == pytest.approx(ref_eval.gaussian_tv(np.array(a), np.array(b), 0.3), rel=1e-14)
        assert gm.gaussian(a, b, 2.0) == pytest.approx(ref_eval.gaussian(np.array(a), np.array(b), 2.0), rel=1e-14)
    with pytest.raises(ValueError, match="different masses"):
        gm.gaussian_emd([1.0, 2.0], [1.0])


def test_full_report_and_quality(gm):
    ref, gen = random_sets(5)
    full = gm.evaluate_report(ref, gen, "spectre", train=ref[:6], validity="tree")
    rep = full["report"]
    assert rep["protocol"] == "spectre" and rep["normalization"] == "sum_plus1e6"
    assert rep["n_generated"] == len(gen) and rep["generated_empty_dropped"] == 1
    assert [r["statistic"] for r in rep["mmd"]] == STATS
    q = full["quality"]
    assert q["n_train"] == 6 and q["validity"] == "tree"
    flat = gm.evaluate(ref, gen, "spectre", train=ref[:6], validity="tree")
    for key in ("unique", "novel", "unique_novel", "valid", "vun"):
        assert flat[key] == q[key]
    # Uniqueness / novelty / validity by hand: a path twice, a star, a cycle.
    paths = [nx.path_graph(5), nx.path_graph(5), nx.star_graph(4), nx.cycle_graph(5)]
    q = gm.sample_quality(paths, train=[nx.path_graph(5)], validity="tree")
    assert q["unique"] == 0.75 and q["novel"] == 0.5 and q["valid"] == 0.75
    assert q["vun"] == 0.25  # the star: unique, novel and a tree
    with pytest.raises(ValueError, match="SBM"):
        gm.sample_quality(paths, validity="sbm")
