"""RMSprop: divide the gradient by a running RMS of recent gradients (torch.optim.RMSprop)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False)

    For each parameter θ with gradient g (−g when ``maximize``); v, ḡ, b start at zero:

        g ← g + λ·θ                          (weight_decay λ ≠ 0)
        v ← α·v + (1 − α)·g²                 (running mean of g²)
        if centered:                         (subtract the running mean ḡ: a variance)
            ḡ ← α·ḡ + (1 − α)·g
            d = √(v − ḡ²) + ε
        else:
            d = √v + ε
        if momentum μ > 0:
            b ← μ·b + g/d ;  θ ← θ − lr·b
        else:
            θ ← θ − lr·g/d

    State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, with
    momentum) and ``grad_avg`` (ḡ, when centered).
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate(self, options, where):
        super()._validate(options, where)
        self._check_range(options, "eps", "epsilon value", where=where)
        self._check_range(options, "momentum", "momentum value", where=where)
        self._check_range(options, "weight_decay", "weight_decay value", where=where)
        self._check_range(options, "alpha", "alpha value", where=where)

    def _update_param(self, xp, param, grad, state, group):
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            if mu > 0:
                state["momentum_buffer"] = xp.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        g = xp.negative(grad) if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = xp.add_scaled(g, param, group["weight_decay"])

        v = xp.mul_add_square(state["square_avg"], g, alpha, 1 - alpha, inplace=True)
        state["square_avg"] = v
        if group["centered"]:
            # ḡ ← α·ḡ + (1 − α)·g, written as ḡ + (1 − α)(g − ḡ) as torch's lerp does
            g_avg = xp.lerp(state["grad_avg"], g, 1 - alpha, inplace=True)
            state["grad_avg"] = g_avg
            d = xp.sqrt_div_add(xp.subtract(v, xp.multiply(g_avg, g_avg)), 1.0, group["eps"])
        else:
            d = xp.sqrt_div_add(v, 1.0, group["eps"])

        own = self._param_unshared
        if mu > 0:
            buf = xp.addcdiv(xp.scale(state["momentum_buffer"], mu, inplace=True), g, d, 1.0,
                             inplace=True)
            state["momentum_buffer"] = buf
            return xp.add_scaled(param, buf, -group["lr"], inplace=own)
        return xp.addcdiv(param, g, d, -group["lr"], inplace=own)
