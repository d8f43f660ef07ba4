"""Second derivatives of the 0.2 activations and losses (gradgradcheck in float64), and
their argument checks. Values and first derivatives: tests/test_ops.py's table;
against PyTorch: tests/test_torch_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops import activation, loss

from test_ops import CASES, _id

NEW_OPS = {activation.LeakyReLU, activation.ELU, activation.GELU, activation.NormalCDF, activation.SiLU,
           activation.Softplus, loss.NLLLoss, loss.BCEWithLogits, loss.MSELoss}
NEW_CASES = [c for c in CASES if c.op in NEW_OPS]


def test_every_new_op_has_a_case():
    assert {c.op for c in NEW_CASES} == NEW_OPS


@pytest.mark.parametrize("case", NEW_CASES, ids=_id)
def test_gradgradcheck_float64(case):
    inputs = [Tensor(a, requires_grad=True) for a in case.inputs()]
    assert tc.gradgradcheck(case.fn, inputs)


def test_gradgradcheck_can_fail_on_a_wrong_second_derivative(monkeypatch):
    """gelu's recorded backward differentiates Φ through the normal_cdf op: a wrong dΦ/dX
    there leaves the first derivative right and must be caught."""
    monkeypatch.setattr(activation.NormalCDF, "backward", lambda self, g: (g * 0.5,))
    x = Tensor(np.random.default_rng(0).standard_normal(5), requires_grad=True)
    assert not tc.gradgradcheck(tc.gelu, [x], raise_exception=False)


@pytest.mark.parametrize("call, error, match", [
    (lambda: tc.leaky_relu(np.ones(2), "0.1"), TypeError, "leaky_relu: negative_slope must be a number"),
    (lambda: tc.softplus(np.ones(2), beta=0), ValueError, "softplus: beta must be positive"),
    (lambda: tc.gelu(np.array([1, 2])), TypeError, "gelu: expected a float tensor, got dtype int64"),
    (lambda: tc.nll_loss(np.zeros((3, 4)), [0, 1]), ValueError, r"nll_loss: .*\(3, 4\) and \(2,\)"),
    (lambda: tc.nll_loss(np.zeros((3, 4)), [0, 1, 4]), ValueError, r"labels must lie in \[0, 4\)"),
    (lambda: tc.nll_loss(np.zeros((3, 4)), [0.5, 1, 2]), TypeError, "class indices"),
    (lambda: tc.cross_entropy(np.zeros((2, 3)), [0, 1], reduction="avg"), ValueError, "unknown reduction 'avg'"),
    (lambda: tc.mse_loss(np.zeros(3), np.zeros((3, 1))), ValueError, r"mse_loss: .*\(3,\).*\(3, 1\)"),
    (lambda: tc.binary_cross_entropy_with_logits(np.zeros(2), np.zeros(3)), ValueError, r"\(2,\).*\(3,\)"),
    (lambda: tc.binary_cross_entropy_with_logits(np.zeros(2), ["a", "b"]), TypeError, "target must be numbers"),
])
def test_bad_arguments_name_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_activation_methods_and_float32():
    x = Tensor(np.linspace(-2, 2, 7, dtype=np.float32), requires_grad=True)
    for name in ("leaky_relu", "elu", "gelu", "silu", "softplus"):
        y = getattr(x, name)()
        assert y.dtype == np.float32 and y.op == name
        np.testing.assert_allclose(y.data, getattr(tc, name)(x.data.astype(np.float64)).data, rtol=1e-6, atol=1e-7)
