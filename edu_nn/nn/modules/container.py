"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` (torch.nn's).

Their submodules are registered under the names torch uses ("0", "1", ... for Sequential
and ModuleList; the keys for ModuleDict), so ``state_dict()`` keys match torch's:
``Sequential(Linear(2, 3), ReLU()).state_dict()`` has ``"0.weight"`` and ``"0.bias"``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Iterator, Mapping

from .module import Module


def _check_module(value, who: str, where) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{who}: {where} is a {type(value).__name__}, not an nn.Module "
                        f"(did you pass a function? wrap it in a Module, or use a layer such "
                        f"as nn.ReLU() instead of F.relu)")
    return value


class _IndexedModules(Module):
    """Shared by Sequential and ModuleList: modules named "0", "1", ... in order."""

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not isinstance(idx, int):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got "
                            f"{type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of "
                             f"length {n}")
        return str(idx % n)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):  # Sequential keeps the entries' names, as torch does
            if isinstance(self, Sequential):
                return type(self)(OrderedDict(list(self._modules.items())[idx]))
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._index(idx), _check_module(module, type(self).__name__, f"item {idx}"))

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        doomed = keys[idx] if isinstance(idx, slice) else [self._index(idx)]
        kept = [m for k, m in self._modules.items() if k not in doomed]
        self._modules.clear()
        for i, m in enumerate(kept):  # renumber, as torch does
            self._modules[str(i)] = m

    def append(self, module: Module):
        self.add_module(str(len(self)), _check_module(module, type(self).__name__,
                                                      "the appended value"))
        return self

    def extend(self, modules: Iterable[Module]):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, _check_module(module, type(self).__name__, "the inserted value"))
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m


class Sequential(_IndexedModules):
    """Modules applied in order: ``Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))``
    or ``Sequential(OrderedDict([("fc", nn.Linear(4, 8)), ...]))`` with named entries."""

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, _check_module(module, "Sequential", f"entry {name!r}"))
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), _check_module(module, "Sequential", f"argument {i}"))

    def _index(self, idx: int) -> str:  # Sequential may hold named entries
        return list(self._modules)[int(super()._index(idx))]

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered (a plain Python list's are not)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your "
                                  "module's forward, e.g. `for layer in self.layers: x = layer(x)`")


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, keys in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _check_module(module, "ModuleDict", f"key {key!r}"))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): index it in your module's "
                                  "forward, e.g. `self.heads[name](x)`")
