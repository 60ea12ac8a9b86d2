"""Adagrad: per-coordinate learning rates from summed squared gradients (torch.optim.Adagrad)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, foreach=None, *, maximize=False)

    For each parameter θ with gradient g (−g when ``maximize``), at step t = 1, 2, ...:

        g  ← g + λ·θ                         (weight_decay λ ≠ 0)
        η  = lr / (1 + (t − 1)·lr_decay)
        G  ← G + g²                          (G starts at initial_accumulator_value)
        θ  ← θ − η · g / (√G + ε)

    Coordinates with large past gradients take small steps. State per parameter: ``step``
    and ``sum`` (G); like torch, it is created for every parameter at construction, and
    ``initial_accumulator_value`` is the constructor's, even for a group that sets its own.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self._initial_state(p.backend, p.array)
                self.state[p] = {k: self._wrap(v, p) for k, v in state.items()}

    def _validate(self, options, where):
        super()._validate(options, where)
        self._check_range(options, "lr_decay", "lr_decay value", where=where)
        self._check_range(options, "weight_decay", "weight_decay value", where=where)
        self._check_range(options, "initial_accumulator_value",
                          "initial_accumulator_value value", where=where)
        self._check_range(options, "eps", "epsilon value", where=where)

    def _initial_state(self, xp, param):
        value = self.defaults["initial_accumulator_value"]
        return {"step": 0, "sum": xp.full(tuple(param.shape), value, xp.dtype_of(param),
                                          xp.device_of(param))}

    def _update_param(self, xp, param, grad, state, group):
        if not state:  # a parameter added later with add_param_group
            state.update(self._initial_state(xp, param))
        state["step"] += 1
        g = xp.negative(grad) if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = xp.add_scaled(g, param, group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] = xp.add(state["sum"], xp.multiply(g, g))
        std = xp.add(xp.sqrt(state["sum"]), group["eps"])
        return xp.add_scaled(param, xp.divide(g, std), -clr)
