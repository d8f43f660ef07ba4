"""The seed's network trained on real handwritten digits: 0 against 1.

    Conv2d(1, 5, 3) → Sigmoid → Reshape → Linear(5·6·6, 100) → Sigmoid → Linear(100, 2) → Sigmoid

trained as in the seed, with binary cross-entropy on one-hot targets and plain SGD
one sample at a time (lr 0.1). The data are the 8×8 digits shipped inside
scikit-learn; half of the 0s and 1s are held out (seeded split) for the test.
`--mnist DIR` trains the same network on the 28×28 MNIST 0s and 1s instead
(Linear(5·26·26, 100)), tested on MNIST's own test files.

Everything is seeded: two runs print the same numbers. Writes into `--out`
(default `out/`): the loss curve (PNG), the trained network's graph (SVG, for one
test sample) and the trained weights (`.npz`). The last line printed is
`test accuracy: 0.xxxx`.

    python examples/train_digits.py [--out DIR] [--epochs N] [--mnist DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import nn

SEED = 0


def seed_network(image_side: int) -> nn.Sequential:
    """The seed's network for (N, 1, side, side) images -> (N, 2) probabilities."""
    side = image_side - 2  # a valid 3×3 correlation trims one pixel on each border
    model = nn.Sequential(
        nn.Conv2d(1, 5, 3),
        nn.Sigmoid(),
        nn.Reshape(5 * side * side),
        nn.Linear(5 * side * side, 100),
        nn.Sigmoid(),
        nn.Linear(100, 2),
        nn.Sigmoid(),
    )
    name_parameters(model)
    return model


def name_parameters(model: nn.Module) -> None:
    """Give each parameter tensor its path ("0.weight") so the graph drawing shows it."""
    for name, p in model.named_parameters():
        p.name = name


def zeros_and_ones(mnist_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train, y_train, X_test, y_test restricted to the digits 0 and 1."""
    if mnist_dir is None:
        X, y = tc.data.load_digits()
        keep = y <= 1
        return tc.data.train_test_split(X[keep], y[keep], test_fraction=0.5, seed=SEED)
    (X_train, y_train), (X_test, y_test) = tc.data.load_mnist(mnist_dir)
    train, test = y_train <= 1, y_test <= 1
    return X_train[train], y_train[train], X_test[test], y_test[test]


# ----- pieces shared with train_digits_10class.py -------------------------------------


def progress(total: int, desc: str) -> object:
    """A tqdm bar, or a plain stand-in that prints nothing when tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:
        print("(tqdm is not installed, so no progress bar: pip install tqdm)", file=sys.stderr)

        class _Quiet:
            def update(self, n: int = 1) -> None: ...
            def set_postfix_str(self, s: str, refresh: bool = True) -> None: ...
            def close(self) -> None: ...

        return _Quiet()
    return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, mininterval=0.2)


def train(
    model: nn.Module,
    optimizer: tc.optim.Optimizer,
    loss_fn: Callable[[tc.Tensor, np.ndarray], tc.Tensor],
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
) -> list[float]:
    """Train in place; returns the loss of every step. The bar shows a running mean loss."""
    steps_per_epoch = -(-len(X) // batch_size)
    bar = progress(epochs * steps_per_epoch, "training")
    losses: list[float] = []
    running = None
    for epoch in range(epochs):
        for xb, yb in tc.data.batches(X, y, batch_size, shuffle=True, seed=SEED + epoch):
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            value = loss.item()
            losses.append(value)
            # exponential running mean over roughly the last 100 steps
            running = value if running is None else 0.99 * running + 0.01 * value
            bar.update(1)
            if len(losses) % 10 == 0:
                bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}, loss {running:.4f}", refresh=False)
    bar.close()
    return losses


def predict(model: nn.Module, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class index with the highest output, for every sample (no graph recorded)."""
    with tc.no_grad():
        return np.concatenate([model(X[i : i + batch_size]).data.argmax(axis=1) for i in range(0, len(X), batch_size)])


def save_loss_plot(losses: list[float], steps_per_epoch: int, path: str, title: str) -> str | None:
    """Per-step loss and its per-epoch mean, as a PNG; None (with a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed, so no loss plot: pip install matplotlib)", file=sys.stderr)
        return None
    steps = np.arange(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, losses, color="#9bb7d4", linewidth=0.6, label="loss per step")
    n_epochs = len(losses) // steps_per_epoch
    if n_epochs:
        means = np.asarray(losses[: n_epochs * steps_per_epoch]).reshape(n_epochs, -1).mean(axis=1)
        ax.plot(np.arange(1, n_epochs + 1) * steps_per_epoch, means, "o-", color="#1f4e8c", label="epoch mean")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_graph_svg(loss: tc.Tensor, path: str) -> str | None:
    """Draw the graph that produced `loss` (after its backward) as an SVG file.

    Falls back to writing the DOT text when Graphviz's `dot` program is missing, and
    to a note when this version of the package has no graph drawing.
    """
    draw_graph = getattr(tc, "draw_graph", None)
    if draw_graph is None:
        print("(this tinygrad_cnn has no tc.draw_graph, so no graph drawing)", file=sys.stderr)
        return None
    graph = draw_graph(loss, show_data=True, show_grad=True, rankdir="TB")
    try:
        svg = graph.pipe(format="svg")
    except Exception as e:  # dot missing or failing: keep the DOT text, say why
        dot_path = os.path.splitext(path)[0] + ".dot"
        with open(dot_path, "w") as f:
            f.write(graph.source)
        print(f"(could not render the graph to SVG: {e}; wrote {dot_path} instead)", file=sys.stderr)
        return dot_path
    with open(path, "wb") as f:
        f.write(svg)
    return path


# ----- this example -----------------------------------------------------------------------


def write_outputs(out: str, stem: str, model: nn.Module, losses: list[float], steps_per_epoch: int,
                  title: str, sample_loss: tc.Tensor) -> None:
    """The loss curve (PNG), the graph of one sample's loss with its gradients (SVG) and
    the trained weights (.npz), into `out` as `<stem>_loss.png`, `_graph.svg`, `.npz`."""
    os.makedirs(out, exist_ok=True)
    written = [save_loss_plot(losses, steps_per_epoch, os.path.join(out, f"{stem}_loss.png"), title)]
    sample_loss.name = "E"
    sample_loss.backward()
    written.append(save_graph_svg(sample_loss, os.path.join(out, f"{stem}_graph.svg")))
    model.zero_grad()
    weights = os.path.join(out, f"{stem}.npz")
    tc.save(model.state_dict(), weights)
    written.append(weights)
    for path in written:
        if path:
            print(f"wrote {path}")


def parse_args(argv: list[str] | None, doc: str, epochs: int, mnist_epochs: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the plot, graph and weights (default: out/)")
    parser.add_argument("--epochs", type=int, default=None, help=f"passes over the training set (default: {epochs}, {mnist_epochs} with --mnist)")
    parser.add_argument("--mnist", metavar="DIR", default=None, help="train on the MNIST IDX files in DIR instead of the 8×8 digits")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = mnist_epochs if args.mnist else epochs
    return args


def one_hot_bce(probabilities: tc.Tensor, labels: np.ndarray) -> tc.Tensor:
    """The seed's loss: BCE of the two sigmoid outputs against one-hot targets."""
    targets = np.eye(2, dtype=probabilities.dtype)[labels]
    return tc.binary_cross_entropy(probabilities, targets)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv, __doc__, epochs=10, mnist_epochs=2)
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = zeros_and_ones(args.mnist)
    source = f"MNIST in {args.mnist}" if args.mnist else "scikit-learn's 8×8 digits"
    print(f"0 vs 1 from {source}: {len(X_train)} training and {len(X_test)} test images of {X_train.shape[1:]}")

    nn.manual_seed(SEED)
    model = seed_network(X_train.shape[-1])
    print(model)
    optimizer = tc.optim.SGD(model.parameters(), lr=0.1)
    batch_size = 1  # as in the seed: one sample per update
    losses = train(model, optimizer, one_hot_bce, X_train, y_train, args.epochs, batch_size)
    accuracy = float((predict(model, X_test) == y_test).mean())

    stem = "mnist_0v1" if args.mnist else "digits_0v1"
    # The drawing: one test image through the trained network, with its gradients.
    sample_loss = one_hot_bce(model(tc.Tensor(X_test[:1], name="X")), y_test[:1])
    write_outputs(args.out, stem, model, losses, -(-len(X_train) // batch_size),
                  f"seed network, 0 vs 1 ({source})", sample_loss)
    print(f"final training loss {np.mean(losses[-len(X_train):]):.5f}, wall time {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
