"""The per-backend test accounting in conftest.py, run on tiny pytest sessions.

Each test copies the real tests/conftest.py into a fresh directory (pytester) next to a small
test file and runs pytest there in a subprocess, with EDU_NN_TEST_BACKENDS=numpy so that no
session imports torch or jax. CI relies on this: with EDU_NN_REQUIRE_BACKENDS=numpy,torch,jax
a run where a backend's tests were all skipped, or never collected, must fail.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()

TESTS = '''
import pytest


def test_on_each_backend(backend_name):
    assert backend_name == "numpy"


@pytest.mark.parametrize("n", [1, 2])
def test_twice_on_each_backend(backend_name, n):
    pass


def test_backend_neutral():
    pass


def test_skipped_on_purpose(backend_name):
    pytest.skip("not about this backend")
'''


# Sessions run in one process; the tests marked with WORKERS run once more on two
# pytest-xdist workers (how the suite runs by default), where the reports reach the counting
# process from other processes.
ONE_PROCESS = ("-p", "no:xdist")
WORKERS = pytest.mark.parametrize("session", [
    pytest.param(ONE_PROCESS, id="one-process"),
    pytest.param(("-n", "2"), id="xdist-2-workers")], indirect=True)


@pytest.fixture
def session(pytester, monkeypatch, request):
    """Run a pytest session over TESTS (plus ``extra`` source) with EDU_NN_REQUIRE_BACKENDS
    set to ``required`` (None: unset); returns pytester's RunResult."""
    workers = getattr(request, "param", ONE_PROCESS)
    if "-n" in workers:
        pytest.importorskip("xdist")
    def run(required: str | None, extra: str = ""):
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_tiny=TESTS + extra)
        monkeypatch.setenv("EDU_NN_TEST_BACKENDS", "numpy")
        if required is None:
            monkeypatch.delenv("EDU_NN_REQUIRE_BACKENDS", raising=False)
        else:
            monkeypatch.setenv("EDU_NN_REQUIRE_BACKENDS", required)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers,
                                             timeout=120)
    return run


@WORKERS
def test_counts_tests_that_ran_per_backend(session):
    result = session(None)
    result.assert_outcomes(passed=4, skipped=1)
    # 3 ran on numpy; the skipped one and the backend-neutral one are not counted
    result.stdout.fnmatch_lines(["edu_nn tests run per backend: numpy=3 torch=0 jax=0*"
                                 "(skipped: numpy=1)"])


def test_required_backends_that_ran_pass(session):
    result = session("numpy")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["edu_nn tests run per backend: numpy=3 *"])
    result.stdout.no_fnmatch_line("*EDU_NN_REQUIRE_BACKENDS:*")


def test_a_required_backend_on_which_nothing_ran_fails_the_session(session):
    """A backend that is not registered (so nothing is collected for it, and the fixture
    cannot notice) still fails the run, although every test passed."""
    result = session("numpy,edu_nn_no_such_backend")
    result.assert_outcomes(passed=4, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*EDU_NN_REQUIRE_BACKENDS: backend 'edu_nn_no_such_backend' "
                                 "is required, but no test ran on it*"])
    result.stdout.no_fnmatch_line("*backend 'numpy' is required*")


@WORKERS
def test_a_required_backend_skipped_as_not_installed_fails_the_session(session):
    """A test that ran on a backend does not excuse another that skipped because the
    backend is missing (the reason conftest's backend_name fixture gives)."""
    extra = '''

@pytest.mark.parametrize("backend_name", ["ghost"])
def test_runs_on_ghost(backend_name):
    pass


def test_needs_ghost():
    pytest.skip("backend 'ghost' not installed")
'''
    result = session("numpy,ghost", extra)
    result.assert_outcomes(passed=5, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "edu_nn tests run per backend: numpy=3 * ghost=1*",
        "*EDU_NN_REQUIRE_BACKENDS: backend 'ghost' is required, but 1 test(s) were skipped "
        "because it is not installed: test_tiny.py::test_needs_ghost*"])
    result.stdout.no_fnmatch_line("*no test ran on it*")
    # not required, the same skip is only a skip
    again = session("numpy", extra)
    assert again.ret == pytest.ExitCode.OK, again.stdout.str()[-2000:]


def test_the_parallel_addopts_work_without_xdist(pytester, monkeypatch):
    """pyproject.toml's addopts ask for xdist workers; with xdist turned off (-p no:xdist,
    or not installed) conftest accepts those options and the session runs in one process."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tiny=TESTS)
    pytester.makeini("[pytest]\naddopts = -ra --numprocesses=auto --dist=loadgroup\n")
    monkeypatch.setenv("EDU_NN_TEST_BACKENDS", "numpy")
    monkeypatch.delenv("EDU_NN_REQUIRE_BACKENDS", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:xdist", "-p", "no:cacheprovider",
                                           timeout=120)
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["edu_nn tests run per backend: numpy=3 *"])
    result.stdout.no_fnmatch_line("*created: * workers*")   # no xdist worker was started
