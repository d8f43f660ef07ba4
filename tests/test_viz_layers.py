"""Drawings of the 0.2 layers and ops: a convolution's options, pooling, batch norm and
dropout boxes, numbers as op options, and LeNet-5 rendered through `dot` at both levels."""

from __future__ import annotations

import inspect
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn, viz
from tinygrad_cnn.ops.conv import Correlate2d
from tinygrad_cnn.ops.pool import AvgPool2d, MaxPool2d

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
import draw_lenet  # noqa: E402
from test_viz_modules import edges, kinds, nodes, title, titled  # noqa: E402

TOOLTIP = re.compile(r'tooltip="((?:[^"\\]|\\.)*)"')


def op_nodes(src: str) -> dict[str, str]:
    """op node id -> its attribute text."""
    return {nid: a for nid, a in nodes(src).items() if nid.startswith("op")}


def the_op(src: str, name: str) -> str:
    found = [a for a in op_nodes(src).values() if title(a) == name]
    assert len(found) == 1, (name, [title(a) for a in op_nodes(src).values()])
    return found[0]


def heading(attrs: str) -> str:
    """The first row of an op label: name and options, tags removed."""
    row = re.search(r"<TR><TD>(.*?)</TD></TR>", attrs).group(1)
    return re.sub(r"<[^>]+>", "", row).replace("&#x27;", "'")


def tooltip(attrs: str) -> str:
    return TOOLTIP.search(attrs).group(1).replace("\\n", "\n")


def label_of(attrs: str) -> str:
    return attrs.split(" tooltip=")[0]


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ----- a convolution's options -------------------------------------------------------
x4 = np.arange(36.0).reshape(1, 1, 6, 6) / 10
k4 = np.array([[[[1.0, 2, 0], [-1, 0, 1], [0.5, 0, -2]]]])


@pytest.mark.parametrize(
    "options, heading_text, variant",
    [
        ({}, "correlate2d", None),  # the seed's layer: nothing to say beyond its formula
        ({"padding": 2}, "correlate2d (padding=2)", Correlate2d.variants),
        ({"padding": (1, 2)}, "correlate2d (padding=(1, 2))", Correlate2d.variants),
        ({"stride": 2}, "correlate2d (stride=2)", Correlate2d.variants),
        ({"stride": (2, 1), "dilation": 2}, "correlate2d (stride=(2, 1), dilation=2)", Correlate2d.variants),
        ({"mode": "full"}, "correlate2d (mode='full')", ("mode", "full")),
    ],
)
def test_a_convolution_shows_its_formula_variant_and_only_its_non_default_options(options, heading_text, variant):
    x = tc.Tensor(x4, requires_grad=True, name="X")
    k = tc.Tensor(k4, requires_grad=True, name="K")
    y = tc.correlate2d(x, k, **options)
    src = tc.draw_graph(y.sum()).source
    op = the_op(src, "correlate2d")
    assert heading(op) == heading_text
    lines = y._ctx.applied_formulas()
    if variant is None:
        assert lines == Correlate2d.formulas()
    elif isinstance(variant, tuple):
        assert lines == Correlate2d.formulas(variant)
    else:  # the general variant (padding, stride, dilation)
        assert lines != Correlate2d.formulas() and "pad_p(X_j)" in lines[0]
    for line in lines:
        assert esc(line) in label_of(op)
    tip = tooltip(op)  # the tooltip states every option, defaults included
    for key in ("stride", "dilation", "groups", "padding"):
        assert f"{key}=" in tip


def test_nn_conv2d_draws_its_padding_on_the_op_and_its_settings_on_the_box():
    layer = nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(0))
    e = layer(tc.Tensor(x4, name="X")).sum()
    ops = tc.draw_graph(e).source
    assert heading(the_op(ops, "correlate2d")) == "correlate2d (padding=1)"
    boxes = tc.draw_graph(nn.Sequential(layer)(tc.Tensor(x4, name="X")).sum(), group="modules").source
    box = nodes(boxes)[titled(boxes, "0")]
    assert "kernel_size=3, padding=1" in box and "(1, 1, 6, 6) → (1, 2, 6, 6)" in box


def test_nn_conv2d_parameters_are_parameters_named_by_path():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.ReLU())
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    src = tc.draw_graph(model(tc.Tensor(x4)).sum(), show_data=False).source
    titles = [title(a) for a in nodes(src).values()]
    assert titles.count("0.weight") == 1 and titles.count("0.bias") == 1
    assert "weight" not in titles and "bias" not in titles


# ----- pooling -----------------------------------------------------------------------
@pytest.mark.parametrize("op, fn", [(MaxPool2d, tc.max_pool2d), (AvgPool2d, tc.avg_pool2d)])
def test_pooling_nodes_show_their_formulas_and_window(op, fn):
    x = tc.Tensor(x4, requires_grad=True, name="X")
    src = tc.draw_graph(fn(x, 2).sum()).source
    node = the_op(src, op.name)
    assert heading(node) == f"{op.name} (kernel_size=2)"  # stride = window and no padding: unsaid
    for line in op.formulas():
        assert esc(line) in label_of(node)
    other = tc.draw_graph(fn(x, 3, 2, 1).sum()).source
    assert heading(the_op(other, op.name)) == f"{op.name} (kernel_size=3, stride=2, padding=1)"


# ----- numbers are op options ---------------------------------------------------------
def test_a_number_operand_is_the_ops_option_stated_once():
    x = tc.Tensor(np.arange(3.0), requires_grad=True, name="x")
    src = tc.draw_graph((x * 2.5 + 1).sum()).source
    mul, add = the_op(src, "mul"), the_op(src, "add")
    assert heading(mul) == "mul" and heading(add) == "add"  # the formula line states c
    assert esc("Y = c · X") in mul and "(c = 2.5)" in mul and "(c = 1)" in add
    assert kinds(src) == {"tensor": 4, "op": 3, "module": 0}  # x, two results, the root: no node for a number
    assert "constant" not in [title(a) for a in nodes(src).values()]
    bare = tc.draw_graph((x * 2.5).sum(), show_formulas=False).source
    assert heading(the_op(bare, "mul")) == "mul (c=2.5)"  # without formulas the title says it


def test_a_one_element_constant_is_stated_by_the_op_that_reads_it():
    """Recorded backward passes read numbers as constant tensors (the 1 of 1 − P): the op
    node states them by their letter in its formulas instead of a node of their own."""
    x = tc.Tensor(np.arange(3.0), requires_grad=True, name="x")
    src = tc.draw_graph((1 - x).sum() / tc.Tensor(4.0)).source
    assert heading(the_op(src, "sub")) == "sub (X=1)" and heading(the_op(src, "div")) == "div (Y=4)"
    assert "constant" not in [title(a) for a in nodes(src).values()]
    assert "X=1" in tooltip(the_op(src, "sub"))
    four = tc.Tensor(4.0, name="four")  # a named one stays a node
    src = tc.draw_graph(x.sum() / four).source
    assert titled(src, "four") and heading(the_op(src, "div")) == "div"
    e = tc.binary_cross_entropy(x.sigmoid(), np.array([1.0, 0.0, 1.0]))
    (g,) = tc.grad(e, x, create_graph=True)
    src = tc.draw_graph(g).source
    assert "constant" not in [title(a) for a in nodes(src).values() if "() float64" in a]


def test_mean_as_a_sum_times_the_inverse_count():
    x = tc.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    assert sorted(title(a) for a in op_nodes(tc.draw_graph(x.sum(axis=1) * (1 / 3)).source).values()) == ["mean"]
    assert sorted(title(a) for a in op_nodes(tc.draw_graph(x.sum(axis=1) * 0.5).source).values()) == ["mul", "sum"]
    assert sorted(title(a) for a in op_nodes(tc.draw_graph(3 / x.sum(axis=1)).source).values()) == ["div", "sum"]


def test_a_parameter_plus_a_number_is_no_bias():
    b = tc.Tensor(np.ones(3), requires_grad=True, name="b")
    src = tc.draw_graph((b.reshape(3, 1) + 1).sum()).source
    assert sorted(title(a) for a in op_nodes(src).values()) == ["add", "reshape", "sum"]


def test_a_log_softmax_times_a_number_is_no_cross_entropy():
    z = tc.Tensor(np.array([[1.0, 2.0, 0.5]]), requires_grad=True, name="Z")
    src = tc.draw_graph(-((tc.log_softmax(z, axis=1) * 2).sum())).source
    assert "cross_entropy" not in [title(a) for a in op_nodes(src).values()]


# ----- batch norm and dropout ---------------------------------------------------------
def bn_network() -> tuple[nn.Module, tc.Tensor]:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=np.float64, rng=rng), nn.BatchNorm2d(4, dtype=np.float64), nn.ReLU(),
        nn.AvgPool2d(2), nn.Dropout(0.25, rng=rng), nn.Flatten(), nn.Linear(36, 3, dtype=np.float64, rng=rng),
    )
    e = tc.cross_entropy(model(tc.Tensor(rng.random((2, 1, 6, 6)), name="images")), np.array([0, 2]))
    e.name = "E"
    e.backward()
    return model, e


def test_batch_norm_and_dropout_boxes():
    model, e = bn_network()
    src = tc.draw_graph(e, group="modules").source
    assert kinds(src) == {"tensor": 2, "op": 1, "module": 7}  # images, E; the loss; one box per layer
    bn, drop = nodes(src)[titled(src, "1")], nodes(src)[titled(src, "4")]
    assert esc(viz.MODULE_FORMULAS["BatchNorm2d"]) in bn and "Y = γ (X − μ) / √(σ² + ε) + β" in bn
    assert "8 parameters" in bn and "training" in bn
    assert esc(viz.MODULE_FORMULAS["Dropout"]) in drop and "p=0.25, training" in drop
    assert "(2, 4, 3, 3) → (2, 4, 3, 3)" in drop  # the mask is folded into the box, not an input
    assert (titled(src, "3"), titled(src, "4"), "(2, 4, 3, 3)") in edges(src)
    assert "kernel_size=2" in nodes(src)[titled(src, "3")]
    svg = viz.Graph.pipe(tc.draw_graph(e, group="modules"), format="svg")
    assert svg.lstrip().startswith(b"<?xml")


def test_batch_norm_ops_in_its_cluster():
    model, e = bn_network()
    src = tc.draw_graph(e, show_data=False).source
    ops = [title(a) for a in op_nodes(src).values()]
    assert ops.count("mean") == 2  # the batch mean and variance: each a sum and a division
    assert "scale" in ops and "add bias" in ops  # γ and β, each with its reshape
    scale = the_op(src, "scale")
    assert sorted(label for _, b, label in edges(src) if b == _id(src, scale)) == ["G", "X"]
    assert titled(src, "1.weight") and titled(src, "1.bias")
    full = tc.draw_graph(e, show_data=False, expand=True).source
    assert [title(a) for a in op_nodes(full).values()].count("mul") > ops.count("mul")


def _id(src: str, attrs: str) -> str:
    return next(nid for nid, a in nodes(src).items() if a == attrs)


def test_every_layer_class_has_a_box_formula():
    layers = [name for name, c in vars(nn).items() if inspect.isclass(c) and issubclass(c, nn.Module)
              and name not in ("Module", "Sequential", "ModuleList")]
    assert {"Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "Dropout"} <= set(layers)
    assert [name for name in layers if name not in viz.MODULE_FORMULAS] == []
    assert viz.MODULE_FORMULAS["BatchNorm2d"] == "Y = γ (X − μ) / √(σ² + ε) + β"
    assert viz.MODULE_FORMULAS["MaxPool2d"].startswith("Y = max")


# ----- LeNet-5 rendered ---------------------------------------------------------------
def svg_pixels(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return tuple(float(root.get(k).removesuffix("pt")) * 4 / 3 for k in ("width", "height"))  # type: ignore[return-value]


def test_lenet_renders_at_both_levels():
    e, model = draw_lenet.lenet_loss(n=2)
    assert [type(m).__name__ for m in model.features] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d"]
    assert model.features[0].padding == (2, 2) and model.classifier[-1].weight.shape == (10, 84)
    ops = tc.draw_graph(e)
    svg = ops.pipe(format="svg")
    assert svg.count(b'class="node"') == len(nodes(ops.source)) + 1  # every node drawn, and the legend
    pools = [a for a in op_nodes(ops.source).values() if title(a) == "max_pool2d"]
    assert len(pools) == 2 and all(heading(a) == "max_pool2d (kernel_size=2)" for a in pools)
    convs = sorted(heading(a) for a in op_nodes(ops.source).values() if title(a) == "correlate2d")
    assert convs == ["correlate2d", "correlate2d (padding=2)"]
    boxes = tc.draw_graph(e, group="modules", depth=2, rankdir="TB", legend=False)
    assert sum(kinds(boxes.source).values()) <= 15
    width, _ = svg_pixels(boxes.pipe(format="svg"))
    assert width <= 800  # readable at 100% in the text column of a 1280 px page
    assert "kernel_size=5, padding=2" in nodes(boxes.source)[titled(boxes.source, "features.0")]
