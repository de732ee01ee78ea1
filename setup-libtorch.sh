#!/usr/bin/env bash
# setup-libtorch.sh: get libtorch for the `tch` crate from PyPI.
#
# Installs torch==$TORCH_VERSION (the PyPI wheel, which carries libtorch: include/ and lib/)
# into a Python venv in a per-user cache that every checkout of this repository shares, then
# points the repo-local symlink <repo>/.libtorch at the wheel's torch/ folder.
# .cargo/config.toml sets LIBTORCH to that symlink, so after one run of this script plain
# `cargo build` / `cargo test` / `cargo nextest run` work. Idempotent: a later run only checks
# a stamp file and the symlink (milliseconds).
#
# stdout: `export` lines, for tools outside cargo: eval "$(./setup-libtorch.sh)".
# Progress goes to stderr.
#
# Knobs (environment):
#   TORCH_CPU_ONLY=1  slim install: torch without its dependencies plus the two CUDA libraries
#                     that libtorch_cpu.so loads (cudart, cupti); libtorch_cuda*.so are deleted,
#                     so binaries built against it never load CUDA (also not on a GPU machine).
#   TORCH_VENV        where the venv goes (default ${XDG_CACHE_HOME:-$HOME/.cache}/<project>/torch-<version>[-cpu])
#   PYTHON            interpreter for the venv (default python3; tested with 3.11)
set -euo pipefail

TORCH_VERSION=2.11.0                 # must match what tch's torch-sys expects (tch =0.24.0)
PROJECT=graphdiff                     # the cache folder's name: the project's name
CPU_ONLY="${TORCH_CPU_ONLY:-0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/$PROJECT"
SUFFIX=""; [ "$CPU_ONLY" != 1 ] || SUFFIX="-cpu"
VENV="${TORCH_VENV:-$CACHE_ROOT/torch-$TORCH_VERSION$SUFFIX}"
STAMP="$VENV/.setup-complete"        # written last; holds the path of the torch/ folder
LINK="$REPO_ROOT/.libtorch"
PYTHON="${PYTHON:-python3}"

log() { echo "setup-libtorch: $*" >&2; }

install_torch() {
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    # --no-cache-dir: the wheels would otherwise be kept a second time in pip's cache.
    local pip=("$VENV/bin/python" -m pip install --no-cache-dir --disable-pip-version-check
               --only-binary=:all: --progress-bar off --quiet)
    if [ "$CPU_ONLY" = 1 ]; then
        log "installing torch==$TORCH_VERSION (CPU-only subset, ~0.5 GB download) into $VENV"
        "${pip[@]}" --no-deps "torch==$TORCH_VERSION" \
            "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85"
    else
        log "installing torch==$TORCH_VERSION (~2.8 GB download, ~4.6 GB on disk) into $VENV"
        "${pip[@]}" "torch==$TORCH_VERSION"
    fi
    local torch_dir
    torch_dir="$(find "$VENV/lib" -maxdepth 3 -type d -path '*/site-packages/torch' | head -n1)"
    if [ ! -f "$torch_dir/lib/libtorch_cpu.so" ]; then
        log "no torch/lib/libtorch_cpu.so under $VENV"; exit 1
    fi
    if [ "$CPU_ONLY" = 1 ]; then
        # torch-sys links libtorch_cuda.so whenever it is there, and it needs the whole CUDA stack.
        rm -f "$torch_dir"/lib/libtorch_cuda*.so
    else
        # the libraries load, and the version is the one asked for
        "$VENV/bin/python" -W ignore -c "import torch; v = torch.__version__; \
assert v.split('+')[0] == '$TORCH_VERSION', v; assert torch.ones(2).sum().item() == 2"
    fi
    printf '%s\n' "$torch_dir" >"$STAMP"
}

if [ ! -f "$STAMP" ]; then
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock"
    flock 9                          # two checkouts running this at once: one installs
    [ -f "$STAMP" ] || install_torch
    exec 9>&-
fi

TORCH_DIR="$(cat "$STAMP")"
OLD="$(readlink "$LINK" 2>/dev/null || true)"
if [ "$OLD" != "$TORCH_DIR" ]; then
    ln -sfn "$TORCH_DIR" "$LINK"
    log "linked .libtorch -> $TORCH_DIR"
    # LIBTORCH (the link's path) is unchanged, so cargo would keep what it built for the old one.
    [ -z "$OLD" ] || log "the link pointed elsewhere before: run 'cargo clean' once"
fi

echo "export LIBTORCH='$TORCH_DIR'"
echo "export LD_LIBRARY_PATH='$TORCH_DIR/lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
