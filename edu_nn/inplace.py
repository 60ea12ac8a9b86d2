"""In-place ops (``x.add_(y)``, ``x += y``, ``x[i] = v``, ``x.zero_()``, ...) with torch's
autograd rules, on immutable arrays.

No backend array is ever written into (JAX's cannot be). An in-place op computes the new
values out of place, with the ordinary differentiable ops, and then *rebinds* the tensor's
array (``Tensor._set_array``, which also rebinds the aliases made by ``.data`` and
``detach()``, and bumps the shared version counter). The autograd rules are torch's:

1. A leaf that requires grad (a parameter) may be changed in place only under ``no_grad``
   (a parameter update); anywhere else it is torch's error, because the change would not
   be part of any graph.
2. Under ``no_grad``, or when nothing involved requires grad, nothing is recorded.
3. Otherwise the op is recorded: the tensor becomes a non-leaf whose ``grad_fn`` is the
   op's node, and that node's input is a *snapshot* of the tensor before the change (a
   tensor holding the old array and the old ``grad_fn``). ``node._previous_version`` points
   at that snapshot, so that the backward engine can send the gradients of ops that used the
   tensor *before* the change to the old version (as torch's edges do).
4. A result of basic indexing (``x[0]``, ``x[:, 1:3]``) is a view, as in torch: an in-place
   op on it is written back into its base (``x[0].zero_()`` changes ``x``, through
   ``x[key] = new``). The other direction does not hold (see docs/torch_compat.md).
5. Changing a tensor that a recorded op saved for its backward (an input of ``Mul``, the
   output of ``Exp``) is an error when that backward runs, naming the op, as torch's
   version counter does. The engine detects it by identity: each recorded node keeps the
   arrays it was called with (``ctx._arrays``); an input whose array is no longer that one
   was changed in place after the op ran. So that this costs nothing in the common loop
   (no in-place op between forward and backward), ``_set_array`` counts every rebinding
   (``state.mutations``), each node notes the count when it runs, and backward compares a
   node's inputs only when the count has moved since.
"""
from __future__ import annotations

from numbers import Number

from .autograd.function import ArrayFunction
from .autograd.grad_mode import state
from .tensor import Tensor, _storage_of

_LEAF_ERROR = (
    "a leaf Variable that requires grad is being used in an in-place operation. "
    "(edu_nn: {op} would change {what} outside any graph. Update parameters inside "
    "`with edu_nn.no_grad():`, or change p.data instead.)")


def _check_leaf(t: Tensor, op: str) -> None:
    if t.requires_grad and t.grad_fn is None and state.grad_enabled:
        raise RuntimeError(_LEAF_ERROR.format(op=op, what=f"a leaf of shape {t.shape} that "
                                                          f"requires grad"))


def _run(t: Tensor, compute, op: str, others=()) -> Tensor:
    """Compute ``compute(old t)`` out of place and make it ``t``'s new value, by the rules
    in the module docstring. ``others``: the other Tensor arguments (for rule 2)."""
    _check_leaf(t, op)
    view = getattr(t, "_view_of", None)
    base = view
    while base is not None:  # x[0].zero_() on a parameter: torch refuses before changing
        _check_leaf(base[0], op)
        base = getattr(base[0], "_view_of", None)
    _storage_of(t)  # so the version counter counts this change
    record = state.grad_enabled and (
        t.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others))
    src = Tensor._make(t.array, t.backend, t.device, t.requires_grad, t.grad_fn) \
        if record else t
    out = compute(src)
    out = _fit(t, out, op)
    _mark_saved_output(t, op)
    t._set_array(out.array)
    if record and out.grad_fn is not None:
        out.grad_fn._previous_version = src
        t.grad_fn, t.requires_grad = out.grad_fn, True
    if view is not None:  # t = base[key] is a view: the change reaches base, as in torch
        setitem(view[0], view[1], t)
    return t


def _fit(t: Tensor, out: Tensor, op: str) -> Tensor:
    """torch's rules for an in-place result: the tensor keeps its shape and its dtype."""
    if out.shape != t.shape:
        raise RuntimeError(f"{op}: output with shape {list(t.shape)} doesn't match the "
                           f"broadcast shape {list(out.shape)} (an in-place op cannot change "
                           f"a tensor's shape; use the out-of-place op instead)")
    if out.dtype != t.dtype:
        if out.is_floating_point() and not t.is_floating_point():
            raise RuntimeError(f"{op}: result type {out.dtype} can't be cast to the desired "
                               f"output type {t.dtype} (convert the tensor first, e.g. "
                               f"t = t.float())")
        from .ops import cast
        out = cast(out, t.dtype)
    return out


def _mark_saved_output(t: Tensor, op: str) -> None:
    """If the op that produced ``t`` saved ``t``'s array (as Exp saves its output), make its
    backward raise: it would need the values this change overwrites (torch's rule). The
    mark is made by replacing one entry of the node's ``_arrays`` with a sentinel, so the
    engine's ordinary identity check (one ``is`` per input) finds it at no extra cost."""
    node = t.grad_fn
    saved = getattr(node, "_saved", None) if node is not None else None
    arrays = getattr(node, "_arrays", None) if node is not None else None
    if not saved or arrays is None or not any(s is t.array for s in saved):
        return
    for k, inp in enumerate(node.inputs):
        if inp is not None:
            node._arrays = list(arrays)
            node._arrays[k] = _SENTINEL
            node._changed_output = (op, t.shape, t.dtype)
            return


_SENTINEL = object()


def modified_error(node, k: int, inp) -> RuntimeError:
    """torch's error for a saved tensor that was changed in place before backward."""
    name = type(node).__name__ + "Backward"  # as grad_fn prints it
    changed = getattr(node, "_changed_output", None)
    if changed is not None:
        op, shape, dtype = changed
        what = (f"output 0 of {name} (a {dtype} tensor of shape {shape}) was changed "
                f"by {op} after {name} saved it")
    else:
        what = (f"argument {k} of {name} (a {inp.dtype} tensor of shape {inp.shape}, "
                f"now at version {inp._version}) was changed in place after {name} "
                f"saved it")
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what}. Hint: do the in-place change after backward(), or use "
        f"the out-of-place op (y = y + 1 instead of y += 1), or .clone() the tensor first.")


# ------------------------------------------------------------------ the ops
def binary(t: Tensor, other, fn, op: str) -> Tensor:
    """``t.add_(other)``, ``t += other`` and friends: ``t = fn(t, other)`` in place."""
    return _run(t, lambda src: fn(src, other), op, (other,))


def unary(t: Tensor, fn, op: str) -> Tensor:
    return _run(t, fn, op)


class Fill(ArrayFunction):
    """x -> a tensor like x filled with ``value`` (x's gradient is zero)."""

    @staticmethod
    def forward(ctx, x, value):
        return ctx.xp.full(tuple(x.shape), value, ctx.xp.dtype_of(x), ctx.device)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.zeros_like(grad), None


class Copy(ArrayFunction):
    """(dst, src) -> src broadcast to dst's shape in dst's dtype (dst's gradient is zero)."""

    @staticmethod
    def forward(ctx, dst, src):
        xp = ctx.xp
        ctx.src_dtype = xp.dtype_of(src)
        return xp.broadcast_to(xp.astype(src, xp.dtype_of(dst)), tuple(dst.shape))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        return (xp.zeros_like(grad) if ctx.needs_input_grad[0] else None,
                xp.astype(grad, ctx.src_dtype) if ctx.needs_input_grad[1] else None)


class SetItem(ArrayFunction):
    """(x, value, key) -> x with ``value`` (broadcast to ``x[key]``'s shape) at ``x[key]``.

    Built from pure primitives, exactly: a mask of the positions the key selects and the
    values scattered into zeros (``add_at``), then ``where``. A position selected twice by
    an index array receives the sum of its values (torch leaves that case undefined)."""

    @staticmethod
    def forward(ctx, x, value, key):
        xp = ctx.xp
        dtype, shape = xp.dtype_of(x), tuple(x.shape)
        selected = xp.getitem(x, key)
        vals = xp.broadcast_to(xp.astype(value, dtype) if xp.is_array(value)
                               else xp.full((), value, dtype, ctx.device),
                               tuple(selected.shape))
        ones = xp.ones(tuple(selected.shape), dtype, ctx.device)
        mask = xp.greater(xp.add_at(xp.zeros(shape, dtype, ctx.device), key, ones), 0)
        ctx.mask, ctx.key = mask, key
        ctx.value_dtype = xp.dtype_of(value) if xp.is_array(value) else None
        return xp.where(mask, xp.add_at(xp.zeros(shape, dtype, ctx.device), key, vals), x)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        gx = (xp.where(ctx.mask, xp.zeros_like(grad), grad)
              if ctx.needs_input_grad[0] else None)
        gv = None
        if ctx.needs_input_grad[1]:
            gv = xp.getitem(grad, ctx.key)
            if ctx.value_dtype is not None and ctx.value_dtype != xp.dtype_of(gv):
                gv = xp.astype(gv, ctx.value_dtype)
        return gx, gv, None


def fill(t: Tensor, value, op: str) -> Tensor:
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.ndim > 0:
            raise RuntimeError(f"{op}: only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        return copy(t, value, op)
    if not isinstance(value, Number):
        raise TypeError(f"{op}: value must be a number or a 0-d Tensor, got "
                        f"{type(value).__name__}")
    return _run(t, lambda src: Fill.apply(src, value), op)


def copy(t: Tensor, src, op: str = "copy_") -> Tensor:
    if not isinstance(src, Tensor):
        from .tensor import tensor
        src = tensor(src, dtype=t.dtype, backend=t.backend, device=t.device)
    if src.backend is not t.backend:  # torch's copy_ moves across devices; we across backends
        src = src.to(backend=t.backend, device=t.device)
    return _run(t, lambda old: Copy.apply(old, src), op, (src,))


def setitem(t: Tensor, key, value) -> None:
    """``t[key] = value`` (value: a number or a Tensor that broadcasts to ``t[key]``)."""
    from .ops.indexing import _checked_key
    checked = _checked_key(t, key, "setitem")
    if isinstance(value, Tensor):
        if value.backend is not t.backend or value.device != t.device:
            raise RuntimeError(f"t[key] = value: value is on backend {value.backend.name!r}, "
                               f"device {value.device!r}; t on {t.backend.name!r}, "
                               f"{t.device!r}. Move it first with .to(...)")
    elif not isinstance(value, Number):
        from .tensor import tensor
        value = tensor(value, dtype=t.dtype, backend=t.backend, device=t.device)
    _run(t, lambda src: SetItem.apply(src, value, checked), "setitem (t[key] = value)",
         (value,))


def random(t: Tensor, kind: str, p1, p2, generator, op: str) -> Tensor:
    """``uniform_(a, b)`` / ``normal_(mean, std)``: new draws of the default generator (or
    ``generator``), in the tensor's dtype, on its backend and device."""
    from .creation import rand, randn
    draw = rand if kind == "uniform" else randn
    if kind == "uniform" and not p1 <= p2:
        raise ValueError(f"{op}: expects a <= b, got a={p1}, b={p2}")
    if kind == "normal" and p2 < 0:
        raise ValueError(f"{op}: expects std >= 0, got std={p2}")

    def compute(src):
        with _no_grad():
            x = draw(*t.shape, generator=generator, dtype=t.dtype, backend=t.backend,
                     device=t.device)
            x = x * (p2 - p1) + p1 if kind == "uniform" else x * p2 + p1
        return Fill.apply(src, 0.0) + x if src.requires_grad and state.grad_enabled else x
    return _run(t, compute, op)


def _no_grad():
    from .autograd.grad_mode import no_grad
    return no_grad()
