"""The few functions backward formulas need beyond operators and shared methods.

A backward runs on arrays (a plain `backward()`) or on Tensors (a recorded one, with
`create_graph=True`); each function here does the same thing for either kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


def select(cond: np.ndarray, g: Any) -> Any:
    """`g` where the constant condition holds, else 0: a selection, never `g · mask`, so
    an inf or NaN in `g` outside the condition does not leak in as 0 · inf = NaN."""
    if isinstance(g, Tensor):
        return g * Tensor._make(cond.astype(g.dtype))  # g is finite wherever it is recorded
    return np.where(cond, g, np.zeros((), g.dtype))


def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.log()
    with np.errstate(divide="ignore"):  # log 0 = −inf, as the Log op gives it
        return np.log(x)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return x.broadcast_to(shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape)


def flip(x: Any, axes: tuple[int, ...]) -> Any:
    return x.flip(axes) if isinstance(x, Tensor) else np.flip(x, axes)


def cast(x: Any, dtype: Any) -> Any:
    return x._cast(dtype) if isinstance(x, Tensor) else x.astype(dtype)
