"""Run the backend conformance suite (edu_nn/backends/conformance.py) on every installed
backend, in float32 and float64, exactly as a third-party backend would run it.

Also checks the suite itself: a deliberately broken backend must fail the tests that are
about what it breaks (a test that cannot fail is a defect).
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from edu_nn.backends import RandomKey, load_backend
from edu_nn.backends.conformance import *  # noqa: F401,F403  (the suite's tests)

from opcheck import DEVICE


@pytest.fixture
def backend(backend_name):
    """The Backend under test: one per installed backend (conftest's backend_name)."""
    return load_backend(backend_name)


@pytest.fixture(params=["float32", "float64"])
def conformance_dtype(request) -> str:
    return request.param


@pytest.fixture
def conformance_device() -> str:
    """The CPU, or EDU_NN_TEST_DEVICE (e.g. "cuda") on a machine with a GPU (opcheck.py)."""
    return DEVICE


# ------------------------------------------------------ the suite catches bugs
BROKEN = '''
import numpy as np
import pytest
from edu_nn.backends.numpy_backend import NumpyBackend
from edu_nn.backends.conformance import *  # noqa


class MutatingAdd(NumpyBackend):
    name = "mutating_add"
    def add(self, a, b):
        if isinstance(a, np.ndarray) and a.shape == np.broadcast_shapes(a.shape, np.shape(b)):
            return np.add(a, b, out=a)          # writes into its input
        return np.add(a, b)


class LastArgmax(NumpyBackend):
    name = "last_argmax"
    def argmax(self, x, axis=None, keepdims=False):   # last maximum instead of first
        flipped = np.flip(x, axis=axis)
        n = x.size if axis is None else x.shape[axis]
        return (n - 1 - np.argmax(flipped, axis=axis, keepdims=keepdims)).astype(np.int64)


class OverwritingIndexAdd(NumpyBackend):
    name = "overwriting_index_add"
    def index_add(self, x, axis, indices, values):   # duplicates overwrite, not accumulate
        out = np.array(x, copy=True)
        key = (slice(None),) * (axis % out.ndim) + (indices,)
        out[key] += values
        return out


class UpcastingMultiply(NumpyBackend):
    name = "upcasting_multiply"
    def multiply(self, a, b):                   # float32 * Python scalar -> float64
        return np.multiply(np.asarray(a, dtype=np.float64), b)


class LenientDevice(NumpyBackend):
    name = "lenient_device"
    def to_device(self, x, device):             # ignores a device it does not have
        return x


class GlobalRng(NumpyBackend):
    name = "global_rng"
    def random_uniform(self, key, shape, dtype="float32", device="cpu", low=0.0, high=1.0):
        return np.random.uniform(low, high, shape).astype(dtype)   # ignores the key


class AliasingAsarray(NumpyBackend):
    name = "aliasing_asarray"
    def asarray(self, data, dtype=None, device=None):
        return np.asarray(data, dtype=dtype)    # shares memory with a NumPy source


BROKEN = [MutatingAdd, LastArgmax, OverwritingIndexAdd, UpcastingMultiply, LenientDevice,
          GlobalRng, AliasingAsarray]


@pytest.fixture(params=BROKEN, ids=lambda cls: cls.name)
def backend(request):
    return request.param()


@pytest.fixture
def conformance_dtype():
    return "float32"
'''

#: broken backend -> ids of tests that must fail for it
MUST_FAIL = {
    "mutating_add": ["test_inputs_unchanged[mutating_add-add-same-shape]"],
    "last_argmax": ["test_argmax_argmin_first_on_ties[last_argmax]",
                    "test_matches_numpy[last_argmax-argmax-ties-axis1]"],
    "overwriting_index_add": [
        "test_index_add_accumulates_duplicates[overwriting_index_add]",
        "test_matches_numpy[overwriting_index_add-index_add-axis0-duplicates]"],
    "upcasting_multiply": ["test_matches_numpy[upcasting_multiply-multiply-scalar-right]",
                           "test_matches_numpy[upcasting_multiply-multiply-scalar-left]"],
    "lenient_device": ["test_unknown_device_raises[lenient_device-to_device]"],
    "global_rng": ["test_random_same_key_same_draw[global_rng-uniform]"],
    "aliasing_asarray": ["test_asarray_does_not_alias[aliasing_asarray]"],
}


def test_suite_catches_broken_backends(tmp_path):
    (tmp_path / "test_broken_backends.py").write_text(textwrap.dedent(BROKEN))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
         "test_broken_backends.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    failed = set(re.findall(r"^FAILED test_broken_backends\.py::(\S+)", proc.stdout, re.M))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name, tests in MUST_FAIL.items():
        missed = [t for t in tests if t not in failed]
        assert not missed, f"the conformance suite did not catch {name}: {missed} passed"
        # the suite points at the bug rather than failing everything
        mine = [f for f in failed if re.search(rf"\[{name}[-\]]", f)]
        assert len(mine) <= 40, f"{name} failed {len(mine)} tests: {sorted(mine)[:10]}..."
    blamed = [f for f in failed if not any(re.search(rf"\[{n}[-\]]", f) for n in MUST_FAIL)]
    assert not blamed, f"failures not caused by a planted bug: {blamed}"


# ---------------------------------------------------- NumPy backend regressions
def test_numpy_uniform_float32_never_reaches_high():
    """A float64 draw just below 1 rounds to 1.0 in float32; with this key and size NumPy's
    generator makes one such draw, which the backend must cap to stay in [0, 1)."""
    u = load_backend("numpy").random_uniform(RandomKey(24), (1_000_000,), "float32")
    assert u.max() < 1.0
    u16 = load_backend("numpy").random_uniform(RandomKey(0), (100_000,), "float16", low=-2.0,
                                               high=3.0)
    assert u16.dtype.name == "float16" and u16.min() >= -2.0 and u16.max() < 3.0
