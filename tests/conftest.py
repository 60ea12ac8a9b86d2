"""Shared fixtures. ``backend_name`` runs a test once per installed backend.

Backends that are not installed are skipped here; CI sets ``EDU_NN_REQUIRE_BACKENDS``
(e.g. "numpy,torch,jax") to make a missing one an error instead of a skip, and
``EDU_NN_TEST_BACKENDS`` (e.g. "numpy") limits the run to the backends it names.
"""
from __future__ import annotations

import importlib.util
import os

# float64 on JAX needs x64 mode, which must be set before jax is first imported. The tests
# check gradients in float64, so the whole session runs with it (test_torch_jax_backends
# turns it off locally to check the error for float64 without it).
os.environ.setdefault("JAX_ENABLE_X64", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI runs the same examples every time (a red CI then always reproduces); local runs explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

import edu_nn  # noqa: E402

BUILTIN = ("numpy", "torch", "jax")


def _installed(name: str) -> bool:
    library = {"numpy": "numpy", "torch": "torch", "jax": "jax"}.get(name)
    return library is None or importlib.util.find_spec(library) is not None


def backend_params():
    required = {b for b in os.environ.get("EDU_NN_REQUIRE_BACKENDS", "numpy").split(",") if b}
    only = {b for b in os.environ.get("EDU_NN_TEST_BACKENDS", "").split(",") if b}
    params = []
    for name in edu_nn.registered_backends():
        if only and name not in only:
            continue
        present = _installed(name)
        try:
            if present:
                edu_nn.get_backend(name)
        except edu_nn.BackendError:
            present = False
        if not present and name in required:
            raise pytest.UsageError(f"backend {name!r} is required (EDU_NN_REQUIRE_BACKENDS) "
                                    f"but is not installed")
        marks = [] if present else [pytest.mark.skip(reason=f"backend {name!r} not installed")]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=backend_params())
def backend_name(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _restore_global_settings():
    """Tests that change the default dtype or backend must not leak it into other tests."""
    dtype = edu_nn.get_default_dtype()
    yield
    edu_nn.set_default_dtype(dtype)
    edu_nn.set_backend(None)
