"""The autodiff core's semantics: graph shapes, accumulation, freeing, grad modes, errors.

Every expected value here is derived by hand in a comment next to it.
"""
import numpy as np
import pytest

import edu_nn
from edu_nn import ArrayFunction as Function
from edu_nn.autograd.engine import sum_to_shape, topological_order
from edu_nn.grading import GradcheckError, gradcheck
from opcheck import DEVICE, skip_unless_device


def t(values, **kw):
    return edu_nn.tensor(values, dtype="float64", **kw)


def test_seed_worked_example_half_squared_error():
    # L = 1/2 (x - w)^2 at x = 5, w = 3: L = 1/2 * 2^2 = 2; dL/dx = x - w = 2; dL/dw = -(x - w) = -2
    x = t(5.0, requires_grad=True)
    w = t(3.0, requires_grad=True)
    L = 0.5 * (x - w) ** 2
    L.backward()
    assert L.item() == 2.0
    assert x.grad.item() == 2.0
    assert w.grad.item() == -2.0


def test_reused_node_gradients_add_up():
    # y = x * x uses x twice: dy/dx = x + x = 2x
    x = t([1.5, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -4.0, 6.0])


def test_diamond_graph():
    # b = 2a, c = a^2, d = b * c = 2a^3: dd/da = 6a^2 = 54 at a = 3
    a = t(3.0, requires_grad=True)
    b = a * 2
    c = a ** 2
    d = b * c
    d.backward()
    assert a.grad.item() == pytest.approx(54.0, rel=1e-15)


def test_topological_order_visits_each_node_once_after_its_consumers():
    a = t(1.0, requires_grad=True)
    b = a.exp()
    c = b * b + b
    order = topological_order(c.grad_fn)
    assert len(order) == len({id(n) for n in order}) == 3  # Add, Mul, Exp
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if inp is not None and inp.grad_fn is not None:
                assert position[id(node)] < position[id(inp.grad_fn)]


def test_grad_accumulates_across_backward_calls_like_torch():
    x = t([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])  # 3 + 3
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_second_backward_through_freed_graph_raises_like_torch():
    x = t([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()  # Mul saves its inputs for backward
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_second_backward_without_saved_arrays_works_like_torch():
    # torch only fails when a freed node needs its saved tensors; add and sum save none
    x = t([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_retain_graph_allows_second_backward():
    x = t([2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0  # 2 * (2x) at x = 2


def test_no_grad_records_nothing_and_restores():
    x = t([1.0], requires_grad=True)
    with edu_nn.no_grad():
        y = x * 2
        assert not edu_nn.is_grad_enabled()
        with edu_nn.enable_grad():
            z = x * 2
    assert edu_nn.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @edu_nn.no_grad()
    def evaluate(v):
        return v * 2
    assert not evaluate(x).requires_grad


def test_no_grad_restores_after_exception():
    with pytest.raises(ValueError):
        with edu_nn.no_grad():
            raise ValueError
    assert edu_nn.is_grad_enabled()


def test_detach_cuts_the_graph():
    # y = stop(x) * x: dy/dx = stop(x) = x (only one path), not 2x
    x = t([3.0], requires_grad=True)
    x_const = x.detach()
    assert not x_const.requires_grad and x_const.grad_fn is None
    (x_const * x).sum().backward()
    assert x.grad.item() == 3.0


def test_retain_grad_on_intermediate():
    x = t([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])  # 2h
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])  # 2h * 3


def test_leaf_backward_with_gradient_sets_grad():
    x = t([1.0, 2.0], requires_grad=True)
    x.backward(t([0.5, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, -1.0])


def test_backward_of_non_scalar_needs_gradient():
    x = t([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2,\).*\.sum\(\)"):
        y.backward()
    y.backward(t([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_shape_must_match():
    x = t([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\).*\(2,\)"):
        (x * 2).backward(t([1.0, 1.0, 1.0]))


def test_backward_gradient_on_another_backend_is_refused(backend_name):
    """Before, the gradient's array went straight into the op's backward, to fail there
    with the library's own error (or to be mixed in silently)."""
    other = "torch" if backend_name == "numpy" else "numpy"
    pytest.importorskip(other)
    y = edu_nn.tensor([1.0, 2.0], requires_grad=True, backend=backend_name) * 2
    with pytest.raises(RuntimeError, match=rf"gradient is on backend '{other}'.*"
                                           rf"tensor is on backend '{backend_name}'.*\.to\("):
        y.backward(edu_nn.tensor([1.0, 1.0], backend=other))


def test_backward_gradient_on_another_device_is_refused(backend_name):
    """Runs where EDU_NN_TEST_DEVICE names a device the backend has (a GPU check)."""
    if DEVICE == "cpu":
        pytest.skip("needs EDU_NN_TEST_DEVICE (e.g. cuda) on a machine that has that device")
    skip_unless_device(backend_name)
    x = edu_nn.tensor([1.0, 2.0], requires_grad=True, backend=backend_name, device=DEVICE)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"gradient is on .*device 'cpu'.*\.to\("):
        y.backward(edu_nn.tensor([1.0, 1.0], backend=backend_name))
    y.backward(edu_nn.tensor([1.0, 3.0], backend=backend_name, device=y.device))
    assert x.grad.device == x.device != "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 6.0])


def test_backward_on_tensor_without_grad_explains():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad.*requires_grad=True"):
        (x * 2).sum().backward()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating-point.*int64"):
        edu_nn.tensor([1, 2], requires_grad=True)


def test_dtype_mismatch_promotes_in_arithmetic_but_not_in_matmul():
    """Issue 15 superseded the old no-promotion rule: elementwise ops promote as torch does
    (tests/test_promotion.py checks the table against torch); matmul refuses, as torch."""
    a = edu_nn.tensor([[1.0]], dtype="float32")
    b = edu_nn.tensor([[1.0]], dtype="float64")
    assert (a + b).dtype == "float64"
    with pytest.raises(TypeError, match="float32 and float64"):
        a @ b


def test_python_scalars_keep_the_tensor_dtype():
    x = edu_nn.tensor([1.0, 2.0])  # default float32
    for y in (x + 1, 2 - x, 3 * x, 1 / x, x ** 2, 2 ** x, x / 2.5):
        assert y.dtype == "float32"


def test_default_dtype_is_float32_and_settable():
    assert edu_nn.tensor([1.0]).dtype == "float32"
    assert edu_nn.tensor([1]).dtype == "int64"
    assert edu_nn.tensor(np.zeros(2)).dtype == "float64"  # arrays keep their dtype, as torch
    edu_nn.set_default_dtype("float64")
    assert edu_nn.tensor([1.0]).dtype == "float64"
    with pytest.raises(ValueError, match="float32.*float64"):
        edu_nn.set_default_dtype("int64")


def test_broadcast_gradients_are_summed_centrally():
    # z = a + b with a: (2, 3), b: (3,): dz/db sums over the broadcast axis -> 2 per element
    a = t(np.ones((2, 3)), requires_grad=True)
    b = t(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])
    assert a.grad.shape == (2, 3)


def test_sum_to_shape_unit():
    xp = edu_nn.get_backend("numpy")
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(sum_to_shape(xp, g, (3, 1)), g.sum(0).sum(1, keepdims=True))
    np.testing.assert_array_equal(sum_to_shape(xp, g, ()), g.sum())
    assert sum_to_shape(xp, g, (2, 3, 4)) is g
    with pytest.raises(ValueError, match="cannot sum"):
        sum_to_shape(xp, g, (5,))


def test_deep_chain_does_not_recurse():
    x = t(1.0, requires_grad=True)
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


# ------------------------------------------------------------ student Functions
class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.multiply(x, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.xp.multiply(grad, ctx.xp.multiply(x, 2.0))


def test_a_student_function_works_and_passes_gradcheck():
    x = t([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    y = Square.apply(x)
    assert y.grad_fn.name() == "SquareBackward"
    assert gradcheck(Square.apply, [x])


def test_a_wrong_student_function_fails_gradcheck():
    class BadSquare(Square):
        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return ctx.xp.multiply(grad, x)  # forgot the 2
    x = t([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    with pytest.raises(GradcheckError, match="(?s)BadSquare.*factor of 2"):
        gradcheck(BadSquare.apply, [x])


def test_backward_returning_wrong_count_is_explained():
    class TwoArgs(Function):
        @staticmethod
        def forward(ctx, a, b):
            return ctx.xp.add(a, b)

        @staticmethod
        def backward(ctx, grad):
            return grad  # should return two gradients
    a, b = t([1.0], requires_grad=True), t([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="TwoArgs.backward returned 1 gradient.*took 2"):
        TwoArgs.apply(a, b).sum().backward()


def test_backward_returning_wrong_shape_names_the_function():
    class Transposes(Function):
        @staticmethod
        def forward(ctx, a):
            return ctx.xp.permute_dims(a, (1, 0))

        @staticmethod
        def backward(ctx, grad):
            return grad  # forgot to transpose back
    a = t(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Transposes.backward.*\(3, 2\).*\(2, 3\).*transposed"):
        Transposes.apply(a).sum().backward()


def test_backward_returning_wrong_dtype_is_an_error():
    class Float64Grad(Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, grad):
            return ctx.xp.astype(grad, "float64")
    a = edu_nn.tensor([1.0], requires_grad=True)  # float32
    with pytest.raises(RuntimeError, match="float64 gradient.*float32"):
        Float64Grad.apply(a).sum().backward()


# ---------------------------------------------------------------- anomaly mode
def test_anomaly_mode_names_the_forward_op_that_made_nan():
    x = t([-1.0, 1.0])
    assert np.isnan(x.log().numpy()[0])  # off by default: no error
    with edu_nn.detect_anomaly():
        with pytest.raises(FloatingPointError, match="Log produced NaN or inf"):
            x.log()


def test_anomaly_mode_names_the_backward_that_made_inf():
    x = t([0.0, 4.0], requires_grad=True)
    with edu_nn.detect_anomaly():
        y = x.sqrt().sum()  # forward is finite: sqrt(0) = 0
        with pytest.raises(FloatingPointError, match=r"Sqrt.backward returned NaN or inf[\s\S]*test_autograd"):
            y.backward()
    assert not edu_nn.is_anomaly_enabled()
