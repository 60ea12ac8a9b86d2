"""Indexing and gathers: forward vs NumPy, gradcheck over drawn keys of every kind (ints,
slices with steps, None, Ellipsis, index arrays with duplicates as lists, NumPy arrays and
Tensors, bool masks, and mixes), dtype kept; plus hand-worked duplicate accumulation,
torch's dim order where NumPy's differs, and the error messages."""
import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import edu_nn
from opcheck import SEEDS, SHAPES, Case, OpSpec, op_test_module, values


@pytest.fixture(autouse=True)
def _on_each_backend(backend_name):
    """The hand-worked tests run once per installed backend, like the factory's."""
    with edu_nn.use_backend(backend_name):
        yield


# ------------------------------------------------------------------ keys
@st.composite
def index_keys(draw, shape):
    """A key for a tensor of ``shape`` and the form of each index array in it.

    Walks the dims, drawing for each an int, a slice, an int array (small sides, so
    duplicates are common), a bool mask over one or two dims, a None, an Ellipsis, or a stop.
    All int arrays share one shape so that they broadcast; a mask is not mixed with int
    arrays (NumPy would need the mask's count of True to broadcast with them). Each array
    is passed as a list, a NumPy array or an edu_nn Tensor (``forms``).
    """
    ndim = len(shape)
    array_shape = draw(st.sampled_from([(1,), (2,), (4,), (2, 3)]))
    parts, dim = [], 0
    has_array = has_mask = has_ellipsis = False
    nones = 0
    while True:
        kinds = ["none"] if nones < 2 else []
        if dim < ndim:
            # after an ellipsis the parts index the last dims, so they must reach the end
            kinds += ["int", "slice"] + (["stop"] if parts and not has_ellipsis else [])
            kinds += [] if has_mask else ["array"]
            kinds += [] if has_array or has_mask else ["mask"]
        kinds += [] if has_ellipsis else ["ellipsis"]
        if not kinds or dim >= ndim and draw(st.booleans()):
            break
        kind = draw(st.sampled_from(kinds))
        if kind == "stop":
            break
        if kind == "none":
            parts.append(None)
            nones += 1
        elif kind == "ellipsis":  # it stands for the dims that the parts after it skip
            parts.append(Ellipsis)
            has_ellipsis = True
            dim = draw(st.integers(dim, ndim))
        elif kind == "int":
            parts.append(draw(st.integers(-shape[dim], shape[dim] - 1)))
            dim += 1
        elif kind == "slice":
            n = shape[dim]
            bound = st.none() | st.integers(-n - 2, n + 2)
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3]))))
            dim += 1
        elif kind == "array":
            n = shape[dim]
            parts.append(draw(arrays(np.int64, array_shape, elements=st.integers(-n, n - 1))))
            has_array = True
            dim += 1
        else:
            k = draw(st.integers(1, min(2, ndim - dim)))
            parts.append(draw(arrays(np.bool_, shape[dim:dim + k])))
            has_mask = True
            dim += k
    forms = tuple(draw(st.sampled_from(["list", "numpy", "tensor"])) if isinstance(p, np.ndarray)
                  else None for p in parts)
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0], forms[0]  # a bare key, not a 1-tuple
    return tuple(parts), forms


@st.composite
def getitem_cases(draw):
    shape = draw(SHAPES)
    key, forms = draw(index_keys(shape))
    return Case((values(np.random.default_rng(draw(SEEDS)), shape),),
                {"key": key, "forms": forms})


def as_form(part, form, backend):
    if form == "list":
        return part.tolist()
    if form == "tensor":
        return edu_nn.tensor(part, backend=backend)
    return part


def edu_getitem(x, key, forms):
    if isinstance(key, tuple):
        key = tuple(as_form(p, f, x.backend.name) for p, f in zip(key, forms))
    else:
        key = as_form(key, forms, x.backend.name)
    return x[key]


def np_getitem(x, key, forms):
    """NumPy's indexing, with torch's dim order where the two differ: torch applies the
    ints first, so x[0, :, [1, 2]] has shape (n1, 2) where NumPy gives (2, n1)."""
    parts = key if isinstance(key, tuple) else (key,)
    is_int = [isinstance(p, int) for p in parts]
    is_array = [isinstance(p, np.ndarray) for p in parts]
    if not (any(is_int) and any(is_array)):
        return x[key]
    first = tuple(p if not a else (slice(None),) * (p.ndim if p.dtype == bool else 1)
                  for p, a in zip(parts, is_array))
    first = tuple(q for p in first for q in (p if isinstance(p, tuple) else (p,)))
    then = tuple(p if a else (Ellipsis if p is Ellipsis else slice(None))
                 for p, a, i in zip(parts, is_array, is_int) if not i)
    return x[first][then]


# ------------------------------------------------------------- gathers
@st.composite
def take_along_dim_cases(draw):
    """indices of input's ndim; each non-gathered dim matches input's, or one of the two is
    1 (broadcasting, in either direction); negative indices included."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    index_shape = []
    for a, side in enumerate(shape):
        if a == dim % len(shape):
            index_shape.append(draw(st.integers(1, 4)))
        else:
            index_shape.append(draw(st.sampled_from([side, 1] if side > 1 else [1, 3])))
    index = draw(arrays(np.int64, tuple(index_shape), elements=st.integers(-n, n - 1)))
    rng = np.random.default_rng(draw(SEEDS))
    if draw(st.booleans()):  # dim=None: flat indices of any shape into the flattened input
        size = int(np.prod(shape))
        flat = draw(arrays(np.int64, draw(array_shapes(max_dims=2, max_side=3)),
                           elements=st.integers(0, size - 1)))
        return Case((values(rng, shape), flat), {"dim": None})
    return Case((values(rng, shape), index), {"dim": dim})


@st.composite
def gather_cases(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    index_shape = tuple(draw(st.integers(1, 4)) if a == dim % len(shape) else
                        draw(st.integers(1, side)) for a, side in enumerate(shape))
    index = draw(arrays(np.int64, index_shape, elements=st.integers(0, n - 1)))
    return Case((values(np.random.default_rng(draw(SEEDS)), shape), index), {"dim": dim})


@st.composite
def index_select_cases(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    index = draw(arrays(np.int64, (draw(st.integers(0, 5)),), elements=st.integers(0, n - 1)))
    return Case((values(np.random.default_rng(draw(SEEDS)), shape), index), {"dim": dim})


def np_take_along_dim(x, index, dim):
    if dim is None:
        return x.reshape(-1)[index.reshape(-1)]
    # broadcast both (but not along dim) as torch does, then NumPy's take_along_axis
    out_shape = [max(a, b) for a, b in zip(x.shape, index.shape)]
    x_shape, i_shape = list(out_shape), list(out_shape)
    x_shape[dim], i_shape[dim] = x.shape[dim], index.shape[dim]
    return np.take_along_axis(np.broadcast_to(x, x_shape), np.broadcast_to(index, i_shape), dim)


def np_gather(x, index, dim):
    """out[i0, ..., id, ...] = x[i0, ..., index[i0, ..., id, ...], ...], by explicit loops."""
    out = np.empty(index.shape)
    for pos in np.ndindex(*index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = x[tuple(src)]
    return out


SPECS = [
    OpSpec("getitem", edu_getitem, np_getitem, getitem_cases()),
    OpSpec("take_along_dim", lambda x, i, dim: edu_nn.take_along_dim(x, i, dim),
           np_take_along_dim, take_along_dim_cases()),
    OpSpec("gather", lambda x, i, dim: edu_nn.gather(x, dim, i), np_gather, gather_cases()),
    OpSpec("index_select", lambda x, i, dim: edu_nn.index_select(x, dim, i),
           lambda x, i, dim: np.take(x, i, axis=dim), index_select_cases()),
]

globals().update(op_test_module(SPECS, max_examples=40))


# ------------------------------------------------------- worked by hand
def t(data, **kw):
    return edu_nn.tensor(np.asarray(data, dtype=np.float64), **kw)


def test_duplicate_indices_accumulate():
    x = t([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[0, 0, 1]]
    np.testing.assert_array_equal(y.detach().numpy(), [1.0, 1.0, 2.0])
    (y * t([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [11.0, 100.0, 0.0])  # 1 + 10 at index 0


def test_duplicate_pairs_accumulate_in_2d():
    x = t(np.zeros((2, 3)), requires_grad=True)
    rows = edu_nn.tensor([0, 0, 1, -2])                 # -2 is row 0 again
    cols = np.array([2, 2, 0, 2])
    x[rows, cols].backward(t([1.0, 2.0, 4.0, 8.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 11.0], [4.0, 0.0, 0.0]])


def test_plain_sum_of_repeats_counts_each_copy():
    x = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x[[1, 1, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [3.0, 3.0]])


def test_mask_and_basic_gradients_by_hand():
    x = t([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(y.detach().numpy(), [1.0, 4.0])
    (y * t([5.0, 7.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[5.0, 0.0], [0.0, 7.0]])
    z = t(np.arange(6.0), requires_grad=True)
    z[1::2].sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 1.0, 0.0, 1.0, 0.0, 1.0])


def test_gathers_accumulate_duplicates():
    x = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = edu_nn.take_along_dim(x, edu_nn.tensor([[2, 2], [0, 1]]), dim=1)
    np.testing.assert_array_equal(y.detach().numpy(), [[3.0, 3.0], [4.0, 5.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    w = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    edu_nn.index_select(w, 0, edu_nn.tensor([1, 1, 0])).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1.0, 1.0], [2.0, 2.0]])
    g = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = edu_nn.gather(g, 1, edu_nn.tensor([[0, 0], [1, 0]]))
    np.testing.assert_array_equal(out.detach().numpy(), [[1.0, 1.0], [4.0, 3.0]])
    out.backward(t([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(g.grad.numpy(), [[3.0, 0.0], [4.0, 3.0]])


def test_torch_dim_order_for_ints_with_index_arrays():
    x = edu_nn.zeros(2, 3, 4)
    assert x[0, :, [0, 1]].shape == (3, 2)           # NumPy would give (2, 3)
    assert x[[0, 1], :, 0].shape == (2, 3)
    assert x[:, 0, [0, 1]].shape == (2, 2)
    assert x[[0, 1], None, [0, 1]].shape == (2, 1, 4)
    assert x[..., [0, 0, 1]].shape == (2, 3, 3)
    assert x[None, 1, ..., None].shape == (1, 3, 4, 1)


def test_index_kinds_and_iteration():
    x = t(np.arange(12.0).reshape(3, 4))
    assert x[edu_nn.tensor(1)].shape == (4,)          # a 0-d int tensor acts as an int
    assert x[1:edu_nn.tensor(3)].shape == (2, 4)
    assert x[np.int64(-1), np.array([True, False, True, False])].tolist() == [8.0, 10.0]
    assert x[[]].shape == (0, 4)
    assert x[True].shape == (1, 3, 4) and x[False].shape == (0, 3, 4)
    assert [row.tolist() for row in x][2] == [8.0, 9.0, 10.0, 11.0]
    ints = edu_nn.tensor([[1, 2], [3, 4]])
    assert ints[:, -1].tolist() == [2, 4] and ints[:, -1].dtype == "int64"


# -------------------------------------------------------------- errors
def raises(exc, fn, *words):
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert w in str(info.value), f"{w!r} not in: {info.value}"


def test_out_of_range_index_names_index_dim_and_size():
    x = edu_nn.zeros(3, 4)
    raises(IndexError, lambda: x[3], "getitem", "index 3", "dim 0", "size 3")
    raises(IndexError, lambda: x[-4], "index -4", "dim 0", "size 3")
    raises(IndexError, lambda: x[:, [0, 4]], "index 4", "dim 1", "size 4")
    raises(IndexError, lambda: x[..., edu_nn.tensor([-5])], "index -5", "dim 1", "size 4")
    raises(IndexError, lambda: x[0, 0, 0], "too many indices", "(3, 4)")
    raises(IndexError, lambda: x[np.array([True, False])], "mask", "(2,)", "(3,)")
    raises(IndexError, lambda: x[..., ...], "ellipsis")


def test_non_integer_indices_are_type_errors():
    x = edu_nn.zeros(3, 4)
    raises(TypeError, lambda: x[1.0], "getitem", "float", "integers")
    raises(TypeError, lambda: x[:, edu_nn.tensor([0.0, 1.0])], "getitem", "float", "integer")
    raises(TypeError, lambda: x[np.array([0.5])], "getitem", "float64")
    raises(TypeError, lambda: x[0.5:2], "getitem", "slice", "integers")
    raises(TypeError, lambda: x["a"], "getitem", "str")
    raises(ValueError, lambda: x[::-1], "getitem", "step", "positive", "flip")


def test_gather_errors():
    x = edu_nn.zeros(2, 3)
    raises(IndexError, lambda: edu_nn.gather(x, 1, edu_nn.tensor([[3]])), "gather", "index 3",
           "dim 1", "size 3")
    raises(IndexError, lambda: edu_nn.gather(x, 1, edu_nn.tensor([[-1]])), "gather", "-1")
    raises(ValueError, lambda: edu_nn.gather(x, 0, edu_nn.tensor([0, 1])), "gather", "(2,)")
    raises(ValueError, lambda: edu_nn.gather(x, 1, edu_nn.tensor([[0], [1], [1]])), "gather",
           "(3, 1)", "(2, 3)")
    raises(IndexError, lambda: edu_nn.index_select(x, 0, edu_nn.tensor([2])), "index_select",
           "index 2", "size 2")
    raises(ValueError, lambda: edu_nn.index_select(x, 0, edu_nn.tensor([[0]])), "1-d")
    raises(TypeError, lambda: edu_nn.index_select(x, 0, edu_nn.tensor([0.0])), "float")
    raises(ValueError, lambda: edu_nn.take_along_dim(x, edu_nn.tensor([0]), 1),
           "take_along_dim", "(2, 3)", "(1,)")
    raises(ValueError, lambda: edu_nn.take_along_dim(x, edu_nn.tensor([[0], [0], [0]]), 1),
           "take_along_dim", "broadcast")
