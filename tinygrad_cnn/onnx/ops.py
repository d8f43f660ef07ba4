"""How each op is written in ONNX: `OPS`, one small function per Function class.

A mapper gets the builder, the op (its options are attributes: `fn.mode`, `fn.axes`,
`fn.target`, ...) and the tensor it produced, writes the nodes and returns the name of
the result (or the name and the result's batch axis, when the op moves that axis).
`FUSIONS` recognise a few patterns of several ops that ONNX has one node for: a mean
(sum, then divide by the count), a linear layer (`x @ W.T + b` -> `Gemm`) and a conv
layer's bias (`Conv` with its `B` input). `DERIVED` writes the values made outside the
graph (comparisons, integer casts, argmax; see `builder.Derived`). `NOT_EXPORTED` names
the op classes deliberately left without a mapping, with the reason the error gives.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable

import numpy as np

from ..ops import conv as C
from ..ops import elementwise as E
from ..ops import index as I
from ..ops import loss as L
from ..ops import matmul as M
from ..ops import reduce as R
from ..ops import shape as S
from ..function import Function
from ..tensor import Tensor
from .builder import Builder, Mapper

INT64_MIN = int(np.iinfo(np.int64).min)  # a Slice end "before index 0" for negative steps


def _unary(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        return b.node(op_type, [b.input(fn.parents[0], out)])

    return write


# numpy's +, *, maximum and minimum of bools are or, and, or, and; ONNX's arithmetic has no bool form
_LOGICAL = {"Add": "Or", "Mul": "And", "Max": "Or", "Min": "And"}


def _binary(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        x, y = fn.parents
        kind = _LOGICAL.get(op_type, op_type) if out.dtype == np.bool_ else op_type
        return b.node(kind, [b.input(x, out), b.input(y, out)])

    return write


def _with_constant(op_type: str) -> Mapper:
    """x + c, c · x: the number an op carries as its option becomes a scalar initializer."""
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        c = b.constant(np.asarray(fn.c, dtype=out.dtype), "c")
        return b.node(op_type, [b.input(fn.parents[0], out), c])

    return write


def _pow(b: Builder, fn: Function, out: Tensor) -> str:
    exponent = b.constant(np.asarray(fn.c, dtype=out.dtype), "exponent")
    return b.node("Pow", [b.input(fn.parents[0], out), exponent])


def _clip(b: Builder, fn: Function, out: Tensor) -> str:
    x = b.input(fn.parents[0], out)
    if np.ndim(fn.lo) or np.ndim(fn.hi):  # Clip takes one number per bound: Max, then Min
        for v, op_type, n in ((fn.lo, "Max", "min"), (fn.hi, "Min", "max")):
            if v is not None:
                x = b.node(op_type, [x, b.constant(np.asarray(v, dtype=out.dtype), n)])
        return x
    bounds = [b.constant(np.asarray(v, dtype=out.dtype), n) if v is not None else "" for v, n in
              ((fn.lo, "min"), (fn.hi, "max"))]
    while bounds and bounds[-1] == "":  # an absent optional input at the end is left out
        bounds.pop()
    return b.node("Clip", [x, *bounds])


def _softmax(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        return b.node(op_type, [b.input(fn.parents[0], out)], axis=int(fn.axis))

    return write


def _cast(b: Builder, fn: Function, out: Tensor) -> str:
    return b.node("Cast", [b.name(fn.parents[0])], to=b.dtype(fn.to))


def _scalar(b: Builder, value: float, like: Tensor, base: str = "c") -> str:
    return b.constant(np.asarray(value, dtype=like.dtype), base)


def _log1p(b: Builder, fn: Function, out: Tensor) -> str:
    """ln(1 + X): ONNX has no log1p; Log of 1 + X (float32 loses the relative accuracy of
    numpy's log1p for |X| below ~1e-7, not the absolute one)."""
    return b.node("Log", [b.node("Add", [b.input(fn.parents[0], out), _scalar(b, 1.0, out, "one")])])


def _where(b: Builder, fn: Function, out: Tensor) -> str:
    """where(C, A, B): C a constant bool initializer or a comparison computed in the graph."""
    c, x, y = fn.parents
    return b.node("Where", [b.as_dtype(c, np.bool_), b.input(x, out), b.input(y, out)])


# ----- activations (ops/activation.py) ----------------------------------------------------------
_SQRT2 = float(np.sqrt(2.0))


def _normal_cdf_nodes(b: Builder, x: str, like: Tensor) -> str:
    """Φ(X) = ½·(1 + erf(X/√2))"""
    e = b.node("Erf", [b.node("Div", [x, _scalar(b, _SQRT2, like, "sqrt2")])])
    return b.node("Mul", [b.node("Add", [e, _scalar(b, 1.0, like, "one")]), _scalar(b, 0.5, like, "half")])


def _normal_cdf(b: Builder, fn: Function, out: Tensor) -> str:
    return _normal_cdf_nodes(b, b.input(fn.parents[0], out), out)


def _gelu(b: Builder, fn: Function, out: Tensor) -> str:
    """X·Φ(X): one Gelu node from opset 20, else X·½·(1 + erf(X/√2))."""
    x = b.input(fn.parents[0], out)
    if b.opset >= 20:
        return b.node("Gelu", [x], approximate="none")
    return b.node("Mul", [x, _normal_cdf_nodes(b, x, out)])


def _silu(b: Builder, fn: Function, out: Tensor) -> str:
    x = b.input(fn.parents[0], out)
    return b.node("Mul", [x, b.node("Sigmoid", [x])])


def _softplus(b: Builder, fn: Function, out: Tensor) -> str:
    """log(1 + e^(βX))/β, and X where βX > threshold: ONNX's Softplus is the β = 1 curve
    without the switch, so both are written out."""
    x = b.input(fn.parents[0], out)
    bx = x if fn.beta == 1 else b.node("Mul", [x, _scalar(b, fn.beta, out, "beta")])
    smooth = b.node("Softplus", [bx])
    if fn.beta != 1:
        smooth = b.node("Div", [smooth, _scalar(b, fn.beta, out, "beta")])
    linear = b.node("Greater", [bx, _scalar(b, fn.threshold, out, "threshold")])
    return b.node("Where", [linear, x, smooth])


# ----- reductions ---------------------------------------------------------------------------
def _reduced_batch_axis(b: Builder, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> int | None:
    """Where x's batch axis is after a reduction over `axes`: gone if reduced, else moved left
    by the reduced axes before it (unless they are kept)."""
    axis = b.batch_axis(x)
    if axis is None or axis in axes:
        return None
    return axis if keepdims else axis - sum(a < axis for a in axes)


def _reduce(b: Builder, op_type: str, x: Tensor, axes: tuple[int, ...], keepdims: bool, like: Tensor) -> tuple[str, int | None]:
    return _reduce_node(b, op_type, b.input(x, like), axes, keepdims), _reduced_batch_axis(b, x, axes, keepdims)


def _reducer(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
        return _reduce(b, op_type, fn.parents[0], tuple(fn.axes), fn.keepdims, out)

    return write


_sum = _reducer("ReduceSum")


def _reduce_node(b: Builder, op_type: str, name: str, axes: tuple[int, ...], keepdims: bool) -> str:
    """A Reduce* node on a value already named (the axes an input from opset 18, ReduceSum's from 13)."""
    if not axes:
        return b.node("Identity", [name])
    if op_type == "ReduceSum" or b.opset >= 18:
        return b.node(op_type, [name, b.ints(axes, "axes")], keepdims=int(keepdims))
    return b.node(op_type, [name], axes=list(axes), keepdims=int(keepdims))


def _var(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    """Σ (X − mean X)² / max(n − c, 0): ReduceMean, Sub, Mul, ReduceSum, Div (ONNX has no
    variance); n read from the input's shape at run time when it counts the batch axis."""
    (x,) = fn.parents
    axes = tuple(fn.axes)
    name = b.input(x, out)
    centred = b.node("Sub", [name, _reduce_node(b, "ReduceMean", name, axes, True)])
    total = _reduce_node(b, "ReduceSum", b.node("Mul", [centred, centred]), axes, fn.keepdims)
    if b.batch_axis(x) in axes:
        sizes = b.node("Gather", [b.node("Shape", [name]), b.ints(axes, "axes")])
        n = b.node("Cast", [b.node("ReduceProd", [sizes], keepdims=0)], to=b.dtype(out.dtype))
        dof = b.node("Relu", [b.node("Sub", [n, _scalar(b, fn.correction, out, "correction")])])
    else:
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        dof = _scalar(b, max(n - fn.correction, 0.0), out, "dof")
    return b.node("Div", [total, dof]), _reduced_batch_axis(b, x, axes, fn.keepdims)


def _std(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    """√ of the variance (see `_var`)."""
    y, batch = _var(b, fn, out)
    return b.node("Sqrt", [y]), batch


def _logsumexp(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    """log Σ e^X written as m + log Σ e^(X − m), m = max X (an infinite m counts as 0, as in
    the library): no overflow in any runtime, where ReduceLogSumExp's reference is the naive sum."""
    (x,) = fn.parents
    axes = tuple(fn.axes)
    name = b.input(x, out)
    m = _reduce_node(b, "ReduceMax", name, axes, True)
    m = b.node("Where", [b.node("IsInf", [m]), _scalar(b, 0.0, out, "zero"), m])
    total = _reduce_node(b, "ReduceSum", b.node("Exp", [b.node("Sub", [name, m])]), axes, True)
    y = b.node("Add", [b.node("Log", [total]), m])
    if not fn.keepdims and axes:
        y = b.node("Squeeze", [y, b.ints(axes, "axes")])
    return y, _reduced_batch_axis(b, x, axes, fn.keepdims)


def _fuse_mean(b: Builder, t: Tensor) -> Mapper | None:
    """x.mean(axis) is recorded as sum(x, axis) / count: one ReduceMean, which counts a batch
    axis when the model runs. Only the divisions `mean` made: `x.sum(0) / 3` divides by 3."""
    fn = t._ctx
    if fn not in b.means:
        return None
    s = fn.parents[0]
    sfn = s._ctx
    if type(sfn) is not R.Sum or not _single_use(b, s):
        return None
    x = sfn.parents[0]
    b.skip.add(id(s))  # an integer or bool x is averaged in the result's float dtype, as numpy does
    return lambda b, fn, out: _reduce(b, "ReduceMean", x, tuple(sfn.axes), sfn.keepdims, out)


def _single_use(b: Builder, t: Tensor) -> bool:
    """`t` is computed, read by exactly one op and not an output: it can vanish into a fused node."""
    return not b.is_const(t) and b.consumers.get(id(t)) == 1 and id(t) not in b.outputs


# ----- shapes -------------------------------------------------------------------------------
def _reshape(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    (x,) = fn.parents
    axis = b.batch_axis(x)
    shape = list(out.shape)
    if axis is not None:
        keeps_batch = axis == 0 and out.ndim > 0 and out.shape[0] == x.shape[0] and \
            int(np.prod(out.shape[1:])) == int(np.prod(x.shape[1:]))
        if not keeps_batch:
            raise ValueError(
                f"onnx.export: reshape from {x.shape} to {out.shape} mixes the batch axis with others, "
                "so it cannot be exported with dynamic_batch=True"
            )
        shape[0] = 0  # ONNX Reshape: 0 copies the input's dimension, whatever the batch size
    return b.node("Reshape", [b.name(x), b.ints(shape)]), axis


def _transpose(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    (x,) = fn.parents
    perm = [int(a) for a in fn.axes]
    axis = b.batch_axis(x)
    return b.node("Transpose", [b.name(x)], perm=perm), (None if axis is None else perm.index(axis))


def _broadcast_to(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    (x,) = fn.parents
    shape = list(out.shape)
    axis = b.batch_axis(x)
    if axis is not None:
        b.refuse_stretched_batch(f"broadcast_to from {x.shape}", x, axis, out, axis + out.ndim - x.ndim)
        axis += out.ndim - x.ndim
        shape[axis] = 1  # Expand keeps the input's size where the target says 1
    return b.node("Expand", [b.name(x), b.ints(shape)]), axis


def _flip_nodes(b: Builder, name: str, axes: list[int]) -> str:
    """Reversal along `axes`: a Slice from the last index with step −1."""
    n = len(axes)
    return b.node(
        "Slice",
        [name, b.ints([-1] * n, "starts"), b.ints([INT64_MIN] * n, "ends"), b.ints(axes, "axes"), b.ints([-1] * n, "steps")],
    )


def _flip(b: Builder, fn: Function, out: Tensor) -> str:
    return _flip_nodes(b, b.name(fn.parents[0]), [int(a) for a in fn.axes])


def _cat(b: Builder, fn: Function, out: Tensor) -> str:
    axis = int(fn.axis)
    if any(b.batch_axis(p) == axis for p in fn.parents):
        b.refuse_batch(f"cat of shapes {tuple(p.shape for p in fn.parents)} along axis {axis}")
    return b.node("Concat", [b.input(p, out) for p in fn.parents], axis=axis)


def _stack(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    """stack: each input unsqueezed at the new axis, then one Concat."""
    axis = int(fn.axis)
    new_axis = b.ints([axis], "axes")
    parts = [b.node("Unsqueeze", [b.input(p, out), new_axis]) for p in fn.parents]
    batch = next((a for a in (b.batch_axis(p) for p in fn.parents) if a is not None), None)
    return b.node("Concat", parts, axis=axis), (None if batch is None else batch + (batch >= axis))


def _pad(b: Builder, fn: Function, out: Tensor) -> str:
    """Constant padding: ONNX's pads are all the befores, then all the afters."""
    (x,) = fn.parents
    widths = [(int(lo), int(hi)) for lo, hi in fn.pad_width]
    axis = b.batch_axis(x)
    if axis is not None and widths[axis] != (0, 0):
        b.refuse_batch(f"pad of {widths[axis]}")
    if not widths or not any(lo or hi for lo, hi in widths):
        return b.node("Identity", [b.input(x, out)])
    pads = b.ints([lo for lo, _ in widths] + [hi for _, hi in widths], "pads")
    return b.node("Pad", [b.input(x, out), pads, _scalar(b, fn.value, out, "value")], mode="constant")


# ----- indexing -------------------------------------------------------------------------------
INT64_MAX = int(np.iinfo(np.int64).max)


def _expand_index(index: tuple[Any, ...], ndim: int) -> list[Any] | None:
    """The index with `...` spelt out as full slices and a 1-D bool mask as the int array of its
    True places (numpy's meaning); None where only the general form will do (a bool mask over
    several axes, a 0-d bool)."""
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    items: list[Any] = []
    for item in index:
        if item is Ellipsis:
            items.extend([slice(None)] * (ndim - used))
        elif isinstance(item, np.ndarray) and item.dtype == np.bool_:
            if item.ndim != 1:
                return None
            items.append(np.flatnonzero(item))
        else:
            items.append(item)
    consumed = sum(1 for i in items if i is not None)
    return items + [slice(None)] * (ndim - consumed)


def _getitem(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    """x[index] with numpy's rules. Basic indexing (ints, slices, None, ...) is Slice, Squeeze
    and Unsqueeze; one integer array (or a 1-D constant mask) among slices is a Gather on its
    axis; anything else (several arrays, ints mixed with arrays, masks over several axes) is one
    Gather from the flattened tensor at the flat positions the index picks, folded now."""
    (x,) = fn.parents
    for item in fn.index:
        if isinstance(item, np.ndarray) and b.computed_array(item):
            kind = "boolean mask" if item.dtype == np.bool_ else "index array"
            raise ValueError(
                f"onnx.export: getitem with a {kind} computed from the input (its result's shape would depend "
                f"on the values) has no ONNX form here; use tc.where(mask, x, 0) instead. It was created "
                f"on an input of shape {x.shape} giving {out.shape}"
            )
    items = _expand_index(tuple(fn.index), x.ndim)
    arrays = [] if items is None else [i for i, item in enumerate(items) if isinstance(item, np.ndarray)]
    has_int = items is not None and any(isinstance(item, (int, np.integer)) for item in items)
    if items is None or len(arrays) > 1 or (arrays and has_int):
        return _flat_gather(b, x, fn.index, out)
    name = b.input(x, out)
    batch = b.batch_axis(x)
    starts: list[int] = []
    ends: list[int] = []
    axes: list[int] = []
    steps: list[int] = []
    squeeze: list[int] = []
    unsqueeze: list[int] = []
    gather: tuple[int, np.ndarray] | None = None
    axis = pos = 0  # the input axis an item reads, the output position it writes
    new_batch = None
    for item in items:
        if item is None:
            unsqueeze.append(pos)
            pos += 1
            continue
        n = x.shape[axis]
        if _whole(item, n, axis == batch):  # nothing to do
            if axis == batch:
                new_batch = pos
            pos += 1
        elif axis == batch:
            b.refuse_batch(f"indexing {item!r}")
        elif isinstance(item, slice):
            start, stop, step = item.indices(n)
            starts.append(start)
            ends.append(INT64_MIN if stop < 0 else stop)  # −1 from indices(): stop before index 0
            axes.append(axis)
            steps.append(step)
            pos += 1
        elif isinstance(item, np.ndarray):
            gather = (axis, item.astype(np.int64) % max(n, 1))
            pos += item.ndim
        else:
            starts.append(int(item) % n)
            ends.append(int(item) % n + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    if axes:
        name = b.node("Slice", [name, b.ints(starts, "starts"), b.ints(ends, "ends"), b.ints(axes, "axes"),
                                b.ints(steps, "steps")])
    if squeeze:
        name = b.node("Squeeze", [name, b.ints(squeeze, "axes")])
    if gather is not None:
        name = b.node("Gather", [name, b.ints(gather[1].ravel(), "indices") if gather[1].ndim == 1 else
                                 b.constant(gather[1], "indices")], axis=gather[0])
    if unsqueeze:
        name = b.node("Unsqueeze", [name, b.ints(unsqueeze, "axes")])
    if name == b.names.get(id(x)) or not (axes or squeeze or gather is not None or unsqueeze):
        name = b.node("Identity", [name])
    return name, new_batch


def _whole(item: Any, n: int, batch: bool) -> bool:
    """Whether an index item takes a whole axis of size n: on the batch axis only `:` (or `0:`)
    does, whatever the size (`x[:3]` traced with a batch of 3 is not the whole of a batch of 5)."""
    if not isinstance(item, slice):
        return False
    if batch:
        return item.start in (None, 0) and item.stop is None and item.step in (None, 1)
    return item.indices(n) == (0, n, 1)


def _flat_gather(b: Builder, x: Tensor, index: tuple[Any, ...], out: Tensor) -> tuple[str, None]:
    if b.batch_axis(x) is not None:
        b.refuse_batch("advanced indexing")
    positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)[index]
    flat = b.node("Reshape", [b.input(x, out), b.ints([-1])])
    return b.node("Gather", [flat, b.constant(np.ascontiguousarray(positions), "positions")], axis=0), None


# ----- values made outside the graph (builder.Derived) -----------------------------------------
_COMPARISONS = {"lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "eq": "Equal",
                "ne": "Equal"}


def _compare(b: Builder, fn: Any, out: Tensor) -> str:
    """x < y, x == 0.5, ...: compared in the dtype numpy compared them in; != is Not(Equal)."""
    a = fn.parents[0]
    other = fn.parents[1] if len(fn.parents) > 1 else fn.other
    values = other.data if isinstance(other, Tensor) else other
    dtype = np.result_type(a.data, values)
    right = b.as_dtype(other, dtype) if isinstance(other, Tensor) else b.constant(np.asarray(values, dtype=dtype), "other")
    y = b.node(_COMPARISONS[fn.op], [b.as_dtype(a, dtype), right])
    return b.node("Not", [y]) if fn.op == "ne" else y


def _astype(b: Builder, fn: Any, out: Tensor) -> str:
    """A cast to or from an integer or bool dtype (float to int truncates toward zero, as numpy)."""
    return b.node("Cast", [b.name(fn.parents[0])], to=b.dtype(fn.to))


def _arg(op_type: str) -> Mapper:
    def write(b: Builder, fn: Any, out: Tensor) -> tuple[str, int | None]:
        (x,) = fn.parents
        if x.ndim == 0:  # the only element's index
            return b.node("Identity", [b.constant(np.zeros((), np.int64), "zero")]), None
        if fn.axis is None:  # an index into the flattened tensor, as numpy
            if b.batch_axis(x) is not None:
                b.refuse_batch(f"{fn.kind} over all axes")
            y = b.node(op_type, [b.node("Reshape", [b.name(x), b.ints([-1])])], axis=0, keepdims=0)
            return (b.node("Reshape", [y, b.ints(out.shape)]) if fn.keepdims else y), None
        return (b.node(op_type, [b.name(x)], axis=int(fn.axis), keepdims=int(fn.keepdims)),
                _reduced_batch_axis(b, x, (int(fn.axis),), fn.keepdims))

    return write


DERIVED: dict[str, Mapper] = {
    "compare": _compare,
    "astype": _astype,
    "argmax": _arg("ArgMax"),
    "argmin": _arg("ArgMin"),
}


# ----- matmul and linear layers ---------------------------------------------------------------
def _transposed_constant(b: Builder, w: Tensor) -> Tensor | None:
    """The matrix W when `w` is a constant W.T (a Linear layer's weight): Gemm reads W
    itself with transB=1, so the initializer is the parameter as saved."""
    fn = w._ctx
    if w.ndim == 2 and b.is_const(w) and type(fn) is S.Transpose and fn.parents[0]._ctx is None:
        return fn.parents[0]
    return None


def _gemm(b: Builder, x: Tensor, w: Tensor, bias: Tensor | None, out: Tensor) -> str:
    src = _transposed_constant(b, w)
    inputs = [b.input(x, out), b.input(src if src is not None else w, out)]
    if bias is not None:
        inputs.append(b.input(bias, out))
    return b.node("Gemm", inputs, transB=int(src is not None))


def _matmul_batch_axis(b: Builder, x: Tensor, w: Tensor, out: Tensor) -> int | None:
    """Where x @ w puts an operand's batch axis, by numpy's rules: the result is the stacked
    axes (broadcast from the right), then x's rows, then w's columns (a vector operand has
    neither); a batch axis that is summed over leaves none."""
    stacked = out.ndim - (x.ndim > 1) - (w.ndim > 1)
    axes = set()
    for p, kept, at in ((x, -2, stacked), (w, -1, out.ndim - 1)):  # the matrix axis the result keeps
        k = b.batch_axis(p)
        if k is None:
            continue
        if k < p.ndim - 2:  # a stacked axis, broadcast against the other operand's
            axis = k + stacked - (p.ndim - 2)
            b.refuse_stretched_batch(f"matmul of shapes {x.shape} and {w.shape}", p, k, out, axis)
            axes.add(axis)
        elif p.ndim > 1 and k == p.ndim + kept:
            axes.add(at)
    if len(axes) > 1:
        b.refuse_two_batch_axes(f"matmul of shapes {x.shape} and {w.shape}", out)
    return axes.pop() if axes else None


def _matmul(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    x, w = fn.parents
    if x.ndim == 2 and _transposed_constant(b, w) is not None:
        name = _gemm(b, x, w, None, out)
    else:
        name = b.node("MatMul", [b.input(x, out), b.input(w, out)])
    return name, _matmul_batch_axis(b, x, w, out)


def _fuse_gemm(b: Builder, t: Tensor) -> Mapper | None:
    """x @ W + b with x a matrix and W, b constants: one Gemm."""
    fn = t._ctx
    if type(fn) is not E.Add:
        return None
    for m, bias in (fn.parents, fn.parents[::-1]):
        mfn = m._ctx
        if type(mfn) is not M.MatMul or not _single_use(b, m) or not b.is_const(bias):
            continue
        x, w = mfn.parents
        if x.ndim == 2 and w.ndim == 2 and b.is_const(w) and bias.shape in ((m.shape[1],), (1, m.shape[1])) \
                and t.shape == m.shape:
            b.skip.add(id(m))
            return lambda b, fn, out: (_gemm(b, x, w, bias, out), _matmul_batch_axis(b, x, w, m))
    return None


# ----- convolution ----------------------------------------------------------------------------
def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def _conv_pads(fn: Function, kh: int, kw: int, dh: int, dw: int) -> list[int]:
    """ONNX pads [top, left, bottom, right] of a correlation: its `padding` (top, bottom,
    left, right) when it has one, else what its `mode` implies (full: dilation·(k − 1))."""
    padding = getattr(fn, "padding", None)
    if padding is not None and np.ndim(padding) == 1 and len(padding) == 4:
        top, bottom, left, right = (int(p) for p in padding)
        return [top, left, bottom, right]
    if getattr(fn, "mode", "valid") == "full":
        return [dh * (kh - 1), dw * (kw - 1)] * 2
    return [0, 0, 0, 0]


def _as_4d(b: Builder, name: str, t: Tensor) -> str:
    """(H, W) -> (1, 1, H, W), (C, H, W) -> (1, C, H, W): Conv and pooling take batches of images."""
    if t.ndim == 2:
        return b.node("Reshape", [name, b.ints((1, 1) + t.shape)])
    if t.ndim == 3:
        return b.node("Unsqueeze", [name, b.ints([0], "axes")])
    return name


def _conv(b: Builder, fn: Function, out: Tensor, bias: str | None = None) -> str:
    """correlate2d / convolve2d / conv2d: Conv on (N, C, H, W) with the kernel (C_out, C_in, kh, kw);
    a convolution's kernel is rotated by 180° (folded into the initializer when constant)."""
    x, k = fn.parents
    kh, kw = k.shape[-2:]
    dh, dw = _pair(getattr(fn, "dilation", 1))
    xn = _as_4d(b, b.input(x, out), x)
    k4 = (1, 1, kh, kw) if k.ndim == 2 else k.shape
    if b.is_const(k):
        if fn.flip or k.ndim == 2 or k.dtype != out.dtype:
            data = k.data.astype(out.dtype).reshape(k4)
            kn = b.constant(np.flip(data, (-2, -1)) if fn.flip else data, b.label(k) + (".rot180" if fn.flip else ""))
        else:
            kn = b.name(k)
    else:
        kn = b.input(k, out)
        if k.ndim == 2:
            kn = b.node("Reshape", [kn, b.ints(k4)])
        if fn.flip:
            kn = _flip_nodes(b, kn, [2, 3])
    attrs = dict(
        kernel_shape=[kh, kw],
        pads=_conv_pads(fn, kh, kw, dh, dw),
        strides=list(_pair(getattr(fn, "stride", 1))),
        dilations=[dh, dw],
        group=int(getattr(fn, "groups", 1)),
    )
    y = b.node("Conv", [xn, kn] + ([bias] if bias is not None else []), **attrs)
    return y if x.ndim == 4 else b.node("Reshape", [y, b.ints(out.shape)])


def _conv_transpose(b: Builder, fn: Function, out: Tensor) -> str:
    """conv_transpose2d: ConvTranspose, the kernel (C_in, C_out // groups, kh, kw) as PyTorch's."""
    x, k = fn.parents
    top, bottom, left, right = (int(p) for p in fn.padding)
    y = b.node(
        "ConvTranspose",
        [_as_4d(b, b.input(x, out), x), b.input(k, out)],
        kernel_shape=list(k.shape[-2:]),
        pads=[top, left, bottom, right],
        strides=list(_pair(fn.stride)),
        dilations=list(_pair(fn.dilation)),
        output_padding=list(_pair(fn.output_padding)),
        group=int(fn.groups),
    )
    return y if x.ndim == 4 else b.node("Reshape", [y, b.ints(out.shape)])


def _pool(op_type: str, **extra: int) -> Mapper:
    """max_pool2d / avg_pool2d: options kernel_size, stride, padding (pairs; the padding on both sides)."""

    def write(b: Builder, fn: Function, out: Tensor) -> str:
        (x,) = fn.parents
        ph, pw = _pair(fn.padding)
        y = b.node(op_type, [_as_4d(b, b.input(x, out), x)], kernel_shape=list(_pair(fn.kernel_size)),
                   strides=list(_pair(fn.stride)), pads=[ph, pw, ph, pw], **extra)
        return y if x.ndim == 4 else b.node("Reshape", [y, b.ints(out.shape)])

    return write


def _fuse_conv_bias(b: Builder, t: Tensor) -> Mapper | None:
    """A conv layer's bias, one value per output channel added after the conv: Conv's B."""
    fn = t._ctx
    if type(fn) is not E.Add:
        return None
    for y, bias in (fn.parents, fn.parents[::-1]):
        yfn = y._ctx
        if type(yfn) not in CONVS or y.ndim != 4 or not _single_use(b, y) or not b.is_const(bias):
            continue
        channels = y.shape[1]
        if bias.shape in ((channels, 1, 1), (1, channels, 1, 1)) and t.shape == y.shape:
            b.skip.add(id(y))

            def write(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
                name = b.constant(bias.data.reshape(channels).astype(out.dtype), b.label(bias))
                return _conv(b, yfn, out, name), b.default_batch_axis(yfn, y)

            return write
    return None


def _optional_module(name: str) -> Any:
    """An ops module that this version of the library may not have yet (None then)."""
    full = f"tinygrad_cnn.ops.{name}"
    return importlib.import_module(full) if importlib.util.find_spec(full) is not None else None


_pool_module = _optional_module("pool")
_activation_module = _optional_module("activation")

# Ops that not every version of the library has, looked up by name: the complete
# convolution (conv2d, conv_transpose2d, pooling) and the activations beyond the seed's.
_OPTIONAL: list[tuple[Any, str, Mapper]] = [
    (C, "Conv2d", _conv),
    (C, "ConvTranspose2d", _conv_transpose),
    (_pool_module, "MaxPool2d", _pool("MaxPool")),
    (_pool_module, "AvgPool2d", _pool("AveragePool", count_include_pad=1)),  # the padding counts, as PyTorch
    (_activation_module, "LeakyReLU", lambda b, fn, out: b.node(
        "LeakyRelu", [b.input(fn.parents[0], out)], alpha=float(fn.negative_slope))),
    (_activation_module, "ELU", lambda b, fn, out: b.node("Elu", [b.input(fn.parents[0], out)], alpha=float(fn.alpha))),
    (_activation_module, "GELU", _gelu),
    (_activation_module, "SiLU", _silu),
    (_activation_module, "Softplus", _softplus),
    (_activation_module, "NormalCDF", _normal_cdf),  # Φ: in recorded backwards of gelu
]
CONVS = (C.Correlate2d, C.Convolve2d) + tuple(
    getattr(C, name) for name in ("Conv2d",) if hasattr(C, name)
)

# Function class -> the function writing its ONNX nodes. An op missing here raises a
# ValueError naming it and where it was created.
OPS: dict[type[Function], Mapper] = {
    E.Add: _binary("Add"),
    E.Sub: _binary("Sub"),
    E.Mul: _binary("Mul"),
    E.AddConstant: _with_constant("Add"),
    E.MulConstant: _with_constant("Mul"),
    E.Div: _binary("Div"),
    E.Pow: _pow,
    E.Neg: _unary("Neg"),
    E.Exp: _unary("Exp"),
    E.Log: _unary("Log"),
    E.Sigmoid: _unary("Sigmoid"),
    E.Tanh: _unary("Tanh"),
    E.ReLU: _unary("Relu"),
    E.Clip: _clip,
    E.Abs: _unary("Abs"),
    E.Sqrt: _unary("Sqrt"),
    E.Sin: _unary("Sin"),
    E.Cos: _unary("Cos"),
    E.Log1p: _log1p,
    E.Maximum: _binary("Max"),
    E.Minimum: _binary("Min"),
    E.Where: _where,
    L.Softmax: _softmax("Softmax"),
    L.LogSoftmax: _softmax("LogSoftmax"),
    M.MatMul: _matmul,
    R.Sum: _sum,
    R.Max: _reducer("ReduceMax"),
    R.Min: _reducer("ReduceMin"),
    R.Var: _var,
    R.Std: _std,
    R.LogSumExp: _logsumexp,
    S.Reshape: _reshape,
    S.Transpose: _transpose,
    S.BroadcastTo: _broadcast_to,
    S.Flip: _flip,
    S.Cast: _cast,
    S.Cat: _cat,
    S.Stack: _stack,
    S.Pad: _pad,
    I.GetItem: _getitem,
    C.Correlate2d: _conv,
    C.Convolve2d: _conv,
}
OPS.update({getattr(m, name): mapper for m, name, mapper in _OPTIONAL if getattr(m, name, None) is not None})

# Op classes left without a mapping on purpose: the reason is part of the export's error.
_LOSS = "a loss is for training: export the model and compute the loss outside it"
NOT_EXPORTED: dict[str, str] = {
    "BinaryCrossEntropy": _LOSS,
    "NLLLoss": _LOSS + " (its labels are an option, so they would be frozen into the file)",
    "BCEWithLogits": _LOSS,
    "MSELoss": _LOSS,
    "IndexAdd": "it only appears in recorded backward graphs (the gradient of indexing)",
    "MaxUnpool2d": "it only appears in recorded backward graphs of max_pool2d",
    "MaxPoolSelect": "it only appears in recorded backward graphs of max_pool2d",
    "Select": "it only appears in recorded backward graphs, its condition an array computed from the values "
              "when the graph was recorded, which the file would freeze",
}

# Patterns tried on every op before OPS, in this order: (builder, tensor) -> a mapper
# for the fused node (having marked the ops it absorbs as skipped), or None.
FUSIONS: list[Callable[[Builder, Tensor], Mapper | None]] = [_fuse_mean, _fuse_gemm, _fuse_conv_bias]
