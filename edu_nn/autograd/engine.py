"""Reverse-mode differentiation: walk the graph from the output back to the leaves.

The whole algorithm, in the words of the lecture: forwards we compose, backwards we
multiply. Starting from d(output)/d(output) = ``gradient``, visit every node after all the
nodes that use its output (reverse topological order), ask the node's ``backward`` for the
gradients of its inputs, and add them up where a tensor was used more than once (x * x, or a
diamond a -> b, c -> d). Leaves (tensors made by the user with ``requires_grad=True``)
accumulate into ``.grad``, across calls, as in torch.
"""
from __future__ import annotations

from .grad_mode import state


def sum_to_shape(xp, grad, shape: tuple[int, ...]):
    """Undo broadcasting: sum ``grad`` down to ``shape``. The one place that does this.

    Broadcasting an input of shape ``shape`` to the output's shape copied it along (a) new
    leading axes and (b) axes where ``shape`` has size 1; the gradient of a copy is the sum of
    the gradients of its copies, so those axes are summed.
    """
    gshape = tuple(grad.shape)
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, gshape[lead:])):
        raise ValueError(f"cannot sum a gradient of shape {gshape} to shape {shape}")
    if lead:
        grad = xp.sum(grad, axis=tuple(range(lead)))
    axes = tuple(i for i, (s, g) in enumerate(zip(shape, gshape[lead:])) if s == 1 and g != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return grad


def topological_order(root) -> list:
    """Nodes reachable from ``root`` (a Function instance), each before all its inputs.

    An iterative depth-first search (deep graphs would overflow Python's recursion limit):
    a node is appended after everything below it, and the list reversed at the end.
    """
    order = []
    visited = {root}
    stack = [(root, iter(root.inputs))]
    while stack:
        node, inputs = stack[-1]
        for inp in inputs:
            child = inp.grad_fn if inp is not None else None
            if child is not None and child not in visited:
                visited.add(child)
                stack.append((child, iter(child.inputs)))
                break
        else:  # every input of node is done
            stack.pop()
            order.append(node)
    order.reverse()  # every node now precedes the nodes it consumes
    return order


def run_backward(output, grad, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (an array shaped like ``output``) from ``output``'s node."""
    root = output.grad_fn
    pending = {root: grad}  # node -> summed gradient of that node's output
    anomaly = state.anomaly
    mutations = state.mutations
    for node in topological_order(root):
        grad_out = pending.pop(node, None)
        if grad_out is None:  # no path from the root carries gradient here
            continue
        if node._retained is not None:
            _accumulate(node._retained, grad_out)
        inputs = node.inputs
        if node._epoch != mutations:  # some tensor was changed in place since this op ran:
            inputs = _inputs_as_used(node)  # was it one of its inputs? (inplace.py)
        grads = type(node).backward(node, grad_out)
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) != len(inputs):
            raise RuntimeError(
                f"{type(node).__name__}.backward returned {len(grads)} gradient(s) but forward "
                f"took {len(inputs)} argument(s): return one per forward argument, "
                f"None for those that need no gradient.")
        if anomaly:
            _check_backward_finite(node, grads)
        for inp, g, need in zip(inputs, grads, node.needs_input_grad):
            if g is None or not need:
                continue
            data = inp.array
            # dtypes are compared by identity first: NumPy's dtype == is slow, and equal
            # builtin dtypes are the same object.
            if g.shape != data.shape or (g.dtype is not data.dtype and g.dtype != data.dtype):
                g = _fit_gradient(node, _position(inputs, grads, inp, g), inp, g)
            parent = inp.grad_fn
            if parent is None:  # a leaf: inp.grad += g
                if inp.grad is None:  # the first gradient (each step after zero_grad)
                    inp.grad = _make_tensor(g, inp.backend, inp.device)
                else:
                    _accumulate(inp, g)
            else:
                prev = pending.get(parent)
                pending[parent] = g if prev is None else node.xp.add(prev, g)
        if not retain_graph:
            node._saved = None  # freed: its saved_tensors now raises, as in torch
            # and the input arrays kept for the in-place check are let go, so an optimizer
            # may update a parameter's array in place while `loss` is still alive (a second
            # backward then finds no saved array to compare: the freed-graph error, or for a
            # node that saved nothing torch's answer, a recomputed gradient).
            node._arrays = None


def _inputs_as_used(node) -> tuple:
    """The node's inputs as they were when it ran, for inputs changed in place since.

    A changed input that the node saved for backward is torch's error (its version
    counter). One it did not save (``y = x + 1`` then ``x.mul_(2)``) is fine, but its
    gradient belongs to the version the node used: follow the chain of in-place nodes
    back (``_previous_version``) to the snapshot holding that array."""
    from ..inplace import modified_error
    arrays = node._arrays
    if arrays is None:  # freed by an earlier backward: nothing left to compare with
        return node.inputs
    saved = node._saved or ()
    fixed = []
    for k, inp in enumerate(node.inputs):
        used = arrays[k]
        if inp is None or inp.array is used:
            fixed.append(inp)
            continue
        if used is _sentinel() or any(s is used for s in saved):
            raise modified_error(node, k, inp)
        version = inp
        while version.array is not used and version.grad_fn is not None:
            previous = getattr(version.grad_fn, "_previous_version", None)
            if previous is None:
                break
            version = previous
        fixed.append(version if version.array is used else inp)
    return tuple(fixed)


def _sentinel():
    from ..inplace import _SENTINEL
    return _SENTINEL


def _position(inputs, grads, inp, g) -> int:
    """Which argument the gradient ``g`` of ``inp`` belongs to (for error messages only)."""
    return next(i for i in range(len(grads)) if grads[i] is g and inputs[i] is inp)


def _fit_gradient(node, i, inp, g):
    """Check a gradient returned by ``backward`` against its input; sum broadcast axes."""
    shape = inp.shape
    if tuple(g.shape) != shape:  # a gradient in the broadcast shape: sum it back
        try:
            g = sum_to_shape(node.xp, g, shape)
        except ValueError:
            hint = (" It looks transposed." if tuple(g.shape) == shape[::-1] else "")
            raise RuntimeError(
                f"{type(node).__name__}.backward returned a gradient of shape "
                f"{tuple(g.shape)} for argument {i}, whose shape is {shape}; the gradient "
                f"must have the argument's shape (or a shape it broadcasts to).{hint}") from None
    if g.dtype != inp.array.dtype:
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a {node.xp.dtype_of(g)} gradient for "
            f"argument {i}, which is {inp.dtype}; gradients keep their argument's dtype "
            f"(check for float64 constants such as np.ones(...) mixed into a float32 graph).")
    return g


def _accumulate(tensor, g) -> None:
    """``tensor.grad += g``, out of place (arrays are never mutated). The gradient is a plain
    Tensor, also when ``tensor`` is a Parameter (as in torch)."""
    old = tensor.grad
    tensor.grad = Tensor._make(g if old is None else tensor.backend.add(old.array, g),
                               tensor.backend, tensor.device)


def _check_backward_finite(node, grads) -> None:
    xp = node.xp
    for i, g in enumerate(grads):
        if g is not None and xp.dtype_of(g).startswith("float") and not xp.all(xp.isfinite(g)):
            where = getattr(node, "_creation_site", "(recorded only when detect_anomaly was "
                                                     "on during the forward pass)")
            raise FloatingPointError(
                f"detect_anomaly: {type(node).__name__}.backward returned NaN or inf in the "
                f"gradient of argument {i}. That op was called here in the forward pass:\n"
                f"{where}")


from ..tensor import Tensor  # noqa: E402  (tensor.py imports this module at its end)

_make_tensor = Tensor._make
