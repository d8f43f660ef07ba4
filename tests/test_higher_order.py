"""Higher-order gradients: `tc.grad` semantics, double backward of every op through
`gradgradcheck`, Hessian-vector products of the seed's conv → sigmoid → BCE model against
finite-difference references, and derivatives of order three and four."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from test_ops import CASES, Case, _id

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor
from tinygrad_cnn.ops import conv, elementwise
from tinygrad_cnn.tensor import Function

rng = np.random.default_rng(8)


def _sig(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _inputs(case: Case, seed: int) -> list[Tensor]:
    """The case's shapes, drawn from our own generator (test_ops' stream stays untouched)."""
    r = np.random.default_rng(seed)
    arrays = [r.uniform(0.2, 0.8, s) if case.positive else r.standard_normal(s) for s in case.shapes]
    return [Tensor(a, requires_grad=True) for a in arrays]


def _graph_ops(root: Tensor) -> list[Function]:
    """Every op in the graph that produced `root`."""
    seen, ops, stack = set(), [], [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx is not None:
            ops.append(t._ctx)
            stack.extend(t.parents)
    return ops


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the ops that record a graph node while the test runs."""
    names: list[str] = []
    apply = Function.apply.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Function], *inputs: Tensor, **options: object) -> Tensor:
        out = apply(cls, *inputs, **options)
        if out._ctx is not None:
            names.append(cls.name)
        return out

    monkeypatch.setattr(Function, "apply", classmethod(spy))
    return names


# ----- the seed's model: Y = B + X ⋆ K, P = σ(Y), E = BCE(P, T) --------------------------

N, C_IN, C_OUT, H, W, KH, KW = 2, 2, 2, 5, 4, 3, 2
X0 = rng.standard_normal((N, C_IN, H, W))
K0 = 0.7 * rng.standard_normal((C_OUT, C_IN, KH, KW))
B0 = 0.3 * rng.standard_normal((C_OUT, 1, 1))
T0 = (rng.uniform(size=(N, C_OUT, H - KH + 1, W - KW + 1)) > 0.5).astype(np.float64)


def model_loss(x: Tensor, k: Tensor, b: Tensor) -> Tensor:
    return tc.binary_cross_entropy((b + tc.correlate2d(x, k)).sigmoid(), T0)


def ref_loss(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> float:
    """The same loss from the seed's formulas with scipy, sharing no code with the library."""
    y = np.array([[b[i, 0, 0] + sum(signal.correlate2d(x[n, j], k[i, j], "valid") for j in range(C_IN))
                   for i in range(C_OUT)] for n in range(N)])
    p = _sig(y)
    return float(-np.mean(T0 * np.log(p) + (1 - T0) * np.log(1 - p)))


def _params() -> list[Tensor]:
    return [Tensor(a.copy(), requires_grad=True, name=n) for a, n in ((X0, "X"), (K0, "K"), (B0, "B"))]


def _hvp(params: list[Tensor], v: list[np.ndarray]) -> tuple[Tensor, ...]:
    """H·v = d/dθ (∇E(θ) · v): differentiate the recorded gradient once more."""
    grads = tc.grad(model_loss(*params), params, create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(grads, v))
    return tc.grad(dot, params)


def test_hvp_matches_finite_differences_of_the_gradient():
    params = _params()
    v = [rng.standard_normal(p.shape) for p in params]
    hv = _hvp(params, v)

    def gradient(shift: float) -> list[np.ndarray]:
        ps = [Tensor(p.data + shift * vi, requires_grad=True) for p, vi in zip(params, v)]
        model_loss(*ps).backward()
        return [p.grad for p in ps]

    eps = 1e-5
    plus, minus = gradient(eps), gradient(-eps)
    for h, gp, gm in zip(hv, plus, minus):
        np.testing.assert_allclose(h.data, (gp - gm) / (2 * eps), rtol=1e-6, atol=1e-9)
    assert max(np.abs(h.data).max() for h in hv) > 1e-2  # a real curvature, not zeros agreeing


def test_hvp_matches_second_differences_of_an_independent_loss():
    """H·v from E alone (scipy forward, no backward anywhere):
    (e_iᵀ H v) ≈ [E(θ+h·e_i+h·v) − E(θ+h·e_i−h·v) − E(θ−h·e_i+h·v) + E(θ−h·e_i−h·v)] / 4h²."""
    params = _params()
    v = [rng.standard_normal(p.shape) for p in params]
    hv = _hvp(params, v)
    h = 1e-4
    theta = [p.data.copy() for p in params]
    for which, analytic in enumerate(hv):
        numeric = np.empty(theta[which].shape)
        for e in range(numeric.size):
            total = 0.0
            for s_e, s_v in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                point = [t + s_v * h * vi for t, vi in zip(theta, v)]
                point[which].flat[e] += s_e * h
                total += s_e * s_v * ref_loss(*point)
            numeric.flat[e] = total / (4 * h * h)
        np.testing.assert_allclose(analytic.data, numeric, atol=2e-6)


def test_hessian_from_hvps_is_symmetric():
    """Columns H·e_j for the kernel and bias: the mixed partials must agree (Schwarz)."""
    params = _params()[1:]
    x = Tensor(X0)
    sizes = [p.size for p in params]
    grads = tc.grad(model_loss(x, *params), params, create_graph=True)
    columns = []
    for j in range(sum(sizes)):
        unit = np.zeros(sum(sizes))
        unit[j] = 1
        pieces = np.split(unit, np.cumsum(sizes)[:-1])
        dot = sum((g * u.reshape(g.shape)).sum() for g, u in zip(grads, pieces))
        columns.append(np.concatenate([c.data.ravel() for c in tc.grad(dot, params, retain_graph=True)]))
    hessian = np.stack(columns, axis=1)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)
    assert np.abs(hessian).max() > 1e-2


# ----- every op to second order ----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_gradgradcheck_every_op(case: Case):
    assert tc.gradgradcheck(case.fn, _inputs(case, seed=len(CASES)), **(case.check or {}))


def test_gradgradcheck_covers_every_op_class():
    ops = {cls for mod in (conv, elementwise) for cls in vars(mod).values()
           if isinstance(cls, type) and issubclass(cls, Function) and hasattr(cls, "forward")}
    assert ops <= {c.op for c in CASES}


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(monkeypatch: pytest.MonkeyPatch):
    """σ' computed on raw arrays: first derivatives right, second derivatives zero."""

    def detached(self: elementwise.Sigmoid, g: Tensor) -> tuple[Tensor]:
        y = self._y  # the raw array the op keeps: a constant to the recorded graph
        return (g * (y * (1 - y)),)

    monkeypatch.setattr(elementwise.Sigmoid, "backward", detached)
    x = Tensor(rng.standard_normal(5), requires_grad=True, name="x")
    v = rng.standard_normal(5)
    assert tc.gradcheck(tc.sigmoid, [x])
    with pytest.raises(tc.GradcheckError) as err:
        tc.gradgradcheck(tc.sigmoid, [x], grad_outputs=v)
    msg = str(err.value)
    assert msg.startswith("gradgradcheck:") and "second derivatives" in msg
    row = [line for line in msg.splitlines() if "'x'" in line][0]
    s = _sig(x.data)
    second = v * s * (1 - s) * (1 - 2 * s)  # d/dx of v·σ'(x)
    e = int(np.argmax(np.abs(second)))
    assert f"({e},)" in row and f"d/d[input 0] at [{e}]" in row
    analytic, numerical, error = (float(t) for t in row.split()[-3:])
    assert analytic == 0
    assert numerical == pytest.approx(second[e], rel=1e-4)
    assert error == pytest.approx(abs(second[e]), rel=1e-2)
    assert tc.gradgradcheck(tc.sigmoid, [x], grad_outputs=v, raise_exception=False) is False


def test_gradgradcheck_checks_the_derivative_in_the_upstream_gradient(monkeypatch: pytest.MonkeyPatch):
    """A backward that cuts dE/dY from the graph is wrong in V = dE/dY, which only the
    drawn, differentiable grad_outputs can reveal."""
    def cut(g):  # dE/dY as a constant: the recorded graph loses its dependence on it
        return g.detach() if isinstance(g, Tensor) else g

    monkeypatch.setattr(elementwise.Exp, "backward", lambda self, g: (cut(g) * self.output(g),))
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(tc.GradcheckError, match="grad_output 0"):
        tc.gradgradcheck(tc.exp, [x])
    assert tc.gradgradcheck(tc.exp, [x], grad_outputs=np.ones(3))  # a constant V: only d/dx is checked


def test_gradgradcheck_takes_several_outputs_unused_inputs_and_no_grad():
    a = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    unused = Tensor(rng.standard_normal(2), requires_grad=True)
    assert tc.gradgradcheck(lambda a, b, u: ((a * b).tanh(), a.exp()), [a, b, unused])
    with tc.no_grad():
        assert tc.gradgradcheck(lambda a, b, u: (a * b).sigmoid(), [a, b, unused])
    with pytest.raises(ValueError, match="1 outputs but 2 grad_outputs"):
        tc.gradgradcheck(lambda a: a * 2, [a], grad_outputs=[np.ones((2, 3))] * 2)
    with pytest.raises(ValueError, match=r"\(3,\) does not match the output's shape \(2, 3\)"):
        tc.gradgradcheck(lambda a: a * 2, [a], grad_outputs=np.ones(3))


# ----- tc.grad semantics ---------------------------------------------------------------------------


def test_grad_returns_a_tuple_and_leaves_every_grad_alone():
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal(4), requires_grad=True)
    x.grad = np.full(x.shape, 7.0)
    h = (x @ w).tanh()
    gx, gw = tc.grad(h.sum(), [x, w], retain_graph=True)
    s = 1 - np.tanh(x.data @ w.data) ** 2
    np.testing.assert_allclose(gx.data, np.outer(s, w.data), atol=1e-12)
    np.testing.assert_allclose(gw.data, x.data.T @ s, atol=1e-12)
    np.testing.assert_array_equal(x.grad, 7.0)
    assert w.grad is None and h.grad is None
    (single,) = tc.grad(h.sum(), w)  # one input is still a tuple
    np.testing.assert_array_equal(single.data, gw.data)


def test_grad_of_an_intermediate_and_with_grad_outputs():
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    h = x.exp()
    y = h * h
    v = rng.standard_normal(4)
    gh, gx = tc.grad(y, [h, x], grad_outputs=v, retain_graph=True)
    np.testing.assert_allclose(gh.data, 2 * v * np.exp(x.data), atol=1e-12)
    np.testing.assert_allclose(gx.data, 2 * v * np.exp(2 * x.data), atol=1e-12)
    (g2,) = tc.grad([y.sum(), h.sum()], x)  # several outputs: their gradients add up
    np.testing.assert_allclose(g2.data, 2 * np.exp(2 * x.data) + np.exp(x.data), atol=1e-12)


def test_create_graph_false_records_nothing_and_takes_the_fast_conv_path(recorded, monkeypatch):
    def forbidden(self: conv.Correlate2d, g: Tensor) -> None:
        raise AssertionError("the recorded formulas ran although create_graph=False")

    monkeypatch.setattr(conv.Correlate2d, "_backward_graph", forbidden)
    x, k, b = (Tensor(a, requires_grad=True) for a in (X0, K0, B0))
    loss = model_loss(x, k, b)
    recorded.clear()
    grads = tc.grad(loss, [x, k, b], retain_graph=True)
    assert recorded == []
    for g, t in zip(grads, (x, k, b)):
        assert not g.requires_grad and g.parents == () and g.is_leaf and g.op is None
        assert g.shape == t.shape and t.grad is None
    # the same numbers as backward()
    loss.backward()
    for g, t in zip(grads, (x, k, b)):
        np.testing.assert_array_equal(g.data, t.grad)


def test_create_graph_false_detaches_a_passed_through_grad_output():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    v = Tensor(rng.standard_normal(3), requires_grad=True)
    (g,) = tc.grad(x + 1.0, x, grad_outputs=v)  # add passes V straight through
    assert g is not v and not g.requires_grad and g.parents == ()
    np.testing.assert_array_equal(g.data, v.data)
    (g,) = tc.grad(x + 1.0, x, grad_outputs=v, create_graph=True)
    assert g.requires_grad  # with a graph it still depends on V


def test_grad_runs_no_backward_off_the_path_to_the_inputs(monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []
    pow_backward = elementwise.Pow.backward

    def counted(self: elementwise.Pow, g: Tensor) -> tuple[Tensor]:
        calls.append("pow")
        return pow_backward(self, g)

    monkeypatch.setattr(elementwise.Pow, "backward", counted)
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    loss = (x * w).sum() + (w**2).sum()  # the w**2 branch does not lead to x
    (gx,) = tc.grad(loss, x, retain_graph=True)
    np.testing.assert_array_equal(gx.data, w.data)
    assert calls == []
    tc.grad(loss, w)
    assert calls == ["pow"]


def test_create_graph_true_records_the_backward(recorded):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = x.sigmoid().sum()
    recorded.clear()
    (g,) = tc.grad(y, x, create_graph=True)
    assert g.requires_grad and not g.is_leaf
    assert "mul" in recorded and "sub" in recorded  # dE/dX = dE/dY · Y · (1 − Y)
    assert x.grad is None


def test_unused_input_raises_unless_allowed():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    unused = Tensor(rng.standard_normal((2, 2)), requires_grad=True)
    y = (x * 3).sum()
    with pytest.raises(ValueError, match=r"shape \(2, 2\) was not used.*allow_unused=True"):
        tc.grad(y, [x, unused], retain_graph=True)
    gx, gu = tc.grad(y, [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.data, 3.0)
    assert gu is None
    with pytest.raises(ValueError, match=r"shape \(3,\) does not require grad"):
        tc.grad(y, [Tensor(np.ones(3))])
    with pytest.raises(ValueError, match="grad must be given"):
        tc.grad(x * 3, x)


# ----- the gradient graph is the seed's formulas ---------------------------------------------------------

SEED_X = np.array([[1.0, 6, 2], [5, 3, 1], [7, 0, 4]])
SEED_K = np.array([[1.0, 2], [-1, 0]])
SEED_T = np.array([[1.0, 0], [0, 1]])


def test_gradient_graph_of_the_seed_example_is_dY_full_convolved_with_K():
    X = Tensor(SEED_X, requires_grad=True, name="X")
    K = Tensor(SEED_K, requires_grad=True, name="K")
    E = tc.bce(tc.correlate2d(X, K).sigmoid(), SEED_T)
    dX, dK = tc.grad(E, [X, K], create_graph=True)
    # dE/dX = dE/dY *full K: a convolve2d node in full mode, its kernel K itself
    assert dX.op == "convolve2d" and dX._ctx.mode == "full" and dX.parents[1] is K
    # dE/dK = X ⋆ dE/dY: a valid correlate2d of X itself
    assert dK.op == "correlate2d" and dK._ctx.mode == "valid" and dK.parents[0] is X
    dY = (_sig(signal.correlate2d(SEED_X, SEED_K, "valid")) - SEED_T) / SEED_T.size  # σ + BCE
    np.testing.assert_allclose(dX.parents[0].data, dY, atol=1e-12)
    np.testing.assert_allclose(dX.data, signal.convolve2d(dY, SEED_K, "full"), atol=1e-12)
    np.testing.assert_allclose(dK.data, signal.correlate2d(SEED_X, dY, "valid"), atol=1e-12)


@pytest.mark.parametrize("op, dx_op", [("correlate2d", "convolve2d"), ("convolve2d", "correlate2d")])
def test_batched_gradient_graph_contains_the_full_mode_op(op: str, dx_op: str):
    x = Tensor(X0, requires_grad=True)
    k = Tensor(K0, requires_grad=True)
    y = getattr(tc, op)(x, k)
    (dx,) = tc.grad(y.tanh().sum(), x, create_graph=True)
    convs = [f for f in _graph_ops(dx) if f.name in ("correlate2d", "convolve2d")]
    full = [f for f in convs if f.name == dx_op and f.mode == "full"]
    assert len(full) == 1 and full[0].parents[1].op == "transpose"  # Σ_i over K's output channels
    assert [f for f in convs if f is not full[0]] == [y._ctx]  # besides it only the forward: no dK graph


def test_gradient_graph_is_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        X = Tensor(SEED_X, requires_grad=True)
        K = Tensor(SEED_K, requires_grad=True)
        E = tc.bce(tc.correlate2d(X, K).sigmoid(), SEED_T)
        (dX,) = tc.grad(E, X, create_graph=True)
        (hv,) = tc.grad((dX * dX).sum(), K)
        refs = [weakref.ref(t) for t in (E, dX, dX.parents[0], E.parents[0])]
        del E, dX, hv
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


# ----- derivatives compose: order three and four -----------------------------------------------------


def _derivatives(f, x: Tensor, order: int) -> list[Tensor]:
    out, result = f(x), []
    for _ in range(order):
        (out,) = tc.grad(out.sum(), x, create_graph=True)
        result.append(out)
    return result


def test_third_derivative_of_x_cubed_is_six():
    x = Tensor(np.array([0.5, -1.2, 2.0]), requires_grad=True)
    d1, d2, d3 = _derivatives(lambda t: t**3, x, 3)
    np.testing.assert_allclose(d1.data, 3 * x.data**2)
    np.testing.assert_allclose(d2.data, 6 * x.data)
    np.testing.assert_allclose(d3.data, 6.0)


def test_fourth_derivatives_of_exp_and_tanh():
    x = Tensor(np.array([-0.7, 0.1, 1.3]), requires_grad=True)
    for n, d in enumerate(_derivatives(lambda t: (2 * t).exp(), x, 4), start=1):
        np.testing.assert_allclose(d.data, 2.0**n * np.exp(2 * x.data), rtol=1e-12)
    t = np.tanh(x.data)
    expected = [1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2), 8 * t * (1 - t**2) * (2 - 3 * t**2)]
    for d, e in zip(_derivatives(Tensor.tanh, x, 4), expected):
        np.testing.assert_allclose(d.data, e, rtol=1e-10, atol=1e-12)


def test_third_derivative_through_a_conv():
    """E = Σ σ(x ⋆ k): d³E/dx³ along one element is Σ k_uv³ σ'''(y) over the windows that contain it."""
    x = Tensor(rng.standard_normal((4, 4)), requires_grad=True)
    k = rng.standard_normal((2, 2))
    y = signal.correlate2d(x.data, k, "valid")
    s = _sig(y)
    s3 = s * (1 - s) * (1 - 6 * s + 6 * s * s)  # σ'''
    d1 = tc.grad(tc.correlate2d(x, k).sigmoid().sum(), x, create_graph=True)[0]
    # differentiate d1[i, j] twice more along the same element: the diagonal of the third derivative
    e = (1, 2)
    (d2,) = tc.grad((d1 * _unit(x.shape, e)).sum(), x, create_graph=True)
    (d3,) = tc.grad((d2 * _unit(x.shape, e)).sum(), x)
    expected = sum(k[e[0] - a, e[1] - b] ** 3 * s3[a, b]
                   for a in range(y.shape[0]) for b in range(y.shape[1])
                   if 0 <= e[0] - a < 2 and 0 <= e[1] - b < 2)
    assert d3.data[e] == pytest.approx(expected, rel=1e-10)


def _unit(shape: tuple[int, ...], index: tuple[int, ...]) -> np.ndarray:
    u = np.zeros(shape)
    u[index] = 1
    return u



def test_example_draws_the_gradient_graph(tmp_path):
    """examples/draw_gradient_graph.py: the drawn dE/dX graph holds the full-mode convolve2d."""
    script = Path(__file__).resolve().parent.parent / "examples" / "draw_gradient_graph.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    svg = (tmp_path / "gradient_graph.svg").read_text()
    assert "convolve2d" in svg and "mode=&#39;full&#39;" in svg and "dE/dY" in svg
    assert (tmp_path / "gradient_graph_hvp.svg").stat().st_size > 0
    agree = float(out.stdout.split("agree to ")[1].split()[0])
    assert agree < 1e-7
