"""Adaptive average pooling (torch.nn.functional.adaptive_avg_pool1d/2d) and one_hot.

Output bin i of ``out`` bins over an input of length ``n`` averages the input from
``floor(i * n / out)`` to ``ceil((i + 1) * n / out)`` (exclusive), torch's rule, so bins may
overlap when ``out`` does not divide ``n``. When it does, the bins are a plain average pool
(kernel = stride = n / out), the fast path; otherwise each bin is a ``narrow`` and a
``mean``, so no new backward is needed.
"""
from __future__ import annotations

from ..tensor import Tensor
from .pooling import avg_pool1d, avg_pool2d
from .reduction import mean
from .shape import cat, narrow

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "one_hot"]


def _bins(n: int, out: int) -> list[tuple[int, int]]:
    return [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]


def _pool_dim(x: Tensor, dim: int, out: int) -> Tensor:
    return cat([mean(narrow(x, dim, a, b - a), dim, keepdim=True) for a, b in
                _bins(x.shape[dim], out)], dim)


def _sizes(output_size, n: int, op: str) -> tuple:
    sizes = (output_size,) * n if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(sizes) != n or any(s is not None and (not isinstance(s, int) or s <= 0) for s in sizes):
        raise ValueError(f"{op}: output_size must be a positive int or {n} of them (None keeps "
                         f"that size), got {output_size!r}")
    return sizes


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """input: (N, C, L) or (C, L) -> (N, C, output_size) or (C, output_size)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"adaptive_avg_pool1d: expected (N, C, L) or (C, L), got {input.shape}")
    (out,) = _sizes(output_size, 1, "adaptive_avg_pool1d")
    n = input.shape[-1]
    if out is None or out == n:
        return input
    if n % out == 0:
        return avg_pool1d(input, n // out)
    return _pool_dim(input, input.ndim - 1, out)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """input: (N, C, H, W) or (C, H, W) -> (..., oH, oW); an int gives a square output,
    None in a pair keeps that size."""
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected (N, C, H, W) or (C, H, W), got "
                         f"{input.shape}")
    oh, ow = _sizes(output_size, 2, "adaptive_avg_pool2d")
    h, w = input.shape[-2:]
    oh, ow = oh or h, ow or w
    if h % oh == 0 and w % ow == 0:
        return input if (oh, ow) == (h, w) else avg_pool2d(input, (h // oh, w // ow))
    return _pool_dim(_pool_dim(input, input.ndim - 2, oh), input.ndim - 1, ow)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (*, num_classes) with a 1 at each index of ``tensor`` (int64 labels, any shape).
    num_classes=-1: one more than the largest label."""
    import numpy as np
    if tensor.is_floating_point() or tensor.dtype == "bool":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got "
                        f"{tensor.dtype}; convert with .long()")
    labels = tensor.backend.to_numpy(tensor.array).astype(np.int64)
    if num_classes < 0:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got "
                         f"{int(labels.min())}..{int(labels.max())}")
    out = (labels[..., None] == np.arange(num_classes)).astype(np.int64)
    return Tensor._make(tensor.backend.asarray(out, "int64", tensor.device), tensor.backend,
                        tensor.device)
