"""Array backends and their registry (installed as ``edu_nn.backends``).

The repository keeps these files in the top-level ``backends/`` folder of the design card;
``pyproject.toml`` maps that folder to the import name ``edu_nn.backends`` so that no
generic top-level module called ``backends`` is ever installed.

Registration is lazy: a backend is named by a ``"module:Class"`` string and imported the
first time someone asks for it, so ``import edu_nn`` never imports torch or jax. Third-party
packages register through the entry-point group ``edu_nn.backends``::

    [project.entry-points."edu_nn.backends"]
    mlx = "edu_nn_mlx:MLXBackend"

This package knows nothing of edu_nn's Tensor; it depends on numpy only.
"""
from __future__ import annotations

import importlib
import threading
from typing import Callable, Union

from .base import DTYPES, FLOAT_DTYPES, Backend, BackendError, RandomKey

__all__ = ["Backend", "BackendError", "RandomKey", "DTYPES", "FLOAT_DTYPES",
           "register_backend", "unregister_backend", "load_backend", "registered_backends",
           "backend_library", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "edu_nn.backends"

Factory = Union[str, Callable[[], Backend], type]

#: name -> "module:attr" or a callable returning a Backend. Built-ins first.
_registry: dict[str, Factory] = {
    "numpy": "edu_nn.backends.numpy_backend:NumpyBackend",
    "torch": "edu_nn.backends.torch_backend:TorchBackend",
    "jax": "edu_nn.backends.jax_backend:JaxBackend",
}
#: The import name of the library each built-in backend needs (for `edu-nn info`).
LIBRARY_OF = {"numpy": "numpy", "torch": "torch", "jax": "jax"}
_instances: dict[str, Backend] = {}
_entry_points_loaded = False
_lock = threading.Lock()


def register_backend(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Register a backend under ``name``.

    Args:
        name: the name users pass to ``edu_nn.set_backend`` / ``backend=``.
        factory: a ``"module:Class"`` string (imported lazily), a Backend subclass, or a
            zero-argument callable returning a Backend instance.
        replace: allow replacing an existing registration (otherwise an error).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a backend name must be a non-empty string, got {name!r}")
    if isinstance(factory, str) and ":" not in factory:
        raise ValueError(f"register_backend({name!r}, {factory!r}): a string factory names "
                         f"a class as 'module:Class', e.g. 'my_package.backend:MyBackend'")
    with _lock:
        if name in _registry and not replace and _registry[name] != factory:
            raise ValueError(f"a backend named {name!r} is already registered; "
                             f"pass replace=True to override it")
        _registry[name] = factory
        _instances.pop(name, None)


def unregister_backend(name: str) -> None:
    """Remove a registration (and its cached instance); built-ins cannot be removed."""
    if name in LIBRARY_OF:
        raise ValueError(f"the built-in backend {name!r} cannot be unregistered")
    with _lock:
        _registry.pop(name, None)
        _instances.pop(name, None)


def backend_library(name: str) -> str | None:
    """The top-level module a registered backend needs (``"torch"`` for the torch backend),
    or None for one registered as a class or callable (already in memory)."""
    _load_entry_points()
    if name in LIBRARY_OF:
        return LIBRARY_OF[name]
    factory = _registry.get(name)
    if isinstance(factory, str):
        return factory.partition(":")[0].split(".")[0]
    return None


def _load_entry_points() -> None:
    """Read the entry-point group once. Only metadata is read; nothing is imported."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    from importlib.metadata import entry_points
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _registry.setdefault(ep.name, ep.value)
    _entry_points_loaded = True


def registered_backends() -> list[str]:
    """Names of every registered backend (built-in and entry-point), installed or not."""
    _load_entry_points()
    return list(_registry)


def _instantiate(name: str, factory: Factory) -> Backend:
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            lib = LIBRARY_OF.get(name, module_name.split(".")[0])
            how = (f"pip install 'edu-nn[{name}]'" if name in LIBRARY_OF
                   else f"install the package that provides {module_name!r}")
            raise BackendError(
                f"the {name!r} backend needs {lib!r}, which is not installed here ({exc}). "
                f"Install it ({how}) or use backend='numpy'.") from exc
        try:
            factory = getattr(module, attr)
        except AttributeError:
            raise BackendError(f"backend {name!r} is registered as {factory!r}, but module "
                               f"{module_name!r} has no attribute {attr!r}") from None
    backend = factory()
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {name!r} did not produce an edu_nn Backend "
                           f"(got {type(backend).__name__})")
    if backend.name != name:
        # Tensors, errors and use_backend(instance) find a backend by its .name, so a
        # mismatch would silently select another backend later.
        raise BackendError(f"the backend registered as {name!r} calls itself "
                           f"{backend.name!r}: set name = {name!r} on its class, or register "
                           f"it as {backend.name!r}")
    return backend


def load_backend(name: str) -> Backend:
    """The (cached) Backend instance registered as ``name``."""
    backend = _instances.get(name)
    if backend is not None:
        return backend
    if name not in _registry:
        _load_entry_points()
    if name not in _registry:
        raise BackendError(f"unknown backend {name!r}; registered backends: "
                           f"{', '.join(registered_backends())}")
    with _lock:
        if name not in _instances:
            _instances[name] = _instantiate(name, _registry[name])
        return _instances[name]
