"""nn.init and the layers' default initialisation follow torch's distributions, seeded.

torch's RNG cannot be reproduced, so the checks are on distributions: the bounds and
standard deviations come from torch's formulas (calculate_gain and fan_in/fan_out are
compared with torch's own functions), and large draws must show them (uniform: all values
inside the bound and the extremes near it; normal: the sample std within 3% of the target,
a margin of about 10 standard errors for these sizes). Seeding: the same seed gives the
same weights on every backend.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import edu_nn
from edu_nn import nn
from edu_nn.nn import init

torch = pytest.importorskip("torch")

SHAPES = [(300, 200), (64, 16, 3, 3), (128, 8, 5)]


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("sigmoid", None),
                                                ("tanh", None), ("relu", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2),
                                                ("selu", None), ("conv2d", None)])
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(edu_nn.zeros(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def _std_rel_tol(n: int) -> float:
    """Five standard errors of a sample std, relative (~0.71/sqrt(n) for a normal sample,
    ~0.45/sqrt(n) for a uniform one), so a correct init fails about once in a million draws
    whatever the tensor's size; a wrong scale (a factor sqrt(2) or sqrt(3) off) still fails."""
    return 5 * 0.71 / math.sqrt(n)


def _uniform_ok(values: np.ndarray, bound: float) -> None:
    assert np.all(np.abs(values) <= bound * (1 + 1e-6)), "a draw lies outside the bound"
    assert values.max() > 0.97 * bound and values.min() < -0.97 * bound, \
        "the draws do not reach the bound: wrong scale"
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=_std_rel_tol(values.size))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_and_xavier_follow_torch_formulas(shape, mode):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    fan = fan_in if mode == "fan_in" else fan_out
    w = edu_nn.zeros(shape, dtype="float64")
    gain = torch.nn.init.calculate_gain("relu")
    _uniform_ok(init.kaiming_uniform_(w, mode=mode, nonlinearity="relu").numpy(),
                gain * math.sqrt(3.0 / fan))
    tol = _std_rel_tol(math.prod(shape))
    assert init.kaiming_normal_(w, mode=mode, nonlinearity="relu").numpy().std() == \
        pytest.approx(gain / math.sqrt(fan), rel=tol)
    _uniform_ok(init.xavier_uniform_(w, gain=2.0).numpy(),
                2.0 * math.sqrt(6.0 / (fan_in + fan_out)))
    assert init.xavier_normal_(w).numpy().std() == \
        pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=tol)


def test_simple_fills():
    w = edu_nn.zeros(200, 300)
    assert init.uniform_(w, -2, 3) is w
    assert w.numpy().min() >= -2 and w.numpy().max() < 3 and abs(w.numpy().mean() - 0.5) < 0.05
    init.normal_(w, 1.0, 0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.01 and w.numpy().std() == pytest.approx(0.5, rel=0.03)
    init.trunc_normal_(w, std=1.0, a=-1.0, b=1.0)
    assert np.abs(w.numpy()).max() <= 1.0
    assert np.all(init.constant_(w, 0.3).numpy() == np.float32(0.3))
    assert np.all(init.zeros_(w).numpy() == 0) and np.all(init.ones_(w).numpy() == 1)
    np.testing.assert_array_equal(init.eye_(edu_nn.zeros(3, 4)).numpy(), np.eye(3, 4))


def test_init_errors_teach():
    with pytest.raises(ValueError, match="fewer than 2 dimensions.*zeros_ for a bias"):
        init.kaiming_uniform_(edu_nn.zeros(5))
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.kaiming_normal_(edu_nn.zeros(2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(edu_nn.zeros(2, dtype="int64"))


def test_init_keeps_the_parameter_object_and_dtype(backend_name):
    p = nn.Parameter(edu_nn.zeros(30, 20, dtype="float64", backend=backend_name))
    assert init.xavier_uniform_(p) is p
    assert p.dtype == "float64" and p.backend.name == backend_name and p.requires_grad


def test_same_seed_same_weights_on_every_backend(backend_name):
    def build(backend):
        edu_nn.manual_seed(123)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 2),
                             nn.Embedding(5, 3), nn.PReLU()).to(backend=backend)
    reference = build("numpy").state_dict()
    other = build(backend_name).state_dict()
    for key in reference:
        np.testing.assert_array_equal(other[key].numpy(), reference[key].numpy(), err_msg=key)
    edu_nn.manual_seed(124)
    changed = nn.Conv2d(1, 4, 3).state_dict()["weight"].numpy()
    assert not np.array_equal(changed, reference["0.weight"].numpy())


def test_generator_argument_is_independent_of_the_global_seed():
    w1, w2 = edu_nn.zeros(4, 4), edu_nn.zeros(4, 4)
    init.normal_(w1, generator=edu_nn.Generator(7))
    edu_nn.manual_seed(1000)
    init.normal_(w2, generator=edu_nn.Generator(7))
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())


# ---------------------------------------------------- the layers' default init
def _torch_bound(fan_in: int) -> float:
    """torch's Linear/Conv default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), ...)."""
    return torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) * math.sqrt(3.0 / fan_in)


@pytest.mark.parametrize("make,fan_in", [
    (lambda: nn.Linear(400, 300), 400),
    (lambda: nn.Conv2d(16, 64, 3), 16 * 9),
    (lambda: nn.Conv1d(8, 256, 5), 8 * 5)])
def test_linear_and_conv_default_init_is_torchs(make, fan_in):
    layer = make()
    _uniform_ok(layer.weight.detach().numpy().astype(np.float64), _torch_bound(fan_in))
    bias = layer.bias.detach().numpy()
    assert np.all(np.abs(bias) <= 1 / math.sqrt(fan_in))
    assert bias.std() > 0.3 / math.sqrt(fan_in)  # drawn, not zero


def test_other_layers_default_init_is_torchs():
    for edu, ref in [(nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)),
                     (nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))),
                     (nn.PReLU(3), torch.nn.PReLU(3))]:
        for key, value in ref.state_dict().items():   # deterministic inits: equal values
            np.testing.assert_array_equal(edu.state_dict()[key].numpy(), value.numpy())
    emb = nn.Embedding(2000, 50, padding_idx=3).weight.detach().numpy()
    assert np.all(emb[3] == 0)
    assert emb.std() == pytest.approx(1.0, rel=0.03) and abs(emb.mean()) < 0.02
