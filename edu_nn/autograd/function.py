"""``ArrayFunction``: one differentiable op, with its forward and backward side by side.

edu_nn has two Function classes; know which one you are writing:

* ``edu_nn.ArrayFunction`` (this file): forward and backward see the backend's *native
  arrays* and compute with ``ctx.xp``'s primitives. Every op in ``edu_nn.ops`` is one, and
  so are the ops students write in the assignments.
* ``edu_nn.autograd.Function`` (``tensor_function.py``): torch's class, whose forward and
  backward see *Tensors* and may use Tensor methods, so that torch tutorials' custom
  Functions (``MyReLU``) run unchanged. It is built on this one.

An ArrayFunction looks like this::

    class Mul(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):           # a, b: backend arrays (or Python scalars)
            ctx.save_for_backward(a, b)
            return ctx.xp.multiply(a, b)

        @staticmethod
        def backward(ctx, grad_output):   # grad_output: array shaped like the output
            a, b = ctx.saved_tensors
            return ctx.xp.multiply(grad_output, b), ctx.xp.multiply(grad_output, a)

    z = Mul.apply(x, y)                   # x, y: Tensors; z: a Tensor with z.grad_fn

``forward`` and ``backward`` see the backend's native arrays, never Tensors, and compute
only with the primitives of ``ctx.xp`` (the backend), so one op runs on every backend.
``backward`` returns one gradient per argument of ``forward`` (``None`` for arguments that
are not differentiable, such as an axis). A gradient may have the *broadcast* shape: the
engine sums it back to the input's shape in one place (``sum_to_shape``), so no op repeats
that logic.

Each call of ``apply`` makes a fresh instance of the Function class; that instance is the
``ctx`` and also the graph node stored as the output's ``grad_fn``.
"""
from __future__ import annotations

import os
import traceback
from typing import Any

from .grad_mode import state


class ArrayFunction:
    """Base class of every differentiable op, working on native arrays. Subclass it and
    define two staticmethods:

    ``forward(ctx, *args, **kwargs) -> array`` and
    ``backward(ctx, grad_output) -> gradient or tuple of gradients (one per forward arg)``.

    Class attributes an op may set:
        differentiable: False for ops whose output never requires grad (comparisons).
        same_dtype: True for ops whose tensor arguments must share one dtype.
        promotes: with same_dtype, arguments of different dtypes are first converted to
            their common dtype by torch's rule (``promote_types``; elementwise arithmetic
            and comparisons); without it they are an error (matmul, conv).
    """

    differentiable = True
    same_dtype = False
    promotes = False

    # Set on the instance (the ctx) by apply:
    xp: Any            # the backend (its primitives are the only way to touch arrays)
    inputs: tuple      # the forward arguments that are Tensors, None for the others
    needs_input_grad: tuple

    # Per-node state, as class-level defaults that an instance shadows when it sets them
    # (cheaper than an __init__ on every op call).
    _saved: tuple | None = ()   # None once backward has freed the graph
    _epoch = -1                 # state.mutations when the node ran (-1: always check)
    _retained = None

    # ------------------------------------------------------------ for ops
    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for backward; read them back with ``ctx.saved_tensors``."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to use "
                f"{self.name()}'s saved arrays after they were freed). The first backward() "
                f"frees the graph's saved arrays to save memory; call "
                f".backward(retain_graph=True) the first time if you need to backward "
                f"through it again.")
        return self._saved

    def name(self) -> str:
        """The node's name as torch prints it, e.g. ``MulBackward`` (a method, as in torch)."""
        return type(self).__name__ + "Backward"

    @property
    def next_functions(self) -> tuple:
        """The graph edges as torch shows them: one ``(node, 0)`` pair per Tensor input, where
        node is the input's ``grad_fn``, an :class:`AccumulateGrad` for a leaf that requires
        grad, or None for an input that needs no gradient. (Empty on a node whose graph was
        not recorded.)"""
        edges = []
        for t in getattr(self, "inputs", ()):
            if t is None:
                continue
            node = t.grad_fn if t.grad_fn is not None else (
                AccumulateGrad(t) if t.requires_grad else None)
            edges.append((node, 0))
        return tuple(edges)

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output)")

    # ------------------------------------------------------------ dispatch
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on the arrays inside ``args`` and record the graph node.

        Tensor arguments must share one backend and one device; Python scalars and other
        non-Tensor arguments pass through to ``forward`` unchanged. (This runs for every op,
        so it is written for speed: one pass over the arguments, no generator expressions.)
        """
        first = None
        requires_grad = False
        arrays = []
        inputs = []   # the graph edges: the Tensor arguments, None for the others
        needs = []    # which of them require grad
        for a in args:
            if isinstance(a, Tensor):
                if first is None:
                    first = a
                elif a.backend is not first.backend or a.device != first.device:
                    _raise_mixed(cls, first, a)
                elif (cls.same_dtype and a.array.dtype is not first.array.dtype
                      and a.array.dtype != first.array.dtype):
                    if cls.promotes:
                        return _apply_promoted(cls, args, kwargs)
                    _raise_dtype_mismatch(cls, first, a)
                if a.requires_grad:
                    requires_grad = True
                    needs.append(True)
                else:
                    needs.append(False)
                arrays.append(a.array)
                inputs.append(a)
            else:
                arrays.append(a)
                inputs.append(None)
                needs.append(False)
        if first is None:
            raise TypeError(f"{cls.__name__}.apply needs at least one edu_nn Tensor argument; "
                            f"got {', '.join(type(a).__name__ for a in args)}")
        backend, device = first.backend, first.device
        ctx = cls()
        ctx.xp = backend
        ctx.device = device
        record = requires_grad and cls.differentiable and state.grad_enabled
        if record:
            ctx.inputs = tuple(inputs)
            ctx.needs_input_grad = tuple(needs)
            ctx._arrays = arrays  # what each input held: in-place changes are found by `is`
            ctx._epoch = state.mutations  # ... and only looked for if any happened since
        out = cls.forward(ctx, *arrays, **kwargs)
        if state.anomaly:
            _check_forward_finite(ctx, args, out)
            ctx._creation_site = _caller_outside_edu_nn()
        # Tensor._make inlined: one call less per op (0.98 -> 0.92 us for a 2-input op)
        t = _new_object(Tensor)
        t.array = out
        t.backend = backend
        t.device = device
        t.requires_grad = record
        t.grad = None
        t.grad_fn = ctx if record else None
        return t


_new_object = object.__new__


class AccumulateGrad:
    """The graph node torch shows for a leaf: backward adds into ``variable.grad``."""

    next_functions: tuple = ()

    def __init__(self, variable) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad>"

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_outside_edu_nn() -> str:
    """The innermost stack frame outside the edu_nn package, formatted (for anomaly mode)."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR + os.sep):
            return "".join(traceback.format_list([frame])).rstrip()
    return "(unknown)"


def _raise_mixed(cls, a, b) -> None:
    if a.backend is not b.backend:
        raise RuntimeError(
            f"{cls.__name__}: tensors on different backends: {a.backend.name!r} and "
            f"{b.backend.name!r}. Move one with .to(backend={a.backend.name!r}) first.")
    raise RuntimeError(f"{cls.__name__}: tensors on different devices: {a.device!r} and "
                       f"{b.device!r}. Move one with .to({a.device!r}) first.")


def _apply_promoted(cls, args, kwargs):
    """Convert the Tensor arguments to their common dtype (torch's promote_types) with the
    differentiable cast, then apply; a float32 input of a float64 op gets its gradient back
    in float32 through the cast, and integer inputs get none (they cannot require grad)."""
    from ..dtypes import promote_types
    from ..ops import cast
    common = None
    for a in args:
        if isinstance(a, Tensor):
            common = a.dtype if common is None else promote_types(common, a.dtype)
    args = [cast(a, common) if isinstance(a, Tensor) and a.dtype != common else a
            for a in args]
    return cls.apply(*args, **kwargs)


def _raise_dtype_mismatch(cls, a, b) -> None:
    raise TypeError(
        f"{cls.__name__}: dtypes differ: {a.dtype} and {b.dtype}, and this op does not "
        f"promote them (as in torch); convert one first, e.g. b.to({a.dtype!r}) or "
        f"b.{_method_for(a.dtype)}().")


def _method_for(dtype: str) -> str:
    return {"float64": "double", "float32": "float", "int64": "long"}.get(dtype, "to")


def _check_forward_finite(ctx, args, out) -> None:
    xp = ctx.xp
    if xp.dtype_of(out).startswith("float") and not xp.all(xp.isfinite(out)):
        inputs_finite = all(
            not isinstance(a, Tensor) or not a.dtype.startswith("float")
            or xp.all(xp.isfinite(a.array)) for a in args)
        if inputs_finite:
            raise FloatingPointError(
                f"detect_anomaly: {type(ctx).__name__} produced NaN or inf in its forward "
                f"pass from finite inputs (shape {tuple(out.shape)}). Look at the inputs "
                f"of this op: log or division of zero, exp of a large number, sqrt of a "
                f"negative?")


from ..tensor import Tensor  # noqa: E402  (Tensor's methods use Function subclasses)
