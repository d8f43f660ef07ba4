"""`Module`, `Parameter` and the containers `Sequential` and `ModuleList`.

Registration happens in one place, `Module.__setattr__`, as in PyTorch: assigning a
`Parameter`, a `Module` or (through `register_buffer`) a buffer to an attribute records
it under that name, and `named_parameters()`, `children()`, `state_dict()` and the rest
walk what was recorded. A plain list of modules is refused (it would be invisible to
all of them: use `ModuleList`), and so is replacing a registered parameter or
sub-module with something of another kind.

Initialisation follows PyTorch's defaults for `Conv2d` and `Linear` (Kaiming-uniform
with a = √5), which works out to U(−1/√fan_in, 1/√fan_in) for weight and bias alike.
Draws come from `rng` when one is given, else from this module's generator, which
`manual_seed(s)` resets, so a fixed seed gives the same network every run.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from ..grad_mode import current_scope, scope
from ..tensor import Tensor

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator that layers draw their initial weights (and dropout masks) from."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator(rng: np.random.Generator | None = None) -> np.random.Generator:
    return _generator if rng is None else rng


def _uniform(shape: tuple[int, ...], bound: float, rng: np.random.Generator | None, dtype: Any) -> np.ndarray:
    return generator(rng).uniform(-bound, bound, size=shape).astype(dtype)


def _as_input(x: Any, like: Tensor) -> Tensor:
    """Arrays fed to a layer take its parameters' dtype, so a float32 model stays float32."""
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=like.dtype))


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable: `requires_grad=True` by default.

    The array is used as given (not copied), as `torch.nn.Parameter` shares its tensor's storage.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            name = data.name if name is None else name
            data = data.data
        super().__init__(data, requires_grad, name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` returns, as PyTorch's `_IncompatibleKeys`."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _dtype_name(value: Any) -> str:
    """`value` described for a message: "a Tensor of shape (3, 2)", "a value of type ndarray"."""
    return f"a Tensor of shape {value.shape}" if isinstance(value, Tensor) else f"a value of type {type(value).__name__}"


class Module:
    """Base class of layers and networks: subclasses implement `forward` and assign
    their parameters (`Parameter`) and sub-modules as attributes in `__init__`.

    Calling `super().__init__()` first is customary, but the registries already exist
    without it (they are made in `__new__`).
    """

    training: bool = True
    _parameters: dict[str, Parameter | None]
    _modules: dict[str, "Module | None"]
    _buffers: dict[str, Tensor | None]

    def __new__(cls, *args: Any, **kwargs: Any) -> Module:
        self = super().__new__(cls)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        return self

    def __init__(self) -> None:
        pass

    # ----- registration: the one place --------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            if name in buffers:
                raise TypeError(f"{type(self).__name__}: {name!r} is a buffer; it cannot become a Parameter")
            modules.pop(name, None)
            params[name] = value
            if value.name is None:
                value.name = name
        elif isinstance(value, Module):
            if name in buffers:
                raise TypeError(f"{type(self).__name__}: {name!r} is a buffer; it cannot become a Module")
            params.pop(name, None)
            modules[name] = value
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Module) for v in value):
            raise TypeError(
                f"{type(self).__name__}.{name}: a plain {type(value).__name__} of Modules is not registered, "
                f"so its parameters would be missed by parameters() and state_dict(); "
                f"use tc.nn.ModuleList([...]) (or nn.Sequential)"
            )
        elif name in params and value is not None:
            raise TypeError(
                f"{type(self).__name__}.{name} is a registered parameter; assigning {_dtype_name(value)} "
                f"would hide it. Assign tc.nn.Parameter(...) (or None), or `del` the attribute first"
            )
        elif name in modules and value is not None:
            raise TypeError(
                f"{type(self).__name__}.{name} is a registered sub-module; assigning {_dtype_name(value)} "
                f"would hide it. Assign a Module (or None), or `del` the attribute first"
            )
        elif name in buffers:
            value = _as_buffer(type(self).__name__, name, value)
            buffers[name] = value
        elif name in params:  # None keeps the slot, as PyTorch (e.g. bias=None)
            params[name] = None
        elif name in modules:
            modules[name] = None
        object.__setattr__(self, name, value)  # also in __dict__: reads stay plain attribute reads

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Hold non-trained state (running statistics, counters): saved in `state_dict()`
        (unless `persistent=False`), converted by `to()`, never given to an optimizer."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: the name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"register_buffer: {type(self).__name__}.{name} is already a parameter or sub-module")
        self._buffers[name] = _as_buffer(type(self).__name__, name, value)
        if not persistent:
            object.__setattr__(self, "_non_persistent", self.__dict__.get("_non_persistent", set()) | {name})
        object.__setattr__(self, name, self._buffers[name])

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (a `Parameter`, or None for an absent one) under `name`; the same as assigning `self.name = param`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a tc.nn.Parameter or None, got {_dtype_name(param)}")
        self._parameters[name] = param
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` (or None) as a sub-module under `name`; the same as assigning `self.name = module`."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {_dtype_name(module)}")
        if not isinstance(name, str):
            raise TypeError(f"add_module: a module name must be a str, got {type(name).__name__} {name!r}")
        if not name or "." in name:
            raise KeyError(f"add_module: a module name must be a non-empty string without '.', got {name!r}")
        if name not in self._modules and hasattr(self, name):
            raise KeyError(f"add_module: {type(self).__name__} already has an attribute {name!r}")
        self._modules[name] = module
        setattr(self, name, module)

    # ----- the tree ------------------------------------------------------------------------
    def own_parameters(self) -> list[tuple[str, Tensor]]:
        """(name, tensor) for the parameters held directly by this module (registered ones;
        0.1-style modules may still override this)."""
        return [(n, p) for n, p in self._parameters.items() if p is not None]

    def named_children(self) -> list[tuple[str, Module]]:
        """(name, module) for the direct sub-modules, in the order they were assigned; one
        held under two names is listed once, under its first."""
        return _first_of_each((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> list[Module]:
        """The direct sub-modules, in the order they were assigned."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """This module (named `prefix`, "" at the root) and every sub-module below it, depth
        first, each once."""
        result: list[tuple[str, Module]] = []
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            result.append((path, module))
            dot = path + "." if path else ""
            stack.extend((dot + name, child) for name, child in reversed(module.named_children()))
        return result

    def modules(self) -> list[Module]:
        """This module and every sub-module below it, depth first, each once."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> list[tuple[str, Tensor]]:
        """Every parameter, named by its path (`"conv1.weight"`); a tensor shared between
        two places is listed once, under its first name."""
        modules = self._walk(prefix) if recurse else [(prefix, self)]
        return _first_of_each((path + name, p) for path, module in modules for name, p in module.own_parameters())

    def parameters(self, recurse: bool = True) -> list[Tensor]:
        """Every parameter (of the sub-modules too when `recurse`), each once: what an optimizer takes.

        Example:
            `tc.optim.Adam(model.parameters(), lr=1e-3)`
        """
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(path, tensor) for every registered buffer (e.g. `"bn.running_mean"`); one
        reached under two names (a shared module) is listed once, under its first."""
        return _first_of_each((path + name, b) for path, module in self._walk(prefix)
                              for name, b in module._buffers.items() if b is not None)

    def buffers(self) -> list[Tensor]:
        """Every registered buffer (running statistics and the like): saved, never trained."""
        return [b for _, b in self.named_buffers()]

    def _walk(self, prefix: str = "") -> list[tuple[str, Module]]:
        """(path prefix ending in '.', module) pre-order, visiting a shared module at each
        place it appears (state_dict lists it under every name, as PyTorch)."""
        result: list[tuple[str, Module]] = []
        stack: list[tuple[str, Module]] = [(prefix + "." if prefix else "", self)]
        while stack:
            path, module = stack.pop()
            result.append((path, module))
            children = [(n, m) for n, m in module._modules.items() if m is not None]  # shared ones too
            stack.extend((path + name + ".", child) for name, child in reversed(children))
        return result

    # ----- modes and dtypes ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch norm on batch statistics) for this module and
        all below it; returns the module."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (`train(False)`); returns the module."""
        return self.train(False)

    def to(self, dtype: Any) -> Module:
        """Convert every float parameter, gradient and buffer to `dtype` (float32 or float64),
        in place: the Tensor objects stay the same, so an optimizer built before still holds
        them. `to("cpu")` is accepted and changes nothing. Returns the module."""
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"to: expected a float dtype such as np.float32, got {dtype!r}") from None
        if target not in (np.float32, np.float64):
            raise TypeError(f"to: only float32 and float64 are supported, got {target}")
        for t in [*self.parameters(), *self.buffers()]:
            if t.dtype.kind == "f" and t.dtype != target:
                t.data = t.data.astype(target)
                if t.grad is not None:
                    t.grad = t.grad.astype(target)
        return self

    def double(self) -> Module:
        """Convert every float parameter, gradient and buffer to float64 (`to(np.float64)`); returns the module."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert every float parameter, gradient and buffer to float32 (`to(np.float32)`); returns the module."""
        return self.to(np.float32)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (as PyTorch's default, grads become None)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter: a frozen one gets no `.grad`, and
        optimizers skip it. Returns the module.

        Example:
            `model.features.requires_grad_(False)` trains only the rest.
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every sub-module, then on this module (as PyTorch: e.g. to
        initialise weights); returns the module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of each parameter's and persistent buffer's values, keyed and
        ordered as PyTorch's (`"features.0.weight"`, `"bn.running_mean"`)."""
        result: dict[str, np.ndarray] = {}
        for path, module in self._walk():
            for name, p in module.own_parameters():
                result[path + name] = p.data.copy()
            skip = module.__dict__.get("_non_persistent", ())
            for name, b in module._buffers.items():
                if b is not None and name not in skip:
                    result[path + name] = b.data.copy()
        return result

    def _state_tensors(self) -> dict[str, Tensor]:
        result: dict[str, Tensor] = {}
        for path, module in self._walk():
            result.update((path + n, p) for n, p in module.own_parameters())
            skip = module.__dict__.get("_non_persistent", ())
            result.update((path + n, b) for n, b in module._buffers.items() if b is not None and n not in skip)
        return result

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy `state_dict`'s values (arrays or Tensors) into the parameters and buffers,
        in their own dtype; nothing aliases the given arrays afterwards.

        Every key and shape is checked before anything is written, so on a `ValueError`
        the model is exactly as it was. With `strict=False` missing and unexpected keys
        are allowed and returned as `(missing_keys, unexpected_keys)`. A bias stored as
        `(C,)` loads into a `(C, 1, 1)` parameter and back.
        """
        if isinstance(state_dict, Module):
            raise TypeError("load_state_dict: give the other model's state_dict(), not the model itself")
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of name -> array, got {type(state_dict).__name__}")
        targets = self._state_tensors()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        values: dict[str, np.ndarray] = {}
        for name, t in targets.items():
            if name not in state_dict:
                continue
            raw = state_dict[name]
            value = np.asarray(raw.data if isinstance(raw, Tensor) else raw)
            if value.dtype.kind not in "biuf":
                problems.append(f"key {name!r} holds an array of dtype {value.dtype}, not numbers")
            elif not _shapes_fit(value.shape, t.shape):
                problems.append(f"key {name!r}: checkpoint shape {value.shape} vs model shape {t.shape}")
            else:
                values[name] = value
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for name, value in values.items():
            t = targets[name]
            # a fresh array in the tensor's own dtype: a copy, never a view of `value`
            t.data = np.array(value.reshape(t.shape), dtype=t.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ----- calling and printing ----------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; subclasses define it. Call the module, `model(x)`,
        rather than `forward`: the call also records which module made each op (drawings)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A drawing scope per call, so the graph's ops know which module made them.
        with scope(self._scope_name(), module=self):
            return self.forward(*args, **kwargs)

    def _scope_name(self) -> str:
        """The attribute name under the calling module ("conv1", "0"); the class name when
        called from elsewhere inside a scope; "" at the root."""
        outer = current_scope()
        if outer is None:
            return ""
        parent = outer.module
        if isinstance(parent, Module):
            for name, child in parent._modules.items():
                if child is self:
                    return name
        return type(self).__name__

    def __repr__(self) -> str:
        children = [(n, m) for n, m in self._modules.items() if m is not None]  # a shared one at each name
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            lines.append("  (" + name + "): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        """The text inside the parentheses of the module's repr (e.g. its sizes); override it."""
        return ""


def _first_of_each(named: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(name, object) pairs with each object once, under the first name it came with."""
    result: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for name, obj in named:
        if id(obj) not in seen:
            seen.add(id(obj))
            result.append((name, obj))
    return result


def _shapes_fit(given: tuple[int, ...], own: tuple[int, ...]) -> bool:
    """Equal, or a per-channel bias spelled (C,) on one side and (C, 1, 1) on the other."""
    if given == own:
        return True
    short, long_ = sorted((given, own), key=len)
    return len(short) == 1 and long_ == (short[0], 1, 1)


def _as_buffer(owner: str, name: str, value: Any) -> Tensor | None:
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise TypeError(f"{owner}.{name}: a buffer holds state that is not trained; use Parameter for that")
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}.{name}: a buffer must hold numbers, got dtype {array.dtype}")
    return Tensor._make(array.copy())  # _make keeps integer counters integer


class Sequential(Module):
    """Layers applied one after the other; the i-th is named `str(i)`, or by its key when
    they come as one dict (`Sequential(OrderedDict(conv=..., act=...))`), as PyTorch's.

    Example:
        ```python
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(18, 1))
        model[0].weight.shape  # (2, 1, 3, 3); the state_dict key is "0.weight"
        ```
    """

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        super().__init__()
        named = layers[0].items() if len(layers) == 1 and isinstance(layers[0], Mapping) else (
            (str(i), layer) for i, layer in enumerate(layers))
        for name, layer in named:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {name} is a {type(layer).__name__}, not a Module")
            self.add_module(name, layer)

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):  # the layers keep their names, so state_dict keys stay PyTorch's
            part = Sequential()
            for name, layer in list(self._modules.items())[i]:
                part.add_module(name, layer)
            return part
        return list(self._modules.values())[i]

    def __setitem__(self, i: int, layer: Module) -> None:
        """Replace the i-th layer; it keeps the name of the one it replaces."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential: cannot set layer {i} to a {type(layer).__name__}, not a Module")
        names = list(self._modules)
        if not -len(names) <= i < len(names):
            raise IndexError(f"Sequential: index {i} is out of range for {len(names)} layers")
        self.add_module(names[i], layer)

    def __delitem__(self, i: int | slice) -> None:
        """Remove a layer (or a slice of them); the rest are numbered 0, 1, … again, as PyTorch does."""
        names = list(self._modules)
        for name in names[i] if isinstance(i, slice) else [names[i]]:
            delattr(self, name)
        rest = list(self._modules.items())
        for name, _ in rest:
            delattr(self, name)
        for k, (_, layer) in enumerate(rest):
            self.add_module(str(k), layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def append(self, layer: Module) -> Sequential:
        """Add `layer` at the end, named by its position (or the next number no layer has);
        returns the Sequential."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(layer).__name__}")
        n = len(self)  # PyTorch's name, unless a slice kept that name for another layer
        while str(n) in self._modules:
            n += 1
        self.add_module(str(n), layer)
        return self


class ModuleList(Module):
    """A list of modules that registers them (named "0", "1", ...); it has no forward.

    Example:
        ```python
        class Tower(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
            def forward(self, x):
                for block in self.blocks:
                    x = block(x).relu()
                return x
        ```
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def _check(self, m: Any) -> Module:
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(m).__name__}")
        return m

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end (named by its position); returns the list."""
        self.add_module(str(len(self)), self._check(module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of `modules`; returns the list."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put `module` at `index`; the modules after it are renumbered."""
        items = list(self._modules.values())
        items.insert(index, self._check(module))
        self._reset(items)

    def _reset(self, items: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def __getitem__(self, i: int | slice) -> Any:
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i: int, module: Module) -> None:
        items = list(self._modules.values())
        items[i] = self._check(module)
        self._reset(items)

    def __delitem__(self, i: int | slice) -> None:
        items = list(self._modules.values())
        del items[i]
        self._reset(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward: iterate over it in your own forward")
