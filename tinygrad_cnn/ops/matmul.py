"""Matrix product with numpy's rules: 1-D operands, batched stacks and broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .elementwise import Grad, tensor, unbroadcast


class MatMul(Function):
    """Z = X @ Y
    dE/dX = dE/dZ @ Yᵀ
    dE/dY = Xᵀ @ dE/dZ
    """

    name = "matmul"

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x @ y

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, y = self.inputs(g)
        # Treat 1-D operands as a row (left) or a column (right) matrix, as numpy does.
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if x.ndim == 1 and y.ndim == 1:
            g2 = g.reshape(1, 1)
        elif x.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
            g2 = g.reshape(g.shape[:-1] + (1, g.shape[-1]))
        elif y.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
            g2 = g.reshape(g.shape + (1,))
        else:
            g2 = g
        dx = dy = None
        if self.parents[0].requires_grad:
            dx = unbroadcast(_product(g2, _swap(y2)), x2.shape).reshape(x.shape)
        if self.parents[1].requires_grad:
            if x2.ndim == 2 and _transposed(y2):
                # Y = Wᵀ (a Linear layer): the same Xᵀ @ dE/dZ, computed as (dE/dZᵀ @ X)ᵀ so
                # that it comes out in Y's memory layout and dE/dW = its transpose is contiguous
                # (no transposing copy of the weight's gradient later).
                dy = _swap(_product(_swap(g2), x2)).reshape(y.shape)
            else:
                dy = unbroadcast(_product(_swap(x2), g2), y2.shape).reshape(y.shape)
        return dx, dy


def _product(a: Grad, b: Grad) -> Grad:
    """a @ b. When the contracted dimension is 1 the product is an outer product (a
    weight's gradient at batch 1), and numpy's matmul runs it ~10× slower than the same
    thing written as a broadcast multiply: (m, 1) · (1, n) -> (m, n)."""
    return a * b if a.shape[-1] == 1 else a @ b


def _transposed(a: Any) -> bool:
    """An array laid out as the transpose of a contiguous matrix."""
    return type(a) is np.ndarray and a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def _swap(t: Tensor) -> Tensor:
    """Swap the last two axes."""
    axes = list(range(t.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return t.transpose(*axes)


def matmul(a: object, b: object) -> Tensor:
    """`a @ b` as numpy's matmul: the inner dimensions must agree."""
    a, b = tensor(a), tensor(b)  # type: ignore[arg-type]
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} don't agree ({ka} != {kb} in the contracted dimension)")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast") from None
    return MatMul.apply(a, b)
