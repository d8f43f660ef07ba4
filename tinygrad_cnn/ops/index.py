"""Indexing `x[idx]` as numpy does it (ints, slices with steps, None, ..., integer
arrays and lists, boolean masks), with its gradient: dE/dY scattered back to where each
element came from, added where an index repeats."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..grad_mode import outside_graph
from ..tensor import Tensor
from . import formula as F
from .elementwise import Grad

Index = tuple[Any, ...]


def normalize_index(idx: Any) -> Index:
    """The index as a tuple of ints, slices, None, Ellipsis and ndarrays (Tensors and
    lists become arrays), so it can be stored and replayed."""
    items = idx if isinstance(idx, tuple) else (idx,)
    out: list[Any] = []
    for item in items:
        if isinstance(item, Tensor):
            if item.requires_grad:
                raise TypeError("getitem: an index Tensor must not require grad")
            item = item.data
        elif isinstance(item, (list, np.ndarray)):
            item = np.asarray(item)
            if item.size == 0 and item.dtype.kind == "f":
                item = item.astype(np.int64)  # an empty list selects nothing, as numpy
        if isinstance(item, np.ndarray) and item.dtype.kind not in "biu":
            raise IndexError(f"getitem: index arrays must hold integers or bools, got dtype {item.dtype}")
        if isinstance(item, (bool, np.bool_)):  # x[True] adds an axis in numpy: keep it an array
            item = np.asarray(item)
        out.append(item)
    return tuple(out)


def _has_int_array(index: Index) -> bool:
    return any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in index)


def scatter_add_array(g: np.ndarray, index: Index, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        np.add.at(out, index, g)  # an index may repeat: each occurrence adds
    else:
        out[index] = g  # basic indexing and masks pick each element at most once
    return out


class GetItem(Function):
    """Y = X[idx]
    dE/dX = dE/dY added into zeros of the shape of X at idx (repeated indices add up)
    """

    name = "getitem"
    options = ("index",)
    saves = ()
    index: Index

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            y = x[self.index]
        except IndexError as e:
            raise IndexError(f"getitem: index {_show(self.index)} is invalid for a tensor of shape {x.shape}: {e}") from None
        # a view would let an in-place change of the result reach the input
        return np.array(y) if isinstance(y, np.ndarray) and y.base is not None else np.asarray(y)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (F.scatter_add(g, self.index, self.parents[0].shape),)


class IndexAdd(Function):
    """Y = zeros of a given shape with G added at idx (repeated indices add up)
    dE/dG = dE/dY[idx]
    """

    name = "index_add"
    options = ("index", "shape")
    saves = ()
    index: Index
    shape: tuple[int, ...]

    def forward(self, g: np.ndarray) -> np.ndarray:
        return scatter_add_array(g, self.index, self.shape)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g[self.index],)


def _show(index: Index) -> str:
    parts = [f"array of shape {i.shape}" if isinstance(i, np.ndarray) and i.ndim else repr(i) for i in index]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def getitem(x: Tensor, idx: Any) -> Tensor:
    """`x[idx]` with numpy's rules; out-of-range indices are an IndexError."""
    outside_graph("getitem", [x], None, index=idx)  # an export refuses data-dependent shapes
    return GetItem.apply(x, index=normalize_index(idx))
