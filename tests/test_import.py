"""Import hygiene: ``import edu_nn`` is light and installs no generic top-level names.

* It must not import torch, jax or jaxlib (backends load lazily, on first use), nor pytest
  (the conformance suite is imported only by tests).
* Its time (budget 0.3 s) is measured by benchmarks/bench_import.py, not here: a timing on a
  shared machine is no test. What keeps it small is checked here: nothing heavy is loaded.
* The repository's ``backends/`` folder installs as ``edu_nn.backends``: a package called
  ``backends`` already exists on PyPI, so we must never provide a top-level ``backends``.

Each check runs in a fresh interpreter from an empty directory, without PYTHONPATH, so that
neither the repository checkout nor this test process's sys.path can make them pass.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "jax", "jaxlib", "pytest", "edu_nn.backends.conformance")

PROBE = """
import json, sys, time
start = time.perf_counter()
import edu_nn
seconds = time.perf_counter() - start
loaded = sorted({m for m in sys.modules for h in HEAVY if m == h or m.startswith(h + ".")})
print(json.dumps({"seconds": seconds, "loaded": loaded, "file": edu_nn.__file__}))
"""


def run_fresh(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EDU_NN_BACKEND")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> list[dict]:
    cwd = tmp_path_factory.mktemp("neutral")
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    return [json.loads(run_fresh(code, cwd)) for _ in range(3)]


def test_import_loads_no_heavy_modules(probes):
    for probe in probes:
        assert probe["loaded"] == [], f"import edu_nn imported {probe['loaded']}"


def test_no_top_level_backends_module(tmp_path):
    """From a neutral directory, no top-level ``backends`` is importable because of us: none
    at all, or (if PyPI's ``backends`` is installed) one that is not in this project."""
    code = ("import importlib.util, json, edu_nn, edu_nn.backends\n"
            "spec = importlib.util.find_spec('backends')\n"
            "print(json.dumps({'origin': spec and spec.origin,\n"
            "                  'ours': edu_nn.backends.__file__}))\n")
    found = json.loads(run_fresh(code, tmp_path))
    ours = Path(found["ours"]).resolve().parent
    if found["origin"] is not None:
        origin = Path(found["origin"]).resolve()
        assert ours not in origin.parents and origin.parent != ours, \
            f"a top-level 'backends' resolves to this project's folder: {origin}"


def test_distribution_declares_no_top_level_backends(tmp_path):
    """The installed distribution's metadata lists no top-level ``backends``. Read from a
    fresh interpreter: here, the checkout's edu_nn.egg-info (source paths) would shadow it."""
    code = ("import json\n"
            "from importlib.metadata import distribution\n"
            "dist = distribution('edu-nn')\n"
            "print(json.dumps({'top_level': (dist.read_text('top_level.txt') or '').split(),\n"
            "                  'files': [str(f) for f in dist.files or ()]}))\n")
    found = json.loads(run_fresh(code, tmp_path))
    assert "backends" not in found["top_level"], found["top_level"]
    for file in found["files"]:
        assert Path(file).parts[:1] != ("backends",), f"installs top-level {file}"
