#!/usr/bin/env bash
# bench_graph_gdp.sh: GraphGDP speed against the official code, side by side (BENCHMARKS.md,
# "GraphGDP speed"), 1 and 2 torch threads.
#
# Rust (release build of crates/graph-gdp/examples/bench_graph_gdp.rs) and the official code
# (scripts/bench_graph_gdp_official.py, importing GRAPH-0/GraphGDP through
# ../shared/official-harness/graph-gdp) time the same quantities on the same data: a training
# step at batch 32 as the training loop runs it, one score evaluation of 1024 graphs in the
# sampler's initial state (noisy) and of 1024 clean graphs, one Euler–Maruyama step of 1024
# graphs.
#
# Needs: GDP_OFFICIAL, a checkout or bare mirror of GRAPH-0/GraphGDP at 765cabf (default: the
# shared mirror ../.mirror/GRAPH-0+GraphGDP/repo next to ../shared), and PYTHON, a python with
# torch 2.11 and the packages of ../shared/official-harness/README.md (default:
# ~/.cache/graphdiff/gdp-official/bin/python, made by `scripts/bench_graph_gdp.sh --setup`,
# which reuses the project's libtorch venv through a .pth file).
#
# Usage: scripts/bench_graph_gdp.sh [ROUNDS] [ITERS]   (default 3 rounds of 12 iterations)
#        scripts/bench_graph_gdp.sh --setup            (create the python venv, then exit)
# Knobs: THREADS (default "1 2"), PRESET (community-small, ego-small; default community-small),
#        ONLY (time only the quantities whose name starts with it, e.g. train_step).
# Each round runs the Rust and the official program once per thread count, one after the
# other, so slow phases of a shared machine hit both. The summary gives per quantity the
# median over rounds of each round's median, and the speed-up per round.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GDP_VENV:-$HOME/.cache/graphdiff/gdp-official}
if [[ "${1:-}" == "--setup" ]]; then
  ./setup-libtorch.sh >/dev/null
  site=$(ls -d "$HOME"/.cache/graphdiff/torch-2.11.0/lib/python3*/site-packages)
  python3 -m venv "$VENV"
  echo "$site" >"$(ls -d "$VENV"/lib/python3*/site-packages)/torch-venv.pth"
  "$VENV/bin/pip" install -q numpy scipy networkx ml_collections absl-py pandas \
    torch_geometric==2.8.1 safetensors
  "$VENV/bin/pip" install -q --no-deps torchdiffeq==0.2.5
  echo "python for the official code: $VENV/bin/python"
  exit 0
fi
ROUNDS=${1:-3}
ITERS=${2:-12}
PRESET=${PRESET:-community-small}
case "$PRESET" in
  community-small) DATA=../shared/datasets/gdss/community_small.g6; CONFIG=vp_com_small_pgsn ;;
  ego-small) DATA=../shared/datasets/gdss/ego_small.g6; CONFIG=vp_ego_small_pgsn ;;
  *) echo "PRESET $PRESET: community-small or ego-small" >&2; exit 2 ;;
esac
OFFICIAL=${GDP_OFFICIAL:-../.mirror/GRAPH-0+GraphGDP/repo}
PYTHON=${PYTHON:-$VENV/bin/python}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

cargo build --quiet --release -p graph-gdp --example bench_graph_gdp
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_graph_gdp

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); preset $PRESET; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for t in ${THREADS:-1 2}; do
    OMP_NUM_THREADS=$t "$BIN" --threads "$t" --iters "$ITERS" --data "$DATA" --preset "$PRESET" \
      ${ONLY:+--only "$ONLY"} | tee -a "$OUT"
    OMP_NUM_THREADS=$t BENCH_ONLY=${ONLY:-} "$PYTHON" scripts/bench_graph_gdp_official.py \
      "$OFFICIAL" "$DATA" "$t" "$ITERS" "$CONFIG" 2>/dev/null | tee -a "$OUT"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| quantity | threads | code | median ms | min ms | graphs/s |"
echo "|---|---|---|---|---|---|"
python3 - "$OUT" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 4 or f[0] not in ("rust", "official"):
        continue
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    rows.setdefault((f[1], int(kv["threads"]), f[0]), []).append(
        (float(kv["median_ms"]), float(kv["min_ms"])))
batch = lambda q: 32 if q.startswith("train") else int(re.findall(r"\d+$", q)[0])
meds = {}
for (q, t, code), v in sorted(rows.items()):
    med = statistics.median(m for m, _ in v)
    meds[(q, t, code)] = med
    print(f"| {q} | {t} | {code} | {med:.1f} | {min(x for _, x in v):.1f} | {batch(q) / med * 1e3:.0f} |")
print()
print("| quantity | threads | speed-up over official (median) | per round (official / Rust) |")
print("|---|---|---|---|")
for (q, t, code), med in sorted(meds.items()):
    o = meds.get((q, t, "official"))
    if code == "rust" and o:
        per = ", ".join(f"{a / b:.2f}x" for (a, _), (b, _) in
                        zip(rows[(q, t, "official")], rows[(q, t, "rust")]))
        print(f"| {q} | {t} | {o / med:.2f}x | {per} |")
EOF
