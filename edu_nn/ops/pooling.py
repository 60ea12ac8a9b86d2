"""Pooling: max_pool1d/2d and avg_pool1d/2d, on the window gather of ``conv.py``.

Every channel of every image is pooled alone, so the input is seen as B = N*C one-channel
images of H x W (1-d: H = 1). With a kh x kw window and L = Ho * Wo output positions::

    cols = im2col(x)                 (B, kh*kw, L)   the padded input under every window
    max:  y = max over the window    (B, L);  backward: the gradient of each output goes to
          ONE input element, the window's FIRST maximum (argmax), scattered with index_add;
          overlapping windows that pick the same element add up.
    avg:  y = sum over the window / divisor;  backward: each output's gradient / divisor is
          spread over its whole window (col2im, the scatter-add transpose of im2col).

Padding is -inf for max pooling (never the maximum) and 0 for average pooling. With
``ceil_mode`` the last window may hang over the padded input; it is padded further on the
bottom/right, and torch's rule that every window starts inside the input or the left
padding keeps each window over at least one real element.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np  # index bookkeeping on the host only; array math goes through ctx.xp

from ..autograd.function import ArrayFunction
from .conv import (Windows, as_tuple, check_float_tensor, col2im, crop, gather_index, im2col,
                   on_backend, window_index)

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


# ------------------------------------------------------------------- max
def _first_max(xp, device, x, g: Windows):
    """(cols, sel): cols (B, kk, L) the windows, sel (B, L) the position of each window's
    first maximum in the flattened (kk*L) window index."""
    cols = im2col(xp, device, x, g, float("-inf"))
    first = xp.argmax(cols, axis=1)                            # (B, L), tap of the first max
    length = g.ho * g.wo
    positions = on_backend(xp, device, "int64", ("arange", length), lambda: np.arange(length))
    return cols, xp.add(xp.multiply(first, length), positions)  # tap * L + l


class MaxPool(ArrayFunction):
    """x: (N, C, H, W) or (C, H, W) (1-d: H = 1); g: a :class:`Windows` with one channel
    per image -> (N, C, Ho, Wo). The gradient goes to each window's first maximum."""

    @staticmethod
    def forward(ctx, x, g):
        xp, device = ctx.xp, ctx.device
        cols, sel = _first_max(xp, device, x, g)
        flat_index = gather_index(xp, device, g, flat=True)     # (kk*L,)
        plane = g.hp * g.wp
        rows = on_backend(xp, device, "int64", ("rows", g.n, plane),
                          lambda: np.arange(g.n).reshape(g.n, 1) * plane)
        # where each output was read from, in the flattened padded batch (B*hp*wp,)
        ctx.save_for_backward(xp.add(xp.take(flat_index, sel, axis=0), rows))
        ctx.geometry = g
        return xp.reshape(xp.max(cols, axis=1), g.out_shape)

    @staticmethod
    def backward(ctx, grad):
        (source,) = ctx.saved_tensors
        xp, g = ctx.xp, ctx.geometry
        padded = xp.index_add(xp.zeros((g.n * g.hp * g.wp,), xp.dtype_of(grad), ctx.device),
                              0, xp.reshape(source, (-1,)), xp.reshape(grad, (-1,)))
        return xp.reshape(crop(xp, padded, g), g.in_shape), None


class MaxPoolIndices(ArrayFunction):
    """The flat index (into each unpadded H*W plane) of every window's first maximum, as
    torch's ``return_indices=True`` gives it. Integer output, no gradient."""
    differentiable = False

    @staticmethod
    def forward(ctx, x, g):
        xp, device = ctx.xp, ctx.device
        _, sel = _first_max(xp, device, x, g)
        table = on_backend(xp, device, "int64", ("unpadded",) + g.index_key + (g.h, g.w, g.pads),
                           lambda: _unpadded_index(g))
        return xp.reshape(xp.take(table, sel, axis=0), g.out_shape)


def _unpadded_index(g: Windows) -> np.ndarray:
    """The flat window index (kk*L,) re-expressed in unpadded coordinates (row*W + col)."""
    padded = window_index(*g.index_key).reshape(-1)
    row, col = padded // g.wp - g.pads[0], padded % g.wp - g.pads[2]
    return row * g.w + col


# ------------------------------------------------------------------- avg
class AvgPool(ArrayFunction):
    """x: (N, C, H, W) or (C, H, W) (1-d: H = 1); g: a :class:`Windows`; divisor_key: the
    arguments of :func:`_divisor`. -> (N, C, Ho, Wo): each window's sum / its divisor."""

    @staticmethod
    def forward(ctx, x, g, divisor_key):
        xp, device = ctx.xp, ctx.device
        divisor = on_backend(xp, device, xp.dtype_of(x), ("avg",) + divisor_key,
                             lambda: _divisor(*divisor_key))  # (L,)
        cols = im2col(xp, device, x, g, 0.0)                  # (B, kk, L)
        ctx.geometry, ctx.divisor = g, divisor
        return xp.reshape(xp.divide(xp.sum(cols, axis=1), divisor), g.out_shape)

    @staticmethod
    def backward(ctx, grad):
        xp, g = ctx.xp, ctx.geometry
        share = xp.divide(xp.reshape(grad, (g.n, 1, g.ho * g.wo)), ctx.divisor)
        kk = g.kernel[0] * g.kernel[1]
        return col2im(xp, ctx.device, xp.broadcast_to(share, (g.n, kk, g.ho * g.wo)), g), None, None


@lru_cache(maxsize=128)
def _divisor(h, w, kernel, stride, padding, out, count_include_pad, divisor_override):
    """(Ho*Wo,) float64: what torch divides each window's sum by. A window is cut at the far
    edge of the padding (ceil_mode windows hang over it); count_include_pad=False counts
    only the real input elements in it."""
    if divisor_override:
        return np.full(out[0] * out[1], float(divisor_override))
    factors = []
    for size, k, s, p, n in zip((h, w), kernel, stride, padding, out):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            factors.append(end - start)
        else:
            factors.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(factors[0], factors[1]).reshape(-1).astype(np.float64)


# ------------------------------------------------------- argument checking
def _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, d: int, op: str):
    """Check a pooling call's arguments; return its :class:`Windows`."""
    check_float_tensor(input, "input", op)
    layout = "(N, C, L)" if d == 1 else "(N, C, H, W)"
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: expected a {d + 2}-d input {layout} or an unbatched {d + 1}-d "
                         f"one {layout.replace('N, ', '')}, got shape {input.shape}"
                         + (f"; add the missing dims, e.g. x.reshape(1, 1, *x.shape)"
                            if input.ndim == d else ""))
    kernel = as_tuple(kernel_size, d, "kernel_size", op, 1)
    stride = kernel if stride is None or stride == [] or stride == () else \
        as_tuple(stride, d, "stride", op, 1)
    padding = as_tuple(padding, d, "padding", op, 0)
    dilation = as_tuple(dilation, d, "dilation", op, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} is too large for kernel_size {kernel}: "
                         f"padding must be at most half the kernel size (here at most "
                         f"{tuple(k // 2 for k in kernel)}), so that every window covers "
                         f"some of the input (torch has the same rule)")
    spatial = tuple(input.shape[-d:])
    out = []
    for size, k, s, p, dl in zip(spatial, kernel, stride, padding, dilation):
        span = dl * (k - 1) + 1
        n = (size + 2 * p - span + ((s - 1) if ceil_mode else 0)) // s + 1
        if ceil_mode and (n - 1) * s >= size + p:  # torch: the last window must start
            n -= 1                                  # inside the input or the left padding
        if n < 1:
            raise ValueError(
                f"{op}: the window (kernel_size {kernel}, dilation {dilation}) is larger "
                f"than the padded input: input size {'x'.join(map(str, spatial))} with "
                f"padding {padding}. Use a smaller kernel_size, padding, or a larger input.")
        out.append(n)
    # pad (before, after); after grows when a ceil_mode window hangs over the padded input
    pads = [(p, max(p, (n - 1) * s + dl * (k - 1) + 1 - size - p))
            for size, k, s, p, dl, n in zip(spatial, kernel, stride, padding, dilation, out)]
    if d == 1:
        kernel, stride, dilation, pads, out, spatial = ((1,) + kernel, (1,) + stride,
                                                        (1,) + dilation, [(0, 0)] + pads,
                                                        [1] + out, (1,) + spatial)
    leading = tuple(input.shape[:-d])
    out_shape = leading + tuple(out[2 - d:])
    return Windows(in_shape=input.shape, out_shape=out_shape, n=int(np.prod(leading)), c=1,
                   h=spatial[0], w=spatial[1], pads=pads[0] + pads[1], kernel=kernel,
                   stride=stride, dilation=dilation, ho=out[0], wo=out[1])


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, d):
    op = f"max_pool{d}d"
    g = _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, d, op)
    out = MaxPool.apply(input, g)
    return (out, MaxPoolIndices.apply(input, g)) if return_indices else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of the last dim (torch.nn.functional.max_pool1d).

    input: (N, C, L) or (C, L). stride defaults to kernel_size; padding (at most
    kernel_size // 2) counts as -inf. Returns (N, C, L_out) with
    L_out = (L + 2*padding - dilation*(kernel_size-1) - 1) // stride + 1 (rounded up with
    ceil_mode), and with return_indices also the int64 index of each maximum along L.
    Gradient: to the first maximum of each window.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 1)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding kH x kW windows (torch.nn.functional.max_pool2d).

    input: (N, C, H, W) or (C, H, W). kernel_size, stride, padding, dilation: an int or an
    (h, w) pair; stride defaults to kernel_size; padding (at most kernel_size // 2) counts
    as -inf. Returns (N, C, H_out, W_out) with
    H_out = (H + 2*padding[0] - dilation[0]*(kH-1) - 1) // stride[0] + 1 (rounded up with
    ceil_mode; W likewise), and with return_indices also the int64 flat index h*W + w of
    each maximum in its (H, W) plane. Gradient: to the first maximum (row-major) of each
    window; overlapping windows add up.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 2)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, d):
    op = f"avg_pool{d}d"
    g = _pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode, d, op)
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, int)
                                         or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int or None, got "
                         f"{divisor_override!r}")
    padding = (g.pads[0], g.pads[2])  # the requested (top, left) padding
    key = (g.h, g.w, g.kernel, g.stride, padding, (g.ho, g.wo), bool(count_include_pad),
           divisor_override)
    return AvgPool.apply(input, g, key)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over sliding windows of the last dim (torch.nn.functional.avg_pool1d).

    input: (N, C, L) or (C, L). stride defaults to kernel_size; padding (at most
    kernel_size // 2) is zeros, counted in the mean unless count_include_pad=False.
    Returns (N, C, L_out), L_out = (L + 2*padding - kernel_size) // stride + 1 (rounded up
    with ceil_mode).
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over sliding kH x kW windows (torch.nn.functional.avg_pool2d).

    input: (N, C, H, W) or (C, H, W). kernel_size, stride, padding: an int or an (h, w)
    pair; stride defaults to kernel_size; padding (at most kernel_size // 2) is zeros,
    counted in the mean unless count_include_pad=False; divisor_override, if given,
    replaces the window size as the divisor. Returns (N, C, H_out, W_out) with
    H_out = (H + 2*padding[0] - kH) // stride[0] + 1 (rounded up with ceil_mode).
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)
