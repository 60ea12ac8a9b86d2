"""Grade one submission folder: the engine behind ``edu-nn grade``, ``check`` and ``assign``.

``grade_submission(submission, assignment)`` loads the assignment's test modules (trusted:
they run here, in the grader's process), finds the ``@graded`` tests (``tests/public_*.py``,
and ``tests/hidden_*.py`` unless ``include_hidden=False``), applies the manifest's points,
visibility and timeouts, and runs each test with a :class:`~edu_nn.grading.graded.Submission`
whose ``call``/``run`` execute the student's code in sandboxed children. It never imports the
student's code, never raises for anything a submission does, and returns Gradescope's
results.json structure.

ASSIGNMENT is either the autograder's ``assignment/`` folder written by ``edu-nn assign``
(markers already removed) or the instructor's source folder: test modules and drivers with
markers are turned into their solution version on the fly.
"""
from __future__ import annotations

import ast
import hashlib
import math
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .graded import GRADED_ATTR, GradedInfo, Submission, TestFailure
from .manifest import ManifestError, load_manifest
from .markers import MarkerError, find_marker_strings, transform
from .results import failure_results
from .sandbox import SandboxConfig, protections

__all__ = ["grade_submission", "load_tests", "GradedTest", "LoadError", "MAX_SUBMITTED_BYTES"]

#: A submitted file larger than this is not graded (a submission is source code).
MAX_SUBMITTED_BYTES = 5 * 2 ** 20
_BACKENDS = ("numpy", "torch", "jax")
_warned: set[str] = set()


class LoadError(Exception):
    """The assignment's tests could not be loaded (the instructor's problem)."""


@dataclass
class GradedTest:
    name: str
    fn: Callable
    file: str               # tests/public_ops.py
    points: float
    visibility: str
    timeout: float


def _solution_text(path: Path, hidden_blocks: bool = True) -> str:
    """The file's text with markers processed (an instructor's source folder has them):
    the solution version, or with ``hidden_blocks=False`` the student version (without the
    HIDDEN TESTS blocks)."""
    text = path.read_text(encoding="utf-8")
    if find_marker_strings(text):
        versions = transform(text, str(path))
        text = versions.solution if hidden_blocks else versions.student
    return text


def load_tests(assignment: Path, include_hidden: bool = True) -> list[GradedTest]:
    """Import the test modules of ``assignment`` and collect their ``@graded`` tests, with
    the manifest's overrides applied. Raises :class:`LoadError`."""
    manifest = load_manifest(assignment)
    files = sorted((assignment / "tests").glob("public_*.py"))
    if include_hidden:
        files += sorted((assignment / "tests").glob("hidden_*.py"))
    tests: list[GradedTest] = []
    tests_dir = str(assignment / "tests")
    sys.path.insert(0, tests_dir)       # for helper modules the tests import
    try:
        for path in files:
            rel = path.relative_to(assignment).as_posix()
            module_name = f"_edu_nn_tests_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_" \
                          f"{path.stem}"
            try:
                code = compile(_solution_text(path, include_hidden), str(path), "exec")
                module = types.ModuleType(module_name)
                module.__file__ = str(path)
                sys.modules[module_name] = module
                exec(code, module.__dict__)
            except MarkerError as exc:
                raise LoadError(str(exc)) from None
            except Exception as exc:
                raise LoadError(f"{rel} could not be loaded: {type(exc).__name__}: {exc}") \
                    from exc
            found = [(fn.__code__.co_firstlineno, fn) for fn in vars(module).values()
                     if callable(fn) and isinstance(getattr(fn, GRADED_ATTR, None), GradedInfo)
                     and getattr(fn, "__module__", None) == module_name]
            for _, fn in sorted(found, key=lambda pair: pair[0]):
                info: GradedInfo = getattr(fn, GRADED_ATTR)
                name = info.name or fn.__name__
                spec = manifest.test(name)
                points = spec.points if spec and spec.points is not None else info.points
                tests.append(GradedTest(
                    name, fn, rel, float(points if points is not None else 1.0),
                    (spec.visibility if spec and spec.visibility else None) or info.visibility
                    or "visible",
                    float((spec.timeout if spec and spec.timeout else None) or info.timeout
                          or manifest.default_timeout)))
    finally:
        if tests_dir in sys.path:
            sys.path.remove(tests_dir)
    names = [t.name for t in tests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LoadError(f"two graded tests have the same name: {', '.join(twice)}")
    return tests


def _seed(assignment_name: str, test_name: str) -> int:
    """Each test's own seed, the same on every run (hidden tests get other seeds simply
    because they have other names)."""
    return int.from_bytes(hashlib.sha256(f"{assignment_name}/{test_name}".encode())
                          .digest()[:4], "little")


def _submission_problems(submission: Path, files: list[str]) -> list[str]:
    """Why the submission cannot be graded: missing, oversized or unparsable files.
    Parsed with ``ast.parse`` only: nothing of the student's runs here."""
    problems = []
    for name in files:
        path = submission / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(f"{name} is not a regular file")
            continue
        if not path.is_file():
            problems.append(f"{name} is missing: submit it under exactly this name "
                            f"(files graded: {', '.join(files)})")
            continue
        if path.stat().st_size > MAX_SUBMITTED_BYTES:
            problems.append(f"{name} is larger than {MAX_SUBMITTED_BYTES // 2 ** 20} MiB")
            continue
        if name.endswith(".py"):
            try:
                ast.parse(path.read_bytes(), filename=name)
            except SyntaxError as exc:
                where = f"{name}:{exc.lineno}" if exc.lineno else name
                line = f"\n    {exc.text.rstrip()}" if exc.text else ""
                problems.append(f"{where}: syntax error: {exc.msg}{line}")
            except (ValueError, RecursionError, MemoryError) as exc:
                problems.append(f"{name} cannot be parsed as Python: {type(exc).__name__}")
    return problems


def _hash(submission: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for name in files:
        path = submission / name
        h.update(name.encode() + b"\0")
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                h.update(f.read(MAX_SUBMITTED_BYTES + 1))
        h.update(b"\0")
    return h.hexdigest()


def _drivers(assignment: Path, tmp: Path) -> dict[str, Path]:
    """drivers/*.py as the child gets them (markers removed where present)."""
    out = {}
    folder = assignment / "drivers"
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in rel:
            continue
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_solution_text(path), encoding="utf-8")
        out[rel] = target
    return out


def _secret_folders(assignment: Path) -> list[Path]:
    """Folders a child must not see: the assignment, the folder around it (other
    assignments, the solution next to the autograder) and an ``edu-nn assign`` OUT folder.
    The sandbox keeps any that hold what the child itself needs (edu_nn, the interpreter)."""
    folders = [assignment, assignment.parent]
    if (assignment.parent.parent / ".edu-nn-assign").exists():
        folders.append(assignment.parent.parent)
    return folders


def _json_float(x: float | None):
    if x is None:
        return None
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "nan")


def grade_submission(submission: str | Path, assignment: str | Path, *,
                     backend: str = "numpy", include_hidden: bool = True,
                     sandbox: bool = True, hide: Sequence[str | Path] = (),
                     select: str | None = None) -> dict:  # select: issue 13, helper E
    """Grade the submission folder ``submission`` with the tests of ``assignment``.

    Args:
        submission: a folder holding the manifest's files (anything else is ignored).
        assignment: the autograder's assignment folder, or the instructor's source folder.
        backend: the edu_nn backend tests compute references with (numpy, torch, jax).
        include_hidden: also run tests/hidden_*.py (False for ``edu-nn check``).
        sandbox: False runs children without limits or namespaces (debugging only).
        hide: more folders the children must not see (``grade-all``: the other submissions).

    Returns:
        Gradescope's results.json structure (always; a submission that cannot be graded gets
        score 0 and a message saying why).
    """
    start = time.perf_counter()
    submission, assignment = Path(submission).resolve(), Path(assignment).resolve()
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    if backend == "jax":     # references in float64 need JAX's 64-bit mode
        import jax
        jax.config.update("jax_enable_x64", True)
    try:
        manifest = load_manifest(assignment)
    except ManifestError as exc:
        return failure_results(f"The assignment could not be loaded (tell the course staff): "
                               f"{exc}", time.perf_counter() - start)
    try:
        tests = load_tests(assignment, include_hidden)
        if select is not None:   # issue 13, helper E: `edu-nn check -k NAME` (as pytest -k)
            tests = [t for t in tests if select in t.name]
    except LoadError as exc:
        return failure_results(f"The assignment's tests could not be loaded (tell the course "
                               f"staff): {exc}", time.perf_counter() - start)
    if not submission.is_dir():
        problems = [f"the submission folder {submission} does not exist"]
    else:
        problems = _submission_problems(submission, manifest.files)
    digest = _hash(submission, manifest.files) if submission.is_dir() else ""

    prot = protections() if sandbox else None
    notes = []
    if prot is not None and prot.off_message():
        notes.append(prot.off_message())
        if prot.off_message() not in _warned:
            _warned.add(prot.off_message())
            print(f"edu-nn grade: {prot.off_message()}", file=sys.stderr)
    elif not sandbox:
        notes.append("sandbox=False: the student's code ran without limits or isolation")

    results_tests = []
    with tempfile.TemporaryDirectory(prefix="edu-nn-grade-") as tmp:
        config = SandboxConfig(
            files={name: submission / name for name in manifest.files},
            drivers=_drivers(assignment, Path(tmp)), memory_mb=manifest.memory_mb,
            hide=[*_secret_folders(assignment), submission, *map(Path, hide)],
            block_imports=manifest.block_imports, sandbox=sandbox)
        for number, test in enumerate(tests, 1):
            results_tests.append(_run_test(test, number, config, backend, problems,
                                           manifest.name, digest))
    score = sum(t["score"] for t in results_tests)
    lines = []
    if problems:
        lines.append("This submission cannot be graded:\n" +
                     "\n".join(f"  - {p}" for p in problems))
    if not results_tests:
        lines.append("No graded test was found (tell the course staff).")
    extra = {"assignment": manifest.name, "backend": backend, "submission_sha256": digest,
             "include_hidden": include_hidden}
    if prot is not None:
        extra["sandbox"] = prot.summary()
    return {"score": float(score), "execution_time": round(time.perf_counter() - start, 3),
            "output": "\n".join(lines + notes), "visibility": "visible",
            "extra_data": extra, "tests": results_tests}


def _run_test(test: GradedTest, number: int, config: SandboxConfig, backend: str,
              problems: list[str], assignment_name: str, digest: str) -> dict:
    seed = _seed(assignment_name, test.name)
    sub = Submission(config, backend=backend, timeout=test.timeout)
    status, message = "failed", ""
    if problems:
        message = "not run: the submission cannot be graded:\n" + "\n".join(problems)
    else:
        try:
            test.fn(sub, np.random.default_rng(seed))
            status = "passed"
        except TestFailure as exc:
            message = str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a crashing test is 0 points, not a crash
            message = (f"error while checking the result: {type(exc).__name__}: {exc}\n"
                       f"(if your code's results look right, tell the course staff)")
    fraction = 1.0 if sub.fraction is None else sub.fraction
    score = test.points * fraction if status == "passed" else 0.0
    if status == "passed" and fraction < 1.0:
        status = "failed"
        message = f"partial credit: {fraction:.0%} of the points. {sub.partial_message}".strip()
    output = "\n\n".join(part for part in [message, *sub.outputs] if part)
    worst = max(sub.checks, key=lambda c: (not c.passed, c.max_error), default=None)
    extra = {"max_error": _json_float(worst.max_error) if worst else None,
             "tolerance": {"rtol": worst.rtol, "atol": worst.atol} if worst else None,
             "reference": backend, "dtype": sorted(set(sub.dtypes)) or None, "seed": seed,
             "submission_sha256": digest, "file": test.file,
             "call_seconds": round(sub.seconds, 3)}
    return {"name": test.name, "number": str(number), "score": float(score),
            "max_score": float(test.points), "status": status, "output": output[:20_000],
            "visibility": test.visibility, "extra_data": extra}
