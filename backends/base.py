"""The backend contract: the array primitives that edu_nn's core is written against.

A backend wraps one array library (NumPy, torch, JAX, ...). The autograd core never
touches an array except through these methods, so the same hand-written forward and
backward of every op runs on every backend.

Rules every backend follows (the conformance suite in ``conformance.py`` checks them):

* **Pure.** No primitive mutates its inputs; each returns a new array (or an input
  unchanged, which is fine because nobody mutates it either). That is what lets JAX in.
* **Arrays** are the library's native type and expose ``.shape`` (a tuple of ints) and
  ``.dtype``; nothing else is assumed of them.
* **dtypes** are canonical strings: ``"float16" "float32" "float64" "uint8" "int8"
  "int16" "int32" "int64" "bool"``. A backend without 64-bit support (``supports_float64``
  False: JAX without x64 mode) refuses float64 with an error, and holds int64 (indices,
  labels) as int32, which it documents; 32-bit integers hold any index a course uses. Elementwise ops on two arrays require equal dtypes (the core checks this before
  calling, with a message for students); a Python scalar combined with an array takes the
  array's dtype. Every primitive preserves the dtype of its floating inputs unless its
  documentation says otherwise (comparisons give ``bool``, ``argmax`` gives ``int64``).
* **Devices** are strings (``"cpu"``, ``"cuda"``, ``"cuda:1"``); outputs live on their
  inputs' device.
* **Axes** follow NumPy: negative axes count from the end; ``axis=None`` means all axes.
* **Randomness** comes only from an explicit :class:`RandomKey`; the same key gives the same
  draw on the same backend. There is no hidden global random state.

A backend subclasses :class:`Backend`, sets :attr:`name`, and implements the methods that
raise ``NotImplementedError`` here. Methods with a body are shared defaults written in
terms of other primitives; a backend may override them with a faster native version.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

Array = Any  # the backend's native array type
Shape = tuple[int, ...]
Axis = int | tuple[int, ...] | None

#: Canonical dtype names, in the order of "how floaty".
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("uint8", "int8", "int16", "int32", "int64")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)


_MASK64 = (1 << 64) - 1


def _mix64(z: int) -> int:
    """SplitMix64's finaliser: a bijection on 64-bit integers that scrambles every bit."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class RandomKey(NamedTuple):
    """An explicit random key: a ``seed`` and a ``counter``.

    Keys are values, advanced functionally: ``key.fold(i)`` gives the i-th child key and
    never changes ``key``. A backend turns a key into its own generator state, so the same
    key gives the same numbers on the same backend (not across backends: parameters are
    initialised by drawing in NumPy and converting).
    """

    seed: int
    counter: int = 0

    def fold(self, i: int) -> "RandomKey":
        """The i-th child key: a distinct stream, derived without mutating this key.

        The child's counter is a 64-bit hash (SplitMix64's mixer) of (counter, i), so
        children of different keys do not collide by construction, as a linear formula
        such as ``counter * K + i`` would (``(s, 1).fold(0)`` vs ``(s, 0).fold(K)``).
        """
        return RandomKey(self.seed, _mix64(_mix64(self.counter) ^ (int(i) + 1)))

    def split(self, n: int = 2) -> tuple["RandomKey", ...]:
        """``n`` distinct child keys."""
        return tuple(self.fold(i) for i in range(n))

    def entropy(self) -> list[int]:
        """The key as non-negative words, for seeding a library's generator."""
        return [self.seed & 0xFFFFFFFF, (self.seed >> 32) & 0xFFFFFFFF,
                self.counter & 0xFFFFFFFF, (self.counter >> 32) & 0xFFFFFFFF]


class BackendError(Exception):
    """Raised when a backend cannot do what was asked (a dtype, a device, a missing library)."""


def check_dtype_name(dtype: str) -> str:
    """Return ``dtype`` if it is a canonical dtype name, else raise a clear error."""
    if dtype not in DTYPES:
        raise BackendError(
            f"unknown dtype {dtype!r}: edu_nn dtypes are the strings {', '.join(DTYPES)} "
            f"(for example edu_nn.float32 == 'float32')")
    return dtype


def normalize_axis(axis: int, ndim: int, op: str = "op") -> int:
    """Turn a possibly negative axis into a non-negative one, with a clear error."""
    if not -ndim <= axis < max(ndim, 1):
        raise IndexError(f"{op}: dim {axis} is out of range for a tensor with {ndim} dims "
                         f"(valid: {-ndim} to {ndim - 1})")
    return axis % max(ndim, 1)


class Backend:
    """Base class of every array backend. See the module docstring for the rules.

    Attributes:
        name: the registry name (``"numpy"``, ``"torch"``, ``"jax"``, ...).
        supports_float64: whether ``"float64"`` arrays can be made now.
        dtypes: the canonical dtype names this backend supports at all.
        is_jax_like: True when arrays are immutable and ``jit`` compiles (JAX).
        capabilities: flags the core or tests may consult: ``"float64"`` (float64 now),
            ``"add_at"`` (a native scatter-add), ``"cuda"`` (a CUDA device is available),
            ``"jit"`` (``jit`` compiles), ``"immutable"`` (arrays cannot be written at all).
    """

    name: str = "abstract"
    supports_float64: bool = True
    #: The canonical dtypes this backend can make. A library without one (array-api-strict
    #: has no float16) leaves it out and raises BackendError when asked for it, never
    #: substituting another dtype. (float64 without JAX's x64 mode is ``supports_float64``.)
    dtypes: frozenset[str] = frozenset(DTYPES)
    is_jax_like: bool = False
    capabilities: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ info
    def version(self) -> str:
        """The version of the array library behind this backend."""
        raise NotImplementedError

    def devices(self) -> list[str]:
        """Devices this backend can put arrays on now, ``"cpu"`` first."""
        return ["cpu"]

    def __repr__(self) -> str:
        return f"<edu_nn backend {self.name!r}>"

    # ------------------------------------------------------------ conversion
    def asarray(self, data: Any, dtype: str | None = None, device: str | None = None) -> Array:
        """Make a native array from nested lists, scalars, NumPy arrays or native arrays.

        ``dtype=None`` keeps the data's dtype (NumPy's inference for lists). Never aliases
        data that the caller could later mutate in place into a result that must not change.
        """
        raise NotImplementedError

    def to_numpy(self, x: Array) -> np.ndarray:
        """``x`` as a NumPy array on the host. Like torch's ``.numpy()`` it may share memory
        with ``x`` on CPU; callers that will write to it copy it first."""
        raise NotImplementedError

    def astype(self, x: Array, dtype: str) -> Array:
        """``x`` converted to ``dtype`` (a canonical name). Same shape, same device."""
        raise NotImplementedError

    def to_device(self, x: Array, device: str) -> Array:
        """``x`` on ``device``; raises :class:`BackendError` for a device this backend lacks."""
        if device not in (None, "cpu"):
            raise BackendError(f"the {self.name} backend has no device {device!r}: "
                               f"available: {self.devices()}")
        return x

    def dtype_of(self, x: Array) -> str:
        """The canonical dtype name of ``x``."""
        raise NotImplementedError

    def device_of(self, x: Array) -> str:
        """The device of ``x`` as a string."""
        return "cpu"

    def is_array(self, x: Any) -> bool:
        """Whether ``x`` is this backend's native array type (never imports a library to ask)."""
        raise NotImplementedError

    def item(self, x: Array) -> float | int | bool:
        """The Python scalar in a one-element array."""
        return self.to_numpy(x).item()

    # -------------------------------------------------------------- creation
    def zeros(self, shape: Shape, dtype: str, device: str = "cpu") -> Array:
        raise NotImplementedError

    def ones(self, shape: Shape, dtype: str, device: str = "cpu") -> Array:
        return self.full(shape, 1, dtype, device)

    def full(self, shape: Shape, value: float, dtype: str, device: str = "cpu") -> Array:
        raise NotImplementedError

    def arange(self, start: float, stop: float | None = None, step: float = 1,
               dtype: str = "int64", device: str = "cpu") -> Array:
        """Like ``numpy.arange``; with one argument it is ``stop``."""
        raise NotImplementedError

    def zeros_like(self, x: Array) -> Array:
        return self.zeros(tuple(x.shape), self.dtype_of(x), self.device_of(x))

    def ones_like(self, x: Array) -> Array:
        return self.ones(tuple(x.shape), self.dtype_of(x), self.device_of(x))

    # ----------------------------------------------------------- elementwise
    # Binary ops take two arrays of the same dtype (broadcasting as NumPy) or an array
    # and a Python scalar, and return the array's dtype.
    def add(self, a, b): raise NotImplementedError
    def subtract(self, a, b): raise NotImplementedError
    def multiply(self, a, b): raise NotImplementedError
    def divide(self, a, b): raise NotImplementedError
    def power(self, a, b): raise NotImplementedError
    def maximum(self, a, b): raise NotImplementedError
    def minimum(self, a, b): raise NotImplementedError
    # Unary ops keep shape and dtype.
    def negative(self, x): raise NotImplementedError
    def exp(self, x): raise NotImplementedError
    def log(self, x): raise NotImplementedError
    def log1p(self, x): raise NotImplementedError
    def sqrt(self, x): raise NotImplementedError
    def abs(self, x): raise NotImplementedError
    def sign(self, x): raise NotImplementedError
    def tanh(self, x): raise NotImplementedError
    def erf(self, x): raise NotImplementedError

    # Added for torch's tutorials (sin, cos, floor, cumsum, sort). The shared defaults go
    # through NumPy, which is correct everywhere but slow off the CPU and not jit-traceable,
    # so the built-in backends override them natively.
    def sin(self, x):
        return self._via_numpy(np.sin, x)

    def cos(self, x):
        return self._via_numpy(np.cos, x)

    def floor(self, x):
        return self._via_numpy(np.floor, x)

    def cumsum(self, x, axis: int):
        """Inclusive running sum along ``axis`` (dtype kept)."""
        return self._via_numpy(lambda a: np.cumsum(a, axis=axis, dtype=a.dtype), x)

    def argsort(self, x, axis: int = -1, descending: bool = False):
        """int64 indices that sort ``x`` along ``axis``; stable (ties keep their order)."""
        def sort(a):
            return (np.argsort(-a if a.dtype != np.bool_ else ~a, axis=axis, kind="stable")
                    if descending else np.argsort(a, axis=axis, kind="stable"))
        return self.asarray(sort(self.to_numpy(x)), "int64", self.device_of(x))

    def _via_numpy(self, fn, x):
        return self.asarray(fn(self.to_numpy(x)), self.dtype_of(x), self.device_of(x))

    def square(self, x):
        return self.multiply(x, x)

    def reciprocal(self, x):
        return self.divide(1.0, x)

    def add_scaled(self, x, y, alpha: float, *, inplace: bool = False):
        """``x + alpha * y`` (BLAS's axpy), the shape of every optimizer update. Same dtypes.
        A backend may compute it in one temporary (its own, never an input). ``inplace``: see
        "Optimizer updates" below."""
        return self.add(x, self.multiply(y, alpha))

    # ------------------------------------------------------ optimizer updates
    # The update rules of edu_nn.optim as a few fused primitives (issue 16), so an optimizer
    # step makes a few passes over memory instead of one fresh array per elementwise op.
    # ``inplace=True`` says the caller OWNS the first argument (an optimizer's state buffer,
    # or a parameter array nothing else refers to, see :meth:`unshared`): the backend MAY
    # write the result into it and return it (torch's ``add_`` convention). The caller always
    # uses the returned array. The defaults below are pure (they ignore ``inplace``, as JAX
    # must: its arrays cannot be written); NumPy and torch override them with in-place
    # kernels, and the conformance suite checks both forms give the defaults' values. Shapes
    # and dtypes of all array arguments are the first argument's (no broadcasting needed).
    def copy(self, x):
        """An independent copy of ``x`` (an immutable array may be returned as it is)."""
        return self.multiply(x, 1)

    def scale(self, x, factor: float, *, inplace: bool = False):
        """``x * factor`` (momentum decay, decoupled weight decay)."""
        return self.multiply(x, factor)

    def lerp(self, a, b, weight: float, *, inplace: bool = False):
        """``a + weight * (b - a)``: a running mean (Adam's m, RMSprop's centred mean)."""
        return self.add_scaled(a, self.subtract(b, a), weight)

    def mul_add_square(self, a, x, decay: float, scale: float, *, inplace: bool = False):
        """``a * decay + (x * x) * scale``: a running mean of squares (Adam's v)."""
        return self.add_scaled(self.multiply(a, decay), self.multiply(x, x), scale)

    def addcdiv(self, x, num, denom, value: float, *, inplace: bool = False):
        """``x + value * (num / denom)``: the preconditioned step (torch's addcdiv)."""
        return self.add_scaled(x, self.divide(num, denom), value)

    def sqrt_div_add(self, x, divisor: float, eps: float):
        """``sqrt(x) / divisor + eps``, a new array: Adam's denominator."""
        return self.add(self.divide(self.sqrt(x), divisor), eps)

    def unshared(self, x, references: int) -> bool:
        """Whether nothing but the caller's ``references`` references refers to ``x`` (nor
        to its memory through a view), so that writing into it cannot be seen by anyone
        else: no alias, no graph node that saved it for backward, no user variable. The
        default, False, is always safe (the optimizer then makes a new parameter array)."""
        return False

    # Optional fused primitives. Each default below is written with other primitives, so a
    # backend gets it for free; a backend overrides one only with a native kernel that the
    # conformance suite shows gives the same values (NaNs and signed zeros included).
    def relu(self, x):
        """``max(x, 0)`` for a floating ``x`` (any shape); a NaN stays NaN, as in
        :meth:`maximum`. Same shape and dtype."""
        return self.maximum(x, 0.0)

    def relu_backward(self, grad, x):
        """The gradient of :meth:`relu`: ``grad * (x > 0)``, elementwise.

        grad, x: floating arrays of one shape and dtype; ``x`` is relu's input or its output
        (they are > 0 at the same places). Where ``x > 0`` the result is ``grad``; elsewhere
        (``x <= 0``, and also where ``x`` is NaN, since ``nan > 0`` is False) it is
        ``grad * 0``: zero for a finite ``grad`` (relu'(0) = 0, relu'(nan) = 0), NaN where
        ``grad`` is inf or NaN. It is this product, not ``where(x > 0, grad, 0)``, on every
        backend: torch's own ``threshold_backward`` passes ``grad`` through where ``x`` is
        NaN, so it is not a valid override.
        """
        return self.multiply(grad, self.astype(self.greater(x, 0), self.dtype_of(grad)))

    def linear(self, x, weight, bias=None):
        """``x @ weight.T + bias`` with torch's layout (one fused kernel where a backend has
        one, e.g. torch's addmm).

        x: (*, in_features); weight: (out_features, in_features); bias: (out_features,)
        or None; result: (*, out_features). All of one floating dtype.
        """
        y = self.matmul(x, self.permute_dims(weight, (1, 0)))
        return y if bias is None else self.add(y, bias)

    def clip(self, x, min=None, max=None):
        """Elementwise clamp to ``[min, max]`` (Python scalars or arrays; either may be None)."""
        if min is not None:
            x = self.maximum(x, min)
        if max is not None:
            x = self.minimum(x, max)
        return x

    def where(self, cond, a, b):
        """``a`` where the bool array ``cond`` holds, else ``b`` (broadcast; same dtypes).
        One of ``a`` and ``b`` may be a Python scalar; it takes the other's dtype."""
        raise NotImplementedError

    # Comparisons return bool arrays.
    def equal(self, a, b): raise NotImplementedError
    def not_equal(self, a, b): raise NotImplementedError
    def less(self, a, b): raise NotImplementedError
    def less_equal(self, a, b): raise NotImplementedError
    def greater(self, a, b): raise NotImplementedError
    def greater_equal(self, a, b): raise NotImplementedError
    def logical_and(self, a, b): raise NotImplementedError
    def logical_or(self, a, b): raise NotImplementedError
    def logical_not(self, x): raise NotImplementedError
    def isfinite(self, x): raise NotImplementedError

    # ------------------------------------------------------------ reductions
    def sum(self, x, axis: Axis = None, keepdims: bool = False): raise NotImplementedError
    def max(self, x, axis: Axis = None, keepdims: bool = False): raise NotImplementedError

    def min(self, x, axis: Axis = None, keepdims: bool = False):
        return self.negative(self.max(self.negative(x), axis=axis, keepdims=keepdims))

    def mean(self, x, axis: Axis = None, keepdims: bool = False):
        count = self.size_along(x, axis)
        return self.divide(self.sum(x, axis=axis, keepdims=keepdims), float(count))

    def argmax(self, x, axis: int | None = None, keepdims: bool = False):
        """Index of the first maximum (int64); ``axis=None`` indexes the flattened array."""
        raise NotImplementedError

    def argmin(self, x, axis: int | None = None, keepdims: bool = False):
        return self.argmax(self.negative(x), axis=axis, keepdims=keepdims)

    def any(self, x) -> bool:
        """Whether any element of a bool array is True (a Python bool)."""
        return bool(self.to_numpy(x).any())

    def all(self, x) -> bool:
        return bool(self.to_numpy(x).all())

    def count_nonzero(self, x) -> int:
        """How many elements of ``x`` (any shape and dtype) are nonzero, as a Python int;
        True counts for bool arrays, NaN counts as nonzero (NaN != 0). The Array API's
        ``count_nonzero`` over all axes. A check such as "every target hit a class" reads
        one number back this way."""
        return int(self.item(self.sum(self.astype(self.not_equal(x, 0), "int64"))))

    @staticmethod
    def size_along(x, axis: Axis) -> int:
        """Number of elements reduced over by ``axis`` (a helper, not an array op)."""
        shape = tuple(x.shape)
        if axis is None:
            return math.prod(shape)
        axes = (axis,) if isinstance(axis, int) else axis
        return math.prod(shape[a] for a in axes)

    # ---------------------------------------------------------------- linalg
    def matmul(self, a, b):
        """Matrix product with NumPy's rules: batched over leading dims, 1-d promoted."""
        raise NotImplementedError

    # ----------------------------------------------------------------- shape
    def reshape(self, x, shape: Shape): raise NotImplementedError

    def permute_dims(self, x, axes: Sequence[int]):
        """Reorder axes: output axis i is input axis ``axes[i]``."""
        raise NotImplementedError

    def broadcast_to(self, x, shape: Shape): raise NotImplementedError

    def expand_dims(self, x, axis: int):
        shape = list(x.shape)
        shape.insert(normalize_axis(axis, len(shape) + 1, "expand_dims"), 1)
        return self.reshape(x, tuple(shape))

    def squeeze(self, x, axis: int | tuple[int, ...]):
        axes = {normalize_axis(a, x.ndim if hasattr(x, "ndim") else len(x.shape), "squeeze")
                for a in ((axis,) if isinstance(axis, int) else axis)}
        return self.reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))

    def concat(self, arrays: Sequence[Array], axis: int = 0): raise NotImplementedError
    def stack(self, arrays: Sequence[Array], axis: int = 0): raise NotImplementedError

    def pad(self, x, pad_width: Sequence[tuple[int, int]], value: float = 0.0):
        """Constant padding; ``pad_width`` has one ``(before, after)`` pair per axis."""
        raise NotImplementedError

    def flip(self, x, axis: int):
        n = x.shape[axis]
        return self.take(x, self.arange(n - 1, -1, -1, device=self.device_of(x)), axis=axis)

    def getitem(self, x, key):
        """Basic and advanced indexing with NumPy semantics. ``key`` holds ints, slices,
        ``None``, ``Ellipsis`` and integer/bool index arrays *of this backend*."""
        raise NotImplementedError

    # --------------------------------------------------------- gather/scatter
    def take(self, x, indices, axis: int):
        """Select ``indices`` (an int64 array) along ``axis``: ``numpy.take``."""
        raise NotImplementedError

    def take_along_axis(self, x, indices, axis: int):
        """``numpy.take_along_axis``: ``indices`` has ``x``'s ndim."""
        raise NotImplementedError

    def index_add(self, x, axis: int, indices, values):
        """A copy of ``x`` with ``values`` added at ``indices`` (1-d, int64) along ``axis``.

        Duplicate indices accumulate. ``values`` has ``x``'s shape except
        ``len(indices)`` along ``axis``. (``torch.Tensor.index_add``, made pure.)
        """
        raise NotImplementedError

    def add_at(self, x, key, values):
        """A copy of ``x`` with ``values`` added at ``x[key]``; duplicate positions accumulate.

        ``key`` is any indexing key accepted by :meth:`getitem`; this is the scatter that
        undoes a gather, used by the backward of indexing. The default flattens the key to
        linear positions (computed in NumPy on the index space only) and uses
        :meth:`index_add`; backends override it with a native scatter-add.
        """
        shape = tuple(x.shape)
        positions = np.arange(math.prod(shape)).reshape(shape)[self._key_to_numpy(key)]
        values = self.broadcast_to(values, positions.shape)
        flat = self.index_add(self.reshape(x, (-1,)), 0,
                              self.asarray(positions.reshape(-1), "int64", self.device_of(x)),
                              self.reshape(values, (-1,)))
        return self.reshape(flat, shape)

    def _key_to_numpy(self, key):
        """An indexing key with this backend's index arrays turned into NumPy arrays."""
        parts = key if isinstance(key, tuple) else (key,)
        out = tuple(self.to_numpy(k) if self.is_array(k) else k for k in parts)
        return out if isinstance(key, tuple) else out[0]

    # ---------------------------------------------------------------- random
    def random_uniform(self, key: RandomKey, shape: Shape, dtype: str = "float32",
                       device: str = "cpu", low: float = 0.0, high: float = 1.0) -> Array:
        """Uniform draws in ``[low, high)`` from ``key``."""
        raise NotImplementedError

    def random_normal(self, key: RandomKey, shape: Shape, dtype: str = "float32",
                      device: str = "cpu") -> Array:
        """Standard normal draws from ``key``."""
        raise NotImplementedError

    def random_bernoulli(self, key: RandomKey, p: float, shape: Shape,
                         device: str = "cpu") -> Array:
        """Bool array, True with probability ``p``. Default: ``uniform < p``."""
        return self.less(self.random_uniform(key, shape, "float32", device), p)

    def random_permutation(self, key: RandomKey, n: int, device: str = "cpu") -> Array:
        """A permutation of ``range(n)`` as int64. Default: argsort-free, drawn in NumPy."""
        perm = np.random.default_rng(key.entropy()).permutation(n)
        return self.asarray(perm, "int64", device)

    # ---------------------------------------------------------------- compile
    def jit(self, fn, **kwargs):
        """Compile ``fn`` of arrays to arrays where the library can; identity otherwise."""
        return fn
