"""Draw the graph that computes a gradient, then differentiate that gradient again.

The seed's layer on its 3×3 input: Y = B + X ⋆ K, P = σ(Y), E = BCE(P, T). With
`tc.grad(E, X, create_graph=True)` the backward pass is recorded as ops of its own,
so dE/dX is a tensor with a graph: the sigmoid and loss backward produce dE/dY, and
dE/dX = dE/dY *full K appears as a `convolve2d` node in full mode. That graph is
drawn, and then differentiated once more for a Hessian-vector product

    H·v = d/dX (dE/dX · v),

which is compared with central differences of the gradient.

Usage: python examples/draw_gradient_graph.py [output_directory]   (default: docs/images)
Writes gradient_graph.svg and gradient_graph_hvp.svg, and gradient_graph.html (the first as
a page with pan, zoom and search) into docs/explore (or into output_directory when one is
given); needs Graphviz's `dot`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, viz

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def named(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


def seed_loss(x: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    """E for the seed's kernel and target with a full-shape bias B; returns (E, X, K)."""
    X = Tensor(x, requires_grad=True, name="X")
    K = Tensor([[1.0, 2], [-1, 0]], requires_grad=True, name="K")
    B = Tensor([[-8.0, -7], [-5, -6]], requires_grad=True, name="B")
    T = Tensor([[1.0, 0], [0, 1]], name="T")
    Y = named(B + tc.correlate2d(X, K), "Y")
    P = named(Y.sigmoid(), "P")
    E = named(tc.binary_cross_entropy(P, T), "E")
    return E, X, K


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT, help="where the SVGs go")
    args = parser.parse_args()
    x0 = np.array([[1.0, 6, 2], [5, 3, 1], [7, 0, 4]])

    E, X, K = seed_loss(x0)
    (dX,) = tc.grad(E, X, create_graph=True)
    named(dX, "dE/dX")
    named(dX.parents[0], "dE/dY")  # the full convolution's input: what σ and BCE sent back
    print(f"E = {E.item():.6f}")
    print(f"dE/dX = dE/dY *full K  (recorded as a {dX.op} node, mode={dX._ctx.mode!r}) =\n{dX.data}")
    print(f"X.grad is still {X.grad}: tc.grad leaves .grad alone")
    graph = tc.draw_graph(dX)
    print(f"wrote {viz.render(graph, args.out_dir / 'gradient_graph.svg')}")
    html_dir = DEFAULT_OUT.parent / "explore" if args.out_dir == DEFAULT_OUT else args.out_dir
    page = viz.to_html(graph, html_dir / "gradient_graph.html", title="dE/dX, recorded")
    print(f"wrote {page}")

    # Hessian-vector product: differentiate the recorded gradient along v.
    v = Tensor([[1.0, 0, -1], [0, 2, 0], [-1, 0, 1]], name="v")
    hv_dot = named((dX * v).sum(), "dE/dX · v")
    # create_graph=True again, so this product has a graph of its own to draw (and differentiate)
    Hv, HKv = tc.grad(hv_dot, [X, K], create_graph=True)
    print(f"H·v = d/dX (dE/dX · v) =\n{Hv.data}")
    print(f"mixed d/dK (dE/dX · v) =\n{HKv.data}")

    # The same H·v from central differences of the gradient: (∇E(X + εv) − ∇E(X − εv)) / 2ε
    eps = 1e-6
    grads = []
    for sign in (1, -1):
        E_s, X_s, _ = seed_loss(x0 + sign * eps * v.data)
        E_s.backward()
        grads.append(X_s.grad)
    numeric = (grads[0] - grads[1]) / (2 * eps)
    print(f"finite differences of the gradient agree to {np.abs(numeric - Hv.data).max():.2e}")

    # The graph of the second derivative: the backward of the backward, drawn without values.
    named(Hv, "H·v")
    graph = tc.draw_graph(Hv, show_data=False, show_grad=False, show_formulas=False, rankdir="TB")
    print(f"wrote {viz.render(graph, args.out_dir / 'gradient_graph_hvp.svg')}")


if __name__ == "__main__":
    main()
