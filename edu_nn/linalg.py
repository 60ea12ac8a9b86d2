"""``edu_nn.linalg``: the part of torch.linalg that course code uses (d2l: ``linalg.norm``).

    norm(x, ord=None, dim=None, keepdim=False)    vector 2-norm (or ``ord``) of x
    vector_norm(x, ord=2, dim=None, keepdim=False)

Both are compositions of differentiable ops (``edu_nn.ops.composite.norm``).
"""
from __future__ import annotations

from .ops.composite import norm as _norm

__all__ = ["norm", "vector_norm"]


def vector_norm(x, ord=2, dim=None, keepdim=False):
    """The ``ord``-norm of x's elements over ``dim`` (all by default)."""
    return _norm(x, ord, dim, keepdim)


def norm(x, ord=None, dim=None, keepdim=False):
    """torch.linalg.norm for vectors (and the Frobenius norm of a matrix: ``ord=None``
    flattens). Matrix norms other than Frobenius (``ord=2`` on a matrix: the largest
    singular value) are not supported."""
    if ord is not None and x.ndim == 2 and dim is None and ord not in ("fro",):
        raise NotImplementedError(f"linalg.norm: the matrix norm ord={ord!r} is not supported "
                                  f"in edu_nn; use ord=None ('fro') or a vector dim=")
    return _norm(x, 2 if ord is None else ord, dim, keepdim)
