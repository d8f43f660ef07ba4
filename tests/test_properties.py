"""Property-based tests: every op over random shapes, modes, broadcasts and dtypes.

Hypothesis draws the structure (shapes, axes, modes, dtypes, a seed); numpy draws the
values from that seed, kept away from kinks and poles so central differences are
exact enough. Each op's forward is compared with an independent reference (scipy's
2-D correlate/convolve, one call per channel pair, for the convolutions; numpy for
the rest), its backward with `gradcheck` in float64, and the convolution's backward
with the adjoint identities it rests on. Shapes that make no sense must be rejected
with a ValueError that names them as tuples.
"""

from __future__ import annotations

import os

import warnings
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from scipy import signal, special

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops import activation, conv, elementwise, index, loss, matmul, reduce, shape
from tinygrad_cnn.tensor import Function

# Fixed draws by default, so every CI run checks the same cases; FUZZ=1 draws fresh random
# cases, ten times as many (about 15 s): `FUZZ=1 .venv/bin/python -m pytest tests/test_properties.py`.
_FUZZ = os.environ.get("FUZZ") == "1"
FAST = settings(max_examples=400 if _FUZZ else 40, deadline=None, derandomize=not _FUZZ,
                suppress_health_check=[HealthCheck.too_slow])
GRAD = settings(max_examples=250 if _FUZZ else 25, deadline=None, derandomize=not _FUZZ,
                suppress_health_check=[HealthCheck.too_slow])

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)
COVERED: set[type[Function]] = set()  # op classes exercised below; checked at the end


def covers(*ops: type[Function]) -> Callable:
    COVERED.update(ops)
    return lambda f: f


def tol(dtype: type) -> dict:
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def away_from_zero(rng: np.random.Generator, shape: tuple, lo: float = 0.3, hi: float = 2.0) -> np.ndarray:
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def check_grad(fn: Callable[..., Tensor], *arrays: np.ndarray, **kw) -> None:
    inputs = [Tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    assert tc.gradcheck(fn, inputs, **kw)


# ----- elementwise ------------------------------------------------------------------
BINARY = {
    "add": (elementwise.Add, lambda a, b: a + b, np.add),
    "sub": (elementwise.Sub, lambda a, b: a - b, np.subtract),
    "mul": (elementwise.Mul, lambda a, b: a * b, np.multiply),
    "div": (elementwise.Div, lambda a, b: a / b, np.divide),
}
covers(*(op for op, _, _ in BINARY.values()))


@FAST
@given(name=st.sampled_from(sorted(BINARY)), shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       da=dtypes, db=dtypes, seed=seeds)
def test_binary_forward_broadcasts_and_promotes(name, shapes, da, db, seed):
    _, fn, ref = BINARY[name]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes.input_shapes[0]).astype(da)
    b = away_from_zero(rng, shapes.input_shapes[1]).astype(db)
    out = fn(Tensor(a), Tensor(b))
    assert out.shape == shapes.result_shape and out.dtype == np.result_type(a, b)
    np.testing.assert_allclose(out.data, ref(a, b), **tol(out.dtype))


@GRAD
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=3), seed=seeds)
def test_binary_gradcheck_sums_broadcast_axes(name, shapes, seed):
    _, fn, _ = BINARY[name]
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes.input_shapes[0]), away_from_zero(rng, shapes.input_shapes[1])
    check_grad(fn, a, b)


@FAST
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=3),
       da=dtypes, db=dtypes, seed=seeds)
def test_gradients_keep_each_inputs_shape_and_dtype(shapes, da, db, seed):
    rng = np.random.default_rng(seed)
    a = Tensor(rng.standard_normal(shapes.input_shapes[0]).astype(da), requires_grad=True)
    b = Tensor(away_from_zero(rng, shapes.input_shapes[1]).astype(db), requires_grad=True)
    out = (a * b + a / b - b).sum()
    out.backward()
    for t in (a, b):
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype


def _sig(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# name: (op, tensor fn, numpy reference, value sampler)
UNARY = {
    "neg": (elementwise.Neg, lambda x: -x, np.negative, lambda r, s: r.standard_normal(s)),
    "exp": (elementwise.Exp, tc.exp, np.exp, lambda r, s: r.standard_normal(s)),
    "log": (elementwise.Log, tc.log, np.log, lambda r, s: r.uniform(0.2, 3.0, s)),
    "sigmoid": (elementwise.Sigmoid, tc.sigmoid, _sig, lambda r, s: 3 * r.standard_normal(s)),
    "tanh": (elementwise.Tanh, tc.tanh, np.tanh, lambda r, s: r.standard_normal(s)),
    "relu": (elementwise.ReLU, tc.relu, lambda x: np.maximum(x, 0), away_from_zero),
    "clip": (elementwise.Clip, lambda x: x.clip(-1.0, 1.0), lambda x: np.clip(x, -1.0, 1.0),
             lambda r, s: np.where(r.random(s) < 0.5, 1, -1) * r.choice([0.2, 0.7, 1.4, 2.5], s)),
    "pow 3": (elementwise.Pow, lambda x: x**3, lambda x: x**3, lambda r, s: r.standard_normal(s)),
    "pow -1.5": (elementwise.Pow, lambda x: x**-1.5, lambda x: x**-1.5, lambda r, s: r.uniform(0.3, 2.0, s)),
    "pow 0.5": (elementwise.Pow, lambda x: x**0.5, np.sqrt, lambda r, s: r.uniform(0.3, 2.0, s)),
    "leaky_relu": (activation.LeakyReLU, lambda x: tc.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                   away_from_zero),
    "elu": (activation.ELU, tc.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), away_from_zero),
    "gelu": (activation.GELU, tc.gelu, lambda x: x * special.ndtr(x), lambda r, s: 3 * r.standard_normal(s)),
    "normal_cdf": (activation.NormalCDF, activation.NormalCDF.apply, special.ndtr, lambda r, s: 3 * r.standard_normal(s)),
    "silu": (activation.SiLU, tc.silu, lambda x: x * _sig(x), lambda r, s: 3 * r.standard_normal(s)),
    "softplus": (activation.Softplus, tc.softplus, lambda x: np.logaddexp(0, x), lambda r, s: 3 * r.standard_normal(s)),
}
covers(*(op for op, _, _, _ in UNARY.values()))


@FAST
@given(name=st.sampled_from(sorted(UNARY)), shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
       dtype=dtypes, seed=seeds)
def test_unary_forward_keeps_dtype(name, shape, dtype, seed):
    _, fn, ref, sample = UNARY[name]
    x = sample(np.random.default_rng(seed), shape).astype(dtype)
    out = fn(Tensor(x))
    assert out.shape == x.shape and out.dtype == dtype
    np.testing.assert_allclose(out.data, ref(x), **tol(dtype))


@GRAD
@given(name=st.sampled_from(sorted(UNARY)), shape=array_shapes(min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_unary_gradcheck(name, shape, seed):
    _, fn, _, sample = UNARY[name]
    check_grad(fn, sample(np.random.default_rng(seed), shape))


# ----- reductions and shape ops -------------------------------------------------------
@st.composite
def shape_and_axes(draw, min_side=0):
    s = draw(array_shapes(min_dims=1, max_dims=4, min_side=min_side, max_side=4))
    axes = draw(st.none() | st.lists(st.integers(-len(s), len(s) - 1), min_size=1, max_size=len(s),
                                     unique_by=lambda a: a % len(s)).map(tuple))
    if axes is not None and len(axes) == 1 and draw(st.booleans()):
        axes = axes[0]  # a bare int, as users write it
    return s, axes


@covers(reduce.Sum)
@FAST
@given(sa=shape_and_axes(), keepdims=st.booleans(), mean=st.booleans(), dtype=dtypes, seed=seeds)
def test_sum_and_mean_forward(sa, keepdims, mean, dtype, seed):
    s, axes = sa
    x = np.random.default_rng(seed).standard_normal(s).astype(dtype)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a mean over nothing is 0/0 = nan, as numpy's
        out = Tensor(x).mean(axes, keepdims) if mean else Tensor(x).sum(axes, keepdims)
        ref = x.mean(axes, keepdims=keepdims) if mean else x.sum(axes, keepdims=keepdims)
    assert out.shape == ref.shape and out.dtype == dtype
    np.testing.assert_allclose(out.data, ref, **tol(dtype))


@GRAD
@given(sa=shape_and_axes(min_side=1), keepdims=st.booleans(), mean=st.booleans(), seed=seeds)
def test_sum_and_mean_gradcheck(sa, keepdims, mean, seed):
    s, axes = sa
    check_grad(lambda x: x.mean(axes, keepdims) if mean else x.sum(axes, keepdims),
               np.random.default_rng(seed).standard_normal(s))


@st.composite
def layout_changes(draw):
    """(op class, tensor fn, numpy fn, input shape): reshape, transpose, broadcast_to, flip, cast."""
    s = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    kind = draw(st.sampled_from(["reshape", "flatten", "transpose", "T", "broadcast_to", "flip", "cast"]))
    if kind == "reshape":
        target = tuple(reversed(s)) + (1,)
        return shape.Reshape, lambda x: x.reshape(*target), lambda a: a.reshape(target), s
    if kind == "flatten":
        return shape.Reshape, lambda x: x.flatten(), np.ravel, s
    if kind == "transpose":
        perm = tuple(draw(st.permutations(range(len(s)))))
        return shape.Transpose, lambda x: x.transpose(*perm), lambda a: a.transpose(perm), s
    if kind == "T":
        return shape.Transpose, lambda x: x.T, lambda a: a.T, s
    if kind == "broadcast_to":
        lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        target = lead + tuple(draw(st.sampled_from([n, 2, 3])) if n == 1 else n for n in s)
        return shape.BroadcastTo, lambda x: x.broadcast_to(target), lambda a: np.broadcast_to(a, target), s
    if kind == "flip":
        axes = tuple(draw(st.lists(st.integers(0, len(s) - 1), min_size=1, unique=True)))
        return shape.Flip, lambda x: x.flip(axes), lambda a: np.flip(a, axes), s
    # a cast there and back: float32 rounding in the middle, a linear op all the same
    return shape.Cast, lambda x: x._cast(np.float32)._cast(np.float64), lambda a: a.astype(np.float32).astype(np.float64), s


covers(shape.Reshape, shape.Transpose, shape.BroadcastTo, shape.Flip, shape.Cast)


@FAST
@given(case=layout_changes(), dtype=dtypes, seed=seeds)
def test_layout_ops_forward(case, dtype, seed):
    _, fn, ref, s = case
    x = np.random.default_rng(seed).standard_normal(s).astype(dtype)
    out = fn(Tensor(x))
    np.testing.assert_array_equal(out.data, ref(x))
    assert out.dtype == ref(x).dtype


@GRAD
@given(case=layout_changes(), seed=seeds)
def test_layout_ops_gradcheck(case, seed):
    op, fn, _, s = case
    kw = dict(eps=1e-2, atol=1e-4) if op is shape.Cast else {}  # linear, so a large eps is exact
    check_grad(fn, np.random.default_rng(seed).standard_normal(s), **kw)


# ----- matmul -------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batch = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2)).input_shapes
    a = (k,) if draw(st.booleans()) and not batch[0] else batch[0] + (n, k)
    b = (k,) if draw(st.booleans()) and not batch[1] else batch[1] + (k, m)
    return a, b


@covers(elementwise.AddConstant, elementwise.MulConstant)
@FAST
@given(shape=st.lists(st.integers(0, 4), max_size=3), c=st.floats(-1e3, 1e3) | st.integers(-5, 5),
       dtype=dtypes, seed=seeds)
def test_python_numbers_ride_along_as_options(shape, c, dtype, seed):
    """x + c, c + x, x − c, x · c, c · x: one op of one input, the tensor's dtype kept."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    t = Tensor(x, requires_grad=True)
    for out, ref, cls in [(t + c, x + c, elementwise.AddConstant), (c + t, c + x, elementwise.AddConstant),
                          (t - c, x - c, elementwise.AddConstant), (t * c, x * c, elementwise.MulConstant),
                          (c * t, c * x, elementwise.MulConstant)]:
        assert type(out._ctx) is cls and out.parents == (t,) and out.dtype == dtype
        np.testing.assert_allclose(out.data, ref, **tol(dtype))
    check_grad(lambda a: (a * c + c) * a, x)


@covers(matmul.MatMul)
@FAST
@given(shapes=matmul_shapes(), da=dtypes, db=dtypes, seed=seeds)
def test_matmul_forward(shapes, da, db, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]).astype(da), rng.standard_normal(shapes[1]).astype(db)
    out = tc.matmul(a, b)
    a2, b2 = (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)
    ref = (a2.astype(np.float64)[..., :, :, None] * b2[..., None, :, :]).sum(-2)  # Σ_j A_ij B_jk
    if b.ndim == 1:
        ref = ref[..., 0]
    if a.ndim == 1:
        ref = ref[..., 0] if b.ndim == 1 else ref[..., 0, :]
    assert out.shape == ref.shape and out.dtype == np.result_type(a, b)
    np.testing.assert_allclose(out.data, ref, **tol(out.dtype))


@GRAD
@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_gradcheck(shapes, seed):
    rng = np.random.default_rng(seed)
    check_grad(tc.matmul, rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1]))


# ----- convolution ----------------------------------------------------------------------
def ref_conv(x: np.ndarray, k: np.ndarray, mode: str, flip: bool) -> np.ndarray:
    """Y_i = Σ_j X_j ⋆ K_ij (or * for convolution), one scipy call per (sample, i, j)."""
    op = signal.convolve2d if flip else signal.correlate2d
    if x.ndim == 2:
        return op(x, k, mode=mode)
    xs = x if x.ndim == 4 else x[None]
    out = np.array([[sum(op(xs[n, j], k[i, j], mode=mode) for j in range(k.shape[1])) for i in range(k.shape[0])]
                    for n in range(len(xs))])
    return out if x.ndim == 4 else out[0]


@st.composite
def conv_problems(draw, max_side=6):
    """(x shape, k shape, mode, flip): 2-D, (C, H, W) and (N, C, H, W) inputs."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    mode = draw(st.sampled_from(["valid", "full"]))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    bound_h, bound_w = (h, w) if mode == "valid" else (4, 4)
    kh, kw = draw(st.integers(1, min(bound_h, 4))), draw(st.integers(1, min(bound_w, 4)))
    if ndim == 2:
        xs, ks = (h, w), (kh, kw)
    else:
        c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        xs = ((draw(st.integers(1, 2)),) if ndim == 4 else ()) + (c, h, w)
        ks = (o, c, kh, kw)
    return xs, ks, mode, draw(st.booleans())


def conv_fn(mode: str, flip: bool) -> Callable[[Tensor, Tensor], Tensor]:
    return (lambda x, k: tc.convolve2d(x, k, mode)) if flip else (lambda x, k: tc.correlate2d(x, k, mode))


covers(conv.Correlate2d, conv.Convolve2d)


@FAST
@given(p=conv_problems(max_side=8), dx=dtypes, dk=dtypes, seed=seeds)
def test_conv_forward_matches_scipy(p, dx, dk, seed):
    xs, ks, mode, flip = p
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal(xs).astype(dx), rng.standard_normal(ks).astype(dk)
    out = conv_fn(mode, flip)(Tensor(x), Tensor(k))
    ref = ref_conv(x.astype(np.float64), k.astype(np.float64), mode, flip)
    assert out.shape == ref.shape and out.dtype == np.result_type(x, k)
    np.testing.assert_allclose(out.data, ref, rtol=1e-4, atol=1e-4 if out.dtype == np.float32 else 1e-10)


@GRAD
@given(p=conv_problems(max_side=4), seed=seeds)
def test_conv_gradcheck(p, seed):
    xs, ks, mode, flip = p
    rng = np.random.default_rng(seed)
    check_grad(conv_fn(mode, flip), rng.standard_normal(xs), rng.standard_normal(ks))


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b))


@FAST
@given(p=conv_problems(), seed=seeds)
def test_conv_adjoint_identities(p, seed):
    """⟨X ⋆ K, G⟩ = ⟨X, G *full K⟩ = ⟨K, X ⋆ G⟩ (valid), and the full-mode counterparts
    ⟨X ⋆full K, G⟩ = ⟨X, G * K⟩ = ⟨K, rot180(G ⋆ X)⟩, channel pair by channel pair with
    the framework's own 2-D ops; the backward pass must agree with both."""
    xs, ks, mode, flip = p
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    y = conv_fn(mode, flip)(X, K)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    lhs = _inner(y.data, g)

    x4, k4, g4 = (a.reshape((1,) * (4 - a.ndim) + a.shape) for a in (x, k, g))
    kk = k4[..., ::-1, ::-1] if flip else k4  # convolution is correlation with rot180(K)
    n_, c_, o_ = x4.shape[0], x4.shape[1], k4.shape[0]
    dx = np.zeros_like(x4)
    dk = np.zeros_like(k4)
    for n in range(n_):
        for i in range(o_):
            for j in range(c_):
                if mode == "valid":
                    dx[n, j] += tc.convolve2d(g4[n, i], kk[i, j], "full").data
                    dkk = tc.correlate2d(x4[n, j], g4[n, i], "valid").data
                else:
                    dx[n, j] += tc.convolve2d(g4[n, i], kk[i, j], "valid").data
                    dkk = tc.rot180(tc.correlate2d(g4[n, i], x4[n, j], "valid")).data
                dk[i, j] += dkk[::-1, ::-1] if flip else dkk
    assert _inner(x4, dx) == pytest.approx(lhs, rel=1e-9, abs=1e-9)
    assert _inner(k4, dk) == pytest.approx(lhs, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(X.grad, dx.reshape(xs), atol=1e-10)
    np.testing.assert_allclose(K.grad, dk.reshape(ks), atol=1e-10)


@st.composite
def conv_option_problems(draw):
    """conv2d with random stride, padding, dilation and groups, and the matching
    conv_transpose2d (the same options; output_padding gives back the input's size)."""
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 4))
    w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 4))
    return (draw(st.integers(1, 2)), c, h, w), (o, c // groups, kh, kw), dict(
        stride=stride, padding=padding, dilation=dilation, groups=groups)


covers(conv.Conv2d, conv.ConvTranspose2d)


@FAST
@given(p=conv_option_problems(), seed=seeds)
def test_conv_options_forward_and_transpose_adjoint(p, seed):
    """conv2d against the explicit loop, and ⟨conv2d(X, K), G⟩ = ⟨X, conv_transpose2d(G, K)⟩:
    the transposed convolution is the gradient map of the convolution."""
    import conv_reference as R

    xs, ks, opts = p
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    y = tc.conv2d(x, k, **opts)
    np.testing.assert_allclose(y.data, R.conv2d(x, k, **opts), atol=1e-10)
    g = rng.standard_normal(y.shape)
    slack = tuple((n + 2 * pd - dl * (kk - 1) - 1) % s for n, pd, dl, kk, s in
                  zip(xs[2:], opts["padding"], opts["dilation"], ks[2:], opts["stride"]))
    if all(r < max(s, d) for r, s, d in zip(slack, opts["stride"], opts["dilation"])):
        back = tc.conv_transpose2d(g, k, output_padding=slack, **opts)
        assert back.shape == x.shape
        assert _inner(back.data, x) == pytest.approx(_inner(y.data, g), rel=1e-9, abs=1e-9)


@GRAD
@given(p=conv_option_problems(), seed=seeds)
def test_conv_options_gradcheck(p, seed):
    xs, ks, opts = p
    rng = np.random.default_rng(seed)
    check_grad(lambda x, k: tc.conv2d(x, k, **opts), rng.standard_normal((1,) + xs[1:]), rng.standard_normal(ks))


# ----- losses and softmax -------------------------------------------------------------------
@covers(loss.BinaryCrossEntropy)
@FAST
@given(s=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), reduction=st.sampled_from(["mean", "sum", "none"]),
       dtype=dtypes, seed=seeds)
def test_bce_forward(s, reduction, dtype, seed):
    rng = np.random.default_rng(seed)
    p, t = rng.uniform(0.02, 0.98, s).astype(dtype), rng.integers(0, 2, s).astype(dtype)
    out = tc.bce(Tensor(p), t, reduction=reduction)
    each = -(t * np.log(p.astype(np.float64)) + (1 - t) * np.log1p(-p.astype(np.float64)))
    ref = {"mean": each.mean(), "sum": each.sum(), "none": each}[reduction]
    assert out.shape == np.shape(ref) and out.dtype == dtype
    np.testing.assert_allclose(out.data, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)


@GRAD
@given(s=array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3), reduction=st.sampled_from(["mean", "sum", "none"]),
       seed=seeds)
def test_bce_gradcheck_prediction_and_soft_target(s, reduction, seed):
    rng = np.random.default_rng(seed)
    check_grad(lambda p, t: tc.bce(p, t, reduction=reduction), rng.uniform(0.1, 0.9, s), rng.uniform(0, 1, s))


@covers(loss.Softmax, loss.LogSoftmax)
@FAST
@given(s=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data(), log=st.booleans(),
       dtype=dtypes, seed=seeds)
def test_softmax_family(s, data, log, dtype, seed):
    axis = data.draw(st.integers(-len(s), len(s) - 1))
    x = (3 * np.random.default_rng(seed).standard_normal(s)).astype(dtype)
    e = np.exp(x.astype(np.float64) - x.max(axis, keepdims=True))
    ref = e / e.sum(axis, keepdims=True)
    fn = (lambda t: tc.log_softmax(t, axis)) if log else (lambda t: tc.softmax(t, axis))
    out = fn(Tensor(x))
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, np.log(ref) if log else ref, **tol(dtype))
    if s[axis] > 1 and x.size <= 12:
        check_grad(fn, x.astype(np.float64))


@GRAD
@given(n=st.integers(1, 3), c=st.integers(1, 4), seed=seeds)
def test_cross_entropy(n, c, seed):
    rng = np.random.default_rng(seed)
    z, y = rng.standard_normal((n, c)), rng.integers(0, c, n)
    ref = np.mean([np.log(np.exp(z[i]).sum()) - z[i, y[i]] for i in range(n)])
    assert tc.cross_entropy(z, y).item() == pytest.approx(ref, rel=1e-12)
    check_grad(lambda t: tc.cross_entropy(t, y), z)


@covers(loss.NLLLoss, loss.BCEWithLogits, loss.MSELoss)
@FAST
@given(n=st.integers(1, 4), c=st.integers(1, 4), reduction=st.sampled_from(["mean", "sum", "none"]), dtype=dtypes,
       seed=seeds)
def test_new_losses_forward(n, c, reduction, dtype, seed):
    rng = np.random.default_rng(seed)
    z, y, t = (3 * rng.standard_normal((n, c))).astype(dtype), rng.integers(0, c, n), rng.random((n, c)).astype(dtype)
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    refs = {
        "nll": (tc.nll_loss(z, y, reduction), reduce(-z64[np.arange(n), y])),
        "bce logits": (tc.binary_cross_entropy_with_logits(z, t, reduction),
                       reduce(-(t64 * np.log(_sig(z64)) + (1 - t64) * np.log(1 - _sig(z64))))),
        "mse": (tc.mse_loss(z, t, reduction), reduce((z64 - t64) ** 2)),
    }
    for name, (out, ref) in refs.items():
        assert out.dtype == dtype and out.shape == np.shape(ref), name
        np.testing.assert_allclose(out.data, ref, **tol(dtype), err_msg=name)


@GRAD
@given(n=st.integers(1, 3), c=st.integers(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]), seed=seeds)
def test_new_losses_gradcheck(n, c, reduction, seed):
    rng = np.random.default_rng(seed)
    z, y, t = rng.standard_normal((n, c)), rng.integers(0, c, n), rng.random((n, c))
    check_grad(lambda a: tc.nll_loss(a, y, reduction), z)
    check_grad(lambda a: tc.cross_entropy(a, y, reduction), z)
    check_grad(lambda a, b: tc.binary_cross_entropy_with_logits(a, b, reduction), z, t)
    check_grad(lambda a, b: tc.mse_loss(a, b, reduction), z, t)


def test_every_op_is_fuzzed():
    from test_expr_properties import COVERED as EXPR_COVERED  # indexing, joins, reductions, newer math

    ops = {cls for mod in (activation, conv, elementwise, index, loss, matmul, reduce, shape) for cls in vars(mod).values()
           if isinstance(cls, type) and issubclass(cls, Function) and hasattr(cls, "forward")}
    assert ops - COVERED - EXPR_COVERED == set()


# ----- bad shapes are rejected, naming the shapes -----------------------------------------
def rejects(call: Callable, *shapes: tuple) -> str:
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    for s in shapes:
        assert str(tuple(s)) in msg, (s, msg)
    return msg


@FAST
@given(n=st.sampled_from([(), (2,)]), c=st.integers(1, 3), c2=st.integers(1, 3), o=st.integers(1, 3),
       flip=st.booleans(), mode=st.sampled_from(["valid", "full"]))
def test_rejects_channel_mismatch(n, c, c2, o, flip, mode):
    if c == c2:
        c2 = c + 1
    xs, ks = n + (c, 5, 5), (o, c2, 2, 2)
    msg = rejects(lambda: conv_fn(mode, flip)(np.ones(xs), np.ones(ks)), xs, ks)
    assert ("convolve2d" if flip else "correlate2d") in msg


@FAST
@given(h=st.integers(1, 5), w=st.integers(1, 5), dh=st.integers(0, 3), dw=st.integers(0, 3), flip=st.booleans())
def test_rejects_kernel_larger_than_input_in_valid_mode(h, w, dh, dw, flip):
    if dh == dw == 0:
        dh = 1
    xs, ks = (h, w), (h + dh, w + dw)
    msg = rejects(lambda: conv_fn("valid", flip)(np.ones(xs), np.ones(ks)), xs, ks)
    assert "larger" in msg
    # the same pair is fine in full mode
    assert conv_fn("full", flip)(np.ones(xs), np.ones(ks)).shape == (2 * h + dh - 1, 2 * w + dw - 1)


@FAST
@given(xd=st.integers(0, 5), kd=st.integers(0, 5), flip=st.booleans())
def test_rejects_wrong_ndim(xd, kd, flip):
    if (xd, kd) in ((2, 2), (3, 4), (4, 4)):
        return
    xs, ks = (2,) * xd, (1,) * kd
    rejects(lambda: conv_fn("valid", flip)(np.ones(xs), np.ones(ks)), xs, ks)


@FAST
@given(mode=st.text(max_size=6).filter(lambda m: m not in ("valid", "full")), flip=st.booleans())
def test_rejects_unknown_mode(mode, flip):
    msg = rejects(lambda: conv_fn(mode, flip)(np.ones((3, 3)), np.ones((2, 2))), (3, 3), (2, 2))
    assert repr(mode) in msg


@st.composite
def non_broadcastable(draw):
    a = draw(array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    i = draw(st.integers(0, len(a) - 1))
    b = list(a)
    b[i] = draw(st.integers(2, 5).filter(lambda v: v != a[i]))
    b = tuple(b[draw(st.integers(0, i)):])  # drop some leading axes; still clashes at axis i
    return (a, b) if draw(st.booleans()) else (b, a)


@FAST
@given(shapes=non_broadcastable(), name=st.sampled_from(sorted(BINARY)))
def test_rejects_non_broadcastable_operands(shapes, name):
    a, b = shapes
    msg = rejects(lambda: BINARY[name][1](Tensor(np.ones(a)), np.ones(b)), a, b)
    assert name in msg


@FAST
@given(n=st.integers(1, 3), k=st.integers(1, 4), k2=st.integers(1, 4), m=st.integers(1, 3),
       a1=st.booleans(), b1=st.booleans())
def test_rejects_matmul_inner_mismatch(n, k, k2, m, a1, b1):
    if k == k2:
        k2 = k + 1
    a, b = ((k,) if a1 else (n, k)), ((k2,) if b1 else (k2, m))
    rejects(lambda: tc.matmul(np.ones(a), np.ones(b)), a, b)


@FAST
@given(shapes=st.tuples(array_shapes(min_dims=0, max_dims=3, max_side=3), array_shapes(min_dims=0, max_dims=3, max_side=3))
       .filter(lambda s: s[0] != s[1]))
def test_rejects_bce_shape_mismatch(shapes):
    """Even shapes that would broadcast: a loss over a silently broadcast target is wrong."""
    p, t = shapes
    rejects(lambda: tc.bce(Tensor(np.full(p, 0.5)), np.ones(t)), p, t)
