"""Export to ONNX: the graph one forward pass records, written as an ONNX model.

    tc.onnx.export(model, example_inputs, "model.onnx")

runs `model(*example_inputs)` once, walks the recorded graph back from the output(s)
and writes one ONNX node per op (the table in `tinygrad_cnn/onnx/ops.py`). Parameters
become initializers under their `named_parameters()` names; anything computed from
parameters and constants alone (a transposed weight, a flipped kernel) is folded into
one initializer. The `onnx` package is needed only when exporting
(`pip install tinygrad_cnn[onnx]`); importing `tinygrad_cnn` never loads it.
"""

from __future__ import annotations

from .exporter import DEFAULT_OPSET, MIN_OPSET, export

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export"]
