"""``edu-nn check [PATH]``: a student runs the public tests of an assignment on their code.

PATH (default: the current folder) is a student folder written by ``edu-nn assign``: it holds
``assignment.toml``, the files to write and ``tests/public_*.py``. The tests run through the
same grader as on Gradescope (each graded call in a separate, limited process), public tests
only. The report gives each test's points, pass or fail, and the test's own feedback (for a
gradient: the worst element, expected and actual values, hints). ``select`` (``-k NAME``)
runs only the public tests whose names contain NAME, as ``pytest -k`` does for a plain word.
Exit status: 0 when every public test (selected) passes, 1 when one fails, 2 when the folder
is not an assignment or no public test matches ``-k``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from .manifest import MANIFEST_NAME, ManifestError, load_manifest

__all__ = ["check", "format_report"]

_COLORS = {"pass": "\033[32m", "fail": "\033[31m", "dim": "\033[2m", "bold": "\033[1m",
           "end": "\033[0m"}


def _use_color(mode: str, stream: TextIO) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def format_report(results: dict, title: str, color: bool = False) -> tuple[str, bool]:
    """The text of a check report from a results.json structure; and whether all passed."""
    paint = (lambda text, how: f"{_COLORS[how]}{text}{_COLORS['end']}") if color else \
        (lambda text, how: text)
    tests = results.get("tests", [])
    width = max([len(str(t.get("name", ""))) for t in tests] + [10])
    lines = [paint(f"edu-nn check: {title} (public tests)", "bold"), ""]
    passed = 0
    for t in tests:
        score, top = float(t.get("score", 0)), float(t.get("max_score", 0))
        ok = t.get("status") == "passed" if "status" in t else score >= top
        passed += ok
        mark = paint("PASS", "pass") if ok else paint("FAIL", "fail")
        lines.append(f"  {mark}  {str(t.get('name', '?')).ljust(width)}  "
                     f"{score:g} / {top:g} points")
        output = str(t.get("output") or "").rstrip()
        if output and not ok:
            lines += [f"        {line}" for line in output.splitlines()]
        extra = t.get("extra_data") or {}
        if not ok and extra.get("max_error") is not None and "max error" not in output.lower():
            tol = extra.get("tolerance")
            lines.append(paint(f"        max error {extra['max_error']}"
                               + (f" (tolerance {tol})" if tol is not None else ""), "dim"))
    total = sum(float(t.get("score", 0)) for t in tests)
    top = sum(float(t.get("max_score", 0)) for t in tests)
    all_ok = bool(tests) and passed == len(tests)
    lines.append("")
    if not tests:
        lines.append(paint("no test ran", "fail"))
    summary = f"{passed} of {len(tests)} public tests passed, {total:g} / {top:g} points"
    lines.append(paint(summary, "pass" if all_ok else "fail"))
    note = str(results.get("output") or "").strip()
    if note:
        lines += ["", paint(note, "dim")]
    if all_ok:
        lines.append("The autograder also runs hidden tests (other shapes and seeds) after you "
                     "submit.")
    return "\n".join(lines), all_ok


def _public_test_names(folder: Path) -> list[str]:
    """The @graded tests of tests/public_*.py, found statically (nothing is run)."""
    from .assign import AssignError, discover_tests
    names = []
    for path in sorted((folder / "tests").glob("public_*.py")):
        try:
            names += [t.name for t in discover_tests(path.read_text(encoding="utf-8"),
                                                     path.name, True)]
        except (AssignError, UnicodeDecodeError):
            continue
    return names


def check(path: str | Path = ".", *, backend: str = "numpy", color: str = "auto",
          stream: TextIO | None = None, select: str | None = None) -> int:
    """Run the public tests of the student folder ``path`` (only those whose names contain
    ``select``, when given), print the report, return the exit status (0 all passed, 1
    something failed, 2 not an assignment folder or no test matches ``select``)."""
    stream = stream or sys.stdout
    folder = Path(path).resolve()
    if not (folder / MANIFEST_NAME).is_file():
        print(f"edu-nn check: no {MANIFEST_NAME} in {folder}.\nRun it inside your assignment's "
              f"folder (the one with {MANIFEST_NAME}, your files and tests/), or pass that "
              f"folder: edu-nn check path/to/assignment", file=sys.stderr)
        return 2
    try:
        manifest = load_manifest(folder)
    except ManifestError as exc:
        print(f"edu-nn check: {exc}", file=sys.stderr)
        return 2
    from .assign import grade
    if select is not None:
        names = _public_test_names(folder)
        if not any(select in name for name in names):
            print(f"edu-nn check: no public test name contains {select!r}; the public tests "
                  f"are: {', '.join(names) or 'none'}", file=sys.stderr)
            return 2
    # a student running their own code: no jail needed (one is used where root can build it)
    results = grade(folder, folder, include_hidden=False, backend=backend, select=select,
                    unsandboxed=True)
    title = manifest.title or manifest.name
    text, ok = format_report(results, title + (f", -k {select}" if select else ""),
                             color=_use_color(color, stream))
    print(text, file=stream)
    return 0 if ok else 1
