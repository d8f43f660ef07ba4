"""Reductions: sum, mean, max, min, argmax, argmin, var, std, logsumexp.

Every one takes `axis` (an int, a tuple of ints or None for all axes) and accepts `dim=`
for it, as PyTorch spells it (and `keepdim=` for `keepdims=`). A 0-d tensor has one
axis to name, 0 or −1, as in PyTorch.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..function import Function
from ..grad_mode import outside_graph
from ..tensor import Tensor
from . import formula as F
from .elementwise import Grad, tensor

Axes = int | tuple[int, ...] | None


def normalize_axes(op: str, axis: Axes, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes as sorted non-negative ints; out-of-range, repeated or non-integer axes are errors.

    A 0-d tensor accepts axis 0 or −1 (and reduces over nothing), as numpy's scalars
    and PyTorch do."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (tuple, list)) or not all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes
    ):
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    span = builtins.max(ndim, 1)  # a 0-d tensor still has an axis 0 (= −1) to name
    for a in axes:
        if not -span <= a < span:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of shape {tuple(shape)}")
    normalized = [int(a) % span for a in axes]
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {tuple(axes)} repeats an axis")
    return tuple(sorted(normalized)) if ndim else ()


def pick_axis(op: str, axis: Any, dim: Any) -> Any:
    """`axis=` or its alias `dim=`, not both."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: give axis= or dim=, not both")
    return dim


def pick_keepdims(op: str, keepdims: bool, keepdim: bool | None) -> bool:
    if keepdim is None:
        return bool(keepdims)
    if keepdims:
        raise TypeError(f"{op}: give keepdims= or keepdim=, not both")
    return bool(keepdim)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The reduced shape with keepdims=True: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


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
        shape = self.parents[0].shape
        if not self.keepdims:
            g = g.reshape(_kept_shape(shape, self.axes))
        return (F.broadcast_to(g, shape),)


def sum(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: bool | None = None) -> Tensor:
    """Σ over `axis` (all axes when None)."""
    x = tensor(x)
    axes = normalize_axes("sum", pick_axis("sum", axis, dim), x.shape)
    return Sum.apply(x, axes=axes, keepdims=pick_keepdims("sum", keepdims, keepdim))


def mean(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
         keepdim: bool | None = None) -> Tensor:
    """Mean over `axis`: a sum divided by the number of elements summed."""
    x = tensor(x)
    axes = normalize_axes("mean", pick_axis("mean", axis, dim), x.shape)
    keep = pick_keepdims("mean", keepdims, keepdim)
    total = Sum.apply(x, axes=axes, keepdims=keep)
    # told to an export: this division (not any sum over a number) counts the summed axes
    return outside_graph("mean", [total], total / _count(x.shape, axes))


class _Extremum:
    # Max and Min differ only in the numpy reduction; the gradient goes to every
    # element equal to the result, shared evenly among ties (as torch.amax does).
    # (A mixin, not an op of its own: every Function subclass is a row of the op table.)
    options = ("axes", "keepdims")
    saves = (0,)
    axes: tuple[int, ...]
    keepdims: bool
    _reduce: Any

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(type(self)._reduce(x, axis=self.axes, keepdims=self.keepdims))

    def backward(self, g: Grad) -> tuple[Grad]:
        # The selection is a constant: which elements won has no gradient of its own.
        x = self.parents[0].data
        kept = _kept_shape(x.shape, self.axes)
        hit = x == type(self)._reduce(x, axis=self.axes, keepdims=True)
        count = np.maximum(hit.sum(axis=self.axes, keepdims=True), 1).astype(x.dtype)
        g = g.reshape(kept) if not self.keepdims else g
        return (F.where(hit, g / count, 0.0),)


class Max(_Extremum, Function):
    """Y = max_axis X
    dE/dX = dE/dY / k where X equals Y (k elements tie for the maximum), 0 elsewhere
    """

    name = "max"
    _reduce = staticmethod(np.max)


class Min(_Extremum, Function):
    """Y = min_axis X
    dE/dX = dE/dY / k where X equals Y (k elements tie for the minimum), 0 elsewhere
    """

    name = "min"
    _reduce = staticmethod(np.min)


def _extremum(cls: type[Max] | type[Min], x: Any, axis: Any, keepdims: bool, dim: Any, keepdim: bool | None) -> Tensor:
    x = tensor(x)
    axes = normalize_axes(cls.name, pick_axis(cls.name, axis, dim), x.shape)
    empty = [a for a in axes if x.shape[a] == 0]
    if empty or (x.size == 0 and not axes and x.ndim):
        raise ValueError(f"{cls.name}: cannot reduce over the empty axis {empty[0] if empty else ()} "
                         f"of a tensor of shape {x.shape} (a maximum of nothing has no value)")
    return cls.apply(x, axes=axes, keepdims=pick_keepdims(cls.name, keepdims, keepdim))


def max(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: bool | None = None) -> Tensor:
    """The largest value over `axis` (all axes when None); ties share the gradient."""
    return _extremum(Max, x, axis, keepdims, dim, keepdim)


def min(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: bool | None = None) -> Tensor:
    """The smallest value over `axis` (all axes when None); ties share the gradient."""
    return _extremum(Min, x, axis, keepdims, dim, keepdim)


def _arg(op: str, reduce: Any, x: Any, axis: Any, keepdims: bool, dim: Any, keepdim: bool | None) -> Tensor:
    x = tensor(x)
    axis = pick_axis(op, axis, dim)
    keep = pick_keepdims(op, keepdims, keepdim)
    if axis is None:  # the index into the flattened tensor, as PyTorch
        if x.size == 0:
            raise ValueError(f"{op}: a tensor of shape {x.shape} is empty")
        out = reduce(x.data.reshape(-1))
        out = np.reshape(out, (1,) * x.ndim) if keep else np.asarray(out)
        a = None
    else:
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
        (a,) = normalize_axes(op, axis, x.shape) or (None,)
        if a is None:  # a 0-d tensor: its only element
            return Tensor._make(np.zeros((), dtype=np.int64))
        if x.shape[a] == 0:
            raise ValueError(f"{op}: axis {a} of a tensor of shape {x.shape} is empty")
        out = reduce(x.data, axis=a, keepdims=keep)
    result = Tensor._make(np.asarray(out, dtype=np.int64))
    return outside_graph(op, [x], result, axis=a, keepdims=keep and x.ndim > 0)


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the first maximum along `axis` (of the flattened tensor when None): int64, no gradient."""
    return _arg("argmax", np.argmax, x, axis, keepdims, dim, keepdim)


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the first minimum along `axis` (of the flattened tensor when None): int64, no gradient."""
    return _arg("argmin", np.argmin, x, axis, keepdims, dim, keepdim)


class Var(Function):
    """Y = Σ_axis (X − mean X)² / (n − c)   (n elements reduced, c the correction)
    dE/dX = dE/dY · 2 (X − mean X) / (n − c)
    """

    name = "var"
    options = ("axes", "keepdims", "correction")
    saves = (0,)
    axes: tuple[int, ...]
    keepdims: bool
    correction: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # n ≤ c gives inf/nan, as PyTorch
            d = x - x.mean(axis=self.axes, keepdims=True)
            return np.asarray((d * d).sum(axis=self.axes, keepdims=self.keepdims) / self._dof(x))

    def _dof(self, x: Any) -> Any:
        """n − c in x's float dtype, float64 for ints and bools as numpy's (0 when c ≥ n: the
        result is then inf or nan, as PyTorch's)."""
        kind = x.dtype.type if x.dtype.kind == "f" else np.float64
        return kind(builtins.max(_count(x.shape, self.axes) - self.correction, 0.0))

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        if not self.keepdims:
            g = g.reshape(_kept_shape(x.shape, self.axes))
        with np.errstate(divide="ignore"):
            scale = x.dtype.type(2.0) / self._dof(x)
        return (g * (x - x.mean(axis=self.axes, keepdims=True)) * scale,)


def var(x: Tensor, axis: Axes = None, keepdims: bool = False, correction: float = 1, *,
        dim: Axes = None, keepdim: bool | None = None) -> Tensor:
    """Variance over `axis` with Bessel's correction by default (`correction=1`, as PyTorch)."""
    x = tensor(x)
    if isinstance(correction, bool) or not isinstance(correction, (int, float, np.integer, np.floating)):
        raise TypeError(f"var: correction must be a number, got {correction!r}")
    axes = normalize_axes("var", pick_axis("var", axis, dim), x.shape)
    return Var.apply(x, axes=axes, keepdims=pick_keepdims("var", keepdims, keepdim), correction=float(correction))


class Std(Var):
    """Y = √(Σ_axis (X − mean X)² / (n − c))
    dE/dX = dE/dY · (X − mean X) / ((n − c) Y), and 0 where Y = 0
    """

    name = "std"
    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.sqrt(super().forward(x))

    def backward(self, g: Grad) -> tuple[Grad]:
        # √'s slope is infinite at 0, and (X − mean X) is 0 there: a constant group has a
        # zero gradient, as PyTorch gives it, not ∞ · 0 = NaN.
        (x,) = self.inputs(g)
        y = self.output(g)
        if not self.keepdims:
            kept = _kept_shape(x.shape, self.axes)
            g, y = g.reshape(kept), y.reshape(kept)
        spread = y != 0  # (a NaN deviation keeps its NaN gradient, as PyTorch's)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = F.where(spread, g / (F.where(spread, y, 1.0) * self._dof(x)), 0.0)
        return (scale * (x - x.mean(axis=self.axes, keepdims=True)),)


def std(x: Tensor, axis: Axes = None, keepdims: bool = False, correction: float = 1, *,
        dim: Axes = None, keepdim: bool | None = None) -> Tensor:
    """Standard deviation over `axis`: the square root of `var` with the same arguments."""
    x = tensor(x)
    if isinstance(correction, bool) or not isinstance(correction, (int, float, np.integer, np.floating)):
        raise TypeError(f"std: correction must be a number, got {correction!r}")
    axes = normalize_axes("std", pick_axis("std", axis, dim), x.shape)
    return Std.apply(x, axes=axes, keepdims=pick_keepdims("std", keepdims, keepdim), correction=float(correction))


class LogSumExp(Function):
    """Y = log Σ_axis e^X   (computed as m + log Σ e^(X − m), m = max X: no overflow)
    dE/dX = dE/dY · e^(X − Y)
    """

    name = "logsumexp"
    options = ("axes", "keepdims")
    saves = (0,)
    saves_output = True
    axes: tuple[int, ...]
    keepdims: bool

    def forward(self, x: np.ndarray) -> np.ndarray:
        m = x.max(axis=self.axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)  # a row of all −inf (or an inf) must not give inf − inf
        with np.errstate(divide="ignore"):
            y = np.log(np.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        y = self.output(g)
        if not self.keepdims:
            kept = _kept_shape(x.shape, self.axes)
            g, y = g.reshape(kept), y.reshape(kept)
        return (g * F.exp(x - y),)


def logsumexp(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
              keepdim: bool | None = None) -> Tensor:
    """log Σ e^x over `axis`, stable for any finite input."""
    x = tensor(x)
    axis = pick_axis("logsumexp", axis, dim)
    axes = normalize_axes("logsumexp", axis, x.shape)
    return LogSumExp.apply(x, axes=axes, keepdims=pick_keepdims("logsumexp", keepdims, keepdim))
