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
# # Initialisation: zero, too small, too large, Xavier, Kaiming
#
# Before any training, the initial weights decide whether signals survive the trip through
# the layers. Each layer multiplies the activations by W: if the weights' scale is off by a
# factor, the activations are off by that factor to the power of the depth. The lecture's
# rules: **zero init is bad** (every unit in a layer computes the same thing and gets the
# same gradient, forever); **Kaiming (He)**: N(0, 2/d_in) for ReLU; **Xavier (Glorot)**:
# variance 2/(d_in + d_out) for tanh; biases (intercepts) start at 0.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
DEPTH, WIDTH = 10, 256

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim

edu_nn.set_backend(BACKEND)

# %% [markdown]
# ## Activation statistics per layer
# A 10-layer network of width 256, fed 500 standard-normal inputs. We record the standard
# deviation of each layer's output.

# %%
INITS = {
    "N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "N(0, 0.01²)": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "Xavier": lambda w: nn.init.xavier_normal_(w),
    "Kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}


def activation_stds(init, act):
    edu_nn.manual_seed(0)
    h = edu_nn.randn(500, WIDTH)
    stds = []
    with edu_nn.no_grad():
        for _ in range(DEPTH):
            layer = nn.Linear(WIDTH, WIDTH)
            init(layer.weight)
            nn.init.zeros_(layer.bias)
            h = act(layer(h))
            stds.append(h.std().item())
    return stds


relu_stds = {name: activation_stds(init, nn.ReLU()) for name, init in INITS.items()}
tanh_stds = {name: activation_stds(init, nn.Tanh()) for name, init in INITS.items()}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
for name in INITS:
    ax1.semilogy(range(1, DEPTH + 1), relu_stds[name], "o-", label=name)
    ax2.semilogy(range(1, DEPTH + 1), tanh_stds[name], "o-", label=name)
ax1.set_title("ReLU network: std of each layer's output")
ax2.set_title("tanh network"); ax1.set_xlabel("layer"); ax2.set_xlabel("layer")
ax1.legend(fontsize=8)
plt.show()
for name in INITS:
    print(f"{name:12s} ReLU layer 10 std {relu_stds[name][-1]:.3g}   "
          f"tanh layer 10 std {tanh_stds[name][-1]:.3g}")

# %% [markdown]
# Kaiming keeps the ReLU network's activation scale over 10 layers; N(0, 1) makes it
# explode (each layer multiplies it by about √(256/2) ≈ 11) and N(0, 0.01²) makes it vanish.
# In the tanh network, Xavier keeps the scale while N(0, 1) saturates every unit at ±1.

# %%
kaiming = relu_stds["Kaiming"]
assert 0.3 < kaiming[-1] / kaiming[0] < 3
assert relu_stds["N(0, 1)"][-1] > 1e8
assert relu_stds["N(0, 0.01²)"][-1] < 1e-8
assert 0.1 < tanh_stds["Xavier"][-1] < 1.0 and tanh_stds["N(0, 1)"][-1] > 0.9

# %% [markdown]
# ## Zero init: symmetry never breaks
# With all weights zero, every hidden unit computes the same output and receives the same
# gradient, so after any number of steps the units are still copies of each other.

# %%
edu_nn.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 1))
for p in net.parameters():
    nn.init.constant_(p, 0.0)
opt = optim.SGD(net.parameters(), lr=0.5)
x, y = edu_nn.randn(64, 4), edu_nn.randn(64, 1)
for _ in range(50):
    opt.zero_grad()
    nn.MSELoss()(net(x), y).backward()
    opt.step()
w1 = net[0].weight.detach().numpy()
print("first-layer rows after 50 steps (they moved, and all equal):\n", w1[:3].round(4))
assert np.abs(w1).max() > 1e-3                  # the weights did learn something...
assert np.allclose(w1, w1[0], atol=1e-6)        # ...but every hidden unit is the same unit

# %% [markdown]
# ## Exercises
#
# 1. Why √(2/d_in) for ReLU and not √(1/d_in)? (What does ReLU do to the second moment?)
# 2. Rerun with width 1024 and N(0, 1): by what factor per layer does the std grow now?
# 3. Zero-initialise only the biases and the last layer, Kaiming elsewhere. Does symmetry
#    still get stuck?
#
# <details><summary>Answers</summary>
#
# 1. ReLU zeroes half of a symmetric input, halving E[h²]; the factor 2 restores it.
# 2. About √(1024/2) ≈ 23 per layer.
# 3. No: the hidden units differ from the start (random first layers), so their gradients
#    differ too; zero biases and a zero last layer are fine.
#
# </details>
