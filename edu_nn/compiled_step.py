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

The pieces: this file (the API, the calls, guards and traces of a ``CompiledStep``, and
``check=True``), ``compiled_trace.py`` (recording one eager run: primitives, numbers, keys,
places) and ``compiled_codegen.py`` (the generated replay).
"""
from __future__ import annotations

import gc
import warnings
from typing import Any, Callable

import numpy as np

from .autograd.grad_mode import is_grad_enabled
from .backends import Backend
from .compiled_codegen import _Entry, _generate
from .compiled_trace import (_CHECKED_CALLS, _RETRACE_LIMIT, CapturedGraph, CompileError,
                             _DataCheck, _EagerOnly, _NotYet, _Retrace, _Tracer, _describe,
                             _find_places, _module_tensors, _names_in, _outs, _place_array,
                             _run_traced, _same_place)
from .tensor import Tensor

__all__ = ["compile", "CompiledStep", "CompileError", "CapturedGraph"]


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
