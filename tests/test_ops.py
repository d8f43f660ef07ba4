"""Every op against an independent reference, and through gradcheck in float64.

The table below is the list of ops; `test_every_op_is_in_the_table` fails when an op
class exists that the table does not cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from scipy import signal, special

import tinygrad_cnn as tc
from tinygrad_cnn.ops import activation, conv, elementwise, index, loss, matmul, pool, reduce, shape
from tinygrad_cnn.ops.formula import scatter_add

import conv_reference as R
from tinygrad_cnn.tensor import Function, Tensor

rng = np.random.default_rng(0)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def ref_correlate(x, k, mode="valid", flip=False):
    """The seed's layer formula Y_i = Σ_j X_j ⋆ K_ij, one scipy call per (sample, i, j)."""
    op = signal.convolve2d if flip else signal.correlate2d
    if x.ndim == 2:
        return op(x, k, mode=mode)
    xs = x if x.ndim == 4 else x[None]
    out = np.stack([
        np.stack([sum(op(xs[n, j], k[i, j], mode=mode) for j in range(k.shape[1])) for i in range(k.shape[0])])
        for n in range(xs.shape[0])
    ])
    return out if x.ndim == 4 else out[0]


MASK = rng.standard_normal((3, 4)) > 0
IDX = np.array([2, 0, 2, 1])  # index 2 twice: its gradient adds up


def ref_index_add(g, index, shape):
    out = np.zeros(shape)
    for k, i in enumerate(index):  # one element at a time: repeats add
        out[i] += g[k]
    return out


def ref_var(a, axis, ddof=1):
    return ((a - a.mean(axis, keepdims=True)) ** 2).sum(axis) / (np.prod([a.shape[i] for i in np.atleast_1d(axis)]) - ddof)


def ref_bce(p, t):
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


LABELS = np.array([2, 0, 1, 2])  # class indices for the (4, 3) score cases


def ref_nll(x, labels=LABELS):
    return -x[np.arange(len(labels)), labels]


def ref_log_softmax(x):
    return x - np.log(np.exp(x).sum(1, keepdims=True))


@dataclass
class Case:
    op: type[Function]  # the op class this case covers
    fn: Callable[..., Tensor]
    ref: Callable[..., np.ndarray]
    shapes: tuple[tuple[int, ...], ...]
    positive: bool = False  # inputs drawn from (0.2, 0.8) instead of N(0, 1)
    label: str = ""
    check: dict | None = None  # gradcheck settings, where the defaults don't fit


    def inputs(self) -> list[np.ndarray]:
        if self.positive:
            return [rng.uniform(0.2, 0.8, s) for s in self.shapes]
        return [rng.standard_normal(s) for s in self.shapes]


# A max pooling whose window maxima are the fixed places its backward ops work with.
_X0 = rng.standard_normal((2, 2, 5, 5))
_ctx = tc.max_pool2d(Tensor(_X0, requires_grad=True), 3, 2, 1)._ctx
_ARG, _GEO = _ctx.arg, _ctx._geo  # (the op itself is not kept: the memory tests count live ops)
del _ctx

CASES = [
    Case(elementwise.Add, lambda a, b: a + b, np.add, ((3, 4), (4,)), label="add broadcast"),
    Case(elementwise.Add, lambda a, b: tc.add(a, b), np.add, ((2, 1, 3), (4, 1)), label="add 2-sided broadcast"),
    Case(elementwise.Sub, lambda a, b: a - b, np.subtract, ((3, 1), (1, 5))),
    Case(elementwise.Mul, lambda a, b: a * b, np.multiply, ((2, 3, 4), (3, 1))),
    Case(elementwise.Div, lambda a, b: a / b, np.divide, ((3, 4), (3, 4)), positive=True),
    Case(elementwise.Neg, lambda a: -a, np.negative, ((5,),)),
    Case(elementwise.AddConstant, lambda a: a + 0.75, lambda a: a + 0.75, ((3, 2),)),
    Case(elementwise.MulConstant, lambda a: a * -1.5, lambda a: a * -1.5, ((3, 2),)),
    Case(elementwise.MulConstant, lambda a: 3 * a, lambda a: 3 * a, ((2, 2),), label="rmul number"),
    Case(elementwise.Pow, lambda a: a**3, lambda a: a**3, ((3, 3),)),
    Case(elementwise.Pow, lambda a: a**-0.5, lambda a: a**-0.5, ((3, 3),), positive=True, label="pow negative"),
    Case(elementwise.Exp, tc.exp, np.exp, ((4, 3),)),
    Case(elementwise.Log, tc.log, np.log, ((4, 3),), positive=True),
    Case(elementwise.Sigmoid, tc.sigmoid, _sig, ((4, 3),)),
    Case(elementwise.Tanh, tc.tanh, np.tanh, ((4, 3),)),
    Case(elementwise.ReLU, tc.relu, lambda a: np.maximum(a, 0), ((4, 3),)),
    Case(elementwise.Clip, lambda a: a.clip(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), ((4, 3),)),
    Case(activation.LeakyReLU, lambda a: tc.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a), ((4, 3),)),
    Case(activation.ELU, lambda a: tc.elu(a, 1.5), lambda a: np.where(a > 0, a, 1.5 * (np.exp(a) - 1)), ((4, 3),)),
    Case(activation.GELU, tc.gelu, lambda a: a * special.ndtr(a), ((4, 3),)),
    Case(activation.NormalCDF, lambda a: activation.NormalCDF.apply(a * 3), lambda a: special.ndtr(a * 3), ((4, 3),)),
    Case(activation.SiLU, tc.silu, lambda a: a * _sig(a), ((4, 3),)),
    Case(activation.Softplus, tc.softplus, lambda a: np.log1p(np.exp(a)), ((4, 3),)),
    Case(activation.Softplus, lambda a: tc.softplus(a * 2, beta=2, threshold=1),
         lambda a: np.where(4 * a > 1, 2 * a, np.log1p(np.exp(4 * a)) / 2), ((4, 3),), label="softplus threshold"),
    Case(elementwise.Abs, tc.abs, np.abs, ((4, 3),)),
    Case(elementwise.Sqrt, lambda a: a.sqrt(), np.sqrt, ((4, 3),), positive=True),
    Case(elementwise.Sin, tc.sin, np.sin, ((4, 3),)),
    Case(elementwise.Cos, lambda a: a.cos(), np.cos, ((4, 3),)),
    Case(elementwise.Log1p, tc.log1p, np.log1p, ((4, 3),), positive=True),
    Case(elementwise.Maximum, tc.maximum, np.maximum, ((3, 4), (4,)), label="maximum broadcast"),
    Case(elementwise.Minimum, lambda a, b: a.minimum(b), np.minimum, ((2, 3), (2, 1)), label="minimum broadcast"),
    Case(elementwise.Where, lambda a, b: tc.where(MASK, a, b), lambda a, b: np.where(MASK, a, b), ((3, 4), (4,)),
         label="where broadcast"),
    Case(elementwise.Where, lambda a: tc.where(a > 0, a, 0.5), lambda a: np.where(a > 0, a, 0.5), ((3, 4),),
         label="where comparison and number"),
    Case(matmul.MatMul, tc.matmul, np.matmul, ((3, 4), (4, 2))),
    Case(matmul.MatMul, lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4, 5)), label="matmul batched"),
    Case(matmul.MatMul, lambda a, b: a @ b, np.matmul, ((4,), (2, 4, 3)), label="matmul 1-D left"),
    Case(matmul.MatMul, lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4,)), label="matmul 1-D right"),
    Case(matmul.MatMul, lambda a, b: a @ b, np.matmul, ((4,), (4,)), label="matmul dot"),
    Case(reduce.Sum, lambda a: a.sum(), np.sum, ((3, 4),)),
    Case(reduce.Sum, lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(1, keepdims=True), ((3, 4, 2),), label="sum axis"),
    Case(reduce.Sum, lambda a: a.mean(axis=(0, 2)), lambda a: a.mean((0, 2)), ((3, 4, 2),), label="mean"),
    Case(reduce.Sum, lambda a: a.sum(dim=-1, keepdim=True), lambda a: a.sum(-1, keepdims=True), ((3, 4),),
         label="sum dim="),
    Case(reduce.Max, lambda a: a.max(), np.max, ((3, 4),), label="max"),
    Case(reduce.Max, lambda a: a.max(axis=(0, 2), keepdims=True), lambda a: a.max((0, 2), keepdims=True),
         ((3, 4, 2),), label="max tuple axes"),
    Case(reduce.Max, lambda a: tc.maximum(a, 0.0).max(1), lambda a: np.maximum(a, 0).max(1), ((3, 40),),
         label="max ties", check=dict(atol=1e-4)),
    Case(reduce.Min, lambda a: a.min(dim=1), lambda a: a.min(1), ((3, 4),), label="min"),
    Case(reduce.Var, lambda a: a.var(), lambda a: a.var(ddof=1), ((3, 4),), label="var"),
    Case(reduce.Var, lambda a: a.var(axis=(0, 2), correction=0), lambda a: a.var((0, 2)), ((3, 4, 2),),
         label="var axes correction=0"),
    Case(reduce.Std, lambda a: a.std(1), lambda a: a.std(1, ddof=1), ((3, 5),), label="std"),
    Case(reduce.Std, lambda a: a.std(axis=(0, 2), correction=0, keepdims=True), lambda a: a.std((0, 2), keepdims=True),
         ((3, 4, 2),), label="std axes correction=0 keepdims"),
    Case(reduce.LogSumExp, lambda a: a.logsumexp(1), lambda a: np.log(np.exp(a).sum(1)), ((3, 5),), label="logsumexp"),
    Case(reduce.LogSumExp, lambda a: tc.logsumexp(a, (0, 2), keepdims=True),
         lambda a: np.log(np.exp(a).sum((0, 2), keepdims=True)), ((3, 4, 2),), label="logsumexp tuple axes"),
    Case(index.GetItem, lambda a: a[1], lambda a: a[1], ((3, 4),), label="getitem int"),
    Case(index.GetItem, lambda a: a[::-2, None, 1:3], lambda a: a[::-2, None, 1:3], ((5, 4),),
         label="getitem slices steps None"),
    Case(index.GetItem, lambda a: a[..., -1], lambda a: a[..., -1], ((2, 3, 4),), label="getitem ellipsis"),
    Case(index.GetItem, lambda a: a[IDX], lambda a: a[IDX], ((3, 4),), label="getitem repeated indices"),
    Case(index.GetItem, lambda a: a[[0, 2, 0], [1, 1, 1]], lambda a: a[[0, 2, 0], [1, 1, 1]], ((3, 4),),
         label="getitem repeated pairs"),
    Case(index.GetItem, lambda a: a[MASK], lambda a: a[MASK], ((3, 4),), label="getitem bool mask"),
    Case(index.GetItem, lambda a: a[a > 0], lambda a: a[a > 0], ((3, 4),), label="getitem comparison mask"),
    Case(index.IndexAdd, lambda g: scatter_add(g, (IDX,), (3, 5)), lambda g: ref_index_add(g, IDX, (3, 5)),
         ((4, 5),), label="index_add"),
    Case(shape.Cat, lambda a, b: tc.cat([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1),
         ((2, 3), (2, 4))),
    Case(shape.Cat, lambda a, b, c: tc.cat((a, b, c), dim=-1), lambda a, b, c: np.concatenate([a, b, c], -1),
         ((2, 1), (2, 3), (2, 2)), label="cat three dim=-1"),
    Case(shape.Stack, lambda a, b: tc.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1), ((2, 3), (2, 3))),
    Case(shape.Pad, lambda a: tc.pad(a, ((1, 0), (2, 3)), value=0.5),
         lambda a: np.pad(a, ((1, 0), (2, 3)), constant_values=0.5), ((2, 3),)),
    Case(shape.Reshape, lambda a: a.squeeze(1).unsqueeze(0), lambda a: a[None, :, 0], ((3, 1, 2),),
         label="squeeze unsqueeze"),
    Case(index.GetItem, lambda a: a.split(2, 1)[1],
         lambda a: a[:, 2:4], ((2, 5),), label="split"),
    Case(shape.Reshape, lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6), ((2, 3, 4),)),
    Case(shape.Reshape, lambda a: a.flatten(), np.ravel, ((2, 3, 4),), label="flatten"),
    Case(shape.Transpose, lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1), ((2, 3, 4),)),
    Case(shape.Transpose, lambda a: a.T, lambda a: a.T, ((2, 3),), label="transpose .T"),
    Case(shape.Transpose, lambda a: a.transpose(0, 1), lambda a: a.swapaxes(0, 1), ((2, 3),),
         label="transpose(dim0, dim1) 2-D"),
    Case(shape.Transpose, lambda a: a.transpose(-2, -1), lambda a: a.swapaxes(-2, -1), ((2, 3, 4),),
         label="transpose(-2, -1)"),
    Case(shape.Transpose, lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), ((2, 3, 4),), label="permute"),
    Case(shape.BroadcastTo, lambda a: a.broadcast_to((2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), ((3, 1),)),
    Case(shape.Flip, tc.rot180, lambda a: a[..., ::-1, ::-1], ((2, 3, 4),)),
    Case(shape.Cast, lambda a: a._cast(np.float32)._cast(np.float64), lambda a: a.astype(np.float32), ((3,),),
         check=dict(eps=1e-2, atol=1e-4)),  # float32 rounding: a linear op, so a large eps is exact
    Case(shape.Cast, lambda a: a.float().astype(np.float64), lambda a: a.astype(np.float32), ((3,),),
         check=dict(eps=1e-2, atol=1e-4), label="float() astype"),
    Case(conv.Correlate2d, tc.correlate2d, ref_correlate, ((6, 7), (3, 2)), label="correlate2d 2-D valid"),
    Case(conv.Correlate2d, lambda x, k: tc.correlate2d(x, k, "full"), lambda x, k: ref_correlate(x, k, "full"),
         ((4, 5), (2, 3)), label="correlate2d 2-D full"),
    Case(conv.Correlate2d, tc.correlate2d, ref_correlate, ((3, 6, 5), (2, 3, 3, 2)), label="correlate2d (C, H, W)"),
    Case(conv.Correlate2d, tc.correlate2d, ref_correlate, ((2, 3, 5, 6), (4, 3, 2, 3)), label="correlate2d (N, C, H, W)"),
    Case(conv.Correlate2d, lambda x, k: tc.correlate2d(x, k, "full"), lambda x, k: ref_correlate(x, k, "full"),
         ((2, 2, 4, 3), (3, 2, 2, 3)), label="correlate2d batch full"),
    Case(conv.Convolve2d, tc.convolve2d, lambda x, k: ref_correlate(x, k, flip=True), ((5, 6), (2, 3)),
         label="convolve2d 2-D valid"),
    Case(conv.Convolve2d, lambda x, k: tc.convolve2d(x, k, "full"), lambda x, k: ref_correlate(x, k, "full", True),
         ((2, 3, 4, 4), (2, 3, 3, 2)), label="convolve2d batch full"),
    Case(conv.Convolve2d, tc.convolve2d, lambda x, k: ref_correlate(x, k, flip=True), ((3, 5, 5), (2, 3, 3, 3)),
         label="convolve2d (C, H, W)"),
    Case(conv.Correlate2d, lambda x, k: tc.correlate2d(x, k, stride=2, padding=1),
         lambda x, k: R.conv2d(x[None], k[None, None], stride=2, padding=1)[0], ((7, 6), (3, 2)),
         label="correlate2d 2-D stride 2 padding 1"),
    Case(conv.Correlate2d, lambda x, k: tc.correlate2d(x, k, "same"), lambda x, k: R.conv2d(x, k, padding=1),
         ((2, 6, 5), (3, 2, 3, 3)), label="correlate2d same"),
    Case(conv.Convolve2d, lambda x, k: tc.convolve2d(x, k, stride=(2, 1), dilation=2, groups=2),
         lambda x, k: R.conv2d(x, k, stride=(2, 1), dilation=2, groups=2, flip=True), ((2, 4, 6, 7), (4, 2, 2, 2)),
         label="convolve2d stride dilation groups"),
    Case(conv.Conv2d, lambda x, w, b: tc.conv2d(x, w, b, stride=2, padding=1),
         lambda x, w, b: R.conv2d(x, w, b, stride=2, padding=1), ((2, 3, 7, 6), (4, 3, 3, 3), (4,)),
         label="conv2d stride 2 padding 1 bias"),
    Case(conv.Conv2d, lambda x, w: tc.conv2d(x, w, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2),
         lambda x, w: R.conv2d(x, w, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2),
         ((2, 4, 7, 8), (6, 2, 2, 3)), label="conv2d groups dilation"),
    Case(conv.Conv2d, lambda x, w: tc.conv2d(x, w, padding="same"), lambda x, w: R.conv2d(x, w, padding=1),
         ((3, 6, 5), (2, 3, 3, 3)), label="conv2d (C, H, W) same"),
    Case(conv.ConvTranspose2d, lambda x, w, b: tc.conv_transpose2d(x, w, b, 2, 1, 1, 2),
         lambda x, w, b: R.conv_transpose2d(x, w, b, 2, 1, 1, 2), ((2, 4, 3, 4), (4, 3, 3, 2), (6,)),
         label="conv_transpose2d stride padding output_padding groups bias"),
    Case(conv.ConvTranspose2d, lambda x, w: tc.conv_transpose2d(x, w, stride=(1, 2), dilation=2),
         lambda x, w: R.conv_transpose2d(x, w, stride=(1, 2), dilation=2), ((2, 3, 3), (2, 2, 2, 2)),
         label="conv_transpose2d (C, H, W) dilation"),
    Case(pool.MaxPool2d, lambda x: tc.max_pool2d(x, 3, 2, 1), lambda x: R.pool(x, 3, 2, 1), ((2, 3, 6, 7),),
         label="max_pool2d stride padding"),
    Case(pool.MaxPool2d, lambda x: tc.max_pool2d(x, 2), lambda x: R.pool(x, 2), ((3, 6, 5),),
         label="max_pool2d (C, H, W)"),
    Case(pool.AvgPool2d, lambda x: tc.avg_pool2d(x, (3, 2), (2, 1), (1, 1)),
         lambda x: R.pool(x, (3, 2), (2, 1), (1, 1), "avg"), ((2, 3, 6, 7),), label="avg_pool2d stride padding"),
    Case(pool.AvgPool2d, lambda x: tc.avg_pool2d(x, 2), lambda x: R.pool(x, 2, kind="avg"), ((3, 5, 5),),
         label="avg_pool2d (C, H, W)"),
    Case(pool.MaxUnpool2d, lambda g: pool.MaxUnpool2d.apply(g, arg=_ARG, geo=_GEO, shape=_X0.shape),
         lambda g: R.max_unpool(g, _X0, 3, 2, 1), ((2, 2, 3, 3),), label="max_pool2d's backward"),
    Case(pool.MaxPoolSelect, lambda h: pool.MaxPoolSelect.apply(h, arg=_ARG, geo=_GEO,
                                                                shape=(2, 2, 3, 3)),
         lambda h: R.max_select(h, _X0, 3, 2, 1), ((2, 2, 5, 5),), label="max_pool2d's double backward"),
    Case(loss.BinaryCrossEntropy, lambda p, t: tc.bce(p, t), ref_bce, ((3, 4), (3, 4)), positive=True),
    Case(loss.BinaryCrossEntropy, lambda p, t: tc.binary_cross_entropy(p, t, "none"),
         lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)), ((5,), (5,)), positive=True, label="bce none"),
    Case(loss.NLLLoss, lambda x: tc.nll_loss(x, LABELS), lambda x: ref_nll(x).mean(), ((4, 3),)),
    Case(loss.NLLLoss, lambda x: tc.nll_loss(x, LABELS, reduction="none"), ref_nll, ((4, 3),), label="nll none"),
    Case(loss.NLLLoss, lambda x: tc.cross_entropy(x, LABELS, reduction="sum"),
         lambda x: ref_nll(ref_log_softmax(x)).sum(), ((4, 3),), label="cross_entropy sum"),
    Case(loss.BCEWithLogits, tc.binary_cross_entropy_with_logits,
         lambda z, t: ref_bce(_sig(z), t), ((3, 4), (3, 4)), label="bce with logits"),
    Case(loss.BCEWithLogits, lambda z, t: tc.binary_cross_entropy_with_logits(z, t, "none"),
         lambda z, t: -(t * np.log(_sig(z)) + (1 - t) * np.log(1 - _sig(z))), ((5,), (5,)), label="bce logits none"),
    Case(loss.MSELoss, tc.mse_loss, lambda p, t: ((p - t) ** 2).mean(), ((3, 4), (3, 4))),
    Case(loss.MSELoss, lambda p, t: tc.mse_loss(p, t, "sum"), lambda p, t: ((p - t) ** 2).sum(), ((5,), (5,)),
         label="mse sum"),
    Case(loss.LogSoftmax, lambda x: tc.log_softmax(x, axis=0),
         lambda x: x - np.log(np.exp(x).sum(0, keepdims=True)), ((4, 3),)),
    Case(loss.Softmax, tc.softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True), ((3, 5),)),
]


def _id(case: Case) -> str:
    return case.label or case.op.name


def test_every_op_is_in_the_table():
    ops = {cls for mod in (activation, conv, elementwise, index, loss, matmul, pool, reduce, shape) for cls in vars(mod).values()
           if isinstance(cls, type) and issubclass(cls, Function) and hasattr(cls, "forward")}
    assert ops - {c.op for c in CASES} == set()


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_forward_matches_reference(case: Case):
    arrays = case.inputs()
    out = case.fn(*[Tensor(a) for a in arrays])
    np.testing.assert_allclose(out.data, case.ref(*arrays), rtol=1e-6, atol=1e-6)
    assert out.shape == np.shape(case.ref(*arrays))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_records_its_op(case: Case):
    out = case.fn(*[Tensor(a, requires_grad=True) for a in case.inputs()])
    ops = set()
    stack = [out]
    while stack:
        t = stack.pop()
        ops.add(t.op)
        stack.extend(t.parents)
    assert case.op.name in ops


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_gradcheck_float64(case: Case):
    inputs = [Tensor(a, requires_grad=True) for a in case.inputs()]
    assert tc.gradcheck(case.fn, inputs, **(case.check or {}))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_backward_with_varying_upstream_grad(case: Case):
    """backward(G) equals the vector-Jacobian product Gᵀ J from central differences."""
    arrays = case.inputs()
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(*inputs)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    numeric = tc.numerical_grad(lambda *xs: (case.fn(*xs) * upstream).sum(), inputs,
                                eps=(case.check or {}).get("eps", 1e-6))
    for t, n in zip(inputs, numeric):
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype
        np.testing.assert_allclose(t.grad, n, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_float32_stays_float32(case: Case):
    inputs = [Tensor(a.astype(np.float32), requires_grad=True) for a in case.inputs()]
    out = case.fn(*inputs)
    if case.op is shape.Cast:
        return
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert all(t.grad.dtype == np.float32 for t in inputs)


def test_every_op_states_its_formulas():
    """Forward formula first, then one gradient per input: the docs and drawings use them."""
    for case in CASES:
        for variant in [None, *case.op.variants]:
            lines = case.op.formulas(variant)
            assert len(lines) >= 2 and all(line.startswith("dE/d") for line in lines[1:]), (case.op, variant)


@pytest.mark.parametrize("op, flip", [(tc.correlate2d, False), (tc.convolve2d, True)])
def test_full_mode_formulas_are_what_the_recorded_backward_does(op, flip):
    """The variant text for mode='full' names the ops its recorded backward runs."""
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    k = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = op(x, k, "full")
    lines = y._ctx.applied_formulas()
    assert "full" in lines[0]
    dx, dk = tc.grad(y, [x, k], rng.standard_normal(y.shape), create_graph=True)
    # correlate full: dX = dY *valid K, dK = rot180(dY ⋆ X); convolve full: dX = dY ⋆ K, dK = dY ⋆ X
    assert (dx.op, dx._ctx.mode) == (("correlate2d" if flip else "convolve2d"), "valid")
    assert ("*valid" in lines[1]) != flip and ("⋆ K_ij" in lines[1]) == flip
    assert dk.op == ("correlate2d" if flip else "flip")
    assert lines[2].startswith("dE/dK_ij = rot180(") != flip


def test_conv_backward_is_the_seed_formulas():
    """dK_ij = Σ_n X_nj ⋆ dY_ni and dX_nj = Σ_i dY_ni *full K_ij, written out with scipy."""
    x, k = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    g = rng.standard_normal((2, 4, 4, 4))
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    tc.correlate2d(X, K).backward(g)
    dk = np.array([[sum(signal.correlate2d(x[n, j], g[n, i], "valid") for n in range(2)) for j in range(3)]
                   for i in range(4)])
    dx = np.array([[sum(signal.convolve2d(g[n, i], k[i, j], "full") for i in range(4)) for j in range(3)]
                   for n in range(2)])
    np.testing.assert_allclose(K.grad, dk, atol=1e-10)
    np.testing.assert_allclose(X.grad, dx, atol=1e-10)


def test_conv_layer_bias_gradient_is_dY_summed():
    x, k = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    b = Tensor(rng.standard_normal((4, 1, 1)), requires_grad=True)
    g = rng.standard_normal((2, 4, 3, 3))
    (b + tc.correlate2d(x, k)).backward(g)
    np.testing.assert_allclose(b.grad, g.sum(axis=(0, 2, 3)).reshape(4, 1, 1))


def test_seed_full_shape_bias():
    """The seed's B_i has the output's shape: dE/dB_i = dE/dY_i exactly."""
    x, k = rng.standard_normal((3, 5, 5)), rng.standard_normal((2, 3, 2, 2))
    b = Tensor(rng.standard_normal((2, 4, 4)), requires_grad=True)
    g = rng.standard_normal((2, 4, 4))
    (b + tc.correlate2d(x, k)).backward(g)
    np.testing.assert_array_equal(b.grad, g)
