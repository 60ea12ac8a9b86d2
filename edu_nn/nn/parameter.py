"""``Parameter``: a Tensor that a Module registers as learnable (torch.nn.Parameter).

Assigning a Parameter to a Module attribute (``self.weight = Parameter(...)``) registers it,
so ``module.parameters()`` finds it and ``state_dict()`` saves it. A Parameter is a leaf
that requires grad. Optimizers and ``load_state_dict`` change its values by rebinding
``.array`` (edu_nn arrays are never mutated), so the Parameter object itself stays the same
and every reference to it (an optimizer's param_groups) stays valid.
"""
from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """Parameter(data, requires_grad=True): ``data`` is a Tensor (any backend/dtype/device).

    A Parameter shares ``data``'s array (no copy), like torch.
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            from ..creation import zeros
            data = zeros(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(data): data must be an edu_nn Tensor, got "
                            f"{type(data).__name__}; wrap it first, e.g. "
                            f"Parameter(edu_nn.tensor(values))")
        self.array, self.backend, self.device = data.array, data.backend, data.device
        self.requires_grad, self.grad, self.grad_fn = False, None, None
        self._storage = None  # set, so that _set_array's getattr is fast (optimizer steps)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def new_parameter(*shape: int, dtype: str | None = None, device: str | None = None,
                  backend=None) -> Parameter:
    """A zero-filled Parameter for a layer to initialise (torch's ``device=``/``dtype=``
    factory arguments, plus edu_nn's ``backend=``; defaults: the selected backend and the
    default float dtype)."""
    from ..creation import zeros
    return Parameter(zeros(*shape, dtype=dtype, backend=backend, device=device))
