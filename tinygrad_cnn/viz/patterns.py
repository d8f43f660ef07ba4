"""Composite ops: chains of recorded ops that a reader thinks of as one step.

`cross_entropy` records five ops (log_softmax, mul by the one-hot labels, sum, neg, div),
a layer's bias records a reshape of the parameter and an add, `mean` a sum and a div. A
drawing shows each such chain as ONE op node with the formulas of the whole step, unless
`draw_graph(..., expand=True)` asks for every recorded op.

Every pattern is listed in `PATTERNS` below, and nowhere else. A pattern is a chain of op
names in forward order; it matches where

- each op's output feeds only the next op of the chain (and is not the root, and has no
  name of its own: a tensor the user named is always drawn),
- the inputs that do not come along the chain ("side inputs") are what the pattern allows:
  `"constant"` leaves that require no grad (the one-hot labels, the divisor of a mean), or
  `"any"` tensor,
- the first op's input is what `head` allows: `"any"` tensor, or a `"parameter"` (a leaf
  that requires grad, such as a bias before its reshape),
- and its `check`, when it has one, holds (a mean divides by the number of summed elements).

A Python number in an expression is not an input: `x * 0.5` and `x + 1` record one op with
the number as its option `c` (`MulConstant`, `AddConstant`, drawn as "mul" and "add" with
`(c = …)` at the end of the forward formula). So a mean is a sum then a division by the count
or a product with its inverse; a bias add, a layer's scale and `linear` need an add or a mul of
two tensors (`y + 1` is no bias).

Unnamed constant side inputs are folded into the composite node (a one-hot matrix or a
divisor is an implementation detail of the step); named ones stay drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..tensor import Function, Tensor

__all__ = ["PATTERNS", "Composite", "Pattern", "match"]


@dataclass(frozen=True)
class Pattern:
    """A chain of op names drawn as one node called `name`, with `formulas` (forward
    first, then one `dE/d…` line per drawn input, in the op docstrings' format)."""

    name: str
    ops: tuple[frozenset[str], ...]
    formulas: tuple[str, ...]
    head: str = "any"  # what the first op's chain input may be: "any" or "parameter"
    side: str = "constant"  # what the other inputs may be: "constant" or "any"
    head_role: str = "X"  # edge label of the chain's input
    side_roles: tuple[str, ...] = ()  # edge labels of the drawn side inputs, in forward order
    # formulas that replace `formulas` when the chain's last op has an option value, as an
    # op's `variants`: {("reduction", "sum"): (...)}
    variants: dict[tuple[str, object], tuple[str, ...]] = field(default_factory=dict, compare=False)
    check: Callable[[list[Function]], bool] | None = field(default=None, compare=False)


def _ops(*names: str) -> tuple[frozenset[str], ...]:
    """`_ops("sum", "neg|div")`: one set of accepted op names per step of the chain."""
    return tuple(frozenset(n.split("|")) for n in names)


def _number(fn: Function, chain: Tensor) -> float | None:
    """The number `fn` combines its chain input with: its option `c` (`x * 0.5` records
    MulConstant), or a one-element constant second input (`x / 6` records a div by a
    constant tensor); None when it is neither."""
    if len(fn.parents) == 1:
        c = getattr(fn, "c", None)
        return float(c) if isinstance(c, (int, float)) else None
    others = [p for p in fn.parents if p is not chain]
    if len(fn.parents) != 2 or len(others) != 1 or others[0].size != 1:
        return None
    return float(others[0].data.reshape(()))


def _divides_by_count(fns: list[Function]) -> bool:
    """A sum, then a division by the number of summed elements (or a product with its
    inverse, `x.sum() * (1/n)`): a mean."""
    total, last = fns[0], fns[-1]
    summed_out = next((p for p in last.parents if p._ctx is total), None)
    if summed_out is None or (last.name == "div" and last.parents[0] is not summed_out):
        return False  # n / Σx is no mean
    value = _number(last, summed_out)
    count = total.parents[0].size // max(summed_out.size, 1)
    if value is None or count == 0:
        return False
    return value == count if last.name == "div" else abs(value * count - 1) <= 1e-12


def _two_inputs(fns: list[Function]) -> bool:
    """The chain's last op reads two tensors (not a number option: `x + 1` is no bias)."""
    return len(fns[-1].parents) == 2


def _reads_labels(fns: list[Function]) -> bool:
    """The log-probabilities are multiplied by a tensor (the one-hot labels), not by a number."""
    return len(fns[1].parents) == 2


CROSS_ENTROPY = (
    "E = −(1/N) Σ_n log softmax(Z)_n,y_n",
    "dE/dZ = (softmax(Z) − onehot(y)) / N",
)

# Longest first: where two patterns could match at one op, the longer chain wins.
PATTERNS: tuple[Pattern, ...] = (
    Pattern("cross_entropy", _ops("log_softmax", "mul", "sum", "neg|div", "neg|div"), CROSS_ENTROPY, head_role="Z",
            check=_reads_labels),
    Pattern(
        "cross_entropy",
        _ops("log_softmax", "mul", "sum", "neg"),
        ("E = −Σ_n log softmax(Z)_n,y_n", "dE/dZ = softmax(Z) − onehot(y)"),
        head_role="Z",
        check=_reads_labels,
    ),
    Pattern(
        "cross_entropy",
        _ops("log_softmax", "nll_loss"),
        CROSS_ENTROPY,
        head_role="Z",
        variants={
            ("reduction", "sum"): ("E = −Σ_n log softmax(Z)_n,y_n", "dE/dZ = softmax(Z) − onehot(y)"),
            ("reduction", "none"): ("E_n = −log softmax(Z)_n,y_n", "dE/dZ_n = dE/dE_n · (softmax(Z_n) − onehot(y_n))"),
        },
    ),
    Pattern(
        "add bias",
        _ops("reshape", "add"),
        ("Y = X + B, B reshaped to broadcast over all but its own axis", "dE/dB = Σ dE/dY over the broadcast axes", "dE/dX = dE/dY"),
        head="parameter",
        side="any",
        head_role="B",
        side_roles=("X",),
        check=_two_inputs,
    ),
    Pattern(
        "scale",
        _ops("reshape", "mul"),
        ("Y = X · G, G reshaped to broadcast over all but its own axis", "dE/dG = Σ X · dE/dY over the broadcast axes",
         "dE/dX = G · dE/dY"),
        head="parameter",
        side="any",
        head_role="G",
        side_roles=("X",),
        check=_two_inputs,
    ),
    Pattern(
        "linear",
        _ops("transpose", "matmul", "add"),
        ("Y = X Wᵀ + b", "dE/dW = dE/dYᵀ X", "dE/dX = dE/dY W", "dE/db = Σ_n dE/dY_n"),
        head="parameter",
        side="any",
        head_role="W",
        side_roles=("X", "b"),
        check=_two_inputs,
    ),
    Pattern(
        "matmul Wᵀ",
        _ops("transpose", "matmul"),
        ("Y = X Wᵀ", "dE/dW = dE/dYᵀ X", "dE/dX = dE/dY W"),
        head="parameter",
        side="any",
        head_role="W",
        side_roles=("X",),
    ),
    Pattern(
        "mean",
        _ops("sum", "div|mul"),
        ("Y = (1/n) Σ_axis X", "dE/dX = (1/n) · dE/dY broadcast back over the averaged axes"),
        check=_divides_by_count,
    ),
)


@dataclass(eq=False)
class Composite:
    """A matched chain: its ops (forward order), the inputs from outside the chain (with
    the edge label each is drawn with), and the tensors it hides."""

    pattern: Pattern
    fns: list[Function]
    inputs: list[tuple[Tensor, str]]
    hidden: list[Tensor]

    @property
    def name(self) -> str:
        return self.pattern.name

    def applied_formulas(self) -> list[str]:
        last = self.fns[-1]
        for (option, value), lines in self.pattern.variants.items():
            if getattr(last, option, None) == value:
                return list(lines)
        return list(self.pattern.formulas)


def _is_constant(t: Tensor) -> bool:
    return t._ctx is None and not t.requires_grad


def match(out: Tensor, consumers: dict[int, int], root: Tensor) -> Composite | None:
    """The first pattern (in `PATTERNS` order) whose chain ends in the op that made `out`.

    `consumers[id(t)]` is how many op inputs in the drawn graph read `t`.
    """
    for pattern in PATTERNS:
        found = _match_one(pattern, out, consumers, root)
        if found is not None:
            return found
    return None


def _match_one(pattern: Pattern, out: Tensor, consumers: dict[int, int], root: Tensor) -> Composite | None:
    fns: list[Function] = []
    sides: list[list[Tensor]] = []  # drawn side inputs of each op, from the chain's last op back
    hidden: list[Tensor] = []
    cur = out
    for step, names in enumerate(reversed(pattern.ops)):  # from the chain's last op back
        fn = cur._ctx
        if fn is None or fn.name not in names:
            return None
        fns.append(fn)
        if step == len(pattern.ops) - 1:  # the head: every chain starts with a one-input op
            if len(fn.parents) != 1:
                return None
            head = fn.parents[0]
            if pattern.head == "parameter" and not (head._ctx is None and head.requires_grad):
                return None
            break
        prev_names = pattern.ops[len(pattern.ops) - 2 - step]
        chain = None
        for p in fn.parents:  # the chain goes on through an unnamed, once-used result of the previous op
            if chain is None and p._ctx is not None and p._ctx.name in prev_names:
                if p.name is None and p is not root and consumers.get(id(p), 0) == 1:
                    chain = p
        if chain is None:
            return None
        drawn = []
        for p in fn.parents:
            if p is chain:
                continue
            if pattern.side == "constant" and not _is_constant(p):
                return None
            if pattern.side == "constant" and p.name is None:
                hidden.append(p)  # a one-hot matrix, a divisor: part of the step
            else:
                drawn.append(p)
        sides.append(drawn)
        hidden.append(chain)
        cur = chain
    fns.reverse()
    if any(f.scope is not fns[0].scope for f in fns):  # one step of one module: a chain across two stays apart
        return None
    if pattern.check is not None and not pattern.check(fns):
        return None
    inputs = [(head, pattern.head_role)]
    for p in (p for drawn in reversed(sides) for p in drawn):
        k = len(inputs) - 1
        inputs.append((p, pattern.side_roles[k] if k < len(pattern.side_roles) else str(k + 1)))
    return Composite(pattern, fns, inputs, hidden)


def describe() -> list[tuple[str, str, str]]:
    """(name, op chain, forward formula) per pattern, for the docs."""
    return [(p.name, " → ".join("|".join(sorted(s)) for s in p.ops), p.formulas[0]) for p in PATTERNS]

