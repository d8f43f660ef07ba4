"""The op contract: what every differentiable op (a `Function`) declares and returns.

    class Scale(Function):
        '''Y = c · X
        dE/dX = c · dE/dY
        '''
        name = "scale"
        options = ("c",)      # keyword options apply() accepts; set as attributes
        saves = ()            # the inputs whose values backward reads (none here)

        def forward(self, x):
            return self.c * x

        def backward(self, g):
            return (self.c * g,)

    y = Scale.apply(x, c=2.0)

`forward` gets the inputs' arrays and returns one array. `backward(g)` gets dE/dY and
returns one gradient (or None) per input. It is written once, with operators and
methods that ndarrays and Tensors share: a plain `backward()` hands it an ndarray, and
`self.inputs(g)` / `self.output(g)` give arrays; with `create_graph=True` it is handed a
Tensor and they give the Tensors themselves, so the same formulas record the gradient
computation as a graph of its own, which can be drawn and differentiated again.

What the class declares is checked: an undeclared option is a `TypeError` at `apply`;
a forward or backward that returns the wrong kind of value (a Tensor where an array is
due, an object array, the wrong number of gradients or a wrong shape) is a
`TypeError`/`ValueError` naming the op's class. Versions: every op gets a creation
number (`seq`) and every in-place change of a tensor notes the number current when it
happened, so the engine refuses to run the backward when an input listed in `saves` (or
the output, with `saves_output`) was changed after the op was created. `buffers` names the
large arrays a forward stashes on `self`; they are freed when a backward that does not
retain the graph has used them.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np
from numpy import ndarray  # its own name: read per op and per edge, np.ndarray is a second lookup

from .grad_mode import Scope, state

if TYPE_CHECKING:
    from .tensor import Tensor

_OBJECT = np.dtype(object)
_counter = itertools.count()  # creation order: a consumer is always created after its inputs


class Function:
    """One op: `forward` on arrays, `backward` by the op's own formulas.

    The class docstring is the op's calculus in the notation of the seed notes: its first
    line is the forward formula, each further line the gradient for one input. The
    graph drawing and the docs' derivatives table read it from there.
    """

    name: ClassVar[str] = "function"
    options: ClassVar[tuple[str, ...]] = ()
    saves: ClassVar[tuple[int, ...] | None] = None  # None: backward may read every input
    saves_output: ClassVar[bool] = False
    buffers: ClassVar[tuple[str, ...]] = ()
    # Formulas that replace the docstring's when an option has a given value, in the
    # docstring's format: {("mode", "full"): """Y = ... / dE/dX = ..."""}.
    variants: ClassVar[dict[tuple[str, Any], str]] = {}

    # Set by apply() on an op that is part of a graph:
    parents: tuple[Tensor, ...]
    seq: int  # creation order: the engine's sweep order, and "after the forward" for versions
    scope: Scope | None = None
    released = False  # its saved buffers were freed by a backward
    _y: np.ndarray | None = None  # the output's values, with `saves_output`
    _y_tensor: Callable[[], Tensor | None] | None = None  # a weak reference to the output (see output)

    forward: Callable[..., np.ndarray]
    backward: Callable[..., tuple[Any, ...]]

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        fn = _new(cls)
        if options:
            declared = cls.options
            for key, value in options.items():
                if key not in declared:
                    raise TypeError(f"{cls.__name__}.apply: unknown option {key!r} (it declares {declared})")
                setattr(fn, key, value)
        # One and two inputs spelled out: for tiny tensors this bookkeeping costs as
        # much as the arithmetic, so no list and no generator on the common path.
        n = len(inputs)
        if n == 2:
            a, b = inputs
            data = fn.forward(a._data, b._data)
            track = a._requires_grad or b._requires_grad
        elif n == 1:
            a = inputs[0]
            data = fn.forward(a._data)
            track = a._requires_grad
        else:
            data = fn.forward(*[t._data for t in inputs])
            track = any(t._requires_grad for t in inputs)
        if type(data) is not ndarray or data.dtype is _OBJECT:
            data = _checked_result(cls, data)
        out = _new(_Tensor)
        out._data, out._grad, out.name, out._version = data, None, None, UNCHANGED
        enabled, scope = state.recording
        if track and enabled:
            out._requires_grad, out._ctx = True, fn
            fn.parents = inputs
            fn.seq = next(_counter)
            if cls.saves_output:
                fn._y = data  # the array, not the Tensor: the output points at its op, never back
            if scope is not None:
                fn.scope = scope
            if _trace_hook is not None:
                _trace_hook(fn, out)
        else:
            out._requires_grad, out._ctx = False, None
        if _anomaly_hook is not None:
            _anomaly_hook(fn, out, "forward")
        return out

    def inputs(self, g: Any) -> tuple[Any, ...]:
        """The inputs as backward's formulas use them: arrays in a plain backward (`g` an
        ndarray), the parent Tensors while the backward is recorded (`g` a Tensor)."""
        ps = self.parents
        if type(g) is ndarray:
            if len(ps) == 2:  # most ops: spelled out, no list (this runs once per op per backward)
                return ps[0]._data, ps[1]._data
            return tuple([p._data for p in ps])
        return ps

    def output(self, g: Any) -> Any:
        """What this op produced, in the kind `inputs(g)` gives (declare `saves_output`).

        `apply` keeps the output's array. The output Tensor points at the op, so the op
        may point back only weakly (else the two would be a reference cycle); that weak
        reference is made by the engine before it records the op's backward, not by
        every forward (`_refer_to_output`)."""
        if type(g) is ndarray:
            y = self._y
            if y is None:
                raise TypeError(f"{type(self).__name__}: backward reads the output; declare saves_output = True")
            return y
        out = None if self._y_tensor is None else self._y_tensor()
        if out is None:
            raise TypeError(f"{type(self).__name__}: a recorded backward reads the output Tensor; "
                            "declare saves_output = True")
        return out

    def _refer_to_output(self, output: Tensor) -> None:
        """Let `output(g)` give `output`, the Tensor this op made, to a recorded backward."""
        if self._y_tensor is None:
            self._y_tensor = weakref.ref(output)

    def release(self) -> None:
        """Free the saved buffers once a backward has used them (retain_graph=False)."""
        for name in self.buffers:
            self.__dict__.pop(name, None)
        self.released = True

    def check_versions(self, output: Tensor) -> None:
        """RuntimeError if a tensor this op's backward reads was changed in place after
        the op was created (its values would give a wrong gradient)."""
        saves = type(self).saves
        for i in range(len(self.parents)) if saves is None else saves:
            t = self.parents[i]
            if t._version[1] > self.seq:
                _raise_modified(self, t, f"input {i}")
        if self.saves_output and output._version[1] > self.seq:
            _raise_modified(self, output, "output")

    @classmethod
    def formulas(cls, variant: tuple[str, Any] | None = None) -> list[str]:
        """[forward formula, gradient formula per input] from the class docstring, or
        from `variants[variant]` for an option value that changes them."""
        doc = inspect.cleandoc(cls.__doc__ or "" if variant is None else cls.variants[variant])
        return [line.strip() for line in doc.splitlines() if line.strip()]

    def applied_formulas(self) -> list[str]:
        """The formulas this op applied: a variant's when one of its options selects one."""
        for option, value in self.variants:
            if getattr(self, option, None) == value:
                return self.formulas((option, value))
        return self.formulas()


def _raise_modified(fn: Function, t: Tensor, which: str) -> None:
    label = repr(t.name) if t.name is not None else f"of shape {t.shape}"
    raise RuntimeError(
        f"{fn.name}: the tensor {label} ({which} of {fn.name}) was changed in place after the forward "
        f"(it is at version {t._version[0]} now); its gradient would be wrong. "
        "Change it after backward() (or on a .detach()ed copy), or compute the forward again"
    )


def _checked_result(cls: type[Function], data: Any) -> np.ndarray:
    """A forward's result as an array; anything but a numeric or bool array is an error."""
    if isinstance(data, np.generic):  # numpy gives 0-d results as scalars; .data is an array
        data = np.asarray(data)
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{cls.__name__}.forward returned a {type(data).__name__}; it must return an np.ndarray")
    if data.dtype.kind not in "fiub":
        raise TypeError(f"{cls.__name__}.forward returned an array of dtype {data.dtype}; it must hold numbers")
    return data


# A tensor's version: [number of in-place changes, creation number current at the last
# one]; every tensor starts with this shared pair until it is changed or viewed (Tensor._bump).
UNCHANGED = (0, -1)
# The creation number current at the latest in-place change of any tensor: an op created
# after it still sees its inputs as its forward did, so the engine does not check them.
last_change = -1
_change_lock = threading.Lock()  # so `last_change` only grows when threads change tensors at once


def note_change() -> int:
    """A creation number for an in-place change now (see `last_change`)."""
    global last_change
    with _change_lock:
        last_change = when = next(_counter)
    return when


_new = object.__new__  # Tensor and Function have no __init__ work to skip
_Tensor: Any = None  # tensor.py sets this to Tensor (it is defined after Function)

# Set by detect_anomaly() (anomaly.py); None, and so free, otherwise.
_anomaly_hook: Any = None
# Set by tc.onnx.export while it traces, told of every recorded op (onnx/exporter.py).
_trace_hook: Any = None
