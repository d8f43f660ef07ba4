"""Ops that only move values around: reshape, permute/transpose, squeeze/unsqueeze,
broadcast_to, flip (rot180), cat/stack/split, pad, and dtype casts."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..grad_mode import outside_graph
from ..tensor import Tensor
from . import formula as F
from .elementwise import Grad, tensor, unbroadcast
from .reduce import Axes, normalize_axes, pick_axis


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
    """`x` repeated along its size-1 axes (and new leading axes) to `shape`, numpy's rule; a view.

    Example:
        `tc.broadcast_to(b, (2, 3))` for b of shape (3,) or (1, 3). The gradient sums back over the repeats.
    """
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
    """The same values in a new shape; one size may be −1. A view of `x`.

    Example:
        `tc.reshape(x, 2, -1)` and `tc.reshape(x, (2, -1))` are the same.
    """
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
    """`transpose(dim0, dim1)` swaps two axes, as PyTorch; `transpose()` reverses them
    all and a full permutation of 3+ axes (or a tuple) permutes, as numpy."""
    if len(axes) == 2 and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        d0, d1 = axes
        for a in axes:
            if not -x.ndim <= a < x.ndim:
                raise ValueError(f"transpose: axis {a} is out of range for a tensor of shape {x.shape}")
        d0, d1 = int(d0) % x.ndim, int(d1) % x.ndim
        if d0 == d1:
            raise ValueError(f"transpose: axes ({axes[0]}, {axes[1]}) name the same axis of a tensor of shape {x.shape}")
        perm = list(range(x.ndim))
        perm[d0], perm[d1] = d1, d0
        return Transpose.apply(x, axes=tuple(perm))._view_of(x)
    perm = _shape_args(axes) if axes else tuple(reversed(range(x.ndim)))
    return permute(x, *perm) if axes else (x if x.ndim < 2 else Transpose.apply(x, axes=perm)._view_of(x))


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder all axes: `permute(2, 0, 1)` or `permute((2, 0, 1))`."""
    perm = _shape_args(axes)
    in_range = all(-x.ndim <= a < x.ndim for a in perm)
    if not in_range or len(perm) != x.ndim or sorted(a % x.ndim for a in perm) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {perm} are not a permutation for a tensor of shape {x.shape}")
    perm = tuple(a % x.ndim for a in perm)
    return x if perm == tuple(range(x.ndim)) else Transpose.apply(x, axes=perm)._view_of(x)


def squeeze(x: Tensor, axis: Axes = None, *, dim: Axes = None) -> Tensor:
    """Drop axes of size 1: all of them (axis None), or those named; a named axis whose
    size is not 1 is kept, as in PyTorch."""
    axis = pick_axis("squeeze", axis, dim)
    axes = normalize_axes("squeeze", axis, x.shape)
    target = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, target)


def unsqueeze(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert an axis of size 1 at `axis` (−1 appends, as PyTorch)."""
    axis = pick_axis("unsqueeze", axis, dim)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"unsqueeze: axis must be an int, got {axis!r}")
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a tensor of shape {x.shape}")
    a = int(axis) % (x.ndim + 1)
    return reshape(x, x.shape[:a] + (1,) + x.shape[a:])


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


def flip(x: Tensor, axes: Any = None, *, dim: Any = None, dims: Any = None) -> Tensor:
    """The order reversed along `axes` (default: the last two axes, which is rot180 of a
    kernel); a view. `dim=` and PyTorch's `dims=` are aliases of `axes=`."""
    if dims is not None:
        axes = pick_axis("flip", axes, dims)
    axes = pick_axis("flip", axes, dim)
    return Flip.apply(x, axes=normalize_axes("flip", (-2, -1) if axes is None else axes, x.shape))._view_of(x)


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
    """`x` in `dtype` (the op behind `astype`; no copy when the dtype already matches)."""
    dtype = np.dtype(dtype)
    return x if x.dtype == dtype else Cast.apply(x, to=dtype)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """A copy in `dtype`: differentiable between float dtypes; an integer or bool result
    is a constant (it never requires grad)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"astype: {dtype!r} is not a dtype") from None
    if dtype.kind not in "biuf":
        raise TypeError(f"astype: only bool, integer and float dtypes, got {dtype}")
    if dtype.kind == "f" and x.dtype.kind == "f":
        return cast(x, dtype)
    # to or from an integer type: no gradient, a value outside the graph
    return outside_graph("astype", [x], Tensor._make(x.data.astype(dtype)), to=dtype)


# ----- joining and cutting ---------------------------------------------------------------
def _along(axis: int, piece: Any) -> tuple[Any, ...]:
    """An index that takes `piece` (a slice or an int) along `axis` and everything elsewhere."""
    return (slice(None),) * axis + (piece,)


class Cat(Function):
    """Y = [X₁, X₂, …] joined along an axis
    dE/dX_k = the slice of dE/dY where X_k sits
    """

    name = "cat"
    options = ("axis",)
    saves = ()
    axis: int

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=self.axis)

    def backward(self, g: Grad) -> tuple[Grad | None, ...]:
        grads: list[Any] = []
        start = 0
        for p in self.parents:
            stop = start + p.shape[self.axis]
            grads.append(g[_along(self.axis, slice(start, stop))] if p.requires_grad else None)
            start = stop
        return tuple(grads)


class Stack(Function):
    """Y = [X₁, X₂, …] stacked along a new axis
    dE/dX_k = dE/dY at position k of the new axis
    """

    name = "stack"
    options = ("axis",)
    saves = ()
    axis: int

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.stack(xs, axis=self.axis)

    def backward(self, g: Grad) -> tuple[Grad | None, ...]:
        return tuple(g[_along(self.axis, k)] if p.requires_grad else None for k, p in enumerate(self.parents))


def _tensors(op: str, tensors: Any) -> list[Tensor]:
    if isinstance(tensors, (Tensor, np.ndarray)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    ts = [tensor(t) for t in tensors]
    if not ts:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    return ts


def cat(tensors: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis; all other sizes must agree."""
    axis = pick_axis("cat", axis, dim)
    axis = 0 if axis is None else axis
    ts = _tensors("cat", tensors)
    shapes = [t.shape for t in ts]
    ndim = ts[0].ndim
    if ndim == 0 or any(t.ndim != ndim for t in ts):
        raise ValueError(f"cat: tensors must have the same number of dimensions (at least 1), got shapes {shapes}")
    (a,) = normalize_axes("cat", axis, ts[0].shape)
    if any(s[:a] + s[a + 1:] != shapes[0][:a] + shapes[0][a + 1:] for s in shapes):
        raise ValueError(f"cat: shapes {shapes} differ outside axis {axis}")
    return Cat.apply(*ts, axis=a)


def stack(tensors: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Stack tensors of one shape along a new axis."""
    axis = pick_axis("stack", axis, dim)
    axis = 0 if axis is None else axis
    ts = _tensors("stack", tensors)
    shapes = [t.shape for t in ts]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: tensors must have one shape, got shapes {shapes}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"stack: axis must be an int, got {axis!r}")
    ndim = ts[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for stacking tensors of shape {shapes[0]}")
    return Stack.apply(*ts, axis=int(axis) % ndim)


def split(x: Tensor, size_or_sizes: int | Any, axis: int | None = None, *, dim: int | None = None
          ) -> tuple[Tensor, ...]:
    """Cut along `axis`: an int is a chunk size (the last chunk may be smaller), a list
    gives each piece's size (they must add up to the axis's size), as PyTorch."""
    axis = pick_axis("split", axis, dim)
    (a,) = normalize_axes("split", 0 if axis is None else axis, x.shape) or (None,)
    if a is None:
        raise ValueError("split: a 0-d tensor has no axis to split")
    n = x.shape[a]
    if isinstance(size_or_sizes, (int, np.integer)) and not isinstance(size_or_sizes, bool):
        if size_or_sizes <= 0:
            raise ValueError(f"split: the chunk size must be positive, got {size_or_sizes}")
        sizes = [min(int(size_or_sizes), n - s) for s in range(0, n, int(size_or_sizes))] or [0]
    else:
        sizes = [int(s) for s in _shape_args((size_or_sizes,))]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sizes {tuple(sizes)} do not add up to {n}, the size of axis {a} "
                             f"of a tensor of shape {x.shape}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(x[_along(a, slice(start, start + s))])
        start += s
    return tuple(pieces)


class Pad(Function):
    """Y = X with constant borders (np.pad's pad_width: (before, after) per axis)
    dE/dX = dE/dY without the borders
    """

    name = "pad"
    options = ("pad_width", "value")
    saves = ()
    pad_width: tuple[tuple[int, int], ...]
    value: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not x.ndim:  # nothing to pad (np.pad refuses 0-d arrays)
            return x.copy()
        return np.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g[tuple(slice(b, n - a) for (b, a), n in zip(self.pad_width, g.shape))],)


def pad(x: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding with numpy's `pad_width`: an int, a pair `(before, after)` for
    every axis, or one pair per axis."""
    x = tensor(x)
    try:
        widths = np.asarray(pad_width)
        if widths.size == 0 and x.ndim == 0:
            widths = np.zeros((0, 2), dtype=np.int64)  # a 0-d tensor has no axis to pad
        if widths.dtype.kind not in "iu" or (widths.size == 0 and x.ndim):
            raise ValueError
        widths = np.broadcast_to(widths, (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape} "
                         "(give an int, (before, after), or one such pair per axis)") from None
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width {pad_width!r} has a negative width")
    if isinstance(value, Tensor) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"pad: value must be a number, got {type(value).__name__}")
    pw = tuple((int(b), int(a)) for b, a in widths)
    return Pad.apply(x, pad_width=pw, value=float(value))
