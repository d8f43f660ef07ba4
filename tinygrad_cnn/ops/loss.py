"""Losses and the softmax family: binary cross-entropy (the seed's), softmax,
log-softmax and cross-entropy over class logits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import ArrayLike, Tensor
from . import formula as F
from .elementwise import Grad, _sigmoid, tensor

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
        return _reduce(losses, self.reduction)

    def backward(self, g: Grad) -> tuple[Grad, Grad | None]:
        p, t = self.inputs(g)
        scale = g * _reduce_scale(self.reduction, p.size)
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


def _reduce_scale(reduction: str, n: int) -> float:
    return 1 / max(n, 1) if reduction == "mean" else 1.0  # (an empty batch has no gradient to scale)


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    """The losses, their sum, or their mean (NaN for an empty batch, as PyTorch's)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore"):
            total = total / losses.dtype.type(losses.size)
    return np.asarray(total, dtype=losses.dtype)


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: unknown reduction {reduction!r}; use 'mean', 'sum' or 'none'")


def _labels(op: str, labels: ArrayLike, x: Tensor) -> np.ndarray:
    """Class indices as int64 (N,), checked against scores (N, C). Whole-number floats
    count (a `Tensor([0, 2])` of Python numbers is float64); bools do not, as in PyTorch."""
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{op}: labels must be class indices (integers), got dtype {y.dtype}")
    if x.ndim != 2 or y.shape != x.shape[:1]:
        raise ValueError(f"{op}: expected scores (N, C) and labels (N,), got {x.shape} and {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y))):
        raise TypeError(f"{op}: labels must be class indices (integers), got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"{op}: labels must lie in [0, {x.shape[1]}) for scores of shape {x.shape}")
    return y


class NLLLoss(Function):
    """E = −(1/N) Σ_n X[n, y_n]
    dE/dX[n, c] = −(1/N) · [c = y_n]
    """

    name = "nll_loss"
    options = ("labels", "reduction")
    saves = ()  # the gradient needs only the labels and the shape
    variants = {
        ("reduction", "sum"): """E = −Σ_n X[n, y_n]
        dE/dX[n, c] = −[c = y_n]
        """,
        ("reduction", "none"): """E_n = −X[n, y_n]
        dE/dX[n, c] = −dE/dE_n · [c = y_n]
        """,
    }
    labels: np.ndarray
    reduction: str

    def forward(self, x: np.ndarray) -> np.ndarray:
        picked = -x[np.arange(len(self.labels)), self.labels]
        return _reduce(picked, self.reduction)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.parents
        # the one-hot pattern is a constant; g is one number per sample (or one for all)
        picks = np.zeros(x.shape, dtype=x.dtype)
        picks[np.arange(len(self.labels)), self.labels] = -_reduce_scale(self.reduction, len(self.labels))
        if self.reduction == "none":
            g = g.reshape(len(self.labels), 1)
        return (g * picks,)


def nll_loss(log_probs: ArrayLike, labels: ArrayLike, reduction: str = "mean") -> Tensor:
    """−log_probs[n, labels[n]], averaged (or summed, or per sample); log_probs (N, C)."""
    x = tensor(log_probs)
    _check_reduction("nll_loss", reduction)
    return NLLLoss.apply(x, labels=_labels("nll_loss", labels, x), reduction=reduction)


def cross_entropy(logits: ArrayLike, labels: ArrayLike, reduction: str = "mean") -> Tensor:
    """nll_loss(log_softmax(logits, axis=1), labels): logits (N, C), labels (N,) ints."""
    z = tensor(logits)
    _check_reduction("cross_entropy", reduction)
    y = _labels("cross_entropy", labels, z)
    return NLLLoss.apply(log_softmax(z, axis=1), labels=y, reduction=reduction)


class BCEWithLogits(Function):
    """E = (1/n) Σ [max(Z, 0) − Z·T + log(1 + e^(−|Z|))]   (= BCE of σ(Z), stable)
    dE/dZ = (1/n) · (σ(Z) − T)
    dE/dT = −(1/n) · Z
    """

    name = "binary_cross_entropy_with_logits"
    options = ("reduction",)
    variants = {
        ("reduction", "sum"): """E = Σ [max(Z, 0) − Z·T + log(1 + e^(−|Z|))]
        dE/dZ = σ(Z) − T
        dE/dT = −Z
        """,
        ("reduction", "none"): """E = max(Z, 0) − Z·T + log(1 + e^(−|Z|)), elementwise
        dE/dZ = dE/dE · (σ(Z) − T)
        dE/dT = −dE/dE · Z
        """,
    }
    reduction: str

    def forward(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        losses = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        return _reduce(losses, self.reduction)

    def backward(self, g: Grad) -> tuple[Grad, Grad | None]:
        z, t = self.inputs(g)
        scale = g * _reduce_scale(self.reduction, self.parents[0].size)
        s = z.sigmoid() if isinstance(z, Tensor) else _sigmoid(z)
        dz = scale * (s - t)
        dt = -scale * z if self.parents[1].requires_grad else None
        return dz, dt


def _target_like(op: str, target: ArrayLike, x: Tensor) -> Tensor:
    if isinstance(target, Tensor):
        # a constant target takes the prediction's dtype, so a float32 model stays float32
        return target if target.requires_grad or target.dtype == x.dtype else Tensor(target.data.astype(x.dtype))
    try:
        return Tensor(np.asarray(target, dtype=x.dtype))
    except (TypeError, ValueError):
        raise TypeError(f"{op}: target must be numbers, got {type(target).__name__}") from None


def binary_cross_entropy_with_logits(logits: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """BCE of σ(logits) against `target`, computed from the logits: finite for any finite logit."""
    z = tensor(logits)
    t = _target_like("binary_cross_entropy_with_logits", target, z)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if z.shape != t.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits of shape {z.shape} and target of shape {t.shape} differ")
    return BCEWithLogits.apply(z, t, reduction=reduction)


class MSELoss(Function):
    """E = (1/n) Σ (P − T)²
    dE/dP = (2/n) · (P − T)
    dE/dT = −(2/n) · (P − T)
    """

    name = "mse_loss"
    options = ("reduction",)
    variants = {
        ("reduction", "sum"): """E = Σ (P − T)²
        dE/dP = 2 · (P − T)
        dE/dT = −2 · (P − T)
        """,
        ("reduction", "none"): """E = (P − T)², elementwise
        dE/dP = 2 · dE/dE · (P − T)
        dE/dT = −2 · dE/dE · (P − T)
        """,
    }
    reduction: str

    def forward(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = p - t
        return _reduce(d * d, self.reduction)

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        p, t = self.inputs(g)
        dp = g * (2 * _reduce_scale(self.reduction, self.parents[0].size)) * (p - t)
        return (dp if self.parents[0].requires_grad else None), (-dp if self.parents[1].requires_grad else None)


def mse_loss(pred: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or elementwise) squared error; shapes must match (nothing broadcasts)."""
    p = tensor(pred)
    t = _target_like("mse_loss", target, p)
    _check_reduction("mse_loss", reduction)
    if p.shape != t.shape:
        raise ValueError(f"mse_loss: prediction of shape {p.shape} and target of shape {t.shape} differ")
    return MSELoss.apply(p, t, reduction=reduction)
