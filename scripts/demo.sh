#!/usr/bin/env bash
# The main job, end to end on a fresh machine (nothing to prepare; a few minutes on 2 CPU
# cores after the one-time libtorch install and build):
#   1. generate the community-small benchmark (EDP-GNN/GDSS recipe, seed 0) and print its
#      statistics;
#   2. train EDP-GNN on its training split (a short run: DEMO_STEPS optimisation steps);
#   3. sample DEMO_SAMPLES graphs with annealed Langevin dynamics (DEMO_LANGEVIN steps per
#      noise level instead of the paper's 1000, to keep the demo short);
#   4. evaluate them against the test split with the GraphRNN/EDP-GNN/GDSS MMD protocol.
#
# Usage: scripts/demo.sh [OUT_DIR]   (default runs/demo; an existing run there is resumed)
# Knobs: DEMO_STEPS (default 400), DEMO_SAMPLES (128), DEMO_LANGEVIN (100), DEMO_DEVICE (cpu).
# The full-length reproduction of the paper's numbers is scripts/reproduce_edp_gnn.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/demo}"
steps="${DEMO_STEPS:-400}"
samples="${DEMO_SAMPLES:-128}"
langevin="${DEMO_LANGEVIN:-100}"
device="${DEMO_DEVICE:-cpu}"

./setup-libtorch.sh >/dev/null
cargo build --quiet -p graphdiff
gd=target/debug/graphdiff
mkdir -p "$out"

echo "== 1. dataset: community-small" >&2
"$gd" dataset community-small --seed 0 --out "$out/community-small.g6"
"$gd" dataset --data "$out/community-small.g6" --part test --out "$out/test.g6"
"$gd" stats "$out/community-small.g6"

echo "== 2. train EDP-GNN ($steps steps)" >&2
# A run there with a checkpoint continues from it (with its own config, so no --data); a
# run directory without one starts over.
if compgen -G "$out/edp-gnn/checkpoints/step-*" >/dev/null; then
    source_args=(--resume)
else
    rm -rf "$out/edp-gnn"
    source_args=(--data "$out/community-small.g6")
fi
"$gd" train edp-gnn --run-dir "$out/edp-gnn" --steps "$steps" --device "$device" \
    "${source_args[@]}"

echo "== 3. sample $samples graphs ($langevin Langevin steps per noise level)" >&2
"$gd" sample --run "$out/edp-gnn" -n "$samples" --seed 0 --device "$device" \
    --set "sampler.step_num=$langevin" --out "$out/samples.g6"

echo "== 4. evaluate against the test split (graphrnn protocol)" >&2
"$gd" eval --ref "$out/test.g6" --gen "$out/samples.g6" --protocol graphrnn \
    --json "$out/eval.json"
