"""The JAX backend: arrays are ``jax.Array``, immutable, and ``jit`` really compiles.

Most methods are one ``jax.numpy`` call (NumPy's names and semantics). The care taken:

* **Nothing is mutated**: scatters are ``x.at[key].add(values)``, which returns a new array.
* **float64 needs 64-bit mode.** JAX silently turns float64 into float32 unless
  ``jax_enable_x64`` is on; here asking for float64 without it (a dtype argument, or float64
  NumPy data) raises :class:`BackendError` saying how to turn it on. ``supports_float64``
  reads the flag at call time. Without 64-bit mode JAX has no int64 either: int64 requests
  give int32 (indices fit), and ``argmax`` and ``random_permutation`` return int32.
* **Out-of-range indices raise**, as in NumPy, when the indices are concrete values (JAX itself
  would clamp or drop them silently). Inside ``jit`` they cannot be checked.
* **Devices**: ``"cpu"``, plus ``"cuda:N"`` for JAX's GPUs (``"cuda"`` and ``"gpu"`` are
  accepted as names of the first one).
* **Randomness**: explicit PRNG keys, ``jax.random.PRNGKey`` then ``fold_in`` of the key's
  words; no global state.
* Matrix products ask for full float32 precision (GPUs would otherwise use TF32/bfloat16).

Written for jax 0.4.30 and later.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from .base import DTYPES, Backend, BackendError, RandomKey, check_dtype_name

_X64_HINT = ("call jax.config.update('jax_enable_x64', True) before creating any arrays "
             "(or set the environment variable JAX_ENABLE_X64=1 before starting Python), "
             "or use dtype='float32'")


def x64_enabled() -> bool:
    """Whether JAX makes 64-bit arrays now (the flag, or a ``enable_x64`` context)."""
    return jax.dtypes.canonicalize_dtype(np.float64) == np.float64


def _scalar(x):
    """NumPy scalars become Python scalars, which are weakly typed in JAX and so take the
    array's dtype (a NumPy float64 scalar would promote a float32 array)."""
    return x.item() if isinstance(x, np.generic) else x


try:
    _Tracer = jax.core.Tracer
except AttributeError:  # pragma: no cover - should a later jax drop the public alias
    from jax._src.core import Tracer as _Tracer


def _is_tracer(x) -> bool:
    """Whether ``x`` is being traced by jit (its values are not known yet)."""
    return isinstance(x, _Tracer)


class JaxBackend(Backend):
    name = "jax"
    is_jax_like = True

    @property
    def supports_float64(self) -> bool:  # type: ignore[override]
        return x64_enabled()

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        caps = {"jit", "add_at", "immutable"}
        if x64_enabled():
            caps.add("float64")
        if len(self.devices()) > 1:
            caps.add("cuda")
        return frozenset(caps)

    def version(self) -> str:
        return jax.__version__

    # ----------------------------------------------------------------- dtypes
    def _dtype(self, dtype: str, op: str = "jax backend"):
        """The NumPy dtype JAX should make for a canonical name; float64 without 64-bit
        mode is an error, never a silent float32."""
        dtype = check_dtype_name(dtype)
        if dtype == "float64" and not x64_enabled():
            raise BackendError(f"{op}: float64 on the jax backend needs JAX's 64-bit mode "
                               f"(jax_enable_x64), which is off: {_X64_HINT}.")
        if dtype == "int64" and not x64_enabled():
            return np.dtype("int32")
        return np.dtype(dtype)

    def _int64(self):
        return np.dtype("int64") if x64_enabled() else np.dtype("int32")

    # ---------------------------------------------------------------- devices
    @staticmethod
    def _gpus() -> list:
        try:
            return jax.devices("gpu")
        except (RuntimeError, ValueError):  # no GPU platform in this jaxlib or machine
            return []

    def devices(self) -> list[str]:
        return ["cpu"] + [f"cuda:{i}" for i in range(len(self._gpus()))]

    def _device(self, device):
        """The jax Device for a device name, or a BackendError that says what exists."""
        if device is None or device == "cpu":
            return jax.devices("cpu")[0]
        if isinstance(device, str):
            kind, _, index = device.partition(":")
            if kind in ("cuda", "gpu") and (index == "" or index.isdigit()):
                gpus = self._gpus()
                if int(index or 0) < len(gpus):
                    return gpus[int(index or 0)]
                if not gpus:
                    raise BackendError(
                        f"the jax backend cannot use device {device!r}: jax.devices('gpu') "
                        f"finds no GPU (a CPU-only jaxlib, or no GPU visible). "
                        f"Use device='cpu'.")
        raise BackendError(f"the jax backend has no device {device!r}: available: "
                           f"{self.devices()}")

    def _put(self, x, device):
        return jax.device_put(x, self._device(device))

    # ------------------------------------------------------------ conversion
    def asarray(self, data, dtype=None, device=None):
        if isinstance(data, jax.Array):  # immutable: no copy needed to stay unaliased
            arr = data if dtype is None else data.astype(self._dtype(dtype, "asarray"))
            if dtype is None:
                self.dtype_of(arr)
            # an array stays where it is unless asked to move
            return arr if device is None else self._put(arr, device)
        dev = self._device(device)
        # NumPy decides the dtype of lists (float lists are float64), as in the NumPy
        # backend; np.array copies, so JAX may alias this private buffer safely.
        arr = np.array(data, dtype=None if dtype is None else check_dtype_name(dtype), copy=True)
        if arr.dtype.name not in DTYPES:
            raise BackendError(
                f"cannot make a jax array of dtype {arr.dtype} from {type(data).__name__}: "
                f"edu_nn dtypes are {', '.join(DTYPES)}; convert first, e.g. .astype('float32')")
        target = self._dtype(arr.dtype.name, "asarray")
        return jax.device_put(arr.astype(target, copy=False), dev)

    def to_numpy(self, x):
        return np.array(x)  # a writable copy, like the other backends give

    def astype(self, x, dtype):
        return x.astype(self._dtype(dtype, "astype"))

    def to_device(self, x, device):
        return x if device is None else self._put(x, device)

    def dtype_of(self, x):
        name = x.dtype.name
        if name not in DTYPES:
            raise BackendError(f"jax dtype {name} is not an edu_nn dtype "
                               f"({', '.join(DTYPES)}); convert it first")
        return name

    def device_of(self, x):
        try:
            dev = next(iter(x.devices()))
        except Exception:  # a tracer inside jit has no device yet
            return "cpu"
        if dev.platform == "cpu":
            return "cpu"
        gpus = self._gpus()
        return f"cuda:{gpus.index(dev)}" if dev in gpus else f"{dev.platform}:{dev.id}"

    def is_array(self, x):
        return isinstance(x, jax.Array)

    def item(self, x):
        return x.item()

    # -------------------------------------------------------------- creation
    # Constants on the CPU are made by NumPy and transferred: eager jnp.zeros compiles an
    # XLA program for every new shape (tens of ms each on a CPU), NumPy does not.
    def _constant(self, device, make_numpy, make_jax):
        dev = self._device(device)
        if dev.platform == "cpu":
            return jax.device_put(make_numpy(), dev)
        with jax.default_device(dev):
            return make_jax()

    def zeros(self, shape, dtype, device="cpu"):
        dt = self._dtype(dtype, "zeros")
        return self._constant(device, lambda: np.zeros(tuple(shape), dt),
                              lambda: jnp.zeros(tuple(shape), dt))

    def ones(self, shape, dtype, device="cpu"):
        dt = self._dtype(dtype, "ones")
        return self._constant(device, lambda: np.ones(tuple(shape), dt),
                              lambda: jnp.ones(tuple(shape), dt))

    def full(self, shape, value, dtype, device="cpu"):
        dt, value = self._dtype(dtype, "full"), _scalar(value)
        return self._constant(device, lambda: np.full(tuple(shape), value, dt),
                              lambda: jnp.full(tuple(shape), value, dt))

    def arange(self, start, stop=None, step=1, dtype="int64", device="cpu"):
        if stop is None:
            start, stop = 0, start
        dt, args = self._dtype(dtype, "arange"), (_scalar(start), _scalar(stop), _scalar(step))
        return self._constant(device, lambda: np.arange(*args, dtype=dt),
                              lambda: jnp.arange(*args, dtype=dt))

    def zeros_like(self, x):
        if _is_tracer(x) or self.device_of(x) != "cpu":
            return jnp.zeros_like(x)
        return jax.device_put(np.zeros(x.shape, x.dtype), next(iter(x.devices())))

    def ones_like(self, x):
        if _is_tracer(x) or self.device_of(x) != "cpu":
            return jnp.ones_like(x)
        return jax.device_put(np.ones(x.shape, x.dtype), next(iter(x.devices())))

    # ----------------------------------------------------------- elementwise
    def add(self, a, b): return jnp.add(_scalar(a), _scalar(b))
    def subtract(self, a, b): return jnp.subtract(_scalar(a), _scalar(b))
    def multiply(self, a, b): return jnp.multiply(_scalar(a), _scalar(b))
    def divide(self, a, b): return jnp.divide(_scalar(a), _scalar(b))
    def power(self, a, b): return jnp.power(_scalar(a), _scalar(b))
    def maximum(self, a, b): return jnp.maximum(_scalar(a), _scalar(b))
    def minimum(self, a, b): return jnp.minimum(_scalar(a), _scalar(b))
    def negative(self, x): return jnp.negative(x)
    def exp(self, x): return jnp.exp(x)
    def log(self, x): return jnp.log(x)
    def log1p(self, x): return jnp.log1p(x)
    def sqrt(self, x): return jnp.sqrt(x)
    def abs(self, x): return jnp.abs(x)
    def sign(self, x): return jnp.sign(x)
    def tanh(self, x): return jnp.tanh(x)
    def erf(self, x): return jax.scipy.special.erf(x)
    def sin(self, x): return jnp.sin(x)
    def cos(self, x): return jnp.cos(x)
    def floor(self, x): return jnp.floor(x) if jnp.issubdtype(x.dtype, jnp.floating) else x
    def cumsum(self, x, axis): return jnp.cumsum(x, axis=axis, dtype=x.dtype)

    def argsort(self, x, axis=-1, descending=False):
        return jnp.argsort(x, axis=axis, stable=True, descending=descending).astype(self._int64())
    def square(self, x): return jnp.square(x)
    def reciprocal(self, x): return jnp.reciprocal(x)

    def clip(self, x, min=None, max=None):
        if min is None and max is None:
            return x
        return jnp.clip(x, _scalar(min), _scalar(max))

    def where(self, cond, a, b):
        return jnp.where(cond, _scalar(a), _scalar(b))

    def equal(self, a, b): return jnp.equal(_scalar(a), _scalar(b))
    def not_equal(self, a, b): return jnp.not_equal(_scalar(a), _scalar(b))
    def less(self, a, b): return jnp.less(_scalar(a), _scalar(b))
    def less_equal(self, a, b): return jnp.less_equal(_scalar(a), _scalar(b))
    def greater(self, a, b): return jnp.greater(_scalar(a), _scalar(b))
    def greater_equal(self, a, b): return jnp.greater_equal(_scalar(a), _scalar(b))
    def logical_and(self, a, b): return jnp.logical_and(_scalar(a), _scalar(b))
    def logical_or(self, a, b): return jnp.logical_or(_scalar(a), _scalar(b))
    def logical_not(self, x): return jnp.logical_not(x)
    def isfinite(self, x): return jnp.isfinite(x)

    # ------------------------------------------------------------ reductions
    def sum(self, x, axis=None, keepdims=False):
        return jnp.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return jnp.max(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return jnp.min(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return jnp.mean(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=None, keepdims=False):
        return jnp.argmax(x, axis=axis, keepdims=keepdims).astype(self._int64())

    def argmin(self, x, axis=None, keepdims=False):
        return jnp.argmin(x, axis=axis, keepdims=keepdims).astype(self._int64())

    def any(self, x):
        return bool(jnp.any(x))

    def all(self, x):
        return bool(jnp.all(x))

    def count_nonzero(self, x):
        return int(jnp.count_nonzero(x))

    # ---------------------------------------------------------------- linalg
    def matmul(self, a, b):
        return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)

    # ----------------------------------------------------------------- shape
    def reshape(self, x, shape):
        return jnp.reshape(x, tuple(shape))

    def permute_dims(self, x, axes):
        return jnp.transpose(x, tuple(axes))

    def broadcast_to(self, x, shape):
        return jnp.broadcast_to(x, tuple(shape))

    def expand_dims(self, x, axis):
        return jnp.expand_dims(x, axis)

    def squeeze(self, x, axis):
        return jnp.squeeze(x, axis=axis)

    def concat(self, arrays, axis=0):
        return jnp.concatenate(list(arrays), axis=axis)

    def stack(self, arrays, axis=0):
        return jnp.stack(list(arrays), axis=axis)

    def pad(self, x, pad_width, value=0.0):
        return jnp.pad(x, [tuple(p) for p in pad_width], mode="constant",
                       constant_values=_scalar(value))

    def flip(self, x, axis):
        return jnp.flip(x, axis=axis)

    def getitem(self, x, key):
        key = self._jax_key(key)
        self._check_key_bounds(x, key, "index")
        split = _split_key(key)
        if split is None:  # a traced bool mask (which jit refuses anyway) or an odd key
            return x[key]
        static, arrays = split
        return _compiled("getitem", static)(x, *arrays)

    # ------------------------------------------------------- index checking
    @staticmethod
    def _jax_key(key):
        """Lists in a key become NumPy index arrays (JAX refuses lists; NumPy reads them as
        index arrays); NumPy integers become Python ints."""
        parts = key if isinstance(key, tuple) else (key,)
        out = tuple(np.asarray(k) if isinstance(k, list) else
                    int(k) if isinstance(k, np.integer) else k for k in parts)
        return out if isinstance(key, tuple) else out[0]

    @staticmethod
    def _check_bounds(indices, n: int, axis: int, op: str) -> None:
        """Raise IndexError for an index outside ``[-n, n)`` along ``axis``, as NumPy does;
        JAX would clamp or drop it silently. Indices being traced by jit cannot be seen."""
        if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
            bad = None if -n <= indices < n else int(indices)
        elif hasattr(indices, "dtype") and not _is_tracer(indices) and \
                np.dtype(indices.dtype).kind in "iu" and np.size(indices):
            values = np.asarray(indices)
            lo, hi = int(values.min()), int(values.max())
            bad = lo if lo < -n else (hi if hi >= n else None)
        else:
            return
        if bad is not None:
            raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with "
                             f"size {n}")

    def _check_key_bounds(self, x, key, op: str) -> None:
        """Walk an indexing key, matching each part to the axis of ``x`` it indexes."""
        parts = key if isinstance(key, tuple) else (key,)

        def width(k):
            if k is None or isinstance(k, bool):
                return 0
            if k is Ellipsis:
                return 0
            if hasattr(k, "dtype") and np.dtype(k.dtype) == np.bool_:
                return len(k.shape)
            return 1
        used = sum(width(k) for k in parts)
        axis = 0
        for k in parts:
            if k is Ellipsis:
                axis += max(x.ndim - used, 0)
                continue
            if axis < x.ndim and width(k) == 1 and not isinstance(k, slice):
                self._check_bounds(k, x.shape[axis], axis, op)
            axis += width(k)

    # --------------------------------------------------------- gather/scatter
    def take(self, x, indices, axis):
        indices = self._jax_key(indices)
        self._check_bounds(indices, x.shape[axis], axis, "take")
        return jnp.take(x, indices, axis=axis)

    def take_along_axis(self, x, indices, axis):
        self._check_bounds(indices, x.shape[axis], axis, "take_along_axis")
        return jnp.take_along_axis(x, indices, axis=axis)

    def index_add(self, x, axis, indices, values):
        axis = axis % x.ndim
        self._check_bounds(indices, x.shape[axis], axis, "index_add")
        return self.add_at(x, (slice(None),) * axis + (indices,), values)

    def add_at(self, x, key, values):
        key = self._jax_key(key)
        self._check_key_bounds(x, key, "add_at")
        split = _split_key(key)
        if split is None:
            return x.at[key].add(values)
        static, arrays = split
        return _compiled("add_at", static)(x, _scalar(values), *arrays)

    # ---------------------------------------------------------------- random
    @staticmethod
    def _key(key: RandomKey):
        """A JAX PRNG key from an edu_nn RandomKey (see :func:`_prng_key`)."""
        if not isinstance(key, RandomKey):
            raise BackendError(f"random draws need an edu_nn RandomKey, got {type(key).__name__}")
        return _prng_key(np.array(key.entropy(), dtype=np.uint32))

    def random_uniform(self, key, shape, dtype="float32", device="cpu", low=0.0, high=1.0):
        dt = self._dtype(dtype, "random_uniform")
        draw = dt if dt.kind == "f" else self._dtype("float32")
        u = jax.random.uniform(self._key(key), tuple(shape), draw, minval=low, maxval=high)
        u = u.astype(dt)
        if dt.kind == "f":
            # Rounding a draw just below `high` can land on `high` itself; cap at the
            # largest value below it to keep [low, high).
            u = jnp.minimum(u, np.nextafter(np.asarray(high, dt), np.asarray(low, dt)))
        return self._put(u, device)

    def random_normal(self, key, shape, dtype="float32", device="cpu"):
        dt = self._dtype(dtype, "random_normal")
        draw = dt if dt.kind == "f" else self._dtype("float32")
        return self._put(jax.random.normal(self._key(key), tuple(shape), draw).astype(dt), device)

    def random_bernoulli(self, key, p, shape, device="cpu"):
        return self._put(jax.random.bernoulli(self._key(key), p, tuple(shape)), device)

    def random_permutation(self, key, n, device="cpu"):
        perm = jax.random.permutation(self._key(key), int(n)).astype(self._int64())
        return self._put(perm, device)

    # ---------------------------------------------------------------- compile
    def jit(self, fn, **kwargs):
        return jax.jit(fn, **kwargs)


@jax.jit
def _prng_key(words):
    """``PRNGKey`` of the seed's low word, then the other three 32-bit words folded in
    (fold_in takes 32-bit data; edu_nn seeds and counters may be wider). Compiled once."""
    k = jax.random.PRNGKey(words[0])
    for i in (1, 2, 3):
        k = jax.random.fold_in(k, words[i])
    return k


# ------------------------------------------------------------ compiled indexing
# Eager JAX indexing dispatches several small primitives, each compiled on first use for
# every new shape. Instead, one jitted program per key *structure* does the whole
# gather or scatter; index arrays (and ints, as 0-d arrays: NumPy gives the same result
# for them) are its arguments, so a new index value never recompiles.
class _Array:
    """Marks where an index array sits in a key's structure."""

    def __repr__(self) -> str:
        return "<array>"


_ARRAY = _Array()


def _split_key(key):
    """``(structure, arrays)`` for a key: the hashable structure (slices, None, Ellipsis,
    array slots) and the index arrays. Bool masks become their ``nonzero()`` index arrays,
    as NumPy does. None when a part cannot be split (a traced mask, a traced slice bound)."""
    parts = key if isinstance(key, tuple) else (key,)
    static, arrays = [], []
    for k in parts:
        if isinstance(k, bool) or k is None or k is Ellipsis:
            static.append(k)
        elif isinstance(k, (int, np.integer)):
            static.append(_ARRAY)
            arrays.append(np.asarray(k, dtype=np.int32 if -2**31 <= k < 2**31 else np.int64))
        elif isinstance(k, slice):
            try:
                static.append(("slice",) + tuple(None if v is None else int(v)
                                                 for v in (k.start, k.stop, k.step)))
            except (TypeError, jax.errors.ConcretizationTypeError):
                return None
        elif isinstance(k, (jax.Array, np.ndarray)):
            if np.dtype(k.dtype) == np.bool_:
                if _is_tracer(k) or k.ndim == 0:  # a 0-d mask adds an axis: leave it to JAX
                    return None
                for nz in np.nonzero(np.asarray(k)):
                    static.append(_ARRAY)
                    arrays.append(nz)
            else:
                static.append(_ARRAY)
                arrays.append(k)
        else:
            return None
    # a 2-d mask alone becomes two index arrays: then the key must be a tuple
    return (isinstance(key, tuple) or len(static) != 1, tuple(static)), arrays


def _join_key(structure, arrays):
    is_tuple, static = structure
    it = iter(arrays)
    parts = tuple(next(it) if k is _ARRAY else slice(*k[1:]) if isinstance(k, tuple) else k
                  for k in static)
    return parts if is_tuple else parts[0]


@functools.lru_cache(maxsize=1024)
def _compiled(kind: str, structure):
    if kind == "getitem":
        return jax.jit(lambda x, *arrays: x[_join_key(structure, arrays)])
    return jax.jit(lambda x, values, *arrays: x.at[_join_key(structure, arrays)].add(values))
