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

import ctypes
import os
import sys
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import ArrayLike, Tensor
from .elementwise import Grad, tensor
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


def _keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers instead of handing them back to the OS.

    By default glibc serves every buffer above 128 KiB–32 MiB with a fresh mmap and unmaps
    it on free, so each training step faults the im2col matrices in again, page by
    page (measured: 1.4× at size (b), up to 10× at size (a)). With the thresholds raised
    the memory is reused; the peak stays what one step needs. Set
    TINYGRAD_CNN_MALLOPT=0 to leave malloc alone.
    """
    if not sys.platform.startswith("linux") or os.environ.get("TINYGRAD_CNN_MALLOPT", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = mallopt(m_mmap_threshold, 1 << 30) or mallopt(m_mmap_threshold, 32 << 20)
    return bool(ok and mallopt(m_trim_threshold, 1 << 30))


_malloc_tuned: bool | None = None  # set by the first convolution, so importing changes nothing

# Layout of the im2col matrix, by size (measured on 2 cores with OpenBLAS; see
# docs/performance.md): per-sample GEMMs when the kernel matrix is tiny, batch-last for
# small images (longest copy runs), channel-major for large ones (Y, dY and dX then
# change layout in runs of Ho·Wo values, where batch-last would move single values).


def _layout(n: int, ckk: int, howo: int) -> str:
    if ckk <= 16:
        return "sample"
    if howo <= 256:
        return "batch_last"
    return "channel_major"


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
    variants = {
        ("mode", "full"): """Y_i = Σ_j X_j ⋆full K_ij
        dE/dX_j = Σ_i dE/dY_i *valid K_ij
        dE/dK_ij = rot180(dE/dY_i ⋆ X_j)
        """
    }
    options = ("mode",)
    buffers = ("cols", "kmat")
    mode: str
    flip = False  # convolution flips the kernel: X * K = X ⋆ rot180(K)

    def forward(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        global _malloc_tuned
        if _malloc_tuned is None:
            _malloc_tuned = _keep_freed_memory()
        dtype = np.result_type(x, k)
        x4, k4 = _to4d(x).astype(dtype, copy=False), _to4d(k).astype(dtype, copy=False)
        if self.flip:
            k4 = k4[..., ::-1, ::-1]
        o, c, kh, kw = k4.shape
        if self.mode == "full":  # full = valid on the input padded by kernel − 1 zeros
            n, _, h, w = x4.shape
            xp = np.zeros((n, c, h + 2 * (kh - 1), w + 2 * (kw - 1)), dtype)
            xp[:, :, kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w] = x4
            x4 = xp
        n, _, hp, wp = x4.shape
        ho, wo = hp - kh + 1, wp - kw + 1
        self._cols_layout = layout = _layout(n, c * kh * kw, ho * wo)
        self.kmat = kmat = k4.reshape(o, c * kh * kw)
        # im2col: the kh·kw shifted windows of X, copied once into the layout's matrix.
        if layout == "sample":  # (N, C·kh·kw, Ho·Wo): one GEMM per sample, Y comes out NCHW
            cols = np.empty((n, c, kh, kw, ho, wo), dtype)
            for u in range(kh):
                for v in range(kw):
                    cols[:, :, u, v] = x4[:, :, u : u + ho, v : v + wo]
            self.cols = cols.reshape(n, c * kh * kw, ho * wo)
            y = (kmat @ self.cols).reshape(n, o, ho, wo)
        elif layout == "batch_last":  # (C·kh·kw, Ho·Wo·N): runs of Wo·N values per copy
            xt = np.ascontiguousarray(x4.transpose(1, 2, 3, 0))
            cols = np.empty((c, kh, kw, ho, wo, n), dtype)
            for u in range(kh):
                for v in range(kw):
                    cols[:, u, v] = xt[:, u : u + ho, v : v + wo]
            self.cols = cols.reshape(c * kh * kw, ho * wo * n)
            y = (kmat @ self.cols).reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
        else:  # "channel_major", (C·kh·kw, N·Ho·Wo): Y and dX leave in runs of Ho·Wo
            xc = x4.transpose(1, 0, 2, 3)
            cols = np.empty((c, kh, kw, n, ho, wo), dtype)
            for u in range(kh):
                for v in range(kw):
                    cols[:, u, v] = xc[:, :, u : u + ho, v : v + wo]
            self.cols = cols.reshape(c * kh * kw, n * ho * wo)
            y = (kmat @ self.cols).reshape(o, n, ho, wo).transpose(1, 0, 2, 3)
        return y.reshape(_out_shape(x.shape, k.shape, self.mode))

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        if isinstance(g, Tensor):  # recorded: the formulas as ops, so they can be drawn and differentiated
            return self._backward_graph(g)
        x, k = self.parents
        n, c, h, w = _to4d(x._data).shape
        o, kh, kw = self.kmat.shape[0], k.shape[-2], k.shape[-1]
        g4 = _to4d(np.asarray(g)).astype(self.kmat.dtype, copy=False)
        ho, wo = g4.shape[-2:]
        hp, wp = ho + kh - 1, wo + kw - 1  # the (padded) input the windows were cut from
        cols, layout = self.cols, self._cols_layout
        full_width = layout == "channel_major" and hp * wp < 1.25 * ho * wo
        gmat: Any = None  # dY as a matrix, made only when dK or the strided col2im needs it
        if k.requires_grad or not full_width:
            # dY in the layout of the columns; a no-op when dY already has that memory order.
            if layout == "sample":
                gmat = np.ascontiguousarray(g4).reshape(n, o, ho * wo)
            elif layout == "batch_last":
                gmat = np.ascontiguousarray(g4.transpose(1, 2, 3, 0)).reshape(o, ho * wo * n)
            else:
                gmat = np.ascontiguousarray(g4.transpose(1, 0, 2, 3)).reshape(o, n * ho * wo)
        dx = dk = None
        if k.requires_grad:  # dK = X ⋆ dY: the forward's columns against dY
            if layout == "sample":
                dk4 = np.matmul(gmat, cols.transpose(0, 2, 1)).sum(axis=0)
            else:  # (cols dYᵀ)ᵀ: BLAS runs the long inner dimension better this way round
                dk4 = (cols @ gmat.T).T
            dk4 = dk4.reshape(o, c, kh, kw)
            dk = np.ascontiguousarray(dk4[..., ::-1, ::-1] if self.flip else dk4).reshape(k.shape)
        if x.requires_grad:  # dX = dY *full K: col2im of Kᵀ dY
            if full_width:  # dY is laid out afresh for it: gmat is not needed
                dxp = self._col2im_full_width(g4, c, hp, wp, kh, kw)
            else:
                dxp = self._col2im(gmat, n, c, hp, wp, kh, kw, ho, wo)
            if self.mode == "full":
                dxp = dxp[:, :, kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w]
            dx = dxp.reshape(x.shape)
        return dx, dk

    def _col2im_full_width(self, g4: np.ndarray, c: int, hp: int, wp: int, kh: int, kw: int) -> np.ndarray:
        """col2im for large images: dY laid out at the input's full width (zeros past
        column Wo and row Ho), so each window's shift is one offset into a flat row and
        every add moves contiguous runs of N·H·W values.
        The ~(H·W)/(Ho·Wo) − 1 extra columns in Kᵀ dY cost less than strided adds."""
        n, o, ho, wo = g4.shape
        size = n * hp * wp
        span = size - ((kh - 1) * wp + kw - 1)  # the last window start that stays inside
        gfull = np.zeros((o, n, hp, wp), g4.dtype)
        gfull[:, :, :ho, :wo] = g4.transpose(1, 0, 2, 3)
        dcols = (self.kmat.T @ gfull.reshape(o, size)[:, :span]).reshape(c, kh * kw, span)
        dx = np.zeros((c, size), dcols.dtype)
        for u in range(kh):
            for v in range(kw):
                shift = u * wp + v
                dx[:, shift : shift + span] += dcols[:, u * kw + v]
        return dx.reshape(c, n, hp, wp).transpose(1, 0, 2, 3)

    def _col2im(self, gmat: np.ndarray, n: int, c: int, hp: int, wp: int, kh: int, kw: int, ho: int, wo: int) -> np.ndarray:
        """dX (N, C, Hp, Wp): every column of Kᵀ dY added back onto the window it came from."""
        kt = self.kmat.T
        if self._cols_layout == "sample":
            dcols = (kt @ gmat).reshape(n, c, kh, kw, ho, wo)
            dx = np.zeros((n, c, hp, wp), dcols.dtype)
            for u in range(kh):
                for v in range(kw):
                    dx[:, :, u : u + ho, v : v + wo] += dcols[:, :, u, v]
            return dx
        if self._cols_layout == "batch_last":
            dcols = (kt @ gmat).reshape(c, kh, kw, ho, wo, n)
            dxt = np.zeros((c, hp, wp, n), dcols.dtype)
            for u in range(kh):
                for v in range(kw):
                    dxt[:, u : u + ho, v : v + wo] += dcols[:, u, v]
            return dxt.transpose(3, 0, 1, 2)
        dcols = (kt @ gmat).reshape(c, kh, kw, n, ho, wo)
        dxc = np.zeros((c, n, hp, wp), dcols.dtype)
        for u in range(kh):
            for v in range(kw):
                dxc[:, :, u : u + ho, v : v + wo] += dcols[:, u, v]
        return dxc.transpose(1, 0, 2, 3)

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
    variants = {
        ("mode", "full"): """Y_i = Σ_j X_j *full K_ij = Σ_j X_j ⋆full rot180(K_ij)
        dE/dX_j = Σ_i dE/dY_i ⋆ K_ij
        dE/dK_ij = dE/dY_i ⋆ X_j
        """
    }
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
