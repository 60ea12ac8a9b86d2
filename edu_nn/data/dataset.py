"""Datasets and splits, with torch.utils.data's names: Dataset, TensorDataset, Subset,
random_split; plus ``train_val_test_split`` (the course's 60/20/20, optionally stratified).

A dataset is anything with ``__getitem__(i)`` and ``__len__()``. The DataLoader asks a dataset
for whole batches through ``_get_batch(indices)`` when it has one (TensorDataset, Subset and
TransformDataset do): one fancy-indexing call per batch instead of one Python call per sample.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from ..tensor import Tensor
from ._random import numpy_rng


class Dataset:
    """An indexable collection of samples: subclasses define ``__getitem__`` and ``__len__``.

    ``dataset[i]`` returns one sample, usually a tuple ``(x, y)``.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index) "
                                  f"returning one sample, e.g. a tuple (x, y)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__(self) returning "
                                  f"the number of samples")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])

    def _get_batch(self, indices: np.ndarray) -> list | None:
        """The samples at ``indices`` already batched (one array per field), or None when this
        dataset cannot batch them at once (then the DataLoader collates sample by sample)."""
        return None


def _num_rows(t) -> int:
    return t.shape[0]


class TensorDataset(Dataset):
    """Samples are rows: ``dataset[i] == (t[i] for t in tensors)``.

    Args:
        *tensors: edu_nn Tensors or NumPy arrays (lists are converted to arrays), all with the
            same length in dim 0, e.g. ``TensorDataset(x, y)`` with x: (N, D) and y: (N,).
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor or array, "
                             "e.g. TensorDataset(x, y)")
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, (list, tuple)):
                t = np.asarray(t)
            if not isinstance(t, (Tensor, np.ndarray)):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}; pass "
                                f"edu_nn Tensors or NumPy arrays")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a scalar (0-d); every tensor "
                                 f"needs a first dimension that indexes the samples")
            converted.append(t)
        lengths = [_num_rows(t) for t in converted]
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in converted)
            raise ValueError(
                f"TensorDataset: all tensors must have the same length in dim 0 (one row per "
                f"sample), got lengths {', '.join(map(str, lengths))} (shapes {shapes}). "
                f"Do the inputs and the targets come from the same samples?")
        self.tensors = tuple(converted)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return _num_rows(self.tensors[0])

    def _get_batch(self, indices: np.ndarray) -> list:
        batch = []
        for t in self.tensors:
            if isinstance(t, np.ndarray):
                batch.append(t[indices])
            else:   # gather the rows with the backend's own primitive, no graph
                b = t.backend
                idx = b.asarray(indices, "int64", t.device)
                batch.append(Tensor._make(b.take(t.array, idx, 0), b, t.device))
        return batch


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``subset[i] == dataset[indices[i]]``."""

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index_array = None

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices: np.ndarray) -> list | None:
        inner = getattr(self.dataset, "_get_batch", None)
        if inner is None:
            return None
        if self._index_array is None:
            self._index_array = np.asarray(self.indices, dtype=np.int64)
        return inner(self._index_array[indices])


class ConcatDataset(Dataset):
    """Several datasets one after the other: ``len == sum of their lengths``."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"index {idx} is out of range for a dataset of {len(self)}")
            idx += len(self)
        which = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        if which == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a dataset of {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


# ----------------------------------------------------------------------- splits
def _split_lengths(n: int, lengths: Sequence[float], who: str) -> list[int]:
    """torch.utils.data.random_split's rule: fractions summing to 1 become floor(n * f),
    with the remainder handed out one by one from the first split on; ints must sum to n."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError(f"{who}: give at least one length or fraction")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"{who}: fraction at index {i} is {frac}, not between 0 and 1")
        sizes = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"{who}: split {i} is empty (fraction {lengths[i]} of {n} "
                              f"samples)", stacklevel=3)
        return sizes
    if any(not isinstance(k, (int, np.integer)) or k < 0 for k in lengths):
        raise ValueError(f"{who}: lengths must be non-negative ints summing to the dataset's "
                         f"length ({n}) or fractions summing to 1; got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"{who}: the lengths {lengths} sum to {sum(lengths)}, but the dataset "
                         f"has {n} samples (or give fractions that sum to 1)")
    return [int(k) for k in lengths]


def random_split(dataset, lengths: Sequence[float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths.

    Args:
        lengths: ints summing to ``len(dataset)``, or fractions summing to 1 (torch's rule:
            ``floor(f * n)`` each, the remainder spread one by one from the first split).
        generator: an edu_nn.Generator, an int seed, or None (the default generator).
    """
    sizes = _split_lengths(len(dataset), lengths, "random_split")
    order = numpy_rng(generator).permutation(len(dataset))
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]


def _stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An order of the samples in which every class is spread evenly: the i-th of a class's
    m members (in random order) sits at position (i + 0.5) / m. Cutting this order into
    consecutive chunks gives each chunk every class in proportion, within one sample."""
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keys[rng.permutation(members)] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(labels)), keys))   # ties broken at random


def _labels_of(data, arrays: bool) -> np.ndarray:
    """The targets used by ``stratify=True``: the last array, or each sample's last field."""
    if arrays:
        last = data[-1]
    elif isinstance(data, TensorDataset):
        last = data.tensors[-1]
    else:
        last = [data[i][-1] for i in range(len(data))]
    return np.asarray(last.numpy() if isinstance(last, Tensor) else last)


def train_val_test_split(dataset_or_arrays, fractions: Sequence[float] = (0.6, 0.2, 0.2),
                         seed=0, stratify=None):
    """Split into train/validation/test parts (the course's 60/20/20 by default).

    Args:
        dataset_or_arrays: a Dataset (returns Subsets), or arrays of equal length such as
            ``(x, y)`` (returns one tuple of arrays per split), or one array.
        fractions: one fraction per split, summing to 1 (any number of splits).
        seed: an int, an edu_nn.Generator, or None (the default generator).
        stratify: None; an array of class labels, one per sample; or True to use the
            targets (the last array, or each sample's last field). Every split then holds the
            classes in the same proportions as the whole (within one sample per class).

    Returns:
        ``[train, val, test]``: Subsets, tuples of arrays, or arrays, like the input.

    Example:
        >>> (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = train_val_test_split((x, y), stratify=True)
    """
    single = isinstance(dataset_or_arrays, (np.ndarray, Tensor))
    arrays = single or isinstance(dataset_or_arrays, (tuple, list))
    parts = (dataset_or_arrays,) if single else dataset_or_arrays
    if arrays:
        parts = [p if isinstance(p, (np.ndarray, Tensor)) else np.asarray(p) for p in parts]
        table = TensorDataset(*parts)  # checks the lengths agree, with its clear message
        n = len(table)
    else:
        n = len(dataset_or_arrays)
    fractions = list(fractions)
    if not math.isclose(sum(fractions), 1.0) or any(f < 0 for f in fractions):
        raise ValueError(f"train_val_test_split: fractions must be non-negative and sum to 1, "
                         f"e.g. (0.6, 0.2, 0.2); got {tuple(fractions)} (sum {sum(fractions)})")
    sizes = _split_lengths(n, fractions, "train_val_test_split")
    rng = numpy_rng(seed)
    if stratify is None or stratify is False:
        order = rng.permutation(n)
    else:
        labels = _labels_of(parts if arrays else dataset_or_arrays, arrays) \
            if stratify is True else np.asarray(stratify)
        if labels.shape != (n,):
            raise ValueError(f"train_val_test_split: stratify needs one label per sample, "
                             f"shape ({n},); got shape {labels.shape}")
        order = _stratified_order(labels, rng)
    bounds = np.cumsum([0] + sizes)
    # each chunk is shuffled so a split is not sorted by class position
    chunks = [rng.permutation(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    if not arrays:
        return [Subset(dataset_or_arrays, c.tolist()) for c in chunks]
    taken = [tuple(table._get_batch(c)) for c in chunks]
    return [t[0] for t in taken] if single else taken
