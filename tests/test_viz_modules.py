"""Drawings of networks: module boxes and clusters, parameter names, composite steps.

Ops record the `tc.scope` they were created in: `Module.__call__` opens one per call,
named after the module's attribute in its parent.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn, viz
from tinygrad_cnn.grad_mode import current_scope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import draw_lenet  # noqa: E402


def test_module_calls_open_real_scopes():
    """`Module.__call__` itself tags its ops with a scope named after the module's
    attribute in its parent; the drawings below rely on nothing else."""
    model = nn.Sequential(nn.Linear(2, 2, dtype=np.float64), nn.ReLU())
    y = model(tc.Tensor(np.ones((1, 2))))
    s = y._ctx.scope
    assert (s.name, s.path, s.module) == ("1", "1", model[1])
    assert s.parent.module is model and s.parent.name == "" and s.parent.parent is None
    assert current_scope() is None  # closed again after the call


# ----- reading DOT text -------------------------------------------------------------
NODE_LINE = re.compile(r"^\s*(\w+) \[(.*)\]$", re.M)
EDGE_LINE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)


def nodes(src: str) -> dict[str, str]:
    """node id -> its attribute text (the legend and the graph defaults left out)."""
    return {nid: attrs for nid, attrs in NODE_LINE.findall(src) if nid not in ("node", "edge", "graph", "legend")}


def title(attrs: str) -> str:
    return re.search(r"<B>(.*?)</B>", attrs).group(1)


def titled(src: str, name: str) -> str:
    """The id of the one node whose bold title is `name`."""
    found = [nid for nid, attrs in nodes(src).items() if title(attrs) == name]
    assert len(found) == 1, f"expected one node titled {name!r}, found {found}"
    return found[0]


def edges(src: str) -> list[tuple[str, str, str]]:
    """(source id, target id, label) of every edge."""
    out = []
    for a, b, attrs in EDGE_LINE.findall(src):
        m = re.search(r'label=(?:"([^"]*)"|(\S+))', attrs or "")
        out.append((a, b, (m.group(1) or m.group(2)) if m else ""))
    return out


def kinds(src: str) -> dict[str, int]:
    found = {"tensor": 0, "op": 0, "module": 0}
    for nid in nodes(src):
        found["tensor" if nid.startswith("t") else "op" if nid.startswith("op") else "module"] += 1
    return found


def op_titles(src: str) -> list[str]:
    return sorted(title(a) for nid, a in nodes(src).items() if nid.startswith("op"))


def cluster_of(src: str, nid: str) -> list[str]:
    """Labels of the clusters around node `nid`, outermost first."""
    stack: list[str] = []
    for line in src.splitlines():
        s = line.strip()
        if s.startswith("subgraph cluster_"):
            stack.append("")
        elif stack and stack[-1] == "" and (m := re.search(r'\blabel=(?:"([^"]*)"|<(.*)>|(\S+))', s)):
            stack[-1] = html.unescape(m.group(1) or m.group(2) or m.group(3))
        elif s == "}" and stack:
            stack.pop()
        elif re.match(rf"^{nid} \[", s):
            return list(stack)
    raise AssertionError(f"node {nid} not found")


# ----- networks ---------------------------------------------------------------------
X = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], dtype=float)
K = np.array([[1, 2], [-1, 0]], dtype=float)
T = np.array([[1, 0], [0, 1]], dtype=float)


def seed_network() -> tuple[nn.Module, tc.Tensor]:
    """The seed's layer as modules: Y = B + X ⋆ K (one channel), P = σ(Y), E = BCE(P, T)."""
    model = nn.Sequential(nn.Conv2d(1, 1, 2, dtype=np.float64), nn.Sigmoid())
    model[0].weight.data[...] = K
    model[0].bias.data[...] = -1.0
    x = tc.Tensor(X.reshape(1, 1, 3, 3), name="X")
    e = tc.binary_cross_entropy(model(x), T.reshape(1, 1, 2, 2))
    e.name = "E"
    e.backward()
    return model, e


def test_seed_network_as_module_boxes():
    model, e = seed_network()
    src = tc.draw_graph(e, group="modules").source
    assert kinds(src) == {"tensor": 3, "op": 1, "module": 2}  # X, T, E; the loss; two layers
    conv, sig = titled(src, "0"), titled(src, "1")
    assert "Conv2d" in nodes(src)[conv] and "Sigmoid" in nodes(src)[sig]
    assert "(1, 1, 3, 3) → (1, 1, 2, 2)" in nodes(src)[conv]
    assert "5 parameters" in nodes(src)[conv]  # 2×2 kernel and one bias
    assert "Y = B + X ⋆ K" in nodes(src)[conv] and "Y = σ(X)" in nodes(src)[sig]
    assert "parameters" not in nodes(src)[sig]
    loss = titled(src, "binary_cross_entropy")
    x, E = titled(src, "X"), titled(src, "E")
    assert set(edges(src)) == {
        (x, conv, "(1, 1, 3, 3)"),
        (conv, sig, "(1, 1, 2, 2)"),
        (sig, loss, "P (1, 1, 2, 2)"),  # the loss formula's letter, and the shape
        (titled(src, "constant"), loss, "T"),
        (loss, E, ""),
    }


def test_seed_network_ops_in_clusters():
    model, e = seed_network()
    src = tc.draw_graph(e).source
    assert src.count("subgraph cluster_") == 3  # the Sequential, its conv and its sigmoid
    assert cluster_of(src, _op(src, "correlate2d")) == ["Sequential", "0 · Conv2d"]
    assert cluster_of(src, _op(src, "sigmoid")) == ["Sequential", "1 · Sigmoid"]
    assert cluster_of(src, titled(src, "0.weight")) == ["Sequential", "0 · Conv2d"]
    assert cluster_of(src, _op(src, "binary_cross_entropy")) == []  # the loss is outside the model
    conv = title(nodes(src)[_op(src, "correlate2d")])
    assert op_titles(src) == sorted(["add bias", "binary_cross_entropy", conv, "sigmoid"])
    # the seed's numbers still show: Y = X ⋆ K − 1
    assert re.findall(r'<FONT COLOR="#000000">([^<]*)</FONT>', nodes(src)["t" + _op(src, "correlate2d")[2:]]) == ["8", "7", "4", "5"]


CONV_OPS = ("correlate2d", "conv2d")  # what nn.Conv2d records, by library version


def _op(src: str, name: str) -> str:
    names = CONV_OPS if name in CONV_OPS else (name,)
    found = [nid for nid, a in nodes(src).items() if nid.startswith("op") and title(a) in names]
    assert len(found) == 1, (name, found)
    return found[0]


def test_parameters_are_named_by_their_path():
    e, model = draw_lenet.lenet_loss(n=2)
    src = tc.draw_graph(e, show_data=False, show_grad=False).source
    titles = [title(a) for a in nodes(src).values()]
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 10
    for name in names:
        assert titles.count(name) == 1, name
    assert "weight" not in titles and "bias" not in titles
    with_grads = tc.draw_graph(e, show_data=False, max_side=1).source  # the gradient is labelled by the path too
    assert "dE/dfeatures.0.weight" in with_grads and "dE/dclassifier.5.bias" in with_grads


def test_a_name_the_user_gave_is_kept():
    layer = nn.Linear(3, 2, dtype=np.float64)
    layer.weight.name = "W"
    e = layer(tc.Tensor(np.ones((1, 3)))).sum()
    src = tc.draw_graph(e).source
    assert titled(src, "W") and titled(src, "bias")  # the root module's own parameters: no path
    wrapped = nn.Sequential(layer)
    src = tc.draw_graph(wrapped(tc.Tensor(np.ones((1, 3)))).sum()).source
    assert titled(src, "W") and titled(src, "0.bias")


def test_two_calls_of_one_module_are_two_boxes():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2, dtype=np.float64)

        def forward(self, x: tc.Tensor) -> tc.Tensor:
            return self.fc(self.fc(x).relu())

    e = Twice()(tc.Tensor(np.ones((1, 2)), name="x")).sum()
    src = tc.draw_graph(e, group="modules").source
    boxes = [nid for nid in nodes(src) if nid.startswith("m")]
    assert len(boxes) == 2 and all(title(nodes(src)[b]) == "fc" for b in boxes)
    assert op_titles(src) == ["relu", "sum"]  # the root's own ops are drawn as ops
    ops_src = tc.draw_graph(e).source
    assert op_titles(ops_src).count("linear") == 2
    assert len([t for t in (title(a) for a in nodes(ops_src).values()) if t == "fc.weight"]) == 1  # one shared leaf


def lenet_shapes(model: nn.Module, x: np.ndarray) -> list[tuple[int, ...]]:
    """The shape after each layer, computed layer by layer (no drawing involved)."""
    shapes = [x.shape]
    t = tc.Tensor(x)
    for layer in list(model.features) + list(model.classifier):
        t = layer(t)
        shapes.append(t.shape)
    return shapes


def test_lenet_at_module_level():
    e, model = draw_lenet.lenet_loss(n=2)
    src = tc.draw_graph(e, group="modules", depth=2, legend=False).source
    layers = list(model.features) + list(model.classifier)
    assert kinds(src) == {"tensor": 2, "op": 1, "module": len(layers)}  # images, E; cross-entropy
    assert sum(kinds(src).values()) <= 15
    shapes = lenet_shapes(model, draw_lenet.digits(2)[0])
    box_ids = []
    for i, layer in enumerate(layers):
        path = f"features.{i}" if i < len(model.features) else f"classifier.{i - len(model.features)}"
        nid = titled(src, path)
        box_ids.append(nid)
        attrs = nodes(src)[nid]
        assert type(layer).__name__ in attrs
        assert f"{shapes[i]} → {shapes[i + 1]}" in attrs
        n = sum(p.size for p in layer.parameters())
        assert (f"{n:,} parameters" in attrs) == (n > 0)
        assert viz.MODULE_FORMULAS[type(layer).__name__] in attrs
    found = edges(src)
    for i in range(len(layers) - 1):  # a chain of boxes, each edge labelled with the shape between
        assert (box_ids[i], box_ids[i + 1], str(shapes[i + 1])) in found
    assert (titled(src, "images"), box_ids[0], str(shapes[0])) in found
    assert (box_ids[-1], titled(src, "cross_entropy"), f"Z {shapes[-1]}") in found


def test_depth_one_boxes_the_two_halves():
    e, model = draw_lenet.lenet_loss(n=2)
    src = tc.draw_graph(e, group="modules", depth=1).source
    assert kinds(src)["module"] == 2
    for half in ("features", "classifier"):
        attrs = nodes(src)[titled(src, half)]
        assert "Sequential" in attrs
        assert f"{sum(p.size for p in getattr(model, half).parameters()):,} parameters" in attrs
    assert (titled(src, "features"), titled(src, "classifier"), str(model.features(tc.Tensor(draw_lenet.digits(2)[0])).shape)) in edges(src)


def test_a_formula_attribute_and_a_plain_scope():
    class Square(nn.Module):
        formula = "Y = X²"

        def forward(self, x: tc.Tensor) -> tc.Tensor:
            return x * x

    x = tc.Tensor(np.arange(3.0), requires_grad=True, name="x")
    y = nn.Sequential(Square())(x)
    with tc.scope("head"):
        e = (y * 2).sum()
    src = tc.draw_graph(e, group="modules").source
    assert "Y = X²" in nodes(src)[titled(src, "0")]
    head = nodes(src)[titled(src, "head")]
    assert "scope" in head and "(3,) → ()" in head
    assert kinds(src) == {"tensor": 2, "op": 0, "module": 2}


# ----- composite steps --------------------------------------------------------------


def recorded_ops(root: tc.Tensor) -> list[str]:
    """The names of every op recorded behind `root`, from the graph itself."""
    names, seen, stack = [], set(), [root]
    while stack:
        t = stack.pop()
        if t._ctx is not None and id(t._ctx) not in seen:
            seen.add(id(t._ctx))
            names.append(t._ctx.name)
            stack.extend(t._ctx.parents)
    return sorted(names)


def test_cross_entropy_is_one_node_unless_expanded():
    z = tc.Tensor(np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]]), requires_grad=True, name="Z")
    e = tc.cross_entropy(z, np.array([1, 2]))
    e.backward()
    src = tc.draw_graph(e).source
    assert op_titles(src) == ["cross_entropy"]
    assert kinds(src) == {"tensor": 2, "op": 1, "module": 0}  # no one-hot matrix, no divisor
    op = nodes(src)[_op(src, "cross_entropy")]
    assert f"({len(recorded_ops(e))} ops)" in op and "E = −(1/N) Σ_n log softmax(Z)_n,y_n" in op and "dE/dZ = (softmax(Z) − onehot(y)) / N" in op
    assert (titled(src, "Z"), _op(src, "cross_entropy"), "Z") in edges(src)
    full = tc.draw_graph(e, expand=True).source
    assert len(recorded_ops(e)) >= 2 and op_titles(full) == recorded_ops(e)  # log_softmax and the rest
    assert kinds(full)["tensor"] > 2
    for reduction, forward in (("sum", "E = −Σ_n log softmax(Z)_n,y_n"),):
        try:
            summed = tc.cross_entropy(z, np.array([1, 2]), reduction=reduction)
        except TypeError:  # cross_entropy without reduction=: nothing more to check
            break
        src = tc.draw_graph(summed).source
        assert op_titles(src) == ["cross_entropy"] and forward in nodes(src)[_op(src, "cross_entropy")]


def test_bias_add_and_linear_are_one_node_each():
    x = tc.Tensor(np.ones((1, 1, 3, 3)), name="x")
    conv = nn.Conv2d(1, 2, 2, dtype=np.float64)
    fc = nn.Linear(8, 1, dtype=np.float64)
    e = fc(conv(x).reshape(1, 8)).sum()
    src = tc.draw_graph(e).source
    conv_op = title(nodes(src)[_op(src, "correlate2d")])
    assert op_titles(src) == sorted(["add bias", conv_op, "linear", "reshape", "sum"])
    assert op_titles(tc.draw_graph(e, expand=True).source) == recorded_ops(e)
    bias = nodes(src)[_op(src, "add bias")]
    assert "Y = X + B" in bias and "dE/dB = Σ dE/dY over the broadcast axes" in bias
    assert "Y = X Wᵀ + b" in nodes(src)[_op(src, "linear")]
    assert sorted(label for _, b, label in edges(src) if b == _op(src, "linear")) == ["W", "X", "b"]


def test_mean_is_one_node_but_a_sum_over_another_count_is_not():
    x = tc.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    assert op_titles(tc.draw_graph(x.mean(axis=1)).source) == ["mean"]
    assert op_titles(tc.draw_graph(x.mean(axis=1), expand=True).source) == recorded_ops(x.mean(axis=1))
    assert op_titles(tc.draw_graph(x.sum(axis=1) / 2).source) == ["div", "sum"]


def test_a_named_or_shared_intermediate_keeps_its_ops():
    x = tc.Tensor(np.arange(6.0), requires_grad=True, name="x")
    s = x.sum()
    s.name = "total"
    assert op_titles(tc.draw_graph(s / 6).source) == ["div", "sum"]
    t = x.sum()
    assert op_titles(tc.draw_graph(t / 6 + t).source) == ["add", "div", "sum"]


def test_every_pattern_is_documented():
    """The patterns live in one table; each states a forward and one gradient per input."""
    for p in viz.PATTERNS:
        assert p.formulas[0].startswith(("Y =", "E =")), p.name
        assert len(p.formulas) == 1 + 1 + len(p.side_roles), p.name
    assert "cross_entropy" in (viz.patterns.__doc__ or "")


def test_bad_grouping_arguments():
    e = (tc.Tensor([1.0, 2.0], requires_grad=True) * 2).sum()
    with pytest.raises(ValueError, match="group must be 'ops' or 'modules', got 'layers'"):
        tc.draw_graph(e, group="layers")
    with pytest.raises(ValueError, match="depth must be an int of at least 1, got 0"):
        tc.draw_graph(e, group="modules", depth=0)
    with pytest.raises(ValueError, match="max_nodes applies to group='ops'"):
        tc.draw_graph(e, group="modules", max_nodes=5)


def test_without_scopes_the_module_view_draws_ops_with_shapes_on_the_edges():
    """Plain code (no module, no tc.scope): no boxes; unnamed results become edges."""
    x = tc.Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    e = (x.relu() * 2).sum()
    src = tc.draw_graph(e, group="modules").source
    assert kinds(src) == {"tensor": 2, "op": 3, "module": 0}  # x and e (the 2 is the mul's option)
    relu, mul = _op(src, "relu"), _op(src, "mul")
    assert (relu, mul, "X (2, 3)") in edges(src)


def test_a_log_softmax_layer_and_a_loss_layer_stay_two_boxes():
    """log_softmax then nll_loss is drawn as one cross-entropy step only when one module
    made both; made by two layers, each keeps its box."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.tail, self.crit = nn.Linear(4, 3), nn.LogSoftmax(1), nn.NLLLoss()

        def forward(self, x, y):
            return self.crit(self.tail(self.body(x)), y)

    loss = Net()(np.ones((2, 4), np.float32), np.array([0, 2]))
    loss.backward()
    src = tc.draw_graph(loss, group="modules").source
    assert all(re.search(rf"\b{name}\b", src) for name in ("body", "tail", "crit"))
