"""The seed notes' worked numbers, computed by the library."""

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor

X = [[1, 6, 2], [5, 3, 1], [7, 0, 4]]
K = [[1, 2], [-1, 0]]


def test_valid_cross_correlation():
    # 1·1 + 6·2 + 5·(−1) + 3·0 = 8, as on the seed's first page
    np.testing.assert_array_equal(tc.correlate2d(X, K).data, [[8, 7], [4, 5]])


def test_full_cross_correlation():
    expected = [[0, -1, -6, -2], [2, 8, 7, 1], [10, 4, 5, -3], [14, 7, 8, 4]]
    np.testing.assert_array_equal(tc.correlate2d(X, K, mode="full").data, expected)


def test_convolution_is_correlation_with_rot180_kernel():
    # rot180(K) = [[0, −1], [2, 1]], the kernel drawn in the seed's convolution example
    np.testing.assert_array_equal(tc.rot180(Tensor(K)).data, [[0, -1], [2, 1]])
    np.testing.assert_array_equal(tc.convolve2d(X, K).data, [[7, 5], [11, 3]])
    np.testing.assert_array_equal(tc.correlate2d(X, tc.rot180(Tensor(K))).data, [[7, 5], [11, 3]])


def test_output_sizes():
    x = np.zeros((7, 9))
    assert tc.correlate2d(x, np.zeros((3, 2))).shape == (7 - 3 + 1, 9 - 2 + 1)
    assert tc.correlate2d(x, np.zeros((3, 2)), mode="full").shape == (7 + 3 - 1, 9 + 2 - 1)


def test_kernel_gradient_worked_by_hand():
    """dE/dk11 = dE/dy11·x11 + dE/dy12·x12 + dE/dy21·x21 + dE/dy22·x22, as the seed derives."""
    x = Tensor(X, requires_grad=True)
    k = Tensor(K, requires_grad=True)
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    tc.correlate2d(x, k).backward(g)
    x_ = np.array(X, float)
    dk11 = g[0, 0] * x_[0, 0] + g[0, 1] * x_[0, 1] + g[1, 0] * x_[1, 0] + g[1, 1] * x_[1, 1]
    dk12 = g[0, 0] * x_[0, 1] + g[0, 1] * x_[0, 2] + g[1, 0] * x_[1, 1] + g[1, 1] * x_[1, 2]
    assert k.grad[0, 0] == dk11 and k.grad[0, 1] == dk12
    np.testing.assert_array_equal(k.grad, tc.correlate2d(x_, g).data)  # dE/dK = X ⋆ dE/dY


def test_input_gradient_worked_by_hand():
    """dE/dx22 = dE/dy11·K22 + dE/dy12·K21 + dE/dy21·K12 + dE/dy22·K11, and dE/dX = dE/dY *full K."""
    x = Tensor(X, requires_grad=True)
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    tc.correlate2d(x, np.array(K, float)).backward(g)
    k_ = np.array(K, float)
    assert x.grad[0, 0] == g[0, 0] * k_[0, 0]
    assert x.grad[1, 1] == g[0, 0] * k_[1, 1] + g[0, 1] * k_[1, 0] + g[1, 0] * k_[0, 1] + g[1, 1] * k_[0, 0]
    assert x.grad[2, 2] == g[1, 1] * k_[1, 1]
    np.testing.assert_array_equal(x.grad, tc.convolve2d(g, k_, mode="full").data)
    np.testing.assert_array_equal(x.grad, tc.correlate2d(g, tc.rot180(Tensor(k_)), mode="full").data)


def test_conv_layer_forward_is_the_seed_sum():
    """Y_i = B_i + Σ_j X_j ⋆ K_ij with 3 inputs and 2 outputs, written out term by term."""
    rng = np.random.default_rng(1)
    x, k, b = rng.standard_normal((3, 5, 5)), rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 4, 4))
    y = (Tensor(b) + tc.correlate2d(x, k)).data
    for i in range(2):
        expected = b[i] + sum(tc.correlate2d(x[j], k[i, j]).data for j in range(3))
        np.testing.assert_allclose(y[i], expected, atol=1e-12)


def test_bce_and_its_derivative():
    p = Tensor([0.9, 0.2, 0.6, 0.3], requires_grad=True)
    t = np.array([1.0, 0.0, 1.0, 0.0])
    e = tc.binary_cross_entropy(p, t)
    pv = p.data
    assert e.item() == pytest.approx(-np.mean(t * np.log(pv) + (1 - t) * np.log(1 - pv)))
    e.backward()
    np.testing.assert_allclose(p.grad, ((1 - t) / (1 - pv) - t / pv) / 4)


def test_sigmoid_derivative_is_s_times_one_minus_s():
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    s = x.sigmoid()
    s.sum().backward()
    np.testing.assert_allclose(x.grad, s.data * (1 - s.data))
    np.testing.assert_allclose(x.grad, np.exp(-x.data) / (1 + np.exp(-x.data)) ** 2)
