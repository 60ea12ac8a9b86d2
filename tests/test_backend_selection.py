"""Which backend a tensor lands on, and the backend registry.

Precedence, highest first: explicit ``backend=`` > ``with edu_nn.use_backend(name)`` >
``edu_nn.set_backend(name)`` > the ``EDU_NN_BACKEND`` environment variable > ``"numpy"``.
Registration is lazy: a ``"module:Class"`` string or an entry point is imported only when
its backend is first used.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import edu_nn
from edu_nn import backends
from edu_nn.backends import BackendError, load_backend, register_backend, registered_backends
from edu_nn.backends.numpy_backend import NumpyBackend


class ToyBackend(NumpyBackend):
    """NumPy under another name: a second backend that really is a different object."""
    name = "toy"


class OtherToyBackend(NumpyBackend):
    name = "toy2"


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """A private copy of the registry, so backends registered here vanish after each test;
    no EDU_NN_BACKEND from the calling environment; 'toy' and 'toy2' registered."""
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    monkeypatch.setattr(backends, "_instances", dict(backends._instances))
    monkeypatch.delenv("EDU_NN_BACKEND", raising=False)
    register_backend("toy", ToyBackend)
    register_backend("toy2", OtherToyBackend)
    return backends


def landing(**kwargs) -> str:
    """The backend a new tensor goes to, checked on two factories."""
    a = edu_nn.tensor([1.0, 2.0], **kwargs)
    b = edu_nn.zeros(2, **kwargs)
    assert a.backend is b.backend
    return a.backend.name


# -------------------------------------------------------------- precedence
def test_default_is_numpy():
    assert edu_nn.get_backend().name == "numpy"
    assert landing() == "numpy"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "toy")
    assert edu_nn.get_backend().name == "toy"
    assert landing() == "toy"


def test_set_backend_beats_environment(monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "toy")
    edu_nn.set_backend("toy2")
    assert landing() == "toy2"
    edu_nn.set_backend(None)  # cleared: the environment variable applies again
    assert landing() == "toy"


def test_use_backend_beats_set_backend_and_nests(monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "toy2")
    edu_nn.set_backend("toy")
    with edu_nn.use_backend("numpy") as outer:
        assert outer is load_backend("numpy")
        assert landing() == "numpy"
        with edu_nn.use_backend("toy2") as inner:
            assert inner.name == "toy2" and landing() == "toy2"
        assert landing() == "numpy"  # the inner block restored the outer one
    assert landing() == "toy"


def test_use_backend_restored_on_exception():
    edu_nn.set_backend("toy")
    with pytest.raises(ZeroDivisionError):
        with edu_nn.use_backend("toy2"):
            with edu_nn.use_backend("numpy"):
                1 / 0
    assert landing() == "toy"


def test_use_backend_accepts_an_instance():
    with edu_nn.use_backend(load_backend("toy")):
        assert landing() == "toy"


def test_explicit_backend_beats_everything(monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "toy")
    edu_nn.set_backend("toy")
    with edu_nn.use_backend("toy2"):
        assert landing(backend="numpy") == "numpy"
        assert landing(backend=load_backend("toy")) == "toy"
        assert edu_nn.get_backend("numpy").name == "numpy"
        assert landing() == "toy2"


def test_get_backend():
    numpy_backend = edu_nn.get_backend("numpy")
    assert isinstance(numpy_backend, edu_nn.Backend)
    assert edu_nn.get_backend("numpy") is numpy_backend  # one cached instance per name
    assert edu_nn.get_backend() is numpy_backend
    toy = edu_nn.get_backend("toy")
    assert isinstance(toy, ToyBackend) and toy is not numpy_backend
    assert edu_nn.get_backend(toy) is toy
    with pytest.raises(TypeError, match="string"):
        edu_nn.set_backend(3)


# --------------------------------------------------------------- errors
@pytest.mark.parametrize("call", [
    lambda: edu_nn.set_backend("nope"),
    lambda: edu_nn.get_backend("nope"),
    lambda: edu_nn.use_backend("nope").__enter__(),
    lambda: edu_nn.tensor([1.0], backend="nope"),
    lambda: edu_nn.zeros(3, backend="nope"),
], ids=["set_backend", "get_backend", "use_backend", "tensor", "zeros"])
def test_unknown_backend_lists_registered(call):
    with pytest.raises(BackendError) as info:
        call()
    message = str(info.value)
    assert "'nope'" in message
    for name in registered_backends():
        assert name in message, f"{name!r} missing from: {message}"
    assert {"numpy", "toy", "toy2"} <= set(registered_backends())


def test_unknown_backend_from_environment(monkeypatch):
    monkeypatch.setenv("EDU_NN_BACKEND", "nope")
    with pytest.raises(BackendError, match="unknown backend 'nope'.*numpy"):
        edu_nn.tensor([1.0])


def test_failed_set_backend_keeps_previous():
    edu_nn.set_backend("toy")
    with pytest.raises(BackendError):
        edu_nn.set_backend("nope")
    assert landing() == "toy"


# ------------------------------------------------------------ registering
@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """An importable package ``edu_nn_toy_pkg.sub`` defining ``StrToy`` (name 'toy_str')."""
    pkg = tmp_path / "edu_nn_toy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sub.py").write_text(textwrap.dedent("""
        from edu_nn.backends.numpy_backend import NumpyBackend

        class StrToy(NumpyBackend):
            name = "toy_str"
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "edu_nn_toy_pkg.sub"
    for mod in ("edu_nn_toy_pkg.sub", "edu_nn_toy_pkg"):
        sys.modules.pop(mod, None)


def test_register_dotted_string_is_lazy(toy_package):
    register_backend("toy_str", f"{toy_package}:StrToy")
    assert "toy_str" in registered_backends()
    assert toy_package not in sys.modules  # registering imports nothing
    with edu_nn.use_backend("toy_str"):
        t = edu_nn.tensor([1.0, 2.0])
    assert toy_package in sys.modules
    assert t.backend.name == "toy_str" and type(t.backend).__name__ == "StrToy"


def test_register_class():
    class ClassToy(NumpyBackend):
        name = "toy_cls"

    register_backend("toy_cls", ClassToy)
    assert isinstance(load_backend("toy_cls"), ClassToy)
    assert edu_nn.tensor([1.0], backend="toy_cls").backend.name == "toy_cls"


def test_register_callable_called_once():
    calls = []

    def make():
        calls.append(1)
        backend = NumpyBackend()
        backend.name = "toy_fn"
        return backend

    register_backend("toy_fn", make)
    assert calls == []  # lazy
    first = load_backend("toy_fn")
    assert load_backend("toy_fn") is first and calls == [1]


def test_register_twice():
    register_backend("toy", ToyBackend)  # the same registration again is harmless
    with pytest.raises(ValueError, match="already registered.*replace=True"):
        register_backend("toy", OtherToyBackend)
    old = load_backend("toy")

    class NewToy(NumpyBackend):
        name = "toy"

    register_backend("toy", NewToy, replace=True)
    assert isinstance(load_backend("toy"), NewToy) and load_backend("toy") is not old


@pytest.mark.parametrize("name, factory, error, match", [
    ("", ToyBackend, ValueError, "non-empty string"),
    ("bad_colon", "edu_nn.backends.numpy_backend.NumpyBackend", ValueError, "module:Class"),
], ids=["empty-name", "no-colon"])
def test_register_rejects(name, factory, error, match):
    with pytest.raises(error, match=match):
        register_backend(name, factory)


@pytest.mark.parametrize("factory, match", [
    ("edu_nn_no_such_module_xyz:Backend", "edu_nn_no_such_module_xyz.*not installed"),
    ("edu_nn.backends.numpy_backend:NoSuchClass", "NoSuchClass"),
    (lambda: object(), "did not produce an edu_nn Backend"),
    (NumpyBackend, "'bad'.*calls itself 'numpy'"),
], ids=["missing-module", "missing-attribute", "not-a-backend", "name-mismatch"])
def test_load_failures_are_backend_errors(factory, match):
    register_backend("bad", factory)
    with pytest.raises(BackendError, match=match):
        load_backend("bad")
    with pytest.raises(BackendError):
        edu_nn.tensor([1.0], backend="bad")


# ---------------------------------------------------- coexisting backends
def test_backends_coexist_and_mixing_is_an_error():
    a = edu_nn.tensor([1.0, 2.0], backend="toy", requires_grad=True)
    b = edu_nn.tensor([3.0, 4.0], backend="numpy")
    c = a * 2.0 + a
    assert c.backend.name == "toy" and (b * 2.0).backend.name == "numpy"
    np.testing.assert_array_equal(c.detach().numpy(), [3.0, 6.0])
    c.sum().backward()
    assert a.grad.backend.name == "toy"
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])
    for mixed in (lambda: a + b, lambda: b * a, lambda: a @ b):
        with pytest.raises(RuntimeError) as info:
            mixed()
        assert "'toy'" in str(info.value) and "'numpy'" in str(info.value), str(info.value)
    moved = b.to(backend="toy")
    assert moved.backend.name == "toy"
    np.testing.assert_array_equal((a.detach() + moved).numpy(), [4.0, 6.0])


# ------------------------------------------------------------ entry points
@pytest.fixture
def entry_point_dist(tmp_path, monkeypatch):
    """A fake installed distribution whose entry points add 'toy_ep' (and try 'numpy')."""
    dist = tmp_path / "edu_nn_toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: edu-nn-toy-plugin\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[edu_nn.backends]\n"
        "toy_ep = edu_nn_toy_plugin_mod:EntryPointToy\n"
        "numpy = edu_nn_toy_plugin_mod:EntryPointToy\n")
    (tmp_path / "edu_nn_toy_plugin_mod.py").write_text(textwrap.dedent("""
        from edu_nn.backends.numpy_backend import NumpyBackend

        class EntryPointToy(NumpyBackend):
            name = "toy_ep"
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(backends, "_entry_points_loaded", False)
    yield "edu_nn_toy_plugin_mod"
    sys.modules.pop("edu_nn_toy_plugin_mod", None)


def test_entry_points_are_read_lazily(entry_point_dist, monkeypatch):
    import importlib.metadata as metadata
    reads = []
    real = metadata.entry_points

    def counting(**kwargs):
        reads.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", counting)
    load_backend("numpy")  # a built-in needs no metadata
    assert reads == []
    assert "toy_ep" in registered_backends()
    assert len(reads) == 1 and reads[0] == {"group": "edu_nn.backends"}
    assert entry_point_dist not in sys.modules  # read the metadata, imported nothing
    registered_backends()
    assert len(reads) == 1  # read once per process
    toy = load_backend("toy_ep")
    assert entry_point_dist in sys.modules and type(toy).__name__ == "EntryPointToy"
    assert edu_nn.tensor([1.0], backend="toy_ep").backend is toy


def test_unknown_name_reads_entry_points(entry_point_dist):
    assert edu_nn.get_backend("toy_ep").name == "toy_ep"  # found without listing first


def test_entry_point_cannot_replace_a_builtin(entry_point_dist):
    registered_backends()
    assert type(load_backend("numpy")) is NumpyBackend


def test_import_reads_no_entry_points(tmp_path):
    code = ("import edu_nn, edu_nn.backends as b\n"
            "edu_nn.tensor([1.0]) + 1\n"
            "print(b._entry_points_loaded)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
