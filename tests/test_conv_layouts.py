"""conv's fast path picks one of three im2col layouts by size; every layout must give the
seed's values. Each case is forced through each layout and compared with SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops import conv

rng = np.random.default_rng(5)
LAYOUTS = ("sample", "batch_last", "channel_major")


def reference(x: np.ndarray, k: np.ndarray, g: np.ndarray, mode: str, flip: bool):
    """Y, dK, dX by the seed's formulas, one scipy call per (sample, i, j)."""
    op = signal.convolve2d if flip else signal.correlate2d
    back = "valid" if mode == "full" else "full"
    x4, g4 = x.reshape((1,) * (4 - x.ndim) + x.shape), g.reshape((1,) * (4 - g.ndim) + g.shape)
    k4 = k.reshape((1, 1) + k.shape) if k.ndim == 2 else k
    n, c = x4.shape[:2]
    o = k4.shape[0]
    y = np.array([[sum(op(x4[s, j], k4[i, j], mode) for j in range(c)) for i in range(o)] for s in range(n)])
    # dK_ij = Σ_n X_nj ⋆ dY_ni (valid mode); rot180 of it for a convolution; full mode pads X
    xp = x4 if mode == "valid" else np.pad(x4, ((0, 0), (0, 0)) + ((k4.shape[2] - 1,) * 2, (k4.shape[3] - 1,) * 2))
    dk = np.array([[sum(signal.correlate2d(xp[s, j], g4[s, i], "valid") for s in range(n)) for j in range(c)]
                   for i in range(o)])
    if flip:
        dk = dk[..., ::-1, ::-1]
    dx_op = signal.correlate2d if flip else signal.convolve2d
    dx = np.array([[sum(dx_op(g4[s, i], k4[i, j], back) for i in range(o)) for j in range(c)] for s in range(n)])
    return y.reshape(g.shape), dk.reshape(k.shape), dx.reshape(x.shape)


SHAPES = [
    ((3, 2, 7, 6), (4, 2, 3, 2), "valid"),
    ((2, 3, 5, 5), (2, 3, 3, 3), "full"),
    ((2, 6, 6), (3, 2, 2, 2), "valid"),  # (C, H, W)
    ((6, 5), (3, 2), "full"),  # (H, W)
    ((2, 3, 12, 11), (4, 3, 2, 2), "valid"),  # large enough for channel_major's full-width col2im
    ((2, 2, 11, 12), (3, 2, 2, 3), "full"),  # the same, convolution/full with a padded input
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("xs,ks,mode", SHAPES, ids=[f"{s[0]}{s[2]}" for s in SHAPES])
def test_every_layout_gives_the_seed_values(monkeypatch, layout, flip, xs, ks, mode):
    monkeypatch.setattr(conv, "_layout", lambda *sizes: layout)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    y = (tc.convolve2d if flip else tc.correlate2d)(X, K, mode)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ry, rdk, rdx = reference(x, k, g, mode, flip)
    np.testing.assert_allclose(y.data, ry, atol=1e-10)
    np.testing.assert_allclose(K.grad, rdk, atol=1e-10)
    np.testing.assert_allclose(X.grad, rdx, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_float32_and_broadcast_upstream_gradient(monkeypatch, layout):
    """sum().backward() hands conv a broadcast (zero-stride) dY; float32 stays float32."""
    monkeypatch.setattr(conv, "_layout", lambda *sizes: layout)
    x, k = rng.standard_normal((4, 3, 6, 6)).astype(np.float32), rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    X, K = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    tc.correlate2d(X, K).sum().backward()
    ry, rdk, rdx = reference(x.astype(np.float64), k.astype(np.float64), np.ones((4, 2, 4, 4)), "valid", False)
    assert K.grad.dtype == np.float32 and X.grad.dtype == np.float32
    np.testing.assert_allclose(K.grad, rdk, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(X.grad, rdx, rtol=1e-5, atol=1e-4)


def test_full_width_col2im_is_used_for_large_images(monkeypatch):
    calls = []
    original = conv.Correlate2d._col2im_full_width
    monkeypatch.setattr(conv.Correlate2d, "_col2im_full_width",
                        lambda self, *a: calls.append(1) or original(self, *a))
    monkeypatch.setattr(conv, "_layout", lambda *sizes: "channel_major")
    X = Tensor(rng.standard_normal((2, 3, 12, 11)), requires_grad=True)
    tc.correlate2d(X, rng.standard_normal((4, 3, 2, 2))).sum().backward()
    assert calls  # and test_every_layout_gives_the_seed_values checks its values


def test_layout_is_chosen_by_size():
    assert conv._layout(64, 9, 676) == "sample"  # (a): 1 channel, 3×3
    assert conv._layout(64, 150, 64) == "batch_last"  # (b): 6 channels, 5×5, 8×8 out
    assert conv._layout(32, 288, 900) == "channel_major"  # (c): 32 channels, 30×30 out
