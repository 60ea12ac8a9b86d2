"""The test-module side of grading: ``@graded`` and the ``sub`` object a test receives.

A test module (trusted; it runs in the grader's own process, never next to student code)::

    from edu_nn.grading import graded

    @graded(points=3, visibility="visible", timeout=None)   # assignment.toml overrides these
    def test_mul_backward(sub, rng):
        x, y, g = (rng.standard_normal((3, 4)) for _ in range(3))   # rng: seeded per test
        got = sub.call("toy_ops.py", "mul_backward", x, y, g)        # sandboxed child
        sub.check_close(got, [g * y, g * x], name="mul_backward", rtol=1e-10)

A test passes (full points) when it returns; ``sub.check_close``/``sub.check`` and a failing
``sub.call`` raise :class:`TestFailure` (0 points, its message is the feedback);
``sub.partial(fraction, message)`` gives partial credit.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .gradcheck import diagnose
from .manifest import VISIBILITIES
from .sandbox import CallResult, SandboxConfig, run_call

__all__ = ["graded", "GradedInfo", "TestFailure", "Submission", "GRADED_ATTR"]

GRADED_ATTR = "__edu_nn_graded__"


@dataclass(frozen=True)
class GradedInfo:
    """What ``@graded`` recorded on a test function."""
    points: float | None = None
    visibility: str | None = None
    timeout: float | None = None
    name: str | None = None


def graded(points: float | None = None, visibility: str | None = None,
           timeout: float | None = None, name: str | None = None) -> Callable:
    """Mark ``fn(sub, rng)`` as a graded test worth ``points``.

    Args:
        points: the test's points (default 1; ``[[tests]] points`` in assignment.toml wins).
        visibility: Gradescope's: visible (default), hidden, after_due_date, after_published.
        timeout: seconds per graded call of this test (default: the manifest's
            default_timeout).
        name: the test's name in results.json (default: the function's name).
    """
    if callable(points) and visibility is None and timeout is None and name is None:
        return graded()(points)            # bare @graded
    if points is not None and not (isinstance(points, (int, float)) and not
                                   isinstance(points, bool) and points >= 0):
        raise ValueError(f"@graded: points must be a number >= 0, got {points!r}")
    if visibility is not None and visibility not in VISIBILITIES:
        raise ValueError(f"@graded: visibility must be one of {', '.join(VISIBILITIES)}, got "
                         f"{visibility!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"@graded: timeout must be a positive number of seconds, got "
                         f"{timeout!r}")

    def mark(fn: Callable) -> Callable:
        setattr(fn, GRADED_ATTR, GradedInfo(points, visibility, timeout, name))
        return fn
    return mark


class TestFailure(AssertionError):
    """A graded test failed; the message is the student's feedback."""
    __test__ = False   # not a pytest test class


@dataclass
class _Check:
    name: str
    max_error: float
    rtol: float
    atol: float
    passed: bool


@dataclass
class Submission:
    """The student's submission as a test sees it (parent side; holds no student code).

    Attributes:
        backend: "numpy", "torch" or "jax": the backend to compute references with.
        deadline: ``time.monotonic()`` by which the whole submission's grading must end (the
            run's budget); a call never gets more time than is left.
        hung: file or driver name -> why importing it never finished (found once by the
            grader's import probe, so that each later call to it fails at once).
    """
    config: SandboxConfig
    backend: str = "numpy"
    timeout: float = 10.0
    deadline: float = math.inf
    hung: dict[str, str] = field(default_factory=dict)
    checks: list[_Check] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    fraction: float | None = None
    partial_message: str = ""
    seconds: float = 0.0
    timed_out: bool = False

    # ---------------------------------------------------------------- calls
    def call(self, file: str, qualname: str, *args: Any, **kwargs: Any) -> Any:
        """Import the student's ``file`` in a fresh sandboxed child and return
        ``qualname(*args, **kwargs)`` as plain data (ndarrays, numbers, containers).

        ``qualname`` is looked up attribute by attribute from the module: "relu",
        "ReLU.backward". Raises :class:`TestFailure` if the student's code raises, runs out
        of time or memory, or returns something other than plain data.
        """
        if file not in self.config.files:
            raise ValueError(f"sub.call: {file!r} is not one of the submission's files "
                             f"{sorted(self.config.files)} (assignment.toml: files)")
        if not file.endswith(".py"):
            raise ValueError(f"sub.call: {file!r} is not a Python module")
        return self._run("call", file, qualname, args, kwargs, f"{qualname}")

    def run(self, driver: str, entry: str, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`call`, but call ``entry`` of the trusted module ``drivers/<driver>``,
        which runs in the child next to the student's files and may import them."""
        if driver not in self.config.drivers:
            raise ValueError(f"sub.run: no driver {driver!r} in the assignment's drivers/ "
                             f"(found: {sorted(self.config.drivers)})")
        return self._run("run", driver, entry, args, kwargs, f"{entry} (drivers/{driver})")

    def secret_seed(self) -> int:
        """A seed for held-out data that no submission can learn or enumerate: 63 random
        bits drawn anew on every run (recorded for the staff in extra_data)."""
        seed = secrets.randbits(63)
        self.seeds.append(seed)
        return seed

    def _run(self, kind, file, qualname, args, kwargs, label) -> Any:
        if file in self.hung:
            self.timed_out = True
            raise TestFailure(f"{label} was not run: {self.hung[file]}")
        left = self.deadline - time.monotonic()
        if left <= 1:
            self.timed_out = True
            raise TestFailure(f"{label} was not run: the time for grading the whole "
                              f"submission is used up (earlier calls took it: infinite loops?)")
        result: CallResult = run_call(self.config, kind, file, qualname, args, kwargs,
                                      min(self.timeout, left))
        self.seconds += result.seconds
        self.timed_out |= result.timed_out
        if result.staff:
            self.staff.append(f"{label}: {result.staff}")
        if result.output.strip():
            self.outputs.append(f"{label} printed:\n{result.output.rstrip()}")
        if not result.ok:
            raise TestFailure(f"{label} {'raised ' if result.raised else ''}{result.error}")
        return result.value

    # --------------------------------------------------------------- checks
    def check(self, condition: Any, message: str) -> None:
        """Fail with ``message`` unless ``condition`` is true."""
        if not (condition is True or (isinstance(condition, (bool, np.bool_)) and condition)):
            raise TestFailure(message)

    def partial(self, fraction: float, message: str = "") -> None:
        """Give ``fraction`` (0..1) of the points when the test otherwise passes."""
        if not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
            raise ValueError(f"sub.partial: fraction must be in [0, 1], got {fraction!r}")
        self.fraction = float(fraction) if self.fraction is None else \
            min(self.fraction, float(fraction))
        self.partial_message = message

    def check_close(self, got: Any, expected: Any, name: str, rtol: float = 1e-7,
                    atol: float = 1e-9) -> None:
        """Check what the student's code returned against the parent's reference.

        ``expected``: an ndarray (or a number), or a list/tuple of them. In order: the
        structure (how many results), the exact type np.ndarray, shape, dtype (float64 unless
        ``expected`` has another), all finite, then every element:
        ``|got - expected| <= atol + rtol * |expected|``.
        """
        if isinstance(expected, (list, tuple)):
            if type(got) not in (list, tuple):
                raise TestFailure(f"{name}: returned {_kind(got)}, expected a tuple of "
                                  f"{len(expected)} arrays")
            if len(got) != len(expected):
                raise TestFailure(f"{name}: returned {len(got)} values, expected "
                                  f"{len(expected)} (one per input that needs a gradient?)")
            for i, (g, e) in enumerate(zip(got, expected)):
                self._check_one(g, e, f"{name}: result {i}", rtol, atol, name)
        else:
            self._check_one(got, expected, name, rtol, atol, name)

    def _check_one(self, got, expected, where: str, rtol: float, atol: float,
                   name: str) -> None:
        scalar = not isinstance(expected, np.ndarray)
        expected = np.asarray(expected)
        if expected.dtype.kind not in "biuf":
            raise TypeError(f"check_close: expected must be numeric, got {expected.dtype}")
        if scalar and type(got) in (int, float) and expected.ndim == 0:
            got = np.asarray(float(got))
        elif type(got) is not np.ndarray:
            raise TestFailure(f"{where}: returned {_kind(got)}, expected a numpy.ndarray of "
                              f"shape {expected.shape}")
        if got.shape != expected.shape:
            hint = ""
            if sorted(got.shape) == sorted(expected.shape) and got.shape != expected.shape:
                hint = " (transposed, or axes in the wrong order?)"
            elif got.size == expected.size:
                hint = " (same number of elements: reshape it)"
            elif expected.ndim and got.ndim < expected.ndim:
                hint = " (summed over an axis that should stay?)"
            elif got.ndim > expected.ndim or got.size > expected.size:
                hint = " (a broadcast axis not summed back to the input's shape?)"
            raise TestFailure(f"{where}: shape {got.shape}, expected {expected.shape}{hint}")
        self.dtypes.append(str(got.dtype))
        if expected.dtype.kind == "f":
            if got.dtype != expected.dtype:
                raise TestFailure(f"{where}: dtype {got.dtype}, expected {expected.dtype} "
                                  f"(keep float64 all the way through)")
        elif np.dtype(got.dtype).kind not in ("iu" if expected.dtype.kind in "iu" else "b"):
            raise TestFailure(f"{where}: dtype {got.dtype}, expected {expected.dtype}")
        got64 = got.astype(np.float64)
        exp64 = expected.astype(np.float64)
        if not np.all(np.isfinite(got64)):
            bad = np.argwhere(~np.isfinite(got64))
            first = tuple(int(i) for i in bad[0]) if got64.ndim else ()
            self._record(name, math.inf, rtol, atol, False)
            raise TestFailure(f"{where}: {len(bad)} of {got64.size} elements are NaN or inf "
                              f"(first at index {first}): a division by zero or log of zero?")
        err = np.abs(got64 - exp64)
        allowed = atol + rtol * np.abs(exp64)
        bad = ~(err <= allowed)
        max_error = float(err.max()) if err.size else 0.0
        self._record(name, max_error, rtol, atol, not bad.any())
        if not bad.any():
            return
        ratio = np.where(bad, err / np.maximum(allowed, 1e-300), 0.0)
        worst = np.unravel_index(int(np.argmax(ratio)), err.shape) if err.ndim else ()
        worst = tuple(int(i) for i in worst)
        lines = [f"{where}: {int(bad.sum())} of {err.size} elements differ; worst at index "
                 f"{worst}: expected {exp64[worst]:.10g}, got {got64[worst]:.10g} "
                 f"(max error {max_error:.3g}, tolerance {atol:g} + {rtol:g} * |expected|)"]
        if exp64.ndim and exp64.size > 1:
            lines += [f"  hint: {h}" for h in diagnose(got64, exp64, exp64.shape)]
        raise TestFailure("\n".join(lines))

    def _record(self, name, max_error, rtol, atol, passed) -> None:
        self.checks.append(_Check(name, max_error, rtol, atol, passed))


def _kind(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return "None" if value is None else type(value).__name__
