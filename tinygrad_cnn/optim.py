"""Optimizers: plain/momentum SGD and Adam, with PyTorch's update rules.

They change `p.data` in place (so the arrays keep their dtype and every reference to
a parameter sees the new values) and skip parameters whose `.grad` is None.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Holds the parameters to update; subclasses implement `step()`."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        """Forget accumulated gradients (grads become None, as PyTorch's default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p ← p − lr·g, or with momentum μ: v ← μ·v + g (v = g on the first step), p ← p − lr·v."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not momentum >= 0:
            raise ValueError(f"SGD: invalid momentum {momentum}")
        self.momentum = momentum
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.momentum:
                v = self.velocity[i]
                if v is None:
                    v = self.velocity[i] = g.astype(p.dtype)  # a copy, in the parameter's dtype
                else:
                    v *= self.momentum
                    v += g
                g = v
            p.data -= self.lr * g


class Adam(Optimizer):
    """m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  t ← t + 1
    p ← p − lr · m̂ / (√v̂ + ε)  with  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)

    The step count t is kept per parameter, as PyTorch does, so a parameter that had
    no gradient for a while gets its bias correction from its own updates.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {tuple(betas)}")
        if not eps >= 0:
            raise ValueError(f"Adam: invalid eps {eps}")
        self.betas, self.eps = (b1, b2), eps
        self.m: list[np.ndarray | None] = [None] * len(self.params)
        self.v: list[np.ndarray | None] = [None] * len(self.params)
        self.t = [0] * len(self.params)

    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.m[i] is None:
                self.m[i], self.v[i] = np.zeros_like(p.data), np.zeros_like(p.data)
            m, v = self.m[i], self.v[i]
            self.t[i] += 1
            t = self.t[i]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            # PyTorch's arrangement of the same formula: lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
            denom = np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps
            p.data -= (self.lr / (1 - b1**t)) * m / denom
