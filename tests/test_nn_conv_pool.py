"""conv1d/conv2d and max/avg pooling (edu_nn.nn.functional) against torch, on every backend.

* torch: hypothesis draws shapes, kernels, strides, paddings (ints, tuples, 'valid', 'same'),
  dilations, ceil_mode, count_include_pad, divisor_override; forward and the gradient of
  every float input must equal torch.autograd's in float64 (tests/torchref.py).
* finite differences (gradcheck) on small fixed cases, on every backend.
* max-pool ties: constant inputs, gradients worked out by hand (first maximum per window).
* float32 in -> float32 out, error messages, and mutation checks: deliberately broken
  backwards must be caught by the checks above.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import gradcheck
from edu_nn.grading.gradcheck import GradcheckError
from edu_nn.ops import conv as conv_module, pooling as pooling_module
from opcheck import EXAMPLES, SEEDS
from torchref import check_against_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# torch's note that it copies the input for padding='same' with an even kernel
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

HYP = settings(deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_examples(backend_name, n, strategy, check):
    """Run ``check(case)`` on about ``n`` drawn cases (fewer on the slower backends)."""
    @settings(HYP, max_examples=max(3, int(n * EXAMPLES.get(backend_name, 0.5))))
    @given(case=strategy)
    def run(case):
        check(case)
    run()


def t64(a, backend, requires_grad=True):
    return edu_nn.tensor(np.asarray(a, np.float64), dtype="float64", backend=backend,
                         requires_grad=requires_grad)


def either(draw, values: tuple):
    """An int when all values agree and a coin says so, else the tuple (both forms are API)."""
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else values


# ------------------------------------------------------------- strategies
@st.composite
def conv_cases(draw, d: int):
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    mode = draw(st.sampled_from(["int", "int", "valid", "same"]))
    stride = (1,) * d if mode == "same" else tuple(draw(st.integers(1, 3)) for _ in range(d))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(d)) if mode == "int" else (0,) * d
    spans = [dl * (k - 1) + 1 for k, dl in zip(kernel, dilation)]
    sizes = tuple(max(1, s - 2 * p) + draw(st.integers(0, 4)) for s, p in zip(spans, pads))
    batched = draw(st.integers(0, 3)) > 0
    rng = np.random.default_rng(draw(SEEDS))
    x = rng.standard_normal(((n,) if batched else ()) + (c_in,) + sizes)
    w = rng.standard_normal((c_out, c_in) + kernel)
    b = rng.standard_normal(c_out) if draw(st.booleans()) else None
    kwargs = {"stride": either(draw, stride), "dilation": either(draw, dilation),
              "padding": mode if mode in ("valid", "same") else either(draw, pads)}
    return x, w, b, kwargs


def windows_see_input(size, k, s, p, dl, ceil_mode) -> bool:
    """Whether every pooling window along one dim covers at least one input element."""
    n = (size + 2 * p - dl * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return all(any(0 <= o * s - p + j * dl < size for j in range(k)) for o in range(n))


@st.composite
def pool_cases(draw, d: int, kind: str):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(d))
    pads = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d)) if kind == "max" else (1,) * d
    spans = [dl * (k - 1) + 1 for k, dl in zip(kernel, dilation)]
    sizes = tuple(max(1, s - 2 * p) + draw(st.integers(0, 4)) for s, p in zip(spans, pads))
    ceil_mode = draw(st.booleans())
    # A dilated window can fall wholly in the -inf padding; torch then gives an arbitrary
    # index and sends the gradient out of its plane (into the next channel), so leave it out.
    assume(all(windows_see_input(*a, ceil_mode)
               for a in zip(sizes, kernel, stride or kernel, pads, dilation)))
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))[draw(st.integers(0, 1)):]
    x = np.random.default_rng(draw(SEEDS)).standard_normal(lead + sizes)
    kwargs = {"kernel_size": either(draw, kernel), "padding": either(draw, pads),
              "ceil_mode": ceil_mode}
    if stride is not None:
        kwargs["stride"] = either(draw, stride)
    if kind == "max":
        kwargs["dilation"] = either(draw, dilation)
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
        if d == 2 and draw(st.integers(0, 3)) == 0:
            kwargs["divisor_override"] = draw(st.integers(1, 5))
    return x, kwargs


# ------------------------------------------------------------ vs torch
@pytest.mark.parametrize("d", [1, 2])
def test_conv_matches_torch(backend_name, d):
    edu_fn, torch_fn = getattr(F, f"conv{d}d"), getattr(TF, f"conv{d}d")

    def check(case):
        x, w, b, kw = case
        arrays = [x, w] if b is None else [x, w, b]
        check_against_torch(lambda *a: edu_fn(*a, **kw), lambda *a: torch_fn(*a, **kw),
                            arrays, backend_name, name=f"conv{d}d{kw}")
    run_examples(backend_name, 16, conv_cases(d), check)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_matches_torch(backend_name, kind, d):
    name = f"{kind}_pool{d}d"
    edu_fn, torch_fn = getattr(F, name), getattr(TF, name)

    def check(case):
        x, kw = case  # continuous random values: no ties (ties have their own test)
        check_against_torch(lambda a: edu_fn(a, **kw), lambda a: torch_fn(a, **kw), [x],
                            backend_name, name=f"{name}{kw}")
        if kind == "max":  # return_indices: torch's flat h*W + w of each maximum
            _, got = edu_fn(t64(x, backend_name, False), **kw, return_indices=True)
            _, want = torch_fn(torch.from_numpy(x), **kw, return_indices=True)
            assert got.dtype == "int64" and not got.requires_grad
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    run_examples(backend_name, 12, pool_cases(d, kind), check)


def test_conv2d_same_padding_even_kernel_is_asymmetric_like_torch(backend_name):
    # total padding 3 for a 4-wide kernel: torch puts 1 on the top/left, 2 on the bottom/right
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 4, 2))
    check_against_torch(lambda a, b: F.conv2d(a, b, padding="same", dilation=(1, 3)),
                        lambda a, b: TF.conv2d(a, b, padding="same", dilation=(1, 3)),
                        [x, w], backend_name, name="conv2d same")


# ---------------------------------------------------- finite differences
GRADCHECK_CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
               [(2, 2, 5, 6), (3, 2, 2, 3), (3,)]),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2),
               [(2, 2, 7), (2, 2, 3), (2,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, stride=1, padding=1), [(1, 2, 4, 5)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 2, stride=1, dilation=2, ceil_mode=True),
                   [(2, 7)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (3, 2), stride=2, padding=1, ceil_mode=True,
                                          count_include_pad=False), [(1, 2, 6, 5)]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, stride=2, padding=1), [(2, 1, 8)]),
}


@pytest.mark.parametrize("op", list(GRADCHECK_CASES))
def test_gradcheck(backend_name, op):
    fn, shapes = GRADCHECK_CASES[op]
    rng = np.random.default_rng(1)
    gradcheck(fn, [t64(rng.standard_normal(s), backend_name) for s in shapes], name=op)


# ------------------------------------------------------ max-pool ties
def check_max_pool_ties(backend_name):
    """Constant inputs: every window is a tie, and the gradient goes to its FIRST element
    (row-major) only. Expected gradients are worked out by hand."""
    def grad_of(x, upstream, **kw):
        x = t64(x, backend_name)
        F.max_pool2d(x, **kw).backward(t64(upstream, backend_name, False))
        return x.grad.numpy()

    # 2x2 windows, stride 2, on a 4x4 constant: the top-left corner of each block
    up = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    want = np.zeros((4, 4))
    want[0, 0], want[0, 2], want[2, 0], want[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(grad_of(np.full((1, 1, 4, 4), 7.0), up, kernel_size=2),
                                  want.reshape(1, 1, 4, 4))
    # overlapping 2x2 windows with stride 1 on a 3x3 constant: window (i, j) starts at (i, j)
    want = np.array([[1.0, 2, 0], [3, 4, 0], [0, 0, 0]]).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(grad_of(np.ones((1, 1, 3, 3)), up, kernel_size=2, stride=1),
                                  want)
    # overlapping windows that share their maximum: the centre receives all four gradients
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    want = np.zeros((1, 1, 3, 3))
    want[0, 0, 1, 1] = 1 + 2 + 3 + 4
    np.testing.assert_array_equal(grad_of(x, up, kernel_size=2, stride=1), want)
    # padding is -inf, never the maximum: on a negative constant each padded window's only
    # real element wins; a 2x2 input with padding 1 -> windows (-1..0)^2, one element each
    want = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(grad_of(np.full((1, 1, 2, 2), -5.0), up, kernel_size=2,
                                          padding=1), want)


def test_max_pool_ties_go_to_first_element(backend_name):
    check_max_pool_ties(backend_name)


def test_max_pool_ties_match_torch_cpu(backend_name):
    x = np.round(np.random.default_rng(2).uniform(0, 2, (2, 2, 6, 5)))  # many ties
    check_against_torch(lambda a: F.max_pool2d(a, 3, stride=1, padding=1),
                        lambda a: TF.max_pool2d(a, 3, stride=1, padding=1), [x], backend_name,
                        name="max_pool2d ties")


# ------------------------------------------------------------ dtypes
@pytest.mark.parametrize("op", ["conv1d", "conv2d", "max_pool2d", "avg_pool1d"])
def test_float32_in_float32_out(backend_name, op):
    rng = np.random.default_rng(3)
    if op.startswith("conv"):
        spatial = (6,) if op == "conv1d" else (5, 6)
        shapes = [(2, 3) + spatial, (4, 3) + (3,) * len(spatial), (4,)]
        args = {"padding": 1, "stride": 2}
    else:
        shapes = [(2, 3, 5, 6) if op == "max_pool2d" else (2, 3, 7)]
        args = {"kernel_size": 2, "padding": 1, "ceil_mode": True}
    inputs = [edu_nn.tensor(rng.standard_normal(s).astype(np.float32), backend=backend_name,
                            requires_grad=True) for s in shapes]
    out = getattr(F, op)(*inputs, **args)
    assert out.dtype == "float32", f"{op}: float32 inputs gave {out.dtype}"
    out.sum().backward()
    for t in inputs:
        assert t.grad.dtype == "float32", f"{op}: a float32 input got a {t.grad.dtype} grad"


# ------------------------------------------------------------ errors
def _t(*shape, dtype="float32"):
    return edu_nn.tensor(np.zeros(shape), dtype=dtype)


ERRORS = [
    # a batch of (H, W) images without a channel dim
    (lambda: F.conv2d(_t(64, 28, 28), _t(16, 1, 3, 3)), ValueError,
     r"\(N, C_in, H, W\).*x\.unsqueeze\(1\)"),
    (lambda: F.conv2d(_t(8, 3, 32, 32), _t(16, 1, 3, 3)), ValueError,
     r"input has 3 channels.*C_in = 1"),
    (lambda: F.conv1d(_t(2, 4, 10), _t(5, 3, 3)), ValueError, r"input has 4 channels.*C_in = 3"),
    (lambda: F.conv2d(_t(1, 1, 2, 2), _t(1, 1, 3, 3)), ValueError,
     r"kernel 3x3 .*larger than the padded input 2x2"),
    (lambda: F.conv2d(_t(1, 1, 4, 4), _t(1, 1, 3, 3), dilation=2), ValueError,
     r"spans 5x5\) is larger than the padded input 4x4"),
    (lambda: F.conv2d(_t(1, 4, 5, 5), _t(2, 2, 3, 3), groups=2), NotImplementedError,
     r"groups=2"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=2, padding="same"), ValueError,
     r"'same' is not supported for strided"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding="full"), ValueError,
     r"'valid' or 'same'"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=0), ValueError,
     r"stride must be positive"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3)), ValueError, r"weight must be 4-d"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(2, 1, 3, 3), _t(3)), ValueError,
     r"bias must have shape \(C_out,\) = \(2,\)"),
    (lambda: F.conv2d(_t(5, 5), _t(1, 1, 3, 3)), ValueError, r"x\.reshape\(1, 1, \*x\.shape\)"),
    (lambda: F.conv2d(_t(1, 1, 5, 5, dtype="int64"), _t(1, 1, 3, 3)), TypeError,
     r"floating-point.*int64"),
    (lambda: F.conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3, dtype="float64")), TypeError,
     r"float32 and float64"),
    (lambda: F.max_pool2d(_t(1, 1, 6, 6), 3, padding=2), ValueError,
     r"padding \(2, 2\) is too large for kernel_size \(3, 3\).*at most \(1, 1\)"),
    (lambda: F.max_pool2d(_t(1, 1, 2, 2), 3), ValueError, r"window .* is larger than the padded"),
    (lambda: F.avg_pool1d(_t(4, 1, 3, 3), 2), ValueError, r"3-d input \(N, C, L\)"),
    (lambda: F.avg_pool2d(_t(1, 1, 4, 4), 2, divisor_override=0), ValueError, r"divisor_override"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), (2, 2, 2)), TypeError,
     r"kernel_size must be an int or a tuple of 2 ints"),
]


@pytest.mark.parametrize("call,error,pattern", ERRORS, ids=[p for _, _, p in ERRORS])
def test_errors_teach(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ------------------------------------------------------- mutation checks
REAL_CONV = conv_module.Conv


class ConvInputGradTimesTwo(REAL_CONV):
    @staticmethod
    def backward(ctx, grad):
        gx, gw, gb, _ = REAL_CONV.backward(ctx, grad)
        return ctx.xp.multiply(gx, 2.0), gw, gb, None


class ConvWeightGradTransposed(REAL_CONV):
    @staticmethod
    def backward(ctx, grad):  # kernel rows and columns swapped: a plausible student bug
        gx, gw, gb, _ = REAL_CONV.backward(ctx, grad)
        return gx, ctx.xp.permute_dims(gw, (0, 1, 3, 2)), gb, None


FIRST_MAX = pooling_module._first_max


def _last_max(xp, device, x, g):
    """A broken tie rule: each window's LAST maximum."""
    cols, _ = FIRST_MAX(xp, device, x, g)
    kk, length = g.kernel[0] * g.kernel[1], g.ho * g.wo
    last = xp.subtract(kk - 1, xp.argmax(xp.flip(cols, axis=1), axis=1))
    positions = xp.arange(length, device=device)
    return cols, xp.add(xp.multiply(last, length), positions)


@pytest.mark.parametrize("broken", [ConvInputGradTimesTwo, ConvWeightGradTransposed])
def test_broken_conv_backward_is_caught(backend_name, broken, monkeypatch):
    monkeypatch.setattr(conv_module, "Conv", broken)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3))
    with pytest.raises(AssertionError, match="gradient"):
        check_against_torch(lambda a, b: F.conv2d(a, b, padding=1),
                            lambda a, b: TF.conv2d(a, b, padding=1), [x, w], backend_name)
    with pytest.raises(GradcheckError):
        gradcheck(lambda a, b: F.conv2d(a, b, padding=1),
                  [t64(x, backend_name), t64(w, backend_name)])


def test_broken_max_pool_tie_rule_is_caught(backend_name, monkeypatch):
    monkeypatch.setattr(pooling_module, "_first_max", _last_max)
    with pytest.raises(AssertionError):
        check_max_pool_ties(backend_name)
