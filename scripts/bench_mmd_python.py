#!/usr/bin/env python3
"""Workload A of ../shared/evaluation.md section 6 (1024 reference vs 1024 generated
community-small-like graphs, degree / clustering / orbit / spectral MMD, graphrnn protocol),
timed in one run for:

* numpy: a vectorised numpy evaluator written here that computes the same numbers (features
  batched over padded adjacency matrices, orbit counts by classifying every induced 3- and
  4-node subgraph, kernel matrices by broadcasting; exact EMD from cumulative sums);
* graphdiff_mmd.evaluate (one call, all four statistics), from networkx graphs and from the
  JSON-lines files, with 1 and 2 threads;
* graphdiff_mmd's GDSS-style functions (degree_stats, clustering_stats, orbit_stats_all,
  spectral_stats: four calls on networkx lists), as a GDSS user would call them;
* `graphdiff eval` (the CLI, end to end from the files, process start included) when
  --graphdiff BIN is given (repeat --graphdiff for several binaries).

The GDSS evaluator itself (pyemd 0.5.1, ORCA binary, process pool) takes about 8,100 s on this
workload on this machine (evaluation.md section 6, measured/extrapolated there); it is not
rerun here. Every time is the wall time of the whole step; min / median / max over --reps
runs (numpy: --numpy-reps). The numbers of all evaluators are checked against each other.

Usage: scripts/bench-mmd-python.sh [--reps R] [--numpy-reps R] [--graphdiff BIN ...]
"""

import argparse
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import networkx as nx
import numpy as np

try:
    import graphdiff_mmd
except ImportError:  # --write-workload needs only networkx
    graphdiff_mmd = None

STATS = ["degree", "clustering", "orbit", "spectral"]


# ------------------------------------------------------------------------------------------
# Workload A: GDSS community recipe (two communities of c = n // 2 nodes, n uniform in 12..20,
# each community G(c, p_intra), every cross pair an edge with probability 0.1 / c, at least
# one cross edge), independent communities, seeded.
# ------------------------------------------------------------------------------------------


def community(count, p_intra, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        c = rnd.randint(12, 20) // 2
        g = nx.disjoint_union(
            nx.gnp_random_graph(c, p_intra, seed=rnd.randrange(2**32)),
            nx.gnp_random_graph(c, p_intra, seed=rnd.randrange(2**32)),
        )
        cross = [(u, c + v) for u in range(c) for v in range(c) if rnd.random() < 0.1 / c]
        g.add_edges_from(cross or [(0, c)])
        out.append(g)
    return out


def write_jsonl(path, graphs):
    with open(path, "w") as f:
        for g in graphs:
            f.write(json.dumps({"n": g.number_of_nodes(), "edges": [list(e) for e in g.edges()]}) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------------------------------
# The vectorised numpy evaluator
# ------------------------------------------------------------------------------------------


def dense(graphs, remove_isolated):
    """[B, N, N] float64 adjacency and the node mask (isolated nodes masked out when asked,
    as GDSS adjs_to_graphs removes them from generated graphs)."""
    n_max = max(d["n"] for d in graphs)
    a = np.zeros((len(graphs), n_max, n_max))
    real = np.zeros((len(graphs), n_max), dtype=bool)
    for b, d in enumerate(graphs):
        e = np.asarray(d["edges"], dtype=np.int64).reshape(-1, 2)
        a[b, e[:, 0], e[:, 1]] = 1.0
        a[b, e[:, 1], e[:, 0]] = 1.0
        real[b, : d["n"]] = True
    deg = a.sum(2)
    mask = real & (deg > 0) if remove_isolated else real
    # A graph left with no nodes becomes one node (adjs_to_graphs); not needed here.
    return a, mask


def hist_rows(bins_idx, mask, nbins):
    """Per-row histogram of integer bins over masked entries."""
    b = np.broadcast_to(np.arange(bins_idx.shape[0])[:, None], bins_idx.shape)
    flat = (b * nbins + bins_idx)[mask]
    return np.bincount(flat, minlength=bins_idx.shape[0] * nbins).reshape(-1, nbins).astype(float)


def numpy_bins(x, lo, hi, nbins):
    edges = np.linspace(lo, hi, nbins + 1)
    k = np.searchsorted(edges, x, side="right") - 1
    return np.clip(k, 0, nbins - 1)  # x == hi goes to the last bin; x in [lo, hi] here


QUADS = {}


def orbit_totals(a, mask):
    """Per graph, the totals over nodes of the 15 ORCA orbits: every induced connected
    2-, 3- and 4-node subgraph classified by its edge count and degrees, times the number of
    its nodes in each orbit."""
    bsz, n, _ = a.shape
    a = a * (mask[:, :, None] & mask[:, None, :])
    au = a.astype(np.uint8)
    tot = np.zeros((bsz, 15))
    tot[:, 0] = a.sum((1, 2))  # orbit 0: degree, summed = 2 m
    tri = np.array(list(itertools.combinations(range(n), 3)))
    e3 = au[:, tri[:, 0], tri[:, 1]] + au[:, tri[:, 0], tri[:, 2]] + au[:, tri[:, 1], tri[:, 2]]
    p3 = (e3 == 2).sum(1)
    t3 = (e3 == 3).sum(1)
    tot[:, 1] = 2 * p3  # path ends
    tot[:, 2] = p3  # path middle
    tot[:, 3] = 3 * t3
    quad = QUADS.setdefault(n, np.array(list(itertools.combinations(range(n), 4))))
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    counts = np.zeros((bsz, 6))  # P4, star, C4, paw, diamond, K4
    for lo in range(0, bsz, 128):
        blk = au[lo : lo + 128]
        e = [blk[:, quad[:, i], quad[:, j]] for i, j in pairs]
        m = sum(x.astype(np.int8) for x in e)
        d0 = e[0] + e[1] + e[2]
        d1 = e[0] + e[3] + e[4]
        d2 = e[1] + e[3] + e[5]
        d3 = e[2] + e[4] + e[5]
        dmax = np.maximum(np.maximum(d0, d1), np.maximum(d2, d3))
        dmin = np.minimum(np.minimum(d0, d1), np.minimum(d2, d3))
        counts[lo : lo + 128, 0] = ((m == 3) & (dmax == 2) & (dmin == 1)).sum(1)
        counts[lo : lo + 128, 1] = ((m == 3) & (dmax == 3)).sum(1)
        counts[lo : lo + 128, 2] = ((m == 4) & (dmax == 2)).sum(1)
        counts[lo : lo + 128, 3] = ((m == 4) & (dmax == 3)).sum(1)
        counts[lo : lo + 128, 4] = (m == 5).sum(1)
        counts[lo : lo + 128, 5] = (m == 6).sum(1)
    p4, star, c4, paw, dia, k4 = counts.T
    tot[:, 4], tot[:, 5] = 2 * p4, 2 * p4
    tot[:, 6], tot[:, 7] = 3 * star, star
    tot[:, 8] = 4 * c4
    tot[:, 9], tot[:, 10], tot[:, 11] = paw, 2 * paw, paw
    tot[:, 12], tot[:, 13] = 2 * dia, 2 * dia
    tot[:, 14] = 4 * k4
    return tot


def features(graphs, remove_isolated):
    a, mask = dense(graphs, remove_isolated)
    n = mask.sum(1).astype(float)
    deg = a.sum(2)
    # degree histogram (nx.degree_histogram)
    dh = hist_rows(deg.astype(np.int64), mask, int(deg.max()) + 1)
    # clustering: 2 T / (d (d - 1)), 0 when d < 2; 100 bins on [0, 1]
    t = ((a @ a) * a).sum(2) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(deg >= 2, (2 * t) / (deg * (deg - 1)), 0.0)
    ch = hist_rows(numpy_bins(c, 0.0, 1.0, 100), mask, 100)
    # spectral: normalised Laplacian D^-1/2 (D - A) D^-1/2 on the kept nodes (masked nodes are
    # isolated in the padded matrix, eigenvalue 0: taken out of bin 0 afterwards)
    am = a * (mask[:, :, None] & mask[:, None, :])
    dm = am.sum(2)
    with np.errstate(divide="ignore"):
        dhalf = np.where(dm > 0, 1.0 / np.sqrt(dm), 0.0)
    lap = dhalf[:, :, None] * (dm[:, :, None] * np.eye(a.shape[1]) - am) * dhalf[:, None, :]
    eig = np.clip(np.linalg.eigvalsh(lap), 0.0, 2.0)
    sh = hist_rows(numpy_bins(eig, -1e-5, 2.0, 200), np.ones_like(eig, dtype=bool), 200)
    sh[:, 0] -= a.shape[1] - n
    orb = orbit_totals(a, mask) / n[:, None]
    return {"degree": dh / n[:, None], "clustering": ch / n[:, None],
            "spectral": sh / n[:, None], "orbit": orb}


def pad_to(x, length):
    return np.pad(x, ((0, 0), (0, length - x.shape[1])))


def kernel_sum(x, y, kind, sigma, ds=1.0):
    """Sum over all pairs of k(x_i, y_j)."""
    if kind == "emd":
        x, y = np.cumsum(x, 1)[:, :-1], np.cumsum(y, 1)[:, :-1]
    total = 0.0
    for lo in range(0, len(x), 32):
        diff = x[lo : lo + 32, None, :] - y[None, :, :]
        if kind == "emd":
            d = np.abs(diff).sum(2) / ds
            q = d * d
        else:
            q = (diff * diff).sum(2)
        total += np.exp(-q / (2 * sigma * sigma)).sum()
    return total


def numpy_evaluate(ref_graphs, gen_graphs):
    fx = features(ref_graphs, remove_isolated=False)
    fy = features(gen_graphs, remove_isolated=True)
    out = {}
    for stat, kind, sigma, ds in [("degree", "emd", 1.0, 1.0), ("clustering", "emd", 0.1, 100.0),
                                  ("orbit", "rbf", 30.0, 1.0), ("spectral", "emd", 1.0, 1.0)]:
        x, y = fx[stat], fy[stat]
        length = max(x.shape[1], y.shape[1])
        x, y = pad_to(x, length), pad_to(y, length)
        nx_, ny_ = len(x), len(y)
        out[stat] = (kernel_sum(x, x, kind, sigma, ds) / nx_**2 + kernel_sum(y, y, kind, sigma, ds) / ny_**2
                     - 2 * kernel_sum(x, y, kind, sigma, ds) / (nx_ * ny_))
    return out


# ------------------------------------------------------------------------------------------


def cpu_seconds():
    """CPU time of this process (all its threads) and of its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


CPU = {}  # id(times list) -> CPU seconds per run


def timed(reps, f):
    times, cpu, result = [], [], None
    for _ in range(reps):
        c = cpu_seconds()
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
    CPU[id(times)] = cpu
    return times, result


def fmt(times):
    return f"{min(times):.3f} / {statistics.median(times):.3f} / {max(times):.3f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--numpy-reps", type=int, default=3)
    p.add_argument("--graphdiff", action="append", default=[], metavar="BIN")
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--write-workload", metavar="DIR",
                   help="only write workload A to DIR/ref.jsonl and DIR/gen.jsonl")
    args = p.parse_args()

    tmp = args.write_workload or tempfile.mkdtemp(prefix="bench-mmd-python-")
    ref_nx, gen_nx = community(args.count, 0.7, 1), community(args.count, 0.6, 2)
    ref_file, gen_file = os.path.join(tmp, "ref.jsonl"), os.path.join(tmp, "gen.jsonl")
    write_jsonl(ref_file, ref_nx)
    write_jsonl(gen_file, gen_nx)
    if args.write_workload:
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"workload A: {args.count} vs {args.count} graphs in {tmp}; graphdiff_mmd {graphdiff_mmd.__version__}")

    rows, values = [], {}

    t, v = timed(args.numpy_reps, lambda: numpy_evaluate(read_jsonl(ref_file), read_jsonl(gen_file)))
    rows.append(("numpy evaluator (files → MMD), 1 process", t))
    values["numpy"] = v
    for threads in (2, 1):
        t, v = timed(args.reps, lambda: graphdiff_mmd.evaluate(
            read_jsonl(ref_file), read_jsonl(gen_file), threads=threads))
        rows.append((f"graphdiff_mmd.evaluate (files → MMD), {threads} thread(s)", t))
        values[f"evaluate files {threads}"] = v
        t, v = timed(args.reps, lambda: graphdiff_mmd.evaluate(ref_nx, gen_nx, threads=threads))
        rows.append((f"graphdiff_mmd.evaluate (networkx lists), {threads} thread(s)", t))
        values[f"evaluate nx {threads}"] = v

    def gdss_calls():
        # GDSS eval_graph_list with load_eval_settings' kernels, on graphs after adjs_to_graphs
        # (isolated nodes removed from the generated graphs, as graphrnn does).
        gen = [nx.Graph(g) for g in gen_nx]
        for g in gen:
            g.remove_nodes_from(list(nx.isolates(g)))
        return {
            "degree": graphdiff_mmd.degree_stats(ref_nx, gen, graphdiff_mmd.gaussian_emd),
            "clustering": graphdiff_mmd.clustering_stats(ref_nx, gen, graphdiff_mmd.gaussian_emd),
            "orbit": graphdiff_mmd.orbit_stats_all(ref_nx, gen, graphdiff_mmd.gaussian),
            "spectral": graphdiff_mmd.spectral_stats(ref_nx, gen, graphdiff_mmd.gaussian_emd),
        }

    t, v = timed(args.reps, gdss_calls)
    rows.append(("graphdiff_mmd GDSS-style: 4 *_stats calls (networkx lists), all cores", t))
    values["gdss-style"] = v

    for binary in args.graphdiff:
        def cli():
            with tempfile.NamedTemporaryFile(suffix=".json") as j:
                subprocess.run([binary, "eval", "--ref", ref_file, "--gen", gen_file,
                                "--protocol", "graphrnn", "--json", j.name],
                               check=True, stdout=subprocess.DEVNULL)
                rep = json.load(open(j.name))["report"]
            return {r["statistic"]: r["value"] for r in rep["mmd"]}
        t, v = timed(args.reps, cli)
        rows.append((f"`graphdiff eval` ({binary}), process start included", t))
        values[f"cli {binary}"] = v

    base = values["evaluate files 2"]
    print()
    print("| evaluator | wall seconds, min / median / max | CPU seconds (median) |")
    print("|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {fmt(t)} ({len(t)} runs) | {statistics.median(CPU[id(t)]):.3f} |")
    print()
    print("values (graphrnn protocol, biased MMD^2):", {k: f"{x:.10g}" for k, x in base.items()})
    worst = 0.0
    for name, v in values.items():
        for s in STATS:
            rel = abs(v[s] - base[s]) / abs(base[s])
            worst = max(worst, rel)
            if rel > 1e-9:
                print(f"MISMATCH {name} {s}: {v[s]!r} vs {base[s]!r} (rel {rel:.2e})")
    print(f"largest relative difference between evaluators: {worst:.2e}")
    med_np, cpu_np = statistics.median(rows[0][1]), statistics.median(CPU[id(rows[0][1])])
    for name, t in rows[1:]:
        print(f"numpy / ({name}): {med_np / statistics.median(t):.1f}x wall (median), "
              f"{cpu_np / statistics.median(CPU[id(t)]):.1f}x CPU")
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if worst > 1e-9:
        sys.exit(1)


if __name__ == "__main__":
    main()
