"""No leaks: a graph is freed by reference counting alone, so training with the cycle
collector switched off keeps memory flat, and dropping the loss frees every
intermediate tensor and op at once (with or without a backward pass)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
import weakref
from typing import Iterator

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor, nn, optim
from tinygrad_cnn.tensor import Function


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()  # start from a clean heap: nothing left for the collector to find later
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def fill_tuple_free_lists() -> None:
    """Make CPython's tuple free lists start in their steady state.

    CPython keeps up to 2000 freed tuples of each length under 20 for reuse.
    `tuple(generator)` takes a 10-long tuple from that list and resizes it, so the
    framework's shape and axis tuples are freed into the list of their own length
    without having come from it: those lists gain a few tuples each step and the
    10-list drains, until all are full or empty (~125 steps, a few hundred KiB moved;
    measured, not a leak). Filling them all but the 10-list up front leaves tracemalloc
    and the block count seeing only what the framework itself keeps.
    """
    held = [tuple([i] * n) for n in range(1, 20) if n != 10 for i in range(2000)]
    del held


def numpy_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes of array data alive: numpy reports its buffers to tracemalloc in its own domain."""
    domain = tracemalloc.DomainFilter(inclusive=True, domain=np.lib.tracemalloc_domain)
    return sum(stat.size for stat in snapshot.filter_traces([domain]).statistics("filename"))


def live(kind: type) -> int:
    """Objects of `kind` alive now (gc.get_objects works with the collector disabled)."""
    # (type(o), not isinstance: that would read o.__class__, which some modules' lazy
    # attributes answer with a deprecation warning)
    return sum(1 for o in gc.get_objects() if issubclass(type(o), kind))


def graph_of(root: Tensor) -> tuple[list[weakref.ref], list[weakref.ref]]:
    """Weak references to every non-leaf tensor and every op behind `root`."""
    tensors, ops, seen, stack = [], [], set(), [root]
    while stack:
        t = stack.pop()
        if id(t) in seen or t._ctx is None:
            continue
        seen.add(id(t))
        tensors.append(weakref.ref(t))
        ops.append(weakref.ref(t._ctx))
        stack.extend(t.parents)
    return tensors, ops


def make_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, rng=np.random.default_rng(0)), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 1, rng=np.random.default_rng(1)), nn.Sigmoid())


def ran_in_a_fresh_interpreter(request: pytest.FixtureRequest) -> bool:
    """Run this test alone in a new interpreter when another test file imported PyTorch.

    Its import leaves CPython's small-object free lists in a different state, which moves
    tracemalloc's byte counts by a few KiB over 300 steps although nothing leaks; the
    bounds below were measured in a plain interpreter, so the test runs in one.
    """
    if "torch" not in sys.modules or os.environ.get("TINYGRAD_CNN_FRESH_RUN"):
        return False
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
        cwd=request.config.rootpath, env={**os.environ, "TINYGRAD_CNN_FRESH_RUN": "1"},
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    return True


@pytest.mark.parametrize("anomaly", [False, True], ids=["plain", "detect_anomaly"])
def test_training_1000_steps_keeps_memory_flat(no_cycle_collector, anomaly, request):
    """A leak grows with every step; what the interpreter and numpy keep for reuse grows
    for a while and stops. So memory is read over three windows of 300 steps, and a leak
    is growth that every window shows: the smallest must stay under a leak's size.
    """
    if ran_in_a_fresh_interpreter(request):
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32).reshape(8, 1)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    mode = tc.detect_anomaly(anomaly)

    def step() -> float:
        with mode:
            opt.zero_grad()
            loss = tc.bce(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    fill_tuple_free_lists()
    tracemalloc.start()
    try:
        first = step()
        for _ in range(49):
            step()
        arrays_50 = numpy_bytes(tracemalloc.take_snapshot())
        tensors_50, ops_50 = live(Tensor), live(Function)
        # Counting (the snapshot, gc.get_objects) stirs the interpreter's free lists itself:
        # 50 more steps let them settle before the first window.
        for _ in range(50):
            step()
        grown, blocks_grown, peaks = [], [], []
        for _window in range(3):  # steps 101-400, 401-700, 701-1000
            current, _ = tracemalloc.get_traced_memory()
            blocks = sys.getallocatedblocks()
            tracemalloc.reset_peak()
            for _ in range(300):
                last = step()
            current_after, peak = tracemalloc.get_traced_memory()
            grown.append(current_after - current)
            blocks_grown.append(sys.getallocatedblocks() - blocks)
            peaks.append(peak)
        arrays_1000 = numpy_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert last < 0.5 * first  # it did train
    assert live(Tensor) == tensors_50 and live(Function) == ops_50 == 0
    assert arrays_1000 <= arrays_50  # array data: numpy reports each buffer to tracemalloc
    # Python objects: keeping one float per step adds ~300 blocks and ~9.8 KiB to every
    # window (checked); a graph per step, megabytes. Measured without a leak: +12 blocks
    # and +0.4 KiB in the first window, +1 block and 0 bytes in the others. With
    # detect_anomaly, its numpy checks leave 1- and 2-tuples behind now and then early on:
    # up to +83 blocks and +4.7 KiB in the first window here, +8.6 KiB once in CI.
    assert min(blocks_grown) < 150, blocks_grown
    assert min(grown) < 8 * 1024, grown
    peak_grown = [b - a for a, b in zip(peaks, peaks[1:])]
    assert min(abs(g) for g in peak_grown) < 8 * 1024, peaks


def test_training_with_raw_tensors_keeps_the_object_count_flat(no_cycle_collector):
    """The seed's network from bare Tensors and hand-written SGD, with a second-order term."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, 6, 6))
    t = rng.integers(0, 2, (4, 1)).astype(np.float64)
    k = Tensor(rng.standard_normal((2, 1, 3, 3)) * 0.3, requires_grad=True)
    b = Tensor(np.zeros((2, 1, 1)), requires_grad=True)
    w = Tensor(rng.standard_normal((2 * 4 * 4, 1)) * 0.1, requires_grad=True)
    counts = []
    for i in range(400):
        h = (tc.correlate2d(x, k) + b).sigmoid().reshape(4, -1)
        loss = tc.bce((h @ w).sigmoid(), t)
        (dk,) = tc.grad(loss, k, create_graph=True)  # a gradient penalty: a graph through a gradient
        total = loss + 1e-3 * (dk * dk).sum()
        total.backward()
        for p in (k, b, w):
            p.data -= 0.1 * p.grad
            p.grad = None
        if i in (50, 399):
            counts.append((live(Tensor), live(Function)))
    del h, loss, dk, total
    assert counts[0] == counts[1], counts
    assert live(Function) == 0


def test_dropping_the_loss_frees_the_graph(no_cycle_collector):
    rng = np.random.default_rng(2)
    k = Tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True)
    x = Tensor(rng.standard_normal((2, 2, 5, 5)))
    loss = tc.bce((tc.correlate2d(x, k).relu().mean(axis=(1, 2, 3)) - 1).sigmoid(), np.array([0.0, 1.0]))
    tensors, ops = graph_of(loss)
    assert len(tensors) >= 6
    del loss
    assert all(r() is None for r in tensors + ops)
    assert k._ctx is None and x._ctx is None  # inputs point nowhere, so they kept nothing alive


@pytest.mark.parametrize("create_graph", [False, True])
def test_dropping_the_loss_after_backward_frees_the_graph(no_cycle_collector, create_graph):
    rng = np.random.default_rng(3)
    k = Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    x = Tensor(rng.standard_normal((1, 1, 6, 6)), requires_grad=True)
    h = tc.convolve2d(x, k).tanh()
    loss = (h * h).sum().log()
    tensors, ops = graph_of(loss)
    if create_graph:
        grads = tc.grad(loss, [x, k], create_graph=True)  # the gradients carry a graph of their own
        more_tensors, more_ops = zip(*(graph_of(g) for g in grads))
        tensors += [r for rs in more_tensors for r in rs]
        ops += [r for rs in more_ops for r in rs]
        del grads
    else:
        loss.backward()
        assert k.grad is not None and h.grad is not None  # intermediates got their .grad
    alive_h = weakref.ref(h)
    del loss
    # the user still holds h: h and what made it live on, everything after it is gone
    kept = {id(r()) for r in graph_of(h)[0]}
    assert h._ctx is not None and id(h) in kept
    assert [r for r in tensors if r() is not None and id(r()) not in kept] == []
    del h
    assert all(r() is None for r in tensors + ops)
    assert alive_h() is None


def test_no_grad_results_hold_no_graph(no_cycle_collector):
    k = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    before = live(Function)
    with tc.no_grad():
        y = tc.correlate2d(np.ones((1, 1, 4, 4)), k).sigmoid()
    assert y._ctx is None and live(Function) == before
