#!/usr/bin/env bash
# Start-up and end-to-end wall times of the `graphdiff` binary, default build (links libtorch)
# against the evaluation-only build (`--no-default-features`), with hyperfine (Debian package
# `hyperfine`): `--version`, `stats` and `eval` (graphrnn protocol, four statistics, with 2 and
# 1 threads) on workload A of ../shared/evaluation.md §6 (1024 vs 1024 community-small-like
# graphs as JSON lines, written by scripts/bench_mmd_python.py). Prints min / median / max.
# Usage: scripts/bench-cli.sh [RUNS]   (default 15 runs per command, 2 warm-up runs)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-15}"
command -v hyperfine >/dev/null || { echo "bench-cli.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
VENV="$(scripts/python-env.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
./setup-libtorch.sh >/dev/null
cargo build --quiet --release -p graphdiff
cp "$CARGO_TARGET_DIR/release/graphdiff" "$OUT/graphdiff-default"
cargo build --quiet --release -p graphdiff --no-default-features
cp "$CARGO_TARGET_DIR/release/graphdiff" "$OUT/graphdiff-eval-only"
"$VENV/bin/python" scripts/bench_mmd_python.py --write-workload "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
n=0
for build in default eval-only; do
    b="$OUT/graphdiff-$build"
    for args in "--version" "stats $OUT/ref.jsonl" \
        "eval --ref $OUT/ref.jsonl --gen $OUT/gen.jsonl --protocol graphrnn --threads 2" \
        "eval --ref $OUT/ref.jsonl --gen $OUT/gen.jsonl --protocol graphrnn --threads 1"; do
        n=$((n + 1))
        hyperfine -N --style none --warmup 2 --runs "$RUNS" --export-json "$OUT/$n.json" \
            --command-name "$build: graphdiff ${args//$OUT\//}" "$b $args" >/dev/null
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| command | wall seconds, min / median / max ($RUNS runs) | user + sys CPU s (mean) |"
echo "|---|---|---|"
for i in $(seq 1 "$n"); do
    "$VENV/bin/python" - "$OUT/$i.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = r["times"]
print(f"| {r['command']} | {min(t):.3f} / {statistics.median(t):.3f} / {max(t):.3f} | "
      f"{r['user'] + r['system']:.3f} |")
PY
done
