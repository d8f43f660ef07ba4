"""The reverse-mode engine: topological order by an explicit stack, then one sweep
from the outputs back to the leaves, summing every gradient that reaches a tensor."""

from __future__ import annotations

import gc
from typing import Any, Sequence

import numpy as np

from . import tensor as _t
from .ops import formula
from .tensor import Tensor, grad_mode


def toposort(roots: Sequence[Tensor]) -> list[Tensor]:
    """Tensors that require grad and lead to `roots`, parents before children.

    Iterative depth-first search, so a chain 100,000 ops deep is no problem.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    pop, push, seen = stack.pop, stack.append, visited.add  # bound once: this loop runs per node
    while stack:
        node, children_done = pop()
        if children_done:
            order.append(node)
            continue
        i = id(node)
        if i in visited:
            continue
        seen(i)
        push((node, True))
        ctx = node._ctx
        if ctx is not None:
            for p in ctx.parents:
                if p.requires_grad and id(p) not in visited:
                    push((p, False))
    return order


def _seed_grad(t: Tensor, grad: object, who: str) -> Tensor:
    if grad is None:
        if t.size != 1:
            raise ValueError(
                f"{who}: grad must be given for a non-scalar output of shape {t.shape} "
                f"(it defaults to ones only for a tensor of size 1)"
            )
        return Tensor._make(np.ones_like(t.data))
    if isinstance(grad, Tensor):
        if grad.shape != t.shape:
            raise ValueError(f"{who}: grad of shape {grad.shape} does not match the output's shape {t.shape}")
        return grad if grad.dtype == t.dtype else grad._cast(t.dtype)
    try:
        g = np.asarray(grad, dtype=t.dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: grad must be an array of numbers of shape {t.shape}, got {type(grad).__name__}") from None
    if g.shape != t.shape:
        raise ValueError(f"{who}: grad of shape {g.shape} does not match the output's shape {t.shape}")
    return Tensor._make(g)


def _run(
    roots: Sequence[Tensor], seeds: Sequence[Tensor], create_graph: bool, keep: set[int] | None
) -> dict[int, Any]:
    """Propagate `seeds` from `roots` back through the graph.

    With `keep` None every tensor on the way gets its gradient added to `.grad`;
    otherwise `.grad` is left alone and the gradients of the tensors whose ids are in
    `keep` are returned. A plain pass moves ndarrays from op to op; with
    `create_graph` the gradients are Tensors and every formula is recorded.
    """
    for r in roots:
        if not r.requires_grad:
            raise ValueError(f"{'backward' if keep is None else 'grad'}: the output of shape {r.shape} does not "
                             "require grad (no input requires grad, or it was made under no_grad)")
    grads: dict[int, Any] = {}
    for r, s in zip(roots, seeds):
        # a plain pass must not alias the caller's array into a .grad (see the sweep)
        g = s if create_graph else np.array(s.data)
        grads[id(r)] = grads[id(r)] + g if id(r) in grads else g
    kept: dict[int, Any] = {}
    order = toposort(roots)
    # For grad(): only ops with a requested tensor upstream need their backward run,
    # so gradients that nobody asked for (e.g. the weights' when asking for dE/dX) cost nothing.
    reach: set[int] | None = None
    if keep is not None:
        reach = set(keep)
        for node in order:  # parents come first
            if node._ctx is not None and any(id(p) in reach for p in node._ctx.parents):
                reach.add(id(node))
    hook = _t._anomaly_hook  # read once: per edge it is the only global the loop needs
    with grad_mode(create_graph):  # on only when the backward is to be recorded
        # The sweep allocates many short-lived objects and no cycles (refcounting frees
        # them), so the cycle collector would only rescan the graph again and again: pause it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for node in reversed(order):
                g = grads.pop(id(node), None)
                if g is None:
                    continue
                if keep is None:
                    data = g.data if create_graph else g
                    if type(data) is not np.ndarray:  # numpy returns 0-d results as scalars
                        data = np.asarray(data)
                    if node.grad is not None:
                        node.grad = np.asarray(node.grad + data)
                    elif node._ctx is None:
                        node.grad = data.copy()  # a leaf's own array: optimizers update it in place
                    else:
                        # An intermediate's gradient may share memory with others of this pass
                        # (an add hands the same dE/dZ to both inputs): read-only, not copied.
                        data.flags.writeable = False
                        node.grad = data
                elif id(node) in keep:
                    kept[id(node)] = g
                fn = node._ctx
                if fn is None:
                    continue
                parents = fn.parents
                if reach is not None and not any(id(p) in reach for p in parents):
                    continue
                in_grads = fn.backward(g)
                if len(in_grads) != len(parents):
                    raise TypeError(f"{fn.name}: backward returned {len(in_grads)} gradients for {len(parents)} inputs")
                for p, pg in zip(parents, in_grads):
                    if pg is None or not p.requires_grad or (reach is not None and id(p) not in reach):
                        continue
                    pd = p.data
                    if pg.shape != pd.shape:
                        raise RuntimeError(
                            f"{fn.name}: backward gave a gradient of shape {pg.shape} for an input of shape {pd.shape}"
                        )
                    if pg.dtype is not pd.dtype and pg.dtype != pd.dtype:
                        pg = formula.cast(pg, pd.dtype)
                    if hook is not None:
                        hook(fn, pg if create_graph else Tensor._make(np.asarray(pg)), "backward")
                    k = id(p)
                    prev = grads.get(k)
                    grads[k] = pg if prev is None else prev + pg
        finally:
            if collecting:
                gc.enable()
    return kept


def backward(root: Tensor, grad: object = None) -> None:
    """`root.backward(grad)`: accumulate dE/dT into `.grad` of every tensor T on the way."""
    _run([root], [_seed_grad(root, grad, "backward")], create_graph=False, keep=None)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: object = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is untouched.

    With `create_graph=True` the backward pass is itself recorded, so the result can be
    differentiated again (Hessian-vector products, gradient penalties).
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    gos = list(grad_outputs)  # type: ignore[call-overload]
    if len(gos) != len(outs):
        raise ValueError(f"grad: {len(outs)} outputs but {len(gos)} grad_outputs")
    for t in ins:
        if not t.requires_grad:
            raise ValueError(f"grad: an input of shape {t.shape} does not require grad")
    seeds = [_seed_grad(o, g, "grad") for o, g in zip(outs, gos)]
    kept = _run(outs, seeds, create_graph, keep={id(t) for t in ins})
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
