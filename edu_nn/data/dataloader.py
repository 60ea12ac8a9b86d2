"""DataLoader and default_collate, with torch.utils.data's names and arguments.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, generator=0)
    for epoch in range(epochs):
        for xb, yb in loader:          # xb: (64, ...) Tensor, yb: (64,) Tensor
            ...

Batches are edu_nn Tensors on ``backend=`` (default: the backend selected when iterating)
and ``device=``. With shuffling, each epoch (each ``iter(loader)``) draws a fresh
permutation from the generator; reseeding it replays the same epochs. Loading happens in the
main process (no workers): for the small datasets of a course, a TensorDataset of NumPy
arrays is indexed one whole batch at a time, which costs microseconds per batch.
"""
from __future__ import annotations

import collections.abc
from typing import Any, Callable, Iterator

import numpy as np

from ..backend_selection import get_backend
from ..tensor import Tensor, tensor
from ._random import as_generator
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_ERR = ("default_collate: a batch must hold Tensors, NumPy arrays, numbers, strings, or "
        "dicts/tuples/lists of these; found {}")


def _convert(x, backend, device) -> Tensor:
    """A Tensor on ``backend``/``device`` holding ``x`` (a NumPy array or a Tensor)."""
    if isinstance(x, Tensor) and x.backend is backend and (device is None
                                                           or x.device == device):
        return x
    return tensor(x, backend=backend, device=device)


def _stack_tensors(batch: list[Tensor], backend, device) -> Tensor:
    first = batch[0]
    if all(t.backend is backend and t.device == first.device for t in batch):
        out = Tensor._make(backend.stack([t.array for t in batch], 0), backend, first.device)
        return _convert(out, backend, device)
    return tensor(np.stack([t.numpy() for t in batch]), backend=backend, device=device)


def default_collate(batch: list, *, backend=None, device=None) -> Any:
    """Stack a list of samples into a batch, as torch's default_collate does.

    Tensors, NumPy arrays and NumPy scalars are stacked along a new dim 0 into one Tensor
    (dtype kept); Python floats become a float64 Tensor and ints an int64 one (as in torch);
    strings stay a list; a dict, tuple or list of fields is collated field by field (tuples
    come back as lists, as in torch).

    Args:
        batch: a list of samples, e.g. ``[(x0, y0), (x1, y1), ...]``.
        backend, device: where the Tensors go (default: the selected backend, cpu).
    """
    backend = get_backend(backend)
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch, backend, device)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUSV":
            raise TypeError(_ERR.format(f"a NumPy array of dtype {elem.dtype}"))
        return tensor(np.stack(batch), backend=backend, device=device)
    if isinstance(elem, (np.number, np.bool_)):
        return tensor(np.asarray(batch), backend=backend, device=device)
    if isinstance(elem, (bool, int, float)):
        dtype = "bool" if isinstance(elem, bool) else "int64" if isinstance(elem, int) \
            else "float64"
        return tensor(np.asarray(batch), dtype=dtype, backend=backend, device=device)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch], backend=backend, device=device)
                for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s), backend=backend, device=device)
                            for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("default_collate: each sample of the batch should have the "
                               "same number of fields")
        return [default_collate(list(s), backend=backend, device=device) for s in zip(*batch)]
    raise TypeError(_ERR.format(type(elem).__name__))


class DataLoader:
    """Iterate over a dataset in (shuffled) minibatches of Tensors.

    Args:
        dataset: anything with ``__getitem__``/``__len__`` (a TensorDataset of NumPy arrays
            is batched fastest).
        batch_size: samples per batch, a positive int.
        shuffle: a new random order at every epoch (from ``generator``).
        sampler, batch_sampler: a custom order of indices (or of index lists), as in torch.
        num_workers: must be 0: edu_nn loads in the main process.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`
            onto ``backend``/``device``).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        generator: the shuffling's randomness: an edu_nn.Generator, an int seed, or None for
            the default generator (reseeded by ``edu_nn.manual_seed``).
        backend, device: where the batches go (default: the selected backend when iterating;
            ignored by a custom ``collate_fn``).
        pin_memory, timeout, worker_init_fn, prefetch_factor, persistent_workers: accepted so
            torch code runs unchanged; they change nothing here.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, backend=None, device=None) -> None:
        if num_workers != 0:
            raise ValueError(f"DataLoader: num_workers={num_workers!r} is not supported: "
                             f"edu_nn loads batches in the main process, which is fast for "
                             f"in-memory datasets. Use num_workers=0.")
        if batch_size is None:
            raise ValueError("DataLoader: batch_size=None (no automatic batching) is not "
                             "supported; use batch_size=1 for one sample per batch")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
        else:
            # validated here, not only in BatchSampler, so the message names the DataLoader
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                    or batch_size <= 0:
                raise ValueError(f"DataLoader: batch_size must be a positive integer (the "
                                 f"number of samples in one batch), got {batch_size!r}")
            if sampler is not None and shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with "
                                 "shuffle (the sampler already decides the order)")
        self.dataset = dataset
        self.num_workers = 0
        self.generator = as_generator(generator)
        if sampler is None:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), drop_last)
            self.batch_size: int | None = int(batch_size)
        else:
            self.batch_size = None
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.backend = backend
        self.device = device
        self.pin_memory, self.timeout = pin_memory, timeout

    def __len__(self) -> int:
        """The number of batches per epoch."""
        return len(self.batch_sampler)

    def _index_batches(self) -> Iterator[np.ndarray]:
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler._index_batches()
        return (np.asarray(b, dtype=np.int64) for b in self.batch_sampler)

    def __iter__(self) -> Iterator[Any]:
        backend = get_backend(self.backend)
        custom = self.collate_fn is not None and self.collate_fn is not default_collate
        get_batch = None if custom else getattr(self.dataset, "_get_batch", None)
        for indices in self._index_batches():
            fields = get_batch(indices) if get_batch is not None else None
            if fields is not None:   # the fast path: whole batch at once
                yield [_convert(f, backend, self.device) for f in fields]
                continue
            samples = [self.dataset[i] for i in indices.tolist()]
            if custom:
                yield self.collate_fn(samples)
            else:
                yield default_collate(samples, backend=backend, device=self.device)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={isinstance(self.sampler, RandomSampler)}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
