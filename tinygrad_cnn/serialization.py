"""Checkpoints: a state dict (name -> array) saved as an `.npz` archive.

`save` never leaves a half-written file at `path`: it writes a temporary file in the
same directory, flushes it to disk and then renames it over `path` in one step
(`os.replace` is atomic on POSIX and Windows), so a crash keeps the old checkpoint.
`load` accepts only archives of plain numeric arrays; pickled objects are refused.
"""

from __future__ import annotations

import os
import secrets
import zipfile
from typing import Any, Mapping

import numpy as np

from .tensor import Tensor

PathLike = str | os.PathLike


def _as_arrays(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"save: state dict keys must be non-empty strings, got {key!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save: {key!r} is an array of dtype {array.dtype}; only numeric arrays can be saved")
        arrays[key] = array
    return arrays


def save(state_dict: Mapping[str, Any], path: PathLike) -> None:
    """Write `state_dict` (name -> array or Tensor) to `path` as an `.npz` archive, atomically."""
    arrays = _as_arrays(state_dict)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the folder of {path!r} does not exist")
    fd, tmp = _create_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            # The same layout np.savez writes, without its keyword arguments
            # (a parameter named "file" would collide with them).
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, array in arrays.items():
                    with zf.open(key + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new file beside the target. Unlike mkstemp's 0600, it gets the mode any new
    file gets (0666 less the umask), so the checkpoint ends up as readable as a plain write."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"save: could not create a temporary file in {directory!r}")


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by `save`. A file that is not such an archive raises `ValueError`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single .npy array, not a state dict archive")
            result = {}
            for key in archive.files:
                value = archive[key]
                if not isinstance(value, np.ndarray):
                    raise ValueError(f"member {key!r} is not a .npy array")
                if value.dtype.kind not in "biuf":
                    raise ValueError(f"member {key!r} has dtype {value.dtype}, not numbers")
                result[key] = value
    except Exception as e:  # zip, npy-header, zlib and EOF errors all mean: not a checkpoint
        raise ValueError(f"load: {path!r} is not a valid checkpoint (.npz of numeric arrays): {e}") from e
    return result
