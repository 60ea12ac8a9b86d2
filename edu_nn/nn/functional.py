"""edu_nn.nn.functional: stateless functions with torch.nn.functional's names and signatures.

Each one is a differentiable op of ``edu_nn.ops`` (whose Function holds the hand-written
backward). ``inplace=True`` is accepted so that torch code ports unchanged, but edu_nn
tensors are immutable, so it returns a new tensor like ``inplace=False``: use the result
(``x = F.relu(x, inplace=True)``), as torch code does.

    activations   relu leaky_relu prelu gelu sigmoid tanh softmax log_softmax
    linear        linear
    conv, pool    conv1d conv2d max_pool1d max_pool2d avg_pool1d avg_pool2d
    normalization batch_norm layer_norm
    dropout       dropout dropout2d
    sparse        embedding
    losses        mse_loss l1_loss huber_loss smooth_l1_loss cross_entropy nll_loss
                  binary_cross_entropy binary_cross_entropy_with_logits
"""
from __future__ import annotations

from .. import ops as _ops
from ..ops import conv as _conv, dropout as _dropout, embedding as _embedding
from ..ops import losses as _losses, normalization as _normalization, pooling as _pooling
from ..ops import gelu, log_softmax, sigmoid, softmax, tanh
from ..ops.conv import *  # noqa: F401,F403
from ..ops.dropout import *  # noqa: F401,F403
from ..ops.embedding import *  # noqa: F401,F403
from ..ops.fused import linear
from ..ops.losses import *  # noqa: F401,F403
from ..ops.normalization import *  # noqa: F401,F403
from ..ops.pooling import *  # noqa: F401,F403
from ..ops.prelu import prelu
from ..ops.adaptive_pooling import adaptive_avg_pool1d, adaptive_avg_pool2d, one_hot

__all__ = (["relu", "leaky_relu", "prelu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
            "linear", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "one_hot"] + _conv.__all__ + _pooling.__all__ + _normalization.__all__
           + _dropout.__all__ + _embedding.__all__ + _losses.__all__)


def relu(input, inplace: bool = False):
    """max(x, 0) elementwise; relu'(0) = 0."""
    return _ops.relu(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x."""
    return _ops.leaky_relu(input, negative_slope)
