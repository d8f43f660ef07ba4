"""The reverse-mode engine, in five named steps:

- collect:   every tensor that requires grad and leads to the outputs;
- order:     the ops' outputs newest first (an op is always created after its inputs, so
             this visits every consumer before what it consumed; no recursion anywhere);
- seed:      dE/dE = 1, or the gradients given, at the outputs;
- propagate: each op's backward in that order, summing what reaches each input;
- store:     the sums into `.grad` (`backward`), or handed back (`grad`).

A plain pass moves ndarrays from op to op and leaves the thread's grad mode alone;
with `create_graph=True` the gradients are Tensors and every formula is recorded.
Unless the graph is retained, each op frees its saved buffers once its backward ran,
and a second pass through it raises.
"""

from __future__ import annotations

import gc
import sys
from heapq import heappop, heappush
from contextlib import nullcontext
from typing import Any, Sequence

import numpy as np
from numpy import ndarray  # its own name: read per op and per edge, np.ndarray is a second lookup

from . import function as _function
from .grad_mode import grad_mode, state
from .ops import formula
from .tensor import Tensor


def _collect(roots: Sequence[Tensor]) -> tuple[list[Tensor], dict[int, Tensor]]:
    """(op outputs, leaves by id) that require grad and lead to `roots`."""
    outputs: list[Tensor] = []
    leaves: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack = list(roots)
    pop, push, mark = stack.pop, stack.append, seen.add  # bound once: this loop runs per node
    while stack:
        t = pop()
        i = id(t)
        if i in seen:
            continue
        mark(i)
        fn = t._ctx
        if fn is None:
            leaves[i] = t
            continue
        outputs.append(t)
        for p in fn.parents:
            if p.requires_grad and id(p) not in seen:
                push(p)
    return outputs, leaves


def _order(outputs: list[Tensor]) -> list[Tensor]:
    """Newest op first: every consumer of a tensor comes before the op that made it."""
    keyed = sorted([(t._ctx.seq, t) for t in outputs], key=_first, reverse=True)  # type: ignore[union-attr]
    return [t for _, t in keyed]


def _first(pair: tuple[int, Tensor]) -> int:
    return pair[0]


def _seed(t: Tensor, grad: object, who: str) -> Any:
    """The gradient a pass starts from at output `t`, as an array (or a Tensor if given one)."""
    if grad is None:
        if t.size != 1:
            raise ValueError(
                f"{who}: grad must be given for a non-scalar output of shape {t.shape} "
                f"(it defaults to ones only for a tensor of size 1)"
            )
        return np.ones_like(t._data)
    if isinstance(grad, Tensor):
        if grad.shape != t.shape:
            raise ValueError(f"{who}: grad of shape {grad.shape} does not match the output's shape {t.shape}")
        return grad if grad.dtype == t.dtype else grad._cast(t.dtype)
    try:
        g = np.array(grad, dtype=t.dtype)  # a copy: a .grad must never alias the caller's array
    except (TypeError, ValueError):
        raise TypeError(f"{who}: grad must be an array of numbers of shape {t.shape}, got {type(grad).__name__}") from None
    if g.shape != t.shape:
        raise ValueError(f"{who}: grad of shape {g.shape} does not match the output's shape {t.shape}")
    return g


def _as_kind(g: Any, record: bool) -> Any:
    """A seed in the pass's kind: a Tensor when recording, else an array."""
    if record:
        return g if isinstance(g, Tensor) else Tensor._make(g)
    return np.array(g._data) if isinstance(g, Tensor) else g


def _check_count(fn: Any, in_grads: Any) -> None:
    """A backward returns one gradient (or None) per input."""
    if not isinstance(in_grads, (tuple, list)) or len(in_grads) != len(fn.parents):
        count = len(in_grads) if isinstance(in_grads, (tuple, list)) else f"a {type(in_grads).__name__}, not a tuple of"
        raise TypeError(f"{type(fn).__name__}.backward returned {count} gradients for {len(fn.parents)} inputs")


def _checked_grad(fn: Any, i: int, pg: Any, record: bool) -> Any:
    """A gradient in the kind of the pass (numpy's 0-d scalars become arrays), or a
    TypeError naming the op: a Tensor in a plain pass would put objects into `.grad`."""
    name = type(fn).__name__
    if record:
        if isinstance(pg, Tensor):
            return pg
        raise TypeError(f"{name}.backward returned a {type(pg).__name__} for input {i} while recording "
                        "(create_graph=True); compute it from self.inputs(g) and g so it is a Tensor")
    if isinstance(pg, np.generic):
        pg = np.asarray(pg)
    if type(pg) is not np.ndarray:
        what = "a Tensor" if isinstance(pg, Tensor) else f"a {type(pg).__name__}"
        raise TypeError(f"{name}.backward returned {what} for input {i} in a plain backward; "
                        "it must return ndarrays (use self.inputs(g), which gives arrays here)")
    if pg.dtype.kind != "f":
        raise TypeError(f"{name}.backward returned an array of dtype {pg.dtype} for input {i}; gradients are floats")
    return pg


def _propagate(order: list[Tensor], grads: dict[int, Any], record: bool, retain: bool,
               keep: set[int] | None, reach: set[int] | None) -> dict[int, Any]:
    """Run each op's backward, newest first; with `keep` None intermediates get their
    `.grad`, else the gradients of the tensors whose ids are in `keep` are returned."""
    kept: dict[int, Any] = {}
    hook = _function._anomaly_hook  # read once: per edge it is the only global the loop needs
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if keep is None:
            _store(node, g.data if record else g, leaf=False)
        elif id(node) in keep:
            kept[id(node)] = g
        fn = node._ctx
        parents = fn.parents
        if reach is not None and not any(id(p) in reach for p in parents):
            continue
        if fn.released:
            _raise_released(fn)
        fn.check_versions(node)
        if record and fn.saves_output:
            fn._refer_to_output(node)
        in_grads = fn.backward(g)
        _check_count(fn, in_grads)
        for i, (p, pg) in enumerate(zip(parents, in_grads)):
            if pg is None or not p.requires_grad or (reach is not None and id(p) not in reach):
                continue
            if record or type(pg) is not np.ndarray or pg.dtype.kind != "f":
                pg = _checked_grad(fn, i, pg, record)
            pd = p._data
            if pg.shape != pd.shape:
                _raise_shape(fn, pg, pd)
            if pg.dtype is not pd.dtype and pg.dtype != pd.dtype:
                pg = formula.cast(pg, pd.dtype)
            if hook is not None:
                hook(fn, pg if record else Tensor._make(pg), "backward")
            k = id(p)
            prev = grads.get(k)
            if prev is None:
                grads[k] = pg
            else:
                total = prev + pg  # two 0-d arrays add up to a numpy scalar: keep it an array
                grads[k] = total if record or type(total) is np.ndarray else np.asarray(total)
        if not retain:
            fn.release()
    return kept


def _sweep(root: Tensor, seed: np.ndarray, retain: bool) -> dict[Tensor, np.ndarray]:
    """A plain `backward()` from one output, the hot path: collect, order and propagate
    in one loop, on arrays only, filling every tensor's `.grad`; returns the gradients of
    the leaves reached.

    A heap pops the newest op first. An op is pushed when the first gradient for its
    output arrives, and every consumer of a tensor is newer than the op that made it and
    is reached first, so each op runs once, after all its consumers (proof: the newest
    unfinished op a root leads to always has a finished consumer, which pushed it).
    The checks of `_propagate` are here too, on a fast path that costs a few
    comparisons per edge and a slow path (`_plain_grad`) that names what is wrong
    (anomaly detection takes `_propagate`, which calls its hook). Pending gradients
    are keyed by the tensors themselves (a Tensor hashes by identity, so the dict never
    calls its elementwise `==`): no `id()` call per edge.

    A leaf reached again and again with tiny gradients (a scalar weight used at every
    step of a loop) collects them in a list, which `_store_leaves` sums in one numpy call:
    `+` costs ~0.2 µs a call whatever the size, the sum of a list ~0.08 µs an array. At
    most `_FEW` elements each, the list holds less memory than the ops that made them.
    """
    grads: dict[Tensor, np.ndarray] = {root: seed}
    if root._ctx is None:
        return grads
    heap = [(-root._ctx.seq, root)]
    pop, get = grads.pop, grads.get
    while heap:
        minus_seq, node = heappop(heap)
        g = pop(node)
        if node._grad is None:
            node._grad = g  # shared, not copied: Tensor.grad hands it out read-only
        else:
            node._grad = np.asarray(node._grad + g)
        fn = node._ctx
        if fn.released:  # read per op: a backward inside this one may have freed it
            _raise_released(fn)
        if -minus_seq < _function.last_change:  # a tensor changed in place since this op ran
            fn.check_versions(node)
        in_grads = fn.backward(g)
        parents = fn.parents
        if type(in_grads) is not tuple or len(in_grads) != len(parents):
            _check_count(fn, in_grads)
        for p, pg in zip(parents, in_grads):
            if pg is None or not p._requires_grad:
                continue
            pd = p._data
            if type(pg) is not ndarray or pg.dtype is not pd.dtype or pg.shape != pd.shape:
                pg = _plain_grad(fn, in_grads, p, pg)
            prev = get(p)
            if prev is None:
                grads[p] = pg
                if p._ctx is not None:
                    heappush(heap, (-p._ctx.seq, p))
            elif type(prev) is list:  # a leaf's tiny gradients: summed at the end
                prev.append(pg)
            elif p._ctx is None and pg.size <= _FEW:
                grads[p] = [prev, pg]
            else:
                pg = prev + pg
                grads[p] = pg if type(pg) is ndarray else np.asarray(pg)  # numpy gives 0-d sums as scalars
        if not retain:
            if fn.buffers:
                fn.release()
            else:
                fn.released = True
    return grads  # every op's output was popped: what is left belongs to leaves


_FEW = 16  # gradients of up to this many elements to a leaf are summed at the end (see _sweep)


def _plain_grad(fn: Any, in_grads: Any, p: Tensor, pg: Any) -> np.ndarray:
    """The slow path of `_sweep` for one gradient: a numpy scalar becomes an array, a
    dtype that differs from the input's is cast to it; anything wrong raises."""
    i = next(i for i, (q, h) in enumerate(zip(fn.parents, in_grads)) if q is p and h is pg)
    pg = _checked_grad(fn, i, pg, False)
    pd = p._data
    if pg.shape != pd.shape:
        _raise_shape(fn, pg, pd)
    return pg if pg.dtype == pd.dtype else pg.astype(pd.dtype)


def _raise_released(fn: Any) -> None:
    raise RuntimeError(
        f"{fn.name}: trying to backward through the graph a second time: its saved buffers were "
        "freed by the first backward; pass retain_graph=True to the first backward (or tc.grad) "
        "to backward through it again"
    )


def _raise_shape(fn: Any, pg: Any, pd: np.ndarray) -> None:
    raise ValueError(f"{type(fn).__name__}.backward gave a gradient of shape {pg.shape} for an input of shape {pd.shape}")


def _store(t: Tensor, g: Any, leaf: bool) -> None:
    """Add `g` into `t.grad`."""
    if type(g) is not np.ndarray:  # numpy returns 0-d results as scalars
        g = np.asarray(g)
    if t.grad is not None:
        t.grad = np.asarray(t.grad + g)
    elif leaf:
        t.grad = g.copy()  # a leaf's own array: optimizers update it in place
    else:
        g.setflags(write=False)  # shared memory, see _sweep
        t.grad = g


def _sole_ref_count() -> int:
    """What `sys.getrefcount` shows for an array only one local variable holds, measured
    the way `_store_leaves` asks (the count differs between Python versions)."""
    a = np.empty(0)
    return sys.getrefcount(a)


_SOLE = _sole_ref_count()


def _store_leaves(grads: dict[Tensor, Any]) -> None:
    """The plain pass's last step: each leaf's gradient into its `.grad`, an array of its
    own (optimizers and users change it in place). The array the pass computed is taken
    as it is when nothing else holds it or its memory (reference counts, as PyTorch's
    AccumulateGrad does), else copied; a (100, 3380) weight's copy costs 0.1–0.2 ms."""
    while grads:
        leaf, g = grads.popitem()
        if type(g) is list:  # tiny gradients the sweep collected: one numpy call for all
            g = np.add.reduce(g)
        if type(g) is not np.ndarray:  # numpy returns 0-d sums as scalars
            g = np.asarray(g)
        if leaf._grad is not None:
            leaf.grad = np.asarray(leaf._grad + g)
            continue
        # (g.flags holds a reference to g while it lives: read it as temporaries only)
        sole = g.flags.writeable and g.flags.c_contiguous and sys.getrefcount(g) == _SOLE
        if sole and g.base is not None:  # a view: its base must have no other holder either
            sole = sys.getrefcount(g.base) == _SOLE
        leaf.grad = g if sole else g.copy()


def _run(roots: Sequence[Tensor], seeds: Sequence[Any], create_graph: bool, retain: bool,
         keep: set[int] | None) -> dict[int, Any]:
    """collect, order, seed, propagate; store into `.grad` when `keep` is None."""
    # The pass makes many short-lived objects and no cycles (refcounting frees them);
    # the cycle collector would only rescan the graph again and again: pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # backward() (one output), without anomaly detection: the specialised sweep
        if keep is None and not create_graph and _function._anomaly_hook is None:
            (root,), (seed,) = roots, seeds
            _store_leaves(_sweep(root, _as_kind(seed, False), retain))
            return {}
        grads: dict[int, Any] = {}
        for r, s in zip(roots, seeds):
            g = _as_kind(s, create_graph)
            grads[id(r)] = grads[id(r)] + g if id(r) in grads else g
        kept: dict[int, Any] = {}
        outputs, leaves = _collect(roots)
        order = _order(outputs)
        # For grad(): only ops with a requested tensor upstream need their backward run,
        # so gradients nobody asked for (the weights' when asking for dE/dX) cost nothing.
        reach: set[int] | None = None
        if keep is not None:
            reach = set(keep)
            for node in reversed(order):  # inputs before consumers
                if any(id(p) in reach for p in node._ctx.parents):  # type: ignore[union-attr]
                    reach.add(id(node))
        with _recording() if create_graph else nullcontext():
            kept = _propagate(order, grads, create_graph, retain, keep, reach)
    finally:
        if collecting:
            gc.enable()
    for i, g in grads.items():  # what is left reached the leaves (and any root leaf)
        if keep is None:
            leaf = leaves.get(i)
            if leaf is not None:
                _store(leaf, g.data if create_graph else g, leaf=True)
        elif i in keep:
            kept[i] = g
    return kept


class _recording(grad_mode):
    """Grad mode on while a backward is recorded; anomaly detection knows it is inside."""

    def __init__(self) -> None:
        super().__init__(True)

    def __enter__(self) -> None:
        super().__enter__()
        state.in_backward += 1

    def __exit__(self, *exc: object) -> None:
        state.in_backward -= 1
        super().__exit__(*exc)


def _check_roots(roots: Sequence[Tensor], who: str) -> None:
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"{who}: outputs must be Tensors, got {type(r).__name__}")
        if not r.requires_grad:
            raise ValueError(f"{who}: the output of shape {r.shape} does not require grad "
                             "(no input requires grad, or it was made under no_grad)")


def backward(root: Tensor, grad: object = None, retain_graph: bool = False) -> None:
    """`root.backward(grad)`: accumulate dE/dT into `.grad` of every tensor T on the way."""
    _check_roots([root], "backward")
    seed = _seed(root, grad, "backward")
    _run([root], [seed], create_graph=False, retain=retain_graph, keep=None)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: object = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is untouched.

    With `create_graph=True` the backward pass is itself recorded, so the result can be
    differentiated again (Hessian-vector products, gradient penalties). The graph is
    retained when `retain_graph` is True, or (its default) when `create_graph` is.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    gos = list(grad_outputs)  # type: ignore[call-overload]
    if len(gos) != len(outs):
        raise ValueError(f"grad: {len(outs)} outputs but {len(gos)} grad_outputs")
    _check_roots(outs, "grad")
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: an input of shape {getattr(t, 'shape', None)} does not require grad")
    seeds = [_seed(o, g, "grad") for o, g in zip(outs, gos)]
    retain = create_graph if retain_graph is None else retain_graph
    kept = _run(outs, seeds, create_graph, retain, keep={id(t) for t in ins})
    result = []
    for t in ins:
        g = kept.get(id(t))
        if g is not None and not create_graph:
            g = Tensor._make(np.array(g))  # its own array, never one the graph still holds
        if g is None and not allow_unused:
            raise ValueError(
                f"grad: an input of shape {t.shape} was not used to compute the outputs "
                "(pass allow_unused=True to get None for it)"
            )
        result.append(g)
    return tuple(result)
