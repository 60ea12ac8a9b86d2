"""embedding: look up rows of a weight matrix by integer index.

Forward is a gather, ``out[..., :] = weight[input[...], :]``. Backward is the matching
scatter-add: every occurrence of index i adds its upstream gradient row into row i of the
weight's gradient, so an index used three times gets three contributions (a plain
assignment ``gw[idx] = grad`` would keep only one of them: the classic bug).
"""
from __future__ import annotations

from ..autograd.function import ArrayFunction
from ..tensor import Tensor

__all__ = ["embedding"]


class Embedding(ArrayFunction):
    """indices: (*) int64 in [0, V); weight: (V, D); out: (*, D).

    padding_idx (a non-negative int or None): that row's gradient is always zero.
    """

    @staticmethod
    def forward(ctx, indices, weight, *, padding_idx):
        xp = ctx.xp
        ctx.save_for_backward(indices)
        ctx.weight_shape, ctx.weight_dtype, ctx.padding_idx = (
            tuple(weight.shape), xp.dtype_of(weight), padding_idx)
        return xp.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        xp = ctx.xp
        v, d = ctx.weight_shape
        rows = xp.reshape(grad, (-1, d))  # one upstream row per looked-up index
        gw = xp.index_add(xp.zeros((v, d), ctx.weight_dtype, ctx.device), 0,
                          xp.reshape(indices, (-1,)), rows)
        if ctx.padding_idx is not None:
            row_ids = xp.reshape(xp.arange(v, device=ctx.device), (v, 1))
            gw = xp.where(xp.equal(row_ids, ctx.padding_idx), 0.0, gw)
        return None, gw


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by ``input`` (torch.nn.functional.embedding).

    input: (*) integer indices in [0, num_embeddings); weight: (num_embeddings,
    embedding_dim); returns (*, embedding_dim). padding_idx: an index whose row receives no
    gradient (negative counts from the end, as in torch); the forward still returns that
    row, which nn.Embedding initialises to zeros.
    """
    op = "embedding"
    for name, value, default in (("max_norm", max_norm, None),
                                 ("scale_grad_by_freq", scale_grad_by_freq, False),
                                 ("sparse", sparse, False)):
        if value != default:
            raise NotImplementedError(f"{op}: {name}={value!r} is not supported by edu_nn "
                                      f"(only the default {name}={default!r}); leave it out")
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be edu_nn Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-d (num_embeddings, embedding_dim), got shape "
                         f"{weight.shape}")
    if not input.dtype.startswith(("int", "uint")):
        raise TypeError(f"{op}: input must hold integer indices (int64), got {input.dtype}; "
                        f"convert it with .long()")
    v = weight.shape[0]
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"{op}: padding_idx={padding_idx} must be within num_embeddings: "
                             f"in [{-v}, {v - 1}] for a weight with {v} rows")
        padding_idx = int(padding_idx) % v
    if input.numel():
        xp = input.backend
        if xp.item(xp.min(input.array)) < 0 or xp.item(xp.max(input.array)) >= v:
            values = xp.to_numpy(input.array)
            bad = values[(values < 0) | (values >= v)]
            raise IndexError(f"{op}: index {int(bad[0])} is out of range for an embedding with "
                             f"num_embeddings={v}: indices must be in [0, {v - 1}]")
    if input.dtype != "int64":
        input = input.long()
    return Embedding.apply(input, weight, padding_idx=padding_idx)
