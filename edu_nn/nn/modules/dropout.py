"""``Dropout`` and ``Dropout2d``: in training mode, zero each element (Dropout) or each whole
channel (Dropout2d) with probability p and scale the rest by 1/(1-p), so nothing changes at
test time; in eval mode they return the input. The mask comes from an edu_nn Generator
(``generator=``, an edu_nn extension; default: the one ``edu_nn.manual_seed`` seeds)."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    _function = ""

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator=None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p!r}")
        self.p, self.inplace, self.generator = p, inplace, generator

    def forward(self, input):
        return getattr(F, self._function)(input, self.p, self.training,
                                          generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Each element zeroed with probability p (any input shape)."""
    _function = "dropout"


class Dropout2d(_DropoutNd):
    """Each channel of (N, C, H, W) or (C, H, W) zeroed with probability p."""
    _function = "dropout2d"
