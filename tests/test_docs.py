"""The docs can't rot: every python block of every page in docs/ runs, in order, per page.

Blocks of one page share a namespace (like a notebook) and run in a temporary directory.
A failure names the page and the line of the block. The generated parts of the site are
checked here too: they are computed while the site builds (scripts/docs_hooks.py), so
nothing generated is stored in docs/ where it could go stale.
"""

from __future__ import annotations

import importlib.util
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

PAGES = sorted(DOCS.glob("*.md"))


def test_there_are_pages():
    names = {p.name for p in PAGES}
    assert {"index.md", "math.md", "tutorial.md", "gradcheck.md", "visualization.md", "training.md",
            "performance.md", "derivatives.md", "api.md"} <= names


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
    assert r"dE/dK\_ij = X\_j ⋆ dE/dY\_i" in table  # escaped so Markdown keeps it literal


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
        assert b"<svg" in svg and b"correlate2d" in svg, path


def test_mathjax_ships_with_the_site():
    """Math renders with no network: MathJax and its fonts are copied into the site."""
    files = hooks.mathjax_files()
    assert b"MathJax" in files["javascripts/mathjax/tex-mml-chtml.js"]
    assert any(p.endswith("MathJax_Main-Regular.woff") for p in files)
