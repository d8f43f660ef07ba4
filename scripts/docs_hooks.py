"""MkDocs hooks: the parts of the docs that the library computes at build time.

Two kinds of marker in a page's Markdown are replaced before the page is rendered:

- ``<!-- gen:NAME -->`` by the Markdown that the generator ``NAME`` below returns
  (the seed's worked examples, the derivatives table, the API reference);
- ``<!-- output -->`` by what the python code block just above it printed. A page's
  python blocks run in order, in one namespace, in a temporary directory.

Nothing generated is written into ``docs/``, so no generated page can go stale.
``tests/test_docs.py`` runs every python block of every page with the same helpers.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
import os
import pkgutil
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the modules beside this file
from formula_tex import to_tex  # noqa: E402
import pictures  # noqa: E402

log = logging.getLogger("mkdocs.hooks.tinygrad_cnn")

GEN = re.compile(r"<!-- gen:(?P<name>[a-z_]+) -->")
OUTPUT = re.compile(r"^(?P<indent>[ \t]*)<!-- output -->[ \t]*$", re.MULTILINE)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
PYTHON = ("python", "py")


# ----- code blocks ------------------------------------------------------------------
@dataclass
class Block:
    """One fenced code block of a page."""

    lang: str
    code: str
    start: int  # line number (1-based) of the opening fence
    end: int  # line number (1-based) of the closing fence


def code_blocks(markdown: str) -> list[Block]:
    """Every fenced block in `markdown`, including ones indented inside admonitions or tabs."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        info = m["info"].strip()
        lang = info.split()[0].strip("{}.").lower() if info else ""
        closing = re.compile(re.escape(fence[0]) + "{%d,}" % len(fence))
        j = i + 1
        while j < len(lines) and not closing.fullmatch(lines[j].strip()):
            j += 1
        if j == len(lines):
            raise ValueError(f"code block opened at line {i + 1} is never closed")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : j]]
        blocks.append(Block(lang, "\n".join(body) + "\n", i + 1, j + 1))
        i = j + 1
    return blocks


def python_blocks(markdown: str) -> list[Block]:
    return [b for b in code_blocks(markdown) if b.lang in PYTHON]


class DocBlockError(RuntimeError):
    """A python block of a docs page raised."""


def run_blocks(blocks: list[Block], page: str, namespace: dict | None = None) -> list[str]:
    """Run `blocks` in order in one namespace, in a temporary directory; return each one's stdout.

    Code is compiled with the page's name and padded to its real line numbers, so a
    traceback points at the line in the Markdown file.
    """
    if namespace is None:
        namespace = {}
    namespace.setdefault("__name__", "__main__")
    outputs: list[str] = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="docs-") as tmp:
        os.chdir(tmp)
        try:
            for b in blocks:
                out = io.StringIO()
                try:
                    code = compile("\n" * b.start + b.code, page, "exec")
                    with contextlib.redirect_stdout(out):
                        exec(code, namespace)
                except Exception as e:  # re-raised with the page and line, the cause attached
                    raise DocBlockError(
                        f"{page}: python block at line {b.start} raised {type(e).__name__}: {e}"
                    ) from e
                outputs.append(out.getvalue())
        finally:
            os.chdir(cwd)
    return outputs


def insert_outputs(markdown: str, page: str) -> str:
    """Replace each `<!-- output -->` with the stdout of the python block right above it."""
    blocks = python_blocks(markdown)
    outputs = run_blocks(blocks, page)
    pieces: list[str] = []
    last = 0
    used: set[int] = set()
    for m in OUTPUT.finditer(markdown):
        line = markdown.count("\n", 0, m.start()) + 1
        above = [k for k, b in enumerate(blocks) if b.end < line]
        if not above:
            raise ValueError(f"{page}:{line}: <!-- output --> has no python block above it")
        k = above[-1]
        if k in used or not outputs[k].strip():
            raise ValueError(f"{page}:{line}: <!-- output --> follows a block that printed nothing or was shown already")
        used.add(k)
        ind = m["indent"]
        text = "".join(ind + row + "\n" for row in outputs[k].rstrip("\n").splitlines())
        pieces += [markdown[last : m.start()], f"{ind}```text\n{text}{ind}```"]
        last = m.end()
    pieces.append(markdown[last:])
    return "".join(pieces)


# ----- tables of idioms whose code runs (docs/pytorch.md) ------------------------------
@dataclass
class Idiom:
    """One row of an idioms table: the code spans of its second column."""

    line: int
    code: list[str]
    release: str | None  # "0.2" for a row marked **0.2**: it may name what is not merged yet


TABLE_ROW = re.compile(r"^\|(?P<cells>.+)\|[ \t]*$")


def idiom_rows(markdown: str) -> list[Idiom]:
    """The rows of the tables under the page's "## Idioms" heading (up to the next "## ")."""
    rows: list[Idiom] = []
    inside = False
    for n, line in enumerate(markdown.splitlines(), 1):
        if line.startswith("## "):
            inside = line.strip() == "## Idioms"
            continue
        m = TABLE_ROW.match(line.strip())
        if not inside or m is None:
            continue
        cells = [c.strip() for c in m["cells"].split(" | ")]
        if len(cells) < 2 or set(cells[1]) <= set("-: ") or cells[1] == "tinygrad_cnn":
            continue  # the separator and the header
        release = "0.2" if len(cells) > 2 and cells[2].startswith("**0.2**") else None
        rows.append(Idiom(n, re.findall(r"`([^`]+)`", cells[1]), release))
    return rows


# Until every 0.2 branch is merged, a row marked 0.2 whose names are missing is skipped: a
# missing attribute or module, or a keyword argument not accepted yet. Anything else fails.
# Once 0.2 is complete, IDIOMS_STRICT = True: then no row may be skipped.
MISSING = (AttributeError, ImportError, TypeError, NotImplementedError)
IDIOMS_STRICT = False


def run_idioms(markdown: str, page: str) -> tuple[int, list[Idiom]]:
    """Run the page's python blocks, then every idiom's code in the same namespace, in a
    temporary directory. Return the number of rows that ran and the 0.2 rows skipped."""
    rows = idiom_rows(markdown)
    skipped: list[Idiom] = []
    namespace: dict = {}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="docs-idioms-") as tmp:
        os.chdir(tmp)
        try:
            run_blocks(python_blocks(markdown), page, namespace)
            for row in rows:
                for code in row.code:
                    try:
                        with contextlib.redirect_stdout(io.StringIO()):
                            exec(compile("\n" * (row.line - 1) + code, page, "exec"), namespace)
                    except MISSING as e:
                        if row.release is None or IDIOMS_STRICT:
                            raise DocBlockError(f"{page}:{row.line}: `{code}` raised {type(e).__name__}: {e}") from e
                        skipped.append(row)
                        break
                    except Exception as e:
                        raise DocBlockError(f"{page}:{row.line}: `{code}` raised {type(e).__name__}: {e}") from e
        finally:
            os.chdir(cwd)
    return len(rows) - len(skipped), skipped


def gen_idioms_checked(markdown: str, page: str) -> str:
    ran, skipped = run_idioms(markdown, page)
    for row in skipped:
        log.info("%s:%d: skipped, a 0.2 name is not in this build: %s", page, row.line, " ; ".join(row.code))
    text = f"When this page was built, the code of {ran} rows ran."
    if skipped:
        text += f" {len(skipped)} rows marked 0.2 were skipped: their names are not in this build yet."
    return text + "\n"


# ----- the seed's worked examples ---------------------------------------------------
def _num(v: float) -> str:
    v = float(v)
    return "0" if v == 0 else f"{v:.4g}"


def bmatrix(a: np.ndarray) -> str:
    rows = (" & ".join(_num(v) for v in row) for row in np.asarray(a))
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


def _seed() -> tuple[np.ndarray, np.ndarray]:
    """The seed notes' input and kernel."""
    return np.array([[1.0, 6, 2], [5, 3, 1], [7, 0, 4]]), np.array([[1.0, 2], [-1, 0]])


def _products(x: np.ndarray, k: np.ndarray) -> str:
    terms = [f"{_num(kv)}\\cdot{_num(xv) if xv >= 0 else '(' + _num(xv) + ')'}" for kv, xv in zip(k.ravel(), x.ravel())]
    return " + ".join(terms).replace("+ -", "- ")


def gen_seed_valid() -> str:
    import tinygrad_cnn as tc

    x, k = _seed()
    y = tc.correlate2d(x, k).data
    top_left = _products(x[:2, :2], k)
    return (
        f"$$\nX \\star K = {bmatrix(x)} \\star {bmatrix(k)} = {bmatrix(y)}\n$$\n\n"
        f"The top-left entry lays $K$ over the top-left $2\\times2$ window of $X$:\n\n"
        f"$$\nY_{{11}} = {top_left} = {_num(y[0, 0])}\n$$\n"
    )


def gen_seed_full() -> str:
    import tinygrad_cnn as tc

    x, k = _seed()
    y = tc.correlate2d(x, k, mode="full").data
    padded = np.pad(x, 1)
    return (
        f"$$\nX \\star_{{\\text{{full}}}} K = {bmatrix(padded)} \\star {bmatrix(k)} = {bmatrix(y)}\n$$\n\n"
        f"Its first row, where only the kernel's bottom row overlaps $X$: "
        f"${_products(padded[:2, :2], k)} = {_num(y[0, 0])}$, "
        f"${_products(padded[:2, 1:3], k)} = {_num(y[0, 1])}$, "
        f"${_products(padded[:2, 2:4], k)} = {_num(y[0, 2])}$.\n"
    )


def gen_seed_convolve() -> str:
    import tinygrad_cnn as tc

    x, k = _seed()
    r = tc.rot180(tc.Tensor(k)).data
    y = tc.convolve2d(x, k).data
    return (
        f"$$\n\\operatorname{{rot180}}(K) = \\operatorname{{rot180}}{bmatrix(k)} = {bmatrix(r)}\n$$\n\n"
        f"$$\nX * K = X \\star \\operatorname{{rot180}}(K) = {bmatrix(x)} \\star {bmatrix(r)} = {bmatrix(y)}\n$$\n"
    )


# ----- the derivatives table --------------------------------------------------------
def op_classes() -> Iterator[tuple[str, type]]:
    """(module name, class) for every Function subclass defined in tinygrad_cnn/ops/*.py, in source order."""
    import tinygrad_cnn.ops as ops
    from tinygrad_cnn.tensor import Function

    for info in sorted(pkgutil.iter_modules(ops.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{ops.__name__}.{info.name}")
        found = [
            cls
            for _, cls in inspect.getmembers(mod, inspect.isclass)
            if issubclass(cls, Function) and hasattr(cls, "forward") and cls.__module__ == mod.__name__
        ]
        for cls in sorted(found, key=lambda c: inspect.getsourcelines(c)[1]):
            yield info.name, cls


def _n_inputs(cls: type) -> int | None:
    params = list(inspect.signature(cls.forward).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return len(params)


def derivatives_rows() -> list[tuple[str, str, str, list[str]]]:
    """(module, op name, forward, [gradient per input]) read from each op's docstring."""
    rows = []
    for module, cls, variant in (
        (m, c, v) for m, c in op_classes() for v in [None, *c.variants]
    ):
        lines = cls.formulas(variant)
        if not lines:
            log.warning("derivatives table: op class %s has no docstring formulas", cls.__qualname__)
            continue
        forward, grads = lines[0], lines[1:]
        n = _n_inputs(cls)
        if n is not None and len(grads) != n:
            log.warning(
                "derivatives table: %s.forward takes %d input(s) but its docstring gives %d gradient line(s)",
                cls.__qualname__, n, len(grads),
            )
        for g in grads:
            if not g.startswith("dE/d"):
                log.warning("derivatives table: %s: gradient line %r does not start with 'dE/d'", cls.__qualname__, g)
        name = cls.name if variant is None else f"{cls.name} ({variant[0]}={variant[1]!r})"
        rows.append((module, name, forward, grads))
    return rows


def _math(line: str) -> str:
    """One formula line as inline MathJax for a table cell (see scripts/formula_tex.py)."""
    tex = to_tex(line)
    if not tex or "$" in tex.replace(r"\$", ""):  # cannot be delimited: show it as written
        return f"`{line}`"
    return f"${tex}$"


def gen_derivatives_table() -> str:
    out: list[str] = []
    module = None
    for mod, name, forward, grads in derivatives_rows():
        if mod != module:
            module = mod
            out += ["", f"### `tinygrad_cnn.ops.{mod}`", "", "| op | forward, then the gradient for each input |",
                    "| --- | --- |"]
        cells = "<br>".join(_math(line) for line in [forward, *grads])
        out.append(f"| `{name}` | {cells} |")
    return "\n".join(out) + "\n"


# ----- the API reference ------------------------------------------------------------
API_ORDER = [
    "tinygrad_cnn",
    "tinygrad_cnn.tensor",
    "tinygrad_cnn.autograd",
    "tinygrad_cnn.ops.conv",
    "tinygrad_cnn.ops.elementwise",
    "tinygrad_cnn.ops.matmul",
    "tinygrad_cnn.ops.shape",
    "tinygrad_cnn.ops.reduce",
    "tinygrad_cnn.ops.index",
    "tinygrad_cnn.ops.creation",
    "tinygrad_cnn.ops.loss",
    "tinygrad_cnn.gradcheck",
    "tinygrad_cnn.anomaly",
    "tinygrad_cnn.viz",
    "tinygrad_cnn.nn",
    "tinygrad_cnn.optim",
    "tinygrad_cnn.data",
    "tinygrad_cnn.serialization",
]


def api_modules() -> list[str]:
    """The package's public modules: the usual ones first, then any others that exist."""
    import tinygrad_cnn

    found = {"tinygrad_cnn"} | {
        m.name
        for m in pkgutil.walk_packages(tinygrad_cnn.__path__, "tinygrad_cnn.")
        if not any(part.startswith("_") for part in m.name.split("."))
    }
    found.discard("tinygrad_cnn.ops")  # an empty namespace; its modules are listed one by one
    ordered = [m for m in API_ORDER if m in found]
    return ordered + sorted(found - set(ordered))


def gen_api_reference() -> str:
    out = []
    for mod in api_modules():
        out += [f"## `{mod}`", "", f"::: {mod}", "    options:", "      show_root_heading: false", "      heading_level: 3"]
        if mod == "tinygrad_cnn":  # the package only re-exports; each member is documented at home
            out.append("      members: false")
        out.append("")
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "seed_valid": gen_seed_valid,
    "seed_full": gen_seed_full,
    "seed_convolve": gen_seed_convolve,
    "derivatives_table": gen_derivatives_table,
    "api_reference": gen_api_reference,
    "idioms_checked": gen_idioms_checked,  # takes the page's markdown and name
}


def expand(markdown: str, page: str) -> str:
    """Run the page's python blocks for its outputs, then fill in the named generators."""
    if OUTPUT.search(markdown):
        markdown = insert_outputs(markdown, page)

    def fill(m: re.Match) -> str:
        name = m["name"]
        if name not in GENERATORS:
            raise ValueError(f"{page}: unknown generator <!-- gen:{name} -->; known: {sorted(GENERATORS)}")
        make = GENERATORS[name]
        return make(markdown, page) if inspect.signature(make).parameters else make()

    return GEN.sub(fill, markdown)


# ----- MkDocs events ----------------------------------------------------------------
def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:  # noqa: ANN001
    return expand(markdown, "docs/" + page.file.src_uri)


# ----- files made while the site builds -----------------------------------------------
def small_cnn_graph_svg() -> bytes:
    """draw_graph of a small CNN's loss on a batch of two images, after backward."""
    import tinygrad_cnn as tc
    from tinygrad_cnn import nn

    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, rng=rng), nn.Sigmoid(), nn.Flatten(), nn.Linear(2 * 3 * 3, 1, rng=rng), nn.Sigmoid()
    )
    x = tc.Tensor(rng.random((2, 1, 5, 5)).astype(np.float32), name="images")
    target = tc.Tensor(np.array([0, 1], dtype=np.float32), name="labels")
    loss = tc.binary_cross_entropy(model(x).reshape(-1), target)
    loss.name = "E"
    loss.backward()
    return tc.draw_graph(loss, max_side=2, precision=3).pipe(format="svg")


def export_graph_svg() -> bytes:
    """draw_graph of the forward pass docs/export.md exports (the same network and input)."""
    import tinygrad_cnn as tc
    from tinygrad_cnn import nn

    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, rng=rng), nn.Sigmoid(), nn.Flatten(), nn.Linear(2 * 3 * 3, 1, rng=rng), nn.Sigmoid()
    )
    for name, p in model.named_parameters():
        p.name = name  # the drawing shows the names the ONNX initializers carry
    x = tc.Tensor(rng.random((2, 1, 5, 5)).astype(np.float32), name="images")
    return tc.draw_graph(model(x), show_grad=False, max_side=2, precision=3, rankdir="TB").pipe(format="svg")


# site path -> function making its bytes; added to the build, never written into docs/
GENERATED_FILES: dict[str, Callable[[], bytes]] = {
    "generated/small_cnn_graph.svg": small_cnn_graph_svg,
    "generated/export_graph.svg": export_graph_svg,
    **{f"generated/{name}": make for name, make in pictures.PICTURES.items()},
}


def mathjax_files() -> dict[str, bytes]:
    """MathJax 3 (TeX input, HTML output) and its fonts, from the django-static-mathjax
    package of the `docs` extra: the site renders its math with no network at all."""
    from importlib.resources import files as package_files

    es5 = package_files("mathjax") / "static" / "mathjax" / "es5"
    out = {"javascripts/mathjax/tex-mml-chtml.js": (es5 / "tex-mml-chtml.js").read_bytes()}
    fonts = es5 / "output" / "chtml" / "fonts" / "woff-v2"
    for font in fonts.iterdir():
        if font.name.endswith(".woff"):
            out[f"javascripts/mathjax/output/chtml/fonts/woff-v2/{font.name}"] = font.read_bytes()
    return out


NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")


def on_files(files, config, **kwargs):  # noqa: ANN001, ANN201
    from mkdocs.structure.files import File

    for path, make in GENERATED_FILES.items():
        files.append(File.generated(config, path, content=make()))
    for path, content in mathjax_files().items():
        files.append(File.generated(config, path, content=content))
    # The notebooks live in notebooks/ (beside docs/, not in it): mkdocs-jupyter renders them.
    # Hooks run after the plugins' on_files, so each is wrapped here as that plugin would.
    from mkdocs_jupyter.plugin import NotebookFile

    root = os.path.dirname(NOTEBOOKS)
    for name in sorted(os.listdir(NOTEBOOKS)):
        if name.endswith(".py"):
            f = File(f"notebooks/{name}", root, config["site_dir"], config["use_directory_urls"])
            files.append(NotebookFile(f, **config))
    return files


# ----- graph drawings at a legible size ----------------------------------------------------
IMG = re.compile(r'<img\b[^>]*\bsrc="(?P<src>[^"]+\.svg|data:image/svg\+xml;base64,[^"]+)"[^>]*>')
SVG_WIDTH = re.compile(rb'<svg[^>]*\bwidth="(?P<w>[\d.]+)pt"')
GRAPH_SCALE = 0.6  # Graphviz's 14 pt labels shown at ~11 px
COLUMN = 688  # px: Material's text column at its widest


def graph_width(svg: bytes) -> float | None:
    """The width in CSS px at which a Graphviz drawing's labels stay legible (None: not a graph)."""
    m = SVG_WIDTH.search(svg[:2000])
    if b"Generated by graphviz" not in svg[:500] or m is None:
        return None
    return float(m["w"]) * 4 / 3 * GRAPH_SCALE


def on_page_content(html: str, page, config, files, **kwargs) -> str:  # noqa: ANN001
    """Graph drawings wider than the column are not shrunk to fit (their text would be a few
    pixels high): each gets a fixed legible width and scrolls sideways in its paragraph
    (stylesheets/extra.css); a click opens it full size (glightbox)."""
    import posixpath

    def widen(m: re.Match) -> str:
        src = m["src"]
        if src.startswith("data:"):  # a notebook's inline output
            import base64

            svg = base64.b64decode(src.split(",", 1)[1])
        else:
            if "://" in src:
                return m[0]
            base = page.file.url if page.file.url.endswith("/") else posixpath.dirname(page.file.url)
            f = files.get_file_from_path(posixpath.normpath(posixpath.join(base, src)).lstrip("/"))
            if f is None:
                return m[0]
            svg = f.content_bytes
        width = graph_width(svg)
        if width is None or width <= COLUMN:
            return m[0]
        return m[0][:-1].rstrip("/").rstrip() + f' class="graph" style="width: {width:.0f}px" />'

    return IMG.sub(widen, html)
