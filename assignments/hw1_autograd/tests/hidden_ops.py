"""Hidden tests of Part 1: other shapes (size-1 axes, 3-d and 4-d), other axes, large
logits, exact zeros for ReLU, and other seeds. Never shipped to students."""
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


@graded(points=5, visibility="after_due_date")
def test_broadcast_ops_hidden_shapes(sub, rng):
    pairs = [((1, 4, 1), (3, 1, 2)), ((1,), (2, 3)), ((6,), (2, 3, 6))]
    for name, fn in (("add_backward", edu_nn.add), ("mul_backward", edu_nn.mul)):
        cases = []
        for sa, sb in pairs:
            a, b = rng.standard_normal(sa), rng.standard_normal(sb)
            cases.append([a, b, rng.standard_normal(np.broadcast_shapes(sa, sb))])
        got = sub.run("checks.py", "call_many", FILE, name, cases)
        expected = [reference_vjp(sub, fn, [a, b], g) for a, b, g in cases]
        sub.check_close([x for pair in got for x in pair], [x for p in expected for x in p],
                        name=f"{name} with shapes {pairs}", rtol=1e-10, atol=1e-12)


@graded(points=4, visibility="after_due_date")
def test_matmul_hidden_shapes(sub, rng):
    shapes = [((1, 7), (7, 1)), ((6, 2), (2, 9))]
    cases = [[rng.standard_normal(sa), rng.standard_normal(sb),
              rng.standard_normal((sa[0], sb[1]))] for sa, sb in shapes]
    got = sub.run("checks.py", "call_many", FILE, "matmul_backward", cases)
    expected = [x for a, b, g in cases for x in reference_vjp(sub, edu_nn.matmul, [a, b], g)]
    sub.check_close([x for pair in got for x in pair], expected,
                    name=f"matmul_backward with shapes {shapes}", rtol=1e-10, atol=1e-12)


@graded(points=4, visibility="after_due_date")
def test_sum_hidden_axes(sub, rng):
    x = rng.standard_normal((2, 3, 1, 5))
    cases = [(-1, True), ((-3, -1), False), ((0, 1, 2, 3), True), (2, False)]
    grads = [rng.standard_normal(np.sum(x, axis=axis, keepdims=keep).shape)
             for axis, keep in cases]
    got = sub.run("checks.py", "call_many", FILE, "sum_backward",
                  [[x, g, axis, keep] for g, (axis, keep) in zip(grads, cases)])
    expected = [reference_vjp(sub, lambda t, a=axis, k=keep: edu_nn.sum(t, dim=a, keepdim=k),
                              [x], g)[0] for g, (axis, keep) in zip(grads, cases)]
    sub.check_close(got, expected, name=f"sum_backward with (axis, keepdims) in {cases}",
                    rtol=1e-12)


@graded(points=4, visibility="after_due_date")
def test_softmax_large_logits_other_axes(sub, rng):
    cases = [(rng.standard_normal((5, 3)) * 1000.0, 0), (rng.standard_normal((2, 3, 4)), 1)]
    args = [[x, rng.standard_normal(x.shape), axis] for x, axis in cases]
    got = sub.run("checks.py", "call_many", FILE, "softmax_backward", args)
    expected = [reference_vjp(sub, lambda t, a=axis: edu_nn.softmax(t, dim=a), [x], g)[0]
                for x, g, axis in args]
    sub.check_close(got, expected, name="softmax_backward: logits * 1000 on axis 0, and a "
                    "3-d input on axis 1", rtol=1e-9, atol=1e-12)


@graded(points=4, visibility="after_due_date")
def test_unary_hidden_shapes_and_relu_zeros(sub, rng):
    ops = {"exp": edu_nn.exp, "log": edu_nn.log, "tanh": edu_nn.tanh,
           "sigmoid": edu_nn.sigmoid, "relu": edu_nn.relu}
    got, expected = [], []
    for name, fn in ops.items():
        x = rng.uniform(0.1, 2.0, (2, 3, 4)) if name == "log" else rng.standard_normal((2, 3, 4))
        if name == "relu":
            x.flat[::3] = 0.0                     # ReLU'(0) = 0 at exact zeros
        g = rng.standard_normal(x.shape)
        got.append(sub.call(FILE, f"{name}_backward", x, g))
        expected.append(reference_vjp(sub, fn, [x], g)[0])
    sub.check_close(got, expected, name="[exp, log, tanh, sigmoid, relu]_backward on (2, 3, 4)"
                    " (relu with exact zeros)", rtol=1e-9, atol=1e-12)


@graded(points=2, visibility="after_due_date")
def test_transpose_hidden_axes(sub, rng):
    cases = [(rng.standard_normal((3, 1, 2, 4)), (3, 1, 0, 2)),
             (rng.standard_normal((5, 2)), (1, 0))]
    args = [[x, rng.standard_normal(np.transpose(x, axes).shape), axes] for x, axes in cases]
    got = sub.run("checks.py", "call_many", FILE, "transpose_backward", args)
    expected = [reference_vjp(sub, lambda t, a=axes: edu_nn.permute(t, a), [x], g)[0]
                for x, g, axes in args]
    sub.check_close(got, expected, name="transpose_backward (3, 1, 0, 2) and (1, 0)",
                    rtol=1e-12)
