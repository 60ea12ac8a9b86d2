"""Loss functions (edu_nn.nn.functional): torch's numbers, hand-written backwards, errors.

- Every loss x every reduction x every option against torch.nn.functional (float64, random
  upstream gradient, forward and every float input's gradient, every element, rtol 1e-8),
  called with the *same* keyword arguments on both sides (the signatures are torch's).
- hypothesis draws shapes and options (K-dim inputs, weights, ignored targets, smoothing).
- Finite differences (gradcheck) for each loss Function on every backend.
- A deliberately broken backward is caught (the comparisons can fail).
- Errors name what is wrong and how to fix it.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import GradcheckError, gradcheck
from edu_nn.ops import losses
from opcheck import EXAMPLES, SEEDS
from torchref import check_against_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ("mean", "sum", "none")
N, C = 5, 4  # one shape for most cases: JAX compiles each primitive once per shape


def rng(seed=0):
    return np.random.default_rng(seed)


def probs(r, shape, axis=1):
    p = r.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


def with_ignored(t, positions, value=-100):
    t = t.copy()
    t.flat[list(positions)] = value
    return t


def _cases():
    """(id, function name, {argument name: array}, keyword options, constant argument names)."""
    r = rng(0)
    x, y = r.standard_normal((N, C)) * 2, r.integers(0, C, N)
    w = r.uniform(0.5, 2.0, C)
    p = probs(r, (N, C))
    xk, yk = r.standard_normal((3, C, 2, 3)), r.integers(0, C, (3, 2, 3))
    yk_ign = with_ignored(yk, [0, 4, 7])
    a, b = r.standard_normal((N, 3)), r.standard_normal((N, 3))
    b_tie = b.copy()
    b_tie[0] = a[0]  # l1 at a kink: |x|'(0) = 0 in edu_nn and torch
    ew = r.uniform(0.5, 2.0, (N, 3))
    q, t01 = r.uniform(0.05, 0.95, (N, 3)), r.integers(0, 2, (N, 3)).astype(float)
    t_soft = r.uniform(0, 1, (N, 3))
    z = r.standard_normal((N, 3)) * 4
    cases = [
        ("mse", "mse_loss", dict(input=a, target=b), {}, ()),
        ("mse_weight", "mse_loss", dict(input=a, target=b, weight=ew), {}, ()),
        ("l1", "l1_loss", dict(input=a, target=b_tie), {}, ()),
        ("l1_weight", "l1_loss", dict(input=a, target=b, weight=ew), {}, ()),
        ("huber", "huber_loss", dict(input=a, target=b), dict(delta=0.7), ()),
        ("huber_weight", "huber_loss", dict(input=a, target=b, weight=ew), dict(delta=1.3), ()),
        ("smooth_l1", "smooth_l1_loss", dict(input=a, target=b), dict(beta=0.6), ()),
        ("smooth_l1_beta0", "smooth_l1_loss", dict(input=a, target=b), dict(beta=0.0), ()),
        ("ce", "cross_entropy", dict(input=x, target=y), {}, ()),
        ("ce_ignore", "cross_entropy", dict(input=x, target=with_ignored(y, [1, 3])), {}, ()),
        ("ce_ignore_class", "cross_entropy", dict(input=x, target=y),
         dict(ignore_index=int(y[0])), ()),
        ("ce_ignore_class_weight_smooth", "cross_entropy", dict(input=x, target=y, weight=w),
         dict(ignore_index=int(y[0]), label_smoothing=0.2), ("weight",)),
        ("ce_all_ignored", "cross_entropy", dict(input=x, target=np.full(N, -100)), {}, ()),
        ("ce_weight", "cross_entropy", dict(input=x, target=y, weight=w), {}, ("weight",)),
        ("ce_weight_ignore", "cross_entropy", dict(input=x, target=with_ignored(y, [2]), weight=w),
         {}, ("weight",)),
        ("ce_smooth", "cross_entropy", dict(input=x, target=y), dict(label_smoothing=0.2), ()),
        ("ce_smooth_weight_ignore", "cross_entropy",
         dict(input=x, target=with_ignored(y, [0]), weight=w), dict(label_smoothing=0.1),
         ("weight",)),
        ("ce_smooth_all_ignored", "cross_entropy", dict(input=x, target=np.full(N, -100)),
         dict(label_smoothing=0.1), ()),
        ("ce_probs", "cross_entropy", dict(input=x, target=p), {}, ()),
        ("ce_probs_weight", "cross_entropy", dict(input=x, target=p, weight=w), {}, ()),
        ("ce_probs_smooth_weight", "cross_entropy", dict(input=x, target=p, weight=w),
         dict(label_smoothing=0.3), ()),
        ("ce_kdim", "cross_entropy", dict(input=xk, target=yk), {}, ()),
        ("ce_kdim_all_options", "cross_entropy", dict(input=xk, target=yk_ign, weight=w),
         dict(label_smoothing=0.15), ("weight",)),
        ("ce_kdim_probs", "cross_entropy", dict(input=xk, target=probs(r, xk.shape)),
         dict(label_smoothing=0.1), ()),
        ("ce_unbatched", "cross_entropy", dict(input=x[0], target=np.array(2)), {}, ()),
        ("ce_unbatched_probs", "cross_entropy", dict(input=x[0], target=p[0], weight=w), {}, ()),
        ("nll", "nll_loss", dict(input=x, target=y), {}, ()),
        ("nll_weight_ignore", "nll_loss", dict(input=x, target=with_ignored(y, [4]), weight=w),
         {}, ("weight",)),
        ("nll_ignore_class", "nll_loss", dict(input=x, target=y), dict(ignore_index=int(y[1])), ()),
        ("nll_all_ignored", "nll_loss", dict(input=x, target=np.full(N, 3)),
         dict(ignore_index=3), ()),
        ("nll_kdim", "nll_loss", dict(input=xk, target=yk_ign, weight=w), {}, ("weight",)),
        ("nll_unbatched", "nll_loss", dict(input=x[1], target=np.array(0)), {}, ()),
        ("bce", "binary_cross_entropy", dict(input=q, target=t_soft), {}, ()),
        ("bce_labels_weight", "binary_cross_entropy", dict(input=q, target=t01, weight=w[:3]), {},
         ("weight",)),
        ("bce_logits", "binary_cross_entropy_with_logits", dict(input=z, target=t_soft), {}, ()),
        ("bce_logits_weight", "binary_cross_entropy_with_logits",
         dict(input=z, target=t01, weight=ew), {}, ("weight",)),
        ("bce_logits_pos_weight", "binary_cross_entropy_with_logits",
         dict(input=z, target=t_soft, pos_weight=w[:3]), {}, ("pos_weight",)),
        ("bce_logits_both", "binary_cross_entropy_with_logits",
         dict(input=z, target=t01, weight=w[:1], pos_weight=w[1:]), {}, ("weight", "pos_weight")),
        ("bce_logits_huge", "binary_cross_entropy_with_logits",
         dict(input=np.array([[-60.0, 0.5, 60.0], [40.0, -35.0, 1e-3]]),
              target=np.array([[1.0, 0.0, 0.0], [0.3, 0.9, 1.0]]),
              pos_weight=np.array([2.0, 0.5, 1.0])), {}, ("pos_weight",)),
    ]
    return {case[0]: case[1:] for case in cases}


CASES = _cases()


def call(module, name, names, kwargs, reduction):
    """A function of the arrays, by keyword, identical for edu_nn and torch."""
    fn = getattr(module, name)
    return lambda *tensors: fn(**dict(zip(names, tensors)), reduction=reduction, **kwargs)


def compare(case_id, backend, reductions=REDUCTIONS, **tol):
    name, arrays, kwargs, constant = CASES[case_id]
    names = list(arrays)
    const = tuple(names.index(c) for c in constant)
    for reduction in reductions:
        check_against_torch(call(F, name, names, kwargs, reduction),
                            call(TF, name, names, kwargs, reduction),
                            list(arrays.values()), backend, constant=const,
                            name=f"{case_id} (reduction={reduction!r})", **tol)


@pytest.mark.parametrize("case_id", list(CASES))
def test_matches_torch(case_id, backend_name):
    compare(case_id, backend_name)


# -------------------------------------------------------------------- hypothesis
HYP = settings(deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def examples(backend, n):
    return max(2, int(n * EXAMPLES.get(backend, 0.5)))


@st.composite
def ce_draws(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    r = rng(draw(SEEDS))
    x = r.standard_normal((n, c) + extra) * 2
    kwargs, constant = {}, []
    if draw(st.booleans()):
        target = probs(r, x.shape)
    else:
        target = r.integers(0, c, (n,) + extra)
        if draw(st.booleans()):
            target = np.where(r.uniform(size=target.shape) < 0.3, -100, target)
        constant.append("weight")
    arrays = {"input": x, "target": target}
    if draw(st.booleans()):
        arrays["weight"] = r.uniform(0.5, 2.0, c)
    else:
        constant = []
    kwargs["label_smoothing"] = draw(st.sampled_from([0.0, 0.0, 0.25]))
    return arrays, kwargs, tuple(constant), draw(st.sampled_from(REDUCTIONS))


def test_cross_entropy_random_shapes_and_options(backend_name):
    @settings(HYP, max_examples=examples(backend_name, 12))
    @given(draw=ce_draws())
    def run(draw):
        arrays, kwargs, constant, reduction = draw
        names = list(arrays)
        check_against_torch(call(F, "cross_entropy", names, kwargs, reduction),
                            call(TF, "cross_entropy", names, kwargs, reduction),
                            list(arrays.values()), backend_name,
                            constant=tuple(names.index(c) for c in constant),
                            name=f"cross_entropy {kwargs} {reduction}")
    run()


@st.composite
def pointwise_draws(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    r = rng(draw(SEEDS))
    name, kwargs = draw(st.sampled_from([
        ("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.5}),
        ("smooth_l1_loss", {"beta": 2.0}), ("binary_cross_entropy_with_logits", {})]))
    a = r.standard_normal(shape) * 2
    b = r.uniform(0, 1, shape) if name.startswith("binary") else r.standard_normal(shape)
    return name, kwargs, a, b, draw(st.sampled_from(REDUCTIONS))


def test_pointwise_losses_random_shapes(backend_name):
    @settings(HYP, max_examples=examples(backend_name, 12))
    @given(draw=pointwise_draws())
    def run(draw):
        name, kwargs, a, b, reduction = draw
        check_against_torch(call(F, name, ["input", "target"], kwargs, reduction),
                            call(TF, name, ["input", "target"], kwargs, reduction),
                            [a, b], backend_name, name=f"{name} {a.shape} {reduction}")
    run()


# ----------------------------------------------------------- finite differences
def t64(a, backend, grad=False):
    a = np.asarray(a)
    dtype = "float64" if a.dtype.kind == "f" else "int64"
    return edu_nn.tensor(a, dtype=dtype, backend=backend, requires_grad=grad)


GRADCHECKS = {
    # id: (function, {argument: (array, differentiable)}, keyword options); the losses are
    # checked with reduction="none" (every output element) and "mean".
    "MseLoss": ("mse_loss", "ab", {}),
    "L1Loss": ("l1_loss", "ab", {}),
    "HuberLoss": ("huber_loss", "ab", {"delta": 0.8}),
    "SmoothL1Loss": ("smooth_l1_loss", "ab", {"beta": 0.8}),
    "CrossEntropy": ("cross_entropy", "xy", {}),
    "GeneralCrossEntropy_indices": ("cross_entropy", "xy_ign_w", {"label_smoothing": 0.2}),
    "GeneralCrossEntropy_probs": ("cross_entropy", "xpw", {"label_smoothing": 0.1}),
    "NllLoss": ("nll_loss", "xy_ign_w", {}),
    "BinaryCrossEntropy": ("binary_cross_entropy", "qt", {}),
    "BinaryCrossEntropyWithLogits": ("binary_cross_entropy_with_logits", "zt_pw", {}),
}


def gradcheck_inputs(kind, backend):
    r = rng(3)
    x, y, w = r.standard_normal((3, 4)), r.integers(0, 4, 3), r.uniform(0.5, 2, 4)
    # values kept 0.1 away from the kinks of l1 (0) and huber / smooth_l1 (+-0.8)
    a = r.uniform(-2, 2, (3, 2))
    b = a + r.choice([-1.5, -0.4, 0.4, 1.5], (3, 2)) + r.uniform(-0.1, 0.1, (3, 2))
    q, t = r.uniform(0.1, 0.9, (3, 2)), r.uniform(0, 1, (3, 2))
    g = lambda arr: t64(arr, backend, True)  # noqa: E731
    c = lambda arr: t64(arr, backend)  # noqa: E731
    return {"ab": [g(a), g(b)], "xy": [g(x), c(y)],
            "xy_ign_w": [g(x), c(with_ignored(y, [1])), c(w)],
            "xpw": [g(x), g(probs(r, (3, 4))), g(w)],
            "qt": [g(q), g(t)],
            "zt_pw": [g(r.standard_normal((3, 2)) * 3), g(t), c(r.uniform(0.5, 2, 2))]}[kind]


@pytest.mark.parametrize("check_id", list(GRADCHECKS))
def test_gradcheck(check_id, backend_name):
    name, kind, kwargs = GRADCHECKS[check_id]
    inputs = gradcheck_inputs(kind, backend_name)
    for reduction in ("none", "mean"):
        gradcheck(lambda *ts: getattr(F, name)(*ts, reduction=reduction, **kwargs), inputs,
                  name=f"{check_id} ({reduction})")


# ------------------------------------------------------------------- mutations
class DoubledCrossEntropy(losses.CrossEntropy):
    """A broken backward: the gradient scaled by 2."""

    @staticmethod
    def backward(ctx, grad):
        gx, _, _ = losses.CrossEntropy.backward(ctx, grad)
        return ctx.xp.multiply(gx, 2.0), None, None


class PosWeightForgotten(losses.BinaryCrossEntropyWithLogits):
    """A typical bug: the input gradient sigmoid(x) - t, forgetting pos_weight."""

    @staticmethod
    def backward(ctx, grad):
        x, target, _, _, log_sig, _ = ctx.saved_tensors
        xp = ctx.xp
        gx = xp.divide(xp.multiply(xp.subtract(xp.exp(log_sig), target), grad), ctx.count)
        return gx, None, None, None, None


def test_broken_backwards_are_caught(backend_name):
    r = rng(5)
    x, y = r.standard_normal((N, C)), r.integers(0, C, N)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_against_torch(lambda a, b: DoubledCrossEntropy.apply(a, b, "mean"),
                            lambda a, b: TF.cross_entropy(a, b), [x, y], backend_name)
    with pytest.raises(GradcheckError):
        gradcheck(lambda a, b: DoubledCrossEntropy.apply(a, b, "sum"),
                  [t64(x, backend_name, True), t64(y, backend_name)])
    z, t, pw = r.standard_normal((N, 3)), r.uniform(0, 1, (N, 3)), r.uniform(2, 3, 3)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_against_torch(
            lambda a, b, p: PosWeightForgotten.apply(a, b, None, p, "mean"),
            lambda a, b, p: TF.binary_cross_entropy_with_logits(a, b, pos_weight=p),
            [z, t, pw], backend_name, constant=(1, 2))


# ---------------------------------------------------------------- fast path, edges
def test_plain_cross_entropy_takes_the_fast_path_and_falls_back(backend_name):
    x = t64(rng(1).standard_normal((N, C)), backend_name, True)
    plain = F.cross_entropy(x, t64([0, 1, 2, 3, 0], backend_name))
    ignored = F.cross_entropy(x, t64([0, -100, 2, 3, 0], backend_name))
    assert type(plain.grad_fn) is losses.CrossEntropy
    assert type(ignored.grad_fn) is losses.GeneralCrossEntropy
    # int32 targets are accepted (converted), as uint8 ones are in torch
    same = F.cross_entropy(x, edu_nn.tensor([0, 1, 2, 3, 0], dtype="int32", backend=backend_name))
    assert same.item() == pytest.approx(plain.item(), rel=1e-12)
    # one sample: the class index as () or (1,) (torch accepts both, for reduction="none")
    one = [F.cross_entropy(x[1], t64(idx, backend_name), reduction="none") for idx in (3, [3])]
    assert one[0].shape == one[1].shape == ()
    assert one[0].item() == one[1].item()


def test_minus_inf_logits_of_other_classes_give_torch_finite_losses(backend_name):
    x = np.array([[0.5, -np.inf, 1.0], [-np.inf, 2.0, 0.0]])
    y = np.array([0, 1])
    for fn, kw in ((F.cross_entropy, {}), (F.cross_entropy, {"ignore_index": 2}),
                   (F.nll_loss, {})):
        got = fn(t64(x, backend_name), t64(y, backend_name), reduction="none", **kw)
        want = getattr(TF, fn.__name__)(torch.tensor(x), torch.tensor(y), reduction="none", **kw)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_binary_cross_entropy_at_exact_0_and_1_is_clamped_like_torch(backend_name):
    q = np.array([0.0, 1.0, 0.0, 1.0, 1e-300, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy log(0) warning
        check_against_torch(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                            lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"),
                            [q, t], backend_name, constant=(1,))


def test_legacy_size_average_and_reduce_map_like_torch(backend_name):
    r = rng(2)
    a, b = r.standard_normal(6), r.standard_normal(6)
    for size_average, reduce in ((None, False), (False, None), (True, True), (False, True)):
        with pytest.warns(UserWarning, match="reduction="):
            got = F.mse_loss(t64(a, backend_name), t64(b, backend_name), size_average, reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = TF.mse_loss(torch.tensor(a), torch.tensor(b), size_average, reduce)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_float32_in_float32_out():
    x, y = edu_nn.randn(4, 3), edu_nn.tensor([0, 1, 2, 1])
    p, t = edu_nn.rand(4, 3), edu_nn.rand(4, 3)
    outs = [F.cross_entropy(x, y), F.cross_entropy(x, y, label_smoothing=0.1), F.nll_loss(x, y),
            F.mse_loss(x, t), F.huber_loss(x, t), F.binary_cross_entropy(p, t),
            F.binary_cross_entropy_with_logits(x, t)]
    assert [o.dtype for o in outs] == ["float32"] * len(outs)


# ------------------------------------------------------------------------ errors
def test_errors_teach():
    x, y = edu_nn.randn(3, 4), edu_nn.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be 'mean', 'sum' or 'none'"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy: reduction"):
        F.cross_entropy(x, y, reduction="average")
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\).*broadcast.*squeeze\(-1\)"):
        F.mse_loss(edu_nn.randn(3, 1), edu_nn.randn(3))
    with pytest.raises(ValueError, match=r"target\.reshape"):
        F.l1_loss(edu_nn.randn(2, 3), edu_nn.randn(3, 2))
    with pytest.raises(TypeError, match=r"target is float64.*target\.to\('float32'\)"):
        F.mse_loss(x, edu_nn.randn(3, 4, dtype="float64"))
    with pytest.raises(IndexError, match=r"target class 4 is out of range.*4 classes.*\[0, 3\]"):
        F.cross_entropy(x, edu_nn.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match=r"target class -1 .*ignore_index = -100"):
        F.cross_entropy(x, edu_nn.tensor([-100, -1, 1]))
    with pytest.raises(IndexError, match="target class 9"):
        F.cross_entropy(edu_nn.randn(2, 4, 3), edu_nn.tensor([[0, 9, 1], [1, 2, 3]]),
                        label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"class probabilities.*target\.long\(\)"):
        F.cross_entropy(x, edu_nn.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"one-hot encoded.*argmax\(1\)"):
        F.cross_entropy(x, edu_nn.tensor(np.eye(4, dtype=np.int64)[[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\).*one weight per class, "
                                         r"shape \(4,\)"):
        F.cross_entropy(x, y, weight=edu_nn.ones(3))
    with pytest.raises(RuntimeError, match=r"weight is a constant.*detach"):
        F.cross_entropy(x, y, weight=edu_nn.ones(4, requires_grad=True))
    with pytest.raises(ValueError, match=r"one sample \(input of shape \(4,\)\).*\(3,\)"):
        F.cross_entropy(edu_nn.randn(4), y)
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index is not supported for class-probability"):
        F.cross_entropy(x, edu_nn.rand(3, 4), ignore_index=1)
    with pytest.raises(TypeError, match=r"nll_loss: target must be integer.*cross_entropy"):
        F.nll_loss(x, edu_nn.rand(3, 4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: .*\[0, 1\].*_with_logits"):
        F.binary_cross_entropy(edu_nn.tensor([0.5, 1.5]), edu_nn.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        F.binary_cross_entropy(edu_nn.tensor([0.5, 0.5]), edu_nn.tensor([0.0, 2.0]))
    with pytest.raises(TypeError, match=r"binary targets are floats.*target\.to"):
        F.binary_cross_entropy_with_logits(x, edu_nn.tensor([[0, 1, 0, 1]] * 3))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\).*\(4,\)"):
        F.binary_cross_entropy_with_logits(x, edu_nn.rand(3, 4), pos_weight=edu_nn.ones(3))
    with pytest.raises(ValueError, match="delta must be positive"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(TypeError, match=r"target must be an edu_nn Tensor"):
        F.mse_loss(x, np.zeros((3, 4)))


def test_integer_regression_target_is_promoted_as_in_torch():
    """torch's 60-minute blitz: MSELoss between a float output and torch.arange(1, 11)."""
    torch = pytest.importorskip("torch")
    out = np.random.default_rng(0).normal(size=(1, 10)).astype(np.float32)
    target = np.arange(1, 11).reshape(1, -1)
    got = F.mse_loss(edu_nn.tensor(out), edu_nn.tensor(target))
    want = torch.nn.functional.mse_loss(torch.tensor(out), torch.tensor(target))
    assert got.dtype == "float32"
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
