"""Every backend trains the same model to the same numbers.

1. A float64 64-64-10 MLP on sklearn's digits, built from edu_nn's core (examples/core_mlp.py),
   trained for 200 SGD steps from identical initial weights (drawn in NumPy) with an
   identical batch order (drawn once from a NumPy RNG), gives the same loss curve on every
   backend: each step's loss within 1e-9 relative of the NumPy backend's, and the same final
   weights. The NumPy backend itself is checked against the same training written by hand
   in NumPy, so the reference is not only edu_nn checking itself.
2. ``Tensor.to(backend=...)`` and the conversions to NumPy (``.numpy()``, ``np.asarray``) are
   bit-exact, extreme values included (subnormals, +-0.0, the largest floats, inf, NaN
   payloads, the int64 limits).

Why 1e-9: float64 backends may sum in different orders (BLAS blocking), which moves a loss
by ~1e-16 relative per step; 200 steps of SGD amplify that only mildly. A backend that fell
back to float32 anywhere (JAX without 64-bit mode) differs by ~1e-7 or more, which
``test_float32_training_misses_the_tolerance`` checks the tolerance would catch.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import edu_nn
import edu_nn.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from core_mlp import init_mlp, load_digits_split, mlp_forward, sgd_step  # noqa: E402
from opcheck import DEVICE, skip_unless_device  # noqa: E402

SIZES = (64, 64, 10)
STEPS, BATCH, LR, SEED = 200, 32, 0.1, 0
RTOL = 1e-9


# ---------------------------------------------------------------- training
@pytest.fixture(scope="module")
def digits():
    """(x_train, y_train, batches): the training split and one fixed batch order (a list of
    STEPS index arrays) that every backend follows."""
    x_train, _, y_train, _ = load_digits_split(SEED)
    rng = np.random.default_rng(1234)
    batches = [rng.choice(len(x_train), BATCH, replace=False) for _ in range(STEPS)]
    return x_train, y_train, batches


def train_edu_nn(backend, digits, dtype="float64", device=None):
    """(losses: array of shape (STEPS,), final params as NumPy arrays) on one backend."""
    x_train, y_train, batches = digits
    params = init_mlp(SIZES, seed=SEED, dtype=dtype, backend=backend, device=device)
    losses = []
    for idx in batches:
        x = edu_nn.tensor(x_train[idx], dtype=dtype, backend=backend, device=device)
        y = edu_nn.tensor(y_train[idx], backend=backend, device=device)
        loss = F.cross_entropy(mlp_forward(params, x), y)
        assert loss.dtype == dtype, f"{backend}: the loss is {loss.dtype}, not {dtype}"
        loss.backward()
        sgd_step(params, LR)
        losses.append(loss.item())
    return np.array(losses), [p.detach().numpy() for p in params]


def train_by_hand(digits):
    """The same training written directly in float64 NumPy: an independent reference."""
    x_train, y_train, batches = digits
    rng = np.random.default_rng(SEED)  # init_mlp's draws, in its order
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params += [rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)]
    losses = []
    for idx in batches:
        x, y = x_train[idx], y_train[idx]
        W1, b1, W2, b2 = params
        z1 = x @ W1.T + b1
        h = np.maximum(z1, 0.0)
        logits = h @ W2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses.append(-logp[np.arange(len(y)), y].mean())
        dlogits = np.exp(logp)
        dlogits[np.arange(len(y)), y] -= 1.0
        dlogits /= len(y)
        dh = dlogits @ W2
        dz1 = dh * (z1 > 0)
        grads = [dz1.T @ x, dz1.sum(axis=0), dlogits.T @ h, dlogits.sum(axis=0)]
        params = [p - LR * g for p, g in zip(params, grads)]
    return np.array(losses), params


@pytest.fixture(scope="module")
def numpy_run(digits):
    return train_edu_nn("numpy", digits)


def assert_same_curve(got, want, what):
    assert got.shape == want.shape == (STEPS,)
    assert np.all(np.isfinite(got)), f"{what}: non-finite losses at steps {np.flatnonzero(~np.isfinite(got))}"
    rel = np.abs(got - want) / np.abs(want)
    worst = int(np.argmax(rel))
    assert rel[worst] <= RTOL, (f"{what}: step {worst} loss {got[worst]!r} vs {want[worst]!r} "
                                f"(relative difference {rel[worst]:.3g} > {RTOL:g})")


def assert_same_params(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == np.float64 and g.shape == w.shape, (what, i, g.dtype, g.shape)
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * np.abs(w).max(),
                                   err_msg=f"{what}: final parameter {i} differs")


def test_numpy_backend_matches_training_by_hand(digits, numpy_run):
    losses, params = numpy_run
    by_hand, hand_params = train_by_hand(digits)
    assert_same_curve(losses, by_hand, "NumPy backend vs hand-written NumPy")
    assert_same_params(params, hand_params, "NumPy backend vs hand-written NumPy")
    # the model really trained, so the curve compares something
    assert losses[-20:].mean() < 0.5 * losses[:5].mean(), (losses[:5], losses[-20:])


def test_loss_curve_matches_numpy(backend_name, digits, numpy_run):
    """200 float64 SGD steps on ``backend_name`` (on EDU_NN_TEST_DEVICE, e.g. a GPU, when
    set): every loss and the final weights within 1e-9 relative of the NumPy backend's."""
    skip_unless_device(backend_name)
    # float64 must be real float64 on this backend (JAX needs 64-bit mode for it)
    probe = edu_nn.tensor(np.ones(2), dtype="float64", backend=backend_name, device=DEVICE)
    assert str(probe.array.dtype).endswith("float64"), (backend_name, probe.array.dtype)
    assert probe.device.split(":")[0] == DEVICE, (backend_name, probe.device)
    losses, params = train_edu_nn(backend_name, digits, device=DEVICE)
    want_losses, want_params = numpy_run
    assert_same_curve(losses, want_losses, f"{backend_name} vs NumPy backend")
    assert_same_params(params, want_params, f"{backend_name} vs NumPy backend")


def test_float32_training_misses_the_tolerance(digits, numpy_run):
    """The tolerance can fail: float32 arithmetic (what a silent float32 fallback would
    give) moves the curve by far more than 1e-9."""
    losses32, _ = train_edu_nn("numpy", digits, dtype="float32")
    with pytest.raises(AssertionError, match="relative difference"):
        assert_same_curve(losses32, numpy_run[0], "float32 vs float64")


# ------------------------------------------------------------- conversions
def _selected_backends() -> list[str]:
    """Backends this run tests (EDU_NN_TEST_BACKENDS, as in conftest) that load here."""
    only = {b for b in os.environ.get("EDU_NN_TEST_BACKENDS", "").split(",") if b}
    names = []
    for name in edu_nn.registered_backends():
        if only and name not in only:
            continue
        try:
            edu_nn.get_backend(name)
        except edu_nn.BackendError:
            continue
        names.append(name)
    return names


def _bits(a: np.ndarray) -> np.ndarray:
    """The raw bits of every element, so that -0.0 != 0.0 and NaN payloads count."""
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def assert_bit_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}, not a NumPy array"
    assert got.dtype == want.dtype and got.shape == want.shape, \
        f"{what}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
    differ = np.flatnonzero(_bits(got).ravel() != _bits(want).ravel())
    assert differ.size == 0, (f"{what}: {differ.size} elements changed, first at flat index "
                              f"{differ[0]}: {want.ravel()[differ[0]]!r} -> {got.ravel()[differ[0]]!r}")


#: values a lossy conversion would damage first
SPECIAL = {
    "float64": [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -2.225073858507201e-308,
                1.7976931348623157e308, -1.7976931348623157e308, np.inf, -np.inf, np.nan,
                1.0 / 3.0, 1.0 + 2.0 ** -52, 2.0 ** 53 + 2.0,
                *np.array([0x7FF0000000000001, 0xFFF8000000000123], np.uint64).view(np.float64)],
    "float32": [0.0, -0.0, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38, -3.4028235e38,
                np.inf, -np.inf, np.nan, 1.0 / 3.0, 1.0 + 2.0 ** -23],
    "int64": [0, -1, 1, 2 ** 63 - 1, -2 ** 63, 2 ** 53 + 1, -(2 ** 53) - 1],
}

CONVERSION = settings(max_examples=25, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def extreme_arrays(draw, dtype: str):
    """Arrays of ``dtype`` over the whole range (hypothesis favours the edges), with every
    special value of SPECIAL[dtype] planted at drawn positions."""
    if dtype == "int64":
        elements = st.integers(-2 ** 63, 2 ** 63 - 1)
    else:
        width = 64 if dtype == "float64" else 32
        elements = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    a = draw(arrays(dtype, array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6),
                    elements=elements))
    special = np.array(SPECIAL[dtype], dtype)
    flat = a.reshape(-1).copy()
    where = draw(st.lists(st.integers(0, flat.size - 1), max_size=len(special), unique=True))
    flat[where] = special[:len(where)]
    return flat.reshape(a.shape)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_to_backend_chain_is_bit_exact(backend_name, dtype):
    """Starting on ``backend_name``, ``.to(backend=...)`` through every other selected
    backend and back (numpy -> torch -> jax -> numpy when all are installed), then
    ``.numpy()``: every bit survives; so do ``.numpy()`` and ``np.asarray`` on each stop."""
    others = [b for b in _selected_backends() if b != backend_name]
    chain = [backend_name, *others, backend_name]

    @CONVERSION
    @given(a=extreme_arrays(dtype))
    @example(a=np.array(SPECIAL[dtype], dtype))  # every special value, every run
    def check(a):
        t = edu_nn.tensor(a, backend=backend_name)
        for stop in chain[1:]:
            t = t.to(backend=stop)
            assert t.backend.name == stop and t.dtype == dtype and t.shape == a.shape
            assert_bit_exact(t.numpy(), a, f"{' -> '.join(chain)}: .numpy() on {stop}")
            assert_bit_exact(np.asarray(t), a, f"{' -> '.join(chain)}: np.asarray on {stop}")
        assert t.backend is edu_nn.get_backend(backend_name)
    check()


def test_to_backend_keeps_requires_grad_and_cuts_the_graph(backend_name):
    """A leaf moved from ``backend_name`` to another backend is a new leaf that still
    requires grad; a non-leaf becomes a constant (the copy is off the graph, as documented
    on Tensor.to). Moving to its own backend is a no-op."""
    values = np.linspace(-2.0, 3.0, 6)
    x = edu_nn.tensor(values, dtype="float64", requires_grad=True, backend=backend_name)
    assert x.to(backend=backend_name) is x
    for other in [b for b in _selected_backends() if b != backend_name]:
        moved = x.to(backend=other)
        assert moved.backend.name == other and moved.requires_grad and moved.is_leaf
        (moved * moved).sum().backward()
        assert_bit_exact(moved.grad.numpy(), 2.0 * values, f"{other}: d(sum x^2)/dx")
        assert x.grad is None, f"the gradient of the copy on {other} reached the original"
        y = (x * 2.0).to(backend=other)
        assert not y.requires_grad and y.grad_fn is None
        assert_bit_exact(y.numpy(), 2.0 * values, f"{backend_name} -> {other}: 2x")
