#!/usr/bin/env bash
# bench_edp_gnn.sh: EDP-GNN speed (BENCHMARKS.md, "EDP-GNN speed"), 1 and 2 torch threads.
#
# Rust (release build of crates/edp-gnn/examples/bench_edp_gnn.rs): a training step at batch
# 32 × 6 σ as the training loop runs it, a paired A/B of its two edge-MLP backwards
# (hand-written, autograd), one score evaluation of 192 and of 1026 graphs (official padded
# layout and padding-free), one Langevin step of 1026 graphs as the sampler runs it.
#
# Official code, A/B in the same session (optional): set GSM_CHECKOUT to a checkout of
# ermongroup/GraphScoreMatching and PYTHON to a python with torch 2.11, numpy and networkx;
# scripts/bench_edp_gnn_official.py times the same quantities with the official classes.
#
# Usage: scripts/bench_edp_gnn.sh [ROUNDS] [ITERS]   (default 3 rounds of 20 iterations)
# Knobs: THREADS (torch threads to try, default "1 2"), DEVICE (cpu or cuda, default cpu),
#        BENCH_BIN (a built bench_edp_gnn, e.g. on a GPU machine without Rust; default: build it),
#        ONLY (time only the quantities whose name starts with it, e.g. train_step: more,
#        shorter rounds for one comparison).
# Each round runs every program once per thread count, alternating Rust and official, so slow
# phases of a shared machine hit both. The summary gives, per quantity, the median over
# rounds of each round's median, and the best round's minimum.
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
  cargo build --quiet --release -p edp-gnn --example bench_edp_gnn
  BIN=target/release/examples/bench_edp_gnn
fi

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for t in ${THREADS:-1 2}; do
    OMP_NUM_THREADS=$t "$BIN" --threads "$t" --iters "$ITERS" --data "$DATA" --device "$DEVICE" \
      ${ONLY:+--only "$ONLY"} | tee -a "$OUT"
    if [[ -n "${GSM_CHECKOUT:-}" ]]; then
      # shellcheck disable=SC2086 # PYTHON may carry arguments, e.g. "env PYTHONPATH=... python3"
      OMP_NUM_THREADS=$t BENCH_ONLY=${ONLY:-} ${PYTHON:-python3} scripts/bench_edp_gnn_official.py \
        "$GSM_CHECKOUT" "$DATA" "$t" "$ITERS" "$DEVICE" 2>/dev/null | tee -a "$OUT"
    fi
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| quantity | threads | code | median ms | min ms | graphs/s |"
echo "|---|---|---|---|---|---|"
python3 - "$OUT" <<'EOF'
import re, statistics, sys
rows = {}
ab = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 4 or f[0] not in ("rust", "official"):
        continue
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    if f[1] == "ab_train_step":
        ab.setdefault(int(kv["threads"]), []).append(kv)
        continue
    key = (f[1], int(kv["threads"]), f[0])
    rows.setdefault(key, []).append((float(kv["median_ms"]), float(kv["min_ms"])))
batch = lambda q: 32 if q.startswith("train") else int(re.findall(r"\d+$", q)[0])
meds = {}
for (q, t, code), v in sorted(rows.items()):
    med = statistics.median(m for m, _ in v)
    meds[(q, t, code)] = med
    print(f"| {q} | {t} | {code} | {med:.1f} | {min(x for _, x in v):.1f} | {batch(q) / med * 1e3:.0f} |")
# Speed-up of each Rust quantity over the official code computing the same output: the
# padding-free evaluation and the sampler step are compared with the official padded
# evaluation of the same batch size (the official sampler step is that evaluation plus noise).
ref = {"train_step": "train_step", "score_eval_padded_192": "score_eval_padded_192",
       "score_eval_192": "score_eval_padded_192", "score_eval_padded_1026": "score_eval_padded_1026",
       "score_eval_1026": "score_eval_padded_1026", "langevin_step_1026": "score_eval_padded_1026"}
lines = []
for (q, t, code), med in sorted(meds.items()):
    o = meds.get((ref.get(q, ""), t, "official"))
    if code == "rust" and o:
        lines.append((f"| {q} | {t} | {o / med:.2f}x |", (q, t)))
if lines:
    print()
    print("| quantity (Rust) | threads | speed-up over official (median) | per round (official / Rust, same round) |")
    print("|---|---|---|---|")
    for line, (q, t) in lines:
        o = rows.get((ref[q], t, "official"), [])
        r = rows.get((q, t, "rust"), [])
        per = ", ".join(f"{a / b:.2f}x" for (a, _), (b, _) in zip(o, r))
        print(f"{line} {per} |")
if ab:
    print()
    print("| training step, edge-MLP backward | threads | hand-written median ms | autograd median ms | paired autograd / hand-written |")
    print("|---|---|---|---|---|")
    for t, v in sorted(ab.items()):
        m = lambda k: statistics.median(float(x[k]) for x in v)
        print(f"| paired A/B ({len(v)} rounds) | {t} | {m('hand_written_median_ms'):.1f} | {m('autograd_median_ms'):.1f} | {m('paired_autograd_over_hand_written'):.3f} |")
EOF
