"""Where a conv training step's time goes, inside the step.

Runs bench.py's step for each conv case (`correlate2d(x, k) + b`, `sum`, `backward`) with
the kernels of `tinygrad_cnn/kernels/im2col.py` wrapped in timers, and prints per step:
im2col, the forward GEMM, dY into the GEMM's layout, dE/dK, dE/dX (col2im), and the rest
("glue": the bias add, the sum, the bias gradient, leaf stores, the engine). Timed inside
the step, each kernel meets the caches the previous one left, which is slower than the
same kernel timed alone in a loop.

    PYTHONPATH=. python benchmarks/profile_conv.py [case ...]
"""

from __future__ import annotations

import collections
import sys
import time
from typing import Any, Callable

import numpy as np

import tinygrad_cnn as tc
from bench import CONV_CASES
from tinygrad_cnn.kernels import im2col as kern

KERNELS = ("im2col", "conv_gemm", "to_layout", "weight_grad", "input_grad")
spent: dict[str, float] = collections.defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        spent[name] += time.perf_counter() - t0
        return out

    return wrapper


def profile(name: str) -> dict[str, float]:
    n, c, o, hw, ks, stride, pad = CONV_CASES[name]
    rng = np.random.default_rng(0)
    x, k, b = (tc.Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
               for s in ((n, c, hw, hw), (o, c, ks, ks), (o, 1, 1)))

    def step() -> None:
        x.grad = k.grad = b.grad = None
        (tc.correlate2d(x, k, stride=stride, padding=pad) + b).sum().backward()

    steps = max(20, int(0.5 / _once(step)))
    spent.clear()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    total = time.perf_counter() - t0
    row = {kernel: 1e3 * spent[kernel] / steps for kernel in KERNELS}
    row["glue"] = 1e3 * total / steps - sum(row.values())
    row["step"] = 1e3 * total / steps
    return row


def _once(step: Callable[[], None]) -> float:
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def main() -> None:
    for kernel in KERNELS:
        setattr(kern, kernel, _timed(kernel, getattr(kern, kernel)))
    print("| case (ms per step) | " + " | ".join(KERNELS) + " | glue | step |")
    print("|---|" + "---|" * (len(KERNELS) + 2))
    for name in sys.argv[1:] or CONV_CASES:
        row = profile(name)
        print(f"| conv {name} | " + " | ".join(f"{row[key]:.3f}" for key in KERNELS + ("glue", "step")) + " |")


if __name__ == "__main__":
    main()
