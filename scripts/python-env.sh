#!/usr/bin/env bash
# python-env.sh: the Python tools the Python package's tests and benchmark need (maturin,
# pytest, numpy, networkx; pinned below), in a venv cached per user like setup-libtorch.sh's
# torch: ${XDG_CACHE_HOME:-$HOME/.cache}/graphdiff/pytools-<hash of the pins>. Created on first
# use (about 20 s with a warm pip cache), then reused (milliseconds). Prints the venv's folder.
#
# Knobs: PYTHON (interpreter for the venv, default python3; 3.9 or newer).
set -euo pipefail

PINS=(maturin==1.16.0 pytest==9.2.0 numpy==2.4.6 networkx==3.6.1)
PYTHON="${PYTHON:-python3}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/graphdiff"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
KEY="$(printf '%s\n' "$PYVER" "${PINS[@]}" | sha256sum | cut -c1-12)"
VENV="$CACHE_ROOT/pytools-$KEY"
STAMP="$VENV/.setup-complete"

if [ ! -f "$STAMP" ]; then
    mkdir -p "$CACHE_ROOT"
    exec 9>"$VENV.lock"
    flock 9
    if [ ! -f "$STAMP" ]; then
        echo "python-env: installing ${PINS[*]} into $VENV" >&2
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --only-binary=:all: \
            --progress-bar off --quiet "${PINS[@]}"
        touch "$STAMP"
    fi
    exec 9>&-
fi
echo "$VENV"
