"""conv's fast path picks one of three im2col layouts by size; every layout must give the
formula's values, with every option. Each case is forced through each layout and
compared with the explicit loop (tests/conv_reference.py) and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

import conv_reference as R
import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.kernels import im2col
from tinygrad_cnn.kernels.im2col import Geometry

rng = np.random.default_rng(5)
LAYOUTS = tuple(im2col.LAYOUTS)


def _numeric_grads(f, arrays, g, eps=1e-6):
    """Central differences of Σ g·f(arrays) for each array (float64, small shapes)."""
    out = []
    for a in arrays:
        d = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            plus = (f(*arrays) * g).sum()
            a[i] = old - eps
            minus = (f(*arrays) * g).sum()
            a[i] = old
            d[i] = (plus - minus) / (2 * eps)
        out.append(d)
    return out


OPTIONS = [
    ((3, 2, 7, 6), (4, 2, 3, 2), {}),
    ((2, 3, 5, 5), (2, 3, 3, 3), dict(padding=2)),
    ((2, 6, 6), (3, 2, 2, 2), dict(stride=2)),  # (C, H, W)
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)),
    ((2, 3, 12, 11), (4, 3, 2, 2), dict(stride=3, padding=1)),  # slack rows the windows never reach
]


# Every way col2im gets and adds its blocks: small GEMMs per kernel offset, one GEMM, or
# one GEMM on the input's grid (stride 1 only).
METHODS = [(i, m) for i, (_, _, opts) in enumerate(OPTIONS) for m in ("shift", "one", "flat")
           if m != "flat" or opts.get("stride", 1) == 1]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("case,method", METHODS, ids=[f"{i}-{m}" for i, m in METHODS])
def test_every_layout_gives_the_formula_values(monkeypatch, layout, flip, case, method):
    xs, ks, opts = OPTIONS[case]
    monkeypatch.setattr(im2col, "choose_layout", lambda geo: layout)
    monkeypatch.setattr(im2col, "col2im_method", lambda geo, layout, itemsize: method)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    y = (tc.convolve2d if flip else tc.correlate2d)(X, K, **opts)
    g = rng.standard_normal(y.shape)
    y.backward(g)

    def ref(x, k):
        return R.conv2d(x, k, flip=flip, **opts)

    np.testing.assert_allclose(y.data, ref(x, k), atol=1e-10)
    dx, dk = R.conv2d_grads(x, k, g, flip=flip, **opts)
    np.testing.assert_allclose(X.grad, dx, atol=1e-10)
    np.testing.assert_allclose(K.grad, dk, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_transposed_conv_in_every_layout(monkeypatch, layout):
    monkeypatch.setattr(im2col, "choose_layout", lambda geo: layout)
    x, w = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2))
    X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = tc.conv_transpose2d(X, W, stride=2, padding=1, output_padding=1, groups=2)
    g = rng.standard_normal(y.shape)
    y.backward(g)

    def ref(x, w):
        return R.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2)

    np.testing.assert_allclose(y.data, ref(x, w), atol=1e-10)
    dx, dw = _numeric_grads(ref, [x.copy(), w.copy()], g)
    np.testing.assert_allclose(X.grad, dx, atol=1e-6)
    np.testing.assert_allclose(W.grad, dw, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_seed_layer_matches_scipy(monkeypatch, layout):
    """The seed's Y_i = Σ_j X_j ⋆ K_ij and its gradients, one scipy call per (n, i, j)."""
    monkeypatch.setattr(im2col, "choose_layout", lambda geo: layout)
    x, k = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    g = rng.standard_normal((2, 4, 4, 4))
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    y = tc.correlate2d(X, K)
    y.backward(g)
    ry = np.array([[sum(signal.correlate2d(x[n, j], k[i, j], "valid") for j in range(3)) for i in range(4)]
                   for n in range(2)])
    dk = np.array([[sum(signal.correlate2d(x[n, j], g[n, i], "valid") for n in range(2)) for j in range(3)]
                   for i in range(4)])
    dx = np.array([[sum(signal.convolve2d(g[n, i], k[i, j], "full") for i in range(4)) for j in range(3)]
                   for n in range(2)])
    np.testing.assert_allclose(y.data, ry, atol=1e-10)
    np.testing.assert_allclose(K.grad, dk, atol=1e-10)
    np.testing.assert_allclose(X.grad, dx, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_float32_and_broadcast_upstream_gradient(monkeypatch, layout):
    """sum().backward() hands conv a broadcast (zero-stride) dY; float32 stays float32."""
    monkeypatch.setattr(im2col, "choose_layout", lambda geo: layout)
    x, k = rng.standard_normal((4, 3, 7, 7)).astype(np.float32), rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    tc.correlate2d(X, K, stride=2, padding=1).sum().backward()
    assert K.grad.dtype == np.float32 and X.grad.dtype == np.float32
    dx, dk = R.conv2d_grads(x.astype(np.float64), k.astype(np.float64), np.ones((4, 2, 4, 4)), stride=2, padding=1)
    np.testing.assert_allclose(X.grad, dx, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(K.grad, dk, rtol=1e-5, atol=1e-4)


def test_layout_is_chosen_by_size():
    def geo(n, c, o, hw, k):
        return Geometry.of((n, c, hw, hw), (o, c, k, k), (1, 1), (0, 0, 0, 0), (1, 1), 1)

    assert im2col.choose_layout(geo(64, 1, 5, 28, 3)) == "sample"  # (a): 1 channel, 3×3
    assert im2col.choose_layout(geo(64, 6, 16, 12, 5)) == "batch_last"  # (b): 6 channels, 5×5, 8×8 out
    assert im2col.choose_layout(geo(32, 32, 64, 32, 3)) == "channel_major"  # (c): 32 channels, 30×30 out
    assert im2col.choose_layout(geo(64, 1, 6, 32, 5)) == "sample"  # LeNet-5's first layer: 25 taps
    strided = Geometry.of((32, 32, 32, 32), (64, 32, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1)
    assert im2col.choose_layout(strided) == "channel_major"  # a large image, even with a 16×16 output
    assert im2col.col2im_method(geo(64, 1, 5, 28, 3), "sample", 4) == "flat"
    assert im2col.col2im_method(geo(64, 6, 16, 12, 5), "batch_last", 4) == "shift"  # 98 KB blocks
    assert im2col.col2im_method(geo(32, 32, 64, 32, 3), "channel_major", 4) == "one"  # 3.7 MB blocks


@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_batch_worked_in_parts_gives_the_same_values(monkeypatch, layout, flip):
    """Columns above COLS_BYTES: the forward goes through the batch a few samples at a
    time, keeps no columns, and dE/dK rebuilds them part by part."""
    monkeypatch.setattr(im2col, "choose_layout", lambda geo: layout)
    x, k = rng.standard_normal((5, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    g = rng.standard_normal((5, 3, 4, 7))
    opts = dict(stride=(2, 1), padding=1)
    conv = tc.convolve2d if flip else tc.correlate2d
    whole = []
    for cols_bytes in (1 << 30, 2 * (2 * 3 * 2) * (4 * 7) * 8):  # all at once; two samples' columns a part
        monkeypatch.setattr(im2col, "COLS_BYTES", cols_bytes)
        X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
        y = conv(X, K, **opts)
        assert (y._ctx.cols is None) == (cols_bytes < 1 << 30)
        y.backward(g)
        whole.append((y.data, X.grad, K.grad))
    geo = y._ctx._geo
    assert [p.n for _, p in im2col.parts(geo, 8)] == [1, 2, 2]
    for a, b in zip(*whole):
        np.testing.assert_allclose(a, b, atol=1e-12)
    dx, dk = R.conv2d_grads(x, k, g, flip=flip, **opts)
    np.testing.assert_allclose(whole[1][1], dx, atol=1e-10)
    np.testing.assert_allclose(whole[1][2], dk, atol=1e-10)


def test_parts_split_the_batch_evenly():
    geo = Geometry.of((8, 64, 64, 64), (64, 64, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert [p.n for _, p in im2col.parts(geo, 4)] == [4, 4]  # 71 MB of float32 columns
    assert [p.n for _, p in im2col.parts(geo, 8)] == [2, 3, 3]  # 142 MB of float64
    assert [s for s, _ in im2col.parts(geo, 8)] == [slice(0, 2), slice(2, 5), slice(5, 8)]
    small = Geometry.of((32, 32, 32, 32), (64, 32, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert im2col.parts(small, 4) == [(slice(None), small)]  # (c): 33 MB, one piece


def test_columns_are_kept_only_when_the_kernel_needs_a_gradient():
    """dE/dK reads the forward's im2col columns; nobody else does, so they are not kept
    for a constant kernel, and a backward frees them."""
    x = Tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)
    k = rng.standard_normal((4, 3, 3, 3))
    y = tc.correlate2d(x, k)
    assert y._ctx.cols is None
    y = tc.correlate2d(x, Tensor(k, requires_grad=True))
    assert y._ctx.cols is not None
    ctx = y._ctx
    y.sum().backward()
    assert getattr(ctx, "cols", None) is None
