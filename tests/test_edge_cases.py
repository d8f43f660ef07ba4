"""Numerical edge cases: saturated sigmoids, probabilities of exactly 0 and 1, log 0,
float32 end to end, and empty or size-1 dimensions wherever they are legal."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
from scipy import signal

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn, optim

DTYPES = [np.float32, np.float64]


@contextmanager
def strict() -> Iterator[None]:
    """Every numpy floating-point event that warns by default (overflow, invalid value,
    divide by zero) becomes an error, and so does any warning at all. Underflow stays
    quiet, as numpy's default: e^-1000 rounding to 0 is the exact answer."""
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


# ----- sigmoid at ±1000 -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_without_overflow(dtype):
    x = Tensor(np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype), requires_grad=True)
    with strict():
        y = x.sigmoid()
        y.backward(np.ones(7, dtype))
    assert y.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    assert y.data[0] == 0.0 and y.data[-1] == 1.0 and y.data[3] == 0.5
    ref = 1 / (1 + np.exp(-np.array([-30.0, 30.0])))
    np.testing.assert_allclose(y.data[[2, 4]], ref, rtol=1e-6)
    assert x.grad[0] == 0.0 and x.grad[-1] == 0.0 and x.grad[3] == 0.25


def test_sigmoid_is_the_two_sided_formula_everywhere():
    """1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, each in Python's math, over ±800:
    equal to the last bit or two, and tiny values keep their relative precision."""
    xs = np.concatenate([np.linspace(-800.0, 800.0, 4001), [-0.0, 1e-300, -1e-300, -745.0]])
    ref = np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in xs])
    np.testing.assert_allclose(tc.sigmoid(xs).data, ref, rtol=4e-16, atol=0)


def test_the_naive_sigmoid_would_have_overflowed():
    """The check above can fail: 1/(1+e^-x) at x = -1000 raises under the same rules."""
    with strict(), pytest.raises(FloatingPointError, match="overflow"):
        1 / (1 + np.exp(-np.array([-1000.0])))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_and_tanh_at_1000(dtype):
    z = Tensor(np.array([[1000.0, 0.0, -1000.0]], dtype), requires_grad=True)
    with strict():
        loss = tc.cross_entropy(z, [2])  # confidently wrong by 2000
        loss.backward()
        soft = tc.softmax(z.detach()).data
        t = Tensor(np.array([-1000.0, 1000.0], dtype), requires_grad=True)
        t.tanh().sum().backward()
    assert loss.item() == pytest.approx(2000.0) and loss.dtype == dtype
    np.testing.assert_allclose(z.grad, [[1.0, 0.0, -1.0]], atol=1e-6)
    np.testing.assert_array_equal(soft, [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(t.grad, [0.0, 0.0])


# ----- BCE at p = 0 and 1 ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_right_at_the_edges_costs_nothing(dtype):
    p = Tensor(np.array([0.0, 1.0], dtype), requires_grad=True)
    with strict():
        loss = tc.bce(p, np.array([0.0, 1.0]))
        loss.backward()
    assert loss.item() == 0.0 and loss.dtype == dtype
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction, expected", [("mean", 100.0), ("sum", 200.0), ("none", [100.0, 100.0])])
def test_bce_confidently_wrong_costs_100_per_element_as_pytorch(dtype, reduction, expected):
    """PyTorch clamps log at -100, so p = 0 with t = 1 costs exactly 100, and its
    gradient is (p - t) / max(p(1 - p), 1e-12): finite, huge and pointing the right way."""
    p = Tensor(np.array([0.0, 1.0], dtype), requires_grad=True)
    t = Tensor(np.array([1.0, 0.0], dtype), requires_grad=True)
    with strict():
        loss = tc.bce(p, t, reduction=reduction)
        loss.backward(None if reduction != "none" else np.ones(2, dtype))
    np.testing.assert_allclose(loss.data, expected, rtol=1e-6)
    n = 2 if reduction == "mean" else 1
    np.testing.assert_allclose(p.grad, np.array([-1e12, 1e12]) / n, rtol=1e-6)
    # dE/dT = -(log p - log(1 - p)) with both logs clamped at -100
    np.testing.assert_allclose(t.grad, np.array([100.0, -100.0]) / n, rtol=1e-6)
    assert loss.dtype == p.grad.dtype == t.grad.dtype == dtype


def test_bce_after_a_saturated_sigmoid_trains_the_right_way():
    w = Tensor(np.array([1.0]), requires_grad=True)
    with strict():
        loss = tc.bce((w * 1000.0).sigmoid(), np.array([0.0]))  # σ(1000) = 1, target 0
        loss.backward()
    assert loss.item() == pytest.approx(100.0)
    assert np.isfinite(w.grad).all()  # σ' = 0 there: the gradient vanishes, it doesn't explode


# ----- log 0 ----------------------------------------------------------------------------------
def test_log_of_zero_outside_detect_anomaly_is_minus_inf_silently():
    with strict():
        y = tc.log(Tensor([0.0, 1.0]))
    np.testing.assert_array_equal(y.data, [-np.inf, 0.0])


def test_log_of_zero_under_detect_anomaly_raises_naming_log_and_this_line():
    with tc.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        tc.log(Tensor([0.0, 1.0]))
    assert "log produced -inf" in str(info.value)
    assert f"{__file__}:{info.tb.tb_lineno}" in str(info.value)


# ----- float32 throughout ----------------------------------------------------------------------
@pytest.mark.parametrize("make_opt", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)],
                         ids=["sgd", "adam"])
def test_float32_throughout_a_training_step(make_opt):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.Sigmoid(), nn.Flatten(), nn.Linear(2 * 4 * 4, 1, rng=rng),
                          nn.Sigmoid())
    opt = make_opt(model.parameters())
    x = rng.standard_normal((3, 1, 6, 6))  # float64 data: the model casts it to its own dtype
    y = np.array([[0.0], [1.0], [1.0]])
    opt.zero_grad()
    loss = tc.bce(model(x), y) + 0.5 * (model[0].weight ** 2).mean() * np.float32(1e-3)
    loss.backward()
    opt.step()
    seen, stack = [], [loss]
    while stack:
        t = stack.pop()
        seen.append(t)
        stack.extend(t.parents)
    assert {t.dtype for t in seen} == {np.dtype(np.float32)}, {(t.op, t.dtype) for t in seen}
    assert all(t.grad is None or t.grad.dtype == np.float32 for t in seen)
    for name, p in model.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name
    assert all(v.dtype == np.float32 for v in getattr(opt, "m", getattr(opt, "velocity", [])) if v is not None)


def test_numpy_float32_scalars_keep_float32():
    """Bug fixed: Tensor(np.float32(2)) used to become float64 (only arrays kept their
    dtype), so `t32 * x32.sum()` silently promoted a float32 model to float64."""
    x = np.ones(3, np.float32)
    assert Tensor(np.float32(2.0)).dtype == np.float32
    assert Tensor(np.float64(2.0)).dtype == np.float64
    t = Tensor(x, requires_grad=True)
    y = t * x.sum() + np.float32(1.0)
    y.sum().backward()
    assert y.dtype == np.float32 and t.grad.dtype == np.float32
    np.testing.assert_array_equal(t.grad, [3.0, 3.0, 3.0])


def test_float32_tensor_and_python_numbers_stay_float32():
    t = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    y = ((2.5 * t - 1) / 3 + 1.0) ** 2
    assert y.dtype == np.float32
    y.mean().backward()
    assert t.grad.dtype == np.float32


# ----- empty and size-1 dimensions -------------------------------------------------------------
@pytest.mark.parametrize("flip", [False, True])
def test_one_by_one_kernel_is_a_channel_mix(flip):
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 3, 1, 1))
    op = tc.convolve2d if flip else tc.correlate2d
    y = op(x, k)
    np.testing.assert_allclose(y.data, np.einsum("ncij,oc->noij", x, k[:, :, 0, 0]), atol=1e-12)
    assert tc.gradcheck(op, [Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)])


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_single_pixel_single_sample_single_channel(mode):
    """N = C_in = C_out = 1 and a 1×1 image: valid mode needs a 1×1 kernel, full mode
    with a 3×3 kernel gives x·rot180(K)."""
    k = np.arange(1.0, 10.0).reshape(1, 1, 3, 3) if mode == "full" else np.array([[[[2.0]]]])
    x = Tensor(np.array([[[[1.5]]]]), requires_grad=True)
    K = Tensor(k, requires_grad=True)
    y = tc.correlate2d(x, K, mode)
    np.testing.assert_allclose(y.data[0, 0], signal.correlate2d([[1.5]], k[0, 0], mode))
    assert tc.gradcheck(lambda a, b: tc.correlate2d(a, b, mode), [x, K])


def test_kernel_as_large_as_the_input_gives_one_pixel():
    rng = np.random.default_rng(2)
    x, k = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((5, 2, 3, 4))
    y = tc.correlate2d(x, k)
    assert y.shape == (1, 5, 1, 1)
    np.testing.assert_allclose(y.data[0, :, 0, 0], np.einsum("chw,ochw->o", x[0], k))


def test_empty_batch_through_conv_and_backward():
    X = Tensor(np.zeros((0, 2, 5, 5)), requires_grad=True)
    K = Tensor(np.ones((3, 2, 2, 2)), requires_grad=True)
    y = tc.correlate2d(X, K)
    assert y.shape == (0, 3, 4, 4)
    y.sum().backward()
    assert X.grad.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(K.grad, np.zeros((3, 2, 2, 2)))


def test_empty_batch_through_a_model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=np.random.default_rng(0)), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 1, rng=np.random.default_rng(1)))
    out = model(np.zeros((0, 1, 5, 5), np.float32))
    assert out.shape == (0, 1) and out.dtype == np.float32
    out.sum().backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_zero_channels_sum_to_zero():
    X = Tensor(np.zeros((2, 0, 4, 4)), requires_grad=True)
    K = Tensor(np.zeros((3, 0, 2, 2)), requires_grad=True)
    y = tc.correlate2d(X, K)
    np.testing.assert_array_equal(y.data, np.zeros((2, 3, 3, 3)))
    y.backward(np.ones(y.shape))
    assert X.grad.shape == (2, 0, 4, 4) and K.grad.shape == (3, 0, 2, 2)


def test_sum_over_empty_is_zero_and_its_gradient_empty():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    s = x.sum()
    s.backward()
    assert s.item() == 0.0 and x.grad.shape == (0, 3)
    x.grad = None
    s0 = x.sum(axis=0)
    np.testing.assert_array_equal(s0.data, np.zeros(3))
    s0.backward(np.ones(3))
    assert x.grad.shape == (0, 3)


def test_gradcheck_accepts_empty_inputs():
    """Bug fixed: the numerical Jacobian of an empty input was (0, 0) instead of
    (outputs, 0), so gradcheck reported a shape mismatch."""
    assert tc.gradcheck(lambda x: x.sum(), [Tensor(np.zeros((0, 3)), requires_grad=True)])
    np.testing.assert_array_equal(tc.numerical_grad(lambda x: x.sum(), [Tensor(np.zeros((0, 3)))])[0], np.zeros((0, 3)))


def test_mean_over_empty_is_nan_as_numpy():
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(Tensor(np.zeros(0)).mean().item()) and np.isnan(np.zeros(0).mean())


def test_matmul_with_empty_inner_dimension_is_zeros():
    a, b = Tensor(np.ones((2, 0)), requires_grad=True), Tensor(np.ones((0, 3)), requires_grad=True)
    y = a @ b
    np.testing.assert_array_equal(y.data, np.zeros((2, 3)))
    y.backward(np.ones((2, 3)))
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)


def test_size_one_and_zero_d_tensors():
    x = Tensor(3.0, requires_grad=True)  # 0-d
    (x * x).backward()
    assert x.grad.shape == () and x.grad == 6.0
    y = Tensor(np.full((1, 1, 1), 2.0), requires_grad=True)  # size 1: backward needs no grad argument
    (y**3).backward()
    np.testing.assert_array_equal(y.grad, np.full((1, 1, 1), 12.0))
    z = Tensor(np.ones((1, 3)), requires_grad=True)
    (z + np.ones((4, 1))).sum().backward()  # size-1 axes on both sides broadcast and sum back
    np.testing.assert_array_equal(z.grad, np.full((1, 3), 4.0))


def test_empty_bce_sum_is_zero():
    assert tc.bce(Tensor(np.zeros(0)), np.zeros(0), reduction="sum").item() == 0.0


def test_flatten_and_reshape_layers_take_an_empty_batch():
    """Bug fixed: both passed -1 to reshape, which numpy cannot resolve for N = 0."""
    x = Tensor(np.zeros((0, 2, 3, 4)))
    assert nn.Flatten()(x).shape == (0, 24)
    assert nn.Reshape(-1, 4)(x).shape == (0, 6, 4)
    assert nn.Reshape(4, 6)(x).shape == (0, 4, 6)


def test_log_at_zero_is_silent_in_forward_and_backward():
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.log()
        y.backward(np.array([1.0, 1.0]))
    assert y.data[0] == -np.inf and x.grad[0] == np.inf and x.grad[1] == 1.0


def test_clip_bounds_broadcast_to_the_input_or_are_refused():
    """Per-element bounds (arrays, constant Tensors) as torch.clamp's; a bound that would
    widen the result, requires grad, or is not numeric is refused, naming clip."""
    x = Tensor(np.linspace(-2.0, 2.0, 4), requires_grad=True)
    lo, hi = np.array([-1.0, 0.0, 0.5, 3.0]), np.array([[0.0], [1.0]])
    y = tc.clip(x.reshape(1, 4) + tc.zeros(2, 4), lo, hi)
    np.testing.assert_allclose(y.data, np.minimum(np.maximum(np.tile(x.data, (2, 1)), lo), hi))
    y.backward(np.arange(1.0, 9.0).reshape(2, 4))
    inside = (np.tile(x.data, (2, 1)) >= lo) & (np.tile(x.data, (2, 1)) <= hi)
    np.testing.assert_allclose(x.grad, (np.arange(1.0, 9.0).reshape(2, 4) * inside).sum(0))
    assert tc.clip(Tensor(np.ones(3, np.float32)), np.zeros(3), 0.5).dtype == np.float32
    np.testing.assert_array_equal(x.clip(Tensor(np.zeros(4))).data, np.maximum(x.data, 0.0))
    with pytest.raises(ValueError, match=r"clip: min of shape \(3, 4\) does not broadcast to the input's shape \(4,\)"):
        x.clip(np.zeros((3, 4)), 1.0)
    with pytest.raises(TypeError, match="clip: the max bound requires grad"):
        x.clip(None, Tensor(np.ones(4), requires_grad=True))
    with pytest.raises(TypeError, match="clip: min must be a number"):
        x.clip("0")


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.int32])
def test_var_and_std_of_ints_and_bools_are_numpys(dtype):
    """n − c is counted in float64 for a non-float input (a bool dtype would make it 1)."""
    x = np.array([[1, 0, 2, 3], [0, 2, 3, 1]]).astype(dtype)
    for correction in (0, 1):
        np.testing.assert_allclose(Tensor(x).var(1, correction=correction).data, np.var(x, 1, ddof=correction))
        np.testing.assert_allclose(Tensor(x).std(correction=correction).data, np.std(x, ddof=correction))


def test_std_gradient_is_zero_where_constant_and_nan_where_undefined():
    """As PyTorch: a constant group's gradient is 0; one sample with the default correction
    has a NaN std, and NaN flows back."""
    x = Tensor(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]), requires_grad=True)
    x.std(axis=1).backward(np.ones(2))
    assert np.all(x.grad[0] == 0) and np.all(np.isfinite(x.grad[1]))
    one = Tensor(np.array([[5.0]]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = one.std(axis=1)
        y.backward(np.ones(1))
    assert np.isnan(y.data).all() and np.isnan(one.grad).all()
