"""The Tensor: an array that remembers the op which produced it.

A Tensor made by an op keeps that op's Function in ``_ctx``; the Function keeps the
input Tensors in ``parents``. Pointers only go backwards (output -> op -> inputs), so
a graph is freed by reference counting alone, with no cycle for the collector.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Sequence, Union

import numpy as np

from . import function as _function
from .function import UNCHANGED, Function
from .grad_mode import grad_mode, is_grad_enabled, no_grad, set_grad_enabled, state

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence]

__all__ = ["ArrayLike", "Function", "Tensor", "grad_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_array(data: Any) -> np.ndarray:
    """The array a Tensor holds for `data`.

    float32/float64 arrays are kept as they are (not copied); numpy integer and bool
    arrays keep their dtype; Python numbers and lists become float64. Anything whose
    numbers numpy would change or drop without a word is refused: complex values,
    strings, objects (`None` inside a list), dates, masked arrays.
    """
    if type(data) is np.ndarray and data.dtype in _FLOATS:
        return data
    if isinstance(data, Tensor):
        raise TypeError("Tensor(data): data is already a Tensor; use .detach() or .data")
    if data is None:
        raise TypeError("Tensor(data): data is None; give a number, a nested list or an ndarray")
    if isinstance(data, np.ma.MaskedArray):
        raise TypeError("Tensor(data): a masked array would lose its mask; use m.filled(value) or m.compressed()")
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Tensor(data): {data!r} is a string, not a number")
    if isinstance(data, int) and not isinstance(data, bool) and abs(data) >= 2**1024:
        raise ValueError(f"Tensor(data): the integer {str(data)[:20]}... is too large for float64")
    from_numpy = isinstance(data, (np.ndarray, np.generic))  # np.matrix too: it becomes a plain array
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as e:  # ragged lists
        raise TypeError(f"Tensor(data): cannot convert {type(data).__name__} to an array of numbers: {e}") from None
    kind = array.dtype.kind
    if kind == "f" and array.dtype in _FLOATS and from_numpy:
        return array
    if kind in "iub" and from_numpy:
        return array
    if kind in "fiub":
        return array.astype(np.float64)
    what = {"c": "complex numbers", "U": "strings", "S": "bytes", "M": "dates", "m": "time spans"}.get(kind)
    if what is None:  # an object array: None, a Tensor or another object inside a list
        odd = [v for v in array.ravel() if not isinstance(v, (int, float, np.number)) or isinstance(v, complex)]
        what = f"a {type(odd[0]).__name__} ({odd[0]!r})" if odd else f"objects of dtype {array.dtype}"
    raise TypeError(f"Tensor(data): data holds {what}; a Tensor holds real numbers (or bools)")


class Tensor:
    """An n-dimensional array that records the op which produced it.

    A float32/float64 ndarray given as data is used as it is, not copied (as
    `torch.from_numpy`), so an optimizer step on the tensor changes that array.

    `.grad` is None until a backward pass reaches the tensor, then an ndarray of its
    shape and dtype; passes add into it. A leaf's `.grad` is its own writable array. An
    intermediate tensor's `.grad` is read-only: it may share memory with other
    gradients of the same pass (copy it to change it).

    In-place changes made through the tensor (`add_`, `sub_`, `mul_`, `zero_`, `copy_`,
    assigning `.data`, optimizer steps) count up its version; a backward that needs
    the old values then refuses to run. Writing into the array itself
    (`t.data[...] = v`) bypasses the count, as `.data` does in PyTorch.

    Args:
        data: an ndarray, a number or a nested list. Python numbers and lists become
            float64; numpy int/bool arrays stay int/bool (and never require grad).
        requires_grad: whether backward computes `.grad` for this tensor (floats only).
        name: a label for drawings (`tc.draw_graph`) and error messages.

    Attributes:
        grad: None, or the ndarray dE/d(this tensor) of this tensor's shape and dtype.
        requires_grad: whether a backward pass computes `.grad` for this tensor.
        name: the label shown in drawings, or None.

    Example:
        ```python
        x = tc.Tensor([[1.0, 6, 2], [5, 3, 1], [7, 0, 4]], requires_grad=True)
        y = x.correlate2d([[1.0, 2], [-1, 0]])  # Y = X ⋆ K, shape (2, 2)
        y.sum().backward()                       # x.grad = dE/dX for E = ΣY
        ```
    """

    __slots__ = ("_data", "_grad", "_requires_grad", "name", "_ctx", "_version", "__weakref__")
    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self._data: np.ndarray = _as_array(data)
        self._grad: np.ndarray | None = None
        self._requires_grad = False
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only float tensors can require grad, got dtype {self._data.dtype} "
                f"(shape {self._data.shape}); convert with .astype(np.float64) first"
            )
        self._requires_grad = bool(requires_grad)
        self.name = name
        self._ctx: Function | None = None
        self._version: list[int] | tuple[int, int] = UNCHANGED  # a list once changed or viewed (see _bump)

    def __copy__(self) -> Tensor:
        """A second Tensor object over the same array, sharing its version counter (as a
        view does): a change through either is a change of both."""
        t = _new(type(self))
        for slot in Tensor.__slots__[:-1]:  # all but __weakref__
            setattr(t, slot, getattr(self, slot))
        if hasattr(self, "__dict__"):  # a subclass's own attributes
            t.__dict__.update(self.__dict__)
        self._view_of(self)  # the counter becomes a list, shared by both from here on
        t._version = self._version
        return t

    def __setstate__(self, state: Any) -> None:
        """Unpickled or copied: the same values, gradient and name. The version keeps its
        count (and stays shared with views copied along) but not when the last change
        happened: creation numbers belong to the process, and the graph, they came from."""
        for attrs in state if type(state) is tuple else (state,):  # (__dict__ or None, slots)
            for key, value in (attrs or {}).items():
                setattr(self, key, value)
        v = self._version
        if type(v) is tuple:
            self._version = UNCHANGED
        else:
            v[1] = -1

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Fast constructor for op results: `data` is already an array of numbers."""
        t = _new(cls)
        t._data, t._grad, t._requires_grad, t.name, t._ctx, t._version = data, None, requires_grad, None, None, UNCHANGED
        return t

    # ----- properties -------------------------------------------------------------
    def _set_data(self, value: Any) -> None:
        data = _as_array(value)
        if self._requires_grad and data.dtype.kind != "f":
            raise TypeError(f"data: a tensor that requires grad holds floats, got dtype {data.dtype} "
                            f"(shape {data.shape})")
        self._data = data
        self._bump()

    def _bump(self) -> None:
        """Count one in-place change and note when it happened (a creation number: ops
        created before it may not run their backward). A tensor starts with the shared
        `UNCHANGED` (0, -1) and gets a list of its own, shared with its views, at its
        first change or view: one object less per op for the cycle collector to track."""
        when = _function.note_change()
        v = self._version
        if type(v) is tuple:  # UNCHANGED
            self._version = [1, when]
        else:
            v[0] += 1  # type: ignore[index]
            v[1] = when  # type: ignore[index]

    # attrgetter runs in C: these are read several times per op in every backward
    def _set_requires_grad(self, value: bool) -> None:
        if value and self._data.dtype.kind != "f":
            raise TypeError(f"requires_grad: only float tensors can require grad, got dtype {self._data.dtype} "
                            f"(shape {self._data.shape}); convert with .astype(np.float64) first")
        self._requires_grad = bool(value)

    requires_grad = property(attrgetter("_requires_grad"), _set_requires_grad,
                             doc="Whether a backward pass computes `.grad` for this tensor (float tensors only).")
    data = property(attrgetter("_data"), _set_data, doc="The values, an np.ndarray (assigning counts as an in-place change).")
    shape = property(attrgetter("_data.shape"), doc="The size of each axis, a tuple of ints.")
    ndim = property(attrgetter("_data.ndim"), doc="The number of axes.")
    dtype = property(attrgetter("_data.dtype"), doc="The numpy dtype of the values.")
    size = property(attrgetter("_data.size"), doc="The number of elements.")

    def _get_grad(self) -> np.ndarray | None:
        g = self._grad
        if g is not None and self._ctx is not None and g.flags.writeable:
            # An intermediate's gradient may share memory with others of its pass (an
            # add hands the same dE/dZ to both inputs): read-only. Marked when read, not
            # by the engine for every tensor of every pass (~0.1 µs each).
            g.setflags(write=False)
        return g

    def _set_grad(self, value: np.ndarray | None) -> None:
        self._grad = value

    grad = property(_get_grad, _set_grad, doc="dE/dT from the backward passes so far (None before the first).")

    @property
    def is_leaf(self) -> bool:
        """True when no op made this tensor (an input or a parameter): `_ctx` is None."""
        return self._ctx is None

    @property
    def op(self) -> str | None:
        """The name of the op that produced this tensor; None for a leaf."""
        return None if self._ctx is None else self._ctx.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The input Tensors of the op that produced this tensor; empty for a leaf."""
        return () if self._ctx is None else self._ctx.parents

    @property
    def T(self) -> Tensor:
        """The axes reversed, as numpy's `.T` (`transpose()`); a view."""
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The values as an np.ndarray: the tensor's own array, not a copy."""
        return self._data

    def item(self) -> float:
        """The value of a size-1 tensor as a Python number.

        Raises:
            ValueError: the tensor has more than one element.
        """
        if self._data.size != 1:
            raise ValueError(f"item(): only a tensor of size 1 converts to a number, got shape {self.shape}")
        return self._data.reshape(()).item()

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` in place and return the tensor, as PyTorch's. Only a leaf
        may stop requiring grad: an op's output is part of a graph (detach() it)."""
        if not requires_grad and self._ctx is not None:
            raise RuntimeError(f"requires_grad_: the output of {self._ctx.name} (shape {self.shape}) is part of a "
                               "graph; only a leaf can stop requiring grad; use .detach()")
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same values (shared, not copied) cut from the graph; an in-place change
        of either counts for both."""
        return Tensor._make(self._data)._view_of(self)

    @property
    def version(self) -> int:
        """How many in-place changes this tensor's values have seen (shared with views)."""
        return self._version[0]

    def _view_of(self, base: Tensor) -> Tensor:
        """Mark this tensor as sharing `base`'s memory: one version counter for both."""
        v = base._version
        if type(v) is tuple:  # UNCHANGED
            v = base._version = list(UNCHANGED)
        self._version = v
        return self

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        parts = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.name is not None:
            parts.insert(0, f"name={self.name!r}")
        if self._ctx is not None:
            parts.append(f"op={self.op!r}")
        if self.requires_grad:
            parts.append("requires_grad=True")
        parts.append("grad=None" if self.grad is None else "grad=set")
        body = np.array2string(self._data, precision=4, threshold=20, edgeitems=2)
        return f"Tensor({body}, {', '.join(parts)})"

    # ----- autograd ---------------------------------------------------------------
    def backward(self, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
        """Reverse-mode pass: add dE/dT to `.grad` of every tensor T in the graph that
        requires grad. The graph's saved buffers are freed afterwards unless
        `retain_graph=True`; a second backward through a freed graph raises."""
        from .autograd import backward

        backward(self, grad, retain_graph)

    # ----- in-place changes (not recorded; each counts up the version) ------------
    def _inplace(self, op: str) -> np.ndarray:
        if self.requires_grad and state.enabled:
            raise RuntimeError(
                f"{op}: an in-place change of a tensor that requires grad (shape {self.shape}) is not recorded; "
                "do it under tc.no_grad(), as optimizers do"
            )
        if not self._data.flags.writeable:
            raise ValueError(f"{op}: the tensor's array (shape {self.shape}) is read-only; give the tensor a writable copy (t.data = t.data.copy())")
        self._bump()
        return self._data

    def _operand(self, op: str, other: Any) -> Any:
        value = other._data if isinstance(other, Tensor) else np.asarray(other)
        if value.dtype.kind not in "fiub":
            raise TypeError(f"{op}: expected a number, an array or a Tensor, got {type(other).__name__}")
        if np.broadcast_shapes(value.shape, self.shape) != self.shape:
            raise ValueError(f"{op}: an operand of shape {value.shape} does not broadcast to the tensor's shape {self.shape}")
        return value

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha · other, in place."""
        value = self._operand("add_", other)
        data = self._inplace("add_")
        np.add(data, value if alpha == 1 else alpha * value, out=data, casting="same_kind")
        return self

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self −= alpha · other, in place."""
        value = self._operand("sub_", other)
        data = self._inplace("sub_")
        np.subtract(data, value if alpha == 1 else alpha * value, out=data, casting="same_kind")
        return self

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        value = self._operand("mul_", other)
        data = self._inplace("mul_")
        np.multiply(data, value, out=data, casting="same_kind")
        return self

    def zero_(self) -> Tensor:
        """Set every value to 0, in place."""
        self._inplace("zero_")[...] = 0
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy `src`'s values into this tensor (broadcast to its shape, in its dtype)."""
        value = self._operand("copy_", src)
        np.copyto(self._inplace("copy_"), value, casting="same_kind" if value.dtype.kind == "f" else "unsafe")
        return self

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
            # A number (Python or numpy, or a 0-d array) takes a float tensor's dtype, as
            # in PyTorch, so float32 stays float32; against int/bool data numpy promotes.
            dtype = self._data.dtype
            return Tensor._make(np.asarray(other, dtype=dtype if dtype.kind == "f" else None))
        if isinstance(other, np.ndarray) or isinstance(other, (list, tuple, np.generic)):
            return Tensor(other)
        raise TypeError(f"unsupported operand type {type(other).__name__} for a Tensor op")

    # A Python number rides along as the op's option (AddConstant, MulConstant): one op
    # with one input, and no Tensor made for the number. numpy's weak-scalar rule keeps
    # the tensor's float dtype, as PyTorch does.
    def __add__(self, other: Any) -> Tensor:
        kind = type(other)
        if kind is Tensor:
            return E.Add.apply(self, other)
        if kind is float or kind is int:
            return E.AddConstant.apply(self, c=other)
        return E.Add.apply(self, self._other(other))

    def __radd__(self, other: Any) -> Tensor:
        kind = type(other)
        if kind is float or kind is int:
            return E.AddConstant.apply(self, c=other)
        return E.Add.apply(self._other(other), self)

    def __sub__(self, other: Any) -> Tensor:
        kind = type(other)
        if kind is Tensor:
            return E.Sub.apply(self, other)
        if kind is float or kind is int:
            return E.AddConstant.apply(self, c=-other)
        return E.Sub.apply(self, self._other(other))

    def __rsub__(self, other: Any) -> Tensor:
        return E.Sub.apply(self._other(other), self)

    def __mul__(self, other: Any) -> Tensor:
        kind = type(other)
        if kind is Tensor:
            return E.Mul.apply(self, other)
        if kind is float or kind is int:
            return E.MulConstant.apply(self, c=other)
        return E.Mul.apply(self, self._other(other))

    def __rmul__(self, other: Any) -> Tensor:
        kind = type(other)
        if kind is float or kind is int:
            return E.MulConstant.apply(self, c=other)
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
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """Σ over `axis` (all axes when None); see `tc.sum`.

        Args:
            axis: an int, a tuple of ints or None (`dim=` is accepted too).
            keepdims: keep the summed axes with size 1 (`keepdim=` too).
        """
        return R.sum(self, axis, keepdims, **dim)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """The mean over `axis` (all axes when None); see `tc.mean`. Same arguments as `sum`."""
        return R.mean(self, axis, keepdims, **dim)

    def reshape(self, *shape: Any) -> Tensor:
        """The same values in a new shape: `x.reshape(2, 3)` or `x.reshape((2, 3))`, one size may be −1.

        Returns a view (it shares the version counter with `x`). See `tc.reshape`.
        """
        return S.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Swap two axes, `x.transpose(0, 1)` (as PyTorch); `x.transpose()` reverses
        all axes and a full permutation permutes them (as numpy). See `tc.transpose`.
        """
        return S.transpose(self, *axes)

    def flatten(self) -> Tensor:
        """All values as one axis: shape (x.size,). A view."""
        return S.reshape(self, -1)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        """The values repeated along axes of size 1 (or new leading axes) to `shape`; a view. See `tc.broadcast_to`."""
        return S.broadcast_to(self, shape)

    def flip(self, axes: Any = None, *, dim: Any = None, dims: Any = None) -> Tensor:
        """The order reversed along `axes` (default: the last two, i.e. rot180 of a kernel); a view.
        `dim=`/`dims=` are aliases. See `tc.flip`."""
        return S.flip(self, axes, dim=dim, dims=dims)

    def _cast(self, dtype: Any) -> Tensor:
        return S.cast(self, dtype)

    def exp(self) -> Tensor:
        """e^x elementwise. See `tc.exp`."""
        return E.Exp.apply(self)

    def log(self) -> Tensor:
        """The natural logarithm elementwise. See `tc.log`."""
        return E.Log.apply(self)

    def sigmoid(self) -> Tensor:
        """σ(x) = 1 / (1 + e^−x) elementwise. See `tc.sigmoid`."""
        return E.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0) elementwise. See `tc.relu`."""
        return E.ReLU.apply(self)

    def tanh(self) -> Tensor:
        """tanh(x) elementwise. See `tc.tanh`."""
        return E.Tanh.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Values limited to [min, max] (either bound may be None). See `tc.clip`."""
        return E.clip(self, min, max)

    # activations: ops/activation.py
    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """x where x > 0, else negative_slope·x. See `tc.leaky_relu`."""
        return A.leaky_relu(self, negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        """x where x > 0, else alpha·(e^x − 1). See `tc.elu`."""
        return A.elu(self, alpha)

    def gelu(self) -> Tensor:
        """x·Φ(x), Φ the standard normal CDF (the exact erf form). See `tc.gelu`."""
        return A.gelu(self)

    def silu(self) -> Tensor:
        """x·σ(x). See `tc.silu`."""
        return A.silu(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        """log(1 + e^(beta·x)) / beta; x itself where beta·x > threshold. See `tc.softplus`."""
        return A.softplus(self, beta, threshold)

    def correlate2d(self, k: ArrayLike, mode: str = "valid", **options: Any) -> Tensor:
        """Cross-correlation `self ⋆ k` (the seed notes' ⋆); see `tc.correlate2d` for shapes and options.

        Example:
            `tc.Tensor(X).correlate2d(K)` is the (2, 2) map Y of the seed notes for a (3, 3) X and a (2, 2) K.
        """
        return C.correlate2d(self, k, mode, **options)

    def convolve2d(self, k: ArrayLike, mode: str = "valid", **options: Any) -> Tensor:
        """Convolution `self * k` = `self ⋆ rot180(k)`; see `tc.convolve2d`."""
        return C.convolve2d(self, k, mode, **options)

    # ----- tensor expressions -----------------------------------------------------------
    # Indexing, reductions, shape ops, more math, comparisons and dtype conversions: each a
    # one-liner onto the op functions (ops/index.py, reduce.py, shape.py, elementwise.py).
    # `**dim` passes the PyTorch spellings dim=/keepdim= through to the op, which checks them.
    def __getitem__(self, idx: Any) -> Tensor:
        return I.getitem(self, idx)

    def max(self, axis: Any = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """The largest value over `axis` (all axes when None): the values only, as `torch.amax`
        (use `argmax` for the positions). Ties share the gradient. See `tc.max`.
        """
        return R.max(self, axis, keepdims, **dim)

    def min(self, axis: Any = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """The smallest value over `axis` (all axes when None). See `tc.min`."""
        return R.min(self, axis, keepdims, **dim)

    def argmax(self, axis: int | None = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """The index of the largest value along `axis` (of the flattened tensor when None), an int64 tensor. See `tc.argmax`."""
        return R.argmax(self, axis, keepdims, **dim)

    def argmin(self, axis: int | None = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """The index of the smallest value along `axis` (of the flattened tensor when None). See `tc.argmin`."""
        return R.argmin(self, axis, keepdims, **dim)

    def var(self, axis: Any = None, keepdims: bool = False, correction: float = 1, **dim: Any) -> Tensor:
        """The variance over `axis`, divided by n − correction (1: Bessel's correction, as PyTorch). See `tc.var`."""
        return R.var(self, axis, keepdims, correction, **dim)

    def std(self, axis: Any = None, keepdims: bool = False, correction: float = 1, **dim: Any) -> Tensor:
        """The standard deviation: √var with the same arguments. See `tc.std`."""
        return R.std(self, axis, keepdims, correction, **dim)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, **dim: Any) -> Tensor:
        """log Σ e^x over `axis` (all axes when None), computed without overflow. See `tc.logsumexp`."""
        return R.logsumexp(self, axis, keepdims, **dim)

    def permute(self, *axes: Any) -> Tensor:
        """All axes reordered: `x.permute(0, 2, 3, 1)` or `x.permute((0, 2, 3, 1))`; a view. See `tc.permute`."""
        return S.permute(self, *axes)

    def squeeze(self, axis: Any = None, **dim: Any) -> Tensor:
        """Axes of size 1 dropped (all, or those named; a named axis of another size is kept). A view. See `tc.squeeze`."""
        return S.squeeze(self, axis, **dim)

    def unsqueeze(self, axis: int | None = None, **dim: Any) -> Tensor:
        """A new axis of size 1 inserted at `axis` (−1 appends). A view. See `tc.unsqueeze`."""
        return S.unsqueeze(self, axis, **dim)

    def split(self, size_or_sizes: Any, axis: int | None = None, **dim: Any) -> tuple[Tensor, ...]:
        """Pieces along `axis`: an int is a chunk size, a list gives each piece's size. See `tc.split`."""
        return S.split(self, size_or_sizes, axis, **dim)

    def pad(self, pad_width: Any, value: float = 0.0) -> Tensor:
        """Constant padding with numpy's `pad_width` (an int, a pair, or one pair per axis). See `tc.pad`."""
        return S.pad(self, pad_width, value)

    def abs(self) -> Tensor:
        """|x| elementwise (the gradient at 0 is 0). See `tc.abs`."""
        return E.Abs.apply(self)

    __abs__ = abs

    def sqrt(self) -> Tensor:
        """√x elementwise. See `tc.sqrt`."""
        return E.Sqrt.apply(self)

    def sin(self) -> Tensor:
        """sin(x) elementwise."""
        return E.Sin.apply(self)

    def cos(self) -> Tensor:
        """cos(x) elementwise."""
        return E.Cos.apply(self)

    def log1p(self) -> Tensor:
        """log(1 + x) elementwise, accurate for small x."""
        return E.Log1p.apply(self)

    def maximum(self, other: Any) -> Tensor:
        """The elementwise larger of `self` and `other` (broadcast); ties share the gradient. See `tc.maximum`."""
        return E.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """The elementwise smaller of `self` and `other` (broadcast). See `tc.minimum`."""
        return E.minimum(self, other)

    def float(self) -> Tensor:
        """A float32 copy (differentiable)."""
        return S.astype(self, np.float32)

    def double(self) -> Tensor:
        """A float64 copy (differentiable)."""
        return S.astype(self, np.float64)

    def astype(self, dtype: Any) -> Tensor:
        """A copy in `dtype`: differentiable between float dtypes; an int or bool result never requires grad. See `tc.astype`."""
        return S.astype(self, dtype)

    def __lt__(self, other: Any) -> Tensor:
        return E.compare("lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return E.compare("le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return E.compare("gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return E.compare("ge", self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return E.compare("eq", self, other) if E.comparable(other) else NotImplemented

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return E.compare("ne", self, other) if E.comparable(other) else NotImplemented

    # `==` is elementwise, yet a Tensor stays usable as a dict key or set member: by identity.
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"bool(): the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .numpy().any() or .numpy().all()")
        return bool(self.data.reshape(()))


_new = object.__new__
_function._Tensor = Tensor


# Tensor methods call the ops through these modules; imported last because the ops
# themselves are built on Tensor and Function above.
from .ops import activation as A  # noqa: E402
from .ops import conv as C  # noqa: E402
from .ops import elementwise as E  # noqa: E402
from .ops import index as I  # noqa: E402
from .ops import matmul as M  # noqa: E402
from .ops import reduce as R  # noqa: E402
from .ops import shape as S  # noqa: E402
