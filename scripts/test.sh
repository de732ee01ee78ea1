#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs libtorch once (cached per user, see
# setup-libtorch.sh), then builds and runs every test of the workspace, the evaluation-only
# build of the CLI, the workspace's end-to-end tests (top-level tests/, run as targets of the
# graphdiff crate), and the Python package's tests (scripts/test-python.sh). Extra arguments
# go to `cargo test` (e.g. `scripts/test.sh -p graph-mmd`).
#
# Tests read shared reference data from ../shared/ next to the repository. Slow tests run only
# with GRAPHDIFF_SLOW_TESTS=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./setup-libtorch.sh >/dev/null
# The Python with networkx and numpy (a per-user cached venv) for the tests that run Python:
# the README's networkx snippet (tests/networkx.rs), the Python package's tests.
GRAPHDIFF_PYTHON="$(scripts/python-env.sh)/bin/python"
export GRAPHDIFF_PYTHON
# graph-mmd and graph-tensor without `torch` must build and pass with no libtorch at all.
cargo test -p graph-mmd -p graph-tensor --no-default-features "$@"
# The evaluation-only CLI (graphdiff without its `torch` feature): the dataset, stats and eval
# tests again, and a test that the binary loads no libtorch.
cargo test -p graphdiff --no-default-features "$@"
# Everything else (graph-mmd was tested above; in this invocation feature unification would
# link libtorch into it).
cargo test --workspace --exclude graph-mmd "$@"
# The Python package graphdiff_mmd (crates/graph-mmd-py, outside the workspace): builds the
# wheel, installs it into a fresh venv, runs tests/python (its Python tools are installed
# into a per-user cached venv on first use). Its CLI parity tests use the binary built above.
scripts/test-python.sh
