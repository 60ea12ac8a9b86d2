"""The 8x8 handwritten digits (1797 images, 10 classes) that scikit-learn ships, bundled with
edu_nn as ``digits.npz`` (45 kB): no scikit-learn and no download needed.

The data are scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits" test
set, redistributed under scikit-learn's BSD 3-Clause license; DIGITS_LICENSE.txt next to
this file holds the notice and how the file was made.
"""
from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_digits"]

_FILE = "digits.npz"


def load_digits(flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The digits as arrays, identical to ``sklearn.datasets.load_digits()`` scaled to [0, 1].

    Returns:
        x: (1797, 1, 8, 8) float32 in [0, 1] (or (1797, 64) when ``flatten``),
        y: (1797,) int64 class labels 0..9.
    """
    with resources.files(__package__).joinpath(_FILE).open("rb") as f:
        with np.load(f, allow_pickle=False) as data:
            images, target = data["images"], data["target"]
    x = (images / 16.0).astype(np.float32)[:, None]     # pixel values are counts 0..16
    if flatten:
        x = x.reshape(len(x), -1)
    return x, target.astype(np.int64)
