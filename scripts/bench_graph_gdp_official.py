"""Times the official GraphGDP code (GRAPH-0/GraphGDP) on this machine, for an A/B against
`bench_graph_gdp` in the same session (scripts/bench_graph_gdp.sh runs both).

Nothing of the official code is copied here: the official modules are imported through
../shared/official-harness/graph-gdp (which materialises the official tree from a checkout or
a bare mirror and installs the shims its README lists), the way ../shared/peer-speed.md §3b
measured them:

* a training step as `run_lib.sde_train`'s loop body runs it: `utils.dense_adj` of a random
  batch of 32 training graphs, `losses.get_step_fn(...)` with `losses.optimization_manager`
  (noise, train-mode forward, loss, backward, warm-up learning rate, gradient clipping, Adam,
  EMA update), and `loss.item()`;
* one score evaluation (`models.utils.get_score_fn`, eval mode, no_grad) of 1024 graphs in
  the sampler's initial state (symmetric N(0, 1) noise masked to the valid pairs, t = 0.5;
  "noisy" in peer-speed.md) and of 1024 clean graphs at t = 1e-3 ("clean", the sparse lower
  bound), node counts drawn from the training distribution;
* one Euler–Maruyama predictor step of the official PC sampler on 1024 noisy graphs.

Usage: python3 bench_graph_gdp_official.py OFFICIAL DATA.g6 THREADS [ITERS [CONFIG]]
OFFICIAL is a checkout or bare mirror of GRAPH-0/GraphGDP; CONFIG is an official config name
(default vp_com_small_pgsn). Prints lines in the format of bench_graph_gdp:
`official <what> threads=N median_ms=... min_ms=... graphs_per_s=...`.
"""
import os
import sys
import tempfile
import time

import networkx as nx
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "official-harness", "graph-gdp"))
import harness  # noqa: E402

official, data, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
iters = int(sys.argv[4]) if len(sys.argv) > 4 else 20
config_name = sys.argv[5] if len(sys.argv) > 5 else "vp_com_small_pgsn"
torch.set_num_threads(threads)
work = tempfile.mkdtemp(prefix="graphgdp-official-")
src = harness.materialise_source(official, work)
harness.install(src)
cfg = harness.load_config(src, config_name)
cfg.device = torch.device("cpu")

from torch_geometric.data import Batch  # noqa: E402
from torch_geometric.utils import from_networkx  # noqa: E402

import losses  # noqa: E402
import sampling  # noqa: E402
import sde_lib  # noqa: E402
import utils  # noqa: E402
from models import pgsn  # noqa: E402,F401  (registers the model)
from models import utils as mutils  # noqa: E402
from models.ema import ExponentialMovingAverage  # noqa: E402

torch.manual_seed(0)
np.random.seed(0)
graphs = nx.read_graph6(data)
if not isinstance(graphs, list):
    graphs = [graphs]
train = graphs[len(graphs) // 5:]  # test = first 20 % (the GDSS split the reproductions use)
N = cfg.data.max_node
pyg = [from_networkx(nx.convert_node_labels_to_integers(g)) for g in train]
for d in pyg:
    d.x = torch.ones(d.num_nodes, 1)

model = mutils.create_model(cfg)
assert sum(p.numel() for p in model.parameters()) > 0
ema = ExponentialMovingAverage(model.parameters(), decay=cfg.model.ema_rate)
optimizer = losses.get_optimizer(cfg, model.parameters())
state = dict(optimizer=optimizer, model=model, ema=ema, step=1000)  # past the warm-up
sde = sde_lib.VPSDE(beta_min=cfg.model.beta_min, beta_max=cfg.model.beta_max, N=cfg.model.num_scales)
scaler = lambda x: x * 2.0 - 1.0  # noqa: E731  (datasets.get_data_scaler, centered)
step_fn = losses.get_step_fn(sde, train=True, optimize_fn=losses.optimization_manager(cfg),
                             reduce_mean=cfg.training.reduce_mean, continuous=True,
                             likelihood_weighting=False)


def timed(warmup, n, fn):
    """Median and minimum wall-clock ms, and the process CPU ms per run (mean)."""
    for _ in range(warmup):
        fn()
    wall = []
    c0 = time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
    cpu = (time.process_time() - c0) * 1e3 / n
    return float(np.median(wall)), min(wall), cpu


def report(what, batch, res):
    med, mn, cpu = res
    print(f"official {what} threads={threads} median_ms={med:.1f} min_ms={mn:.1f} cpu_ms={cpu:.1f} "
          f"graphs_per_s={batch / med * 1e3:.0f}", flush=True)


def train_step():
    idx = np.random.randint(0, len(pyg), cfg.training.batch_size)
    batch = Batch.from_data_list([pyg[i] for i in idx])
    adj, mask = utils.dense_adj(batch, N, scaler)
    loss = step_fn(state, (adj, mask))
    loss.item()


pmf = np.bincount([g.number_of_nodes() for g in train], minlength=N + 1).astype(np.float64)
pmf = torch.from_numpy(pmf / pmf.sum())


def sampler_state(b, clean):
    n_nodes = torch.multinomial(pmf, b, replacement=True)
    m = torch.zeros(b, N)
    for i in range(b):
        m[i, :n_nodes[i]] = 1.0
    mask = (m[:, None, :] * m[:, :, None]).unsqueeze(1)
    mask = torch.tril(mask, -1)
    mask = mask + mask.transpose(-1, -2)
    if clean:
        idx = np.random.randint(0, len(pyg), b)
        batch = Batch.from_data_list([pyg[i] for i in idx])
        x, mask = utils.dense_adj(batch, N, scaler)
        t = torch.full((b,), 1e-3)
    else:
        x = sde.prior_sampling((b, 1, N, N)) * mask
        t = torch.full((b,), 0.5)
    return x, t, mask


only = os.environ.get("BENCH_ONLY", "")
if "train_step".startswith(only):
    report("train_step", cfg.training.batch_size, timed(3, iters, train_step))
score_fn = mutils.get_score_fn(sde, model, train=False, continuous=True)
b = 1024
few = max(3, iters // 4)
for clean in (False, True):
    what = f"score_eval_{'clean' if clean else 'noisy'}_{b}"
    if not what.startswith(only):
        continue
    x, t, mask = sampler_state(b, clean)
    with torch.no_grad():
        report(what, b, timed(1, few, lambda: score_fn(x, t, mask=mask)))
if f"em_step_{b}".startswith(only):
    x, t, mask = sampler_state(b, False)
    predictor = sampling.EulerMaruyamaPredictor(sde, score_fn, probability_flow=False)

    def em_step():
        y, _ = predictor.update_fn(x, t, mask=mask)
        return y * mask

    with torch.no_grad():
        report(f"em_step_{b}", b, timed(1, few, em_step))
