"""batch_norm and layer_norm: one fused ArrayFunction each, with the closed-form backward.

Both normalise ``x`` over some axes and then scale and shift it:

    xhat = (x - mean) / sqrt(var + eps)      (var: the biased variance, as torch)
    y    = weight * xhat + bias

batch_norm takes the statistics over every dim except the channel dim 1 (so one mean per
channel); layer_norm over the trailing ``normalized_shape`` dims (one mean per sample).

Backward. With M values per statistic, ``gxhat = grad * weight`` and means over the same axes,

    dx      = (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)) / sqrt(var + eps)
    dweight = sum(grad * xhat)       over the axes the weight is broadcast along
    dbias   = sum(grad)              likewise

The two subtracted terms are the gradient flowing through the mean and the variance: drop
them and you get the (wrong) gradient of a normalisation whose statistics are constants,
which is exactly the eval-mode batch_norm gradient, where the running statistics *are*
constants.
"""
from __future__ import annotations

import math
from numbers import Number

from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["batch_norm", "layer_norm"]


def _normalize_backward(xp, gxhat, xhat, invstd, axes):
    """dx of xhat = (x - mean(x)) * invstd, given gxhat = d loss / d xhat (see module doc)."""
    mean_g = xp.mean(gxhat, axis=axes, keepdims=True)
    mean_gx = xp.mean(xp.multiply(gxhat, xhat), axis=axes, keepdims=True)
    centred = xp.subtract(xp.subtract(gxhat, mean_g), xp.multiply(xhat, mean_gx))
    return xp.multiply(centred, invstd)


def _affine_grads(ctx, grad, xhat, axes, shape):
    """(dweight, dbias): grad * xhat and grad summed over ``axes``, shaped like the params."""
    xp = ctx.xp
    need_w, need_b = ctx.needs_input_grad[1:3]
    gw = gb = None
    if need_w:
        gw = xp.multiply(grad, xhat)
        gw = xp.reshape(xp.sum(gw, axis=axes) if axes else gw, shape)
    if need_b:
        gb = xp.reshape(xp.sum(grad, axis=axes) if axes else grad, shape)
    return gw, gb


# ------------------------------------------------------------------ batch norm
class BatchNorm(ArrayFunction):
    """x: (N, C, *); weight, bias: (C,) or None; running_mean, running_var: (C,) arrays.

    training=True normalises with the batch statistics over axes (0, 2, 3, ...) and writes
    the batch mean and biased variance, shaped (C,), into the ``stats`` dict (so the caller
    can update running averages without computing them twice). training=False uses the
    running statistics, which are constants for the gradient.
    """

    same_dtype = True

    @staticmethod
    def forward(ctx, x, weight, bias, *, training, running_mean, running_var, eps, stats):
        xp = ctx.xp
        c = x.shape[1]
        axes = (0,) + tuple(range(2, len(x.shape)))
        bshape = (1, c) + (1,) * (len(x.shape) - 2)  # a (C,) vector broadcast along dim 1
        if training:
            mean = xp.mean(x, axis=axes, keepdims=True)
            centred = xp.subtract(x, mean)
            var = xp.mean(xp.multiply(centred, centred), axis=axes, keepdims=True)
            stats["mean"], stats["var"] = xp.reshape(mean, (c,)), xp.reshape(var, (c,))
        else:
            centred = xp.subtract(x, xp.reshape(running_mean, bshape))
            var = xp.reshape(running_var, bshape)
        invstd = xp.divide(1.0, xp.sqrt(xp.add(var, eps)))
        xhat = xp.multiply(centred, invstd)
        w = None if weight is None else xp.reshape(weight, bshape)
        ctx.save_for_backward(xhat, invstd, w)
        ctx.training, ctx.axes, ctx.c = training, axes, c
        out = xhat if w is None else xp.multiply(xhat, w)
        return out if bias is None else xp.add(out, xp.reshape(bias, bshape))

    @staticmethod
    def backward(ctx, grad):
        xhat, invstd, w = ctx.saved_tensors
        xp = ctx.xp
        gx = None
        if ctx.needs_input_grad[0]:
            gxhat = grad if w is None else xp.multiply(grad, w)
            gx = (_normalize_backward(xp, gxhat, xhat, invstd, ctx.axes) if ctx.training
                  else xp.multiply(gxhat, invstd))
        gw, gb = _affine_grads(ctx, grad, xhat, ctx.axes, (ctx.c,))
        return gx, gw, gb


def _check_channel_vector(t, name: str, input: Tensor, c: int, op: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be an edu_nn Tensor of shape ({c},) or None, got "
                        f"{type(t).__name__}")
    if t.shape != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},): one value per channel of the "
                         f"input {input.shape} (dim 1 has {c} channels), got {t.shape}")


def _check_buffer(t, name: str, input: Tensor, c: int) -> None:
    """Running statistics bypass ArrayFunction.apply's checks (they are not graph inputs)."""
    _check_channel_vector(t, name, input, c, "batch_norm")
    if t.backend is not input.backend or t.device != input.device:
        raise RuntimeError(f"batch_norm: {name} is on backend {t.backend.name!r} "
                           f"({t.device}) but the input is on {input.backend.name!r} "
                           f"({input.device}); move the module or the input with .to()")
    if t.dtype != input.dtype:
        raise TypeError(f"batch_norm: {name} is {t.dtype} but the input is {input.dtype}; "
                        f"convert one first (e.g. model.double() or x.float())")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation (torch.nn.functional.batch_norm).

    input: (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)); statistics are taken per
    channel over every other dim. running_mean, running_var: (C,) Tensors or None.
    weight, bias: (C,) or None. Returns a tensor shaped like input.

    training=True: normalise with the batch mean and biased variance; when running stats
    are given, update them like torch does in place (here by rebinding ``.array``; the
    Tensor objects keep their identity):
        running_mean <- (1 - momentum) * running_mean + momentum * batch_mean
        running_var  <- (1 - momentum) * running_var  + momentum * unbiased batch_var
    training=False: normalise with the running statistics (which are then required).
    """
    op = "batch_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an edu_nn Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C), (N, C, L) or (N, C, H, W) with the "
                         f"channels in dim 1, got shape {input.shape}")
    if momentum is None or not isinstance(momentum, Number):
        raise TypeError(f"{op}: momentum must be a float, got {momentum!r} (momentum=None, "
                        f"the cumulative average, is handled by the BatchNorm module, which "
                        f"passes the factor 1 / num_batches_tracked)")
    c = input.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must both be given or both be "
                         f"None")
    has_running = running_mean is not None
    if has_running:
        _check_buffer(running_mean, "running_mean", input, c)
        _check_buffer(running_var, "running_var", input, c)
    elif not training:
        raise ValueError(f"{op}: training=False normalises with the running statistics, but "
                         f"running_mean and running_var are None; pass them, or use "
                         f"training=True to normalise with the batch statistics")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            _check_channel_vector(t, name, input, c, op)
    values_per_channel = math.prod(input.shape) // c if c else 0
    if training and values_per_channel <= 1:
        raise ValueError(
            f"{op}: BatchNorm needs more than one value per channel in training mode (it "
            f"divides by the batch's standard deviation), but input of shape {input.shape} "
            f"has {values_per_channel} per channel. Use a bigger batch, or call model.eval() "
            f"to normalise with the running statistics.")

    stats: dict = {}
    out = BatchNorm.apply(input, weight, bias, training=bool(training),
                          running_mean=running_mean.array if has_running else None,
                          running_var=running_var.array if has_running else None,
                          eps=float(eps), stats=stats)
    if training and has_running:  # outside the graph, like torch's in-place update
        xp = input.backend
        m = float(momentum)
        unbiased = xp.multiply(stats["var"], values_per_channel / (values_per_channel - 1))
        running_mean._set_array(xp.add(xp.multiply(running_mean.array, 1.0 - m),
                                       xp.multiply(stats["mean"], m)))
        running_var._set_array(xp.add(xp.multiply(running_var.array, 1.0 - m),
                                      xp.multiply(unbiased, m)))
    return out


# ------------------------------------------------------------------ layer norm
class LayerNorm(ArrayFunction):
    """x: (*, *normalized_shape); weight, bias: normalized_shape or None.

    Statistics over the last ``ndim`` axes (one mean and variance per leading index).
    """

    same_dtype = True

    @staticmethod
    def forward(ctx, x, weight, bias, *, ndim, eps):
        xp = ctx.xp
        lead = len(x.shape) - ndim
        axes = tuple(range(lead, len(x.shape)))
        mean = xp.mean(x, axis=axes, keepdims=True)
        centred = xp.subtract(x, mean)
        var = xp.mean(xp.multiply(centred, centred), axis=axes, keepdims=True)
        invstd = xp.divide(1.0, xp.sqrt(xp.add(var, eps)))
        xhat = xp.multiply(centred, invstd)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.axes, ctx.lead_axes, ctx.shape = axes, tuple(range(lead)), tuple(x.shape[lead:])
        out = xhat if weight is None else xp.multiply(xhat, weight)
        return out if bias is None else xp.add(out, bias)

    @staticmethod
    def backward(ctx, grad):
        xhat, invstd, weight = ctx.saved_tensors
        xp = ctx.xp
        gx = None
        if ctx.needs_input_grad[0]:
            gxhat = grad if weight is None else xp.multiply(grad, weight)
            gx = _normalize_backward(xp, gxhat, xhat, invstd, ctx.axes)
        gw, gb = _affine_grads(ctx, grad, xhat, ctx.lead_axes, ctx.shape)
        return gx, gw, gb


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation (torch.nn.functional.layer_norm).

    input: (*, *normalized_shape), e.g. (N, D) with normalized_shape=(D,), or (N, C, H, W)
    with normalized_shape=(C, H, W). Each sample is normalised over the trailing
    normalized_shape dims. weight, bias: shaped normalized_shape, or None.
    """
    op = "layer_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an edu_nn Tensor, got {type(input).__name__}")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: normalized_shape must be an int or a tuple of ints, got "
                        f"{normalized_shape!r}") from None
    if not shape:
        raise ValueError(f"{op}: normalized_shape must name at least one dim, got {shape}")
    if input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        star = ", ".join(["*"] + [str(s) for s in shape])
        raise ValueError(f"{op}: normalized_shape={shape} means the input must end in those "
                         f"dims, i.e. have shape ({star}), but got {input.shape}. Pass the "
                         f"trailing dims to normalise over (e.g. normalized_shape="
                         f"{input.shape[-1:] if input.ndim else ()} for the last dim)")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != shape):
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{op}: {name} must have shape normalized_shape={shape}, got {got}")
    return LayerNorm.apply(input, weight, bias, ndim=len(shape), eps=float(eps))
