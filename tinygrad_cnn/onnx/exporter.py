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
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..grad_mode import state
from ..ops import elementwise as E
from ..tensor import Tensor
from .builder import Builder, Derived, graph_name

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
def _recording_derived(record: dict[int, Derived]) -> Iterator[None]:
    """While tracing, values made outside the graph (comparisons, integer/bool casts,
    argmax/argmin) are noted with what they were computed from, through the library's
    `outside_graph` hook (`tc.grad_mode`), set for this thread only.

    A value made from traced tensors is marked as requiring grad for the trace, so the
    ops that read it are recorded even when nothing else they read is traced
    (`where(x > 0, 1.0, -1.0)`); the mark is taken off again at the end.
    """
    marked: list[Tensor] = []

    def note(kind: str, parents: list[Any], out: Tensor, **options: Any) -> None:
        tensors = [p for p in parents if isinstance(p, Tensor)]
        if any(p.requires_grad for p in tensors):  # made from the traced graph, not from constants alone
            record[id(out._data)] = Derived(kind, tensors, out, **options)
            out._requires_grad = True  # a trace-only mark, bool/int data included
            marked.append(out)

    def where(cond: Any, a: Tensor, b: Tensor, out: Tensor) -> Tensor | None:
        c = cond._data if isinstance(cond, Tensor) else None
        if out._ctx is not None or c is None or id(c) not in record:
            return None
        # a traced condition choosing between constants: record the op the library left out
        # (the same forward: the branches as constants of the result's dtype)
        c_tensor = Tensor._make(c)
        c_tensor._requires_grad = True
        marked.append(c_tensor)
        out = E.Where.apply(c_tensor, a, b)
        marked.append(out)
        return out

    def refuse_computed_index(x: Tensor, idx: Any) -> None:
        for item in idx if isinstance(idx, tuple) else (idx,):
            if isinstance(item, Tensor) and id(item._data) in record:
                kind = "boolean mask" if item.dtype == np.bool_ else "index array"
                raise ValueError(
                    f"onnx.export: indexing a tensor of shape {x.shape} with a {kind} computed from the input "
                    "(the result's shape would depend on the values) has no ONNX form here; "
                    "use tc.where(mask, x, 0) instead"
                )

    def hook(kind: str, parents: list[Any], out: Any, **options: Any) -> Tensor | None:
        if kind == "getitem":
            refuse_computed_index(parents[0], options["index"])
        elif kind == "where":
            return where(*parents, out)
        else:
            note(kind, parents, out, **options)
        return None

    saved = state.trace
    state.trace = hook
    try:
        yield
    finally:
        state.trace = saved
        for t in marked:
            t._requires_grad = False


def trace(
    model_or_fn: Callable[..., Any], inputs: list[Tensor], derived: dict[int, Derived] | None = None
) -> tuple[list[Tensor], list[Tensor]]:
    """One forward pass that records every op downstream of the inputs.

    Returns the traced inputs (fresh Tensors sharing the examples' data) and the outputs.
    A Module runs in eval mode (Dropout off, BatchNorm on its running statistics) and is
    put back in the mode it was in. Values made outside the graph (comparisons, integer
    casts, argmax) are noted in `derived` when it is given.
    """
    from ..grad_mode import grad_mode

    traced = []
    for x in inputs:
        t = Tensor._make(x.data, requires_grad=True)
        t.name = x.name
        traced.append(t)
    training = getattr(model_or_fn, "training", None)
    if callable(getattr(model_or_fn, "eval", None)):
        model_or_fn.eval()  # type: ignore[attr-defined]
    try:
        with grad_mode(True), _recording_derived(derived if derived is not None else {}):
            outputs = _as_outputs(model_or_fn(*traced))
    finally:
        if isinstance(training, bool) and callable(getattr(model_or_fn, "train", None)):
            model_or_fn.train(training)  # type: ignore[attr-defined]
    return traced, outputs


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
            Tensor or a tuple of Tensors.
        example_inputs: a Tensor (or float ndarray), or a tuple of them; float32 inputs
            give a float32 model.
        path: the `.onnx` file to write.
        input_names: the graph's input names (default `input`, numbered `input_0`,
            ... when there are several).
        output_names: the graph's output names (default `output`, likewise).
        opset: the ONNX opset (default `DEFAULT_OPSET`, at least `MIN_OPSET`).
        dynamic_batch: mark axis 0 of every input as a free dimension `batch`, so the
            model runs on any batch size. Reshapes keep the batch axis (written as 0,
            "copy this dimension"); an op that mixes the batch axis with another
            (a reshape that merges it, a reduction over it into a fixed size) cannot be
            exported this way and raises `ValueError`.

    Returns:
        The `onnx.ModelProto` written (already checked by `onnx.checker`).

    Raises:
        ValueError: an op with no ONNX form (naming the op and where it was created),
            an output that does not depend on any input, bad names or opset.
        ImportError: the `onnx` package is missing (`pip install tinygrad_cnn[onnx]`).
    """
    onnx = _require_onnx()
    opset = DEFAULT_OPSET if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"onnx.export: opset {opset} is not supported; use {MIN_OPSET} to {newest}")
    inputs = _as_inputs(example_inputs)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    derived: dict[int, Derived] = {}
    traced, outputs = trace(model_or_fn, inputs, derived)
    out_names = _names(output_names, len(outputs), "output", "output_names")
    params = model_or_fn.named_parameters() if callable(getattr(model_or_fn, "named_parameters", None)) else []
    builder = Builder(onnx, opset, dynamic_batch, {id(p): name for name, p in params}, derived)
    graph = builder.build(traced, in_names, outputs, out_names, graph_name(model_or_fn))
    ir = max(8, onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)]))
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)], ir_version=ir, producer_name="tinygrad_cnn"
    )
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))
    return model
