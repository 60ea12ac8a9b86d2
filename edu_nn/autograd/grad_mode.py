"""Switches that change how the graph is recorded: ``no_grad`` and ``detect_anomaly``.

Both are plain module-level flags read on every op (a contextvar lookup would cost more
than the rest of the dispatch for small tensors). They are not thread-safe, like the rest of
edu_nn's global settings; each process (and each grader child) has its own.
"""
from __future__ import annotations

import contextlib


class _State:
    grad_enabled = True
    anomaly = False
    #: How many times a Tensor's array was rebound in place (``Tensor._set_array``) in this
    #: process. Each recorded node notes the count when it runs; backward checks a node's
    #: inputs for in-place changes only if the count moved since (see autograd/engine.py).
    mutations = 0


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Enable or disable graph recording, as a context manager, decorator or call."""

    def __init__(self, mode: bool) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        state.grad_enabled = self.prev


class no_grad(contextlib.ContextDecorator):
    """Inside ``with edu_nn.no_grad():`` ops record no graph and results do not require
    grad (evaluation, parameter updates). Also usable as a decorator."""

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = False

    def __exit__(self, *exc) -> None:
        state.grad_enabled = self.prev


class enable_grad(contextlib.ContextDecorator):
    """Re-enable graph recording inside a ``no_grad`` block."""

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = True

    def __exit__(self, *exc) -> None:
        state.grad_enabled = self.prev


class detect_anomaly(contextlib.ContextDecorator):
    """Opt-in checks that name the op where a NaN or inf first appears.

    With it on, every op checks its forward result and every backward checks the gradients
    it returns; the first non-finite value raises ``FloatingPointError`` naming the op, and
    for backward errors also where that op was called in the forward pass. It slows every
    op down, so it is off by default::

        with edu_nn.detect_anomaly():
            loss = model(x).log().sum()
            loss.backward()
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.prev = state.anomaly
        state.anomaly = self.enabled

    def __exit__(self, *exc) -> None:
        state.anomaly = self.prev


def is_anomaly_enabled() -> bool:
    return state.anomaly


__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "detect_anomaly", "is_anomaly_enabled"]
