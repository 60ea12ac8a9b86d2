"""Interop with PyTorch and JAX: edu_nn ops inside their autodiff, and data in and out.

An edu_nn op is a :class:`~edu_nn.ArrayFunction` whose forward and backward are written
against the backend contract, and the torch and JAX backends' arrays *are* ``torch.Tensor``
and ``jax.Array``. So a student's op runs unchanged inside the other frameworks' autodiff:

    LinearT = to_torch_function(Linear)          # a torch.autograd.Function subclass
    y = LinearT.apply(x, w, b)                   # x, w, b: torch tensors
    torch.autograd.gradcheck(LinearT.apply, (x, w, b))   # torch checks the hand-written backward

    softmax = to_jax_function(Softmax, axis=-1)  # a jax.custom_vjp function of arrays
    jax.grad(lambda x: softmax(x)[0, 1])(x)      # JAX calls the hand-written backward

That is the third leg of the gradient triangulation in DESIGN.md: finite differences,
``torch.autograd``, ``jax.vjp``, each checking the same backward.

Data exchange (always copies: an edu_nn tensor never shares memory that someone else can
write, donate or delete): :func:`from_torch`, :func:`from_jax`, :func:`to_torch`,
:func:`to_jax`, :func:`to_numpy`. They move values only: the autograd graph stays behind.

torch and jax are imported inside the functions, never when this module is imported, so
``import edu_nn`` stays free of them.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np

from .autograd.engine import sum_to_shape
from .autograd.function import ArrayFunction
from .backends import load_backend
from .tensor import Tensor, tensor

__all__ = ["to_torch_function", "to_jax_function", "from_torch", "from_jax", "to_torch",
           "to_jax", "to_numpy"]


# ------------------------------------------------------------ shared helpers
def _check_function_class(fn_class, who: str) -> None:
    if not (isinstance(fn_class, type) and issubclass(fn_class, ArrayFunction)):
        raise TypeError(f"{who}: expected an edu_nn ArrayFunction subclass (a class with forward "
                        f"and backward staticmethods, e.g. edu_nn.ops.elementwise.Mul), got "
                        f"{fn_class!r}")


def _new_ctx(fn_class, backend, arrays: tuple):
    """A fresh instance of ``fn_class`` set up as ``Function.apply`` would: the ctx that its
    forward and backward see."""
    first = next((a for a in arrays if backend.is_array(a)), None)
    if first is None:
        raise TypeError(f"{fn_class.__name__}: needs at least one {backend.name} array "
                        f"argument; got {', '.join(type(a).__name__ for a in arrays)}")
    if fn_class.same_dtype:
        dtypes = {backend.dtype_of(a) for a in arrays if backend.is_array(a)}
        if len(dtypes) > 1:
            a, b = sorted(dtypes)
            raise TypeError(f"{fn_class.__name__}: dtypes differ: {a} and {b}. edu_nn does "
                            f"not promote silently; convert one first (e.g. .to({a}))")
    ctx = fn_class()
    ctx.xp = backend
    ctx.device = backend.device_of(first)
    return ctx


def _run_backward(fn_class, ctx, grad, arrays_meta: tuple, needs: tuple) -> tuple:
    """Call the op's backward and fit its gradients to the arguments, as the engine does:
    one per argument (extra trailing ones must be None: arguments given as static
    keywords; missing trailing ones are None when nothing needs them: defaults that torch
    filled in), broadcast gradients summed back to the argument's shape, dtypes kept."""
    grads = type(ctx).backward(ctx, grad)
    if type(grads) is not tuple:
        grads = (grads,)
    n = len(arrays_meta)
    if len(grads) < n and not any(needs[len(grads):]):
        grads = grads + (None,) * (n - len(grads))
    if len(grads) < n or any(g is not None for g in grads[n:]):
        raise RuntimeError(
            f"{fn_class.__name__}.backward returned {len(grads)} gradient(s) for {n} "
            f"argument(s): return one per forward argument, None for those that need no "
            f"gradient.")
    out = []
    for i, (g, meta, need) in enumerate(zip(grads, arrays_meta, needs)):
        if g is None or not need or meta is None:
            out.append(None)
            continue
        shape, dtype = meta
        if tuple(g.shape) != shape:
            try:
                g = sum_to_shape(ctx.xp, g, shape)
            except ValueError:
                raise RuntimeError(
                    f"{fn_class.__name__}.backward returned a gradient of shape "
                    f"{tuple(g.shape)} for argument {i}, whose shape is {shape}; it must "
                    f"have the argument's shape (or one it broadcasts to).") from None
        if ctx.xp.dtype_of(g) != dtype:
            raise RuntimeError(
                f"{fn_class.__name__}.backward returned a {ctx.xp.dtype_of(g)} gradient for "
                f"argument {i}, which is {dtype}; gradients keep their argument's dtype.")
        out.append(g)
    return tuple(out)


def _public_signature(fn_class, static_kwargs: dict) -> inspect.Signature:
    """The forward's signature without ``ctx``, the static keywords, and keyword-only
    parameters (those can only be given as static keywords)."""
    params = list(inspect.signature(fn_class.forward).parameters.values())[1:]
    kept = [p for p in params if p.name not in static_kwargs
            and p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    return inspect.Signature(kept)


# --------------------------------------------------------------------- torch
def to_torch_function(fn_class, **static_kwargs) -> type:
    """``fn_class`` (an edu_nn ArrayFunction) as a ``torch.autograd.Function`` subclass.

    The forward and backward are edu_nn's, run on the torch backend: the arrays they see
    are the (detached) torch tensors themselves, no copies. torch records the graph and calls
    the hand-written backward, so ``torch.autograd.gradcheck`` can check it.

    Args:
        fn_class: a subclass of :class:`edu_nn.ArrayFunction`.
        static_kwargs: keyword arguments fixed for every call (required for keyword-only
            forward parameters such as ``Cat``'s ``dim``).

    Call it as ``Wrapped.apply(*args)``: tensors and the forward's other arguments in the
    forward's order (or by name; defaults apply), e.g. ``SumT.apply(x, (0, 2), False)``.
    Backward is once-differentiable (edu_nn's backwards are not recorded).
    """
    _check_function_class(fn_class, "to_torch_function")
    import torch
    from torch.autograd.function import once_differentiable

    backend = load_backend("torch")

    def forward(*args):
        arrays = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
        ctx = _new_ctx(fn_class, backend, arrays)
        out = fn_class.forward(ctx, *arrays, **static_kwargs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{fn_class.__name__}.forward returned {type(out).__name__}, not "
                            f"an array of the torch backend")
        # A view of an input (reshape, a basic slice) would alias it behind torch's back.
        ptr = out.untyped_storage().data_ptr()
        if any(isinstance(a, torch.Tensor) and a.untyped_storage().data_ptr() == ptr
               for a in arrays):
            out = out.clone()
        out._edu_nn_ctx = ctx  # handed to setup_context, which takes it off again
        return out

    forward.__signature__ = _public_signature(fn_class, static_kwargs)

    def setup_context(ctx, inputs, output):
        ctx.edu_nn_ctx = output.__dict__.pop("_edu_nn_ctx")
        ctx.arrays_meta = tuple((tuple(a.shape), backend.dtype_of(a))
                                if isinstance(a, torch.Tensor) else None for a in inputs)
        if not fn_class.differentiable:
            ctx.mark_non_differentiable(output)

    @once_differentiable
    def backward(ctx, grad_output):
        node = ctx.edu_nn_ctx
        node.needs_input_grad = tuple(ctx.needs_input_grad)
        return _run_backward(fn_class, node, grad_output.detach(), ctx.arrays_meta,
                             node.needs_input_grad)

    return type(f"{fn_class.__name__}Torch", (torch.autograd.Function,), {
        "__doc__": f"edu_nn's {fn_class.__name__} (forward and hand-written backward) as a "
                   f"torch.autograd.Function; made by edu_nn.interop.to_torch_function.",
        "__module__": fn_class.__module__,
        "edu_nn_function": fn_class,
        "forward": staticmethod(forward),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward),
    })


# ----------------------------------------------------------------------- jax
def to_jax_function(fn_class, **static_kwargs):
    """``fn_class`` (an edu_nn ArrayFunction) as a ``jax.custom_vjp`` function of arrays.

    ``f = to_jax_function(Sum, dims=(0,), keepdim=False)``; then ``f(x)`` runs edu_nn's
    forward on the jax backend, and ``jax.grad``/``jax.vjp`` call edu_nn's backward. Works
    under ``jax.jit`` for ops whose forward and backward need no concrete index values.

    Args:
        fn_class: a subclass of :class:`edu_nn.ArrayFunction`.
        static_kwargs: every non-array argument of the forward (axes, flags), by name. The
            positional arguments of ``f`` are arrays, all differentiable (integer and bool
            ones get no gradient).
    """
    _check_function_class(fn_class, "to_jax_function")
    import jax
    import jax.numpy as jnp

    backend = load_backend("jax")

    def run_forward(args):
        # NumPy arrays (jax.test_util's finite differences pass them) become jax arrays;
        # Python scalars stay weakly typed
        args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        ctx = _new_ctx(fn_class, backend, args)
        return ctx, fn_class.forward(ctx, *args, **static_kwargs)

    @jax.custom_vjp
    def f(*args):
        return run_forward(args)[1]

    def f_fwd(*args):
        ctx, out = run_forward(args)
        args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        meta = tuple((tuple(a.shape), backend.dtype_of(a)) if backend.is_array(a) else None
                     for a in args)
        return out, _residuals(jax, ctx, meta)

    def f_bwd(res, grad):
        ctx, meta = res.ctx, res.meta
        if isinstance(grad, np.ndarray):  # jax.test_util passes NumPy cotangents
            grad = jnp.asarray(grad)
        needs = tuple(m is not None and m[1].startswith("float") for m in meta)
        ctx.needs_input_grad = needs
        return _run_backward(fn_class, ctx, grad, meta, needs)

    f.defvjp(f_fwd, f_bwd)
    f.__name__ = f.__qualname__ = f"{fn_class.__name__.lower()}_jax"
    f.__doc__ = (f"edu_nn's {fn_class.__name__} (forward and hand-written backward) as a "
                 f"jax.custom_vjp function; static arguments {static_kwargs}.")
    f.edu_nn_function = fn_class
    return f


class _Residuals:
    """What a custom_vjp forward passes to its backward: the edu_nn ctx (with its saved
    arrays and plain attributes such as shapes and axes) and the arguments' (shape, dtype).

    JAX needs residuals to be a pytree of arrays, so this class is registered as one: the
    ctx's arrays are the leaves, everything else (the backend, ints, tuples) rides along as
    static data and is put back around the leaves when JAX rebuilds it.
    """

    def __init__(self, ctx, meta):
        self.ctx, self.meta = ctx, meta


class _Static:
    """Static pytree data compared by identity (it may hold unhashable things)."""

    def __init__(self, value):
        self.value = value


@functools.lru_cache(maxsize=None)
def _register_residuals(jax) -> None:
    def flatten(res):
        state = dict(vars(res.ctx))
        leaves, treedef = jax.tree_util.tree_flatten(state)
        is_array = tuple(isinstance(v, jax.Array) for v in leaves)
        arrays = [v for v, a in zip(leaves, is_array) if a]
        static = [None if a else v for v, a in zip(leaves, is_array)]
        return arrays, _Static((type(res.ctx), treedef, is_array, static, res.meta))

    def unflatten(aux, arrays):
        cls, treedef, is_array, static, meta = aux.value
        it = iter(arrays)
        leaves = [next(it) if a else v for v, a in zip(static, is_array)]
        ctx = cls.__new__(cls)
        vars(ctx).update(jax.tree_util.tree_unflatten(treedef, leaves))
        return _Residuals(ctx, meta)

    jax.tree_util.register_pytree_node(_Residuals, flatten, unflatten)


def _residuals(jax, ctx, meta) -> _Residuals:
    _register_residuals(jax)
    return _Residuals(ctx, meta)


# ------------------------------------------------------------- data exchange
def from_torch(t, requires_grad: bool = False) -> Tensor:
    """An edu_nn Tensor on the torch backend holding a copy of the torch tensor ``t``,
    with its dtype and device. ``t``'s autograd history is not carried over."""
    import torch
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"from_torch: expected a torch.Tensor, got {type(t).__name__}")
    return tensor(t.detach(), backend="torch", requires_grad=requires_grad)


def from_jax(a, requires_grad: bool = False) -> Tensor:
    """An edu_nn Tensor on the jax backend holding a copy of the JAX array ``a``, with its
    dtype and device. (JAX arrays are immutable, but they can be deleted or donated to a
    jitted function; the copy keeps the tensor valid when that happens to ``a``.)"""
    import jax
    if not isinstance(a, jax.Array):
        raise TypeError(f"from_jax: expected a jax.Array, got {type(a).__name__}")
    return tensor(a.copy(), backend="jax", requires_grad=requires_grad)


def _values(t, who: str):
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: expected an edu_nn Tensor, got {type(t).__name__}")
    return t.backend, t.array


def to_torch(t: Tensor):
    """A ``torch.Tensor`` copy of ``t``'s values, same dtype, on the device of the same name.
    Values only: the result does not require grad (call ``.requires_grad_()`` on it)."""
    backend, data = _values(t, "to_torch")
    if backend.name == "torch":
        return data.detach().clone()
    return load_backend("torch").asarray(backend.to_numpy(data), device=t.device)


def to_jax(t: Tensor):
    """A ``jax.Array`` copy of ``t``'s values, same dtype, on the device of the same name
    (float64 needs JAX's x64 mode, as for the jax backend). Values only, no graph."""
    backend, data = _values(t, "to_jax")
    if backend.name == "jax":
        return data.copy()
    return load_backend("jax").asarray(backend.to_numpy(data), device=t.device)


def to_numpy(t: Any) -> np.ndarray:
    """A NumPy copy of the values of ``t``: an edu_nn Tensor (any backend, with or without
    grad: the graph is not needed for values), a torch tensor, a JAX array or array-like.
    Writing into the result never changes ``t``."""
    if isinstance(t, Tensor):
        return np.array(t.backend.to_numpy(t.array), copy=True)
    if hasattr(t, "detach") and hasattr(t, "cpu"):  # a torch tensor, without importing torch
        return np.array(t.detach().cpu().numpy(), copy=True)
    return np.array(t, copy=True)
