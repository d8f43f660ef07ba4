"""Graph drawing: what the DOT text says, a real render through `dot`, and the message
a user gets when `dot` is missing."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest
from scipy import signal

import tinygrad_cnn as tc
from tinygrad_cnn import viz
from tinygrad_cnn.ops.conv import Correlate2d
from tinygrad_cnn.ops.elementwise import ReLU, Sigmoid
from tinygrad_cnn.ops.loss import BinaryCrossEntropy

X = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], dtype=float)
K = np.array([[1, 2], [-1, 0]], dtype=float)
T = np.array([[1, 0], [0, 1]], dtype=float)

NODE = re.compile(r"^\s*(t\d+|op\d+|more|legend) \[", re.M)


def seed_graph(backward: bool = True) -> dict[str, tc.Tensor]:
    x = tc.Tensor(X, requires_grad=True, name="X")
    k = tc.Tensor(K, requires_grad=True, name="K")
    t = tc.Tensor(T, name="T")
    y = tc.correlate2d(x, k)
    y.name = "Y"
    p = tc.sigmoid(y)
    p.name = "P"
    e = tc.binary_cross_entropy(p, t)
    e.name = "E"
    if backward:
        e.backward()
    return {"X": x, "K": k, "T": t, "Y": y, "P": p, "E": e}


def node_line(src: str, title: str) -> str:
    """The DOT statement of the tensor node whose bold title is `title`."""
    lines = [line for line in src.splitlines() if f"<B>{title}</B>" in line]
    assert len(lines) == 1, f"expected one node titled {title!r}, found {len(lines)}"
    return lines[0]


def node_id(src: str, title: str) -> str:
    return node_line(src, title).split()[0]


def cells(line: str, color: str) -> list[float]:
    """The numbers printed in `color` inside one node, in reading order."""
    return [float(v) for v in re.findall(rf'<FONT COLOR="{color}">([^<]*)</FONT>', line)]


def test_returns_a_digraph_with_every_tensor_and_op():
    src_graph = tc.draw_graph(seed_graph()["E"])
    assert isinstance(src_graph, graphviz.Digraph)
    src = src_graph.source
    for title in ("X", "K", "T", "Y", "P", "E", "correlate2d", "sigmoid", "binary_cross_entropy"):
        assert f"<B>{title}</B>" in src
    # 6 tensors + 3 ops + the legend
    assert len(NODE.findall(src)) == 10


def test_shapes_as_tuples_and_dtypes():
    src = tc.draw_graph(seed_graph()["E"]).source
    assert "(3, 3) float64" in node_line(src, "X")
    assert "(2, 2) float64" in node_line(src, "K")
    assert "() float64" in node_line(src, "E")
    x32 = tc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True, name="v")
    assert "(3,) float32" in node_line(tc.draw_graph((x32 * 2).sum()).source, "v")


def test_small_tensors_show_their_values_as_a_matrix():
    src = tc.draw_graph(seed_graph()["E"]).source
    y = node_line(src, "Y")
    assert cells(y, "#000000") == [8, 7, 4, 5]  # the seed's X ⋆ K, row by row
    assert y.count("<TR>") >= 2 + 2  # title, shape, then a 2-row matrix
    assert cells(node_line(src, "X"), "#000000") == X.ravel().tolist()
    assert cells(node_line(src, "K"), "#000000") == K.ravel().tolist()


def test_gradients_shown_in_their_colour_match_an_independent_reference():
    g = seed_graph()
    src = tc.draw_graph(g["E"]).source
    p = 1 / (1 + np.exp(-signal.correlate2d(X, K, mode="valid")))
    dy = (p - T) / T.size  # sigmoid followed by mean BCE
    dk = signal.correlate2d(X, dy, mode="valid")  # dE/dK = X ⋆ dE/dY
    dx = signal.convolve2d(dy, K, mode="full")  # dE/dX = dE/dY *full K
    np.testing.assert_allclose(cells(node_line(src, "Y"), viz.GRAD), dy.ravel(), rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(cells(node_line(src, "K"), viz.GRAD), dk.ravel(), rtol=1e-3)
    np.testing.assert_allclose(cells(node_line(src, "X"), viz.GRAD), dx.ravel(), rtol=1e-3, atol=1e-7)
    assert "dE/dK" in node_line(src, "K")
    assert cells(node_line(src, "T"), viz.GRAD) == []  # the target needs no gradient


def test_show_grad_and_show_data_switch_values_off():
    e = seed_graph()["E"]
    no_grad = tc.draw_graph(e, show_grad=False).source
    assert cells(node_line(no_grad, "K"), viz.GRAD) == [] and "dE/dK" not in node_line(no_grad, "K")
    assert cells(node_line(no_grad, "Y"), "#000000") == [8, 7, 4, 5]
    no_data = tc.draw_graph(e, show_data=False).source
    assert cells(node_line(no_data, "Y"), "#000000") == []
    assert len(cells(node_line(no_data, "Y"), viz.GRAD)) == 4
    bare = tc.draw_graph(e, show_data=False, show_grad=False).source
    assert "(2, 2) float64" in node_line(bare, "Y")
    assert cells(node_line(bare, "X"), "#000000") == cells(node_line(bare, "X"), viz.GRAD) == []


def test_missing_grads_are_marked_only_when_others_are_there():
    src = tc.draw_graph(seed_graph(backward=False)["E"]).source
    assert "not computed" not in src and cells(node_line(src, "K"), viz.GRAD) == []
    x = tc.Tensor([1.0, -2.0], requires_grad=True, name="x")
    y = x * 2
    y.name = "y"
    y.sum().backward()
    z = y * 3
    z.name = "z"
    src = tc.draw_graph(z).source  # x and y have a gradient, z does not
    assert cells(node_line(src, "x"), viz.GRAD) == [2, 2]
    assert "dz/dz: not computed" in node_line(src, "z")
    r = (x * 2).sum()
    r.name = "dE/dK"  # a name that is not a plain letter is bracketed
    r.backward()
    assert "d(dE/dK)/dx" in node_line(tc.draw_graph(r).source, "x")


def test_large_tensors_are_summarized_by_min_mean_max():
    a = np.arange(100.0).reshape(10, 10)
    w = tc.Tensor(a, requires_grad=True, name="W")
    e = (w * 2).sum()
    e.backward()
    line = node_line(tc.draw_graph(e).source, "W")
    assert "min 0  mean 49.5  max 99" in line
    assert "min 2  mean 2  max 2" in line  # dE/dW = 2 everywhere
    assert "<TD ALIGN=\"RIGHT\">" not in line  # no value-by-value matrix


def test_channels_are_laid_out_as_matrices():
    x = tc.Tensor(np.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2), requires_grad=True, name="K4")
    line = node_line(tc.draw_graph(x.sum(), show_grad=False).source, "K4")
    assert cells(line, "#000000") == list(range(24))
    assert "[1,2]" in line  # each (kh, kw) matrix labelled with its channel index


def test_both_edges_of_a_tensor_used_twice():
    x = tc.Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x * x
    y.name = "y"
    src = tc.draw_graph(y.sum()).source
    xid = node_id(src, "x")
    edges = re.findall(rf"^\s*{xid} -> (op\d+) \[label=(\w+)", src, re.M)
    assert len(edges) == 2 and edges[0][0] == edges[1][0]
    assert sorted(label for _, label in edges) == ["X", "Y"]  # the letters of Mul's formulas


def test_op_nodes_show_the_formulas_of_the_op_class():
    src = tc.draw_graph(seed_graph()["E"]).source
    for op in (Correlate2d, Sigmoid, BinaryCrossEntropy):
        lines = op.formulas()
        assert len(lines) >= 2  # forward, then one backward formula per input
        for line in lines:
            assert html.escape(line, quote=False) in src
    assert "mode='valid'" in src
    # the input edges name the letters the formulas use
    assert re.search(rf"{node_id(src, 'K')} -> op\d+ \[label=K_ij", src)


def test_html_is_escaped():
    x = tc.Tensor([-1.0, 2.0], requires_grad=True, name='<b>&"x')
    src = tc.draw_graph(tc.relu(x).sum()).source
    assert "&lt;b&gt;&amp;&quot;x" in src and '<b>&"x' not in src
    relu_backward = ReLU.formulas()[1]
    assert ">" in relu_backward and html.escape(relu_backward, quote=False) in src


def test_roles_are_distinguishable_by_fill_colour():
    src = tc.draw_graph(seed_graph()["E"]).source
    assert f'fillcolor="{viz.PARAMETER}"' in node_line(src, "X")
    assert f'fillcolor="{viz.CONSTANT}"' in node_line(src, "T")
    assert f'fillcolor="{viz.INTERMEDIATE}"' in node_line(src, "Y")
    assert f'fillcolor="{viz.OUTPUT}"' in node_line(src, "E")
    assert "legend" in src and "legend" not in tc.draw_graph(seed_graph()["E"], legend=False).source


def chain(n: int) -> tuple[tc.Tensor, tc.Tensor]:
    x = tc.Tensor([1.0, 2.0], requires_grad=True, name="x0")
    t = x
    for i in range(n):
        t = t * 1.001  # stays finite 3000 steps deep
        t.name = f"x{i + 1}"
    return x, t


def test_max_nodes_keeps_the_nodes_nearest_the_root():
    _, root = chain(30)  # 31 named tensors and 30 muls (the number is the op's option): 61 nodes
    full = tc.draw_graph(root, legend=False).source
    assert len(NODE.findall(full)) == 61 and "more nodes" not in full
    src = tc.draw_graph(root, max_nodes=10, legend=False).source
    assert len(NODE.findall(src)) <= 10
    drawn = len(NODE.findall(src)) - 1
    assert f"… {61 - drawn} more nodes" in src
    assert "<B>x30</B>" in src and "<B>x29</B>" in src and "<B>x0</B>" not in src
    assert re.search(r"^\s*more -> op\d+ .*dashed", src, re.M)  # the cut edge stays visible
    # the root is drawn even when nothing else fits
    assert "<B>x30</B>" in tc.draw_graph(root, max_nodes=1).source


def test_deep_graph_is_walked_without_recursion():
    _, root = chain(3000)
    src = tc.draw_graph(root, max_nodes=20).source
    assert "… " in src and "<B>x3000</B>" in src


def test_bad_arguments():
    with pytest.raises(TypeError, match="draw_graph"):
        tc.draw_graph(np.ones(3))
    with pytest.raises(ValueError, match="max_nodes"):
        tc.draw_graph(tc.Tensor(1.0), max_nodes=0)


def test_svg_render_through_dot_parses_as_xml(tmp_path):
    g = seed_graph()
    g["K"].name = '<K & "k">'  # escaping must survive dot as well
    graph = tc.draw_graph(g["E"])
    svg = ET.fromstring(graph.pipe(format="svg"))
    assert svg.tag.endswith("svg")
    texts = [el.text for el in svg.iter() if el.tag.endswith("text") and el.text]
    for v in ("8", "7", "4", "5", '<K & "k">', "correlate2d"):
        assert v in texts
    out = viz.render(graph, tmp_path / "sub" / "seed.svg")
    assert out.exists() and ET.parse(out).getroot().tag.endswith("svg")
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    graph = tc.draw_graph(seed_graph()["E"])
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for draw in (
        lambda: viz.render(graph, tmp_path / "g.svg"),
        lambda: graph.pipe(format="svg"),
        lambda: graph.render(tmp_path / "g", format="png"),
        lambda: viz.render(graphviz.Digraph(), tmp_path / "plain.png"),
        lambda: graph._repr_mimebundle_(),  # what Jupyter calls to show it inline
        lambda: viz.to_html(graph, tmp_path / "g.html"),
    ):
        with pytest.raises(RuntimeError, match="apt-get install graphviz") as info:
            draw()
        assert "brew install graphviz" in str(info.value) and "conda" in str(info.value)
    assert "<B>Y</B>" in graph.source  # DOT text needs no dot
    assert not (tmp_path / "g.svg").exists() and not (tmp_path / "g.html").exists()


def test_op_nodes_show_the_formulas_their_options_select():
    x = tc.Tensor(np.ones((3, 3)), requires_grad=True)
    y = tc.correlate2d(x, np.ones((2, 2)), mode="full")
    loss = tc.binary_cross_entropy(y.sigmoid(), np.ones(y.shape), reduction="sum")
    source = tc.draw_graph(loss).source
    assert "⋆full K_ij" in source and "*valid K_ij" in source  # full mode's formulas
    assert "*full K_ij" not in source  # not the valid-mode line
    assert "E = −Σ [T·log P" in source and "(1/n)" not in source  # reduction='sum'


def test_scope_titles_and_names_with_markup_or_control_characters_render_as_written():
    """A scope title is escaped like every other label (graphviz would read <b>...</b> as
    HTML and \\l as a line break); control characters, which dot refuses, show as �."""
    x = tc.Tensor(np.ones(3), requires_grad=True, name="\x01ctl<&>\\l")
    with tc.scope("<b>bold</b> \\l"):
        y = (x * 2).sum()
    y.backward()
    svg = tc.draw_graph(y).pipe(format="svg").decode()
    texts = ["".join(t.itertext()) for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "<b>bold</b> \\l" in texts
    assert any(t.startswith("\ufffdctl<&>\\l") for t in texts)


def test_a_clip_with_per_element_bounds_says_so():
    x = tc.Tensor(np.ones(3), requires_grad=True)
    src = tc.draw_graph(x.clip(np.zeros(3), 0.5).sum()).source
    assert "clip (lo=array(3,), hi=0.5)" in src
