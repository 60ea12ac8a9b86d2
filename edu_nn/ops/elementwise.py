"""Elementwise ops: each an ArrayFunction with its forward and hand-written backward.

Shapes: binary ops broadcast as NumPy does; each backward returns gradients in the
broadcast (output) shape and the engine sums them back to each input's shape.
Gradient conventions (DESIGN.md): relu'(0) = 0, |x|'(0) = 0, sign' = 0, and
maximum/minimum split the gradient evenly where the two arguments tie (as torch does).
"""
from __future__ import annotations

import math
from numbers import Number

from ..autograd.function import ArrayFunction
from ..dtypes import FLOAT_DTYPES, get_default_dtype
from ..tensor import Tensor, tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "sign",
           "tanh", "sigmoid", "relu", "leaky_relu", "gelu", "maximum", "minimum", "where",
           "clamp", "clip", "cast", "clone", "eq", "ne", "lt", "le", "gt", "ge"]


def operand(x, like: Tensor, op: str):
    """Python scalars pass through (they take the tensor's dtype); arrays and lists become
    Tensors on ``like``'s backend, so dtype checks apply to them too."""
    if isinstance(x, (Tensor, Number)) and not isinstance(x, complex):
        return x
    if isinstance(x, (list, tuple)) or hasattr(x, "shape"):
        return tensor(x, backend=like.backend, device=like.device)
    raise TypeError(f"{op}: cannot combine a Tensor with {type(x).__name__}")


def binary(fn_class, a, b, op: str):
    """Apply a binary ArrayFunction to (Tensor or scalar, Tensor or scalar).

    A Python scalar takes the tensor's dtype, except where torch's rule says the scalar's
    kind wins: a float with an integer or bool tensor gives the default float dtype, an int
    with a bool tensor gives int64 (``promote_scalar``). Tensors of different dtypes are
    promoted by ArrayFunction.apply (``promotes``). (Every arithmetic operator runs this:
    the common cases come first and cost a type test or two.)"""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return fn_class.apply(a, b)
        if type(b) is float or type(b) is int:
            return fn_class.apply(a if _is_float(a) else promote_scalar(a, b), b)
        return fn_class.apply(a, operand(b, a, op))
    if isinstance(b, Tensor):
        if type(a) is float or type(a) is int:
            return fn_class.apply(a, b if _is_float(b) else promote_scalar(b, a))
        return fn_class.apply(operand(a, b, op), b)
    raise TypeError(f"{op}: expected at least one edu_nn Tensor, got "
                    f"{type(a).__name__} and {type(b).__name__}")


def promote_scalar(t: Tensor, scalar):
    """``t`` converted as torch would before combining it with a Python scalar (``t`` is
    not a float tensor: those keep their dtype)."""
    if type(scalar) is float:
        return cast(t, get_default_dtype())
    if t.dtype == "bool" and type(scalar) is int:
        return cast(t, "int64")
    return t


# id(native dtype object) -> (that object, is it a float dtype): a cheaper test than
# t.dtype. Keyed by id, not by the dtype, so that dtypes of different libraries are never
# compared with == (array_api_strict warns about that).
_native_is_float: dict = {}


def _is_float(t: Tensor) -> bool:
    native = t.array.dtype
    known = _native_is_float.get(id(native))
    if known is None or known[0] is not native:
        known = _native_is_float[id(native)] = (native, t.dtype in FLOAT_DTYPES)
    return known[1]


# ---------------------------------------------------------------- arithmetic
class Add(ArrayFunction):
    same_dtype = True
    promotes = True

    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(ArrayFunction):
    same_dtype = True
    promotes = True

    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (ctx.xp.negative(grad) if ctx.needs_input_grad[1] else None)


class Mul(ArrayFunction):
    same_dtype = True
    promotes = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        return (xp.multiply(grad, b) if ctx.needs_input_grad[0] else None,
                xp.multiply(grad, a) if ctx.needs_input_grad[1] else None)


class Div(ArrayFunction):
    same_dtype = True
    promotes = True

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.xp.divide(a, b)
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        b, out = ctx.saved_tensors
        xp = ctx.xp
        ga = xp.divide(grad, b) if ctx.needs_input_grad[0] else None
        # d(a/b)/db = -a/b^2 = -out/b
        gb = xp.negative(xp.divide(xp.multiply(grad, out), b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        return ctx.xp.negative(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.negative(grad)


class Pow(ArrayFunction):
    """``a ** b`` for a tensor base with a scalar or tensor exponent, or a scalar base."""
    same_dtype = True
    promotes = True

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.xp.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        xp = ctx.xp
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, Number):  # d(a^p)/da = p a^(p-1); p = 0 gives 0 everywhere
                ga = xp.multiply(grad, xp.multiply(xp.power(a, b - 1), b)) if b != 0 \
                    else xp.zeros_like(grad)
            else:
                ga = xp.multiply(grad, xp.multiply(b, xp.power(a, xp.subtract(b, 1))))
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b log(a); taken as 0 where a == 0 (torch's convention)
            if isinstance(a, Number):
                log_a = math.log(a) if a > 0 else (0.0 if a == 0 else float("nan"))
                gb = xp.multiply(grad, xp.multiply(out, log_a))
            else:
                safe = xp.where(xp.equal(a, 0), xp.ones_like(a), a)
                gb = xp.multiply(grad, xp.multiply(out, xp.log(safe)))
        return ga, gb


# ----------------------------------------------------------------- unary
class Exp(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, out)


class Log(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.divide(grad, x)


class Sqrt(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.xp.divide(grad, ctx.xp.multiply(out, 2.0))


class Abs(ArrayFunction):
    """|x|, with |x|'(0) = 0 (the sign of 0 is 0)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, ctx.xp.sign(x))


class Sign(ArrayFunction):
    """sign(x) in {-1, 0, 1}; its derivative is 0 everywhere (DESIGN.md's convention)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.sign(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.zeros_like(grad)


class Tanh(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        return xp.multiply(grad, xp.subtract(1.0, xp.multiply(out, out)))


class Sigmoid(ArrayFunction):
    """1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2, which never overflows."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        out = xp.multiply(xp.add(xp.tanh(xp.multiply(x, 0.5)), 1.0), 0.5)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        xp = ctx.xp
        return xp.multiply(grad, xp.multiply(out, xp.subtract(1.0, out)))


class ReLU(ArrayFunction):
    """max(x, 0), with relu'(0) = 0 (and relu'(nan) = 0: the gradient is grad * (x > 0)).

    Both passes are backend primitives (``relu``, ``relu_backward``): their defaults in
    backends/base.py spell out the math (maximum(x, 0); grad times the mask x > 0, which is
    several times faster than where(mask, grad, 0) in NumPy), and a backend may run each
    as one native kernel.
    """

    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.relu(x)
        ctx.save_for_backward(out)  # out > 0 exactly where x > 0
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return ctx.xp.relu_backward(grad, out)


class LeakyReLU(ArrayFunction):
    """x for x > 0, else negative_slope * x (the slope at 0 is negative_slope, as torch)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        xp = ctx.xp
        mask = xp.greater(x, 0)
        ctx.save_for_backward(mask)
        ctx.negative_slope = negative_slope
        return xp.where(mask, x, xp.multiply(x, negative_slope))

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        xp = ctx.xp
        return xp.where(mask, grad, xp.multiply(grad, ctx.negative_slope)), None


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(ArrayFunction):
    """x * Phi(x) (``approximate="none"``) or torch's tanh approximation (``"tanh"``)."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = ctx.xp
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = xp.multiply(xp.add(x, xp.multiply(xp.power(x, 3), 0.044715)), _SQRT_2_OVER_PI)
            return xp.multiply(xp.multiply(x, 0.5), xp.add(xp.tanh(inner), 1.0))
        cdf = xp.multiply(xp.add(xp.erf(xp.multiply(x, _INV_SQRT_2)), 1.0), 0.5)
        return xp.multiply(x, cdf)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        xp = ctx.xp
        if ctx.approximate == "tanh":
            x2 = xp.multiply(x, x)
            inner = xp.multiply(xp.multiply(x, xp.add(xp.multiply(x2, 0.044715), 1.0)),
                                _SQRT_2_OVER_PI)
            t = xp.tanh(inner)
            dinner = xp.multiply(xp.add(xp.multiply(x2, 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
            # d/dx [x/2 (1 + t)] = (1 + t)/2 + x/2 (1 - t^2) dinner
            d = xp.add(xp.multiply(xp.add(t, 1.0), 0.5),
                       xp.multiply(xp.multiply(x, 0.5),
                                   xp.multiply(xp.subtract(1.0, xp.multiply(t, t)), dinner)))
            return xp.multiply(grad, d), None
        cdf = xp.multiply(xp.add(xp.erf(xp.multiply(x, _INV_SQRT_2)), 1.0), 0.5)
        pdf = xp.multiply(xp.exp(xp.multiply(xp.multiply(x, x), -0.5)), _INV_SQRT_2PI)
        return xp.multiply(grad, xp.add(cdf, xp.multiply(x, pdf))), None


# -------------------------------------------------------- two-way choices
class Maximum(ArrayFunction):
    """Elementwise max; where a == b each side gets half the gradient (as torch)."""
    same_dtype = True
    promotes = True
    choose, a_wins = "maximum", "greater"  # the primitives; Minimum swaps them

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return getattr(ctx.xp, ctx.choose)(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        return _split_by_choice(ctx, grad, getattr(xp, ctx.a_wins)(a, b), xp.equal(a, b))


class Minimum(Maximum):
    """Elementwise min; where a == b each side gets half the gradient (as torch)."""
    choose, a_wins = "minimum", "less"


def _split_by_choice(ctx, grad, a_wins, tie):
    """Gradients of a two-way choice: all to the winner, half each on a tie."""
    xp = ctx.xp
    zero = xp.zeros_like(grad)
    half = xp.multiply(grad, 0.5)
    ga = xp.where(tie, half, xp.where(a_wins, grad, zero)) if ctx.needs_input_grad[0] else None
    gb = xp.where(tie, half, xp.where(a_wins, zero, grad)) if ctx.needs_input_grad[1] else None
    return ga, gb


class Where(ArrayFunction):
    """``a`` where ``cond`` else ``b``; ``cond`` gets no gradient."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        xp = ctx.xp
        zero = xp.zeros_like(grad)
        return (None,
                xp.where(cond, grad, zero) if ctx.needs_input_grad[1] else None,
                xp.where(cond, zero, grad) if ctx.needs_input_grad[2] else None)


class Clamp(ArrayFunction):
    """Clamp to [min, max] (Python numbers or None). The gradient passes where
    min <= x <= max, boundaries included, as torch."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        xp = ctx.xp
        inside = None  # None: no bound given, every element passes its gradient
        if min is not None:
            inside = xp.greater_equal(x, min)
        if max is not None:
            below = xp.less_equal(x, max)
            inside = below if inside is None else xp.logical_and(inside, below)
        ctx.save_for_backward(inside)
        return xp.clip(x, min, max)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        if inside is None:
            return grad, None, None
        return ctx.xp.where(inside, grad, ctx.xp.zeros_like(grad)), None, None


# ------------------------------------------------------- dtype and copies
class Cast(ArrayFunction):
    """Convert to another dtype; the gradient is converted back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = ctx.xp.dtype_of(x)
        return ctx.xp.astype(x, dtype)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.astype(grad, ctx.in_dtype), None


class Clone(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        return ctx.xp.add(x, 0) if ctx.xp.dtype_of(x) != "bool" else ctx.xp.logical_and(x, x)

    @staticmethod
    def backward(ctx, grad):
        return grad


# ------------------------------------------------------------ comparisons
def _comparison(name: str, primitive: str):
    """A non-differentiable ArrayFunction that returns a bool array."""
    def forward(ctx, a, b):
        return getattr(ctx.xp, primitive)(a, b)
    return type(name, (ArrayFunction,), {"differentiable": False, "same_dtype": True,
                                         "promotes": True, "forward": staticmethod(forward),
                                         "__doc__": f"Elementwise ``{primitive}``; gives bool."})


Equal = _comparison("Equal", "equal")
NotEqual = _comparison("NotEqual", "not_equal")
Less = _comparison("Less", "less")
LessEqual = _comparison("LessEqual", "less_equal")
Greater = _comparison("Greater", "greater")
GreaterEqual = _comparison("GreaterEqual", "greater_equal")


# ------------------------------------------------------------- functions
def add(input, other):
    """``input + other`` (broadcasting)."""
    return binary(Add, input, other, "add")


def sub(input, other):
    return binary(Sub, input, other, "sub")


def mul(input, other):
    return binary(Mul, input, other, "mul")


def div(input, other):
    """``input / other``: true division, so integer operands give the default float dtype
    (torch's rule: ``tensor([1, 2]) / 2`` is ``tensor([0.5, 1.])``)."""
    for x in (input, other):
        if isinstance(x, Tensor) and not _is_float(x):
            if not any(isinstance(y, Tensor) and _is_float(y) for y in (input, other)):
                input, other = (cast(y, get_default_dtype()) if isinstance(y, Tensor) else y
                                for y in (input, other))
            break
    return binary(Div, input, other, "div")


def pow(input, exponent):  # noqa: A001 - torch's name
    """``input ** exponent``: tensor ** number, tensor ** tensor or number ** tensor."""
    return binary(Pow, input, exponent, "pow")


def maximum(input, other):
    return binary(Maximum, input, other, "maximum")


def minimum(input, other):
    return binary(Minimum, input, other, "minimum")


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(input)


def log(input):
    return Log.apply(input)


def sqrt(input):
    return Sqrt.apply(input)


def abs(input):  # noqa: A001
    return Abs.apply(input)


def sign(input):
    return Sign.apply(input)


def tanh(input):
    return Tanh.apply(input)


def sigmoid(input):
    return Sigmoid.apply(input)


def relu(input):
    return ReLU.apply(input)


def leaky_relu(input, negative_slope: float = 0.01):
    return LeakyReLU.apply(input, negative_slope)


def gelu(input, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate)


def where(condition, input, other):
    """Elementwise ``input if condition else other``; ``condition`` is a bool tensor."""
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    condition = operand(condition, like, "where")
    if not isinstance(condition, Tensor) or condition.dtype != "bool":
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{getattr(condition, 'dtype', type(condition).__name__)}")
    a, b = operand(input, like, "where"), operand(other, like, "where")
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        raise TypeError(f"where: input and other have different dtypes {a.dtype} and "
                        f"{b.dtype}; convert one first")
    return Where.apply(condition, a, b)


def clamp(input, min=None, max=None):  # noqa: A002
    """Clamp to ``[min, max]`` (numbers; either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(input, min, max)


clip = clamp


def cast(input, dtype: str):
    """``input`` converted to ``dtype``; differentiable between floating dtypes. A cast to
    an integer or bool dtype is cut from the graph (its gradient is zero almost everywhere)."""
    if dtype not in FLOAT_DTYPES:
        return Tensor._make(input.backend.astype(input.array, dtype), input.backend, input.device)
    return Cast.apply(input, dtype)


def clone(input):
    return Clone.apply(input)


def eq(input, other): return binary(Equal, input, other, "eq")
def ne(input, other): return binary(NotEqual, input, other, "ne")
def lt(input, other): return binary(Less, input, other, "lt")
def le(input, other): return binary(LessEqual, input, other, "le")
def gt(input, other): return binary(Greater, input, other, "gt")
def ge(input, other): return binary(GreaterEqual, input, other, "ge")
