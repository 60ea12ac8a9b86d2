"""Running sums and sorting: cumsum, sort, argsort, topk (torch's names and return types).

``cumsum`` is its own Function: the gradient of an inclusive running sum is the running sum
of the upstream gradient taken from the other end, ``flip(cumsum(flip(grad)))``.

``sort`` and ``topk`` are not new Functions: they find the order with the backend's
``argsort`` (not differentiable, like any index) and pick the values with
``take_along_dim``, whose backward already scatters each gradient back to the position the
value came from.
"""
from __future__ import annotations

from typing import NamedTuple

from ..autograd.function import ArrayFunction
from ..tensor import Tensor
from .indexing import take_along_dim
from .shape import _dim, narrow

__all__ = ["cumsum", "sort", "argsort", "topk"]


class CumSum(ArrayFunction):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return ctx.xp.cumsum(x, axis)

    @staticmethod
    def backward(ctx, grad):
        xp, axis = ctx.xp, ctx.axis
        return xp.flip(xp.cumsum(xp.flip(grad, axis), axis), axis), None


def cumsum(input, dim: int, *, dtype=None):
    """Running sum along ``dim``: ``out[..., i, ...] = input[..., :i+1, ...].sum(dim)``.

    input: any shape with at least 1 dim (a 0-d tensor is treated as shape (1,), as torch
    does) -> output: the same shape.
    """
    if dtype is not None:
        input = input.to(dtype)
    elif not input.is_floating_point() and input.dtype != "int64":  # torch: ints sum in int64
        input = input.to("int64")
    if input.ndim == 0:
        return input
    return CumSum.apply(input, _dim(dim, input.ndim, "cumsum"))


class SortResult(NamedTuple):
    """What ``sort`` and ``topk`` return, like torch.return_types: (values, indices)."""
    values: Tensor
    indices: Tensor


def _order(input, dim: int, descending: bool, op: str) -> tuple[Tensor, int]:
    d = _dim(dim, max(input.ndim, 1), op)
    x = input.array if input.ndim else input.backend.reshape(input.array, (1,))
    order = input.backend.argsort(x, axis=d, descending=bool(descending))
    if not input.ndim:
        order = input.backend.reshape(order, ())
    return Tensor._make(order, input.backend, input.device), d


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = True):
    """int64 indices that sort ``input`` along ``dim`` (stable: equal values keep their order)."""
    return _order(input, dim, descending, "argsort")[0]


def sort(input, dim: int = -1, descending: bool = False, stable: bool = True) -> SortResult:
    """(values, indices): ``input`` sorted along ``dim``; values are differentiable."""
    indices, d = _order(input, dim, descending, "sort")
    if not input.ndim:
        return SortResult(input.clone(), indices)
    return SortResult(take_along_dim(input, indices, d), indices)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:
    """(values, indices) of the ``k`` largest (``largest=False``: smallest) entries along
    ``dim``, largest first. input: (..., n, ...) -> both outputs (..., k, ...)."""
    d = _dim(dim, max(input.ndim, 1), "topk")
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise IndexError(f"topk: k={k} is out of range for dim {dim} of size {n} "
                         f"(tensor shape {input.shape}); k must be between 0 and {n}")
    indices, _ = _order(input, d, largest, "topk")
    if not input.ndim:
        return SortResult(input.clone(), indices)
    indices = narrow(indices, d, 0, k)
    return SortResult(take_along_dim(input, indices, d), indices)
