"""Training-step benchmark on the path a course uses: run `python benchmarks/bench_step.py`.

The step: ``nn.Sequential(Linear, ReLU, Linear)``, ``F.cross_entropy``, ``optim.Adam``
(zero_grad, forward, backward, step), float32, on three workloads (64-32-10 at batch 32,
784-256-10 at batch 128 and 1024). Every figure is measured in this one run, against

  hand NumPy   the same MLP written by hand in NumPy with an in-place Adam update
  torch eager  torch.nn.Sequential + torch.nn.functional.cross_entropy + torch.optim.Adam
  jax.jit      jax.jit of jax.value_and_grad of the loss plus a hand-written Adam update

and then ``Adam.step()`` alone (784-256-10 parameters and random gradients) against the same
update written in place in NumPy. Ratios are edu_nn's time over the reference's. Timings are
the best of ``--repeat`` runs of ``--number`` steps, all configurations timed in turn within
each repeat (each is warmed up first, which also compiles the jit).

Issue 16's targets (eager): 784-256-10 batch 128, NumPy backend <= 1.15x hand NumPy, torch
backend <= 1.15x torch eager; Adam.step() alone <= 1.3x the hand-written in-place update.
Compiled (``edu_nn.compile`` of the same step; the "compiled <backend>" columns, whose ratio
columns say met / not met): NumPy 64-32-10 batch 32 <= 1.25x hand NumPy and 784-256-10
batch 128 <= 1.05x; torch <= 0.8x torch eager on the tiny model; JAX 784-256-10 batch 128
and 1024 <= 1.1x jax.jit.
"""
from __future__ import annotations

import argparse
import timeit

import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.nn import functional as F

WORKLOADS = [((64, 32, 10), 32), ((784, 256, 10), 128), ((784, 256, 10), 1024)]
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def interleaved_best(fns: dict, number: int, repeat: int) -> dict:
    """Seconds per call of each function: the best of `repeat` timings of `number` calls,
    the functions timed in turn within each repeat, so that a slow phase of a shared machine
    hits them all alike (the minimum is the least disturbed figure, as timeit advises)."""
    for fn in fns.values():
        fn()  # warm-up (jit compilation, first allocations)
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], timeit.timeit(fn, number=number) / number)
    return best


def data(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    return x, y


def init_params(sizes, seed=1):
    """[W1, b1, W2, b2] in torch's layout (out, in), float32."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(n_in)
        params.append(rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, n_out).astype(np.float32))
    return params


# ------------------------------------------------------------------ references
class HandAdam:
    """Adam written in place in NumPy (as a careful student would): m, v and the
    parameters are updated with out= ufuncs, one temporary per line."""

    def __init__(self, params):
        self.params = params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = BETAS
        step_size = LR / (1 - b1 ** self.t)
        bc2_sqrt = (1 - b2 ** self.t) ** 0.5
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= bc2_sqrt
            denom += EPS
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom


def hand_numpy_step(sizes, batch):
    x, y = data(sizes, batch)
    W1, b1, W2, b2 = params = init_params(sizes)
    adam = HandAdam(params)
    onehot = np.zeros((batch, sizes[-1]), np.float32)
    onehot[np.arange(batch), y] = 1

    def step():
        h = x @ W1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ W2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        dz = (p - onehot) / batch
        dW2, db2 = dz.T @ h, dz.sum(0)
        dh = dz @ W2
        dh *= h > 0
        dW1, db1 = dh.T @ x, dh.sum(0)
        adam.step([dW1, db1, dW2, db2])
    return step


def torch_eager_step(sizes, batch):
    import torch
    x, y = (torch.from_numpy(a) for a in data(sizes, batch))
    model = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                torch.nn.Linear(sizes[1], sizes[2]))
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def jax_jit_step(sizes, batch):
    import jax
    import jax.numpy as jnp
    x, y = (jnp.asarray(a) for a in data(sizes, batch))
    params = [jnp.asarray(p) for p in init_params(sizes)]
    state = {"params": params, "m": [jnp.zeros_like(p) for p in params],
             "v": [jnp.zeros_like(p) for p in params], "t": jnp.zeros((), jnp.float32)}

    def loss_fn(ps):
        W1, b1, W2, b2 = ps
        z = jnp.maximum(x @ W1.T + b1, 0) @ W2.T + b2
        logp = jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def update(state):
        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        t = state["t"] + 1
        b1, b2 = BETAS
        m = [b1 * m + (1 - b1) * g for m, g in zip(state["m"], grads)]
        v = [b2 * v + (1 - b2) * g * g for v, g in zip(state["v"], grads)]
        params = [p - LR / (1 - b1 ** t) * mi / (jnp.sqrt(vi / (1 - b2 ** t)) + EPS)
                  for p, mi, vi in zip(state["params"], m, v)]
        return {"params": params, "m": m, "v": v, "t": t}, loss

    box = [state]

    def step():
        box[0], loss = update(box[0])
        loss.block_until_ready()
    return step


def edu_step(sizes, batch, backend, compiled=False):
    with edu_nn.use_backend(backend):
        x_np, y_np = data(sizes, batch)
        x, y = edu_nn.tensor(x_np), edu_nn.tensor(y_np)
        model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
                              nn.Linear(sizes[1], sizes[2]))
        opt = optim.Adam(model.parameters(), lr=LR)

    def step(x=x, y=y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if not compiled:
        def run():
            loss = step()
            if backend == "jax":
                loss.array.block_until_ready()
        return run
    fast = edu_nn.compile(step)
    fast(x, y)  # eager warm-up
    fast(x, y)  # traced; later calls replay

    def run():
        loss = fast(x, y)
        if backend == "jax":
            loss.array.block_until_ready()
    # edu_nn.compile takes the data as arguments (they are the replay's inputs)
    x, y = x, y
    return run


# ----------------------------------------------------------- Adam.step alone
def adam_alone(sizes, number, repeat):
    """(hand-written in-place seconds, edu_nn Adam.step() seconds), NumPy backend."""
    rng = np.random.default_rng(2)
    params = init_params(sizes)
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    hand = HandAdam([p.copy() for p in params])
    with edu_nn.use_backend("numpy"):
        tensors = [nn.Parameter(edu_nn.tensor(p.copy())) for p in params]
        for t, g in zip(tensors, grads):
            t.grad = edu_nn.tensor(g)
        opt = optim.Adam(tensors, lr=LR)
    best = interleaved_best({"hand": lambda: hand.step(grads), "edu": opt.step}, number,
                            repeat)
    return best["hand"], best["edu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=0,
                        help="steps per timing (default: about 0.2 s worth)")
    parser.add_argument("--backends", default="numpy,torch,jax")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch.set_num_threads (0: torch's default); on a shared machine "
                             "also set OMP_NUM_THREADS/OPENBLAS_NUM_THREADS for NumPy")
    args = parser.parse_args()
    if args.torch_threads:
        import torch
        torch.set_num_threads(args.torch_threads)
    backends = [b for b in args.backends.split(",") if b]
    print(f"edu_nn {edu_nn.__version__}, numpy {np.__version__}, float32, best of "
          f"{args.repeat} interleaved repeats; times in ms per step")

    refs = {"hand NumPy": hand_numpy_step, "torch eager": torch_eager_step,
            "jax.jit": jax_jit_step}
    header = list(refs) + [f"edu_nn {b}" for b in backends]
    header += [f"compiled {b}" for b in backends]
    # (column, reference, issue 16's target) for the ratio columns
    ratios = [("edu_nn numpy", "hand NumPy", None), ("edu_nn torch", "torch eager", None),
              ("compiled numpy", "hand NumPy", {32: 1.25, 128: 1.05}),
              ("compiled torch", "torch eager", {32: 0.8}),
              ("compiled jax", "jax.jit", {128: 1.1, 1024: 1.1})]
    ratios = [r for r in ratios if r[0] in header]
    names = [f"{a.split()[-1]}{' compiled' if a.startswith('compiled') else ''} / "
             f"{b.split()[0]}" for a, b, _ in ratios]
    print("| workload | " + " | ".join(header + names) + " |")
    print("|---" * (len(header) + len(names) + 1) + "|")
    for sizes, batch in WORKLOADS:
        number = args.number or max(3, int(2000 / batch))
        fns = {name: make(sizes, batch) for name, make in refs.items()}
        fns.update({f"edu_nn {b}": edu_step(sizes, batch, b) for b in backends})
        fns.update({f"compiled {b}": edu_step(sizes, batch, b, compiled=True)
                    for b in backends})
        times = interleaved_best(fns, number, args.repeat)
        cells = [f"{times[h] * 1e3:.3f}" for h in header]
        for column, ref, target in ratios:
            ratio = times[column] / times[ref]
            goal = (target or {}).get(batch)
            cells.append(f"{ratio:.2f}x" + ("" if goal is None else
                                            f" ({'met' if ratio <= goal else 'not met'}: "
                                            f"<= {goal})"))
        print(f"| {'-'.join(map(str, sizes))}, batch {batch} | {' | '.join(cells)} |")

    hand, ours = adam_alone((784, 256, 10), 200, args.repeat)
    print(f"\nAdam.step() alone, 784-256-10 parameters, NumPy backend: hand-written in place "
          f"{hand * 1e3:.3f} ms, edu_nn {ours * 1e3:.3f} ms, ratio {ours / hand:.2f}x "
          f"(target <= 1.3x)")


if __name__ == "__main__":
    main()
