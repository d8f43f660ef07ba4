"""What a numpy convolution layer cannot go below: its three GEMMs and one copy of its columns.

For each conv case of bench.py, times with numpy (OpenBLAS) alone:
- the three products of the layer, Y = K·cols, dE/dK = dE/dY·colsᵀ and dcols = Kᵀ·dE/dY,
  each in the fastest of its four storage orders (A or Aᵀ contiguous, B or Bᵀ contiguous);
- one copy of as many bytes as the im2col columns (contiguous to contiguous, memcpy speed),
and PyTorch's whole training step of the same layer. The sum of the first two is a floor
for any im2col design: everything else (im2col's strided reads, col2im's adds, the bias,
the sum, the engine) only adds to it.

    PYTHONPATH=. python benchmarks/floor.py [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from typing import Any, Callable

import numpy as np

import tinygrad_cnn  # noqa: F401  (the malloc tuning the layer itself runs with)
from bench import CONV_CASES, _import_torch
import bench


def _best(fn: Callable[[], Any], reps: int = 15) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_seconds(m: int, k: int, n: int) -> tuple[float, str]:
    """The fastest storage order for C (m×n) = A (m×k) · B (k×n), float32."""
    rng = np.random.default_rng(0)
    best = (float("inf"), "")
    for ta, tb in itertools.product((False, True), repeat=2):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        a, b = (a.T if ta else a), (b.T if tb else b)
        best = min(best, (_best(lambda: a @ b), ("T" if ta else "N") + ("T" if tb else "N")))
    return best


def case(name: str) -> dict[str, Any]:
    n, c, o, hw, ks, stride, pad = CONV_CASES[name]
    ho = (hw + 2 * pad - ks) // stride + 1
    p, ckk = n * ho * ho, c * ks * ks
    products = {"forward K·cols": (o, ckk, p), "dE/dK dY·colsᵀ": (o, p, ckk), "dcols Kᵀ·dY": (ckk, o, p)}
    row: dict[str, Any] = {"case": f"conv {name}", "gflop each": 2 * o * ckk * p / 1e9}
    for what, (m, k, nn) in products.items():
        seconds, order = gemm_seconds(m, k, nn)
        row[what] = {"ms": 1e3 * seconds, "order": order, "GFLOP/s": 2 * m * k * nn / seconds / 1e9}
    cols = np.ones(ckk * p, np.float32)
    out = np.empty_like(cols)
    row["copy of the columns ms"] = 1e3 * _best(lambda: np.copyto(out, cols))
    row["floor ms"] = sum(row[w]["ms"] for w in products) + row["copy of the columns ms"]
    if bench.torch is not None:
        torch, F = bench.torch, bench.F
        rng = np.random.default_rng(0)
        tx, tk, tb = (torch.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
                      for s in ((n, c, hw, hw), (o, c, ks, ks), (o, 1, 1)))

        def step() -> None:
            tx.grad = tk.grad = tb.grad = None
            (F.conv2d(tx, tk, stride=stride, padding=pad) + tb).sum().backward()

        row["PyTorch step ms"] = 1e3 * _best(step, 30)
        row["floor / PyTorch"] = row["floor ms"] / row["PyTorch step ms"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    _import_torch(2)
    rows = [case(name) for name in CONV_CASES]
    print("| case | GEMMs at their best (ms) | copy of the columns (ms) | floor (ms) | PyTorch step (ms) "
          "| floor / PyTorch |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        gemms = " + ".join(f"{r[w]['ms']:.2f}" for w in ("forward K·cols", "dE/dK dY·colsᵀ", "dcols Kᵀ·dY"))
        torch_ms = f"{r['PyTorch step ms']:.2f}" if "PyTorch step ms" in r else "—"
        ratio = f"{r['floor / PyTorch']:.2f}" if "floor / PyTorch" in r else "—"
        print(f"| {r['case']} | {gemms} | {r['copy of the columns ms']:.2f} | {r['floor ms']:.2f} | {torch_ms} "
              f"| {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
