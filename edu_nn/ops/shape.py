"""Shape ops: reshape/view, transpose, permute, expand, squeeze, unsqueeze, flatten, cat,
stack, narrow, split, chunk, flip and pad, with torch's names and semantics.

None of these ops computes a new value; each only moves values around. So each backward
moves the gradient back the way it came: a reshape is undone by reshaping to the input's
shape, a permutation by the inverse permutation, a concatenation by slicing, a slice by
padding with zeros (the elements it dropped had no effect on the output), padding by
cropping, and ``expand``'s copies by summing the gradients of the copies.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..autograd.engine import sum_to_shape
from ..autograd.function import ArrayFunction
from ..backends.base import normalize_axis
from ..tensor import Tensor
from .indexing import index_select

__all__ = ["reshape", "transpose", "permute", "expand", "squeeze", "unsqueeze",
           "flatten", "cat", "concat", "stack", "narrow", "split", "chunk", "flip", "pad"]


def _dim(dim: int, ndim: int, op: str) -> int:
    """A non-negative dim; a 0-d tensor accepts 0 and -1, as in torch."""
    if ndim == 0 and dim in (0, -1):
        return 0
    return normalize_axis(int(dim), ndim, op)


def _sizes(sizes, op: str) -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple of ints."""
    if isinstance(sizes, int):
        return (sizes,)
    try:
        return tuple(int(s) for s in sizes)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: expected a sequence of ints, got {sizes!r}") from None


# ------------------------------------------------------------------ reshape
class Reshape(ArrayFunction):
    """x: array of shape S -> the same values in row-major order, shape ``shape``."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        return ctx.xp.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.reshape(grad, ctx.in_shape), None


def _resolve_shape(in_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with its one ``-1`` filled in, checked against the number of elements."""
    numel = math.prod(in_shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    bad = [s for s in shape if s < -1]
    if bad:
        raise ValueError(f"reshape: invalid size {bad[0]} in shape {shape}: sizes must be >= 0, "
                         f"or -1 for the one size to infer")
    if len(unknown) > 1:
        raise ValueError(f"reshape: only one dimension can be inferred (-1), but shape {shape} "
                         f"has {len(unknown)}")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            why = ("the -1 could be any size, because another size is 0" if known == 0 else
                   f"{numel} is not a multiple of {known}, the product of the other sizes")
            raise ValueError(f"reshape: cannot reshape a tensor of shape {in_shape} ({numel} "
                             f"elements) into shape {shape}: {why}")
        i = unknown[0]
        return shape[:i] + (numel // known,) + shape[i + 1:]
    if known != numel:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {in_shape} ({numel} "
                         f"elements) into shape {shape} ({known} elements); the number of "
                         f"elements must stay the same (use -1 for one size to have it inferred)")
    return shape


def reshape(input, shape):
    """The same values in row-major (C) order with a new shape; one size may be -1.

    input: tensor of shape S; shape: a tuple with prod(shape) == prod(S). ``view`` is the
    same op: edu_nn tensors are immutable, so torch's distinction (view shares storage)
    makes no difference, and ``Tensor.view`` calls this function.
    """
    shape = _resolve_shape(input.shape, _sizes(shape, "reshape"))
    return Reshape.apply(input, shape)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim..end_dim`` (inclusive) into one. A 0-d tensor becomes shape (1,)."""
    shape = input.shape
    if not shape:
        return reshape(input, (1,))
    start = _dim(start_dim, len(shape), "flatten")
    end = _dim(end_dim, len(shape), "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {shape}")
    return reshape(input, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


# -------------------------------------------------------- reordering axes
class Permute(ArrayFunction):
    """x: array with ndim axes -> output axis i is input axis ``dims[i]``."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.permute_dims(x, dims)

    @staticmethod
    def backward(ctx, grad):
        # Input axis dims[i] became output axis i, so output axis i goes back to dims[i].
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return ctx.xp.permute_dims(grad, tuple(inverse)), None


class Transpose(ArrayFunction):
    """Swap two axes; swapping them again is the backward."""

    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.axes = _swapped(len(x.shape), dim0, dim1)
        return ctx.xp.permute_dims(x, ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.permute_dims(grad, ctx.axes), None, None


def _swapped(ndim: int, dim0: int, dim1: int) -> tuple[int, ...]:
    axes = list(range(ndim))
    if ndim:
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return tuple(axes)


def transpose(input, dim0: int, dim1: int):
    """Swap dims ``dim0`` and ``dim1``. x: (..., a, ..., b, ...) -> (..., b, ..., a, ...)."""
    return Transpose.apply(input, _dim(dim0, input.ndim, "transpose"),
                           _dim(dim1, input.ndim, "transpose"))


def permute(input, dims):
    """Reorder dims: output dim i is input dim ``dims[i]``. x.permute(2, 0, 1): (H, W, C) ->
    (C, H, W)."""
    dims = _sizes(dims, "permute")
    if len(dims) != input.ndim:
        raise ValueError(f"permute: dims {dims} name {len(dims)} dims, but the tensor of shape "
                         f"{input.shape} has {input.ndim}; give each dim exactly once")
    normalized = tuple(_dim(d, input.ndim, "permute") for d in dims)
    if sorted(normalized) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {dims} is not a permutation of the tensor's dims "
                         f"0..{input.ndim - 1} (shape {input.shape}): each dim must appear "
                         f"exactly once")
    return Permute.apply(input, normalized)


# ------------------------------------------------------------- broadcasting
class Expand(ArrayFunction):
    """x: array of shape S -> a broadcast copy of shape ``shape`` (new leading axes, size-1
    axes repeated). Each input element was copied to several outputs, so its gradient is the
    sum of theirs."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return sum_to_shape(ctx.xp, grad, ctx.in_shape), None


def _expanded_shape(in_shape: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    if len(sizes) < len(in_shape):
        raise ValueError(f"expand: got {len(sizes)} sizes {sizes} for a tensor of shape "
                         f"{in_shape}; give at least one size per dim ({len(in_shape)}); "
                         f"new dims can only be added in front")
    lead = len(sizes) - len(in_shape)
    out = []
    for i, size in enumerate(sizes):
        if i < lead:
            if size < 0:
                raise ValueError(f"expand: size {size} is not allowed for the new leading "
                                 f"dim {i} (sizes {sizes}, tensor shape {in_shape}): a new "
                                 f"dim needs an explicit size")
            out.append(size)
            continue
        have = in_shape[i - lead]
        if size == -1 or size == have:
            out.append(have)
        elif have == 1 and size >= 0:
            out.append(size)
        else:
            raise ValueError(f"expand: the expanded size {size} must match the existing size "
                             f"{have} at non-singleton dim {i}: only size-1 dims can be "
                             f"expanded (sizes {sizes}, tensor shape {in_shape})")
    return tuple(out)


def expand(input, sizes):
    """Broadcast to ``sizes`` without copying values: -1 keeps a dim's size, size-1 dims may
    grow, and new dims may be added in front. x: (3, 1) -> x.expand(2, 3, 4): (2, 3, 4)."""
    return Expand.apply(input, _expanded_shape(input.shape, _sizes(sizes, "expand")))


# ----------------------------------------------------------- size-1 dims
class Squeeze(ArrayFunction):
    """Drop size-1 axes ``axes``; putting them back (a reshape) is the backward."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.in_shape = tuple(x.shape)
        return ctx.xp.squeeze(x, axes) if axes else x

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.reshape(grad, ctx.in_shape), None


class Unsqueeze(ArrayFunction):
    """Insert a size-1 axis at ``dim``; the backward removes it again."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return ctx.xp.expand_dims(x, dim)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.squeeze(grad, ctx.dim), None


def squeeze(input, dim=None):
    """Remove size-1 dims: all of them (``dim=None``), or those among ``dim`` (an int or a
    tuple). As in torch, a named dim whose size is not 1 is left alone without an error."""
    shape = input.shape
    if dim is None:
        candidates = range(len(shape))
    else:
        candidates = {_dim(d, len(shape), "squeeze") for d in _sizes(dim, "squeeze")}
    axes = tuple(sorted(d for d in candidates if shape and shape[d] == 1))
    return Squeeze.apply(input, axes)


def unsqueeze(input, dim: int):
    """Insert a size-1 dim at ``dim`` (-ndim-1 <= dim <= ndim). x: (3, 4) -> dim=1: (3, 1, 4)."""
    return Unsqueeze.apply(input, normalize_axis(int(dim), input.ndim + 1, "unsqueeze"))


# --------------------------------------------------------- joining tensors
class Cat(ArrayFunction):
    """Concatenate arrays along ``dim``. Each input's gradient is its slice of the output's."""
    same_dtype = True

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.xp.concat(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.dim
        grads, start = [], 0
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad):
            piece = before + (slice(start, start + size),)
            grads.append(ctx.xp.getitem(grad, piece) if needed else None)
            start += size
        return tuple(grads)


class Stack(ArrayFunction):
    """Stack equal-shaped arrays along a new axis ``dim``; input i's gradient is the output
    gradient at index i of that axis."""
    same_dtype = True

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        return ctx.xp.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.dim
        return tuple(ctx.xp.getitem(grad, before + (i,)) if needed else None
                     for i, needed in enumerate(ctx.needs_input_grad))


def _joinable(tensors, op: str) -> list[Tensor]:
    """Check a sequence of tensors for cat/stack: non-empty, Tensors, one backend, device
    and dtype (edu_nn does not promote silently)."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expected a list or tuple of Tensors, got a single Tensor; "
                        f"wrap them in a list: edu_nn.{op}([a, b], dim=...)")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: element {i} is a {type(t).__name__}, not an edu_nn Tensor; "
                            f"convert it with edu_nn.tensor(...) first")
    first = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t.backend is not first.backend:
            raise RuntimeError(f"{op}: tensor 0 is on the {first.backend.name!r} backend but "
                               f"tensor {i} is on {t.backend.name!r}; move it with "
                               f".to(backend={first.backend.name!r}) first")
        if t.device != first.device:
            raise RuntimeError(f"{op}: tensor 0 is on device {first.device!r} but tensor {i} "
                               f"is on {t.device!r}; move it with .to({first.device!r}) first")
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: tensor 0 is {first.dtype} but tensor {i} is {t.dtype}; "
                            f"edu_nn does not promote silently: convert it first, e.g. "
                            f"tensors[{i}].to({first.dtype!r})")
    return tensors


def cat(tensors, dim: int = 0):
    """Concatenate tensors along an existing dim. Shapes must match except along ``dim``.

    tensors: a list of k tensors of shapes (..., n_i, ...) -> (..., n_1 + ... + n_k, ...).
    """
    tensors = _joinable(tensors, "cat")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ValueError(f"cat: tensor {i} is 0-d and cannot be concatenated; use "
                             f"edu_nn.stack, or unsqueeze it to shape (1,) first")
    first = tensors[0]
    d = _dim(dim, first.ndim, "cat")
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(first.shape, t.shape))
                                       if k != d):
            raise ValueError(f"cat: sizes of tensors must match except in dim {dim}, but "
                             f"tensor 0 has shape {first.shape} and tensor {i} has shape "
                             f"{t.shape}")
    return Cat.apply(*tensors, dim=d)


concat = cat


def stack(tensors, dim: int = 0):
    """Stack equal-shaped tensors along a new dim. k tensors of shape S -> shape with k
    inserted at ``dim`` (-len(S)-1 <= dim <= len(S))."""
    tensors = _joinable(tensors, "stack")
    first = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != first.shape:
            raise ValueError(f"stack: every tensor must have the same shape, but tensor 0 has "
                             f"shape {first.shape} and tensor {i} has shape {t.shape}")
    return Stack.apply(*tensors, dim=normalize_axis(int(dim), first.ndim + 1, "stack"))


# ------------------------------------------------------------ taking apart
class Narrow(ArrayFunction):
    """x: array with n = x.shape[dim] -> elements ``start:start + length`` along ``dim``.
    The dropped elements did not reach the output, so their gradient is zero: the backward
    pads the output gradient with zeros back to the input's shape."""

    @staticmethod
    def forward(ctx, x, dim, start, length):
        ctx.dim, ctx.size = dim, x.shape[dim]
        ctx.start, ctx.length = start, length
        return ctx.xp.getitem(x, (slice(None),) * dim + (slice(start, start + length),))

    @staticmethod
    def backward(ctx, grad):
        widths = [(0, 0)] * len(grad.shape)
        widths[ctx.dim] = (ctx.start, ctx.size - ctx.start - ctx.length)
        return ctx.xp.pad(grad, widths, 0.0), None, None, None


def narrow(input, dim: int, start: int, length: int):
    """Elements ``start`` to ``start + length`` (exclusive) along ``dim``; ``start`` may be
    negative (counted from the end)."""
    if input.ndim == 0:
        raise ValueError("narrow: cannot narrow a 0-d tensor")
    d = _dim(dim, input.ndim, "narrow")
    size = input.shape[d]
    start = int(start)
    if not -size <= start <= size:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {size} "
                         f"(tensor shape {input.shape})")
    if start < 0:
        start += size
    if length < 0 or start + length > size:
        raise ValueError(f"narrow: start ({start}) + length ({length}) must lie within dim "
                         f"{dim} of size {size} (tensor shape {input.shape}), with length >= 0")
    return Narrow.apply(input, d, start, int(length))


def split(tensor, split_size_or_sections, dim: int = 0):
    """Split into pieces along ``dim``; returns a tuple of tensors.

    An int ``split_size`` gives pieces of that size, the last one smaller if the size does
    not divide evenly (size 7, split_size 3 -> 3, 3, 1). A list gives the size of each piece
    and must sum to the size of ``dim``.
    """
    if tensor.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor; it has no dim to split along")
    d = _dim(dim, tensor.ndim, "split")
    size = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0 or (step == 0 and size > 0):
            raise ValueError(f"split: split_size must be a positive int (0 only when the dim "
                             f"has size 0), got {step} for dim {dim} of size {size}")
        count = max(-(-size // step), 1) if step else 1
        sizes = [step] * (count - 1) + [size - step * (count - 1)]
    else:
        sizes = list(_sizes(split_size_or_sections, "split"))
        if any(s < 0 for s in sizes) or sum(sizes) != size:
            raise ValueError(f"split: split sizes {sizes} must be >= 0 and sum exactly to "
                             f"{size}, the size of dim {dim} of the tensor of shape "
                             f"{tensor.shape}, but they sum to {sum(sizes)}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(Narrow.apply(tensor, d, start, s))
        start += s
    return tuple(pieces)


def chunk(input, chunks: int, dim: int = 0):
    """Split into ``chunks`` pieces of size ceil(n / chunks) along ``dim`` (the last one may
    be smaller). As in torch this may give fewer pieces than asked: size 5 in 4 chunks gives
    sizes 2, 2, 1."""
    if not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if input.ndim == 0:
        raise ValueError("chunk: cannot chunk a 0-d tensor; it has no dim to split along")
    size = input.shape[_dim(dim, input.ndim, "chunk")]
    if size == 0:  # every piece is empty; torch still returns `chunks` of them
        return split(input, [0] * chunks, dim)
    return split(input, -(-size // chunks), dim)


class Flip(ArrayFunction):
    """Reverse the order of elements along ``dims``; flipping again is the backward."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        for d in dims:
            x = ctx.xp.flip(x, d)
        return x

    @staticmethod
    def backward(ctx, grad):
        for d in ctx.dims:
            grad = ctx.xp.flip(grad, d)
        return grad, None


def flip(input, dims):
    """Reverse the order of elements along each dim in ``dims`` (an int or a tuple)."""
    dims = tuple(sorted({_dim(d, input.ndim, "flip") for d in _sizes(dims, "flip")}))
    return Flip.apply(input, dims if input.ndim else ())


# ------------------------------------------------------------------- padding
class Pad(ArrayFunction):
    """Constant padding. ``widths`` holds one (before, after) pair per axis; a negative
    width crops instead. Backward: the padded positions are constants (zero gradient) and
    the cropped elements never reached the output (zero gradient), so the backward is the
    same op with every width negated and zeros as the padding value."""

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.widths = widths
        return _pad_or_crop(ctx.xp, x, widths, value)

    @staticmethod
    def backward(ctx, grad):
        undo = [(-before, -after) for before, after in ctx.widths]
        return _pad_or_crop(ctx.xp, grad, undo, 0.0), None, None


def _pad_or_crop(xp, x, widths, value):
    # Pad first, then crop: torch measures a negative width from the padded edge, so with
    # (1, -2) on a size-1 dim the crop also removes the element the padding added.
    grow = [(max(b, 0), max(a, 0)) for b, a in widths]
    if any(b or a for b, a in grow):
        x = xp.pad(x, grow, value)
    if any(b < 0 or a < 0 for b, a in widths):
        x = xp.getitem(x, tuple(slice(max(-b, 0), n - max(-a, 0))
                                for (b, a), n in zip(widths, x.shape)))
    return x


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad: Sequence[int], mode: str = "constant", value: float = 0.0):
    """Pad (or, with negative widths in ``"constant"`` mode, crop) the last dims.

    Follows ``torch.nn.functional.pad``: ``pad`` is a flat tuple starting from the LAST dim,
    ``(left, right)`` pads only the last dim, ``(left, right, top, bottom)`` the last two,
    and so on. x: (N, C, H, W), pad=(1, 1, 2, 2) -> (N, C, H + 4, W + 2).

    mode: ``"constant"`` (fill with ``value``, default 0), ``"reflect"`` (mirror without
    repeating the edge: 0 1 2 3 -> 2 1 0 1 2 3 2 1), ``"replicate"`` (repeat the edge) or
    ``"circular"`` (wrap around). Unlike torch, the non-constant modes work on any number of
    dims, not only the last 1-3 with a batch dim.
    """
    widths_flat = _sizes(pad, "pad")
    if len(widths_flat) % 2:
        raise ValueError(f"pad: the padding {widths_flat} must have an even length: a "
                         f"(before, after) pair per dim, last dim first")
    if len(widths_flat) // 2 > input.ndim:
        raise ValueError(f"pad: the padding {widths_flat} has {len(widths_flat) // 2} pairs "
                         f"but the tensor of shape {input.shape} has only {input.ndim} dims")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; choose one of {', '.join(_PAD_MODES)}")
    widths = [(0, 0)] * input.ndim
    for k in range(len(widths_flat) // 2):  # pair k pads dim -1 - k
        widths[input.ndim - 1 - k] = (widths_flat[2 * k], widths_flat[2 * k + 1])
    for d, ((before, after), size) in enumerate(zip(widths, input.shape)):
        if size + before + after < 0:
            raise ValueError(f"pad: padding ({before}, {after}) would give dim {d} of size "
                             f"{size} a negative size {size + before + after} (tensor shape "
                             f"{input.shape})")
    if mode == "constant":
        return Pad.apply(input, widths, value)
    if value != 0:
        raise ValueError(f"pad: mode {mode!r} does not take a value (got {value})")
    return _pad_by_gathering(input, widths, mode)


def _pad_by_gathering(input, widths, mode):
    """reflect/replicate/circular padding: each output position along a padded dim reads
    one input position, so the pad is a gather (index_select) per dim, and its backward
    adds every copy's gradient back into the element it was read from."""
    out = input
    for d, ((before, after), size) in enumerate(zip(widths, input.shape)):
        if not before and not after:
            continue
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative padding ({before}, {after}) at dim {d} is only "
                             f"supported in 'constant' mode")
        limit = {"reflect": size - 1, "circular": size}.get(mode)
        if size == 0 or limit is not None and max(before, after) > limit:
            rule = "less than" if mode == "reflect" else "at most"
            raise ValueError(f"pad: {mode} padding ({before}, {after}) at dim {d} must be "
                             f"{rule} the dim's size {size} (tensor shape {input.shape})")
        positions = range(-before, size + after)
        if mode == "replicate":
            index = [min(max(i, 0), size - 1) for i in positions]
        elif mode == "circular":
            index = [i % size for i in positions]
        else:  # reflect about the first and last element: -1 -> 1, size -> size - 2
            index = [-i if i < 0 else 2 * (size - 1) - i if i >= size else i for i in positions]
        out = index_select(out, d, index)
    return out
