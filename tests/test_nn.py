"""Layers: shapes, parameter counts and names, forward values against plain numpy,
initialisation bounds and seeding, state dicts and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn


def seed_network(side: int = 8, dtype=np.float32) -> nn.Sequential:
    o = side - 2
    return nn.Sequential(
        nn.Conv2d(1, 5, 3, dtype=dtype), nn.Sigmoid(), nn.Reshape(5 * o * o),
        nn.Linear(5 * o * o, 100, dtype=dtype), nn.Sigmoid(), nn.Linear(100, 2, dtype=dtype), nn.Sigmoid(),
    )


def test_seed_network_shapes_counts_and_names():
    model = seed_network()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(5, 1, 3, 3), (5,), (100, 180), (100,), (2, 100), (2,)]
    assert sum(p.size for p in model.parameters()) == 5 * 9 + 5 + 180 * 100 + 100 + 100 * 2 + 2 == 18352
    assert all(p.requires_grad and p.dtype == np.float32 for p in model.parameters())
    out = model(np.zeros((4, 1, 8, 8)))
    assert out.shape == (4, 2) and out.dtype == np.float32


def test_nested_names_and_shared_parameters_listed_once():
    inner = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    outer = nn.Sequential(inner, nn.Linear(4, 2, bias=False))
    assert [n for n, _ in outer.named_parameters()] == ["0.0.weight", "0.0.bias", "1.weight"]
    twice = nn.Sequential(inner, inner)
    assert len(twice.parameters()) == 2


def test_conv2d_forward_matches_scipy_with_per_channel_bias():
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(2, 3, (3, 2), dtype=np.float64, rng=rng)
    assert conv.weight.shape == (3, 2, 3, 2) and conv.bias.shape == (3,)
    x = rng.normal(size=(2, 2, 6, 5))
    y = conv(x).data
    assert y.shape == (2, 3, 4, 4)
    for n in range(2):
        for i in range(3):
            ref = conv.bias.data[i] + sum(signal.correlate2d(x[n, j], conv.weight.data[i, j], "valid") for j in range(2))
            np.testing.assert_allclose(y[n, i], ref, rtol=1e-12, atol=1e-12)


def test_conv2d_without_bias_and_bad_input():
    conv = nn.Conv2d(1, 2, 3, bias=False)
    assert [n for n, _ in conv.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        conv(np.zeros((8, 8)))
    assert conv(np.zeros((1, 8, 8))).shape == (2, 6, 6)  # unbatched (C, H, W), as PyTorch
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        conv(np.zeros((2, 3, 8, 8)))


def test_linear_forward_matches_numpy():
    rng = np.random.default_rng(2)
    lin = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    x = rng.normal(size=(5, 4))
    np.testing.assert_allclose(lin(x).data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        lin(np.zeros((5, 3)))


def test_activations_flatten_reshape():
    x = Tensor(np.linspace(-3, 3, 24).reshape(2, 3, 4))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    np.testing.assert_allclose(nn.ReLU()(x).data, np.maximum(x.data, 0))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Reshape(4, 3)(x).shape == (2, 4, 3)
    assert nn.Reshape(-1, 2)(x).shape == (2, 6, 2)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        nn.Reshape(5)(x)


def test_init_bounds_follow_pytorch_defaults():
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    for p in (conv.weight, conv.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound  # uniform over the whole range
    lin = nn.Linear(50, 400)
    assert np.abs(lin.weight.data).max() <= 1 / np.sqrt(50)
    assert abs(lin.weight.data.std() - (1 / np.sqrt(50)) / np.sqrt(3)) < 0.01  # std of U(-b, b) is b/√3


def test_manual_seed_and_rng_make_init_reproducible():
    nn.manual_seed(7)
    a = seed_network().state_dict()
    nn.manual_seed(7)
    b = seed_network().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = nn.Linear(3, 3, rng=np.random.default_rng(1)).weight.data
    d = nn.Linear(3, 3, rng=np.random.default_rng(1)).weight.data
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, nn.Linear(3, 3, rng=np.random.default_rng(2)).weight.data)


def test_dtype_argument_and_input_cast():
    model = seed_network(dtype=np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(np.zeros((1, 1, 8, 8), dtype=np.float32)).dtype == np.float64


def test_zero_grad_and_call():
    lin = nn.Linear(3, 2)
    lin(np.ones((4, 3))).sum().backward()
    assert lin.weight.grad is not None and lin.bias.grad is not None
    np.testing.assert_allclose(lin.bias.grad, [4, 4])
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_state_dict_is_a_copy_and_round_trips():
    a, b = seed_network(), seed_network()
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    sd["0.bias"][:] = 123  # a copy: the model must not change
    assert not np.any(a[0].bias.data == 123)
    weight_before = b[0].weight  # loading writes into the same tensors (optimizers keep working)
    b.load_state_dict(a.state_dict())
    assert b[0].weight is weight_before
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _unchanged(model, snap):
    return all(np.array_equal(v, snap[k]) for k, v in model.state_dict().items())


def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_changes_nothing():
    model = seed_network()
    snap = _snapshot(model)
    bad = {k: np.full_like(v, 9.0) for k, v in snap.items()}  # valid values for every key ...
    bad["3.weight"] = np.zeros((100, 181))  # ... but one wrong shape, after others that fit
    with pytest.raises(ValueError) as e:
        model.load_state_dict(bad)
    msg = str(e.value)
    assert "'3.weight'" in msg and "(100, 181)" in msg and "(100, 180)" in msg
    assert _unchanged(model, snap)


def test_load_state_dict_missing_and_unexpected_keys():
    model = seed_network()
    snap = _snapshot(model)
    sd = dict(snap)
    del sd["5.bias"]
    sd["6.weight"] = np.zeros(3)
    with pytest.raises(ValueError) as e:
        model.load_state_dict(sd)
    assert "missing keys ['5.bias']" in str(e.value) and "unexpected keys ['6.weight']" in str(e.value)
    assert _unchanged(model, snap)
    with pytest.raises(ValueError, match="'0.bias'.*dtype"):
        model.load_state_dict({**snap, "0.bias": np.array(["a"] * 5)})
    assert _unchanged(model, snap)


def test_load_state_dict_keeps_parameter_dtype():
    model = seed_network()
    model.load_state_dict({k: v.astype(np.float64) + 1 for k, v in model.state_dict().items()})
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_sequential_rejects_non_modules_and_repr():
    with pytest.raises(TypeError, match="layer 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    text = repr(seed_network())
    assert "(0): Conv2d(1, 5, kernel_size=(3, 3), stride=(1, 1))" in text and "(3): Linear(in_features=180" in text


def test_whole_seed_network_gradcheck_float64():
    """Every parameter and the input, through conv, reshape, both linears, the sigmoids and BCE."""
    nn.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, dtype=np.float64), nn.Sigmoid(), nn.Reshape(2 * 3 * 3),
        nn.Linear(18, 4, dtype=np.float64), nn.Sigmoid(), nn.Linear(4, 2, dtype=np.float64), nn.Sigmoid(),
    )
    rng = np.random.default_rng(4)
    x = Tensor(rng.random((2, 1, 5, 5)), requires_grad=True, name="X")
    target = np.eye(2)[[0, 1]]
    params = model.parameters()

    def loss(x, *ps):
        return tc.binary_cross_entropy(model(x), target)

    assert tc.gradcheck(loss, [x, *params], eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_catches_a_wrong_layer():
    """The whole-model check can fail: a layer whose backward is off by a factor is caught."""

    class Doubled(tc.tensor.Function):
        """Y = X
        dE/dX = 2 · dE/dY
        """

        name = "doubled"

        def forward(self, x):
            return x.copy()

        def backward(self, g):
            return (g * 2,)

    class Broken(nn.Module):
        def forward(self, x):
            return Doubled.apply(x)

    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), Broken(), nn.Sigmoid())
    x = Tensor(np.random.default_rng(0).random((2, 3)), requires_grad=True)
    assert not tc.gradcheck(lambda x, *ps: model(x).sum(), [x, *model.parameters()], raise_exception=False)
