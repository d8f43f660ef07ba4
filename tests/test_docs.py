"""The docs can't rot: every python block of every page in docs/ runs, in order, per page.

Blocks of one page share a namespace (like a notebook) and run in a temporary directory.
A failure names the page and the line of the block. The generated parts of the site are
checked here too: they are computed while the site builds (scripts/docs_hooks.py), so
nothing generated is stored in docs/ where it could go stale.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
hooks = importlib.util.module_from_spec(_spec)
sys.modules["docs_hooks"] = hooks  # dataclasses look their module up there
_spec.loader.exec_module(hooks)
formula_tex = sys.modules["formula_tex"]  # imported by the hooks from scripts/
pictures = sys.modules["pictures"]

PAGES = sorted(DOCS.glob("*.md"))


def test_there_are_pages():
    names = {p.name for p in PAGES}
    assert {"index.md", "math.md", "tutorial.md", "gradcheck.md", "visualization.md", "training.md",
            "performance.md", "derivatives.md", "api.md", "pytorch.md"} <= names


def test_block_extraction_finds_every_python_fence():
    """Count opening fences independently, so a block the parser missed can't go unrun."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        opening = len(re.findall(r"^[ \t]*(?:```|~~~)[ \t]*(?:python|py)\b", text, re.MULTILINE | re.IGNORECASE))
        assert len(hooks.python_blocks(text)) == opening, page.name


@pytest.mark.parametrize("page", [p for p in PAGES if hooks.python_blocks(p.read_text(encoding="utf-8"))],
                         ids=lambda p: p.name)
def test_python_blocks_run(page: Path):
    blocks = hooks.python_blocks(page.read_text(encoding="utf-8"))
    try:
        hooks.run_blocks(blocks, f"docs/{page.name}")
    except hooks.DocBlockError as e:
        pytest.fail(f"{e}\n(cause: {e.__cause__!r})")


def test_a_failing_block_names_page_and_line():
    text = "# t\n\n```python\nx = 1\n```\n\ntext\n\n```python\nraise KeyError('boom')\n```\n"
    with pytest.raises(hooks.DocBlockError, match=r"docs/t\.md: python block at line 9 raised KeyError"):
        hooks.run_blocks(hooks.python_blocks(text), "docs/t.md")


def test_outputs_are_inserted_after_their_block():
    text = "```python\nprint(6 * 7)\n```\n\n<!-- output -->\n\n!!! note\n    ```py\n    print('in')\n    ```\n\n    <!-- output -->\n"
    out = hooks.insert_outputs(text, "t.md")
    assert "```text\n42\n```" in out
    assert "    ```text\n    in\n    ```" in out
    with pytest.raises(ValueError, match="printed nothing"):
        hooks.insert_outputs("```python\nx = 1\n```\n<!-- output -->\n", "t.md")


def test_seed_numbers_are_the_librarys():
    """The math page's worked examples, as generated, hold the seed notes' numbers."""
    valid, full, conv = hooks.gen_seed_valid(), hooks.gen_seed_full(), hooks.gen_seed_convolve()
    assert r"\begin{bmatrix} 8 & 7 \\ 4 & 5 \end{bmatrix}" in valid
    assert "= 8\n" in valid
    assert (r"\begin{bmatrix} 0 & -1 & -6 & -2 \\ 2 & 8 & 7 & 1 \\ 10 & 4 & 5 & -3 \\ 14 & 7 & 8 & 4 \end{bmatrix}"
            in full)
    assert r"\begin{bmatrix} 7 & 5 \\ 11 & 3 \end{bmatrix}" in conv
    assert r"\begin{bmatrix} 0 & -1 \\ 2 & 1 \end{bmatrix}" in conv  # rot180(K)
    assert hooks.bmatrix(np.array([[-0.0, 1.5]])) == r"\begin{bmatrix} 0 & 1.5 \end{bmatrix}"


def test_derivatives_table_covers_every_op():
    from tinygrad_cnn.tensor import Function

    table = hooks.gen_derivatives_table()
    classes = [cls for _, cls in hooks.op_classes()]
    assert len(classes) >= 20
    for cls in classes:
        assert issubclass(cls, Function)
        assert f"| `{cls.name}` |" in table, cls
        forward, *grads = cls.formulas()
        assert grads, f"{cls.__name__} states no gradient"
        for line in (forward, *grads):  # every formula line is in the table, typeset
            assert f"${formula_tex.to_tex(line)}$" in table, line
    assert r"$\partial E/\partial K_{ij} = X_{j} \star \partial E/\partial Y_{i}$" in table


@pytest.mark.parametrize("line, tex", [
    ("dE/dK_ij = X_j ⋆ dE/dY_i", r"\partial E/\partial K_{ij} = X_{j} \star \partial E/\partial Y_{i}"),
    ("dE/dX_j = Σ_i dE/dY_i *full K_ij",
     r"\partial E/\partial X_{j} = \sum_{i} \partial E/\partial Y_{i} *_{\text{full}} K_{ij}"),
    ("Y_i = Σ_j X_j ⋆full K_ij", r"Y_{i} = \sum_{j} X_{j} \star_{\text{full}} K_{ij}"),
    ("dE/dX = dE/dZ @ Yᵀ", r"\partial E/\partial X = \partial E/\partial Z @ Y^{\top}"),
    ("dE/dY = −dE/dZ · X / Y²", r"\partial E/\partial Y = -\partial E/\partial Z \cdot X / Y^{2}"),
    ("Y = √(V + ε)", r"Y = \sqrt{V + \varepsilon }"),
    ("Y = σ(X) = 1 / (1 + e^(−X))", r"Y = \sigma (X) = 1 / (1 + e^{-X})"),
    ("Y = X − log Σ_axis e^X", r"Y = X - \log \sum_{\text{axis}} e^{X}"),
    ("dE/dK_ij = rot180(dE/dY_i ⋆ X_j)",
     r"\partial E/\partial K_{ij} = \operatorname{rot180}(\partial E/\partial Y_{i} \star X_{j})"),
    ("dE/dX = dE/dY reshaped to the shape of X", r"\partial E/\partial X = \partial E/\partial Y \text{ reshaped to the shape of }X"),
    ("Y = X^c   (c a number)", r"Y = X^{c} \text{(c a number)}"),
    ("dE/dX = dil_s(dE/dY) *full K", r"\partial E/\partial X = \operatorname{dil}_{s}(\partial E/\partial Y) *_{\text{full}} K"),
])
def test_formula_to_tex(line: str, tex: str):
    assert formula_tex.to_tex(line) == tex


@pytest.mark.parametrize("line", ["Y = X ☃ K", "a_{b} \\ ^ ~ # & % $", "Y = ((X", "dE/dX = ⟨Y, K⟩ ∘ Z", ""])
def test_unknown_notation_never_breaks_the_table(line: str):
    """An unknown symbol is kept as text; TeX's special characters are escaped."""
    tex = formula_tex.to_tex(line)
    assert "$" not in tex.replace(r"\$", "")
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")  # balanced groups
    if "☃" in line:
        assert r"\text{☃}" in tex


def test_pictures_are_drawn_with_the_seed_numbers():
    """Each picture is an SVG; its numbers are the library's (im2col's product is the seed's output)."""
    import tinygrad_cnn as tc

    for name, make in pictures.PICTURES.items():
        svg = make()
        assert svg.startswith(b"<?xml") and b"<svg" in svg, name
        assert b"Date" not in svg, name  # the same bytes on every build
    assert np.array_equal(pictures.correlate(pictures.X, pictures.K), tc.correlate2d(pictures.X, pictures.K).data)
    cols = pictures.im2col_columns()
    assert cols.shape == (4, 4)
    assert np.array_equal((pictures.K.reshape(1, -1) @ cols).reshape(2, 2), [[8, 7], [4, 5]])
    assert np.array_equal(pictures.correlate(np.pad(pictures.X, 1), pictures.K),
                          tc.correlate2d(pictures.X, pictures.K, mode="full").data)
    strided = pictures.correlate(np.pad(pictures.STRIDE_X, 1), pictures.STRIDE_K, stride=2)
    assert np.array_equal(strided, [[14, 30], [57, 99]])
    if "stride" in inspect.signature(tc.correlate2d).parameters:  # the library's own strided conv (0.2)
        assert np.array_equal(tc.correlate2d(pictures.STRIDE_X, pictures.STRIDE_K, stride=2, padding=1).data, strided)


def test_pictures_are_on_the_learner_pages():
    text = (DOCS / "math.md").read_text(encoding="utf-8")
    for name in pictures.PICTURES:
        assert f"](generated/{name})" in text, name
        assert re.search(r"!\[[^\]]{40,}\]\(generated/" + re.escape(name), text), f"{name}: alt text too short"


def test_pytorch_idioms_run():
    """Every row of the "Coming from PyTorch" tables runs (rows marked 0.2 may be skipped while
    their names are not merged: hooks.IDIOMS_STRICT turns that off)."""
    text = (DOCS / "pytorch.md").read_text(encoding="utf-8")
    rows = hooks.idiom_rows(text)
    assert len(rows) >= 40 and all(r.code for r in rows)
    try:
        ran, skipped = hooks.run_idioms(text, "docs/pytorch.md")
    except hooks.DocBlockError as e:
        pytest.fail(f"{e}\n(cause: {e.__cause__!r})")
    assert all(r.release == "0.2" for r in skipped)
    assert ran >= 25
    if skipped:
        import warnings

        warnings.warn(f"pytorch.md: {len(skipped)} rows of 0.2 names skipped (lines {[r.line for r in skipped]})")


def test_a_broken_idiom_fails():
    page = "## Idioms\n\n| PyTorch | tinygrad_cnn | notes |\n| --- | --- | --- |\n| `a` | `1 / 0` | |\n"
    with pytest.raises(hooks.DocBlockError, match=r"t\.md:5: `1 / 0` raised ZeroDivisionError"):
        hooks.run_idioms(page, "t.md")
    page_02 = page.replace("`1 / 0` | |", "`tc_missing.thing` | **0.2** |").replace("ZeroDivision", "Name")
    with pytest.raises(hooks.DocBlockError):  # a NameError is a typo, not a missing 0.2 name
        hooks.run_idioms(page_02, "t.md")
    page_attr = page.replace("`1 / 0` | |", "`np.not_there_yet()` | **0.2** |")
    ran, skipped = hooks.run_idioms("```python\nimport numpy as np\n```\n" + page_attr, "t.md")
    assert (ran, len(skipped)) == (0, 1)


def test_api_reference_lists_the_modules():
    mods = hooks.api_modules()
    assert mods[0] == "tinygrad_cnn"
    for m in ("tinygrad_cnn.tensor", "tinygrad_cnn.autograd", "tinygrad_cnn.ops.conv", "tinygrad_cnn.gradcheck"):
        assert m in mods
    assert "::: tinygrad_cnn.ops.conv" in hooks.gen_api_reference()


def test_every_generator_marker_is_known():
    for page in PAGES:
        for name in hooks.GEN.findall(page.read_text(encoding="utf-8")):
            assert name in hooks.GENERATORS, f"{page.name}: unknown generator {name!r}"


def test_generated_files_are_real_drawings():
    for path, make in hooks.GENERATED_FILES.items():
        svg = make()
        assert b"<svg" in svg, path
        if "graph" in path:
            assert b"correlate2d" in svg, path


def test_mathjax_ships_with_the_site():
    """Math renders with no network: MathJax and its fonts are copied into the site."""
    files = hooks.mathjax_files()
    assert b"MathJax" in files["javascripts/mathjax/tex-mml-chtml.js"]
    assert any(p.endswith("MathJax_Main-Regular.woff") for p in files)
