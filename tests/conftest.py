"""Shared fixtures. ``backend_name`` runs a test once per installed backend.

Backends that are not installed are skipped here; CI sets ``EDU_NN_REQUIRE_BACKENDS``
(e.g. "numpy,torch,jax") to make a missing one an error instead of a skip, and
``EDU_NN_TEST_BACKENDS`` (e.g. "numpy") limits the run to the backends it names.

At the end of a session the hooks at the bottom print how many tests ran on each backend
("edu_nn tests run per backend: numpy=1234 torch=567 jax=432"), and when
``EDU_NN_REQUIRE_BACKENDS`` is set they fail the session if a listed backend ran no test or
had a test skipped for not being installed (otherwise a CI run that silently skipped
torch would still pass).
"""
from __future__ import annotations

import importlib.util
import os
import re

# float64 on JAX needs x64 mode, which must be set before jax is first imported. The tests
# check gradients in float64, so the whole session runs with it (test_torch_jax_backends
# turns it off locally to check the error for float64 without it).
os.environ.setdefault("JAX_ENABLE_X64", "1")
# In CI (CI=true) no backend may be skipped: every backend the README's command installs must
# run its tests, and the accounting hooks below fail the session otherwise.
if os.environ.get("CI") and "EDU_NN_REQUIRE_BACKENDS" not in os.environ:
    os.environ["EDU_NN_REQUIRE_BACKENDS"] = "numpy,torch,jax,array_api_strict"

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI runs the same examples every time (a red CI then always reproduces); local runs explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

import edu_nn  # noqa: E402

BUILTIN = ("numpy", "torch", "jax")


def _installed(name: str) -> bool:
    library = {"numpy": "numpy", "torch": "torch", "jax": "jax"}.get(name)
    return library is None or importlib.util.find_spec(library) is not None


def backend_params():
    required = {b for b in os.environ.get("EDU_NN_REQUIRE_BACKENDS", "numpy").split(",") if b}
    only = {b for b in os.environ.get("EDU_NN_TEST_BACKENDS", "").split(",") if b}
    params = []
    for name in edu_nn.registered_backends():
        if only and name not in only:
            continue
        present = _installed(name)
        try:
            if present:
                edu_nn.get_backend(name)
        except edu_nn.BackendError:
            present = False
        if not present and name in required:
            raise pytest.UsageError(f"backend {name!r} is required (EDU_NN_REQUIRE_BACKENDS) "
                                    f"but is not installed")
        marks = [] if present else [pytest.mark.skip(reason=f"backend {name!r} not installed")]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=backend_params())
def backend_name(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _restore_global_settings():
    """Tests that change the default dtype, backend or device must not leak it into other
    tests. Each test starts from seed 0: edu_nn, like torch, seeds its default generator from
    the OS at import, and a test must not depend on which tests ran before it."""
    dtype = edu_nn.get_default_dtype()
    edu_nn.manual_seed(0)
    yield
    edu_nn.set_default_dtype(dtype)
    edu_nn.set_backend(None)
    edu_nn.set_default_device(None)


# ------------------------------------------------------- per-backend accounting
#: Test parameters that name the backend a test runs on: conftest's ``backend_name`` (opcheck,
#: conformance, ...) and ``name`` in test_torch_jax_backends.py. A value counts when it is a
#: registered backend (any value of ``backend_name`` counts).
BACKEND_PARAMS = ("backend_name", "backend", "name")
#: Fixtures that tie a test to one backend without a parameter (test_torch_jax_backends.py).
BACKEND_FIXTURES = {"torch_backend": "torch", "jax_backend": "jax", "jax_x32": "jax"}
#: Skip reasons that mean "this library is missing" (ours, and pytest.importorskip's).
MISSING = re.compile(r"not installed|could not import|no module named", re.I)
_BACKEND_PROPERTY = "edu_nn_backend"


def _test_backend(item) -> str | None:
    """The backend a collected test runs on, or None for a backend-neutral test."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        registered = set(edu_nn.registered_backends())
        for param in BACKEND_PARAMS:
            value = callspec.params.get(param)
            if isinstance(value, str) and (param == "backend_name" or value in registered):
                return value
    for fixture, backend in BACKEND_FIXTURES.items():
        if fixture in getattr(item, "fixturenames", ()):
            return backend
    return None


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2])
    return str(longrepr)


class BackendAccounting:
    """Counts the tests that ran (passed, failed, xfailed or errored in setup: not skipped)
    on each backend, prints the counts, and enforces EDU_NN_REQUIRE_BACKENDS."""

    def __init__(self) -> None:
        self.ran: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.missing: list[tuple[str, str]] = []  # (nodeid, skip reason) for absent libraries
        self.problems: list[str] = []

    def pytest_collection_modifyitems(self, items):
        # The backend travels on the report as a user property, so the count stays right
        # when reports come from other processes (pytest-xdist).
        for item in items:
            backend = _test_backend(item)
            if backend is not None:
                item.user_properties.append((_BACKEND_PROPERTY, backend))

    def pytest_runtest_logreport(self, report):
        backend = dict(report.user_properties).get(_BACKEND_PROPERTY)
        if report.skipped and not hasattr(report, "wasxfail"):
            if backend is not None:
                self.skipped[backend] = self.skipped.get(backend, 0) + 1
            if MISSING.search(_skip_reason(report)):
                self.missing.append((report.nodeid, _skip_reason(report)))
        elif backend is not None and (report.when == "call"
                                      or (report.when == "setup" and report.failed)):
            self.ran[backend] = self.ran.get(backend, 0) + 1

    def pytest_collectreport(self, report):
        # a whole module skipped at import (pytest.importorskip("torch") at its top)
        if report.skipped and MISSING.search(_skip_reason(report)):
            self.missing.append((report.nodeid, _skip_reason(report)))

    def required_backend_problems(self) -> list[str]:
        """Why backends named in EDU_NN_REQUIRE_BACKENDS were not really tested (empty: fine)."""
        from edu_nn.backends import backend_library
        registered = edu_nn.registered_backends()
        problems = []
        for name in [b for b in os.environ.get("EDU_NN_REQUIRE_BACKENDS", "").split(",") if b]:
            words = {name, backend_library(name) if name in registered else None} - {None}
            missing = [(nodeid, reason) for nodeid, reason in self.missing
                       if any(re.search(rf"\b{re.escape(w)}\b", reason) for w in words)]
            if missing:
                shown = "; ".join(f"{nodeid} ({reason})" for nodeid, reason in missing[:3])
                problems.append(f"backend {name!r} is required, but {len(missing)} test(s) "
                                f"were skipped because it is not installed: {shown}")
            if not self.ran.get(name):
                only = os.environ.get("EDU_NN_TEST_BACKENDS", "")
                why = (f"EDU_NN_TEST_BACKENDS={only} leaves it out" if only and name not in
                       only.split(",") else f"registered backends: {', '.join(registered)}")
                problems.append(f"backend {name!r} is required, but no test ran on it ({why}). "
                                f"Install and select it, or unset EDU_NN_REQUIRE_BACKENDS for "
                                f"a partial run (-k, one file).")
        return problems

    def pytest_sessionfinish(self, session, exitstatus):
        # Runs before the terminal summary is written, so the summary can show the problems.
        # Only the controlling process judges: an xdist worker sees only its share.
        if hasattr(session.config, "workerinput"):
            return
        if session.config.option.collectonly or exitstatus not in (
                pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        self.problems = self.required_backend_problems()
        if self.problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        names = dict.fromkeys([*edu_nn.registered_backends(), *self.ran, *self.skipped])
        counts = " ".join(f"{n}={self.ran.get(n, 0)}" for n in names)
        skipped = " ".join(f"{n}={k}" for n, k in self.skipped.items() if k)
        terminalreporter.write_line(f"edu_nn tests run per backend: {counts}"
                                    + (f" (skipped: {skipped})" if skipped else ""))
        for problem in self.problems:
            terminalreporter.write_line(f"EDU_NN_REQUIRE_BACKENDS: {problem}", red=True,
                                        bold=True)


def pytest_configure(config):
    config.pluginmanager.register(BackendAccounting(), "edu_nn_backend_accounting")


# ------------------------------------------------------- parallel runs (pytest-xdist)
def pytest_addoption(parser, pluginmanager):
    """pyproject.toml's addopts run the suite on pytest-xdist workers (``--numprocesses=auto
    --dist=loadgroup``; docs/testing.md). Where xdist is absent or turned off (``-p no:xdist``)
    those options are accepted and ignored, so the suite runs in one process instead of
    failing on an unknown option. ``-n 0`` also runs in one process, with xdist loaded."""
    if pluginmanager.has_plugin("xdist"):
        return
    group = parser.getgroup("xdist-absent", "pytest-xdist is not loaded: one process")
    group.addoption("--numprocesses", dest="numprocesses", default=None,
                    metavar="N", help="ignored: pytest-xdist is not loaded")
    group.addoption("--dist", dest="dist", default="no", metavar="MODE",
                    help="ignored: pytest-xdist is not loaded")
