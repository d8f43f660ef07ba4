"""detect_anomaly: NaN/Inf in a forward or a backward raises FloatingPointError naming
the op and the line of user code that created it; off by default and free when off."""

from __future__ import annotations

import gc
import inspect
import warnings
import weakref

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn import function as tensor_module
from tinygrad_cnn.anomaly import is_anomaly_enabled

HERE = __file__


def _next_line() -> int:
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1


def test_off_by_default_and_records_nothing():
    assert tensor_module._anomaly_hook is None and not is_anomaly_enabled()
    y = Tensor([1.0, 2.0], requires_grad=True).log()
    assert not hasattr(y._ctx, "_anomaly_site")


def test_log_of_zero_outside_is_minus_inf_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = tc.log(Tensor([0.0, 1.0]))
    assert y.data[0] == -np.inf and y.data[1] == 0.0


def test_log_of_zero_inside_names_op_and_user_line():
    x = Tensor([1.0, 0.0, 2.0], requires_grad=True)
    with pytest.raises(FloatingPointError) as info:
        with tc.detect_anomaly():
            line = _next_line()
            x.log()
    msg = str(info.value)
    assert "log produced -inf (1 of 3 values)" in msg
    assert f"{HERE}:{line} in test_log_of_zero_inside_names_op_and_user_line" in msg
    assert "x.log()" in msg  # the source line is quoted
    assert tensor_module._anomaly_hook is None  # the exception restored the mode


def test_nan_forward_under_no_grad():
    with tc.no_grad(), tc.detect_anomaly(), pytest.raises(FloatingPointError, match=r"log produced nan \(1 of 2"):
        tc.log(Tensor([-1.0, 1.0]))


def test_overflow_in_matmul_forward():
    a = Tensor(np.full((2, 2), 1e200))
    with tc.detect_anomaly(), np.errstate(over="ignore"), pytest.raises(FloatingPointError, match="matmul produced inf"):
        a @ a


def test_non_finite_input_is_reported_as_such():
    x = Tensor([np.nan, 1.0], requires_grad=True)
    with tc.detect_anomaly(), pytest.raises(FloatingPointError, match=r"its input 0 of shape \(2,\) already held"):
        x * 2


def test_backward_anomaly_blames_the_op_and_its_forward_line():
    x = Tensor([0.0, 1.0, 4.0], requires_grad=True)
    with tc.detect_anomaly():
        line = _next_line()
        y = (x**0.5).sum()  # finite forward; d√x/dx = inf at 0
        with np.errstate(divide="ignore"), pytest.raises(FloatingPointError) as info:
            y.backward()
    msg = str(info.value)
    assert "the backward of pow produced inf (1 of 3 values) in the gradient for input 0 of shape (3,)" in msg
    assert f"{HERE}:{line}" in msg


def test_backward_anomaly_in_conv_fast_path():
    x = Tensor(np.full((1, 1, 3, 3), 1e300), requires_grad=True)
    k = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    with tc.detect_anomaly():
        y = tc.correlate2d(x, k * 1e-10)  # finite: 4e290
        with np.errstate(over="ignore"), pytest.raises(FloatingPointError, match="backward of correlate2d produced inf.*input 1"):
            y.backward(np.full((1, 1, 2, 2), 1e300))


def test_backward_of_op_created_outside_says_so():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = (x**0.5).sum()
    with tc.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="unknown place"):
        y.backward()


def test_backward_through_clamped_infinities_is_not_an_anomaly():
    """BCE's backward takes log 0 = -inf on its way to a clamped, finite gradient."""
    p = Tensor([0.0, 1.0, 0.5], requires_grad=True)
    t = Tensor([1.0, 0.0, 1.0], requires_grad=True)
    with tc.detect_anomaly():
        loss = tc.bce(p, t)
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(p.grad)) and np.all(np.isfinite(t.grad))


def test_create_graph_backward_is_checked_too():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with tc.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="backward of pow"):
        tc.grad((x**0.5).sum(), x, create_graph=True)


def test_nesting_reentry_and_restore():
    outer = tc.detect_anomaly()
    with outer:
        assert is_anomaly_enabled()
        with tc.detect_anomaly(False):
            assert not is_anomaly_enabled()
            assert tc.log(Tensor([0.0])).data[0] == -np.inf  # off inside: no error
            with outer:  # the same object, re-entered
                assert is_anomaly_enabled()
                with pytest.raises(FloatingPointError):
                    tc.log(Tensor([0.0]))
                assert is_anomaly_enabled()
            assert not is_anomaly_enabled()
        assert is_anomaly_enabled()
        with pytest.raises(RuntimeError):
            with tc.detect_anomaly(False):
                raise RuntimeError("user error")
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()


def test_as_decorator():
    @tc.detect_anomaly()
    def f(x: Tensor) -> Tensor:
        return x.log()

    with pytest.raises(FloatingPointError):
        f(Tensor([0.0]))
    assert not is_anomaly_enabled()
    assert f(Tensor([1.0])).data[0] == 0.0


def test_site_is_user_code_for_ops_built_inside_the_package():
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    with tc.detect_anomaly():
        line = _next_line()
        loss = tc.cross_entropy(logits, [0, 2])
    sites, stack = set(), [loss]
    while stack:
        t = stack.pop()
        if t._ctx is not None:
            sites.add(t._ctx._anomaly_site[:2])
            stack.extend(t.parents)
    assert sites == {(HERE, line)}


def test_graph_under_anomaly_mode_is_freed_by_refcount():
    gc.disable()
    try:
        with tc.detect_anomaly():
            x = Tensor(np.ones((2, 3)), requires_grad=True)
            h = (x * 2).sigmoid()
            loss = h.sum()
            loss.backward()
        ref = weakref.ref(h)
        del h, loss
        assert ref() is None
    finally:
        gc.enable()


def test_a_clean_training_step_passes_and_matches_the_unchecked_one():
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 1, 3, 3))

    def step() -> np.ndarray:
        K = Tensor(k.copy(), requires_grad=True)
        tc.bce(tc.correlate2d(Tensor(x), K).sigmoid().mean(axis=(1, 2, 3)), np.array([0.0, 1.0])).backward()
        return K.grad

    with tc.detect_anomaly():
        checked = step()
    np.testing.assert_array_equal(checked, step())
