"""Stand-ins for torchvision.transforms: ToTensor, Normalize, Compose, Lambda."""
from __future__ import annotations

import importlib
import os

import numpy as np


def _lib():
    return importlib.import_module(os.environ.get("EDU_NN_COMPAT_LIB", "torch"))


class ToTensor:
    """uint8 (H, W) or (H, W, C) image -> float32 tensor (C, H, W) in [0, 1]."""

    def __call__(self, img):
        a = np.asarray(img, dtype=np.float32) / 255.0
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        return _lib().tensor(np.ascontiguousarray(a))


class Normalize:
    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)

    def __call__(self, t):
        lib = _lib()
        return (t - lib.tensor(self.mean)) / lib.tensor(self.std)


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)
