"""Layers: a `Module` base class and the building blocks of the seed's network.

Every module says which parameters and sub-modules it has by overriding
`own_parameters()` and `named_children()`; nothing is registered behind the scenes
when an attribute is assigned. `named_parameters()` walks that tree and names each
parameter by its path, PyTorch style (`"0.weight"`, `"features.2.bias"`).

Initialisation follows PyTorch's defaults for `Conv2d` and `Linear` (Kaiming-uniform
with a = √5), which works out to U(−1/√fan_in, 1/√fan_in) for weight and bias alike.
Draws come from `rng` when one is given, else from this module's generator, which
`manual_seed(s)` resets, so a fixed seed gives the same network every run.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..tensor import Tensor

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator that layers draw their initial weights from."""
    global _generator
    _generator = np.random.default_rng(seed)


def _uniform(shape: tuple[int, ...], bound: float, rng: np.random.Generator | None, dtype: Any) -> np.ndarray:
    gen = _generator if rng is None else rng
    return gen.uniform(-bound, bound, size=shape).astype(dtype)


def _as_input(x: Any, like: Tensor) -> Tensor:
    """Arrays fed to a layer take its parameters' dtype, so a float32 model stays float32."""
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=like.dtype))


class Module:
    """Base class of layers and networks.

    Subclasses implement `forward`, list their own parameters in `own_parameters()`
    and their sub-modules in `named_children()`.
    """

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    def own_parameters(self) -> list[tuple[str, Tensor]]:
        """(name, tensor) for the parameters held directly by this module."""
        return []

    def named_children(self) -> list[tuple[str, Module]]:
        """(name, module) for the direct sub-modules."""
        return []

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """Every parameter of this module and its sub-modules, named by its path.

        A tensor shared between two places is listed once, under its first name.
        """
        result: list[tuple[str, Tensor]] = []
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:  # depth-first, children in their listed order
            path, module = stack.pop()
            for name, p in module.own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    result.append((path + name, p))
            stack.extend((path + name + ".", child) for name, child in reversed(module.named_children()))
        return result

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget accumulated gradients (as PyTorch's default, grads become None)."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of that parameter's values."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy `state_dict`'s arrays into the parameters, in place and in their dtype.

        Every key and shape is checked before anything is written, so on a
        `ValueError` the model is exactly as it was.
        """
        params = dict(self.named_parameters())
        problems = []
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        values: dict[str, np.ndarray] = {}
        for name, p in params.items():
            if name not in state_dict:
                continue
            raw = state_dict[name]
            value = np.asarray(raw.data if isinstance(raw, Tensor) else raw)
            if value.dtype.kind not in "biuf":
                problems.append(f"key {name!r} holds an array of dtype {value.dtype}, not numbers")
            elif value.shape != p.shape:
                problems.append(f"key {name!r}: checkpoint shape {value.shape} vs model shape {p.shape}")
            else:
                values[name] = value
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for name, value in values.items():
            params[name].data[...] = value

    def __repr__(self) -> str:
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            lines.append("  (" + name + "): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Sequential(Module):
    """Layers applied one after the other; the i-th is named `str(i)`."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)
