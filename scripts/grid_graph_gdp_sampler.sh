#!/usr/bin/env bash
# How GraphGDP's few-evaluation samplers compare, on one trained run: each sampler of a list
# draws 1024 graphs per sampling seed, scored against a reference file with the GraphRNN
# protocol; prints per sampler the network evaluations per graph and the MMD mean ± sd over
# the seeds (avg = mean of degree, clustering and orbit), sorted by avg. The presets'
# `samplers.few_step` was chosen this way (BENCHMARKS.md, "GraphGDP quality"): selection
# seeds 100–104, disjoint from the seeds 0–2 the reported rows use.
#
# Usage: scripts/grid_graph_gdp_sampler.sh RUN_DIR REF_FILE [OUT_DIR]
#   RUN_DIR   a trained GraphGDP run (e.g. runs/reproduce-graph-gdp-ego-small/run)
#   REF_FILE  the graphs to score against (e.g. the run's test split, test.g6)
# Knobs: SEEDS ("100 101 102 103 104"), SAMPLES (1024), THREADS, DEVICE,
#        SAMPLERS (a file of "NAME JSON" lines; default the list below),
#        GRAPHDIFF_BIN (a built binary; default: release build).
# A rerun keeps the evaluations already in OUT_DIR (default RUN_DIR/../sampler-grid).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run="${1:?usage: grid_graph_gdp_sampler.sh RUN_DIR REF_FILE [OUT_DIR]}"
ref="${2:?usage: grid_graph_gdp_sampler.sh RUN_DIR REF_FILE [OUT_DIR]}"
out="${3:-$run/../sampler-grid}"
seeds="${SEEDS:-100 101 102 103 104}"
samples="${SAMPLES:-1024}"
device="${DEVICE:-cpu}"
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
if [ -n "${GRAPHDIFF_BIN:-}" ]; then
    gd="$GRAPHDIFF_BIN"
else
    ./setup-libtorch.sh >/dev/null
    cargo build --quiet --release -p graphdiff
    gd=target/release/graphdiff
fi
mkdir -p "$out"
list="$out/samplers.txt"
if [ -n "${SAMPLERS:-}" ]; then
    cp "$SAMPLERS" "$list"
else
    # The official sampler, DPM-Solver++ (multistep, data prediction) of orders 2 and 3 and
    # its stochastic variant, and the official fixed-grid probability-flow ODE solvers at the
    # paper's "about 24 evaluations" (RK4 6 steps, midpoint 12, Euler 24, each with the
    # official denoising step) and around it.
    cat >"$list" <<'EOF'
em-1000 {"kind":"pc","steps":1000,"predictor":"euler_maruyama","corrector":"none","noise_removal":true}
dpm2-20 {"kind":"dpm_solver","order":2,"steps":20,"spacing":"log_snr","denoise":false}
dpm3-10 {"kind":"dpm_solver","order":3,"steps":10,"spacing":"log_snr","denoise":false}
dpm3-20 {"kind":"dpm_solver","order":3,"steps":20,"spacing":"log_snr","denoise":false}
dpm3-32 {"kind":"dpm_solver","order":3,"steps":32,"spacing":"log_snr","denoise":false}
sde-dpm2-10 {"kind":"dpm_solver","order":2,"stochastic":true,"steps":10,"spacing":"log_snr","denoise":false}
sde-dpm2-20 {"kind":"dpm_solver","order":2,"stochastic":true,"steps":20,"spacing":"log_snr","denoise":false}
rk4-5 {"kind":"ode_fixed","method":"rk4","steps":5}
rk4-6 {"kind":"ode_fixed","method":"rk4","steps":6}
rk4-6-no-denoise {"kind":"ode_fixed","method":"rk4","steps":6,"denoise":false}
midpoint-12 {"kind":"ode_fixed","method":"midpoint","steps":12}
euler-24 {"kind":"ode_fixed","method":"euler","steps":24}
EOF
fi

while read -r name json; do
    [ -z "$name" ] && continue
    for s in $seeds; do
        tag="$name-$s"
        [ -f "$out/eval-$tag.json" ] && continue
        "$gd" sample --run "$run" -n "$samples" --seed "$s" --device "$device" \
            --batch-size "$samples" "${threads[@]}" --set "sampler=$json" \
            --out "$out/samples-$tag.g6" >"$out/sample-$tag.log"
        "$gd" eval --ref "$ref" --gen "$out/samples-$tag.g6" --protocol graphrnn \
            --json "$out/eval-$tag.json" >/dev/null
        rm -f "$out/samples-$tag.g6"
    done
done <"$list"

python3 - "$out" "$list" $seeds <<'PY'
import json, re, statistics, sys
out, listfile, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for line in open(listfile):
    if not line.strip():
        continue
    name, spec = line.split(None, 1)
    vals, nfe = [], set()
    for s in seeds:
        r = json.load(open(f"{out}/eval-{name}-{s}.json"))
        vals.append({e["statistic"]: e["value"] for e in r["report"]["mmd"]})
        m = re.search(r"(\d+) network evaluations per graph", open(f"{out}/sample-{name}-{s}.log").read())
        nfe.add(m.group(1) if m else "?")
    avg = [(v["degree"] + v["clustering"] + v["orbit"]) / 3 for v in vals]
    rows.append((statistics.mean(avg), name, "/".join(sorted(nfe)), vals, avg, spec.strip()))
sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
print(f"# seeds {' '.join(seeds)}; MMD mean ± sd (GraphRNN protocol)")
print("| sampler | NFE | degree | clustering | orbit | spectral | avg | config |")
print("|---|---|---|---|---|---|---|---|")
for mean, name, nfe, vals, avg, spec in sorted(rows):
    cell = lambda k: f"{statistics.mean(v[k] for v in vals):.4f} ± {sd([v[k] for v in vals]):.4f}"
    print(f"| {name} | {nfe} | {cell('degree')} | {cell('clustering')} | {cell('orbit')} | "
          f"{cell('spectral')} | **{mean:.4f}** ± {sd(avg):.4f} | `{spec}` |")
PY
