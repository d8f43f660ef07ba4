"""A small CNN on all ten handwritten digits: cross-entropy and Adam.

    Conv2d(1, 32, 3) → ReLU → Conv2d(32, 64, 3) → ReLU → Flatten → Linear(64·8·8, 10)

on scikit-learn's 8×8 digits, given a 2-pixel zero border (12×12) so both valid 3×3
layers still see the strokes at the edges. A quarter of the digits are held out
(seeded split) for the test. Training: mini-batches of 32, each image shifted by at
most one pixel at random (seeded), Adam with lr 2e-3 decayed along a cosine over
the epochs. `--mnist DIR` trains on the 28×28 MNIST IDX files in DIR instead
(no extra border: MNIST's digits already sit inside an empty margin).

Same conventions as train_digits.py: a progress bar, the loss curve (PNG), the graph
of one test sample through the trained network (SVG) and the weights (`.npz`) in
`--out` (default `out/`), and a last line `test accuracy: 0.xxxx`.

    python examples/train_digits_10class.py [--out DIR] [--epochs N] [--mnist DIR]
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for the shared helpers below

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import nn  # noqa: E402
from train_digits import SEED, name_parameters, parse_args, predict, progress, write_outputs  # noqa: E402

BORDER = 2  # zero pixels added around each 8×8 digit
BATCH_SIZE = 32
LR = 2e-3


def small_cnn(image_side: int) -> nn.Sequential:
    """conv–relu–conv–relu–linear for (N, 1, side, side) images -> (N, 10) logits."""
    side = image_side - 4  # two valid 3×3 correlations
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, 10),
    )
    name_parameters(model)
    return model


def all_digits(mnist_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if mnist_dir is None:
        X, y = tc.data.load_digits()
        X = np.pad(X, ((0, 0), (0, 0), (BORDER, BORDER), (BORDER, BORDER)))
        return tc.data.train_test_split(X, y, test_fraction=0.25, seed=SEED)
    (X_train, y_train), (X_test, y_test) = tc.data.load_mnist(mnist_dir)
    return X_train, y_train, X_test, y_test


def shift_by_one(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by −1, 0 or +1 pixel along each axis (zeros fill in)."""
    n, _, h, w = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(0, 3, n), rng.integers(0, 3, n)
    return np.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    optimizer = tc.optim.Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(SEED)
    steps_per_epoch = -(-len(X) // BATCH_SIZE)
    bar = progress(epochs * steps_per_epoch, "training")
    losses: list[float] = []
    running = None
    for epoch in range(epochs):
        optimizer.lr = LR * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        for xb, yb in tc.data.batches(X, y, BATCH_SIZE, shuffle=True, seed=SEED + epoch):
            optimizer.zero_grad()
            loss = tc.cross_entropy(model(shift_by_one(xb, rng)), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            running = losses[-1] if running is None else 0.95 * running + 0.05 * losses[-1]
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}, loss {running:.4f}", refresh=False)
    bar.close()
    return losses


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv, __doc__, epochs=40, mnist_epochs=1)
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = all_digits(args.mnist)
    source = f"MNIST in {args.mnist}" if args.mnist else "scikit-learn's 8×8 digits"
    print(f"10 digits from {source}: {len(X_train)} training and {len(X_test)} test images of {X_train.shape[1:]}")

    nn.manual_seed(SEED)
    model = small_cnn(X_train.shape[-1])
    print(model)
    print(f"{sum(p.size for p in model.parameters())} parameters")
    losses = train(model, X_train, y_train, args.epochs)
    accuracy = float((predict(model, X_test) == y_test).mean())

    stem = "mnist_10class" if args.mnist else "digits_10class"
    steps_per_epoch = -(-len(X_train) // BATCH_SIZE)
    sample_loss = tc.cross_entropy(model(tc.Tensor(X_test[:1], name="X")), y_test[:1])
    write_outputs(args.out, stem, model, losses, steps_per_epoch,
                  f"conv–relu–conv–relu–linear, 10 digits ({source})", sample_loss)
    per_class = [float((predict(model, X_test[y_test == c]) == c).mean()) for c in range(10)]
    print("per-digit test accuracy: " + " ".join(f"{c}:{a:.3f}" for c, a in enumerate(per_class)))
    print(f"final epoch mean loss {np.mean(losses[-steps_per_epoch:]):.5f}, wall time {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
