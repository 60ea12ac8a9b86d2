"""The backend conformance suite: the tests every edu_nn array backend must pass.

A backend (NumPy, torch, JAX, or a third party's CuPy, MLX, ...) is accepted when it passes
this suite, with no change to edu_nn's core. The suite checks every primitive of the contract
in :mod:`edu_nn.backends.base` against NumPy as the reference:

* values, shape and dtype of the result for representative inputs (``test_matches_numpy``),
  including broadcasting, Python scalars on either side of binary ops (float32 stays
  float32), ``axis=None``/int/tuple/negative for reductions, batched and 1-d ``matmul``,
  basic and advanced ``getitem``;
* purity: no primitive changes its inputs (``test_inputs_unchanged``, the same table);
* hand-worked values where NumPy would be a circular reference (duplicate indices in
  ``index_add``/``add_at``, first maximum on ties in ``argmax``, ``relu_backward``'s rule
  ``grad * (x > 0)``, which makes the gradient 0 where x is NaN);
* randomness from explicit keys, devices, dtype names, ``jit``, errors for unknown devices
  and dtypes.

It imports numpy, pytest and the backend contract only; it never builds an edu_nn Tensor.

How to run it against your backend
----------------------------------
In a test file of your package, import the suite and define two fixtures::

    # tests/test_my_backend_conformance.py
    import pytest
    from edu_nn.backends.conformance import *  # noqa: F401,F403  (the tests)
    from my_package import MyBackend

    @pytest.fixture
    def backend():                       # the Backend instance under test
        return MyBackend()

    @pytest.fixture(params=["float32", "float64"])
    def conformance_dtype(request):      # the floating dtype the value tests run in
        return request.param

then ``pytest tests/test_my_backend_conformance.py``. To run the table tests on an
accelerator as well, define a third fixture, ``conformance_device`` (``"cpu"`` when absent),
returning e.g. ``"cuda"``: every array argument is then made there, and every result must
stay there (a backend without that device here skips). Tests in float64 skip themselves when
``backend.supports_float64`` is False (and ``test_dtype_names`` checks that asking for float64
then raises :class:`BackendError` instead of silently giving float32). Such a backend has no
64-bit types at all (JAX without ``jax_enable_x64``), so there, and only there, ``int32`` is
accepted where the contract says ``int64`` (indices fit; the core never relies on the width).
For pytest's detailed assertion messages, call
``pytest.register_assert_rewrite("edu_nn.backends.conformance")`` in your conftest.py before
the import.

Most tests are rows of the table ``CASES``: ``Case(primitive, label, reference, *args,
out=..., **kwargs)``. NumPy float arrays in ``args`` are converted to the dtype under test
(then to the backend's arrays), integer and bool arrays keep their dtype, :data:`DT` stands
for the dtype name under test, :data:`DEV` for the device under test, and :class:`Raw`
passes a value as it is (for ``asarray``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from edu_nn.backends.base import DTYPES, Backend, BackendError, RandomKey

#: Placeholder in a case's arguments for the floating dtype under test ("float32"/"float64").
DT = "<dtype under test>"
#: Placeholder for the device under test ("cpu" unless a ``conformance_device`` is given).
DEV = "<device under test>"

#: Tolerances for comparing a backend's floating results with NumPy's, per dtype.
TOLERANCES = {"float32": dict(rtol=2e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


class Raw:
    """A case argument passed to the primitive as it is (not made into a backend array).

    ``cast=True`` still converts a NumPy float array to the dtype under test.
    """

    def __init__(self, value: Any, cast: bool = False) -> None:
        self.value, self.cast = value, cast

    def __repr__(self) -> str:
        return f"Raw({self.value!r})"


@dataclass(frozen=True)
class Case:
    """One call of one primitive, with its NumPy reference.

    out: the kind of result. ``"same"``: an array of the dtype under test; a dtype name: an
    array of that dtype; ``"python"``: a Python scalar/str (compared with the reference,
    same type); ``"ndarray"``: a ``numpy.ndarray`` (``to_numpy``).
    """
    prim: str
    label: str
    ref: Callable[..., Any]
    args: tuple
    kwargs: dict = field(default_factory=dict)
    out: str = "same"

    @property
    def id(self) -> str:
        return f"{self.prim}-{self.label}"


def C(prim: str, label: str, ref: Callable, *args, out: str = "same", **kwargs) -> Case:
    return Case(prim, label, ref, args, kwargs, out)


# ------------------------------------------------------------------ inputs
_rng = np.random.default_rng(20240611)


def _u(*shape, low=-2.0, high=2.0) -> np.ndarray:
    """Continuous values: no ties, no exact zeros."""
    return np.asarray(_rng.uniform(low, high, shape))


def _pos(*shape) -> np.ndarray:
    return _u(*shape, low=0.5, high=2.0)


def _nonzero(*shape) -> np.ndarray:
    return np.asarray(_pos(*shape) * np.where(_rng.random(shape) < 0.5, -1.0, 1.0))


def _with_zeros(*shape) -> np.ndarray:
    x = _u(*shape)
    x.flat[::3] = 0.0  # the kink of abs and sign
    return x


def _halves(*shape) -> np.ndarray:
    """Multiples of 0.5 in [-1, 1]: comparisons of two such arrays have many ties."""
    return np.asarray(_rng.integers(-2, 3, shape) / 2.0)


def _ints(*shape, high=5) -> np.ndarray:
    return np.asarray(_rng.integers(0, high, shape), dtype=np.int64)


def _idx(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


_MASK34 = np.array([[True, False, True, False], [False, False, True, True],
                    [True, True, False, False]])
_MASK31 = np.array([[True], [False], [True]])
_MASK14 = np.array([[False, True, True, False]])
_TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
_X234 = _u(2, 3, 4)
_X34 = _u(3, 4)
#: Special values, and every (grad, x) pair of them with a finite or NaN grad, for
#: relu_backward's rule (an infinite grad is in test_relu_nan_rule: inf * 0 warns in NumPy).
_SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -1.5])
_SPECIAL_GRAD, _SPECIAL_X = (a.ravel() for a in np.meshgrid(_SPECIALS[[0, 3, 4, 5, 6]],
                                                            _SPECIALS))


# ----------------------------------------------------- independent references
def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _np_clip(x, min=None, max=None):
    if min is not None:
        x = np.maximum(x, min)
    if max is not None:
        x = np.minimum(x, max)
    return x


def _np_relu_backward(grad, x):
    """The contract's rule, literally: grad * (x > 0), so NaN x gives 0 (inf grad: NaN)."""
    with np.errstate(invalid="ignore"):
        return grad * (x > 0).astype(grad.dtype)


def _np_linear(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias


def _np_index_add(x, axis, indices, values):
    """One slice at a time, so duplicate indices accumulate by construction."""
    out = x.copy()
    lead = (slice(None),) * (axis % x.ndim)
    for j, i in enumerate(indices):
        out[lead + (i,)] += values[lead + (j,)]
    return out


def _np_add_at(x, key, values):
    """Scatter-add by counting linear positions (bincount), not by numpy.add.at."""
    positions = np.arange(x.size).reshape(x.shape)[key]
    values = np.broadcast_to(values, positions.shape)
    added = np.bincount(positions.ravel(), weights=values.ravel().astype(np.float64),
                        minlength=x.size)
    return (x.ravel() + added).reshape(x.shape).astype(x.dtype)


def _np_size_along(x, axis):
    if axis is None:
        return int(x.size)
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([x.shape[a] for a in axes]))


def _np_arange(start, stop=None, step=1, dtype="int64"):
    if stop is None:
        start, stop = 0, start
    return np.arange(start, stop, step, dtype=dtype)


def _py_count_nonzero(x):
    """Counted one Python number at a time (NaN != 0 is True), not with NumPy's kernel."""
    return sum(1 for v in np.asarray(x).ravel().tolist() if v != 0)


def _reduce(name):
    fn = getattr(np, name)
    return lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims)


# ------------------------------------------------------------------- table
CASES: list[Case] = []

_BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
           "divide": np.divide, "power": np.power, "maximum": np.maximum,
           "minimum": np.minimum}
for _name, _ref in _BINARY.items():
    _a = _pos if _name == "power" else _u           # real powers need positive bases
    _b = _pos if _name in ("divide", "power") else _u  # keep divisors away from zero
    CASES += [
        C(_name, "same-shape", _ref, _a(3, 4), _b(3, 4)),
        C(_name, "broadcast", _ref, _a(2, 1, 4), _b(3, 1)),
        C(_name, "broadcast-1d", _ref, _a(3, 4), _b(4)),
        C(_name, "0d", _ref, _a(), _b()),
        C(_name, "scalar-right", _ref, _a(3, 4), 1.5),
        C(_name, "scalar-left", _ref, 1.5, _b(3, 4)),
        C(_name, "int-scalar", _ref, _a(2, 3), 2),
        C(_name, "0d-scalar", _ref, _a(), 0.5),
    ]
CASES += [
    C("add", "int64", np.add, _ints(3, 4), _ints(4), out="int64"),
    C("multiply", "int64-scalar", np.multiply, _ints(3), 3, out="int64"),
]

_UNARY = [("negative", np.negative, _u), ("exp", np.exp, _u), ("log", np.log, _pos),
          ("log1p", np.log1p, lambda *s: _u(*s, low=-0.5, high=2.0)),
          ("sqrt", np.sqrt, _pos), ("abs", np.abs, _with_zeros),
          ("sign", np.sign, _with_zeros), ("tanh", np.tanh, _u), ("erf", _np_erf, _u),
          ("square", np.square, _u), ("reciprocal", np.reciprocal, _nonzero),
          ("sin", np.sin, _u), ("cos", np.cos, _u), ("floor", np.floor, _u)]
for _name, _ref, _make in _UNARY:
    CASES += [C(_name, "2d", _ref, _make(3, 4)), C(_name, "0d", _ref, _make()),
              C(_name, "empty", _ref, _make(0, 3))]
CASES += [
    C("negative", "int64", np.negative, _ints(4), out="int64"),
    C("abs", "int64", np.abs, _ints(4) - 2, out="int64"),
    C("logical_not", "mask", np.logical_not, _MASK34, out="bool"),
    C("isfinite", "specials", np.isfinite,
      np.array([np.nan, np.inf, -np.inf, 0.0, -2.5, 1e30]), out="bool"),
    C("isfinite", "0d", np.isfinite, np.array(np.inf), out="bool"),
]

CASES += [
    C("add_scaled", "same-shape", lambda x, y, a: x + a * y, _u(3, 4), _u(3, 4), -0.1),
    C("add_scaled", "broadcast-y", lambda x, y, a: x + a * y, _u(3, 4), _u(4), 2.0),
    C("add_scaled", "broadcast-x", lambda x, y, a: x + a * y, _u(4), _u(3, 4), 0.5),
    C("relu", "2d", lambda x: np.maximum(x, 0.0), _with_zeros(3, 4)),
    C("relu", "specials", lambda x: np.maximum(x, 0.0), _SPECIALS),
    C("relu", "0d", lambda x: np.maximum(x, 0.0), _u()),
    C("relu", "empty", lambda x: np.maximum(x, 0.0), _u(0, 3)),
    C("relu_backward", "2d", _np_relu_backward, _u(3, 4), _with_zeros(3, 4)),
    C("relu_backward", "specials", _np_relu_backward, _SPECIAL_GRAD, _SPECIAL_X),
    C("relu_backward", "0d", _np_relu_backward, _u(), _u()),
    C("linear", "bias", _np_linear, _u(3, 4), _u(5, 4), _u(5)),
    C("linear", "no-bias", _np_linear, _u(3, 4), _u(5, 4)),
    C("linear", "bias-none", _np_linear, _u(3, 4), _u(5, 4), None),
    C("linear", "batched-input", _np_linear, _X234, _u(5, 4), _u(5)),
    C("linear", "1d-input", _np_linear, _u(4), _u(5, 4), _u(5)),
    C("where", "scalar-other", lambda c, a, b: np.where(c, a, b).astype(a.dtype), _MASK34,
      _u(3, 4), 0.0),
    C("clip", "both", _np_clip, _u(3, 4), min=-0.5, max=0.5),
    C("clip", "min-only", _np_clip, _u(3, 4), min=-0.5),
    C("clip", "max-only", _np_clip, _u(3, 4), max=0.5),
    C("clip", "neither", _np_clip, _u(3, 4)),
    C("clip", "array-bounds", _np_clip, _u(3, 4), min=_u(3, 1, low=-1.5, high=-0.5),
      max=_u(4, low=0.5, high=1.5)),
    C("where", "same-shape", np.where, _MASK34, _u(3, 4), _u(3, 4)),
    C("where", "broadcast", np.where, _MASK31, _u(1, 4), _u(3, 4)),
    C("where", "broadcast-cond", np.where, _MASK14, _u(3, 4), _u(3, 1)),
    C("where", "int64", np.where, _MASK34, _ints(3, 4), _ints(4), out="int64"),
]

_COMPARE = {"equal": np.equal, "not_equal": np.not_equal, "less": np.less,
            "less_equal": np.less_equal, "greater": np.greater,
            "greater_equal": np.greater_equal}
for _name, _ref in _COMPARE.items():
    CASES += [
        C(_name, "ties", _ref, _halves(3, 4), _halves(3, 4), out="bool"),
        C(_name, "broadcast", _ref, _halves(2, 3, 1), _halves(4), out="bool"),
        C(_name, "scalar-right", _ref, _halves(3, 4), 0.5, out="bool"),
        C(_name, "scalar-left", _ref, 0.5, _halves(3, 4), out="bool"),
        C(_name, "int64", _ref, _ints(6, high=3), _ints(6, high=3), out="bool"),
    ]
for _name, _ref in {"logical_and": np.logical_and, "logical_or": np.logical_or}.items():
    CASES += [C(_name, "same-shape", _ref, _MASK34, ~_MASK34[::-1], out="bool"),
              C(_name, "broadcast", _ref, _MASK31, _MASK14, out="bool")]

for _name in ("sum", "max", "min", "mean"):
    _ref = _reduce(_name)
    CASES += [
        C(_name, "all", _ref, _X234),
        C(_name, "axis0", _ref, _X234, axis=0),
        C(_name, "axis-1", _ref, _X234, axis=-1),
        C(_name, "axis-tuple", _ref, _X234, axis=(0, 2)),
        C(_name, "axis-tuple-negative-keepdims", _ref, _X234, axis=(-1, 0), keepdims=True),
        C(_name, "axis1-keepdims", _ref, _X234, axis=1, keepdims=True),
        C(_name, "all-keepdims", _ref, _X234, keepdims=True),
        C(_name, "0d", _ref, _u()),
    ]
# Optimizer updates (issue 16), pure form (the in-place form: test_optimizer_updates_in_place).
_OPT_UPDATES = [
    C("add_scaled", "owned", lambda x, y, a: x + a * y, _u(3, 4), _u(3, 4), -0.1),
    C("copy", "2d", np.copy, _u(3, 4)),
    C("copy", "0d", np.copy, _u()),
    C("scale", "2d", lambda x, f: x * f, _u(3, 4), 0.9),
    C("lerp", "2d", lambda a, b, w: a + w * (b - a), _u(3, 4), _u(3, 4), 0.1),
    C("lerp", "0d", lambda a, b, w: a + w * (b - a), _u(), _u(), 0.01),
    C("mul_add_square", "2d", lambda a, x, d, s: a * d + (x * x) * s, _pos(3, 4), _u(3, 4),
      0.999, 0.001),
    C("mul_add_square", "0d", lambda a, x, d, s: a * d + (x * x) * s, _pos(), _u(), 1.0, 1.0),
    C("addcdiv", "2d", lambda x, n, d, v: x + v * (n / d), _u(3, 4), _u(3, 4), _pos(3, 4),
      -1e-3),
    C("addcdiv", "0d", lambda x, n, d, v: x + v * (n / d), _u(), _u(), _pos(), 0.5),
    C("sqrt_div_add", "2d", lambda x, d, e: np.sqrt(x) / d + e, _pos(3, 4), 0.7, 1e-8),
    C("sqrt_div_add", "0d", lambda x, d, e: np.sqrt(x) / d + e, _pos(), 1.0, 1e-3),
]
CASES += _OPT_UPDATES
CASES += [C("sum", "int64", _reduce("sum"), _ints(3, 4), axis=1, out="int64"),
          C("max", "int64", _reduce("max"), _ints(3, 4), axis=0, out="int64")]
# Many short rows reduced along the last axis (softmax and cross-entropy over a few
# classes): a backend may take a faster route there (NumPy's does), with the same values.
_SHORT_ROWS = _u(20, 5)
_SHORT_ROWS[3, 2] = np.nan
_SHORT_ROWS[7] = np.nan
_SHORT_ROWS[11, 0] = np.inf
_SHORT_ROWS[12, 4] = -np.inf
for _name in ("max", "min"):
    _ref = _reduce(_name)
    CASES += [C(_name, "short-rows", _ref, _SHORT_ROWS, axis=1),
              C(_name, "short-rows-keepdims", _ref, _SHORT_ROWS, axis=-1, keepdims=True),
              C(_name, "short-rows-int64", _ref, _ints(40, 3), axis=1, out="int64")]

_TIED_ROWS = np.array([[3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 5.0, 5.0, -1.0, 0.0]])
CASES += [
    C("cumsum", "axis1", lambda x, axis: np.cumsum(x, axis=axis), _X234, 1),
    C("cumsum", "axis-1", lambda x, axis: np.cumsum(x, axis=axis), _X234, -1),
    C("cumsum", "int64", lambda x, axis: np.cumsum(x, axis=axis), _ints(3, 4), 0, out="int64"),
    C("argsort", "axis1", lambda x, axis: np.argsort(x, axis=axis, kind="stable"), _X234,
      axis=1, out="int64"),
    # stable: equal values keep their order, ascending and descending (torch's stable=True)
    C("argsort", "ties", lambda x: np.argsort(x, axis=-1, kind="stable"), _TIED_ROWS,
      out="int64"),
    C("argsort", "ties-descending",
      lambda x, descending: np.argsort(-x, axis=-1, kind="stable"), _TIED_ROWS,
      descending=True, out="int64"),
]

for _name in ("argmax", "argmin"):
    _ref = getattr(np, _name)
    CASES += [
        C(_name, "flat", _ref, _X234, out="int64"),
        C(_name, "axis1", _ref, _X234, axis=1, out="int64"),
        C(_name, "axis-1-keepdims", _ref, _X234, axis=-1, keepdims=True, out="int64"),
        C(_name, "ties-axis1", _ref, _TIES, axis=1, out="int64"),
        C(_name, "ties-axis0", _ref, _TIES, axis=0, out="int64"),
        C(_name, "ties-flat", _ref, _TIES, out="int64"),
    ]

CASES += [
    C("any", "some", lambda m: bool(np.any(m)), _MASK34, out="python"),
    C("any", "none", lambda m: bool(np.any(m)), np.zeros((2, 3), bool), out="python"),
    C("all", "some", lambda m: bool(np.all(m)), _MASK34, out="python"),
    C("all", "every", lambda m: bool(np.all(m)), np.ones((2, 3), bool), out="python"),
    C("count_nonzero", "mask", _py_count_nonzero, _MASK34, out="python"),
    C("count_nonzero", "float", _py_count_nonzero,
      np.array([[0.0, 1.5, -0.0, np.nan], [2.0, -1.0, 0.0, np.inf], [-np.inf, 0.0, 3.0, 0.25]]),
      out="python"),
    C("count_nonzero", "int64", _py_count_nonzero, np.array([0, 3, 0, -1]), out="python"),
    C("count_nonzero", "0d-zero", _py_count_nonzero, np.array(0.0), out="python"),
    C("count_nonzero", "empty", _py_count_nonzero, _u(0, 3), out="python"),
    C("size_along", "none", _np_size_along, _X234, None, out="python"),
    C("size_along", "int", _np_size_along, _X234, 1, out="python"),
    C("size_along", "tuple", _np_size_along, _X234, (0, 2), out="python"),
]

CASES += [
    C("matmul", "2d", np.matmul, _u(3, 4), _u(4, 5)),
    C("matmul", "batched", np.matmul, _u(2, 3, 4), _u(2, 4, 5)),
    C("matmul", "batch-broadcast", np.matmul, _u(2, 1, 3, 4), _u(5, 4, 2)),
    C("matmul", "batched-with-2d", np.matmul, _u(2, 3, 4), _u(4, 2)),
    C("matmul", "1d-2d", np.matmul, _u(4), _u(4, 5)),
    C("matmul", "2d-1d", np.matmul, _u(3, 4), _u(4)),
    C("matmul", "1d-1d", np.matmul, _u(4), _u(4)),
    C("matmul", "batched-1d", np.matmul, _u(2, 3, 4), _u(4)),
]

_getitem = lambda x, key: x[key]  # noqa: E731
CASES += [
    C("reshape", "2d", np.reshape, _X234, (6, 4)),
    C("reshape", "flat", np.reshape, _X234, (-1,)),
    C("reshape", "infer", np.reshape, _X234, (4, -1, 2)),
    C("reshape", "to-0d", np.reshape, _u(1, 1), ()),
    C("permute_dims", "cycle", np.transpose, _X234, (2, 0, 1)),
    C("permute_dims", "swap-last", np.transpose, _X234, (0, 2, 1)),
    C("broadcast_to", "expand", np.broadcast_to, _u(3, 1), (2, 3, 4)),
    C("broadcast_to", "from-0d", np.broadcast_to, _u(), (2, 2)),
    C("expand_dims", "front", np.expand_dims, _u(3, 4), 0),
    C("expand_dims", "middle", np.expand_dims, _u(3, 4), 1),
    C("expand_dims", "negative", np.expand_dims, _u(3, 4), -1),
    C("squeeze", "int", np.squeeze, _u(1, 3, 1, 4), 0),
    C("squeeze", "tuple", np.squeeze, _u(1, 3, 1, 4), (0, 2)),
    C("squeeze", "negative", np.squeeze, _u(1, 3, 1, 4), -2),
    C("concat", "axis0", lambda xs, axis: np.concatenate(xs, axis), [_u(2, 3), _u(4, 3)], axis=0),
    C("concat", "axis-1", lambda xs, axis: np.concatenate(xs, axis),
      [_u(2, 3), _u(2, 5), _u(2, 1)], axis=-1),
    C("concat", "single", lambda xs, axis: np.concatenate(xs, axis), [_u(2, 3)], axis=1),
    C("stack", "axis0", lambda xs, axis: np.stack(xs, axis), [_u(2, 3), _u(2, 3), _u(2, 3)],
      axis=0),
    C("stack", "axis-1", lambda xs, axis: np.stack(xs, axis), [_u(2, 3), _u(2, 3)], axis=-1),
    C("stack", "0d", lambda xs, axis: np.stack(xs, axis), [_u(), _u()], axis=0),
    C("pad", "2d", lambda x, pw, value=0.0: np.pad(x, pw, constant_values=value),
      _u(2, 3), ((1, 2), (0, 1))),
    C("pad", "value", lambda x, pw, value=0.0: np.pad(x, pw, constant_values=value),
      _u(2, 3), ((0, 1), (2, 2)), value=-3.5),
    C("pad", "3d", lambda x, pw, value=0.0: np.pad(x, pw, constant_values=value),
      _X234, ((0, 0), (1, 1), (2, 0))),
    C("flip", "axis0", np.flip, _X234, 0),
    C("flip", "axis-1", np.flip, _X234, -1),
    C("getitem", "int", _getitem, _X234, 1),
    C("getitem", "negative-int", _getitem, _X234, -1),
    C("getitem", "int-slice", _getitem, _X234, (1, slice(1, 3))),
    C("getitem", "step", _getitem, _X234, (slice(None), slice(None, None, 2))),
    C("getitem", "negative-step", _getitem, _X234, (slice(None), slice(None, None, -1))),
    C("getitem", "ellipsis", _getitem, _X234, (Ellipsis, 1)),
    C("getitem", "newaxis", _getitem, _X234, (None, 0)),
    C("getitem", "mixed-basic", _getitem, _X234, (-1, slice(None), slice(1, 3))),
    C("getitem", "int-array", _getitem, _X234, _idx(1, 0, 1)),
    C("getitem", "negative-int-array", _getitem, _X34, _idx(-1, 0)),
    C("getitem", "two-int-arrays", _getitem, _X34, (_idx(2, 0, 2), _idx(1, 3, 0))),
    C("getitem", "two-int-arrays-negative", _getitem, _X34, (_idx(-1, 0, -3), _idx(-4, 3, -1))),
    C("getitem", "two-int-arrays-broadcast", _getitem, _X34, (_idx(1), _idx(0, 3, 2))),
    C("getitem", "two-int-arrays-3d", _getitem, _X234, (_idx(1, 0), _idx(2, 2))),
    C("getitem", "slice-and-array", _getitem, _X34, (slice(None), _idx(3, 3, 0))),
    C("getitem", "2d-int-array", _getitem, _X34, _idx([0, 2], [1, 1])),
    C("getitem", "bool-mask", _getitem, _X34, _MASK34),
    C("getitem", "bool-rows", _getitem, _X34, _MASK31[:, 0]),
    C("take", "axis0", lambda x, i, axis: np.take(x, i, axis=axis), _X34, _idx(2, 0, 2), axis=0),
    C("take", "axis-1", lambda x, i, axis: np.take(x, i, axis=axis), _X34, _idx(3, 1), axis=-1),
    C("take", "2d-indices", lambda x, i, axis: np.take(x, i, axis=axis), _X34,
      _idx([0, 2], [1, 1]), axis=0),
    C("take_along_axis", "axis1", lambda x, i, axis: np.take_along_axis(x, i, axis=axis),
      _X34, np.argsort(_X34, axis=1)[:, :2], axis=1),
    C("take_along_axis", "axis0", lambda x, i, axis: np.take_along_axis(x, i, axis=axis),
      _X34, _idx([2, 0, 1, 1], [0, 0, 2, 1]), axis=0),
    C("take_along_axis", "axis-1-3d", lambda x, i, axis: np.take_along_axis(x, i, axis=axis),
      _X234, np.argmax(_X234, axis=-1)[..., None], axis=-1),
    C("index_add", "axis0-duplicates", _np_index_add, _u(5, 3), 0, _idx(0, 2, 0), _u(3, 3)),
    C("index_add", "axis-1", _np_index_add, _u(2, 5), -1, _idx(1, 1, 4), _u(2, 3)),
    C("index_add", "3d-axis1", _np_index_add, _X234, 1, _idx(2, 2), _u(2, 2, 4)),
    C("add_at", "pairs-duplicates", _np_add_at, _u(3, 4), (_idx(0, 0, 2), _idx(1, 1, 0)), _u(3)),
    C("add_at", "rows-duplicates", _np_add_at, _u(3, 4), _idx(1, 1), _u(2, 4)),
    C("add_at", "rows-broadcast", _np_add_at, _u(3, 4), _idx(2, 0, 2), _u(4)),
    C("add_at", "slice", _np_add_at, _u(3, 4), (slice(None), 1), _u(3)),
    C("add_at", "ellipsis-array", _np_add_at, _X234, (Ellipsis, _idx(0, 3, 0)), _u(2, 3, 3)),
    C("add_at", "bool-mask", _np_add_at, _u(3, 4), _MASK34, _u(int(_MASK34.sum()))),
]

CASES += [
    C("asarray", "numpy-with-dtype", np.asarray, Raw(_u(2, 3)), DT),
    C("asarray", "numpy-keeps-dtype", np.asarray, Raw(_u(2, 3), cast=True)),
    C("asarray", "native-with-dtype", np.asarray, _u(2, 3), DT),
    C("asarray", "nested-list", np.asarray, [[1.5, 2.0], [-3.0, 0.25]], DT),
    C("asarray", "scalar", np.asarray, 2.5, DT),
    C("asarray", "int-list", np.asarray, [1, 2, 3], out="int64"),
    C("asarray", "bool-list", np.asarray, [True, False], out="bool"),
    C("asarray", "float-list-infers-float64", np.asarray, [0.5, 1.5], out="float64"),
    C("asarray", "int-to-float", np.asarray, Raw(_ints(4)), DT),
    C("to_numpy", "2d", lambda x: x, _u(3, 4), out="ndarray"),
    C("to_numpy", "0d", lambda x: x, _u(), out="ndarray"),
    C("to_numpy", "int64", lambda x: x, _ints(3), out="ndarray"),
    C("astype", "to-float64", lambda x, d: x.astype(d), _u(3, 4), "float64", out="float64"),
    C("astype", "to-float32", lambda x, d: x.astype(d), _u(3, 4), "float32", out="float32"),
    C("astype", "to-int64", lambda x, d: x.astype(d), _pos(3, 4) * 3, "int64", out="int64"),
    C("astype", "to-bool", lambda x, d: x.astype(d), _with_zeros(3, 4), "bool", out="bool"),
    C("astype", "int-to-float", lambda x, d: x.astype(d), _ints(3, 4), DT),
    C("astype", "bool-to-float", lambda x, d: x.astype(d), _MASK34, DT),
    C("to_device", "cpu", lambda x, d: x, _u(3, 4), "cpu"),
    C("to_device", "device-under-test", lambda x, d: x, _u(3, 4), DEV),
    C("dtype_of", "float", lambda x: x.dtype.name, _u(3), out="python"),
    C("dtype_of", "int64", lambda x: x.dtype.name, _ints(3), out="python"),
    C("dtype_of", "bool", lambda x: x.dtype.name, _MASK34, out="python"),
    C("device_of", "input", lambda x: "cpu", _u(3), out="python"),
    C("is_array", "own-array", lambda x: True, _u(3), out="python"),
    C("is_array", "list", lambda x: False, [1.0, 2.0], out="python"),
    C("is_array", "python-float", lambda x: False, 1.5, out="python"),
    C("item", "0d", lambda x: x.item(), _u(), out="python"),
    C("item", "one-element", lambda x: x.item(), _u(1, 1), out="python"),
    C("item", "int64", lambda x: x.item(), _ints(1), out="python"),
    C("item", "bool", lambda x: x.item(), np.array([True]), out="python"),
    C("zeros", "2d", np.zeros, (2, 3), DT),
    C("zeros", "0d", np.zeros, (), DT),
    C("zeros", "empty", np.zeros, (0, 3), DT),
    C("zeros", "int64", np.zeros, (4,), "int64", out="int64"),
    C("ones", "2d", np.ones, (2, 3), DT),
    C("ones", "bool", np.ones, (2,), "bool", out="bool"),
    C("full", "2d", np.full, (2, 3), 2.5, DT),
    C("full", "int64", np.full, (3,), 7, "int64", out="int64"),
    C("arange", "stop", _np_arange, 5, out="int64"),
    C("arange", "start-stop-step", _np_arange, 1, 8, 3, out="int64"),
    C("arange", "float-step", _np_arange, 0.0, 1.0, 0.25, DT),
    C("arange", "descending", _np_arange, 4, -1, -1, out="int64"),
    C("arange", "float-stop-only", _np_arange, 3, dtype=DT),
    C("zeros_like", "float", np.zeros_like, _u(3, 4)),
    C("zeros_like", "int64", np.zeros_like, _ints(2, 2), out="int64"),
    C("ones_like", "float", np.ones_like, _u(3, 4)),
    C("ones_like", "bool", np.ones_like, _MASK34, out="bool"),
]

#: Primitives that take no case-table row because their results are not NumPy-comparable;
#: each has its own test below.
SEPARATELY_TESTED = {"version": "test_info", "devices": "test_devices",
                     "random_uniform": "test_random_*", "random_normal": "test_random_*",
                     "random_bernoulli": "test_random_*", "random_permutation": "test_random_*",
                     "jit": "test_jit", "unshared": "test_copy_is_independent_and_unshared_is_safe"}

assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


# ----------------------------------------------------------------- helpers
@pytest.fixture
def dtype_under_test(backend, conformance_dtype) -> str:
    """``conformance_dtype``, skipping float64 on a backend that cannot make it now."""
    if conformance_dtype == "float64" and not backend.supports_float64:
        pytest.skip(f"the {backend.name} backend does not support float64 here")
    return conformance_dtype


def has_device(backend: Backend, name: str) -> bool:
    """Whether ``backend`` has the device ``name`` here; "cuda" means any "cuda:<i>"."""
    return any(d == name or d.startswith(name + ":") for d in backend.devices())


@pytest.fixture
def device_under_test(backend, request) -> str:
    """Where the table tests put their array arguments: the ``conformance_device`` fixture
    if the test file defines one (e.g. ``"cuda"``), else ``"cpu"``. Returned as the backend
    names it (``"cuda"`` -> ``"cuda:0"``); a device the backend lacks here skips the test."""
    try:
        wanted = request.getfixturevalue("conformance_device")
    except pytest.FixtureLookupError:
        wanted = "cpu"
    if wanted == "cpu":
        return "cpu"
    if not has_device(backend, wanted):
        pytest.skip(f"the {backend.name} backend has no {wanted!r} device here "
                    f"(devices: {backend.devices()})")
    return backend.device_of(backend.zeros((1,), "float32", wanted))


def _convert(backend: Backend, value: Any, dtype: str, to_backend: bool,
             device: str = "cpu") -> Any:
    """A case's arguments made concrete: NumPy float arrays cast to ``dtype``, then (when
    ``to_backend``) made into backend arrays on ``device``; containers converted element
    by element."""
    if isinstance(value, str) and value == DT:
        return dtype
    if isinstance(value, str) and value == DEV:
        return device
    if isinstance(value, Raw):
        raw = value.value
        if isinstance(raw, np.ndarray):
            raw = raw.astype(dtype) if value.cast and raw.dtype.kind == "f" else raw.copy()
        return raw
    if isinstance(value, np.ndarray):
        arr = value.astype(dtype) if value.dtype.kind == "f" else value.copy()
        return backend.asarray(arr, arr.dtype.name, device) if to_backend else arr
    if isinstance(value, tuple):
        return tuple(_convert(backend, v, dtype, to_backend, device) for v in value)
    if isinstance(value, list):
        return [_convert(backend, v, dtype, to_backend, device) for v in value]
    if isinstance(value, dict):
        return {k: _convert(backend, v, dtype, to_backend, device) for k, v in value.items()}
    return value


def _arrays_in(backend: Backend, value: Any) -> list:
    """Every array (backend-native or NumPy) inside a nest of tuples, lists and dicts."""
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays_in(backend, v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays_in(backend, v)]
    return [value] if isinstance(value, np.ndarray) or backend.is_array(value) else []


def _snapshot(backend: Backend, x) -> np.ndarray:
    return np.array(x if isinstance(x, np.ndarray) else backend.to_numpy(x), copy=True)


def _expected_dtype(case: Case, dtype: str) -> str:
    return dtype if case.out == "same" else case.out


def dtype_matches(backend: Backend, got: str, want: str) -> bool:
    """``got == want``, except that a backend without 64-bit types may give int32 for int64
    (float64 is never narrowed silently: asking for it is an error there)."""
    return got == want or (want == "int64" and got == "int32" and not backend.supports_float64)


def _check_array(backend: Backend, what: str, result, expected: np.ndarray, want: str,
                 device: str = "cpu") -> None:
    assert backend.is_array(result), \
        f"{what}: returned {type(result).__name__}, not a {backend.name} array"
    got_dtype = backend.dtype_of(result)
    assert dtype_matches(backend, got_dtype, want), f"{what}: dtype {got_dtype}, expected {want}"
    assert tuple(result.shape) == expected.shape, \
        f"{what}: shape {tuple(result.shape)}, expected {expected.shape}"
    assert backend.device_of(result) == device, \
        f"{what}: result on {backend.device_of(result)!r}, expected {device!r}"
    got = backend.to_numpy(result)
    if want in TOLERANCES:
        np.testing.assert_allclose(got, expected.astype(np.float64), equal_nan=True,
                                   err_msg=what, **TOLERANCES[want])
    else:
        np.testing.assert_array_equal(got, expected.astype(want), err_msg=what)


# ------------------------------------------------------------ table tests
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_numpy(backend, dtype_under_test, device_under_test, case):
    """Result of each primitive vs NumPy: type, dtype, shape, device, every value."""
    want = _expected_dtype(case, dtype_under_test)
    if want == "float64" and not backend.supports_float64:
        pytest.skip(f"the {backend.name} backend does not support float64 here")
    args = _convert(backend, case.args, dtype_under_test, True, device_under_test)
    kwargs = _convert(backend, case.kwargs, dtype_under_test, True, device_under_test)
    # results live where the array arguments are; creation primitives default to the CPU
    native = [a for a in _arrays_in(backend, (args, kwargs)) if backend.is_array(a)]
    on = device_under_test if native else "cpu"
    if case.prim == "to_device":
        on = args[1]  # "cpu", or the device under test as the backend names it
    result = getattr(backend, case.prim)(*args, **kwargs)
    expected = case.ref(*_convert(backend, case.args, dtype_under_test, to_backend=False),
                        **_convert(backend, case.kwargs, dtype_under_test, to_backend=False))
    what = f"{backend.name}.{case.prim} ({case.label}, {dtype_under_test})"
    if case.out == "python":
        assert type(result) is type(expected), \
            f"{what}: returned {type(result).__name__}, expected a Python {type(expected).__name__}"
        if isinstance(expected, float):
            assert math.isclose(result, expected, rel_tol=1e-6), f"{what}: {result} != {expected}"
        elif case.prim == "dtype_of":
            assert dtype_matches(backend, result, expected), f"{what}: {result!r} != {expected!r}"
        elif case.prim == "device_of":
            assert result == on, f"{what}: {result!r}, the array was made on {on!r}"
        else:
            assert result == expected, f"{what}: {result!r} != {expected!r}"
    elif case.out == "ndarray":
        assert isinstance(result, np.ndarray), \
            f"{what}: returned {type(result).__name__}, not a numpy.ndarray"
        assert dtype_matches(backend, result.dtype.name, expected.dtype.name) \
            and result.shape == expected.shape, \
            f"{what}: {result.dtype}{result.shape}, expected {expected.dtype}{expected.shape}"
        np.testing.assert_array_equal(result, expected, err_msg=what)
    else:
        _check_array(backend, what, result, np.asarray(expected), want, on)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_inputs_unchanged(backend, dtype_under_test, device_under_test, case):
    """Purity: no primitive writes into its array arguments."""
    if _expected_dtype(case, dtype_under_test) == "float64" and not backend.supports_float64:
        pytest.skip(f"the {backend.name} backend does not support float64 here")
    args = _convert(backend, case.args, dtype_under_test, True, device_under_test)
    kwargs = _convert(backend, case.kwargs, dtype_under_test, True, device_under_test)
    arrays = _arrays_in(backend, (args, kwargs))
    before = [_snapshot(backend, a) for a in arrays]
    getattr(backend, case.prim)(*args, **kwargs)
    for i, (a, old) in enumerate(zip(arrays, before)):
        now = _snapshot(backend, a)
        assert now.shape == old.shape and now.dtype == old.dtype, \
            f"{backend.name}.{case.prim} ({case.label}) changed array argument {i}'s " \
            f"shape/dtype from {old.dtype}{old.shape} to {now.dtype}{now.shape}"
        np.testing.assert_array_equal(
            now, old, err_msg=f"{backend.name}.{case.prim} ({case.label}) wrote into array "
                              f"argument {i}: primitives must be pure")


@pytest.mark.parametrize("case", [c for c in CASES if c in _OPT_UPDATES and c.prim not in
                                  ("copy", "sqrt_div_add")], ids=lambda c: c.id)
def test_optimizer_updates_in_place(backend, dtype_under_test, device_under_test, case):
    """``inplace=True`` (the caller owns the first argument): the same values as the pure
    form; the backend may write them into the first argument and return it, but never
    into the other arguments."""
    if dtype_under_test == "float64" and not backend.supports_float64:
        pytest.skip(f"the {backend.name} backend does not support float64 here")
    args = _convert(backend, case.args, dtype_under_test, True, device_under_test)
    others = _arrays_in(backend, args[1:])
    first_before, before = _snapshot(backend, args[0]), [_snapshot(backend, a) for a in others]
    result = getattr(backend, case.prim)(*args, inplace=True)
    expected = case.ref(*_convert(backend, case.args, dtype_under_test, to_backend=False))
    what = f"{backend.name}.{case.prim} ({case.label}, {dtype_under_test}, inplace=True)"
    _check_array(backend, what, result, np.asarray(expected), dtype_under_test,
                 device_under_test)
    if result is not args[0]:  # a new array: then the owned input must be as it was
        np.testing.assert_array_equal(_snapshot(backend, args[0]), first_before,
                                      err_msg=f"{what}: changed its first argument but "
                                              f"returned another array")
    for i, (a, old) in enumerate(zip(others, before)):
        np.testing.assert_array_equal(_snapshot(backend, a), old,
                                      err_msg=f"{what} wrote into array argument {i + 1}")


def test_copy_is_independent_and_unshared_is_safe(backend):
    """``copy`` gives an array that later in-place updates of the original do not change;
    ``unshared`` never claims an array that something else refers to."""
    x = backend.asarray(np.arange(6.0).reshape(2, 3), "float32")
    c = backend.copy(x)
    x = backend.scale(x, 2.0, inplace=backend.unshared(x, 1))
    np.testing.assert_array_equal(backend.to_numpy(c), np.arange(6.0).reshape(2, 3))
    held = backend.asarray(np.ones(3), "float32")
    alias = held  # a second reference
    assert backend.unshared(held, 1) is False
    view = backend.reshape(backend.asarray(np.ones(4), "float32"), (2, 2))
    assert backend.unshared(view, 1) is False, "a view shares its base's memory"
    del alias


def test_every_primitive_is_covered():
    """Every public method of the contract has a table row or a test of its own, so a
    primitive added to base.py fails here until the suite checks it."""
    public = {n for n, v in vars(Backend).items()
              if not n.startswith("_") and callable(getattr(Backend, n))}
    covered = {c.prim for c in CASES} | set(SEPARATELY_TESTED)
    assert public - covered == set(), f"primitives without a conformance test: {public - covered}"
    assert covered - public == set(), f"tests of names that are not primitives: {covered - public}"


# ------------------------------------------------------ hand-worked values
def test_index_add_accumulates_duplicates(backend, dtype_under_test):
    dt = dtype_under_test
    x = backend.ones((4, 2), dt)
    values = backend.asarray([[1, 2], [3, 4], [5, 6], [7, 8]], dt)
    out = backend.index_add(x, 0, backend.asarray([1, 3, 1, 1], "int64"), values)
    # row 1 gets values rows 0, 2 and 3: 1 + (1 + 5 + 7), 1 + (2 + 6 + 8); row 3 gets row 1
    np.testing.assert_array_equal(backend.to_numpy(out), [[1, 1], [14, 17], [1, 1], [4, 5]])
    assert backend.dtype_of(out) == dt

    x = backend.zeros((2, 3), dt)
    values = backend.asarray([[1, 2, 3], [4, 5, 6]], dt)
    out = backend.index_add(x, -1, backend.asarray([2, 0, 2], "int64"), values)
    # column 0 gets values column 1; column 2 gets columns 0 and 2 summed
    np.testing.assert_array_equal(backend.to_numpy(out), [[2, 0, 4], [5, 0, 10]])


def test_add_at_accumulates_duplicates(backend, dtype_under_test):
    dt = dtype_under_test
    x = backend.zeros((3, 3), dt)
    key = (backend.asarray([0, 0, 2, 0], "int64"), backend.asarray([1, 1, 0, 1], "int64"))
    out = backend.add_at(x, key, backend.asarray([1, 2, 3, 4], dt))
    # (0, 1) is hit three times: 1 + 2 + 4
    np.testing.assert_array_equal(backend.to_numpy(out), [[0, 7, 0], [0, 0, 0], [3, 0, 0]])
    assert backend.dtype_of(out) == dt

    x = backend.ones((3, 2), dt)
    out = backend.add_at(x, backend.asarray([1, 1], "int64"),
                         backend.asarray([[1, 2], [10, 20]], dt))
    np.testing.assert_array_equal(backend.to_numpy(out), [[1, 1], [12, 23], [1, 1]])


def test_argmax_argmin_first_on_ties(backend, dtype_under_test):
    x = backend.asarray([[1, 3, 3], [2, 2, 0]], dtype_under_test)
    expect = {("argmax", 1): [1, 0], ("argmin", 1): [0, 2], ("argmax", 0): [1, 0, 0],
              ("argmin", 0): [0, 1, 1], ("argmax", None): 1, ("argmin", None): 5}
    for (name, axis), want in expect.items():
        got = getattr(backend, name)(x, axis=axis)
        assert dtype_matches(backend, backend.dtype_of(got), "int64"), \
            f"{name}: dtype {backend.dtype_of(got)}, expected int64"
        np.testing.assert_array_equal(backend.to_numpy(got), want,
                                      err_msg=f"{name}(axis={axis}) must pick the first extremum")
    flat = backend.asarray([5, 5, 5], dtype_under_test)
    assert backend.item(backend.argmax(flat)) == 0 and backend.item(backend.argmin(flat)) == 0


def test_relu_nan_rule(backend, dtype_under_test):
    """relu keeps NaN; relu'(0) = 0 and relu'(nan) = 0: relu_backward is grad * (x > 0) on
    every backend (torch's threshold_backward, which passes grad where x is NaN, is not)."""
    dt, nan, inf = dtype_under_test, float("nan"), float("inf")
    x = backend.asarray([nan, 0.0, -0.0, -1.0, 2.0, inf, -inf], dt)
    out = backend.relu(x)
    assert backend.dtype_of(out) == dt
    np.testing.assert_array_equal(backend.to_numpy(out), [nan, 0, 0, 0, 2, inf, 0])
    grad = backend.asarray([1.5, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dt)
    for saved in (x, out):  # relu's input or its output: the same gradient
        got = backend.relu_backward(grad, saved)
        assert backend.dtype_of(got) == dt and tuple(got.shape) == (7,)
        np.testing.assert_array_equal(backend.to_numpy(got), [0, 0, 0, 0, 5, 6, 0],
                                      err_msg="relu_backward must be 0 where x <= 0 or NaN")
    # A non-finite upstream gradient is multiplied by the 0/1 mask: inf * 0 is NaN.
    with np.errstate(invalid="ignore"):
        got = backend.relu_backward(backend.asarray([inf, nan, inf, 1.0, -inf], dt),
                                    backend.asarray([nan, -1.0, 1.0, nan, 0.0], dt))
        np.testing.assert_array_equal(backend.to_numpy(got), [nan, nan, inf, 0, nan])


# ------------------------------------------------------------ broadcasting
@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
                                    ((4,), (3, 4)), ((1,), (3, 1)), ((0, 3), (1, 3)),
                                    ((5, 1, 1), (1, 2, 1))], ids=str)
def test_broadcast_shapes(backend, dtype_under_test, shapes):
    a = backend.ones(shapes[0], dtype_under_test)
    b = backend.ones(shapes[1], dtype_under_test)
    want = np.broadcast_shapes(*shapes)
    for name in ("add", "multiply", "maximum", "less"):
        assert tuple(getattr(backend, name)(a, b).shape) == want, f"{name}{shapes}"
    cond = backend.greater(a, 0.0)
    assert tuple(backend.where(cond, a, b).shape) == want, f"where{shapes}"


@pytest.mark.parametrize("call", [
    lambda b, dt: b.add(b.ones((3, 4), dt), b.ones((5,), dt)),
    lambda b, dt: b.matmul(b.ones((3, 4), dt), b.ones((5, 2), dt)),
    lambda b, dt: b.reshape(b.ones((3, 4), dt), (5, 2)),
    lambda b, dt: b.broadcast_to(b.ones((3, 2), dt), (3, 4)),
], ids=["add", "matmul", "reshape", "broadcast_to"])
def test_incompatible_shapes_raise(backend, dtype_under_test, call):
    with pytest.raises(Exception) as info:
        call(backend, dtype_under_test)
    assert not isinstance(info.value, NotImplementedError), info.value


# ------------------------------------------------------------------ random
_DRAWS = {
    "uniform": lambda b, key, dt: b.random_uniform(key, (20, 20), dt),
    "uniform-range": lambda b, key, dt: b.random_uniform(key, (20, 20), dt, low=-2.0, high=3.0),
    "normal": lambda b, key, dt: b.random_normal(key, (20, 20), dt),
    "bernoulli": lambda b, key, dt: b.random_bernoulli(key, 0.3, (20, 20)),
    "permutation": lambda b, key, dt: b.random_permutation(key, 50),
}
_DRAW_DTYPE = {"uniform": None, "uniform-range": None, "normal": None,
               "bernoulli": "bool", "permutation": "int64"}


@pytest.mark.parametrize("draw", list(_DRAWS))
def test_random_same_key_same_draw(backend, dtype_under_test, draw):
    f, key = _DRAWS[draw], RandomKey(7, 3)
    first = backend.to_numpy(f(backend, key, dtype_under_test))
    f(backend, RandomKey(8), dtype_under_test)  # no hidden state may carry between draws
    again = backend.to_numpy(f(backend, key, dtype_under_test))
    np.testing.assert_array_equal(first, again, err_msg=f"{draw}: same key, different draw")
    assert key == RandomKey(7, 3)


@pytest.mark.parametrize("draw", list(_DRAWS))
def test_random_different_keys_differ(backend, dtype_under_test, draw):
    f, key = _DRAWS[draw], RandomKey(7)
    keys = {"key": key, "other seed": RandomKey(8), "other counter": RandomKey(7, 5),
            "fold(0)": key.fold(0), "fold(1)": key.fold(1)}
    assert len(set(keys.values())) == len(keys)
    draws = {k: backend.to_numpy(f(backend, v, dtype_under_test)) for k, v in keys.items()}
    names = list(draws)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.array_equal(draws[a], draws[b]), \
                f"{draw}: keys {a} and {b} gave the same draw"


@pytest.mark.parametrize("draw", list(_DRAWS))
def test_random_shapes_and_dtypes(backend, dtype_under_test, draw):
    out = _DRAWS[draw](backend, RandomKey(1), dtype_under_test)
    want = _DRAW_DTYPE[draw] or dtype_under_test
    assert dtype_matches(backend, backend.dtype_of(out), want), \
        f"{draw}: dtype {backend.dtype_of(out)}, expected {want}"
    assert tuple(out.shape) == ((50,) if draw == "permutation" else (20, 20))
    if draw == "permutation":
        np.testing.assert_array_equal(np.sort(backend.to_numpy(out)), np.arange(50))


def test_random_distributions(backend, dtype_under_test):
    """Loose bounds (many standard errors wide): these check the distribution, not luck."""
    dt, key = dtype_under_test, RandomKey(123)
    u = backend.to_numpy(backend.random_uniform(key, (100_000,), dt, low=-2.0, high=3.0))
    assert u.min() >= -2.0 and u.max() < 3.0, f"uniform outside [-2, 3): {u.min()}, {u.max()}"
    assert u.min() < -1.99 and u.max() > 2.99, "uniform does not fill [-2, 3)"
    assert abs(u.mean() - 0.5) < 0.05, f"uniform(-2, 3) mean {u.mean()}"
    n = backend.to_numpy(backend.random_normal(key.fold(1), (100_000,), dt))
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03, f"normal {n.mean()}, {n.std()}"
    bern = backend.to_numpy(backend.random_bernoulli(key.fold(2), 0.3, (200, 100)))
    assert abs(bern.mean() - 0.3) < 0.03, f"bernoulli(0.3) rate {bern.mean()}"
    assert not backend.to_numpy(backend.random_bernoulli(key, 0.0, (1000,))).any()
    assert backend.to_numpy(backend.random_bernoulli(key, 1.0, (1000,))).all()


# --------------------------------------------------------- info and devices
def test_info(backend):
    assert isinstance(backend, Backend)
    assert isinstance(backend.name, str) and backend.name not in ("", "abstract")
    assert backend.name in repr(backend)
    version = backend.version()
    assert isinstance(version, str) and version, f"version() gave {version!r}"
    assert isinstance(backend.supports_float64, bool)
    assert all(isinstance(c, str) for c in backend.capabilities)


def test_devices(backend):
    devices = backend.devices()
    assert isinstance(devices, list) and all(isinstance(d, str) for d in devices), devices
    assert devices[0] == "cpu", f"devices() must list 'cpu' first, got {devices}"
    x = backend.asarray([1.0, 2.0], "float32")
    moved = backend.to_device(x, "cpu")
    assert backend.device_of(moved) == "cpu"
    np.testing.assert_array_equal(backend.to_numpy(moved), [1.0, 2.0])
    made = backend.zeros((2,), "float32", device="cpu")
    assert backend.device_of(made) == "cpu"


@pytest.mark.parametrize("call", [
    lambda b: b.to_device(b.asarray([1.0], "float32"), "no-such-device"),
    lambda b: b.asarray([1.0], "float32", device="no-such-device"),
    lambda b: b.zeros((2,), "float32", device="no-such-device"),
], ids=["to_device", "asarray", "zeros"])
def test_unknown_device_raises(backend, call):
    with pytest.raises(BackendError, match="no-such-device"):
        call(backend)


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("name", DTYPES)
def test_dtype_names(backend, name):
    """Every canonical dtype the backend supports round-trips through asarray, astype,
    zeros and dtype_of; asking for one it lacks is a BackendError, never a substitute."""
    if name not in backend.dtypes or (name == "float64" and not backend.supports_float64):
        for call in (lambda: backend.asarray([1.0], name), lambda: backend.zeros((2,), name)):
            with pytest.raises(BackendError):  # an error, never a silent float32
                call()
        return
    x = backend.asarray([0, 1, 2], name)
    made = {"asarray": x, "zeros": backend.zeros((2,), name),
            "astype": backend.astype(backend.asarray([0, 1], "int32"), name)}
    for how, y in made.items():
        assert dtype_matches(backend, backend.dtype_of(y), name), \
            f"{how}(..., {name!r}) made {backend.dtype_of(y)}"
    assert backend.dtype_of(backend.astype(x, "float32")) == "float32"
    np.testing.assert_array_equal(backend.to_numpy(x), np.array([0, 1, 2]).astype(name))


@pytest.mark.parametrize("call", [
    lambda b: b.asarray([1.0], "float128"),
    lambda b: b.asarray([1.0], "f4"),  # NumPy's alias: edu_nn names are canonical strings
    lambda b: b.astype(b.asarray([1.0], "float32"), "complex64"),
    lambda b: b.zeros((2,), "double"),
], ids=["asarray-float128", "asarray-f4", "astype-complex64", "zeros-double"])
def test_unknown_dtype_raises(backend, call):
    with pytest.raises(BackendError):
        call(backend)


def test_asarray_does_not_alias(backend, dtype_under_test):
    """Writing into the source afterwards must not change the backend array."""
    src = np.array([1.0, 2.0, 3.0], dtype=dtype_under_test)
    kept = backend.asarray(src)
    same_dtype = backend.asarray(src, dtype_under_test)
    src[0] = 99.0
    for x in (kept, same_dtype):
        np.testing.assert_array_equal(backend.to_numpy(x), [1.0, 2.0, 3.0])
    assert backend.dtype_of(kept) == dtype_under_test


def test_is_array(backend, dtype_under_test):
    x = backend.asarray([1.0, 2.0], dtype_under_test)
    for made in (x, backend.sum(x), backend.zeros((), dtype_under_test), backend.less(x, 1.5),
                 backend.argmax(x)):
        assert backend.is_array(made), f"is_array rejected {type(made).__name__}"
    for other in ([1.0, 2.0], 1.5, 3, None, "x", (1, 2)):
        assert not backend.is_array(other), f"is_array accepted {other!r}"


# ------------------------------------------------------------------- jit
def test_jit(backend, dtype_under_test):
    def f(a, b):
        return backend.add(backend.multiply(a, b), backend.exp(a))

    jitted = backend.jit(f)
    assert callable(jitted)
    for seed in (0, 1):  # a second call with new values must not replay the first result
        rng = np.random.default_rng(seed)
        a = backend.asarray(rng.uniform(-1, 1, (3, 4)), dtype_under_test)
        b = backend.asarray(rng.uniform(-1, 1, (3, 4)), dtype_under_test)
        got, want = jitted(a, b), f(a, b)
        assert backend.dtype_of(got) == dtype_under_test
        np.testing.assert_allclose(backend.to_numpy(got), backend.to_numpy(want),
                                   **TOLERANCES[dtype_under_test])


__all__ = sorted(name for name in list(globals())
                 if name.startswith("test_") or name in ("dtype_under_test", "device_under_test"))
