"""Tensor factories with torch's names: zeros, ones, full, arange, rand, randn, ...

Random factories draw from an explicit :class:`Generator` (``generator=``) or from the
default generator that ``edu_nn.manual_seed`` reseeds. A Generator holds a
:class:`RandomKey` and advances it functionally, one child key per draw, so a seed fixes
every draw on a given backend. Layer initialisation (``nn.init``) and dropout draw from the
default generator too unless given ``generator=``, so ``edu_nn.manual_seed(0)`` before
building a model fixes its weights, as ``torch.manual_seed`` does.
"""
from __future__ import annotations

import os

import numpy as np

from . import dtypes as _dtypes
from .backend_selection import BackendLike, get_backend
from .backends.base import RandomKey
from .tensor import Tensor
from .devices import default_device, set_default_device  # noqa: F401  (re-exported)


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"sizes must be non-negative ints, got {size}")
    return tuple(size)


def _new(make, dtype, requires_grad, backend, device) -> Tensor:
    b = get_backend(backend)
    arr = make(b, dtype or _dtypes.get_default_dtype(), device or default_device())
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


def _fresh_seed() -> int:
    """A seed from the operating system: what a program gets until it calls manual_seed."""
    return int.from_bytes(os.urandom(8), "little") >> 1


# torch's behaviour: every run draws differently until the program calls manual_seed (the
# "fix the seed" lesson depends on that).
default_generator = Generator(_fresh_seed())


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator used by ``rand``/``randn`` without ``generator=``."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Reseed the default generator from the operating system; returns the new seed."""
    s = _fresh_seed()
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return default_generator.key.seed


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


# ------------------------------------------------- more factories that tutorials use
def linspace(start, end, steps: int, dtype=None, requires_grad=False,
             backend: BackendLike = None, device=None):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float)."""
    values = np.linspace(float(start), float(end), int(steps))
    return _from_numpy(values, dtype or _dtypes.get_default_dtype(), requires_grad, backend, device)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, requires_grad=False,
             backend: BackendLike = None, device=None):
    """``base ** linspace(start, end, steps)``."""
    values = np.logspace(float(start), float(end), int(steps), base=base)
    return _from_numpy(values, dtype or _dtypes.get_default_dtype(), requires_grad, backend, device)


def eye(n: int, m: int | None = None, dtype=None, requires_grad=False,
        backend: BackendLike = None, device=None):
    """The (n, m) identity matrix (m defaults to n)."""
    return _from_numpy(np.eye(int(n), None if m is None else int(m)),
                       dtype or _dtypes.get_default_dtype(), requires_grad, backend, device)


def normal(mean, std, size=None, *, generator: Generator | None = None, dtype=None,
           requires_grad=False, backend: BackendLike = None, device=None):
    """Normal draws: ``torch.normal(mean, std, size)`` with float mean/std and a size, or
    tensors ``mean``/``std`` (broadcast together; one draw per element)."""
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if like is not None:
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ())))
        z = randn(shape, generator=generator, dtype=dtype or like.dtype, backend=like.backend,
                  device=like.device)
        out = z * std + mean
        return out.detach().requires_grad_(True) if requires_grad else out.detach()
    if size is None:
        raise TypeError("normal(): give a size when mean and std are numbers, e.g. "
                        "normal(0.0, 1.0, size=(3, 4))")
    size = (size,) if isinstance(size, int) else tuple(size)
    z = randn(size, generator=generator, dtype=dtype, backend=backend, device=device)
    out = (z * float(std) + float(mean)).detach()
    return out.requires_grad_(True) if requires_grad else out


def randint(low, high=None, size=None, *, generator: Generator | None = None, dtype="int64",
            backend: BackendLike = None, device=None):
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint(): missing size, e.g. randint(0, 10, (3,))")
    if high <= low:
        raise ValueError(f"randint(): need low < high, got low={low}, high={high}")
    size = (size,) if isinstance(size, int) else tuple(size)
    rng = _numpy_rng(generator)
    return _from_numpy(rng.integers(int(low), int(high), size), dtype, False, backend, device)


def randperm(n: int, *, generator: Generator | None = None, dtype="int64",
             backend: BackendLike = None, device=None):
    """A random permutation of ``0 .. n-1``."""
    return _from_numpy(_numpy_rng(generator).permutation(int(n)), dtype, False, backend, device)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None):
    """Draw category indices with probabilities proportional to the rows of ``input``.

    input: (C,) or (N, C) non-negative weights (need not sum to 1) -> int64 (num_samples,)
    or (N, num_samples). Without replacement each category appears at most once per row.
    """
    w = input.backend.to_numpy(input.array).astype(np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-d or 2-d, got shape {input.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    if (rows.sum(1) <= 0).any():
        raise ValueError("multinomial: every row of probabilities needs a positive sum")
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {rows.shape[1]} categories; pass replacement=True")
    rng = _numpy_rng(generator)
    out = np.stack([rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum())
                    for r in rows])
    out = out.reshape(w.shape[:-1] + (num_samples,))
    return _from_numpy(out, "int64", False, input.backend, input.device)


def _numpy_rng(generator: Generator | None) -> np.random.Generator:
    """A NumPy generator seeded from the next key of ``generator`` (or the default one),
    so integer draws follow manual_seed the way rand/randn do."""
    return np.random.default_rng((generator or default_generator).next_key().entropy())


def _from_numpy(values, dtype, requires_grad, backend, device) -> Tensor:
    return _new(lambda b, d, dev: b.asarray(np.asarray(values), d, dev), dtype, requires_grad,
                backend, device)
