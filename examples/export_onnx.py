"""Train the seed's network and LeNet-5 briefly, export them to ONNX, run them with onnxruntime.

    Conv2d(1, 5, 3) → Sigmoid → Reshape → Linear(5·26·26, 100) → Sigmoid → Linear(100, 2) → Sigmoid

on 28×28 images: scikit-learn's 8×8 digits 0 and 1, each pixel scaled up to 3×3 and the
image framed by 2 blank pixels (MNIST's size, no download). Trained as in the seed: binary
cross-entropy on one-hot targets, plain SGD one sample at a time, lr 0.1; ten epochs take
a few seconds. The trained network is exported with a dynamic
batch axis, checked by `onnx.checker`, and run by onnxruntime on the held-out digits;
the script prints the largest difference between onnxruntime's outputs and the
library's, and both accuracies.

LeNet-5 (Conv2d(1, 6, 5, padding=2) → Tanh → MaxPool2d(2) → Conv2d(6, 16, 5) → Tanh →
MaxPool2d(2) → Flatten → Linear(400, 120) → Tanh → Linear(120, 84) → Tanh → Linear(84, 10))
is trained the same number of epochs on all ten digits (cross-entropy, Adam, batches of 32)
and exported the same way, where this version of the library has `nn.MaxPool2d` and padded
`nn.Conv2d`; otherwise the script says it is skipped.

    python examples/export_onnx.py [--out DIR] [--epochs N]

Needs the `onnx` extra and onnxruntime: pip install -e '.[onnx,examples]' onnxruntime
"""

from __future__ import annotations

import argparse
import inspect
import os

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import nn

SEED = 0


def digits_28(classes: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8×8 digits below `classes` as (N, 1, 28, 28) float32 images: train and test halves."""
    X, y = tc.data.load_digits()
    keep = y < classes
    X = np.kron(X[keep], np.ones((1, 1, 3, 3), np.float32))  # 8×8 -> 24×24
    X = np.pad(X, ((0, 0), (0, 0), (2, 2), (2, 2)))  # -> 28×28
    return tc.data.train_test_split(X, y[keep], test_fraction=0.5, seed=SEED)


def has_lenet_layers() -> bool:
    """Max pooling and padded convolutions: layers not every version of the library has."""
    return hasattr(nn, "MaxPool2d") and "padding" in inspect.signature(nn.Conv2d).parameters


def lenet5() -> nn.Sequential:
    rng = np.random.default_rng(SEED)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=rng), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120, rng=rng), nn.Tanh(), nn.Linear(120, 84, rng=rng), nn.Tanh(), nn.Linear(84, 10, rng=rng),
    )


def train_lenet(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int) -> None:
    optimizer = tc.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        for xb, yb in tc.data.batches(X, y, 32, seed=SEED + epoch):
            optimizer.zero_grad()
            tc.cross_entropy(model(tc.Tensor(xb)), yb).backward()
            optimizer.step()


def seed_network() -> nn.Sequential:
    rng = np.random.default_rng(SEED)
    return nn.Sequential(
        nn.Conv2d(1, 5, 3, rng=rng), nn.Sigmoid(), nn.Reshape(5 * 26 * 26),
        nn.Linear(5 * 26 * 26, 100, rng=rng), nn.Sigmoid(), nn.Linear(100, 2, rng=rng), nn.Sigmoid(),
    )


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int) -> None:
    optimizer = tc.optim.SGD(model.parameters(), lr=0.1)
    targets = np.eye(2, dtype=np.float32)[y]  # one-hot, as in the seed
    for epoch in range(epochs):
        for xb, tb in tc.data.batches(X, targets, 1, seed=SEED + epoch):
            optimizer.zero_grad()
            tc.binary_cross_entropy(model(tc.Tensor(xb)), tc.Tensor(tb)).backward()
            optimizer.step()


def compare(name: str, model: nn.Module, path: str, X: np.ndarray, y: np.ndarray) -> float:
    """Run the exported file with onnxruntime on X; print and return the largest difference."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": X})
    with tc.no_grad():
        expected = model(tc.Tensor(X)).data
    diff = float(np.abs(got - expected).max())
    print(f"{name}: onnxruntime vs tinygrad_cnn on {len(X)} test images, "
          f"output {got.shape}: largest difference {diff:.3g}")
    print(f"{name}: test accuracy {np.mean(expected.argmax(1) == y):.4f} (tinygrad_cnn), "
          f"{np.mean(got.argmax(1) == y):.4f} (onnxruntime)")
    return diff


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the .onnx files (default: out/)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X_train, y_train, X_test, y_test = digits_28()
    model = seed_network()
    train(model, X_train, y_train, args.epochs)
    path = os.path.join(args.out, "seed_network.onnx")
    proto = tc.onnx.export(model, tc.Tensor(X_test[:2]), path, input_names=["images"], output_names=["probs"],
                           dynamic_batch=True)
    print(f"wrote {path}: " + " -> ".join(node.op_type for node in proto.graph.node))
    compare("seed network", model, path, X_test, y_test)

    if not has_lenet_layers():
        print("LeNet-5: skipped (this version of the library has no nn.MaxPool2d or padded nn.Conv2d)")
        return
    X_train, y_train, X_test, y_test = digits_28(classes=10)
    lenet = lenet5()
    train_lenet(lenet, X_train, y_train, args.epochs)
    path = os.path.join(args.out, "lenet5.onnx")
    proto = tc.onnx.export(lenet, tc.Tensor(X_test[:2]), path, input_names=["images"], output_names=["logits"],
                           dynamic_batch=True)
    print(f"wrote {path}: " + " -> ".join(node.op_type for node in proto.graph.node))
    compare("LeNet-5", lenet, path, X_test, y_test)


if __name__ == "__main__":
    main()
