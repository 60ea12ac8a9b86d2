"""``Module``: the base class of every layer and model (torch.nn.Module).

A Module holds three ordered tables, filled by plain attribute assignment::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)                  # a submodule  -> _modules
            self.scale = nn.Parameter(edu_nn.ones(1))     # a parameter  -> _parameters
            self.register_buffer("seen", edu_nn.zeros(1)) # a buffer     -> _buffers

        def forward(self, x):
            return self.fc(x) * self.scale

Everything else follows from those tables: ``parameters()`` walks them, ``state_dict()``
names each entry by its path (``"fc.weight"``, torch's keys), ``to(backend="jax")`` converts
each entry, ``train()``/``eval()`` set ``training`` on every module.

Values change by rebinding ``.array`` on the same Parameter/buffer objects (edu_nn never
mutates arrays), so an optimizer built before ``load_state_dict`` or ``to()`` keeps working.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ... import dtypes as _dtypes
from ...backend_selection import get_backend
from ...interop import to_numpy
from ...tensor import Tensor
from ..parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns (torch's name): keys it did not find or did not use."""
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models. Subclasses call ``super().__init__()`` first, assign
    parameters, buffers and submodules as attributes, and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our __setattr__ needs these tables to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define "
                                  f"forward(self, ...) in the class")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ registration
    def _tables(self) -> tuple[dict, dict, dict]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], \
                self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(f"cannot assign parameters, buffers or submodules before "
                                 f"Module.__init__() call: call super().__init__() first in "
                                 f"{type(self).__name__}.__init__") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (Parameter, Module)) or name in self.__dict__.get("_parameters", ()) \
                or name in self.__dict__.get("_buffers", ()) or name in self.__dict__.get(
                    "_modules", ()):
            params, buffers, modules = self._tables()
            if isinstance(value, Parameter):
                self._forget(name)
                params[name] = value
            elif isinstance(value, Module):
                self._forget(name)
                modules[name] = value
            elif name in params:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as parameter "
                                    f"{name!r} (nn.Parameter or None expected); wrap it: "
                                    f"self.{name} = nn.Parameter(value)")
                params[name] = None
            elif name in buffers:
                if value is not None and not isinstance(value, Tensor):
                    raise TypeError(f"cannot assign {type(value).__name__} as buffer "
                                    f"{name!r} (a Tensor or None expected)")
                buffers[name] = value
            else:  # name in modules, value neither Module nor None
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                    f"{name!r} (an nn.Module or None expected)")
                modules[name] = None
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove ``name`` from every table and the plain attributes (before re-registering)."""
        for table in self._tables():
            table.pop(name, None)
        self.__dict__.pop(name, None)
        self.__dict__["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if any(name in table for table in self._tables()):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None: a declared but absent one, like ``bias=False``)."""
        self._check_name(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._tables()[0][name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is saved in state_dict and moved by to(), but not
        learned (BatchNorm's running mean). ``persistent=False`` leaves it out of state_dict."""
        self._check_name(name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self._forget(name)
        self._tables()[1][name] = tensor
        if not persistent:
            self.__dict__["_non_persistent_buffers"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_name(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected an nn.Module, got "
                            f"{type(module).__name__}")
        self._forget(name)
        self._tables()[2][name] = module

    register_module = add_module

    def _check_name(self, name: str) -> None:
        self._tables()
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"a parameter, buffer or module name must be a non-empty string "
                           f"without '.', got {name!r}")

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path, e.g. ``model.get_submodule("features.0")``."""
        module: Module = self
        for part in target.split(".") if target else ():
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = child
        return module

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; a parameter shared by two layers comes once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self, e.g. for init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, BatchNorm uses batch statistics) for every module."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``. (It does not turn off gradients: use no_grad.)"""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None, or to zeros with set_to_none=False)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            p.grad = None if set_to_none else Tensor._make(
                p.backend.zeros_like(p.grad.array), p.backend, p.device)

    # ------------------------------------------------------------ state
    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer by dotted name, torch's keys and layouts.

        Values are the tensors detached from the graph (``keep_vars=True``: the Parameter
        objects themselves), sharing their arrays.
        """
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=out, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return out

    def load_state_dict(self, state_dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers, by torch's keys.

        Values may be edu_nn Tensors (any backend), NumPy arrays, torch tensors or JAX
        arrays. Each is converted to the backend, device and dtype of the entry it fills
        (floats may change precision, as torch's copy does; a float into an integer entry or
        the reverse is an error). With ``strict=True`` any missing or unexpected key, and
        with any strictness a shape mismatch, is an error that lists them all; nothing is
        changed unless everything fits. ``assign`` is accepted for torch compatibility.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a mapping of names to tensors (what "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems, updates = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            try:
                values = to_numpy(state_dict[key])
            except Exception as exc:  # noqa: BLE001 - report which key could not be read
                problems.append(f"{key}: cannot read a {type(state_dict[key]).__name__} as "
                                f"an array ({exc})")
                continue
            if values.shape != target.shape:
                problems.append(f"size mismatch for {key}: copying a param with shape "
                                f"{values.shape} from the checkpoint, the shape in the current "
                                f"model is {target.shape}")
                continue
            if (values.dtype.kind == "f") != target.is_floating_point() and values.size:
                problems.append(f"dtype mismatch for {key}: the checkpoint holds "
                                f"{values.dtype}, the model's entry is {target.dtype}")
                continue
            updates.append((target, values))
        if strict and (missing or unexpected):
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: "
                                + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                problems.insert(0, "Unexpected key(s) in state_dict: "
                                + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems)
                               + ("\n(Keys are paths such as 'fc.weight': compare with "
                                  "model.state_dict().keys(); strict=False skips missing and "
                                  "unexpected keys.)" if missing or unexpected else ""))
        for target, values in updates:
            target._set_array(target.backend.asarray(values, target.dtype, target.device))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ conversion
    def to(self, *args, backend=None, device: str | None = None,
           dtype: str | None = None) -> Module:
        """Move every parameter and buffer (and their grads) in place, like torch.

        ``model.to("float64")``, ``model.to(device="cuda")``, ``model.to(backend="jax")``.
        ``dtype`` applies to floating-point entries only (``num_batches_tracked`` stays
        int64). The Parameter objects stay the same, so an optimizer keeps working.
        """
        for a in args:
            if isinstance(a, str) and a in _dtypes.DTYPES:
                dtype = a
            elif isinstance(a, str):
                device = a
            else:
                raise TypeError(f"Module.to(): expected a dtype or device string, got {a!r} "
                                f"(use backend=... for a backend)")
        if dtype is not None and dtype not in ("float16", "float32", "float64"):
            raise TypeError(f"Module.to(): dtype must be a floating-point dtype, got {dtype!r}")
        target = get_backend(backend) if backend is not None else None
        for t in [*self.parameters(), *self.buffers()]:
            _convert_in_place(t, target, device, dtype)
            if t.grad is not None:
                _convert_in_place(t.grad, target, device, dtype)
        return self

    def double(self) -> Module:
        return self.to(dtype="float64")

    def float(self) -> Module:
        return self.to(dtype="float32")

    def half(self) -> Module:
        return self.to(dtype="float16")

    def cpu(self) -> Module:
        return self.to(device="cpu")

    def cuda(self, device: int | None = None) -> Module:
        return self.to(device="cuda" if device is None else f"cuda:{device}")

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside this module's parentheses, e.g. ``in_features=2, out_features=3``."""
        return ""

    def __repr__(self) -> str:
        extra = [line for line in self.extra_repr().split("\n") if line]
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self._modules.items()]
        if len(extra) == 1 and not children:  # Linear(in_features=2, out_features=3, bias=True)
            return f"{type(self).__name__}({extra[0]})"
        if not extra and not children:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra + children) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _convert_in_place(t: Tensor, backend, device: str | None, dtype: str | None) -> None:
    """Rebind ``t``'s array, backend and device to the converted ones (same object)."""
    if dtype is not None and not t.is_floating_point():
        dtype = None
    if backend is None and (device is None or device == t.device) and \
            (dtype is None or dtype == t.dtype):
        return
    arr = t.backend.to_numpy(t.array) if backend is not None and backend is not t.backend else None
    b = backend or t.backend
    if arr is not None:  # across backends: through NumPy (lossless)
        dev = device or (t.device if t.device in b.devices() else "cpu")
        new = b.asarray(np.asarray(arr), dtype or t.dtype, dev)
    else:
        new = t.array
        if device is not None and device != t.device:
            new = b.to_device(new, device)
        if dtype is not None and dtype != t.dtype:
            new = b.astype(new, dtype)
    t.array, t.backend, t.device = new, b, b.device_of(new)
