"""Draw the graph that produced a tensor: values, gradients and each op's formulas.

`draw_graph(root)` walks back from `root` over every op's inputs and returns a
`graphviz.Digraph` (Jupyter shows it inline). Tensor nodes show their name, shape,
dtype and values (the numbers themselves for small tensors, min/mean/max otherwise),
with the gradient below in red. Op nodes show the op's formulas exactly as its class
docstring states them (`Function.applied_formulas()`: the docstring, or the variant an
option such as conv's full mode selects), so the drawing, the code and the docs
tell the same calculus.

Networks stay readable at three levels:

- composite steps (cross-entropy, a bias add, a mean: `tinygrad_cnn.viz.patterns`) are
  one node unless `expand=True`;
- `group="ops"` draws every op, each module call framed as a labelled cluster;
- `group="modules"` draws each module call at `depth` as one box (path, class, shapes in
  and out, parameter count, formula), with shapes on the edges between boxes.

Parameters are named by their path in the model (`conv1.weight`). In SVG output every
node has a tooltip: a tensor's full values and gradient (up to `TOOLTIP_MAX` elements),
an op's full formulas, a module's parameters.

Building the graph needs only the Python package; turning it into SVG/PNG/PDF needs
Graphviz's `dot` program. `render(graph, path)` and the returned graph's own
`.render()` / `.pipe()` explain how to install `dot` when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from ..tensor import Tensor
from . import _labels as L
from ._model import Model, OpNode, build, chain_of, is_leaf_scope, path_of, scope_title

__all__ = ["DOT_MISSING", "MODULE_FORMULAS", "MODULE_OPTIONS", "Graph", "draw_graph", "render"]

DOT_MISSING = (
    "Graphviz's 'dot' program was not found on PATH; it is needed to render a graph "
    "drawing to an image. Install it with 'sudo apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS), 'conda install -c conda-forge graphviz' (conda) or "
    "from https://graphviz.org/download/ (Windows), then try again. The DOT text "
    "(graph.source) is available without it."
)

# The formula a module box shows, by class name; a module class with a `formula`
# attribute (a string) shows that instead.
MODULE_FORMULAS: dict[str, str] = {
    "Conv2d": "Y = B + X ⋆ K",
    "Linear": "Y = X Wᵀ + b",
    "ReLU": "Y = max(X, 0)",
    "LeakyReLU": "Y = max(X, αX)",
    "Sigmoid": "Y = σ(X) = 1 / (1 + e^−X)",
    "Tanh": "Y = tanh X",
    "GELU": "Y = X · Φ(X)",
    "ELU": "Y = X if X > 0, else α (e^X − 1)",
    "SiLU": "Y = X · σ(X)",
    "Softplus": "Y = log(1 + e^(βX)) / β",
    "MaxPool2d": "Y = max of X over each window",
    "AvgPool2d": "Y = mean of X over each window",
    "Flatten": "(N, d1, d2, …) → (N, d1·d2·…)",
    "Reshape": "(N, …) → (N, *shape)",
    "Dropout": "Y = X · mask / (1 − p), mask_i ~ Bernoulli(1 − p)",
    "BatchNorm1d": "Y = γ (X − μ) / √(σ² + ε) + β",
    "BatchNorm2d": "Y = γ (X − μ) / √(σ² + ε) + β",
    "Softmax": "Y = e^X / Σ e^X",
    "LogSoftmax": "Y = X − log Σ e^X",
    "Identity": "Y = X",
    "CrossEntropyLoss": "E = −log softmax(Z)[label]",
    "NLLLoss": "E = −log_probs[label]",
    "BCELoss": "E = −[T log P + (1 − T) log(1 − P)]",
    "BCEWithLogitsLoss": "E = −[T log σ(Z) + (1 − T) log(1 − σ(Z))]",
    "MSELoss": "E = (P − T)²",
}


_ALWAYS = object()  # an option a box always states

# The settings a module box states under its title when they differ from the default
# given here (or always, for _ALWAYS), by class name: what makes this layer this layer.
MODULE_OPTIONS: dict[str, dict[str, object]] = {
    "Conv2d": {"kernel_size": _ALWAYS, "stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    "MaxPool2d": {"kernel_size": _ALWAYS, "stride": None, "padding": 0},
    "AvgPool2d": {"kernel_size": _ALWAYS, "stride": None, "padding": 0},
    "Dropout": {"p": _ALWAYS},
    "BatchNorm1d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True},
    "BatchNorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True},
    "LeakyReLU": {"negative_slope": _ALWAYS},
    "ELU": {"alpha": 1.0},
    "Softplus": {"beta": 1.0, "threshold": 20.0},
    "Softmax": {"axis": _ALWAYS},
    "LogSoftmax": {"axis": _ALWAYS},
    "Flatten": {"start_dim": 1, "end_dim": -1},
    **{name: {"reduction": "mean"} for name in ("CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss")},
}


def module_options(module: Any) -> str:
    """`kernel_size=5, padding=2`: the settings `MODULE_OPTIONS` lists for the module's
    class that are not at their default; pairs of one value as that value."""
    parts = []
    for key, default in MODULE_OPTIONS.get(type(module).__name__, {}).items():
        value = getattr(module, key, None)
        short = L.compact(value)
        if default is _ALWAYS or (short != default and value != default):
            parts.append(f"{key}={short!r}" if isinstance(short, str) else f"{key}={short}")
    if isinstance(getattr(module, "training", None), bool) and type(module).__name__.startswith(("Dropout", "BatchNorm")):
        parts.append("training" if module.training else "eval")
    return ", ".join(parts)


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


def _pipe_svg(graph: graphviz.Digraph) -> bytes:
    try:
        return graphviz.Digraph.pipe(graph, format="svg")
    except graphviz.ExecutableNotFound as e:
        raise RuntimeError(DOT_MISSING) from e


def _write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a reader never sees half a file
    return path


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
    return _write_atomic(path, data)


def draw_graph(
    root: Tensor,
    show_data: bool = True,
    show_grad: bool = True,
    rankdir: str = "LR",
    max_nodes: int | None = None,
    *,
    group: str = "ops",
    depth: int = 1,
    expand: bool = False,
    show_formulas: bool = True,
    precision: int = 4,
    max_side: int = 5,
    legend: bool = True,
    clusters: bool = True,
) -> Graph:
    """The graph that produced `root`, as a `graphviz.Digraph`.

    Args:
        root: the tensor to start from (usually the loss).
        show_data: print each tensor's values (small ones as matrices, others as
            min/mean/max).
        show_grad: print each tensor's `.grad` the same way, in red.
        rankdir: graphviz layout direction, "LR" (inputs left) or "TB" (inputs on top).
        max_nodes: with `group="ops"`, draw at most this many nodes (tensors and ops
            nearest to `root`, plus one "… N more nodes" node standing for the rest; the
            legend is not counted). None draws everything. The root is always drawn.
        group: "ops" draws every op (each module call framed as a labelled cluster);
            "modules" draws each module call at `depth` as one box, with the shapes
            that flow between boxes on the edges.
        depth: with `group="modules"`, how deep in the module tree the boxes are: 1 is
            the root module's children (`conv1`, `features`), 2 their children
            (`features.0`), and so on. A module without sub-modules above that depth is
            a box too; ops outside every box are drawn as ops.
        expand: draw every recorded op, also inside composite steps (cross-entropy, a
            bias add, a mean) that are otherwise one node each.
        show_formulas: print each op's forward and gradient formulas.
        precision: significant digits of printed values.
        max_side: tensors whose matrices are at most max_side × max_side (and 1-D ones
            up to 2·max_side long) print every value.
        legend: add a node explaining the colours.
        clusters: frame the ops of each module call (and the boxes of each parent
            module) in a labelled cluster.

    Returns:
        A `Graph` (a `graphviz.Digraph`): `.source` is DOT text; `.render()`, `.pipe()`
        and `tc.viz.render()` need Graphviz's `dot`. In SVG, hovering a node shows its
        tooltip: every value and gradient of a tensor up to `TOOLTIP_MAX` elements,
        every formula of an op.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if group not in ("ops", "modules"):
        raise ValueError(f"draw_graph: group must be 'ops' or 'modules', got {group!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"draw_graph: depth must be an int of at least 1, got {depth!r}")
    if group == "modules" and max_nodes is not None:
        raise ValueError("draw_graph: max_nodes applies to group='ops'; group='modules' draws every module call")

    model = build(root, expand)
    drawing = _Drawing(model, L.Format(precision, max_side), show_data, show_grad, show_formulas)
    if group == "modules":
        drawing.group_modules(depth)
    else:
        drawing.budget(max_nodes)

    g = Graph(name="tinygrad_cnn")
    g.attr(rankdir=rankdir, fontname=FONT, nodesep="0.3", ranksep="0.45")
    g.attr("node", fontname=FONT, fontsize="12", margin="0.08,0.04")
    g.attr("edge", fontname=FONT, fontsize="10", color="#555555", fontcolor="#555555", arrowsize="0.7")
    drawing.emit(g, clusters)
    if legend:
        g.node("legend", f"<{L.legend_label(show_grad, group == 'modules')}>", shape="plaintext", fontsize="10")
    return g


FONT = L.FONT


@dataclass(eq=False)
class _Box:
    """One module call drawn as one box."""

    scope: Any
    nid: str
    nodes: list[OpNode] = field(default_factory=list)


class _Drawing:
    """Which nodes are drawn, where (cluster), and the edges between them."""

    def __init__(self, model: Model, fmt: L.Format, show_data: bool, show_grad: bool, show_formulas: bool) -> None:
        self.model = model
        self.fmt = fmt
        self.show_data, self.show_grad, self.show_formulas = show_data, show_grad, show_formulas
        self.gtitle = L.grad_title(model.root)
        self.kept = list(model.tensors)  # tensors whose node (and op) may be drawn
        self.more: str | None = None
        self.hidden_note = ""
        self.boxes: dict[int, _Box] = {}  # id(scope) -> box
        self.box_of: dict[int, _Box] = {}  # id(op node) -> its box
        self.folded: set[int] = set()  # id(leaf) drawn inside a box, not as a node
        self.modules = False
        # Unnamed one-element constants (the 1 of `1 − P` in a recorded backward) are no
        # nodes: the op that reads them states them (`sub (X=1)`).
        self.numbers = {id(t) for t in model.tensors if t._ctx is None and t.name is None and not t.requires_grad
                        and t.size == 1 and t is not model.root}
        self.folded.update(self.numbers)

    # ----- what is drawn ----------------------------------------------------------
    def budget(self, max_nodes: int | None) -> None:
        """Keep the tensors nearest the root that fit into `max_nodes` (one slot kept
        for the "more" node); the root is always drawn."""

        def cost(t: Tensor) -> int:
            return 0 if id(t) in self.numbers else 1 if id(t) not in self.model.ops else 2

        order = self.model.tensors
        total = sum(cost(t) for t in order)
        if max_nodes is None or total <= max_nodes:
            return
        kept: list[Tensor] = []
        used = 0
        for t in order:
            if kept and used + cost(t) > max_nodes - 1:
                break
            kept.append(t)
            used += cost(t)
        self.kept = kept
        rest = order[len(kept):]
        hidden_ops = sum(id(t) in self.model.ops for t in rest)
        self.more = "more"
        self.hidden_note = f"… {total - used} more nodes\\n({len(rest)} tensors, {hidden_ops} ops)"

    def group_modules(self, depth: int) -> None:
        self.modules = True
        for node in self.model.ops.values():
            scope = self._box_scope(node, depth)
            if scope is None:
                continue
            box = self.boxes.get(id(scope))
            if box is None:
                box = self.boxes[id(scope)] = _Box(scope, f"m{len(self.boxes)}")
            box.nodes.append(node)
            self.box_of[id(node)] = box
        # A box's own parameters, unnamed scalars, and unnamed constants made inside the
        # module (a dropout mask, running statistics) live inside it. A constant is taken
        # for one made inside when the box also reads something else: an unnamed input
        # the box reads alone stays drawn, so the first layer keeps its input.
        spare: dict[int, list[Tensor]] = {}  # id(box) -> its unnamed constant leaves
        for t in self.model.tensors:
            users = self.model.consumers.get(id(t), [])
            if t._ctx is not None or not users:
                continue
            boxes = {id(self.box_of.get(id(n))) for n in users}
            box = self.box_of.get(id(users[0]))
            if box is None or len(boxes) != 1:
                continue
            home = self.model.homes.get(id(t))
            own = home is not None and any(s is box.scope for s in chain_of(home))
            if own or (t.name is None and not t.requires_grad and t.size == 1):
                self.folded.add(id(t))
            elif t.name is None and not t.requires_grad:
                spare.setdefault(id(box), []).append(t)
        for box in self.boxes.values():
            constants = spare.get(id(box), [])
            inside = {id(n.out) for n in box.nodes}
            others = [p for n in box.nodes for p, _ in n.inputs
                      if id(p) not in inside and id(p) not in self.folded and all(p is not c for c in constants)]
            if others:
                self.folded.update(id(c) for c in constants)

    @staticmethod
    def _box_scope(node: OpNode, depth: int) -> Any:
        named = [s for s in chain_of(node.scope) if s.name]
        if len(named) >= depth:
            return named[depth - 1]
        if named and is_leaf_scope(named[-1]):
            return named[-1]
        return None

    def drawn(self, t: Tensor) -> bool:
        """Whether tensor `t` is a node (else an edge between the nodes around it)."""
        if id(t) in self.folded:
            return False
        if not self.modules or t is self.model.root or t._ctx is None:
            return True
        return t.name is not None and id(self.model.ops[id(t)]) not in self.box_of

    # ----- Graphviz ---------------------------------------------------------------
    def emit(self, g: Graph, clusters: bool) -> None:
        """Add every node (each into the cluster of its scope) and edge to `g`."""
        self.ids = {id(t): f"t{i}" for i, t in enumerate(self.kept)}
        self.clustered = clusters
        self.places: dict[int, list[tuple[str, dict[str, str]]]] = {}  # id(scope), or 0 for none -> nodes
        self.scopes: dict[int, Any] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.seen_edges: set[tuple[str, str, int]] = set()
        self.show_missing = any(t.grad is not None for t in self.kept)
        if self.more:
            self._place(None, self.more, {"label": self.hidden_note, "shape": "box", "style": "dashed,filled",
                                          "fillcolor": L.MORE, "color": "#888888"})
        for t in self.kept:
            node = self.model.ops.get(id(t))
            box = self.box_of.get(id(node)) if node else None
            if self.drawn(t):
                self._tensor_node(t, node, box)
            if node is not None and box is None:
                self._op_node(t, node)
        for box in self.boxes.values():
            self._box_node(box)
        for nid, attrs in self.places.get(0, []):
            g.node(nid, **attrs)
        if clusters:
            for sub in self._clusters():
                g.subgraph(sub)
        for src, dst, attrs in self.edges:
            g.edge(src, dst, **attrs)

    def _place(self, scope: Any, nid: str, attrs: dict[str, str]) -> None:
        key = id(scope) if (self.clustered and scope is not None) else 0
        if key:
            for s in chain_of(scope):
                self.scopes.setdefault(id(s), s)
        self.places.setdefault(key, []).append((nid, attrs))

    def _edge(self, src: str, dst: str, t: Tensor, attrs: dict[str, str]) -> None:
        """One edge per (source, target, tensor): a box reading a tensor twice gets one."""
        if (src, dst, id(t)) not in self.seen_edges:
            self.seen_edges.add((src, dst, id(t)))
            self.edges.append((src, dst, attrs))

    def _op_id(self, t: Tensor) -> str:
        return "op" + self.ids[id(t)][1:]

    def _source(self, t: Tensor) -> str:
        """The node an edge carrying `t` starts from: t's own, or the op or box that made it."""
        if id(t) not in self.ids:
            return self.more or ""
        if self.drawn(t):
            return self.ids[id(t)]
        box = self.box_of.get(id(self.model.ops[id(t)]))
        return box.nid if box else self._op_id(t)

    def _tensor_node(self, t: Tensor, node: OpNode | None, box: _Box | None) -> None:
        model, tid = self.model, self.ids[id(t)]
        title = model.title(t)
        named = t.name is not None or id(t) in model.names
        fill = (L.OUTPUT if t is model.root else L.INTERMEDIATE if t._ctx is not None
                else L.PARAMETER if t.requires_grad else L.CONSTANT)
        label = L.tensor_label(t, title, named, self.fmt, self.show_data, self.show_grad, self.gtitle, self.show_missing)
        tooltip = L.tensor_tooltip(t, title, named, self.gtitle, self.fmt.precision, self.show_data, self.show_grad,
                                   self.show_missing)
        # a result sits in its op's cluster (beside its box), a parameter in its module's
        home = getattr(box.scope, "parent", None) if box else node.scope if node else model.homes.get(id(t))
        self._place(home, tid, {"label": f"<{label}>", "shape": "box", "style": "filled,rounded", "fillcolor": fill,
                                "penwidth": "2" if t is model.root else "1", "tooltip": L.tip(tooltip)})
        if node is not None:
            self._edge(box.nid if box else self._op_id(t), tid, t, {})

    def _op_node(self, t: Tensor, node: OpNode) -> None:
        oid = self._op_id(t)
        lines, chain = node.formulas(), node.chain()
        opts = node.options(lines[0] if self.show_formulas and lines else "")
        numbers = [f"{role}={self.fmt.num(p.data.reshape(()))}" for p, role in node.inputs if id(p) in self.numbers]
        opts = ", ".join([*numbers, opts] if opts else numbers)
        note = f"({len(chain)} ops)" if chain else ""
        self._place(node.scope, oid, {"label": f"<{L.op_label(node.name, opts, lines, self.show_formulas, note)}>",
                                      "shape": "box", "style": "filled", "fillcolor": L.OP, "color": "#4a6fa5",
                                      "tooltip": L.tip(L.op_tooltip(node.name, ", ".join(filter(None, [*numbers, node.options(every=True)])),
                                                                    lines, chain))})
        for p, role in node.inputs:  # one edge per input slot, so x*x shows two
            if id(p) in self.numbers:
                continue
            if id(p) not in self.ids:
                self.edges.append((self._source(p), oid, {"label": role, "style": "dashed"}))
            elif self.drawn(p):
                self.edges.append((self._source(p), oid, {"label": role}))
            else:  # the tensor is only an edge here: it carries its shape
                self.edges.append((self._source(p), oid, {"label": f"{role} {p.shape}".strip()}))

    def _box_node(self, box: _Box) -> None:
        self._place(getattr(box.scope, "parent", None), box.nid, self._box_attrs(box))
        inside = {id(n.out) for n in box.nodes}
        for node in box.nodes:
            for p, _ in node.inputs:
                if id(p) not in inside and id(p) not in self.folded:
                    self._edge(self._source(p), box.nid, p, {"label": str(p.shape)})

    def _box_attrs(self, box: _Box) -> dict[str, str]:
        scope, model = box.scope, self.model
        module = getattr(scope, "module", None)
        inside = {id(n.out) for n in box.nodes}
        ins: list[Tensor] = []
        outs: list[Tensor] = []
        for node in box.nodes:
            for p, _ in node.inputs:
                if id(p) not in inside and id(p) not in self.folded and all(p is not q for q in ins):
                    ins.append(p)
            users = model.consumers.get(id(node.out), [])
            if node.out is model.root or any(id(u.out) not in inside for u in users):
                outs.append(node.out)
        params = [t for t in model.tensors if id(t) in self.folded and t.requires_grad and
                  any(self.box_of.get(id(u)) is box for u in model.consumers.get(id(t), []))]
        if module is not None and callable(getattr(module, "parameters", None)):
            n_params = sum(p.size for p in module.parameters())
        else:
            n_params = sum(p.size for p in params)
        kind = type(module).__name__ if module is not None else "scope"
        formula = getattr(type(module), "formula", None) if module is not None else None
        if not isinstance(formula, str):
            formula = MODULE_FORMULAS.get(kind, "")
        path = path_of(scope) or kind
        settings = module_options(module) if module is not None else ""
        label = L.box_label(path, kind, [p.shape for p in ins], [t.shape for t in outs], n_params, formula, settings)
        lines = [f"{path}: {module!r}" if module is not None else path]
        for p in params:
            lines.append(f"{model.title(p)} {p.shape}: values {self.fmt.summary_text(p.data)}")
            if p.grad is not None:
                lines.append(f"    grad {self.fmt.summary_text(p.grad)}")
        lines.append("ops: " + ", ".join(n.name for n in reversed(box.nodes)))
        return {"label": f"<{label}>", "shape": "box", "style": "filled,rounded", "fillcolor": L.MODULE,
                "color": "#7b5aa6", "tooltip": L.tip("\n".join(lines))}

    def _clusters(self) -> list[graphviz.Digraph]:
        """One `cluster_<call>` subgraph per scope, nested as the scopes are, holding its nodes."""
        scopes, places = self.scopes, self.places
        children: dict[int, list[Any]] = {}
        tops: list[Any] = []
        for s in scopes.values():
            parent = getattr(s, "parent", None)
            if parent is None or id(parent) not in scopes:
                tops.append(s)
            else:
                children.setdefault(id(parent), []).append(s)

        def order(ss: list[Any]) -> list[Any]:
            return sorted(ss, key=lambda s: getattr(s, "call", 0))  # the order the calls were made

        def make(s: Any) -> graphviz.Digraph:
            sub = graphviz.Digraph(name=f"cluster_{getattr(s, 'call', id(s))}")
            sub.attr(label=f"<{L.esc(scope_title(s))}>", style="rounded,dashed", color="#7b5aa6", fontcolor="#5b3a86",
                     fontsize="11", labeljust="l")
            for nid, attrs in places.get(id(s), []):
                sub.node(nid, **attrs)
            for c in order(children.get(id(s), [])):
                sub.subgraph(make(c))
            return sub

        return [make(s) for s in order(tops)]
