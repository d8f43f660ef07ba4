"""Optimizers against updates computed by hand from PyTorch's documented rules."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_cnn import Tensor, optim


def param(values, grad=None, dtype=np.float64):
    p = Tensor(np.array(values, dtype=dtype), requires_grad=True)
    p.grad = None if grad is None else np.array(grad, dtype=dtype)
    return p


def test_sgd_one_step_by_hand():
    p = param([1.0, -2.0, 3.0], [0.5, -1.0, 2.0])
    data = p.data
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, -1.9, 2.8], rtol=1e-15)
    assert p.data is data  # in place


def test_sgd_momentum_three_steps_by_hand():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    grads = [[1.0, -1.0], [2.0, 0.0], [-1.0, 4.0]]
    # v1 = g1;  v2 = 0.9 v1 + g2;  v3 = 0.9 v2 + g3;  p -= 0.1 v each step
    v1 = np.array([1.0, -1.0])
    v2 = 0.9 * v1 + [2.0, 0.0]  # [2.9, -0.9]
    v3 = 0.9 * v2 + [-1.0, 4.0]  # [1.61, 3.19]
    expected = [np.array([1.0, 2.0]) - 0.1 * v1]
    expected.append(expected[-1] - 0.1 * v2)
    expected.append(expected[-1] - 0.1 * v3)
    for g, e in zip(grads, expected):
        p.grad = np.array(g)
        opt.step()
        np.testing.assert_allclose(p.data, e, rtol=1e-14)
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * (1 + 2.9 + 1.61), 2.0 - 0.1 * (-1 - 0.9 + 3.19)], rtol=1e-14)


def test_adam_two_steps_by_hand():
    p = param([1.0, -1.0])
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    # step 1, g = [0.5, -2]: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², update = lr·g/(|g| + eps) ≈ lr·sign(g)
    p.grad = np.array([0.5, -2.0])
    opt.step()
    step1 = np.array([1.0 - lr * 0.5 / (0.5 + eps), -1.0 + lr * 2.0 / (2.0 + eps)])
    np.testing.assert_allclose(p.data, step1, rtol=1e-14)
    # step 2, g = [1, 1]
    p.grad = np.array([1.0, 1.0])
    opt.step()
    m = 0.9 * np.array([0.05, -0.2]) + 0.1 * np.array([1.0, 1.0])  # [0.145, -0.08]
    v = 0.999 * np.array([0.00025, 0.004]) + 0.001 * np.array([1.0, 1.0])  # [0.00124975, 0.004996]
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    np.testing.assert_allclose(p.data, step1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-12)
    # the literal numbers, so the reference above cannot share a mistake with the code
    np.testing.assert_allclose(p.data, [0.99 - 0.01 * 0.7631578947 / 0.7906880509, -0.99 + 0.01 * 0.4210526316 / 1.5809015228], rtol=1e-9)


def test_params_without_grad_are_skipped_and_keep_their_state():
    a, b = param([1.0], [1.0]), param([5.0])
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert b.data[0] == 5.0 and opt.t == [1, 0]
    sgd = optim.SGD([b], lr=0.1, momentum=0.5)
    sgd.step()
    assert b.data[0] == 5.0


def test_float32_stays_float32():
    p = param([1.0, 2.0], [0.1, 0.2], dtype=np.float32)
    optim.SGD([p], lr=0.5, momentum=0.9).step()
    q = param([1.0, 2.0], [0.1, 0.2], dtype=np.float32)
    optim.Adam([q]).step()
    assert p.dtype == np.float32 and q.dtype == np.float32


def test_zero_grad_clears_grads():
    a, b = param([1.0], [1.0]), param([2.0], [3.0])
    opt = optim.SGD([a, b], lr=0.1)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([param([1.0])], lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([param([1.0])], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([param([1.0])], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="parameter 0"):
        optim.Adam([np.zeros(3)])


def test_generator_of_parameters_is_accepted():
    ps = [param([1.0], [1.0]), param([2.0], [1.0])]
    opt = optim.SGD((p for p in ps), lr=1.0)
    opt.step()
    assert [p.data[0] for p in ps] == [0.0, 1.0]
