"""See a define-by-run step as a static graph: ``capture(fn, *args)`` (issue 16, stage 1).

``result, graph = capture(step, x, y)`` runs ``step(x, y)`` eagerly, exactly as without it,
while recording every call edu_nn makes to the backend's primitives: the forward, every op's
hand-written backward, the optimizer's update, zero_grad. ``print(graph)`` lists them in
order, EDF-style, one line per primitive call::

    %0 = linear(in0, in1, in2)            # (32, 32) float32
    %1 = relu(%0)                         # (32, 32) float32
    ...
    ! any(%7)                             # host sync: Python reads a value here

``in0``, ``in1``, ... are arrays the step read but did not compute (its inputs, parameters,
optimizer state): a compiled step takes them as inputs. Lines marked ``!`` are host
synchronisations (``any``, ``item``, ``to_numpy``, ...): Python looked at a computed value, so
a static graph must guard or hoist them (cross-entropy's class-range check is one).
``inplace=True`` calls (optimizer state updated in place) are marked ``(in place)``.

This is an inspection tool; ``edu_nn.compile`` (edu_nn/compiled_step.py, docs/compile.md)
records the same way and replays. The listing shows why replay needs more than recording:
Adam's bias corrections and the learning rate appear here as constants
(``addcdiv(..., -0.0052...)``) that change at every step; ``edu_nn.compile`` follows them
as recomputed numbers (``s12``) instead. Capturing is for teaching and inspection: it costs a Python wrapper per
primitive call during ``capture`` only; nothing changes outside it. The values are those of
the eager step; only the choice of in-place writes may differ (the recorder holds a reference
to every array it saw, so parameters get new arrays during ``capture``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .backend_selection import get_backend
from .backends import Backend

__all__ = ["capture", "StaticGraph", "Record"]

#: Contract methods that describe arrays or the backend rather than compute: not recorded.
_NOT_RECORDED = {"is_array", "dtype_of", "device_of", "version", "devices", "size_along",
                 "jit", "unshared"}
#: Contract methods through which Python reads computed values (a static graph's guards).
HOST_SYNCS = {"any", "all", "count_nonzero", "item", "to_numpy"}


@dataclass
class Record:
    """One primitive call: ``out = prim(*args, **kwargs)`` with arrays as value names."""
    prim: str
    args: tuple
    kwargs: dict
    out: str | None
    shape: tuple | None = None
    dtype: str | None = None

    def __str__(self) -> str:
        inner = ", ".join([_show(a) for a in self.args]
                          + [f"{k}={_show(v)}" for k, v in self.kwargs.items()])
        call = f"{self.prim}({inner})"
        if self.prim in HOST_SYNCS:
            return f"! {call:<54}# host sync: Python reads a value here"
        text = f"{self.out} = {call}" if self.out else call
        where = "" if self.shape is None else f"{self.shape} {self.dtype}"
        if self.kwargs.get("inplace") is True:
            where += " (in place)"
        return f"{text:<56}# {where}"


@dataclass
class StaticGraph:
    """The primitive calls of one captured step, in order, and the arrays it read."""
    backend: str
    records: list[Record] = field(default_factory=list)
    inputs: list[tuple[str, tuple, str]] = field(default_factory=list)  # (name, shape, dtype)

    def count(self, prim: str) -> int:
        return sum(r.prim == prim for r in self.records)

    @property
    def host_syncs(self) -> list[Record]:
        return [r for r in self.records if r.prim in HOST_SYNCS]

    def __str__(self) -> str:
        head = [f"static graph on the {self.backend} backend: {len(self.records)} primitive "
                f"calls, {len(self.inputs)} inputs, {len(self.host_syncs)} host syncs"]
        head += [f"  {name}: {shape} {dtype}" for name, shape, dtype in self.inputs]
        return "\n".join(head + [str(r) for r in self.records])


class _Name:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_show(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


class _Recorder:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.graph = StaticGraph(backend.name)
        self.names: dict[int, str] = {}
        self.keep: list[Any] = []  # every array seen stays alive, so ids are not reused

    def name_of(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(self.name_of(v) for v in value)
        if not self.backend.is_array(value):
            return value
        name = self.names.get(id(value))
        if name is None:
            name = f"in{len(self.graph.inputs)}"
            self.names[id(value)] = name
            self.keep.append(value)
            self.graph.inputs.append((name, tuple(value.shape),
                                      self.backend.dtype_of(value)))
        return _Name(name)

    def wrap(self, prim: str, method: Callable) -> Callable:
        def recorded(*args, **kwargs):
            names = (self.name_of(args), {k: self.name_of(v) for k, v in kwargs.items()})
            result = method(*args, **kwargs)
            record = Record(prim, names[0], names[1], None)
            if self.backend.is_array(result):
                record.out = f"%{len(self.graph.records)}"
                record.shape = tuple(result.shape)
                record.dtype = self.backend.dtype_of(result)
                self.names[id(result)] = record.out
                self.keep.append(result)
            self.graph.records.append(record)
            return result
        return recorded


def capture(fn: Callable, *args, backend=None, **kwargs) -> tuple[Any, StaticGraph]:
    """Run ``fn(*args, **kwargs)`` eagerly and return ``(its result, the StaticGraph of the
    backend primitive calls it made)``. ``backend``: the backend to watch (default: the
    current one, which is where new tensors and modules are made)."""
    b = get_backend(backend)
    recorder = _Recorder(b)
    names = [n for n, v in vars(Backend).items()
             if callable(v) and not n.startswith("_") and n not in _NOT_RECORDED]
    shadowed = []
    try:
        for n in names:  # instance attributes shadow the class's methods, for this call only
            setattr(b, n, recorder.wrap(n, getattr(b, n)))
            shadowed.append(n)
        result = fn(*args, **kwargs)
    finally:
        for n in shadowed:
            delattr(b, n)
    return result, recorder.graph
