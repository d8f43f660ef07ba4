"""conv2d, conv_transpose2d, correlate2d/convolve2d with options, and pooling against
torch.nn.functional in float64: values, first derivatives and second derivatives (the
recorded backward differentiated again), on random configurations to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor

torch = F = None  # imported when these tests run, not at collection: importing torch
# changes the process's allocation pattern, which the memory tests measure


@pytest.fixture(autouse=True)
def _torch():
    global torch, F
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

TOL = dict(rtol=1e-9, atol=1e-9)


def _compare(ours_fn, torch_fn, arrays, rng, second: bool = True):
    """Y, then dE/d(inputs) for a random dE/dY, then the gradient of Σ V·(first
    gradients) with respect to the inputs and to dE/dY: ours and PyTorch's."""
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    ps = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours_fn(*ts), torch_fn(*ps)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL)
    g = rng.standard_normal(y.shape)
    G, tg = Tensor(g, requires_grad=True), torch.tensor(g, requires_grad=True)
    first = tc.grad(y, ts, G, create_graph=second)
    tfirst = torch.autograd.grad(ty, ps, tg, create_graph=second)
    for a, b in zip(first, tfirst):
        np.testing.assert_allclose(a.data, b.detach().numpy(), **TOL)
    if not second:
        return
    vs = [rng.standard_normal(a.shape) for a in arrays]
    s = sum((f * v).sum() for f, v in zip(first, vs))
    ts_ = sum((f * torch.tensor(v)).sum() for f, v in zip(tfirst, vs))
    wrt, twrt = ts + [G], ps + [tg]
    seconds = tc.grad(s, wrt, allow_unused=True)
    tseconds = torch.autograd.grad(ts_, twrt, allow_unused=True)
    for a, b, t in zip(seconds, tseconds, wrt):
        ref = np.zeros(t.shape) if b is None else b.numpy()
        np.testing.assert_allclose(np.zeros(t.shape) if a is None else a.data, ref, **TOL)


def _random_conv(rng):
    """A random conv2d configuration: stride, padding (int, pair, 'valid', 'same'),
    dilation, groups, bias, batched or not."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    style = rng.integers(0, 4)
    if style == 0:
        stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    elif style == 1:
        stride, padding = (int(rng.integers(1, 4)), int(rng.integers(1, 4))), (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    elif style == 2:
        stride, padding = int(rng.integers(1, 3)), "valid"
    else:
        stride, padding = 1, "same"
        kh, kw = (2 * int(v) + 1 for v in rng.integers(0, 2, 2))
    h = dilation[0] * (kh - 1) + 1 + int(rng.integers(0, 5))
    w = dilation[1] * (kw - 1) + 1 + int(rng.integers(0, 5))
    shape = (int(rng.integers(1, 3)), cin, h, w) if rng.random() < 0.8 else (cin, h, w)
    return shape, (cout, cin // groups, kh, kw), dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_matches_torch(seed):
    rng = np.random.default_rng(100 + seed)
    xs, ws, opts = _random_conv(rng)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    if rng.random() < 0.5:
        arrays.append(rng.standard_normal(ws[0]))
    _compare(lambda *t: tc.conv2d(*t, **opts), lambda *t: F.conv2d(*t, **opts), arrays, rng)


@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_matches_torch(seed):
    rng = np.random.default_rng(200 + seed)
    groups = int(rng.choice([1, 2]))
    cin, cout_g = groups * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = (int(rng.integers(0, 2)), int(rng.integers(0, 2)))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    h, w = (int(v) for v in rng.integers(2, 5, 2))
    xs = (int(rng.integers(1, 3)), cin, h, w) if seed % 4 else (cin, h, w)
    size = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip((h, w), stride, dilation, (kh, kw))]
    padding = tuple(p if n - 2 * p >= 1 else 0 for p, n in zip(padding, size))
    opts = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    arrays = [rng.standard_normal(xs), rng.standard_normal((cin, cout_g, kh, kw))]
    if seed % 2:
        arrays.append(rng.standard_normal(cout_g * groups))
    _compare(lambda *t: tc.conv_transpose2d(*t, **opts), lambda *t: F.conv_transpose2d(*t, **opts), arrays, rng)


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
def test_seed_modes_match_torch(mode, flip):
    """correlate2d's modes are conv2d's padding 0, d·(k − 1) and d·(k − 1)/2; convolve2d
    flips the kernel."""
    rng = np.random.default_rng(7)
    x, k = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    pad = {"valid": 0, "full": 2, "same": 1}[mode]
    ours = tc.convolve2d if flip else tc.correlate2d

    def theirs(x, k):
        return F.conv2d(x, torch.flip(k, (-2, -1)) if flip else k, padding=pad)

    _compare(lambda x, k: ours(x, k, mode), theirs, [x, k], rng)


@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
def test_correlate2d_options_match_torch(flip):
    rng = np.random.default_rng(8)
    x, k = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 2))
    opts = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    ours = tc.convolve2d if flip else tc.correlate2d

    def theirs(x, k):
        return F.conv2d(x, torch.flip(k, (-2, -1)) if flip else k, **opts)

    _compare(lambda x, k: ours(x, k, **opts), theirs, [x, k], rng)


def _random_pool(rng):
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = None if rng.random() < 0.3 else (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    padding = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    shape = (2, 3, int(rng.integers(k[0], 9)), int(rng.integers(k[1], 9)))
    return (shape if rng.random() < 0.8 else shape[1:]), dict(kernel_size=k, stride=stride, padding=padding)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(kind, seed):
    rng = np.random.default_rng(300 + seed)
    shape, opts = _random_pool(rng)
    ours, theirs = (tc.max_pool2d, F.max_pool2d) if kind == "max" else (tc.avg_pool2d, F.avg_pool2d)
    _compare(lambda x: ours(x, **opts), lambda x: theirs(x, **opts), [rng.standard_normal(shape)], rng)


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                  dict(kernel_size=(1, 3), stride=1), dict(kernel_size=5, stride=2, padding=2),
                                  dict(kernel_size=(3, 2), stride=(1, 2)), dict(kernel_size=2, stride=3, padding=1)])
def test_max_pool_with_many_ties_matches_torch(opts):
    """Values from {0, 1, 2}: most windows hold several maxima (the knockout over 3, 4, 6,
    9 and 25 offsets keeps the first), values, gradients and second gradients; windows that
    overlap, tile, or leave gaps (stride 3 over 2×2: the scatter writes instead of adding)."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (3, 2, 9, 10)).astype(np.float64)
    _compare(lambda x: tc.max_pool2d(x, **opts), lambda x: F.max_pool2d(x, **opts), [x], rng)


def test_max_pool_ties_match_torch():
    """Equal values in a window: PyTorch sends the gradient to the first one, and so do we."""
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]]]])
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), stride=1)):
        rng = np.random.default_rng(1)
        _compare(lambda x: tc.max_pool2d(x, **opts), lambda x: F.max_pool2d(x, **opts), [x], rng, second=False)


@pytest.mark.parametrize("shape, opts", [((1, 1, 5, 1), dict(kernel_size=(3, 1), stride=1)),
                                         ((1, 1, 2, 2), dict(kernel_size=2)),
                                         ((1, 3, 4), dict(kernel_size=(1, 4))),
                                         ((1, 1, 3, 3), dict(kernel_size=1))])
def test_max_pool_leaves_its_input_alone(shape, opts):
    """A window offset's values can be a contiguous slice of the input itself (one image
    of one channel): the knockout works on copies, so the input keeps its values and the
    output is an array of its own."""
    rng = np.random.default_rng(11)
    x = rng.permutation(np.arange(float(np.prod(shape)))).reshape(shape)
    before = x.copy()
    y = tc.max_pool2d(Tensor(x), **opts)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(y.data, x)
    _compare(lambda x: tc.max_pool2d(x, **opts), lambda x: F.max_pool2d(x, **opts), [before], rng)


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                  dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1))])
def test_max_pool_nans_and_infinities_match_torch(opts):
    """A window with NaNs gives NaN, its gradient to the last NaN (PyTorch's `v > max ||
    isnan(v)`); a window of −inf values that reaches into the padding sends its gradient
    to its first real position, never to the padding."""
    rng = np.random.default_rng(12)
    x = rng.integers(0, 3, (2, 2, 6, 7)).astype(np.float64)
    x[0, 0, rng.random((6, 7)) < 0.3] = np.nan
    x[0, 1, :3] = -np.inf
    x[1, 0] = -np.inf
    x[1, 1, :, ::2] = np.inf
    ts = Tensor(x, requires_grad=True)
    ps = torch.tensor(x, requires_grad=True)
    y, ty = tc.max_pool2d(ts, **opts), F.max_pool2d(ps, **opts)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())  # NaNs in the same places
    assert np.isnan(y.data).any() and np.isneginf(y.data).any()
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ts.grad, ps.grad.numpy(), rtol=1e-12, atol=0)  # zeros in the same places


def test_input_gradient_with_an_infinite_weight_matches_torch():
    """dE/dX on the flat grid would multiply the grid's empty places by the weights
    (0 · inf = NaN); such a kernel takes the shift GEMMs."""
    from tinygrad_cnn.kernels import im2col

    x = np.arange(12.0).reshape(1, 1, 3, 4)
    k = np.array([[[[1.0, np.inf], [2.0, -1.0]]]])
    geo = im2col.Geometry.of(x.shape, k.shape, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert im2col.choose_layout(geo) == "sample" and im2col.col2im_method(geo, "sample", 8) == "flat"
    g = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    X = Tensor(x, requires_grad=True)
    tc.conv2d(X, Tensor(k)).backward(g)
    xt = torch.tensor(x, requires_grad=True)
    F.conv2d(xt, torch.tensor(k)).backward(torch.tensor(g))
    np.testing.assert_array_equal(X.grad, xt.grad.numpy())
    assert not np.isnan(X.grad).any()
