"""Fully connected, normalisation, dropout, activation and shape layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops import activation as A
from ..ops.elementwise import tensor
from ..ops.loss import log_softmax, softmax
from ..tensor import Tensor
from .module import Module, Parameter, _as_input, _uniform, generator


class Linear(Module):
    """Y = X Wᵀ + b, with W of shape (out_features, in_features).

    Args:
        in_features: the size of the input's last axis.
        out_features: the size of the output's last axis.
        bias: whether the layer has a bias b.
        dtype: float32 (default) or float64.
        rng: a numpy Generator for the initial values (uniform in ±1/√in_features).

    Shapes:
        (..., in_features) -> (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(_uniform((out_features, in_features), bound, rng, dtype))
        self.bias = Parameter(_uniform((out_features,), bound, rng, dtype)) if bias else None

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input (..., {self.in_features}), got shape {x.shape}")
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Y = X: a placeholder that passes its input through."""

    def forward(self, x: Any) -> Any:
        return x


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


class LeakyReLU(Module):
    """Y = X where X > 0, else negative_slope · X.

    Args:
        negative_slope: the slope for X ≤ 0 (default 0.01).
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """Y = X where X > 0, else α · (e^X − 1).

    Args:
        alpha: α (default 1.0).
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return A.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """Y = X · Φ(X), Φ the standard normal CDF (the exact erf form)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.gelu(x)


class SiLU(Module):
    """Y = X · σ(X)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.silu(x)


class Softplus(Module):
    """Y = log(1 + e^(βX)) / β, and X where βX > threshold (as PyTorch).

    Args:
        beta: β (default 1.0).
        threshold: above it, Y = X (default 20.0).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return A.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _axis(layer: str, axis: int | None, dim: int | None) -> int:
    if axis is None and dim is None:
        raise TypeError(f"{layer}: give the axis to normalise over, e.g. {layer}(axis=1) (or dim=1)")
    if axis is not None and dim is not None and axis != dim:
        raise TypeError(f"{layer}: axis={axis} and dim={dim} disagree; give one of them")
    return axis if axis is not None else dim  # type: ignore[return-value]


class Softmax(Module):
    """Y = e^X / Σ_axis e^X along `axis` (`dim=` is accepted too).

    Args:
        axis: the axis that sums to 1; required (PyTorch's implicit choice is not copied).
    """

    def __init__(self, axis: int | None = None, *, dim: int | None = None) -> None:
        super().__init__()
        self.axis = _axis("Softmax", axis, dim)

    def forward(self, x: Tensor) -> Tensor:
        return softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """Y = X − log Σ_axis e^X along `axis` (`dim=` is accepted too): log softmax, stable.

    Args:
        axis: the axis whose softmax is taken; required, as for `Softmax`.
    """

    def __init__(self, axis: int | None = None, *, dim: int | None = None) -> None:
        super().__init__()
        self.axis = _axis("LogSoftmax", axis, dim)

    def forward(self, x: Tensor) -> Tensor:
        return log_softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Dropout(Module):
    """Inverted dropout: in training, each value is zeroed with probability p and the rest
    scaled by 1/(1 − p), a new mask every call; in eval mode, the identity.

    Args:
        p: the probability of zeroing a value, in [0, 1).
        rng: a numpy Generator for the masks (default: the one `manual_seed` sets).

    Shapes:
        any shape, kept.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"Dropout: p must be a number in [0, 1), got {type(p).__name__}")
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the probability of zeroing a value and must lie in [0, 1), got {p}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Any) -> Tensor:
        x = tensor(x)
        if not self.training or self.p == 0:
            return x
        keep = generator(self.rng).random(x.shape) >= self.p
        scale = np.where(keep, 1 / (1 - self.p), 0).astype(x.dtype)
        return x * Tensor._make(scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _BatchNorm(Module):
    """Y = (X − mean) / √(var + eps) · weight + bias, per channel (axis 1).

    Training: mean and (biased) var of the batch; the running statistics follow
    r ← (1 − momentum)·r + momentum·batch, the variance unbiased (n/(n − 1)), as PyTorch.
    momentum=None averages all batches seen (1/num_batches_tracked). Eval: the running
    statistics.
    """

    _ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(c, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype=dtype))
            self.register_buffer("running_var", np.ones(c, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked: the state of a new layer."""
        if self.track_running_stats:
            self.running_mean.data = np.zeros_like(self.running_mean.data)
            self.running_var.data = np.ones_like(self.running_var.data)
            self.num_batches_tracked.data = np.zeros_like(self.num_batches_tracked.data)

    def forward(self, x: Any) -> Tensor:
        like = self.weight if self.affine else self.running_mean
        x = _as_input(x, like) if like is not None else tensor(x)
        name = type(self).__name__
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            wanted = " or ".join(("(N, C)", "(N, C, L)", "(N, C, H, W)")[n - 2] for n in self._ndims)
            raise ValueError(f"{name}: expected input {wanted} with C = {self.num_features}, got shape {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        per_channel = (1, self.num_features) + (1,) * (x.ndim - 2)
        use_batch = self.training or self.running_mean is None
        if use_batch:
            n = x.size // self.num_features
            if n <= 1 and self.training:
                raise ValueError(f"{name}: expected more than 1 value per channel when training, got input shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)
            y = centered * (var + self.eps) ** -0.5
            if self.training and self.running_mean is not None:
                self._update_running(mean.data.reshape(-1), var.data.reshape(-1), n)
        else:
            mean = Tensor._make(self.running_mean.data.reshape(per_channel).astype(x.dtype))
            inv = Tensor._make((1 / np.sqrt(self.running_var.data + self.eps)).reshape(per_channel).astype(x.dtype))
            y = (x - mean) * inv
        if self.affine:
            y = y * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        f = 1 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        dtype = self.running_mean.dtype
        self.running_mean.data = ((1 - f) * self.running_mean.data + f * mean).astype(dtype)
        self.running_var.data = ((1 - f) * self.running_var.data + f * var * (n / (n - 1))).astype(dtype)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Y = (X − mean) / √(var + eps) · weight + bias, per channel (axis 1).

    Training: mean and (biased) var of the batch; the running statistics follow
    r ← (1 − momentum)·r + momentum·batch, the variance unbiased (n/(n − 1)), as PyTorch.
    momentum=None averages all batches seen (1/num_batches_tracked). Eval: the running
    statistics.

    Args:
        num_features: C, the channels (axis 1).
        eps: added to the variance (default 1e-5).
        momentum: the running statistics' weight of a new batch (default 0.1); None
            averages all batches seen.
        affine: whether the layer has a learned weight (scale) and bias (shift).
        track_running_stats: keep running statistics (buffers `running_mean`,
            `running_var`, `num_batches_tracked`) and use them in eval mode; without
            them, eval mode uses the batch's statistics too.
        dtype: float32 (default) or float64.

    Shapes:
        Input (N, C) or (N, C, L); statistics over N (and L).
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Y = (X − mean) / √(var + eps) · weight + bias, per channel (axis 1), on images.

    The arguments, the running statistics and train/eval behave as in `BatchNorm1d`.

    Shapes:
        Input (N, C, H, W); statistics over N, H and W.
    """

    _ndims = (4,)


class Flatten(Module):
    """The axes `start_dim` to `end_dim` as one, as PyTorch's: by default (N, d1, d2, ...)
    -> (N, d1·d2·...), every axis but the batch's.

    Args:
        start_dim: the first axis flattened (default 1).
        end_dim: the last axis flattened (default −1).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = tensor(x)
        n = max(x.ndim, 1)  # a 0-d tensor counts as one axis, as in PyTorch
        start, end = (d + n if d < 0 else d for d in (self.start_dim, self.end_dim))
        if not (0 <= start < n and 0 <= end < n) or start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}): cannot flatten a "
                             f"tensor of shape {x.shape}")
        shape = x.shape or (1,)
        # the size spelled out, not -1: numpy cannot infer -1 when another axis is 0
        return x.reshape(*shape[:start], int(np.prod(shape[start : end + 1])), *shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Reshape(Module):
    """(N, ...) -> (N, *shape): `shape` is per sample, the batch axis is kept.

    Example:
        `nn.Reshape(1, 28, 28)` turns (N, 784) into (N, 1, 28, 28).
    """

    def __init__(self, *shape: int) -> None:
        super().__init__()
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
