"""Tensor factories with torch's names: zeros, ones, full, arange, rand, randn, ...

Random factories draw from an explicit :class:`Generator` (``generator=``) or from the
default generator that ``edu_nn.manual_seed`` reseeds. A Generator holds a
:class:`RandomKey` and advances it functionally, one child key per draw, so a seed fixes
every draw on a given backend. Layer initialisation (``nn.init``) and dropout draw from the
default generator too unless given ``generator=``, so ``edu_nn.manual_seed(0)`` before
building a model fixes its weights, as ``torch.manual_seed`` does.
"""
from __future__ import annotations

from . import dtypes as _dtypes
from .backend_selection import BackendLike, get_backend
from .backends.base import RandomKey
from .tensor import Tensor


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"sizes must be non-negative ints, got {size}")
    return tuple(size)


def _new(make, dtype, requires_grad, backend, device) -> Tensor:
    b = get_backend(backend)
    arr = make(b, dtype or _dtypes.get_default_dtype(), device or "cpu")
    t = Tensor._make(arr, b, b.device_of(arr))
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, requires_grad=False, backend: BackendLike = None, device=None):
    return _new(lambda b, d, dev: b.zeros(_size(size), d, dev), dtype, requires_grad, backend, device)


def ones(*size, dtype=None, requires_grad=False, backend: BackendLike = None, device=None):
    return _new(lambda b, d, dev: b.ones(_size(size), d, dev), dtype, requires_grad, backend, device)


def empty(*size, dtype=None, requires_grad=False, backend: BackendLike = None, device=None):
    """torch.empty's name; edu_nn fills it with zeros (no uninitialised memory to surprise you)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad, backend=backend, device=device)


def full(size, fill_value, dtype=None, requires_grad=False, backend: BackendLike = None,
         device=None):
    return _new(lambda b, d, dev: b.full(_size((size,)), fill_value, d, dev), dtype,
                requires_grad, backend, device)


def zeros_like(input: Tensor, dtype=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                 backend=input.backend, device=input.device)


def ones_like(input: Tensor, dtype=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                backend=input.backend, device=input.device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False,
           backend: BackendLike = None, device=None):
    """Like torch.arange: int64 for integer arguments, the default float dtype otherwise."""
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step) if v is not None)
        dtype = "int64" if ints else _dtypes.get_default_dtype()
    return _new(lambda b, d, dev: b.arange(start, end, step, d, dev), dtype, requires_grad,
                backend, device)


class Generator:
    """A source of random keys: ``Generator(seed)``; each draw takes the next child key."""

    def __init__(self, seed: int = 0) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self.key = RandomKey(int(seed))
        self.draws = 0
        return self

    def next_key(self) -> RandomKey:
        self.draws += 1
        return self.key.fold(self.draws)


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator used by ``rand``/``randn`` without ``generator=``."""
    return default_generator.manual_seed(seed)


def rand(*size, generator: Generator | None = None, dtype=None, requires_grad=False,
         backend: BackendLike = None, device=None):
    """Uniform [0, 1) draws."""
    key = (generator or default_generator).next_key()
    return _new(lambda b, d, dev: b.random_uniform(key, _size(size), d, dev), dtype,
                requires_grad, backend, device)


def randn(*size, generator: Generator | None = None, dtype=None, requires_grad=False,
          backend: BackendLike = None, device=None):
    """Standard normal draws."""
    key = (generator or default_generator).next_key()
    return _new(lambda b, d, dev: b.random_normal(key, _size(size), d, dev), dtype,
                requires_grad, backend, device)


def from_numpy(array, backend: BackendLike = None, device=None) -> Tensor:
    """A tensor with a NumPy array's values and dtype (a copy)."""
    from .tensor import tensor
    return tensor(array, backend=backend, device=device)
