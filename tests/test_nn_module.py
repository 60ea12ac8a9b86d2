"""nn.Module, Parameter, containers, state_dict, to(), save/load: torch's behaviour.

Layers' numbers against torch.nn are tests/test_nn_layers.py; here is the machinery:
registration, traversal, train/eval, state_dict keys and loading, conversion between
backends and dtypes, portable checkpoints, and the errors students meet.
"""
from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import pytest

import edu_nn
from edu_nn import nn

torch = pytest.importorskip("torch")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(edu_nn.ones(4))
        self.register_buffer("count", edu_nn.zeros(1))
        self.register_buffer("scratch", edu_nn.zeros(2), persistent=False)
        self.plain = 5  # not registered

    def forward(self, x):
        return self.fc(x) * self.scale


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.register_buffer("count", torch.zeros(1))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


# ------------------------------------------------------------------ registration
def test_attribute_assignment_registers_like_torch():
    edu, ref = Block(), TorchBlock()
    assert [n for n, _ in edu.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in edu.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert list(edu.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in edu.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [type(c).__name__ for c in edu.children()] == ["Linear"]
    assert edu.plain == 5 and "plain" not in dict(edu.named_parameters())
    # shapes follow torch's layouts
    for (n, p), (_, q) in zip(edu.state_dict().items(), ref.state_dict().items()):
        assert p.shape == tuple(q.shape), n


def test_reassigning_and_deleting_entries():
    m = Block()
    m.fc = nn.Identity()                     # a module replaced by a module
    assert "fc.weight" not in m.state_dict()
    m.scale = None                           # a parameter may become None
    assert "scale" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.scale = edu_nn.ones(4)             # a plain tensor is not silently a parameter
    del m.count
    assert "count" not in m.state_dict()
    m.count = edu_nn.ones(1)                 # now just an attribute again
    assert "count" not in m.state_dict()


def test_errors_when_init_was_not_called():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_shared_parameters_are_listed_once():
    fc = nn.Linear(2, 2)
    model = nn.Sequential(fc, nn.ReLU(), fc)
    assert len(list(model.parameters())) == 2
    ref_fc = torch.nn.Linear(2, 2)
    ref = torch.nn.Sequential(ref_fc, torch.nn.ReLU(), ref_fc)
    assert list(model.state_dict()) == list(ref.state_dict())


def test_train_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_both_ways():
    model = nn.Linear(3, 2)
    model(edu_nn.randn(4, 3)).sum().backward()
    assert model.weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert np.all(model.weight.grad.numpy() == 0)
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_parameter_grad_is_a_plain_tensor_like_torch():
    """A Parameter's .grad is a Tensor, not another Parameter (it would be listed by
    parameters() if assigned to a module), on the first and on accumulating backwards."""
    w, tw = nn.Parameter(edu_nn.ones(2)), torch.nn.Parameter(torch.ones(2))
    for _ in range(2):
        (w * 3).sum().backward()
        (tw * 3).sum().backward()
        assert type(w.grad) is edu_nn.Tensor and type(tw.grad) is torch.Tensor
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())


# ------------------------------------------------------------------ containers
def test_containers_index_like_torch():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq[1:].state_dict()) == ["2.weight", "2.bias"]  # torch keeps the names
    named = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["hidden.weight", "hidden.bias"]
    assert named[0] is named.hidden
    mlist = nn.ModuleList([nn.Linear(2, 2)]).append(nn.Linear(2, 2))
    mlist.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in mlist] == ["Tanh", "Linear", "Linear"]
    assert list(mlist.state_dict()) == ["1.weight", "1.bias", "2.weight", "2.bias"]
    mdict = nn.ModuleDict({"a": nn.Linear(1, 1)})
    mdict["b"] = nn.Linear(1, 2)
    assert list(mdict.keys()) == ["a", "b"] and "b" in mdict
    assert list(mdict.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    with pytest.raises(TypeError, match="not an nn.Module"):
        nn.Sequential(nn.Linear(2, 2), edu_nn.nn.functional.relu)
    with pytest.raises(IndexError, match="out of range"):
        seq[3]


def test_sequential_forward_equals_composition():
    edu_nn.manual_seed(0)
    a, b = nn.Linear(3, 4), nn.Linear(4, 2)
    x = edu_nn.randn(5, 3)
    np.testing.assert_array_equal(nn.Sequential(a, nn.Tanh(), b)(x).detach().numpy(),
                                  b(a(x).tanh()).detach().numpy())


# ------------------------------------------------------------------ repr
def test_repr_matches_torch():
    edu = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                        nn.Linear(8 * 14 * 14, 10, bias=False), nn.LogSoftmax(dim=1))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                              torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Dropout(0.25),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10, bias=False),
                              torch.nn.LogSoftmax(dim=1))
    assert repr(edu) == repr(ref)
    assert repr(nn.Parameter(edu_nn.zeros(1))).startswith("Parameter containing:\n")


# ------------------------------------------------------------------ state_dict loading
def test_load_state_dict_accepts_numpy_edu_and_torch_values():
    ref = torch.nn.Linear(3, 2)
    for source in (ref.state_dict(),                                           # torch
                   {k: v.numpy() for k, v in ref.state_dict().items()},        # NumPy
                   {k: edu_nn.from_torch(v) for k, v in ref.state_dict().items()}):  # edu_nn
        model = nn.Linear(3, 2)
        weight = model.weight
        assert model.load_state_dict(source) == ([], [])
        assert model.weight is weight          # the same Parameter, new values
        np.testing.assert_array_equal(model.weight.detach().numpy(), ref.weight.detach().numpy())
        assert model.weight.dtype == "float32" and model.weight.requires_grad


def test_load_state_dict_errors_list_every_problem_and_change_nothing():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    before = model[0].weight.detach().numpy().copy()
    bad = {"0.weight": np.ones((2, 3)), "0.bias": np.ones(5), "extra": np.ones(1)}
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(bad)
    text = str(info.value)
    assert 'Missing key(s) in state_dict: "1.weight", "1.bias".' in text
    assert 'Unexpected key(s) in state_dict: "extra".' in text
    assert "size mismatch for 0.bias" in text and "(5,)" in text and "(2,)" in text
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)
    # strict=False loads what fits and reports the rest
    result = model.load_state_dict({"0.weight": np.ones((2, 3)), "extra": np.ones(1)},
                                   strict=False)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"]
    assert result.unexpected_keys == ["extra"]
    assert np.all(model[0].weight.detach().numpy() == 1)
    with pytest.raises(RuntimeError, match="dtype mismatch for 0.weight"):
        model.load_state_dict({"0.weight": np.ones((2, 3), dtype=np.int64)}, strict=False)


# ------------------------------------------------------------------ conversion
def test_to_backend_and_dtype_keeps_parameter_objects(backend_name):
    edu_nn.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params = list(model.parameters())
    values = [p.detach().numpy() for p in params]
    model(edu_nn.randn(5, 3)).sum().backward()
    assert model.to(backend=backend_name) is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    for p, v in zip(model.parameters(), values):
        assert p.backend.name == backend_name and p.requires_grad
        np.testing.assert_array_equal(p.detach().numpy(), v)
        assert p.grad.backend.name == backend_name
    assert model[1].num_batches_tracked.backend.name == backend_name
    model.double()
    assert all(p.dtype == "float64" for p in model.parameters())
    assert model[1].running_mean.dtype == "float64"
    assert model[1].num_batches_tracked.dtype == "int64"   # integers stay integers
    out = model(edu_nn.randn(5, 3, dtype="float64", backend=backend_name))
    assert out.backend.name == backend_name and out.dtype == "float64"
    model.float()
    assert all(p.dtype == "float32" for p in model.parameters())
    with pytest.raises(TypeError, match="floating-point"):
        model.to("int64")


def test_module_factory_arguments(backend_name):
    layer = nn.Conv2d(2, 3, 3, dtype="float64", backend=backend_name)
    assert layer.weight.dtype == "float64" and layer.weight.backend.name == backend_name


# ------------------------------------------------------------------ save / load
def test_checkpoint_is_npz_without_pickle_and_loads_on_every_backend(tmp_path, backend_name):
    edu_nn.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3))
    model.train()
    model(edu_nn.randn(4, 1, 6, 6))  # move BatchNorm's running statistics off their init
    model.eval()
    path = tmp_path / "model.npz"
    edu_nn.save(model.state_dict(), path)
    with np.load(path, allow_pickle=False) as data:   # plain arrays only
        assert "0.weight" not in data.files and len(data.files) == 1 + len(model.state_dict())
    state = edu_nn.load(path, backend=backend_name)
    assert all(t.backend.name == backend_name for t in state.values())
    edu_nn.manual_seed(99)  # different initial weights, then overwritten by the checkpoint
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3)).to(backend=backend_name)
    other.load_state_dict(state)
    other.eval()
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype(np.float32)
    want = model(edu_nn.tensor(x)).detach().numpy()
    got = other(edu_nn.tensor(x, backend=backend_name)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_save_load_nested_structures_and_errors(tmp_path):
    obj = {"state": {0: {"step": 3, "exp_avg": edu_nn.ones(2)}},
           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}],
           "note": None, "array": np.arange(3)}
    buffer = io.BytesIO()
    edu_nn.save(obj, buffer)
    buffer.seek(0)
    back = edu_nn.load(buffer)
    assert back["state"][0]["step"] == 3 and back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert isinstance(back["state"][0]["exp_avg"], edu_nn.Tensor)
    assert isinstance(back["array"], np.ndarray) and back["array"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match=r"save model.state_dict\(\)"):
        edu_nn.save(nn.Linear(1, 1), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="cannot save a set"):
        edu_nn.save({"x": {1, 2}}, tmp_path / "m.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(1))
    with pytest.raises(ValueError, match="not one written by edu_nn.save"):
        edu_nn.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="no file"):
        edu_nn.load(tmp_path / "missing.npz")
    path = tmp_path / "no_suffix"
    edu_nn.save({"w": edu_nn.ones(1)}, path)   # the path is used as given
    assert path.exists() and edu_nn.load(path)["w"].item() == 1.0


def test_torch_checkpoint_values_port_into_edu_nn():
    """Course code trained in torch: its state_dict loads into the same edu_nn model."""
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(model(edu_nn.tensor(x)).detach().numpy(),
                               ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_optimizer_state_round_trips_through_a_checkpoint(tmp_path):
    """Resume training: model and Adam state saved mid-run continue the same trajectory."""
    from edu_nn import optim
    x, y = edu_nn.randn(8, 3, dtype="float64"), edu_nn.randn(8, 1, dtype="float64")

    def run(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    edu_nn.manual_seed(0)
    model = nn.Linear(3, 1).double()
    opt = optim.Adam(model.parameters(), lr=0.1, amsgrad=True)
    run(model, opt, 3)
    edu_nn.save({"model": model.state_dict(), "optim": opt.state_dict()}, tmp_path / "ck.npz")
    run(model, opt, 4)
    checkpoint = edu_nn.load(tmp_path / "ck.npz")
    resumed = nn.Linear(3, 1).double()
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt = optim.Adam(resumed.parameters(), lr=0.1, amsgrad=True)
    resumed_opt.load_state_dict(checkpoint["optim"])
    run(resumed, resumed_opt, 4)
    for a, b in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
