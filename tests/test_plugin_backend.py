"""The pluggability proof: a fourth backend that lives outside edu_nn and its backends package.

``plugins/edu_nn_array_api_strict`` is a separate distribution (its own pyproject.toml) whose
only link to edu_nn is the entry point ``[project.entry-points."edu_nn.backends"]``. Once it
is installed (``pip install -e plugins/edu_nn_array_api_strict``) the conformance suite and
every op test run on it through conftest's ``backend_params`` (``EDU_NN_TEST_BACKENDS=
array_api_strict pytest tests/test_backend_conformance.py tests/test_ops_*.py``). This file
checks what those cannot: that the entry point is what registers it, that its arrays really
are array-api-strict arrays, that a small MLP trains the same on it as on NumPy, and the two
primitives it had to build because the array API standard lacks them (erf, index_add).
Everything skips when the plugin is not installed.
"""
from __future__ import annotations

import ast
import importlib.util
import math
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.backends import ENTRY_POINT_GROUP, BackendError

NAME = "array_api_strict"
PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugins" / "edu_nn_array_api_strict"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("edu_nn_array_api_strict") is None,
    reason="plugin not installed: pip install -e plugins/edu_nn_array_api_strict")


@pytest.fixture(scope="module")
def backend():
    return edu_nn.get_backend(NAME)


def test_registered_through_the_entry_point():
    eps = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert eps.get(NAME) == "edu_nn_array_api_strict:ArrayAPIStrictBackend"
    assert NAME in edu_nn.registered_backends()
    # edu_nn's own registry names only the three built-ins: the plugin came from metadata
    from edu_nn.backends import LIBRARY_OF
    assert NAME not in LIBRARY_OF


def test_plugin_uses_only_the_public_backend_contract():
    """No change to the core, and no reaching into it: the plugin imports edu_nn.backends
    (the contract) and nothing else of edu_nn."""
    for path in (PLUGIN_DIR / "edu_nn_array_api_strict").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [])
            for name in names:
                if name.split(".")[0] == "edu_nn":
                    assert name in ("edu_nn.backends", "edu_nn.backends.base"), \
                        f"{path.name} imports {name}"


def test_arrays_are_array_api_strict_arrays(backend):
    import array_api_strict
    x = edu_nn.tensor([[1.0, -2.0], [0.5, 3.0]], backend=NAME, requires_grad=True)
    y = (x.exp() * x).sum(dim=1)
    y.sum().backward()
    for arr in (x.array, y.array, x.grad.array, backend.argmax(x.array)):
        assert type(arr).__module__.startswith("array_api_strict"), type(arr)
        assert not isinstance(arr, np.ndarray)
        assert arr.__array_namespace__() is array_api_strict
    assert x.backend is backend and y.backend.name == NAME


def _mlp_step(backend_name: str, data: dict) -> dict:
    """Forward and backward of a 2-layer MLP with cross-entropy; values as NumPy arrays."""
    params = {k: edu_nn.tensor(data[k], backend=backend_name, requires_grad=True)
              for k in ("w1", "b1", "w2", "b2")}
    x = edu_nn.tensor(data["x"], backend=backend_name)
    y = edu_nn.tensor(data["y"], backend=backend_name)
    hidden = F.gelu(F.linear(x, params["w1"], params["b1"]))
    logits = F.linear(F.relu(hidden) + hidden.tanh() * 0.5, params["w2"], params["b2"])
    loss = F.cross_entropy(logits, y) + logits[y > 1].mean() * 0.1  # a mask gather too
    loss.backward()
    out = {"loss": loss.detach().numpy(), "logits": logits.detach().numpy()}
    out.update({f"grad_{k}": p.grad.numpy() for k, p in params.items()})
    return out


def test_mlp_forward_backward_equals_numpy(backend):
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal((16, 8)), "y": rng.integers(0, 4, 16),
            "w1": rng.standard_normal((12, 8)) * 0.3, "b1": rng.standard_normal(12) * 0.1,
            "w2": rng.standard_normal((4, 12)) * 0.3, "b2": rng.standard_normal(4) * 0.1}
    ours, ref = _mlp_step(NAME, data), _mlp_step("numpy", data)
    for key, want in ref.items():
        np.testing.assert_allclose(ours[key], want, rtol=1e-12, atol=1e-14, err_msg=key)


def test_float16_is_refused_not_substituted(backend):
    for call in (lambda: backend.asarray([1.0], "float16"),
                 lambda: backend.zeros((2,), "float16"),
                 lambda: backend.asarray(np.ones(2, np.float16))):
        with pytest.raises(BackendError, match="float16"):
            call()


# ------------------------------------------------ what the standard lacks
def test_erf_matches_math_erf_to_float64_rounding(backend):
    grid = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 1.0, 500),
                           -np.geomspace(1e-300, 1.0, 500), [1.9999999999, 2.0, 2.0000000001]])
    got = backend.to_numpy(backend.erf(backend.asarray(grid)))
    want = np.array([math.erf(v) for v in grid])
    err = np.abs(got - want)
    assert err.max() <= 2e-15, f"erf off by {err.max():.3g} at x = {grid[err.argmax()]}"
    # relative accuracy for tiny arguments, where erf(x) ~ 2x/sqrt(pi)
    tiny = (np.abs(grid) < 1e-3) & (grid != 0)
    assert (err[tiny] / np.abs(want[tiny])).max() <= 4e-16
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -30.0])
    got = backend.to_numpy(backend.erf(backend.asarray(special)))
    np.testing.assert_array_equal(got, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, -1.0])
    assert np.signbit(got[1]), "erf(-0.0) is -0.0"
    f32 = backend.erf(backend.asarray(grid[:100], "float32"))
    assert backend.dtype_of(f32) == "float32"


def test_index_add_long_runs_and_inf_isolation(backend):
    """Duplicate runs of every length up to 37 (several rounds of the segmented sum), an inf
    that must stay in its own row, and untouched rows kept bit for bit (-0.0 stays -0.0)."""
    rng = np.random.default_rng(1)
    idx = np.repeat(np.arange(10), np.arange(10) * 4 + 1)[rng.permutation(190)]
    idx = np.where(idx == 9, -3, idx)  # negative indices count from the end
    x = rng.standard_normal((12, 3))
    x[11] = -0.0
    values = rng.standard_normal((idx.size, 3))
    values[np.flatnonzero(idx == 4)[0], 1] = np.inf
    want = x.copy()
    np.add.at(want, np.where(idx < 0, idx + 12, idx), values)
    got = backend.to_numpy(backend.index_add(backend.asarray(x), 0, backend.asarray(idx),
                                             backend.asarray(values)))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    assert np.isinf(got[4, 1]) and np.isfinite(np.delete(got, 4, axis=0)).all()
    assert np.signbit(got[11]).all(), "rows nobody adds to must not change"
    with pytest.raises(IndexError, match="out of bounds"):
        backend.index_add(backend.asarray(x), 0, backend.asarray([12]), backend.asarray(x[:1]))
