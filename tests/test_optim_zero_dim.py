"""Every optimizer on 0-d parameters (issue 15, item 7: on the NumPy backend they all failed
with ``TypeError: return arrays must be of ArrayType`` in ``add_scaled``), on every backend,
against torch.optim: 20 steps of loss = (a - 3)^2 * (1 + b^2) + b^4 with two 0-d
parameters (and a (2,) one next to them), every value compared.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edu_nn  # noqa: E402
from edu_nn import nn, optim  # noqa: E402

CONFIGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adadelta", {"lr": 1.0}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
]


def run(lib, make_param, opt_class, options, steps=20):
    a, b, v = make_param(1.0), make_param(-0.5), make_param([0.5, -1.0])
    opt = opt_class([a, b, v], **options)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (a - 3.0) ** 2 * (1.0 + b ** 2) + b ** 4 + (v * v).sum() * a
        loss.backward()
        opt.step()
        trajectory.append([a.item(), b.item(), *v.detach().numpy().tolist()])
    return np.array(trajectory), a


@pytest.mark.parametrize("name,options", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in
                                                       enumerate(CONFIGS)])
def test_every_optimizer_steps_0d_parameters_like_torch(backend_name, name, options):
    want, _ = run(torch, lambda v: torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)),
                  getattr(torch.optim, name), options)
    got, a = run(edu_nn, lambda v: nn.Parameter(edu_nn.tensor(v, dtype="float64",
                                                              backend=backend_name)),
                 getattr(optim, name), options)
    assert a.shape == () and a.dtype == "float64"
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
