# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Homework 4: optimizers, initialisation and regularisation
#
# Fill in every function marked `raise NotImplementedError`, run the check under it
# (`grader.check("q1")` runs that question's public tests on what you defined), and answer
# the two written questions in their cells. Submit `hw4.ipynb`.
#
# Only your definitions are graded (functions, imports, constants): the experiment and the
# plots below run here, in Jupyter, not in the autograder. Use NumPy only.

# %%
import numpy as np

from edu_nn.grading.notebook import Checker

grader = Checker()

# %% [markdown] question="q1" points=20
# ## Q1. SGD with momentum and Nesterov (20 points)
#
# `grads` has shape `(T, *param.shape)`: the gradient of each of `T` steps. Return the
# parameter after every step, shape `(T, *param.shape)`, with PyTorch's `SGD` convention
# (dampening 0): on the first step the buffer is the gradient, then
# `buf = momentum * buf + grad`; the step is `buf`, or `grad + momentum * buf` with Nesterov;
# then the parameter moves by `-lr` times the step.

# %%
def sgd_momentum(param, grads, lr, momentum, nesterov=False):
    param = np.array(param, dtype=np.float64)
    out = []
    buf = None
    for grad in grads:
        # BEGIN SOLUTION
        buf = grad.copy() if buf is None else momentum * buf + grad
        step = grad + momentum * buf if nesterov else buf
        param = param - lr * step
        # END SOLUTION
        out.append(param)
    return np.stack(out)


# %%
grader.check("q1")

# %% [markdown] question="q2" points=10
# ## Q2. RMSProp (10 points)
#
# PyTorch's `RMSprop` (no momentum, not centered): `v = alpha * v + (1 - alpha) * grad**2`
# (v starts at 0), `param = param - lr * grad / (sqrt(v) + eps)`. Return every step's
# parameter, shape `(T, *param.shape)`.

# %%
def rmsprop(param, grads, lr, alpha=0.99, eps=1e-8):
    param = np.array(param, dtype=np.float64)
    v = np.zeros_like(param)
    out = []
    for grad in grads:
        # BEGIN SOLUTION
        v = alpha * v + (1 - alpha) * grad ** 2
        param = param - lr * grad / (np.sqrt(v) + eps)
        # END SOLUTION
        out.append(param)
    return np.stack(out)


# %%
grader.check("q2")

# %% [markdown] question="q3" points=15
# ## Q3. Adam (15 points)
#
# PyTorch's `Adam`: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g**2`, bias-corrected
# `m_hat = m / (1 - b1**t)`, `v_hat = v / (1 - b2**t)` (t = 1, 2, ...),
# `param = param - lr * m_hat / (sqrt(v_hat) + eps)`.

# %%
def adam(param, grads, lr, betas=(0.9, 0.999), eps=1e-8):
    param = np.array(param, dtype=np.float64)
    b1, b2 = betas
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    out = []
    for t, grad in enumerate(grads, 1):
        # BEGIN SOLUTION
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
        # END SOLUTION
        out.append(param)
    return np.stack(out)


# %%
grader.check("q3")

# %% [markdown] question="q4" points=15
# ## Q4. Initialisation (15 points)
#
# A weight of shape `(fan_out, fan_in)`. `xavier_uniform(u, gain)` maps draws `u` from
# U(0, 1) (same shape) to Glorot's U(-a, a), `a = gain * sqrt(6 / (fan_in + fan_out))`, as
# `-a + 2 a u`. `kaiming_normal(z, a)` maps standard normal draws `z` to He's N(0, std^2) for
# a leaky ReLU of negative slope `a` (mode fan_in): `std = gain / sqrt(fan_in)`,
# `gain = sqrt(2 / (1 + a**2))`.

# %%
def xavier_uniform(u, gain=1.0):
    fan_out, fan_in = u.shape
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))  # SOLUTION
    return -bound + 2 * bound * u


def kaiming_normal(z, a=0.0):
    fan_in = z.shape[1]
    # BEGIN SOLUTION
    gain = np.sqrt(2.0 / (1 + a ** 2))
    std = gain / np.sqrt(fan_in)
    # END SOLUTION
    return std * z


# %%
grader.check("q4")

# %% [markdown] question="q5" points=10
# ## Q5. L2 regularisation that skips biases (10 points)
#
# `params` maps names (`"fc1.weight"`, `"fc1.bias"`, ...) to arrays. Return
# `(penalty, grads)`: `penalty = weight_decay / 2 * sum of w**2` over every parameter whose
# name does not end with `bias`, and `grads` its gradient for every parameter (zeros for
# biases).

# %%
def l2_penalty(params, weight_decay):
    penalty, grads = 0.0, {}
    for name, w in params.items():
        # BEGIN SOLUTION
        if name.endswith("bias"):
            grads[name] = np.zeros_like(w)
            continue
        penalty += 0.5 * weight_decay * float(np.sum(w ** 2))
        grads[name] = weight_decay * w
        # END SOLUTION
    return penalty, grads


# %%
grader.check("q5")

# %% [markdown] question="q6" points=10
# ## Q6. Dropout, train vs eval (10 points)
#
# Inverted dropout with given draws `u` from U(0, 1): in training an element is kept where
# `u >= p` and scaled by `1 / (1 - p)`, else zeroed; in evaluation the input passes
# unchanged.

# %%
def dropout(x, p, u, training=True):
    # BEGIN SOLUTION
    if not training or p == 0:
        return np.array(x, dtype=np.float64)
    return np.where(u >= p, x / (1 - p), 0.0)
    # END SOLUTION


# %%
grader.check("q6")

# %% [markdown] question="q7" points=10
# ## Q7. Early stopping (10 points)
#
# Given each epoch's validation loss, return `(stop_epoch, best_epoch)` (0-based): an epoch
# improves when its loss is below the best so far minus `min_delta`; training stops at the
# epoch where `patience` epochs in a row have not improved (or at the last epoch);
# `best_epoch` is the last improving epoch up to the stop.

# %%
def early_stopping(val_losses, patience, min_delta=0.0):
    best, best_epoch, waited = np.inf, 0, 0
    for epoch, loss in enumerate(val_losses):
        # BEGIN SOLUTION
        if loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return epoch, best_epoch
        # END SOLUTION
    return len(val_losses) - 1, best_epoch


# %%
grader.check("q7")

# %% [markdown]
# ## Experiment: optimizers on an ill-conditioned quadratic
#
# Not graded: run it and look. The loss is `0.5 * (x0**2 + 25 * x1**2)`.

# %%
import matplotlib.pyplot as plt


def run(optimizer, steps=60, **kw):
    x = np.array([2.0, 1.0])
    path = [x]
    for _ in range(steps):
        x = optimizer(x, np.array([[x[0], 25 * x[1]]]), **kw)[-1]
        path.append(x)
    return np.array(path)


# %%
curves = {"SGD": run(sgd_momentum, lr=0.03, momentum=0.0),
          "momentum": run(sgd_momentum, lr=0.03, momentum=0.9),
          "Nesterov": run(sgd_momentum, lr=0.03, momentum=0.9, nesterov=True),
          "RMSProp": run(rmsprop, lr=0.05),
          "Adam": run(adam, lr=0.1)}
fig, ax = plt.subplots(figsize=(6, 4))
for label, path in curves.items():
    ax.semilogy(0.5 * (path[:, 0] ** 2 + 25 * path[:, 1] ** 2) + 1e-12, label=label)
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %% [markdown] written="w1" points=10
# **W1 (10 points, graded by hand).** Why does Adam need bias correction in its first steps?
# What would its first step be without it?
#
# *Your answer here.*
#
# BEGIN SOLUTION
# m and v start at 0, so in the first steps they are biased towards 0 by factors
# (1 - b1**t) and (1 - b2**t); without correction the very first step has size about
# lr * (1 - b1) / sqrt(1 - b2) ~ 3.2 lr instead of lr.
# END SOLUTION

# %% [markdown] written="w2" points=10
# **W2 (10 points, graded by hand).** Why does L2 regularisation usually skip biases, and
# why does dropout scale the kept activations by 1 / (1 - p) in training?
#
# *Your answer here.*
#
# BEGIN SOLUTION
# Biases do not scale the input, so shrinking them does not limit how sharply the network
# varies and only shifts its outputs; the scale keeps each activation's expectation the same
# in training and evaluation, so that nothing changes at evaluation time.
# END SOLUTION
