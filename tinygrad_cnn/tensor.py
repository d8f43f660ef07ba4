"""The Tensor, the Function base class every op derives from, and grad mode.

A Tensor made by an op keeps that op's Function in ``_ctx``; the Function keeps the
input Tensors in ``parents``. Pointers only go backwards (output -> op -> inputs), so
a graph is freed by reference counting alone, with no cycle for the collector.
"""

from __future__ import annotations

import inspect
import weakref
from contextlib import ContextDecorator
from operator import attrgetter
from typing import Any, Callable, ClassVar, Sequence, Union

import numpy as np

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence]

_grad_enabled = True


class grad_mode(ContextDecorator):
    """Context manager (or decorator): grad mode `enabled` inside, the previous mode
    after, even on an exception. Blocks nest, and one object may be re-entered."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._saved: list[bool] = []  # one entry per active `with`

    def __enter__(self) -> None:
        self._saved.append(_grad_enabled)
        set_grad_enabled(self.enabled)

    def __exit__(self, *exc: object) -> None:
        set_grad_enabled(self._saved.pop())


class no_grad(grad_mode):
    """Context manager (or decorator): no graph is recorded inside; results don't
    require grad."""

    def __init__(self) -> None:
        super().__init__(False)


def set_grad_enabled(mode: bool) -> None:
    global _grad_enabled
    _grad_enabled = mode


def is_grad_enabled() -> bool:
    return _grad_enabled


def _as_array(data: Any) -> np.ndarray:
    """float32/float64 arrays keep their dtype; everything else becomes float64."""
    if isinstance(data, np.ndarray) and data.dtype in (np.float32, np.float64):
        return data
    if isinstance(data, np.generic) and data.dtype in (np.float32, np.float64):
        return np.asarray(data)  # a numpy scalar (e.g. a float32 array's .sum()) is 0-d data too
    if isinstance(data, Tensor):
        raise TypeError("Tensor(data): data is already a Tensor; use .detach() or .data")
    if data is None:
        raise TypeError("Tensor(data): data is None; give a number, a nested list or an ndarray")
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Tensor(data): cannot convert {type(data).__name__} to a float array: {e}") from None


class Tensor:
    """An n-dimensional array that records the op which produced it.

    A float32/float64 ndarray given as data is used as it is, not copied (as
    `torch.from_numpy`), so an optimizer step on the tensor changes that array.

    `.grad` is None until a backward pass reaches the tensor, then an ndarray of its
    shape and dtype; passes add into it. A leaf's `.grad` is its own writable array. An
    intermediate tensor's `.grad` is read-only: it may share memory with other
    gradients of the same pass (copy it to change it).
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_ctx", "__weakref__")
    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.data: np.ndarray = _as_array(data)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._ctx: Function | None = None

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Fast constructor for op results: `data` is already a float array."""
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t.name, t._ctx = data, None, requires_grad, None, None
        return t

    # ----- properties -------------------------------------------------------------
    # attrgetter runs in C: these are read several times per op in every backward
    shape = property(attrgetter("data.shape"))
    ndim = property(attrgetter("data.ndim"))
    dtype = property(attrgetter("data.dtype"))
    size = property(attrgetter("data.size"))

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def op(self) -> str | None:
        return None if self._ctx is None else self._ctx.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        return () if self._ctx is None else self._ctx.parents

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): only a tensor of size 1 converts to a number, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        return Tensor._make(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        parts = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.name is not None:
            parts.insert(0, f"name={self.name!r}")
        if self._ctx is not None:
            parts.append(f"op={self.op!r}")
        if self.requires_grad:
            parts.append("requires_grad=True")
        parts.append("grad=None" if self.grad is None else "grad=set")
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2)
        return f"Tensor({body}, {', '.join(parts)})"

    # ----- autograd ---------------------------------------------------------------
    def backward(self, grad: np.ndarray | None = None) -> None:
        """Reverse-mode pass: fill `.grad` of every tensor in the graph that requires grad."""
        from .autograd import backward

        backward(self, grad)

    # ----- operators --------------------------------------------------------------
    def _other(self, other: Any) -> Tensor:
        # (the operators test `type(other) is Tensor` inline first: the common case, no call)
        if isinstance(other, Tensor):
            return other
        kind = type(other)
        if (
            kind is float
            or kind is int
            or (isinstance(other, (int, float, np.number)) and kind is not bool)
            or (kind is np.ndarray and other.ndim == 0 and other.dtype.kind in "iuf")
        ):
            # A number (Python or numpy, or a 0-d array) takes this tensor's dtype, as in
            # PyTorch, so float32 stays float32.
            return Tensor._make(np.asarray(other, dtype=self.data.dtype))
        if isinstance(other, np.ndarray) or isinstance(other, (list, tuple, np.generic)):
            return Tensor(other)
        raise TypeError(f"unsupported operand type {type(other).__name__} for a Tensor op")

    def __add__(self, other: Any) -> Tensor:
        return E.Add.apply(self, other if type(other) is Tensor else self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        return E.Add.apply(self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return E.Sub.apply(self, other if type(other) is Tensor else self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        return E.Sub.apply(self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return E.Mul.apply(self, other if type(other) is Tensor else self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        return E.Mul.apply(self._other(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return E.Div.apply(self, other if type(other) is Tensor else self._other(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return E.Div.apply(self._other(other), self)

    def __pow__(self, exponent: float) -> Tensor:
        return E.pow(self, exponent)

    def __neg__(self) -> Tensor:
        return E.Neg.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return M.matmul(self, self._other(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return M.matmul(self._other(other), self)

    # ----- methods ------------------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return S.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return S.mean(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        return S.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        return S.transpose(self, *axes)

    def flatten(self) -> Tensor:
        return S.reshape(self, -1)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        return S.broadcast_to(self, shape)

    def flip(self, axes: tuple[int, ...] = (-2, -1)) -> Tensor:
        return S.flip(self, axes)

    def _cast(self, dtype: Any) -> Tensor:
        return S.cast(self, dtype)

    def exp(self) -> Tensor:
        return E.Exp.apply(self)

    def log(self) -> Tensor:
        return E.Log.apply(self)

    def sigmoid(self) -> Tensor:
        return E.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return E.ReLU.apply(self)

    def tanh(self) -> Tensor:
        return E.Tanh.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return E.clip(self, min, max)

    # activations: ops/activation.py
    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return A.leaky_relu(self, negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        return A.elu(self, alpha)

    def gelu(self) -> Tensor:
        return A.gelu(self)

    def silu(self) -> Tensor:
        return A.silu(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        return A.softplus(self, beta, threshold)

    def correlate2d(self, k: ArrayLike, mode: str = "valid") -> Tensor:
        return C.correlate2d(self, k, mode)

    def convolve2d(self, k: ArrayLike, mode: str = "valid") -> Tensor:
        return C.convolve2d(self, k, mode)


class Function:
    """One op: `forward` on arrays, `backward` by the op's own formulas.

    The class docstring is the op's calculus in the seed's notation: its first line is
    the forward formula, each further line the gradient for one input. The graph
    drawing and the docs' derivatives table read it from there.

    `backward(g)` receives dE/dY and returns one gradient (or None) per parent. It is
    written once, with operators and methods that numpy arrays and Tensors share, and
    runs in one of two ways. A plain `backward()` hands it arrays (`g`, `inputs()`,
    `output`), so the formulas are plain numpy. With `create_graph=True` it gets the
    Tensors themselves, so the same formulas record the gradient computation as a
    graph of its own, which can be drawn and differentiated again.
    """

    __slots__ = ("parents", "_out")
    name: ClassVar[str] = "function"
    # Formulas that replace the docstring's when an option has a given value, in the
    # docstring's format: {("mode", "full"): """Y = ... / dE/dX = ..."""}.
    variants: ClassVar[dict[tuple[str, Any], str]] = {}
    parents: tuple[Tensor, ...]
    _out: weakref.ref[Tensor]
    # Each op defines `forward(self, x, ...) -> ndarray`, one array per input, and
    # `backward(self, g) -> tuple`, one gradient (or None) per input.
    forward: Callable[..., np.ndarray]
    backward: Callable[..., tuple[Any, ...]]

    def inputs(self) -> tuple[Any, ...]:
        """The inputs as backward's formulas use them: arrays, or the parent Tensors
        while the backward is being recorded."""
        ps = self.parents
        if _grad_enabled:
            return ps
        if len(ps) == 2:  # most ops: spelled out, no list (this runs once per op per backward)
            return ps[0].data, ps[1].data
        return tuple([p.data for p in ps])

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        fn = _new(cls)
        if options:
            for key, value in options.items():  # the op's non-tensor options: axis, mode, ...
                setattr(fn, key, value)
        # One and two inputs spelled out: for tiny tensors this bookkeeping costs as
        # much as the arithmetic, so no list and no generator on the common path.
        if len(inputs) == 2:
            a, b = inputs
            data = fn.forward(a.data, b.data)
            track = _grad_enabled and (a.requires_grad or b.requires_grad)
        elif len(inputs) == 1:
            data = fn.forward(inputs[0].data)
            track = _grad_enabled and inputs[0].requires_grad
        else:
            data = fn.forward(*[t.data for t in inputs])
            track = _grad_enabled and any(t.requires_grad for t in inputs)
        if type(data) is not np.ndarray:  # numpy gives 0-d results as scalars; .data is an array
            data = np.asarray(data)
        out = _new(Tensor)
        out.data, out.grad, out.requires_grad, out.name, out._ctx = data, None, track, None, None
        if track:
            fn.parents = inputs
            fn._out = _weakref(out)
            out._ctx = fn
        if _anomaly_hook is not None:
            _anomaly_hook(fn, out, "forward")
        return out

    @property
    def output(self) -> Any:
        """What this op produced, as `inputs()` gives the inputs (alive whenever its
        backward runs: the engine holds every tensor of the graph)."""
        out = self._out()
        assert out is not None, f"{self.name}: output freed before backward"
        return out if _grad_enabled else out.data

    @classmethod
    def formulas(cls, variant: tuple[str, Any] | None = None) -> list[str]:
        """[forward formula, gradient formula per input] from the class docstring, or
        from `variants[variant]` for an option value that changes them."""
        doc = inspect.cleandoc(cls.__doc__ or "" if variant is None else cls.variants[variant])
        return [line.strip() for line in doc.splitlines() if line.strip()]

    def applied_formulas(self) -> list[str]:
        """The formulas this op applied: a variant's when one of its options selects one."""
        for option, value in self.variants:
            if getattr(self, option, None) == value:
                return self.formulas((option, value))
        return self.formulas()


_new = object.__new__  # Tensor and Function have no __init__ work to skip
_weakref = weakref.ref

# Set by detect_anomaly(); None (and so free) otherwise.
_anomaly_hook: Any = None


# Tensor methods call the ops through these modules; imported last because the ops
# themselves are built on Tensor and Function above.
from .ops import activation as A  # noqa: E402
from .ops import conv as C  # noqa: E402
from .ops import elementwise as E  # noqa: E402
from .ops import matmul as M  # noqa: E402
from .ops import shape as S  # noqa: E402
