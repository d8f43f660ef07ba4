"""Factories: new tensors filled with zeros, ones, a value, a range, the identity or
random numbers. Shapes are given as `zeros(2, 3)` or `zeros((2, 3))`, as in PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor

_rng = np.random.default_rng()  # randn/rand without rng: fresh values every call


def _shape(op: str, shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"{op}: sizes must be ints, got {shape}")
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: sizes must not be negative, got {tuple(int(n) for n in shape)}")
    return tuple(int(n) for n in shape)


def _made(op: str, data: np.ndarray, requires_grad: bool) -> Tensor:
    if requires_grad and data.dtype.kind != "f":
        raise TypeError(f"{op}: only float tensors can require grad, got dtype {data.dtype}")
    return Tensor._make(data, requires_grad=bool(requires_grad))


def zeros(*shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    return _made("zeros", np.zeros(_shape("zeros", shape), dtype=dtype), requires_grad)


def ones(*shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    return _made("ones", np.ones(_shape("ones", shape), dtype=dtype), requires_grad)


def full(shape: Any, value: float, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` filled with `value` (float64 unless `dtype` says otherwise)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    return _made("full", np.full(_shape("full", (shape,)), value, dtype=dtype), requires_grad)


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of `x`'s shape and dtype."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return _made("zeros_like", np.zeros(data.shape, dtype=dtype or data.dtype), requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of `x`'s shape and dtype."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return _made("ones_like", np.ones(data.shape, dtype=dtype or data.dtype), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """`[start, stop)` in steps of `step`; int64 when all three are ints, else float64
    (unless `dtype` is given)."""
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.number))):
            raise TypeError(f"arange: {name} must be a number, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step) if v is not None)
        dtype = np.int64 if ints else np.float64
    data = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, step=step, dtype=dtype)
    return _made("arange", data, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = np.float64, requires_grad: bool = False) -> Tensor:
    """The n×m identity matrix (square when m is None)."""
    rows, cols = _shape("eye", (n, n if m is None else m))
    return _made("eye", np.eye(rows, cols, dtype=dtype), requires_grad)


def randn(*shape: Any, rng: np.random.Generator | None = None, dtype: Any = np.float64,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples; pass `rng` (a numpy Generator) for reproducible draws."""
    data = (rng or _rng).standard_normal(_shape("randn", shape)).astype(dtype, copy=False)
    return _made("randn", data, requires_grad)


def rand(*shape: Any, rng: np.random.Generator | None = None, dtype: Any = np.float64,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1); pass `rng` (a numpy Generator) for reproducible draws."""
    data = (rng or _rng).random(_shape("rand", shape)).astype(dtype, copy=False)
    return _made("rand", data, requires_grad)
