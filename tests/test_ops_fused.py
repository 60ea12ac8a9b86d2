"""Fused ops (F.linear, F.cross_entropy): forward vs NumPy, gradcheck, equal to composition."""
import numpy as np
import pytest
from hypothesis import strategies as st

import edu_nn
from edu_nn.nn.functional import cross_entropy, linear
from opcheck import SEEDS, Case, OpSpec, op_test_module


@st.composite
def linear_cases(draw, bias=True):
    lead = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = (rng.standard_normal(lead + [n_in]), rng.standard_normal((n_out, n_in)))
    if bias:
        arrays += (rng.standard_normal(n_out),)
    return Case(arrays)


@st.composite
def ce_cases(draw, soft=False):
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(SEEDS))
    logits = rng.standard_normal((n, c)) * 3
    if soft:
        p = rng.uniform(0.1, 1.0, (n, c))
        target = p / p.sum(axis=1, keepdims=True)
        return Case((logits, target), {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))},
                    constant=(1,))
    target = rng.integers(0, c, n)
    return Case((logits, target), {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))})


def np_log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_ce(logits, target, reduction):
    logp = np_log_softmax(logits)
    per = -(target * logp).sum(1) if target.dtype.kind == "f" else \
        -logp[np.arange(len(target)), target]
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


SPECS = [
    OpSpec("linear", linear, lambda x, w, b: x @ w.T + b, linear_cases()),
    OpSpec("linear_no_bias", linear, lambda x, w: x @ w.T, linear_cases(bias=False)),
    OpSpec("cross_entropy_indices", cross_entropy, np_ce, ce_cases()),
    OpSpec("cross_entropy_probabilities", cross_entropy, np_ce, ce_cases(soft=True)),
]

globals().update(op_test_module(SPECS))


def test_cross_entropy_equals_log_softmax_composition(backend_name):
    rng = np.random.default_rng(0)
    x_np, y_np = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    x1 = edu_nn.tensor(x_np, requires_grad=True, backend=backend_name)
    x2 = edu_nn.tensor(x_np, requires_grad=True, backend=backend_name)
    fused = cross_entropy(x1, edu_nn.tensor(y_np, backend=backend_name))
    onehot = edu_nn.tensor(np.eye(4)[y_np], backend=backend_name)
    composed = -(edu_nn.log_softmax(x2, dim=1) * onehot).sum() / 5
    fused.backward()
    composed.backward()
    assert fused.item() == pytest.approx(composed.item(), rel=1e-12)
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_is_stable_for_huge_logits():
    x = edu_nn.tensor([[1000.0, 0.0], [-1000.0, 0.0]], dtype="float64", requires_grad=True)
    loss = cross_entropy(x, edu_nn.tensor([0, 0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [0.0, 1000.0])
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_cross_entropy_errors_teach():
    x = edu_nn.randn(3, 4)
    with pytest.raises(IndexError, match=r"target class 7 is out of range.*4 classes.*\[0, 3\]"):
        cross_entropy(x, edu_nn.tensor([0, 7, 1]))
    with pytest.raises(IndexError, match="target class -1"):
        cross_entropy(x, edu_nn.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        cross_entropy(x, edu_nn.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, edu_nn.tensor([0, 1, 2]), reduction="avg")


def test_linear_shape_error_names_in_features():
    with pytest.raises(ValueError, match=r"\(8, 3\).*\(5, 4\).*in_features = 4"):
        linear(edu_nn.randn(8, 3), edu_nn.randn(5, 4))


def test_linear_errors_name_the_bad_argument():
    """Each mistake gets its own message (the fast path's single compare only routes here)."""
    x, w, b = edu_nn.randn(8, 4), edu_nn.randn(5, 4), edu_nn.randn(5)
    with pytest.raises(TypeError, match="input must be an edu_nn Tensor, got ndarray"):
        linear(np.ones((8, 4), np.float32), w, b)
    with pytest.raises(TypeError, match="bias must be an edu_nn Tensor, got list"):
        linear(x, w, [0.0] * 5)
    with pytest.raises(ValueError, match=r"weight must be 2-d.*\(4,\)"):
        linear(x, edu_nn.randn(4), b)
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\), got \(4,\)"):
        linear(x, w, edu_nn.randn(4))
    with pytest.raises(ValueError, match="in_features = 4"):
        linear(edu_nn.randn(()), w, b)
    assert linear(x, w, b).shape == (8, 5) and linear(x, w).shape == (8, 5)


def test_linear_refuses_mixed_float_dtypes_like_torch():
    """float64 data into a float32 layer: an error before anything is computed (torch:
    'mat1 and mat2 must have the same dtype'), not a float64 forward whose backward then
    fails with a message about gradient dtypes."""
    w = edu_nn.randn(5, 4, requires_grad=True)
    with pytest.raises(TypeError, match="dtypes differ: float64 and float32.*double"):
        linear(edu_nn.randn(8, 4, dtype="float64"), w)
