"""``LayerNorm``: normalise over the trailing ``normalized_shape`` dims of each sample
(no running statistics; same in train and eval). weight and bias: normalized_shape."""
from __future__ import annotations

from .. import functional as F
from .. import init
from ..parameter import new_parameter
from .module import Module


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None, *, backend=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        factory = dict(dtype=dtype, device=device, backend=backend)
        if elementwise_affine:
            self.weight = new_parameter(*self.normalized_shape, **factory)
            if bias:
                self.bias = new_parameter(*self.normalized_shape, **factory)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
