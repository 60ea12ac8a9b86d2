"""L1 and L2 penalties for "cost = loss + lambda * penalty" (SYLLABUS: regularise the
weights, not the intercepts).

By default the penalty skips biases (any parameter named ``bias``) and the parameters of
normalisation layers (BatchNorm's and LayerNorm's scale and shift): penalising an intercept
or a normaliser's scale only biases the model without reducing its capacity.

    loss = F.cross_entropy(model(x), y) + 1e-4 * nn.utils.l2_penalty(model)

The penalties are differentiable tensors built from the core's ops, so ``backward()``
adds their gradients (2 * lambda * w for L2, lambda * sign(w) for L1).
``penalized_parameters`` gives the same selection for optimizer parameter groups::

    decay = [p for _, p in nn.utils.penalized_parameters(model)]
"""
from __future__ import annotations

from typing import Iterator

from ..modules.batchnorm import _BatchNorm
from ..modules.module import Module
from ..modules.normalization import LayerNorm
from ..parameter import Parameter

_NORM_LAYERS = (_BatchNorm, LayerNorm)


def penalized_parameters(module: Module, include_bias: bool = False,
                         include_norm: bool = False) -> Iterator[tuple[str, Parameter]]:
    """(name, parameter) of the parameters a weight penalty should see."""
    if not isinstance(module, Module):
        raise TypeError(f"expected an nn.Module (your model), got {type(module).__name__}")
    seen: set[int] = set()
    for prefix, sub in module.named_modules():
        if isinstance(sub, _NORM_LAYERS) and not include_norm:
            continue
        for name, p in sub._parameters.items():
            if p is None or id(p) in seen or (name == "bias" and not include_bias):
                continue
            seen.add(id(p))
            yield (f"{prefix}.{name}" if prefix else name), p


def _penalty(module: Module, include_bias: bool, include_norm: bool, term, who: str):
    params = [p for _, p in penalized_parameters(module, include_bias, include_norm)]
    if not params:
        raise ValueError(f"{who}: the model has no parameters to penalise (biases and "
                         f"normalisation parameters are skipped unless include_bias / "
                         f"include_norm is True)")
    total = term(params[0])
    for p in params[1:]:
        total = total + term(p)
    return total


def l2_penalty(module: Module, include_bias: bool = False, include_norm: bool = False):
    """sum of w^2 over the penalised weights (the squared Frobenius norm of each matrix)."""
    return _penalty(module, include_bias, include_norm, lambda p: (p * p).sum(), "l2_penalty")


def l1_penalty(module: Module, include_bias: bool = False, include_norm: bool = False):
    """sum of |w| over the penalised weights (its gradient at w = 0 is 0)."""
    return _penalty(module, include_bias, include_norm, lambda p: p.abs().sum(), "l1_penalty")
