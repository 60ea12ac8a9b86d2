"""Fused ops: several primitives in one ArrayFunction, for speed and numerical stability.

``linear`` could be composed from matmul and add, and the tests check that it equals that
composition. Fusing halves the number of graph nodes in a training step (dispatch cost
matters for small models). The fused losses (cross_entropy with its stable closed-form
backward softmax - onehot, and the others) live in ``losses.py``.
"""
from __future__ import annotations

from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["linear"]


class Linear(ArrayFunction):
    """y = x @ W.T + b with torch's layout.

    x: (*, in_features); W: (out_features, in_features); b: (out_features,) or None;
    y: (*, out_features). All of one dtype: mixing float32 and float64 is an error (torch's
    too), raised by apply before forward runs.
    """

    same_dtype = True

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        xp = ctx.xp
        ctx.save_for_backward(x, weight)
        # x @ weight.T + bias: one primitive, so torch runs it as one addmm
        return xp.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        xp = ctx.xp
        need = ctx.needs_input_grad  # (x, weight) or (x, weight, bias)
        # Flatten leading dims: (*, out) -> (M, out) and (*, in) -> (M, in).
        g2 = grad if len(grad.shape) == 2 else xp.reshape(grad, (-1, grad.shape[-1]))
        gx = xp.matmul(grad, weight) if need[0] else None
        gw = None
        if need[1]:
            x2 = x if len(x.shape) == 2 else xp.reshape(x, (-1, x.shape[-1]))
            gw = xp.matmul(xp.permute_dims(g2, (1, 0)), x2)
        if len(need) == 2:
            return gx, gw
        return gx, gw, (xp.sum(g2, axis=0) if need[2] else None)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (torch.nn.functional.linear).

    input: (*, in_features); weight: (out_features, in_features); bias: (out_features,).
    All three of one floating dtype.
    """
    # The checks of every training step, as a few compares; _linear_error says what is wrong.
    if (isinstance(input, Tensor) and isinstance(weight, Tensor)
            and len(ws := weight.array.shape) == 2 and (xs := input.array.shape)
            and xs[-1] == ws[1]):
        if bias is None:
            return Linear.apply(input, weight)
        if isinstance(bias, Tensor) and tuple(bias.array.shape) == (ws[0],):
            return Linear.apply(input, weight, bias)
    _linear_error(input, weight, bias)


def _linear_error(input, weight, bias):
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be an edu_nn Tensor, got {type(t).__name__}; "
                            f"wrap it with edu_nn.tensor(...)")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-d (out_features, in_features), got shape "
                         f"{weight.shape}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape "
                         f"{weight.shape}: the last dim of the input must be in_features = "
                         f"{weight.shape[1]}")
    raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
