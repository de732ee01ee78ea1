"""Fixtures of the graphdiff_mmd tests: the wheel is built with maturin and pip-installed
into a fresh venv, and the tests import it from there.

Environment:
  GRAPHDIFF_MMD_WHEEL   a wheel to test instead of building one
  GRAPHDIFF_MMD_PROFILE cargo profile of the build (default: dev, which the crate's
                        Cargo.toml optimises like the workspace's dev profile)
  GRAPHDIFF_BIN         the graphdiff binary for the CLI parity tests (default:
                        target/debug/graphdiff under CARGO_TARGET_DIR or the repository)
  GRAPHDIFF_PY_STRICT=1 a missing graphdiff binary fails the parity tests instead of
                        skipping them (scripts/test-python.sh sets it)
"""

import glob
import importlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CASES = SHARED / "mmd-cases"


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("GRAPHDIFF_MMD_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    profile = os.environ.get("GRAPHDIFF_MMD_PROFILE", "dev")
    cmd = [
        sys.executable, "-m", "maturin", "build",
        "-m", str(REPO / "crates" / "graph-mmd-py" / "Cargo.toml"),
        "--profile", profile, "--out", str(out), "--interpreter", sys.executable,
    ]
    subprocess.run(cmd, check=True, cwd=REPO)
    (whl,) = glob.glob(str(out / "graphdiff_mmd-*.whl"))
    return Path(whl)


@pytest.fixture(scope="session")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv (no pip, no numpy, no networkx) with the wheel installed by pip."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
         "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
    )
    return root


@pytest.fixture(scope="session")
def gm(venv):
    """graphdiff_mmd, imported from the fresh venv (this interpreter supplies numpy and
    networkx to the tests)."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    )
    site = out.stdout.strip()
    sys.path.insert(0, site)
    for name in [m for m in sys.modules if m == "graphdiff_mmd" or m.startswith("graphdiff_mmd.")]:
        del sys.modules[name]
    mod = importlib.import_module("graphdiff_mmd")
    assert Path(mod.__file__).resolve().is_relative_to(Path(site).resolve()), mod.__file__
    return mod


@pytest.fixture(scope="session")
def expected():
    return json.loads((CASES / "expected.json").read_text())


def load_jsonl(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def graphdiff_bin() -> Path:
    given = os.environ.get("GRAPHDIFF_BIN")
    path = Path(given) if given else _target_dir() / "debug" / "graphdiff"
    if not path.exists():
        if os.environ.get("GRAPHDIFF_PY_STRICT") == "1":
            pytest.fail(f"graphdiff binary not found at {path} (set GRAPHDIFF_BIN)")
        pytest.skip(f"graphdiff binary not found at {path} (build it or set GRAPHDIFF_BIN)")
    return path
