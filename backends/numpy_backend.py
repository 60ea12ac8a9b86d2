"""The NumPy backend: the embedded default, needing nothing but numpy.

Every method is a thin wrapper over the NumPy function of the same (Array API) name. The
only care taken is purity (results never alias an input that could be written through)
and dtype preservation with Python scalars, which NumPy 2's NEP 50 rules already give.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from .base import Backend, BackendError, RandomKey, check_dtype_name

try:  # numpy >= 2 has the Array API names; older numpy has the classic ones.
    _concat = np.concat
except AttributeError:  # pragma: no cover - numpy < 2
    _concat = np.concatenate


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function (exact to float64 rounding). Uses scipy's ufunc when scipy is
    installed; scipy is not a dependency, so otherwise math.erf runs per element."""
    global _erf_impl
    if _erf_impl is None:
        try:
            from scipy.special import erf as _erf_impl  # noqa: PLW0603
        except ImportError:
            _erf_impl = np.frompyfunc(math.erf, 1, 1)
    return np.asarray(_erf_impl(x)).astype(x.dtype, copy=False)


_erf_impl = None


def _extremum(ufunc, x, axis, keepdims):
    """``ufunc.reduce(x, axis, keepdims)`` for np.maximum / np.minimum.

    NumPy reduces a short last axis one row at a time: the max over the 10 classes of
    (1000, 10) float32 logits takes about 59 us, and the same reduction along axis 0 of a
    transposed copy (one vectorised pass per class) about 5 us; (32, 10) goes from 2.6 to
    1.4 us. Softmax and cross-entropy take such a max on every step, so 2-d arrays with at
    least 16 rows of at most 32 elements take that route. The result is identical: a max or
    min does not depend on the order of the comparisons (NaN propagates either way). Sums
    do not get this treatment: their rounding depends on the order.
    """
    if (axis == 1 or axis == -1) and x.ndim == 2 and x.shape[0] >= 16 and 0 < x.shape[1] <= 32:
        out = ufunc.reduce(x.T.copy(), axis=0)
        return out.reshape(-1, 1) if keepdims else out
    return ufunc.reduce(x, axis=axis, keepdims=keepdims)


_DTYPE_NAMES = {np.dtype(name): name for name in
                ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64",
                 "bool")}


class NumpyBackend(Backend):
    name = "numpy"
    capabilities = frozenset({"float64", "add_at"})

    def version(self) -> str:
        return np.__version__

    # ------------------------------------------------------------ conversion
    def asarray(self, data, dtype=None, device=None):
        self.to_device(None, device)  # validates the device name
        arr = np.array(data, dtype=None if dtype is None else check_dtype_name(dtype), copy=True)
        if dtype is None and arr.dtype.kind not in "fiub":
            raise BackendError(f"cannot make an array of dtype {arr.dtype} from {type(data).__name__}")
        return arr

    def to_numpy(self, x):
        return np.asarray(x)

    def astype(self, x, dtype):
        return x.astype(check_dtype_name(dtype), copy=False)

    def dtype_of(self, x):
        # a dict lookup: numpy's dtype.name is computed in Python on every access
        name = _DTYPE_NAMES.get(x.dtype)
        return name if name is not None else x.dtype.name

    def is_array(self, x):
        return isinstance(x, (np.ndarray, np.generic))

    def item(self, x):
        return x.item()

    # -------------------------------------------------------------- creation
    def zeros(self, shape, dtype, device="cpu"):
        self.to_device(None, device)
        return np.zeros(shape, dtype=check_dtype_name(dtype))

    def ones(self, shape, dtype, device="cpu"):
        self.to_device(None, device)
        return np.ones(shape, dtype=check_dtype_name(dtype))

    def full(self, shape, value, dtype, device="cpu"):
        self.to_device(None, device)
        return np.full(shape, value, dtype=check_dtype_name(dtype))

    def arange(self, start, stop=None, step=1, dtype="int64", device="cpu"):
        if device != "cpu":
            self.to_device(None, device)
        if stop is None:
            start, stop = 0, start
        return np.arange(start, stop, step, dtype=check_dtype_name(dtype))

    def zeros_like(self, x):
        return np.zeros_like(x)

    def ones_like(self, x):
        # backward() makes its seed gradient this way on every step, mostly for a 0-d loss:
        # np.ones_like's Python layer costs more than the work for small arrays.
        if not x.shape:
            return np.array(1, dtype=x.dtype)
        out = np.empty_like(x)
        out.fill(1)
        return out

    # ----------------------------------------------------------- elementwise
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    multiply = staticmethod(np.multiply)
    divide = staticmethod(np.divide)
    power = staticmethod(np.power)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    negative = staticmethod(np.negative)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    tanh = staticmethod(np.tanh)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    floor = staticmethod(np.floor)

    def cumsum(self, x, axis):
        return np.cumsum(x, axis=axis, dtype=x.dtype)

    def argsort(self, x, axis=-1, descending=False):
        if descending:  # negate instead of reversing, so that ties stay in order (stable)
            x = np.logical_not(x) if x.dtype == np.bool_ else np.negative(x)
        return np.argsort(x, axis=axis, kind="stable")
    square = staticmethod(np.square)
    equal = staticmethod(np.equal)
    not_equal = staticmethod(np.not_equal)
    less = staticmethod(np.less)
    less_equal = staticmethod(np.less_equal)
    greater = staticmethod(np.greater)
    greater_equal = staticmethod(np.greater_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_not = staticmethod(np.logical_not)
    isfinite = staticmethod(np.isfinite)

    def erf(self, x):
        return _erf(np.asarray(x))

    # `inplace` is keyword-only in the contract; here it may also come positionally, because
    # a keyword-only default costs a dict lookup on every call (this runs for every parameter
    # of every SGD step, so the common path is kept to the old two compares).
    def add_scaled(self, x, y, alpha, inplace=False):
        out = np.multiply(y, alpha)
        if out.shape == x.shape and (out.dtype is x.dtype or out.dtype == x.dtype):
            # Into x (the caller owns it) or into our own temporary: one allocation at most.
            try:
                return np.add(x, out, out=x if inplace else out)
            except TypeError:  # 0-d: NumPy's ufuncs return a NumPy scalar, not an out=
                pass           # target (issue 15: every optimizer failed on a 0-d Parameter)
        return np.add(x, out)

    # Optimizer updates (issue 16): the same ufuncs in the same order as the base class's
    # pure defaults (so the same roundings), written into the owned first argument with
    # out=, with at most one temporary of our own.
    def copy(self, x):
        return np.array(x, copy=True)

    def scale(self, x, factor, *, inplace=False):
        if inplace and _writable_like(x, x):
            return np.multiply(x, factor, out=x)
        return np.multiply(x, factor)

    def lerp(self, a, b, weight, *, inplace=False):
        if inplace and _writable_like(a, b):
            tmp = np.subtract(b, a)
            tmp *= weight  # in place for an array; rebinds a 0-d result's NumPy scalar
            return np.add(a, tmp, out=a)
        return self.add_scaled(a, np.subtract(b, a), weight)

    def mul_add_square(self, a, x, decay, scale, *, inplace=False):
        if inplace and _writable_like(a, x):
            tmp = np.multiply(x, x)
            tmp *= scale
            np.multiply(a, decay, out=a)
            return np.add(a, tmp, out=a)
        return self.add_scaled(np.multiply(a, decay), np.multiply(x, x), scale)

    def addcdiv(self, x, num, denom, value, *, inplace=False):
        tmp = np.divide(num, denom)
        if type(tmp) is not np.ndarray or tmp.shape != x.shape or tmp.dtype != x.dtype:
            return self.add_scaled(x, tmp, value)
        np.multiply(tmp, value, out=tmp)
        if inplace and _writable_like(x, tmp):
            return np.add(x, tmp, out=x)
        return np.add(x, tmp, out=tmp)

    def sqrt_div_add(self, x, divisor, eps):
        out = np.sqrt(x)
        if type(out) is not np.ndarray:  # 0-d: a NumPy scalar, not an out= target
            return np.add(np.divide(out, divisor), eps)
        np.divide(out, divisor, out=out)
        return np.add(out, eps, out=out)

    def unshared(self, x, references):
        # A NumPy view keeps a reference to the array owning the memory (its .base), so for
        # an array that owns its memory the reference count sees every alias, view, saved
        # graph node and user variable. getrefcount adds its own argument, and so does x.
        return (type(x) is np.ndarray and x.base is None and x.flags.writeable
                and sys.getrefcount(x) - 2 <= references)

    def reciprocal(self, x):
        return np.reciprocal(x)

    # Native versions of the base's fused primitives: the same calls without the base's
    # extra layer of backend methods per primitive (they run on every step of an MLP).
    def relu(self, x):
        return np.maximum(x, 0.0)

    def relu_backward(self, grad, x):
        # the float mask first: float * bool is a mixed-type loop, slower than the cast
        return np.multiply(grad, np.greater(x, 0).astype(grad.dtype, copy=False))

    def linear(self, x, weight, bias=None):
        y = np.matmul(x, weight.T)
        if bias is None:
            return y
        if type(y) is np.ndarray and y.dtype is bias.dtype and bias.shape == y.shape[-1:]:
            return np.add(y, bias, out=y)  # y is our own fresh product: add in place
        return np.add(y, bias)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def clip(self, x, min=None, max=None):
        if min is None and max is None:
            return x
        return np.clip(x, min, max)

    # ------------------------------------------------------------ reductions
    # The ufuncs' reduce directly: np.sum/np.max add a Python wrapper layer per call.
    def sum(self, x, axis=None, keepdims=False):
        return np.add.reduce(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return _extremum(np.maximum, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return _extremum(np.minimum, x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=None, keepdims=False):
        return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64, copy=False)

    def argmin(self, x, axis=None, keepdims=False):
        return np.argmin(x, axis=axis, keepdims=keepdims).astype(np.int64, copy=False)

    def any(self, x):
        return bool(np.any(x))

    def all(self, x):
        return bool(np.all(x))

    def count_nonzero(self, x):
        return int(np.count_nonzero(x))

    # ---------------------------------------------------------------- linalg
    matmul = staticmethod(np.matmul)

    # ----------------------------------------------------------------- shape
    # reshape, transpose and broadcast_to return views; views are safe because no
    # primitive writes into an array, and the read-only flag of broadcast_to keeps
    # user code from writing through one by accident.
    # The array methods: np.reshape / np.permute_dims add a Python wrapper layer per call.
    def reshape(self, x, shape):
        return x.reshape(shape)  # ndarray and NumPy scalars both have the method

    def permute_dims(self, x, axes):
        return x.transpose(axes)

    def broadcast_to(self, x, shape):
        return np.broadcast_to(x, shape)

    def expand_dims(self, x, axis):
        return np.expand_dims(x, axis)

    def squeeze(self, x, axis):
        return np.squeeze(x, axis=axis)

    def concat(self, arrays, axis=0):
        return _concat(list(arrays), axis=axis)

    def stack(self, arrays, axis=0):
        return np.stack(list(arrays), axis=axis)

    def pad(self, x, pad_width, value=0.0):
        return np.pad(x, [tuple(p) for p in pad_width], mode="constant", constant_values=value)

    def flip(self, x, axis):
        return np.flip(x, axis=axis)

    def getitem(self, x, key):
        return x[key]

    # --------------------------------------------------------- gather/scatter
    def take(self, x, indices, axis):
        return np.take(x, indices, axis=axis)

    def take_along_axis(self, x, indices, axis):
        return np.take_along_axis(x, indices, axis=axis)

    def index_add(self, x, axis, indices, values):
        out = np.array(x, copy=True, order="C")  # C order: out.reshape(-1) below is a view
        axis = axis % out.ndim
        indices = np.asarray(indices).reshape(-1)
        size = out.shape[axis]
        if indices.size and (indices.min() < -size or indices.max() >= size):
            bad = indices[(indices < -size) | (indices >= size)][0]
            raise IndexError(f"index_add: index {bad} is out of bounds for axis {axis} with "
                             f"size {size}")
        before, after = math.prod(out.shape[:axis]), math.prod(out.shape[axis + 1:])
        values = np.broadcast_to(values, out.shape[:axis] + indices.shape + out.shape[axis + 1:])
        if before == 1 and after == 1:
            np.add.at(out.reshape(-1), indices, values.reshape(-1))
            return out
        # np.add.at has a fast path only for one 1-d index into a 1-d array (a key with a
        # slice, x[:, idx], is ~10x slower), so scatter at flat positions instead.
        indices = np.where(indices < 0, indices + size, indices)
        flat = np.arange(0, before * size, size).reshape(before, 1) + indices  # (before, k)
        if after > 1:  # (a trailing length-1 axis in this broadcast would be ~10x slower)
            flat = (flat * after).reshape(before, -1, 1) + np.arange(after)
        np.add.at(out.reshape(-1), flat.reshape(-1), values.reshape(-1))
        return out

    def add_at(self, x, key, values):
        out = np.array(x, copy=True)
        np.add.at(out, key, values)
        return out

    # ---------------------------------------------------------------- random
    @staticmethod
    def _generator(key: RandomKey) -> np.random.Generator:
        if not isinstance(key, RandomKey):
            raise BackendError(f"random draws need an edu_nn RandomKey, got {type(key).__name__}")
        return np.random.default_rng(key.entropy())

    def random_uniform(self, key, shape, dtype="float32", device="cpu", low=0.0, high=1.0):
        self.to_device(None, device)
        dtype = check_dtype_name(dtype)
        out = self._generator(key).uniform(low, high, size=shape).astype(dtype)
        # Rounding a draw just below `high` to float32 (or float16) can land on `high`
        # itself; cap at the largest value below it to keep the promised [low, high).
        below = np.nextafter(np.asarray(high, dtype), np.asarray(low, dtype))
        return np.minimum(out, below, out=out)

    def random_normal(self, key, shape, dtype="float32", device="cpu"):
        self.to_device(None, device)
        return self._generator(key).standard_normal(size=shape).astype(check_dtype_name(dtype))

    def random_bernoulli(self, key, p, shape, device="cpu"):
        self.to_device(None, device)
        return self._generator(key).random(size=shape) < p

    def random_permutation(self, key, n, device="cpu"):
        self.to_device(None, device)
        return self._generator(key).permutation(n).astype(np.int64)


def _writable_like(target, other) -> bool:
    """Whether the caller's owned ``target`` can receive, in place, a result shaped and typed
    like itself, given the other operand ``other`` (an ndarray, a NumPy or Python scalar).
    Owned arrays are writeable (made by the optimizer, or checked by ``unshared``)."""
    return type(target) is np.ndarray and (
        type(other) is not np.ndarray
        or (other.shape == target.shape and other.dtype == target.dtype))
