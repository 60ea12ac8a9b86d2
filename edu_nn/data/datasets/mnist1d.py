"""MNIST-1D (Greydanus 2020, "Scaling Down Deep Learning"), generated offline.

Ten hand-made 1-d templates of 12 points, one per digit, each sample being a template that
is padded, scaled, translated (circularly), given correlated and iid noise, sheared and
resampled to 40 points. 5000 samples, 500 per class, shuffled, then 4000 train / 1000 test;
the whole set is centred to mean 0 and scaled to std 1.

This is a port of the reference generator (the ``mnist1d`` package's ``make_dataset`` with
``get_dataset_args()``: seed 42), drawing the same random numbers in the same order from a
private ``RandomState`` (the original reseeds NumPy's global one), so it gives the same
arrays, bit for bit, without that package or SciPy, and never downloads. Generation is
vectorised and takes about 0.3 s; the result is kept in memory for the process.

The paper's test accuracies: logistic regression ~32%, MLP ~68%, CNN ~94%.
"""
from __future__ import annotations

import functools

import numpy as np

#: The reference recipe's arguments (mnist1d.data.get_dataset_args(), without the URL).
DEFAULT_ARGS = {
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": (36, 60),
    "scale_coeff": 0.4, "max_translation": 48, "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2, "shear_scale": 0.75, "shuffle_seq": False,
    "final_seq_length": 40, "seed": 42,
}


def mnist1d_templates() -> dict[str, np.ndarray]:
    """The ten templates: x: (10, 12) (whitened, each starting at 0, divided by 6),
    t: (12,) their time axis, y: (10,) labels 0..9."""
    d = [[5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
         [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
         [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
         [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
         [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
         [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
         [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
         [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
         [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
         [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5]]
    x = np.asarray(d, dtype=np.float64)
    x -= x.mean(1, keepdims=True)      # whiten
    x /= x.std(1, keepdims=True)
    x -= x[:, :1]                      # each signal starts (and ends) at 0
    return {"x": x / 6.0, "t": np.linspace(-5, 5, x.shape[1]) / 6.0, "y": np.arange(10)}


def gaussian_filter1d(x: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing along the last axis with 'reflect' edges, computed exactly as
    ``scipy.ndimage.gaussian_filter`` does for 1-d signals (same weights, same order of the
    sums), so the results agree to the last bit without needing SciPy."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 / (sigma * sigma) * offsets ** 2)
    w = w / w.sum()
    n = x.shape[-1]
    idx = np.arange(-radius, n + radius)
    idx = np.where(idx < 0, -idx - 1, idx)            # reflect: d c b a | a b c d | d c b a
    idx = np.where(idx >= n, 2 * n - idx - 1, idx)
    ext, c = x[..., idx], radius
    out = ext[..., c:c + n] * w[c]
    for j in range(radius, 0, -1):                    # SciPy's symmetric-kernel loop
        out = out + (ext[..., c - j:c - j + n] + ext[..., c + j:c + j + n]) * w[c - j]
    return out


def _resample(v: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of v onto n evenly spaced points (both ends kept)."""
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(v)), v)


def make_mnist1d(**overrides) -> dict[str, np.ndarray]:
    """Generate MNIST-1D (no cache): keys x: (4000, 40), y: (4000,), x_test: (1000, 40),
    y_test: (1000,) (float64 / int64), t: (40,) and templates.

    Keyword arguments override :data:`DEFAULT_ARGS` (e.g. ``seed=1``, ``num_samples=1000``).
    """
    unknown = set(overrides) - set(DEFAULT_ARGS)
    if unknown:
        raise TypeError(f"make_mnist1d: unknown argument(s) {sorted(unknown)}; valid: "
                        f"{', '.join(DEFAULT_ARGS)}")
    a = {**DEFAULT_ARGS, **overrides}
    rs = np.random.RandomState(a["seed"])
    templates = mnist1d_templates()
    per_class = a["num_samples"] // len(templates["y"])
    ys = np.repeat(templates["y"], per_class).astype(np.int64)
    low, high = a["padding"]
    length = a["template_len"] + high           # every sample is dilated to this length
    # 1. the random draws, per sample in the reference's order: pad, scale, translate,
    #    correlated noise, iid noise, shear
    pads, scales, shifts, shears = (np.empty(len(ys)) for _ in range(4))
    corr, iid = np.empty((len(ys), length)), np.empty((len(ys), length))
    for i in range(len(ys)):
        pads[i] = low + int(rs.rand() * (high - low + 1))
        scales[i] = 1 + a["scale_coeff"] * (rs.rand() - 0.5)
        shifts[i] = rs.choice(a["max_translation"])
        corr[i] = a["corr_noise_scale"] * rs.randn(length)
        iid[i] = a["iid_noise_scale"] * rs.randn(length)
        shears[i] = a["shear_scale"] * (rs.rand() - 0.5)
    # 2. pad with zeros, then stretch back to `length` points (this dilates the template)
    x = np.stack([_resample(np.concatenate([templates["x"][y] + 1e-8, np.zeros(int(p))]),
                            length) for y, p in zip(ys, pads)])
    x = x * scales[:, None]
    # 3. translate circularly by k: x -> concat(x[-k:], x[:-k])
    x = np.take_along_axis(x, (np.arange(length)[None] - shifts[:, None].astype(np.int64))
                           % length, axis=1)
    # 4. correlated noise where the signal is exactly 0 (the padding), iid noise everywhere
    mask = x != 0
    x = mask * x + (1 - mask) * gaussian_filter1d(corr, 2)
    x = x + iid
    # 5. shear, then subsample to the final length
    x = x - shears[:, None] * np.linspace(-0.5, 0.5, length)[None]
    xs = np.stack([_resample(row, a["final_seq_length"]) for row in x])
    new_t = _resample(_resample(templates["t"], length), a["final_seq_length"])
    shuffle = rs.permutation(len(ys))
    xs, ys = xs[shuffle], ys[shuffle]
    if a["shuffle_seq"]:
        xs = xs[..., rs.permutation(a["final_seq_length"])]
    new_t = new_t / xs.std()
    xs = (xs - xs.mean()) / xs.std()   # centre the whole set, std 1
    split = int(len(ys) * a["train_split"])
    return {"x": xs[:split], "y": ys[:split], "x_test": xs[split:], "y_test": ys[split:],
            "t": new_t, "templates": templates}


@functools.lru_cache(maxsize=4)
def _generated(overrides: tuple) -> dict:
    return make_mnist1d(**dict(overrides))


def load_mnist1d(split: str = "train", dtype=np.float32,
                 **overrides) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D as arrays: x: (4000, 40) for split="train" or (1000, 40) for "test", in
    ``dtype`` (float32 by default), and y: int64 labels 0..9.

    The canonical dataset (the reference generator with seed 42); keyword arguments override
    the recipe (see :func:`make_mnist1d`). Generated once per process, then reused.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_mnist1d: split must be 'train' or 'test', got {split!r}")
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                     for k, v in overrides.items()))
    data = _generated(key)
    x, y = (data["x"], data["y"]) if split == "train" else (data["x_test"], data["y_test"])
    return x.astype(dtype, copy=True), y.astype(np.int64, copy=True)
