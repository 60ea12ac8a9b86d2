"""Ops added for torch's tutorials (issue 15): sin cos square log2 log10 cumsum, sort and
topk values, mm bmm mv dot. Forward against NumPy float64 references, gradients by finite
differences with random upstream gradients on every backend (the opcheck factory), plus
the indices, errors and torch's own values where torch defines a convention.
"""
import numpy as np
import pytest
from hypothesis import strategies as st

import edu_nn
from opcheck import (SEEDS, SHAPES, Case, OpSpec, away_from, op_test_module, positive,
                     unary_cases, values)


def dim_cases(make=values, extra=st.just({})):
    """An array of at least 1 dim and a valid ``dim`` (negatives too)."""
    @st.composite
    def build(draw):
        shape = draw(SHAPES.filter(lambda s: len(s) >= 1))
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        return Case((make(np.random.default_rng(draw(SEEDS)), shape),), {"dim": dim, **draw(extra)})
    return build()


@st.composite
def topk_cases(draw):
    case = draw(dim_cases(extra=st.fixed_dictionaries({"largest": st.booleans()})))
    n = case.arrays[0].shape[case.kwargs["dim"]]
    case.kwargs["k"] = draw(st.integers(0, n))
    return case


def np_topk(x, dim, k, largest):
    s = np.sort(x, axis=dim)
    if largest:
        s = np.flip(s, axis=dim)
    return np.take(s, np.arange(k), axis=dim)


def fixed_rank_cases(shapes):
    """``shapes(m, k, n, b)`` -> operand shapes; sizes drawn 1..4."""
    @st.composite
    def build(draw):
        m, k, n, b = (draw(st.integers(1, 4)) for _ in range(4))
        rng = np.random.default_rng(draw(SEEDS))
        return Case(tuple(values(rng, s) for s in shapes(m, k, n, b)))
    return build()


SPECS = [
    OpSpec("sin", edu_nn.sin, np.sin, unary_cases(lambda r, s: values(r, s, -4, 4))),
    OpSpec("cos", edu_nn.cos, np.cos, unary_cases(lambda r, s: values(r, s, -4, 4))),
    OpSpec("square", edu_nn.square, np.square, unary_cases()),
    OpSpec("log2", edu_nn.log2, np.log2, unary_cases(positive)),
    OpSpec("log10", edu_nn.log10, np.log10, unary_cases(positive)),
    OpSpec("cumsum", lambda x, dim: edu_nn.cumsum(x, dim),
           lambda x, dim: np.cumsum(x, axis=dim), dim_cases()),
    OpSpec("sort_values", lambda x, dim, descending: edu_nn.sort(x, dim, descending).values,
           lambda x, dim, descending: (np.flip(np.sort(x, axis=dim), axis=dim) if descending
                                       else np.sort(x, axis=dim)),
           dim_cases(extra=st.fixed_dictionaries({"descending": st.booleans()}))),
    OpSpec("topk_values", lambda x, dim, k, largest: edu_nn.topk(x, k, dim, largest).values,
           lambda x, dim, k, largest: np_topk(x, dim, k, largest), topk_cases()),
    OpSpec("mm", edu_nn.mm, np.matmul, fixed_rank_cases(lambda m, k, n, b: [(m, k), (k, n)])),
    OpSpec("bmm", edu_nn.bmm, np.matmul,
           fixed_rank_cases(lambda m, k, n, b: [(b, m, k), (b, k, n)])),
    OpSpec("mv", edu_nn.mv, np.matmul, fixed_rank_cases(lambda m, k, n, b: [(m, k), (k,)])),
    OpSpec("dot", edu_nn.dot, np.dot, fixed_rank_cases(lambda m, k, n, b: [(k,), (k,)])),
]

globals().update(op_test_module(SPECS))


# ---------------------------------------------------- against torch's own values
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_topk_indices_match_torch_including_ties(backend_name, descending):
    """torch's stable sort keeps tied values in their original order; so must ours."""
    x = np.array([[3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 5.0, 5.0, -1.0, 0.0]])
    got = edu_nn.sort(edu_nn.tensor(x, backend=backend_name), dim=1, descending=descending)
    want = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    got_k = edu_nn.topk(edu_nn.tensor(x, backend=backend_name), 3, dim=1)
    want_k = torch.topk(torch.tensor(x), 3, dim=1)
    np.testing.assert_array_equal(got_k.values.numpy(), want_k.values.numpy())


def test_cumsum_of_ints_is_int64_and_floor_has_zero_gradient(backend_name):
    x = edu_nn.tensor([1, 2, 3], dtype="int32", backend=backend_name)
    assert edu_nn.cumsum(x, 0).dtype == torch.cumsum(torch.tensor([1, 2, 3], dtype=torch.int32), 0).dtype.__str__().split(".")[1]
    f = edu_nn.tensor([1.5, -0.5], backend=backend_name, requires_grad=True)
    edu_nn.floor(f).sum().backward()
    np.testing.assert_array_equal(f.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(edu_nn.floor(f).detach().numpy(), [1.0, -1.0])


def test_fixed_rank_products_refuse_other_ranks():
    a = edu_nn.ones(2, 3)
    with pytest.raises(ValueError, match="mm: expects two 2-d"):
        edu_nn.mm(a, edu_nn.ones(3))
    with pytest.raises(ValueError, match="bmm: batch sizes differ"):
        edu_nn.bmm(edu_nn.ones(2, 2, 3), edu_nn.ones(3, 3, 1))
    with pytest.raises(IndexError, match="topk: k=4 is out of range"):
        edu_nn.topk(a, 4)
    with pytest.raises(TypeError, match="sin: expected a floating-point"):
        edu_nn.sin(edu_nn.tensor([1, 2]))


# ------------------------------------- composites from the census (gradients by opcheck)
@st.composite
def repeat_cases(draw):
    shape = draw(SHAPES)
    extra = draw(st.integers(0, 1))
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(len(shape) + extra))
    return Case((values(np.random.default_rng(draw(SEEDS)), shape),), {"sizes": sizes})


@st.composite
def interleave_cases(draw):
    shape = draw(SHAPES.filter(lambda s: len(s) >= 1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    repeats = draw(st.integers(1, 3))
    return Case((values(np.random.default_rng(draw(SEEDS)), shape),),
                {"repeats": repeats, "dim": dim})


def norm_cases():
    @st.composite
    def build(draw):
        shape = draw(SHAPES.filter(lambda s: len(s) >= 1))
        dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
        p = draw(st.sampled_from([1, 2, 3]))
        x = away_from(values(np.random.default_rng(draw(SEEDS)), shape))  # |x| kinks at 0
        return Case((x,), {"p": p, "dim": dim, "keepdim": draw(st.booleans())})
    return build()


def np_norm(x, p, dim, keepdim):
    return np.sum(np.abs(x) ** p, axis=dim, keepdims=keepdim) ** (1.0 / p)


SPECS_COMPOSITE = [
    OpSpec("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: np.tile(x, sizes),
           repeat_cases()),
    OpSpec("repeat_interleave", lambda x, repeats, dim: x.repeat_interleave(repeats, dim),
           lambda x, repeats, dim: np.repeat(x, repeats, axis=dim), interleave_cases()),
    OpSpec("norm", lambda x, p, dim, keepdim: x.norm(p, dim, keepdim), np_norm, norm_cases(),
           forward_rtol=1e-9),
    OpSpec("diag_of_vector", edu_nn.diag, np.diag,
           unary_cases(shapes=st.integers(1, 4).map(lambda n: (n,)))),
    OpSpec("diag_of_matrix", edu_nn.diag, np.diag,
           unary_cases(shapes=st.tuples(st.integers(1, 4), st.integers(1, 4)))),
]
_composite_tests = op_test_module(SPECS_COMPOSITE)
test_composite_forward = _composite_tests["test_forward_matches_numpy_reference"]
test_composite_gradient = _composite_tests["test_gradient_matches_finite_differences"]
test_composite_float32 = _composite_tests["test_float32_in_float32_out"]


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_nonzero_unique_match_torch(backend_name, indexing):
    got = edu_nn.meshgrid(edu_nn.arange(3, backend=backend_name),
                          edu_nn.arange(4, backend=backend_name), indexing=indexing)
    want = torch.meshgrid(torch.arange(3), torch.arange(4), indexing=indexing)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 2.0]])
    np.testing.assert_array_equal(edu_nn.tensor(x, backend=backend_name).nonzero().numpy(),
                                  torch.tensor(x).nonzero().numpy())
    vals, counts = edu_nn.tensor(x, backend=backend_name).unique(return_counts=True)
    tv, tc = torch.tensor(x).unique(return_counts=True)
    np.testing.assert_array_equal(vals.numpy(), tv.numpy())
    np.testing.assert_array_equal(counts.numpy(), tc.numpy())
    assert edu_nn.tensor(x, backend=backend_name).new_zeros(2, 3).dtype == "float64"
