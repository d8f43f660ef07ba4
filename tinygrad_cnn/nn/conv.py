"""Convolution and pooling layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops.conv import correlate2d
from ..tensor import Tensor
from .module import Module, _as_input, _uniform


class Conv2d(Module):
    """Y_i = B_i + Σ_j X_j ⋆ K_ij on a batch (N, C_in, H, W) -> (N, C_out, H − kh + 1, W − kw + 1).

    The weight K is (out_channels, in_channels, kh, kw); the bias holds one value per
    output channel, broadcast over the output's rows and columns.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = Tensor(_uniform((out_channels, in_channels, kh, kw), bound, rng, dtype), True, "weight")
        self.bias = Tensor(_uniform((out_channels,), bound, rng, dtype), True, "bias") if bias else None

    def own_parameters(self) -> list[tuple[str, Tensor]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim != 4:
            raise ValueError(f"Conv2d: expected input (N, C, H, W), got shape {x.shape}")
        y = correlate2d(x, self.weight)
        if self.bias is None:
            return y
        return self.bias.reshape(self.out_channels, 1, 1) + y

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}"
