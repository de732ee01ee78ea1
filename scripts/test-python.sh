#!/usr/bin/env bash
# Tests of the Python package graphdiff_mmd (crates/graph-mmd-py): builds the wheel with
# maturin, pip-installs it into a fresh venv and runs tests/python with pytest. The tools
# (maturin, pytest, numpy, networkx) come from the per-user venv of scripts/python-env.sh.
# The CLI parity tests use GRAPHDIFF_BIN (default: target/debug/graphdiff, which
# scripts/test.sh builds first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="$(scripts/python-env.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export GRAPHDIFF_BIN="${GRAPHDIFF_BIN:-$CARGO_TARGET_DIR/debug/graphdiff}"
export GRAPHDIFF_PY_STRICT=1
# The venv's maturin and python first on PATH (maturin runs `python` to find the interpreter).
export PATH="$VENV/bin:$PATH"
# The crate's Rust unit tests (they embed Python, so they need libpython on the loader path).
LD_LIBRARY_PATH="$(python -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --quiet --manifest-path crates/graph-mmd-py/Cargo.toml
exec python -m pytest -q -p no:cacheprovider tests/python "$@"
