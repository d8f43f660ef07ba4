"""ONNX export of the ops beyond the seed's: indexing, joining, padding, reductions,
comparisons, activations, normalisation layers. Every exported model is checked by
onnx.checker and run by onnxruntime on the example AND on a second input, so a value
frozen at the trace (a mask, an index) shows up as a difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from test_onnx import ATOL, A, activation_gradients, activations, check_export, op_types, run_onnx  # noqa: E402

needs_activations = pytest.mark.skipif(A is None, reason="ops/activation.py is not in this version")


def data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def check_fresh(fn, x: np.ndarray, tmp_path: Path, seeds=(1, 2), **options) -> tuple[object, float]:
    """check_export on x, then the same file on inputs it was not traced with."""
    proto, worst = check_export(fn, Tensor(x), tmp_path, **options)
    for seed in seeds:
        other = data(*x.shape, seed=seed + 100)
        got = run_onnx(tmp_path / "model.onnx", {"input": other})
        expected = fn(Tensor(other))
        expected = [expected] if isinstance(expected, Tensor) else list(expected)
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype and g.shape == e.shape
            np.testing.assert_allclose(g, e.data, rtol=0, atol=ATOL)
            worst = max(worst, float(np.abs(g.astype(np.float64) - e.data).max(initial=0.0)))
    return proto, worst


# ----- indexing --------------------------------------------------------------------------------
MASK_ROWS = np.array([True, False, True, False, True])
MASK_2D = np.random.default_rng(3).random((4, 5)) > 0.4

INDEXES = {
    "int": (1,),
    "negative int": (-1, 2),
    "slices": (slice(None), slice(1, 3), slice(None, None, 2)),
    "negative step": (Ellipsis, slice(None, None, -1)),
    "negative step with bounds": (slice(None), slice(3, 0, -2)),
    "empty slice": (slice(None), slice(2, 2)),
    "None and ...": (None, Ellipsis, None, 0),
    "int array": (np.array([2, 0, 2, -1]),),
    "int array on an inner axis": (slice(None), slice(None), np.array([[0, 4], [1, 1]])),
    "int array with None": (None, slice(1, None), np.array([3, 0])),
    "1-D mask": (slice(None), slice(None), MASK_ROWS),
    "2-D mask": (slice(0, 1), MASK_2D),
    "two arrays": (np.array([0, 2]), np.array([1, 3])),
    "int and array": (1, slice(None), np.array([4, 0])),
    "0-d bool": (np.asarray(True),),
}


@pytest.mark.parametrize("name", list(INDEXES))
def test_getitem(tmp_path, name):
    index = INDEXES[name]
    proto, worst = check_fresh(lambda x: x[index] * 2, data(3, 4, 5), tmp_path)
    assert worst < ATOL
    types = set(op_types(proto))
    if name in ("two arrays", "int and array", "2-D mask", "0-d bool"):
        assert "Gather" in types and "Reshape" in types  # the general form: flat positions
    elif "array" in name or "mask" in name:
        assert "Gather" in types and "Reshape" not in types


def test_getitem_with_a_mask_computed_from_the_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"boolean mask computed from the input.*tc\.where"):
        tc.onnx.export(lambda x: x[x > 0], Tensor(data(3, 4)), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"index array computed from the input"):
        tc.onnx.export(lambda x: x[x.argmax(axis=0)], Tensor(data(3, 4)), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"getitem with a boolean mask computed from the input"):  # as an ndarray
        tc.onnx.export(lambda x: x[(x > 0).data], Tensor(data(3, 4)), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"index array computed from the input"):  # through an op after argmax
        tc.onnx.export(lambda x: x[:, x.argmax(axis=1)[0]], Tensor(data(3, 4)), tmp_path / "m.onnx")
    # the same selection written with where exports and follows the input
    proto, worst = check_fresh(lambda x: tc.where(x > 0, x, 0.0).sum(axis=1), data(3, 4), tmp_path)
    assert "Greater" in op_types(proto) and worst < ATOL


def test_getitem_keeps_a_dynamic_batch(tmp_path):
    def fn(x):
        return x[0:, 1:, ::-1][..., None, np.array([0, 2])]  # 0: is the whole batch, as : is

    path = tmp_path / "m.onnx"
    tc.onnx.export(fn, Tensor(data(2, 3, 4)), path, dynamic_batch=True)
    x = data(5, 3, 4, seed=9)
    np.testing.assert_allclose(run_onnx(path, {"input": x})[0], fn(Tensor(x)).data, rtol=0, atol=ATOL)
    # x[:2], x[-2:] and x[0:2] take the whole traced batch of 2, not of any batch
    for bad in (lambda x: x[0], lambda x: x[1:], lambda x: x[[0, 1]], lambda x: x[np.array([0]), 0],
                lambda x: x[:2], lambda x: x[-2:], lambda x: x[0:2, 1]):
        with pytest.raises(ValueError, match="batch axis cannot be exported with dynamic_batch=True"):
            tc.onnx.export(bad, Tensor(data(2, 3, 4)), path, dynamic_batch=True)


# ----- comparisons, casts, argmax: values made outside the graph ---------------------------------
@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons_follow_the_input(tmp_path, op):
    """Integer-valued inputs, so == and != meet ties; the file runs on inputs it was not traced with."""
    rng = np.random.default_rng(4)
    y = Tensor(rng.integers(-2, 3, (3, 4)).astype(np.float32))
    r = Tensor(rng.integers(-2, 3, (3, 4)).astype(np.float32))
    compare = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
               ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}[op]

    def fn(x):
        c = compare(x, y)  # a computed tensor against a constant tensor
        d = compare(x * 2, 1.0)  # against a number
        e = compare(r, x)  # a constant on the left
        return tc.where(c, x, y) + tc.where(d, 1.0, -1.0) + tc.where(e, 3.0, 0.0), c

    path = tmp_path / "m.onnx"
    proto = tc.onnx.export(fn, Tensor(rng.integers(-2, 3, (3, 4)).astype(np.float32)), path)
    onnx.checker.check_model(proto, full_check=True)
    expected_type = {"<": "Less", "<=": "LessOrEqual", ">": "Greater", ">=": "GreaterOrEqual", "==": "Equal",
                     "!=": "Not"}[op]
    assert expected_type in op_types(proto)
    assert proto.graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.BOOL
    for _ in range(3):
        x = rng.integers(-2, 3, (3, 4)).astype(np.float32)
        got, mask = run_onnx(path, {"input": x})
        want, want_mask = fn(Tensor(x))
        np.testing.assert_array_equal(got, want.data)
        np.testing.assert_array_equal(mask, want_mask.data)


WHERE_CONDITIONS = {
    "transposed": lambda x: tc.where((x > 0).T, x.T, 0.0),
    "reshaped": lambda x: tc.where((x > 0).reshape(5, 4), x.reshape(5, 4), -1.0),
    "sliced": lambda x: tc.where((x > 0)[:, :1], x, -x),
    "constant branches": lambda x: tc.where((x < 0).T, 1.0, -1.0),
}


@pytest.mark.parametrize("name", list(WHERE_CONDITIONS))
def test_where_with_a_condition_computed_through_ops(tmp_path, name):
    """The condition passes through recorded ops after the comparison: it follows the input."""
    proto, worst = check_fresh(WHERE_CONDITIONS[name], data(4, 5), tmp_path)
    assert {"Where", "Less" if name == "constant branches" else "Greater"} <= set(op_types(proto))
    assert worst < ATOL


PROMOTIONS = {
    "sum of bools": lambda x: (x > 0).sum(axis=1),
    "bools added": lambda x: (x > 0) + (x < 1),
    "bools multiplied": lambda x: (x > 0) * (x < 1),
    "maximum of bools": lambda x: tc.maximum(x > 0, x < 1),
    "relu of bools": lambda x: (x > 0).relu(),
    "mean of bools": lambda x: (x > 0).mean(axis=0),
    "int32 sum": lambda x: (x * 3).astype(np.int32).sum(axis=1),
    "int32 plus int64": lambda x: (x * 3).astype(np.int32) + x.argmax(axis=1, keepdims=True),
}


@pytest.mark.parametrize("name", list(PROMOTIONS))
def test_bool_and_integer_results_promote_as_numpy(tmp_path, name):
    """numpy's dtypes: the int64 sum of bools or of int32, + and * of bools as or and and."""
    proto, worst = check_fresh(PROMOTIONS[name], data(4, 5), tmp_path)
    assert worst < ATOL


def test_a_model_onnx_would_refuse_is_a_value_error(tmp_path):
    """ReduceMax has no bool form before opset 20: refused before anything is written."""
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"no valid ONNX form at opset 18.*ReduceMax.*bool"):
        tc.onnx.export(lambda x: (x > 0).max(axis=1), Tensor(data(3, 4)), path)
    assert not path.exists()
    proto, worst = check_fresh(lambda x: (x > 0).max(axis=1), data(3, 4), tmp_path, opset=20)
    assert worst == 0


def test_bool_and_integer_casts(tmp_path):
    def fn(x):
        mask = (x > 0).astype(np.float32)  # a float mask made from a comparison
        counts = (x * 3).astype(np.int64)  # truncation toward zero, as numpy
        return x * mask + (x > 1) * 1.5, counts, tc.astype(x < 0, np.int32)

    proto, worst = check_fresh(fn, data(4, 5), tmp_path)
    assert worst < ATOL and op_types(proto).count("Cast") >= 3


def test_argmax_and_argmin(tmp_path):
    def fn(x):
        return x.argmax(axis=1), x.argmin(axis=0, keepdims=True), x.argmax(), tc.argmin(x, keepdims=True)

    proto, worst = check_fresh(fn, data(4, 5), tmp_path)
    assert {"ArgMax", "ArgMin"} <= set(op_types(proto)) and worst == 0
    path = tmp_path / "d.onnx"
    tc.onnx.export(lambda x: x.argmax(axis=1), Tensor(data(2, 5)), path, dynamic_batch=True)
    x = data(7, 5, seed=8)
    np.testing.assert_array_equal(run_onnx(path, {"input": x})[0], x.argmax(axis=1))


def test_the_trace_puts_the_functions_back(tmp_path):
    from tinygrad_cnn.ops import elementwise as E
    from tinygrad_cnn.ops import index as I
    from tinygrad_cnn.ops import reduce as R
    from tinygrad_cnn.ops import shape as S

    def functions():
        return (E.compare, E.where, I.getitem, S.astype, R.argmax, R.argmin, tc.where, tc.getitem, tc.astype,
                tc.argmax, tc.argmin)

    before = functions()
    with pytest.raises(RuntimeError):
        tc.onnx.export(lambda x: (x > 0, (_ for _ in ()).throw(RuntimeError("boom")))[0], Tensor(data(2)),
                       tmp_path / "m.onnx")
    tc.onnx.export(lambda x: (x > 0).astype(np.float32) * x, Tensor(data(2)), tmp_path / "m.onnx")
    assert functions() == before


# ----- joining, padding, reductions ------------------------------------------------------------
def test_cat_stack_pad(tmp_path):
    c = Tensor(data(2, 1, 4, seed=5))

    def fn(x):
        joined = tc.cat([x, c, x * 2], axis=1)  # a constant between two computed parts
        stacked = tc.stack([x, x.exp()], axis=-1)
        return tc.pad(joined, ((1, 2), (0, 0), (3, 0)), value=-2.0), stacked, tc.pad(x, 0)

    proto, worst = check_fresh(fn, data(2, 3, 4), tmp_path)
    assert {"Concat", "Pad", "Unsqueeze"} <= set(op_types(proto)) and worst < ATOL


def test_cat_stack_pad_with_a_dynamic_batch(tmp_path):
    def fn(x):
        pair = tc.stack([tc.cat([x, x], axis=2), tc.cat([x, -x], axis=2)], axis=0)  # batch axis now 1
        return tc.pad(pair, ((0, 0), (0, 0), (1, 1), (2, 0)))

    path = tmp_path / "m.onnx"
    tc.onnx.export(fn, Tensor(data(2, 3, 4)), path, dynamic_batch=True)
    x = data(6, 3, 4, seed=3)
    np.testing.assert_allclose(run_onnx(path, {"input": x})[0], fn(Tensor(x)).data, rtol=0, atol=ATOL)
    for bad in (lambda x: tc.cat([x, x], axis=0), lambda x: tc.pad(x, ((1, 0), (0, 0), (0, 0)))):
        with pytest.raises(ValueError, match="along the batch axis"):
            tc.onnx.export(bad, Tensor(data(2, 3, 4)), path, dynamic_batch=True)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions(tmp_path, opset):
    def fn(x):
        return (x.max(), x.min(axis=1), x.max(axis=(0, 2), keepdims=True), x.var(), x.var(axis=1, correction=0),
                x.std(axis=(0, 2), keepdims=True), tc.logsumexp(x, axis=1), tc.logsumexp(x, keepdims=True),
                tc.logsumexp(x * 100, axis=2))  # ±300: a naive log Σ e^x overflows float32

    proto, worst = check_fresh(fn, data(3, 4, 5), tmp_path, opset=opset)
    assert {"ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum"} <= set(op_types(proto)) and worst < ATOL


def test_logsumexp_of_infinities(tmp_path):
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [0.0, -np.inf]], np.float32)
    path = tmp_path / "m.onnx"
    tc.onnx.export(lambda x: tc.logsumexp(x, axis=1), Tensor(x), path)
    np.testing.assert_array_equal(run_onnx(path, {"input": x})[0], tc.logsumexp(Tensor(x), axis=1).data)


def test_elementwise_math(tmp_path):
    def fn(x):
        return (x.abs(), x.abs().sqrt(), x.sin(), x.cos(), (x * 1e-3).log1p(), x.abs().log1p(),
                tc.maximum(x, 0.5), tc.minimum(x, x.flip((0,))))

    proto, worst = check_fresh(fn, data(4, 5), tmp_path)
    assert {"Abs", "Sqrt", "Sin", "Cos", "Log", "Max", "Min"} <= set(op_types(proto)) and worst < ATOL


def test_clip_with_number_and_per_element_bounds(tmp_path):
    """Clip takes one number per bound; bounds that vary per element become Max and Min."""
    lo, hi = np.linspace(-1, 0, 5).astype(np.float32), np.array([[0.5], [1.0], [0.2], [2.0]], np.float32)

    def fn(x):
        return x.clip(-0.5, 0.5), x.clip(lo, hi), x.clip(None, hi), x.clip(Tensor(lo))

    proto, worst = check_fresh(fn, data(4, 5), tmp_path)
    assert {"Clip", "Max", "Min"} <= set(op_types(proto)) and worst < ATOL


# ----- activations (ops/activation.py) ---------------------------------------------------------
@needs_activations
@pytest.mark.parametrize("opset", [13, 18, 20])
def test_activations(tmp_path, opset):
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"onnx {onnx.__version__} has no opset {opset}")
    proto, worst = check_fresh(activations, data(3, 7) * 3, tmp_path, opset=opset)
    types = set(op_types(proto))
    assert {"LeakyRelu", "Elu", "Softplus", "Sigmoid"} <= types and worst < ATOL
    assert ("Gelu" in types) == (opset >= 20) and ("Erf" in types) == (opset < 20)


@needs_activations
def test_activation_gradients(tmp_path):
    """Exporting a gradient: a recorded backward graph of a smooth op is a graph like any other."""
    proto, worst = check_fresh(activation_gradients, data(3, 7) * 2, tmp_path)
    assert "Erf" in op_types(proto) and worst < ATOL


@needs_activations
def test_activation_modules(tmp_path):
    model = nn.Sequential(nn.Linear(6, 8, rng=np.random.default_rng(0)), nn.GELU(), nn.LeakyReLU(0.3), nn.ELU(),
                          nn.SiLU(), nn.Softplus(beta=0.5), nn.Softmax(axis=1))
    proto, worst = check_fresh(model, data(4, 6), tmp_path)
    assert worst < ATOL


# ----- layers in eval mode ---------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(nn, "BatchNorm2d"), reason="nn.BatchNorm2d is not in this version")
def test_batchnorm_and_dropout_in_eval_mode(tmp_path):
    rng = np.random.default_rng(6)
    bn2, bn1 = nn.BatchNorm2d(4), nn.BatchNorm1d(5, affine=False)
    for bn in (bn2, bn1):
        bn.running_mean.data = rng.normal(size=bn.num_features).astype(np.float32)
        bn.running_var.data = rng.random(bn.num_features).astype(np.float32) + 0.5
    bn2.weight.data = rng.normal(size=4).astype(np.float32)
    bn2.bias.data = rng.normal(size=4).astype(np.float32)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, rng=rng), bn2, nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 5, rng=rng), bn1, nn.Dropout(0.2))
    model.train()
    trained = tc.onnx.export(model, Tensor(data(3, 2, 6, 6)), tmp_path / "t.onnx")
    assert model.training  # exported in eval mode, put back in training mode
    model.eval()
    proto, worst = check_fresh(model, data(3, 2, 6, 6), tmp_path)
    assert op_types(proto) == op_types(trained) and worst < ATOL
    assert not {"Dropout", "RandomUniformLike"} & set(op_types(proto))  # dropout is the identity in eval mode


# ----- losses: not exported, with the reason -----------------------------------------------------
def test_losses_are_not_exported(tmp_path):
    t = Tensor(np.array([[0.0, 1.0]], np.float32))
    with pytest.raises(ValueError, match=r"BinaryCrossEntropy\) has no ONNX form \(a loss is for training"):
        tc.onnx.export(lambda x: tc.binary_cross_entropy(x.sigmoid(), t), Tensor(data(1, 2)), tmp_path / "m.onnx")
    if hasattr(tc, "mse_loss"):
        with pytest.raises(ValueError, match=r"MSELoss\) has no ONNX form \(a loss is for training"):
            tc.onnx.export(lambda x: tc.mse_loss(x, t), Tensor(data(1, 2)), tmp_path / "m.onnx")
    if hasattr(tc, "nll_loss"):
        with pytest.raises(ValueError, match=r"NLLLoss\) has no ONNX form .*labels are an option"):
            tc.onnx.export(lambda x: tc.nll_loss(x, [1]), Tensor(data(1, 2)), tmp_path / "m.onnx")
