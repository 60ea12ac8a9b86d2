"""edu_nn.nn.init: fill a tensor with initial values in place (torch.nn.init's names).

    w = nn.Parameter(edu_nn.empty(256, 784))
    nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")   # N(0, 2 / fan_in)

"In place" here means the function rebinds ``tensor.array`` (edu_nn arrays are immutable)
and returns the same tensor, so a Parameter keeps its identity.

Draws are made in NumPy from a key of an edu_nn ``Generator`` (``generator=``, default: the
one ``edu_nn.manual_seed`` seeds) and then converted, so a model built with the same seed
starts from identical weights on every backend. Draws are float64, then cast to the
tensor's dtype.

fan_in / fan_out of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
fan_out = out * prod(kernel) (torch's convention for Linear and Conv weights).
"""
from __future__ import annotations

import math

import numpy as np

from ..creation import Generator, default_generator
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended std multiplier for a nonlinearity: 1 for linear and sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``,
    default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"linear, sigmoid, tanh, relu, leaky_relu, selu, conv1d, conv2d")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions (shape {tensor.shape}); xavier/kaiming init is "
                         f"for weights of shape (out, in, *kernel), use uniform_/normal_ or "
                         f"zeros_ for a bias")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, draw, generator: Generator | None, who: str) -> Tensor:
    """Rebind ``tensor.array`` to ``draw(rng, shape)`` (float64 NumPy) in the tensor's dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{who}: expected an edu_nn Tensor (e.g. layer.weight), got "
                        f"{type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"init.{who}: the tensor is {tensor.dtype}; initialisers fill "
                        f"floating-point tensors")
    rng = np.random.default_rng((generator or default_generator).next_key().entropy())
    values = np.asarray(draw(rng, tensor.shape), dtype=np.float64)
    tensor._set_array(tensor.backend.asarray(values, tensor.dtype, tensor.device))
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Fill with draws from U(a, b)."""
    if not a <= b:
        raise ValueError(f"init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill(tensor, lambda rng, shape: rng.uniform(a, b, shape), generator, "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    return _fill(tensor, lambda rng, shape: rng.normal(mean, std, shape), generator, "normal_")


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2) draws, redrawing those outside [a, b]."""
    if not a < b:
        raise ValueError(f"init.trunc_normal_: need a < b, got a={a}, b={b}")

    def draw(rng, shape):
        out = rng.normal(mean, std, shape)
        bad = (out < a) | (out > b)
        while bad.any():  # rejection sampling; fine for the usual [-2 std, 2 std] window
            out[bad] = rng.normal(mean, std, int(bad.sum()))
            bad = (out < a) | (out > b)
        return out
    return _fill(tensor, draw, generator, "trunc_normal_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, lambda rng, shape: np.full(shape, float(val)), None, "constant_")


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d tensor with the identity (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: only 2-d tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, lambda rng, shape: np.eye(*shape), None, "eye_")


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain =
    calculate_gain(nonlinearity, a). (torch's Linear/Conv default is a = sqrt(5), which gives
    bound = 1 / sqrt(fan_in).)"""
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan); for ReLU N(0, 2 / fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)
