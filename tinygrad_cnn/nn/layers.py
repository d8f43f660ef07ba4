"""Fully connected layers, activations and shape layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops.elementwise import tensor
from ..tensor import Tensor
from .module import Module, _as_input, _uniform


class Linear(Module):
    """Y = X Wᵀ + b, with W of shape (out_features, in_features)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Tensor(_uniform((out_features, in_features), bound, rng, dtype), True, "weight")
        self.bias = Tensor(_uniform((out_features,), bound, rng, dtype), True, "bias") if bias else None

    def own_parameters(self) -> list[tuple[str, Tensor]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input (..., {self.in_features}), got shape {x.shape}")
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sigmoid(Module):
    """Y = 1 / (1 + e^−X), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).sigmoid()


class ReLU(Module):
    """Y = max(X, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).relu()


class Tanh(Module):
    """Y = tanh X, elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).tanh()


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...): every axis but the batch's."""

    def forward(self, x: Tensor) -> Tensor:
        x = tensor(x)
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected a batch (N, ...), got a tensor of shape {x.shape}")
        # the size spelled out, not -1: numpy cannot infer -1 for an empty batch
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


class Reshape(Module):
    """(N, ...) -> (N, *shape): `shape` is per sample, the batch axis is kept."""

    def __init__(self, *shape: int) -> None:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        self.shape = tuple(int(n) for n in shape)

    def forward(self, x: Tensor) -> Tensor:
        x = tensor(x)
        per_sample = int(np.prod(x.shape[1:]))
        known = int(np.prod([n for n in self.shape if n != -1]))
        free = self.shape.count(-1)
        fits = known == per_sample if free == 0 else free == 1 and known > 0 and per_sample % known == 0
        if not fits:
            raise ValueError(f"Reshape: cannot reshape samples of shape {x.shape[1:]} into {self.shape} (input {x.shape})")
        shape = tuple(per_sample // known if n == -1 else n for n in self.shape)  # -1 fails for N = 0
        return x.reshape(x.shape[0], *shape)

    def extra_repr(self) -> str:
        return ", ".join(str(n) for n in self.shape)
