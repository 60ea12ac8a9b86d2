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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import numpy as np

from .graded import GRADED_ATTR, GradedInfo, Submission, TestFailure
from .manifest import ManifestError, load_manifest
from .markers import MarkerError, find_marker_strings, transform
from .notebook import (NotebookError, WrittenAnswer, module_name, read_code_and_answers,
                       written_cells)
from .results import failure_results
from .sandbox import SandboxConfig, SandboxUnavailable, protections, run_call

__all__ = ["grade_submission", "load_tests", "GradedTest", "LoadError", "MAX_SUBMITTED_BYTES",
           "SandboxUnavailable"]

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
        if name.endswith(".ipynb") and not path.exists() and not path.is_symlink():
            path = submission / module_name(name)   # the student's exported .py
            if not path.exists() and not path.is_symlink():
                problems.append(f"{name} is missing: submit your notebook under exactly this "
                                f"name (files graded: {', '.join(files)})")
                continue
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
        if name.endswith(".py") and path.name == PurePosixPath(name).name:
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
        if name.endswith(".ipynb") and not path.exists():   # the exported .py in its place
            path = submission / module_name(name)
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


def _json_float(x: float | None):
    if x is None:
        return None
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "nan")


def grade_submission(submission: str | Path, assignment: str | Path, *,
                     backend: str = "numpy", include_hidden: bool = True,
                     unsandboxed: bool = False, select: str | None = None) -> dict:
    """Grade the submission folder ``submission`` with the tests of ``assignment``.

    Args:
        submission: a folder holding the manifest's files (anything else is ignored).
        assignment: the autograder's assignment folder, or the instructor's source folder.
        backend: the edu_nn backend tests compute references with (numpy, torch, jax).
        include_hidden: also run tests/hidden_*.py (False for ``edu-nn check``).
        unsandboxed: where no jail can be built (the grader is not root), run the student's
            code as this user anyway (``edu-nn check``; ``grade --unsandboxed``). The results'
            staff data say so.
        select: run only the tests whose name contains this text (``edu-nn check -k``).

    Returns:
        Gradescope's results.json structure (always; a submission that cannot be graded gets
        score 0 and a message saying why).

    Raises:
        SandboxUnavailable: no jail here and ``unsandboxed`` is False (nothing was run).
    """
    start = time.perf_counter()
    submission, assignment = Path(submission).resolve(), Path(assignment).resolve()
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    prot = protections()
    if not prot.jail and not unsandboxed:
        raise SandboxUnavailable(
            f"refusing to grade: student code cannot be separated from the grader here "
            f"({prot.why}). Grade as root (e.g. in a container), or pass --unsandboxed "
            f"to run it as this user anyway (never on a shared grading machine).")
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
    except LoadError as exc:
        return failure_results(f"The assignment's tests could not be loaded (tell the course "
                               f"staff): {exc}", time.perf_counter() - start)
    if select:
        tests = [t for t in tests if select in t.name]
    if not submission.is_dir():
        problems = [f"the submission folder {submission} does not exist"]
    else:
        problems = _submission_problems(submission, manifest.files)
    digest = _hash(submission, manifest.files) if submission.is_dir() else ""
    staff = [prot.staff_note()] if prot.staff_note() else []
    if not prot.jail:
        staff.insert(0, "UNSANDBOXED: the student's code ran as the grading user, with "
                        "limits only")
    for note in staff:
        if note not in _warned:
            _warned.add(note)
            print(f"edu-nn grade: {note}", file=sys.stderr)

    results_tests = []
    deadline = time.monotonic() + manifest.time_budget
    with tempfile.TemporaryDirectory(prefix="edu-nn-grade-") as tmp:
        files, written = _graded_files(submission, assignment, manifest.files, Path(tmp),
                                       problems)
        config = SandboxConfig(
            files=files,
            drivers=_drivers(assignment, Path(tmp)), memory_mb=manifest.memory_mb,
            block_imports=manifest.block_imports, unsandboxed=unsandboxed)
        hung = {} if problems else _import_probe(config, manifest.import_timeout)
        config.hung = hung
        for number, test in enumerate(tests, 1):
            results_tests.append(_run_test(test, number, config, backend, problems,
                                           manifest.name, digest, deadline, hung))
    if not select and include_hidden:     # not in `edu-nn check`: graded by hand later
        results_tests += [_written_test(w, len(results_tests) + 1, digest) for w in written]
    score = sum(t["score"] for t in results_tests)
    lines = []
    if problems:
        lines.append("This submission cannot be graded:\n" +
                     "\n".join(f"  - {p}" for p in problems))
    if hung:
        lines.append("Importing your code never finished, so the tests that need it failed at "
                     "once:\n" + "\n".join(f"  - {why}" for why in dict.fromkeys(hung.values())))
    if not results_tests:
        lines.append("No graded test was found (tell the course staff)." if not select else
                     f"No test name contains {select!r}.")
    extra = {"assignment": manifest.name, "backend": backend, "submission_sha256": digest,
             "include_hidden": include_hidden, "sandbox": prot.summary(),
             "status": "ungradable" if problems else
             "timeout" if any(t["extra_data"].get("timed_out") for t in results_tests)
             else "graded"}
    staff += [s for t in results_tests for s in t["extra_data"].pop("staff", [])]
    if staff:
        extra["staff"] = staff
    return {"score": float(score), "execution_time": round(time.perf_counter() - start, 3),
            "output": "\n".join(lines), "visibility": "visible",
            "extra_data": extra, "tests": results_tests}


def _graded_files(submission: Path, assignment: Path, names: list[str], tmp: Path,
                  problems: list[str]) -> tuple[dict[str, Path], list[WrittenAnswer]]:
    """The files the sandbox imports (name -> path) and the written answers.

    A notebook (``hw4.ipynb``, or the student's exported ``hw4.py`` in its place) is read
    here, in the grader's process, as untrusted data (see :mod:`edu_nn.grading.notebook`)
    and its code cells become the module ``hw4.py``; nothing of it runs here. A notebook
    that cannot be read adds to ``problems`` (the submission is then ungradable)."""
    files: dict[str, Path] = {}
    written: list[WrittenAnswer] = []
    for name in names:
        if not name.endswith(".ipynb"):
            files[name] = submission / name
            continue
        module = module_name(name)
        spec = assignment / name if (assignment / name).is_file() else assignment / module
        try:
            written += written_cells(spec) if spec.is_file() else []
        except NotebookError as exc:
            problems.append(f"the assignment's notebook cannot be read (tell the course "
                            f"staff): {exc}")
        target = tmp / "notebooks" / module
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("", encoding="utf-8")
        files[module] = target
        if problems:
            continue
        path = submission / name if (submission / name).is_file() else submission / module
        try:
            code, answers = read_code_and_answers(path)
        except (NotebookError, OSError) as exc:
            problems.append(str(exc))
            continue
        target.write_text(code, encoding="utf-8")
        for w in written:
            w.text = answers.get(w.name)
    return files, written


def _written_test(w: WrittenAnswer, number: int, digest: str) -> dict:
    """A written answer in results.json: its points, pending (graded by hand)."""
    shown = w.text.strip() if w.text and w.text.strip() else None
    return {"name": f"{w.name} (written answer)", "number": str(number), "score": 0.0,
            "max_score": float(w.points), "status": "failed",
            "output": "manual: graded by hand by the course staff (pending). " +
                      (f"Your answer:\n\n{shown[:10_000]}" if shown else
                       "No answer was found in your notebook (the cell marked for it)."),
            "visibility": "visible",
            "extra_data": {"manual": True, "pending": True, "answer": shown,
                           "submission_sha256": digest}}


def _import_probe(config: SandboxConfig, limit: float) -> dict[str, str]:
    """Import each submitted module and each driver once, in parallel, under ``limit``
    seconds: name -> why, for those whose import never finished. A hang at import is then
    paid once, not by every test (an import that raises is left to the tests: they show it)."""
    names = [n for n in config.files if n.endswith(".py")] + list(config.drivers)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        done = list(pool.map(lambda n: run_call(config, "import", n, "", (), {}, limit), names))
    return {name: f"importing {name} took longer than {limit:g} s: an infinite loop or heavy "
                  f"work at the top level of your file (put it in a function)?"
            for name, result in zip(names, done) if result.timed_out}


def _run_test(test: GradedTest, number: int, config: SandboxConfig, backend: str,
              problems: list[str], assignment_name: str, digest: str, deadline: float,
              hung: dict[str, str]) -> dict:
    seed = _seed(assignment_name, test.name)
    sub = Submission(config, backend=backend, timeout=test.timeout, deadline=deadline,
                     hung=hung)
    started = time.perf_counter()
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
             "call_seconds": round(sub.seconds, 3),
             "seconds": round(time.perf_counter() - started, 3), "timed_out": sub.timed_out}
    if sub.seeds:
        extra["secret_seeds"] = sub.seeds
    if sub.staff:
        extra["staff"] = sub.staff
    return {"name": test.name, "number": str(number), "score": float(score),
            "max_score": float(test.points), "status": status, "output": output[:20_000],
            "visibility": test.visibility, "extra_data": extra}
