#!/usr/bin/env python3
"""Independent values of the `spectre` and `ggm` MMD protocols on ../shared/mmd-cases case1,
for graph-mmd's golden tests. Written from the reference evaluators' definitions
(SPECTRE util/dist_helper.py + eval_helper.py; GraphGDP evaluation/structure_evaluator.py),
with numpy + networkx only (numpy.linalg.eigvalsh for the spectrum; case1 has no graph with
eigenvalue 2, so clipping does not matter there). Brute-force pairwise loops, no tricks.

Usage: python3 scripts/mmd_protocol_values.py  (from the repository root)
"""
import json
import math
import os

import networkx as nx
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "mmd-cases")


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                g = nx.Graph()
                g.add_nodes_from(range(d["n"]))
                g.add_edges_from(d["edges"])
                out.append(g)
    return out


def degree(g):
    return np.array(nx.degree_histogram(g), dtype=float)


def clustering(g):
    h, _ = np.histogram(list(nx.clustering(g).values()), bins=100, range=(0.0, 1.0))
    return h.astype(float)


def spectral(g):
    # networkx normalized_laplacian_matrix (needs scipy), built the same way in numpy.
    a = nx.to_numpy_array(g, nodelist=range(g.number_of_nodes()))
    d = a.sum(axis=1)
    with np.errstate(divide="ignore"):
        dh = 1.0 / np.sqrt(d)
    dh[np.isinf(dh)] = 0
    lap = np.diag(dh) @ ((np.diag(d) - a) @ np.diag(dh))
    eigs = np.linalg.eigvalsh(lap)
    h, _ = np.histogram(eigs, bins=200, range=(-1e-5, 2))
    return h / h.sum()


def pad(x, y):
    n = max(len(x), len(y))
    return np.pad(x, (0, n - len(x))), np.pad(y, (0, n - len(y)))


def tv_kernel(x, y, sigma):
    x, y = pad(x, y)
    d = np.abs(x - y).sum() / 2.0
    return math.exp(-d * d / (2 * sigma * sigma))


def spectre_mmd(xs, ys, sigma, is_hist=True):
    if is_hist:
        xs = [s / (np.sum(s) + 1e-6) for s in xs]
        ys = [s / (np.sum(s) + 1e-6) for s in ys]

    def disc(a, b):
        return sum(tv_kernel(u, v, sigma) for u in a for v in b) / (len(a) * len(b))

    return disc(xs, xs) + disc(ys, ys) - 2 * disc(xs, ys)


def ggm_mmd(xs, ys):
    # GraphGDP: features normalised by their sum (spectral already in the worker), squared L2
    # distance matrices, max over sigma = exp(linspace(-5, 5, 50)[:20]) of the biased MMD, floor 0.
    def d2(a, b):
        return np.array([[float(np.sum((lambda p: (p[0] - p[1]) ** 2)(pad(u, v)))) for v in b] for u in a])

    gg, gr, rr = d2(ys, ys), d2(ys, xs), d2(xs, xs)
    best = 0.0
    for log_sigma in np.linspace(-5.0, 5.0, 50)[:20]:
        sigma = np.exp(log_sigma)
        gamma = 1 / (2 * sigma ** 2)
        m = np.exp(-gamma * gg).mean() + np.exp(-gamma * rr).mean() - 2 * np.exp(-gamma * gr).mean()
        best = m if m > best else best
    return best


def main():
    case = os.path.join(ROOT, "case1_community_vs_er")
    ref, gen = load(os.path.join(case, "ref.jsonl")), load(os.path.join(case, "gen.jsonl"))
    # Orbit features from the case's features.jsonl (two independent counters, ORCA-checked).
    orbits = {"ref": {}, "gen": {}}
    with open(os.path.join(case, "features.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            orbits[d["side"]][d["i"]] = np.array(d["orbit_totals"], dtype=float) / d["n"]
    ro = [orbits["ref"][i] for i in range(len(ref))]
    go = [orbits["gen"][i] for i in range(len(gen))]
    out = {
        "spectre": {
            "degree": spectre_mmd([degree(g) for g in ref], [degree(g) for g in gen], 1.0),
            "clustering": spectre_mmd([clustering(g) for g in ref], [clustering(g) for g in gen], 0.1),
            "orbit": spectre_mmd(ro, go, 30.0, is_hist=False),
            "spectral": spectre_mmd([spectral(g) for g in ref], [spectral(g) for g in gen], 1.0),
        },
        "ggm": {
            "degree": ggm_mmd([degree(g) / degree(g).sum() for g in ref], [degree(g) / degree(g).sum() for g in gen]),
            "clustering": ggm_mmd([clustering(g) / clustering(g).sum() for g in ref],
                                  [clustering(g) / clustering(g).sum() for g in gen]),
            "spectral": ggm_mmd([spectral(g) for g in ref], [spectral(g) for g in gen]),
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
