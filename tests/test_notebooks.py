"""Every tutorial runs top to bottom on a real Jupyter kernel, on every backend.

Each notebook asserts the facts it teaches from its own numbers, so a tutorial whose lesson
stops being true fails here. The kernel gets EDU_NN_BACKEND (numpy, torch, jax), which the
notebook's parameters cell reads; torch and JAX runs use the smaller sizes it sets.
The runner is notebooks/build.py's ``execute`` (nbclient), the same one that builds the
executed .ipynb files.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_at_least_twelve_tutorials():
    assert len(SOURCES) >= 12, [p.name for p in SOURCES]


def test_the_readme_table_maps_every_syllabus_row_to_a_tutorial():
    """notebooks/README.md has one table row per row of the course syllabus, each naming
    tutorials that exist."""
    readme = (NOTEBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Syllabus", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]   # no header
    rows = [r for r in rows if not set(r) <= set("|- ")]                      # no ---|---
    syllabus = Path(__file__).resolve().parents[2] / "shared" / "SYLLABUS.md"
    if syllabus.exists():                 # beside the checkout on the course's machines
        expected = [line for line in syllabus.read_text(encoding="utf-8").splitlines()
                    if line.startswith("| ") and not set(line) <= set("|- ")][1:]
        concepts = {r.split("|")[1].strip() for r in rows}
        missing = [r.split("|")[1].strip() for r in expected
                   if r.split("|")[1].strip() not in concepts]
        assert not missing, f"SYLLABUS.md rows without a tutorial: {missing}"
    assert len(rows) >= 23, "one row per SYLLABUS.md row"
    names = {p.stem[:2] for p in SOURCES}
    for row in rows:
        cited = re.findall(r"\b(\d\d)_\w+", row)
        assert cited and set(cited) <= names, row


def test_every_tutorial_has_a_parameters_cell_and_exercises_with_hidden_answers():
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert '# %% tags=["parameters"]' in text and "EDU_NN_BACKEND" in text, path.name
        assert "## Exercises" in text and "<details>" in text, path.name
        assert "assert " in text, path.name
        assert ".data" not in re.sub(r"edu_nn\.data|\.data_home", "", text), (
            f"{path.name}: use .detach()/.numpy()/.item(), not .data")


@pytest.fixture(scope="module")
def build():
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    pytest.importorskip("ipykernel")
    return _build_module()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem[:2])
def test_tutorial_runs_on_a_kernel(path, backend_name, build):
    if backend_name not in ("numpy", "torch", "jax"):
        pytest.skip("the tutorials run on the three built-in backends")
    notebook, seconds = build.execute(path, backend_name, timeout=300)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the tutorials draw pictures: at least one image came back from the kernel
    assert any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
               for o in outputs), f"{path.name} showed no picture"
