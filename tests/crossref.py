"""Cross references: every op spec of tests/test_ops_*.py written again in plain torch and in
plain jax.numpy, so that torch.autograd and jax.vjp can check edu_nn's hand-written backward
passes (tests/test_cross_backend_grads.py).

``CROSSREF[spec.name]`` is a ``CrossRef(torch=..., jax=...)``. Each function takes the same
positional arrays and keyword arguments as the spec's NumPy reference, with the arrays
converted to the library's own (float inputs as float64, int inputs as int64), and returns
one array. The functions are written only with the library's public API (no edu_nn, no
NumPy on the traced values), so their gradients come from the library's autodiff.

Gradient conventions (DESIGN.md) that the libraries do not share are spelled out here, so the
references encode ours and never lean on a library's choice at a kink:
  - relu / leaky_relu / clamp are written with ``where`` on a strict comparison, never
    ``jnp.maximum(x, 0)`` (0.5 at 0), ``jax.nn.leaky_relu`` (1 at 0) or ``jnp.clip``
    (0.5 at a bound);
  - max(dim)/min(dim) on JAX gathers at ``jnp.argmax``/``jnp.argmin`` (the first index),
    so the whole gradient goes to the returned index;
  - amax/amin/max/min without dim use ``torch.amax``/``jnp.max``, which both split the
    gradient evenly over ties, as we do.
  - abs on JAX is x * sign(x) (derivative sign(x): 0 at 0), std on JAX has gradient 0
    where std = 0 (torch's and our choice; jnp.std gives nan there).
The op specs draw inputs away from kinks and ties anyway; the kink checks live in
test_cross_backend_grads.py.

torch and jax are imported only by ``load("torch")`` / ``load("jax")`` (the tests call it
before running a reference), so this module imports, and the table of names can be checked,
without them and without paying for their import in a NumPy-only run.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

# Bound by load(); the references look them up when called.
torch = F = None
jax = jnp = lax = None


def load(library: str) -> None:
    """Import ``library`` ("torch" or "jax") into this module's globals."""
    global torch, F, jax, jnp, lax
    if library == "torch" and torch is None:
        import torch as _torch
        import torch.nn.functional as _functional
        torch, F = _torch, _functional
    elif library == "jax" and jax is None:
        import jax as _jax
        import jax.numpy as _jnp
        import jax.scipy.special as _special  # noqa: F401  (for jax.scipy.special.logsumexp)
        from jax import lax as _lax
        jax, jnp, lax = _jax, _jnp, _lax


class CrossRef(NamedTuple):
    torch: Callable[..., Any]
    jax: Callable[..., Any]


CROSSREF: dict[str, CrossRef] = {}


def ref(name: str, torch_fn: Callable[..., Any], jax_fn: Callable[..., Any]) -> None:
    if name in CROSSREF:
        raise ValueError(f"crossref: {name!r} is defined twice")
    CROSSREF[name] = CrossRef(torch_fn, jax_fn)


def same(name: str, fn: Callable[..., Any]) -> None:
    """One function for both libraries, for plain operator arithmetic (``a + b``, ``2 ** b``)
    whose meaning is the same on torch tensors and jax arrays."""
    ref(name, fn, fn)


# ================================================================ elementwise
ref("add", lambda a, b: torch.add(a, b), lambda a, b: jnp.add(a, b))
ref("sub", lambda a, b: torch.sub(a, b), lambda a, b: jnp.subtract(a, b))
ref("mul", lambda a, b: torch.mul(a, b), lambda a, b: jnp.multiply(a, b))
ref("div", lambda a, b: torch.div(a, b), lambda a, b: jnp.divide(a, b))
same("radd_scalar", lambda a: 2.5 + a)
same("rsub_scalar", lambda a: 2.5 - a)
same("rmul_scalar", lambda a: -1.5 * a)
same("rdiv_scalar", lambda a: 2.0 / a)
ref("neg", lambda a: torch.neg(a), lambda a: jnp.negative(a))
ref("pow_scalar", lambda a, p: torch.pow(a, p), lambda a, p: jnp.power(a, p))
ref("pow_tensor", lambda a, b: torch.pow(a, b), lambda a, b: jnp.power(a, b))
ref("rpow_scalar_base", lambda b: torch.pow(2.0, b), lambda b: jnp.power(2.0, b))
ref("exp", lambda x: torch.exp(x), lambda x: jnp.exp(x))
ref("log", lambda x: torch.log(x), lambda x: jnp.log(x))
ref("sqrt", lambda x: torch.sqrt(x), lambda x: jnp.sqrt(x))
# torch.abs'(0) = sign(0) = 0 as ours; jax.grad(jnp.abs)(0.) = 1, so JAX's is x sign(x),
# whose derivative sign(x) + x sign'(x) = sign(x) is 0 at 0.
ref("abs", lambda x: torch.abs(x), lambda x: x * jnp.sign(x))
ref("sign", lambda x: torch.sign(x), lambda x: jnp.sign(x))
ref("tanh", lambda x: torch.tanh(x), lambda x: jnp.tanh(x))
ref("sigmoid", lambda x: torch.sigmoid(x), lambda x: jax.nn.sigmoid(x))
ref("relu", lambda x: torch.relu(x), lambda x: jnp.where(x > 0, x, 0.0))
ref("leaky_relu", lambda x, negative_slope: F.leaky_relu(x, negative_slope),
    lambda x, negative_slope: jnp.where(x > 0, x, negative_slope * x))
ref("gelu", lambda x, approximate="none": F.gelu(x, approximate=approximate),
    lambda x, approximate="none": jax.nn.gelu(x, approximate=approximate == "tanh"))
# Both libraries split the gradient in half at a tie, as we do.
ref("maximum", lambda a, b: torch.maximum(a, b), lambda a, b: jnp.maximum(a, b))
ref("minimum", lambda a, b: torch.minimum(a, b), lambda a, b: jnp.minimum(a, b))


def _jax_clamp(x, lo, hi):
    """torch.clamp's gradient: 1 inside [lo, hi] *and on the bounds* (jnp.clip gives 0.5)."""
    if lo is not None:
        x = jnp.where(x < lo, lo, x)
    if hi is not None:
        x = jnp.where(x > hi, hi, x)
    return x


ref("clamp", lambda x, lo, hi: torch.clamp(x, lo, hi), _jax_clamp)
ref("where", lambda c, a, b: torch.where(c > 0, a, b), lambda c, a, b: jnp.where(c > 0, a, b))


# ================================================================= reductions
def _all_dims(x, dim):
    """torch's dim=None as an explicit tuple (torch.logsumexp and friends want one)."""
    return tuple(range(x.ndim)) if dim is None else dim


ref("sum", lambda x, dim, keepdim: torch.sum(x, dim=dim, keepdim=keepdim),
    lambda x, dim, keepdim: jnp.sum(x, axis=dim, keepdims=keepdim))
ref("mean", lambda x, dim, keepdim: torch.mean(x, dim=dim, keepdim=keepdim),
    lambda x, dim, keepdim: jnp.mean(x, axis=dim, keepdims=keepdim))
ref("var", lambda x, dim, keepdim, correction:
    torch.var(x, dim=dim, correction=correction, keepdim=keepdim),
    lambda x, dim, keepdim, correction: jnp.var(x, axis=dim, ddof=correction, keepdims=keepdim))


def _jax_std(x, dim, keepdim, correction):
    """jnp.std, but with torch's (and our) gradient 0 where std = 0 (a constant slice, or a
    single element with correction 0), where jnp.std's is nan (sqrt'(0) = inf times 0).
    The double where keeps the inf out of the unused branch's gradient."""
    var = jnp.var(x, axis=dim, ddof=correction, keepdims=keepdim)
    positive = var > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)


ref("std", lambda x, dim, keepdim, correction:
    torch.std(x, dim=dim, correction=correction, keepdim=keepdim), _jax_std)
ref("amax", lambda x, dim, keepdim: torch.amax(x, dim=_all_dims(x, dim), keepdim=keepdim),
    lambda x, dim, keepdim: jnp.max(x, axis=dim, keepdims=keepdim))
ref("amin", lambda x, dim, keepdim: torch.amin(x, dim=_all_dims(x, dim), keepdim=keepdim),
    lambda x, dim, keepdim: jnp.min(x, axis=dim, keepdims=keepdim))
ref("max_all", lambda x: torch.max(x), lambda x: jnp.max(x))
ref("min_all", lambda x: torch.min(x), lambda x: jnp.min(x))


def _jax_at_first(arg: str):
    """max(dim)/min(dim) on JAX: the value at the first arg-extreme index (``jnp.argmax``
    returns the first), so the whole gradient goes there (our convention and torch's;
    jnp.max would split it over ties)."""
    def fn(x, dim, keepdim):
        index = jnp.expand_dims(getattr(jnp, arg)(x, axis=dim), dim)
        out = jnp.take_along_axis(x, index, axis=dim)
        return out if keepdim else jnp.squeeze(out, axis=dim)
    return fn


ref("max_dim", lambda x, dim, keepdim: torch.max(x, dim, keepdim).values,
    _jax_at_first("argmax"))
ref("min_dim", lambda x, dim, keepdim: torch.min(x, dim, keepdim).values,
    _jax_at_first("argmin"))
ref("logsumexp", lambda x, dim, keepdim: torch.logsumexp(x, _all_dims(x, dim), keepdim),
    lambda x, dim, keepdim: jax.scipy.special.logsumexp(x, axis=dim, keepdims=keepdim))


# ====================================================== matmul and softmax
def _jax_on_1d(name: str):
    """jax.nn.softmax needs an axis that exists; torch's softmax of a 0-d tensor (dim 0 or
    -1) is the softmax of its one-element 1-d view."""
    def wrapped(x, dim):
        fn = getattr(jax.nn, name)
        if x.ndim == 0:
            return fn(x.reshape(1), axis=0).reshape(())
        return fn(x, axis=dim)
    return wrapped


ref("matmul", lambda a, b: torch.matmul(a, b), lambda a, b: jnp.matmul(a, b))
same("matmul_operator", lambda a, b: a @ b)
for _name in ("softmax", "softmax_large_inputs"):
    ref(_name, lambda x, dim: torch.softmax(x, dim),
        _jax_on_1d("softmax"))
for _name in ("log_softmax", "log_softmax_large_inputs"):
    ref(_name, lambda x, dim: torch.log_softmax(x, dim),
        _jax_on_1d("log_softmax"))


# ================================================================ shape ops
def _resolve_sizes(shape, sizes):
    """expand's sizes with -1 replaced by the input's size (leading new dims have no -1)."""
    lead = len(sizes) - len(shape)
    return tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))


def _squeezable(shape, dim):
    n = len(shape)
    named = range(n) if dim is None else [d % n for d in ((dim,) if isinstance(dim, int) else dim)]
    return tuple(sorted({d for d in named if shape[d] == 1}))


def _flattened(shape, start_dim, end_dim):
    if not shape:
        return (1,)
    s, e = start_dim % len(shape), end_dim % len(shape)
    return tuple(shape[:s]) + (math.prod(shape[s:e + 1]),) + tuple(shape[e + 1:])


def _torch_pieces(pieces):
    return torch.cat([p.flatten() * float(i + 1) for i, p in enumerate(pieces)])


def _jax_pieces(x, sizes, dim):
    cuts, at = [], 0
    for s in sizes[:-1]:
        at += s
        cuts.append(at)
    pieces = jnp.split(x, cuts, axis=dim)
    return jnp.concatenate([p.reshape(-1) * float(i + 1) for i, p in enumerate(pieces)])


def _widths(ndim, pad):
    """F.pad's flat last-dim-first pad as one (before, after) pair per dim."""
    widths = [(0, 0)] * ndim
    for k in range(len(pad) // 2):
        widths[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return widths


def _torch_pad(x, pad, mode, value=0.0):
    if mode == "constant":
        # F.pad crops (negative widths) before it pads, so (1, -2) on a size-1 dim fails
        # there although the result, of size 0, is valid: pad the positive widths, then
        # crop the negative ones
        x = F.pad(x, [max(w, 0) for w in pad], mode="constant", value=value)
        for k in range(len(pad) // 2):
            dim = x.ndim - 1 - k
            start, stop = -min(pad[2 * k], 0), x.shape[dim] + min(pad[2 * k + 1], 0)
            x = torch.narrow(x, dim, start, stop - start)
        return x
    # torch pads the last k dims in these modes only with one batch dim in front: fold the
    # leading dims into one, pad, unfold
    k = len(pad) // 2
    lead = x.shape[:x.ndim - k]
    out = F.pad(x.reshape((math.prod(lead),) + x.shape[x.ndim - k:]), pad, mode=mode)
    return out.reshape(lead + out.shape[1:])


def _jax_pad(x, pad, mode, value=0.0):
    widths = _widths(x.ndim, pad)
    if mode == "constant":  # lax.pad takes negative (cropping) widths, jnp.pad does not
        return lax.pad(x, jnp.asarray(value, x.dtype), [(b, a, 0) for b, a in widths])
    return jnp.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge",
                                    "circular": "wrap"}[mode])


def _jax_narrow(x, dim, start, length):
    start = start + x.shape[dim] if start < 0 else start
    return lax.slice_in_dim(x, start, start + length, axis=dim)


ref("reshape", lambda x, shape: torch.reshape(x, shape), lambda x, shape: jnp.reshape(x, shape))
ref("view_method", lambda x, shape: x.view(shape),  # torch: x.view(*()) is an error
    lambda x, shape: jnp.reshape(x, shape))
ref("transpose", lambda x, dim0, dim1: torch.transpose(x, dim0, dim1),
    lambda x, dim0, dim1: jnp.swapaxes(x, dim0, dim1))
ref("permute", lambda x, dims: torch.permute(x, dims), lambda x, dims: jnp.transpose(x, dims))
ref("expand", lambda x, sizes: x.expand(sizes),  # x.expand(*()) is an error
    lambda x, sizes: jnp.broadcast_to(x, _resolve_sizes(x.shape, sizes)))
ref("squeeze", lambda x, dim: torch.squeeze(x) if dim is None else torch.squeeze(x, dim),
    lambda x, dim: jnp.squeeze(x, axis=_squeezable(x.shape, dim)))
ref("unsqueeze", lambda x, dim: torch.unsqueeze(x, dim), lambda x, dim: jnp.expand_dims(x, dim))
ref("flatten", lambda x, start_dim, end_dim: torch.flatten(x, start_dim, end_dim),
    lambda x, start_dim, end_dim: jnp.reshape(x, _flattened(x.shape, start_dim, end_dim)))
ref("cat", lambda *xs, dim: torch.cat(xs, dim=dim), lambda *xs, dim: jnp.concatenate(xs, axis=dim))
ref("stack", lambda *xs, dim: torch.stack(xs, dim=dim), lambda *xs, dim: jnp.stack(xs, axis=dim))
ref("split", lambda x, arg, dim, sizes: _torch_pieces(torch.split(x, arg, dim)),
    lambda x, arg, dim, sizes: _jax_pieces(x, sizes, dim))
ref("chunk", lambda x, chunks, dim, sizes: _torch_pieces(torch.chunk(x, chunks, dim)),
    lambda x, chunks, dim, sizes: _jax_pieces(x, sizes, dim))
ref("narrow", lambda x, dim, start, length: torch.narrow(x, dim, start, length), _jax_narrow)
ref("flip", lambda x, dims: torch.flip(x, dims), lambda x, dims: jnp.flip(x, dims))
for _mode in ("constant", "reflect", "replicate", "circular"):
    ref(f"pad_{_mode}", _torch_pad, _jax_pad)


# ================================================================= indexing
def _torch_key(key):
    """The spec's key with its NumPy arrays (int or bool) as torch tensors."""
    def part(p):
        return torch.from_numpy(p) if hasattr(p, "dtype") and hasattr(p, "ndim") else p
    return tuple(part(p) for p in key) if isinstance(key, tuple) else part(key)


def _jax_getitem(x, key, forms):
    """torch's indexing on jax.numpy, whose rules are NumPy's. They differ only when ints
    and index arrays are mixed: torch applies the ints first (plain selection), then the
    index arrays, so x[0, :, [1, 2]] has shape (n1, 2) where NumPy gives (2, n1)."""
    parts = key if isinstance(key, tuple) else (key,)
    is_int = [isinstance(p, int) for p in parts]
    is_array = [hasattr(p, "ndim") for p in parts]
    if not (any(is_int) and any(is_array)):
        return x[key]
    # step 1: the ints alone (every array part keeps its dims with full slices)
    first = []
    for p, a in zip(parts, is_array):
        first += [slice(None)] * (p.ndim if p.dtype == bool else 1) if a else [p]
    # step 2: the arrays, on the dims the ints left; ints are gone, basic parts are spent
    then = [p if a else (Ellipsis if p is Ellipsis else slice(None))
            for p, a, i in zip(parts, is_array, is_int) if not i]
    return x[tuple(first)][tuple(then)]


def _jax_take_along_dim(x, index, dim):
    if dim is None:
        return jnp.take(x.reshape(-1), index.reshape(-1))
    # torch broadcasts input and index against each other except along dim
    x_shape = [max(a, b) for a, b in zip(x.shape, index.shape)]
    i_shape = list(x_shape)
    x_shape[dim], i_shape[dim] = x.shape[dim], index.shape[dim]
    return jnp.take_along_axis(jnp.broadcast_to(x, x_shape), jnp.broadcast_to(index, i_shape),
                               axis=dim)


def _jax_gather(x, index, dim):
    """torch.gather lets index be smaller than input in the other dims: it reads the
    leading corner. That corner, then take_along_axis."""
    corner = tuple(slice(None) if d == dim % x.ndim else slice(0, n)
                   for d, n in enumerate(index.shape))
    return jnp.take_along_axis(x[corner], index, axis=dim)


ref("getitem", lambda x, key, forms: x[_torch_key(key)], _jax_getitem)
ref("take_along_dim", lambda x, index, dim: torch.take_along_dim(x, index, dim),
    _jax_take_along_dim)
ref("gather", lambda x, index, dim: torch.gather(x, dim, index), _jax_gather)
ref("index_select", lambda x, index, dim: torch.index_select(x, dim, index),
    lambda x, index, dim: jnp.take(x, index, axis=dim))


# ==================================================================== fused
def _jax_cross_entropy(logits, target, reduction="mean"):
    logp = jax.nn.log_softmax(logits, axis=1)
    if jnp.issubdtype(target.dtype, jnp.integer):
        per = -jnp.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    else:
        per = -jnp.sum(target * logp, axis=1)
    return {"mean": jnp.mean, "sum": jnp.sum, "none": lambda v: v}[reduction](per)


ref("linear", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b)
ref("linear_no_bias", lambda x, w: F.linear(x, w), lambda x, w: x @ w.T)
for _name in ("cross_entropy_indices", "cross_entropy_probabilities"):
    ref(_name, lambda logits, target, reduction="mean":
        F.cross_entropy(logits, target, reduction=reduction), _jax_cross_entropy)


# ------------------------------------------------- tests/test_ops_torch_breadth.py (issue 15)
ref("sin", lambda x: torch.sin(x), lambda x: jnp.sin(x))
ref("cos", lambda x: torch.cos(x), lambda x: jnp.cos(x))
ref("square", lambda x: torch.square(x), lambda x: jnp.square(x))
ref("log2", lambda x: torch.log2(x), lambda x: jnp.log2(x))
ref("log10", lambda x: torch.log10(x), lambda x: jnp.log10(x))
ref("cumsum", lambda x, dim: torch.cumsum(x, dim), lambda x, dim: jnp.cumsum(x, axis=dim))
ref("sort_values", lambda x, dim, descending: torch.sort(x, dim, descending).values,
    lambda x, dim, descending: (jnp.flip(jnp.sort(x, axis=dim), axis=dim) if descending
                                else jnp.sort(x, axis=dim)))
ref("topk_values", lambda x, dim, k, largest: torch.topk(x, k, dim, largest).values,
    lambda x, dim, k, largest: jnp.take(
        jnp.flip(jnp.sort(x, axis=dim), axis=dim) if largest else jnp.sort(x, axis=dim),
        jnp.arange(k), axis=dim))
ref("mm", lambda a, b: torch.mm(a, b), lambda a, b: jnp.matmul(a, b))
ref("bmm", lambda a, b: torch.bmm(a, b), lambda a, b: jnp.matmul(a, b))
ref("mv", lambda a, b: torch.mv(a, b), lambda a, b: jnp.matmul(a, b))
ref("dot", lambda a, b: torch.dot(a, b), lambda a, b: jnp.dot(a, b))
