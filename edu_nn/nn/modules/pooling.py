"""Pooling layers: ``MaxPool1d``, ``MaxPool2d``, ``AvgPool1d``, ``AvgPool2d`` (torch's
signatures; the math is in ``edu_nn/ops/pooling.py``). Max pooling sends each window's
gradient to one element, its first maximum."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class _PoolNd(Module):
    _dims = 0
    _function = ""

    def _check_input(self, input) -> None:
        n = self._dims
        if input.ndim not in (n + 1, n + 2):
            spatial = "L" if n == 1 else "H, W"
            raise ValueError(f"{type(self).__name__} expects an input of shape (N, C, {spatial}) "
                             f"or (C, {spatial}), got {input.ndim}-d input of shape "
                             f"{tuple(input.shape)}")


class _MaxPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        self._check_input(input)
        return getattr(F, self._function)(input, self.kernel_size, self.stride, self.padding,
                                          self.dilation, ceil_mode=self.ceil_mode,
                                          return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """x: (N, C, L) -> (N, C, L_out): the max of each window."""
    _dims, _function = 1, "max_pool1d"


class MaxPool2d(_MaxPoolNd):
    """x: (N, C, H, W) -> (N, C, H_out, W_out): the max of each window."""
    _dims, _function = 2, "max_pool2d"


class AvgPool1d(_PoolNd):
    """x: (N, C, L) -> (N, C, L_out): the mean of each window."""
    _dims = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        self._check_input(input)
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(AvgPool1d):
    """x: (N, C, H, W) -> (N, C, H_out, W_out): the mean of each window."""
    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input):
        self._check_input(input)
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)
