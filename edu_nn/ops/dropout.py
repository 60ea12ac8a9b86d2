"""dropout and dropout2d: inverted dropout with a mask from the backend's stateless RNG.

In training, each unit (dropout) or each whole channel (dropout2d) is kept with probability
1 - p and zeroed otherwise, and the kept ones are scaled by 1 / (1 - p):

    y = x * mask / (1 - p)          mask ~ Bernoulli(1 - p)

so E[y] = x and at test time (training=False) dropout is simply the identity, with no
rescaling to remember. Backward multiplies by the same saved ``mask / (1 - p)``.

The mask is drawn from an explicit key,
``(generator or edu_nn.creation.default_generator).next_key()``, so ``edu_nn.manual_seed(s)``
(or a ``Generator(s)``) fixes every mask. ``generator=`` is an edu_nn extension; torch's
functions have none.
"""
from __future__ import annotations

from numbers import Number

from .. import creation as _creation
from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(ArrayFunction):
    """x: any shape. mask_shape: x's shape (dropout) or x's with the spatial dims set to 1
    (dropout2d: one draw per channel, broadcast over the feature map)."""

    @staticmethod
    def forward(ctx, x, *, p, key, mask_shape):
        xp = ctx.xp
        keep = xp.random_bernoulli(key, 1.0 - p, mask_shape, ctx.device)
        # p = 1 keeps nothing: scale 0 rather than 1/0 (0 * inf would be nan).
        scale = xp.multiply(xp.astype(keep, xp.dtype_of(x)), 1.0 / (1.0 - p) if p < 1 else 0.0)
        ctx.save_for_backward(scale)
        return xp.multiply(x, scale)

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, scale)


def _check(input, p, op: str) -> float:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an edu_nn Tensor, got {type(input).__name__}")
    if not isinstance(p, Number) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p is the probability of zeroing a unit, so it must be "
                         f"between 0 and 1, but got {p!r}")
    if not input.is_floating_point():
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")
    return float(p)


def _apply(input, p, mask_shape, generator):
    key = (generator or _creation.default_generator).next_key()
    return Dropout.apply(input, p=p, key=key, mask_shape=mask_shape)


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p)
    (torch.nn.functional.dropout). input: any shape; the output has its shape.

    training=False (or p=0) returns the input unchanged. ``inplace`` is accepted for torch
    compatibility; edu_nn tensors are immutable, so a new tensor is always returned.
    """
    p = _check(input, p, "dropout")
    if not training or p == 0.0:
        return input
    return _apply(input, p, input.shape, generator)


def dropout2d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero whole channels with probability p and scale the rest by 1/(1-p)
    (torch.nn.functional.dropout2d).

    input: (N, C, H, W), one draw per (sample, channel), or (C, H, W), one per channel.
    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularises a conv net; dropping whole maps does.

    Note: torch 2.x still treats a 3-d input as (N, C, L) (1-d channel dropout, with a
    deprecation warning saying it will become (C, H, W)); edu_nn already uses the
    (C, H, W) meaning. For (N, C, L) inputs use ``dropout2d(x.unsqueeze(-1), ...)``.

    A 2-d input (A, B) is deprecated in torch but still runs (pytorch/examples' mnist_rnn
    uses it): torch reads it as one sample of A channels, so whole rows are dropped. edu_nn
    does the same, with torch's warning.
    """
    p = _check(input, p, "dropout2d")
    if input.ndim not in (2, 3, 4):
        raise ValueError(f"dropout2d: input must be (N, C, H, W) or (C, H, W), got shape "
                         f"{input.shape}; for elementwise dropout use dropout")
    if input.ndim == 2:
        import warnings
        warnings.warn("dropout2d: Received a 2-D input to dropout2d, which is deprecated (as "
                      "in torch): whole rows are dropped. Use dropout for elementwise dropout.",
                      UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:-2] + (1, 1) if input.ndim > 2 else input.shape[:1] + (1,)
    return _apply(input, p, mask_shape, generator)
