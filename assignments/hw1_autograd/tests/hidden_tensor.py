"""Hidden tests of Part 2: a random graph with heavy reuse, and other shapes, other seeds."""
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


@graded(points=4, visibility="after_due_date")
def test_backward_random_dag(sub, rng):
    n_leaves, shape = 3, (2, 3, 2)
    program = []
    for k in range(12):                         # each step reuses any earlier node(s)
        op = str(rng.choice(["add", "mul", "tanh", "scale"]))
        i, j = (int(v) for v in rng.integers(0, n_leaves + k, 2))
        program.append((op, i, j, float(rng.uniform(-1.5, 1.5))))
    inputs = [rng.standard_normal(shape) * 0.7 for _ in range(n_leaves)]
    g = rng.standard_normal(shape)
    got = sub.run("graphs.py", "run_program", inputs, program, g)
    nodes = [as_tensor(sub, x, requires_grad=True) for x in inputs]
    for op, i, j, const in program:
        node = OPS[op](nodes[i], nodes[j], const)
        node.retain_grad()
        nodes.append(node)
    nodes[-1].backward(as_tensor(sub, g))
    expected = [np.zeros(shape) if n.grad is None else
                np.array(edu_nn.to_numpy(n.grad), dtype=np.float64) for n in nodes]
    sub.check_close(got, expected, name=f"Tensor.backward on a random graph {program}",
                    rtol=1e-10, atol=1e-12)


@graded(points=3, visibility="after_due_date")
def test_end_to_end_hidden_shapes(sub, rng):
    x, w1, b1, w2 = (rng.standard_normal(s) for s in ((7, 2), (2, 6), (6,), (6, 4)))
    y = np.eye(4)[rng.integers(0, 4, 7)]
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
    sub.check_close(got, expected, name="end_to_end gradients [x, w1, b1, w2], shapes "
                    "(7, 2), (2, 6), (6,), (6, 4)", rtol=1e-9, atol=1e-12)
