"""Property-based tests for the tensor-expression ops: indexing, joins, padding,
reductions, and the newer elementwise math, over random shapes, axes and dtypes.

As in test_properties.py, hypothesis draws the structure and numpy the values (kept away
from kinks and ties); forwards are compared with numpy, backwards with gradcheck or
with an explicit scatter (np.add.at) for indexing.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, basic_indices, mutually_broadcastable_shapes

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops import elementwise, index, reduce, shape
from tinygrad_cnn.ops.formula import scatter_add
from tinygrad_cnn.tensor import Function

_FUZZ = os.environ.get("FUZZ") == "1"
FAST = settings(max_examples=400 if _FUZZ else 40, deadline=None, derandomize=not _FUZZ,
                suppress_health_check=[HealthCheck.too_slow])
GRAD = settings(max_examples=250 if _FUZZ else 20, deadline=None, derandomize=not _FUZZ,
                suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)
COVERED: set[type[Function]] = set()  # read by test_properties.test_every_op_is_fuzzed


def covers(*ops: type[Function]) -> Callable:
    COVERED.update(ops)
    return lambda f: f


def tol(dtype: type) -> dict:
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def check_grad(fn: Callable[..., Tensor], *arrays: np.ndarray, **kw) -> None:
    assert tc.gradcheck(fn, [Tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays], **kw)


def away_from_zero(r: np.random.Generator, s: tuple) -> np.ndarray:
    return r.uniform(0.3, 2.0, s) * r.choice([-1.0, 1.0], s)


UNARY = {
    "abs": (elementwise.Abs, tc.abs, np.abs, away_from_zero),
    "sqrt": (elementwise.Sqrt, tc.sqrt, np.sqrt, lambda r, s: r.uniform(0.2, 3.0, s)),
    "sin": (elementwise.Sin, tc.sin, np.sin, lambda r, s: 2 * r.standard_normal(s)),
    "cos": (elementwise.Cos, tc.cos, np.cos, lambda r, s: 2 * r.standard_normal(s)),
    "log1p": (elementwise.Log1p, tc.log1p, np.log1p, lambda r, s: r.uniform(-0.8, 3.0, s)),
}
covers(*(op for op, _, _, _ in UNARY.values()))


@FAST
@given(name=st.sampled_from(sorted(UNARY)), s=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
       dtype=dtypes, seed=seeds)
def test_unary_forward(name, s, dtype, seed):
    _, fn, ref, sample = UNARY[name]
    x = sample(np.random.default_rng(seed), s).astype(dtype)
    out = fn(Tensor(x))
    assert out.shape == x.shape and out.dtype == dtype
    np.testing.assert_allclose(out.data, ref(x), **tol(dtype))


@GRAD
@given(name=st.sampled_from(sorted(UNARY)), s=array_shapes(min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_unary_gradcheck(name, s, seed):
    _, fn, _, sample = UNARY[name]
    check_grad(fn, sample(np.random.default_rng(seed), s))


BINARY = {
    "maximum": (elementwise.Maximum, tc.maximum, np.maximum),
    "minimum": (elementwise.Minimum, tc.minimum, np.minimum),
    "where": (elementwise.Where, None, None),
}
covers(*(op for op, _, _ in BINARY.values()))


@GRAD
@given(name=st.sampled_from(sorted(BINARY)), shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=seeds)
def test_binary_selection_ops(name, shapes, seed):
    """Forward against numpy; the gradient selects (ties are avoided: values are distinct)."""
    rng = np.random.default_rng(seed)
    sa, sb, sc = shapes.input_shapes
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb) + 0.01  # distinct from a with probability 1
    if name == "where":
        c = rng.random(sc) < 0.5
        fn, ref = (lambda x, y: tc.where(c, x, y)), (lambda x, y: np.where(c, x, y))
    else:
        _, fn, ref = BINARY[name]
    out = fn(Tensor(a), Tensor(b))
    np.testing.assert_array_equal(out.data, ref(a, b))
    if min(out.shape, default=1) > 0:
        check_grad(fn, a, b)


@st.composite
def shape_and_axes(draw, min_side=1):
    s = draw(array_shapes(min_dims=0, max_dims=4, min_side=min_side, max_side=4))
    span = max(len(s), 1)
    axes = draw(st.none() | st.lists(st.integers(-span, span - 1), min_size=1, max_size=span,
                                     unique_by=lambda a: a % span).map(tuple))
    if axes is not None and len(axes) == 1 and draw(st.booleans()):
        axes = axes[0]
    return s, axes


def _np_axes(axes, ndim):
    return None if ndim == 0 else axes  # numpy has no axis 0 on a scalar; it reduces nothing


REDUCTIONS = {
    "max": (reduce.Max, lambda x, ax, k: x.max(ax, k), lambda a, ax, k: np.max(a, ax, keepdims=k)),
    "min": (reduce.Min, lambda x, ax, k: tc.min(x, dim=ax, keepdim=k), lambda a, ax, k: np.min(a, ax, keepdims=k)),
    "logsumexp": (reduce.LogSumExp, lambda x, ax, k: x.logsumexp(ax, k),
                  lambda a, ax, k: np.log(np.exp(a).sum(ax, keepdims=k))),
    "var": (reduce.Var, lambda x, ax, k: x.var(ax, k, correction=0), lambda a, ax, k: np.var(a, ax, keepdims=k)),
    "std": (reduce.Std, lambda x, ax, k: x.std(ax, k, correction=0), lambda a, ax, k: np.std(a, ax, keepdims=k)),
}
covers(*(op for op, _, _ in REDUCTIONS.values()))


@FAST
@given(name=st.sampled_from(sorted(REDUCTIONS)), sa=shape_and_axes(), keepdims=st.booleans(), dtype=dtypes, seed=seeds)
def test_reductions_forward(name, sa, keepdims, dtype, seed):
    s, axes = sa
    _, fn, ref = REDUCTIONS[name]
    x = np.random.default_rng(seed).standard_normal(s).astype(dtype)
    out = fn(Tensor(x), axes, keepdims)
    expected = np.asarray(ref(x, _np_axes(axes, len(s)), keepdims))
    if len(s) == 0 and name in ("var", "std"):
        expected = np.zeros(())  # the variance of one element, with correction 0
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out.data, expected, **tol(dtype))


@GRAD
@given(name=st.sampled_from(sorted(REDUCTIONS)), sa=shape_and_axes(), keepdims=st.booleans(), seed=seeds)
def test_reductions_gradcheck(name, sa, keepdims, seed):
    s, axes = sa
    _, fn, _ = REDUCTIONS[name]
    check_grad(lambda x: fn(x, axes, keepdims), np.random.default_rng(seed).standard_normal(s))


@st.composite
def indexed(draw):
    """A shape and an index: basic (ints, slices with steps, None, ...), integer arrays
    with repeats, or a boolean mask."""
    s = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    kind = draw(st.sampled_from(["basic", "ints", "mask", "mixed"]))
    if kind == "basic":
        return s, draw(basic_indices(s, allow_newaxis=True, allow_ellipsis=True))
    if kind == "mask":
        return s, np.array(draw(st.lists(st.booleans(), min_size=s[0], max_size=s[0])))
    rows = np.array(draw(st.lists(st.integers(-s[0], s[0] - 1), min_size=1, max_size=6)))  # repeats likely
    if kind == "ints" or len(s) == 1:
        return s, rows
    return s, (slice(None, None, draw(st.sampled_from([1, -1, 2]))), rows[: s[1]] % s[1]) if len(s) >= 2 else rows


covers(index.GetItem, index.IndexAdd)


@FAST
@given(case=indexed(), dtype=dtypes, seed=seeds)
def test_getitem_forward_and_scatter_backward(case, dtype, seed):
    s, idx = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(s).astype(dtype)
    t = Tensor(x, requires_grad=True)
    out = t[idx]
    np.testing.assert_array_equal(out.data, x[idx])
    g = rng.standard_normal(out.shape).astype(dtype)
    if out._ctx is None:
        return  # an index that selects nothing to differentiate (an empty result)
    out.backward(g)
    expected = np.zeros_like(x)
    np.add.at(expected, idx, g)  # numpy's own unbuffered scatter: repeats add
    np.testing.assert_allclose(t.grad, expected, **tol(dtype))


@GRAD
@given(case=indexed(), seed=seeds)
def test_getitem_gradcheck_and_double_backward(case, seed):
    s, idx = case
    x = np.random.default_rng(seed).standard_normal(s)
    if x[idx].size == 0:
        return
    check_grad(lambda t: t[idx] * t[idx], x)
    assert tc.gradgradcheck(lambda t: t[idx] * t[idx], [Tensor(x, requires_grad=True)])
    check_grad(lambda g: scatter_add(g, index.normalize_index(idx), s), np.ones(x[idx].shape))


@st.composite
def join_case(draw):
    s = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    axis = draw(st.integers(-len(s), len(s) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    shapes = [s[: axis % len(s)] + (n,) + s[axis % len(s) + 1:] for n in sizes]
    return shapes, axis


covers(shape.Cat, shape.Stack, shape.Pad)


@GRAD
@given(case=join_case(), seed=seeds)
def test_cat_split_stack(case, seed):
    shapes, axis = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    out = tc.cat(arrays, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis))
    pieces = out.split([a.shape[axis] for a in arrays], axis)
    for p, a in zip(pieces, arrays):
        np.testing.assert_array_equal(p.data, a)
    if out.size:
        check_grad(lambda *ts: tc.cat(ts, axis=axis) * 1.5, *arrays)
    same = [rng.standard_normal(shapes[0]) for _ in shapes]
    np.testing.assert_array_equal(tc.stack(same, axis).data, np.stack(same, axis))
    if same[0].size:
        check_grad(lambda *ts: tc.stack(ts, axis=axis), *same)


@GRAD
@given(s=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), data=st.data(), seed=seeds)
def test_pad(s, data, seed):
    widths = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in s)
    x = np.random.default_rng(seed).standard_normal(s)
    ref = np.pad(x, widths, constant_values=-2.0)
    np.testing.assert_array_equal(tc.pad(x, widths, value=-2.0).data, ref)
    check_grad(lambda t: tc.pad(t, widths, value=-2.0), x)
