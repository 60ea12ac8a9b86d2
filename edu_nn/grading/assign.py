"""``edu-nn assign SOURCE OUT``: one instructor folder in, three folders and a zip out.

SOURCE (the instructor's assignment folder)::

    assignment.toml        the manifest (see edu_nn.grading.manifest)
    <files>                the submission files listed in the manifest, with solution markers
                           (see edu_nn.grading.markers); notebooks as jupytext py:percent .py
    tests/public_*.py      public test modules: shipped to students (HIDDEN TESTS blocks cut)
    tests/hidden_*.py      hidden test modules: autograder only
    tests/<other>          helpers the tests import: shipped to students
    drivers/*.py           trusted harness code run next to the student's code: shipped
    anything else          shipped to students (.py files after marker processing); a file or
                           folder whose name starts with ``hidden_`` goes to the autograder only

OUT::

    student/               what students get: stubs, public tests, drivers, README.md, and a
                           manifest listing only the public tests; ``edu-nn check`` runs here
    solution/              the same file names with the reference solution (markers removed)
    autograder/            the Gradescope autograder: setup.sh, run_autograder, dist/ (the
                           edu_nn wheel), requirements.txt (the manifest's ``requires``,
                           pinned to the versions installed here) and assignment/ (the whole
                           assignment, markers removed: manifest, reference solution, public +
                           hidden tests, drivers), which is what ``edu-nn grade --assignment``
                           reads
    autograder.zip         autograder/ zipped for upload

Validation (skipped by ``--no-validate``): the reference solution scores full marks on every
test, the unmodified student version scores 0 on every graded test, and no student file holds
a solution line, a marker, or hidden test text, names or file names. By default the two
gradings run the way Gradescope will run them: the generated setup.sh builds its environment
in a temporary AUTOGRADER_ROOT and that environment's ``python -m edu_nn grade`` grades
(``validate_in="current"`` grades in this process instead: fast, for drafts and tests).

Nothing is written into OUT until everything succeeded: the outputs are built in a staging
folder next to OUT and moved into place at the end; on failure the staging folder is kept
and named in the error, for inspection.
"""
from __future__ import annotations

import ast
import base64
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .manifest import MANIFEST_NAME, Manifest, ManifestError, TestSpec, load_manifest
from .markers import MarkerError, Transformed, find_marker_strings, transform
from .notebook import ipynb_bytes, notebook_strings, percent_text

__all__ = ["assign", "grade", "AssignError", "ValidationError", "AssignResult", "TestInfo",
           "discover_tests", "collect_submission", "build_wheel", "scan_leaks",
           "pin_requirements", "VALIDATE_IN"]

#: Where ``assign`` grades the solution and the stubs: in an environment built by the
#: generated setup.sh (as on Gradescope), or in this process.
VALIDATE_IN = ("setup", "current")
#: How long the generated setup.sh may take when ``assign`` validates with it (pip installs).
SETUP_TIMEOUT = 1800

#: Files and folders never copied from SOURCE.
_IGNORED = re.compile(r"^(\..*|__pycache__|.*\.pyc|.*\.egg-info|\.ipynb_checkpoints)$")
#: Written into OUT so that a re-run may replace what an earlier run made there.
STAMP = ".edu-nn-assign"
#: A line of a solution or hidden test is "distinctive" (worth a leak check) from this many
#: tokens and characters on: ``gx = grad * y`` is, ``return out`` is not.
MIN_TOKENS, MIN_CHARS = 5, 12


class AssignError(Exception):
    """``edu-nn assign`` cannot go on (bad SOURCE or OUT, a marker error, ...)."""


class ValidationError(AssignError):
    """The generated assignment failed validation; ``.problems`` lists every failure."""

    def __init__(self, problems: list[str], out: Path) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"validation failed ({len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}); nothing was written to OUT, "
                         f"the generated folders are left for you to inspect in {out}:\n"
                         f"{listing}\n(use --no-validate for a draft)")


@dataclass
class TestInfo:
    """A graded test found in a test module (statically, from its ``@graded`` decorator)."""
    name: str
    file: str                   # posix path inside the assignment, e.g. tests/public_ops.py
    line: int
    public: bool                # shipped to students
    points: float | None = None
    visibility: str | None = None


@dataclass
class AssignResult:
    out: Path
    student: Path
    solution: Path
    autograder: Path
    zip: Path | None
    tests: list[TestInfo]
    validated: bool
    stubs: dict[str, list[str]] = field(default_factory=dict)   # file -> qualified names


# --------------------------------------------------------------------- grading
def grade(submission: str | Path, assignment: str | Path, *, include_hidden: bool = True,
          backend: str = "numpy", unsandboxed: bool = False, select: str | None = None) -> dict:
    """Grade one submission folder; returns Gradescope's results.json structure.

    The one place where assign and check call the grading engine
    (``edu_nn.grading.grader.grade_submission``). ``select``: only the tests whose names
    contain it (``edu-nn check -k``).
    """
    from .grader import grade_submission
    return grade_submission(submission, assignment, backend=backend,
                            include_hidden=include_hidden, unsandboxed=unsandboxed,
                            select=select)


# -------------------------------------------------------------------- discovery
def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def discover_tests(text: str, file: str, public: bool) -> list[TestInfo]:
    """The ``@graded`` test functions defined at the top level of a test module's text.

    Points and visibility are read when the decorator gives them as literals.
    """
    try:
        tree = ast.parse(text, file)
    except SyntaxError as exc:
        raise AssignError(f"{file}:{exc.lineno}: syntax error: {exc.msg}") from None
    tests = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            if _decorator_name(dec) != "graded":
                continue
            info = TestInfo(node.name, file, node.lineno, public)
            for kw in getattr(dec, "keywords", []):
                if kw.arg in ("points", "visibility"):
                    try:
                        setattr(info, kw.arg, ast.literal_eval(kw.value))
                    except ValueError:
                        pass
            tests.append(info)
    return tests


# ------------------------------------------------------------------ the pipeline
@dataclass
class _File:
    rel: str                    # posix path inside SOURCE
    role: str                   # submission | public_test | hidden | shared
    data: bytes
    versions: Transformed | None = None   # for .py files
    notebook: bool = False      # the assignment's notebook (py:percent text in versions)

    @property
    def student_bytes(self) -> bytes:
        if self.notebook:
            return ipynb_bytes(self.versions.student, self.rel)
        return self.versions.student.encode() if self.versions else self.data

    @property
    def solution_bytes(self) -> bytes:
        if self.notebook:
            return ipynb_bytes(self.versions.solution, self.rel)
        return self.versions.solution.encode() if self.versions else self.data


def _notebook_for(rel: str, manifest: Manifest) -> str | None:
    """The manifest's notebook that source file ``rel`` is (``hw4.ipynb`` for ``hw4.ipynb``
    or the py:percent ``hw4.py``), or None."""
    stem = rel.rsplit(".", 1)[0]
    if rel.endswith((".py", ".ipynb")) and f"{stem}.ipynb" in manifest.files:
        return f"{stem}.ipynb"
    return None


def _role(rel: str, manifest: Manifest) -> str:
    parts = PurePosixPath(rel).parts
    if rel in manifest.files:
        return "submission"
    if any(p.startswith("hidden_") for p in parts):
        return "hidden"
    if parts[0] == "tests" and len(parts) == 2 and parts[1].startswith("public_"):
        return "public_test"
    return "shared"


def _read_source(source: Path, manifest: Manifest) -> list[_File]:
    files = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        if any(_IGNORED.match(p) for p in PurePosixPath(rel).parts) or path.is_dir():
            continue
        if rel == MANIFEST_NAME:
            continue
        if path.is_symlink():
            raise AssignError(f"{path}: symbolic links are not copied into assignments; "
                              f"put the file itself here")
        notebook = _notebook_for(rel, manifest)
        if path.suffix == ".ipynb" and notebook is None:
            raise AssignError(f"{path}: .ipynb files are processed only as the assignment's "
                              f"notebook (assignment.toml: files = [\"{rel}\"]); keep other "
                              f"notebooks as jupytext py:percent .py files")
        if notebook is not None:
            if notebook in {f.rel for f in files}:
                raise AssignError(f"{path}: {notebook} comes from two sources here; keep one "
                                  f"(the py:percent .py or the .ipynb)")
            text = percent_text(path)
            try:
                files.append(_File(notebook, "submission", text.encode(),
                                   transform(text, str(path)), notebook=True))
            except MarkerError as exc:
                raise AssignError(str(exc)) from None
            continue
        f = _File(rel, _role(rel, manifest), path.read_bytes())
        if path.suffix == ".py":
            try:
                f.versions = transform(f.data.decode("utf-8"), str(path))
            except UnicodeDecodeError:
                raise AssignError(f"{path}: not UTF-8 text") from None
        files.append(f)
    present = {f.rel for f in files}
    missing = [name for name in manifest.files if name not in present]
    if missing:
        raise AssignError(f"{source / MANIFEST_NAME}: files lists {', '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not in {source}")
    return files


def _check_out(source: Path, out: Path) -> None:
    """Refuse an OUT that ``assign`` may not write (nothing is written here)."""
    if out == source or source in out.parents:
        raise AssignError(f"OUT ({out}) must not be inside SOURCE ({source}): it would be "
                          f"copied into the next run")
    if out in source.parents:
        raise AssignError(f"OUT ({out}) must not contain SOURCE ({source})")
    if out.exists():
        if not out.is_dir():
            raise AssignError(f"OUT ({out}) is a file; give a folder")
        if any(out.iterdir()) and not (out / STAMP).exists():
            raise AssignError(f"OUT ({out}) is not empty and was not written by edu-nn assign; "
                              f"give a new or empty folder")


_OUTPUTS = ("student", "solution", "autograder", "autograder.zip")


def _move_into_place(staging: Path, out: Path) -> None:
    """Replace OUT's outputs by the staged ones (renames on one file system)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _OUTPUTS:
        old = out / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
    for name in _OUTPUTS:
        if (staging / name).exists():
            os.replace(staging / name, out / name)
    (out / STAMP).write_text("written by edu-nn assign; a re-run replaces student/, "
                             "solution/, autograder/ and autograder.zip\n")
    shutil.rmtree(staging, ignore_errors=True)


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def pin_requirements(requires: list[str], where: str = MANIFEST_NAME) -> list[str]:
    """``name==version`` for each required distribution, the version installed here (where
    the solution is validated). Raises :class:`AssignError` for one that is not installed."""
    pins = []
    for name in requires:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise AssignError(
                f"{where}: requires lists {name!r}, which is not installed in this environment "
                f"({sys.executable}): install it (pip install {name}) and run edu-nn assign "
                f"again; the autograder installs the version the solution was validated "
                f"with here") from None
        pins.append(f"{name}=={version}")
    return pins


def assign(source: str | Path, out: str | Path, *, validate: bool = True,
           wheel: str | Path | None = None, pypi: bool = False,
           backend: str = "numpy", validate_in: str = "setup") -> AssignResult:
    """Generate ``OUT/student``, ``OUT/solution``, ``OUT/autograder`` and the zip.

    Args:
        source: the instructor's assignment folder.
        out: where to write (new, empty, or written by an earlier ``assign``).
        validate: grade the solution (full marks) and the stubs (0 on each graded test), and
            scan the student files for leaks; on failure raise :class:`ValidationError`.
        wheel: an edu_nn wheel or sdist to bundle; default: build one from this checkout.
        pypi: bundle nothing; setup.sh installs ``edu-nn==<this version>`` from PyPI.
        backend: the edu_nn backend the autograder grades with (numpy, torch or jax).
        validate_in: ``"setup"`` (default): grade in an environment built by the generated
            setup.sh in a temporary AUTOGRADER_ROOT (needs what setup.sh needs: pip and its
            index or cache); ``"current"``: grade in this process (fast; drafts and tests).

    Nothing is written to ``out`` unless every step succeeds; on failure the staging folder
    (next to ``out``) is kept and named in the error.
    """
    if validate_in not in VALIDATE_IN:
        raise AssignError(f"validate_in must be one of {', '.join(VALIDATE_IN)}, got "
                          f"{validate_in!r}")
    source, out = Path(source).resolve(), Path(out).resolve()
    if not source.is_dir():
        raise AssignError(f"SOURCE ({source}) is not a folder")
    try:
        manifest = load_manifest(source)
        files = _read_source(source, manifest)
    except (ManifestError, MarkerError) as exc:
        raise AssignError(str(exc)) from None

    tests = []
    for f in files:
        if f.rel.startswith("tests/") and f.rel.endswith(".py"):
            every = discover_tests(f.solution_bytes.decode(), f.rel, public=False)
            shown = {t.name for t in discover_tests(f.student_bytes.decode(), f.rel, True)} \
                if f.role != "hidden" else set()
            for t in every:
                t.public = t.name in shown
            tests += every
    _check_tests(manifest, tests, source)
    _check_questions(files, tests)
    public = {t.name for t in tests if t.public}
    _check_out(source, out)
    pins = pin_requirements(manifest.requires, str(source / MANIFEST_NAME))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        result = _generate(staging, files, manifest, tests, public, source, pins,
                           wheel=wheel, pypi=pypi, backend=backend, validate=validate,
                           validate_in=validate_in)
    except ValidationError:
        raise
    except AssignError as exc:
        raise AssignError(f"{exc}\n(nothing was written to OUT; the partial output is in "
                          f"{staging})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _move_into_place(staging, out)
    for name in ("student", "solution", "autograder"):
        setattr(result, name, out / name)
    result.out, result.zip = out, out / "autograder.zip"
    return result


def _generate(staging: Path, files: list[_File], manifest: Manifest, tests: list[TestInfo],
              public: set[str], source: Path, pins: list[str], *, wheel, pypi: bool,
              backend: str, validate: bool, validate_in: str) -> AssignResult:
    """Write the outputs into ``staging`` and validate them there."""
    student, solution, autograder = (staging / "student", staging / "solution",
                                     staging / "autograder")
    ag_assignment = autograder / "assignment"
    student_manifest = manifest.to_toml([t for t in manifest.tests if t.name in public])
    for f in files:
        _write(ag_assignment, f.rel, f.solution_bytes)
        if f.role == "hidden":
            continue
        _write(student, f.rel, f.student_bytes)
        _write(solution, f.rel, f.solution_bytes if f.role == "submission" else f.student_bytes)
    shutil.copyfile(source / MANIFEST_NAME, ag_assignment / MANIFEST_NAME)
    stubs = {f.rel: list(dict.fromkeys(name for _, name in f.versions.stubs)) for f in files
             if f.role == "submission" and f.versions}
    readme = _student_readme(manifest, tests, stubs, source)
    for root in (student, solution):
        _write(root, MANIFEST_NAME, student_manifest.encode())
        _write(root, "README.md", readme.encode())
    _write_autograder(autograder, manifest, wheel=wheel, pypi=pypi, backend=backend, pins=pins)

    result = AssignResult(staging, student, solution, autograder, None, tests, validate, stubs)
    if validate:
        problems = _static_problems(files, manifest)
        problems += scan_leaks(student, _secrets(files, tests))
        if validate_in == "current":
            problems += _grading_problems(student, solution, ag_assignment, backend)
        else:
            problems += _grading_problems_in_setup(student, solution, autograder, backend,
                                                   staging)
        if problems:
            raise ValidationError(problems, staging)
    result.zip = _zip(autograder, staging / "autograder.zip")
    return result


def _check_tests(manifest: Manifest, tests: list[TestInfo], source: Path) -> None:
    """Errors that no draft can have: unknown or duplicate test names."""
    names = [t.name for t in tests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        where = "; ".join(f"{t.name} in {t.file}:{t.line}" for t in tests if t.name in twice)
        raise AssignError(f"two graded tests have the same name ({where}): rename one")
    for spec in manifest.tests:
        if spec.name not in names:
            raise AssignError(
                f"{source / MANIFEST_NAME}:{spec.line}: [[tests]] names {spec.name!r}, but no "
                f"@graded test of that name is in tests/*.py (found: "
                f"{', '.join(sorted(names)) or 'none'})")
    for t in tests:  # the manifest wins over the decorator
        spec = manifest.test(t.name)
        if spec is not None:
            t.points = spec.points if spec.points is not None else t.points
            t.visibility = spec.visibility or t.visibility


def _check_questions(files: list[_File], tests: list[TestInfo]) -> None:
    """A notebook's question cells (``question="q1" points=20``) name questions whose tests
    (``q1_*``) exist and add up to those points; written cells have points."""
    from .notebook import _cells_from_percent
    for f in files:
        if not f.notebook:
            continue
        for cell in _cells_from_percent(f.data.decode("utf-8")):
            meta = cell["metadata"]
            if "written" in meta and not isinstance(meta.get("points"), (int, float)):
                raise AssignError(f"{f.rel}: the written answer {meta['written']!r} has no "
                                  f"points: write points=N in its cell header")
            if "question" not in meta:
                continue
            name = str(meta["question"])
            mine = [t for t in tests if t.name.startswith(f"{name}_")]
            if not mine:
                raise AssignError(f"{f.rel}: question {name!r} has no graded test (tests of "
                                  f"a question are named {name}_...)")
            total = sum(t.points or 0 for t in mine)
            if "points" in meta and abs(float(meta["points"]) - total) > 1e-9:
                raise AssignError(
                    f"{f.rel}: question {name!r} says points={meta['points']}, but its tests "
                    f"add up to {total:g} ({', '.join(f'{t.name} {t.points}' for t in mine)})")


# ---------------------------------------------------------------- the outputs
def _student_readme(manifest: Manifest, tests: list[TestInfo], stubs: dict[str, list[str]],
                    source: Path) -> str:
    parts = [f"# {manifest.title}", ""]
    own = source / "README.md"
    if own.is_file():
        text = own.read_text(encoding="utf-8").strip()
        if text.startswith("# "):   # the instructor's title replaces ours
            parts = []
        parts += [text, ""]
    todo = [f"- `{file}`: " + (", ".join(f"`{n}`" for n in names) if names
                               else "see the comments in the file") for file, names in
            stubs.items()]
    public = [t for t in tests if t.public]
    points = lambda ts: sum(t.points or 0 for t in ts)  # noqa: E731
    parts += ["## What to do", "",
              "Write the code marked `raise NotImplementedError(...)` (and every `...`) in:", "",
              *todo, "",
              "## Check your work", "",
              "In this folder, run", "", "    edu-nn check", "",
              "It runs the public tests on your code (each in a separate process with time "
              "and memory limits) and prints the points of each test; a failed gradient test "
              "shows the worst element, the expected and actual values, and hints.",
              "The exit status is 0 when every public test passes.", ""]
    if public:
        parts += ["| public test | points |", "| --- | --- |",
                  *(f"| `{t.name}` | {t.points if t.points is not None else '?'} |"
                    for t in public), ""]
    hidden_points = points([t for t in tests if not t.public])
    if hidden_points:
        parts += [f"The autograder also runs hidden tests worth {hidden_points:g} points, with "
                  f"other shapes and seeds: passing the public tests is necessary, not "
                  f"sufficient.", ""]
    parts += ["## Submit", "",
              "Upload " + ", ".join(f"`{f}`" for f in manifest.files) + " to Gradescope. "
              "Only these files are graded; the tests and any other file are ignored.", ""]
    return "\n".join(parts)


def _setup_sh(manifest: Manifest, install: str, backend: str, pins: list[str]) -> str:
    extra = {"numpy": "",
             "torch": '"$PY" -m pip install --index-url https://download.pytorch.org/whl/cpu '
                      'torch\n',
             "jax": '"$PY" -m pip install "jax[cpu]"\n'}[backend]
    requirements = ('"$PY" -m pip install -r requirements.txt   # the manifest\'s requires, '
                    'pinned\n') if pins else ""
    from .. import __version__
    return f"""#!/usr/bin/env bash
# Gradescope autograder setup for {manifest.name}, written by `edu-nn assign` (edu_nn {__version__}).
# Gradescope runs this once, as root, with network access, while it builds the autograder
# image; this zip is unpacked in $AUTOGRADER_ROOT/source (AUTOGRADER_ROOT defaults to
# /autograder; `edu-nn assign` and the tests build the same environment in a temporary folder).
# Needs Python >= 3.10 (choose Gradescope's Ubuntu 22.04 base image or newer). Installs numpy,
# edu_nn ({install}) and the packages the tests need (requirements.txt) into a virtual
# environment, $AUTOGRADER_ROOT/venv, which the grader's sandboxed child processes also use.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT/source"
if ! command -v python3 >/dev/null 2>&1; then
    apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else
    "edu_nn needs Python >= 3.10: choose the Ubuntu 22.04 (or newer) base image")'
if ! python3 -m venv --clear "$ROOT/venv"; then
    apt-get update && apt-get install -y --no-install-recommends python3-venv
    python3 -m venv --clear "$ROOT/venv"
fi
PY="$ROOT/venv/bin/python"
"$PY" -m pip install --upgrade pip
"$PY" -m pip install "numpy>=1.24" 'tomli; python_version < "3.11"' {install}
{requirements}{extra}chmod -R a+rX "$ROOT/venv"
"$PY" -m edu_nn info
"""


def _run_autograder(manifest: Manifest, backend: str) -> str:
    return f"""#!/usr/bin/env bash
# Gradescope runs this, as root, once per submission of {manifest.name}: the student's upload
# is in $AUTOGRADER_ROOT/submission and Gradescope reads $AUTOGRADER_ROOT/results/results.json
# (AUTOGRADER_ROOT defaults to /autograder).
# First the source (hidden tests, reference solution), the results folder and the upload are
# locked down: root-owned, readable by root only, so that student code, which the grader runs
# under other uids, cannot read or write them. Then only the files listed in the manifest are
# copied out of the upload (found by name when the upload is nested in a folder), and
# `edu-nn grade` runs each graded call in a sandboxed child process. A results.json is always
# written.
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="$ROOT/venv/bin/python"
ASSIGNMENT="$ROOT/source/assignment"
RESULTS_DIR="$ROOT/results"
RESULTS="$RESULTS_DIR/results.json"
mkdir -p "$RESULTS_DIR" "$ROOT/submission"
umask 077
lock_down() {{   # best effort: a failure here must not cost the student a results.json
    chown -R 0:0 "$@" 2>/dev/null
    chmod -R go-rwx "$@" 2>/dev/null
    chmod 0700 "$@" 2>/dev/null
    return 0
}}
lock_down "$ROOT/source" "$RESULTS_DIR" "$ROOT/submission"
WORK=$(mktemp -d)
"$PY" -m edu_nn.grading.assign collect "$ROOT/submission" "$WORK/submission" "$ASSIGNMENT"
lock_down "$WORK"
"$PY" -m edu_nn grade "$WORK/submission" --assignment "$ASSIGNMENT" --backend {backend} \\
    --out "$RESULTS"
status=$?
if [ ! -s "$RESULTS" ]; then
    cat > "$RESULTS" <<EOF
{{"score": 0.0, "execution_time": 0.0, "visibility": "visible", "tests": [],
 "output": "The autograder failed before it could grade (exit status $status). Please tell the course staff."}}
EOF
fi
rm -rf "$WORK"
exit 0
"""


def build_wheel(dest: str | Path) -> Path:
    """Write an edu_nn wheel for the checkout this edu_nn is imported from, into ``dest``.

    edu_nn is pure Python, so the wheel is written here directly (a zip with the packages
    listed in pyproject.toml, METADATA, WHEEL, entry_points.txt and RECORD, as PEP 427 and
    the core metadata spec describe) rather than by pip and setuptools: that needs neither
    the ``wheel`` package nor setuptools >= 68 in this environment, nor the network that
    pip's build isolation would use to fetch them, and the checkout gets no build/ or
    egg-info. Entries are sorted and dated 1980-01-01, so the same sources give the same
    wheel.
    """
    from .manifest import tomllib
    package = Path(__file__).resolve().parents[1]
    root = package.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "edu-nn"' not in pyproject.read_text():
        raise AssignError(f"edu_nn is not imported from a source checkout ({package}), so "
                          f"no wheel can be built: pass --wheel PATH (a wheel or sdist) or "
                          f"--pypi")
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = config["project"]
    setup = config.get("tool", {}).get("setuptools", {})
    package_dirs = setup.get("package-dir", {})
    name, version = project["name"], project["version"]
    dist_name = re.sub(r"[-_.]+", "_", name)
    info = f"{dist_name}-{version}.dist-info"

    entries: dict[str, bytes] = {}
    for pkg in setup.get("packages", []):
        folder = root / package_dirs.get(pkg, pkg.replace(".", "/"))
        if not folder.is_dir():
            raise AssignError(f"{pyproject}: package {pkg!r} has no folder {folder}")
        for path in sorted(folder.glob("*.py")):
            entries[f"{pkg.replace('.', '/')}/{path.name}"] = path.read_bytes()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                f"Summary: {project.get('description', '')}",
                f"Requires-Python: {project.get('requires-python', '>=3')}"]
    metadata += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        metadata.append(f"Provides-Extra: {extra}")
        metadata += [f'Requires-Dist: {d}; extra == "{extra}"' for d in deps]
    entries[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    entries[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: edu_nn.grading.assign\n"
                                "Root-Is-Purelib: true\nTag: py3-none-any\n").encode()
    groups = {"console_scripts": project.get("scripts", {}),
              **project.get("entry-points", {})}
    points = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n"
                     for group, items in groups.items() if items)
    if points:
        entries[f"{info}/entry_points.txt"] = points.encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        writer.writerow([path, f"sha256={digest.decode()}", len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    entries[f"{info}/RECORD"] = record.getvalue().encode()

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{dist_name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries.items():   # RECORD last, as the spec recommends
            zinfo = zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0))
            zinfo.external_attr = 0o100644 << 16
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zinfo, data)
    return target


def _write_autograder(autograder: Path, manifest: Manifest, *, wheel, pypi: bool,
                      backend: str, pins: list[str]) -> None:
    from .. import __version__
    dist = autograder / "dist"
    if pypi:
        install = f'"edu-nn=={__version__}"'
    else:
        if wheel is None:
            built = build_wheel(dist)
        else:
            wheel = Path(wheel)
            if not wheel.is_file():
                raise AssignError(f"--wheel {wheel}: no such file")
            dist.mkdir(parents=True, exist_ok=True)
            built = dist / wheel.name
            shutil.copyfile(wheel, built)
        install = f"dist/{built.name}"
    if pins:
        (autograder / "requirements.txt").write_text(
            f"# {manifest.name}: the packages its tests need in the grader's process "
            f"(assignment.toml's requires),\n# pinned by edu-nn assign to the versions the "
            f"solution was validated with.\n" + "".join(f"{p}\n" for p in pins))
    for name, text in (("setup.sh", _setup_sh(manifest, install, backend, pins)),
                       ("run_autograder", _run_autograder(manifest, backend))):
        path = autograder / name
        path.write_text(text)
        path.chmod(0o755)


def _grading_problems_in_setup(student: Path, solution: Path, autograder: Path, backend: str,
                               staging: Path) -> list[str]:
    """Grade the solution and the stubs the way Gradescope will: the generated setup.sh
    builds its environment in a temporary AUTOGRADER_ROOT (source/ = the autograder folder),
    and that environment's ``python -m edu_nn grade`` grades. The root is removed after
    success and kept (in the staging folder) when something failed."""
    root = staging / "validation-root"
    shutil.copytree(autograder, root / "source", symlinks=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["AUTOGRADER_ROOT"] = str(root)
    log = root / "setup.log"
    try:
        with open(log, "wb") as f:
            done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env,
                                  stdout=f, stderr=subprocess.STDOUT, timeout=SETUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return [f"setup.sh did not finish in {SETUP_TIMEOUT} s (log: {log})"]
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        return [f"setup.sh failed (exit status {done.returncode}) building the autograder's "
                f"environment in {root}; the end of its log ({log}):\n{tail}\n(use "
                f"--validate-in current to validate in this environment instead)"]
    python = root / "venv" / "bin" / "python"
    graded = {}
    for name, folder in (("solution", solution), ("student", student)):
        out = root / f"results-{name}.json"
        command = [str(python), "-m", "edu_nn", "grade", str(folder), "--assignment",
                   str(root / "source" / "assignment"), "--backend", backend, "--out", str(out)]
        if os.geteuid() != 0:      # no uid drop without root: grade the instructor's own code
            command.append("--unsandboxed")
        # cwd: not a checkout of edu_nn, whose sources `python -m` would import instead
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=root)
        try:
            graded[name] = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            return [f"grading the {name} in the setup.sh environment wrote no results.json "
                    f"({exc}): {_short(done.stderr)}"]
    problems = _results_problems(graded["solution"], graded["student"])
    if not problems:
        shutil.rmtree(root, ignore_errors=True)
    return problems


def _zip(folder: Path, target: Path) -> Path:
    """Zip ``folder``'s contents (setup.sh at the top), keeping executable bits; entries are
    sorted and dated 1980-01-01 so that the same inputs give the same zip."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | (path.stat().st_mode & 0o777)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    return target


# ------------------------------------------------------------------ validation
def _static_problems(files: list[_File], manifest: Manifest) -> list[str]:
    problems = []
    for f in files:
        if f.role == "submission" and f.versions is not None and not f.versions.has_markers:
            problems.append(f"{f.rel} is a submission file without any solution marker: "
                            f"students would get the full solution")
    return problems


def _normal(text: str) -> str:
    return " ".join(text.split())


def _distinctive(text: str) -> bool:
    return len(text) >= MIN_CHARS and len(re.findall(r"\w+|[^\w\s]", text)) >= MIN_TOKENS


@dataclass
class _Secrets:
    lines: list[tuple[str, str]]      # (normalized text, where it comes from)
    words: list[tuple[str, str]]      # (identifier or file name, where it comes from)


def _secrets(files: list[_File], tests: list[TestInfo]) -> _Secrets:
    public_test_text = {_normal(line) for f in files if f.rel.startswith("tests/")
                        and f.role != "hidden" for line in f.student_bytes.decode(
                            errors="replace").splitlines()}
    lines, words = [], []
    for f in files:
        if f.versions is not None:
            lines += [(_normal(t), f"solution line {f.rel}:{i}")
                      for i, t in f.versions.solution_lines if _distinctive(t)]
            lines += [(_normal(t), f"hidden test line {f.rel}:{i}")
                      for i, t in f.versions.hidden_test_lines
                      if _distinctive(t) and _normal(t) not in public_test_text]
        if f.role == "hidden":
            for i, t in enumerate(f.data.decode(errors="replace").splitlines(), 1):
                if _distinctive(t.strip()) and _normal(t) not in public_test_text:
                    lines.append((_normal(t), f"hidden file line {f.rel}:{i}"))
            path = PurePosixPath(f.rel)
            words += [(path.name, f"hidden file name {f.rel}"),
                      (path.stem, f"hidden file name {f.rel}")]
    words += [(t.name, f"hidden test name ({t.file}:{t.line})") for t in tests if not t.public]
    return _Secrets(list(dict.fromkeys(lines)), list(dict.fromkeys(words)))


def scan_leaks(student: Path, secrets: _Secrets) -> list[str]:
    """Every place where a student file shows a marker or a secret."""
    problems = []
    word_patterns = [(re.compile(rf"(?<![\w.]){re.escape(w)}(?![\w])"), w, why)
                     for w, why in secrets.words]
    for path in sorted(student.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(student).as_posix()
        if PurePosixPath(rel).name.startswith("hidden_"):
            problems.append(f"student/{rel}: a hidden_* file is in the student folder")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix == ".ipynb":   # cells, outputs and metadata, JSON escapes undone
            text = notebook_strings(text)
        for i, line in find_marker_strings(text):
            problems.append(f"student/{rel}:{i}: marker text in a student file: {line!r}")
        for i, line in enumerate(text.splitlines(), 1):
            normal = _normal(line)
            for secret, why in secrets.lines:
                if secret in normal:
                    problems.append(f"student/{rel}:{i}: shows the {why}: {secret!r}")
            for pattern, word, why in word_patterns:
                if pattern.search(line):
                    problems.append(f"student/{rel}:{i}: names the {why}: {word!r}")
    return problems


def _grading_problems(student: Path, solution: Path, assignment: Path, backend: str) -> list[str]:
    """Grade the solution and the stubs in this process (``validate_in="current"``)."""
    try:
        solution_results = grade(solution, assignment, include_hidden=True, backend=backend)
    except Exception as exc:  # the engine should not raise; say so clearly if it does
        return [f"grading the reference solution crashed: {type(exc).__name__}: {exc}"]
    try:
        student_results = grade(student, assignment, include_hidden=True, backend=backend)
    except Exception as exc:
        return (_results_problems(solution_results, None) +
                [f"grading the student version crashed: {type(exc).__name__}: {exc}"])
    return _results_problems(solution_results, student_results)


def _results_problems(solution: dict, student: dict | None) -> list[str]:
    """What is wrong with the solution's and the stubs' results.json: the solution must score
    full marks on every test, the stubs 0 on every graded test."""
    problems = []
    if not solution.get("tests"):
        problems.append("grading the reference solution ran no test: " +
                        _short(solution.get("output", "")))
    for t in solution.get("tests", []):
        if t.get("extra_data", {}).get("manual"):    # written answers: graded by hand
            continue
        if t.get("score", 0) < t.get("max_score", 0) - 1e-9:
            problems.append(f"the reference solution fails {t['name']} ({t.get('score')}/"
                            f"{t.get('max_score')}): {_short(t.get('output', ''))}")
    for t in (student or {}).get("tests", []):
        if t.get("max_score", 0) > 0 and t.get("score", 0) > 0:
            problems.append(f"the unmodified student version scores {t['score']}/"
                            f"{t['max_score']} on {t['name']}: a graded test must fail on the "
                            f"stubs (does it test code the student writes?)")
    return problems


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ..."


# ------------------------------------------------------------ run_autograder's helper
#: A submitted file larger than this is not copied (a student upload is source code).
MAX_FILE_BYTES = 5 * 2 ** 20


def collect_submission(upload: str | Path, dest: str | Path,
                       assignment: str | Path) -> list[str]:
    """Copy the manifest's files out of a Gradescope upload into ``dest``.

    A file is taken from its own path in the upload, or, when the upload is nested in a
    folder (a zip or a GitHub repository), from the one path that ends with it (the
    shallowest when several do). Symbolic links and files over 5 MiB are never copied.

    Returns:
        The manifest's files that were not found (the grader reports them).
    """
    upload, dest = Path(upload), Path(dest)
    manifest = load_manifest(assignment)
    dest.mkdir(parents=True, exist_ok=True)
    candidates = []   # regular files, never through a symbolic link, shallowest first
    for folder, _, names in os.walk(upload, followlinks=False):
        candidates += [Path(folder) / n for n in names if not os.path.islink(Path(folder) / n)
                       and os.path.isfile(Path(folder) / n)]
    candidates.sort(key=lambda p: (len(p.parts), str(p)))
    missing = []
    for name in manifest.files:
        found, saved = _find(candidates, upload, name), name
        if found is None and name.endswith(".ipynb"):    # the student's exported .py
            saved = name[:-len(".ipynb")] + ".py"
            found = _find(candidates, upload, saved)
        if found is None or found.stat().st_size > MAX_FILE_BYTES:
            missing.append(name)
            continue
        target = dest / saved
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, target)
    return missing


def _find(candidates: list[Path], upload: Path, name: str) -> Path | None:
    return next((p for p in candidates if p.relative_to(upload).as_posix() == name
                 or p.relative_to(upload).as_posix().endswith("/" + name)), None)


def _main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "collect":
        print("usage: python -m edu_nn.grading.assign collect UPLOAD DEST ASSIGNMENT",
              file=sys.stderr)
        return 2
    missing = collect_submission(*argv[1:])
    for name in missing:
        print(f"not in the submission: {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
