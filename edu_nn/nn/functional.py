"""edu_nn.nn.functional: stateless functions with torch.nn.functional's names and signatures.

Each one is the differentiable op of ``edu_nn.ops`` (whose Function holds the hand-written
backward). ``inplace=True`` is accepted so that torch code ports unchanged, but edu_nn
tensors are immutable, so it returns a new tensor like ``inplace=False``: use the result
(``x = F.relu(x, inplace=True)``), as torch code does.
"""
from __future__ import annotations

from .. import ops as _ops
from ..ops import gelu, log_softmax, sigmoid, softmax, tanh
from ..ops.fused import cross_entropy, linear

__all__ = ["relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
           "linear", "cross_entropy"]


def relu(input, inplace: bool = False):
    """max(x, 0) elementwise; relu'(0) = 0."""
    return _ops.relu(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x."""
    return _ops.leaky_relu(input, negative_slope)
