"""Indexing and gathers: ``x[key]`` (basic and advanced), take_along_dim, gather, index_select.

Every op here is a gather: each output element is a copy of one input element. So every
backward is the matching scatter-add: start from zeros shaped like the input and add each
output element's gradient at the position it was read from. An input element read several
times (``x[[0, 0, 1]]``) receives the SUM of the gradients of its copies, which is why the
backward uses ``add_at``/``index_add`` (duplicates accumulate) and never plain assignment
(where the last write would win).

Keys are checked and converted here, before any array op runs, so that a bad index fails
with a message naming the index, the dim and its size, and so that every backend receives
the same clean key: Python ints, slices with positive steps, None, Ellipsis, and int64 or
bool arrays of its own type, with negative indices already wrapped.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np  # index bookkeeping on the host only; array math goes through ctx.xp

from ..autograd.function import ArrayFunction
from ..backends.base import normalize_axis
from ..tensor import Tensor

__all__ = ["getitem", "take_along_dim", "gather", "index_select"]


# ------------------------------------------------------------------ getitem
class GetItem(ArrayFunction):
    """x: array of shape S, key: a checked indexing key -> x[key]."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.in_shape, ctx.key = tuple(x.shape), key
        return ctx.xp.getitem(x, key)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        zeros = xp.zeros(ctx.in_shape, xp.dtype_of(grad), xp.device_of(grad))
        return xp.add_at(zeros, ctx.key, grad), None


def getitem(input, key):
    """``input[key]`` with torch/NumPy semantics; differentiable.

    key: an int, slice (step > 0), None, Ellipsis, an integer index array (a list, a NumPy
    int array or an int Tensor; duplicates allowed), a bool mask (bool Tensor or NumPy bool
    array covering one or more dims), or a tuple of these.
    """
    key = _checked_key(input, key)
    arrays = [p for p in key if input.backend.is_array(p)]
    if not arrays:  # basic indexing: torch gives a view, so in-place ops on it reach input
        out = GetItem.apply(input, key)
        out._view_of = (input, key)  # read by inplace.py (views in docs/torch_compat.md)
        return out
    if not any(isinstance(p, int) for p in key):
        return GetItem.apply(input, key)
    # NumPy counts an int as one more advanced index, so x[0, :, [0, 1]] puts the array's
    # dim first: (2, n1). torch applies the ints first, giving (n1, 2). Indexing in two
    # steps, ints then arrays, gives torch's order on every backend.
    ints_first, then_arrays = [], []
    for p in key:
        if isinstance(p, int):
            ints_first.append(p)
        elif input.backend.is_array(p):
            ints_first.extend([slice(None)] * _consumed_dims(input.backend, p))
            then_arrays.append(p)
        else:  # None, a slice, or Ellipsis: applied in the first step, kept whole after it
            ints_first.append(p)
            then_arrays.append(Ellipsis if p is Ellipsis else slice(None))
    return GetItem.apply(GetItem.apply(input, tuple(ints_first)), tuple(then_arrays))


def _consumed_dims(xp, array) -> int:
    """Dims of the input that an index array in a checked key consumes (a mask: its ndim)."""
    return len(array.shape) if xp.dtype_of(array) == "bool" else 1


_KEY_HELP = ("indices must be integers, slices, None, ..., or integer/bool tensors "
             "(torch and NumPy index with whole numbers)")


def _to_host(part, input, op: str):
    """A key part as an int, slice, None, Ellipsis, or a NumPy int64/bool array."""
    if part is None or part is Ellipsis:
        return part
    if isinstance(part, slice):
        return slice(*(_slice_bound(b, op) for b in (part.start, part.stop, part.step)))
    if isinstance(part, (bool, np.bool_)):
        return np.asarray(part, dtype=bool)  # a 0-d mask: adds a dim (True) or empties it
    if isinstance(part, Integral):
        return int(part)
    if isinstance(part, Tensor):
        if part.backend is not input.backend:
            raise RuntimeError(f"{op}: the index tensor is on the {part.backend.name!r} "
                               f"backend but the indexed tensor on {input.backend.name!r}; "
                               f"move it with .to(backend={input.backend.name!r})")
        arr = part.backend.to_numpy(part.array)
    elif isinstance(part, (list, range, np.ndarray)):  # x[range(n), y]: makemore, d2l
        arr = np.asarray(part)
        if isinstance(part, (list, range)) and arr.size == 0:
            arr = arr.astype(np.int64)  # NumPy reads [] as float64; an empty index is an int
    elif isinstance(part, float):
        raise TypeError(f"{op}: got the float index {part}; {_KEY_HELP}. Convert it with "
                        f"int(...)")
    else:
        raise TypeError(f"{op}: cannot index with a {type(part).__name__}; {_KEY_HELP}")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: got an index array of dtype {arr.dtype}; {_KEY_HELP}. "
                        f"Convert it with .long() (or .astype('int64'))")
    # torch treats a 0-d integer tensor as a plain int
    return int(arr) if arr.ndim == 0 else arr.astype(np.int64)


def _slice_bound(b, op: str):
    if b is None or isinstance(b, Integral):
        return b
    if isinstance(b, Tensor) and b.ndim == 0 and b.dtype.startswith(("int", "uint")):
        return int(b.item())
    raise TypeError(f"{op}: slice bounds must be integers or None, got {b!r}")


def _consumed(part) -> int:
    """How many dims of the input a key part indexes."""
    if part is None or part is Ellipsis:
        return 0
    if isinstance(part, np.ndarray) and part.dtype == bool:
        return part.ndim
    return 1


def _checked_key(input, key, op: str = "getitem") -> tuple:
    """Validate ``key`` against ``input``'s shape and convert it for ``input``'s backend."""
    parts = [_to_host(p, input, op) for p in (key if isinstance(key, tuple) else (key,))]
    shape, xp, device = input.shape, input.backend, input.device
    if sum(p is Ellipsis for p in parts) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis (...)")
    used = sum(_consumed(p) for p in parts)
    if used > len(shape):
        raise IndexError(f"{op}: too many indices for a tensor of shape {shape}: the key "
                         f"indexes {used} dims but the tensor has {len(shape)}")
    out, dim = [], 0
    for p in parts:
        if p is None:
            out.append(None)
        elif p is Ellipsis:
            # An ellipsis that stands for no dims changes nothing in torch, but NumPy would
            # count it as separating two index arrays (moving their dims to the front).
            if len(shape) > used:
                out.append(Ellipsis)
            dim += len(shape) - used
        elif isinstance(p, slice):
            if p.step is not None and p.step <= 0:
                raise ValueError(f"{op}: slice step must be positive, got {p.step} (as in "
                                 f"torch); to reverse a dim use edu_nn.flip(x, dims)")
            out.append(p)
            dim += 1
        elif isinstance(p, int):
            out.append(_wrap(p, dim, shape, op))
            dim += 1
        elif p.dtype == bool:
            if p.shape != shape[dim:dim + p.ndim]:
                raise IndexError(f"{op}: the bool mask of shape {p.shape} does not match the "
                                 f"indexed tensor's dims {dim}..{dim + p.ndim - 1} of shape "
                                 f"{shape[dim:dim + p.ndim]} (tensor shape {shape})")
            out.append(xp.asarray(p, "bool", device))
            dim += p.ndim
        else:
            out.append(xp.asarray(_wrap(p, dim, shape, op), "int64", device))
            dim += 1
    return tuple(out)


def _wrap(index, dim: int, shape, op: str, allow_negative: bool = True):
    """An int or int array of indices into ``shape[dim]``, negatives wrapped, range checked."""
    size = shape[dim]
    arr = np.asarray(index)
    low = -size if allow_negative else 0
    bad = (arr < low) | (arr >= size)
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else arr
        valid = f"{low} to {size - 1}" if size else "none: the dim is empty"
        raise IndexError(f"{op}: index {int(first)} is out of range for dim {dim} of size "
                         f"{size} (tensor shape {tuple(shape)}); valid indices: {valid}")
    wrapped = np.where(arr < 0, arr + size, arr)
    return int(wrapped) if isinstance(index, int) else wrapped.astype(np.int64)


# -------------------------------------------------------------- gathers
class Gather(GetItem):
    """Gather along ``dim`` with an index grid: the same forward and scatter-add backward
    as ``GetItem`` (the key holds ``arange`` grids for the other dims); its own class so that
    graphs print ``GatherBackward``."""


def _index_array(index, input, op: str) -> np.ndarray:
    """An index argument (int Tensor, NumPy int array or list) as a NumPy int64 array."""
    arr = _to_host(index, input, op)
    if isinstance(arr, int):
        arr = np.asarray(arr, dtype=np.int64)
    if not isinstance(arr, np.ndarray) or arr.dtype == bool:
        raise TypeError(f"{op}: index must be an integer tensor (int64), got "
                        f"{getattr(index, 'dtype', type(index).__name__)}")
    return arr


def _grid_key(xp, device, index, dim: int, sizes) -> tuple:
    """The advanced-indexing key that reads ``x[i_0, ..., index[...], ..., i_n]``: ``index``
    at ``dim`` and, for every other dim a, ``arange(sizes[a])`` shaped to broadcast along a."""
    ndim = len(sizes)
    key = []
    for a in range(ndim):
        if a == dim:
            key.append(xp.asarray(index, "int64", device))
        else:
            grid = [1] * ndim
            grid[a] = sizes[a]
            key.append(xp.reshape(xp.arange(sizes[a], device=device), tuple(grid)))
    return tuple(key)


def take_along_dim(input, indices, dim: int | None = None):
    """Pick ``input`` values at ``indices`` along ``dim`` (torch.take_along_dim).

    input: shape (..., n, ...); indices: int tensor with input's number of dims and any size
    k along ``dim`` (the other dims broadcast against input's) -> output: broadcast shape with
    k at ``dim``. With ``dim=None`` both are flattened first. Typical use: the values at the
    positions ``argmax``/``argsort`` returned, with keepdim=True.
    """
    index = _index_array(indices, input, "take_along_dim")
    if dim is None:
        from .shape import reshape
        return take_along_dim(reshape(input, (-1,)), index.reshape(-1), 0)
    if index.ndim != input.ndim:
        raise ValueError(f"take_along_dim: input and indices must have the same number of "
                         f"dims, got input shape {input.shape} and indices shape {index.shape}")
    d = normalize_axis(int(dim), input.ndim, "take_along_dim")
    for a, (n, k) in enumerate(zip(input.shape, index.shape)):
        if a != d and n != k and 1 not in (n, k):
            raise ValueError(f"take_along_dim: input shape {input.shape} and indices shape "
                             f"{index.shape} do not broadcast in dim {a} ({n} vs {k})")
    index = _wrap(index, d, input.shape, "take_along_dim")
    return Gather.apply(input, _grid_key(input.backend, input.device, index, d, input.shape))


def gather(input, dim: int, index):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for dim 0, and so on (torch.gather).

    input: shape (n_0, ..., n_d); index: int tensor with the same number of dims, sizes at
    most input's in the dims other than ``dim`` (no broadcasting, indices in 0..n_dim - 1)
    -> output: index's shape.
    """
    index = _index_array(index, input, "gather")
    d = normalize_axis(int(dim), max(input.ndim, 1), "gather")
    if index.ndim != input.ndim:
        raise ValueError(f"gather: index must have the same number of dims as input, got "
                         f"input shape {input.shape} and index shape {index.shape}")
    for a, (n, k) in enumerate(zip(input.shape, index.shape)):
        if a != d and k > n:
            raise ValueError(f"gather: index shape {index.shape} is larger than input shape "
                             f"{input.shape} in dim {a} ({k} > {n})")
    if input.ndim == 0:
        return GetItem.apply(input, ())
    index = _wrap(index, d, input.shape, "gather", allow_negative=False)
    return Gather.apply(input, _grid_key(input.backend, input.device, index, d, index.shape))


class IndexSelect(ArrayFunction):
    """x: (..., n, ...), index: (k,) int64 -> (..., k, ...): whole slices of x along ``dim``.
    Backward: ``index_add`` sums the gradient of every selected slice into its source."""

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.dim, ctx.index = tuple(x.shape), dim, index
        return ctx.xp.take(x, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        zeros = xp.zeros(ctx.in_shape, xp.dtype_of(grad), xp.device_of(grad))
        return xp.index_add(zeros, ctx.dim, ctx.index, grad), None, None


def index_select(input, dim: int, index):
    """The slices of ``input`` at positions ``index`` (1-d int, duplicates allowed, values
    0..n-1) along ``dim``. x: (N, D), index of length k, dim=0 -> (k, D)."""
    if input.ndim == 0:
        raise ValueError("index_select: cannot select from a 0-d tensor; it has no dim")
    index = _index_array(index, input, "index_select")
    if index.ndim > 1:
        raise ValueError(f"index_select: index must be 1-d (or 0-d), got shape {index.shape}")
    d = normalize_axis(int(dim), input.ndim, "index_select")
    index = _wrap(index.reshape(-1), d, input.shape, "index_select", allow_negative=False)
    return IndexSelect.apply(input, d, input.backend.asarray(index, "int64", input.device))
