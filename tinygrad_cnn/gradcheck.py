"""Numerical gradient checking by central differences.

dE/dx ≈ (E(x + ε) − E(x − ε)) / 2ε, error O(ε²). Use float64: in float32 the rounding
error of E divided by 2ε swamps the difference for any useful ε.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .autograd import grad as _grad
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _evaluate(fn: Callable[..., Tensor], inputs: Sequence[Tensor]) -> np.ndarray:
    with no_grad():
        out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return np.array(out.data, dtype=np.float64)


def _numerical_jacobian(fn: Callable[..., Tensor], inputs: Sequence[Tensor], i: int, eps: float) -> np.ndarray:
    """J[m, e] = d out[m] / d inputs[i][e], one column per input element."""
    x = inputs[i].data
    columns = []
    for e in range(x.size):
        idx = np.unravel_index(e, x.shape)
        original = x[idx]
        x[idx] = original + eps
        plus = _evaluate(fn, inputs)
        x[idx] = original - eps
        minus = _evaluate(fn, inputs)
        x[idx] = original
        columns.append(((plus - minus) / (2 * eps)).ravel())
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6) -> list[np.ndarray]:
    """Central-difference gradient of the size-1 output of `fn(*inputs)` for each input."""
    inputs = list(inputs)
    size = _evaluate(fn, inputs).size
    if size != 1:
        raise ValueError(f"numerical_grad: fn must return a tensor of size 1, got size {size}")
    return [_numerical_jacobian(fn, inputs, i, eps).reshape(t.shape) for i, t in enumerate(inputs)]


def _analytic_jacobian(fn: Callable[..., Tensor], inputs: Sequence[Tensor], checked: list[int]) -> list[np.ndarray]:
    """Row m of each Jacobian is the gradient of out[m]: one backward pass per output element."""
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    targets = [inputs[i] for i in checked]
    rows: list[list[np.ndarray]] = [[] for _ in checked]
    for m in range(out.size):
        seed = np.zeros(out.shape, dtype=out.dtype)
        seed.flat[m] = 1
        if not out.requires_grad:  # the output does not depend on any checked input
            grads: tuple = (None,) * len(targets)
        else:
            grads = _grad(out, targets, seed, allow_unused=True)
        for r, (t, g) in enumerate(zip(targets, grads)):
            rows[r].append(np.zeros(t.size) if g is None else np.asarray(g.data, np.float64).ravel())
    return [np.stack(r) if r else np.zeros((0, inputs[i].size)) for r, i in zip(rows, checked)]


def _label(t: Tensor, i: int) -> str:
    return f"input {i}" + (f" ({t.name!r})" if t.name else "")


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
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradcheck: inputs must be Tensors, input {i} is {type(t).__name__}")
    checked = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    analytic = _analytic_jacobian(fn, inputs, checked)
    failures = []
    for a, i in zip(analytic, checked):
        n = _numerical_jacobian(fn, inputs, i, eps)
        if a.shape != n.shape:
            raise GradcheckError(f"gradcheck: {_label(inputs[i], i)}: Jacobian shapes differ, {a.shape} vs {n.shape}")
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and (excess.max() > 0 or not np.all(np.isfinite(a))):
            m, e = np.unravel_index(np.nanargmax(np.where(np.isfinite(a), excess, np.inf)), excess.shape)
            index = np.unravel_index(e, inputs[i].shape)
            failures.append((_label(inputs[i], i), tuple(int(v) for v in index), int(m), a[m, e], n[m, e]))
    if not failures:
        return True
    if not raise_exception:
        return False
    lines = ["gradcheck: analytic and numerical gradients differ"]
    lines.append(f"  {'input':<22} {'element':<14} {'output':>6} {'analytic':>14} {'numerical':>14} {'error':>11}")
    for label, index, m, a, n in failures:
        lines.append(f"  {label:<22} {str(index):<14} {m:>6} {a:>14.6g} {n:>14.6g} {abs(a - n):>11.3g}")
    lines.append(f"  (tolerance: atol={atol:g} + rtol={rtol:g}·|numerical|; output = flat index into fn's result)")
    raise GradcheckError("\n".join(lines))
