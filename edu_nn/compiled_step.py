"""``edu_nn.compile``: a whole training step recorded once as a static graph and replayed.

    @edu_nn.compile                      # or: step = edu_nn.compile(step)
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for x, y in loader:
        loss = step(x, y)                # 1st call eager, 2nd traced, then replayed

How (docs/compile.md has the design and the table of what is and is not captured):

1. **Warm-up.** The first call with a new signature (the backend, shapes, dtypes and devices
   of the Tensor arguments, the values of the other arguments) runs ``fn`` eagerly, so that
   lazily made state (optimizer buffers, gradients) exists.
2. **Trace.** The second call runs ``fn`` eagerly too, while every backend primitive call is
   recorded (the backend instance's methods are shadowed for that call only: nothing changes
   on the eager hot path). An array a record reads but did not compute is resolved to where it
   lives: an argument, a parameter or buffer (a Tensor), a parameter's ``.grad``, an entry of
   an optimizer's state; after the trace, every such place that now holds a computed array is
   a *write*. So parameters, gradients and optimizer state are inputs and outputs of the
   replay, never constants.
3. **Python numbers that change.** During the trace the optimizers' numbers (each param
   group's ``lr``, betas, ..., and each parameter's ``step`` count) are replaced by
   ``_Sym`` floats that record the arithmetic done on them (``1 - beta1 ** step``); at every
   replay that arithmetic is re-evaluated from the current values, so a scheduler's new
   learning rate and Adam's bias corrections are never frozen. Comparisons and conversions of
   these numbers (``if weight_decay != 0``) become guards.
4. **Randomness.** Keys drawn with ``Generator.next_key()`` during the trace are drawn again
   from the same generators at every replay (dropout's masks equal the eager ones).
5. **Replay.** The records become the source of one Python function (``step.code()`` shows
   it): on NumPy and torch it calls the backend's primitives directly, with no Tensor,
   Function or engine; on JAX the array part is one ``jax.jit`` program.
6. **Guards and data checks.** Module ``training`` flags, the optimizer's options and state
   containers, the shapes and dtypes of every array read, and the guards of point 3 are
   checked before anything runs; a failed guard retraces. Host synchronisations (Python
   reading a value: cross-entropy's class-range check) that depend only on the inputs run
   first, on the concrete inputs; if one disagrees with the trace the step runs eagerly
   instead (so its error is the eager one). Those that depend on state are checked after the
   fact and raise :class:`CompileError` if they changed.
"""
from __future__ import annotations

import builtins
import gc
import re
import math
import operator
import warnings
from typing import Any, Callable

import numpy as np

from .autograd.grad_mode import is_grad_enabled
from .backends import Backend
from .backends.base import RandomKey
from .tensor import Tensor

__all__ = ["compile", "CompiledStep", "CompileError"]

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


# -------------------------------------------------------------- code generation
class _Entry:
    """One trace, turned into a generated ``run`` function."""

    def __init__(self, step: "CompiledStep", sig) -> None:
        self.step = step
        self.sig = sig
        self.backend: Backend | None = None
        self.graph: CapturedGraph | None = None
        self.source = ""              # the generated code (step.code())
        self.body_source = ""         # JAX: the jitted body's code
        self.run = None               # run(args) -> the step's result
        self.debug_run = None         # run(args, taps): also stores every record's result
        self.namespace: dict[str, Any] = {}   # the generated code's globals
        self.prims: dict[str, Callable] = {}
        self.checked = 0              # check=True: how many calls were compared so far
        self.places: list = []        # every place read or written (check=True snapshots)
        self.grad_owners: list = []   # tensors whose .grad the step writes
        self.scalar_dicts: list = []  # optimizer state dicts whose numbers the step updates
        self.generators: list = []    # generators the step draws keys from
        self.flags: list = []         # (module, training) guards
        self.own: set[str] = set()    # reads of parameters the step updates
        self.last_use: dict[str, int] = {}


class _Const:
    """A value to put in the constants table (``C[i]``)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _code(value) -> str:
    """Python source for a recorded argument; raises _NeedConst for a value that must go to
    the constants table (arrays, non-finite floats, anything without a literal)."""
    if isinstance(value, _Const):
        raise _NeedConst(value.value)
    if isinstance(value, _Ref):
        return value.text
    if isinstance(value, tuple):
        inner = ", ".join(_code(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_code(v) for v in value) + "]"
    if isinstance(value, slice):
        return f"slice({_code(value.start)}, {_code(value.stop)}, {_code(value.step)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_code(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, str)) or value is Ellipsis:
        return repr(value)
    if isinstance(value, int) and type(value) is int:
        return repr(value)
    if type(value) is float and math.isfinite(value):
        return repr(value)
    raise _NeedConst(value)


class _NeedConst(Exception):
    pass


class _CodeWriter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.globals: dict[str, Any] = {}
        self.consts: list[Any] = []

    def bind(self, prefix: str, obj) -> str:
        for name, value in self.globals.items():
            if value is obj and name.startswith(prefix):
                return name
        name = f"{prefix}{len(self.globals)}"
        self.globals[name] = obj
        return name

    def arg(self, value) -> str:
        """Source for a recorded argument, putting constants in the table ``C``."""
        try:
            return _code(value)
        except _NeedConst as need:
            self.consts.append(need.args[0])
            return f"C[{len(self.consts) - 1}]"


# ------------------------------------------------------------------ the step
class CompiledStep:
    """``edu_nn.compile(fn)``: call it as ``fn``. See the module docstring.

    ``graph()`` returns the captured static graph of the latest trace (print it);
    ``code()`` the Python source the replay runs. ``traces`` counts traces so far.
    """

    def __init__(self, fn: Callable, check: bool = False, fullgraph: bool = True) -> None:
        self.fn = fn
        self.check = check
        self.fullgraph = fullgraph
        self._warm: set = set()
        self._entries: dict[Any, list[_Entry]] = {}
        self._eager_only: set = set()
        self._last: _Entry | None = None
        self.traces = 0
        self.replays = 0
        self.eager_calls = 0
        try:
            self.__wrapped__ = fn
            self.__name__ = getattr(fn, "__name__", "step")
            self.__doc__ = getattr(fn, "__doc__", None)
        except AttributeError:
            pass

    # public -----------------------------------------------------------------
    def graph(self) -> CapturedGraph:
        if self._last is None:
            raise CompileError("nothing traced yet: the step is traced at its second call")
        return self._last.graph

    def code(self) -> str:
        if self._last is None:
            raise CompileError("nothing traced yet: the step is traced at its second call")
        return self._last.source

    def __repr__(self) -> str:
        return (f"CompiledStep({getattr(self.fn, '__name__', self.fn)!r}, traces="
                f"{self.traces}, replays={self.replays})")

    # calling ------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if kwargs:
            args = args + tuple(kwargs[k] for k in sorted(kwargs))
            names = tuple(sorted(kwargs))
            fn = self.fn
            n = len(args) - len(names)
            call = lambda *a: fn(*a[:n], **dict(zip(names, a[n:])))  # noqa: E731
        else:
            call = self.fn
        sig = _signature(args, tuple(sorted(kwargs)))
        if sig in self._eager_only:
            self.eager_calls += 1
            return call(*args)
        entries = self._entries.get(sig)
        if entries is None:
            if sig not in self._warm:
                self._warm.add(sig)
                self.eager_calls += 1
                return call(*args)
            entries = self._entries[sig] = []
        reasons = []
        for entry in entries:
            try:
                if self.check and entry.checked < _CHECKED_CALLS:
                    entry.checked += 1
                    return self._checked_call(entry, call, args)
                out = entry.run(args)
                self.replays += 1
                self._last = entry
                return out
            except _Retrace as why:
                reasons.append(str(why))
            except _DataCheck:
                self.eager_calls += 1
                return call(*args)  # the eager step raises its own clear error, or branches
        if len(entries) >= _RETRACE_LIMIT:
            raise CompileError(
                f"edu_nn.compile: {getattr(self.fn, '__name__', 'the step')} was traced "
                f"{len(entries)} times for the same argument shapes and every trace's guards "
                f"failed (last: {reasons[-1]}); something the step depends on changes at "
                f"every call. Keep it out of the compiled function (for example call "
                f"scheduler.step() outside it), or do not compile this step")
        return self._trace(sig, call, args, entries)

    def _trace(self, sig, call, args, entries):
        b = _backend_of(args, search=True)
        try:
            entry, result = _trace(self, b, sig, call, args)
        except _NotYet as why:  # the traced call made lazy state: it was an eager warm-up
            self.eager_calls += 1
            return why.result
        except _EagerOnly as why:
            if self.fullgraph:
                raise CompileError(str(why)) from None
            warnings.warn(f"edu_nn.compile: {why}; this step runs eagerly "
                          f"(fullgraph=False)", RuntimeWarning, stacklevel=3)
            self._eager_only.add(sig)
            return why.result
        entries.insert(0, entry)
        self.traces += 1
        self._last = entry
        return result

    def _checked_call(self, entry: _Entry, call, args):
        """Run the step eagerly from a snapshot of its state, then compiled from the same
        snapshot, and compare every primitive's result."""
        b = entry.backend
        snap = _Snapshot(entry)
        places, *_ = _find_places(b)
        inputs = {id(a.array): f"x{i}" for i, a in enumerate(args) if isinstance(a, Tensor)}
        tracer = _Tracer(b, inputs, places, keep_values=True)
        _run_traced(tracer, b, call, args, symbolize=())
        eager = tracer.values
        eager_prims = [r.prim for r in tracer.records]
        snap.restore()
        taps: dict[int, Any] = {}
        out = entry.debug_run(args, taps)
        self.replays += 1
        for r in entry.graph.records:
            if r.index >= len(eager_prims) or eager_prims[r.index] != r.prim:
                raise CompileError(
                    f"edu_nn.compile(check=True): the eager step took another path: record "
                    f"{r.index} is {r.prim} in the trace but "
                    f"{eager_prims[r.index] if r.index < len(eager_prims) else 'missing'} "
                    f"in the eager run")
            if r.index not in taps or r.out is None:
                continue
            got, want = taps[r.index], eager[r.index]
            bad = _difference(b, got, want)
            if bad is not None:
                raise CompileError(
                    f"edu_nn.compile(check=True): the first op whose compiled output differs "
                    f"from eager is record {r.index}:\n    {r}\n{bad}")
        return out


class _EagerOnly(Exception):
    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


class _NotYet(_EagerOnly):
    """The traced call created optimizer state (a first step after ``opt.state.clear()``, a
    parameter's first gradient): its graph would create it again at every replay. The call
    counts as a warm-up; the next one traces."""


def _difference(b, got, want):
    gs = got if isinstance(got, (tuple, list)) else (got,)
    ws = want if isinstance(want, (tuple, list)) else (want,)
    for g, w in zip(gs, ws):
        g, w = np.asarray(b.to_numpy(g)), np.asarray(b.to_numpy(w))
        if g.shape != w.shape:
            return f"    shape {g.shape} compiled vs {w.shape} eager"
        if not np.array_equal(g, w, equal_nan=True):
            if g.dtype.kind in "fc":
                diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
                where = np.unravel_index(np.nanargmax(diff), diff.shape) if diff.size else ()
                return (f"    shape {g.shape} {g.dtype}: largest difference "
                        f"{np.nanmax(diff):.3g} at {tuple(int(i) for i in where)} (compiled "
                        f"{g[where]!r}, eager {w[where]!r})")
            return f"    shape {g.shape} {g.dtype}: {int(np.sum(g != w))} elements differ"
    return None


class _Snapshot:
    """Copies of everything a compiled step reads and writes (check=True)."""

    def __init__(self, entry: _Entry) -> None:
        b = self.b = entry.backend
        self.arrays = [(p, _place_array(p)) for p in entry.places]
        self.arrays = [(p, None if a is None else b.copy(a)) for p, a in self.arrays]
        self.grads = [(t, t.grad) for t in entry.grad_owners]
        self.scalars = [(d, dict(d)) for d in entry.scalar_dicts]
        self.gens = [(g, g.key, g.draws) for g in entry.generators]

    def restore(self) -> None:
        for t, g in self.grads:
            t.grad = g
        for p, a in self.arrays:
            if a is None:
                continue
            if p[0] == "tensor":
                p[1]._set_array(a)
            elif p[0] == "grad":
                if p[1].grad is not None:
                    p[1].grad = Tensor._make(a, self.b, p[1].grad.device)
            else:
                p[1][p[2]]._set_array(a)
        for d, saved in self.scalars:
            d.update(saved)
        for g, key, draws in self.gens:
            g.key, g.draws = key, draws


def _signature(args, keywords=()):
    """What selects a trace: each argument's backend, shape, dtype, device and requires_grad
    (or its value), and whether gradients are enabled (a step traced with backward must not
    replay under no_grad())."""
    parts = [is_grad_enabled(), keywords]
    for a in args:
        if isinstance(a, Tensor):
            arr = a.array
            parts.append((id(a.backend), arr.shape, arr.dtype, a.device, a.requires_grad))
        else:
            try:
                hash(a)
            except TypeError:
                raise CompileError(
                    f"edu_nn.compile: a compiled step's arguments must be Tensors or hashable "
                    f"Python values (they are guarded by value), got a "
                    f"{type(a).__name__}; pass its contents as Tensors") from None
            parts.append(("value", type(a), a))
    return tuple(parts)


def _backend_of(args, search: bool = False) -> Backend:
    """The backend a step runs on: its Tensor arguments'; for a step without any, the one
    its optimizers' parameters live on (``search``: once per trace), else the current one."""
    from .backend_selection import get_backend
    for a in args:
        if isinstance(a, Tensor):
            return a.backend
    if search:
        from .optim.optimizer import Optimizer
        found = {id(p.backend): p.backend for o in gc.get_objects()
                 if issubclass(type(o), Optimizer) for g in o.param_groups
                 for p in g["params"]}
        if len(found) == 1:
            return next(iter(found.values()))
    return get_backend()


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


def _trace(step: CompiledStep, b: Backend, sig, call, args):
    """Run the step once eagerly while recording it; build the replay. Returns
    (entry, the step's result)."""
    places, tensors, optimizers, modules = _find_places(b)
    inputs = {}
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            inputs[id(a.array)] = f"x{i}"
    optimizers = [o for o in optimizers if any(
        p.backend is b for g in o.param_groups for p in g["params"])]
    before = {id(t): (t.array, t.grad) for t in tensors}
    state_keys = [(o, {id(p): set(d) for p, d in o.state.items()}) for o in optimizers]
    tracer = _Tracer(b, inputs, places)
    result = _run_traced(tracer, b, call, args, symbolize=optimizers)
    for o, keys in state_keys:
        if {id(p): set(d) for p, d in o.state.items()} != keys:
            raise _NotYet("the optimizer made new state", result)
    if tracer.group_changed:
        raise CompileError(
            f"edu_nn.compile: the step changed the optimizer option(s) "
            f"{sorted(set(tracer.group_changed))} (a learning-rate scheduler's step(), or an "
            f"assignment to param_groups): that Python code cannot be replayed. Call "
            f"scheduler.step() (or change the options) outside the compiled function; the "
            f"compiled step reads the options at every call")
    outs = result if isinstance(result, (tuple, list)) else (result,)
    out_names = []
    for o in outs:
        if isinstance(o, Tensor):
            name = tracer.names.get(id(o.array))
            if name is None:
                raise CompileError("edu_nn.compile: the step returns a Tensor that no "
                                   "recorded primitive computed or read")
            out_names.append(name)
        elif o is None:
            out_names.append("None")
        else:
            raise _EagerOnly(f"the step returns a {type(o).__name__}; a compiled step "
                             f"returns Tensors (or a tuple of them)", result)

    # writes: every place whose array is now a computed one (or another place's)
    writes = []
    for t in tensors:
        arr0, grad0 = before[id(t)]
        if t.array is not arr0 or tracer.names.get(id(t.array), "").startswith("v"):
            name = tracer.names.get(id(t.array))
            if name is None:
                raise CompileError(f"edu_nn.compile: {_describe(('tensor', t))} was given an "
                                   f"array that no recorded primitive made")
            writes.append((("tensor", t), name))
        g = t.grad
        if g is not grad0 or (g is not None and g.array is not (grad0.array if grad0 is not None
                                                                  else None)):
            if g is None:
                writes.append((("grad", t), "None"))
            else:
                name = tracer.names.get(id(g.array))
                if name is None:
                    raise CompileError("edu_nn.compile: a gradient was set to an array no "
                                       "recorded primitive made")
                writes.append((("grad", t), name))
    owned = {id(t) for m in modules for t in _module_tensors(m)}
    owned |= {id(v) for m in modules for v in vars(m).values() if isinstance(v, Tensor)}
    owned |= {id(p) for o in optimizers for g in o.param_groups for p in g["params"]}
    for name, place in tracer.reads.items():
        if place[0] == "tensor" and id(place[1]) not in owned:
            raise _EagerOnly(
                f"the step reads a Tensor of shape {tuple(place[1].array.shape)} that is not "
                f"one of its arguments nor a parameter, buffer or attribute of a module (data "
                f"taken from the enclosing scope?); a replay would not see that variable "
                f"rebound to another Tensor. Pass it to the compiled step as an argument",
                result)
    touched = {id(p[1]) for p in tracer.reads.values() if p[0] != "state"}
    touched |= {id(p[1]) for p, _ in writes}
    optimizers = [o for o in optimizers if any(
        id(p) in touched for g in o.param_groups for p in g["params"])]
    for opt in optimizers:
        for d in opt.state.values():
            for key, v in d.items():
                if isinstance(v, Tensor) and v.backend is b:
                    name = tracer.names.get(id(v.array))
                    place = places.get(id(v.array))
                    if name is None and _same_place(place, ("state", d, key)):
                        continue  # not used by this step
                    if name is None:
                        raise CompileError(f"edu_nn.compile: optimizer state {key!r} was "
                                           f"created during the traced call")
                    if name.startswith("v") or not _same_place(place, ("state", d, key)):
                        writes.append((("state", d, key), name))
    writes = [(p, n) for p, n in writes if not (p[0] == "tensor" and any(
        q[0] == "state" and q[1].get(q[2]) is p[1] for q, _ in writes))]

    # host syncs: input-only ones run first, on the inputs; the others are checked after
    records = tracer.records
    deps: dict[str, bool] = {n: False for n in inputs.values()}  # name -> depends on state?
    for name in tracer.reads:
        deps[name] = True
    for r in records:
        used = _names_in((r.args, r.kwargs))
        r.uses = used
        state_dep = any(deps.get(u, u.startswith(("a", "k", "s"))) for u in used)
        for o in _outs(r):
            deps[o] = state_dep or r.inplace
        r_state = state_dep
        if r.is_sync and r_state and r.prim in ("item", "to_numpy"):
            raise _EagerOnly(
                f"Python reads a value computed from the model's state inside the step "
                f"({r.prim} of a {r.shape or 'value'}: .item(), float(), print(), a "
                f"NumPy conversion); a static graph cannot follow it. Return the Tensor "
                f"from the step and read it outside", result)
        r._state_dep = r_state
    scalar_writes = [(f"optimizer state {key!r}", node) for _, key, node, _ in tracer.state_writes]
    graph = CapturedGraph(b.name, records, tracer.reads, writes, scalar_writes,
                          [f"x{i}" for i, a in enumerate(args) if isinstance(a, Tensor)],
                          out_names)

    entry = _Entry(step, sig)
    entry.graph = graph
    entry.backend = b
    entry.places = list(tracer.reads.values()) + [p for p, _ in writes]
    entry.grad_owners = [p[1] for p, _ in writes if p[0] == "grad"]
    entry.scalar_dicts = list({id(d): d for d, _, _ in tracer.state_leaves}.values())
    entry.generators = list({id(g): g for g, _ in tracer.keys}.values())
    flags = []
    owned = {id(p[1]) for p in entry.places if p[0] in ("tensor", "grad")}
    for m in modules:
        if any(id(t) in owned for t in _module_tensors(m)):
            flags.extend((sub, sub.training) for sub in m.modules())
    entry.flags = list({id(m): (m, f) for m, f in flags}.values())
    _generate(entry, tracer, args, optimizers, out_names, writes,
              isinstance(result, (tuple, list)), type(result))
    return entry, result


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


#: Primitives whose value depends only on their argument's shape and dtype (guarded).
_SHAPE_ONLY = {"ones_like", "zeros_like", "full_like", "empty_like"}

_SCALAR_CODE = {"add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "truediv": "{} / {}",
                "pow": "{} ** {}", "floordiv": "{} // {}", "mod": "{} % {}", "neg": "-{}",
                "abs": "abs({})"}


def _generate(entry: _Entry, tracer: _Tracer, args, optimizers, out_names, writes,
              returns_tuple, result_type) -> None:
    """Write the replay as Python source and compile it (see ``CompiledStep.code()``)."""
    b = entry.backend
    jax_mode = bool(getattr(b, "is_jax_like", False))
    w = _CodeWriter()
    w.consts = list(tracer.consts)
    g = w.globals
    g.update(_Retrace=_Retrace, _DataCheck=_DataCheck, CompileError=CompileError,
             _host_value=_host_value,
             _make=Tensor._make, B=b, np=np, _same=_same_value, _bump=_bump)
    records = tracer.records

    # which records are needed: outputs, writes, host syncs, and what they use
    needed: set[str] = set(n for n in out_names if n != "None")
    needed |= {n for _, n in writes if n != "None"}
    keep = [False] * len(records)
    for r in reversed(records):
        if r.is_sync or any(o in needed for o in _outs(r)):
            keep[r.index] = True
            needed |= r.uses
    live = [r for r in records if keep[r.index]]
    # constant folding: a pure record whose inputs are all constants (or that only reads a
    # shape, like ones_like: shapes are guarded) gives the traced value at every call
    protected = set(out_names) | {n for _, n in writes}
    for r in live:
        if r.kwargs.get("inplace") is not None and r.args and isinstance(r.args[0], _Ref):
            protected.add(r.args[0].text)
    folded: dict[str, str] = {}
    for r in live:
        if (r.is_sync or r.inplace or r.prim.startswith("random_") or not isinstance(r.out, str)
                or r.out in protected or r.out not in tracer.results):
            continue
        if r.prim in _SHAPE_ONLY or all(u in folded for u in r.uses):
            folded[r.out] = w.arg(_Const(tracer.results[r.out]))
    live = [r for r in live if r.out not in folded]
    for r in live:
        r.uses = {u for u in r.uses if u not in folded}
    # input-only host syncs and what they need run first
    pre_needed: set[str] = set()
    pre = [False] * len(records)
    for r in reversed(live):
        if (r.is_sync and not r._state_dep) or any(o in pre_needed for o in _outs(r)):
            if not r._state_dep and not r.inplace:
                pre[r.index] = True
                pre_needed |= r.uses
    first = [r for r in live if pre[r.index]]
    rest = [r for r in live if not pre[r.index]]
    if jax_mode:
        # JAX: every record is in the one jit program, host syncs too (as jnp reductions
        # returned with the results); they are compared before anything is written back,
        # so a changed one (an input-only data check or not) leaves the state untouched
        # and the step runs eagerly instead.
        first, rest = [], live
    scalars_used = {u for r in live for u in r.uses if u.startswith("s")}
    scalars_used |= {f"s{node}" for _, _, node, _ in tracer.state_writes}

    entry.own = {name for name, place in tracer.reads.items()
                 if place[0] == "tensor" and any(_same_place(q, place) for q, _ in writes)}
    entry.last_use = {}
    for r in live:
        for u in r.uses:
            entry.last_use[u] = r.index
    L = w.lines
    L.append("def run(ARGS, TAP=None):")
    # -- guards: nothing has changed yet when one fails
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            L.append(f"    x{i} = ARGS[{i}].array")
    for m, flag in entry.flags:
        name = w.bind("M", m)
        L.append(f"    if {name}.training is not {flag}: raise _Retrace('a module was "
                 f"switched to {'eval' if flag else 'train'}() mode ({type(m).__name__})')")
    for opt in optimizers:
        o = w.bind("O", opt)
        st = w.bind("OS", opt.state)
        pg = w.bind("PG", opt.param_groups)
        L.append(f"    if {o}.state is not {st} or {o}.param_groups is not {pg} or "
                 f"len({pg}) != {len(opt.param_groups)}: raise _Retrace('the optimizer state "
                 f"or param groups were replaced (load_state_dict, add_param_group)')")
        used = {id(d) for d, _, _ in tracer.state_leaves} | {
            id(place[1]) for place in tracer.reads.values() if place[0] == "state"}
        for param, d in opt.state.items():
            if id(d) in used:  # opt.state.clear() or a new entry: retrace (eager restarts)
                L.append(f"    if {st}.get({w.bind('T', param)}) is not {w.bind('ST', d)}: "
                         f"raise _Retrace('the optimizer state of a parameter was replaced')")
        for gi, group in enumerate(opt.param_groups):
            gn = w.bind("G", group)
            for key, value in group.items():
                if key == "params" or _is_number(value) or (
                        isinstance(value, tuple) and value and all(map(_is_number, value))):
                    continue
                c = w.arg(_Const(value))
                L.append(f"    if {gn}[{key!r}] != {c}: raise _Retrace(\"param group {gi}'s "
                         f"option {key!r} changed\")")
    # scalar program (leaves read now, arithmetic redone), and its guards
    wanted = set(scalars_used) | {u for g_ in tracer.guards for u in _names_in(g_[1:3])}
    for i in range(len(tracer.scalars) - 1, -1, -1):
        node = tracer.scalars[i]
        if f"s{i}" in wanted and node[0] != "leaf":
            wanted |= _names_in(node[1:])
    seen_expr: dict[str, str] = {}
    rename: dict[str, str] = {}  # a repeated expression (1 - beta1 per parameter): computed once
    for i, node in enumerate(tracer.scalars):
        if f"s{i}" not in wanted:
            continue
        if node[0] == "leaf":
            _, (kind, d, key, idx), _t = node
            dn = w.bind("G" if kind == "group" else "ST", d)
            expr = f"{dn}[{key!r}]" + ("" if idx is None else f"[{idx}]")
        else:
            op, a, bb = node
            expr = _SCALAR_CODE[op].format(*(rename.get(x, x) for x in (w.arg(a), w.arg(bb))))
        if expr in seen_expr:
            rename[f"s{i}"] = seen_expr[expr]
            continue
        seen_expr[expr] = f"s{i}"
        L.append(f"    s{i} = {expr}")
    entry.scalar_rename = rename
    for template, a, bb, expected in dict.fromkeys(
            (t, repr(a_), repr(b_), e) for t, a_, b_, e in tracer.guards):
        a, bb = _Ref(a) if a.startswith("s") else eval(a), (
            _Ref(bb) if bb.startswith("s") else eval(bb))
        expr = template.format(w.arg(a), w.arg(bb))
        why = (f"an optimizer number that a Python branch depends on changed ({expr} is no "
               f"longer {expected!r})")
        L.append(f"    if ({expr}) != {expected!r}: raise _Retrace({why!r})")
    # state reads, with their shapes and dtypes guarded
    for name, place in tracer.reads.items():
        if name not in needed and name not in pre_needed:
            continue
        L.append(f"    {name} = {_read_code(w, place)}")
        if place[0] == "grad":
            L.append(f"    if {name} is None: raise _Retrace("
                     f"{_describe(place) + ' is missing'!r})")
    for name, place in tracer.reads.items():
        if (name in needed or name in pre_needed) and place[0] != "state":
            arr = tracer.read_arrays[name]
            sh = w.arg(_Const(arr.shape))
            dt = w.arg(_Const(arr.dtype))
            L.append(f"    if {name}.shape != {sh} or {name}.dtype != {dt}: raise "
                     f"_Retrace({_describe(place) + ' changed shape or dtype'!r})")
    # -- input-only data checks
    _emit_records(w, first, entry, jax_mode=False, where="pre")
    # -- keys: drawn from the same generators as the eager step
    if jax_mode:  # remembered, to be put back if a host sync sends the step to eager mode
        for j, gen in enumerate(entry.generators):
            gname = w.bind("GEN", gen)
            L.append(f"    GK{j} = ({gname}.key, {gname}.draws)")
    for i, (gen, _key) in enumerate(tracer.keys):
        gname = w.bind("GEN", gen)
        if jax_mode:
            L.append(f"    k{i} = np.array({gname}.next_key().entropy(), np.uint32)")
        else:
            L.append(f"    k{i} = {gname}.next_key()")
    # -- the body
    written = [n for _, n in writes if n != "None"]
    results = list(dict.fromkeys([n for n in out_names if n != "None"] + written))
    post = [r for r in rest if r.is_sync]
    if jax_mode:
        sync_vals = [f"{_bind_sync(w, r.prim)}({_code(r.args[0])})" for r in post]
        used = {u for r in rest for u in r.uses} | set(results) | _names_in(
            tuple(r.args[:1] for r in post))
        body_in = sorted({rename.get(u, u) for u in used if not _defined_in(u, rest)},
                         key=_order)
        body = _CodeWriter()
        body.globals, body.consts = w.globals, w.consts
        body.lines.append(f"def body({''.join(u + ', ' for u in body_in)}TAP=None):")
        _emit_records(body, [r for r in rest if not r.is_sync], entry, jax_mode=True,
                      where="body")
        body.lines.append(f"    return ({', '.join(results + sync_vals)},)")
        src = _renamed("\n".join(body.lines), {**rename, **folded})
        exec(builtins.compile(src, "<edu_nn.compile body>", "exec"), w.globals)
        # The optimizer's state buffers are donated (XLA may write the new moments into the
        # old buffers): the optimizer owns them (state_dict() hands out copies). Parameters
        # are not: a user's state_dict() or p.array may still refer to their arrays.
        written = [place for place, _ in writes]
        donate = tuple(i for i, u in enumerate(body_in)
                       if u in tracer.reads and tracer.reads[u][0] == "state"
                       and any(_same_place(tracer.reads[u], q) for q in written))
        w.globals["JIT"] = _jax_jit(b, w.globals["body"], donate)
        w.globals["BODY"] = w.globals["body"]
        entry.body_source = src
        outs = ", ".join(results + [f"q{i}" for i in range(len(post))])
        L.append(f"    R = JIT({', '.join(body_in)}) if TAP is None else "
                 f"BODY({''.join(u + ', ' for u in body_in)}TAP=TAP)")
        L.append(f"    ({outs},) = R" if (results or post) else "    pass")
        for i, r in enumerate(post):
            c = w.arg(_Const(r.value))
            restore = "".join(f"{w.bind('GEN', gen)}.key, {w.bind('GEN', gen)}.draws = "
                              f"GK{j}; " for j, gen in enumerate(entry.generators))
            L.append(f"    if not _same(_host_value({r.prim!r}, q{i}), {c}): "
                     f"{restore}raise _DataCheck({r.index})")
    else:
        _emit_records(w, rest, entry, jax_mode=False, where="body")
    # -- writes back
    for place, name in writes:
        L.append("    " + _write_code(w, place, name))
    for d, key, node, kind in tracer.state_writes:
        dn = w.bind("ST", d)
        L.append(f"    {dn}[{key!r}] = " + (f"int(s{node})" if kind is int else f"s{node}"))
    dev = w.bind("DEV", args[0].device if args and isinstance(args[0], Tensor) else "cpu")
    outs = [("None" if n == "None" else f"_make({n}, B, {dev})") for n in out_names]
    if returns_tuple:
        L.append(f"    return {'(' if result_type is tuple else '['}{', '.join(outs)}"
                 f"{',)' if result_type is tuple else ']'}")
    else:
        L.append(f"    return {outs[0]}")
    rename.update(folded)
    L[:] = [_renamed(line, rename) for line in L]
    w.globals["C"] = w.consts
    entry.namespace = w.globals  # the replay's names (a test breaks a primitive here)
    source = "\n".join(L)
    entry.source = source if not jax_mode else entry.body_source + "\n\n" + source
    # the replay without the check=True taps, and with them
    fast = "\n".join(line for line in L if "if TAP is not None: TAP[" not in line)
    exec(builtins.compile(fast, "<edu_nn.compile>", "exec"), w.globals)
    entry.run = w.globals["run"]
    entry.source = fast if not jax_mode else entry.body_source + "\n\n" + fast
    exec(builtins.compile(source.replace("def run(", "def run_checked(", 1), "<edu_nn.compile check>",
                 "exec"), w.globals)
    entry.debug_run = w.globals["run_checked"]


_NAME = re.compile(r"\b[sv]\d+\b")


def _renamed(text: str, rename: dict) -> str:
    """``text`` with each value name replaced by its rename (a repeated scalar expression by
    its first occurrence, a folded value by its constant)."""
    return _NAME.sub(lambda m: rename.get(m.group(0), m.group(0)), text) if rename else text


def _bind_sync(w: _CodeWriter, prim: str) -> str:
    import jax.numpy as jnp
    fn = {"any": jnp.any, "all": jnp.all, "count_nonzero": jnp.count_nonzero}.get(
        prim, lambda x: x)  # item, to_numpy: the array itself
    name = f"SYNC_{prim}"
    w.globals[name] = fn
    return name


def _host_value(prim: str, q):
    value = np.asarray(q)
    if prim == "to_numpy":
        return value
    value = value.item() if value.size == 1 else value
    return bool(value) if prim in ("any", "all") else value


def _defined_in(name, records) -> bool:
    return any(name in _outs(r) for r in records)


def _order(name: str):
    return (name[0], int(name[1:]) if name[1:].isdigit() else 0)


def _read_code(w: _CodeWriter, place) -> str:
    kind = place[0]
    if kind == "tensor":
        return f"{w.bind('T', place[1])}.array"
    if kind == "grad":
        t = w.bind("T", place[1])
        return f"(None if {t}.grad is None else {t}.grad.array)"
    d = w.bind("ST", place[1])
    return f"{d}[{place[2]!r}].array"


def _write_code(w: _CodeWriter, place, name: str) -> str:
    kind = place[0]
    if kind == "tensor":
        t = w.bind("T", place[1])
        return f"_bump({t}) if {name} is {t}.array else {t}._set_array({name})"
    if kind == "grad":
        t = w.bind("T", place[1])
        if name == "None":
            return f"{t}.grad = None"
        return f"{t}.grad = _make({name}, B, {t}.device)"
    d = w.bind("ST", place[1])
    return (f"{d}[{place[2]!r}]._set_array({name}) if {name} is not "
            f"{d}[{place[2]!r}].array else None")


def _bump(t: Tensor) -> None:
    storage = getattr(t, "_storage", None)
    if storage is not None:
        storage.version += 1


def _sync_message(r: _Record) -> str:
    return (f"edu_nn.compile: a value Python read inside the step changed since the trace "
            f"({r.prim} returned {r.value!r} then); the compiled graph followed the traced "
            f"branch, and the state was already updated. Keep data-dependent Python "
            f"(branches on computed values) out of the compiled function")


def _emit_records(w: _CodeWriter, records, entry: _Entry, jax_mode: bool, where: str):
    b = entry.backend
    L = w.lines
    for r in records:
        method = getattr(b, r.prim)
        if jax_mode and r.prim.startswith("random_"):
            method = _jax_random(b, r.prim)
        p = _bind_prim(w, entry, r.prim, method)
        kwargs = {k: w.arg(v) for k, v in r.kwargs.items()}
        first = r.args[0].text if r.args and isinstance(r.args[0], _Ref) else None
        if (not jax_mode and kwargs.get("inplace") == "False" and first in entry.own
                and entry.last_use.get(first) == r.index):
            # A parameter's update: made out of place while tracing (the tracer holds every
            # array), in place at replay when nothing else refers to the array, exactly as
            # the eager optimizer decides (Optimizer.step's xp.unshared(param, 2)).
            kwargs["inplace"] = f"{_bind_prim(w, entry, 'unshared', b.unshared)}({first}, 2)"
        call = f"{p}(" + ", ".join([w.arg(a) for a in r.args]
                                   + [f"{k}={v}" for k, v in kwargs.items()]) + ")"
        if r.is_sync:
            c = w.arg(_Const(r.value))
            if where == "pre":
                L.append(f"    if not _same({call}, {c}): raise _DataCheck({r.index})")
            else:
                L.append(f"    if not _same({call}, {c}): raise CompileError("
                         f"{_sync_message(r)!r})")
            continue
        outs = _outs(r)
        target = outs[0] if isinstance(r.out, str) else ", ".join(outs) + ","
        L.append(f"    {target} = {call}")
        L.append(f"    if TAP is not None: TAP[{r.index}] = "
                 f"{outs[0] if isinstance(r.out, str) else '(' + target + ')'}")


def _bind_prim(w: _CodeWriter, entry: _Entry, prim: str, method) -> str:
    name = f"P_{prim}"
    if name not in w.globals:
        w.globals[name] = method
        entry.prims[prim] = method
    return name


def _jax_random(b, prim):
    """A JAX random primitive that takes the key as uint32 words (a traced input)."""
    import sys
    module = sys.modules[type(b).__module__]
    method = getattr(type(b), prim)

    def draw(words, *args, **kwargs):
        b._key = module._prng_key
        try:
            return method(b, words, *args, **kwargs)
        finally:
            del b._key
    return draw


def _jax_jit(b, body, donate=()):
    import jax
    return jax.jit(body, donate_argnums=donate)


# ---------------------------------------------------------------------- API
def compile(fn: Callable | None = None, *, check: bool = False, fullgraph: bool = True,
            **options):
    """Compile a whole training step (``torch.compile``'s name and forms).

    ``step = edu_nn.compile(step)`` or ``@edu_nn.compile`` / ``@edu_nn.compile(check=True)``.
    The first call with a new signature runs eagerly, the second is traced, later ones replay
    the traced static graph (see this module's docstring and docs/compile.md).

    check: compare the first replays with the eager step, primitive by primitive, and raise
        :class:`CompileError` naming the first op whose output differs.
    fullgraph: True (the default here; torch's is False, where a graph break splits the
        step): anything that cannot be captured raises :class:`CompileError`, so a student
        sees what broke the graph; False: such a step runs eagerly, with a warning.
    torch's other options (``mode``, ``backend``, ``dynamic``, ``options``, ``disable``) are
    accepted; ``disable=True`` returns ``fn`` itself.
    """
    unknown = set(options) - {"mode", "backend", "dynamic", "options", "disable"}
    if unknown:
        raise TypeError(f"edu_nn.compile got unexpected keyword argument(s) {sorted(unknown)}")
    if fn is None:
        return lambda f: compile(f, check=check, fullgraph=fullgraph, **options)
    if not callable(fn):
        raise TypeError(f"edu_nn.compile: expected a function (the training step), got "
                        f"{type(fn).__name__}")
    if options.get("disable"):
        return fn
    return CompiledStep(fn, check=check, fullgraph=fullgraph)
