"""Per-thread state: whether ops record a graph, and the scope drawings group ops by.

Both live in one `threading.local`, so `no_grad()` in an inference thread never stops a
training thread from recording, and every new thread starts with grad mode on and no
scope (the class attributes below are each thread's defaults).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
from contextlib import ContextDecorator
from typing import Any, Callable, Iterator, NamedTuple


class _State(threading.local):
    # (grad mode on, innermost scope) as one attribute: every op reads both, and each
    # read of a thread-local attribute costs a lookup of the thread's own dict.
    recording: tuple[bool, Scope | None] = (True, None)
    in_backward: int = 0  # > 0 while the engine records a backward (create_graph=True)
    trace: Any = None  # set by tc.onnx.export while it traces: see `outside_graph`

    @property
    def enabled(self) -> bool:
        return self.recording[0]

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self.recording = (on, self.recording[1])

    @property
    def scope(self) -> Scope | None:
        return self.recording[1]

    @scope.setter
    def scope(self, scope: Scope | None) -> None:
        self.recording = (self.recording[0], scope)


state = _State()


# What a context object's open blocks replaced, a stack per thread (keyed by the thread's
# id): one object may be open in two threads at once, or a decorated call's blocks end out
# of order in a generator; each block gets back what it replaced.
Saved = dict[int, list[Any]]


def push(saved: Saved, value: Any) -> None:
    saved.setdefault(threading.get_ident(), []).append(value)


def pop(saved: Saved) -> Any:
    thread = threading.get_ident()
    if thread not in saved:  # a block begun in another thread (a generator resumed here)
        if len(saved) != 1:
            raise RuntimeError(f"a block ends in a thread that did not begin it, and {len(saved)} threads "
                               "have blocks of this object open: use one object per thread")
        (thread,) = saved
    stack = saved[thread]
    value = stack.pop()
    if not stack:
        del saved[thread]
    return value


class Decorator(ContextDecorator):
    """A context object that is also a decorator, as PyTorch's: each call of the decorated
    function gets a fresh copy of the object, and a generator function runs each of its
    steps inside it."""

    _saved: Saved

    def _recreate_cm(self) -> Any:  # ContextDecorator asks for one per call
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        for cls in type(self).__mro__:  # a subclass's slots too
            for name in [cls.__dict__["__slots__"]] if isinstance(cls.__dict__.get("__slots__"), str) \
                    else cls.__dict__.get("__slots__", ()):
                if hasattr(self, name):
                    setattr(clone, name, getattr(self, name))
        clone._saved = {}
        return clone

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        def steps(*args: Any, **kwargs: Any) -> Iterator[Any]:
            gen = func(*args, **kwargs)
            try:
                with self._recreate_cm():
                    value = gen.send(None)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with self._recreate_cm():
                            gen.close()
                        raise
                    except BaseException as error:  # thrown in: the generator handles it, inside
                        with self._recreate_cm():
                            value = gen.throw(error)
                    else:
                        with self._recreate_cm():
                            value = gen.send(sent)
            except StopIteration as end:
                return end.value

        return steps


class grad_mode(Decorator):
    """Context manager (or decorator): grad mode `enabled` inside, the previous mode
    after, even on an exception. Blocks nest, and one object may be re-entered. It
    changes the mode of the calling thread only. A decorated generator function runs
    each of its steps in the mode, as PyTorch's do."""

    def __init__(self, enabled: bool) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(
                f"grad_mode(enabled): enabled must be True or False, got {type(enabled).__name__} "
                "(as a decorator write @tc.no_grad() or @tc.grad_mode(False), with the parentheses)"
            )
        self.enabled = enabled
        self._saved = {}

    def __enter__(self) -> None:
        push(self._saved, state.enabled)
        state.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        state.enabled = pop(self._saved)


class no_grad(grad_mode):
    """Context manager (or decorator, written `@tc.no_grad()`): no graph is recorded
    inside, in this thread; results don't require grad."""

    def __init__(self, *args: Any) -> None:
        if args:  # `@tc.no_grad` without parentheses hands the function over as an argument
            raise TypeError("no_grad takes no arguments: decorate with @tc.no_grad() (with the parentheses)")
        super().__init__(False)


class set_grad_enabled(grad_mode):
    """Switch grad mode for the calling thread, at once: `tc.set_grad_enabled(False)`.
    As a block (`with tc.set_grad_enabled(False): ...`) it restores the mode it found
    when it ends, as PyTorch's."""

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        self._found = [state.enabled]  # what the switch made now replaced, until a block takes it
        state.enabled = self.enabled

    def __enter__(self) -> None:
        push(self._saved, self._found.pop() if self._found else state.enabled)
        state.enabled = self.enabled

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if self._found:  # as a decorator it switches nothing now, only in each call
            state.enabled = self._found.pop()
        return super().__call__(func)

    def _recreate_cm(self) -> set_grad_enabled:
        clone = super()._recreate_cm()
        clone._found = []
        return clone


def is_grad_enabled() -> bool:
    """Whether ops called from this thread record a graph."""
    return state.enabled


class Scope(NamedTuple):
    """Where an op was created: a named block (`tc.scope`) or a module call.

    `path` is the dotted name from the outermost scope (`features.0`); `call` tells two
    entries of the same scope apart (a module applied twice is drawn as two boxes).
    """

    name: str
    path: str
    module: Any
    parent: Scope | None
    call: int


_calls = itertools.count()


class scope(Decorator):
    """Context manager: ops created inside are tagged with this scope (see `Scope`), so
    a drawing can group them. `Module.__call__` opens one per module call."""

    def __init__(self, name: str, module: Any = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"scope(name): name must be a str, got {type(name).__name__}")
        self.name, self.module = name, module
        self._saved = {}

    def __enter__(self) -> Scope:
        parent = state.scope
        path = f"{parent.path}.{self.name}" if parent is not None and parent.path and self.name else (
            self.name or (parent.path if parent is not None else "")
        )
        push(self._saved, parent)
        state.scope = entered = Scope(self.name, path, self.module, parent, next(_calls))
        return entered

    def __exit__(self, *exc: object) -> None:
        state.scope = pop(self._saved)


def outside_graph(kind: str, parents: list[Any], out: Any, **options: Any) -> Any:
    """`out`, told to the trace in progress: a value computed outside the graph (a
    comparison, an integer cast, an argmax, a selection by a bool condition, an index),
    or the division that ends a `mean`.

    Values outside the graph never require grad, so the graph does not record them; an
    export that traces a forward pass (`tc.onnx.export`) still needs to know what they
    were computed from. A mean is recorded as a sum and a division; the export writes it
    as one node that counts the summed axes when the model runs, which a division the
    user wrote (`x.sum(0) / 3`) must not become. The hook may note these values, return
    a Tensor to use instead, or refuse with an error. Without a trace this is one
    attribute read.
    """
    hook = state.trace
    if hook is None:
        return out
    replaced = hook(kind, parents, out, **options)
    return out if replaced is None else replaced


def current_scope() -> Scope | None:
    """The innermost scope open in this thread, or None."""
    return state.scope
