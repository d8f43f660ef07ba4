"""`kernels.select`: np.where(cond, a, 0) by bit masks, which the backward formulas'
selections against zero (formula.where) and max pooling use; it must equal numpy's
selection bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_cnn.kernels import select


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_select_is_where_bit_for_bit(dtype):
    a = np.array([1.5, -0.0, 0.0, np.inf, -np.inf, np.nan, -2.25, 6e4], dtype)
    cond = np.array([True, True, False, True, False, True, False, True])
    got = select(cond, a)
    assert got.dtype == dtype and got.shape == a.shape
    assert got.tobytes() == np.where(cond, a, dtype(0)).tobytes()  # −0.0 and NaN's bits kept


def test_select_broadcasts_and_reads_any_strides():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 6)).astype(np.float32)[:, ::2]  # strided
    cond = rng.random((4, 1)) > 0.5  # broadcast along the rows
    np.testing.assert_array_equal(select(cond, a), np.where(cond, a, 0))
    b = np.broadcast_to(np.float64(3.0), (2, 3))  # a zero-stride, read-only gradient
    mask = np.array([[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(select(mask, b), [[3, 0, 3], [0, 3, 0]])
    assert select(np.bool_(True), np.float32(2.5)) == np.float32(2.5)  # 0-d, as numpy hands back
    assert select(np.array(False), np.array(2.5)) == 0.0


def test_relu_gradient_is_a_selection_not_a_product():
    """inf in dE/dY outside the mask stays out (a product would make 0·inf = NaN)."""
    import tinygrad_cnn as tc

    x = tc.Tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    x.relu().backward(np.array([np.inf, 1.0, np.nan, -np.inf]))
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0, -np.inf])


def test_formula_where_against_zero_is_where_bit_for_bit():
    """Backward formulas' where(c, g, 0.0) and where(c, 0.0, g) take the bit masks; −0.0
    (whose sign np.where keeps) and non-bool conditions take np.where."""
    from tinygrad_cnn.ops import formula as F

    g = np.array([1.5, -0.0, np.inf, np.nan, -2.0], np.float32)
    c = np.array([True, False, True, False, True])
    for a, b, cond in [(g, 0.0, c), (0.0, g, c), (g, 0, c), (g, -0.0, c), (g, 0.0, c.astype(np.int64))]:
        got = F.where(cond, a, b)
        want = np.where(cond, a, b).astype(np.float32)
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_select_wants_a_bool_condition():
    """Another integer type would be read as bytes, not as truth values: refused."""
    a = np.arange(1.0, 9.0).reshape(2, 4)
    for cond in (np.array([[1], [0]], np.int32), np.array([1, 0, 2, 0], np.int8)):
        with pytest.raises(TypeError, match=r"select: the condition must be a bool array, got int"):
            select(cond, a)


@pytest.mark.parametrize("dtype", [np.longdouble, np.complex64, np.complex128, np.int16, np.uint8, np.bool_])
def test_select_of_other_kinds_is_where(dtype):
    """Long doubles and complex numbers (no integer of their width) go to np.where."""
    a = np.array([3, 1, 0, 7, 2, 5], dtype)
    cond = np.array([True, False, True, True, False, True])
    got = select(cond, a)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, np.where(cond, a, 0))
