"""Part 2: a tiny autograd engine, micrograd style, on NumPy arrays.

A ``Tensor`` holds a float64 array ``data``, the ``parents`` it was computed from and a
``backward_fn`` that maps the gradient of this tensor to the gradients of its parents (a tuple,
one array per parent, each with that parent's shape). The operators below (given) build such
graphs with your Part 1 functions; your job is ``Tensor.backward``, which runs the whole
backward pass:

    x = Tensor(np.array([1.0, 2.0]))
    y = (x * x + x).sum()            # x is used three times
    y.backward()                     # x.grad == 2 * x.data + 1

You write only ``Tensor.backward``; everything else in this file is given.
"""
import numpy as np

import backward_ops as ops


class Tensor:
    """A node of the computation graph.

    Attributes:
    - data: np.ndarray (float64), the value.
    - grad: None until a backward pass reaches this node, then an array of data's shape.
    - parents: tuple of Tensors this one was computed from (empty for a leaf).
    - backward_fn: None for a leaf, else a function g -> tuple of gradients, one per parent
      in the order of ``parents``, where g is dL/dself (shape of data).
    """

    def __init__(self, data, parents=(), backward_fn=None, name=""):
        self.data = np.array(data, dtype=np.float64)
        self.grad = None
        self.parents = tuple(parents)
        self.backward_fn = backward_fn
        self.name = name

    def __repr__(self):
        return f"Tensor({self.name or 'unnamed'}, shape={self.data.shape})"

    @property
    def shape(self):
        return self.data.shape

    # ------------------------------------------------------------------ the operators (given)
    def __add__(self, other):
        other = _lift(other)
        return Tensor(self.data + other.data, (self, other),
                      lambda g: ops.add_backward(self.data, other.data, g), "add")

    def __mul__(self, other):
        other = _lift(other)
        return Tensor(self.data * other.data, (self, other),
                      lambda g: ops.mul_backward(self.data, other.data, g), "mul")

    def __matmul__(self, other):
        return Tensor(self.data @ other.data, (self, other),
                      lambda g: ops.matmul_backward(self.data, other.data, g), "matmul")

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-_lift(other))

    def sum(self, axis=None, keepdims=False):
        return Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,),
                      lambda g: (ops.sum_backward(self.data, g, axis, keepdims),), "sum")

    def exp(self):
        return Tensor(np.exp(self.data), (self,),
                      lambda g: (ops.exp_backward(self.data, g),), "exp")

    def log(self):
        return Tensor(np.log(self.data), (self,),
                      lambda g: (ops.log_backward(self.data, g),), "log")

    def tanh(self):
        return Tensor(np.tanh(self.data), (self,),
                      lambda g: (ops.tanh_backward(self.data, g),), "tanh")

    def sigmoid(self):
        return Tensor(1.0 / (1.0 + np.exp(-self.data)), (self,),
                      lambda g: (ops.sigmoid_backward(self.data, g),), "sigmoid")

    def relu(self):
        return Tensor(np.maximum(self.data, 0.0), (self,),
                      lambda g: (ops.relu_backward(self.data, g),), "relu")

    def softmax(self, axis=-1):
        e = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        return Tensor(e / e.sum(axis=axis, keepdims=True), (self,),
                      lambda g: (ops.softmax_backward(self.data, g, axis),), "softmax")

    def transpose(self, axes):
        axes = tuple(axes)
        return Tensor(np.transpose(self.data, axes), (self,),
                      lambda g: (ops.transpose_backward(self.data, g, axes),), "transpose")

    # ------------------------------------------------------------------ your part
    def backward(self, grad=None):
        """Backpropagate from this tensor through the graph that produced it.

        Inputs:
        - grad: dL/dself, an array of self.data's shape. It may be omitted only when self holds
          a single number (a loss): then it is 1.0 (of self.data's shape). Omitting it for any
          other tensor raises a ValueError that says so.

        Effect: every tensor from which self was computed (self included) gets, in ``.grad``,
        the gradient of L with respect to it, where L = sum(grad * self.data):
        - a tensor used several times (x * x, or a "diamond" where two paths meet) receives the
          SUM of the gradients along all paths;
        - ``.grad`` is accumulated, as in PyTorch: if a tensor already has a ``.grad`` (from an
          earlier backward call), this call adds to it. Only this call's gradients flow to the
          parents, so keep this call's gradients in a local dict (keyed by id(tensor)) and add
          them to the ``.grad`` attributes at the end;
        - each node's ``backward_fn`` is called once, after all the gradient of that node has
          been summed: visit the nodes in reverse topological order (a node before its parents).
        Graphs can be deeper than Python's recursion limit (a chain of 5000 ops): build the
        topological order with an explicit stack, not recursion.

        Returns None.
        """
        # BEGIN SOLUTION
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: grad can be omitted only for a tensor with one "
                                 f"element, this one has shape {self.data.shape}")
            grad = np.ones_like(self.data)
        grad = np.array(grad, dtype=np.float64)
        if grad.shape != self.data.shape:
            raise ValueError(f"backward: grad has shape {grad.shape}, expected "
                             f"{self.data.shape}")

        # Iterative post-order depth-first search: a node is appended after all its parents.
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, finished = stack.pop()
            if finished:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents if id(p) not in visited)

        grads = {id(self): grad}
        for node in reversed(order):      # every consumer comes before its inputs
            g = grads[id(node)]
            if node.backward_fn is None:
                continue
            for parent, pg in zip(node.parents, node.backward_fn(g)):
                if id(parent) in grads:
                    grads[id(parent)] = grads[id(parent)] + pg
                else:
                    grads[id(parent)] = np.array(pg, dtype=np.float64)
        for node in order:
            g = grads[id(node)]
            node.grad = g if node.grad is None else node.grad + g
        # END SOLUTION


def _lift(value):
    """Wrap a Python number or array as a constant leaf Tensor."""
    return value if isinstance(value, Tensor) else Tensor(value, name="constant")
