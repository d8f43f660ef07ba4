"""The Tensor and the reverse-mode engine: recording, ordering, accumulation, memory."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor


def test_construction_and_dtypes():
    assert Tensor(3).dtype == np.float64 and Tensor(3).shape == ()
    assert Tensor([[1, 2]]).dtype == np.float64
    assert Tensor(np.arange(3)).dtype == np.arange(3).dtype  # numpy ints stay ints (never requiring grad)
    assert Tensor([1, 2]).dtype == np.float64  # Python numbers become float64
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32
    a = np.ones(2)
    assert Tensor(a).data is a  # float arrays are not copied
    t = Tensor(np.ones((2, 3)), requires_grad=True, name="w")
    assert (t.shape, t.ndim, t.size, t.name, t.is_leaf, t.op, t.parents, t.grad) == ((2, 3), 2, 6, "w", True, None, (), None)
    with pytest.raises(TypeError, match="Tensor"):
        Tensor("abc")


def test_float32_stays_float32_with_python_numbers():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = (x * 2.5 + 1) / 3 - 0.5
    y = 1 - y
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_promote_and_grads_keep_input_dtype():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_zero_dim_results_are_arrays():
    a = Tensor(2.0, requires_grad=True)
    b = (a * 3).exp() + a.sigmoid() - Tensor([1.0, 2.0]).sum()
    assert type(b.data) is np.ndarray and b.shape == ()
    b.backward()
    assert type(a.grad) is np.ndarray and a.grad.shape == () and a.grad.dtype == np.float64


def test_op_and_parents_recorded():
    a, b = Tensor(2.0, requires_grad=True), Tensor(3.0)
    c = a * b
    assert c.op == "mul" and c.parents == (a, b) and not c.is_leaf and c.requires_grad


def test_numpy_item_detach_repr():
    a = Tensor([[1.0, 2.0]], requires_grad=True, name="a")
    b = (a * 2).sum()
    assert b.item() == 6.0
    assert isinstance(a.numpy(), np.ndarray)
    d = b.detach()
    assert d.parents == () and not d.requires_grad and d.item() == 6.0
    r = repr(b)
    assert "shape=()" in r and "float64" in r and "op='sum'" in r and "grad=None" in r
    b.backward()
    assert "grad=set" in repr(a) and "name='a'" in repr(a)
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        a.item()


def test_operators_with_numbers_and_arrays_on_either_side():
    x = Tensor([1.0, 2.0, 4.0], requires_grad=True)
    arr = np.array([2.0, 2.0, 2.0])
    y = (2 + x) + (x - 1) + (1 - x) + (3 * x) + (x / 2) + (8 / x) + (arr * x) + (x**2) + (-x) + (arr @ x)
    expected = (2 + x.data) + (x.data - 1) + (1 - x.data) + 3 * x.data + x.data / 2 + 8 / x.data + arr * x.data \
        + x.data**2 - x.data + arr @ x.data
    np.testing.assert_allclose(y.data, expected)
    assert isinstance(arr * x, Tensor) and isinstance(arr + x, Tensor)  # ndarray on the left defers to Tensor
    y.sum().backward()
    # 1 + 1 − 1 + 3 + ½ − 8/x² + 2 + 2x − 1, plus 3·2 from the scalar arr @ x broadcast over 3 entries
    np.testing.assert_allclose(x.grad, 11.5 + 2 * x.data - 8 / x.data**2)


def test_node_used_twice_gets_both_contributions():
    x = Tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert x.grad == 6.0


def test_diamond_graph():
    x = Tensor(2.0, requires_grad=True)
    a = x * 3
    b = x.exp()
    c = a * b  # d/dx (3x e^x) = 3e^x + 3x e^x
    c.backward()
    assert x.grad == pytest.approx(3 * np.exp(2) + 6 * np.exp(2))
    assert a.grad == pytest.approx(np.exp(2)) and b.grad == pytest.approx(6.0)  # intermediates filled too


def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_grad_arrays_are_not_shared():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # an in-place edit of one gradient must not reach the other
    assert b.grad[0] == 1.0


def test_deep_chain_no_recursion_limit():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_backward_needs_grad_for_non_scalar():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))
    y.backward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(y.parents[0].grad, 2 * np.arange(6.0).reshape(2, 3))


def test_no_grad():
    x = Tensor([1.0], requires_grad=True)
    with tc.no_grad():
        y = x * 2
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()
    assert not y.requires_grad and y.parents == () and y.op is None
    with pytest.raises(ValueError):
        y.sum().backward()


def test_no_grad_restores_after_exception():
    with pytest.raises(RuntimeError):
        with tc.no_grad():
            raise RuntimeError
    assert tc.is_grad_enabled()


def test_constants_get_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None


def test_graph_is_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        x = Tensor(np.ones((3, 4)), requires_grad=True)
        k = Tensor(np.ones((2, 2)), requires_grad=True)
        y = tc.correlate2d(x, k).sigmoid()
        loss = tc.binary_cross_entropy(y, np.ones(y.shape))
        loss.backward()
        refs = [weakref.ref(t) for t in (y, y.parents[0], loss)]
        del y, loss
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_grad_function_leaves_grad_alone():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    (g,) = tc.grad(y, x, retain_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    assert x.grad is None and not g.requires_grad
    (g2,) = tc.grad(y, x, create_graph=True)
    (h,) = tc.grad(g2.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


def test_intermediate_grads_are_read_only_and_leaf_grads_are_own_arrays():
    p = Tensor(np.ones((2, 3)), requires_grad=True)
    a, b = p * 1, p * 2
    c = a + b  # an add hands the same dE/dZ to both inputs
    c.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="read-only"):
        a.grad[0, 0] = 99
    p.grad[0, 0] = 99  # a leaf's gradient is its own
    np.testing.assert_array_equal(b.grad, np.ones((2, 3)))


def test_tensor_seed_takes_the_output_dtype():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    (x * 2).backward(Tensor(np.ones(3)))
    assert x.grad.dtype == np.float32


def test_no_grad_nests_reenters_and_decorates():
    ng = tc.no_grad()
    with ng:
        with ng:
            pass
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()

    @tc.no_grad()
    def f(x):
        return x * 2

    assert not f(Tensor([1.0], requires_grad=True)).requires_grad and tc.is_grad_enabled()


def test_numpy_numbers_and_zero_dim_arrays_keep_float32():
    x = Tensor(np.ones((2, 3), np.float32))
    for y in (x.sum() / np.prod(x.shape), x * np.int64(3), x + np.float16(1), x + np.array(1.0), tc.add(1.0, x)):
        assert y.dtype == np.float32


def test_backward_must_return_one_gradient_per_input():
    from tinygrad_cnn.tensor import Function

    class Broken(Function):
        """Z = X + Y
        dE/dX = dE/dZ
        dE/dY = dE/dZ
        """

        name = "broken"

        def forward(self, x, y):
            return x + y

        def backward(self, g):
            return (g,)

    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    with pytest.raises(TypeError, match="Broken.*1 gradients for 2 inputs"):
        Broken.apply(a, b).sum().backward()


def test_pow_zero_has_zero_gradient_at_zero():
    x = Tensor([0.0, 2.0], requires_grad=True)
    with np.errstate(all="raise"):
        (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_leaf_grad_is_its_own_array_even_when_the_pass_shares_it():
    """The plain pass hands a leaf the array it computed when nothing else holds it, and a
    copy otherwise: an in-place change of a leaf's .grad never reaches another .grad."""
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    x = Tensor(np.arange(8.0).reshape(2, 4))
    b = Tensor(np.zeros(3), requires_grad=True)
    y = x @ w.T + b  # dE/dW through a transpose view, dE/db through an add's shared dE/dZ
    y.sum().backward()
    for leaf in (w, b):
        assert leaf.grad.flags.writeable and leaf.grad.flags.c_contiguous
    np.testing.assert_array_equal(w.grad, np.tile(x.data.sum(0), (3, 1)))
    z = y.grad.copy()
    b.grad *= 10
    w.grad *= 10
    np.testing.assert_array_equal(y.grad, z)  # the intermediate's gradient is untouched
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = a + 0.0  # the add hands c's gradient array on to a: a gets a copy
    c.sum().backward()
    assert not np.shares_memory(a.grad, c.grad)
    a.grad += 1
    np.testing.assert_array_equal(c.grad, [1.0, 1.0])


@pytest.mark.parametrize("seed", range(5))
def test_plain_backward_matches_grad_on_random_graphs(seed):
    """The plain pass (one heap-ordered loop) and tc.grad (collect, order, propagate) agree
    on graphs where tensors are reused by ops created much later, in any order."""
    rng = np.random.default_rng(seed)
    leaves = [Tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True) for _ in range(3)]
    nodes = list(leaves)
    for _ in range(40):
        a, b = (nodes[i] for i in rng.integers(0, len(nodes), 2))
        op = rng.integers(0, 4)
        nodes.append([a * b, a + b, (a - b).tanh(), (a * 0.5).sigmoid() * b][op])
    out = sum((nodes[i] for i in rng.integers(3, len(nodes), 5)), Tensor(np.zeros(3))).sum()
    want = tc.grad(out, leaves, retain_graph=True, allow_unused=True)
    out.backward()
    for leaf, g in zip(leaves, want):
        if g is None:
            assert leaf.grad is None
        else:
            np.testing.assert_allclose(leaf.grad, g.data, rtol=1e-12)
