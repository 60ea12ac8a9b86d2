"""MNIST and Fashion-MNIST from IDX files in a local folder (edu_nn never downloads).

Both datasets come as four files, gzip-compressed as published or uncompressed:

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   (60000 images, 28x28)
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    (10000 images)

Put them in ``<root>/mnist/`` or ``<root>/fashion_mnist/`` (root: ``EDU_NN_DATA`` or
``~/.cache/edu_nn``), or directly in ``root``; torchvision's ``<root>/MNIST/raw/`` and
``<root>/FashionMNIST/raw/`` are found too. Compressed files are checked against the
official MD5 checksums; uncompressed ones against the official sizes.

The IDX format (LeCun): a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), then each dimension as a big-endian uint32, then the values, big-endian.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from ._home import data_home

#: IDX type codes and the NumPy dtypes they store (big-endian).
IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SIZES = {"train": 60000, "test": 10000}

#: The official MD5 checksums of the published .gz files (as torchvision checks them).
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
URLS = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "fashion": "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"}
FOLDERS = {"mnist": ("mnist", "MNIST/raw"), "fashion": ("fashion_mnist", "FashionMNIST/raw")}
NAMES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
#: Fashion-MNIST's class names, by label.
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def _open(path: Path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array in native byte order."""
    path = Path(path)
    with _open(path) as f:
        content = f.read()
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (its first bytes should be 0, 0, a type "
                         f"code and the number of dimensions; got {list(content[:4])})")
    dtype, ndim = IDX_DTYPES[content[2]], content[3]
    shape = tuple(int(d) for d in np.frombuffer(content, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(content) - offset != expected:
        raise ValueError(f"{path}: the header says shape {shape} ({expected} bytes of data) "
                         f"but the file holds {len(content) - offset}: truncated or corrupt")
    data = np.frombuffer(content, dtype, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``, or when the name
    ends in .gz). Handy for small test files in the MNIST layout."""
    path, array = Path(path), np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: IDX stores uint8, int8, int16, int32, float32 or float64, "
                        f"not {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = array.astype(IDX_DTYPES[code]).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(header + body)
    return path


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find(root: Path, kind: str, split: str) -> tuple[Path, ...]:
    """The image and label files of ``split``: the first folder holding both wins."""
    folders = [root] + [root / sub for sub in FOLDERS[kind]]
    for folder in folders:
        found = []
        for stem in FILES[split]:
            hits = [folder / name for name in (stem + ".gz", stem) if (folder / name).is_file()]
            if hits:
                found.append(hits[0])
        if len(found) == 2:
            return tuple(found)
    where = root / FOLDERS[kind][0]
    lines = "\n".join(f"    {where / (stem + '.gz')}" for s in ("train", "test")
                      for stem in FILES[s])
    raise FileNotFoundError(
        f"{NAMES[kind]} ({split} split) not found: edu_nn never downloads. Put the four files "
        f"(the .gz files as downloaded, or uncompressed) here:\n{lines}\n"
        f"Download them by hand from {URLS[kind]}, e.g.\n"
        f"    mkdir -p {where} && cd {where} && curl -LO {URLS[kind]}{FILES[split][0]}.gz\n"
        f"or point edu_nn at the folder that holds them: root= in Python, --data-root on "
        f"the command line, or the EDU_NN_DATA environment variable. "
        f"Searched: {', '.join(str(f) for f in folders)}")


def _verify(path: Path, kind: str, checksums: dict | None) -> None:
    """Check the MD5 of ``path`` when the table has its name (the official table has the .gz
    names; an uncompressed official file is checked by its size after reading)."""
    expected = (CHECKSUMS[kind] if checksums is None else checksums).get(path.name)
    if expected is None:
        return
    actual = _md5(path)
    if actual != expected:
        raise ValueError(
            f"{path}: MD5 checksum mismatch (expected {expected}, got {actual}). The file is "
            f"incomplete, corrupt or not the official {NAMES[kind]} file: download it again "
            f"from {URLS[kind]}{path.name}, or pass verify=False to skip this check")


def load_mnist(root=None, kind: str = "mnist", split: str = "train", verify: bool = True,
               checksums: dict | None = None, flatten: bool = False):
    """MNIST or Fashion-MNIST from local IDX files.

    Args:
        root: the folder holding the files or a ``mnist/``/``fashion_mnist/`` folder of them
            (default: ``EDU_NN_DATA`` or ``~/.cache/edu_nn``).
        kind: "mnist" or "fashion" (also "fashion_mnist").
        split: "train" (60000 images) or "test" (10000).
        verify: check the official MD5 of .gz files (size of uncompressed ones).
        checksums: {file name: md5} to check instead of the official table (tests).
        flatten: x of shape (N, 784) instead of (N, 1, 28, 28).

    Returns:
        x: (N, 1, 28, 28) float32 in [0, 1]; y: (N,) int64 labels 0..9.
    """
    kind = {"fashion_mnist": "fashion", "fashion-mnist": "fashion"}.get(kind, kind)
    if kind not in CHECKSUMS:
        raise ValueError(f"load_mnist: kind must be 'mnist' or 'fashion', got {kind!r}")
    if split not in FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    images_path, labels_path = _find(data_home(root), kind, split)
    if verify:
        for path in (images_path, labels_path):
            _verify(path, kind, checksums)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if verify and checksums is None and len(images) != SIZES[split]:
        raise ValueError(f"{images_path}: holds {len(images)} images, the official file "
                         f"{SIZES[split]}: not the official {NAMES[kind]} file "
                         f"(verify=False skips this check)")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{images_path.parent}: expected images (N, H, W) and labels (N,), "
                         f"got shapes {images.shape} and {labels.shape}")
    x = (images.astype(np.float32) / 255.0)[:, None]
    return (x.reshape(len(x), -1) if flatten else x), labels.astype(np.int64)
