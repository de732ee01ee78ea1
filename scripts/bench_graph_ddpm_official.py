"""Times the official discrete DDPM code (kilianhae/discrete_DPPM_Graphs @ 3e924ef) on this
machine, for an A/B against `bench_graph_ddpm` in the same session (scripts/bench_graph_ddpm.sh
runs both).

Nothing of the official code is copied here. The official modules are imported from a checkout
given on the command line through the shims of ../shared/official-harness/graph-ddpm (stub
modules for plotting, wandb, graph_tool and the MMD evaluation; a graph6 reader in place of the
repository's pickles; the yaml's merge-conflict markers resolved), as ../shared/peer-speed.md §3a
measured it:

* `train_step`: one step of the official `ppgn_simple.py` `fit()` loop on a shuffled batch of 32
  of the 80 training graphs of config/train_com_small_ddpm.yaml (per-graph
  `gen_list_of_data_single`, a `generate_mask` and a network call per graph, `loss_func_bce`,
  backward, Adam, `.item()`); the statements of the loop body are the official ones, calling the
  official functions;
* `net_eval_32`, `net_eval_128`: one call of the official `Powerful` in eval mode under no_grad on
  a batch of noisy graphs padded to 20 nodes, as the official samplers call it;
* `sample_1024_simple`, `sample_1024_vlb`: the official `sample_main` of `sample_ppgn_simple.py` /
  `sample_ppgn_vlb.py`, end to end (data loading, checkpoint loading, the sampling loop at the
  config's test batch 32, the conversion to networkx), for SAMPLES graphs (default 1024; a
  smaller count is scaled to 1024 linearly, since the official loop runs batches of 32
  independently, and the line says so).

Usage: python3 bench_graph_ddpm_official.py CHECKOUT community_small.g6 THREADS [ITERS]
Environment: SAMPLES (graphs per official sampler run, default 1024), BENCH_ONLY (a prefix).
Prints lines in the format of bench_graph_ddpm: `official <what> threads=N median_ms=... ...`.
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # official checkpoints hold config objects

import numpy as np
import torch

checkout, g6, threads = sys.argv[1], os.path.abspath(sys.argv[2]), int(sys.argv[3])
iters = int(sys.argv[4]) if len(sys.argv) > 4 else 20
samples = int(os.environ.get("SAMPLES", "1024"))
only = os.environ.get("BENCH_ONLY", "")
torch.set_num_threads(threads)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "official-harness", "graph-ddpm"))
sys.path.insert(0, checkout)
import harness  # noqa: E402

harness.install_stubs()
harness.install_g6_loader(g6)
from easydict import EasyDict as edict  # noqa: E402

import utils.arg_helper as ah  # noqa: E402
from utils.graph_utils import gen_list_of_data_single, generate_mask  # noqa: E402
from utils.loading_utils import get_score_model  # noqa: E402
import ppgn_simple  # noqa: E402  (loss_func_bce; imports resolved by the stubs)
import sample_ppgn_simple  # noqa: E402
import sample_ppgn_vlb  # noqa: E402

work = tempfile.mkdtemp(prefix="bench-ddpm-")
os.chdir(work)
config = edict(harness.load_config(os.path.join(checkout, "config", "train_com_small_ddpm.yaml")))
config.dev = torch.device("cpu")
config.model.name = "ppgn"  # as the __main__ of ppgn_simple.py sets it
config.train.sigmas = np.linspace(0, 0.5, config.num_levels[0] + 1).tolist()  # train_main
config.save_dir = work
config.samplesize = samples
torch.manual_seed(0)
np.random.seed(0)
train_dl, _test_dl = ah.load_data(config)  # batch 32, shuffled, over graphs 20..99
model = get_score_model(config)
assert sum(p.numel() for p in model.parameters()) == 63886
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def report(what, graphs, times, note="", cpu_ms=None):
    times = sorted(times)
    med, mn = times[len(times) // 2], times[0]
    cpu = "" if cpu_ms is None else f" cpu_ms={cpu_ms:.2f}"
    print(f"official {what} threads={threads} median_ms={med:.2f} min_ms={mn:.2f} "
          f"graphs_per_s={graphs / med * 1e3:.0f} iters={len(times)}{cpu}{note}", flush=True)


def wanted(what):
    return what.startswith(only) if only else True


def batches():
    while True:
        for b in train_dl:
            if b[0].size(0) == 32:  # full batches only (the last of an epoch has 16)
                yield b


if wanted("train_step"):
    it = batches()

    def step():
        # ppgn_simple.py fit(): the body of `for train_adj_b, train_x_b in train_dl`
        train_adj_b, train_x_b = next(it)
        sigma_list = list(np.random.uniform(low=0.0, high=0.5, size=train_adj_b.size(0)))
        train_node_flag_b = train_adj_b.sum(-1).gt(1e-5).to(dtype=torch.float32)
        train_x_b, train_noise_adj_b, train_node_flag_b, grad_log_q_noise_list = \
            gen_list_of_data_single(train_x_b, train_adj_b, train_node_flag_b, sigma_list, config)
        optimizer.zero_grad()
        noise_chunks = train_noise_adj_b.chunk(len(sigma_list), dim=0)
        flag_chunks = train_node_flag_b.chunk(len(sigma_list), dim=0)
        score, masks = [], []
        for i, sigma in enumerate(sigma_list):
            mask = generate_mask(flag_chunks[i])
            score.append(model(A=noise_chunks[i].unsqueeze(0), node_features=noise_chunks[i],
                               mask=mask, noiselevel=sigma))
            masks.append(mask)
        score = torch.cat(score, dim=0).squeeze(-1)
        loss = ppgn_simple.loss_func_bce(score, torch.stack(grad_log_q_noise_list), sigma_list,
                                         config, torch.cat(masks, dim=0))
        loss.backward()
        optimizer.step()
        return loss.detach().cpu().item()

    model.train()
    for _ in range(3):
        step()
    times = []
    c0 = time.process_time()
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    report("train_step", 32, times, cpu_ms=(time.process_time() - c0) * 1e3 / iters)

model.eval()
adjs = [a for a, _ in train_dl]
pool = torch.cat(adjs, 0)
for b in (32, 128):
    what = f"net_eval_{b}"
    if not wanted(what):
        continue
    idx = torch.randint(0, pool.size(0), (b,))
    flags = pool[idx].sum(-1).gt(1e-5).float()
    mask = flags.unsqueeze(-1) * flags.unsqueeze(-2)
    noisy = torch.bernoulli(0.5 * mask).triu(1)
    noisy = noisy + noisy.transpose(-1, -2)
    with torch.no_grad():
        for _ in range(2):
            model(None, noisy, mask, 0.25)
        times = []
        c0 = time.process_time()
        for _ in range(iters):
            t0 = time.perf_counter()
            model(None, noisy, mask, 0.25)
            times.append((time.perf_counter() - t0) * 1e3)
    report(what, b, times, cpu_ms=(time.process_time() - c0) * 1e3 / iters)

# The samplers read a checkpoint directory in the official format (`fit()`'s `to_save`).
ckpt_dir = os.path.join(work, "models")
os.makedirs(ckpt_dir, exist_ok=True)
torch.save({"model": model.state_dict(), "sigma_list": [0.5], "config": ah.edict2dict(config)},
           os.path.join(ckpt_dir, "community_20_small.pth"))
for name, module in (("simple", sample_ppgn_simple), ("vlb", sample_ppgn_vlb)):
    what = f"sample_1024_{name}"
    if not wanted(what):
        continue
    np.random.seed(1)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        module.sample_main(config, ckpt_dir, 0, config.num_levels[0])
    scale = 1024 / samples
    ms = (time.perf_counter() - t0) * 1e3 * scale
    note = "" if samples == 1024 else f" scaled_from={samples}"
    report(what, 1024, [ms], note, cpu_ms=(time.process_time() - c0) * 1e3 * scale)
