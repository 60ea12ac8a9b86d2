"""Differentiable ops, one small Function class each, and their torch-named functions.

    elementwise  add sub mul div neg pow exp log sqrt abs sign tanh sigmoid relu
                 leaky_relu gelu maximum minimum where clamp cast clone, comparisons
    reduction    sum mean var std amax amin max min logsumexp argmax argmin
    linalg       matmul
    shape        reshape transpose permute expand squeeze unsqueeze flatten cat stack
                 split chunk pad
    indexing     getitem (basic and advanced indexing, scatter-add backward)
    softmax      softmax log_softmax
    fused        linear cross_entropy (several primitives in one Function)

Each module lists its public functions in ``__all__``; they are re-exported here and as
``edu_nn.<name>``.
"""
from . import elementwise, fused, indexing, linalg, reduction, shape, softmax
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403

__all__ = (elementwise.__all__ + reduction.__all__ + linalg.__all__ + shape.__all__
           + indexing.__all__ + softmax.__all__)
# fused ops (linear, cross_entropy) live in edu_nn.nn.functional, as in torch
