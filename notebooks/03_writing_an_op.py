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
# # Writing an op: forward, backward, and a gradient check
#
# Autograd "already knows" the backward of plus, sum, times, matmul, exp, log, ... because
# someone wrote each one by hand. In edu_nn every op is a small `ArrayFunction` class, like
# the lecture's toy `Constant`/`Add` classes: `forward` computes the output from arrays and saves
# what backward needs; `backward` turns the gradient of the output (the upstream gradient)
# into one gradient per input: the vector-Jacobian product. Here we write the sigmoid and
# matmul ourselves, check them, and read what the checker says about wrong versions.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn.grading import GradcheckError, gradcheck

try:      # gradcheck works in float64; JAX needs its 64-bit mode for that
    import jax
    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass
edu_nn.set_backend(BACKEND)

# %% [markdown]
# ## Sigmoid: σ(x) = 1 / (1 + e^{-x}), σ'(x) = σ(x)(1 - σ(x))
# Saving the *output* is enough for backward: no need to recompute the exponential.

# %%
class Sigmoid(edu_nn.ArrayFunction):
    @staticmethod
    def forward(ctx, x):                         # x: backend array of any shape
        xp = ctx.xp
        out = xp.divide(1.0, xp.add(xp.exp(xp.negative(x)), 1.0))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):              # same shape as the output
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        return xp.multiply(grad_output, xp.multiply(out, xp.subtract(1.0, out)))


x = edu_nn.randn(4, 5, dtype="float64", requires_grad=True)
report = gradcheck(Sigmoid.apply, [x])
print(report)
assert report
assert np.allclose(Sigmoid.apply(x).detach().numpy(), x.sigmoid().detach().numpy(), atol=1e-15)

# %% [markdown]
# The local derivative σ(1 - σ) is at most 1/4 (at x = 0): every sigmoid layer multiplies the
# gradient by at most 0.25. Keep this in mind for the vanishing-gradient tutorial.

# %%
xs = edu_nn.tensor(np.linspace(-6, 6, 121), dtype="float64", requires_grad=True)
Sigmoid.apply(xs).sum().backward()
slope = xs.grad.numpy()
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(xs.detach().numpy(), Sigmoid.apply(xs).detach().numpy(), label="σ(x)")
ax.plot(xs.detach().numpy(), slope, label="σ'(x) from backward")
ax.axhline(0.25, color="gray", ls=":"); ax.legend(); ax.set_xlabel("x")
plt.show()
assert abs(slope.max() - 0.25) < 1e-12 and slope.argmax() == 60

# %% [markdown]
# ## Matmul: Y = X W, dX = dY Wᵀ, dW = Xᵀ dY
# The shapes tell you the formula: dX must be `(N, D)` like X, and the only way to get that
# from dY `(N, M)` and W `(D, M)` is `dY @ W.T`.

# %%
class MatMul(edu_nn.ArrayFunction):
    @staticmethod
    def forward(ctx, x, w):                      # x: (N, D), w: (D, M) -> (N, M)
        ctx.save_for_backward(x, w)
        return ctx.xp.matmul(x, w)

    @staticmethod
    def backward(ctx, grad_output):              # grad_output: (N, M)
        x, w = ctx.saved_tensors
        xp = ctx.xp
        return (xp.matmul(grad_output, xp.permute_dims(w, (1, 0))),
                xp.matmul(xp.permute_dims(x, (1, 0)), grad_output))


x = edu_nn.randn(3, 4, dtype="float64", requires_grad=True)
w = edu_nn.randn(4, 2, dtype="float64", requires_grad=True)
assert gradcheck(MatMul.apply, [x, w])

# %% [markdown]
# ## What the checker says about wrong backwards
# `gradcheck` uses a **random** upstream gradient and compares **every** element with
# central finite differences in float64. When they differ it names the argument and the
# worst element, and it looks for the usual bugs: a constant factor, a transpose, a missing
# sum over a broadcast axis.

# %%
class SigmoidOffByTwo(Sigmoid):
    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        xp = ctx.xp                               # bug: 2σ(1 - σ)
        return xp.multiply(grad_output, xp.multiply(xp.multiply(out, xp.subtract(1.0, out)),
                                                    2.0))


class MatMulTransposed(MatMul):
    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        xp = ctx.xp                               # bug: dW = Xᵀ dY written as dYᵀ X
        return (xp.matmul(grad_output, xp.permute_dims(w, (1, 0))),
                xp.matmul(xp.permute_dims(grad_output, (1, 0)), x))


messages = {}
x = edu_nn.randn(4, 5, dtype="float64", requires_grad=True)
for op, args in [(SigmoidOffByTwo, [x]),
                 (MatMulTransposed, [edu_nn.randn(3, 3, dtype="float64", requires_grad=True),
                                     edu_nn.randn(3, 3, dtype="float64",
                                                  requires_grad=True)])]:
    try:
        gradcheck(op.apply, args)
    except GradcheckError as err:
        messages[op.__name__] = str(err)
        print(err, "\n")
assert "actual = 2 x expected at every element" in messages["SigmoidOffByTwo"]
assert "transpose" in messages["MatMulTransposed"]

# %% [markdown]
# ## Why a random upstream gradient
# With an all-ones upstream gradient some wrong backwards pass. Softmax is the classic case:
# its outputs sum to 1, so the true gradient for upstream ones is zero, and a backward that
# forgets the cross term entirely can still look "almost right". Try it in the exercises.

# %% [markdown]
# ## Exercises
#
# 1. Write `Tanh` as an ArrayFunction (tanh'(x) = 1 - tanh²(x)) and check it with `gradcheck`.
# 2. Write `Exp` whose backward returns `grad_output * x` (wrong). What does the report say?
# 3. Change `MatMul.backward` to return only the gradient of `x`. What error do you get,
#    and when?
#
# <details><summary>Answers</summary>
#
# 1. Save the output `t = xp.tanh(x)` and return `grad_output * (1 - t * t)`.
# 2. It fails: x and eˣ differ element by element, so no constant factor or transpose
#    explains it; the report shows the worst element with both values, and its hint says
#    to re-derive the gradient.
# 3. At backward (not at forward): the engine says `backward` returned 1 gradient but
#    forward took 2 arguments, and asks for one per argument (`None` where none is needed).
#
# </details>
