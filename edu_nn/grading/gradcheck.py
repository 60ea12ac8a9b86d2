"""Check hand-written gradients against float64 central differences.

``gradcheck(fn, inputs)`` compares, for every element of every input that requires grad,

    analytic  = the gradient edu_nn's backward computes for  sum(fn(*inputs) * v)
    numerical = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)   with  f(x) = sum(fn(x) * v)

where ``v`` is a *random* upstream gradient (an all-ones one hides bugs that a constant
shift cannot reveal, as in softmax or batch norm). On failure it raises
:class:`GradcheckError`, whose report names the op, the argument, the worst element,
expected and actual values, and hints at the likely bug.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient check failed; ``.report`` holds the details."""

    def __init__(self, report: "GradcheckReport") -> None:
        super().__init__(str(report))
        self.report = report


@dataclass
class ArgumentReport:
    """How one input's analytic gradient compares with finite differences."""
    index: int
    shape: tuple[int, ...]
    max_abs_error: float
    worst_index: tuple[int, ...]
    expected: float          # numerical gradient at worst_index
    actual: float            # analytic gradient at worst_index
    n_failed: int
    n_total: int
    hints: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.n_failed == 0


@dataclass
class GradcheckReport:
    """The result of :func:`gradcheck`; truthy when every argument passed."""
    op: str
    arguments: list[ArgumentReport]
    eps: float
    atol: float
    rtol: float
    seed: int

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.arguments)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs_error(self) -> float:
        return max((a.max_abs_error for a in self.arguments), default=0.0)

    def __str__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        lines = [f"gradcheck {status} for {self.op} (float64 central differences, eps={self.eps}, "
                 f"atol={self.atol}, rtol={self.rtol}, random upstream gradient seed={self.seed})"]
        for a in self.arguments:
            if a.passed:
                lines.append(f"  argument {a.index} {a.shape}: ok, max abs error {a.max_abs_error:.3g}")
                continue
            lines.append(
                f"  argument {a.index} {a.shape}: {a.n_failed} of {a.n_total} elements differ; "
                f"worst at index {a.worst_index}: expected (finite differences) {a.expected:.6g}, "
                f"actual (backward) {a.actual:.6g}, abs error {a.max_abs_error:.3g}")
            lines.extend(f"    hint: {h}" for h in a.hints)
        return "\n".join(lines)


def _op_name(fn: Callable, name: str | None) -> str:
    if name:
        return name
    if hasattr(fn, "__self__") and isinstance(fn.__self__, type):  # SomeFunction.apply
        return fn.__self__.__name__
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _outputs(result) -> list[Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    outs = [o for o in outs if isinstance(o, Tensor) and o.dtype.startswith("float")]
    if not outs:
        raise TypeError("gradcheck: fn must return a floating-point Tensor (or a tuple of them)")
    return outs


def _weighted_sum(outs: list[Tensor], vs: list[np.ndarray]) -> float:
    return float(sum(np.sum(o.backend.to_numpy(o.array).astype(np.float64) * v)
                     for o, v in zip(outs, vs)))


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any] | Tensor, *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0, name: str | None = None,
              raise_exception: bool = True) -> GradcheckReport:
    """Compare ``fn``'s hand-written gradients with float64 finite differences.

    Args:
        fn: called as ``fn(*inputs)``; returns a Tensor or a tuple of Tensors.
        inputs: Tensors (and other arguments, passed through). Every Tensor with
            ``requires_grad=True`` is checked; those must be float64.
        eps: the finite-difference step.
        atol, rtol: an element passes when ``|actual - expected| <= atol + rtol * |expected|``.
        seed: seeds the random upstream gradient.
        name: the op's name in the report (default: fn's name).
        raise_exception: raise :class:`GradcheckError` on failure (else return the report).

    Returns:
        A :class:`GradcheckReport` (truthy when every element of every argument passed).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; mark the inputs to check with "
                         "requires_grad=True")
    for i in checked:
        if inputs[i].dtype != "float64":
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences "
                            f"need float64 (use .double() or dtype='float64')")
    op = _op_name(fn, name)

    # Analytic: backward of sum(out * v) on fresh leaves, so the caller's .grad is untouched.
    leaves = list(inputs)
    for i in checked:
        x = inputs[i]
        leaves[i] = Tensor._make(x.array, x.backend, x.device, requires_grad=True)
    outs = _outputs(fn(*leaves))
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(o.shape) for o in outs]
    if not any(o.requires_grad for o in outs):
        raise RuntimeError(f"gradcheck: the output of {op} does not require grad: no graph "
                           f"was recorded (was it computed under no_grad, or detached?)")
    # Seed backward with v directly: building sum(out * v) would run the very ops under test.
    grad_outs = [o for o in outs if o.requires_grad]
    for k, o in enumerate(outs):
        if o.requires_grad:
            v = Tensor._make(o.backend.asarray(vs[k], o.dtype, o.device), o.backend, o.device)
            o.backward(v, retain_graph=o is not grad_outs[-1])
    analytic = {i: (np.zeros(inputs[i].shape) if leaves[i].grad is None
                    else leaves[i].grad.backend.to_numpy(leaves[i].grad.array).astype(np.float64))
                for i in checked}
    no_grad_reached = {i for i in checked if leaves[i].grad is None}

    # Numerical: central differences, element by element.
    reports = []
    for i in checked:
        x = inputs[i]
        base = x.backend.to_numpy(x.array).astype(np.float64)
        numeric = np.zeros(base.shape)
        for j in range(base.size):
            values = []
            for step in (eps, -eps):
                moved = base.copy()
                moved.flat[j] += step
                args = list(inputs)
                args[i] = Tensor._make(x.backend.asarray(moved, "float64", x.device),
                                       x.backend, x.device)
                with no_grad():
                    values.append(_weighted_sum(_outputs(fn(*args)), vs))
            numeric.flat[j] = (values[0] - values[1]) / (2 * eps)
        reports.append(_compare(i, analytic[i], numeric, atol, rtol,
                                outs[0].shape, i in no_grad_reached))
    report = GradcheckReport(op, reports, eps, atol, rtol, seed)
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


def _compare(index, actual, expected, atol, rtol, out_shape, no_grad_reached) -> ArgumentReport:
    err = np.abs(actual - expected)
    bad = ~(err <= atol + rtol * np.abs(expected))  # NaN counts as bad
    if actual.size == 0:
        return ArgumentReport(index, actual.shape, 0.0, (), 0.0, 0.0, 0, 0)
    score = np.where(np.isnan(err), np.inf, err)
    worst = np.unravel_index(int(np.argmax(score)), actual.shape)
    report = ArgumentReport(index, tuple(actual.shape), float(err[worst]), tuple(int(w) for w in worst),
                            float(expected[worst]), float(actual[worst]), int(bad.sum()), int(bad.size))
    if not report.passed:
        report.hints = diagnose(actual, expected, out_shape, no_grad_reached)
    return report


def diagnose(actual: np.ndarray, expected: np.ndarray, out_shape=(), no_grad_reached=False) -> list[str]:
    """Guesses at what is wrong with a gradient, from how it differs from the expected one."""
    hints = []
    if no_grad_reached or (not np.any(actual) and np.any(expected)):
        hints.append("backward gave no gradient (None or all zeros) for this argument: is it "
                     "used in forward, and does backward return its gradient in the right "
                     "position (one per forward argument)?")
        return hints
    if not np.all(np.isfinite(actual)):
        hints.append("backward produced NaN or inf: a division by zero or log of zero in the "
                     "backward formula?")
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    big = np.abs(expected) > 1e-3 * scale if scale > 0 else np.zeros(expected.shape, bool)
    if big.sum() >= 1:
        ratio = actual[big] / expected[big]
        r = float(np.median(ratio))
        if np.all(np.abs(ratio - r) <= 1e-3 * max(abs(r), 1e-12)) and abs(r - 1) > 1e-3:
            hints.append(_factor_hint(r, out_shape, actual.shape))
    if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and actual.shape[0] > 1 and \
            np.allclose(actual, expected.T, rtol=1e-3, atol=1e-5):
        hints.append("the gradient equals the transpose of the expected one: a transposed "
                     "matrix in backward (e.g. grad @ W instead of grad @ W.T)?")
    close = np.isclose(actual, expected, rtol=1e-3, atol=1e-5)
    if 0 < close.sum() < close.size and not hints:
        hints.append(f"{int((~close).sum())} of {close.size} elements are wrong and the rest are "
                     f"right: a wrong branch (a mask, where, max/relu at a kink or tie), or one "
                     f"slice or broadcast position handled differently?")
    if not hints:
        hints.append("no simple pattern (constant factor, transpose, missing sum); re-derive "
                     "the chain rule for this argument on a 1- or 2-element example")
    return hints


def _factor_hint(r: float, out_shape, arg_shape=()) -> str:
    """Explain a gradient that is off by the same factor ``r`` at every element."""
    if abs(r + 1) < 1e-3:
        return "actual = -expected: a sign error in backward"
    causes = []
    if abs(r - 2) < 2e-3 or abs(r - 0.5) < 1e-3:
        causes.append("a missing or extra factor of 2 (e.g. d(x^2)/dx = 2x, or the 1/2 in a "
                      "squared loss)")
    sizes = sorted({d for shape in (out_shape, arg_shape) for d in shape if d > 1}
                   | {math.prod(d for d in shape if d > 1) for shape in (out_shape, arg_shape)}
                   - {1})
    for k in sizes:
        if abs(r - 1 / k) < 1e-3 / k:
            causes.append(f"{k} is an axis size (or size) of the output or this argument: "
                          f"averaged where it should sum (e.g. over a reduced, broadcast or "
                          f"batch axis), or divided by {k} twice")
        elif abs(r - k) < 1e-3 * k:
            causes.append(f"{k} is an axis size (or size) of the output or this argument: "
                          f"summed over an axis that should not be summed, or a missing "
                          f"division by {k}")
    if not causes:
        return f"actual = {r:.6g} x expected at every element: off by a constant factor"
    return f"actual = {r:.4g} x expected at every element: " + "; or ".join(causes) + "?"


def numerical_gradient(f: Callable[[Any], Any], x, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function, for students checking by hand.

    Args:
        f: takes something like ``x`` and returns a scalar (a one-element Tensor or number).
        x: a Tensor or NumPy array of shape S (float64 recommended).
        eps: the step.

    Returns:
        A float64 NumPy array of shape S: ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``.
    """
    is_tensor = isinstance(x, Tensor)
    base = (x.backend.to_numpy(x.array) if is_tensor else np.asarray(x)).astype(np.float64)
    grad = np.zeros(base.shape)

    def value(arr):
        arg = Tensor._make(x.backend.asarray(arr, x.dtype, x.device), x.backend, x.device) \
            if is_tensor else arr.astype(np.asarray(x).dtype)
        with no_grad():
            out = f(arg)
        return float(out.item() if isinstance(out, Tensor) else np.asarray(out).item())

    for j in range(base.size):
        plus, minus = base.copy(), base.copy()
        plus.flat[j] += eps
        minus.flat[j] -= eps
        grad.flat[j] = (value(plus) - value(minus)) / (2 * eps)
    return grad
