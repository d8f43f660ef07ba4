"""What each node of a drawing says: Graphviz HTML-like labels and hover tooltips.

Labels hold what a reader needs at a glance (name, shape, small values, formulas);
tooltips (shown when the pointer rests on a node of the SVG) hold everything: full
values and gradients up to `TOOLTIP_MAX` elements, every formula, a module's parameters.
"""

from __future__ import annotations

import re
import numpy as np

from ..tensor import Function, Tensor

# One colour per role; the legend node repeats this table.
PARAMETER = "#c8ecd4"  # leaf that requires grad: what an optimizer updates
CONSTANT = "#e6e6e6"  # leaf that does not require grad: inputs, targets
INTERMEDIATE = "#ffffff"
OUTPUT = "#fbd38d"  # the root the drawing starts from
OP = "#d6e6f8"
MODULE = "#efe4f7"  # one module call drawn as one box
GRAD = "#b22222"  # gradient values and backward formulas
GRAD_BG = "#fdeeee"
MORE = "#f4f4f4"

MAX_CHANNELS = 8  # small tensors show at most this many (kh, kw) matrices
TOOLTIP_MAX = 400  # tooltips list every value of tensors up to this size, else summarize
FONT = "Helvetica"


# Control characters (but newline and tab) are not allowed in Graphviz's XML-based labels.
_CONTROL = {c: "\ufffd" for c in range(32) if chr(c) not in "\n\t"}


def esc(s: object) -> str:
    """Text for a graphviz HTML-like label: &, <, >, quotes escaped, newlines kept,
    control characters shown as �."""
    text = str(s).translate(_CONTROL)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("\n", "<BR/>")


def tip(text: str) -> str:
    """Text for a Graphviz `tooltip` attribute: an escString, so newlines become `\\n`."""
    return text.translate(_CONTROL).replace("\\", "\\\\").replace("\n", "\\n")


_ROLE = re.compile(r"^dE/d(\S+?)\s*=")


def roles(fn: Function) -> list[str]:
    """Each input's letter in the op's formulas ("X_j", "K_ij"), read from the
    `dE/dX = ...` lines, so the edges name what the formulas call them."""
    found = []
    for line in fn.applied_formulas()[1:]:
        m = _ROLE.match(line)
        found.append(m.group(1) if m else "")
    return found


# Options that are at their usual value say nothing: a drawing shows what is special about
# an op (`padding=2`), not every setting it has. A class attribute of the op is its own
# default; these are the defaults of options that ops leave unset.
_USUAL: dict[str, object] = {"padding": 0, "dilation": 1, "groups": 1, "output_padding": 0, "keepdims": False}


def compact(value: object) -> object:
    """(2, 2) → 2 and (0, 0, 0, 0) → 0: a pair or quadruple of one value is that value;
    padding (top, bottom, left, right) = (1, 1, 2, 2) is the pair (1, 2)."""
    if isinstance(value, tuple) and len(value) > 1 and all(v == value[0] for v in value):
        return value[0]
    if isinstance(value, tuple) and len(value) == 4 and value[0] == value[1] and value[2] == value[3]:
        return (value[0], value[2])
    return value


def options(fn: Function, stated: str = "", every: bool = False) -> str:
    """The op's options that differ from their defaults, as `k=v` text (`padding=2`,
    `mode='full'`); an option the `stated` formula text already gives (`(c = 2)`) is left out.
    `every=True`: every option as it is set (for tooltips)."""
    parts = []
    for key in getattr(type(fn), "options", ()):  # what the op declares
        value = getattr(fn, key, None)
        if isinstance(value, np.ndarray) and key in ("lo", "hi"):  # clip's per-element bounds
            parts.append(f"{key}={compact(value.item())!r}" if value.ndim == 0 else f"{key}=array{value.shape}")
            continue
        if key.startswith("_") or value is None or not isinstance(value, (str, int, float, bool, tuple)):
            continue  # cached arrays (im2col columns, argmax places) are not options
        if every:
            parts.append(f"{key}={value!r}")
            continue
        if value == () or re.search(rf"\b{re.escape(key)} = ", stated):
            continue
        short = compact(value)
        if hasattr(type(fn), key) and value == getattr(type(fn), key):
            continue  # the op class's own default
        if key in _USUAL and short == _USUAL[key]:
            continue
        if key == "padding" and isinstance(getattr(fn, "mode", None), str):
            continue  # mode='full' is the padding
        if key == "stride" and value == getattr(fn, "kernel_size", None):
            continue  # pooling's default stride is the window
        parts.append(f"{key}={short!r}")
    return ", ".join(parts)


def op_label(name: str, opts: str, lines: list[str], show_formulas: bool, note: str = "") -> str:
    title = f"<B>{esc(name)}</B>"
    if opts:
        title += f' <FONT POINT-SIZE="10">({esc(opts)})</FONT>'
    if note:
        title += f' <FONT POINT-SIZE="9" COLOR="#555555">{esc(note)}</FONT>'
    rows = [f"<TR><TD>{title}</TD></TR>"]
    if show_formulas:
        if lines:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">{esc(lines[0])}</FONT></TD></TR>')
        for line in lines[1:]:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{GRAD}">{esc(line)}</FONT></TD></TR>')
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">' + "".join(rows) + "</TABLE>"


def op_tooltip(name: str, opts: str, lines: list[str], chain: list[str] | None = None) -> str:
    text = name + (f" ({opts})" if opts else "")
    if chain:
        text += "\none node for the recorded ops " + " → ".join(chain) + " (expand=True draws each)"
    return text + "\n" + "\n".join(lines)


def grad_title(root: Tensor) -> str:
    """"dE/d" when the root is named E (the seed's notation), else "grad d/d"."""
    if not root.name:
        return "grad d/d"
    return f"d{root.name}/d" if root.name.isidentifier() else f"d({root.name})/d"


def tensor_title(t: Tensor, name: str | None) -> str:
    if name:
        return name
    if t.op:
        return t.op
    return "parameter" if t.requires_grad else "constant"


def grad_name(gtitle: str, title: str, named: bool) -> str:
    """"dE/dconv1.weight" for a named tensor, "dE/d(relu)" for one titled by its op."""
    return gtitle + (title if named else f"({title})")


def tensor_label(
    t: Tensor, title: str, named: bool, fmt: Format, show_data: bool, show_grad: bool, gtitle: str, show_missing: bool
) -> str:
    rows = [
        f"<TR><TD><B>{esc(title)}</B></TD></TR>",
        f'<TR><TD><FONT POINT-SIZE="10">{esc(t.shape)} {esc(t.dtype)}</FONT></TD></TR>',
    ]
    if show_data:
        rows.append(f"<TR><TD>{fmt.values(t.data, '#000000', '#ffffff')}</TD></TR>")
    if show_grad and t.requires_grad:
        name = esc(grad_name(gtitle, title, named))
        if t.grad is None and show_missing:
            rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="{GRAD}">{name}: not computed</FONT></TD></TR>')
        elif t.grad is not None:
            rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="{GRAD}">{name}</FONT></TD></TR>')
            rows.append(f"<TR><TD>{fmt.values(np.asarray(t.grad), GRAD, GRAD_BG)}</TD></TR>")
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">' + "".join(rows) + "</TABLE>"


def array_text(a: np.ndarray, precision: int) -> str:
    """Every value of `a` when it has at most TOOLTIP_MAX elements, else a summary."""
    a = np.asarray(a)
    if a.size <= TOOLTIP_MAX:
        return np.array2string(a, precision=precision, threshold=TOOLTIP_MAX + 1, max_line_width=100)
    return Format(precision, 0).summary_text(a) + f" ({a.size} values; tooltips list up to {TOOLTIP_MAX})"


def tensor_tooltip(
    t: Tensor, title: str, named: bool, gtitle: str, precision: int, show_data: bool, show_grad: bool, show_missing: bool
) -> str:
    """Name, shape, and (as the label's switches say) every value and gradient."""
    text = f"{title}  {t.shape} {t.dtype}"
    if show_data:
        text += f"\nvalues:\n{array_text(t.data, precision)}"
    if show_grad and t.requires_grad and (t.grad is not None or show_missing):
        grad = "not computed" if t.grad is None else "\n" + array_text(t.grad, precision)
        text += f"\n{grad_name(gtitle, title, named)}: {grad}"
    return text


class Format:
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

    def summary_text(self, a: np.ndarray) -> str:
        if a.size == 0:
            return "empty"
        finite = a[np.isfinite(a)]
        text = "no finite values"
        if finite.size:
            text = f"min {self.num(finite.min())}  mean {self.num(finite.mean())}  max {self.num(finite.max())}"
        bad = a.size - finite.size
        if bad:
            text += f"  ({bad} NaN/Inf)"
        return text

    def summary(self, a: np.ndarray, color: str) -> str:
        return f'<FONT POINT-SIZE="10" COLOR="{color}">{esc(self.summary_text(a))}</FONT>'


def box_label(
    path: str, kind: str, shapes_in: list[tuple], shapes_out: list[tuple], n_params: int, formula: str, settings: str = ""
) -> str:
    """A module call drawn as one box: path, class, its settings, shapes in → out, parameters, formula."""

    def shapes(ss: list[tuple]) -> str:
        return ", ".join(str(s) for s in ss) or "()"

    rows = [f'<TR><TD><B>{esc(path)}</B>  <FONT POINT-SIZE="10">{esc(kind)}</FONT></TD></TR>']
    if settings:
        rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="#5b3a86">{esc(settings)}</FONT></TD></TR>')
    rows.append(f'<TR><TD><FONT POINT-SIZE="10">{esc(shapes(shapes_in))} → {esc(shapes(shapes_out))}</FONT></TD></TR>')
    if n_params:
        rows.append(f'<TR><TD><FONT POINT-SIZE="10">{n_params:,} parameters</FONT></TD></TR>')
    if formula:
        rows.append(f'<TR><TD><FONT POINT-SIZE="10">{esc(formula)}</FONT></TD></TR>')
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">' + "".join(rows) + "</TABLE>"


def legend_label(show_grad: bool, modules: bool = False) -> str:
    entries = [
        (PARAMETER, "parameter: leaf that requires grad"),
        (CONSTANT, "constant: leaf without grad (input, target)"),
        (INTERMEDIATE, "intermediate result"),
        (OUTPUT, "output (the root drawn from)"),
        (OP, "op: forward formula, then dE/d(input) per input"),
    ]
    if modules:
        entries.append((MODULE, "one call of a module: shapes in → out, parameters"))
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    entries.append(("", "edge label: the input's letter in the op's formulas, or a shape"))
    for color, text in entries:
        swatch = f'<TD BGCOLOR="{color}" BORDER="1" WIDTH="18"> </TD>' if color else '<TD><FONT COLOR="#555555">X_j</FONT></TD>'
        rows.append(f'<TR>{swatch}<TD ALIGN="LEFT">{esc(text)}</TD></TR>')
    if show_grad:
        rows.append(
            f'<TR><TD BGCOLOR="{GRAD_BG}" BORDER="1" COLOR="{GRAD}"><FONT COLOR="{GRAD}">1.5</FONT></TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="{GRAD}">gradient of the output with respect to the tensor (.grad)</FONT></TD></TR>'
        )
    rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#555555">{esc("hover a node (SVG) for every value and formula")}</FONT></TD></TR>')
    return (
        '<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
        + "".join(rows)
        + "</TABLE>"
    )
