"""Fast array kernels behind the ops (`im2col`), and the one process-wide tuning step.

`tune_malloc()` runs once when tinygrad_cnn is imported, unless the environment variable
`TINYGRAD_CNN_MALLOPT=0` is set; `MALLOC_TUNED` says whether it changed anything.
"""

from __future__ import annotations

import ctypes
import os
import sys

from . import im2col
from .select import select

MALLOC_TUNED = False


def tune_malloc() -> bool:
    """Ask glibc to keep freed buffers instead of handing them back to the OS.

    By default glibc serves every buffer above 128 KiB–32 MiB with a fresh mmap and
    unmaps it on free, so each training step faults the im2col matrices in again, page
    by page (measured: 1.4× slower at a LeNet-size layer, up to 10× at the smallest).
    With the thresholds raised the memory is reused; the peak stays what one step
    needs. Linux with glibc only; returns whether the thresholds were changed. Called
    once at import unless `TINYGRAD_CNN_MALLOPT=0`; it affects the whole process.
    """
    global MALLOC_TUNED
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = mallopt(m_mmap_threshold, 1 << 30) or mallopt(m_mmap_threshold, 32 << 20)
    MALLOC_TUNED = bool(ok and mallopt(m_trim_threshold, 1 << 30))
    return MALLOC_TUNED


if os.environ.get("TINYGRAD_CNN_MALLOPT", "1") != "0":
    tune_malloc()

__all__ = ["MALLOC_TUNED", "im2col", "select", "tune_malloc"]
