"""Triangulation of every op's backward against the libraries' own autodiff.

For every OpSpec of tests/test_ops_*.py (the same hypothesis-drawn cases), on the torch
backend and on the JAX backend:
  - edu_nn's forward equals the spec's NumPy float64 reference, and so does the plain
    torch / jax.numpy rewrite of the op in tests/crossref.py (which checks the rewrite);
  - edu_nn's hand-written backward, driven by a random upstream gradient, equals
    ``torch.autograd.grad`` (torch backend) or ``jax.vjp`` (JAX backend) of that rewrite,
    for every element of every differentiable input.
Finite differences on every backend are opcheck.py's gradient test (parametrized over
``backend_name``); ``test_finite_difference_test_runs_on_every_backend`` makes sure it stays
so, rather than repeating it here.

At kinks and ties the libraries do not all share DESIGN.md's conventions, so the kink tests
below compare with torch / JAX where they agree and with values worked out by hand where they
do not; ``test_jax_conventions_we_do_not_borrow`` pins down the disagreements.

Tolerance: rtol=1e-10, atol=1e-12 everywhere. The two sides compute the same float64 formulas
in different orders (e.g. a softmax gradient as s * (g - sum(g s)) or via the Jacobian), so
they differ by a few ulps of the terms, which atol=1e-12 covers for these O(1) inputs.

numpy has no autodiff to compare with: its parameter is skipped. torch / jax missing: their
parameters are skipped by the ``backend_name`` fixture (an error when EDU_NN_REQUIRE_BACKENDS
names them).
"""
from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import crossref
import edu_nn
from crossref import CROSSREF
from opcheck import SEEDS, Case, OpSpec, to_tensors

SPEC_MODULES = ("test_ops_elementwise", "test_ops_reduction", "test_ops_linalg_softmax",
                "test_ops_shape", "test_ops_indexing", "test_ops_fused",
                "test_ops_torch_breadth")
MODULES = {name: importlib.import_module(name) for name in SPEC_MODULES}
SPECS: list[OpSpec] = [spec for module in MODULES.values() for spec in module.SPECS]
AUTODIFF_BACKENDS = ("torch", "jax")

#: Examples per (spec, backend). Small: each example is one forward and one backward on each
#: side, and JAX compiles each primitive per new shape. EDU_NN_CROSSREF_EXAMPLES=50 for a
#: deeper search (e.g. after changing an op's backward).
EXAMPLES = int(os.environ.get("EDU_NN_CROSSREF_EXAMPLES", "5"))
RTOL, ATOL = 1e-10, 1e-12

HYP = settings(max_examples=EXAMPLES, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])


def skip_unless_autodiff(backend_name: str) -> None:
    if backend_name not in AUTODIFF_BACKENDS:
        pytest.skip(f"no reference autodiff on the {backend_name} backend (torch.autograd on "
                    f"torch, jax.vjp on jax; finite differences run everywhere in opcheck)")


# ------------------------------------------------------------------ the three sides
def differentiable(case: Case) -> list[int]:
    """Indexes of the float inputs that get gradients (int indices/targets and the
    ``constant`` float inputs, like a condition or target probabilities, do not)."""
    return [i for i, a in enumerate(case.arrays) if a.dtype.kind == "f" and i not in case.constant]


def edu_run(spec: OpSpec, case: Case, backend: str, upstream: np.ndarray):
    """edu_nn's forward value and hand-written gradients d<out, upstream>/d(input)."""
    inputs = to_tensors(case, backend, "float64", True)
    out = spec.fn(*inputs, **case.kwargs)
    out.backward(edu_nn.tensor(upstream, dtype="float64", backend=backend, device=out.device))
    grads = []
    for i in differentiable(case):
        assert inputs[i].grad is not None, f"{spec.name}: input {i} got no gradient on {backend}"
        grads.append(inputs[i].grad.numpy())
    return out.detach().numpy(), grads


def torch_run(fn: Callable, case: Case, upstream: np.ndarray):
    """The torch rewrite's forward value and torch.autograd's gradients."""
    crossref.load("torch")
    torch = crossref.torch
    diff = differentiable(case)
    tensors = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(case.arrays)]
    out = fn(*tensors, **case.kwargs)
    leaves = [tensors[i] for i in diff]
    if out.requires_grad:
        grads = torch.autograd.grad(out, leaves, grad_outputs=torch.tensor(upstream),
                                    allow_unused=True)
    else:
        grads = [None] * len(leaves)
    return (out.detach().numpy(),
            [np.zeros(x.shape) if g is None else g.numpy() for g, x in zip(grads, leaves)])


def jax_run(fn: Callable, case: Case, upstream: np.ndarray):
    """The jax.numpy rewrite's forward value and jax.vjp's gradients. The non-differentiable
    inputs are closed over, so vjp sees only the float inputs it differentiates."""
    crossref.load("jax")
    jnp = crossref.jnp
    arrays = [jnp.asarray(a) for a in case.arrays]
    diff = differentiable(case)

    def f(*diff_arrays):
        full = list(arrays)
        for i, d in zip(diff, diff_arrays):
            full[i] = d
        return fn(*full, **case.kwargs)

    out, vjp_fn = crossref.jax.vjp(f, *[arrays[i] for i in diff])
    assert out.dtype == jnp.float64, (
        f"jax computed in {out.dtype}: JAX needs jax_enable_x64 (conftest sets "
        f"JAX_ENABLE_X64=1 before jax is imported; was jax imported earlier?)")
    grads = vjp_fn(jnp.asarray(upstream, dtype=out.dtype))
    return np.asarray(out), [np.asarray(g) for g in grads]


def reference_run(backend: str, fn: Callable, case: Case, upstream: np.ndarray):
    return (torch_run if backend == "torch" else jax_run)(fn, case, upstream)


def describe(case: Case) -> str:
    shapes = ", ".join(f"{a.dtype}{a.shape}" for a in case.arrays)
    return f"inputs ({shapes}), kwargs {case.kwargs}"


def check_against_autodiff(spec: OpSpec, case: Case, backend: str, seed: int) -> None:
    """Forward: edu_nn and the library rewrite both equal NumPy. Backward: edu_nn equals the
    library's autodiff, every element, for a random upstream gradient."""
    want = np.asarray(spec.reference(*case.arrays, **case.kwargs))
    upstream = np.random.default_rng(seed).standard_normal(want.shape)
    ours, our_grads = edu_run(spec, case, backend, upstream)
    library = "torch.autograd" if backend == "torch" else "jax.vjp"
    ref_fn = getattr(CROSSREF[spec.name], backend)
    theirs, their_grads = reference_run(backend, ref_fn, case, upstream)
    where = f"{spec.name} on {backend}, {describe(case)}"
    for name, got in (("edu_nn", ours), (f"crossref.{backend}", theirs)):
        assert got.shape == want.shape, f"{where}: {name} forward shape {got.shape} != {want.shape}"
        np.testing.assert_allclose(got, want, rtol=spec.forward_rtol, atol=1e-12,
                                   err_msg=f"{where}: {name} forward differs from NumPy")
    for i, g, r in zip(differentiable(case), our_grads, their_grads):
        shape = case.arrays[i].shape
        assert g.shape == shape and r.shape == shape, \
            f"{where}: gradient of input {i} has shape {g.shape} ({library}: {r.shape}), " \
            f"input shape {shape}"
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{where}: edu_nn's gradient of input {i} differs "
                                           f"from {library}")


# -------------------------------------------------------------------------- tests
def test_every_spec_has_a_cross_reference():
    """A new op spec must come with its torch and jax rewrite in tests/crossref.py."""
    names = [s.name for s in SPECS]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"spec names must be unique across {SPEC_MODULES}: {duplicated}"
    missing = sorted(set(names) - set(CROSSREF))
    assert not missing, (f"op specs without a torch/jax cross reference: {missing}. Add "
                         f"ref(name, torch_fn, jax_fn) to tests/crossref.py")
    stale = sorted(set(CROSSREF) - set(names))
    assert not stale, f"tests/crossref.py has entries for specs that no longer exist: {stale}"
    for name, entry in CROSSREF.items():
        assert callable(entry.torch) and callable(entry.jax), f"crossref {name!r} is incomplete"


def test_finite_difference_test_runs_on_every_backend():
    """opcheck's gradcheck test takes the backend_name fixture for every spec of every
    module, so finite differences already run on torch and JAX (not repeated here)."""
    for name, module in MODULES.items():
        test = getattr(module, "test_gradient_matches_finite_differences", None)
        assert test is not None, f"{name} has no opcheck gradient test"
        assert "backend_name" in inspect.signature(test).parameters, \
            f"{name}'s gradient test does not run per backend"
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        assert any(list(m.args[1]) == module.SPECS for m in marks), \
            f"{name}'s gradient test is not parametrized over all of its SPECS"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_backward_matches_library_autodiff(spec, backend_name):
    skip_unless_autodiff(backend_name)

    @HYP
    @given(case=spec.cases, seed=SEEDS)
    def run(case, seed):
        check_against_autodiff(spec, case, backend_name, seed)
    run()


# ------------------------------------------------------------- self-check: mutation
def _mul_backward_forgets_a_factor(ctx, grad):
    """A typical student bug: d(a*b)/da = b, but returns grad * a (the wrong operand)."""
    a, b = ctx.saved_tensors
    return ctx.xp.multiply(grad, a), ctx.xp.multiply(grad, b)


def test_a_wrong_backward_is_caught(backend_name, monkeypatch):
    """The comparison can fail: with Mul's backward broken, torch.autograd / jax.vjp
    disagree, while the forward (and the correct backward before the patch) agree."""
    skip_unless_autodiff(backend_name)
    from edu_nn.ops.elementwise import Mul
    spec = next(s for s in SPECS if s.name == "mul")
    rng = np.random.default_rng(0)
    case = Case((rng.uniform(-2, 2, (2, 3)), rng.uniform(-2, 2, (3,))))
    check_against_autodiff(spec, case, backend_name, seed=1)  # passes unpatched
    monkeypatch.setattr(Mul, "backward", staticmethod(_mul_backward_forgets_a_factor))
    with pytest.raises(AssertionError, match="gradient of input 0 differs from "
                                             + ("torch.autograd" if backend_name == "torch"
                                                else "jax.vjp")):
        check_against_autodiff(spec, case, backend_name, seed=1)


# -------------------------------------------------------------- kinks and ties
@dataclass
class Kink:
    """A gradient at a kink or tie. ``expected`` is worked out by hand from DESIGN.md's
    conventions (one gradient per input, for the upstream ``upstream``). ``torch``/``jax`` is
    the plain library function when the library's own gradient there agrees with ours
    (checked: it must give ``expected``); None when it does not (then the hand values)."""
    name: str
    edu: Callable[..., Any]
    inputs: tuple
    upstream: Any
    expected: tuple
    torch: Callable[..., Any] | None
    jax: Callable[..., Any] | None

    def __repr__(self) -> str:
        return self.name


def _t(name):  # torch.<name> looked up when called (torch may be absent at import)
    return lambda *a, **k: getattr(crossref.torch, name)(*a, **k)


def _j(name):
    return lambda *a, **k: getattr(crossref.jnp, name)(*a, **k)


KINKS = [
    # relu'(0) = 0: upstream [1, 2, 3] at [-1, 0, 2] -> [0, 0, 3]. torch.relu and jax.nn.relu
    # (a custom jvp: x > 0) agree; jnp.maximum(x, 0) would give 0.5 * 2 = 1 at 0.
    Kink("relu_at_0", edu_nn.relu, ([-1.0, 0.0, 2.0],), [1.0, 2.0, 3.0], ([0.0, 0.0, 3.0],),
         _t("relu"), lambda x: crossref.jax.nn.relu(x)),
    # leaky_relu'(0) = negative_slope (torch: x > 0 ? 1 : slope): [0.1 * 1, 0.1 * 2, 3];
    # jax.nn.leaky_relu uses x >= 0 (1 at 0): hand values.
    Kink("leaky_relu_at_0", lambda x: edu_nn.leaky_relu(x, 0.1), ([-1.0, 0.0, 2.0],),
         [1.0, 2.0, 3.0], ([0.1, 0.2, 3.0],),
         lambda x: crossref.F.leaky_relu(x, 0.1), None),
    # |x|'(0) = 0: [-1 * 1, 0, 1 * 3]. torch.abs agrees; jax.grad(jnp.abs)(0.) = 1.
    Kink("abs_at_0", edu_nn.abs, ([-2.0, 0.0, 3.0],), [1.0, 2.0, 3.0], ([-1.0, 0.0, 3.0],),
         _t("abs"), None),
    # sign' = 0 everywhere, 0 included
    Kink("sign_at_0", edu_nn.sign, ([-2.0, 0.0, 3.0],), [1.0, 2.0, 3.0], ([0.0, 0.0, 0.0],),
         _t("sign"), _j("sign")),
    # clamp to [-0.5, 1]: 1 inside and on the bounds, 0 outside: [0, 2, 3, 4, 0]. jnp.clip
    # gives half at a bound (it is a maximum/minimum pair): hand values.
    Kink("clamp_at_bounds", lambda x: edu_nn.clamp(x, -0.5, 1.0),
         ([-1.0, -0.5, 0.2, 1.0, 1.5],), [1.0, 2.0, 3.0, 4.0, 5.0],
         ([0.0, 2.0, 3.0, 4.0, 0.0],), lambda x: crossref.torch.clamp(x, -0.5, 1.0), None),
    # maximum ties split in half: [1 vs 1] upstream 2 -> 1 each; [2 vs 1] a; [0 vs 3] b
    Kink("maximum_tie", edu_nn.maximum, ([1.0, 2.0, 0.0], [1.0, 1.0, 3.0]), [2.0, 1.0, 1.0],
         ([1.0, 1.0, 0.0], [1.0, 0.0, 1.0]), _t("maximum"), _j("maximum")),
    # minimum: [4 vs 4] upstream 3 -> 1.5 each; [2 vs 1] b gets 5
    Kink("minimum_tie", edu_nn.minimum, ([4.0, 2.0], [4.0, 1.0]), [3.0, 5.0],
         ([1.5, 0.0], [1.5, 5.0]), _t("minimum"), _j("minimum")),
    # amax over dim 1: row 0 two tied 3s share 1 -> 1/2 each; row 1 three 2s share 3 -> 1 each
    Kink("amax_ties_dim", lambda x: edu_nn.amax(x, 1), ([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]],),
         [1.0, 3.0], ([[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]],),
         lambda x: crossref.torch.amax(x, 1), lambda x: crossref.jnp.max(x, axis=1)),
    # amin of everything: three tied 0s share upstream 3 -> 1 each
    Kink("amin_ties_all", lambda x: edu_nn.amin(x), ([[0.0, 4.0], [0.0, 0.0]],), 3.0,
         ([[1.0, 0.0], [1.0, 1.0]],), lambda x: crossref.torch.amin(x, (0, 1)), _j("min")),
    # max without dim splits like amax: two 3s share 2 -> 1 each
    Kink("max_all_ties", lambda x: edu_nn.max(x), ([1.0, 3.0, 3.0],), 2.0, ([0.0, 1.0, 1.0],),
         _t("max"), _j("max")),
    Kink("min_all_ties", lambda x: edu_nn.min(x), ([2.0, -1.0, -1.0, -1.0, 7.0],), 3.0,
         ([0.0, 1.0, 1.0, 1.0, 0.0],), _t("min"), _j("min")),
    # max(dim) sends everything to the returned (first) index: row [3, 1, 3] -> index 0,
    # [2, 2, 2] -> 0, [0, 5, 5] -> 1. torch's CPU max(dim) returns the first; jnp has no
    # max-with-index and jnp.max splits: the JAX side is the argmax gather of crossref
    # (jnp.argmax returns the first), and it must still equal the hand values.
    Kink("max_dim_ties", lambda x: edu_nn.max(x, 1).values,
         ([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 5.0]],), [1.0, 2.0, 3.0],
         ([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]],),
         lambda x: crossref.torch.max(x, 1).values,
         lambda x: CROSSREF["max_dim"].jax(x, 1, False)),
    # min(dim 0, keepdim): column [1, 1] -> index 0; column [4, -2] -> index 1
    Kink("min_dim_ties", lambda x: edu_nn.min(x, 0, keepdim=True).values,
         ([[1.0, 4.0], [1.0, -2.0]],), [[2.0, 3.0]], ([[2.0, 0.0], [0.0, 3.0]],),
         lambda x: crossref.torch.min(x, 0, keepdim=True).values,
         lambda x: CROSSREF["min_dim"].jax(x, 0, True)),
    # std of a constant row: std = 0, sqrt has a kink there; gradient defined as 0 (torch
    # masks it); row 1 [1, 2, 3]: (x - 2) / ((n - 1) std) = [-0.5, 0, 0.5] times upstream 2.
    # jnp.std gives nan on the constant row: hand values.
    Kink("std_of_constant", lambda x: edu_nn.std(x, 1),
         ([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]],), [1.0, 2.0],
         ([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]],), lambda x: crossref.torch.std(x, 1), None),
]


@pytest.mark.parametrize("kink", KINKS, ids=[k.name for k in KINKS])
def test_kink_gradients_follow_our_conventions(kink, backend_name):
    skip_unless_autodiff(backend_name)
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in kink.inputs)
    upstream = np.asarray(kink.upstream, dtype=np.float64)
    expected = [np.asarray(e, dtype=np.float64) for e in kink.expected]
    case = Case(arrays)
    spec = OpSpec(kink.name, kink.edu, lambda *a: None, None)
    _, ours = edu_run(spec, case, backend_name, upstream)
    library_fn = getattr(kink, backend_name)
    if library_fn is not None:
        _, theirs = reference_run(backend_name, library_fn, case, upstream)
        for e, r in zip(expected, theirs):  # the library really shares our convention here
            np.testing.assert_allclose(r, e, rtol=1e-15, atol=0,
                                       err_msg=f"{kink.name}: {backend_name}'s own gradient "
                                               f"no longer matches our convention")
        expected = theirs
    for i, (e, g) in enumerate(zip(expected, ours)):
        np.testing.assert_allclose(g, e, rtol=1e-15, atol=0,
                                   err_msg=f"{kink.name} on {backend_name}: gradient of "
                                           f"input {i}")


def test_jax_conventions_we_do_not_borrow(backend_name):
    """Why the JAX references above avoid these functions at kinks (DESIGN.md). Should a JAX
    release change one of them, this fails and the reference may use the library again."""
    if backend_name != "jax":
        pytest.skip("a fact about the jax library")
    crossref.load("jax")
    jax, jnp = crossref.jax, crossref.jnp
    assert jax.grad(jnp.abs)(0.0) == 1.0                                   # ours: 0
    assert jax.grad(lambda x: jnp.maximum(x, 0.0))(0.0) == 0.5              # relu, ours: 0
    assert jax.grad(lambda x: jax.nn.leaky_relu(x, 0.1))(0.0) == 1.0       # ours: 0.1
    assert jax.grad(lambda x: jnp.clip(x, -0.5, 1.0))(1.0) == 0.5          # ours: 1
    assert np.isnan(jax.grad(lambda x: jnp.std(x))(jnp.zeros(3))).all()    # ours: 0
    # ...whereas jnp.max splits ties evenly, like our amax (so crossref uses it)
    np.testing.assert_array_equal(jax.grad(jnp.max)(jnp.array([3.0, 3.0])), [0.5, 0.5])
