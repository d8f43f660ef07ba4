"""Losses and the softmax family: binary cross-entropy (the seed's), softmax,
log-softmax and cross-entropy over class logits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import ArrayLike, Tensor
from . import formula as F
from .elementwise import Grad, tensor

REDUCTIONS = ("mean", "sum", "none")
LOG_FLOOR = -100.0  # log p is clamped here, as PyTorch does, so p = 0 or 1 stays finite


class BinaryCrossEntropy(Function):
    """E = −(1/n) Σ [T·log P + (1 − T)·log(1 − P)]
    dE/dP = (1/n) · ((1 − T)/(1 − P) − T/P) = (1/n) · (P − T) / (P(1 − P))
    dE/dT = −(1/n) · (log P − log(1 − P))
    """

    name = "binary_cross_entropy"
    variants = {
        ("reduction", "sum"): """E = −Σ [T·log P + (1 − T)·log(1 − P)]
        dE/dP = (1 − T)/(1 − P) − T/P = (P − T) / (P(1 − P))
        dE/dT = −(log P − log(1 − P))
        """,
        ("reduction", "none"): """E = −[T·log P + (1 − T)·log(1 − P)], elementwise
        dE/dP = (1 − T)/(1 − P) − T/P = (P − T) / (P(1 − P))
        dE/dT = −(log P − log(1 − P))
        """,
    }
    options = ("reduction",)
    reduction: str

    def forward(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), LOG_FLOOR)
            log_q = np.maximum(np.log1p(-p), LOG_FLOOR)
        losses = -(t * log_p + (1 - t) * log_q)
        if self.reduction == "none":
            return losses
        total = losses.sum()
        return np.asarray(total / losses.size if self.reduction == "mean" else total, dtype=losses.dtype)

    def backward(self, g: Grad) -> tuple[Grad, Grad | None]:
        p, t = self.inputs(g)
        scale = g / p.size if self.reduction == "mean" else g
        # (P − T) / (P(1 − P)) equals the seed's form and stays finite at P = 0 or 1.
        dp = scale * (p - t) / (p * (1 - p)).clip(min=1e-12)
        dt = None
        if self.parents[1].requires_grad:
            dt = -scale * (F.log(p).clip(min=LOG_FLOOR) - F.log(1 - p).clip(min=LOG_FLOOR))
        return dp, dt


def binary_cross_entropy(pred: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """The seed's loss for probabilities `pred` in [0, 1] against `target` (same shape)."""
    p = tensor(pred)
    if isinstance(target, Tensor):
        # a constant target takes the prediction's dtype, so a float32 model stays float32
        t = target if target.requires_grad or target.dtype == p.dtype else Tensor(target.data.astype(p.dtype))
    else:
        try:
            t = Tensor(np.asarray(target, dtype=p.dtype))
        except (TypeError, ValueError):
            raise TypeError(f"binary_cross_entropy: target must be numbers, got {type(target).__name__}") from None
    if reduction not in REDUCTIONS:
        raise ValueError(f"binary_cross_entropy: unknown reduction {reduction!r}; use 'mean', 'sum' or 'none'")
    if p.shape != t.shape:
        raise ValueError(f"binary_cross_entropy: prediction of shape {p.shape} and target of shape {t.shape} differ")
    if p.size and (p.data.min() < 0 or p.data.max() > 1):
        raise ValueError(f"binary_cross_entropy: predictions of shape {p.shape} must lie in [0, 1] (apply sigmoid first)")
    return BinaryCrossEntropy.apply(p, t, reduction=reduction)


bce = binary_cross_entropy


def _check_axis(op: str, x: Tensor, axis: Any, dim: Any = None) -> int | None:
    """The axis as a non-negative int; a 0-d tensor takes axis 0 or −1 (as PyTorch) and
    gets None: numpy's reductions over "all of nothing"."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis= or dim=, not both")
        axis = dim
    if axis is None:
        raise TypeError(f"{op}: give the axis to normalize over, e.g. axis=-1")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r} ({type(axis).__name__})")
    span = max(x.ndim, 1)
    if not -span <= axis < span:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of shape {x.shape}")
    return int(axis) % x.ndim if x.ndim else None


class LogSoftmax(Function):
    """Y = X − log Σ_axis e^X
    dE/dX = dE/dY − softmax(X) · Σ_axis dE/dY
    """

    name = "log_softmax"
    options = ("axis",)
    saves = ()
    saves_output = True
    axis: int

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:  # an empty axis (or tensor): nothing to normalize, an empty result as PyTorch's
            return x.copy()
        shifted = x - x.max(axis=self.axis, keepdims=True)  # e^(x − max) never overflows
        return shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, g: Grad) -> tuple[Grad]:
        return (g - F.exp(self.output(g)) * g.sum(axis=self.axis, keepdims=True),)


class Softmax(Function):
    """Y = e^X / Σ_axis e^X
    dE/dX = Y · (dE/dY − Σ_axis dE/dY · Y)
    """

    name = "softmax"
    options = ("axis",)
    saves = ()
    saves_output = True
    axis: int

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:  # an empty axis (or tensor): an empty result, as PyTorch's
            return x.copy()
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, g: Grad) -> tuple[Grad]:
        y = self.output(g)
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


def log_softmax(x: ArrayLike, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """log softmax along `axis` (default −1; `dim=` as PyTorch)."""
    x = tensor(x)
    axis = -1 if axis is None and dim is None else axis
    return LogSoftmax.apply(x, axis=_check_axis("log_softmax", x, axis, dim))


def softmax(x: ArrayLike, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """softmax along `axis` (default −1; `dim=` as PyTorch)."""
    x = tensor(x)
    axis = -1 if axis is None and dim is None else axis
    return Softmax.apply(x, axis=_check_axis("softmax", x, axis, dim))


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Tensor:
    """Mean of −log softmax(logits)[n, labels[n]] over the batch; logits (N, C), labels (N,) ints."""
    z = tensor(logits)
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"cross_entropy: labels must be class indices (integers), got dtype {y.dtype}")
    if z.ndim != 2 or y.shape != z.shape[:1]:
        raise ValueError(f"cross_entropy: expected logits (N, C) and labels (N,), got {z.shape} and {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y))):
        raise TypeError(f"cross_entropy: labels must be class indices (integers), got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"cross_entropy: labels must lie in [0, {z.shape[1]}) for logits of shape {z.shape}")
    one_hot = np.zeros(z.shape, dtype=z.dtype)
    one_hot[np.arange(len(y)), y] = 1
    return -(log_softmax(z, axis=1) * one_hot).sum() / max(len(y), 1)
