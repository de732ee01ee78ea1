#!/usr/bin/env bash
# The main job, end to end on a fresh machine (nothing to prepare): about five minutes on
# 2 CPU cores after the one-time libtorch install and release build.
#   1. generate the Community-small benchmark (the EDP-GNN/GDSS recipe, seed 0) and split it
#      (first 20 % test, the EDP-GNN/GDSS rule);
#   2. train the discrete DDPM (graph-ddpm, the official Community-small configuration,
#      trained on the variational bound, the paper's other objective) on the training split
#      for DEMO_STEPS optimisation steps — the model that does best in this budget
#      (BENCHMARKS.md, "The main job" and "Discrete DDPM quality");
#   3. sample 1024 graphs with it (the ancestral sampler through the exact posterior, 32
#      network evaluations each);
#   4. two reference rows: the per-size Erdős–Rényi baseline (trained on the same split,
#      1024 samples) and the training split itself (real graphs, scored against the
#      20 test graphs);
#   5. evaluate all three against the test split with the GraphRNN/EDP-GNN/GDSS protocol and
#      print the table; draw 16 generated graphs next to 16 test graphs, and the training
#      curves, as SVG.
#
# Usage: scripts/demo.sh [OUT_DIR]   (default runs/demo; a rerun continues a killed run)
# Knobs: DEMO_STEPS (default 5000), DEMO_SAMPLES (1024), DEMO_DEVICE (cpu), DEMO_THREADS.
# The full reproductions are scripts/reproduce.sh and scripts/reproduce_<model>.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/demo}"
steps="${DEMO_STEPS:-5000}"
samples="${DEMO_SAMPLES:-1024}"
device="${DEMO_DEVICE:-cpu}"
threads=()
[ -n "${DEMO_THREADS:-}" ] && threads=(--threads "$DEMO_THREADS")

./setup-libtorch.sh >/dev/null
echo "== building graphdiff (release; once)" >&2
cargo build --quiet --release -p graphdiff
gd=target/release/graphdiff
mkdir -p "$out"
start=$(date +%s)

echo "== 1. dataset: community-small" >&2
"$gd" dataset community-small --seed 0 --out "$out/community-small.g6" >&2
"$gd" dataset --data "$out/community-small.g6" --part test --out "$out/test.g6" --no-manifest >&2
"$gd" dataset --data "$out/community-small.g6" --part train --out "$out/train.g6" --no-manifest >&2

# A run directory with a checkpoint continues (with its own config); one without starts over.
train() {
    local model=$1 dir=$2
    shift 2
    local args=(--data "$out/community-small.g6" "$@")
    if compgen -G "$dir/checkpoints/step-*" >/dev/null; then
        args=(--resume)
    else
        rm -rf "$dir"
    fi
    "$gd" train "$model" --run-dir "$dir" --device "$device" "${threads[@]}" "${args[@]}"
}

echo "== 2. train graph-ddpm ($steps steps, variational bound)" >&2
train graph-ddpm "$out/graph-ddpm" --config configs/graph-ddpm/community-small.json \
    --set objective=vlb --steps "$steps"

echo "== 3. sample $samples graphs" >&2
"$gd" sample --run "$out/graph-ddpm" -n "$samples" --seed 0 --device "$device" \
    "${threads[@]}" --out "$out/samples.g6"

echo "== 4. reference rows: per-size Erdős–Rényi, and the training split" >&2
train erdos-renyi "$out/erdos-renyi"
"$gd" sample --run "$out/erdos-renyi" -n "$samples" --seed 0 --out "$out/erdos-renyi.g6"

echo "== 5. evaluate against the 20 test graphs (graphrnn protocol)" >&2
for row in samples erdos-renyi train; do
    "$gd" eval --ref "$out/test.g6" --gen "$out/$row.g6" --protocol graphrnn \
        --json "$out/eval-$row.json" >/dev/null
done
"$gd" plot samples "$out/samples.g6" --real "$out/test.g6" -n 16 \
    --title "graph-ddpm, $steps training steps" --out "$out/samples.svg" >/dev/null
"$gd" plot curves "$out/graph-ddpm" --out "$out/training.svg" >/dev/null

python3 - "$out" "$steps" "$(( $(date +%s) - start ))" "$samples" <<'PY'
import json, sys
out, steps, secs, samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = [
    (f"graph-ddpm (VLB, {steps} steps, 32 evaluations/graph)", "samples"),
    ("Erdős–Rényi, one p per node count (baseline)", "erdos-renyi"),
    ("the training split itself (real graphs)", "train"),
]
stats = ["degree", "clustering", "orbit", "spectral"]
print()
print(f"Community-small, MMD² against the 20 test graphs (graphrnn protocol; lower is better)")
print(f"{'':60} " + " ".join(f"{s:>10}" for s in stats) + f" {'avg d/c/o':>10}")
for name, key in rows:
    r = json.load(open(f"{out}/eval-{key}.json"))
    v = {e["statistic"]: e["value"] for e in r["report"]["mmd"]}
    avg = sum(v[s] for s in stats[:3]) / 3
    print(f"{name:60} " + " ".join(f"{v[s]:10.4f}" for s in stats) + f" {avg:10.4f}")
print()
print(f"done in {secs // 60} min {secs % 60} s. Files in {out}/:")
print(f"  samples.g6      the {samples} generated graphs (graph6; networkx.read_graph6 reads it)")
print("  samples.svg     16 generated graphs next to 16 test graphs")
print("  training.svg    training loss and learning rate")
print("  eval-*.json     the full evaluation reports")
print("  graph-ddpm/     the run: config.json, metrics.jsonl, checkpoints (graphdiff sample --run)")
PY
