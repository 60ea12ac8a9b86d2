"""Adadelta: steps sized by running RMS of past updates over that of gradients
(torch.optim.Adadelta)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False)

    For each parameter θ with gradient g (−g when ``maximize``); v and u start at zero:

        g  ← g + λ·θ                               (weight_decay λ ≠ 0)
        v  ← ρ·v + (1 − ρ)·g²                      (running mean of g²)
        Δ  = √(u + ε) / √(v + ε) · g               (units of θ: no lr needed in theory)
        u  ← ρ·u + (1 − ρ)·Δ²                      (running mean of squared updates)
        θ  ← θ − lr·Δ

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate(self, options, where):
        super()._validate(options, where)
        self._check_range(options, "rho", "rho value", high=1.0, where=where)
        self._check_range(options, "eps", "epsilon value", where=where)
        self._check_range(options, "weight_decay", "weight_decay value", where=where)

    def _update_param(self, xp, param, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            state["acc_delta"] = xp.zeros_like(param)
        state["step"] += 1
        g = xp.negative(grad) if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = xp.add_scaled(g, param, group["weight_decay"])

        v = xp.mul_add_square(state["square_avg"], g, rho, 1 - rho, inplace=True)
        std = xp.sqrt(xp.add(v, eps))
        delta = xp.multiply(xp.divide(xp.sqrt(xp.add(state["acc_delta"], eps)), std), g)
        u = xp.mul_add_square(state["acc_delta"], delta, rho, 1 - rho, inplace=True)
        state["square_avg"], state["acc_delta"] = v, u
        return xp.add_scaled(param, delta, -group["lr"], inplace=self._param_unshared)
