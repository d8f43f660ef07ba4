"""The ONNX graph under construction: a name for every tensor, nodes, initializers.

`Builder.build` walks the traced graph parents-first. Tensors that depend on an example
input become node outputs; every other tensor is a constant and becomes an initializer
the first time an op asks for it (so a weight transposed for a `Gemm` never ships twice).
Each op is written by its entry in `ops.OPS`, keyed by its Function class.

A few values are computed from tensors outside the graph: comparisons (`x > 0`, bool),
integer and bool casts (`astype`) and `argmax`/`argmin` make new constant tensors with
no `_ctx`. The trace records each of them as a `Derived` (keyed by the id of the array
it made), so a `where(x > 0, ...)` is exported as `Greater` + `Where` rather than with
the example's mask frozen in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..function import Function
from ..tensor import Tensor

# A mapper writes the nodes for one op and returns the name of its result, or
# (name, batch axis) when the op moves the batch axis (see `Builder.batch`).
Mapper = Callable[["Builder", Function, Tensor], "str | tuple[str, int | None]"]


class Derived:
    """A value made outside the graph from tensors (a comparison, a cast to an integer or
    bool dtype, an argmax): what made it, recorded during the trace. `kind` picks its
    mapper in `ops.DERIVED`; `parents` are the tensors it was computed from; the other
    attributes are its options."""

    def __init__(self, kind: str, parents: Sequence[Tensor], result: Tensor, **options: Any) -> None:
        self.kind, self.name, self.parents, self.scope = kind, kind, list(parents), None
        self.result = result  # keeps the array alive, so its id stays unique during the export
        for key, value in options.items():
            setattr(self, key, value)


@dataclass
class Notes:
    """What the trace notes beside the recorded graph."""

    derived: dict[int, Derived] = field(default_factory=dict)  # id(array) -> how that value was made
    means: set[Function] = field(default_factory=set)  # the divisions `mean` made (sum / count): one ReduceMean
    marked: list[Tensor] = field(default_factory=list)  # what the trace marked as requiring grad, oldest first


def toposort(roots: Sequence[Tensor], derived: dict[int, Derived] | None = None) -> list[Tensor]:
    """Every tensor that leads to `roots`, parents first (explicit stack: no recursion limit);
    with `derived`, also through the values made outside the graph."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        fn = t._ctx if t._ctx is not None or derived is None else derived.get(id(t._data))
        if fn is not None:
            stack.extend((p, False) for p in reversed(fn.parents) if id(p) not in seen)
    return order


def where(fn: Function, out: Tensor) -> str:
    """Where an op was made, for error messages: its scope (module path) and shapes."""
    shapes = ", ".join(str(p.shape) for p in fn.parents)
    scope = getattr(fn, "scope", None)
    place = f"in {scope.path!r}, " if scope is not None and getattr(scope, "path", None) else ""
    return f"{place}on inputs of shape {shapes} giving {out.shape}"


def graph_name(model_or_fn: Any) -> str:
    return getattr(model_or_fn, "__name__", None) or type(model_or_fn).__name__


class Builder:
    """Nodes and initializers of one ONNX graph, named after the traced tensors."""

    def __init__(self, onnx: Any, opset: int, dynamic_batch: bool, param_names: dict[int, str],
                 notes: Notes | None = None) -> None:
        self.onnx, self.helper = onnx, onnx.helper
        self.opset = opset
        self.dynamic_batch = dynamic_batch
        self.param_names = param_names
        notes = notes or Notes()
        self.derived = notes.derived  # id(array) -> how it was made
        self.means = notes.means  # the divisions `mean` made
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: dict[int, str] = {}  # id(tensor) -> the ONNX value holding it
        self.batch: dict[int, int | None] = {}  # id(tensor) -> its batch axis (dynamic_batch only)
        self.used: set[str] = set()
        self.depends: set[int] = set()  # ids of tensors computed from an example input
        self.consumers: dict[int, int] = {}  # id(tensor) -> how many recorded ops read it
        self.outputs: set[int] = set()
        self.skip: set[int] = set()  # tensors computed inside a fused node
        self._input_ids: set[int] = set()
        self._count = itertools.count()
        self._keep: list[Tensor] = []  # tensors whose id() is a key here stay alive
        self._constants: dict[tuple[str, str, tuple[int, ...]], list[tuple[str, np.ndarray]]] = {}

    # ----- names and values ---------------------------------------------------------
    def fresh(self, base: str) -> str:
        name = base
        while name in self.used:
            name = f"{base}_{next(self._count)}"
        self.used.add(name)
        return name

    def is_const(self, t: Tensor) -> bool:
        return id(t) not in self.depends

    def ctx(self, t: Tensor) -> Function | Derived | None:
        """The op that made `t`: its Function, or the record of a value made outside the graph."""
        return t._ctx if t._ctx is not None else self.derived.get(id(t._data))

    def computed_array(self, array: Any) -> bool:
        """Whether an array an op holds as an option (an index, a mask) was computed from an
        input during the trace: then it has no constant value to export."""
        fn = self.derived.get(id(array))
        if fn is None:
            return False
        inputs = self._input_ids
        return any(id(t) in inputs for t in toposort(fn.parents, self.derived))

    def name(self, t: Tensor) -> str:
        """The ONNX value holding `t`; a constant becomes an initializer on first use."""
        key = id(t)
        if key not in self.names:
            assert self.is_const(t), "a computed tensor is named before its op was written"
            self.names[key] = self.constant(t.data, self.label(t))
            self._keep.append(t)
        return self.names[key]

    def label(self, t: Tensor) -> str:
        """A readable name for a constant: its parameter name, else its own name; a constant
        folded from one other (a transposed weight) is named after that one."""
        while t._ctx is not None:
            if len(t._ctx.parents) != 1:
                return f"folded_{t.op}"
            t = t._ctx.parents[0]
        return self.param_names.get(id(t)) or t.name or "const"

    def input(self, t: Tensor, like: Tensor) -> str:
        """`t` as an input of an op whose result is `like`: converted to its dtype. numpy
        promotes mixed types (a bool mask times a float, int32 plus int64, the int64 sum of
        bools); ONNX ops want their inputs in the result's type."""
        return self.as_dtype(t, like.dtype)

    def as_dtype(self, t: Tensor, dtype: Any) -> str:
        """`t` converted to `dtype`: a converted initializer when constant, else a `Cast`."""
        if t.dtype == dtype:
            return self.name(t)
        if self.is_const(t):  # only the converted copy ships
            return self.constant(t.data.astype(dtype), f"{self.label(t)}_{np.dtype(dtype)}")
        return self.node("Cast", [self.name(t)], to=self.dtype(dtype))

    def constant(self, array: Any, base: str = "const") -> str:
        """An initializer holding `array`; the same values under the same base name ship once
        (a shared layer's bias, a weight converted for two ops)."""
        # np.array, not np.ascontiguousarray: that one turns a 0-d array into shape (1,)
        array = np.array(array, order="C")
        same = self._constants.setdefault((base, array.dtype.str, array.shape), [])
        for name, seen in same:
            if seen.tobytes() == array.tobytes():  # bytes, not ==: 0.0 and -0.0 differ, NaN is itself
                return name
        name = self.fresh(base)
        same.append((name, array))
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Sequence[int], base: str = "shape") -> str:
        return self.constant(np.asarray(list(values), dtype=np.int64), base)

    def dtype(self, dtype: Any) -> int:
        return int(self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def node(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """Append one node; returns its (single) output's name."""
        out = self.fresh(f"{self._prefix}{op_type.lower()}")
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    # ----- the walk -------------------------------------------------------------------
    def build(
        self, inputs: list[Tensor], in_names: list[str], outputs: list[Tensor], out_names: list[str], name: str
    ) -> Any:
        from .ops import DERIVED, FUSIONS, NOT_EXPORTED, OPS

        self.used.update(in_names)
        self.used.update(out_names)
        for t, n in zip(inputs, in_names):
            self.names[id(t)] = n
            self.batch[id(t)] = 0 if self.dynamic_batch else None
        order = toposort(outputs, self.derived)
        self._input_ids = {id(t) for t in inputs}
        self.depends = set(self._input_ids)
        for t in order:
            fn = self.ctx(t)
            if fn is not None and any(id(p) in self.depends for p in fn.parents):
                self.depends.add(id(t))
                for p in fn.parents:
                    self.consumers[id(p)] = self.consumers.get(id(p), 0) + 1
        for i, o in enumerate(outputs):
            if id(o) not in self.depends:
                raise ValueError(
                    f"onnx.export: output {i} of shape {o.shape} does not depend on any input "
                    "(computed under no_grad, detached, or a constant)"
                )
        self.outputs = {id(o) for o in outputs}
        fused: dict[int, Mapper] = {}
        for t in order:
            if id(t) in self.depends and t._ctx is not None:
                for pattern in FUSIONS:
                    mapper = pattern(self, t)
                    if mapper is not None:
                        fused[id(t)] = mapper
                        break
        for t in order:
            fn = self.ctx(t)
            if fn is None or id(t) not in self.depends or id(t) in self.skip:
                continue
            mapper = fused.get(id(t)) or (DERIVED[fn.kind] if isinstance(fn, Derived) else OPS.get(type(fn)))
            if mapper is None:
                reason = NOT_EXPORTED.get(type(fn).__name__)
                raise ValueError(
                    f"onnx.export: op {fn.name!r} ({type(fn).__name__}) has no ONNX form"
                    f"{f' ({reason})' if reason else ''}; it was created {where(fn, t)}"
                )
            scope = getattr(fn, "scope", None)
            self._prefix = f"{scope.path}/" if scope is not None and getattr(scope, "path", None) else ""
            result = mapper(self, fn, t)
            value, axis = result if isinstance(result, tuple) else (result, self.default_batch_axis(fn, t))
            self.names[id(t)] = value
            self.batch[id(t)] = axis
        self._prefix = ""
        return self.helper.make_graph(
            self.nodes + self._output_nodes(outputs, out_names),
            name,
            [self.value_info(n, t, self.batch[id(t)]) for t, n in zip(inputs, in_names)],
            [self.value_info(n, o, self.batch.get(id(o))) for o, n in zip(outputs, out_names)],
            self.initializers,
        )

    _prefix = ""

    def _output_nodes(self, outputs: list[Tensor], out_names: list[str]) -> list[Any]:
        """Rename each output's producing node to the output name; an Identity where
        that cannot be done (an input returned as is, one tensor returned twice)."""
        extra = []
        producers = {n.output[0]: n for n in self.nodes}
        renamed: set[str] = set()
        for o, new in zip(outputs, out_names):
            old = self.names[id(o)]
            node = producers.get(old)
            if node is not None and old not in renamed:
                node.output[0] = new
                for other in self.nodes:  # later ops that read the old name read the new one
                    for i, n in enumerate(other.input):
                        if n == old:
                            other.input[i] = new
                renamed.add(old)
                self.names[id(o)] = new
            else:
                extra.append(self.helper.make_node("Identity", [self.names[id(o)]], [new], name=new))
        return extra

    def value_info(self, name: str, t: Tensor, batch_axis: int | None) -> Any:
        dims: list[Any] = list(t.shape)
        if batch_axis is not None:
            dims[batch_axis] = "batch"
        return self.helper.make_tensor_value_info(name, self.dtype(t.dtype), dims)

    # ----- the batch axis (dynamic_batch) ---------------------------------------------------
    def batch_axis(self, t: Tensor) -> int | None:
        return self.batch.get(id(t))

    def refuse_batch(self, what: str) -> None:
        """An op that cannot hold for every batch size (it picks, pads or joins along the batch axis)."""
        raise ValueError(f"onnx.export: {what} along the batch axis cannot be exported with dynamic_batch=True")

    def refuse_two_batch_axes(self, what: str, out: Tensor) -> None:
        """An op whose result has the batch axis twice (x @ x.T): one free dimension cannot describe it."""
        raise ValueError(f"onnx.export: {what} gives {out.shape} with the batch axis twice, "
                         "which cannot be exported with dynamic_batch=True")

    def refuse_stretched_batch(self, what: str, parent: Tensor, axis: int, out: Tensor, at: int) -> None:
        """`parent`'s batch `axis` is `out`'s axis `at`: refused when a traced batch of 1 was
        broadcast there to another size, which is then not the batch size."""
        if parent.shape[axis] == 1 and out.shape[at] != 1:
            raise ValueError(
                f"onnx.export: {what} broadcasts a traced batch of 1 to {out.shape[at]} (giving {out.shape}); "
                "that size is not the batch size, so it cannot be exported with dynamic_batch=True "
                "(trace with another batch size, or without dynamic_batch)"
            )

    def default_batch_axis(self, fn: Function, out: Tensor) -> int | None:
        """Elementwise, conv, pooling: the inputs' batch axis, aligned from the right as
        broadcasting aligns shapes; inputs that bring it to two places, or a batch of 1
        broadcast to a larger size, are refused."""
        what = f"{fn.name} of shapes {', '.join(str(p.shape) for p in fn.parents)}"
        axes = set()
        for p in fn.parents:
            axis = self.batch.get(id(p))
            at = None if axis is None else axis + out.ndim - p.ndim
            if at is not None and 0 <= at < out.ndim:
                self.refuse_stretched_batch(what, p, axis, out, at)
                axes.add(at)
        if len(axes) > 1:
            self.refuse_two_batch_axes(what, out)
        return axes.pop() if axes else None
