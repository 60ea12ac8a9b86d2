"""The array-api-strict backend: arrays are ``array_api_strict`` arrays.

array-api-strict implements the Python array API standard and refuses everything the
standard does not promise (NumPy scalars, ``x[1]`` on a 2-d array, float scalars with integer
arrays, ...). Most primitives are one call of the standard's function of the same name; the
care taken, and why:

* **What the standard lacks is built from what it has**: ``erf`` (a series and a continued
  fraction, float64-accurate), ``index_add`` (sort, segmented sum, gather: the standard has
  no scatter), ``pad`` (``concat`` of constant blocks), ``take`` with n-d indices (flatten,
  take, reshape), and indexing keys the standard cannot express (gather the flat positions
  NumPy would pick). ``add_at`` is the contract's default, which uses ``index_add``.
* **NumPy's semantics where the standard is stricter**: Python scalars with integer arrays
  promote as NumPy does, ``mean`` of integers is float64, a key shorter than the array's
  dims is completed with ``...``, negative indices count from the end in ``take``.
* **Index arithmetic on the host.** Where the contract needs to know index values (bounds,
  duplicate runs, flat positions), they are read once into NumPy: array-api-strict is an
  eager CPU library, so that is what its own functions do too. Values of floating arrays
  are only ever computed with the standard's functions.
* **No float16** (the standard has none): asking for it is a :class:`BackendError`.
* **Randomness**: NumPy generators seeded from the explicit key alone (as the NumPy
  backend), converted; no global state.
"""
from __future__ import annotations

import math

import array_api_strict as xp
import numpy as np

from edu_nn.backends import Backend, BackendError
from edu_nn.backends.base import RandomKey, check_dtype_name, normalize_axis

_Array = type(xp.asarray(0))
_CPU = xp.asarray(0).device

_DTYPES = {"float32": xp.float32, "float64": xp.float64, "uint8": xp.uint8, "int8": xp.int8,
           "int16": xp.int16, "int32": xp.int32, "int64": xp.int64, "bool": xp.bool}
_NAMES = {v: k for k, v in _DTYPES.items()}
_FLOATS = (xp.float32, xp.float64)


def _scalar(x):
    """NumPy scalars become Python scalars (array-api-strict accepts only the latter)."""
    return x.item() if isinstance(x, np.generic) else x


# ------------------------------------------------------------------- erf
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ERF_SERIES_TERMS = 32   # enough for |x| < 2 (next term < 1e-17 relative)
_ERFC_FRACTION_DEPTH = 50  # enough for |x| >= 2 (erfc relative error < 1e-13, erf's < 1e-16)


def _erf_float64(x):
    """erf of a float64 array, within ~1.5e-15 of ``math.erf``, with the standard's functions.

    |x| < 2:  erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)); every term
              is positive, so no digits cancel (the alternating Taylor series loses them).
    |x| >= 2: erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
              Laplace's continued fraction, evaluated from the tail up; erf = 1 - erfc.
    erf is odd, so both work on |x| and the sign is copied back (erf(-0.0) = -0.0).
    An A&S 7.1.26-style rational approximation would be off by ~1e-7: not enough.
    """
    a = xp.abs(x)
    small = a < 2.0
    s = xp.where(small, a, 0.0)           # each formula sees only values in its range,
    c = xp.where(small, 2.0, a)           # so neither overflows on the other's inputs
    s2 = s * s
    term, total = s, s
    for n in range(1, _ERF_SERIES_TERMS):
        term = term * (2.0 * s2) / (2 * n + 1)
        total = total + term
    series = _TWO_OVER_SQRT_PI * xp.exp(-s2) * total
    fraction = c
    for k in range(_ERFC_FRACTION_DEPTH, 0, -1):
        fraction = c + (k / 2.0) / fraction
    erfc = xp.exp(-(c * c)) / math.sqrt(math.pi) / fraction
    return xp.copysign(xp.where(small, series, 1.0 - erfc), x)


class ArrayAPIStrictBackend(Backend):
    name = "array_api_strict"
    supports_float64 = True
    is_jax_like = False
    capabilities = frozenset({"float64"})
    #: The canonical dtypes this backend can make (all but float16). Not yet part of the
    #: contract; proposed so that the conformance suite can expect a BackendError for the
    #: others instead of requiring every dtype.
    dtypes = frozenset(_DTYPES)

    def version(self) -> str:
        return xp.__version__

    # ------------------------------------------------------------ dtypes
    @staticmethod
    def _dtype(dtype: str):
        dtype = check_dtype_name(dtype)
        try:
            return _DTYPES[dtype]
        except KeyError:
            raise BackendError(f"the array_api_strict backend has no {dtype}: the array API "
                               f"standard defines float32 and float64 only; use one of "
                               f"those") from None

    def dtype_of(self, x):
        try:
            return _NAMES[x.dtype]
        except KeyError:
            raise BackendError(f"array_api_strict dtype {x.dtype} is not an edu_nn dtype; "
                               f"convert it first") from None

    # ----------------------------------------------------------- devices
    def _check_device(self, device) -> None:
        if device not in (None, "cpu"):
            raise BackendError(f"the array_api_strict backend has no device {device!r}: "
                               f"available: {self.devices()}")

    def to_device(self, x, device):
        self._check_device(device)
        return x

    def device_of(self, x):
        return "cpu" if x.device == _CPU else str(x.device)

    # -------------------------------------------------------- conversion
    def asarray(self, data, dtype=None, device=None):
        self._check_device(device)
        if isinstance(data, _Array):
            if dtype is None:
                self.dtype_of(data)  # rejects dtypes edu_nn does not know
                return xp.asarray(data, copy=True)
            return xp.astype(data, self._dtype(dtype), copy=True)
        if dtype is not None:
            self._dtype(dtype)  # a clear error for float16 and unknown names
        # NumPy decides the dtype of lists and scalars (float lists are float64), as in the
        # other backends; np.array copies, so nobody else can write into the result.
        arr = np.array(data, dtype=dtype, copy=True)
        if arr.dtype.name not in _DTYPES:
            raise BackendError(
                f"cannot make an array_api_strict array of dtype {arr.dtype} from "
                f"{type(data).__name__}: this backend's dtypes are {', '.join(_DTYPES)}; "
                f"convert first, e.g. .astype('float32')")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return xp.asarray(arr)

    def to_numpy(self, x):
        # DLPack is the standard's way out; copied, so writing to the result is harmless.
        return np.array(np.from_dlpack(x), copy=True)

    def astype(self, x, dtype):
        return xp.astype(x, self._dtype(dtype))

    def is_array(self, x):
        return isinstance(x, _Array)

    # ---------------------------------------------------------- creation
    def zeros(self, shape, dtype, device="cpu"):
        self._check_device(device)
        return xp.zeros(tuple(shape), dtype=self._dtype(dtype))

    def ones(self, shape, dtype, device="cpu"):
        self._check_device(device)
        return xp.ones(tuple(shape), dtype=self._dtype(dtype))

    def full(self, shape, value, dtype, device="cpu"):
        self._check_device(device)
        dt = self._dtype(dtype)
        value = _scalar(value)
        # the standard wants the fill value's kind to match the dtype's (no 1 for a float)
        value = (bool(value) if dt == xp.bool else float(value) if dt in _FLOATS
                 else int(value))
        return xp.full(tuple(shape), value, dtype=dt)

    def arange(self, start, stop=None, step=1, dtype="int64", device="cpu"):
        self._check_device(device)
        if stop is None:
            start, stop = 0, start
        # NumPy's arange defines the values (length and rounding); the standard's arange
        # leaves float steps loosely specified.
        return self.asarray(np.arange(_scalar(start), _scalar(stop), _scalar(step),
                                      dtype=check_dtype_name(dtype)), dtype)

    def zeros_like(self, x):
        return xp.zeros_like(x)

    def ones_like(self, x):
        return xp.ones_like(x)

    # ------------------------------------------------------- elementwise
    def _operands(self, a, b):
        """Two operands the standard accepts, with NumPy's result: NumPy scalars become
        Python ones; two scalars become an array and a scalar; a float scalar with an
        integer array (which the standard refuses) makes the array float64, as NumPy does."""
        a, b = _scalar(a), _scalar(b)
        a_arr, b_arr = isinstance(a, _Array), isinstance(b, _Array)
        if not a_arr and not b_arr:
            return self.asarray(a), b
        if a_arr != b_arr:
            arr, scalar = (a, b) if a_arr else (b, a)
            promoted = self._promote_for(arr, scalar)
            if promoted is not arr:
                return (promoted, b) if a_arr else (a, promoted)
        return a, b

    @staticmethod
    def _promote_for(arr, scalar):
        if isinstance(scalar, float) and arr.dtype not in _FLOATS:
            return xp.astype(arr, xp.float64)
        if isinstance(scalar, int) and not isinstance(scalar, bool) and arr.dtype == xp.bool:
            return xp.astype(arr, xp.int64)
        return arr

    def add(self, a, b): return xp.add(*self._operands(a, b))
    def subtract(self, a, b): return xp.subtract(*self._operands(a, b))
    def multiply(self, a, b): return xp.multiply(*self._operands(a, b))
    def divide(self, a, b): return xp.divide(*self._operands(a, b))
    def power(self, a, b): return xp.pow(*self._operands(a, b))
    def maximum(self, a, b): return xp.maximum(*self._operands(a, b))
    def minimum(self, a, b): return xp.minimum(*self._operands(a, b))
    def negative(self, x): return xp.negative(x)
    def exp(self, x): return xp.exp(x)
    def log(self, x): return xp.log(x)
    def log1p(self, x): return xp.log1p(x)
    def sqrt(self, x): return xp.sqrt(x)
    def abs(self, x): return xp.abs(x)
    def sign(self, x): return xp.sign(x)
    def tanh(self, x): return xp.tanh(x)
    def sin(self, x): return xp.sin(x)
    def cos(self, x): return xp.cos(x)
    def floor(self, x): return xp.floor(x)
    def cumsum(self, x, axis): return xp.cumulative_sum(x, axis=axis, dtype=x.dtype)

    def argsort(self, x, axis=-1, descending=False):
        return xp.argsort(x, axis=axis, descending=descending, stable=True)
    def square(self, x): return xp.square(x)
    def reciprocal(self, x): return xp.reciprocal(x)

    def erf(self, x):
        if x.dtype == xp.float64:
            return _erf_float64(x)
        # float32 (and integers, as NumPy's erf does) go through float64: more accurate
        out = _erf_float64(xp.astype(x, xp.float64))
        return xp.astype(out, x.dtype) if x.dtype in _FLOATS else out

    def where(self, cond, a, b):
        if not isinstance(cond, _Array):
            cond = self.asarray(cond)
        if cond.dtype != xp.bool:
            cond = cond != 0
        a, b = _scalar(a), _scalar(b)
        if not isinstance(a, _Array) and not isinstance(b, _Array):
            a = self.asarray(a)
        return xp.where(cond, a, b)

    def equal(self, a, b): return xp.equal(*self._operands(a, b))
    def not_equal(self, a, b): return xp.not_equal(*self._operands(a, b))
    def less(self, a, b): return xp.less(*self._operands(a, b))
    def less_equal(self, a, b): return xp.less_equal(*self._operands(a, b))
    def greater(self, a, b): return xp.greater(*self._operands(a, b))
    def greater_equal(self, a, b): return xp.greater_equal(*self._operands(a, b))
    def logical_and(self, a, b): return xp.logical_and(*self._operands(a, b))
    def logical_or(self, a, b): return xp.logical_or(*self._operands(a, b))
    def logical_not(self, x): return xp.logical_not(x)
    def isfinite(self, x): return xp.isfinite(x)

    # -------------------------------------------------------- reductions
    def sum(self, x, axis=None, keepdims=False):
        if x.dtype == xp.bool:  # NumPy counts Trues; the standard has no bool sum
            x = xp.astype(x, xp.int64)
        return xp.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return xp.max(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return xp.min(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if x.dtype not in _FLOATS:  # NumPy: the mean of integers is float64
            x = xp.astype(x, xp.float64)
        return xp.mean(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=None, keepdims=False):
        # the standard returns the first occurrence on ties, in the default index dtype
        return xp.astype(xp.argmax(x, axis=axis, keepdims=keepdims), xp.int64)

    def argmin(self, x, axis=None, keepdims=False):
        return xp.astype(xp.argmin(x, axis=axis, keepdims=keepdims), xp.int64)

    def any(self, x):
        return bool(xp.any(x))

    def all(self, x):
        return bool(xp.all(x))

    # ------------------------------------------------------------ linalg
    def matmul(self, a, b):
        return xp.matmul(a, b)

    # ------------------------------------------------------------- shape
    def reshape(self, x, shape):
        return xp.reshape(x, tuple(shape))

    def permute_dims(self, x, axes):
        return xp.permute_dims(x, tuple(axes))

    def broadcast_to(self, x, shape):
        return xp.broadcast_to(x, tuple(shape))

    def expand_dims(self, x, axis):
        return xp.expand_dims(x, axis=axis)

    def squeeze(self, x, axis):
        return xp.squeeze(x, axis=axis)

    def concat(self, arrays, axis=0):
        return xp.concat(list(arrays), axis=axis)

    def stack(self, arrays, axis=0):
        return xp.stack(list(arrays), axis=axis)

    def pad(self, x, pad_width, value=0.0):
        pad_width = [tuple(int(v) for v in p) for p in pad_width]
        if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
            raise ValueError(f"pad: pad_width needs one (before, after) pair of non-negative "
                             f"ints per dim of the shape {tuple(x.shape)}, got {pad_width}")
        dtype = self.dtype_of(x)
        for axis, (before, after) in enumerate(pad_width):
            if before == 0 and after == 0:
                continue
            shape = list(x.shape)
            blocks = []
            for width in (before, after):
                shape[axis] = width
                blocks.append(self.full(tuple(shape), value, dtype))
            x = xp.concat([blocks[0], x, blocks[1]], axis=axis)
        return x

    def flip(self, x, axis):
        return xp.flip(x, axis=axis)

    def getitem(self, x, key):
        parts = key if isinstance(key, tuple) else (key,)
        parts = tuple(int(k) if isinstance(k, np.integer) else k for k in parts)
        if all(k is None or k is Ellipsis or isinstance(k, slice)
               or (isinstance(k, int) and not isinstance(k, bool)) for k in parts):
            return x[self._standard_key(parts, tuple(x.shape))]
        # Index arrays, masks, bools: the standard allows only narrow forms of these, so
        # gather the flat positions that NumPy's rules pick (computed on the index space).
        positions = self._positions(x, key)
        flat = xp.take(xp.reshape(x, (-1,)), xp.asarray(positions.reshape(-1)), axis=0)
        return xp.reshape(flat, positions.shape)

    @staticmethod
    def _standard_key(parts: tuple, shape: tuple) -> tuple:
        """A basic key (ints, slices, None, ...) in the form the standard accepts, with
        NumPy's meaning: slices clipped to the axis (the standard leaves out-of-range
        bounds unspecified), and a trailing ``...`` when the key names fewer dims than the
        array has (the standard asks for it). Out-of-range ints stay: they raise IndexError."""
        named = sum(1 for k in parts if k is not None and k is not Ellipsis)
        axis, out = 0, []
        for k in parts:
            if k is Ellipsis:
                axis += len(shape) - named
            elif isinstance(k, slice) and axis < len(shape):
                r = range(*k.indices(shape[axis]))
                if len(r) == 0:
                    k = slice(0, 0, 1)
                else:  # for a negative step, a stop of -1 means "past the start": None
                    k = slice(r.start, r.stop if r.stop >= 0 else None, r.step)
            if k is not None and k is not Ellipsis:
                axis += 1
            out.append(k)
        return tuple(out) if Ellipsis in parts else tuple(out) + (Ellipsis,)

    def _positions(self, x, key) -> np.ndarray:
        """The flat positions ``x[key]`` selects, by NumPy's rules, on the index space."""
        parts = key if isinstance(key, tuple) else (key,)
        numpy_key = tuple(self.to_numpy(k) if isinstance(k, _Array) else
                          np.asarray(k) if isinstance(k, list) else k for k in parts)
        grid = np.arange(math.prod(x.shape)).reshape(tuple(x.shape))
        return grid[numpy_key if isinstance(key, tuple) else numpy_key[0]]

    # ---------------------------------------------------- gather/scatter
    def _host_indices(self, indices, n: int, op: str) -> np.ndarray:
        """Indices as a NumPy int64 array in ``[0, n)``: negatives count from the end, and
        out-of-range ones are an IndexError (as in NumPy), never wrapped silently."""
        idx = self.to_numpy(indices) if isinstance(indices, _Array) else np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise IndexError(f"{op}: indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx.min() if idx.min() < -n else idx.max()
            raise IndexError(f"{op}: index {bad} is out of bounds for an axis of size {n}")
        return np.where(idx < 0, idx + n, idx)

    def take(self, x, indices, axis):
        axis = normalize_axis(axis, x.ndim, "take")
        idx = self._host_indices(indices, x.shape[axis], "take")
        # the standard's take wants 1-d indices: take the flattened ones, then reshape
        out = xp.take(x, xp.asarray(idx.reshape(-1)), axis=axis)
        return xp.reshape(out, tuple(x.shape[:axis]) + idx.shape + tuple(x.shape[axis + 1:]))

    def take_along_axis(self, x, indices, axis):
        axis = normalize_axis(axis, x.ndim, "take_along_axis")
        idx = self._host_indices(indices, x.shape[axis], "take_along_axis")
        return xp.take_along_axis(x, xp.asarray(idx), axis=axis)

    def index_add(self, x, axis, indices, values):
        """Scatter-add without a scatter (the standard has none), duplicates accumulating.

        1. Sort the k indices (stably) and gather ``values`` in that order: equal indices
           now form runs.
        2. Segmented inclusive sum (Hillis-Steele): in round r each entry adds the entry
           2^r before it when both are in the same run. After ceil(log2(longest run))
           rounds, the last entry of each run holds the run's sum. Only additions, so an
           inf in one run never reaches another (a one-hot matmul would make 0 * inf = nan).
        3. Gather each run's sum to its row and add it there; other rows stay bit-for-bit.
        Which entries share a run is index arithmetic, done on the host.
        """
        axis = normalize_axis(axis, x.ndim, "index_add")
        n = x.shape[axis]
        idx = self._host_indices(indices, n, "index_add").reshape(-1)
        k = idx.shape[0]
        values = self._like(values, x)
        values = xp.broadcast_to(values, tuple(x.shape[:axis]) + (k,) + tuple(x.shape[axis + 1:]))
        if k == 0:
            return xp.asarray(x, copy=True)
        along = (k,) + (1,) * (x.ndim - axis - 1)  # a (k,) mask broadcast along `axis`
        order = np.argsort(idx, kind="stable")
        run_of = idx[order]
        v = xp.take(values, xp.asarray(order), axis=axis)
        lead = (slice(None),) * axis
        longest = int(np.unique(run_of, return_counts=True)[1].max())
        step = 1
        while step < longest:
            same = np.zeros(k, dtype=bool)
            same[step:] = run_of[step:] == run_of[:-step]
            pad_shape = tuple(x.shape[:axis]) + (step,) + tuple(x.shape[axis + 1:])
            shifted = xp.concat([xp.zeros(pad_shape, dtype=v.dtype),
                                 v[lead + (slice(0, k - step), Ellipsis)]], axis=axis)
            v = xp.where(xp.reshape(xp.asarray(same), along), v + shifted, v)
            step *= 2
        ends = np.flatnonzero(np.append(run_of[1:] != run_of[:-1], True))
        sums = xp.take(v, xp.asarray(ends), axis=axis)           # one row per distinct index
        row_of = np.zeros(n, dtype=np.int64)
        row_of[run_of[ends]] = np.arange(ends.shape[0])
        hit = np.zeros(n, dtype=bool)
        hit[run_of[ends]] = True
        spread = xp.take(sums, xp.asarray(row_of), axis=axis)
        hit = xp.reshape(xp.asarray(hit), (n,) + (1,) * (x.ndim - axis - 1))
        return xp.where(hit, x + spread, x)

    def _like(self, values, x):
        """``values`` as an array of ``x``'s dtype (Python scalars allowed)."""
        if isinstance(values, _Array):
            return values if values.dtype == x.dtype else xp.astype(values, x.dtype)
        return self.asarray(values, self.dtype_of(x))

    def add_at(self, x, key, values):
        # the contract's default (linear positions, then index_add), with scalar values
        # made into an array first
        return super().add_at(x, key, self._like(values, x))

    # ------------------------------------------------------------ random
    @staticmethod
    def _generator(key: RandomKey) -> np.random.Generator:
        if not isinstance(key, RandomKey):
            raise BackendError(f"random draws need an edu_nn RandomKey, got {type(key).__name__}")
        return np.random.default_rng(key.entropy())

    def random_uniform(self, key, shape, dtype="float32", device="cpu", low=0.0, high=1.0):
        self._check_device(device)
        self._dtype(dtype)
        out = self._generator(key).uniform(low, high, size=tuple(shape)).astype(dtype)
        if out.dtype.kind == "f":
            # rounding a draw just below `high` to float32 can land on `high`: keep [low, high)
            out = np.minimum(out, np.nextafter(np.asarray(high, dtype), np.asarray(low, dtype)))
        return self.asarray(out)

    def random_normal(self, key, shape, dtype="float32", device="cpu"):
        self._check_device(device)
        self._dtype(dtype)
        return self.asarray(self._generator(key).standard_normal(size=tuple(shape)).astype(dtype))

    def random_bernoulli(self, key, p, shape, device="cpu"):
        self._check_device(device)
        return self.asarray(self._generator(key).random(size=tuple(shape)) < p)

    def random_permutation(self, key, n, device="cpu"):
        self._check_device(device)
        return self.asarray(self._generator(key).permutation(int(n)).astype(np.int64))
