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


# ----- hardened checkpoints -------------------------------------------------------------------
def test_keys_that_differ_only_by_npy_never_collide(tmp_path):
    state = {"x": np.array([1.0]), "x.npy": np.array([2.0]), "a/b": np.array([3.0]), "a%2Fb": np.array([4.0]),
             "ü.weight": np.array([5.0])}
    tc.save(state, tmp_path / "c.npz")
    loaded = tc.load(tmp_path / "c.npz")
    assert list(loaded) == list(state)
    for k, v in state.items():
        np.testing.assert_array_equal(loaded[k], v)
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        names = z.namelist()
    assert len(set(names)) == len(names) == 5 and "x.npy" in names and "x.npy.npy" in names


def test_hand_made_archive_with_colliding_or_odd_member_names_is_refused(tmp_path):
    def archive(path, names):
        with zipfile.ZipFile(path, "w") as z:
            for n in names:
                with z.open(n, "w") as m:
                    np.lib.format.write_array(m, np.zeros(2))

    with pytest.warns(UserWarning):  # zipfile warns about the duplicate name it writes
        archive(tmp_path / "dup.npz", ["w.npy", "w.npy"])
    archive(tmp_path / "alias.npz", ["%77.npy"])  # a second spelling of "w"
    for name in ("dup.npz", "alias.npz"):
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            tc.load(tmp_path / name)


def _bomb(path, n_bytes):
    """A small archive whose one member expands to `n_bytes` of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("w.npy", "w", force_zip64=True) as m:
            np.lib.format.write_array(m, np.zeros(n_bytes // 8))


def test_decompressed_size_is_capped_before_anything_is_decompressed(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    _bomb(path, 64 << 20)  # 64 MiB of zeros in about 64 KiB
    assert os.path.getsize(path) < 1 << 20
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or real_open(self, *a, **k))
    with pytest.raises(ValueError, match=r"67,108,\d+ bytes, more than the limit of 1,048,576.*max_bytes"):
        tc.load(path, max_bytes=1 << 20)
    assert opened == []  # refused from the directory alone
    assert serialization.MAX_LOAD_BYTES == 1 << 30
    assert tc.load(path, max_bytes=100 << 20)["w"].shape == (8 << 20,)
    monkeypatch.setattr(serialization, "MAX_LOAD_BYTES", 1 << 20)  # the default is the module's constant
    with pytest.raises(ValueError, match="more than the limit"):
        tc.load(path)


def test_header_claiming_more_data_than_the_member_holds_is_refused(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("w.npy", "w") as m:
            header = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
            np.lib.format.write_array_header_1_0(m, header)
            m.write(b"\0" * 16)
    with pytest.raises(ValueError, match=r"declares shape \(1000000000,\)"):
        tc.load(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_unless_allowed(tmp_path, bad):
    path = tmp_path / "nan.npz"
    tc.save({"ok": np.zeros(2), "w": np.array([1.0, bad, 2.0], dtype=np.float32)}, path)
    with pytest.raises(ValueError, match=r"'w' \(shape \(3,\)\) holds 1 NaN or infinite.*allow_nonfinite=True"):
        tc.load(path)
    loaded = tc.load(path, allow_nonfinite=True)
    assert np.isnan(loaded["w"][1]) if np.isnan(bad) else loaded["w"][1] == bad


def test_load_on_a_single_npy_says_what_it_is(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=r"single \.npy array.*np\.load.*tc\.save"):
        tc.load(path)


def test_save_accepts_a_module(tmp_path):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    tc.save(model, tmp_path / "m.npz")
    loaded = tc.load(tmp_path / "m.npz")
    assert list(loaded) == list(model.state_dict())
    assert loaded["1.num_batches_tracked"].dtype == np.int64
    with pytest.raises(TypeError, match="Module or a state dict"):
        tc.save([np.zeros(2)], tmp_path / "x.npz")


_KILLED_SAVER = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
import tinygrad_cnn as tc
from tinygrad_cnn import serialization
real = serialization.np.lib.format.write_array
def slow(*a, **k):
    real(*a, **k)
    print("writing", flush=True)
    time.sleep(60)
serialization.np.lib.format.write_array = slow
tc.save({{"w": np.zeros(1000)}}, {path!r})
"""


def test_a_save_removes_temp_files_left_by_a_killed_save(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "ckpt.npz"
    root = os.path.dirname(os.path.dirname(os.path.abspath(tc.__file__)))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVER.format(root=root, path=str(path))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.npz.")
    finally:
        proc.kill()
        proc.wait()
    assert len(os.listdir(tmp_path)) == 1  # the killed save's temp file is still there
    other = tmp_path / f".other.npz.{proc.pid}-{'a' * 12}.tmp"  # another target's: not ours to remove
    other.write_bytes(b"")
    mine = tmp_path / f".ckpt.npz.{os.getpid()}-{'b' * 12}.tmp"  # this process's (a save in progress)
    mine.write_bytes(b"")
    tc.save({"w": np.ones(2)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", other.name, mine.name])


def test_a_target_name_near_the_length_limit_saves(tmp_path):
    """The temp file beside the target takes at most 100 bytes of its name, so any name the
    file system allows (255 bytes) can be saved to."""
    path = tmp_path / ("w" * 240 + ".npz")
    tc.save({"w": np.arange(3.0)}, path)
    np.testing.assert_array_equal(tc.load(path)["w"], np.arange(3.0))
    assert os.listdir(tmp_path) == [path.name]
    accented = tmp_path / ("é" * 120 + ".npz")  # 244 bytes; the cut must not split a character
    tc.save({"w": np.ones(1)}, accented)
    assert tc.load(accented)["w"].tolist() == [1.0]
