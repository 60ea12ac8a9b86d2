"""edu_nn.data: Dataset, TensorDataset, Subset, ConcatDataset, DataLoader (on every backend),
samplers, random_split and train_val_test_split.

Expected batches are computed independently from the inputs (plain NumPy slicing of the
order the loader reports, or of a fresh permutation), never copied from a run.
"""
from __future__ import annotations

import numpy as np
import pytest

import edu_nn
from edu_nn.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler,
                         SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                         default_collate, random_split, train_val_test_split)


def _xy(n=10, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)      # y[i] == i: a batch's y tells which rows it holds
    return x, y


class PairDataset(Dataset):
    """A map-style dataset with no fast batch path: the DataLoader collates per sample."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


# ------------------------------------------------------------------ Dataset, TensorDataset
def test_tensor_dataset_rejects_inputs_and_targets_of_different_lengths():
    x, y = _xy(10)
    with pytest.raises(ValueError, match=r"same length in dim 0.*10, 9.*\(10, 3\), \(9,\)"):
        TensorDataset(x, y[:9])


def test_tensor_dataset_rejects_scalars_and_non_arrays():
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(np.array(1.0))
    with pytest.raises(TypeError, match="argument 1 is a dict"):
        TensorDataset(np.zeros(3), {"a": 1})
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_tensor_dataset_indexes_rows_of_arrays_and_tensors(backend_name):
    x, y = _xy(6)
    ds = TensorDataset(edu_nn.tensor(x, backend=backend_name), y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), x[4])
    assert yi == 4
    ds_list = TensorDataset([[1, 2], [3, 4]], [0, 1])   # lists become arrays
    np.testing.assert_array_equal(ds_list[1][0], [3, 4])


def test_dataset_base_class_says_what_to_define():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())


def test_subset_and_concat_dataset():
    x, y = _xy(10)
    ds = TensorDataset(x, y)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[2][1] == 5
    both = ConcatDataset([sub, Subset(ds, [0, 1])])
    assert len(both) == 5
    assert [both[i][1] for i in range(5)] == [7, 2, 5, 0, 1]
    assert both[-1][1] == 1
    with pytest.raises(IndexError, match="out of range"):
        both[5]
    assert len(sub + sub) == 6


# ------------------------------------------------------------------ DataLoader
def test_dataloader_sequential_batches_on_every_backend(backend_name):
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, backend=backend_name)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    for (xb, yb), rows in zip(batches, ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9])):
        assert isinstance(xb, edu_nn.Tensor) and xb.backend.name == backend_name
        assert xb.dtype == "float32" and yb.dtype == "int64"   # dtypes kept
        np.testing.assert_array_equal(xb.numpy(), x[rows])
        np.testing.assert_array_equal(yb.numpy(), y[rows])


def test_dataloader_drop_last(backend_name):
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True, backend=backend_name)
    assert len(loader) == 2
    assert [b[1].numpy().tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    shuffled = DataLoader(TensorDataset(x, y), batch_size=3, shuffle=True, drop_last=True,
                          generator=0, backend=backend_name)
    sizes = [len(b[1].numpy()) for b in shuffled]
    assert sizes == [3, 3, 3]


def test_dataloader_shuffle_is_a_permutation_and_reproducible_from_the_seed(backend_name):
    x, y = _xy(23)
    ds = TensorDataset(x, y)

    def epochs(loader, n=3):
        return [np.concatenate([yb.numpy() for _, yb in loader]) for _ in range(n)]

    first = epochs(DataLoader(ds, batch_size=5, shuffle=True, generator=7, backend=backend_name))
    again = epochs(DataLoader(ds, batch_size=5, shuffle=True, generator=7, backend=backend_name))
    other = epochs(DataLoader(ds, batch_size=5, shuffle=True, generator=8, backend=backend_name))
    for order in first:
        np.testing.assert_array_equal(np.sort(order), np.arange(23))   # each sample once
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)                            # same seed, same epochs
    assert not np.array_equal(first[0], first[1])                      # a new order per epoch
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(first[0], np.arange(23))
    # the inputs travel with their targets
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=7, backend=backend_name)
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


def test_dataloader_shuffle_is_the_same_on_every_backend(backend_name):
    x, y = _xy(17)
    ds = TensorDataset(x, y)
    on_numpy = [yb.numpy() for _, yb in DataLoader(ds, batch_size=4, shuffle=True, generator=3,
                                                   backend="numpy")]
    here = [yb.numpy() for _, yb in DataLoader(ds, batch_size=4, shuffle=True, generator=3,
                                               backend=backend_name)]
    for a, b in zip(on_numpy, here):
        np.testing.assert_array_equal(a, b)


def test_dataloader_default_generator_follows_manual_seed():
    ds = TensorDataset(*_xy(20))

    def one_epoch():
        return np.concatenate([yb.numpy() for _, yb in DataLoader(ds, batch_size=6,
                                                                  shuffle=True)])
    edu_nn.manual_seed(123)
    a = one_epoch()
    edu_nn.manual_seed(123)
    b = one_epoch()
    np.testing.assert_array_equal(a, b)


def test_default_collate_per_sample_on_every_backend(backend_name):
    x, y = _xy(5)
    loader = DataLoader(PairDataset(x, y), batch_size=2, backend=backend_name)
    batches = list(loader)
    assert len(batches) == 3
    xb, yb = batches[0]
    assert xb.backend.name == backend_name and yb.backend.name == backend_name
    np.testing.assert_array_equal(xb.numpy(), x[:2])
    np.testing.assert_array_equal(yb.numpy(), [0, 1])
    assert xb.dtype == "float32"
    assert yb.dtype in ("int64", "int32")     # a Python int: int64 (int32 on JAX without x64)
    np.testing.assert_array_equal(batches[2][0].numpy(), x[4:])


def test_default_collate_structures(backend_name):
    samples = [{"x": np.ones(2, np.float32) * i, "name": f"s{i}", "w": 0.5 * i}
               for i in range(3)]
    out = default_collate(samples, backend=backend_name)
    np.testing.assert_array_equal(out["x"].numpy(), [[0, 0], [1, 1], [2, 2]])
    assert out["name"] == ["s0", "s1", "s2"]
    assert out["w"].dtype == "float64" and out["w"].numpy().tolist() == [0.0, 0.5, 1.0]
    tensors = [edu_nn.tensor(np.full(3, i, np.float32), backend=backend_name) for i in range(2)]
    stacked = default_collate(tensors, backend=backend_name)
    assert stacked.shape == (2, 3) and stacked.backend.name == backend_name
    with pytest.raises(RuntimeError, match="same number of fields"):
        default_collate([(1, 2), (3,)], backend=backend_name)
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()], backend=backend_name)


def test_custom_collate_fn_gets_the_list_of_samples():
    x, y = _xy(5)
    seen = []
    loader = DataLoader(TensorDataset(x, y), batch_size=2, collate_fn=lambda s: seen.append(s)
                        or len(s))
    assert list(loader) == [2, 2, 1]
    assert int(seen[0][1][1]) == 1 and len(seen[0][0]) == 2   # samples, not batches


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8"])
def test_dataloader_batch_size_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
        DataLoader(TensorDataset(*_xy(4)), batch_size=bad)


def test_dataloader_rejects_workers_and_conflicting_options():
    ds = TensorDataset(*_xy(4))
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=2)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=2)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(ds, shuffle=True, generator="seed")


def test_dataloader_with_custom_sampler_and_batch_sampler():
    x, y = _xy(6)
    ds = TensorDataset(x, y)
    loader = DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [b[1].numpy().tolist() for b in loader] == [[5, 4], [3, 2], [1, 0]]
    loader = DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert [b[1].numpy().tolist() for b in loader] == [[0, 5], [2]]
    assert "batches=2" in repr(loader)


# ------------------------------------------------------------------ samplers
def test_samplers():
    ds = TensorDataset(*_xy(7))
    assert list(SequentialSampler(ds)) == list(range(7))
    order = list(RandomSampler(ds, generator=0))
    assert sorted(order) == list(range(7))
    more = list(RandomSampler(ds, num_samples=16, generator=0))   # back-to-back permutations
    assert len(more) == 16 and sorted(more[:7]) == list(range(7))
    with_repl = list(RandomSampler(ds, replacement=True, num_samples=50, generator=0))
    assert len(with_repl) == 50 and set(with_repl) <= set(range(7))
    assert len(set(with_repl)) < 50                                # repeats happen
    sub = list(SubsetRandomSampler([3, 5, 6], generator=1))
    assert sorted(sub) == [3, 5, 6]
    assert list(BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, drop_last=True)) == 2
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(5), 2, drop_last=1)
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)


# ------------------------------------------------------------------ splits
def test_random_split_fractions_follow_torchs_rule_and_partition_the_data():
    ds = TensorDataset(*_xy(11))
    parts = random_split(ds, [0.6, 0.2, 0.2], generator=0)
    # floor(11 * f) = 6, 2, 2; the remainder (1) goes to the first split (torch's rule)
    assert [len(p) for p in parts] == [7, 2, 2]
    ids = np.concatenate([[p[i][1] for i in range(len(p))] for p in parts])
    np.testing.assert_array_equal(np.sort(ids), np.arange(11))
    again = random_split(ds, [0.6, 0.2, 0.2], generator=0)
    assert [p.indices for p in parts] == [p.indices for p in again]
    assert [len(p) for p in random_split(ds, [3, 8], generator=1)] == [3, 8]


def test_random_split_lengths_match_torch():
    torch = pytest.importorskip("torch")
    for n, fractions in [(11, [0.6, 0.2, 0.2]), (10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5])]:
        ours = [len(p) for p in random_split(TensorDataset(*_xy(n)), fractions, generator=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs, (n, fractions)


def test_random_split_errors():
    ds = TensorDataset(*_xy(10))
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        random_split(ds, [4, 5])
    with pytest.raises(ValueError, match="fractions summing to 1"):
        random_split(ds, [0.5, 0.2])
    with pytest.warns(UserWarning, match="split 1 is empty"):
        random_split(TensorDataset(*_xy(2)), [0.99, 0.01])


def test_train_val_test_split_60_20_20_on_arrays():
    x, y = _xy(50)
    (xa, ya), (xb, yb), (xc, yc) = train_val_test_split((x, y), seed=0)
    assert (len(ya), len(yb), len(yc)) == (30, 10, 10)
    np.testing.assert_array_equal(np.sort(np.concatenate([ya, yb, yc])), np.arange(50))
    for xs, ys in ((xa, ya), (xb, yb), (xc, yc)):
        np.testing.assert_array_equal(xs, x[ys])            # rows stay paired
    again = train_val_test_split((x, y), seed=0)
    np.testing.assert_array_equal(again[2][1], yc)
    other = train_val_test_split((x, y), seed=1)
    assert not np.array_equal(other[2][1], yc)
    only = train_val_test_split(x, seed=0)                  # one array in, arrays out
    np.testing.assert_array_equal(only[2], xc)


def test_train_val_test_split_stratified_keeps_class_proportions():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [50, 30, 20])
    rng.shuffle(y)
    x = rng.standard_normal((100, 2))
    splits = train_val_test_split((x, y), seed=3, stratify=True)
    for (_, ys), share in zip(splits, (0.6, 0.2, 0.2)):
        counts = np.bincount(ys, minlength=3)
        np.testing.assert_allclose(counts, share * np.array([50, 30, 20]), atol=1)


def test_train_val_test_split_of_a_dataset_returns_subsets():
    ds = TensorDataset(*_xy(20))
    train, val, test = train_val_test_split(ds, seed=0)
    assert all(isinstance(s, Subset) for s in (train, val, test))
    assert (len(train), len(val), len(test)) == (12, 4, 4)
    ids = sorted(s[i][1] for s in (train, val, test) for i in range(len(s)))
    assert ids == list(range(20))


def test_train_val_test_split_errors():
    x, y = _xy(10)
    with pytest.raises(ValueError, match="same length in dim 0"):
        train_val_test_split((x, y[:8]))
    with pytest.raises(ValueError, match="sum to 1"):
        train_val_test_split((x, y), fractions=(0.6, 0.2, 0.1))
    with pytest.raises(ValueError, match="one label per sample"):
        train_val_test_split((x, y), stratify=np.zeros(3))
