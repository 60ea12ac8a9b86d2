"""The replay of a traced step as generated Python, for ``edu_nn.compile`` (compiled_step.py).

``_generate`` turns the records of one trace into the source of a function ``run(args)``:
read the places, recompute the optimizer's numbers, check the guards, call the backend's
primitives (on JAX: one ``jax.jit`` program), write the places back, return new Tensors.
``CompiledStep.code()`` prints that source.
"""
from __future__ import annotations

import builtins
import math
import re
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .backends import Backend
from .backends.numpy_backend import NumpyBackend
from .compiled_trace import (CompileError, CapturedGraph, _DataCheck, _Ref, _Record, _Retrace,
                             _Tracer, _describe, _is_number, _names_in, _outs, _same_place,
                             _same_value)
from .tensor import Tensor
from . import compiled_numpy

if TYPE_CHECKING:
    from .compiled_step import CompiledStep

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
        self.inline = False           # NumPy: primitives written out (compiled_numpy.py)
        self.traced = None            # recorded argument -> its value during the trace


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
    # NumPy: primitives written out inline (compiled_numpy.py), with the traced values
    # deciding the methods' own case checks (shapes and dtypes are guarded)
    entry.inline = type(b) is NumpyBackend
    if entry.inline:
        g.update(compiled_numpy.UFUNCS)
    arg_arrays = {f"x{i}": a.array for i, a in enumerate(args) if isinstance(a, Tensor)}

    def traced(value):
        if not isinstance(value, _Ref):
            return value
        name = value.text
        for table in (tracer.results, tracer.read_arrays, arg_arrays):
            if name in table:
                return table[name]
        return None
    entry.traced = traced

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

    entry.escaping = set(out_names) | {n for _, n in writes}  # values that outlive run
    entry.own = {name for name, place in tracer.reads.items()
                 if place[0] == "tensor" and any(_same_place(q, place) for q, _ in writes)}
    entry.last_use = {}
    for r in live:
        for u in r.uses:
            entry.last_use[u] = r.index
    # NumPy: Adam's per-parameter lines done on all parameters at once (compiled_numpy.py)
    entry.adam_block = None
    if entry.inline:
        entry.adam_block = compiled_numpy.find_adam_block(rest, traced, tracer.reads,
                                                          entry.last_use)
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
    if entry.adam_block is not None:
        _adopt_flat_state(w, entry, tracer)
    # -- input-only data checks
    _emit_records(w, first, entry, jax_mode=False, where="pre")
    # -- keys: drawn from the same generators as the eager step
    # remembered, to be put back if a host sync sends the step to eager mode
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
        # Not when the step has host syncs: a changed one sends the step to eager mode with
        # the state as it was, and donated buffers would be gone.
        written = [place for place, _ in writes]
        donate = () if post else tuple(
            i for i, u in enumerate(body_in)
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
    # the traced arrays must not outlive the trace: the last one of each parameter is its
    # current array, and a reference more would stop the replay's in-place update
    entry.traced = None


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


def _emit_records(w: _CodeWriter, records, entry: _Entry, jax_mode: bool, where: str,
                  fuse: bool = True):
    b = entry.backend
    L = w.lines
    wrote = False  # has a record written into an array the step does not own?
    restore = "".join(f"{w.bind('GEN', gen)}.key, {w.bind('GEN', gen)}.draws = GK{j}; "
                      for j, gen in enumerate(entry.generators))
    block = entry.adam_block if fuse else None
    for r in records:
        if block is not None and r is block.records[0]:
            # the fused form first, the per-parameter code as its fallback
            start = len(L)
            _emit_records(w, block.records, entry, jax_mode, where, fuse=False)
            unfused = L[start:]
            del L[start:]
            _emit_adam_block(w, entry, block)
            L.append("    else:")
            L.extend("    " + line for line in unfused)
            wrote = True
            continue
        if block is not None and any(r is q for q in block.records):
            continue
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
            # Asked on a line of its own: inside the call's argument list, the first
            # argument already on the interpreter's stack would count as one more reference.
            L.append(f"    u{r.index} = " + (
                compiled_numpy.unshared(first, 2) if entry.inline else
                f"{_bind_prim(w, entry, 'unshared', b.unshared)}({first}, 2)"))
            kwargs["inplace"] = f"u{r.index}"
        arg_code = [w.arg(a) for a in r.args]
        call = f"{p}(" + ", ".join(arg_code + [f"{k}={v}" for k, v in kwargs.items()]) + ")"
        inline = None
        if entry.inline and (r.is_sync or isinstance(r.out, str)):
            # NumPy: the method's body for the traced case, as ufunc calls (compiled_numpy.py)
            inline = compiled_numpy.inline(
                r.prim, arg_code, kwargs, entry.traced, r.args, r.kwargs,
                f"q{r.index}" if r.is_sync else r.out,
                None if r.is_sync else entry.traced(_Ref(r.out)),
                private=lambda a: (isinstance(a, _Ref) and a.text.startswith("v")
                                   and entry.last_use.get(a.text) == r.index
                                   and a.text not in entry.escaping
                                   and type(entry.traced(a)) is np.ndarray))
        if inline is not None:
            L.extend("    " + line for line in inline)
            if r.is_sync:
                call = f"q{r.index}"
        if r.is_sync:
            c = w.arg(_Const(r.value))
            if where == "pre":
                L.append(f"    if not _same({call}, {c}): raise _DataCheck({r.index})")
            elif not wrote:
                # nothing written yet (only keys drawn: put back): run the step eagerly
                L.append(f"    if not _same({call}, {c}): {restore}raise _DataCheck({r.index})")
            else:
                L.append(f"    if not _same({call}, {c}): raise CompileError("
                         f"{_sync_message(r)!r})")
            continue
        if kwargs.get("inplace", "False") != "False":
            wrote = True
        outs = _outs(r)
        target = outs[0] if isinstance(r.out, str) else ", ".join(outs) + ","
        if inline is None:
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


def _adopt_flat_state(w: _CodeWriter, entry: _Entry, tracer: _Tracer) -> None:
    """Before anything is drawn or written: the Adam block's moments must be the views of its
    flat buffers (adopted on the first replay, and again after a load_state_dict)."""
    block = entry.adam_block
    for which, arg in (("FM", lambda g: g[0].args[0]), ("FV", lambda g: g[1].args[0])):
        flat, views, offsets = compiled_numpy.flat_views(block)
        block.offsets = offsets
        setattr(block, which, (w.bind(which + "F", flat), w.bind(which + "V", views)))
        names = [arg(g).text for g in block.groups]
        vn = getattr(block, which)[1]
        tensors = [f"{w.bind('ST', tracer.reads[n][1])}[{tracer.reads[n][2]!r}]" for n in names]
        same = " and ".join(f"{n} is {vn}[{k}]" for k, n in enumerate(names))
        w.lines.append(f"    if not ({same}): ({', '.join(names)},) = _ADOPT({vn}, "
                       f"({', '.join(tensors)},))")
    w.globals["_ADOPT"] = compiled_numpy.adopt


def _emit_adam_block(w: _CodeWriter, entry: _Entry, block) -> None:
    """The Adam block as ufunc calls over the flat buffers, under an ``if`` that holds when
    every parameter's numbers are equal (not under check=True: that compares the
    per-parameter records)."""
    L = w.lines
    rename = getattr(entry, "scalar_rename", {})

    def num(a):
        return _renamed(w.arg(a), rename)
    lines, conds = [], []
    positions = {"w": lambda g: g[0].args[2], "d": lambda g: g[1].args[2],
                 "s": lambda g: g[1].args[3], "c": lambda g: g[2].args[1],
                 "e": lambda g: g[2].args[2], "v": lambda g: g[3].args[3]}
    value = {}
    for key, get in positions.items():
        codes = list(dict.fromkeys(num(get(g)) for g in block.groups))
        if len(codes) > 1:
            conds.append(" == ".join(codes))
        value[key] = codes[0]
    FMF, _ = block.FM
    FVF, _ = block.FV
    grads = ", ".join(f"{g[0].args[1].text}.reshape(-1)" for g in block.groups)
    L.append("    if TAP is None" + "".join(f" and {c}" for c in conds) + ":")
    lines += [f"FG = CONCAT(({grads},))",
              f"FT = SUBTRACT(FG, {FMF})", f"FT *= {value['w']}", f"ADD({FMF}, FT, out={FMF})",
              "FT = MULTIPLY(FG, FG)", f"FT *= {value['s']}",
              f"MULTIPLY({FVF}, {value['d']}, out={FVF})", f"ADD({FVF}, FT, out={FVF})",
              f"FD = SQRT({FVF})", f"DIVIDE(FD, {value['c']}, out=FD)",
              f"ADD(FD, {value['e']}, out=FD)",
              f"FT = DIVIDE({FMF}, FD)", f"MULTIPLY(FT, {value['v']}, out=FT)"]
    for (lerp, mas, root, upd), (lo, hi), shape in zip(block.groups, block.offsets,
                                                        block.shapes):
        lines += [f"{lerp.out} = {lerp.args[0].text}", f"{mas.out} = {mas.args[0].text}"]
        p = upd.args[0].text
        view = f"FT[{lo}:{hi}]" + ("" if len(shape) == 1 else f".reshape({shape!r})")
        inplace = upd.kwargs.get("inplace", False)
        if inplace is True:
            lines.append(f"{upd.out} = ADD({p}, {view}, out={p})")
        elif p in entry.own and entry.last_use.get(p) == upd.index:
            lines.append(f"u{upd.index} = {compiled_numpy.unshared(p, 2)}")
            lines.append(f"{upd.out} = ADD({p}, {view}, out={p} if u{upd.index} else None)")
        else:
            lines.append(f"{upd.out} = ADD({p}, {view})")
    L.extend("        " + line for line in lines)
