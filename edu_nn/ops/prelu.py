"""prelu: leaky ReLU whose negative slope is learned, one slope per channel or one shared.

    y = x            where x > 0
    y = weight * x   elsewhere (weight broadcast along dim 1, the channel dim)

Backward: dx = grad where x > 0, else weight * grad; dweight = sum of grad * x over the
positions where x <= 0 (per channel). At x = 0 exactly the slope branch is used (dx = weight
* grad, dweight gets 0 * grad = 0), the same convention as leaky_relu and as torch.
"""
from __future__ import annotations

from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["prelu"]


class PReLU(ArrayFunction):
    """x: (N, C, *) or any shape for a single slope; weight: (C,), (1,) or ()."""

    same_dtype = True

    @staticmethod
    def forward(ctx, x, weight):
        xp = ctx.xp
        ndim = len(x.shape)
        c = 1
        for s in weight.shape:
            c *= s
        # (1, C, 1, ...) for per-channel slopes; all ones (a 0-d scalar for 0-d x) for one.
        bshape = (1, c) + (1,) * (ndim - 2) if c > 1 else (1,) * ndim
        w = xp.reshape(weight, bshape)
        positive = xp.greater(x, 0)
        ctx.save_for_backward(x, w, positive)
        ctx.weight_shape = tuple(weight.shape)
        return xp.where(positive, x, xp.multiply(x, w))

    @staticmethod
    def backward(ctx, grad):
        x, w, positive = ctx.saved_tensors
        xp = ctx.xp
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = xp.where(positive, grad, xp.multiply(grad, w))
        if ctx.needs_input_grad[1]:
            per_element = xp.where(positive, 0.0, xp.multiply(grad, x))
            # sum over every axis the slope is broadcast along (all but dim 1 per channel)
            axes = tuple(i for i, s in enumerate(w.shape) if s == 1)
            summed = xp.sum(per_element, axis=axes, keepdims=True) if axes else per_element
            gw = xp.reshape(summed, ctx.weight_shape)
        return gx, gw


def prelu(input, weight):
    """max(0, x) + weight * min(0, x) (torch.nn.functional.prelu).

    input: (N, C, *) ; weight: (C,) (one slope per channel of dim 1) or (1,) (one shared
    slope, any input shape). For 0-d and 1-d inputs there is no channel dim, so weight
    must have one element, as in torch.
    """
    op = "prelu"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be edu_nn Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if weight.ndim > 1:
        raise ValueError(f"{op}: weight must be 1-d, (1,) or (num_channels,), got shape "
                         f"{weight.shape}")
    channels = input.shape[1] if input.ndim > 1 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        where = (f"dim 1 of the input {input.shape} has {channels} channels" if input.ndim > 1
                 else f"a {input.ndim}-d input has no channel dim (dim 1)")
        raise ValueError(f"{op}: weight has {weight.numel()} slopes but {where}; pass one "
                         f"slope per channel, or a single shared slope of shape (1,)")
    return PReLU.apply(input, weight)
