"""Public tests of Part 2 (Tensor.backward in tiny_tensor.py), through drivers/graphs.py.

The driver builds a graph with your Tensor class and returns the gradients; the same graph is
rebuilt here with edu_nn (float64, on the grader's backend) for the reference.
"""
import numpy as np

import edu_nn
from edu_nn.grading import graded

OPS = {"add": lambda a, b, c: a + b, "mul": lambda a, b, c: a * b,
       "tanh": lambda a, b, c: edu_nn.tanh(a), "scale": lambda a, b, c: a * c}


def as_tensor(sub, x, requires_grad=False):
    if sub.backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    return edu_nn.tensor(np.array(x), dtype=edu_nn.float64, requires_grad=requires_grad,
                         backend=sub.backend)


def reference_program(sub, inputs, program, grad):
    """The gradient of every node of drivers/graphs.py's run_program, by edu_nn's autograd."""
    nodes = [as_tensor(sub, x, requires_grad=True) for x in inputs]
    for op, i, j, const in program:
        node = OPS[op](nodes[i], nodes[j], const)
        node.retain_grad()
        nodes.append(node)
    nodes[-1].backward(as_tensor(sub, grad))
    return [np.zeros(np.shape(inputs[0])) if n.grad is None else
            np.array(edu_nn.to_numpy(n.grad), dtype=np.float64) for n in nodes]


def check_program(sub, rng, shape, n_leaves, program, name):
    inputs = [rng.standard_normal(shape) for _ in range(n_leaves)]
    g = rng.standard_normal(shape)
    got = sub.run("graphs.py", "run_program", inputs, program, g)
    sub.check_close(got, reference_program(sub, inputs, program, g), name=name, rtol=1e-10,
                    atol=1e-12)


@graded(points=6)
def test_backward_chain(sub, rng):
    # x -> tanh -> scale -> mul by w -> tanh: each node used once
    program = [("tanh", 0, 0, 0.0), ("scale", 2, 2, 1.5), ("mul", 3, 1, 0.0),
               ("tanh", 4, 4, 0.0)]
    check_program(sub, rng, (3, 2), 2, program, "Tensor.backward on a chain")


@graded(points=8)
def test_backward_diamond(sub, rng):
    # a = x * w is used by two paths (tanh(a) and a itself) that meet again: a diamond;
    # x is also used twice directly (x * x).
    program = [("mul", 0, 1, 0.0), ("tanh", 2, 2, 0.0), ("mul", 3, 2, 0.0),
               ("add", 4, 2, 0.0), ("mul", 0, 0, 0.0), ("add", 5, 6, 0.0)]
    check_program(sub, rng, (4,), 2, program, "Tensor.backward on a diamond")


@graded(points=5)
def test_backward_accumulates(sub, rng):
    w, x1, x2 = (rng.standard_normal((3, 3)) for _ in range(3))
    got = sub.run("graphs.py", "two_losses", w, x1, x2)
    # d/dw sum(w * x1) = x1 and d/dw sum(tanh(w) * x2) = (1 - tanh(w)^2) * x2 (calculus)
    second = (1.0 - np.tanh(w) ** 2) * x2
    sub.check_close(got, [x1, x1 + second], name="w.grad after L1.backward(), then after "
                    "L2.backward() (accumulated)", rtol=1e-10)


@graded(points=4)
def test_backward_deep_chain(sub, rng):
    scales = rng.uniform(0.999, 1.001, 5000)
    got = sub.run("graphs.py", "deep_chain", np.array([0.5]), scales)
    # y = x * prod(scales), so dy/dx = prod(scales)
    sub.check_close(got, np.array([np.prod(scales)]), name="x.grad through 5000 nodes",
                    rtol=1e-9)


@graded(points=3)
def test_backward_seed(sub, rng):
    got = sub.run("graphs.py", "seed_rules", rng.standard_normal(1))
    sub.check(isinstance(got, (list, tuple)) and len(got) == 2,
              f"seed_rules returned {got!r}")
    sub.check(got[1] is True, "backward() without grad on a tensor of shape (3,) must raise "
                              "ValueError (grad may be omitted only for one-element tensors)")
    # loss = 3 * x, so dloss/dx = 3 with the default seed 1.0
    sub.check_close(got[0], np.array([3.0]), name="x.grad with the default seed", rtol=1e-12)


@graded(points=6)
def test_end_to_end(sub, rng):
    x, w1, b1, w2 = (rng.standard_normal(s) for s in ((4, 3), (3, 5), (5,), (5, 2)))
    y = np.eye(2)[rng.integers(0, 2, 4)]
    got = sub.run("graphs.py", "end_to_end", x, w1, b1, w2, y)
    leaves = [as_tensor(sub, a, requires_grad=True) for a in (x, w1, b1, w2)]
    tx, tw1, tb1, tw2 = leaves
    z = edu_nn.matmul(tx, tw1) + tb1
    h = edu_nn.tanh(z) * edu_nn.sigmoid(z) + edu_nn.relu(z)
    p = edu_nn.softmax(edu_nn.matmul(h, tw2), dim=1)
    loss = edu_nn.sum(edu_nn.log(p) * as_tensor(sub, y)) + edu_nn.sum(
        edu_nn.sum(edu_nn.exp(edu_nn.permute(p, (1, 0))), dim=1) * 0.5)
    loss.backward()
    expected = [np.array(edu_nn.to_numpy(t.grad), dtype=np.float64) for t in leaves]
    sub.check_close(got, expected, name="end_to_end gradients [x, w1, b1, w2]", rtol=1e-9,
                    atol=1e-12)
