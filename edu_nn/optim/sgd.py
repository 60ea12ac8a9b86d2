"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False)

    For each parameter θ with gradient g = ∇f(θ) (−∇f(θ) when ``maximize``):

        g ← g + λ·θ                           (weight_decay λ ≠ 0: an L2 penalty)
        if momentum μ ≠ 0:
            b ← g                   on the first step,
            b ← μ·b + (1 − τ)·g     afterwards  (dampening τ)
            g ← g + μ·b  if nesterov  else  b
        θ ← θ − lr·g

    Like torch (and unlike Sutskever et al.), the velocity b is not scaled by lr, and it
    starts at the first gradient rather than at zero (so dampening applies from step 2).
    State per parameter: ``momentum_buffer`` (only with momentum).
    ``foreach``/``fused`` are accepted and ignored (they only choose torch's kernel).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _validate(self, options, where):
        super()._validate(options, where)
        self._check_range(options, "momentum", "momentum value", where=where)
        self._check_range(options, "weight_decay", "weight_decay value", where=where)
        self._check_range(options, "dampening", "dampening value", low=-float("inf"),
                          where=where)
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening (got momentum={options['momentum']}, dampening="
                             f"{options['dampening']}){where}")

    def _update_param(self, xp, param, grad, state, group):
        lr, mu = group["lr"], group["momentum"]
        g = xp.negative(grad) if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = xp.add_scaled(g, param, group["weight_decay"])
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = xp.copy(g)  # ours to update in place (g may be the user's p.grad)
            else:
                buf = xp.add_scaled(xp.scale(buf, mu, inplace=True), g,
                                    1 - group["dampening"], inplace=True)
            state["momentum_buffer"] = buf
            g = xp.add_scaled(g, buf, mu) if group["nesterov"] else buf
        return xp.add_scaled(param, g, -lr, inplace=self._param_unshared)
