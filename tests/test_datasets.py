"""Datasets that need no network: digits, MNIST-1D (a port of the reference generator), the
MNIST/Fashion-MNIST IDX reader (on small files written here), toy 2-d sets, 1-d regression,
and the registry used by ``edu-nn train``."""
from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from edu_nn.data import (DATASETS, get_arrays, get_dataset, load_digits, load_mnist,
                         load_mnist1d, make_circles, make_moons, make_regression1d,
                         make_spirals, make_xor, read_idx, write_idx)
from edu_nn.data.datasets import make_mnist1d
from edu_nn.data.datasets.mnist import CHECKSUMS


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# ------------------------------------------------------------------ digits
def test_digits_matches_sklearn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    x, y = load_digits()
    ref = sklearn_datasets.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0] * 16, ref.images)    # pixels 0..16 scaled to [0, 1]
    np.testing.assert_array_equal(y, ref.target)
    assert x.min() == 0 and x.max() == 1
    flat, _ = load_digits(flatten=True)
    assert flat.shape == (1797, 64)


def test_digits_need_no_scikit_learn(tmp_path):
    """The digits ship inside edu_nn (the README's first command installs no scikit-learn):
    with sklearn made unimportable, loading them and `edu-nn train --data digits` work."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"          # import sklearn fails
            "from edu_nn.data import load_digits\n"
            "x, y = load_digits()\n"
            "assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,)\n"
            "from edu_nn.cli import main\n"
            f"sys.exit(main(['train', '--data', 'digits', '--epochs', '1', '--no-plots', "
            f"'--no-progress', '--out', {str(tmp_path / 'run')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "sklearn" not in proc.stderr and (tmp_path / "run" / "metrics.json").exists()


# ------------------------------------------------------------------ MNIST-1D
def test_mnist1d_equals_the_reference_package_bit_for_bit():
    """The port must give exactly the arrays of mnist1d.data.make_dataset (the offline
    generator; get_dataset would download, so it is never called)."""
    mnist1d_data = pytest.importorskip("mnist1d.data")
    ref = mnist1d_data.make_dataset(mnist1d_data.get_dataset_args())
    ours = make_mnist1d()
    for key in ("x", "y", "x_test", "y_test", "t"):
        assert ours[key].shape == ref[key].shape, key
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    np.testing.assert_array_equal(ours["templates"]["x"], ref["templates"]["x"])
    # another recipe too: the port follows the arguments, not just the defaults
    args = mnist1d_data.get_dataset_args()
    args.seed, args.num_samples = 7, 500
    ref = mnist1d_data.make_dataset(args)
    ours = make_mnist1d(seed=7, num_samples=500)
    for key in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def test_mnist1d_fixed_seed_fingerprint():
    """Checks the canonical dataset without the mnist1d package (CI may not have it).

    The numbers were computed once from the reference package (mnist1d 0.0.2.post1):
        ref = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
        sha256(ref["y"].astype(int64).tobytes()), np.bincount(ref["y"]),
        sha256(np.round(ref["x"], 6).tobytes()), ref["x"][0, :5], ...
    x is hashed after rounding to 6 decimals: its float64 last bits come from exp/interp,
    whose SIMD implementations may differ between machines; labels are hashed exactly.
    """
    x, y = load_mnist1d("train", dtype=np.float64)
    xt, yt = load_mnist1d("test", dtype=np.float64)
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert y.dtype == np.int64 and x.dtype == np.float64
    np.testing.assert_array_equal(np.bincount(y),
                                  [398, 396, 411, 394, 394, 402, 401, 404, 402, 398])
    np.testing.assert_array_equal(np.bincount(yt), [102, 104, 89, 106, 106, 98, 99, 96, 98, 102])
    assert _sha256(y) == "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15"
    assert _sha256(yt) == "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c"
    assert _sha256(np.round(x, 6)) == \
        "a628c903554582c85cd522460f0ac9376d8f2c1daf90d5ea251968c8de2fc707"
    assert _sha256(np.round(xt, 6)) == \
        "40736dec6f794f2e52a879797628fb8f41ae44a628489bf5cd8d19ef39a28d42"
    np.testing.assert_allclose(x[0, :5], [-0.33200567, -0.47191037, -0.77869708, -1.00974083,
                                          -0.88235257], rtol=0, atol=1e-8)
    np.testing.assert_allclose(xt[-1, -3:], [0.65987565, 0.87773435, 1.19315184], atol=1e-8)
    np.testing.assert_allclose((x ** 2).sum(), 159248.2538653486, rtol=1e-12)
    # the whole set (train + test) is centred with std 1
    both = np.concatenate([x, xt])
    assert abs(both.mean()) < 1e-12 and both.std() == pytest.approx(1.0, abs=1e-12)


def test_mnist1d_loader_dtype_copy_and_errors():
    x, y = load_mnist1d()
    assert x.dtype == np.float32 and x.shape == (4000, 40)
    x[:] = 0                                      # a copy: the cached set is not changed
    assert load_mnist1d()[0].any()
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist1d("val")
    with pytest.raises(TypeError, match="unknown argument"):
        make_mnist1d(sead=1)


def test_mnist1d_registry_splits():
    train = get_arrays("mnist1d", "train")
    val = get_arrays("mnist1d", "val")
    test = get_arrays("mnist1d", "test")
    trainval = get_arrays("mnist1d", "trainval")
    assert train[0].shape == (3600, 1, 40) and val[0].shape == (400, 1, 40)
    assert test[0].shape == (1000, 1, 40) and trainval[0].shape == (4000, 1, 40)
    # train and val partition the official training set
    rows = {r.tobytes() for r in np.concatenate([train[0], val[0]])}
    assert rows == {r.tobytes() for r in trainval[0]}
    assert np.bincount(val[1]).min() >= 38                     # stratified: ~40 per class
    ds = get_dataset("mnist1d", "test")
    assert len(ds) == 1000


# ------------------------------------------------------------------ IDX files / MNIST
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / ("a.idx" + (".gz" if compress else "")), array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=") and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_as_lecun_describes(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([7, 2, 1], np.uint8))
    raw = path.read_bytes()
    # magic 0x00000801 (unsigned byte, 1 dim), then the size 3 as a big-endian uint32
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))      # says 5 values, has 2
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(short)


def _write_mnist(folder, n_train=6, n_test=4, gz=True):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    images = {s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
              for s, n in (("train", n_train), ("t10k", n_test))}
    labels = {s: rng.integers(0, 10, n, dtype=np.uint8) for s, n in (("train", n_train),
                                                                       ("t10k", n_test))}
    for s in ("train", "t10k"):
        write_idx(folder / f"{s}-images-idx3-ubyte{suffix}", images[s])
        write_idx(folder / f"{s}-labels-idx1-ubyte{suffix}", labels[s])
    return images, labels


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_load_mnist_from_small_idx_files_with_their_checksums(tmp_path):
    folder = tmp_path / "mnist"
    images, labels = _write_mnist(folder)
    sums = {p.name: _md5(p) for p in folder.iterdir()}
    x, y = load_mnist(tmp_path, split="train", checksums=sums)
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0], images["train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels["train"])
    xt, yt = load_mnist(folder, split="test", checksums=sums, flatten=True)   # root = folder
    assert xt.shape == (4, 784)
    np.testing.assert_array_equal(yt, labels["t10k"])


def test_load_mnist_checksum_mismatch(tmp_path):
    folder = tmp_path / "mnist"
    _write_mnist(folder)
    # the official MD5 table: these small files are not the official ones
    with pytest.raises(ValueError, match=r"MD5 checksum mismatch \(expected "
                                         + CHECKSUMS["mnist"]["train-images-idx3-ubyte.gz"]):
        load_mnist(tmp_path)
    sums = {p.name: _md5(p) for p in folder.iterdir()}
    path = folder / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:      # a corrupted download: same name, other bytes
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 1, 3]))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: MD5 checksum mismatch"):
        load_mnist(tmp_path, checksums=sums)
    x, y = load_mnist(tmp_path, verify=False, split="test")     # verify=False skips it
    assert len(x) == 4


def test_uncompressed_files_are_checked_by_size(tmp_path):
    _write_mnist(tmp_path / "fashion_mnist", gz=False)
    with pytest.raises(ValueError, match="holds 6 images, the official file 60000"):
        load_mnist(tmp_path, kind="fashion")
    x, _ = load_mnist(tmp_path, kind="fashion_mnist", verify=False)
    assert x.shape == (6, 1, 28, 28)


def test_missing_mnist_folder_says_where_to_put_the_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path / "data")
    message = str(info.value)
    assert "never downloads" in message
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert str(tmp_path / "data" / "mnist" / name) in message
    assert "EDU_NN_DATA" in message
    monkeypatch.setenv("EDU_NN_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "env" / "fashion_mnist")):
        get_arrays("fashion_mnist", "test")


def test_load_mnist_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="kind must be 'mnist' or 'fashion'"):
        load_mnist(tmp_path, kind="kmnist")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist(tmp_path, split="val")


# ------------------------------------------------------------------ toy sets
@pytest.mark.parametrize("maker, classes", [(make_moons, 2), (make_circles, 2),
                                            (make_spirals, 3), (make_xor, 2)])
def test_toy_sets_shapes_classes_and_seeds(maker, classes):
    x, y = maker(n_samples=301, seed=0)
    assert x.shape == (301, 2) and x.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(classes))
    if maker is not make_xor:       # the others split the samples evenly over the classes
        assert np.bincount(y).max() - np.bincount(y).min() <= 1
    again, _ = maker(n_samples=301, seed=0)
    other, _ = maker(n_samples=301, seed=1)
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, other)


def test_toy_sets_geometry_without_noise():
    x, y = make_moons(200, noise=None, seed=0)
    upper = x[y == 0]                          # the upper half circle of radius 1 around 0
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1, atol=1e-6)
    lower = x[y == 1]                          # the lower one around (1, 0.5)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1, atol=1e-6)
    x, y = make_circles(200, factor=0.3, seed=0)
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1, atol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, atol=1e-6)
    x, y = make_xor(500, seed=0)
    np.testing.assert_array_equal(y, (x[:, 0] > 0) ^ (x[:, 1] > 0))


def test_regression1d():
    x, y = make_regression1d(400, noise=0.0, seed=0)
    assert x.shape == (400, 1) and y.shape == (400, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.sin(3 * x), atol=1e-6)
    assert -2 <= x.min() and x.max() <= 2
    x, y = make_regression1d(2000, noise=0.1, seed=0)
    assert np.std(y - np.sin(3 * x)) == pytest.approx(0.1, rel=0.1)


def test_toy_set_errors():
    with pytest.raises(ValueError, match="n_samples must be an int >= 2"):
        make_moons(1)
    with pytest.raises(ValueError, match="factor is the inner radius"):
        make_circles(10, factor=1.5)
    with pytest.raises(ValueError, match="n_arms must be an int >= 2"):
        make_spirals(10, n_arms=1)


# ------------------------------------------------------------------ registry
def test_registry_splits_are_60_20_20_and_stratified():
    sizes = {s: len(get_arrays("moons", s, seed=0)[1]) for s in ("train", "val", "test")}
    assert sizes == {"train": 600, "val": 200, "test": 200}
    train, test = get_arrays("digits", "train"), get_arrays("digits", "test")
    assert train[0].shape[1:] == (1, 8, 8)
    np.testing.assert_allclose(np.bincount(test[1]) / len(test[1]),
                               np.bincount(load_digits()[1]) / 1797, atol=0.01)
    np.testing.assert_array_equal(get_arrays("spirals", "test", seed=3)[0],
                                  get_arrays("spirals", "test", seed=3)[0])


def test_registry_describes_every_dataset_and_rejects_unknown_names():
    for name, info in DATASETS.items():
        assert info.name == name and info.task in ("classification", "regression")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; the datasets are: "
                                         "digits, mnist1d, mnist"):
        get_arrays("cifar10")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        get_arrays("moons", "dev")
