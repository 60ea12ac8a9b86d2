"""Elementwise ops: forward vs NumPy, gradcheck over broadcast shapes, dtype kept."""
from math import erf

import numpy as np
from hypothesis import strategies as st

import edu_nn
from opcheck import (OpSpec, away_from, binary_cases, broadcast_cases, op_test_module, positive, unary_cases,
                     values)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def kinked(at=(0.0,)):
    return lambda rng, shape: away_from(values(rng, shape), at)


def apart(rng, shape):
    """Values whose pairwise comparisons are never ties (for maximum/minimum)."""
    return values(rng, shape)


SPECS = [
    OpSpec("add", lambda a, b: a + b, np.add, binary_cases()),
    OpSpec("sub", lambda a, b: a - b, np.subtract, binary_cases()),
    OpSpec("mul", lambda a, b: a * b, np.multiply, binary_cases()),
    OpSpec("div", lambda a, b: a / b, np.divide, binary_cases(make_b=positive)),
    OpSpec("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, unary_cases()),
    OpSpec("rsub_scalar", lambda a: 2.5 - a, lambda a: 2.5 - a, unary_cases()),
    OpSpec("rmul_scalar", lambda a: -1.5 * a, lambda a: -1.5 * a, unary_cases()),
    OpSpec("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, unary_cases(positive)),
    OpSpec("neg", lambda a: -a, np.negative, unary_cases()),
    OpSpec("pow_scalar", lambda a, p: a ** p, lambda a, p: a ** p,
           unary_cases(positive, kwargs=st.fixed_dictionaries(
               {"p": st.sampled_from([2, 3, 0.5, -1.5, 1, 0])}))),
    OpSpec("pow_tensor", lambda a, b: a ** b, np.power, binary_cases(positive, values)),
    OpSpec("rpow_scalar_base", lambda b: 2.0 ** b, lambda b: 2.0 ** b, unary_cases()),
    OpSpec("exp", edu_nn.exp, np.exp, unary_cases()),
    OpSpec("log", edu_nn.log, np.log, unary_cases(positive)),
    OpSpec("sqrt", edu_nn.sqrt, np.sqrt, unary_cases(positive)),
    OpSpec("abs", edu_nn.abs, np.abs, unary_cases(kinked())),
    OpSpec("sign", edu_nn.sign, np.sign, unary_cases(kinked())),
    OpSpec("tanh", edu_nn.tanh, np.tanh, unary_cases()),
    OpSpec("sigmoid", edu_nn.sigmoid, np_sigmoid, unary_cases(lambda r, s: values(r, s, -6, 6))),
    OpSpec("relu", edu_nn.relu, lambda x: np.where(x > 0, x, 0.0), unary_cases(kinked())),
    OpSpec("leaky_relu", lambda x, negative_slope: edu_nn.leaky_relu(x, negative_slope),
           lambda x, negative_slope: np.where(x > 0, x, negative_slope * x),
           unary_cases(kinked(), kwargs=st.fixed_dictionaries(
               {"negative_slope": st.sampled_from([0.01, 0.2, 1.5])}))),
    OpSpec("gelu", lambda x, approximate: edu_nn.gelu(x, approximate), np_gelu,
           unary_cases(kwargs=st.fixed_dictionaries(
               {"approximate": st.sampled_from(["none", "tanh"])}))),
    OpSpec("maximum", edu_nn.maximum, np.maximum, binary_cases(apart, apart)),
    OpSpec("minimum", edu_nn.minimum, np.minimum, binary_cases(apart, apart)),
    OpSpec("clamp", lambda x, lo, hi: edu_nn.clamp(x, lo, hi),
           lambda x, lo, hi: np.clip(x, lo, hi),
           unary_cases(kinked((-0.5, 1.0)), kwargs=st.sampled_from(
               [{"lo": -0.5, "hi": 1.0}, {"lo": -0.5, "hi": None}, {"lo": None, "hi": 1.0}]))),
    OpSpec("where", lambda c, a, b: edu_nn.where(c > 0, a, b),
           lambda c, a, b: np.where(c > 0, a, b),
           broadcast_cases(values, values, values, constant=(0,))),
]

globals().update(op_test_module(SPECS))
