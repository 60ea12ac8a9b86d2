"""Part 1: the backward pass (vector-Jacobian product) of twelve ops, in plain NumPy.

Every ``<op>_backward`` function receives the op's inputs, exactly as its forward received
them, and ``grad``, the upstream gradient dL/dout (same shape as the op's output). It returns
dL/dinput for each input, each with the shape of that input:

    forward:   out = op(a, b)                  (a, b: NumPy float64 arrays)
    backward:  grad_a, grad_b = op_backward(a, b, grad)

Rules (the grader checks each one):
- Return plain ``np.ndarray`` objects of dtype float64 (not Python floats, not lists), one
  per input (a tuple for ops with two inputs, a single array for ops with one).
- Never modify ``grad`` or the inputs in place (``grad *= 2`` changes the caller's array).
- NumPy only: torch, jax and autograd libraries are not available when grading.
- Conventions: ReLU'(0) = 0. softmax subtracts the row maximum before exponentiating.
"""
import numpy as np


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: undo NumPy broadcasting in the backward pass.

    When the forward pass broadcast an input of shape ``shape`` up to ``grad.shape``, every
    copy of an element contributed to the output, so its gradient is the SUM of the
    gradients of its copies.

    Inputs:
    - grad: array of shape (d_1, ..., d_n), the gradient of the broadcast result.
    - shape: tuple, the shape of the input before broadcasting; it broadcasts to grad.shape
      (NumPy's rules: align the shapes on the right; missing leading axes and axes of
      size 1 were stretched). Example: shape (3, 1) and grad of shape (2, 3, 4).

    Returns: an array of shape ``shape``.

    Hint: first sum over the leading axes that ``shape`` lacks, then over the axes where
    ``shape`` has a 1 (keepdims=True keeps them).
    """
    # BEGIN SOLUTION
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    out = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if stretched:
        out = out.sum(axis=stretched, keepdims=True)
    return np.array(out, dtype=np.float64).reshape(shape)
    # END SOLUTION


def add_backward(a, b, grad):
    """Gradients of out = a + b, where a and b broadcast together (NumPy rules).

    Inputs:
    - a: array of shape A; b: array of shape B.
    - grad: dL/dout, shape broadcast(A, B), e.g. a: (N, D), b: (D,), grad: (N, D).

    Returns (grad_a, grad_b) of shapes A and B. Use ``unbroadcast``.
    """
    # BEGIN SOLUTION
    return unbroadcast(grad, a.shape), unbroadcast(grad, b.shape)
    # END SOLUTION


def mul_backward(a, b, grad):
    """Gradients of out = a * b (elementwise, broadcasting as in NumPy).

    Inputs: a: shape A; b: shape B; grad: shape broadcast(A, B).
    Returns (grad_a, grad_b) of shapes A and B.
    """
    # BEGIN SOLUTION
    return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)
    # END SOLUTION


def matmul_backward(a, b, grad):
    """Gradients of out = a @ b for 2-d matrices.

    Inputs:
    - a: array of shape (N, D); b: array of shape (D, M)
    - grad: dL/dout, shape (N, M)

    Returns (grad_a, grad_b) of shapes (N, D) and (D, M).
    Hint: check the shapes; each gradient is one matrix product with a transpose.
    """
    # BEGIN SOLUTION
    return grad @ b.T, a.T @ grad
    # END SOLUTION


def sum_backward(x, grad, axis=None, keepdims=False):
    """Gradient of out = x.sum(axis=axis, keepdims=keepdims).

    Inputs:
    - x: array of any shape S.
    - grad: dL/dout, the shape of the sum: S without the summed axes (or with them as 1 when
      keepdims=True); a 0-d array when axis is None and keepdims is False.
    - axis: None (sum everything), an int or a tuple of ints; negative axes count from the end.
    - keepdims: as in NumPy.

    Returns grad_x of shape S: each element of x receives the gradient of the sum it went into.
    Hint: put the summed axes back as size 1 (np.expand_dims), then broadcast (np.broadcast_to
    returns a read-only view: copy it).
    """
    # BEGIN SOLUTION
    if axis is None:
        axes = tuple(range(x.ndim))
    else:
        axes = tuple(a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    g = np.asarray(grad, dtype=np.float64)
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, x.shape).copy()
    # END SOLUTION


def exp_backward(x, grad):
    """Gradient of out = exp(x). x, grad: shape S; returns grad_x, shape S."""
    # BEGIN SOLUTION
    return grad * np.exp(x)
    # END SOLUTION


def log_backward(x, grad):
    """Gradient of out = log(x) (natural log; x > 0). x, grad: shape S; returns shape S."""
    # BEGIN SOLUTION
    return grad / x
    # END SOLUTION


def tanh_backward(x, grad):
    """Gradient of out = tanh(x). x, grad: shape S; returns shape S.

    Hint: write the derivative with tanh(x) itself.
    """
    # BEGIN SOLUTION
    t = np.tanh(x)
    return grad * (1.0 - t * t)
    # END SOLUTION


def sigmoid_backward(x, grad):
    """Gradient of out = sigmoid(x) = 1 / (1 + exp(-x)). x, grad: shape S; returns shape S.

    Hint: sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x)).
    """
    # BEGIN SOLUTION
    s = 1.0 / (1.0 + np.exp(-x))
    return grad * s * (1.0 - s)
    # END SOLUTION


def relu_backward(x, grad):
    """Gradient of out = max(x, 0), with the convention ReLU'(0) = 0.

    x, grad: shape S; returns grad_x, shape S (float64).
    """
    # BEGIN SOLUTION
    return np.where(x > 0, grad, 0.0)
    # END SOLUTION


def softmax_backward(x, grad, axis=-1):
    """Gradient of out = softmax(x, axis): out_i = exp(x_i) / sum_j exp(x_j) along ``axis``.

    Inputs:
    - x: logits, array of shape S (any number of dims, e.g. (N, C)); values can be large
      (1000 and more): subtract the maximum along ``axis`` before np.exp.
    - grad: dL/dout, shape S.
    - axis: the axis softmax normalises over (an int, may be negative).

    Returns grad_x of shape S. Hint: with s = softmax(x), the vector-Jacobian product is
    s * (grad - sum(grad * s)) where the sum runs along ``axis`` (keepdims=True).
    """
    # BEGIN SOLUTION
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    s = e / e.sum(axis=axis, keepdims=True)
    return s * (grad - (grad * s).sum(axis=axis, keepdims=True))
    # END SOLUTION


def transpose_backward(x, grad, axes):
    """Gradient of out = np.transpose(x, axes) (a permutation of the axes).

    Inputs:
    - x: array of shape S with n dims.
    - grad: dL/dout, shape tuple(S[i] for i in axes).
    - axes: a tuple, a permutation of range(n): out's axis k is x's axis axes[k].

    Returns grad_x of shape S. Hint: apply the inverse permutation (np.argsort helps).
    """
    # BEGIN SOLUTION
    inverse = tuple(int(i) for i in np.argsort(axes))
    return np.ascontiguousarray(np.transpose(grad, inverse))
    # END SOLUTION
