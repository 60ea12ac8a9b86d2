"""Core overhead benchmark (NumPy backend): run `python benchmarks/bench_core.py`.

Prints, from one run:
  1. per-op dispatch overhead in microseconds: an edu_nn op on a 1-element tensor minus the
     same NumPy call on the same array (without and with graph recording);
  2. the training-step time of two MLPs built from edu_nn's core ops (forward, softmax
     cross-entropy, backward, SGD update) against the same models written by hand in NumPy,
     as ratios: 784-256-10 at batch 128 (target <= 1.15x) and 64-32-10 at batch 32
     (target <= 2x).

Timings are the best of several repeats of many steps (edu_nn and NumPy measured in
alternation), all float32, all in this process, so the ratios compare like with like.
"""
from __future__ import annotations

import argparse
import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import edu_nn  # noqa: E402
from core_mlp import init_mlp, mlp_forward, sgd_step  # noqa: E402
from edu_nn.nn.functional import cross_entropy  # noqa: E402


def best_time(fn, number: int, repeat: int) -> float:
    """Seconds per call of fn: the best of `repeat` runs of `number` calls (timeit's advice:
    the minimum is the least disturbed by other work on the machine)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def paired_times(fn_a, fn_b, number: int, repeat: int) -> tuple[float, float]:
    """Best-of-`repeat` seconds per call of two functions, measured in alternation so that a
    slow phase of the machine hits both alike."""
    a, b = [], []
    for _ in range(repeat):
        a.append(timeit.timeit(fn_a, number=number))
        b.append(timeit.timeit(fn_b, number=number))
    return min(a) / number, min(b) / number


# ------------------------------------------------------------- dispatch cost
def dispatch_overhead(repeat: int) -> list[tuple[str, float, float]]:
    """(op, overhead without grad in us, overhead with graph recording in us)."""
    a_np, b_np = np.ones(1, np.float32), np.full(1, 2.0, np.float32)
    m_np = np.ones((1, 1), np.float32)
    a, b = edu_nn.tensor(a_np), edu_nn.tensor(b_np)
    ag, bg = edu_nn.tensor(a_np, requires_grad=True), edu_nn.tensor(b_np, requires_grad=True)
    m, mg = edu_nn.tensor(m_np), edu_nn.tensor(m_np, requires_grad=True)
    cases = [
        ("add", lambda: np.add(a_np, b_np), lambda: a + b, lambda: ag + bg),
        ("mul", lambda: np.multiply(a_np, b_np), lambda: a * b, lambda: ag * bg),
        ("exp", lambda: np.exp(a_np), lambda: a.exp(), lambda: ag.exp()),
        ("relu", lambda: np.maximum(a_np, 0), lambda: a.relu(), lambda: ag.relu()),
        ("sum", lambda: np.sum(a_np), lambda: a.sum(), lambda: ag.sum()),
        ("matmul", lambda: np.matmul(m_np, m_np), lambda: m @ m, lambda: mg @ mg),
    ]
    rows = []
    n = 20000
    for name, raw, plain, graph in cases:
        t_raw = best_time(raw, n, repeat)
        rows.append((name, (best_time(plain, n, repeat) - t_raw) * 1e6,
                     (best_time(graph, n, repeat) - t_raw) * 1e6))
    return rows


# ------------------------------------------------------------ MLP step timing
def numpy_mlp(sizes, seed=0):
    """The same initial weights as core_mlp.init_mlp, as float32 NumPy arrays (W: (out, in))."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return params


def numpy_step(params, x, labels, lr):
    """The same two-layer MLP step written by hand in idiomatic NumPy (in-place update)."""
    W1, b1, W2, b2 = params
    n = x.shape[0]
    onehot = np.eye(W2.shape[0], dtype=x.dtype)[labels]
    z1 = x @ W1.T + b1
    h = np.maximum(z1, 0)
    logits = h @ W2.T + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -(logp * onehot).sum() / n
    dlogits = (np.exp(logp) - onehot) / n
    dW2 = dlogits.T @ h
    db2 = dlogits.sum(axis=0)
    dh = dlogits @ W2
    dz1 = dh * (z1 > 0)
    dW1 = dz1.T @ x
    db1 = dz1.sum(axis=0)
    for p, g in zip(params, (dW1, db1, dW2, db2)):
        p -= lr * g
    return loss


def edu_step(params, x, labels, lr):
    loss = cross_entropy(mlp_forward(params, x), labels)
    loss.backward()
    sgd_step(params, lr)
    return loss


def step_ratio(sizes, batch, number, repeat, seed=0):
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels_np = rng.integers(0, sizes[-1], batch)
    np_params = numpy_mlp(sizes, seed)
    edu_params = init_mlp(sizes, seed=seed, dtype="float32")
    x, labels = edu_nn.tensor(x_np), edu_nn.tensor(labels_np)
    # identical math: the first step's losses agree
    first_np = numpy_step(numpy_mlp(sizes, seed), x_np, labels_np, 0.01)
    first_edu = edu_step(init_mlp(sizes, seed=seed), x, labels, 0.01).item()
    assert abs(first_np - first_edu) < 1e-4 * max(1.0, abs(first_np)), (first_np, first_edu)
    return paired_times(lambda: numpy_step(np_params, x_np, labels_np, 1e-3),
                        lambda: edu_step(edu_params, x, labels, 1e-3), number, repeat)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="edu_nn core overhead benchmark")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    print(f"edu_nn {edu_nn.__version__}, numpy {np.__version__}, float32, NumPy backend")
    print("\nper-op dispatch overhead on 1-element tensors (microseconds over raw NumPy)")
    print(f"  {'op':8s} {'no grad':>9s} {'recording':>10s}")
    for name, plain, graph in dispatch_overhead(args.repeat):
        print(f"  {name:8s} {plain:9.2f} {graph:10.2f}")
    print("\nMLP training step (forward + cross-entropy + backward + SGD), edu_nn vs hand-written NumPy")
    for sizes, batch, number, target in (((784, 256, 10), 128, int(200 * scale) or 5, 1.15),
                                         ((64, 32, 10), 32, int(2000 * scale) or 20, 2.0)):
        t_np, t_edu = step_ratio(sizes, batch, number, args.repeat)
        ratio = t_edu / t_np
        label = "-".join(map(str, sizes))
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"  {label:11s} batch {batch:3d}: numpy {t_np * 1e6:8.1f} us  edu_nn "
              f"{t_edu * 1e6:8.1f} us  ratio {ratio:5.2f}x  ({verdict} target <= {target}x)")


if __name__ == "__main__":
    main()
