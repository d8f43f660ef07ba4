"""Module registration (the PyTorch way), modes, dtypes, state dicts, new layers' own
behaviour (dropout, batch norm shapes), optimizer arguments, and the drawing scopes."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn, optim
from tinygrad_cnn.grad_mode import current_scope


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.blocks = nn.ModuleList([nn.Linear(2 * 4 * 4, 5), nn.Linear(5, 3)])
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = self.bn(self.conv1(x)).relu()
        h = self.blocks[0](h.reshape(h.shape[0], -1)).relu()
        return self.blocks[1](self.drop(h)) * self.scale


def test_assigned_layers_parameters_and_buffers_are_registered():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "blocks.0.weight",
                     "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert list(net.state_dict())[:3] == ["scale", "conv1.weight", "conv1.bias"]
    assert "bn.num_batches_tracked" in net.state_dict()
    assert [n for n, _ in net.named_children()] == ["conv1", "bn", "blocks", "drop"]
    assert net.children() == [net.conv1, net.bn, net.blocks, net.drop]
    assert [n for n, _ in net.named_modules()] == ["", "conv1", "bn", "blocks", "blocks.0", "blocks.1", "drop"]
    assert len(net.modules()) == 7
    assert net.scale.name == "scale" and net.blocks[0].weight.name == "weight"
    opt = optim.Adam(net.parameters())
    assert len(opt.params) == 9


def test_a_module_without_super_init_still_registers():
    class Bare(nn.Module):
        def __init__(self):  # no super().__init__()
            self.lin = nn.Linear(2, 2)

    assert len(Bare().parameters()) == 2


def test_parameter_is_a_leaf_that_requires_grad_and_shares_its_array():
    a = np.zeros(3)
    p = nn.Parameter(a)
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf and p.data is a
    q = nn.Parameter(Tensor(np.ones(2), name="w"))
    assert q.requires_grad and q.name == "w"
    assert "Parameter containing" in repr(p)


def test_plain_list_of_modules_is_refused_naming_modulelist():
    class Wrong(nn.Module):
        def __init__(self):
            self.layers = [nn.Linear(2, 2), nn.ReLU()]

    with pytest.raises(TypeError, match="ModuleList"):
        Wrong()
    m = nn.Module()
    m.sizes = [1, 2, 3]  # a list of other things is an ordinary attribute
    assert m.sizes == [1, 2, 3] and m.parameters() == []


def test_shadowing_a_registered_name_is_an_error_naming_it():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match=r"Linear.weight is a registered parameter.*Parameter"):
        lin.weight = Tensor(np.zeros((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match="registered parameter"):
        lin.weight = np.zeros((3, 2))
    net = Net()
    with pytest.raises(TypeError, match=r"Net.conv1 is a registered sub-module"):
        net.conv1 = "not a module"
    assert isinstance(net.conv1, nn.Conv2d)  # nothing changed
    lin.weight = nn.Parameter(np.ones((3, 2), dtype=np.float32))  # a Parameter replaces it
    assert lin.parameters()[0] is lin.weight
    lin.bias = None  # None empties the slot, as PyTorch
    assert [n for n, _ in lin.named_parameters()] == ["weight"] and lin(np.ones((1, 2))).shape == (1, 3)
    del net.blocks
    assert "blocks" not in [n for n, _ in net.named_children()]
    net.bn.running_mean = np.ones(2)  # a buffer takes new values
    assert isinstance(net.bn.running_mean, Tensor) and net.state_dict()["bn.running_mean"].tolist() == [1, 1]


def test_modulelist_operations():
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Linear(1, 1)).extend([nn.Tanh()])
    ml.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU", "Linear", "Tanh"]
    assert [n for n, _ in ml.named_parameters()] == ["2.weight", "2.bias"]
    del ml[0]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"] and len(ml) == 3
    with pytest.raises(TypeError, match="ModuleList: expected a Module"):
        ml.append(3)
    assert isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 2


def test_train_eval_return_the_module_and_reach_every_submodule():
    net = Net()
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.blocks.eval()
    assert net.training and not net.blocks[0].training
    with pytest.raises(TypeError, match="True or False"):
        net.train("no")


def test_to_double_float_convert_parameters_buffers_grads_in_place():
    net = Net()
    weight = net.conv1.weight
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.train()
    net(np.random.default_rng(0).random((2, 1, 6, 6))).sum().backward()
    assert net.double() is net
    assert weight is net.conv1.weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert net.bn.running_var.dtype == np.float64 and net.bn.num_batches_tracked.dtype == np.int64
    opt.step()  # the optimizer still holds the same (now float64) tensors
    assert net.float().bn.running_mean.dtype == np.float32
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="float32 and float64"):
        net.to(np.int32)


def test_load_state_dict_copies_accepts_tensors_and_reports_keys():
    a, b = Net(), Net()
    sd = {k: Tensor(v) for k, v in a.state_dict().items()}  # Tensors are accepted too
    raw = a.state_dict()
    b.load_state_dict(raw)
    raw["conv1.weight"][...] = 99.0  # no aliasing: the model keeps its copy
    assert not np.any(b.conv1.weight.data == 99.0)
    b.load_state_dict(sd)
    np.testing.assert_array_equal(b.conv1.weight.data, a.conv1.weight.data)
    partial = dict(a.state_dict())
    partial.pop("scale")
    partial["extra.weight"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"missing keys \['scale'\].*unexpected keys \['extra.weight'\]"):
        b.load_state_dict(partial)
    result = b.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra.weight"]
    missing, unexpected = result  # unpacks like PyTorch's NamedTuple
    assert missing == ["scale"]
    with pytest.raises(TypeError, match="state_dict"):
        b.load_state_dict(a)


def test_load_state_dict_takes_a_per_channel_bias_of_either_shape():
    class SeedBias(nn.Module):
        def __init__(self):
            self.bias = nn.Parameter(np.zeros((3, 1, 1)))

    m = SeedBias()
    m.load_state_dict({"bias": np.array([1.0, 2.0, 3.0])})  # PyTorch's (C_out,)
    assert m.bias.shape == (3, 1, 1) and m.bias.data.ravel().tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        m.load_state_dict({"bias": np.zeros((3, 2))})


def test_load_state_dict_bumps_versions_so_stale_graphs_refuse():
    lin = nn.Linear(2, 2, dtype=np.float64)
    y = (lin.weight * lin.weight).sum()  # mul saves the weight itself
    lin.load_state_dict(lin.state_dict())
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_sequential_indexing_append_and_repr():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0:2], nn.Sequential) and seq(np.ones((4, 2))).shape == (4, 1)
    assert "(2): Linear(in_features=3" in repr(seq)


def test_apply_visits_every_module_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Conv2d", "BatchNorm2d", "Linear", "Linear", "ModuleList", "Dropout", "Net"]

    def init(m):
        if isinstance(m, nn.Linear):
            m.weight.data = np.zeros_like(m.weight.data)

    net.apply(init)
    assert all(not lin.weight.data.any() for lin in net.blocks) and net.conv1.weight.data.any()


def test_requires_grad_freezes_and_unfreezes_parameters():
    net = Net()
    assert net.blocks.requires_grad_(False) is net.blocks
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    net(x).sum().backward()
    assert all(p.grad is None for p in net.blocks.parameters())
    assert net.conv1.weight.grad is not None
    before = [p.data.copy() for p in net.blocks.parameters()]
    optim.SGD(net.parameters(), lr=0.1).step()  # frozen parameters are skipped
    assert all(np.array_equal(a, p.data) for a, p in zip(before, net.blocks.parameters()))
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_tensor_requires_grad_in_place():
    t = Tensor(np.ones(3))
    assert t.requires_grad_() is t and t.requires_grad
    y = t * 2
    with pytest.raises(RuntimeError, match=r"requires_grad_: the output of mul .*only a leaf"):
        y.requires_grad_(False)
    assert t.requires_grad_(False) is t and not t.requires_grad
    with pytest.raises(TypeError, match="only float tensors"):
        Tensor(np.arange(3)).requires_grad_()


def test_a_slice_of_a_sequential_keeps_the_layers_names():
    """As PyTorch: model[1:] of a Sequential holds its layers under their own names, so
    its state_dict keys are the ones the same slice of a PyTorch model has."""
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert list(seq[1:].state_dict()) == ["2.weight", "2.bias"]
    assert list(seq[::2].state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq[1:][1] is seq[2] and len(seq[1:]) == 2
    assert "(2): Linear(in_features=3" in repr(seq[1:])


def test_a_module_held_under_two_names_is_one_child_with_one_set_of_buffers():
    """children() and buffers() list a shared module once, under its first name, as
    PyTorch; state_dict has it under both names."""

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)
            self.again = self.bn

    m = Twice()
    assert m.named_children() == [("bn", m.bn)] and m.children() == [m.bn]
    assert [n for n, _ in m.named_buffers()] == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert len(m.buffers()) == 3
    assert [k for k in m.state_dict() if k.startswith("again.")] == [
        "again.weight", "again.bias", "again.running_mean", "again.running_var", "again.num_batches_tracked"]


# ----- dropout ---------------------------------------------------------------------------
def test_dropout_scales_kept_values_zeros_the_rest_and_is_identity_in_eval():
    drop = nn.Dropout(0.25, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).uniform(1, 2, (200, 50)).astype(np.float32), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert y.dtype == np.float32
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.75, rtol=1e-6)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    np.testing.assert_allclose(x.grad, np.where(kept, g / 0.75, 0), rtol=1e-6)
    assert not np.array_equal(drop(x).data != 0, kept)  # a new mask each call
    drop.eval()
    assert drop(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_outside_0_1_is_refused(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(p)
    with pytest.raises(TypeError, match="number"):
        nn.Dropout("0.5")


# ----- batch norm's input checks -------------------------------------------------------------
def test_batchnorm_rejects_wrong_shapes_naming_them():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"C = 4.*\(2, 3\)"):
        nn.BatchNorm1d(4)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.zeros((1, 3)))
    assert nn.BatchNorm1d(3).eval()(np.zeros((1, 3))).shape == (1, 3)  # eval: running statistics


def test_batchnorm_counts_batches_and_keeps_float32():
    bn = nn.BatchNorm2d(2)
    for _ in range(3):
        y = bn(np.random.default_rng(0).random((4, 2, 3, 3)))
    assert int(bn.num_batches_tracked.data) == 3 and y.dtype == np.float32
    bn.eval()
    bn(np.zeros((1, 2, 3, 3)))
    assert int(bn.num_batches_tracked.data) == 3


def test_softmax_layer_needs_an_axis():
    with pytest.raises(TypeError, match="axis"):
        nn.Softmax()
    np.testing.assert_allclose(nn.Softmax(dim=0)(np.zeros((2, 3))).data, np.full((2, 3), 0.5))


# ----- optimizers: arguments ------------------------------------------------------------------
def test_optimizer_given_a_module_says_to_call_parameters():
    with pytest.raises(TypeError, match=r"model\.parameters\(\)"):
        optim.SGD(Net(), lr=0.1)
    with pytest.raises(TypeError, match=r"model\.parameters\(\)"):
        optim.Adam(Net())


@pytest.mark.parametrize("lr", ["0.1", None, [0.1]])
def test_learning_rate_of_the_wrong_type_names_it(lr):
    with pytest.raises(TypeError, match=r"lr must be a number, got"):
        optim.SGD(Net().parameters(), lr=lr)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), "learning rate"), (dict(lr=float("nan")), "learning rate"), (dict(lr=0.1, momentum=-1), "momentum"),
    (dict(lr=0.1, weight_decay=-1), "weight_decay"), (dict(lr=0.1, nesterov=True), "nesterov=True needs a momentum"),
])
def test_bad_sgd_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.SGD(Net().parameters(), **kwargs)


def test_read_only_parameter_gets_a_clear_message_and_nothing_changes():
    frozen = np.ones(3)
    frozen.flags.writeable = False
    p, q = Tensor(np.ones(3), requires_grad=True), Tensor(frozen, requires_grad=True)
    p.grad, q.grad = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match=r"parameter 1 .*read-only.*writable copy"):
        optim.SGD([p, q], lr=0.1).step()
    assert p.data.tolist() == [1, 1, 1]


def test_optimizer_state_dict_rejects_a_mismatch():
    ps = Net().parameters()
    opt = optim.Adam(ps)
    with pytest.raises(ValueError, match="missing keys"):
        opt.load_state_dict(optim.SGD(ps, lr=0.1).state_dict())
    sd = opt.state_dict()
    sd["state.0.exp_avg"] = np.zeros(7)
    with pytest.raises(ValueError, match="unexpected key|parameter 0"):
        opt.load_state_dict(sd)


def test_optimizer_state_dict_is_checked_as_the_constructor_checks():
    """A state the next step could not use, or hyperparameters the constructor refuses,
    are refused at load, and the optimizer is left as it was."""
    p = nn.Parameter(np.ones(3))
    adam = optim.Adam([p], lr=0.1)
    good = {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    with pytest.raises(ValueError, match=r"parameter 0 has state \['step'\]; it needs all of"):
        adam.load_state_dict({**good, "state.0.step": np.array(3)})
    with pytest.raises(ValueError, match=r"Adam: betas must lie in \[0, 1\)"):
        adam.load_state_dict({**good, "beta1": 1.5})
    assert adam.betas == (0.9, 0.999) and adam.state == [{}]
    sgd = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum > 0"):
        sgd.load_state_dict({"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": 1.0})
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        sgd.load_state_dict({"lr": 0.1, "momentum": 0.5, "weight_decay": 0.0, "nesterov": 0.5})
    assert (sgd.momentum, sgd.nesterov) == (0.0, False)
    sgd.load_state_dict({"lr": 0.2, "momentum": 0.5, "weight_decay": 0.0, "nesterov": 1.0})
    assert (sgd.lr, sgd.momentum, sgd.nesterov) == (0.2, 0.5, True)


def test_an_optimizer_step_makes_a_stale_graph_refuse_backward():
    lin = nn.Linear(2, 1, dtype=np.float64)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    loss = (lin.weight * lin.weight).sum() + lin(np.ones((1, 2))).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


# ----- drawing scopes -------------------------------------------------------------------------
def test_module_calls_open_named_scopes():
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            s = current_scope()
            seen[id(self)] = (s.name, s.path, s.module is self)
            return x

    class Outer(nn.Module):
        def __init__(self):
            self.first = Probe()
            self.seq = nn.Sequential(Probe())
            self.helper = Probe()

        def forward(self, x):
            x = self.seq(self.first(x))
            return x

    outer = Outer()
    stray = Probe()
    y = nn.Sequential(nn.Linear(2, 2))(np.ones((1, 2)))
    assert y._ctx.scope.path == "0"
    outer(np.ones(2))
    assert seen[id(outer.first)] == ("first", "first", True)
    assert seen[id(outer.seq[0])] == ("0", "seq.0", True)
    stray(np.ones(2))
    assert seen[id(stray)][0] == ""  # the root
    with tc.grad_mode(True):
        from tinygrad_cnn.grad_mode import scope

        with scope("block", module=outer):
            stray(np.ones(2))  # not a child of outer: named by its class
    assert seen[id(stray)][:2] == ("Probe", "block.Probe")
    assert current_scope() is None


def test_sequential_from_a_dict_set_and_delete_as_pytorch():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU()), ("flat", nn.Flatten())]))
    assert [n for n, _ in seq.named_children()] == ["conv", "act", "flat"] and seq.conv is seq[0]
    assert list(seq.state_dict()) == ["conv.weight", "conv.bias"]
    seq[1] = nn.Tanh()  # keeps the name "act"
    assert isinstance(seq.act, nn.Tanh) and seq[1] is seq.act
    x = np.ones((1, 1, 5, 5), np.float32)
    np.testing.assert_allclose(seq(x).data, seq.conv(x).tanh().reshape(1, -1).data)
    del seq[0]  # the rest are numbered again, as PyTorch does
    assert [n for n, _ in seq.named_children()] == ["0", "1"] and not hasattr(seq, "conv") and seq.state_dict() == {}
    numbered = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    del numbered[:2]
    assert [type(m).__name__ for m in numbered] == ["Sigmoid"] and list(numbered._modules) == ["0"]
    with pytest.raises(IndexError, match="index 5 is out of range for 1 layers"):
        numbered[5] = nn.ReLU()
    with pytest.raises(TypeError, match="not a Module"):
        numbered[0] = 3
    with pytest.raises(TypeError, match="Sequential: layer b is a int"):
        nn.Sequential({"a": nn.ReLU(), "b": 1})


def test_sequential_names_repr_and_refused_keys_as_pytorch():
    r = nn.ReLU()
    assert "(0): ReLU()" in repr(nn.Sequential(r, r)) and "(1): ReLU()" in repr(nn.Sequential(r, r))
    tail = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())[1:]
    tail.append(nn.Identity())  # the next free number: the slice's "2" is kept
    assert list(tail._modules) == ["1", "2", "3"] and isinstance(tail[1], nn.Sigmoid)
    for key, message in [("train", "already has an attribute 'train'"), ("a.b", "without '.'"), ("", "non-empty")]:
        with pytest.raises(KeyError, match=message):
            nn.Sequential({key: nn.ReLU()})
    assert not isinstance(nn.LogSoftmax(1), nn.Softmax) and not isinstance(nn.AvgPool2d(2), nn.MaxPool2d)


def test_append_after_named_layers_and_module_names_must_be_strings():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict(conv=nn.ReLU(), act=nn.Tanh()))
    seq.append(nn.Identity())
    assert list(seq._modules) == ["conv", "act", "2"]  # PyTorch's str(len(self))
    with pytest.raises(TypeError, match="add_module: a module name must be a str, got int 0"):
        nn.Module().add_module(0, nn.ReLU())
