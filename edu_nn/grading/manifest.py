"""``assignment.toml``: what an assignment is made of, read with ``tomllib`` and checked.

    name = "hw1_autograd"                 # letters, digits, _ . -
    title = "Homework 1: autograd"        # optional (default: name)
    files = ["autograd_ops.py"]           # what a submission contains; only these files are
                                          # copied next to the student's code when grading
    default_timeout = 10                  # seconds per graded call (optional, default 10)
    import_timeout = 15                   # seconds to import each submitted file (optional):
                                          # a file that hangs at import fails every test at once
    time_budget = 480                     # seconds for grading one whole submission (optional;
                                          # keep it under the platform's limit: Gradescope's
                                          # default is 600); later tests fail when it is used up
    memory_mb = 1024                      # memory limit of a graded call (optional, default 1024)
    block_imports = ["sklearn"]           # more modules graded code may not import (optional;
                                          # torch and jax always are): e.g. the library that
                                          # holds a training test's held-out labels
    requires = ["scikit-learn"]           # packages the tests need in the grader's process
                                          # (optional; distribution names as pip knows them):
                                          # `edu-nn assign` pins each to the version installed
                                          # where the solution was validated, and setup.sh
                                          # installs them

    [[tests]]                             # optional per-test settings; tests themselves are
    name = "test_mul_backward"            # found in tests/public_*.py and tests/hidden_*.py
    points = 5                            # >= 0
    visibility = "visible"                # Gradescope's: visible, hidden, after_due_date,
                                          # after_published
    timeout = 20                          # seconds, overrides default_timeout

A test's points, visibility and timeout may also be given on its ``@graded(...)`` decorator;
the manifest wins where both are given. Every problem is a :class:`ManifestError` whose text
starts with ``assignment.toml:line:`` where the line can be found.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (Gradescope's Ubuntu 22.04 image): pip install tomli
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["Manifest", "TestSpec", "ManifestError", "load_manifest", "parse_manifest",
           "VISIBILITIES", "MANIFEST_NAME"]

MANIFEST_NAME = "assignment.toml"
#: Gradescope's visibility vocabulary.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
_TOP_KEYS = ("name", "title", "files", "default_timeout", "memory_mb", "block_imports",
             "import_timeout", "time_budget", "requires", "tests")
_TEST_KEYS = ("name", "points", "visibility", "timeout")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A distribution name (PEP 508 names; no version: ``edu-nn assign`` pins the version).
_DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


class ManifestError(ValueError):
    """A problem in ``assignment.toml``; ``str()`` is ``path:line: message``."""

    def __init__(self, path: str, lineno: int | None, message: str) -> None:
        where = f"{path}:{lineno}" if lineno else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.lineno, self.message = str(path), lineno, message


@dataclass(frozen=True)
class TestSpec:
    """One ``[[tests]]`` table: settings that override the test's decorator."""
    name: str
    points: float | None = None
    visibility: str | None = None
    timeout: float | None = None
    line: int | None = None    # where the table starts in the file


@dataclass
class Manifest:
    name: str
    files: list[str]
    title: str = ""
    default_timeout: float = 10.0
    memory_mb: int = 1024
    tests: list[TestSpec] = field(default_factory=list)
    path: str = MANIFEST_NAME
    block_imports: list[str] = field(default_factory=list)
    import_timeout: float = 15.0
    time_budget: float = 480.0
    requires: list[str] = field(default_factory=list)

    def test(self, name: str) -> TestSpec | None:
        """The ``[[tests]]`` entry named ``name``, or None."""
        return next((t for t in self.tests if t.name == name), None)

    def to_toml(self, tests: list[TestSpec] | None = None) -> str:
        """This manifest as TOML text, with only ``tests`` (default: all) in it."""
        lines = [f"name = {_toml(self.name)}", f"title = {_toml(self.title)}",
                 f"files = {_toml(self.files)}",
                 f"default_timeout = {_toml(self.default_timeout)}",
                 f"memory_mb = {_toml(self.memory_mb)}",
                 f"import_timeout = {_toml(self.import_timeout)}",
                 f"time_budget = {_toml(self.time_budget)}"]
        if self.block_imports:
            lines.append(f"block_imports = {_toml(self.block_imports)}")
        if self.requires:
            lines.append(f"requires = {_toml(self.requires)}")
        for t in self.tests if tests is None else tests:
            lines += ["", "[[tests]]", f"name = {_toml(t.name)}"]
            lines += [f"{key} = {_toml(getattr(t, key))}" for key in _TEST_KEYS[1:]
                      if getattr(t, key) is not None]
        return "\n".join(lines) + "\n"


def load_manifest(path: str | Path) -> Manifest:
    """Read and check ``assignment.toml`` (``path`` may be the file or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(str(path), None, f"no {MANIFEST_NAME} here: an assignment folder "
                                             f"holds one (name, files, [[tests]])")
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))


def parse_manifest(text: str, path: str = MANIFEST_NAME) -> Manifest:
    """Parse and check the text of an ``assignment.toml``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ManifestError(path, int(line.group(1)) if line else None,
                            f"not valid TOML: {exc}") from None
    where = _Locator(text)

    def fail(message: str, key: str | None = None, table: int | None = None):
        raise ManifestError(path, where.line(key, table), message)

    for key in data:
        if key not in _TOP_KEYS:
            fail(f"unknown key {key!r}{_did_you_mean(key, _TOP_KEYS)}; the keys are "
                 f"{', '.join(_TOP_KEYS)}", key)
    for key in ("name", "files"):
        if key not in data:
            fail(f"missing {key!r} (e.g. name = \"hw1_autograd\", files = [\"ops.py\"])")

    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        fail(f"name must be a string of letters, digits, '_', '.' or '-', got {name!r}", "name")
    title = data.get("title", name)
    if not isinstance(title, str):
        fail(f"title must be a string, got {title!r}", "title")

    files = data["files"]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        fail("files must be a non-empty list of file names, e.g. files = [\"ops.py\"]", "files")
    for f in files:
        problem = _bad_file_name(f)
        if problem:
            fail(f"files: {f!r} {problem}", "files")
    if len(set(files)) != len(files):
        fail(f"files lists a name twice: {sorted(f for f in set(files) if files.count(f) > 1)}",
             "files")

    timeout = data.get("default_timeout", 10.0)
    if not _positive(timeout):
        fail(f"default_timeout must be a positive number of seconds, got {timeout!r}",
             "default_timeout")
    memory = data.get("memory_mb", 1024)
    if not (isinstance(memory, int) and not isinstance(memory, bool) and memory > 0):
        fail(f"memory_mb must be a positive whole number of megabytes, got {memory!r}",
             "memory_mb")

    import_timeout, budget = data.get("import_timeout", 15.0), data.get("time_budget", 480.0)
    for key, value in (("import_timeout", import_timeout), ("time_budget", budget)):
        if not _positive(value):
            fail(f"{key} must be a positive number of seconds, got {value!r}", key)

    blocked = data.get("block_imports", [])
    if not (isinstance(blocked, list)
            and all(isinstance(b, str) and _IDENTIFIER.match(b) for b in blocked)):
        fail(f"block_imports must be a list of top-level module names, e.g. "
             f"block_imports = [\"sklearn\"], got {blocked!r}", "block_imports")
    if "numpy" in blocked:
        fail("block_imports cannot hold numpy: the grader's own side of every graded call "
             "needs it", "block_imports")

    requires = data.get("requires", [])
    if not (isinstance(requires, list)
            and all(isinstance(r, str) and _DISTRIBUTION.match(r) for r in requires)):
        fail(f"requires must be a list of package names as pip knows them, without versions "
             f"(edu-nn assign pins the installed version), e.g. requires = [\"scikit-learn\"], "
             f"got {requires!r}", "requires")
    if len({_canonical(r) for r in requires}) != len(requires):
        fail(f"requires lists a package twice: {requires!r}", "requires")

    raw_tests = data.get("tests", [])
    if not isinstance(raw_tests, list) or not all(isinstance(t, dict) for t in raw_tests):
        fail("tests must be tables: write each as [[tests]] followed by name = ..., "
             "points = ...", "tests")
    tests, seen = [], {}
    for i, t in enumerate(raw_tests):
        for key in t:
            if key not in _TEST_KEYS:
                fail(f"[[tests]] number {i + 1}: unknown key {key!r}"
                     f"{_did_you_mean(key, _TEST_KEYS)}; the keys are {', '.join(_TEST_KEYS)}",
                     key, i)
        test_name = t.get("name")
        if not isinstance(test_name, str) or not _IDENTIFIER.match(test_name):
            fail(f"[[tests]] number {i + 1}: name must be the test function's name, got "
                 f"{test_name!r}", "name" if "name" in t else None, i)
        if test_name in seen:
            fail(f"test {test_name!r} has two [[tests]] tables (the other is number "
                 f"{seen[test_name] + 1}): keep one", "name", i)
        seen[test_name] = i
        points = t.get("points")
        if points is not None and not (_number(points) and points >= 0):
            fail(f"test {test_name!r}: points must be a number >= 0, got {points!r}",
                 "points", i)
        visibility = t.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            fail(f"test {test_name!r}: visibility must be one of {', '.join(VISIBILITIES)} "
                 f"(Gradescope's words), got {visibility!r}", "visibility", i)
        test_timeout = t.get("timeout")
        if test_timeout is not None and not _positive(test_timeout):
            fail(f"test {test_name!r}: timeout must be a positive number of seconds, got "
                 f"{test_timeout!r}", "timeout", i)
        tests.append(TestSpec(test_name, points, visibility, test_timeout,
                              where.line(None, i)))
    return Manifest(name=name, files=list(files), title=title, default_timeout=timeout,
                    memory_mb=memory, tests=tests, path=path, block_imports=list(blocked),
                    import_timeout=float(import_timeout), time_budget=float(budget),
                    requires=list(requires))


def _canonical(name: str) -> str:
    """PEP 503's normalized form of a distribution name (Scikit_Learn -> scikit-learn)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _bad_file_name(name: str) -> str | None:
    p = PurePosixPath(name)
    if not name or "\\" in name or p.is_absolute() or ".." in p.parts or name != p.as_posix():
        return "must be a plain relative path with '/' (no '..', no leading '/')"
    if p.parts[0] in ("tests", "drivers") or p.name.startswith("hidden_"):
        return "is assignment machinery (tests/, drivers/, hidden_*), not a submission file"
    if p.name == MANIFEST_NAME:
        return "is the manifest itself"
    return None


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive(x) -> bool:
    return _number(x) and x > 0


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _toml(value) -> str:
    """A TOML literal for a str, number, bool or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


class _Locator:
    """Finds the line of a key in TOML text (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.top: dict[str, int] = {}
        self.tables: list[tuple[int, dict[str, int]]] = []  # one per [[tests]]
        current = self.top
        for i, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if re.match(r"^\[\[\s*tests\s*\]\]", stripped):
                self.tables.append((i, {}))
                current = self.tables[-1][1]
            elif stripped.startswith("["):
                current = {}
            else:
                key = re.match(r"""^["']?([A-Za-z0-9_-]+)["']?\s*=""", stripped)
                if key:
                    current.setdefault(key.group(1), i)

    def line(self, key: str | None, table: int | None = None) -> int | None:
        if table is None:
            return self.top.get(key) if key else None
        if table >= len(self.tables):   # tests written as an inline array
            return self.top.get("tests")
        start, keys = self.tables[table]
        return keys.get(key, start) if key else start
