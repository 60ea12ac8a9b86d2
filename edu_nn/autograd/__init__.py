"""Reverse-mode automatic differentiation: the two Function classes, the backward engine,
grad modes.

``Function`` is torch's ``torch.autograd.Function`` (forward/backward on Tensors);
``ArrayFunction`` is edu_nn's op class (forward/backward on native arrays, ``ctx.xp``).
"""
from .grad_mode import (detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled,
                        no_grad, set_grad_enabled)
from .function import ArrayFunction
from .tensor_function import Function

__all__ = ["Function", "ArrayFunction", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "detect_anomaly", "is_anomaly_enabled"]
