"""Numerical gradient checking by central differences.

dE/dx ≈ (E(x + ε) − E(x − ε)) / 2ε, error O(ε²). Use float64: in float32 the rounding
error of E divided by 2ε swamps the difference for any useful ε.

`gradgradcheck` applies the same test one level up: the function it differentiates
numerically is the first derivative itself, computed by `grad(..., create_graph=True)`,
so the analytic side is the backward of a backward.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .autograd import grad as _grad
from .grad_mode import grad_mode, is_grad_enabled, no_grad
from .tensor import Tensor

Outputs = Tensor | Sequence[Tensor]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _as_outputs(out: object, who: str) -> list[Tensor]:
    """fn's result as a list of Tensors (gradcheck's fn returns one, gradgradcheck's a tuple)."""
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{who}: fn must return a Tensor, got {type(o).__name__}")
    return outs  # type: ignore[return-value]


def _evaluate(fn: Callable[..., Outputs], inputs: Sequence[Tensor], who: str = "gradcheck") -> np.ndarray:
    """fn's outputs, flattened into one float64 vector."""
    with no_grad():
        outs = _as_outputs(fn(*inputs), who)
    if len(outs) == 1:
        return np.array(outs[0].data, dtype=np.float64)
    return np.concatenate([np.asarray(o.data, np.float64).ravel() for o in outs])


def _numerical_jacobian(fn: Callable[..., Outputs], inputs: Sequence[Tensor], i: int, eps: float) -> np.ndarray:
    """J[m, e] = d out[m] / d inputs[i][e], one column per input element."""
    x = inputs[i].data
    columns = []
    for e in range(x.size):
        idx = np.unravel_index(e, x.shape)
        original = x[idx]
        try:
            x[idx] = original + eps
            plus = _evaluate(fn, inputs)
            x[idx] = original - eps
            minus = _evaluate(fn, inputs)
        finally:  # the input is the caller's: leave it as it was, even if fn raised
            x[idx] = original
        columns.append(((plus - minus) / (2 * eps)).ravel())
    if not columns:  # an empty input: no columns, but still one row per output element
        return np.zeros((_evaluate(fn, inputs).size, 0))
    return np.stack(columns, axis=1)


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6) -> list[np.ndarray]:
    """Central-difference gradient of the size-1 output of `fn(*inputs)` for each input."""
    inputs = _check_inputs("numerical_grad", inputs, nudged="all")
    size = _evaluate(fn, inputs, "numerical_grad").size
    if size != 1:
        raise ValueError(f"numerical_grad: fn must return a tensor of size 1, got size {size}")
    return [_numerical_jacobian(fn, inputs, i, eps).reshape(t.shape) for i, t in enumerate(inputs)]


def _analytic_jacobian(fn: Callable[..., Outputs], inputs: Sequence[Tensor], checked: list[int],
                       who: str) -> list[np.ndarray]:
    """Row m of each Jacobian is the gradient of out[m]: one backward pass per output element."""
    with grad_mode(True):  # the graph is needed even when the caller is inside no_grad
        outs = _as_outputs(fn(*inputs), who)
    for j, o in enumerate(outs):
        if o.dtype.kind == "f" and o.dtype != np.float64:
            warnings.warn(f"{who}: output {j} is {o.dtype}; finite differences need float64 all the way "
                          "(the check is unreliable)", stacklevel=4)
    targets = [inputs[i] for i in checked]
    rows: list[list[np.ndarray]] = [[] for _ in checked]
    for out in outs:
        for m in range(out.size):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.flat[m] = 1
            if not out.requires_grad:  # the output does not depend on any checked input
                grads: tuple = (None,) * len(targets)
            else:
                grads = _grad(out, targets, seed, retain_graph=True, allow_unused=True)
            for r, (t, g) in enumerate(zip(targets, grads)):
                rows[r].append(np.zeros(t.size) if g is None else np.asarray(g.data, np.float64).ravel())
    return [np.stack(r) if r else np.zeros((0, inputs[i].size)) for r, i in zip(rows, checked)]


def _label(t: Tensor, i: int) -> str:
    return f"input {i}" + (f" ({t.name!r})" if t.name else "")


def _compare(
    who: str,
    fn: Callable[..., Outputs],
    inputs: list[Tensor],
    labels: list[str],
    output_label: Callable[[int], str],
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
) -> bool:
    """The shared body of gradcheck and gradgradcheck: analytic against numerical
    Jacobian for every input that requires grad, one report line per failing input."""
    checked = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not checked:
        raise ValueError(f"{who}: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:  # as PyTorch: the check is only meaningful in float64
            warnings.warn(
                f"{who}: {labels[i]} is {inputs[i].dtype}; finite differences need float64 inputs "
                "(in float32 rounding swamps the difference and the check is unreliable)",
                stacklevel=3,
            )
    analytic = _analytic_jacobian(fn, inputs, checked, who)
    failures = []
    for a, i in zip(analytic, checked):
        n = _numerical_jacobian(fn, inputs, i, eps)
        if a.shape != n.shape:
            raise GradcheckError(f"{who}: {labels[i]}: Jacobian shapes differ, {a.shape} vs {n.shape}")
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        # A NaN or inf on either side cannot be compared, so it counts as the worst error
        # (e.g. x − ε stepping outside log's domain must not pass a wrong gradient).
        excess[~(np.isfinite(a) & np.isfinite(n))] = np.inf
        if excess.size and excess.max() > 0:
            m, e = np.unravel_index(np.argmax(excess), excess.shape)
            index = np.unravel_index(e, inputs[i].shape)
            failures.append((labels[i], tuple(int(v) for v in index), output_label(int(m)), a[m, e], n[m, e]))
    if not failures:
        return True
    if not raise_exception:
        return False
    width = max(6, *(len(f[2]) for f in failures))
    what = "gradients" if who == "gradcheck" else "second derivatives"
    lines = [f"{who}: analytic and numerical {what} differ"]
    lines.append(f"  {'input':<22} {'element':<14} {'output':>{width}} {'analytic':>14} {'numerical':>14} {'error':>11}")
    for label, index, m, a, n in failures:
        lines.append(f"  {label:<22} {str(index):<14} {m:>{width}} {a:>14.6g} {n:>14.6g} {abs(a - n):>11.3g}")
    if who == "gradcheck":
        note = "output = flat index into fn's result"
    else:
        note = "output = the element of the first derivative that was differentiated"
    lines.append(f"  (tolerance: atol={atol:g} + rtol={rtol:g}·|numerical|; {note})")
    raise GradcheckError("\n".join(lines))


def _check_inputs(who: str, inputs: Sequence[object], nudged: str = "requires_grad") -> list[Tensor]:
    """Tensors, writable where finite differences will nudge them (those that require grad,
    or every one with nudged="all")."""
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: inputs must be Tensors, input {i} is {type(t).__name__}")
        if (t.requires_grad or nudged == "all") and not t.data.flags.writeable:
            raise ValueError(
                f"{who}: input {i} of shape {t.shape} holds a read-only array, and finite differences "
                "nudge it in place; pass a writable copy, e.g. Tensor(x.copy(), requires_grad=True)"
            )
    return inputs  # type: ignore[return-value]


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the Jacobian from `backward` with central differences, for every input
    that requires grad. Passes where |analytic − numerical| ≤ atol + rtol·|numerical|.
    """
    inputs = _check_inputs("gradcheck", inputs)
    labels = [_label(t, i) for i, t in enumerate(inputs)]
    return _compare("gradcheck", fn, inputs, labels, str, eps, atol, rtol, raise_exception)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    grad_outputs: np.ndarray | Tensor | Sequence[np.ndarray | Tensor] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second derivatives: `gradcheck` of the map

        (inputs, V) -> grad(fn(inputs), inputs, grad_outputs=V, create_graph=True)

    i.e. the analytic side differentiates the recorded backward pass, the numerical side
    takes central differences of the first derivative. V (the upstream gradient, one per
    output of fn) is drawn at random from N(0, 1) with `seed` when not given; drawn V
    require grad, so the derivative with respect to V (the transposed Jacobian) is checked
    too, as in PyTorch. Given V are checked where they are Tensors that require grad.
    Returns True; a mismatch raises `GradcheckError` (or returns False when
    `raise_exception=False`), naming the input, its worst element, the element of the
    first derivative it was differentiated from, both values and the error.
    """
    inputs = _check_inputs("gradgradcheck", inputs)
    checked = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    with grad_mode(True):
        outs = _as_outputs(fn(*inputs), "gradgradcheck")
    vs = _grad_outputs(outs, grad_outputs, seed)
    n_in = len(inputs)

    def first_derivative(*args: Tensor) -> tuple[Tensor, ...]:
        xs, v = args[:n_in], args[n_in:]
        targets = [xs[i] for i in checked]
        # Numerical evaluation runs under no_grad: only values are needed there, so the
        # backward is not recorded; the analytic pass records it to differentiate it.
        record = is_grad_enabled()
        with grad_mode(True):
            ys = _as_outputs(fn(*xs), "gradgradcheck")
            live = [(y, g) for y, g in zip(ys, v) if y.requires_grad]
            grads: tuple = (None,) * len(targets)
            if live:
                grads = _grad([y for y, _ in live], targets, [g for _, g in live], create_graph=record, allow_unused=True)
        # An input that fn does not use has first derivative 0 (a constant).
        return tuple(Tensor._make(np.zeros_like(t.data)) if g is None else g for t, g in zip(targets, grads))

    labels = [_label(t, i) for i, t in enumerate(inputs)] + [f"grad_output {j}" for j in range(len(vs))]
    offsets = np.cumsum([0] + [inputs[i].size for i in checked])

    def output_label(m: int) -> str:
        r = int(np.searchsorted(offsets, m, side="right")) - 1
        i = checked[r]
        index = tuple(int(v) for v in np.unravel_index(m - offsets[r], inputs[i].shape))
        return f"d/d[input {i}] at {list(index)}"

    return _compare("gradgradcheck", first_derivative, inputs + vs, labels, output_label, eps, atol, rtol,
                    raise_exception)


def _grad_outputs(outs: list[Tensor], given: object, seed: int) -> list[Tensor]:
    """One upstream gradient per output of fn: the given ones as Tensors, or N(0, 1) draws."""
    if given is None:
        rng = np.random.default_rng(seed)
        # an int or bool output (argmax, a comparison) has no derivative: a constant zero V
        return [Tensor(rng.standard_normal(o.shape).astype(o.dtype), requires_grad=True) if o.dtype.kind == "f"
                else Tensor(np.zeros(o.shape)) for o in outs]
    gs = list(given) if isinstance(given, (tuple, list)) else [given]
    if len(gs) != len(outs):
        raise ValueError(f"gradgradcheck: fn has {len(outs)} outputs but {len(gs)} grad_outputs were given")
    result = []
    for o, g in zip(outs, gs):
        t = g if isinstance(g, Tensor) else Tensor(np.asarray(g, dtype=o.dtype))
        if t.shape != o.shape:
            raise ValueError(f"gradgradcheck: grad_output of shape {t.shape} does not match the output's shape {o.shape}")
        result.append(t)
    return result
