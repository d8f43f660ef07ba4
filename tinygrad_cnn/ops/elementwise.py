"""Elementwise ops. Binary ones broadcast as numpy does; `unbroadcast` sums each
gradient back to the shape of its input."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import ArrayLike, Tensor
from . import formula as F

Grad = Any  # an ndarray in a plain backward, a Tensor in a recorded one (see Function)


def unbroadcast(g: Grad | None, shape: tuple[int, ...]) -> Grad | None:
    """Sum `g` over the axes that broadcasting added or stretched to reach `shape`
    (None, a gradient nobody needs, stays None)."""
    if g is None or g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def tensor(x: ArrayLike) -> Tensor:
    """`x` as a Tensor: Tensors pass through, numbers and arrays become constants."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_broadcast(name: str, a: np.ndarray, b: np.ndarray) -> None:
    # numpy's rule, axis by axis from the right; np.broadcast_shapes costs ~1 µs, which
    # is more than the arithmetic itself on a bias or a number.
    if not a.ndim or not b.ndim:  # a number broadcasts against anything
        return
    for m, n in zip(reversed(a.shape), reversed(b.shape)):
        if m != n and m != 1 and n != 1:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} do not broadcast")


class _Binary(Function):
    """A binary elementwise op. Its forward sets `broadcast` when the two shapes differ;
    only then do the gradients need `unbroadcast` (on equal shapes it would be a no-op
    that still costs a call and two shape reads per gradient)."""

    broadcast = False

    def _shapes(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        _check_broadcast(name, x, y)
        self.broadcast = True


class Add(_Binary):
    """Z = X + Y
    dE/dX = dE/dZ
    dE/dY = dE/dZ
    """

    name = "add"
    saves = ()

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if x.shape != y.shape:
            self._shapes("add", x, y)
        return x + y

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.parents
        dx = g if x.requires_grad else None
        dy = g if y.requires_grad else None
        if self.broadcast:
            return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)
        return dx, dy


class Sub(_Binary):
    """Z = X − Y
    dE/dX = dE/dZ
    dE/dY = −dE/dZ
    """

    name = "sub"
    saves = ()

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if x.shape != y.shape:
            self._shapes("sub", x, y)
        return x - y

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.parents
        dx = g if x.requires_grad else None
        dy = -g if y.requires_grad else None
        if self.broadcast:
            return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)
        return dx, dy


class Mul(_Binary):
    """Z = X · Y
    dE/dX = dE/dZ · Y
    dE/dY = dE/dZ · X
    """

    name = "mul"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if x.shape != y.shape:
            self._shapes("mul", x, y)
        return x * y

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.inputs(g)
        px, py = self.parents
        dx = g * y if px.requires_grad else None
        dy = g * x if py.requires_grad else None
        if self.broadcast:
            return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)
        return dx, dy


class Div(_Binary):
    """Z = X / Y
    dE/dX = dE/dZ / Y
    dE/dY = −dE/dZ · X / Y²
    """

    name = "div"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if x.shape != y.shape:
            self._shapes("div", x, y)
        return x / y

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.inputs(g)
        px, py = self.parents
        dx = g / y if px.requires_grad else None
        dy = -g * x / (y * y) if py.requires_grad else None
        if self.broadcast:
            return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)
        return dx, dy


class _WithConstant(Function):
    """An op with a Python number `c` as an option rather than as a second input: no
    Tensor is made for the number, and no gradient is computed for it."""

    options = ("c",)
    saves = ()
    c: float

    def applied_formulas(self) -> list[str]:
        first, *rest = self.formulas()
        return [f"{first}   (c = {self.c:g})", *rest]


class AddConstant(_WithConstant):
    """Y = X + c   (c a number)
    dE/dX = dE/dY
    """

    name = "add"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x + self.c

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g,)


class MulConstant(_WithConstant):
    """Y = c · X   (c a number)
    dE/dX = c · dE/dY
    """

    name = "mul"

    def forward(self, x: np.ndarray) -> np.ndarray:
        # c as a 0-d array of x's dtype (numpy's weak-scalar rule gives the same values):
        # numpy multiplies two arrays in ~0.23 µs, an array by a Python number in ~0.48 µs.
        if x.dtype.kind == "f":
            self.k = np.asarray(self.c, x.dtype)
            return x * self.k
        return x * self.c

    def backward(self, g: Grad) -> tuple[Grad]:
        c = self.k if type(g) is np.ndarray else self.c  # a recorded backward keeps the number
        return (g * c,)


class Neg(Function):
    """Y = −X
    dE/dX = −dE/dY
    """

    name = "neg"
    saves = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, g: Grad) -> tuple[Grad]:
        return (-g,)


class Pow(Function):
    """Y = X^c   (c a number)
    dE/dX = dE/dY · c · X^(c−1)
    """

    name = "pow"
    options = ("c",)
    c: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x**self.c

    def backward(self, g: Grad) -> tuple[Grad]:
        if self.c == 0:  # X⁰ = 1 everywhere, even at X = 0 where X^(−1) would be inf
            return (g * 0,)
        (x,) = self.inputs(g)
        with np.errstate(divide="ignore"):  # 0 to a negative power is inf, as the forward's
            return (g * self.c * x ** (self.c - 1),)


def pow(x: Tensor, c: float) -> Tensor:
    if isinstance(c, Tensor) or not isinstance(c, (int, float, np.number)):
        raise TypeError(f"pow: the exponent must be a number, got {type(c).__name__}")
    return Pow.apply(x, c=float(c))


class Exp(Function):
    """Y = e^X
    dE/dX = dE/dY · Y
    """

    name = "exp"
    saves = ()
    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g * self.output(g),)


class Log(Function):
    """Y = ln X
    dE/dX = dE/dY / X
    """

    name = "log"

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = −inf, as numpy/PyTorch
            return np.log(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        with np.errstate(divide="ignore", invalid="ignore"):  # 1/0 = inf, as the forward's log 0 = −inf
            return (g / x,)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) without overflow: only e^(−|x|) ≤ 1 is ever computed."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """Y = σ(X) = 1 / (1 + e^(−X))
    dE/dX = dE/dY · Y · (1 − Y)
    """

    name = "sigmoid"
    saves = ()
    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        y = self.output(g)
        return (g * y * (1 - y),)


class Tanh(Function):
    """Y = tanh X
    dE/dX = dE/dY · (1 − Y²)
    """

    name = "tanh"
    saves = ()
    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        y = self.output(g)
        return (g - g * y * y,)  # dE/dY · (1 − Y²), without the number 1 (slow in numpy)


class ReLU(Function):
    """Y = max(X, 0)
    dE/dX = dE/dY where X > 0, else 0
    """

    name = "relu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def backward(self, g: Grad) -> tuple[Grad]:
        x = self.parents[0]._data  # the condition is a constant: it has no gradient of its own
        return (F.select(x > 0, g),)


class Clip(Function):
    """Y = min(max(X, lo), hi)
    dE/dX = dE/dY where lo ≤ X ≤ hi, else 0
    """

    name = "clip"
    options = ("lo", "hi")
    lo: float | None
    hi: float | None

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lo, self.hi)

    def backward(self, g: Grad) -> tuple[Grad]:
        x = self.parents[0]._data  # the condition is a constant: it has no gradient of its own
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return (F.select(inside, g),)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    return Clip.apply(x, lo=min, hi=max)


# The module-level spellings of the ops (tc.add, tc.exp, ...).
def add(a: ArrayLike, b: ArrayLike) -> Tensor:
    """`a + b`; a number on either side takes the other side's dtype, as with `+`."""
    return b.__radd__(a) if isinstance(b, Tensor) and not isinstance(a, Tensor) else tensor(a) + b


def exp(x: ArrayLike) -> Tensor:
    return Exp.apply(tensor(x))


def log(x: ArrayLike) -> Tensor:
    return Log.apply(tensor(x))


def sigmoid(x: ArrayLike) -> Tensor:
    return Sigmoid.apply(tensor(x))


def relu(x: ArrayLike) -> Tensor:
    return ReLU.apply(tensor(x))


def tanh(x: ArrayLike) -> Tensor:
    return Tanh.apply(tensor(x))
