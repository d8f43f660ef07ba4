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

import math
from typing import Any, Iterator, Mapping

import numpy as np

from .ops.conv import correlate2d
from .ops.elementwise import tensor
from .tensor import Tensor

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


class Conv2d(Module):
    """Y_i = B_i + Σ_j X_j ⋆ K_ij on a batch (N, C_in, H, W) -> (N, C_out, H − kh + 1, W − kw + 1).

    The weight K is (out_channels, in_channels, kh, kw); the bias holds one value per
    output channel, broadcast over the output's rows and columns.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = Tensor(_uniform((out_channels, in_channels, kh, kw), bound, rng, dtype), True, "weight")
        self.bias = Tensor(_uniform((out_channels,), bound, rng, dtype), True, "bias") if bias else None

    def own_parameters(self) -> list[tuple[str, Tensor]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim != 4:
            raise ValueError(f"Conv2d: expected input (N, C, H, W), got shape {x.shape}")
        y = correlate2d(x, self.weight)
        if self.bias is None:
            return y
        return self.bias.reshape(self.out_channels, 1, 1) + y

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}"


class Linear(Module):
    """Y = X Wᵀ + b, with W of shape (out_features, in_features)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Tensor(_uniform((out_features, in_features), bound, rng, dtype), True, "weight")
        self.bias = Tensor(_uniform((out_features,), bound, rng, dtype), True, "bias") if bias else None

    def own_parameters(self) -> list[tuple[str, Tensor]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x: Any) -> Tensor:
        x = _as_input(x, self.weight)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input (..., {self.in_features}), got shape {x.shape}")
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sigmoid(Module):
    """Y = 1 / (1 + e^−X), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).sigmoid()


class ReLU(Module):
    """Y = max(X, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).relu()


class Tanh(Module):
    """Y = tanh X, elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return tensor(x).tanh()


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...): every axis but the batch's."""

    def forward(self, x: Tensor) -> Tensor:
        x = tensor(x)
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected a batch (N, ...), got a tensor of shape {x.shape}")
        # the size spelled out, not -1: numpy cannot infer -1 for an empty batch
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


class Reshape(Module):
    """(N, ...) -> (N, *shape): `shape` is per sample, the batch axis is kept."""

    def __init__(self, *shape: int) -> None:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        self.shape = tuple(int(n) for n in shape)

    def forward(self, x: Tensor) -> Tensor:
        x = tensor(x)
        per_sample = int(np.prod(x.shape[1:]))
        known = int(np.prod([n for n in self.shape if n != -1]))
        free = self.shape.count(-1)
        fits = known == per_sample if free == 0 else free == 1 and known > 0 and per_sample % known == 0
        if not fits:
            raise ValueError(f"Reshape: cannot reshape samples of shape {x.shape[1:]} into {self.shape} (input {x.shape})")
        shape = tuple(per_sample // known if n == -1 else n for n in self.shape)  # -1 fails for N = 0
        return x.reshape(x.shape[0], *shape)

    def extra_repr(self) -> str:
        return ", ".join(str(n) for n in self.shape)


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
