"""In-place ops and ``.data`` (issue 15, items 1 and 2), against torch on every backend.

Each scenario is written once as a function of a module (``torch`` or ``edu_nn``) and run on
both; values, gradients, which calls raise, and the ``_version`` counters must agree. The
expected values come from torch (float64, random inputs, random upstream gradients), never
from edu_nn's own output.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edu_nn  # noqa: E402

RNG = np.random.default_rng(15)
X0 = RNG.standard_normal((3, 4))
W0 = RNG.standard_normal((3, 4))
V0 = RNG.standard_normal((3, 4))
G0 = RNG.standard_normal((3, 4))   # a random upstream gradient
G44 = RNG.standard_normal((4, 4))


class Side:
    """Build tensors on one side (torch, or edu_nn on one backend), in float64."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lib = torch if name == "torch" else edu_nn

    def t(self, values, requires_grad=False):
        if self.name == "torch":
            return torch.tensor(np.asarray(values), dtype=torch.float64,
                                requires_grad=requires_grad)
        return edu_nn.tensor(np.asarray(values), dtype="float64", backend=self.name,
                             requires_grad=requires_grad)

    def no_grad(self):
        return self.lib.no_grad()


def np_of(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().numpy()


def both(backend_name, scenario):
    """Run ``scenario(side)`` on torch and on edu_nn; it returns a dict of results."""
    return scenario(Side("torch")), scenario(Side(backend_name))


def assert_same(want: dict, got: dict) -> None:
    assert want.keys() == got.keys()
    for k in want:
        w, g = want[k], got[k]
        if isinstance(w, (torch.Tensor, edu_nn.Tensor)) or isinstance(g, (torch.Tensor,
                                                                          edu_nn.Tensor)):
            w, g = np_of(w), np_of(g)
            assert (w is None) == (g is None), k
            if w is not None:
                assert w.shape == g.shape, (k, w.shape, g.shape)
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=k)
        else:
            assert g == w, (k, w, g)


def _raises(fn) -> str | None:
    """The kind of error fn raises (None when it does not): torch and edu_nn must agree."""
    try:
        fn()
    except RuntimeError:
        return "RuntimeError"
    return None


# ------------------------------------------------------------ the ops' values
INPLACE_CASES = {
    "add_": lambda s, x, v: x.add_(v),
    "add_alpha": lambda s, x, v: x.add_(v, alpha=-0.5),
    "sub_": lambda s, x, v: x.sub_(v),
    "sub_alpha": lambda s, x, v: x.sub_(v, alpha=2.0),
    "mul_": lambda s, x, v: x.mul_(v),
    "div_": lambda s, x, v: x.div_(v),
    "mul_scalar": lambda s, x, v: x.mul_(3.0),
    "iadd": lambda s, x, v: x.__iadd__(v),
    "isub": lambda s, x, v: x.__isub__(v),
    "imul": lambda s, x, v: x.__imul__(v),
    "itruediv": lambda s, x, v: x.__itruediv__(v),
    "ipow": lambda s, x, v: x.__ipow__(2.0),
    "iadd_broadcast": lambda s, x, v: x.__iadd__(v[0]),
    "zero_": lambda s, x, v: x.zero_(),
    "fill_": lambda s, x, v: x.fill_(2.5),
    "copy_": lambda s, x, v: x.copy_(v),
    "copy_broadcast": lambda s, x, v: x.copy_(v[1]),
    "clamp_": lambda s, x, v: x.clamp_(-0.3, 0.4),
    "clamp_min": lambda s, x, v: x.clamp_(min=0.1),
    "setitem_row": lambda s, x, v: x.__setitem__(1, v[0]),
    "setitem_slice": lambda s, x, v: x.__setitem__((slice(None), slice(1, 3)), 7.0),
    "setitem_mask": lambda s, x, v: x.__setitem__(x > 0, 0.0),
    "setitem_index": lambda s, x, v: x.__setitem__(([0, 2], [1, 3]), v[0, :2]),
}


@pytest.mark.parametrize("case", sorted(INPLACE_CASES))
def test_inplace_values_equal_torch_and_return_self(backend_name, case):
    def scenario(s):
        x = s.t(X0)
        out = INPLACE_CASES[case](s, x, s.t(V0))
        return {"x": x, "is_self": out is x if out is not None else True,
                "version": x._version}
    assert_same(*both(backend_name, scenario))


@pytest.mark.parametrize("case", sorted(INPLACE_CASES))
def test_inplace_on_a_non_leaf_is_recorded_like_torch(backend_name, case):
    """y = w * 2 (a non-leaf); y.op_(v) with v requiring grad; then z = (y * g).sum():
    the gradients of w and v equal torch's."""
    def scenario(s):
        w, v = s.t(W0, requires_grad=True), s.t(V0, requires_grad=True)
        y = w * 2.0
        INPLACE_CASES[case](s, y, v)
        (y * s.t(G0)).sum().backward()
        return {"y": y, "w.grad": w.grad, "v.grad": v.grad, "is_leaf": y.is_leaf,
                "requires_grad": y.requires_grad}
    assert_same(*both(backend_name, scenario))


def test_an_op_that_used_the_old_version_gets_its_gradient_there(backend_name):
    """c = b + 1 uses b before b.mul_(5): torch's edges send c's gradient to b's old node,
    not through the mul_ (which would multiply it by 5)."""
    def scenario(s):
        a = s.t(X0, requires_grad=True)
        b = a * 2.0
        c = b + 1.0
        b.mul_(5.0)
        (c * s.t(G0)).sum().backward(retain_graph=True)
        first = a.grad.clone()
        (b * s.t(V0)).sum().backward()
        return {"first": first, "total": a.grad}
    assert_same(*both(backend_name, scenario))


def test_inplace_into_a_fresh_tensor_builds_a_graph(backend_name):
    """out = zeros(3, 4); out[i] = f(w)[i] row by row (the RNN-outputs idiom)."""
    def scenario(s):
        w = s.t(W0, requires_grad=True)
        out = s.t(np.zeros((3, 4)))
        for i in range(3):
            out[i] = (w[i] * w[i]).tanh()
        (out * s.t(G0)).sum().backward()
        return {"out": out, "w.grad": w.grad}
    assert_same(*both(backend_name, scenario))


# ------------------------------------------------------------------ the errors
LEAF_CASES = ["add_", "mul_", "zero_", "fill_", "copy_", "clamp_", "iadd", "isub",
              "setitem_row", "setitem_mask"]


@pytest.mark.parametrize("case", LEAF_CASES)
def test_a_leaf_that_requires_grad_raises_outside_no_grad(backend_name, case):
    def scenario(s):
        w = s.t(W0, requires_grad=True)
        outside = _raises(lambda: INPLACE_CASES[case](s, w, s.t(V0)))
        unchanged = w.detach().clone()
        with s.no_grad():
            INPLACE_CASES[case](s, w, s.t(V0))
        return {"outside": outside, "unchanged": unchanged, "after_no_grad": w,
                "is_leaf": w.is_leaf, "requires_grad": w.requires_grad}
    want, got = both(backend_name, scenario)
    assert want["outside"] == "RuntimeError"
    assert_same(want, got)


def test_leaf_error_message_is_torchs(backend_name):
    w = edu_nn.tensor([1.0, 2.0], backend=backend_name, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used "
                                           "in an in-place operation"):
        w.add_(1.0)


SAVED_CASES = {
    # (what is computed, what is changed before backward) -> torch raises or not
    "mul saves its input": (lambda a, w: (a * w), "w"),
    "add saves nothing": (lambda a, w: (a + w), "w"),
    "matmul saves both": (lambda a, w: (a.T @ w), "w"),
    "exp saves its output": (lambda a, w: (a * w).exp(), "out"),
    "tanh saves its output": (lambda a, w: (a + w).tanh(), "out"),
    "pow saves its input": (lambda a, w: (w ** 2.0), "w"),
}


@pytest.mark.parametrize("case", sorted(SAVED_CASES))
def test_changing_a_saved_tensor_raises_at_backward_like_torch(backend_name, case):
    fn, changed = SAVED_CASES[case]

    def scenario(s):
        a, w = s.t(X0, requires_grad=True), s.t(W0, requires_grad=True)
        out = fn(a, w)
        if changed == "w":
            with s.no_grad():
                w.mul_(2.0)
        else:
            out.add_(1.0)
        upstream = s.t(G44[:out.shape[0], :out.shape[1]])
        error = _raises(lambda: (out * upstream).sum().backward())
        return {"error": error, "a.grad": a.grad if error is None else None}
    assert_same(*both(backend_name, scenario))


def test_saved_tensor_error_names_the_op(backend_name):
    w = edu_nn.tensor(W0, backend=backend_name, requires_grad=True)
    y = (w * edu_nn.tensor(X0, backend=backend_name)).sum()
    with edu_nn.no_grad():
        w.sub_(0.1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*MulBackward"):
        y.backward()
    e = edu_nn.tensor(X0, backend=backend_name, requires_grad=True).exp()
    e.mul_(2.0)
    with pytest.raises(RuntimeError, match="output 0 of ExpBackward.*mul_"):
        e.sum().backward()


def test_inplace_cannot_change_shape_or_make_an_int_tensor_float(backend_name):
    def scenario(s):
        x = s.t(X0[0])
        ints = torch.tensor([1, 2]) if s.name == "torch" else \
            edu_nn.tensor([1, 2], backend=s.name)
        return {"broadcast_up": _raises(lambda: x.add_(s.t(X0))),
                "float_into_int": _raises(lambda: ints.mul_(1.5)),
                "int_stays_int": str(ints.add_(3).dtype).replace("torch.", "")}
    assert_same(*both(backend_name, scenario))


# --------------------------------------------------------------------- .data
def test_data_is_a_detached_tensor_sharing_storage(backend_name):
    def scenario(s):
        p = s.t(W0, requires_grad=True)
        d = p.data
        facts = {"data_requires_grad": d.requires_grad, "data_is_leaf": d.is_leaf}
        d.add_(1.0)                     # changes p
        p.data.mul_(2.0)                # changes p and d
        p.data -= s.t(V0)               # __isub__ on .data, then p.data = ...
        det = p.detach()
        with s.no_grad():
            p.add_(0.5)                 # changes d and det too
        det.sub_(0.25)                  # detach() shares storage too
        facts.update({"p": p, "d": d, "det": det, "p_requires_grad": p.requires_grad})
        return facts
    assert_same(*both(backend_name, scenario))


def test_data_assignment_and_grad_data_zero(backend_name):
    def scenario(s):
        p = s.t(W0, requires_grad=True)
        (p * s.t(G0)).sum().backward()
        p.grad.data.zero_()
        zeroed = p.grad.clone()
        p.data = s.t(V0[:2])            # a new shape is allowed, as in torch
        return {"zeroed": zeroed, "p": p, "shape": tuple(p.shape),
                "requires_grad": p.requires_grad, "is_leaf": p.is_leaf}
    assert_same(*both(backend_name, scenario))


def test_manual_sgd_loop_trains_with_every_update_idiom(backend_name):
    """The issue's silent failure: `for p in params: p -= lr * p.grad` must change p."""
    idioms = {
        "isub": lambda p, lr: p.__isub__(lr * p.grad),
        "data_isub": lambda p, lr: setattr(p, "data", p.data.__isub__(lr * p.grad.data)),
        "data_add_": lambda p, lr: p.data.add_(p.grad.data, alpha=-lr),
        "sub_": lambda p, lr: p.sub_(lr * p.grad),
    }

    def scenario(s, update):
        w = s.t(W0, requires_grad=True)
        x, y = s.t(X0), s.t(V0)
        losses = []
        for _ in range(5):
            loss = ((x * w).tanh() - y).pow(2.0).sum()
            loss.backward()
            losses.append(loss.item())
            with s.no_grad():
                update(w, 0.05)
            w.grad = None
        return {"losses": [round(v, 10) for v in losses], "w": w}
    for name, update in idioms.items():
        want = scenario(Side("torch"), update)
        got = scenario(Side(backend_name), update)
        assert want["losses"][-1] < want["losses"][0], name
        assert_same(want, got)


def test_uniform_and_normal_fill_in_place(backend_name):
    edu_nn.manual_seed(0)
    x = edu_nn.zeros(2000, dtype="float64", backend=backend_name)
    assert x.uniform_(-2.0, 3.0) is x
    values = x.numpy()
    assert values.min() >= -2.0 and values.max() < 3.0 and abs(values.mean() - 0.5) < 0.15
    x.normal_(1.0, 2.0)
    values = x.numpy()
    assert abs(values.mean() - 1.0) < 0.2 and abs(values.std() - 2.0) < 0.2
    w = edu_nn.zeros(3, backend=backend_name, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.uniform_()
    with edu_nn.no_grad():
        w.normal_()
    assert w.requires_grad and w.is_leaf


def test_version_counter_counts_inplace_changes(backend_name):
    def scenario(s):
        x = s.t(X0)
        versions = [x._version]
        x.add_(1.0)
        versions.append(x._version)
        x[0] = 2.0
        versions.append(x._version)
        d = x.detach()
        d.mul_(2.0)
        versions.append(x._version)
        return {"versions": versions}
    want, got = both(backend_name, scenario)
    assert got["versions"][:3] == want["versions"][:3] == [0, 1, 2]
    assert got["versions"][3] == want["versions"][3] == 3  # detach() shares the counter


VIEW_CASES = {
    "row_zero_": lambda x: x[0].zero_(),
    "column_add_": lambda x: x[:, 1].add_(2.0),
    "block_mul_": lambda x: x[1:, 2:].mul_(3.0),
    "view_of_view": lambda x: x[1][1:3].fill_(-1.0),
    "setitem_on_view": lambda x: x[2].__setitem__(0, 9.0),
}


@pytest.mark.parametrize("case", sorted(VIEW_CASES))
def test_inplace_on_a_basic_index_view_reaches_the_base_like_torch(backend_name, case):
    def scenario(s):
        x = s.t(X0)
        VIEW_CASES[case](x)
        w = s.t(W0, requires_grad=True)
        y = w * 1.5
        VIEW_CASES[case](y)                        # recorded through the view
        (y * s.t(G0)).sum().backward()
        leaf_error = _raises(lambda: VIEW_CASES[case](s.t(W0, requires_grad=True)))
        return {"x": x, "y": y, "w.grad": w.grad, "leaf_error": leaf_error}
    assert_same(*both(backend_name, scenario))


def test_views_see_later_changes_of_the_base_in_torch_but_not_in_edu_nn(backend_name):
    """A documented difference (docs/torch_compat.md): an in-place op on a basic-index view
    is written back into its base (tested above), but a view taken earlier does not see a
    later in-place change of its base, and reshape/transpose results are not views."""
    x = edu_nn.tensor(X0, backend=backend_name)
    row, flat = x[0], x.reshape(-1)
    x.add_(1.0)
    np.testing.assert_array_equal(row.numpy(), X0[0])
    np.testing.assert_array_equal(flat.numpy(), X0.reshape(-1))
    flat.zero_()
    np.testing.assert_array_equal(x.numpy(), X0 + 1.0)
