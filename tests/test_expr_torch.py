"""The tensor-expression ops against PyTorch: values, first and second derivatives to
1e-9 in float64 (PyTorch is a test oracle only; the package never imports it).

Each row is (tinygrad_cnn function, torch function, input shapes, sampler). The first
derivative is `grad(y, x, G)` for a per-element upstream G; the second differentiates
`Σ grad · V` again, with create_graph=True on both sides.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import Tensor  # noqa: E402

rng = np.random.default_rng(12)
MASK = rng.random((3, 4)) < 0.5
IDX = np.array([2, 0, 2, 1, 2])


def normal(r, s):
    return r.standard_normal(s)


def positive(r, s):
    return r.uniform(0.3, 2.0, s)


def away(r, s):
    return r.uniform(0.3, 2.0, s) * r.choice([-1.0, 1.0], s)


# label: (ours, torch's, shapes, sampler)
ROWS: dict[str, tuple[Callable, Callable, tuple, Callable]] = {
    "abs": (tc.abs, torch.abs, ((3, 4),), away),
    "sqrt": (tc.sqrt, torch.sqrt, ((3, 4),), positive),
    "sin": (tc.sin, torch.sin, ((3, 4),), normal),
    "cos": (lambda x: x.cos(), torch.cos, ((3, 4),), normal),
    "log1p": (tc.log1p, torch.log1p, ((3, 4),), positive),
    "maximum": (tc.maximum, torch.maximum, ((3, 4), (4,)), normal),
    "minimum": (tc.minimum, torch.minimum, ((3, 1), (3, 4)), normal),
    "where": (lambda a, b: tc.where(MASK, a, b), lambda a, b: torch.where(torch.from_numpy(MASK), a, b),
              ((3, 4), (1, 4)), normal),
    "where comparison": (lambda a: tc.where(a > 0, a * a, -a), lambda a: torch.where(a > 0, a * a, -a),
                         ((3, 4),), away),
    "clip": (lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), ((4, 5),), away),
    "max all": (lambda a: a.max(), torch.amax, ((3, 4),), normal),
    "max dim": (lambda a: a.max(dim=1, keepdim=True), lambda a: a.amax(dim=1, keepdim=True), ((3, 4),), normal),
    "max tuple": (lambda a: a.max((0, 2)), lambda a: a.amax((0, 2)), ((3, 4, 2),), normal),
    "max ties": (lambda a: tc.maximum(a, 0.5).max(1), lambda a: torch.maximum(a, torch.tensor(0.5, dtype=a.dtype)).amax(1),
                 ((3, 6),), lambda r, s: r.uniform(-2, 0.2, s)),
    "min": (lambda a: a.min(0), lambda a: a.amin(0), ((3, 4),), normal),
    "var": (lambda a: a.var(), torch.var, ((3, 4),), normal),
    "var dim": (lambda a: a.var(dim=(0, 2), keepdim=True), lambda a: a.var(dim=(0, 2), keepdim=True), ((3, 4, 2),),
                normal),
    "var correction 0": (lambda a: a.var(1, correction=0), lambda a: a.var(1, correction=0), ((3, 4),), normal),
    "std": (lambda a: a.std(1), lambda a: a.std(1), ((3, 4),), normal),
    # rows 0 and 1 constant (their first value repeated): std 0, and a gradient of 0, not NaN
    "std of constant rows": (lambda a: tc.cat([a[:2, :1] + tc.zeros(1, 4), a[2:]]).std(1),
                             lambda a: torch.cat([a[:2, :1] + torch.zeros(1, 4, dtype=a.dtype), a[2:]]).std(1),
                             ((3, 4),), normal),
    "logsumexp": (lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), ((3, 4),), normal),
    "logsumexp tuple": (lambda a: tc.logsumexp(a, dim=(0, 2)), lambda a: a.logsumexp((0, 2)), ((3, 4, 2),), normal),
    "getitem basic": (lambda a: a[1:, None, ::2, -1], lambda a: a[1:, None, ::2, -1], ((3, 5, 2),), normal),
    "getitem ellipsis": (lambda a: a[..., 1], lambda a: a[..., 1], ((2, 3, 4),), normal),
    "getitem repeated": (lambda a: a[IDX] * a[IDX], lambda a: a[torch.from_numpy(IDX)] * a[torch.from_numpy(IDX)],
                         ((3, 4),), normal),
    "getitem pairs": (lambda a: a[[0, 2, 0], [1, 3, 1]], lambda a: a[[0, 2, 0], [1, 3, 1]], ((3, 4),), normal),
    "getitem mask": (lambda a: a[MASK], lambda a: a[torch.from_numpy(MASK)], ((3, 4),), normal),
    "getitem int tensor": (lambda a: a[tc.arange(2)], lambda a: a[torch.arange(2)], ((3, 4),), normal),
    "cat": (lambda a, b: tc.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1), ((2, 3), (2, 2)), normal),
    "stack": (lambda a, b: tc.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), ((2, 3), (2, 3)), normal),
    "split": (lambda a: a.split(2, 1)[1] * a.split([1, 4], 1)[1][:, :2],
              lambda a: a.split(2, 1)[1] * a.split([1, 4], 1)[1][:, :2], ((3, 5),), normal),
    "pad": (lambda a: tc.pad(a, ((0, 0), (1, 2)), value=0.5),
            lambda a: torch.nn.functional.pad(a, (1, 2), value=0.5), ((2, 3),), normal),
    "squeeze unsqueeze": (lambda a: a.squeeze(1).unsqueeze(-1), lambda a: a.squeeze(1).unsqueeze(-1), ((3, 1, 2),),
                          normal),
    "squeeze all": (lambda a: a.squeeze(), lambda a: a.squeeze(), ((1, 3, 1),), normal),
    "flip": (lambda a: a.flip((0,)), lambda a: a.flip((0,)), ((3, 2),), normal),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), ((2, 3, 4),), normal),
    "transpose 2-D": (lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), ((2, 3),), normal),
    "transpose -2 -1": (lambda a: a.transpose(-2, -1), lambda a: a.transpose(-2, -1), ((2, 3, 4),), normal),
    "broadcast_to": (lambda a: a.broadcast_to((2, 3, 4)), lambda a: a.broadcast_to((2, 3, 4)), ((3, 1),), normal),
    "float double": (lambda a: a.float().double() * a, lambda a: a.float().double() * a, ((3,),), normal),
    "softmax 0-d": (lambda a: tc.softmax(a, 0) * a, lambda a: torch.softmax(a, 0) * a, ((),), normal),
    "log_softmax 0-d": (lambda a: tc.log_softmax(a, -1) + a * a, lambda a: torch.log_softmax(a, -1) + a * a, ((),),
                        normal),
    "sum 0-d": (lambda a: (a * a).sum(0), lambda a: (a * a).sum(0), ((),), normal),
}


def _torch(a: np.ndarray):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("label", sorted(ROWS))
def test_values_and_two_derivatives_match_torch(label: str):
    ours, theirs, shapes, sample = ROWS[label]
    arrays = [sample(rng, s) for s in shapes]
    xs, ts = [Tensor(a, requires_grad=True) for a in arrays], [_torch(a) for a in arrays]
    y, ty = ours(*xs), theirs(*ts)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)

    g = rng.standard_normal(y.shape)
    d1 = tc.grad(y, xs, g, create_graph=True)
    td1 = torch.autograd.grad(ty, ts, torch.from_numpy(g), create_graph=True)
    for ours_g, their_g in zip(d1, td1):
        np.testing.assert_allclose(ours_g.data, their_g.detach().numpy(), rtol=1e-9, atol=1e-12)

    # second derivatives: differentiate Σ_i <dE/dx_i, V_i> once more (a gradient that does
    # not depend on the inputs, e.g. a selection's, has none: then torch's must be 0 too)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    wanted = [i for i, t in enumerate(td1) if t.requires_grad]
    tdot = sum((td1[i] * torch.from_numpy(vs[i])).sum() for i in wanted) if wanted else None
    td2 = torch.autograd.grad(tdot, ts, allow_unused=True) if wanted else [None] * len(ts)
    dot = sum((d1[i] * vs[i]).sum() for i in range(len(d1)))
    d2 = tc.grad(dot, xs, allow_unused=True) if dot.requires_grad else [None] * len(xs)
    for ours_h, their_h, a in zip(d2, td2, arrays):
        ours_h = np.zeros(a.shape) if ours_h is None else ours_h.data
        their_h = np.zeros(a.shape) if their_h is None else their_h.numpy(force=True)  # (a ZeroTensor too)
        np.testing.assert_allclose(ours_h, their_h, rtol=1e-9, atol=1e-12)


def test_argmax_argmin_match_torch():
    a = rng.standard_normal((3, 5))
    t = torch.from_numpy(a)
    for ours, theirs in [(Tensor(a).argmax(), t.argmax()), (Tensor(a).argmin(dim=1), t.argmin(dim=1)),
                         (tc.argmax(a, 0, keepdims=True), t.argmax(0, keepdim=True))]:
        assert ours.dtype == np.int64 and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_comparisons_match_torch():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        ours = getattr(Tensor(a), op)(Tensor(b))
        assert ours.dtype == np.bool_ and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, getattr(torch.from_numpy(a), op)(torch.from_numpy(b)).numpy())
