"""Which backend a new tensor goes to.

Precedence, highest first: an explicit ``backend=`` argument > the innermost
``with edu_nn.use_backend(name)`` > ``edu_nn.set_backend(name)`` > the ``EDU_NN_BACKEND``
environment variable > ``"numpy"``. Existing tensors keep the backend they were made on, so
tensors of several backends coexist in one process.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator, Union

from .backends import Backend, load_backend

BackendLike = Union[str, Backend, None]

_global_backend: str | None = None
_context_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "edu_nn_backend", default=None)


def _name_of(backend: BackendLike) -> str:
    if isinstance(backend, Backend):
        return backend.name
    if not isinstance(backend, str):
        raise TypeError(f"a backend is named by a string such as 'numpy', 'torch' or 'jax'; "
                        f"got {type(backend).__name__}")
    return backend


def set_backend(backend: BackendLike) -> None:
    """Make ``backend`` the default for new tensors (``None`` clears it)."""
    global _global_backend
    if backend is None:
        _global_backend = None
        return
    name = _name_of(backend)
    load_backend(name)  # fail now, with the install hint, rather than at the first tensor
    _global_backend = name


@contextlib.contextmanager
def use_backend(backend: BackendLike) -> Iterator[Backend]:
    """Within the block, new tensors go to ``backend`` (unless given ``backend=``)."""
    name = _name_of(backend)
    selected = load_backend(name)
    token = _context_backend.set(name)
    try:
        yield selected
    finally:
        _context_backend.reset(token)


def get_backend(backend: BackendLike = None) -> Backend:
    """The Backend instance that ``backend`` names, or the selected default."""
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        backend = (_context_backend.get() or _global_backend
                   or os.environ.get("EDU_NN_BACKEND") or "numpy")
    return load_backend(_name_of(backend))
