"""Every layer and loss module equals its torch.nn counterpart, on every backend.

torch's module (float64) lends its weights through ``load_state_dict`` (so the keys and
layouts are checked too); then the forward, the input gradient and every parameter
gradient under a random upstream gradient must agree to 1e-8 relative, and after several
training steps so must the buffers (BatchNorm's running statistics). The functional ops
behind the layers have their own property-based tests (test_nn_conv_pool.py,
test_nn_norm_dropout.py, test_nn_losses.py); these tests are about the modules: argument
handling, defaults, parameter names, train/eval behaviour, and the errors students meet.
"""
from __future__ import annotations

import numpy as np
import pytest

import edu_nn
from edu_nn import nn
from torchref import check_module_against_torch

torch = pytest.importorskip("torch")
tnn = torch.nn


def rng(seed=0):
    return np.random.default_rng(seed)


def images(n=3, c=2, h=7, w=6, seed=0):
    return rng(seed).standard_normal((n, c, h, w))


# (id, edu module factory, torch module factory, input factory)
LAYERS = [
    ("linear", lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3),
     lambda: [rng().standard_normal((4, 5))]),
    ("linear_3d_nobias", lambda: nn.Linear(5, 3, bias=False), lambda: tnn.Linear(5, 3, bias=False),
     lambda: [rng().standard_normal((2, 4, 5))]),
    ("conv1d", lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1),
     lambda: tnn.Conv1d(2, 3, 3, stride=2, padding=1), lambda: [rng().standard_normal((3, 2, 9))]),
    ("conv2d", lambda: nn.Conv2d(2, 4, 3, padding=1), lambda: tnn.Conv2d(2, 4, 3, padding=1),
     lambda: [images()]),
    ("conv2d_stride_dilation", lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0),
                                                 dilation=(1, 2), bias=False),
     lambda: tnn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                        bias=False), lambda: [images()]),
    ("conv2d_same", lambda: nn.Conv2d(2, 3, 3, padding="same"),
     lambda: tnn.Conv2d(2, 3, 3, padding="same"), lambda: [images()]),
    ("maxpool1d", lambda: nn.MaxPool1d(3, stride=2, padding=1),
     lambda: tnn.MaxPool1d(3, stride=2, padding=1), lambda: [rng().standard_normal((2, 3, 9))]),
    ("maxpool2d", lambda: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), lambda: [images()]),
    ("avgpool1d", lambda: nn.AvgPool1d(2), lambda: tnn.AvgPool1d(2),
     lambda: [rng().standard_normal((2, 3, 8))]),
    ("avgpool2d_pad", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
     lambda: tnn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), lambda: [images()]),
    ("flatten", lambda: nn.Flatten(), lambda: tnn.Flatten(), lambda: [images()]),
    ("layernorm", lambda: nn.LayerNorm((6,)), lambda: tnn.LayerNorm((6,)),
     lambda: [rng().standard_normal((3, 4, 6))]),
    ("layernorm_2d_noaffine", lambda: nn.LayerNorm((7, 6), elementwise_affine=False),
     lambda: tnn.LayerNorm((7, 6), elementwise_affine=False), lambda: [images()]),
    ("embedding", lambda: nn.Embedding(6, 3, padding_idx=2), lambda: tnn.Embedding(6, 3, padding_idx=2),
     lambda: [np.array([[0, 2, 5], [2, 2, 1]])]),
    ("relu", lambda: nn.ReLU(), lambda: tnn.ReLU(), lambda: [images()]),
    ("leaky_relu", lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), lambda: [images()]),
    ("prelu_shared", lambda: nn.PReLU(), lambda: tnn.PReLU(), lambda: [images()]),
    ("prelu_channels", lambda: nn.PReLU(2, init=0.1), lambda: tnn.PReLU(2, init=0.1),
     lambda: [images()]),
    ("sigmoid", lambda: nn.Sigmoid(), lambda: tnn.Sigmoid(), lambda: [images()]),
    ("tanh", lambda: nn.Tanh(), lambda: tnn.Tanh(), lambda: [images()]),
    ("gelu", lambda: nn.GELU(), lambda: tnn.GELU(), lambda: [images()]),
    ("gelu_tanh", lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), lambda: [images()]),
    ("softmax", lambda: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1), lambda: [images()]),
    ("log_softmax", lambda: nn.LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1),
     lambda: [images()]),
    ("identity", lambda: nn.Identity(3, x=1), lambda: tnn.Identity(3, x=1), lambda: [images()]),
    ("dropout_eval_p0", lambda: nn.Dropout(0.0), lambda: tnn.Dropout(0.0), lambda: [images()]),
]


def away_from_ties(arrays):
    """Activations and pooling have kinks and ties; random normals have neither in practice,
    but keep every value at least 1e-3 away from 0 to be safe."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            a = np.where(np.abs(a) < 1e-3, 1e-3, a)
        out.append(a)
    return out


@pytest.mark.parametrize("make_edu,make_torch,make_inputs",
                         [case[1:] for case in LAYERS], ids=[case[0] for case in LAYERS])
def test_layer_equals_torch(make_edu, make_torch, make_inputs, backend_name):
    check_module_against_torch(make_edu(), make_torch(), away_from_ties(make_inputs()),
                               backend_name)


# ------------------------------------------------------------------ BatchNorm
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}, {"bias": False}],
                         ids=["default", "cumulative", "no_affine", "no_tracking", "no_bias"])
@pytest.mark.parametrize("layer,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (5, 3, 4)),
                                         ("BatchNorm2d", (4, 3, 5, 2))],
                         ids=["bn1d_NC", "bn1d_NCL", "bn2d"])
def test_batchnorm_training_steps_then_eval_equal_torch(layer, shape, kwargs, backend_name):
    edu, ref = getattr(nn, layer)(3, **kwargs), getattr(tnn, layer)(3, **kwargs)
    x = rng(1).standard_normal(shape) * 3 + 1
    check_module_against_torch(edu, ref, [x], backend_name, steps=3)   # training mode
    edu.eval(), ref.eval()
    check_module_against_torch(edu, ref, [x[::-1].copy()], backend_name, steps=1)
    if kwargs.get("track_running_stats", True):
        assert int(edu.num_batches_tracked.item()) == 3


# ------------------------------------------------------------------ dropout
def test_dropout_layers_train_and_eval(backend_name):
    x = edu_nn.ones(200, 50, backend=backend_name)
    layer = nn.Dropout(0.3)
    out = layer(x).numpy()
    assert abs((out != 0).mean() - 0.7) < 0.03
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    assert not np.array_equal(layer(x).numpy(), out), "each call draws a new mask"
    assert np.array_equal(layer.eval()(x).numpy(), x.numpy())
    maps = nn.Dropout2d(0.5)(edu_nn.ones(8, 16, 3, 3, backend=backend_name)).numpy()
    per_channel = maps.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1)), \
        "Dropout2d must zero whole channels"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# ------------------------------------------------------------------ residual blocks
class TorchBasicBlock(tnn.Module):
    """torchvision's BasicBlock, written out (torchvision is not a test dependency)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = (tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                          tnn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


@pytest.mark.parametrize("cin,cout,stride", [(2, 2, 1), (2, 4, 2)])
def test_basic_block_equals_torchvision_layout(cin, cout, stride, backend_name):
    check_module_against_torch(nn.BasicBlock(cin, cout, stride), TorchBasicBlock(cin, cout, stride),
                               [images(c=cin, h=6, w=6)], backend_name, steps=2)


def test_residual_adds_the_input(backend_name):
    edu = nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4)))

    class TorchResidual(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fn = tnn.Sequential(tnn.Linear(4, 4), tnn.Tanh(), tnn.Linear(4, 4))

        def forward(self, x):
            return self.fn(x) + x
    check_module_against_torch(edu, TorchResidual(), [rng().standard_normal((5, 4))], backend_name)
    with pytest.raises(ValueError, match="must match"):
        nn.Residual(nn.Linear(4, 3))(edu_nn.randn(2, 4))


# ------------------------------------------------------------------ loss modules
def _targets(n=6, c=4):
    return rng(2).integers(0, c, n)


LOSSES = [
    ("mse", lambda: nn.MSELoss(), lambda: tnn.MSELoss(),
     lambda: [rng().standard_normal((3, 4)), rng(1).standard_normal((3, 4))]),
    ("l1_sum", lambda: nn.L1Loss(reduction="sum"), lambda: tnn.L1Loss(reduction="sum"),
     lambda: [rng().standard_normal((3, 4)), rng(1).standard_normal((3, 4))]),
    ("huber", lambda: nn.HuberLoss(delta=0.5), lambda: tnn.HuberLoss(delta=0.5),
     lambda: [rng().standard_normal((3, 4)), rng(1).standard_normal((3, 4))]),
    ("smooth_l1_none", lambda: nn.SmoothL1Loss(reduction="none", beta=0.7),
     lambda: tnn.SmoothL1Loss(reduction="none", beta=0.7),
     lambda: [rng().standard_normal((3, 4)), rng(1).standard_normal((3, 4))]),
    ("cross_entropy", lambda: nn.CrossEntropyLoss(), lambda: tnn.CrossEntropyLoss(),
     lambda: [rng().standard_normal((6, 4)), _targets()]),
    ("cross_entropy_options",
     lambda: nn.CrossEntropyLoss(weight=edu_nn.tensor([0.5, 1.0, 2.0, 1.5], dtype="float64"),
                                 ignore_index=1, label_smoothing=0.1),
     lambda: tnn.CrossEntropyLoss(weight=torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64),
                                  ignore_index=1, label_smoothing=0.1),
     lambda: [rng().standard_normal((6, 4)), _targets()]),
    ("nll", lambda: nn.NLLLoss(reduction="sum"), lambda: tnn.NLLLoss(reduction="sum"),
     lambda: [rng().standard_normal((6, 4)), _targets()]),
    ("bce", lambda: nn.BCELoss(), lambda: tnn.BCELoss(),
     lambda: [rng().uniform(0.05, 0.95, (5, 2)), rng(1).uniform(0, 1, (5, 2))]),
    ("bce_logits_pos_weight",
     lambda: nn.BCEWithLogitsLoss(pos_weight=edu_nn.tensor([2.0, 0.5], dtype="float64")),
     lambda: tnn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 0.5], dtype=torch.float64)),
     lambda: [rng().standard_normal((5, 2)), rng(1).uniform(0, 1, (5, 2))]),
]


@pytest.mark.parametrize("make_edu,make_torch,make_inputs",
                         [case[1:] for case in LOSSES], ids=[case[0] for case in LOSSES])
def test_loss_module_equals_torch(make_edu, make_torch, make_inputs, backend_name):
    inputs = make_inputs()
    edu_module, torch_module = make_edu(), make_torch()
    target = inputs[1]
    # the target is data, not a parameter: compare the loss as a function of the input only
    check_module_against_torch(_Bound(edu_module, target, backend_name),
                               _TorchBound(torch_module, target), [inputs[0]], backend_name)


class _Bound(nn.Module):
    def __init__(self, loss, target, backend):
        super().__init__()
        self.loss = loss
        dtype = "float64" if target.dtype.kind == "f" else "int64"
        self.target = edu_nn.tensor(target, dtype=dtype, backend=backend)

    def forward(self, x):
        return self.loss(x, self.target)


class _TorchBound(tnn.Module):
    def __init__(self, loss, target):
        super().__init__()
        self.loss = loss
        self.target = torch.tensor(target)

    def forward(self, x):
        return self.loss(x, self.target)


def test_loss_modules_map_deprecated_arguments_like_torch():
    for kwargs in ({"size_average": False}, {"reduce": False}, {"size_average": True}):
        with pytest.warns(UserWarning):
            ours = nn.MSELoss(**kwargs).reduction
        with pytest.warns(UserWarning):
            assert ours == tnn.MSELoss(**kwargs).reduction, kwargs
    with pytest.raises(ValueError, match="'mean', 'sum' or 'none'"):
        nn.L1Loss(reduction="avg")(edu_nn.randn(2), edu_nn.randn(2))


# ------------------------------------------------------------------ errors that teach
def test_errors_name_the_layer_and_the_expected_shape():
    with pytest.raises(ValueError, match=r"Conv2d expects an input of shape \(N, C_in=1, H, W\)"
                       r".*x.unsqueeze\(1\)"):
        nn.Conv2d(1, 4, 3)(edu_nn.randn(8, 28, 28))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        nn.Conv2d(3, 4, 3)(edu_nn.randn(8, 1, 28, 28))
    with pytest.raises(ValueError, match=r"in_features=784.*nn.Flatten"):
        nn.Linear(784, 10)(edu_nn.randn(8, 28, 28))
    with pytest.raises(ValueError, match="BatchNorm2d expects 4-d"):
        nn.BatchNorm2d(3)(edu_nn.randn(8, 3))
    with pytest.raises(ValueError, match="more than one value per channel in training mode.*model.eval()"):
        nn.BatchNorm1d(3)(edu_nn.randn(1, 3))
    nn.BatchNorm1d(3).eval()(edu_nn.randn(1, 3))  # fine in eval mode
    with pytest.raises(IndexError, match="out of range"):
        nn.CrossEntropyLoss()(edu_nn.randn(4, 3), edu_nn.tensor([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="needs the dim"):
        nn.Softmax()(edu_nn.randn(2, 3))
    with pytest.raises(NotImplementedError, match="groups=2"):
        nn.Conv2d(2, 2, 3, groups=2)
