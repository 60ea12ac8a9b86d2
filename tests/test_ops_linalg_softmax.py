"""matmul, softmax and log_softmax: forward vs NumPy, gradcheck over drawn shapes, errors.

matmul's shapes cover every rule: 1-d @ 1-d (dot), 1-d @ n-d, n-d @ 1-d, 2-d @ 2-d, and
batched operands whose batch dims broadcast (missing or size-1 dims on either side).
"""
import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import gradcheck
from opcheck import SEEDS, SHAPES, Case, OpSpec, op_test_module, values


# ------------------------------------------------------------------ matmul
def matmul_shapes(a_shape_kind, b_shape_kind, batch_a=(), batch_b=(), m=2, k=3, n=4):
    """The operand shapes for one case: kind "vec" is (K,), "mat" is (*batch, M|K, K|N)."""
    a = (k,) if a_shape_kind == "vec" else batch_a + (m, k)
    b = (k,) if b_shape_kind == "vec" else batch_b + (k, n)
    return a, b


@st.composite
def matmul_cases(draw):
    """Two arrays whose shapes matmul accepts: each side 1-d or a (batched) matrix, batch
    dims drawn mutually broadcastable (so one side may lack them or have size-1 dims)."""
    kinds = draw(st.tuples(st.sampled_from(["vec", "mat"]), st.sampled_from(["vec", "mat"])))
    batches = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                 max_side=3)).input_shapes
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    sa, sb = matmul_shapes(*kinds, *batches, m=m, k=k, n=n)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((values(rng, sa), values(rng, sb)))


# Every rule at least once, whatever hypothesis draws.
EXPLICIT_MATMUL_SHAPES = [
    ((3,), (3,)),                  # dot -> ()
    ((3,), (3, 4)),                # row vector -> (4,)
    ((3,), (2, 3, 4)),             # row vector times a batch -> (2, 4)
    ((2, 3), (3,)),                # matrix-vector -> (2,)
    ((5, 2, 3), (3,)),             # batch of matrices times a vector -> (5, 2)
    ((2, 3), (3, 4)),              # matrix-matrix
    ((5, 2, 3), (3, 4)),           # batch times one matrix (a Linear on (N, T, D))
    ((2, 3), (5, 3, 4)),           # one matrix times a batch
    ((5, 2, 3), (5, 3, 4)),        # batch times batch
    ((5, 1, 2, 3), (4, 3, 1)),     # broadcast batch dims: (5, 1) with (4,) -> (5, 4)
    ((1, 2, 3), (6, 3, 4)),        # a size-1 batch dim broadcast
]


def softmax_dims(ndim):
    """Any valid dim, negatives included; a 0-d tensor takes 0 or -1, as in torch."""
    top = max(ndim, 1)
    return st.integers(-top, top - 1)


def softmax_cases(shift=st.just(0.0)):
    """An array (values + a drawn shift, e.g. 1000 to prove stability) and a dim."""
    @st.composite
    def build(draw):
        shape = draw(SHAPES)
        x = values(np.random.default_rng(draw(SEEDS)), shape) + draw(shift)
        return Case((x,), {"dim": draw(softmax_dims(len(shape)))})
    return build()


def np_softmax(x, dim):
    """Straight from the definition; fine for the small values it is used on."""
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x)
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    if x.ndim == 0:
        return np.zeros_like(x)
    return x - np.log(np.exp(x).sum(axis=dim, keepdims=True))


def np_softmax_shifted(x, dim):
    """For large inputs: exp(x - c) / sum(exp(x - c)) with c the mean of the slice (not the
    max, which the implementation uses), so the reference does not share its arithmetic."""
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - x.mean(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax_shifted(x, dim):
    return np.log(np_softmax_shifted(x, dim))


LARGE = st.sampled_from([1000.0, -1000.0, 1e5])

SPECS = [
    OpSpec("matmul", edu_nn.matmul, np.matmul, matmul_cases()),
    OpSpec("matmul_operator", lambda a, b: a @ b, lambda a, b: a @ b, matmul_cases()),
    OpSpec("softmax", lambda x, dim: edu_nn.softmax(x, dim), np_softmax, softmax_cases()),
    OpSpec("log_softmax", lambda x, dim: edu_nn.log_softmax(x, dim), np_log_softmax,
           softmax_cases()),
    OpSpec("softmax_large_inputs", lambda x, dim: F.softmax(x, dim=dim), np_softmax_shifted,
           softmax_cases(LARGE)),
    OpSpec("log_softmax_large_inputs", lambda x, dim: x.log_softmax(dim),
           np_log_softmax_shifted, softmax_cases(LARGE), forward_rtol=1e-9),
]

globals().update(op_test_module(SPECS))


@pytest.mark.parametrize("sa, sb", EXPLICIT_MATMUL_SHAPES, ids=str)
def test_matmul_every_shape_rule(sa, sb, backend_name):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a_np, b_np = values(rng, sa), values(rng, sb)
    a = edu_nn.tensor(a_np, dtype="float64", backend=backend_name, requires_grad=True)
    b = edu_nn.tensor(b_np, dtype="float64", backend=backend_name, requires_grad=True)
    out = a @ b
    want = np.matmul(a_np, b_np)
    assert out.shape == want.shape
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    assert gradcheck(edu_nn.matmul, [a, b], name=f"matmul {sa} @ {sb}")


def test_matmul_gradient_by_hand(backend_name):
    # out = a @ b, loss = sum(out * g): dloss/da = g @ b^T, dloss/db = a^T @ g
    a_np = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b_np = np.array([[1.0, -1.0, 0.0, 2.0], [0.5, 0.0, 1.0, -2.0]])
    g_np = np.arange(12.0).reshape(3, 4)
    a = edu_nn.tensor(a_np, backend=backend_name, requires_grad=True)
    b = edu_nn.tensor(b_np, backend=backend_name, requires_grad=True)
    (a @ b).backward(edu_nn.tensor(g_np, backend=backend_name))
    np.testing.assert_allclose(a.grad.numpy(), g_np @ b_np.T)
    np.testing.assert_allclose(b.grad.numpy(), a_np.T @ g_np)
    # dot product: d(a . b)/da = b
    u = edu_nn.tensor([1.0, 2.0, 3.0], backend=backend_name, requires_grad=True)
    v = edu_nn.tensor([4.0, 5.0, 6.0], backend=backend_name, requires_grad=True)
    dot = u @ v
    assert dot.shape == () and dot.item() == 32.0
    dot.backward()
    np.testing.assert_array_equal(u.grad.numpy(), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(v.grad.numpy(), [1.0, 2.0, 3.0])


def test_matmul_errors_teach(backend_name):
    def t(*shape, dtype="float32"):
        return edu_nn.ones(*shape, dtype=dtype, backend=backend_name)
    with pytest.raises(ValueError, match=r"^matmul: shapes \(32, 10\) and \(20, 5\) do not "
                                         r"align: 10 != 20"):
        t(32, 10) @ t(20, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(4,\) do not align: "
                                         r"3 != 4"):
        edu_nn.matmul(t(3), t(4))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4,\) do not align"):
        t(2, 3) @ t(4)
    with pytest.raises(ValueError, match=r"matmul: batch dims \(2,\) and \(3,\) .* do not "
                                         r"broadcast: 2 != 3"):
        t(2, 3, 4) @ t(3, 4, 5)
    with pytest.raises(ValueError, match="at least 1 dim"):
        t() @ t(3)
    with pytest.raises(TypeError, match="dtypes differ: float32 and float64"):
        t(2, 3) @ t(3, 4, dtype="float64")


def test_matmul_with_numpy_operand(backend_name):
    a = edu_nn.tensor([[1.0, 2.0]], dtype="float64", backend=backend_name)
    np.testing.assert_array_equal((a @ np.array([[3.0], [4.0]])).numpy(), [[11.0]])
    # a list becomes a tensor of the default dtype, as in `a + [1.0]`
    a32 = a.float()
    np.testing.assert_array_equal(edu_nn.matmul([[3.0, 4.0]], a32.T).numpy(), [[11.0]])


# ----------------------------------------------------------------- softmax
def test_softmax_hand_values_at_large_magnitude(backend_name):
    x = edu_nn.tensor([[1000.0, 1000.0], [0.0, 1000.0], [-1000.0, -1000.0]],
                      dtype="float64", backend=backend_name, requires_grad=True)
    s = edu_nn.softmax(x, dim=1)
    np.testing.assert_array_equal(s.detach().numpy(), [[0.5, 0.5], [0.0, 1.0], [0.5, 0.5]])
    ls = edu_nn.log_softmax(x, dim=-1)
    np.testing.assert_allclose(ls.detach().numpy(),
                               [[-np.log(2)] * 2, [-1000.0, 0.0], [-np.log(2)] * 2],
                               rtol=1e-15)
    # d softmax / dx with upstream g: s * (g - sum(g * s)); row 0: 0.5 * ([1, 3] - 2)
    s.backward(edu_nn.tensor([[1.0, 3.0], [1.0, 3.0], [2.0, 2.0]], dtype="float64",
                             backend=backend_name))
    np.testing.assert_allclose(x.grad.numpy(), [[-0.5, 0.5], [0.0, 0.0], [0.0, 0.0]],
                               atol=1e-300)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_log_softmax_gradient_by_hand(backend_name):
    # x = [0, log 3]: softmax = [1/4, 3/4]; grad = g - softmax * sum(g), g = [1, 0]
    x = edu_nn.tensor([0.0, np.log(3.0)], dtype="float64", backend=backend_name,
                      requires_grad=True)
    edu_nn.log_softmax(x, 0).backward(edu_nn.tensor([1.0, 0.0], dtype="float64",
                                                    backend=backend_name))
    np.testing.assert_allclose(x.grad.numpy(), [0.75, -0.75])


def test_softmax_rows_sum_to_one_in_float32(backend_name):
    x = edu_nn.tensor(np.random.default_rng(1).standard_normal((5, 7)) * 50, dtype="float32",
                      backend=backend_name)
    s = x.softmax(1)
    assert s.dtype == "float32"
    np.testing.assert_allclose(s.numpy().sum(1), np.ones(5), rtol=1e-6)


def test_softmax_needs_a_dim(backend_name):
    x = edu_nn.ones(2, 3, backend=backend_name)
    for fn in (edu_nn.softmax, edu_nn.log_softmax, F.softmax, F.log_softmax):
        with pytest.raises(TypeError, match=r"dim is required.*dim=1"):
            fn(x)
    with pytest.raises(TypeError, match="single int"):
        edu_nn.softmax(x, (0, 1))
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range"):
        edu_nn.softmax(x, 2)
    with pytest.raises(TypeError, match="floating point"):
        edu_nn.softmax(edu_nn.tensor([1, 2], backend=backend_name), 0)


def test_softmax_dtype_argument_casts_first(backend_name):
    x = edu_nn.tensor([1, 2, 3], backend=backend_name)
    s = F.softmax(x, dim=0, dtype="float64")
    assert s.dtype == "float64"
    np.testing.assert_allclose(s.numpy(), np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


# -------------------------------------------------------------- functional
def test_functional_is_the_ops(backend_name):
    assert F.gelu is edu_nn.gelu and F.sigmoid is edu_nn.sigmoid and F.tanh is edu_nn.tanh
    assert F.softmax is edu_nn.softmax and F.log_softmax is edu_nn.log_softmax
    assert {"relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
            "linear", "cross_entropy"} <= set(F.__all__)
    x = edu_nn.tensor([-2.0, 0.0, 3.0], backend=backend_name)
    np.testing.assert_array_equal(F.relu(x).numpy(), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(F.relu(x, inplace=True).numpy(), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).numpy(), [-0.2, 0.0, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x, negative_slope=0.5, inplace=True).numpy(),
                               [-1.0, 0.0, 3.0])
    np.testing.assert_array_equal(x.numpy(), [-2.0, 0.0, 3.0])  # never mutated
    import edu_nn.nn as nn
    assert nn.functional is F
