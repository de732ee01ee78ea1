#!/usr/bin/env bash
# bench_graph_ddpm.sh: discrete-DDPM speed (BENCHMARKS.md, "Discrete DDPM speed"), Rust and the
# official code side by side in one run, 1 and 2 torch threads.
#
# Rust (release build of crates/graph-ddpm/examples/bench_graph_ddpm.rs): an L_simple training
# step at batch 32 as the training loop runs it, one network evaluation of 32 and of 128 noisy
# graphs, and sampling 1024 Community-small graphs with T = 32 (both samplers, whole call).
#
# Official code (scripts/bench_graph_ddpm_official.py), when DDPM_CHECKOUT is set to a checkout
# of kilianhae/discrete_DPPM_Graphs (commit 3e924ef) and PYTHON to a python with torch 2.11,
# numpy, networkx, scipy, pyyaml and easydict (e.g. a venv whose .pth file points at the
# site-packages of the libtorch venv setup-libtorch.sh made): the official training step (the
# per-graph loop of ppgn_simple.py's fit()), the official network call, and the official
# sample_main of both samplers for SAMPLES graphs (default 1024, about 3 min each on the CPU
# of BENCHMARKS.md; a smaller count is scaled to 1024 and marked).
#
# Usage: scripts/bench_graph_ddpm.sh [ROUNDS] [ITERS]   (default 3 rounds of 20 iterations)
# Knobs: THREADS (default "1 2"), DEVICE (cpu|cuda), BENCH_BIN (a built bench_graph_ddpm),
#        ONLY (a prefix of the quantities to time), SAMPLES (official sampler graphs).
# Each round runs both programs once per thread count, alternating, so slow phases of a
# shared machine hit both; the summary gives per quantity the median over rounds of each
# round's median, and each round's ratio official / Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
ITERS=${2:-20}
DATA=${DATA:-../shared/datasets/gdss/community_small.g6}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
DEVICE=${DEVICE:-cpu}
if [[ -n "${BENCH_BIN:-}" ]]; then
  BIN=$BENCH_BIN
else
  ./setup-libtorch.sh >/dev/null
  cargo build --quiet --release -p graph-ddpm --example bench_graph_ddpm
  BIN=target/release/examples/bench_graph_ddpm
fi

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for t in ${THREADS:-1 2}; do
    OMP_NUM_THREADS=$t "$BIN" --threads "$t" --iters "$ITERS" --data "$DATA" --device "$DEVICE" \
      ${ONLY:+--only "$ONLY"} | tee -a "$OUT"
    if [[ -n "${DDPM_CHECKOUT:-}" ]]; then
      # shellcheck disable=SC2086 # PYTHON may carry arguments
      OMP_NUM_THREADS=$t BENCH_ONLY=${ONLY:-} ${PYTHON:-python3} scripts/bench_graph_ddpm_official.py \
        "$DDPM_CHECKOUT" "$DATA" "$t" "$ITERS" 2>/dev/null | tee -a "$OUT"
    fi
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| quantity | threads | code | median ms | min ms | graphs/s |"
echo "|---|---|---|---|---|---|"
python3 - "$OUT" <<'EOF'
import statistics, sys
rows = {}
cpu = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 4 or f[0] not in ("rust", "official"):
        continue
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    rows.setdefault((f[1], int(kv["threads"]), f[0]), []).append(
        (float(kv["median_ms"]), float(kv["min_ms"]), float(kv["graphs_per_s"]), "scaled_from" in kv))
    if "cpu_ms" in kv:
        cpu.setdefault((f[1], int(kv["threads"]), f[0]), []).append(float(kv["cpu_ms"]))
meds = {}
for (q, t, code), v in sorted(rows.items()):
    med = statistics.median(m for m, _, _, _ in v)
    meds[(q, t, code)] = med
    scaled = " (scaled)" if any(s for *_, s in v) else ""
    gps = statistics.median(g for _, _, g, _ in v)
    print(f"| {q}{scaled} | {t} | {code} | {med:.1f} | {min(x for _, x, _, _ in v):.1f} | {gps:.0f} |")
lines = []
for (q, t, code), med in sorted(meds.items()):
    o = meds.get((q, t, "official"))
    if code == "rust" and o:
        per = ", ".join(f"{a[0] / b[0]:.2f}x" for a, b in zip(rows[(q, t, "official")], rows[(q, t, "rust")]))
        lines.append(f"| {q} | {t} | {o / med:.2f}x | {per} |")
if lines:
    print()
    print("| quantity | threads | speed-up over official (median) | per round |")
    print("|---|---|---|---|")
    print("\n".join(lines))
# CPU time per call (all threads): what each program computes, whatever else runs on the
# machine; the ratio of CPU times is the speed-up on an otherwise idle machine with 1 thread.
cl = []
for (q, t, code), v in sorted(cpu.items()):
    o = cpu.get((q, t, "official"))
    if code == "rust" and o:
        cl.append(f"| {q} | {t} | {statistics.median(o):.1f} | {statistics.median(v):.1f} | "
                  f"{statistics.median(o) / statistics.median(v):.2f}x |")
if cl:
    print()
    print("| quantity | threads | official CPU ms | Rust CPU ms | CPU-time ratio |")
    print("|---|---|---|---|---|")
    print("\n".join(cl))
EOF
