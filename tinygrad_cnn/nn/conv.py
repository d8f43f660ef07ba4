"""Convolution and pooling layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops.conv import correlate2d
from ..ops.pool import avg_pool2d, max_pool2d
from ..tensor import Tensor
from .module import Module, Parameter, _as_input, _uniform


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(v)  # type: ignore[return-value]


class Conv2d(Module):
    """Y_i = B_i + Σ_j X_j ⋆ K_ij on (N, C_in, H, W) or (C_in, H, W): `tc.conv2d` with
    the layer's stride, padding, dilation and groups (PyTorch's `nn.Conv2d`).

    The weight K is (out_channels, in_channels // groups, kh, kw); the bias holds one
    value per output channel, broadcast over the output's rows and columns.

    Args:
        in_channels: C_in, the input's channels.
        out_channels: C_out, the number of kernels (output channels).
        kernel_size: kh = kw (an int) or (kh, kw).
        stride: an int or a pair (rows, columns).
        padding: an int, a pair, "valid" (0) or "same" (odd kernels, stride 1).
        dilation: an int or a pair: the spacing of the kernel's taps.
        groups: split the channels into this many independent convolutions.
        bias: whether the layer has a bias B.
        dtype: float32 (default) or float64.
        rng: a numpy Generator for the initial values (default: the one `manual_seed` sets).

    Weight and bias start uniform in ±1/√fan_in, fan_in = in_channels // groups · kh · kw,
    as PyTorch's.

    Shapes:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out), with
        H_out = floor((H + 2·ph − dilation·(kh − 1) − 1) / stride) + 1 (likewise W_out).

    Example:
        ```python
        conv = nn.Conv2d(1, 6, 5, padding=2)
        conv(tc.zeros(8, 1, 28, 28)).shape  # (8, 6, 28, 28)
        ```
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.dilation, self.groups = _pair(stride), _pair(dilation), groups
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        fan_in = in_channels // groups * kh * kw
        bound = 1 / math.sqrt(fan_in)
        self.weight = Parameter(_uniform((out_channels, in_channels // groups, kh, kw), bound, rng, dtype))
        self.bias = Parameter(_uniform((out_channels,), bound, rng, dtype)) if bias else None

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim not in (3, 4):
            raise ValueError(f"Conv2d: expected input (N, C, H, W) or (C, H, W), got shape {x.shape}")
        # correlate2d, the seed's op (drawings name it so); no padding is its valid mode
        padding = None if self.padding in ((0, 0), "valid") else self.padding
        y = correlate2d(x, self.weight, stride=self.stride, padding=padding, dilation=self.dilation,
                        groups=self.groups)
        if self.bias is None:
            return y
        return self.bias.reshape(self.out_channels, 1, 1) + y

    def extra_repr(self) -> str:  # as PyTorch's: the stride always, the bias only when there is none
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s if self.bias is not None else s + ", bias=False"


class _Pool2d(Module):
    """What the two pooling layers share: the window, the stride and the padding."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride  # what None means, as PyTorch prints it
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over kernel_size windows every `stride` (default: kernel_size) positions,
    padding with −inf: `tc.max_pool2d`.

    Args:
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; None (default) means kernel_size.
        padding: an int or a pair, at most half the kernel.

    Shapes:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2·ph − kh) / stride) + 1.
    """

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average over kernel_size windows every `stride` (default: kernel_size) positions,
    padding with zeros that count in the average: `tc.avg_pool2d`.

    Args:
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair; None (default) means kernel_size.
        padding: an int or a pair, at most half the kernel.

    Shapes:
        (N, C, H, W) -> (N, C, H_out, W_out), as `MaxPool2d`.
    """

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)
