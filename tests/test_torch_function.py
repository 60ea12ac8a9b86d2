"""torch-style custom Functions (``edu_nn.autograd.Function``; issue 15, item 4).

The custom Functions of the official tutorial "Learning PyTorch with Examples"
(https://pytorch.org/tutorials/beginner/pytorch_with_examples.html: MyReLU from
two_layer_net_custom_function.py, LegendrePolynomial3 from polynomial_custom_function.py)
are defined below from the tutorial's source text, with ``torch`` bound either to torch or
to edu_nn, and must give torch's values and gradients. The array-level ``ArrayFunction``
(edu_nn's ops, the assignments) is tested in test_autograd.py and test_gradcheck.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

real_torch = pytest.importorskip("torch")

import edu_nn  # noqa: E402
from edu_nn.grading import gradcheck  # noqa: E402

# The tutorial's classes, verbatim (docstrings shortened).
TUTORIAL_SOURCE = '''
class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)
'''


def tutorial_classes(lib):
    namespace = {"torch": lib}
    exec(TUTORIAL_SOURCE, namespace)  # noqa: S102 - our own constant source text
    return namespace["MyReLU"], namespace["LegendrePolynomial3"]


def make(lib, backend, values, requires_grad=False):
    values = np.asarray(values, dtype=np.float64)
    if lib is real_torch:
        return real_torch.tensor(values, requires_grad=requires_grad)
    return edu_nn.tensor(values, backend=backend, requires_grad=requires_grad)


def two_layer_net(lib, backend, steps=30):
    """The tutorial's two-layer net with MyReLU (sizes reduced, float64, fixed data)."""
    MyReLU, _ = tutorial_classes(lib)
    rng = np.random.default_rng(0)
    x, y = make(lib, backend, rng.standard_normal((16, 10))), \
        make(lib, backend, rng.standard_normal((16, 3)))
    w1 = make(lib, backend, rng.standard_normal((10, 20)), requires_grad=True)
    w2 = make(lib, backend, rng.standard_normal((20, 3)), requires_grad=True)
    learning_rate = 1e-3
    losses = []
    for _ in range(steps):
        relu = MyReLU.apply
        y_pred = relu(x.mm(w1) if hasattr(x, "mm") else x @ w1) @ w2
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad = None
            w2.grad = None
    return losses, w1.detach().numpy(), w2.detach().numpy()


def test_tutorial_myrelu_two_layer_net_trains_like_torch(backend_name):
    want = two_layer_net(real_torch, None)
    got = two_layer_net(edu_nn, backend_name)
    assert want[0][-1] < want[0][0] / 2
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-10, atol=1e-12)


def legendre_fit(lib, backend, steps=200):
    """The tutorial's polynomial fit with LegendrePolynomial3 (float64, fewer steps)."""
    _, LegendrePolynomial3 = tutorial_classes(lib)
    xs = np.linspace(-math.pi, math.pi, 2000)
    x, y = make(lib, backend, xs), make(lib, backend, np.sin(xs))
    a = make(lib, backend, 0.0, requires_grad=True)
    b = make(lib, backend, -1.0, requires_grad=True)
    c = make(lib, backend, 0.0, requires_grad=True)
    d = make(lib, backend, 0.3, requires_grad=True)
    learning_rate = 5e-6
    losses = []
    for _ in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [t.item() for t in (a, b, c, d)]


def test_tutorial_legendre_polynomial_fit_matches_torch(backend_name):
    want = legendre_fit(real_torch, None)
    got = legendre_fit(edu_nn, backend_name)
    assert want[0][-1] < want[0][0]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)


def test_tutorial_functions_pass_gradcheck(backend_name):
    MyReLU, LegendrePolynomial3 = tutorial_classes(edu_nn)
    rng = np.random.default_rng(1)
    x = edu_nn.tensor(rng.uniform(0.2, 1.0, (3, 4)) * rng.choice([-1, 1], (3, 4)),
                      dtype="float64", backend=backend_name, requires_grad=True)
    gradcheck(MyReLU.apply, [x])
    gradcheck(LegendrePolynomial3.apply, [x])


# ------------------------------------------------------------- ctx features
CTX_SOURCE = '''
class ScaledMul(torch.autograd.Function):
    """(a, b, scale) -> a * b * scale, b broadcast; records what ctx showed in forward."""
    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.seen_needs = ctx.needs_input_grad
        ctx.scale = scale
        ctx.save_for_backward(a, b, None)
        return a * b * scale

    @staticmethod
    def backward(ctx, grad_output):
        a, b, nothing = ctx.saved_tensors
        assert nothing is None
        ga = grad_output * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = (grad_output * a * ctx.scale).sum(0) if ctx.needs_input_grad[1] else None
        return ga, gb, None


class ArgmaxAndMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = x.argmax(1)
        ctx.mark_non_differentiable(idx)
        return idx

    @staticmethod
    def backward(ctx, g):
        return None
'''


def ctx_classes(lib):
    namespace = {"torch": lib}
    exec(CTX_SOURCE, namespace)  # noqa: S102
    return namespace["ScaledMul"], namespace["ArgmaxAndMax"]


@pytest.mark.parametrize("b_requires_grad", [True, False])
def test_ctx_needs_input_grad_saved_none_and_non_tensor_args_like_torch(backend_name,
                                                                        b_requires_grad):
    rng = np.random.default_rng(2)
    av, bv, gv = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    results = []
    for lib, backend in ((real_torch, None), (edu_nn, backend_name)):
        ScaledMul, _ = ctx_classes(lib)
        a = make(lib, backend, av, requires_grad=True)
        b = make(lib, backend, bv, requires_grad=b_requires_grad)
        out = ScaledMul.apply(a, b, 2.5)
        (out * make(lib, backend, gv)).sum().backward()
        results.append((out.detach().numpy(), a.grad.numpy(),
                        None if b.grad is None else b.grad.numpy(),
                        tuple(out.grad_fn.needs_input_grad if lib is edu_nn
                              else out.grad_fn.needs_input_grad)))
    want, got = results
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    assert (got[2] is None) == (want[2] is None)
    if want[2] is not None:
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    assert got[3] == want[3] == (True, b_requires_grad, False)


def test_mark_non_differentiable_output_does_not_require_grad(backend_name):
    _, ArgmaxAndMax = ctx_classes(edu_nn)
    x = edu_nn.tensor([[1.0, 3.0], [4.0, 2.0]], backend=backend_name, requires_grad=True)
    idx = ArgmaxAndMax.apply(x)
    assert not idx.requires_grad and idx.grad_fn is None
    assert idx.tolist() == [1, 0]


def test_grad_fn_is_named_after_the_function_and_graph_recording_follows_no_grad(
        backend_name):
    MyReLU, _ = tutorial_classes(edu_nn)
    x = edu_nn.tensor([-1.0, 2.0], backend=backend_name, requires_grad=True)
    y = MyReLU.apply(x)
    name = y.grad_fn.name
    assert (name() if callable(name) else name) == "MyReLUBackward" and y.requires_grad
    with edu_nn.no_grad():
        assert MyReLU.apply(x).grad_fn is None


def test_setup_context_style(backend_name):
    class Cube(edu_nn.autograd.Function):
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = edu_nn.tensor([1.0, -2.0], dtype="float64", backend=backend_name, requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_errors_teach(backend_name):
    class TwoGrads(edu_nn.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class ReturnsArray(edu_nn.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.numpy()

    x = edu_nn.tensor([1.0], backend=backend_name, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 2 gradient"):
        TwoGrads.apply(x).sum().backward()
    with pytest.raises(TypeError, match="must return an edu_nn Tensor"):
        ReturnsArray.apply(x.detach())
    with pytest.raises(RuntimeError, match=r"\.apply"):
        TwoGrads()


def test_a_saved_input_changed_in_place_raises_naming_the_function(backend_name):
    _, LegendrePolynomial3 = tutorial_classes(edu_nn)
    x = edu_nn.tensor([0.5, 1.0], backend=backend_name, requires_grad=True)
    h = x * 1.0
    y = LegendrePolynomial3.apply(h)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="LegendrePolynomial3Backward"):
        y.sum().backward()


def test_the_two_function_classes_are_distinct_and_exported():
    assert edu_nn.autograd.Function is edu_nn.Function
    assert edu_nn.ArrayFunction is edu_nn.autograd.ArrayFunction
    assert not issubclass(edu_nn.Function, edu_nn.ArrayFunction)
