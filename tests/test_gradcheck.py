"""gradcheck and numerical_grad: they pass right gradients and catch wrong ones."""

import re

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops.elementwise import Sigmoid

rng = np.random.default_rng(3)


def test_numerical_grad_matches_closed_form():
    x = Tensor(rng.standard_normal((3, 2)))
    w = Tensor(rng.standard_normal(2))
    (gx, gw) = tc.numerical_grad(lambda x, w: (x @ w).tanh().sum(), [x, w])
    s = 1 - np.tanh(x.data @ w.data) ** 2
    np.testing.assert_allclose(gx, np.outer(s, w.data), atol=1e-8)
    np.testing.assert_allclose(gw, x.data.T @ s, atol=1e-8)


def test_numerical_grad_requires_size_one_output():
    with pytest.raises(ValueError, match="size 1"):
        tc.numerical_grad(lambda x: x * 2, [Tensor(np.ones(3))])


def test_gradcheck_checks_full_jacobian_of_vector_output():
    x = Tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    k = Tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    assert tc.gradcheck(lambda x, k: tc.correlate2d(x, k).sigmoid(), [x, k])
    assert x.grad is None and k.grad is None  # gradcheck leaves .grad alone


def test_gradcheck_catches_detach_in_the_wrong_place():
    x = Tensor(rng.standard_normal(4), requires_grad=True, name="x")

    def wrong(x):  # the second factor is cut from the graph: d/dx (x·x) becomes x, not 2x
        return (x * x.detach()).sum()

    with pytest.raises(tc.GradcheckError) as err:
        tc.gradcheck(wrong, [x])
    msg = str(err.value)
    assert "'x'" in msg and "analytic" in msg and "numerical" in msg
    # the report names the worst element and gives both values as numbers
    row = [line for line in msg.splitlines() if "'x'" in line][0]
    index = int(np.argmax(np.abs(x.data)))
    assert f"({index},)" in row
    numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", row.split(")")[-1])]
    assert numbers[-3] == pytest.approx(x.data[index], rel=1e-4)  # analytic: x
    assert numbers[-2] == pytest.approx(2 * x.data[index], rel=1e-4)  # numerical: 2x
    assert tc.gradcheck(wrong, [x], raise_exception=False) is False


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    monkeypatch.setattr(Sigmoid, "backward", lambda self, g: (g * self.output(g),))  # forgot (1 − Y)
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(tc.GradcheckError, match="input 0"):
        tc.gradcheck(lambda x: x.sigmoid(), [x])


def test_gradcheck_reports_every_failing_input():
    a = Tensor(rng.standard_normal(3), requires_grad=True, name="a")
    b = Tensor(rng.standard_normal(3), requires_grad=True, name="b")
    with pytest.raises(tc.GradcheckError) as err:
        tc.gradcheck(lambda a, b: a.detach() * b.detach() + a + b, [a, b])
    assert "'a'" in str(err.value) and "'b'" in str(err.value)


def test_gradcheck_skips_inputs_without_requires_grad_and_needs_one():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    c = Tensor(rng.standard_normal(3))
    assert tc.gradcheck(lambda x, c: x * c, [x, c])
    with pytest.raises(ValueError, match="requires_grad"):
        tc.gradcheck(lambda c: c * 2, [c])


def test_gradcheck_fails_where_the_numerical_side_is_not_finite():
    """x − ε < 0 makes log's finite difference NaN: incomparable, so not a pass."""
    z = Tensor(np.array([1e-8, 1.0]), requires_grad=True, name="z")
    with pytest.raises(tc.GradcheckError, match="'z'.*\\(0,\\)"):
        tc.gradcheck(lambda a: a.log(), [z])
    assert tc.gradcheck(lambda a: a.log(), [Tensor(np.array([0.5, 1.0]), requires_grad=True)])


def test_gradcheck_restores_the_input_when_fn_raises():
    calls = [0]

    def f(p):
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("boom")
        return p * 2

    t = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        tc.gradcheck(f, [t])
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


def test_gradcheck_warns_on_float32_inputs():
    x = Tensor(np.array([0.5, 1.5], np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="float32.*float64"):
        tc.gradcheck(lambda a: a * 2, [x], eps=1e-2, atol=1e-3)


def test_gradgradcheck_skips_integer_outputs_as_gradcheck_does():
    x = Tensor(np.random.default_rng(5).standard_normal(4), requires_grad=True)
    assert tc.gradcheck(lambda a: (a * a).sum() + 0 * a.argmax(), [x])
    assert tc.gradgradcheck(lambda a: (a * a * a, a.argmax(), a > 0), [x])


def test_a_float32_output_is_warned_about():
    """float64 inputs, but a float32 output: the differences drown in rounding, so say so."""
    x = Tensor(np.random.default_rng(6).standard_normal(3), requires_grad=True)
    with pytest.warns(UserWarning, match="gradcheck: output 0 is float32"):
        tc.gradcheck(lambda a: a.float().tanh(), [x], raise_exception=False)


def test_numerical_grad_names_itself_on_bad_inputs():
    with pytest.raises(TypeError, match="numerical_grad: inputs must be Tensors, input 0 is ndarray"):
        tc.numerical_grad(lambda a: a.sum(), [np.ones(3)])
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="numerical_grad: input 0 of shape \\(3,\\) holds a read-only array"):
        tc.numerical_grad(lambda a: a.sum(), [Tensor(frozen)])  # every input is nudged, not only grad ones
    with pytest.raises(TypeError, match="numerical_grad: fn must return a Tensor"):
        tc.numerical_grad(lambda a: 1.0, [Tensor(np.ones(3), requires_grad=True)])
