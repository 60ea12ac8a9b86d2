"""Reductions: sum, mean, var, std, amax/amin, max/min (torch semantics), logsumexp, argmax.

``dim`` is None (all dims), an int, or a tuple of ints; ``keepdim`` keeps reduced dims as
size 1. Backward re-inserts the reduced dims (``expand_reduced``) and broadcasts.
Gradient convention: amax/amin (and max/min without dim) split the gradient evenly over
ties; max/min with ``dim`` send it to the one index they return.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..backends.base import normalize_axis

__all__ = ["sum", "mean"]


def normalize_dims(dim, ndim: int, op: str):
    """``dim`` as a sorted tuple of non-negative axes, or None for all of them."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    axes = tuple(sorted({normalize_axis(d, ndim, op) for d in dims}))
    if len(axes) != len(dims):
        raise ValueError(f"{op}: dim {dim} names the same dimension twice")
    return axes


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


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims=None, keepdim=False):
        ctx.in_shape, ctx.dims, ctx.keepdim = tuple(x.shape), dims, keepdim
        return ctx.xp.sum(x, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        g = expand_reduced(xp, grad, ctx.in_shape, ctx.dims, ctx.keepdim)
        return xp.broadcast_to(g, ctx.in_shape), None, None


class Mean(Function):
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


def sum(input, dim=None, keepdim: bool = False):  # noqa: A001 - torch's name
    """Sum over ``dim`` (None: all). x: (d0, ..., dn) -> reduced shape."""
    return Sum.apply(input, normalize_dims(dim, input.ndim, "sum"), keepdim)


def mean(input, dim=None, keepdim: bool = False):
    """Mean over ``dim`` (None: all); floating dtypes only."""
    if not input.is_floating_point():
        raise TypeError(f"mean: input dtype should be floating point, got {input.dtype}; "
                        f"convert with .float() first")
    return Mean.apply(input, normalize_dims(dim, input.ndim, "mean"), keepdim)
