"""Datasets that need no network, and a registry of them by name (used by ``edu-nn train``).

    train = get_dataset("mnist1d", split="train")       # a TensorDataset of NumPy arrays
    x, y = get_arrays("moons", split="test", seed=0)

Splits: "train", "val", "test", "trainval" (train and val together) and "all".
Datasets with an official test set (mnist1d, mnist, fashion_mnist) keep it as "test" and
carve "val" out of the official training set (``val_fraction``, default 0.1, stratified);
"trainval" is the whole official training set. The others are split 60/20/20 (stratified
for classes; ``val_fraction`` moves samples between train and val, test stays 20%).
The same ``seed`` always gives the same split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..dataset import TensorDataset, train_val_test_split
from ._home import data_home
from .digits import load_digits
from .mnist import CHECKSUMS, FASHION_CLASSES, load_mnist, read_idx, write_idx
from .mnist1d import gaussian_filter1d, load_mnist1d, make_mnist1d, mnist1d_templates
from .toy import make_circles, make_moons, make_regression1d, make_spirals, make_xor

__all__ = ["DATASETS", "DatasetInfo", "get_dataset", "get_arrays", "data_home",
           "load_digits", "load_mnist", "read_idx", "write_idx", "CHECKSUMS",
           "FASHION_CLASSES", "load_mnist1d", "make_mnist1d", "mnist1d_templates",
           "make_moons", "make_circles", "make_spirals", "make_xor", "make_regression1d"]

SPLITS = ("train", "val", "test", "trainval", "all")


@dataclass(frozen=True)
class DatasetInfo:
    """What the CLI needs to know about a dataset.

    ``load(seed, root, **kwargs)`` returns {"train": (x, y), "test": (x, y)} for a dataset
    with an official test set, else {"all": (x, y)}. ``input_shape`` is one sample's x.
    """

    name: str
    task: str                      # "classification" or "regression"
    num_classes: int | None
    input_shape: tuple[int, ...]
    official_test: bool
    description: str
    load: Callable = None


def _official(fn):
    return lambda seed, root, **kw: fn(root, **kw)


def _mnist1d(root, **kw):
    return {s: tuple(a[..., None, :] if i == 0 else a   # (N, 40) -> (N, 1, 40) for Conv1d
                     for i, a in enumerate(load_mnist1d(s, **kw))) for s in ("train", "test")}


def _mnist(kind):
    return lambda root, **kw: {s: load_mnist(root, kind=kind, split=s, **kw)
                               for s in ("train", "test")}


def _toy(maker, n_samples):
    def load(seed, root, **kw):
        return {"all": maker(**{"n_samples": n_samples, **kw}, seed=seed)}
    return load


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in [
    DatasetInfo("digits", "classification", 10, (1, 8, 8), False,
                "scikit-learn's 1797 8x8 handwritten digits, pixels in [0, 1]",
                lambda seed, root, **kw: {"all": load_digits(**kw)}),
    DatasetInfo("mnist1d", "classification", 10, (1, 40), True,
                "MNIST-1D (Greydanus 2020): 4000 train / 1000 test 1-d signals of 40 points, "
                "generated offline", _official(_mnist1d)),
    DatasetInfo("mnist", "classification", 10, (1, 28, 28), True,
                "MNIST 28x28 digits from local IDX files (60000 train / 10000 test)",
                _official(_mnist("mnist"))),
    DatasetInfo("fashion_mnist", "classification", 10, (1, 28, 28), True,
                "Fashion-MNIST 28x28 clothes from local IDX files (60000 / 10000)",
                _official(_mnist("fashion"))),
    DatasetInfo("moons", "classification", 2, (2,), False,
                "two interleaving half circles, 1000 points, noise 0.2",
                _toy(lambda **kw: make_moons(**{"noise": 0.2, **kw}), 1000)),
    DatasetInfo("circles", "classification", 2, (2,), False,
                "a circle inside a circle, 1000 points, noise 0.1, factor 0.5",
                _toy(lambda **kw: make_circles(**{"noise": 0.1, "factor": 0.5, **kw}), 1000)),
    DatasetInfo("spirals", "classification", 3, (2,), False,
                "three interleaved spirals (CS231n), 900 points", _toy(make_spirals, 900)),
    DatasetInfo("xor", "classification", 2, (2,), False,
                "XOR of the signs of two uniform coordinates, 1000 points, noise 0.05",
                _toy(lambda **kw: make_xor(**{"noise": 0.05, **kw}), 1000)),
    DatasetInfo("regression1d", "regression", None, (1,), False,
                "y = sin(3x) + 0.1 noise for x in [-2, 2], 500 points",
                _toy(make_regression1d, 500)),
]}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: "
                         f"{', '.join(DATASETS)}")
    return DATASETS[name]


def get_arrays(name: str, split: str = "train", seed: int = 0, root=None,
               val_fraction: float | None = None, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """One split of a dataset as NumPy arrays (x, y); see the module doc for the splits.

    Args:
        name: one of ``DATASETS`` (digits, mnist1d, mnist, fashion_mnist, moons, circles,
            spirals, xor, regression1d).
        seed: fixes the split (and the points of the synthetic sets).
        root: where mnist/fashion_mnist files are (default ``data_home()``).
        val_fraction: the share of the data (of the official training set, for datasets
            that have one) used for validation.
        **kwargs: passed to the loader, e.g. ``n_samples=2000, noise=0.3`` for moons.
    """
    info = _info(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the splits are: {', '.join(SPLITS)}")
    data = info.load(seed, root, **kwargs)
    classes = info.task == "classification"
    if info.official_test:
        vf = 0.1 if val_fraction is None else val_fraction
        if split in ("test", "trainval"):
            return data["test"] if split == "test" else data["train"]
        if split == "all":
            return tuple(np.concatenate(p) for p in zip(data["train"], data["test"]))
        train, val = train_val_test_split(data["train"], (1 - vf, vf), seed=seed,
                                          stratify=True if classes else None)
        return train if split == "train" else val
    if split == "all":
        return data["all"]
    vf = 0.2 if val_fraction is None else val_fraction
    if not 0 <= vf <= 0.8:
        raise ValueError(f"val_fraction must be in [0, 0.8] (the test set keeps 20%), got {vf}")
    train, val, test = train_val_test_split(data["all"], (0.8 - vf, vf, 0.2), seed=seed,
                                            stratify=True if classes else None)
    if split == "trainval":
        return tuple(np.concatenate(p) for p in zip(train, val))
    return {"train": train, "val": val, "test": test}[split]


def get_dataset(name: str, split: str = "train", seed: int = 0, root=None,
                val_fraction: float | None = None, transform=None, target_transform=None,
                **kwargs):
    """One split of a dataset as a TensorDataset of NumPy arrays (wrapped in a
    TransformDataset when ``transform``/``target_transform`` are given); arguments as in
    :func:`get_arrays`. Unknown names raise an error listing ``DATASETS``."""
    ds = TensorDataset(*get_arrays(name, split, seed, root, val_fraction, **kwargs))
    if transform is None and target_transform is None:
        return ds
    from ..transforms import TransformDataset
    return TransformDataset(ds, transform, target_transform)
