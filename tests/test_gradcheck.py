"""Tests of the tests: gradcheck passes correct backwards and catches broken ones.

The mutation checks break one op's backward at a time (monkeypatched) and assert that
gradcheck fails *and* that its report points at the broken argument with a useful hint.
Each one also runs gradcheck on the unbroken op first, so a failure can only come from the
mutation.
"""
import numpy as np
import pytest

import edu_nn
from edu_nn.grading import GradcheckError, diagnose, gradcheck, numerical_gradient
from edu_nn.ops import elementwise as ew
from edu_nn.ops import reduction as red


def rand64(*shape, seed=0, low=-2.0, high=2.0):
    rng = np.random.default_rng(seed)
    return edu_nn.tensor(rng.uniform(low, high, size=shape), dtype="float64", requires_grad=True)


def test_correct_gradient_returns_a_truthy_report():
    x, y = rand64(3, 4), rand64(4, seed=1)
    report = gradcheck(lambda a, b: (a * b).tanh(), [x, y], name="mul_tanh")
    assert report and report.passed
    assert [a.index for a in report.arguments] == [0, 1]
    assert all(a.n_total == a.n_failed + a.n_total for a in report.arguments)
    assert report.max_abs_error < 1e-8
    assert "passed for mul_tanh" in str(report)
    assert x.grad is None  # gradcheck works on its own copies


def test_requires_float64_and_something_to_check():
    with pytest.raises(TypeError, match="float64.*double"):
        gradcheck(edu_nn.exp, [edu_nn.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad=True"):
        gradcheck(edu_nn.exp, [edu_nn.tensor([1.0], dtype="float64")])


def test_non_raising_mode_returns_failed_report():
    class Wrong(edu_nn.ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            return ctx.xp.exp(x)

        @staticmethod
        def backward(ctx, grad):
            return grad  # should be grad * exp(x)
    report = gradcheck(Wrong.apply, [rand64(5)], raise_exception=False)
    assert not report
    assert report.arguments[0].n_failed > 0
    assert "FAILED for Wrong" in str(report)


def test_random_upstream_gradient_catches_what_all_ones_hides():
    # softmax-like normalisation: with an all-ones upstream gradient the true input gradient is
    # 0, so a backward that forgets the coupling term can look right. A random one exposes it.
    class ForgetfulNormalize(edu_nn.ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            s = ctx.xp.sum(x, axis=-1, keepdims=True)
            ctx.save_for_backward(s)
            return ctx.xp.divide(x, s)

        @staticmethod
        def backward(ctx, grad):
            (s,) = ctx.saved_tensors
            return ctx.xp.divide(grad, s)  # missing -sum(grad * y)/s term
    x = rand64(2, 3, low=0.5, high=2.0)
    with pytest.raises(GradcheckError):
        gradcheck(ForgetfulNormalize.apply, [x])


# ---------------------------------------------------------------- mutations
def _patch(monkeypatch, fn_class, new_backward):
    monkeypatch.setattr(fn_class, "backward", staticmethod(new_backward))


def _scale_all(original, factor):
    def backward(ctx, grad):
        out = original(ctx, grad)
        out = out if isinstance(out, tuple) else (out,)
        return tuple(None if g is None else ctx.xp.multiply(g, factor) for g in out)
    return backward


MUTATIONS = {
    # name: (function under test, make inputs, Function class, broken backward factory,
    #        the argument that must fail, a phrase the hint must contain)
    "mul_times_two": (lambda a, b: a * b, lambda: [rand64(3, 4), rand64(3, 4, seed=1)],
                      ew.Mul, lambda orig: _scale_all(orig, 2.0), 0, "factor of 2"),
    "exp_sign_flipped": (edu_nn.exp, lambda: [rand64(3, 5)], ew.Exp,
                         lambda orig: _scale_all(orig, -1.0), 0, "sign error"),
    "sum_averaged": (lambda a: a.sum(dim=1), lambda: [rand64(4, 7)], red.Sum,
                     lambda orig: _scale_all(orig, 1 / 7), 0, "averaged where it should sum"),
    "div_forgot_minus": (lambda a, b: a / b, lambda: [rand64(3), rand64(3, seed=2, low=0.5)],
                         ew.Div, lambda orig: (lambda ctx, g: (orig(ctx, g)[0],
                                                              ctx.xp.negative(orig(ctx, g)[1]))),
                         1, "sign error"),
    "tanh_wrong_formula": (edu_nn.tanh, lambda: [rand64(6)], ew.Tanh,
                           lambda orig: (lambda ctx, g: ctx.xp.multiply(
                               g, ctx.xp.subtract(1.0, ctx.saved_tensors[0]))), 0, "re-derive"),
    "relu_mask_inverted": (edu_nn.relu, lambda: [rand64(20)], ew.ReLU,
                           lambda orig: (lambda ctx, g: ctx.xp.where(  # saved: relu's output
                               ctx.xp.greater(ctx.saved_tensors[0], 0), 0.0, g)), 0, "elements"),
    "mul_returns_nothing_for_b": (lambda a, b: a * b, lambda: [rand64(3), rand64(3, seed=3)],
                                  ew.Mul, lambda orig: (lambda ctx, g: (orig(ctx, g)[0], None)),
                                  1, "no gradient"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_broken_backward_is_caught_and_pointed_at(name, monkeypatch):
    fn, make_inputs, fn_class, breaker, bad_arg, hint = MUTATIONS[name]
    inputs = make_inputs()
    assert gradcheck(fn, inputs, name=name)  # the intact op passes
    _patch(monkeypatch, fn_class, breaker(fn_class.backward))
    with pytest.raises(GradcheckError) as info:
        gradcheck(fn, inputs, name=name)
    report = info.value.report
    failed = [a.index for a in report.arguments if not a.passed]
    assert bad_arg in failed
    text = str(info.value)
    assert f"FAILED for {name}" in text and f"argument {bad_arg}" in text
    assert "expected (finite differences)" in text and "actual (backward)" in text
    assert hint in text, text
    worst = report.arguments[bad_arg]
    assert worst.expected != pytest.approx(worst.actual)


def test_hint_recognises_a_transposed_gradient():
    expected = np.arange(9.0).reshape(3, 3)
    hints = diagnose(expected.T.copy(), expected)
    assert any("transpose" in h for h in hints)


def test_numerical_gradient_for_students():
    x = edu_nn.tensor([1.0, -2.0, 0.5], dtype="float64")
    g = numerical_gradient(lambda v: (v ** 3).sum(), x)
    np.testing.assert_allclose(g, 3 * x.numpy() ** 2, rtol=1e-7)  # d(x^3)/dx = 3x^2
    g_np = numerical_gradient(lambda a: float(np.sum(np.sin(a))), np.array([0.0, 1.0]))
    np.testing.assert_allclose(g_np, np.cos([0.0, 1.0]), rtol=1e-7)
