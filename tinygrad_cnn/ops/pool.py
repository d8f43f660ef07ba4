"""2-D max and average pooling, PyTorch's semantics.

A window of kh×kw positions starts every s rows and columns of the input padded by p
(−inf for the maximum, zeros for the average, which always divides by kh·kw: the
padding counts, as PyTorch's default count_include_pad=True).

    max:      Y[a, b] = max_uv X[a·s+u, b·s+v]
              dE/dX gets dE/dY[a, b] at the window's maximum (the first one, in
              row-major order, when several are equal), 0 elsewhere
    average:  Y[a, b] = (1/(kh·kw)) Σ_uv X[a·s+u, b·s+v]
              dE/dX = crop_p(dil_s(dE/dY) *full J/(kh·kw)), J a kh×kw block of ones:
              the average is a convolution with a constant kernel, and its gradient is
              the seed's dE/dY *full K, with stride and padding.

Both run through the kernels' one shift loop (a loop over the kh·kw window offsets,
never over samples or channels). Recorded backwards (`create_graph=True`) use ops that
are themselves differentiable: the average's is a conv_transpose2d with the constant
kernel; the maximum's places dE/dY at the remembered maxima (max_unpool2d), whose own
gradient reads values back from those places (max_pool2d_select), and vice versa.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import im2col as kern
from ..kernels.im2col import Geometry
from ..function import Function
from ..tensor import ArrayLike, Tensor
from .conv import ConvTranspose2d, Pair, _pair
from .elementwise import Grad, tensor


def _four(x: Any) -> Any:
    return x.reshape((1,) * (4 - x.ndim) + tuple(x.shape))


class MaxPool2d(Function):
    """Y = max_uv pad_p(X)[a·s+u, b·s+v]
    dE/dX = crop_p(dE/dY placed at the first maximum of each window)
    """

    name = "max_pool2d"
    saves = ()  # the window maxima's places, not X's values
    options = ("kernel_size", "stride", "padding")
    buffers = ("arg",)
    kernel_size: Pair
    stride: Pair
    padding: Pair

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._geo = _geometry(x.shape, self.kernel_size, self.stride, self.padding)
        y, self.arg = kern.max_pool(_four(x), self._geo)
        return y.reshape(x.shape[:-2] + y.shape[-2:])

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.parents
        return (MaxUnpool2d.place(g, self.arg, self._geo, x.shape),)


class MaxUnpool2d(Function):
    """Z = dE/dY placed at the first maximum of each window (zeros elsewhere)
    dE/d(dE/dY) = dE/dZ read at the first maximum of each window
    """

    name = "max_unpool2d"
    saves = ()
    options = ("arg", "geo", "shape")
    arg: np.ndarray
    geo: Geometry
    shape: tuple[int, ...]

    @classmethod
    def place(cls, g: Grad, arg: np.ndarray, geo: Geometry, shape: tuple[int, ...]) -> Grad:
        if isinstance(g, Tensor):
            return cls.apply(g, arg=arg, geo=geo, shape=shape)
        return kern.max_pool_scatter(_four(g), arg, geo).reshape(shape)

    def forward(self, g: np.ndarray) -> np.ndarray:
        return self.place(g, self.arg, self.geo, self.shape)

    def backward(self, h: Grad) -> tuple[Grad]:
        return (MaxPoolSelect.read(h, self.arg, self.geo, self.parents[0].shape),)


class MaxPoolSelect(Function):
    """Z = H read at the first maximum of each window
    dE/dH = dE/dZ placed at the first maximum of each window
    """

    name = "max_pool2d_select"
    saves = ()
    options = ("arg", "geo", "shape")
    arg: np.ndarray
    geo: Geometry
    shape: tuple[int, ...]

    @classmethod
    def read(cls, h: Grad, arg: np.ndarray, geo: Geometry, shape: tuple[int, ...]) -> Grad:
        if isinstance(h, Tensor):
            return cls.apply(h, arg=arg, geo=geo, shape=shape)
        return kern.max_pool_gather(_four(h), arg, geo).reshape(shape)

    def forward(self, h: np.ndarray) -> np.ndarray:
        return self.read(h, self.arg, self.geo, self.shape)

    def backward(self, g: Grad) -> tuple[Grad]:
        return (MaxUnpool2d.place(g, self.arg, self.geo, self.parents[0].shape),)


class AvgPool2d(Function):
    """Y = (1/(kh·kw)) Σ_uv pad_p(X)[a·s+u, b·s+v]
    dE/dX = crop_p(dil_s(dE/dY) *full J/(kh·kw))
    """

    name = "avg_pool2d"
    saves = ()
    options = ("kernel_size", "stride", "padding")
    kernel_size: Pair
    stride: Pair
    padding: Pair

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._geo = geo = _geometry(x.shape, self.kernel_size, self.stride, self.padding)
        y = kern.window_sum(_four(x), geo) * x.dtype.type(1 / (geo.kh * geo.kw))
        return y.reshape(x.shape[:-2] + y.shape[-2:])

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.parents
        geo = self._geo
        if isinstance(g, Tensor):  # a transposed convolution with the constant kernel J/(kh·kw)
            j = np.full((1, 1, geo.kh, geo.kw), 1 / (geo.kh * geo.kw), g.dtype)
            dx = ConvTranspose2d.apply(g.reshape(-1, 1, geo.ho, geo.wo), Tensor._make(j), stride=geo.stride,
                                       padding=geo.pads, output_padding=geo.slack)
            return (dx.reshape(x.shape),)
        dx = kern.window_spread(_four(g), geo) * g.dtype.type(1 / (geo.kh * geo.kw))
        return (dx.reshape(x.shape),)


def _geometry(shape: tuple[int, ...], k: Pair, s: Pair, p: Pair) -> Geometry:
    n, c, h, w = (1,) * (4 - len(shape)) + tuple(shape)
    return Geometry.of((n, c, h, w), (c, 1) + k, s, (p[0], p[0], p[1], p[1]), (1, 1), c)


def _options(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> dict[str, Pair]:
    """The options checked against the input, as pairs."""
    where = f"input {x.shape}, kernel_size {kernel_size!r}"
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input (C, H, W) or (N, C, H, W), got shape {x.shape}")
    k = _pair(op, "kernel_size", kernel_size, where, 1)
    s = k if stride is None else _pair(op, "stride", stride, where, 1)
    p = _pair(op, "padding", padding, where, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k} ({where})")
    hp, wp = x.shape[-2] + 2 * p[0], x.shape[-1] + 2 * p[1]
    if k[0] > hp or k[1] > wp:
        raise ValueError(f"{op}: window {k} is larger than the input of shape {x.shape} padded to {(hp, wp)}")
    return dict(kernel_size=k, stride=s, padding=p)


def max_pool2d(x: ArrayLike, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Maximum over kh×kw windows every `stride` (default: kernel_size) positions of the
    input padded with −inf; (C, H, W) or (N, C, H, W). The gradient goes to the first
    maximum of each window, as PyTorch: to its last NaN if it holds any, and never to the
    padding (an all −inf window sends it to its first real position)."""
    x = tensor(x)
    return MaxPool2d.apply(x, **_options("max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x: ArrayLike, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Average over kh×kw windows every `stride` (default: kernel_size) positions of the
    input padded with zeros, always divided by kh·kw (the padding counts)."""
    x = tensor(x)
    return AvgPool2d.apply(x, **_options("avg_pool2d", x, kernel_size, stride, padding))
