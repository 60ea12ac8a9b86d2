"""The gradient conventions at kinks and ties (DESIGN.md), with values worked out by hand.

Finite differences cannot check these points (the function is not differentiable there),
so each expected gradient below is derived in its comment. The convention matters because
every backend must agree with it (jnp.maximum(x, 0) has gradient 0.5 at 0; we use 0).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import edu_nn


def leaf(data, backend):
    return edu_nn.tensor(data, dtype="float64", backend=backend, requires_grad=True)


def grad_of(fn, data, backend, upstream=None):
    """d(sum(fn(x) * upstream))/dx at x = data."""
    x = leaf(data, backend)
    out = fn(x)
    if upstream is None:
        out.sum().backward()
    else:
        out.backward(edu_nn.tensor(upstream, dtype="float64", backend=backend))
    return x.grad.numpy()


# ------------------------------------------------ reductions: ties split evenly
def test_amax_splits_gradient_evenly_over_ties(backend_name):
    # max(1, 3, 3): the two 3s tie, each gets half
    np.testing.assert_array_equal(grad_of(edu_nn.amax, [1.0, 3.0, 3.0], backend_name),
                                  [0.0, 0.5, 0.5])


def test_amax_with_dim_splits_within_each_slice(backend_name):
    # row 0: two tied 3s share upstream 1 -> 1/2 each; row 1: three tied 2s share 3 -> 1 each
    got = grad_of(lambda x: edu_nn.amax(x, dim=1), [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]],
                  backend_name, upstream=[1.0, 3.0])
    np.testing.assert_array_equal(got, [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]])
    # keepdim and a tuple of dims (0, -1): one max per index of dim 1, over 4 values each
    x = np.array([[[5.0, 1.0], [5.0, 5.0]], [[0.0, 5.0], [2.0, -1.0]]])
    got = grad_of(lambda t: edu_nn.amax(t, dim=(0, -1), keepdim=True), x, backend_name,
                  upstream=[[[2.0], [4.0]]])
    # dim 1 index 0 slice: {5, 1, 0, 5} -> two 5s share 2 -> 1 each;
    # dim 1 index 1 slice: {5, 5, 2, -1} -> two 5s share 4 -> 2 each
    np.testing.assert_array_equal(got, [[[1.0, 0.0], [2.0, 2.0]], [[0.0, 1.0], [0.0, 0.0]]])


def test_amin_splits_gradient_evenly_over_ties(backend_name):
    # three tied 0s share upstream 1 -> 1/3 each
    np.testing.assert_allclose(grad_of(edu_nn.amin, [[0.0, 4.0], [0.0, 0.0]], backend_name),
                               [[1 / 3, 0.0], [1 / 3, 1 / 3]], rtol=1e-15)


def test_max_and_min_without_dim_split_like_amax(backend_name):
    np.testing.assert_array_equal(grad_of(lambda x: x.max(), [1.0, 3.0, 3.0], backend_name),
                                  [0.0, 0.5, 0.5])
    # three tied minima share upstream 1 -> 1/3 each
    np.testing.assert_allclose(grad_of(edu_nn.min, [2.0, -1.0, -1.0, -1.0, 7.0], backend_name),
                               [0.0, 1 / 3, 1 / 3, 1 / 3, 0.0], rtol=1e-15)


def test_max_with_dim_sends_gradient_to_the_first_maximum(backend_name):
    # row 0 [3, 1, 3]: indices 0 and 2 tie, the first (0) is returned and gets it all
    # row 1 [2, 2, 2]: index 0; row 2 [0, 5, 5]: index 1
    x = [[3.0, 1.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 5.0]]
    t = leaf(x, backend_name)
    out = edu_nn.max(t, dim=1)
    np.testing.assert_array_equal(out.indices.numpy(), [0, 0, 1])
    np.testing.assert_array_equal(out.values.detach().numpy(), [3.0, 2.0, 5.0])
    out.values.backward(edu_nn.tensor([1.0, 2.0, 3.0], dtype="float64", backend=backend_name))
    np.testing.assert_array_equal(t.grad.numpy(), [[1, 0, 0], [2, 0, 0], [0, 3, 0]])


def test_min_with_dim_sends_gradient_to_the_first_minimum(backend_name):
    # column 0 [1, 1]: index 0; column 1 [4, -2]: index 1; keepdim keeps shape (1, 2)
    t = leaf([[1.0, 4.0], [1.0, -2.0]], backend_name)
    values, indices = t.min(0, keepdim=True)
    assert values.shape == (1, 2)
    np.testing.assert_array_equal(indices.numpy(), [[0, 1]])
    values.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[1, 0], [0, 1]])


def test_argmax_and_argmin_return_the_first_of_ties(backend_name):
    x = edu_nn.tensor([[1.0, 7.0, 7.0], [0.0, 0.0, -3.0]], backend=backend_name)
    np.testing.assert_array_equal(x.argmax(1).numpy(), [1, 0])
    np.testing.assert_array_equal(x.argmin(1).numpy(), [0, 2])
    assert x.argmax().item() == 1  # the flattened input
    assert x.argmin().item() == 5


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_max_dim_indices_equal_numpy_argmax_even_with_many_ties(data, backend_name):
    # small integers drawn into floats: ties are everywhere
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    t = leaf(x, backend_name)
    values, indices = edu_nn.max(t, dim)
    np.testing.assert_array_equal(indices.numpy(), np.argmax(x, axis=dim))
    np.testing.assert_array_equal(edu_nn.min(t, dim).indices.numpy(), np.argmin(x, axis=dim))
    # the gradient lands exactly on those indices, one per slice
    values.sum().backward()
    expected = np.zeros_like(x)
    np.put_along_axis(expected, np.expand_dims(np.argmax(x, axis=dim), dim), 1.0, axis=dim)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


# -------------------------------------------------------- elementwise kinks
def test_relu_gradient_at_zero_is_zero(backend_name):
    np.testing.assert_array_equal(grad_of(edu_nn.relu, [-1.0, 0.0, 2.0], backend_name),
                                  [0.0, 0.0, 1.0])


def test_leaky_relu_gradient_at_zero_is_the_negative_slope(backend_name):
    # torch: x > 0 ? 1 : negative_slope, so 0 falls on the negative side
    np.testing.assert_allclose(grad_of(lambda x: edu_nn.leaky_relu(x, 0.1), [-1.0, 0.0, 2.0],
                                       backend_name), [0.1, 0.1, 1.0])


def test_abs_gradient_at_zero_is_zero(backend_name):
    np.testing.assert_array_equal(grad_of(edu_nn.abs, [-2.0, 0.0, 3.0], backend_name),
                                  [-1.0, 0.0, 1.0])


def test_sign_gradient_is_zero_everywhere(backend_name):
    np.testing.assert_array_equal(grad_of(edu_nn.sign, [-2.0, 0.0, 3.0], backend_name),
                                  [0.0, 0.0, 0.0])


@pytest.mark.parametrize("op", ["maximum", "max"])
def test_maximum_tie_gives_half_to_each(op, backend_name):
    # [1 vs 1: tie -> 0.5 each], [2 vs 1: a wins], [0 vs 3: b wins]; upstream [2, 1, 1]
    a = leaf([1.0, 2.0, 0.0], backend_name)
    b = leaf([1.0, 1.0, 3.0], backend_name)
    getattr(edu_nn, op)(a, b).backward(edu_nn.tensor([2.0, 1.0, 1.0], dtype="float64",
                                                     backend=backend_name))
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 0.0, 1.0])


@pytest.mark.parametrize("op", ["minimum", "min"])
def test_minimum_tie_gives_half_to_each(op, backend_name):
    a = leaf([4.0, 2.0], backend_name)
    b = leaf([4.0, 1.0], backend_name)
    getattr(edu_nn, op)(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0])


def test_clamp_at_its_bounds_passes_the_gradient(backend_name):
    # inside [-0.5, 1] and on either bound: 1; strictly outside: 0 (torch)
    got = grad_of(lambda x: edu_nn.clamp(x, -0.5, 1.0), [-1.0, -0.5, 0.2, 1.0, 1.5],
                  backend_name)
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0, 1.0, 0.0])
    got = grad_of(lambda x: x.clamp(min=0.0), [-1.0, 0.0, 1.0], backend_name)
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0])
