"""Trusted harness for Part 2: builds graphs with your Tensor class and returns the gradients.

The grader runs these functions next to your files (each call in a fresh process) and compares
what they return with a reference computed separately. Most graphs here use nodes whose
``backward_fn`` is written below, so that they test your ``Tensor.backward`` alone, not your
Part 1 functions; ``end_to_end`` uses the operators of tiny_tensor.py (and so Part 1 too).
You can call these functions yourself to debug.
"""
import numpy as np

from tiny_tensor import Tensor


# Trusted nodes: same-shape inputs, gradients written out here.
def _node(op, args, const):
    if op == "add":
        a, b = args
        return Tensor(a.data + b.data, (a, b), lambda g: (g, g), "add")
    if op == "mul":
        a, b = args
        return Tensor(a.data * b.data, (a, b), lambda g: (g * b.data, g * a.data), "mul")
    if op == "tanh":
        (a,) = args
        t = np.tanh(a.data)
        return Tensor(t, (a,), lambda g: (g * (1.0 - t ** 2),), "tanh")
    if op == "scale":
        (a,) = args
        return Tensor(a.data * const, (a,), lambda g: (g * const,), "scale")
    raise ValueError(f"unknown op {op!r}")


def run_program(inputs, program, grad):
    """Build a graph from a program and backpropagate ``grad`` from its last node.

    Inputs:
    - inputs: list of arrays of one shape S (the leaves).
    - program: list of steps (op, i, j, const): op in add, mul (use nodes i and j), tanh,
      scale (use node i; scale multiplies by const). Nodes are numbered: the leaves first, then
      one new node per step, so a step may reuse any earlier node (several times).
    - grad: array of shape S, the upstream gradient of the last node.

    Returns the list of ``.grad`` of every node (leaves, then steps), as arrays; a node that
    the output does not depend on has no gradient: zeros are returned for it.
    """
    nodes = [Tensor(x, name=f"leaf{k}") for k, x in enumerate(inputs)]
    for op, i, j, const in program:
        args = (nodes[i], nodes[j]) if op in ("add", "mul") else (nodes[i],)
        nodes.append(_node(op, args, const))
    nodes[-1].backward(grad)
    return [np.zeros_like(n.data) if n.grad is None else _array(n.grad) for n in nodes]


def deep_chain(x, scales):
    """y = x * scales[0] * scales[1] * ... (one node per factor), a scalar loss; y.backward().

    x: array of shape (1,). Returns x.grad, shape (1,)."""
    leaf = Tensor(x)
    y = leaf
    for s in scales:
        y = _node("scale", (y,), float(s))
    y.backward()
    return _array(leaf.grad)


def two_losses(w, x1, x2):
    """Two scalar losses share the leaf w: L1 = sum(w * x1), L2 = sum(tanh(w) * x2).

    Calls L1.backward() then L2.backward(); returns [w.grad after L1, w.grad after both]."""
    leaf = Tensor(w)
    loss1 = _sum(_node("mul", (leaf, Tensor(x1)), None))
    loss2 = _sum(_node("mul", (_node("tanh", (leaf,), None), Tensor(x2)), None))
    loss1.backward()
    after_first = _array(leaf.grad).copy()
    loss2.backward()
    return [after_first, _array(leaf.grad)]


def seed_rules(x):
    """[gradient of a one-element loss when backward() gets no argument,
        whether backward() without grad on a non-scalar tensor raises ValueError]."""
    leaf = Tensor(x.reshape(1))
    loss = _node("scale", (leaf,), 3.0)
    loss.backward()
    vector = _node("scale", (Tensor(x.reshape(-1)[:1] * np.ones(3)),), 2.0)
    try:
        vector.backward()
        raised = False
    except ValueError:
        raised = True
    return [_array(leaf.grad), raised]


def end_to_end(x, w1, b1, w2, y):
    """A small network built with tiny_tensor's operators (so Part 1 is used too):

        z = x @ w1 + b1;  h = tanh(z) * sigmoid(z) + relu(z);  p = softmax(h @ w2, axis=1)
        loss = sum(y * log(p)) + sum(exp(transpose(p, (1, 0))).sum(axis=1) * 0.5)

    Returns [x.grad, w1.grad, b1.grad, w2.grad]."""
    xs, w1s, b1s, w2s = Tensor(x), Tensor(w1), Tensor(b1), Tensor(w2)
    z = xs @ w1s + b1s
    h = z.tanh() * z.sigmoid() + z.relu()
    p = (h @ w2s).softmax(axis=1)
    loss = (p.log() * Tensor(y)).sum() + (p.transpose((1, 0)).exp().sum(axis=1) * 0.5).sum()
    loss.backward()
    return [_array(t.grad) for t in (xs, w1s, b1s, w2s)]


def _sum(a):
    return Tensor(a.data.sum(), (a,), lambda g: (np.full(a.data.shape, float(g)),), "sum")


def _array(value):
    if value is None:
        raise ValueError("a leaf has no .grad after backward(): backward must set .grad on "
                         "every tensor the output depends on")
    return np.array(value, dtype=np.float64)
