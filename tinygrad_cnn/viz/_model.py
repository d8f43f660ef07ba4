"""What a drawing holds, before any Graphviz: the tensors and op nodes behind a root
(composite chains collapsed), the names of parameters, and which module call each op
belongs to.

Scopes come from the ops themselves: every Function created inside `tc.scope(...)` (which
`Module.__call__` opens) carries `fn.scope`, a record with `.name`, `.module`, `.parent`
and a unique `.call`; outside any scope there is none. Nothing here runs while a network
computes: a drawing reads what the forward pass recorded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..tensor import Function, Tensor
from . import _labels as L
from .patterns import Composite, match


@dataclass(eq=False)
class OpNode:
    """One op of the drawing: a recorded Function, or a composite chain of them."""

    out: Tensor
    fns: list[Function]
    inputs: list[tuple[Tensor, str]]  # (input tensor, edge label), one per input slot
    composite: Composite | None = None

    @property
    def name(self) -> str:
        return self.composite.name if self.composite else self.fns[0].name

    def formulas(self) -> list[str]:
        return self.composite.applied_formulas() if self.composite else self.fns[0].applied_formulas()

    def options(self, stated: str = "", every: bool = False) -> str:
        """Non-default options (those the `stated` formula text gives left out), or `every` one."""
        return "" if self.composite else L.options(self.fns[0], stated, every)

    def chain(self) -> list[str] | None:
        return [fn.name for fn in self.fns] if self.composite else None

    @property
    def scope(self) -> Any:
        return common_scope([getattr(fn, "scope", None) for fn in self.fns])


@dataclass
class Model:
    root: Tensor
    tensors: list[Tensor]  # drawn tensors, nearest the root first
    ops: dict[int, OpNode]  # id(output tensor) -> the op node that made it
    names: dict[int, str] = field(default_factory=dict)  # id(leaf) -> its parameter path
    homes: dict[int, Any] = field(default_factory=dict)  # id(leaf) -> the scope whose module holds it
    consumers: dict[int, list[OpNode]] = field(default_factory=dict)

    def title(self, t: Tensor) -> str:
        """A parameter's path (`conv1.weight`) unless the user gave it another name."""
        path = self.names.get(id(t))
        if path is not None and (t.name is None or path.rsplit(".", 1)[-1] == t.name):
            return path
        node = self.ops.get(id(t))
        return L.tensor_title(t, t.name or (node.name if node else None))


def build(root: Tensor, expand: bool) -> Model:
    consumers = _count_consumers(root)
    tensors: list[Tensor] = []
    ops: dict[int, OpNode] = {}
    seen = {id(root)}
    queue = deque([root])
    while queue:  # breadth-first, explicit queue: no recursion limit, nearest first
        t = queue.popleft()
        tensors.append(t)
        fn = t._ctx
        if fn is None:
            continue
        found = None if expand else match(t, consumers, root)
        if found is not None:
            node = OpNode(t, found.fns, found.inputs, found)
        else:
            letters = L.roles(fn)
            node = OpNode(t, [fn], [(p, letters[k] if k < len(letters) else str(k)) for k, p in enumerate(fn.parents)])
        ops[id(t)] = node
        for p, _ in node.inputs:
            if id(p) not in seen:
                seen.add(id(p))
                queue.append(p)
    model = Model(root, tensors, ops)
    for node in ops.values():
        for p, _ in node.inputs:
            model.consumers.setdefault(id(p), []).append(node)
    _name_parameters(model)
    return model


def _count_consumers(root: Tensor) -> dict[int, int]:
    """How many op inputs read each tensor of the full (uncollapsed) graph."""
    counts: dict[int, int] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        for p in t.parents:
            counts[id(p)] = counts.get(id(p), 0) + 1
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return counts


# ----- scopes -----------------------------------------------------------------------


def chain_of(scope: Any) -> list[Any]:
    """The scopes from the outermost down to `scope`."""
    out = []
    while scope is not None:
        out.append(scope)
        scope = getattr(scope, "parent", None)
    return out[::-1]


def path_of(scope: Any) -> str:
    """Dotted path of named scopes (`features.0`); the root module's empty name is skipped."""
    return ".".join(s.name for s in chain_of(scope) if s.name)


def common_scope(scopes: list[Any]) -> Any:
    chains = [chain_of(s) for s in scopes]
    common = None
    for level in zip(*chains):
        if any(s is not level[0] for s in level):
            break
        common = level[0]
    return common


def scope_title(scope: Any) -> str:
    path = path_of(scope)
    module = getattr(scope, "module", None)
    kind = type(module).__name__ if module is not None else ""
    return " · ".join(x for x in (path, kind) if x) or "scope"


def is_leaf_scope(scope: Any) -> bool:
    """A scope with no sub-modules: a plain `tc.scope`, or a module without children."""
    module = getattr(scope, "module", None)
    if module is None:
        return True
    children = getattr(module, "named_children", None)
    return not list(children()) if callable(children) else True


# ----- parameter names --------------------------------------------------------------


def _attribute_name(module: Any, t: Tensor) -> str | None:
    """The attribute under which `module` holds `t` directly, if it does."""
    registered = getattr(module, "_parameters", None)
    if isinstance(registered, dict):
        for name, value in registered.items():
            if value is t:
                return name
    for name, value in getattr(module, "__dict__", {}).items():
        if value is t:
            return name
    own = getattr(module, "own_parameters", None)
    if callable(own):
        for name, value in own():
            if value is t:
                return name
    return None


def _name_parameters(model: Model) -> None:
    """A leaf read by an op inside a module's scope, and held by that module (or one of
    its enclosing modules) as a direct attribute, is named `<scope path>.<attribute>`:
    the same name `named_parameters()` gives it from the root module."""
    for node in model.ops.values():
        for fn in node.fns:
            for p in fn.parents:
                if p._ctx is not None or id(p) in model.names:
                    continue
                scope = getattr(fn, "scope", None)
                while scope is not None:
                    module = getattr(scope, "module", None)
                    attr = _attribute_name(module, p) if module is not None else None
                    if attr is not None:
                        path = path_of(scope)
                        model.names[id(p)] = f"{path}.{attr}" if path else attr
                        model.homes[id(p)] = scope
                        break
                    scope = getattr(scope, "parent", None)
