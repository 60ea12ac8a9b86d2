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

# %%
import edu_nn

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
