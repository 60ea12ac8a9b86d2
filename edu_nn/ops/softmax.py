"""softmax and log_softmax along one dim, each with a hand-written backward.

Both subtract the max along ``dim`` before exponentiating: softmax(x) = softmax(x - c) for
any constant c, and with c = max(x) every exponent is <= 0, so exp never overflows
(exp(1000) is inf in float64; exp(1000 - 1000) is 1).
"""
from __future__ import annotations

from ..autograd.function import ArrayFunction
from .elementwise import cast
from .reduction import normalize_dim

__all__ = ["softmax", "log_softmax"]


def _shifted(xp, x, axis):
    """x - max(x) along axis: every entry <= 0, the largest exactly 0."""
    return xp.subtract(x, xp.max(x, axis=axis, keepdims=True))


class Softmax(ArrayFunction):
    """s = exp(x) / sum(exp(x)) along ``axis``.

    Backward: ds_i/dx_j = s_i (delta_ij - s_j), so dx = s * (g - sum(g * s)).
    """

    @staticmethod
    def forward(ctx, x, axis):
        xp = ctx.xp
        e = xp.exp(_shifted(xp, x, axis))
        s = xp.divide(e, xp.sum(e, axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        xp = ctx.xp
        dot = xp.sum(xp.multiply(grad, s), axis=ctx.axis, keepdims=True)
        return xp.multiply(s, xp.subtract(grad, dot)), None


class LogSoftmax(ArrayFunction):
    """log s = x - log(sum(exp(x))) along ``axis``.

    Backward: d(log s_i)/dx_j = delta_ij - s_j, so dx = g - s * sum(g), with s = exp(out).
    """

    @staticmethod
    def forward(ctx, x, axis):
        xp = ctx.xp
        z = _shifted(xp, x, axis)
        out = xp.subtract(z, xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True)))
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        total = xp.sum(grad, axis=ctx.axis, keepdims=True)
        return xp.subtract(grad, xp.multiply(xp.exp(out), total)), None


def softmax(input, dim=None, dtype=None):
    """Softmax along ``dim``: non-negative entries that sum to 1 along ``dim``.

    input: any shape, e.g. logits (N, C) with dim=1. dtype: cast the input first (torch).
    Returns a tensor of input's shape.
    """
    return _apply(Softmax, input, dim, dtype, "softmax")


def log_softmax(input, dim=None, dtype=None):
    """log(softmax(input, dim)), computed directly (stable where softmax underflows to 0)."""
    return _apply(LogSoftmax, input, dim, dtype, "log_softmax")


def _apply(fn, input, dim, dtype, op):
    if dim is None:
        raise TypeError(f"{op}: dim is required: the dim along which the result is "
                        f"normalized, e.g. {op}(logits, dim=1) for logits of shape (N, C), "
                        f"or dim=-1 for the last dim")
    if not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be a single int, got {dim!r}")
    if dtype is not None:
        input = cast(input, dtype)
    if not input.is_floating_point():
        raise TypeError(f"{op}: input dtype should be floating point, got {input.dtype}; "
                        f"convert with .float() first (or pass dtype='float32')")
    axis = normalize_dim(dim, input.ndim, op)
    # A 0-d tensor has no axis to name; torch accepts dim 0 or -1 for it (the result is 1).
    return fn.apply(input, axis if input.ndim else None)
