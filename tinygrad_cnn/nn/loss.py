"""Losses as layers, as PyTorch's `nn.*Loss` classes: each calls the function of `tc`
with its `reduction` ("mean", "sum" or "none").

    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), labels)
"""

from __future__ import annotations

from typing import Any, Callable

from ..ops import loss as L
from ..tensor import Tensor
from .module import Module


class _Loss(Module):
    """A loss function of `tc` with its `reduction`, as a layer."""

    function: Callable[..., Tensor]

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        L._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def forward(self, input: Any, target: Any) -> Tensor:
        return type(self).function(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:  # as PyTorch's: the reduction only when not the default
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """`tc.cross_entropy(logits, labels)`: logits (N, C), labels (N,) class indices.

    Args:
        reduction: "mean" (default), "sum" or "none" (one loss per sample).
    """

    function = staticmethod(L.cross_entropy)


class NLLLoss(_Loss):
    """`tc.nll_loss(log_probs, labels)`: log-probabilities (N, C), labels (N,).

    Args:
        reduction: "mean" (default), "sum" or "none".
    """

    function = staticmethod(L.nll_loss)


class BCELoss(_Loss):
    """`tc.binary_cross_entropy(p, target)`: probabilities and targets of one shape.

    Args:
        reduction: "mean" (default), "sum" or "none".
    """

    function = staticmethod(L.binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """`tc.binary_cross_entropy_with_logits(logits, target)`: stable for any finite logit.

    Args:
        reduction: "mean" (default), "sum" or "none".
    """

    function = staticmethod(L.binary_cross_entropy_with_logits)


class MSELoss(_Loss):
    """`tc.mse_loss(pred, target)`: squared error; shapes must match.

    Args:
        reduction: "mean" (default), "sum" or "none".
    """

    function = staticmethod(L.mse_loss)
