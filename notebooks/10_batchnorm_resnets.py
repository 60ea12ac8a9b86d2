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
# # BatchNorm and residual networks
#
# Two ideas that made deep networks trainable. **Batch normalisation** standardises each
# feature over the batch (mean 0, variance 1, then a learned scale and shift), so each
# layer's input keeps a sane scale whatever the layers before it do. It needs non-trivial
# batches, and it behaves differently in training (batch statistics) and evaluation (running
# averages collected during training). **Residual connections** compute y = x + f(x): the
# identity path carries the signal forward and the gradient backward unchanged, so even a
# deep stack starts out close to a shallow one.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
DEPTH = 20
STEPS = 150 if BACKEND == "numpy" else 60

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import get_arrays

edu_nn.set_backend(BACKEND)

# %% [markdown]
# ## What BatchNorm1d computes, checked by hand

# %%
edu_nn.manual_seed(0)
bn = nn.BatchNorm1d(3)
x = edu_nn.randn(64, 3) * edu_nn.tensor([1.0, 5.0, 0.1]) + edu_nn.tensor([2.0, -3.0, 10.0])
bn.train()
out = bn(x).detach().numpy()
xn = x.numpy()
by_hand = (xn - xn.mean(0)) / np.sqrt(xn.var(0) + bn.eps)     # biased variance, as torch
print("per-feature mean", out.mean(0).round(6), " std", out.std(0).round(4))
assert np.allclose(out, by_hand, atol=1e-4)
# running stats moved 10% (momentum 0.1) from (0, 1) towards the batch's, with the
# unbiased variance, as in torch
assert np.allclose(bn.running_mean.numpy(), 0.1 * xn.mean(0), atol=1e-5)
assert np.allclose(bn.running_var.numpy(), 0.9 + 0.1 * xn.var(0, ddof=1), rtol=1e-4)

# %% [markdown]
# In eval mode the running averages are used instead, so one example at a time works. In
# train mode a batch of one example normalises to all zeros: BatchNorm needs batches.

# %%
bn.eval()
single = bn(x[:1]).detach().numpy()
assert np.allclose(single, (xn[:1] - bn.running_mean.numpy())
                   / np.sqrt(bn.running_var.numpy() + bn.eps), atol=1e-4)
bn1 = nn.BatchNorm1d(3)
bn1.train()
try:
    print(bn1(x[:1]))
except ValueError as err:                      # torch refuses too: one value per channel
    print("train mode, batch of 1:", err)

# %% [markdown]
# ## A deep stack: plain, with BatchNorm, with residual connections
# Twenty layers of width 32 on the digits, the same optimizer and steps for each.

# %%
x_np, y_np = get_arrays("digits", split="train", seed=0)
x_all, y_all = edu_nn.tensor(x_np.reshape(len(x_np), -1)), edu_nn.tensor(y_np)


def block(kind, width=32):
    layers = [nn.Linear(width, width)]
    if kind == "batchnorm":
        layers.append(nn.BatchNorm1d(width))
    layers.append(nn.ReLU())
    body = nn.Sequential(*layers)
    return nn.Residual(body) if kind == "residual" else body


def deep(kind):
    edu_nn.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), *[block(kind) for _ in range(DEPTH)],
                         nn.Linear(32, 10))


curves, first_grad = {}, {}
rng = np.random.default_rng(0)
for kind in ("plain", "batchnorm", "residual"):
    model = deep(kind)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    curves[kind] = []
    for step in range(STEPS):
        idx = rng.choice(len(x_np), 128, replace=False)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
        loss.backward()
        if step == 0:
            first_grad[kind] = float(np.abs(model[0].weight.grad.numpy()).mean())
        opt.step()
        curves[kind].append(loss.item())

fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, c in curves.items():
    ax.plot(c, label=kind)
ax.set_xlabel("step"); ax.set_ylabel("training loss"); ax.legend()
ax.set_title(f"{DEPTH + 2} linear layers")
plt.show()
print({k: round(float(np.mean(c[-10:])), 3) for k, c in curves.items()})
print("first layer's mean |grad| at step 0:", {k: f"{v:.1e}" for k, v in first_grad.items()})

# %% [markdown]
# With PyTorch's default initialisation each plain layer shrinks the signal, so after 20 of
# them the first layer's gradient has all but vanished and the loss barely moves. BatchNorm
# and the residual connections both fix it.

# %%
final = {k: float(np.mean(c[-10:])) for k, c in curves.items()}
assert final["plain"] > 2.0                                    # still guessing: ln 10 = 2.3
assert final["batchnorm"] < final["plain"] - 0.5 and final["residual"] < final["plain"] - 0.5
assert first_grad["residual"] > 100 * first_grad["plain"]

# %% [markdown]
# ## Exercises
#
# 1. Put the plain stack in `model.eval()` mode and the BatchNorm one too: which one's
#    predictions change, and why?
# 2. Make the plain stack trainable without BatchNorm or skips (hint: tutorial 08).
# 3. `nn.BasicBlock(16, 32, stride=2)` is ResNet's block for images: what is its shortcut?
#
# <details><summary>Answers</summary>
#
# 1. Only the BatchNorm stack's: eval mode switches BatchNorm to its running statistics;
#    Linear and ReLU have no train/eval difference.
# 2. Kaiming initialisation (`nn.init.kaiming_normal_` on every weight, zero biases) keeps
#    the scale through 20 ReLU layers.
# 3. A 1x1 convolution with stride 2 followed by BatchNorm: the shapes change, so the
#    identity cannot be added.
#
# </details>
