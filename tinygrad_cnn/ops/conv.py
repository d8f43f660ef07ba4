"""2-D cross-correlation (X ⋆ K) and convolution (X * K = X ⋆ rot180(K)).

One channel, valid mode, for a kernel of size kh×kw:

    Y[a, b] = Σ_uv X[a+u, b+v] K[u, v]

By the chain rule each kernel entry collects every input value it touched, weighted by
the gradient of the output it helped to make, and each input entry collects every
kernel entry it met:

    dE/dK[u, v] = Σ_ab X[a+u, b+v] dE/dY[a, b]     ->  dE/dK = X ⋆ dE/dY   (valid)
    dE/dX[p, q] = Σ_uv dE/dY[p−u, q−v] K[u, v]     ->  dE/dX = dE/dY *full K

With channels, Y_i = Σ_j X_j ⋆ K_ij, so dE/dK_ij = X_j ⋆ dE/dY_i and
dE/dX_j = Σ_i dE/dY_i *full K_ij; a batch sums dE/dK over its samples. A bias added
after the layer gets dE/dB_i = dE/dY_i, summed over the axes it was broadcast along.

Those formulas are the backward pass. When the backward is itself recorded
(`create_graph=True`) they are evaluated literally with `correlate2d`/`convolve2d`,
so the gradient graph can be drawn and differentiated again. Otherwise the same
values come from the fast route: im2col (the kh·kw shifted windows of X copied into
one matrix) and a single GEMM forward, dK from the same columns, dX by col2im.
"""

from __future__ import annotations

import numpy as np

from ..tensor import ArrayLike, Function, Tensor, is_grad_enabled
from .elementwise import tensor
from .shape import rot180

MODES = ("valid", "full")


def _check(op: str, x: np.ndarray, k: np.ndarray, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{op}: unknown mode {mode!r} for input {x.shape} and kernel {k.shape}; use 'valid' or 'full'")
    if x.ndim == 2 and k.ndim == 2:
        pass
    elif x.ndim in (3, 4) and k.ndim == 4:
        if x.shape[-3] != k.shape[1]:
            raise ValueError(
                f"{op}: input of shape {x.shape} has {x.shape[-3]} channels but the kernel "
                f"of shape {k.shape} expects {k.shape[1]} (kernel is (C_out, C_in, kh, kw))"
            )
    else:
        raise ValueError(
            f"{op}: expected input (H, W) with kernel (kh, kw), or input (C_in, H, W) / "
            f"(N, C_in, H, W) with kernel (C_out, C_in, kh, kw); got input {x.shape} and kernel {k.shape}"
        )
    if 0 in k.shape[-2:]:
        raise ValueError(f"{op}: kernel of shape {k.shape} is empty")
    if mode == "valid" and (k.shape[-2] > x.shape[-2] or k.shape[-1] > x.shape[-1]):
        raise ValueError(f"{op}: kernel of shape {k.shape} is larger than the input of shape {x.shape} in 'valid' mode")


def _to4d(a: np.ndarray) -> np.ndarray:
    return a.reshape((1,) * (4 - a.ndim) + a.shape)


def _out_shape(x: tuple[int, ...], k: tuple[int, ...], mode: str) -> tuple[int, ...]:
    sign = 1 if mode == "full" else -1
    ho, wo = x[-2] + sign * (k[-2] - 1), x[-1] + sign * (k[-1] - 1)
    if len(x) == 2:
        return (ho, wo)
    return x[:-3] + (k[0], ho, wo)


class Correlate2d(Function):
    """Y_i = Σ_j X_j ⋆ K_ij
    dE/dX_j = Σ_i dE/dY_i *full K_ij
    dE/dK_ij = X_j ⋆ dE/dY_i
    """

    name = "correlate2d"
    mode: str
    flip = False  # convolution flips the kernel: X * K = X ⋆ rot180(K)

    def forward(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        dtype = np.result_type(x, k)
        x4, k4 = _to4d(x).astype(dtype, copy=False), _to4d(k).astype(dtype, copy=False)
        if self.flip:
            k4 = k4[..., ::-1, ::-1]
        n, c, h, w = x4.shape
        o, _, kh, kw = k4.shape
        pad_h, pad_w = (kh - 1, kw - 1) if self.mode == "full" else (0, 0)
        ho, wo = h + 2 * pad_h - kh + 1, w + 2 * pad_w - kw + 1
        # Batch-last layout (C, H, W, N): each window copy moves runs of Wo·N values.
        xt = np.zeros((c, h + 2 * pad_h, w + 2 * pad_w, n), dtype)
        xt[:, pad_h : pad_h + h, pad_w : pad_w + w] = x4.transpose(1, 2, 3, 0)
        cols = np.empty((c, kh, kw, ho, wo, n), dtype)
        for u in range(kh):
            for v in range(kw):
                cols[:, u, v] = xt[:, u : u + ho, v : v + wo]
        self.cols = cols.reshape(c * kh * kw, ho * wo * n)
        self.kmat = k4.reshape(o, c * kh * kw)
        y = (self.kmat @ self.cols).reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
        return y.reshape(_out_shape(x.shape, k.shape, self.mode))

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        if is_grad_enabled():
            return self._backward_graph(g)
        x, k = self.parents
        n, c, h, w = _to4d(x.data).shape
        o, kh, kw = self.kmat.shape[0], k.shape[-2], k.shape[-1]
        g4 = _to4d(g.data)
        ho, wo = g4.shape[-2:]
        gmat = g4.transpose(1, 2, 3, 0).reshape(o, ho * wo * n)
        dx = dk = None
        if k.requires_grad:  # dK = X ⋆ dY: the forward's columns against dY
            dk4 = (gmat @ self.cols.T).reshape(o, c, kh, kw)
            dk = Tensor._make((dk4[..., ::-1, ::-1] if self.flip else dk4).reshape(k.shape))
        if x.requires_grad:  # dX = dY *full K: col2im of Kᵀ dY
            dcols = (self.kmat.T @ gmat).reshape(c, kh, kw, ho, wo, n)
            pad_h, pad_w = (kh - 1, kw - 1) if self.mode == "full" else (0, 0)
            dxt = np.zeros((c, h + 2 * pad_h, w + 2 * pad_w, n), dcols.dtype)
            for u in range(kh):
                for v in range(kw):
                    dxt[:, u : u + ho, v : v + wo] += dcols[:, u, v]
            dxt = dxt[:, pad_h : pad_h + h, pad_w : pad_w + w]
            dx = Tensor._make(dxt.transpose(3, 0, 1, 2).reshape(x.shape))
        return dx, dk

    def _backward_graph(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The seed's formulas as recorded ops (batch and channel axes swapped where
        the sum runs over samples: dK_ij = Σ_n X_nj ⋆ dY_ni)."""
        x, k = self.parents
        if x.ndim == 2:  # one channel: the formulas exactly as written, nothing to line up
            x4, k4, g4 = x, k, g

            def swap(t: Tensor) -> Tensor:
                return t

        else:
            x4, k4, g4 = (t.reshape((1,) * (4 - t.ndim) + t.shape) for t in (x, k, g))

            def swap(t: Tensor) -> Tensor:
                return t.transpose(1, 0, 2, 3)

        full = self.mode == "full"
        dx = dk = None
        # Only the gradients someone needs are recorded: a constant kernel gets no dK graph.
        if not self.flip:
            if x.requires_grad:
                dx = convolve2d(g4, swap(k4), "valid" if full else "full")
            if k.requires_grad:
                dk = rot180(correlate2d(swap(g4), swap(x4))) if full else swap(correlate2d(swap(x4), swap(g4)))
        else:
            if x.requires_grad:
                dx = correlate2d(g4, swap(k4), "valid" if full else "full")
            if k.requires_grad:
                dk = correlate2d(swap(g4), swap(x4)) if full else rot180(swap(correlate2d(swap(x4), swap(g4))))
        return (None if dx is None else dx.reshape(x.shape)), (None if dk is None else dk.reshape(k.shape))


class Convolve2d(Correlate2d):
    """Y_i = Σ_j X_j * K_ij = Σ_j X_j ⋆ rot180(K_ij)
    dE/dX_j = Σ_i dE/dY_i ⋆full K_ij
    dE/dK_ij = rot180(X_j ⋆ dE/dY_i)
    """

    name = "convolve2d"
    flip = True


def correlate2d(x: ArrayLike, k: ArrayLike, mode: str = "valid") -> Tensor:
    """Cross-correlation `x ⋆ k` for (H, W), (C_in, H, W) or (N, C_in, H, W) inputs.

    Kernels are (kh, kw) for a 2-D input, else (C_out, C_in, kh, kw). Valid mode gives
    H − kh + 1 rows, full mode H + kh − 1 (the same for columns).
    """
    x, k = tensor(x), tensor(k)
    _check("correlate2d", x.data, k.data, mode)
    return Correlate2d.apply(x, k, mode=mode)


def convolve2d(x: ArrayLike, k: ArrayLike, mode: str = "valid") -> Tensor:
    """True convolution `x * k = x ⋆ rot180(k)`; shapes and modes as `correlate2d`."""
    x, k = tensor(x), tensor(k)
    _check("convolve2d", x.data, k.data, mode)
    return Convolve2d.apply(x, k, mode=mode)
