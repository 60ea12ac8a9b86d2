"""NumPy backend primitives written out inline in a compiled step's replay (compiled_codegen.py).

On the NumPy backend most of a small step's time is Python: each backend method call costs
a frame, keyword handling and the method's own checks (``_writable_like``, the 0-d cases),
about as much as the ufunc it runs on a 32x10 array. The replay knows every operand's shape
and dtype (they are guarded), so those checks can be answered once, at code generation, and
the method's body written into the generated ``run`` as plain ufunc calls.

Each form below is the body of the ``NumpyBackend`` method of the same name for the case the
trace saw, with the same ufuncs in the same order (so the same roundings: the compiled step
stays bit-identical to the eager one, which ``check=True`` and tests/test_compile.py verify).
A case the form does not cover (a 0-d operand, a mixed dtype, an out-of-place optimizer
update) returns ``None`` and the replay calls the backend method as before.

Used only for exactly ``NumpyBackend`` (a subclass may override a method).
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

#: The NumPy functions the inline forms call, bound as names of the generated code.
UFUNCS = {"MATMUL": np.matmul, "ADD": np.add, "SUBTRACT": np.subtract,
          "MULTIPLY": np.multiply, "DIVIDE": np.divide, "MAXIMUM": np.maximum,
          "MINIMUM": np.minimum, "GREATER": np.greater, "SQRT": np.sqrt,
          "ADDREDUCE": np.add.reduce, "MAXREDUCE": np.maximum.reduce,
          "MINREDUCE": np.minimum.reduce, "COUNT_NONZERO": np.count_nonzero,
          "GETREFCOUNT": sys.getrefcount, "ndarray": np.ndarray,
          "CONCAT": np.concatenate}


def _nd(*values) -> bool:
    """Every value an ndarray of at least one dimension (the forms' common precondition:
    then every ufunc result is an ndarray too, never a NumPy scalar)."""
    return all(type(v) is np.ndarray and v.ndim >= 1 for v in values)


def _same_layout(*values) -> bool:
    first = values[0]
    return _nd(*values) and all(v.shape == first.shape and v.dtype == first.dtype
                                for v in values[1:])


def inline(prim: str, args: list[str], kwargs: dict[str, str], traced: Callable[[Any], Any],
           raw_args: tuple, raw_kwargs: dict, out: str, result,
           private: Callable[[Any], bool] = lambda a: False) -> list[str] | None:
    """Lines of Python computing ``out = B.prim(*args, **kwargs)`` as NumpyBackend does, or
    None to call the method. ``args``/``kwargs`` are the argument sources, ``raw_args`` the
    recorded arguments and ``traced(a)`` the value a recorded argument had during the trace;
    ``result`` is the traced result."""
    v = [traced(a) for a in raw_args]
    kw = {k: traced(a) for k, a in raw_kwargs.items()}
    a = args
    if prim == "linear" and len(a) == 3 and not kwargs:
        x, w, b = v
        if _nd(x, w, b, result) and result.dtype is b.dtype and b.shape == result.shape[-1:]:
            return [f"{out} = MATMUL({a[0]}, {a[1]}.T)", f"ADD({out}, {a[2]}, out={out})"]
    elif prim == "relu" and len(a) == 1 and not kwargs:
        return [f"{out} = MAXIMUM({a[0]}, 0.0)"]
    elif prim == "relu_backward" and len(a) == 2 and not kwargs and _nd(*v):
        return [f"{out} = MULTIPLY({a[0]}, GREATER({a[1]}, 0).astype({a[0]}.dtype, "
                f"copy=False))"]
    elif prim == "sum" and len(a) == 1:
        return [f"{out} = ADDREDUCE({a[0]}, axis={kwargs.get('axis', 'None')}, "
                f"keepdims={kwargs.get('keepdims', 'False')})"]
    elif prim in ("max", "min") and len(a) == 1 and _nd(v[0]):
        x, axis, keepdims = v[0], kw.get("axis"), kw.get("keepdims", False)
        red = "MAXREDUCE" if prim == "max" else "MINREDUCE"
        # backends/numpy_backend.py's _extremum, with its choice made at trace time
        if ((axis == 1 or axis == -1) and x.ndim == 2 and x.shape[0] >= 16
                and 0 < x.shape[1] <= 32):
            return [f"{out} = {red}({a[0]}.T.copy(), axis=0)"
                    + (".reshape(-1, 1)" if keepdims else "")]
        return [f"{out} = {red}({a[0]}, axis={kwargs.get('axis', 'None')}, "
                f"keepdims={kwargs.get('keepdims', 'False')})"]
    elif prim == "getitem" and len(a) == 2:
        return [f"{out} = {a[0]}[{a[1]}]"]
    elif prim == "reshape" and len(a) == 2:
        return [f"{out} = {a[0]}.reshape({a[1]})"]
    elif prim == "permute_dims" and len(a) == 2:
        return [f"{out} = {a[0]}.transpose({a[1]})"]
    elif prim == "astype" and len(a) == 2 and isinstance(raw_args[1], str):
        return [f"{out} = {a[0]}.astype({a[1]}, copy=False)"]
    elif prim == "count_nonzero" and len(a) == 1:
        return [f"{out} = int(COUNT_NONZERO({a[0]}))"]
    elif prim == "lerp" and kwargs.get("inplace") == "True" and _same_layout(v[0], v[1]):
        return [f"{out} = SUBTRACT({a[1]}, {a[0]})", f"{out} *= {a[2]}",
                f"{out} = ADD({a[0]}, {out}, out={a[0]})"]
    elif (prim == "mul_add_square" and kwargs.get("inplace") == "True"
          and _same_layout(v[0], v[1])):
        return [f"{out} = MULTIPLY({a[1]}, {a[1]})", f"{out} *= {a[3]}",
                f"MULTIPLY({a[0]}, {a[2]}, out={a[0]})",
                f"{out} = ADD({a[0]}, {out}, out={a[0]})"]
    elif prim == "sqrt_div_add" and len(a) == 3 and _nd(v[0]):
        return [f"{out} = SQRT({a[0]})", f"DIVIDE({out}, {a[1]}, out={out})",
                f"ADD({out}, {a[2]}, out={out})"]
    elif prim == "addcdiv" and len(a) == 4 and _same_layout(v[0], v[1], v[2]):
        inplace = kwargs.get("inplace", "False")
        lines = [f"{out} = DIVIDE({a[1]}, {a[2]})", f"MULTIPLY({out}, {a[3]}, out={out})"]
        if private(raw_args[2]):
            # the denominator dies here: divide into it, as hand-written Adam does (no new
            # array); check=True (TAP) keeps every record's result, so not there
            lines[0] = f"{out} = DIVIDE({a[1]}, {a[2]}, out={a[2]} if TAP is None else None)"
        if inplace == "False":
            return lines + [f"{out} = ADD({a[0]}, {out}, out={out})"]
        if inplace == "True":
            return lines + [f"{out} = ADD({a[0]}, {out}, out={a[0]})"]
        return lines + [f"{out} = ADD({a[0]}, {out}, out={a[0]} if {inplace} else {out})"]
    return None


def unshared(name: str, references: int) -> str:
    """An expression for ``NumpyBackend.unshared(name, references)`` written in the replay:
    the same test, with the reference count seen from the generated function (its local
    ``name`` plus getrefcount's own argument, where the method sees one more)."""
    return (f"(type({name}) is ndarray and {name}.base is None and {name}.flags.writeable "
            f"and GETREFCOUNT({name}) - 1 <= {references})")


# ------------------------------------------------------ Adam over all parameters at once
class AdamBlock:
    """A run of Adam updates, one per parameter (lerp, mul_add_square, sqrt_div_add, addcdiv:
    torch.optim.Adam's lines), that the replay does on all parameters at once.

    The moments of every parameter live in one flat buffer each (the state Tensors hold
    views of it, adopted once), the gradients are concatenated, and each elementwise line
    becomes one ufunc call over the flat buffers instead of one per parameter; the last
    line (the parameter update) stays per parameter. Every element goes through the same
    operations in the same order as in the per-parameter code (elementwise IEEE operations:
    the same bits). Taken only when every parameter's numbers are equal (the usual case:
    the same step count, so the same bias corrections); otherwise, and under check=True,
    the replay runs the per-parameter code.
    """

    def __init__(self, groups, dtype) -> None:
        self.groups = groups          # per parameter: (lerp, mul_add_square, sqrt, addcdiv)
        self.records = [r for g in groups for r in g]
        self.shapes = [None] * len(groups)   # each parameter's shape
        self.dtype = dtype
        self.offsets: list = []               # each parameter's (start, stop) in the flat buffers
        self.FM = self.FV = None              # (flat buffer, views) names of m and v in the code


#: The most elements (all parameters together) the Adam block takes. It pays where Python
#: overhead dominates (64-32-10: 0.97x hand NumPy fused against 1.18x per parameter); on
#: 784-256-10 (203,530 parameters) the gradients' concatenation and the fresh flat
#: temporaries cost more than the calls saved (1.7x against 1.1x, measured interleaved).
FUSE_LIMIT = 1 << 16


def find_adam_block(records, traced, reads, last_use) -> AdamBlock | None:
    """The first run of at least two consecutive per-parameter Adam updates in ``records``
    whose operands are ndarrays of one dtype, at most FUSE_LIMIT elements in all, or None."""
    def ref(a):
        return getattr(a, "text", None)

    for start in range(len(records)):
        groups = []
        i = start
        while i + 4 <= len(records):
            lerp, mas, root, upd = records[i:i + 4]
            if not (lerp.prim == "lerp" and mas.prim == "mul_add_square"
                    and root.prim == "sqrt_div_add" and upd.prim == "addcdiv"
                    and lerp.kwargs.get("inplace") is True and mas.kwargs.get("inplace") is True
                    and len(lerp.args) == 3 and len(mas.args) == 4 and len(root.args) == 3
                    and len(upd.args) == 4 and not root.kwargs
                    and set(upd.kwargs) <= {"inplace"} and set(lerp.kwargs) == {"inplace"}
                    and set(mas.kwargs) == {"inplace"}):
                break
            m, g, v, p = ref(lerp.args[0]), ref(lerp.args[1]), ref(mas.args[0]), ref(upd.args[0])
            if not (g is not None and ref(mas.args[1]) == g
                    and m in reads and reads[m][0] == "state"
                    and v in reads and reads[v][0] == "state"
                    and ref(root.args[0]) == mas.out and ref(upd.args[1]) == lerp.out
                    and ref(upd.args[2]) == root.out and p is not None
                    and all(last_use.get(o, -1) <= upd.index
                            for o in (lerp.out, mas.out, root.out))):
                break
            arrays = [traced(lerp.args[0]), traced(lerp.args[1]), traced(mas.args[0]),
                      traced(upd.args[0])]
            if not _same_layout(*arrays) or (groups and arrays[0].dtype != groups[0][1]):
                break
            groups.append(((lerp, mas, root, upd), arrays[0].dtype, arrays[0].shape))
            i += 4
        if len(groups) >= 2 and sum(int(np.prod(s)) for _, _, s in groups) <= FUSE_LIMIT:
            block = AdamBlock([g for g, _, _ in groups], groups[0][1])
            block.shapes = [s for _, _, s in groups]
            return block
    return None


def adopt(views, tensors):
    """Make the optimizer state Tensors hold ``views`` (of one flat buffer), copying their
    values in; returns the views. A state array of another shape or dtype (a
    load_state_dict) means the trace no longer fits: retrace."""
    from .compiled_trace import _Retrace
    for view, t in zip(views, tensors):
        array = t.array
        if array is view:
            continue
        if type(array) is not np.ndarray or array.shape != view.shape or (
                array.dtype != view.dtype):
            raise _Retrace("an optimizer state buffer changed shape or dtype")
        view[...] = array
        t._set_array(view)
    return views


def flat_views(block: AdamBlock):
    """One flat zeroed buffer and its per-parameter views, in the block's order."""
    sizes = [int(np.prod(s)) for s in block.shapes]
    flat = np.zeros(sum(sizes), block.dtype)
    views, offsets, at = [], [], 0
    for size, shape in zip(sizes, block.shapes):
        views.append(flat[at:at + size].reshape(shape))
        offsets.append((at, at + size))
        at += size
    return flat, tuple(views), offsets
