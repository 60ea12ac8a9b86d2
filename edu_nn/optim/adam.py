"""Adam and AdamW: momentum plus RMS scaling, with bias correction (torch.optim.Adam/AdamW)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    *, maximize=False, decoupled_weight_decay=False)

    For each parameter θ with gradient g (−g when ``maximize``), at step t = 1, 2, ...;
    m, v (and v_max) start at zero:

        g ← g + λ·θ                       (weight_decay λ ≠ 0: L2 penalty, as in the paper)
        m ← β₁·m + (1 − β₁)·g             (first moment: momentum)
        v ← β₂·v + (1 − β₂)·g²            (second moment: squared-gradient scale)
        m̂ = m / (1 − β₁ᵗ)                 (bias correction: m and v start at zero, so
        v̂ = v / (1 − β₂ᵗ)                  early averages are too small)
        θ ← θ − lr · m̂ / (√v̂ + ε)

    amsgrad uses v_max ← max(v_max, v) in place of v (the step size never grows).
    ``decoupled_weight_decay=True`` is AdamW: the decay shrinks θ directly,
    θ ← θ·(1 − lr·λ), instead of entering g (so m and v never see it).
    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq``
    (v_max, with amsgrad).
    ``foreach``, ``capturable`` and ``fused`` are accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate(self, options, where):
        super()._validate(options, where)
        self._check_range(options, "eps", "epsilon value", where=where)
        self._check_range(options, "weight_decay", "weight_decay value", where=where)
        betas = options["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{type(self).__name__}: betas must be a pair (beta1, beta2) like "
                            f"(0.9, 0.999), got {betas!r}{where}")
        for i, beta in enumerate(betas):
            self._check_range({f"betas[{i}]": beta}, f"betas[{i}]",
                              f"beta parameter at index {i}", high=1.0, high_open=True,
                              where=where)
        options["betas"] = tuple(betas)

    def _update_param(self, xp, param, grad, state, group):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        own = self._param_unshared  # may the parameter's array be written in place?
        g = xp.negative(grad) if group["maximize"] else grad
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param = xp.scale(param, 1 - lr * wd, inplace=own)
                own = True  # a new array if it was not ours before
            else:
                g = xp.add_scaled(g, param, wd)

        # m ← β₁·m + (1 − β₁)·g, written as m + (1 − β₁)(g − m) as torch's lerp does
        m = xp.lerp(state["exp_avg"], g, 1 - beta1, inplace=True)
        v = xp.mul_add_square(state["exp_avg_sq"], g, beta2, 1 - beta2, inplace=True)
        state["exp_avg"], state["exp_avg_sq"] = m, v

        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v)
            state["max_exp_avg_sq"] = v
        # m̂ / (√v̂ + ε) with the corrections folded into scalars, as torch computes it
        denom = xp.sqrt_div_add(v, bias_correction2 ** 0.5, group["eps"])
        return xp.addcdiv(param, m, denom, -lr / bias_correction1, inplace=own)


class AdamW(Adam):
    r"""AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, *, maximize=False)

    Adam with decoupled weight decay (Loshchilov & Hutter): each step first shrinks the
    parameter, θ ← θ·(1 − lr·λ), then takes Adam's step with the plain gradient, so the
    decay is not rescaled by √v̂ as an L2 penalty in the gradient would be. Note the
    default weight_decay is 1e-2 (Adam's is 0).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # an AdamW stays AdamW whatever was saved (as torch)
            group["decoupled_weight_decay"] = True
