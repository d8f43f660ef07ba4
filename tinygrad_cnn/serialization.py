"""Checkpoints: a state dict (name -> array) saved as an `.npz` archive.

`save` never leaves a half-written file at `path`: it writes a temporary file in the
same directory, flushes it to disk and then renames it over `path` in one step
(`os.replace` is atomic on POSIX and Windows), so a crash keeps the old checkpoint. The
temporary file's name carries the writer's process id, so the next save of the same
target removes the ones a killed process left behind.

Each key is stored as one archive member, percent-encoded (`"conv1.weight"` stays
`conv1.weight.npy`, a `/` becomes `%2F`) so that no two keys can share a member name
and every member name decodes to exactly one key. `load` reads the members itself,
by their exact names, and refuses, before decompressing anything, an archive that
would expand to more than `max_bytes` (default `MAX_LOAD_BYTES`, 1 GiB); it accepts only
plain numeric arrays (nothing pickled) and, unless `allow_nonfinite=True`, only finite
values.
"""

from __future__ import annotations

import os
import secrets
import time
import zipfile
from typing import Any, Mapping
from urllib.parse import quote, unquote

import numpy as np

from .tensor import Tensor

PathLike = str | os.PathLike

MAX_LOAD_BYTES = 1 << 30  # what `load` may decompress by default: 1 GiB (pass max_bytes= to change)
_NPY_MAGIC = b"\x93NUMPY"
_STALE_AGE = 60.0  # seconds: a temp file this old whose writer cannot be checked is abandoned


class _Refused(ValueError):
    """A checkpoint refused for a stated reason (passed on as it is, not re-worded)."""


def _encode(key: str) -> str:
    return quote(key, safe="") + ".npy"


def _decode(member: str) -> str | None:
    """The key of an archive member, or None when the name is not one `_encode` makes."""
    if not member.endswith(".npy"):
        return None
    stem = member[: -len(".npy")]
    try:
        key = unquote(stem, errors="strict")
    except UnicodeDecodeError:
        return None
    return key if key and quote(key, safe="") == stem else None


def _as_arrays(state_dict: Any) -> dict[str, np.ndarray]:
    from .nn.module import Module  # late: nn builds on this package's Tensor

    if isinstance(state_dict, Module):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a Module or a state dict (name -> array), got {type(state_dict).__name__}")
    arrays = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"save: state dict keys must be non-empty strings, got {key!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save: {key!r} is an array of dtype {array.dtype}; only numeric arrays can be saved")
        arrays[key] = array
    return arrays


def save(obj: Any, path: PathLike) -> None:
    """Write a Module's `state_dict()`, or a state dict (name -> array or Tensor), to `path`
    as an `.npz` archive, atomically. The path is used exactly as given (no `.npz` added)."""
    arrays = _as_arrays(obj)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the folder of {path!r} does not exist")
    name = os.path.basename(path)
    _remove_stale_temps(directory, name)
    fd, tmp = _create_temp(directory, name)
    try:
        with os.fdopen(fd, "wb") as f:
            # The layout np.savez writes, with our own member names (see _encode).
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, array in arrays.items():
                    with zf.open(_encode(key), "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _stem(name: str) -> str:
    """The target's name as temp files start with it: at most 100 bytes, so a target name
    near the file system's 255-byte limit still leaves room for the temp file's suffix."""
    return name.encode("utf-8", "surrogateescape")[:100].decode("utf-8", "ignore")


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new file beside the target, named `.<name>.<pid>-<random>.tmp` (the name cut to
    100 bytes). Unlike mkstemp's 0600, it gets the mode any new file gets (0666 less the umask)."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{_stem(name)}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"save: could not create a temporary file in {directory!r}")


def _remove_stale_temps(directory: str, name: str) -> None:
    """Delete temp files of this target whose writer is gone: its process no longer exists
    (or, where that cannot be asked, the file has not changed for a minute). Temp files of
    a live process, e.g. another thread's save in progress, are left alone."""
    prefix, suffix = f".{_stem(name)}.", ".tmp"
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(suffix)):
            continue
        middle = entry[len(prefix) : -len(suffix)]
        pid_text, dash, token = middle.partition("-")
        full = os.path.join(directory, entry)
        if dash and pid_text.isdigit() and _is_hex(token):  # .<name>.<pid>-<random>.tmp
            pid = int(pid_text)
            if pid == os.getpid():
                continue  # this process: maybe another thread's save in progress
            alive = _process_alive(pid)
            if alive or (alive is None and _age(full) <= _STALE_AGE):
                continue
        elif not (_is_hex(middle) and _age(full) > _STALE_AGE):  # 0.1's names: no pid, go by age
            continue
        _unlink_quietly(full)


def _is_hex(text: str) -> bool:
    return len(text) == 12 and all(c in "0123456789abcdef" for c in text)


def _process_alive(pid: int) -> bool | None:
    """Whether process `pid` exists; None where that cannot be asked safely (on Windows
    os.kill would terminate it)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return None
    return True


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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


def load(path: PathLike, *, max_bytes: int | None = None, allow_nonfinite: bool = False) -> dict[str, np.ndarray]:
    """Read a state dict written by `save`.

    A file that is not such an archive raises `ValueError` naming it, as does one that
    would decompress to more than `max_bytes` (default `MAX_LOAD_BYTES`, 1 GiB; checked
    before anything is decompressed) or that holds NaN or infinite values (unless
    `allow_nonfinite=True`).
    """
    path = os.fspath(path)
    limit = MAX_LOAD_BYTES if max_bytes is None else max_bytes
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise TypeError(f"load: max_bytes must be a non-negative int, got {max_bytes!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head == _NPY_MAGIC:
        raise ValueError(
            f"load: {path!r} is a single .npy array (written by np.save), not a checkpoint; read it with "
            "np.load(path), or save a state dict with tc.save(model, path) to load it here"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_members(zf, path, int(limit), allow_nonfinite)
    except _Refused:
        raise
    except Exception as e:  # zip, npy-header, zlib and EOF errors all mean: not a checkpoint
        raise ValueError(f"load: {path!r} is not a valid checkpoint (.npz of numeric arrays): {e}") from e


def _read_members(zf: zipfile.ZipFile, path: str, limit: int, allow_nonfinite: bool) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    total = sum(info.file_size for info in infos)  # from the directory: nothing decompressed yet
    if total > limit:
        raise _Refused(
            f"load: {path!r} would decompress to {total:,} bytes, more than the limit of {limit:,} "
            "(tc.serialization.MAX_LOAD_BYTES); if you trust the file, pass max_bytes= a larger number"
        )
    keys = [_decode(info.filename) for info in infos]
    if len(set(info.filename for info in infos)) != len(infos):
        raise ValueError("two members share one name")
    result: dict[str, np.ndarray] = {}
    for info, key in zip(infos, keys):
        if key is None:
            raise ValueError(f"member {info.filename!r} is not a named .npy array")
        with zf.open(info) as member:
            array = _read_npy(member, info)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"member {key!r} has dtype {array.dtype}, not numbers")
        if not allow_nonfinite and array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise _Refused(
                f"load: {path!r}: {key!r} (shape {array.shape}) holds {bad} NaN or infinite value(s); "
                "pass allow_nonfinite=True to load it anyway"
            )
        result[key] = array
    return result


def _read_npy(member: Any, info: zipfile.ZipInfo) -> np.ndarray:
    """One .npy member, its size checked against the header before anything is allocated."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} holds Python objects (pickled data is refused)")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes != info.file_size - member.tell():
        raise ValueError(f"member {info.filename!r} declares shape {shape} of {dtype} but holds "
                         f"{info.file_size - member.tell()} bytes of data")
    array = np.frombuffer(member.read(nbytes), dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C").copy()  # its own writable array
