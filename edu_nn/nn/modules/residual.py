"""Residual connections (He et al. 2015, "Deep Residual Learning").

A residual block computes ``y = F(x) + shortcut(x)``: the layers F learn a correction to
the identity instead of a whole new map. Gradients flow through the ``+`` unchanged, so a
deep stack of blocks still passes a strong gradient back to its first layers (the answer
to vanishing gradients that BatchNorm alone does not give).

    block = nn.Residual(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64)))
    y = block(x)                                  # x + F(x), x: (N, 64)

``BasicBlock`` is the two-convolution block of ResNet-18/34, with torchvision's parameter
names (conv1, bn1, conv2, bn2, downsample.0, downsample.1), so a torchvision BasicBlock's
state_dict loads into it.
"""
from __future__ import annotations

from .. import functional as F
from .batchnorm import BatchNorm2d
from .container import Sequential
from .conv import Conv2d
from .module import Module


class Residual(Module):
    """y = fn(x) + shortcut(x); shortcut defaults to the identity, so fn must keep the
    shape of x (give a shortcut, e.g. a Linear or 1x1 Conv2d, when it does not)."""

    def __init__(self, fn: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.fn = fn
        self.shortcut = shortcut

    def forward(self, x):
        out = self.fn(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if out.shape != skip.shape:
            raise ValueError(f"Residual: the block's output has shape {tuple(out.shape)} but "
                             f"the shortcut gives {tuple(skip.shape)}; they are added, so they "
                             f"must match (give a shortcut module that maps x to the output "
                             f"shape)")
        return out + skip


class BasicBlock(Module):
    """ResNet's basic block for x: (N, in_channels, H, W) -> (N, out_channels, H/s, W/s):

        out = relu(bn1(conv1(x)))          conv1: 3x3, stride s
        out = bn2(conv2(out))              conv2: 3x3
        out = relu(out + downsample(x))    downsample: 1x1 conv (stride s) + BN when the
                                           shape changes, else the identity
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *,
                 dtype=None, device=None, backend=None) -> None:
        super().__init__()
        factory = dict(dtype=dtype, device=device, backend=backend)
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, **factory)
        self.bn1 = BatchNorm2d(out_channels, **factory)
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, **factory)
        self.bn2 = BatchNorm2d(out_channels, **factory)
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, bias=False, **factory),
                BatchNorm2d(out_channels, **factory))
        else:
            self.downsample = None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)
