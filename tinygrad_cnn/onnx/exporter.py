"""`export`: trace one forward pass, walk its graph, write the ONNX model.

The graph is only recorded for ops that have an input requiring grad, so the trace
runs on fresh Tensors holding the example inputs' data with `requires_grad=True`
(the caller's tensors are left as they were) and in grad mode. Every op downstream of
an input is then recorded; an op on parameters and constants alone is either recorded
(a parameter requires grad) or not (plain constants), and either way its result is a
constant of the exported model: it is folded into one initializer.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from ..tensor import Tensor
from .builder import Builder, graph_name

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


def trace(model_or_fn: Callable[..., Any], inputs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """One forward pass that records every op downstream of the inputs.

    Returns the traced inputs (fresh Tensors sharing the examples' data) and the outputs.
    A Module runs in eval mode (Dropout off, BatchNorm on its running statistics) and is
    put back in the mode it was in.
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
        with grad_mode(True):
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
    traced, outputs = trace(model_or_fn, inputs)
    out_names = _names(output_names, len(outputs), "output", "output_names")
    params = model_or_fn.named_parameters() if callable(getattr(model_or_fn, "named_parameters", None)) else []
    builder = Builder(onnx, opset, dynamic_batch, {id(p): name for name, p in params})
    graph = builder.build(traced, in_names, outputs, out_names, graph_name(model_or_fn))
    ir = max(8, onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)]))
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)], ir_version=ir, producer_name="tinygrad_cnn"
    )
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))
    return model
