"""Activations beyond the seed's sigmoid/tanh/relu: leaky_relu, elu, gelu, silu, softplus.

Each backward picks between branches with `where` (never multiplies by a 0/1 mask, so
an infinite upstream gradient in the unused branch cannot turn into NaN), and is written
once for arrays and Tensors so `create_graph=True` records it.

numpy has no erf: `normal_cdf` evaluates Φ with W. J. Cody's rational approximations of
erf/erfc (Math. Comp. 23, 1969), accurate to about 1e-16 relative, at numpy speed.
"""

from __future__ import annotations

import math

import numpy as np

from ..function import Function
from ..tensor import ArrayLike, Tensor
from . import formula as F
from .elementwise import Grad, _sigmoid, tensor


def _sig(x: Grad) -> Grad:
    return x.sigmoid() if isinstance(x, Tensor) else _sigmoid(x)


class LeakyReLU(Function):
    """Y = X where X > 0, else s·X   (s = negative_slope)
    dE/dX = dE/dY where X > 0, else s·dE/dY
    """

    name = "leaky_relu"
    options = ("negative_slope",)
    saves = (0,)
    negative_slope: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * np.asarray(self.negative_slope, dtype=x.dtype))

    def backward(self, g: Grad) -> tuple[Grad]:
        positive = self.parents[0]._data > 0  # which branch: a constant, no gradient of its own
        with np.errstate(invalid="ignore"):  # inf · 0 in the branch `where` discards
            return (F.where(positive, g, g * self.negative_slope),)


class ELU(Function):
    """Y = X where X > 0, else α·(e^X − 1)
    dE/dX = dE/dY where X > 0, else dE/dY · α·e^X
    """

    name = "elu"
    options = ("alpha",)
    saves = (0,)
    alpha: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        # expm1 on the clamped value: exact near 0, and no overflow warning for large X
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        positive = self.parents[0]._data > 0
        if isinstance(x, Tensor):
            # e^X only where it is used: e^min(X, 0) keeps large X from overflowing
            negative_part = F.exp(F.where(positive, x * 0, x))
        else:
            negative_part = np.exp(np.minimum(x, 0))
        return (F.where(positive, g, g * self.alpha * negative_part),)


def normal_cdf_array(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½·erfc(−x/√2) for a float array, by Cody's three rational approximations
    (each evaluated only on the values in its own interval)."""
    z = np.abs(x) * (1 / math.sqrt(2))
    lower_tail = np.empty_like(z)  # Φ(−|x|) = ½·erfc(|x|/√2)
    small = z <= 0.46875
    if small.any():  # erf(z) = z·R(z²)
        zs = z[small]
        zz = zs * zs
        num = (((_A[4] * zz + _A[0]) * zz + _A[1]) * zz + _A[2]) * zz + _A[3]
        den = (((zz + _B[0]) * zz + _B[1]) * zz + _B[2]) * zz + _B[3]
        lower_tail[small] = 0.5 - 0.5 * zs * num / den
    mid = ~small & (z <= 4.0)
    if mid.any():  # erfc(z) = e^(−z²)·R(z)
        zm = z[mid]
        num, den = _C[8] * zm, zm
        for c, d in zip(_C[:7], _D[:7]):
            num, den = (num + c) * zm, (den + d) * zm
        lower_tail[mid] = 0.5 * _exp_minus_square(zm) * (num + _C[7]) / (den + _D[7])
    far = z > 4.0
    if far.any():  # erfc(z) = e^(−z²)·(1/√π − R(1/z²)/z²)/z; it underflows to 0 past z ≈ 27
        zl = np.minimum(z[far], 40.0)
        inv = 1 / (zl * zl)
        num, den = _P[5] * inv, inv
        for p, q in zip(_P[:4], _Q[:4]):
            num, den = (num + p) * inv, (den + q) * inv
        r = (1 / math.sqrt(math.pi) - inv * (num + _P[4]) / (den + _Q[4])) / zl
        lower_tail[far] = 0.5 * _exp_minus_square(zl) * r
    lower_tail[np.isnan(z)] = np.nan
    return np.where(x < 0, lower_tail, 1 - lower_tail)


def _exp_minus_square(z: np.ndarray) -> np.ndarray:
    """e^(−z²) as e^(−t²)·e^(−(z−t)(z+t)), t = z rounded down to 1/16: t² is exact, so the
    rounding error of z² is not magnified by the exponential."""
    t = np.trunc(z * 16) / 16
    return np.exp(-t * t) * np.exp(-(z - t) * (z + t))


# Cody's coefficients (erf on |z| ≤ 0.46875; erfc on (0.46875, 4]; erfc beyond 4)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)

_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _normal_pdf(x: Grad) -> Grad:
    """φ(x) = e^(−x²/2) / √(2π)"""
    return F.exp(x * x * -0.5) * _INV_SQRT_2PI


class NormalCDF(Function):
    """Y = Φ(X) = ½·(1 + erf(X/√2))
    dE/dX = dE/dY · φ(X),  φ(X) = e^(−X²/2)/√(2π)
    """

    name = "normal_cdf"
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return normal_cdf_array(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        return (g * _normal_pdf(x),)


def _normal_cdf(x: Grad) -> Grad:
    return NormalCDF.apply(x) if isinstance(x, Tensor) else normal_cdf_array(x)


class GELU(Function):
    """Y = X·Φ(X) = ½·X·(1 + erf(X/√2))
    dE/dX = dE/dY · (Φ(X) + X·φ(X))
    """

    name = "gelu"
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x * normal_cdf_array(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        return (g * (_normal_cdf(x) + x * _normal_pdf(x)),)


class SiLU(Function):
    """Y = X·σ(X)
    dE/dX = dE/dY · σ(X)·(1 + X·(1 − σ(X)))
    """

    name = "silu"
    saves = (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x * _sigmoid(x)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        s = _sig(x)
        return (g * s * (1 + x * (1 - s)),)


class Softplus(Function):
    """Y = log(1 + e^(βX))/β, and X where βX > threshold
    dE/dX = dE/dY · σ(βX), and dE/dY where βX > threshold
    """

    name = "softplus"
    options = ("beta", "threshold")
    saves = (0,)
    beta: float
    threshold: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        bx = x * self.beta
        # max(βx, 0) + log1p(e^−|βx|): never overflows, exact at ±1000
        smooth = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / self.beta
        return np.where(bx > self.threshold, x, smooth).astype(x.dtype, copy=False)

    def backward(self, g: Grad) -> tuple[Grad]:
        (x,) = self.inputs(g)
        linear = self.parents[0]._data * self.beta > self.threshold
        return (F.where(linear, g, g * _sig(x * self.beta)),)


def _check_number(op: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return float(value)


def _float_input(op: str, x: ArrayLike) -> Tensor:
    x = tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a float tensor, got dtype {x.dtype}")
    return x


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """X where X > 0, else negative_slope · X (PyTorch's `leaky_relu`)."""
    slope = _check_number("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLU.apply(_float_input("leaky_relu", x), negative_slope=slope)


def elu(x: ArrayLike, alpha: float = 1.0) -> Tensor:
    """X where X > 0, else α·(e^X − 1)."""
    return ELU.apply(_float_input("elu", x), alpha=_check_number("elu", "alpha", alpha))


def gelu(x: ArrayLike) -> Tensor:
    """X·Φ(X), the exact (erf) form."""
    return GELU.apply(_float_input("gelu", x))


def silu(x: ArrayLike) -> Tensor:
    """X·σ(X) (also called swish)."""
    return SiLU.apply(_float_input("silu", x))


def softplus(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(βX))/β, switching to X where βX > threshold, as PyTorch."""
    beta = _check_number("softplus", "beta", beta)
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    threshold = _check_number("softplus", "threshold", threshold)
    return Softplus.apply(_float_input("softplus", x), beta=beta, threshold=threshold)
