"""Draw the graph that produced a tensor: values, gradients and each op's formulas.

`draw_graph(root)` walks back from `root` over every op's inputs and returns a
`graphviz.Digraph` (Jupyter shows it inline). Tensor nodes show their name, shape,
dtype and values (the numbers themselves for small tensors, min/mean/max otherwise),
with the gradient below in red. Op nodes show the op's formulas exactly as its class
docstring states them (`Function.applied_formulas()`: the docstring, or the variant an
option such as conv's full mode selects), so the drawing, the code and the docs
tell the same calculus.

Building the graph needs only the Python package; turning it into SVG/PNG/PDF needs
Graphviz's `dot` program. `render(graph, path)` and the returned graph's own
`.render()` / `.pipe()` explain how to install `dot` when it is missing.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .tensor import Function, Tensor

__all__ = ["DOT_MISSING", "Graph", "draw_graph", "render"]

DOT_MISSING = (
    "Graphviz's 'dot' program was not found on PATH; it is needed to render a graph "
    "drawing to an image. Install it with 'sudo apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS), 'conda install -c conda-forge graphviz' (conda) or "
    "from https://graphviz.org/download/ (Windows), then try again. The DOT text "
    "(graph.source) is available without it."
)

# One colour per role; the legend node repeats this table.
PARAMETER = "#c8ecd4"  # leaf that requires grad: what an optimizer updates
CONSTANT = "#e6e6e6"  # leaf that does not require grad: inputs, targets
INTERMEDIATE = "#ffffff"
OUTPUT = "#fbd38d"  # the root the drawing starts from
OP = "#d6e6f8"
GRAD = "#b22222"  # gradient values and backward formulas
GRAD_BG = "#fdeeee"
MORE = "#f4f4f4"

MAX_CHANNELS = 8  # small tensors show at most this many (kh, kw) matrices
FONT = "Helvetica"


class Graph(graphviz.Digraph):
    """A `graphviz.Digraph` whose `.pipe()` / `.render()` (and so Jupyter's display)
    turn a missing `dot` program into a `RuntimeError` that says how to install it."""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(DOT_MISSING) from e

    def render(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(DOT_MISSING) from e


def render(graph: graphviz.Digraph, path: str | Path, format: str | None = None) -> Path:
    """Draw `graph` with `dot` into the file `path` and return that path.

    `format` ("svg", "png", "pdf", ...) defaults to the file's suffix, else "svg".
    Raises `RuntimeError` saying how to install Graphviz when `dot` is missing.
    """
    path = Path(path)
    fmt = format or path.suffix.lstrip(".").lower() or "svg"
    try:
        data = graphviz.Digraph.pipe(graph, format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise RuntimeError(DOT_MISSING) from e
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a reader never sees half a file
    return path


def draw_graph(
    root: Tensor,
    show_data: bool = True,
    show_grad: bool = True,
    rankdir: str = "LR",
    max_nodes: int | None = None,
    *,
    show_formulas: bool = True,
    precision: int = 4,
    max_side: int = 5,
    legend: bool = True,
) -> Graph:
    """The graph that produced `root`, as a `graphviz.Digraph`.

    Args:
        root: the tensor to start from (usually the loss).
        show_data: print each tensor's values (small ones as matrices, others as
            min/mean/max).
        show_grad: print each tensor's `.grad` the same way, in red.
        rankdir: graphviz layout direction, "LR" (inputs left) or "TB" (inputs on top).
        max_nodes: draw at most this many nodes (tensors and ops nearest to `root`,
            plus one "… N more nodes" node standing for the rest; the legend is not
            counted). None draws everything. The root is always drawn.
        show_formulas: print each op's forward and backward formulas.
        precision: significant digits of printed values.
        max_side: tensors whose matrices are at most max_side × max_side (and 1-D ones
            up to 2·max_side long) print every value.
        legend: add a node explaining the colours.

    Returns:
        A `Graph` (a `graphviz.Digraph`): `.source` is DOT text; `.render()`, `.pipe()`
        and `tc.viz.render()` need Graphviz's `dot`.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")

    order = _walk(root)
    kept, used = _budget(order, max_nodes)
    total = sum(_cost(t) for t in order)
    ids = {id(t): f"t{i}" for i, t in enumerate(kept)}
    fmt = _Format(precision, max_side)
    grad_title = _grad_title(root)
    # "not computed" only helps when some gradients are there; before any backward
    # it would just repeat itself on every node.
    show_missing = any(t.grad is not None for t in kept)

    g = Graph(name="tinygrad_cnn")
    g.attr(rankdir=rankdir, fontname=FONT, nodesep="0.3", ranksep="0.45")
    g.attr("node", fontname=FONT, fontsize="12", margin="0.08,0.04")
    g.attr("edge", fontname=FONT, fontsize="10", color="#555555", fontcolor="#555555", arrowsize="0.7")

    more = "more" if total > used else None
    if more:
        hidden_ops = sum(t._ctx is not None for t in order[len(kept):])
        hidden_tensors = len(order) - len(kept)
        g.node(
            more,
            f"… {total - used} more nodes\\n({hidden_tensors} tensors, {hidden_ops} ops)",
            shape="box", style="dashed,filled", fillcolor=MORE, color="#888888",
        )

    for i, t in enumerate(kept):
        tid = ids[id(t)]
        fill = OUTPUT if t is root else INTERMEDIATE if t._ctx is not None else PARAMETER if t.requires_grad else CONSTANT
        label = _tensor_label(t, fmt, show_data, show_grad, grad_title, show_missing)
        g.node(tid, f"<{label}>", shape="box", style="filled,rounded", fillcolor=fill,
               penwidth="2" if t is root else "1")
        ctx = t._ctx
        if ctx is None:
            continue
        oid = f"op{i}"
        g.node(oid, f"<{_op_label(ctx, show_formulas)}>", shape="box", style="filled", fillcolor=OP, color="#4a6fa5")
        g.edge(oid, tid)
        roles = _roles(ctx)
        for k, p in enumerate(ctx.parents):  # one edge per input slot, so x*x shows two
            g.edge(ids.get(id(p), more), oid, label=roles[k] if k < len(roles) else str(k),
                   style="solid" if id(p) in ids else "dashed")

    if legend:
        g.node("legend", f"<{_legend_label(show_grad)}>", shape="plaintext", fontsize="10")
    return g


# ----- walking the graph ------------------------------------------------------------


def _walk(root: Tensor) -> list[Tensor]:
    """Every tensor behind `root` (also those not requiring grad), nearest first.

    Breadth-first with an explicit queue: no recursion limit, and the order is the
    distance from the root, which is what `max_nodes` keeps.
    """
    order: list[Tensor] = []
    seen = {id(root)}
    queue = deque([root])
    while queue:
        t = queue.popleft()
        order.append(t)
        for p in t.parents:
            if id(p) not in seen:
                seen.add(id(p))
                queue.append(p)
    return order


def _cost(t: Tensor) -> int:
    """Nodes one tensor adds to the drawing: itself and the op that made it."""
    return 1 if t._ctx is None else 2


def _budget(order: list[Tensor], max_nodes: int | None) -> tuple[list[Tensor], int]:
    """The prefix of `order` that fits into `max_nodes` (one slot kept for the
    "more" node), and the number of nodes it uses. The root is always drawn."""
    total = sum(_cost(t) for t in order)
    if max_nodes is None or total <= max_nodes:
        return order, total
    kept: list[Tensor] = []
    used = 0
    for t in order:
        if kept and used + _cost(t) > max_nodes - 1:
            break
        kept.append(t)
        used += _cost(t)
    return kept, used


# ----- labels -----------------------------------------------------------------------


def _esc(s: object) -> str:
    """Text for a graphviz HTML-like label: &, <, >, quotes escaped, newlines kept."""
    text = str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("\n", "<BR/>")


_ROLE = re.compile(r"^dE/d(\S+?)\s*=")


def _roles(fn: Function) -> list[str]:
    """Each input's letter in the op's formulas ("X_j", "K_ij"), read from the
    `dE/dX = ...` lines, so the edges name what the formulas call them."""
    roles = []
    for line in fn.applied_formulas()[1:]:
        m = _ROLE.match(line)
        roles.append(m.group(1) if m else "")
    return roles


def _options(fn: Function) -> str:
    """The op's non-tensor options (mode, axis, exponent, ...) as `k=v` text."""
    parts = []
    for key, value in getattr(fn, "__dict__", {}).items():
        if key.startswith("_") or isinstance(value, np.ndarray):
            continue  # cached arrays (im2col columns) are not options
        if isinstance(value, (str, int, float, bool, tuple)) and value != ():
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def _op_label(fn: Function, show_formulas: bool) -> str:
    title = f"<B>{_esc(fn.name)}</B>"
    opts = _options(fn)
    if opts:
        title += f' <FONT POINT-SIZE="10">({_esc(opts)})</FONT>'
    rows = [f"<TR><TD>{title}</TD></TR>"]
    if show_formulas:
        lines = fn.applied_formulas()
        if lines:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">{_esc(lines[0])}</FONT></TD></TR>')
        for line in lines[1:]:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{GRAD}">{_esc(line)}</FONT></TD></TR>')
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">' + "".join(rows) + "</TABLE>"


def _grad_title(root: Tensor) -> str:
    """"dE/d" when the root is named E (the seed's notation), else "grad d/d"."""
    if not root.name:
        return "grad d/d"
    return f"d{root.name}/d" if root.name.isidentifier() else f"d({root.name})/d"


def _title(t: Tensor) -> str:
    if t.name:
        return t.name
    if t.op:
        return t.op
    return "parameter" if t.requires_grad else "constant"


def _tensor_label(
    t: Tensor, fmt: _Format, show_data: bool, show_grad: bool, grad_title: str, show_missing: bool
) -> str:
    rows = [
        f"<TR><TD><B>{_esc(_title(t))}</B></TD></TR>",
        f'<TR><TD><FONT POINT-SIZE="10">{_esc(t.shape)} {_esc(t.dtype)}</FONT></TD></TR>',
    ]
    if show_data:
        rows.append(f"<TR><TD>{fmt.values(t.data, '#000000', '#ffffff')}</TD></TR>")
    if show_grad and t.requires_grad:
        name = _esc(grad_title + (t.name or f"({_title(t)})"))
        if t.grad is None and show_missing:
            rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="{GRAD}">{name}: not computed</FONT></TD></TR>')
        elif t.grad is not None:
            rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="{GRAD}">{name}</FONT></TD></TR>')
            rows.append(f"<TR><TD>{fmt.values(np.asarray(t.grad), GRAD, GRAD_BG)}</TD></TR>")
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">' + "".join(rows) + "</TABLE>"


class _Format:
    """Numbers as HTML tables: small arrays value by value, large ones summarized."""

    def __init__(self, precision: int, max_side: int) -> None:
        self.precision = precision
        self.max_side = max_side

    def num(self, v: float) -> str:
        return f"{float(v) + 0.0:.{self.precision}g}"  # + 0.0 turns -0 into 0

    def small(self, a: np.ndarray) -> bool:
        if a.ndim == 0:
            return True
        if a.ndim == 1:
            return 0 < a.shape[0] <= 2 * self.max_side
        if a.ndim > 4 or a.size == 0:
            return False
        channels = int(np.prod(a.shape[:-2]))
        return a.shape[-2] <= self.max_side and a.shape[-1] <= self.max_side and channels <= MAX_CHANNELS

    def values(self, a: np.ndarray, color: str, bg: str) -> str:
        if not self.small(a):
            return self.summary(a, color)
        if a.ndim <= 2:
            return self.matrix(a, color, bg)
        # (C, H, W): a row of matrices; (A, B, H, W): A rows of B matrices.
        grid = a.reshape((1,) + a.shape) if a.ndim == 3 else a
        rows = []
        for i in range(grid.shape[0]):
            cells = []
            for j in range(grid.shape[1]):
                index = f"[{j}]" if a.ndim == 3 else f"[{i},{j}]"
                cells.append(
                    f'<TD><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
                    f'<TR><TD><FONT POINT-SIZE="8" COLOR="#666666">{index}</FONT></TD></TR>'
                    f"<TR><TD>{self.matrix(grid[i, j], color, bg)}</TD></TR></TABLE></TD>"
                )
            rows.append("<TR>" + "".join(cells) + "</TR>")
        return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="0">' + "".join(rows) + "</TABLE>"

    def matrix(self, a: np.ndarray, color: str, bg: str) -> str:
        m = a.reshape(1, -1) if a.ndim < 2 else a
        rows = []
        for r in m:
            cells = "".join(f'<TD ALIGN="RIGHT"><FONT COLOR="{color}">{self.num(v)}</FONT></TD>' for v in r)
            rows.append(f"<TR>{cells}</TR>")
        return (
            f'<TABLE BORDER="1" COLOR="{color}" BGCOLOR="{bg}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">'
            + "".join(rows)
            + "</TABLE>"
        )

    def summary(self, a: np.ndarray, color: str) -> str:
        if a.size == 0:
            return f'<FONT POINT-SIZE="10" COLOR="{color}">empty</FONT>'
        finite = a[np.isfinite(a)]
        text = "no finite values"
        if finite.size:
            text = f"min {self.num(finite.min())}  mean {self.num(finite.mean())}  max {self.num(finite.max())}"
        bad = a.size - finite.size
        if bad:
            text += f"  ({bad} NaN/Inf)"
        return f'<FONT POINT-SIZE="10" COLOR="{color}">{_esc(text)}</FONT>'


def _legend_label(show_grad: bool) -> str:
    entries = [
        (PARAMETER, "parameter: leaf that requires grad"),
        (CONSTANT, "constant: leaf without grad (input, target)"),
        (INTERMEDIATE, "intermediate result"),
        (OUTPUT, "output (the root drawn from)"),
        (OP, "op: forward formula, then dE/d(input) per input"),
    ]
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    entries.append(("", "edge label: the input's letter in the op's formulas"))
    for color, text in entries:
        swatch = f'<TD BGCOLOR="{color}" BORDER="1" WIDTH="18"> </TD>' if color else '<TD><FONT COLOR="#555555">X_j</FONT></TD>'
        rows.append(f'<TR>{swatch}<TD ALIGN="LEFT">{_esc(text)}</TD></TR>')
    if show_grad:
        rows.append(
            f'<TR><TD BGCOLOR="{GRAD_BG}" BORDER="1" COLOR="{GRAD}"><FONT COLOR="{GRAD}">1.5</FONT></TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="{GRAD}">gradient of the output with respect to the tensor (.grad)</FONT></TD></TR>'
        )
    return (
        '<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
        + "".join(rows)
        + "</TABLE>"
    )
