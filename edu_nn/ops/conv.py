"""Convolution: ``conv1d`` and ``conv2d`` as im2col (a gather) plus one matmul.

With N images, C_in input channels, a kh x kw kernel, an Ho x Wo output, L = Ho * Wo output
positions and K = C_in * kh * kw kernel taps::

    forward   x (N, C_in, H, W) --zero-pad--> (N, C_in, Hp, Wp) --flatten--> (N, C_in, Hp*Wp)
              cols = take(x_flat, idx, axis=2)     (N, C_in, kh*kw, L) = (N, K, L)  "im2col"
              y    = W2 @ cols + b                              (N, C_out, L) -> (N, C_out, Ho, Wo)
              where W2 = weight.reshape(C_out, K)
    backward  dW2   = sum_n g[n] @ cols[n].T                    (C_out, K)
              db    = g summed over n and L                     (C_out,)
              dcols = W2.T @ g                                  (N, K, L)
              dx    = scatter-add of dcols at idx ("col2im"), then crop the padding

``idx[t, l]`` is the position in one flattened padded channel that kernel tap t = (i, j)
reads for output position l = (ho, wo)::

    idx[t, l] = (ho*stride_h + i*dilation_h)*Wp + (wo*stride_w + j*dilation_w)

It is the same for every channel and depends only on the geometry, so it is computed once
in NumPy and cached (kh*kw*L integers, not C_in times more). The backward's
scatter-add is the transpose of the gather: a padded-input element read by several windows
receives the SUM of the gradients of its copies (duplicate indices accumulate).

conv1d is conv2d with H = 1 (a 1 x k kernel). The pooling ops in ``pooling.py`` use the
same window gather (``im2col``) and scatter (``col2im``) with one channel per image.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import NamedTuple

import numpy as np  # index bookkeeping on the host only; array math goes through ctx.xp

from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["conv1d", "conv2d"]


# ----------------------------------------------------------- window geometry
class Windows(NamedTuple):
    """Where the sliding windows of a conv or pool lie. Hashable, so it keys the caches.

    The op sees its input as ``n`` images of ``c`` channels of ``h x w`` (pools: one
    channel, n = N*C); ``pads`` = (top, bottom, left, right) of constant padding;
    ``hp x wp`` the padded size; ``ho x wo`` the output size.
    """
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    n: int
    c: int
    h: int
    w: int
    pads: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    ho: int
    wo: int

    @property
    def hp(self) -> int:
        return self.h + self.pads[0] + self.pads[1]

    @property
    def wp(self) -> int:
        return self.w + self.pads[2] + self.pads[3]

    @property
    def index_key(self) -> tuple:
        """What the gather index depends on (not the batch or channel count)."""
        return self.hp, self.wp, self.kernel, self.stride, self.dilation, self.ho, self.wo


@lru_cache(maxsize=128)
def window_index(hp: int, wp: int, kernel, stride, dilation, ho: int, wo: int) -> np.ndarray:
    """int64 (kh*kw, ho*wo): idx[t, l], the flat position in one padded hp x wp channel that
    kernel tap t = (i, j) reads for output position l = (row, col)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    row = (np.arange(kh) * dh).reshape(kh, 1, 1, 1) + (np.arange(ho) * sh).reshape(1, 1, ho, 1)
    col = (np.arange(kw) * dw).reshape(1, kw, 1, 1) + (np.arange(wo) * sw).reshape(1, 1, 1, wo)
    idx = (row * wp + col).reshape(kh * kw, ho * wo).astype(np.int64)
    idx.flags.writeable = False  # cached: nobody may change it
    return idx


_ON_BACKEND: OrderedDict = OrderedDict()


def on_backend(xp, device, dtype: str, key: tuple, make) -> object:
    """``make()`` (a NumPy array) as a native array of ``xp`` on ``device``, cached by key.

    Converting the cached index once per backend and device keeps the host-to-device copy
    out of every call (it matters on torch and JAX)."""
    full_key = (id(xp), xp.name, getattr(xp, "supports_float64", True), device, dtype, key)
    arr = _ON_BACKEND.get(full_key)
    if arr is None:
        arr = xp.asarray(make(), dtype, device)
        _ON_BACKEND[full_key] = arr
        if len(_ON_BACKEND) > 256:
            _ON_BACKEND.popitem(last=False)
    else:
        _ON_BACKEND.move_to_end(full_key)
    return arr


def gather_index(xp, device, g: Windows, flat: bool = False):
    """The window index of ``g`` on the backend: (kh*kw, L), or (kh*kw*L,) when ``flat``."""
    def make():
        idx = window_index(*g.index_key)
        return idx.reshape(-1) if flat else idx
    return on_backend(xp, device, "int64", ("window", flat) + g.index_key, make)


def im2col(xp, device, x, g: Windows, pad_value: float = 0.0):
    """x: any array holding n*c*h*w elements in (n, c, h, w) order -> cols (n, c*kh*kw, L),
    cols[m, (ch, i, j), l] = the padded input of image m, channel ch under tap (i, j) of
    window l."""
    x = xp.reshape(x, (g.n, g.c, g.h, g.w))
    top, bottom, left, right = g.pads
    if top or bottom or left or right:
        x = xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), pad_value)
    x = xp.reshape(x, (g.n, g.c, g.hp * g.wp))
    cols = xp.take(x, gather_index(xp, device, g), axis=2)    # (n, c, kh*kw, L)
    return xp.reshape(cols, (g.n, -1, g.ho * g.wo))


def col2im(xp, device, cols, g: Windows):
    """The transpose of :func:`im2col`: cols (n, c*kh*kw, L) -> an array of shape
    ``g.in_shape`` where every input element receives the sum of its copies' values."""
    dtype = xp.dtype_of(cols)
    padded = xp.index_add(xp.zeros((g.n, g.c, g.hp * g.wp), dtype, device), 2,
                          gather_index(xp, device, g, flat=True),
                          xp.reshape(cols, (g.n, g.c, -1)))
    return xp.reshape(crop(xp, padded, g), g.in_shape)


def crop(xp, padded, g: Windows):
    """padded images (n*c*hp*wp elements) -> (n, c, h, w) without the padding."""
    padded = xp.reshape(padded, (g.n, g.c, g.hp, g.wp))
    top, bottom, left, right = g.pads
    if top or bottom or left or right:
        padded = xp.getitem(padded, (slice(None), slice(None), slice(top, top + g.h),
                                     slice(left, left + g.w)))
    return padded


# ---------------------------------------------------------------- the op
class Conv(ArrayFunction):
    """Cross-correlation (what deep learning calls convolution), torch's layout.

    x: (N, C_in, H, W) (or unbatched (C_in, H, W); 1-d inputs as H = 1);
    weight: (C_out, C_in, kh, kw) (1-d: (C_out, C_in, kw)); bias: (C_out,) or None;
    geometry: a :class:`Windows`. Returns (N, C_out, Ho, Wo) (1-d: (N, C_out, Lo)).
    """
    same_dtype = True

    @staticmethod
    def forward(ctx, x, weight, bias, g):
        xp = ctx.xp
        cols = im2col(xp, ctx.device, x, g)                     # (N, K, L)
        w2 = xp.reshape(weight, (weight.shape[0], -1))          # (C_out, K)
        y = xp.matmul(w2, cols)                                 # (N, C_out, L)
        if bias is not None:
            y = xp.add(y, xp.reshape(bias, (-1, 1)))
        ctx.save_for_backward(cols, w2)
        ctx.geometry, ctx.weight_shape = g, tuple(weight.shape)
        return xp.reshape(y, g.out_shape)

    @staticmethod
    def backward(ctx, grad):
        cols, w2 = ctx.saved_tensors
        xp, g = ctx.xp, ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = xp.reshape(grad, (g.n, w2.shape[0], g.ho * g.wo))  # (N, C_out, L)
        gx = gw = gb = None
        if need_w:  # dW2 = sum_n g[n] @ cols[n].T
            gw = xp.sum(xp.matmul(grad, xp.permute_dims(cols, (0, 2, 1))), axis=0)
            gw = xp.reshape(gw, ctx.weight_shape)
        if need_b:
            gb = xp.sum(grad, axis=(0, 2))
        if need_x:  # dcols = W2.T @ g, scattered back onto the input windows
            gx = col2im(xp, ctx.device, xp.matmul(xp.permute_dims(w2, (1, 0)), grad), g)
        return gx, gw, gb, None


# ------------------------------------------------------- argument checking
def as_tuple(value, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of 1 or ``n`` ints -> a tuple of ``n`` ints >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    elif (isinstance(value, (tuple, list)) and len(value) in (1, n)
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        values = tuple(int(v) for v in value) * (n if len(value) == 1 else 1)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(values) < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return values


def check_float_tensor(t, what: str, op: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {what} must be an edu_nn Tensor, got {type(t).__name__}")
    if not t.dtype.startswith("float"):
        raise TypeError(f"{op}: {what} must be a floating-point tensor, got {t.dtype}; "
                        f"convert it first, e.g. {what}.float()")


_LAYOUT = {1: "(N, C_in, L)", 2: "(N, C_in, H, W)"}
_KERNEL = {1: "(C_out, C_in, kW)", 2: "(C_out, C_in, kH, kW)"}


def _conv(input, weight, bias, stride, padding, dilation, groups, d: int):
    op = f"conv{d}d"
    check_float_tensor(input, "input", op)
    check_float_tensor(weight, "weight", op)
    if groups != 1:
        raise NotImplementedError(
            f"{op}: groups={groups} (grouped or depthwise convolution) is not implemented in "
            f"edu_nn; only groups=1. A grouped convolution is {groups} ordinary ones: split "
            f"the input channels and the weight with chunk({groups}, dim=...), call {op} on "
            f"each pair, and cat the results along dim 1.")
    if weight.ndim != d + 2:
        raise ValueError(f"{op}: weight must be {d + 2}-d {_KERNEL[d]}, got shape {weight.shape}")
    c_out, c_in = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    shape = input.shape
    batched = input.ndim == d + 2
    if input.ndim == d + 1 and shape[0] != c_in:
        hint = (f" If it is a batch of {shape[0]} single-channel inputs, add the channel dim: "
                f"x.unsqueeze(1)." if c_in == 1 else "")
        raise ValueError(
            f"{op}: expected a {d + 2}-d input {_LAYOUT[d]} with C_in = {c_in} (or an "
            f"unbatched {_LAYOUT[d].replace('N, ', '')}), got a {input.ndim}-d input of shape "
            f"{shape}, whose first dim {shape[0]} is not C_in = {c_in}.{hint}")
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: expected a {d + 2}-d input {_LAYOUT[d]} (or an unbatched "
                         f"{d + 1}-d one), got shape {shape}. "
                         + (f"For a single input add the batch and channel dims, e.g. "
                            f"x.reshape(1, 1, *x.shape)." if input.ndim == d else ""))
    n, c = (shape[0], shape[1]) if batched else (1, shape[0])
    if c != c_in:
        raise ValueError(
            f"{op}: input has {c} channels (shape {shape}, layout {_LAYOUT[d]}) but the weight "
            f"{weight.shape} {_KERNEL[d]} expects C_in = {c_in} channels. Check the layer's "
            f"in_channels, and that the input is channels-first (NCHW, not NHWC).")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{op}: bias must be an edu_nn Tensor or None, got "
                            f"{type(bias).__name__}")
        if bias.shape != (c_out,):
            raise ValueError(f"{op}: bias must have shape (C_out,) = ({c_out},), got "
                             f"{bias.shape}")
    stride = as_tuple(stride, d, "stride", op, 1)
    dilation = as_tuple(dilation, d, "dilation", op, 1)
    spatial = tuple(shape[-d:])
    span = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))  # dilated kernel size
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * d
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride}); use stride=1 or an int "
                                 f"padding")
            # as torch: total padding span-1, the odd one out on the bottom/right
            pads = [((s - 1) // 2, s - 1 - (s - 1) // 2) for s in span]
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple of {d} ints, 'valid' or "
                             f"'same', got {padding!r}")
    else:
        pads = [(p, p) for p in as_tuple(padding, d, "padding", op, 0)]
    padded = tuple(size + a + b for size, (a, b) in zip(spatial, pads))
    if any(p < s for p, s in zip(padded, span)):
        x_ = "x".join
        raise ValueError(
            f"{op}: the kernel {x_(map(str, kernel))} (dilation {dilation}, so it spans "
            f"{x_(map(str, span))}) is larger than the padded input {x_(map(str, padded))} "
            f"(input {x_(map(str, spatial))} plus padding). Use a smaller kernel, more "
            f"padding, or a larger input.")
    out = tuple((p - s) // st + 1 for p, s, st in zip(padded, span, stride))
    if d == 1:  # a 1 x k kernel over a 1 x L image
        kernel, stride, dilation, pads, out, spatial = ((1,) + kernel, (1,) + stride,
                                                        (1,) + dilation, [(0, 0)] + pads,
                                                        (1,) + out, (1,) + spatial)
    out_shape = ((n,) if batched else ()) + (c_out,) + out[2 - d:]
    g = Windows(in_shape=shape, out_shape=out_shape, n=n, c=c, h=spatial[0], w=spatial[1],
                pads=pads[0] + pads[1], kernel=kernel, stride=stride, dilation=dilation,
                ho=out[0], wo=out[1])
    return Conv.apply(input, weight, bias, g)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution (cross-correlation) over the last dim (torch.nn.functional.conv1d).

    input: (N, C_in, L) or unbatched (C_in, L); weight: (C_out, C_in, kW); bias: (C_out,).
    stride, padding, dilation: ints (or 1-tuples); padding may also be 'valid' (0) or
    'same' (output length L; stride 1 only). groups must be 1.
    Returns (N, C_out, L_out), L_out = (L + 2*padding - dilation*(kW-1) - 1) // stride + 1.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation) over the last two dims (torch.nn.functional.conv2d).

    input: (N, C_in, H, W) or unbatched (C_in, H, W); weight: (C_out, C_in, kH, kW);
    bias: (C_out,) or None. stride, padding, dilation: an int or an (h, w) pair; padding
    may also be 'valid' (0) or 'same' (output H x W; stride 1 only). groups must be 1.
    Returns (N, C_out, H_out, W_out) with
    H_out = (H + 2*padding[0] - dilation[0]*(kH-1) - 1) // stride[0] + 1 (W likewise).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)
