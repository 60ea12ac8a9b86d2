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
# # Activations and vanishing gradients
#
# An MLP needs a non-linearity g between its layers (else it collapses to one linear map).
# The classic choice, the sigmoid, has a derivative of at most 1/4, and backprop multiplies
# one such factor per layer ("backwards we multiply"): through 10 sigmoid layers the
# gradient reaching the first layer is tiny, and the first layers barely learn. ReLU's
# derivative is 1 where it is active, so the gradient keeps its scale. Tanh sits between;
# PReLU and LeakyReLU keep a small slope for negative inputs.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn
from edu_nn.data import get_arrays
from edu_nn.train import layer_magnitudes

edu_nn.set_backend(BACKEND)

# %%
z = edu_nn.tensor(np.linspace(-4, 4, 161), dtype="float32", requires_grad=True)
activations = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "ReLU": nn.ReLU(),
               "LeakyReLU(0.1)": nn.LeakyReLU(0.1), "GELU": nn.GELU()}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
slopes = {}
for name, g in activations.items():
    z.grad = None
    out = g(z)
    out.sum().backward()
    slopes[name] = z.grad.numpy()
    ax1.plot(z.detach().numpy(), out.detach().numpy(), label=name)
    ax2.plot(z.detach().numpy(), slopes[name], label=name)
ax1.set_title("g(z)"); ax2.set_title("g'(z), from backward"); ax2.legend(fontsize=8)
plt.show()
print({k: float(v.max()) for k, v in slopes.items()})
assert abs(slopes["sigmoid"].max() - 0.25) < 1e-3 and abs(slopes["tanh"].max() - 1) < 1e-3
assert slopes["ReLU"].max() == 1.0 and slopes["ReLU"].min() == 0.0

# %% [markdown]
# ## Gradient magnitude per layer
# Two 10-layer MLPs of width 64 on the digits, identical but for the activation, each
# initialised with the init meant for it (Xavier for sigmoid, Kaiming for ReLU: tutorial 08).
# One backward pass on a batch, then the mean |gradient| of every layer's weight.

# %%
x, y = get_arrays("digits", split="train", seed=0)
xb, yb = edu_nn.tensor(x[:256].reshape(256, -1)), edu_nn.tensor(y[:256])


def deep_mlp(act, depth=10, width=64):
    edu_nn.manual_seed(0)
    layers, d = [], 64
    for _ in range(depth - 1):
        linear = nn.Linear(d, width)
        if act is nn.ReLU:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        else:
            nn.init.xavier_normal_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers += [linear, act()]
        d = width
    layers.append(nn.Linear(d, 10))
    return nn.Sequential(*layers)


grads = {}
for act in (nn.Sigmoid, nn.Tanh, nn.ReLU):
    model = deep_mlp(act)
    nn.CrossEntropyLoss()(model(xb), yb).backward()
    grads[act.__name__] = [g for _, g in layer_magnitudes(model).values()]

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, g in grads.items():
    ax.semilogy(range(1, len(g) + 1), g, "o-", label=name)
ax.set_xlabel("layer (1 = next to the input)"); ax.set_ylabel("mean |dL/dW|"); ax.legend()
plt.show()
ratio = grads["Sigmoid"][0] / grads["ReLU"][0]
print(f"first-layer gradient, sigmoid / ReLU: {ratio:.2e}")
print(f"sigmoid net, first / last layer: {grads['Sigmoid'][0] / grads['Sigmoid'][-1]:.2e}")

# %% [markdown]
# The lesson, in numbers: the sigmoid net's first-layer gradient is orders of magnitude
# smaller than the ReLU net's, and it shrinks layer after layer towards the input.

# %%
assert ratio < 1e-2
assert grads["Sigmoid"][0] < grads["Sigmoid"][-1] / 100
assert 0.1 < grads["ReLU"][0] / grads["ReLU"][-1] < 10      # ReLU keeps the scale

# %% [markdown]
# ## Exercises
#
# 1. Repeat with depth 4. Is the sigmoid net still in trouble?
# 2. Which factor per layer does the sigmoid contribute at best, and what is 0.25⁹?
# 3. Try `nn.PReLU()` in `deep_mlp`: how does it compare with ReLU, and what does it learn?
#
# <details><summary>Answers</summary>
#
# 1. Much less: fewer factors of at most 1/4 (and the weights' factors) are multiplied.
# 2. At most 1/4 per layer; 0.25⁹ ≈ 4e-6 (the weights partly compensate, so the measured
#    ratio is less extreme, but still orders of magnitude).
# 3. Similar to ReLU at init (its slope starts at 0.25 for negative inputs); it learns that
#    negative slope as a parameter.
#
# </details>
