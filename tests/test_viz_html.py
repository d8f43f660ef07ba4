"""What a reader gets from a rendered drawing: tooltips with every value and formula in
the SVG, and the explorable HTML page (checked in headless Chromium when one is
installed: `apt-get install chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import viz
from tinygrad_cnn.ops.conv import Correlate2d

XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
X = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], dtype=float)
K = np.array([[1, 2], [-1, 0]], dtype=float)


def seed_loss() -> tuple[tc.Tensor, tc.Tensor, tc.Tensor]:
    x = tc.Tensor(X, requires_grad=True, name="X")
    k = tc.Tensor(K, requires_grad=True, name="K")
    e = tc.binary_cross_entropy(tc.correlate2d(x, k).sigmoid(), np.eye(2))
    e.name = "E"
    e.backward()
    return e, x, k


def tooltips(graph: tc.viz.Graph) -> dict[str, str]:
    """Graphviz node id (the SVG <title>) -> the tooltip of that node."""
    svg = ET.fromstring(graph.pipe(format="svg"))
    out = {}
    for g in svg.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "node":
            continue
        nid = g.find("{http://www.w3.org/2000/svg}title").text
        a = next((el for el in g.iter() if el.get(XLINK_TITLE)), None)
        out[nid] = (a.get(XLINK_TITLE) if a is not None else "").replace("\xa0", " ")  # dot writes "  " as " &#160;"
    return out


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", text)]


def section(tip: str, start: str, end: str | None = None) -> str:
    body = tip.split(start, 1)[1]
    return body.split(end, 1)[0] if end else body


def test_hovering_a_tensor_shows_every_value_and_gradient():
    e, x, k = seed_loss()
    tips = tooltips(tc.draw_graph(e))
    tip = next(t for t in tips.values() if t.startswith("X "))
    assert "(3, 3) float64" in tip
    assert numbers(section(tip, "values:", "dE/dX")) == X.ravel().tolist()
    np.testing.assert_allclose(numbers(section(tip, "dE/dX:")), x.grad.ravel(), rtol=1e-3, atol=1e-6)


def test_tooltips_list_up_to_the_documented_size_then_summarize():
    side = int(np.sqrt(viz.TOOLTIP_MAX))  # 20 × 20 = 400 values
    a = tc.Tensor(np.arange(side * side, dtype=float).reshape(side, side) / 7, requires_grad=True, name="A")
    b = tc.Tensor(np.arange(viz.TOOLTIP_MAX + 1, dtype=float), requires_grad=True, name="B")
    e = (a * 3).sum() + (b * 2).sum()
    e.name = "E"
    e.backward()
    graph = tc.draw_graph(e)
    tips = tooltips(graph)
    tip_a = next(t for t in tips.values() if t.startswith("A "))
    np.testing.assert_allclose(numbers(section(tip_a, "values:", "dE/dA")), a.data.ravel(), rtol=1e-3)
    assert numbers(section(tip_a, "dE/dA:")) == [3.0] * viz.TOOLTIP_MAX
    tip_b = next(t for t in tips.values() if t.startswith("B "))
    assert f"({viz.TOOLTIP_MAX + 1} values; tooltips list up to {viz.TOOLTIP_MAX})" in tip_b
    assert "min 0  mean 200  max 400" in tip_b and "min 2  mean 2  max 2" in tip_b
    # the label itself stays a summary: the 400 values are only in the tooltip
    label_a = next(line for line in graph.source.splitlines() if "<B>A</B>" in line).split("tooltip=")[0]
    assert "min 0" in label_a and "ALIGN=\"RIGHT\"" not in label_a


def test_hovering_an_op_shows_all_its_formulas():
    e, _, _ = seed_loss()
    tips = tooltips(tc.draw_graph(e, show_formulas=False))  # even when the label omits them
    tip = next(t for nid, t in tips.items() if nid.startswith("op") and t.startswith("correlate2d"))
    assert "mode='valid'" in tip
    for line in Correlate2d.formulas():
        assert line in tip


def test_a_composite_tooltip_names_the_ops_it_stands_for():
    z = tc.Tensor(np.array([[1.0, 2.0], [0.5, -1.0]]), requires_grad=True)
    e = tc.cross_entropy(z, np.array([0, 1]))
    chain, t = [], e
    while t._ctx is not None:  # the recorded chain, from the loss back to the logits
        chain.insert(0, t._ctx.name)
        t = next(p for p in t._ctx.parents if p._ctx is not None or p is z)
    tips = tooltips(tc.draw_graph(e))
    tip = next(t for nid, t in tips.items() if nid.startswith("op") and t.startswith("cross_entropy"))
    assert chain[0] == "log_softmax" and " → ".join(chain) + " (expand=True draws each)" in tip


# ----- the HTML page ----------------------------------------------------------------


def test_the_page_is_one_self_contained_file(tmp_path: Path):
    e, _, _ = seed_loss()
    path = viz.to_html(tc.draw_graph(e), tmp_path / "sub" / "seed.html", title="the seed <graph>")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<title>the seed &lt;graph&gt;</title>" in text
    assert text.count("<svg") == 1 and "<?xml" not in text and "<!DOCTYPE svg" not in text
    # nothing is fetched: the only URLs are the SVG's XML namespace names
    assert set(re.findall(r"https?://[^\"'\s)]+", text)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", text)
    script = text.split("<script>")[1].split("</script>")[0]
    assert 40 < len(script.strip().splitlines()) <= 120  # small enough to read
    assert "correlate2d" in text and not list((tmp_path / "sub").glob("*.tmp"))


def test_the_page_takes_svg_text_and_refuses_anything_else(tmp_path: Path):
    svg = tc.draw_graph(seed_loss()[0]).pipe(format="svg")
    assert "<svg" in viz.to_html(svg, tmp_path / "a.html").read_text()
    assert "<svg" in viz.to_html(svg.decode(), tmp_path / "b.html").read_text()
    with pytest.raises(ValueError, match="no <svg>"):
        viz.to_html("<p>not a drawing</p>", tmp_path / "c.html")
    with pytest.raises(TypeError, match="to_html"):
        viz.to_html(42, tmp_path / "d.html")  # type: ignore[arg-type]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (apt-get install chromium) to open the page headless")


def headless(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,800"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


def test_the_page_shows_the_drawing_in_a_browser(tmp_path: Path):
    """Opened on a search, the page shows the drawing centred on the match, outlined."""
    plt = pytest.importorskip("matplotlib.pyplot")
    e, _, _ = seed_loss()
    e.name = "E"
    page = viz.to_html(tc.draw_graph(e), tmp_path / "seed.html")
    shot = tmp_path / "shot.png"
    headless(f"--screenshot={shot}", page.as_uri() + "#find=correlate2d")
    pixels = (plt.imread(str(shot))[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (800, 1280)
    drawing = pixels[50:]  # below the search bar
    assert (drawing < 250).any(axis=-1).mean() > 0.02  # ink, not a blank page

    def count(hex_colour: str) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(drawing - rgb).sum(axis=-1) <= 6).sum())

    assert count(viz.OP) > 2000  # the matched op node, in its own colour, on screen
    assert count("#e0301e") > 200  # its red outline


def test_the_search_highlights_a_named_node(tmp_path: Path):
    e, _, _ = seed_loss()
    page = viz.to_html(tc.draw_graph(e), tmp_path / "seed.html")
    dom = headless("--dump-dom", page.as_uri() + "#find=correlate2d").stdout
    assert 'data-ready="1"' in dom  # the script ran to its end
    assert 'data-hits="2"' in dom  # the op and the tensor it made (titled by the op)
    assert len(re.findall(r'class="node hit"', dom)) == 2 and 'class="node dim"' in dom


# ----- the drawings on the visualization page ---------------------------------------
DOCS = Path(__file__).resolve().parents[1] / "docs"
SIZE_NOTE = re.compile(r"\*(\w+\.svg): (\d+) × (\d+) px\*")


def svg_pixels(path: Path) -> tuple[int, int]:
    """Width and height in CSS pixels of an SVG drawn by dot (its sizes are in pt, 1 pt = 4/3 px)."""
    root = ET.parse(path).getroot()
    return tuple(round(float(root.get(k).removesuffix("pt")) * 4 / 3) for k in ("width", "height"))  # type: ignore[return-value]


def test_the_page_states_each_drawings_measured_size():
    page = (DOCS / "visualization.md").read_text(encoding="utf-8")
    notes = {name: (int(w), int(h)) for name, w, h in SIZE_NOTE.findall(page)}
    assert {"seed_graph.svg", "lenet_modules.svg", "lenet_ops.svg", "gradient_graph.svg"} <= set(notes)
    for name, size in notes.items():
        assert f"images/{name})" in page, f"{name} has a size note but is not shown"
        assert svg_pixels(DOCS / "images" / name) == size, f"{name}: the page says {size}"
    # the module-level LeNet is read at 100% zoom: narrower than the text column of a 1280 px page
    assert notes["lenet_modules.svg"][0] <= 800


def test_the_explorable_pages_are_on_the_site_and_linked():
    page = (DOCS / "visualization.md").read_text(encoding="utf-8")
    for name in ("lenet_ops.html", "gradient_graph.html"):
        path = DOCS / "explore" / name
        assert f"(explore/{name})" in page
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 1
