"""Recording one eager run of a training step, for ``edu_nn.compile`` (compiled_step.py).

``_Tracer`` shadows a backend's primitives for one call and records every call (``_Record``),
follows the optimizers' Python numbers through ``_Sym`` floats, and notes the random keys
drawn. ``_find_places`` says where each array a step reads lives (a parameter, a gradient, an
optimizer's state), so that the replay can read and write it there. ``CapturedGraph`` is the
result, as a printable listing.
"""
from __future__ import annotations

import gc
import operator
from typing import Any, Callable

import numpy as np

from .backends import Backend
from .backends.base import RandomKey
from .tensor import Tensor

#: Contract methods that describe arrays or the backend rather than compute: not recorded.
_NOT_RECORDED = {"is_array", "dtype_of", "device_of", "version", "devices", "size_along",
                 "jit", "unshared"}
#: Contract methods through which Python reads computed values.
_HOST_SYNCS = {"any", "all", "count_nonzero", "item", "to_numpy"}
#: How many traces one compiled step keeps for one signature before refusing.
_RETRACE_LIMIT = 8
#: How many first replays check=True compares with the eager step.
_CHECKED_CALLS = 3


class CompileError(RuntimeError):
    """The step cannot be compiled, or a compiled replay disagrees with what was traced."""


class _Retrace(Exception):
    """A guard failed before anything ran: trace again (the reason is the message)."""


class _DataCheck(Exception):
    """An input-only data check disagrees with the trace: run this step eagerly."""


# --------------------------------------------------------------------- scalars
class _Sym(float):
    """A Python number of an optimizer, followed through the arithmetic of one trace.

    It behaves as its value (a float), and each arithmetic operation on it makes a new
    ``_Sym`` whose node (in ``tracer.scalars``) says how to recompute it at replay. A
    comparison or conversion answers with the value and records a guard."""

    def __new__(cls, value, tracer, node):
        self = float.__new__(cls, value)
        self.tracer, self.node = tracer, node
        return self

    __hash__ = float.__hash__


def _sym_binary(name: str, fn: Callable, reflected: bool):
    def method(self, other):
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        value = fn(_plain(a), _plain(b))
        return self.tracer.scalar_op(name, value, a, b)
    return method


def _plain(x):
    return float(x) if isinstance(x, _Sym) else x


_SYM_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
            "truediv": operator.truediv, "pow": operator.pow, "floordiv": operator.floordiv,
            "mod": operator.mod}
for _name, _fn in _SYM_OPS.items():
    setattr(_Sym, f"__{_name}__", _sym_binary(_name, _fn, False))
    setattr(_Sym, f"__r{_name}__", _sym_binary(_name, _fn, True))
_Sym.__neg__ = lambda self: self.tracer.scalar_op("neg", -float(self), self, None)
_Sym.__pos__ = lambda self: self
_Sym.__abs__ = lambda self: self.tracer.scalar_op("abs", abs(float(self)), self, None)
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    def _compare(self, other, _name=_name):
        value = getattr(float(self), f"__{_name}__")(_plain(other))
        if value is not NotImplemented:
            self.tracer.scalar_guard(f"({{}} {_CMP[_name]} {{}})", self, other, value)
        return value
    setattr(_Sym, f"__{_name}__", _compare)
_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _sym_bool(self):
    value = float(self) != 0.0
    self.tracer.scalar_guard("bool({})", self, None, value)
    return value


def _sym_convert(kind):
    def convert(self):
        value = getattr(float(self), f"__{kind}__")()
        self.tracer.scalar_guard("({} == {})", self, value, True)  # used as a constant
        return value
    return convert


_Sym.__bool__ = _sym_bool
_Sym.__int__ = _sym_convert("int")
_Sym.__float__ = lambda self: float.__float__(self)  # plain value (used internally)
_Sym.__round__ = lambda self, n=None: (_sym_convert("int")(self) if n is None
                                       else round(float.__float__(self), n))


# ------------------------------------------------------------------- recording
class _Ref:
    """A value name in the generated code (``a3``, ``v12``, ``s4``, ``k0``, ``C[2]``)."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Record:
    __slots__ = ("index", "prim", "args", "kwargs", "out", "shape", "dtype", "value", "uses",
                 "_state_dep")

    def __init__(self, index, prim, args, kwargs):
        self.index, self.prim, self.args, self.kwargs = index, prim, args, kwargs
        self.out = None      # a name, a tuple of names, or None
        self.shape = self.dtype = None
        self.value = None    # host syncs: the value Python saw
        self.uses: set[str] = set()

    @property
    def is_sync(self) -> bool:
        return self.prim in _HOST_SYNCS or (self.out is None and self.value is not None)

    @property
    def inplace(self) -> bool:
        return self.kwargs.get("inplace") is True

    def __str__(self) -> str:
        inner = ", ".join([_show(a) for a in self.args]
                          + [f"{k}={_show(v)}" for k, v in self.kwargs.items()])
        call = f"{self.prim}({inner})"
        if self.is_sync:
            return f"! {call:<58}# Python reads {self.value!r} here (guarded)"
        out = self.out if not isinstance(self.out, tuple) else ", ".join(self.out)
        text = f"{out} = {call}" if out else call
        where = "" if self.shape is None else f"{self.shape} {self.dtype}"
        return f"{text:<60}# {where}{' (in place)' if self.inplace else ''}"


def _show(value):
    if isinstance(value, (list, tuple)) and not isinstance(value, RandomKey):
        inner = ", ".join(_show(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    return repr(value)


class _Tracer:
    """Records one eager run of a step: primitive calls, scalar arithmetic, key draws."""

    def __init__(self, backend: Backend, inputs: dict[int, str], places: dict[int, tuple],
                 keep_values: bool = False) -> None:
        self.backend = backend
        self.records: list[_Record] = []
        self.names: dict[int, str] = dict(inputs)  # id(array) -> name
        self.places = places                        # id(array) -> place (where it lives)
        self.reads: dict[str, tuple] = {}           # a-name -> place
        self.read_arrays: dict[str, Any] = {}       # a-name -> the array read
        self.results: dict[str, Any] = {}           # v-name -> the array computed
        self.consts: list[Any] = []                 # arrays with no place: constants
        self.const_names: dict[int, str] = {}
        self.keep: list[Any] = []                   # every array seen stays alive (ids)
        self.scalars: list[tuple] = []              # scalar program: (op, a, b) or leaves
        self.guards: list[tuple] = []               # (template, a, b, expected)
        self.keys: list[tuple] = []                 # (generator, key)
        self.key_ids: dict[int, int] = {}
        self.depth = 0
        self.keep_values = keep_values
        self.values: list[Any] = []                 # check=True: every record's result

    # scalars ----------------------------------------------------------------
    def leaf(self, value, where: tuple) -> _Sym:
        self.scalars.append(("leaf", where, type(value)))
        return _Sym(value, self, len(self.scalars) - 1)

    def scalar_op(self, name, value, a, b):
        self.scalars.append((name, self._operand(a), self._operand(b)))
        return _Sym(value, self, len(self.scalars) - 1)

    def _operand(self, x):
        if isinstance(x, _Sym):
            return _Ref(f"s{x.node}")
        return x

    def scalar_guard(self, template, a, b, expected) -> None:
        self.guards.append((template, self._operand(a), self._operand(b), expected))

    # arrays -----------------------------------------------------------------
    def name_of(self, value):
        if isinstance(value, _Sym):
            return _Ref(f"s{value.node}")
        if isinstance(value, RandomKey):
            index = self.key_ids.get(id(value))
            if index is None:
                raise CompileError(
                    "a random draw inside the compiled step uses a key that was not drawn "
                    "with Generator.next_key() during the step (a key made once and reused, "
                    "or derived with fold/split), so every replay would draw the same "
                    "numbers; draw keys inside the step (edu_nn's ops do), or keep this code "
                    "out of edu_nn.compile")
            return _Ref(f"k{index}")
        if isinstance(value, (list, tuple)):
            return type(value)(self.name_of(v) for v in value)
        if isinstance(value, slice):
            return slice(self.name_of(value.start), self.name_of(value.stop),
                         self.name_of(value.step))
        if isinstance(value, dict):
            return {k: self.name_of(v) for k, v in value.items()}
        if not self.backend.is_array(value):
            if isinstance(value, np.ndarray):  # NumPy data given to a primitive: a constant
                return self._const(value)
            return value
        name = self.names.get(id(value))
        if name is None:
            place = self.places.get(id(value))
            if place is None:
                return self._const(value)
            name = f"a{len(self.reads)}"
            self.reads[name] = place
            self.read_arrays[name] = value
            self.names[id(value)] = name
            self.keep.append(value)
        return _Ref(name)

    def _const(self, value):
        name = self.const_names.get(id(value))
        if name is None:
            name = f"C[{len(self.consts)}]"
            self.consts.append(value)
            self.const_names[id(value)] = name
        return _Ref(name)

    def plain_args(self, value):
        """The arguments with _Sym numbers turned back into floats (backends see plain
        Python numbers, exactly as in eager mode)."""
        if isinstance(value, _Sym):
            return float(value)
        if isinstance(value, (list, tuple)) and not isinstance(value, RandomKey):
            if any(isinstance(v, (_Sym, list, tuple)) for v in value):
                return type(value)(self.plain_args(v) for v in value)
        return value

    def name_result(self, result, index: int):
        if self.backend.is_array(result):
            name = f"v{index}"
            self.names[id(result)] = name
            self.keep.append(result)
            self.results[name] = result
            return name
        if isinstance(result, (list, tuple)) and result and all(
                self.backend.is_array(r) for r in result):
            return tuple(self.name_result(r, index * 1000 + i) for i, r in enumerate(result))
        return None

    def wrap(self, prim: str, method: Callable) -> Callable:
        def recorded(*args, **kwargs):
            if self.depth:  # a primitive calling another one: only the outer call counts
                return method(*args, **kwargs)
            record = _Record(len(self.records), prim, self.name_of(args),
                             {k: self.name_of(v) for k, v in kwargs.items()})
            self.depth += 1
            try:
                result = method(*self.plain_args(args),
                                **{k: self.plain_args(v) for k, v in kwargs.items()})
            finally:
                self.depth -= 1
            record.out = self.name_result(result, record.index)
            if record.out is None:
                if result is not None:  # Python got a value: a host sync, guarded
                    record.value = _frozen(result)
            elif isinstance(record.out, str):
                record.shape, record.dtype = tuple(result.shape), self.backend.dtype_of(result)
            self.records.append(record)
            if self.keep_values:
                self.values.append(result)
            return result
        return recorded


def _frozen(value):
    """A host sync's value as something comparable (to_numpy returns an array)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _same_value(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (np.shape(a) == np.shape(b)) and bool(np.array_equal(a, b, equal_nan=True))
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:
        return False


# ------------------------------------------------------------------ places
# Where a read array lives, and how the generated code reads and writes it:
#   ("tensor", T)          T.array (a parameter, a buffer, any live Tensor)
#   ("grad", T)            T.grad.array (the grad Tensor is replaced by every backward)
#   ("state", d, key)      d[key].array, d an optimizer's per-parameter state dict
def _find_places(b: Backend):
    """Every array of backend ``b`` that lives somewhere a later step can read it, and the
    optimizers and modules found on the way (gc is searched once per trace)."""
    from .nn.modules.module import Module
    from .optim.optimizer import Optimizer
    tensors, optimizers, modules = [], [], []
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: some module objects warn when asked __class__
        if issubclass(kind, Tensor):
            if obj.backend is b:
                tensors.append(obj)
        elif issubclass(kind, Optimizer):
            optimizers.append(obj)
        elif issubclass(kind, Module):
            modules.append(obj)
    places: dict[int, tuple] = {}
    # parameters and buffers first: another Tensor may hold the same array (an op that
    # returned its input's array), and the write must go to the module's own Tensor
    for m in modules:
        for t in _module_tensors(m):
            if t.backend is b:
                places.setdefault(id(t.array), ("tensor", t))
    for t in tensors:
        places.setdefault(id(t.array), ("tensor", t))
    for t in tensors:
        if isinstance(t.grad, Tensor) and t.grad.backend is b:
            places[id(t.grad.array)] = ("grad", t)
    for opt in optimizers:
        for d in opt.state.values():
            for key, v in d.items():
                if isinstance(v, Tensor) and v.backend is b:
                    places[id(v.array)] = ("state", d, key)
    return places, tensors, optimizers, modules


def _same_place(p, q) -> bool:
    """Places hold Tensors and dicts: compare them by identity (Tensor == is elementwise)."""
    return (p is not None and q is not None and len(p) == len(q) and p[0] == q[0]
            and all(a is b or (type(a) is str and a == b) for a, b in zip(p[1:], q[1:])))


def _place_array(place):
    kind = place[0]
    if kind == "tensor":
        return place[1].array
    if kind == "grad":
        g = place[1].grad
        return None if g is None else g.array
    v = place[1].get(place[2])
    return v.array if isinstance(v, Tensor) else None


def _describe(place) -> str:
    kind = place[0]
    if kind == "tensor":
        return f"a tensor of shape {tuple(place[1].array.shape)}"
    if kind == "grad":
        return f"the .grad of a parameter of shape {tuple(place[1].array.shape)}"
    return f"optimizer state {place[2]!r}"


# ------------------------------------------------------------------ the graph
class CapturedGraph:
    """The static graph of one traced step: its records, reads, writes and guards.

    ``print(graph)`` lists it EDF-style, one primitive call per line: ``a3`` are arrays read
    from state (listed first, with where they live), ``x0`` the step's Tensor arguments,
    ``s4`` numbers recomputed at every call, ``k0`` random keys, ``vN`` computed arrays.
    """

    def __init__(self, backend, records, reads, writes, scalar_writes, inputs, outputs):
        self.backend, self.records, self.reads, self.writes = backend, records, reads, writes
        self.scalar_writes, self.inputs, self.outputs = scalar_writes, inputs, outputs

    def count(self, prim: str) -> int:
        return sum(r.prim == prim for r in self.records)

    def __str__(self) -> str:
        syncs = sum(r.is_sync for r in self.records)
        lines = [f"static graph on the {self.backend} backend: {len(self.records)} primitive "
                 f"calls, {len(self.inputs)} inputs, {len(self.reads)} state reads, "
                 f"{len(self.writes)} state writes, {syncs} host syncs"]
        lines += [f"  {name}: argument {i}" for i, name in enumerate(self.inputs)]
        lines += [f"  {name}: reads {_describe(p)}" for name, p in self.reads.items()]
        lines += [str(r) for r in self.records]
        lines += [f"  {_describe(p)} <- {name}" for p, name in self.writes]
        lines += [f"  {where} <- s{node}" for where, node in self.scalar_writes]
        lines += ["  returns " + ", ".join(self.outputs)]
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.records)


class _EagerOnly(Exception):
    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


class _NotYet(_EagerOnly):
    """The traced call created optimizer state (a first step after ``opt.state.clear()``, a
    parameter's first gradient): its graph would create it again at every replay. The call
    counts as a warm-up; the next one traces."""


# ------------------------------------------------------------------- tracing
def _run_traced(tracer: _Tracer, b: Backend, call, args, symbolize):
    """Run ``call(*args)`` with ``b``'s primitives recorded by ``tracer``, the numbers of the
    optimizers in ``symbolize`` replaced by _Sym leaves, and key draws recorded."""
    from . import creation
    names = [n for n, v in vars(Backend).items()
             if callable(v) and not n.startswith("_") and n not in _NOT_RECORDED]
    shadowed = []
    original_next_key = creation.Generator.next_key

    def next_key(gen):
        key = original_next_key(gen)
        tracer.key_ids[id(key)] = len(tracer.keys)
        tracer.keys.append((gen, key))
        return key

    restore = _symbolize(tracer, symbolize)
    try:
        for n in names:
            setattr(b, n, tracer.wrap(n, getattr(b, n)))
            shadowed.append(n)
        creation.Generator.next_key = next_key
        return call(*args)
    finally:
        creation.Generator.next_key = original_next_key
        for n in shadowed:
            delattr(b, n)
        restore()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _symbolize(tracer: _Tracer, optimizers):
    """Replace each optimizer's numbers by _Sym leaves; return a function that puts plain
    numbers back (the traced values) and notes what the step wrote."""
    groups = []
    tracer.group_leaves = []   # (group dict, key, index or None, leaf)
    tracer.state_leaves = []   # (state dict, key, leaf)
    for opt in optimizers:
        for group in opt.param_groups:
            originals = {}
            for key, value in group.items():
                if key == "params":
                    continue
                if _is_number(value):
                    leaf = tracer.leaf(value, ("group", group, key, None))
                    tracer.group_leaves.append((group, key, None, leaf))
                    originals[key] = value
                    group[key] = leaf
                elif isinstance(value, tuple) and value and all(map(_is_number, value)):
                    leaves = []
                    for i, v in enumerate(value):
                        leaf = tracer.leaf(v, ("group", group, key, i))
                        tracer.group_leaves.append((group, key, i, leaf))
                        leaves.append(leaf)
                    originals[key] = value
                    group[key] = tuple(leaves)
            groups.append((group, originals))
        for d in opt.state.values():
            for key, value in list(d.items()):
                if _is_number(value):
                    leaf = tracer.leaf(value, ("state", d, key, None))
                    tracer.state_leaves.append((d, key, leaf))
                    d[key] = leaf

    def restore():
        tracer.group_changed = []
        for group, originals in groups:
            for key, value in originals.items():
                now = group[key]
                leaf_now = (isinstance(now, _Sym) and tracer.scalars[now.node][0] == "leaf"
                            ) or (isinstance(now, tuple) and all(
                                isinstance(x, _Sym) and tracer.scalars[x.node][0] == "leaf"
                                for x in now))
                if not leaf_now:
                    tracer.group_changed.append(key)
                group[key] = value if leaf_now else _plain_value(now)
        tracer.state_writes = []
        for d, key, leaf in tracer.state_leaves:
            now = d.get(key)
            if isinstance(now, _Sym):
                if now is not leaf:
                    tracer.state_writes.append((d, key, now.node,
                                                tracer.scalars[leaf.node][2]))
                d[key] = _restore_type(now, tracer.scalars[leaf.node][2])
    return restore


def _plain_value(v):
    if isinstance(v, _Sym):
        return float.__float__(v)
    if isinstance(v, tuple):
        return tuple(_plain_value(x) for x in v)
    return v


def _restore_type(v, kind):
    value = float.__float__(v)
    return int(value) if kind is int and value.is_integer() else value


def _module_tensors(m):
    for t in m.parameters():
        yield t
    for t in m.buffers():
        if t is not None:
            yield t


def _names_in(value) -> set[str]:
    found: set[str] = set()

    def walk(v):
        if isinstance(v, _Ref):
            if not v.text.startswith("C["):
                found.add(v.text)
        elif isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, slice):
            walk((v.start, v.stop, v.step))
    walk(value)
    return found


def _outs(r: _Record):
    if r.out is None:
        return ()
    return r.out if isinstance(r.out, tuple) else (r.out,)
