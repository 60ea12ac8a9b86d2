"""``Conv1d`` and ``Conv2d`` (torch's signatures, NCHW, weight (C_out, C_in, *kernel)).

The computation is ``F.conv1d`` / ``F.conv2d`` (im2col by a gather, one matmul; the backward
scatter-adds the columns back), written once in ``edu_nn/ops/conv.py``.
"""
from __future__ import annotations

import math

from .. import functional as F
from .. import init
from ..parameter import new_parameter
from .module import Module


def _tuple(value, n: int, name: str, layer: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ValueError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")


class _ConvNd(Module):
    _dims = 0
    _input_names = ""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None, *, backend=None) -> None:
        super().__init__()
        layer, n = type(self).__name__, self._dims
        if groups != 1:
            raise NotImplementedError(f"{layer}: groups={groups} is not supported (edu_nn's "
                                      f"convolution has groups=1)")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{layer}: padding_mode={padding_mode!r} is not "
                                      f"supported; only 'zeros'")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", layer)
        self.stride = _tuple(stride, n, "stride", layer)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding", layer)
        self.dilation = _tuple(dilation, n, "dilation", layer)
        self.groups, self.padding_mode = groups, padding_mode
        factory = dict(dtype=dtype, device=device, backend=backend)
        self.weight = new_parameter(out_channels, in_channels, *self.kernel_size, **factory)
        if bias:
            self.bias = new_parameter(out_channels, **factory)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in * prod(kernel)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input) -> None:
        expected = f"(N, C_in={self.in_channels}, {self._input_names})"
        if input.ndim != self._dims + 2:
            hint = (f"; for a single-channel batch of shape {tuple(input.shape)} add the "
                    f"channel dim with x.unsqueeze(1)" if input.ndim == self._dims + 1 else "")
            raise ValueError(f"{type(self).__name__} expects an input of shape {expected}, "
                             f"got {input.ndim}-d input of shape {tuple(input.shape)}{hint}")
        if input.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects {self.in_channels} input channels "
                             f"(input shape {expected}), got input of shape "
                             f"{tuple(input.shape)} with {input.shape[1]} channels")

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """x: (N, C_in, L) -> (N, C_out, L_out), L_out = floor((L + 2p - d(k-1) - 1) / s) + 1."""
    _dims, _input_names = 1, "L"

    def forward(self, input):
        self._check_input(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation)


class Conv2d(_ConvNd):
    """x: (N, C_in, H, W) -> (N, C_out, H_out, W_out), each spatial size as in Conv1d."""
    _dims, _input_names = 2, "H, W"

    def forward(self, input):
        self._check_input(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation)
