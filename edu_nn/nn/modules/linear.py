"""``Linear`` (y = x W^T + b, torch's layout) and ``Identity``."""
from __future__ import annotations

import math

from ...ops.fused import linear
from .. import init
from ..parameter import new_parameter
from .module import Module


class Identity(Module):
    """Returns its input; takes (and ignores) any constructor arguments, like torch's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight.T + bias.

    x: (*, in_features) -> y: (*, out_features). weight: (out_features, in_features),
    bias: (out_features,), both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features))
    as torch does (kaiming_uniform_ with a = sqrt(5)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None, *, backend=None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        factory = dict(dtype=dtype, device=device, backend=backend)
        self.weight = new_parameter(out_features, in_features, **factory)
        if bias:
            self.bias = new_parameter(out_features, **factory)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} got an input of shape {tuple(input.shape)}: the last "
                             f"dim must be in_features={self.in_features} (input shape (*, "
                             f"{self.in_features})). Flatten images first, e.g. nn.Flatten().")
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
