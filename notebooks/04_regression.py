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
# # Non-linear regression, end to end
#
# The lecture's PyTorch regression tutorial, in edu_nn: learn y = f(x) from noisy samples of
# sin(3x). Learning a function is optimisation: pick a model family (a small MLP), a loss
# (mean squared error: the empirical risk on the training set) and descend its gradient.
# We compare with a straight line, which no amount of training can bend.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
STEPS = 600 if BACKEND == "numpy" else 300       # shorter on torch/jax to save CI time

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import make_regression1d

edu_nn.set_backend(BACKEND)
edu_nn.manual_seed(0)
x_np, y_np = make_regression1d(n_samples=200, noise=0.1, seed=0)   # y = sin(3x) + noise
x, y = edu_nn.tensor(x_np), edu_nn.tensor(y_np)
print(x.shape, y.shape)

# %% [markdown]
# ## The model and the loop
# `model.train()`, `zero_grad`, forward, loss, `backward`, `step`: the PyTorch verbs.

# %%
def train(model, steps, lr=1e-2):
    opt = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    model.train()
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


line = nn.Linear(1, 1)
mlp = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                    nn.Linear(32, 1))
line_losses = train(line, STEPS)
mlp_losses = train(mlp, STEPS)
print(f"final MSE: line {line_losses[-1]:.4f}, MLP {mlp_losses[-1]:.4f} "
      f"(noise variance 0.01)")

# %%
grid = np.linspace(-2, 2, 200, dtype=np.float32)[:, None]
with edu_nn.no_grad():
    line_pred = line(edu_nn.tensor(grid)).numpy()
    mlp_pred = mlp(edu_nn.tensor(grid)).numpy()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.scatter(x_np, y_np, s=6, c="gray", label="data")
ax1.plot(grid, np.sin(3 * grid), "k:", label="sin(3x)")
ax1.plot(grid, line_pred, label="linear"); ax1.plot(grid, mlp_pred, label="MLP")
ax1.legend()
ax2.semilogy(line_losses, label="linear"); ax2.semilogy(mlp_losses, label="MLP")
ax2.set_xlabel("step"); ax2.set_ylabel("training MSE"); ax2.legend()
plt.show()

# %% [markdown]
# What the numbers say: the MLP's error comes down to about the noise variance (0.01 for
# noise 0.1), while the line stays near the variance of sin(3x) itself (about 0.4).

# %%
true_curve_error = float(np.mean((mlp_pred[:, 0] - np.sin(3 * grid[:, 0])) ** 2))
print("MLP vs the true curve:", round(true_curve_error, 4))
assert mlp_losses[-1] < 0.03 and line_losses[-1] > 0.25
assert mlp_losses[-1] < line_losses[-1] / 10
assert true_curve_error < 0.03                    # it learned the function, not the noise

# %% [markdown]
# ## Exercises
#
# 1. Replace `Tanh` by `ReLU`. How does the fitted curve look (think of what a sum of ReLUs
#    is)?
# 2. Train with `optim.SGD(lr=1e-2)` instead of Adam for the same steps. Final MSE?
# 3. Fit only 15 points with a width of 256. What happens between the points?
#
# <details><summary>Answers</summary>
#
# 1. Piecewise linear: a ReLU network computes a continuous piecewise-linear function.
# 2. Much higher after 600 steps: plain SGD with this lr is slow on this problem; it needs a
#    larger lr or many more steps.
# 3. It passes near every point and wiggles in between: overfitting (tutorial 09).
#
# </details>
