"""edu_nn.nn.utils: gradient clipping (torch's names) and L1/L2 penalties that skip biases
and normalisation parameters."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .regularization import l1_penalty, l2_penalty, penalized_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty",
           "penalized_parameters"]
