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
import html
import importlib
import inspect
import io
import logging
import os
import pkgutil
import re
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

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


def run_blocks(blocks: list[Block], page: str) -> list[str]:
    """Run `blocks` in order in one namespace, in a temporary directory; return each one's stdout.

    Code is compiled with the page's name and padded to its real line numbers, so a
    traceback points at the line in the Markdown file.
    """
    namespace: dict = {"__name__": "__main__"}
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


def _cell(text: str) -> str:
    """Plain text in a Markdown table cell: nothing in a formula may turn into markup."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]|{}#+!])", r"\\\1", text)


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


def gen_derivatives_table() -> str:
    out: list[str] = []
    module = None
    for mod, name, forward, grads in derivatives_rows():
        if mod != module:
            module = mod
            out += ["", f"### `tinygrad_cnn.ops.{mod}`", "", "| op | forward | gradient per input |", "| --- | --- | --- |"]
        out.append(f"| `{name}` | {_cell(forward)} | {'<br>'.join(_cell(g) for g in grads)} |")
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
}


def expand(markdown: str, page: str) -> str:
    """Run the page's python blocks for its outputs, then fill in the named generators."""
    if OUTPUT.search(markdown):
        markdown = insert_outputs(markdown, page)

    def fill(m: re.Match) -> str:
        name = m["name"]
        if name not in GENERATORS:
            raise ValueError(f"{page}: unknown generator <!-- gen:{name} -->; known: {sorted(GENERATORS)}")
        return GENERATORS[name]()

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


def on_files(files, config, **kwargs):  # noqa: ANN001, ANN201
    from mkdocs.structure.files import File

    for path, make in GENERATED_FILES.items():
        files.append(File.generated(config, path, content=make()))
    for path, content in mathjax_files().items():
        files.append(File.generated(config, path, content=content))
    return files
