"""One factory builds every op's gradient tests: an :class:`OpSpec` names the op, the edu_nn
call, an independent NumPy float64 reference for the forward, and a hypothesis strategy for
the inputs. ``op_test_module(SPECS)`` returns the test functions for a test file to import.

Input values are drawn from a NumPy generator seeded by hypothesis (hypothesis draws the
shapes, dims and seeds and shrinks them), so values are continuous: no accidental ties or
exact zeros. An op with kinks (relu, abs, max ties, clamp bounds) moves its inputs away from
them with ``away_from``; tests about kinks are written separately.

Backends: tests take the ``backend_name`` fixture from conftest.py, so the same specs run on
every installed backend.

Devices: ``EDU_NN_TEST_DEVICE=cuda`` puts every tensor of these tests (and of
test_cross_backend_grads.py) on that device, and test_backend_conformance.py's table with
it: the GPU check for a machine that has one. CI has none and runs everything on the CPU;
a backend without the device (NumPy) skips.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import edu_nn
from edu_nn.backends.conformance import has_device
from edu_nn.grading import gradcheck


@dataclass
class Case:
    """One drawn example: float64 input arrays and keyword arguments for the op."""
    arrays: tuple[np.ndarray, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: indexes of ``arrays`` that are not differentiable (passed as int/bool tensors)
    constant: tuple[int, ...] = ()


@dataclass
class OpSpec:
    """name: test id; fn(*tensors, **kwargs) -> Tensor; reference(*arrays, **kwargs) -> array;
    cases: a strategy of Case; atol/rtol for the gradcheck."""
    name: str
    fn: Callable[..., Any]
    reference: Callable[..., Any]
    cases: st.SearchStrategy
    atol: float = 1e-5
    rtol: float = 1e-3
    forward_rtol: float = 1e-10
    #: whether float32 inputs must give a float32 output (False for int/bool outputs)
    float_output: bool = True

    def __repr__(self) -> str:
        return self.name


# ------------------------------------------------------------- value helpers
def away_from(x: np.ndarray, points=(0.0,), margin: float = 0.05) -> np.ndarray:
    """Move values that lie within ``margin`` of a kink to ``margin`` away from it."""
    x = x.copy()
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin)
    return x


def values(rng: np.random.Generator, shape, low=-2.0, high=2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


def positive(rng, shape, low=0.2, high=3.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


SEEDS = st.integers(0, 2**32 - 1)
SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


# ------------------------------------------------------------ case builders
def unary_cases(make=values, shapes=SHAPES, kwargs=st.just({})) -> st.SearchStrategy:
    """One array of a drawn shape, values from ``make(rng, shape)``."""
    return st.builds(lambda shape, seed, kw: Case((make(np.random.default_rng(seed), shape),), kw),
                     shapes, SEEDS, kwargs)


def broadcast_cases(*makers, kwargs=st.just({}), constant=()) -> st.SearchStrategy:
    """One array per maker, of mutually broadcastable drawn shapes (size-1 and missing axes)."""
    shapes = mutually_broadcastable_shapes(num_shapes=len(makers), min_dims=0, max_dims=4,
                                           max_side=4)

    def build(bs, seed, kw):
        rng = np.random.default_rng(seed)
        return Case(tuple(make(rng, shape) for make, shape in zip(makers, bs.input_shapes)),
                    kw, constant)
    return st.builds(build, shapes, SEEDS, kwargs)


def binary_cases(make_a=values, make_b=values, kwargs=st.just({})) -> st.SearchStrategy:
    """Two arrays of mutually broadcastable drawn shapes."""
    return broadcast_cases(make_a, make_b, kwargs=kwargs)


@st.composite
def reduction_dims(draw, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """A ``dim`` argument for a tensor of ``ndim`` dims: None, an int or a tuple, negatives too."""
    options = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none or not ndim:
        options.append(st.none())
    if allow_tuple and ndim:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                       .map(lambda ds: tuple(d - ndim if i % 2 else d for i, d in enumerate(ds))))
    return draw(st.one_of(*options))


def reduction_cases(make=values, allow_none=True, allow_tuple=True, extra=st.just({})):
    """An array plus every kind of ``dim`` and both ``keepdim`` values."""
    @st.composite
    def build(draw):
        shape = draw(SHAPES)
        dim = draw(reduction_dims(len(shape), allow_none, allow_tuple))
        kwargs = {"dim": dim, "keepdim": draw(st.booleans()), **draw(extra)}
        return Case((make(np.random.default_rng(draw(SEEDS)), shape),), kwargs)
    return build()


def np_axis(dim):
    """torch's ``dim`` (None, int, tuple) as NumPy's ``axis``."""
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


# ------------------------------------------------------------------ runners
#: Where the op tests put their tensors (see the module docstring).
DEVICE = os.environ.get("EDU_NN_TEST_DEVICE", "cpu")


def skip_unless_device(backend: str) -> None:
    """Skip when DEVICE is not the CPU and ``backend`` has no such device here."""
    if DEVICE != "cpu" and not has_device(edu_nn.get_backend(backend), DEVICE):
        pytest.skip(f"EDU_NN_TEST_DEVICE={DEVICE}: the {backend} backend has no such device "
                    f"here (devices: {edu_nn.get_backend(backend).devices()})")


def to_tensors(case: Case, backend: str, dtype: str, requires_grad: bool):
    """The case's arrays as edu_nn tensors on DEVICE (int arrays keep their dtype)."""
    skip_unless_device(backend)
    out = []
    for i, a in enumerate(case.arrays):
        if a.dtype.kind in "biu":
            out.append(edu_nn.tensor(a, backend=backend, device=DEVICE))
        elif i in case.constant:  # float but not differentiated (e.g. target probabilities)
            out.append(edu_nn.tensor(a, dtype=dtype, backend=backend, device=DEVICE))
        else:
            out.append(edu_nn.tensor(a, dtype=dtype, backend=backend, device=DEVICE,
                                     requires_grad=requires_grad))
    return out


def check_forward(spec: OpSpec, case: Case, backend: str) -> None:
    got = spec.fn(*to_tensors(case, backend, "float64", False), **case.kwargs)
    want = np.asarray(spec.reference(*case.arrays, **case.kwargs))
    got_np = got.numpy()
    assert got_np.shape == want.shape, f"{spec.name}: shape {got_np.shape} != reference {want.shape}"
    np.testing.assert_allclose(got_np, want, rtol=spec.forward_rtol, atol=1e-12,
                               err_msg=f"{spec.name} forward differs from the NumPy reference")


def check_gradient(spec: OpSpec, case: Case, backend: str) -> None:
    inputs = to_tensors(case, backend, "float64", True)
    gradcheck(lambda *xs: spec.fn(*xs, **case.kwargs), inputs, atol=spec.atol, rtol=spec.rtol,
              name=spec.name)


def check_float32(spec: OpSpec, case: Case, backend: str) -> None:
    out = spec.fn(*to_tensors(case, backend, "float32", False), **case.kwargs)
    if spec.float_output:
        assert out.dtype == "float32", f"{spec.name}: float32 inputs gave {out.dtype}"


#: Examples per (op, check) on each backend. NumPy gets the full search; the other backends
#: re-run the same math with a much higher per-call cost (JAX compiles each new shape), so
#: they get fewer examples of the same strategies. Unknown (plugin) backends get the middle.
EXAMPLES = {"numpy": 1.0, "torch": 0.5, "jax": 0.25}


def op_test_module(specs: list[OpSpec], max_examples: int = 30) -> dict[str, Callable]:
    """Test functions (forward, gradient, float32 dtype) parametrized over ``specs``."""
    ids = [s.name for s in specs]
    hyp = settings(deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

    def make(checker, n=max_examples):
        @pytest.mark.parametrize("spec", specs, ids=ids)
        def test(spec, backend_name):
            skip_unless_device(backend_name)
            examples = max(3, int(n * EXAMPLES.get(backend_name, 0.5)))

            @settings(hyp, max_examples=examples)
            @given(case=spec.cases)
            def run(case):
                checker(spec, case, backend_name)
            run()
        return test

    return {"test_forward_matches_numpy_reference": make(check_forward),
            "test_gradient_matches_finite_differences": make(check_gradient),
            "test_float32_in_float32_out": make(check_float32, max(5, max_examples // 5))}
