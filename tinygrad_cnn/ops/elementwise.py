"""Elementwise ops. Binary ones broadcast as numpy does; `unbroadcast` sums each
gradient back to the shape of its input."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..grad_mode import outside_graph
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
    that still costs a call and two shape reads per gradient). Its backward reads
    `_requires_grad`, the attribute behind the `requires_grad` property: a third of the
    cost of the property on these ops of one numpy call."""

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
        dx = g if x._requires_grad else None
        dy = g if y._requires_grad else None
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
        dx = g if x._requires_grad else None
        dy = -g if y._requires_grad else None
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
        dx = g * y if px._requires_grad else None
        dy = g * x if py._requires_grad else None
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
        dx = g / y if px._requires_grad else None
        dy = -g * x / (y * y) if py._requires_grad else None
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
    """x^c elementwise for a number `c` (what `x ** c` calls)."""
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
    """σ(x) without overflow: only powers e^t with t ≤ 0 are ever computed,
    1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, i.e. e^min(x, 0) / (1 + e^−|x|).
    (Two exps cost a third of `np.where(x >= 0, 1, e)`, which mispredicts on mixed signs.)"""
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


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
    lo: float | np.ndarray | None  # a number, or constant values that broadcast to X's shape
    hi: float | np.ndarray | None

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


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Values limited to [min, max]; either bound may be None (not both). A bound is a
    number, or constant values (an array, or a Tensor that does not require grad) whose
    shape broadcasts to x's.

    Example:
        `tc.clip(x, 0, 6)` is ReLU6. The gradient passes where min ≤ x ≤ max, else 0.
    """
    x = tensor(x)
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    return Clip.apply(x, lo=_bound("min", min, x), hi=_bound("max", max, x))


def _bound(which: str, bound: Any, x: Tensor) -> float | np.ndarray | None:
    """A clip bound as a number or an array of x's dtype and a shape that broadcasts to x's."""
    if bound is None or isinstance(bound, (int, float, np.integer, np.floating)) and not isinstance(bound, bool):
        return bound
    if isinstance(bound, Tensor):
        if bound.requires_grad:
            raise TypeError(f"clip: the {which} bound requires grad; clip's bounds are constants "
                            "(tc.maximum and tc.minimum differentiate with respect to both sides)")
        bound = bound.data
    values = np.asarray(bound)
    if values.dtype.kind not in "fiu":
        raise TypeError(f"clip: {which} must be a number or an array of numbers, got {type(bound).__name__} "
                        f"of dtype {values.dtype}")
    if len(values.shape) > x.ndim or any(b not in (1, n) for b, n in zip(values.shape[::-1], x.shape[::-1])):
        raise ValueError(f"clip: {which} of shape {values.shape} does not broadcast to the input's shape {x.shape}")
    return values.astype(x.dtype, copy=False) if x.dtype.kind == "f" else values


# The module-level spellings of the ops (tc.add, tc.exp, ...).
def add(a: ArrayLike, b: ArrayLike) -> Tensor:
    """`a + b`; a number on either side takes the other side's dtype, as with `+`."""
    return b.__radd__(a) if isinstance(b, Tensor) and not isinstance(a, Tensor) else tensor(a) + b


def exp(x: ArrayLike) -> Tensor:
    """e^x elementwise."""
    return Exp.apply(tensor(x))


def log(x: ArrayLike) -> Tensor:
    """The natural logarithm elementwise (−inf at 0, nan below)."""
    return Log.apply(tensor(x))


def sigmoid(x: ArrayLike) -> Tensor:
    """σ(x) = 1 / (1 + e^−x) elementwise, computed without overflow."""
    return Sigmoid.apply(tensor(x))


def relu(x: ArrayLike) -> Tensor:
    """max(x, 0) elementwise; the gradient at 0 is 0."""
    return ReLU.apply(tensor(x))


def tanh(x: ArrayLike) -> Tensor:
    """tanh(x) elementwise."""
    return Tanh.apply(tensor(x))


# ----- more elementwise math -------------------------------------------------------
class Abs(Function):
    """Y = |X|
    dE/dX = dE/dY · sign X   (0 at X = 0, as PyTorch)
    """

    name = "abs"
    options = ()
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        x = self.parents[0].data  # the sign is a constant: selected, not multiplied
        return (F.where(x > 0, g, F.where(x < 0, -g, 0.0)),)


class Sqrt(Function):
    """Y = √X
    dE/dX = dE/dY / (2Y)
    """

    name = "sqrt"
    options = ()
    saves = ()
    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # √(negative) = nan, as numpy/PyTorch
            return np.sqrt(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        y = self.output(g)
        with np.errstate(divide="ignore"):  # 1/√0 = inf, as the forward's slope at 0
            return (g / (y * 2),)


class Sin(Function):
    """Y = sin X
    dE/dX = dE/dY · cos X
    """

    name = "sin"
    options = ()
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sin(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        return (g * F.cos(x),)


class Cos(Function):
    """Y = cos X
    dE/dX = −dE/dY · sin X
    """

    name = "cos"
    options = ()
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.cos(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        return (-g * F.sin(x),)


class Log1p(Function):
    """Y = ln(1 + X)   (accurate for small X)
    dE/dX = dE/dY / (1 + X)
    """

    name = "log1p"
    options = ()
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # log1p(−1) = −inf, as numpy/PyTorch
            return np.log1p(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        with np.errstate(divide="ignore"):
            return (g / (x + 1),)


class Maximum(Function):
    """Z = max(X, Y), elementwise
    dE/dX = dE/dZ where X > Y, dE/dZ / 2 where X = Y, 0 elsewhere
    dE/dY = dE/dZ where Y > X, dE/dZ / 2 where X = Y, 0 elsewhere
    """

    name = "maximum"
    options = ()
    saves = (0, 1)

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(x, y)

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.parents[0].data, self.parents[1].data  # which side won is a constant
        return _share(self, g, x > y, x < y, x == y)


class Minimum(Function):
    """Z = min(X, Y), elementwise
    dE/dX = dE/dZ where X < Y, dE/dZ / 2 where X = Y, 0 elsewhere
    dE/dY = dE/dZ where Y < X, dE/dZ / 2 where X = Y, 0 elsewhere
    """

    name = "minimum"
    options = ()
    saves = (0, 1)

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.minimum(x, y)

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.parents[0].data, self.parents[1].data
        return _share(self, g, x < y, x > y, x == y)


def _share(fn: Function, g: Grad, x_wins: np.ndarray, y_wins: np.ndarray, tie: np.ndarray) -> tuple[Any, Any]:
    """Gradients of maximum/minimum: the winner takes dE/dZ, a tie splits it (PyTorch's rule)."""
    px, py = fn.parents
    half = g * 0.5
    dx = unbroadcast(F.where(x_wins, g, F.where(tie, half, 0.0)), px.shape) if px.requires_grad else None
    dy = unbroadcast(F.where(y_wins, g, F.where(tie, half, 0.0)), py.shape) if py.requires_grad else None
    return dx, dy


class Where(Function):
    """Z = A where C, B elsewhere   (C a constant bool tensor)
    dE/dC = none (C is a condition, not a number)
    dE/dA = dE/dZ where C, 0 elsewhere
    dE/dB = dE/dZ where not C, 0 elsewhere
    """

    name = "where"
    options = ()
    saves = (0,)

    def forward(self, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(c, a, b)

    def backward(self, g: Grad) -> tuple[None, Grad | None, Grad | None]:
        c, a, b = self.parents
        cond = c.data
        da = unbroadcast(F.where(cond, g, 0.0), a.shape) if a.requires_grad else None
        db = unbroadcast(F.where(cond, 0.0, g), b.shape) if b.requires_grad else None
        return None, da, db


def _number_like(x: Any, like: Tensor) -> Tensor:
    """A number takes the other operand's dtype (so float32 stays float32); the rest via tensor()."""
    if isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_)):
        return Tensor._make(np.asarray(x, dtype=like.dtype if like.dtype.kind == "f" else np.float64))
    return tensor(x)


def _pair(op: str, a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a = tensor(a)
        b = _number_like(b, a)
    else:
        a = _number_like(a, b)
    _check_broadcast(op, a.data, b.data)
    return a, b


def maximum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise larger of `a` and `b` (broadcast); ties share the gradient."""
    return Maximum.apply(*_pair("maximum", a, b))


def minimum(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elementwise smaller of `a` and `b` (broadcast); ties share the gradient."""
    return Minimum.apply(*_pair("minimum", a, b))


def where(cond: Any, a: ArrayLike, b: ArrayLike) -> Tensor:
    """`a` where `cond` holds, else `b`; `cond` is a bool Tensor or array (e.g. a
    comparison), either branch may be a number."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond) if isinstance(cond, (np.ndarray, np.bool_, bool, list)) else None
    if c is None or c.dtype != np.bool_:
        what = type(cond).__name__ if c is None else f"dtype {c.dtype}"
        raise TypeError(f"where: the condition must be a bool Tensor or array (e.g. x > 0), got {what}")
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a = tensor(a)
        b = _number_like(b, a)
    else:
        a = _number_like(a, b)
    try:
        np.broadcast_shapes(c.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: shapes {c.shape} (condition), {a.shape} and {b.shape} do not broadcast") from None
    return outside_graph("where", [cond, a, b], Where.apply(Tensor._make(c), a, b))


def abs(x: ArrayLike) -> Tensor:
    """|x| elementwise; the gradient at 0 is 0."""
    return Abs.apply(tensor(x))


def sqrt(x: ArrayLike) -> Tensor:
    """√x elementwise."""
    return Sqrt.apply(tensor(x))


def sin(x: ArrayLike) -> Tensor:
    """sin(x) elementwise."""
    return Sin.apply(tensor(x))


def cos(x: ArrayLike) -> Tensor:
    """cos(x) elementwise."""
    return Cos.apply(tensor(x))


def log1p(x: ArrayLike) -> Tensor:
    """log(1 + x) elementwise, accurate for small x."""
    return Log1p.apply(tensor(x))


# ----- comparisons: bool results, outside the graph ----------------------------------
_COMPARE = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}


def compare(op: str, a: Tensor, b: Any) -> Tensor:
    """`a <op> b` elementwise as a bool Tensor (never requires grad)."""
    other = b.data if isinstance(b, Tensor) else b
    if not isinstance(other, (int, float, np.number, bool, np.bool_)):
        other = np.asarray(other)
        if other.dtype.kind not in "biuf":
            raise TypeError(f"{op}: cannot compare a Tensor with {type(b).__name__}")
        _check_broadcast(op, a.data, other)
    out = Tensor._make(np.asarray(_COMPARE[op](a.data, other)))
    return outside_graph("compare", [a, b] if isinstance(b, Tensor) else [a], out, op=op,
                         other=None if isinstance(b, Tensor) else b)


def comparable(other: Any) -> bool:
    """Whether `==`/`!=` compare elementwise with `other` (else Python's identity test)."""
    return isinstance(other, (Tensor, np.ndarray, list, tuple, int, float, np.number, np.bool_))
