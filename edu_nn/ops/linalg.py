"""Linear algebra: ``matmul`` (the ``@`` operator), with NumPy's and torch's rules.

    a: (K,)            b: (K,)            -> ()               a dot product
    a: (K,)            b: (*B, K, N)      -> (*B, N)          a is a row vector (1, K)
    a: (*B, M, K)      b: (K,)            -> (*B, M)          b is a column vector (K, 1)
    a: (*Ba, M, K)     b: (*Bb, K, N)     -> (*B, M, N)       B = broadcast(Ba, Bb)

Backward, for out = a @ b with upstream gradient g (all shapes promoted to >= 2 dims):

    da = g @ b^T        db = a^T @ g

The engine sums these over broadcast batch dims; this module undoes the 1-d promotion.
"""
from __future__ import annotations

from ..autograd.function import ArrayFunction
from ..tensor import Tensor
from .elementwise import operand

__all__ = ["matmul", "mm", "bmm", "mv", "dot"]


def _swap_last(xp, x):
    """x with its last two axes swapped (a view on NumPy, not a copy)."""
    axes = list(range(len(x.shape)))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return xp.permute_dims(x, axes)


class Matmul(ArrayFunction):
    """``a @ b``; see the module docstring for the shapes."""
    same_dtype = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        a_vec, b_vec = len(a.shape) == 1, len(b.shape) == 1
        # Promote to matrices as forward did: a (K,) is a row (1, K), b (K,) a column (K, 1),
        # and the gradient gets back the size-1 axes that the promotion dropped.
        a2 = xp.reshape(a, (1, a.shape[0])) if a_vec else a
        b2 = xp.reshape(b, (b.shape[0], 1)) if b_vec else b
        g = xp.expand_dims(grad, -1) if b_vec else grad
        g = xp.expand_dims(g, -2) if a_vec else g
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.matmul(g, _swap_last(xp, b2))              # (*B, M, K)
            if a_vec:
                ga = xp.squeeze(ga, -2)                         # (*B, K): engine sums *B
        if ctx.needs_input_grad[1]:
            if len(b2.shape) == 2 and len(a2.shape) > 2:
                # A batch times one matrix (a Linear layer on (N, T, D) inputs): summing
                # a_i^T g_i over the batch is one big matrix product over the flattened
                # batch, instead of a batch of products and a sum.
                k, n = a2.shape[-1], g.shape[-1]
                gb = xp.matmul(_swap_last(xp, xp.reshape(a2, (-1, k))), xp.reshape(g, (-1, n)))
            else:
                gb = xp.matmul(_swap_last(xp, a2), g)            # (*B, K, N)
            if b_vec:
                gb = xp.squeeze(gb, -1)                         # (*B, K)
        return ga, gb


def matmul(input, other):
    """Matrix product ``input @ other`` with NumPy's rules (batched, broadcast, 1-d promoted).

    input: (K,) or (*B1, M, K); other: (K,) or (*B2, K, N). Returns (*B, M, N) with the
    dims of a 1-d argument dropped (see the module docstring). Both must share one dtype.
    """
    like = input if isinstance(input, Tensor) else other
    if not isinstance(like, Tensor):
        raise TypeError(f"matmul: expected edu_nn Tensors, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    a, b = operand(input, like, "matmul"), operand(other, like, "matmul")
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both arguments must be tensors (a Python number has no "
                        "dims to multiply); for scaling use *")
    check_matmul_shapes(a.shape, b.shape)
    return Matmul.apply(a, b)


def check_matmul_shapes(sa: tuple, sb: tuple) -> None:
    """Raise a teaching error unless shapes ``sa`` @ ``sb`` is defined."""
    if not sa or not sb:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes {sa} and "
                         f"{sb}; to scale by a 0-d tensor use * instead of @")
    k_a, k_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        which = "first dim" if len(sb) == 1 else "second-to-last dim"
        raise ValueError(f"matmul: shapes {sa} and {sb} do not align: {k_a} != {k_b} (the "
                         f"last dim of the first must equal the {which} of the second; "
                         f"a transpose missing?)")
    batch_a, batch_b = sa[:-2], sb[:-2]
    for da, db in zip(reversed(batch_a), reversed(batch_b)):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"matmul: batch dims {batch_a} and {batch_b} of shapes {sa} and "
                             f"{sb} do not broadcast: {da} != {db} (batch dims must be equal "
                             f"or 1)")


# torch's fixed-rank spellings of matmul: same Function, stricter shape checks, so that a
# tutorial's shape mistake fails the way it fails in torch.
def _check_ranks(op: str, input, other, ranks: tuple[int, int], shapes: str) -> None:
    got = (getattr(input, "ndim", None), getattr(other, "ndim", None))
    if got != ranks:
        raise ValueError(f"{op}: expects {shapes}, got tensors with shapes "
                         f"{getattr(input, 'shape', input)} and {getattr(other, 'shape', other)}"
                         f"; use matmul (@) for other shapes")


def mm(input, mat2):
    """Matrix product of 2-d tensors: (n, m) @ (m, p) -> (n, p)."""
    _check_ranks("mm", input, mat2, (2, 2), "two 2-d tensors (n, m) and (m, p)")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched matrix product of 3-d tensors: (b, n, m) @ (b, m, p) -> (b, n, p)."""
    _check_ranks("bmm", input, mat2, (3, 3), "two 3-d tensors (b, n, m) and (b, m, p)")
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: {input.shape[0]} and {mat2.shape[0]} "
                         f"(shapes {input.shape} and {mat2.shape})")
    return matmul(input, mat2)


def mv(input, vec):
    """Matrix-vector product: (n, m) @ (m,) -> (n,)."""
    _check_ranks("mv", input, vec, (2, 1), "a 2-d and a 1-d tensor (n, m) and (m,)")
    return matmul(input, vec)


def dot(input, other):
    """Inner product of two 1-d tensors of the same length -> a 0-d tensor."""
    _check_ranks("dot", input, other, (1, 1), "two 1-d tensors of the same length")
    return matmul(input, other)
