"""Gradient clipping equals torch.nn.utils'; the L1/L2 penalties skip biases and
normalisation parameters and have the textbook gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edu_nn
from edu_nn import nn

torch = pytest.importorskip("torch")


def _grads_pair(backend, scale):
    """Two parameters with the same random gradients in edu_nn and torch (float64)."""
    r = np.random.default_rng(0)
    values = [r.standard_normal((3, 4)) * scale, r.standard_normal(5) * scale]
    edu, ref = [], []
    for v in values:
        p = nn.Parameter(edu_nn.zeros(v.shape, dtype="float64", backend=backend))
        p.grad = edu_nn.tensor(v, dtype="float64", backend=backend)
        q = torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float64))
        q.grad = torch.tensor(v)
        edu.append(p), ref.append(q)
    return edu, ref


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0),
                                                (0.3, math.inf), (2.0, 3.0)])
def test_clip_grad_norm_equals_torch(max_norm, norm_type, backend_name):
    edu, ref = _grads_pair(backend_name, 2.0)
    total = nn.utils.clip_grad_norm_(edu, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    assert float(total.item()) == pytest.approx(float(want), rel=1e-12)
    for p, q in zip(edu, ref):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_value_equals_torch(backend_name):
    edu, ref = _grads_pair(backend_name, 1.0)
    nn.utils.clip_grad_value_(edu, 0.4)
    torch.nn.utils.clip_grad_value_(ref, 0.4)
    for p, q in zip(edu, ref):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    with pytest.raises(ValueError, match=">= 0"):
        nn.utils.clip_grad_value_(edu, -1)


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(edu_nn.zeros(2, dtype="float64"))
    p.grad = edu_nn.tensor([math.inf, 1.0], dtype="float64")
    with pytest.raises(RuntimeError, match="lower the learning rate"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.ln = nn.LayerNorm(2)


def test_penalties_skip_biases_and_norm_parameters(backend_name):
    model = Net().double().to(backend=backend_name)
    assert [n for n, _ in nn.utils.penalized_parameters(model)] == ["fc1.weight", "fc2.weight"]
    everything = [n for n, _ in nn.utils.penalized_parameters(model, include_bias=True,
                                                               include_norm=True)]
    assert everything == [n for n, _ in model.named_parameters()]
    w1, w2 = (model.fc1.weight.detach().numpy(), model.fc2.weight.detach().numpy())
    l2 = nn.utils.l2_penalty(model)
    assert l2.item() == pytest.approx((w1 ** 2).sum() + (w2 ** 2).sum(), rel=1e-12)
    l1 = nn.utils.l1_penalty(model)
    assert l1.item() == pytest.approx(np.abs(w1).sum() + np.abs(w2).sum(), rel=1e-12)
    (l2 + 3.0 * l1).backward()
    np.testing.assert_allclose(model.fc1.weight.grad.numpy(), 2 * w1 + 3 * np.sign(w1), rtol=1e-12)
    assert model.fc1.bias.grad is None and model.bn.weight.grad is None


def test_penalty_errors():
    with pytest.raises(TypeError, match="nn.Module"):
        nn.utils.l2_penalty([edu_nn.ones(2)])
    with pytest.raises(ValueError, match="no parameters to penalise"):
        nn.utils.l1_penalty(nn.BatchNorm1d(3))
