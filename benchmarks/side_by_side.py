"""LeNet-5 trained side by side in tinygrad_cnn and PyTorch (docs/training.md).

The same network (examples/train_lenet5.py), the same initial weights (PyTorch's
initialisation, moved into tinygrad_cnn with one dict comprehension over the
state_dict), the same mini-batches in the same order, the same Adam and learning-rate
schedule, both in float32. The two train an epoch each in turn, so both see the same
load on a shared machine. Records every step's loss, the wall and CPU time of each
training run and the held-out accuracy, then overlays the two loss curves in one plot.

PyTorch is only the reference here (the dev extra); the package never imports it.

    python benchmarks/side_by_side.py [--epochs N] [--torch-threads 1]
                                      [--image docs/images/side_by_side.png] [--json benchmarks/side_by_side.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import torch  # noqa: E402

import tinygrad_cnn as tc  # noqa: E402
from train_lenet5 import BATCH_SIZE, EPOCHS, LR, SEED, learning_rate, lenet5, split, training_batches  # noqa: E402


def torch_lenet5() -> torch.nn.Sequential:
    T = torch.nn
    return T.Sequential(
        T.Conv2d(1, 6, 5, padding=2), T.Tanh(), T.MaxPool2d(2), T.Conv2d(6, 16, 5), T.Tanh(), T.MaxPool2d(2),
        T.Flatten(), T.Linear(400, 120), T.Tanh(), T.Linear(120, 84), T.Tanh(), T.Linear(84, 10),
    )


Stepper = tuple[Callable[[np.ndarray, np.ndarray], float], Callable[[float], None]]


def ours_stepper(model: tc.nn.Module) -> Stepper:
    opt = tc.optim.Adam(model.parameters(), lr=LR)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        opt.zero_grad()
        loss = tc.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    def set_lr(lr: float) -> None:
        opt.lr = lr

    model.train()
    return step, set_lr


def torch_stepper(model: torch.nn.Module) -> Stepper:
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        opt.step()
        return loss.item()

    def set_lr(lr: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr

    model.train()
    return step, set_lr


def train_alternating(steppers: dict[str, Stepper], X: np.ndarray, y: np.ndarray, epochs: int) -> dict[str, dict]:
    """Each framework trains one epoch in turn, so both see the same load on a shared machine.
    Per framework: every step's loss, wall seconds and CPU seconds (all threads) of training,
    batches drawn exactly as train_lenet5.py draws them (the same work for both)."""
    runs = {name: {"losses": [], "wall": 0.0, "cpu": 0.0} for name in steppers}
    for epoch in range(epochs):
        for name, (step, set_lr) in steppers.items():
            run = runs[name]
            wall, cpu = time.perf_counter(), time.process_time()
            set_lr(learning_rate(epoch, epochs))
            for xb, yb in training_batches(X, y, epoch):
                run["losses"].append(step(xb, yb))
            run["wall"] += time.perf_counter() - wall
            run["cpu"] += time.process_time() - cpu
    return runs


def smooth(values: list[float], width: int = 50) -> np.ndarray:
    """Trailing mean over `width` steps (shorter at the start)."""
    c = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - width, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot(ours: list[float], theirs: list[float], steps_per_epoch: int, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(ours) + 1)
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=110)
    ax.plot(steps, ours, color="#1f4e8c", alpha=0.18, linewidth=0.6)
    ax.plot(steps, theirs, color="#d1495b", alpha=0.18, linewidth=0.6)
    ax.plot(steps, smooth(ours), color="#1f4e8c", linewidth=1.6, label="tinygrad_cnn (mean of 50 steps)")
    ax.plot(steps, smooth(theirs), color="#d1495b", linewidth=1.6, linestyle="--", label="PyTorch (mean of 50 steps)")
    for e in range(1, len(ours) // steps_per_epoch):
        ax.axvline(e * steps_per_epoch, color="#666666", linewidth=0.8, alpha=0.6, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("step (vertical lines: epochs)")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--image", default=os.path.join(ROOT, "docs", "images", "side_by_side.png"))
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "side_by_side.json"))
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch's intra-op threads (default 1: tinygrad_cnn's numpy runs these small "
                             "ops on one core, and two threads on a busy 2-core machine thrash)")
    parser.add_argument("--replot", action="store_true", help="redraw the plot from --json without training")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    if args.replot:
        with open(args.json) as f:
            saved = json.load(f)
        plot(saved["losses"]["tinygrad_cnn"], saved["losses"]["pytorch"], saved["steps"] // saved["epochs"], args.image,
             f"LeNet-5, same weights and batches: {saved['epochs']} epochs of Adam")
        print(f"wrote {args.image}")
        return saved

    X_train, y_train, X_test, y_test = split()
    torch.manual_seed(SEED)
    theirs = torch_lenet5()
    ours = lenet5()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # the same start

    runs = train_alternating({"tinygrad_cnn": ours_stepper(ours), "pytorch": torch_stepper(theirs)},
                             X_train, y_train, args.epochs)
    ours_losses, torch_losses = runs["tinygrad_cnn"]["losses"], runs["pytorch"]["losses"]

    ours.eval(), theirs.eval()
    with tc.no_grad():
        ours_acc = float((ours(X_test).data.argmax(1) == y_test).mean())
    with torch.no_grad():
        torch_acc = float((theirs(torch.from_numpy(X_test)).numpy().argmax(1) == y_test).mean())

    result = {
        "epochs": args.epochs,
        "steps": len(ours_losses),
        "train_images": len(X_train),
        "test_images": len(X_test),
        "tinygrad_cnn": {"accuracy": ours_acc, "train_seconds": round(runs["tinygrad_cnn"]["wall"], 1),
                         "train_cpu_seconds": round(runs["tinygrad_cnn"]["cpu"], 1),
                         "final_loss_mean50": float(np.mean(ours_losses[-50:]))},
        "pytorch": {"accuracy": torch_acc, "train_seconds": round(runs["pytorch"]["wall"], 1),
                    "train_cpu_seconds": round(runs["pytorch"]["cpu"], 1),
                    "final_loss_mean50": float(np.mean(torch_losses[-50:])), "version": torch.__version__,
                    "threads": torch.get_num_threads()},
        "first_step_loss": {"tinygrad_cnn": ours_losses[0], "pytorch": torch_losses[0]},
        "max_loss_gap_first_100_steps": float(np.max(np.abs(np.subtract(ours_losses[:100], torch_losses[:100])))),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "losses": {"tinygrad_cnn": [float(f"{v:.7g}") for v in ours_losses],
                   "pytorch": [float(f"{v:.7g}") for v in torch_losses]},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.image)), exist_ok=True)
    plot(ours_losses, torch_losses, -(-len(X_train) // BATCH_SIZE), args.image,
         f"LeNet-5, same weights and batches: {args.epochs} epochs of Adam")
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}, indent=2))
    print(f"wrote {args.image} and {args.json}")
    return result


if __name__ == "__main__":
    main()
