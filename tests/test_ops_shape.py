"""Shape ops: forward vs NumPy, gradcheck over drawn shapes and arguments, dtype kept; plus
hand-worked examples (split/chunk sizes as torch gives them, pad's last-dim-first order,
x.T / x.mT / x.view(-1)) and the error messages."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import edu_nn
from edu_nn.backends.numpy_backend import NumpyBackend
from opcheck import SEEDS, SHAPES, Case, OpSpec, op_test_module, values

NONEMPTY = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def case(draw, in_shape, **kwargs) -> Case:
    """One float64 input of shape ``in_shape`` with the op's keyword arguments."""
    return Case((values(np.random.default_rng(draw(SEEDS)), in_shape),), kwargs)


def dim_of(draw, ndim: int, extra: int = 0) -> int:
    """A dim for ``ndim`` dims (plus ``extra`` positions, for unsqueeze/stack), often negative."""
    return draw(st.integers(-(ndim + extra), ndim + extra - 1))


# ------------------------------------------------------------------ strategies
@st.composite
def reshape_cases(draw):
    """A target shape made by shuffling the sides, merging neighbours, inserting 1s and
    maybe replacing one size by -1."""
    shape = draw(SHAPES)
    target = []
    for side in draw(st.permutations(shape)):
        if target and draw(st.booleans()):
            target[-1] *= side
        else:
            target.append(side)
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return case(draw, shape, shape=tuple(target))


@st.composite
def transpose_cases(draw):
    shape = draw(NONEMPTY)
    return case(draw, shape, dim0=dim_of(draw, len(shape)), dim1=dim_of(draw, len(shape)))


@st.composite
def permute_cases(draw):
    shape = draw(SHAPES)
    n = len(shape)
    dims = [d - n if draw(st.booleans()) else d for d in draw(st.permutations(range(n)))]
    return case(draw, shape, dims=tuple(dims))


@st.composite
def expand_cases(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    sizes = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    for side in shape:
        sizes.append(draw(st.sampled_from([-1, 1, 2, 3] if side == 1 else [-1, side])))
    return case(draw, shape, sizes=tuple(sizes))


@st.composite
def squeeze_cases(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    n = len(shape)
    options = [st.none()]
    if n:
        options += [st.integers(-n, n - 1),
                    st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)
                    .map(lambda ds: tuple(d - n if d % 2 else d for d in ds))]
    return case(draw, shape, dim=draw(st.one_of(*options)))


@st.composite
def unsqueeze_cases(draw):
    shape = draw(SHAPES)
    return case(draw, shape, dim=dim_of(draw, len(shape), extra=1))


@st.composite
def flatten_cases(draw):
    shape = draw(SHAPES)
    n = max(len(shape), 1)
    a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
    start = a - n if draw(st.booleans()) else a
    end = b - n if draw(st.booleans()) else b
    return case(draw, shape, start_dim=start, end_dim=end)


@st.composite
def cat_cases(draw):
    base = list(draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)))
    dim = dim_of(draw, len(base))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        base[dim] = draw(st.integers(0, 3))
        arrays.append(values(rng, tuple(base)))
    return Case(tuple(arrays), {"dim": dim})


@st.composite
def stack_cases(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = tuple(values(rng, shape) for _ in range(draw(st.integers(1, 3))))
    return Case(arrays, {"dim": dim_of(draw, len(shape), extra=1)})


def torch_split_sizes(n: int, split_size: int) -> list[int]:
    """torch.split's piece sizes, derived by hand: full pieces, then the remainder if any."""
    if n == 0:
        return [0]
    return [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])


def torch_chunk_sizes(n: int, chunks: int) -> list[int]:
    """torch.chunk's piece sizes: pieces of ceil(n / chunks), the last one smaller."""
    if n == 0:
        return [0] * chunks
    return torch_split_sizes(n, -(-n // chunks))


@st.composite
def split_cases(draw):
    shape = draw(NONEMPTY)
    dim = dim_of(draw, len(shape))
    n = shape[dim]
    if draw(st.booleans()):
        arg = draw(st.integers(1, 5))
        sizes = torch_split_sizes(n, arg)
    else:  # a random composition of n, zero-sized pieces included
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
        arg = list(sizes)
    return case(draw, shape, arg=arg, dim=dim, sizes=sizes)


@st.composite
def chunk_cases(draw):
    shape = draw(NONEMPTY)
    dim = dim_of(draw, len(shape))
    chunks = draw(st.integers(1, 5))
    return case(draw, shape, chunks=chunks, dim=dim, sizes=torch_chunk_sizes(shape[dim], chunks))


@st.composite
def narrow_cases(draw):
    shape = draw(NONEMPTY)
    dim = dim_of(draw, len(shape))
    n = shape[dim]
    start = draw(st.integers(0, n))
    length = draw(st.integers(0, n - start))
    if start < n and draw(st.booleans()):
        start -= n  # the same position, counted from the end
    return case(draw, shape, dim=dim, start=start, length=length)


@st.composite
def flip_cases(draw):
    shape = draw(NONEMPTY)
    n = len(shape)
    dims = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=n,
                         unique_by=lambda d: d % n))
    return case(draw, shape, dims=tuple(dims))


@st.composite
def pad_cases(draw, mode="constant"):
    """Pads for the last k dims, last dim first (torch's order); constant mode also draws
    negative (cropping) widths that keep each size >= 0."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    k = draw(st.integers(1, len(shape)))
    flat = []
    for size in reversed(shape[len(shape) - k:]):
        if mode == "constant":
            before = draw(st.integers(-size, 2))
            after = draw(st.integers(-(size + before), 2))
        else:
            most = {"reflect": size - 1, "replicate": 3, "circular": size}[mode]
            before, after = draw(st.integers(0, most)), draw(st.integers(0, most))
        flat += [before, after]
    kwargs = {"pad": tuple(flat), "mode": mode}
    if mode == "constant":
        kwargs["value"] = draw(st.sampled_from([0.0, 1.5, -2.0]))
    return case(draw, shape, **kwargs)


# ------------------------------------------------------------------ references
def np_squeeze(x, dim):
    """torch.squeeze: drop the size-1 dims named (all, when dim is None); others stay."""
    n = x.ndim
    named = range(n) if dim is None else {d % n for d in ((dim,) if isinstance(dim, int) else dim)}
    return x.reshape([s for i, s in enumerate(x.shape) if not (i in named and s == 1)])


def np_expand(x, sizes):
    lead = len(sizes) - x.ndim
    return np.broadcast_to(x, [x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)])


def np_flatten(x, start_dim, end_dim):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def np_pad_constant(x, pad, mode, value):
    """Constant pad (negative widths crop), written as: output position p along a dim reads
    input position p - before, when that is inside the input; elsewhere it is ``value``."""
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    out_shape = [n + b + a for n, (b, a) in zip(x.shape, widths)]
    out = np.full(out_shape, value)
    src = [np.arange(m) - b for m, (b, _) in zip(out_shape, widths)]
    keep = [(s >= 0) & (s < n) for s, n in zip(src, x.shape)]
    out[np.ix_(*keep)] = x[np.ix_(*[s[k] for s, k in zip(src, keep)])]
    return out


def np_pad_mode(x, pad, mode):
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge",
                                   "circular": "wrap"}[mode])


def np_narrow(x, dim, start, length):
    start = start + x.shape[dim] if start < 0 else start
    return np.take(x, np.arange(start, start + length), axis=dim)


def pieces_combined(pieces):
    """One tensor from split pieces that a wrong piece count, order or content changes:
    piece i flattened and scaled by i + 1, all concatenated."""
    return edu_nn.cat([p.flatten() * float(i + 1) for i, p in enumerate(pieces)])


def np_pieces_combined(x, sizes, dim):
    pieces = np.split(x, np.cumsum(sizes)[:-1], axis=dim)
    assert [p.shape[dim] for p in pieces] == list(sizes)
    return np.concatenate([p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)])


SPECS = [
    OpSpec("reshape", lambda x, shape: edu_nn.reshape(x, shape),
           lambda x, shape: x.reshape(shape), reshape_cases()),
    OpSpec("view_method", lambda x, shape: x.view(*shape), lambda x, shape: x.reshape(shape),
           reshape_cases()),
    OpSpec("transpose", lambda x, dim0, dim1: edu_nn.transpose(x, dim0, dim1),
           lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1), transpose_cases()),
    OpSpec("permute", lambda x, dims: x.permute(*dims),
           lambda x, dims: np.transpose(x, dims), permute_cases()),
    OpSpec("expand", lambda x, sizes: x.expand(*sizes), np_expand, expand_cases()),
    OpSpec("squeeze", lambda x, dim: edu_nn.squeeze(x, dim), np_squeeze, squeeze_cases()),
    OpSpec("unsqueeze", lambda x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim),
           unsqueeze_cases()),
    OpSpec("flatten", lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim), np_flatten,
           flatten_cases()),
    OpSpec("cat", lambda *xs, dim: edu_nn.cat(xs, dim=dim),
           lambda *xs, dim: np.concatenate(xs, axis=dim), cat_cases()),
    OpSpec("stack", lambda *xs, dim: edu_nn.stack(list(xs), dim=dim),
           lambda *xs, dim: np.stack(xs, axis=dim), stack_cases()),
    OpSpec("split", lambda x, arg, dim, sizes: pieces_combined(edu_nn.split(x, arg, dim)),
           lambda x, arg, dim, sizes: np_pieces_combined(x, sizes, dim), split_cases()),
    OpSpec("chunk", lambda x, chunks, dim, sizes: pieces_combined(x.chunk(chunks, dim)),
           lambda x, chunks, dim, sizes: np_pieces_combined(x, sizes, dim), chunk_cases()),
    OpSpec("narrow", lambda x, dim, start, length: edu_nn.narrow(x, dim, start, length),
           np_narrow, narrow_cases()),
    OpSpec("flip", lambda x, dims: edu_nn.flip(x, dims), lambda x, dims: np.flip(x, dims),
           flip_cases()),
    OpSpec("pad_constant", edu_nn.pad, np_pad_constant, pad_cases("constant")),
    OpSpec("pad_reflect", edu_nn.pad, np_pad_mode, pad_cases("reflect")),
    OpSpec("pad_replicate", edu_nn.pad, np_pad_mode, pad_cases("replicate")),
    OpSpec("pad_circular", edu_nn.pad, np_pad_mode, pad_cases("circular")),
]

globals().update(op_test_module(SPECS, max_examples=25))


# ----------------------------------------------------------- worked examples
@pytest.fixture(autouse=True)
def _on_each_backend(backend_name):
    """The hand-worked tests below run once per installed backend, like the factory's."""
    with edu_nn.use_backend(backend_name):
        yield


def t(data, **kw):
    return edu_nn.tensor(np.asarray(data, dtype=np.float64), **kw)


@pytest.mark.parametrize("n, split_size, sizes", [
    (7, 3, [3, 3, 1]), (6, 3, [3, 3]), (7, 10, [7]), (5, 1, [1] * 5), (0, 3, [0])])
def test_split_sizes_match_torch(n, split_size, sizes):
    pieces = edu_nn.split(edu_nn.zeros(n, 2), split_size)
    assert isinstance(pieces, tuple)
    assert [p.shape for p in pieces] == [(s, 2) for s in sizes]


@pytest.mark.parametrize("n, chunks, sizes", [
    (5, 4, [2, 2, 1]), (6, 4, [2, 2, 2]), (7, 3, [3, 3, 1]), (10, 3, [4, 4, 2]),
    (3, 5, [1, 1, 1]), (0, 3, [0, 0, 0]), (4, 2, [2, 2]), (1, 1, [1])])
def test_chunk_sizes_match_torch(n, chunks, sizes):
    """torch.chunk gives pieces of ceil(n / chunks): sometimes fewer pieces than asked."""
    pieces = edu_nn.zeros(3, n).chunk(chunks, dim=-1)
    assert [p.shape for p in pieces] == [(3, s) for s in sizes]


def test_split_values_and_gradient_by_hand():
    x = t([0.0, 1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = edu_nn.split(x, [2, 3])
    np.testing.assert_array_equal(a.detach().numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(b.detach().numpy(), [2.0, 3.0, 4.0])
    (a.sum() * 2.0 + b.sum() * 5.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 5.0, 5.0, 5.0])


def test_transpose_properties_and_view():
    x = t(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(x.T.numpy(), np.arange(24.0).reshape(2, 3, 4).transpose(2, 1, 0))
    np.testing.assert_array_equal(x.mT.numpy(), np.arange(24.0).reshape(2, 3, 4).transpose(0, 2, 1))
    assert x.view(-1).shape == (24,)
    np.testing.assert_array_equal(x.view(-1).numpy(), np.arange(24.0))
    assert x.view(4, -1).shape == (4, 6) and x.reshape((3, 8)).shape == (3, 8)
    m = t([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(m.t().numpy(), [[1.0, 3.0], [2.0, 4.0]])
    v = t([1.0, 2.0])
    assert v.T.shape == (2,) and v.t().shape == (2,)


def test_transpose_gradient_by_hand():
    x = t([[1.0, 2.0, 3.0]], requires_grad=True)          # (1, 3)
    (x.T * t([[10.0], [20.0], [30.0]])).sum().backward()  # x.T is (3, 1)
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 20.0, 30.0]])


def test_expand_gradient_sums_copies():
    x = t([[1.0], [2.0]], requires_grad=True)             # (2, 1) -> (3, 2, 4)
    y = x.expand(3, -1, 4)
    assert y.shape == (3, 2, 4)
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[24.0], [24.0]])  # 3 * 4 copies, times 2


def test_squeeze_leaves_non_singleton_dims_alone():
    x = edu_nn.zeros(2, 1, 3, 1)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(0).shape == (2, 1, 3, 1)        # size 2: silently kept, as torch
    assert x.squeeze((0, 1, -1)).shape == (2, 3)
    assert x.squeeze(-1).shape == (2, 1, 3)
    assert x.unsqueeze(-1).shape == (2, 1, 3, 1, 1)
    assert edu_nn.zeros(()).unsqueeze(0).shape == (1,)
    assert edu_nn.zeros(()).flatten().shape == (1,)


def test_pad_order_is_last_dim_first():
    x = t([[1.0, 2.0], [3.0, 4.0]])
    got = edu_nn.pad(x, (1, 0, 0, 1)).numpy()  # left 1 on the last dim, bottom 1 on dim 0
    np.testing.assert_array_equal(got, [[0.0, 1.0, 2.0], [0.0, 3.0, 4.0], [0.0, 0.0, 0.0]])
    assert edu_nn.pad(edu_nn.zeros(2, 3, 4, 5), (1, 1, 2, 2)).shape == (2, 3, 8, 7)
    np.testing.assert_array_equal(edu_nn.pad(x, (0, 0, -1, 0), value=7.0).numpy(), [[3.0, 4.0]])


def test_pad_modes_by_hand():
    x = t([[0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(edu_nn.pad(x, (2, 1), mode="reflect").numpy(),
                                  [[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]])
    np.testing.assert_array_equal(edu_nn.pad(x, (2, 1), mode="replicate").numpy(),
                                  [[0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0]])
    np.testing.assert_array_equal(edu_nn.pad(x, (2, 1), mode="circular").numpy(),
                                  [[2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0]])
    w = t([[0.0, 1.0, 2.0, 3.0]], requires_grad=True)
    edu_nn.pad(w, (2, 1), mode="replicate").sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[3.0, 1.0, 1.0, 2.0]])  # edges copied


def test_pad_gradient_of_crop_is_zero_outside():
    x = t([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = edu_nn.pad(x, (-1, 2), value=9.0)                     # [2, 3, 4, 9, 9]
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 3.0, 4.0, 9.0, 9.0])
    (y * t([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 2.0, 3.0])


def test_cat_and_stack_gradients_by_hand():
    a, b = t([1.0, 2.0], requires_grad=True), t([3.0], requires_grad=True)
    (edu_nn.cat([a, b]) * t([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [3.0])
    c, d = t([1.0, 2.0], requires_grad=True), t([3.0, 4.0])
    s = edu_nn.stack([c, d], dim=1)
    assert s.shape == (2, 2)
    (s * t([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [1.0, 3.0])
    assert d.grad is None


def test_grad_fn_names():
    x = edu_nn.zeros(2, 3, requires_grad=True)
    assert x.T.grad_fn.name() == "PermuteBackward"
    assert x.mT.grad_fn.name() == "TransposeBackward"
    assert x.view(-1).grad_fn.name() == "ReshapeBackward"
    assert edu_nn.cat([x, x]).grad_fn.name() == "CatBackward"


# -------------------------------------------------------------------- errors
def raises(exc, fn, *words):
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert w in str(info.value), f"{w!r} not in: {info.value}"
    return str(info.value)


def test_reshape_errors_name_shapes_and_sizes():
    x = edu_nn.zeros(2, 3)
    raises(ValueError, lambda: x.reshape(4, 2), "reshape", "(2, 3)", "6", "(4, 2)", "8")
    raises(ValueError, lambda: x.view(4, -1), "reshape", "(2, 3)", "(4, -1)", "6", "4")
    raises(ValueError, lambda: x.reshape(-1, -1), "reshape", "-1")
    raises(ValueError, lambda: edu_nn.zeros(0, 3).reshape(-1, 0), "reshape", "-1")


def test_permute_transpose_expand_errors():
    x = edu_nn.zeros(2, 3)
    raises(ValueError, lambda: x.permute(0, 0), "permute", "(0, 0)", "permutation")
    raises(ValueError, lambda: x.permute(0), "permute", "(2, 3)")
    raises(IndexError, lambda: x.transpose(0, 2), "transpose", "2")
    raises(ValueError, lambda: x.expand(2, 4), "expand", "4", "3", "(2, 3)")
    raises(ValueError, lambda: x.expand(3), "expand", "(2, 3)")
    raises(ValueError, lambda: x.expand(-1, 2, 3), "expand", "-1")


def test_cat_errors_name_op_dim_and_shapes():
    a, b = edu_nn.zeros(2, 3), edu_nn.zeros(3, 2)
    raises(ValueError, lambda: edu_nn.cat([a, b], dim=1), "cat", "dim 1", "(2, 3)", "(3, 2)")
    raises(ValueError, lambda: edu_nn.cat([a, edu_nn.zeros(2, 3, 1)]), "cat", "(2, 3, 1)")
    raises(TypeError, lambda: edu_nn.cat([a, a.to("float64")]), "cat", "float32", "float64")
    raises(TypeError, lambda: edu_nn.cat(a), "cat", "list")
    raises(TypeError, lambda: edu_nn.cat([a, np.zeros((2, 3))]), "cat", "ndarray")
    raises(ValueError, lambda: edu_nn.cat([]), "cat", "non-empty")
    raises(ValueError, lambda: edu_nn.cat([edu_nn.zeros(()), edu_nn.zeros(())]), "cat", "0-d")
    raises(ValueError, lambda: edu_nn.stack([a, b]), "stack", "(2, 3)", "(3, 2)")
    raises(TypeError, lambda: edu_nn.stack([a, a.to("int64")]), "stack", "int64")


class NumpyTwin(NumpyBackend):
    """A second backend instance, so that mixing backends can be tested without torch."""
    name = "numpy_twin_for_tests"


def test_cat_backend_mismatch_is_an_error():
    edu_nn.register_backend("numpy_twin_for_tests", NumpyTwin, replace=True)
    try:
        a = edu_nn.zeros(2)
        b = edu_nn.tensor([1.0, 2.0], dtype="float32", backend="numpy_twin_for_tests")
        raises(RuntimeError, lambda: edu_nn.cat([a, b]), "cat", "numpy_twin_for_tests", "backend")
        raises(RuntimeError, lambda: edu_nn.stack([a, b]), "stack", "numpy_twin_for_tests")
    finally:
        edu_nn.backends.unregister_backend("numpy_twin_for_tests")


def test_split_chunk_narrow_errors():
    x = edu_nn.zeros(5, 2)
    raises(ValueError, lambda: x.split([2, 2]), "split", "[2, 2]", "5", "sum")
    raises(ValueError, lambda: x.split([6, -1]), "split", ">= 0")
    raises(ValueError, lambda: x.split(0), "split", "0")
    raises(ValueError, lambda: x.chunk(0), "chunk", "positive")
    raises(ValueError, lambda: edu_nn.narrow(x, 0, 3, 3), "narrow", "5")
    raises(IndexError, lambda: edu_nn.narrow(x, 0, 6, 0), "narrow", "6")


def test_pad_errors():
    x = edu_nn.zeros(2, 3)
    raises(ValueError, lambda: edu_nn.pad(x, (1,)), "pad", "even")
    raises(ValueError, lambda: edu_nn.pad(x, (1, 1, 1, 1, 1, 1)), "pad", "(2, 3)")
    raises(ValueError, lambda: edu_nn.pad(x, (-2, -2)), "pad", "negative size")
    raises(ValueError, lambda: edu_nn.pad(x, (3, 0), mode="reflect"), "reflect", "3")
    raises(ValueError, lambda: edu_nn.pad(x, (-1, 0), mode="replicate"), "constant")
    raises(ValueError, lambda: edu_nn.pad(x, (1, 0), mode="edge"), "pad", "'edge'")
    raises(ValueError, lambda: edu_nn.pad(x, (1, 0), mode="reflect", value=1.0), "value")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=NONEMPTY, data=st.data())
def test_split_returns_torch_sized_pieces(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    size = data.draw(st.integers(1, 5))
    x = edu_nn.tensor(np.arange(math.prod(shape), dtype=np.float64).reshape(shape))
    pieces = x.split(size, dim)
    want = torch_split_sizes(shape[dim], size)
    assert [p.shape[dim] for p in pieces] == want
    for p, w in zip(pieces, np.split(x.numpy(), np.cumsum(want)[:-1], axis=dim)):
        np.testing.assert_array_equal(p.numpy(), w)
