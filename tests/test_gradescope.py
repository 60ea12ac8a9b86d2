"""The generated autograder run the way Gradescope runs it, for hw1, hw2 and hw3.

For each assignment: ``edu-nn assign`` into a temporary OUT; a temporary AUTOGRADER_ROOT laid
out like Gradescope's /autograder (``source/`` = autograder.zip unzipped, ``submission/``,
``results/``); ``setup.sh`` run in a clean environment (``env -i``, PATH and AUTOGRADER_ROOT
only: it creates the venv and pip-installs the bundled wheel and the pinned requirements from
pip's index or cache); then ``run_autograder`` once per upload: the solution (full marks),
the stubs (0), a syntax error and a missing file (a clear message, 0) and a nested upload (the
solution inside a folder: full marks). Every results.json must be valid.

One setup per assignment serves all its uploads (module-scoped fixture). Runs as root, as CI
does (run_autograder locks the source and results folders to root).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from edu_nn import cli
from edu_nn.grading.manifest import load_manifest
from edu_nn.grading.results import validate_results

ASSIGNMENTS = Path(__file__).resolve().parents[1] / "assignments"
NAMES = ["hw1_autograd", "hw2_mlp", "hw3_cnn"]
#: The image's python3: the interpreter this venv was made from (the one validated with).
CLEAN_PATH = os.pathsep.join([str(Path(sys._base_executable).parent), "/usr/local/bin",
                              "/usr/bin", "/bin"])

pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None,
                                reason="the autograder scripts are bash")


def _clean_env(root: Path) -> dict[str, str]:
    return {"PATH": CLEAN_PATH, "AUTOGRADER_ROOT": str(root)}


def _unzip(zip_path: Path, dest: Path) -> None:
    """Unzip keeping the executable bits (Gradescope does; zipfile.extractall does not)."""
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = Path(z.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)


class Autograder:
    """One assignment's autograder, set up in its own AUTOGRADER_ROOT."""

    def __init__(self, name: str, out: Path, root: Path, setup_seconds: float) -> None:
        self.name, self.out, self.root = name, out, root
        self.manifest = load_manifest(out / "autograder" / "assignment")
        self.setup_seconds = setup_seconds

    def run(self, upload: dict[str, bytes]) -> dict:
        """Put ``upload`` (path -> bytes) in submission/, run run_autograder, return
        results.json (checked with validate_results)."""
        for folder in ("submission", "results"):
            shutil.rmtree(self.root / folder, ignore_errors=True)
            (self.root / folder).mkdir()
        for rel, data in upload.items():
            path = self.root / "submission" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        start = time.perf_counter()
        done = subprocess.run(["bash", str(self.root / "run_autograder")],
                              env=_clean_env(self.root), cwd=self.root, capture_output=True,
                              text=True, timeout=600)
        seconds = time.perf_counter() - start
        assert done.returncode == 0, done.stderr[-3000:]
        results_path = self.root / "results" / "results.json"
        results = json.loads(results_path.read_text(encoding="utf-8"))
        assert validate_results(results) == [], (validate_results(results), done.stderr[-2000:])
        # locked down for the grading: root only
        for folder in (self.root / "source", self.root / "results"):
            info = folder.stat()
            assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o700, folder
        print(f"  {self.name}: {len(upload)} file(s) -> {results['score']:g} in {seconds:.1f} s")
        return results

    def version(self, folder: str) -> dict[str, bytes]:
        """The manifest's files of OUT/<folder> (solution or student)."""
        return {f: (self.out / folder / f).read_bytes() for f in self.manifest.files}


@pytest.fixture(scope="module")
def autograders(request, tmp_path_factory) -> dict[str, Autograder]:
    """All three autograders, their setup.sh run side by side (pip's downloads and installs
    overlap: about half the time of one after the other)."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root on Gradescope (and in CI)")
    runs = {}
    for name in NAMES:
        base = tmp_path_factory.mktemp(name)
        out, root = base / "out", base / "autograder_root"
        # the tests below grade solution and stubs themselves, through the Gradescope flow
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["assign", str(ASSIGNMENTS / name), str(out), "--no-validate"]) == 0
        (root / "source").mkdir(parents=True)
        _unzip(out / "autograder.zip", root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        log = open(base / "setup.log", "w")
        proc = subprocess.Popen(["bash", str(root / "source" / "setup.sh")],
                                env=_clean_env(root), cwd=root / "source", stdout=log,
                                stderr=subprocess.STDOUT)
        runs[name] = (out, root, base / "setup.log", log, proc, time.perf_counter())
    made = {}
    for name, (out, root, log_path, log, proc, start) in runs.items():
        code = proc.wait(timeout=900)
        log.close()
        assert code == 0, log_path.read_text()[-3000:]
        made[name] = Autograder(name, out, root, time.perf_counter() - start)
    with capsys_disabled(request):
        print("\nsetup.sh, side by side: " + ", ".join(
            f"{n} {a.setup_seconds:.1f} s" for n, a in made.items()))
    return made


@pytest.fixture(params=NAMES)
def autograder(request, autograders) -> Autograder:
    return autograders[request.param]


class capsys_disabled:
    """Print through pytest's capture (timings are part of this test's report)."""

    def __init__(self, request) -> None:
        self.capman = request.config.pluginmanager.getplugin("capturemanager")

    def __enter__(self):
        if self.capman:
            self.capman.suspend_global_capture(in_=True)

    def __exit__(self, *exc):
        if self.capman:
            self.capman.resume_global_capture()


def _total(results: dict) -> tuple[float, float]:
    return (sum(t["score"] for t in results["tests"]),
            sum(t["max_score"] for t in results["tests"]))


def test_setup_installed_the_pinned_requirements(autograder):
    python = autograder.root / "venv" / "bin" / "python"
    requirements = autograder.root / "source" / "requirements.txt"
    pins = [line for line in requirements.read_text().splitlines()
            if line and not line.startswith("#")] if requirements.exists() else []
    if autograder.name == "hw2_mlp":
        assert [p.split("==")[0] for p in pins] == ["scikit-learn"]
    for pin in pins:
        name, version = pin.split("==")
        done = subprocess.run([str(python), "-c", f"import importlib.metadata as m; "
                               f"print(m.version({name!r}))"], capture_output=True, text=True)
        assert done.stdout.strip() == version, (pin, done.stderr)
    done = subprocess.run([str(python), "-c", "import edu_nn; print(edu_nn.__file__)"],
                          capture_output=True, text=True, cwd=autograder.root)
    assert done.stdout.startswith(str(autograder.root / "venv")), done.stderr  # the wheel


def test_solution_scores_full_marks(autograder):
    results = autograder.run(autograder.version("solution"))
    score, total = _total(results)
    assert score == total >= 100 and results["score"] == total, \
        [(t["name"], t["output"][:300]) for t in results["tests"] if t["status"] != "passed"]


def test_stubs_score_zero(autograder):
    results = autograder.run(autograder.version("student"))
    assert results["score"] == 0 and results["tests"]
    assert all(t["score"] == 0 for t in results["tests"])


def test_syntax_error_is_reported_and_scores_zero(autograder):
    upload = autograder.version("solution")
    first = next(f for f in autograder.manifest.files if f.endswith(".py"))
    upload[first] = upload[first] + b"\ndef broken(:\n    pass\n"
    results = autograder.run(upload)
    assert results["score"] == 0
    assert f"{first}:" in results["output"] and "syntax error" in results["output"]


def test_missing_file_is_reported_and_scores_zero(autograder):
    upload = autograder.version("solution")
    missing = autograder.manifest.files[-1]
    del upload[missing]
    upload["notes.txt"] = b"I forgot a file\n"
    results = autograder.run(upload)
    assert results["score"] == 0
    assert f"{missing} is missing" in results["output"]


def test_nested_upload_is_graded(autograder):
    upload = {f"my-{autograder.name}-main/{rel}": data
              for rel, data in autograder.version("solution").items()}
    results = autograder.run(upload)
    score, total = _total(results)
    assert score == total >= 100
