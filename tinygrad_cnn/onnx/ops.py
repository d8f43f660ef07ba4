"""How each op is written in ONNX: `OPS`, one small function per Function class.

A mapper gets the builder, the op (its options are attributes: `fn.mode`, `fn.axes`,
`fn.target`, ...) and the tensor it produced, writes the nodes and returns the name of
the result (or the name and the result's batch axis, when the op moves that axis).
`FUSIONS` recognise a few patterns of several ops that ONNX has one node for: a mean
(sum, then divide by the count), a linear layer (`x @ W.T + b` -> `Gemm`) and a conv
layer's bias (`Conv` with its `B` input).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable

import numpy as np

from ..ops import conv as C
from ..ops import elementwise as E
from ..ops import loss as L
from ..ops import matmul as M
from ..ops import shape as S
from ..function import Function
from ..tensor import Tensor
from .builder import Builder, Mapper

INT64_MIN = int(np.iinfo(np.int64).min)  # a Slice end "before index 0" for negative steps


def _unary(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        return b.node(op_type, [b.input(fn.parents[0], out)])

    return write


def _binary(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        x, y = fn.parents
        return b.node(op_type, [b.input(x, out), b.input(y, out)])

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
    bounds = [b.constant(np.asarray(v, dtype=out.dtype), n) if v is not None else "" for v, n in
              ((fn.lo, "min"), (fn.hi, "max"))]
    while bounds and bounds[-1] == "":  # an absent optional input at the end is left out
        bounds.pop()
    return b.node("Clip", [b.input(fn.parents[0], out), *bounds])


def _softmax(op_type: str) -> Mapper:
    def write(b: Builder, fn: Function, out: Tensor) -> str:
        return b.node(op_type, [b.input(fn.parents[0], out)], axis=int(fn.axis))

    return write


def _cast(b: Builder, fn: Function, out: Tensor) -> str:
    return b.node("Cast", [b.name(fn.parents[0])], to=b.dtype(fn.to))


# ----- reductions ---------------------------------------------------------------------------
def _reduce(b: Builder, op_type: str, x: Tensor, axes: tuple[int, ...], keepdims: bool, like: Tensor) -> tuple[str, int | None]:
    name = b.input(x, like)
    axis = b.batch_axis(x)
    if axis is not None:  # the batch axis survives unless it is reduced
        axis = None if axis in axes else axis if keepdims else axis - sum(a < axis for a in axes)
    if not axes:  # a sum over no axis at all
        return b.node("Identity", [name]), axis
    if op_type == "ReduceSum" or b.opset >= 18:  # the axes became an input: ReduceSum at 13, the rest at 18
        return b.node(op_type, [name, b.ints(axes, "axes")], keepdims=int(keepdims)), axis
    return b.node(op_type, [name], axes=list(axes), keepdims=int(keepdims)), axis


def _sum(b: Builder, fn: Function, out: Tensor) -> tuple[str, int | None]:
    return _reduce(b, "ReduceSum", fn.parents[0], tuple(fn.axes), fn.keepdims, out)


def _fuse_mean(b: Builder, t: Tensor) -> Mapper | None:
    """x.mean(axis) is recorded as sum(x, axis) / count: one ReduceMean."""
    fn = t._ctx
    if type(fn) is not E.Div:
        return None
    s, count = fn.parents
    sfn = s._ctx
    if type(sfn) is not S.Sum or not _single_use(b, s) or not b.is_const(count) or count.size != 1:
        return None
    x = sfn.parents[0]
    if float(count.data.reshape(())) != float(np.prod([x.shape[a] for a in sfn.axes])) or t.dtype != s.dtype:
        return None
    b.skip.add(id(s))
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


def _matmul(b: Builder, fn: Function, out: Tensor) -> str:
    x, w = fn.parents
    if x.ndim == 2 and _transposed_constant(b, w) is not None:
        return _gemm(b, x, w, None, out)
    return b.node("MatMul", [b.input(x, out), b.input(w, out)])


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
            return lambda b, fn, out: (_gemm(b, x, w, bias, out), b.default_batch_axis(mfn, m))
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


# Ops of the complete convolution (conv2d, conv_transpose2d, pooling), mapped where this
# version of the library has them.
_pool_module = importlib.import_module("..ops.pool", __package__) if importlib.util.find_spec(
    "tinygrad_cnn.ops.pool") is not None else None
_OPTIONAL: list[tuple[Any, str, Mapper]] = [
    (C, "Conv2d", _conv),
    (C, "ConvTranspose2d", _conv_transpose),
    (_pool_module, "MaxPool2d", _pool("MaxPool")),
    (_pool_module, "AvgPool2d", _pool("AveragePool", count_include_pad=1)),  # the padding counts, as PyTorch
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
    L.Softmax: _softmax("Softmax"),
    L.LogSoftmax: _softmax("LogSoftmax"),
    M.MatMul: _matmul,
    S.Sum: _sum,
    S.Reshape: _reshape,
    S.Transpose: _transpose,
    S.BroadcastTo: _broadcast_to,
    S.Flip: _flip,
    S.Cast: _cast,
    C.Correlate2d: _conv,
    C.Convolve2d: _conv,
}
OPS.update({getattr(m, name): mapper for m, name, mapper in _OPTIONAL if getattr(m, name, None) is not None})

# Patterns tried on every op before OPS, in this order: (builder, tensor) -> a mapper
# for the fused node (having marked the ops it absorbs as skipped), or None.
FUSIONS: list[Callable[[Builder, Tensor], Mapper | None]] = [_fuse_mean, _fuse_gemm, _fuse_conv_bias]
