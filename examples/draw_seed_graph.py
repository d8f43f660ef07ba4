"""Draw the seed notes' two graphs with their values and gradients.

1. The worked example: X (3×3) ⋆ K (2×2) = Y = [[8, 7], [4, 5]], then P = σ(Y) and the
   binary cross-entropy E against a target T.
2. The convolutional layer Y_i = B_i + Σ_j X_j ⋆ K_ij with 3 input channels and 2
   output channels, B a full-shape bias as in the notes, then the same sigmoid and loss.

Usage: python examples/draw_seed_graph.py [output_directory]   (default: docs/images)
Writes seed_graph.svg and conv_layer_graph.svg; needs Graphviz's `dot`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tinygrad_cnn as tc
from tinygrad_cnn import viz

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def seed_example() -> tc.Tensor:
    """E for the seed's 3×3 input and 2×2 kernel, after backward."""
    X = tc.Tensor([[1, 6, 2], [5, 3, 1], [7, 0, 4]], requires_grad=True, name="X")
    K = tc.Tensor([[1, 2], [-1, 0]], requires_grad=True, name="K")
    T = tc.Tensor([[1, 0], [0, 1]], name="T")
    return sigmoid_bce(tc.correlate2d(X, K), T)


def sigmoid_bce(Y: tc.Tensor, T: tc.Tensor) -> tc.Tensor:
    """E = BCE(σ(Y), T) with the seed's names on every tensor, after backward."""
    Y.name = "Y"
    P = tc.sigmoid(Y)
    P.name = "P"
    E = tc.binary_cross_entropy(P, T)
    E.name = "E"
    E.backward()
    return E


def conv_layer_example() -> tc.Tensor:
    """E for Y_i = B_i + Σ_j X_j ⋆ K_ij, 3 input channels (the seed's X first), 2 outputs."""
    X = tc.Tensor(
        [
            [[1, 6, 2], [5, 3, 1], [7, 0, 4]],  # X_1: the seed's input
            [[0, 1, 2], [2, 0, 1], [1, 2, 0]],
            [[3, 0, 1], [1, 1, 0], [0, 2, 3]],
        ],
        requires_grad=True,
        name="X",
    )
    K = tc.Tensor(
        [
            [[[1, 2], [-1, 0]], [[0, 1], [1, 0]], [[-1, 0], [0, 1]]],  # K_11 is the seed's kernel
            [[[0, -1], [1, 0]], [[1, 0], [0, -1]], [[0, 1], [-1, 1]]],
        ],
        requires_grad=True,
        name="K",
    )
    B = tc.Tensor([[[-8, -7], [-5, -6]], [[1, 0], [-1, 2]]], requires_grad=True, name="B")
    T = tc.Tensor([[[1, 0], [0, 1]], [[0, 1], [1, 0]]], name="T")
    return sigmoid_bce(B + tc.correlate2d(X, K), T)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT, help="where the SVGs go")
    args = parser.parse_args()

    E = seed_example()
    P = E.parents[0]
    Y = P.parents[0]
    X, K = Y.parents
    print(f"seed example: Y = X ⋆ K =\n{Y.data}\nE = {E.item():.6f}")
    print(f"dE/dK = X ⋆ dE/dY =\n{K.grad}\ndE/dX = dE/dY *full K =\n{X.grad}")
    print(f"wrote {viz.render(tc.draw_graph(E), args.out_dir / 'seed_graph.svg')}")

    E2 = conv_layer_example()
    print(f"conv layer: E = {E2.item():.6f}")
    print(f"wrote {viz.render(tc.draw_graph(E2), args.out_dir / 'conv_layer_graph.svg')}")

if __name__ == "__main__":
    main()
