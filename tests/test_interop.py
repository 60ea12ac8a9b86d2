"""Interop (edu_nn/interop.py): edu_nn ops inside torch's and JAX's autodiff, and data exchange.

* ``to_torch_function``: torch.autograd.gradcheck (float64, every element, torch's own
  random-direction checks) of edu_nn's hand-written backwards run by torch's engine.
* ``to_jax_function``: jax.test_util.check_grads (reverse mode, float64), eager and jitted.
* Each checker is shown to catch a deliberately wrong backward (a test that cannot fail is
  a defect).
* Round trips numpy <-> torch <-> jax are bit-exact (compared as uint64 bit patterns, so
  -0.0 and NaN payloads count) and keep float32/int64/bool dtypes.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edu_nn
from edu_nn.interop import (from_jax, from_torch, to_jax, to_jax_function, to_numpy, to_torch,
                            to_torch_function)
from edu_nn.autograd import ArrayFunction as Function
from edu_nn.ops.elementwise import Exp, Greater, Mul, ReLU, Where
from edu_nn.ops.fused import Linear
from edu_nn.ops.linalg import Matmul
from edu_nn.ops.reduction import Mean, Sum
from edu_nn.ops.shape import Cat, Reshape
from edu_nn.ops.softmax import LogSoftmax, Softmax

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
from jax.test_util import check_grads  # noqa: E402

_rng = np.random.default_rng(20240611)


def _u(*shape, low=-2.0, high=2.0):
    return _rng.uniform(low, high, shape)


def _away_from_zero(*shape):
    x = _u(*shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)  # ReLU's kink stays away


class TimesTwoTooMuch(Function):
    """x * y with a backward off by a factor of 2 for y: the checkers must catch it."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return ctx.xp.multiply(x, y)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return ctx.xp.multiply(grad, y), ctx.xp.multiply(ctx.xp.multiply(grad, x), 2.0)


# (id, Function, arrays, non-array positional args, static keyword args)
CASES = [
    ("mul-broadcast", Mul, (_u(3, 4), _u(4)), (), {}),
    ("exp", Exp, (_u(2, 3),), (), {}),
    ("matmul-batched", Matmul, (_u(2, 3, 4), _u(4, 5)), (), {}),
    ("matmul-vector", Matmul, (_u(4), _u(2, 4, 3)), (), {}),
    ("softmax", Softmax, (_u(3, 5),), (1,), {}),
    ("log_softmax", LogSoftmax, (_u(2, 3, 4),), (-1,), {}),
    ("linear", Linear, (_u(5, 3), _u(4, 3), _u(4)), (), {}),
    ("linear-no-bias", Linear, (_u(2, 5, 3), _u(4, 3)), (), {}),
    ("relu", ReLU, (_away_from_zero(3, 4),), (), {}),
    ("sum-dims", Sum, (_u(2, 3, 4),), ((0, 2), False), {}),
    ("sum-keepdim", Sum, (_u(2, 3, 4),), ((1,), True), {}),
    ("mean-all", Mean, (_u(3, 2),), (None, False), {}),
    ("reshape-view", Reshape, (_u(2, 6),), ((3, 4),), {}),
    ("cat-keyword-only-dim", Cat, (_u(2, 3), _u(2, 1)), (), {"dim": 1}),
]
IDS = [c[0] for c in CASES]


def _numpy_forward(fn_class, arrays, extra, static):
    """The same op through edu_nn's own apply on the NumPy backend (the reference)."""
    tensors = [edu_nn.tensor(a) for a in arrays]
    return fn_class.apply(*tensors, *extra, **static).numpy()


# ------------------------------------------------------------------- torch
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_gradcheck(case):
    _, fn_class, arrays, extra, static = case
    wrapped = to_torch_function(fn_class, **static)
    assert issubclass(wrapped, torch.autograd.Function)
    inputs = tuple(torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays)

    def f(*xs):
        return wrapped.apply(*xs, *extra)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    np.testing.assert_allclose(f(*inputs).detach().numpy(),
                               _numpy_forward(fn_class, arrays, extra, static), rtol=1e-12)


def test_torch_keywords_and_defaults_bind_like_the_forward():
    """Non-tensor arguments may be given by name; the forward's defaults apply."""
    x = torch.tensor(_u(2, 3, 4), requires_grad=True)
    SumT = to_torch_function(Sum)
    y = SumT.apply(x, dims=(0, 2))  # keepdim defaults to False
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy().sum(axis=(0, 2)))
    assert torch.autograd.gradcheck(lambda t: SumT.apply(t, dims=(1,), keepdim=True), (x,))


def test_torch_catches_a_wrong_backward():
    inputs = tuple(torch.tensor(_u(3), requires_grad=True) for _ in range(2))
    wrapped = to_torch_function(TimesTwoTooMuch)
    assert not torch.autograd.gradcheck(wrapped.apply, inputs, raise_exception=False)
    x, y = inputs
    wrapped.apply(x, y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * x.detach().numpy())


def test_torch_forward_sees_the_tensors_themselves_detached():
    """No copies on the way in: the op's arrays are the caller's tensors' storage, cut from
    torch's graph (torch, not the op, records history)."""
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen["ptr"], seen["requires_grad"] = x.data_ptr(), x.requires_grad
            seen["is_torch"] = isinstance(x, torch.Tensor)
            return ctx.xp.multiply(x, 3.0)

        @staticmethod
        def backward(ctx, grad):
            return ctx.xp.multiply(grad, 3.0)

    x = torch.tensor(_u(4), requires_grad=True)
    y = to_torch_function(Probe).apply(x)
    assert seen == {"ptr": x.data_ptr(), "requires_grad": False, "is_torch": True}
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(4, 3.0))


def test_torch_view_outputs_do_not_alias_inputs():
    x = torch.tensor(_u(2, 6), requires_grad=True)
    y = to_torch_function(Reshape).apply(x, (3, 4))
    assert y.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()


def test_torch_non_differentiable_op_and_bool_arguments():
    a, b = (torch.tensor(_u(3, 4), requires_grad=True) for _ in range(2))
    mask = to_torch_function(Greater).apply(a, b)
    assert mask.dtype == torch.bool and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), a.detach().numpy() > b.detach().numpy())
    assert torch.autograd.gradcheck(lambda x, y: to_torch_function(Where).apply(mask, x, y),
                                    (a, b))


def test_torch_errors_teach():
    with pytest.raises(TypeError, match="Function subclass"):
        to_torch_function(lambda x: x)
    MulT = to_torch_function(Mul)
    with pytest.raises(TypeError, match="dtypes differ: float32 and float64"):
        MulT.apply(torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float64))
    x = torch.tensor(_u(3), requires_grad=True)
    loss = (to_torch_function(Exp).apply(x) ** 2).sum()  # its grad_output requires grad
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()  # edu_nn's backwards are not recorded: no double backward


# --------------------------------------------------------------------- jax
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_check_grads(case, jit):
    _, fn_class, arrays, extra, static = case
    names = list(__import__("inspect").signature(fn_class.forward).parameters)[1:]
    # non-array positional arguments become static keywords for JAX
    kwargs = dict(static, **dict(zip(names[len(arrays):], extra)))
    f = to_jax_function(fn_class, **kwargs)
    args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in arrays)
    check_grads(jax.jit(f) if jit else f, args, order=1, modes=["rev"])
    np.testing.assert_allclose(np.asarray(f(*args)),
                               _numpy_forward(fn_class, arrays, extra, static), rtol=1e-12)


def test_jax_matches_jax_autodiff_of_a_reference():
    """Triangulate: the hand-written softmax backward, called by jax.vjp, equals JAX's own
    derivative of jax.nn.softmax, for a random cotangent."""
    x, ct = jnp.asarray(_u(3, 5)), jnp.asarray(_u(3, 5))
    ours = jax.vjp(to_jax_function(Softmax, axis=1), x)[1](ct)[0]
    theirs = jax.vjp(lambda v: jax.nn.softmax(v, axis=1), x)[1](ct)[0]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-14)


def test_jax_catches_a_wrong_backward():
    f = to_jax_function(TimesTwoTooMuch)
    x, y = jnp.asarray(_u(3)), jnp.asarray(_u(3))
    with pytest.raises(AssertionError):
        check_grads(f, (x, y), order=1, modes=["rev"])


def test_jax_bool_arguments_get_no_gradient():
    cond = jnp.asarray(_u(4) > 0)
    a, b = jnp.asarray(_u(4)), jnp.asarray(_u(4))
    f = to_jax_function(Where)
    ga, gb = jax.grad(lambda a, b: f(cond, a, b).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(np.asarray(ga), np.asarray(cond, dtype=float))
    np.testing.assert_array_equal(np.asarray(gb), 1.0 - np.asarray(cond, dtype=float))
    check_grads(lambda a, b: f(cond, a, b), (a, b), order=1, modes=["rev"])


# ------------------------------------------------------------ data exchange
EXTREMES = np.array([1e-308, 1e308, -0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 5e-324,
                     -5e-324, np.finfo(np.float64).max, np.finfo(np.float64).tiny, 1.0, -1.0])


def _float64_values() -> np.ndarray:
    values = np.concatenate([EXTREMES, _rng.standard_normal(50) * 10.0 ** _rng.integers(
        -300, 300, 50)])
    payload_nan = (np.array([np.nan]).view(np.uint64) | np.uint64(0xBEEF)).view(np.float64)
    return np.concatenate([values, payload_nan]).reshape(5, 13)


def _bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view({8: np.uint64, 4: np.uint32, 1: np.uint8}[a.dtype.itemsize])


def _assert_bit_exact(got, want: np.ndarray, how: str) -> None:
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{how}: {got.dtype}{got.shape}"
    assert np.array_equal(_bits(got), _bits(want)), f"{how}: values changed"


def test_round_trip_through_to_backend_is_bit_exact():
    x = _float64_values()
    t = edu_nn.tensor(x)
    for path in (("torch", "jax", "numpy"), ("jax", "torch", "numpy"), ("torch", "numpy"),
                 ("jax", "numpy")):
        cur, trail = t, "numpy"
        for name in path:
            cur = cur.to(backend=name)
            trail += f" -> {name}"
            assert cur.backend.name == name and cur.dtype == "float64", trail
            _assert_bit_exact(to_numpy(cur), x, trail)


def test_round_trip_through_interop_functions_is_bit_exact():
    x = _float64_values()
    t_torch = torch.from_numpy(x.copy())
    a_jax = jnp.asarray(x)
    _assert_bit_exact(to_numpy(from_torch(t_torch)), x, "from_torch")
    _assert_bit_exact(to_numpy(from_jax(a_jax)), x, "from_jax")
    for source in (edu_nn.tensor(x), from_torch(t_torch), from_jax(a_jax)):
        name = source.backend.name
        _assert_bit_exact(to_torch(source).numpy(), x, f"{name} -> to_torch")
        _assert_bit_exact(np.asarray(to_jax(source)), x, f"{name} -> to_jax")
    _assert_bit_exact(to_numpy(from_jax(to_jax(from_torch(t_torch)))), x,
                      "torch -> edu_nn -> jax -> edu_nn")
    _assert_bit_exact(to_numpy(t_torch), x, "to_numpy(torch.Tensor)")
    _assert_bit_exact(to_numpy(a_jax), x, "to_numpy(jax.Array)")


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_dtypes_are_kept(dtype):
    x = (_rng.standard_normal((3, 4)) * 5).astype(dtype)
    t = edu_nn.tensor(x)
    for name in ("torch", "jax"):
        moved = t.to(backend=name)
        assert moved.dtype == dtype
        _assert_bit_exact(to_numpy(moved.to(backend="numpy")), x, f"to(backend={name!r})")
    as_torch, as_jax = to_torch(t), to_jax(t)
    assert str(as_torch.dtype) == f"torch.{dtype}" and str(as_jax.dtype) == dtype
    for back in (from_torch(as_torch), from_jax(as_jax)):
        assert back.dtype == dtype
        _assert_bit_exact(to_numpy(back), x, back.backend.name)


def test_exchange_copies():
    """An edu_nn tensor never shares memory that someone else may write, donate or delete."""
    src = torch.tensor([1.0, 2.0])
    t = from_torch(src)
    src[0] = 99.0
    assert to_numpy(t).tolist() == [1.0, 2.0]
    out = to_torch(t)
    out[1] = -5.0
    assert to_numpy(t).tolist() == [1.0, 2.0]

    a = jnp.asarray([1.0, 2.0])
    t = from_jax(a)
    a.delete()  # e.g. donated to a jitted function
    assert to_numpy(t).tolist() == [1.0, 2.0]

    t = edu_nn.tensor([1.0, 2.0], requires_grad=True)
    values = to_numpy(t)  # values of a tensor that requires grad are fine to read
    values[0] = 42.0
    assert t.detach().numpy().tolist() == [1.0, 2.0]
    assert to_torch(t).requires_grad is False


def test_exchange_keeps_device_and_backend():
    t = from_torch(torch.ones(2, 3, dtype=torch.float32))
    assert (t.backend.name, t.device, t.dtype, t.shape) == ("torch", "cpu", "float32", (2, 3))
    t = from_jax(jnp.ones((2,), dtype=jnp.int64))
    assert (t.backend.name, t.device, t.dtype) == ("jax", "cpu", "int64")
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        from_torch(np.ones(2))
    with pytest.raises(TypeError, match="expected a jax.Array"):
        from_jax(np.ones(2))


def test_tensor_methods_and_top_level_names():
    """The one-line Tensor methods and edu_nn exports that forward to edu_nn.interop."""
    x = np.array([1.5, -0.0, np.nan])
    t = edu_nn.tensor(x)
    _assert_bit_exact(t.to_torch().numpy(), x, "Tensor.to_torch")
    _assert_bit_exact(np.asarray(t.to_jax()), x, "Tensor.to_jax")
    for name in ("from_torch", "from_jax", "to_numpy"):
        assert getattr(edu_nn, name) is getattr(edu_nn.interop, name)


def test_importing_interop_loads_neither_torch_nor_jax():
    code = ("import sys, edu_nn, edu_nn.interop\n"
            "heavy = [m for m in ('torch', 'jax', 'jaxlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
