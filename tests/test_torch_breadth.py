"""torch names that tutorials use (issue 15's census): the library packages reachable from
``import edu_nn`` (lazily), the device idiom, factories and their torch dtypes, seeding as
torch does it, ``grad_fn.name()``/``next_functions``, indexing with range, and the small
Tensor conveniences (``type``, ``nelement``, ``__index__``, ``__format__``).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import edu_nn

torch = pytest.importorskip("torch")


def fresh(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EDU_NN_BACKEND")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_library_packages_load_lazily_on_first_use():
    out = json.loads(fresh(
        "import json, sys, time\n"
        "t = time.perf_counter(); import edu_nn; seconds = time.perf_counter() - t\n"
        "before = [m for m in ('edu_nn.nn', 'edu_nn.optim', 'edu_nn.utils', 'torch', 'jax')"
        " if m in sys.modules]\n"
        "import edu_nn as torch\n"
        "names = [torch.nn.Linear.__name__, torch.optim.SGD.__name__,"
        " torch.utils.data.DataLoader.__name__, torch.nn.functional.relu.__name__]\n"
        "print(json.dumps({'before': before, 'names': names, 'seconds': seconds,"
        " 'torch': 'torch' in sys.modules}))"))
    assert out["before"] == [], "nn/optim/utils must not load with `import edu_nn`"
    assert out["names"] == ["Linear", "SGD", "DataLoader", "relu"]
    assert not out["torch"], "reaching edu_nn.nn must not import torch"
    # the 0.3 s budget itself is asserted (best of several runs) by test_import.py


def test_default_generator_is_not_fixed_until_manual_seed():
    draw = "import edu_nn; print(edu_nn.randn(3).tolist())"
    assert fresh(draw) != fresh(draw), "two fresh processes drew the same numbers"
    seeded = "import edu_nn; edu_nn.manual_seed(7); print(edu_nn.randn(3).tolist())"
    assert fresh(seeded) == fresh(seeded)
    edu_nn.manual_seed(123)
    assert edu_nn.initial_seed() == 123


def test_device_idiom():
    dev = edu_nn.device("cuda" if edu_nn.cuda.is_available() else "cpu")
    assert dev == "cpu" and dev.type == "cpu" and dev.index is None  # NumPy has no GPU
    assert edu_nn.device("cuda:1").index == 1 and edu_nn.device("cuda", 0) == "cuda:0"
    assert repr(edu_nn.device("cuda:1")) == repr(torch.device("cuda:1"))
    assert not edu_nn.accelerator.is_available()
    assert edu_nn.accelerator.current_accelerator() is None
    x = edu_nn.ones(2, 3).to(dev)
    model = edu_nn.nn.Linear(3, 1).to(dev)
    assert model(x).shape == (2, 1) and x.cpu().device == "cpu"
    edu_nn.set_default_device("cpu")
    assert edu_nn.zeros(2).device == "cpu"
    with pytest.raises(ValueError, match="expected a name like"):
        edu_nn.device("cuda:x")


def test_cuda_idiom_on_a_backend_with_a_gpu_or_a_clear_error():
    x = edu_nn.ones(2)
    if edu_nn.cuda.is_available():
        assert x.cuda().device.startswith("cuda")
    else:
        with pytest.raises(Exception, match="cuda"):
            x.cuda()


@pytest.mark.parametrize("make,ref", [
    (lambda m: m.linspace(-1, 2, 7), None),
    (lambda m: m.logspace(0, 2, 5), None),
    (lambda m: m.logspace(0, 3, 4, base=2), None),
    (lambda m: m.eye(3), None),
    (lambda m: m.eye(2, 4), None),
])
def test_deterministic_factories_match_torch(make, ref):
    got, want = make(edu_nn), make(torch)
    assert got.dtype == str(want.dtype).split(".")[1]
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_random_factories_have_torchs_shapes_dtypes_and_ranges():
    g = edu_nn.Generator().manual_seed(2147483647)
    r = edu_nn.randint(3, 9, (1000,), generator=g)
    assert r.dtype == "int64" and r.shape == (1000,)
    assert r.numpy().min() == 3 and r.numpy().max() == 8
    assert edu_nn.randint(5, (2, 3)).shape == (2, 3)
    p = edu_nn.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == "int64"
    n = edu_nn.normal(2.0, 3.0, size=(20000,))
    assert abs(n.mean().item() - 2.0) < 0.1 and abs(n.std().item() - 3.0) < 0.1
    # same generator seed -> same draws (makemore's reproducibility idiom)
    a = edu_nn.randn(4, generator=edu_nn.Generator().manual_seed(5))
    b = edu_nn.randn(4, generator=edu_nn.Generator().manual_seed(5))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_multinomial_frequencies_and_rules():
    probs = edu_nn.tensor([0.1, 0.0, 0.6, 0.3])
    draws = edu_nn.multinomial(probs, 20000, replacement=True).numpy()
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    rows = edu_nn.multinomial(edu_nn.tensor([[1.0, 1, 1, 1], [0, 0, 5, 5]]), 2)
    assert rows.shape == (2, 2) and set(rows[1].tolist()) == {2, 3}
    for row in rows.tolist():
        assert len(set(row)) == 2, "without replacement a category appears once per row"
    with pytest.raises(ValueError, match="without replacement"):
        edu_nn.multinomial(probs, 5)
    with pytest.raises(ValueError, match="non-negative"):
        edu_nn.multinomial(edu_nn.tensor([0.5, -0.1]), 1)
    assert probs.multinomial(3, replacement=True).shape == (3,)


def test_grad_fn_name_and_next_functions_follow_torch():
    a = edu_nn.tensor([1.0, 2.0], requires_grad=True)
    b = edu_nn.tensor([3.0, 4.0])
    loss = (a * b).sin().sum()
    ta = torch.tensor([1.0, 2.0], requires_grad=True)
    tloss = (ta * torch.tensor([3.0, 4.0])).sin().sum()
    assert loss.grad_fn.name() == "SumBackward"
    (sin_node, _), = loss.grad_fn.next_functions
    (tsin_node, _), = tloss.grad_fn.next_functions
    assert sin_node.name() == "SinBackward" and tsin_node.name() == "SinBackward0"
    (mul_node, _), = sin_node.next_functions
    (leaf, _), (none, _) = mul_node.next_functions
    (tleaf, _), (tnone, _) = tsin_node.next_functions[0][0].next_functions
    assert leaf.name() == "AccumulateGrad" == tleaf.name().split("::")[-1]
    assert leaf.variable is a and none is None and tnone is None
    assert repr(leaf) == "<AccumulateGrad>"


def test_indexing_with_range_and_lists_like_torch():
    x = np.arange(12.0).reshape(3, 4)
    got = edu_nn.tensor(x)[range(3), [0, 2, 3]]
    want = torch.tensor(x)[range(3), [0, 2, 3]]
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert edu_nn.tensor(x)[range(0)].shape == (0, 4)


def test_small_tensor_conveniences():
    x = edu_nn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.nelement() == 4 and x.type() == "float32" and x.type(edu_nn.float64).dtype == "float64"
    classes = ["a", "b", "c", "d"]
    assert classes[x.argmax()] == "d"
    assert f"{x[0, 1]:.2f}" == "2.00"
    with pytest.raises(TypeError, match="integer tensors of a single element"):
        classes[x[0, 0]]
    assert edu_nn.pi == torch.pi and edu_nn.e == np.e


def test_new_nn_names_resolve():
    for name in ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell",
                 "AdaptiveAvgPool1d", "AdaptiveAvgPool2d"):
        assert hasattr(edu_nn.nn, name), name
    for name in ("Dataset", "TensorDataset", "DataLoader", "random_split"):
        assert hasattr(edu_nn.utils.data, name), name


def test_linalg_norm_and_histogram_match_torch():
    x = np.random.default_rng(0).normal(size=(3, 4))
    for kwargs in ({}, {"dim": 1}, {"ord": 1, "dim": 0, "keepdim": True}):
        xe = edu_nn.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        got, want = edu_nn.linalg.norm(xe, **kwargs), torch.linalg.norm(xt, **kwargs)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    with pytest.raises(NotImplementedError, match="matrix norm ord=2"):
        edu_nn.linalg.norm(edu_nn.tensor(x), ord=2)
    hist, edges = edu_nn.histogram(edu_nn.tensor(x), 5)
    thist, tedges = torch.histogram(torch.tensor(x), 5)
    np.testing.assert_allclose(hist.numpy(), thist.numpy())
    np.testing.assert_allclose(edges.numpy(), tedges.numpy())
