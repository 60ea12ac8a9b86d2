"""``AdaptiveAvgPool1d`` and ``AdaptiveAvgPool2d``: a fixed output size whatever the input's
(see edu_nn.ops.adaptive_pooling for the bins)."""
from __future__ import annotations

from ...ops.adaptive_pooling import adaptive_avg_pool1d, adaptive_avg_pool2d
from .module import Module


class AdaptiveAvgPool1d(Module):
    """(N, C, L) -> (N, C, output_size)."""

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    """(N, C, H, W) -> (N, C, oH, oW); ``output_size`` an int or an (oH, oW) pair."""

    def forward(self, input):
        return adaptive_avg_pool2d(input, self.output_size)
