"""Data augmentation and normalisation on NumPy samples or batches (torchvision's names).

Every transform works on one sample, ``t(x)`` with x: (C, H, W), (C, L), (L,) or (D,), and on
a whole batch, ``t.batch(x)`` with x: (N, ...) where each sample gets its own random draw.
:class:`TransformDataset` (and the DataLoader through it) uses the batch form, so augmenting
costs a few vectorised NumPy calls per batch, not a Python loop per sample.

Random transforms take ``generator=``: an int seed, an edu_nn.Generator, a numpy Generator,
or None for edu_nn's default generator (reseeded by ``edu_nn.manual_seed``). A seeded
transform repeats the same sequence of draws.

    train_tf = Compose([RandomShift(4, dims=1), GaussianNoise(0.05)])
    data = TransformDataset(TensorDataset(x, y), transform=train_tf)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..tensor import Tensor
from ._random import as_generator, numpy_rng
from .dataset import Dataset

__all__ = ["Transform", "Compose", "Normalize", "GaussianNoise", "RandomShift",
           "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "Lambda",
           "TransformDataset"]


def _as_numpy(x) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


class Transform:
    """Base class: subclasses implement ``_apply(x, rng)`` on a batch x: (N, ...)."""

    random = False
    generator = None

    def __call__(self, x):
        """One sample (no batch dim)."""
        return self._apply(_as_numpy(x)[None], self._rng())[0]

    def batch(self, x):
        """A batch x: (N, ...); each sample is transformed independently."""
        return self._apply(_as_numpy(x), self._rng())

    def _rng(self):
        return numpy_rng(self.generator) if self.random else None

    def _apply(self, x: np.ndarray, rng) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def batch(self, x):
        for t in self.transforms:
            if hasattr(t, "batch"):
                x = t.batch(x)
            else:   # a plain function: one sample at a time
                x = np.stack([_as_numpy(t(sample)) for sample in _as_numpy(x)])
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda(Transform):
    """Wrap a function of one sample; ``batch`` applies it sample by sample."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def batch(self, x):
        return np.stack([_as_numpy(self.fn(sample)) for sample in _as_numpy(x)])


def _channel_shaped(value, sample_ndim: int, name: str) -> np.ndarray:
    """A scalar stays a scalar; a sequence of C values (one per channel, dim 0 of the
    sample) gets shape (C, 1, ..., 1) so it broadcasts over a sample or a batch."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 0:
        return value
    if value.ndim != 1:
        raise ValueError(f"Normalize: {name} must be a number or a 1-d sequence (one value "
                         f"per channel), got shape {value.shape}")
    return value.reshape(value.shape + (1,) * max(sample_ndim - 1, 0))


class Normalize(Transform):
    """``(x - mean) / std``, per channel when mean/std are sequences (channel = the sample's
    dim 0: C of (C, H, W), or the feature of a flat (D,) sample). The dtype is kept."""

    def __init__(self, mean, std, inplace: bool = False) -> None:
        if np.any(np.asarray(std) == 0):
            raise ValueError(f"Normalize: std must be non-zero everywhere (it divides), "
                             f"got {std!r}")
        self.mean, self.std = mean, std

    def _apply(self, x, rng):
        mean = _channel_shaped(self.mean, x.ndim - 1, "mean")
        std = _channel_shaped(self.std, x.ndim - 1, "std")
        if mean.ndim and x.shape[1] != mean.shape[0]:
            raise ValueError(f"Normalize: {mean.shape[0]} means for samples of shape "
                             f"{x.shape[1:]} with {x.shape[1]} channels (dim 0 of a sample)")
        out = (x - mean) / std
        return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


class GaussianNoise(Transform):
    """``x + std * N(0, 1)``, fresh noise for every sample and every call."""

    random = True

    def __init__(self, std: float = 0.1, generator=None) -> None:
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std
        self.generator = as_generator(generator)

    def _apply(self, x, rng):
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return (x + self.std * rng.standard_normal(x.shape)).astype(dtype)


def _spatial_param(value, dims: int | None, default_dims: int, name: str) -> tuple[int, ...]:
    """An int or a tuple of ints, one per spatial (trailing) axis."""
    if isinstance(value, (tuple, list)):
        if dims is not None and dims != len(value):
            raise ValueError(f"{name}: {len(value)} values for dims={dims}")
        return tuple(int(v) for v in value)
    return (int(value),) * (dims or default_dims)


def _check_spatial(x: np.ndarray, dims: int, name: str) -> None:
    if x.ndim - 1 < dims:
        raise ValueError(f"{name}: works on the last {dims} axes of a sample, but a sample "
                         f"has shape {x.shape[1:]}")


def _gather(x: np.ndarray, axis: int, src: np.ndarray, fill: float) -> np.ndarray:
    """out[n, ..., i, ...] = x[n, ..., src[n, i], ...] along ``axis``; ``fill`` where src
    is out of range. src: (N, L_out)."""
    valid = (src >= 0) & (src < x.shape[axis])
    shape = [1] * x.ndim
    shape[0], shape[axis] = src.shape
    idx = np.clip(src, 0, x.shape[axis] - 1).reshape(shape)
    out = np.take_along_axis(x, idx, axis=axis)
    return np.where(valid.reshape(shape), out, np.asarray(fill, dtype=x.dtype))


class RandomShift(Transform):
    """Translate each sample by a random whole number of positions in
    ``[-max_shift, max_shift]`` along each of its last ``dims`` axes (1: signals (L,) or
    (C, L); 2: images (C, H, W)). Positions shifted in are ``fill``, or wrap around when
    ``circular`` (MNIST-1D's own translation is circular).

    Args:
        max_shift: an int, or one int per spatial axis (which sets ``dims``).
        dims: how many trailing axes are spatial (default 1).
    """

    random = True

    def __init__(self, max_shift, dims: int | None = None, fill: float = 0.0,
                 circular: bool = False, generator=None) -> None:
        self.max_shift = _spatial_param(max_shift, dims, 1, "RandomShift")
        if any(s < 0 for s in self.max_shift):
            raise ValueError(f"RandomShift: max_shift must be >= 0, got {max_shift}")
        self.fill, self.circular = fill, circular
        self.generator = as_generator(generator)

    def _apply(self, x, rng):
        dims = len(self.max_shift)
        _check_spatial(x, dims, "RandomShift")
        for k, m in enumerate(self.max_shift):
            axis = x.ndim - dims + k
            size = x.shape[axis]
            shift = rng.integers(-m, m + 1, size=len(x))
            src = np.arange(size)[None] - shift[:, None]      # out[i] = x[i - shift]
            if self.circular:
                src %= size
            x = _gather(x, axis, src, self.fill)
        return x


class _RandomFlip(Transform):
    random = True
    axis_from_end = -1

    def __init__(self, p: float = 0.5, generator=None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p is a probability, got {p}")
        self.p = p
        self.generator = as_generator(generator)

    def _apply(self, x, rng):
        _check_spatial(x, -self.axis_from_end, type(self).__name__)
        flip = rng.random(len(x)) < self.p
        mask = flip.reshape((len(x),) + (1,) * (x.ndim - 1))
        return np.where(mask, np.flip(x, axis=self.axis_from_end), x)


class RandomHorizontalFlip(_RandomFlip):
    """Reverse the last axis (W of (C, H, W), or a signal's L) with probability ``p``."""


class RandomVerticalFlip(_RandomFlip):
    """Reverse the second-to-last axis (H of (C, H, W)) with probability ``p``."""

    axis_from_end = -2


class RandomCrop(Transform):
    """Pad by ``padding`` on every side (with ``fill``), then cut a window of ``size`` at a
    random position (torchvision's RandomCrop, e.g. ``RandomCrop(28, padding=4)``).

    Args:
        size: an int (a square window on the last 2 axes) or one int per spatial axis:
            ``(L,)`` crops signals, ``(H, W)`` images.
        padding: an int, or one int per spatial axis (added before and after).
    """

    random = True

    def __init__(self, size, padding=0, fill: float = 0.0, generator=None) -> None:
        self.size = _spatial_param(size, None, 2, "RandomCrop")
        self.padding = _spatial_param(padding or 0, len(self.size), len(self.size),
                                      "RandomCrop padding")
        if any(p < 0 for p in self.padding) or any(s <= 0 for s in self.size):
            raise ValueError(f"RandomCrop: size must be positive and padding >= 0, got "
                             f"size={size}, padding={padding}")
        self.fill = fill
        self.generator = as_generator(generator)

    def _apply(self, x, rng):
        dims = len(self.size)
        _check_spatial(x, dims, "RandomCrop")
        for k, (size, pad) in enumerate(zip(self.size, self.padding)):
            axis = x.ndim - dims + k
            room = x.shape[axis] + 2 * pad - size
            if room < 0:
                raise ValueError(f"RandomCrop: crop size {size} is larger than the padded "
                                 f"input ({x.shape[axis]} + 2 * {pad}) along axis {axis - 1} "
                                 f"of a sample of shape {x.shape[1:]}")
            start = rng.integers(0, room + 1, size=len(x)) - pad
            x = _gather(x, axis, start[:, None] + np.arange(size)[None], self.fill)
        return x


class TransformDataset(Dataset):
    """``dataset`` with ``transform`` applied to each sample's input (field 0) and
    ``target_transform`` to its target (field 1), fresh at every access.

    When the inner dataset can batch (a TensorDataset, a Subset of one) and the transforms
    have a ``batch`` method (all of this module's do), the DataLoader transforms whole batches.
    """

    def __init__(self, dataset, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.dataset = dataset
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        sample = self.dataset[index]
        if not isinstance(sample, tuple):
            return self.transform(sample) if self.transform else sample
        fields = list(sample)
        if self.transform is not None:
            fields[0] = self.transform(fields[0])
        if self.target_transform is not None and len(fields) > 1:
            fields[1] = self.target_transform(fields[1])
        return tuple(fields)

    def _get_batch(self, indices: np.ndarray) -> list | None:
        inner = getattr(self.dataset, "_get_batch", None)
        todo = [(0, self.transform), (1, self.target_transform)]
        if inner is None or any(t is not None and not hasattr(t, "batch") for _, t in todo):
            return None
        fields = inner(indices)
        if fields is None:
            return None
        for i, t in todo:
            if t is not None and i < len(fields):
                fields[i] = t.batch(fields[i])
        return fields
