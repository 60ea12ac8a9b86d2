"""The static site (mkdocs.yml: the tutorials and the API reference) builds with warnings as
errors, so a broken link, a missing page or a docstring that cannot be rendered fails CI.

The tutorials are rendered from their sources without executing them (they run on a kernel
in tests/test_notebooks.py), which keeps this build to seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings", "jupytext"):
        pytest.importorskip(module)
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                          str(ROOT / "mkdocs.yml"), "-d", str(site)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    tutorials = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    for name in tutorials:                           # every tutorial became a page
        page = site / "notebooks" / name / "index.html"
        assert page.exists(), name
    first = (site / "notebooks" / tutorials[0] / "index.html").read_text(encoding="utf-8")
    assert "draw_graph" in first                     # its code is on the page
    api = (site / "api" / "viz" / "index.html").read_text(encoding="utf-8")
    assert "GraphPicture" in api                     # the API reference was rendered
    assert (site / "notebooks" / "index.html").exists()
