# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tensors and backends: one code, three array libraries
#
# A tensor is the core data structure of every framework: an n-dimensional array plus, in
# edu_nn, the graph that made it. A batch of examples is stacked along the first axis, so a
# model sees a `(N, features)` tensor. edu_nn writes every op once, against a small
# **backend contract**, and runs it on NumPy (the default), PyTorch tensors or JAX arrays.
# The same code gives the same numbers on each; only speed and devices (GPUs) differ.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn

try:      # float64 on JAX needs its 64-bit mode, switched on before any array is made
    import jax
    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass
edu_nn.set_backend(BACKEND)
available = []
for name in ("numpy", "torch", "jax"):
    try:
        edu_nn.tensor(0.0, backend=name)
        available.append(name)
    except (ImportError, edu_nn.BackendError):     # that library is not installed here
        pass
print("backends here:", available, "| this run's default:", edu_nn.get_backend().name)

# %% [markdown]
# ## Batches are tensors
# Three examples with four features each, stacked: shape `(3, 4)`. Reductions take `dim=`
# as in torch; broadcasting adds a `(4,)` row to every example.

# %%
x = edu_nn.tensor(np.arange(12.0).reshape(3, 4), dtype="float32")
bias = edu_nn.tensor([1.0, 0.0, -1.0, 0.5])
print(x.shape, x.dtype, x.backend.name, x.device)
print((x + bias).sum(dim=0).tolist())
# by hand: column sums 12, 15, 18, 21, plus 3 times the bias
assert (x + bias).sum(dim=0).tolist() == [15.0, 15.0, 15.0, 22.5]

# %% [markdown]
# ## The same computation on every backend
# A small function with a gradient, run once per backend. `.to(backend=...)` moves a tensor
# (a copy, off the graph); `.numpy()` brings values back as a NumPy array.

# %%
def loss_and_grad(backend):
    w = edu_nn.tensor([[0.5, -1.0], [2.0, 0.25]], dtype="float64", backend=backend,
                      requires_grad=True)
    xs = edu_nn.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype="float64",
                       backend=backend)
    loss = (xs @ w).tanh().pow(2).mean()
    loss.backward()
    return loss.item(), w.grad.numpy()


results = {name: loss_and_grad(name) for name in available}
for name, (value, grad) in results.items():
    print(f"{name:6s} loss {value:.12f}  grad {grad.ravel().round(6).tolist()}")
reference = results["numpy"]
for name, (value, grad) in results.items():
    assert abs(value - reference[0]) < 1e-12 and np.allclose(grad, reference[1], atol=1e-12)

# %%
w_numpy = edu_nn.tensor([1.0, 2.0, 3.0])
for name in available:
    moved = w_numpy.to(backend=name)
    print(name, type(moved.numpy()).__name__, moved.backend.name, moved.device)
    assert moved.backend.name == name and moved.tolist() == [1.0, 2.0, 3.0]

# %% [markdown]
# Mixing backends in one op is an error that says how to fix it (NumPy, torch and JAX
# tensors can live side by side in one program, which the grader needs):

# %%
if len(available) > 1:
    try:
        edu_nn.tensor([1.0], backend=available[0]) + edu_nn.tensor([1.0],
                                                                   backend=available[1])
    except Exception as err:
        print(type(err).__name__, ":", err)
    else:
        raise AssertionError("mixing backends must fail")

# %% [markdown]
# ## Devices
# Tensors live on a device; outputs live on their inputs' device, and `.to(device=...)`
# moves them. NumPy has only the CPU; torch and JAX list a GPU when there is one.

# %%
for name in available:
    devices = edu_nn.tensor(0.0, backend=name).backend.devices()
    print(name, devices)
    assert "cpu" in devices

# %% [markdown]
# ## Dynamic graphs
# edu_nn builds the graph as the code runs (define-by-run, as PyTorch): a Python `if` or a
# loop decides which ops are recorded, so every call can have a different graph. A static
# framework (TensorFlow 1, the lecture's EDF) builds the graph first and runs it many times;
# JAX traces a function into a static program and compiles it (`jax.jit`).

# %%
def f(x, steps):
    for _ in range(steps):                 # the graph's depth depends on a Python value
        x = x * 2 if x.item() < 10 else x - 3
    return x


x = edu_nn.tensor(1.5, requires_grad=True)
y = f(x, 6)
y.backward()
print("y =", y.item(), " dy/dx =", x.grad.item())   # 1.5 -> 3 -> 6 -> 12 -> 9 -> 18 -> 15
assert (y.item(), x.grad.item()) == (15.0, 16.0)

# %% [markdown]
# ## A whole training step as a static graph: `edu_nn.compile`
# Define-by-run pays for its freedom at every step: each op of the forward, of the backward
# and of the optimizer goes through Python (a Tensor, a Function node, the engine). A static
# graph is recorded once and replayed. `edu_nn.compile` (torch's name) does that to a whole
# training step: its first call runs eagerly, its second is *traced* (every backend primitive
# recorded), later calls *replay* the recorded graph: on NumPy and torch as one generated
# Python function calling the primitives directly, on JAX as one `jax.jit` program. The
# parameters, gradients and optimizer state are the graph's inputs and outputs; the numbers
# that change (the learning rate, Adam's step count) are recomputed at each call.

# %%
from edu_nn import nn, optim
from edu_nn.nn import functional as F

rng = np.random.default_rng(0)
xb = edu_nn.tensor(rng.standard_normal((32, 8)), dtype="float64")
yb = edu_nn.tensor(rng.integers(0, 3, 32))


def make_step():
    edu_nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    opt = optim.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


eager, compiled = make_step(), edu_nn.compile(make_step())
eager_losses = [eager(xb, yb).item() for _ in range(20)]
compiled_losses = [compiled(xb, yb).item() for _ in range(20)]
# the same primitives on the same numbers: equal (on JAX to the last bits, which XLA's
# fused program may round differently)
np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-12)
print(compiled)                               # 1 trace, 18 replays
print("\n".join(str(compiled.graph()).splitlines()[:22]), "\n...")

# %% [markdown]
# The listing is EDF's static graph of the *whole* step: `x0`, `x1` are the arguments,
# `a0`...`a11` the state it reads (weights, Adam's moments), `s..` the numbers recomputed at
# each call, `v..` the computed arrays; the backward is there as ordinary primitive calls
# (`relu_backward`, the matmuls of the weight gradients), and so is Adam. The `!` line is
# cross-entropy's label check, a place where Python looked at a value: the replay checks it on
# each new batch's labels first, and runs the step eagerly (with the eager error) if it
# changed. `compiled.code()` shows the generated Python function itself.
#
# What does skipping Python per op buy? Best of 5 timings of 50 steps each:

# %%
import time


def per_step_ms(step, repeats=5, n=50):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            loss = step(xb, yb)
        loss.item()                              # waits for JAX's asynchronous work
        best = min(best, (time.perf_counter() - start) / n * 1e3)
    return best


t_eager, t_compiled = per_step_ms(eager), per_step_ms(compiled)
print(f"{BACKEND}: eager {t_eager:.3f} ms per step, compiled {t_compiled:.3f} ms "
      f"({t_eager / t_compiled:.1f}x faster); {len(compiled.graph())} primitive calls")
# The speed depends on the machine; what buys it does not: every timed call was a replay of
# the one trace (no Tensor, Function or engine per op).
assert compiled.traces == 1 and compiled.replays >= 5 * 50

# %% [markdown]
# The price of a static graph is what it cannot see: a Python `if` on a computed value (the
# `f` above: `x.item() < 10`), `print`s and appends inside the step (they run once, while
# tracing), a scheduler's `step()` inside it (call it outside: the compiled step reads the
# learning rate at every call). `model.eval()` or a new batch shape make it trace again.
# docs/compile.md has the full list, like torch.compile's documentation.

# %% [markdown]
# A picture of speed: the same matrix product timed on each backend (small sizes: this is a
# laptop-CPU course; the differences grow with size and on a GPU).

# %%
sizes = [32, 64, 128] if BACKEND == "numpy" else [32, 64]
timings = {}
for name in available:
    timings[name] = []
    for n in sizes:
        a = edu_nn.randn(n, n, backend=name)
        (a @ a).numpy()                      # warm up (JAX compiles on first use)
        start = time.perf_counter()
        for _ in range(5):
            (a @ a).numpy()
        timings[name].append((time.perf_counter() - start) / 5 * 1e3)
fig, ax = plt.subplots(figsize=(5, 3))
for name, ms in timings.items():
    ax.plot(sizes, ms, "o-", label=name)
ax.set_xlabel("n (n x n matmul)"); ax.set_ylabel("ms"); ax.set_yscale("log"); ax.legend()
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Run `loss_and_grad` in float32 on two backends. Do the results still agree to 1e-12?
#    To what tolerance do they agree, and why?
# 2. What does `edu_nn.tensor([1, 2]) + 0.5` return: which dtype, and why (think of torch's
#    type promotion)?
# 3. Call `f(x, 2)` and `f(x, 6)`: draw both graphs with `edu_nn.viz.draw_graph`. How many
#    ops does each have?
# 4. Compile `f` with `edu_nn.compile`, call it three times with `x = 1.5`, then once with
#    `x = 20.0` (print the result and `print(compiled_f)`). What happens, and why can a static
#    graph not replay `f` for every `x`?
#
# <details><summary>Answers</summary>
#
# 1. No: float32 has about 7 significant digits, and each library sums in its own order, so
#    they agree to about 1e-6 relative.
# 2. float32: an int tensor plus a Python float becomes the default float dtype, as in torch.
# 3. Two `Mul` ops for `steps=2`; six ops (alternating `Mul` and `Sub` after 12) for 6.
# 4. Call 1 runs eagerly, call 2 traces (the graph: `! item(x0)`, `multiply`, `! item(v1)`,
#    ... one path: three doublings, then -3, x2, -3), call 3 replays. With `x = 20.0` the
#    replay's first guard (Python read 1.5 there while tracing) fails before anything runs,
#    so that call runs eagerly and returns the eager 13.0. A static graph holds one path; the
#    values Python read are its guards (edu_nn guards the value itself, so even `x = 1.6`,
#    which would take the same path, runs eagerly). `jax.jit` refuses the `if` outright.
#
# </details>
