"""overfit_one_batch: Karpathy's sanity check succeeds on a sound MLP and explains failures."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.train import OverfitResult, overfit_one_batch


def batch(n=32, d=10, classes=4, seed=0):
    """Random inputs with random labels: only memorization can fit them."""
    rng = np.random.default_rng(seed)
    return (edu_nn.tensor(rng.normal(size=(n, d)).astype(np.float32)),
            edu_nn.tensor(rng.integers(0, classes, size=n)))


def mlp(hidden=64):
    edu_nn.manual_seed(0)
    return nn.Sequential(nn.Linear(10, hidden), nn.ReLU(), nn.Linear(hidden, 4))


def test_sound_mlp_memorizes_one_batch():
    model = mlp()
    result = overfit_one_batch(model, nn.CrossEntropyLoss(),
                               optim.Adam(model.parameters(), lr=1e-2), batch(), steps=300)
    assert isinstance(result, OverfitResult) and result.success and bool(result)
    assert result.accuracy == 1.0 and result.final_loss <= 1e-2
    assert result.losses[0] == pytest.approx(np.log(4), rel=0.3)   # ~ln(C) at init
    assert result.steps == len(result.losses) - 1 < 300              # stopped at the target
    assert result.message.startswith("ok")


def test_lr_zero_is_reported_as_failure():
    model = mlp()
    result = overfit_one_batch(model, nn.CrossEntropyLoss(),
                               optim.SGD(model.parameters(), lr=0.0), batch(), steps=20)
    assert not result.success and result.steps == 20
    assert result.losses == [result.losses[0]] * 20
    assert "did not move" in result.message and "learning rate" in result.message


def test_too_little_capacity_and_too_high_lr_are_explained():
    model = mlp(hidden=1)                         # one hidden unit cannot memorize 32 labels
    result = overfit_one_batch(model, nn.CrossEntropyLoss(),
                               optim.Adam(model.parameters(), lr=1e-2), batch(), steps=100)
    assert not result.success and "capacity" in result.message
    model = mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = overfit_one_batch(model, nn.CrossEntropyLoss(),
                                   optim.SGD(model.parameters(), lr=1e8), batch(), steps=50)
    assert not result.success and "learning rate is probably too high" in result.message


def test_regression_batch_uses_the_loss_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0], [2.0]], np.float32))
    edu_nn.manual_seed(0)
    model = nn.Linear(3, 1)
    result = overfit_one_batch(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                               (edu_nn.tensor(x), edu_nn.tensor(y)), target_loss=1e-4)
    assert result.success and result.accuracy is None


def test_bad_arguments():
    model = mlp()
    with pytest.raises(ValueError, match="steps"):
        overfit_one_batch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                          batch(), steps=0)
    with pytest.raises(TypeError, match="pair"):
        overfit_one_batch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                          batch()[0])
