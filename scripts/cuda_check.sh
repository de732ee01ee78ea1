#!/usr/bin/env bash
# cuda_check.sh: the GPU check, run on a machine with an NVIDIA GPU and PyTorch 2.11 (no Rust
# needed there). Build on a machine with this repository's libtorch, then copy BIN_DIR over:
#
#   cargo build --release -p graphdiff
#   cargo build --release -p edp-gnn --example bench_edp_gnn
#   cargo test -p edp-gnn --features cuda --no-run     # the parity and cuda test executables
#   mkdir -p bin && cp target/release/graphdiff target/release/examples/bench_edp_gnn bin/
#   cp target/debug/deps/parity-<hash> bin/parity; cp target/debug/deps/cuda-<hash> bin/cuda
#
# Usage: scripts/cuda_check.sh BIN_DIR SHARED_DIR OUT_DIR
#   BIN_DIR     graphdiff, and where present bench_edp_gnn and the test executables parity, cuda
#   SHARED_DIR  ../shared, or a copy holding parity/edp-gnn and datasets/gdss/community_small.g6
#   OUT_DIR     logs, the short run, its samples and their evaluation
# Knobs: TORCH_LIB (torch's lib folder; default: that of python3's torch), STEPS (training steps
#        of the end-to-end run, default 500), SAMPLES (default 1024), GSM_CHECKOUT (a checkout
#        of ermongroup/GraphScoreMatching: also time the official code on the GPU).
#
# 1. The parity tests on CUDA (the official outputs within the fixture README's tolerances) and
#    tests/cuda.rs (training loss, gradients and sampling chains on CUDA equal the CPU's).
# 2. `graphdiff train edp-gnn --dataset community-small --device cuda`, then sample and evaluate
#    on CUDA, with the step time and the sampling time.
# 3. bench_edp_gnn on CUDA (and the official code, with GSM_CHECKOUT).
# Exits non-zero if any part fails; every part runs regardless.
set -uo pipefail
bin="${1:?usage: cuda_check.sh BIN_DIR SHARED_DIR OUT_DIR}"
shared="${2:?usage: cuda_check.sh BIN_DIR SHARED_DIR OUT_DIR}"
out="${3:?usage: cuda_check.sh BIN_DIR SHARED_DIR OUT_DIR}"
bin=$(cd "$bin" && pwd)
shared=$(cd "$shared" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
lib="${TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
fail() { echo "FAILED: $*"; status=1; }
clock() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(clock)"; }

echo "# $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
echo "# torch $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)') from $lib"

# 1. Tests.
for t in parity cuda; do
    [ -x "$bin/$t" ] || { echo "test $t: executable not in $bin, skipped"; continue; }
    if GRAPHDIFF_SHARED="$shared" "$bin/$t" --test-threads=1 --nocapture >"$out/test-$t.txt" 2>&1; then
        echo "test $t: $(grep -E '^test result' "$out/test-$t.txt")"
    else
        fail "test $t"
        tail -n 40 "$out/test-$t.txt"
    fi
done

# 2. The CLI end to end on CUDA.
gd="$bin/graphdiff"
steps=${STEPS:-500}
samples=${SAMPLES:-1024}
t0=$(clock)
if "$gd" train edp-gnn --dataset community-small --run-dir "$out/run" --device cuda \
    --steps "$steps" >"$out/train.txt" 2>&1; then
    echo "train: $steps steps in $(since "$t0") s (process wall time, start-up included)"
    python3 - "$out/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if "step_time_s" in r]
tail = rows[1:] or rows  # the first window holds CUDA's warm-up
w = sum(r["step_time_s"] * r["steps"] for r in tail) / sum(r["steps"] for r in tail)
print(f"train: {w * 1e3:.1f} ms per step (batch 32 x 6 sigma) after the first window, "
      f"{32 / w:.0f} graphs/s; last loss {rows[-1]['loss']:.2f}")
PY
else
    fail "train"
    tail -n 20 "$out/train.txt"
fi
if [ -d "$out/run/checkpoints" ]; then
    t0=$(clock)
    if "$gd" sample --run "$out/run" -n "$samples" --seed 0 --device cuda \
        --out "$out/samples.g6" >"$out/sample.txt" 2>&1; then
        secs=$(since "$t0")
        echo "sample: $samples graphs in $secs s on CUDA ($(grep -o '[0-9]* network evaluations per graph' "$out/sample.txt"))"
        if "$gd" dataset community-small --part test --out "$out/test.g6" --no-manifest \
            >/dev/null 2>&1 &&
            "$gd" eval --ref "$out/test.g6" --gen "$out/samples.g6" --protocol graphrnn \
                >"$out/eval.txt"; then
            echo "eval ($steps training steps only, not a quality number):"
            grep -E '^(degree|clustering|orbit|spectral) ' "$out/eval.txt"
        else
            fail "eval"
        fi
    else
        fail "sample"
        tail -n 20 "$out/sample.txt"
    fi
fi

# 3. Speed on CUDA.
if [ -x "$bin/bench_edp_gnn" ]; then
    BENCH_BIN="$bin/bench_edp_gnn" DEVICE=cuda THREADS=1 \
        DATA="$shared/datasets/gdss/community_small.g6" scripts/bench_edp_gnn.sh 2 20 \
        >"$out/bench.txt" 2>&1 || fail "bench"
    sed -n '/^| quantity/,$p' "$out/bench.txt"
fi
exit $status
