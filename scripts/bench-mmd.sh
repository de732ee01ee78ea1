#!/usr/bin/env bash
# Times graph-mmd's `graphrnn` protocol (degree, clustering, orbit, spectral) on the two
# workloads of evaluation.md §6 and prints markdown tables for BENCHMARKS.md.
#   A: 1024 vs 1024 community-small-like graphs (GDSS recipe, p_intra 0.7 vs 0.6, seeded)
#   B: 100 grids vs 100 perturbed grids (sides 10..=19; 0-5 edges removed, 1-7 added)
# Usage: scripts/bench-mmd.sh [--threads N] [--reps R]
# graph-mmd does not link libtorch, so this release build is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run --quiet --release -p graph-mmd --example bench_mmd -- "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
