"""Tensor expressions beyond the op table: bad input, integer and bool tensors,
comparisons and hashing, factories, dtype conversions, 0-d reductions, and a small
attention block (indexing, cat, softmax, matmul) through gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor

rng = np.random.default_rng(14)


# ----- bad input names the op and the shapes ---------------------------------------------
@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: Tensor(np.ones((2, 3)))[2], IndexError, r"getitem.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3)))[:, [0, 3]], IndexError, r"getitem.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3)))[np.ones(3, bool)], IndexError, r"getitem.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3)))[Tensor([0.0, 1.0])], IndexError, r"getitem.*float64"),
        (lambda: tc.cat([np.ones((2, 3)), np.ones((3, 2))]), ValueError, r"cat.*\(2, 3\).*\(3, 2\)"),
        (lambda: tc.cat([np.ones((2, 3)), np.ones(3)]), ValueError, r"cat.*\(2, 3\).*\(3,\)"),
        (lambda: tc.cat([np.ones((2, 3))], axis=2), ValueError, r"cat.*axis 2"),
        (lambda: tc.cat([]), ValueError, r"cat.*non-empty"),
        (lambda: tc.stack([np.ones((2, 3)), np.ones((2, 2))]), ValueError, r"stack.*\(2, 3\).*\(2, 2\)"),
        (lambda: tc.stack([np.ones(2)], axis=2), ValueError, r"stack.*axis 2.*\(2,\)"),
        (lambda: tc.where(np.ones((2, 3), bool), np.ones(4), 0.0), ValueError, r"where.*\(2, 3\).*\(4,\)"),
        (lambda: tc.where(np.ones(3), np.ones(3), 0.0), TypeError, r"where.*bool.*float64"),
        (lambda: tc.maximum(np.ones((2, 3)), np.ones(2)), ValueError, r"maximum.*\(2, 3\).*\(2,\)"),
        (lambda: Tensor(np.ones((2, 3))).max(axis=(1, 1)), ValueError, r"max.*repeats"),
        (lambda: Tensor(np.ones((2, 3))).var(axis=2), ValueError, r"var: axis 2"),
        (lambda: Tensor(np.ones((2, 3))).logsumexp(axis=-3), ValueError, r"logsumexp: axis -3"),
        (lambda: Tensor(np.ones((2, 0))).max(1), ValueError, r"max.*empty.*\(2, 0\)"),
        (lambda: Tensor(np.ones((2, 3))).argmax(1.0), TypeError, r"argmax: axis"),
        (lambda: Tensor(np.ones((2, 3))).sum(axis=0, dim=1), TypeError, r"sum: give axis= or dim="),
        (lambda: Tensor(np.ones((2, 3))).transpose(0, 0), ValueError, r"transpose.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3))).permute(0, 0), ValueError, r"permute.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3))).unsqueeze(3), ValueError, r"unsqueeze: axis 3.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 5))).split([2, 2], 1), ValueError, r"split.*\(2, 2\).*5.*\(2, 5\)"),
        (lambda: Tensor(np.ones((2, 5))).split(0), ValueError, r"split.*positive"),
        (lambda: tc.pad(np.ones((2, 3)), ((1, 1), (1, 1), (1, 1))), ValueError, r"pad.*\(2, 3\)"),
        (lambda: tc.pad(np.ones((2, 3)), -1), ValueError, r"pad.*negative"),
        (lambda: Tensor(np.ones((2, 3))).broadcast_to((3, 3)), ValueError, r"broadcast_to.*\(2, 3\).*\(3, 3\)"),
        (lambda: tc.arange(3, requires_grad=True), TypeError, r"arange.*int64"),
        (lambda: tc.zeros(2, dtype=np.int32, requires_grad=True), TypeError, r"zeros.*int32"),
        (lambda: tc.zeros(2, -1), ValueError, r"zeros.*\(2, -1\)"),
        (lambda: Tensor(np.ones(3)).astype(np.complex128), TypeError, r"astype.*complex128"),
        (lambda: bool(Tensor(np.ones(2)) > 0), ValueError, r"\(2,\).*ambiguous"),
        (lambda: tc.log_softmax(np.ones((2, 3)), 1.0), TypeError, r"log_softmax: axis must be an int, got 1\.0"),
        (lambda: tc.softmax(np.ones((2, 3)), 2), ValueError, r"softmax.*\(2, 3\)"),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_nothing_silently_broadcast_or_truncated():
    """cat/stack/where/split refuse instead of stretching or dropping values."""
    with pytest.raises(ValueError):
        tc.cat([np.ones((2, 1)), np.ones((3, 1))], axis=1)
    with pytest.raises(ValueError):
        Tensor(np.ones(5)).split([2, 2])  # would drop the last element
    assert [p.shape for p in Tensor(np.ones(5)).split(2)] == [(2,), (2,), (1,)]  # chunks: the last one smaller


# ----- integer and bool tensors, comparisons, hashing ---------------------------------------
def test_comparisons_give_bool_tensors_outside_the_graph():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    for m in (x > 0, x >= 0, 0 < x, x < np.array([0.0, 0.0, 3.0]), x == 0, x != Tensor(np.zeros(3))):
        assert m.dtype == np.bool_ and not m.requires_grad and m.parents == ()
    np.testing.assert_array_equal((x > 0).data, [False, False, True])
    np.testing.assert_array_equal((1 <= x).data, [False, False, True])
    np.testing.assert_array_equal((np.zeros(3) == x).data, [False, True, False])


def test_tensors_hash_by_identity_while_eq_is_elementwise():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    np.testing.assert_array_equal((a == b).data, [True, True])
    assert (a == None) is False and (a != "x") is True  # noqa: E711 — not numbers: Python's identity test
    assert bool(Tensor(3.0) > 2) and not bool(Tensor([0.0]))


def test_argmax_is_int64_without_gradient_and_indexes():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]), requires_grad=True)
    i = x.argmax(dim=1)
    assert i.dtype == np.int64 and not i.requires_grad and i.parents == ()
    np.testing.assert_array_equal(i.data, [1, 0])  # the first of tied maxima, as numpy and PyTorch
    assert x.argmin().item() == 4
    picked = x[tc.arange(2), i]  # an int tensor indexes
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])


def test_int_arithmetic_promotes_as_numpy():
    i = tc.arange(3)
    assert i.dtype == np.int64
    assert (i * 2).dtype == np.int64 and (i + 0.5).dtype == np.float64
    assert (i + Tensor(np.ones(3, np.float32))).dtype == np.result_type(np.int64, np.float32)


def test_repeated_indices_add_their_gradients():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[[1, 1, 1, 3]].backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [0, 6, 0, 4])


def test_getitem_result_is_not_a_view():
    x = Tensor(np.arange(4.0))
    y = x[1:3]
    y.data[0] = 100.0
    assert x.data[1] == 1.0


# ----- max/min ties, var/std, logsumexp stability ----------------------------------------------
def test_ties_share_the_gradient_evenly():
    x = Tensor(np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 2.0]]), requires_grad=True)
    x.max(1).backward(np.array([3.0, 1.0]))
    np.testing.assert_allclose(x.grad, [[1, 0, 1, 1], [0, 0.5, 0, 0.5]])
    x.grad = None
    x.min().backward()
    np.testing.assert_allclose(x.grad, [[0, 0, 0, 0], [0, 0, 1, 0]])
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 3.0], requires_grad=True)
    tc.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0]) and np.testing.assert_allclose(b.grad, [0.5, 1])


def test_gradients_select_never_multiply_an_inf():
    """where/clip/max/abs pass an inf gradient only where selected: no 0 · inf = NaN."""
    x = Tensor(np.array([0.0, 1.0, 4.0]), requires_grad=True)
    for f in (lambda t: tc.where(t > 0.5, t, 0.0), lambda t: t.clip(0.5, 2.0), lambda t: tc.maximum(t, 0.5),
              lambda t: t.abs()):
        x.grad = None
        f(x).sqrt().sum().backward()  # d√y/dy = inf at y = 0
        assert not np.isnan(x.grad).any(), f


def test_var_std_and_logsumexp_at_extremes():
    x = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    ref = np.array([1000 + np.log1p(np.exp(-1.0) + np.exp(-2000.0)), -1000 + np.log(3)])
    t = Tensor(x, requires_grad=True)
    y = t.logsumexp(1)
    np.testing.assert_allclose(y.data, ref, rtol=1e-15)
    y.sum().backward()
    assert np.isfinite(t.grad).all()
    np.testing.assert_allclose(t.grad.sum(1), [1, 1])
    assert Tensor(np.full((1, 2), -np.inf)).logsumexp(1).item() == -np.inf
    v = rng.standard_normal((4, 5))
    np.testing.assert_allclose(Tensor(v).var(0).data, v.var(0, ddof=1))
    np.testing.assert_allclose(Tensor(v).std(correction=0).data, v.std())


# ----- 0-d tensors take axis 0 / −1, as PyTorch and numpy's scalars --------------------------
@pytest.mark.parametrize("axis", [0, -1, (0,), None])
def test_zero_d_reductions(axis):
    x = Tensor(2.0, requires_grad=True)
    for f in (lambda t: t.sum(axis), lambda t: t.mean(axis), lambda t: t.max(axis), lambda t: t.logsumexp(axis)):
        y = f(x)
        assert y.shape == () and y.item() == 2.0
    assert Tensor(2.0).argmax(0 if axis is None else axis if isinstance(axis, int) else 0).item() == 0
    assert Tensor(2.0).squeeze(0).shape == () and Tensor(2.0).unsqueeze(0).shape == (1,)


def test_zero_d_softmax_and_log_softmax():
    x = Tensor(2.0, requires_grad=True)
    assert tc.softmax(x, 0).item() == 1.0 and tc.log_softmax(x, dim=-1).item() == 0.0
    tc.log_softmax(x).backward()
    assert x.grad == 0.0
    with pytest.raises(ValueError, match=r"softmax: axis 1.*\(\)"):
        tc.softmax(x, 1)


def test_log_softmax_of_an_empty_axis_is_empty():
    """As PyTorch: nothing to normalize, an empty result (numpy's max would raise)."""
    for f in (tc.log_softmax, tc.softmax):
        x = Tensor(np.zeros((2, 0)), requires_grad=True)
        y = f(x, 1)
        assert y.shape == (2, 0)
        y.backward(np.zeros((2, 0)))
        assert x.grad.shape == (2, 0)


# ----- factories and conversions -----------------------------------------------------------
def test_factories():
    assert tc.zeros(2, 3).shape == tc.zeros((2, 3)).shape == (2, 3) and tc.zeros(2).dtype == np.float64
    np.testing.assert_array_equal(tc.ones(2, dtype=np.float32).data, np.ones(2, np.float32))
    assert tc.full((2, 2), 7).dtype == np.float64 and tc.full(3, 1.5).data.tolist() == [1.5] * 3
    f32 = Tensor(np.ones((2, 3), np.float32))
    assert tc.zeros_like(f32).dtype == np.float32 and tc.ones_like(tc.arange(4)).dtype == np.int64
    assert tc.arange(5).dtype == np.int64 and tc.arange(0, 1, 0.25).data.tolist() == [0, 0.25, 0.5, 0.75]
    assert tc.arange(3, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(tc.eye(2, 3).data, np.eye(2, 3))
    w = tc.randn(3, 4, requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.shape == (3, 4)
    assert not np.array_equal(tc.randn(5).data, tc.randn(5).data)  # fresh draws without rng
    np.testing.assert_array_equal(tc.rand(4, rng=np.random.default_rng(1)).data,
                                  tc.rand(4, rng=np.random.default_rng(1)).data)
    assert ((tc.rand(100).data >= 0) & (tc.rand(100).data < 1)).all()


def test_dtype_conversions():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y.double() * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2, 2, 2])
    i = x.astype(np.int32)
    assert i.dtype == np.int32 and not i.requires_grad
    assert tc.arange(3).double().dtype == np.float64


def test_transpose_two_axes_swaps_like_pytorch():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.transpose(0, 1).data, x.data.T)  # numpy would keep it unchanged
    y = Tensor(np.zeros((2, 3, 4)))
    assert y.transpose(0, 2).shape == (4, 3, 2) and y.transpose(2, 0, 1).shape == (4, 2, 3)
    assert y.transpose().shape == (4, 3, 2) and y.permute((1, 0, 2)).shape == (3, 2, 4)


# ----- an attention block written with the library alone ------------------------------------
def attention(x: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, heads: int = 2) -> Tensor:
    """Multi-head self-attention: per head softmax(q kᵀ / √d) v, heads joined by cat."""
    q, k, v = x @ wq, x @ wk, x @ wv
    d = q.shape[-1] // heads
    outs = []
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]
        scores = qh @ kh.transpose(-2, -1) / np.sqrt(d)
        outs.append(tc.softmax(scores, axis=-1) @ vh)
    return tc.cat(outs, axis=-1)


def test_attention_block_passes_gradcheck():
    x = Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    ws = [Tensor(0.5 * rng.standard_normal((4, 4)), requires_grad=True) for _ in range(3)]
    assert tc.gradcheck(attention, [x, *ws])
    assert tc.gradgradcheck(lambda x, wq: attention(x, wq, ws[1], ws[2]), [x, ws[0]])
    y = attention(x, *ws)
    assert y.shape == (2, 3, 4)
    # each row of attention weights sums to one: with v = identity rows, outputs are the weights
    eye = Tensor(np.eye(3)[None].repeat(2, 0))
    w = tc.softmax(x[..., :2] @ x[..., :2].transpose(-2, -1), axis=-1)
    np.testing.assert_allclose((w @ eye).sum(-1).data, 1.0)
