#!/usr/bin/env bash
# bench_threads.sh: torch intra-op threads 1 vs 2 for EDP-GNN training and sampling on the
# CPU (the measurement behind `--threads`' default; results go to BENCHMARKS.md, "threads").
#
# Usage: scripts/bench_threads.sh [REPEATS]   (default 3; needs `cargo build -p graphdiff`)
# Prints one line per run: threads, training seconds per step (mean over steps 6..25, i.e.
# without the first logging interval's warm-up), sampling seconds for 16 graphs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GRAPHDIFF_BIN:-target/debug/graphdiff}
REPEATS=${1:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
unset OMP_NUM_THREADS
echo "# $(nproc) cores; $(uptime | sed 's/.*load average/load average/')"
echo "threads  train_s_per_step  sample_16_graphs_s"
for rep in $(seq "$REPEATS"); do
  for t in 1 2; do
    run="$WORK/run-$t-$rep"
    "$BIN" train edp-gnn --dataset community-small --run-dir "$run" --steps 25 --threads "$t" \
      --set train.log_every=5 --set train.checkpoint_every=1000 >/dev/null
    step=$(python3 -c "
import json,sys
r=[json.loads(l) for l in open('$run/metrics.jsonl')][1:]
print('%.4f' % (sum(x['step_time_s']*x['steps'] for x in r)/sum(x['steps'] for x in r)))")
    start=$(date +%s.%N)
    "$BIN" sample --run "$run" -n 16 --batch-size 16 --threads "$t" --set sampler.step_num=25 \
      --out "$WORK/s.g6" >/dev/null
    end=$(date +%s.%N)
    printf '%7s  %16s  %18.2f\n' "$t" "$step" "$(echo "$end - $start" | bc)"
  done
done
