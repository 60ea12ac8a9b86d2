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
# # Autograd by hand, then by edu_nn
#
# The lecture's worked example: the squared error of a one-parameter model,
#
# $$L = \tfrac12 (x - w)^2 \quad\text{at}\quad x = 5,\ w = 3.$$
#
# By hand: $L = \tfrac12 \cdot 2^2 = 2$, $\partial L/\partial x = x - w = 2$ and
# $\partial L/\partial w = -(x - w) = -2$. "Forwards we compose, backwards we multiply":
# the graph is `d = x - w`, `s = d ** 2`, `L = 0.5 * s`, and backward multiplies the local
# derivatives $\partial L/\partial s = 0.5$, $\partial s/\partial d = 2d$,
# $\partial d/\partial w = -1$.

# %% tags=["parameters"]
import os

# CI runs every tutorial on each backend by setting EDU_NN_BACKEND (numpy, torch or jax).
BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")

# %%
import edu_nn

if BACKEND == "jax":      # float64 (used below) on JAX needs its 64-bit mode, set first
    import jax
    jax.config.update("jax_enable_x64", True)
edu_nn.set_backend(BACKEND)
x = edu_nn.tensor(5.0, requires_grad=True)
w = edu_nn.tensor(3.0, requires_grad=True)
d = x - w
s = d ** 2
L = 0.5 * s
L.backward()
print("L =", L.item(), " dL/dx =", x.grad.item(), " dL/dw =", w.grad.item())
assert (L.item(), x.grad.item(), w.grad.item()) == (2.0, 2.0, -2.0)

# %% [markdown]
# Every tensor made by an op remembers the op (`grad_fn`) and its inputs: that is the graph
# that `backward()` walks in reverse.

# %%
print(L.grad_fn, "<-", s.grad_fn, "<-", d.grad_fn)

# %% [markdown]
# `edu_nn.viz.draw_graph` draws that graph: tensors in boxes (shape, value and, after
# `backward()`, the gradient in red), ops in rounded boxes. Forward flows up from the leaves
# to L; backward walks the same arrows down. It needs no Graphviz: the picture is SVG made
# in Python, shown inline here and saved with `.save("graph.svg")` or `.save("graph.png")`.

# %%
from edu_nn.viz import draw_graph

picture = draw_graph(L, params={"x": x, "w": w, "d": d, "s": s, "L": L})
ops = [n.label for n in picture.nodes if n.kind == "op"]
assert ops == ["Mul", "Pow", "Sub"]                     # L = 0.5 * s, s = d ** 2, d = x - w
assert {n.label: n.grad for n in picture.nodes if n.grad} == {"x": "2", "w": "-2"}
picture

# %% [markdown]
# ### Backwards we multiply
#
# The chain rule, done by hand with the local derivatives above, gives the same numbers:

# %%
dL_ds, ds_dd, dd_dw = 0.5, 2 * d.item(), -1.0
print("dL/dw by the chain rule:", dL_ds * ds_dd * dd_dw)
assert dL_ds * ds_dd * dd_dw == w.grad.item()

# %% [markdown]
# And a picture of L as a function of w (x fixed at 5): the slope at w = 3 is -2, the
# tangent drawn in red. Gradient descent moves w against the slope, towards x.

# %%
import matplotlib.pyplot as plt
import numpy as np

ws = np.linspace(0, 8, 81)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(ws, 0.5 * (5 - ws) ** 2, label="L(w) = 1/2 (5 - w)^2")
ax.plot(ws, 2.0 + w.grad.item() * (ws - 3), "r--", label="tangent at w = 3, slope -2")
ax.set_ylim(-1, 13); ax.set_xlabel("w"); ax.legend()
plt.show()

# %% [markdown]
# ## Writing an op yourself
#
# An op is an `ArrayFunction` with a `forward` and a hand-written `backward`, side by side.
# Both see the backend's arrays and compute with its primitives (`ctx.xp`), so the same op
# runs on NumPy, torch and JAX. (torch's `autograd.Function`, whose forward and backward see
# Tensors, is `edu_nn.autograd.Function`.) Here is the squared error as one op:

# %%
class HalfSquaredError(edu_nn.ArrayFunction):
    @staticmethod
    def forward(ctx, x, w):
        diff = ctx.xp.subtract(x, w)
        ctx.save_for_backward(diff)
        return ctx.xp.multiply(ctx.xp.multiply(diff, diff), 0.5)

    @staticmethod
    def backward(ctx, grad_output):
        (diff,) = ctx.saved_tensors
        g = ctx.xp.multiply(grad_output, diff)     # dL/dx = (x - w) * upstream
        return g, ctx.xp.negative(g)               # dL/dw = -(x - w) * upstream


x = edu_nn.tensor([5.0, 1.0], dtype="float64", requires_grad=True)
w = edu_nn.tensor([3.0, 2.0], dtype="float64", requires_grad=True)
HalfSquaredError.apply(x, w).sum().backward()
print(x.grad, w.grad)

# %% [markdown]
# ## Checking a gradient
#
# `gradcheck` compares the hand-written backward with float64 finite differences, using a
# random upstream gradient, element by element. A correct op passes; a wrong one fails with
# a report that says where and hints at why.

# %%
from edu_nn.grading import GradcheckError, gradcheck

print(gradcheck(HalfSquaredError.apply, [x, w]))


class ForgotTheMinus(HalfSquaredError):
    @staticmethod
    def backward(ctx, grad_output):
        (diff,) = ctx.saved_tensors
        g = ctx.xp.multiply(grad_output, diff)
        return g, g                                # wrong: dL/dw has the opposite sign


try:
    gradcheck(ForgotTheMinus.apply, [x, w])
except GradcheckError as err:
    print(err)

# %% [markdown]
# ## Exercises
#
# 1. Change x to 1 (keeping w = 3). What are dL/dx and dL/dw? Check with edu_nn.
# 2. Draw the graph of `y = x * x + x` with `draw_graph`. How many arrows leave x, and why
#    does `x.grad` equal 2x + 1?
# 3. In `HalfSquaredError.backward`, what happens if you return only `g`? Try it.
#
# <details><summary>Answers</summary>
#
# 1. x - w = -2, so dL/dx = -2 and dL/dw = 2.
# 2. Three: two into `Mul` (x is both arguments) and one into `Add`. Backward adds the
#    gradients of every use: x + x from the product and 1 from the sum.
# 3. The engine raises: backward must return one gradient per forward argument
#    (`None` for those that need none).
#
# </details>
