"""Times the official EDP-GNN code (ermongroup/GraphScoreMatching) on this machine, for an A/B
against `bench_edp_gnn` in the same session (scripts/bench_edp_gnn.sh runs both).

Nothing of the official code is copied here: the official classes are imported from a checkout
given on the command line, the way peer-speed.md §1 measured them (get_score_model's
construction for config/train_com_small.yaml, gen_list_of_data + forward + train.py's
loss_func + backward + Adam + .item() per training step; model.eval() + no_grad for a score
evaluation). Only the plotting module, which the model file imports but never calls, is
replaced by a stub (it needs matplotlib).

Usage: python3 bench_edp_gnn_official.py CHECKOUT community_small.g6 THREADS [ITERS [DEVICE]]
DEVICE is cpu (default) or cuda; on CUDA every timed call ends with torch.cuda.synchronize().
Prints lines in the format of bench_edp_gnn: `official <what> threads=N median_ms=... ...`.
"""
import ast
import os
import random
import sys
import time
import types

import networkx as nx
import numpy as np
import torch

checkout, data, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
iters = int(sys.argv[4]) if len(sys.argv) > 4 else 20
device = torch.device(sys.argv[5] if len(sys.argv) > 5 else "cpu")
torch.set_num_threads(threads)
sys.path.insert(0, checkout)
stub = types.ModuleType("utils.visual_utils")
stub.plot_multi_channel_numpy_adjs = lambda *a, **k: None
stub.plot_multi_channel_numpy_adjs_1b1 = lambda *a, **k: None
sys.modules["utils.visual_utils"] = stub

from model.edp_gnn import EdgeDensePredictionGraphScoreNetwork  # noqa: E402
from model.gin import GIN  # noqa: E402
from utils.graph_utils import gen_list_of_data  # noqa: E402

# train.py's loss_func, taken from the checkout (train.py itself imports the evaluation stack).
with open(os.path.join(checkout, "train.py")) as f:
    tree = ast.parse(f.read())
loss_def = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loss_func"][0]
exec(compile(ast.Module(body=[loss_def], type_ignores=[]), "train.py", "exec"))

torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
graphs = nx.read_graph6(data)
train = graphs[20:]  # the official split: first 20% test
N = 20
SIGMAS = [0.1, 0.2, 0.4, 0.6, 0.8, 1.6]


def to_tensor(glist):
    a = np.zeros((len(glist), N, N), dtype=np.float32)
    for i, g in enumerate(glist):
        m = nx.to_numpy_array(g, nodelist=list(g.nodes()))
        a[i, : m.shape[0], : m.shape[0]] = m
    return torch.tensor(a, device=device)


# As utils/loading_utils.py get_score_model builds it for config/train_com_small.yaml.
params = dict(dropout_p=0.0, gnn_hidden_num_list=[16] * 4, feature_nums=[1] + [16] * 5,
              channel_num_list=[2, 4, 4, 4, 2], name="gin", use_norm_layers=False)


def gnn_model_func(**gnn_params):
    merged = dict(params)
    merged.update(gnn_params)
    return GIN(**merged)


model = EdgeDensePredictionGraphScoreNetwork(
    feature_num_list=[1] + [16] * 5, channel_num_list=[2, 4, 4, 4, 2], max_node_number=N,
    gnn_hidden_num_list=[16] * 4, gnn_module_func=gnn_model_func, dev=device,
    num_classes=len(SIGMAS)).to(device)
assert sum(p.numel() for p in model.parameters()) == 91013
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def cpu_ms():
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[0]) * 1e-6
    except OSError:
        return float("nan")


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(warmup, n, fn):
    for _ in range(warmup):
        fn()
    sync()
    wall, cpu = [], []
    for _ in range(n):
        c, t = cpu_ms(), time.perf_counter()
        fn()
        sync()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append(cpu_ms() - c)
    return float(np.median(wall)), min(wall), float(np.median(cpu))


def report(what, batch, res):
    med, mn, cpu = res
    print(f"official {what} threads={threads} device={device.type} median_ms={med:.1f} min_ms={mn:.1f} "
          f"thread_cpu_ms={cpu:.1f} graphs_per_s={batch / med * 1e3:.0f}", flush=True)


def train_step():
    idx = np.random.randint(0, len(train), 32)
    adj = to_tensor([train[i] for i in idx])
    x = torch.zeros(32, N, 1, device=device)
    flags = adj.sum(-1).gt(1e-5).to(dtype=torch.float32)
    xb, noisy, fb, targets = gen_list_of_data(x, adj, flags, SIGMAS)
    opt.zero_grad()
    score = model(x=xb, adjs=noisy, node_flags=fb)
    loss, _ = loss_func(score.chunk(len(SIGMAS), dim=0), targets, SIGMAS)  # noqa: F821
    loss.backward()
    opt.step()
    loss.item()


# BENCH_ONLY (set by bench_edp_gnn.sh's ONLY): time only the quantities with this prefix.
only = os.environ.get("BENCH_ONLY", "")
model.train()
if "train_step".startswith(only):
    report("train_step", 32, timed(3, iters, train_step))
model.eval()
for b in (192, 1026):
    if not f"score_eval_padded_{b}".startswith(only):
        continue
    idx = np.random.randint(0, len(train), b // len(SIGMAS))
    adj = to_tensor([train[i] for i in idx])
    flags = adj.sum(-1).gt(1e-5).to(dtype=torch.float32)
    x = torch.zeros(b // len(SIGMAS), N, 1, device=device)
    xb, noisy, fb, _ = gen_list_of_data(x, adj, flags, SIGMAS)
    with torch.no_grad():
        res = timed(2, iters if b < 500 else max(5, (iters + 1) // 2),
                    lambda: model(xb, noisy, fb))
    report(f"score_eval_padded_{b}", b, res)
