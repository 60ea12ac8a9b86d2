"""Generated stand-ins for torchvision's MNIST-like datasets (see the package docstring)."""
from __future__ import annotations

import numpy as np


def _images(train: bool):
    from edu_nn.data import load_digits
    x, y = load_digits()                      # (1797, 64) in [0, 16], labels 0-9
    x = np.asarray(x, dtype=np.float64).reshape(-1, 8, 8)
    big = np.kron(x, np.ones((3, 3)))         # (N, 24, 24)
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    images = np.clip(big / 16.0 * 255.0, 0, 255).astype(np.uint8)
    n_train = 1437
    part = slice(0, n_train) if train else slice(n_train, None)
    return images[part], np.asarray(y, dtype=np.int64)[part]


class MNIST:
    def __init__(self, root, train=True, download=False, transform=None, target_transform=None):
        self.data, self.targets = _images(train)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img, label = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label


class FashionMNIST(MNIST):
    pass
