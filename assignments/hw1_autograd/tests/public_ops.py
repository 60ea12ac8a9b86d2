"""Public tests of Part 1 (backward_ops.py).

Each test calls your function in a separate process and compares every element of what it
returns with a reference computed here in float64 by edu_nn's autograd (on the backend the
grader was asked to use: NumPy, PyTorch or JAX), with a random upstream gradient.
"""
import numpy as np

import edu_nn
from edu_nn.grading import graded

FILE = "backward_ops.py"


def reference_vjp(sub, fn, inputs, grad):
    """Gradients of sum(fn(*inputs) * grad) with respect to each input, by edu_nn's autograd
    in float64 on sub.backend; returns NumPy arrays."""
    if sub.backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    leaves = [edu_nn.tensor(np.array(x), dtype=edu_nn.float64, requires_grad=True,
                            backend=sub.backend) for x in inputs]
    out = fn(*leaves)
    out.backward(edu_nn.tensor(np.array(grad), dtype=edu_nn.float64, backend=sub.backend))
    return [np.array(edu_nn.to_numpy(t.grad), dtype=np.float64) for t in leaves]


def broadcast_to(shape):
    """The op t -> t broadcast to ``shape`` (adding a constant zero array does it)."""
    return lambda t: t + edu_nn.zeros(shape, dtype=edu_nn.float64, backend=t.backend)


UNARY = {"exp": edu_nn.exp, "log": edu_nn.log, "tanh": edu_nn.tanh,
         "sigmoid": edu_nn.sigmoid, "relu": edu_nn.relu}


def check_unary(sub, rng, name, shape):
    x = rng.standard_normal(shape)
    if name == "log":
        x = rng.uniform(0.2, 3.0, shape)          # log needs x > 0
    if name == "relu":
        x[np.abs(x) < 1e-3] = 0.5                 # no kinks: ReLU'(0) is tested elsewhere
    g = rng.standard_normal(shape)
    got = sub.call(FILE, f"{name}_backward", x, g)
    (expected,) = reference_vjp(sub, UNARY[name], [x], g)
    sub.check_close(got, expected, name=f"{name}_backward {shape}", rtol=1e-9, atol=1e-12)


@graded(points=5)
def test_unbroadcast(sub, rng):
    cases = [((2, 3, 4), (3, 1)), ((5, 4), (4,)), ((3, 1, 2), (1, 1, 1)), ((4, 2), (4, 2))]
    grads = [rng.standard_normal(big) for big, _ in cases]
    got = sub.run("checks.py", "call_many", FILE, "unbroadcast",
                  [[g, small] for g, (_, small) in zip(grads, cases)])
    expected = [reference_vjp(sub, broadcast_to(big), [np.zeros(small)], g)[0]
                for g, (big, small) in zip(grads, cases)]
    sub.check_close(got, expected, name="unbroadcast", rtol=1e-12)


@graded(points=6)
def test_add_backward_broadcast(sub, rng):
    a, b, g = rng.standard_normal((4, 3)), rng.standard_normal((3,)), rng.standard_normal((4, 3))
    got = sub.call(FILE, "add_backward", a, b, g)
    sub.check_close(got, reference_vjp(sub, edu_nn.add, [a, b], g), name="add_backward",
                    rtol=1e-12)


@graded(points=6)
def test_mul_backward_broadcast(sub, rng):
    a, b = rng.standard_normal((2, 1, 5)), rng.standard_normal((3, 1))
    g = rng.standard_normal((2, 3, 5))
    got = sub.call(FILE, "mul_backward", a, b, g)
    sub.check_close(got, reference_vjp(sub, edu_nn.mul, [a, b], g), name="mul_backward",
                    rtol=1e-10)


@graded(points=8)
def test_matmul_backward(sub, rng):
    a, b, g = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    got = sub.call(FILE, "matmul_backward", a, b, g)
    sub.check_close(got, reference_vjp(sub, edu_nn.matmul, [a, b], g), name="matmul_backward",
                    rtol=1e-10)


@graded(points=8)
def test_sum_backward(sub, rng):
    x = rng.standard_normal((3, 4, 2))
    cases = [(None, False), (1, False), (0, True), ((0, 2), False)]
    grads = [rng.standard_normal(np.sum(x, axis=axis, keepdims=keep).shape)
             for axis, keep in cases]
    got = sub.run("checks.py", "call_many", FILE, "sum_backward",
                  [[x, g, axis, keep] for g, (axis, keep) in zip(grads, cases)])
    expected = [reference_vjp(sub, lambda t, a=axis, k=keep: edu_nn.sum(t, dim=a, keepdim=k),
                              [x], g)[0] for g, (axis, keep) in zip(grads, cases)]
    sub.check_close(got, expected, name="sum_backward (axis None, 1, 0 keepdims, (0, 2))",
                    rtol=1e-12)


@graded(points=4)
def test_exp_backward(sub, rng):
    check_unary(sub, rng, "exp", (4, 5))


@graded(points=4)
def test_log_backward(sub, rng):
    check_unary(sub, rng, "log", (4, 5))


@graded(points=4)
def test_tanh_backward(sub, rng):
    check_unary(sub, rng, "tanh", (4, 5))


@graded(points=4)
def test_sigmoid_backward(sub, rng):
    check_unary(sub, rng, "sigmoid", (4, 5))


@graded(points=4)
def test_relu_backward(sub, rng):
    check_unary(sub, rng, "relu", (4, 5))


@graded(points=8)
def test_softmax_backward(sub, rng):
    x, g = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    got = sub.call(FILE, "softmax_backward", x, g, -1)
    expected = reference_vjp(sub, lambda t: edu_nn.softmax(t, dim=-1), [x], g)[0]
    sub.check_close(got, expected, name="softmax_backward", rtol=1e-9, atol=1e-12)


@graded(points=5)
def test_transpose_backward(sub, rng):
    x = rng.standard_normal((2, 3, 4))
    axes = (2, 0, 1)
    g = rng.standard_normal(np.transpose(x, axes).shape)
    got = sub.call(FILE, "transpose_backward", x, g, axes)
    expected = reference_vjp(sub, lambda t: edu_nn.permute(t, axes), [x], g)[0]
    sub.check_close(got, expected, name="transpose_backward (2, 0, 1)", rtol=1e-12)
