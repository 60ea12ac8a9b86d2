"""The ``edu-nn`` command: ``main(argv)`` in process, and one real ``python -m edu_nn info``."""
from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edu_nn
from edu_nn import backends, cli
from edu_nn.backends.numpy_backend import NumpyBackend


@pytest.fixture(autouse=True)
def private_registry(monkeypatch):
    """Backends registered by a test vanish after it; no EDU_NN_BACKEND from outside."""
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    monkeypatch.setattr(backends, "_instances", dict(backends._instances))
    monkeypatch.delenv("EDU_NN_BACKEND", raising=False)


@pytest.fixture
def loaded(monkeypatch) -> list[str]:
    """The names of the backends that ``edu-nn info`` loads (imports), in order."""
    names: list[str] = []
    real = backends.load_backend

    def recording(name):
        names.append(name)
        return real(name)

    monkeypatch.setattr(backends, "load_backend", recording)
    return names


def run_info(capsys) -> dict[str, list[str]]:
    """Run ``edu-nn info``; return its output and its backend table as name -> cells."""
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["backend", "installed"])
    table = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        cells = line.split(None, 4)  # the note (last) may contain spaces
        table[cells[0]] = cells[1:]
    return {"out": out, "table": table}


def test_info_versions_and_backend_table(capsys, loaded):
    result = run_info(capsys)
    out, table = result["out"], result["table"]
    assert f"edu_nn {edu_nn.__version__}" in out
    assert f"python {platform.python_version()}" in out
    assert list(table) == backends.registered_backends()
    installed, version, devices = table["numpy"][:3]
    assert (installed, version) == ("yes", np.__version__) and devices.startswith("cpu")
    for name in ("torch", "jax"):
        present = importlib.util.find_spec(name) is not None
        assert table[name][0] == ("yes" if present else "no")
        if not present:  # never imported just to be listed
            assert name not in loaded and name not in sys.modules
            assert f"edu-nn[{name}]" in table[name][-1]
        else:
            assert table[name][1] != "-"
    assert "default backend: numpy" in out


def test_info_missing_library_is_not_imported(capsys, loaded):
    edu_nn.register_backend("ghost", "edu_nn_ghost_library_xyz.backend:GhostBackend")
    table = run_info(capsys)["table"]
    assert table["ghost"][:3] == ["no", "-", "-"]
    assert "ghost" not in loaded
    assert "edu_nn_ghost_library_xyz" in table["ghost"][3]


def test_info_lists_runtime_registered_backend(capsys):
    class Toy(NumpyBackend):
        name = "toy"

        def version(self):
            return "9.9-toy"

    edu_nn.register_backend("toy", Toy)
    table = run_info(capsys)["table"]
    assert table["toy"][:3] == ["yes", "9.9-toy", "cpu"]


def test_info_survives_a_broken_backend(capsys):
    edu_nn.register_backend("broken", "json:NoSuchBackend")  # library present, class missing
    table = run_info(capsys)["table"]
    assert table["broken"][0] == "yes"
    assert "cannot load" in table["broken"][3] and "NoSuchBackend" in table["broken"][3]
    assert table["numpy"][0] == "yes"


def test_info_shows_environment_backend(capsys, monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "numpy")
    assert "default backend: numpy (from EDU_NN_BACKEND)" in run_info(capsys)["out"]
    monkeypatch.setenv("EDU_NN_BACKEND", "nope")
    out = run_info(capsys)["out"]
    assert "EDU_NN_BACKEND='nope' is not a registered backend" in out and "numpy" in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: edu-nn") and "info" in out


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"edu_nn {edu_nn.__version__}"


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_python_dash_m_edu_nn_info(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edu_nn", "info"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"edu_nn {edu_nn.__version__}\n")
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("numpy "))
    assert row[:3] == ["numpy", "yes", np.__version__]


def test_info_says_to_pin_torch_first_as_the_readme_does(capsys, monkeypatch):
    """An unpinned torch downloads a multi-GB CUDA build: the advice for a missing torch
    installs the README's pinned torch first, then the extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    note = run_info(capsys)["table"]["torch"][-1]
    pin = f"pip install torch=={cli.TORCH_PIN}"
    assert note.startswith(f"{pin} && pip install 'edu-nn[torch]'"), note
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"{pin} && pip install -e" in readme, "the README pins the same torch"
