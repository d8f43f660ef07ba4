"""Modules, layers, losses and optimizers against PyTorch, in float64 to 1e-9.

PyTorch is the oracle here only (the dev extra); the package never imports it.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn, optim

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = dict(rtol=1e-9, atol=1e-12)
rng = np.random.default_rng(0)


def close(ours, theirs, **kw):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = ours.data if isinstance(ours, Tensor) else ours
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(ours, theirs, **(kw or TOL))


def both(array):
    """The same float64 values as a tinygrad_cnn Tensor and a torch tensor, both requiring grad."""
    return Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


def first_and_second_derivatives(ours_fn, torch_fn, x):
    """Value, gradient under a per-element upstream G, and the gradient of Σ(dx · H) (a
    second derivative), each compared with torch's."""
    a, b = both(x)
    ya, yb = ours_fn(a), torch_fn(b)
    close(ya, yb)
    g = rng.standard_normal(ya.shape)
    (ga,) = tc.grad(ya, [a], g, create_graph=True)
    (gb,) = torch.autograd.grad(yb, [b], torch.tensor(g), create_graph=True)
    close(ga, gb)
    h = rng.standard_normal(ga.shape)
    (ggb,) = torch.autograd.grad((gb * torch.tensor(h)).sum(), [b], allow_unused=True) if gb.requires_grad else (None,)
    if not ga.requires_grad:  # piecewise linear: the gradient does not depend on x at all
        assert ggb is None or not ggb.numpy().any()
        return
    (gga,) = tc.grad((ga * h).sum(), [a], allow_unused=True)
    zeros = np.zeros(x.shape)
    close(gga if gga is not None else zeros, ggb if ggb is not None else zeros)


# ----- activations -------------------------------------------------------------------------
# values spread over both branches and the tails, but not on a kink
X = np.concatenate([rng.standard_normal(40) * 3, [-30.0, -8.0, -1e-3, 1e-3, 8.0, 30.0]]).reshape(2, 23)

ACTIVATIONS = {
    "leaky_relu": (lambda t: tc.leaky_relu(t, 0.2), lambda t: F.leaky_relu(t, 0.2)),
    "leaky_relu default": (tc.leaky_relu, F.leaky_relu),
    "elu": (lambda t: tc.elu(t, 1.3), lambda t: F.elu(t, 1.3)),
    "gelu": (tc.gelu, F.gelu),
    "silu": (tc.silu, F.silu),
    "softplus": (tc.softplus, F.softplus),
    "softplus beta threshold": (lambda t: t.softplus(beta=2.0, threshold=3.0), lambda t: F.softplus(t, 2.0, 3.0)),
    "LeakyReLU layer": (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
    "GELU layer": (nn.GELU(), torch.nn.GELU()),
    "ELU layer": (nn.ELU(0.5), torch.nn.ELU(0.5)),
    "SiLU layer": (nn.SiLU(), torch.nn.SiLU()),
    "Softplus layer": (nn.Softplus(), torch.nn.Softplus()),
    "Softmax layer": (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    "Softmax axis 0": (nn.Softmax(0), torch.nn.Softmax(dim=0)),
    "Identity": (lambda t: nn.Identity()(t) * 1.0, lambda t: torch.nn.Identity()(t) * 1.0),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values_first_and_second_derivatives(name):
    ours, theirs = ACTIVATIONS[name]
    first_and_second_derivatives(ours, theirs, X)


def test_gelu_is_the_erf_form_to_1e_minus_7_and_softplus_exact_at_1000():
    x = np.linspace(-12, 12, 4801)
    close(tc.gelu(x), F.gelu(torch.tensor(x)), rtol=1e-12, atol=1e-7)
    assert np.abs(tc.gelu(x).data - F.gelu(torch.tensor(x)).numpy()).max() < 4e-15  # in fact to rounding
    big = Tensor(np.array([-1000.0, 1000.0]), requires_grad=True)
    y = tc.softplus(big)
    y.backward(np.ones(2))
    np.testing.assert_array_equal(y.data, [0.0, 1000.0])
    np.testing.assert_array_equal(big.grad, [0.0, 1.0])
    z = Tensor(np.array([-1000.0, 1000.0]), requires_grad=True)
    w = tc.softplus(z, threshold=np.inf)  # the smooth formula itself, without the linear switch
    w.backward(np.ones(2))
    np.testing.assert_array_equal(w.data, [0.0, 1000.0])
    np.testing.assert_array_equal(z.grad, [0.0, 1.0])


def test_activations_select_so_an_infinite_gradient_stays_in_its_branch():
    """where, not a 0/1 mask: dE/dY = inf on the negative side of relu-like ops must not
    put NaN on the other side."""
    for fn in (lambda t: tc.leaky_relu(t, 0.0), lambda t: tc.softplus(t, threshold=0.5)):
        x = Tensor(np.array([-1.0, 2.0]), requires_grad=True)
        fn(x).backward(np.array([1.0, np.inf]))
        assert not np.isnan(x.grad).any()


# ----- losses ---------------------------------------------------------------------------
LOGITS = rng.standard_normal((5, 4)) * 2
LABELS = np.array([3, 0, 1, 3, 2])
TARGET = rng.random((5, 4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(reduction):
    cases = [
        (lambda z: tc.cross_entropy(z, LABELS, reduction=reduction),
         lambda z: F.cross_entropy(z, torch.tensor(LABELS), reduction=reduction)),
        (lambda z: tc.nll_loss(tc.log_softmax(z), LABELS, reduction=reduction),
         lambda z: F.nll_loss(F.log_softmax(z, -1), torch.tensor(LABELS), reduction=reduction)),
        (lambda z: tc.nll_loss(z, LABELS, reduction=reduction),  # raw scores: the op alone
         lambda z: F.nll_loss(z, torch.tensor(LABELS), reduction=reduction)),
        (lambda z: tc.binary_cross_entropy_with_logits(z, TARGET, reduction=reduction),
         lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(TARGET), reduction=reduction)),
        (lambda z: tc.mse_loss(z, TARGET, reduction=reduction),
         lambda z: F.mse_loss(z, torch.tensor(TARGET), reduction=reduction)),
    ]
    for ours, theirs in cases:
        first_and_second_derivatives(ours, theirs, LOGITS)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torchs(reduction):
    """nn.*Loss(reduction) against torch.nn.*Loss: values and gradients."""
    probs = 1 / (1 + np.exp(-LOGITS))
    cases = [(nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, LOGITS, LABELS),
             (nn.NLLLoss, torch.nn.NLLLoss, LOGITS, LABELS),
             (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, LOGITS, TARGET),
             (nn.BCELoss, torch.nn.BCELoss, probs, TARGET),
             (nn.MSELoss, torch.nn.MSELoss, LOGITS, TARGET)]
    for ours, theirs, x, target in cases:
        criterion, reference = ours(reduction=reduction), theirs(reduction=reduction)
        # PyTorch's repr leaves the reduction out; ours names it when it is not the default
        assert repr(criterion) == (repr(reference) if reduction == "mean" else f"{ours.__name__}(reduction={reduction!r})")
        first_and_second_derivatives(lambda z: criterion(z, target),
                                     lambda z: reference(z, torch.tensor(target)), x)
    with pytest.raises(ValueError, match="MSELoss: unknown reduction 'avg'"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_of_an_empty_batch_match_torch(reduction):
    """A mean over no samples is NaN, as PyTorch's (and no numpy warning); a sum is 0."""
    z, labels, target = np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros((0, 3))
    cases = [(tc.cross_entropy, F.cross_entropy, labels), (tc.nll_loss, F.nll_loss, labels),
             (tc.mse_loss, F.mse_loss, target), (tc.bce, F.binary_cross_entropy, target),
             (tc.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, target)]
    import warnings

    for ours, theirs, t in cases:
        x = Tensor(z, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = ours(x, t, reduction=reduction)
            y.sum().backward()
        expected = theirs(torch.tensor(z), torch.tensor(t), reduction=reduction).numpy()
        assert y.shape == expected.shape and x.grad.shape == z.shape
        np.testing.assert_array_equal(y.data, expected)  # NaN where torch has NaN


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_log_softmax_layer_matches_torch(axis):
    first_and_second_derivatives(nn.LogSoftmax(dim=axis), torch.nn.LogSoftmax(dim=axis), LOGITS)


@pytest.mark.parametrize("shape, dims", [((3, 2, 4, 5), ()), ((3, 2, 4, 5), (0, 2)), ((3, 2, 4, 5), (2,)),
                                         ((3, 2, 4, 5), (-3, -2)), ((3, 0, 2), ()), ((), (0, -1)), ((3, 4), (1, 1))])
def test_flatten_matches_torch(shape, dims):
    x = rng.standard_normal(shape)
    ours, theirs = nn.Flatten(*dims)(Tensor(x)), torch.nn.Flatten(*dims)(torch.tensor(x))
    close(ours, theirs)


@pytest.mark.parametrize("shape, dims", [((3,), ()), ((), ()), ((3, 4, 5), (2, 1)), ((2, 3), (0, 5))])
def test_flatten_refuses_what_torch_refuses(shape, dims):
    with pytest.raises((IndexError, RuntimeError)):
        torch.nn.Flatten(*dims)(torch.ones(shape))
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=.*cannot flatten a tensor of shape"):
        nn.Flatten(*dims)(np.ones(shape))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_gradients_with_respect_to_the_target(reduction):
    for ours, theirs in [(tc.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
                         (tc.mse_loss, F.mse_loss)]:
        za, zb = both(LOGITS)
        ta, tb = both(TARGET)
        ya, yb = ours(za, ta, reduction=reduction), theirs(zb, tb, reduction=reduction)
        g = rng.standard_normal(ya.shape)
        ya.backward(g)
        yb.backward(torch.tensor(g))
        close(za.grad, zb.grad)
        close(ta.grad, tb.grad)


def test_bce_with_logits_is_finite_and_exact_for_huge_logits():
    z = np.array([-1000.0, -50.0, 50.0, 1000.0])
    t = np.array([1.0, 0.0, 1.0, 0.0])
    a, b = both(z)
    ya = tc.binary_cross_entropy_with_logits(a, t, reduction="none")
    yb = F.binary_cross_entropy_with_logits(b, torch.tensor(t), reduction="none")
    close(ya, yb, rtol=1e-15, atol=1e-21)  # torch rounds log1p(e^-50) away at z = -50
    np.testing.assert_array_equal(ya.data, [1000.0, 0.0, 0.0, 1000.0] + np.log1p(np.exp(-np.abs(z))))
    ya.sum().backward()
    yb.sum().backward()
    close(a.grad, b.grad, rtol=1e-15, atol=0)


# ----- modules: keys, weights moved by one dict comprehension, outputs and gradients ---------
class OurNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, dtype=np.float64), nn.BatchNorm2d(3, dtype=np.float64),
                                      nn.GELU())
        self.heads = nn.ModuleList([nn.Linear(3 * 4 * 4, 8, dtype=np.float64), nn.Linear(8, 2, dtype=np.float64)])
        self.bn = nn.BatchNorm1d(8, momentum=None, dtype=np.float64)
        self.drop = nn.Dropout(0.0)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x):
        h = self.features(x)
        h = self.act(self.bn(self.heads[0](h.reshape(h.shape[0], -1))))
        return self.heads[1](self.drop(h))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.GELU())
        self.heads = torch.nn.ModuleList([torch.nn.Linear(3 * 4 * 4, 8), torch.nn.Linear(8, 2)])
        self.bn = torch.nn.BatchNorm1d(8, momentum=None)
        self.drop = torch.nn.Dropout(0.0)
        self.act = torch.nn.LeakyReLU(0.1)

    def forward(self, x):
        h = self.features(x)
        h = self.act(self.bn(self.heads[0](h.reshape(h.shape[0], -1))))
        return self.heads[1](self.drop(h))


def twin_nets():
    torch.manual_seed(0)
    theirs = TorchNet().double()
    ours = OurNet()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def test_state_dict_keys_shapes_and_dtypes_equal_pytorch():
    ours, theirs = twin_nets()
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k
    assert sd["bn.num_batches_tracked"].dtype == np.int64
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_training_steps_outputs_gradients_and_running_statistics_match():
    ours, theirs = twin_nets()
    x = rng.standard_normal((6, 1, 6, 6))
    for step in range(3):
        xb = x + step  # a shifted batch each time, so the running statistics move
        a, b = both(xb)
        ya, yb = ours(a), theirs(b)
        close(ya, yb)
        g = rng.standard_normal(ya.shape)
        ours.zero_grad()
        theirs.zero_grad()
        ya.backward(g)
        yb.backward(torch.tensor(g))
        close(a.grad, b.grad)
        for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            close(p.grad, tp.grad)
    for k, v in theirs.state_dict().items():  # running means, unbiased running variances, counts
        close(ours.state_dict()[k], v)
    ours.eval(), theirs.eval()
    close(ours(x), theirs(torch.tensor(x)))


@pytest.mark.parametrize("shape", [(7, 3), (5, 3, 4)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm1d_running_statistics(shape, momentum):
    ours = nn.BatchNorm1d(3, momentum=momentum, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    for step in range(4):
        x = rng.standard_normal(shape) * (step + 1) + step
        first_and_second_derivatives(ours, theirs, x)
    ours.eval(), theirs.eval()
    first_and_second_derivatives(ours, theirs, rng.standard_normal(shape))
    for k, v in theirs.state_dict().items():
        close(ours.state_dict()[k], v)


def test_batchnorm_without_affine_or_running_stats():
    for kw in (dict(affine=False), dict(track_running_stats=False), dict(eps=1e-3, momentum=0.3)):
        ours, theirs = nn.BatchNorm2d(2, dtype=np.float64, **kw), torch.nn.BatchNorm2d(2, **kw).double()
        assert list(ours.state_dict()) == list(theirs.state_dict())
        x = rng.standard_normal((3, 2, 4, 5))
        first_and_second_derivatives(ours, theirs, x)
        ours.eval(), theirs.eval()
        first_and_second_derivatives(ours, theirs, x)


# ----- optimizers: 5-step trajectories ------------------------------------------------------
OPTIMIZERS = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd momentum": (lambda ps: optim.SGD(ps, 0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, 0.05, momentum=0.9)),
    "sgd nesterov": (lambda ps: optim.SGD(ps, 0.05, momentum=0.8, nesterov=True),
                     lambda ps: torch.optim.SGD(ps, 0.05, momentum=0.8, nesterov=True)),
    "sgd weight decay": (lambda ps: optim.SGD(ps, 0.1, weight_decay=0.3),
                         lambda ps: torch.optim.SGD(ps, 0.1, weight_decay=0.3)),
    "sgd all": (lambda ps: optim.SGD(ps, 0.05, momentum=0.7, weight_decay=0.2, nesterov=True),
                lambda ps: torch.optim.SGD(ps, 0.05, momentum=0.7, weight_decay=0.2, nesterov=True)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam betas eps": (lambda ps: optim.Adam(ps, 0.02, betas=(0.8, 0.99), eps=1e-3),
                       lambda ps: torch.optim.Adam(ps, 0.02, betas=(0.8, 0.99), eps=1e-3)),
    "adam weight decay": (lambda ps: optim.Adam(ps, 0.01, weight_decay=0.1),
                          lambda ps: torch.optim.Adam(ps, 0.01, weight_decay=0.1)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01)),
    "adamw strong decay": (lambda ps: optim.AdamW(ps, 0.05, betas=(0.5, 0.9), weight_decay=0.5),
                           lambda ps: torch.optim.AdamW(ps, 0.05, betas=(0.5, 0.9), weight_decay=0.5)),
}

W0, B0 = rng.standard_normal((3, 4)), rng.standard_normal(3)
XS, YS = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))


def our_loss(w, b):
    return tc.mse_loss((XS @ w.T + b).tanh(), YS)


def torch_loss(w, b):
    return F.mse_loss(torch.tanh(torch.tensor(XS) @ w.T + b), torch.tensor(YS))


def run_ours(make, steps, w=None, b=None, opt=None):
    w = Tensor(W0.copy(), requires_grad=True) if w is None else w
    b = Tensor(B0.copy(), requires_grad=True) if b is None else b
    opt = make([w, b]) if opt is None else opt
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        our_loss(w, b).backward()
        opt.step()
        trajectory.append((w.data.copy(), b.data.copy()))
    return trajectory, (w, b, opt)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_five_step_trajectory_matches_torch(name):
    ours_make, torch_make = OPTIMIZERS[name]
    ours, _ = run_ours(ours_make, 5)
    w, b = torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)
    opt = torch_make([w, b])
    for step in range(5):
        opt.zero_grad()
        torch_loss(w, b).backward()
        opt.step()
        close(ours[step][0], w)
        close(ours[step][1], b)
    assert not np.allclose(ours[-1][0], W0)  # the parameters did move


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_resume_from_a_saved_state_dict_is_bit_for_bit(name, tmp_path):
    make = OPTIMIZERS[name][0]
    straight, _ = run_ours(make, 6)
    _, (w, b, opt) = run_ours(make, 3)
    tc.save(opt.state_dict(), tmp_path / "opt.npz")
    tc.save({"w": w, "b": b}, tmp_path / "params.npz")
    params = tc.load(tmp_path / "params.npz")
    w2, b2 = Tensor(params["w"], requires_grad=True), Tensor(params["b"], requires_grad=True)
    fresh = make([w2, b2])
    fresh.load_state_dict(tc.load(tmp_path / "opt.npz"))
    resumed, _ = run_ours(make, 3, w2, b2, fresh)
    for (wa, ba), (wb, bb) in zip(straight[3:], resumed):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


# ----- the seed's network, 20 SGD steps --------------------------------------------------------
def test_seed_network_twenty_sgd_steps_match_torch():
    """Conv2d(1, 5, 3) → sigmoid → reshape → Linear(5·26·26, 100) → sigmoid → Linear(100, 2) →
    sigmoid, binary cross-entropy, plain SGD, one 28×28 image per step, as the seed."""
    ours = nn.Sequential(nn.Conv2d(1, 5, 3, dtype=np.float64), nn.Sigmoid(), nn.Reshape(5 * 26 * 26),
                         nn.Linear(5 * 26 * 26, 100, dtype=np.float64), nn.Sigmoid(),
                         nn.Linear(100, 2, dtype=np.float64), nn.Sigmoid())
    torch.manual_seed(1)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3), torch.nn.Sigmoid(), torch.nn.Flatten(),
                                 torch.nn.Linear(5 * 26 * 26, 100), torch.nn.Sigmoid(),
                                 torch.nn.Linear(100, 2), torch.nn.Sigmoid()).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    opt, topt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    images = rng.random((20, 1, 1, 28, 28))
    targets = np.eye(2)[rng.integers(0, 2, 20)][:, None]
    losses, tlosses = [], []
    for x, t in zip(images, targets):
        opt.zero_grad()
        loss = tc.binary_cross_entropy(ours(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        topt.zero_grad()
        tloss = F.binary_cross_entropy(theirs(torch.tensor(x)), torch.tensor(t))
        tloss.backward()
        topt.step()
        tlosses.append(tloss.item())
    np.testing.assert_allclose(losses, tlosses, rtol=1e-9, atol=0)
    assert losses[-1] != losses[0]
    for k, v in theirs.state_dict().items():
        close(ours.state_dict()[k], v)
