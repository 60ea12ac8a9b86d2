"""Backend overhead benchmark (torch, JAX): run `python benchmarks/bench_backends.py`.

Prints, from one run, the training-step time of the 784-256-10 MLP (batch 128, float32:
forward, softmax cross-entropy, backward, SGD update) built from edu_nn's core ops
(examples/core_mlp.py) against the same model written directly in the array library:

  torch backend  vs  plain torch eager: torch.nn.functional.linear/relu/cross_entropy,
                     loss.backward() (torch autograd), SGD in place under torch.no_grad()
                     (target <= 1.2x);
  JAX backend    vs  plain JAX without jit: jax.value_and_grad of the same loss, called
                     eagerly (no jax.jit anywhere), SGD as p - lr * g. edu_nn's JAX backend
                     runs op by op here too. For scale, the plain step compiled whole
                     with jax.jit is also printed (nothing of edu_nn's is jitted here).

All implementations start from the same weights (drawn in NumPy) and see the same batch;
their first-step losses are checked to agree before anything is timed. Timings are the
best of several repeats of many steps, edu_nn and the plain version measured in alternation
(bench_core.paired_times), all in this process.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_core import best_time, edu_step, numpy_mlp, paired_times  # noqa: E402  (adds examples/ to the path)

import edu_nn  # noqa: E402
from core_mlp import init_mlp  # noqa: E402

SIZES, BATCH, LR = (784, 256, 10), 128, 1e-3


# -------------------------------------------------------------------- torch
def torch_params(seed=0):
    import torch
    return [torch.from_numpy(p).requires_grad_(True) for p in numpy_mlp(SIZES, seed)]


def torch_step(params, x, labels, lr):
    """The MLP step as one writes it in PyTorch without nn.Module or an optimizer."""
    import torch
    import torch.nn.functional as TF
    W1, b1, W2, b2 = params
    loss = TF.cross_entropy(TF.linear(TF.relu(TF.linear(x, W1, b1)), W2, b2), labels)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss.detach()


# ---------------------------------------------------------------------- JAX
def jax_loss(params, x, labels):
    import jax
    import jax.numpy as jnp
    W1, b1, W2, b2 = params
    h = jax.nn.relu(x @ W1.T + b1)
    logits = h @ W2.T + b2
    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def make_jax_step():
    """(step, params): eager jax.value_and_grad (no jit) and a list to update in place."""
    import jax
    value_and_grad = jax.value_and_grad(jax_loss)

    def step(params, x, labels, lr):
        loss, grads = value_and_grad(params, x, labels)
        params[:] = [p - lr * g for p, g in zip(params, grads)]
        return loss
    return step


def jit_step_time(number, repeat):
    """Seconds per step of the plain JAX step compiled whole with jax.jit."""
    import jax
    import jax.numpy as jnp
    value_and_grad = jax.value_and_grad(jax_loss)

    @jax.jit
    def step(params, x, labels):
        loss, grads = value_and_grad(params, x, labels)
        return loss, [p - LR * g for p, g in zip(params, grads)]

    x_np, labels_np = batch()
    x, labels = jnp.asarray(x_np), jnp.asarray(labels_np)
    state = [[jnp.asarray(p) for p in numpy_mlp(SIZES)]]

    def run():
        loss, state[0] = step(state[0], x, labels)
        loss.block_until_ready()
    run()  # compile
    return best_time(run, number, repeat)


# --------------------------------------------------------------------- runs
def batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], BATCH))


def compare(backend, plain_params, plain_step, to_native, number, repeat, sync=None):
    """(plain seconds/step, edu_nn seconds/step) on ``backend`` after checking that both
    give the same first-step loss from the same weights. ``sync(native_loss)`` waits for
    the step to finish (JAX dispatches asynchronously)."""
    x_np, labels_np = batch()
    x, labels = edu_nn.tensor(x_np, backend=backend), edu_nn.tensor(labels_np, backend=backend)
    x_raw, labels_raw = to_native(x_np), to_native(labels_np)
    first_edu = edu_step(init_mlp(SIZES, backend=backend), x, labels, 0.01).item()
    first_plain = float(plain_step(plain_params(), x_raw, labels_raw, 0.01))
    assert abs(first_edu - first_plain) < 1e-4 * max(1.0, abs(first_plain)), \
        (backend, first_edu, first_plain)
    edu_params, raw_params = init_mlp(SIZES, backend=backend), plain_params()
    sync = sync or (lambda loss: None)
    return paired_times(lambda: sync(plain_step(raw_params, x_raw, labels_raw, LR)),
                        lambda: sync(edu_step(edu_params, x, labels, LR).array), number, repeat)


def report(label, t_plain, t_edu, target=None):
    ratio = t_edu / t_plain
    verdict = ("" if target is None else
               f"  ({'meets' if ratio <= target else 'MISSES'} target <= {target}x)")
    print(f"  {label:6s} plain {t_plain * 1e6:9.1f} us  edu_nn {t_edu * 1e6:9.1f} us  "
          f"ratio {ratio:5.2f}x{verdict}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="edu_nn torch/JAX backend overhead benchmark")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    parser.add_argument("--backends", default="torch,jax", help="comma-separated subset")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    wanted = [b for b in args.backends.split(",") if b]
    print(f"edu_nn {edu_nn.__version__}, float32, MLP {'-'.join(map(str, SIZES))} batch {BATCH}"
          f" (forward + cross-entropy + backward + SGD), edu_nn vs the plain library")
    if "torch" in wanted:
        import torch
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), eager")
        t_plain, t_edu = compare("torch", torch_params, torch_step, torch.from_numpy,
                                 int(200 * scale) or 5, args.repeat)
        report("torch", t_plain, t_edu, target=1.2)
    if "jax" in wanted:
        import jax
        import jax.numpy as jnp
        print(f"jax {jax.__version__} ({jax.devices()[0].platform}), no jit on either side")
        t_plain, t_edu = compare("jax", lambda: [jnp.asarray(p) for p in numpy_mlp(SIZES)],
                                 make_jax_step(), jnp.asarray, int(50 * scale) or 3, args.repeat,
                                 sync=lambda loss: loss.block_until_ready())
        report("jax", t_plain, t_edu)
        # For scale only (no edu_nn counterpart is timed): the plain step compiled whole.
        t_jit = jit_step_time(int(200 * scale) or 5, args.repeat)
        print(f"  (plain JAX with jax.jit over the whole step: {t_jit * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
