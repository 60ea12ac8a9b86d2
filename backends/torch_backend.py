"""The PyTorch backend: arrays are ``torch.Tensor``; edu_nn, not torch, differentiates.

Most methods are one torch call. The care taken, and why:

* **No torch autograd.** Arrays made here never require grad (``asarray`` detaches), so no
  result records torch history: edu_nn's hand-written backward passes do the work. (The
  torch backend is also where tests triangulate against ``torch.autograd``, on copies.)
* **NumPy semantics where torch differs.** ``sum(axis=())`` reduces nothing (torch would
  reduce everything), ``sign(nan)`` is nan, ``take`` accepts negative indices, ``mean`` of
  integers is float64, and ``getitem`` follows NumPy's indexing rules exactly, including
  negative-step slices and integers mixed with index arrays, which torch handles its own way.
* **Python scalars keep the tensor's dtype** (torch's own promotion rules do this for
  ``2.0 - t``, ``1.0 / t``, ``2.0 ** t``); NumPy scalars are turned into Python scalars first.
* **Devices**: ``"cpu"``, plus ``"cuda"``/``"cuda:N"`` when ``torch.cuda.is_available()``.
  ``device_of`` names a GPU ``"cuda:N"``, as torch prints it.
* **Randomness**: a ``torch.Generator`` on the target device, seeded from the key alone.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .base import DTYPES, Backend, BackendError, RandomKey, check_dtype_name, normalize_axis

_TORCH_DTYPES = {
    "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "bool": torch.bool,
}
_NAMES = {v: k for k, v in _TORCH_DTYPES.items()}
_CPU = torch.device("cpu")


def _torch_dtype(dtype: str) -> torch.dtype:
    return _TORCH_DTYPES[check_dtype_name(dtype)]


def _scalar(x):
    """NumPy scalars become Python scalars, which take the tensor's dtype in torch's rules."""
    return x.item() if isinstance(x, np.generic) else x


def _seed(key: RandomKey) -> int:
    """One 64-bit seed from the key's four words, well mixed (neighbouring counters give
    unrelated streams)."""
    if not isinstance(key, RandomKey):
        raise BackendError(f"random draws need an edu_nn RandomKey, got {type(key).__name__}")
    return int(np.random.SeedSequence(key.entropy()).generate_state(1, np.uint64)[0])


def _same_layout(target, other) -> bool:
    """Whether ``target`` can take a result shaped and typed like itself in place."""
    return (isinstance(target, torch.Tensor) and isinstance(other, torch.Tensor)
            and other.shape == target.shape and other.dtype == target.dtype)


class TorchBackend(Backend):
    name = "torch"
    supports_float64 = True
    is_jax_like = False

    def __init__(self) -> None:
        caps = {"float64", "add_at"}
        if torch.cuda.is_available():
            caps.add("cuda")
        self.capabilities = frozenset(caps)

    def version(self) -> str:
        return torch.__version__

    def devices(self) -> list[str]:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return ["cpu"] + [f"cuda:{i}" for i in range(gpus)]

    def _device(self, device) -> torch.device:
        """A torch.device for a device name, or a BackendError that says what exists."""
        if isinstance(device, torch.device):
            device = str(device)
        if device is None or device == "cpu":
            return _CPU
        if isinstance(device, str) and device.split(":")[0] == "cuda":
            if not torch.cuda.is_available():
                build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
                raise BackendError(
                    f"the torch backend cannot use device {device!r}: torch.cuda.is_available() "
                    f"== False (torch {torch.__version__}, {build}). Use device='cpu'.")
            try:
                dev = torch.device(device)
            except RuntimeError:
                dev = None
            if dev is not None and (dev.index or 0) < torch.cuda.device_count():
                return dev
        raise BackendError(f"the torch backend has no device {device!r}: available: "
                           f"{self.devices()}")

    # ------------------------------------------------------------ conversion
    def asarray(self, data, dtype=None, device=None):
        if isinstance(data, torch.Tensor) and device is None:
            device = data.device  # a tensor stays where it is unless asked to move
        dev = self._device(device)
        if isinstance(data, torch.Tensor):
            if dtype is None:
                self.dtype_of(data)  # rejects dtypes edu_nn does not know
            # copy=True: the caller may later write into `data` in place; we must not see it
            return data.detach().to(device=dev, copy=True,
                                    dtype=None if dtype is None else _torch_dtype(dtype))
        # NumPy decides the dtype of lists and scalars (float lists are float64), as in the
        # NumPy backend; np.array copies, so the tensor below owns its memory.
        arr = np.array(data, dtype=None if dtype is None else check_dtype_name(dtype), copy=True)
        if arr.dtype.name not in DTYPES:
            raise BackendError(
                f"cannot make a torch array of dtype {arr.dtype} from {type(data).__name__}: "
                f"edu_nn dtypes are {', '.join(DTYPES)}; convert first, e.g. .astype('float32')")
        if not arr.dtype.isnative:  # torch reads native byte order only
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return torch.from_numpy(arr).to(dev)

    def to_numpy(self, x):
        # A copy: writing into the NumPy array must never change the tensor.
        out = x.detach().cpu().numpy()
        return out.copy() if x.device == _CPU else out  # .cpu() of a GPU tensor copied already

    def astype(self, x, dtype):
        return x.to(_torch_dtype(dtype))

    def to_device(self, x, device):
        if device is None:
            return x
        return x.to(self._device(device))

    def dtype_of(self, x):
        try:
            return _NAMES[x.dtype]
        except KeyError:
            raise BackendError(f"torch dtype {x.dtype} is not an edu_nn dtype "
                               f"({', '.join(DTYPES)}); convert it first") from None

    def device_of(self, x):
        return str(x.device)

    def is_array(self, x):
        return isinstance(x, torch.Tensor)

    def item(self, x):
        return x.item()

    # -------------------------------------------------------------- creation
    def zeros(self, shape, dtype, device="cpu"):
        return torch.zeros(tuple(shape), dtype=_torch_dtype(dtype), device=self._device(device))

    def ones(self, shape, dtype, device="cpu"):
        return torch.ones(tuple(shape), dtype=_torch_dtype(dtype), device=self._device(device))

    def full(self, shape, value, dtype, device="cpu"):
        return torch.full(tuple(shape), _scalar(value), dtype=_torch_dtype(dtype),
                          device=self._device(device))

    def arange(self, start, stop=None, step=1, dtype="int64", device="cpu"):
        if stop is None:
            start, stop = 0, start
        return torch.arange(_scalar(start), _scalar(stop), _scalar(step),
                            dtype=_torch_dtype(dtype), device=self._device(device))

    def zeros_like(self, x):
        return torch.zeros_like(x)

    def ones_like(self, x):
        return torch.ones_like(x)

    # ----------------------------------------------------------- elementwise
    # Python operators accept a scalar on either side and keep the tensor's dtype.
    def add(self, a, b):
        return self._lift(a, b) + _scalar(b)

    def subtract(self, a, b):
        return self._lift(a, b) - _scalar(b)

    def multiply(self, a, b):
        return self._lift(a, b) * _scalar(b)

    def divide(self, a, b):
        return self._lift(a, b) / _scalar(b)

    def power(self, a, b):
        return self._lift(a, b) ** _scalar(b)

    def _lift(self, a, b):
        """``a`` as an operand: a NumPy scalar becomes a Python one; when neither side is a
        tensor, ``a`` becomes one (NumPy's dtype rules) so the operator returns a tensor."""
        a = _scalar(a)
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            return self.asarray(a)
        return a

    def _pair(self, a, b):
        """Two tensors for the torch functions that take no scalars; a scalar becomes a 0-d
        tensor of the promoted dtype (exact: 0.1 is not rounded to float32 for a float64
        tensor) on the other operand's device."""
        a, b = _scalar(a), _scalar(b)
        if not isinstance(a, torch.Tensor):
            a = self.asarray(a) if not isinstance(b, torch.Tensor) else \
                torch.tensor(a, dtype=torch.result_type(b, a), device=b.device)
        if not isinstance(b, torch.Tensor):
            b = torch.tensor(b, dtype=torch.result_type(a, b), device=a.device)
        return a, b

    def maximum(self, a, b):
        return torch.maximum(*self._pair(a, b))

    def minimum(self, a, b):
        return torch.minimum(*self._pair(a, b))

    def negative(self, x):
        return torch.neg(x)

    def exp(self, x):
        return torch.exp(x)

    def log(self, x):
        return torch.log(x)

    def log1p(self, x):
        return torch.log1p(x)

    def sqrt(self, x):
        return torch.sqrt(x)

    def abs(self, x):
        return torch.abs(x)

    def sign(self, x):
        s = torch.sign(x)
        # torch gives sign(nan) == 0; NumPy (and the contract) keep the nan visible
        return torch.where(torch.isnan(x), x, s) if x.is_floating_point() else s

    def tanh(self, x):
        return torch.tanh(x)

    def erf(self, x):
        return torch.erf(x)

    def sin(self, x):
        return torch.sin(x)

    def cos(self, x):
        return torch.cos(x)

    def floor(self, x):
        return torch.floor(x) if x.is_floating_point() else x

    def cumsum(self, x, axis):
        return torch.cumsum(x, dim=axis, dtype=x.dtype)

    def argsort(self, x, axis=-1, descending=False):
        return torch.argsort(x, dim=axis, descending=descending, stable=True)

    def square(self, x):
        return torch.square(x)

    def reciprocal(self, x):
        return torch.reciprocal(x)

    def add_scaled(self, x, y, alpha, *, inplace=False):
        # One kernel and one temporary instead of two (alpha * y, then the sum): this is
        # every SGD update. torch refuses a float alpha for integer tensors: defer to the base.
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.is_floating_point():
            if inplace and _same_layout(x, y):
                return x.add_(y, alpha=_scalar(alpha))
            return torch.add(x, y, alpha=_scalar(alpha))
        return super().add_scaled(x, y, alpha)

    # Optimizer updates (issue 16): torch.optim's own kernels (lerp_, addcmul_, addcdiv_),
    # in place into the owned first argument, so the numbers are torch.optim's.
    def copy(self, x):
        return x.clone()

    def scale(self, x, factor, *, inplace=False):
        return x.mul_(_scalar(factor)) if inplace else torch.mul(x, _scalar(factor))

    def lerp(self, a, b, weight, *, inplace=False):
        if inplace and _same_layout(a, b):
            return a.lerp_(b, _scalar(weight))
        return torch.lerp(a, b, _scalar(weight))

    def mul_add_square(self, a, x, decay, scale, *, inplace=False):
        if inplace and _same_layout(a, x):
            return a.mul_(_scalar(decay)).addcmul_(x, x, value=_scalar(scale))
        return torch.addcmul(torch.mul(a, _scalar(decay)), x, x, value=_scalar(scale))

    def addcdiv(self, x, num, denom, value, *, inplace=False):
        if inplace and _same_layout(x, num):
            return x.addcdiv_(num, denom, value=_scalar(value))
        return torch.addcdiv(x, num, denom, value=_scalar(value))

    def sqrt_div_add(self, x, divisor, eps):
        return torch.sqrt(x).div_(_scalar(divisor)).add_(_scalar(eps))

    def relu(self, x):
        return torch.relu(x)  # NaN stays NaN, as maximum(x, 0)

    def relu_backward(self, grad, x):
        # leaky_relu_backward with slope 0 computes `x > 0 ? grad : grad * 0`, bit for bit
        # the contract's grad * (x > 0) (NaN x gives 0). Not threshold_backward: it tests
        # `x <= 0 ? 0 : grad` and so passes grad through where x is NaN.
        return torch.ops.aten.leaky_relu_backward(grad, x, 0.0, False)

    def clip(self, x, min=None, max=None):
        min, max = _scalar(min), _scalar(max)
        if min is None and max is None:
            return x
        if isinstance(min, torch.Tensor) or isinstance(max, torch.Tensor):
            return super().clip(x, min, max)  # maximum then minimum, as np.clip
        return torch.clamp(x, min, max)

    def where(self, cond, a, b):
        if not isinstance(cond, torch.Tensor):
            cond = self.asarray(cond)
        if cond.dtype != torch.bool:
            cond = cond != 0
        a, b = _scalar(a), _scalar(b)
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = self.asarray(a, device=self.device_of(cond))
        return torch.where(cond, a, b)

    def equal(self, a, b):
        return self._lift(a, b) == _scalar(b)

    def not_equal(self, a, b):
        return self._lift(a, b) != _scalar(b)

    def less(self, a, b):
        return self._lift(a, b) < _scalar(b)

    def less_equal(self, a, b):
        return self._lift(a, b) <= _scalar(b)

    def greater(self, a, b):
        return self._lift(a, b) > _scalar(b)

    def greater_equal(self, a, b):
        return self._lift(a, b) >= _scalar(b)

    def logical_and(self, a, b):
        return torch.logical_and(*self._pair(a, b))

    def logical_or(self, a, b):
        return torch.logical_or(*self._pair(a, b))

    def logical_not(self, x):
        return torch.logical_not(x)

    def isfinite(self, x):
        return torch.isfinite(x)

    # ------------------------------------------------------------ reductions
    @staticmethod
    def _dims(x, axis):
        """Axes to reduce as a tuple, or None when nothing is reduced (``axis=()`` on a
        tensor with dims: torch would reduce everything, NumPy reduces nothing)."""
        if axis is None:
            return tuple(range(x.ndim))
        dims = (axis,) if isinstance(axis, int) else tuple(axis)
        if not dims and x.ndim:
            return None
        return tuple(normalize_axis(int(d), x.ndim, "reduction") for d in dims)

    def sum(self, x, axis=None, keepdims=False):
        dims = self._dims(x, axis)
        if dims is None:  # NumPy: summing over no axis still promotes small ints to int64
            return x if x.is_floating_point() else x.to(torch.int64)
        return torch.sum(x, dim=dims, keepdim=keepdims)

    def max(self, x, axis=None, keepdims=False):
        dims = self._dims(x, axis)
        return x if dims is None else torch.amax(x, dim=dims, keepdim=keepdims)

    def min(self, x, axis=None, keepdims=False):
        dims = self._dims(x, axis)
        return x if dims is None else torch.amin(x, dim=dims, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if not x.is_floating_point():  # NumPy: the mean of integers is float64
            x = x.to(torch.float64)
        dims = self._dims(x, axis)
        return x if dims is None else torch.mean(x, dim=dims, keepdim=keepdims)

    def argmax(self, x, axis=None, keepdims=False):
        # torch documents (and our tests check) that ties give the first maximum.
        return self._arg(torch.argmax, x, axis, keepdims)

    def argmin(self, x, axis=None, keepdims=False):
        return self._arg(torch.argmin, x, axis, keepdims)

    @staticmethod
    def _arg(fn, x, axis, keepdims):
        if axis is None:
            out = fn(x.reshape(-1))
            return out.reshape((1,) * x.ndim) if keepdims else out
        return fn(x, dim=normalize_axis(axis, x.ndim, fn.__name__), keepdim=keepdims)

    def any(self, x):
        return bool(torch.any(x))

    def all(self, x):
        return bool(torch.all(x))

    def count_nonzero(self, x):
        return int(torch.count_nonzero(x))

    # ---------------------------------------------------------------- linalg
    def matmul(self, a, b):
        return torch.matmul(a, b)

    def linear(self, x, weight, bias=None):
        return torch.nn.functional.linear(x, weight, bias)  # addmm: the bias rides in the GEMM

    # ----------------------------------------------------------------- shape
    # reshape, permute, broadcast_to and basic indexing may return views; that is safe
    # because no primitive writes into an array.
    def reshape(self, x, shape):
        return torch.reshape(x, tuple(shape))

    def permute_dims(self, x, axes):
        return torch.permute(x, tuple(axes))

    def broadcast_to(self, x, shape):
        return torch.broadcast_to(x, tuple(shape))

    def expand_dims(self, x, axis):
        return torch.unsqueeze(x, normalize_axis(axis, x.ndim + 1, "expand_dims"))

    def squeeze(self, x, axis):
        axes = tuple(normalize_axis(a, x.ndim, "squeeze")
                     for a in ((axis,) if isinstance(axis, int) else axis))
        for a in axes:
            if x.shape[a] != 1:  # torch would silently keep it; NumPy refuses
                raise ValueError(f"squeeze: dim {a} has size {x.shape[a]}, not 1, so it "
                                 f"cannot be squeezed out (shape {tuple(x.shape)})")
        return torch.squeeze(x, dim=axes) if axes else x

    def concat(self, arrays, axis=0):
        return torch.cat(list(arrays), dim=axis)

    def stack(self, arrays, axis=0):
        return torch.stack(list(arrays), dim=axis)

    def pad(self, x, pad_width, value=0.0):
        pad_width = [tuple(int(v) for v in p) for p in pad_width]
        if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
            raise ValueError(f"pad: pad_width needs one (before, after) pair of non-negative "
                             f"ints per dim of the shape {tuple(x.shape)}, got {pad_width}")
        shape = tuple(n + b + a for n, (b, a) in zip(x.shape, pad_width))
        out = torch.full(shape, _scalar(value), dtype=x.dtype, device=x.device)
        # writing into `out` is fine: it is ours, made just above
        out[tuple(slice(b, b + n) for n, (b, _) in zip(x.shape, pad_width))] = x
        return out

    def flip(self, x, axis):
        return torch.flip(x, dims=(normalize_axis(axis, x.ndim, "flip"),))

    def getitem(self, x, key):
        # Fast path for a pair of 1-d int64 index tensors on x's device (cross-entropy's
        # logits[arange(N), target]): torch's indexing is NumPy's here (negative indices,
        # broadcasting, IndexError out of range), so the key needs no translation.
        if type(key) is tuple and len(key) == 2:
            rows, cols = key
            if (type(rows) is torch.Tensor and type(cols) is torch.Tensor
                    and rows.dtype is torch.int64 and cols.dtype is torch.int64
                    and rows.ndim == 1 and cols.ndim == 1
                    and rows.device == x.device and cols.device == x.device):
                return x[key]
        return self._getitem(x, key)

    def _getitem(self, x, key):
        """The general case: NumPy's indexing rules for any key."""
        key = self._torch_key(key, x.device)
        if self._torch_indexes_like_numpy(key):
            return x[key]
        return x.reshape(-1)[self._positions(x, key)]

    # NumPy-semantics helpers for indexing keys
    def _index(self, k, device):
        """An index array (torch, NumPy or list) as an int64 or bool tensor on ``device``.
        uint8 tensors are indices here (torch would read them as masks)."""
        if isinstance(k, torch.Tensor):
            t = k.detach()
        else:
            arr = np.asarray(k)
            if arr.dtype == object or arr.dtype.kind not in "biu":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, "
                                 f"got {arr.dtype}")
            t = torch.from_numpy(np.array(arr, copy=True))
        if t.dtype != torch.bool:
            if t.is_floating_point() or t.is_complex():
                raise IndexError(f"tensors used as indices must be of integer or boolean "
                                 f"type, got {self.dtype_of(t)}")
            t = t.to(torch.int64)
        return t.to(device)

    def _torch_key(self, key, device):
        parts = key if isinstance(key, tuple) else (key,)
        out = []
        for k in parts:
            if isinstance(k, (torch.Tensor, np.ndarray, list)):
                k = self._index(k, device)
            elif isinstance(k, np.integer):
                k = int(k)
            out.append(k)
        return tuple(out) if isinstance(key, tuple) else out[0]

    @staticmethod
    def _torch_indexes_like_numpy(key) -> bool:
        """Whether torch's own indexing gives NumPy's result for this key. It does except
        for negative-step slices (torch refuses them) and integers mixed with index arrays
        when they are not all adjacent (NumPy then moves the indexed dims to the front;
        torch applies the integers first)."""
        parts = key if isinstance(key, tuple) else (key,)
        advanced = []
        for i, k in enumerate(parts):
            if isinstance(k, slice) and k.step is not None and k.step < 0:
                return False
            if isinstance(k, torch.Tensor) or (isinstance(k, int) and not isinstance(k, bool)):
                advanced.append(i)
        # torch treats a 0-d integer tensor like an int
        scalar = [isinstance(parts[i], int) or (parts[i].ndim == 0 and parts[i].dtype != torch.bool)
                  for i in advanced]
        has_int, has_array = any(scalar), not all(scalar)
        if not (has_int and has_array):
            return True
        return advanced == list(range(advanced[0], advanced[-1] + 1))

    def _positions(self, x, key):
        """The flat positions ``x[key]`` selects, computed with NumPy on the index space."""
        numpy_key = self._key_to_numpy(key)
        pos = np.arange(math.prod(x.shape)).reshape(tuple(x.shape))[numpy_key]
        return torch.from_numpy(np.ascontiguousarray(pos)).to(x.device)

    # --------------------------------------------------------- gather/scatter
    @staticmethod
    def _wrap(indices, n):
        """Negative indices count from the end (NumPy); torch's gathers refuse them."""
        return torch.where(indices < 0, indices + n, indices)

    def take(self, x, indices, axis):
        axis = normalize_axis(axis, x.ndim, "take")
        idx = self._index(indices, x.device)
        flat = self._wrap(idx.reshape(-1), x.shape[axis])
        out = torch.index_select(x, axis, flat)
        return out.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))

    def take_along_axis(self, x, indices, axis):
        axis = normalize_axis(axis, x.ndim, "take_along_axis")
        idx = self._wrap(self._index(indices, x.device), x.shape[axis])
        return torch.take_along_dim(x, idx, dim=axis)

    def index_add(self, x, axis, indices, values):
        axis = normalize_axis(axis, x.ndim, "index_add")
        idx = self._wrap(self._index(indices, x.device).reshape(-1), x.shape[axis])
        shape = tuple(x.shape[:axis]) + (idx.shape[0],) + tuple(x.shape[axis + 1:])
        values = torch.broadcast_to(self._same_as(values, x), shape)
        return torch.index_add(x, axis, idx, values)  # out of place; duplicates accumulate

    def add_at(self, x, key, values):
        key = self._torch_key(key, x.device)
        parts = key if isinstance(key, tuple) else (key,)
        if any(isinstance(k, torch.Tensor) for k in parts) and all(
                isinstance(k, torch.Tensor) or (isinstance(k, int) and not isinstance(k, bool))
                for k in parts):
            # Only index arrays and ints: NumPy and index_put agree (all advanced, adjacent).
            index = tuple(k if isinstance(k, torch.Tensor)
                          else torch.tensor(k, dtype=torch.int64, device=x.device) for k in parts)
            return torch.index_put(x, index, self._same_as(values, x), accumulate=True)
        return super().add_at(x, key, self._same_as(values, x))

    def _same_as(self, values, x):
        """``values`` as a tensor of ``x``'s dtype and device (scalars allowed)."""
        if isinstance(values, torch.Tensor):
            return values.to(dtype=x.dtype, device=x.device)
        return torch.as_tensor(np.asarray(values), device=x.device).to(x.dtype)

    # ---------------------------------------------------------------- random
    def _generator(self, key, device) -> tuple[torch.Generator, torch.device]:
        dev = self._device(device)
        gen = torch.Generator(device=dev)
        gen.manual_seed(_seed(key))
        return gen, dev

    def random_uniform(self, key, shape, dtype="float32", device="cpu", low=0.0, high=1.0):
        gen, dev = self._generator(key, device)
        target = _torch_dtype(dtype)
        # float16 draws are made in float32 (the CPU kernels want it) and rounded
        draw_dtype = target if target in (torch.float32, torch.float64) else torch.float64
        u = (torch.rand(tuple(shape), generator=gen, dtype=draw_dtype, device=dev)
             * (high - low) + low).to(target)
        if not u.is_floating_point():
            return u
        # Rounding a draw just below `high` (in the scaling, or to float16) can land on
        # `high` itself; cap at the largest value below it to keep [low, high).
        below = torch.nextafter(torch.tensor(high, dtype=target), torch.tensor(low, dtype=target))
        return torch.minimum(u, below.to(dev))

    def random_normal(self, key, shape, dtype="float32", device="cpu"):
        gen, dev = self._generator(key, device)
        target = _torch_dtype(dtype)
        draw_dtype = target if target in (torch.float32, torch.float64) else torch.float64
        return torch.randn(tuple(shape), generator=gen, dtype=draw_dtype, device=dev).to(target)

    def random_bernoulli(self, key, p, shape, device="cpu"):
        gen, dev = self._generator(key, device)
        return torch.rand(tuple(shape), generator=gen, dtype=torch.float64, device=dev) < p

    def random_permutation(self, key, n, device="cpu"):
        gen, dev = self._generator(key, device)
        return torch.randperm(int(n), generator=gen, device=dev, dtype=torch.int64)
