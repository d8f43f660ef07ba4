"""The seed's layers, as the seed notes write them: one `scipy.signal` call per
(sample, output channel, input channel), plain numpy for the dense layers.

They are the baseline the benchmark compares against ("ours / seed loops"):

    Y_i   = B_i + Σ_j X_j ⋆ K_ij
    dK_ij = X_j ⋆ dY_i          (valid)
    dX_j  = Σ_i dY_i *full K_ij
    dB_i  = dY_i
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def conv_forward(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, C, H, W), k (O, C, kh, kw), b broadcastable to (O, Ho, Wo) -> (N, O, Ho, Wo)."""
    n, c, h, w = x.shape
    o, _, kh, kw = k.shape
    y = np.empty((n, o, h - kh + 1, w - kw + 1), x.dtype)
    for s in range(n):
        for i in range(o):
            acc = np.zeros(y.shape[2:], x.dtype) + b[i]
            for j in range(c):
                acc += signal.correlate2d(x[s, j], k[i, j], "valid")
            y[s, i] = acc
    return y


def conv_backward(x: np.ndarray, k: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dE/dX, dE/dK, dE/dB (shape (O, 1, 1)) for upstream gradient g (N, O, Ho, Wo)."""
    n, c = x.shape[:2]
    o = k.shape[0]
    dx = np.zeros_like(x)
    dk = np.zeros_like(k)
    for s in range(n):
        for i in range(o):
            for j in range(c):
                dk[i, j] += signal.correlate2d(x[s, j], g[s, i], "valid")
                dx[s, j] += signal.convolve2d(g[s, i], k[i, j], "full")
    db = g.sum(axis=(0, 2, 3)).reshape(o, 1, 1)
    return dx, dk, db


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


class SeedNetwork:
    """Conv(1→5, 3×3) → σ → reshape → Dense(180→100) → σ → Dense(100→2) → σ, BCE, SGD.

    One sample at a time, as the seed trains: forward, backward, update in place.
    """

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.p = {name: v.copy() for name, v in params.items()}

    def step(self, x: np.ndarray, t: np.ndarray, lr: float) -> float:
        """x (N, 1, 8, 8), t (N, 2): the mean BCE over the batch; one SGD step on its gradient."""
        p = self.p
        z1 = conv_forward(x, p["k"], p["kb"])
        a1 = _sigmoid(z1)
        f = a1.reshape(len(x), -1)
        a2 = _sigmoid(f @ p["w1"].T + p["b1"])
        out = _sigmoid(a2 @ p["w2"].T + p["b2"])
        eps = 1e-12
        loss = float(-np.mean(t * np.log(out + eps) + (1 - t) * np.log(1 - out + eps)))
        d_out = ((1 - t) / (1 - out + eps) - t / (out + eps)) / t.size
        d_z3 = d_out * out * (1 - out)
        d_w2, d_b2 = d_z3.T @ a2, d_z3.sum(0)
        d_z2 = (d_z3 @ p["w2"]) * a2 * (1 - a2)
        d_w1, d_b1 = d_z2.T @ f, d_z2.sum(0)
        d_z1 = (d_z2 @ p["w1"]).reshape(z1.shape) * a1 * (1 - a1)
        _, d_k, d_kb = conv_backward(x, p["k"], d_z1)
        for name, d in (("w2", d_w2), ("b2", d_b2), ("w1", d_w1), ("b1", d_b1), ("k", d_k), ("kb", d_kb)):
            p[name] -= lr * d.reshape(p[name].shape)
        return loss
