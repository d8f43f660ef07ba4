"""The few functions backward formulas need beyond operators and shared methods.

A backward runs on arrays (a plain `backward()`) or on Tensors (a recorded one, with
`create_graph=True`); each function here does the same thing for either kind.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels.select import select_bits
from ..tensor import Tensor


def select(cond: np.ndarray, g: Any) -> Any:
    """`g` where the constant condition holds, else 0: a selection, never `g · mask`, so
    an inf or NaN in `g` outside the condition does not leak in as 0 · inf = NaN."""
    return where(cond, g, 0.0)  # recorded, a `where` op: a selection all the way up


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


def sin(x: Any) -> Any:
    return x.sin() if isinstance(x, Tensor) else np.sin(x)


def cos(x: Any) -> Any:
    return x.cos() if isinstance(x, Tensor) else np.cos(x)


def where(cond: np.ndarray, a: Any, b: Any) -> Any:
    """`a` where the constant bool array `cond` holds, else `b` (numbers allowed):
    selection, never a product with a 0/1 mask, so inf · 0 never makes a NaN."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        from .elementwise import where as tensor_where

        return tensor_where(cond, a, b)
    # Against a zero, by bit masks: np.where branches on every element (see kernels/select.py)
    if getattr(cond, "dtype", None) == np.bool_:
        if _zero(b) and _floats(a):
            return select_bits(cond, a)
        if _zero(a) and _floats(b):
            return select_bits(~cond, b)
    dtype = a.dtype if hasattr(a, "dtype") else b.dtype  # an array or a numpy scalar (0-d results)
    return np.where(cond, a, b).astype(dtype, copy=False)


def _zero(v: Any) -> bool:
    """The number +0 (not −0.0, whose sign np.where would keep)."""
    return type(v) in (int, float) and v == 0 and math.copysign(1.0, v) > 0


def _floats(v: Any) -> bool:
    """A float array (or numpy float) of 2, 4 or 8 bytes: one `select_bits` takes."""
    return isinstance(v, (np.ndarray, np.floating)) and v.dtype.kind == "f" and v.dtype.itemsize <= 8


def scatter_add(g: Any, index: tuple[Any, ...], shape: tuple[int, ...]) -> Any:
    """Zeros of `shape` with `g` added at `index` (a repeated index adds each time):
    the transpose of `x[index]`."""
    if isinstance(g, Tensor):
        from .index import IndexAdd

        return IndexAdd.apply(g, index=index, shape=shape)
    from .index import scatter_add_array

    return scatter_add_array(g, index, shape)
