"""Augmentation and normalisation transforms: each output is checked against a direct NumPy
construction of what the transform promises (a shifted, flipped or cropped copy of its
input), on single samples and on batches, and through a DataLoader on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import edu_nn
from edu_nn.data import DataLoader, TensorDataset, TransformDataset
from edu_nn.data.transforms import (Compose, GaussianNoise, Lambda, Normalize,
                                    RandomCrop, RandomHorizontalFlip, RandomShift,
                                    RandomVerticalFlip)


def _images(n=16, c=2, h=5, w=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


# ------------------------------------------------------------------ Normalize
def test_normalize_scalar_and_per_channel():
    x = _images()
    np.testing.assert_allclose(Normalize(0.5, 2.0).batch(x), (x - 0.5) / 2.0, rtol=1e-6)
    mean, std = [0.1, -0.2], [0.5, 2.0]
    expected = (x - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]
    out = Normalize(mean, std).batch(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    np.testing.assert_allclose(Normalize(mean, std)(x[3]), expected[3], rtol=1e-5)  # a sample
    flat = x.reshape(16, -1)[:, :2]                         # (N, D): one value per feature
    np.testing.assert_allclose(Normalize(mean, std).batch(flat),
                               (flat - np.array(mean)) / np.array(std), rtol=1e-5)


def test_normalize_errors():
    with pytest.raises(ValueError, match="std must be non-zero"):
        Normalize(0, [1, 0])
    with pytest.raises(ValueError, match="2 means for samples of shape"):
        Normalize([0, 0], [1, 1]).batch(np.zeros((4, 3, 2, 2)))


# ------------------------------------------------------------------ GaussianNoise
def test_gaussian_noise_statistics_and_seeding():
    x = np.zeros((2000, 10), np.float32)
    noisy = GaussianNoise(0.3, generator=0).batch(x)
    assert noisy.dtype == np.float32
    assert noisy.std() == pytest.approx(0.3, rel=0.02) and abs(noisy.mean()) < 0.01
    np.testing.assert_array_equal(GaussianNoise(0.3, generator=0).batch(x), noisy)  # seeded
    t = GaussianNoise(0.3, generator=0)
    assert not np.array_equal(t.batch(x), t.batch(x))     # fresh noise at every call
    assert GaussianNoise(0.0).batch(x).std() == 0
    with pytest.raises(ValueError, match="std must be >= 0"):
        GaussianNoise(-1)


# ------------------------------------------------------------------ RandomShift
def _zero_filled_shift(row: np.ndarray, k: int) -> np.ndarray:
    """row shifted right by k along its last axis, zeros shifted in."""
    out = np.zeros_like(row)
    n = row.shape[-1]
    if k >= 0:
        out[..., k:] = row[..., :n - k]
    else:
        out[..., :n + k] = row[..., -k:]
    return out


def test_random_shift_1d_is_a_shift_of_each_sample():
    x = np.random.default_rng(1).standard_normal((200, 1, 12)).astype(np.float32) + 5
    out = RandomShift(3, generator=0).batch(x)
    seen = set()
    for row, new in zip(x, out):
        matches = [k for k in range(-3, 4) if np.array_equal(new, _zero_filled_shift(row, k))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(-3, 4))                       # every shift in the range occurs


def test_random_shift_circular_wraps_around():
    x = np.arange(2 * 10, dtype=np.float64).reshape(2, 10)
    out = RandomShift(4, circular=True, generator=3).batch(x)
    for row, new in zip(x, out):
        assert any(np.array_equal(new, np.roll(row, k)) for k in range(-4, 5))
        assert sorted(new) == sorted(row)                  # nothing lost, nothing filled


def test_random_shift_2d_moves_images_along_both_axes():
    x = _images(50, 1, 6, 6, seed=2) + 3
    out = RandomShift((1, 2), fill=0.0, generator=0).batch(x)
    for img, new in zip(x, out):
        candidates = [_zero_filled_shift(np.swapaxes(_zero_filled_shift(
            np.swapaxes(img, -1, -2), a), -1, -2), b) for a in (-1, 0, 1) for b in range(-2, 3)]
        assert any(np.array_equal(new, c) for c in candidates)
    with pytest.raises(ValueError, match="last 2 axes"):
        RandomShift((1, 1)).batch(np.zeros((3, 4)))


# ------------------------------------------------------------------ flips
def test_flips():
    x = _images(400)
    h = RandomHorizontalFlip(p=0.5, generator=0).batch(x)
    flipped = np.array([np.array_equal(a, b[..., ::-1]) for a, b in zip(h, x)])
    kept = np.array([np.array_equal(a, b) for a, b in zip(h, x)])
    assert np.all(flipped ^ kept) and 0.4 < flipped.mean() < 0.6
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1).batch(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomVerticalFlip(p=1).batch(x), x[..., ::-1, :])
    np.testing.assert_array_equal(RandomVerticalFlip(p=0).batch(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1)(x[0]), x[0][..., ::-1])
    with pytest.raises(ValueError, match="p is a probability"):
        RandomHorizontalFlip(p=2)


# ------------------------------------------------------------------ RandomCrop
def test_random_crop_is_a_window_of_the_padded_input():
    x = _images(40, 1, 6, 6, seed=4) + 10
    out = RandomCrop(6, padding=2, generator=0).batch(x)
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(len(x)):
        windows = [padded[i, :, a:a + 6, b:b + 6] for a in range(5) for b in range(5)]
        assert any(np.array_equal(out[i], w) for w in windows)
    small = RandomCrop((3, 4), generator=1).batch(x)
    assert small.shape == (40, 1, 3, 4)
    signals = RandomCrop((5,), generator=1).batch(np.arange(20.0).reshape(2, 10))
    assert signals.shape == (2, 5) and all(np.all(np.diff(s) == 1) for s in signals)
    with pytest.raises(ValueError, match="larger than the padded input"):
        RandomCrop(10).batch(x)


# ------------------------------------------------------------------ Compose, Lambda, datasets
def test_compose_and_lambda():
    x = _images(4)
    t = Compose([Normalize(1.0, 2.0), Lambda(lambda s: s * 10), RandomHorizontalFlip(p=1)])
    expected = ((x - 1.0) / 2.0 * 10)[..., ::-1]
    np.testing.assert_allclose(t.batch(x), expected, rtol=1e-5)
    np.testing.assert_allclose(t(x[1]), expected[1], rtol=1e-5)
    assert "Normalize" in repr(t)


def test_transform_dataset_through_the_dataloader_on_every_backend(backend_name):
    x = _images(10)
    y = np.arange(10)
    data = TransformDataset(TensorDataset(x, y), transform=RandomVerticalFlip(p=1),
                            target_transform=Lambda(lambda t: t + 100))
    assert len(data) == 10
    xi, yi = data[3]
    np.testing.assert_array_equal(xi, x[3][..., ::-1, :])
    assert yi == 103
    batches = list(DataLoader(data, batch_size=4, shuffle=True, generator=0,
                              backend=backend_name))
    for xb, yb in batches:
        assert xb.backend.name == backend_name
        rows = yb.numpy() - 100
        np.testing.assert_array_equal(xb.numpy(), x[rows][..., ::-1, :])


def test_seeded_augmentation_repeats_through_the_loader():
    x = np.random.default_rng(0).standard_normal((30, 1, 20)).astype(np.float32)

    def epoch():
        data = TransformDataset(TensorDataset(x, np.arange(30)),
                                Compose([RandomShift(3, circular=True, generator=5),
                                         GaussianNoise(0.1, generator=6)]))
        return np.concatenate([xb.numpy() for xb, _ in DataLoader(data, batch_size=8,
                                                                  shuffle=True, generator=1)])
    np.testing.assert_array_equal(epoch(), epoch())


def test_transforms_accept_tensors():
    x = edu_nn.tensor(_images(3))
    out = RandomHorizontalFlip(p=1).batch(x)
    np.testing.assert_array_equal(out, x.numpy()[..., ::-1])
