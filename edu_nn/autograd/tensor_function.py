"""``Function``: torch's ``torch.autograd.Function``, whose forward and backward see Tensors.

edu_nn has two Function classes; know which one you are writing:

* ``edu_nn.autograd.Function`` (this file, also ``edu_nn.Function``): torch's API. forward
  and backward receive edu_nn *Tensors* and may use any Tensor method or op
  (``input.clamp(min=0)``, ``grad_output.clone()``, ``grad[input < 0] = 0``), so the custom
  Functions of torch tutorials run unchanged under ``import edu_nn as torch``::

      class MyReLU(torch.autograd.Function):
          @staticmethod
          def forward(ctx, input):
              ctx.save_for_backward(input)
              return input.clamp(min=0)

          @staticmethod
          def backward(ctx, grad_output):
              input, = ctx.saved_tensors
              grad_input = grad_output.clone()
              grad_input[input < 0] = 0
              return grad_input

* ``edu_nn.ArrayFunction`` (``function.py``): edu_nn's own, one level down. forward and
  backward see the backend's *native arrays* and compute with ``ctx.xp``'s primitives.
  Every op in ``edu_nn.ops`` is one, and the assignments ask for these.

How this one works: ``apply`` runs an ArrayFunction (one per Function subclass, made on
first use) whose forward wraps the input arrays as Tensors cut from the graph and calls
your ``forward`` under ``no_grad`` (the ops inside are not recorded: your backward is the
gradient), and whose backward wraps the upstream gradient as a Tensor, calls your
``backward``, and hands the arrays of its results to the engine. So the engine, the
broadcasting rule and the in-place checks are the same as for every other op.

ctx offers what torch's does: ``save_for_backward(*tensors)``, ``saved_tensors``,
``needs_input_grad`` (in forward too), ``mark_non_differentiable(*outputs)``,
``set_materialize_grads(value)``, and any attribute you set (``ctx.constant = 3``).
Differences: forward returns one Tensor (a tuple of outputs is not supported); higher-order
gradients (``create_graph=True``) are not supported, as everywhere in edu_nn.
"""
from __future__ import annotations

from .function import ArrayFunction
from .grad_mode import no_grad


class Function:
    """Base class for custom differentiable functions written with Tensors (torch's API).

    Subclass it and define the staticmethods ``forward(ctx, *inputs) -> Tensor`` and
    ``backward(ctx, grad_output) -> one gradient (Tensor or None) per forward input``;
    call it with ``YourFunction.apply(*inputs)``. (Alternatively, as in torch 2,
    ``forward(*inputs)`` without ctx plus ``setup_context(ctx, inputs, output)``.)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs), "
                                  "returning a Tensor")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output), "
                                  "returning one gradient per input of forward")

    setup_context = None  # torch 2's optional split of forward: see the class docstring

    @classmethod
    def apply(cls, *args):
        """Run ``forward`` on ``args`` and record one graph node whose backward is yours."""
        node_class = cls.__dict__.get("_edu_nn_node")
        if node_class is None:  # one ArrayFunction per subclass, named like it for grad_fn
            node_class = type(cls.__name__, (_TensorFunctionNode,), {"user_function": cls})
            cls._edu_nn_node = node_class
        from ..tensor import Tensor
        from .grad_mode import state
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        if not positions:
            raise TypeError(f"{cls.__name__}.apply needs at least one edu_nn Tensor argument")
        needs = tuple(isinstance(a, Tensor) and a.requires_grad and state.grad_enabled
                      for a in args)
        out = node_class.apply(*args, _tensor_positions=positions, _needs=needs)
        node = out.grad_fn
        if node is not None and getattr(node, "_non_differentiable", False):
            out.grad_fn, out.requires_grad = None, False
        return out

    # Called on a subclass itself, Function(...) would be torch's deprecated old style.
    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(f"{type(self).__name__}: call {type(self).__name__}.apply(...) "
                           f"instead of instantiating the Function (torch's rule too)")


class _TensorFunctionNode(ArrayFunction):
    """The graph node (and ctx) of a Tensor-level Function; its forward/backward translate
    between arrays and Tensors around the user's forward/backward."""

    user_function: type = Function

    @staticmethod
    def forward(ctx, *arrays, _tensor_positions=(), _needs=()):
        from ..tensor import Tensor
        user = type(ctx).user_function
        ctx.needs_input_grad = _needs
        inputs = [Tensor._make(a, ctx.xp, ctx.device) if i in _tensor_positions else a
                  for i, a in enumerate(arrays)]
        with no_grad():
            if user.setup_context is not None:
                out = user.forward(*inputs)
                user.setup_context(ctx, tuple(inputs), out)
            else:
                out = user.forward(ctx, *inputs)
        if isinstance(out, tuple):
            raise NotImplementedError(
                f"{user.__name__}.forward returned a tuple: edu_nn's custom Functions return "
                f"one Tensor. Split it into one Function per output.")
        if not isinstance(out, Tensor):
            raise TypeError(f"{user.__name__}.forward must return an edu_nn Tensor, got "
                            f"{type(out).__name__}")
        if any(a is out.array for a in getattr(ctx, "_marked_arrays", ())):
            ctx._non_differentiable = True
        return out.array

    @staticmethod
    def backward(ctx, grad):
        from ..tensor import Tensor
        user = type(ctx).user_function
        with no_grad():
            grads = user.backward(ctx, Tensor._make(grad, ctx.xp, ctx.device))
        if not isinstance(grads, tuple):
            grads = (grads,)
        return tuple(_as_array(g, user, i) for i, g in enumerate(grads))

    # ------------------------------------------------------------ torch's ctx
    def save_for_backward(self, *tensors) -> None:
        """Keep Tensors (or None) for backward; read them back with ``ctx.saved_tensors``."""
        from ..tensor import Tensor
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save Tensors or None, got "
                                f"{type(t).__name__} (keep other values as ctx attributes, "
                                f"e.g. ctx.alpha = alpha)")
        # The arrays are what the engine checks for in-place changes (inplace.py).
        self._saved = tuple(None if t is None else t.array for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        from ..tensor import Tensor
        arrays = ArrayFunction.saved_tensors.fget(self)  # raises once the graph is freed
        return tuple(None if a is None else Tensor._make(a, self.xp, self.device)
                     for a in arrays)

    def mark_non_differentiable(self, *outputs) -> None:
        """The output does not require grad (e.g. an argmax index returned by forward)."""
        self._marked_arrays = tuple(o.array for o in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for torch compatibility; edu_nn always passes a gradient array."""
        self._materialize_grads = value

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("mark_dirty: in-place changes inside a custom Function's "
                                  "forward are not supported; return a new tensor instead")


def _as_array(g, user, i):
    from ..tensor import Tensor
    if g is None:
        return None
    if isinstance(g, Tensor):
        return g.array
    raise TypeError(f"{user.__name__}.backward returned {type(g).__name__} for input {i}; "
                    f"return a Tensor (or None for an input that needs no gradient)")
