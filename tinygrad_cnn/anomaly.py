"""Anomaly detection: stop at the first op whose forward or backward makes a NaN or Inf.

    with tc.detect_anomaly():
        loss = model(x).log().sum()   # FloatingPointError: log produced -inf ... at train.py:12
        loss.backward()

While the mode is on, every op records the line of user code that created it (the
first stack frame outside this package) and checks its result; each gradient the
engine hands to an input is checked too, and a bad one is blamed on the op whose
backward made it, with that op's creation site. When the mode is off the hook in
`function.py` is None, so ops pay one global lookup and nothing is recorded.

Only what an op returns counts: the ops a backward is assembled from may pass
through ±inf on the way to a finite gradient (BCE clamps log 0 = −inf to −100), so
inside the engine they are judged by the gradient they end in, as PyTorch does.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from types import FrameType
from typing import Any

import numpy as np

from . import function as _function
from .grad_mode import Decorator, pop, push, state
from .tensor import Tensor

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

Site = tuple[str, int, str]  # (file, line, function) of the user code that created an op


def is_anomaly_enabled() -> bool:
    return _function._anomaly_hook is not None


class detect_anomaly(Decorator):
    """Context manager (or decorator): raise `FloatingPointError` at the first NaN/Inf.

    `detect_anomaly(False)` switches the mode off inside an enclosing one. Blocks nest,
    and the same object may be re-entered. The mode is process-wide, as PyTorch's: the
    block entered last among those still open, in any thread, sets it, and when the last
    one ends it is off.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self._saved = {}

    def __enter__(self) -> detect_anomaly:
        block = [self.enabled]  # a new list: its identity is this block's
        with _lock:
            _open.append(block)
            _set_hook()
        push(self._saved, block)
        return self

    def __exit__(self, *exc: object) -> None:
        block = pop(self._saved)
        with _lock:  # blocks in two threads may end in any order
            del _open[next(i for i, b in enumerate(_open) if b is block)]
            _set_hook()


_open: list[list[bool]] = []  # the blocks open now, in any thread, in the order they began
_lock = threading.Lock()


def _set_hook() -> None:
    _function._anomaly_hook = _check if _open and _open[-1][0] else None


def _user_site() -> Site | None:
    """The innermost frame outside tinygrad_cnn: where user code called into the op."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            return (filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def _describe_site(site: Site | None) -> str:
    if site is None:
        return "created at an unknown place (its forward ran outside detect_anomaly)"
    filename, line, func = site
    code = linecache.getline(filename, line).strip()
    return f"created at {filename}:{line} in {func}" + (f"\n    {code}" if code else "")


def _describe_values(a: np.ndarray) -> str:
    """'nan' / '-inf' / 'nan and inf', with how many of how many values."""
    kinds = []
    if np.isnan(a).any():
        kinds.append("nan")
    if np.isposinf(a).any():
        kinds.append("inf")
    if np.isneginf(a).any():
        kinds.append("-inf")
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    return f"{' and '.join(kinds)} ({bad} of {a.size} values)"


def _check(fn: Any, t: Tensor, phase: str) -> None:
    """The hook: `phase` is "forward" (t is the op's output) or "backward" (t is the
    gradient its backward gave one of its inputs)."""
    if phase == "forward":
        fn._anomaly_site = _user_site()
    data = t.data
    if np.isfinite(data).all():
        return
    site = getattr(fn, "_anomaly_site", None)
    if phase == "forward":
        if state.in_backward:
            return  # a step inside some backward; the gradient it ends in is checked
        msg = f"detect_anomaly: {fn.name} produced {_describe_values(data)} in its forward, output of shape {t.shape}"
        bad_inputs = [
            f"input {i} of shape {p.shape}"
            for i, p in enumerate(getattr(fn, "parents", ()))
            if not np.isfinite(p.data).all()
        ]
        if bad_inputs:
            msg += f"; its {', '.join(bad_inputs)} already held non-finite values"
    else:
        # the hook is not told which input; the shape says it when only one input has it
        same = [i for i, p in enumerate(fn.parents) if p.shape == t.shape]
        which = f"input {same[0]}" if len(same) == 1 else "an input"
        msg = (
            f"detect_anomaly: the backward of {fn.name} produced {_describe_values(data)} "
            f"in the gradient for {which} of shape {t.shape}"
        )
    raise FloatingPointError(f"{msg}\n  the op was {_describe_site(site)}")
