"""torch functions that are compositions of existing ops (so their gradients come from the
hand-written backwards already there) or that have no gradient at all. From the census of
public course code (docs/torch_compat.md): repeat, repeat_interleave, meshgrid, diag, norm,
nonzero, unique.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .elementwise import abs as _abs, pow as _pow, sqrt as _sqrt
from .indexing import index_select
from .reduction import amax, sum as _sum
from .shape import _dim, expand, reshape, unsqueeze

__all__ = ["repeat", "repeat_interleave", "meshgrid", "diag", "norm", "nonzero", "unique",
           "histogram"]


def repeat(input: Tensor, *sizes) -> Tensor:
    """Tile ``input`` ``sizes[i]`` times along dim i (torch.Tensor.repeat; extra leading
    sizes add dims). x: (2, 3), repeat(2, 1, 2) -> (2, 2, 6). Built as unsqueeze-expand-
    reshape, so its gradient sums the copies."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: give at least one size per dim ({input.ndim}), got {sizes}")
    x = reshape(input, (1,) * (len(sizes) - input.ndim) + input.shape)
    grid = []
    for d, (n, s) in enumerate(zip(sizes, x.shape)):
        grid += [1, s]
    x = reshape(x, tuple(grid))
    x = expand(x, tuple(v for n, s in zip(sizes, x.shape[1::2]) for v in (n, s)))
    return reshape(x, tuple(n * s for n, s in zip(sizes, x.shape[1::2])))


def repeat_interleave(input: Tensor, repeats, dim: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``dim`` (None: flatten first). x = [1, 2], repeats=2 -> [1, 1, 2, 2]."""
    if dim is None:
        input, dim = reshape(input, (-1,)), 0
    d = _dim(dim, input.ndim, "repeat_interleave")
    counts = repeats.tolist() if isinstance(repeats, Tensor) else repeats
    index = np.repeat(np.arange(input.shape[d]), counts)
    return index_select(input, d, Tensor._make(
        input.backend.asarray(index, "int64", input.device), input.backend, input.device))


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-d tensors (torch.meshgrid; ``indexing="xy"`` swaps the first
    two dims, as NumPy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim != 1 for t in tensors):
        raise ValueError("meshgrid: expects 1-d tensors")
    ts = list(tensors)
    if indexing == "xy" and len(ts) >= 2:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    grids = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = t.shape[0]
        grids.append(expand(reshape(t, tuple(view)), shape))
    if indexing == "xy" and len(ts) >= 2:  # "ij" grids of (y, x, ...), handed back as (x, y, ...)
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-d (n,) -> the (n, n) matrix with it on the diagonal; 2-d -> its diagonal (1-d).
    Only the main diagonal (``diagonal=0``) is supported."""
    if diagonal != 0:
        raise NotImplementedError("diag: only diagonal=0 is supported in edu_nn")
    if input.ndim == 1:
        n = input.shape[0]
        eye = Tensor._make(input.backend.asarray(np.eye(n), input.dtype, input.device),
                           input.backend, input.device)
        return unsqueeze(input, 1) * eye
    if input.ndim == 2:
        k = min(input.shape)
        return input[range(k), range(k)]
    raise ValueError(f"diag: expects a 1-d or 2-d tensor, got shape {input.shape}")


def norm(input: Tensor, p=2, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over ``dim`` (all elements by default): (sum |x|^p)^(1/p); p="fro" is 2,
    p=inf the largest |x|. Its gradient at an all-zero input is NaN for p=2 (the gradient of
    sqrt at 0), where torch returns 0."""
    if p == "fro":
        p = 2
    if p == float("inf"):
        return amax(_abs(input), dim, keepdim)
    if p == 2:
        return _sqrt(_sum(input * input, dim, keepdim))
    if p == 1:
        return _sum(_abs(input), dim, keepdim)
    return _pow(_sum(_pow(_abs(input), p), dim, keepdim), 1.0 / p)


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the non-zero elements: int64 (count, ndim), or one 1-d tensor per dim
    with ``as_tuple=True``. Not differentiable (indices)."""
    where = np.nonzero(input.backend.to_numpy(input.array))
    make = lambda a: Tensor._make(input.backend.asarray(a.astype(np.int64), "int64",  # noqa: E731
                                                        input.device), input.backend, input.device)
    if as_tuple:
        return tuple(make(w) for w in where)
    return make(np.stack(where, axis=1) if where else np.zeros((0, 0)))


def unique(input: Tensor, sorted: bool = True, return_counts: bool = False):
    """The distinct values, sorted (flattened); with ``return_counts`` also how often each
    occurs. Not differentiable."""
    values, counts = np.unique(input.backend.to_numpy(input.array), return_counts=True)
    out = Tensor._make(input.backend.asarray(values, input.dtype, input.device), input.backend,
                       input.device)
    if return_counts:
        return out, Tensor._make(input.backend.asarray(counts.astype(np.int64), "int64",
                                                       input.device), input.backend, input.device)
    return out


class HistogramResult(tuple):
    """(hist, bin_edges), with torch.return_types' attribute names."""
    hist = property(lambda self: self[0])
    bin_edges = property(lambda self: self[1])


def histogram(input: Tensor, bins: int = 100, *, range=None, weight=None, density=False):
    """Counts of ``input``'s values in ``bins`` equal-width bins over ``range`` (default:
    min to max) -> (hist, bin_edges), both in input's float dtype. Not differentiable.
    (makemore's activation histograms.)"""
    if not input.is_floating_point():
        raise TypeError(f"histogram: expected a floating-point tensor, got {input.dtype}")
    w = None if weight is None else weight.backend.to_numpy(weight.array).ravel()
    hist, edges = np.histogram(input.backend.to_numpy(input.array).ravel(), bins=bins,
                               range=range, weights=w, density=density)
    make = lambda a: Tensor._make(input.backend.asarray(a, input.dtype, input.device),  # noqa: E731
                                  input.backend, input.device)
    return HistogramResult((make(hist), make(edges)))
