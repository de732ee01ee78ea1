"""An independent, literal re-statement of the GraphRNN / GDSS / GRAN / SPECTRE evaluation
code (evaluation/stats.py + mmd.py, ../shared/evaluation.md sections 2-3) in numpy and
networkx, to hold graphdiff_mmd's numbers against: per-graph features as the reference
computes them, the three kernels, and `compute_mmd`'s double loop. Two documented choices
follow graphdiff_mmd instead of pyemd 0.5.1 / LAPACK: exact 1-D EMD, and eigenvalues clipped
into [0, 2] (graphs without a bipartite component are unaffected).
"""

import math

import networkx as nx
import numpy as np


def degree_feature(g):
    return np.array(nx.degree_histogram(g), dtype=float)


def clustering_feature(g):
    hist, _ = np.histogram(list(nx.clustering(g).values()), bins=100, range=(0.0, 1.0))
    return hist.astype(float)


def spectral_feature(g):
    # nx.normalized_laplacian_matrix(G) (needs scipy), built the same way: D^-1/2 (D - A) D^-1/2
    # with D^-1/2 = 0 for isolated nodes.
    a = nx.to_numpy_array(g, nodelist=list(g.nodes()))
    d = a.sum(axis=1)
    with np.errstate(divide="ignore"):
        dh = 1.0 / np.sqrt(d)
    dh[np.isinf(dh)] = 0.0
    lap = dh[:, None] * (np.diag(d) - a) * dh[None, :]
    eigs = np.clip(np.linalg.eigvalsh(lap), 0.0, 2.0)
    hist, _ = np.histogram(eigs, bins=200, range=(-1e-5, 2))
    return hist / hist.sum()


def _pad(x, y):
    n = max(len(x), len(y))
    return np.pad(x, (0, n - len(x))), np.pad(y, (0, n - len(y)))


def gaussian_emd(x, y, sigma=1.0, distance_scaling=1.0):
    x, y = _pad(x, y)
    emd = np.abs(np.cumsum(x - y)[:-1]).sum() / distance_scaling
    return math.exp(-emd * emd / (2 * sigma * sigma))


def gaussian_tv(x, y, sigma=1.0):
    x, y = _pad(x, y)
    tv = np.abs(x - y).sum() / 2.0
    return math.exp(-tv * tv / (2 * sigma * sigma))


def gaussian(x, y, sigma=1.0):
    x, y = _pad(x, y)
    d = float(((x - y) ** 2).sum())
    return math.exp(-d / (2 * sigma * sigma))


def compute_mmd(xs, ys, kernel, is_hist=True, plus=0.0, **kw):
    """GDSS compute_mmd (plus=1e-6: SPECTRE's normalisation)."""
    if is_hist:
        xs = [x / (x.sum() + plus) for x in xs]
        ys = [y / (y.sum() + plus) for y in ys]

    def disc(a, b):
        return sum(kernel(u, v, **kw) for u in a for v in b) / (len(a) * len(b))

    return disc(xs, xs) + disc(ys, ys) - 2 * disc(xs, ys)


FEATURES = {"degree": degree_feature, "clustering": clustering_feature, "spectral": spectral_feature}
SIGMA = {"degree": 1.0, "clustering": 0.1, "orbit": 30.0, "spectral": 1.0}


def mmd(stat, ref, gen, kernel, plus=0.0, orbit_features=None):
    """The reference value of one statistic; `kernel` in {"emd", "tv", "rbf"}. Generated
    graphs with no nodes are dropped (graph_pred_list_remove_empty)."""
    gen = [g for g in gen if g.number_of_nodes() > 0]
    if stat == "orbit":
        xs, ys = orbit_features
        is_hist = False
    else:
        xs = [FEATURES[stat](g) for g in ref]
        ys = [FEATURES[stat](g) for g in gen]
        is_hist = True
    kw = {"sigma": SIGMA[stat]}
    if kernel == "emd":
        k = gaussian_emd
        kw["distance_scaling"] = 100.0 if stat == "clustering" else 1.0
    elif kernel == "tv":
        k = gaussian_tv
    else:
        k = gaussian
    return compute_mmd(xs, ys, k, is_hist=is_hist, plus=plus, **kw)
