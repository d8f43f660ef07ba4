"""Module scopes for the drawing tests, until the core records them itself.

`scopes(monkeypatch)` makes sure every Function records `fn.scope` and every
`Module.__call__` opens a scope named after the module's attribute in its parent: it
uses the library's own `tc.scope` and `Module.__call__` when they do this already, and
otherwise patches in a minimal stand-in with the same record (`.name`, `.path`,
`.module`, `.parent`, `.call`). Returns the `scope(name, module=None)` context manager.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Any, Iterator

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Function


@dataclass(eq=False)
class StandInScope:
    name: str
    path: str
    module: Any
    parent: "StandInScope | None"
    call: int


def _records_scopes(scope: Any) -> bool:
    x = tc.Tensor([1.0], requires_grad=True)
    with scope("probe"):
        y = x * 2
    return getattr(y._ctx, "scope", None) is not None


def _modules_open_scopes() -> bool:
    x = tc.Tensor([1.0], requires_grad=True)
    y = nn.Sequential(nn.ReLU())(x)
    s = getattr(y._ctx, "scope", None)
    return s is not None and getattr(s, "name", None) == "0"


def scopes(monkeypatch: Any) -> Any:
    real = getattr(tc, "scope", None)
    if real is not None and _records_scopes(real):
        scope, current = real, None
    else:
        stack: list[StandInScope] = []
        counter = itertools.count()

        @contextlib.contextmanager
        def scope(name: str, module: Any = None) -> Iterator[StandInScope]:
            parent = stack[-1] if stack else None
            path = ".".join(p for p in ((parent.path if parent else ""), name) if p)
            s = StandInScope(name, path, module, parent, next(counter))
            stack.append(s)
            try:
                yield s
            finally:
                stack.pop()

        def current() -> StandInScope | None:
            return stack[-1] if stack else None

        original = Function.__dict__["apply"].__func__

        def apply(cls: type, *inputs: Any, **options: Any) -> Any:
            out = original(cls, *inputs, **options)
            if out._ctx is not None:
                out._ctx.scope = current()
            return out

        monkeypatch.setattr(Function, "apply", classmethod(apply))
        monkeypatch.setattr(tc, "scope", scope, raising=False)
    _patch_modules(monkeypatch, scope)
    return scope


def _patch_modules(monkeypatch: Any, scope: Any) -> None:
    """Module.__call__ opens `scope(<attribute name in the parent>, module=self)`."""
    if _modules_open_scopes():
        return
    calls: list[Any] = []

    def call(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        parent = calls[-1] if calls else None
        name = ""
        if parent is not None:
            name = next((n for n, c in parent.named_children() if c is self), "")
        calls.append(self)
        try:
            with scope(name, module=self):
                return self.forward(*args, **kwargs)
        finally:
            calls.pop()

    monkeypatch.setattr(nn.Module, "__call__", call)
