"""scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), bundled with sklearn:
no download."""
from __future__ import annotations

import numpy as np


def load_digits(flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The digits as arrays.

    Returns:
        x: (1797, 1, 8, 8) float32 in [0, 1] (or (1797, 64) when ``flatten``),
        y: (1797,) int64 class labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError("load_digits needs scikit-learn (it ships the digits data): "
                          "pip install 'edu-nn[data]'  (or: pip install scikit-learn)") from e
    data = _sk_load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]     # pixel values are 0..16
    if flatten:
        x = x.reshape(len(x), -1)
    return x, data.target.astype(np.int64)
