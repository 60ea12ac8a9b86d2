"""Differentiable ops, one small Function class each, and their torch-named functions.

    elementwise  add sub mul div neg pow exp log sqrt abs sign tanh sigmoid relu
                 leaky_relu gelu maximum minimum where clamp cast clone, comparisons
    reduction    sum mean var std amax amin max min logsumexp argmax argmin
    linalg       matmul
    shape        reshape transpose permute expand squeeze unsqueeze flatten cat stack
                 split chunk pad
    indexing     getitem (basic and advanced indexing, scatter-add backward)
    softmax      softmax log_softmax
"""
from .elementwise import *  # noqa: F401,F403
from .elementwise import (abs, add, cast, clamp, clip, clone, div, eq, exp, ge, gelu, gt, le,
                          leaky_relu, log, lt, maximum, minimum, mul, ne, neg, pow, relu, sigmoid,
                          sign, sqrt, sub, tanh, where)
from .reduction import *  # noqa: F401,F403
from .reduction import mean, sum
