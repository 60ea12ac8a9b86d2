"""Differentiable ops, one small ArrayFunction class each, and their torch-named functions.

    elementwise  add sub mul div neg pow exp log sqrt abs sign tanh sigmoid relu
                 leaky_relu gelu maximum minimum where clamp cast clone, comparisons
    reduction    sum mean var std amax amin max min logsumexp argmax argmin
    linalg       matmul mm bmm mv dot
    pointwise    sin cos square log2 log10 floor
    sorting      cumsum sort argsort topk
    composite    repeat repeat_interleave meshgrid diag norm (of the ops above), nonzero unique
    shape        reshape transpose permute expand squeeze unsqueeze flatten cat/concat
                 stack split chunk narrow flip pad
    indexing     getitem (basic and advanced indexing, scatter-add backward),
                 take_along_dim gather index_select
    softmax      softmax log_softmax
    fused        linear (several primitives in one ArrayFunction)
    losses       mse_loss l1_loss huber_loss smooth_l1_loss cross_entropy nll_loss
                 binary_cross_entropy(_with_logits) (via edu_nn.nn.functional)

Each module lists its public functions in ``__all__``; they are re-exported here and as
``edu_nn.<name>``.
"""
# Modules imported under private aliases: ``softmax`` is both a module and a function.
from . import elementwise as _elementwise, fused as _fused, indexing as _indexing  # noqa: F401
from . import linalg as _linalg, reduction as _reduction, shape as _shape
from . import softmax as _softmax_module
from . import pointwise as _pointwise, sorting as _sorting, composite as _composite
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403
from .pointwise import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .composite import *  # noqa: F401,F403

__all__ = (_elementwise.__all__ + _reduction.__all__ + _linalg.__all__ + _shape.__all__
           + _indexing.__all__ + _softmax_module.__all__ + _pointwise.__all__ + _sorting.__all__
           + _composite.__all__)
# fused, losses, conv, pooling, normalization, dropout and embedding ops are exported by
# edu_nn.nn.functional, as in torch
