"""``Tensor``: an array of one backend, plus what reverse-mode autodiff needs.

A Tensor holds
    array          the backend's native array (numpy.ndarray, torch.Tensor, jax.Array, ...).
                   This is the name ops, optimizers, assignments and docs use for the raw
                   values; ``ctx.xp``'s primitives take and return such arrays.
    data           as in torch: a *Tensor* (not an array) that shares this tensor's storage
                   but is cut from the graph; ``p.data.add_(...)``, ``p.data -= ...`` and
                   ``p.data = t`` change ``p`` (see "Storage" below)
    backend        the Backend that made it; every op on it goes through that backend
    requires_grad  whether gradients should flow back to it
    grad           after ``backward()``: a Tensor shaped like this one (leaves only)
    grad_fn        the Function node that produced it (None for leaves)

Operators and methods (``a + b``, ``a @ b``, ``x.sum(dim=1)``) are thin wrappers around the
functions in ``edu_nn.ops``, which are thin wrappers around one ``ArrayFunction`` each.

Storage. Arrays are never written into (JAX's cannot be), so an in-place op such as
``x.add_(1)`` computes a new array and *rebinds* ``x.array``. torch's aliases (``x.data``,
``x.detach()``) must see that change, so a tensor and its aliases share a small
``Storage`` object (made lazily, the first time an alias or an in-place op needs one) that
lists its members and counts versions; rebinding through it (``_set_array``) rebinds every
member. Assigning ``t.array = new`` directly is the low-level way (the optimizers' update
rules return new arrays); it changes only ``t`` and, like torch's ``p.data = new``, is not an
in-place op that backward checks for. The in-place rules are in ``inplace.py``.
"""
from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from . import dtypes as _dtypes
from .backend_selection import BackendLike, get_backend


class Tensor:
    # _storage and _view_of are left unset by _make and ArrayFunction.apply (the hot path);
    # getattr(t, name, None) reads them. _view_of = (base, key) marks a basic-indexing result,
    # whose in-place changes are written back into base (inplace.py).
    __slots__ = ("array", "backend", "device", "requires_grad", "grad", "grad_fn", "_storage",
                 "_view_of", "__weakref__")

    def __init__(self, data: Any, dtype: str | None = None, requires_grad: bool = False,
                 backend: BackendLike = None, device: str | None = None) -> None:
        made = tensor(data, dtype=dtype, requires_grad=requires_grad, backend=backend,
                      device=device)
        self.array, self.backend, self.device = made.array, made.backend, made.device
        self.requires_grad, self.grad, self.grad_fn = made.requires_grad, None, None
        self._storage = None

    @classmethod
    def _make(cls, data, backend, device, requires_grad=False, grad_fn=None) -> "Tensor":
        """Wrap a native array without checks or copies (the fast path used by ops)."""
        t = object.__new__(cls)
        t.array = data
        t.backend = backend
        t.device = device
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        return t

    # ------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> str:
        return self.backend.dtype_of(self.array)

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return math.prod(self.array.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self.dtype in _dtypes.FLOAT_DTYPES

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy for non-NumPy backends). Like torch, refuses a
        tensor that requires grad, because NumPy would silently drop the graph."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad: the graph "
                               "would be lost. Use tensor.detach().numpy() instead.")
        return self.backend.to_numpy(self.array)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"scalar; this one has shape {self.shape}")
        return self.backend.item(self.array)

    def tolist(self):
        return self.backend.to_numpy(self.array).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements is "
                               f"ambiguous; use .any() or .all()")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = self.backend.to_numpy(self.array)
        return arr if dtype is None else arr.astype(dtype)

    def detach(self) -> "Tensor":
        """The same storage, cut from the graph: no grad_fn, requires_grad False. In-place
        ops on either tensor change both (as in torch)."""
        return _alias(self)

    # ------------------------------------------------------ .data and storage
    @property
    def data(self) -> "Tensor":
        """torch's ``.data``: a Tensor sharing this tensor's storage, cut from the graph.

        ``p.data.add_(...)``, ``p.data -= ...`` and ``p.data.zero_()`` change ``p``, and
        are not recorded (nor refused on a leaf that requires grad). The native array is
        ``p.array``."""
        return _alias(self)

    @data.setter
    def data(self, value: "Tensor") -> None:
        """``p.data = t``: ``p`` takes ``t``'s values (and shape/dtype), keeping its identity,
        its requires_grad and its graph node, as in torch."""
        if not isinstance(value, Tensor):
            raise TypeError(
                f"t.data = value: value must be an edu_nn Tensor (as in torch), got "
                f"{type(value).__name__}. To set the backend's native array, assign "
                f"t.array = native_array instead.")
        if value.backend is not self.backend:
            raise RuntimeError(
                f"t.data = value: value is on backend {value.backend.name!r}, t on "
                f"{self.backend.name!r}; move it first with value.to(backend="
                f"{self.backend.name!r})")
        self._set_array(value.array)
        self.device = value.device

    @property
    def _version(self) -> int:
        """How many times this tensor's storage was changed in place (torch's counter)."""
        storage = getattr(self, "_storage", None)
        return 0 if storage is None else storage.version

    def _set_array(self, new) -> None:
        """Rebind the array of this tensor and of every alias sharing its storage."""
        _grad_state.mutations += 1  # backward then checks recorded inputs (engine.py)
        storage = getattr(self, "_storage", None)
        if storage is None:  # no alias was ever made: nothing else to rebind
            self.array = new
            return
        storage.version += 1
        for ref in storage.members:
            member = ref()
            if member is not None:
                member.array = new

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not self.is_floating_point():
            raise RuntimeError(f"only floating-point tensors can require gradients; this one "
                               f"is {self.dtype} (convert with .float() or .double() first)")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("you can only change requires_grad of leaf tensors; use "
                               ".detach() to get a tensor cut from the graph")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is not None:
            self.grad_fn._retained = self

    def to(self, *args, dtype: str | None = None, device: str | None = None,
           backend: BackendLike = None) -> "Tensor":
        """Convert dtype (differentiable), device, or backend (a copy off the graph).

        ``t.to("float64")``, ``t.to(device="cuda")``, ``t.to(backend="jax")``.
        """
        for a in args:
            if a in _dtypes.DTYPES:
                dtype = a
            elif isinstance(a, str):
                device = a
            else:
                raise TypeError(f"to(): expected a dtype or device string, got {a!r}")
        out = self
        if backend is not None and get_backend(backend) is not self.backend:
            target = get_backend(backend)
            if device is None:  # stay on this device where the target backend has it
                device = self.device if self.device in target.devices() else "cpu"
            out = tensor(self.backend.to_numpy(self.array), backend=target,
                         device=device, requires_grad=self.requires_grad and self.is_leaf)
            device = None
        if device is not None and device != out.device:
            out = Tensor._make(out.backend.to_device(out.array, device), out.backend,
                               out.backend.device_of(out.backend.to_device(out.array, device)))
        if dtype is not None and dtype != out.dtype:
            out = _ops.cast(out, dtype)
        return out

    def float(self) -> "Tensor":
        return self.to("float32")

    def double(self) -> "Tensor":
        return self.to("float64")

    def long(self) -> "Tensor":
        return self.to("int64")

    def int(self) -> "Tensor":
        return self.to("int32")

    def bool(self) -> "Tensor":
        return self.to("bool")

    def to_torch(self):
        """A torch.Tensor copy of the values (dtype and device kept; no graph)."""
        from .interop import to_torch
        return to_torch(self)

    def to_jax(self):
        """A jax.Array copy of the values (dtype and device kept; no graph)."""
        from .interop import to_jax
        return to_jax(self)

    def cpu(self) -> "Tensor":
        return self.to(device="cpu")

    def clone(self) -> "Tensor":
        """A differentiable copy (gradients flow back to this tensor)."""
        return _ops.clone(self)

    def contiguous(self) -> "Tensor":
        return self

    # -------------------------------------------------------------- autograd
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, into ``leaf.grad``.

        ``gradient`` is d(loss)/d(self); it may be omitted only when self is a scalar (then
        it is 1). Gradients accumulate into ``.grad`` across calls; reset them with
        ``optimizer.zero_grad()`` or ``x.grad = None``.
        """
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not "
                                      "supported: edu_nn's backward passes are not recorded")
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn, so there "
                "is nothing to differentiate. Did you forget requires_grad=True on the inputs, "
                "compute it inside no_grad(), or call .detach() on the way?")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs, and "
                    f"this tensor has shape {self.shape}. Reduce it to a scalar first (e.g. "
                    f".sum() or .mean()), or pass gradient= with d(loss)/d(this tensor).")
            grad = self.backend.ones_like(self.array)
        else:
            if isinstance(gradient, Tensor):
                if gradient.backend is not self.backend or gradient.device != self.device:
                    raise RuntimeError(
                        f"backward(): gradient is on backend {gradient.backend.name!r}, device "
                        f"{gradient.device!r}, but the tensor is on backend "
                        f"{self.backend.name!r}, device {self.device!r}; move it first, e.g. "
                        f"gradient.to(backend={self.backend.name!r}, device={self.device!r})")
                grad = gradient.array
            else:
                grad = self.backend.asarray(gradient, self.dtype, self.device)
            if tuple(grad.shape) != self.shape:
                raise RuntimeError(f"backward(): gradient has shape {tuple(grad.shape)} but the "
                                   f"tensor has shape {self.shape}; they must match")
            if self.backend.dtype_of(grad) != self.dtype:
                raise TypeError(f"backward(): gradient is {self.backend.dtype_of(grad)} but "
                                f"the tensor is {self.dtype}; they must match")
        if self.grad_fn is None:
            _accumulate(self, grad)
        else:
            run_backward(self, grad, retain_graph=bool(retain_graph))

    # ------------------------------------------------------------ printing
    def __repr__(self) -> str:
        values = np.array2string(self.backend.to_numpy(self.array), separator=", ",
                                 prefix="tensor(", precision=4)
        extras = []
        if self.dtype not in (_dtypes.get_default_dtype(), "int64", "bool"):
            extras.append(f"dtype={self.dtype}")
        if self.backend.name != "numpy":
            extras.append(f"backend='{self.backend.name}'")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + values + "".join(", " + e for e in extras) + ")"

    def __hash__(self) -> int:  # tensors hash by identity (== is elementwise), as in torch
        return id(self)

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __getitem__(self, key): return _ops.getitem(self, key)

    def __setitem__(self, key, value):
        _inplace.setitem(self, key, value)

    # in-place ops (torch's autograd rules; see inplace.py)
    def __iadd__(self, other): return _inplace.binary(self, other, _ops.add, "add_")
    def __isub__(self, other): return _inplace.binary(self, other, _ops.sub, "sub_")
    def __imul__(self, other): return _inplace.binary(self, other, _ops.mul, "mul_")
    def __itruediv__(self, other): return _inplace.binary(self, other, _ops.div, "div_")
    def __ipow__(self, other): return _inplace.binary(self, other, _ops.pow, "pow_")

    def add_(self, other, *, alpha=1):
        return _inplace.binary(self, other if alpha == 1 else other * alpha, _ops.add, "add_")

    def sub_(self, other, *, alpha=1):
        return _inplace.binary(self, other if alpha == 1 else other * alpha, _ops.sub, "sub_")

    def mul_(self, other): return _inplace.binary(self, other, _ops.mul, "mul_")
    def div_(self, other): return _inplace.binary(self, other, _ops.div, "div_")
    def pow_(self, exponent): return _inplace.binary(self, exponent, _ops.pow, "pow_")
    def clamp_(self, min=None, max=None):
        return _inplace.unary(self, lambda t: _ops.clamp(t, min, max), "clamp_")
    clip_ = clamp_
    def neg_(self): return _inplace.unary(self, _ops.neg, "neg_")
    def exp_(self): return _inplace.unary(self, _ops.exp, "exp_")
    def relu_(self): return _inplace.unary(self, _ops.relu, "relu_")
    def zero_(self): return _inplace.fill(self, 0, "zero_")
    def fill_(self, value): return _inplace.fill(self, value, "fill_")
    def copy_(self, src): return _inplace.copy(self, src)
    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        return _inplace.random(self, "uniform", a, b, generator, "uniform_")
    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        return _inplace.random(self, "normal", mean, std, generator, "normal_")

    # comparisons give bool tensors and are not differentiable
    def __eq__(self, other): return _ops.eq(self, other)  # type: ignore[override]
    def __ne__(self, other): return _ops.ne(self, other)  # type: ignore[override]
    def __lt__(self, other): return _ops.lt(self, other)
    def __le__(self, other): return _ops.le(self, other)
    def __gt__(self, other): return _ops.gt(self, other)
    def __ge__(self, other): return _ops.ge(self, other)

    def add(self, other): return _ops.add(self, other)
    def sub(self, other): return _ops.sub(self, other)
    def mul(self, other): return _ops.mul(self, other)
    def div(self, other): return _ops.div(self, other)
    def neg(self): return _ops.neg(self)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def sign(self): return _ops.sign(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)
    def clamp(self, min=None, max=None): return _ops.clamp(self, min, max)
    clip = clamp
    def eq(self, other): return _ops.eq(self, other)
    def ne(self, other): return _ops.ne(self, other)
    def lt(self, other): return _ops.lt(self, other)
    def le(self, other): return _ops.le(self, other)
    def gt(self, other): return _ops.gt(self, other)
    def ge(self, other): return _ops.ge(self, other)

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False): return _ops.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _ops.mean(self, dim, keepdim)

    def var(self, dim=None, *, correction=1, keepdim=False):
        return _ops.var(self, dim, correction=correction, keepdim=keepdim)

    def std(self, dim=None, *, correction=1, keepdim=False):
        return _ops.std(self, dim, correction=correction, keepdim=keepdim)

    def amax(self, dim=None, keepdim=False): return _ops.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return _ops.amin(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return _ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _ops.min(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _ops.logsumexp(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _ops.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _ops.argmin(self, dim, keepdim)
    def any(self): return self.backend.any(self.array)
    def all(self): return self.backend.all(self.array)

    def softmax(self, dim): return _ops.softmax(self, dim)
    def log_softmax(self, dim): return _ops.log_softmax(self, dim)

    # ---------------------------------------------------------------- linalg
    def matmul(self, other): return _ops.matmul(self, other)

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape): return _ops.reshape(self, _shape_args(shape))
    def view(self, *shape): return _ops.reshape(self, _shape_args(shape))
    def view_as(self, other): return _ops.reshape(self, other.shape)
    def transpose(self, dim0, dim1): return _ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return _ops.permute(self, _shape_args(dims))
    def expand(self, *sizes): return _ops.expand(self, _shape_args(sizes))
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def squeeze(self, dim=None): return _ops.squeeze(self, dim)
    def unsqueeze(self, dim): return _ops.unsqueeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def split(self, split_size_or_sections, dim=0):
        return _ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return _ops.chunk(self, chunks, dim)
    def narrow(self, dim, start, length): return _ops.narrow(self, dim, start, length)
    def flip(self, dims): return _ops.flip(self, dims)
    def gather(self, dim, index): return _ops.gather(self, dim, index)
    def index_select(self, dim, index): return _ops.index_select(self, dim, index)
    def take_along_dim(self, indices, dim=None): return _ops.take_along_dim(self, indices, dim)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dims, got shape {self.shape}; "
                             f"use .transpose(dim0, dim1) or .mT")
        return self if self.ndim < 2 else _ops.transpose(self, 0, 1)

    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return _ops.transpose(self, -2, -1)

    # ------------------------------------ more of torch's methods (ops/pointwise, sorting)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def square(self): return _ops.square(self)
    def log2(self): return _ops.log2(self)
    def log10(self): return _ops.log10(self)
    def floor(self): return _ops.floor(self)
    def cumsum(self, dim, dtype=None): return _ops.cumsum(self, dim, dtype=dtype)
    def sort(self, dim=-1, descending=False): return _ops.sort(self, dim, descending)
    def argsort(self, dim=-1, descending=False): return _ops.argsort(self, dim, descending)
    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _ops.topk(self, k, dim, largest, sorted)
    def mm(self, mat2): return _ops.mm(self, mat2)
    def bmm(self, mat2): return _ops.bmm(self, mat2)
    def mv(self, vec): return _ops.mv(self, vec)
    def dot(self, other): return _ops.dot(self, other)
    def nelement(self): return self.numel()
    def repeat(self, *sizes): return _ops.repeat(self, *sizes)
    def repeat_interleave(self, repeats, dim=None): return _ops.repeat_interleave(self, repeats, dim)
    def diag(self, diagonal=0): return _ops.diag(self, diagonal)
    def norm(self, p=2, dim=None, keepdim=False): return _ops.norm(self, p, dim, keepdim)
    def nonzero(self, *, as_tuple=False): return _ops.nonzero(self, as_tuple=as_tuple)
    def unique(self, sorted=True, return_counts=False): return _ops.unique(self, sorted, return_counts)
    def where(self, condition, other): return _ops.where(condition, self, other)
    def histogram(self, bins=100, **kwargs): return _ops.histogram(self, bins, **kwargs)

    def new_zeros(self, *size, dtype=None):
        from .creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, backend=self.backend, device=self.device)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        from .creation import multinomial
        return multinomial(self, num_samples, replacement, generator=generator)

    def cuda(self, device=None):
        """A copy on the GPU (``"cuda"``, or ``"cuda:<device>"``), like torch."""
        return self.to(device="cuda" if device is None else
                       f"cuda:{device}" if isinstance(device, int) else str(device))

    def __index__(self) -> int:
        """An integer one-element tensor used as an index (``classes[pred.argmax()]``)."""
        if self.is_floating_point() or self.dtype == "bool" or self.numel() != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index; this one is {self.dtype} with shape {self.shape}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """f"{t:.2f}" formats a one-element tensor's value, as torch does."""
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    def type(self, dtype=None):
        """Without an argument: the dtype name; with one: ``self.to(dtype)``."""
        return self.dtype if dtype is None else self.to(dtype)


def _shape_args(args: tuple) -> tuple[int, ...]:
    """Accept both ``x.reshape(2, 3)`` and ``x.reshape((2, 3))``, as torch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


def _infer_dtype(data: Any, backend) -> str:
    """torch's rule: arrays keep their dtype; Python floats get the default dtype."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        name = data.dtype.name
    elif backend.is_array(data):
        return backend.dtype_of(data)
    elif hasattr(data, "dtype") and hasattr(data, "shape"):  # another library's array
        name = np.asarray(data).dtype.name
    else:
        kind = np.asarray(data).dtype.kind
        if kind == "f":
            return _dtypes.get_default_dtype()
        if kind in "iu":
            return "int64"
        if kind == "b":
            return "bool"
        raise TypeError(f"tensor(): cannot make a tensor from {type(data).__name__} "
                        f"(numpy sees dtype {np.asarray(data).dtype}); give numbers, nested "
                        f"lists of numbers, or arrays")
    if name not in _dtypes.DTYPES:
        raise TypeError(f"tensor(): dtype {name} is not supported; edu_nn dtypes are "
                        f"{', '.join(_dtypes.DTYPES)}. Convert first, e.g. arr.astype('float32')")
    return name


def tensor(data: Any, dtype: str | None = None, requires_grad: bool = False,
           backend: BackendLike = None, device: str | None = None) -> Tensor:
    """Make a leaf Tensor that owns a copy of ``data``.

    Args:
        data: a Python number, nested lists, a NumPy array, a backend array, or a Tensor.
        dtype: a dtype name; default: the data's own dtype for arrays, the default float
            dtype (``get_default_dtype()``) for Python floats, int64 for Python ints.
        requires_grad: record operations on it for ``backward()`` (floating dtypes only).
        backend: ``"numpy"``, ``"torch"``, ``"jax"``, ... (default: the selected backend,
            or the backend of ``data`` when it is a Tensor).
        device: ``"cpu"`` (default) or e.g. ``"cuda"`` on backends that have one.
    """
    if isinstance(data, Tensor):
        if backend is None:
            backend = data.backend
        data = data.backend.to_numpy(data.array) if get_backend(backend) is not data.backend \
            else data.array
    b = get_backend(backend)
    if device is None and not b.is_array(data):  # arrays stay where they are, as in torch
        device = _default_device()
    dtype = _dtypes.check_dtype_name(dtype) if dtype is not None else _infer_dtype(data, b)
    arr = b.asarray(data, dtype=dtype, device=device)
    t = Tensor._make(arr, b, b.device_of(arr))
    t._storage = None  # a leaf: set, so that _set_array's getattr is fast
    if requires_grad:
        t.requires_grad_(True)
    return t


class Storage:
    """What a tensor shares with its aliases (``.data``, ``detach()``): the list of members
    (weak references, so an alias that is dropped does not live on) and torch's version
    counter, bumped by every in-place change of any member."""
    __slots__ = ("members", "version")

    def __init__(self, first: Tensor) -> None:
        self.members = [weakref.ref(first)]
        self.version = 0

    def add(self, member: Tensor) -> None:
        if len(self.members) >= 8:  # drop dead aliases (a p.data per training step)
            self.members = [r for r in self.members if r() is not None]
        self.members.append(weakref.ref(member))


def _storage_of(t: Tensor) -> Storage:
    storage = getattr(t, "_storage", None)
    if storage is None:
        storage = t._storage = Storage(t)
    return storage


def _alias(t: Tensor) -> Tensor:
    """A tensor sharing ``t``'s storage, cut from the graph (``.data``, ``detach()``)."""
    alias = Tensor._make(t.array, t.backend, t.device)
    storage = _storage_of(t)
    alias._storage = storage
    storage.add(alias)
    return alias


from .devices import default_device as _default_device  # noqa: E402
from . import ops as _ops  # noqa: E402  (ops need the Tensor class defined above)
from . import inplace as _inplace  # noqa: E402
from .autograd.grad_mode import state as _grad_state  # noqa: E402
from .autograd.engine import _accumulate, run_backward  # noqa: E402

