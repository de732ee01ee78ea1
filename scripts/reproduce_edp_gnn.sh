#!/usr/bin/env bash
# Full-length EDP-GNN reproduction on a published GDSS/EDP-GNN graph list, as in the paper:
# train the official configuration from scratch (5001 epochs, batch 32, Adam 1e-3, decay
# 0.999 per epoch), sample 1024 graphs with 6 × 1000 annealed Langevin steps for each of 3
# sampling seeds, and evaluate each set against the test split (first 20 %, the EDP-GNN /
# GDSS rule) with the GraphRNN protocol (generated isolated nodes removed, as the paper's
# pipeline does). Prints MMD mean ± sd over the seeds and writes everything under OUT.
#
# Usage: scripts/reproduce_edp_gnn.sh [community-small|ego-small] [OUT_DIR]
# Knobs: DEVICE (cpu|cuda, default cpu), THREADS (torch threads), SAMPLES (1024),
#        BATCH (graphs per sampler call, default all of them),
#        SEEDS ("0 1 2": sampling seeds),
#        TRAIN_SEED (training seed of a fresh run; a resumed run keeps its own),
#        STEPS (override the number of optimisation steps),
#        LANGEVIN (override the Langevin steps per noise level; default the paper's 1000),
#        GRAPHDIFF_BIN (use this binary instead of building a release one).
# Cost on the 2-core CPU of BENCHMARKS.md, THREADS=2: about 24 min of training and 15 min
# of sampling per seed for community-small (39 min for seed 0 end to end), 27 min and 7 min
# for ego-small (34 min for seed 0); a GPU makes both far shorter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:-community-small}"
out="${2:-runs/reproduce-edp-gnn-$name}"
case "$name" in
    community-small) list=community_small.g6 ;;
    ego-small) list=ego_small.g6 ;;
    *) echo "unknown dataset $name (community-small or ego-small)" >&2; exit 2 ;;
esac
data="../shared/datasets/gdss/$list"
[ -f "$data" ] || { echo "missing $data (the published GDSS lists)" >&2; exit 2; }
device="${DEVICE:-cpu}"
samples="${SAMPLES:-1024}"
seeds="${SEEDS:-0 1 2}"
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
steps=()
[ -n "${STEPS:-}" ] && steps=(--steps "$STEPS")
langevin=()
[ -n "${LANGEVIN:-}" ] && langevin=(--set "sampler.step_num=$LANGEVIN")

./setup-libtorch.sh >/dev/null
if [ -n "${GRAPHDIFF_BIN:-}" ]; then
    gd="$GRAPHDIFF_BIN"   # an already built binary
else
    cargo build --quiet --release -p graphdiff
    gd=target/release/graphdiff
fi
mkdir -p "$out"

"$gd" dataset --data "$data" --split gdss --part test --out "$out/test.g6" --no-manifest
# A run with a checkpoint resumes (with its own config.json); otherwise it starts afresh.
run_args=(--data "$data" --split gdss --config "configs/edp-gnn/$name.json")
[ -n "${TRAIN_SEED:-}" ] && run_args+=(--seed "$TRAIN_SEED")
if compgen -G "$out/run/checkpoints/step-*" >/dev/null; then
    run_args=(--resume)
else
    rm -rf "$out/run"
fi
"$gd" train edp-gnn --run-dir "$out/run" --device "$device" \
    "${threads[@]}" "${steps[@]}" "${run_args[@]}"

# One sampler call for all graphs (they are grouped by node count inside; the batch size
# does not change the graphs). A seed whose evaluation exists is not redone, so an
# interrupted reproduction continues where it stopped.
for s in $seeds; do
    [ -f "$out/eval-$s.json" ] && continue
    start=$(date +%s)
    "$gd" sample --run "$out/run" -n "$samples" --seed "$s" --device "$device" \
        --batch-size "${BATCH:-$samples}" "${threads[@]}" "${langevin[@]}" \
        --out "$out/samples-$s.g6"
    echo "$(( $(date +%s) - start ))" >"$out/sample-seconds-$s.txt"
    "$gd" eval --ref "$out/test.g6" --gen "$out/samples-$s.g6" --protocol graphrnn \
        --json "$out/eval-$s.json"
done

python3 - "$out" $seeds <<'PY'
import json, os, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
reports = [json.load(open(f"{out}/eval-{s}.json")) for s in seeds]
def values(r):
    # `graphdiff eval --json`: report.mmd lists one entry per statistic (squared MMD)
    return {e["statistic"]: e["value"] for e in r["report"]["mmd"]}
vals = [values(r) for r in reports]
for stat in vals[0]:
    xs = [v[stat] for v in vals]
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    print(f"{stat:<11} {statistics.mean(xs):.6f} ± {sd:.6f}  (seeds {' '.join(seeds)})")
# Training compute time: the trainer's per-step times (metrics.jsonl), across resumptions.
steps = train_s = 0
for line in open(f"{out}/run/metrics.jsonl"):
    rec = json.loads(line)
    steps = rec["step"]
    train_s += rec["step_time_s"] * rec["steps"]
print(f"train: {steps} steps, {train_s / 60:.1f} min of step time")
for s in seeds:
    f = f"{out}/sample-seconds-{s}.txt"
    if os.path.exists(f):
        print(f"sampling seed {s}: {int(open(f).read()) / 60:.1f} min")
PY
