#!/usr/bin/env bash
# GraphGDP reproduction on a published GDSS graph list: train the official network from
# scratch (configs/graph-gdp/<dataset>.json) with a budget that fits a CPU, then for each
# sampling seed draw 1024 graphs with the official sampler (1000 Euler–Maruyama steps with the
# final noise-free step, 1000 network evaluations) and with the few-evaluation sampler of the
# preset, and evaluate each set against the test split (first 20 %, the GDSS rule) with the
# GraphRNN protocol (the EDP-GNN / GDSS tables) and the GGM protocol (max-over-σ RBF, the
# GraphGDP paper's). Prints MMD mean ± sd over the seeds with evaluations and times.
#
# Usage: scripts/reproduce_graph_gdp.sh [community-small|ego-small] [OUT_DIR]
# Knobs: DEVICE (cpu|cuda, default cpu), THREADS (torch threads), SAMPLES (1024),
#        SEEDS ("0 1 2": sampling seeds; "" trains only),
#        SAMPLERS ("em few": which samplers to run),
#        FEW (the few-evaluation sampler as JSON; default: the preset's `few_step`,
#             `graphdiff sample --sampler few_step`: SDE-DPM-Solver++ 2M with 32 steps for
#             community-small, 20 for ego-small),
#        EM_STEPS (Euler–Maruyama steps, default the official 1000),
#        BUDGET (cpu: the CPU budget below, default; official: the presets' own 1.5 M /
#                200 k steps at lr 2e-5 with EMA 0.9999, for a GPU),
#        STEPS, LR, EMA (override the budget's steps, initial learning rate, EMA decay),
#        TRAIN_SEED (training seed of a fresh run; a resumed run keeps its own),
#        GRAPHDIFF_BIN (use this binary instead of building a release one).
# The CPU budget (BENCHMARKS.md, "GraphGDP quality"): Adam lr 5e-4 decaying exponentially
# per step to 2.5e-5 at the last step (official: constant 2e-5) with the official 1000-step
# warm-up and clipping, EMA 0.999 (official 0.9999), 40,000 steps for community-small and
# 20,000 for ego-small (official 1,500,001 and 200,001).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:-community-small}"
out="${2:-runs/reproduce-graph-gdp-$name}"
# The official README trains Community-small with `--config.model.beta_max 5.0` (its config
# file says 20); Ego-small keeps the config's 20.
case "$name" in
    community-small) list=community_small.g6; cpu_steps=40000; recipe=(--set sde.beta_max=5) ;;
    ego-small) list=ego_small.g6; cpu_steps=20000; recipe=() ;;
    *) echo "unknown dataset $name (community-small or ego-small)" >&2; exit 2 ;;
esac
data="../shared/datasets/gdss/$list"
[ -f "$data" ] || { echo "missing $data (the published GDSS lists)" >&2; exit 2; }
device="${DEVICE:-cpu}"
samples="${SAMPLES:-1024}"
seeds="${SEEDS-0 1 2}"
samplers="${SAMPLERS:-em few}"
few="${FEW:-}"
em='{"kind":"pc","steps":'"${EM_STEPS:-1000}"',"predictor":"euler_maruyama","corrector":"none","noise_removal":true}'
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
budget=()
case "${BUDGET:-cpu}" in
    cpu)
        steps="${STEPS:-$cpu_steps}"
        # the rate decays by a constant factor per step to a twentieth at the last step
        gamma=$(awk -v s="$steps" 'BEGIN { printf "%.17g", exp(log(0.05) / s) }')
        budget=(--steps "$steps" --set "train.optimizer.lr=${LR:-5e-4}"
                --set "train.lr_schedule={\"kind\":\"exponential\",\"gamma\":$gamma,\"every\":\"step\"}"
                --set "train.ema.decay=${EMA:-0.999}" --set train.checkpoint_every=1000) ;;
    official)
        [ -n "${STEPS:-}" ] && budget+=(--steps "$STEPS")
        [ -n "${LR:-}" ] && budget+=(--set "train.optimizer.lr=$LR")
        [ -n "${EMA:-}" ] && budget+=(--set "train.ema.decay=$EMA") ;;
    *) echo "BUDGET must be cpu or official" >&2; exit 2 ;;
esac

./setup-libtorch.sh >/dev/null
if [ -n "${GRAPHDIFF_BIN:-}" ]; then
    gd="$GRAPHDIFF_BIN"
else
    cargo build --quiet --release -p graphdiff
    gd=${CARGO_TARGET_DIR:-target}/release/graphdiff
fi
mkdir -p "$out"

"$gd" dataset --data "$data" --split gdss --part test --out "$out/test.g6" --no-manifest
# A run with a checkpoint resumes (with its own config.json); otherwise it starts afresh.
run_args=(--data "$data" --split gdss --config "configs/graph-gdp/$name.json" "${recipe[@]}"
          "${budget[@]}")
[ -n "${TRAIN_SEED:-}" ] && run_args+=(--seed "$TRAIN_SEED")
if compgen -G "$out/run/checkpoints/step-*" >/dev/null; then
    run_args=(--resume)
else
    rm -rf "$out/run"
fi
"$gd" train graph-gdp --run-dir "$out/run" --device "$device" "${threads[@]}" "${run_args[@]}"

# Every (sampler, seed) whose evaluation exists is skipped, so an interrupted reproduction
# continues where it stopped. One sampler call for all graphs (the batch size does not
# change the graphs).
for which in $samplers; do
    case "$which" in
        em) choice=(--set "sampler=$em") ;;
        few) if [ -n "$few" ]; then choice=(--set "sampler=$few"); else choice=(--sampler few_step); fi ;;
        *) echo "SAMPLERS: em or few, not $which" >&2; exit 2 ;;
    esac
    for s in $seeds; do
        tag="$which-$s"
        [ -f "$out/eval-$tag-ggm.json" ] && continue
        start=$(date +%s.%N)
        "$gd" sample --run "$out/run" -n "$samples" --seed "$s" --device "$device" \
            --batch-size "$samples" "${threads[@]}" "${choice[@]}" \
            --out "$out/samples-$tag.g6" | tee "$out/sample-$tag.log"
        echo "$(date +%s.%N) $start" | awk '{printf "%.1f\n", $1 - $2}' >"$out/sample-seconds-$tag.txt"
        for protocol in graphrnn ggm; do
            "$gd" eval --ref "$out/test.g6" --gen "$out/samples-$tag.g6" --protocol "$protocol" \
                --json "$out/eval-$tag-$protocol.json" >/dev/null
        done
    done
done

python3 - "$out" "$samplers" $seeds <<'PY'
import json, os, re, statistics, sys
out, samplers, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def values(path):
    r = json.load(open(path))
    return {e["statistic"]: e["value"] for e in r["report"]["mmd"]}
for which in samplers:
    done = [s for s in seeds if os.path.exists(f"{out}/eval-{which}-{s}-ggm.json")]
    if not done:
        continue
    nfe = set()
    for s in done:
        m = re.search(r"(\d+) network evaluations per graph", open(f"{out}/sample-{which}-{s}.log").read())
        if m:
            nfe.add(int(m.group(1)))
    secs = [float(open(f"{out}/sample-seconds-{which}-{s}.txt").read()) for s in done]
    print(f"{which}: seeds {' '.join(done)}, {'/'.join(map(str, sorted(nfe)))} network evaluations per graph, "
          f"sampling {min(secs) / 60:.1f}–{max(secs) / 60:.1f} min per seed")
    for protocol in ("graphrnn", "ggm"):
        vals = [values(f"{out}/eval-{which}-{s}-{protocol}.json") for s in done]
        for stat in vals[0]:
            xs = [v[stat] for v in vals]
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            print(f"  {protocol:<9} {stat:<11} {statistics.mean(xs):.6f} ± {sd:.6f}")
steps = train_s = 0
for line in open(f"{out}/run/metrics.jsonl"):
    rec = json.loads(line)
    steps = rec["step"]
    train_s += rec["step_time_s"] * rec["steps"]
print(f"train: {steps} steps, {train_s / 60:.1f} min of step time")
PY
