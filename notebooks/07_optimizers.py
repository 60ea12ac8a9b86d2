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
# # Optimizers: SGD, momentum, Nesterov, AdaGrad, RMSProp, Adadelta, Adam
#
# All of them follow the gradient; they differ in what they remember. **Momentum** keeps a
# running velocity, so it speeds up along a long shallow valley and damps the zig-zag across
# it; **Nesterov** looks ahead before taking the gradient. **AdaGrad**, **RMSProp**,
# **Adadelta** and **Adam** divide each coordinate's step by a running size of its
# gradients, so steep and flat directions move at similar speed. Adam is RMSProp plus
# momentum (with bias correction). edu_nn's optimizers give torch.optim's numbers.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
STEPS = 100
MODEL_STEPS = 150 if BACKEND == "numpy" else 60

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import make_moons

edu_nn.set_backend(BACKEND)

# %% [markdown]
# ## A long, narrow valley: f(w) = 0.05 w₀² + 2 w₁²
# The curvature is 40 times larger across the valley than along it: the learning rate that
# plain SGD can afford across (it diverges above 0.5) is far too small along.

# %%
def f(w):
    return 0.05 * w[0] ** 2 + 2.0 * w[1] ** 2


OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.2),
    "momentum": lambda p: optim.SGD(p, lr=0.2, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.2, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad(p, lr=1.0),
    "RMSProp": lambda p: optim.RMSprop(p, lr=0.1),
    "Adadelta": lambda p: optim.Adadelta(p, lr=10.0),
    "Adam": lambda p: optim.Adam(p, lr=0.3),
}
paths, final = {}, {}
for name, make in OPTIMIZERS.items():
    w = nn.Parameter(edu_nn.tensor([-9.0, 1.5]))
    opt = make([w])
    path = [w.detach().numpy().copy()]
    for _ in range(STEPS):
        opt.zero_grad()
        loss = f(w)
        loss.backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    paths[name], final[name] = np.array(path), f(w).item()
    print(f"{name:9s} f after {STEPS} steps: {final[name]:.2e}")

# %%
g0, g1 = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-2.5, 2.5, 100))
fig, ax = plt.subplots(figsize=(9, 4))
ax.contour(g0, g1, 0.05 * g0 ** 2 + 2 * g1 ** 2, levels=np.geomspace(0.01, 12, 12),
           colors="lightgray")
for name, path in paths.items():
    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
ax.plot(0, 0, "k*", ms=12); ax.legend(fontsize=8, ncol=2); ax.set_title("trajectories")
plt.show()

# %% [markdown]
# Momentum beats plain SGD at the same learning rate by orders of magnitude here: it builds
# up speed along the flat direction. The adaptive methods normalise each coordinate.

# %%
assert final["momentum"] < final["SGD"] / 100
assert final["Nesterov"] < final["SGD"] / 100
assert final["Adam"] < final["SGD"] and final["RMSProp"] < final["SGD"]

# %% [markdown]
# ## On a real model
# The same optimizers train a small MLP on the two-moons data (full batch, same initial
# weights for all, default-ish learning rates).

# %%
x_np, y_np = make_moons(n_samples=300, noise=0.2, seed=0)
x, y = edu_nn.tensor(x_np), edu_nn.tensor(y_np)
MODEL_OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.1),
    "momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad(p, lr=0.1),
    "RMSProp": lambda p: optim.RMSprop(p, lr=0.01),
    "Adadelta": lambda p: optim.Adadelta(p, lr=1.0),
    "Adam": lambda p: optim.Adam(p, lr=0.01),
}
curves = {}
for name, make in MODEL_OPTIMIZERS.items():
    edu_nn.manual_seed(0)                    # the same initial weights for every optimizer
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 2))
    opt = make(model.parameters())
    curves[name] = []
    for _ in range(MODEL_STEPS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        curves[name].append(loss.item())

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, c in curves.items():
    ax.semilogy(c, label=name)
ax.set_xlabel("step"); ax.set_ylabel("training loss"); ax.legend(fontsize=8, ncol=2)
plt.show()
print({k: round(v[-1], 3) for k, v in curves.items()})
assert curves["Adam"][-1] < curves["SGD"][-1]
assert curves["momentum"][-1] < curves["SGD"][-1]

# %% [markdown]
# ## "Divide the learning rate by 10 when the loss stagnates"
# `ReduceLROnPlateau` does it for you: after `patience` epochs without improvement it
# multiplies the lr by `factor`. Plain SGD with a too-large rate on the moons stalls; each
# cut lets the loss go down again.

# %%
edu_nn.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
opt = optim.SGD(model.parameters(), lr=2.0)
plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=5)
lrs, plateau_losses = [], []
for epoch in range(MODEL_STEPS):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    plateau.step(loss.item())               # the scheduler watches the loss
    plateau_losses.append(loss.item())
    lrs.append(opt.param_groups[0]["lr"])
fig, ax1 = plt.subplots(figsize=(6, 3))
ax1.semilogy(plateau_losses, label="loss"); ax1.set_xlabel("epoch"); ax1.set_ylabel("loss")
ax2 = ax1.twinx(); ax2.semilogy(lrs, "r--", label="lr"); ax2.set_ylabel("lr", color="r")
plt.show()
cuts = sorted(set(lrs), reverse=True)
print("learning rates used:", cuts)
assert len(cuts) >= 2 and all(abs(b / a - 0.1) < 1e-9 for a, b in zip(cuts, cuts[1:]))
assert min(plateau_losses[-10:]) < min(plateau_losses[:10])

# %% [markdown]
# ## Exercises
#
# 1. Raise plain SGD's learning rate on the valley to 0.55. What happens, and why at 0.5?
# 2. Set Adam's `betas=(0.0, 0.999)`: which optimizer is that, nearly?
# 3. Add `optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)` to SGD on the valley. Better?
#
# <details><summary>Answers</summary>
#
# 1. It diverges: along w₁ the step multiplies w₁ by (1 - lr·4), and |1 - 4·lr| > 1 for
#    lr > 0.5.
# 2. RMSProp (with bias correction): no momentum, only the running mean of squared gradients.
# 3. No: decaying the lr makes the slow direction even slower. Schedules help late in
#    training, when noise rather than curvature limits progress.
#
# </details>
