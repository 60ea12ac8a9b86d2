"""Reductions: forward vs NumPy, gradcheck over every kind of dim and keepdim, dtypes kept.

Values are continuous random draws, so maxima are never tied here; ties and kinks are
tested in test_tie_conventions.py with values worked out by hand.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edu_nn
from edu_nn.grading import gradcheck
from opcheck import (SEEDS, SHAPES, Case, OpSpec, np_axis, op_test_module, reduction_cases,
                     reduction_dims, values)


# ---------------------------------------------------------------- strategies
def reduced_count(shape, dim) -> int:
    """How many elements each output of a reduction over ``dim`` summarizes."""
    if dim is None:
        return math.prod(shape)
    dims = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[d] for d in dims)


@st.composite
def var_cases(draw):
    """An array, any dim, keepdim, and a correction (0 or 1) that leaves n - correction > 0,
    so the result is finite (the n - correction <= 0 case has its own test)."""
    shape = draw(SHAPES)
    dim = draw(reduction_dims(len(shape)))
    n = reduced_count(shape, dim)
    correction = draw(st.sampled_from([0, 1] if n > 1 else [0]))
    x = values(np.random.default_rng(draw(SEEDS)), shape)
    return Case((x,), {"dim": dim, "keepdim": draw(st.booleans()), "correction": correction})


def single_dim_cases(make=values):
    """An array (at least 1-d) with one int dim (negative too) and keepdim: max(dim) etc."""
    return reduction_cases(make, allow_none=False, allow_tuple=False).filter(
        lambda c: c.arrays[0].ndim > 0)


def whole_cases(make=values):
    """An array and no dim: max(input), min(input)."""
    return st.builds(lambda shape, seed: Case((make(np.random.default_rng(seed), shape),)),
                     SHAPES, SEEDS)


# ---------------------------------------------------------------- references
def np_logsumexp(x, dim, keepdim):
    """Straight from the definition (fine for these values in [-2, 2])."""
    return np.log(np.sum(np.exp(x), axis=np_axis(dim), keepdims=keepdim))


SPECS = [
    OpSpec("sum", lambda x, dim, keepdim: edu_nn.sum(x, dim, keepdim),
           lambda x, dim, keepdim: np.sum(x, axis=np_axis(dim), keepdims=keepdim),
           reduction_cases()),
    OpSpec("mean", lambda x, dim, keepdim: edu_nn.mean(x, dim, keepdim),
           lambda x, dim, keepdim: np.mean(x, axis=np_axis(dim), keepdims=keepdim),
           reduction_cases()),
    OpSpec("var", lambda x, dim, keepdim, correction:
           edu_nn.var(x, dim, correction=correction, keepdim=keepdim),
           lambda x, dim, keepdim, correction:
           np.var(x, axis=np_axis(dim), ddof=correction, keepdims=keepdim),
           var_cases()),
    OpSpec("std", lambda x, dim, keepdim, correction:
           edu_nn.std(x, dim, correction=correction, keepdim=keepdim),
           lambda x, dim, keepdim, correction:
           np.std(x, axis=np_axis(dim), ddof=correction, keepdims=keepdim),
           var_cases()),
    OpSpec("amax", lambda x, dim, keepdim: edu_nn.amax(x, dim, keepdim),
           lambda x, dim, keepdim: np.amax(x, axis=np_axis(dim), keepdims=keepdim),
           reduction_cases()),
    OpSpec("amin", lambda x, dim, keepdim: edu_nn.amin(x, dim, keepdim),
           lambda x, dim, keepdim: np.amin(x, axis=np_axis(dim), keepdims=keepdim),
           reduction_cases()),
    OpSpec("max_all", edu_nn.max, np.max, whole_cases()),
    OpSpec("min_all", edu_nn.min, np.min, whole_cases()),
    OpSpec("max_dim", lambda x, dim, keepdim: edu_nn.max(x, dim, keepdim).values,
           lambda x, dim, keepdim: np.max(x, axis=dim, keepdims=keepdim),
           single_dim_cases()),
    OpSpec("min_dim", lambda x, dim, keepdim: edu_nn.min(x, dim, keepdim).values,
           lambda x, dim, keepdim: np.min(x, axis=dim, keepdims=keepdim),
           single_dim_cases()),
    OpSpec("logsumexp", lambda x, dim, keepdim: edu_nn.logsumexp(x, dim, keepdim),
           np_logsumexp, reduction_cases()),
]

globals().update(op_test_module(SPECS))


# ------------------------------------------------------- max/min(dim) indices
HYP = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("op, np_arg", [("max", np.argmax), ("min", np.argmin)])
@HYP
@given(case=single_dim_cases())
def test_max_dim_indices_match_numpy(op, np_arg, case, backend_name):
    x = case.arrays[0]
    dim, keepdim = case.kwargs["dim"], case.kwargs["keepdim"]
    out = getattr(edu_nn, op)(edu_nn.tensor(x, backend=backend_name, requires_grad=True),
                              dim, keepdim)
    values_, indices = out
    assert out.values is values_ and out.indices is indices
    assert indices.dtype == "int64" and not indices.requires_grad
    want = np_arg(x, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(indices.numpy(), want)
    np.testing.assert_array_equal(values_.detach().numpy(),
                                  np.take_along_axis(x, np.expand_dims(want, dim) if not keepdim
                                                     else want, axis=dim).reshape(want.shape))


@pytest.mark.parametrize("op, np_arg", [("argmax", np.argmax), ("argmin", np.argmin)])
@HYP
@given(data=st.data())
def test_argmax_argmin_match_numpy(op, np_arg, data, backend_name):
    shape = data.draw(SHAPES)
    x = values(np.random.default_rng(data.draw(SEEDS)), shape)
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    keepdim = data.draw(st.booleans())
    t = edu_nn.tensor(x, backend=backend_name, requires_grad=True)
    got = getattr(edu_nn, op)(t, dim, keepdim)
    assert got.dtype == "int64" and not got.requires_grad and got.grad_fn is None
    np.testing.assert_array_equal(got.numpy(), np_arg(x, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(getattr(t, op)(dim, keepdim).numpy(), got.numpy())


# ------------------------------------------------------------ special cases
def test_gradcheck_through_the_named_tuple(backend_name):
    """gradcheck takes max(dim)'s whole (values, indices) tuple; only values is float."""
    x = edu_nn.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype="float64",
                      backend=backend_name, requires_grad=True)
    assert gradcheck(lambda t: t.max(1, keepdim=True), [x], name="max_dim_tuple")
    assert gradcheck(lambda t: edu_nn.min(t, -2), [x], name="min_dim_tuple")


def test_zero_dim_input_reduces_over_dim_0_like_torch(backend_name):
    x = edu_nn.tensor(2.5, dtype="float64", backend=backend_name, requires_grad=True)
    for dim in (0, -1):
        values_, indices = edu_nn.max(x, dim)
        assert values_.shape == () and values_.item() == 2.5
        assert indices.shape == () and indices.item() == 0
        assert edu_nn.sum(x, dim).item() == 2.5
        assert edu_nn.amin(x, dim, keepdim=True).shape == ()
    edu_nn.max(x, 0).values.backward()
    assert x.grad.item() == 1.0


def test_logsumexp_is_stable_for_large_inputs(backend_name):
    x = edu_nn.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [1000.0, 0.0]],
                      dtype="float64", backend=backend_name, requires_grad=True)
    out = edu_nn.logsumexp(x, 1)
    np.testing.assert_allclose(out.detach().numpy(),
                               [1000 + np.log(2), -1000 + np.log(2), 1000.0], rtol=1e-14)
    out.backward(edu_nn.tensor([1.0, 2.0, 3.0], dtype="float64", backend=backend_name))
    # the gradient is the softmax of each row times the upstream gradient
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [1.0, 1.0], [3.0, 0.0]],
                               atol=1e-300)


def test_logsumexp_of_all_minus_inf_is_minus_inf(backend_name):
    x = edu_nn.tensor([[-np.inf, -np.inf], [0.0, -np.inf]], dtype="float64",
                      backend=backend_name)
    np.testing.assert_array_equal(edu_nn.logsumexp(x, 1).numpy(), [-np.inf, 0.0])


def test_var_with_no_degrees_of_freedom_is_nan_or_inf_like_torch(backend_name):
    one = edu_nn.tensor([3.0], dtype="float64", backend=backend_name)
    two = edu_nn.tensor([1.0, 2.0], dtype="float64", backend=backend_name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert np.isnan(edu_nn.var(one).item())                      # 0 / 0
        assert edu_nn.var(two, correction=2).item() == np.inf        # 0.5 / 0
        assert edu_nn.var(two, correction=3).item() == np.inf        # n - c < 0 floors to 0
        assert np.isnan(edu_nn.std(one).item())
    ours = [w for w in caught if "degrees of freedom" in str(w.message)]
    assert len(ours) == 4 and "correction=0" in str(ours[0].message)
    assert edu_nn.var(one, correction=0).item() == 0.0


def test_std_gradient_of_constant_input_is_zero_like_torch(backend_name):
    x = edu_nn.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]], dtype="float64",
                      backend=backend_name, requires_grad=True)
    edu_nn.std(x, 1).sum().backward()
    # row 0: std = 0, gradient defined as 0; row 1: (x - mean) / ((n - 1) std), std = 1
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [-0.5, 0, 0.5]], atol=1e-15)


def test_var_gradient_by_hand(backend_name):
    # var([1, 2, 6]) = ((-2)^2 + (-1)^2 + 3^2) / 2 = 7; d/dx_i = 2 (x_i - 3) / 2 = x_i - 3
    x = edu_nn.tensor([1.0, 2.0, 6.0], dtype="float64", backend=backend_name,
                      requires_grad=True)
    out = x.var()
    out.backward()
    assert out.item() == pytest.approx(7.0)
    np.testing.assert_allclose(x.grad.numpy(), [-2.0, -1.0, 3.0])


def test_max_with_a_tensor_is_maximum(backend_name):
    a = edu_nn.tensor([1.0, 5.0], backend=backend_name)
    b = edu_nn.tensor([3.0, 2.0], backend=backend_name)
    np.testing.assert_array_equal(edu_nn.max(a, b).numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(a.min(b).numpy(), [1.0, 2.0])


def test_reductions_of_integer_tensors(backend_name):
    x = edu_nn.tensor([[1, 7, 3], [4, 2, 9]], backend=backend_name)
    assert x.amax().item() == 9 and x.amax().dtype == "int64"
    np.testing.assert_array_equal(x.max(1).values.numpy(), [7, 9])
    np.testing.assert_array_equal(x.min(0).indices.numpy(), [0, 1, 0])
    for op in (edu_nn.var, edu_nn.std, lambda t: edu_nn.logsumexp(t, 0)):
        with pytest.raises(TypeError, match="floating point"):
            op(x)


def test_bad_dims_are_clear_errors(backend_name):
    x = edu_nn.ones(2, 3, backend=backend_name)
    with pytest.raises(TypeError, match=r"max: dim must be a single int.*amax\(input"):
        edu_nn.max(x, (0, 1))
    with pytest.raises(TypeError, match="argmax: dim must be a single int"):
        x.argmax((0, 1))
    with pytest.raises(IndexError, match="amax: dim 2 is out of range"):
        x.amax(2)
    with pytest.raises(ValueError, match="names the same dimension twice"):
        x.var((1, -1))


def test_tensor_methods_are_the_functions(backend_name):
    x_np = np.random.default_rng(3).standard_normal((3, 4))
    x = edu_nn.tensor(x_np, backend=backend_name)
    pairs = [
        (x.sum(1, True), edu_nn.sum(x, 1, True)), (x.mean(), edu_nn.mean(x)),
        (x.var(0, correction=0, keepdim=True), edu_nn.var(x, 0, correction=0, keepdim=True)),
        (x.std(), edu_nn.std(x)), (x.amax((0, 1)), edu_nn.amax(x, (0, 1))),
        (x.amin(-1), edu_nn.amin(x, -1)), (x.max(), edu_nn.max(x)), (x.min(), edu_nn.min(x)),
        (x.max(1).values, edu_nn.max(x, 1).values), (x.min(0, True)[1], edu_nn.min(x, 0, True)[1]),
        (x.logsumexp(1, True), edu_nn.logsumexp(x, 1, True)), (x.argmax(), edu_nn.argmax(x)),
        (x.argmin(1, True), edu_nn.argmin(x, 1, True)),
    ]
    for method, function in pairs:
        assert method.shape == function.shape and method.dtype == function.dtype
        np.testing.assert_array_equal(method.numpy(), function.numpy())
    np.testing.assert_allclose(x.var().item(), np.var(x_np, ddof=1))  # correction=1 default
    np.testing.assert_allclose(x.std(1).numpy(), np.std(x_np, axis=1, ddof=1))


def test_float32_stays_float32_through_backward(backend_name):
    x = edu_nn.tensor(np.arange(12.0).reshape(3, 4), dtype="float32", backend=backend_name,
                      requires_grad=True)
    loss = (x.var(1).sum() + x.std(0).sum() + x.amax(1).sum() + x.max(0).values.sum()
            + x.logsumexp(1).sum() + x.min().sum())
    loss.backward()
    assert loss.dtype == "float32" and x.grad.dtype == "float32"
