"""tc.save / tc.load: round trips, atomic replacement, and refusing bad files."""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn
from tinygrad_cnn import serialization


def small_state():
    return {
        "0.weight": np.arange(12, dtype=np.float32).reshape(2, 1, 2, 3),
        "0.bias": np.array([0.5, -1.5], dtype=np.float32),
        "file": np.array([1.0, 2.0]),  # would collide with np.savez's own argument name
        "steps": np.array(3, dtype=np.int64),
    }


def test_round_trip_keeps_keys_order_values_and_dtypes(tmp_path):
    path = tmp_path / "ckpt.npz"
    tc.save(small_state(), path)
    loaded = tc.load(path)
    assert list(loaded) == list(small_state())
    for k, v in small_state().items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k], v)
    # an ordinary npz reader sees the same archive
    with np.load(path) as z:
        np.testing.assert_array_equal(z["0.bias"], small_state()["0.bias"])


def test_model_round_trip_through_a_file(tmp_path):
    nn.manual_seed(0)
    a = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    b = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    tc.save(a.state_dict(), str(tmp_path / "m.npz"))
    b.load_state_dict(tc.load(str(tmp_path / "m.npz")))
    x = np.random.default_rng(0).random((2, 1, 6, 6))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_tensors_are_saved_by_value_and_path_is_kept_exactly(tmp_path):
    path = tmp_path / "weights"  # no .npz added behind the user's back
    tc.save({"w": Tensor(np.ones(3), requires_grad=True)}, path)
    assert path.exists() and not (tmp_path / "weights.npz").exists()
    np.testing.assert_array_equal(tc.load(path)["w"], np.ones(3))


def test_save_rejects_non_numeric_values_and_bad_keys(tmp_path):
    with pytest.raises(TypeError, match="'x'.*object"):
        tc.save({"x": np.array([{"a": 1}], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="keys"):
        tc.save({1: np.zeros(2)}, tmp_path / "b.npz")
    assert os.listdir(tmp_path) == []


def test_crash_during_replace_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tc.save({"w": np.zeros(4)}, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(serialization.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        tc.save({"w": np.ones(4)}, path)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(tc.load(path)["w"], np.zeros(4))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # the temporary file was cleaned up


def test_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tc.save({"w": np.zeros(4)}, path)
    before = path.read_bytes()

    def broken_write(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C halfway through the archive

    monkeypatch.setattr(serialization.np.lib.format, "write_array", broken_write)
    with pytest.raises(KeyboardInterrupt):
        tc.save({"w": np.ones(4)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.npz"]


def test_saved_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        tc.save({"w": np.zeros(1)}, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "m.npz").st_mode & 0o777) == 0o644


@pytest.mark.parametrize(
    "kind",
    ["truncated", "text", "empty", "pickle", "object_array", "single_npy", "foreign_zip", "gzip"],
)
def test_bad_files_raise_value_error_naming_the_path(tmp_path, kind):
    path = tmp_path / f"bad_{kind}.npz"
    if kind == "truncated":
        tc.save(small_state(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    elif kind == "object_array":
        np.savez(path, w=np.array([None, "x"], dtype=object))  # stored as a pickle inside the npz
    elif kind == "single_npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif kind == "foreign_zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif kind == "gzip":
        path.write_bytes(gzip.compress(b"\x00" * 100))
    with pytest.raises(ValueError) as e:
        tc.load(path)
    assert str(path) in str(e.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here.npz"):
        tc.load(tmp_path / "nothing_here.npz")
