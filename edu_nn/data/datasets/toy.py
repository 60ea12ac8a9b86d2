"""Small synthetic datasets for decision-boundary and regression tutorials (seeded, NumPy).

Classification sets return x: (N, 2) float32 and y: (N,) int64; ``make_regression1d``
returns x: (N, 1) and y: (N, 1) float32. ``seed`` is an int, an edu_nn.Generator, a numpy
Generator, or None (edu_nn's default generator).
"""
from __future__ import annotations

import numpy as np

from .._random import numpy_rng


def _check_n(n_samples: int, who: str, minimum: int = 1) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < minimum:
        raise ValueError(f"{who}: n_samples must be an int >= {minimum}, got {n_samples!r}")


def _finish(x, y, noise, rng, shuffle):
    if noise:
        x = x + noise * rng.standard_normal(x.shape)
    if shuffle:
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
    return x.astype(np.float32), y.astype(np.int64)


def make_moons(n_samples: int = 100, noise: float | None = None, seed=0,
               shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons recipe): class 0 is the
    upper moon, class 1 the lower one; Gaussian noise of std ``noise`` is added."""
    _check_n(n_samples, "make_moons", 2)
    rng = numpy_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    x = np.vstack([np.column_stack([np.cos(outer), np.sin(outer)]),
                   np.column_stack([1 - np.cos(inner), 1 - np.sin(inner) - 0.5])])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    return _finish(x, y, noise, rng, shuffle)


def make_circles(n_samples: int = 100, noise: float | None = None, factor: float = 0.8,
                 seed=0, shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius 1 (class 0) around one of radius ``factor`` (class 1), as
    scikit-learn's make_circles."""
    _check_n(n_samples, "make_circles", 2)
    if not 0 <= factor < 1:
        raise ValueError(f"make_circles: factor is the inner radius, in [0, 1); got {factor}")
    rng = numpy_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    inner = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.vstack([np.column_stack([np.cos(outer), np.sin(outer)]),
                   factor * np.column_stack([np.cos(inner), np.sin(inner)])])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    return _finish(x, y, noise, rng, shuffle)


def make_spirals(n_samples: int = 300, n_arms: int = 3, noise: float = 0.2, seed=0,
                 shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n_arms`` interleaved spirals, one class per arm (CS231n's spiral data).

    Arm k has radius r in [0, 1] and angle 2*pi*k/n_arms + 4r (plus Gaussian noise of std
    ``noise`` radians on the angle); the samples are split as evenly as possible over arms.
    """
    _check_n(n_samples, "make_spirals", 1)
    if isinstance(n_arms, bool) or not isinstance(n_arms, (int, np.integer)) or n_arms < 2:
        raise ValueError(f"make_spirals: n_arms must be an int >= 2, got {n_arms!r}")
    rng = numpy_rng(seed)
    counts = [n_samples // n_arms + (k < n_samples % n_arms) for k in range(n_arms)]
    xs, ys = [], []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        t = 2 * np.pi * k / n_arms + 4 * r + noise * rng.standard_normal(m)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, k))
    return _finish(np.vstack(xs), np.concatenate(ys), None, rng, shuffle)


def make_xor(n_samples: int = 200, noise: float = 0.0, seed=0) -> tuple[np.ndarray,
                                                                       np.ndarray]:
    """Points uniform in [-1, 1]^2; the label is 1 when exactly one coordinate is positive
    (the XOR of the two signs), decided before ``noise`` is added. Not linearly separable."""
    _check_n(n_samples, "make_xor", 1)
    rng = numpy_rng(seed)
    x = rng.uniform(-1, 1, size=(n_samples, 2))
    y = (x[:, 0] > 0) ^ (x[:, 1] > 0)
    return _finish(x, y, noise, rng, shuffle=False)


def make_regression1d(n_samples: int = 200, noise: float = 0.1, seed=0,
                      x_range: tuple[float, float] = (-2.0, 2.0),
                      fn=None) -> tuple[np.ndarray, np.ndarray]:
    """A 1-d non-linear regression set: x uniform in ``x_range``, y = fn(x) + noise * N(0, 1)
    with fn(x) = sin(3x) by default.

    Returns:
        x: (N, 1) float32, y: (N, 1) float32 (the shape nn.MSELoss expects for a model
        ending in Linear(..., 1)).
    """
    _check_n(n_samples, "make_regression1d", 1)
    rng = numpy_rng(seed)
    fn = fn or (lambda v: np.sin(3 * v))
    x = rng.uniform(x_range[0], x_range[1], size=(n_samples, 1))
    y = fn(x) + noise * rng.standard_normal(x.shape)
    return x.astype(np.float32), y.astype(np.float32)
