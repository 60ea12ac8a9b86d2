"""Dispatch cost in process CPU time, for comparing two checkouts on a busy machine.

    python benchmarks/bench_dispatch_cputime.py            # this checkout
    cd /path/to/base && PYTHONPATH=$PWD python /path/to/this/benchmarks/bench_dispatch_cputime.py

The cases of bench_core.py (1-element ops without and with graph recording), a
tensor-times-Python-float op, and the MLP steps of bench_core.py, timed with
``time.process_time`` (the CPU time of this process only, so other processes on the
machine disturb it much less than wall-clock time) and printed as the best of 15 repeats,
in microseconds per call: ``op=no_grad/recording``. Run the two sides in alternation a few
times and compare the minima. Uses the checkout in the current directory (its examples/).
"""
import os
import sys
import time
import timeit

import numpy as np

root = os.getcwd()
sys.path.insert(0, os.path.join(root, "examples"))
import edu_nn  # noqa: E402
from core_mlp import init_mlp, mlp_forward, sgd_step  # noqa: E402
from edu_nn.nn.functional import cross_entropy  # noqa: E402


def best(fn, number, repeat):
    t = timeit.Timer(fn, timer=time.process_time)
    return min(t.repeat(repeat=repeat, number=number)) / number * 1e6


a_np, b_np = np.ones(1, np.float32), np.full(1, 2.0, np.float32)
m_np = np.ones((1, 1), np.float32)
a, b = edu_nn.tensor(a_np), edu_nn.tensor(b_np)
ag, bg = edu_nn.tensor(a_np, requires_grad=True), edu_nn.tensor(b_np, requires_grad=True)
m, mg = edu_nn.tensor(m_np), edu_nn.tensor(m_np, requires_grad=True)
cases = {
    "add": (lambda: a + b, lambda: ag + bg),
    "mul": (lambda: a * b, lambda: ag * bg),
    "mul2.0": (lambda: a * 2.0, lambda: ag * 2.0),
    "exp": (lambda: a.exp(), lambda: ag.exp()),
    "relu": (lambda: a.relu(), lambda: ag.relu()),
    "sum": (lambda: a.sum(), lambda: ag.sum()),
    "matmul": (lambda: m @ m, lambda: mg @ mg),
}
out = {}
for k, (f0, f1) in cases.items():
    out[k] = (best(f0, 20000, 15), best(f1, 20000, 15))
rng = np.random.default_rng(0)
x = edu_nn.tensor(rng.standard_normal((32, 64)).astype(np.float32))
y = edu_nn.tensor(rng.integers(0, 10, 32))
params = init_mlp([64, 32, 10], seed=0)
def step():
    loss = cross_entropy(mlp_forward(params, x), y)
    loss.backward()
    sgd_step(params, 0.01)
out["mlp64"] = (best(step, 300, 15), 0)
xb = edu_nn.tensor(rng.standard_normal((128, 784)).astype(np.float32))
yb = edu_nn.tensor(rng.integers(0, 10, 128))
pb = init_mlp([784, 256, 10], seed=0)
def stepb():
    loss = cross_entropy(mlp_forward(pb, xb), yb)
    loss.backward()
    sgd_step(pb, 0.01)
out["mlp784"] = (best(stepb, 30, 10), 0)
print(" ".join(f"{k}={v[0]:.3f}/{v[1]:.3f}" for k, v in out.items()))
