"""Benchmark tinygrad_cnn against PyTorch CPU and the seed's per-sample SciPy loops.

    python benchmarks/bench.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench.py --quick    # fewer repetitions, a smoke run
    python benchmarks/bench.py --only conv --rounds 11

Every comparison is run in one process, each side timed in its own block (PyTorch and
numpy calls are never interleaved inside a timed loop: each disturbs the other's
caches and threads). Blocks alternate between the sides for `--rounds` rounds and the
table reports the median time of one iteration. Before anything is timed, every
result is checked against its reference (PyTorch, else SciPy) with assert_allclose.

Results go to stdout as a table and to `benchmarks/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import seed_loops  # noqa: E402

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import Tensor  # noqa: E402

torch: Any = None  # imported by main() when available: its columns stay empty otherwise
F: Any = None


def _import_torch(threads: int = 2) -> None:
    global torch, F
    try:
        import torch as _torch
        import torch.nn.functional as _F
    except ImportError:
        return
    torch, F = _torch, _F
    torch.set_num_threads(threads)

# name -> (N, C_in, C_out, H=W, k, stride, padding)
CONV_CASES = {
    "a": (64, 1, 5, 28, 3, 1, 0),
    "b": (64, 6, 16, 12, 5, 1, 0),
    "c": (32, 32, 64, 32, 3, 1, 0),
    "strided": (32, 32, 64, 32, 3, 2, 1),
}
LENET_BATCH = 64
# float32 ratio targets, ours / PyTorch
TARGETS = {"conv a": 0.7, "conv b": 1.35, "conv c": 1.4, "conv strided": 1.5, "lenet5": 1.5, "chain": 0.6,
           "number chain": 0.6}
SEED_TARGET = {"conv b": 50.0, "epoch batch 1": 1.0}  # ours must be this many times faster than the seed's code
CHAIN_LEN = 5000
EPOCH_SAMPLES = 1000
SEED_HW = 28  # the seed network's images: 28×28 (MNIST), so 5·26·26 = 3380 features after the conv
SEED_FEATURES = 5 * (SEED_HW - 2) ** 2
MEMORY_TARGET = 1.5  # peak memory of a conv training step, ours / PyTorch's
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-9)}


# ----- timing ----------------------------------------------------------------------------
def _block(fn: Callable[[], Any], number: int) -> list[float]:
    times = []
    for _ in range(number):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _number(fn: Callable[[], Any], budget: float, cap: int) -> int:
    """Iterations per block so that one block takes about `budget` seconds."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return max(1, min(cap, int(budget / max(once, 1e-9))))


def compare(sides: dict[str, Callable[[], Any]], rounds: int, budget: float, cap: int = 200) -> dict[str, float]:
    """Median seconds per call of each side; blocks alternate, never calls.

    Before each block the other side's BLAS/OpenMP threads get a moment to stop
    spinning, and one untimed call warms the caches.
    """
    numbers = {name: _number(fn, budget, cap) for name, fn in sides.items()}  # also warms up
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            time.sleep(0.02)
            fn()
            samples[name] += _block(fn, numbers[name])
    out = {name: statistics.median(s) for name, s in samples.items()}
    out.update({f"{name} min": min(s) for name, s in samples.items()})
    return out


# ----- one conv layer: correlate2d(x, k) + b, sum, backward ------------------------------
def conv_case(name: str, dtype: type, args: argparse.Namespace) -> dict[str, Any]:
    n, c, o, hw, ks, stride, pad = CONV_CASES[name]
    ho = (hw + 2 * pad - ks) // stride + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    k = rng.standard_normal((o, c, ks, ks)).astype(dtype)
    b = rng.standard_normal((o, 1, 1)).astype(dtype)
    X, K, B = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True), Tensor(b, requires_grad=True)

    def ours() -> tuple[np.ndarray, ...]:
        X.grad = K.grad = B.grad = None
        y = (tc.correlate2d(X, K) if stride == 1 and pad == 0 else tc.correlate2d(X, K, stride=stride, padding=pad)) + B
        y.sum().backward()
        return y.data, X.grad, K.grad, B.grad

    sides: dict[str, Callable[[], Any]] = {"ours": ours}
    got = ours()
    tol = TOL[dtype]
    if torch is not None and not args.no_torch:
        tx, tk, tb = (torch.tensor(a, requires_grad=True) for a in (x, k, b))

        def theirs() -> tuple[Any, ...]:
            tx.grad = tk.grad = tb.grad = None
            y = F.conv2d(tx, tk, stride=stride, padding=pad) + tb
            y.sum().backward()
            return y, tx.grad, tk.grad, tb.grad

        for ours_v, ref in zip(got, theirs()):
            np.testing.assert_allclose(ours_v, ref.detach().numpy(), **_scaled(tol, ref.detach().numpy()))
        sides["torch"] = theirs
    seed_ms = None
    if not args.no_seed and (name in args.seed_cases) and stride == 1 and pad == 0:
        g = np.ones((n, o, ho, ho), dtype)

        def seed() -> tuple[np.ndarray, ...]:
            y = seed_loops.conv_forward(x, k, b)
            return (y,) + seed_loops.conv_backward(x, k, g)

        ref = seed()
        for ours_v, ref_v in zip(got, (ref[0], ref[1], ref[2], ref[3])):
            np.testing.assert_allclose(ours_v, ref_v, **_scaled(tol, ref_v))
        times = [_block(seed, 1)[0] for _ in range(args.seed_reps)]
        seed_ms = 1e3 * statistics.median(times)
    med = compare(sides, args.rounds, args.budget)
    options = f", stride {stride}, padding {pad}" if (stride, pad) != (1, 0) else ""
    return _row(f"conv {name}", dtype, med, seed_ms, f"N={n}, {c}→{o} ch, {hw}×{hw}, {ks}×{ks}{options}")


# ----- LeNet-5: forward + backward of a batch ------------------------------------------------
def _lenet_params(dtype: type) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    shapes = {"c1.w": (6, 1, 5, 5), "c1.b": (6,), "c2.w": (16, 6, 5, 5), "c2.b": (16,), "f1.w": (120, 400),
              "f1.b": (120,), "f2.w": (84, 120), "f2.b": (84,), "f3.w": (10, 84), "f3.b": (10,)}
    return {k: rng.uniform(-0.2, 0.2, s).astype(dtype) for k, s in shapes.items()}


def lenet_case(dtype: type, args: argparse.Namespace) -> dict[str, Any]:
    """LeNet-5 on 28×28 digits (conv 5×5 padding 2, max pool, conv 5×5, max pool, three
    linear layers, cross-entropy), written with the functional ops: forward + backward."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (LENET_BATCH, 1, 28, 28)).astype(dtype)
    labels = rng.integers(0, 10, LENET_BATCH)
    arrays = _lenet_params(dtype)
    P = {k: Tensor(v, requires_grad=True) for k, v in arrays.items()}

    def ours() -> tuple[np.ndarray, ...]:
        for p in P.values():
            p.grad = None
        h = tc.max_pool2d(tc.conv2d(Tensor(x), P["c1.w"], P["c1.b"], padding=2).relu(), 2)
        h = tc.max_pool2d(tc.conv2d(h, P["c2.w"], P["c2.b"]).relu(), 2).reshape(LENET_BATCH, 400)
        h = (h @ P["f1.w"].T + P["f1.b"]).relu()
        h = (h @ P["f2.w"].T + P["f2.b"]).relu()
        loss = tc.cross_entropy(h @ P["f3.w"].T + P["f3.b"], labels)
        loss.backward()
        return (loss.data,) + tuple(P[k].grad for k in arrays)

    sides: dict[str, Callable[[], Any]] = {"ours": ours}
    got = ours()
    if torch is not None and not args.no_torch:
        T = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
        tx, tl = torch.from_numpy(x), torch.from_numpy(labels)

        def theirs() -> tuple[Any, ...]:
            for p in T.values():
                p.grad = None
            h = F.max_pool2d(F.relu(F.conv2d(tx, T["c1.w"], T["c1.b"], padding=2)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, T["c2.w"], T["c2.b"])), 2).reshape(LENET_BATCH, 400)
            h = F.relu(h @ T["f1.w"].T + T["f1.b"])
            h = F.relu(h @ T["f2.w"].T + T["f2.b"])
            loss = F.cross_entropy(h @ T["f3.w"].T + T["f3.b"], tl)
            loss.backward()
            return (loss,) + tuple(T[k].grad for k in arrays)

        for ours_v, ref in zip(got, theirs()):
            ref = ref.detach().numpy()
            np.testing.assert_allclose(ours_v, ref, **_scaled(TOL[dtype], ref))
        sides["torch"] = theirs
    med = compare(sides, args.rounds, args.budget)
    return _row("lenet5", dtype, med, None, f"LeNet-5, batch {LENET_BATCH}, 28×28, forward + backward")


def _scaled(tol: dict[str, float], ref: np.ndarray) -> dict[str, float]:
    """Absolute tolerance relative to the size of the values (sums of many terms)."""
    return dict(rtol=tol["rtol"], atol=tol["atol"] * max(1.0, float(np.abs(ref).max())))


# ----- a chain of 1-element ops -----------------------------------------------------------
def chain_case(dtype: type, args: argparse.Namespace) -> dict[str, Any]:
    """y ← tanh(y·w + c), repeated until CHAIN_LEN ops; then backward to y0, w, c."""
    reps = CHAIN_LEN // 3
    start, wv, cv = (np.array([v], dtype) for v in (0.5, 0.9, 0.1))
    Y0, W, C = (Tensor(a, requires_grad=True) for a in (start, wv, cv))

    def ours() -> tuple[np.ndarray, ...]:
        Y0.grad = W.grad = C.grad = None
        y = Y0
        for _ in range(reps):
            y = (y * W + C).tanh()
        y.backward()
        return y.data, Y0.grad, W.grad, C.grad

    sides: dict[str, Callable[[], Any]] = {"ours": ours}
    got = ours()
    if torch is not None and not args.no_torch:
        ty, tw, tcc = (torch.tensor(a, requires_grad=True) for a in (start, wv, cv))

        def theirs() -> tuple[Any, ...]:
            ty.grad = tw.grad = tcc.grad = None
            y = ty
            for _ in range(reps):
                y = (y * tw + tcc).tanh()
            y.backward()
            return y, ty.grad, tw.grad, tcc.grad

        for ours_v, ref in zip(got, theirs()):
            np.testing.assert_allclose(ours_v, ref.detach().numpy(), **TOL[dtype])
        sides["torch"] = theirs
    else:  # the same chain in plain floats, by hand
        y = float(start[0])
        for _ in range(reps):
            y = np.tanh(y * float(wv[0]) + float(cv[0]))
        np.testing.assert_allclose(got[0], [y], rtol=1e-5)
    med = compare(sides, args.rounds, args.budget, cap=20)
    per_op = {side: v / (3 * reps) for side, v in med.items()}
    row = _row("chain", dtype, per_op, None, f"{3 * reps} ops of 1 element: (y·w + c).tanh(), fwd + bwd")
    row["unit"] = "µs/op"
    for key in ("ours", "torch", "ours min", "torch min"):
        if row.get(key) is not None:
            row[key] *= 1e3  # ms -> µs
    return row


def number_chain_case(dtype: type, args: argparse.Namespace) -> dict[str, Any]:
    """y ← y·1.0001 + 0.001 with Python numbers, CHAIN_LEN ops; then backward to y0."""
    reps = CHAIN_LEN // 2
    start = np.array([0.5], dtype)
    Y0 = Tensor(start, requires_grad=True)

    def ours() -> tuple[np.ndarray, ...]:
        Y0.grad = None
        y = Y0
        for _ in range(reps):
            y = y * 1.0001 + 0.001
        y.backward()
        return y.data, Y0.grad

    sides: dict[str, Callable[[], Any]] = {"ours": ours}
    got = ours()
    np.testing.assert_allclose(got[1], [1.0001**reps], rtol=1e-4)
    if torch is not None and not args.no_torch:
        ty = torch.tensor(start, requires_grad=True)

        def theirs() -> tuple[Any, ...]:
            ty.grad = None
            y = ty
            for _ in range(reps):
                y = y * 1.0001 + 0.001
            y.backward()
            return y, ty.grad

        for ours_v, ref in zip(got, theirs()):
            np.testing.assert_allclose(ours_v, ref.detach().numpy(), **TOL[dtype])
        sides["torch"] = theirs
    med = compare(sides, args.rounds, args.budget, cap=20)
    per_op = {side: v / (2 * reps) for side, v in med.items()}
    row = _row("number chain", dtype, per_op, None, f"{2 * reps} ops of 1 element: y·1.0001 + 0.001, fwd + bwd")
    row["unit"] = "µs/op"
    for key in ("ours", "torch", "ours min", "torch min"):
        if row.get(key) is not None:
            row[key] *= 1e3  # ms -> µs
    return row


# ----- one epoch of the seed network --------------------------------------------------------
def _seed_data(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((EPOCH_SAMPLES, 1, SEED_HW, SEED_HW)).astype(dtype)
    half = SEED_HW // 2
    label = (x[:, 0, :, :half].mean(axis=(1, 2)) > x[:, 0, :, half:].mean(axis=(1, 2))).astype(int)
    t = np.eye(2, dtype=dtype)[label]
    return x, t


def _seed_params(dtype: type) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)

    def u(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(dtype)

    return {"k": u((5, 1, 3, 3), 9), "kb": u((5, 1, 1), 9), "w1": u((100, SEED_FEATURES), SEED_FEATURES), "b1": u((100,), 180),
            "w2": u((2, 100), 100), "b2": u((2,), 100)}


def ours_network(params: dict[str, np.ndarray], lr: float) -> tuple[Callable[[np.ndarray, np.ndarray], float], str]:
    """The seed network in tinygrad_cnn: tc.nn/tc.optim when present, raw Tensors otherwise."""
    try:
        from tinygrad_cnn import nn, optim

        model = nn.Sequential(nn.Conv2d(1, 5, 3), nn.Sigmoid(), nn.Reshape(SEED_FEATURES),
                              nn.Linear(SEED_FEATURES, 100), nn.Sigmoid(),
                              nn.Linear(100, 2), nn.Sigmoid())
        ps = list(model.parameters())
        order = ["k", "kb", "w1", "b1", "w2", "b2"]
        if len(ps) != 6 or any(p.size != params[n].size for p, n in zip(ps, order)):
            raise ImportError("unexpected parameter layout")
        for p, name in zip(ps, order):
            p.data = params[name].reshape(p.shape).copy()
        opt = optim.SGD(ps, lr=lr)

        def step(x: np.ndarray, t: np.ndarray) -> float:
            opt.zero_grad()
            loss = tc.bce(model(Tensor(x)), t)
            loss.backward()
            opt.step()
            return loss.item()

        return step, "tc.nn + tc.optim"
    except (ImportError, AttributeError, TypeError):
        pass
    P = {name: Tensor(v.copy(), requires_grad=True) for name, v in params.items()}

    def step(x: np.ndarray, t: np.ndarray) -> float:
        z = tc.correlate2d(Tensor(x), P["k"]) + P["kb"]
        a = z.sigmoid().reshape(len(x), SEED_FEATURES)
        h = (a @ P["w1"].T + P["b1"]).sigmoid()
        out = (h @ P["w2"].T + P["b2"]).sigmoid()
        loss = tc.bce(out, t)
        loss.backward()
        for p in P.values():
            p.data -= lr * p.grad
            p.grad = None
        return loss.item()

    return step, "raw Tensors (tc.nn not available)"


def torch_network(params: dict[str, np.ndarray], lr: float) -> Callable[[np.ndarray, np.ndarray], float]:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3), torch.nn.Sigmoid(), torch.nn.Flatten(),
                                torch.nn.Linear(SEED_FEATURES, 100), torch.nn.Sigmoid(), torch.nn.Linear(100, 2),
                                torch.nn.Sigmoid())
    with torch.no_grad():
        for p, name in zip(model.parameters(), ["k", "kb", "w1", "b1", "w2", "b2"]):
            p.copy_(torch.from_numpy(params[name].reshape(p.shape)))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCELoss()

    def step(x: np.ndarray, t: np.ndarray) -> float:
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(t))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def epoch_case(batch: int, args: argparse.Namespace, dtype: type = np.float32) -> dict[str, Any]:
    x, t = _seed_data(dtype)
    params, lr = _seed_params(dtype), 0.1
    starts = range(0, EPOCH_SAMPLES, batch)

    def epoch_of(step: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[], float]:
        def run() -> float:
            total = 0.0
            for s in starts:
                total += step(x[s : s + batch], t[s : s + batch])
            return total

        return run

    # Correctness first: the same 10 steps from the same weights give the same losses.
    ours_step, how = ours_network(params, lr)
    seed_net = seed_loops.SeedNetwork(params)
    ours_losses = [ours_step(x[s : s + batch], t[s : s + batch]) for s in starts[:10]]
    seed_losses = [seed_net.step(x[s : s + batch], t[s : s + batch], lr) for s in starts[:10]]
    np.testing.assert_allclose(ours_losses, seed_losses, rtol=1e-4)
    sides: dict[str, Callable[[], Any]] = {"ours": epoch_of(ours_network(params, lr)[0])}
    if torch is not None and not args.no_torch:
        torch_step = torch_network(params, lr)
        np.testing.assert_allclose(ours_losses, [torch_step(x[s : s + batch], t[s : s + batch]) for s in starts[:10]],
                                   rtol=1e-4)
        sides["torch"] = epoch_of(torch_network(params, lr))
    seed_ms = None
    if not args.no_seed and batch == 1:  # the seed trains one sample at a time: timed in turn with the others
        timed_seed = seed_loops.SeedNetwork(params)
        sides["seed"] = epoch_of(lambda xb, tb: timed_seed.step(xb, tb, lr))
    med = compare(sides, max(1, args.rounds // 2), budget=0.0, cap=1)
    if "seed" in med:
        seed_ms = 1e3 * med.pop("seed")
        med["seed min ms"] = 1e3 * med.pop("seed min")
    return _row(f"epoch batch {batch}", dtype, med, seed_ms, f"seed network, {EPOCH_SAMPLES} samples {SEED_HW}×{SEED_HW} ({how})")


# ----- memory: peak RSS over a training loop ------------------------------------------------
def rss_child(steps: int) -> None:
    """Runs in a fresh process (no PyTorch loaded): prints RSS samples as JSON."""
    dtype = np.float32
    x, t = _seed_data(dtype)
    step, how = ours_network(_seed_params(dtype), 0.1)
    rng = np.random.default_rng(3)
    samples = []
    for i in range(1, steps + 1):
        idx = rng.integers(0, EPOCH_SAMPLES, 64)
        step(x[idx], t[idx])
        if i % 50 == 0 or i == 10:
            # VmHWM is this process's own peak (ru_maxrss would include the parent's,
            # as Linux keeps it across fork + exec).
            with open("/proc/self/status") as f:
                status = dict(line.split(":", 1) for line in f)
            rss_kb, peak_kb = (int(status[key].split()[0]) for key in ("VmRSS", "VmHWM"))
            samples.append({"step": i, "rss_mb": rss_kb / 1024, "peak_rss_mb": peak_kb / 1024})
    print(json.dumps({"how": how, "samples": samples}))


# ----- memory: peak RSS of one conv training step, ours against PyTorch's -------------------
# N, C_in, C_out, H=W, k: a 64-channel layer on 64×64 images, the input not requiring grad
MEMORY_CASE = (8, 64, 64, 64, 3)


def _status_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB: its resident memory now and at its peak."""
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f)
    return tuple(int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def conv_memory_child(side: str, steps: int) -> None:
    """Runs in a fresh process: the growth of resident memory over `steps` conv training
    steps (conv + bias, ReLU, mean, backward, SGD), above the RSS before the first step."""
    n, c, o, hw, k = MEMORY_CASE
    x = np.random.default_rng(0).standard_normal((n, c, hw, hw)).astype(np.float32)
    if side == "torch":
        _import_torch()
        layer = torch.nn.Conv2d(c, o, k)
        opt = torch.optim.SGD(layer.parameters(), lr=0.01)
        tx = torch.from_numpy(x)

        def step() -> None:
            opt.zero_grad()
            layer(tx).relu().mean().backward()
            opt.step()
    else:
        from tinygrad_cnn import nn, optim

        model = nn.Conv2d(c, o, k, rng=np.random.default_rng(1))
        sgd = optim.SGD(model.parameters(), lr=0.01)
        tx = Tensor(x)

        def step() -> None:
            sgd.zero_grad()
            model(tx).relu().mean().backward()
            sgd.step()

    before, _ = _status_mb()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
    peaks = []
    for _ in range(steps):
        step()
        peaks.append(_status_mb()[1] - before)
    after, _ = _status_mb()
    print(json.dumps({"side": side, "before_mb": before, "peak_growth_mb": peaks, "held_after_mb": after - before}))


def conv_memory_case(args: argparse.Namespace) -> dict[str, Any]:
    """Each side in its own fresh process, alternating, `--rounds` times."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "torch": []}
    sides = ["ours"] if args.no_torch else ["ours", "torch"]
    for _ in range(max(1, args.rounds // 2)):
        for side in sides:
            out = subprocess.run([sys.executable, __file__, "--memory-child", side], capture_output=True, text=True,
                                 check=True)
            runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
    n, c, o, hw, k = MEMORY_CASE
    res: dict[str, Any] = {"case": f"conv step N={n}, {c}→{o} ch, {hw}×{hw}, {k}×{k}, float32", "runs": runs}
    for side, rs in runs.items():
        if rs:
            res[side] = statistics.median(max(r["peak_growth_mb"]) for r in rs)
    if res.get("torch"):
        res["ours/torch"] = res["ours"] / res["torch"]
        res["ratios"] = [max(a["peak_growth_mb"]) / max(b["peak_growth_mb"]) for a, b in zip(runs["ours"], runs["torch"])]
        res["met"] = res["ours/torch"] <= MEMORY_TARGET
    return res


def rss_case(steps: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(steps)], capture_output=True, text=True,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    s = res["samples"]
    first = next(r for r in s if r["step"] >= 50)
    res["peak_growth_mb"] = s[-1]["peak_rss_mb"] - first["peak_rss_mb"]
    res["flat"] = res["peak_growth_mb"] < 1.0
    return res


# ----- report ------------------------------------------------------------------------------
def _row(case: str, dtype: type, med: dict[str, float], seed_ms: float | None, what: str) -> dict[str, Any]:
    ours = 1e3 * med["ours"]
    theirs = 1e3 * med["torch"] if "torch" in med else None
    row: dict[str, Any] = {"case": case, "dtype": np.dtype(dtype).name, "what": what, "unit": "ms",
                           "ours": ours, "torch": theirs, "seed": seed_ms,
                           "ours/torch": ours / theirs if theirs else None,
                           "ours/seed": ours / seed_ms if seed_ms else None,
                           "ours min": 1e3 * med["ours min"], "torch min": 1e3 * med["torch min"] if theirs else None,
                           "load": os.getloadavg()[0]}
    if "seed min ms" in med:
        row["seed min"] = med["seed min ms"]
    if row["dtype"] == "float32" and case in TARGETS and theirs:
        row["target ours/torch"] = TARGETS[case]
        row["met"] = met(row)
    if case in SEED_TARGET and seed_ms:
        row["target seed/ours"] = SEED_TARGET[case]
        row["met seed"] = seed_ms / ours >= SEED_TARGET[case]
        if row.get("seed min"):  # the fastest iterations must meet it too, as for PyTorch
            row["met seed"] = row["met seed"] and row["seed min"] / row["ours min"] >= SEED_TARGET[case]
    return row


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}g}" if v < 100 else f"{v:.0f}"


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def met(row: dict[str, Any]) -> bool:
    """A target counts as met only when the median ratio and the ratio of the fastest
    iterations both meet it: either side's median can be inflated by the other's threads."""
    target = row["target ours/torch"]
    fastest = row["ours min"] / row["torch min"] if row.get("torch min") else row["ours/torch"]
    return row["ours/torch"] <= target and fastest <= target


def table(rows: list[dict[str, Any]]) -> str:
    head = "| case | dtype | unit | ours | PyTorch | seed loops | ours/PyTorch | ours/seed | target |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        target = ""
        if "target ours/torch" in r:
            target = f"≤ {r['target ours/torch']} {'✓' if r['met'] else '✗'}"
        if "target seed/ours" in r:
            target += f"{'; ' if target else ''}≥ {r['target seed/ours']:g}× vs seed {'✓' if r['met seed'] else '✗'}"
        lines.append(f"| {r['case']} | {r['dtype']} | {r['unit']} | {_fmt(r['ours'])} | {_fmt(r['torch'])} | "
                     f"{_fmt(r['seed'])} | {_ratio(r['ours/torch'])} | {_ratio(r['ours/seed'])} | {target} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                            "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                        for d in threadpool_info()]
    except ImportError:
        info["blas"] = None
    import scipy

    info["scipy"] = scipy.__version__
    info["torch"] = None if torch is None else f"{torch.__version__} ({torch.get_num_threads()} threads)"
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7, help="alternating timing blocks per side (default 7)")
    p.add_argument("--budget", type=float, default=0.15, help="seconds per timing block (default 0.15)")
    p.add_argument("--seed-reps", type=int, default=3, help="repetitions of the slow seed loops (default 3)")
    p.add_argument("--seed-cases", default="ab", help="conv cases also run with the seed loops (default ab)")
    p.add_argument("--quick", action="store_true", help="rounds=3, budget=0.05, seed-reps=1")
    p.add_argument("--only", choices=["conv", "lenet", "chain", "epoch", "memory", "rss"], action="append",
                   help="run only these parts")
    p.add_argument("--conv-cases", default=",".join(CONV_CASES), help="conv cases to run (default: all)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for PyTorch and for numpy's BLAS (default 2; 1 is steadier on a busy machine)")
    p.add_argument("--no-seed", action="store_true")
    p.add_argument("--rss-steps", type=int, default=400)
    p.add_argument("--json", default=str(HERE / "results.json"), help="where to write the results ('' = nowhere)")
    p.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--memory-child", choices=["ours", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rss_child:  # a fresh process without PyTorch
        rss_child(args.rss_child)
        return
    if args.memory_child:  # a fresh process for one side
        conv_memory_child(args.memory_child, steps=3)
        return
    if not args.no_torch:
        _import_torch(args.threads)
    if args.threads != 2:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # numpy's BLAS, for the whole run
    if args.quick:
        args.rounds, args.budget, args.seed_reps = 3, 0.05, 1
    parts = set(args.only or ["conv", "lenet", "chain", "epoch", "memory", "rss"])
    dtypes = [np.dtype(d).type for d in args.dtypes.split(",")]
    load_before = os.getloadavg()
    info = machine()
    print(f"# {info['cpu']}, {info['cpus']} CPUs; numpy {info['numpy']}, BLAS {info['blas']}; PyTorch {info['torch']}")
    print(f"# load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)

    t0 = time.time()
    if "conv" in parts:
        for name in args.conv_cases.split(","):
            for dtype in dtypes:
                add(conv_case(name, dtype, args))
    if "lenet" in parts:
        for dtype in dtypes:
            add(lenet_case(dtype, args))
    if "chain" in parts:
        for dtype in dtypes:
            add(chain_case(dtype, args))
        for dtype in dtypes:
            add(number_chain_case(dtype, args))
    if "epoch" in parts:
        for batch in (1, 64):
            add(epoch_case(batch, args))
    memory = conv_memory_case(args) if "memory" in parts else None
    rss = rss_case(args.rss_steps) if "rss" in parts else None
    load_after = os.getloadavg()
    print()
    print(table(rows))
    if memory:
        ratio = "" if "ours/torch" not in memory else (
            f", ours/PyTorch {memory['ours/torch']:.2f} (per round {', '.join(f'{r:.2f}' for r in memory['ratios'])}); "
            f"target ≤ {MEMORY_TARGET} {'✓' if memory['met'] else '✗'}")
        print(f"\npeak memory of a {memory['case']} above the RSS before it (median of fresh processes): "
              f"ours {memory['ours']:.1f} MB, PyTorch {memory.get('torch', float('nan')):.1f} MB{ratio}")
    if rss:
        s = rss["samples"]
        print(f"\npeak RSS of a training loop ({rss['how']}, batch 64): "
              + ", ".join(f"step {r['step']}: {r['peak_rss_mb']:.1f} MB" for r in s)
              + f" -> growth after step 50: {rss['peak_growth_mb']:.2f} MB ({'flat' if rss['flat'] else 'GROWING'})")
    print(f"\n# load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"{time.time() - t0:.0f} s")
    if args.json:
        result = {"machine": info, "load_before": load_before, "load_after": load_after,
                  "settings": {k: v for k, v in vars(args).items() if k not in ("json", "rss_child")},
                  "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rows": rows, "memory": memory, "rss": rss}
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
