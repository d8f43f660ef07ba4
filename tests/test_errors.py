"""Bad input fails loudly, naming the op and the shapes as Python tuples."""

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: tc.correlate2d(np.ones((3, 8, 8)), np.ones((5, 2, 3, 3))), r"correlate2d.*\(3, 8, 8\).*\(5, 2, 3, 3\)"),
        (lambda: tc.correlate2d(np.ones((3, 3)), np.ones((4, 4))), r"correlate2d.*\(4, 4\).*larger.*\(3, 3\)"),
        (lambda: tc.correlate2d(np.ones((3, 3)), np.ones((2, 2)), mode="same"), r"correlate2d.*mode 'same'"),
        (lambda: tc.correlate2d(np.ones((3, 3)), np.ones((1, 1, 2, 2))), r"correlate2d.*\(3, 3\).*\(1, 1, 2, 2\)"),
        (lambda: tc.correlate2d(np.ones((2, 3, 3, 3, 3)), np.ones((1, 3, 2, 2))), r"\(2, 3, 3, 3, 3\)"),
        (lambda: tc.convolve2d(np.ones((1, 4, 4)), np.ones((1, 2, 2))), r"convolve2d.*\(1, 4, 4\).*\(1, 2, 2\)"),
        (lambda: Tensor(np.ones((2, 3))) + np.ones((4, 3)), r"add.*\(2, 3\).*\(4, 3\)"),
        (lambda: Tensor(np.ones((2, 3))) * np.ones(2), r"mul.*\(2, 3\).*\(2,\)"),
        (lambda: tc.matmul(np.ones((2, 3)), np.ones((4, 5))), r"matmul.*\(2, 3\).*\(4, 5\)"),
        (lambda: tc.matmul(np.ones(3), Tensor(2.0)), r"matmul.*\(3,\).*\(\)"),
        (lambda: tc.bce(Tensor([0.5, 0.5]), np.ones(3)), r"binary_cross_entropy.*\(2,\).*\(3,\)"),
        (lambda: tc.bce(Tensor([0.5, 1.5]), np.ones(2)), r"binary_cross_entropy.*\[0, 1\]"),
        (lambda: tc.bce(Tensor([0.5]), np.ones(1), reduction="max"), r"reduction 'max'"),
        (lambda: Tensor(np.ones((2, 3))).reshape(4, 2), r"reshape.*\(2, 3\).*\(4, 2\)"),
        (lambda: Tensor(np.ones((2, 3))).transpose(0, 0), r"transpose.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3))).sum(axis=2), r"sum.*axis 2"),
        (lambda: tc.cross_entropy(np.ones((2, 3)), np.array([0, 3])), r"cross_entropy.*\(2, 3\)"),
        (lambda: tc.softmax(np.ones((2, 3)), axis=2), r"softmax.*\(2, 3\)"),
    ],
)
def test_value_errors_name_op_and_shapes(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="exponent"):
        Tensor([1.0]) ** Tensor([2.0])
    with pytest.raises(TypeError):
        Tensor([1.0]) + "a"
    with pytest.raises(TypeError):
        Tensor(object())


def test_nothing_is_silently_broadcast_in_conv():
    """A (C, H, W) input with a 2-D kernel is ambiguous: rejected, not broadcast."""
    with pytest.raises(ValueError, match=r"\(3, 5, 5\).*\(2, 2\)"):
        tc.correlate2d(np.ones((3, 5, 5)), np.ones((2, 2)))


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: Tensor(np.ones((2, 3))).transpose(0, 5), ValueError, r"transpose.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3))).transpose(0, -3), ValueError, r"transpose.*\(2, 3\)"),
        (lambda: Tensor(np.ones((2, 3))).reshape(2.5, 3), TypeError, r"ints"),
        (lambda: Tensor(np.ones((2, 3))).sum(axis=(0, 0)), ValueError, r"sum.*repeats"),
        (lambda: Tensor(1.0).sum(axis=1), ValueError, r"sum: axis 1"),
        (lambda: Tensor(np.ones(2)).sum(axis=1.0), TypeError, r"sum: axis"),
        (lambda: (Tensor(np.ones(2), requires_grad=True) * 2).backward("abc"), TypeError, r"backward.*\(2,\)"),
        (lambda: tc.bce(Tensor([0.5]), "a"), TypeError, r"binary_cross_entropy"),
        (lambda: Tensor(None), TypeError, r"None"),
        (lambda: tc.grad(Tensor([1.0]) * 2, Tensor([1.0], requires_grad=True)), ValueError, r"grad:"),
    ],
)
def test_more_bad_inputs(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_layer_data_and_checkpoint_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"Flatten.*\(\)"):
        tc.nn.Flatten()(Tensor(1.0))
    assert isinstance(tc.nn.Flatten()(np.ones((2, 3, 4))), Tensor)
    assert tc.nn.Conv2d(1, 2, np.int64(3)).weight.shape == (2, 1, 3, 3)
    xb, yb = next(tc.data.batches([1, 2, 3], [4, 5, 6], 2, shuffle=False))
    np.testing.assert_array_equal(xb, [1, 2])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        tc.data.batches(np.ones(3), np.ones(2), 2)  # checked when called, not at the first next()
    with pytest.raises(TypeError, match="cross_entropy.*integers"):
        tc.cross_entropy(np.ones((2, 3)), ["a", "b"])
    missing = tmp_path / "no" / "such" / "x.npz"
    with pytest.raises(FileNotFoundError, match="x.npz"):
        tc.save({"w": np.ones(2)}, missing)


def test_drawing_shows_options_not_internals():
    y = tc.correlate2d(Tensor(np.ones((1, 1, 4, 4)), requires_grad=True), np.ones((2, 1, 3, 3)))
    source = tc.draw_graph(y).source
    assert "mode=&#x27;valid&#x27;" in source or "mode='valid'" in source
    assert "layout" not in source


@pytest.mark.parametrize("op, call", [
    ("sum", lambda t: t.sum(3)), ("max", lambda t: t.max(-4)), ("var", lambda t: t.var(5)),
    ("std", lambda t: t.std((0, 3))), ("logsumexp", lambda t: t.logsumexp(3)), ("squeeze", lambda t: t.squeeze(3)),
    ("flip", lambda t: t.flip(3)), ("cat", lambda t: tc.cat([t, t], axis=3)), ("split", lambda t: t.split(1, axis=3)),
])
def test_an_axis_out_of_range_names_the_op_and_the_shape(op, call):
    with pytest.raises(ValueError, match=rf"^{op}: axis -?\d is out of range for a tensor of shape \(2, 3, 1\)$"):
        call(Tensor(np.ones((2, 3, 1))))


def test_class_labels_are_integers_or_whole_floats_never_bools():
    """Python numbers in a Tensor are float64, so whole-number floats are labels; bools
    and fractions are refused, as PyTorch refuses them."""
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    assert tc.cross_entropy(logits, Tensor([0, 2])).item() == pytest.approx(np.log(3))
    for op in (tc.cross_entropy, tc.nll_loss):
        with pytest.raises(TypeError, match=rf"{op.__name__}: labels must be class indices \(integers\), got dtype bool"):
            op(logits, np.array([True, False]))
        with pytest.raises(TypeError, match=rf"{op.__name__}: labels must be class indices"):
            op(logits, np.array([0.5, 1.0]))
