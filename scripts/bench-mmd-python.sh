#!/usr/bin/env bash
# Times the Python package graphdiff_mmd against a vectorised numpy evaluator (and, with
# --graphdiff BIN, the `graphdiff eval` CLI) on workload A of ../shared/evaluation.md §6;
# see scripts/bench_mmd_python.py. Builds a release wheel and installs it into a folder of
# its own; numpy and networkx come from scripts/python-env.sh's venv.
# Usage: scripts/bench-mmd-python.sh [--reps R] [--numpy-reps R] [--graphdiff BIN ...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/python-env.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PATH="$VENV/bin:$PATH"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
maturin build --quiet --release -m crates/graph-mmd-py/Cargo.toml --out "$OUT/wheel" \
    --interpreter "$VENV/bin/python" >&2
python -m pip install --quiet --disable-pip-version-check --no-deps --no-index \
    --target "$OUT/site" "$OUT"/wheel/graphdiff_mmd-*.whl
PYTHONPATH="$OUT/site" python scripts/bench_mmd_python.py "$@"
