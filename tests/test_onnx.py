"""ONNX export: the written model passes onnx.checker and onnxruntime gives the library's
outputs (float32, to 1e-5)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tinygrad_cnn.onnx import ops as onnx_ops  # noqa: E402
from tinygrad_cnn.onnx.builder import toposort  # noqa: E402
from tinygrad_cnn.onnx.exporter import trace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ATOL = 1e-5


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check_export(model, inputs, tmp_path: Path, **options) -> tuple[object, float]:
    """Export, check the model, run it on the example inputs; the largest difference."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    path = tmp_path / "model.onnx"
    proto = tc.onnx.export(model, inputs, path, **options)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    expected = model(*inputs)
    expected = [expected] if isinstance(expected, Tensor) else list(expected)
    names = [i.name for i in proto.graph.input]
    got = run_onnx(path, {n: x.data for n, x in zip(names, inputs)})
    assert len(got) == len(expected)
    worst = 0.0
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e.data, rtol=0, atol=ATOL)
        worst = max(worst, float(np.abs(g.astype(np.float64) - e.data).max(initial=0.0)))
    return proto, worst


def seed_network(rng: np.random.Generator) -> nn.Module:
    """The seed's network: Conv2d(1, 5, 3) -> sigmoid -> reshape -> Linear -> sigmoid -> Linear -> sigmoid."""
    return nn.Sequential(
        nn.Conv2d(1, 5, 3, rng=rng), nn.Sigmoid(), nn.Reshape(5 * 26 * 26),
        nn.Linear(5 * 26 * 26, 100, rng=rng), nn.Sigmoid(), nn.Linear(100, 2, rng=rng), nn.Sigmoid(),
    )


def op_types(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def test_seed_network(tmp_path):
    rng = np.random.default_rng(0)
    model = seed_network(rng)
    x = Tensor(rng.random((3, 1, 28, 28)).astype(np.float32))
    proto, worst = check_export(model, x, tmp_path)
    # bias into Conv, x @ W.T + b into Gemm: one node per layer
    assert op_types(proto) == ["Conv", "Sigmoid", "Reshape", "Gemm", "Sigmoid", "Gemm", "Sigmoid"]
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for name, p in model.named_parameters():  # parameters ship under their own names, as saved
        np.testing.assert_array_equal(inits[name].reshape(p.shape), p.data)
    assert worst < ATOL


# Constants of the every-op function below (float32, fixed draws).
_rng = np.random.default_rng(1)
K = Tensor(_rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * 0.3, requires_grad=True, name="K")
B = Tensor(_rng.normal(size=(4, 1, 1)).astype(np.float32), requires_grad=True, name="B")
K2 = Tensor(_rng.normal(size=(3, 3)).astype(np.float32) * 0.3, name="K2")
W = Tensor(_rng.normal(size=(10, 64)).astype(np.float32) * 0.1, requires_grad=True, name="W")
BV = Tensor(_rng.normal(size=(10,)).astype(np.float32), requires_grad=True, name="b")
M2 = Tensor(_rng.normal(size=(64, 5)).astype(np.float32) * 0.1, name="M2")


def every_op(x: Tensor) -> tuple[Tensor, ...]:
    """Touches every op in the export table, and each fusion, on x (2, 3, 6, 6)."""
    a = tc.correlate2d(x, K) + B  # Conv with its bias
    c = tc.convolve2d(x, K, mode="full")  # Conv, rotated kernel, pads k − 1
    h = (a - c.mean(axis=(2, 3), keepdims=True)) * 0.5  # ReduceMean
    h = h.relu() + h.tanh() / (h.sigmoid() + 1)
    h = (h**2 + 1).log() - (-h).exp().clip(0.0, 3.0)
    h = h.flip((2, 3)).transpose(0, 2, 3, 1)
    f = h.reshape(2, 64)
    logits = f @ W.T + BV  # Gemm
    p = tc.softmax(logits, axis=1) + tc.log_softmax(logits, axis=0) * 0.1
    s = p.sum(axis=1).reshape(2, 1).broadcast_to((2, 10)) + p.mean()
    plain = f @ M2 @ (f @ M2).T  # MatMul of computed matrices
    wide = (s._cast(np.float64) * 2.0)._cast(np.float32) * (1 - p) + x.sum(axis=(1, 2, 3), keepdims=True).reshape(2, 1)
    one = tc.correlate2d(x.sum(axis=(0, 1)), K2)  # (H, W) input, 2-D kernel
    three = tc.convolve2d(x.sum(axis=0), K, mode="full")  # (C, H, W) input
    mixed = wide._cast(np.float64) + 1.5  # a float64 result
    return wide, plain, one, three, mixed


MASK = np.array([True, False, True, True, False, True])


def expression_ops(x: Tensor) -> tuple[Tensor, ...]:
    """The tensor-expression ops on x (2, 3, 6, 6): elementwise math, where with a
    comparison and with a constant, reductions, cat/stack/pad, indexing of every kind."""
    a = x.abs().sqrt() + x.sin() * x.cos() - (x * x).log1p()
    m = tc.maximum(a, x) - tc.minimum(x, 0.25)
    w = tc.where(x > 0.1, m, -m) + tc.where(MASK, x, 2.0)  # computed and constant conditions
    r = w.max(axis=1) + w.min(axis=(2, 3), keepdims=True)[:, 0] + w.var(axis=(1, 3), correction=0)[:, None]
    l = tc.logsumexp(w * 40, axis=-1) + w.var(axis=2, keepdims=True)[..., 0, :] + w.std(axis=1).max()
    joined = tc.cat([r, l, x[:, 0]], axis=1)  # (2, 15, 6)
    stacked = tc.stack([joined, joined * 2], axis=1)  # (2, 2, 15, 6)
    padded = tc.pad(stacked, ((0, 0), (1, 0), (2, 1), (0, 3)), value=0.5)
    picked = padded[:, 1:, ::-3, None, [4, 0, 4]]  # slices, a negative step, None, an index array
    masked = x[:, :, :, MASK][:, 2]  # a constant boolean mask (1-D: a Gather)
    scattered = x[[0, 1, 1], :, [5, 0, 2]]  # arrays separated by a slice: numpy moves their axis first
    squeezed = x[:, 1:2].squeeze(1).permute(2, 0, 1).unsqueeze(-1)
    return picked, masked + x[-1, 0, ..., 1:5], scattered, squeezed


A = onnx_ops._activation_module  # ops/activation.py, where this version has it


def activations(x: Tensor) -> tuple[Tensor, ...]:
    return (A.leaky_relu(x, 0.2), A.leaky_relu(x), A.elu(x), A.elu(x, 0.7), A.gelu(x), A.silu(x),
            A.softplus(x), A.softplus(x, beta=2.0, threshold=1.5), A.softplus(x * 30))


def activation_gradients(x: Tensor) -> tuple[Tensor, ...]:
    """gelu's gradient recorded with create_graph=True: Φ(X) + X·φ(X), with a NormalCDF op."""
    if not x.requires_grad:  # run eagerly, for the expected values
        x = Tensor(x.data, requires_grad=True)
    (g,) = tc.grad(A.gelu(x).sum(), x, create_graph=True)
    return (g,)


def test_every_mapped_op(tmp_path):
    x = Tensor(np.random.default_rng(2).normal(size=(2, 3, 6, 6)).astype(np.float32))
    proto, worst = check_export(every_op, x, tmp_path)
    proto2, worst2 = check_export(expression_ops, x, tmp_path)
    assert worst2 < ATOL
    _, outs = trace(every_op, [x])
    outs += trace(expression_ops, [x])[1]
    if A is not None:  # run through onnxruntime by test_onnx_ops.py
        outs += trace(activations, [x])[1] + trace(activation_gradients, [x])[1]
    if CONV_COMPLETE:  # their ops are run through onnxruntime by test_lenet5_and_the_complete_convolution
        outs += trace(lenet5, [Tensor(np.ones((1, 1, 28, 28), np.float32))])[1]
        outs += trace(complete_conv, [Tensor(np.ones((1, 1, 28, 28), np.float32))])[1]
    used = {type(t._ctx) for t in toposort(outs) if t._ctx is not None}
    assert set(onnx_ops.OPS) <= used, set(onnx_ops.OPS) - used
    types = set(op_types(proto))
    assert {"ReduceMean", "Gemm", "MatMul", "Conv", "Slice", "Expand", "Cast", "Clip", "Pow"} <= types
    assert worst < ATOL


def test_every_op_class_is_mapped_or_listed():
    """An op added to the library without an export mapping is a decision, not an accident."""
    not_exported = set(onnx_ops.NOT_EXPORTED)  # each with the reason the export's error gives
    classes = set()
    for info in pkgutil.iter_modules(tc.ops.__path__):
        mod = importlib.import_module(f"tinygrad_cnn.ops.{info.name}")
        classes |= {c for c in vars(mod).values() if isinstance(c, type) and issubclass(c, tc.Function) and hasattr(c, "forward")
                    and c is not tc.Function}
    missing = {c.__name__ for c in classes if c not in onnx_ops.OPS} - not_exported
    assert not missing, f"no ONNX mapping for {sorted(missing)}"
    assert not {c.__name__ for c in classes if c in onnx_ops.OPS} & not_exported  # listed and mapped: a stale entry


def test_dynamic_batch(tmp_path):
    rng = np.random.default_rng(3)
    model = seed_network(rng)
    path = tmp_path / "seed.onnx"
    proto = tc.onnx.export(model, Tensor(rng.random((2, 1, 28, 28)).astype(np.float32)), path, dynamic_batch=True)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for n in (5, 1):
        x = rng.random((n, 1, 28, 28)).astype(np.float32)
        (got,) = run_onnx(path, {"input": x})
        np.testing.assert_allclose(got, model(Tensor(x)).data, rtol=0, atol=ATOL)


def test_dynamic_batch_mean_over_the_batch(tmp_path):
    def fn(x):  # the mean of bools too: a sum of another dtype than the result
        return (x * 2).mean(axis=0) + x.sum(axis=0), (x > 0).mean(axis=0)

    path = tmp_path / "m.onnx"
    tc.onnx.export(fn, Tensor(np.ones((2, 3), np.float32)), path, dynamic_batch=True)
    x = np.random.default_rng(4).normal(size=(7, 3)).astype(np.float32)
    for got, want in zip(run_onnx(path, {"input": x}), fn(Tensor(x))):
        np.testing.assert_allclose(got, want.data, rtol=0, atol=ATOL)


def test_dynamic_batch_sum_divided_by_a_number_is_that_division(tmp_path):
    """Only `mean` counts the batch when the model runs: a sum over the batch divided by a
    number the user wrote (equal to the traced batch here) divides by that number."""
    def fn(x):
        return (x.sum(axis=0) / 3, x.sum(axis=(0, 1)) / 3.0, (x * 4).astype(np.int32).sum(axis=0) / 3,
                (x > 0).sum(axis=0) / 3, x.mean(axis=0), x.sum(axis=1) / 4)

    path = tmp_path / "m.onnx"
    proto = tc.onnx.export(fn, Tensor(np.ones((3, 4), np.float32)), path, dynamic_batch=True)
    assert op_types(proto).count("ReduceMean") == 1  # x.mean only
    for n in (5, 1):
        x = np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)
        for got, want in zip(run_onnx(path, {"input": x}), fn(Tensor(x))):
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want.data, rtol=0, atol=ATOL)


def test_dynamic_batch_refuses_a_traced_batch_of_one_stretched(tmp_path):
    """A traced batch of 1 broadcast to a larger size: that axis of the result is not the batch."""
    c = Tensor(np.ones((3, 4), np.float32))
    w = Tensor(np.ones((5, 4, 2), np.float32))
    one = Tensor(np.ones((1, 4), np.float32))
    for bad, what in ((lambda x: x.broadcast_to((3, 4)) * 2, "broadcast_to"), (lambda x: x + c, "add"),
                      (lambda x: tc.where(x > 0, c, 0.0), "where"), (lambda x: x > c, "compare"),
                      (lambda x: x[:, None] @ w, "matmul")):
        with pytest.raises(ValueError, match=rf"{what}.* a traced batch of 1 to [35] \(giving .*dynamic_batch=True"):
            tc.onnx.export(bad, one, tmp_path / "m.onnx", dynamic_batch=True)
    # a batch of 1 that stays 1 exports, and runs on any batch
    def fine(x):
        return x.broadcast_to((2,) + x.shape) + c[0], x[:, None] @ w[:1], x + 1.0

    path = tmp_path / "m.onnx"
    tc.onnx.export(fine, one, path, dynamic_batch=True)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for got, want in zip(run_onnx(path, {"input": x}), fine(Tensor(x))):
        np.testing.assert_allclose(got, want.data, rtol=0, atol=ATOL)


def test_dynamic_batch_var_and_std_over_the_batch(tmp_path):
    """n counts the batch: read from the input's shape when the model runs."""
    def fn(x):
        return x.var(axis=0), x.std(axis=(0, 2), keepdims=True), x.var(correction=0), x.var(axis=1)

    path = tmp_path / "m.onnx"
    tc.onnx.export(fn, Tensor(np.ones((3, 2, 4), np.float32)), path, dynamic_batch=True)
    for n in (5, 2):
        x = np.random.default_rng(n).normal(size=(n, 2, 4)).astype(np.float32)
        for got, want in zip(run_onnx(path, {"input": x}), fn(Tensor(x))):
            np.testing.assert_allclose(got, want.data, rtol=0, atol=ATOL)


def test_dynamic_batch_through_matmul(tmp_path):
    """A matrix times a vector keeps the rows' batch axis; a batch summed over leaves none."""
    rng = np.random.default_rng(4)
    v = Tensor(rng.normal(size=4).astype(np.float32))
    w = Tensor(rng.normal(size=(4, 3)).astype(np.float32))

    def fn(x):
        return (x @ v).reshape(-1, 1), (v @ x.T).reshape(-1, 1), (x[:, None] @ w).reshape(-1, 3), x.T @ x

    path = tmp_path / "m.onnx"
    tc.onnx.export(fn, Tensor(np.ones((3, 4), np.float32)), path, dynamic_batch=True)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    for got, want in zip(run_onnx(path, {"input": x}), fn(Tensor(x))):
        np.testing.assert_allclose(got, want.data, rtol=0, atol=ATOL)
    for bad in (lambda x: x @ x.T, lambda x: x.sum(axis=1)[:, None] + x.sum(axis=1)):  # (batch, batch)
        with pytest.raises(ValueError, match=r"gives \(3, 3\) with the batch axis twice"):
            tc.onnx.export(bad, Tensor(np.ones((3, 4), np.float32)), path, dynamic_batch=True)


def test_dynamic_batch_refuses_a_reshape_across_the_batch(tmp_path):
    with pytest.raises(ValueError, match=r"reshape from \(2, 3\) to \(6,\).*dynamic_batch"):
        tc.onnx.export(lambda x: x.reshape(6).sigmoid(), Tensor(np.ones((2, 3), np.float32)), tmp_path / "m.onnx",
                       dynamic_batch=True)
    # without a dynamic batch the same function exports
    check_export(lambda x: x.reshape(6).sigmoid(), Tensor(np.ones((2, 3), np.float32)), tmp_path)


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_convolve2d_exports_as_conv_with_the_rotated_kernel(tmp_path, mode):
    k = Tensor(np.arange(2 * 3 * 2 * 3, dtype=np.float32).reshape(2, 3, 2, 3) / 36, requires_grad=True, name="k")
    x = Tensor(np.random.default_rng(5).normal(size=(2, 3, 5, 7)).astype(np.float32))
    proto, worst = check_export(lambda x: tc.convolve2d(x, k, mode=mode), x, tmp_path)
    assert op_types(proto) == ["Conv"]
    (kernel,) = [onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if i.name == "k.rot180"]
    np.testing.assert_array_equal(kernel, k.data[..., ::-1, ::-1])
    pads = [list(a.ints) for a in proto.graph.node[0].attribute if a.name == "pads"][0]
    assert pads == ([1, 2, 1, 2] if mode == "full" else [0, 0, 0, 0])
    assert worst < ATOL


def test_seed_numbers_through_onnx(tmp_path):
    """The seed's worked example: X ⋆ K and X * K on a 3×3 image, as 2-D arrays."""
    X = Tensor(np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], np.float32))
    Kseed = Tensor(np.array([[1, 2], [-1, 0]], np.float32))
    proto, _ = check_export(lambda x: (tc.correlate2d(x, Kseed), tc.convolve2d(x, Kseed)), X, tmp_path)
    got = run_onnx(tmp_path / "model.onnx", {"input": X.data})
    np.testing.assert_array_equal(got[0], [[8, 7], [4, 5]])
    np.testing.assert_array_equal(got[1], [[7, 5], [11, 3]])


def test_kernel_computed_from_an_input(tmp_path):
    """A kernel that is itself an input: reshaped and flipped by nodes, not folded."""
    rng = np.random.default_rng(6)
    x = Tensor(rng.normal(size=(6, 6)).astype(np.float32))
    k = Tensor(rng.normal(size=(3, 2)).astype(np.float32))
    proto, worst = check_export(lambda x, k: tc.convolve2d(x, k * 2, mode="full"), (x, k), tmp_path)
    assert "Slice" in op_types(proto) and [i.name for i in proto.graph.input] == ["input_0", "input_1"]
    assert worst < ATOL


def test_unmapped_op_names_the_op_and_where(tmp_path):
    rng = np.random.default_rng(7)
    model = seed_network(rng)
    target = Tensor(np.array([[0, 1], [1, 0]], np.float32))

    def loss(x):
        return tc.binary_cross_entropy(model(x), target)

    x = Tensor(rng.random((2, 1, 28, 28)).astype(np.float32))
    with pytest.raises(ValueError, match=r"'binary_cross_entropy'.*no ONNX form.*\(2, 2\), \(2, 2\) giving \(\)"):
        tc.onnx.export(loss, x, tmp_path / "loss.onnx")
    assert not (tmp_path / "loss.onnx").exists()


def test_input_and_output_names(tmp_path):
    rng = np.random.default_rng(8)
    model = seed_network(rng)
    x = Tensor(rng.random((2, 1, 28, 28)).astype(np.float32))
    proto = tc.onnx.export(model, (x,), tmp_path / "m.onnx", input_names=["images"], output_names=["probs"])
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["probs"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probs"], {"images": x.data})
    np.testing.assert_allclose(got, model(x).data, rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match="input_names must be 1 distinct"):
        tc.onnx.export(model, x, tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(ValueError, match="output_names"):
        tc.onnx.export(model, x, tmp_path / "m.onnx", output_names=[""])
    with pytest.raises(ValueError, match=r"\['z'\] name both an input and an output"):
        tc.onnx.export(model, x, tmp_path / "m.onnx", input_names=["z"], output_names=["z"])


def test_outputs_that_are_inputs_or_repeated(tmp_path):
    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = Tensor(np.ones((2, 3), np.float32))
    proto, _ = check_export(lambda x, y: (x, x.exp(), x.exp() * y), (x, y), tmp_path)
    proto, _ = check_export(lambda x: (x.sigmoid(),) * 2, x, tmp_path)
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]


def test_opsets(tmp_path):
    x = Tensor(np.random.default_rng(9).normal(size=(2, 3, 6, 6)).astype(np.float32))
    for opset in (13, 17, 18, 21):
        proto, worst = check_export(every_op, x, tmp_path, opset=opset)
        assert proto.opset_import[0].version == opset and worst < ATOL
        proto, worst = check_export(expression_ops, x, tmp_path, opset=opset)
        assert worst < ATOL
    assert tc.onnx.DEFAULT_OPSET == 18
    with pytest.raises(ValueError, match="opset 12 is not supported"):
        tc.onnx.export(every_op, x, tmp_path / "m.onnx", opset=12)
    for bad in (18.7, "18", True):
        with pytest.raises(ValueError, match="opset must be an integer"):
            tc.onnx.export(every_op, x, tmp_path / "m.onnx", opset=bad)


def test_float64_model(tmp_path):
    """float64 stays float64 (onnxruntime's CPU Conv has no float64 kernel, so the run
    uses a model without one; the conv model is checked by onnx.checker alone)."""
    rng = np.random.default_rng(10)
    mlp = nn.Sequential(nn.Linear(6, 4, dtype=np.float64, rng=rng), nn.Tanh(), nn.Linear(4, 2, dtype=np.float64, rng=rng))
    proto, worst = check_export(mlp, Tensor(rng.normal(size=(3, 6))), tmp_path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert worst < 1e-12
    cnn = nn.Sequential(nn.Conv2d(2, 3, 3, dtype=np.float64, rng=rng), nn.Tanh())
    proto = tc.onnx.export(cnn, Tensor(rng.normal(size=(2, 2, 6, 6))), tmp_path / "cnn.onnx")
    onnx.checker.check_model(proto, full_check=True)
    assert {i.data_type for i in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}


def test_initializers_ship_once_and_are_all_used(tmp_path):
    rng = np.random.default_rng(12)
    linear = nn.Linear(3, 2, rng=rng)  # float32 fed float64: only the converted copies ship
    proto, _ = check_export(linear, Tensor(rng.normal(size=(4, 3))), tmp_path)
    assert sorted(i.name for i in proto.graph.initializer) == ["bias_float64", "weight_float64"]
    conv = nn.Conv2d(2, 2, 3, padding=1, rng=rng)  # one layer run twice: its bias ships once
    model = nn.Sequential(conv, nn.ReLU(), conv)
    proto, _ = check_export(model, Tensor(rng.normal(size=(1, 2, 5, 5)).astype(np.float32)), tmp_path)
    assert sorted(i.name for i in proto.graph.initializer) == ["0.bias", "0.weight"]
    assert op_types(proto) == ["Conv", "Relu", "Conv"]


def test_caller_tensors_are_left_alone(tmp_path):
    rng = np.random.default_rng(11)
    model = seed_network(rng)
    x = Tensor(rng.random((2, 1, 28, 28)).astype(np.float32))
    tc.onnx.export(model, x, tmp_path / "m.onnx")
    assert not x.requires_grad and x._ctx is None and x.grad is None
    assert all(p.grad is None for p in model.parameters())


def test_the_trace_leaves_no_marks(tmp_path):
    """Tensors made during the trace require grad afterwards only when they would have without
    it: not a comparison, an argmax or what is computed from them, nor a float made from the
    input alone; a float made with a parameter does, in grad mode."""
    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones((4, 2), np.float32))

        def forward(self, x):
            self.mask = (x > 0).T
            self.index = x[0].argmax() + Tensor(np.array(0))
            self.twice = tc.where(self.mask.T, x, 0.0) * 2
            self.projected = self.twice @ self.w
            return self.projected

    model = Cache()
    x = Tensor(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    tc.onnx.export(model, x, tmp_path / "m.onnx")
    assert not any(t.requires_grad or t._ctx for t in (model.mask, model.index, model.twice))
    assert model.projected.requires_grad and model.projected._ctx is not None
    model.mask.data = np.zeros((4, 3), bool)  # a tensor that requires no grad may be given new data
    model.projected.sum().backward()
    assert model.w.grad is not None and model.mask.grad is None and model.twice.grad is None
    tc.onnx.export(lambda x: x[:, model.index], x, tmp_path / "m.onnx")  # a constant index again
    with tc.no_grad():
        tc.onnx.export(model, x, tmp_path / "m.onnx")
    assert not model.projected.requires_grad and model.projected._ctx is None
    with pytest.raises(RuntimeError):  # failed traces unmark too
        tc.onnx.export(lambda x: (model(x), (_ for _ in ()).throw(RuntimeError("boom")))[0], x, tmp_path / "m.onnx")
    assert not model.mask.requires_grad and not model.twice.requires_grad


def test_a_module_is_exported_in_eval_mode_and_put_back(tmp_path):
    class Noisy:
        """Adds 1 in training mode, as a stand-in for Dropout; eval() turns it off."""

        training = True

        def eval(self):
            self.training = False
            return self

        def train(self, mode=True):
            self.training = mode
            return self

        def __call__(self, x):
            return x.sigmoid() + (1.0 if self.training else 0.0)

    m = Noisy()
    x = Tensor(np.zeros((2, 2), np.float32))
    proto = tc.onnx.export(m, x, tmp_path / "m.onnx")
    assert op_types(proto) == ["Sigmoid", "Add"] and m.training
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", {"input": x.data})[0], 0.5)


def test_each_sub_module_is_put_back_in_its_own_mode(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    x = Tensor(np.ones((3, 2), np.float32))
    for root, odd_one in ((True, model[1]), (False, model[2][0])):
        model.train(root)
        odd_one.train(not root)
        before = [m.training for m in model.modules()]
        tc.onnx.export(model, x, tmp_path / "m.onnx")
        assert [m.training for m in model.modules()] == before


def test_a_function_calling_a_module_keeps_the_modules_mode(tmp_path):
    """As docs/export.md says: only a Module passed to export is switched to eval mode; a
    function calling one in training mode updates BatchNorm's statistics, and eval() first
    gives the eval graph."""
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    before = model[1].running_mean.data.copy()
    tc.onnx.export(lambda x: model(x), x, tmp_path / "m.onnx")
    assert not np.array_equal(model[1].running_mean.data, before)
    model.eval()
    before = model[1].running_mean.data.copy()
    check_export(lambda x: model(x), x, tmp_path, dynamic_batch=True)
    np.testing.assert_array_equal(model[1].running_mean.data, before)


def test_output_that_does_not_depend_on_the_input(tmp_path):
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"output 0 of shape \(3,\) does not depend on any input"):
        tc.onnx.export(lambda x: w * 2, Tensor(np.ones(3, np.float32)), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="must return a Tensor"):
        tc.onnx.export(lambda x: 3, Tensor(np.ones(3, np.float32)), tmp_path / "m.onnx")


def test_tc_onnx_does_not_import_onnx():
    code = "import sys, tinygrad_cnn as tc; assert callable(tc.onnx.export); print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'tinygrad_cnn\[onnx\]'"):
        tc.onnx.export(lambda x: x.exp(), Tensor(np.ones(2, np.float32)), tmp_path / "m.onnx")


def test_example_script(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "export_onnx.py"), "--out", str(tmp_path), "--epochs", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    diffs = [float(m) for m in re.findall(r"largest difference ([0-9.eE+-]+)", out.stdout)]
    assert diffs and max(diffs) < ATOL, out.stdout

CONV_COMPLETE = all(hasattr(tc, f) for f in ("conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"))


def _param(*shape: int, scale: float = 0.3) -> Tensor:
    return Tensor((_rng.normal(size=shape) * scale).astype(np.float32), requires_grad=True)


C1, B1, C2, B2 = _param(6, 1, 5, 5), _param(6), _param(16, 6, 5, 5, scale=0.1), _param(16)
F1, G1, F2, G2 = _param(120, 400, scale=0.05), _param(120), _param(84, 120, scale=0.1), _param(84)
F3, G3 = _param(10, 84, scale=0.1), _param(10)
GROUPED, UP = _param(8, 3, 3, 3, scale=0.2), _param(6, 2, 3, 3, scale=0.2)


def lenet5(x: Tensor) -> Tensor:
    """LeNet-5 on (N, 1, 28, 28): padded conv, max and average pooling, three linear layers."""
    h = tc.max_pool2d(tc.conv2d(x, C1, B1, padding=2).relu(), 2)  # (N, 6, 14, 14)
    h = tc.avg_pool2d(tc.conv2d(h, C2, B2).tanh(), 2, stride=2)  # (N, 16, 5, 5)
    h = h.reshape(h.shape[0], 400)
    logits = ((h @ F1.T + G1).relu() @ F2.T + G2).relu() @ F3.T + G3
    return tc.log_softmax(logits, axis=1)


def complete_conv(x: Tensor) -> tuple[Tensor, ...]:
    """Stride, asymmetric padding, dilation, groups, a transposed conv, padded pooling; correlate2d and
    convolve2d with the same options and their "same"/"full" padding words."""
    h = tc.conv2d(x, C1, None, stride=2, padding=(1, 2), dilation=(1, 2))
    side = tc.conv2d(h, GROUPED, None, stride=1, padding=1, groups=2)  # 6 -> 8 channels in 2 groups
    back = tc.conv_transpose2d(h, UP, None, stride=2, padding=1, output_padding=1)
    pooled = tc.max_pool2d(h, 3, stride=2, padding=1) + tc.avg_pool2d(h, 3, stride=2, padding=1)
    rotated = tc.convolve2d(h, GROUPED, padding="full", dilation=(2, 1), groups=2)  # the kernel flipped per group
    same = tc.correlate2d(h, GROUPED, mode="same", dilation=2, groups=2)
    strided = tc.convolve2d(h, GROUPED, padding=(0, 2), stride=(1, 3), groups=2)
    return side.sigmoid(), back, pooled, tc.correlate2d(x, C1, padding=1, stride=(2, 1)), rotated, same, strided


@pytest.mark.skipif(not CONV_COMPLETE, reason="conv2d, conv_transpose2d and pooling are not in this version")
def test_lenet5_and_the_complete_convolution(tmp_path):
    x = Tensor(np.random.default_rng(12).random((3, 1, 28, 28)).astype(np.float32))
    proto, worst = check_export(lenet5, x, tmp_path)
    assert {"Conv", "MaxPool", "AveragePool", "Gemm", "LogSoftmax"} <= set(op_types(proto)) and worst < ATOL
    proto, worst = check_export(complete_conv, x, tmp_path)
    assert {"Conv", "ConvTranspose", "MaxPool", "AveragePool"} <= set(op_types(proto)) and worst < ATOL
    path = tmp_path / "lenet.onnx"
    tc.onnx.export(lenet5, Tensor(x.data[:2]), path, dynamic_batch=True)
    np.testing.assert_allclose(run_onnx(path, {"input": x.data})[0], lenet5(x).data, rtol=0, atol=ATOL)


def test_exports_in_two_threads_ending_out_of_order_leave_no_hook_and_no_marks(tmp_path):
    """The op hook is process-wide: each export takes its own note-taker off, in any order."""
    import threading

    from tinygrad_cnn import function

    first_tracing, second_tracing, first_done = threading.Event(), threading.Event(), threading.Event()

    class First(tc.nn.Module):  # starts first, ends first
        def forward(self, x):
            first_tracing.set()
            assert second_tracing.wait(10)
            return x * 3

    class Second(tc.nn.Module):  # goes on tracing after the first export ended
        kept = None

        def forward(self, x):
            second_tracing.set()
            assert first_done.wait(10)
            self.kept = (x * 2).relu()
            return self.kept + 1

    second = Second()
    x = tc.Tensor(np.ones((2, 3), np.float32))

    def run_first() -> None:
        tc.onnx.export(First(), x, tmp_path / "first.onnx")
        first_done.set()

    def run_second() -> None:
        assert first_tracing.wait(10)
        tc.onnx.export(second, x, tmp_path / "second.onnx")

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert function._trace_hook is None
    assert not second.kept.requires_grad and second.kept._ctx is None
