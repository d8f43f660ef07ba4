"""Convolution options and pooling beyond the op table: bad input, max-pool ties, the
recorded backward of a strided layer, LeNet-5 written with the functional ops and tc.nn."""

from __future__ import annotations

import re

import numpy as np
import pytest

import conv_reference as R
import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn

rng = np.random.default_rng(11)


def ones(*shape):
    return np.ones(shape)


BAD = [
    # (call, op, option word, shapes that must appear as tuples)
    (lambda: tc.correlate2d(ones(1, 3, 8, 8), ones(2, 3, 3, 3), "full", padding=1), "correlate2d", "padding",
     [(1, 3, 8, 8), (2, 3, 3, 3)]),
    (lambda: tc.convolve2d(ones(3, 8, 8), ones(2, 3, 3, 3), "same", padding="same"), "convolve2d", "padding",
     [(3, 8, 8), (2, 3, 3, 3)]),
    (lambda: tc.correlate2d(ones(1, 4, 8, 8), ones(6, 2, 3, 3), groups=3), "correlate2d", "groups",
     [(1, 4, 8, 8), (6, 2, 3, 3)]),
    (lambda: tc.conv2d(ones(1, 6, 8, 8), ones(4, 2, 3, 3), groups=3), "conv2d", "groups", [(1, 6, 8, 8), (4, 2, 3, 3)]),
    (lambda: tc.conv_transpose2d(ones(1, 3, 4, 4), ones(3, 2, 3, 3), groups=2), "conv_transpose2d", "groups",
     [(1, 3, 4, 4), (3, 2, 3, 3)]),
    (lambda: tc.correlate2d(ones(1, 1, 4, 4), ones(1, 1, 7, 3), padding=1), "correlate2d", "larger",
     [(1, 1, 4, 4), (1, 1, 7, 3), (6, 6)]),
    (lambda: tc.conv2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), dilation=3), "conv2d", "dilated", [(1, 1, 5, 5), (7, 7)]),
    (lambda: tc.correlate2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), stride=0), "correlate2d", "stride",
     [(1, 1, 5, 5), (1, 1, 3, 3)]),
    (lambda: tc.conv2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), dilation=(1, -1)), "conv2d", "dilation",
     [(1, 1, 5, 5), (1, 1, 3, 3)]),
    (lambda: tc.conv_transpose2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), stride=-2), "conv_transpose2d", "stride",
     [(1, 1, 5, 5), (1, 1, 3, 3)]),
    (lambda: tc.correlate2d(ones(3, 8, 8), ones(2, 3, 2, 2), "same"), "correlate2d", "odd kernel",
     [(3, 8, 8), (2, 3, 2, 2)]),
    (lambda: tc.conv2d(ones(1, 3, 8, 8), ones(2, 3, 3, 3), padding="same", stride=2), "conv2d", "stride 1",
     [(1, 3, 8, 8), (2, 3, 3, 3)]),
    (lambda: tc.conv_transpose2d(ones(1, 2, 4, 4), ones(2, 1, 3, 3), stride=2, output_padding=2),
     "conv_transpose2d", "output_padding", [(1, 2, 4, 4), (2, 1, 3, 3)]),
    (lambda: tc.max_pool2d(ones(1, 2, 3, 3), 6, padding=1), "max_pool2d", "window", [(1, 2, 3, 3), (6, 6), (5, 5)]),
    (lambda: tc.avg_pool2d(ones(2, 3, 3), (4, 2)), "avg_pool2d", "window", [(2, 3, 3), (4, 2)]),
    (lambda: tc.max_pool2d(ones(1, 2, 6, 6), 2, padding=2), "max_pool2d", "padding", [(1, 2, 6, 6), (2, 2)]),
    (lambda: tc.avg_pool2d(ones(1, 1, 6, 6), 2, stride=0), "avg_pool2d", "stride", [(1, 1, 6, 6)]),
    (lambda: tc.max_pool2d(ones(6, 6), 2), "max_pool2d", "(C, H, W)", [(6, 6)]),
]


@pytest.mark.parametrize("call, op, word, shapes", BAD, ids=[f"{b[1]}-{b[2]}" for b in BAD])
def test_bad_input_names_the_op_option_and_shapes(call, op, word, shapes):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(op + ":"), msg
    assert word in msg, msg
    for s in shapes:
        assert str(tuple(s)) in msg, (s, msg)


def test_options_of_the_wrong_type_are_type_errors():
    with pytest.raises(TypeError, match=r"correlate2d: stride must be an int or a pair"):
        tc.correlate2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), stride=1.5)
    with pytest.raises(ValueError, match=r"conv2d: unknown padding 'half'"):
        tc.conv2d(ones(1, 1, 5, 5), ones(1, 1, 3, 3), padding="half")


@pytest.mark.parametrize("bias", [Tensor(np.ones(2)), np.ones(2)], ids=["Tensor", "ndarray"])
def test_bias_in_the_mode_slot_says_how_to_add_it(bias):
    """PyTorch's order `conv2d(x, w, b)` given to correlate2d: the message names conv2d."""
    with pytest.raises(TypeError, match=r"correlate2d: the third argument is the mode.*tc.conv2d\(x, weight, bias\)"):
        tc.correlate2d(ones(1, 1, 5, 5), ones(2, 1, 3, 3), bias)
    with pytest.raises(ValueError, match=r"convolve2d: unknown mode 'same-ish'"):
        tc.convolve2d(ones(1, 1, 5, 5), ones(2, 1, 3, 3), "same-ish")


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    """All four values of each 2×2 window equal: the top-left one takes the gradient."""
    x = Tensor(np.repeat(np.repeat(np.arange(4.0).reshape(1, 1, 2, 2), 2, 2), 2, 3), requires_grad=True)
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    tc.max_pool2d(x, 2).backward(g)
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, ::2, ::2] = g[0, 0]
    np.testing.assert_array_equal(x.grad, expected)
    # overlapping windows with ties: each window's gradient to its own first maximum
    x2 = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 3.0, 1.0, 3.0], [0.0, 2.0, 2.0, 2.0]]]])
    X2 = Tensor(x2, requires_grad=True)
    y = tc.max_pool2d(X2, (2, 3), stride=1, padding=(1, 1))
    g2 = rng.standard_normal(y.shape)
    y.backward(g2)
    np.testing.assert_array_equal(y.data, R.pool(x2, (2, 3), 1, (1, 1)))
    np.testing.assert_allclose(X2.grad, R.max_unpool(g2, x2, (2, 3), 1, (1, 1)))
    assert (X2.grad != 0).sum() <= y.size  # one place per window


def test_max_pool_pads_with_minus_infinity():
    x = -np.ones((1, 1, 3, 3)) * np.arange(1, 10).reshape(3, 3)
    y = tc.max_pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(y.data[0, 0], R.pool(x, 3, 1, 1)[0, 0])
    assert y.data.max() < 0  # a zero padding would have won every window


def test_strided_layer_gradient_graph_is_made_of_conv_ops():
    """Under create_graph the strided layer's dX is a conv_transpose2d and its dK a
    correlate2d of X with dY as the kernel (dilation = the stride); both differentiate again."""
    x = Tensor(rng.standard_normal((2, 3, 7, 7)), requires_grad=True)
    k = Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = tc.correlate2d(x, k, stride=2, padding=1)
    g = rng.standard_normal(y.shape)
    dx, dk = tc.grad(y, [x, k], g, create_graph=True)
    assert dx.op == "conv_transpose2d" and dx._ctx.stride == (2, 2)
    ops = set()
    stack = [dk]
    while stack:
        t = stack.pop()
        ops.add(t.op)
        if t.op == "correlate2d":
            assert t._ctx.dilation == (2, 2)  # dil_s(dE/dY)
        stack.extend(t.parents)
    assert "correlate2d" in ops
    assert tc.gradgradcheck(lambda x, k: tc.correlate2d(x, k, stride=2, padding=1), [
        Tensor(rng.standard_normal((1, 2, 5, 5)), requires_grad=True),
        Tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)])
    lines = y._ctx.applied_formulas()
    assert "dil_s(dE/dY_i)" in lines[1] and "dil_s(dE/dY_i)" in lines[2]


def test_seed_mode_and_padding_agree():
    x, k = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 3, 3, 3))
    for mode, pad in (("valid", 0), ("full", 2), ("same", 1)):
        np.testing.assert_allclose(tc.correlate2d(x, k, mode).data, tc.correlate2d(x, k, padding=pad).data)
        np.testing.assert_allclose(tc.correlate2d(x, k, padding=mode).data, R.conv2d(x, k, padding=pad), atol=1e-12)
    y = Tensor(x).correlate2d(k, stride=2, padding=1)  # the Tensor method takes the options too
    np.testing.assert_allclose(y.data, R.conv2d(x, k, stride=2, padding=1), atol=1e-12)


# ----- LeNet-5 --------------------------------------------------------------------------------
def lenet_params(dtype=np.float64):
    r = np.random.default_rng(3)

    def u(*shape):
        return r.uniform(-0.3, 0.3, shape).astype(dtype)

    return {"c1.w": u(6, 1, 5, 5), "c1.b": u(6), "c2.w": u(16, 6, 5, 5), "c2.b": u(16), "f1.w": u(120, 400),
            "f1.b": u(120), "f2.w": u(84, 120), "f2.b": u(84), "f3.w": u(10, 84), "f3.b": u(10)}


def lenet(x, p):
    """LeNet-5 on 28×28 digits with the functional ops: conv 5×5 (padding 2), pool, conv,
    pool, three linear layers."""
    h = tc.max_pool2d(tc.relu(tc.conv2d(x, p["c1.w"], p["c1.b"], padding=2)), 2)
    h = tc.avg_pool2d(tc.relu(tc.conv2d(h, p["c2.w"], p["c2.b"])), 2)
    h = h.reshape(h.shape[0], 400)
    h = tc.relu(h @ p["f1.w"].T + p["f1.b"])
    h = tc.relu(h @ p["f2.w"].T + p["f2.b"])
    return h @ p["f3.w"].T + p["f3.b"]


def test_lenet5_forward_and_backward_match_the_loops():
    """Forward against the explicit loops; every parameter's gradient against central
    differences in a few random directions."""
    arrays = lenet_params()
    params = {k: Tensor(v, requires_grad=True) for k, v in arrays.items()}
    x = rng.standard_normal((2, 1, 28, 28))
    labels = np.array([3, 7])
    loss = tc.cross_entropy(lenet(Tensor(x), params), labels)
    loss.backward()

    def ref_loss(p):
        h = np.maximum(R.conv2d(x, p["c1.w"], p["c1.b"], padding=2), 0)
        h = R.pool(h, 2)
        h = R.pool(np.maximum(R.conv2d(h, p["c2.w"], p["c2.b"]), 0), 2, kind="avg").reshape(2, 400)
        h = np.maximum(h @ p["f1.w"].T + p["f1.b"], 0)
        h = np.maximum(h @ p["f2.w"].T + p["f2.b"], 0)
        z = h @ p["f3.w"].T + p["f3.b"]
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(2), labels]))

    assert loss.item() == pytest.approx(ref_loss(arrays), rel=1e-12)
    eps = 1e-6
    for _ in range(3):
        v = {k: rng.standard_normal(a.shape) for k, a in arrays.items()}
        plus = ref_loss({k: a + eps * v[k] for k, a in arrays.items()})
        minus = ref_loss({k: a - eps * v[k] for k, a in arrays.items()})
        analytic = sum(float((params[k].grad * v[k]).sum()) for k in arrays)
        assert analytic == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)


def test_lenet5_with_tc_nn_trains_and_matches_the_functional_form():
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, dtype=np.float64), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120, dtype=np.float64), nn.ReLU(), nn.Linear(120, 84, dtype=np.float64),
        nn.ReLU(), nn.Linear(84, 10, dtype=np.float64),
    )
    arrays = lenet_params()
    names = ["c1.w", "c1.b", "c2.w", "c2.b", "f1.w", "f1.b", "f2.w", "f2.b", "f3.w", "f3.b"]
    for p, name in zip(model.parameters(), names):
        p.data[...] = arrays[name]
    x = rng.standard_normal((4, 1, 28, 28))
    np.testing.assert_allclose(model(x).data, lenet(Tensor(x), arrays).data, atol=1e-12)
    assert "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))" in repr(model)
    labels = np.array([0, 1, 2, 3])
    opt = tc.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = tc.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_nn_layers_hold_their_options():
    conv = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2, bias=False)
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias is None
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    y = conv(x)
    np.testing.assert_allclose(y.data, R.conv2d(x.astype(np.float64), conv.weight.data.astype(np.float64), stride=2,
                                                padding=1, dilation=(1, 2), groups=2), rtol=1e-5, atol=1e-5)
    assert re.search(r"groups=2", repr(conv))
    with pytest.raises(ValueError, match=r"Conv2d: groups=4"):
        nn.Conv2d(6, 6, 3, groups=4)
    np.testing.assert_allclose(nn.MaxPool2d(3, 2, 1)(x).data, R.pool(x, 3, 2, 1))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).data, R.pool(x, 2, kind="avg"), rtol=1e-6)


def test_malloc_tuning_is_a_visible_step_at_import_that_can_be_turned_off():
    import os
    import subprocess
    import sys

    code = "import tinygrad_cnn as tc; print(tc.kernels.MALLOC_TUNED)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    off = subprocess.run([sys.executable, "-c", code], env=dict(env, TINYGRAD_CNN_MALLOPT="0"),
                         capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "False"
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    import platform

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert on.stdout.strip() == str(glibc)
