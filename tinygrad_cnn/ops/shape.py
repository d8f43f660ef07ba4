"""Reductions and ops that only move values around: sum, mean, reshape, transpose,
broadcast_to, flip (rot180) and dtype casts."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from . import formula as F
from .elementwise import Grad, unbroadcast

Axes = int | tuple[int, ...] | None


def _normalize_axes(op: str, axis: Axes, ndim: int) -> tuple[int, ...]:
    """Axes as sorted non-negative ints; out-of-range, repeated or non-integer axes are errors."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
    normalized = [int(a) % ndim for a in axes]
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {tuple(axes)} repeats an axis")
    return tuple(sorted(normalized))


class Sum(Function):
    """Y = Σ_axis X
    dE/dX = dE/dY broadcast back over the summed axes
    """

    name = "sum"
    options = ("axes", "keepdims")
    saves = ()
    axes: tuple[int, ...]
    keepdims: bool

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.sum(axis=self.axes, keepdims=self.keepdims))

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.parents
        if not self.keepdims:
            g = g.reshape(tuple(1 if i in self.axes else n for i, n in enumerate(x.shape)))
        return (F.broadcast_to(g, x.shape),)


def sum(x: Tensor, axis: Axes = None, keepdims: bool = False) -> Tensor:
    return Sum.apply(x, axes=_normalize_axes("sum", axis, x.ndim), keepdims=keepdims)


def mean(x: Tensor, axis: Axes = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis`: a sum divided by the number of elements summed."""
    axes = _normalize_axes("mean", axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    return Sum.apply(x, axes=axes, keepdims=keepdims) / count


class BroadcastTo(Function):
    """Y = X broadcast to a larger shape
    dE/dX = Σ dE/dY over the broadcast axes
    """

    name = "broadcast_to"
    options = ("target",)
    saves = ()
    target: tuple[int, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return np.broadcast_to(x, self.target)
        except ValueError:
            raise ValueError(f"broadcast_to: shape {x.shape} does not broadcast to {self.target}") from None

    def backward(self, g: Grad) -> tuple[Grad]:
        return (unbroadcast(g, self.parents[0].shape),)


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    shape = tuple(shape)
    return x if x.shape == shape else BroadcastTo.apply(x, target=shape)._view_of(x)


class Reshape(Function):
    """Y = X reshaped
    dE/dX = dE/dY reshaped to the shape of X
    """

    name = "reshape"
    options = ("target",)
    saves = ()
    target: tuple[int, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x.reshape(self.target)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {self.target}") from None

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g.reshape(self.parents[0].shape),)


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both reshape(2, 3) and reshape((2, 3)), as numpy and PyTorch do."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        raise TypeError(f"sizes and axes must be ints, got {args}")
    return tuple(int(a) for a in args)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    target = _shape_args(shape)
    return x if target == x.shape else Reshape.apply(x, target=target)._view_of(x)


class Transpose(Function):
    """Y = X with its axes permuted
    dE/dX = dE/dY with the inverse permutation
    """

    name = "transpose"
    options = ("axes",)
    saves = ()
    axes: tuple[int, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(self.axes)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g.transpose(tuple(np.argsort(self.axes))),)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    perm = _shape_args(axes) if axes else tuple(reversed(range(x.ndim)))
    in_range = all(-x.ndim <= a < x.ndim for a in perm)
    if not in_range or len(perm) != x.ndim or sorted(a % x.ndim for a in perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {perm} are not a permutation for a tensor of shape {x.shape}")
    perm = tuple(a % x.ndim for a in perm)
    return x if perm == tuple(range(x.ndim)) else Transpose.apply(x, axes=perm)._view_of(x)


class Flip(Function):
    """Y = X reversed along axes (rot180 for the last two)
    dE/dX = dE/dY reversed along the same axes
    """

    name = "flip"
    options = ("axes",)
    saves = ()
    axes: tuple[int, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.flip(x, self.axes)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (F.flip(g, self.axes),)


def flip(x: Tensor, axes: tuple[int, ...] = (-2, -1)) -> Tensor:
    return Flip.apply(x, axes=_normalize_axes("flip", axes, x.ndim))._view_of(x)


def rot180(k: Tensor) -> Tensor:
    """The kernel rotated by 180°: its last two axes reversed."""
    return flip(k, (-2, -1))


class Cast(Function):
    """Y = X converted to another dtype
    dE/dX = dE/dY converted back to the dtype of X
    """

    name = "cast"
    options = ("to",)
    saves = ()
    to: np.dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.astype(self.to)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (F.cast(g, self.parents[0].dtype),)


def cast(x: Tensor, dtype: Any) -> Tensor:
    dtype = np.dtype(dtype)
    return x if x.dtype == dtype else Cast.apply(x, to=dtype)
