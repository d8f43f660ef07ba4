"""`export`: trace one forward pass, walk its graph, write the ONNX model.

The graph is only recorded for ops that have an input requiring grad, so the trace
runs on fresh Tensors holding the example inputs' data with `requires_grad=True`
(the caller's tensors are left as they were) and in grad mode. Every op downstream of
an input is then recorded; an op on parameters and constants alone is either recorded
(a parameter requires grad) or not (plain constants), and either way its result is a
constant of the exported model: it is folded into one initializer.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import function as _function
from ..function import Function
from ..grad_mode import state
from ..ops import elementwise as E
from ..tensor import Tensor
from .builder import Builder, Derived, Notes, graph_name

DEFAULT_OPSET = 18  # Reduce* take their axes as an input from here on; every major runtime runs it
MIN_OPSET = 13  # Softmax over one axis, ReduceSum's axes as an input, Clip's bounds as inputs


def _require_onnx() -> Any:
    try:
        import onnx  # noqa: F401  (the real package: this module's absolute import)
    except ImportError as e:
        raise ImportError(
            "tc.onnx.export needs the onnx package: pip install 'tinygrad_cnn[onnx]'"
        ) from e
    return onnx


def _as_inputs(example_inputs: Any) -> list[Tensor]:
    items = [example_inputs] if isinstance(example_inputs, (Tensor, np.ndarray)) else list(example_inputs)
    tensors = []
    for i, x in enumerate(items):
        t = x if isinstance(x, Tensor) else Tensor(x) if isinstance(x, np.ndarray) else None
        if t is None:
            raise TypeError(f"onnx.export: example input {i} is a {type(x).__name__}, not a Tensor")
        if t.dtype.kind != "f":
            raise TypeError(f"onnx.export: example input {i} has dtype {t.dtype}; inputs must be float tensors")
        tensors.append(t)
    if not tensors:
        raise ValueError("onnx.export: give at least one example input")
    return tensors


def _as_outputs(result: Any) -> list[Tensor]:
    outs = [result] if isinstance(result, Tensor) else list(result) if isinstance(result, (tuple, list)) else None
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"onnx.export: the model must return a Tensor or a tuple of Tensors, got {type(result).__name__}")
    return outs


def _names(given: Sequence[str] | None, n: int, base: str, what: str) -> list[str]:
    if given is None:
        return [base] if n == 1 else [f"{base}_{i}" for i in range(n)]
    names = [given] if isinstance(given, str) else list(given)
    if len(names) != n or len(set(names)) != n or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"onnx.export: {what} must be {n} distinct non-empty strings, got {given!r}")
    return names


@contextlib.contextmanager
def _recording(notes: Notes) -> Iterator[None]:
    """While tracing, values made outside the graph (comparisons, integer/bool casts,
    argmax/argmin) are noted in `notes` with what they were computed from, through the
    library's `outside_graph` hook (`tc.grad_mode`), set for this thread only; so are the
    divisions that end a `mean`.

    A value made from traced tensors is marked as requiring grad for the trace, so the
    ops that read it are recorded even when nothing else they read is traced
    (`where(x > 0, 1.0, -1.0)`). Each tensor that carries a mark (the traced inputs, these
    values, and every result of an op on a marked tensor, told by the op hook
    `function._trace_hook`) is listed in `notes.marked`, for `_unmark` after the export.
    """
    marked = {id(t) for t in notes.marked}  # the listed tensors stay alive: their ids stay theirs

    def note_op(fn: Function, out: Tensor) -> None:
        if any(id(p) in marked for p in fn.parents):
            marked.add(id(out))
            notes.marked.append(out)

    def note(kind: str, parents: list[Any], out: Tensor, **options: Any) -> None:
        tensors = [p for p in parents if isinstance(p, Tensor)]
        if any(p.requires_grad for p in tensors):  # made from the traced graph, not from constants alone
            notes.derived[id(out._data)] = Derived(kind, tensors, out, **options)
            out._requires_grad = True  # a trace-only mark, bool/int data included
            marked.add(id(out))
            notes.marked.append(out)

    def where(cond: Any, a: Tensor, b: Tensor, out: Tensor) -> Tensor | None:
        # A bool Tensor requires grad only by the trace's mark: it was computed from traced
        # values (a comparison, maybe transposed, reshaped or sliced since). The library's op
        # holds a constant copy of it; record the op again on the condition itself.
        if not isinstance(cond, Tensor) or not cond.requires_grad:
            return None
        return E.Where.apply(cond, a, b)

    def refuse_computed_index(x: Tensor, idx: Any) -> None:
        # an index Tensor that requires grad carries the trace's mark (see `where`)
        for item in idx if isinstance(idx, tuple) else (idx,):
            if isinstance(item, Tensor) and item.requires_grad and item.dtype.kind in "biu":
                if item.dtype == np.bool_:
                    kind = "a boolean mask"
                    why = "the result's shape would depend on the values; use tc.where(mask, x, 0)"
                else:
                    kind = "an index array"
                    why = "the file would hold the example's indices; index with a constant"
                raise ValueError(
                    f"onnx.export: indexing a tensor of shape {x.shape} with {kind} computed from the input "
                    f"(or the parameters) has no ONNX form here ({why} instead)"
                )

    def hook(kind: str, parents: list[Any], out: Any, **options: Any) -> Tensor | None:
        if kind == "getitem":
            refuse_computed_index(parents[0], options["index"])
        elif kind == "where":
            return where(*parents, out)
        elif kind == "mean":
            if out._ctx is not None:
                notes.means.add(out._ctx)
        else:
            note(kind, parents, out, **options)
        return None

    saved = state.trace
    state.trace = hook
    with _tracing_lock:
        _tracing.append(note_op)
        _function._trace_hook = _tell_every_trace
    try:
        yield
    finally:
        state.trace = saved
        with _tracing_lock:  # exports in other threads may end in any order
            _tracing.remove(note_op)
            _function._trace_hook = _tell_every_trace if _tracing else None


# The op hooks of the exports tracing now, in any thread (the op hook is process-wide).
_tracing: list[Callable[[Function, Tensor], None]] = []
_tracing_lock = threading.Lock()


def _tell_every_trace(fn: Function, out: Tensor) -> None:
    for note_op in tuple(_tracing):
        note_op(fn, out)


def _unmark(marked: list[Tensor], grad_enabled: bool) -> None:
    """Take the trace's marks off, oldest first. A tensor keeps requires_grad (and its
    graph) only when it would have had them without the trace: a float made in grad mode
    by an op on something that requires grad of its own (a parameter)."""
    for t in marked:
        fn = t._ctx
        if not (grad_enabled and t.dtype.kind == "f" and fn is not None and any(p._requires_grad for p in fn.parents)):
            t._requires_grad, t._ctx = False, None


def trace(
    model_or_fn: Callable[..., Any], inputs: list[Tensor], notes: Notes | None = None
) -> tuple[list[Tensor], list[Tensor]]:
    """One forward pass that records every op downstream of the inputs.

    Returns the traced inputs (fresh Tensors sharing the examples' data) and the outputs.
    A Module runs in eval mode (Dropout off, BatchNorm on its running statistics); it and
    each sub-module are put back in the mode each was in. Values made outside the graph
    (comparisons, integer casts, argmax), the divisions that end a mean and every tensor
    marked for the trace are noted in `notes` when it is given; the marks stay until
    `_unmark` takes them off.
    """
    from ..grad_mode import grad_mode

    notes = notes if notes is not None else Notes()
    traced = []
    for x in inputs:
        t = Tensor._make(x.data, requires_grad=True)
        t.name = x.name
        traced.append(t)
    notes.marked.extend(traced)
    modes = _modes(model_or_fn)
    if callable(getattr(model_or_fn, "eval", None)):
        model_or_fn.eval()  # type: ignore[attr-defined]
    try:
        with grad_mode(True), _recording(notes):
            outputs = _as_outputs(model_or_fn(*traced))
    finally:
        if modes and callable(getattr(model_or_fn, "train", None)):
            model_or_fn.train(modes[0][1])  # type: ignore[attr-defined]
        for module, training in modes[1:]:  # a sub-module may have had a mode of its own
            object.__setattr__(module, "training", training)
    return traced, outputs


def _modes(model_or_fn: Any) -> list[tuple[Any, bool]]:
    """(module, its `training` flag) for the model, then each sub-module below it."""
    if not isinstance(getattr(model_or_fn, "training", None), bool):
        return []
    modules = model_or_fn.modules() if callable(getattr(model_or_fn, "modules", None)) else [model_or_fn]
    return [(model_or_fn, model_or_fn.training)] + [
        (m, m.training) for m in modules if m is not model_or_fn and isinstance(getattr(m, "training", None), bool)
    ]


def export(
    model_or_fn: Callable[..., Any],
    example_inputs: Any,
    path: str | os.PathLike[str],
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
) -> Any:
    """Write the graph of `model_or_fn(*example_inputs)` to `path` as an ONNX model.

    Args:
        model_or_fn: a Module (run in eval mode) or any function of Tensors returning a
            Tensor or a tuple of Tensors (a module it calls keeps its mode: call
            `model.eval()` first, or Dropout's mask is frozen into the file).
        example_inputs: a Tensor (or float ndarray), or a tuple of them; float32 inputs
            give a float32 model.
        path: the `.onnx` file to write.
        input_names: the graph's input names (default `input`, numbered `input_0`,
            ... when there are several).
        output_names: the graph's output names (default `output`, likewise).
        opset: the ONNX opset (default `DEFAULT_OPSET`, at least `MIN_OPSET`).
        dynamic_batch: mark axis 0 of every input as a free dimension `batch`, so the
            model runs on any batch size. Reshapes keep the batch axis (written as 0,
            "copy this dimension"), and a mean, var or std over it counts it at run time
            (a sum divided by a number stays that division); an op that cannot hold for
            every batch size (a reshape that merges the batch axis with another, an index
            along it other than `:`, a result with two batch axes, a traced batch of 1
            broadcast to a larger size) cannot be exported this way and raises `ValueError`.

    Returns:
        The `onnx.ModelProto` written (already checked by `onnx.checker`, types and shapes too).

    Raises:
        ValueError: an op with no ONNX form (naming the op and where it was created),
            a graph the full check of `onnx.checker` refuses (naming the node), an output
            that does not depend on any input, bad names or opset.
        ImportError: the `onnx` package is missing (`pip install tinygrad_cnn[onnx]`).
    """
    onnx = _require_onnx()
    if opset is None:
        opset = DEFAULT_OPSET
    elif isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise ValueError(f"onnx.export: opset must be an integer, got {opset!r}")
    opset = int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"onnx.export: opset {opset} is not supported; use {MIN_OPSET} to {newest}")
    inputs = _as_inputs(example_inputs)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    notes = Notes()
    grad_enabled = state.enabled
    try:
        traced, outputs = trace(model_or_fn, inputs, notes)
        out_names = _names(output_names, len(outputs), "output", "output_names")
        if set(in_names) & set(out_names):
            raise ValueError(f"onnx.export: {sorted(set(in_names) & set(out_names))} name both an input and an "
                             "output (every ONNX value has one name)")
        params = model_or_fn.named_parameters() if callable(getattr(model_or_fn, "named_parameters", None)) else []
        builder = Builder(onnx, opset, dynamic_batch, {id(p): name for name, p in params}, notes)
        graph = builder.build(traced, in_names, outputs, out_names, graph_name(model_or_fn))
    finally:  # the walk reads the graph the marks recorded: only now are they taken off
        _unmark(notes.marked, grad_enabled)
    ir = max(8, onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)]))
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)], ir_version=ir, producer_name="tinygrad_cnn"
    )
    try:  # full_check: the types and shapes too, so a model that a runtime would refuse is never written
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ValueError(f"onnx.export: the graph has no valid ONNX form at opset {opset}: {e}") from None
    onnx.save(model, os.fspath(path))
    return model
