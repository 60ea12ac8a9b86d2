"""More elementwise ops that tutorials use: sin cos square log2 log10 floor.

Each is a Function with its hand-written backward (shapes: output and gradient are shaped
like the input):

    sin'(x) = cos(x)      cos'(x) = -sin(x)      square'(x) = 2x
    log2'(x) = 1 / (x ln 2)      log10'(x) = 1 / (x ln 10)      floor'(x) = 0 (as in torch)
"""
from __future__ import annotations

import math

from ..autograd.function import ArrayFunction

__all__ = ["sin", "cos", "square", "log2", "log10", "floor"]


class Sin(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, ctx.xp.cos(x))


class Cos(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.negative(ctx.xp.multiply(grad, ctx.xp.sin(x)))


class Square(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.square(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, ctx.xp.multiply(x, 2.0))


class LogBase(ArrayFunction):
    """log_b(x) = ln(x) / ln(b); the base is a forward argument (not differentiable)."""

    @staticmethod
    def forward(ctx, x, base):
        ctx.save_for_backward(x)
        ctx.ln_base = math.log(base)
        return ctx.xp.divide(ctx.xp.log(x), ctx.ln_base)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.divide(grad, ctx.xp.multiply(x, ctx.ln_base)), None


class Floor(ArrayFunction):
    """Piecewise constant: torch gives it a zero gradient (not an error), and so do we."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.zeros_like(grad)


def _float_only(input, op: str) -> None:
    if not input.is_floating_point():
        raise TypeError(f"{op}: expected a floating-point tensor, got {input.dtype}; "
                        f"convert first, e.g. x.float()")


def sin(input):
    _float_only(input, "sin")
    return Sin.apply(input)


def cos(input):
    _float_only(input, "cos")
    return Cos.apply(input)


def square(input):
    return Square.apply(input)


def log2(input):
    _float_only(input, "log2")
    return LogBase.apply(input, 2.0)


def log10(input):
    _float_only(input, "log10")
    return LogBase.apply(input, 10.0)


def floor(input):
    return Floor.apply(input)
