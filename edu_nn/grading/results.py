"""Gradescope's ``results.json``: check its fields and types, and write it.

The structure (https://gradescope-autograders.readthedocs.io/en/latest/specs/)::

    {"score": 7.0,                       # optional when every test has a score
     "execution_time": 3.2,              # seconds, a number
     "output": "text shown to the student",
     "visibility": "visible",
     "extra_data": {...},
     "tests": [{"name": "test_mul_backward", "number": "1", "score": 4.0, "max_score": 4.0,
                "status": "passed", "output": "...", "visibility": "visible",
                "extra_data": {...}}, ...]}
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from .manifest import VISIBILITIES

__all__ = ["validate_results", "write_results", "failure_results", "sanitize"]

_TOP = {"score", "execution_time", "output", "output_format", "test_output_format",
        "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
        "leaderboard"}
_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output",
         "output_format", "tags", "visibility", "extra_data"}
_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def _strings(value, where: str = "results"):
    """Every string in a JSON-like tree (keys too), with where it is."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, f"{where} key")
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def sanitize(value):
    """A copy of ``value`` in which every string is valid Unicode (a lone surrogate, which a
    student's exception message may carry, becomes U+FFFD), so the JSON is valid UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_results(results) -> list[str]:
    """Every way ``results`` departs from Gradescope's results.json format (empty: valid)."""
    problems = []
    if not isinstance(results, dict):
        return [f"results must be a JSON object, got {type(results).__name__}"]
    try:
        json.dumps(results, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"not JSON-serializable as strict JSON (no NaN/inf): {exc}")
    for where, text in _strings(results):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{where} is not valid UTF-8 text (a lone surrogate?)")
    for key in sorted(set(results) - _TOP):
        problems.append(f"unknown top-level key {key!r}")
    tests = results.get("tests")
    if "score" not in results and not (isinstance(tests, list) and tests and
                                       all(isinstance(t, dict) and "score" in t
                                           for t in tests)):
        problems.append("no top-level score and not every test has a score")
    if "score" in results and not _number(results["score"]):
        problems.append(f"score must be a finite number, got {results['score']!r}")
    if "execution_time" in results and not _number(results["execution_time"]):
        problems.append(f"execution_time must be a number, got {results['execution_time']!r}")
    for key in ("output",):
        if key in results and not isinstance(results[key], str):
            problems.append(f"{key} must be a string")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITIES:
            problems.append(f"{key} must be one of {VISIBILITIES}, got {results[key]!r}")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in results and results[key] not in _FORMATS:
            problems.append(f"{key} must be one of {sorted(_FORMATS)}")
    if "extra_data" in results and not isinstance(results["extra_data"], dict):
        problems.append("extra_data must be an object")
    if tests is None:
        return problems
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    for i, t in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(t, dict):
            problems.append(f"{where} must be an object")
            continue
        for key in sorted(set(t) - _TEST):
            problems.append(f"{where}: unknown key {key!r}")
        for key in ("score", "max_score"):
            if key in t and not _number(t[key]):
                problems.append(f"{where}.{key} must be a finite number, got {t[key]!r}")
        if "status" in t and t["status"] not in ("passed", "failed"):
            problems.append(f"{where}.status must be 'passed' or 'failed', got {t['status']!r}")
        for key in ("name", "number", "output"):
            if key in t and not isinstance(t[key], str):
                problems.append(f"{where}.{key} must be a string")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            problems.append(f"{where}.visibility must be one of {VISIBILITIES}")
        if "extra_data" in t and not isinstance(t["extra_data"], dict):
            problems.append(f"{where}.extra_data must be an object")
        if "tags" in t and not (isinstance(t["tags"], list) and
                                all(isinstance(x, str) for x in t["tags"])):
            problems.append(f"{where}.tags must be a list of strings")
        if _number(t.get("score")) and _number(t.get("max_score")) and \
                t["score"] > t["max_score"] + 1e-9:
            problems.append(f"{where}: score {t['score']} exceeds max_score {t['max_score']}")
    return problems


def failure_results(message: str, execution_time: float = 0.0) -> dict:
    """results.json for a submission that could not be graded at all."""
    return {"score": 0.0, "execution_time": round(float(execution_time), 3),
            "output": message, "visibility": "visible", "tests": []}


def write_results(results: dict, path: str | Path) -> Path:
    """Write ``results`` as strict JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sanitize(results), indent=2, allow_nan=False, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
