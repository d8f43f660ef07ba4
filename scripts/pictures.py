"""The learner pages' pictures, drawn with matplotlib while the site builds.

Each function returns the bytes of one SVG. Every number drawn is computed here from the
seed notes' input and kernel (and checked against the library where the library has the
operation), so a picture cannot disagree with the text around it. The SVGs are added to the
built site by ``scripts/docs_hooks.py``; none is stored in ``docs/``.

Sizes: every figure is at most 6.8 in wide (the 688 px text column at 100 px per inch) and
its smallest text is 11 pt, so it stays legible when a phone shrinks it to half size (and a
click opens it full size).
"""

from __future__ import annotations

import io
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # no display while the site builds
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

X = np.array([[1.0, 6, 2], [5, 3, 1], [7, 0, 4]])  # the seed notes' input
K = np.array([[1.0, 2], [-1, 0]])  # and kernel
WIDTH = 6.8  # inches; matplotlib's SVG is 72 pt per inch, shown at 96 px per inch -> ~650 px
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]  # one per window position
TEXT = 13
SMALL = 11

plt.rcParams.update({
    "font.size": TEXT,
    "svg.hashsalt": "tinygrad_cnn",  # the same bytes on every build
    "svg.fonttype": "path",  # no font needed where the picture is viewed
    "mathtext.fontset": "dejavusans",
})


FORMAT = "svg"  # "png" to preview: python scripts/pictures.py OUTDIR png


def _svg(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    meta = {"Date": None} if FORMAT == "svg" else {}
    fig.savefig(buf, format=FORMAT, bbox_inches="tight", pad_inches=0.05, metadata=meta, dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _n(v: float) -> str:
    """A number as the seed notes write it: 8, -1, 0.5."""
    v = float(v)
    return str(int(v)) if v == int(v) else f"{v:g}"


def correlate(x: np.ndarray, k: np.ndarray, stride: int = 1) -> np.ndarray:
    """Valid cross-correlation by the definition (the pictures' own reference)."""
    kh, kw = k.shape
    ho, wo = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    return np.array([[np.sum(x[a * stride : a * stride + kh, b * stride : b * stride + kw] * k)
                      for b in range(wo)] for a in range(ho)])


def _grid(ax: plt.Axes, values: np.ndarray, x0: float = 0, y0: float = 0, *, shade: np.ndarray | None = None,
          fmt: Callable[[float], str] = _n, size: float = TEXT, faded: np.ndarray | None = None) -> None:
    """Draw `values` as a table of unit cells, top-left corner at (x0, y0), rows going down."""
    for (i, j), v in np.ndenumerate(values):
        face = "#ffffff" if shade is None or not shade[i, j] else shade[i, j]
        dim = faded is not None and faded[i, j]
        ax.add_patch(Rectangle((x0 + j, y0 - i - 1), 1, 1, facecolor=face, edgecolor="#888888", lw=1,
                               linestyle="--" if dim else "-"))
        ax.text(x0 + j + 0.5, y0 - i - 0.5, fmt(v), ha="center", va="center", fontsize=size,
                color="#999999" if dim else "#000000")


def _window(ax: plt.Axes, x0: float, y0: float, i: int, j: int, h: int, w: int, colour: str, inset: float = 0.06) -> None:
    ax.add_patch(Rectangle((x0 + j + inset, y0 - i - h + inset), w - 2 * inset, h - 2 * inset,
                           fill=False, edgecolor=colour, lw=3))


def _frame(ax: plt.Axes, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


def _products(window: np.ndarray, k: np.ndarray) -> str:
    terms = [f"{_n(kv)}·{_n(xv) if xv >= 0 else '(' + _n(xv) + ')'}" for kv, xv in zip(k.ravel(), window.ravel())]
    return " + ".join(terms).replace("+ -", "− ").replace("-", "−")


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, color="#555555", lw=1.5))


# ----- valid mode ---------------------------------------------------------------------
def valid_sliding() -> bytes:
    """The four positions of the 2×2 kernel on the 3×3 input, each with its products."""
    y = correlate(X, K)
    fig, axes = plt.subplots(2, 2, figsize=(WIDTH, 4.6))
    for ax, (a, b), colour in zip(axes.ravel(), np.ndindex(2, 2), COLOURS):
        _grid(ax, X, 0, 0)
        _window(ax, 0, 0, a, b, 2, 2, colour)
        for (u, v), kv in np.ndenumerate(K):  # the kernel weight each input entry meets
            ax.text(b + v + 0.95, -(a + u) - 0.95, f"×{_n(kv)}", ha="right", va="bottom", fontsize=SMALL - 2,
                    color=colour)
        shade = np.full((2, 2), None, dtype=object)
        shade[a, b] = colour + "40"
        _arrow(ax, (3.2, -1.5), (4.1, -1.5))
        _grid(ax, y, 4.3, -0.5, shade=shade)
        ax.text(3.6, -3.6, f"$y_{{{a + 1}{b + 1}}}$ = {_products(X[a:a + 2, b:b + 2], K)} = {_n(y[a, b])}",
                ha="center", va="center", fontsize=SMALL, color=colour)
        _frame(ax, (-0.1, 6.4), (-4.0, 0.1))
    fig.subplots_adjust(wspace=0.08, hspace=0.02)
    return _svg(fig)


# ----- full mode ----------------------------------------------------------------------
def full_mode() -> bytes:
    """The zero border of full mode: two kernel positions at the corner and the 4×4 result."""
    padded = np.pad(X, 1)
    y = correlate(padded, K)
    faded = np.pad(np.zeros_like(X, dtype=bool), 1, constant_values=True)
    picks = [(0, 0), (0, 1), (2, 2)]
    fig, axes = plt.subplots(1, 4, figsize=(WIDTH, 2.6), gridspec_kw={"width_ratios": [5, 5, 5, 4.6]})
    shade = np.full(y.shape, None, dtype=object)
    for ax, (a, b), colour in zip(axes, picks, COLOURS):
        _grid(ax, padded, 0, 0, faded=faded, size=SMALL)
        _window(ax, 0, 0, a, b, 2, 2, colour)
        shade[a, b] = colour + "40"
        ax.text(2.5, -5.6, f"$y_{{{a + 1}{b + 1}}}$ = {_n(y[a, b])}", ha="center", va="top", fontsize=SMALL,
                color=colour)
        _frame(ax, (-0.1, 5.1), (-6.6, 0.1))
    _grid(axes[3], y, 0, -0.5, shade=shade, size=SMALL)
    axes[3].text(2, -5.6, "$X \\star_{\\mathrm{full}} K$", ha="center", va="top", fontsize=SMALL)
    _frame(axes[3], (-0.1, 4.6), (-6.6, 0.1))
    fig.subplots_adjust(wspace=0.1)
    return _svg(fig)


# ----- which outputs touch each input entry ----------------------------------------
def input_gradient() -> bytes:
    """Left: the four windows over the input. Right: the terms each dE/dx_ij collects."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.9), gridspec_kw={"width_ratios": [1, 1.45]})
    counts = np.zeros((3, 3), dtype=int)
    for (a, b), colour, inset in zip(np.ndindex(2, 2), COLOURS, (0.05, 0.12, 0.19, 0.26)):
        _window(left, 0, 0, a, b, 2, 2, colour, inset=inset)
        counts[a:a + 2, b:b + 2] += 1
    for (i, j), c in np.ndenumerate(counts):
        left.add_patch(Rectangle((j, -i - 1), 1, 1, facecolor="#000000", alpha=0.05 * c, lw=0))
        left.text(j + 0.5, -i - 0.5, f"$x_{{{i + 1}{j + 1}}}$", ha="center", va="center", fontsize=TEXT)
    for i in range(4):
        left.plot([0, 3], [-i, -i], color="#888888", lw=1)
        left.plot([i, i], [0, -3], color="#888888", lw=1)
    for (a, b), colour in zip(np.ndindex(2, 2), COLOURS):
        left.text(3.15, -0.4 - 0.7 * (2 * a + b), f"$y_{{{a + 1}{b + 1}}}$", color=colour, fontsize=TEXT, va="center")
    _frame(left, (-0.05, 4.0), (-3.05, 0.05))

    # entry (i, j) of the input meets kernel entry (i - a, j - b) in window (a, b)
    for i, j in np.ndindex(3, 3):
        terms = [(a, b) for a, b in np.ndindex(2, 2) if 0 <= i - a < 2 and 0 <= j - b < 2]
        h = 1.3  # cell height: room for four terms
        right.add_patch(Rectangle((j * 1.6, -(i + 1) * h), 1.6, h, facecolor="#00000000", edgecolor="#888888", lw=1))
        right.add_patch(Rectangle((j * 1.6, -(i + 1) * h), 1.6, h, facecolor="#000000", alpha=0.05 * len(terms), lw=0))
        for n, (a, b) in enumerate(terms):
            right.text(j * 1.6 + 0.8, -(i + 0.5) * h + 0.28 * ((len(terms) - 1) / 2 - n),
                       f"$\\delta_{{{a + 1}{b + 1}}}\\,k_{{{i - a + 1}{j - b + 1}}}$",
                       ha="center", va="center", fontsize=SMALL, color=COLOURS[2 * a + b])
    right.text(2.4, -3 * 1.3 - 0.15, r"$\partial E/\partial x_{ij}$, with $\delta_{ab} = \partial E/\partial y_{ab}$",
               ha="center", va="top", fontsize=SMALL)
    _frame(right, (-0.05, 4.85), (-4.6, 0.05))
    fig.subplots_adjust(wspace=0.05)
    return _svg(fig)


# ----- stride and padding ---------------------------------------------------------------
STRIDE_X = np.arange(1.0, 17).reshape(4, 4)
STRIDE_K = np.ones((3, 3))


def stride_padding() -> bytes:
    """Stride 2, padding 1: a 3×3 kernel on a 4×4 input visits four windows of the 6×6 padded input."""
    padded = np.pad(STRIDE_X, 1)
    y = correlate(padded, STRIDE_K, stride=2)
    faded = np.pad(np.zeros_like(STRIDE_X, dtype=bool), 1, constant_values=True)
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 2.9), gridspec_kw={"width_ratios": [6.2, 6.2, 3.4]})
    shade = np.full(y.shape, None, dtype=object)
    for ax, pair in zip(axes[:2], [((0, 0), (0, 1)), ((1, 0), (1, 1))]):
        _grid(ax, padded, 0, 0, faded=faded, size=SMALL)
        for (a, b) in pair:
            colour = COLOURS[2 * a + b]
            _window(ax, 0, 0, 2 * a, 2 * b, 3, 3, colour, inset=0.06 + 0.08 * b)
            shade[a, b] = colour + "40"
        _frame(ax, (-0.1, 6.1), (-6.1, 0.1))
    axes[0].set_title("first row of windows", fontsize=SMALL)
    axes[1].set_title("second row: 2 rows down", fontsize=SMALL)
    _grid(axes[2], y, 0.2, -1.5, shade=shade, size=SMALL)
    axes[2].set_title("Y, 2×2", fontsize=SMALL)
    _frame(axes[2], (-0.1, 3.3), (-6.1, 0.1))
    fig.text(0.5, 0.02, "4×4 input, zero border p = 1, 3×3 kernel of ones, stride s = 2:\n"
             "$H_o = \\lfloor (H + 2p - k)/s \\rfloor + 1 = \\lfloor (4 + 2 - 3)/2 \\rfloor + 1 = 2$",
             ha="center", va="top", fontsize=SMALL)
    fig.subplots_adjust(wspace=0.08)
    return _svg(fig)


# ----- im2col ---------------------------------------------------------------------------
def im2col_columns(x: np.ndarray = X, kh: int = 2, kw: int = 2) -> np.ndarray:
    """Every window of `x` as one column, in output order: (kh·kw, Ho·Wo)."""
    ho, wo = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    return np.stack([x[a:a + kh, b:b + kw].ravel() for a in range(ho) for b in range(wo)], axis=1)


def im2col() -> bytes:
    """The windows as columns, the kernel as a row, one matrix product, reshaped."""
    cols = im2col_columns()
    row = K.reshape(1, -1)
    prod = row @ cols
    assert np.array_equal(prod.reshape(2, 2), correlate(X, K))
    insets = (0.04, 0.1, 0.16, 0.22)
    fig, ax = plt.subplots(figsize=(WIDTH, 4.9))
    # top: the input with its four windows, and the windows laid out as columns
    _grid(ax, X, 0, -0.5)
    for (a, b), colour, inset in zip(np.ndindex(2, 2), COLOURS, insets):
        _window(ax, 0, -0.5, a, b, 2, 2, colour, inset=inset)
    ax.text(1.5, -3.7, "X with its 4 windows", ha="center", va="top", fontsize=SMALL)
    _arrow(ax, (3.3, -2.0), (4.6, -2.0))
    shade = np.empty(cols.shape, dtype=object)
    for c in range(cols.shape[1]):
        shade[:, c] = COLOURS[c] + "30"
        ax.text(5.5 + c, 0.1, f"$y_{{{c // 2 + 1}{c % 2 + 1}}}$", ha="center", va="bottom", color=COLOURS[c],
                fontsize=SMALL)
    _grid(ax, cols, 5.0, 0.0, shade=shade)
    ax.text(9.3, -2.0, "one column per\nwindow, read\nrow by row", ha="left", va="center", fontsize=SMALL)
    # bottom: the kernel as a row times the columns: every output at once
    y0 = -5.4
    _grid(ax, row, 0, y0)
    ax.text(2.0, y0 - 1.2, "K as a row", ha="center", va="top", fontsize=SMALL)
    ax.text(4.3, y0 - 0.5, "@ columns =", ha="left", va="center", fontsize=TEXT)
    pshade = np.empty(prod.shape, dtype=object)
    for c in range(prod.shape[1]):
        pshade[0, c] = COLOURS[c] + "40"
    _grid(ax, prod, 7.9, y0, shade=pshade)
    ax.text(9.9, y0 - 1.2, "all outputs at once", ha="center", va="top", fontsize=SMALL)
    _arrow(ax, (12.0, y0 - 0.5), (12.7, y0 - 0.5))
    _grid(ax, prod.reshape(2, 2), 12.8, y0 + 0.5, shade=pshade.reshape(2, 2))
    ax.text(13.8, y0 - 1.7, "$X \\star K$", ha="center", va="top", fontsize=SMALL)
    _frame(ax, (-0.1, 14.9), (y0 - 2.3, 0.7))
    return _svg(fig)


PICTURES: dict[str, Callable[[], bytes]] = {
    "valid_sliding.svg": valid_sliding,
    "full_mode.svg": full_mode,
    "input_gradient.svg": input_gradient,
    "stride_padding.svg": stride_padding,
    "im2col.svg": im2col,
}


if __name__ == "__main__":  # python scripts/pictures.py OUTDIR: look at them without building the site
    import pathlib
    import sys

    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "out/pictures")
    FORMAT = sys.argv[2] if len(sys.argv) > 2 else "svg"
    out.mkdir(parents=True, exist_ok=True)
    for name, make in PICTURES.items():
        name = name.replace(".svg", "." + FORMAT)
        (out / name).write_bytes(make())
        print(out / name)
