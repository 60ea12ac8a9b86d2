"""Gradient clipping, torch.nn.utils' ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change ``p.grad`` of each parameter (by rebinding its array) and run without
recording a graph. Call them between ``loss.backward()`` and ``optimizer.step()``.
"""
from __future__ import annotations

import math
from typing import Iterable

from ...tensor import Tensor


def _grads(parameters, who: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected tensors (e.g. model.parameters()), got a "
                            f"{type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total_norm = || (||g_1||, ||g_2||, ...) ||_p  (p = norm_type; ``inf`` for the max), then
    every g_i is multiplied by min(1, max_norm / (total_norm + 1e-6)), torch's formula.
    Returns total_norm (before clipping) as a 0-d tensor.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not grads:
        from ...creation import zeros
        return zeros(())
    xp = grads[0].backend
    if norm_type == math.inf:
        norms = [xp.max(xp.abs(g.array)) for g in grads]
        total = xp.max(xp.stack(norms))
    else:
        norms = [xp.power(xp.sum(xp.power(xp.abs(g.array), norm_type)), 1.0 / norm_type)
                 for g in grads]
        total = xp.power(xp.sum(xp.power(xp.stack(norms), norm_type)), 1.0 / norm_type)
    if error_if_nonfinite:
        total_value = float(xp.item(total))
        if not math.isfinite(total_value):
            raise RuntimeError(
                f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                f"{total_value}, so they cannot be clipped; set error_if_nonfinite=False to "
                f"clip anyway (the gradients become nan), or find where the loss overflowed "
                f"(lower the learning rate?)")
    # min(1, max_norm / (total + 1e-6)) as an array, as torch computes it: no Python read of
    # the norm, so edu_nn.compile can replay it (a coefficient of 1 leaves the gradient as it
    # is: x * 1.0 == x exactly)
    coef = xp.minimum(xp.divide(max_norm, xp.add(total, 1e-6)), 1.0)
    for g in grads:
        g._set_array(xp.multiply(g.array, xp.astype(coef, g.dtype)))
    return Tensor._make(total, xp, grads[0].device)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        g._set_array(g.backend.clip(g.array, -clip_value, clip_value))
