"""Reductions: sum, mean, var, std, amax/amin, max/min (torch semantics), logsumexp, argmax.

``dim`` is None (all dims), an int, or a tuple of ints; ``keepdim`` keeps reduced dims as
size 1. Backward re-inserts the reduced dims (``expand_reduced``) and broadcasts.
Gradient convention: amax/amin (and max/min without dim) split the gradient evenly over
ties; max/min with ``dim`` send it to the one index they return.
"""
from __future__ import annotations

import builtins
import warnings
from typing import NamedTuple

from ..autograd.function import ArrayFunction
from ..backends.base import normalize_axis
from ..tensor import Tensor
from .elementwise import maximum, minimum

__all__ = ["sum", "mean", "var", "std", "amax", "amin", "max", "min", "logsumexp",
           "argmax", "argmin"]


def normalize_dims(dim, ndim: int, op: str):
    """``dim`` as a sorted tuple of non-negative axes, or None for all of them."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    axes = tuple(sorted({normalize_dim(d, ndim, op) for d in dims}))
    if len(axes) != len(dims):
        raise ValueError(f"{op}: dim {dim} names the same dimension twice")
    # torch lets a 0-d tensor be reduced over dim 0 or -1; it has no axis to name, so
    # that is the same as reducing over everything.
    return axes if ndim else None


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """One axis made non-negative. A 0-d tensor accepts dim 0 and -1, as in torch."""
    if ndim == 0 and dim not in (0, -1):
        raise IndexError(f"{op}: dim {dim} is out of range for a 0-d tensor (valid: -1 or 0)")
    return normalize_axis(dim, builtins.max(ndim, 1), op)


def expand_reduced(xp, grad, in_shape, dims, keepdim):
    """Reshape the gradient of a reduction so it broadcasts against the input.

    grad: shape of the reduction's output; in_shape: the input's shape; dims: the reduced
    axes (None for all). Returns grad with size-1 axes where the input was reduced.
    """
    if keepdim or dims is None and not in_shape:
        return grad
    if dims is None:
        return xp.reshape(grad, (1,) * len(in_shape))
    shape = list(in_shape)
    for d in dims:
        shape[d] = 1
    return xp.reshape(grad, tuple(shape))


def drop_reduced(xp, out, in_shape, dims, keepdim):
    """The inverse of ``expand_reduced``: turn a result computed with ``keepdims=True`` into
    the output shape (reduced dims removed unless ``keepdim``). A reshape, never a copy."""
    if keepdim:
        return out
    if dims is None:
        return xp.reshape(out, ())
    return xp.reshape(out, tuple(s for i, s in enumerate(in_shape) if i not in dims))


class Sum(ArrayFunction):
    @staticmethod
    def forward(ctx, x, dims=None, keepdim=False):
        ctx.in_shape, ctx.dims, ctx.keepdim = tuple(x.shape), dims, keepdim
        return ctx.xp.sum(x, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        g = expand_reduced(xp, grad, ctx.in_shape, ctx.dims, ctx.keepdim)
        return xp.broadcast_to(g, ctx.in_shape), None, None


class Mean(ArrayFunction):
    @staticmethod
    def forward(ctx, x, dims=None, keepdim=False):
        ctx.in_shape, ctx.dims, ctx.keepdim = tuple(x.shape), dims, keepdim
        ctx.count = ctx.xp.size_along(x, dims)
        return ctx.xp.mean(x, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        g = expand_reduced(xp, xp.divide(grad, float(ctx.count)), ctx.in_shape, ctx.dims,
                           ctx.keepdim)
        return xp.broadcast_to(g, ctx.in_shape), None, None


class Var(ArrayFunction):
    """Variance over ``dims``: sum((x - mean)^2) / (n - correction).

    Backward: d var / d x_i = 2 (x_i - mean) / (n - correction). The mean depends on x_i
    too, but that term drops out because the deviations x - mean sum to zero.
    """

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        xp = ctx.xp
        ctx.in_shape, ctx.dims, ctx.keepdim = tuple(x.shape), dims, keepdim
        ctx.dof = degrees_of_freedom(xp.size_along(x, dims), correction, "var")
        dev = xp.subtract(x, xp.mean(x, axis=dims, keepdims=True))
        ctx.save_for_backward(dev)
        return xp.divide(xp.sum(xp.multiply(dev, dev), axis=dims, keepdims=keepdim), ctx.dof)

    @staticmethod
    def backward(ctx, grad):
        (dev,) = ctx.saved_tensors
        xp = ctx.xp
        g = expand_reduced(xp, grad, ctx.in_shape, ctx.dims, ctx.keepdim)
        return xp.divide(xp.multiply(g, dev), ctx.dof / 2), None, None, None


class Std(ArrayFunction):
    """Standard deviation over ``dims``: sqrt(var).

    Backward: d std / d x_i = (x_i - mean) / ((n - correction) std). Where std is 0 (all
    values equal) that is 0/0; torch defines the gradient there as 0, and so do we.
    """

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        xp = ctx.xp
        ctx.in_shape, ctx.dims = tuple(x.shape), dims
        dof = degrees_of_freedom(xp.size_along(x, dims), correction, "std")
        dev = xp.subtract(x, xp.mean(x, axis=dims, keepdims=True))
        out = xp.sqrt(xp.divide(xp.sum(xp.multiply(dev, dev), axis=dims, keepdims=True), dof))
        ctx.dof = dof
        ctx.save_for_backward(dev, out)
        return drop_reduced(xp, out, ctx.in_shape, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        dev, out = ctx.saved_tensors
        xp = ctx.xp
        g = xp.reshape(grad, tuple(out.shape))
        zero = xp.equal(out, 0)
        denom = xp.where(zero, xp.ones_like(out), xp.multiply(out, float(ctx.dof)))
        scale = xp.where(zero, xp.zeros_like(out), xp.divide(g, denom))
        return xp.multiply(dev, scale), None, None, None


def degrees_of_freedom(count: int, correction, op: str) -> float:
    """n - correction, floored at 0 as torch does. At 0 the result is nan (0/0) or inf,
    exactly as in torch, with torch's warning, so a student sees why."""
    dof = builtins.max(0, count - correction)
    if dof == 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0 (reducing {count} value(s) with "
                      f"correction={correction}), so the result is nan or inf. Reduce over "
                      f"more values, or use correction=0 for the population {op}.",
                      RuntimeWarning, stacklevel=5)
    return float(dof)


class Amax(ArrayFunction):
    """Largest value over ``dims``. Tied maxima share the gradient evenly: with k ties,
    each gets grad / k (torch's convention; any split summing to grad is a subgradient)."""
    pick = "max"

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        ctx.in_shape, ctx.dims = tuple(x.shape), dims
        out = getattr(xp, ctx.pick)(x, axis=dims, keepdims=True)
        ctx.save_for_backward(x, out)
        return drop_reduced(xp, out, ctx.in_shape, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        xp = ctx.xp
        g = xp.reshape(grad, tuple(out.shape))
        hit = xp.astype(xp.equal(x, out), xp.dtype_of(x))
        ties = xp.sum(hit, axis=ctx.dims, keepdims=True)
        return xp.multiply(hit, xp.divide(g, ties)), None, None


class Amin(Amax):
    """Smallest value over ``dims``; tied minima share the gradient evenly."""
    pick = "min"


class Max(ArrayFunction):
    """The values at ``indices`` (from argmax along ``dim``): ``max(input, dim).values``.

    Only the returned index of each slice gets the gradient (the first maximum, as torch),
    so this differs from amax where there are ties.
    x: (d0, ..., dn); indices: int64, the output's shape.
    """

    @staticmethod
    def forward(ctx, x, indices, dim, keepdim):
        xp = ctx.xp
        ctx.in_shape, ctx.dim, ctx.keepdim = tuple(x.shape), dim, keepdim
        if dim is None:  # a 0-d input: the value is its own max
            return x
        index = indices if keepdim else xp.expand_dims(indices, dim)
        ctx.save_for_backward(index)
        return drop_reduced(xp, xp.take_along_axis(x, index, axis=dim), ctx.in_shape,
                            (dim,), keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        if ctx.dim is None:
            return grad, None, None, None
        (index,) = ctx.saved_tensors
        n = ctx.in_shape[ctx.dim]
        # A one-hot mask of the chosen positions, by comparing each position along dim with
        # the chosen index: a broadcast compare instead of a scatter.
        along = [1] * len(ctx.in_shape)
        along[ctx.dim] = n
        positions = xp.reshape(xp.arange(n, device=ctx.device), tuple(along))
        chosen = xp.equal(positions, index)
        g = expand_reduced(xp, grad, ctx.in_shape, (ctx.dim,), ctx.keepdim)
        g = xp.broadcast_to(g, ctx.in_shape)
        return xp.where(chosen, g, xp.zeros_like(g)), None, None, None


class Min(Max):
    """The values at ``indices`` from argmin: ``min(input, dim).values``."""


class Logsumexp(ArrayFunction):
    """log(sum(exp(x))) over ``dims``, computed as m + log(sum(exp(x - m))) with m the max,
    so exp never overflows (exp(1000) is inf; exp(1000 - 1000) is 1).

    Backward: d lse / d x_i = exp(x_i) / sum(exp(x)) = exp(x_i - lse), the softmax.
    """

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        ctx.in_shape, ctx.dims = tuple(x.shape), dims
        m = xp.max(x, axis=dims, keepdims=True)
        # A slice of all -inf has max -inf, and -inf - -inf is nan: shift such slices by 0.
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        out = xp.add(xp.log(xp.sum(xp.exp(xp.subtract(x, m)), axis=dims, keepdims=True)), m)
        ctx.save_for_backward(x, out)
        return drop_reduced(xp, out, ctx.in_shape, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        xp = ctx.xp
        g = xp.reshape(grad, tuple(out.shape))
        return xp.multiply(g, xp.exp(xp.subtract(x, out))), None, None


class Argmax(ArrayFunction):
    """Index (int64) of the first maximum along ``dim``; None: of the flattened input."""
    differentiable = False
    pick = "argmax"

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        return getattr(ctx.xp, ctx.pick)(x, axis=dim, keepdims=keepdim)


class Argmin(Argmax):
    """Index (int64) of the first minimum along ``dim``; None: of the flattened input."""
    pick = "argmin"


class ValuesIndices(NamedTuple):
    """What ``max(input, dim)`` and ``min(input, dim)`` return (torch.return_types.max):
    ``values`` (differentiable) and ``indices`` (int64, not differentiable)."""
    values: Tensor
    indices: Tensor


# ------------------------------------------------------------- functions
def sum(input, dim=None, keepdim: bool = False):  # noqa: A001 - torch's name
    """Sum over ``dim`` (None: all). x: (d0, ..., dn) -> reduced shape."""
    return Sum.apply(input, normalize_dims(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim: bool = False):
    """Mean over ``dim`` (None: all); floating dtypes only."""
    _require_float(input, "mean")
    return Mean.apply(input, normalize_dims(dim, input.ndim, "mean"), keepdim)


def var(input, dim=None, *, correction=1, keepdim: bool = False):
    """Variance over ``dim`` (None: all): sum((x - mean)^2) / (n - correction).

    correction=1 (the default, as torch) is the unbiased sample variance; correction=0 the
    population variance. Where n - correction <= 0 the result is nan or inf, as in torch,
    with a warning. Floating dtypes only.
    """
    _require_float(input, "var")
    return Var.apply(input, normalize_dims(dim, input.ndim, "var"), correction, keepdim)


def std(input, dim=None, *, correction=1, keepdim: bool = False):
    """Standard deviation over ``dim``: sqrt(var(input, dim, correction=correction)).
    Its gradient where std is 0 (constant input) is taken as 0, as torch does."""
    _require_float(input, "std")
    return Std.apply(input, normalize_dims(dim, input.ndim, "std"), correction, keepdim)


def amax(input, dim=None, keepdim: bool = False):
    """Maximum over ``dim`` (None: all; an int or a tuple). Ties share the gradient evenly."""
    return Amax.apply(input, normalize_dims(dim, input.ndim, "amax"), keepdim)


def amin(input, dim=None, keepdim: bool = False):
    """Minimum over ``dim`` (None: all; an int or a tuple). Ties share the gradient evenly."""
    return Amin.apply(input, normalize_dims(dim, input.ndim, "amin"), keepdim)


def max(input, dim=None, keepdim: bool = False):  # noqa: A001 - torch's name
    """torch.max, in its three forms:

    * ``max(input)``: the largest element, a 0-d tensor; tied maxima share the gradient.
    * ``max(input, dim, keepdim=False)``: a named tuple ``(values, indices)`` over the int
      ``dim``; indices (int64) point at the first maximum, which alone gets the gradient.
    * ``max(input, other)`` with a Tensor ``other``: the elementwise ``maximum``.
    """
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return _extreme(input, dim, keepdim, "max", Amax, Argmax, Max)


def min(input, dim=None, keepdim: bool = False):  # noqa: A001 - torch's name
    """torch.min: ``min(input)``, ``min(input, dim, keepdim)`` -> (values, indices), or
    ``min(input, other)`` = ``minimum``. See :func:`max` for the gradient conventions."""
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return _extreme(input, dim, keepdim, "min", Amin, Argmin, Min)


def _extreme(input, dim, keepdim, op, whole, arg, pick):
    if dim is None:
        return whole.apply(input, None, keepdim)
    axis = _single_dim(dim, input.ndim, op)
    indices = arg.apply(input, axis, keepdim)
    return ValuesIndices(pick.apply(input, indices, axis, keepdim), indices)


def logsumexp(input, dim, keepdim: bool = False):
    """log(sum(exp(input))) over ``dim`` (an int or a tuple; None: all), computed stably.
    torch requires ``dim``; so do we, but None is accepted to mean every dim."""
    _require_float(input, "logsumexp")
    return Logsumexp.apply(input, normalize_dims(dim, input.ndim, "logsumexp"), keepdim)


def argmax(input, dim=None, keepdim: bool = False):
    """Index (int64) of the first maximum along the int ``dim``; None: index into the
    flattened input. Not differentiable."""
    return Argmax.apply(input, None if dim is None else _single_dim(dim, input.ndim, "argmax"),
                        keepdim)


def argmin(input, dim=None, keepdim: bool = False):
    """Index (int64) of the first minimum along ``dim``; None: into the flattened input."""
    return Argmin.apply(input, None if dim is None else _single_dim(dim, input.ndim, "argmin"),
                        keepdim)


def _single_dim(dim, ndim: int, op: str):
    """One non-negative axis (None for a 0-d input, which has none to name)."""
    if not isinstance(dim, int):
        several = isinstance(dim, (tuple, list))
        hint = ""
        if several and op in ("max", "min"):
            hint = f"; to reduce over several dims (without indices) use a{op}(input, dim={dim!r})"
        elif several:
            hint = "; it indexes one dim, so flatten the dims first, e.g. input.flatten(0, 1)"
        raise TypeError(f"{op}: dim must be a single int, got {dim!r}{hint}")
    axis = normalize_dim(dim, ndim, op)
    return axis if ndim else None


def _require_float(input, op: str) -> None:
    if not input.is_floating_point():
        raise TypeError(f"{op}: input dtype should be floating point, got {input.dtype}; "
                        f"convert with .float() first")
